/*
 * limiter_bench: admission decisions per second on one core, all four
 * dimensions on (RPM, TPM, TPD, concurrency), and the same through the whole
 * client core (submit + poll + answer). Counts every malloc/calloc/realloc/free
 * made inside the timed loops (a counting allocator wrapping glibc's), which
 * must be zero. Built and run by bench/limiter_bench.sh; see doc/benchmarks.md.
 *
 * usage: limiter_bench [decisions (default 50000000)]
 */
#include "config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "client.h"
#include "limiter.h"
#include "rng.h"
#include "util.h"

/* ---- counting allocator ---------------------------------------------------- */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void __libc_free(void *);

static volatile uint64_t n_alloc;

void *malloc(size_t n)
{
    n_alloc++;
    return __libc_malloc(n);
}

void *calloc(size_t a, size_t b)
{
    n_alloc++;
    return __libc_calloc(a, b);
}

void *realloc(void *p, size_t n)
{
    n_alloc++;
    return __libc_realloc(p, n);
}

void free(void *p)
{
    if (p)
        n_alloc++;
    __libc_free(p);
}

static double secs(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the limiter alone ----------------------------------------------------- */

static void bench_limiter(int64_t n)
{
    struct limiter l;
    /* Offered: one attempt every 5 µs of virtual time (200k/s), costs 1..2047
     * tokens (mean 1024). Limits: 100k requests/s, 1e8 tokens/s, 1.16e8 tokens/s
     * per day, 48 at once; a slot is released on two attempts of three. The
     * admitted/wait mix is about half and half; the pool check runs on every
     * call (it is the first test). */
    limiter_init(&l, 6000000, 6000000000LL, 10000000000000LL, 48, 0);
    enum { NC = 4096 };
    static int64_t cost[NC];
    struct rng r;
    rng_seed(&r, 42);
    for (int i = 0; i < NC; i++)
        cost[i] = 1 + (int64_t)rng_below(&r, 2047);
    int64_t ok = 0, wait = 0, busy = 0, w, now = 0, sink = 0;
    uint64_t a0 = n_alloc;
    double t0 = secs();
    for (int64_t i = 0; i < n; i++) {
        now += 5;
        int rc = limiter_try(&l, now, cost[i & (NC - 1)], &w);
        if (rc == LIMITER_OK) {
            ok++;
        } else if (rc == LIMITER_WAIT) {
            wait++;
            sink += w;
        } else {
            busy++;
        }
        if (l.in_flight > 0 && (i % 3) != 0)
            limiter_release(&l);
    }
    double dt = secs() - t0;
    uint64_t allocs = n_alloc - a0;
    printf("limiter_try, 4 dimensions: %" PRId64 " decisions in %.3f s = %.1f M/s (%.1f ns each)\n",
           n, dt, n / dt / 1e6, dt / n * 1e9);
    printf("  admitted %" PRId64 ", wait %" PRId64 ", busy %" PRId64
           ", allocations in loop: %" PRIu64 " (sink %" PRId64 ")\n",
           ok, wait, busy, allocs, sink & 1);
    /* all admitted: the pure accept path, charges on every dimension */
    limiter_init(&l, 1000000000, 1000000000000LL, 1000000000000000LL, 1000000, 0);
    a0 = n_alloc;
    t0 = secs();
    ok = 0;
    for (int64_t i = 0; i < n; i++) {
        now += 1;
        if (limiter_try(&l, now, cost[i & (NC - 1)], &w) == LIMITER_OK) {
            ok++;
            limiter_release(&l);
        }
    }
    dt = secs() - t0;
    printf("limiter_try, accept path:  %" PRId64 " decisions in %.3f s = %.1f M/s (%.1f ns each), "
           "admitted %" PRId64 ", allocations in loop: %" PRIu64 "\n",
           n, dt, n / dt / 1e6, dt / n * 1e9, ok, n_alloc - a0);
}

/* ---- the whole client core --------------------------------------------------- */

struct breq {
    struct client_req cr;
};

static int64_t done;

static void on_terminal(void *ctx, struct client_req *r, enum client_state s, int st, int64_t now)
{
    (void)ctx;
    (void)r;
    (void)s;
    (void)st;
    (void)now;
    done++;
}

static void bench_client(int64_t n)
{
    struct scenario sc;
    scenario_defaults(&sc);
    struct client_config cfg = sc.client;
    cfg.requests_per_minute = 600000;
    cfg.tokens_per_minute = 100000000;
    cfg.tokens_per_day = 10000000000LL;
    cfg.max_concurrent = 256;
    cfg.queue_capacity = 0;
    cfg.priority = PRIORITY_AGING;
    struct client_class cl[3] = {{0, 1, 0}, {5, 1, 0}, {9, 1, 0}};
    struct rng r;
    rng_seed(&r, 7);
    struct client_callbacks cb = {on_terminal, NULL, NULL};
    int err;
    client *c = client_new(&cfg, cl, 3, &r, &cb, 0, &err);
    enum { POOL = 1024 };
    struct breq *pool = calloc(POOL, sizeof *pool);
    struct client_req *out[64];
    int free_top = POOL;
    int *freelist = calloc(POOL, sizeof *freelist);
    for (int i = 0; i < POOL; i++)
        freelist[i] = i;
    struct client_req *flight[POOL];
    int nf = 0;
    int64_t now = 0, submitted = 0, polls = 0;
    uint64_t a0 = n_alloc;
    double t0 = secs();
    while (submitted < n) {
        now += 50;
        /* two arrivals per turn while there is storage */
        for (int k = 0; k < 2 && free_top > 0 && submitted < n; k++) {
            struct breq *q = &pool[freelist[--free_top]];
            client_req_init(&q->cr, (int)(submitted % 3), now, 200 + submitted % 500, 256);
            client_submit(c, &q->cr, now);
            submitted++;
        }
        int m = client_poll(c, now, out, 64);
        polls++;
        for (int i = 0; i < m; i++)
            flight[nf++] = out[i];
        /* answer the oldest half in flight */
        int answer = nf / 2 + (nf & 1);
        for (int i = 0; i < answer; i++) {
            struct client_req *q = flight[i];
            client_on_response(c, q, now, 200, NULL, 200, 100);
            freelist[free_top++] = (int)((struct breq *)q - pool);
        }
        memmove(flight, flight + answer, (size_t)(nf - answer) * sizeof flight[0]);
        nf -= answer;
    }
    double dt = secs() - t0;
    printf("client core (submit + poll + answer, 3 classes, aging): %" PRId64
           " requests in %.3f s = %.2f M requests/s, %" PRId64
           " ended, allocations in loop: %" PRIu64 "\n",
           submitted, dt, submitted / dt / 1e6, done, n_alloc - a0);
    (void)polls;
    client_cancel_all(c, now);
    client_free(c);
    free(pool);
    free(freelist);
}

int main(int argc, char **argv)
{
    int64_t n = argc > 1 ? strtoll(argv[1], NULL, 10) : 50000000;
    bench_limiter(n);
    bench_client(n / 10);
    return 0;
}
