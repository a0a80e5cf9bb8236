#include "config.h"

#include "sim.h"

#include <assert.h>
#include <errno.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "dlheap.h"
#include "evheap.h"
#include "provider.h"
#include "rng.h"
#include "util.h"
#include "workload.h"

/*
 * Heap events. The payload packs kind (4 bits), a 28-bit generation and a
 * 32-bit index (class for arrivals and users' sends, pool slot for requeues).
 * A request's generation changes whenever its slot is reused, so an event
 * about a request that has since ended is recognised and dropped.
 */
enum ev_kind {
    EV_ARRIVAL, /* index = class: the class's next open-loop arrival */
    EV_USER,    /* index = class, gen = user: a closed-loop user sends */
    EV_REQUEUE, /* index = request: its backoff ends, it re-enters the client queue */
};

#define EV_PACK(kind, gen, idx)                                                                    \
    (((uint64_t)(kind) << 60) | (((uint64_t)(gen) & 0xfffffffULL) << 32) | (uint64_t)(idx))
#define EV_KIND(d) ((int)((d) >> 60))
#define EV_GEN(d)  ((uint32_t)(((d) >> 32) & 0xfffffffULL))
#define EV_IDX(d)  ((uint32_t)(d))

/*
 * One request in the system. cr comes first so the client's pointer converts
 * back. Invariant: a live request is in exactly one of: blocked list (not yet
 * taken by the client), or the client (queued / backoff / in flight); it has a
 * live entry in the deadline heap exactly while it is in flight at the
 * provider (prov_id != 0) with a deadline; in_queue mirrors "counted in the
 * metrics' queue depth".
 */
struct sreq {
    struct client_req cr;
    uint32_t idx;             /* pool slot */
    uint32_t gen;             /* bumped on every reuse */
    int64_t prompt_tokens;    /* as drawn at arrival */
    int64_t output_tokens;    /* what the provider will generate */
    int64_t user;             /* closed loop: the user; -1 open loop */
    uint64_t prov_id;         /* provider id of the attempt in flight, 0 = none */
    int64_t first_token_us;   /* first token of the attempt, from its DONE event; -1 = none yet */
    bool in_queue;            /* counted in the client queue depth */
    bool throttled;           /* already counted as client-throttled */
    bool saw_429;             /* already counted as having seen a 429 */
    struct sreq *dprev, *dnext; /* blocked list, or free list (dnext) */
};

#define POOL_CHUNK_BITS 10
#define POOL_CHUNK (1u << POOL_CHUNK_BITS)

struct class_state {
    workload *w;
    bool closed;                 /* closed-loop class */
    int64_t next_arrival_us;     /* open loop: intended time of the next arrival, TIME_NEVER = none */
    bool blocked;                /* open loop: the producer waits for queue room */
};

struct sim {
    const struct scenario *sc;
    struct rng rng;              /* the run's root generator */
    struct rng client_rng;       /* the client core's jitter draws */
    client *cl;
    provider *pv;
    metrics *m;
    struct evheap heap;
    struct class_state *cls;
    int n_classes;

    struct sreq **chunks;        /* the pool: chunks of POOL_CHUNK requests, stable addresses */
    uint32_t n_chunks, n_slots;
    struct sreq *free_list;      /* linked through dnext */
    int64_t alive;               /* requests in the system */

    struct sreq *blk_head, *blk_tail; /* QUEUE_FULL_BLOCK: requests the client did not take yet */

    struct dlheap dl;            /* deadlines of attempts in flight */

    int64_t now;
    int64_t client_wake_us;      /* client_next_wakeup after the last service */
    int64_t cancel_at_us;        /* cancel everything open after this time, TIME_NEVER = never */
    int64_t end_us;
    bool done;
    bool answered_now;           /* an attempt was answered during this service pass */
    bool client_dirty;           /* the client was handed something since the last service */
    struct sim_stats st;
    struct client_req *out[64];  /* client_poll's batch */
};

static inline struct sreq *req_of(struct client_req *cr)
{
    return (struct sreq *)((char *)cr - offsetof(struct sreq, cr));
}

static inline struct sreq *slot(sim *s, uint32_t idx)
{
    return &s->chunks[idx >> POOL_CHUNK_BITS][idx & (POOL_CHUNK - 1)];
}

static struct sreq *req_alloc(sim *s)
{
    if (!s->free_list) {
        /* Grow by one chunk; only the chunk directory moves, requests never do. */
        s->chunks = xrealloc(s->chunks, (s->n_chunks + 1) * sizeof *s->chunks);
        struct sreq *c = xcalloc(POOL_CHUNK, sizeof *c);
        s->chunks[s->n_chunks++] = c;
        for (uint32_t i = POOL_CHUNK; i-- > 0;) {
            c[i].idx = s->n_slots + i;
            c[i].dnext = s->free_list;
            s->free_list = &c[i];
        }
        s->n_slots += POOL_CHUNK;
    }
    struct sreq *r = s->free_list;
    s->free_list = r->dnext;
    r->dprev = r->dnext = NULL;
    if (++s->alive > s->st.pool_peak)
        s->st.pool_peak = s->alive;
    return r;
}

static void req_release(sim *s, struct sreq *r)
{
    r->gen++;
    r->dnext = s->free_list;
    s->free_list = r;
    s->alive--;
}

/* ---- deadlines of requests in flight ------------------------------------------ */

/*
 * Attempts in flight with a deadline sit in a dlheap keyed by (slot, generation,
 * attempt); an answered attempt's entry just goes stale (see dlheap.h).
 */
static bool dl_live(void *ctx, const struct dlheap_ent *e)
{
    const struct sreq *r = slot(ctx, e->idx);
    return r->gen == e->gen && r->cr.attempts == e->tag && r->prov_id != 0;
}

static inline int64_t next_deadline(sim *s)
{
    return s->dl.n ? dlheap_next(&s->dl) : TIME_NEVER;
}

/* The attempt in flight leaves the provider: no more events for it. */
static void leave_provider(sim *s, struct sreq *r)
{
    if (r->cr.deadline_us != TIME_NEVER)
        dlheap_stale(&s->dl); /* its deadline entry is now stale */
    r->prov_id = 0;
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
 * send forever without virtual time moving: such a user waits one µs.
 */
static void user_next(sim *s, int cls, int64_t user, int64_t done_us, bool instant)
{
    int64_t t = workload_after_done(s->cls[cls].w, done_us);
    if (t == done_us && instant)
        t = done_us + 1 < s->sc->duration_us ? done_us + 1 : TIME_NEVER;
    if (t != TIME_NEVER)
        evheap_push(&s->heap, t, EV_PACK(EV_USER, user, cls));
}

/*
 * Every request ends here, exactly once: from the client's on_terminal, or for
 * a request the client never took (blocked producer) at cancellation.
 */
static void finish(sim *s, struct sreq *r, enum outcome o, int64_t now)
{
    int cls = r->cr.class_idx;
    if (r->in_queue) {
        metrics_queue(s->m, now, cls, -1);
        r->in_queue = false;
    }
    if (r->prov_id) {
        /* Still at the provider (cancelled, or timed out in flight): abandon the attempt. */
        provider_cancel(s->pv, r->prov_id, now);
        leave_provider(s, r);
        metrics_answer(s->m, now, cls, -1, false);
    }
    int64_t latency = now - r->cr.arrival_us;
    int64_t ttft = (o == OUTCOME_SUCCEEDED && r->first_token_us >= 0)
                       ? r->first_token_us - r->cr.arrival_us
                       : -1;
    metrics_end(s->m, now, cls, o, latency, ttft, r->prompt_tokens, r->output_tokens);
    if (r->user >= 0 && o != OUTCOME_CANCELLED)
        user_next(s, cls, r->user, now, latency == 0);
    req_release(s, r);
}

static void on_terminal(void *ctx, struct client_req *cr, enum client_state state,
                        int last_status, int64_t now_us)
{
    (void)last_status;
    finish(ctx, req_of(cr), outcome_of(state), now_us);
}

static void on_event(void *ctx, struct client_req *cr, enum client_event ev, int64_t now)
{
    sim *s = ctx;
    if (!cr)
        return; /* CLIENT_EV_ROOM: the service loop checks for room anyway */
    struct sreq *r = req_of(cr);
    int cls = cr->class_idx;
    switch (ev) {
    case CLIENT_EV_QUEUED:
        r->in_queue = true;
        metrics_queue(s->m, now, cls, +1);
        break;
    case CLIENT_EV_THROTTLED:
        if (!r->throttled) {
            r->throttled = true;
            metrics_throttled(s->m, now, cls);
        }
        break;
    case CLIENT_EV_RETRY:
        /* The client moves it back into its queue at retry_at_us; mirror that in the depth.
         * A retry due at once is moved by the very next poll, in this same moment. */
        if (cr->retry_at_us <= now) {
            r->in_queue = true;
            metrics_queue(s->m, now, cls, +1);
        } else {
            evheap_push(&s->heap, cr->retry_at_us, EV_PACK(EV_REQUEUE, r->gen, r->idx));
        }
        break;
    default:
        break;
    }
}

/* ---- arrivals ------------------------------------------------------------- */

static struct sreq *new_request(sim *s, int cls, int64_t arrival_us, int64_t user)
{
    struct sreq *r = req_alloc(s);
    workload *w = s->cls[cls].w;
    r->prompt_tokens = workload_prompt_tokens(w);
    r->output_tokens = workload_completion_tokens(w);
    r->user = user;
    r->prov_id = 0;
    r->first_token_us = -1;
    r->in_queue = r->throttled = r->saw_429 = false;
    client_req_init(&r->cr, cls, arrival_us, r->prompt_tokens, workload_max_tokens(w));
    s->st.requests++;
    metrics_arrival(s->m, s->now, cls);
    return r;
}

static void blocked_push(sim *s, struct sreq *r)
{
    r->dnext = NULL;
    r->dprev = s->blk_tail;
    if (s->blk_tail)
        s->blk_tail->dnext = r;
    else
        s->blk_head = r;
    s->blk_tail = r;
}

static struct sreq *blocked_pop(sim *s)
{
    struct sreq *r = s->blk_head;
    s->blk_head = r->dnext;
    if (!s->blk_head)
        s->blk_tail = NULL;
    r->dprev = r->dnext = NULL;
    return r;
}

static void blocked_unpush_to_head(sim *s)
{
    struct sreq *r = s->blk_tail;
    if (r == s->blk_head)
        return;
    s->blk_tail = r->dprev;
    s->blk_tail->dnext = NULL;
    r->dprev = NULL;
    r->dnext = s->blk_head;
    s->blk_head->dprev = r;
    s->blk_head = r;
}

static void schedule_arrival(sim *s, int cls)
{
    struct class_state *c = &s->cls[cls];
    c->next_arrival_us = workload_next_arrival(c->w);
    if (c->next_arrival_us != TIME_NEVER) {
        int64_t t = c->next_arrival_us > s->now ? c->next_arrival_us : s->now;
        evheap_push(&s->heap, t, EV_PACK(EV_ARRIVAL, 0, cls));
    }
}

/* Offer r to the client; false when the client is full and blocks the producer. */
static bool submit(sim *s, struct sreq *r)
{
    s->client_dirty = true;
    if (client_submit(s->cl, &r->cr, s->now) == CLIENT_BLOCKED) {
        blocked_push(s, r);
        return false;
    }
    return true;
}

static void arrive(sim *s, int cls, int64_t intended_us, int64_t user)
{
    struct sreq *r = new_request(s, cls, intended_us, user);
    bool taken = submit(s, r);
    if (user < 0) {
        if (taken)
            schedule_arrival(s, cls);
        else
            s->cls[cls].blocked = true; /* resumes when its request is taken */
    }
}

/* QUEUE_FULL_BLOCK: hand blocked requests over in arrival order while there is room. */
static bool unblock(sim *s)
{
    bool any = false;
    while (s->blk_head && client_has_room(s->cl)) {
        struct sreq *r = blocked_pop(s);
        int cls = r->cr.class_idx;
        if (!submit(s, r)) {
            /* blocked_push put it at the tail: move it back to the head. */
            blocked_unpush_to_head(s);
            break;
        }
        any = true;
        if (r->user < 0 && s->cls[cls].blocked) {
            s->cls[cls].blocked = false;
            schedule_arrival(s, cls);
        }
    }
    return any;
}

/* ---- the provider side ---------------------------------------------------- */

/* An attempt's answer: to metrics, then to the client (which may end or retry it). */
static void answer(sim *s, struct sreq *r, int64_t now, int status, const struct rlinfo *info,
                   int64_t prompt_used, int64_t completion_used)
{
    s->answered_now = true;
    s->client_dirty = true;
    bool first_429 = status == 429 && !r->saw_429;
    if (first_429)
        r->saw_429 = true;
    metrics_answer(s->m, now, r->cr.class_idx, status, first_429);
    client_on_response(s->cl, &r->cr, now, status, info, prompt_used, completion_used);
}

static void on_provider(void *ctx, const struct provider_event *ev)
{
    sim *s = ctx;
    struct sreq *r = ev->handle;
    if (r->prov_id != ev->id)
        return; /* an attempt we abandoned; the provider should not send these */
    switch (ev->kind) {
    case PROVIDER_EV_FIRST_TOKEN:
        break; /* not asked for (see sim_new): the DONE event carries its time */
    case PROVIDER_EV_DONE:
        s->st.server_served++;
        s->st.server_waited += ev->start_us > ev->submit_us;
        s->st.server_wait_us += ev->start_us - ev->submit_us;
        r->first_token_us = ev->first_token_us;
        leave_provider(s, r);
        /* rl is filled only for an adaptive client; the others read none of a 200's. */
        answer(s, r, ev->t_us, 200, s->sc->client.adaptive ? &ev->rl : NULL, ev->prompt_tokens,
               ev->completion_tokens);
        break;
    case PROVIDER_EV_MALFORMED:
    case PROVIDER_EV_DROPPED:
        /* A body the client cannot parse, or a dropped connection: a transport error. */
        leave_provider(s, r);
        answer(s, r, ev->t_us, 0, NULL, -1, -1);
        break;
    }
}

static void send_attempt(sim *s, struct sreq *r)
{
    int cls = r->cr.class_idx;
    if (r->in_queue) {
        r->in_queue = false;
        metrics_queue(s->m, s->now, cls, -1);
    }
    metrics_send(s->m, s->now, cls, r->cr.attempts > 1);
    r->first_token_us = -1;
    struct provider_decision d;
    provider_submit(s->pv, s->now, r->prompt_tokens, r->cr.max_tokens, r->output_tokens, r, &d);
    switch (d.kind) {
    case PROVIDER_ACCEPTED:
        r->prov_id = d.id;
        if (r->cr.deadline_us != TIME_NEVER)
            dlheap_push(&s->dl, (struct dlheap_ent){r->cr.deadline_us, r->idx, r->gen,
                                                    r->cr.attempts});
        break;
    case PROVIDER_RATE_LIMITED:
        s->st.server_429[d.reason]++;
        answer(s, r, s->now, d.status, &d.rl, -1, -1);
        break;
    case PROVIDER_OVERLOADED:
        s->st.server_503++;
        answer(s, r, s->now, d.status, &d.rl, -1, -1);
        break;
    default:
        s->st.server_faults++;
        answer(s, r, s->now, d.status, &d.rl, -1, -1);
        break;
    }
}

/* In flight past its deadline: the engine aborts it; the client records the timeout. */
static void expire_deadlines(sim *s)
{
    while (next_deadline(s) <= s->now) {
        struct sreq *r = slot(s, dlheap_pop(&s->dl).idx); /* gone: not stale, no leave_provider */
        provider_cancel(s->pv, r->prov_id, s->now);
        r->prov_id = 0;
        metrics_answer(s->m, s->now, r->cr.class_idx, -1, false);
        client_on_response(s->cl, &r->cr, s->now, 0, NULL, -1, -1);
        s->client_dirty = true;
    }
}

/* Let the client send what it can at now, and learn when to ask it again. */
static void service(sim *s)
{
    const int max = (int)(sizeof s->out / sizeof s->out[0]);
    int64_t w;
    for (;;) {
        bool progressed = s->blk_head && unblock(s);
        s->answered_now = false;
        int n = client_poll(s->cl, s->now, s->out, max);
        for (int i = 0; i < n; i++)
            send_attempt(s, req_of(s->out[i]));
        /* A full batch, a request handed over, or an immediate answer (429, fault) that
         * freed a slot: there may be more to send at this same moment. */
        if (n == max || progressed || s->answered_now)
            continue;
        w = client_next_wakeup(s->cl);
        if (w > s->now)
            break;
        if (n == 0) {
            /* The client says "now" yet has nothing: ask again at the next µs. */
            s->st.spin_guards++;
            w = s->now + 1;
            break;
        }
    }
    s->client_wake_us = w;
    s->client_dirty = false;
}

/* ---- the loop -------------------------------------------------------------- */

#ifndef NDEBUG
/* The metrics' gauges mirror the client's own after every service pass. */
static bool gauges_agree(const sim *s)
{
    for (int i = 0; i < s->n_classes; i++) {
        struct client_stats st;
        client_stats(s->cl, i, &st);
        if (st.depth != metrics_queue_depth(s->m, i) || st.in_flight != metrics_inflight(s->m, i)) {
            fprintf(stderr,
                    "sim: at %lld us class %d: client depth %lld in flight %lld, "
                    "metrics depth %lld in flight %lld\n",
                    (long long)s->now, i, (long long)st.depth, (long long)st.in_flight,
                    (long long)metrics_queue_depth(s->m, i), (long long)metrics_inflight(s->m, i));
            return false;
        }
    }
    return true;
}
#endif

static void handle(sim *s, uint64_t d)
{
    uint32_t idx = EV_IDX(d);
    switch (EV_KIND(d)) {
    case EV_ARRIVAL:
        arrive(s, (int)idx, s->cls[idx].next_arrival_us, -1);
        break;
    case EV_USER:
        arrive(s, (int)idx, s->now, EV_GEN(d));
        break;
    case EV_REQUEUE: {
        struct sreq *r = slot(s, idx);
        /* Still waiting (in backoff, or already moved into the queue by a poll at this same
         * moment), not yet counted, and this event is for its current retry. */
        if ((r->gen & 0xfffffff) == EV_GEN(d) && !r->in_queue && r->cr.retry_at_us == s->now &&
            (r->cr.state == CLIENT_BACKOFF || r->cr.state == CLIENT_QUEUED)) {
            r->in_queue = true;
            metrics_queue(s->m, s->now, r->cr.class_idx, +1);
        }
        break;
    }
    }
}

static void cancel_all(sim *s)
{
    client_cancel_all(s->cl, s->now);
    while (s->blk_head)
        finish(s, blocked_pop(s), OUTCOME_CANCELLED, s->now);
    for (int i = 0; i < s->n_classes; i++)
        s->cls[i].next_arrival_us = TIME_NEVER;
    evheap_clear(&s->heap);
}

static void end_run(sim *s, int64_t end)
{
    if (end < s->sc->duration_us)
        end = s->sc->duration_us;
    s->end_us = end;
    metrics_finish(s->m, end);
    s->done = true;
}

int sim_run(sim *s, int64_t max_events)
{
    if (s->done)
        return 1;
    for (int64_t k = 0; max_events <= 0 || k < max_events; k++) {
        int64_t th = evheap_next_time(&s->heap);
        int64_t tp = provider_next_event_us(s->pv);
        int64_t td = next_deadline(s);
        int64_t t = s->client_wake_us;
        if (th < t)
            t = th;
        if (tp < t)
            t = tp;
        if (td < t)
            t = td;
        if (s->alive == 0 && evheap_size(&s->heap) == 0) {
            /* Nothing in the system and nothing left to arrive: the run is over now, even
             * if the client would still wake up (a bucket refilling for nobody). */
            end_run(s, s->now);
            return 1;
        }
        if (t == TIME_NEVER && s->cancel_at_us == TIME_NEVER) {
            /* Requests remain but nothing will ever move them (a client that waits for an
             * answer that cannot come): cancel them rather than hang, and count it. */
            s->st.stuck += s->alive;
            cancel_all(s);
            end_run(s, s->now);
            return 1;
        }
        if (t > s->cancel_at_us) {
            /* Past the end (cancel), or the drain limit: everything still open is cancelled. */
            if (s->cancel_at_us > s->now)
                s->now = s->cancel_at_us;
            if (s->alive)
                cancel_all(s);
            end_run(s, s->now);
            return 1;
        }
        assert(t >= s->now);
        s->now = t;
        s->st.steps++;
        if (tp == t)
            provider_advance(s->pv, t, on_provider, s);
        if (td == t)
            expire_deadlines(s);
        struct evheap_event e;
        while (evheap_next_time(&s->heap) == t && evheap_pop(&s->heap, &e)) {
            s->st.heap_events++;
            handle(s, e.data);
        }
        /* The client changes only when handed something or when its own time comes; a
         * step with neither (a first token, a requeue) needs no poll. */
        if (s->client_dirty || t >= s->client_wake_us || s->blk_head)
            service(s);
        assert(gauges_agree(s));
        if (evheap_size(&s->heap) > (size_t)s->st.heap_peak)
            s->st.heap_peak = (int64_t)evheap_size(&s->heap);
    }
    return 0;
}

/* ---- setup ----------------------------------------------------------------- */

sim *sim_new(const struct scenario *sc, int *err)
{
    if (sc->n_classes < 1) {
        *err = -EINVAL;
        return NULL;
    }
    sim *s = xcalloc(1, sizeof *s);
    s->sc = sc;
    s->n_classes = sc->n_classes;
    rng_seed(&s->rng, sc->seed);
    /* Fixed split order: client, provider, then classes in scenario order. */
    rng_split(&s->rng, &s->client_rng);
    struct client_callbacks cb = {on_terminal, on_event, s};
    s->cl = client_new_from_scenario(sc, &s->client_rng, &cb, 0, err);
    if (!s->cl) {
        free(s);
        return NULL;
    }
    s->pv = provider_new(&sc->server, &s->rng);
    /* TTFT comes from the DONE event (first_token_us), and only an adaptive client reads
     * the rate-limit state of a 200: skip the rest, a large share of the hot path. */
    provider_set_wants(s->pv, sc->client.adaptive ? PROVIDER_WANT_RLINFO : 0);
    s->m = metrics_new(sc->n_classes, sc->window_us > 0 ? sc->window_us : US_PER_S);
    evheap_init(&s->heap, 64);
    dlheap_init(&s->dl, dl_live, s);
    s->cls = xcalloc((size_t)sc->n_classes, sizeof *s->cls);
    for (int i = 0; i < sc->n_classes; i++) {
        struct class_state *c = &s->cls[i];
        c->w = workload_new(&sc->classes[i], sc->duration_us, &s->rng);
        c->closed = workload_is_closed(c->w);
    }
    /* First arrivals: one pending event per open class, one per closed-loop user. */
    for (int i = 0; i < sc->n_classes; i++) {
        struct class_state *c = &s->cls[i];
        if (c->closed) {
            int64_t users = workload_users(c->w);
            for (int64_t u = 0; u < users; u++) {
                int64_t t = workload_user_start(c->w, u);
                if (t != TIME_NEVER)
                    evheap_push(&s->heap, t, EV_PACK(EV_USER, u, i));
            }
        } else {
            schedule_arrival(s, i);
        }
    }
    s->client_wake_us = client_next_wakeup(s->cl);
    if (sc->at_end == END_CANCEL)
        s->cancel_at_us = sc->duration_us;
    else if (sc->drain_limit_us > 0)
        s->cancel_at_us = sc->duration_us + sc->drain_limit_us;
    else
        s->cancel_at_us = TIME_NEVER;
    s->end_us = -1;
    *err = 0;
    return s;
}

void sim_free(sim *s)
{
    if (!s)
        return;
    client_free(s->cl);
    provider_free(s->pv);
    metrics_free(s->m);
    evheap_fini(&s->heap);
    for (int i = 0; i < s->n_classes; i++)
        workload_free(s->cls[i].w);
    free(s->cls);
    dlheap_fini(&s->dl);
    for (uint32_t i = 0; i < s->n_chunks; i++)
        free(s->chunks[i]);
    free(s->chunks);
    free(s);
}

void sim_set_window_sink(sim *s, metrics_sink sink, void *ctx)
{
    metrics_set_sink(s->m, sink, ctx);
}

int64_t sim_now(const sim *s)
{
    return s->now;
}

int64_t sim_end_us(const sim *s)
{
    return s->end_us;
}

const metrics *sim_metrics(const sim *s)
{
    return s->m;
}

void sim_stats(const sim *s, struct sim_stats *out)
{
    *out = s->st;
}
