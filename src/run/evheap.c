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
/* The invariant of struct evheap; the vacant root of a hole has no order to keep. */
static bool evheap_ok(const struct evheap *h)
{
    size_t len = h->n + h->hole;
    for (size_t i = 1; i < len; i++) {
        size_t p = (i - 1) / 2;
        if ((p > 0 || !h->hole) && before(&h->ev[i], &h->ev[p]))
            return false;
    }
    return len <= h->cap && (!h->hole || h->n + 1 <= h->cap);
}
#endif

void evheap_init(struct evheap *h, size_t cap_hint)
{
    h->cap = cap_hint ? cap_hint : 64;
    h->ev = xmalloc(h->cap * sizeof *h->ev);
    h->n = 0;
    h->hole = false;
    h->next_seq = 0;
}

void evheap_fini(struct evheap *h)
{
    free(h->ev);
    h->ev = NULL;
    h->n = h->cap = 0;
    h->hole = false;
}

void evheap_clear(struct evheap *h)
{
    h->n = 0;
    h->hole = false;
}

void evheap_push(struct evheap *h, int64_t time_us, uint64_t data)
{
    struct evheap_event e = {time_us, h->next_seq++, data};
    if (h->hole) {
        /* The root is vacant (the last pop): the new event goes in from the top, sifting
         * down with a hole. An engine pushes a class's next arrival right after popping its
         * current one, due soon, so it stops near the top: one sift instead of two. */
        size_t len = h->n + 1, i = 0;
        for (size_t c; (c = 2 * i + 1) < len; i = c) {
            if (c + 1 < len && before(&h->ev[c + 1], &h->ev[c]))
                c++;
            if (!before(&h->ev[c], &e))
                break;
            h->ev[i] = h->ev[c];
        }
        h->ev[i] = e;
        h->hole = false;
        h->n++;
        assert(h->n > 16 || evheap_ok(h)); /* cheap spot check on small heaps */
        return;
    }
    if (h->n == h->cap) {
        h->cap *= 2;
        h->ev = xrealloc(h->ev, h->cap * sizeof *h->ev);
    }
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

void evheap_fill_hole(struct evheap *h)
{
    assert(h->hole);
    h->hole = false;
    size_t n = h->n, i = 0;
    if (n == 0)
        return;
    /* The last event fills the vacant root, by Floyd's bottom-up method: the hole walks
     * down the earlier child to a leaf, one comparison per level, then the last event
     * rises from there (it comes from the bottom and usually belongs near it). */
    struct evheap_event last = h->ev[n];
    for (size_t c; (c = 2 * i + 1) < n; i = c) {
        if (c + 1 < n && before(&h->ev[c + 1], &h->ev[c]))
            c++;
        h->ev[i] = h->ev[c];
    }
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!before(&last, &h->ev[p]))
            break;
        h->ev[i] = h->ev[p];
        i = p;
    }
    h->ev[i] = last;
    assert(h->n > 16 || evheap_ok(h)); /* cheap spot check on small heaps */
}

int evheap_pop(struct evheap *h, struct evheap_event *out)
{
    if (h->hole)
        evheap_fill_hole(h);
    if (h->n == 0)
        return 0;
    /* The root is taken and left vacant: whatever comes next fills it (a push from the
     * top, anything else with the last event). */
    *out = h->ev[0];
    h->n--;
    h->hole = true;
    return 1;
}
