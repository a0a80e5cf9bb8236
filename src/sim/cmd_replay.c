#include "config.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "histogram.h"
#include "html.h"
#include "play.h"
#include "report.h"
#include "scenario.h"
#include "sim.h"
#include "trace.h"
#include "tui.h"
#include "util.h"

#include <unistd.h>

/*
 * ratelab replay TRACE SCENARIO [--against OTHER]: the trace is every class's arrival
 * process (`arrival = trace TRACE`), the scenario gives the limits; the simulator runs
 * it under one or two sets of limits and the two reports are compared side by side.
 */

static void help(const struct run_options *o)
{
    fputs("usage: ratelab replay [OPTIONS] TRACE SCENARIO\n"
          "\n"
          "Replay what arrived (TRACE: a `ratelab live --record` JSONL trace, or a CSV log with\n"
          "a header row) through the simulator under SCENARIO's limits: every [class.NAME]\n"
          "takes the trace's lines of its name (or all lines, for a one-class scenario and a\n"
          "trace without classes) as its arrivals, with their token counts. With --against,\n"
          "replay it under OTHER's limits too and print both side by side: lost requests,\n"
          "p95 overall and per class, 429s, retries, time to drain, peak queue. When the\n"
          "trace carries what was observed (status, latency), say how close the simulation\n"
          "came to it, so the model can be trusted before its what-ifs.\n"
          "\n"
          "Options:\n"
          "  --against OTHER          a second scenario (the proposal) to replay the trace under\n"
          "  --columns MAP            CSV column names: time=COL,prompt=COL,completion=COL,\n"
          "                           class=COL (the scenario key trace_columns)\n"
          "  --trace-start T          the trace's time 0 (seconds, epoch ms or RFC 3339);\n"
          "                           default: its earliest line\n"
          "  --skip-bad               skip bad trace lines and count them (else FILE:LINE error)\n"
          "  --tui                    watch the replay under SCENARIO on the dashboard (as\n"
          "                           ratelab sim --tui); the comparison prints when it ends\n"
          "  --html FILE              a self-contained HTML page: with --against, both runs'\n"
          "                           plots overlaid, the comparison and what was observed\n"
          "\n"
          "--json writes {\"scenario\": report, \"against\": report, \"diff\": ..., \"observed\": ...}\n"
          "(doc/report.md for a report's fields).\n"
          "\n"
          "Exit status: 0 the replay ran and every SLO of SCENARIO held (and of OTHER with\n"
          "--against), 1 an SLO failed, 2 usage, scenario or trace error, 3 runtime failure.\n"
          "\n",
          stdout);
    cli_print_common_help(o);
}

/* One replayed run: the scenario with the trace as its arrivals, simulated to the end. */
struct replay_run {
    struct scenario sc;
    sim *s;
    char *json;   /* its JSON report */
    cJSON *doc;   /* parsed */
    int slo_failed;
    html_report *html;                  /* its windows for --html; NULL without */
    struct run_server_gauges server;    /* the provider's gauges at the last window's close */
    struct report_extra x;              /* the engine's figures, once run */
};

/* The HTML collector's sink: the provider's gauges as this window closes, then the row. */
static void html_window(void *ctx, int cls, const struct metrics_row *row)
{
    struct replay_run *r = ctx;
    if (cls < 0) {
        run_server_now(sim_lifecycle(r->s), &r->server);
        html_set_server(r->html, r->server.waiting >= 0 ? &r->server : NULL);
    }
    html_sink(r->html, cls, row);
}

/* The trace's span (last line's time), requests, and what it observed. */
struct observed {
    int64_t span_us, requests, with_status, non_2xx, ended_429;
    int64_t with_saw, saw_429; /* lines saying whether they saw a 429, and of those, yes */
    struct histogram latency; /* of lines with a latency, µs */
};

static int scan_trace(const char *path, const struct run_options *o, const char *columns,
                      const char *start, const char *const *classes, int n_classes,
                      struct observed *ob, bool *classless)
{
    struct trace_options to = {.path = path, .columns = columns, .start = start,
                               .classes = classes, .n_classes = n_classes, .only_class = -1,
                               .skip_bad = o->skip_bad};
    struct trace_error err;
    trace *t = trace_open(&to, &err);
    if (!t) {
        fprintf(stderr, "%s%s%.0" PRId64 ": %s\n", err.file, err.line ? ":" : "",
                err.line ? err.line : 0, err.msg);
        return -EINVAL;
    }
    memset(ob, 0, sizeof *ob);
    histogram_init(&ob->latency);
    *classless = false;
    struct trace_line ln;
    int rc;
    while ((rc = trace_next(t, &ln, &err)) == 0) {
        ob->requests++;
        ob->span_us = ln.time_us;
        *classless |= ln.class_index < 0;
        if (ln.status != INT32_MIN) {
            ob->with_status++;
            ob->non_2xx += ln.status < 200 || ln.status >= 300;
            ob->ended_429 += ln.status == 429;
        }
        if (ln.saw_429 >= 0) {
            ob->with_saw++;
            ob->saw_429 += ln.saw_429;
        }
        if (ln.latency_ms >= 0)
            histogram_record(&ob->latency, (int64_t)llround(ln.latency_ms * US_PER_MS));
    }
    trace_close(t);
    if (rc < 0) {
        fprintf(stderr, "%s:%" PRId64 ": %s\n", err.file, err.line, err.msg);
        return -EINVAL;
    }
    return 0;
}

/* Load path with the user's overrides, then every class's arrival set to the trace. */
static int load(struct replay_run *r, const char *path, const struct run_options *o,
                const char *trace_path, const char *columns, const char *start, int64_t span_us)
{
    struct scenario_error err;
    struct scenario probe;
    if (scenario_load(&probe, path, o->overrides, o->n_overrides, &err) < 0) {
        fprintf(stderr, "%s:%d: %s\n", err.file, err.line, err.msg);
        scenario_fini(&probe);
        return -EINVAL;
    }
    /* Overrides: the user's, then the trace for every class, then a duration that
     * covers the trace (arrivals stop at the duration). */
    static char buf[SCENARIO_MAX_CLASSES * 3 + 1][PATH_MAX + 128];
    const char *ov[CLI_MAX_OVERRIDES + SCENARIO_MAX_CLASSES * 3 + 1];
    int n = 0, k = 0;
    for (int i = 0; i < o->n_overrides; i++)
        ov[n++] = o->overrides[i];
    for (int i = 0; i < probe.n_classes; i++) {
        snprintf(buf[k], sizeof buf[k], "class.%s.arrival=trace %s", probe.classes[i].name,
                 trace_path);
        ov[n++] = buf[k++];
        if (columns) {
            snprintf(buf[k], sizeof buf[k], "class.%s.trace_columns=%s", probe.classes[i].name,
                     columns);
            ov[n++] = buf[k++];
        }
        if (start) {
            snprintf(buf[k], sizeof buf[k], "class.%s.trace_start=%s", probe.classes[i].name,
                     start);
            ov[n++] = buf[k++];
        }
    }
    snprintf(buf[k], sizeof buf[k], "scenario.duration=%" PRId64 "us", span_us + 1);
    ov[n++] = buf[k++];
    scenario_fini(&probe);
    if (scenario_load(&r->sc, path, ov, n, &err) < 0) {
        fprintf(stderr, "%s:%d: %s\n", err.file, err.line, err.msg);
        scenario_fini(&r->sc);
        return -EINVAL;
    }
    if (o->have_seed)
        r->sc.seed = o->seed;
    r->sc.trace_skip_bad = o->skip_bad;
    return 0;
}

/* Run r to its end (watched on the dashboard when tui_on; its windows collected for
 * the HTML page when html), and make its JSON report. */
static int simulate(struct replay_run *r, bool tui_on, bool html)
{
    int err = 0;
    r->s = sim_new(&r->sc, &err);
    if (!r->s) {
        if (err != -EBADMSG) /* a bad trace line was reported already */
            fprintf(stderr, "%s: the simulation could not start (%s)\n", r->sc.path,
                    strerror(-err));
        return -EINVAL;
    }
    if (html) {
        r->html = html_new(&r->sc, HTML_MAX_POINTS);
        metrics_add_sink(run_metrics(sim_lifecycle(r->s)), html_window, r);
    }
    if (tui_on) {
        char terr[256];
        tui *t = tui_open(&r->sc, sim_lifecycle(r->s), terr, sizeof terr);
        if (!t) {
            fprintf(stderr, "ratelab replay: %s\n", terr);
            return -EINVAL;
        }
        sim_play(r->s, t, &r->sc, "replay");
        tui_close(t);
    }
    while (!sim_run(r->s, 200000))
        ;
    sim_report_extra(r->s, &r->x);
    struct run_stats rst;
    run_stats(sim_lifecycle(r->s), &rst);
    r->x.trace_skipped = rst.trace_skipped;
    r->x.n_instances = run_instances(sim_lifecycle(r->s), &r->x.instances);
    r->x.instance_limits = r->sc.client.instance_limits;
    size_t len = 0;
    FILE *f = open_memstream(&r->json, &len);
    if (!f || report_json(f, &r->sc, sim_metrics(r->s), &r->x) < 0) {
        if (f)
            fclose(f);
        return -EIO;
    }
    fclose(f);
    r->doc = cJSON_Parse(r->json);
    struct slo_result slo[REPORT_MAX_SLOS];
    int n = report_slos(&r->sc, sim_metrics(r->s), slo);
    for (int i = 0; i < n; i++)
        r->slo_failed += !slo[i].ok;
    return r->doc ? 0 : -EIO;
}

static void replay_free(struct replay_run *r)
{
    html_free(r->html);
    sim_free(r->s);
    free(r->json);
    cJSON_Delete(r->doc);
    scenario_fini(&r->sc);
}

static double jget(const cJSON *o, const char *a, const char *b)
{
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, a);
    const cJSON *v = b ? cJSON_GetObjectItemCaseSensitive(g, b) : g;
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static double lost(const cJSON *o)
{
    return jget(o, "requests", "failed") + jget(o, "requests", "rejected") +
           jget(o, "requests", "timed_out");
}

/* One figure of the comparison: the value under each scenario. */
struct row {
    char name[96];
    double a, b;
    const char *unit; /* "", "ms", "s" */
};

static int rows_of(const struct replay_run *a, const struct replay_run *b, struct row *rows)
{
    int n = 0;
    const cJSON *A = a->doc, *B = b ? b->doc : NULL;
#define ROW(label, expr, u)                                                                        \
    do {                                                                                           \
        snprintf(rows[n].name, sizeof rows[n].name, "%s", label);                                  \
        const cJSON *o = A;                                                                        \
        rows[n].a = (expr);                                                                        \
        o = B;                                                                                     \
        rows[n].b = B ? (expr) : NAN;                                                              \
        rows[n].unit = u;                                                                          \
        n++;                                                                                       \
    } while (0)
    ROW("requests", jget(o, "requests", "arrived"), "");
    ROW("lost (failed + rejected + timed out)", lost(o), "");
    ROW("p95 latency", jget(o, "latency_ms", "p95"), "ms");
    for (int i = 0; i < a->sc.n_classes; i++) {
        char label[96];
        snprintf(label, sizeof label, "p95 %s", a->sc.classes[i].name);
        const char *nm = a->sc.classes[i].name;
#define CLS(o) cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(o, "classes"), nm)
        ROW(label, jget(CLS(o), "latency_ms", "p95"), "ms");
        snprintf(label, sizeof label, "lost %s", nm);
        ROW(label, lost(CLS(o)), "");
#undef CLS
    }
    ROW("429 answers", jget(o, "attempts", "http_429"), "");
    ROW("retries", jget(o, "retries", NULL), "");
    ROW("time to drain (after the last arrival)", jget(o, "end_s", NULL) - jget(o, "duration_s", NULL),
        "s");
    ROW("peak queue", jget(o, "queue_depth", "max"), "");
#undef ROW
    return n;
}

static void fmt(double v, const char *unit, char *buf, size_t n)
{
    if (isnan(v))
        snprintf(buf, n, "-");
    else if (strcmp(unit, "ms") == 0)
        snprintf(buf, n, v >= 10000 ? "%.1f s" : "%.0f ms", v >= 10000 ? v / 1000 : v);
    else if (strcmp(unit, "s") == 0)
        snprintf(buf, n, "%.1f s", v);
    else
        snprintf(buf, n, "%.0f", v);
}

static void print_table(FILE *out, const struct replay_run *a, const struct replay_run *b,
                        const struct row *rows, int n)
{
    fprintf(out, "replay of %d requests: %s%s%s\n\n", (int)rows[0].a, a->sc.name,
            b ? " against " : "", b ? b->sc.name : "");
    fprintf(out, "%-40s %14.14s", "", a->sc.name);
    if (b)
        fprintf(out, " %14.14s %10s", b->sc.name, "change");
    fputc('\n', out);
    for (int i = 1; i < n; i++) {
        char va[32], vb[32], d[32] = "";
        fmt(rows[i].a, rows[i].unit, va, sizeof va);
        fmt(rows[i].b, rows[i].unit, vb, sizeof vb);
        if (b && !isnan(rows[i].a) && !isnan(rows[i].b)) {
            double diff = rows[i].b - rows[i].a;
            if (rows[i].a != 0)
                snprintf(d, sizeof d, "%+.0f%%", 100 * diff / fabs(rows[i].a));
            else
                snprintf(d, sizeof d, diff == 0 ? "=" : "%+.0f", diff);
        }
        fprintf(out, "%-40.40s %14s", rows[i].name, va);
        if (b)
            fprintf(out, " %14s %10s", vb, d);
        fputc('\n', out);
    }
}

/* How close the simulation under SCENARIO came to what the trace observed. */
static cJSON *observed_json(FILE *out, const struct observed *ob, const struct replay_run *a)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "requests", (double)ob->requests);
    if (ob->with_status == 0 && ob->latency.count == 0) {
        if (out)
            fputs("\nthe trace carries no observed status or latency: nothing to compare "
                  "with\n",
                  out);
        return o;
    }
    double arrived = jget(a->doc, "requests", "arrived");
    double sim_lost = arrived > 0 ? lost(a->doc) / arrived : NAN;
    double obs_lost = ob->with_status ? (double)ob->non_2xx / (double)ob->with_status : NAN;
    double obs_end429 = ob->with_status ? (double)ob->ended_429 / (double)ob->with_status : NAN;
    double obs_429 = ob->with_saw ? (double)ob->saw_429 / (double)ob->with_saw : NAN;
    double sim_429 = jget(a->doc, "hit_rate", "server_429");
    double obs_p50 = ob->latency.count ? histogram_quantile(&ob->latency, 0.5) / 1000.0 : NAN;
    double obs_p95 = ob->latency.count ? histogram_quantile(&ob->latency, 0.95) / 1000.0 : NAN;
    double sim_p50 = jget(a->doc, "latency_ms", "p50"), sim_p95 = jget(a->doc, "latency_ms", "p95");
    cJSON_AddNumberToObject(o, "lost_share", obs_lost);
    cJSON_AddNumberToObject(o, "sim_lost_share", sim_lost);
    cJSON_AddNumberToObject(o, "ended_429_share", obs_end429);
    if (ob->with_saw) {
        cJSON_AddNumberToObject(o, "server_429_share", obs_429);
        cJSON_AddNumberToObject(o, "sim_server_429_share", sim_429);
    }
    cJSON_AddNumberToObject(o, "latency_p50_ms", obs_p50);
    cJSON_AddNumberToObject(o, "latency_p95_ms", obs_p95);
    cJSON_AddNumberToObject(o, "sim_latency_p50_ms", sim_p50);
    cJSON_AddNumberToObject(o, "sim_latency_p95_ms", sim_p95);
    cJSON_AddNumberToObject(o, "p50_error", sim_p50 / obs_p50 - 1);
    cJSON_AddNumberToObject(o, "p95_error", sim_p95 / obs_p95 - 1);
    if (out)
        fprintf(out,
            "\nthe model against what was observed (under %s):\n"
            "  lost      observed %5.1f%%   simulated %5.1f%%\n"
            "  saw a 429 observed %5.1f%%   simulated %5.1f%%\n"
            "  p50       observed %7.0f ms simulated %7.0f ms (%+.1f%%)\n"
            "  p95       observed %7.0f ms simulated %7.0f ms (%+.1f%%)\n",
            a->sc.name, 100 * obs_lost, 100 * sim_lost, 100 * obs_429, 100 * sim_429, obs_p50,
            sim_p50,
            100 * (sim_p50 / obs_p50 - 1), obs_p95, sim_p95, 100 * (sim_p95 / obs_p95 - 1));
    return o;
}

/*
 * The --html page: of the one run, or with b one page of both runs overlaid, with
 * the comparison and what was observed as replay prints them. Returns 0 or < 0.
 */
static int write_html(FILE *out, const struct replay_run *a, const struct replay_run *b,
                      const struct observed *ob, const struct row *rows, int nr)
{
    if (!b)
        return html_write(a->html, out, &a->sc, sim_metrics(a->s), &a->x);
    char *text = NULL, title[2 * SCENARIO_NAME_MAX + 32];
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (!mem)
        return -ENOMEM;
    print_table(mem, a, b, rows, nr);
    cJSON_Delete(observed_json(mem, ob, a));
    fclose(mem);
    snprintf(title, sizeof title, "replay: %s against %s", a->sc.name, b->sc.name);
    struct html_run ra = {a->html, &a->sc, sim_metrics(a->s), &a->x},
                    rb = {b->html, &b->sc, sim_metrics(b->s), &b->x};
    int rc = html_write_pair(&ra, &rb, out, title, text);
    free(text);
    return rc;
}

int cmd_replay(int argc, char **argv)
{
    struct run_options o = {0};
    o.extra[0] = (struct cli_extra){.name = "against", .has_arg = true};
    o.extra[1] = (struct cli_extra){.name = "columns", .has_arg = true};
    o.extra[2] = (struct cli_extra){.name = "trace-start", .has_arg = true};
    o.extra[3] = (struct cli_extra){.name = "tui", .has_arg = false};
    o.n_extra = 4;
    /* Two positionals, TRACE then SCENARIO; cli_parse takes one, so TRACE (the first
     * argument that is neither an option nor an option's value) is taken out first. */
    static const char *const with_value[] = {"--set", "--seed", "--json", "--csv", "--html",
                                             "--against", "--columns", "--trace-start"};
    const char *trace_path = NULL;
    char *args[256];
    int n = 0;
    for (int i = 0; i < argc && n < 255; i++) {
        args[n++] = argv[i];
        if (i == 0 || strcmp(argv[i], "-") == 0)
            continue;
        if (argv[i][0] == '-') {
            for (size_t k = 0; k < sizeof with_value / sizeof with_value[0]; k++)
                if (strcmp(argv[i], with_value[k]) == 0 && i + 1 < argc && n < 255)
                    args[n++] = argv[++i];
            continue;
        }
        if (!trace_path) {
            trace_path = argv[i];
            n--;
        }
    }
    if (cli_parse(n, args, &o) < 0)
        return EXIT_RUN_USAGE;
    if (o.help) {
        help(&o);
        return EXIT_RUN_OK;
    }
    if (!trace_path || !o.scenario_path) {
        fprintf(stderr, "ratelab replay: a TRACE and a SCENARIO are required "
                        "(see 'ratelab replay --help')\n");
        return EXIT_RUN_USAGE;
    }
    if (o.csv_path) {
        fprintf(stderr, "ratelab replay: --csv does not apply (use ratelab sim with "
                        "arrival = trace for a time series)\n");
        return EXIT_RUN_USAGE;
    }
    const char *against = o.extra[0].value, *columns = o.extra[1].value,
               *start = o.extra[2].value;
    /* The scenario resolves a relative trace path against its own folder: give it the
     * absolute one, so the trace is the file the user named. */
    static char trace_abs[PATH_MAX];
    if (!realpath(trace_path, trace_abs)) {
        fprintf(stderr, "ratelab replay: cannot read %s: %s\n", trace_path, strerror(errno));
        return EXIT_RUN_USAGE;
    }
    trace_path = trace_abs;

    /* The class names, to check the trace against: the scenario's. */
    struct scenario probe;
    struct scenario_error serr;
    if (scenario_load(&probe, o.scenario_path, o.overrides, o.n_overrides, &serr) < 0) {
        fprintf(stderr, "%s:%d: %s\n", serr.file, serr.line, serr.msg);
        scenario_fini(&probe);
        return EXIT_RUN_USAGE;
    }
    const char *names[SCENARIO_MAX_CLASSES];
    for (int i = 0; i < probe.n_classes; i++)
        names[i] = probe.classes[i].name;
    static struct observed ob;
    bool classless;
    int rc = scan_trace(trace_path, &o, columns, start, names, probe.n_classes, &ob, &classless);
    int n_classes = probe.n_classes;
    scenario_fini(&probe);
    if (rc < 0)
        return EXIT_RUN_USAGE;
    if (classless && n_classes > 1) {
        fprintf(stderr, "%s: the trace's lines name no class, and %s has %d classes: map the "
                        "trace's class column (--columns class=COL), or replay with a one-class "
                        "scenario\n", trace_path, o.scenario_path, n_classes);
        return EXIT_RUN_USAGE;
    }
    if (ob.requests == 0) {
        fprintf(stderr, "%s: no requests to replay\n", trace_path);
        return EXIT_RUN_USAGE;
    }

    static struct replay_run a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    rc = EXIT_RUN_OK;
    if (load(&a, o.scenario_path, &o, trace_path, columns, start, ob.span_us) < 0)
        return EXIT_RUN_USAGE;
    if (against && load(&b, against, &o, trace_path, columns, start, ob.span_us) < 0) {
        replay_free(&a);
        return EXIT_RUN_USAGE;
    }
    bool tui_on = o.extra[3].value != NULL;
    if (tui_on && (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO) ||
                   (o.json_path && strcmp(o.json_path, "-") == 0))) {
        fprintf(stderr, "ratelab replay: --tui needs a terminal on stdout and stdin, and the "
                        "JSON in a file (--json FILE)\n");
        rc = EXIT_RUN_USAGE;
        goto out;
    }
    bool html_stdout = o.html_path && strcmp(o.html_path, "-") == 0;
    if (html_stdout && ((o.json_path && strcmp(o.json_path, "-") == 0) || tui_on)) {
        fprintf(stderr, "ratelab replay: --html - takes stdout: write --json to a file, and "
                        "--html to a file with --tui\n");
        rc = EXIT_RUN_USAGE;
        goto out;
    }
    /* Opened before the runs, so a path that cannot be written fails fast. */
    FILE *html = NULL;
    if (o.html_path && !(html = html_stdout ? stdout : fopen(o.html_path, "w"))) {
        fprintf(stderr, "ratelab replay: cannot write %s: %s\n", o.html_path, strerror(errno));
        rc = EXIT_RUN_FAIL;
        goto out;
    }
    if (simulate(&a, tui_on, html) < 0 || (against && simulate(&b, false, html) < 0)) {
        if (html && html != stdout)
            fclose(html);
        rc = EXIT_RUN_FAIL;
        goto out;
    }
    bool json_stdout = o.json_path && strcmp(o.json_path, "-") == 0;
    FILE *human = json_stdout || html_stdout ? stderr : stdout;
    static struct row rows[4 * SCENARIO_MAX_CLASSES + 16];
    int nr = rows_of(&a, against ? &b : NULL, rows);
    if (!(o.quiet && json_stdout))
        print_table(human, &a, against ? &b : NULL, rows, nr);
    cJSON *obs = observed_json(o.quiet && json_stdout ? NULL : human, &ob, &a);
    if (o.json_path) {
        cJSON *root = cJSON_CreateObject();
        cJSON_AddItemToObject(root, "scenario", cJSON_Duplicate(a.doc, 1));
        if (against)
            cJSON_AddItemToObject(root, "against", cJSON_Duplicate(b.doc, 1));
        cJSON *diff = cJSON_CreateArray();
        for (int i = 0; i < nr; i++) {
            cJSON *d = cJSON_CreateObject();
            cJSON_AddStringToObject(d, "figure", rows[i].name);
            cJSON_AddNumberToObject(d, "scenario", rows[i].a);
            if (against)
                cJSON_AddNumberToObject(d, "against", rows[i].b);
            cJSON_AddItemToArray(diff, d);
        }
        cJSON_AddItemToObject(root, "diff", diff);
        cJSON_AddItemToObject(root, "observed", obs);
        obs = NULL;
        char *text = cJSON_Print(root);
        cJSON_Delete(root);
        FILE *f = json_stdout ? stdout : fopen(o.json_path, "w");
        if (!f || fputs(text, f) < 0 || fputc('\n', f) == EOF) {
            fprintf(stderr, "ratelab replay: cannot write %s: %s\n", o.json_path,
                    strerror(errno));
            rc = EXIT_RUN_FAIL;
        }
        if (f && f != stdout && fclose(f) != 0)
            rc = EXIT_RUN_FAIL;
        free(text);
    }
    cJSON_Delete(obs);
    if (html && write_html(html, &a, against ? &b : NULL, &ob, rows, nr) < 0) {
        fprintf(stderr, "ratelab replay: cannot write %s\n", o.html_path);
        rc = EXIT_RUN_FAIL;
    }
    if (html && html != stdout && fclose(html) != 0)
        rc = EXIT_RUN_FAIL;
    if (rc == EXIT_RUN_OK && (a.slo_failed || b.slo_failed))
        rc = EXIT_RUN_SLO;
out:
    replay_free(&a);
    if (against)
        replay_free(&b);
    return rc;
}
