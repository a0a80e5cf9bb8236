/*
 * provider: the simulated LLM server — its rate limits (RPM, TPM, TPD,
 * concurrency), its capacity (a continuous-batching server with a waiting
 * queue, or textbook M/M/c and M/D/c service) and its faults.
 *
 * Shared by the sim engine and the mock HTTP server, so it knows neither: no
 * engine types, no libevent, no clock reads. The caller passes `now` (int64_t
 * µs on its own timeline, never decreasing across calls) and asks for the next
 * event time; the provider answers each submit at once with a decision, and
 * delivers later happenings (first token, completion, dropped stall) through
 * provider_advance() in (time, scheduling order) order, so equal times are FIFO.
 *
 * Lifecycle of a submitted request:
 *   submit ─► 429 (rate limited)          immediate, nothing charged
 *          ─► ERROR 500/503 or RESET      immediate fault, limits charged
 *          ─► OVERLOADED 503              waiting queue full, nothing charged
 *          ─► ACCEPTED ─► [waiting] ─► running ─► FIRST_TOKEN ─► DONE | MALFORMED
 *                      └► (stall fault) ─────────────────────────► DROPPED at now+stall_us
 *   provider_cancel() ends an ACCEPTED request early and frees its capacity.
 *
 * Limits (server_config, 0 = unlimited):
 *   - requests cost 1 on RPM; tokens cost prompt_tokens + max_tokens on TPM and
 *     TPD (max_tokens 0: prompt + completion), charged in full at admission and
 *     never refunded, as OpenAI estimates. A request is checked against every
 *     limit before anything is charged.
 *   - ENFORCE_BUCKET: a bucket per limit, refilled continuously at limit per
 *     minute (per day for TPD), exact in integers; RPM and TPM hold burst_us'
 *     worth (a minute's by default), TPD a whole day (doc/limiter.md).
 *   - ENFORCE_WINDOW: fixed windows [k·60 s, (k+1)·60 s) (days for TPD) of the
 *     caller's timeline — pass Unix-epoch µs as `now` for wall-aligned windows.
 *   - concurrency: requests accepted and not yet finished (waiting, running or
 *     stalled) must stay below max_concurrent.
 *   - a request whose tokens exceed a token limit outright can never fit: 429
 *     with should_retry = 0 and no retry_after.
 *
 * Timing (fixed when a request starts running, so both its event times are
 * known at start; later arrivals in the batch do not slow it down):
 *   SERVICE_BATCHING   first token at start + ttft_base + prefill·prompt; each
 *                      further token takes decode·(1 + slope·(running − 1)), running
 *                      counted at its start, itself included; done at first token +
 *                      (completion − 1) · that per-token time.
 *   SERVICE_EXPONENTIAL service ~ exp(mean service_mean_us); first token = done
 *                      (FIRST_TOKEN is delivered just before DONE, same t_us).
 *   SERVICE_DETERMINISTIC service = service_mean_us; first token = done (likewise).
 * max_running (0 = unlimited) sequences run at once; the rest wait FIFO, at most
 * max_waiting of them (0 = unbounded); 503 OVERLOADED above that.
 *
 * Faults: one draw per request that passes the limits, at the configured shares:
 * error (500 or 503, even odds, immediate), reset (immediate), timeout (a stall
 * that holds a concurrency slot but no batch slot and drops after stall_us), and
 * malformed (served normally, its final event is MALFORMED instead of DONE).
 *
 * Memory grows with concurrent requests only: per-request slots live in a pool
 * grown geometrically and reused; nothing is allocated per request once the
 * pool has reached the peak concurrency.
 */
#ifndef RATELAB_PROVIDER_H
#define RATELAB_PROVIDER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rlinfo.h"
#include "rng.h"
#include "scenario.h"

typedef struct provider provider;

/* Which limit a 429 is for. */
enum provider_limit {
    PROVIDER_LIMIT_RPM,
    PROVIDER_LIMIT_TPM,
    PROVIDER_LIMIT_TPD,
    PROVIDER_LIMIT_CONCURRENCY,
    PROVIDER_LIMIT_N
};

/* What provider_submit() answers. */
enum provider_outcome {
    PROVIDER_ACCEPTED,     /* queued or running (or silently stalled); events follow */
    PROVIDER_RATE_LIMITED, /* 429; reason and rl.retry_after_us say why and how long */
    PROVIDER_OVERLOADED,   /* 503: the waiting queue is full */
    PROVIDER_ERROR,        /* injected fault: 500 or 503 at once (status says which) */
    PROVIDER_RESET,        /* injected fault: the connection is reset, no answer */
};

/* Which fault a request drew (informational for engines; the mock acts on it). */
enum provider_fault {
    PROVIDER_FAULT_NONE,
    PROVIDER_FAULT_ERROR,     /* outcome PROVIDER_ERROR */
    PROVIDER_FAULT_RESET,     /* outcome PROVIDER_RESET */
    PROVIDER_FAULT_STALL,     /* accepted; ends with PROVIDER_EV_DROPPED */
    PROVIDER_FAULT_MALFORMED, /* accepted; ends with PROVIDER_EV_MALFORMED */
    PROVIDER_FAULT_N
};

struct provider_decision {
    enum provider_outcome kind;
    int status;                 /* HTTP status: 200 accepted, 429, 503, 500; 0 for a reset */
    enum provider_limit reason; /* PROVIDER_RATE_LIMITED: the limit with the longest wait */
    enum provider_fault fault;  /* the fault drawn, PROVIDER_FAULT_NONE if none */
    uint64_t id;                /* PROVIDER_ACCEPTED: the key for provider_cancel, never 0 */
    bool running;               /* PROVIDER_ACCEPTED: started at once (false: waiting or stalled) */
    /*
     * Every outcome (PROVIDER_ACCEPTED: only with PROVIDER_WANT_RLINFO, else
     * indeterminate): the rate-limit state at `now` after this request's charge
     * (limit/remaining/reset of requests = RPM, of tokens = TPM, else TPD; -1 where
     * unlimited). PROVIDER_RATE_LIMITED: retry_after_us = the exact µs until every
     * limit that lacked room has room for this request (rounded up), -1 and
     * should_retry = 0 if it can never fit. PROVIDER_OVERLOADED: retry_after_us =
     * time until the next in-flight request ends (a hint, not a promise).
     * Otherwise retry_after_us = -1.
     */
    struct rlinfo rl;
};

enum provider_event_kind {
    PROVIDER_EV_FIRST_TOKEN, /* the first output token (stream starts) */
    PROVIDER_EV_DONE,        /* complete, 200 with usage; the request is finished */
    PROVIDER_EV_MALFORMED,   /* would have been DONE, but the 200 body is broken; finished */
    PROVIDER_EV_DROPPED,     /* a stall ended: connection dropped, no answer; finished */
};

/*
 * One happening, delivered by provider_advance(). All times are µs on the
 * caller's timeline. For FIRST_TOKEN, DONE and MALFORMED every timing field is
 * known (they are fixed at start); the mock paces stream chunks with them: token
 * k (0-based) at first_token_us + round(k · per_token_us), the last one at done_us.
 */
struct provider_event {
    enum provider_event_kind kind;
    int64_t t_us;              /* when it happens */
    uint64_t id;               /* as returned by provider_submit */
    void *handle;              /* as passed to provider_submit */
    int64_t prompt_tokens;
    int64_t completion_tokens; /* tokens generated (usage.completion_tokens) */
    int64_t submit_us;         /* when it was submitted */
    int64_t start_us;          /* when it started running (queue time = start − submit) */
    int64_t first_token_us;    /* TTFT = first_token − submit */
    int64_t done_us;           /* e2e = done − submit */
    double per_token_us;       /* decode time per token after the first */
    struct rlinfo rl;          /* DONE / MALFORMED: rate-limit state at t_us, as on any 200
                                  (only with PROVIDER_WANT_RLINFO, else indeterminate);
                                  other kinds: all "not given" */
};

/*
 * Called for each event, in order. Provider state is already consistent when it
 * runs (the finished request's capacity freed, its successor started), so the
 * callback may call provider_submit / provider_cancel with now = ev->t_us (not
 * later: events still to come in this advance may be due before that); it must
 * not call provider_advance or provider_free. ev is valid only during the call.
 */
typedef void (*provider_event_fn)(void *ctx, const struct provider_event *ev);

/*
 * A provider for cfg (copied; the caller may free it afterwards). Splits one
 * child stream from parent for service times and fault draws. Never returns
 * NULL (aborts on OOM). Invalid settings (negative limits or shares summing
 * above 1) assert: the loader validates them.
 */
provider *provider_new(const struct server_config *cfg, struct rng *parent);

/* What the caller reads, for provider_set_wants(). */
enum {
    PROVIDER_WANT_RLINFO = 1,      /* rl of ACCEPTED decisions and of DONE / MALFORMED events */
    PROVIDER_WANT_FIRST_TOKEN = 2, /* FIRST_TOKEN events */
    PROVIDER_WANT_ALL = 3,         /* the default: everything (the mock needs it all) */
};

/*
 * Declare what the caller reads (PROVIDER_WANT_* flags), before any request is
 * in flight. Skipping what nobody reads makes the simulator's hot path cheaper;
 * nothing else changes: same decisions, same times, same order of the remaining
 * events, same random draws. Without PROVIDER_WANT_FIRST_TOKEN the first token
 * is still known, as first_token_us of the DONE / MALFORMED event.
 */
void provider_set_wants(provider *p, unsigned wants);

/* Release everything; handles of unfinished requests are simply forgotten. NULL is fine. */
void provider_free(provider *p);

/*
 * Submit one request at now. Call provider_advance(p, now, ...) first, so that
 * capacity freed at or before now is seen (an event left due is delivered late,
 * and the request is judged against the stale state).
 *
 * Arguments: prompt_tokens (>= 0), max_tokens as sent by the
 * client (0 = none), completion_tokens it will actually generate (values below 1
 * count as 1; the caller clips to max_tokens). handle is opaque, returned in
 * events. Always fills *out and returns its kind (an enum provider_outcome).
 */
int provider_submit(provider *p, int64_t now, int64_t prompt_tokens, int64_t max_tokens,
                    int64_t completion_tokens, void *handle, struct provider_decision *out);

/* When the next event is due, µs, or TIME_NEVER if nothing is pending. */
int64_t provider_next_event_us(const provider *p);

/*
 * Deliver, in (time, FIFO) order, every event due at or before now, calling fn for
 * each; the provider's clock moves to now. Returns the number delivered.
 */
int provider_advance(provider *p, int64_t now, provider_event_fn fn, void *ctx);

/*
 * The client gave up on request id at now: it leaves the queue, or stops running
 * (freeing its batch slot, so the next waiting request starts at now), or its
 * stall ends; no further events come for it and it never counts as completed.
 * Returns 0, or -ENOENT if id is unknown or already finished (not an error for a
 * caller racing a completion).
 */
int provider_cancel(provider *p, uint64_t id, int64_t now);

/* The rate-limit state at now, as a 200 would carry it (retry_after_us = -1). */
void provider_rlinfo(provider *p, int64_t now, struct rlinfo *out);

/* Gauges and counters, for /metrics and reports. Totals count since provider_new. */
struct provider_stats {
    int64_t running;          /* sequences in the batch now */
    int64_t waiting;          /* in the waiting queue now */
    int64_t stalled;          /* stall faults holding a connection now */
    /*
     * A proxy for vLLM's kv_cache_usage_perc in [0, 1]: running / max_running
     * (batch slots in use), 0 when max_running is unlimited. Not token-based:
     * the model has no KV-cache size.
     */
    double kv_cache_usage;
    int64_t prompt_tokens_total;     /* prompt tokens of requests that started running */
    int64_t generation_tokens_total; /* completion tokens of requests that finished DONE/MALFORMED */
    int64_t submitted;               /* provider_submit calls */
    int64_t accepted;                /* PROVIDER_ACCEPTED */
    int64_t completed;               /* DONE events */
    int64_t rate_limited[PROVIDER_LIMIT_N]; /* 429s by reason */
    int64_t tpd_used_tokens;         /* tokens charged to TPD (0 when no limit is set) */
    int64_t tpd_short_us;            /* first 429 that found TPD short, µs; -1 = none */
    int64_t overloaded;              /* 503 queue full */
    int64_t faults[PROVIDER_FAULT_N]; /* by kind ([PROVIDER_FAULT_NONE] stays 0) */
    int64_t cancelled;               /* successful provider_cancel calls */
    int64_t pool_slots;              /* request slots allocated: follows peak concurrency */
};

void provider_stats(const provider *p, struct provider_stats *out);

/* Requests in the waiting queue now (provider_stats' waiting, without the copy). */
int64_t provider_waiting(const provider *p);

/* "rpm", "tpm", "tpd", "concurrency": labels for metrics and log lines. */
const char *provider_limit_name(enum provider_limit l);

/* "none", "error", "reset", "stall", "malformed". */
const char *provider_fault_name(enum provider_fault f);

/*
 * Header rendering for the mock: calls emit(ctx, name, value) once per header,
 * names in lower case, for the fields of ri that are given (>= 0):
 *   HEADERS_OPENAI     retry-after (s, rounded up), retry-after-ms (ms, rounded up),
 *                      x-should-retry ("true"/"false"),
 *                      x-ratelimit-{limit,remaining,reset}-{requests,tokens}; resets
 *                      as durations rounded up to the ms: "12ms", "1s", "1.5s", "6m0s",
 *                      "1h0m0s" (0 is "0s").
 *   HEADERS_ANTHROPIC  retry-after (s, rounded up),
 *                      anthropic-ratelimit-{requests,tokens}-{limit,remaining,reset};
 *                      reset as RFC 3339 UTC, "2026-11-28T18:05:07Z", the instant
 *                      now_unix_us + reset rounded up to the second.
 *   HEADERS_NONE       nothing.
 * Returns the number of headers emitted.
 */
int provider_format_headers(enum header_style style, const struct rlinfo *ri,
                            int64_t now_unix_us,
                            void (*emit)(void *ctx, const char *name, const char *value),
                            void *ctx);

/* Format a duration OpenAI's way (see above) into buf; returns buf. */
char *provider_format_reset(int64_t us, char *buf, size_t n);

#endif
