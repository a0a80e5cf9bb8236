/*
 * commands: the subcommands main() dispatches to. Each takes the argv of the
 * subcommand (argv[0] is its name) and returns a process exit code (cli.h).
 */
#ifndef RATELAB_COMMANDS_H
#define RATELAB_COMMANDS_H

int cmd_check(int argc, char **argv);
int cmd_sim(int argc, char **argv);
int cmd_plan(int argc, char **argv);
int cmd_replay(int argc, char **argv);
int cmd_mock(int argc, char **argv);
int cmd_live(int argc, char **argv);
int cmd_merge(int argc, char **argv);

#endif
