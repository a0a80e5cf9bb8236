#include "config.h"

#include "srvlimit.h"

#include <assert.h>

__extension__ typedef __int128 i128;

#ifndef NDEBUG
static bool srvlimit_ok(const struct srvlimit *l)
{
    if (l->limit == 0)
        return true;
    if (l->mode == ENFORCE_BUCKET)
        return l->level_uus >= 0 && l->level_uus <= (i128)l->limit * l->period_us;
    return l->used >= 0 && l->used <= l->limit;
}
#endif

/* Floor division for a possibly negative timeline. */
static int64_t floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

void srvlimit_init(struct srvlimit *l, int64_t limit, int64_t period_us, enum enforce_kind mode,
                   int64_t now_us)
{
    assert(limit >= 0 && period_us > 0);
    l->limit = limit;
    l->period_us = period_us;
    l->mode = mode;
    l->level_uus = (i128)limit * period_us;
    l->now_us = now_us;
    l->win_start_us = floor_div(now_us, period_us) * period_us;
    l->used = 0;
    assert(srvlimit_ok(l));
}

void srvlimit_update(struct srvlimit *l, int64_t now_us)
{
    if (l->limit == 0 || now_us <= l->now_us)
        return;
    if (l->mode == ENFORCE_BUCKET) {
        i128 cap = (i128)l->limit * l->period_us;
        if (l->level_uus < cap) {
            /* Every elapsed µs adds exactly `limit` unit-µs; 128 bits hold any int64 product. */
            l->level_uus += (i128)l->limit * (now_us - l->now_us);
            if (l->level_uus > cap)
                l->level_uus = cap;
        }
    } else {
        int64_t ws = floor_div(now_us, l->period_us) * l->period_us;
        if (ws != l->win_start_us) {
            l->win_start_us = ws;
            l->used = 0;
        }
    }
    l->now_us = now_us;
    assert(srvlimit_ok(l));
}

int64_t srvlimit_wait_us(const struct srvlimit *l, int64_t cost)
{
    assert(cost >= 0);
    if (l->limit == 0)
        return 0;
    if (cost > l->limit)
        return -1;
    if (l->mode == ENFORCE_BUCKET) {
        i128 need = (i128)cost * l->period_us - l->level_uus;
        if (need <= 0)
            return 0;
        return (int64_t)((need + l->limit - 1) / l->limit);
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
    if (l->mode == ENFORCE_BUCKET)
        l->level_uus -= (i128)cost * l->period_us;
    else
        l->used += cost;
    assert(srvlimit_ok(l));
}

int64_t srvlimit_remaining(const struct srvlimit *l)
{
    if (l->limit == 0)
        return INT64_MAX;
    if (l->mode == ENFORCE_BUCKET)
        return (int64_t)(l->level_uus / l->period_us);
    return l->limit - l->used;
}

int64_t srvlimit_reset_us(const struct srvlimit *l)
{
    if (l->limit == 0)
        return 0;
    if (l->mode == ENFORCE_BUCKET) {
        i128 need = (i128)l->limit * l->period_us - l->level_uus;
        return need <= 0 ? 0 : (int64_t)((need + l->limit - 1) / l->limit);
    }
    return l->used == 0 ? 0 : l->win_start_us + l->period_us - l->now_us;
}
