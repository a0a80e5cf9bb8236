/*
 * html: a run's self-contained HTML report (--html FILE): the scenario and its
 * settings, the summary, the SLO verdicts, totals, each client instance's counts
 * (with [client] instances > 1), and per scope (overall, then each class) plots
 * over time of hit rate, queue depth, latency and throughput.
 * doc/report.md describes the page.
 *
 * The collector is a metrics window sink: it keeps each scope's series in
 * memory, built from the same rows the CSV gets, and html_write reads the rest
 * (totals, summary, SLOs) from the same functions the JSON uses, so the page
 * and the other reports agree. Plots are SVG drawn with cairo, inlined; next to
 * each plot its numbers sit in a <script type="application/json"> block. The
 * page loads nothing: no network, no script, no font files.
 *
 * Memory is bounded: a scope holds at most max_points points. One more point
 * halves the series by merging neighbours (html_point says how), so a long run
 * costs O(max_points) per scope and each point then spans 2^k windows.
 */
#ifndef RATELAB_HTML_H
#define RATELAB_HTML_H

#include <stdint.h>
#include <stdio.h>

#include "metrics.h"
#include "report.h"
#include "run.h"
#include "scenario.h"

/* Default points kept per scope before neighbours are merged. */
#define HTML_MAX_POINTS 4000

/*
 * One plotted point: one window, or 2^k neighbouring windows once merged.
 * Counts add up when merged; levels and latency quantiles take the max of the
 * merged windows (an upper bound: the plot never hides a peak); rates are
 * re-derived from counts and span.
 */
struct html_point {
    int64_t start_us, end_us;  /* the span: (start, end], µs */
    uint64_t throttled;        /* requests our limiter delayed (client_throttled) */
    uint64_t saw_429;          /* requests that got at least one 429 */
    uint64_t base;             /* max(arrivals, sends - retries): the shares' denominator */
    uint64_t succeeded;        /* requests ended 2xx */
    uint64_t output_tokens;    /* output tokens of succeeded requests */
    int64_t queue_max;         /* client queue depth, max, requests */
    int64_t inflight_max;      /* attempts at the server, max */
    int64_t server_waiting;    /* the provider's waiting queue at the span's end; -1 unknown */
    double latency_p50_ms;     /* NaN when no answered request ended in the span */
    double latency_p95_ms;     /* likewise */
};

/* The shares and rates of a point: throttled and 429 shares (0..1), requests/s, tokens/s. */
double html_point_throttled_share(const struct html_point *p);
double html_point_429_share(const struct html_point *p);
double html_point_requests_per_s(const struct html_point *p);
double html_point_tokens_per_s(const struct html_point *p);

typedef struct html_report html_report;

/*
 * A collector for sc's classes (sc must outlive it) keeping at most max_points
 * (>= 2) points per scope. Aborts on out of memory.
 */
html_report *html_new(const struct scenario *sc, int max_points);
void html_free(html_report *h);

/*
 * When set, the server gauges read at each window's close (the overall scope's
 * provider waiting); NULL (the default) = unknown. The pointer must stay valid
 * while windows close.
 */
void html_set_server(html_report *h, const struct run_server_gauges *server);

/* The window sink: register with metrics_add_sink(m, html_sink, h). */
void html_sink(void *ctx, int cls, const struct metrics_row *row);

/* Points kept for a scope (cls = -1: overall), and the i-th of them (0 = oldest). */
int html_points(const html_report *h, int cls);
const struct html_point *html_point_at(const html_report *h, int cls, int i);

/*
 * Write the page for a finished run (metrics_finish done; x may be NULL) to out.
 * Returns 0, or -EIO when out failed, or -ENOMEM when cairo could not draw.
 */
int html_write(html_report *h, FILE *out, const struct scenario *sc, const metrics *m,
               const struct report_extra *x);

/* One finished run for a page of two: its collector, scenario, metrics, engine figures. */
struct html_run {
    html_report *h;                /* its collector (h's scenario is sc) */
    const struct scenario *sc;
    const metrics *m;              /* metrics_finish done */
    const struct report_extra *x;  /* may be NULL */
};

/*
 * Write one page for two runs of the same arrivals (replay --against): title as
 * its heading, comparison (NULL: none) as preformatted text, each run's settings,
 * summary, SLOs and totals, and per scope of a's (and b's class of the same name)
 * the plots with both runs overlaid on the same axes from time 0: a's lines
 * solid, b's dotted, a legend row naming both. Returns as html_write.
 */
int html_write_pair(const struct html_run *a, const struct html_run *b, FILE *out,
                    const char *title, const char *comparison);

/*
 * A sweep (ratelab plan --html): per SLO, the measured value against the values
 * tried of a varied key, one line per grid point of the other keys.
 */
struct html_sweep_line {
    const char *label;     /* the other keys' values ("server.max_running=8"); "" with one key */
    int n;                 /* points, x rising */
    const double *x;       /* the varied key's values tried, in the plot's x unit */
    const double *worst;   /* the deciding (worst) seed's value; NaN or inf: off the plot */
    const double *lo, *hi; /* the spread over seeds (equal to worst with one seed) */
};

struct html_sweep {
    const char *title;     /* the SLO as written: "latency_ms.p95<=2s" */
    const char *x_unit;    /* the varied key, with its unit: "client.max_concurrent" */
    const char *y_unit;    /* the measured value's: "ms", "%", "" */
    double target;         /* the SLO's target in y_unit, a horizontal line; NaN none */
    double mark_x;         /* the recommended value of the varied key; NaN none */
    int mark_line;         /* the line the recommendation is on (its point ringed); -1 none */
    const char *mark_text; /* the recommendation as text: "client.max_concurrent=20" */
    const struct html_sweep_line *lines;
    int n_lines;
};

/*
 * Write a plan's page: title as its heading, text (the plan as printed) as
 * preformatted text, then a plot per sweep with its numbers in a JSON block
 * (class "sweep"). Returns 0, -EIO when out failed, -ENOMEM when cairo could not draw.
 */
int html_write_sweeps(FILE *out, const char *title, const char *text,
                      const struct html_sweep *sweeps, int n);

#endif
