#include "config.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "scenario.h"
#include "util.h"
#include "workload.h"

static struct class_config open_class(enum arrival_kind kind, double rate)
{
    struct class_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "test");
    c.arrival.kind = kind;
    c.arrival.rate_per_s = rate;
    c.prompt_tokens.kind = DIST_CONST;
    c.prompt_tokens.a = 100;
    c.completion_tokens.kind = DIST_CONST;
    c.completion_tokens.a = 50;
    return c;
}

/* Count arrivals of a whole run, checking order and range; optionally keep stats on gaps. */
struct run_stats {
    int64_t n;
    double gap_sum, gap_sq;
    int64_t first, last;
};

static struct run_stats run(const struct class_config *c, int64_t end_us, uint64_t seed)
{
    struct rng r;
    rng_seed(&r, seed);
    workload *w = workload_new(c, end_us, &r);
    struct run_stats s = {0, 0, 0, -1, -1};
    int64_t t, prev = -1;
    while ((t = workload_next_arrival(w)) != TIME_NEVER) {
        ck_assert_int_ge(t, 0);
        ck_assert_int_lt(t, end_us);
        if (prev >= 0) {
            ck_assert_int_ge(t, prev);
            double g = (double)(t - prev);
            s.gap_sum += g;
            s.gap_sq += g * g;
        } else {
            s.first = t;
        }
        prev = t;
        s.n++;
    }
    s.last = prev;
    ck_assert_int_eq(workload_next_arrival(w), TIME_NEVER); /* stays finished */
    workload_free(w);
    return s;
}

/* Mean count over seeds, asserting it lies within rel of expected. */
static void check_mean_count(const struct class_config *c, int64_t end_us, double expected,
                             double rel, int seeds)
{
    double sum = 0;
    for (int s = 0; s < seeds; s++)
        sum += (double)run(c, end_us, 1000 + s).n;
    double mean = sum / seeds;
    ck_assert_msg(fabs(mean - expected) <= rel * expected, "mean count %.1f, expected %.1f", mean,
                  expected);
}

START_TEST(constant_exact)
{
    struct class_config c = open_class(ARRIVAL_CONSTANT, 10);
    struct rng r;
    rng_seed(&r, 1);
    workload *w = workload_new(&c, 10 * US_PER_S, &r);
    ck_assert(!workload_is_closed(w));
    ck_assert_int_eq(workload_users(w), 0);
    for (int64_t k = 0; k < 100; k++)
        ck_assert_int_eq(workload_next_arrival(w), k * 100000);
    ck_assert_int_eq(workload_next_arrival(w), TIME_NEVER);
    workload_free(w);

    /* A rate that does not divide a second: rounded positions, no drift. */
    c.arrival.rate_per_s = 3;
    w = workload_new(&c, 2 * US_PER_S, &r);
    int64_t want[] = {0, 333333, 666667, 1000000, 1333333, 1666667};
    for (int i = 0; i < 6; i++)
        ck_assert_int_eq(workload_next_arrival(w), want[i]);
    ck_assert_int_eq(workload_next_arrival(w), TIME_NEVER);
    workload_free(w);

    /* A long run keeps exact count ceil(D * rate). */
    c.arrival.rate_per_s = 7;
    ck_assert_int_eq(run(&c, 3600 * US_PER_S, 1).n, 7 * 3600);
    c.arrival.rate_per_s = 0;
    ck_assert_int_eq(run(&c, US_PER_S, 1).n, 0);
    workload_free(NULL);
}
END_TEST

START_TEST(poisson_rate_and_gaps)
{
    struct class_config c = open_class(ARRIVAL_POISSON, 50);
    /* 20 seeds × 10,000 expected: the mean count's sd is 22, well inside 0.5%. */
    check_mean_count(&c, 200 * US_PER_S, 10000, 0.005, 20);
    struct run_stats s = run(&c, 2000 * US_PER_S, 7);
    double n = (double)(s.n - 1), mean = s.gap_sum / n, var = s.gap_sq / n - mean * mean;
    ck_assert_msg(fabs(var / (mean * mean) - 1) < 0.05, "CV² %.3f", var / (mean * mean));
}
END_TEST

START_TEST(gamma_cv2)
{
    double cv2s[] = {4, 0.25, 1};
    for (int i = 0; i < 3; i++) {
        struct class_config c = open_class(ARRIVAL_GAMMA, 20);
        c.arrival.burstiness = cv2s[i];
        struct run_stats s = run(&c, 20000 * US_PER_S, 11 + i);
        double n = (double)(s.n - 1), mean = s.gap_sum / n, var = s.gap_sq / n - mean * mean;
        double cv2 = var / (mean * mean);
        ck_assert_msg(fabs(cv2 - cv2s[i]) < 0.06 * cv2s[i], "CV² %.3f, want %.2f", cv2, cv2s[i]);
        ck_assert_msg(fabs(mean - 50000) < 0.02 * 50000, "mean gap %.0f", mean);
    }
    /* Burstiness 0: constant gaps, the first after one gap. */
    struct class_config c = open_class(ARRIVAL_GAMMA, 4);
    c.arrival.burstiness = 0;
    struct run_stats s = run(&c, 10 * US_PER_S, 1);
    ck_assert_int_eq(s.n, 39);
    ck_assert_int_eq(s.first, 250000);
}
END_TEST

START_TEST(burst_exact)
{
    struct class_config c = open_class(ARRIVAL_BURST, 0);
    c.arrival.at_us = 2 * US_PER_S;
    c.arrival.count = 500;
    struct run_stats s = run(&c, 10 * US_PER_S, 1);
    ck_assert_int_eq(s.n, 500);
    ck_assert_int_eq(s.first, 2 * US_PER_S);
    ck_assert_int_eq(s.last, 2 * US_PER_S);
    c.arrival.at_us = 10 * US_PER_S; /* at the end: outside [0, end) */
    ck_assert_int_eq(run(&c, 10 * US_PER_S, 1).n, 0);
    c.arrival.at_us = 0;
    c.arrival.count = 0;
    ck_assert_int_eq(run(&c, 10 * US_PER_S, 1).n, 0);
}
END_TEST

START_TEST(ramp_integral)
{
    /* 0 -> 100/s over 60 s, then 100/s for 60 s more: 3000 + 6000 expected. */
    struct class_config c = open_class(ARRIVAL_RAMP, 0);
    c.arrival.from_per_s = 0;
    c.arrival.to_per_s = 100;
    c.arrival.over_us = 60 * US_PER_S;
    check_mean_count(&c, 120 * US_PER_S, 9000, 0.01, 20);
    check_mean_count(&c, 60 * US_PER_S, 3000, 0.015, 20);
    check_mean_count(&c, 30 * US_PER_S, 750, 0.03, 20);
    /* Down: 100 -> 0 over 60 s, then silent: 3000, none after 60 s. */
    c.arrival.from_per_s = 100;
    c.arrival.to_per_s = 0;
    check_mean_count(&c, 120 * US_PER_S, 3000, 0.015, 20);
    for (int s = 0; s < 5; s++)
        ck_assert_int_lt(run(&c, 120 * US_PER_S, s).last, 60 * US_PER_S);
    /* Flat ramp = Poisson; ramp of length 0 = Poisson at `to`. */
    c.arrival.from_per_s = c.arrival.to_per_s = 40;
    check_mean_count(&c, 100 * US_PER_S, 4000, 0.01, 20);
    c.arrival.over_us = 0;
    c.arrival.from_per_s = 0;
    check_mean_count(&c, 100 * US_PER_S, 4000, 0.01, 20);
}
END_TEST

START_TEST(onoff_periods)
{
    struct class_config c = open_class(ARRIVAL_ONOFF, 100);
    c.arrival.on_us = US_PER_S;
    c.arrival.off_us = 3 * US_PER_S;
    check_mean_count(&c, 40 * US_PER_S, 1000, 0.01, 20);
    struct rng r;
    rng_seed(&r, 3);
    workload *w = workload_new(&c, 40 * US_PER_S, &r);
    int64_t t;
    int64_t n = 0;
    while ((t = workload_next_arrival(w)) != TIME_NEVER) {
        ck_assert_int_le(t % (4 * US_PER_S), US_PER_S); /* never in an off period */
        n++;
    }
    ck_assert_int_gt(n, 800);
    workload_free(w);
}
END_TEST

START_TEST(closed_loop)
{
    struct class_config c = open_class(ARRIVAL_CLOSED, 0);
    c.arrival.users = 1000;
    c.arrival.think_us = US_PER_S;
    struct rng r;
    rng_seed(&r, 5);
    workload *w = workload_new(&c, 3600 * US_PER_S, &r);
    ck_assert(workload_is_closed(w));
    ck_assert_int_eq(workload_users(w), 1000);
    double sum = 0;
    for (int64_t u = 0; u < 1000; u++) {
        int64_t t = workload_user_start(w, u);
        ck_assert_int_ge(t, 0);
        sum += (double)t;
    }
    ck_assert_msg(fabs(sum / 1000 - US_PER_S) < 0.1 * US_PER_S, "mean start %.0f", sum / 1000);
    sum = 0;
    for (int i = 0; i < 10000; i++) {
        int64_t t = workload_after_done(w, 5 * US_PER_S);
        ck_assert_int_ge(t, 5 * US_PER_S);
        sum += (double)(t - 5 * US_PER_S);
    }
    ck_assert_msg(fabs(sum / 10000 - US_PER_S) < 0.03 * US_PER_S, "mean think %.0f", sum / 10000);
    /* Past the end the user stops. */
    ck_assert_int_eq(workload_after_done(w, 3600 * US_PER_S), TIME_NEVER);
    workload_free(w);

    c.arrival.think_us = 0;
    c.arrival.users = 2;
    w = workload_new(&c, 10 * US_PER_S, &r);
    ck_assert_int_eq(workload_user_start(w, 0), 0);
    ck_assert_int_eq(workload_user_start(w, 1), 0);
    ck_assert_int_eq(workload_after_done(w, 1234), 1234);
    ck_assert_int_eq(workload_after_done(w, 10 * US_PER_S - 1), 10 * US_PER_S - 1);
    ck_assert_int_eq(workload_after_done(w, 10 * US_PER_S), TIME_NEVER);
    workload_free(w);
}
END_TEST

static double sample_mean(const struct dist_config *d, int n, uint64_t seed, int64_t *min_out)
{
    struct rng r;
    rng_seed(&r, seed);
    double s = 0;
    int64_t mn = INT64_MAX;
    for (int i = 0; i < n; i++) {
        int64_t v = dist_draw(d, &r);
        s += (double)v;
        if (v < mn)
            mn = v;
    }
    if (min_out)
        *min_out = mn;
    return s / n;
}

static int cmp64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

START_TEST(distributions)
{
    struct dist_config d;
    memset(&d, 0, sizeof d);
    int64_t mn;

    d.kind = DIST_CONST;
    d.a = 7;
    ck_assert(sample_mean(&d, 100, 1, &mn) == 7);
    ck_assert(dist_mean(&d) == 7);
    d.a = 0.2; /* clamped to 1 */
    ck_assert(sample_mean(&d, 10, 1, &mn) == 1);

    d.kind = DIST_UNIFORM;
    d.a = 10;
    d.b = 20;
    double m = sample_mean(&d, 100000, 2, &mn);
    ck_assert_msg(fabs(m - 15) < 0.05, "uniform mean %.3f", m);
    ck_assert_int_eq(mn, 10);
    ck_assert(dist_mean(&d) == 15);

    d.kind = DIST_NORMAL;
    d.a = 500;
    d.b = 50;
    m = sample_mean(&d, 100000, 3, &mn);
    ck_assert_msg(fabs(m - 500) < 1, "normal mean %.3f", m);
    d.a = 0;
    d.b = 1;
    sample_mean(&d, 1000, 3, &mn);
    ck_assert_int_eq(mn, 1); /* never below 1 */

    d.kind = DIST_LOGNORMAL;
    d.a = 200;
    d.b = 0.5;
    enum { N = 100001 };
    static int64_t v[N];
    struct rng r;
    rng_seed(&r, 4);
    double s = 0;
    for (int i = 0; i < N; i++) {
        v[i] = dist_draw(&d, &r);
        s += (double)v[i];
    }
    qsort(v, N, sizeof v[0], cmp64);
    ck_assert_msg(llabs(v[N / 2] - 200) <= 2, "lognormal median %lld", (long long)v[N / 2]);
    double want = 200 * exp(0.125);
    ck_assert_msg(fabs(s / N - want) < 0.01 * want, "lognormal mean %.2f want %.2f", s / N, want);
    ck_assert(fabs(dist_mean(&d) - want) < 1e-9);

    int64_t samples[] = {1, 2, 3, 10};
    d.kind = DIST_EMPIRICAL;
    d.values = samples;
    d.n_values = 4;
    m = sample_mean(&d, 100000, 5, &mn);
    ck_assert_msg(fabs(m - 4) < 0.05, "empirical mean %.3f", m);
    ck_assert_int_eq(mn, 1);
    ck_assert(dist_mean(&d) == 4);
}
END_TEST

START_TEST(class_tokens)
{
    struct class_config c = open_class(ARRIVAL_POISSON, 1);
    c.prompt_tokens.kind = DIST_UNIFORM;
    c.prompt_tokens.a = 100;
    c.prompt_tokens.b = 200;
    c.completion_tokens.kind = DIST_UNIFORM;
    c.completion_tokens.a = 1;
    c.completion_tokens.b = 1000;
    c.max_tokens = 256;
    struct rng r;
    rng_seed(&r, 9);
    workload *w = workload_new(&c, US_PER_S, &r);
    ck_assert_int_eq(workload_max_tokens(w), 256);
    int clipped = 0;
    for (int i = 0; i < 10000; i++) {
        int64_t p = workload_prompt_tokens(w), n = workload_completion_tokens(w);
        ck_assert(p >= 100 && p <= 200);
        ck_assert(n >= 1 && n <= 256);
        clipped += n == 256;
    }
    ck_assert_int_gt(clipped, 7000); /* ~74.4% of 1..1000 lie above 256 */
    workload_free(w);
}
END_TEST

START_TEST(deterministic_streams)
{
    /* The same seed gives the same stream; two generators of one parent differ. */
    struct class_config c = open_class(ARRIVAL_POISSON, 100);
    struct rng r1, r2;
    rng_seed(&r1, 42);
    rng_seed(&r2, 42);
    workload *a = workload_new(&c, 10 * US_PER_S, &r1);
    workload *b = workload_new(&c, 10 * US_PER_S, &r2);
    workload *a2 = workload_new(&c, 10 * US_PER_S, &r1);
    int same = 1, differ = 0;
    for (int i = 0; i < 100; i++) {
        int64_t x = workload_next_arrival(a), y = workload_next_arrival(b);
        int64_t z = workload_next_arrival(a2);
        same &= x == y;
        differ |= x != z;
    }
    ck_assert(same);
    ck_assert(differ);
    workload_free(a);
    workload_free(b);
    workload_free(a2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("workload");
    TCase *tc = tcase_create("workload");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, constant_exact);
    tcase_add_test(tc, poisson_rate_and_gaps);
    tcase_add_test(tc, gamma_cv2);
    tcase_add_test(tc, burst_exact);
    tcase_add_test(tc, ramp_integral);
    tcase_add_test(tc, onoff_periods);
    tcase_add_test(tc, closed_loop);
    tcase_add_test(tc, distributions);
    tcase_add_test(tc, class_tokens);
    tcase_add_test(tc, deterministic_streams);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
