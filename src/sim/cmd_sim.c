#include "config.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "commands.h"
#include "report.h"
#include "scenario.h"
#include "sim.h"
#include "util.h"

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

static FILE *open_out(const char *path)
{
    if (strcmp(path, "-") == 0)
        return stdout;
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "ratelab sim: cannot write %s: %s\n", path, strerror(errno));
    return f;
}

static int close_out(FILE *f, const char *path)
{
    if (!f)
        return 0;
    int bad = ferror(f) != 0;
    if (f == stdout)
        bad |= fflush(f) != 0;
    else
        bad |= fclose(f) != 0;
    if (bad)
        fprintf(stderr, "ratelab sim: error writing %s\n", path);
    return bad ? -EIO : 0;
}

int cmd_sim(int argc, char **argv)
{
    struct run_options o = {0};
    if (cli_parse(argc, argv, &o) < 0)
        return EXIT_RUN_USAGE;
    if (o.help) {
        help(&o);
        return EXIT_RUN_OK;
    }
    if (!o.scenario_path) {
        fprintf(stderr, "ratelab sim: a SCENARIO file is required (see 'ratelab sim --help')\n");
        return EXIT_RUN_USAGE;
    }
    if (o.json_path && o.csv_path && strcmp(o.json_path, "-") == 0 &&
        strcmp(o.csv_path, "-") == 0) {
        fprintf(stderr, "ratelab sim: --json - and --csv - cannot both go to stdout "
                        "(see 'ratelab sim --help')\n");
        return EXIT_RUN_USAGE;
    }
    struct scenario sc;
    if (cli_load_scenario(&o, &sc) < 0)
        return EXIT_RUN_USAGE;
    if (sc.n_classes < 1) {
        fprintf(stderr, "%s: the scenario has no [class.NAME] section: nothing to simulate\n",
                o.scenario_path);
        scenario_fini(&sc);
        return EXIT_RUN_USAGE;
    }

    int rc = EXIT_RUN_OK, err = 0;
    FILE *json = NULL, *csv = NULL;
    struct report_csv csvw;
    sim *s = sim_new(&sc, &err);
    if (!s) {
        fprintf(stderr, "%s: the client core refused the configuration (%s)\n", o.scenario_path,
                strerror(-err));
        scenario_fini(&sc);
        return EXIT_RUN_USAGE;
    }
    if (o.json_path && !(json = open_out(o.json_path)))
        rc = EXIT_RUN_FAIL;
    if (o.csv_path && !(csv = open_out(o.csv_path)))
        rc = EXIT_RUN_FAIL;
    if (rc != EXIT_RUN_OK)
        goto out;
    if (csv) {
        report_csv_init(&csvw, csv, &sc);
        sim_set_window_sink(s, report_csv_sink, &csvw);
    }

    /* Run in slices so a long run can show progress; the slices do not change the run. */
    bool progress = cli_progress_enabled(&o);
    bool shown = false;
    double t0 = wall_s();
    double horizon = (double)sc.duration_us;
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
    struct report_extra x = {.end_us = sim_end_us(s), .server_503 = st.server_503,
                             .server_faults = st.server_faults};
    memcpy(x.server_429, st.server_429, sizeof x.server_429);
    const metrics *m = sim_metrics(s);

    /* When a report goes to stdout, the summary moves to stderr so stdout stays parseable. */
    bool stdout_taken = json == stdout || csv == stdout;
    FILE *human = stdout_taken ? stderr : stdout;
    if (!(o.quiet && stdout_taken))
        report_summary(human, &sc, m, &x);
    if (!o.quiet)
        fprintf(stderr, "simulated %" PRId64 " requests in %.2f s of wall time (%.0f requests/s)\n",
                st.requests, wall, wall > 0 ? (double)st.requests / wall : 0);
    if (st.stuck)
        fprintf(stderr, "ratelab sim: warning: %" PRId64 " requests could never make progress and "
                "were cancelled (a bug in ratelab: please report it with the scenario)\n", st.stuck);
    if (json && report_json(json, &sc, m, &x) < 0)
        rc = EXIT_RUN_FAIL;

    struct slo_result slo[REPORT_MAX_SLOS];
    int n = report_slos(&sc, m, slo);
    for (int i = 0; i < n; i++)
        if (!slo[i].ok) {
            fprintf(stderr, "ratelab sim: SLO failed: %s (%s): target %.6g %s, measured %.6g %s\n",
                    slo[i].name, slo[i].key, slo[i].target, slo[i].unit, slo[i].actual,
                    slo[i].unit);
            if (rc == EXIT_RUN_OK)
                rc = EXIT_RUN_SLO;
        }
out:
    if (close_out(json, o.json_path) < 0)
        rc = EXIT_RUN_FAIL;
    if (csv != json && close_out(csv, o.csv_path) < 0)
        rc = EXIT_RUN_FAIL;
    sim_free(s);
    scenario_fini(&sc);
    return rc;
}
