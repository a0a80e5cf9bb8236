/*
 * check_redis: the quota shared through Redis ([client] backend = redis, doc/redis.md).
 *
 * Every test starts its own redis-server on 127.0.0.1 with a free port (no persistence,
 * no unix socket) and stops it; no traffic leaves loopback. Without redis-server the suite
 * is skipped (exit 77), except under CI (CI=true), where that is a failure.
 *
 * The backend alone on a libevent loop (its answers, reservation, failure policies,
 * script reload); the script's lease expiry; then `ratelab live` processes against one
 * in-process mock: four sharing one quota, one killed mid-run, Redis stopped mid-run.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "limiter.h"
#include "mock_client.h"
#include "redis_be.h"
#include "redis_script.h"
#include "scenario.h"
#include "testutil.h"
#include "util.h"

static const char *redis_bin;

/* ---- a redis-server of our own --------------------------------------------------- */

struct redis {
    pid_t pid;
    int port;
    char dir[64];
};

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    return ntohs(a.sin_port);
}

static redisContext *redis_conn(const struct redis *r)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

static void redis_start(struct redis *r)
{
    snprintf(r->dir, sizeof r->dir, "/tmp/ratelab-redis-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(r->dir));
    r->port = free_port();
    char port[16];
    snprintf(port, sizeof port, "%d", r->port);
    r->pid = fork();
    ck_assert_int_ge(r->pid, 0);
    if (r->pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, 1);
        execl(redis_bin, "redis-server", "--port", port, "--bind", "127.0.0.1", "--save", "",
              "--appendonly", "no", "--dir", r->dir, "--daemonize", "no", (char *)NULL);
        _exit(127);
    }
    /* Ready when it answers PING (it takes a few ms to listen). */
    for (int i = 0; i < 500; i++) {
        redisContext *c = redis_conn(r);
        if (c) {
            redisReply *rep = redisCommand(c, "PING");
            bool ok = rep && rep->type == REDIS_REPLY_STATUS;
            if (rep)
                freeReplyObject(rep);
            redisFree(c);
            if (ok)
                return;
        }
        usleep(10000);
    }
    ck_abort_msg("redis-server did not start on port %d", r->port);
}

static void redis_stop(struct redis *r)
{
    if (r->pid > 0) {
        kill(r->pid, SIGKILL);
        waitpid(r->pid, NULL, 0);
        r->pid = 0;
    }
    remove_tree(r->dir);
}

static long long redis_int(const struct redis *r, const char *cmd)
{
    redisContext *c = redis_conn(r);
    ck_assert_ptr_nonnull(c);
    redisReply *rep = redisCommand(c, cmd);
    ck_assert_msg(rep && rep->type == REDIS_REPLY_INTEGER, "%s: not an integer", cmd);
    long long v = rep->integer;
    freeReplyObject(rep);
    redisFree(c);
    return v;
}

/* ---- the script, called directly ---------------------------------------------------- */

/* One call of the script for process `proc`: {n, wait, procs, short, free_us}. */
static void script(redisContext *c, const char *prefix, const char *mode, const char *proc,
                   const char *lease, const char *maxc, const char *rpm, const char *rpm_cap,
                   long long count, long long tokens, long long out[5])
{
    char k[5][64], cnt[24], tok[24], chan[64];
    static const char *const names[5] = {"rpm", "tpm", "tpd", "procs", "held"};
    for (int i = 0; i < 5; i++)
        snprintf(k[i], sizeof k[i], "%s%s", prefix, names[i]);
    snprintf(cnt, sizeof cnt, "%lld", count);
    snprintf(tok, sizeof tok, "%lld", tokens);
    snprintf(chan, sizeof chan, "%sreleased", prefix);
    const char *argv[] = {"EVAL", redis_script_lua, "5", k[0], k[1], k[2], k[3], k[4], mode, proc,
                          lease, maxc, rpm, "60000000", rpm_cap, "0", "60000000", "0", "0",
                          "86400000000", "0", cnt, tok, chan};
    redisReply *r = redisCommandArgv(c, (int)(sizeof argv / sizeof argv[0]), argv, NULL);
    ck_assert_msg(r && r->type == REDIS_REPLY_ARRAY && r->elements == 5, "script %s: %s", mode,
                  r && r->type == REDIS_REPLY_ERROR ? r->str : "bad reply");
    for (int i = 0; i < 5; i++)
        out[i] = r->element[i]->integer;
    freeReplyObject(r);
}

START_TEST(script_gcra_leases_and_expiry)
{
    struct redis rs;
    redis_start(&rs);
    redisContext *c = redis_conn(&rs);
    long long o[5];
    /* 60 RPM, a burst of 3: a batch of 5 gets 3, then the next waits about a second */
    script(c, "g:", "admit", "A", "10000000", "0", "60", "3", 5, 0, o);
    ck_assert_int_eq(o[0], 3);
    ck_assert_int_eq(o[2], 1);
    script(c, "g:", "admit", "A", "10000000", "0", "60", "3", 1, 0, o);
    ck_assert_int_eq(o[0], 0);
    ck_assert_int_gt(o[1], 0);
    ck_assert_int_le(o[1], 1000000);
    ck_assert_int_eq(o[3], 1); /* the requests dimension is short */
    /* concurrency 2 as leases: A takes both, B is told the pool is full (-1), and when A's
     * lease (10 s, just renewed) can run out at the earliest */
    script(c, "c:", "admit", "A", "10000000", "2", "0", "0", 5, 0, o);
    ck_assert_int_eq(o[0], 2);
    ck_assert_int_eq(o[4], 0);
    script(c, "c:", "admit", "B", "10000000", "2", "0", "0", 1, 0, o);
    ck_assert_int_eq(o[0], 0);
    ck_assert_int_eq(o[1], -1);
    ck_assert_int_eq(o[2], 2); /* two processes registered */
    ck_assert_int_gt(o[4], 0);
    ck_assert_int_le(o[4], 10000001);
    /* A frees one from the full pool: published on c:released; B gets it */
    redisContext *sub = redis_conn(&rs);
    redisReply *sr = redisCommand(sub, "SUBSCRIBE c:released");
    ck_assert_ptr_nonnull(sr);
    freeReplyObject(sr);
    script(c, "c:", "done", "A", "10000000", "2", "0", "0", 1, 0, o);
    void *msg = NULL;
    ck_assert_int_eq(redisGetReply(sub, &msg), REDIS_OK);
    sr = msg;
    ck_assert_int_eq(sr->type, REDIS_REPLY_ARRAY);
    ck_assert_str_eq(sr->element[0]->str, "message");
    ck_assert_str_eq(sr->element[1]->str, "c:released");
    ck_assert_str_eq(sr->element[2]->str, "A"); /* who released */
    freeReplyObject(sr);
    redisFree(sub);
    script(c, "c:", "admit", "B", "10000000", "2", "0", "0", 1, 0, o);
    ck_assert_int_eq(o[0], 1);
    /* A leaves: its slot is free at once */
    script(c, "c:", "leave", "A", "10000000", "2", "0", "0", 0, 0, o);
    ck_assert_int_eq(o[2], 1);
    script(c, "c:", "admit", "B", "10000000", "2", "0", "0", 1, 0, o);
    ck_assert_int_eq(o[0], 1);
    /* a lease of 1 µs has run out by the next call (a round trip is longer): C's two
     * slots come back to D without C ever releasing them */
    script(c, "e:", "admit", "C", "1", "2", "0", "0", 2, 0, o);
    ck_assert_int_eq(o[0], 2);
    script(c, "e:", "admit", "D", "10000000", "2", "0", "0", 2, 0, o);
    ck_assert_int_eq(o[0], 2);
    ck_assert_int_eq(o[2], 1); /* C is gone from the registry */
    redisFree(c);
    ck_assert_int_eq(redis_int(&rs, "HLEN e:held"), 1);
    redis_stop(&rs);
}
END_TEST

/* ---- the backend on a loop of its own ------------------------------------------------- */

struct hb {
    struct event_base *base;
    redis_be *b;
    int answers;
    int rc;
    int64_t wait;
    uint64_t ticket;
    int ready;  /* 1 up, -1 failed, 0 not yet */
    int wakes;  /* hooks.wake calls */
    int64_t t0; /* CLOCK_MONOTONIC µs at start */
};

static int64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * US_PER_S + ts.tv_nsec / 1000;
}

static int64_t hb_now(void *ctx)
{
    return mono() - ((struct hb *)ctx)->t0;
}

static void hb_answer(void *ctx, int64_t now, int rc, int64_t wait, uint64_t ticket)
{
    struct hb *h = ctx;
    (void)now;
    h->answers++;
    h->rc = rc;
    h->wait = wait;
    h->ticket = ticket;
    event_base_loopbreak(h->base);
}

static void hb_wake(void *ctx, int64_t now)
{
    struct hb *h = ctx;
    (void)now;
    h->wakes++;
    event_base_loopbreak(h->base);
}

static void hb_ready(void *ctx, int status)
{
    struct hb *h = ctx;
    h->ready = status == 0 ? 1 : -1;
    event_base_loopbreak(h->base);
}

static struct client_config be_cfg(int port)
{
    struct scenario sc;
    scenario_defaults(&sc);
    struct client_config c = sc.client;
    c.backend = BACKEND_REDIS;
    snprintf(c.redis.url, sizeof c.redis.url, "redis://127.0.0.1:%d/0", port);
    c.redis.timeout_us = 500 * US_PER_MS;
    return c;
}

static void hb_open(struct hb *h, const struct client_config *c, int64_t procs)
{
    memset(h, 0, sizeof *h);
    h->t0 = mono();
    h->base = event_base_new();
    struct redis_be_hooks hk = {
        .now = hb_now, .answer = hb_answer, .ready = hb_ready, .wake = hb_wake, .ctx = h};
    char err[256];
    h->b = redis_be_new(h->base, c, procs, &hk, err, sizeof err);
    ck_assert_msg(h->b != NULL, "%s", err);
    if (!h->ready) /* a refused connection may have said so already */
        event_base_dispatch(h->base);
}

static void hb_close(struct hb *h)
{
    redis_be_leave(h->b);
    redis_be_free(h->b);
    event_base_free(h->base);
}

/* Ask once; a pending answer is waited for on the loop. Returns the rc. */
static int hb_admit(struct hb *h, int64_t cost, int64_t *wait, uint64_t *ticket)
{
    const struct client_backend *be = redis_be_backend(h->b);
    int n = h->answers;
    int rc = be->admit(be->ctx, hb_now(h), cost, wait, ticket);
    if (rc != CLIENT_PENDING)
        return rc;
    event_base_dispatch(h->base);
    ck_assert_int_eq(h->answers, n + 1);
    *wait = h->wait;
    *ticket = h->ticket;
    return h->rc;
}

START_TEST(backend_admits_releases_and_reserves)
{
    struct redis rs;
    redis_start(&rs);
    struct client_config c = be_cfg(rs.port);
    c.requests_per_minute = 600;
    c.max_concurrent = 3;
    c.redis.batch = 4;
    snprintf(c.redis.key_prefix, sizeof c.redis.key_prefix, "b:");
    struct hb h;
    hb_open(&h, &c, 0);
    ck_assert_int_eq(h.ready, 1);
    const struct client_backend *be = redis_be_backend(h.b);
    int64_t w;
    uint64_t tk[4];
    /* one round trip reserves 3 (the pool), the next two come from the reservation */
    ck_assert_int_eq(hb_admit(&h, 10, &w, &tk[0]), LIMITER_OK);
    ck_assert_int_eq(redis_int(&rs, "HLEN b:held"), 1); /* one process holds slots */
    ck_assert_int_eq(hb_admit(&h, 10, &w, &tk[1]), LIMITER_OK);
    ck_assert_int_eq(hb_admit(&h, 10, &w, &tk[2]), LIMITER_OK);
    struct report_redis st;
    redis_be_report(h.b, &st);
    ck_assert_int_eq(st.round_trips, 1);
    ck_assert_int_eq(st.admitted_redis, 3);
    ck_assert_int_eq(st.admitted_reserved, 2);
    /* the pool of 3 is full: asked again, told to wait for a release, or at the latest
     * until the holder's lease (this process's own, 10 s) can run out */
    ck_assert_int_eq(hb_admit(&h, 10, &w, &tk[3]), LIMITER_WAIT);
    ck_assert_int_gt(w - hb_now(&h), c.redis.lease_us / 2);
    ck_assert_int_le(w - hb_now(&h), c.redis.lease_us + 1);
    redis_be_report(h.b, &st);
    ck_assert_int_eq(st.pool_waits, 1);
    /* two answers in one loop turn go back in one call */
    be->done(be->ctx, tk[0], hb_now(&h), 10, 4);
    be->done(be->ctx, tk[1], hb_now(&h), 10, -1);
    event_base_loop(h.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
    redis_be_report(h.b, &st);
    ck_assert_int_eq(st.releases, 1);
    /* the next admission's script runs after the release: one slot held, two free */
    ck_assert_int_eq(hb_admit(&h, 10, &w, &tk[0]), LIMITER_OK);
    hb_close(&h);
    /* leaving hands everything back */
    ck_assert_int_eq(redis_int(&rs, "HLEN b:held"), 0);
    ck_assert_int_eq(redis_int(&rs, "ZCARD b:procs"), 0);
    redis_stop(&rs);
}
END_TEST

static void hb_break(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    event_base_loopbreak(arg);
}

/* Run h's loop until engine time `until` (its events run meanwhile). */
static void hb_run_until(struct hb *h, int64_t until)
{
    struct event *ev = evtimer_new(h->base, hb_break, h->base);
    struct timeval tv = {0, 0};
    int64_t d = until - hb_now(h);
    if (d > 0)
        tv = (struct timeval){(time_t)(d / US_PER_S), (suseconds_t)(d % US_PER_S)};
    evtimer_add(ev, &tv);
    while (hb_now(h) < until)
        event_base_dispatch(h->base);
    event_free(ev);
}

/* Until h's subscription to PREFIX released is in place (Redis counts one subscriber). */
static void hb_subscribed(struct hb *h, const struct redis *rs, const char *chan)
{
    char cmd[128];
    snprintf(cmd, sizeof cmd, "PUBSUB NUMSUB %s", chan);
    for (int i = 0; i < 500; i++) {
        event_base_loop(h->base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        redisContext *c = redis_conn(rs);
        redisReply *r = redisCommand(c, cmd);
        bool yes = r && r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
                   r->element[1]->integer == 1;
        freeReplyObject(r);
        redisFree(c);
        if (yes) {
            /* Redis wrote the SUBSCRIBE's confirmation before this answer: it is in the
             * backend's socket already; read it (a confirmation read later would count as
             * a possibly missed release) */
            event_base_loop(h->base, EVLOOP_NONBLOCK);
            return;
        }
        usleep(2000);
    }
    ck_abort_msg("the backend never subscribed to %s", chan);
}

/*
 * A full shared pool (1 slot). The holder X is a process the backend cannot see. First X
 * crashed: its 300 ms lease is the exact time to ask again (not a 2 ms tick), and then its
 * slot is back. Then a live holder Y: the wait is its 10 s lease, but Y's release is
 * published and wakes the backend at once: two admission scripts, one wake.
 */
START_TEST(backend_waits_for_a_release_or_a_lease)
{
    struct redis rs;
    redis_start(&rs);
    struct client_config c = be_cfg(rs.port);
    c.max_concurrent = 1;
    snprintf(c.redis.key_prefix, sizeof c.redis.key_prefix, "w:");
    redisContext *rc = redis_conn(&rs);
    long long o[5];
    script(rc, "w:", "admit", "X", "300000", "1", "0", "0", 1, 0, o);
    ck_assert_int_eq(o[0], 1);
    struct hb h;
    hb_open(&h, &c, 0);
    ck_assert_int_eq(h.ready, 1);
    hb_subscribed(&h, &rs, "w:released");
    int64_t w;
    uint64_t tk;
    ck_assert_int_eq(hb_admit(&h, 1, &w, &tk), LIMITER_WAIT);
    int64_t now = hb_now(&h);
    ck_assert_int_gt(w - now, 2000);        /* the old tick re-asked after 2 ms */
    ck_assert_int_le(w - now, 300000 + 1);  /* X's lease, from when X took the slot */
    hb_run_until(&h, w);                    /* what the engine does: ask again at w */
    ck_assert_int_eq(hb_admit(&h, 1, &w, &tk), LIMITER_OK); /* X was reaped */
    struct report_redis st;
    redis_be_report(h.b, &st);
    ck_assert_int_eq(st.round_trips, 2);
    ck_assert_int_eq(st.pool_waits, 1);
    ck_assert_int_eq(h.wakes, 0); /* X published nothing: this process reaped it */
    const struct client_backend *be = redis_be_backend(h.b);
    be->done(be->ctx, tk, hb_now(&h), 1, -1);
    for (int i = 0; i < 500 && redis_int(&rs, "HLEN w:held") > 0; i++) { /* sent, and run */
        event_base_loop(h.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(1000);
    }
    ck_assert_int_eq(redis_int(&rs, "HLEN w:held"), 0);

    script(rc, "w:", "admit", "Y", "10000000", "1", "0", "0", 1, 0, o);
    ck_assert_int_eq(o[0], 1);
    ck_assert_int_eq(hb_admit(&h, 1, &w, &tk), LIMITER_WAIT);
    ck_assert_int_gt(w - hb_now(&h), 5 * US_PER_S); /* Y's lease: nothing to ask before */
    ck_assert_int_eq(h.wakes, 0);
    script(rc, "w:", "done", "Y", "10000000", "1", "0", "0", 1, 0, o);
    while (h.wakes == 0)
        event_base_dispatch(h.base); /* the wake (test timeout: 30 s) */
    ck_assert_int_eq(h.wakes, 1);
    ck_assert_int_eq(hb_admit(&h, 1, &w, &tk), LIMITER_OK);
    redis_be_report(h.b, &st);
    ck_assert_int_eq(st.round_trips, 4);
    ck_assert_int_eq(st.pool_waits, 2);
    ck_assert_int_eq(st.release_wakes, 1);

    /* The subscription is lost, and Y's next release goes by unheard: the backend
     * subscribes again (after redis_timeout) and, a release possibly missed, wakes. */
    be->done(be->ctx, tk, hb_now(&h), 1, -1);
    for (int i = 0; i < 500 && redis_int(&rs, "HLEN w:held") > 0; i++) {
        event_base_loop(h.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
        usleep(1000);
    }
    script(rc, "w:", "admit", "Y", "10000000", "1", "0", "0", 1, 0, o);
    ck_assert_int_eq(o[0], 1);
    ck_assert_int_eq(redis_int(&rs, "CLIENT KILL TYPE pubsub"), 1);
    ck_assert_int_eq(hb_admit(&h, 1, &w, &tk), LIMITER_WAIT);
    script(rc, "w:", "done", "Y", "10000000", "1", "0", "0", 1, 0, o);
    while (h.wakes == 1)
        event_base_dispatch(h.base);
    ck_assert_int_eq(h.wakes, 2);
    ck_assert_int_eq(hb_admit(&h, 1, &w, &tk), LIMITER_OK);
    redis_be_report(h.b, &st);
    ck_assert_int_eq(st.release_wakes, 2);
    redisFree(rc);
    hb_close(&h);
    redis_stop(&rs);
}
END_TEST

/* This process's side of a shared daily budget: net tokens, and when TPD was first short. */
START_TEST(backend_daily_budget)
{
    struct redis rs;
    redis_start(&rs);
    struct client_config c = be_cfg(rs.port);
    c.tokens_per_day = 25;
    snprintf(c.redis.key_prefix, sizeof c.redis.key_prefix, "d:");
    struct hb h;
    hb_open(&h, &c, 0);
    int64_t w;
    uint64_t tk[2];
    ck_assert_int_eq(hb_admit(&h, 10, &w, &tk[0]), LIMITER_OK);
    ck_assert_int_eq(hb_admit(&h, 10, &w, &tk[1]), LIMITER_OK);
    struct report_budget bud;
    redis_be_budget(h.b, &bud);
    ck_assert_int_eq(bud.short_us, -1);
    ck_assert_int_eq(hb_admit(&h, 10, &w, &tk[1]), LIMITER_WAIT); /* 5 left of 25 */
    redis_be_budget(h.b, &bud);
    ck_assert_int_eq(bud.limit_tokens, 25);
    ck_assert_int_eq(bud.used_tokens, 20);
    ck_assert_int_ge(bud.short_us, 0);
    const struct client_backend *be = redis_be_backend(h.b);
    be->done(be->ctx, tk[0], hb_now(&h), 10, 4); /* it used 4: 6 refunded */
    redis_be_budget(h.b, &bud);
    ck_assert_int_eq(bud.used_tokens, 14);
    event_base_loop(h.base, EVLOOP_ONCE | EVLOOP_NONBLOCK); /* the refund goes out */
    ck_assert_int_eq(hb_admit(&h, 10, &w, &tk[0]), LIMITER_OK); /* 11 left now */
    hb_close(&h);
    redis_stop(&rs);
}
END_TEST

START_TEST(backend_reloads_its_script)
{
    struct redis rs;
    redis_start(&rs);
    struct client_config c = be_cfg(rs.port);
    c.requests_per_minute = 600;
    struct hb h;
    hb_open(&h, &c, 0);
    redisContext *rc = redis_conn(&rs);
    freeReplyObject(redisCommand(rc, "SCRIPT FLUSH"));
    redisFree(rc);
    int64_t w;
    uint64_t tk;
    ck_assert_int_eq(hb_admit(&h, 1, &w, &tk), LIMITER_OK); /* NOSCRIPT, then EVAL */
    ck_assert_int_eq(hb_admit(&h, 1, &w, &tk), LIMITER_OK); /* EVALSHA again */
    struct report_redis st;
    redis_be_report(h.b, &st);
    ck_assert_int_eq(st.errors, 0);
    ck_assert_int_eq(st.admitted_redis, 2);
    hb_close(&h);
    redis_stop(&rs);
}
END_TEST

START_TEST(backend_policies_without_redis)
{
    /* nothing listens on the port: the first connection fails at once */
    struct client_config c = be_cfg(free_port());
    c.requests_per_minute = 4;
    c.max_concurrent = 0;
    struct hb h;
    hb_open(&h, &c, 0);
    ck_assert_int_eq(h.ready, -1);
    int64_t w, now = hb_now(&h);
    uint64_t tk;
    /* closed: wait redis_timeout, counted */
    ck_assert_int_eq(hb_admit(&h, 1, &w, &tk), LIMITER_WAIT);
    ck_assert_int_ge(w, now + c.redis.timeout_us);
    struct report_redis st;
    redis_be_report(h.b, &st);
    ck_assert_int_eq(st.closed_waits, 1);
    ck_assert_int_ge(st.disconnects, 1);
    hb_close(&h);

    /* open, 2 processes known: limit / 2 = 2 requests a minute, locally */
    c.redis.failure = REDIS_FAIL_OPEN;
    hb_open(&h, &c, 2);
    ck_assert_int_eq(hb_admit(&h, 1, &w, &tk), LIMITER_OK);
    ck_assert_int_eq(hb_admit(&h, 1, &w, &tk), LIMITER_OK);
    ck_assert_int_eq(hb_admit(&h, 1, &w, &tk), LIMITER_WAIT);
    redis_be_report(h.b, &st);
    ck_assert_int_eq(st.open_admitted, 2);
    ck_assert_int_eq(st.open_share_n, 2);
    const struct client_backend *be = redis_be_backend(h.b);
    be->done(be->ctx, tk, hb_now(&h), 1, 1); /* a local admission goes back locally */
    hb_close(&h);
}
END_TEST

START_TEST(password_from_the_environment)
{
    /* the scenario holds only the variable's name: a literal password is refused at its line,
     * and the resolved scenario carries ${NAME} */
    struct scenario sc;
    struct scenario_error e;
    const char *lit = "[client]\nbackend = redis\nredis_url = redis://:hunter2@127.0.0.1:6379\n"
                      "[class.a]\narrival = poisson 1/s\n";
    ck_assert_int_eq(scenario_load_string(&sc, "s.ini", lit, NULL, 0, &e), -EINVAL);
    scenario_fini(&sc);
    ck_assert_int_eq(e.line, 3);
    ck_assert_ptr_null(strstr(e.msg, "hunter2"));
    ck_assert_ptr_nonnull(strstr(e.msg, "${NAME}"));
    const char *env = "[client]\nbackend = redis\n"
                      "redis_url = redis://:${RATELAB_TEST_REDIS_PW}@127.0.0.1:6379/1\n"
                      "[class.a]\narrival = poisson 1/s\n";
    setenv("RATELAB_TEST_REDIS_PW", "hunter2", 1);
    ck_assert_int_eq(scenario_load_string(&sc, "s.ini", env, NULL, 0, &e), 0);
    char *buf = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&buf, &n);
    scenario_write(&sc, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "redis_url = redis://:${RATELAB_TEST_REDIS_PW}@"));
    ck_assert_ptr_null(strstr(buf, "hunter2"));
    free(buf);
    scenario_fini(&sc);

    struct client_config c = be_cfg(6379);
    snprintf(c.redis.url, sizeof c.redis.url, "redis://:${RATELAB_TEST_REDIS_PW}@127.0.0.1:1/0");
    unsetenv("RATELAB_TEST_REDIS_PW");
    struct event_base *base = event_base_new();
    struct redis_be_hooks hk = {.now = hb_now, .answer = hb_answer};
    char err[256];
    ck_assert_ptr_null(redis_be_new(base, &c, 0, &hk, err, sizeof err));
    ck_assert_ptr_nonnull(strstr(err, "RATELAB_TEST_REDIS_PW"));
    event_base_free(base);

    /* a server with a password: connected with it */
    struct redis rs;
    redis_start(&rs);
    redisContext *rc = redis_conn(&rs);
    freeReplyObject(redisCommand(rc, "CONFIG SET requirepass s3cret-pw"));
    redisFree(rc);
    snprintf(c.redis.url, sizeof c.redis.url, "redis://:${RATELAB_TEST_REDIS_PW}@127.0.0.1:%d/2",
             rs.port);
    setenv("RATELAB_TEST_REDIS_PW", "s3cret-pw", 1);
    c.requests_per_minute = 60;
    struct hb h;
    hb_open(&h, &c, 0);
    ck_assert_int_eq(h.ready, 1);
    int64_t w;
    uint64_t tk;
    ck_assert_int_eq(hb_admit(&h, 1, &w, &tk), LIMITER_OK);
    hb_close(&h);
    unsetenv("RATELAB_TEST_REDIS_PW");
    redis_stop(&rs);
}
END_TEST

/* ---- ratelab live processes --------------------------------------------------------- */

struct tmp {
    char dir[64];
    char ini[512];
};

static void tmp_init(struct tmp *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/ratelab-rlive-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t->dir));
    snprintf(t->ini, sizeof t->ini, "%s/s.ini", t->dir);
}

static void tmp_fini(struct tmp *t)
{
    remove_tree(t->dir);
}


/* `ratelab live` i of run t in the background; its report in DIR/rI.json. */
static pid_t live_spawn(const struct tmp *t, int i, const char *addr, const char *extra)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "exec %s/ratelab live %s --url http://%s --json %s/r%d.json --quiet %s >%s/o%d.txt "
             "2>&1",
             BUILDDIR, t->ini, addr, t->dir, i, extra ? extra : "", t->dir, i);
    pid_t p = fork();
    ck_assert_int_ge(p, 0);
    if (p == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    return p;
}

static int live_wait(pid_t p)
{
    int st;
    ck_assert_int_eq(waitpid(p, &st, 0), p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static cJSON *report(const struct tmp *t, int i)
{
    char path[160];
    snprintf(path, sizeof path, "%s/r%d.json", t->dir, i);
    char *text = slurp_file(path);
    cJSON *j = cJSON_Parse(text);
    ck_assert_msg(j != NULL, "report %d is not JSON", i);
    free(text);
    return j;
}

static double jget(const cJSON *j, const char *a, const char *b, const char *c)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, a);
    if (b)
        v = cJSON_GetObjectItemCaseSensitive(v, b);
    if (c)
        v = cJSON_GetObjectItemCaseSensitive(v, c);
    ck_assert_msg(cJSON_IsNumber(v), "missing %s.%s.%s", a, b ? b : "", c ? c : "");
    return v->valuedouble;
}

/* Every request ended in exactly one state. */
static void accounting(const cJSON *j)
{
    static const char *const ends[] = {"succeeded", "failed", "rejected", "timed_out",
                                       "cancelled"};
    double sum = 0;
    for (int i = 0; i < 5; i++)
        sum += jget(j, "requests", ends[i], NULL);
    ck_assert_double_eq(sum, jget(j, "requests", "arrived", NULL));
}

/*
 * Four processes, 100/s offered each, share 200 requests/s (a 50 ms burst: 10) and 8 slots
 * through Redis, against one mock that allows 250/s and 8 running: the mock never answers
 * 429, and together they send the shared limit over the run, 200/s × 3 s = 600, within 3%
 * (at most the limit plus the burst: 610). The burst lets a loaded machine be 50 ms late
 * without losing tokens.
 */
START_TEST(four_processes_share_one_quota)
{
    struct redis rs;
    redis_start(&rs);
    struct tmp t;
    tmp_init(&t);
    char ini[1024];
    snprintf(ini, sizeof ini,
             "[scenario]\nduration = 3s\nat_end = cancel\n"
             "[client]\nrequests_per_minute = 12000\nburst = 50ms\nmax_concurrent = 8\n"
             "retry_max_attempts = 1\nbackend = redis\nredis_url = redis://127.0.0.1:%d/0\n"
             "redis_key_prefix = four:\n"
             "[server]\nrequests_per_minute = 15000\nburst = 100ms\nmax_concurrent = 8\n"
             "ttft = 2ms\nprefill_per_token = 0\ndecode_per_token = 0.1ms\n"
             "[class.a]\narrival = constant 100/s\nprompt_tokens = const 10\n"
             "completion_tokens = const 2\nmax_tokens = 2\n",
             rs.port);
    write_file(t.ini, ini);
    struct test_server s;
    test_server_start_ini(&s, t.ini);
    pid_t p[4];
    for (int i = 0; i < 4; i++)
        p[i] = live_spawn(&t, i, s.addr, "--redis-run four --redis-procs 4");
    for (int i = 0; i < 4; i++)
        ck_assert_int_eq(live_wait(p[i]), 0);
    double sent = 0, ok = 0;
    for (int i = 0; i < 4; i++) {
        cJSON *j = report(&t, i);
        accounting(j);
        ok += jget(j, "requests", "succeeded", NULL);
        sent += jget(j, "attempts", "sent", NULL);
        ck_assert_double_eq(jget(j, "live", "redis", "processes_max"), 4);
        ck_assert_double_eq(jget(j, "live", "redis", "closed_waits"), 0);
        cJSON_Delete(j);
    }
    double r429 = test_server_metric(&s, "ratelab_mock_responses_total{code=\"429\"}");
    double r200 = test_server_metric(&s, "ratelab_mock_responses_total{code=\"200\"}");
    fprintf(stderr, "four processes: %g sent, %g succeeded, mock 200s %g, 429s %g (limit 600)\n",
            sent, ok, r200, r429);
    ck_assert_double_le(r429, 0); /* absent (-1) or 0 */
    ck_assert_double_le(sent, 600 + 10 + 2); /* rate × duration + burst, + the ends' skew */
    ck_assert_double_ge(sent, 600 * 0.97);
    /* ratelab merge: one report of the four, the Redis figures summed */
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof cmd, "%s/ratelab merge %s/r0.json %s/r1.json %s/r2.json %s/r3.json "
             "--json %s/all.json", BUILDDIR, t.dir, t.dir, t.dir, t.dir, t.dir);
    ck_assert_msg(run_cmd(cmd, out, sizeof out) == 0, "%s", out);
    double admitted = 0;
    for (int i = 0; i < 4; i++) {
        cJSON *j = report(&t, i);
        admitted += jget(j, "live", "redis", "admitted_redis");
        cJSON_Delete(j);
    }
    char path[160];
    snprintf(path, sizeof path, "%s/all.json", t.dir);
    char *text = slurp_file(path);
    cJSON *all = cJSON_Parse(text);
    free(text);
    ck_assert_ptr_nonnull(all);
    ck_assert_double_eq(jget(all, "requests", "succeeded", NULL), ok);
    ck_assert_double_eq(jget(all, "live", "redis", "admitted_redis"), admitted);
    ck_assert_double_eq(jget(all, "live", "redis", "processes_max"), 4);
    cJSON_Delete(all);
    /* a reused run name is refused */
    pid_t q = live_spawn(&t, 9, s.addr, "--redis-run four --redis-procs 4");
    ck_assert_int_eq(live_wait(q), 2);
    test_server_stop(&s);
    tmp_fini(&t);
    ck_assert_int_eq(redis_int(&rs, "ZCARD four:procs"), 0);
    redis_stop(&rs);
}
END_TEST

/*
 * Two processes share 4 slots; requests take 200 ms. One is killed (SIGKILL) a second in,
 * holding its slots: they come back when its 300 ms lease runs out, and the survivor uses
 * all 4. Had they leaked, it could finish at most 4 s × 2 slots / 0.2 s = 40 + 2.
 */
START_TEST(killed_process_leases_expire)
{
    struct redis rs;
    redis_start(&rs);
    struct tmp t;
    tmp_init(&t);
    char ini[1024];
    snprintf(ini, sizeof ini,
             "[scenario]\nduration = 4s\nat_end = cancel\n"
             "[client]\nmax_concurrent = 4\nretry_max_attempts = 1\nbackend = redis\n"
             "redis_url = redis://127.0.0.1:%d/0\nredis_key_prefix = kill:\nredis_lease = 300ms\n"
             "[server]\nttft = 200ms\nprefill_per_token = 0\ndecode_per_token = 0\n"
             "decode_batch_slope = 0\n"
             "[class.a]\narrival = constant 50/s\nprompt_tokens = const 10\n"
             "completion_tokens = const 1\nmax_tokens = 1\n",
             rs.port);
    write_file(t.ini, ini);
    struct test_server s;
    test_server_start_ini(&s, t.ini);
    pid_t a = live_spawn(&t, 0, s.addr, "--redis-run kill --redis-procs 2");
    pid_t b = live_spawn(&t, 1, s.addr, "--redis-run kill --redis-procs 2");
    /* The run starts once both registered (well under a second here); kill A inside it. */
    usleep(1200 * 1000);
    kill(a, SIGKILL);
    live_wait(a);
    ck_assert_int_eq(live_wait(b), 0);
    cJSON *j = report(&t, 1);
    accounting(j);
    double ok = jget(j, "requests", "succeeded", NULL);
    fprintf(stderr, "killed process: the survivor finished %g (leaked slots would cap it at 42)\n",
            ok);
    ck_assert_double_ge(ok, 50);
    cJSON_Delete(j);
    test_server_stop(&s);
    tmp_fini(&t);
    /* the killed process was reaped from the registry, the survivor left */
    ck_assert_int_eq(redis_int(&rs, "ZCARD kill:procs"), 0);
    ck_assert_int_eq(redis_int(&rs, "HLEN kill:held"), 0);
    redis_stop(&rs);
}
END_TEST

/*
 * Two processes share a pool of 1 slot; each has one request at 0, which the server holds
 * for 1 s. The loser is told the pool is full and waits: for the winner's release,
 * published in Redis (its fallback, the winner's 10 s lease, is after the run's end). It
 * asks Redis a handful of times in all, not every 2 ms (~500 calls in that second), and
 * is admitted and served within the run once the winner's answer frees the slot.
 */
START_TEST(pool_full_waits_for_the_release)
{
    struct redis rs;
    redis_start(&rs);
    struct tmp t;
    tmp_init(&t);
    char ini[1024];
    snprintf(ini, sizeof ini,
             "[scenario]\nduration = 3s\nat_end = cancel\n"
             "[client]\nmax_concurrent = 1\nretry_max_attempts = 1\nbackend = redis\n"
             "redis_url = redis://127.0.0.1:%d/0\nredis_key_prefix = one:\n"
             "[server]\nttft = 1s\nprefill_per_token = 0\ndecode_per_token = 0\n"
             "decode_batch_slope = 0\n"
             "[class.a]\narrival = burst 0s 1\nprompt_tokens = const 10\n"
             "completion_tokens = const 1\nmax_tokens = 1\n",
             rs.port);
    write_file(t.ini, ini);
    struct test_server s;
    test_server_start_ini(&s, t.ini);
    pid_t p[2];
    for (int i = 0; i < 2; i++)
        p[i] = live_spawn(&t, i, s.addr, "--redis-run one --redis-procs 2");
    for (int i = 0; i < 2; i++)
        ck_assert_int_eq(live_wait(p[i]), 0);
    double waits[2], wakes[2], calls[2], ok[2];
    for (int i = 0; i < 2; i++) {
        cJSON *j = report(&t, i);
        accounting(j);
        ok[i] = jget(j, "requests", "succeeded", NULL);
        waits[i] = jget(j, "live", "redis", "pool_waits");
        wakes[i] = jget(j, "live", "redis", "release_wakes");
        calls[i] = jget(j, "live", "redis", "round_trips");
        cJSON_Delete(j);
    }
    int loser = waits[1] > waits[0];
    fprintf(stderr, "pool of 1: winner %g admission scripts, loser %g (%g pool-full waits, %g "
                    "woken by a release)\n",
            calls[!loser], calls[loser], waits[loser], wakes[loser]);
    ck_assert_double_eq(waits[!loser], 0);
    ck_assert_double_ge(waits[loser], 1);
    ck_assert_double_ge(wakes[loser], 1);  /* the release, not the lease, ended the wait */
    ck_assert_double_le(calls[loser], 4);  /* told "full", woken, admitted: not ~500 */
    ck_assert_double_le(calls[!loser], 2);
    ck_assert_double_eq(ok[0], 1);         /* both served within the run: the loser was */
    ck_assert_double_eq(ok[1], 1);         /* admitted after the release, not at the lease */
    ck_assert_double_eq(test_server_metric(&s, "ratelab_mock_responses_total{code=\"200\"}"), 2);
    /* the loser's summary says it waited for the pool and what ended the wait */
    char path[300];
    snprintf(path, sizeof path, "%s/o%d.txt", t.dir, loser);
    char *sum = slurp_file(path);
    ck_assert_msg(strstr(sum, "pool full 1 times, 1 woken by a release"), "%s", sum);
    free(sum);
    test_server_stop(&s);
    tmp_fini(&t);
    ck_assert_int_eq(redis_int(&rs, "ZCARD one:procs"), 0);
    redis_stop(&rs);
}
END_TEST

/*
 * Redis stops 0.7 s into a 2 s run at 50/s (limit 100/s). closed: nothing more is sent,
 * the waits are counted, the run ends on time with every request accounted for. open: the
 * process goes on alone at its local share (N = 1) and the report counts those admissions.
 */
START_TEST(redis_stops_mid_run)
{
    for (int open = 0; open < 2; open++) {
        struct redis rs;
        redis_start(&rs);
        struct tmp t;
        tmp_init(&t);
        char ini[1024];
        snprintf(ini, sizeof ini,
                 "[scenario]\nduration = 2s\nat_end = cancel\n"
                 "[client]\nrequests_per_minute = 6000\nretry_max_attempts = 1\n"
                 "backend = redis\nredis_url = redis://127.0.0.1:%d/0\nredis_timeout = 100ms\n"
                 "redis_failure = %s\n"
                 "[server]\nttft = 2ms\nprefill_per_token = 0\ndecode_per_token = 0.1ms\n"
                 "[class.a]\narrival = constant 50/s\nprompt_tokens = const 10\n"
                 "completion_tokens = const 2\nmax_tokens = 2\n",
                 rs.port, open ? "open" : "closed");
        write_file(t.ini, ini);
        struct test_server s;
        test_server_start_ini(&s, t.ini);
        pid_t p = live_spawn(&t, 0, s.addr, NULL);
        usleep(700 * 1000);
        kill(rs.pid, SIGKILL);
        waitpid(rs.pid, NULL, 0);
        rs.pid = 0;
        ck_assert_int_eq(live_wait(p), 0);
        cJSON *j = report(&t, 0);
        accounting(j);
        double arrived = jget(j, "requests", "arrived", NULL);
        double ok = jget(j, "requests", "succeeded", NULL);
        double waits = jget(j, "live", "redis", "closed_waits");
        double local = jget(j, "live", "redis", "open_admitted");
        fprintf(stderr, "redis stopped (%s): %g arrived, %g succeeded, %g closed waits, %g "
                        "admitted locally\n",
                open ? "open" : "closed", arrived, ok, waits, local);
        ck_assert_double_ge(jget(j, "live", "redis", "disconnects"), 1);
        if (open) {
            ck_assert_double_eq(waits, 0);
            ck_assert_double_gt(local, 20);
            ck_assert_double_eq(jget(j, "live", "redis", "open_share_n"), 1);
            ck_assert_double_ge(ok, arrived - 2);
        } else {
            ck_assert_double_gt(waits, 0);
            ck_assert_double_eq(local, 0);
            ck_assert_double_lt(ok, arrived * 0.6);
        }
        /* the mock served exactly what succeeded: nothing went out unaccounted */
        ck_assert_double_eq(test_server_metric(&s, "ratelab_mock_responses_total{code=\"200\"}"), ok);
        cJSON_Delete(j);
        test_server_stop(&s);
        tmp_fini(&t);
        redis_stop(&rs);
    }
}
END_TEST

/*
 * No Redis at all: a closed run sends nothing, ends on time and accounts for every request;
 * --redis-run cannot start without its barrier and exits 3.
 */
START_TEST(no_redis_from_the_start)
{
    struct tmp t;
    tmp_init(&t);
    char ini[1024];
    snprintf(ini, sizeof ini,
             "[scenario]\nduration = 1s\nat_end = cancel\n"
             "[client]\nrequests_per_minute = 6000\nbackend = redis\n"
             "redis_url = redis://127.0.0.1:%d/0\nredis_timeout = 100ms\n"
             "[class.a]\narrival = constant 20/s\nprompt_tokens = const 10\n"
             "completion_tokens = const 2\nmax_tokens = 2\n",
             free_port());
    write_file(t.ini, ini);
    struct test_server s;
    test_server_start_ini(&s, t.ini);
    ck_assert_int_eq(live_wait(live_spawn(&t, 0, s.addr, NULL)), 0);
    cJSON *j = report(&t, 0);
    accounting(j);
    ck_assert_double_eq(jget(j, "requests", "succeeded", NULL), 0);
    ck_assert_double_eq(jget(j, "attempts", "sent", NULL), 0);
    ck_assert_double_gt(jget(j, "live", "redis", "closed_waits"), 0);
    ck_assert_double_ge(jget(j, "live", "redis", "disconnects"), 1);
    cJSON_Delete(j);
    ck_assert_int_eq(live_wait(live_spawn(&t, 1, s.addr, "--redis-run solo --redis-procs 2")), 3);
    test_server_stop(&s);
    tmp_fini(&t);
}
END_TEST

/*
 * The bundled example, scenarios/redis/shared-quota.ini, as its comment runs it but
 * for 3 s: four processes that would send 24/s together share 1,000 RPM with a 1 s
 * burst (at most 16 + 3 × 16.7 = 66 sends), and the mock, started from the same file
 * (1,200 RPM), answers no 429. Demand stays above the limit, so they also use it.
 */
START_TEST(bundled_example)
{
    struct redis rs;
    redis_start(&rs);
    struct tmp t;
    tmp_init(&t);
    snprintf(t.ini, sizeof t.ini, "%s/scenarios/redis/shared-quota.ini", SRCDIR);
    struct test_server s;
    test_server_start_ini(&s, t.ini);
    char extra[4][256];
    pid_t p[4];
    for (int i = 0; i < 4; i++) {
        snprintf(extra[i], sizeof extra[i],
                 "--duration 3s --seed %d --set client.redis_url=redis://127.0.0.1:%d/0 "
                 "--redis-run example --redis-procs 4",
                 i + 1, rs.port);
        p[i] = live_spawn(&t, i, s.addr, extra[i]);
    }
    double sent = 0;
    for (int i = 0; i < 4; i++) {
        ck_assert_int_eq(live_wait(p[i]), 0);
        cJSON *j = report(&t, i);
        accounting(j);
        sent += jget(j, "attempts", "sent", NULL);
        cJSON_Delete(j);
    }
    double r429 = test_server_metric(&s, "ratelab_mock_responses_total{code=\"429\"}");
    fprintf(stderr, "bundled example: %g sent in 3 s (at most 66), mock 429s %g\n", sent, r429);
    ck_assert_double_le(r429, 0); /* absent (-1) or 0 */
    ck_assert_double_le(sent, 66 + 1);
    ck_assert_double_ge(sent, 66 * 0.9);
    test_server_stop(&s);
    tmp_fini(&t);
    redis_stop(&rs);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    static const char *const cands[] = {"/usr/bin/redis-server", "/usr/local/bin/redis-server",
                                        "/usr/sbin/redis-server"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0] && !redis_bin; i++)
        if (access(cands[i], X_OK) == 0)
            redis_bin = cands[i];
    if (!redis_bin) {
        const char *ci = getenv("CI");
        fprintf(stderr, "check_redis: redis-server not found (.ci/deps installs it)%s\n",
                ci && strcmp(ci, "true") == 0 ? "" : ": skipped");
        return ci && strcmp(ci, "true") == 0 ? EXIT_FAILURE : 77;
    }
    Suite *s = suite_create("redis");
    TCase *tc = tcase_create("backend");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, script_gcra_leases_and_expiry);
    tcase_add_test(tc, backend_admits_releases_and_reserves);
    tcase_add_test(tc, backend_daily_budget);
    tcase_add_test(tc, backend_waits_for_a_release_or_a_lease);
    tcase_add_test(tc, backend_reloads_its_script);
    tcase_add_test(tc, backend_policies_without_redis);
    tcase_add_test(tc, password_from_the_environment);
    suite_add_tcase(s, tc);
    tc = tcase_create("live processes");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, four_processes_share_one_quota);
    tcase_add_test(tc, killed_process_leases_expire);
    tcase_add_test(tc, pool_full_waits_for_the_release);
    tcase_add_test(tc, redis_stops_mid_run);
    tcase_add_test(tc, no_redis_from_the_start);
    tcase_add_test(tc, bundled_example);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
