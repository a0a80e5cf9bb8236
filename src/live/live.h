/*
 * live: the run lifecycle (run.h) against a real OpenAI-compatible endpoint.
 * The transport is libcurl's multi interface in socket-action mode on one
 * libevent loop, which also carries the lifecycle's one timer (arrivals, the
 * client core's next wake-up, deadlines), the metrics window tick (and the
 * server metrics scrape), the progress line and SIGINT/SIGTERM. No thread, no
 * polling, no sleep: every wake-up is a socket becoming ready or a timer the
 * lifecycle or curl asked for.
 *
 * Time is CLOCK_MONOTONIC µs from the start of the run. The workload is open
 * loop: requests arrive at their intended times whatever the server does, and
 * latency counts from the intended time, so a slow server shows as latency,
 * never as fewer requests (no coordinated omission). When the loop itself
 * falls behind its arrivals, the lag is measured (send_lag) and said on stderr.
 *
 * Connections are kept alive and reused (libcurl's connection cache in the
 * multi handle); transfers and their easy handles come from a pool that grows
 * to the peak in flight and is reused.
 */
#ifndef RATELAB_LIVE_H
#define RATELAB_LIVE_H

#include <stdbool.h>
#include <stdio.h>

#include "report.h"
#include "run.h"
#include "scenario.h"

typedef struct live live;

struct live_options {
    FILE *record;          /* --record: one JSONL line per request at its end (doc/trace.md), or NULL */
    bool progress;         /* a progress line on stderr */
    bool quiet;            /* no notices on stderr (warnings still) */
    /*
     * Optional, the dashboard: frame is called every 100 ms on the loop with the
     * run's time, input when stdin has a key to read. Both may call live_stop.
     */
    void (*frame)(void *ctx, live *l, int64_t now_us);
    void (*input)(void *ctx, live *l);
    void *ui_ctx;
    /* --redis-run NAME (backend = redis): start with redis_procs processes (start barrier) */
    const char *redis_run;
    int64_t redis_procs;
};

/*
 * A live run of sc (borrowed; it must outlive the live run). Loads [class]
 * prompts files. Returns NULL with err filled ("what is wrong (what to do)")
 * on a bad configuration: unknown api_path, a prompts file that does not
 * load, no libcurl or libevent.
 */
live *live_new(const struct scenario *sc, const struct live_options *o, char *err, size_t errn);
void live_free(live *l);

/*
 * Run until the lifecycle ends (the duration and the drain, or SIGINT twice). With
 * backend = redis the run's clock starts once Redis answered (or was found unreachable),
 * and with --redis-run at the start barrier's instant. Returns 0, or a negative errno:
 * the event loop itself failed (-EIO), or --redis-run could not start (-EEXIST: the run
 * name was used before; another errno: Redis unreachable).
 */
int live_run(live *l);

/* Stop now (a 'q' on the dashboard, like a second SIGINT): cancel what is open, end the loop. */
void live_stop(live *l);

/* The lifecycle inside, for metrics and reports. */
run *live_lifecycle(live *l);

/* The figures only a live run has (valid until live_free). */
void live_extra(live *l, struct report_extra *x);

/*
 * The client's daily budget over the run: the in-process limiter's (run_budget_client), or
 * with backend = redis this process's side of the shared one (redis_be_budget).
 */
void live_budget_client(live *l, struct report_budget *out);

/* The last scraped server gauges (for the CSV columns), or NULL without metrics_url. */
const struct run_server_gauges *live_server_gauges(const live *l);

#endif
