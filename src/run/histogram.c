#include "config.h"

#include "histogram.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

void histogram_init(struct histogram *h)
{
    memset(h->counts, 0, sizeof h->counts);
    h->lo = HISTOGRAM_BUCKETS;
    h->hi = -1;
    h->n_touched = 0;
    histogram_reset(h);
}

void histogram_reset(struct histogram *h)
{
    /* Only touched buckets can be non-zero: a window's reset stays cheap. */
    if (h->n_touched >= 0)
        for (int k = 0; k < h->n_touched; k++)
            h->counts[h->touched[k]] = 0;
    else if (h->lo <= h->hi)
        memset(&h->counts[h->lo], 0, (size_t)(h->hi - h->lo + 1) * sizeof h->counts[0]);
    h->n_touched = 0;
    h->count = 0;
    h->min = INT64_MAX;
    h->max = 0;
    h->sum = 0;
    h->lo = HISTOGRAM_BUCKETS;
    h->hi = -1;
}

static int64_t bucket_low(int i, int64_t *width)
{
    int e = (i >> HISTOGRAM_SUB_BITS) - 1;
    if (e < 0)
        e = 0;
    *width = INT64_C(1) << e;
    return (int64_t)(i - (e << HISTOGRAM_SUB_BITS)) << e;
}

int64_t histogram_lowest_equivalent(int64_t v)
{
    int64_t w;
    return bucket_low(histogram_index(v), &w);
}

int64_t histogram_bucket_width(int64_t v)
{
    int64_t w;
    bucket_low(histogram_index(v), &w);
    return w;
}

int histogram_load(struct histogram *h, uint64_t count, int64_t min, int64_t max, double sum,
                   const int *idx, const uint64_t *counts, int nb)
{
    histogram_init(h);
    if (count == 0)
        return nb == 0 && sum == 0 ? 0 : -EINVAL;
    if (nb < 1 || min < 0 || min > max || histogram_index(min) != idx[0] ||
        histogram_index(max) != idx[nb - 1])
        return -EINVAL;
    /* A mean outside [min, max] is no histogram's; a little slack for the double sum. */
    if (!(sum >= (double)min * (double)count * (1 - 1e-12) &&
          sum <= (double)max * (double)count * (1 + 1e-12)))
        return -EINVAL;
    uint64_t total = 0;
    for (int k = 0; k < nb; k++) {
        if (idx[k] < 0 || idx[k] >= HISTOGRAM_BUCKETS || (k > 0 && idx[k] <= idx[k - 1]) ||
            counts[k] == 0 || counts[k] > count - total) {
            histogram_reset(h);
            return -EINVAL;
        }
        h->counts[idx[k]] = counts[k];
        histogram_touch(h, idx[k]); /* a distinct index each time: 0 before */
        total += counts[k];
        h->lo = k == 0 ? idx[k] : h->lo;
        h->hi = idx[k];
    }
    if (total != count) {
        histogram_reset(h);
        return -EINVAL;
    }
    h->count = count;
    h->min = min;
    h->max = max;
    h->sum = sum;
    return 0;
}

void histogram_merge(struct histogram *dst, const struct histogram *src)
{
    if (src->count == 0)
        return;
    if (src->n_touched >= 0) /* its few buckets, not the range between them */
        for (int k = 0; k < src->n_touched; k++) {
            int i = src->touched[k];
            if (dst->counts[i] == 0)
                histogram_touch(dst, i);
            dst->counts[i] += src->counts[i];
        }
    else if (dst->n_touched < 0) /* both beyond their lists: the range, vectorised */
        for (int i = src->lo; i <= src->hi; i++)
            dst->counts[i] += src->counts[i];
    else
        for (int i = src->lo; i <= src->hi; i++)
            if (src->counts[i]) {
                if (dst->counts[i] == 0)
                    histogram_touch(dst, i);
                dst->counts[i] += src->counts[i];
            }
    dst->count += src->count;
    dst->sum += src->sum;
    if (src->min < dst->min)
        dst->min = src->min;
    if (src->max > dst->max)
        dst->max = src->max;
    if (src->lo < dst->lo)
        dst->lo = src->lo;
    if (src->hi > dst->hi)
        dst->hi = src->hi;
}

int64_t histogram_quantile(const struct histogram *h, double q)
{
    int64_t v;
    histogram_quantiles(&h, 1, &q, 1, &v);
    return v;
}

/* The midpoint of bucket i, clamped to the exact [min, max] of what was recorded. */
static int64_t bucket_value(int i, int64_t min, int64_t max)
{
    int64_t w, low = bucket_low(i, &w);
    int64_t v = low + w / 2;
    if (v < min)
        v = min;
    if (v > max)
        v = max;
    return v;
}

void histogram_quantiles(const struct histogram *const *hs, int n, const double *qs, int nq,
                         int64_t *out)
{
    /* The union's summary, as histogram_merge would leave it in an empty histogram. */
    uint64_t count = 0;
    int64_t min = INT64_MAX, max = 0;
    int lo = HISTOGRAM_BUCKETS, hi = -1;
    for (int k = 0; k < n; k++) {
        const struct histogram *h = hs[k];
        if (h->count == 0)
            continue;
        count += h->count;
        if (h->min < min)
            min = h->min;
        if (h->max > max)
            max = h->max;
        if (h->lo < lo)
            lo = h->lo;
        if (h->hi > hi)
            hi = h->hi;
    }
    /*
     * Ascending quantiles share one walk: the cumulative count only grows, so each
     * quantile resumes where the previous one stopped. A bucket outside some hs[k]'s
     * touched range holds 0 there (the invariant), so adding it is harmless.
     */
    uint64_t seen = 0;
    int i = lo;
    for (int j = 0; j < nq; j++) {
        if (count == 0) {
            out[j] = 0;
            continue;
        }
        assert(qs[j] >= 0 && qs[j] <= 1 && (j == 0 || qs[j] >= qs[j - 1]));
        uint64_t rank = (uint64_t)ceil(qs[j] * (double)count);
        if (rank < 1)
            rank = 1;
        if (rank >= count) {
            out[j] = max;
            continue;
        }
        while (seen < rank && i <= hi) {
            for (int k = 0; k < n; k++)
                seen += hs[k]->counts[i];
            i++;
        }
        /* i - 1 is the bucket where the cumulative count reached rank. */
        out[j] = seen >= rank ? bucket_value(i - 1, min, max) : max; /* max: unreachable */
    }
}

double histogram_mean(const struct histogram *h)
{
    return h->count ? h->sum / (double)h->count : 0;
}
