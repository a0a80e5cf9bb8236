/*
 * metrics: what happened to requests, counted per time window and cumulatively,
 * overall and per class. Engines report lifecycle events (arrived, queued,
 * throttled, sent, answered, 429, retried, finished); reports and the dashboard
 * read only this module.
 *
 * Every call takes `now` (µs on the engine's timeline, never decreasing).
 * Windows are (start, end] — the first one [0, window] — so an event exactly
 * at the end of the run still lands in the last row. When now passes the end
 * of the current window, the window is closed first: its
 * rows (one overall, one per class) go to the window sink, if any, and the
 * window's counters and histograms restart. Empty windows are emitted too, so
 * a time series has no gaps.
 *
 * Memory is fixed at metrics_new(): four histograms per class plus counters;
 * recording never allocates.
 */
#ifndef RATELAB_METRICS_H
#define RATELAB_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "histogram.h"

/* The terminal state every request ends in, exactly once. */
enum outcome {
    OUTCOME_SUCCEEDED, /* answered 2xx */
    OUTCOME_FAILED,    /* gave up after retries, or a non-retryable error */
    OUTCOME_REJECTED,  /* refused at arrival: the client queue was full */
    OUTCOME_TIMED_OUT, /* its deadline (request timeout) passed before an answer */
    OUTCOME_CANCELLED, /* still pending when the run stopped */
    OUTCOME__COUNT
};

/* Counters of one scope (overall or a class) over one span (a window or the run). */
struct metrics_counts {
    uint64_t arrivals;         /* requests that arrived (intended sends) */
    uint64_t sends;            /* attempts sent to the server, retries included */
    uint64_t ended[OUTCOME__COUNT]; /* requests that reached each terminal state */
    uint64_t client_throttled; /* requests delayed by the client limiter (counted once each) */
    uint64_t http_429;         /* 429 answers received */
    uint64_t saw_429;          /* requests that got at least one 429 (counted once each) */
    uint64_t retries;          /* attempts after the first */
    uint64_t errors;           /* non-429 failed attempts: 5xx, resets, malformed, stalls */
    uint64_t prompt_tokens;    /* prompt tokens of succeeded requests */
    uint64_t output_tokens;    /* output tokens of succeeded requests */
};

/* One scope's figures over one span, computed from the counters and histograms. */
struct metrics_row {
    int64_t start_us, end_us;  /* the span: (start, end] */
    struct metrics_counts c;
    int64_t queue_max;         /* client queue depth, max over the span */
    double queue_mean;         /* client queue depth, time-weighted mean over the span */
    int64_t inflight_max;      /* attempts at the server, max over the span */
    int64_t inflight_end;      /* attempts at the server at the end of the span */
    int64_t latency_p50_us, latency_p95_us, latency_p99_us, latency_max_us;
    double latency_mean_us;    /* over answered requests (succeeded + failed) ending in the span */
    int64_t ttft_p50_us, ttft_p95_us, ttft_p99_us; /* over succeeded requests */
    double requests_per_s;     /* succeeded per second of span */
    double tokens_per_s;       /* output tokens of succeeded requests per second of span */
};

typedef struct metrics metrics;

/*
 * Called when a window closes, once for the overall row (cls = -1) and then once
 * per class, in class order. ctx is the pointer given to metrics_set_sink.
 */
typedef void (*metrics_sink)(void *ctx, int cls, const struct metrics_row *row);

/* Metrics for n_classes classes (1..64) with windows of window_us (> 0) from time 0. */
metrics *metrics_new(int n_classes, int64_t window_us);
void metrics_free(metrics *m);
void metrics_set_sink(metrics *m, metrics_sink sink, void *ctx);

int metrics_classes(const metrics *m);

/* ---- lifecycle events; cls is the class index ----------------------------- */

void metrics_arrival(metrics *m, int64_t now, int cls);
/* The client queue of cls grew (+1) or shrank (-1). */
void metrics_queue(metrics *m, int64_t now, int cls, int delta);
/* A request was delayed by the client limiter; call once per request. */
void metrics_throttled(metrics *m, int64_t now, int cls);
/* An attempt went to the server; retry = not the request's first attempt. */
void metrics_send(metrics *m, int64_t now, int cls, bool retry);
/*
 * An attempt came back: status is the HTTP status, 0 for no answer (reset,
 * dropped, malformed), -1 when we abandoned it (cancelled, timed out in
 * flight; not counted as an error). first_429 = the request's first 429.
 */
void metrics_answer(metrics *m, int64_t now, int cls, int status, bool first_429);
/*
 * The request reached its terminal state. latency_us from its arrival (recorded
 * for succeeded and failed), ttft_us from its arrival to the first token (-1 if
 * none; recorded for succeeded), tokens as generated (succeeded only).
 */
void metrics_end(metrics *m, int64_t now, int cls, enum outcome o, int64_t latency_us,
                 int64_t ttft_us, int64_t prompt_tokens, int64_t output_tokens);

/* Close every window up to now (the engine calls it as time moves; cheap when nothing closes). */
void metrics_advance(metrics *m, int64_t now);

/*
 * The run ended at end_us: close the last (possibly partial) window and freeze
 * the totals. Nothing may be recorded afterwards.
 */
void metrics_finish(metrics *m, int64_t end_us);

/* ---- reading, after metrics_finish ---------------------------------------- */

/* The whole run's row for a class (cls >= 0) or overall (cls = -1). */
void metrics_total(const metrics *m, int cls, struct metrics_row *out);

/* The cumulative histograms (cls = -1: overall), for custom quantiles. */
const struct histogram *metrics_latency_hist(const metrics *m, int cls);
const struct histogram *metrics_ttft_hist(const metrics *m, int cls);

/* Live view: current queue depth and attempts in flight (cls = -1: overall). */
int64_t metrics_queue_depth(const metrics *m, int cls);
int64_t metrics_inflight(const metrics *m, int cls);

/* Requests arrived but not yet ended, overall. Zero after a run whose accounting closed. */
uint64_t metrics_open_requests(const metrics *m);

#endif
