#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "ratehdr.h"
#include "util.h"

#define T1994 (784111777LL * US_PER_S)  /* Sun, 06 Nov 1994 08:49:37 GMT */
#define T2024 (1714566896LL * US_PER_S) /* 2024-05-01T12:34:56Z */

START_TEST(go_durations)
{
    static const struct {
        const char *s;
        int64_t us;
    } ok[] = {
        {"1s", 1000000},
        {"6m0s", 360000000},
        {"12ms", 12000},
        {"23h47m36.648s", ((23 * 60 + 47) * 60 + 36) * US_PER_S + 648000},
        {"0s", 0},
        {"0", 0},
        {"250us", 250},
        {"250\xc2\xb5s", 250},
        {"1500ns", 2},
        {"1ns", 1},
        {"0.5s", 500000},
        {"1.0000001s", 1000001},
        {"2h", 2 * US_PER_HOUR},
        {"1m30s", 90000000},
        {" 7s ", 7000000},
        {"1.5m", 90000000},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        int64_t us = -7;
        ck_assert_msg(ratehdr_parse_go_duration(ok[i].s, &us) == 0, "%s", ok[i].s);
        ck_assert_msg(us == ok[i].us, "%s -> %lld, want %lld", ok[i].s, (long long)us,
                      (long long)ok[i].us);
    }
    static const char *const bad[] = {"",
                                      " ",
                                      "1",
                                      "-1s",
                                      "1.5.3s",
                                      "s",
                                      "1x",
                                      "1 s",
                                      "abc",
                                      "1s2",
                                      ".5s",
                                      "1.s",
                                      "99999999999999999999s",
                                      "9223372036854775807h",
                                      "1s-",
                                      "+1s"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int64_t us = -7;
        ck_assert_msg(ratehdr_parse_go_duration(bad[i], &us) < 0, "'%s' accepted", bad[i]);
        ck_assert_int_eq(us, -7);
    }
}
END_TEST

START_TEST(dates)
{
    int64_t t = 0;
    ck_assert_int_eq(ratehdr_parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT", &t), 0);
    ck_assert_int_eq(t, T1994);
    ck_assert_int_eq(ratehdr_parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT", &t), 0);
    ck_assert_int_eq(t, T1994);
    ck_assert_int_eq(ratehdr_parse_http_date("Sun Nov  6 08:49:37 1994", &t), 0);
    ck_assert_int_eq(t, T1994);
    ck_assert_int_eq(ratehdr_parse_http_date("Tue, 29 Feb 2000 00:00:00 GMT", &t), 0);
    ck_assert_int_eq(t, 951782400LL * US_PER_S);
    static const char *const bad_http[] = {"",
                                           "Sun, 06 Nov 1994 08:49:37",
                                           "Sun, 06 Nov 1994 08:49:37 PST",
                                           "Sun, 31 Feb 1994 08:49:37 GMT",
                                           "Sun, 06 Foo 1994 08:49:37 GMT",
                                           "Sun, 6 Nov 1994 08:49:37 GMT",
                                           "Sun, 06 Nov 1994 25:49:37 GMT",
                                           "Sun, 06 Nov 1994 08:49:37 GMT junk",
                                           "tomorrow",
                                           "Mon, 29 Feb 1900 00:00:00 GMT"};
    for (size_t i = 0; i < sizeof bad_http / sizeof bad_http[0]; i++)
        ck_assert_msg(ratehdr_parse_http_date(bad_http[i], &t) < 0, "'%s'", bad_http[i]);

    ck_assert_int_eq(ratehdr_parse_rfc3339("2024-05-01T12:34:56Z", &t), 0);
    ck_assert_int_eq(t, T2024);
    ck_assert_int_eq(ratehdr_parse_rfc3339("2024-05-01t12:34:56z", &t), 0);
    ck_assert_int_eq(t, T2024);
    ck_assert_int_eq(ratehdr_parse_rfc3339("2024-05-01 12:34:56Z", &t), 0);
    ck_assert_int_eq(t, T2024);
    ck_assert_int_eq(ratehdr_parse_rfc3339("2024-05-01T14:34:56+02:00", &t), 0);
    ck_assert_int_eq(t, T2024);
    ck_assert_int_eq(ratehdr_parse_rfc3339("2024-05-01T12:34:56.5Z", &t), 0);
    ck_assert_int_eq(t, T2024 + 500000);
    ck_assert_int_eq(ratehdr_parse_rfc3339("2024-05-01T12:34:56.0000001Z", &t), 0);
    ck_assert_int_eq(t, T2024 + 1); /* rounded up, never early */
    static const char *const bad_3339[] = {"",
                                           "2024-05-01",
                                           "2024-05-01T12:34:56",
                                           "2024-13-01T12:34:56Z",
                                           "2024-05-01T12:34:56.Z",
                                           "2024-5-1T12:34:56Z",
                                           "2024-05-01T12:34:56+2:00",
                                           "-2024-05-01T12:34:56Z",
                                           "2024-05-01T12:34:56Zjunk",
                                           "garbage"};
    for (size_t i = 0; i < sizeof bad_3339 / sizeof bad_3339[0]; i++)
        ck_assert_msg(ratehdr_parse_rfc3339(bad_3339[i], &t) < 0, "'%s'", bad_3339[i]);
}
END_TEST

static struct rlinfo parse1(const char *name, const char *value, int64_t now_unix)
{
    struct rlinfo i;
    ratehdr_parse(&name, &value, 1, now_unix, &i);
    return i;
}

START_TEST(retry_after)
{
    static const struct {
        const char *name, *value;
        int64_t want_us;
    } ok[] = {
        {"Retry-After", "30", 30 * US_PER_S},
        {"retry-after", "0", 0},
        {"RETRY-AFTER", " 2 ", 2 * US_PER_S},
        {"Retry-After", "1.5", 1500000},
        {"Retry-After", "0.0000001", 1}, /* round up */
        {"Retry-After", "Sun, 06 Nov 1994 08:49:47 GMT", 10 * US_PER_S},
        {"Retry-After", "Sun, 06 Nov 1994 08:49:30 GMT", 0}, /* past: go now */
        {"retry-after-ms", "250", 250000},
        {"retry-after-ms", "0.5", 500},
        {"retry-after-ms", "12.0001", 12001},
    };
    for (size_t k = 0; k < sizeof ok / sizeof ok[0]; k++) {
        struct rlinfo i = parse1(ok[k].name, ok[k].value, T1994);
        ck_assert_msg(i.retry_after_us == ok[k].want_us && i.parse_errors == 0, "%s: %s -> %lld",
                      ok[k].name, ok[k].value, (long long)i.retry_after_us);
    }
    /* the date is relative to the caller's wall clock, to the µs */
    struct rlinfo i = parse1("Retry-After", "Sun, 06 Nov 1994 08:49:47 GMT", T1994 + 250);
    ck_assert_int_eq(i.retry_after_us, 10 * US_PER_S - 250);
    /* retry-after-ms wins over Retry-After, in either order */
    const char *n[] = {"retry-after-ms", "Retry-After"}, *v[] = {"1200", "5"};
    ratehdr_parse(n, v, 2, 0, &i);
    ck_assert_int_eq(i.retry_after_us, 1200000);
    const char *n2[] = {"Retry-After", "retry-after-ms"}, *v2[] = {"5", "1200"};
    ratehdr_parse(n2, v2, 2, 0, &i);
    ck_assert_int_eq(i.retry_after_us, 1200000);
    static const char *const bad[] = {"",
                                      "-1",
                                      "abc",
                                      "1e3",
                                      "30s",
                                      "1.5.3",
                                      "0x10",
                                      "99999999999999999999",
                                      "9223372036855",
                                      "Sun, 06 Nov 1994",
                                      "1,5"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        i = parse1("Retry-After", bad[k], T1994);
        ck_assert_msg(i.retry_after_us == -1 && i.parse_errors == 1, "'%s'", bad[k]);
        i = parse1("retry-after-ms", bad[k], T1994);
        if (strcmp(bad[k], "9223372036855") != 0) /* a valid (large) ms count */
            ck_assert_msg(i.retry_after_us == -1 && i.parse_errors == 1, "ms '%s'", bad[k]);
    }
    i = parse1("x-should-retry", "true", 0);
    ck_assert_int_eq(i.should_retry, 1);
    i = parse1("X-Should-Retry", "false", 0);
    ck_assert_int_eq(i.should_retry, 0);
    i = parse1("x-should-retry", "maybe", 0);
    ck_assert_int_eq(i.should_retry, -1);
    ck_assert_int_eq(i.parse_errors, 1);
}
END_TEST

START_TEST(openai)
{
    const char *n[] = {"x-ratelimit-limit-requests",
                       "x-ratelimit-limit-tokens",
                       "x-ratelimit-remaining-requests",
                       "x-ratelimit-remaining-tokens",
                       "x-ratelimit-reset-requests",
                       "x-ratelimit-reset-tokens",
                       "x-request-id",
                       "content-type"};
    const char *v[] = {"60", "150000", "59", "149984", "1s", "6m0s", "req_123", "json"};
    struct rlinfo i;
    ck_assert_int_eq(ratehdr_parse(n, v, 8, 0, &i), 0);
    ck_assert_int_eq(i.limit_requests, 60);
    ck_assert_int_eq(i.limit_tokens, 150000);
    ck_assert_int_eq(i.remaining_requests, 59);
    ck_assert_int_eq(i.remaining_tokens, 149984);
    ck_assert_int_eq(i.reset_requests_us, US_PER_S);
    ck_assert_int_eq(i.reset_tokens_us, 6 * US_PER_MIN);
    ck_assert_int_eq(i.retry_after_us, -1);
    /* malformed values: ignored and counted, the rest kept */
    const char *v2[] = {"-60", "", "59x", "149984", "1.5.3s", "23h47m36.648s", "", ""};
    ck_assert_int_eq(ratehdr_parse(n, v2, 8, 0, &i), 4);
    ck_assert_int_eq(i.limit_requests, -1);
    ck_assert_int_eq(i.limit_tokens, -1);
    ck_assert_int_eq(i.remaining_requests, -1);
    ck_assert_int_eq(i.remaining_tokens, 149984);
    ck_assert_int_eq(i.reset_requests_us, -1);
    ck_assert_int_eq(i.reset_tokens_us, ((23 * 60 + 47) * 60 + 36) * US_PER_S + 648000);
    const char *v3[] = {
        "99999999999999999999", "9223372036854775807", "0", "0", "0s", "12ms", "", ""};
    ck_assert_int_eq(ratehdr_parse(n, v3, 8, 0, &i), 1);
    ck_assert_int_eq(i.limit_tokens, INT64_MAX);
    ck_assert_int_eq(i.reset_tokens_us, 12000);
}
END_TEST

START_TEST(anthropic)
{
    const char *n[] = {"anthropic-ratelimit-requests-limit",
                       "anthropic-ratelimit-requests-remaining",
                       "anthropic-ratelimit-requests-reset",
                       "anthropic-ratelimit-tokens-limit",
                       "anthropic-ratelimit-tokens-remaining",
                       "anthropic-ratelimit-tokens-reset",
                       "anthropic-ratelimit-input-tokens-limit",
                       "anthropic-ratelimit-input-tokens-remaining",
                       "anthropic-ratelimit-input-tokens-reset",
                       "anthropic-ratelimit-output-tokens-limit",
                       "anthropic-ratelimit-output-tokens-remaining",
                       "anthropic-ratelimit-output-tokens-reset",
                       "retry-after"};
    const char *v[] = {
        "50",    "49",    "2024-05-01T12:34:57Z",    "90000", "89000", "2024-05-01T12:35:56Z",
        "40000", "39000", "2024-05-01T12:34:56.25Z", "8000",  "7990",  "2024-05-01T12:30:00Z",
        "12"};
    struct rlinfo i;
    ck_assert_int_eq(ratehdr_parse(n, v, 13, T2024, &i), 0);
    ck_assert_int_eq(i.limit_requests, 50);
    ck_assert_int_eq(i.remaining_requests, 49);
    ck_assert_int_eq(i.reset_requests_us, US_PER_S);
    ck_assert_int_eq(i.limit_tokens, 90000);
    ck_assert_int_eq(i.remaining_tokens, 89000);
    ck_assert_int_eq(i.reset_tokens_us, 60 * US_PER_S);
    ck_assert_int_eq(i.limit_input_tokens, 40000);
    ck_assert_int_eq(i.remaining_input_tokens, 39000);
    ck_assert_int_eq(i.reset_input_tokens_us, 250000);
    ck_assert_int_eq(i.limit_output_tokens, 8000);
    ck_assert_int_eq(i.remaining_output_tokens, 7990);
    ck_assert_int_eq(i.reset_output_tokens_us, 0); /* in the past */
    ck_assert_int_eq(i.retry_after_us, 12 * US_PER_S);
    const char *v2[] = {
        "fifty", "49",    "2024-05-01 12:34:57",     "90000", "-1",   "1s",
        "",      "39000", "2024-05-01T12:34:56.25Z", "8000",  "7990", "2024-02-30T00:00:00Z",
        "soon"};
    ck_assert_int_eq(ratehdr_parse(n, v2, 13, T2024, &i), 7);
    ck_assert_int_eq(i.limit_requests, -1);
    ck_assert_int_eq(i.remaining_requests, 49);
    ck_assert_int_eq(i.reset_requests_us, -1); /* no time zone */
    ck_assert_int_eq(i.remaining_tokens, -1);
    ck_assert_int_eq(i.reset_tokens_us, -1);
    ck_assert_int_eq(i.retry_after_us, -1);
}
END_TEST

START_TEST(ietf)
{
    struct rlinfo i;
    /* separate fields (early drafts) */
    const char *n[] = {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset"};
    const char *v[] = {"100", "50", "5"};
    ck_assert_int_eq(ratehdr_parse(n, v, 3, 0, &i), 0);
    ck_assert_int_eq(i.limit_requests, 100);
    ck_assert_int_eq(i.remaining_requests, 50);
    ck_assert_int_eq(i.reset_requests_us, 5 * US_PER_S);
    const char *v1[] = {"100, 100;w=60, 1000;w=3600", "50", "5"};
    ck_assert_int_eq(ratehdr_parse(n, v1, 3, 0, &i), 0);
    ck_assert_int_eq(i.limit_requests, 100);
    /* one dictionary (-05/-06) */
    i = parse1("RateLimit", "limit=100, remaining=42, reset=7", 0);
    ck_assert_int_eq(i.parse_errors, 0);
    ck_assert_int_eq(i.limit_requests, 100);
    ck_assert_int_eq(i.remaining_requests, 42);
    ck_assert_int_eq(i.reset_requests_us, 7 * US_PER_S);
    /* structured lists (-07+): the most restrictive policy counts */
    const char *n2[] = {"RateLimit", "RateLimit-Policy"};
    const char *v2[] = {"\"default\";r=50;t=30, \"burst\";r=5;t=1",
                        "\"default\";q=100;w=60, \"burst\";q=10;w=1;qu=\"requests\""};
    ck_assert_int_eq(ratehdr_parse(n2, v2, 2, 0, &i), 0);
    ck_assert_int_eq(i.remaining_requests, 5);
    ck_assert_int_eq(i.reset_requests_us, US_PER_S);
    ck_assert_int_eq(i.limit_requests, 10);
    /* vendor headers win over IETF ones */
    const char *n3[] = {"RateLimit", "x-ratelimit-remaining-requests"};
    const char *v3[] = {"\"default\";r=50;t=30", "7"};
    ck_assert_int_eq(ratehdr_parse(n3, v3, 2, 0, &i), 0);
    ck_assert_int_eq(i.remaining_requests, 7);
    static const char *const bad[] = {"",          "\"unterminated;r=5",          "r=-5",
                                      ";;;",       "\"default\";r=5 junk",        "@@@",
                                      "limit=abc", "\"x\";r=99999999999999999999"};
    for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
        i = parse1("RateLimit", bad[k], 0);
        ck_assert_msg(i.parse_errors == 1 && i.remaining_requests == -1, "'%s'", bad[k]);
        i = parse1("RateLimit-Policy", bad[k], 0);
        ck_assert_msg(i.parse_errors == 1 && i.limit_requests == -1, "policy '%s'", bad[k]);
    }
    i = parse1("RateLimit-Remaining", "-3", 0);
    ck_assert_int_eq(i.parse_errors, 1);
    i = parse1("RateLimit-Reset", "soon", 0);
    ck_assert_int_eq(i.parse_errors, 1);
}
END_TEST

START_TEST(raw_lines)
{
    struct ratehdr h;
    ratehdr_begin(&h);
    const char *lines[] = {"HTTP/1.1 429 Too Many Requests\r\n",
                           "Retry-After: 3\r\n",
                           "x-ratelimit-remaining-tokens:  0 \r\n",
                           "Content-Type: x\r\n",
                           "x-ratelimit-reset-tokens: 1.5.3s\r\n",
                           "\r\n",
                           ": empty\r\n",
                           "no colon here\r\n"};
    int rc[8];
    for (int k = 0; k < 8; k++)
        rc[k] = ratehdr_add_line(&h, lines[k], strlen(lines[k]));
    ck_assert_int_eq(rc[0], 1);
    ck_assert_int_eq(rc[1], 0);
    ck_assert_int_eq(rc[2], 0);
    ck_assert_int_eq(rc[3], 1);
    ck_assert_int_eq(rc[4], -EINVAL);
    ck_assert_int_eq(rc[5], 1);
    struct rlinfo i;
    ratehdr_finish(&h, 0, &i);
    ck_assert_int_eq(i.retry_after_us, 3 * US_PER_S);
    ck_assert_int_eq(i.remaining_tokens, 0);
    ck_assert_int_eq(i.parse_errors, 1);
    /* not NUL-terminated, over-long */
    char big[2000];
    memset(big, 'a', sizeof big);
    ck_assert_int_eq(ratehdr_add_line(&h, big, sizeof big), 1);
    ck_assert_int_eq(ratehdr_add_line(&h, "Retry-After: 4XXXX", 14), 0);
}
END_TEST

/* Garbage of every length and byte never crashes (ASan/UBSan watch this). */
START_TEST(fuzz_no_crash)
{
    static const char *const names[] = {"retry-after",
                                        "retry-after-ms",
                                        "x-should-retry",
                                        "x-ratelimit-reset-tokens",
                                        "x-ratelimit-limit-requests",
                                        "anthropic-ratelimit-tokens-reset",
                                        "ratelimit",
                                        "ratelimit-policy",
                                        "ratelimit-limit",
                                        "ratelimit-reset"};
    static const char alphabet[] = "0123456789.,;=\"-+:TZ smhun\xc2\xb5GMTSunNov";
    uint64_t x = 88172645463325252ULL;
    char buf[64];
    for (int k = 0; k < 50000; k++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        int len = (int)(x % 40);
        for (int j = 0; j < len; j++) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            buf[j] = alphabet[x % (sizeof alphabet - 1)];
        }
        buf[len] = '\0';
        const char *n = names[k % 10], *v = buf;
        struct rlinfo i;
        ratehdr_parse(&n, &v, 1, T2024, &i);
        if (i.parse_errors < 0 || i.parse_errors > 1 || i.retry_after_us < -1)
            ck_abort_msg("'%s: %s'", n, buf);
    }
}
END_TEST

START_TEST(formatting)
{
    char buf[64];
    int64_t us;
    const int64_t cases[] = {0,
                             1,
                             999,
                             12000,
                             US_PER_S,
                             1500000,
                             6 * US_PER_MIN,
                             ((23 * 60 + 47) * 60 + 36) * US_PER_S + 648000,
                             90061000001LL};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        ratehdr_format_go_duration(cases[k], buf, sizeof buf);
        ck_assert_int_eq(ratehdr_parse_go_duration(buf, &us), 0);
        ck_assert_msg(us == cases[k], "%s", buf);
    }
    ck_assert_str_eq(ratehdr_format_go_duration(6 * US_PER_MIN, buf, sizeof buf), "6m0s");
    ck_assert_str_eq(ratehdr_format_http_date(T1994 + 999999, buf, sizeof buf),
                     "Sun, 06 Nov 1994 08:49:37 GMT");
    ck_assert_str_eq(ratehdr_format_rfc3339(T2024, buf, sizeof buf), "2024-05-01T12:34:56Z");
    ck_assert_str_eq(ratehdr_format_rfc3339(T2024 + 1, buf, sizeof buf), "2024-05-01T12:34:57Z");
    ck_assert_int_eq(ratehdr_parse_http_date(ratehdr_format_http_date(0, buf, sizeof buf), &us), 0);
    ck_assert_int_eq(us, 0);
    ck_assert_str_eq(buf, "Thu, 01 Jan 1970 00:00:00 GMT");
}
END_TEST

int main(void)
{
    Suite *s = suite_create("ratehdr");
    TCase *tc = tcase_create("ratehdr");
    tcase_add_test(tc, go_durations);
    tcase_add_test(tc, dates);
    tcase_add_test(tc, retry_after);
    tcase_add_test(tc, openai);
    tcase_add_test(tc, anthropic);
    tcase_add_test(tc, ietf);
    tcase_add_test(tc, raw_lines);
    tcase_add_test(tc, fuzz_no_crash);
    tcase_add_test(tc, formatting);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
