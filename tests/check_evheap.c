#include "config.h"

#include <check.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "dlheap.h"
#include "evheap.h"
#include "rng.h"

START_TEST(empty)
{
    struct evheap h;
    evheap_init(&h, 0);
    struct evheap_event e = {7, 7, 7};
    ck_assert_int_eq(evheap_pop(&h, &e), 0);
    ck_assert_int_eq(e.time_us, 7); /* untouched */
    ck_assert(evheap_next_time(&h) == INT64_MAX);
    evheap_fini(&h);
}
END_TEST

START_TEST(fifo_ties)
{
    struct evheap h;
    evheap_init(&h, 1); /* forces growth */
    for (uint64_t i = 0; i < 100; i++)
        evheap_push(&h, (int64_t)(i % 3) * 10, i); /* times 0,10,20,0,10,... */
    struct evheap_event e;
    int64_t last_t = -1;
    uint64_t last_d = 0;
    int n = 0;
    while (evheap_pop(&h, &e)) {
        if (e.time_us == last_t)
            ck_assert_uint_gt(e.data, last_d); /* pushed order among equal times */
        else
            ck_assert_int_gt(e.time_us, last_t);
        last_t = e.time_us;
        last_d = e.data;
        n++;
    }
    ck_assert_int_eq(n, 100);
    evheap_fini(&h);
}
END_TEST

START_TEST(clock_zero_and_extremes)
{
    struct evheap h;
    evheap_init(&h, 0);
    evheap_push(&h, INT64_MAX, 1);
    evheap_push(&h, 0, 2);
    evheap_push(&h, 0, 3);
    evheap_push(&h, INT64_MAX - 1, 4);
    struct evheap_event e;
    uint64_t want[] = {2, 3, 4, 1};
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(evheap_pop(&h, &e), 1);
        ck_assert_uint_eq(e.data, want[i]);
    }
    evheap_fini(&h);
}
END_TEST

static int cmp_ev(const void *a, const void *b)
{
    const struct evheap_event *x = a, *y = b;
    if (x->time_us != y->time_us)
        return x->time_us < y->time_us ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Property: interleaved pushes and pops over many seeds pop in sorted (time, seq) order. */
START_TEST(random_against_sort)
{
    for (uint64_t seed = 1; seed <= 50; seed++) {
        struct rng r;
        rng_seed(&r, seed);
        struct evheap h;
        evheap_init(&h, 0);
        enum { N = 2000 };
        struct evheap_event *ref = malloc(N * sizeof *ref);
        int nref = 0;
        int64_t now = 0;
        for (int i = 0; i < N; i++) {
            int64_t t = now + (int64_t)rng_below(&r, 50);
            evheap_push(&h, t, (uint64_t)i);
            ref[nref++] = (struct evheap_event){t, h.next_seq - 1, (uint64_t)i};
            if (rng_below(&r, 3) == 0) {
                /* pop the minimum of the reference (a linear scan: sorting the whole
                 * reference on every pop made this test N^2 log N) and compare */
                int m = 0;
                for (int k = 1; k < nref; k++)
                    if (cmp_ev(&ref[k], &ref[m]) < 0)
                        m = k;
                struct evheap_event e;
                ck_assert_int_eq(evheap_pop(&h, &e), 1);
                ck_assert_int_eq(e.time_us, ref[m].time_us);
                ck_assert_uint_eq(e.data, ref[m].data);
                ck_assert_int_ge(e.time_us, now);
                now = e.time_us;
                ref[m] = ref[--nref];
            }
        }
        qsort(ref, nref, sizeof *ref, cmp_ev);
        for (int i = 0; i < nref; i++) {
            struct evheap_event e;
            ck_assert_int_eq(evheap_pop(&h, &e), 1);
            ck_assert_uint_eq(e.data, ref[i].data);
        }
        ck_assert_uint_eq(evheap_size(&h), 0);
        free(ref);
        evheap_fini(&h);
    }
}
END_TEST

/*
 * Property: any order of operations — pops back to back, a pop then a push (the engine's
 * "next arrival of this class" right after popping its current one), a pop then a look at
 * the next time or the size, pops down to empty, clears — behaves as a sorted list.
 */
START_TEST(any_operation_order_against_model)
{
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct rng r;
        rng_seed(&r, 100 + seed);
        struct evheap h;
        evheap_init(&h, 0);
        enum { OPS = 20000, CAP = 4096 };
        static struct evheap_event ref[CAP];
        int nref = 0, pops = 0, refills = 0;
        int64_t now = 0;
        uint64_t seq = 0;
        bool just_popped = false;
        for (int op = 0; op < OPS; op++) {
            uint64_t u = rng_below(&r, 100);
            if (u < 45 && nref < CAP) {
                /* soon (lands near the top) or far (lands near the bottom) */
                int64_t t = now + (int64_t)(rng_below(&r, 2) ? rng_below(&r, 5)
                                                              : rng_below(&r, 100000));
                evheap_push(&h, t, (uint64_t)op);
                ref[nref++] = (struct evheap_event){t, seq++, (uint64_t)op};
                refills += just_popped;
                just_popped = false;
                continue;
            }
            just_popped = false;
            if (u < 90) {
                int m = -1;
                for (int k = 0; k < nref; k++)
                    if (m < 0 || cmp_ev(&ref[k], &ref[m]) < 0)
                        m = k;
                struct evheap_event e = {-1, 0, 0};
                ck_assert_int_eq(evheap_pop(&h, &e), m >= 0);
                if (m >= 0) {
                    ck_assert_int_eq(e.time_us, ref[m].time_us);
                    ck_assert_uint_eq(e.seq, ref[m].seq);
                    ck_assert_uint_eq(e.data, ref[m].data);
                    now = e.time_us;
                    ref[m] = ref[--nref];
                    pops++;
                    just_popped = true;
                }
            } else if (u < 99) {
                int64_t next = INT64_MAX;
                for (int k = 0; k < nref; k++)
                    if (ref[k].time_us < next)
                        next = ref[k].time_us;
                ck_assert_int_eq(evheap_next_time(&h), next);
            } else {
                evheap_clear(&h);
                nref = 0;
            }
            ck_assert_uint_eq(evheap_size(&h), (size_t)nref);
        }
        ck_assert_int_gt(pops, 5000);
        ck_assert_int_gt(refills, 1000);
        evheap_fini(&h);
    }
}
END_TEST

/* ---- dlheap: deadlines whose entries go stale ---------------------------------- */

static bool retired[100000];

static bool live(void *ctx, const struct dlheap_ent *e)
{
    (void)ctx;
    return !retired[e->idx];
}

static int64_t at[100000];

/* The earliest live deadline among entries 0..n-1, by brute force. */
static int64_t brute_next(uint32_t n)
{
    int64_t m = INT64_MAX;
    for (uint32_t k = 0; k < n; k++)
        if (!retired[k] && at[k] < m)
            m = at[k];
    return m;
}

/*
 * Entries retired anywhere, the top included, with dlheap_next asked between the
 * changes (it remembers a top it found live until that entry is retired or popped):
 * it always gives the earliest live deadline, and memory stays near the live count.
 */
START_TEST(dlheap_skips_stale_and_compacts)
{
    struct dlheap h;
    dlheap_init(&h, live, NULL);
    ck_assert(dlheap_next(&h) == INT64_MAX);
    struct rng r;
    rng_seed(&r, 3);
    enum { N = 100000 };
    memset(retired, 0, sizeof retired);
    uint32_t max_n = 0, top_retired = 0;
    for (uint32_t i = 0; i < N; i++) {
        at[i] = (int64_t)rng_below(&r, 1000000);
        dlheap_push(&h, (struct dlheap_ent){at[i], i, 0, 0});
        /* Retire most entries soon after: the heap must stay near the live count. */
        if (i >= 10 && rng_below(&r, 10) != 0 && !retired[i - 10]) {
            retired[i - 10] = true;
            dlheap_stale(&h, (struct dlheap_ent){at[i - 10], i - 10, 0, 0});
        }
        int64_t next = dlheap_next(&h);
        if (rng_below(&r, 4) == 0 && next != INT64_MAX) {
            /* the entry on top, just found live: its owner retires it */
            uint32_t k = h.e[0].idx;
            ck_assert(!retired[k]);
            retired[k] = true;
            dlheap_stale(&h, h.e[0]);
            top_retired++;
        }
        if (i % 64 == 0)
            ck_assert_int_eq(dlheap_next(&h), brute_next(i + 1));
        if (h.n > max_n)
            max_n = h.n;
    }
    ck_assert_uint_gt(top_retired, 1000);
    uint32_t live_n = 0;
    for (uint32_t i = 0; i < N; i++)
        live_n += !retired[i];
    ck_assert_uint_lt(max_n, 3 * live_n + 2048); /* bounded by what is live, not by N */
    int64_t last = -1;
    uint32_t popped = 0;
    while (dlheap_next(&h) != INT64_MAX) {
        struct dlheap_ent e = dlheap_pop(&h);
        ck_assert(!retired[e.idx]);
        ck_assert_int_ge(e.at_us, last);
        last = e.at_us;
        retired[e.idx] = true;
        popped++;
    }
    ck_assert_uint_eq(popped, live_n);
    ck_assert_uint_eq(h.n, 0);
    dlheap_fini(&h);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("evheap");
    TCase *tc = tcase_create("evheap");
    tcase_add_test(tc, empty);
    tcase_add_test(tc, fifo_ties);
    tcase_add_test(tc, clock_zero_and_extremes);
    tcase_add_test(tc, random_against_sort);
    tcase_add_test(tc, any_operation_order_against_model);
    tcase_add_test(tc, dlheap_skips_stale_and_compacts);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
