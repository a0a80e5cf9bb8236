#include "config.h"

#include "client.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>

#include "cqueue.h"
#include "limiter.h"
#include "retry.h"
#include "rng.h"
#include "util.h"

/* HOL_SKIP looks at most this many queued requests past a refused head per poll
 * step: smaller requests may pass, but a deep queue never costs O(depth). */
#define SKIP_SCAN_MAX 64

/* Stride scheduling for PRIORITY_WEIGHTED: a class's pass advances by STRIDE1/weight. */
#define STRIDE1 (1ULL << 32)

/*
 * One class. Invariant: st.depth == length(main) + length(retry); a request is
 * in exactly one of: a class list (QUEUED), the retry heap (BACKOFF), the
 * in-flight list (INFLIGHT).
 */
struct cls {
    struct client_class cfg;
    struct cq_list main;  /* new requests, submit order */
    struct cq_list retry; /* retries whose backoff ended, in due order */
    uint64_t pass;        /* WEIGHTED: virtual finish time of its next send */
    uint64_t stride;      /* WEIGHTED: STRIDE1 / weight */
    struct client_stats st;
};

struct client {
    struct client_config cfg;
    struct limiter *lim; /* admits through this: &own, or a shared one (client_share_limiter) */
    struct limiter own;  /* the client's own limiter */
    struct retry_budget budget;
    struct rng *rng;
    struct client_callbacks cb;
    unsigned events; /* bit (1u << ev): on_event is called for ev (none without on_event) */
    struct cls cls[SCENARIO_MAX_CLASSES];
    int n_classes;
    uint64_t seq;      /* last submit sequence */
    uint64_t sent_seq; /* last send sequence */
    int64_t depth;     /* queued over all classes */
    struct cq_list inflight;
    struct client_req *deadlines; /* pairing heap of queued requests by deadline */
    struct client_req *retries;   /* pairing heap of BACKOFF requests by retry time */
    int64_t poll_at_us;           /* poll can do something at this time (besides the heaps) */
    int64_t now_us;               /* latest now seen */
    bool producer_blocked;        /* a CLIENT_BLOCKED submit waits for room */
    uint64_t vtime;               /* WEIGHTED: pass of the class served last */
    /* adaptive */
    int64_t cwnd;         /* AIMD concurrency window, 0 = not engaged */
    int64_t cwnd_acked;   /* successes since the window last grew */
    uint64_t recover_seq; /* 429s of requests sent before this do not shrink again */
    /* a backend (client_set_backend); has_be false = admissions through *lim */
    bool has_be;
    struct client_backend be;
    bool pending;              /* an admit() answered CLIENT_PENDING; no answer yet */
    bool answered;             /* the answer came, for `asked`: the next poll takes it */
    struct client_req *asked;  /* the request the backend was asked about; NULL = it ended */
    int64_t asked_cost;        /* its cost, to hand back an admission it can no longer use */
    int64_t asked_at_us;       /* when it was asked */
    int answer_rc;             /* answered: LIMITER_OK, LIMITER_WAIT, LIMITER_BUSY or -E2BIG */
    int64_t answer_wait_us;    /* answered LIMITER_WAIT: when to ask again, µs */
    uint64_t answer_ticket;    /* answered LIMITER_OK: the backend's ticket */
};

#ifndef NDEBUG
/* The invariants above, in O(classes), for assert() only. */
static bool client_ok(const client *c)
{
    int64_t depth = 0, flight = 0, backoff = 0;
    for (int i = 0; i < c->n_classes; i++) {
        const struct cls *k = &c->cls[i];
        if (k->st.depth < 0 || k->st.backoff < 0 || k->st.in_flight < 0)
            return false;
        if ((k->st.depth == 0) != (!k->main.head && !k->retry.head))
            return false;
        depth += k->st.depth;
        flight += k->st.in_flight;
        backoff += k->st.backoff;
    }
    /* a shared limiter also holds other clients' slots; a backend keeps its own count */
    bool pool_ok = c->has_be || (c->lim == &c->own ? flight == c->lim->in_flight
                                                   : flight <= c->lim->in_flight);
    if (c->answered && !c->asked)
        return false; /* an answer for a request that ended is handled at once */
    return depth == c->depth && pool_ok && (!c->retries) == (backoff == 0) &&
           (!c->inflight.head) == (flight == 0);
}
#endif

static inline int64_t min64(int64_t a, int64_t b)
{
    return a < b ? a : b;
}

static inline int64_t sat_add(int64_t a, int64_t b)
{
    return b > 0 && a > TIME_NEVER - b ? TIME_NEVER : a + b;
}

/* ---- lifecycle ------------------------------------------------------------ */

void client_req_init(struct client_req *r, int class_idx, int64_t arrival_us, int64_t prompt_tokens,
                     int64_t max_tokens)
{
    /* Field by field (the engine's hot path; a whole-struct zeroing showed in profiles). */
    r->attempts = 0;
    r->cost_tokens = 0;
    r->ready_us = r->prev_delay_us = 0;
    r->seq = r->sent_seq = 0;
    r->prev = r->next = NULL;
    r->hp_child = r->hp_sib = r->hp_prev = NULL;
    r->hp_key = 0;
    r->ticket = 0;
    r->throttled = false;
    r->class_idx = class_idx;
    r->arrival_us = arrival_us;
    r->prompt_tokens = prompt_tokens;
    r->max_tokens = max_tokens;
    r->state = CLIENT_NEW;
    r->reason = CLIENT_REASON_NONE;
    r->last_status = -1;
    r->deadline_us = TIME_NEVER;
    r->retry_at_us = TIME_NEVER;
}

client *client_new(const struct client_config *cfg, const struct client_class *classes,
                   int n_classes, struct rng *rng, const struct client_callbacks *cb,
                   int64_t now_us, int *err)
{
    int dummy;
    if (!err)
        err = &dummy;
    *err = -EINVAL;
    if (!cfg || !classes || !rng || !cb || !cb->on_terminal || n_classes < 1 ||
        n_classes > SCENARIO_MAX_CLASSES)
        return NULL;
    if (cfg->queue_capacity < 0 || cfg->aging_us < 0 || cfg->request_timeout_us < 0 ||
        cfg->retry.base_delay_us < 0 || cfg->retry.max_delay_us < 0 ||
        cfg->retry.budget_ratio < 0 || cfg->retry.budget_window_us < 0 || cfg->burst_us < 0)
        return NULL;
    for (int i = 0; i < n_classes; i++)
        if (classes[i].weight < 0 || classes[i].timeout_us < 0 || classes[i].priority < 0)
            return NULL;
    client *c = xcalloc(1, sizeof *c);
    if (limiter_init_burst(&c->own, cfg->requests_per_minute, cfg->tokens_per_minute,
                           cfg->tokens_per_day, cfg->max_concurrent, cfg->burst_us, now_us)) {
        free(c);
        return NULL;
    }
    c->lim = &c->own;
    c->cfg = *cfg;
    if (c->cfg.retry.max_attempts < 1)
        c->cfg.retry.max_attempts = 1;
    retry_budget_init(&c->budget, cfg->retry.budget_ratio, cfg->retry.budget_min_retries,
                      cfg->retry.budget_window_us, now_us);
    c->rng = rng;
    c->cb = *cb;
    c->events = cb->on_event ? ~0u : 0;
    c->n_classes = n_classes;
    for (int i = 0; i < n_classes; i++) {
        c->cls[i].cfg = classes[i];
        if (c->cls[i].cfg.timeout_us == 0)
            c->cls[i].cfg.timeout_us = cfg->request_timeout_us;
        int w = classes[i].weight > 0 ? classes[i].weight : 1;
        c->cls[i].stride = STRIDE1 / (uint64_t)w;
    }
    c->poll_at_us = TIME_NEVER;
    c->now_us = now_us;
    *err = 0;
    return c;
}

client *client_new_from_scenario(const struct scenario *sc, struct rng *rng,
                                 const struct client_callbacks *cb, int64_t now_us, int *err)
{
    struct client_class cl[SCENARIO_MAX_CLASSES];
    int n = sc->n_classes;
    if (n < 1) { /* no classes: one default class */
        cl[0] = (struct client_class){.priority = 0, .weight = 1, .timeout_us = 0};
        n = 1;
    }
    for (int i = 0; i < sc->n_classes; i++) {
        cl[i].priority = sc->classes[i].priority;
        cl[i].weight = sc->classes[i].weight;
        cl[i].timeout_us = scenario_class_timeout_us(sc, i);
    }
    return client_new(&sc->client, cl, n, rng, cb, now_us, err);
}

void client_free(client *c)
{
    if (!c)
        return;
    limiter_fini(&c->own);
    free(c);
}

static void event(client *c, struct client_req *r, enum client_event ev, int64_t now)
{
    if (c->events >> ev & 1u)
        c->cb.on_event(c->cb.ctx, r, ev, now);
}

/* The one exit of every request. The request is not touched after the callback. */
static void terminal(client *c, struct client_req *r, enum client_state s, enum client_reason why,
                     int64_t now)
{
    assert(s >= CLIENT_SUCCEEDED && s <= CLIENT_CANCELLED);
    assert(r->state < CLIENT_SUCCEEDED);
    r->state = s;
    r->reason = why;
    c->cls[r->class_idx].st.terminal[s - CLIENT_SUCCEEDED]++;
    c->cb.on_terminal(c->cb.ctx, r, s, r->last_status, now);
}

/* Enter the queue (first time or after a backoff). */
static void enqueue(client *c, struct client_req *r, bool is_retry, int64_t ready_us)
{
    struct cls *k = &c->cls[r->class_idx];
    if (k->st.depth == 0 && c->cfg.priority == PRIORITY_WEIGHTED && k->pass < c->vtime)
        k->pass = c->vtime; /* an idle class banks no credit */
    r->state = CLIENT_QUEUED;
    r->ready_us = ready_us;
    r->throttled = false;
    cq_list_push(is_retry ? &k->retry : &k->main, r);
    if (r->deadline_us != TIME_NEVER)
        cq_heap_insert(&c->deadlines, r, r->deadline_us);
    k->st.depth++;
    c->depth++;
}

/*
 * The request a backend was asked about leaves the queue another way (deadline, cancel, or
 * sent on its admission): an admission that came for it and is not used goes straight back.
 */
static void forget_asked(client *c, int64_t now)
{
    if (c->answered && c->answer_rc == LIMITER_OK)
        c->be.done(c->be.ctx, c->answer_ticket, now, c->asked_cost, 0);
    c->answered = false;
    c->asked = NULL;
}

/* Leave the queue (sent, timed out or cancelled). */
/*
 * r leaves the queue at now. It counts as throttled when it left later than it
 * entered: by left_us, the moment our limiter let it go (now, except for an
 * admission a backend granted at the first ask, whose round trip is not a delay).
 */
static void dequeue_at(client *c, struct client_req *r, int64_t now, int64_t left_us)
{
    struct cls *k = &c->cls[r->class_idx];
    cq_list_remove(r->attempts > 0 ? &k->retry : &k->main, r); /* retries carry attempts */
    if (r->deadline_us != TIME_NEVER)
        cq_heap_remove(&c->deadlines, r);
    k->st.depth--;
    c->depth--;
    if (r == c->asked)
        forget_asked(c, now);
    if (left_us > r->ready_us && !r->throttled) {
        r->throttled = true;
        k->st.throttled++;
        event(c, r, CLIENT_EV_THROTTLED, now);
    }
    event(c, r, CLIENT_EV_DEQUEUED, now);
}

static void dequeue(client *c, struct client_req *r, int64_t now)
{
    dequeue_at(c, r, now, now);
}

static bool queue_full(const client *c)
{
    return c->cfg.queue_capacity > 0 && c->depth >= c->cfg.queue_capacity;
}

bool client_has_room(const client *c)
{
    return !queue_full(c);
}

static void maybe_room(client *c, int64_t now)
{
    if (c->producer_blocked && !queue_full(c)) {
        c->producer_blocked = false;
        event(c, NULL, CLIENT_EV_ROOM, now);
    }
}

int client_submit(client *c, struct client_req *r, int64_t now)
{
    assert(c && r && r->state == CLIENT_NEW);
    assert(r->class_idx >= 0 && r->class_idx < c->n_classes);
    assert(now >= c->now_us);
    c->now_us = now;
    struct cls *k = &c->cls[r->class_idx];
    int64_t p = r->prompt_tokens > 0 ? r->prompt_tokens : 0;
    int64_t m = r->max_tokens > 0 ? r->max_tokens : 0;
    int64_t cost = c->cfg.estimate == ESTIMATE_PROMPT_ONLY ? p : sat_add(p, m);
    bool fits = c->has_be ? c->be.fits(c->be.ctx, cost) : limiter_fits(c->lim, cost);
    if (fits && queue_full(c) && c->cfg.queue_full == QUEUE_FULL_BLOCK) {
        c->producer_blocked = true;
        return CLIENT_BLOCKED; /* nothing of the request was touched */
    }
    r->seq = ++c->seq;
    r->attempts = 0;
    r->last_status = -1;
    r->prev_delay_us = 0;
    r->cost_tokens = cost;
    r->deadline_us = k->cfg.timeout_us > 0 ? sat_add(r->arrival_us, k->cfg.timeout_us) : TIME_NEVER;
    k->st.submitted++;
    if (!fits) { /* rejected at once even when producers block: waiting cannot help */
        terminal(c, r, CLIENT_REJECTED, CLIENT_REASON_TOO_LARGE, now);
        return 0;
    }
    if (queue_full(c)) {
        terminal(c, r, CLIENT_REJECTED, CLIENT_REASON_QUEUE_FULL, now);
        return 0;
    }
    enqueue(c, r, false, now);
    assert(client_ok(c));
    k->st.queued++;
    event(c, r, CLIENT_EV_QUEUED, now);
    c->poll_at_us = min64(c->poll_at_us, now);
    return 0;
}

/* ---- choosing who goes next ------------------------------------------------ */

/* The class's candidate: the older (by submit order) of its two list heads. */
static struct client_req *class_head(const struct cls *k)
{
    struct client_req *a = k->retry.head, *b = k->main.head;
    if (!a)
        return b;
    if (!b)
        return a;
    return a->seq < b->seq ? a : b;
}

/* Sort key of a class for the policy: smaller goes first. */
struct key {
    uint64_t major;
    uint64_t minor;
    uint64_t seq;
};

static struct key class_key(const client *c, const struct cls *k, const struct client_req *h,
                            int64_t now)
{
    struct key key = {0, 0, h->seq};
    switch (c->cfg.priority) {
    case PRIORITY_FIFO:
        break;
    case PRIORITY_STRICT:
        key.major = (uint64_t)k->cfg.priority;
        break;
    case PRIORITY_AGING: {
        /* rises one level per aging_us waited since its arrival */
        int64_t prio = k->cfg.priority;
        if (c->cfg.aging_us > 0 && now > h->arrival_us)
            prio -= (now - h->arrival_us) / c->cfg.aging_us;
        key.major = prio > 0 ? (uint64_t)prio : 0;
        break;
    }
    case PRIORITY_WEIGHTED:
        key.major = k->pass;
        key.minor = (uint64_t)k->cfg.priority;
        break;
    }
    return key;
}

static bool key_less(struct key a, struct key b)
{
    if (a.major != b.major)
        return a.major < b.major;
    if (a.minor != b.minor)
        return a.minor < b.minor;
    return a.seq < b.seq;
}

/* Classes with queued requests, in policy order. Returns how many. */
static int class_order(const client *c, int64_t now, int *order)
{
    struct key keys[SCENARIO_MAX_CLASSES];
    int n = 0;
    for (int i = 0; i < c->n_classes; i++) {
        const struct cls *k = &c->cls[i];
        if (!k->st.depth)
            continue;
        struct key key = class_key(c, k, class_head(k), now);
        int j = n++;
        while (j > 0 && key_less(key, keys[j - 1])) { /* insertion sort: n <= 32 */
            keys[j] = keys[j - 1];
            order[j] = order[j - 1];
            j--;
        }
        keys[j] = key;
        order[j] = i;
    }
    return n;
}

static struct client_req *best(const client *c, int64_t now)
{
    if (c->n_classes == 1) /* no choice to weigh: no keys */
        return c->cls[0].st.depth ? class_head(&c->cls[0]) : NULL;
    struct client_req *best_r = NULL;
    struct key best_k = {0};
    for (int i = 0; i < c->n_classes; i++) {
        const struct cls *k = &c->cls[i];
        if (!k->st.depth)
            continue;
        struct client_req *h = class_head(k);
        struct key key = class_key(c, k, h, now);
        if (!best_r || key_less(key, best_k)) {
            best_r = h;
            best_k = key;
        }
    }
    return best_r;
}

/*
 * HOL_BLOCK under aging: the head waits for tokens, but a smaller request of
 * another class may become the head when it rises a level, and might fit
 * sooner. The next such promotion is a moment poll must not miss.
 */
static int64_t next_promotion(client *c, int64_t now, const struct client_req *head)
{
    int64_t t = TIME_NEVER, w;
    if (c->cfg.priority != PRIORITY_AGING || c->cfg.aging_us <= 0 || c->has_be ||
        limiter_peek(c->lim, now, 0, &w) != LIMITER_OK)
        return TIME_NEVER; /* no aging, or the wait is not about size */
    for (int i = 0; i < c->n_classes; i++) {
        const struct cls *k = &c->cls[i];
        if (!k->st.depth)
            continue;
        const struct client_req *h = class_head(k);
        if (h == head || h->cost_tokens >= head->cost_tokens)
            continue;
        int64_t waited = now > h->arrival_us ? now - h->arrival_us : 0;
        int64_t levels = waited / c->cfg.aging_us;
        if (k->cfg.priority - levels <= 0)
            continue; /* already as high as it gets */
        t = min64(t, sat_add(h->arrival_us, (levels + 1) * c->cfg.aging_us));
    }
    return t;
}

/* Admitted by the limiter: hand it out. */
static void send_at(client *c, struct client_req *r, int64_t now, int64_t left_us)
{
    struct cls *k = &c->cls[r->class_idx];
    dequeue_at(c, r, now, left_us);
    if (c->cfg.priority == PRIORITY_WEIGHTED) {
        c->vtime = k->pass;
        k->pass += k->stride;
    }
    r->state = CLIENT_INFLIGHT;
    r->attempts++;
    r->sent_seq = ++c->sent_seq;
    cq_list_push(&c->inflight, r);
    k->st.in_flight++;
    k->st.sent++;
    if (r->attempts == 1)
        retry_budget_first(&c->budget, now);
    event(c, r, CLIENT_EV_SENT, now);
}

static void send(client *c, struct client_req *r, int64_t now)
{
    send_at(c, r, now, now);
}

/*
 * HOL_SKIP: the policy's head was refused for its size; find a smaller queued
 * request that fits now. Returns it (admitted and charged), or NULL.
 */
static struct client_req *skip_scan(client *c, int64_t now, int64_t blocked_cost)
{
    int64_t w;
    if (c->has_be || limiter_peek(c->lim, now, 0, &w) != LIMITER_OK)
        return NULL; /* a backend (a look is a round trip), or requests dimension, pause or
                        pool: nothing can pass */
    int order[SCENARIO_MAX_CLASSES];
    int n = class_order(c, now, order), looked = 0;
    for (int i = 0; i < n; i++) {
        struct cls *k = &c->cls[order[i]];
        struct cq_list *lists[2] = {&k->retry, &k->main};
        for (int j = 0; j < 2; j++) {
            for (struct client_req *r = lists[j]->head; r; r = r->next) {
                if (++looked > SKIP_SCAN_MAX)
                    return NULL;
                if (r->cost_tokens >= blocked_cost)
                    continue;
                int rc = limiter_try(c->lim, now, r->cost_tokens, &w);
                if (rc == LIMITER_OK)
                    return r;
                if (rc != LIMITER_WAIT)
                    return NULL;
                blocked_cost = r->cost_tokens;
                c->poll_at_us = min64(c->poll_at_us, w);
            }
        }
    }
    return NULL;
}

int client_poll(client *c, int64_t now, struct client_req **out, int max)
{
    assert(c && (out || max == 0));
    assert(now >= c->now_us);
    c->now_us = now;
    /* retries whose time has come re-enter the queue, in due order */
    while (c->retries && c->retries->hp_key <= now) {
        struct client_req *r = c->retries;
        cq_heap_remove(&c->retries, r);
        c->cls[r->class_idx].st.backoff--;
        enqueue(c, r, true, r->retry_at_us);
        event(c, r, CLIENT_EV_REQUEUED, now);
    }
    /* queued requests past their deadline */
    while (c->deadlines && c->deadlines->hp_key <= now) {
        struct client_req *r = c->deadlines;
        dequeue(c, r, now);
        terminal(c, r, CLIENT_TIMED_OUT, CLIENT_REASON_DEADLINE, now);
    }
    c->poll_at_us = TIME_NEVER;
    int n = 0;
    while (c->depth > 0) {
        if (n == max) {
            c->poll_at_us = now;
            break;
        }
        struct client_req *r;
        int64_t w, left = now;
        int rc;
        if (!c->has_be) { /* the default: the in-process limiter, called directly */
            r = best(c, now);
            rc = limiter_try(c->lim, now, r->cost_tokens, &w);
        } else if (c->answered) { /* the backend's answer about the request asked for */
            r = c->asked;
            rc = c->answer_rc;
            w = c->answer_wait_us;
            r->ticket = c->answer_ticket;
            if (c->asked_at_us <= r->ready_us) /* granted at the first ask: no delay */
                left = r->ready_us;
            c->answered = false;
            c->asked = NULL;
        } else if (c->pending) {
            break; /* the answer will wake us */
        } else {
            r = best(c, now);
            rc = c->be.admit(c->be.ctx, now, r->cost_tokens, &w, &r->ticket);
            if (rc == CLIENT_PENDING) {
                c->pending = true;
                c->asked = r;
                c->asked_cost = r->cost_tokens;
                c->asked_at_us = now;
                break;
            }
        }
        if (rc == LIMITER_OK) {
            send_at(c, r, now, left);
            out[n++] = r;
            continue;
        }
        if (rc == -E2BIG) { /* only a backend says so here: submit checked fits */
            dequeue(c, r, now);
            terminal(c, r, CLIENT_REJECTED, CLIENT_REASON_TOO_LARGE, now);
            continue;
        }
        if (rc != LIMITER_WAIT)
            break; /* pool full: an answer will free a slot */
        c->poll_at_us = min64(c->poll_at_us, w);
        if (c->cfg.head_of_line == HOL_BLOCK) {
            c->poll_at_us = min64(c->poll_at_us, next_promotion(c, now, r));
            break;
        }
        struct client_req *s = skip_scan(c, now, r->cost_tokens);
        if (!s)
            break;
        send(c, s, now);
        out[n++] = s;
        c->poll_at_us = TIME_NEVER; /* waits seen so far are stale: the next pass redoes them */
    }
    maybe_room(c, now);
    assert(client_ok(c));
    return n;
}

int64_t client_next_wakeup(const client *c)
{
    int64_t t = c->poll_at_us;
    if (c->retries)
        t = min64(t, c->retries->hp_key);
    if (c->deadlines)
        t = min64(t, c->deadlines->hp_key);
    return t;
}

/* ---- answers ------------------------------------------------------------- */

/* Server feedback in adaptive mode: never believe we have more than it says. */
static void adapt_dimension(client *c, struct limiter_bucket *b, int64_t now, int64_t limit,
                            int64_t remaining, int64_t reset_us)
{
    if (remaining < 0)
        return;
    limiter_bucket_clamp(b, now, remaining);
    if (remaining == 0 && reset_us > 0) {
        /* Providers refill continuously: one unit is back after reset/limit
         * (reset is the time to full). Without a limit, wait the whole reset. */
        int64_t one = limit > 0 ? (reset_us + limit - 1) / limit : reset_us;
        limiter_pause(c->lim, sat_add(now, one));
    }
}

static void adapt(client *c, struct client_req *r, int64_t now, int status,
                  const struct rlinfo *info)
{
    if (info) {
        adapt_dimension(c, &c->lim->rpm, now, info->limit_requests, info->remaining_requests,
                        info->reset_requests_us);
        adapt_dimension(c, &c->lim->tpm, now, info->limit_tokens, info->remaining_tokens,
                        info->reset_tokens_us);
        if (status == 429 && info->retry_after_us > 0)
            limiter_pause(c->lim, sat_add(now, info->retry_after_us));
    }
    /* AIMD on the concurrency window: halve once per round trip on 429, +1 per window of successes
     */
    if (status == 429) {
        if (r->sent_seq > c->recover_seq) {
            /* the window in force: ours, else the configured pool, else what was in flight */
            int64_t base = c->cwnd              ? c->cwnd
                           : c->lim->conc_limit ? c->lim->conc_limit
                                                : c->lim->in_flight + 1;
            c->cwnd = base / 2 > 1 ? base / 2 : 1;
            c->cwnd_acked = 0;
            c->recover_seq = c->sent_seq;
            limiter_set_concurrency(c->lim, c->cwnd);
        }
    } else if (status >= 200 && status < 300 && c->cwnd) {
        if (++c->cwnd_acked >= c->cwnd) {
            c->cwnd_acked = 0;
            c->cwnd++;
            if (c->cfg.max_concurrent && c->cwnd >= c->cfg.max_concurrent)
                c->cwnd = 0; /* fully recovered: back to the configured pool */
            limiter_set_concurrency(c->lim, c->cwnd);
        }
    }
}

/* Out of flight: its slot is freed, its tokens reconciled to actual (-1: keep the charge). */
static void leave_flight(client *c, struct client_req *r, int64_t now, int64_t actual)
{
    cq_list_remove(&c->inflight, r);
    c->cls[r->class_idx].st.in_flight--;
    if (c->has_be) {
        c->be.done(c->be.ctx, r->ticket, now, r->cost_tokens, actual);
        return;
    }
    limiter_release(c->lim);
    if (actual >= 0)
        limiter_reconcile(c->lim, now, r->cost_tokens, actual);
}

int client_on_response(client *c, struct client_req *r, int64_t now, int status,
                       const struct rlinfo *info, int64_t prompt_used, int64_t completion_used)
{
    assert(c && r && r->state == CLIENT_INFLIGHT);
    assert(now >= c->now_us);
    c->now_us = now;
    struct cls *k = &c->cls[r->class_idx];
    int64_t actual = -1; /* unknown usage keeps the reservation */
    if (prompt_used >= 0 || completion_used >= 0)
        actual = (prompt_used > 0 ? prompt_used : 0) + (completion_used > 0 ? completion_used : 0);
    else if (status == 429)
        actual = 0; /* rejected unprocessed */
    leave_flight(c, r, now, actual);
    r->last_status = status;
    if (status == 429) {
        k->st.rate_limited++;
        event(c, r, CLIENT_EV_RATE_LIMITED, now);
    }
    if (c->cfg.adaptive)
        adapt(c, r, now, status, info);
    if (c->depth > 0)
        c->poll_at_us = min64(c->poll_at_us, now); /* a slot is free, tokens may be back */
    maybe_room(c, now);

    switch (retry_classify(status, info ? info->should_retry : -1)) {
    case RETRY_SUCCESS:
        terminal(c, r, CLIENT_SUCCEEDED, CLIENT_REASON_NONE, now);
        return CLIENT_DONE;
    case RETRY_FAIL:
        terminal(c, r, CLIENT_FAILED, CLIENT_REASON_NOT_RETRYABLE, now);
        return CLIENT_DONE;
    case RETRY_RETRY:
        break;
    }
    if (now >= r->deadline_us) {
        terminal(c, r, CLIENT_TIMED_OUT, CLIENT_REASON_DEADLINE, now);
        return CLIENT_DONE;
    }
    if (r->attempts >= c->cfg.retry.max_attempts) {
        terminal(c, r, CLIENT_FAILED, CLIENT_REASON_ATTEMPTS, now);
        return CLIENT_DONE;
    }
    int64_t t =
        sat_add(now, retry_backoff_us(&c->cfg.retry, r->attempts, &r->prev_delay_us, c->rng));
    if (c->cfg.retry.honor_retry_after && info && info->retry_after_us >= 0)
        t = t > sat_add(now, info->retry_after_us) ? t : sat_add(now, info->retry_after_us);
    if (t >= r->deadline_us) {
        /* it could only go after its deadline: end it now, not at the deadline */
        terminal(c, r, CLIENT_TIMED_OUT, CLIENT_REASON_DEADLINE, now);
        return CLIENT_DONE;
    }
    if (!retry_budget_take(&c->budget, now)) {
        k->st.budget_denied++;
        terminal(c, r, CLIENT_FAILED, CLIENT_REASON_BUDGET, now);
        return CLIENT_DONE;
    }
    r->state = CLIENT_BACKOFF;
    r->retry_at_us = t;
    cq_heap_insert(&c->retries, r, t);
    k->st.backoff++;
    k->st.retries++;
    assert(client_ok(c));
    event(c, r, CLIENT_EV_RETRY, now);
    return CLIENT_RETRY;
}

/* ---- cancelling ----------------------------------------------------------- */

void client_cancel(client *c, struct client_req *r, int64_t now)
{
    assert(c && r);
    assert(now >= c->now_us);
    c->now_us = now;
    switch (r->state) {
    case CLIENT_NEW:
        /* a producer held back by CLIENT_BLOCKED: an arrival all the same */
        assert(r->class_idx >= 0 && r->class_idx < c->n_classes);
        r->seq = ++c->seq;
        c->cls[r->class_idx].st.submitted++;
        break;
    case CLIENT_QUEUED:
        dequeue(c, r, now);
        break;
    case CLIENT_BACKOFF:
        cq_heap_remove(&c->retries, r);
        c->cls[r->class_idx].st.backoff--;
        break;
    case CLIENT_INFLIGHT:
        leave_flight(c, r, now, -1);
        if (c->depth > 0)
            c->poll_at_us = min64(c->poll_at_us, now);
        break;
    default:
        assert(!"client_cancel: request not in the client");
        return;
    }
    terminal(c, r, CLIENT_CANCELLED, CLIENT_REASON_NONE, now);
    maybe_room(c, now);
}

void client_cancel_all(client *c, int64_t now)
{
    for (int i = 0; i < c->n_classes; i++) {
        struct cls *k = &c->cls[i];
        while (k->retry.head)
            client_cancel(c, k->retry.head, now);
        while (k->main.head)
            client_cancel(c, k->main.head, now);
    }
    while (c->retries)
        client_cancel(c, c->retries, now);
    while (c->inflight.head)
        client_cancel(c, c->inflight.head, now);
}

/* ---- reading -------------------------------------------------------------- */

void client_stats(const client *c, int class_idx, struct client_stats *out)
{
    if (class_idx >= 0) {
        assert(class_idx < c->n_classes);
        *out = c->cls[class_idx].st;
        return;
    }
    *out = (struct client_stats){0};
    for (int i = 0; i < c->n_classes; i++) {
        const struct client_stats *s = &c->cls[i].st;
        out->submitted += s->submitted;
        out->queued += s->queued;
        out->throttled += s->throttled;
        out->sent += s->sent;
        out->retries += s->retries;
        out->rate_limited += s->rate_limited;
        out->budget_denied += s->budget_denied;
        for (int j = 0; j < CLIENT_N_TERMINAL; j++)
            out->terminal[j] += s->terminal[j];
        out->depth += s->depth;
        out->backoff += s->backoff;
        out->in_flight += s->in_flight;
    }
}

const struct limiter *client_limiter(const client *c)
{
    return c->lim;
}

int64_t client_concurrency(const client *c)
{
    return c->lim->conc_limit;
}

/* ---- where the admission state lives ------------------------------------------------ */

/* Nothing submitted yet: the admission state may still change hands. */
static bool untouched(const client *c)
{
    return c->seq == 0 && c->own.in_flight == 0;
}

int client_share_limiter(client *c, struct limiter *shared)
{
    assert(c && shared);
    if (!untouched(c) || c->has_be)
        return -EINVAL;
    c->lim = shared;
    return 0;
}

int client_set_backend(client *c, const struct client_backend *be)
{
    assert(c && be);
    if (!untouched(c) || c->cfg.adaptive || !be->admit || !be->done || !be->fits)
        return -EINVAL;
    c->be = *be;
    c->has_be = true;
    return 0;
}

void client_admission_answer(client *c, int64_t now, int rc, int64_t wait_until_us,
                             uint64_t ticket)
{
    assert(c && c->has_be && c->pending);
    assert(rc == LIMITER_OK || rc == LIMITER_WAIT || rc == LIMITER_BUSY || rc == -E2BIG);
    assert(now >= c->now_us);
    c->now_us = now;
    c->pending = false;
    if (!c->asked) { /* the request ended while we waited: give an admission back */
        if (rc == LIMITER_OK)
            c->be.done(c->be.ctx, ticket, now, c->asked_cost, 0);
    } else {
        c->answered = true;
        c->answer_rc = rc;
        c->answer_wait_us = wait_until_us;
        c->answer_ticket = ticket;
    }
    if (c->depth > 0)
        c->poll_at_us = min64(c->poll_at_us, now);
}

bool client_has_backend(const client *c)
{
    return c->has_be;
}

void client_set_events(client *c, unsigned events)
{
    c->events = c->cb.on_event ? events : 0;
}

bool client_admission_pending(const client *c)
{
    return c->pending;
}

void client_wake(client *c, int64_t now)
{
    if (c->depth > 0)
        c->poll_at_us = min64(c->poll_at_us, now);
}

int64_t client_retry_budget_left(const client *c, int64_t now_us)
{
    return retry_budget_left(&c->budget, now_us);
}

const char *client_state_name(enum client_state s)
{
    static const char *const names[] = {"new",    "queued",   "in_flight", "backoff",  "succeeded",
                                        "failed", "rejected", "timed_out", "cancelled"};
    return (unsigned)s < sizeof names / sizeof names[0] ? names[s] : "?";
}

const char *client_reason_name(enum client_reason r)
{
    static const char *const names[] = {"none",     "queue_full", "too_large", "not_retryable",
                                        "attempts", "budget",     "deadline"};
    return (unsigned)r < sizeof names / sizeof names[0] ? names[r] : "?";
}
