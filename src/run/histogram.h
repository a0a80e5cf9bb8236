/*
 * histogram: a fixed-size, log-bucketed histogram of non-negative integer
 * values (latencies in µs), shaped like HdrHistogram.
 *
 * Values below 256 each have their own bucket (exact). Above, every power of
 * two is split into 128 equal buckets, so a bucket is at most 1/128 of its
 * lower bound wide; quantiles report the bucket's midpoint, clamped to the
 * exact min and max, so the relative error is at most 1/256 (0.4%), well
 * inside the 1% the reports promise. Values up to HISTOGRAM_MAX_VALUE
 * (2^43 µs, about 100 days) are tracked; larger ones land in the top bucket
 * (max stays exact). Size is fixed (about 37 KB): memory never grows with the
 * number of values recorded.
 */
#ifndef RATELAB_HISTOGRAM_H
#define RATELAB_HISTOGRAM_H

#include <stdint.h>

#define HISTOGRAM_SUB_BITS 7                     /* 128 buckets per power of two */
#define HISTOGRAM_MAX_BITS 43                    /* values below 2^43 are bucketed */
#define HISTOGRAM_MAX_VALUE ((INT64_C(1) << HISTOGRAM_MAX_BITS) - 1)
#define HISTOGRAM_BUCKETS  ((HISTOGRAM_MAX_BITS - HISTOGRAM_SUB_BITS + 1) << HISTOGRAM_SUB_BITS)

/*
 * The most distinct buckets a histogram lists by index (touched[]). A metrics window
 * usually holds a few values spread over a wide range of buckets: merging and resetting
 * it then costs its few buckets rather than the whole range between them.
 */
#define HISTOGRAM_TOUCHED_MAX 32

/*
 * Invariant: count is the sum of counts[]; every non-zero bucket lies in
 * [lo, hi]; min <= every recorded value <= max; sum is their total. While
 * n_touched >= 0, touched[0..n_touched) are exactly the non-zero buckets, each once;
 * n_touched = -1 once more than HISTOGRAM_TOUCHED_MAX were (until the next reset).
 */
struct histogram {
    uint64_t count;      /* values recorded */
    int64_t min;         /* smallest value recorded, exact (INT64_MAX when empty) */
    int64_t max;         /* largest value recorded, exact (0 when empty) */
    double sum;          /* sum of values, for the mean */
    int lo, hi;          /* the range of buckets touched since the last reset, lo > hi when none */
    int n_touched;       /* entries in touched[], or -1: too many, use [lo, hi] */
    uint16_t touched[HISTOGRAM_TOUCHED_MAX]; /* the non-zero buckets' indices, unordered */
    uint64_t counts[HISTOGRAM_BUCKETS];
};

/* Make an empty histogram out of uninitialised memory. It owns no memory: nothing to fini. */
void histogram_init(struct histogram *h);

/*
 * Empty it again; costs only the buckets touched since the last reset (their list,
 * or their range once more than HISTOGRAM_TOUCHED_MAX were).
 */
void histogram_reset(struct histogram *h);

/* The bucket a value falls in; value >= 0. */
static inline int histogram_index(int64_t v)
{
    if (v > HISTOGRAM_MAX_VALUE)
        v = HISTOGRAM_MAX_VALUE;
    uint64_t u = (uint64_t)v | ((uint64_t)1 << HISTOGRAM_SUB_BITS);
    int msb = 63 - __builtin_clzll(u);
    int e = msb - HISTOGRAM_SUB_BITS; /* 0 for v < 256 */
    return (e << HISTOGRAM_SUB_BITS) + (int)(v >> e);
}

/* Note bucket i turning non-zero in the touched list (or overflow it to -1). */
static inline void histogram_touch(struct histogram *h, int i)
{
    if (h->n_touched >= HISTOGRAM_TOUCHED_MAX)
        h->n_touched = -1;
    else if (h->n_touched >= 0)
        h->touched[h->n_touched++] = (uint16_t)i;
}

/* Record one value (>= 0, µs or any unit). O(1), no allocation. */
static inline void histogram_record(struct histogram *h, int64_t v)
{
    int i = histogram_index(v);
    if (h->n_touched >= 0 && h->counts[i] == 0) /* a dense histogram stops listing at once */
        histogram_touch(h, i);
    h->counts[i]++;
    h->count++;
    h->sum += (double)v;
    if (v < h->min)
        h->min = v;
    if (v > h->max)
        h->max = v;
    if (i < h->lo)
        h->lo = i;
    if (i > h->hi)
        h->hi = i;
}

/* The lowest value that shares value's bucket, and the bucket width. */
int64_t histogram_lowest_equivalent(int64_t v);
int64_t histogram_bucket_width(int64_t v);

/*
 * Rebuild a histogram from its parts, as a report carries them (doc/report.md,
 * "Histograms"): count, the exact min and max, the sum, and the non-empty buckets
 * as nb (index, count) pairs, indices strictly ascending. Checks that the parts
 * make a histogram histogram_record could have made: every index in
 * [0, HISTOGRAM_BUCKETS), every bucket count > 0 and summing to count, min's
 * bucket the first and max's the last, 0 <= min <= max, sum in [count x min,
 * count x max]; count 0 with nb 0 is the empty histogram. 0 and *h written, or
 * -EINVAL (*h then empty).
 */
int histogram_load(struct histogram *h, uint64_t count, int64_t min, int64_t max, double sum,
                   const int *idx, const uint64_t *counts, int nb);

/* Add every value of src into dst: costs src's touched buckets, as histogram_reset. */
void histogram_merge(struct histogram *dst, const struct histogram *src);

/*
 * The q-quantile (0 <= q <= 1) by nearest rank: the value of rank ceil(q * count),
 * reported as its bucket's midpoint clamped to [min, max]. q = 1 gives max exactly.
 * 0 when empty.
 */
int64_t histogram_quantile(const struct histogram *h, double q);

/*
 * The quantiles qs[0..nq) (ascending, each in [0, 1]) of the union of hs[0..n), into
 * out[0..nq): exactly what histogram_quantile would give on one histogram that every
 * hs[k] was merged into, but none is written to and nothing is allocated. One pass over
 * the union's touched buckets, adding n counts per bucket: O(n x (hi - lo + 1)), at most
 * n x HISTOGRAM_BUCKETS. n = 0 (or all empty) gives 0s.
 */
void histogram_quantiles(const struct histogram *const *hs, int n, const double *qs, int nq,
                         int64_t *out);

/* Mean of recorded values, 0 when empty. */
double histogram_mean(const struct histogram *h);

#endif
