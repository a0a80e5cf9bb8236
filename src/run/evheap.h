/*
 * evheap: the simulator's event queue — a binary min-heap of timed events
 * ordered by (time, insertion sequence), so events due at the same µs pop in
 * the order they were pushed (FIFO ties) and a run is exactly reproducible.
 *
 * An event carries one 64-bit payload the engine interprets (a kind and an
 * index, typically). There is no removal: engines cancel by stamping a
 * generation into the payload and ignoring stale events when they pop, which
 * keeps push and pop O(log n) with no back-pointers to maintain.
 *
 * A pop leaves the root vacant (a hole) until the next operation: a push then enters
 * at the top and sifts down, which for an event due soon (an engine scheduling a
 * class's next arrival right after popping its current one) stops near the top, one
 * sift where a pop and a push would take two; any other call first fills the hole
 * with the last event. The events pop in the same order either way.
 *
 * Memory: the heap grows by doubling to the largest number of pending events
 * ever held at once and never shrinks until evheap_fini(); it does not grow
 * with the number of events pushed over a run.
 */
#ifndef RATELAB_EVHEAP_H
#define RATELAB_EVHEAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evheap_event {
    int64_t time_us;   /* when the event is due, µs on the engine's timeline */
    uint64_t seq;      /* insertion order, the tie-breaker; assigned by evheap_push */
    uint64_t data;     /* the engine's payload */
};

/*
 * Invariant: without a hole, ev[0..n) is a heap — no event sorts before its parent
 * by (time_us, seq); with one, ev[0] is vacant and ev[1..n] hold the n events, none
 * sorting before a parent other than the root. seq values are unique and below
 * next_seq.
 */
struct evheap {
    struct evheap_event *ev; /* the heap array, capacity cap */
    size_t n;                /* events pending */
    size_t cap;              /* slots allocated */
    bool hole;               /* the root is vacant: the last call was a pop */
    uint64_t next_seq;       /* the seq the next push gets */
};

/* An empty heap with room for cap_hint events (0 picks a small default). */
void evheap_init(struct evheap *h, size_t cap_hint);
void evheap_fini(struct evheap *h);

/* Queue an event. Grows the array when full (amortised O(1) allocation, never per event). */
void evheap_push(struct evheap *h, int64_t time_us, uint64_t data);

/* Remove the earliest event into *out. Returns 1, or 0 (and leaves *out alone) when empty. */
int evheap_pop(struct evheap *h, struct evheap_event *out);

/* Fill a vacant root (see the top); the inline calls below need it. */
void evheap_fill_hole(struct evheap *h);

/* The earliest event's time, or TIME_NEVER when empty. */
static inline int64_t evheap_next_time(struct evheap *h)
{
    if (h->hole)
        evheap_fill_hole(h);
    return h->n ? h->ev[0].time_us : INT64_MAX;
}

static inline size_t evheap_size(const struct evheap *h)
{
    return h->n;
}

/* Drop every pending event (the sequence counter keeps counting). */
void evheap_clear(struct evheap *h);

#endif
