#include "config.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "rng.h"
#include "util.h"

START_TEST(durations)
{
    int64_t us = -1;
    ck_assert_int_eq(parse_duration_us("250ms", &us), 0);
    ck_assert_int_eq(us, 250000);
    ck_assert_int_eq(parse_duration_us("1m30s", &us), 0);
    ck_assert_int_eq(us, 90 * 1000000LL);
    ck_assert_int_eq(parse_duration_us("1.5s", &us), 0);
    ck_assert_int_eq(us, 1500000);
    ck_assert_int_eq(parse_duration_us("1h", &us), 0);
    ck_assert_int_eq(us, 3600 * 1000000LL);
    ck_assert_int_eq(parse_duration_us("0", &us), 0);
    ck_assert_int_eq(us, 0);
    ck_assert_int_eq(parse_duration_us("30", &us), -EINVAL);
    ck_assert_int_eq(parse_duration_us("-1s", &us), -ERANGE);
    ck_assert_int_eq(parse_duration_us("1.5.3s", &us), -EINVAL);
    ck_assert_int_eq(parse_duration_us("5 parsecs", &us), -EINVAL);
    ck_assert_int_eq(parse_duration_us("", &us), -EINVAL);
}
END_TEST

START_TEST(rates)
{
    double r = 0;
    ck_assert_int_eq(parse_rate_per_s("20/s", &r), 0);
    ck_assert(r == 20);
    ck_assert_int_eq(parse_rate_per_s("600/m", &r), 0);
    ck_assert(r == 10);
    ck_assert_int_eq(parse_rate_per_s("20", &r), -EINVAL);
    ck_assert_int_eq(parse_rate_per_s("20/x", &r), -EINVAL);
    ck_assert_int_eq(parse_rate_per_s("-1/s", &r), -ERANGE);
}
END_TEST

START_TEST(round_trips)
{
    char buf[64];
    int64_t us;
    const int64_t cases[] = {1, 999, 1000, 250000, 1000000, 90000000, 3600000000LL, 1500};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ck_assert_int_eq(parse_duration_us(format_duration(cases[i], buf, sizeof buf), &us), 0);
        ck_assert_int_eq(us, cases[i]);
    }
    const double cases_r[] = {20, 10, 1.0 / 60, 0.25, 1.0 / 3, 123.456};
    for (size_t i = 0; i < sizeof cases_r / sizeof cases_r[0]; i++) {
        double r;
        ck_assert_int_eq(parse_rate_per_s(format_rate(cases_r[i], buf, sizeof buf), &r), 0);
        ck_assert_msg(r == cases_r[i], "%s", buf);
    }
}
END_TEST

START_TEST(counts_shares_bools)
{
    int64_t n;
    double d;
    int b;
    ck_assert_int_eq(parse_count("90k", &n), 0);
    ck_assert_int_eq(n, 90000);
    ck_assert_int_eq(parse_count("99999999999999999999", &n), -ERANGE);
    ck_assert_int_eq(parse_count("12x", &n), -EINVAL);
    ck_assert_int_eq(parse_share("5%", &d), 0);
    ck_assert(d == 0.05);
    ck_assert_int_eq(parse_share("1.5", &d), -ERANGE);
    ck_assert_int_eq(parse_bool("yes", &b), 0);
    ck_assert_int_eq(b, 1);
    ck_assert_int_eq(parse_bool("maybe", &b), -EINVAL);
    ck_assert_int_eq(edit_distance("tokens_per_minute", "token_per_minute"), 1);
}
END_TEST

/* The ziggurat tables follow their recurrence: every layer has area V. */
START_TEST(exp_ziggurat_tables)
{
    const double R = 7.69711747013104972, V = 3.949659822581572e-3;
    const double *x = rng_exp_zig_x, *f = rng_exp_zig_f;
    ck_assert_double_eq_tol(x[1], R, 1e-15);
    ck_assert_double_eq_tol(x[0] * f[1], V, 1e-15); /* base strip: box to x[0] */
    ck_assert(x[256] == 0 && f[256] == 1);
    for (int i = 1; i < 256; i++) {
        ck_assert_double_eq_tol(f[i], exp(-x[i]), 1e-16);
        ck_assert(x[i + 1] < x[i]);
        ck_assert_double_eq_tol(x[i] * (f[i + 1] - f[i]), V, 1e-14);
    }
}
END_TEST

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/*
 * rng_exp is Exp(mean): moments, the tail past the ziggurat's base strip, and
 * Kolmogorov–Smirnov against 1 - e^-x. Fixed seeds, bounds at 5 sigma or the
 * KS 0.1% critical value, so a correct sampler fails none of them.
 */
START_TEST(exp_distribution)
{
    enum { N = 400000 };
    static double v[N];
    for (uint64_t seed = 1; seed <= 3; seed++) {
        struct rng r;
        rng_seed(&r, seed);
        double sum = 0, sum2 = 0;
        int past8 = 0;
        for (int i = 0; i < N; i++) {
            double x = rng_exp(&r, 2.5) / 2.5;
            ck_assert(x > 0);
            v[i] = x;
            sum += x;
            sum2 += x * x;
            past8 += x > 8;
        }
        double mean = sum / N, var = sum2 / N - mean * mean;
        ck_assert_double_eq_tol(mean, 1, 5 * sqrt(1.0 / N));
        ck_assert_double_eq_tol(var, 1, 5 * sqrt(8.0 / N)); /* Var(s^2) = 8/n for Exp(1) */
        double want8 = N * exp(-8.0);
        ck_assert_double_eq_tol(past8, want8, 5 * sqrt(want8));
        qsort(v, N, sizeof v[0], cmp_double);
        double d = 0;
        for (int i = 0; i < N; i++) {
            double cdf = 1 - exp(-v[i]);
            d = fmax(d, fmax(cdf - (double)i / N, (double)(i + 1) / N - cdf));
        }
        ck_assert_double_lt(d, 1.95 / sqrt(N));
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, durations);
    tcase_add_test(tc, rates);
    tcase_add_test(tc, round_trips);
    tcase_add_test(tc, counts_shares_bools);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("rng");
    tcase_set_timeout(tr, 60);
    tcase_add_test(tr, exp_ziggurat_tables);
    tcase_add_test(tr, exp_distribution);
    suite_add_tcase(s, tr);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
