#include "config.h"

#include "limiter.h"

#include <assert.h>
#include <errno.h>

#include "util.h"

typedef __int128 i128;

#ifndef NDEBUG
/* The invariant of limiter.h, for assert() only. */
static bool bucket_ok(const struct limiter_bucket *b)
{
    if (b->amount == 0)
        return true;
    return b->period_us > 0 && b->capacity > 0 && b->level_uus <= b->cap_uus &&
           b->cap_uus == (i128)b->capacity * b->period_us &&
           b->max_cost == (b->capacity > b->amount ? b->capacity : b->amount);
}
#endif

int limiter_bucket_init(struct limiter_bucket *b, int64_t amount, int64_t period_us,
                        int64_t capacity, int64_t now_us)
{
    if (amount < 0 || period_us <= 0 || capacity < 0)
        return -EINVAL;
    b->amount = amount;
    b->period_us = period_us;
    b->capacity = amount == 0 ? 0 : (capacity ? capacity : amount);
    b->max_cost = b->capacity > amount ? b->capacity : amount;
    b->cap_uus = (i128)b->capacity * period_us;
    b->level_uus = b->cap_uus;
    b->last_us = now_us;
    assert(bucket_ok(b));
    return 0;
}

int64_t limiter_burst_capacity(int64_t amount, int64_t period_us, int64_t burst_us)
{
    assert(amount >= 0 && period_us > 0 && burst_us >= 0);
    if (amount == 0 || burst_us == 0)
        return amount;
    i128 c = ((i128)amount * burst_us + period_us - 1) / period_us;
    return c < 1 ? 1 : c > INT64_MAX ? INT64_MAX : (int64_t)c;
}

/*
 * Bring the level up to now. Exact: elapsed × amount is added in unit-µs, so the
 * refill over [a, c] equals the refill over [a, b] plus [b, c] for any b; no
 * fraction is ever lost, and elapsed == 0 adds nothing.
 */
static inline void refill(struct limiter_bucket *b, int64_t now_us)
{
    assert(now_us >= b->last_us);
    if (b->level_uus < b->cap_uus) {
        i128 l = b->level_uus + (i128)(now_us - b->last_us) * b->amount;
        b->level_uus = l < b->cap_uus ? l : b->cap_uus;
    }
    b->last_us = now_us;
}

/* Earliest time the bucket holds `need` unit-µs, rounded up to a whole µs. */
static inline int64_t time_for(const struct limiter_bucket *b, i128 need_uus)
{
    i128 missing = need_uus - b->level_uus;
    if (missing <= 0)
        return b->last_us;
    i128 wait = (missing + b->amount - 1) / b->amount;
    i128 t = (i128)b->last_us + wait;
    return t >= TIME_NEVER ? TIME_NEVER : (int64_t)t;
}

/*
 * limiter_bucket_peek, inline for limiter_peek: the client calls it per bucket per send.
 * A cost above the capacity needs the bucket full, not the cost, which it never
 * holds. Full rather than merely out of debt (Guava's RateLimiter lets any request
 * through then) keeps the window bound at max(capacity, cost), and changes nothing
 * at the default capacity, where no admissible cost exceeds it.
 */
static inline int bucket_peek(struct limiter_bucket *b, int64_t now_us, int64_t cost,
                              int64_t *wait_until_us)
{
    if (cost < 0)
        return -EINVAL;
    if (b->amount == 0 || cost == 0)
        return LIMITER_OK;
    if (cost > b->max_cost)
        return -E2BIG;
    refill(b, now_us);
    i128 need = (i128)cost * b->period_us;
    if (need > b->cap_uus)
        need = b->cap_uus;
    if (b->level_uus >= need)
        return LIMITER_OK;
    *wait_until_us = time_for(b, need);
    return LIMITER_WAIT;
}

int limiter_bucket_peek(struct limiter_bucket *b, int64_t now_us, int64_t cost,
                        int64_t *wait_until_us)
{
    return bucket_peek(b, now_us, cost, wait_until_us);
}

void limiter_bucket_take(struct limiter_bucket *b, int64_t cost)
{
    assert(cost >= 0);
    if (b->amount != 0)
        b->level_uus -= (i128)cost * b->period_us;
    assert(bucket_ok(b));
}

int limiter_bucket_try(struct limiter_bucket *b, int64_t now_us, int64_t cost,
                       int64_t *wait_until_us)
{
    int rc = limiter_bucket_peek(b, now_us, cost, wait_until_us);
    if (rc == LIMITER_OK && b->amount != 0)
        b->level_uus -= (i128)cost * b->period_us;
    assert(bucket_ok(b));
    return rc;
}

/* limiter_bucket_adjust, inline for limiter_reconcile (once per answer). */
static inline void bucket_adjust(struct limiter_bucket *b, int64_t now_us, int64_t delta)
{
    if (b->amount == 0 || delta == 0)
        return;
    refill(b, now_us);
    i128 l = b->level_uus + (i128)delta * b->period_us;
    b->level_uus = l < b->cap_uus ? l : b->cap_uus;
    assert(bucket_ok(b));
}

void limiter_bucket_adjust(struct limiter_bucket *b, int64_t now_us, int64_t delta)
{
    bucket_adjust(b, now_us, delta);
}

int64_t limiter_bucket_level(const struct limiter_bucket *b, int64_t now_us)
{
    if (b->amount == 0)
        return INT64_MAX;
    assert(now_us >= b->last_us);
    i128 l = b->level_uus;
    if (l < b->cap_uus) {
        l += (i128)(now_us - b->last_us) * b->amount;
        if (l > b->cap_uus)
            l = b->cap_uus;
    }
    i128 q = l / b->period_us;
    if (q * b->period_us > l) /* floor for negative levels */
        q--;
    return (int64_t)q;
}

/*
 * time_for() counts from last_us without refilling: while the bucket is short of
 * full at now_us, the refill up to now_us and the wait after it add up to the
 * same exact time; once it is full by now_us, that time is at or before now_us.
 */
int64_t limiter_bucket_full_at(const struct limiter_bucket *b, int64_t now_us)
{
    if (b->amount == 0)
        return now_us;
    assert(now_us >= b->last_us);
    int64_t t = time_for(b, b->cap_uus);
    return t > now_us ? t : now_us;
}

void limiter_bucket_clamp(struct limiter_bucket *b, int64_t now_us, int64_t units)
{
    if (b->amount == 0)
        return;
    refill(b, now_us);
    if (units < 0)
        units = 0;
    i128 u = (i128)units * b->period_us;
    if (b->level_uus > u)
        b->level_uus = u;
    assert(bucket_ok(b));
}

void limiter_bucket_fini(struct limiter_bucket *b)
{
    (void)b;
}

/* ---- four dimensions ---------------------------------------------------- */

#ifndef NDEBUG
static bool limiter_ok(const struct limiter *l)
{
    return l->in_flight >= 0 && l->conc_limit >= 0 && bucket_ok(&l->rpm) && bucket_ok(&l->tpm) &&
           bucket_ok(&l->tpd);
}
#endif

int limiter_init_burst(struct limiter *l, int64_t rpm, int64_t tpm, int64_t tpd,
                       int64_t max_concurrent, int64_t burst_us, int64_t now_us)
{
    if (rpm < 0 || tpm < 0 || tpd < 0 || max_concurrent < 0 || burst_us < 0)
        return -EINVAL;
    limiter_bucket_init(&l->rpm, rpm, US_PER_MIN, limiter_burst_capacity(rpm, US_PER_MIN, burst_us),
                        now_us);
    limiter_bucket_init(&l->tpm, tpm, US_PER_MIN, limiter_burst_capacity(tpm, US_PER_MIN, burst_us),
                        now_us);
    /* TPD keeps the whole day whatever the burst: a daily budget, not a rate. */
    limiter_bucket_init(&l->tpd, tpd, US_PER_DAY, 0, now_us);
    l->max_concurrent = max_concurrent;
    l->conc_limit = max_concurrent;
    l->in_flight = 0;
    l->paused_until_us = 0;
    l->max_cost = INT64_MAX;
    l->tpd_used_tokens = 0;
    l->tpd_short_us = -1;
    if (tpm)
        l->max_cost = tpm;
    if (tpd && tpd < l->max_cost)
        l->max_cost = tpd;
    assert(limiter_ok(l));
    return 0;
}

int limiter_init(struct limiter *l, int64_t rpm, int64_t tpm, int64_t tpd, int64_t max_concurrent,
                 int64_t now_us)
{
    return limiter_init_burst(l, rpm, tpm, tpd, max_concurrent, 0, now_us);
}

bool limiter_fits(const struct limiter *l, int64_t cost_tokens)
{
    return cost_tokens >= 0 && cost_tokens <= l->max_cost;
}

int limiter_peek(struct limiter *l, int64_t now_us, int64_t cost_tokens, int64_t *wait_until_us)
{
    if (cost_tokens < 0)
        return -EINVAL;
    if (cost_tokens > l->max_cost)
        return -E2BIG;
    if (l->conc_limit && l->in_flight >= l->conc_limit)
        return LIMITER_BUSY;
    /* Peek every dimension first so a refusal charges nothing; the answer is the
     * latest of their times, when all of them hold enough together. */
    int64_t t = now_us, w;
    if (l->paused_until_us > now_us)
        t = l->paused_until_us;
    if (bucket_peek(&l->rpm, now_us, 1, &w) == LIMITER_WAIT && w > t)
        t = w;
    if (bucket_peek(&l->tpm, now_us, cost_tokens, &w) == LIMITER_WAIT && w > t)
        t = w;
    if (bucket_peek(&l->tpd, now_us, cost_tokens, &w) == LIMITER_WAIT) {
        if (l->tpd_short_us < 0)
            l->tpd_short_us = now_us; /* the day's budget ran out at this workload */
        if (w > t)
            t = w;
    }
    if (t > now_us) {
        *wait_until_us = t;
        return LIMITER_WAIT;
    }
    return LIMITER_OK;
}

int limiter_try(struct limiter *l, int64_t now_us, int64_t cost_tokens, int64_t *wait_until_us)
{
    int rc = limiter_peek(l, now_us, cost_tokens, wait_until_us);
    if (rc != LIMITER_OK)
        return rc;
    if (l->rpm.amount)
        l->rpm.level_uus -= l->rpm.period_us;
    if (l->tpm.amount)
        l->tpm.level_uus -= (i128)cost_tokens * l->tpm.period_us;
    if (l->tpd.amount) {
        l->tpd.level_uus -= (i128)cost_tokens * l->tpd.period_us;
        l->tpd_used_tokens += cost_tokens;
    }
    l->in_flight++;
    assert(limiter_ok(l));
    return LIMITER_OK;
}

void limiter_release(struct limiter *l)
{
    assert(l->in_flight > 0);
    l->in_flight--;
}

void limiter_reconcile(struct limiter *l, int64_t now_us, int64_t charged_tokens,
                       int64_t actual_tokens)
{
    int64_t delta = charged_tokens - actual_tokens;
    bucket_adjust(&l->tpm, now_us, delta);
    bucket_adjust(&l->tpd, now_us, delta);
    if (l->tpd.amount)
        l->tpd_used_tokens -= delta;
}

void limiter_pause(struct limiter *l, int64_t until_us)
{
    if (until_us > l->paused_until_us)
        l->paused_until_us = until_us;
}

void limiter_set_concurrency(struct limiter *l, int64_t limit)
{
    assert(limit >= 0);
    l->conc_limit = limit ? limit : l->max_concurrent;
}

void limiter_fini(struct limiter *l)
{
    (void)l;
}
