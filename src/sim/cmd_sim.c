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

/* Playback speeds, simulated seconds per wall second; 0 = as fast as it runs. */
static const double speeds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000,
                                10000, 20000, 50000, 100000, 0};
#define N_SPEEDS ((int)(sizeof speeds / sizeof speeds[0]))

/*
 * The dashboard's playback: simulated time follows the wall clock at the chosen
 * speed, in slices between frames (about 10 a second), so the speed is exact and
 * the run is the same run (slices never change it). q leaves the dashboard; the
 * rest of the run then goes at full speed, so the report is the one without --tui.
 */
static void play(sim *s, tui *t, const struct scenario *sc)
{
    /* Start at the slowest speed that plays the whole duration within a minute. */
    int sp = 0;
    while (speeds[sp] && speeds[sp] * 60 * US_PER_S < sc->duration_us)
        sp++;
    struct dash_state st = {.live = false, .speed = speeds[sp]};
    double wall0 = wall_s();
    int64_t sim0 = 0;
    for (;;) {
        double frame_end = wall_s() + 0.1;
        if (!st.paused && !st.finished) {
            if (speeds[sp] == 0) {
                while (!st.finished && wall_s() < frame_end - 0.01)
                    st.finished = sim_run(s, 20000) == 1;
            } else {
                int64_t target = sim0 + (int64_t)((wall_s() - wall0) * speeds[sp] * US_PER_S);
                while (!st.finished && sim_now(s) < target && wall_s() < frame_end - 0.01)
                    st.finished = sim_run_until(s, target, 20000) == 1;
            }
        }
        tui_frame(t, sim_now(s), &st);
        /* Keys until the next frame is due (or, once finished, until one comes). */
        int left = (int)((frame_end - wall_s()) * 1000);
        enum tui_action a = tui_key(t, st.finished ? -1 : left > 0 ? left : 0, &st);
        if (a == TUI_QUIT)
            return;
        if (a == TUI_PAUSE && !st.finished)
            st.paused = !st.paused;
        else if (a == TUI_FASTER && sp < N_SPEEDS - 1)
            sp++;
        else if (a == TUI_SLOWER && sp > 0)
            sp--;
        if (a != TUI_NONE) {
            /* Speed or pause changed: playback goes on from here at the new pace. */
            st.speed = speeds[sp];
            wall0 = wall_s();
            sim0 = sim_now(s);
        }
    }
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
        play(s, t, &c.sc);
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
