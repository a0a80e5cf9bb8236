/*
 * runcmd: what every run command (sim, live, replay) does around its engine,
 * written once: the prologue (options, --help, the scenario, the report files
 * opened before the run so a bad path fails fast) and the epilogue (the
 * summary, the JSON report, the SLO verdicts and the exit code).
 *
 *   struct runcmd c = {0};                 // c.o.extra: the command's own options
 *   int rc = runcmd_begin(&c, "sim", argc, argv, help);
 *   if (rc >= 0) return rc;                // --help, or a usage error
 *   ... make the engine ...
 *   if ((rc = runcmd_open(&c, run_metrics(r))) != 0) goto out;
 *   ... run it ...
 *   rc = runcmd_report(&c, r, &extra);
 * out:
 *   return runcmd_finish(&c, rc);
 */
#ifndef RATELAB_RUNCMD_H
#define RATELAB_RUNCMD_H

#include <stdio.h>

#include "cli.h"
#include "html.h"
#include "metrics.h"
#include "report.h"
#include "run.h"
#include "scenario.h"

struct runcmd {
    const char *name;        /* the subcommand: messages read "ratelab NAME: ..." */
    struct run_options o;    /* parsed options; the caller presets o.extra / o.n_extra */
    struct scenario sc;      /* loaded by runcmd_begin, released by runcmd_finish */
    bool have_sc;            /* sc is loaded */
    FILE *json, *csv, *html; /* the report files, NULL when not asked for */
    struct report_csv csvw;  /* the CSV writer, a metrics sink */
    html_report *htmlw;      /* the HTML collector, a metrics sink; NULL without --html */
    const run *run;          /* the run the reports come from (runcmd_open) */
    struct run_server_gauges server; /* the engine's server gauges as the last window closed */
};

/*
 * Parse argv (argv[0] is the subcommand), print help() on --help, load the
 * scenario (FILE:LINE errors) and check it has a class. Returns -1 when the
 * command should go on, else the exit code to return at once (0 after --help,
 * EXIT_RUN_USAGE). On a return >= 0 nothing is left to release.
 */
int runcmd_begin(struct runcmd *c, const char *name, int argc, char **argv,
                 void (*help)(const struct run_options *o));

/*
 * Open --json, --csv and --html and attach the CSV writer and the HTML collector
 * to m as window sinks. Returns 0, or EXIT_RUN_FAIL after saying which file
 * cannot be written.
 */
int runcmd_open(struct runcmd *c, run *r);

/*
 * After the run: the summary (stdout, or stderr when a report goes to stdout;
 * none with --quiet then), a warning if requests were stuck, the JSON report,
 * the HTML report, each failed SLO on stderr. Returns EXIT_RUN_OK, EXIT_RUN_SLO or
 * EXIT_RUN_FAIL.
 */
int runcmd_report(struct runcmd *c, const run *r, const struct report_extra *x);


/* Close the report files and release the scenario. Returns rc, or EXIT_RUN_FAIL on a write error. */
int runcmd_finish(struct runcmd *c, int rc);

/*
 * The checks --tui needs before anything runs: a terminal on stdin and stdout,
 * and no report sent to stdout. Returns -1 when fine, else EXIT_RUN_USAGE after
 * saying why and what to do.
 */
int runcmd_tui_check(const struct runcmd *c);

/* Where human-readable lines go: stderr when a report takes stdout, else stdout. */
FILE *runcmd_human(const struct runcmd *c);

#endif
