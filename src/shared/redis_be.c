#include "config.h"

#include "redis_be.h"

#include <errno.h>
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "limiter.h"
#include "redis_script.h"
#include "redisurl.h"
#include "util.h"

/* Tickets: where an admission came from, so done() gives it back to the right place. */
#define TICKET_REDIS 1 /* a slot and tokens in Redis (asked for, or from the reservation) */
#define TICKET_LOCAL 2 /* the open policy's local share */

#define N_KEYS 5
#define N_ARGV 16
#define BARRIER_LEAD_US (100 * US_PER_MS) /* the start instant, this far after the last arrival */
#define BARRIER_TTL_S 3600                /* a run name's keys expire after an hour */

/* The start barrier: the n-th process to arrive pushes the start instant once for each. */
static const char barrier_lua[] =
    "local n = redis.call('INCR', KEYS[1])\n"
    "redis.call('EXPIRE', KEYS[1], ARGV[3])\n"
    "local want = tonumber(ARGV[1])\n"
    "if n == want then\n"
    "  local t = redis.call('TIME')\n"
    "  local start = string.format('%.17g', tonumber(t[1]) * 1000000 + tonumber(t[2]) + "
    "tonumber(ARGV[2]))\n"
    "  for i = 1, want do redis.call('RPUSH', KEYS[2], start) end\n"
    "  redis.call('EXPIRE', KEYS[2], ARGV[3])\n"
    "end\n"
    "return n\n";

/*
 * The backend. Invariants: held >= bank_n >= 0 (held counts this process's slots in
 * Redis: admissions in flight from Redis plus the reservation); at most one admission
 * script is in flight (asking), and client_waits only while asking; bank_tokens >= 0;
 * pool_wait only while not asking (it is cleared when the next admission is sent).
 */
struct redis_be {
    struct client_backend cb;
    struct redis_be_hooks h;
    struct event_base *base;
    struct redis_config rc;      /* the scenario's redis_* keys */
    struct redisurl url;
    redisAsyncContext *ac;       /* NULL while disconnected */
    bool up;                     /* connected, authenticated, script loaded */
    bool reported_ready;         /* hooks.ready called */
    bool closing;                /* leaving: callbacks do nothing */
    bool reloading;              /* a SCRIPT LOAD after NOSCRIPT is in flight */
    char sha[48];                /* the script's SHA1 */
    char proc[96];               /* this process in the registry: host:pid:nonce */
    char keys[N_KEYS][SCENARIO_NAME_MAX + 16];
    char chan[SCENARIO_NAME_MAX + 16];  /* the release channel: PREFIX released */
    char lease_s[24], maxc_s[24], dims_s[9][24]; /* ARGV 3..13, formatted once */
    int64_t max_concurrent;
    int64_t burst_us;            /* the scenario's burst, for the local share */
    struct limiter full;         /* the whole quota, for fits() */
    struct limiter share;        /* open policy: limit / N, made when first needed */
    int64_t share_n;             /* its N; 0 = not made */
    int64_t expect_procs;        /* --redis-run's count, 0 = unknown */
    int64_t procs_last;          /* registry size last seen */
    /* the admission in flight */
    bool asking;                 /* an admit script is in flight */
    bool client_waits;           /* the client waits for its answer (not yet past timeout) */
    int64_t ask_cost;            /* tokens per admission asked for */
    /* waiting for a full pool */
    bool pool_wait;              /* the last answer was "pool full": a release wakes it */
    bool release_seen;           /* a release was published while the admission was asked */
    redisAsyncContext *sub;      /* the SUBSCRIBE connection; NULL while disconnected */
    bool sub_up;                 /* subscribed to chan */
    /* the local reservation (batching) */
    int64_t bank_n;              /* admissions reserved, not yet handed out */
    int64_t bank_tokens;         /* tokens reserved with them */
    bool bank_used;              /* handed one out since the last renewal */
    int64_t held;                /* slots this process holds in Redis */
    int64_t used_tokens;         /* tokens this process charged, net of refunds and the
                                    reservations it handed back (TPD reporting) */
    int64_t tpd_short_us;        /* first time (engine µs) Redis found TPD short; -1 never */
    /* releases and refunds not yet sent (coalesced per loop turn) */
    int64_t rel_slots, rel_tokens;
    bool flush_armed;
    struct event *flush_ev, *timeout_ev, *conn_ev, *reconnect_ev, *renew_ev;
    struct event *sub_ev;        /* (re)connect the subscription unless it is up */
    /* barrier */
    char barrier_key[2][SCENARIO_NAME_MAX + SCENARIO_TEXT_MAX];
    int64_t barrier_n;
    int64_t barrier_start;       /* Redis µs */
    struct report_redis st;
};

static void tv_of(int64_t us, struct timeval *tv)
{
    if (us < 0)
        us = 0;
    tv->tv_sec = (time_t)(us / US_PER_S);
    tv->tv_usec = (suseconds_t)(us % US_PER_S);
}

static void arm(struct event *ev, int64_t us)
{
    struct timeval tv;
    tv_of(us, &tv);
    evtimer_add(ev, &tv);
}

/* ---- script calls ------------------------------------------------------------ */

struct call {
    const char *v[3 + N_KEYS + N_ARGV];
    size_t len[3 + N_KEYS + N_ARGV];
    char num[2][24];
};

/* EVALSHA (or EVAL with the text) of the admission script in `mode`. */
static int n_call(redis_be *b, struct call *c, bool eval, const char *mode, int64_t count,
                  int64_t tokens)
{
    int n = 0;
    c->v[n++] = eval ? "EVAL" : "EVALSHA";
    c->v[n++] = eval ? redis_script_lua : b->sha;
    c->v[n++] = "5";
    for (int i = 0; i < N_KEYS; i++)
        c->v[n++] = b->keys[i];
    c->v[n++] = mode;
    c->v[n++] = b->proc;
    c->v[n++] = b->lease_s;
    c->v[n++] = b->maxc_s;
    for (int i = 0; i < 9; i++)
        c->v[n++] = b->dims_s[i];
    snprintf(c->num[0], sizeof c->num[0], "%" PRId64, count);
    snprintf(c->num[1], sizeof c->num[1], "%" PRId64, tokens);
    c->v[n++] = c->num[0];
    c->v[n++] = c->num[1];
    c->v[n++] = b->chan;
    for (int i = 0; i < n; i++)
        c->len[i] = strlen(c->v[i]);
    return n;
}

static bool send_script(redis_be *b, redisCallbackFn *fn, bool eval, const char *mode,
                        int64_t count, int64_t tokens)
{
    if (!b->ac)
        return false;
    struct call c;
    int n = n_call(b, &c, eval, mode, count, tokens);
    return redisAsyncCommandArgv(b->ac, fn, b, n, c.v, c.len) == REDIS_OK;
}

/* {n, wait_us, processes, short, free_us} (redis_script.h) */
struct reply {
    int64_t n, wait, procs, shortd, free_us;
};

static bool parse_reply(const redisReply *r, struct reply *o)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 5)
        return false;
    for (int i = 0; i < 5; i++)
        if (r->element[i]->type != REDIS_REPLY_INTEGER)
            return false;
    o->n = r->element[0]->integer;
    o->wait = r->element[1]->integer;
    o->procs = r->element[2]->integer;
    o->shortd = r->element[3]->integer;
    o->free_us = r->element[4]->integer;
    return true;
}

static bool noscript(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOSCRIPT", 8) == 0;
}

static void note_procs(redis_be *b, int64_t procs)
{
    b->procs_last = procs;
    if (procs > b->st.processes_max)
        b->st.processes_max = procs;
}

static void on_loaded(redisAsyncContext *ac, void *reply, void *priv);

/* Redis lost its scripts (restarted, SCRIPT FLUSH): load it again; its state is likely
 * gone too, so the slot count is restated once it is back. */
static void reload(redis_be *b)
{
    if (b->reloading || !b->ac)
        return;
    b->reloading = true;
    redisAsyncCommand(b->ac, on_loaded, b, "SCRIPT LOAD %s", redis_script_lua);
}

/* ---- the failure policy ----------------------------------------------------- */

static void make_share(redis_be *b, int64_t now)
{
    if (b->share_n)
        return;
    int64_t n = b->procs_last > b->expect_procs ? b->procs_last : b->expect_procs;
    if (n < 1)
        n = 1;
    const struct limiter *f = &b->full;
#define PART(x) ((x) > 0 ? ((x) / n > 0 ? (x) / n : 1) : 0)
    limiter_init_burst(&b->share, PART(f->rpm.amount), PART(f->tpm.amount), PART(f->tpd.amount),
                       PART(b->max_concurrent), b->burst_us, now);
#undef PART
    b->share_n = n;
    b->st.open_share_n = n;
}

/* Redis is unavailable for this admission: what the policy says, at once. */
static int policy(redis_be *b, int64_t now, int64_t cost, int64_t *wait, uint64_t *ticket)
{
    if (b->rc.failure == REDIS_FAIL_CLOSED) {
        b->st.closed_waits++;
        *wait = now + b->rc.timeout_us;
        return LIMITER_WAIT;
    }
    make_share(b, now);
    int rc = limiter_try(&b->share, now, cost, wait);
    if (rc == LIMITER_OK) {
        *ticket = TICKET_LOCAL;
        b->st.open_admitted++;
        b->used_tokens += cost;
    } else if (rc < 0) { /* fits the quota, not the local share: wait for Redis */
        *wait = now + b->rc.timeout_us;
        rc = LIMITER_WAIT;
    }
    return rc;
}

static void answer(redis_be *b, int64_t now, int rc, int64_t wait, uint64_t ticket)
{
    b->h.answer(b->h.ctx, now, rc, wait, ticket);
}

static void answer_by_policy(redis_be *b)
{
    int64_t now = b->h.now(b->h.ctx), wait = 0;
    uint64_t ticket = 0;
    int rc = policy(b, now, b->ask_cost, &wait, &ticket);
    answer(b, now, rc, wait, ticket);
}

/* ---- admissions ------------------------------------------------------------- */

static void on_admit(redisAsyncContext *ac, void *reply, void *priv);
static void flush(redis_be *b);

/* A release was published: the admission told "pool full" may fit now. */
static void wake(redis_be *b)
{
    b->release_seen = false;
    if (!b->pool_wait)
        return;
    b->pool_wait = false;
    b->st.release_wakes++;
    if (b->h.wake)
        b->h.wake(b->h.ctx, b->h.now(b->h.ctx));
}

static bool send_admit(redis_be *b, bool eval)
{
    return send_script(b, on_admit, eval, "admit", b->rc.batch, b->ask_cost);
}

static void on_admit(redisAsyncContext *ac, void *reply, void *priv)
{
    redis_be *b = priv;
    const redisReply *r = reply;
    (void)ac;
    if (b->closing)
        return;
    if (noscript(r) && send_admit(b, true)) { /* the same admission, with the text */
        reload(b);
        return;
    }
    b->asking = false;
    evtimer_del(b->timeout_ev);
    struct reply y;
    if (!parse_reply(r, &y) || y.n < 0 || y.n > b->rc.batch) {
        if (r)
            b->st.errors++;
        if (b->client_waits) {
            b->client_waits = false;
            answer_by_policy(b);
        }
        return;
    }
    int64_t n = y.n;
    note_procs(b, y.procs);
    b->st.admitted_redis += n;
    b->held += n;
    b->used_tokens += n * b->ask_cost;
    if ((y.shortd & 4) && b->tpd_short_us < 0)
        b->tpd_short_us = b->h.now(b->h.ctx);
    if (!b->client_waits) { /* answered by the policy already: keep what came, reserved */
        b->bank_n += n;
        b->bank_tokens += n * b->ask_cost;
        return;
    }
    b->client_waits = false;
    int64_t now = b->h.now(b->h.ctx);
    if (n > 0) {
        b->bank_n += n - 1;
        b->bank_tokens += (n - 1) * b->ask_cost;
        answer(b, now, LIMITER_OK, 0, TICKET_REDIS);
    } else if (y.wait < 0) { /* the shared pool is full: until a release, or a lease ends */
        b->st.pool_waits++;
        b->pool_wait = true;
        answer(b, now, LIMITER_WAIT, now + (y.free_us > 0 ? y.free_us : 1), 0);
        if (b->release_seen) /* published after the script ran, seen before its answer */
            wake(b);
    } else {
        answer(b, now, LIMITER_WAIT, now + (y.wait > 0 ? y.wait : 1), 0);
    }
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    redis_be *b = arg;
    (void)fd, (void)what;
    b->st.timeouts++;
    if (b->client_waits) {
        b->client_waits = false;
        answer_by_policy(b);
    }
}

static int be_admit(void *ctx, int64_t now, int64_t cost, int64_t *wait, uint64_t *ticket)
{
    redis_be *b = ctx;
    if (b->bank_n > 0 && b->bank_tokens >= cost) {
        b->bank_n--;
        b->bank_tokens -= cost;
        b->bank_used = true;
        b->st.admitted_reserved++;
        *ticket = TICKET_REDIS;
        return LIMITER_OK;
    }
    if (b->up && !b->asking) {
        b->ask_cost = cost;
        /* This process's own releases first: the script then counts them (same
         * connection, in order) instead of answering "full" because of them. */
        if (b->rel_slots || b->rel_tokens)
            flush(b);
        if (send_admit(b, false)) {
            b->pool_wait = b->release_seen = false;
            b->asking = true;
            b->client_waits = true;
            b->st.round_trips++;
            arm(b->timeout_ev, b->rc.timeout_us);
            return CLIENT_PENDING;
        }
    }
    return policy(b, now, cost, wait, ticket);
}

static void on_ack(redisAsyncContext *ac, void *reply, void *priv)
{
    redis_be *b = priv;
    const redisReply *r = reply;
    (void)ac;
    if (b->closing || !r)
        return;
    struct reply y;
    if (noscript(r)) {
        reload(b);
        return;
    }
    if (parse_reply(r, &y))
        note_procs(b, y.procs);
    else
        b->st.errors++;
}

static void flush(redis_be *b)
{
    b->flush_armed = false;
    if (!b->rel_slots && !b->rel_tokens)
        return;
    if (b->up && send_script(b, on_ack, false, "done", b->rel_slots, b->rel_tokens))
        b->st.releases++;
    /* Not sent (disconnected): the slot count is restated by the sync after reconnecting;
     * the token refunds are dropped, which only ever under-uses the quota. */
    b->rel_slots = b->rel_tokens = 0;
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    flush(arg);
}

static void be_done(void *ctx, uint64_t ticket, int64_t now, int64_t charged, int64_t actual)
{
    redis_be *b = ctx;
    if (actual >= 0)
        b->used_tokens -= charged - actual;
    if (ticket == TICKET_LOCAL) {
        limiter_release(&b->share);
        if (actual >= 0)
            limiter_reconcile(&b->share, now, charged, actual);
        return;
    }
    b->held--;
    b->rel_slots++;
    if (actual >= 0)
        b->rel_tokens += charged - actual;
    if (!b->flush_armed) { /* every answer of this loop turn in one call */
        b->flush_armed = true;
        event_active(b->flush_ev, EV_TIMEOUT, 0);
    }
}

static bool be_fits(void *ctx, int64_t cost)
{
    redis_be *b = ctx;
    return limiter_fits(&b->full, cost);
}

/* ---- leases ----------------------------------------------------------------- */

static void on_renew(evutil_socket_t fd, short what, void *arg)
{
    redis_be *b = arg;
    (void)fd, (void)what;
    if (!b->up)
        return;
    if (b->bank_n > 0 && !b->bank_used) { /* a reservation idle for a whole period */
        b->rel_slots += b->bank_n;
        b->rel_tokens += b->bank_tokens;
        b->held -= b->bank_n;
        b->st.returned_reserved += b->bank_n;
        b->used_tokens -= b->bank_tokens;
        b->bank_n = b->bank_tokens = 0;
    }
    b->bank_used = false;
    flush(b);
    if (send_script(b, on_ack, false, "renew", b->held, 0))
        b->st.renewals++;
}

/* ---- the connection --------------------------------------------------------- */

static void connect_now(redis_be *b);

static void report_ready(redis_be *b, int status)
{
    if (b->reported_ready)
        return;
    b->reported_ready = true;
    if (b->h.ready)
        b->h.ready(b->h.ctx, status);
}

/* The connection is gone or never came: the policy applies until a retry works. */
static void lost(redis_be *b, int status)
{
    b->up = false;
    b->reloading = false;
    b->st.disconnects++;
    evtimer_del(b->conn_ev);
    report_ready(b, status);
    if (!b->closing)
        arm(b->reconnect_ev, b->rc.timeout_us);
}

static void on_loaded(redisAsyncContext *ac, void *reply, void *priv)
{
    redis_be *b = priv;
    const redisReply *r = reply;
    (void)ac;
    if (b->closing || !r)
        return;
    b->reloading = false;
    if (r->type != REDIS_REPLY_STRING || r->len >= sizeof b->sha) {
        b->st.errors++; /* NOAUTH, or not a Redis: try again later */
        if (b->ac && !b->up)
            redisAsyncDisconnect(b->ac);
        return;
    }
    memcpy(b->sha, r->str, r->len);
    b->sha[r->len] = '\0';
    bool first_up = !b->up;
    b->up = true;
    evtimer_del(b->conn_ev);
    if (send_script(b, on_ack, false, "sync", b->held, 0)) /* restate our slots */
        b->st.renewals++;
    if (first_up && !evtimer_pending(b->renew_ev, NULL))
        arm(b->renew_ev, b->rc.lease_us / 3);
    report_ready(b, 0);
}

static void on_setup(redisAsyncContext *ac, void *reply, void *priv)
{
    redis_be *b = priv;
    const redisReply *r = reply;
    (void)ac;
    if (!b->closing && r && r->type == REDIS_REPLY_ERROR)
        b->st.errors++; /* a wrong password or database: SCRIPT LOAD fails after it */
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    redis_be *b = ac->data;
    if (status == REDIS_OK || b->closing || ac != b->ac)
        return;
    b->ac = NULL; /* hiredis frees it */
    lost(b, -ECONNREFUSED);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    redis_be *b = ac->data;
    (void)status;
    if (b->closing || ac != b->ac)
        return;
    b->ac = NULL;
    lost(b, -ECONNRESET);
}

static void on_conn_timeout(evutil_socket_t fd, short what, void *arg)
{
    redis_be *b = arg;
    (void)fd, (void)what;
    if (b->up)
        return;
    redisAsyncContext *ac = b->ac;
    b->ac = NULL; /* its callbacks see a context that is not ours any more */
    if (ac)
        redisAsyncFree(ac);
    lost(b, -ETIMEDOUT);
}

static void on_reconnect(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    connect_now(arg);
}

static void connect_now(redis_be *b)
{
    if (b->closing || b->ac)
        return;
    redisAsyncContext *ac = redisAsyncConnect(b->url.host, b->url.port);
    if (!ac || ac->err) {
        if (ac)
            redisAsyncFree(ac);
        lost(b, -ECONNREFUSED);
        return;
    }
    ac->data = b;
    b->ac = ac;
    redisLibeventAttach(ac, b->base);
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    int e;
    const char *pw = redisurl_password(&b->url, &e);
    if (pw)
        redisAsyncCommand(ac, on_setup, b, "AUTH %s", pw);
    if (b->url.db)
        redisAsyncCommand(ac, on_setup, b, "SELECT %d", b->url.db);
    b->reloading = true;
    redisAsyncCommand(ac, on_loaded, b, "SCRIPT LOAD %s", redis_script_lua);
    arm(b->conn_ev, b->rc.timeout_us);
}

/* ---- the release channel ---------------------------------------------------- */

/*
 * A second connection, subscribed to PREFIX released (a subscribed hiredis context can run
 * nothing but (P)SUBSCRIBE and UNSUBSCRIBE, so it cannot be the command connection). Its
 * only job is to end pool-full waits early; while it is down they end at their lease time.
 */

static void sub_lost(redis_be *b)
{
    b->sub = NULL; /* hiredis frees it */
    b->sub_up = false;
    if (!b->closing)
        arm(b->sub_ev, b->rc.timeout_us);
}

static void on_sub_connect(const redisAsyncContext *ac, int status)
{
    redis_be *b = ac->data;
    if (status != REDIS_OK && !b->closing && ac == b->sub)
        sub_lost(b);
}

static void on_sub_disconnect(const redisAsyncContext *ac, int status)
{
    redis_be *b = ac->data;
    (void)status;
    if (!b->closing && ac == b->sub)
        sub_lost(b);
}

/* Every reply on the subscription: ["subscribe", chan, 1], then ["message", chan, text]. */
static void on_release_msg(redisAsyncContext *ac, void *reply, void *priv)
{
    redis_be *b = priv;
    const redisReply *r = reply;
    if (b->closing || ac != b->sub || !r || r->type != REDIS_REPLY_ARRAY || r->elements < 3 ||
        r->element[0]->type != REDIS_REPLY_STRING)
        return;
    const char *kind = r->element[0]->str;
    if (strcmp(kind, "subscribe") == 0) {
        b->sub_up = true; /* a release may have gone by while it was down: ask again */
    } else if (strcmp(kind, "message") != 0 || r->element[2]->type != REDIS_REPLY_STRING ||
               strcmp(r->element[2]->str, b->proc) == 0) {
        /* Our own release: the client asks again after its own answers anyway, and every
         * admission is sent after the releases before it (be_admit). A dead process we
         * reaped: its lease's end was our wait's time already. */
        return;
    }
    if (b->asking)
        b->release_seen = true; /* the answer on its way may predate it: wake after it */
    else
        wake(b);
}

static void sub_connect(redis_be *b)
{
    if (b->closing || b->sub)
        return;
    arm(b->sub_ev, b->rc.timeout_us); /* not subscribed by then: start again */
    redisAsyncContext *ac = redisAsyncConnect(b->url.host, b->url.port);
    if (!ac || ac->err) {
        if (ac)
            redisAsyncFree(ac);
        return;
    }
    ac->data = b;
    b->sub = ac;
    redisLibeventAttach(ac, b->base);
    redisAsyncSetConnectCallback(ac, on_sub_connect);
    redisAsyncSetDisconnectCallback(ac, on_sub_disconnect);
    int e;
    const char *pw = redisurl_password(&b->url, &e);
    if (pw)
        redisAsyncCommand(ac, on_setup, b, "AUTH %s", pw);
    /* channels are not per database: no SELECT; the prefix keeps quotas apart */
    redisAsyncCommand(ac, on_release_msg, b, "SUBSCRIBE %s", b->chan);
}

static void on_sub_timer(evutil_socket_t fd, short what, void *arg)
{
    redis_be *b = arg;
    (void)fd, (void)what;
    if (b->sub_up)
        return;
    redisAsyncContext *ac = b->sub;
    b->sub = NULL; /* its callbacks see a context that is not ours any more */
    if (ac)
        redisAsyncFree(ac);
    sub_connect(b);
}

static void sub_close(redis_be *b)
{
    if (b->sub) {
        redisAsyncContext *ac = b->sub;
        b->sub = NULL;
        b->sub_up = false;
        redisAsyncFree(ac);
    }
}

/* ---- the barrier ------------------------------------------------------------ */

static void barrier_done(redis_be *b, int status, int64_t in_us)
{
    if (b->h.barrier)
        b->h.barrier(b->h.ctx, status, in_us);
}

static void on_barrier_time(redisAsyncContext *ac, void *reply, void *priv)
{
    redis_be *b = priv;
    const redisReply *r = reply;
    (void)ac;
    if (b->closing)
        return;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2) {
        barrier_done(b, -EIO, 0);
        return;
    }
    int64_t now = strtoll(r->element[0]->str, NULL, 10) * US_PER_S +
                  strtoll(r->element[1]->str, NULL, 10);
    int64_t in = b->barrier_start - now;
    barrier_done(b, 0, in > 0 ? in : 0);
}

static void on_barrier_go(redisAsyncContext *ac, void *reply, void *priv)
{
    redis_be *b = priv;
    const redisReply *r = reply;
    (void)ac;
    if (b->closing)
        return;
    if (!r || r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
        r->element[1]->type != REDIS_REPLY_STRING) {
        barrier_done(b, -EIO, 0);
        return;
    }
    b->barrier_start = (int64_t)strtod(r->element[1]->str, NULL);
    if (!b->ac || redisAsyncCommand(b->ac, on_barrier_time, b, "TIME") != REDIS_OK)
        barrier_done(b, -EIO, 0);
}

static void on_barrier_arrived(redisAsyncContext *ac, void *reply, void *priv)
{
    redis_be *b = priv;
    const redisReply *r = reply;
    (void)ac;
    if (b->closing)
        return;
    if (!r || r->type != REDIS_REPLY_INTEGER) {
        barrier_done(b, -EIO, 0);
        return;
    }
    if (r->integer > b->barrier_n) {
        barrier_done(b, -EEXIST, 0);
        return;
    }
    /* Block this connection until the start instant is pushed: nothing else uses it yet. */
    if (!b->ac ||
        redisAsyncCommand(b->ac, on_barrier_go, b, "BLPOP %s 0", b->barrier_key[1]) != REDIS_OK)
        barrier_done(b, -EIO, 0);
}

void redis_be_barrier(redis_be *b, const char *name, int64_t n)
{
    snprintf(b->barrier_key[0], sizeof b->barrier_key[0], "%srun:%s:arrived", b->rc.key_prefix,
             name);
    snprintf(b->barrier_key[1], sizeof b->barrier_key[1], "%srun:%s:go", b->rc.key_prefix, name);
    b->barrier_n = n;
    if (!b->ac ||
        redisAsyncCommand(b->ac, on_barrier_arrived, b, "EVAL %s 2 %s %s %lld %lld %d",
                          barrier_lua, b->barrier_key[0], b->barrier_key[1], (long long)n,
                          (long long)BARRIER_LEAD_US, BARRIER_TTL_S) != REDIS_OK)
        barrier_done(b, -EIO, 0);
}

/* ---- life ------------------------------------------------------------------- */

redis_be *redis_be_new(struct event_base *base, const struct client_config *cfg,
                       int64_t expect_procs, const struct redis_be_hooks *hooks, char *err,
                       size_t errn)
{
    struct redisurl url;
    char why[256];
    if (redisurl_parse(cfg->redis.url, &url, why, sizeof why) < 0) {
        snprintf(err, errn, "redis_url: %s", why);
        return NULL;
    }
    int e;
    redisurl_password(&url, &e);
    if (e) {
        snprintf(err, errn,
                 "redis_url names the password variable %s, which is not set (expected the "
                 "Redis password in it)",
                 url.password_env);
        return NULL;
    }
    redis_be *b = xcalloc(1, sizeof *b);
    b->h = *hooks;
    b->base = base;
    b->rc = cfg->redis;
    b->url = url;
    b->expect_procs = expect_procs;
    b->max_concurrent = cfg->max_concurrent;
    b->burst_us = cfg->burst_us;
    b->tpd_short_us = -1;
    if (limiter_init_burst(&b->full, cfg->requests_per_minute, cfg->tokens_per_minute,
                           cfg->tokens_per_day, cfg->max_concurrent, cfg->burst_us, 0) < 0) {
        snprintf(err, errn, "the client's limits are invalid");
        free(b);
        return NULL;
    }
    static const char *const names[N_KEYS] = {"rpm", "tpm", "tpd", "procs", "held"};
    for (int i = 0; i < N_KEYS; i++)
        snprintf(b->keys[i], sizeof b->keys[i], "%s%s", b->rc.key_prefix, names[i]);
    snprintf(b->chan, sizeof b->chan, "%sreleased", b->rc.key_prefix);
    char host[64] = "host";
    gethostname(host, sizeof host - 1);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    snprintf(b->proc, sizeof b->proc, "%s:%ld:%lx", host, (long)getpid(),
             (unsigned long)(ts.tv_nsec ^ (ts.tv_sec << 20)));
    snprintf(b->lease_s, sizeof b->lease_s, "%" PRId64, b->rc.lease_us);
    snprintf(b->maxc_s, sizeof b->maxc_s, "%" PRId64, cfg->max_concurrent);
    const struct limiter_bucket *bk[3] = {&b->full.rpm, &b->full.tpm, &b->full.tpd};
    for (int i = 0; i < 3; i++) {
        snprintf(b->dims_s[3 * i], 24, "%" PRId64, bk[i]->amount);
        snprintf(b->dims_s[3 * i + 1], 24, "%" PRId64, bk[i]->period_us);
        snprintf(b->dims_s[3 * i + 2], 24, "%" PRId64, bk[i]->capacity);
    }
    b->st.failure = b->rc.failure;
    b->st.batch = b->rc.batch;
    b->cb = (struct client_backend){be_admit, be_done, be_fits, b};
    b->flush_ev = event_new(base, -1, 0, on_flush, b);
    b->timeout_ev = evtimer_new(base, on_timeout, b);
    b->conn_ev = evtimer_new(base, on_conn_timeout, b);
    b->reconnect_ev = evtimer_new(base, on_reconnect, b);
    b->renew_ev = event_new(base, -1, EV_PERSIST, on_renew, b);
    b->sub_ev = evtimer_new(base, on_sub_timer, b);
    if (!b->flush_ev || !b->timeout_ev || !b->conn_ev || !b->reconnect_ev || !b->renew_ev ||
        !b->sub_ev) {
        snprintf(err, errn, "cannot create the Redis backend's events (out of memory)");
        redis_be_free(b);
        return NULL;
    }
    /* Connect from the loop, not from here: hooks.ready must not run inside redis_be_new
     * (a refused connection can fail at once). */
    arm(b->reconnect_ev, 0);
    arm(b->sub_ev, 0);
    return b;
}

const struct client_backend *redis_be_backend(redis_be *b)
{
    return &b->cb;
}

bool redis_be_waits_for_release(const redis_be *b)
{
    return b->pool_wait;
}

void redis_be_report(const redis_be *b, struct report_redis *out)
{
    *out = b->st;
}

void redis_be_budget(const redis_be *b, struct report_budget *out)
{
    *out = (struct report_budget){.limit_tokens = b->full.tpd.amount, .window = false,
                                  .used_tokens = b->used_tokens, .short_us = b->tpd_short_us};
}

/* One command on the blocking connection; false when it failed. */
static bool sync_call(redisContext *c, int argc, const char **argv, const size_t *len)
{
    redisReply *r = redisCommandArgv(c, argc, argv, len);
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (r)
        freeReplyObject(r);
    return ok;
}

void redis_be_leave(redis_be *b)
{
    if (!b || b->closing)
        return;
    b->closing = true;
    if (b->ac) {
        redisAsyncContext *ac = b->ac;
        b->ac = NULL;
        redisAsyncFree(ac); /* pending callbacks see `closing` and do nothing */
    }
    sub_close(b);
    /* The reservation and unsent refunds go back, and the process leaves the registry (its
     * slots with it), over one short blocking connection: the loop has stopped. */
    struct timeval tv;
    tv_of(b->rc.timeout_us, &tv);
    redisContext *c = redisConnectWithTimeout(b->url.host, b->url.port, tv);
    if (!c || c->err)
        goto out;
    redisSetTimeout(c, tv);
    int e;
    const char *pw = redisurl_password(&b->url, &e);
    if (pw) {
        redisReply *r = redisCommand(c, "AUTH %s", pw);
        if (r)
            freeReplyObject(r);
    }
    if (b->url.db) {
        redisReply *r = redisCommand(c, "SELECT %d", b->url.db);
        if (r)
            freeReplyObject(r);
    }
    struct call k;
    int n;
    int64_t tokens = b->rel_tokens + b->bank_tokens;
    b->st.returned_reserved += b->bank_n;
    b->used_tokens -= b->bank_tokens;
    b->bank_n = b->bank_tokens = 0;
    if (tokens) {
        n = n_call(b, &k, true, "done", 0, tokens);
        if (sync_call(c, n, k.v, k.len))
            b->st.releases++;
    }
    n = n_call(b, &k, true, "leave", 0, 0);
    sync_call(c, n, k.v, k.len);
out:
    if (c)
        redisFree(c);
}

void redis_be_free(redis_be *b)
{
    if (!b)
        return;
    b->closing = true;
    if (b->ac) {
        redisAsyncContext *ac = b->ac;
        b->ac = NULL;
        redisAsyncFree(ac);
    }
    sub_close(b);
    struct event *evs[] = {b->flush_ev, b->timeout_ev, b->conn_ev, b->reconnect_ev, b->renew_ev,
                           b->sub_ev};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_free(evs[i]);
    limiter_fini(&b->full);
    if (b->share_n)
        limiter_fini(&b->share);
    free(b);
}
