/*
 * dlheap: a min-heap of deadlines whose entries may go stale — the sim engine's
 * timeouts of requests in flight. Most requests are answered long before their
 * deadline; removing each answered one from a large heap would cost a sift
 * with cache misses on every answer. Instead the owner only counts an entry as
 * stale (dlheap_stale), stale entries are skipped when they reach the top, and
 * the heap is compacted when stale entries outnumber live ones, so it holds at
 * most about twice the live entries: memory is bounded by what is live, each
 * answer costs O(1), each push O(log n) (usually O(1): deadlines mostly grow).
 *
 * Whether an entry is live is the owner's to say, through a callback that looks
 * at (idx, gen, tag) — typically a pool slot, its reuse generation and an
 * attempt number. Pops among equal deadlines follow the heap's deterministic
 * order: the same pushes give the same pops.
 */
#ifndef RATELAB_DLHEAP_H
#define RATELAB_DLHEAP_H

#include <stdbool.h>
#include <stdint.h>

struct dlheap_ent {
    int64_t at_us;  /* the deadline, µs */
    uint32_t idx;   /* the owner's key: e.g. a pool slot */
    uint32_t gen;   /* the owner's key: e.g. the slot's reuse generation */
    int32_t tag;    /* the owner's key: e.g. an attempt number */
};

typedef bool (*dlheap_live_fn)(void *ctx, const struct dlheap_ent *e);

/*
 * Invariant: e[0..n) is a min-heap by at_us; stale counts entries in it the owner retired;
 * top_live: e[0] was found live and has not been retired since.
 */
struct dlheap {
    struct dlheap_ent *e;
    uint32_t n, cap;
    uint32_t stale;        /* retired entries still in the heap */
    bool top_live;         /* dlheap_next need not ask the owner about e[0] again */
    dlheap_live_fn live;   /* is an entry still wanted */
    void *ctx;
};

void dlheap_init(struct dlheap *h, dlheap_live_fn live, void *ctx);
void dlheap_fini(struct dlheap *h);

/* Add a live entry (grows by doubling; compacts first when mostly stale). */
void dlheap_push(struct dlheap *h, struct dlheap_ent e);

/*
 * The entry e (all four fields as pushed) is no longer live: its owner retired it, and
 * the live callback says so from now on. A live entry's liveness changes only here
 * (or by dlheap_pop), which lets dlheap_next remember a top it found live.
 */
static inline void dlheap_stale(struct dlheap *h, struct dlheap_ent e)
{
    h->stale++;
    if (h->top_live && h->e[0].idx == e.idx && h->e[0].gen == e.gen && h->e[0].tag == e.tag &&
        h->e[0].at_us == e.at_us)
        h->top_live = false;
}

/*
 * The earliest live deadline, dropping stale entries on top; INT64_MAX when none. The
 * live callback is asked about the top once, not on every call: on a simulator step it
 * is a cache miss into the owner's pool.
 */
int64_t dlheap_next(struct dlheap *h);

/* Remove and return the top entry; call after dlheap_next() said there is one. */
struct dlheap_ent dlheap_pop(struct dlheap *h);

#endif
