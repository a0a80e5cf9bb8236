#include "config.h"

#include <check.h>
#include <stdlib.h>

#include "cqueue.h"
#include "rng.h"

#define N 2000

/* Random inserts and removals (of the minimum and of arbitrary members) against
 * a brute-force reference: the root is always the least (key, seq). */
START_TEST(heap_matches_reference)
{
    static struct client_req r[N];
    static bool in[N];
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct rng rng;
        rng_seed(&rng, seed);
        struct client_req *root = NULL;
        for (int i = 0; i < N; i++) {
            r[i] = (struct client_req){.seq = (uint64_t)i};
            in[i] = false;
        }
        int64_t keyspace = 1 + (int64_t)rng_below(&rng, 50); /* many ties */
        for (int step = 0; step < 20000; step++) {
            int i = (int)rng_below(&rng, N);
            uint64_t op = rng_below(&rng, 3);
            if (!in[i] && op < 2) {
                cq_heap_insert(&root, &r[i], (int64_t)rng_below(&rng, (uint64_t)keyspace));
                in[i] = true;
            } else if (in[i] && op == 2) {
                cq_heap_remove(&root, &r[i]);
                in[i] = false;
            } else if (root) {
                int m = (int)root->seq;
                cq_heap_remove(&root, root);
                in[m] = false;
            }
            /* reference minimum */
            int best = -1;
            for (int j = 0; j < N; j++)
                if (in[j] && (best < 0 || r[j].hp_key < r[best].hp_key ||
                              (r[j].hp_key == r[best].hp_key && r[j].seq < r[best].seq)))
                    best = j;
            if ((best < 0) != (root == NULL) || (root && root != &r[best]))
                ck_abort_msg("seed %llu step %d: wrong minimum", (unsigned long long)seed, step);
        }
    }
}
END_TEST

START_TEST(heap_ties_fifo)
{
    struct client_req r[5], *root = NULL;
    for (int i = 0; i < 5; i++) {
        r[i] = (struct client_req){.seq = (uint64_t)(10 - i)}; /* inserted in reverse seq */
        cq_heap_insert(&root, &r[i], 7);
    }
    for (int i = 4; i >= 0; i--) {
        ck_assert_ptr_eq(root, &r[i]);
        cq_heap_remove(&root, root);
    }
    ck_assert_ptr_null(root);
}
END_TEST

START_TEST(lists)
{
    struct client_req r[3];
    struct cq_list l = {0};
    for (int i = 0; i < 3; i++)
        cq_list_push(&l, &r[i]);
    cq_list_remove(&l, &r[1]);
    ck_assert_ptr_eq(l.head, &r[0]);
    ck_assert_ptr_eq(l.head->next, &r[2]);
    ck_assert_ptr_eq(l.tail, &r[2]);
    cq_list_remove(&l, &r[0]);
    cq_list_remove(&l, &r[2]);
    ck_assert_ptr_null(l.head);
    ck_assert_ptr_null(l.tail);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("cqueue");
    TCase *tc = tcase_create("cqueue");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, heap_matches_reference);
    tcase_add_test(tc, heap_ties_fifo);
    tcase_add_test(tc, lists);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
