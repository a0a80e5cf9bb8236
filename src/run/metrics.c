#include "config.h"

#include "metrics.h"

#include <assert.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/*
 * A scope is the overall picture (index 0) or one class (index cls + 1).
 * Counters and histograms are recorded per class only; the overall scope's are
 * sums formed when a window closes, which keeps each event to one update.
 * Queue depth and in-flight are levels, not sums: the overall scope tracks its
 * own so its maximum is the true maximum of the total, not a sum of maxima.
 *
 * Invariant: queue and inflight are >= 0; queue_area_* integrate queue over
 * [window start, queue_since) and [0, window start) in µs·requests.
 */
struct scope {
    struct metrics_counts win;   /* this window so far */
    struct metrics_counts total; /* closed windows */
    int64_t queue;               /* client queue depth now */
    int64_t queue_since_us;      /* queue_area_win covers up to here */
    int64_t queue_area_win;      /* ∫ queue dt over the window so far, µs·requests */
    int64_t queue_area_total;    /* ∫ queue dt over closed windows */
    int64_t queue_max_win, queue_max_total;
    int64_t inflight;            /* attempts at the server now */
    int64_t inflight_max_win, inflight_max_total;
    struct histogram lat_win, ttft_win, lat_total, ttft_total;
};

struct metrics {
    int n_classes;
    int64_t window_us;   /* window length, µs */
    int64_t win_start_us; /* the current window: (win_start_us, win_end_us], the first from 0 */
    int64_t win_end_us;
    int64_t end_us;      /* the run's end once finished, else -1 */
    metrics_sink sink;
    void *sink_ctx;
    uint64_t open;       /* requests arrived and not yet ended */
    struct scope *s;     /* n_classes + 1 scopes, overall first */
};

static void scope_init(struct scope *s)
{
    memset(s, 0, offsetof(struct scope, lat_win));
    histogram_init(&s->lat_win);
    histogram_init(&s->ttft_win);
    histogram_init(&s->lat_total);
    histogram_init(&s->ttft_total);
}

metrics *metrics_new(int n_classes, int64_t window_us)
{
    assert(n_classes >= 1 && n_classes <= 64 && window_us > 0);
    metrics *m = xcalloc(1, sizeof *m);
    m->n_classes = n_classes;
    m->window_us = window_us;
    m->win_start_us = 0;
    m->win_end_us = window_us;
    m->end_us = -1;
    m->s = xmalloc((size_t)(n_classes + 1) * sizeof *m->s);
    for (int i = 0; i <= n_classes; i++)
        scope_init(&m->s[i]);
    return m;
}

void metrics_free(metrics *m)
{
    if (!m)
        return;
    free(m->s);
    free(m);
}

void metrics_set_sink(metrics *m, metrics_sink sink, void *ctx)
{
    m->sink = sink;
    m->sink_ctx = ctx;
}

int metrics_classes(const metrics *m)
{
    return m->n_classes;
}

static void counts_add(struct metrics_counts *d, const struct metrics_counts *a)
{
    d->arrivals += a->arrivals;
    d->sends += a->sends;
    for (int o = 0; o < OUTCOME__COUNT; o++)
        d->ended[o] += a->ended[o];
    d->client_throttled += a->client_throttled;
    d->http_429 += a->http_429;
    d->saw_429 += a->saw_429;
    d->retries += a->retries;
    d->errors += a->errors;
    d->prompt_tokens += a->prompt_tokens;
    d->output_tokens += a->output_tokens;
}

static void settle_queue(struct scope *s, int64_t now)
{
    s->queue_area_win += s->queue * (now - s->queue_since_us);
    s->queue_since_us = now;
}

static void fill_row(struct metrics_row *r, int64_t start, int64_t end,
                     const struct metrics_counts *c, int64_t queue_area, int64_t queue_max,
                     int64_t inflight_max, int64_t inflight_end, const struct histogram *lat,
                     const struct histogram *ttft)
{
    double span_us = (double)(end - start);
    double span_s = span_us / US_PER_S;
    r->start_us = start;
    r->end_us = end;
    r->c = *c;
    r->queue_max = queue_max;
    r->queue_mean = span_us > 0 ? (double)queue_area / span_us : 0;
    r->inflight_max = inflight_max;
    r->inflight_end = inflight_end;
    r->latency_p50_us = histogram_quantile(lat, 0.50);
    r->latency_p95_us = histogram_quantile(lat, 0.95);
    r->latency_p99_us = histogram_quantile(lat, 0.99);
    r->latency_max_us = lat->count ? lat->max : 0;
    r->latency_mean_us = histogram_mean(lat);
    r->ttft_p50_us = histogram_quantile(ttft, 0.50);
    r->ttft_p95_us = histogram_quantile(ttft, 0.95);
    r->ttft_p99_us = histogram_quantile(ttft, 0.99);
    r->requests_per_s = span_s > 0 ? (double)c->ended[OUTCOME_SUCCEEDED] / span_s : 0;
    r->tokens_per_s = span_s > 0 ? (double)c->output_tokens / span_s : 0;
}

/* Close the current window at `at` (its end, or the run's end for the last one). */
static void close_window(metrics *m, int64_t at)
{
    struct scope *all = &m->s[0];
    memset(&all->win, 0, sizeof all->win);
    histogram_reset(&all->lat_win);
    histogram_reset(&all->ttft_win);
    for (int i = 1; i <= m->n_classes; i++) {
        counts_add(&all->win, &m->s[i].win);
        histogram_merge(&all->lat_win, &m->s[i].lat_win);
        histogram_merge(&all->ttft_win, &m->s[i].ttft_win);
    }
    for (int i = 0; i <= m->n_classes; i++) {
        struct scope *s = &m->s[i];
        settle_queue(s, at);
        if (m->sink) {
            struct metrics_row row;
            fill_row(&row, m->win_start_us, at, &s->win, s->queue_area_win, s->queue_max_win,
                     s->inflight_max_win, s->inflight, &s->lat_win, &s->ttft_win);
            m->sink(m->sink_ctx, i - 1, &row);
        }
        counts_add(&s->total, &s->win);
        memset(&s->win, 0, sizeof s->win);
        histogram_merge(&s->lat_total, &s->lat_win);
        histogram_merge(&s->ttft_total, &s->ttft_win);
        histogram_reset(&s->lat_win);
        histogram_reset(&s->ttft_win);
        s->queue_area_total += s->queue_area_win;
        s->queue_area_win = 0;
        if (s->queue_max_win > s->queue_max_total)
            s->queue_max_total = s->queue_max_win;
        if (s->inflight_max_win > s->inflight_max_total)
            s->inflight_max_total = s->inflight_max_win;
        s->queue_max_win = s->queue;
        s->inflight_max_win = s->inflight;
    }
    m->win_start_us = at;
    m->win_end_us = at + m->window_us;
}

void metrics_advance(metrics *m, int64_t now)
{
    assert(m->end_us < 0);
    while (now > m->win_end_us)
        close_window(m, m->win_end_us);
}

static inline struct scope *cls_scope(metrics *m, int64_t now, int cls)
{
    assert(cls >= 0 && cls < m->n_classes);
    assert(now >= m->win_start_us);
    if (now > m->win_end_us)
        metrics_advance(m, now);
    return &m->s[cls + 1];
}

void metrics_arrival(metrics *m, int64_t now, int cls)
{
    cls_scope(m, now, cls)->win.arrivals++;
    m->open++;
}

static void queue_level(struct scope *s, int64_t now, int delta)
{
    settle_queue(s, now);
    s->queue += delta;
    assert(s->queue >= 0);
    if (s->queue > s->queue_max_win)
        s->queue_max_win = s->queue;
}

void metrics_queue(metrics *m, int64_t now, int cls, int delta)
{
    queue_level(cls_scope(m, now, cls), now, delta);
    queue_level(&m->s[0], now, delta);
}

void metrics_throttled(metrics *m, int64_t now, int cls)
{
    cls_scope(m, now, cls)->win.client_throttled++;
}

static void inflight_level(struct scope *s, int delta)
{
    s->inflight += delta;
    assert(s->inflight >= 0);
    if (s->inflight > s->inflight_max_win)
        s->inflight_max_win = s->inflight;
}

void metrics_send(metrics *m, int64_t now, int cls, bool retry)
{
    struct scope *s = cls_scope(m, now, cls);
    s->win.sends++;
    s->win.retries += retry;
    inflight_level(s, +1);
    inflight_level(&m->s[0], +1);
}

void metrics_answer(metrics *m, int64_t now, int cls, int status, bool first_429)
{
    struct scope *s = cls_scope(m, now, cls);
    if (status == 429)
        s->win.http_429++;
    else if (status >= 0 && (status < 200 || status >= 300))
        s->win.errors++;
    s->win.saw_429 += first_429;
    inflight_level(s, -1);
    inflight_level(&m->s[0], -1);
}

void metrics_end(metrics *m, int64_t now, int cls, enum outcome o, int64_t latency_us,
                 int64_t ttft_us, int64_t prompt_tokens, int64_t output_tokens)
{
    struct scope *s = cls_scope(m, now, cls);
    assert(o >= 0 && o < OUTCOME__COUNT);
    assert(m->open > 0);
    m->open--;
    s->win.ended[o]++;
    if (o == OUTCOME_SUCCEEDED || o == OUTCOME_FAILED) {
        assert(latency_us >= 0);
        histogram_record(&s->lat_win, latency_us);
    }
    if (o == OUTCOME_SUCCEEDED) {
        if (ttft_us >= 0)
            histogram_record(&s->ttft_win, ttft_us);
        s->win.prompt_tokens += (uint64_t)prompt_tokens;
        s->win.output_tokens += (uint64_t)output_tokens;
    }
}

void metrics_finish(metrics *m, int64_t end_us)
{
    assert(m->end_us < 0 && end_us >= m->win_start_us);
    metrics_advance(m, end_us);
    if (end_us > m->win_start_us || m->win_start_us == 0)
        close_window(m, end_us);
    m->end_us = end_us;
}

void metrics_total(const metrics *m, int cls, struct metrics_row *out)
{
    assert(m->end_us >= 0 && cls >= -1 && cls < m->n_classes);
    const struct scope *s = &m->s[cls + 1];
    fill_row(out, 0, m->end_us, &s->total, s->queue_area_total, s->queue_max_total,
             s->inflight_max_total, s->inflight, &s->lat_total, &s->ttft_total);
}

const struct histogram *metrics_latency_hist(const metrics *m, int cls)
{
    return &m->s[cls + 1].lat_total;
}

const struct histogram *metrics_ttft_hist(const metrics *m, int cls)
{
    return &m->s[cls + 1].ttft_total;
}

int64_t metrics_queue_depth(const metrics *m, int cls)
{
    return m->s[cls + 1].queue;
}

int64_t metrics_inflight(const metrics *m, int cls)
{
    return m->s[cls + 1].inflight;
}

uint64_t metrics_open_requests(const metrics *m)
{
    return m->open;
}
