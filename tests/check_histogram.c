#include "config.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>

#include "histogram.h"
#include "rng.h"

static struct histogram *hnew(void)
{
    struct histogram *h = malloc(sizeof *h);
    histogram_init(h);
    return h;
}

START_TEST(empty)
{
    struct histogram *h = hnew();
    ck_assert_uint_eq(h->count, 0);
    ck_assert_int_eq(histogram_quantile(h, 0.5), 0);
    ck_assert(histogram_mean(h) == 0);
    free(h);
}
END_TEST

START_TEST(small_values_exact)
{
    struct histogram *h = hnew();
    for (int v = 0; v < 256; v++)
        histogram_record(h, v);
    ck_assert_int_eq(histogram_quantile(h, 0), 0);
    ck_assert_int_eq(histogram_quantile(h, 0.5), 127); /* rank 128 */
    ck_assert_int_eq(histogram_quantile(h, 1), 255);
    ck_assert_int_eq(h->min, 0);
    ck_assert(fabs(histogram_mean(h) - 127.5) < 1e-9);
    for (int64_t v = 0; v < 256; v++)
        ck_assert_int_eq(histogram_bucket_width(v), 1);
    free(h);
}
END_TEST

START_TEST(bucket_layout)
{
    /* Buckets tile the range without gaps, and are at most 1/128 of their low end wide. */
    int64_t v = 0;
    int last = -1;
    while (v <= HISTOGRAM_MAX_VALUE) {
        int i = histogram_index(v);
        ck_assert_int_eq(i, last + 1);
        ck_assert_int_lt(i, HISTOGRAM_BUCKETS);
        ck_assert_int_eq(histogram_lowest_equivalent(v), v);
        int64_t w = histogram_bucket_width(v);
        ck_assert(w == 1 || w * 128 <= v);
        ck_assert_int_eq(histogram_index(v + w - 1), i);
        last = i;
        v += w;
    }
    ck_assert_int_eq(last, HISTOGRAM_BUCKETS - 1);
    /* Beyond the range: top bucket, max exact. */
    struct histogram *h = hnew();
    histogram_record(h, INT64_MAX / 2);
    ck_assert_int_eq(h->hi, HISTOGRAM_BUCKETS - 1);
    ck_assert_int_eq(histogram_quantile(h, 1), INT64_MAX / 2);
    free(h);
}
END_TEST

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

/* Property: every quantile within 1% of the exact nearest-rank value, over seeds and shapes. */
START_TEST(relative_error)
{
    enum { N = 20000 };
    int64_t *v = malloc(N * sizeof *v);
    const double qs[] = {0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999};
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct rng r;
        rng_seed(&r, seed);
        struct histogram *h = hnew();
        for (int i = 0; i < N; i++) {
            switch (seed % 3) {
            case 0: v[i] = (int64_t)rng_exp(&r, 250000); break;
            case 1: v[i] = (int64_t)rng_lognormal(&r, 2e6, 1.5); break;
            default: v[i] = (int64_t)rng_below(&r, 1000000000); break;
            }
            histogram_record(h, v[i]);
        }
        qsort(v, N, sizeof *v, cmp_i64);
        for (size_t k = 0; k < sizeof qs / sizeof qs[0]; k++) {
            size_t rank = (size_t)ceil(qs[k] * N);
            int64_t exact = v[rank - 1];
            int64_t got = histogram_quantile(h, qs[k]);
            double err = exact ? fabs((double)(got - exact)) / (double)exact : (double)got;
            ck_assert_msg(err <= 0.01, "seed %d q %g exact %lld got %lld", (int)seed, qs[k],
                          (long long)exact, (long long)got);
            ck_assert_msg(err <= 1.0 / 256 + 1e-12, "error bound 1/256");
        }
        ck_assert_int_eq(histogram_quantile(h, 1), v[N - 1]);
        ck_assert_int_eq(h->min, v[0]);
        free(h);
    }
    free(v);
}
END_TEST

START_TEST(merge_and_reset)
{
    struct histogram *a = hnew(), *b = hnew(), *all = hnew();
    struct rng r;
    rng_seed(&r, 9);
    for (int i = 0; i < 5000; i++) {
        int64_t x = (int64_t)rng_exp(&r, 1e5);
        histogram_record(i % 2 ? a : b, x);
        histogram_record(all, x);
    }
    histogram_merge(a, b);
    ck_assert_uint_eq(a->count, all->count);
    for (int i = 0; i < HISTOGRAM_BUCKETS; i++)
        ck_assert_uint_eq(a->counts[i], all->counts[i]);
    ck_assert_int_eq(histogram_quantile(a, 0.95), histogram_quantile(all, 0.95));
    histogram_reset(a);
    ck_assert_uint_eq(a->count, 0);
    for (int i = 0; i < HISTOGRAM_BUCKETS; i++)
        ck_assert_uint_eq(a->counts[i], 0);
    histogram_merge(a, b);
    ck_assert_uint_eq(a->count, b->count);
    free(a);
    free(b);
    free(all);
}
END_TEST

/*
 * The invariant of touched[]: while listed, it names exactly the non-zero buckets,
 * each once; count is the sum of counts[].
 */
static void check_touched(const struct histogram *h)
{
    uint64_t sum = 0;
    int nonzero = 0;
    for (int i = 0; i < HISTOGRAM_BUCKETS; i++) {
        sum += h->counts[i];
        nonzero += h->counts[i] != 0;
    }
    ck_assert_uint_eq(sum, h->count);
    ck_assert_int_le(h->n_touched, HISTOGRAM_TOUCHED_MAX);
    if (h->n_touched < 0) {
        ck_assert_int_gt(nonzero, HISTOGRAM_TOUCHED_MAX);
        return;
    }
    ck_assert_int_eq(h->n_touched, nonzero);
    for (int k = 0; k < h->n_touched; k++) {
        ck_assert_uint_gt(h->counts[h->touched[k]], 0);
        for (int j = 0; j < k; j++)
            ck_assert_int_ne(h->touched[j], h->touched[k]);
    }
}

/*
 * A few values far apart (a metrics window) are merged and reset through their list;
 * past HISTOGRAM_TOUCHED_MAX buckets the range takes over. Every pairing of listed and
 * overflowed source and destination merges to the same counts as recording everything
 * in one histogram, and a reset leaves every bucket 0 whichever way it went.
 */
START_TEST(touched_list)
{
    static const int sizes[] = {0, 1, 3, HISTOGRAM_TOUCHED_MAX - 1, HISTOGRAM_TOUCHED_MAX,
                                HISTOGRAM_TOUCHED_MAX + 1, 300};
    const int n_sizes = (int)(sizeof sizes / sizeof sizes[0]);
    struct histogram *a = hnew(), *b = hnew(), *all = hnew();
    struct rng r;
    rng_seed(&r, 12);
    for (int x = 0; x < n_sizes; x++)
        for (int y = 0; y < n_sizes; y++) {
            histogram_reset(a);
            histogram_reset(b);
            histogram_reset(all);
            for (int k = 0; k < sizes[x] + sizes[y]; k++) {
                /* spread over 2^0 .. 2^40: distinct buckets, far apart */
                int64_t v = (int64_t)(rng_unit(&r) * 1e12 * rng_unit(&r) * rng_unit(&r));
                histogram_record(k < sizes[x] ? a : b, v);
                histogram_record(all, v);
                if (k % 7 == 0) { /* and repeats of a bucket already there */
                    histogram_record(k < sizes[x] ? a : b, v);
                    histogram_record(all, v);
                }
            }
            check_touched(a);
            check_touched(b);
            histogram_merge(a, b);
            check_touched(a);
            ck_assert_uint_eq(a->count, all->count);
            for (int i = 0; i < HISTOGRAM_BUCKETS; i++)
                ck_assert_uint_eq(a->counts[i], all->counts[i]);
            ck_assert_int_eq(histogram_quantile(a, 0.5), histogram_quantile(all, 0.5));
            histogram_reset(a);
            ck_assert_int_eq(a->n_touched, 0);
            check_touched(a);
            histogram_record(a, 5);
            check_touched(a);
            ck_assert_int_eq(a->n_touched, 1);
        }
    free(a);
    free(b);
    free(all);
}
END_TEST

/* Quantiles of a union read in place equal those of the merged histogram, and write nothing. */
START_TEST(quantiles_of_union)
{
    struct histogram *part[4], *all = hnew();
    for (int k = 0; k < 4; k++)
        part[k] = hnew();
    struct rng r;
    rng_seed(&r, 17);
    for (int i = 0; i < 30000; i++) {
        int k = (int)rng_below(&r, 3); /* part[3] stays empty */
        int64_t x =
            k == 2 ? (int64_t)rng_below(&r, 300) : (int64_t)rng_lognormal(&r, 1e5 * (k + 1), 1.2);
        histogram_record(part[k], x);
        histogram_record(all, x);
    }
    const double qs[] = {0, 0.001, 0.25, 0.5, 0.5, 0.9, 0.99, 0.9999, 1};
    enum { NQ = sizeof qs / sizeof qs[0] };
    int64_t got[NQ];
    uint64_t before = part[0]->count;
    histogram_quantiles((const struct histogram *const *)part, 4, qs, NQ, got);
    for (int j = 0; j < NQ; j++)
        ck_assert_int_eq(got[j], histogram_quantile(all, qs[j]));
    ck_assert_uint_eq(part[0]->count, before);
    /* one histogram alone, and none at all */
    histogram_quantiles((const struct histogram *const *)&part[2], 1, qs, NQ, got);
    for (int j = 0; j < NQ; j++)
        ck_assert_int_eq(got[j], histogram_quantile(part[2], qs[j]));
    histogram_quantiles((const struct histogram *const *)&part[3], 1, qs, NQ, got);
    for (int j = 0; j < NQ; j++)
        ck_assert_int_eq(got[j], 0);
    histogram_quantiles(NULL, 0, qs, NQ, got);
    ck_assert_int_eq(got[NQ - 1], 0);
    for (int k = 0; k < 4; k++)
        free(part[k]);
    free(all);
}
END_TEST

/* Rebuilding from (index, count) pairs, as a report carries them: the same histogram,
 * and parts that no recording could have made are refused. */
START_TEST(load_round_trip)
{
    struct rng r;
    rng_seed(&r, 11);
    struct histogram *h = hnew(), *g = hnew();
    for (int i = 0; i < 5000; i++)
        histogram_record(h, (int64_t)rng_lognormal(&r, 2e6, 1.5));
    int idx[HISTOGRAM_BUCKETS];
    uint64_t cnt[HISTOGRAM_BUCKETS];
    int nb = 0;
    for (int i = h->lo; i <= h->hi; i++)
        if (h->counts[i]) {
            idx[nb] = i;
            cnt[nb++] = h->counts[i];
        }
    ck_assert_int_eq(histogram_load(g, h->count, h->min, h->max, h->sum, idx, cnt, nb), 0);
    ck_assert_int_eq(g->lo, h->lo);
    ck_assert_int_eq(g->hi, h->hi);
    ck_assert_mem_eq(g->counts, h->counts, sizeof h->counts);
    check_touched(g);
    for (double q = 0; q <= 1; q += 0.01)
        ck_assert_int_eq(histogram_quantile(g, q), histogram_quantile(h, q));
    ck_assert_int_eq(histogram_load(g, 0, 0, 0, 0, idx, cnt, 0), 0);
    ck_assert_uint_eq(g->count, 0);
    /* wrong total, min or max outside the end buckets, indices not ascending, a 0 count,
     * a mean outside [min, max] */
    ck_assert_int_eq(histogram_load(g, h->count + 1, h->min, h->max, h->sum, idx, cnt, nb),
                     -EINVAL);
    ck_assert_int_eq(g->count, 0);
    ck_assert_int_eq(histogram_load(g, h->count, h->max, h->max, h->sum, idx, cnt, nb), -EINVAL);
    ck_assert_int_eq(histogram_load(g, h->count, h->min, h->max * 2, h->sum, idx, cnt, nb),
                     -EINVAL);
    ck_assert_int_eq(histogram_load(g, h->count, h->min, h->max, h->sum * 100, idx, cnt, nb),
                     -EINVAL);
    int swap = idx[1];
    idx[1] = idx[2];
    idx[2] = swap;
    ck_assert_int_eq(histogram_load(g, h->count, h->min, h->max, h->sum, idx, cnt, nb), -EINVAL);
    idx[2] = idx[1];
    idx[1] = swap;
    uint64_t c0 = cnt[1];
    cnt[1] = 0;
    cnt[2] += c0;
    ck_assert_int_eq(histogram_load(g, h->count, h->min, h->max, h->sum, idx, cnt, nb), -EINVAL);
    ck_assert_int_eq(histogram_load(g, 1, 0, 0, 0, idx, cnt, 0), -EINVAL);
    for (int i = 0; i < HISTOGRAM_BUCKETS; i++)
        ck_assert_uint_eq(g->counts[i], 0); /* a refused load leaves it empty */
    /* a few buckets far apart load into the touched list: a reset then empties them */
    int sidx[3] = {histogram_index(7), histogram_index(90000), histogram_index(INT64_C(1) << 40)};
    uint64_t scnt[3] = {1, 2, 1};
    ck_assert_int_eq(histogram_load(g, 4, 7, INT64_C(1) << 40, 7 + 180000 + (double)(INT64_C(1) << 40),
                                    sidx, scnt, 3), 0);
    ck_assert_int_eq(g->n_touched, 3);
    check_touched(g);
    histogram_reset(g);
    check_touched(g);
    for (int i = 0; i < HISTOGRAM_BUCKETS; i++)
        ck_assert_uint_eq(g->counts[i], 0);
    free(h);
    free(g);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("histogram");
    TCase *tc = tcase_create("histogram");
    tcase_add_test(tc, empty);
    tcase_add_test(tc, small_values_exact);
    tcase_add_test(tc, bucket_layout);
    tcase_add_test(tc, relative_error);
    tcase_add_test(tc, merge_and_reset);
    tcase_add_test(tc, touched_list);
    tcase_add_test(tc, quantiles_of_union);
    tcase_add_test(tc, load_round_trip);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
