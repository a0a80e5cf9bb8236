/*
 * sim_mmc: ratelab's engine on a textbook M/M/c (or M/D/c) queue, for the
 * speed comparison with SimPy (bench/sim_mmc_simpy.py runs the same model).
 * usage: sim_mmc CUSTOMERS [C] [RHO] [SEED] [exp|det]
 * Prints customers, CPU and wall time, customers per CPU second, mean sojourn and P(wait)
 * against theory. The rate is per CPU second so a busy machine skews it less.
 */
#include "config.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "metrics.h"
#include "scenario.h"
#include "sim.h"
#include "util.h"

static double clock_s(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
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

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: sim_mmc CUSTOMERS [C] [RHO] [SEED] [exp|det]\n");
        return 2;
    }
    double customers = atof(argv[1]);
    int c = argc > 2 ? atoi(argv[2]) : 4;
    double rho = argc > 3 ? atof(argv[3]) : 0.9;
    uint64_t seed = argc > 4 ? strtoull(argv[4], NULL, 10) : 1;
    int det = argc > 5 && strcmp(argv[5], "det") == 0;

    struct scenario sc;
    scenario_defaults(&sc);
    sc.seed = seed;
    struct client_config *cl = &sc.client;
    cl->requests_per_minute = cl->tokens_per_minute = cl->tokens_per_day = 0;
    cl->max_concurrent = cl->queue_capacity = cl->request_timeout_us = 0;
    cl->priority = PRIORITY_FIFO;
    cl->retry.max_attempts = 1;
    sc.server.service = det ? SERVICE_DETERMINISTIC : SERVICE_EXPONENTIAL;
    sc.server.service_mean_us = US_PER_S; /* μ = 1/s */
    sc.server.max_running = c;
    sc.drain_limit_us = 0;
    double lambda = rho * c;
    sc.duration_us = (int64_t)(customers / lambda * US_PER_S);
    sc.window_us = sc.duration_us;
    struct class_config *k = &sc.classes[sc.n_classes++];
    snprintf(k->name, sizeof k->name, "q");
    k->arrival.kind = ARRIVAL_POISSON;
    k->arrival.rate_per_s = lambda;
    k->prompt_tokens.kind = k->completion_tokens.kind = DIST_CONST;
    k->prompt_tokens.a = k->completion_tokens.a = 1;
    k->weight = 1;

    double t0 = clock_s(CLOCK_MONOTONIC), c0 = clock_s(CLOCK_PROCESS_CPUTIME_ID);
    int err;
    sim *s = sim_new(&sc, &err);
    if (!s)
        return 3;
    sim_run(s, 0);
    double wall = clock_s(CLOCK_MONOTONIC) - t0;
    double cpu = clock_s(CLOCK_PROCESS_CPUTIME_ID) - c0;
    struct metrics_row t;
    metrics_total(sim_metrics(s), -1, &t);
    struct sim_stats st;
    sim_stats(s, &st);
    double a = lambda;
    double pc = erlang_c(c, a);
    double w_theory = det ? (c == 1 ? rho / (2 * (1 - rho)) + 1 : -1) : pc / (c - a) + 1;
    double n = (double)t.c.ended[OUTCOME_SUCCEEDED];
    printf("ratelab M/%c/%d rho=%.2f seed=%llu: customers %.0f  cpu %.3f s  wall %.3f s  "
           "%.0f customers/s (cpu)  mean sojourn %.4f s (theory %.4f)  P(wait) %.4f "
           "(Erlang C %.4f)\n",
           det ? 'D' : 'M', c, rho, (unsigned long long)seed, n, cpu, wall, n / cpu,
           t.latency_mean_us / US_PER_S, w_theory,
           (double)st.server_waited / (double)st.server_served, det ? -1.0 : pc);
    sim_free(s);
    return 0;
}
