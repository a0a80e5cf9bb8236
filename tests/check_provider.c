#include "config.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"
#include "provider.h"
#include "rng.h"
#include "scenario.h"
#include "srvlimit.h"
#include "util.h"

/* A server with no limits, no faults, and a fixed 1 s service unless a test says otherwise. */
static struct server_config base_cfg(void)
{
    struct scenario sc;
    scenario_defaults(&sc);
    struct server_config c = sc.server;
    c.requests_per_minute = c.tokens_per_minute = c.tokens_per_day = c.max_concurrent = 0;
    c.max_running = 0;
    c.max_waiting = 0;
    c.service = SERVICE_DETERMINISTIC;
    c.service_mean_us = US_PER_S;
    c.error_rate = c.timeout_rate = c.reset_rate = c.malformed_rate = 0;
    return c;
}

static provider *mk(const struct server_config *c, uint64_t seed)
{
    struct rng r;
    rng_seed(&r, seed);
    return provider_new(c, &r);
}

/* Event recorder. */
#define MAXEV 4096
struct rec {
    struct provider_event ev[MAXEV];
    int n;
};

static void record(void *ctx, const struct provider_event *ev)
{
    struct rec *r = ctx;
    ck_assert_int_lt(r->n, MAXEV);
    r->ev[r->n++] = *ev;
}

static int submit(provider *p, int64_t now, int64_t prompt, int64_t max_tokens, int64_t completion,
                  struct provider_decision *d)
{
    return provider_submit(p, now, prompt, max_tokens, completion, NULL, d);
}

/* ---- rate limits --------------------------------------------------------- */

START_TEST(rpm_bucket_boundary)
{
    struct server_config c = base_cfg();
    c.requests_per_minute = 60;
    provider *p = mk(&c, 1);
    struct provider_decision d;
    for (int i = 0; i < 60; i++) {
        ck_assert_int_eq(submit(p, 0, 10, 0, 1, &d), PROVIDER_ACCEPTED);
        ck_assert_int_eq(d.rl.remaining_requests, 59 - i);
        ck_assert_int_eq(d.rl.limit_requests, 60);
    }
    ck_assert_int_eq(d.rl.reset_requests_us, 60 * US_PER_S); /* empty: a full minute to refill */
    ck_assert_int_eq(submit(p, 0, 10, 0, 1, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(d.status, 429);
    ck_assert_int_eq(d.reason, PROVIDER_LIMIT_RPM);
    ck_assert_int_eq(d.rl.retry_after_us, US_PER_S); /* one request per second refills */
    ck_assert_int_eq(d.rl.remaining_requests, 0);
    ck_assert_int_eq(submit(p, US_PER_S - 1, 10, 0, 1, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(d.rl.retry_after_us, 1);
    ck_assert_int_eq(submit(p, US_PER_S, 10, 0, 1, &d), PROVIDER_ACCEPTED);
    ck_assert_int_eq(submit(p, US_PER_S, 10, 0, 1, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(d.rl.retry_after_us, US_PER_S);
    /* Half a second later the bucket holds half a request: the wait is the rest, exactly. */
    ck_assert_int_eq(submit(p, US_PER_S + 500000, 10, 0, 1, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(d.rl.retry_after_us, 500000);
    struct provider_stats st;
    provider_stats(p, &st);
    ck_assert_int_eq(st.rate_limited[PROVIDER_LIMIT_RPM], 4);
    ck_assert_int_eq(st.accepted, 61);
    ck_assert_int_eq(st.submitted, 65);
    provider_free(p);
}
END_TEST

START_TEST(rpm_window_boundary)
{
    struct server_config c = base_cfg();
    c.requests_per_minute = 3;
    c.enforce = ENFORCE_WINDOW;
    provider *p = mk(&c, 1);
    struct provider_decision d;
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(submit(p, 10 * US_PER_S, 10, 0, 1, &d), PROVIDER_ACCEPTED);
    ck_assert_int_eq(d.rl.reset_requests_us, 50 * US_PER_S); /* the window ends at 60 s */
    ck_assert_int_eq(submit(p, 10 * US_PER_S, 10, 0, 1, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(d.rl.retry_after_us, 50 * US_PER_S);
    ck_assert_int_eq(submit(p, 60 * US_PER_S - 1, 10, 0, 1, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(d.rl.retry_after_us, 1);
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(submit(p, 60 * US_PER_S, 10, 0, 1, &d), PROVIDER_ACCEPTED);
    ck_assert_int_eq(submit(p, 119 * US_PER_S, 10, 0, 1, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(d.rl.retry_after_us, US_PER_S);
    /* A window with nothing charged yet is full: reset 0. */
    provider_rlinfo(p, 120 * US_PER_S, &d.rl);
    ck_assert_int_eq(d.rl.remaining_requests, 3);
    ck_assert_int_eq(d.rl.reset_requests_us, 0);
    provider_free(p);
}
END_TEST

START_TEST(tpm_bucket_exact_wait)
{
    struct server_config c = base_cfg();
    c.tokens_per_minute = 1000;
    provider *p = mk(&c, 1);
    struct provider_decision d;
    /* Cost = prompt + max_tokens = 600 + 100. */
    ck_assert_int_eq(submit(p, 0, 600, 100, 40, &d), PROVIDER_ACCEPTED);
    ck_assert_int_eq(d.rl.remaining_tokens, 300);
    ck_assert_int_eq(d.rl.limit_tokens, 1000);
    ck_assert_int_eq(d.rl.reset_tokens_us, 42 * US_PER_S); /* 700 tokens at 1000/min */
    ck_assert_int_eq(d.rl.limit_requests, -1);             /* RPM unlimited: not given */
    ck_assert_int_eq(submit(p, 0, 600, 100, 40, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(d.reason, PROVIDER_LIMIT_TPM);
    ck_assert_int_eq(d.rl.retry_after_us, 24 * US_PER_S); /* 400 missing at 1000 per 60 s */
    /* A rate that does not divide: 1 token per 60 ms; 7 missing tokens after 1 µs. */
    ck_assert_int_eq(submit(p, 1, 300, 7, 1, &d), PROVIDER_RATE_LIMITED);
    /* level = 300 + 1000·1/60e6 tokens; need 7 more minus that: ceil((7·60e6 − 1000)/1000) */
    ck_assert_int_eq(d.rl.retry_after_us, (7 * 60000000LL - 1000 + 999) / 1000);
    /* max_tokens 0: cost is prompt + completion. */
    ck_assert_int_eq(submit(p, 1, 250, 0, 50, &d), PROVIDER_ACCEPTED);
    ck_assert_int_eq(d.rl.remaining_tokens, 0);
    provider_free(p);
}
END_TEST

START_TEST(tpm_window_boundary)
{
    struct server_config c = base_cfg();
    c.tokens_per_minute = 1000;
    c.enforce = ENFORCE_WINDOW;
    provider *p = mk(&c, 1);
    struct provider_decision d;
    ck_assert_int_eq(submit(p, 0, 500, 499, 1, &d), PROVIDER_ACCEPTED);
    ck_assert_int_eq(d.rl.remaining_tokens, 1);
    ck_assert_int_eq(d.rl.reset_tokens_us, 60 * US_PER_S);
    ck_assert_int_eq(submit(p, 30 * US_PER_S, 1, 1, 1, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(d.reason, PROVIDER_LIMIT_TPM);
    ck_assert_int_eq(d.rl.retry_after_us, 30 * US_PER_S);
    ck_assert_int_eq(submit(p, 30 * US_PER_S, 1, 0, 0, &d), PROVIDER_RATE_LIMITED); /* 1 + 1 */
    ck_assert_int_eq(submit(p, 30 * US_PER_S, 0, 1, 5, &d), PROVIDER_ACCEPTED); /* exactly 1 left */
    ck_assert_int_eq(d.rl.remaining_tokens, 0);
    ck_assert_int_eq(submit(p, 60 * US_PER_S - 1, 0, 1, 5, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(d.rl.retry_after_us, 1);
    ck_assert_int_eq(submit(p, 60 * US_PER_S, 1000, 0, 0, &d), PROVIDER_RATE_LIMITED); /* 1001 */
    ck_assert_int_eq(d.rl.retry_after_us, -1);
    ck_assert_int_eq(submit(p, 60 * US_PER_S, 999, 0, 0, &d), PROVIDER_ACCEPTED);
    provider_free(p);
}
END_TEST

START_TEST(tpd_window_and_too_large)
{
    struct server_config c = base_cfg();
    c.tokens_per_day = 1000;
    c.enforce = ENFORCE_WINDOW;
    provider *p = mk(&c, 1);
    struct provider_decision d;
    ck_assert_int_eq(submit(p, 0, 900, 100, 1, &d), PROVIDER_ACCEPTED);
    ck_assert_int_eq(d.rl.limit_tokens, 1000); /* no TPM: TPD fills the token fields */
    ck_assert_int_eq(d.rl.remaining_tokens, 0);
    ck_assert_int_eq(submit(p, US_PER_HOUR, 1, 0, 1, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(d.reason, PROVIDER_LIMIT_TPD);
    ck_assert_int_eq(d.rl.retry_after_us, US_PER_DAY - US_PER_HOUR);
    ck_assert_int_eq(submit(p, US_PER_DAY, 1, 0, 1, &d), PROVIDER_ACCEPTED);
    /* Larger than the limit itself: never fits, no Retry-After, should_retry false. */
    ck_assert_int_eq(submit(p, US_PER_DAY, 1000, 1, 1, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(d.reason, PROVIDER_LIMIT_TPD);
    ck_assert_int_eq(d.rl.retry_after_us, -1);
    ck_assert_int_eq(d.rl.should_retry, 0);
    provider_free(p);

    c = base_cfg();
    c.tokens_per_minute = 100;
    c.tokens_per_day = 1000;
    p = mk(&c, 1);
    ck_assert_int_eq(submit(p, 0, 100, 1, 1, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(d.reason, PROVIDER_LIMIT_TPM);
    ck_assert_int_eq(d.rl.retry_after_us, -1);
    ck_assert_int_eq(d.rl.limit_tokens, 100); /* TPM wins the token fields */
    provider_free(p);
}
END_TEST

START_TEST(tpd_bucket)
{
    struct server_config c = base_cfg();
    c.tokens_per_day = 86400; /* one token per second */
    provider *p = mk(&c, 1);
    struct provider_decision d;
    ck_assert_int_eq(submit(p, 0, 86400, 0, 0, &d), PROVIDER_RATE_LIMITED); /* 86401 > limit */
    ck_assert_int_eq(d.rl.retry_after_us, -1);
    ck_assert_int_eq(submit(p, 0, 86000, 0, 1, &d), PROVIDER_ACCEPTED);
    ck_assert_int_eq(submit(p, 0, 498, 0, 1, &d), PROVIDER_RATE_LIMITED); /* 399 left */
    ck_assert_int_eq(d.rl.retry_after_us, 100 * US_PER_S);
    ck_assert_int_eq(submit(p, 100 * US_PER_S, 498, 0, 1, &d), PROVIDER_ACCEPTED);
    provider_free(p);
}
END_TEST

START_TEST(several_limits_longest_wait)
{
    struct server_config c = base_cfg();
    c.requests_per_minute = 1;
    c.tokens_per_minute = 100;
    provider *p = mk(&c, 1);
    struct provider_decision d;
    ck_assert_int_eq(submit(p, 0, 90, 0, 10, &d), PROVIDER_ACCEPTED);
    /* RPM needs 60 s, TPM needs 6 s for 10 tokens: the 429 names RPM and its 60 s. */
    ck_assert_int_eq(submit(p, 0, 9, 0, 1, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(d.reason, PROVIDER_LIMIT_RPM);
    ck_assert_int_eq(d.rl.retry_after_us, 60 * US_PER_S);
    ck_assert_int_eq(d.rl.remaining_requests, 0);
    ck_assert_int_eq(d.rl.remaining_tokens, 0);
    provider_free(p);
}
END_TEST

/*
 * [server] burst: a cold-start spike of 50 small requests at 600 RPM. The 1 m
 * default holds a minute's worth and accepts them all; a 1 s burst holds 10,
 * answers 429 to the 11th with the exact wait for one more (100 ms), and still
 * reports the limit itself in the headers.
 */
START_TEST(burst_cold_start_spike)
{
    struct server_config c = base_cfg();
    c.requests_per_minute = 600;
    c.tokens_per_minute = 60000;
    struct provider_decision d;
    const int64_t bursts[] = {0, US_PER_MIN}; /* 0 is the default too: a period's worth */
    for (int k = 0; k < 2; k++) {
        c.burst_us = bursts[k];
        provider *p = mk(&c, 1);
        for (int i = 0; i < 50; i++)
            ck_assert_int_eq(submit(p, 0, 10, 10, 10, &d), PROVIDER_ACCEPTED);
        ck_assert_int_eq(d.rl.remaining_requests, 550);
        provider_free(p);
    }
    c.burst_us = US_PER_S;
    provider *p = mk(&c, 1);
    int ok = 0;
    for (int i = 0; i < 50; i++)
        ok += submit(p, 0, 10, 10, 10, &d) == PROVIDER_ACCEPTED;
    ck_assert_int_eq(ok, 10);
    ck_assert_int_eq(d.status, 429);
    ck_assert_int_eq(d.reason, PROVIDER_LIMIT_RPM);
    ck_assert_int_eq(d.rl.retry_after_us, 100000);
    ck_assert_int_eq(d.rl.limit_requests, 600);
    ck_assert_int_eq(d.rl.remaining_requests, 0);
    ck_assert_int_eq(d.rl.reset_requests_us, US_PER_S); /* 10 at 10/s */
    ck_assert_int_eq(d.rl.remaining_tokens, 1000 - 10 * 20);
    ck_assert_int_eq(submit(p, 99999, 10, 10, 10, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(submit(p, 100000, 10, 10, 10, &d), PROVIDER_ACCEPTED);
    provider_free(p);

    /* Larger than the TPM bucket (1,000) but within the limit: taken from a full
     * bucket, into debt; the headers show 0 remaining, never a negative count. */
    c.requests_per_minute = 0;
    p = mk(&c, 1);
    ck_assert_int_eq(submit(p, 0, 1500, 1000, 1000, &d), PROVIDER_ACCEPTED);
    ck_assert_int_eq(d.rl.remaining_tokens, 0);
    ck_assert_int_eq(d.rl.reset_tokens_us, 2500000); /* 2,500 tokens at 1,000/s */
    ck_assert_int_eq(submit(p, 0, 10, 10, 10, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(d.reason, PROVIDER_LIMIT_TPM);
    ck_assert_int_eq(d.rl.retry_after_us, 1520000); /* the debt, then 20 tokens */
    ck_assert_int_eq(submit(p, 1520000, 1500, 1000, 1000, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(d.rl.retry_after_us, 980000); /* a large one waits for full */
    ck_assert_int_eq(submit(p, 2500000, 1500, 1000, 1000, &d), PROVIDER_ACCEPTED);
    /* above the limit itself: never fits, as without a burst */
    ck_assert_int_eq(submit(p, 100 * US_PER_S, 60000, 1, 1, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(d.rl.should_retry, 0);
    provider_free(p);

    /* Window mode ignores the burst: the window's whole quota is its burst. */
    c.requests_per_minute = 600;
    c.enforce = ENFORCE_WINDOW;
    p = mk(&c, 1);
    for (int i = 0; i < 50; i++)
        ck_assert_int_eq(submit(p, 0, 10, 10, 10, &d), PROVIDER_ACCEPTED);
    provider_free(p);
}
END_TEST

START_TEST(concurrency_limit)
{
    struct server_config c = base_cfg();
    c.max_concurrent = 2;
    provider *p = mk(&c, 1);
    struct provider_decision d;
    struct rec r = {.n = 0};
    ck_assert_int_eq(submit(p, 0, 1, 0, 1, &d), PROVIDER_ACCEPTED);
    ck_assert_int_eq(submit(p, 300000, 1, 0, 1, &d), PROVIDER_ACCEPTED);
    ck_assert_int_eq(submit(p, 400000, 1, 0, 1, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(d.reason, PROVIDER_LIMIT_CONCURRENCY);
    ck_assert_int_eq(d.rl.retry_after_us, 600000); /* the first ends at 1 s */
    ck_assert_int_eq(provider_next_event_us(p), US_PER_S);
    provider_advance(p, US_PER_S, record, &r);
    ck_assert_int_eq(r.n, 2); /* first token and done of the first request */
    ck_assert_int_eq(submit(p, US_PER_S, 1, 0, 1, &d), PROVIDER_ACCEPTED);
    ck_assert_int_eq(submit(p, US_PER_S, 1, 0, 1, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(d.rl.retry_after_us, 300000);
    struct provider_stats st;
    provider_stats(p, &st);
    ck_assert_int_eq(st.rate_limited[PROVIDER_LIMIT_CONCURRENCY], 2);
    provider_free(p);
}
END_TEST

/* ---- capacity ------------------------------------------------------------ */

START_TEST(overloaded_above_max_waiting)
{
    struct server_config c = base_cfg();
    c.max_running = 1;
    c.max_waiting = 2;
    c.requests_per_minute = 100;
    provider *p = mk(&c, 1);
    struct provider_decision d;
    ck_assert_int_eq(submit(p, 0, 1, 0, 1, &d), PROVIDER_ACCEPTED);
    ck_assert(d.running);
    ck_assert_int_eq(submit(p, 0, 1, 0, 1, &d), PROVIDER_ACCEPTED);
    ck_assert(!d.running);
    ck_assert_int_eq(submit(p, 0, 1, 0, 1, &d), PROVIDER_ACCEPTED);
    ck_assert_int_eq(d.rl.remaining_requests, 97);
    ck_assert_int_eq(submit(p, 0, 1, 0, 1, &d), PROVIDER_OVERLOADED);
    ck_assert_int_eq(d.status, 503);
    ck_assert_int_eq(d.rl.remaining_requests, 97); /* a 503 is not charged */
    ck_assert_int_eq(d.rl.retry_after_us, US_PER_S);
    struct provider_stats st;
    provider_stats(p, &st);
    ck_assert_int_eq(st.running, 1);
    ck_assert_int_eq(st.waiting, 2);
    ck_assert_int_eq(st.overloaded, 1);
    ck_assert(st.kv_cache_usage == 1.0);
    provider_free(p);
}
END_TEST

START_TEST(fifo_waiting_queue)
{
    struct server_config c = base_cfg();
    c.max_running = 1;
    provider *p = mk(&c, 1);
    struct provider_decision d;
    int h[3] = {0, 1, 2};
    uint64_t id[3];
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(provider_submit(p, i * 1000, 5, 0, 3, &h[i], &d), PROVIDER_ACCEPTED);
        id[i] = d.id;
        ck_assert(id[i] != 0);
    }
    ck_assert(id[0] != id[1] && id[1] != id[2]);
    struct rec r = {.n = 0};
    ck_assert_int_eq(provider_advance(p, 10 * US_PER_S, record, &r), 6);
    for (int i = 0; i < 3; i++) {
        const struct provider_event *ft = &r.ev[2 * i], *done = &r.ev[2 * i + 1];
        ck_assert_int_eq(ft->kind, PROVIDER_EV_FIRST_TOKEN);
        ck_assert_int_eq(done->kind, PROVIDER_EV_DONE);
        ck_assert_ptr_eq(done->handle, &h[i]);
        ck_assert(done->id == id[i]);
        ck_assert_int_eq(done->submit_us, i * 1000);
        ck_assert_int_eq(done->start_us, i == 0 ? 0 : i * US_PER_S);
        ck_assert_int_eq(done->t_us, (i + 1) * US_PER_S);
        ck_assert_int_eq(done->done_us, (i + 1) * US_PER_S);
        ck_assert_int_eq(done->prompt_tokens, 5);
        ck_assert_int_eq(done->completion_tokens, 3);
    }
    ck_assert_int_eq(provider_next_event_us(p), TIME_NEVER);
    struct provider_stats st;
    provider_stats(p, &st);
    ck_assert_int_eq(st.completed, 3);
    ck_assert_int_eq(st.prompt_tokens_total, 15);
    ck_assert_int_eq(st.generation_tokens_total, 9);
    ck_assert_int_eq(st.running + st.waiting, 0);
    provider_free(p);
}
END_TEST

START_TEST(equal_times_fifo)
{
    struct server_config c = base_cfg();
    provider *p = mk(&c, 1);
    struct provider_decision d;
    int h[5];
    for (int i = 0; i < 5; i++)
        provider_submit(p, 0, 1, 0, 1, &h[i], &d);
    struct rec r = {.n = 0};
    provider_advance(p, US_PER_S, record, &r);
    ck_assert_int_eq(r.n, 10);
    for (int i = 0; i < 5; i++) {
        ck_assert_ptr_eq(r.ev[2 * i].handle, &h[i]);
        ck_assert_int_eq(r.ev[2 * i].kind, PROVIDER_EV_FIRST_TOKEN);
        ck_assert_ptr_eq(r.ev[2 * i + 1].handle, &h[i]);
        ck_assert_int_eq(r.ev[2 * i + 1].kind, PROVIDER_EV_DONE);
    }
    provider_free(p);
}
END_TEST

START_TEST(batch_slowdown)
{
    struct server_config c = base_cfg();
    c.service = SERVICE_BATCHING;
    c.ttft_base_us = 100000;
    c.prefill_us_per_token = 1;
    c.decode_us_per_token = 10000;
    c.decode_batch_slope = 0.5;
    c.max_running = 2;
    provider *p = mk(&c, 1);
    struct provider_decision d;
    int a, b, x;
    provider_submit(p, 0, 1000, 0, 11, &a, &d);  /* batch of 1: 10 ms per token */
    provider_submit(p, 0, 1000, 0, 11, &b, &d);  /* batch of 2: 15 ms per token */
    provider_submit(p, 0, 2000, 0, 1, &x, &d);   /* waits for a slot */
    struct rec r = {.n = 0};
    provider_advance(p, 10 * US_PER_S, record, &r);
    ck_assert_int_eq(r.n, 6);
    /* a: first token at 100 ms + 1000 µs prefill, then 10 tokens × 10 ms */
    ck_assert_ptr_eq(r.ev[0].handle, &a);
    ck_assert_int_eq(r.ev[0].t_us, 101000);
    ck_assert_ptr_eq(r.ev[1].handle, &b);
    ck_assert_int_eq(r.ev[1].t_us, 101000);
    ck_assert_ptr_eq(r.ev[2].handle, &a);
    ck_assert_int_eq(r.ev[2].kind, PROVIDER_EV_DONE);
    ck_assert_int_eq(r.ev[2].t_us, 201000);
    ck_assert(r.ev[2].per_token_us == 10000);
    ck_assert_ptr_eq(r.ev[3].handle, &b);
    ck_assert_int_eq(r.ev[3].t_us, 101000 + 150000);
    ck_assert(r.ev[3].per_token_us == 15000);
    /* x starts when a ends, joining b: batch of 2; one token, so no decode. */
    ck_assert_ptr_eq(r.ev[4].handle, &x);
    ck_assert_int_eq(r.ev[4].kind, PROVIDER_EV_FIRST_TOKEN);
    ck_assert_int_eq(r.ev[4].t_us, 201000 + 102000);
    ck_assert_int_eq(r.ev[4].start_us, 201000);
    ck_assert(r.ev[4].per_token_us == 15000);
    ck_assert_ptr_eq(r.ev[5].handle, &x);
    ck_assert_int_eq(r.ev[5].kind, PROVIDER_EV_DONE);
    ck_assert_int_eq(r.ev[5].t_us, 303000);
    provider_free(p);
}
END_TEST

START_TEST(exponential_mean)
{
    struct server_config c = base_cfg();
    c.service = SERVICE_EXPONENTIAL;
    c.service_mean_us = 250000;
    provider *p = mk(&c, 3);
    struct provider_decision d;
    enum { N = 20000 };
    struct rec *r = calloc(1, sizeof *r);
    double sum = 0;
    int n = 0;
    /* Submit in chunks so the recorder never overflows. */
    for (int k = 0; k < N / 1000; k++) {
        for (int i = 0; i < 1000; i++)
            submit(p, k * 100 * US_PER_S, 1, 0, 1, &d);
        r->n = 0;
        provider_advance(p, k * 100 * US_PER_S + 99 * US_PER_S, record, r);
        for (int i = 0; i < r->n; i++) {
            if (r->ev[i].kind != PROVIDER_EV_DONE)
                continue;
            ck_assert_int_eq(r->ev[i].first_token_us, r->ev[i].done_us);
            sum += (double)(r->ev[i].done_us - r->ev[i].start_us);
            n++;
        }
    }
    ck_assert_int_eq(n, N);
    /* sd of the mean is 250 ms / sqrt(20000) = 1.8 ms: 2% is over 2.5 sd. */
    ck_assert_msg(fabs(sum / n - 250000) < 0.02 * 250000, "mean service %.0f", sum / n);
    free(r);
    provider_free(p);
}
END_TEST

/* ---- faults -------------------------------------------------------------- */

START_TEST(fault_shares)
{
    struct server_config c = base_cfg();
    c.error_rate = 0.1;
    c.reset_rate = 0.05;
    c.timeout_rate = 0.05;
    c.malformed_rate = 0.2;
    c.stall_us = 30 * US_PER_S;
    int64_t count[PROVIDER_FAULT_N] = {0}, s500 = 0, s503 = 0, total = 0;
    for (uint64_t seed = 1; seed <= 10; seed++) {
        provider *p = mk(&c, seed);
        struct provider_decision d;
        for (int i = 0; i < 5000; i++) {
            int k = submit(p, 0, 1, 0, 1, &d);
            count[d.fault]++;
            total++;
            if (d.fault == PROVIDER_FAULT_ERROR) {
                ck_assert_int_eq(k, PROVIDER_ERROR);
                ck_assert(d.status == 500 || d.status == 503);
                s500 += d.status == 500;
                s503 += d.status == 503;
            } else if (d.fault == PROVIDER_FAULT_RESET) {
                ck_assert_int_eq(k, PROVIDER_RESET);
                ck_assert_int_eq(d.status, 0);
            } else {
                ck_assert_int_eq(k, PROVIDER_ACCEPTED);
                ck_assert_int_eq(d.running, d.fault != PROVIDER_FAULT_STALL);
            }
        }
        struct provider_stats st;
        provider_stats(p, &st);
        ck_assert_int_eq(st.stalled, st.faults[PROVIDER_FAULT_STALL]);
        provider_free(p);
    }
    double want[PROVIDER_FAULT_N] = {0.6, 0.1, 0.05, 0.05, 0.2};
    for (int f = 0; f < PROVIDER_FAULT_N; f++) {
        double share = (double)count[f] / (double)total;
        /* 50,000 draws: sd of a 5% share is 0.1 points; allow 0.5. */
        ck_assert_msg(fabs(share - want[f]) < 0.005, "%s share %.4f want %.2f",
                      provider_fault_name(f), share, want[f]);
    }
    ck_assert_int_gt(s500, 2000);
    ck_assert_int_gt(s503, 2000);
}
END_TEST

START_TEST(stall_and_malformed_events)
{
    struct server_config c = base_cfg();
    c.timeout_rate = 1;
    c.stall_us = 30 * US_PER_S;
    c.max_concurrent = 1;
    provider *p = mk(&c, 1);
    struct provider_decision d;
    int h;
    ck_assert_int_eq(provider_submit(p, 5, 1, 0, 1, &h, &d), PROVIDER_ACCEPTED);
    ck_assert_int_eq(d.fault, PROVIDER_FAULT_STALL);
    /* A stall holds a concurrency slot until it drops. */
    ck_assert_int_eq(submit(p, 10, 1, 0, 1, &d), PROVIDER_RATE_LIMITED);
    ck_assert_int_eq(d.rl.retry_after_us, 30 * US_PER_S - 5);
    ck_assert_int_eq(provider_next_event_us(p), 30 * US_PER_S + 5);
    struct rec r = {.n = 0};
    ck_assert_int_eq(provider_advance(p, 30 * US_PER_S + 4, record, &r), 0);
    ck_assert_int_eq(provider_advance(p, 30 * US_PER_S + 5, record, &r), 1);
    ck_assert_int_eq(r.ev[0].kind, PROVIDER_EV_DROPPED);
    ck_assert_ptr_eq(r.ev[0].handle, &h);
    provider_free(p);

    c = base_cfg();
    c.malformed_rate = 1;
    p = mk(&c, 1);
    ck_assert_int_eq(provider_submit(p, 0, 1, 0, 4, &h, &d), PROVIDER_ACCEPTED);
    ck_assert_int_eq(d.fault, PROVIDER_FAULT_MALFORMED);
    r.n = 0;
    provider_advance(p, US_PER_S, record, &r);
    ck_assert_int_eq(r.n, 2);
    ck_assert_int_eq(r.ev[0].kind, PROVIDER_EV_FIRST_TOKEN);
    ck_assert_int_eq(r.ev[1].kind, PROVIDER_EV_MALFORMED);
    struct provider_stats st;
    provider_stats(p, &st);
    ck_assert_int_eq(st.completed, 0);
    ck_assert_int_eq(st.faults[PROVIDER_FAULT_MALFORMED], 1);
    provider_free(p);
}
END_TEST

/* ---- cancel ---------------------------------------------------------------- */

START_TEST(cancel_frees_capacity)
{
    struct server_config c = base_cfg();
    c.max_running = 1;
    c.max_concurrent = 3;
    provider *p = mk(&c, 1);
    struct provider_decision d;
    int a, b, x;
    provider_submit(p, 0, 1, 0, 1, &a, &d);
    uint64_t ida = d.id;
    provider_submit(p, 0, 1, 0, 1, &b, &d);
    uint64_t idb = d.id;
    provider_submit(p, 0, 1, 0, 1, &x, &d);
    uint64_t idx = d.id;
    ck_assert_int_eq(submit(p, 0, 1, 0, 1, &d), PROVIDER_RATE_LIMITED); /* concurrency 3 */
    /* Cancel the waiting one, then the running one: b starts at once. */
    ck_assert_int_eq(provider_cancel(p, idx, 100), 0);
    ck_assert_int_eq(provider_cancel(p, idx, 100), -ENOENT);
    ck_assert_int_eq(provider_cancel(p, ida, 500000), 0);
    ck_assert_int_eq(provider_cancel(p, 0, 500000), -ENOENT);
    ck_assert_int_eq(provider_cancel(p, 12345678, 500000), -ENOENT);
    ck_assert_int_eq(provider_next_event_us(p), 1500000);
    ck_assert_int_eq(submit(p, 500000, 1, 0, 1, &d), PROVIDER_ACCEPTED); /* a slot is free again */
    struct rec r = {.n = 0};
    provider_advance(p, 10 * US_PER_S, record, &r);
    ck_assert_int_eq(r.n, 4);
    ck_assert_ptr_eq(r.ev[1].handle, &b);
    ck_assert_int_eq(r.ev[1].start_us, 500000);
    ck_assert_int_eq(r.ev[1].t_us, 1500000);
    ck_assert_int_eq(provider_cancel(p, idb, 10 * US_PER_S), -ENOENT); /* already finished */
    struct provider_stats st;
    provider_stats(p, &st);
    ck_assert_int_eq(st.cancelled, 2);
    ck_assert_int_eq(st.completed, 2);
    provider_free(p);
}
END_TEST

START_TEST(cancel_stall_and_after_first_token)
{
    struct server_config c = base_cfg();
    c.service = SERVICE_BATCHING;
    c.ttft_base_us = 1000;
    c.prefill_us_per_token = 0;
    c.decode_us_per_token = 1000;
    c.decode_batch_slope = 0;
    provider *p = mk(&c, 1);
    struct provider_decision d;
    submit(p, 0, 1, 0, 100, &d);
    struct rec r = {.n = 0};
    provider_advance(p, 2000, record, &r);
    ck_assert_int_eq(r.n, 1); /* first token only */
    ck_assert_int_eq(provider_cancel(p, d.id, 2000), 0);
    ck_assert_int_eq(provider_next_event_us(p), TIME_NEVER);
    provider_free(p);

    c = base_cfg();
    c.timeout_rate = 1;
    p = mk(&c, 1);
    submit(p, 0, 1, 0, 1, &d);
    ck_assert_int_eq(provider_cancel(p, d.id, 1), 0);
    ck_assert_int_eq(provider_next_event_us(p), TIME_NEVER);
    struct provider_stats st;
    provider_stats(p, &st);
    ck_assert_int_eq(st.stalled, 0);
    provider_free(p);
}
END_TEST

/* A callback that submits again at the event time: the provider is consistent inside it. */
struct chain {
    provider *p;
    int left;
    int done;
};

static void resubmit(void *ctx, const struct provider_event *ev)
{
    struct chain *ch = ctx;
    if (ev->kind != PROVIDER_EV_DONE)
        return;
    ch->done++;
    if (ch->left-- > 0) {
        struct provider_decision d;
        ck_assert_int_eq(provider_submit(ch->p, ev->t_us, 1, 0, 1, ch, &d), PROVIDER_ACCEPTED);
        ck_assert(d.running);
    }
}

/* Cancels the request whose first token it sees (the mock's client hanging up mid-stream). */
static void cancel_on_first(void *ctx, const struct provider_event *ev)
{
    record(ctx, ev);
    if (ev->kind == PROVIDER_EV_FIRST_TOKEN)
        ck_assert_int_eq(provider_cancel(*(provider **)ev->handle, ev->id, ev->t_us), 0);
}

/*
 * First token = end (exponential service): the first token comes from the end entry,
 * just before the end; without PROVIDER_WANT_FIRST_TOKEN only the ends come, at the
 * same times, in the same order (the same draws), carrying first_token_us; a cancel on
 * the first token leaves no end.
 */
START_TEST(wants_and_first_token_from_end)
{
    struct server_config c = base_cfg();
    c.service = SERVICE_EXPONENTIAL;
    c.max_running = 2;
    static struct rec all, lean;
    all.n = lean.n = 0;
    for (int v = 0; v < 2; v++) {
        provider *p = mk(&c, 7);
        if (v == 1)
            provider_set_wants(p, 0);
        struct provider_decision d;
        for (int i = 0; i < 6; i++) {
            ck_assert_int_eq(submit(p, i * 1000, 1, 0, 1, &d), PROVIDER_ACCEPTED);
            ck_assert_int_eq(d.running, i < 2);
        }
        provider_advance(p, TIME_NEVER - 1, record, v == 0 ? &all : &lean);
        provider_free(p);
    }
    ck_assert_int_eq(all.n, 12);
    ck_assert_int_eq(lean.n, 6);
    for (int i = 0; i < 6; i++) {
        const struct provider_event *ft = &all.ev[2 * i], *done = &all.ev[2 * i + 1];
        ck_assert_int_eq(ft->kind, PROVIDER_EV_FIRST_TOKEN);
        ck_assert_int_eq(done->kind, PROVIDER_EV_DONE);
        ck_assert_int_eq(ft->id, done->id);
        ck_assert_int_eq(ft->t_us, done->t_us);
        ck_assert_int_eq(done->first_token_us, done->done_us);
        ck_assert_int_eq(lean.ev[i].kind, PROVIDER_EV_DONE);
        ck_assert_int_eq(lean.ev[i].id, done->id);
        ck_assert_int_eq(lean.ev[i].t_us, done->t_us);
        ck_assert_int_eq(lean.ev[i].first_token_us, done->first_token_us);
    }

    provider *p = mk(&c, 7);
    provider *self = p;
    struct provider_decision d;
    ck_assert_int_eq(provider_submit(p, 0, 1, 0, 1, &self, &d), PROVIDER_ACCEPTED);
    struct rec r = {.n = 0};
    provider_advance(p, TIME_NEVER - 1, cancel_on_first, &r);
    ck_assert_int_eq(r.n, 1); /* the first token only: cancelled, so no end */
    ck_assert_int_eq(provider_next_event_us(p), TIME_NEVER);
    provider_free(p);
}
END_TEST

/*
 * Property: submits, cancels and advances in random order deliver exactly the events a
 * brute-force model predicts, in (time, scheduling order). Cancels hit entries anywhere
 * in the heaps (top, middle, leaves), slots are reused at once with a new generation,
 * and thousands of cancelled ends lie far in the future: none of them may ever surface.
 * With and without first-token events (the first-token heap in use or not).
 */
struct mreq {
    uint64_t id;
    int64_t first_t, end_t;
    uint64_t first_seq, end_seq;
    bool first_due; /* its first-token event is still to come */
};

struct mev {
    int64_t t;
    uint64_t seq;
    int kind;
    uint64_t id;
};

static int mev_cmp(const void *a, const void *b)
{
    const struct mev *x = a, *y = b;
    if (x->t != y->t)
        return x->t < y->t ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

START_TEST(cancel_anywhere_matches_model)
{
    enum { LIVE_MAX = 600, OPS = 20000 };
    for (int wants_first = 0; wants_first < 2; wants_first++) {
        struct server_config c = base_cfg();
        c.service = SERVICE_BATCHING;
        c.ttft_base_us = 500;
        c.prefill_us_per_token = 0;
        c.decode_us_per_token = 1000;
        c.decode_batch_slope = 0;
        provider *p = mk(&c, 3);
        provider_set_wants(p, wants_first ? PROVIDER_WANT_ALL : 0);
        static struct mreq live[LIVE_MAX];
        static struct mev want[2 * LIVE_MAX];
        static struct rec got;
        int n_live = 0;
        uint64_t seq = 0;
        int64_t now = 0;
        struct rng r;
        rng_seed(&r, 11 + (uint64_t)wants_first);
        int64_t cancelled = 0, delivered = 0;
        for (int op = 0; op < OPS; op++) {
            uint64_t u = op == OPS - 1 ? 9 : rng_below(&r, 10); /* the last: advance to the end */
            if (u < 5 && n_live < LIVE_MAX) {
                int64_t completion = 1 + (int64_t)rng_below(&r, 3000);
                struct provider_decision d;
                ck_assert_int_eq(submit(p, now, 1, 0, completion, &d), PROVIDER_ACCEPTED);
                ck_assert(d.running);
                struct mreq *m = &live[n_live++];
                m->id = d.id;
                m->first_t = now + 500;
                m->end_t = m->first_t + 1000 * (completion - 1);
                m->first_due = wants_first;
                if (wants_first)
                    m->first_seq = seq++;
                m->end_seq = seq++;
            } else if (u < 8 && n_live > 0) {
                int k = (int)rng_below(&r, (uint64_t)n_live);
                ck_assert_int_eq(provider_cancel(p, live[k].id, now), 0);
                live[k] = live[--n_live];
                cancelled++;
            } else {
                now += (int64_t)rng_below(&r, 40000);
                if (op == OPS - 1)
                    now = TIME_NEVER - 1;
                int nw = 0;
                for (int k = 0; k < n_live; k++) {
                    if (live[k].first_due && live[k].first_t <= now)
                        want[nw++] = (struct mev){live[k].first_t, live[k].first_seq,
                                                  PROVIDER_EV_FIRST_TOKEN, live[k].id};
                    if (live[k].end_t <= now)
                        want[nw++] = (struct mev){live[k].end_t, live[k].end_seq,
                                                  PROVIDER_EV_DONE, live[k].id};
                }
                qsort(want, (size_t)nw, sizeof want[0], mev_cmp);
                got.n = 0;
                ck_assert_int_eq(provider_advance(p, now, record, &got), nw);
                for (int k = 0; k < nw; k++) {
                    ck_assert_int_eq(got.ev[k].kind, want[k].kind);
                    ck_assert_int_eq(got.ev[k].t_us, want[k].t);
                    ck_assert_uint_eq(got.ev[k].id, want[k].id);
                }
                delivered += nw;
                for (int k = 0; k < n_live;) {
                    if (live[k].first_due && live[k].first_t <= now)
                        live[k].first_due = false;
                    if (live[k].end_t <= now)
                        live[k] = live[--n_live];
                    else
                        k++;
                }
            }
            int64_t next = TIME_NEVER;
            for (int k = 0; k < n_live; k++) {
                if (live[k].first_due && live[k].first_t < next)
                    next = live[k].first_t;
                if (live[k].end_t < next)
                    next = live[k].end_t;
            }
            ck_assert_int_eq(provider_next_event_us(p), next);
        }
        ck_assert_int_eq(n_live, 0);
        ck_assert_int_gt(cancelled, 3000);
        ck_assert_int_gt(delivered, 3000);
        struct provider_stats st;
        provider_stats(p, &st);
        ck_assert_int_eq(st.cancelled, cancelled);
        ck_assert_int_eq(st.running, 0);
        provider_free(p);
    }
}
END_TEST

START_TEST(reentrant_and_bounded_memory)
{
    struct server_config c = base_cfg();
    c.max_running = 4;
    c.max_concurrent = 4;
    provider *p = mk(&c, 1);
    struct chain ch = {p, 100000, 0};
    struct provider_decision d;
    for (int i = 0; i < 4; i++)
        provider_submit(p, 0, 1, 0, 1, &ch, &d);
    /* 100,004 requests through 4 slots, each resubmitted from inside the callback. */
    int64_t t;
    while ((t = provider_next_event_us(p)) != TIME_NEVER)
        provider_advance(p, t, resubmit, &ch);
    ck_assert_int_eq(ch.done, 100004);
    struct provider_stats st;
    provider_stats(p, &st);
    ck_assert_int_eq(st.completed, 100004);
    ck_assert_int_eq(st.running, 0);
    ck_assert_int_eq(st.pool_slots, 64); /* never grew: memory follows concurrency */
    provider_free(p);

    /* 1000 at once grow the pool geometrically; reusing it costs nothing more. */
    c.max_concurrent = 0;
    c.max_running = 0;
    p = mk(&c, 1);
    for (int round = 0; round < 3; round++) {
        for (int i = 0; i < 1000; i++)
            provider_submit(p, round * 10 * US_PER_S, 1, 0, 1, NULL, &d);
        struct rec *r = calloc(1, sizeof *r);
        provider_advance(p, round * 10 * US_PER_S + 9 * US_PER_S, record, r);
        free(r);
        provider_stats(p, &st);
        ck_assert_int_eq(st.pool_slots, 1024);
    }
    provider_free(p);
}
END_TEST

/* Property: over many seeds, no limit window ever admits above its limit (window mode). */
START_TEST(window_never_over_limit)
{
    for (uint64_t seed = 1; seed <= 20; seed++) {
        struct server_config c = base_cfg();
        c.requests_per_minute = 50;
        c.tokens_per_minute = 20000;
        c.enforce = ENFORCE_WINDOW;
        provider *p = mk(&c, seed);
        struct rng r;
        rng_seed(&r, seed * 7);
        int64_t now = 0, win = -1, reqs = 0, toks = 0;
        struct rec *rec = calloc(1, sizeof *rec);
        for (int i = 0; i < 5000; i++) {
            now += (int64_t)rng_exp(&r, 200000);
            if (now / US_PER_MIN != win) {
                win = now / US_PER_MIN;
                reqs = toks = 0;
            }
            int64_t prompt = 1 + (int64_t)rng_below(&r, 1000), max = (int64_t)rng_below(&r, 500);
            struct provider_decision d;
            rec->n = 0;
            provider_advance(p, now, record, rec);
            if (submit(p, now, prompt, max, 1, &d) == PROVIDER_ACCEPTED) {
                reqs++;
                toks += prompt + (max ? max : 1);
            } else {
                ck_assert_int_gt(d.rl.retry_after_us, 0);
                ck_assert_int_le(now + d.rl.retry_after_us, (win + 1) * US_PER_MIN);
            }
            ck_assert_int_le(reqs, 50);
            ck_assert_int_le(toks, 20000);
        }
        free(rec);
        provider_free(p);
    }
}
END_TEST

/*
 * Property: in bucket mode, any span of W µs admits at most capacity +
 * limit·W/period requests, the capacity being the limit (the default burst) or
 * the burst's worth (seeds above 5: 1 s, 250 ms, 1 µs, 20 s, 5 min).
 */
START_TEST(bucket_never_over_bound)
{
    enum { N = 20000 };
    static int64_t admitted[N];
    static const int64_t bursts[] = {US_PER_S, 250000, 1, 20 * US_PER_S, 5 * US_PER_MIN};
    for (uint64_t seed = 1; seed <= 10; seed++) {
        struct server_config c = base_cfg();
        c.requests_per_minute = 120;
        c.burst_us = seed > 5 ? bursts[seed - 6] : 0;
        int64_t cap = seed > 5 ? limiter_burst_capacity(120, US_PER_MIN, c.burst_us) : 120;
        provider *p = mk(&c, seed);
        struct rng r;
        rng_seed(&r, seed);
        int64_t now = 0;
        int n = 0;
        for (int i = 0; i < N; i++) {
            /* Bursty offered load, well above the limit on average. */
            now += rng_below(&r, 10) == 0 ? (int64_t)rng_exp(&r, 2 * US_PER_S)
                                          : (int64_t)rng_exp(&r, 20000);
            struct provider_decision d;
            if (submit(p, now, 1, 0, 1, &d) == PROVIDER_ACCEPTED)
                admitted[n++] = now;
        }
        ck_assert_int_gt(n, 1000);
        const int64_t spans[] = {1, US_PER_S, 10 * US_PER_S, US_PER_MIN, 5 * US_PER_MIN};
        for (int k = 0; k < 5; k++) {
            int64_t w = spans[k], bound = cap + (120 * w + US_PER_MIN - 1) / US_PER_MIN;
            int lo = 0;
            for (int hi = 0; hi < n; hi++) {
                while (admitted[hi] - admitted[lo] >= w)
                    lo++;
                ck_assert_int_le(hi - lo + 1, bound);
            }
        }
        provider_free(p);
    }
}
END_TEST

/* Property: in bucket mode, retrying exactly at retry_after succeeds (nothing else charged). */
START_TEST(bucket_retry_after_is_exact)
{
    for (uint64_t seed = 1; seed <= 40; seed++) {
        struct server_config c = base_cfg();
        c.requests_per_minute = 7;
        c.tokens_per_minute = 3333;
        c.tokens_per_day = 100000;
        /* seeds above 20: a 1 s or 20 s burst (56 or 1,111 tokens), so most prompts
         * exceed the TPM bucket and wait for it to be full */
        c.burst_us = seed <= 20 ? 0 : seed % 2 ? US_PER_S : 20 * US_PER_S;
        provider *p = mk(&c, seed);
        struct rng r;
        rng_seed(&r, seed);
        int64_t now = 0;
        for (int i = 0; i < 300; i++) {
            now += (int64_t)rng_below(&r, 3 * US_PER_S);
            int64_t prompt = 1 + (int64_t)rng_below(&r, 2000);
            struct provider_decision d;
            if (submit(p, now, prompt, 0, 1, &d) == PROVIDER_RATE_LIMITED &&
                d.rl.retry_after_us > 0) {
                int64_t w = d.rl.retry_after_us;
                struct provider_decision e;
                if (w > 1) {
                    ck_assert_int_eq(submit(p, now + w - 1, prompt, 0, 1, &e),
                                     PROVIDER_RATE_LIMITED);
                }
                now += w;
                ck_assert_int_eq(submit(p, now, prompt, 0, 1, &e), PROVIDER_ACCEPTED);
            }
        }
        provider_free(p);
    }
}
END_TEST

/* ---- the client core in front of the provider -------------------------------- */

/*
 * A small engine: the client core (client.h) sends straight into the provider
 * on one scripted clock, as the sim does. Every request uses max_tokens in full,
 * so the client's reservation and the server's charge are the same number.
 */
enum { DUO_MAX = 1024 };

struct duo_req {
    struct client_req cr; /* first: the engine casts back */
};

struct duo {
    client *c;
    provider *p;
    struct duo_req r[DUO_MAX];
    int64_t n429, succeeded, ended;
};

static void duo_terminal(void *ctx, struct client_req *cr, enum client_state st, int status,
                         int64_t now)
{
    struct duo *d = ctx;
    (void)cr, (void)status, (void)now;
    d->ended++;
    d->succeeded += st == CLIENT_SUCCEEDED;
}

static void duo_answer(void *ctx, const struct provider_event *ev)
{
    struct duo *d = ctx;
    if (ev->kind == PROVIDER_EV_DONE)
        client_on_response(d->c, ev->handle, ev->t_us, 200, &ev->rl, ev->prompt_tokens,
                           ev->completion_tokens);
}

/*
 * A cold-start spike at 0 of `spike` requests (every 10th a large one, 2,500
 * tokens), then 2 small ones per second for a minute; small ones cost 200 tokens.
 * Runs until every request has ended; returns the requests that arrived.
 */
static int duo_run(struct duo *d, const struct client_config *ccfg,
                   const struct server_config *scfg, int spike)
{
    struct rng root;
    rng_seed(&root, 3);
    d->p = provider_new(scfg, &root);
    struct client_callbacks cb = {duo_terminal, NULL, d};
    const struct client_class cl = {.priority = 0, .weight = 1, .timeout_us = 0};
    int err;
    d->c = client_new(ccfg, &cl, 1, &root, &cb, 0, &err);
    ck_assert_ptr_nonnull(d->c);
    int n = spike + 120, next = 0;
    ck_assert_int_le(n, DUO_MAX);
    int64_t now = 0;
    for (int turns = 0; turns < 100000; turns++) {
        int64_t arrival = next < n ? (next < spike ? 0 : (next - spike) * 500000) : TIME_NEVER;
        int64_t t = arrival, w = client_next_wakeup(d->c), e = provider_next_event_us(d->p);
        t = w < t ? w : t;
        t = e < t ? e : t;
        if (t == TIME_NEVER)
            break;
        now = t > now ? t : now;
        provider_advance(d->p, now, duo_answer, d);
        for (; next < n && (next < spike ? 0 : (next - spike) * 500000) <= now; next++) {
            bool large = next < spike && next % 10 == 9;
            client_req_init(&d->r[next].cr, 0, now, large ? 1500 : 100, large ? 1000 : 100);
            ck_assert_int_eq(client_submit(d->c, &d->r[next].cr, now), 0);
        }
        struct client_req *out[64];
        int k;
        do {
            k = client_poll(d->c, now, out, 64);
            for (int i = 0; i < k; i++) {
                struct provider_decision dec;
                int kind = provider_submit(d->p, now, out[i]->prompt_tokens, out[i]->max_tokens,
                                           out[i]->max_tokens, out[i], &dec);
                if (kind == PROVIDER_RATE_LIMITED) {
                    d->n429++;
                    client_on_response(d->c, out[i], now, 429, &dec.rl, -1, -1);
                } else {
                    ck_assert_int_eq(kind, PROVIDER_ACCEPTED);
                }
            }
        } while (k == 64);
    }
    ck_assert_int_eq(d->ended, n);
    client_free(d->c);
    provider_free(d->p);
    return n;
}

/*
 * A server with a 1 s burst (600 RPM, 60,000 TPM: buckets of 10 requests and 1,000
 * tokens). A client configured with today's semantics (1 m) sends the spike at
 * once and draws 429s; the same client with a matching 1 s burst draws none,
 * large requests included (each goes from a full bucket on both sides), and every
 * request succeeds. Against the 1 m server the 1 m client draws none either.
 */
START_TEST(client_with_matching_burst_draws_no_429)
{
    struct scenario sc;
    scenario_defaults(&sc);
    struct client_config cc = sc.client;
    cc.requests_per_minute = 600;
    cc.tokens_per_minute = 60000;
    cc.priority = PRIORITY_FIFO;
    cc.request_timeout_us = 0;
    cc.retry.jitter = JITTER_NONE;
    struct server_config sv = base_cfg();
    sv.requests_per_minute = 600;
    sv.tokens_per_minute = 60000;
    sv.service_mean_us = 200 * US_PER_MS;
    struct duo *d = calloc(1, sizeof *d);

    sv.burst_us = US_PER_S;
    cc.burst_us = US_PER_MIN;
    duo_run(d, &cc, &sv, 200);
    ck_assert_int_gt(d->n429, 100); /* the spike, beyond 10 requests / 1,000 tokens */

    memset(d, 0, sizeof *d);
    cc.burst_us = US_PER_S;
    int n = duo_run(d, &cc, &sv, 200);
    ck_assert_int_eq(d->n429, 0);
    ck_assert_int_eq(d->succeeded, n);

    memset(d, 0, sizeof *d);
    sv.burst_us = cc.burst_us = US_PER_MIN;
    n = duo_run(d, &cc, &sv, 200);
    ck_assert_int_eq(d->n429, 0);
    ck_assert_int_eq(d->succeeded, n);
    free(d);
}
END_TEST

/* ---- queueing theory ------------------------------------------------------- */

struct sojourn {
    int64_t warm_us; /* ignore customers submitted before this (warm-up) */
    double sum_us;
    int64_t n, waited;
};

static void sojourn_rec(void *ctx, const struct provider_event *ev)
{
    struct sojourn *s = ctx;
    if (ev->kind != PROVIDER_EV_DONE || ev->submit_us < s->warm_us)
        return;
    s->sum_us += (double)(ev->done_us - ev->submit_us);
    s->waited += ev->start_us > ev->submit_us;
    s->n++;
}

static double erlang_c(int c, double a)
{
    double term = 1, sum = 1;
    for (int k = 1; k < c; k++) {
        term *= a / k;
        sum += term;
    }
    double top = term * a / c / (1 - a / c);
    return top / (sum + top);
}

/*
 * Poisson arrivals straight into the provider (no client core): the mean sojourn
 * over 10 seeds against the closed form, within 3 standard errors of the mean
 * over seeds; for M/M/c also the probability of waiting (Erlang C).
 */
static void queue_case(enum service_kind kind, int c, double rho, double want_w_s, double want_pw)
{
    enum { SEEDS = 10, CUSTOMERS = 40000 };
    double lambda = rho * c, w[SEEDS], pw[SEEDS], mw = 0, mp = 0;
    for (int k = 0; k < SEEDS; k++) {
        struct server_config cfg = base_cfg();
        cfg.service = kind;
        cfg.service_mean_us = US_PER_S;
        cfg.max_running = c;
        provider *p = mk(&cfg, 500 + k);
        struct rng ar;
        rng_seed(&ar, 9000 + k);
        struct sojourn s = {(int64_t)(CUSTOMERS / 10 / lambda * US_PER_S), 0, 0, 0};
        double t = 0;
        for (int i = 0; i < CUSTOMERS; i++) {
            t += rng_exp(&ar, US_PER_S / lambda);
            int64_t now = llround(t);
            provider_advance(p, now, sojourn_rec, &s);
            struct provider_decision d;
            ck_assert_int_eq(submit(p, now, 1, 0, 1, &d), PROVIDER_ACCEPTED);
        }
        provider_advance(p, TIME_NEVER - 1, sojourn_rec, &s);
        w[k] = s.sum_us / (double)s.n / US_PER_S;
        pw[k] = (double)s.waited / (double)s.n;
        mw += w[k] / SEEDS;
        mp += pw[k] / SEEDS;
        provider_free(p);
    }
    double vw = 0, vp = 0;
    for (int k = 0; k < SEEDS; k++) {
        vw += (w[k] - mw) * (w[k] - mw) / (SEEDS - 1);
        vp += (pw[k] - mp) * (pw[k] - mp) / (SEEDS - 1);
    }
    double sew = sqrt(vw / SEEDS), sep = sqrt(vp / SEEDS);
    ck_assert_msg(fabs(mw - want_w_s) <= 3 * sew, "c=%d rho=%.2f: sojourn %.4f ± %.4f, theory %.4f",
                  c, rho, mw, sew, want_w_s);
    if (want_pw >= 0)
        ck_assert_msg(fabs(mp - want_pw) <= 3 * sep, "c=%d rho=%.2f: P(wait) %.4f ± %.4f, theory %.4f",
                      c, rho, mp, sep, want_pw);
}

START_TEST(mm1_mmc_md1)
{
    /* M/M/1: W = 1/(μ − λ). */
    queue_case(SERVICE_EXPONENTIAL, 1, 0.5, 2.0, 0.5);
    queue_case(SERVICE_EXPONENTIAL, 1, 0.9, 10.0, 0.9);
    /* M/M/c: W = C(c, a)/(cμ − λ) + 1/μ. */
    double pw = erlang_c(4, 2.8);
    queue_case(SERVICE_EXPONENTIAL, 4, 0.7, pw / (4 - 2.8) + 1, pw);
    pw = erlang_c(8, 7.2);
    queue_case(SERVICE_EXPONENTIAL, 8, 0.9, pw / (8 - 7.2) + 1, pw);
    /* M/D/1 (Pollaczek–Khinchine): W = 1/μ + ρ/(2μ(1 − ρ)). */
    queue_case(SERVICE_DETERMINISTIC, 1, 0.5, 1.5, -1);
    queue_case(SERVICE_DETERMINISTIC, 1, 0.9, 1 + 0.9 / 0.2, -1);
}
END_TEST

/* ---- srvlimit directly ------------------------------------------------------ */

START_TEST(srvlimit_unit)
{
    struct srvlimit l;
    srvlimit_init(&l, 0, US_PER_MIN, 0, ENFORCE_BUCKET, 0);
    ck_assert(srvlimit_unlimited(&l));
    ck_assert_int_eq(srvlimit_wait_us(&l, INT64_MAX / 2), 0);
    /* Enormous limits and times stay exact (128-bit level). */
    srvlimit_init(&l, INT64_MAX / 4, US_PER_DAY, 0, ENFORCE_BUCKET, 0);
    srvlimit_charge(&l, INT64_MAX / 4);
    srvlimit_update(&l, US_PER_DAY);
    ck_assert_int_eq(srvlimit_remaining(&l), INT64_MAX / 4);
    srvlimit_update(&l, INT64_MAX / 2);
    ck_assert_int_eq(srvlimit_remaining(&l), INT64_MAX / 4);
    /* A bucket answers as of the latest time seen; an earlier one is ignored. */
    srvlimit_init(&l, 60, US_PER_MIN, 0, ENFORCE_BUCKET, 0);
    srvlimit_charge(&l, 60);
    ck_assert_int_eq(srvlimit_wait_us(&l, 1), US_PER_S);
    ck_assert_int_eq(srvlimit_reset_us(&l), US_PER_MIN);
    srvlimit_update(&l, -5 * US_PER_S);
    ck_assert_int_eq(srvlimit_wait_us(&l, 1), US_PER_S);
    ck_assert_int_eq(srvlimit_remaining(&l), 0);
    srvlimit_update(&l, 1500000);
    ck_assert_int_eq(srvlimit_wait_us(&l, 1), 0);
    ck_assert_int_eq(srvlimit_wait_us(&l, 2), 500000);
    ck_assert_int_eq(srvlimit_remaining(&l), 1);
    ck_assert_int_eq(srvlimit_reset_us(&l), US_PER_MIN - 1500000);
    srvlimit_charge(&l, 1);
    srvlimit_update(&l, US_PER_S);
    ck_assert_int_eq(srvlimit_remaining(&l), 0);
    ck_assert_int_eq(srvlimit_reset_us(&l), US_PER_MIN - 500000);
    ck_assert_int_eq(srvlimit_wait_us(&l, 61), -1);
    /* A capacity below the limit (the server's burst): a cost above it goes from full,
     * into debt; remaining never shows the debt, the reset time counts it. */
    srvlimit_init(&l, 60000, US_PER_MIN, 1000, ENFORCE_BUCKET, 0);
    ck_assert_int_eq(srvlimit_remaining(&l), 1000);
    ck_assert_int_eq(srvlimit_wait_us(&l, 2500), 0);
    srvlimit_charge(&l, 2500);
    ck_assert_int_eq(srvlimit_remaining(&l), 0);
    ck_assert_int_eq(srvlimit_reset_us(&l), 2500000);
    ck_assert_int_eq(srvlimit_wait_us(&l, 1), 1501000);
    ck_assert_int_eq(srvlimit_wait_us(&l, 60000), 2500000);
    ck_assert_int_eq(srvlimit_wait_us(&l, 60001), -1);
    srvlimit_update(&l, 2 * US_PER_S);
    ck_assert_int_eq(srvlimit_remaining(&l), 500);
    /* Window mode has no capacity: a window's quota is its burst. */
    srvlimit_init(&l, 2, US_PER_MIN, 1, ENFORCE_WINDOW, 0);
    ck_assert_int_eq(srvlimit_wait_us(&l, 2), 0);
    /* Windows at negative times align with floor division. */
    srvlimit_init(&l, 2, US_PER_MIN, 0, ENFORCE_WINDOW, -1);
    ck_assert_int_eq(l.win_start_us, -US_PER_MIN);
    srvlimit_charge(&l, 2);
    ck_assert_int_eq(srvlimit_wait_us(&l, 1), 1);
    srvlimit_update(&l, 0);
    ck_assert_int_eq(srvlimit_wait_us(&l, 1), 0);
}
END_TEST

/* ---- headers --------------------------------------------------------------- */

struct hdrs {
    char text[2048];
};

static void collect(void *ctx, const char *name, const char *value)
{
    struct hdrs *h = ctx;
    size_t n = strlen(h->text);
    snprintf(h->text + n, sizeof h->text - n, "%s: %s\n", name, value);
}

START_TEST(reset_durations)
{
    char b[64];
    ck_assert_str_eq(provider_format_reset(0, b, sizeof b), "0s");
    ck_assert_str_eq(provider_format_reset(1, b, sizeof b), "1ms");
    ck_assert_str_eq(provider_format_reset(12000, b, sizeof b), "12ms");
    ck_assert_str_eq(provider_format_reset(12001, b, sizeof b), "13ms");
    ck_assert_str_eq(provider_format_reset(999999, b, sizeof b), "1s");
    ck_assert_str_eq(provider_format_reset(US_PER_S, b, sizeof b), "1s");
    ck_assert_str_eq(provider_format_reset(1500000, b, sizeof b), "1.5s");
    ck_assert_str_eq(provider_format_reset(1020000, b, sizeof b), "1.02s");
    ck_assert_str_eq(provider_format_reset(7660000, b, sizeof b), "7.66s");
    ck_assert_str_eq(provider_format_reset(6 * US_PER_MIN, b, sizeof b), "6m0s");
    ck_assert_str_eq(provider_format_reset(86400000, b, sizeof b), "1m26.4s");
    ck_assert_str_eq(provider_format_reset(US_PER_HOUR, b, sizeof b), "1h0m0s");
    ck_assert_str_eq(provider_format_reset(US_PER_DAY + 61 * US_PER_S, b, sizeof b), "24h1m1s");
}
END_TEST

START_TEST(openai_headers)
{
    struct server_config c = base_cfg();
    c.requests_per_minute = 60;
    c.tokens_per_minute = 150000;
    provider *p = mk(&c, 1);
    struct provider_decision d;
    for (int i = 0; i < 60; i++)
        submit(p, 0, 1000, 500, 10, &d);
    ck_assert_int_eq(submit(p, 250000, 1000, 500, 10, &d), PROVIDER_RATE_LIMITED);
    struct hdrs h = {""};
    int n = provider_format_headers(HEADERS_OPENAI, &d.rl, 0, collect, &h);
    ck_assert_int_eq(n, 8);
    /* RPM: 60 used, 0.25 s refilled a quarter request; TPM: 90,000 used + 625 back. */
    ck_assert_str_eq(h.text, "retry-after: 1\n"
                             "retry-after-ms: 750\n"
                             "x-ratelimit-limit-requests: 60\n"
                             "x-ratelimit-limit-tokens: 150000\n"
                             "x-ratelimit-remaining-requests: 0\n"
                             "x-ratelimit-remaining-tokens: 60625\n"
                             "x-ratelimit-reset-requests: 59.75s\n"
                             "x-ratelimit-reset-tokens: 35.75s\n");
    /* A 200 carries no retry-after. */
    provider_rlinfo(p, 60 * US_PER_S, &d.rl);
    h.text[0] = 0;
    provider_format_headers(HEADERS_OPENAI, &d.rl, 0, collect, &h);
    ck_assert_str_eq(h.text, "x-ratelimit-limit-requests: 60\n"
                             "x-ratelimit-limit-tokens: 150000\n"
                             "x-ratelimit-remaining-requests: 60\n"
                             "x-ratelimit-remaining-tokens: 150000\n"
                             "x-ratelimit-reset-requests: 0s\n"
                             "x-ratelimit-reset-tokens: 0s\n");
    /* Never fits: x-should-retry false, no retry-after. */
    ck_assert_int_eq(submit(p, 60 * US_PER_S, 150001, 0, 1, &d), PROVIDER_RATE_LIMITED);
    h.text[0] = 0;
    provider_format_headers(HEADERS_OPENAI, &d.rl, 0, collect, &h);
    ck_assert(strncmp(h.text, "x-should-retry: false\nx-ratelimit-limit-requests: 60\n", 52) == 0);
    ck_assert_int_eq(provider_format_headers(HEADERS_NONE, &d.rl, 0, collect, &h), 0);
    provider_free(p);
}
END_TEST

START_TEST(anthropic_headers)
{
    struct rlinfo ri;
    rlinfo_clear(&ri);
    ri.retry_after_us = 2500000;
    ri.limit_requests = 50;
    ri.remaining_requests = 0;
    ri.reset_requests_us = 1200000;
    ri.limit_tokens = 40000;
    ri.remaining_tokens = 123;
    ri.reset_tokens_us = 0;
    struct hdrs h = {""};
    /* 2025-11-28T18:05:05.5Z */
    int64_t now = 1764353105500000LL;
    ck_assert_int_eq(provider_format_headers(HEADERS_ANTHROPIC, &ri, now, collect, &h), 7);
    ck_assert_str_eq(h.text, "retry-after: 3\n"
                             "anthropic-ratelimit-requests-limit: 50\n"
                             "anthropic-ratelimit-requests-remaining: 0\n"
                             "anthropic-ratelimit-requests-reset: 2025-11-28T18:05:07Z\n"
                             "anthropic-ratelimit-tokens-limit: 40000\n"
                             "anthropic-ratelimit-tokens-remaining: 123\n"
                             "anthropic-ratelimit-tokens-reset: 2025-11-28T18:05:06Z\n");
    /* Calendar edges: leap day, century. */
    rlinfo_clear(&ri);
    ri.reset_requests_us = 0;
    h.text[0] = 0;
    provider_format_headers(HEADERS_ANTHROPIC, &ri, 951782400LL * US_PER_S, collect, &h);
    ck_assert_str_eq(h.text, "anthropic-ratelimit-requests-reset: 2000-02-29T00:00:00Z\n");
    h.text[0] = 0;
    provider_format_headers(HEADERS_ANTHROPIC, &ri, 4102444799200000LL, collect, &h);
    ck_assert_str_eq(h.text, "anthropic-ratelimit-requests-reset: 2100-01-01T00:00:00Z\n");
    h.text[0] = 0;
    provider_format_headers(HEADERS_ANTHROPIC, &ri, 0, collect, &h);
    ck_assert_str_eq(h.text, "anthropic-ratelimit-requests-reset: 1970-01-01T00:00:00Z\n");
}
END_TEST

START_TEST(names)
{
    ck_assert_str_eq(provider_limit_name(PROVIDER_LIMIT_RPM), "rpm");
    ck_assert_str_eq(provider_limit_name(PROVIDER_LIMIT_CONCURRENCY), "concurrency");
    ck_assert_str_eq(provider_fault_name(PROVIDER_FAULT_STALL), "stall");
    provider_free(NULL);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("provider");
    TCase *lim = tcase_create("limits");
    tcase_add_test(lim, rpm_bucket_boundary);
    tcase_add_test(lim, rpm_window_boundary);
    tcase_add_test(lim, tpm_bucket_exact_wait);
    tcase_add_test(lim, tpm_window_boundary);
    tcase_add_test(lim, tpd_window_and_too_large);
    tcase_add_test(lim, tpd_bucket);
    tcase_add_test(lim, several_limits_longest_wait);
    tcase_add_test(lim, concurrency_limit);
    tcase_add_test(lim, burst_cold_start_spike);
    tcase_add_test(lim, client_with_matching_burst_draws_no_429);
    tcase_add_test(lim, window_never_over_limit);
    tcase_add_test(lim, bucket_retry_after_is_exact);
    tcase_add_test(lim, bucket_never_over_bound);
    tcase_add_test(lim, srvlimit_unit);
    suite_add_tcase(s, lim);
    TCase *cap = tcase_create("capacity");
    tcase_set_timeout(cap, 60);
    tcase_add_test(cap, overloaded_above_max_waiting);
    tcase_add_test(cap, fifo_waiting_queue);
    tcase_add_test(cap, equal_times_fifo);
    tcase_add_test(cap, batch_slowdown);
    tcase_add_test(cap, exponential_mean);
    tcase_add_test(cap, fault_shares);
    tcase_add_test(cap, stall_and_malformed_events);
    tcase_add_test(cap, cancel_frees_capacity);
    tcase_add_test(cap, cancel_stall_and_after_first_token);
    tcase_add_test(cap, cancel_anywhere_matches_model);
    tcase_add_test(cap, reentrant_and_bounded_memory);
    tcase_add_test(cap, wants_and_first_token_from_end);
    suite_add_tcase(s, cap);
    TCase *theory = tcase_create("theory");
    tcase_set_timeout(theory, 120);
    tcase_add_test(theory, mm1_mmc_md1);
    suite_add_tcase(s, theory);
    TCase *hdr = tcase_create("headers");
    tcase_add_test(hdr, reset_durations);
    tcase_add_test(hdr, openai_headers);
    tcase_add_test(hdr, anthropic_headers);
    tcase_add_test(hdr, names);
    suite_add_tcase(s, hdr);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
