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
 * Closing a window costs its classes' counters and the histogram buckets its values
 * touched, not the width of the histograms. With nobody reading windows (no sink and
 * no kept windows) a run of empty windows closes in one step: a sparse run with
 * 1 s windows costs about what it costs with 1 h windows.
 *
 * Memory is fixed at metrics_new(): four histograms per class plus counters;
 * recording never allocates. Keeping the last windows' rows for readers
 * (metrics_keep_windows) allocates once, when turned on.
 *
 * Readers need not wait for the end: metrics_snapshot gives the open window and
 * the run so far at any time, without changing anything.
 *
 * Threads: none, by design. One engine loop records, and every reader (window
 * sinks, the dashboard, a live engine's status line) reads on that same thread,
 * between events; nothing is locked. Recording is a few counter updates per
 * event, millions per second in sim: a lock or atomics there would tax every
 * event to serve a reader that looks ten times a second. Read between events, a
 * snapshot is consistent across classes and windows by construction, which a
 * reader on another thread could not get without the loop's help anyway. A
 * reader on another thread takes the plain snapshot struct the loop fills.
 */
#ifndef RATELAB_METRICS_H
#define RATELAB_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "histogram.h"

/*
 * The most classes metrics handles. Equal to SCENARIO_MAX_CLASSES (metrics.c
 * checks it), so a snapshot has room for every class a scenario can have.
 */
#define METRICS_MAX_CLASSES 32

/* The most window sinks at once. */
#define METRICS_MAX_SINKS 4

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
    /* Overall rows of a window, when the engine models the provider (metrics_server_queue):
     * its waiting queue, max level held > 0 µs and time-weighted mean over the span;
     * -1 otherwise (class rows, run totals, engines that do not report it). */
    int64_t provider_waiting_max;
    double provider_waiting_mean;
};

typedef struct metrics metrics;

/*
 * Called when a window closes, once for the overall row (cls = -1) and then once
 * per class, in class order; each sink gets the whole window before the next sink.
 * ctx is the pointer given with the sink. Sinks run once the window has closed:
 * from a sink, metrics_window_row(m, 0, ...) is that window and a snapshot shows
 * the next one open. A sink may read metrics but must not record into it nor
 * change its sinks or kept windows.
 */
typedef void (*metrics_sink)(void *ctx, int cls, const struct metrics_row *row);

/*
 * Metrics for n_classes classes (1..METRICS_MAX_CLASSES) with windows of window_us
 * (> 0) from time 0. No sink and no kept windows at first.
 */
metrics *metrics_new(int n_classes, int64_t window_us);
void metrics_free(metrics *m);

/*
 * Add a window sink, called after those added before it. 0, or -ENOSPC when
 * METRICS_MAX_SINKS are already there (nothing changes).
 */
int metrics_add_sink(metrics *m, metrics_sink sink, void *ctx);

/*
 * For callers written for one sink: set the first sink (add it when there is
 * none), or with sink = NULL remove the first sink. Other sinks stay.
 */
void metrics_set_sink(metrics *m, metrics_sink sink, void *ctx);

/*
 * Keep the rows (overall and per class) of the last n closed windows, for
 * metrics_window_row. n = 0 (the default) keeps none and frees the ring: an engine
 * with no reader pays nothing. Allocates n x (classes + 1) rows (about 240 bytes
 * each) once, here; recording stays allocation-free. Windows closed before the
 * call are not kept; a second call starts over. 0, or -ENOMEM (the setting
 * before the call stays).
 */
int metrics_keep_windows(metrics *m, int n);

int metrics_classes(const metrics *m);

/* ---- lifecycle events; cls is the class index ----------------------------- */

void metrics_arrival(metrics *m, int64_t now, int cls);
/* The client queue of cls grew (+1) or shrank (-1). */
void metrics_queue(metrics *m, int64_t now, int cls, int delta);
/*
 * The provider's waiting queue (the simulator's model) grew or shrank by delta at now.
 * The first call (delta may be 0) turns the provider_waiting_* fields of the overall
 * window rows on; the level before it counts as 0.
 */
void metrics_server_queue(metrics *m, int64_t now, int delta);
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

/* ---- reading while the run goes on ----------------------------------------- */

/* One scope (overall or a class) as of a snapshot's time. */
struct metrics_view {
    struct metrics_row window; /* the open window so far: (window start, now] */
    struct metrics_row run;    /* the run so far: (0, now], closed windows and the open one */
    int64_t queue_depth;       /* client queue depth now, requests */
    int64_t inflight;          /* attempts at the server now */
};

/*
 * Everything a live reader draws, as plain data: copy it, keep it, hand it to
 * another thread. Sized for METRICS_MAX_CLASSES rather than given caller arrays,
 * so a dashboard can double-buffer it by assignment with no size to agree on; it
 * is about 16 KB, and filling cls[] beyond n_classes costs nothing (zeroed).
 */
struct metrics_snapshot {
    int64_t now_us;          /* when it was taken (the run's end once finished), µs */
    uint64_t open_requests;  /* requests arrived and not yet ended, overall */
    int n_classes;           /* classes in cls[]; the rest of cls[] is zero */
    bool finished;           /* metrics_finish was called: run is the whole run */
    struct metrics_view all; /* overall (cls = -1 elsewhere) */
    struct metrics_view cls[METRICS_MAX_CLASSES]; /* per class, in class order */
};

/*
 * Fill *out as of now_us (>= the time of the last event recorded), changing
 * nothing in m: taking it twice gives the same bytes, and later windows and totals
 * are as if it had not been taken. Whole struct written, padding zeroed.
 *
 * Per scope, `window` is the open window from its start to now, as the sink
 * will report it if nothing else happens before its end: read at the window's end,
 * it equals the sink's row. The overall row sums the classes; its queue and in-
 * flight levels are the overall scope's own. If now has passed the open window's
 * end without metrics_advance, `window` is the window holding now (empty but for
 * the levels), as metrics_advance would leave it. `run` is from 0 to now, its
 * quantiles over the closed windows and the open one; after metrics_finish, now_us
 * is ignored and `run` equals metrics_total while `window` is the empty span at
 * the end.
 *
 * Cost: no allocation; quantiles are read from the histograms in place, about
 * 10 passes per class over the touched buckets (each at most HISTOGRAM_BUCKETS =
 * 4736). Measured at -O2: 6-15 µs for 1-3 classes, 0.25-0.5 ms at 32 classes
 * (latencies spread over the whole range): fine at 10 Hz, not per event.
 */
void metrics_snapshot(const metrics *m, int64_t now_us, struct metrics_snapshot *out);

/* Closed windows kept now: min(n, windows closed since metrics_keep_windows(m, n)). */
int metrics_windows_kept(const metrics *m);

/*
 * The row of the k-th most recent closed window (k = 0: the last one closed) for
 * a class (cls >= 0) or overall (cls = -1), exactly as the sinks got it. 0 and
 * *out written, or -ERANGE when k >= metrics_windows_kept(m) (*out untouched).
 */
int metrics_window_row(const metrics *m, int k, int cls, struct metrics_row *out);

/* ---- reading, after metrics_finish ---------------------------------------- */

/* The whole run's row for a class (cls >= 0) or overall (cls = -1). */
void metrics_total(const metrics *m, int cls, struct metrics_row *out);

/*
 * A row's latency and TTFT figures (quantiles, max, mean) from the union of the
 * histograms lat[0..nl) and ttft[0..nt), and its rates (r->c's succeeded and output
 * tokens per second of span_us): how every row here is computed, and what
 * report_merge computes a merged report's scopes with, so they agree exactly.
 */
void metrics_row_stats(struct metrics_row *r, const struct histogram *const *lat, int nl,
                       const struct histogram *const *ttft, int nt, int64_t span_us);

/* The cumulative histograms (cls = -1: overall), for custom quantiles. */
const struct histogram *metrics_latency_hist(const metrics *m, int cls);
const struct histogram *metrics_ttft_hist(const metrics *m, int cls);

/* Live view: current queue depth and attempts in flight (cls = -1: overall). */
int64_t metrics_queue_depth(const metrics *m, int cls);
int64_t metrics_inflight(const metrics *m, int cls);

/* Requests arrived but not yet ended, overall. Zero after a run whose accounting closed. */
uint64_t metrics_open_requests(const metrics *m);

#endif
