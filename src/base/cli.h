/*
 * cli: the options every run subcommand shares, parsed in one place, plus
 * exit codes and the progress line shown on a terminal.
 */
#ifndef RATELAB_CLI_H
#define RATELAB_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "scenario.h"

/* Exit codes, documented in --help and ratelab(1). */
enum {
    EXIT_RUN_OK = 0,   /* the run completed and every SLO held */
    EXIT_RUN_SLO = 1,  /* the run completed but an SLO failed */
    EXIT_RUN_USAGE = 2, /* usage or input error */
    EXIT_RUN_FAIL = 3, /* runtime failure */
};

#define CLI_MAX_OVERRIDES 64
#define CLI_MAX_EXTRA 8

/* A subcommand-specific option: "--name VALUE" (has_arg) or "--name". */
struct cli_extra {
    const char *name;    /* without the dashes */
    bool has_arg;
    const char *value;   /* out: the value, "" for a flag given, NULL when absent */
    const char *set_key; /* "section.key": the option is shorthand for --set section.key=VALUE,
                            applied in command-line order with the other --set options */
    char set_buf[256];   /* holds that "section.key=VALUE" */
};

struct run_options {
    const char *scenario_path;                      /* the positional SCENARIO, NULL if none */
    const char *overrides[CLI_MAX_OVERRIDES];       /* --set SECTION.KEY=VALUE, in order */
    int n_overrides;
    bool have_seed;                                 /* --seed given */
    uint64_t seed;
    const char *json_path;                          /* --json FILE, "-" = stdout */
    const char *csv_path;                           /* --csv FILE, "-" = stdout */
    const char *html_path;                          /* --html FILE, "-" = stdout */
    bool quiet;                                     /* --quiet: no progress, no summary chatter */
    bool skip_bad;                                  /* --skip-bad: skip and count bad trace
                                                       lines (scenario trace_skip_bad) */
    bool help;                                      /* --help given */
    struct cli_extra extra[CLI_MAX_EXTRA];          /* the subcommand's own options */
    int n_extra;
    bool no_reports;                                /* set before parsing: this command
                                                       writes no report, so --json,
                                                       --csv and --html are usage errors */
    bool serve;                                     /* set before loading: the command serves
                                                       (the mock), so SCENARIO and its classes
                                                       are optional (SCENARIO_FOR_SERVE) */
};

/*
 * Parse argv[1..argc-1] of a subcommand (argv[0] is the subcommand name). The
 * caller fills o->extra/n_extra with its own options first. Accepts "--opt VALUE"
 * and "--opt=VALUE". Returns 0, or -EINVAL after printing "ratelab CMD: ..." to
 * stderr.
 */
int cli_parse(int argc, char **argv, struct run_options *o);

/*
 * Load the scenario named by o (positional path), apply --set overrides and
 * --seed. With o->serve and no path, the defaults take the overrides. On error
 * prints "FILE:LINE: message" (or "ratelab: message" when no file or --set is
 * to blame) to stderr and returns -EINVAL; the scenario is then already released.
 */
int cli_load_scenario(const struct run_options *o, struct scenario *sc);

/* Print the shared options the command takes (see no_reports), for --help texts. */
void cli_print_common_help(const struct run_options *o);

/* Whether to show progress on stderr: a terminal, and not --quiet. */
bool cli_progress_enabled(const struct run_options *o);

/*
 * Redraw a one-line progress indicator on stderr: "label  42.0%  12s left",
 * at most ten times a second (cheap to call often). done/total in any unit.
 * cli_progress_end() clears the line. Call only when cli_progress_enabled().
 * One progress line per process at a time (it keeps its start time).
 */
void cli_progress(const char *label, double done, double total);
void cli_progress_end(void);

#endif
