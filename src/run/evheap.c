#include "config.h"

#include "evheap.h"

#include <assert.h>
#include <stdbool.h>
#include <stdlib.h>

#include "util.h"

static inline bool before(const struct evheap_event *a, const struct evheap_event *b)
{
    return a->time_us < b->time_us || (a->time_us == b->time_us && a->seq < b->seq);
}

#ifndef NDEBUG
static bool evheap_ok(const struct evheap *h)
{
    for (size_t i = 1; i < h->n; i++)
        if (before(&h->ev[i], &h->ev[(i - 1) / 2]))
            return false;
    return h->n <= h->cap;
}
#endif

void evheap_init(struct evheap *h, size_t cap_hint)
{
    h->cap = cap_hint ? cap_hint : 64;
    h->ev = xmalloc(h->cap * sizeof *h->ev);
    h->n = 0;
    h->next_seq = 0;
}

void evheap_fini(struct evheap *h)
{
    free(h->ev);
    h->ev = NULL;
    h->n = h->cap = 0;
}

void evheap_clear(struct evheap *h)
{
    h->n = 0;
}

void evheap_push(struct evheap *h, int64_t time_us, uint64_t data)
{
    if (h->n == h->cap) {
        h->cap *= 2;
        h->ev = xrealloc(h->ev, h->cap * sizeof *h->ev);
    }
    struct evheap_event e = {time_us, h->next_seq++, data};
    /* Sift up with a hole: move parents down instead of swapping. */
    size_t i = h->n++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&e, &h->ev[p]))
            break;
        h->ev[i] = h->ev[p];
        i = p;
    }
    h->ev[i] = e;
}

int evheap_pop(struct evheap *h, struct evheap_event *out)
{
    if (h->n == 0)
        return 0;
    *out = h->ev[0];
    struct evheap_event last = h->ev[--h->n];
    size_t n = h->n, i = 0;
    /* Sift the last event down from the root, again with a hole. */
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(&h->ev[c + 1], &h->ev[c]))
            c++;
        if (!before(&h->ev[c], &last))
            break;
        h->ev[i] = h->ev[c];
        i = c;
    }
    if (n)
        h->ev[i] = last;
    assert(h->n > 16 || evheap_ok(h)); /* cheap spot check on small heaps */
    return 1;
}
