#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "limiter.h"
#include "ratehdr.h"
#include "rng.h"
#include "util.h"

#define FAST_ASSERT(cond, ...)                                                                     \
    do {                                                                                           \
        if (!(cond))                                                                               \
            ck_abort_msg(__VA_ARGS__);                                                             \
    } while (0)

/* ---- a tiny engine for the tests ------------------------------------------ */

#define MAXREQ 512

struct treq {
    struct client_req cr; /* first: the test casts back */
    int id;
    int ends; /* on_terminal calls: must end at exactly 1 */
    enum client_state end;
    int64_t end_us;
    int64_t earliest_us; /* the next send must not be before this (Retry-After) */
    int64_t resp_at_us;  /* in flight: when the fake server answers */
};

struct h {
    client *c;
    struct rng rng;
    struct treq r[MAXREQ];
    int n_terminal;
    int ev[CLIENT_EV__COUNT];
    int64_t depth[SCENARIO_MAX_CLASSES]; /* QUEUED + REQUEUED - DEQUEUED, per class */
    int order[MAXREQ]; /* ids in send order */
    int n_sent;
};

static void on_terminal(void *ctx, struct client_req *cr, enum client_state s, int status,
                        int64_t now)
{
    struct h *h = ctx;
    struct treq *r = (struct treq *)cr;
    (void)status;
    r->ends++;
    r->end = s;
    r->end_us = now;
    h->n_terminal++;
}

static void on_event(void *ctx, struct client_req *cr, enum client_event ev, int64_t now)
{
    struct h *h = ctx;
    (void)now;
    h->ev[ev]++;
    /* The queue events alone give the client's own depth, at every event of every test. */
    if (ev == CLIENT_EV_QUEUED || ev == CLIENT_EV_REQUEUED || ev == CLIENT_EV_DEQUEUED) {
        h->depth[cr->class_idx] += ev == CLIENT_EV_DEQUEUED ? -1 : 1;
        struct client_stats st;
        client_stats(h->c, cr->class_idx, &st);
        ck_assert_int_eq(h->depth[cr->class_idx], st.depth);
    }
}

static struct client_config base_cfg(void)
{
    struct scenario sc;
    scenario_defaults(&sc);
    struct client_config c = sc.client;
    c.retry.jitter = JITTER_NONE;
    return c;
}

static void h_init(struct h *h, const struct client_config *cfg, const struct client_class *cl,
                   int n_cl)
{
    memset(h, 0, sizeof *h);
    rng_seed(&h->rng, 1);
    struct client_callbacks cb = {on_terminal, on_event, h};
    int err = 1;
    h->c = client_new(cfg, cl, n_cl, &h->rng, &cb, 0, &err);
    ck_assert_ptr_nonnull(h->c);
    ck_assert_int_eq(err, 0);
    for (int i = 0; i < MAXREQ; i++)
        h->r[i].id = i;
}

static struct client_req *req(struct h *h, int i, int cls, int64_t arrival, int64_t prompt,
                              int64_t max_tokens)
{
    client_req_init(&h->r[i].cr, cls, arrival, prompt, max_tokens);
    return &h->r[i].cr;
}

static int poll_ids(struct h *h, int64_t now, int *ids, int max)
{
    struct client_req *out[64];
    int n = client_poll(h->c, now, out, max < 64 ? max : 64);
    for (int i = 0; i < n; i++) {
        ids[i] = ((struct treq *)out[i])->id;
        h->order[h->n_sent++] = ids[i];
    }
    return n;
}

static const struct client_class one_class[1] = {{.priority = 0, .weight = 1, .timeout_us = 0}};

/* ---- scripted clocks ----------------------------------------------------- */

START_TEST(send_and_wait_exactly)
{
    struct client_config cfg = base_cfg();
    cfg.requests_per_minute = 2;
    cfg.request_timeout_us = 0;
    struct h h;
    h_init(&h, &cfg, one_class, 1);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(client_submit(h.c, req(&h, i, 0, 0, 10, 10), 0), 0);
    ck_assert_int_le(client_next_wakeup(h.c), 0);
    int ids[8];
    ck_assert_int_eq(poll_ids(&h, 0, ids, 8), 2);
    ck_assert_int_eq(ids[0], 0);
    ck_assert_int_eq(ids[1], 1);
    ck_assert_int_eq(client_next_wakeup(h.c), 30 * US_PER_S);
    /* the same now twice creates nothing */
    ck_assert_int_eq(poll_ids(&h, 0, ids, 8), 0);
    ck_assert_int_eq(client_next_wakeup(h.c), 30 * US_PER_S);
    ck_assert_int_eq(poll_ids(&h, 30 * US_PER_S - 1, ids, 8), 0);
    ck_assert_int_eq(poll_ids(&h, 30 * US_PER_S, ids, 8), 1);
    ck_assert_int_eq(ids[0], 2);
    ck_assert_int_eq(client_next_wakeup(h.c), TIME_NEVER);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(client_on_response(h.c, &h.r[i].cr, 31 * US_PER_S, 200, NULL, 10, 5),
                         CLIENT_DONE);
    ck_assert_int_eq(h.n_terminal, 3);
    struct client_stats st;
    client_stats(h.c, -1, &st);
    ck_assert_int_eq(st.submitted, 3);
    ck_assert_int_eq(st.sent, 3);
    ck_assert_int_eq(st.throttled, 1);
    ck_assert_int_eq(st.terminal[CLIENT_SUCCEEDED - CLIENT_SUCCEEDED], 3);
    ck_assert_int_eq(h.ev[CLIENT_EV_QUEUED], 3);
    ck_assert_int_eq(h.ev[CLIENT_EV_SENT], 3);
    ck_assert_int_eq(h.ev[CLIENT_EV_THROTTLED], 1);
    client_free(h.c);
}
END_TEST

/* client_set_events: on_event is called for the events in the mask and for no other. */
START_TEST(event_mask_filters_on_event)
{
    struct client_config cfg = base_cfg();
    cfg.requests_per_minute = 2;
    cfg.request_timeout_us = 0;
    struct h h;
    memset(&h, 0, sizeof h);
    rng_seed(&h.rng, 1);
    struct client_callbacks cb = {on_terminal, on_event, &h};
    int err = 1;
    h.c = client_new(&cfg, one_class, 1, &h.rng, &cb, 0, &err);
    ck_assert_ptr_nonnull(h.c);
    client_set_events(h.c, 1u << CLIENT_EV_THROTTLED | 1u << CLIENT_EV_SENT);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(client_submit(h.c, req(&h, i, 0, 0, 10, 10), 0), 0);
    int ids[8];
    ck_assert_int_eq(poll_ids(&h, 0, ids, 8), 2);
    ck_assert_int_eq(poll_ids(&h, 30 * US_PER_S, ids, 8), 1);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(client_on_response(h.c, &h.r[i].cr, 31 * US_PER_S, 200, NULL, 10, 5),
                         CLIENT_DONE);
    ck_assert_int_eq(h.n_terminal, 3);
    for (int ev = 0; ev < CLIENT_EV__COUNT; ev++)
        ck_assert_int_eq(h.ev[ev], ev == CLIENT_EV_SENT ? 3 : ev == CLIENT_EV_THROTTLED ? 1 : 0);
    client_free(h.c);
}
END_TEST

START_TEST(poll_max_and_concurrency)
{
    struct client_config cfg = base_cfg();
    cfg.max_concurrent = 3;
    cfg.request_timeout_us = 0;
    struct h h;
    h_init(&h, &cfg, one_class, 1);
    for (int i = 0; i < 5; i++)
        client_submit(h.c, req(&h, i, 0, 0, 1, 1), 0);
    int ids[8];
    ck_assert_int_eq(poll_ids(&h, 0, ids, 2), 2);
    ck_assert_int_eq(client_next_wakeup(h.c), 0); /* more may go: poll again */
    ck_assert_int_eq(poll_ids(&h, 0, ids, 8), 1);
    ck_assert_int_eq(client_next_wakeup(h.c), TIME_NEVER); /* pool full: only an answer */
    client_on_response(h.c, &h.r[0].cr, 5, 200, NULL, -1, -1);
    ck_assert_int_le(client_next_wakeup(h.c), 5);
    ck_assert_int_eq(poll_ids(&h, 5, ids, 8), 1);
    ck_assert_int_eq(ids[0], 3);
    client_free(h.c);
}
END_TEST

START_TEST(queue_full_reject_and_block)
{
    struct client_config cfg = base_cfg();
    cfg.requests_per_minute = 1;
    cfg.queue_capacity = 2;
    struct h h;
    h_init(&h, &cfg, one_class, 1);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(client_submit(h.c, req(&h, i, 0, 0, 1, 1), 0), 0);
    ck_assert_int_eq(h.r[2].ends, 1);
    ck_assert_int_eq(h.r[2].end, CLIENT_REJECTED);
    ck_assert_int_eq(h.r[2].cr.reason, CLIENT_REASON_QUEUE_FULL);
    ck_assert(!client_has_room(h.c));
    client_free(h.c);

    cfg.queue_full = QUEUE_FULL_BLOCK;
    h_init(&h, &cfg, one_class, 1);
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(client_submit(h.c, req(&h, i, 0, 0, 1, 1), 0), 0);
    ck_assert_int_eq(client_submit(h.c, req(&h, 2, 0, 0, 1, 1), 0), CLIENT_BLOCKED);
    ck_assert_int_eq(h.r[2].cr.state, CLIENT_NEW);
    ck_assert_int_eq(h.r[2].ends, 0);
    int ids[4];
    ck_assert_int_eq(poll_ids(&h, 0, ids, 4), 1);
    ck_assert_int_eq(h.ev[CLIENT_EV_ROOM], 1);
    ck_assert_int_eq(client_submit(h.c, &h.r[2].cr, 0), 0);
    struct client_stats st;
    client_stats(h.c, 0, &st);
    ck_assert_int_eq(st.submitted, 3);
    ck_assert_int_eq(st.depth, 2);
    /* a held-back producer cancelled at the end still counts as an arrival */
    ck_assert_int_eq(client_submit(h.c, req(&h, 3, 0, 0, 1, 1), 0), CLIENT_BLOCKED);
    client_cancel(h.c, &h.r[3].cr, 1);
    ck_assert_int_eq(h.r[3].end, CLIENT_CANCELLED);
    client_cancel_all(h.c, 2);
    client_stats(h.c, 0, &st);
    ck_assert_int_eq(st.submitted, 4);
    ck_assert_int_eq(st.terminal[CLIENT_CANCELLED - CLIENT_SUCCEEDED],
                     4); /* 1 in flight, 2 queued, 1 held */
    client_free(h.c);
}
END_TEST

START_TEST(never_fits)
{
    struct client_config cfg = base_cfg();
    cfg.tokens_per_minute = 1000;
    cfg.tokens_per_day = 5000;
    struct h h;
    h_init(&h, &cfg, one_class, 1);
    client_submit(h.c, req(&h, 0, 0, 0, 900, 200), 0);
    ck_assert_int_eq(h.r[0].end, CLIENT_REJECTED);
    ck_assert_int_eq(h.r[0].cr.reason, CLIENT_REASON_TOO_LARGE);
    client_submit(h.c, req(&h, 1, 0, 0, 900, 100), 0);
    ck_assert_int_eq(h.r[1].cr.state, CLIENT_QUEUED);
    client_free(h.c);
    cfg.estimate = ESTIMATE_PROMPT_ONLY;
    h_init(&h, &cfg, one_class, 1);
    client_submit(h.c, req(&h, 0, 0, 0, 900, 200), 0);
    ck_assert_int_eq(h.r[0].cr.state, CLIENT_QUEUED);
    ck_assert_int_eq(h.r[0].cr.cost_tokens, 900);
    client_free(h.c);
}
END_TEST

/*
 * [client] burst = 1s at 600 RPM and 60,000 TPM: a cold start sends 10 requests,
 * then one per 100 ms; a request larger than the 1,000-token bucket but within the
 * TPM limit is never rejected as too large: it waits for a full bucket and goes.
 */
START_TEST(burst_shapes_cold_start)
{
    struct client_config cfg = base_cfg();
    cfg.requests_per_minute = 600;
    cfg.tokens_per_minute = 60000;
    cfg.request_timeout_us = 0;
    cfg.burst_us = -1;
    struct rng rng;
    rng_seed(&rng, 1);
    struct client_callbacks cb = {on_terminal, NULL, NULL};
    int err = 0;
    ck_assert_ptr_null(client_new(&cfg, one_class, 1, &rng, &cb, 0, &err));
    ck_assert_int_eq(err, -EINVAL);
    cfg.burst_us = US_PER_S;
    struct h h;
    h_init(&h, &cfg, one_class, 1);
    ck_assert_int_eq(client_limiter(h.c)->rpm.capacity, 10);
    ck_assert_int_eq(client_limiter(h.c)->tpm.capacity, 1000);
    for (int i = 0; i < 20; i++)
        client_submit(h.c, req(&h, i, 0, 0, 10, 10), 0);
    int ids[64];
    ck_assert_int_eq(poll_ids(&h, 0, ids, 64), 10);
    ck_assert_int_eq(client_next_wakeup(h.c), 100000);
    ck_assert_int_eq(poll_ids(&h, 100000, ids, 64), 1);
    ck_assert_int_eq(poll_ids(&h, 200000, ids, 64), 1);
    client_free(h.c);

    h_init(&h, &cfg, one_class, 1);
    client_submit(h.c, req(&h, 0, 0, 0, 50000, 10000), 0); /* 60,000: the limit itself */
    ck_assert_int_eq(h.r[0].cr.state, CLIENT_QUEUED);
    client_submit(h.c, req(&h, 1, 0, 0, 1500, 1000), 0);
    ck_assert_int_eq(poll_ids(&h, 0, ids, 64), 1);
    ck_assert_int_eq(ids[0], 0);
    ck_assert_int_eq(client_next_wakeup(h.c), US_PER_MIN); /* back to full: a minute */
    ck_assert_int_eq(poll_ids(&h, US_PER_MIN, ids, 64), 1);
    ck_assert_int_eq(ids[0], 1);
    client_submit(h.c, req(&h, 2, 0, US_PER_MIN, 60000, 1), US_PER_MIN);
    ck_assert_int_eq(h.r[2].cr.reason, CLIENT_REASON_TOO_LARGE); /* above the limit */
    client_free(h.c);
}
END_TEST

static const struct client_class two_classes[2] = {
    {.priority = 0, .weight = 3, .timeout_us = 0}, /* interactive */
    {.priority = 9, .weight = 1, .timeout_us = 0}, /* batch */
};

START_TEST(policies)
{
    struct client_config cfg = base_cfg();
    cfg.requests_per_minute = 60;
    cfg.request_timeout_us = 0;
    int ids[64];
    struct h h;
    /* STRICT: interactive first though submitted later */
    cfg.priority = PRIORITY_STRICT;
    h_init(&h, &cfg, two_classes, 2);
    for (int i = 0; i < 60; i++) /* use up the burst */
        client_submit(h.c, req(&h, 100 + i, 0, 0, 1, 1), 0);
    poll_ids(&h, 0, ids, 64);
    client_submit(h.c, req(&h, 0, 1, 0, 1, 1), 0);
    client_submit(h.c, req(&h, 1, 0, 0, 1, 1), 0);
    ck_assert_int_eq(poll_ids(&h, US_PER_S, ids, 8), 1);
    ck_assert_int_eq(ids[0], 1);
    client_free(h.c);
    /* FIFO: submit order whatever the class */
    cfg.priority = PRIORITY_FIFO;
    h_init(&h, &cfg, two_classes, 2);
    for (int i = 0; i < 60; i++)
        client_submit(h.c, req(&h, 100 + i, 0, 0, 1, 1), 0);
    poll_ids(&h, 0, ids, 64);
    client_submit(h.c, req(&h, 0, 1, 0, 1, 1), 0);
    client_submit(h.c, req(&h, 1, 0, 0, 1, 1), 0);
    ck_assert_int_eq(poll_ids(&h, US_PER_S, ids, 8), 1);
    ck_assert_int_eq(ids[0], 0);
    client_free(h.c);
}
END_TEST

/* Interactive traffic at the full rate; batch must still progress under AGING. */
START_TEST(aging_prevents_starvation)
{
    struct client_config cfg = base_cfg();
    cfg.requests_per_minute = 60;
    cfg.request_timeout_us = 0;
    cfg.priority = PRIORITY_AGING;
    cfg.aging_us = US_PER_S;
    struct h h;
    h_init(&h, &cfg, two_classes, 2);
    int ids[64];
    int next = 1;
    for (; next <= 60; next++) /* use up the burst */
        client_submit(h.c, req(&h, next, 0, 0, 1, 1), 0);
    poll_ids(&h, 0, ids, 64);
    client_submit(h.c, req(&h, 0, 1, 0, 1, 1), 0); /* one batch request */
    int64_t batch_sent = -1;
    for (int64_t t = 0; t <= 120 * US_PER_S && next < MAXREQ; t += US_PER_S / 2) {
        client_submit(h.c, req(&h, next++, 0, t, 1, 1), t); /* 2/s offered vs 1/s limit */
        int n = poll_ids(&h, t, ids, 64);
        for (int i = 0; i < n; i++)
            if (ids[i] == 0)
                batch_sent = t;
    }
    /* rises one level per second: at 9 s it ties priority 0 and is older than them */
    ck_assert_int_ge(batch_sent, 9 * US_PER_S);
    ck_assert_int_le(batch_sent, 10 * US_PER_S);
    client_free(h.c);
    /* STRICT starves it (the documented trade-off) */
    cfg.priority = PRIORITY_STRICT;
    h_init(&h, &cfg, two_classes, 2);
    for (next = 1; next <= 60; next++)
        client_submit(h.c, req(&h, next, 0, 0, 1, 1), 0);
    poll_ids(&h, 0, ids, 64);
    client_submit(h.c, req(&h, 0, 1, 0, 1, 1), 0);
    batch_sent = -1;
    for (int64_t t = 0; t <= 120 * US_PER_S && next < MAXREQ; t += US_PER_S / 2) {
        client_submit(h.c, req(&h, next++, 0, t, 1, 1), t);
        int n = poll_ids(&h, t, ids, 64);
        for (int i = 0; i < n; i++)
            if (ids[i] == 0)
                batch_sent = t;
    }
    ck_assert_int_eq(batch_sent, -1);
    client_free(h.c);
}
END_TEST

START_TEST(weighted_shares)
{
    struct client_config cfg = base_cfg();
    cfg.requests_per_minute = 60;
    cfg.request_timeout_us = 0;
    cfg.queue_capacity = 0;
    cfg.priority = PRIORITY_WEIGHTED;
    struct h h;
    h_init(&h, &cfg, two_classes, 2);
    for (int i = 0; i < 400; i++)
        client_submit(h.c, req(&h, i, i % 2, 0, 1, 1), 0);
    int ids[64], sent[2] = {0, 0}, total = 0;
    for (int64_t t = 0; total < 200; t += US_PER_S) {
        int n = poll_ids(&h, t, ids, 64);
        for (int i = 0; i < n && total < 200; i++, total++)
            sent[ids[i] % 2]++;
    }
    /* 3:1 */
    ck_assert_int_eq(sent[0], 150);
    ck_assert_int_eq(sent[1], 50);
    client_free(h.c);
}
END_TEST

START_TEST(deadlines)
{
    struct client_config cfg = base_cfg();
    cfg.requests_per_minute = 1;
    cfg.request_timeout_us = 5 * US_PER_S;
    struct h h;
    h_init(&h, &cfg, one_class, 1);
    client_submit(h.c, req(&h, 0, 0, 0, 1, 1), 0);
    client_submit(h.c, req(&h, 1, 0, 1000, 1, 1), 1000);
    int ids[4];
    ck_assert_int_eq(poll_ids(&h, 1000, ids, 4), 1);
    ck_assert_int_eq(client_next_wakeup(h.c), 5 * US_PER_S + 1000);
    ck_assert_int_eq(poll_ids(&h, 5 * US_PER_S + 999, ids, 4), 0);
    ck_assert_int_eq(h.r[1].ends, 0);
    ck_assert_int_eq(poll_ids(&h, 5 * US_PER_S + 1000, ids, 4), 0);
    ck_assert_int_eq(h.r[1].end, CLIENT_TIMED_OUT);
    ck_assert_int_eq(h.r[1].end_us, 5 * US_PER_S + 1000);
    /* in flight past the deadline: the engine aborts it and reports status 0 */
    client_on_response(h.c, &h.r[0].cr, 5 * US_PER_S + 1000, 0, NULL, -1, -1);
    ck_assert_int_eq(h.r[0].end, CLIENT_TIMED_OUT);
    ck_assert_int_eq(h.r[0].cr.reason, CLIENT_REASON_DEADLINE);
    client_free(h.c);
    /* a class's own timeout wins */
    struct client_class cl = {.priority = 0, .weight = 1, .timeout_us = US_PER_S};
    h_init(&h, &cfg, &cl, 1);
    client_submit(h.c, req(&h, 0, 0, 0, 1, 1), 0);
    ck_assert_int_eq(h.r[0].cr.deadline_us, US_PER_S);
    client_free(h.c);
}
END_TEST

START_TEST(head_of_line)
{
    struct client_config cfg = base_cfg();
    cfg.tokens_per_minute = 1000;
    cfg.request_timeout_us = 0;
    int ids[4];
    struct h h;
    for (int skip = 0; skip < 2; skip++) {
        cfg.head_of_line = skip ? HOL_SKIP : HOL_BLOCK;
        h_init(&h, &cfg, one_class, 1);
        client_submit(h.c, req(&h, 0, 0, 0, 900, 0), 0);
        ck_assert_int_eq(poll_ids(&h, 0, ids, 4), 1);
        client_submit(h.c, req(&h, 1, 0, 0, 800, 0), 0); /* needs 700 more: 42 s */
        client_submit(h.c, req(&h, 2, 0, 0, 50, 0), 0);  /* fits now */
        if (!skip) {
            /* BLOCK: the small one waits behind the large one */
            ck_assert_int_eq(poll_ids(&h, 0, ids, 4), 0);
            ck_assert_int_eq(client_next_wakeup(h.c), 42 * US_PER_S);
            ck_assert_int_eq(poll_ids(&h, 42 * US_PER_S, ids, 4), 1);
            ck_assert_int_eq(ids[0], 1);
            /* then the small one needs 50 from a level of 0: 3 s */
            ck_assert_int_eq(client_next_wakeup(h.c), 45 * US_PER_S);
        } else {
            /* SKIP: the small one passes; the large one waits 3 s longer */
            ck_assert_int_eq(poll_ids(&h, 0, ids, 4), 1);
            ck_assert_int_eq(ids[0], 2);
            ck_assert_int_eq(client_next_wakeup(h.c), 45 * US_PER_S);
            ck_assert_int_eq(poll_ids(&h, 45 * US_PER_S - 1, ids, 4), 0);
            ck_assert_int_eq(poll_ids(&h, 45 * US_PER_S, ids, 4), 1);
            ck_assert_int_eq(ids[0], 1);
        }
        client_free(h.c);
    }
}
END_TEST

/* BLOCK under aging: a small batch request that rises to the head is not
 * left waiting for the large interactive one's tokens. */
START_TEST(block_aging_promotion)
{
    struct client_config cfg = base_cfg();
    cfg.tokens_per_minute = 1000;
    cfg.request_timeout_us = 0;
    cfg.priority = PRIORITY_AGING;
    cfg.aging_us = US_PER_S;
    const struct client_class cl[2] = {{.priority = 0, .weight = 1}, {.priority = 2, .weight = 1}};
    struct h h;
    h_init(&h, &cfg, cl, 2);
    int ids[4];
    client_submit(h.c, req(&h, 0, 0, 0, 900, 0), 0);
    ck_assert_int_eq(poll_ids(&h, 0, ids, 4), 1);    /* 100 tokens left */
    client_submit(h.c, req(&h, 1, 1, 0, 50, 0), 0);  /* batch, small, older */
    client_submit(h.c, req(&h, 2, 0, 0, 800, 0), 0); /* interactive, large: head until 42 s */
    ck_assert_int_eq(poll_ids(&h, 0, ids, 4), 0);
    ck_assert_int_eq(client_next_wakeup(h.c), US_PER_S); /* batch rises to level 1 */
    ck_assert_int_eq(poll_ids(&h, US_PER_S, ids, 4), 0);
    ck_assert_int_eq(client_next_wakeup(h.c), 2 * US_PER_S); /* level 0: ties, and is older */
    ck_assert_int_eq(poll_ids(&h, 2 * US_PER_S, ids, 4), 1);
    ck_assert_int_eq(ids[0], 1);
    client_free(h.c);
}
END_TEST

/* SKIP looks a bounded distance past the head (64 requests): documented limit. */
START_TEST(skip_scan_is_bounded)
{
    struct client_config cfg = base_cfg();
    cfg.tokens_per_minute = 1000;
    cfg.request_timeout_us = 0;
    cfg.queue_capacity = 0;
    cfg.head_of_line = HOL_SKIP;
    int ids[4];
    struct h h;
    for (int deep = 0; deep < 2; deep++) {
        int n_large = deep ? 100 : 10;
        h_init(&h, &cfg, one_class, 1);
        client_submit(h.c, req(&h, 0, 0, 0, 900, 0), 0);
        poll_ids(&h, 0, ids, 4);
        for (int i = 1; i <= n_large; i++)
            client_submit(h.c, req(&h, i, 0, 0, 800, 0), 0);
        client_submit(h.c, req(&h, 200, 0, 0, 50, 0), 0);
        ck_assert_int_eq(poll_ids(&h, 0, ids, 4), deep ? 0 : 1);
        client_free(h.c);
    }
    /* a request that can never fit is rejected even when producers block */
    cfg.queue_capacity = 1;
    cfg.queue_full = QUEUE_FULL_BLOCK;
    h_init(&h, &cfg, one_class, 1);
    client_submit(h.c, req(&h, 0, 0, 0, 10, 0), 0);
    ck_assert_int_eq(client_submit(h.c, req(&h, 1, 0, 0, 5000, 0), 0), 0);
    ck_assert_int_eq(h.r[1].end, CLIENT_REJECTED);
    ck_assert_int_eq(client_submit(h.c, req(&h, 2, 0, 0, 10, 0), 0), CLIENT_BLOCKED);
    client_free(h.c);
}
END_TEST

START_TEST(retry_after_never_early)
{
    struct client_config cfg = base_cfg();
    cfg.retry.base_delay_us = 100 * US_PER_MS;
    struct h h;
    h_init(&h, &cfg, one_class, 1);
    client_submit(h.c, req(&h, 0, 0, 0, 1, 1), 0);
    int ids[4];
    poll_ids(&h, 0, ids, 4);
    /* a real header: "Retry-After: 3" */
    struct rlinfo info;
    const char *n = "Retry-After", *v = "3";
    ratehdr_parse(&n, &v, 1, 0, &info);
    ck_assert_int_eq(client_on_response(h.c, &h.r[0].cr, 777, 429, &info, -1, -1), CLIENT_RETRY);
    ck_assert_int_eq(h.r[0].cr.retry_at_us, 777 + 3 * US_PER_S);
    ck_assert_int_eq(client_next_wakeup(h.c), 777 + 3 * US_PER_S);
    ck_assert_int_eq(poll_ids(&h, 777 + 3 * US_PER_S - 1, ids, 4), 0);
    ck_assert_int_eq(poll_ids(&h, 777 + 3 * US_PER_S, ids, 4), 1);
    ck_assert_int_eq(h.r[0].cr.attempts, 2);
    /* a backoff longer than Retry-After wins: attempt 2 -> 200 ms > 1 µs */
    info.retry_after_us = 1;
    client_on_response(h.c, &h.r[0].cr, 4 * US_PER_S, 503, &info, -1, -1);
    ck_assert_int_eq(h.r[0].cr.retry_at_us, 4 * US_PER_S + 200 * US_PER_MS);
    /* honor_retry_after off: only the backoff */
    poll_ids(&h, 5 * US_PER_S, ids, 4);
    client_free(h.c);
    cfg.retry.honor_retry_after = false;
    h_init(&h, &cfg, one_class, 1);
    client_submit(h.c, req(&h, 0, 0, 0, 1, 1), 0);
    poll_ids(&h, 0, ids, 4);
    info.retry_after_us = 10 * US_PER_S;
    client_on_response(h.c, &h.r[0].cr, 0, 429, &info, -1, -1);
    ck_assert_int_eq(h.r[0].cr.retry_at_us, 100 * US_PER_MS);
    client_free(h.c);
}
END_TEST

START_TEST(classification_in_client)
{
    struct client_config cfg = base_cfg();
    struct h h;
    h_init(&h, &cfg, one_class, 1);
    const int fail[] = {400, 401, 403, 404, 422};
    int ids[8];
    struct rlinfo info;
    rlinfo_clear(&info);
    for (int i = 0; i < 5; i++) {
        client_submit(h.c, req(&h, i, 0, 1, 1, 1), 1);
        poll_ids(&h, 1, ids, 8);
        ck_assert_int_eq(client_on_response(h.c, &h.r[i].cr, 1, fail[i], &info, -1, -1),
                         CLIENT_DONE);
        ck_assert_int_eq(h.r[i].end, CLIENT_FAILED);
        ck_assert_int_eq(h.r[i].cr.attempts, 1);
        ck_assert_int_eq(h.r[i].cr.last_status, fail[i]);
        ck_assert_int_eq(h.r[i].cr.reason, CLIENT_REASON_NOT_RETRYABLE);
    }
    const int retry[] = {429, 500, 502, 503, 0};
    for (int i = 0; i < 5; i++) {
        client_submit(h.c, req(&h, 10 + i, 0, 1, 1, 1), 1);
        poll_ids(&h, 1, ids, 8);
        ck_assert_int_eq(client_on_response(h.c, &h.r[10 + i].cr, 1, retry[i], &info, -1, -1),
                         CLIENT_RETRY);
    }
    /* x-should-retry overrides */
    info.should_retry = 0;
    client_submit(h.c, req(&h, 20, 0, 1, 1, 1), 1);
    poll_ids(&h, 1, ids, 8);
    ck_assert_int_eq(client_on_response(h.c, &h.r[20].cr, 2, 503, &info, -1, -1), CLIENT_DONE);
    ck_assert_int_eq(h.r[20].end, CLIENT_FAILED);
    info.should_retry = 1;
    client_submit(h.c, req(&h, 21, 0, 1, 1, 1), 2);
    poll_ids(&h, 2, ids, 8);
    ck_assert_int_eq(client_on_response(h.c, &h.r[21].cr, 2, 400, &info, -1, -1), CLIENT_RETRY);
    client_free(h.c);
}
END_TEST

START_TEST(attempts_and_budget)
{
    struct client_config cfg = base_cfg();
    cfg.retry.max_attempts = 3;
    cfg.request_timeout_us = 0;
    struct h h;
    h_init(&h, &cfg, one_class, 1);
    client_submit(h.c, req(&h, 0, 0, 0, 1, 1), 0);
    int ids[4];
    int64_t t = 0;
    for (int a = 1; a <= 3; a++) {
        ck_assert_int_eq(poll_ids(&h, t, ids, 4), 1);
        int rc = client_on_response(h.c, &h.r[0].cr, t, 500, NULL, -1, -1);
        ck_assert_int_eq(rc, a < 3 ? CLIENT_RETRY : CLIENT_DONE);
        t = client_next_wakeup(h.c);
    }
    ck_assert_int_eq(h.r[0].end, CLIENT_FAILED);
    ck_assert_int_eq(h.r[0].cr.reason, CLIENT_REASON_ATTEMPTS);
    ck_assert_int_eq(h.r[0].cr.last_status, 500);
    client_free(h.c);
    /* no budget: ratio 0 and no floor */
    cfg.retry.budget_ratio = 0;
    cfg.retry.budget_min_retries = 0;
    h_init(&h, &cfg, one_class, 1);
    client_submit(h.c, req(&h, 0, 0, 0, 1, 1), 0);
    poll_ids(&h, 0, ids, 4);
    ck_assert_int_eq(client_on_response(h.c, &h.r[0].cr, 0, 429, NULL, -1, -1), CLIENT_DONE);
    ck_assert_int_eq(h.r[0].cr.reason, CLIENT_REASON_BUDGET);
    struct client_stats st;
    client_stats(h.c, -1, &st);
    ck_assert_int_eq(st.budget_denied, 1);
    ck_assert_int_eq(st.rate_limited, 1);
    client_free(h.c);
    /* a 429 storm: 100 requests all 429, budget 10 % + 2 */
    cfg.retry.budget_ratio = 0.1;
    cfg.retry.budget_min_retries = 2;
    cfg.queue_capacity = 0;
    h_init(&h, &cfg, one_class, 1);
    for (int i = 0; i < 100; i++)
        client_submit(h.c, req(&h, i, 0, 0, 1, 1), 0);
    struct client_req *out[128];
    int n = client_poll(h.c, 0, out, 128);
    ck_assert_int_eq(n, 100);
    int retried = 0;
    for (int i = 0; i < n; i++)
        retried += client_on_response(h.c, out[i], 1, 429, NULL, -1, -1) == CLIENT_RETRY;
    ck_assert_int_eq(retried, 12);
    client_free(h.c);
}
END_TEST

START_TEST(retry_past_deadline)
{
    struct client_config cfg = base_cfg();
    cfg.request_timeout_us = 10 * US_PER_S;
    struct h h;
    h_init(&h, &cfg, one_class, 1);
    client_submit(h.c, req(&h, 0, 0, 0, 1, 1), 0);
    int ids[4];
    poll_ids(&h, 0, ids, 4);
    struct rlinfo info;
    rlinfo_clear(&info);
    info.retry_after_us = 10 * US_PER_S;
    ck_assert_int_eq(client_on_response(h.c, &h.r[0].cr, 1, 429, &info, -1, -1), CLIENT_DONE);
    ck_assert_int_eq(h.r[0].end, CLIENT_TIMED_OUT);
    ck_assert_int_eq(h.r[0].end_us, 1);
    client_free(h.c);
}
END_TEST

START_TEST(reconcile_usage)
{
    struct client_config cfg = base_cfg();
    cfg.tokens_per_minute = 1000;
    struct h h;
    h_init(&h, &cfg, one_class, 1);
    const struct limiter *l = client_limiter(h.c);
    client_submit(h.c, req(&h, 0, 0, 0, 100, 800), 0);
    int ids[4];
    poll_ids(&h, 0, ids, 4);
    ck_assert_int_eq(limiter_bucket_level(&l->tpm, 0), 100);
    client_on_response(h.c, &h.r[0].cr, 0, 200, NULL, 100, 50);
    ck_assert_int_eq(limiter_bucket_level(&l->tpm, 0), 850);
    /* overrun: PROMPT_ONLY charges 100, usage 600 -> debt */
    client_free(h.c);
    cfg.estimate = ESTIMATE_PROMPT_ONLY;
    h_init(&h, &cfg, one_class, 1);
    l = client_limiter(h.c);
    client_submit(h.c, req(&h, 0, 0, 0, 100, 900), 0);
    client_submit(h.c, req(&h, 1, 0, 0, 100, 900), 0);
    poll_ids(&h, 0, ids, 1);
    client_on_response(h.c, &h.r[0].cr, 0, 200, NULL, 100, 1000);
    ck_assert_int_eq(limiter_bucket_level(&l->tpm, 0), -100);
    ck_assert_int_eq(poll_ids(&h, 0, ids, 4), 0);
    ck_assert_int_eq(client_next_wakeup(h.c), 200 * 60000); /* 200 tokens at 1000/min */
    /* a 429 without usage is refunded */
    ck_assert_int_eq(poll_ids(&h, 200 * 60000, ids, 4), 1);
    client_on_response(h.c, &h.r[1].cr, 200 * 60000, 429, NULL, -1, -1);
    ck_assert_int_eq(limiter_bucket_level(&l->tpm, 200 * 60000), 100);
    client_free(h.c);
}
END_TEST

START_TEST(cancel_all_accounts)
{
    struct client_config cfg = base_cfg();
    cfg.max_concurrent = 2;
    cfg.queue_capacity = 0;
    struct h h;
    h_init(&h, &cfg, one_class, 1);
    for (int i = 0; i < 6; i++)
        client_submit(h.c, req(&h, i, 0, 0, 1, 1), 0);
    int ids[8];
    poll_ids(&h, 0, ids, 8);
    client_on_response(h.c, &h.r[0].cr, 1, 429, NULL, -1, -1); /* backoff */
    poll_ids(&h, 1, ids, 8);
    client_cancel(h.c, &h.r[5].cr, 2);
    client_cancel_all(h.c, 3);
    ck_assert_int_eq(h.n_terminal, 6);
    for (int i = 0; i < 6; i++) {
        ck_assert_int_eq(h.r[i].ends, 1);
        ck_assert_int_eq(h.r[i].end, CLIENT_CANCELLED);
    }
    struct client_stats st;
    client_stats(h.c, -1, &st);
    ck_assert_int_eq(st.terminal[CLIENT_CANCELLED - CLIENT_SUCCEEDED], 6);
    ck_assert_int_eq(st.depth + st.backoff + st.in_flight, 0);
    ck_assert_int_eq(client_limiter(h.c)->in_flight, 0);
    client_free(h.c);
}
END_TEST

START_TEST(adaptive)
{
    struct client_config cfg = base_cfg();
    cfg.adaptive = true;
    cfg.requests_per_minute = 600;
    cfg.max_concurrent = 8;
    cfg.queue_capacity = 0;
    cfg.request_timeout_us = 0;
    struct h h;
    h_init(&h, &cfg, one_class, 1);
    for (int i = 0; i < 20; i++)
        client_submit(h.c, req(&h, i, 0, 0, 1, 1), 0);
    int ids[32];
    ck_assert_int_eq(poll_ids(&h, 0, ids, 32), 8);
    /* the server says: no requests left, full again in 60 s (limit 60) */
    struct rlinfo info;
    rlinfo_clear(&info);
    info.limit_requests = 60;
    info.remaining_requests = 0;
    info.reset_requests_us = 60 * US_PER_S;
    client_on_response(h.c, &h.r[0].cr, 10, 200, &info, -1, -1);
    ck_assert_int_eq(poll_ids(&h, 10, ids, 32), 0);
    ck_assert_int_eq(client_next_wakeup(h.c), 10 + US_PER_S); /* one request per second */
    /* AIMD: a 429 halves the window (8 -> 4) once per round trip */
    client_on_response(h.c, &h.r[1].cr, 20, 429, NULL, -1, -1);
    ck_assert_int_eq(client_concurrency(h.c), 4);
    client_on_response(h.c, &h.r[2].cr, 20, 429, NULL, -1, -1); /* same round trip */
    ck_assert_int_eq(client_concurrency(h.c), 4);
    /* 5 still in flight > 4: nothing goes until they drain below 4 */
    ck_assert_int_eq(poll_ids(&h, 2 * US_PER_S, ids, 32), 0);
    for (int i = 3; i < 8; i++)
        client_on_response(h.c, &h.r[i].cr, 2 * US_PER_S, 200, NULL, -1, -1);
    /* 5 successes: +1 after 4 -> window 5 */
    ck_assert_int_eq(client_concurrency(h.c), 5);
    ck_assert_int_le(poll_ids(&h, 2 * US_PER_S, ids, 32), 5);
    client_free(h.c);
    /* shrink: the server has 3 requests left where we think we have ~590 */
    cfg.max_concurrent = 0;
    h_init(&h, &cfg, one_class, 1);
    client_submit(h.c, req(&h, 0, 0, 0, 1, 1), 0);
    poll_ids(&h, 0, ids, 32);
    for (int i = 1; i < 20; i++)
        client_submit(h.c, req(&h, i, 0, 0, 1, 1), 0);
    rlinfo_clear(&info);
    info.remaining_requests = 3;
    info.reset_requests_us = 60 * US_PER_S;
    client_on_response(h.c, &h.r[0].cr, 0, 200, &info, -1, -1);
    ck_assert_int_eq(poll_ids(&h, 0, ids, 32), 3);
    /* then our own rate (600/min: one per 100 ms) takes over again */
    ck_assert_int_eq(client_next_wakeup(h.c), 100 * US_PER_MS);
    ck_assert_int_eq(poll_ids(&h, US_PER_S, ids, 32), 10);
    client_free(h.c);
    cfg.max_concurrent = 8;
    /* off by default: the same feedback changes nothing */
    cfg.adaptive = false;
    h_init(&h, &cfg, one_class, 1);
    for (int i = 0; i < 20; i++)
        client_submit(h.c, req(&h, i, 0, 0, 1, 1), 0);
    poll_ids(&h, 0, ids, 32);
    client_on_response(h.c, &h.r[0].cr, 10, 429, &info, -1, -1);
    ck_assert_int_eq(client_concurrency(h.c), 8);
    ck_assert_int_eq(poll_ids(&h, 10, ids, 32), 1);
    client_free(h.c);
}
END_TEST

START_TEST(bad_config)
{
    struct client_config cfg = base_cfg();
    struct rng rng;
    rng_seed(&rng, 1);
    struct client_callbacks cb = {on_terminal, NULL, NULL};
    int err = 0;
    cfg.requests_per_minute = -1;
    ck_assert_ptr_null(client_new(&cfg, one_class, 1, &rng, &cb, 0, &err));
    ck_assert_int_eq(err, -EINVAL);
    cfg = base_cfg();
    ck_assert_ptr_null(client_new(&cfg, one_class, 0, &rng, &cb, 0, &err));
    struct client_callbacks nocb = {0};
    ck_assert_ptr_null(client_new(&cfg, one_class, 1, &rng, &nocb, 0, &err));
    client_free(NULL);
    struct scenario sc;
    scenario_defaults(&sc);
    client *c = client_new_from_scenario(&sc, &rng, &cb, 0, &err);
    ck_assert_ptr_nonnull(c);
    client_free(c);
    ck_assert_str_eq(client_state_name(CLIENT_TIMED_OUT), "timed_out");
    ck_assert_str_eq(client_reason_name(CLIENT_REASON_TOO_LARGE), "too_large");
}
END_TEST

/* A day at 7 RPM through the whole client, driven only by next_wakeup: exactly
 * 7 × 1440 sends after the burst, and no wake-up that finds nothing to do. */
START_TEST(day_without_drift)
{
    struct client_config cfg = base_cfg();
    cfg.requests_per_minute = 7;
    cfg.request_timeout_us = 0;
    cfg.queue_capacity = 0;
    struct h h;
    h_init(&h, &cfg, one_class, 1);
    for (int i = 0; i < 16; i++) /* a standing backlog of 16, refilled as they end */
        client_submit(h.c, req(&h, i, 0, 0, 1, 1), 0);
    int64_t now = 0, sends = 0, idle = 0;
    struct client_req *out[16];
    for (;;) {
        /* the engine's turn: poll until nothing more goes at this instant */
        int n, total = 0;
        do {
            n = client_poll(h.c, now, out, 16);
            total += n;
            for (int i = 0; i < n; i++) {
                sends++;
                client_on_response(h.c, out[i], now, 200, NULL, 1, 1);
                struct treq *r = (struct treq *)out[i];
                client_req_init(&r->cr, 0, now, 1, 1);
                client_submit(h.c, &r->cr, now);
            }
        } while (n > 0);
        if (total == 0 && now > 0)
            idle++; /* a timer wake-up that found nothing to do */
        int64_t t = client_next_wakeup(h.c);
        if (t > US_PER_DAY)
            break;
        FAST_ASSERT(t > now, "wake-up not in the future after a full turn");
        now = t;
    }
    ck_assert_int_eq(sends, 7 + 7 * 24 * 60);
    ck_assert_int_eq(idle, 0);
    client_free(h.c);
}
END_TEST

/* ---- property: random workloads against a random fake server ------------- */

static int64_t min3(int64_t a, int64_t b, int64_t c)
{
    int64_t m = a < b ? a : b;
    return m < c ? m : c;
}

struct prop_state {
    struct h h;
    int blocked[MAXREQ];
    int n_blocked;
    bool room;
};

static void prop_event(void *ctx, struct client_req *cr, enum client_event ev, int64_t now)
{
    struct prop_state *p = ctx;
    (void)cr;
    (void)now;
    p->h.ev[ev]++;
    if (ev == CLIENT_EV_ROOM)
        p->room = true;
}

static void prop_terminal(void *ctx, struct client_req *cr, enum client_state s, int status,
                          int64_t now)
{
    struct prop_state *p = ctx;
    on_terminal(&p->h, cr, s, status, now);
}

static void run_seed(uint64_t seed)
{
    static struct prop_state P;
    struct prop_state *p = &P;
    memset(p, 0, sizeof *p);
    struct h *h = &p->h;
    struct rng wl;
    rng_seed(&wl, seed);
    rng_seed(&h->rng, seed ^ 0x5eed);
    struct client_config cfg = base_cfg();
    cfg.requests_per_minute = rng_below(&wl, 4) ? 30 + (int64_t)rng_below(&wl, 600) : 0;
    cfg.tokens_per_minute = rng_below(&wl, 2) ? 20000 + (int64_t)rng_below(&wl, 200000) : 0;
    cfg.tokens_per_day = rng_below(&wl, 4) ? 0 : 2000000;
    cfg.max_concurrent = rng_below(&wl, 3) ? 1 + (int64_t)rng_below(&wl, 16) : 0;
    cfg.queue_capacity = rng_below(&wl, 2) ? 5 + (int64_t)rng_below(&wl, 100) : 0;
    cfg.queue_full = rng_below(&wl, 2) ? QUEUE_FULL_BLOCK : QUEUE_FULL_REJECT;
    cfg.priority = (enum priority_policy)rng_below(&wl, 4);
    cfg.aging_us = 1 + (int64_t)rng_below(&wl, 5 * US_PER_S);
    cfg.head_of_line = rng_below(&wl, 2) ? HOL_SKIP : HOL_BLOCK;
    cfg.estimate = rng_below(&wl, 2) ? ESTIMATE_PROMPT_ONLY : ESTIMATE_PROMPT_PLUS_MAX;
    cfg.request_timeout_us = rng_below(&wl, 2) ? 0 : 5 * US_PER_S + rng_below(&wl, 60 * US_PER_S);
    cfg.adaptive = rng_below(&wl, 3) == 0;
    cfg.retry.max_attempts = 1 + (int)rng_below(&wl, 6);
    cfg.retry.jitter = (enum jitter_kind)rng_below(&wl, 4);
    cfg.retry.base_delay_us = 1000 + (int64_t)rng_below(&wl, US_PER_S);
    cfg.retry.max_delay_us = 10 * US_PER_S;
    struct client_class cl[4];
    int n_cl = 1 + (int)rng_below(&wl, 4);
    for (int i = 0; i < n_cl; i++)
        cl[i] = (struct client_class){.priority = (int)rng_below(&wl, 10),
                                      .weight = 1 + (int)rng_below(&wl, 5),
                                      .timeout_us = 0};
    struct client_callbacks cb = {prop_terminal, prop_event, p};
    int err;
    h->c = client_new(&cfg, cl, n_cl, &h->rng, &cb, 0, &err);
    FAST_ASSERT(h->c, "client_new");

    int n_req = 50 + (int)rng_below(&wl, 250);
    double gap = 1000 + rng_exp(&wl, 300000);
    int64_t arr = 0;
    for (int i = 0; i < n_req; i++) {
        arr += (int64_t)rng_exp(&wl, gap);
        client_req_init(&h->r[i].cr, (int)rng_below(&wl, (uint64_t)n_cl), arr,
                        1 + (int64_t)rng_below(&wl, 4000), 1 + (int64_t)rng_below(&wl, 2000));
        h->r[i].id = i;
        h->r[i].earliest_us = 0;
        h->r[i].resp_at_us = TIME_NEVER;
    }
    static int64_t sends[8 * MAXREQ];
    /* token events seen from outside: +estimate at each send, -refund at each
     * answer (usage below the estimate, or a 429 without usage) */
    static int64_t tok_t[16 * MAXREQ], tok_c[16 * MAXREQ];
    int n_tok = 0;
    int n_sends = 0, next = 0, in_flight = 0;
    int64_t now = 0;
    int sent_by_class[4] = {0}, arrived_by_class[4] = {0};
    for (int guard = 0;; guard++) {
        FAST_ASSERT(guard < 1000000, "seed %llu: no progress", (unsigned long long)seed);
        int64_t t_arr = next < n_req ? h->r[next].cr.arrival_us : TIME_NEVER;
        int64_t t_resp = TIME_NEVER;
        for (int i = 0; i < next; i++)
            if (h->r[i].resp_at_us < t_resp)
                t_resp = h->r[i].resp_at_us;
        int64_t t_wake = client_next_wakeup(h->c);
        int64_t t = min3(t_arr, t_resp, t_wake);
        if (p->room && p->n_blocked)
            t = now;
        if (t == TIME_NEVER)
            break;
        if (t < now)
            t = now; /* "poll again now" */
        now = t;
        /* answers due now */
        for (int i = 0; i < next; i++) {
            struct treq *r = &h->r[i];
            if (r->resp_at_us != now)
                continue;
            r->resp_at_us = TIME_NEVER;
            in_flight--;
            uint64_t u = rng_below(&wl, 100);
            int status = u < 75 ? 200 : u < 88 ? 429 : u < 94 ? 503 : u < 97 ? 0 : 400;
            struct rlinfo info;
            rlinfo_clear(&info);
            if (status == 429 && rng_below(&wl, 2))
                info.retry_after_us = (int64_t)rng_below(&wl, 3 * US_PER_S);
            if (rng_below(&wl, 4) == 0) {
                info.limit_requests = 100;
                info.remaining_requests = (int64_t)rng_below(&wl, 3);
                info.reset_requests_us = (int64_t)rng_below(&wl, 2 * US_PER_S);
            }
            /* usage: within the estimate when it reserves prompt + max_tokens;
             * possibly above it (debt) when it reserves the prompt only */
            int64_t used = -1;
            if (status == 200)
                used = cfg.estimate == ESTIMATE_PROMPT_PLUS_MAX
                           ? (int64_t)rng_below(&wl, (uint64_t)r->cr.cost_tokens + 1)
                           : (int64_t)rng_below(&wl, 3000);
            int64_t refund = used >= 0       ? r->cr.cost_tokens - used
                             : status == 429 ? r->cr.cost_tokens
                                             : 0;
            tok_t[n_tok] = now;
            tok_c[n_tok++] = -refund;
            int rc = client_on_response(h->c, &r->cr, now, status, &info, used, used >= 0 ? 0 : -1);
            if (rc == CLIENT_RETRY) {
                int64_t ra = info.retry_after_us >= 0 && cfg.retry.honor_retry_after
                                 ? now + info.retry_after_us
                                 : now;
                r->earliest_us = ra;
                FAST_ASSERT(r->cr.retry_at_us >= ra, "retry scheduled before Retry-After");
            }
        }
        /* arrivals due now, blocked producers first */
        if (p->room) {
            p->room = false;
            int k = 0;
            for (; k < p->n_blocked; k++)
                if (client_submit(h->c, &h->r[p->blocked[k]].cr, now) == CLIENT_BLOCKED)
                    break;
            memmove(p->blocked, p->blocked + k, (size_t)(p->n_blocked - k) * sizeof(int));
            p->n_blocked -= k;
        }
        while (next < n_req && h->r[next].cr.arrival_us == now) {
            arrived_by_class[h->r[next].cr.class_idx]++;
            if (p->n_blocked || client_submit(h->c, &h->r[next].cr, now) == CLIENT_BLOCKED)
                p->blocked[p->n_blocked++] = next;
            next++;
        }
        struct client_req *out[16];
        int n;
        do {
            n = client_poll(h->c, now, out, 16);
            for (int i = 0; i < n; i++) {
                struct treq *r = (struct treq *)out[i];
                FAST_ASSERT(now >= r->earliest_us, "seed %llu: retry before Retry-After",
                            (unsigned long long)seed);
                sends[n_sends++] = now;
                tok_t[n_tok] = now;
                tok_c[n_tok++] = r->cr.cost_tokens;
                sent_by_class[r->cr.class_idx]++;
                in_flight++;
                FAST_ASSERT(!cfg.max_concurrent || in_flight <= cfg.max_concurrent,
                            "pool over its size");
                r->resp_at_us = now + 1 + (int64_t)rng_below(&wl, 2 * US_PER_S);
                if (r->cr.deadline_us != TIME_NEVER && r->resp_at_us > r->cr.deadline_us)
                    r->resp_at_us = r->cr.deadline_us; /* the engine aborts at the deadline */
            }
        } while (n == 16);
    }
    FAST_ASSERT(p->n_blocked == 0, "seed %llu: producers left blocked", (unsigned long long)seed);
    client_cancel_all(h->c, now);
    /* every request ended exactly once; accounting adds up */
    struct client_stats st;
    client_stats(h->c, -1, &st);
    int64_t sum = 0;
    for (int j = 0; j < CLIENT_N_TERMINAL; j++)
        sum += st.terminal[j];
    FAST_ASSERT(st.submitted == n_req && sum == n_req && h->n_terminal == n_req,
                "seed %llu: submitted %lld terminal %lld of %d", (unsigned long long)seed,
                (long long)st.submitted, (long long)sum, n_req);
    FAST_ASSERT(st.terminal[CLIENT_CANCELLED - CLIENT_SUCCEEDED] == 0,
                "seed %llu: work left at the end", (unsigned long long)seed);
    for (int i = 0; i < n_req; i++)
        FAST_ASSERT(h->r[i].ends == 1, "seed %llu: request %d ended %d times",
                    (unsigned long long)seed, i, h->r[i].ends);
    FAST_ASSERT(st.sent == n_sends, "sent count");
    /* TPM and TPD, independently: with no usage above the estimate, the net
     * tokens (charges minus refunds) of any window of W stay within
     * limit + limit × W / period */
    const int64_t lims[2] = {cfg.tokens_per_minute, cfg.tokens_per_day};
    const int64_t pers[2] = {US_PER_MIN, US_PER_DAY};
    for (int d = 0; d < 2 && cfg.estimate == ESTIMATE_PROMPT_PLUS_MAX; d++) {
        if (!lims[d])
            continue;
        const int64_t Ws[] = {US_PER_S, 10 * US_PER_S, US_PER_MIN, 5 * US_PER_MIN};
        for (size_t k = 0; k < 4; k++) {
            __int128 net = 0;
            int i = 0;
            for (int j = 0; j < n_tok; j++) {
                net += tok_c[j];
                while (tok_t[i] < tok_t[j] - Ws[k])
                    net -= tok_c[i++];
                FAST_ASSERT(net * pers[d] <=
                                (__int128)lims[d] * pers[d] + (__int128)lims[d] * Ws[k],
                            "seed %llu: token window over the limit", (unsigned long long)seed);
            }
        }
    }
    /* RPM, independently: any window of W holds at most rpm + rpm × W / 60 s sends */
    if (cfg.requests_per_minute) {
        const int64_t Ws[] = {US_PER_S, 10 * US_PER_S, US_PER_MIN, 5 * US_PER_MIN};
        for (size_t k = 0; k < 4; k++) {
            int i = 0;
            for (int j = 0; j < n_sends; j++) {
                while (sends[i] < sends[j] - Ws[k])
                    i++;
                __int128 cnt = j - i + 1;
                FAST_ASSERT(cnt * US_PER_MIN <= (__int128)cfg.requests_per_minute * US_PER_MIN +
                                                    (__int128)cfg.requests_per_minute * Ws[k],
                            "seed %llu: RPM window over the limit", (unsigned long long)seed);
            }
        }
    }
    /* No class starves. STRICT may, by design, while higher classes are busy; so may AGING
     * when a class's requests time out before they can age past a fresh request of the
     * best class (one level per aging_us): an overloaded client then serves only that. */
    int best = cl[0].priority;
    for (int i = 1; i < n_cl; i++)
        best = cl[i].priority < best ? cl[i].priority : best;
    for (int i = 0; i < n_cl; i++) {
        bool may_starve = cfg.priority == PRIORITY_STRICT ||
                          (cfg.priority == PRIORITY_AGING && cfg.request_timeout_us > 0 &&
                           cfg.request_timeout_us <= (cl[i].priority - best) * cfg.aging_us);
        FAST_ASSERT(may_starve || arrived_by_class[i] < 10 || sent_by_class[i] > 0,
                    "seed %llu: class %d starved", (unsigned long long)seed, i);
    }
    client_free(h->c);
}

START_TEST(property_random_workloads)
{
    for (uint64_t seed = 1; seed <= 1000; seed++)
        run_seed(seed);
}
END_TEST

/* ---- where the admission state lives ------------------------------------- */

static struct h *h_pair_init(struct h *h, const struct client_config *cfg)
{
    h_init(h, cfg, one_class, 1);
    return h;
}

START_TEST(shared_limiter_across_clients)
{
    /* Two clients, no limits of their own, sharing one limiter: 3 RPM (burst 3), 2 slots. */
    struct client_config cfg = base_cfg();
    cfg.request_timeout_us = 0;
    static struct h a, b;
    h_pair_init(&a, &cfg);
    h_pair_init(&b, &cfg);
    struct limiter shared;
    ck_assert_int_eq(limiter_init(&shared, 3, 0, 0, 2, 0), 0);
    ck_assert_int_eq(client_share_limiter(a.c, &shared), 0);
    ck_assert_int_eq(client_share_limiter(b.c, &shared), 0);
    ck_assert_ptr_eq(client_limiter(a.c), &shared);
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(client_submit(a.c, req(&a, i, 0, 0, 1, 1), 0), 0);
        ck_assert_int_eq(client_submit(b.c, req(&b, i, 0, 0, 1, 1), 0), 0);
    }
    int ids[8];
    ck_assert_int_eq(poll_ids(&a, 0, ids, 8), 2); /* the pool's two slots */
    ck_assert_int_eq(poll_ids(&b, 0, ids, 8), 0); /* the pool is A's */
    ck_assert_int_eq(shared.in_flight, 2);
    ck_assert_int_eq(client_next_wakeup(b.c), TIME_NEVER);
    /* A's answer frees a shared slot: B learns it only through client_wake. */
    ck_assert_int_eq(client_on_response(a.c, &a.r[0].cr, 10, 200, NULL, -1, -1), CLIENT_DONE);
    client_wake(b.c, 10);
    ck_assert_int_eq(client_next_wakeup(b.c), 10);
    ck_assert_int_eq(poll_ids(&b, 10, ids, 8), 1);
    ck_assert_int_eq(ids[0], 0);
    /* Three admissions in all: the shared RPM bucket is empty for both. */
    ck_assert_int_eq(client_on_response(b.c, &b.r[0].cr, 20, 200, NULL, -1, -1), CLIENT_DONE);
    client_wake(a.c, 20);
    ck_assert_int_eq(poll_ids(&a, 20, ids, 8), 0);
    ck_assert_int_eq(poll_ids(&b, 20, ids, 8), 0);
    /* one request is back 20 s after the start (3 per minute), for whichever asks first */
    ck_assert_int_eq(client_next_wakeup(a.c), 20000000);
    ck_assert_int_eq(client_next_wakeup(b.c), 20000000);
    ck_assert_int_eq(poll_ids(&b, 20000000, ids, 8), 1);
    ck_assert_int_eq(poll_ids(&a, 20000000, ids, 8), 0);
    ck_assert_int_eq(shared.in_flight, 2); /* A's second and B's second: the pool is full */
    ck_assert_int_eq(client_next_wakeup(a.c), TIME_NEVER);
    /* the shared limiter may not change hands once a client took requests */
    struct limiter other;
    limiter_init(&other, 0, 0, 0, 0, 0);
    ck_assert_int_eq(client_share_limiter(a.c, &other), -EINVAL);
    client_cancel_all(a.c, 20000000);
    client_cancel_all(b.c, 20000000);
    ck_assert_int_eq(shared.in_flight, 0);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(a.r[i].ends + b.r[i].ends, 2);
    client_free(a.c);
    client_free(b.c);
}
END_TEST

/* A scripted backend: answers what the test says, records every call. */
struct fake_be {
    int answer;        /* what admit() returns */
    int64_t wait_us;   /* with LIMITER_WAIT */
    uint64_t next_ticket;
    int admits;
    int64_t last_cost;
    int dones;
    uint64_t done_ticket[16];
    int64_t done_charged[16], done_actual[16];
    int64_t max_fit;
};

static int fake_admit(void *ctx, int64_t now, int64_t cost, int64_t *wait, uint64_t *ticket)
{
    struct fake_be *f = ctx;
    (void)now;
    f->admits++;
    f->last_cost = cost;
    if (f->answer == LIMITER_OK)
        *ticket = ++f->next_ticket;
    if (f->answer == LIMITER_WAIT)
        *wait = f->wait_us;
    return f->answer;
}

static void fake_done(void *ctx, uint64_t ticket, int64_t now, int64_t charged, int64_t actual)
{
    struct fake_be *f = ctx;
    (void)now;
    ck_assert_int_lt(f->dones, 16);
    f->done_ticket[f->dones] = ticket;
    f->done_charged[f->dones] = charged;
    f->done_actual[f->dones] = actual;
    f->dones++;
}

static bool fake_fits(void *ctx, int64_t cost)
{
    return cost <= ((struct fake_be *)ctx)->max_fit;
}

START_TEST(backend_pending_answers)
{
    struct client_config cfg = base_cfg();
    cfg.request_timeout_us = 1000;
    cfg.retry.max_attempts = 1;
    static struct h h;
    h_init(&h, &cfg, one_class, 1);
    struct fake_be f = {.answer = CLIENT_PENDING, .max_fit = 100};
    struct client_backend be = {fake_admit, fake_done, fake_fits, &f};
    ck_assert_int_eq(client_set_backend(h.c, &be), 0);
    int ids[8];

    /* too large for the backend: rejected at submit, never asked */
    ck_assert_int_eq(client_submit(h.c, req(&h, 9, 0, 0, 101, 0), 0), 0);
    ck_assert_int_eq(h.r[9].end, CLIENT_REJECTED);
    ck_assert_int_eq(f.admits, 0);

    /* pending, then admitted: handed out at the next poll with the backend's ticket */
    ck_assert_int_eq(client_submit(h.c, req(&h, 0, 0, 0, 6, 4), 0), 0);
    ck_assert_int_eq(client_submit(h.c, req(&h, 1, 0, 0, 2, 0), 0), 0);
    ck_assert_int_eq(poll_ids(&h, 0, ids, 8), 0);
    ck_assert_int_eq(f.admits, 1);
    ck_assert_int_eq(f.last_cost, 10);
    ck_assert(client_admission_pending(h.c));
    ck_assert_int_eq(client_next_wakeup(h.c), 1000); /* only the queued deadlines */
    ck_assert_int_eq(poll_ids(&h, 5, ids, 8), 0);
    ck_assert_int_eq(f.admits, 1); /* nothing else asked while an answer is pending */
    client_admission_answer(h.c, 7, LIMITER_OK, 0, 42);
    ck_assert(!client_admission_pending(h.c));
    ck_assert_int_eq(client_next_wakeup(h.c), 7);
    ck_assert_int_eq(poll_ids(&h, 7, ids, 8), 1); /* r0 out; r1 asked, pending */
    ck_assert_int_eq(ids[0], 0);
    ck_assert_int_eq(h.r[0].cr.state, CLIENT_INFLIGHT);
    ck_assert_uint_eq(h.r[0].cr.ticket, 42);
    ck_assert(!h.r[0].cr.throttled); /* granted at the first ask: the round trip is no delay */
    ck_assert_int_eq(f.admits, 2);
    /* its answer: done() with the ticket, the charge and the usage to reconcile to */
    ck_assert_int_eq(client_on_response(h.c, &h.r[0].cr, 8, 200, NULL, 3, 4), CLIENT_DONE);
    ck_assert_int_eq(f.dones, 1);
    ck_assert_uint_eq(f.done_ticket[0], 42);
    ck_assert_int_eq(f.done_charged[0], 10);
    ck_assert_int_eq(f.done_actual[0], 7);

    /* r1's admission comes after its deadline: it timed out once, the admission goes back */
    ck_assert_int_eq(poll_ids(&h, 1000, ids, 8), 0);
    ck_assert_int_eq(h.r[1].end, CLIENT_TIMED_OUT);
    ck_assert_int_eq(f.dones, 1);
    ck_assert(client_admission_pending(h.c));
    client_admission_answer(h.c, 1001, LIMITER_OK, 0, 43);
    ck_assert_int_eq(f.dones, 2);
    ck_assert_uint_eq(f.done_ticket[1], 43);
    ck_assert_int_eq(f.done_actual[1], 0);
    ck_assert_int_eq(h.r[1].ends, 1);

    /* wait: asked again exactly then, and a synchronous answer sends at once */
    ck_assert_int_eq(client_submit(h.c, req(&h, 2, 0, 1001, 1, 0), 1001), 0);
    ck_assert_int_eq(poll_ids(&h, 1001, ids, 8), 0);
    client_admission_answer(h.c, 1002, LIMITER_WAIT, 1500, 0);
    ck_assert_int_eq(poll_ids(&h, 1002, ids, 8), 0);
    ck_assert_int_eq(client_next_wakeup(h.c), 1500);
    ck_assert_int_eq(f.admits, 3);
    f.answer = LIMITER_OK;
    ck_assert_int_eq(poll_ids(&h, 1500, ids, 8), 1);
    ck_assert_int_eq(ids[0], 2);
    ck_assert_int_eq(f.admits, 4);
    ck_assert(h.r[2].cr.throttled); /* refused once: the limiter delayed it */

    /* the backend says it can never fit: rejected at the next poll */
    f.answer = CLIENT_PENDING;
    ck_assert_int_eq(client_submit(h.c, req(&h, 3, 0, 1500, 1, 0), 1500), 0);
    ck_assert_int_eq(poll_ids(&h, 1500, ids, 8), 0);
    client_admission_answer(h.c, 1501, -E2BIG, 0, 0);
    ck_assert_int_eq(poll_ids(&h, 1501, ids, 8), 0);
    ck_assert_int_eq(h.r[3].end, CLIENT_REJECTED);
    ck_assert_int_eq(h.r[3].cr.reason, CLIENT_REASON_TOO_LARGE);

    /* admitted, then cancelled before the poll that would send it: handed back */
    ck_assert_int_eq(client_submit(h.c, req(&h, 4, 0, 1501, 5, 0), 1501), 0);
    ck_assert_int_eq(poll_ids(&h, 1501, ids, 8), 0);
    client_admission_answer(h.c, 1502, LIMITER_OK, 0, 77);
    client_cancel(h.c, &h.r[4].cr, 1502);
    ck_assert_int_eq(f.dones, 3);
    ck_assert_uint_eq(f.done_ticket[2], 77);
    ck_assert_int_eq(f.done_charged[2], 5);
    ck_assert_int_eq(f.done_actual[2], 0);
    /* in flight, cancelled: its slot goes back, its charge is kept */
    f.answer = LIMITER_OK;
    client_cancel(h.c, &h.r[2].cr, 1503);
    ck_assert_int_eq(f.dones, 4);
    ck_assert_int_eq(f.done_actual[3], -1);
    for (int i = 0; i <= 4; i++)
        ck_assert_int_eq(h.r[i].ends, 1);
    /* the backend may not change once requests were taken */
    ck_assert_int_eq(client_set_backend(h.c, &be), -EINVAL);
    client_free(h.c);

    /* adaptive mode would need shared feedback: refused */
    cfg.adaptive = true;
    h_init(&h, &cfg, one_class, 1);
    ck_assert_int_eq(client_set_backend(h.c, &be), -EINVAL);
    client_free(h.c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("client");
    TCase *tc = tcase_create("scripted");
    tcase_add_test(tc, send_and_wait_exactly);
    tcase_add_test(tc, event_mask_filters_on_event);
    tcase_add_test(tc, poll_max_and_concurrency);
    tcase_add_test(tc, queue_full_reject_and_block);
    tcase_add_test(tc, never_fits);
    tcase_add_test(tc, burst_shapes_cold_start);
    tcase_add_test(tc, policies);
    tcase_add_test(tc, aging_prevents_starvation);
    tcase_add_test(tc, weighted_shares);
    tcase_add_test(tc, deadlines);
    tcase_add_test(tc, head_of_line);
    tcase_add_test(tc, skip_scan_is_bounded);
    tcase_add_test(tc, block_aging_promotion);
    tcase_add_test(tc, retry_after_never_early);
    tcase_add_test(tc, classification_in_client);
    tcase_add_test(tc, attempts_and_budget);
    tcase_add_test(tc, retry_past_deadline);
    tcase_add_test(tc, reconcile_usage);
    tcase_add_test(tc, cancel_all_accounts);
    tcase_add_test(tc, adaptive);
    tcase_add_test(tc, bad_config);
    tcase_add_test(tc, day_without_drift);
    tcase_add_test(tc, shared_limiter_across_clients);
    tcase_add_test(tc, backend_pending_answers);
    suite_add_tcase(s, tc);
    tc = tcase_create("properties");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, property_random_workloads);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
