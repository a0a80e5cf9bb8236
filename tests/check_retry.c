#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "retry.h"
#include "rng.h"
#include "util.h"

START_TEST(classification)
{
    static const struct {
        int status, should_retry;
        enum retry_class want;
    } cases[] = {
        {200, -1, RETRY_SUCCESS}, {201, -1, RETRY_SUCCESS}, {299, 0, RETRY_SUCCESS},
        {200, 1, RETRY_SUCCESS},  {429, -1, RETRY_RETRY},   {500, -1, RETRY_RETRY},
        {502, -1, RETRY_RETRY},   {503, -1, RETRY_RETRY},   {599, -1, RETRY_RETRY},
        {0, -1, RETRY_RETRY},     {408, -1, RETRY_RETRY},   {409, -1, RETRY_RETRY},
        {400, -1, RETRY_FAIL},    {401, -1, RETRY_FAIL},    {403, -1, RETRY_FAIL},
        {404, -1, RETRY_FAIL},    {422, -1, RETRY_FAIL},    {418, -1, RETRY_FAIL},
        {301, -1, RETRY_FAIL},    {429, 0, RETRY_FAIL},     {503, 0, RETRY_FAIL},
        {0, 0, RETRY_FAIL},       {400, 1, RETRY_RETRY},    {404, 1, RETRY_RETRY},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        ck_assert_msg(retry_classify(cases[i].status, cases[i].should_retry) == cases[i].want,
                      "status %d should_retry %d", cases[i].status, cases[i].should_retry);
}
END_TEST

static struct retry_config cfg(enum jitter_kind j)
{
    return (struct retry_config){.max_attempts = 10,
                                 .base_delay_us = 100 * US_PER_MS,
                                 .max_delay_us = 2 * US_PER_S,
                                 .jitter = j};
}

START_TEST(backoff_none)
{
    struct rng rng;
    rng_seed(&rng, 1);
    struct retry_config c = cfg(JITTER_NONE);
    int64_t prev = 0;
    const int64_t want[] = {100000, 200000, 400000, 800000, 1600000, 2000000, 2000000};
    for (int a = 1; a <= 7; a++)
        ck_assert_int_eq(retry_backoff_us(&c, a, &prev, &rng), want[a - 1]);
    /* huge attempt numbers saturate at the cap, no overflow */
    ck_assert_int_eq(retry_backoff_us(&c, 1000000, &prev, &rng), 2000000);
    c.max_delay_us = 0; /* no cap */
    ck_assert_int_gt(retry_backoff_us(&c, 200, &prev, &rng), 0);
}
END_TEST

START_TEST(backoff_jitter_bounds)
{
    struct rng rng;
    rng_seed(&rng, 2);
    for (int j = JITTER_FULL; j <= JITTER_DECORRELATED; j++) {
        struct retry_config c = cfg(j);
        int64_t prev = 0, lo_seen = INT64_MAX, hi_seen = 0;
        for (int i = 0; i < 20000; i++) {
            int a = 1 + i % 8;
            if (a == 1)
                prev = 0;
            int64_t before = prev > c.base_delay_us ? prev : c.base_delay_us;
            int64_t d = retry_backoff_us(&c, a, &prev, &rng);
            int64_t ceiling = c.base_delay_us << (a - 1);
            if (ceiling > c.max_delay_us)
                ceiling = c.max_delay_us;
            if (d < lo_seen)
                lo_seen = d;
            if (d > hi_seen)
                hi_seen = d;
            if (d < 0 || d > c.max_delay_us)
                ck_abort_msg("jitter %d: %lld out of [0, cap]", j, (long long)d);
            if (j == JITTER_FULL && d > ceiling)
                ck_abort_msg("full: %lld > %lld", (long long)d, (long long)ceiling);
            if (j == JITTER_EQUAL && (d < ceiling / 2 || d > ceiling))
                ck_abort_msg("equal: %lld", (long long)d);
            if (j == JITTER_DECORRELATED && (d < c.base_delay_us || d > 3 * before))
                ck_abort_msg("decorrelated: %lld (prev %lld)", (long long)d, (long long)before);
        }
        /* it does spread */
        ck_assert_int_lt(lo_seen, j == JITTER_DECORRELATED ? 2 * c.base_delay_us : c.base_delay_us);
        ck_assert_int_gt(hi_seen, c.max_delay_us * 9 / 10);
    }
}
END_TEST

/* The draws are spread as documented: means of full, equal and decorrelated jitter. */
START_TEST(backoff_means)
{
    struct rng rng;
    rng_seed(&rng, 3);
    const int n = 200000;
    struct retry_config c = cfg(JITTER_FULL);
    double sum = 0;
    int64_t prev = 0;
    for (int i = 0; i < n; i++)
        sum += (double)retry_backoff_us(&c, 3, &prev, &rng); /* ceiling 400 ms */
    ck_assert_double_eq_tol(sum / n, 200000, 2000);
    c = cfg(JITTER_EQUAL);
    sum = 0;
    for (int i = 0; i < n; i++)
        sum += (double)retry_backoff_us(&c, 3, &prev, &rng);
    ck_assert_double_eq_tol(sum / n, 300000, 2000);
    c = cfg(JITTER_DECORRELATED);
    sum = 0;
    for (int i = 0; i < n; i++) {
        prev = 200000; /* previous delay 200 ms: uniform [100 ms, 600 ms] */
        sum += (double)retry_backoff_us(&c, 3, &prev, &rng);
    }
    ck_assert_double_eq_tol(sum / n, 350000, 3000);
}
END_TEST

START_TEST(backoff_reproducible)
{
    struct rng a, b;
    rng_seed(&a, 99);
    rng_seed(&b, 99);
    struct retry_config c = cfg(JITTER_FULL);
    int64_t pa = 0, pb = 0;
    for (int i = 1; i < 50; i++)
        ck_assert_int_eq(retry_backoff_us(&c, 1 + i % 5, &pa, &a),
                         retry_backoff_us(&c, 1 + i % 5, &pb, &b));
}
END_TEST

START_TEST(budget_ratio_and_window)
{
    struct retry_budget b;
    /* 20 % of first attempts over 16 s, no floor */
    retry_budget_init(&b, 0.2, 0, 16 * US_PER_S, 0);
    ck_assert(!retry_budget_take(&b, 0)); /* nothing sent: nothing to retry */
    for (int i = 0; i < 10; i++)
        retry_budget_first(&b, 0);
    ck_assert(retry_budget_take(&b, 1));
    ck_assert(retry_budget_take(&b, 2));
    ck_assert(!retry_budget_take(&b, 3)); /* 2 = 20 % of 10 */
    /* 15 first attempts in the window: 3 retries allowed, 2 used */
    for (int i = 0; i < 5; i++)
        retry_budget_first(&b, 10 * US_PER_S);
    ck_assert(retry_budget_take(&b, 10 * US_PER_S));
    ck_assert(!retry_budget_take(&b, 10 * US_PER_S));
    for (int i = 0; i < 5; i++)
        retry_budget_first(&b, 10 * US_PER_S);
    ck_assert(retry_budget_take(&b, 10 * US_PER_S)); /* 20 firsts: 4 allowed */
    /* at 17 s the slot of t=0 (10 firsts, 2 retries) has slid out: 10 firsts
     * and 2 retries remain, 2 allowed */
    ck_assert(!retry_budget_take(&b, 17 * US_PER_S));
    /* far later everything is gone */
    ck_assert(!retry_budget_take(&b, 1000 * US_PER_S));
    retry_budget_first(&b, 1000 * US_PER_S);
    for (int i = 0; i < 4; i++)
        retry_budget_first(&b, 1000 * US_PER_S);
    ck_assert(retry_budget_take(&b, 1000 * US_PER_S));
}
END_TEST

START_TEST(budget_floor_and_off)
{
    struct retry_budget b;
    retry_budget_init(&b, 0.0, 3, 60 * US_PER_S, 0);
    for (int i = 0; i < 3; i++)
        ck_assert(retry_budget_take(&b, i));
    ck_assert(!retry_budget_take(&b, 4));
    ck_assert(retry_budget_take(&b, 61 * US_PER_S));
    retry_budget_init(&b, 0.0, 0, 0, 0); /* window 0: no budget at all */
    for (int i = 0; i < 1000; i++)
        ck_assert(retry_budget_take(&b, i));
}
END_TEST

/* retry_budget_left says what take would allow, at any time, and changes nothing. */
START_TEST(budget_left_matches_take)
{
    struct retry_budget b;
    retry_budget_init(&b, 0.3, 2, 16 * US_PER_S, 0);
    uint64_t x = 7;
    int64_t now = 0;
    for (int i = 0; i < 3000; i++) {
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        now += (int64_t)(x >> 40) % (700 * US_PER_MS);
        if ((x >> 33) % 3)
            retry_budget_first(&b, now);
        int64_t left = retry_budget_left(&b, now);
        ck_assert_int_eq(retry_budget_left(&b, now), left); /* reading changes nothing */
        struct retry_budget copy = b;
        int64_t took = 0;
        while (retry_budget_take(&copy, now))
            took++;
        ck_assert_int_eq(took, left);
        if ((x >> 35) % 2)
            retry_budget_take(&b, now);
    }
    struct retry_budget off;
    retry_budget_init(&off, 0.1, 0, 0, 0);
    ck_assert_int_eq(retry_budget_left(&off, 5), -1);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("retry");
    TCase *tc = tcase_create("retry");
    tcase_add_test(tc, classification);
    tcase_add_test(tc, backoff_none);
    tcase_add_test(tc, backoff_jitter_bounds);
    tcase_add_test(tc, backoff_means);
    tcase_add_test(tc, backoff_reproducible);
    tcase_add_test(tc, budget_ratio_and_window);
    tcase_add_test(tc, budget_floor_and_off);
    tcase_add_test(tc, budget_left_matches_take);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
