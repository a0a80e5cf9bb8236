/*
 * [client] instances in simulation: N client cores in one run, their limits full,
 * split or shared (run.h, doc/scenario.md "Client instances").
 */
#include "config.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "report.h"
#include "run.h"
#include "scenario.h"
#include "sim.h"
#include "util.h"

static struct class_config *add_class(struct scenario *sc, const char *name,
                                      enum arrival_kind kind, double rate_per_s)
{
    struct class_config *cl = &sc->classes[sc->n_classes++];
    memset(cl, 0, sizeof *cl);
    snprintf(cl->name, sizeof cl->name, "%s", name);
    cl->arrival.kind = kind;
    cl->arrival.rate_per_s = rate_per_s;
    cl->prompt_tokens.kind = DIST_UNIFORM;
    cl->prompt_tokens.a = 100;
    cl->prompt_tokens.b = 900;
    cl->completion_tokens.kind = DIST_UNIFORM;
    cl->completion_tokens.a = 20;
    cl->completion_tokens.b = 300;
    cl->max_tokens = 400;
    cl->priority = 5;
    cl->weight = 1;
    return cl;
}

/*
 * One key of 600 RPM and 6 concurrent requests, on both sides of the wire:
 * each client instance is configured with the key's limits, the provider enforces
 * them. Demand well above them (a steady class, a burst, closed-loop users), retries
 * on, so the client limiter is what keeps the provider's 429s away, or not.
 */
static void quota(struct scenario *sc, uint64_t seed, int instances, enum instance_limits l)
{
    scenario_defaults(sc);
    sc->seed = seed;
    sc->duration_us = 90 * US_PER_S;
    sc->client.requests_per_minute = 600;
    sc->client.tokens_per_minute = 0;
    sc->client.max_concurrent = 6;
    sc->client.queue_capacity = 0;
    sc->client.request_timeout_us = 0;
    sc->client.instances = instances;
    sc->client.instance_limits = l;
    sc->server.requests_per_minute = 600;
    sc->server.tokens_per_minute = 0;
    sc->server.max_concurrent = 6;
    sc->server.max_running = 0;
    sc->server.decode_batch_slope = 0;
    sc->server.decode_us_per_token = 2000;
    add_class(sc, "steady", ARRIVAL_POISSON, 14);
    struct class_config *b = add_class(sc, "burst", ARRIVAL_BURST, 0);
    b->arrival.at_us = 30 * US_PER_S;
    b->arrival.count = 300;
    b->priority = 8;
    struct class_config *u = add_class(sc, "users", ARRIVAL_CLOSED, 0);
    u->arrival.users = 7;
    u->arrival.think_us = 500 * US_PER_MS;
}

static sim *run_sim(const struct scenario *sc)
{
    int err = -1;
    sim *s = sim_new(sc, &err);
    ck_assert_msg(s != NULL, "sim_new: %d", err);
    ck_assert_int_eq(sim_run(s, 0), 1);
    return s;
}

/* Accounting adds up overall and over the instances; arrivals went round-robin. */
static void assert_instances_add_up(sim *s, int n)
{
    struct metrics_row t;
    metrics_total(sim_metrics(s), -1, &t);
    uint64_t ended = 0;
    for (int o = 0; o < OUTCOME__COUNT; o++)
        ended += t.c.ended[o];
    ck_assert_uint_eq(ended, t.c.arrivals);
    const struct run_instance_stats *st;
    ck_assert_int_eq(run_instances(sim_lifecycle(s), &st), n);
    int64_t arrived = 0, sent = 0, h429 = 0, throttled = 0, out[OUTCOME__COUNT] = {0};
    int64_t lo = INT64_MAX, hi = 0;
    for (int k = 0; k < n; k++) {
        arrived += st[k].arrived;
        sent += st[k].sent;
        h429 += st[k].http_429;
        throttled += st[k].throttled;
        int64_t e = 0;
        for (int o = 0; o < OUTCOME__COUNT; o++) {
            out[o] += st[k].ended[o];
            e += st[k].ended[o];
        }
        ck_assert_int_eq(e, st[k].arrived); /* each instance's requests all ended */
        lo = st[k].arrived < lo ? st[k].arrived : lo;
        hi = st[k].arrived > hi ? st[k].arrived : hi;
    }
    ck_assert_int_eq(arrived, (int64_t)t.c.arrivals);
    ck_assert_int_eq(sent, (int64_t)t.c.sends);
    ck_assert_int_eq(h429, (int64_t)t.c.http_429);
    ck_assert_int_eq(throttled, (int64_t)t.c.client_throttled);
    for (int o = 0; o < OUTCOME__COUNT; o++)
        ck_assert_int_eq(out[o], (int64_t)t.c.ended[o]);
    ck_assert_int_le(hi - lo, 1); /* round-robin in arrival order */
    struct run_stats rs;
    run_stats(sim_lifecycle(s), &rs);
    ck_assert_int_eq(rs.stuck, 0);
}

static int64_t server_429s(const sim *s)
{
    struct sim_stats st;
    sim_stats(s, &st);
    return st.server_429[0] + st.server_429[1] + st.server_429[2] + st.server_429[3];
}

/* Property over seeds: one shared limiter never lets through more than the key allows, so
 * the provider enforcing the same limits never answers 429; so does a split; the full
 * limits per instance do, and put more attempts in flight than the key's 6. */
START_TEST(shared_and_split_keep_the_quota)
{
    int64_t full_429 = 0;
    for (uint64_t seed = 1; seed <= 6; seed++) {
        for (int l = INSTANCE_LIMITS_FULL; l <= INSTANCE_LIMITS_SHARED; l++) {
            struct scenario sc;
            quota(&sc, seed, 4, l);
            sim *s = run_sim(&sc);
            assert_instances_add_up(s, 4);
            struct metrics_row t;
            metrics_total(sim_metrics(s), -1, &t);
            ck_assert_uint_gt(t.c.arrivals, 1500);
            if (l == INSTANCE_LIMITS_FULL) {
                full_429 += server_429s(s);
                ck_assert_int_gt(t.inflight_max, 6);
            } else {
                ck_assert_msg(server_429s(s) == 0, "seed %d limits %d: %lld 429s", (int)seed, l,
                              (long long)server_429s(s));
                ck_assert_int_le(t.inflight_max, 6);
                ck_assert_uint_gt(t.c.client_throttled, 0);
            }
            sim_free(s);
        }
    }
    ck_assert_int_gt(full_429, 100);
}
END_TEST

/* Shared: instances waiting for the same tokens take turns, so each gets its share of
 * what the key lets through; the rest is cancelled at the end. (Served always from
 * instance 0 first, instance 0 would get all it asked for and the others the rest.) */
START_TEST(shared_turns_are_fair)
{
    struct scenario sc;
    quota(&sc, 3, 4, INSTANCE_LIMITS_SHARED);
    sc.n_classes = 1; /* the steady class alone: 20/s against 10/s */
    sc.classes[0].arrival.rate_per_s = 20;
    sc.at_end = END_CANCEL;
    sim *s = run_sim(&sc);
    const struct run_instance_stats *st;
    int n = run_instances(sim_lifecycle(s), &st);
    double mean = 0;
    for (int k = 0; k < n; k++)
        mean += (double)st[k].ended[OUTCOME_SUCCEEDED] / n;
    for (int k = 0; k < n; k++)
        ck_assert_msg(st[k].ended[OUTCOME_SUCCEEDED] > 0.95 * mean &&
                          st[k].ended[OUTCOME_SUCCEEDED] < 1.05 * mean,
                      "instance %d: %lld succeeded, mean %.0f", k,
                      (long long)st[k].ended[OUTCOME_SUCCEEDED], mean);
    ck_assert_int_gt(st[0].ended[OUTCOME_CANCELLED], 20); /* the key was the bottleneck */
    sim_free(s);
}
END_TEST

static char *json_of(const struct scenario *sc)
{
    char *text;
    size_t len;
    FILE *f = open_memstream(&text, &len);
    sim *s = run_sim(sc);
    struct report_extra x;
    sim_report_extra(s, &x);
    x.n_instances = run_instances(sim_lifecycle(s), &x.instances);
    x.instance_limits = sc->client.instance_limits;
    ck_assert_int_eq(report_json(f, sc, sim_metrics(s), &x), 0);
    fclose(f);
    sim_free(s);
    return text;
}

/* instances = 1 is the single client whatever instance_limits says, and the report
 * lists instances only when there are several. */
START_TEST(one_instance_is_the_single_client)
{
    struct scenario sc;
    quota(&sc, 7, 1, INSTANCE_LIMITS_FULL);
    char *a = json_of(&sc);
    ck_assert_ptr_null(strstr(a, "\"instances\""));
    for (int l = INSTANCE_LIMITS_SPLIT; l <= INSTANCE_LIMITS_SHARED; l++) {
        sc.client.instance_limits = l;
        char *b = json_of(&sc);
        ck_assert_str_eq(a, b);
        free(b);
    }
    sc.client.instances = 2;
    char *c = json_of(&sc);
    ck_assert_ptr_nonnull(strstr(c, "\"instances\":\t{\n\t\t\"count\":\t2,\n\t\t\"limits\":\t\"shared\""));
    free(c);
    free(a);
}
END_TEST

/* Every policy with several instances: accounting closes, per instance too; blocked
 * producers, cancel at the end and adaptive mode included. */
START_TEST(policies_add_up)
{
    for (uint64_t seed = 1; seed <= 9; seed++) {
        struct scenario sc;
        int n = 2 + (int)(seed % 4);
        quota(&sc, seed, n, (enum instance_limits)(seed % 3));
        sc.client.queue_capacity = 40;
        sc.client.queue_full = seed % 2 ? QUEUE_FULL_BLOCK : QUEUE_FULL_REJECT;
        sc.at_end = seed % 3 ? END_DRAIN : END_CANCEL;
        sc.client.adaptive = seed % 4 == 0;
        sc.client.request_timeout_us = 8 * US_PER_S;
        sc.client.priority = (enum priority_policy)(seed % 4);
        if (sc.client.instance_limits == INSTANCE_LIMITS_SPLIT)
            sc.client.max_concurrent = 12;
        sim *s = run_sim(&sc);
        assert_instances_add_up(s, n);
        sim_free(s);
    }
}
END_TEST

int main(void)
{
    Suite *s = suite_create("instances");
    TCase *tc = tcase_create("instances");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, shared_and_split_keep_the_quota);
    tcase_add_test(tc, shared_turns_are_fair);
    tcase_add_test(tc, one_instance_is_the_single_client);
    tcase_add_test(tc, policies_add_up);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
