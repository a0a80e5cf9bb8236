/*
 * mock_prom: Prometheus text exposition for the mock server's /metrics, with
 * the fixed-bucket histograms vLLM exports (same names, same bucket bounds), so
 * a dashboard or `ratelab live` that scrapes vLLM scrapes the mock unchanged.
 */
#ifndef RATELAB_MOCK_PROM_H
#define RATELAB_MOCK_PROM_H

#include <stdint.h>

struct evbuffer;

#define PROM_MAX_BUCKETS 24

/*
 * A cumulative-at-render histogram of seconds. Invariant: count is the sum of
 * counts[0..n_bounds] (the last slot is +Inf); sum_s is the sum of observations.
 */
struct prom_hist {
    const double *bounds;                  /* upper bounds, ascending, seconds; static storage */
    int n_bounds;                          /* <= PROM_MAX_BUCKETS */
    uint64_t counts[PROM_MAX_BUCKETS + 1]; /* per-bucket (not cumulative); [n_bounds] = +Inf */
    uint64_t count;                        /* observations */
    double sum_s;                          /* their sum, seconds */
};

/* vLLM's bucket bounds. */
enum prom_buckets { PROM_BUCKETS_TTFT, PROM_BUCKETS_LATENCY };

void prom_hist_init(struct prom_hist *h, enum prom_buckets which);

/* Record one duration in µs (negative counts as 0). O(buckets), no allocation. */
void prom_hist_observe(struct prom_hist *h, int64_t us);

/* "# HELP", "# TYPE" lines for a metric. type is "counter", "gauge" or "histogram". */
void prom_meta(struct evbuffer *out, const char *name, const char *type, const char *help);

/*
 * Render one histogram's _bucket/_sum/_count lines; labels is the inside of
 * the braces ("model_name=\"m\""), already escaped, may be "".
 */
void prom_hist_render(struct evbuffer *out, const char *name, const char *labels,
                      const struct prom_hist *h);

/* Append s escaped as a Prometheus label value (backslash, quote, newline). */
void prom_escape_label(struct evbuffer *out, const char *s);

#endif
