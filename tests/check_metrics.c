#include "config.h"

#include <check.h>
#include <math.h>
#include <stdlib.h>

#include "metrics.h"
#include "util.h"

struct rows {
    int n;
    struct metrics_row r[64];
    int cls[64];
};

static void sink(void *ctx, int cls, const struct metrics_row *row)
{
    struct rows *rs = ctx;
    ck_assert_int_lt(rs->n, 64);
    rs->cls[rs->n] = cls;
    rs->r[rs->n++] = *row;
}

/* One request per class through its whole life, scripted by hand. */
START_TEST(lifecycle_and_windows)
{
    metrics *m = metrics_new(2, US_PER_S);
    struct rows rs = {0};
    metrics_set_sink(m, sink, &rs);
    /* class 0: arrives at 0.1 s, queued until 0.5 s, 429 at 0.6 s, retried at 1.2 s, ok at 1.5 s */
    metrics_arrival(m, 100000, 0);
    metrics_queue(m, 100000, 0, +1);
    metrics_throttled(m, 100000, 0);
    metrics_queue(m, 500000, 0, -1);
    metrics_send(m, 500000, 0, false);
    metrics_answer(m, 600000, 0, 429, true);
    /* class 1: arrives at 0.9 s, sent at once, rejected? no: fails with 500 at 2.5 s */
    metrics_arrival(m, 900000, 1);
    metrics_send(m, 900000, 1, false);
    ck_assert_int_eq(metrics_inflight(m, -1), 1);
    metrics_send(m, 1200000, 0, true);
    ck_assert_int_eq(rs.n, 3); /* window [0,1s) closed: overall + 2 classes */
    metrics_answer(m, 1500000, 0, 200, false);
    metrics_end(m, 1500000, 0, OUTCOME_SUCCEEDED, 1400000, 1300000, 10, 50);
    metrics_answer(m, 2500000, 1, 500, false);
    metrics_end(m, 2500000, 1, OUTCOME_FAILED, 1600000, -1, 0, 0);
    ck_assert_uint_eq(metrics_open_requests(m), 0);
    metrics_finish(m, 2750000);
    ck_assert_int_eq(rs.n, 9); /* [0,1) [1,2) [2,2.75) */

    /* first window, overall */
    ck_assert_int_eq(rs.cls[0], -1);
    const struct metrics_row *w0 = &rs.r[0];
    ck_assert_uint_eq(w0->c.arrivals, 2);
    ck_assert_uint_eq(w0->c.sends, 2);
    ck_assert_uint_eq(w0->c.http_429, 1);
    ck_assert_uint_eq(w0->c.saw_429, 1);
    ck_assert_uint_eq(w0->c.client_throttled, 1);
    ck_assert_int_eq(w0->queue_max, 1);
    ck_assert(fabs(w0->queue_mean - 0.4) < 1e-12); /* 1 deep for 0.4 s of 1 s */
    ck_assert_int_eq(w0->inflight_max, 1);
    ck_assert_int_eq(w0->inflight_end, 1);
    /* second window, class 0 */
    ck_assert_int_eq(rs.cls[4], 0);
    const struct metrics_row *w1 = &rs.r[4];
    ck_assert_uint_eq(w1->c.retries, 1);
    ck_assert_uint_eq(w1->c.ended[OUTCOME_SUCCEEDED], 1);
    ck_assert_int_eq(w1->latency_p95_us, 1400000); /* one value: clamped to exact */
    ck_assert_int_eq(w1->latency_max_us, 1400000);
    ck_assert_int_eq(w1->ttft_p50_us, 1300000);
    ck_assert(w1->tokens_per_s == 50);
    ck_assert_int_eq(w1->queue_max, 0);
    /* last partial window is 0.75 s long */
    ck_assert_int_eq(rs.r[6].start_us, 2000000);
    ck_assert_int_eq(rs.r[6].end_us, 2750000);
    ck_assert_uint_eq(rs.r[6].c.ended[OUTCOME_FAILED], 1);

    struct metrics_row t;
    metrics_total(m, -1, &t);
    ck_assert_uint_eq(t.c.arrivals, 2);
    ck_assert_uint_eq(t.c.sends, 3);
    ck_assert_uint_eq(t.c.retries, 1);
    ck_assert_uint_eq(t.c.errors, 1);
    ck_assert_uint_eq(t.c.ended[OUTCOME_SUCCEEDED] + t.c.ended[OUTCOME_FAILED], 2);
    ck_assert(fabs(t.queue_mean - 0.4 / 2.75) < 1e-12);
    ck_assert_int_eq(t.latency_max_us, 1600000);
    ck_assert_int_eq(t.inflight_max, 2);
    ck_assert(fabs(t.requests_per_s - 1 / 2.75) < 1e-12);
    metrics_total(m, 1, &t);
    ck_assert_uint_eq(t.c.ended[OUTCOME_FAILED], 1);
    ck_assert_uint_eq(t.c.arrivals, 1);
    ck_assert_uint_eq(metrics_ttft_hist(m, 1)->count, 0);
    metrics_free(m);
}
END_TEST

/* Idle gaps still produce one row per window; a run ending on a boundary adds no empty row. */
START_TEST(empty_windows)
{
    metrics *m = metrics_new(1, 250000);
    struct rows rs = {0};
    metrics_set_sink(m, sink, &rs);
    metrics_arrival(m, 0, 0);
    metrics_queue(m, 0, 0, +1);
    metrics_queue(m, 1000000, 0, -1);
    metrics_end(m, 1000000, 0, OUTCOME_CANCELLED, 0, -1, 0, 0);
    metrics_finish(m, 1000000);
    ck_assert_int_eq(rs.n, 8); /* 4 windows x (overall + 1 class) */
    for (int i = 0; i < rs.n; i++) {
        ck_assert_int_eq(rs.r[i].queue_max, 1);
        ck_assert(rs.r[i].queue_mean == 1);
    }
    struct metrics_row t;
    metrics_total(m, 0, &t);
    ck_assert_uint_eq(t.c.ended[OUTCOME_CANCELLED], 1);
    ck_assert_uint_eq(metrics_latency_hist(m, 0)->count, 0); /* cancelled: no latency */
    metrics_free(m);
}
END_TEST

/* Overall quantiles are over the union of classes, not an average of class quantiles. */
START_TEST(overall_merges_classes)
{
    metrics *m = metrics_new(2, US_PER_S);
    for (int i = 0; i < 100; i++) {
        int cls = i < 90 ? 0 : 1;
        metrics_arrival(m, i, cls);
        metrics_end(m, i, cls, OUTCOME_SUCCEEDED, cls ? 200 : 10, 5, 1, 1);
    }
    metrics_finish(m, 5 * US_PER_S);
    struct metrics_row t;
    metrics_total(m, -1, &t);
    ck_assert_int_eq(t.latency_p50_us, 10);
    ck_assert_int_eq(t.latency_p95_us, 200);
    ck_assert_int_eq(t.latency_max_us, 200);
    ck_assert(fabs(t.latency_mean_us - 29) < 1e-9);
    ck_assert(t.requests_per_s == 20);
    metrics_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, lifecycle_and_windows);
    tcase_add_test(tc, empty_windows);
    tcase_add_test(tc, overall_merges_classes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
