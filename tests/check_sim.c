#include "config.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <glob.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "report.h"
#include "rng.h"
#include "scenario.h"
#include "sim.h"
#include "util.h"
#include "testutil.h"

/* ---- helpers ----------------------------------------------------------------- */

/* A scenario with the client out of the way: no limits, unbounded queue, no timeout or retry. */
static void open_client(struct scenario *sc)
{
    scenario_defaults(sc);
    struct client_config *c = &sc->client;
    c->requests_per_minute = c->tokens_per_minute = c->tokens_per_day = 0;
    c->max_concurrent = 0;
    c->queue_capacity = 0;
    c->request_timeout_us = 0;
    c->priority = PRIORITY_FIFO;
    c->retry.max_attempts = 1;
    c->retry.budget_window_us = 0;
    struct server_config *s = &sc->server;
    s->max_running = 0;
    s->max_waiting = 0;
    sc->at_end = END_DRAIN;
    sc->drain_limit_us = 0;
}

static struct class_config *add_class(struct scenario *sc, const char *name,
                                      enum arrival_kind kind, double rate_per_s)
{
    struct class_config *cl = &sc->classes[sc->n_classes++];
    memset(cl, 0, sizeof *cl);
    snprintf(cl->name, sizeof cl->name, "%s", name);
    cl->arrival.kind = kind;
    cl->arrival.rate_per_s = rate_per_s;
    cl->prompt_tokens.kind = DIST_CONST;
    cl->prompt_tokens.a = 10;
    cl->completion_tokens.kind = DIST_CONST;
    cl->completion_tokens.a = 10;
    cl->weight = 1;
    return cl;
}

static sim *run_sim(const struct scenario *sc)
{
    int err = -1;
    sim *s = sim_new(sc, &err);
    ck_assert_msg(s != NULL, "sim_new: %d", err);
    ck_assert_int_eq(sim_run(s, 0), 1);
    return s;
}

/* Every request that arrived ended in exactly one state, overall and per class. */
static void assert_accounting(const sim *s, int n_classes)
{
    const metrics *m = sim_metrics(s);
    ck_assert_uint_eq(metrics_open_requests(m), 0);
    for (int k = -1; k < n_classes; k++) {
        struct metrics_row t;
        metrics_total(m, k, &t);
        uint64_t sum = 0;
        for (int o = 0; o < OUTCOME__COUNT; o++)
            sum += t.c.ended[o];
        ck_assert_uint_eq(sum, t.c.arrivals);
        /* First attempts: at most one per request that was not rejected at the door. */
        ck_assert_uint_ge(t.c.sends, t.c.retries);
        ck_assert_uint_le(t.c.sends - t.c.retries, t.c.arrivals - t.c.ended[OUTCOME_REJECTED]);
    }
    ck_assert_int_eq(metrics_queue_depth(m, -1), 0);
    ck_assert_int_eq(metrics_inflight(m, -1), 0);
}

/*
 * The theory checks' one bound: a figure is right when its mean over every batch lies
 * within THEORY_SE standard errors of the closed form. Each model yields 10 seeds x 9
 * batches = 90 batch means (df 89), so an unbiased figure misses by chance with
 * probability P(|t_89| > 3) = 0.35%, and the ten figures of mm1, mmc and md1 together
 * about 3.5% (ten separate 95% intervals: 40%). check_provider bounds the model alone
 * the same way.
 */
#define THEORY_SE 3.0

/* The mean of x[0..n) and its standard error (sample standard deviation / sqrt(n)). */
struct est {
    double mean, se;
};

static struct est est_of(const double *x, int n)
{
    double m = 0, v = 0;
    for (int i = 0; i < n; i++)
        m += x[i];
    m /= n;
    for (int i = 0; i < n; i++)
        v += (x[i] - m) * (x[i] - m);
    v /= n - 1;
    return (struct est){m, sqrt(v / n)};
}

/* Erlang C: the probability an arrival waits in M/M/c with offered load a = λ/μ. */
static double erlang_c(int c, double a)
{
    double term = 1, sum = 1; /* k = 0 */
    for (int k = 1; k < c; k++) {
        term *= a / k;
        sum += term;
    }
    double last = term * a / c; /* a^c / c! */
    double rho = a / c;
    double top = last / (1 - rho);
    return top / (sum + top);
}

/*
 * Batch means: each window after the first (a tenth of the run, the warm-up) is one
 * batch, its mean sojourn and its share of served customers that waited (the provider's
 * counters read at each window's end, as differences). A window is about 5,000 to
 * 20,000 customers, far longer than these queues' relaxation times (under 400 s at
 * rho = 0.9), so its batch means are close to independent.
 */
enum { THEORY_SEEDS = 10, THEORY_WINDOWS = 10 }; /* windows a run's arrivals span */
enum { THEORY_BATCHES = THEORY_SEEDS * (THEORY_WINDOWS - 1) };

struct batches {
    const sim *s;  /* whose provider counters the windows read */
    int windows;   /* closed so far in this run */
    int n;         /* batches in w[] and pw[], over every seed */
    int64_t served, waited; /* the provider's counters at the last window's end */
    double w[THEORY_BATCHES], pw[THEORY_BATCHES];
};

static void batch_sink(void *ctx, int cls, const struct metrics_row *r)
{
    struct batches *b = ctx;
    if (cls != -1)
        return;
    struct sim_stats ss;
    sim_stats(b->s, &ss);
    int k = b->windows++;
    if (k >= 1 && k < THEORY_WINDOWS) { /* not the warm-up, nor the drain after the end */
        ck_assert_int_lt(b->n, THEORY_BATCHES);
        ck_assert_int_gt(ss.server_served, b->served);
        b->w[b->n] = r->latency_mean_us / US_PER_S;
        b->pw[b->n] = (double)(ss.server_waited - b->waited) /
                      (double)(ss.server_served - b->served);
        b->n++;
    }
    b->served = ss.server_served;
    b->waited = ss.server_waited;
}

/*
 * One queueing model over several seeds: the mean sojourn (latency from arrival
 * to answer, after a warm-up of a tenth of the run) and, for M/M/c, the share of
 * customers that waited, against theory, within THEORY_SE standard errors of the
 * mean of the batch means.
 */
static void queue_model(enum service_kind kind, int c, double rho, int64_t customers,
                        double want_w_s, double want_pwait)
{
    const double mu = 1.0; /* service rate per server, per second */
    double lambda = rho * c * mu;
    struct batches *b = calloc(1, sizeof *b);
    ck_assert_ptr_nonnull(b);
    for (int k = 0; k < THEORY_SEEDS; k++) {
        struct scenario sc;
        open_client(&sc);
        /* Each model its own seeds, so one unlucky stream cannot sink every case. */
        sc.seed = (uint64_t)(100000 * kind + 1000 * c + (int)(rho * 100) * 10 + k);
        sc.server.service = kind;
        sc.server.service_mean_us = (int64_t)(US_PER_S / mu);
        sc.server.max_running = c;
        sc.duration_us = (int64_t)((double)customers / lambda * US_PER_S);
        sc.window_us = sc.duration_us / THEORY_WINDOWS;
        add_class(&sc, "q", ARRIVAL_POISSON, lambda);
        int err;
        sim *s = sim_new(&sc, &err);
        b->s = s;
        b->windows = 0;
        b->served = b->waited = 0;
        sim_set_window_sink(s, batch_sink, b);
        ck_assert_int_eq(sim_run(s, 0), 1);
        struct metrics_row t;
        metrics_total(sim_metrics(s), -1, &t);
        struct sim_stats ss;
        sim_stats(s, &ss);
        ck_assert_uint_eq(t.c.ended[OUTCOME_SUCCEEDED], t.c.arrivals);
        ck_assert_int_eq(ss.server_served, (int64_t)t.c.arrivals);
        assert_accounting(s, 1);
        sim_free(s);
    }
    ck_assert_int_eq(b->n, THEORY_BATCHES);
    struct est ew = est_of(b->w, b->n), ep = est_of(b->pw, b->n);
    fprintf(stderr, "M/%c/%d rho=%.2f: mean sojourn %.4f s, se %.4f (theory %.4f)",
            kind == SERVICE_DETERMINISTIC ? 'D' : 'M', c, rho, ew.mean, ew.se, want_w_s);
    if (want_pwait >= 0)
        fprintf(stderr, ", P(wait) %.4f, se %.4f (Erlang C %.4f)", ep.mean, ep.se, want_pwait);
    fputc('\n', stderr);
    ck_assert_msg(fabs(ew.mean - want_w_s) <= THEORY_SE * ew.se,
                  "c=%d rho=%.2f: mean sojourn %.4f s, se %.4f, theory %.4f s", c, rho, ew.mean,
                  ew.se, want_w_s);
    if (want_pwait >= 0)
        ck_assert_msg(fabs(ep.mean - want_pwait) <= THEORY_SE * ep.se,
                      "c=%d rho=%.2f: P(wait) %.4f, se %.4f, Erlang C %.4f", c, rho, ep.mean,
                      ep.se, want_pwait);
    free(b);
}

/* ---- queueing theory ---------------------------------------------------------- */

START_TEST(mm1)
{
    const double rhos[] = {0.5, 0.9};
    for (int i = 0; i < 2; i++) {
        double rho = rhos[i];
        /* W = 1 / (μ − λ); P(wait) = ρ */
        queue_model(SERVICE_EXPONENTIAL, 1, rho, rho > 0.8 ? 200000 : 50000, 1 / (1 - rho), rho);
    }
}
END_TEST

START_TEST(mmc)
{
    const double rhos[] = {0.7, 0.9};
    const int c = 4;
    for (int i = 0; i < 2; i++) {
        double rho = rhos[i], a = rho * c;
        double pc = erlang_c(c, a);
        /* Wq = C / (cμ − λ), W = Wq + 1/μ */
        double wq = pc / (c * 1.0 - a);
        queue_model(SERVICE_EXPONENTIAL, c, rho, 100000, wq + 1, pc);
    }
}
END_TEST

START_TEST(md1)
{
    const double rhos[] = {0.5, 0.9};
    for (int i = 0; i < 2; i++) {
        double rho = rhos[i];
        /* Pollaczek–Khinchine for deterministic service: Wq = ρ / (2μ(1 − ρ)). */
        queue_model(SERVICE_DETERMINISTIC, 1, rho, rho > 0.8 ? 200000 : 50000,
                    rho / (2 * (1 - rho)) + 1, -1);
    }
}
END_TEST

/* ---- the client limiter in the loop -------------------------------------------- */

struct series {
    int n;
    int64_t end_us[4096];
    uint64_t sends[4096];
    double queue_mean[4096];
};

static void series_sink(void *ctx, int cls, const struct metrics_row *r)
{
    struct series *s = ctx;
    if (cls != -1 || s->n >= 4096)
        return;
    s->end_us[s->n] = r->end_us;
    s->sends[s->n] = r->c.sends;
    s->queue_mean[s->n] = r->queue_mean;
    s->n++;
}

/* Poisson 20/s behind a 600/min (10/s) request bucket, unbounded queue. */
START_TEST(token_bucket)
{
    struct scenario sc;
    open_client(&sc);
    sc.client.requests_per_minute = 600;
    sc.server.service = SERVICE_DETERMINISTIC;
    sc.server.service_mean_us = 10 * US_PER_MS;
    sc.duration_us = 1500 * US_PER_S;
    sc.window_us = 10 * US_PER_S;
    sc.at_end = END_CANCEL;
    add_class(&sc, "p", ARRIVAL_POISSON, 20);
    int err;
    sim *s = sim_new(&sc, &err);
    struct series *ser = calloc(1, sizeof *ser);
    sim_set_window_sink(s, series_sink, ser);
    ck_assert_int_eq(sim_run(s, 0), 1);
    ck_assert_int_eq(ser->n, 150);
    /* After the cold-start burst (the bucket starts full: 600 requests), admissions run at
     * the limit: sends over (100 s, 1500 s] at 10/s within 1%. */
    uint64_t sends = 0;
    for (int i = 10; i < ser->n; i++)
        sends += ser->sends[i];
    double rate = (double)sends / 1400.0;
    ck_assert_msg(fabs(rate - 10) <= 0.1, "admitted %.4f/s, limit 10/s", rate);
    /* The queue grows at offered − limit = 10/s: slope of the window means. */
    double slope = (ser->queue_mean[139] - ser->queue_mean[19]) / 1200.0;
    ck_assert_msg(fabs(slope - 10) <= 0.3, "queue grows %.4f/s, expected 10/s", slope);
    struct metrics_row t;
    metrics_total(sim_metrics(s), -1, &t);
    ck_assert(t.c.client_throttled > t.c.arrivals / 2);
    ck_assert_uint_eq(t.c.http_429, 0);
    assert_accounting(s, 1);
    free(ser);
    sim_free(s);
}
END_TEST

/*
 * Constant 2/s against a provider allowing 60/min (bucket of 60, refilled 1/s).
 * By hand: at arrival k (t = k/2 s) the bucket holds 60 + k/2 − k before it
 * is charged while every earlier one got in, so arrivals 0..118 pass; from 119
 * on the level alternates 0.5 / 1.0: odd k get 429, even k pass. Over 300 s
 * (600 arrivals): 359 admitted, 241 answered 429.
 */
static void provider_limit_scenario(struct scenario *sc)
{
    open_client(sc);
    sc->server.requests_per_minute = 60;
    sc->server.service = SERVICE_DETERMINISTIC;
    sc->server.service_mean_us = 100 * US_PER_MS;
    sc->duration_us = 300 * US_PER_S;
    sc->client.retry.jitter = JITTER_NONE;
    sc->client.retry.honor_retry_after = true;
    add_class(sc, "c", ARRIVAL_CONSTANT, 2);
}

START_TEST(provider_limit_no_retry)
{
    struct scenario sc;
    provider_limit_scenario(&sc);
    sim *s = run_sim(&sc);
    struct metrics_row t;
    metrics_total(sim_metrics(s), -1, &t);
    ck_assert_uint_eq(t.c.arrivals, 600);
    ck_assert_uint_eq(t.c.http_429, 241);
    ck_assert_uint_eq(t.c.saw_429, 241);
    ck_assert_uint_eq(t.c.retries, 0);
    ck_assert_uint_eq(t.c.ended[OUTCOME_SUCCEEDED], 359);
    ck_assert_uint_eq(t.c.ended[OUTCOME_FAILED], 241);
    struct sim_stats st;
    sim_stats(s, &st);
    ck_assert_int_eq(st.server_429[0], 241);
    assert_accounting(s, 1);
    sim_free(s);
}
END_TEST

/* The overall windows' provider waiting queue, integrated: ∫ waiting dt, µs·requests. */
struct pw_sum {
    double area;
    int64_t max;
    int rows, bad;
};

static void pw_sink(void *ctx, int cls, const struct metrics_row *r)
{
    struct pw_sum *p = ctx;
    if (cls >= 0) {
        p->bad += r->provider_waiting_max != -1; /* the provider is not per class */
        return;
    }
    p->rows++;
    p->bad += r->provider_waiting_max < 0 || r->provider_waiting_mean < 0 ||
              r->provider_waiting_mean > (double)r->provider_waiting_max;
    p->area += r->provider_waiting_mean * (double)(r->end_us - r->start_us);
    if (r->provider_waiting_max > p->max)
        p->max = r->provider_waiting_max;
}

/*
 * The provider's queueing, as reported: every waiting request is served (no timeout,
 * no cancel), so the windows' time-weighted waiting levels integrate to the waits'
 * sum (Little's law, exact); the JSON's server.waited is share = waited / served,
 * mean and p95 of the waits in ms.
 */
START_TEST(provider_waiting_reported)
{
    struct scenario sc;
    open_client(&sc);
    sc.seed = 11;
    sc.server.service = SERVICE_EXPONENTIAL;
    sc.server.service_mean_us = US_PER_S;
    sc.server.max_running = 2;
    sc.server.malformed_rate = 0.05; /* served too: they ran in the batch */
    sc.duration_us = 2000 * US_PER_S;
    sc.window_us = 7 * US_PER_S;
    add_class(&sc, "q", ARRIVAL_POISSON, 1.8);
    int err;
    sim *s = sim_new(&sc, &err);
    struct pw_sum p = {0};
    sim_set_window_sink(s, pw_sink, &p);
    ck_assert_int_eq(sim_run(s, 0), 1);
    struct metrics_row t;
    metrics_total(sim_metrics(s), -1, &t);
    struct report_extra x;
    sim_report_extra(s, &x);
    ck_assert_int_eq(p.bad, 0);
    ck_assert_int_gt(p.rows, 280);
    ck_assert_int_gt(p.max, 5);
    ck_assert_int_eq(x.server_served, (int64_t)t.c.arrivals);
    ck_assert_int_gt(x.server_waited, x.server_served / 2);
    ck_assert_ptr_nonnull(x.server_wait);
    ck_assert_uint_eq(x.server_wait->count, (uint64_t)x.server_waited);
    ck_assert_msg(fabs(p.area - (double)x.server_wait_us) <= 1e-9 * (double)x.server_wait_us + 1,
                  "integral %.1f, waits %lld", p.area, (long long)x.server_wait_us);
    char *json;
    size_t n;
    FILE *f = open_memstream(&json, &n);
    ck_assert_int_eq(report_json(f, &sc, sim_metrics(s), &x), 0);
    fclose(f);
    cJSON *root = cJSON_Parse(json);
    const cJSON *w = cJSON_GetObjectItem(cJSON_GetObjectItem(root, "server"), "waited");
    ck_assert_ptr_nonnull(w);
    double share = cJSON_GetObjectItem(w, "share")->valuedouble;
    double mean = cJSON_GetObjectItem(w, "mean_ms")->valuedouble;
    double p95 = cJSON_GetObjectItem(w, "p95_ms")->valuedouble;
    ck_assert(fabs(share - (double)x.server_waited / (double)x.server_served) < 1e-12);
    ck_assert(fabs(mean - (double)(x.server_wait_us / x.server_waited) / 1000) < 1e-9);
    ck_assert_msg(p95 > mean && p95 < 10 * mean, "p95 %.3f, mean %.3f", p95, mean);
    cJSON_Delete(root);
    free(json);
    sim_free(s);
}
END_TEST

/* With no client limits nothing waits in the client queue: depth max and mean are 0
 * (requests pass through it at their arrival instant, which is not waiting). */
START_TEST(pass_through_is_not_depth)
{
    struct scenario sc;
    open_client(&sc);
    sc.duration_us = 100 * US_PER_S;
    add_class(&sc, "a", ARRIVAL_POISSON, 20);
    add_class(&sc, "b", ARRIVAL_CONSTANT, 5);
    sim *s = run_sim(&sc);
    for (int k = -1; k < 2; k++) {
        struct metrics_row t;
        metrics_total(sim_metrics(s), k, &t);
        ck_assert_uint_gt(t.c.arrivals, 400);
        ck_assert_int_eq(t.queue_max, 0);
        ck_assert(t.queue_mean == 0);
    }
    assert_accounting(s, 2);
    sim_free(s);
}
END_TEST

/*
 * Every injected fault kind counts in server_faults, the ones that fail at once
 * (error, reset) and the ones accepted first that fail later (stall, malformed).
 * No retries, no limits, no timeout: each failed request met exactly one fault.
 */
START_TEST(faults_of_every_kind)
{
    const char *kinds[] = {"error", "reset", "stall", "malformed", "all"};
    for (int k = 0; k < 5; k++) {
        struct scenario sc;
        open_client(&sc);
        sc.duration_us = 200 * US_PER_S;
        sc.server.service = SERVICE_DETERMINISTIC;
        sc.server.service_mean_us = 100 * US_PER_MS;
        sc.server.stall_us = 5 * US_PER_S;
        double share = k == 4 ? 0.05 : 0.1;
        sc.server.error_rate = k == 0 || k == 4 ? share : 0;
        sc.server.reset_rate = k == 1 || k == 4 ? share : 0;
        sc.server.timeout_rate = k == 2 || k == 4 ? share : 0;
        sc.server.malformed_rate = k == 3 || k == 4 ? share : 0;
        add_class(&sc, "c", ARRIVAL_POISSON, 10);
        sim *s = run_sim(&sc);
        struct metrics_row t;
        metrics_total(sim_metrics(s), -1, &t);
        struct sim_stats st;
        sim_stats(s, &st);
        ck_assert_msg(t.c.ended[OUTCOME_FAILED] > 100, "%s: %llu failed", kinds[k],
                      (unsigned long long)t.c.ended[OUTCOME_FAILED]);
        ck_assert_msg(st.server_faults == (int64_t)t.c.ended[OUTCOME_FAILED],
                      "%s: %lld faults, %llu failed", kinds[k], (long long)st.server_faults,
                      (unsigned long long)t.c.ended[OUTCOME_FAILED]);
        assert_accounting(s, 1);
        sim_free(s);
    }
}
END_TEST

/*
 * The same with one retry after a fixed 1000 s backoff (no jitter, no budget):
 * the 241 retries come at 1 s intervals from t = 1059.5 s, when the bucket is
 * full again and refills as fast as they come, so every one passes.
 */
START_TEST(provider_limit_retry)
{
    struct scenario sc;
    provider_limit_scenario(&sc);
    sc.client.retry.max_attempts = 2;
    sc.client.retry.base_delay_us = 1000 * US_PER_S;
    sc.client.retry.max_delay_us = 1000 * US_PER_S;
    sim *s = run_sim(&sc);
    struct metrics_row t;
    metrics_total(sim_metrics(s), -1, &t);
    ck_assert_uint_eq(t.c.arrivals, 600);
    ck_assert_uint_eq(t.c.http_429, 241);
    ck_assert_uint_eq(t.c.retries, 241);
    ck_assert_uint_eq(t.c.sends, 841);
    ck_assert_uint_eq(t.c.ended[OUTCOME_SUCCEEDED], 600);
    ck_assert_int_eq(t.latency_max_us, 1000 * US_PER_S + 100 * US_PER_MS);
    ck_assert_int_eq(t.end_us, 1299500 * US_PER_MS + 100 * US_PER_MS);
    assert_accounting(s, 1);
    sim_free(s);
}
END_TEST

/* ---- accounting and determinism ------------------------------------------------- */

/* Everything at once: faults, a small queue, timeouts, retries, two classes, both endings. */
static void messy(struct scenario *sc, uint64_t seed, enum end_policy end)
{
    scenario_defaults(sc);
    sc->seed = seed;
    sc->duration_us = 120 * US_PER_S;
    sc->at_end = end;
    sc->drain_limit_us = 30 * US_PER_S;
    sc->client.requests_per_minute = 900;
    sc->client.tokens_per_minute = 400000;
    sc->client.max_concurrent = 16;
    sc->client.queue_capacity = 200;
    sc->client.request_timeout_us = 20 * US_PER_S;
    sc->client.retry.base_delay_us = 200 * US_PER_MS;
    sc->client.retry.max_delay_us = 5 * US_PER_S;
    sc->server.requests_per_minute = 800;
    sc->server.max_concurrent = 12;
    sc->server.max_running = 8;
    sc->server.max_waiting = 20;
    sc->server.error_rate = 0.03;
    sc->server.timeout_rate = 0.01;
    sc->server.reset_rate = 0.01;
    sc->server.malformed_rate = 0.01;
    sc->server.stall_us = 30 * US_PER_S;
    sc->server.decode_us_per_token = 5 * US_PER_MS;
    struct class_config *a = add_class(sc, "chat", ARRIVAL_POISSON, 8);
    a->priority = 0;
    a->prompt_tokens.kind = DIST_LOGNORMAL;
    a->prompt_tokens.a = 300;
    a->prompt_tokens.b = 0.8;
    a->completion_tokens.kind = DIST_UNIFORM;
    a->completion_tokens.a = 20;
    a->completion_tokens.b = 400;
    a->max_tokens = 512;
    a->timeout_us = 10 * US_PER_S;
    struct class_config *b = add_class(sc, "batch", ARRIVAL_GAMMA, 12);
    b->arrival.burstiness = 4;
    b->priority = 9;
    b->completion_tokens.a = 200;
    struct class_config *u = add_class(sc, "users", ARRIVAL_CLOSED, 0);
    u->arrival.users = 10;
    u->arrival.think_us = 2 * US_PER_S;
    u->priority = 3;
}

START_TEST(accounting_property)
{
    uint64_t seen[OUTCOME__COUNT] = {0}, errors = 0;
    for (uint64_t seed = 1; seed <= 12; seed++) {
        struct scenario sc;
        messy(&sc, seed, seed % 2 ? END_DRAIN : END_CANCEL);
        if (seed % 3 == 0)
            sc.client.queue_full = QUEUE_FULL_BLOCK;
        sim *s = run_sim(&sc);
        assert_accounting(s, sc.n_classes);
        struct metrics_row t;
        metrics_total(sim_metrics(s), -1, &t);
        ck_assert_uint_gt(t.c.arrivals, 1000);
        ck_assert_uint_gt(t.c.ended[OUTCOME_SUCCEEDED], 0);
        for (int o = 0; o < OUTCOME__COUNT; o++)
            seen[o] += t.c.ended[o];
        errors += t.c.errors;
        for (int k = 0; k < sc.n_classes; k++) {
            struct metrics_row c;
            metrics_total(sim_metrics(s), k, &c);
            ck_assert_msg(c.c.ended[OUTCOME_SUCCEEDED] > 0, "seed %d class %d starved",
                          (int)seed, k);
        }
        sim_free(s);
    }
    /* The property was exercised: every terminal state and the faults occurred. */
    for (int o = 0; o < OUTCOME__COUNT; o++)
        ck_assert_msg(seen[o] > 0, "no request ended in state %d", o);
    ck_assert_uint_gt(errors, 0);
}
END_TEST

/* Property: random valid configurations of every policy; accounting closes, nothing is ever
 * stuck, and the client never asks to be polled "now" with nothing to do (the spin guard). */
START_TEST(random_configurations)
{
    const char *env = getenv("RATELAB_RANDOM_CONFIGS"); /* more, by hand: 1000 */
    /* 1000 by default: seed 232 is a producer blocked on a full queue whose room came
     * from queued requests timing out inside a poll (CLIENT_EV_ROOM ignored: stuck). */
    uint64_t n_configs = env ? strtoull(env, NULL, 10) : 1000;
    const char *first = getenv("RATELAB_RANDOM_FIRST"); /* reproduce one: FIRST=N CONFIGS=N */
    for (uint64_t seed = first ? strtoull(first, NULL, 10) : 1; seed <= n_configs; seed++) {
        struct rng r;
        rng_seed(&r, seed * 7919);
#define PICK(n) ((int)rng_below(&r, (uint64_t)(n)))
#define MAYBE(v) (PICK(3) == 0 ? 0 : (v))
        struct scenario sc;
        scenario_defaults(&sc);
        sc.seed = seed;
        sc.duration_us = (20 + PICK(60)) * US_PER_S;
        sc.at_end = PICK(2) ? END_DRAIN : END_CANCEL;
        sc.drain_limit_us = PICK(2) ? 0 : (1 + PICK(60)) * US_PER_S;
        sc.window_us = (1 + PICK(5)) * US_PER_S;
        struct client_config *c = &sc.client;
        c->requests_per_minute = MAYBE(300 + PICK(3000));
        c->tokens_per_minute = MAYBE(100000 + PICK(1000000));
        c->tokens_per_day = PICK(5) == 0 ? 2000000 + PICK(10000000) : 0;
        c->max_concurrent = MAYBE(1 + PICK(50));
        c->queue_capacity = MAYBE(1 + PICK(500));
        c->queue_full = PICK(3) == 0 ? QUEUE_FULL_BLOCK : QUEUE_FULL_REJECT;
        c->priority = (enum priority_policy)PICK(4);
        c->aging_us = (1 + PICK(20)) * US_PER_S;
        c->head_of_line = PICK(2) ? HOL_SKIP : HOL_BLOCK;
        c->estimate = PICK(2) ? ESTIMATE_PROMPT_ONLY : ESTIMATE_PROMPT_PLUS_MAX;
        c->request_timeout_us = MAYBE((5 + PICK(120)) * US_PER_S);
        c->adaptive = PICK(3) == 0;
        c->retry.max_attempts = 1 + PICK(6);
        c->retry.base_delay_us = PICK(4) == 0 ? 0 : (10 + PICK(2000)) * US_PER_MS;
        c->retry.max_delay_us = c->retry.base_delay_us + PICK(10) * US_PER_S;
        c->retry.jitter = (enum jitter_kind)PICK(4);
        c->retry.honor_retry_after = PICK(2);
        c->retry.budget_ratio = PICK(4) * 0.1;
        c->retry.budget_window_us = MAYBE((10 + PICK(60)) * US_PER_S);
        struct server_config *v = &sc.server;
        v->requests_per_minute = MAYBE(200 + PICK(3000));
        v->tokens_per_minute = MAYBE(100000 + PICK(1000000));
        v->max_concurrent = MAYBE(1 + PICK(60));
        v->enforce = PICK(2) ? ENFORCE_WINDOW : ENFORCE_BUCKET;
        v->max_running = MAYBE(1 + PICK(64));
        v->max_waiting = MAYBE(1 + PICK(100));
        v->service = (enum service_kind)PICK(3);
        v->service_mean_us = (10 + PICK(3000)) * US_PER_MS;
        v->decode_us_per_token = (1 + PICK(30)) * US_PER_MS;
        v->error_rate = PICK(2) * 0.02;
        v->timeout_rate = PICK(2) * 0.01;
        v->reset_rate = PICK(2) * 0.01;
        v->malformed_rate = PICK(2) * 0.01;
        v->stall_us = (1 + PICK(60)) * US_PER_S;
        int n = 1 + PICK(4);
        for (int k = 0; k < n; k++) {
            char name[16];
            snprintf(name, sizeof name, "c%d", k);
            enum arrival_kind kinds[] = {ARRIVAL_POISSON, ARRIVAL_CONSTANT, ARRIVAL_GAMMA,
                                         ARRIVAL_BURST,   ARRIVAL_RAMP,     ARRIVAL_ONOFF,
                                         ARRIVAL_CLOSED};
            struct class_config *cl = add_class(&sc, name, kinds[PICK(7)], 1 + PICK(30));
            cl->arrival.burstiness = 0.5 + PICK(8);
            cl->arrival.at_us = PICK((int)(sc.duration_us / US_PER_S)) * US_PER_S;
            cl->arrival.count = 1 + PICK(300);
            cl->arrival.from_per_s = PICK(20);
            cl->arrival.to_per_s = 1 + PICK(40);
            cl->arrival.over_us = (1 + PICK(30)) * US_PER_S;
            cl->arrival.on_us = (1 + PICK(10)) * US_PER_S;
            cl->arrival.off_us = (1 + PICK(10)) * US_PER_S;
            cl->arrival.users = 1 + PICK(40);
            /* Zero think time has its own test (zero_think_rejected): here a user whose every
             * request is rejected at the door would send once a µs for the whole run. */
            cl->arrival.think_us = PICK(5) * US_PER_S;
            if (cl->arrival.think_us == 0)
                cl->arrival.think_us = US_PER_MS;
            cl->prompt_tokens.kind = DIST_UNIFORM;
            cl->prompt_tokens.a = 1;
            cl->prompt_tokens.b = 1 + PICK(3000);
            cl->completion_tokens.kind = DIST_LOGNORMAL;
            cl->completion_tokens.a = 1 + PICK(300);
            cl->completion_tokens.b = 0.1 * PICK(10);
            cl->max_tokens = MAYBE(1 + PICK(1000));
            cl->priority = PICK(10);
            cl->weight = 1 + PICK(5);
            cl->timeout_us = MAYBE((2 + PICK(60)) * US_PER_S);
        }
#undef PICK
#undef MAYBE
        int err;
        sim *s = sim_new(&sc, &err);
        ck_assert_msg(s != NULL, "seed %d: sim_new %d", (int)seed, err);
        ck_assert_int_eq(sim_run(s, 0), 1);
        assert_accounting(s, sc.n_classes);
        struct sim_stats st;
        sim_stats(s, &st);
        ck_assert_msg(st.stuck == 0, "seed %d: %lld requests stuck", (int)seed,
                      (long long)st.stuck);
        ck_assert_msg(st.spin_guards == 0, "seed %d: the spin guard fired %lld times", (int)seed,
                      (long long)st.spin_guards);
        sim_free(s);
    }
}
END_TEST

/*
 * Closed-loop users with zero think time whose requests are rejected at the door (queue
 * full) send again one µs later, never twice at one instant: the run ends, accounting
 * closes, and each user sends at most once per µs of the run.
 */
START_TEST(zero_think_rejected)
{
    struct scenario sc;
    open_client(&sc);
    sc.duration_us = 100 * US_PER_MS;
    sc.client.max_concurrent = 1;
    sc.client.queue_capacity = 1;
    sc.client.queue_full = QUEUE_FULL_REJECT;
    sc.server.service = SERVICE_DETERMINISTIC;
    sc.server.service_mean_us = US_PER_S;
    struct class_config *u = add_class(&sc, "users", ARRIVAL_CLOSED, 0);
    u->arrival.users = 3;
    u->arrival.think_us = 0;
    sim *s = run_sim(&sc);
    assert_accounting(s, 1);
    struct sim_stats st;
    sim_stats(s, &st);
    struct metrics_row t;
    metrics_total(sim_metrics(s), -1, &t);
    ck_assert_uint_gt(t.c.ended[OUTCOME_REJECTED], 100000);
    ck_assert_int_le(st.requests, 3 * sc.duration_us + 3);
    ck_assert_int_eq(st.stuck, 0);
    sim_free(s);
}
END_TEST

/* Window rows add up to the run's totals, per scope; windows tile the run without gaps. */
struct sums {
    int n_classes;
    int64_t last_end[SCENARIO_MAX_CLASSES + 1];
    struct metrics_counts c[SCENARIO_MAX_CLASSES + 1];
    int64_t queue_max[SCENARIO_MAX_CLASSES + 1];
};

static void sums_sink(void *ctx, int cls, const struct metrics_row *r)
{
    struct sums *s = ctx;
    int k = cls + 1;
    ck_assert_int_eq(r->start_us, s->last_end[k]);
    ck_assert_int_gt(r->end_us, r->start_us);
    s->last_end[k] = r->end_us;
    struct metrics_counts *d = &s->c[k];
    d->arrivals += r->c.arrivals;
    d->sends += r->c.sends;
    for (int o = 0; o < OUTCOME__COUNT; o++)
        d->ended[o] += r->c.ended[o];
    d->client_throttled += r->c.client_throttled;
    d->http_429 += r->c.http_429;
    d->saw_429 += r->c.saw_429;
    d->retries += r->c.retries;
    d->errors += r->c.errors;
    d->output_tokens += r->c.output_tokens;
    if (r->queue_max > s->queue_max[k])
        s->queue_max[k] = r->queue_max;
}

START_TEST(windows_add_up)
{
    struct scenario sc;
    messy(&sc, 77, END_DRAIN);
    sc.window_us = 7 * US_PER_S; /* not a divisor of the run */
    int err;
    sim *s = sim_new(&sc, &err);
    struct sums *sm = calloc(1, sizeof *sm);
    sim_set_window_sink(s, sums_sink, sm);
    ck_assert_int_eq(sim_run(s, 0), 1);
    for (int k = -1; k < sc.n_classes; k++) {
        struct metrics_row t;
        metrics_total(sim_metrics(s), k, &t);
        const struct metrics_counts *w = &sm->c[k + 1];
        ck_assert_int_eq(sm->last_end[k + 1], sim_end_us(s));
        ck_assert_uint_eq(w->arrivals, t.c.arrivals);
        ck_assert_uint_eq(w->sends, t.c.sends);
        for (int o = 0; o < OUTCOME__COUNT; o++)
            ck_assert_uint_eq(w->ended[o], t.c.ended[o]);
        ck_assert_uint_eq(w->client_throttled, t.c.client_throttled);
        ck_assert_uint_eq(w->http_429, t.c.http_429);
        ck_assert_uint_eq(w->saw_429, t.c.saw_429);
        ck_assert_uint_eq(w->retries, t.c.retries);
        ck_assert_uint_eq(w->errors, t.c.errors);
        ck_assert_uint_eq(w->output_tokens, t.c.output_tokens);
        ck_assert_int_eq(sm->queue_max[k + 1], t.queue_max);
    }
    free(sm);
    sim_free(s);
}
END_TEST

/* Run sc and capture its JSON and CSV. */
/*
 * What a live reader (the dashboard) does between slices of a run: a metrics snapshot and
 * the run's gauges, which must agree with each other and with the limits.
 */
static void read_live(sim *s, const struct scenario *sc)
{
    static struct metrics_snapshot snap;
    run *r = sim_lifecycle(s);
    int64_t now = run_now(r);
    metrics_snapshot(run_metrics(r), now, &snap);
    struct run_gauges g;
    run_gauges(r, now, &g);
    ck_assert_int_eq(g.queue_depth, snap.all.queue_depth);
    ck_assert_int_eq(g.in_flight, snap.all.inflight);
    ck_assert_int_ge(g.backoff, 0);
    if (sc->client.max_concurrent)
        ck_assert_int_le(g.in_flight, sc->client.max_concurrent);
    const struct run_bucket_gauge *b[] = {&g.rpm, &g.tpm, &g.tpd};
    for (int i = 0; i < 3; i++)
        if (b[i]->capacity)
            ck_assert_int_le(b[i]->level, b[i]->capacity);
    ck_assert_int_ge(g.server.running, 0);
    ck_assert_int_ge(g.server.waiting, 0);
    if (sc->server.max_running)
        ck_assert_int_le(g.server.running, sc->server.max_running);
    ck_assert_uint_eq(snap.open_requests, metrics_open_requests(run_metrics(r)));
}

static void capture(const struct scenario *sc, bool live, char **json, size_t *jn, char **csv,
                    size_t *cn)
{
    FILE *fj = open_memstream(json, jn), *fc = open_memstream(csv, cn);
    int err;
    sim *s = sim_new(sc, &err);
    struct report_csv w;
    report_csv_init(&w, fc, sc);
    sim_set_window_sink(s, report_csv_sink, &w);
    if (live)
        ck_assert_int_eq(metrics_keep_windows(run_metrics(sim_lifecycle(s)), 16), 0);
    while (!sim_run(s, 1000))
        if (live)
            read_live(s, sc);
    struct report_extra x = {.end_us = sim_end_us(s)};
    ck_assert_int_eq(report_json(fj, sc, sim_metrics(s), &x), 0);
    fclose(fj);
    fclose(fc);
    sim_free(s);
}

/* The same seed gives the same bytes, also when a live reader reads at every slice. */
START_TEST(same_seed_same_bytes)
{
    struct scenario sc;
    messy(&sc, 42, END_DRAIN);
    char *j1, *j2, *c1, *c2;
    size_t jn1, jn2, cn1, cn2;
    capture(&sc, false, &j1, &jn1, &c1, &cn1);
    capture(&sc, true, &j2, &jn2, &c2, &cn2);
    ck_assert_uint_gt(jn1, 100);
    ck_assert_uint_gt(cn1, 1000);
    ck_assert(jn1 == jn2 && memcmp(j1, j2, jn1) == 0);
    ck_assert(cn1 == cn2 && memcmp(c1, c2, cn1) == 0);
    /* One row per window plus the header: 150 s of run in 1 s windows. */
    int lines = 0;
    for (size_t i = 0; i < cn1; i++)
        lines += c1[i] == '\n';
    ck_assert_int_ge(lines, 121);
    /* A different seed gives a different run. */
    struct scenario sc2;
    messy(&sc2, 43, END_DRAIN);
    char *j3, *c3;
    size_t jn3, cn3;
    capture(&sc2, false, &j3, &jn3, &c3, &cn3);
    ck_assert(jn1 != jn3 || memcmp(j1, j3, jn1) != 0);
    free(j1), free(j2), free(j3), free(c1), free(c2), free(c3);
}
END_TEST

/* Two sims interleaved in one process give the same results as one alone: no shared state. */
START_TEST(two_sims_side_by_side)
{
    struct scenario a, b;
    messy(&a, 5, END_DRAIN);
    messy(&b, 6, END_CANCEL);
    int err;
    sim *sa = sim_new(&a, &err), *sb = sim_new(&b, &err);
    int da = 0, db = 0;
    while (!da || !db) {
        if (!da)
            da = sim_run(sa, 37);
        if (!db)
            db = sim_run(sb, 53);
    }
    sim *ra = run_sim(&a);
    struct metrics_row x, y;
    metrics_total(sim_metrics(sa), -1, &x);
    metrics_total(sim_metrics(ra), -1, &y);
    ck_assert_uint_eq(x.c.arrivals, y.c.arrivals);
    ck_assert_uint_eq(x.c.sends, y.c.sends);
    ck_assert_int_eq(x.latency_p99_us, y.latency_p99_us);
    ck_assert(x.latency_mean_us == y.latency_mean_us);
    sim_free(sa);
    sim_free(sb);
    sim_free(ra);
}
END_TEST

/* Memory is flat: the request pool is sized by requests in the system, not by arrivals. */
START_TEST(pool_is_flat)
{
    struct scenario sc;
    open_client(&sc);
    sc.server.service = SERVICE_EXPONENTIAL;
    sc.server.service_mean_us = 10 * US_PER_MS;
    sc.server.max_running = 4;
    sc.duration_us = 1000 * US_PER_S;
    add_class(&sc, "q", ARRIVAL_POISSON, 200);
    sim *s = run_sim(&sc);
    struct sim_stats st;
    sim_stats(s, &st);
    ck_assert_int_gt(st.requests, 190000);
    ck_assert_int_le(st.pool_peak, 4096);
    ck_assert_int_le(st.heap_peak, 16);
    sim_free(s);
}
END_TEST

/* Every bundled scenario runs as shipped and ends with its accounting closed. */
START_TEST(bundled_scenarios)
{
    glob_t g;
    int rc = glob(SRCDIR "/scenarios/*.ini", 0, NULL, &g);
    if (rc == GLOB_NOMATCH) {
        fprintf(stderr, "no scenarios/*.ini yet: skipped\n");
        return;
    }
    ck_assert_int_eq(rc, 0);
    for (size_t i = 0; i < g.gl_pathc; i++) {
        struct scenario sc;
        struct scenario_error err;
        int lrc = scenario_load(&sc, g.gl_pathv[i], NULL, 0, &err);
        ck_assert_msg(lrc == 0, "%s:%d: %s", err.file, err.line, err.msg);
        sim *s = run_sim(&sc);
        assert_accounting(s, sc.n_classes);
        struct metrics_row t;
        metrics_total(sim_metrics(s), -1, &t);
        ck_assert_msg(t.c.arrivals > 0, "%s: no arrivals", g.gl_pathv[i]);
        FILE *devnull = fopen("/dev/null", "w");
        report_summary(devnull, &sc, sim_metrics(s), NULL);
        ck_assert_int_eq(report_json(devnull, &sc, sim_metrics(s), NULL), 0);
        fclose(devnull);
        sim_free(s);
        scenario_fini(&sc);
    }
    globfree(&g);
}
END_TEST

/* ---- the human summary -------------------------------------------------------------- */

/* Widest line in columns: SGR escapes and carriage returns (a terminal's "\r\n") take none. */
static int text_widest(const char *text)
{
    int w = 0, cur = 0;
    for (const char *p = text; *p; p++) {
        if (*p == '\033') {
            while (*p && *p != 'm')
                p++;
            if (!*p)
                break;
        } else if (*p == '\n')
            cur = 0;
        else if (*p != '\r' && ++cur > w)
            w = cur;
    }
    return w;
}

/* report_summary written to a pseudo-terminal cols wide; what the terminal got, in buf. */
static void summary_on_pty(const struct scenario *sc, const metrics *m, int cols, char *buf,
                           size_t n)
{
    int mfd = posix_openpt(O_RDWR | O_NOCTTY);
    ck_assert_int_ge(mfd, 0);
    ck_assert_int_eq(grantpt(mfd), 0);
    ck_assert_int_eq(unlockpt(mfd), 0);
    int sfd = open(ptsname(mfd), O_RDWR | O_NOCTTY);
    ck_assert_int_ge(sfd, 0);
    struct winsize ws = {.ws_row = 24, .ws_col = (unsigned short)cols};
    ck_assert_int_eq(ioctl(sfd, TIOCSWINSZ, &ws), 0);
    FILE *f = fdopen(sfd, "w");
    report_summary(f, sc, m, NULL);
    fclose(f); /* the master reads what was written, then EIO */
    size_t got = 0;
    ssize_t k;
    while (got + 1 < n && (k = read(mfd, buf + got, n - 1 - got)) > 0)
        got += (size_t)k;
    buf[got] = '\0';
    close(mfd);
}

/*
 * On a terminal: its width when COLUMNS is unset, colour on the SLO verdicts
 * unless NO_COLOR is set and not empty, failures first.
 */
START_TEST(summary_on_a_terminal)
{
    struct scenario sc;
    struct scenario_error err;
    ck_assert_int_eq(scenario_load(&sc, SRCDIR "/scenarios/chat-vs-batch.ini", NULL, 0, &err), 0);
    sc.classes[0].slo_p95_us = US_PER_S; /* chat's p95 is about 10 s: fails */
    sim *s = run_sim(&sc);
    static char buf[1 << 16];
    unsetenv("COLUMNS");
    unsetenv("NO_COLOR");
    summary_on_pty(&sc, sim_metrics(s), 100, buf, sizeof buf);
    ck_assert_msg(text_widest(buf) <= 100 && text_widest(buf) > 80, "%d:\n%s", text_widest(buf),
                  buf);
    const char *fail = strstr(buf, "SLO \033[1;31mFAILED\033[0m  class chat p95: ");
    const char *ok = strstr(buf, "SLO \033[32mok\033[0m      max_429_share: ");
    ck_assert_msg(fail && ok && fail < ok, "%s", buf);
    summary_on_pty(&sc, sim_metrics(s), 300, buf, sizeof buf);
    ck_assert_int_le(text_widest(buf), 250);
    setenv("NO_COLOR", "", 1);
    summary_on_pty(&sc, sim_metrics(s), 60, buf, sizeof buf);
    ck_assert_int_le(text_widest(buf), 60);
    ck_assert_msg(strstr(buf, "\033["), "%s", buf);
    setenv("NO_COLOR", "1", 1);
    summary_on_pty(&sc, sim_metrics(s), 60, buf, sizeof buf);
    ck_assert_msg(!strchr(buf, '\033'), "%s", buf);
    ck_assert_msg(strstr(buf, "SLO FAILED  class chat p95: "), "%s", buf);
    /* COLUMNS wins over the terminal's width. */
    setenv("COLUMNS", "70", 1);
    summary_on_pty(&sc, sim_metrics(s), 200, buf, sizeof buf);
    ck_assert_int_le(text_widest(buf), 70);
    unsetenv("COLUMNS");
    unsetenv("NO_COLOR");
    sim_free(s);
    scenario_fini(&sc);
}
END_TEST

/* A live run's lines (answers, send lag, server metrics) replace the server's, within the width. */
START_TEST(summary_live_lines)
{
    struct scenario sc;
    struct scenario_error err;
    ck_assert_int_eq(scenario_load(&sc, SRCDIR "/scenarios/retry-storm.ini", NULL, 0, &err), 0);
    sim *s = run_sim(&sc);
    struct histogram *lag = xmalloc(sizeof *lag);
    histogram_init(lag);
    for (int64_t v = 10; v < 5000; v += 7)
        histogram_record(lag, v);
    struct report_live lv = {.send_lag = lag, .scrape = true, .scrapes = 1234,
                             .scrape_failures = 5};
    for (int i = 0; i < REPORT_ST__COUNT; i++)
        lv.status[i] = 123456789 / (i + 1);
    lv.running.max = 64;
    lv.waiting.max = 310;
    lv.kv_cache_usage.max = 0.93;
    struct report_extra x = {.end_us = 1, .live = &lv};
    static const char *const widths[] = {"60", "80", "200"};
    for (int k = 0; k < 3; k++) {
        setenv("COLUMNS", widths[k], 1);
        char *text = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&text, &len);
        report_summary(f, &sc, sim_metrics(s), &x);
        fclose(f);
        ck_assert_msg(text_widest(text) <= atoi(widths[k]), "%s", text);
        ck_assert_msg(strstr(text, "\nanswers: 2xx 123M, 429 61.7M, "), "%s", text);
        ck_assert_msg(strstr(text, "\nsend lag: p50 2.5"), "%s", text);
        ck_assert_msg(strstr(text, "\nserver metrics: 1.2k scrapes (5 failed);"), "%s", text);
        ck_assert_msg(strstr(text, "KV cache max 93%"), "%s", text);
        ck_assert_msg(!strstr(text, "server: 429"), "%s", text);
        free(text);
    }
    unsetenv("COLUMNS");
    free(lag);
    sim_free(s);
    scenario_fini(&sc);
}
END_TEST

/*
 * ratelab sim gives byte-identical JSON and CSV to the committed reference outputs
 * (tests/data/ref, made by its regen.sh) for every bundled scenario at three seeds.
 */
START_TEST(reference_outputs)
{
    char cmd[2048], out[8192];
    char dir[] = "/tmp/ratelab-ref-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    glob_t g;
    ck_assert_int_eq(glob(SRCDIR "/scenarios/*.ini", 0, NULL, &g), 0);
    int runs = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        const char *base = strrchr(g.gl_pathv[i], '/') + 1;
        int blen = (int)(strlen(base) - strlen(".ini"));
        static const char *const seeds[] = {"default", "1", "2"};
        for (int k = 0; k < 3; k++) {
            char seedarg[32] = "";
            if (k > 0)
                snprintf(seedarg, sizeof seedarg, "--seed %s", seeds[k]);
            snprintf(cmd, sizeof cmd,
                     "%s/ratelab sim '%s' %s --quiet --json %s/%.*s.%s.json "
                     "--csv %s/%.*s.%s.csv >/dev/null",
                     BUILDDIR, g.gl_pathv[i], seedarg, dir, blen, base, seeds[k], dir, blen, base,
                     seeds[k]);
            int rc = run_cmd(cmd, out, sizeof out);
            ck_assert_msg(rc == 0 || rc == 1, "%s: exit %d: %s", cmd, rc, out);
            snprintf(cmd, sizeof cmd, "cmp %s/tests/data/ref/%.*s.%s.json %s/%.*s.%s.json",
                     SRCDIR, blen, base, seeds[k], dir, blen, base, seeds[k]);
            rc = run_cmd(cmd, out, sizeof out);
            ck_assert_msg(rc == 0, "JSON differs from the reference: %s", out);
            /* ratelab merge of one report gives it back byte for byte */
            snprintf(cmd, sizeof cmd,
                     "%s/ratelab merge %s/%.*s.%s.json --json %s/merged.json && cmp "
                     "%s/%.*s.%s.json %s/merged.json",
                     BUILDDIR, dir, blen, base, seeds[k], dir, dir, blen, base, seeds[k], dir);
            rc = run_cmd(cmd, out, sizeof out);
            ck_assert_msg(rc == 0, "merging one report changed it: %s", out);
            runs++;
        }
    }
    globfree(&g);
    /* The variants: settings the bundled scenarios do not reach at their defaults. */
    FILE *vf = fopen(SRCDIR "/tests/data/ref/variants.txt", "r");
    ck_assert_ptr_nonnull(vf);
    char line[1024];
    while (fgets(line, sizeof line, vf)) {
        char name[64], scen[128];
        int used = 0;
        if (line[0] == '#' || sscanf(line, "%63s %127s %n", name, scen, &used) < 2)
            continue;
        line[strcspn(line, "\n")] = '\0';
        snprintf(cmd, sizeof cmd,
                 "%s/ratelab sim %s/scenarios/%s %s --quiet --json %s/v-%s.json --csv %s/v-%s.csv "
                 ">/dev/null",
                 BUILDDIR, SRCDIR, scen, line + used, dir, name, dir, name);
        int rc = run_cmd(cmd, out, sizeof out);
        ck_assert_msg(rc == 0 || rc == 1, "%s: exit %d: %s", cmd, rc, out);
        snprintf(cmd, sizeof cmd, "cmp %s/tests/data/ref/v-%s.json %s/v-%s.json", SRCDIR, name,
                 dir, name);
        ck_assert_msg(run_cmd(cmd, out, sizeof out) == 0, "JSON differs from the reference: %s",
                      out);
        runs++;
    }
    fclose(vf);
    snprintf(cmd, sizeof cmd, "cd %s && sha256sum --quiet -c %s/tests/data/ref/csv.sha256", dir,
             SRCDIR);
    int rc = run_cmd(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "CSV differs from the reference: %s", out);
    ck_assert_int_ge(runs, 20);
    remove_tree(dir);
}
END_TEST

/* ---- the ratelab sim command ------------------------------------------------------ */

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

/* Every field the issue names, at the top and under classes.NAME. */
static void assert_schema(const cJSON *o)
{
    static const char *const paths[][2] = {
        {"requests", "arrived"},  {"requests", "succeeded"},     {"requests", "failed"},
        {"requests", "rejected"}, {"requests", "timed_out"},     {"requests", "cancelled"},
        {"hit_rate", "client_throttled"}, {"hit_rate", "server_429"}, {"latency_ms", "p50"},
        {"latency_ms", "p95"},    {"latency_ms", "p99"},         {"latency_ms", "max"},
        {"latency_ms", "mean"},   {"ttft_ms", "p50"},            {"ttft_ms", "p95"},
        {"ttft_ms", "p99"},       {"throughput", "requests_per_s"}, {"throughput", "tokens_per_s"},
        {"queue_depth", "max"},   {"queue_depth", "mean"},
    };
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, paths[i][0]);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(g, paths[i][1]);
        ck_assert_msg(cJSON_IsNumber(v), "missing %s.%s", paths[i][0], paths[i][1]);
    }
    ck_assert(cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(o, "retries")));
}

/* ---- the daily budget forecast --------------------------------------------------- */

/* The forecast's arithmetic: observed as is; a window lasts limit / rate, a bucket refills. */
START_TEST(budget_forecast_formula)
{
    struct report_forecast f;
    struct report_budget none = {.limit_tokens = 0, .short_us = -1};
    ck_assert(!report_budget_forecast(&none, US_PER_HOUR, &f));
    struct report_budget w = {.limit_tokens = 1000000, .window = true, .used_tokens = 360000,
                              .short_us = -1};
    ck_assert(report_budget_forecast(&w, US_PER_HOUR, &f));
    ck_assert(!f.observed && !f.lasts_day);
    ck_assert(f.rate_tokens_per_s == 100 && f.at_s == 10000);
    /* 1,728,000 a day refills 20 tokens/s: 80/s net drain. */
    struct report_budget b = {.limit_tokens = 1728000, .used_tokens = 360000, .short_us = -1};
    ck_assert(report_budget_forecast(&b, US_PER_HOUR, &f));
    ck_assert(f.at_s == 21600);
    b.used_tokens = 20 * 3600; /* no faster than the refill: never */
    ck_assert(report_budget_forecast(&b, US_PER_HOUR, &f));
    ck_assert(isinf(f.at_s) && f.lasts_day);
    b.used_tokens = 25 * 3600; /* 5/s net: 96 h */
    ck_assert(report_budget_forecast(&b, US_PER_HOUR, &f));
    ck_assert(f.at_s == 345600 && f.lasts_day);
    b.short_us = 1234567; /* seen in the run: that time, whatever the rate */
    ck_assert(report_budget_forecast(&b, US_PER_HOUR, &f));
    ck_assert(f.observed && f.at_s == 1.234567 && !f.lasts_day);
}
END_TEST

/* Run the binary on ini with extra arguments; the JSON report's "budget" (free with cJSON_Delete
 * on the returned root) and the summary in out. */
static cJSON *budget_of(const char *ini, const char *args, char *out, size_t n, const cJSON **bud)
{
    char cmd[1024], json[256];
    snprintf(json, sizeof json, "%s.json", ini);
    snprintf(cmd, sizeof cmd, BUILDDIR "/ratelab sim %s %s --json %s", ini, args, json);
    int rc = run_cmd(cmd, out, n);
    ck_assert_msg(rc == 0 || rc == 1, "%s: %s", cmd, out);
    cJSON *root = cJSON_Parse(slurp(json));
    ck_assert_ptr_nonnull(root);
    unlink(json);
    *bud = cJSON_GetObjectItemCaseSensitive(root, "budget");
    ck_assert_msg(cJSON_IsObject(*bud), "%s: no budget", cmd);
    return root;
}

static double budget_num(const cJSON *bud, const char *side, const char *key)
{
    const cJSON *o = side ? cJSON_GetObjectItemCaseSensitive(bud, side) : bud;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    ck_assert_msg(cJSON_IsNumber(v), "budget.%s.%s is not a number", side ? side : "", key);
    return v->valuedouble;
}

static const char *budget_str(const cJSON *bud, const char *side, const char *key)
{
    const cJSON *v =
        cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(bud, side), key);
    ck_assert(cJSON_IsString(v));
    return v->valuestring;
}

/*
 * A constant token rate: 1 request/s of 60 + 40 tokens (max_tokens 40, so the
 * reservation is what is used) for an hour: 100 tokens/s on both sides.
 */
START_TEST(budget_constant_rate)
{
    static char out[65536];
    char dir[] = "/tmp/ratelab-budget-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char ini[256];
    snprintf(ini, sizeof ini, "%s/s.ini", dir);
    FILE *f = fopen(ini, "w");
    fputs("[scenario]\nname = t\nduration = 1h\n"
          "[client]\ntokens_per_day = 1728000\n"
          "[server]\ntokens_per_day = 1000000\nenforce = window\n"
          "service = deterministic\nservice_mean = 100ms\n"
          "[class.a]\narrival = constant 1/s\nprompt_tokens = const 60\n"
          "completion_tokens = const 40\nmax_tokens = 40\n",
          f);
    fclose(f);
    const cJSON *bud;
    /* Extrapolated: the window (server) lasts 1,000,000 / 100 s; the bucket (client) refills
     * 20/s, so 1,728,000 / 80 s. */
    cJSON *root = budget_of(ini, "", out, sizeof out, &bud);
    ck_assert_str_eq(budget_str(bud, "server", "method"), "extrapolated");
    ck_assert_str_eq(budget_str(bud, "server", "enforce"), "window");
    ck_assert(budget_num(bud, "server", "rate_tokens_per_s") == 100);
    ck_assert(budget_num(bud, "server", "tpd_exhausted_at_s") == 10000);
    ck_assert_str_eq(budget_str(bud, "client", "method"), "extrapolated");
    ck_assert(budget_num(bud, "client", "rate_tokens_per_s") == 100);
    ck_assert(budget_num(bud, "client", "tpd_exhausted_at_s") == 21600);
    ck_assert(budget_num(bud, NULL, "tpd_exhausted_at_s") == 10000); /* the earlier */
    ck_assert_msg(strstr(out, "budget: client TPD 1.7M runs out 6h in (extrapolated)"), "%s", out);
    ck_assert_msg(strstr(out, "server TPD 1.0M runs out 2h47m in (extrapolated)"), "%s", out);
    cJSON_Delete(root);

    /* Observed: 1,000 requests fill a 100,000 window; the one at 1,000 s gets the first 429. */
    root = budget_of(ini, "--set server.tokens_per_day=100000", out, sizeof out, &bud);
    ck_assert_str_eq(budget_str(bud, "server", "method"), "observed");
    ck_assert(budget_num(bud, "server", "tpd_exhausted_at_s") == 1000);
    cJSON_Delete(root);
    /* The client's bucket refills while it drains: short where the formula says, to within a
     * request (one a second). */
    root = budget_of(ini, "--set client.tokens_per_day=100000", out, sizeof out, &bud);
    ck_assert_str_eq(budget_str(bud, "client", "method"), "observed");
    double t = budget_num(bud, "client", "tpd_exhausted_at_s");
    double want = 100000 / (100 - 100000 / 86400.0); /* 1,011.7 s */
    ck_assert_msg(fabs(t - want) <= 1, "%.3f, not %.3f", t, want);
    cJSON_Delete(root);

    /* Slower than the refill: the client lasts the day (null), the summary says so. */
    root = budget_of(ini, "--set client.tokens_per_day=10M --set server.tokens_per_day=0", out,
                     sizeof out, &bud);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(bud, "client"), "tpd_exhausted_at_s")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(bud, "server")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(bud, "tpd_exhausted_at_s")));
    ck_assert_msg(strstr(out, "budget: client TPD 10.0M lasts the day (extrapolated"), "%s", out);
    cJSON_Delete(root);

    /* No TPD on either side: both sides and the top are null, no budget line. */
    root = budget_of(ini, "--set client.tokens_per_day=0 --set server.tokens_per_day=0", out,
                     sizeof out, &bud);
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(bud, "client")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(bud, "server")));
    ck_assert(cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(bud, "tpd_exhausted_at_s")));
    ck_assert_msg(!strstr(out, "budget:"), "%s", out);
    cJSON_Delete(root);
    unlink(ini);
    rmdir(dir);
}
END_TEST

/*
 * scenarios/daily-budget.ini says its budget is gone about 8.6 hours in: the run
 * observes it there, and a 2-hour run extrapolates it there too.
 */
START_TEST(budget_daily_budget_scenario)
{
    static char out[65536];
    char ini[512];
    snprintf(ini, sizeof ini, "%s", SRCDIR "/scenarios/daily-budget.ini");
    char tmp[] = "/tmp/ratelab-budget-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(tmp));
    char copy[256], cmd[1024];
    snprintf(copy, sizeof copy, "%s/daily-budget.ini", tmp);
    snprintf(cmd, sizeof cmd, "cp %s %s", ini, copy);
    ck_assert_int_eq(system(cmd), 0);
    const cJSON *bud;
    cJSON *root = budget_of(copy, "", out, sizeof out, &bud);
    ck_assert_str_eq(budget_str(bud, "client", "method"), "observed");
    double h = budget_num(bud, "client", "tpd_exhausted_at_s") / 3600;
    ck_assert_msg(h >= 8.55 && h < 8.65, "daily-budget runs out %.3f h in, its comment says 8.6",
                  h);
    ck_assert_msg(strstr(out, "budget: client TPD 17.0M runs out 8h3"), "%s", out);
    cJSON_Delete(root);
    root = budget_of(copy, "--set scenario.duration=2h", out, sizeof out, &bud);
    ck_assert_str_eq(budget_str(bud, "client", "method"), "extrapolated");
    h = budget_num(bud, "client", "tpd_exhausted_at_s") / 3600;
    ck_assert_msg(h >= 8.55 && h < 8.65, "2 h of daily-budget extrapolate %.3f h", h);
    cJSON_Delete(root);
    unlink(copy);
    rmdir(tmp);
}
END_TEST

START_TEST(command_exit_codes_and_json)
{
    static char out[65536];
    char dir[] = "/tmp/ratelab-sim-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char ini[256], json[256], csv[256], cmd[1024];
    snprintf(ini, sizeof ini, "%s/s.ini", dir);
    snprintf(json, sizeof json, "%s/r.json", dir);
    snprintf(csv, sizeof csv, "%s/r.csv", dir);
    FILE *f = fopen(ini, "w");
    fputs("[scenario]\nname = t\nduration = 30s\nslo_zero_lost = yes\nslo_p95 = 1m\n"
          "[server]\nservice = deterministic\nservice_mean = 100ms\n"
          "[class.a]\narrival = constant 5/s\nslo_p95 = 1s\n"
          "[class.b]\narrival = poisson 2/s\n",
          f);
    fclose(f);

    snprintf(cmd, sizeof cmd, BUILDDIR "/ratelab sim %s --quiet --json %s --csv %s", ini, json,
             csv);
    ck_assert_msg(run_cmd(cmd, out, sizeof out) == 0, "%s", out);
    ck_assert_msg(strstr(out, "accounting: "), "%s", out);
    cJSON *root = cJSON_Parse(slurp(json));
    ck_assert_ptr_nonnull(root);
    assert_schema(root);
    const cJSON *classes = cJSON_GetObjectItemCaseSensitive(root, "classes");
    assert_schema(cJSON_GetObjectItemCaseSensitive(classes, "a"));
    assert_schema(cJSON_GetObjectItemCaseSensitive(classes, "b"));
    const cJSON *req = cJSON_GetObjectItemCaseSensitive(root, "requests");
    ck_assert(cJSON_GetObjectItemCaseSensitive(req, "arrived")->valuedouble >= 150);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(root, "slo"), "ok")));
    cJSON_Delete(root);
    /* CSV: a header and 30 one-second rows (the run ends at 30 s: 0.1 s service). */
    int lines = 0;
    for (const char *p = slurp(csv); *p; p++)
        lines += *p == '\n';
    ck_assert_int_eq(lines, 1 + 30);

    /* Failing SLOs: exit 1, each one named. */
    snprintf(cmd, sizeof cmd,
             BUILDDIR "/ratelab sim %s --quiet --set scenario.slo_p95=50ms "
                      "--set class.a.slo_p95=50ms --set server.error_rate=0.5 "
                      "--set client.retry_max_attempts=1",
             ini);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "SLO failed: p95 (scenario.slo_p95)"), "%s", out);
    ck_assert_msg(strstr(out, "SLO failed: class a p95 (class.a.slo_p95)"), "%s", out);
    ck_assert_msg(strstr(out, "SLO failed: zero_lost"), "%s", out);

    /* JSON on stdout stays parseable: the summary goes to stderr. */
    snprintf(cmd, sizeof cmd, BUILDDIR "/ratelab sim %s --quiet --json - 2>/dev/null", ini);
    FILE *p = popen(cmd, "r");
    size_t n = fread(out, 1, sizeof out - 1, p);
    out[n] = '\0';
    ck_assert_int_eq(WEXITSTATUS(pclose(p)), 0);
    root = cJSON_Parse(out);
    ck_assert_ptr_nonnull(root);
    cJSON_Delete(root);

    /* Usage errors: exit 2. */
    ck_assert_int_eq(run_cmd(BUILDDIR "/ratelab sim", out, sizeof out), 2);
    snprintf(cmd, sizeof cmd, BUILDDIR "/ratelab sim %s --set scenario.nope=1", ini);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 2);
    ck_assert_int_eq(run_cmd(BUILDDIR "/ratelab sim --help", out, sizeof out), 0);
    unlink(ini);
    unlink(json);
    unlink(csv);
    rmdir(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("sim");
    TCase *theory = tcase_create("theory");
    tcase_set_timeout(theory, 120);
    tcase_add_test(theory, mm1);
    tcase_add_test(theory, mmc);
    tcase_add_test(theory, md1);
    suite_add_tcase(s, theory);
    TCase *tc = tcase_create("engine");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, token_bucket);
    tcase_add_test(tc, provider_limit_no_retry);
    tcase_add_test(tc, faults_of_every_kind);
    tcase_add_test(tc, pass_through_is_not_depth);
    tcase_add_test(tc, provider_waiting_reported);
    tcase_add_test(tc, provider_limit_retry);
    tcase_add_test(tc, accounting_property);
    tcase_add_test(tc, random_configurations);
    tcase_add_test(tc, zero_think_rejected);
    tcase_add_test(tc, windows_add_up);
    tcase_add_test(tc, same_seed_same_bytes);
    tcase_add_test(tc, two_sims_side_by_side);
    tcase_add_test(tc, pool_is_flat);
    tcase_add_test(tc, bundled_scenarios);
    tcase_add_test(tc, summary_on_a_terminal);
    tcase_add_test(tc, summary_live_lines);
    tcase_add_test(tc, command_exit_codes_and_json);
    tcase_add_test(tc, budget_forecast_formula);
    tcase_add_test(tc, budget_constant_rate);
    tcase_add_test(tc, budget_daily_budget_scenario);
    tcase_add_test(tc, reference_outputs);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
