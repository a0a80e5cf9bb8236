#include "config.h"

#include "dlheap.h"

#include <assert.h>
#include <stdlib.h>

#include "util.h"

void dlheap_init(struct dlheap *h, dlheap_live_fn live, void *ctx)
{
    h->e = NULL;
    h->n = h->cap = h->stale = 0;
    h->top_live = false;
    h->live = live;
    h->ctx = ctx;
}

void dlheap_fini(struct dlheap *h)
{
    free(h->e);
    h->e = NULL;
    h->n = h->cap = 0;
}

static void sift_down(struct dlheap_ent *e, uint32_t n, uint32_t pos)
{
    struct dlheap_ent x = e[pos];
    for (;;) {
        uint32_t c = 2 * pos + 1;
        if (c >= n)
            break;
        if (c + 1 < n && e[c + 1].at_us < e[c].at_us)
            c++;
        if (e[c].at_us >= x.at_us)
            break;
        e[pos] = e[c];
        pos = c;
    }
    e[pos] = x;
}

/* Keep the live entries and heapify them again (Floyd, O(n)). */
static void compact(struct dlheap *h)
{
    uint32_t n = 0;
    for (uint32_t i = 0; i < h->n; i++)
        if (h->live(h->ctx, &h->e[i]))
            h->e[n++] = h->e[i];
    h->n = n;
    for (uint32_t i = n / 2; i-- > 0;)
        sift_down(h->e, n, i);
    h->stale = 0;
    h->top_live = false;
}

void dlheap_push(struct dlheap *h, struct dlheap_ent x)
{
    if (h->stale > 1024 && h->stale > h->n / 2)
        compact(h);
    if (h->n == h->cap) {
        h->cap = h->cap ? 2 * h->cap : 256;
        h->e = xrealloc(h->e, h->cap * sizeof *h->e);
    }
    uint32_t pos = h->n++;
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (h->e[parent].at_us <= x.at_us)
            break;
        h->e[pos] = h->e[parent];
        pos = parent;
    }
    h->e[pos] = x;
    if (pos == 0)
        h->top_live = true; /* pushed live */
}

struct dlheap_ent dlheap_pop(struct dlheap *h)
{
    assert(h->n > 0);
    struct dlheap_ent top = h->e[0];
    h->top_live = false;
    h->e[0] = h->e[--h->n];
    if (h->n)
        sift_down(h->e, h->n, 0);
    return top;
}

int64_t dlheap_next(struct dlheap *h)
{
    if (h->top_live) {
        assert(h->live(h->ctx, &h->e[0]));
        return h->e[0].at_us;
    }
    while (h->n && !h->live(h->ctx, &h->e[0])) {
        dlheap_pop(h);
        assert(h->stale > 0);
        h->stale--;
    }
    h->top_live = h->n > 0;
    return h->n ? h->e[0].at_us : INT64_MAX;
}
