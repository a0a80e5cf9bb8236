#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>

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

int main(void)
{
    Suite *s = suite_create("util");
    TCase *tc = tcase_create("parse");
    tcase_add_test(tc, durations);
    tcase_add_test(tc, rates);
    tcase_add_test(tc, round_trips);
    tcase_add_test(tc, counts_shares_bools);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
