#include "config.h"

#include <check.h>
#include <stdlib.h>

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
                /* pop the minimum of the reference and compare */
                qsort(ref, nref, sizeof *ref, cmp_ev);
                struct evheap_event e;
                ck_assert_int_eq(evheap_pop(&h, &e), 1);
                ck_assert_int_eq(e.time_us, ref[0].time_us);
                ck_assert_uint_eq(e.data, ref[0].data);
                ck_assert_int_ge(e.time_us, now);
                now = e.time_us;
                ref[0] = ref[--nref];
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

int main(void)
{
    Suite *s = suite_create("evheap");
    TCase *tc = tcase_create("evheap");
    tcase_add_test(tc, empty);
    tcase_add_test(tc, fifo_ties);
    tcase_add_test(tc, clock_zero_and_extremes);
    tcase_add_test(tc, random_against_sort);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
