#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>

#include "limiter.h"
#include "rng.h"
#include "util.h"

/* ck_assert records a mark point per call (a pipe write): too slow for loops of
 * millions. FAST_ASSERT only reports failures. */
#define FAST_ASSERT(cond, ...)                                                                     \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ck_abort_msg(__VA_ARGS__);                                                             \
    } while (0)

/* ---- one bucket, scripted clock ------------------------------------------ */

/* A peek then a take is a try split in two: the same levels and waits, over random costs. */
START_TEST(bucket_peek_take_is_try)
{
    struct limiter_bucket a, b;
    ck_assert_int_eq(limiter_bucket_init(&a, 600, US_PER_MIN, 10, 0), 0);
    ck_assert_int_eq(limiter_bucket_init(&b, 600, US_PER_MIN, 10, 0), 0);
    uint64_t x = 12345;
    int64_t now = 0;
    for (int i = 0; i < 5000; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        now += (int64_t)(x >> 50) % 300000;
        int64_t cost = 1 + (int64_t)((x >> 20) % 12), wa = -1, wb = -1;
        int ra = limiter_bucket_try(&a, now, cost, &wa);
        int rb = limiter_bucket_peek(&b, now, cost, &wb);
        if (rb == LIMITER_OK)
            limiter_bucket_take(&b, cost);
        ck_assert_int_eq(ra, rb);
        ck_assert_int_eq(wa, wb);
        ck_assert_int_eq(limiter_bucket_level(&a, now), limiter_bucket_level(&b, now));
    }
}
END_TEST

START_TEST(bucket_exact_waits)
{
    struct limiter_bucket b;
    int64_t w = -1;
    ck_assert_int_eq(limiter_bucket_init(&b, 60, US_PER_MIN, 0, 0), 0);
    /* cold start: a full period's worth at once */
    for (int i = 0; i < 60; i++)
        ck_assert_int_eq(limiter_bucket_try(&b, 0, 1, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_bucket_try(&b, 0, 1, &w), LIMITER_WAIT);
    ck_assert_int_eq(w, US_PER_S);
    ck_assert_int_eq(limiter_bucket_try(&b, US_PER_S - 1, 1, &w), LIMITER_WAIT);
    ck_assert_int_eq(w, US_PER_S);
    ck_assert_int_eq(limiter_bucket_try(&b, US_PER_S, 1, &w), LIMITER_OK);
    /* a cost of 3 needs 3 s of refill */
    ck_assert_int_eq(limiter_bucket_try(&b, US_PER_S, 3, &w), LIMITER_WAIT);
    ck_assert_int_eq(w, 4 * US_PER_S);
}
END_TEST

START_TEST(bucket_rounds_up)
{
    /* 7 per minute: one unit every 8,571,428.57 µs; the wait must round up */
    struct limiter_bucket b;
    int64_t w = -1;
    limiter_bucket_init(&b, 7, US_PER_MIN, 1, 0);
    ck_assert_int_eq(limiter_bucket_try(&b, 0, 1, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_bucket_try(&b, 0, 1, &w), LIMITER_WAIT);
    ck_assert_int_eq(w, 8571429);
    ck_assert_int_eq(limiter_bucket_try(&b, 8571428, 1, &w), LIMITER_WAIT);
    ck_assert_int_eq(limiter_bucket_try(&b, 8571429, 1, &w), LIMITER_OK);
}
END_TEST

START_TEST(bucket_same_now_twice)
{
    struct limiter_bucket b;
    int64_t w;
    limiter_bucket_init(&b, 1000, US_PER_MIN, 0, 0);
    ck_assert_int_eq(limiter_bucket_try(&b, 12345, 1000, &w), LIMITER_OK);
    for (int i = 0; i < 1000; i++) {
        ck_assert_int_eq(limiter_bucket_try(&b, 12345, 1, &w), LIMITER_WAIT);
        ck_assert_int_eq(limiter_bucket_level(&b, 12345), 0);
    }
    /* 60 ms later exactly one token */
    ck_assert_int_eq(limiter_bucket_try(&b, 12345 + 60000, 1, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_bucket_try(&b, 12345 + 60000, 1, &w), LIMITER_WAIT);
}
END_TEST

START_TEST(bucket_no_drift_24h)
{
    /* 7/min does not divide a minute in µs; greedy takes over 24 h must be exact */
    struct limiter_bucket b;
    int64_t w, t = 0, n = 0;
    limiter_bucket_init(&b, 7, US_PER_MIN, 0, 0);
    while (limiter_bucket_try(&b, 0, 1, &w) == LIMITER_OK)
        n++;
    ck_assert_int_eq(n, 7);
    n = 0;
    for (;;) {
        int rc = limiter_bucket_try(&b, t, 1, &w);
        if (rc == LIMITER_WAIT) {
            FAST_ASSERT(w > t, "wait not after now");
            t = w;
            if (t > US_PER_DAY)
                break;
            continue;
        }
        FAST_ASSERT(rc == LIMITER_OK, "rc %d", rc);
        n++;
    }
    ck_assert_int_eq(n, 7 * 24 * 60);
    /* and the last one went at exactly the day's end */
    ck_assert_int_eq(limiter_bucket_level(&b, US_PER_DAY), 0);
}
END_TEST

START_TEST(bucket_edges)
{
    struct limiter_bucket b;
    int64_t w = 42;
    ck_assert_int_eq(limiter_bucket_init(&b, -1, US_PER_MIN, 0, 0), -EINVAL);
    ck_assert_int_eq(limiter_bucket_init(&b, 1, 0, 0, 0), -EINVAL);
    ck_assert_int_eq(limiter_bucket_init(&b, 1, US_PER_MIN, -1, 0), -EINVAL);
    limiter_bucket_init(&b, 100, US_PER_MIN, 0, 0);
    ck_assert_int_eq(limiter_bucket_try(&b, 0, 101, &w), -E2BIG);
    ck_assert_int_eq(limiter_bucket_try(&b, 0, INT64_MAX, &w), -E2BIG);
    ck_assert_int_eq(limiter_bucket_try(&b, 0, -1, &w), -EINVAL);
    ck_assert_int_eq(w, 42); /* untouched on errors */
    ck_assert_int_eq(limiter_bucket_try(&b, 0, 0, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_bucket_try(&b, 0, 100, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_bucket_try(&b, 0, 100, &w), LIMITER_WAIT);
    ck_assert_int_eq(w, US_PER_MIN);
    /* unlimited */
    limiter_bucket_init(&b, 0, US_PER_MIN, 0, 0);
    ck_assert_int_eq(limiter_bucket_try(&b, 0, INT64_MAX, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_bucket_try(&b, 0, INT64_MAX, &w), LIMITER_OK);
    /* enormous limits and times: no overflow */
    limiter_bucket_init(&b, INT64_MAX, US_PER_DAY, 0, 0);
    ck_assert_int_eq(limiter_bucket_try(&b, 0, INT64_MAX, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_bucket_try(&b, 0, INT64_MAX, &w), LIMITER_WAIT);
    ck_assert_int_eq(w, US_PER_DAY);
    ck_assert_int_eq(limiter_bucket_try(&b, TIME_NEVER - 1, INT64_MAX, &w), LIMITER_OK);
    /* a wait past the end of time saturates */
    limiter_bucket_init(&b, 1, INT64_MAX, 1, 0);
    ck_assert_int_eq(limiter_bucket_try(&b, INT64_MAX / 2, 1, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_bucket_try(&b, INT64_MAX / 2, 1, &w), LIMITER_WAIT);
    ck_assert_int_eq(w, TIME_NEVER);
}
END_TEST

START_TEST(bucket_reconcile)
{
    struct limiter_bucket b;
    int64_t w;
    limiter_bucket_init(&b, 1000, US_PER_MIN, 0, 0);
    ck_assert_int_eq(limiter_bucket_try(&b, 0, 1000, &w), LIMITER_OK);
    limiter_bucket_adjust(&b, 0, 600); /* used 400 of 1000: refund 600 */
    ck_assert_int_eq(limiter_bucket_level(&b, 0), 600);
    limiter_bucket_adjust(&b, 0, 5000); /* never above capacity */
    ck_assert_int_eq(limiter_bucket_level(&b, 0), 1000);
    ck_assert_int_eq(limiter_bucket_try(&b, 0, 1000, &w), LIMITER_OK);
    limiter_bucket_adjust(&b, 0, -300); /* overrun: debt */
    ck_assert_int_eq(limiter_bucket_level(&b, 0), -300);
    ck_assert_int_eq(limiter_bucket_try(&b, 0, 1, &w), LIMITER_WAIT);
    ck_assert_int_eq(w, 301 * 60000); /* refill past the debt, then one more */
    ck_assert_int_eq(limiter_bucket_level(&b, 150 * 60000), -150);
    ck_assert_int_eq(limiter_bucket_level(&b, 150 * 60000 + 1), -150); /* floor */
    limiter_bucket_clamp(&b, 400 * 60000, 50);
    ck_assert_int_eq(limiter_bucket_level(&b, 400 * 60000), 50);
}
END_TEST

START_TEST(bucket_full_at)
{
    struct limiter_bucket b;
    int64_t w;
    limiter_bucket_init(&b, 60, US_PER_MIN, 0, 0);
    ck_assert_int_eq(limiter_bucket_full_at(&b, 0), 0); /* full: now */
    ck_assert_int_eq(limiter_bucket_full_at(&b, 5), 5);
    ck_assert_int_eq(limiter_bucket_try(&b, 10, 3, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_bucket_full_at(&b, 10), 10 + 3 * US_PER_S);
    ck_assert_int_eq(limiter_bucket_full_at(&b, 2 * US_PER_S), 10 + 3 * US_PER_S);
    ck_assert_int_eq(limiter_bucket_full_at(&b, 10 + 3 * US_PER_S), 10 + 3 * US_PER_S);
    ck_assert_int_eq(limiter_bucket_full_at(&b, 9 * US_PER_S), 9 * US_PER_S);
    /* it changed nothing: the level and the next wait are as before */
    ck_assert_int_eq(limiter_bucket_level(&b, 10), 57);
    ck_assert_int_eq(limiter_bucket_try(&b, 10, 58, &w), LIMITER_WAIT);
    ck_assert_int_eq(w, 10 + US_PER_S);

    /* rounds up, never early: 7 per minute, one unit short */
    limiter_bucket_init(&b, 7, US_PER_MIN, 0, 0);
    ck_assert_int_eq(limiter_bucket_try(&b, 0, 1, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_bucket_full_at(&b, 0), 8571429);
    ck_assert_int_eq(limiter_bucket_level(&b, 8571428), 6);
    ck_assert_int_eq(limiter_bucket_level(&b, 8571429), 7);

    /* debt counts: 60 short of empty is two minutes from full */
    limiter_bucket_init(&b, 60, US_PER_MIN, 0, 0);
    limiter_bucket_adjust(&b, 0, -120);
    ck_assert_int_eq(limiter_bucket_full_at(&b, 0), 2 * US_PER_MIN);

    /* unlimited is always full; a time past the end of time saturates */
    limiter_bucket_init(&b, 0, US_PER_MIN, 0, 0);
    ck_assert_int_eq(limiter_bucket_full_at(&b, 7), 7);
    limiter_bucket_init(&b, 1, INT64_MAX, 1, 0);
    ck_assert_int_eq(limiter_bucket_try(&b, INT64_MAX / 2, 1, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_bucket_full_at(&b, INT64_MAX / 2), TIME_NEVER);
    limiter_bucket_init(&b, INT64_MAX, US_PER_DAY, 0, 0);
    ck_assert_int_eq(limiter_bucket_try(&b, 0, INT64_MAX, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_bucket_full_at(&b, 0), US_PER_DAY);

    /* over seeds: full exactly at t, not a µs before */
    struct rng r;
    rng_seed(&r, 11);
    for (int i = 0; i < 20000; i++) {
        int64_t amount = 1 + (int64_t)rng_below(&r, 100000);
        int64_t period = 1 + (int64_t)rng_below(&r, US_PER_DAY);
        int64_t now = (int64_t)rng_below(&r, US_PER_DAY);
        limiter_bucket_init(&b, amount, period, 0, 0);
        limiter_bucket_adjust(&b, 0, -(int64_t)rng_below(&r, (uint64_t)amount * 3));
        int64_t t = limiter_bucket_full_at(&b, now);
        FAST_ASSERT(t >= now && limiter_bucket_level(&b, t) == amount, "seed 11 case %d", i);
        FAST_ASSERT(t == now || limiter_bucket_level(&b, t - 1) < amount, "seed 11 case %d", i);
    }
}
END_TEST

/* B µs' worth of a rate: ceil(amount × B / period), at least 1; 0 = a period's worth. */
START_TEST(burst_capacity)
{
    ck_assert_int_eq(limiter_burst_capacity(600, US_PER_MIN, US_PER_S), 10);
    ck_assert_int_eq(limiter_burst_capacity(600, US_PER_MIN, US_PER_MIN), 600); /* today's */
    ck_assert_int_eq(limiter_burst_capacity(600, US_PER_MIN, 0), 600);
    ck_assert_int_eq(limiter_burst_capacity(600, US_PER_MIN, US_PER_DAY), 600 * 1440);
    ck_assert_int_eq(limiter_burst_capacity(60000, US_PER_MIN, US_PER_S), 1000);
    ck_assert_int_eq(limiter_burst_capacity(7, US_PER_MIN, US_PER_S), 1);      /* 0.117: up */
    ck_assert_int_eq(limiter_burst_capacity(7, US_PER_MIN, 25 * US_PER_S), 3); /* 2.92: up */
    ck_assert_int_eq(limiter_burst_capacity(1, US_PER_DAY, 1), 1);             /* at least 1 */
    ck_assert_int_eq(limiter_burst_capacity(0, US_PER_MIN, US_PER_S), 0);      /* unlimited */
    ck_assert_int_eq(limiter_burst_capacity(INT64_MAX, US_PER_MIN, US_PER_DAY), INT64_MAX);
    /* with burst 1m every capacity is the limit itself, so results are today's */
    struct rng r;
    rng_seed(&r, 5);
    for (int i = 0; i < 10000; i++) {
        int64_t a = 1 + (int64_t)rng_below(&r, 1000000000);
        FAST_ASSERT(limiter_burst_capacity(a, US_PER_MIN, US_PER_MIN) == a, "amount %lld",
                    (long long)a);
    }
}
END_TEST

/* A cold start with a 1 s burst of 600 RPM: exactly 10 at t = 0, then one per 100 ms. */
START_TEST(cold_start_burst)
{
    struct limiter l;
    int64_t w;
    ck_assert_int_eq(limiter_init_burst(&l, 600, 0, 0, 0, -1, 0), -EINVAL);
    ck_assert_int_eq(limiter_init_burst(&l, 600, 0, 0, 0, US_PER_S, 0), 0);
    ck_assert_int_eq(l.rpm.capacity, 10);
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(limiter_try(&l, 0, 1, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_try(&l, 0, 1, &w), LIMITER_WAIT);
    ck_assert_int_eq(w, 100000);
    int64_t t = 0, n = 10;
    for (;;) {
        int rc = limiter_try(&l, t, 1, &w);
        if (rc == LIMITER_WAIT) {
            if (w > US_PER_MIN)
                break;
            t = w;
            continue;
        }
        FAST_ASSERT(rc == LIMITER_OK && t == (n - 9) * 100000, "send %lld at %lld", (long long)n,
                    (long long)t);
        n++;
        limiter_release(&l);
    }
    ck_assert_int_eq(n, 10 + 600); /* the burst, then the steady rate, nothing more */
    /* the same limiter at the default keeps today's: a full minute at once */
    limiter_init_burst(&l, 600, 0, 0, 0, US_PER_MIN, 0);
    ck_assert_int_eq(l.rpm.capacity, 600);
    /* TPD holds the whole day whatever the burst; TPM its burst */
    limiter_init_burst(&l, 0, 60000, 2000000, 0, US_PER_S, 0);
    ck_assert_int_eq(l.tpm.capacity, 1000);
    ck_assert_int_eq(l.tpd.capacity, 2000000);
}
END_TEST

/*
 * A cost above the capacity but within the limit: admitted from a full bucket, into
 * debt, never refused as too large. 60,000 TPM with a 1 s burst holds 1,000.
 */
START_TEST(cost_above_burst)
{
    struct limiter l;
    int64_t w;
    limiter_init_burst(&l, 0, 60000, 0, 0, US_PER_S, 0);
    ck_assert(limiter_fits(&l, 60000));
    ck_assert(!limiter_fits(&l, 60001));
    ck_assert_int_eq(limiter_try(&l, 0, 60001, &w), -E2BIG);
    ck_assert_int_eq(limiter_try(&l, 0, 2500, &w), LIMITER_OK); /* full: goes */
    ck_assert_int_eq(limiter_bucket_level(&l.tpm, 0), -1500);
    ck_assert_int_eq(limiter_bucket_full_at(&l.tpm, 0), 2500000);
    ck_assert_int_eq(limiter_try(&l, 0, 1, &w), LIMITER_WAIT);
    ck_assert_int_eq(w, 1501000); /* past the debt, then one token */
    ck_assert_int_eq(limiter_try(&l, 1501000, 1, &w), LIMITER_OK);
    /* another large one waits for full, not for its own 2,500 */
    ck_assert_int_eq(limiter_try(&l, 1501000, 2500, &w), LIMITER_WAIT);
    ck_assert_int_eq(w, 2501000);
    ck_assert_int_eq(limiter_try(&l, 2500999, 2500, &w), LIMITER_WAIT);
    ck_assert_int_eq(limiter_try(&l, 2501000, 2500, &w), LIMITER_OK);
    /* the whole minute's worth at once, from full; a minute to be full again */
    ck_assert_int_eq(limiter_try(&l, 5001000, 60000, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_bucket_full_at(&l.tpm, 5001000), 5001000 + US_PER_MIN);
    /* one bucket alone: max_cost is max(capacity, amount) */
    struct limiter_bucket b;
    limiter_bucket_init(&b, 100, US_PER_MIN, 10, 0);
    ck_assert_int_eq(b.max_cost, 100);
    ck_assert_int_eq(limiter_bucket_try(&b, 0, 101, &w), -E2BIG);
    ck_assert_int_eq(limiter_bucket_peek(&b, 0, 100, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_bucket_try(&b, 0, 11, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_bucket_level(&b, 0), -1);
    limiter_bucket_init(&b, 100, US_PER_MIN, 300, 0); /* a burst above the period */
    ck_assert_int_eq(b.max_cost, 300);
    ck_assert_int_eq(limiter_bucket_try(&b, 0, 300, &w), LIMITER_OK);
}
END_TEST

/*
 * Drift-free with bursts shorter than the period: greedy sends of a constant cost c
 * from a bucket of capacity cap. Below cap: after the cold burst the level stays
 * below c < cap and never clips, so by time T exactly floor((cap·P + A·T) / (c·P))
 * are admitted, over a day of random rates that do not divide time. At or above
 * cap: each send waits for a full bucket, a cycle of exactly ceil(c·P / A) µs (the
 * bucket is full within that last µs; what would spill over a full bucket is not
 * kept, as with any bucket left full).
 */
START_TEST(property_no_drift_burst)
{
    struct rng r;
    rng_seed(&r, 17);
    for (int i = 0; i < 200; i++) {
        int64_t P = rng_below(&r, 2) ? US_PER_MIN : US_PER_DAY;
        int64_t A = 1 + (int64_t)rng_below(&r, 100000);
        int64_t B = 1 + (int64_t)rng_below(&r, (uint64_t)P); /* shorter than the period */
        int64_t cap = limiter_burst_capacity(A, P, B);
        int64_t c = 1 + (int64_t)rng_below(&r, (uint64_t)(rng_below(&r, 2) ? cap : A));
        int64_t T = US_PER_DAY;
        /* keep the loop short: at most ~20k sends */
        if ((__int128)A * T / ((__int128)c * P) > 20000)
            c = (int64_t)((__int128)A * T / ((__int128)20000 * P)) + 1;
        if (c > A)
            c = A;
        struct limiter_bucket b;
        limiter_bucket_init(&b, A, P, cap, 0);
        int64_t t = 0, n = 0, w, cycle = (int64_t)(((__int128)c * P + A - 1) / A);
        for (;;) {
            int rc = limiter_bucket_try(&b, t, c, &w);
            if (rc == LIMITER_WAIT) {
                FAST_ASSERT(w > t, "case %d: wait not after now", i);
                if (w > T)
                    break;
                t = w;
                continue;
            }
            FAST_ASSERT(rc == LIMITER_OK, "case %d: rc %d", i, rc);
            FAST_ASSERT(c < cap || t == n * cycle, "case %d: send %lld at %lld, not %lld", i,
                        (long long)n, (long long)t, (long long)(n * cycle));
            n++;
        }
        int64_t want = c < cap
                           ? (int64_t)(((__int128)cap * P + (__int128)A * T) / ((__int128)c * P))
                           : T / cycle + 1;
        FAST_ASSERT(n == want, "case %d (A %lld P %lld cap %lld c %lld): %lld sends, want %lld", i,
                    (long long)A, (long long)P, (long long)cap, (long long)c, (long long)n,
                    (long long)want);
    }
}
END_TEST

/* ---- four dimensions ----------------------------------------------------- */

START_TEST(limiter_each_dimension)
{
    struct limiter l;
    int64_t w;
    ck_assert_int_eq(limiter_init(&l, -1, 0, 0, 0, 0), -EINVAL);
    /* RPM only */
    limiter_init(&l, 2, 0, 0, 0, 0);
    ck_assert_int_eq(limiter_try(&l, 0, 1000000, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_try(&l, 0, 5, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_try(&l, 0, 5, &w), LIMITER_WAIT);
    ck_assert_int_eq(w, 30 * US_PER_S);
    /* TPM only */
    limiter_init(&l, 0, 1000, 0, 0, 0);
    ck_assert_int_eq(limiter_try(&l, 0, 600, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_try(&l, 0, 600, &w), LIMITER_WAIT);
    ck_assert_int_eq(w, 200 * 60000); /* 200 tokens at 1000/min */
    ck_assert_int_eq(limiter_try(&l, 0, 1001, &w), -E2BIG);
    /* TPD only */
    limiter_init(&l, 0, 0, 86400, 0, 0);
    ck_assert_int_eq(limiter_try(&l, 0, 86400, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_try(&l, 0, 10, &w), LIMITER_WAIT);
    ck_assert_int_eq(w, 10 * US_PER_S);
    /* concurrency only */
    limiter_init(&l, 0, 0, 0, 2, 0);
    ck_assert_int_eq(limiter_try(&l, 0, 1, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_try(&l, 0, 1, &w), LIMITER_OK);
    w = 7;
    ck_assert_int_eq(limiter_try(&l, 0, 1, &w), LIMITER_BUSY);
    ck_assert_int_eq(w, 7);
    limiter_release(&l);
    ck_assert_int_eq(limiter_try(&l, 0, 1, &w), LIMITER_OK);
    /* all unlimited */
    limiter_init(&l, 0, 0, 0, 0, 0);
    for (int i = 0; i < 1000; i++)
        ck_assert_int_eq(limiter_try(&l, 0, INT64_MAX, &w), LIMITER_OK);
}
END_TEST

START_TEST(limiter_combined)
{
    struct limiter l;
    int64_t w;
    /* 60 RPM, 6000 TPM, 10000 TPD, 3 at once */
    limiter_init(&l, 60, 6000, 10000, 3, 0);
    ck_assert(!limiter_fits(&l, 6001));
    ck_assert(limiter_fits(&l, 6000));
    ck_assert_int_eq(limiter_try(&l, 0, 6001, &w), -E2BIG);
    ck_assert_int_eq(limiter_try(&l, 0, 5000, &w), LIMITER_OK);
    /* tokens short: 4000 more need 3000 refilled -> 30 s (TPM); TPD has 5000 */
    ck_assert_int_eq(limiter_try(&l, 0, 4000, &w), LIMITER_WAIT);
    ck_assert_int_eq(w, 30 * US_PER_S);
    /* nothing charged by the refusal: all-or-nothing */
    ck_assert_int_eq(limiter_bucket_level(&l.rpm, 0), 59);
    ck_assert_int_eq(limiter_bucket_level(&l.tpd, 0), 5000);
    ck_assert_int_eq(limiter_try(&l, 30 * US_PER_S, 4000, &w), LIMITER_OK);
    /* now TPD binds: 1000 left + refill 10000/day */
    ck_assert_int_eq(limiter_try(&l, 30 * US_PER_S, 2000, &w), LIMITER_WAIT);
    int64_t tpd_wait = 30 * US_PER_S + (1000LL * US_PER_DAY + 9999) / 10000 - 0;
    /* TPD level at 30 s: 1000 + 30 s × 10000/day (3.47 tokens) */
    ck_assert_int_le(w, tpd_wait);
    ck_assert_int_gt(w, 30 * US_PER_S + 20 * US_PER_S); /* not TPM's 20 s */
    int64_t w2;
    ck_assert_int_eq(limiter_try(&l, w - 1, 2000, &w2), LIMITER_WAIT);
    ck_assert_int_eq(w2, w);
    ck_assert_int_eq(limiter_try(&l, w, 2000, &w2), LIMITER_OK);
    ck_assert_int_eq(limiter_try(&l, w, 0, &w2), LIMITER_BUSY); /* 3 in flight */
    /* pause */
    limiter_release(&l);
    limiter_pause(&l, w + 5);
    ck_assert_int_eq(limiter_try(&l, w, 0, &w2), LIMITER_WAIT);
    ck_assert_int_eq(w2, w + 5);
    /* RPM binding alongside: drain RPM */
    limiter_init(&l, 2, 6000, 0, 0, 0);
    ck_assert_int_eq(limiter_try(&l, 0, 10, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_try(&l, 0, 10, &w), LIMITER_OK);
    ck_assert_int_eq(limiter_try(&l, 0, 5990, &w), LIMITER_WAIT);
    ck_assert_int_eq(w, 30 * US_PER_S); /* RPM 30 s > TPM 0.2 s */
}
END_TEST

START_TEST(limiter_reconciles)
{
    struct limiter l;
    int64_t w;
    limiter_init(&l, 0, 1000, 2000, 0, 0);
    ck_assert_int_eq(limiter_try(&l, 0, 900, &w), LIMITER_OK);
    limiter_reconcile(&l, 0, 900, 100);
    ck_assert_int_eq(limiter_bucket_level(&l.tpm, 0), 900);
    ck_assert_int_eq(limiter_bucket_level(&l.tpd, 0), 1900);
    limiter_reconcile(&l, 0, 0, 1500);
    ck_assert_int_eq(limiter_bucket_level(&l.tpm, 0), -600);
    ck_assert_int_eq(limiter_try(&l, 0, 400, &w), LIMITER_WAIT);
    ck_assert_int_eq(w, 1000 * 60000);
}
END_TEST

/* ---- properties over seeds ------------------------------------------------ */

struct adm {
    int64_t t;
    int64_t cost; /* charged; negative: a refund from reconciliation */
};

/*
 * Independent check: in every window [t_j - W, t_j] ending at an event, the
 * net cost admitted (charges minus refunds) is at most capacity + amount × W /
 * period, where capacity is the bucket's, or the largest single cost admitted
 * when that is more (it went from a full bucket, into debt); for the requests
 * dimension, the number of admissions.
 */
static void check_windows(const struct adm *a, int n, int64_t amount, int64_t period_us,
                          int64_t capacity, bool requests, int64_t W)
{
    if (amount == 0)
        return;
    __int128 sum = 0;
    int i = 0;
    for (int j = 0; j < n; j++) {
        sum += requests ? a[j].cost > 0 : a[j].cost;
        while (a[i].t < a[j].t - W) {
            sum -= requests ? a[i].cost > 0 : a[i].cost;
            i++;
        }
        __int128 bound = (__int128)capacity * period_us + (__int128)amount * W;
        FAST_ASSERT(sum * period_us <= bound,
                    "window %lld ending at %lld over the limit (amount %lld, cap %lld)",
                    (long long)W, (long long)a[j].t, (long long)amount, (long long)capacity);
    }
}

#define MAXADM 900

START_TEST(property_windows)
{
    static struct adm adm[MAXADM];
    for (uint64_t seed = 1; seed <= 1000; seed++) {
        struct rng rng;
        rng_seed(&rng, seed);
        int64_t rpm = rng_below(&rng, 4) ? 1 + (int64_t)rng_below(&rng, 600) : 0;
        int64_t tpm = rng_below(&rng, 4) ? 100 + (int64_t)rng_below(&rng, 100000) : 0;
        int64_t tpd = rng_below(&rng, 3) ? 1000 + (int64_t)rng_below(&rng, 200000) : 0;
        int64_t conc = rng_below(&rng, 2) ? 1 + (int64_t)rng_below(&rng, 20) : 0;
        int64_t max_cost = 1 + (int64_t)rng_below(&rng, 5000);
        /* a third at the default (a period's worth); the rest mostly shorter than the
         * minute, down to 1 µs (every bucket then holds 1 request, or 1 token) */
        int64_t burst = 0;
        if (rng_below(&rng, 3))
            burst = 1 + (int64_t)rng_below(&rng, rng_below(&rng, 4) ? US_PER_MIN : US_PER_DAY);
        struct limiter l;
        int64_t start = (int64_t)rng_below(&rng, 2) ? 0 : (int64_t)rng_below(&rng, US_PER_DAY);
        limiter_init_burst(&l, rpm, tpm, tpd, conc, burst, start);
        int64_t biggest = 0; /* largest token cost admitted */
        static int64_t done_at[MAXADM], done_cost[MAXADM];
        int64_t t = start;
        int n_done = 0, n = 0;
        bool refunds = rng_below(&rng, 2);
        int64_t cost = -1;
        double mean_gap = 1 + rng_exp(&rng, 2e6);
        while (n < MAXADM - 1) {
            if (cost < 0) { /* next request arrives */
                t += (int64_t)rng_exp(&rng, mean_gap);
                cost = 1 + (int64_t)rng_below(&rng, (uint64_t)max_cost);
                if (!limiter_fits(&l, cost)) {
                    cost = -1;
                    continue;
                }
            }
            /* completions due by t free slots, and may refund part of the
             * reservation (usage below the estimate) */
            for (int k = 0; k < n_done && n < MAXADM - 1;) {
                if (done_at[k] <= t) {
                    limiter_release(&l);
                    if (refunds) {
                        int64_t back = (int64_t)rng_below(&rng, (uint64_t)done_cost[k] + 1);
                        limiter_reconcile(&l, t, done_cost[k], done_cost[k] - back);
                        adm[n].t = t;
                        adm[n].cost = -back;
                        n++;
                    }
                    n_done--;
                    done_at[k] = done_at[n_done];
                    done_cost[k] = done_cost[n_done];
                } else {
                    k++;
                }
            }
            int64_t w;
            int rc = limiter_try(&l, t, cost, &w);
            if (rc == LIMITER_OK) {
                adm[n].t = t;
                adm[n].cost = cost;
                n++;
                biggest = cost > biggest ? cost : biggest;
                done_cost[n_done] = cost;
                done_at[n_done++] = t + 1 + (int64_t)rng_exp(&rng, 3e6);
                cost = -1;
            } else if (rc == LIMITER_WAIT) {
                FAST_ASSERT(w > t, "wait %lld not after %lld", (long long)w, (long long)t);
                t = w;
            } else {
                FAST_ASSERT(rc == LIMITER_BUSY && n_done > 0, "rc %d", rc);
                int64_t m = done_at[0];
                for (int k = 1; k < n_done; k++)
                    if (done_at[k] < m)
                        m = done_at[k];
                t = m > t ? m : t;
            }
            FAST_ASSERT(l.in_flight <= (conc ? conc : INT64_MAX), "pool over its size");
        }
        int64_t periods[3] = {US_PER_MIN, US_PER_MIN, US_PER_DAY};
        int64_t amounts[3] = {rpm, tpm, tpd};
        int64_t caps[3] = {l.rpm.capacity, l.tpm.capacity, l.tpd.capacity};
        FAST_ASSERT(!tpd || caps[2] == tpd, "TPD holds the whole day");
        FAST_ASSERT(burst || ((caps[0] == rpm) && caps[1] == tpm), "default: a period's worth");
        for (int d = 1; d < 3; d++)
            caps[d] = caps[d] > biggest ? caps[d] : biggest;
        for (int d = 0; d < 3; d++) {
            int64_t P = periods[d];
            const int64_t Ws[] = {1, US_PER_S, P / 60, P / 7, P / 2, P, P + P / 3, 3 * P};
            for (size_t k = 0; k < sizeof Ws / sizeof Ws[0]; k++)
                check_windows(adm, n, amounts[d], P, caps[d], d == 0, Ws[k]);
        }
    }
}
END_TEST

/*
 * The long-run admitted rate equals min(offered, limit) within 1 %: requests
 * against an RPM limit (odd seeds) or tokens of random size against a TPM limit
 * (even seeds), over 4 simulated hours with a FIFO backlog served greedily.
 */
START_TEST(property_long_run_rate)
{
    enum { RING = 1 << 19 };
    static int64_t ring[RING]; /* backlog of costs */
    for (uint64_t seed = 1; seed <= 40; seed++) {
        struct rng rng;
        rng_seed(&rng, seed * 7919);
        bool tokens = seed % 2 == 0;
        int64_t limit =
            tokens ? 20000 + (int64_t)rng_below(&rng, 100000) : 60 + (int64_t)rng_below(&rng, 240);
        /* token requests of mean size limit/120 .. limit/12: 0.1-1 per second */
        int64_t max_cost = tokens ? limit / 60 * (1 + (int64_t)rng_below(&rng, 10)) : 1;
        double mean_cost = (1 + max_cost) / 2.0;
        double limit_per_s = limit / 60.0; /* units per second */
        /* offered 0.3-0.8× or 1.3-3× the limit: away from ρ = 1, where the
         * backlog's random walk, not the limiter, decides the count */
        double u = rng_unit(&rng);
        double offered_units_per_s = limit_per_s * (u < 0.5 ? 0.3 + u : 1.3 + 3.4 * (u - 0.5));
        double gap_us = US_PER_S * mean_cost / offered_units_per_s;
        /* odd thirds at the default, the rest with a burst of 1 ms to 1 min: the long-run
         * rate does not depend on it, even where most token costs exceed the bucket */
        int64_t burst = seed % 3 ? 1000 + (int64_t)rng_below(&rng, US_PER_MIN) : 0;
        struct limiter l;
        limiter_init_burst(&l, tokens ? 0 : limit, tokens ? limit : 0, 0, 0, burst, 0);
        const int64_t horizon = 4 * US_PER_HOUR;
        int64_t t = 0, arrived = 0, admitted = 0, head = 0, tail = 0;
        int64_t next_arrival = (int64_t)rng_exp(&rng, gap_us);
        int64_t retry_at = TIME_NEVER;
        for (;;) {
            t = next_arrival < retry_at ? next_arrival : retry_at;
            if (t >= horizon)
                break;
            if (t == next_arrival) {
                int64_t c = 1 + (int64_t)rng_below(&rng, (uint64_t)max_cost);
                arrived += c;
                FAST_ASSERT(tail - head < RING, "backlog ring overflow");
                ring[tail++ % RING] = c;
                next_arrival = t + 1 + (int64_t)rng_exp(&rng, gap_us);
            }
            retry_at = TIME_NEVER;
            int64_t w;
            while (head < tail) {
                int64_t c = ring[head % RING];
                if (limiter_try(&l, t, c, &w) != LIMITER_OK) {
                    retry_at = w;
                    break;
                }
                limiter_release(&l);
                admitted += c;
                head++;
            }
        }
        double secs = (double)horizon / US_PER_S;
        double got = admitted / secs, offered = arrived / secs;
        double expect = offered < limit_per_s ? offered : limit_per_s;
        ck_assert_msg(got <= expect * 1.01 && got >= expect * 0.99,
                      "seed %llu (%s, burst %lld µs): admitted %.4f/s, offered %.4f/s, limit "
                      "%.4f/s",
                      (unsigned long long)seed, tokens ? "tokens" : "requests", (long long)burst,
                      got, offered, limit_per_s);
    }
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("limiter");
    TCase *tc = tcase_create("bucket");
    tcase_add_test(tc, bucket_exact_waits);
    tcase_add_test(tc, bucket_peek_take_is_try);
    tcase_add_test(tc, bucket_rounds_up);
    tcase_add_test(tc, bucket_same_now_twice);
    tcase_add_test(tc, bucket_no_drift_24h);
    tcase_add_test(tc, bucket_edges);
    tcase_add_test(tc, bucket_reconcile);
    tcase_add_test(tc, bucket_full_at);
    tcase_add_test(tc, burst_capacity);
    tcase_add_test(tc, cold_start_burst);
    tcase_add_test(tc, cost_above_burst);
    suite_add_tcase(s, tc);
    tc = tcase_create("limiter");
    tcase_add_test(tc, limiter_each_dimension);
    tcase_add_test(tc, limiter_combined);
    tcase_add_test(tc, limiter_reconciles);
    suite_add_tcase(s, tc);
    tc = tcase_create("properties");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, property_windows);
    tcase_add_test(tc, property_long_run_rate);
    tcase_add_test(tc, property_no_drift_burst);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
