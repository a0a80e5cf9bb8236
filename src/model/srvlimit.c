#include "config.h"

#include "srvlimit.h"

#include <assert.h>

#ifndef NDEBUG
static bool srvlimit_ok(const struct srvlimit *l)
{
    if (l->limit == 0)
        return true;
    if (l->mode == ENFORCE_BUCKET) /* debt only from a cost above the capacity */
        return l->bucket.amount == l->limit && l->bucket.last_us <= l->now_us &&
               l->bucket.level_uus >=
                   (__int128)(l->bucket.capacity - l->bucket.max_cost) * l->period_us;
    return l->used >= 0 && l->used <= l->limit;
}
#endif

/* Floor division for a possibly negative timeline. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void srvlimit_init(struct srvlimit *l, int64_t limit, int64_t period_us, int64_t capacity,
                   enum enforce_kind mode, int64_t now_us)
{
    assert(limit >= 0 && period_us > 0 && capacity >= 0);
    l->limit = limit;
    l->period_us = period_us;
    l->mode = mode;
    l->now_us = now_us;
    /* Full at the start; capacity 0 is one period's worth (the limit). */
    int rc = limiter_bucket_init(&l->bucket, limit, period_us, capacity, now_us);
    assert(rc == 0);
    (void)rc;
    l->win_start_us = floor_div(now_us, period_us) * period_us;
    l->used = 0;
    assert(srvlimit_ok(l));
}

/*
 * The bucket is brought up to date lazily, by the limiter calls below at
 * now_us: its refill is exact and additive, so one refill over [a, c] equals
 * refills over [a, b] and [b, c]. Ignoring earlier times here is what keeps the
 * limiter's "time never goes backwards" assertion true.
 */
void srvlimit_update(struct srvlimit *l, int64_t now_us)
{
    if (l->limit == 0 || now_us <= l->now_us)
        return;
    if (l->mode == ENFORCE_WINDOW) {
        int64_t ws = floor_div(now_us, l->period_us) * l->period_us;
        if (ws != l->win_start_us) {
            l->win_start_us = ws;
            l->used = 0;
        }
    }
    l->now_us = now_us;
    assert(srvlimit_ok(l));
}

int64_t srvlimit_wait_us(struct srvlimit *l, int64_t cost)
{
    assert(cost >= 0);
    if (l->limit == 0)
        return 0;
    if (cost > l->limit)
        return -1;
    if (l->mode == ENFORCE_BUCKET) {
        int64_t until = l->now_us;
        int rc = limiter_bucket_peek(&l->bucket, l->now_us, cost, &until);
        assert(rc == LIMITER_OK || rc == LIMITER_WAIT);
        return rc == LIMITER_OK ? 0 : until - l->now_us;
    }
    if (l->used + cost <= l->limit)
        return 0;
    return l->win_start_us + l->period_us - l->now_us;
}

void srvlimit_charge(struct srvlimit *l, int64_t cost)
{
    assert(srvlimit_wait_us(l, cost) == 0);
    if (l->limit == 0)
        return;
    if (l->mode == ENFORCE_BUCKET) {
        /* It fits (srvlimit_wait_us peeked at this now): take it without a second peek. */
        limiter_bucket_take(&l->bucket, cost);
    } else {
        l->used += cost;
    }
    assert(srvlimit_ok(l));
}

int64_t srvlimit_remaining(const struct srvlimit *l)
{
    if (l->limit == 0)
        return INT64_MAX;
    if (l->mode == ENFORCE_BUCKET) {
        int64_t level = limiter_bucket_level(&l->bucket, l->now_us);
        return level > 0 ? level : 0;
    }
    return l->limit - l->used;
}

int64_t srvlimit_reset_us(const struct srvlimit *l)
{
    if (l->limit == 0)
        return 0;
    if (l->mode == ENFORCE_BUCKET)
        return limiter_bucket_full_at(&l->bucket, l->now_us) - l->now_us;
    return l->used == 0 ? 0 : l->win_start_us + l->period_us - l->now_us;
}
