#include "config.h"

#include "retry.h"

#include <assert.h>

#include "rng.h"

enum retry_class retry_classify(int status, int should_retry)
{
    if (status >= 200 && status < 300)
        return RETRY_SUCCESS;
    if (should_retry == 1)
        return RETRY_RETRY;
    if (should_retry == 0)
        return RETRY_FAIL;
    if (status == 0 || status == 408 || status == 409 || status == 429 ||
        (status >= 500 && status < 600))
        return RETRY_RETRY;
    return RETRY_FAIL;
}

/* Uniform integer in [lo, hi], inclusive. */
static int64_t uniform(struct rng *rng, int64_t lo, int64_t hi)
{
    if (hi <= lo)
        return lo;
    return lo + (int64_t)rng_below(rng, (uint64_t)(hi - lo) + 1);
}

int64_t retry_backoff_us(const struct retry_config *cfg, int attempt, int64_t *prev_delay_us,
                         struct rng *rng)
{
    assert(attempt >= 1);
    int64_t base = cfg->base_delay_us > 0 ? cfg->base_delay_us : 0;
    int64_t cap = cfg->max_delay_us > 0 ? cfg->max_delay_us : INT64_MAX / 4;
    /* base × 2^(attempt-1), saturating at the cap without overflow */
    int64_t ceiling = base;
    for (int i = 1; i < attempt && ceiling < cap; i++)
        ceiling = ceiling > cap / 2 ? cap : ceiling * 2;
    if (ceiling > cap)
        ceiling = cap;
    int64_t d;
    switch (cfg->jitter) {
    case JITTER_FULL:
        d = uniform(rng, 0, ceiling);
        break;
    case JITTER_EQUAL:
        d = ceiling / 2 + uniform(rng, 0, ceiling - ceiling / 2);
        break;
    case JITTER_DECORRELATED: {
        int64_t prev = *prev_delay_us > base ? *prev_delay_us : base;
        int64_t hi = prev > cap / 3 ? cap : prev * 3;
        d = uniform(rng, base < cap ? base : cap, hi);
        if (d > cap)
            d = cap;
        break;
    }
    case JITTER_NONE:
    default:
        d = ceiling;
        break;
    }
    *prev_delay_us = d;
    return d;
}

void retry_budget_init(struct retry_budget *b, double ratio, int64_t min_retries, int64_t window_us,
                       int64_t now_us)
{
    b->ratio = ratio > 0 ? ratio : 0;
    b->min_retries = min_retries > 0 ? min_retries : 0;
    b->slot_us = window_us > 0 ? window_us / RETRY_BUDGET_SLOTS : 0;
    if (window_us > 0 && b->slot_us == 0)
        b->slot_us = 1;
    b->slot_start_us = now_us;
    b->cur = 0;
    for (int i = 0; i < RETRY_BUDGET_SLOTS; i++)
        b->firsts[i] = b->retries[i] = 0;
}

/* Move the ring forward to the slot holding now, clearing slots left behind. */
static void advance(struct retry_budget *b, int64_t now_us)
{
    assert(now_us >= b->slot_start_us);
    int64_t steps = (now_us - b->slot_start_us) / b->slot_us;
    if (steps == 0)
        return;
    int n = steps < RETRY_BUDGET_SLOTS ? (int)steps : RETRY_BUDGET_SLOTS;
    for (int i = 0; i < n; i++) {
        b->cur = (b->cur + 1) % RETRY_BUDGET_SLOTS;
        b->firsts[b->cur] = b->retries[b->cur] = 0;
    }
    b->slot_start_us += steps * b->slot_us;
}

void retry_budget_first(struct retry_budget *b, int64_t now_us)
{
    if (!b->slot_us)
        return;
    advance(b, now_us);
    b->firsts[b->cur]++;
}

bool retry_budget_take(struct retry_budget *b, int64_t now_us)
{
    if (!b->slot_us)
        return true;
    advance(b, now_us);
    int64_t firsts = 0, retries = 0;
    for (int i = 0; i < RETRY_BUDGET_SLOTS; i++) {
        firsts += b->firsts[i];
        retries += b->retries[i];
    }
    /* retries + 1 <= ratio × firsts + min, in doubles: counts stay far below 2^53 */
    if ((double)(retries + 1) > b->ratio * (double)firsts + (double)b->min_retries)
        return false;
    b->retries[b->cur]++;
    return true;
}

int64_t retry_budget_left(const struct retry_budget *b, int64_t now_us)
{
    if (!b->slot_us)
        return -1;
    assert(now_us >= b->slot_start_us);
    /* The slots advance() would clear at now_us do not count. */
    int64_t steps = (now_us - b->slot_start_us) / b->slot_us;
    int gone = steps < RETRY_BUDGET_SLOTS ? (int)steps : RETRY_BUDGET_SLOTS;
    int64_t firsts = 0, retries = 0;
    for (int k = gone; k < RETRY_BUDGET_SLOTS; k++) {
        int i = (b->cur + 1 + k) % RETRY_BUDGET_SLOTS; /* oldest first */
        firsts += b->firsts[i];
        retries += b->retries[i];
    }
    double allowed = b->ratio * (double)firsts + (double)b->min_retries - (double)retries;
    return allowed >= 1 ? (int64_t)allowed : 0;
}
