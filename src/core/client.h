/*
 * client: the client core the engines drive — a bounded priority queue in front
 * of the multi-dimensional limiter (limiter.h), a concurrency pool, retries with
 * capped exponential backoff, jitter and a retry budget, and feedback from the
 * server's rate-limit headers (struct rlinfo). The sim engine and the live
 * engine run exactly this code.
 *
 * No clock inside: every call takes `now` (int64_t µs on the engine's
 * timeline, never decreasing) and answers with a decision; client_next_wakeup()
 * gives the exact time at which client_poll() can next do something.
 * No allocation per request: the engine owns its request objects and embeds a
 * `struct client_req` in each (intrusive links); client_new() preallocates all.
 *
 * Engine loop (both engines):
 *   on arrival:   client_req_init(&r->cr, ...); client_submit(c, &r->cr, now);
 *   on answer:    client_on_response(c, req, now, status, &info, prompt, completion)
 *   each turn:    after the above, at the same now:
 *                 n = client_poll(c, now, out, max)  -> send out[0..n); repeat while
 *                 n == max; then arm one timer for client_next_wakeup(c)
 *   at the end:   client_cancel_all(c, now)
 * Every request ends in exactly one terminal state, reported once through the
 * on_terminal callback (from inside client_submit, client_poll,
 * client_on_response, client_cancel or client_cancel_all). After on_terminal
 * the client no longer touches the request: the engine may free or reuse it
 * inside the callback. Callbacks must not call back into the client (apart
 * from client_stats and the other read-only getters); engines defer follow-up
 * work (a closed-loop user's next request) to their own event queue.
 *
 * In-flight deadlines are the engine's: the client times out requests waiting
 * in its queue (and never schedules a retry past the deadline); a request in
 * flight past req->deadline_us must be aborted by the engine, which then
 * reports it with status 0 (transport error); the client turns that into
 * CLIENT_TIMED_OUT.
 */
#ifndef RATELAB_CLIENT_H
#define RATELAB_CLIENT_H

#include <stdbool.h>
#include <stdint.h>

#include "rlinfo.h"
#include "scenario.h"

struct limiter;
struct rng;

/* Where a request is; the last five are terminal. */
enum client_state {
    CLIENT_NEW,       /* initialised, not submitted */
    CLIENT_QUEUED,    /* waiting in the client queue for the limiter */
    CLIENT_INFLIGHT,  /* handed to the engine by client_poll, no answer yet */
    CLIENT_BACKOFF,   /* waiting for its retry time */
    CLIENT_SUCCEEDED, /* answered 2xx */
    CLIENT_FAILED,    /* not retryable, or retries exhausted / over budget */
    CLIENT_REJECTED,  /* queue full (reject policy), or can never fit the limits */
    CLIENT_TIMED_OUT, /* its deadline passed before a final answer */
    CLIENT_CANCELLED, /* client_cancel / client_cancel_all */
};
#define CLIENT_N_TERMINAL 5

/* Why a request ended, beyond its state (for reports and messages). */
enum client_reason {
    CLIENT_REASON_NONE,
    CLIENT_REASON_QUEUE_FULL,    /* rejected: queue at capacity */
    CLIENT_REASON_TOO_LARGE,     /* rejected: cost above a token bucket's capacity */
    CLIENT_REASON_NOT_RETRYABLE, /* failed: 4xx, or x-should-retry: false */
    CLIENT_REASON_ATTEMPTS,      /* failed: max_attempts used */
    CLIENT_REASON_BUDGET,        /* failed: the retry budget was spent */
    CLIENT_REASON_DEADLINE,      /* timed out (in queue, in backoff, or in flight) */
};

/*
 * Embedded in the engine's request object. The engine fills the first block
 * through client_req_init() and reads the rest; everything below "client
 * private" is the client's and must not be written by the engine.
 */
struct client_req {
    int class_idx;         /* index into the classes given to client_new */
    int64_t arrival_us;    /* intended send time: latency is measured from here */
    int64_t prompt_tokens; /* estimate of the prompt's tokens (>= 0) */
    int64_t max_tokens;    /* max_tokens asked for (>= 0) */

    /* read-only for the engine */
    enum client_state state;
    enum client_reason reason; /* set with a terminal state */
    int attempts;              /* attempts sent so far (1 = first try) */
    int last_status;           /* last HTTP status; 0 = transport error; -1 = none yet */
    int64_t deadline_us;       /* arrival + class timeout; TIME_NEVER = none */
    int64_t cost_tokens;       /* tokens charged for the current attempt */
    int64_t retry_at_us;       /* CLIENT_BACKOFF: when it re-enters the queue */

    /* client private */
    int64_t ready_us;                               /* when it (re)entered the queue, µs */
    int64_t prev_delay_us;                          /* last backoff (decorrelated jitter) */
    uint64_t seq;                                   /* submit order: FIFO ties */
    uint64_t sent_seq;                              /* send order of the current attempt (AIMD) */
    struct client_req *prev, *next;                 /* queue / in-flight list */
    struct client_req *hp_child, *hp_sib, *hp_prev; /* timer heap (deadline or retry) */
    int64_t hp_key;                                 /* that heap's key, µs */
    uint64_t ticket;                                /* the backend's handle on its admission */
    bool throttled;                                 /* counted as throttled in this attempt */
};

/* Prepare a request before client_submit. */
void client_req_init(struct client_req *r, int class_idx, int64_t arrival_us, int64_t prompt_tokens,
                     int64_t max_tokens);

/* One class as the client sees it. */
struct client_class {
    int priority;       /* 0 = most urgent .. 9 */
    int weight;         /* PRIORITY_WEIGHTED share, >= 1 */
    int64_t timeout_us; /* arrival to final answer; 0 = the config's request_timeout_us */
};

/*
 * Lifecycle events for metrics (besides the terminal ones). Every change of the
 * queue depth is an event, so a reader that counts QUEUED + REQUEUED − DEQUEUED
 * per class has the client's own depth at every moment, with nothing to mirror.
 * A request that leaves the queue emits THROTTLED (if it waited), then DEQUEUED,
 * then SENT or its terminal callback.
 */
enum client_event {
    CLIENT_EV_QUEUED,       /* entered the queue (first time, from client_submit) */
    CLIENT_EV_THROTTLED,    /* left the queue later than it entered it: our limiter delayed it
                             * (a backend's round trip for an admission granted at the first
                             * ask is not a delay) */
    CLIENT_EV_SENT,         /* handed out by client_poll (every attempt) */
    CLIENT_EV_RATE_LIMITED, /* the server answered 429 */
    CLIENT_EV_RETRY,        /* a retry was scheduled at req->retry_at_us */
    CLIENT_EV_ROOM,         /* req == NULL: the queue has room again (QUEUE_FULL_BLOCK) */
    CLIENT_EV_REQUEUED,     /* a retry's time came: it re-entered the queue (from client_poll) */
    CLIENT_EV_DEQUEUED,     /* left the queue: sent, timed out or cancelled */
    CLIENT_EV__COUNT
};
_Static_assert(CLIENT_EV__COUNT <= 32, "client_callbacks.events has a bit for every event");

struct client_callbacks {
    /* Required. Exactly once per submitted request. */
    void (*on_terminal)(void *ctx, struct client_req *req, enum client_state state, int last_status,
                        int64_t now_us);
    /* Optional. */
    void (*on_event)(void *ctx, struct client_req *req, enum client_event ev, int64_t now_us);
    void *ctx;
};

/* Counters per class (and summed over classes). Counts are monotone; gauges are "now". */
struct client_stats {
    int64_t submitted;                   /* accepted by client_submit or rejected by it */
    int64_t queued;                      /* entered the queue from client_submit */
    int64_t throttled;                   /* attempts our limiter delayed */
    int64_t sent;                        /* attempts sent (first tries and retries) */
    int64_t retries;                     /* retries scheduled */
    int64_t rate_limited;                /* 429 answers */
    int64_t budget_denied;               /* retries refused by the retry budget */
    int64_t terminal[CLIENT_N_TERMINAL]; /* by state - CLIENT_SUCCEEDED */
    int64_t depth;     /* gauge: in the queue (retries waiting for the limiter included) */
    int64_t backoff;   /* gauge: waiting for a retry time */
    int64_t in_flight; /* gauge: sent, no answer yet */
};

typedef struct client client;

/*
 * Create a client. cfg is copied; classes[0..n_classes) are copied
 * (1 <= n_classes <= SCENARIO_MAX_CLASSES). rng is borrowed (jitter draws) and
 * must outlive the client. now_us starts the buckets (full). Returns NULL with
 * *err = -EINVAL on a bad configuration (negative limits, bad weights...).
 */
client *client_new(const struct client_config *cfg, const struct client_class *classes,
                   int n_classes, struct rng *rng, const struct client_callbacks *cb,
                   int64_t now_us, int *err);

/* The same from a loaded scenario (classes' priority, weight and effective timeout). */
client *client_new_from_scenario(const struct scenario *sc, struct rng *rng,
                                 const struct client_callbacks *cb, int64_t now_us, int *err);

/* Nothing in flight is touched; call client_cancel_all first to account for it. */
void client_free(client *c);

/*
 * The events on_event is called for from now on: bit (1u << ev) for each (all of them
 * after client_new). An event nobody reads then costs no call; client_poll emits
 * three per request sent (DEQUEUED, SENT and, when delayed, THROTTLED).
 */
void client_set_events(client *c, unsigned events);

/* client_submit outcomes besides 0 (queued). */
#define CLIENT_BLOCKED                                                                             \
    1 /* QUEUE_FULL_BLOCK and no room: NOT taken; submit again after                               \
         CLIENT_EV_ROOM (or any later call); latency still counts                                  \
         from arrival_us */
/*
 * Offer a request in state CLIENT_NEW (now_us may be later than its arrival,
 * e.g. after being blocked). Returns 0: taken — queued, or already terminal
 * (rejected: queue full or can never fit; on_terminal has been called);
 * CLIENT_BLOCKED: not taken (see above). Call client_poll afterwards, at the
 * same now, to send what can go.
 */
int client_submit(client *c, struct client_req *req, int64_t now_us);

/* Whether client_submit would take a request now (room in the queue). */
bool client_has_room(const client *c);

/*
 * Do everything due at now_us: move due retries into the queue, time out
 * queued requests whose deadline has passed, then admit requests through the
 * limiter in the priority policy's order. Fills out[0..n) with requests to
 * send now (state CLIENT_INFLIGHT, charged to the buckets and the pool) and
 * returns n <= max. If n == max there may be more: poll again at the same now.
 */
int client_poll(client *c, int64_t now_us, struct client_req **out, int max);

/*
 * The exact time at which client_poll can next do something (a bucket refills
 * enough for the head, a retry is due, a deadline passes, a pause ends), or
 * TIME_NEVER when only an answer can unblock it. After client_submit or
 * client_on_response it may be <= the current now: poll again then.
 */
int64_t client_next_wakeup(const client *c);

/* client_on_response outcomes. */
#define CLIENT_DONE  0 /* terminal: on_terminal has been called */
#define CLIENT_RETRY 1 /* retry scheduled at req->retry_at_us (state CLIENT_BACKOFF) */
/*
 * The answer to an in-flight request. status: HTTP status, 0 = transport error
 * (reset, timeout, abort). info: the parsed rate-limit feedback, or NULL.
 * prompt_used / completion_used: real usage if known, else -1; the token
 * reservation is reconciled to their sum (unknown: 429 refunds it, others
 * keep it). Classification: 2xx succeeds; 408, 409, 429, 5xx and 0 retry;
 * other statuses fail at once; info->should_retry overrides either way. A retry
 * is never earlier than info->retry_after_us (honor_retry_after), never past
 * the deadline (then CLIENT_TIMED_OUT at once), and needs attempts left and
 * retry budget. Returns CLIENT_DONE or CLIENT_RETRY.
 */
int client_on_response(client *c, struct client_req *req, int64_t now_us, int status,
                       const struct rlinfo *info, int64_t prompt_used, int64_t completion_used);

/*
 * Cancel one request in any non-terminal state: queued, in backoff, in flight
 * (the engine aborts the transfer) or CLIENT_NEW held back by CLIENT_BLOCKED
 * (it is then counted as submitted and cancelled, so accounting still adds up).
 */
void client_cancel(client *c, struct client_req *req, int64_t now_us);

/*
 * Cancel everything queued, in backoff and in flight (the engine aborts those).
 * Producers the engine holds back (CLIENT_BLOCKED) are unknown to the client:
 * cancel them one by one with client_cancel.
 */
void client_cancel_all(client *c, int64_t now_us);

/* Counters of one class, or of all when class_idx < 0. */
void client_stats(const client *c, int class_idx, struct client_stats *out);

/*
 * The limiter it admits through, read-only: limiter_bucket_level(&l->tpm, now) and so on
 * (the shared one after client_share_limiter; with a backend, the client's own, unused).
 */
const struct limiter *client_limiter(const client *c);

/* Effective concurrency limit now (adaptive AIMD), 0 = unlimited. */
int64_t client_concurrency(const client *c);

/* Retries the retry budget allows now (now_us >= the client's last now); -1 = no budget. */
int64_t client_retry_budget_left(const client *c, int64_t now_us);

/* ---- where the admission state lives ------------------------------------------------------
 *
 * By default a client admits through its own in-process limiter (limiter.h), called directly:
 * that path has no indirection. Two other places are possible, chosen once, before the first
 * client_submit; the queue, priorities, retries, deadlines and header feedback stay this code.
 *
 * 1. One in-process admission state shared by several client cores (N clients of one quota,
 *    coordinated, in one process, e.g. one simulation): create one `struct limiter` with
 *    limiter_init_burst (the shared quota), then client_share_limiter(c_i, &shared) on every
 *    client. Admissions, releases and reconciliations of all of them then charge that one
 *    limiter; it must outlive the clients. What a client cannot see is another client's
 *    release or refund: after client_on_response or client_cancel on one client, call
 *    client_wake(other, now) on the others (or simply poll them all at that now), since a slot
 *    or tokens may be back for them too. A token wait a client computed may be too early when
 *    another client took tokens meanwhile (it is then told to wait again), never too late.
 *    Adaptive mode (header feedback) then acts on the shared limiter: a pause or a clamp
 *    holds for every client, and the AIMD window last set by any client is the shared pool's.
 *
 * 2. A backend (struct client_backend): the state lives elsewhere, possibly behind a network
 *    round trip (the Redis backend in src/shared/). Its admit() answers at once (admitted,
 *    wait until, can never fit) or CLIENT_PENDING: the answer comes later, from the engine,
 *    through client_admission_answer(), and the engine then polls again at that now. While
 *    an answer is pending the client asks nothing else; the request asked for keeps its
 *    place, and if it ends meanwhile (deadline, cancel), an admission that then arrives is
 *    handed straight back (done() with actual 0). With a backend, HOL_SKIP behaves as
 *    HOL_BLOCK (every look past the head would be a round trip), and adaptive mode is not
 *    available (client_set_backend refuses it: the feedback would have to be shared too).
 */

#define CLIENT_PENDING 3 /* backend admit(): the answer comes via client_admission_answer */

struct client_backend {
    /*
     * Admit one request of cost_tokens at now_us, all-or-nothing across every dimension:
     *   LIMITER_OK     admitted and charged; *ticket = the backend's handle on it (given back
     *                  to done()).
     *   LIMITER_WAIT   *wait_until_us = when to ask again (> now_us). Nothing charged.
     *   LIMITER_BUSY   the concurrency pool is full and only a release by this client can
     *                  free it (a backend shared with other processes answers LIMITER_WAIT
     *                  with a time instead: their releases are not seen here).
     *   CLIENT_PENDING asked; the answer comes through client_admission_answer.
     *   -E2BIG         the cost can never fit.
     */
    int (*admit)(void *ctx, int64_t now_us, int64_t cost_tokens, int64_t *wait_until_us,
                 uint64_t *ticket);
    /*
     * The admission `ticket` of charged_tokens is over (answered or cancelled): free its
     * concurrency slot, and reconcile its tokens to actual_tokens (-1: keep the charge).
     */
    void (*done)(void *ctx, uint64_t ticket, int64_t now_us, int64_t charged_tokens,
                 int64_t actual_tokens);
    /* Whether a request of cost_tokens could ever be admitted (limiter_fits). */
    bool (*fits)(void *ctx, int64_t cost_tokens);
    void *ctx;
};

/*
 * Admit through `shared` (case 1 above) instead of the client's own limiter; shared is
 * borrowed. Before the first client_submit. Returns 0, or -EINVAL once requests were taken.
 */
int client_share_limiter(client *c, struct limiter *shared);

/*
 * Admit through backend `be` (case 2 above; copied, be->ctx borrowed). Before the first
 * client_submit. Returns 0, or -EINVAL (already taking requests, adaptive mode, or a
 * backend without admit/done/fits).
 */
int client_set_backend(client *c, const struct client_backend *be);

/*
 * The backend's answer to the admit() that returned CLIENT_PENDING: rc is LIMITER_OK (with
 * ticket), LIMITER_WAIT (with wait_until_us), LIMITER_BUSY (wait for a release by this
 * client) or -E2BIG (the request asked for is rejected as too large at the next poll). Poll again at the same now afterwards (client_next_wakeup
 * says so).
 */
void client_admission_answer(client *c, int64_t now_us, int rc, int64_t wait_until_us,
                             uint64_t ticket);

/* Whether admissions go through a backend (client_set_backend): the limiter is not used. */
bool client_has_backend(const client *c);

/* Whether an admission answer is awaited (the engine must not stop waiting for it). */
bool client_admission_pending(const client *c);

/*
 * Another client sharing this one's admission state released or refunded something at
 * now_us: if requests are queued, client_next_wakeup becomes now_us.
 */
void client_wake(client *c, int64_t now_us);

/* Names for reports: "succeeded", "queue_full", ... */
const char *client_state_name(enum client_state s);
const char *client_reason_name(enum client_reason r);

#endif
