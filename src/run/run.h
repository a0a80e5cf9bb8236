/*
 * run: the request lifecycle every engine shares. One run = the workload
 * generators of every class (open-loop arrivals and closed-loop users), the
 * request pool, the client core (client.h), blocked producers, in-flight
 * deadlines, the one terminal path and the metrics events of it all.
 *
 * An engine brings two things:
 *   - a clock: every call takes `now` (int64_t µs on the engine's timeline,
 *     never decreasing); run_next_us() says when the run next needs
 *     run_advance(). The sim pops its event heap; live arms one timer.
 *   - a transport (struct run_transport): send an attempt, abort one. It
 *     feeds back first tokens (run_first_token) and answers (run_answer).
 * and gets back, from the run, nothing it has to keep in step: arrivals,
 * retries, deadlines and accounting are all here, written once.
 *
 * The engine loop (both engines):
 *   next = min(run_next_us(r), the engine's own next event)
 *   if (run_end_if_over(r, next)) done      (both at once: run_next)
 *   at time next: deliver the engine's answers (run_answer, at next), then
 *                 run_advance(r, next)
 *
 * A run: arrivals happen in [0, duration); then at_end = cancel ends every
 * open request at the duration, at_end = drain lets them finish, up to
 * drain_limit after the duration (0 = no limit), and cancels the rest. Either
 * way every request that arrived ends in exactly one terminal state.
 *
 * Random streams, split from one root seeded by the scenario's seed, in this
 * fixed order (the mock server splits in the same order, so a seed means the
 * same draws everywhere): the client core's jitter (run_new), then whatever the
 * engine splits from run_engine_rng() before run_start (the sim: the provider
 * model, one split), then one stream per class in scenario order (run_start).
 *
 * Memory is flat in the number of requests: requests come from a pool sized by
 * the peak in the system at once (chunks that never move, a free list), and
 * metrics are fixed-size. No allocation per request once the pool has grown.
 * Single-threaded, like metrics: engine callbacks and readers run on the
 * engine's thread.
 */
#ifndef RATELAB_RUN_H
#define RATELAB_RUN_H

#include <stdbool.h>
#include <stdint.h>

#include "client.h"
#include "histogram.h"
#include "metrics.h"
#include "scenario.h"

struct rng;
struct rlinfo;

/*
 * One request. The client's part comes first (it converts back); the engine
 * reads the rest and owns only tx_id.
 */
struct run_req {
    struct client_req cr;     /* the client core's view: class, arrival, state, attempts */
    uint32_t idx;             /* pool slot */
    uint32_t gen;             /* bumped on every reuse: stale references are recognised */
    int64_t prompt_tokens;    /* as drawn at arrival */
    int64_t output_tokens;    /* as drawn at arrival: what a simulated provider generates */
    int64_t user;             /* closed loop: the user; -1 open loop */
    int64_t first_token_us;   /* first token of the current attempt; -1 = none yet */
    uint64_t tx_id;           /* the engine's: its handle on the attempt in flight, 0 = none */
    uint32_t tx_tag;          /* the engine's: set by prepare (e.g. which prompt of a file) */
    int64_t used_prompt;      /* the server's usage of the last answered attempt; -1 = unknown */
    int64_t used_completion;  /* likewise, completion tokens */
    bool throttled;           /* already counted as client-throttled (once per request) */
    bool saw_429;             /* already counted as having seen a 429 (once per request) */
    int instance;             /* the client instance it was assigned at arrival ([client] instances) */
    struct run_req *dprev, *dnext; /* blocked-producer list, or free list (dnext) */
};

/* The server side as an engine knows it; -1 = unknown. */
struct run_server_gauges {
    int64_t running;         /* requests the server is working on (its batch), now */
    int64_t waiting;         /* requests in the server's own waiting queue, now */
    double kv_cache_usage;   /* share of the KV cache in use, 0..1 (vLLM's gauge; -1 unknown) */
};

/* What an engine provides. */
struct run_transport {
    /*
     * Send r's current attempt at now. An attempt that goes in flight gets a
     * non-zero r->tx_id; one the engine answers at once (a simulated 429, a
     * refused connection) is answered with run_answer from inside this call
     * and keeps tx_id 0.
     */
    void (*send)(void *ctx, struct run_req *r, int64_t now_us);
    /*
     * Abandon r's attempt in flight (r->tx_id != 0): cancelled, or past its
     * deadline. No answer may follow for it; the run clears tx_id.
     */
    void (*abort)(void *ctx, struct run_req *r, int64_t now_us);
    /*
     * Optional (NULL: unknown). The server's own gauges now, for readers: the
     * sim's provider model, or what live scraped from the server's metrics.
     */
    void (*server_gauges)(void *ctx, struct run_server_gauges *out);
    /*
     * Optional. A request was just created (its tokens drawn, nothing sent): the
     * engine may choose its prompt (tx_tag) and replace prompt_tokens with that
     * prompt's estimate, which the client then charges.
     */
    void (*prepare)(void *ctx, struct run_req *r);
    /* Optional. r reached its terminal state o at now (for traces); r is reused after. */
    void (*on_end)(void *ctx, const struct run_req *r, enum outcome o, int64_t now_us);
    /*
     * The engine runs on a real clock and may handle events late: the run then
     * keeps a histogram of how late each arrival was handed to the client (the
     * driver's send lag, run_send_lag). A simulation is never late.
     */
    bool realtime;
    void *ctx;
};

typedef struct run run;

/*
 * A run of sc (borrowed: it must outlive the run and not change), seeded from
 * sc->seed. tx is copied. Returns NULL with *err = -EBADMSG when a trace has a bad
 * line (reported on stderr as FILE:LINE: message), or -EINVAL when the scenario has
 * no class or the client core refuses its configuration, or when a class's trace
 * (arrival = trace FILE) has a bad line: each trace is checked here in one
 * streaming pass, and the first error is printed to stderr as "FILE:LINE: message".
 */
run *run_new(const struct scenario *sc, const struct run_transport *tx, int *err);
void run_free(run *r);

/*
 * The root stream, for the engine to split its own from (the provider model:
 * provider_new(cfg, run_engine_rng(r))) between run_new and run_start.
 */
struct rng *run_engine_rng(run *r);

/*
 * Split the classes' streams and schedule the first arrivals (open-loop
 * classes) and sends (closed-loop users). Once, before the first run_next_us.
 */
void run_start(run *r);

/* The metrics every event goes to; add sinks before the first run_advance. */
metrics *run_metrics(run *r);
const metrics *run_metrics_const(const run *r);

/* The client core, read-only (limiter levels, concurrency window, stats); instance 0's. */
const client *run_client(const run *r);

/*
 * Client instances ([client] instances = N, doc/scenario.md): N client cores in one run,
 * each with its own queue, retries, retry budget and jitter stream, like N pods running
 * one client config. Each new request (open-loop arrival or closed-loop send, any class)
 * goes to the next instance in turn, round-robin in arrival order (request k to instance
 * k mod N); its retries stay there. Their limits follow instance_limits: `full` each its
 * own limiter with the whole limits, `split` each its own with limit / N, `shared` one
 * limiter (the concurrency pool included) that every instance admits through
 * (client_share_limiter), as with a shared Redis quota. With N = 1 the run is exactly
 * the single-client run.
 */
struct run_instance_stats {
    int64_t arrived;              /* requests assigned to it */
    int64_t sent;                 /* attempts it sent, retries included */
    int64_t http_429;             /* 429 answers it got */
    int64_t throttled;            /* requests its limiter delayed (once each) */
    int64_t ended[OUTCOME__COUNT]; /* its requests by terminal state */
};

/*
 * The instances' counters, once the run has ended: *out = an array of run_instances(r)
 * entries, valid with r. With one instance the run does not count them twice: its
 * entry is the metrics' totals (the same events).
 */
int run_instances(const run *r, const struct run_instance_stats **out);

/*
 * The earliest time the run needs run_advance: an arrival, a closed-loop send,
 * a client wake-up (a bucket refills, a retry is due, a queued deadline), an
 * in-flight deadline. TIME_NEVER when only an answer can move it.
 */
int64_t run_next_us(run *r);

/* Everything due at now: in-flight deadlines, arrivals, then the client sends what it can. */
void run_advance(run *r, int64_t now_us);

/*
 * The first token of r's attempt in flight came at t_us (<= the now of the
 * next call). Time to first token is measured from r's arrival.
 */
void run_first_token(run *r, struct run_req *q, int64_t t_us);

/*
 * The answer to r's current attempt at now: status is the HTTP status, 0 for a
 * transport error (reset, dropped, unparseable body); info the parsed
 * rate-limit feedback or NULL; prompt_used / completion_used the real usage or
 * -1. The client then ends it or schedules a retry. Call run_advance at the
 * same now afterwards (the engine loop does).
 */
void run_answer(run *r, struct run_req *q, int64_t now_us, int status, const struct rlinfo *info,
                int64_t prompt_used, int64_t completion_used);

/*
 * Admit through `be` (client.h: struct client_backend, e.g. the Redis backend) instead of the
 * client's in-process limiter. After run_new, before run_start. Returns 0, or -EINVAL
 * (client_set_backend refuses it: adaptive mode; or the scenario has several instances).
 */
int run_set_backend(run *r, const struct client_backend *be);

/*
 * The backend's answer, at now, to the admission it left pending (CLIENT_PENDING):
 * client_admission_answer. Call run_advance at the same now afterwards. While an answer is
 * pending, run_end_if_over does not take the requests waiting for it as stuck.
 */
void run_admission_answer(run *r, int64_t now_us, int rc, int64_t wait_until_us, uint64_t ticket);

/*
 * The admission state changed elsewhere at now (a backend saw another process release a
 * slot): the client asks again at now instead of at the wait it was told (client_wake).
 * Call run_advance at the same now afterwards.
 */
void run_wake(run *r, int64_t now_us);

/*
 * Decide whether the run is over, given next_us = the earliest time anything
 * can happen (min of run_next_us and the engine's own next event; TIME_NEVER if
 * nothing ever will). Ends it when nothing is left and nothing will arrive;
 * when next_us passes the cancel time (at_end = cancel: the duration; drain: the
 * drain limit), cancels everything open at that time; when nothing can ever
 * move the requests left (a bug), cancels them and counts them as stuck.
 * Returns true when the run has ended (metrics finished); then run_end_us.
 */
bool run_end_if_over(run *r, int64_t next_us);

/*
 * Interrupted (a first SIGINT): no more arrivals; queued requests, retries in
 * backoff and blocked producers are cancelled now; attempts in flight may finish
 * up to the scenario's drain_limit from now (0: no limit), then are cancelled.
 * Call run_end_if_over as usual afterwards.
 */
void run_interrupt(run *r, int64_t now_us);

/*
 * One step of an engine's loop in one call: *t_us = the earliest of run_next_us
 * and engine_next_us (the engine's own next event, TIME_NEVER if none); then
 * run_end_if_over(r, *t_us). Returns false when the run has ended.
 */
bool run_next(run *r, int64_t engine_next_us, int64_t *t_us);

/* Stop now (a second SIGINT, a user quitting): cancel everything open and end. */
void run_stop(run *r, int64_t now_us);

/* Send lag (realtime engines): how late each arrival was handed to the client, µs. */
const struct histogram *run_send_lag(const run *r);

bool run_done(const run *r);
/* When everything still open is cancelled (at_end, drain_limit, run_interrupt); TIME_NEVER = never. */
int64_t run_cancel_at_us(const run *r);
int64_t run_now(const run *r);
/* When the run ended (valid once done: at least the duration), µs. */
int64_t run_end_us(const run *r);

/* One limiter dimension at an instant. */
struct run_bucket_gauge {
    int64_t level;    /* units available now (negative: debt); INT64_MAX when unlimited */
    int64_t capacity; /* most units it holds (the burst); 0 = unlimited */
};

/*
 * The client side at an instant, for live readers (the dashboard, progress
 * lines); together with metrics_snapshot it is everything a reader shows.
 */
struct run_gauges {
    int64_t now_us;
    int64_t queue_depth;       /* requests in the client queue (retries due included) */
    int64_t backoff;           /* requests waiting for a retry time */
    int64_t in_flight;         /* attempts at the server */
    int64_t blocked;           /* producers held back by a full queue (QUEUE_FULL_BLOCK) */
    int64_t concurrency;       /* effective concurrency limit (adaptive window); 0 = unlimited */
    int64_t max_concurrent;    /* configured concurrency limit; 0 = unlimited */
    struct run_bucket_gauge rpm, tpm, tpd; /* the limiter's buckets */
    bool limits_elsewhere;     /* a backend holds the limiter's state (Redis, shared with other
                                  processes): rpm, tpm, tpd and the pool are not known here */
    int64_t retry_budget_left; /* retries the budget allows now; -1 = no budget */
    struct run_server_gauges server;       /* from the engine; -1 = unknown */
};

/* The server's gauges from the engine now (run_transport.server_gauges); -1s when unknown. */
void run_server_now(const run *r, struct run_server_gauges *out);

/* Fill g for now_us (>= the run's last now). Changes nothing the run does next. */
void run_gauges(run *r, int64_t now_us, struct run_gauges *g);

struct report_budget;
/* The client's daily budget over the run, from its limiter (limit 0: no TPD set). */
void run_budget_client(const run *r, struct report_budget *out);

/* Lifecycle counters. */
struct run_stats {
    int64_t requests;    /* requests created (arrivals) */
    int64_t pool_peak;   /* most requests alive at once (pool size) */
    int64_t alive;       /* requests in the system now */
    int64_t blocked;     /* producers held back now (QUEUE_FULL_BLOCK) */
    int64_t heap_events; /* arrival and closed-loop events handled */
    int64_t heap_peak;   /* most arrival events pending at once */
    int64_t spin_guards; /* times the client asked to be polled again at once and did nothing */
    int64_t stuck;       /* requests cancelled because nothing could ever move them (a bug) */
    int64_t trace_skipped; /* bad trace lines skipped (--skip-bad), counted once per trace
                              file; plus lines a replay could not read (the file changed) */
};
void run_stats(const run *r, struct run_stats *out);

#endif
