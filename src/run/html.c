#include "config.h"

#include "html.h"

#include <assert.h>
#include <cairo.h>
#include <errno.h>
#include <fontconfig/fontconfig.h>
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "html_inst.h"
#include "html_plot.h"
#include "util.h"

/*
 * Each scope (index 0 overall, 1 + k class k) keeps its points oldest first.
 * Invariant: 0 <= n <= max_points, and every scope holds the same number of
 * points over the same spans (they get one point per window each and are
 * halved together).
 */
struct series {
    struct html_point *p; /* max_points of them */
    int n;                /* points held */
};

struct html_report {
    const struct scenario *sc;
    int max_points;                          /* >= 2 */
    int n_scopes;                            /* classes + 1 */
    struct series *s;                        /* [n_scopes] */
    const struct run_server_gauges *server;  /* read at each window's close; NULL unknown */
};

/* ---- the series ------------------------------------------------------------ */

html_report *html_new(const struct scenario *sc, int max_points)
{
    assert(sc && max_points >= 2);
    html_report *h = xcalloc(1, sizeof *h);
    h->sc = sc;
    h->max_points = max_points;
    h->n_scopes = sc->n_classes + 1;
    h->s = xcalloc((size_t)h->n_scopes, sizeof *h->s);
    for (int i = 0; i < h->n_scopes; i++)
        h->s[i].p = xcalloc((size_t)max_points, sizeof *h->s[i].p);
    return h;
}

void html_free(html_report *h)
{
    if (!h)
        return;
    for (int i = 0; i < h->n_scopes; i++)
        free(h->s[i].p);
    free(h->s);
    free(h);
}

void html_set_server(html_report *h, const struct run_server_gauges *server)
{
    h->server = server;
}

double html_point_throttled_share(const struct html_point *p)
{
    return p->base ? fmin(1.0, (double)p->throttled / (double)p->base) : 0;
}

double html_point_429_share(const struct html_point *p)
{
    return p->base ? fmin(1.0, (double)p->saw_429 / (double)p->base) : 0;
}

static double span_s(const struct html_point *p)
{
    return (double)(p->end_us - p->start_us) / US_PER_S;
}

double html_point_requests_per_s(const struct html_point *p)
{
    return span_s(p) > 0 ? (double)p->succeeded / span_s(p) : 0;
}

double html_point_tokens_per_s(const struct html_point *p)
{
    return span_s(p) > 0 ? (double)p->output_tokens / span_s(p) : 0;
}

/* a and b are neighbours (a first): b becomes part of a. fmax ignores a NaN side. */
static void merge(struct html_point *a, const struct html_point *b)
{
    a->end_us = b->end_us;
    a->throttled += b->throttled;
    a->saw_429 += b->saw_429;
    a->base += b->base;
    a->succeeded += b->succeeded;
    a->output_tokens += b->output_tokens;
    a->queue_max = a->queue_max > b->queue_max ? a->queue_max : b->queue_max;
    a->inflight_max = a->inflight_max > b->inflight_max ? a->inflight_max : b->inflight_max;
    a->server_waiting = a->server_waiting > b->server_waiting ? a->server_waiting
                                                              : b->server_waiting;
    a->latency_p50_ms = fmax(a->latency_p50_ms, b->latency_p50_ms);
    a->latency_p95_ms = fmax(a->latency_p95_ms, b->latency_p95_ms);
}

static void halve(struct series *s)
{
    int n = 0;
    for (int i = 0; i < s->n; i += 2) {
        s->p[n] = s->p[i];
        if (i + 1 < s->n)
            merge(&s->p[n], &s->p[i + 1]);
        n++;
    }
    s->n = n;
}

void html_sink(void *ctx, int cls, const struct metrics_row *row)
{
    html_report *h = ctx;
    assert(cls >= -1 && cls + 1 < h->n_scopes);
    struct series *s = &h->s[cls + 1];
    if (s->n == h->max_points)
        halve(s);
    const struct metrics_counts *c = &row->c;
    uint64_t first = c->sends > c->retries ? c->sends - c->retries : 0;
    bool answered = c->ended[OUTCOME_SUCCEEDED] + c->ended[OUTCOME_FAILED] > 0;
    s->p[s->n++] = (struct html_point){
        .start_us = row->start_us,
        .end_us = row->end_us,
        .throttled = c->client_throttled,
        .saw_429 = c->saw_429,
        .base = c->arrivals > first ? c->arrivals : first,
        .succeeded = c->ended[OUTCOME_SUCCEEDED],
        .output_tokens = c->output_tokens,
        .queue_max = row->queue_max,
        .inflight_max = row->inflight_max,
        .server_waiting = cls < 0 && h->server ? h->server->waiting : -1,
        .latency_p50_ms = answered ? (double)row->latency_p50_us / US_PER_MS : NAN,
        .latency_p95_ms = answered ? (double)row->latency_p95_us / US_PER_MS : NAN,
    };
}

int html_points(const html_report *h, int cls)
{
    assert(cls >= -1 && cls + 1 < h->n_scopes);
    return h->s[cls + 1].n;
}

const struct html_point *html_point_at(const html_report *h, int cls, int i)
{
    assert(i >= 0 && i < html_points(h, cls));
    return &h->s[cls + 1].p[i];
}

/* ---- plots ----------------------------------------------------------------- */

/* One line of a plot: a value per point (NaN: no point, the line breaks). */
struct line {
    const char *label;
    double rgb[3];
    bool dashed;
    bool right;                                   /* on the right axis */
    double (*get)(const struct html_point *p);
};

struct plot {
    const char *title;
    const char *unit;        /* left axis */
    const char *right_unit;  /* right axis, NULL = none */
    const struct line *lines;
    int n_lines;
    double slo;              /* a horizontal SLO line on the left axis; <= 0 none */
};

/* The second run's lines on an overlay (replay --against): dotted, same hues. */
static const double DOTS[2] = {1.5, 2.5}, DASH[2] = {5, 3};

/*
 * Draw one plot of a scope's points: of one run (n_sets 1), or of two overlaid on
 * the same axes (n_sets 2: the first run's lines as they are, the second's dotted,
 * and a second legend row naming the runs, names[j]). Every run starts at time 0.
 */
static void draw(cairo_t *cr, const struct plot *pl, const struct series *const *sets,
                 const char *const *names, int n_sets, int64_t end_us)
{
    assert(n_sets == 1 || (n_sets == 2 && names));
    double lmax = pl->slo > 0 ? pl->slo * 1.1 : 0, rmax = 0;
    for (int j = 0; j < n_sets; j++)
        for (int k = 0; k < pl->n_lines; k++)
            for (int i = 0; i < sets[j]->n; i++) {
                double v = pl->lines[k].get(&sets[j]->p[i]);
                if (pl->lines[k].right)
                    rmax = fmax(rmax, v);
                else
                    lmax = fmax(lmax, v);
            }
    struct html_frame fr = {.title = pl->title, .unit = pl->unit, .right_unit = pl->right_unit};
    html_frame_init(&fr, n_sets > 1 ? 14 : 0);
    html_axis(lmax, &fr.ltop, &fr.lstep);
    html_axis(rmax, &fr.rtop, &fr.rstep);
    /* Time axis: seconds, minutes or hours, whichever reads best. */
    double span_s = (double)(end_us > 0 ? end_us : 1) / US_PER_S;
    double tdiv = span_s > 3 * 3600 ? 3600 : span_s > 600 ? 60 : 1;
    fr.x_unit = tdiv == 3600 ? "time (h)" : tdiv == 60 ? "time (min)" : "time (s)";
    fr.xhi = span_s / tdiv;
    fr.xstep = html_nice_step(fr.xhi, 8);
    const double x0 = fr.x0, x1 = fr.x1, y0 = fr.y0, y1 = fr.y1;
    const double ltop = fr.ltop, rtop = fr.rtop, xtop = fr.xhi;
    double lx = html_frame_draw(cr, &fr);
    for (int k = 0; k < pl->n_lines; k++)
        html_legend(cr, &lx, 18, pl->lines[k].rgb, pl->lines[k].dashed ? DASH : NULL, 2,
                    pl->lines[k].label);
    if (pl->slo > 0)
        html_legend(cr, &lx, 18, HTML_RED, DASH, 2, "SLO");
    /* With two runs, a second row: which run is which stroke. */
    lx = x0;
    for (int j = 0; j < n_sets && n_sets > 1; j++)
        html_legend(cr, &lx, 34, HTML_FG, j > 0 ? DOTS : NULL, 2, names[j]);
    /* The SLO line, then the data, clipped to the plot area. */
    cairo_save(cr);
    cairo_rectangle(cr, x0, y1 - 2, x1 - x0, y0 - y1 + 2);
    cairo_clip(cr);
    cairo_set_line_width(cr, 1.5);
    if (pl->slo > 0) {
        double y = y0 - (y0 - y1) * pl->slo / ltop;
        html_set_rgb(cr, HTML_RED);
        cairo_set_dash(cr, DASH, 2, 0);
        cairo_move_to(cr, x0, y);
        cairo_line_to(cr, x1, y);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
    }
    for (int j = 0; j < n_sets; j++) {
        for (int k = 0; k < pl->n_lines; k++) {
            const struct series *s = sets[j];
            const struct line *ln = &pl->lines[k];
            double top = ln->right ? rtop : ltop;
            html_set_rgb(cr, ln->rgb);
            if (j > 0)
                cairo_set_dash(cr, DOTS, 2, 0);
            else if (ln->dashed)
                cairo_set_dash(cr, DASH, 2, 0);
            bool pen = false;
            for (int i = 0; i < s->n; i++) {
                double v = ln->get(&s->p[i]);
                if (isnan(v)) {
                    pen = false;
                    continue;
                }
                double x = x0 + (x1 - x0) * ((double)s->p[i].end_us / US_PER_S / tdiv) / xtop;
                double y = y0 - (y0 - y1) * v / top;
                bool alone = (i + 1 >= s->n || isnan(ln->get(&s->p[i + 1]))) && !pen;
                if (alone) { /* a lone point between gaps: a dot, or it would not show */
                    cairo_stroke(cr);
                    cairo_arc(cr, x, y, 2, 0, 2 * M_PI);
                    cairo_fill(cr);
                } else if (pen) {
                    cairo_line_to(cr, x, y);
                } else {
                    cairo_move_to(cr, x, y);
                }
                pen = !alone;
            }
            cairo_stroke(cr);
            cairo_set_dash(cr, NULL, 0, 0);
        }
    }
    cairo_restore(cr);
}

/* What draw needs, for html_svg's callback. */
struct plot_ctx {
    const struct plot *pl;
    const struct series *const *sets;
    const char *const *names;
    int n_sets;
    int64_t end_us;
};

static void draw_ctx(cairo_t *cr, const void *ctx)
{
    const struct plot_ctx *c = ctx;
    draw(cr, c->pl, c->sets, c->names, c->n_sets, c->end_us);
}

/* Draw pl as an inline SVG. Returns 0 or -ENOMEM (cairo failed). */
static int put_plot(FILE *f, const struct plot *pl, const struct series *const *sets,
                    const char *const *names, int n_sets, int64_t end_us, int id)
{
    /* The legend is glyphs in the picture: its words go in the label too. */
    char label[3 * SCENARIO_NAME_MAX + 64];
    if (n_sets > 1)
        snprintf(label, sizeof label, "%s: %s solid, %s dotted", pl->title, names[0], names[1]);
    else
        snprintf(label, sizeof label, "%s", pl->title);
    const struct plot_ctx c = {pl, sets, names, n_sets, end_us};
    return html_svg(f, draw_ctx, &c, label, id);
}

static double get_throttled(const struct html_point *p)
{
    return 100 * html_point_throttled_share(p);
}
static double get_429(const struct html_point *p)
{
    return 100 * html_point_429_share(p);
}
static double get_queue(const struct html_point *p)
{
    return (double)p->queue_max;
}
static double get_inflight(const struct html_point *p)
{
    return (double)p->inflight_max;
}
static double get_waiting(const struct html_point *p)
{
    return p->server_waiting >= 0 ? (double)p->server_waiting : NAN;
}
static double get_p50(const struct html_point *p)
{
    return p->latency_p50_ms;
}
static double get_p95(const struct html_point *p)
{
    return p->latency_p95_ms;
}

/*
 * The series block a reader (or a test) compares with the CSV: one array per
 * quantity; run_name names the run on a page of two (NULL on a one-run page).
 */
static void put_series_json(FILE *f, const struct series *s, const char *scope,
                            const char *run_name, bool waiting)
{
    static const struct {
        const char *key;
        double (*get)(const struct html_point *p);
    } cols[] = {
        {"throttled_share", html_point_throttled_share},
        {"share_429", html_point_429_share},
        {"queue_max", get_queue},
        {"inflight_max", get_inflight},
        {"server_waiting", get_waiting},
        {"latency_p50_ms", get_p50},
        {"latency_p95_ms", get_p95},
        {"requests_per_s", html_point_requests_per_s},
        {"tokens_per_s", html_point_tokens_per_s},
    };
    fputs("<script type=\"application/json\" class=\"series\">{\"scope\":", f);
    html_put_json_str(f, scope);
    if (run_name) {
        fputs(",\"run\":", f);
        html_put_json_str(f, run_name);
    }
    fputs(",\"window_end_s\":[", f);
    for (int i = 0; i < s->n; i++) {
        fputs(i ? "," : "", f);
        html_put_json_num(f, (double)s->p[i].end_us / US_PER_S);
    }
    fputc(']', f);
    for (size_t k = 0; k < sizeof cols / sizeof cols[0]; k++) {
        if (cols[k].get == get_waiting && !waiting)
            continue;
        fprintf(f, ",\"%s\":[", cols[k].key);
        for (int i = 0; i < s->n; i++) {
            fputs(i ? "," : "", f);
            html_put_json_num(f, cols[k].get(&s->p[i]));
        }
        fputc(']', f);
    }
    fputs("}</script>\n", f);
}

/* The scope of h named like hs[0]'s class cls (-1 overall), or -2 when h has no such class. */
static int same_scope(const html_report *h, const html_report *h0, int cls)
{
    if (cls < 0)
        return -1;
    for (int k = 0; k < h->sc->n_classes; k++)
        if (strcmp(h->sc->classes[k].name, h0->sc->classes[cls].name) == 0)
            return k;
    return -2;
}

/*
 * A scope's section: its series blocks and its four plots, of one run (n 1) or
 * of two overlaid (n 2, names[j] the runs'); cls is the first run's class, and
 * the second run's class of the same name is drawn with it (none: only the first).
 */
static int put_scope(FILE *f, const html_report *const *hs, const char *const *names, int n,
                     int cls, int64_t end_us, int *id)
{
    const struct series *sets[2];
    int n_sets = 0;
    for (int j = 0; j < n; j++) {
        int k = same_scope(hs[j], hs[0], cls);
        if (k >= -1)
            sets[n_sets++] = &hs[j]->s[k + 1];
    }
    const struct scenario *sc = hs[0]->sc;
    const char *name = cls < 0 ? "all" : sc->classes[cls].name;
    bool waiting = false;
    for (int j = 0; j < n_sets && cls < 0; j++)
        for (int i = 0; i < sets[j]->n; i++)
            waiting |= sets[j]->p[i].server_waiting >= 0;
    int64_t slo_us = cls < 0 ? sc->slo_p95_us : sc->classes[cls].slo_p95_us;

    fputs("<section class=\"scope\"><h2>", f);
    if (cls < 0)
        fputs("All classes", f);
    else {
        fputs("Class ", f);
        html_put_str(f, name);
    }
    fputs("</h2>\n", f);
    for (int j = 0; j < n_sets; j++)
        put_series_json(f, sets[j], name, n > 1 ? names[j] : NULL, waiting);
    fputs("<div class=\"plots\">\n", f);

    const struct line hit[] = {
        {"throttled by our limiter", {0}, false, false, get_throttled},
        {"got a 429", {0}, false, false, get_429},
    };
    const struct line queue[] = {
        {"client queue (max)", {0}, false, false, get_queue},
        {"in flight (max)", {0}, false, false, get_inflight},
        {"provider waiting", {0}, true, false, get_waiting},
    };
    const struct line lat[] = {
        {"p50", {0}, false, false, get_p50},
        {"p95", {0}, false, false, get_p95},
    };
    const struct line thr[] = {
        {"requests/s", {0}, false, false, html_point_requests_per_s},
        {"tokens/s (right)", {0}, true, true, html_point_tokens_per_s},
    };
    struct line l[4][3];
    memcpy(l[0], hit, sizeof hit);
    memcpy(l[1], queue, sizeof queue);
    memcpy(l[2], lat, sizeof lat);
    memcpy(l[3], thr, sizeof thr);
    const double *colour[4][3] = {
        {HTML_BLUE, HTML_RED, NULL}, {HTML_BLUE, HTML_ORANGE, HTML_PURPLE}, {HTML_BLUE, HTML_ORANGE, NULL}, {HTML_GREEN, HTML_BLUE, NULL}};
    for (int i = 0; i < 4; i++)
        for (int k = 0; k < 3; k++)
            if (colour[i][k])
                memcpy(l[i][k].rgb, colour[i][k], sizeof l[i][k].rgb);
    const struct plot plots[] = {
        {"Hit rate", "% of requests", NULL, l[0], 2, 0},
        {"Queue depth", "requests", NULL, l[1], waiting ? 3 : 2, 0},
        {"Latency", "ms", NULL, l[2], 2, (double)slo_us / US_PER_MS},
        {"Throughput", "requests/s", "tokens/s", l[3], 2, 0},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof plots / sizeof plots[0] && rc == 0; i++)
        rc = put_plot(f, &plots[i], sets, names, n_sets, end_us, (*id)++);
    fputs("</div></section>\n", f);
    return rc;
}

/* ---- the page -------------------------------------------------------------- */

static const char STYLE[] =
    ":root{color-scheme:light dark;--fg:#1b1b1f;--bg:#fff;--muted:#5f6368;--line:#d0d0d5;"
    "--ok:#1a7f37;--fail:#c62828}\n"
    "@media (prefers-color-scheme:dark){:root{--fg:#e8e8ea;--bg:#16171a;--muted:#a0a4aa;"
    "--line:#3a3b40;--ok:#4cc46a;--fail:#ff6b6b}\n"
    "  svg.plot{filter:invert(1) hue-rotate(180deg)}}\n"
    "@media print{:root{--fg:#000;--bg:#fff;--muted:#444;--line:#bbb;--ok:#1a7f37;"
    "--fail:#c62828}svg.plot{filter:none}section.scope{break-inside:avoid}details{display:block}}\n"
    "body{font:14px/1.45 system-ui,sans-serif;color:var(--fg);background:var(--bg);"
    "margin:1.5rem auto;max-width:1320px;padding:0 1rem}\n"
    "h1{margin-bottom:.2rem}.muted{color:var(--muted)}\n"
    "pre{overflow-x:auto;border:1px solid var(--line);padding:.6rem;font-size:12px}\n"
    "table{border-collapse:collapse;margin:.5rem 0}td,th{border-bottom:1px solid var(--line);"
    "padding:.2rem .6rem;text-align:right}td:first-child,th:first-child{text-align:left}\n"
    ".ok{color:var(--ok);font-weight:600}.fail{color:var(--fail);font-weight:600}\n"
    ".plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:.5rem}\n"
    "figure{margin:0}svg.plot{width:100%;height:auto}\n";

static void put_totals_row(FILE *f, const char *scope, const struct metrics_row *t)
{
    const struct metrics_counts *c = &t->c;
    fputs("<tr><td>", f);
    html_put_str(f, scope);
    fprintf(f,
            "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%" PRIu64
            "</td><td>%" PRIu64 "</td><td>%" PRIu64 "</td><td>%.1f%%</td><td>%.1f%%</td>"
            "<td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.2f</td><td>%.1f</td></tr>\n",
            c->arrivals, c->ended[OUTCOME_SUCCEEDED], c->ended[OUTCOME_FAILED],
            c->ended[OUTCOME_REJECTED], c->ended[OUTCOME_TIMED_OUT], c->ended[OUTCOME_CANCELLED],
            c->arrivals ? 100.0 * (double)c->client_throttled / (double)c->arrivals : 0,
            c->arrivals ? 100.0 * (double)c->saw_429 / (double)c->arrivals : 0,
            (double)t->latency_p50_us / US_PER_MS, (double)t->latency_p95_us / US_PER_MS,
            (double)t->latency_p99_us / US_PER_MS, t->requests_per_s, t->tokens_per_s);
}

/* The totals as JSON, same names and formulas as the JSON report's scope fields. */
static void put_totals_json(FILE *f, const struct metrics_row *t)
{
    const struct metrics_counts *c = &t->c;
    fprintf(f,
            "{\"arrived\":%" PRIu64 ",\"succeeded\":%" PRIu64 ",\"failed\":%" PRIu64
            ",\"rejected\":%" PRIu64 ",\"timed_out\":%" PRIu64 ",\"cancelled\":%" PRIu64
            ",\"retries\":%" PRIu64 ",\"http_429\":%" PRIu64,
            c->arrivals, c->ended[OUTCOME_SUCCEEDED], c->ended[OUTCOME_FAILED],
            c->ended[OUTCOME_REJECTED], c->ended[OUTCOME_TIMED_OUT], c->ended[OUTCOME_CANCELLED],
            c->retries, c->http_429);
    fputs(",\"client_throttled\":", f);
    html_put_json_num(f, c->arrivals ? (double)c->client_throttled / (double)c->arrivals : 0);
    fputs(",\"server_429\":", f);
    html_put_json_num(f, c->arrivals ? (double)c->saw_429 / (double)c->arrivals : 0);
    fputs(",\"latency_p50_ms\":", f);
    html_put_json_num(f, (double)t->latency_p50_us / US_PER_MS);
    fputs(",\"latency_p95_ms\":", f);
    html_put_json_num(f, (double)t->latency_p95_us / US_PER_MS);
    fputs(",\"requests_per_s\":", f);
    html_put_json_num(f, t->requests_per_s);
    fputs(",\"tokens_per_s\":", f);
    html_put_json_num(f, t->tokens_per_s);
    fprintf(f, ",\"queue_max\":%" PRId64 ",\"inflight_max\":%" PRId64 "}", t->queue_max,
            t->inflight_max);
}

/* The page's head and title (title: NULL for the scenario's name; sc: NULL with a title). */
static void put_head(FILE *f, const struct scenario *sc, const char *title)
{
    assert(sc || title);
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
          "<meta name=\"generator\" content=\"ratelab " PACKAGE_VERSION "\">\n<title>ratelab: ",
          f);
    html_put_str(f, title ? title : sc->name);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<h1>", STYLE);
    html_put_str(f, title ? title : sc->name);
    fputs("</h1>\n", f);
}

/* A scenario's description and where it came from. */
static void put_about(FILE *f, const struct scenario *sc)
{
    if (sc->description[0]) {
        fputs("<p>", f);
        html_put_str(f, sc->description);
        fputs("</p>\n", f);
    }
    fputs("<p class=\"muted\">Scenario file ", f);
    html_put_str(f, sc->path);
    fprintf(f, "; seed %" PRIu64 "; arrivals for %g s; windows of %g s.</p>\n", sc->seed,
            (double)sc->duration_us / US_PER_S, (double)sc->window_us / US_PER_S);
}

/* Text some writer makes into a FILE, put as escaped <pre>. */
static void put_pre(FILE *f, const char *text, size_t n)
{
    fputs("<pre>", f);
    html_put_text(f, text ? text : "", text ? n : 0);
    fputs("</pre>\n", f);
}

/* A heading, with " under NAME" when the page holds two runs (under non-NULL). */
static void put_h2(FILE *f, const char *text, const char *under)
{
    fputs("<h2>", f);
    html_put_str(f, text);
    if (under) {
        fputs(" under ", f);
        html_put_str(f, under);
    }
    fputs("</h2>\n", f);
}

/*
 * One run's settings, summary, SLOs, totals and, with several client instances,
 * each instance's counts (the JSON blocks' ids are "totals" and "instances",
 * followed by id_suffix). under: the run's name on a page of two, else NULL.
 * Returns 0 or -ENOMEM.
 */
static int put_run(FILE *out, const struct scenario *sc, const metrics *m,
                   const struct report_extra *x, const char *under, const char *id_suffix)
{
    char *text = NULL;
    size_t n = 0;
    FILE *mem = open_memstream(&text, &n);
    if (mem) {
        scenario_write(sc, mem);
        fclose(mem);
        put_h2(out, "Settings", under);
        fputs("<details><summary>The scenario as run, every key resolved "
              "(loads back as the same scenario)</summary>\n",
              out);
        put_pre(out, text, n);
        fputs("</details>\n", out);
        free(text);
    }

    text = NULL;
    n = 0;
    if (!(mem = open_memstream(&text, &n)))
        return -ENOMEM;
    report_summary(mem, sc, m, x);
    fclose(mem);
    put_h2(out, "Summary", under);
    put_pre(out, text, n);
    free(text);

    struct slo_result slo[REPORT_MAX_SLOS];
    int ns = report_slos(sc, m, slo);
    put_h2(out, "SLOs", under);
    if (ns == 0)
        fputs("<p class=\"muted\">The scenario sets no SLO.</p>\n", out);
    else {
        fputs("<table><tr><th>SLO</th><th>scenario key</th><th>target</th><th>measured</th>"
              "<th>unit</th><th>verdict</th></tr>\n",
              out);
        for (int i = 0; i < ns; i++) {
            fputs("<tr><td>", out);
            html_put_str(out, slo[i].name);
            fputs("</td><td>", out);
            html_put_str(out, slo[i].key);
            fprintf(out, "</td><td>%.6g</td><td>%.6g</td><td>%s</td><td class=\"%s\">%s</td></tr>\n",
                    slo[i].target, slo[i].actual, slo[i].unit, slo[i].ok ? "ok" : "fail",
                    slo[i].ok ? "met" : "FAILED");
        }
        fputs("</table>\n", out);
    }

    put_h2(out, "Totals", under);
    fputs("<table><tr><th>scope</th><th>arrived</th><th>succeeded</th>"
          "<th>failed</th><th>rejected</th><th>timed out</th><th>cancelled</th>"
          "<th>throttled</th><th>got 429</th><th>p50 ms</th><th>p95 ms</th><th>p99 ms</th>"
          "<th>requests/s</th><th>tokens/s</th></tr>\n",
          out);
    struct metrics_row t;
    for (int k = -1; k < sc->n_classes; k++) {
        metrics_total(m, k, &t);
        put_totals_row(out, k < 0 ? "all" : sc->classes[k].name, &t);
    }
    fprintf(out, "</table>\n<script type=\"application/json\" id=\"totals%s\">{\"all\":",
            id_suffix);
    metrics_total(m, -1, &t);
    put_totals_json(out, &t);
    fputs(",\"classes\":{", out);
    for (int k = 0; k < sc->n_classes; k++) {
        fputs(k ? "," : "", out);
        html_put_json_str(out, sc->classes[k].name);
        fputc(':', out);
        metrics_total(m, k, &t);
        put_totals_json(out, &t);
    }
    fputs("}}</script>\n", out);

    if (x && x->n_instances > 1) {
        char id[32];
        snprintf(id, sizeof id, "instances%s", id_suffix);
        put_h2(out, "Client instances", under);
        html_put_instances(out, x, id);
    }
    return 0;
}

/* When the run ended, µs: the engine's end, else the last window's. */
static int64_t page_end_us(const metrics *m, const struct report_extra *x)
{
    struct metrics_row t;
    metrics_total(m, -1, &t);
    return x && x->end_us > 0 ? x->end_us : t.end_us;
}

/* The plots of n runs (1 or 2, overlaid) per scope of the first. Returns 0 or -ENOMEM. */
static int put_plots(FILE *out, const html_report *const *hs, const char *const *names, int n,
                     int64_t end_us)
{
    const html_report *h = hs[0];
    const struct scenario *sc = h->sc;
    if (h->s[0].n && h->s[0].p[0].end_us - h->s[0].p[0].start_us > sc->window_us)
        fprintf(out, "<p class=\"muted\">A long run: each plotted point spans %g s (several "
                     "windows merged; latency and levels show the highest of them).</p>\n",
                (double)(h->s[0].p[0].end_us - h->s[0].p[0].start_us) / US_PER_S);
    int rc = 0, id = 0;
    for (int k = -1; k < sc->n_classes && rc == 0; k++)
        rc = put_scope(out, hs, names, n, k, end_us, &id);
    return rc;
}

/* The end of the page, after rc (the writing so far). Returns rc, or -EIO when out failed. */
static int put_end(FILE *out, int rc)
{
    fputs("</body>\n</html>\n", out);
    /* No cairo object lives between reports: drop cairo's font caches, which keep
     * fontconfig patterns a leak checker would otherwise report at exit. */
    cairo_debug_reset_static_data();
    FcFini();
    if (rc == 0 && ferror(out))
        rc = -EIO;
    return rc;
}

int html_write(html_report *h, FILE *out, const struct scenario *sc, const metrics *m,
               const struct report_extra *x)
{
    assert(h && out && sc && m && h->sc == sc);
    put_head(out, sc, NULL);
    put_about(out, sc);
    int rc = put_run(out, sc, m, x, NULL, "");
    if (rc < 0)
        return rc;
    const html_report *hs[1] = {h};
    return put_end(out, put_plots(out, hs, NULL, 1, page_end_us(m, x)));
}

int html_write_pair(const struct html_run *a, const struct html_run *b, FILE *out,
                    const char *title, const char *comparison)
{
    assert(a && b && out && a->h && b->h && a->h->sc == a->sc && b->h->sc == b->sc);
    put_head(out, a->sc, title);
    put_about(out, a->sc);
    fputs("<p class=\"muted\">Against:</p>\n", out);
    put_about(out, b->sc);
    if (comparison) {
        fputs("<h2>Comparison</h2>\n", out);
        put_pre(out, comparison, strlen(comparison));
    }
    fputs("<h2>Over time</h2>\n<p class=\"muted\">Both runs from time 0: ", out);
    html_put_str(out, a->sc->name);
    fputs(" solid, ", out);
    html_put_str(out, b->sc->name);
    fputs(" dotted.</p>\n", out);
    int64_t ea = page_end_us(a->m, a->x), eb = page_end_us(b->m, b->x);
    const html_report *hs[2] = {a->h, b->h};
    const char *names[2] = {a->sc->name, b->sc->name};
    int rc = put_plots(out, hs, names, 2, ea > eb ? ea : eb);
    if (rc == 0)
        rc = put_run(out, a->sc, a->m, a->x, a->sc->name, "");
    if (rc == 0)
        rc = put_run(out, b->sc, b->m, b->x, b->sc->name, "-against");
    return put_end(out, rc);
}

/* ---- a plan's sweeps ------------------------------------------------------- */

static const double *const SWEEP_RGB[] = {HTML_BLUE, HTML_ORANGE, HTML_GREEN, HTML_PURPLE};

static bool on_plot(double v)
{
    return !isnan(v) && !isinf(v);
}

static void draw_sweep(cairo_t *cr, const void *ctx)
{
    const struct html_sweep *sw = ctx;
    double xlo = INFINITY, xhi = -INFINITY, ymax = on_plot(sw->target) ? sw->target * 1.1 : 0;
    for (int k = 0; k < sw->n_lines; k++)
        for (int i = 0; i < sw->lines[k].n; i++) {
            const struct html_sweep_line *l = &sw->lines[k];
            xlo = fmin(xlo, l->x[i]);
            xhi = fmax(xhi, l->x[i]);
            if (on_plot(l->hi[i]))
                ymax = fmax(ymax, l->hi[i]);
            if (on_plot(l->worst[i]))
                ymax = fmax(ymax, l->worst[i]);
        }
    /* Far-off values (a queue that grows without bound) would flatten the rest:
     * the axis stops at 4x the target, and they leave the top of the plot. */
    if (on_plot(sw->target) && sw->target > 0 && ymax > 4 * sw->target)
        ymax = 4 * sw->target;
    if (!(xlo < xhi)) { /* one value tried, or none: a unit-wide axis around it */
        xlo = isinf(xlo) ? 0 : xlo - 0.5;
        xhi = xlo + 1;
    }
    struct html_frame fr = {.title = sw->title, .unit = sw->y_unit, .x_unit = sw->x_unit,
                            .xlo = xlo, .xhi = xhi};
    html_frame_init(&fr, sw->n_lines > 1 ? 14 : 0);
    html_axis(ymax, &fr.ltop, &fr.lstep);
    fr.xstep = html_nice_step(xhi - xlo, 8);
    double lx = html_frame_draw(cr, &fr);
    html_legend(cr, &lx, 18, HTML_FG, NULL, 0, "worst seed");
    if (on_plot(sw->target))
        html_legend(cr, &lx, 18, HTML_RED, (double[]){5, 3}, 2, "target");
    if (on_plot(sw->mark_x))
        html_legend(cr, &lx, 18, HTML_GREEN, (double[]){2, 2}, 2, "recommended");
    lx = fr.x0;
    for (int k = 0; k < sw->n_lines && sw->n_lines > 1; k++) {
        if (lx > PLOT_W - 60) { /* no room: the page's JSON block has every line */
            html_text_at(cr, lx, 34, 0, "...");
            break;
        }
        html_legend(cr, &lx, 34, SWEEP_RGB[k % 4], NULL, 0, sw->lines[k].label);
    }

    cairo_save(cr);
    cairo_rectangle(cr, fr.x0 - 4, fr.y1 - 2, fr.x1 - fr.x0 + 8, fr.y0 - fr.y1 + 2);
    cairo_clip(cr);
    cairo_set_line_width(cr, 1.5);
    if (on_plot(sw->target)) {
        double y = html_frame_y(&fr, sw->target, fr.ltop);
        html_set_rgb(cr, HTML_RED);
        cairo_set_dash(cr, (double[]){5, 3}, 2, 0);
        cairo_move_to(cr, fr.x0, y);
        cairo_line_to(cr, fr.x1, y);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
    }
    if (on_plot(sw->mark_x)) {
        double x = html_frame_x(&fr, sw->mark_x);
        html_set_rgb(cr, HTML_GREEN);
        cairo_set_dash(cr, (double[]){2, 2}, 2, 0);
        cairo_move_to(cr, x, fr.y0);
        cairo_line_to(cr, x, fr.y1);
        cairo_stroke(cr);
        cairo_set_dash(cr, NULL, 0, 0);
    }
    for (int k = 0; k < sw->n_lines; k++) {
        const struct html_sweep_line *l = &sw->lines[k];
        html_set_rgb(cr, SWEEP_RGB[k % 4]);
        bool pen = false;
        for (int i = 0; i < l->n; i++) { /* the worst seed, a line through dots */
            if (!on_plot(l->worst[i])) {
                pen = false;
                continue;
            }
            double x = html_frame_x(&fr, l->x[i]), y = html_frame_y(&fr, l->worst[i], fr.ltop);
            if (pen)
                cairo_line_to(cr, x, y);
            else
                cairo_move_to(cr, x, y);
            pen = true;
        }
        cairo_stroke(cr);
        for (int i = 0; i < l->n; i++) {
            double x = html_frame_x(&fr, l->x[i]);
            if (on_plot(l->worst[i])) {
                cairo_arc(cr, x, html_frame_y(&fr, l->worst[i], fr.ltop), 2.5, 0, 2 * M_PI);
                cairo_fill(cr);
            }
            if (on_plot(l->lo[i]) && on_plot(l->hi[i]) && l->lo[i] != l->hi[i]) {
                cairo_set_line_width(cr, 1);
                cairo_move_to(cr, x, html_frame_y(&fr, l->lo[i], fr.ltop));
                cairo_line_to(cr, x, html_frame_y(&fr, l->hi[i], fr.ltop));
                cairo_stroke(cr);
                cairo_set_line_width(cr, 1.5);
            }
        }
        /* The recommended point: ringed. */
        for (int i = 0; i < l->n && k == sw->mark_line; i++)
            if (l->x[i] == sw->mark_x && on_plot(l->worst[i])) {
                html_set_rgb(cr, HTML_GREEN);
                cairo_set_line_width(cr, 2);
                cairo_arc(cr, html_frame_x(&fr, l->x[i]), html_frame_y(&fr, l->worst[i], fr.ltop),
                          6, 0, 2 * M_PI);
                cairo_stroke(cr);
                cairo_set_line_width(cr, 1.5);
            }
    }
    cairo_restore(cr);
}

static void put_json_array(FILE *f, const char *key, const double *v, int n)
{
    fprintf(f, ",\"%s\":[", key);
    for (int i = 0; i < n; i++) {
        fputs(i ? "," : "", f);
        html_put_json_num(f, v[i]);
    }
    fputc(']', f);
}

static void put_sweep_json(FILE *f, const struct html_sweep *sw)
{
    fputs("<script type=\"application/json\" class=\"sweep\">{\"slo\":", f);
    html_put_json_str(f, sw->title);
    fputs(",\"key\":", f);
    html_put_json_str(f, sw->x_unit);
    fputs(",\"unit\":", f);
    html_put_json_str(f, sw->y_unit);
    fputs(",\"target\":", f);
    html_put_json_num(f, sw->target);
    fputs(",\"recommended\":", f);
    html_put_json_num(f, sw->mark_x);
    fputs(",\"recommendation\":", f);
    if (sw->mark_text)
        html_put_json_str(f, sw->mark_text);
    else
        fputs("null", f);
    fputs(",\"lines\":[", f);
    for (int k = 0; k < sw->n_lines; k++) {
        const struct html_sweep_line *l = &sw->lines[k];
        fputs(k ? ",{\"label\":" : "{\"label\":", f);
        html_put_json_str(f, l->label);
        put_json_array(f, "x", l->x, l->n);
        put_json_array(f, "worst", l->worst, l->n);
        put_json_array(f, "min", l->lo, l->n);
        put_json_array(f, "max", l->hi, l->n);
        fputc('}', f);
    }
    fputs("]}</script>\n", f);
}

int html_write_sweeps(FILE *out, const char *title, const char *text,
                      const struct html_sweep *sweeps, int n)
{
    assert(out && title && (sweeps || n == 0));
    put_head(out, NULL, title);
    if (text) {
        fputs("<h2>The plan</h2>\n", out);
        put_pre(out, text, strlen(text));
    }
    fputs("<h2>Each SLO against the varied key</h2>\n<p class=\"muted\">The worst seed's "
          "value at each value tried (bars: the spread over seeds; a value above 4 times the "
          "target leaves the top), the SLO's target as a dashed line, the recommendation as a "
          "dotted vertical line and a ring.</p>\n"
          "<div class=\"plots\">\n",
          out);
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        char label[512];
        snprintf(label, sizeof label, "%s against %s%s%s", sweeps[i].title, sweeps[i].x_unit,
                 sweeps[i].mark_text ? "; recommended: " : "",
                 sweeps[i].mark_text ? sweeps[i].mark_text : "");
        put_sweep_json(out, &sweeps[i]);
        rc = html_svg(out, draw_sweep, &sweeps[i], label, i);
    }
    fputs("</div>\n", out);
    return put_end(out, rc);
}
