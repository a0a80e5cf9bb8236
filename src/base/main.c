#include "config.h"

#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "commands.h"

/* The subcommands; each registers one line here. */
static const struct {
    const char *name;
    int (*run)(int argc, char **argv);
    const char *summary;
} commands[] = {
    {"check", cmd_check, "validate a scenario and print it fully resolved"},
    {"sim", cmd_sim, "simulate a scenario on a virtual clock and report"},
    {"replay", cmd_replay, "replay a trace through the simulator under one or two sets of limits"},
    {"plan", cmd_plan, "find the cheapest setting that meets the SLOs (simulated points)"},
    {"live", cmd_live, "run a scenario against a live OpenAI-compatible endpoint and report"},
    {"merge", cmd_merge, "merge JSON reports of several runs into one (exact percentiles)"},
    {"mock", cmd_mock, "serve an OpenAI-compatible mock API that answers 429s (doc/mock.md)"},
};

#define N_COMMANDS (sizeof commands / sizeof commands[0])

static void usage(FILE *out)
{
    fprintf(out, "usage: ratelab COMMAND [OPTIONS] [SCENARIO]\n"
                 "\n"
                 "Load-testing and capacity-planning simulator for rate-limited LLM APIs.\n"
                 "\n"
                 "Commands:\n");
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(out, "  %-8s %s\n", commands[i].name, commands[i].summary);
    fprintf(out, "\n"
                 "Run 'ratelab COMMAND --help' for a command's options.\n"
                 "  --help      this help\n"
                 "  --version   print the version\n"
                 "\n"
                 "Exit status:\n"
                 "  0  the run completed and every SLO held\n"
                 "  1  the run completed but an SLO failed\n"
                 "  2  usage or input error (a bad option or scenario line)\n"
                 "  3  runtime failure\n"
                 "\n"
                 "Documentation: ratelab(1), doc/scenario.md, doc/report.md.\n");
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        usage(stderr);
        return EXIT_RUN_USAGE;
    }
    const char *cmd = argv[1];
    if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
        usage(stdout);
        return EXIT_RUN_OK;
    }
    if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "-V") == 0) {
        printf("%s\n", PACKAGE_STRING);
        return EXIT_RUN_OK;
    }
    for (size_t i = 0; i < N_COMMANDS; i++)
        if (strcmp(commands[i].name, cmd) == 0)
            return commands[i].run(argc - 1, argv + 1);
    fprintf(stderr, "ratelab: unknown command '%s' (see 'ratelab --help')\n", cmd);
    return EXIT_RUN_USAGE;
}
