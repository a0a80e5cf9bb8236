#include "config.h"

#include "mock_prom.h"

#include <assert.h>
#include <inttypes.h>
#include <string.h>

#include <event2/buffer.h>

/* vllm/engine/metrics.py: time_to_first_token_seconds buckets. */
static const double ttft_bounds[] = {0.001, 0.005, 0.01, 0.02,  0.04,  0.06,  0.08, 0.1,
                                     0.25,  0.5,   0.75, 1.0,   2.5,   5.0,   7.5,  10.0,
                                     20.0,  40.0,  80.0, 160.0, 640.0, 2560.0};
/* e2e_request_latency_seconds and request_queue_time_seconds buckets. */
static const double latency_bounds[] = {0.3,  0.5,   0.8,   1.0,   1.5,   2.0,    2.5,
                                        5.0,  10.0,  15.0,  20.0,  30.0,  40.0,   50.0,
                                        60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0};

void prom_hist_init(struct prom_hist *h, enum prom_buckets which)
{
    memset(h, 0, sizeof *h);
    if (which == PROM_BUCKETS_TTFT) {
        h->bounds = ttft_bounds;
        h->n_bounds = (int)(sizeof ttft_bounds / sizeof ttft_bounds[0]);
    } else {
        h->bounds = latency_bounds;
        h->n_bounds = (int)(sizeof latency_bounds / sizeof latency_bounds[0]);
    }
    assert(h->n_bounds <= PROM_MAX_BUCKETS);
}

void prom_hist_observe(struct prom_hist *h, int64_t us)
{
    double s = us > 0 ? (double)us / 1e6 : 0;
    int i = 0;
    while (i < h->n_bounds && s > h->bounds[i])
        i++;
    h->counts[i]++;
    h->count++;
    h->sum_s += s;
}

void prom_meta(struct evbuffer *out, const char *name, const char *type, const char *help)
{
    evbuffer_add_printf(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

void prom_hist_render(struct evbuffer *out, const char *name, const char *labels,
                      const struct prom_hist *h)
{
    const char *sep = labels[0] ? "," : "";
    uint64_t cum = 0;
    for (int i = 0; i < h->n_bounds; i++) {
        cum += h->counts[i];
        evbuffer_add_printf(out, "%s_bucket{%s%sle=\"%g\"} %" PRIu64 "\n", name, labels, sep,
                            h->bounds[i], cum);
    }
    cum += h->counts[h->n_bounds];
    evbuffer_add_printf(out, "%s_bucket{%s%sle=\"+Inf\"} %" PRIu64 "\n", name, labels, sep, cum);
    evbuffer_add_printf(out, "%s_sum{%s} %.6f\n", name, labels, h->sum_s);
    evbuffer_add_printf(out, "%s_count{%s} %" PRIu64 "\n", name, labels, h->count);
}

void prom_escape_label(struct evbuffer *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '\\')
            evbuffer_add(out, "\\\\", 2);
        else if (*s == '"')
            evbuffer_add(out, "\\\"", 2);
        else if (*s == '\n')
            evbuffer_add(out, "\\n", 2);
        else
            evbuffer_add(out, s, 1);
    }
}
