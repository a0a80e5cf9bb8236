#include "config.h"

#include "cqueue.h"

#include <stddef.h>

/* ---- lists --------------------------------------------------------------- */

void cq_list_push(struct cq_list *l, struct client_req *r)
{
    r->next = NULL;
    r->prev = l->tail;
    if (l->tail)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
}

void cq_list_remove(struct cq_list *l, struct client_req *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        l->head = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        l->tail = r->prev;
    r->prev = r->next = NULL;
}

/* ---- pairing heap ---------------------------------------------------------- */

static inline bool hp_less(const struct client_req *a, const struct client_req *b)
{
    return a->hp_key < b->hp_key || (a->hp_key == b->hp_key && a->seq < b->seq);
}

static struct client_req *hp_meld(struct client_req *a, struct client_req *b)
{
    if (!a)
        return b;
    if (!b)
        return a;
    if (hp_less(b, a)) {
        struct client_req *t = a;
        a = b;
        b = t;
    }
    b->hp_sib = a->hp_child;
    if (a->hp_child)
        a->hp_child->hp_prev = b;
    b->hp_prev = a;
    a->hp_child = b;
    a->hp_sib = a->hp_prev = NULL;
    return a;
}

/* Two-pass pairing of a sibling list, iterative (no recursion depth issues). */
static struct client_req *hp_merge_pairs(struct client_req *first)
{
    struct client_req *stack = NULL;
    while (first) {
        struct client_req *a = first, *b = a->hp_sib;
        first = b ? b->hp_sib : NULL;
        a->hp_sib = a->hp_prev = NULL;
        if (b)
            b->hp_sib = b->hp_prev = NULL;
        struct client_req *m = hp_meld(a, b);
        m->hp_sib = stack;
        stack = m;
    }
    struct client_req *root = NULL;
    while (stack) {
        struct client_req *next = stack->hp_sib;
        stack->hp_sib = NULL;
        root = hp_meld(root, stack);
        stack = next;
    }
    return root;
}

void cq_heap_insert(struct client_req **root, struct client_req *r, int64_t key)
{
    r->hp_key = key;
    r->hp_child = r->hp_sib = r->hp_prev = NULL;
    *root = hp_meld(*root, r);
}

void cq_heap_remove(struct client_req **root, struct client_req *r)
{
    if (r == *root) {
        *root = hp_merge_pairs(r->hp_child);
    } else {
        if (r->hp_prev->hp_child == r)
            r->hp_prev->hp_child = r->hp_sib;
        else
            r->hp_prev->hp_sib = r->hp_sib;
        if (r->hp_sib)
            r->hp_sib->hp_prev = r->hp_prev;
        *root = hp_meld(*root, hp_merge_pairs(r->hp_child));
    }
    r->hp_child = r->hp_sib = r->hp_prev = NULL;
}
