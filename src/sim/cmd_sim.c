#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "report.h"
#include "runcmd.h"
#include "scenario.h"
#include "sim.h"
#include "play.h"
#include "tui.h"
#include "util.h"

#include <unistd.h>

static void help(const struct run_options *o)
{
    fputs("usage: ratelab sim [OPTIONS] SCENARIO\n"
          "\n"
          "Simulate SCENARIO on a virtual clock: the workload of every [class.*] through the\n"
          "client limiter under test to the simulated provider, for the scenario's duration,\n"
          "then drain or cancel what is left ([scenario] at_end). Prints a table per class\n"
          "and an accounting line on stdout; --json and --csv write the full report\n"
          "(doc/report.md). The same scenario and seed give byte-identical JSON and CSV.\n"
          "\n"
          "Options:\n"
          "  --tui                    watch the run on a full-screen dashboard: hit rate, queue\n"
          "                           depth and latency over time, the limiter's buckets, each\n"
          "                           class's p95 against its SLO. Plays simulated time at a\n"
          "                           speed you choose (+/-), p pauses, arrows scroll, ? help,\n"
          "                           q quits; the report is the same as without --tui\n"
          "\n"
          "Exit status: 0 every SLO held, 1 an SLO failed (each failure is named on stderr),\n"
          "2 usage or scenario error, 3 runtime failure (an output file could not be written).\n"
          "\n",
          stdout);
    cli_print_common_help(o);
}

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

int cmd_sim(int argc, char **argv)
{
    struct runcmd c = {0};
    c.o.extra[0] = (struct cli_extra){.name = "tui", .has_arg = false};
    c.o.n_extra = 1;
    int rc = runcmd_begin(&c, "sim", argc, argv, help);
    if (rc >= 0)
        return rc;
    bool want_tui = c.o.extra[0].value != NULL;
    if (want_tui && (rc = runcmd_tui_check(&c)) >= 0)
        return runcmd_finish(&c, rc);
    int err = 0;
    sim *s = sim_new(&c.sc, &err);
    if (!s) {
        if (err != -EBADMSG) /* a bad trace line was reported already */
            fprintf(stderr, "%s: the client core refused the configuration (%s)\n",
                    c.o.scenario_path, strerror(-err));
        return runcmd_finish(&c, EXIT_RUN_USAGE);
    }
    rc = runcmd_open(&c, sim_lifecycle(s));
    if (rc != EXIT_RUN_OK)
        goto out;

    if (want_tui) {
        char terr[256];
        tui *t = tui_open(&c.sc, sim_lifecycle(s), terr, sizeof terr);
        if (!t) {
            fprintf(stderr, "ratelab sim: %s\n", terr);
            rc = EXIT_RUN_USAGE;
            goto out;
        }
        sim_play(s, t, &c.sc, "sim");
        tui_close(t);
    }
    /* Run in slices so a long run can show progress; the slices do not change the run. */
    bool progress = cli_progress_enabled(&c.o);
    bool shown = false;
    double t0 = wall_s();
    double horizon = (double)c.sc.duration_us;
    while (!sim_run(s, 200000)) {
        if (progress && (shown || wall_s() - t0 > 1.0)) {
            shown = true;
            cli_progress("simulating", (double)sim_now(s), horizon);
        }
    }
    if (shown)
        cli_progress_end();
    double wall = wall_s() - t0;

    struct sim_stats st;
    sim_stats(s, &st);
    struct report_extra x;
    sim_report_extra(s, &x);
    rc = runcmd_report(&c, sim_lifecycle(s), &x);
    if (!c.o.quiet)
        fprintf(stderr, "simulated %" PRId64 " requests in %.2f s of wall time (%.0f requests/s)\n",
                st.requests, wall, wall > 0 ? (double)st.requests / wall : 0);
out:
    sim_free(s);
    return runcmd_finish(&c, rc);
}
