/*
 * redis_bench: admissions per second through the Redis backend (src/shared/redis_be.c)
 * on one libevent loop, as the client core drives it (one admission asked at a time),
 * with redis_batch = 1 and larger, and the round trips each admission costs.
 *
 * Each admitted request is answered at once (done() in the same loop turn), so the
 * figure is the backend's own ceiling: script calls and their round trips to a
 * redis-server on loopback, no HTTP. Usage: redis_bench PORT ADMISSIONS BATCH...
 */
#include "config.h"

#include <event2/event.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "limiter.h"
#include "redis_be.h"
#include "util.h"

struct st {
    struct event_base *base;
    int rc;
    uint64_t ticket;
    int64_t wait;
    int ready;
};

static int64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * US_PER_S + ts.tv_nsec / 1000;
}

static int64_t now_cb(void *ctx)
{
    (void)ctx;
    return mono();
}

static void answer_cb(void *ctx, int64_t now, int rc, int64_t wait, uint64_t ticket)
{
    struct st *s = ctx;
    (void)now;
    s->rc = rc;
    s->wait = wait;
    s->ticket = ticket;
    event_base_loopbreak(s->base);
}

static void ready_cb(void *ctx, int status)
{
    struct st *s = ctx;
    s->ready = status == 0 ? 1 : -1;
    event_base_loopbreak(s->base);
}

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: redis_bench PORT ADMISSIONS BATCH...\n");
        return 2;
    }
    int port = atoi(argv[1]);
    int64_t n = atoll(argv[2]);
    for (int a = 3; a < argc; a++) {
        struct client_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.requests_per_minute = 6000000000; /* never the bottleneck: 100 M/s */
        cfg.tokens_per_minute = 600000000000;
        cfg.max_concurrent = 1000;            /* slots are leased and released all the same */
        cfg.burst_us = US_PER_MIN;
        cfg.backend = BACKEND_REDIS;
        snprintf(cfg.redis.url, sizeof cfg.redis.url, "redis://127.0.0.1:%d/0", port);
        snprintf(cfg.redis.key_prefix, sizeof cfg.redis.key_prefix, "bench%d:", a);
        cfg.redis.failure = REDIS_FAIL_CLOSED;
        cfg.redis.timeout_us = US_PER_S;
        cfg.redis.batch = atoll(argv[a]);
        cfg.redis.lease_us = 10 * US_PER_S;
        struct st s = {.base = event_base_new()};
        struct redis_be_hooks hk = {.now = now_cb, .answer = answer_cb, .ready = ready_cb, .ctx = &s};
        char err[256];
        redis_be *b = redis_be_new(s.base, &cfg, 0, &hk, err, sizeof err);
        if (!b) {
            fprintf(stderr, "redis_bench: %s\n", err);
            return 1;
        }
        if (!s.ready)
            event_base_dispatch(s.base);
        if (s.ready != 1) {
            fprintf(stderr, "redis_bench: no Redis on 127.0.0.1:%d\n", port);
            return 1;
        }
        const struct client_backend *be = redis_be_backend(b);
        int64_t admitted = 0, waits = 0, t0 = mono();
        while (admitted < n) {
            int64_t w;
            uint64_t ticket = 0;
            int rc = be->admit(be->ctx, mono(), 100, &w, &ticket);
            if (rc == CLIENT_PENDING) {
                event_base_dispatch(s.base); /* until the answer */
                rc = s.rc;
                ticket = s.ticket;
            }
            if (rc != LIMITER_OK) {
                waits++;
                continue;
            }
            admitted++;
            be->done(be->ctx, ticket, mono(), 100, 100); /* answered at once */
        }
        event_base_loop(s.base, EVLOOP_ONCE | EVLOOP_NONBLOCK); /* the last releases */
        double secs = (double)(mono() - t0) / US_PER_S;
        struct report_redis r;
        redis_be_report(b, &r);
        int64_t trips = r.round_trips + r.releases + r.renewals;
        printf("batch %3" PRId64 ": %" PRId64 " admissions in %.3f s = %8.0f admissions/s; "
               "%" PRId64 " admission scripts + %" PRId64 " releases + %" PRId64
               " renewals = %.3f round trips per admission (%" PRId64 " from reservations, %"
               PRId64 " waits)\n",
               cfg.redis.batch, admitted, secs, (double)admitted / secs, r.round_trips,
               r.releases, r.renewals, (double)trips / (double)admitted, r.admitted_reserved,
               waits);
        redis_be_leave(b);
        redis_be_free(b);
        event_base_free(s.base);
    }
    return 0;
}
