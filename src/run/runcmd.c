#include "config.h"

#include "runcmd.h"

#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "limiter.h"

static FILE *open_out(const struct runcmd *c, const char *path)
{
    if (strcmp(path, "-") == 0)
        return stdout;
    FILE *f = fopen(path, "w");
    if (!f)
        fprintf(stderr, "ratelab %s: cannot write %s: %s (check the directory exists and is "
                        "writable)\n",
                c->name, path, strerror(errno));
    return f;
}

static int close_out(const struct runcmd *c, FILE *f, const char *path)
{
    if (!f)
        return 0;
    int bad = ferror(f) != 0;
    if (f == stdout)
        bad |= fflush(f) != 0;
    else
        bad |= fclose(f) != 0;
    if (bad)
        fprintf(stderr, "ratelab %s: error writing %s (is the disk full?)\n", c->name, path);
    return bad ? -EIO : 0;
}

static int is_stdout(const char *path)
{
    return path && strcmp(path, "-") == 0;
}

/* The HTML collector's sink: the server gauges as this window closes, then the row. */
static void html_window(void *ctx, int cls, const struct metrics_row *row)
{
    struct runcmd *c = ctx;
    if (cls < 0) {
        run_server_now(c->run, &c->server);
        html_set_server(c->htmlw, c->server.waiting >= 0 ? &c->server : NULL);
    }
    html_sink(c->htmlw, cls, row);
}

int runcmd_begin(struct runcmd *c, const char *name, int argc, char **argv,
                 void (*help)(const struct run_options *o))
{
    c->name = name;
    c->json = c->csv = c->html = NULL;
    c->htmlw = NULL;
    c->run = NULL;
    c->have_sc = false;
    if (cli_parse(argc, argv, &c->o) < 0)
        return EXIT_RUN_USAGE;
    if (c->o.help) {
        help(&c->o);
        return EXIT_RUN_OK;
    }
    if (!c->o.scenario_path) {
        fprintf(stderr, "ratelab %s: a SCENARIO file is required (see 'ratelab %s --help')\n",
                name, name);
        return EXIT_RUN_USAGE;
    }
    int to_stdout = is_stdout(c->o.json_path) + is_stdout(c->o.csv_path) +
                    is_stdout(c->o.html_path);
    if (to_stdout > 1) {
        fprintf(stderr, "ratelab %s: --json -, --csv - and --html -: only one report can go to "
                        "stdout (see 'ratelab %s --help')\n",
                name, name);
        return EXIT_RUN_USAGE;
    }
    if (cli_load_scenario(&c->o, &c->sc) < 0)
        return EXIT_RUN_USAGE;
    if (c->sc.n_classes < 1) {
        fprintf(stderr, "%s: the scenario has no [class.NAME] section: nothing to run\n",
                c->o.scenario_path);
        scenario_fini(&c->sc);
        return EXIT_RUN_USAGE;
    }
    c->have_sc = true;
    return -1;
}

int runcmd_open(struct runcmd *c, run *r)
{
    metrics *m = run_metrics(r);
    c->run = r;
    int rc = EXIT_RUN_OK;
    if (c->o.json_path && !(c->json = open_out(c, c->o.json_path)))
        rc = EXIT_RUN_FAIL;
    if (c->o.csv_path && !(c->csv = open_out(c, c->o.csv_path)))
        rc = EXIT_RUN_FAIL;
    if (c->o.html_path && !(c->html = open_out(c, c->o.html_path)))
        rc = EXIT_RUN_FAIL;
    if (rc == EXIT_RUN_OK && c->csv) {
        report_csv_init(&c->csvw, c->csv, &c->sc);
        metrics_add_sink(m, report_csv_sink, &c->csvw);
    }
    if (rc == EXIT_RUN_OK && c->html) {
        c->htmlw = html_new(&c->sc, HTML_MAX_POINTS);
        metrics_add_sink(m, html_window, c);
    }
    return rc;
}

FILE *runcmd_human(const struct runcmd *c)
{
    return c->json == stdout || c->csv == stdout || c->html == stdout ? stderr : stdout;
}

int runcmd_report(struct runcmd *c, const run *r, const struct report_extra *xin)
{
    /* What the run itself knows goes in here, so no engine copies it. */
    struct report_extra xx = xin ? *xin : (struct report_extra){0};
    struct run_stats rst;
    run_stats(r, &rst);
    xx.trace_skipped = rst.trace_skipped;
    xx.n_instances = run_instances(r, &xx.instances);
    xx.instance_limits = c->sc.client.instance_limits;
    const struct report_extra *x = &xx;
    int rc = EXIT_RUN_OK;
    const metrics *m = run_metrics_const(r);
    FILE *human = runcmd_human(c);
    if (!(c->o.quiet && human == stderr))
        report_summary(human, &c->sc, m, x);
    struct run_stats st;
    run_stats(r, &st);
    if (st.stuck)
        fprintf(stderr,
                "ratelab %s: warning: %" PRId64 " requests could never make progress and "
                "were cancelled (a bug in ratelab: please report it with the scenario)\n",
                c->name, st.stuck);
    if (c->json && report_json(c->json, &c->sc, m, x) < 0)
        rc = EXIT_RUN_FAIL;
    if (c->htmlw && html_write(c->htmlw, c->html, &c->sc, m, x) < 0) {
        fprintf(stderr, "ratelab %s: cannot write the HTML report %s\n", c->name,
                c->o.html_path);
        rc = EXIT_RUN_FAIL;
    }
    struct slo_result slo[REPORT_MAX_SLOS];
    int n = report_slos(&c->sc, m, slo);
    for (int i = 0; i < n; i++)
        if (!slo[i].ok) {
            fprintf(stderr, "ratelab %s: SLO failed: %s (%s): target %.6g %s, measured %.6g %s\n",
                    c->name, slo[i].name, slo[i].key, slo[i].target, slo[i].unit, slo[i].actual,
                    slo[i].unit);
            if (rc == EXIT_RUN_OK)
                rc = EXIT_RUN_SLO;
        }
    return rc;
}

int runcmd_finish(struct runcmd *c, int rc)
{
    if (close_out(c, c->json, c->o.json_path) < 0)
        rc = EXIT_RUN_FAIL;
    if (c->csv != c->json && close_out(c, c->csv, c->o.csv_path) < 0)
        rc = EXIT_RUN_FAIL;
    if (c->html != c->json && c->html != c->csv && close_out(c, c->html, c->o.html_path) < 0)
        rc = EXIT_RUN_FAIL;
    c->json = c->csv = c->html = NULL;
    html_free(c->htmlw);
    c->htmlw = NULL;
    if (c->have_sc)
        scenario_fini(&c->sc);
    c->have_sc = false;
    return rc;
}

int runcmd_tui_check(const struct runcmd *c)
{
    if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO)) {
        fprintf(stderr, "ratelab %s: --tui needs a terminal on stdout and stdin; to keep the "
                        "results of a run without one, use --json FILE or --csv FILE\n",
                c->name);
        return EXIT_RUN_USAGE;
    }
    if (is_stdout(c->o.json_path) || is_stdout(c->o.csv_path) || is_stdout(c->o.html_path)) {
        fprintf(stderr, "ratelab %s: --tui takes the terminal: write --json/--csv/--html to a "
                        "file, not '-'\n",
                c->name);
        return EXIT_RUN_USAGE;
    }
    return -1;
}
