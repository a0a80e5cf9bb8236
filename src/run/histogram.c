#include "config.h"

#include "histogram.h"

#include <assert.h>
#include <math.h>
#include <stdbool.h>
#include <string.h>

void histogram_init(struct histogram *h)
{
    memset(h->counts, 0, sizeof h->counts);
    h->lo = HISTOGRAM_BUCKETS;
    h->hi = -1;
    histogram_reset(h);
}

void histogram_reset(struct histogram *h)
{
    /* Only the touched range can be non-zero: a window's reset stays cheap. */
    if (h->lo <= h->hi)
        memset(&h->counts[h->lo], 0, (size_t)(h->hi - h->lo + 1) * sizeof h->counts[0]);
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

void histogram_merge(struct histogram *dst, const struct histogram *src)
{
    if (src->count == 0)
        return;
    for (int i = src->lo; i <= src->hi; i++)
        dst->counts[i] += src->counts[i];
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
    if (h->count == 0)
        return 0;
    assert(q >= 0 && q <= 1);
    uint64_t rank = (uint64_t)ceil(q * (double)h->count);
    if (rank < 1)
        rank = 1;
    if (rank >= h->count)
        return h->max;
    uint64_t seen = 0;
    for (int i = h->lo; i <= h->hi; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            int64_t w, low = bucket_low(i, &w);
            int64_t v = low + w / 2;
            if (v < h->min)
                v = h->min;
            if (v > h->max)
                v = h->max;
            return v;
        }
    }
    return h->max; /* unreachable while the invariant holds */
}

double histogram_mean(const struct histogram *h)
{
    return h->count ? h->sum / (double)h->count : 0;
}
