#include "config.h"

#include "provider.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "srvlimit.h"
#include "util.h"

/*
 * Requests live in a pool of slots, reused through a free list and grown by
 * doubling, so memory follows the peak number of concurrent requests, never the
 * total. A slot's id is (generation << 32) | (index + 1): a stale id from an
 * earlier occupant of the slot never matches, and no id is 0.
 *
 * Pending happenings sit in two binary heaps ordered by (time, seq): first
 * tokens, and ends (completion or a dropped stall). Keeping ends apart gives the
 * concurrency 429 its exact retry_after (the earliest end) in O(1). seq is a
 * single counter across both heaps: equal times come out in the order they were
 * scheduled, so a request's first token precedes its end.
 *
 * A cancel does not search the heaps: an entry carries its slot's generation, and
 * an entry whose slot has since been freed (or taken again) is stale. Stale entries
 * are dropped when they reach the top, so a heap's top is always live, and the
 * heap is rebuilt without them once they are more than half of it (memory stays
 * within twice the live entries). Entries moving in the heap then never write to
 * their slots, which costs a cache miss per level otherwise. Live entries come out
 * in the same (time, seq) order either way.
 *
 * When the first token is the end (exponential and deterministic service), a
 * running request has only its end entry; the first token, wanted, is delivered
 * from that entry just before the end. Its two entries would have been pushed
 * back to back (consecutive seq, equal times), so nothing could come between
 * them: the order is the same, at half the heap work. A caller that does not
 * want first-token events gets none in any mode (PROVIDER_WANT_FIRST_TOKEN).
 */

#define NIL UINT32_MAX

enum slot_state { SLOT_FREE, SLOT_WAITING, SLOT_RUNNING, SLOT_STALLED };
enum { HEAP_FIRST, HEAP_END };

struct slot {
    uint64_t id;              /* current id, 0 while free */
    uint32_t gen;             /* bumped each time the slot is taken */
    enum slot_state state;
    enum provider_fault fault;
    uint32_t next, prev;      /* waiting queue links; next also links the free list */
    bool first_queued;        /* its first-token entry is in the first-token heap */
    bool first_owed;          /* running, first token wanted and still to come from the end entry */
    void *handle;
    int64_t prompt_tokens;
    int64_t completion_tokens;
    int64_t submit_us, start_us, first_us, done_us; /* -1 until known */
    double per_token_us;
};

struct hent {
    int64_t t_us;  /* when */
    uint64_t seq;  /* scheduling order, breaks ties */
    uint32_t slot; /* whose */
    uint32_t gen;  /* the slot's generation when pushed: stale once it differs or the slot is free */
};

/* Invariant: stale <= n; e[0] is live when n > 0. */
struct heap {
    struct hent *e;
    uint32_t n, cap;
    uint32_t stale; /* entries of cancelled requests still in e */
};

/*
 * Invariants: running + waiting + stalled == in_flight == slots not free;
 * running <= max_running (when set); waiting > 0 only if running == max_running;
 * every running slot has an end entry, and a first-token entry until it fires;
 * every stalled slot has an end entry.
 */
struct provider {
    struct server_config cfg;
    struct rng rng;
    struct srvlimit rpm, tpm, tpd;
    bool limited;              /* any of rpm, tpm, tpd set: else their calls are skipped */
    int64_t now_us;            /* latest time seen; never decreases */
    struct slot *slots;
    uint32_t cap;              /* slots allocated */
    uint32_t free_head;        /* free list, NIL if empty */
    uint32_t wait_head, wait_tail; /* FIFO waiting queue, NIL if empty */
    struct heap heap[2];
    uint64_t seq;
    unsigned wants;            /* PROVIDER_WANT_* */
    bool first_is_end;         /* service where the first token is the end (not batching) */
    int64_t in_flight;
    struct provider_stats st;  /* gauges kept current; kv_cache_usage computed on read */
};

#ifndef NDEBUG
/* The invariants above that are O(1) to check; used only inside assert(). */
static bool provider_ok(const provider *p)
{
    const struct provider_stats *st = &p->st;
    return st->running >= 0 && st->waiting >= 0 && st->stalled >= 0 &&
           st->running + st->waiting + st->stalled == p->in_flight &&
           (p->cfg.max_running == 0 || st->running <= p->cfg.max_running) &&
           (st->waiting == 0 || st->running == p->cfg.max_running) &&
           p->heap[HEAP_END].n - p->heap[HEAP_END].stale == (uint64_t)(st->running + st->stalled) &&
           p->heap[HEAP_FIRST].n - p->heap[HEAP_FIRST].stale <= (uint64_t)st->running &&
           (p->wait_head == NIL) == (st->waiting == 0);
}
#endif

/* ---- pool and heaps ----------------------------------------------------- */

static void grow(provider *p)
{
    uint32_t old = p->cap, cap = old ? old * 2 : 64;
    assert(cap > old && cap < NIL);
    p->slots = xrealloc(p->slots, (size_t)cap * sizeof *p->slots);
    for (uint32_t i = old; i < cap; i++) {
        struct slot *s = &p->slots[i];
        memset(s, 0, sizeof *s);
        s->state = SLOT_FREE;
        s->next = i + 1 < cap ? i + 1 : p->free_head;
    }
    p->free_head = old;
    p->cap = cap;
}

static uint32_t slot_take(provider *p)
{
    if (p->free_head == NIL)
        grow(p);
    uint32_t i = p->free_head;
    struct slot *s = &p->slots[i];
    p->free_head = s->next;
    /* Field by field, not memset: this is the hot path, and the caller sets the rest. */
    s->gen++;
    s->id = ((uint64_t)s->gen << 32) | (uint64_t)(i + 1);
    s->state = SLOT_FREE;
    s->fault = PROVIDER_FAULT_NONE;
    s->next = s->prev = NIL;
    s->first_queued = false;
    s->first_owed = false;
    s->handle = NULL;
    s->prompt_tokens = s->completion_tokens = 0;
    s->submit_us = 0;
    s->start_us = s->first_us = s->done_us = -1;
    s->per_token_us = 0;
    p->in_flight++;
    return i;
}

static void slot_release(provider *p, uint32_t i)
{
    struct slot *s = &p->slots[i];
    s->state = SLOT_FREE; /* its heap entries, if any are left, are stale from now on */
    s->id = 0;
    s->next = p->free_head;
    p->free_head = i;
    p->in_flight--;
}

static bool hless(const struct hent *a, const struct hent *b)
{
    return a->t_us < b->t_us || (a->t_us == b->t_us && a->seq < b->seq);
}

static inline bool hlive(const provider *p, const struct hent *e)
{
    const struct slot *s = &p->slots[e->slot];
    return s->gen == e->gen && s->state != SLOT_FREE;
}

static void sift_up(struct heap *hp, uint32_t pos)
{
    struct hent e = hp->e[pos];
    while (pos > 0) {
        uint32_t up = (pos - 1) / 2;
        if (!hless(&e, &hp->e[up]))
            break;
        hp->e[pos] = hp->e[up];
        pos = up;
    }
    hp->e[pos] = e;
}

/* The smaller child of pos, or NIL at a leaf. */
static inline uint32_t smaller_child(const struct heap *hp, uint32_t pos)
{
    uint32_t c = 2 * pos + 1;
    if (c >= hp->n)
        return NIL;
    return c + 1 < hp->n && hless(&hp->e[c + 1], &hp->e[c]) ? c + 1 : c;
}

static void sift_down(struct heap *hp, uint32_t pos)
{
    struct hent e = hp->e[pos];
    for (uint32_t c; (c = smaller_child(hp, pos)) != NIL && hless(&hp->e[c], &e); pos = c)
        hp->e[pos] = hp->e[c];
    hp->e[pos] = e;
}

static void heap_push(provider *p, int h, int64_t t_us, uint32_t slot)
{
    struct heap *hp = &p->heap[h];
    if (hp->n == hp->cap) {
        hp->cap = hp->cap ? hp->cap * 2 : 64;
        hp->e = xrealloc(hp->e, (size_t)hp->cap * sizeof *hp->e);
    }
    hp->e[hp->n] = (struct hent){t_us, p->seq++, slot, p->slots[slot].gen};
    sift_up(hp, hp->n++);
}

/*
 * Remove the top: Floyd's bottom-up removal. The hole walks down the smaller children
 * to a leaf without comparing the moved entry at each level (it comes from the bottom
 * and usually belongs there), then that entry rises from the leaf: about half the
 * comparisons of a plain sift-down. The pop order is the same, as (t_us, seq) orders
 * the entries totally.
 */
static void heap_pop_top(struct heap *hp)
{
    assert(hp->n > 0);
    uint32_t last = --hp->n, pos = 0;
    if (last == 0)
        return;
    struct hent e = hp->e[last];
    for (uint32_t c; (c = smaller_child(hp, pos)) != NIL; pos = c)
        hp->e[pos] = hp->e[c];
    hp->e[pos] = e;
    sift_up(hp, pos);
}

/*
 * Restore "the top is live" after the top was removed or entries went stale: drop
 * stale tops, and rebuild the heap without its stale entries once they are more than
 * half of it (O(n), paid for by the n / 2 cancels since the last rebuild).
 */
static void heap_settle(provider *p, int h)
{
    struct heap *hp = &p->heap[h];
    if (hp->stale == 0)
        return; /* every entry is live: no look at the top's slot (a cache miss) */
    while (hp->n > 0 && !hlive(p, &hp->e[0])) {
        heap_pop_top(hp);
        hp->stale--;
    }
    if (hp->stale > 32 && hp->stale > hp->n / 2) {
        uint32_t n = 0;
        for (uint32_t i = 0; i < hp->n; i++)
            if (hlive(p, &hp->e[i]))
                hp->e[n++] = hp->e[i];
        hp->n = n;
        hp->stale = 0;
        for (uint32_t i = n / 2; i-- > 0;)
            sift_down(hp, i);
    }
    assert(hp->stale <= hp->n && (hp->n == 0 || hlive(p, &hp->e[0])));
}

static const struct hent *heap_top(const provider *p, int h)
{
    return p->heap[h].n ? &p->heap[h].e[0] : NULL;
}

/* ---- configuration ------------------------------------------------------- */

provider *provider_new(const struct server_config *cfg, struct rng *parent)
{
    assert(cfg && parent);
    assert(cfg->requests_per_minute >= 0 && cfg->tokens_per_minute >= 0 &&
           cfg->tokens_per_day >= 0 && cfg->max_concurrent >= 0 && cfg->burst_us >= 0);
    assert(cfg->max_running >= 0 && cfg->max_waiting >= 0 && cfg->stall_us >= 0);
    assert(cfg->ttft_base_us >= 0 && cfg->prefill_us_per_token >= 0 &&
           cfg->decode_us_per_token >= 0 && cfg->decode_batch_slope >= 0 &&
           cfg->service_mean_us >= 0);
    assert(cfg->error_rate >= 0 && cfg->timeout_rate >= 0 && cfg->reset_rate >= 0 &&
           cfg->malformed_rate >= 0 &&
           cfg->error_rate + cfg->timeout_rate + cfg->reset_rate + cfg->malformed_rate <= 1 + 1e-9);

    provider *p = xcalloc(1, sizeof *p);
    p->cfg = *cfg;
    rng_split(parent, &p->rng);
    /* RPM and TPM hold burst_us' worth (0: a period's); TPD a whole day, as the client's. */
    int64_t rpm = cfg->requests_per_minute, tpm = cfg->tokens_per_minute;
    srvlimit_init(&p->rpm, rpm, US_PER_MIN, limiter_burst_capacity(rpm, US_PER_MIN, cfg->burst_us),
                  cfg->enforce, 0);
    srvlimit_init(&p->tpm, tpm, US_PER_MIN, limiter_burst_capacity(tpm, US_PER_MIN, cfg->burst_us),
                  cfg->enforce, 0);
    srvlimit_init(&p->tpd, cfg->tokens_per_day, US_PER_DAY, 0, cfg->enforce, 0);
    p->limited = cfg->requests_per_minute || cfg->tokens_per_minute || cfg->tokens_per_day;
    p->now_us = INT64_MIN;
    p->st.tpd_short_us = -1;
    p->wants = PROVIDER_WANT_ALL;
    p->first_is_end = cfg->service != SERVICE_BATCHING;
    p->free_head = p->wait_head = p->wait_tail = NIL;
    grow(p);
    return p;
}

void provider_set_wants(provider *p, unsigned wants)
{
    assert(p && (wants & ~PROVIDER_WANT_ALL) == 0);
    assert(p->in_flight == 0); /* requests started under the old setting would be mixed */
    p->wants = wants;
}

void provider_free(provider *p)
{
    if (!p)
        return;
    free(p->slots);
    free(p->heap[0].e);
    free(p->heap[1].e);
    free(p);
}

/*
 * Buckets start full, so the first call (whatever its time: the mock may pass
 * Unix-epoch µs) finds them full; windows are aligned to multiples of their
 * period on the caller's timeline.
 */
static void clock_to(provider *p, int64_t now)
{
    assert(now >= p->now_us); /* time never runs backwards */
    p->now_us = now;
    if (!p->limited)
        return; /* unlimited ones ignore time: skip the calls on the hot path */
    srvlimit_update(&p->rpm, now);
    srvlimit_update(&p->tpm, now);
    srvlimit_update(&p->tpd, now);
}

static void fill_rlinfo(const provider *p, struct rlinfo *ri)
{
    rlinfo_clear(ri);
    if (!srvlimit_unlimited(&p->rpm)) {
        ri->limit_requests = p->rpm.limit;
        ri->remaining_requests = srvlimit_remaining(&p->rpm);
        ri->reset_requests_us = srvlimit_reset_us(&p->rpm);
    }
    const struct srvlimit *tok = !srvlimit_unlimited(&p->tpm) ? &p->tpm : &p->tpd;
    if (!srvlimit_unlimited(tok)) {
        ri->limit_tokens = tok->limit;
        ri->remaining_tokens = srvlimit_remaining(tok);
        ri->reset_tokens_us = srvlimit_reset_us(tok);
    }
}

void provider_rlinfo(provider *p, int64_t now, struct rlinfo *out)
{
    clock_to(p, now);
    fill_rlinfo(p, out);
}

/* ---- running --------------------------------------------------------------- */

static int64_t round_us(double x)
{
    return x >= 9e18 ? (int64_t)9e18 : round_i64(x);
}

/* Start slot i running at t: its whole timing is fixed here (see provider.h). */
static void start(provider *p, uint32_t i, int64_t t)
{
    struct slot *s = &p->slots[i];
    const struct server_config *c = &p->cfg;
    s->state = SLOT_RUNNING;
    s->start_us = t;
    p->st.running++;
    p->st.prompt_tokens_total += s->prompt_tokens;
    switch (c->service) {
    case SERVICE_BATCHING: {
        double batch = (double)(p->st.running - 1);
        s->per_token_us = c->decode_us_per_token * (1 + c->decode_batch_slope * batch);
        s->first_us = t + c->ttft_base_us + round_us(c->prefill_us_per_token * (double)s->prompt_tokens);
        s->done_us = s->first_us + round_us(s->per_token_us * (double)(s->completion_tokens - 1));
        break;
    }
    case SERVICE_EXPONENTIAL:
        s->done_us = t + round_us(rng_exp(&p->rng, (double)c->service_mean_us));
        s->first_us = s->done_us;
        s->per_token_us = 0;
        break;
    case SERVICE_DETERMINISTIC:
        s->done_us = t + c->service_mean_us;
        s->first_us = s->done_us;
        s->per_token_us = 0;
        break;
    }
    if (p->wants & PROVIDER_WANT_FIRST_TOKEN) {
        if (p->first_is_end)
            s->first_owed = true;
        else {
            heap_push(p, HEAP_FIRST, s->first_us, i);
            s->first_queued = true;
        }
    }
    heap_push(p, HEAP_END, s->done_us, i);
}

static bool batch_full(const provider *p)
{
    return p->cfg.max_running > 0 && p->st.running >= p->cfg.max_running;
}

/* A batch slot was freed at t: start waiting requests, oldest first. */
static void start_waiting(provider *p, int64_t t)
{
    while (p->wait_head != NIL && !batch_full(p)) {
        uint32_t i = p->wait_head;
        struct slot *s = &p->slots[i];
        p->wait_head = s->next;
        if (p->wait_head == NIL)
            p->wait_tail = NIL;
        else
            p->slots[p->wait_head].prev = NIL;
        s->next = s->prev = NIL;
        p->st.waiting--;
        start(p, i, t);
    }
}

static void enqueue(provider *p, uint32_t i)
{
    struct slot *s = &p->slots[i];
    s->state = SLOT_WAITING;
    s->prev = p->wait_tail;
    s->next = NIL;
    if (p->wait_tail == NIL)
        p->wait_head = i;
    else
        p->slots[p->wait_tail].next = i;
    p->wait_tail = i;
    p->st.waiting++;
}

static void unlink_waiting(provider *p, uint32_t i)
{
    struct slot *s = &p->slots[i];
    if (s->prev == NIL)
        p->wait_head = s->next;
    else
        p->slots[s->prev].next = s->next;
    if (s->next == NIL)
        p->wait_tail = s->prev;
    else
        p->slots[s->next].prev = s->prev;
    s->next = s->prev = NIL;
    p->st.waiting--;
}

/* ---- submit -------------------------------------------------------------- */

static enum provider_fault draw_fault(provider *p)
{
    const struct server_config *c = &p->cfg;
    double total = c->error_rate + c->reset_rate + c->timeout_rate + c->malformed_rate;
    if (total <= 0)
        return PROVIDER_FAULT_NONE; /* no draw: fault-free runs keep the service stream */
    double u = rng_unit(&p->rng);
    if ((u -= c->error_rate) < 0)
        return PROVIDER_FAULT_ERROR;
    if ((u -= c->reset_rate) < 0)
        return PROVIDER_FAULT_RESET;
    if ((u -= c->timeout_rate) < 0)
        return PROVIDER_FAULT_STALL;
    if ((u -= c->malformed_rate) < 0)
        return PROVIDER_FAULT_MALFORMED;
    return PROVIDER_FAULT_NONE;
}

/* µs until the earliest in-flight request ends, 0 if one is already due, -1 if none. */
static int64_t until_next_end(const provider *p)
{
    const struct hent *e = heap_top(p, HEAP_END);
    if (!e)
        return -1;
    return e->t_us > p->now_us ? e->t_us - p->now_us : 0;
}

/*
 * Check every limit without charging. Returns true if the request may pass;
 * otherwise fills the 429 part of *out. The wait reported is the longest one
 * among the limits that lack room: buckets only fill and windows only reset, so
 * after it every token limit has room (the concurrency part is exact as long as
 * no one else is admitted meanwhile).
 */
static bool limits_pass(provider *p, int64_t tokens, struct provider_decision *out)
{
    bool conc_full = p->cfg.max_concurrent > 0 && p->in_flight >= p->cfg.max_concurrent;
    if (!p->limited && !conc_full)
        return true; /* what the general path below finds, without its calls */
    int64_t wait[PROVIDER_LIMIT_N];
    wait[PROVIDER_LIMIT_RPM] = srvlimit_wait_us(&p->rpm, 1);
    wait[PROVIDER_LIMIT_TPM] = srvlimit_wait_us(&p->tpm, tokens);
    wait[PROVIDER_LIMIT_TPD] = srvlimit_wait_us(&p->tpd, tokens);
    wait[PROVIDER_LIMIT_CONCURRENCY] = 0;
    if (conc_full) {
        int64_t w = until_next_end(p);
        wait[PROVIDER_LIMIT_CONCURRENCY] = w < 0 ? 0 : w;
    }
    int never = -1, worst = -1;
    for (int l = 0; l < PROVIDER_LIMIT_N; l++) {
        if (wait[l] < 0 && never < 0)
            never = l;
        bool short_here = wait[l] > 0 || (l == PROVIDER_LIMIT_CONCURRENCY && conc_full);
        if (short_here && (worst < 0 || wait[l] > wait[worst]))
            worst = l;
    }
    if (never < 0 && worst < 0)
        return true;
    out->kind = PROVIDER_RATE_LIMITED;
    out->status = 429;
    if (never >= 0) {
        out->reason = (enum provider_limit)never;
        out->rl.retry_after_us = -1;
        out->rl.should_retry = 0;
    } else {
        out->reason = (enum provider_limit)worst;
        out->rl.retry_after_us = wait[worst];
    }
    p->st.rate_limited[out->reason]++;
    if (wait[PROVIDER_LIMIT_TPD] != 0 && p->st.tpd_short_us < 0)
        p->st.tpd_short_us = p->now_us; /* the day's budget ran out at this workload */
    return false;
}

int provider_submit(provider *p, int64_t now, int64_t prompt_tokens, int64_t max_tokens,
                    int64_t completion_tokens, void *handle, struct provider_decision *out)
{
    assert(p && out && prompt_tokens >= 0 && max_tokens >= 0);
    clock_to(p, now);
    if (completion_tokens < 1)
        completion_tokens = 1;
    p->st.submitted++;

    /* Field by field, not memset: submit is the hot path. */
    out->status = 0;
    out->reason = PROVIDER_LIMIT_RPM;
    out->fault = PROVIDER_FAULT_NONE;
    out->id = 0;
    out->running = false;
    int64_t tokens = prompt_tokens + (max_tokens > 0 ? max_tokens : completion_tokens);
    out->rl.retry_after_us = -1;
    out->rl.should_retry = -1;
    if (!limits_pass(p, tokens, out)) {
        int64_t retry_after_us = out->rl.retry_after_us;
        int should_retry = out->rl.should_retry;
        fill_rlinfo(p, &out->rl);
        out->rl.retry_after_us = retry_after_us;
        out->rl.should_retry = should_retry;
        return out->kind;
    }

    enum provider_fault f = draw_fault(p);
    bool to_batch = f == PROVIDER_FAULT_NONE || f == PROVIDER_FAULT_MALFORMED;
    if (to_batch && batch_full(p) && p->cfg.max_waiting > 0 && p->st.waiting >= p->cfg.max_waiting) {
        out->kind = PROVIDER_OVERLOADED;
        out->status = 503;
        p->st.overloaded++;
        fill_rlinfo(p, &out->rl);
        out->rl.retry_after_us = until_next_end(p);
        return out->kind;
    }

    if (p->limited) {
        srvlimit_charge(&p->rpm, 1);
        srvlimit_charge(&p->tpm, tokens);
        srvlimit_charge(&p->tpd, tokens);
        if (p->tpd.limit)
            p->st.tpd_used_tokens += tokens;
    }
    /* Faults always carry it; an acceptance only when wanted (see provider_set_wants). */
    if (p->wants & PROVIDER_WANT_RLINFO || f == PROVIDER_FAULT_ERROR || f == PROVIDER_FAULT_RESET)
        fill_rlinfo(p, &out->rl);
    out->fault = f;
    if (f != PROVIDER_FAULT_NONE)
        p->st.faults[f]++;

    if (f == PROVIDER_FAULT_ERROR) {
        out->kind = PROVIDER_ERROR;
        out->status = rng_below(&p->rng, 2) ? 503 : 500;
        return out->kind;
    }
    if (f == PROVIDER_FAULT_RESET) {
        out->kind = PROVIDER_RESET;
        out->status = 0;
        return out->kind;
    }

    uint32_t i = slot_take(p);
    struct slot *s = &p->slots[i];
    s->handle = handle;
    s->fault = f;
    s->prompt_tokens = prompt_tokens;
    s->completion_tokens = completion_tokens;
    s->submit_us = now;
    out->kind = PROVIDER_ACCEPTED;
    out->status = 200;
    out->id = s->id;
    p->st.accepted++;
    if (f == PROVIDER_FAULT_STALL) {
        s->state = SLOT_STALLED;
        p->st.stalled++;
        heap_push(p, HEAP_END, now + p->cfg.stall_us, i);
    } else if (!batch_full(p)) {
        start(p, i, now);
        out->running = true;
    } else {
        enqueue(p, i);
    }
    assert(provider_ok(p));
    return out->kind;
}

/* ---- events -------------------------------------------------------------- */

int64_t provider_next_event_us(const provider *p)
{
    const struct hent *a = heap_top(p, HEAP_FIRST), *b = heap_top(p, HEAP_END);
    if (!a && !b)
        return TIME_NEVER;
    if (!a)
        return b->t_us;
    if (!b)
        return a->t_us;
    return a->t_us < b->t_us ? a->t_us : b->t_us;
}

static void fill_event(const struct slot *s, enum provider_event_kind kind, int64_t t,
                       struct provider_event *ev)
{
    ev->kind = kind;
    ev->t_us = t;
    ev->id = s->id;
    ev->handle = s->handle;
    ev->prompt_tokens = s->prompt_tokens;
    ev->completion_tokens = s->completion_tokens;
    ev->submit_us = s->submit_us;
    ev->start_us = s->start_us;
    ev->first_token_us = s->first_us;
    ev->done_us = s->done_us;
    ev->per_token_us = s->per_token_us;
}

int provider_advance(provider *p, int64_t now, provider_event_fn fn, void *ctx)
{
    assert(p && fn);
    int n = 0;
    for (;;) {
        const struct hent *a = heap_top(p, HEAP_FIRST), *b = heap_top(p, HEAP_END);
        int h;
        if (a && (!b || hless(a, b)))
            h = HEAP_FIRST;
        else if (b)
            h = HEAP_END;
        else
            break;
        const struct hent top = *(h == HEAP_FIRST ? a : b);
        if (top.t_us > now)
            break;
        uint32_t i = top.slot;
        struct slot *s = &p->slots[i];
        struct provider_event ev;
        /* Events due before the last submit are delivered late; the clock stays put. */
        if (top.t_us > p->now_us)
            clock_to(p, top.t_us);
        if (s->first_owed) {
            /* The first token, from the end entry, which stays for the end (unless the
             * callback cancels the request). */
            assert(h == HEAP_END && s->state == SLOT_RUNNING);
            s->first_owed = false;
            fill_event(s, PROVIDER_EV_FIRST_TOKEN, top.t_us, &ev);
            rlinfo_clear(&ev.rl);
            n++;
            fn(ctx, &ev);
            continue;
        }
        heap_pop_top(&p->heap[h]);
        if (h == HEAP_FIRST) {
            s->first_queued = false;
            fill_event(s, PROVIDER_EV_FIRST_TOKEN, top.t_us, &ev);
            rlinfo_clear(&ev.rl);
        } else if (s->state == SLOT_STALLED) {
            fill_event(s, PROVIDER_EV_DROPPED, top.t_us, &ev);
            rlinfo_clear(&ev.rl);
            p->st.stalled--;
            slot_release(p, i);
        } else {
            assert(s->state == SLOT_RUNNING && !s->first_queued);
            bool broken = s->fault == PROVIDER_FAULT_MALFORMED;
            fill_event(s, broken ? PROVIDER_EV_MALFORMED : PROVIDER_EV_DONE, top.t_us, &ev);
            if (p->wants & PROVIDER_WANT_RLINFO)
                fill_rlinfo(p, &ev.rl);
            p->st.running--;
            p->st.generation_tokens_total += s->completion_tokens;
            if (!broken)
                p->st.completed++;
            slot_release(p, i);
            start_waiting(p, top.t_us);
        }
        heap_settle(p, h);
        assert(provider_ok(p));
        n++;
        fn(ctx, &ev);
    }
    if (now > p->now_us)
        clock_to(p, now);
    return n;
}

int provider_cancel(provider *p, uint64_t id, int64_t now)
{
    assert(p);
    uint64_t idx = (id & 0xffffffffu);
    if (idx == 0 || idx > p->cap)
        return -ENOENT;
    uint32_t i = (uint32_t)(idx - 1);
    struct slot *s = &p->slots[i];
    if (s->state == SLOT_FREE || s->id != id)
        return -ENOENT;
    clock_to(p, now);
    switch (s->state) {
    case SLOT_WAITING:
        unlink_waiting(p, i);
        slot_release(p, i);
        break;
    case SLOT_RUNNING:
        /* Its entries go stale with the slot (see the top of this file). */
        if (s->first_queued)
            p->heap[HEAP_FIRST].stale++;
        p->heap[HEAP_END].stale++;
        p->st.running--;
        slot_release(p, i);
        start_waiting(p, now);
        heap_settle(p, HEAP_FIRST);
        heap_settle(p, HEAP_END);
        break;
    case SLOT_STALLED:
        p->heap[HEAP_END].stale++;
        p->st.stalled--;
        slot_release(p, i);
        heap_settle(p, HEAP_END);
        break;
    case SLOT_FREE:
        break;
    }
    p->st.cancelled++;
    assert(provider_ok(p));
    return 0;
}

int64_t provider_waiting(const provider *p)
{
    return p->st.waiting;
}

void provider_stats(const provider *p, struct provider_stats *out)
{
    *out = p->st;
    out->pool_slots = p->cap;
    out->kv_cache_usage =
        p->cfg.max_running > 0 ? (double)p->st.running / (double)p->cfg.max_running : 0;
}

const char *provider_limit_name(enum provider_limit l)
{
    static const char *const names[] = {"rpm", "tpm", "tpd", "concurrency"};
    return (unsigned)l < PROVIDER_LIMIT_N ? names[l] : "?";
}

const char *provider_fault_name(enum provider_fault f)
{
    static const char *const names[] = {"none", "error", "reset", "stall", "malformed"};
    return (unsigned)f < PROVIDER_FAULT_N ? names[f] : "?";
}
