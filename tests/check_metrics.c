#include "config.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "rng.h"
#include "util.h"

struct rows {
    int n;
    struct metrics_row r[64];
    int cls[64];
};

static void sink(void *ctx, int cls, const struct metrics_row *row)
{
    struct rows *rs = ctx;
    ck_assert_int_lt(rs->n, 64);
    rs->cls[rs->n] = cls;
    rs->r[rs->n++] = *row;
}

/* One request per class through its whole life, scripted by hand. */
START_TEST(lifecycle_and_windows)
{
    metrics *m = metrics_new(2, US_PER_S);
    struct rows rs = {0};
    metrics_set_sink(m, sink, &rs);
    /* class 0: arrives at 0.1 s, queued until 0.5 s, 429 at 0.6 s, retried at 1.2 s, ok at 1.5 s */
    metrics_arrival(m, 100000, 0);
    metrics_queue(m, 100000, 0, +1);
    metrics_throttled(m, 100000, 0);
    metrics_queue(m, 500000, 0, -1);
    metrics_send(m, 500000, 0, false);
    metrics_answer(m, 600000, 0, 429, true);
    /* class 1: arrives at 0.9 s, sent at once, rejected? no: fails with 500 at 2.5 s */
    metrics_arrival(m, 900000, 1);
    metrics_send(m, 900000, 1, false);
    ck_assert_int_eq(metrics_inflight(m, -1), 1);
    metrics_send(m, 1200000, 0, true);
    ck_assert_int_eq(rs.n, 3); /* window [0,1s) closed: overall + 2 classes */
    metrics_answer(m, 1500000, 0, 200, false);
    metrics_end(m, 1500000, 0, OUTCOME_SUCCEEDED, 1400000, 1300000, 10, 50);
    metrics_answer(m, 2500000, 1, 500, false);
    metrics_end(m, 2500000, 1, OUTCOME_FAILED, 1600000, -1, 0, 0);
    ck_assert_uint_eq(metrics_open_requests(m), 0);
    metrics_finish(m, 2750000);
    ck_assert_int_eq(rs.n, 9); /* [0,1) [1,2) [2,2.75) */

    /* first window, overall */
    ck_assert_int_eq(rs.cls[0], -1);
    const struct metrics_row *w0 = &rs.r[0];
    ck_assert_uint_eq(w0->c.arrivals, 2);
    ck_assert_uint_eq(w0->c.sends, 2);
    ck_assert_uint_eq(w0->c.http_429, 1);
    ck_assert_uint_eq(w0->c.saw_429, 1);
    ck_assert_uint_eq(w0->c.client_throttled, 1);
    ck_assert_int_eq(w0->queue_max, 1);
    ck_assert(fabs(w0->queue_mean - 0.4) < 1e-12); /* 1 deep for 0.4 s of 1 s */
    ck_assert_int_eq(w0->inflight_max, 1);
    ck_assert_int_eq(w0->inflight_end, 1);
    /* second window, class 0 */
    ck_assert_int_eq(rs.cls[4], 0);
    const struct metrics_row *w1 = &rs.r[4];
    ck_assert_uint_eq(w1->c.retries, 1);
    ck_assert_uint_eq(w1->c.ended[OUTCOME_SUCCEEDED], 1);
    ck_assert_int_eq(w1->latency_p95_us, 1400000); /* one value: clamped to exact */
    ck_assert_int_eq(w1->latency_max_us, 1400000);
    ck_assert_int_eq(w1->ttft_p50_us, 1300000);
    ck_assert(w1->tokens_per_s == 50);
    ck_assert_int_eq(w1->queue_max, 0);
    /* last partial window is 0.75 s long */
    ck_assert_int_eq(rs.r[6].start_us, 2000000);
    ck_assert_int_eq(rs.r[6].end_us, 2750000);
    ck_assert_uint_eq(rs.r[6].c.ended[OUTCOME_FAILED], 1);

    struct metrics_row t;
    metrics_total(m, -1, &t);
    ck_assert_uint_eq(t.c.arrivals, 2);
    ck_assert_uint_eq(t.c.sends, 3);
    ck_assert_uint_eq(t.c.retries, 1);
    ck_assert_uint_eq(t.c.errors, 1);
    ck_assert_uint_eq(t.c.ended[OUTCOME_SUCCEEDED] + t.c.ended[OUTCOME_FAILED], 2);
    ck_assert(fabs(t.queue_mean - 0.4 / 2.75) < 1e-12);
    ck_assert_int_eq(t.latency_max_us, 1600000);
    ck_assert_int_eq(t.inflight_max, 2);
    ck_assert(fabs(t.requests_per_s - 1 / 2.75) < 1e-12);
    metrics_total(m, 1, &t);
    ck_assert_uint_eq(t.c.ended[OUTCOME_FAILED], 1);
    ck_assert_uint_eq(t.c.arrivals, 1);
    ck_assert_uint_eq(metrics_ttft_hist(m, 1)->count, 0);
    metrics_free(m);
}
END_TEST

/* Idle gaps still produce one row per window; a run ending on a boundary adds no empty row. */
START_TEST(empty_windows)
{
    metrics *m = metrics_new(1, 250000);
    struct rows rs = {0};
    metrics_set_sink(m, sink, &rs);
    metrics_arrival(m, 0, 0);
    metrics_queue(m, 0, 0, +1);
    metrics_queue(m, 1000000, 0, -1);
    metrics_end(m, 1000000, 0, OUTCOME_CANCELLED, 0, -1, 0, 0);
    metrics_finish(m, 1000000);
    ck_assert_int_eq(rs.n, 8); /* 4 windows x (overall + 1 class) */
    for (int i = 0; i < rs.n; i++) {
        ck_assert_int_eq(rs.r[i].queue_max, 1);
        ck_assert(rs.r[i].queue_mean == 1);
    }
    struct metrics_row t;
    metrics_total(m, 0, &t);
    ck_assert_uint_eq(t.c.ended[OUTCOME_CANCELLED], 1);
    ck_assert_uint_eq(metrics_latency_hist(m, 0)->count, 0); /* cancelled: no latency */
    metrics_free(m);
}
END_TEST

/*
 * Depth counts requests waiting at an instant after that instant's admissions: a
 * pass-through (+1 then -1 at one time) never waited, nor did the second of two
 * queued at once when one left at that instant; max agrees with the mean.
 */
START_TEST(queue_depth_after_admissions)
{
    metrics *m = metrics_new(2, US_PER_S);
    struct rows rs = {0};
    metrics_set_sink(m, sink, &rs);
    for (int k = 0; k < 5; k++) { /* window 1: five pass-throughs, class 0 */
        metrics_queue(m, 100000 * (k + 1), 0, +1);
        metrics_queue(m, 100000 * (k + 1), 0, -1);
    }
    metrics_queue(m, 1500000, 0, +1); /* window 2: 2 at 1.5 s for 0 µs, then 1 for 0.1 s */
    metrics_queue(m, 1500000, 1, +1);
    metrics_queue(m, 1500000, 0, -1);
    metrics_queue(m, 1600000, 1, -1);
    metrics_queue(m, 2000000, 0, +1); /* at a window's end: counted in neither */
    metrics_queue(m, 2000000, 0, -1);
    metrics_finish(m, 3000000);
    ck_assert_int_eq(rs.n, 9);
    for (int i = 0; i < 3; i++) { /* window 1 */
        ck_assert_int_eq(rs.r[i].queue_max, 0);
        ck_assert(rs.r[i].queue_mean == 0);
    }
    ck_assert_int_eq(rs.r[3].queue_max, 1); /* window 2, overall: 2 held 0 µs */
    ck_assert(fabs(rs.r[3].queue_mean - 0.1) < 1e-12);
    ck_assert_int_eq(rs.r[4].queue_max, 0); /* class 0 */
    ck_assert_int_eq(rs.r[5].queue_max, 1); /* class 1 */
    for (int i = 6; i < 9; i++)
        ck_assert_int_eq(rs.r[i].queue_max, 0);
    struct metrics_row t;
    metrics_total(m, -1, &t);
    ck_assert_int_eq(t.queue_max, 1);
    metrics_total(m, 0, &t);
    ck_assert_int_eq(t.queue_max, 0);
    metrics_free(m);
}
END_TEST

/* The provider's waiting queue: off (-1) until reported, overall rows only, held-level max. */
START_TEST(provider_waiting_levels)
{
    metrics *m = metrics_new(1, US_PER_S);
    struct rows rs = {0};
    metrics_set_sink(m, sink, &rs);
    metrics_queue(m, 100000, 0, +1);
    metrics_queue(m, 200000, 0, -1);
    metrics_advance(m, 1500000); /* window 1: not reported */
    metrics_server_queue(m, 1500000, 0); /* on: 0 so far */
    metrics_server_queue(m, 1600000, +3); /* 3 for 0 µs, then 2 for 0.2 s */
    metrics_server_queue(m, 1600000, -1);
    metrics_server_queue(m, 1800000, -2);
    metrics_server_queue(m, 2500000, +1); /* 1 from 2.5 s into window 3 */
    metrics_finish(m, 3000000);
    ck_assert_int_eq(rs.n, 6);
    ck_assert_int_eq(rs.r[0].provider_waiting_max, -1);
    ck_assert(rs.r[0].provider_waiting_mean == -1);
    ck_assert_int_eq(rs.r[1].provider_waiting_max, -1); /* a class row */
    ck_assert_int_eq(rs.r[2].provider_waiting_max, 2);
    ck_assert(fabs(rs.r[2].provider_waiting_mean - 0.4) < 1e-12);
    ck_assert_int_eq(rs.r[3].provider_waiting_max, -1);
    ck_assert_int_eq(rs.r[4].provider_waiting_max, 1);
    ck_assert(fabs(rs.r[4].provider_waiting_mean - 0.5) < 1e-12);
    metrics_free(m);
}
END_TEST

/* Overall quantiles are over the union of classes, not an average of class quantiles. */
START_TEST(overall_merges_classes)
{
    metrics *m = metrics_new(2, US_PER_S);
    for (int i = 0; i < 100; i++) {
        int cls = i < 90 ? 0 : 1;
        metrics_arrival(m, i, cls);
        metrics_end(m, i, cls, OUTCOME_SUCCEEDED, cls ? 200 : 10, 5, 1, 1);
    }
    metrics_finish(m, 5 * US_PER_S);
    struct metrics_row t;
    metrics_total(m, -1, &t);
    ck_assert_int_eq(t.latency_p50_us, 10);
    ck_assert_int_eq(t.latency_p95_us, 200);
    ck_assert_int_eq(t.latency_max_us, 200);
    ck_assert(fabs(t.latency_mean_us - 29) < 1e-9);
    ck_assert(t.requests_per_s == 20);
    metrics_free(m);
}
END_TEST

/* ---- live reading ---------------------------------------------------------- */

/* Every row a sink got, growing as needed. */
struct log {
    int n, cap;
    struct metrics_row *r;
    int *cls;
};

static void log_sink(void *ctx, int cls, const struct metrics_row *row)
{
    struct log *l = ctx;
    if (l->n == l->cap) {
        l->cap = l->cap ? 2 * l->cap : 64;
        l->r = realloc(l->r, (size_t)l->cap * sizeof *l->r);
        l->cls = realloc(l->cls, (size_t)l->cap * sizeof *l->cls);
        ck_assert(l->r && l->cls);
    }
    l->cls[l->n] = cls;
    l->r[l->n++] = *row;
}

static void log_free(struct log *l)
{
    free(l->r);
    free(l->cls);
}

static bool row_eq(const struct metrics_row *a, const struct metrics_row *b)
{
    /* metrics_row is all 8-byte fields, no padding: equal bytes = equal figures, exactly */
    return memcmp(a, b, sizeof *a) == 0;
}

/*
 * A random but valid stream of lifecycle events for n classes, the same for the
 * same seed: times never go back, with ties and idle gaps of several windows;
 * queue and in-flight never go negative and a request ends only once arrived.
 */
#define SCRIPT_CLASSES 3
struct script {
    struct rng r;
    int64_t t;                        /* time of the last event, µs */
    int64_t queued[SCRIPT_CLASSES];   /* per class, as told to metrics */
    int64_t inflight[SCRIPT_CLASSES]; /* attempts sent and not answered */
    int64_t open[SCRIPT_CLASSES];     /* requests arrived and not ended */
};

static void script_init(struct script *sc, uint64_t seed)
{
    memset(sc, 0, sizeof *sc);
    rng_seed(&sc->r, seed);
}

/* The time of the next event, drawn before it is applied (so a reader can stop before it). */
static int64_t script_next_time(struct script *sc)
{
    uint64_t u = rng_below(&sc->r, 100);
    if (u < 10)
        return sc->t; /* a tie */
    if (u < 13)
        return sc->t + 250000 + (int64_t)rng_below(&sc->r, 1000000); /* idle windows */
    return sc->t + (int64_t)rng_exp(&sc->r, 20000);
}

static void script_apply(struct script *sc, int64_t t, metrics *m)
{
    sc->t = t;
    int c = (int)rng_below(&sc->r, SCRIPT_CLASSES);
    switch (rng_below(&sc->r, 7)) {
    case 0:
        metrics_arrival(m, t, c);
        sc->open[c]++;
        break;
    case 1:
        metrics_queue(m, t, c, +1);
        sc->queued[c]++;
        break;
    case 2:
        if (sc->queued[c] > 0) {
            metrics_queue(m, t, c, -1);
            sc->queued[c]--;
        } else {
            metrics_throttled(m, t, c);
        }
        break;
    case 3:
        metrics_send(m, t, c, rng_below(&sc->r, 4) == 0);
        sc->inflight[c]++;
        break;
    case 4:
    case 5:
        if (sc->inflight[c] > 0) {
            static const int status[] = {200, 200, 200, 429, 500, 0, -1};
            int st = status[rng_below(&sc->r, 7)];
            metrics_answer(m, t, c, st, st == 429 && rng_below(&sc->r, 2));
            sc->inflight[c]--;
        }
        break;
    default:
        if (sc->open[c] > 0) {
            enum outcome o = (enum outcome)rng_below(&sc->r, OUTCOME__COUNT);
            int64_t lat = (int64_t)rng_exp(&sc->r, 300000);
            int64_t ttft = rng_below(&sc->r, 5) ? lat / 3 : -1;
            metrics_end(m, t, c, o, lat, ttft, (int64_t)rng_below(&sc->r, 2000),
                        (int64_t)rng_below(&sc->r, 500));
            sc->open[c]--;
        }
        break;
    }
}

enum { WIN_US = 250000, N_EVENTS = 3000 };

/*
 * Read at a window's end, a snapshot's open window is the row the sinks later get
 * for it, idle windows (read without metrics_advance) included; after the finish,
 * its run row is metrics_total. A twin never read gets the same rows and totals,
 * and two snapshots in a row are the same bytes.
 */
START_TEST(snapshot_is_what_sinks_get)
{
    struct metrics_snapshot *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    for (uint64_t seed = 1; seed <= 8; seed++) {
        metrics *m = metrics_new(SCRIPT_CLASSES, WIN_US);
        metrics *twin = metrics_new(SCRIPT_CLASSES, WIN_US);
        struct log got = {0}, want = {0}, twin_got = {0};
        ck_assert_int_eq(metrics_add_sink(m, log_sink, &got), 0);
        ck_assert_int_eq(metrics_add_sink(twin, log_sink, &twin_got), 0);
        struct script sc, sc_twin;
        script_init(&sc, seed);
        script_init(&sc_twin, seed);
        int64_t win_end = WIN_US;
        for (int e = 0; e < N_EVENTS; e++) {
            int64_t t = script_next_time(&sc);
            ck_assert_int_eq(script_next_time(&sc_twin), t);
            for (; t > win_end; win_end += WIN_US) {
                metrics_snapshot(m, win_end, a);
                ck_assert_int_eq(a->all.window.end_us, win_end);
                log_sink(&want, -1, &a->all.window);
                for (int c = 0; c < SCRIPT_CLASSES; c++)
                    log_sink(&want, c, &a->cls[c].window);
            }
            /* mid-window: reading twice gives the same bytes */
            metrics_snapshot(m, t, a);
            metrics_snapshot(m, t, b);
            ck_assert(memcmp(a, b, sizeof *a) == 0);
            ck_assert_uint_eq(a->open_requests, metrics_open_requests(m));
            ck_assert_int_eq(a->all.queue_depth, metrics_queue_depth(m, -1));
            ck_assert_int_eq(a->cls[1].inflight, metrics_inflight(m, 1));
            script_apply(&sc, t, m);
            script_apply(&sc_twin, t, twin);
        }
        int64_t end = sc.t + WIN_US / 3;
        for (; end > win_end; win_end += WIN_US) {
            metrics_snapshot(m, win_end, a);
            log_sink(&want, -1, &a->all.window);
            for (int c = 0; c < SCRIPT_CLASSES; c++)
                log_sink(&want, c, &a->cls[c].window);
        }
        metrics_snapshot(m, end, a);
        log_sink(&want, -1, &a->all.window);
        for (int c = 0; c < SCRIPT_CLASSES; c++)
            log_sink(&want, c, &a->cls[c].window);
        metrics_finish(m, end);
        metrics_finish(twin, end);

        ck_assert_int_eq(got.n, want.n);
        ck_assert_int_eq(twin_got.n, got.n);
        for (int i = 0; i < got.n; i++) {
            ck_assert_int_eq(got.cls[i], want.cls[i]);
            ck_assert_msg(row_eq(&got.r[i], &want.r[i]), "seed %d row %d", (int)seed, i);
            ck_assert(row_eq(&twin_got.r[i], &got.r[i]));
        }

        /* After the finish: run = metrics_total, window = the empty span at the end. */
        metrics_snapshot(m, end + 123, a);
        metrics_snapshot(m, end, b);
        ck_assert(memcmp(a, b, sizeof *a) == 0);
        ck_assert(a->finished);
        ck_assert_int_eq(a->now_us, end);
        ck_assert_int_eq(a->n_classes, SCRIPT_CLASSES);
        for (int cls = -1; cls < SCRIPT_CLASSES; cls++) {
            const struct metrics_view *v = cls < 0 ? &a->all : &a->cls[cls];
            struct metrics_row t, tt;
            metrics_total(m, cls, &t);
            metrics_total(twin, cls, &tt);
            ck_assert(row_eq(&v->run, &t));
            ck_assert(row_eq(&tt, &t));
            ck_assert_int_eq(v->window.start_us, end);
            ck_assert_int_eq(v->window.end_us, end);
            ck_assert_uint_eq(v->window.c.arrivals, 0);
        }
        for (int c = SCRIPT_CLASSES; c < METRICS_MAX_CLASSES; c++)
            ck_assert_uint_eq(a->cls[c].run.c.arrivals, 0);
        log_free(&got);
        log_free(&want);
        log_free(&twin_got);
        metrics_free(m);
        metrics_free(twin);
    }
    free(a);
    free(b);
}
END_TEST

/*
 * The run so far at any time t equals the totals of the same events in a run
 * finished at t; reading past a window's end without metrics_advance gives what
 * metrics_advance would.
 */
START_TEST(run_so_far_is_a_total)
{
    struct metrics_snapshot *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    for (uint64_t seed = 11; seed <= 13; seed++) {
        for (int stop = 1; stop < 600; stop += 97) {
            metrics *m = metrics_new(SCRIPT_CLASSES, WIN_US);
            metrics *fin = metrics_new(SCRIPT_CLASSES, WIN_US);
            struct script sc, sc_fin;
            script_init(&sc, seed);
            script_init(&sc_fin, seed);
            for (int e = 0; e < stop; e++) {
                int64_t t = script_next_time(&sc);
                ck_assert_int_eq(script_next_time(&sc_fin), t);
                script_apply(&sc, t, m);
                script_apply(&sc_fin, t, fin);
            }
            int64_t now = sc.t + (int64_t)(stop % 3) * WIN_US + 1000;
            metrics_snapshot(m, now, a);
            metrics_finish(fin, now);
            for (int cls = -1; cls < SCRIPT_CLASSES; cls++) {
                struct metrics_row t;
                metrics_total(fin, cls, &t);
                ck_assert_msg(row_eq(cls < 0 ? &a->all.run : &a->cls[cls].run, &t),
                              "seed %d stop %d cls %d", (int)seed, stop, cls);
            }
            ck_assert(!a->finished);
            metrics_advance(m, now);
            metrics_snapshot(m, now, b);
            ck_assert(memcmp(a, b, sizeof *a) == 0);
            metrics_free(m);
            metrics_free(fin);
        }
    }
    free(a);
    free(b);
}
END_TEST

/* A snapshot mid-window, by hand: the overall row sums the classes, the queue mean runs to now. */
START_TEST(snapshot_by_hand)
{
    metrics *m = metrics_new(2, US_PER_S);
    struct metrics_snapshot *s = malloc(sizeof *s);
    metrics_snapshot(m, 0, s);
    ck_assert_int_eq(s->all.window.start_us, 0);
    ck_assert_int_eq(s->all.window.end_us, 0);
    ck_assert(s->all.window.queue_mean == 0);
    metrics_arrival(m, 100000, 0);
    metrics_queue(m, 100000, 0, +1);
    metrics_arrival(m, 200000, 1);
    metrics_send(m, 200000, 1, false);
    metrics_answer(m, 300000, 1, 200, false);
    metrics_end(m, 300000, 1, OUTCOME_SUCCEEDED, 100000, 50000, 7, 40);
    metrics_snapshot(m, 500000, s);
    ck_assert_uint_eq(s->all.window.c.arrivals, 2);
    ck_assert_uint_eq(s->cls[0].window.c.arrivals, 1);
    ck_assert_uint_eq(s->all.window.c.ended[OUTCOME_SUCCEEDED], 1);
    ck_assert(fabs(s->all.window.queue_mean - 0.8) < 1e-12); /* 1 deep for 0.4 s of 0.5 s */
    ck_assert(s->cls[1].window.queue_mean == 0);
    ck_assert_int_eq(s->all.window.latency_p99_us, 100000);
    ck_assert_int_eq(s->all.window.ttft_p50_us, 50000);
    ck_assert(s->all.window.tokens_per_s == 80); /* 40 tokens in 0.5 s */
    ck_assert_int_eq(s->all.window.inflight_max, 1);
    ck_assert_int_eq(s->all.queue_depth, 1);
    ck_assert_int_eq(s->all.inflight, 0);
    ck_assert(row_eq(&s->all.window, &s->all.run)); /* in the first window, the run is it */
    ck_assert(row_eq(&s->cls[1].window, &s->cls[1].run));
    /* 1 deep from 0.1 s to 0.9 s; then the next window, read before any event in it */
    metrics_queue(m, 900000, 0, -1);
    metrics_snapshot(m, US_PER_S, s);
    ck_assert(fabs(s->all.window.queue_mean - 0.8) < 1e-12);
    metrics_snapshot(m, US_PER_S + 250000, s);
    ck_assert_int_eq(s->all.window.start_us, US_PER_S);
    ck_assert_uint_eq(s->all.window.c.arrivals, 0);
    ck_assert_uint_eq(s->all.run.c.arrivals, 2);
    ck_assert(fabs(s->all.run.queue_mean - 0.8 / 1.25) < 1e-12);
    metrics_free(m);
    free(s);
}
END_TEST

/* From a sink, the window just closed is the latest kept row. */
static void ring_sink(void *ctx, int cls, const struct metrics_row *row)
{
    const metrics *m = ctx;
    struct metrics_row kept;
    ck_assert_int_eq(metrics_window_row(m, 0, cls, &kept), 0);
    ck_assert(row_eq(&kept, row));
}

/*
 * With nobody reading windows, a run of idle windows closes in one step
 * (metrics_advance): the totals, the run so far and the open window read by snapshots
 * must be exactly those of a twin whose windows close one by one for a sink, across
 * gaps of one window to thousands, levels held non-zero over them, and the provider's
 * waiting queue too. The finish lands mid-window after a long gap.
 */
static void count_sink(void *ctx, int cls, const struct metrics_row *row)
{
    (void)cls, (void)row;
    ++*(int64_t *)ctx;
}

START_TEST(unread_idle_windows_close_at_once)
{
    for (uint64_t seed = 1; seed <= 8; seed++) {
        metrics *rd = metrics_new(SCRIPT_CLASSES, WIN_US), *un = metrics_new(SCRIPT_CLASSES, WIN_US);
        int64_t rows = 0;
        metrics_add_sink(rd, count_sink, &rows);
        metrics_server_queue(rd, 0, 0);
        metrics_server_queue(un, 0, 0);
        struct script sc, sc_twin;
        script_init(&sc, seed);
        script_init(&sc_twin, seed);
        struct rng gap;
        rng_seed(&gap, seed + 1000);
        int64_t srvq = 0;
        for (int e = 0; e < N_EVENTS; e++) {
            int64_t t = script_next_time(&sc);
            (void)script_next_time(&sc_twin);
            if (rng_below(&gap, 50) == 0) /* 1 to 1000 windows idle, not on a boundary */
                t += (int64_t)(1 + rng_below(&gap, 1000)) * WIN_US + (int64_t)rng_below(&gap, 3);
            if (rng_below(&gap, 5) == 0) {
                int d = srvq > 0 && rng_below(&gap, 2) ? -1 : +1;
                metrics_server_queue(rd, t, d);
                metrics_server_queue(un, t, d);
                srvq += d;
            }
            if (rng_below(&gap, 7) == 0) { /* a reader between events, mid-gap or not */
                int64_t at = t + (int64_t)rng_below(&gap, 3 * WIN_US);
                metrics_advance(rd, t);
                metrics_advance(un, t);
                struct metrics_snapshot a, b;
                metrics_snapshot(rd, at, &a);
                metrics_snapshot(un, at, &b);
                ck_assert_msg(memcmp(&a, &b, sizeof a) == 0, "seed %llu event %d: snapshots differ",
                              (unsigned long long)seed, e);
            }
            script_apply(&sc, t, rd);
            script_apply(&sc_twin, t, un);
        }
        int64_t end = sc.t + 4321 * (int64_t)WIN_US + 17;
        metrics_finish(rd, end);
        metrics_finish(un, end);
        ck_assert_int_gt(rows, 4 * 4321); /* the reader got every idle window, one by one */
        for (int c = -1; c < SCRIPT_CLASSES; c++) {
            struct metrics_row a, b;
            metrics_total(rd, c, &a);
            metrics_total(un, c, &b);
            ck_assert_msg(row_eq(&a, &b), "seed %llu class %d: totals differ",
                          (unsigned long long)seed, c);
        }
        metrics_free(rd);
        metrics_free(un);
    }
}
END_TEST

/* The ring keeps exactly the last n windows, newest first, as sinks got them; off by default. */
START_TEST(keep_last_windows)
{
    metrics *m = metrics_new(2, US_PER_S);
    struct log got = {0};
    struct metrics_row r;
    ck_assert_int_eq(metrics_windows_kept(m), 0);
    ck_assert_int_eq(metrics_window_row(m, 0, -1, &r), -ERANGE);
    metrics_arrival(m, 500000, 0); /* window 0: one arrival, not kept (keeping starts below) */
    metrics_advance(m, US_PER_S + 1);
    ck_assert_int_eq(metrics_windows_kept(m), 0);

    ck_assert_int_eq(metrics_keep_windows(m, 3), 0);
    ck_assert_int_eq(metrics_add_sink(m, log_sink, &got), 0);
    ck_assert_int_eq(metrics_add_sink(m, ring_sink, m), 0);
    /* window w (1..7) gets w arrivals of class 1 */
    for (int w = 1; w <= 7; w++) {
        for (int i = 0; i < w; i++)
            metrics_arrival(m, w * US_PER_S + 1 + i, 1);
        metrics_advance(m, (w + 1) * US_PER_S + 1);
        ck_assert_int_eq(metrics_windows_kept(m), w < 3 ? w : 3);
    }
    ck_assert_int_eq(got.n, 7 * 3);
    for (int k = 0; k < 3; k++) {
        int w = 7 - k;
        for (int cls = -1; cls < 2; cls++) {
            ck_assert_int_eq(metrics_window_row(m, k, cls, &r), 0);
            ck_assert_int_eq(r.start_us, w * US_PER_S);
            ck_assert_int_eq(r.end_us, (w + 1) * US_PER_S);
            ck_assert_uint_eq(r.c.arrivals, cls == 0 ? 0 : (uint64_t)w);
            ck_assert(row_eq(&r, &got.r[(w - 1) * 3 + cls + 1]));
        }
    }
    ck_assert_int_eq(metrics_window_row(m, 3, -1, &r), -ERANGE);
    /* The partial last window goes in too. */
    metrics_finish(m, 8 * US_PER_S + 500000);
    ck_assert_int_eq(metrics_window_row(m, 0, -1, &r), 0);
    ck_assert_int_eq(r.end_us, 8 * US_PER_S + 500000);
    ck_assert_int_eq(metrics_window_row(m, 2, 1, &r), 0);
    ck_assert_uint_eq(r.c.arrivals, 6);
    /* Turning it off forgets. */
    ck_assert_int_eq(metrics_keep_windows(m, 0), 0);
    ck_assert_int_eq(metrics_windows_kept(m), 0);
    ck_assert_int_eq(metrics_window_row(m, 0, -1, &r), -ERANGE);
    log_free(&got);
    metrics_free(m);
}
END_TEST

/* Every sink gets every row, in order; at most METRICS_MAX_SINKS; set_sink is the first one. */
START_TEST(several_sinks)
{
    metrics *m = metrics_new(2, US_PER_S);
    struct log l[METRICS_MAX_SINKS + 1] = {{0}};
    for (int k = 0; k < METRICS_MAX_SINKS; k++)
        ck_assert_int_eq(metrics_add_sink(m, log_sink, &l[k]), 0);
    ck_assert_int_eq(metrics_add_sink(m, log_sink, &l[METRICS_MAX_SINKS]), -ENOSPC);
    metrics_arrival(m, 100, 0);
    metrics_arrival(m, 1500000, 1);
    metrics_advance(m, 2500000);
    ck_assert_int_eq(l[0].n, 2 * 3);
    for (int k = 1; k < METRICS_MAX_SINKS; k++) {
        ck_assert_int_eq(l[k].n, l[0].n);
        for (int i = 0; i < l[0].n; i++) {
            ck_assert_int_eq(l[k].cls[i], i % 3 - 1);
            ck_assert(row_eq(&l[k].r[i], &l[0].r[i]));
        }
    }
    ck_assert_int_eq(l[METRICS_MAX_SINKS].n, 0);

    /* set_sink replaces the first sink; NULL removes it; the others stay. */
    metrics_set_sink(m, log_sink, &l[METRICS_MAX_SINKS]);
    metrics_advance(m, 3500000);
    ck_assert_int_eq(l[METRICS_MAX_SINKS].n, 3);
    ck_assert_int_eq(l[0].n, 6);
    ck_assert_int_eq(l[1].n, 9);
    metrics_set_sink(m, NULL, NULL);
    ck_assert_int_eq(metrics_add_sink(m, log_sink, &l[0]), 0); /* room again */
    metrics_finish(m, 4000000);
    ck_assert_int_eq(l[METRICS_MAX_SINKS].n, 3);
    ck_assert_int_eq(l[0].n, 9);
    ck_assert_int_eq(l[1].n, 12);
    for (int k = 0; k <= METRICS_MAX_SINKS; k++)
        log_free(&l[k]);
    metrics_free(m);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("metrics");
    TCase *tc = tcase_create("metrics");
    tcase_add_test(tc, lifecycle_and_windows);
    tcase_add_test(tc, empty_windows);
    tcase_add_test(tc, queue_depth_after_admissions);
    tcase_add_test(tc, provider_waiting_levels);
    tcase_add_test(tc, overall_merges_classes);
    tcase_add_test(tc, snapshot_is_what_sinks_get);
    tcase_add_test(tc, run_so_far_is_a_total);
    tcase_add_test(tc, snapshot_by_hand);
    tcase_add_test(tc, keep_last_windows);
    tcase_add_test(tc, several_sinks);
    tcase_add_test(tc, unread_idle_windows_close_at_once);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
