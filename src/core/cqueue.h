/*
 * cqueue: the intrusive containers of the client core — doubly linked FIFO
 * lists and a pairing heap — threaded through links embedded in struct
 * client_req, so queueing a request never allocates.
 *
 * A request is in at most one list (prev/next) and at most one heap (hp_*) at
 * a time. The heap orders by (key, seq): equal keys pop in submit order, so
 * timers that fall on the same µs fire FIFO and runs are reproducible.
 * Insert is O(1), removing the minimum or any member O(log n) amortized.
 */
#ifndef RATELAB_CQUEUE_H
#define RATELAB_CQUEUE_H

#include <stdint.h>

#include "client.h"

/* A FIFO list; {NULL, NULL} is empty. */
struct cq_list {
    struct client_req *head, *tail;
};

/* Append r (in no list) at the tail. */
void cq_list_push(struct cq_list *l, struct client_req *r);

/* Unlink r, which must be in l. */
void cq_list_remove(struct cq_list *l, struct client_req *r);

/* Heaps are a root pointer, NULL when empty; *root is the minimum. */
/* Add r (in no heap) with key; r->seq breaks ties. */
void cq_heap_insert(struct client_req **root, struct client_req *r, int64_t key);

/* Remove r, which must be in the heap rooted at *root. */
void cq_heap_remove(struct client_req **root, struct client_req *r);

#endif
