#include "config.h"

#include "run.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dlheap.h"
#include "evheap.h"
#include "limiter.h"
#include "report.h"
#include "rng.h"
#include "util.h"
#include "workload.h"

/*
 * Arrival events. The payload packs kind (4 bits), the user (28 bits) and the
 * class (32 bits).
 */
enum ev_kind {
    EV_ARRIVAL, /* the class's next open-loop arrival */
    EV_USER,    /* a closed-loop user of the class sends */
};

#define EV_PACK(kind, user, cls)                                                                   \
    (((uint64_t)(kind) << 60) | (((uint64_t)(user) & 0xfffffffULL) << 32) | (uint64_t)(cls))
#define EV_KIND(d) ((int)((d) >> 60))
#define EV_USER_OF(d) ((int64_t)(((d) >> 32) & 0xfffffffULL))
#define EV_CLASS(d) ((int)(uint32_t)(d))

#define POOL_CHUNK_BITS 10
#define POOL_CHUNK (1u << POOL_CHUNK_BITS)

struct class_state {
    workload *w;
    bool closed;             /* closed-loop class */
    int64_t next_arrival_us; /* open loop: intended time of the next arrival, TIME_NEVER = none */
    bool blocked;            /* open loop: the producer waits for queue room */
};

/* One client instance ([client] instances; run.h). */
struct instance {
    client *cl;
    struct rng rng;          /* its jitter draws (instance 0 uses run.client_rng) */
    int64_t wake_us;         /* client_next_wakeup after the last service */
};

/*
 * Invariant: a live request is in exactly one of: the blocked list (not yet
 * taken by the client), or its instance's client (queued, in backoff, in flight);
 * it has a live entry in the deadline heap exactly while it is in flight at the
 * engine (tx_id != 0) with a deadline. cl is inst[0].cl; with one instance, the
 * run uses cl alone, as before instances existed.
 */
struct run {
    const struct scenario *sc;
    struct run_transport tx;
    struct rng rng;        /* the root stream */
    struct rng client_rng; /* the client core's jitter draws */
    client *cl;
    struct instance *inst; /* [n_inst] */
    struct run_instance_stats *ist; /* [n_inst]: each instance's counters */
    int n_inst;
    int next_inst;         /* the instance the next request goes to (round-robin) */
    int poll_first;        /* the instance the next service polls first: after the last sender */
    struct limiter *shared; /* instance_limits = shared: the one limiter, else NULL */
    metrics *m;
    struct evheap heap;    /* arrivals and closed-loop sends */
    struct class_state *cls;
    int n_classes;
    bool started;

    struct run_req **chunks; /* the pool: chunks of POOL_CHUNK requests, stable addresses */
    uint32_t n_chunks, n_slots;
    struct run_req *free_list; /* linked through dnext */

    struct run_req *blk_head, *blk_tail; /* QUEUE_FULL_BLOCK: requests the client did not take */

    struct dlheap dl; /* deadlines of attempts in flight */
    int64_t dl_hint;  /* a lower bound of the next live deadline (stale entries only raise it) */

    int64_t now;
    int64_t client_wake_us; /* client_next_wakeup after the last service */
    int64_t cancel_at_us;   /* cancel everything open after this time, TIME_NEVER = never */
    int64_t end_us;
    bool done;
    bool again;        /* during this service pass: something may let more go at this moment */
    bool client_dirty; /* the client was handed something since the last service */
    struct run_stats st;
    struct histogram send_lag; /* realtime engines: arrival handed to the client − due, µs */
    struct client_req *out[64]; /* client_poll's batch */
};

static inline struct run_req *req_of(struct client_req *cr)
{
    return (struct run_req *)((char *)cr - offsetof(struct run_req, cr));
}

/* The client a request belongs to. */
static inline client *cl_of(const run *r, const struct run_req *q)
{
    return r->inst[q->instance].cl;
}

static inline struct run_req *slot(const run *r, uint32_t idx)
{
    return &r->chunks[idx >> POOL_CHUNK_BITS][idx & (POOL_CHUNK - 1)];
}

static struct run_req *req_alloc(run *r)
{
    if (!r->free_list) {
        /* Grow by one chunk; only the chunk directory moves, requests never do. */
        r->chunks = xrealloc(r->chunks, (r->n_chunks + 1) * sizeof *r->chunks);
        struct run_req *c = xcalloc(POOL_CHUNK, sizeof *c);
        r->chunks[r->n_chunks++] = c;
        for (uint32_t i = POOL_CHUNK; i-- > 0;) {
            c[i].idx = r->n_slots + i;
            c[i].dnext = r->free_list;
            r->free_list = &c[i];
        }
        r->n_slots += POOL_CHUNK;
    }
    struct run_req *q = r->free_list;
    r->free_list = q->dnext;
    q->dprev = q->dnext = NULL;
    if (++r->st.alive > r->st.pool_peak)
        r->st.pool_peak = r->st.alive;
    return q;
}

static void req_release(run *r, struct run_req *q)
{
    q->gen++;
    q->dnext = r->free_list;
    r->free_list = q;
    r->st.alive--;
}

/* ---- deadlines of attempts in flight ------------------------------------------ */

/*
 * Attempts in flight with a deadline sit in a dlheap keyed by (slot, generation,
 * attempt); an answered attempt's entry just goes stale (see dlheap.h).
 */
static bool dl_live(void *ctx, const struct dlheap_ent *e)
{
    const struct run_req *q = slot(ctx, e->idx);
    return q->gen == e->gen && q->cr.attempts == e->tag && q->tx_id != 0;
}

/* Drops stale entries on top, hence not const; refreshes the hint. */
static inline int64_t next_deadline(run *r)
{
    r->dl_hint = r->dl.n ? dlheap_next(&r->dl) : TIME_NEVER;
    return r->dl_hint;
}

/* The attempt in flight is over at the engine: no more answers for it. */
static void leave_transport(run *r, struct run_req *q)
{
    if (q->cr.deadline_us != TIME_NEVER) /* its deadline entry is now stale */
        dlheap_stale(&r->dl, (struct dlheap_ent){q->cr.deadline_us, q->idx, q->gen,
                                                 q->cr.attempts});
    q->tx_id = 0;
}

/* ---- the one terminal path ----------------------------------------------- */

static enum outcome outcome_of(enum client_state st)
{
    switch (st) {
    case CLIENT_SUCCEEDED: return OUTCOME_SUCCEEDED;
    case CLIENT_FAILED: return OUTCOME_FAILED;
    case CLIENT_REJECTED: return OUTCOME_REJECTED;
    case CLIENT_TIMED_OUT: return OUTCOME_TIMED_OUT;
    default: return OUTCOME_CANCELLED;
    }
}

/*
 * A closed-loop user sends again after thinking. With zero think time, a request
 * that ends the instant it was sent (rejected at the door) would let the user
 * send forever without time moving: such a user waits one µs.
 */
static void user_next(run *r, int cls, int64_t user, int64_t done_us, bool instant)
{
    int64_t t = workload_after_done(r->cls[cls].w, done_us);
    if (t == done_us && instant)
        t = done_us + 1 < r->sc->duration_us ? done_us + 1 : TIME_NEVER;
    if (t != TIME_NEVER)
        evheap_push(&r->heap, t, EV_PACK(EV_USER, user, cls));
}

/*
 * Every request ends here, exactly once: from the client's on_terminal, or for
 * a request the client never took (blocked producer) at cancellation.
 */
static void finish(run *r, struct run_req *q, enum outcome o, int64_t now)
{
    int cls = q->cr.class_idx;
    if (q->tx_id) {
        /* Still at the engine (cancelled, or timed out in flight): abandon the attempt. */
        r->tx.abort(r->tx.ctx, q, now);
        leave_transport(r, q);
        metrics_answer(r->m, now, cls, -1, false);
    }
    int64_t latency = now - q->cr.arrival_us;
    int64_t ttft = (o == OUTCOME_SUCCEEDED && q->first_token_us >= 0)
                       ? q->first_token_us - q->cr.arrival_us
                       : -1;
    metrics_end(r->m, now, cls, o, latency, ttft, q->prompt_tokens, q->output_tokens);
    if (r->n_inst > 1) {
        /* Its instance's counts, taken here, once per request, off the per-event paths. */
        struct run_instance_stats *st = &r->ist[q->instance];
        st->ended[o]++;
        st->sent += q->cr.attempts;
        st->throttled += q->throttled;
    }
    if (r->tx.on_end)
        r->tx.on_end(r->tx.ctx, q, o, now);
    if (q->user >= 0 && o != OUTCOME_CANCELLED)
        user_next(r, cls, q->user, now, latency == 0);
    req_release(r, q);
}

static void on_terminal(void *ctx, struct client_req *cr, enum client_state state,
                        int last_status, int64_t now_us)
{
    (void)last_status;
    finish(ctx, req_of(cr), outcome_of(state), now_us);
}

/* The client events on_event acts on (client_set_events): the client does not call it for
 * the others (SENT, RATE_LIMITED, RETRY), two calls a request on the common path, not three. */
#define RUN_CLIENT_EVENTS                                                                          \
    (1u << CLIENT_EV_ROOM | 1u << CLIENT_EV_QUEUED | 1u << CLIENT_EV_REQUEUED |                    \
     1u << CLIENT_EV_DEQUEUED | 1u << CLIENT_EV_THROTTLED)

/* The client tells metrics everything; the once-per-request policies live here. */
static void on_event(void *ctx, struct client_req *cr, enum client_event ev, int64_t now)
{
    run *r = ctx;
    if (ev == CLIENT_EV_ROOM) {
        r->again = true; /* blocked producers can go on, at this same moment */
        return;
    }
    struct run_req *q = req_of(cr);
    int cls = cr->class_idx;
    switch (ev) {
    case CLIENT_EV_QUEUED:
    case CLIENT_EV_REQUEUED:
        metrics_queue(r->m, now, cls, +1);
        break;
    case CLIENT_EV_DEQUEUED:
        metrics_queue(r->m, now, cls, -1);
        break;
    case CLIENT_EV_THROTTLED:
        if (!q->throttled) {
            q->throttled = true;
            metrics_throttled(r->m, now, cls);
        }
        break;
    default:
        break;
    }
}

/* ---- arrivals ------------------------------------------------------------- */

static struct run_req *new_request(run *r, int cls, int64_t arrival_us, int64_t user)
{
    struct run_req *q = req_alloc(r);
    workload *w = r->cls[cls].w;
    q->prompt_tokens = workload_prompt_tokens(w);
    q->output_tokens = workload_completion_tokens(w);
    q->user = user;
    q->tx_id = 0;
    q->first_token_us = -1;
    q->throttled = q->saw_429 = false;
    q->used_prompt = q->used_completion = -1;
    q->tx_tag = 0;
    q->instance = 0;
    if (r->n_inst > 1) {
        q->instance = r->next_inst;
        if (++r->next_inst == r->n_inst)
            r->next_inst = 0;
        r->ist[q->instance].arrived++;
    }
    if (r->tx.prepare)
        r->tx.prepare(r->tx.ctx, q);
    client_req_init(&q->cr, cls, arrival_us, q->prompt_tokens, workload_max_tokens(w));
    r->st.requests++;
    metrics_arrival(r->m, r->now, cls);
    return q;
}

static void blocked_push(run *r, struct run_req *q)
{
    q->dnext = NULL;
    q->dprev = r->blk_tail;
    if (r->blk_tail)
        r->blk_tail->dnext = q;
    else
        r->blk_head = q;
    r->blk_tail = q;
    r->st.blocked++;
}

static struct run_req *blocked_pop(run *r)
{
    struct run_req *q = r->blk_head;
    r->blk_head = q->dnext;
    if (!r->blk_head)
        r->blk_tail = NULL;
    q->dprev = q->dnext = NULL;
    r->st.blocked--;
    return q;
}

static void blocked_unpush_to_head(run *r)
{
    struct run_req *q = r->blk_tail;
    if (q == r->blk_head)
        return;
    r->blk_tail = q->dprev;
    r->blk_tail->dnext = NULL;
    q->dprev = NULL;
    q->dnext = r->blk_head;
    r->blk_head->dprev = q;
    r->blk_head = q;
}

static void schedule_arrival(run *r, int cls)
{
    struct class_state *c = &r->cls[cls];
    c->next_arrival_us = workload_next_arrival(c->w);
    if (c->next_arrival_us != TIME_NEVER) {
        int64_t t = c->next_arrival_us > r->now ? c->next_arrival_us : r->now;
        evheap_push(&r->heap, t, EV_PACK(EV_ARRIVAL, 0, cls));
    }
}

/* Offer q to the client; false when the client is full and blocks the producer. */
static bool submit(run *r, struct run_req *q)
{
    r->client_dirty = true;
    if (client_submit(cl_of(r, q), &q->cr, r->now) == CLIENT_BLOCKED) {
        blocked_push(r, q);
        return false;
    }
    return true;
}

static void arrive(run *r, int cls, int64_t intended_us, int64_t user)
{
    struct run_req *q = new_request(r, cls, intended_us, user);
    bool taken = submit(r, q);
    if (user < 0) {
        if (taken)
            schedule_arrival(r, cls);
        else
            r->cls[cls].blocked = true; /* resumes when its request is taken */
    }
}

/* QUEUE_FULL_BLOCK: hand blocked requests over in arrival order while there is room. */
static bool unblock(run *r)
{
    bool any = false;
    while (r->blk_head && client_has_room(cl_of(r, r->blk_head))) {
        struct run_req *q = blocked_pop(r);
        int cls = q->cr.class_idx;
        if (!submit(r, q)) {
            /* blocked_push put it at the tail: move it back to the head. */
            blocked_unpush_to_head(r);
            break;
        }
        any = true;
        if (q->user < 0 && r->cls[cls].blocked) {
            r->cls[cls].blocked = false;
            schedule_arrival(r, cls);
        }
    }
    return any;
}

/* ---- the engine side ---------------------------------------------------------- */

void run_first_token(run *r, struct run_req *q, int64_t t_us)
{
    (void)r;
    q->first_token_us = t_us;
}

void run_answer(run *r, struct run_req *q, int64_t now, int status, const struct rlinfo *info,
                int64_t prompt_used, int64_t completion_used)
{
    assert(now >= r->now);
    r->now = now;
    if (q->tx_id)
        leave_transport(r, q);
    r->again = true;
    r->client_dirty = true;
    q->used_prompt = prompt_used;
    q->used_completion = completion_used;
    bool first_429 = status == 429 && !q->saw_429;
    if (first_429)
        q->saw_429 = true;
    if (status == 429 && r->n_inst > 1)
        r->ist[q->instance].http_429++;
    metrics_answer(r->m, now, q->cr.class_idx, status, first_429);
    client_on_response(cl_of(r, q), &q->cr, now, status, info, prompt_used, completion_used);
}

int run_set_backend(run *r, const struct client_backend *be)
{
    assert(!r->started);
    if (r->n_inst > 1)
        return -EINVAL; /* one backend per process: N instances are simulated ones */
    return client_set_backend(r->cl, be);
}

void run_admission_answer(run *r, int64_t now, int rc, int64_t wait_until_us, uint64_t ticket)
{
    assert(now >= r->now);
    r->now = now;
    client_admission_answer(r->cl, now, rc, wait_until_us, ticket);
    r->client_dirty = true;
}

void run_wake(run *r, int64_t now)
{
    assert(now >= r->now);
    r->now = now;
    client_wake(r->cl, now);
    r->client_dirty = true;
}

static void send_attempt(run *r, struct run_req *q)
{
    metrics_send(r->m, r->now, q->cr.class_idx, q->cr.attempts > 1);
    q->first_token_us = -1;
    r->tx.send(r->tx.ctx, q, r->now);
    if (q->tx_id && q->cr.deadline_us != TIME_NEVER) {
        dlheap_push(&r->dl, (struct dlheap_ent){q->cr.deadline_us, q->idx, q->gen,
                                                q->cr.attempts});
        if (q->cr.deadline_us < r->dl_hint)
            r->dl_hint = q->cr.deadline_us;
    }
}

/* In flight past its deadline: the engine aborts it; the client records the timeout. */
static void expire_deadlines(run *r)
{
    while (next_deadline(r) <= r->now) {
        struct run_req *q = slot(r, dlheap_pop(&r->dl).idx); /* gone: not stale */
        r->tx.abort(r->tx.ctx, q, r->now);
        q->tx_id = 0;
        metrics_answer(r->m, r->now, q->cr.class_idx, -1, false);
        client_on_response(cl_of(r, q), &q->cr, r->now, 0, NULL, -1, -1);
        r->client_dirty = true;
    }
}

static void service_instances(run *r) __attribute__((noinline));

/* Let the client send what it can at now, and learn when to ask it again. */
static void service(run *r)
{
    if (r->n_inst > 1) {
        service_instances(r);
        return;
    }
    const int max = (int)(sizeof r->out / sizeof r->out[0]);
    int64_t w;
    for (;;) {
        bool progressed = r->blk_head && unblock(r);
        r->again = false;
        int n = client_poll(r->cl, r->now, r->out, max);
        for (int i = 0; i < n; i++)
            send_attempt(r, req_of(r->out[i]));
        /* A full batch, a request handed over, an immediate answer (429, fault) that freed
         * a slot, or room made by the poll itself (queued requests timed out): there may be
         * more to send, or producers to resume, at this same moment. */
        if (n == max || progressed || r->again)
            continue;
        w = client_next_wakeup(r->cl);
        if (w > r->now)
            break;
        if (n == 0) {
            /* The client says "now" yet has nothing: ask again at the next µs. */
            r->st.spin_guards++;
            w = r->now + 1;
            break;
        }
    }
    r->client_wake_us = w;
    r->client_dirty = false;
}

/*
 * service() for several instances: poll every one at now, again while any may send
 * more at this moment. Every instance is polled, not only the one handed something:
 * under `shared` limits one instance's release or refund is room for the others
 * (client.h, "where the admission state lives"), and a poll with nothing to do is
 * cheap. Instances waiting for the same shared tokens take turns: polling starts after
 * the instance that sent last, so each waiting instance gets the next token in turn
 * (racing pods win in no fixed order), where always starting at instance 0 would
 * serve its queue first and starve the others'. The run's wake-up is the earliest
 * instance's.
 */
static void service_instances(run *r)
{
    const int max = (int)(sizeof r->out / sizeof r->out[0]);
    int next_first = r->poll_first;
    for (;;) {
        bool progressed = r->blk_head && unblock(r);
        bool more = false;
        r->again = false;
        for (int j = 0; j < r->n_inst; j++) {
            int k = r->poll_first + j < r->n_inst ? r->poll_first + j : r->poll_first + j - r->n_inst;
            struct instance *in = &r->inst[k];
            int n = client_poll(in->cl, r->now, r->out, max);
            for (int i = 0; i < n; i++)
                send_attempt(r, req_of(r->out[i]));
            in->wake_us = client_next_wakeup(in->cl);
            if (n == max || (n > 0 && in->wake_us <= r->now))
                more = true;
            if (n > 0) /* it had its turn: the next one polls first next time */
                next_first = k + 1 < r->n_inst ? k + 1 : 0;
        }
        if (more || progressed || r->again)
            continue;
        break;
    }
    int64_t w = TIME_NEVER;
    for (int k = 0; k < r->n_inst; k++) {
        struct instance *in = &r->inst[k];
        if (in->wake_us <= r->now) {
            /* It says "now" yet sent nothing: ask again at the next µs. */
            r->st.spin_guards++;
            in->wake_us = r->now + 1;
        }
        if (in->wake_us < w)
            w = in->wake_us;
    }
    r->client_wake_us = w;
    r->client_dirty = false;
    r->poll_first = next_first;
}

/* ---- the loop -------------------------------------------------------------- */

static inline int64_t next_us(run *r)
{
    int64_t t = r->client_wake_us;
    int64_t th = evheap_next_time(&r->heap);
    int64_t td = next_deadline(r);
    if (th < t)
        t = th;
    if (td < t)
        t = td;
    return t;
}

void run_advance(run *r, int64_t now)
{
    assert(r->started && !r->done && now >= r->now);
    r->now = now;
    /* The hint (from run_next_us, lowered by every push) is a lower bound: only when it
     * says "due" is the heap itself asked. */
    if (r->dl_hint <= now)
        expire_deadlines(r);
    /* In simulation every due event is at now; a live engine may come late, and then
     * each arrival still counts from its intended time. */
    struct evheap_event e;
    while (evheap_next_time(&r->heap) <= now && evheap_pop(&r->heap, &e)) {
        r->st.heap_events++;
        if (r->tx.realtime)
            histogram_record(&r->send_lag, now - e.time_us);
        int cls = EV_CLASS(e.data);
        if (EV_KIND(e.data) == EV_ARRIVAL)
            arrive(r, cls, r->cls[cls].next_arrival_us, -1);
        else
            arrive(r, cls, e.time_us, EV_USER_OF(e.data));
    }
    /* The client changes only when handed something or when its own time comes; a
     * moment with neither (a first token) needs no poll. */
    if (r->client_dirty || now >= r->client_wake_us || r->blk_head)
        service(r);
    if (evheap_size(&r->heap) > (size_t)r->st.heap_peak)
        r->st.heap_peak = (int64_t)evheap_size(&r->heap);
}

static void cancel_all(run *r)
{
    for (int k = 0; k < r->n_inst; k++)
        client_cancel_all(r->inst[k].cl, r->now);
    while (r->blk_head)
        finish(r, blocked_pop(r), OUTCOME_CANCELLED, r->now);
    for (int i = 0; i < r->n_classes; i++)
        r->cls[i].next_arrival_us = TIME_NEVER;
    evheap_clear(&r->heap);
}

static void end_run(run *r, int64_t end)
{
    if (end < r->sc->duration_us)
        end = r->sc->duration_us;
    r->end_us = end;
    metrics_finish(r->m, end);
    r->done = true;
}

static inline bool end_if_over(run *r, int64_t t)
{
    assert(r->started);
    if (r->done)
        return true;
    if (r->st.alive == 0 && evheap_size(&r->heap) == 0) {
        /* Nothing in the system and nothing left to arrive: the run is over now, even if
         * the client would still wake up (a bucket refilling for nobody). */
        end_run(r, r->now);
        return true;
    }
    if (t == TIME_NEVER && r->cancel_at_us == TIME_NEVER && !client_admission_pending(r->cl)) {
        /* Requests remain but nothing will ever move them (a client that waits for an
         * answer that cannot come): cancel them rather than hang, and count it. */
        r->st.stuck += r->st.alive;
        cancel_all(r);
        end_run(r, r->now);
        return true;
    }
    if (t > r->cancel_at_us) {
        /* Past the end (cancel), or the drain limit: everything still open is cancelled. */
        if (r->cancel_at_us > r->now)
            r->now = r->cancel_at_us;
        if (r->st.alive)
            cancel_all(r);
        end_run(r, r->now);
        return true;
    }
    return false;
}

void run_interrupt(run *r, int64_t now)
{
    assert(r->started && now >= r->now);
    if (r->done)
        return;
    r->now = now;
    for (int i = 0; i < r->n_classes; i++)
        r->cls[i].next_arrival_us = TIME_NEVER;
    evheap_clear(&r->heap);
    while (r->blk_head)
        finish(r, blocked_pop(r), OUTCOME_CANCELLED, now);
    /* Queued and backing-off requests were never sent (or wait to be sent again):
     * cancel them; what is in flight drains. Free and never-used slots are not in
     * these states (terminal, or CLIENT_NEW). */
    for (uint32_t i = 0; i < r->n_slots; i++) {
        struct run_req *q = slot(r, i);
        if (q->cr.state == CLIENT_QUEUED || q->cr.state == CLIENT_BACKOFF)
            client_cancel(cl_of(r, q), &q->cr, now);
    }
    int64_t d = r->sc->drain_limit_us;
    int64_t limit = d > 0 && now < TIME_NEVER - d ? now + d : TIME_NEVER;
    if (limit < r->cancel_at_us)
        r->cancel_at_us = limit;
    r->client_dirty = true;
}

int64_t run_next_us(run *r)
{
    return next_us(r);
}

bool run_end_if_over(run *r, int64_t t)
{
    return end_if_over(r, t);
}

bool run_next(run *r, int64_t engine_next_us, int64_t *t_us)
{
    int64_t t = next_us(r);
    if (engine_next_us < t)
        t = engine_next_us;
    *t_us = t;
    return !end_if_over(r, t);
}

void run_stop(run *r, int64_t now)
{
    assert(r->started && now >= r->now);
    if (r->done)
        return;
    r->now = now;
    if (r->st.alive)
        cancel_all(r);
    end_run(r, now);
}

/* ---- setup ----------------------------------------------------------------- */

/*
 * Check every trace class's file in one streaming pass before anything runs: a bad
 * line deep in a 10^7-line trace must fail the run now, not an hour in. A file
 * that several classes read with the same settings is checked (and its skipped
 * lines counted) once. Returns the lines skipped, or -1 after printing FILE:LINE.
 */
static int64_t check_traces(const struct scenario *sc)
{
    int64_t skipped = 0;
    for (int i = 0; i < sc->n_classes; i++) {
        const struct class_config *c = &sc->classes[i];
        if (c->arrival.kind != ARRIVAL_TRACE)
            continue;
        bool again = false;
        for (int j = 0; j < i; j++) {
            const struct class_config *d = &sc->classes[j];
            again |= d->arrival.kind == ARRIVAL_TRACE &&
                     strcmp(d->arrival.trace_path, c->arrival.trace_path) == 0 &&
                     strcmp(d->trace_columns, c->trace_columns) == 0 &&
                     strcmp(d->trace_start, c->trace_start) == 0;
        }
        if (again)
            continue;
        int64_t n, sk;
        struct trace_error te;
        if (workload_trace_check(sc, i, &n, &sk, &te) < 0) {
            if (te.line > 0)
                fprintf(stderr, "%s:%" PRId64 ": %s\n", te.file, te.line, te.msg);
            else
                fprintf(stderr, "%s: %s (class %s)\n", te.file, te.msg, c->name);
            return -1;
        }
        skipped += sk;
    }
    return skipped;
}

/* The limits one instance enforces with its own limiter (INSTANCE_LIMITS_SPLIT: its share). */
static struct scenario *split_scenario(const struct scenario *sc)
{
    struct scenario *s = xmalloc(sizeof *s);
    *s = *sc; /* shallow: only the client config differs, and the client copies it */
    struct client_config *c = &s->client;
    int n = sc->client.instances;
    c->requests_per_minute = scenario_split_limit(c->requests_per_minute, n);
    c->tokens_per_minute = scenario_split_limit(c->tokens_per_minute, n);
    c->tokens_per_day = scenario_split_limit(c->tokens_per_day, n);
    c->max_concurrent = scenario_split_limit(c->max_concurrent, n);
    return s;
}

static void free_instances(run *r)
{
    for (int k = 0; r->inst && k < r->n_inst; k++)
        client_free(r->inst[k].cl);
    free(r->inst);
    free(r->ist);
    if (r->shared)
        limiter_fini(r->shared);
    free(r->shared);
}

/*
 * The client instances. One instance is the plain client on run.client_rng; several
 * split their jitter streams from that one, in instance order, before any draw.
 */
static int new_instances(run *r, const struct scenario *sc, int *err)
{
    struct client_callbacks cb = {on_terminal, on_event, r};
    int n = sc->client.instances > 1 ? sc->client.instances : 1;
    r->n_inst = n;
    r->inst = xcalloc((size_t)n, sizeof *r->inst);
    r->ist = xcalloc((size_t)n, sizeof *r->ist);
    *err = 0;
    for (int k = 1; k < n; k++)
        rng_split(&r->client_rng, &r->inst[k].rng);
    const struct scenario *own = sc;
    if (n > 1 && sc->client.instance_limits == INSTANCE_LIMITS_SPLIT)
        own = split_scenario(sc);
    for (int k = 0; k < n && *err == 0; k++) {
        struct rng *rng = k == 0 ? &r->client_rng : &r->inst[k].rng;
        r->inst[k].cl = client_new_from_scenario(own, rng, &cb, 0, err);
        if (!r->inst[k].cl && *err == 0)
            *err = -EINVAL;
        else if (r->inst[k].cl)
            client_set_events(r->inst[k].cl, RUN_CLIENT_EVENTS);
    }
    if (own != sc)
        free((void *)own);
    if (*err == 0 && n > 1 && sc->client.instance_limits == INSTANCE_LIMITS_SHARED) {
        const struct client_config *c = &sc->client;
        r->shared = xmalloc(sizeof *r->shared);
        if (limiter_init_burst(r->shared, c->requests_per_minute, c->tokens_per_minute,
                               c->tokens_per_day, c->max_concurrent, c->burst_us, 0) < 0) {
            free(r->shared);
            r->shared = NULL;
            *err = -EINVAL;
        }
        for (int k = 0; k < n && *err == 0; k++)
            if (client_share_limiter(r->inst[k].cl, r->shared) < 0)
                *err = -EINVAL;
    }
    if (*err) {
        free_instances(r);
        return -1;
    }
    r->cl = r->inst[0].cl;
    return 0;
}

run *run_new(const struct scenario *sc, const struct run_transport *tx, int *err)
{
    assert(tx && tx->send && tx->abort);
    if (sc->n_classes < 1) {
        *err = -EINVAL;
        return NULL;
    }
    int64_t trace_skipped = check_traces(sc);
    if (trace_skipped < 0) {
        *err = -EBADMSG; /* a bad trace line, already reported as FILE:LINE */
        return NULL;
    }
    run *r = xcalloc(1, sizeof *r);
    r->st.trace_skipped = trace_skipped;
    r->sc = sc;
    r->tx = *tx;
    r->n_classes = sc->n_classes;
    rng_seed(&r->rng, sc->seed);
    rng_split(&r->rng, &r->client_rng); /* first split: the client (see run.h) */
    if (new_instances(r, sc, err) < 0) {
        free(r);
        return NULL;
    }
    r->m = metrics_new(sc->n_classes, sc->window_us > 0 ? sc->window_us : US_PER_S);
    evheap_init(&r->heap, 64);
    dlheap_init(&r->dl, dl_live, r);
    r->cls = xcalloc((size_t)sc->n_classes, sizeof *r->cls);
    r->client_wake_us = client_next_wakeup(r->cl);
    for (int k = 0; k < r->n_inst; k++) {
        r->inst[k].wake_us = client_next_wakeup(r->inst[k].cl);
        if (r->inst[k].wake_us < r->client_wake_us)
            r->client_wake_us = r->inst[k].wake_us;
    }
    if (sc->at_end == END_CANCEL)
        r->cancel_at_us = sc->duration_us;
    else if (sc->drain_limit_us > 0)
        r->cancel_at_us = sc->duration_us + sc->drain_limit_us;
    else
        r->cancel_at_us = TIME_NEVER;
    r->end_us = -1;
    r->dl_hint = TIME_NEVER;
    histogram_init(&r->send_lag);
    *err = 0;
    return r;
}

struct rng *run_engine_rng(run *r)
{
    assert(!r->started);
    return &r->rng;
}

void run_start(run *r)
{
    assert(!r->started);
    r->started = true;
    const struct scenario *sc = r->sc;
    for (int i = 0; i < sc->n_classes; i++) {
        struct class_state *c = &r->cls[i];
        c->w = workload_new(&sc->classes[i], sc->duration_us, &r->rng);
        c->closed = workload_is_closed(c->w);
        struct trace_error te;
        if (sc->classes[i].arrival.kind == ARRIVAL_TRACE &&
            workload_trace_begin(c->w, sc, i, &te) < 0) {
            /* checked at run_new: the file went away since; the class replays nothing */
            fprintf(stderr, "%s: %s (class %s)\n", te.file, te.msg, sc->classes[i].name);
            r->st.trace_skipped++;
        }
    }
    /* First arrivals: one pending event per open class, one per closed-loop user. */
    for (int i = 0; i < sc->n_classes; i++) {
        struct class_state *c = &r->cls[i];
        if (c->closed) {
            int64_t users = workload_users(c->w);
            for (int64_t u = 0; u < users; u++) {
                int64_t t = workload_user_start(c->w, u);
                if (t != TIME_NEVER)
                    evheap_push(&r->heap, t, EV_PACK(EV_USER, u, i));
            }
        } else {
            schedule_arrival(r, i);
        }
    }
}

void run_free(run *r)
{
    if (!r)
        return;
    free_instances(r);
    metrics_free(r->m);
    evheap_fini(&r->heap);
    for (int i = 0; i < r->n_classes; i++)
        workload_free(r->cls[i].w);
    free(r->cls);
    dlheap_fini(&r->dl);
    for (uint32_t i = 0; i < r->n_chunks; i++)
        free(r->chunks[i]);
    free(r->chunks);
    free(r);
}

metrics *run_metrics(run *r)
{
    return r->m;
}

const metrics *run_metrics_const(const run *r)
{
    return r->m;
}

const client *run_client(const run *r)
{
    return r->cl;
}

int run_instances(const run *r, const struct run_instance_stats **out)
{
    if (r->n_inst == 1) {
        /* One instance is the whole run: counted by metrics, not twice on the hot path. */
        struct metrics_row t;
        metrics_total(r->m, -1, &t);
        struct run_instance_stats *st = r->ist;
        st->arrived = (int64_t)t.c.arrivals;
        for (int o = 0; o < OUTCOME__COUNT; o++)
            st->ended[o] = (int64_t)t.c.ended[o];
        st->throttled = (int64_t)t.c.client_throttled;
        st->sent = (int64_t)t.c.sends;
        st->http_429 = (int64_t)t.c.http_429;
    }
    *out = r->ist;
    return r->n_inst;
}

bool run_done(const run *r)
{
    return r->done;
}

int64_t run_cancel_at_us(const run *r)
{
    return r->cancel_at_us;
}

int64_t run_now(const run *r)
{
    return r->now;
}

int64_t run_end_us(const run *r)
{
    return r->end_us;
}

static struct run_bucket_gauge bucket_gauge(const struct limiter_bucket *b, int64_t now)
{
    return (struct run_bucket_gauge){limiter_bucket_level(b, now), b->capacity};
}

void run_server_now(const run *r, struct run_server_gauges *out)
{
    *out = (struct run_server_gauges){-1, -1, -1};
    if (r->tx.server_gauges)
        r->tx.server_gauges(r->tx.ctx, out);
}

/* Add instance b's gauge into a: levels and capacities add; unlimited stays unlimited. */
static void gauge_add(struct run_bucket_gauge *a, struct run_bucket_gauge b)
{
    if (a->capacity == 0 || b.capacity == 0) {
        *a = (struct run_bucket_gauge){INT64_MAX, 0};
        return;
    }
    a->level += b.level;
    a->capacity += b.capacity;
}

void run_gauges(run *r, int64_t now, struct run_gauges *g)
{
    struct client_stats st;
    client_stats(r->cl, -1, &st);
    const struct limiter *l = client_limiter(r->cl);
    /* The buckets were last brought up to date at most at the run's now. */
    if (now < r->now)
        now = r->now;
    *g = (struct run_gauges){
        .now_us = now,
        .queue_depth = st.depth,
        .backoff = st.backoff,
        .in_flight = st.in_flight,
        .blocked = r->st.blocked,
        .concurrency = client_concurrency(r->cl),
        .max_concurrent = r->sc->client.max_concurrent,
        .rpm = bucket_gauge(&l->rpm, now),
        .tpm = bucket_gauge(&l->tpm, now),
        .tpd = bucket_gauge(&l->tpd, now),
        .retry_budget_left = client_retry_budget_left(r->cl, now),
        .limits_elsewhere = client_has_backend(r->cl),
    };
    /*
     * Several instances: queues, backoffs, in-flight counts and retry budgets add up;
     * limits add up too unless they are one shared limiter (instance 0's is it).
     */
    bool shared = r->shared != NULL;
    if (!shared && r->n_inst > 1) {
        int64_t each = r->sc->client.instance_limits == INSTANCE_LIMITS_SPLIT
                           ? scenario_split_limit(g->max_concurrent, r->n_inst)
                           : g->max_concurrent;
        g->max_concurrent = each * r->n_inst;
    }
    for (int k = 1; k < r->n_inst; k++) {
        const client *c = r->inst[k].cl;
        client_stats(c, -1, &st);
        g->queue_depth += st.depth;
        g->backoff += st.backoff;
        g->in_flight += st.in_flight;
        int64_t left = client_retry_budget_left(c, now);
        g->retry_budget_left = g->retry_budget_left < 0 || left < 0 ? -1
                                                                     : g->retry_budget_left + left;
        if (shared)
            continue;
        int64_t cc = client_concurrency(c);
        g->concurrency = g->concurrency == 0 || cc == 0 ? 0 : g->concurrency + cc;
        l = client_limiter(c);
        gauge_add(&g->rpm, bucket_gauge(&l->rpm, now));
        gauge_add(&g->tpm, bucket_gauge(&l->tpm, now));
        gauge_add(&g->tpd, bucket_gauge(&l->tpd, now));
    }
    run_server_now(r, &g->server);
}

const struct histogram *run_send_lag(const run *r)
{
    return &r->send_lag;
}

void run_stats(const run *r, struct run_stats *out)
{
    *out = r->st;
    for (int i = 0; i < r->n_classes && r->started; i++)
        out->trace_skipped += workload_trace_errors(r->cls[i].w);
}

void run_budget_client(const run *r, struct report_budget *out)
{
    const struct limiter *l = client_limiter(run_client(r));
    *out = (struct report_budget){.limit_tokens = l->tpd.amount, .window = false,
                                  .used_tokens = l->tpd_used_tokens, .short_us = l->tpd_short_us};
    /* Instances with limiters of their own: the client side's budget is theirs together,
     * short when the first of them was. */
    for (int k = 1; k < r->n_inst && !r->shared; k++) {
        l = client_limiter(r->inst[k].cl);
        out->limit_tokens += l->tpd.amount;
        out->used_tokens += l->tpd_used_tokens;
        if (l->tpd_short_us >= 0 && (out->short_us < 0 || l->tpd_short_us < out->short_us))
            out->short_us = l->tpd_short_us;
    }
}
