#include "config.h"

#include "metrics.h"

#include <assert.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "scenario.h"
#include "util.h"

_Static_assert(METRICS_MAX_CLASSES == SCENARIO_MAX_CLASSES,
               "a snapshot must have room for every class a scenario can have");

/*
 * A scope is the overall picture (index 0) or one class (index cls + 1).
 * Counters and histograms are recorded per class only; the overall scope's are
 * sums formed when a window closes, which keeps each event to one update (a
 * snapshot sums the classes' open windows on the fly instead). The overall scope's
 * window histograms stay empty: the classes' go straight into its totals.
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

struct sink_slot {
    metrics_sink fn;
    void *ctx;
};

/*
 * Invariant: 0 <= n_sinks <= METRICS_MAX_SINKS; the kept windows are a ring of
 * keep slots of n_classes + 1 rows (overall first), ring_next the slot the next
 * closed window goes to and kept <= keep the slots filled, the latest just
 * before ring_next; keep = 0 exactly when ring is NULL.
 */
struct metrics {
    int n_classes;
    int64_t window_us;   /* window length, µs */
    int64_t win_start_us; /* the current window: (win_start_us, win_end_us], the first from 0 */
    int64_t win_end_us;
    int64_t end_us;      /* the run's end once finished, else -1 */
    struct sink_slot sinks[METRICS_MAX_SINKS]; /* called in this order */
    int n_sinks;
    struct metrics_row *closing; /* n_classes + 1 rows: the closing window, when not kept */
    struct metrics_row *ring;    /* keep x (n_classes + 1) rows, or NULL */
    int keep;                    /* windows the ring holds; 0: none kept */
    int kept;                    /* windows in the ring, <= keep */
    int ring_next;               /* the slot the next closed window goes to */
    uint64_t open;               /* requests arrived and not yet ended */
    /* The provider's waiting queue (a sim's model; metrics_server_queue), overall only,
     * held-level max and time-weighted area like the client queue's; off until the
     * engine first reports it. */
    bool srvq_on;
    int64_t srvq;                /* requests in the provider's waiting queue now */
    int64_t srvq_since_us;       /* srvq_area_win covers up to here */
    int64_t srvq_area_win;       /* ∫ srvq dt over the window so far, µs·requests */
    int64_t srvq_max_win;        /* max level held > 0 µs in the window */
    struct scope *s;             /* n_classes + 1 scopes, overall first */
};

#ifndef NDEBUG
/* The invariant above struct metrics, for assert() only. */
static bool metrics_ok(const metrics *m)
{
    return m->n_sinks >= 0 && m->n_sinks <= METRICS_MAX_SINKS && m->keep >= 0 &&
           (m->keep == 0) == (m->ring == NULL) && m->kept >= 0 && m->kept <= m->keep &&
           m->ring_next >= 0 && (m->keep == 0 || m->ring_next < m->keep);
}
#endif

/*
 * Histograms read as their union without merging them (histogram_quantiles): a
 * class's window and total, or every class's window and the overall total. Empty
 * ones are left out; they add nothing.
 */
struct hset {
    int n;
    const struct histogram *h[METRICS_MAX_CLASSES + 1];
};

static void hset_add(struct hset *hs, const struct histogram *h)
{
    assert(hs->n <= METRICS_MAX_CLASSES);
    if (h->count)
        hs->h[hs->n++] = h;
}

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
    assert(n_classes >= 1 && n_classes <= METRICS_MAX_CLASSES && window_us > 0);
    metrics *m = xcalloc(1, sizeof *m);
    m->n_classes = n_classes;
    m->window_us = window_us;
    m->win_start_us = 0;
    m->win_end_us = window_us;
    m->end_us = -1;
    m->s = xmalloc((size_t)(n_classes + 1) * sizeof *m->s);
    for (int i = 0; i <= n_classes; i++)
        scope_init(&m->s[i]);
    m->closing = xmalloc((size_t)(n_classes + 1) * sizeof *m->closing);
    assert(metrics_ok(m));
    return m;
}

void metrics_free(metrics *m)
{
    if (!m)
        return;
    free(m->ring);
    free(m->closing);
    free(m->s);
    free(m);
}

int metrics_add_sink(metrics *m, metrics_sink sink, void *ctx)
{
    assert(sink);
    if (m->n_sinks == METRICS_MAX_SINKS)
        return -ENOSPC;
    m->sinks[m->n_sinks++] = (struct sink_slot){sink, ctx};
    return 0;
}

void metrics_set_sink(metrics *m, metrics_sink sink, void *ctx)
{
    if (sink && m->n_sinks == 0)
        m->sinks[m->n_sinks++] = (struct sink_slot){sink, ctx};
    else if (sink)
        m->sinks[0] = (struct sink_slot){sink, ctx};
    else if (m->n_sinks > 0) {
        m->n_sinks--;
        memmove(&m->sinks[0], &m->sinks[1], (size_t)m->n_sinks * sizeof m->sinks[0]);
    }
}

int metrics_keep_windows(metrics *m, int n)
{
    assert(n >= 0);
    struct metrics_row *ring = NULL;
    if (n > 0) {
        ring = calloc((size_t)n * (size_t)(m->n_classes + 1), sizeof *ring);
        if (!ring)
            return -ENOMEM;
    }
    free(m->ring);
    m->ring = ring;
    m->keep = n;
    m->kept = 0;
    m->ring_next = 0;
    assert(metrics_ok(m));
    return 0;
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

/*
 * Depth is the number waiting at an instant after that instant's admissions: a
 * request that enters and leaves the queue at one instant never waited, so a
 * level counts toward the maximum only once held for > 0 µs, settled here when
 * time moves on (as the mean weighs it by its duration), not on every +1.
 */
static void settle_queue(struct scope *s, int64_t now)
{
    assert(now >= s->queue_since_us);
    if (now == s->queue_since_us)
        return; /* settled at this instant already (a dequeue right after its enqueue) */
    if (s->queue > s->queue_max_win)
        s->queue_max_win = s->queue;
    s->queue_area_win += s->queue * (now - s->queue_since_us);
    s->queue_since_us = now;
}

static void settle_srvq(metrics *m, int64_t now)
{
    if (now > m->srvq_since_us && m->srvq > m->srvq_max_win)
        m->srvq_max_win = m->srvq;
    m->srvq_area_win += m->srvq * (now - m->srvq_since_us);
    m->srvq_since_us = now;
}

/* The provider's waiting queue over the open window up to now: max and mean. */
static void srvq_row(const metrics *m, struct metrics_row *r, int64_t start, int64_t now)
{
    if (!m->srvq_on) {
        r->provider_waiting_max = -1;
        r->provider_waiting_mean = -1;
        return;
    }
    int64_t max = m->srvq_max_win, area = m->srvq_area_win;
    if (now > m->srvq_since_us) {
        if (m->srvq > max)
            max = m->srvq;
        area += m->srvq * (now - m->srvq_since_us);
    }
    r->provider_waiting_max = max;
    r->provider_waiting_mean = now > start ? (double)area / (double)(now - start) : 0;
}

/* queue_max_win as settle_queue(s, now) would leave it. */
static int64_t queue_max_at(const struct scope *s, int64_t now)
{
    return now > s->queue_since_us && s->queue > s->queue_max_win ? s->queue : s->queue_max_win;
}

static void fill_row(struct metrics_row *r, int64_t start, int64_t end,
                     const struct metrics_counts *c, int64_t queue_area, int64_t queue_max,
                     int64_t inflight_max, int64_t inflight_end, const struct hset *lat,
                     const struct hset *ttft)
{
    double span_us = (double)(end - start);
    r->start_us = start;
    r->end_us = end;
    r->c = *c;
    r->queue_max = queue_max;
    r->queue_mean = span_us > 0 ? (double)queue_area / span_us : 0;
    r->inflight_max = inflight_max;
    r->inflight_end = inflight_end;
    r->provider_waiting_max = -1; /* the overall window's are set apart (srvq_row) */
    r->provider_waiting_mean = -1;

    metrics_row_stats(r, lat->h, lat->n, ttft->h, ttft->n, end - start);
}

void metrics_row_stats(struct metrics_row *r, const struct histogram *const *lat, int nl,
                       const struct histogram *const *ttft, int nt, int64_t span_us)
{
    static const double qs[3] = {0.50, 0.95, 0.99};
    double span_s = (double)span_us / US_PER_S;
    int64_t q[3];
    histogram_quantiles(lat, nl, qs, 3, q);
    r->latency_p50_us = q[0];
    r->latency_p95_us = q[1];
    r->latency_p99_us = q[2];
    /*
     * The sum in set order, from 0: the same double histogram_merge would leave,
     * so a row read from the parts matches one read from the merged histogram.
     */
    uint64_t count = 0;
    double sum = 0;
    int64_t max = 0;
    for (int k = 0; k < nl; k++) {
        count += lat[k]->count;
        sum += lat[k]->sum;
        if (lat[k]->max > max)
            max = lat[k]->max;
    }
    r->latency_max_us = max;
    r->latency_mean_us = count ? sum / (double)count : 0;
    histogram_quantiles(ttft, nt, qs, 3, q);
    r->ttft_p50_us = q[0];
    r->ttft_p95_us = q[1];
    r->ttft_p99_us = q[2];
    r->requests_per_s = span_s > 0 ? (double)r->c.ended[OUTCOME_SUCCEEDED] / span_s : 0;
    r->tokens_per_s = span_s > 0 ? (double)r->c.output_tokens / span_s : 0;
}

static int64_t max64(int64_t a, int64_t b)
{
    return a > b ? a : b;
}

/*
 * Scope i's open window (*win) and run so far (*run), as of now, reading only;
 * either may be NULL. now is at or after every event recorded. Both the window
 * sinks (at a window's end) and snapshots (at any time) read rows here, so what
 * a reader sees mid-window is what the sink later reports.
 *
 * Histogram sets list the open windows before the total: the union's sum then
 * adds (0 + windows...) + total, the same double as the total will hold once
 * close_window has merged the windows into it.
 */
static void scope_rows(const metrics *m, int i, int64_t now, struct metrics_row *win,
                       struct metrics_row *run)
{
    const struct scope *s = &m->s[i];
    assert(now >= s->queue_since_us);
    /* ∫ queue dt over the open window up to now, what settle_queue would make of it */
    int64_t queue_area = s->queue_area_win + s->queue * (now - s->queue_since_us);
    struct metrics_counts c;
    struct hset lat = {.n = 0}, ttft = {.n = 0};
    if (i > 0) {
        c = s->win;
        hset_add(&lat, &s->lat_win);
        hset_add(&ttft, &s->ttft_win);
    } else {
        memset(&c, 0, sizeof c);
        for (int k = 1; k <= m->n_classes; k++) {
            counts_add(&c, &m->s[k].win);
            hset_add(&lat, &m->s[k].lat_win);
            hset_add(&ttft, &m->s[k].ttft_win);
        }
    }

    if (win && now <= m->win_end_us) {
        fill_row(win, m->win_start_us, now, &c, queue_area, queue_max_at(s, now), s->inflight_max_win,
                 s->inflight, &lat, &ttft);
        if (i == 0)
            srvq_row(m, win, m->win_start_us, now);
    } else if (win) {
        /*
         * Windows metrics_advance has yet to close: the open one is the window
         * holding now, with no event yet, as close_window would leave it.
         */
        int64_t start = m->win_end_us + (now - m->win_end_us - 1) / m->window_us * m->window_us;
        struct metrics_counts none_c = {0};
        struct hset none_h = {.n = 0};
        fill_row(win, start, now, &none_c, s->queue * (now - start), s->queue, s->inflight,
                 s->inflight, &none_h, &none_h);
        win->provider_waiting_max = i == 0 && m->srvq_on ? m->srvq : -1;
        win->provider_waiting_mean = i == 0 && m->srvq_on ? (double)m->srvq : -1;
    }

    if (run) {
        struct metrics_counts rc = s->total;
        counts_add(&rc, &c);
        hset_add(&lat, &s->lat_total);
        hset_add(&ttft, &s->ttft_total);
        fill_row(run, 0, now, &rc, s->queue_area_total + queue_area,
                 max64(s->queue_max_total, queue_max_at(s, now)),
                 max64(s->inflight_max_total, s->inflight_max_win), s->inflight, &lat, &ttft);
    }
}

/*
 * Close the current window at `at` (its end, or the run's end for the last one).
 * Rows are read before anything moves and handed to the sinks once the window
 * has closed, so a sink that reads metrics sees a consistent state.
 */
static void close_window(metrics *m, int64_t at)
{
    int n_scopes = m->n_classes + 1;
    struct metrics_row *rows = NULL;
    if (m->keep > 0)
        rows = &m->ring[(size_t)m->ring_next * (size_t)n_scopes];
    else if (m->n_sinks > 0)
        rows = m->closing;
    if (rows)
        for (int i = 0; i < n_scopes; i++)
            scope_rows(m, i, at, &rows[i], NULL);

    /*
     * The classes' window histograms go straight into the overall totals, with no
     * overall window histogram between: that costs their touched buckets once, not
     * twice. The totals' sums stay the doubles that merging an overall window would
     * give: total + (0 + class 1 + class 2 + ...), in that order.
     */
    struct scope *all = &m->s[0];
    double lat_sum = 0, ttft_sum = 0;
    double lat_total_sum = all->lat_total.sum, ttft_total_sum = all->ttft_total.sum;
    memset(&all->win, 0, sizeof all->win);
    for (int i = 1; i <= m->n_classes; i++) {
        const struct scope *c = &m->s[i];
        counts_add(&all->win, &c->win);
        histogram_merge(&all->lat_total, &c->lat_win);
        histogram_merge(&all->ttft_total, &c->ttft_win);
        lat_sum += c->lat_win.sum;
        ttft_sum += c->ttft_win.sum;
    }
    all->lat_total.sum = lat_total_sum + lat_sum;
    all->ttft_total.sum = ttft_total_sum + ttft_sum;
    for (int i = 0; i <= m->n_classes; i++) {
        struct scope *s = &m->s[i];
        settle_queue(s, at);
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
    settle_srvq(m, at);
    m->srvq_area_win = 0;
    m->srvq_max_win = m->srvq;
    m->win_start_us = at;
    m->win_end_us = at + m->window_us;
    if (m->keep > 0) {
        m->ring_next = (m->ring_next + 1) % m->keep;
        if (m->kept < m->keep)
            m->kept++;
    }
    assert(metrics_ok(m));

    for (int k = 0; rows && k < m->n_sinks; k++)
        for (int i = 0; i < n_scopes; i++)
            m->sinks[k].fn(m->sinks[k].ctx, i - 1, &rows[i]);
}

void metrics_advance(metrics *m, int64_t now)
{
    assert(m->end_us < 0);
    while (now > m->win_end_us) {
        close_window(m, m->win_end_us);
        if (now > m->win_end_us && m->keep == 0 && m->n_sinks == 0) {
            /*
             * Nobody reads the rows, and every window from here to the one holding now
             * is empty (nothing was recorded after win_start): close them as one span,
             * in O(1) per gap. What the windows one by one would leave is the same: no
             * counts, no histogram values, and levels held constant, so the queue area
             * grows by level x span (integers, exact) and the maxima by the level.
             */
            int64_t last = m->win_start_us +
                           (now - m->win_start_us - 1) / m->window_us * m->window_us;
            close_window(m, last);
        }
    }
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
}

void metrics_queue(metrics *m, int64_t now, int cls, int delta)
{
    queue_level(cls_scope(m, now, cls), now, delta);
    queue_level(&m->s[0], now, delta);
}

void metrics_server_queue(metrics *m, int64_t now, int delta)
{
    assert(now >= m->win_start_us);
    if (now > m->win_end_us)
        metrics_advance(m, now);
    if (!m->srvq_on) { /* the level so far was 0: start the integral here */
        m->srvq_on = true;
        m->srvq_since_us = now;
    }
    settle_srvq(m, now);
    m->srvq += delta;
    assert(m->srvq >= 0);
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
    /* Once finished the open window is empty, so the run so far is the totals. */
    scope_rows(m, cls + 1, m->end_us, NULL, out);
}

void metrics_snapshot(const metrics *m, int64_t now_us, struct metrics_snapshot *out)
{
    if (m->end_us >= 0)
        now_us = m->end_us;
    assert(now_us >= m->win_start_us);
    memset(out, 0, sizeof *out);
    out->now_us = now_us;
    out->open_requests = m->open;
    out->n_classes = m->n_classes;
    out->finished = m->end_us >= 0;
    for (int i = 0; i <= m->n_classes; i++) {
        const struct scope *s = &m->s[i];
        struct metrics_view *v = i ? &out->cls[i - 1] : &out->all;
        scope_rows(m, i, now_us, &v->window, &v->run);
        v->queue_depth = s->queue;
        v->inflight = s->inflight;
    }
}

int metrics_windows_kept(const metrics *m)
{
    return m->kept;
}

int metrics_window_row(const metrics *m, int k, int cls, struct metrics_row *out)
{
    assert(k >= 0 && cls >= -1 && cls < m->n_classes);
    if (k >= m->kept)
        return -ERANGE;
    int slot = (m->ring_next - 1 - k + m->keep) % m->keep;
    *out = m->ring[(size_t)slot * (size_t)(m->n_classes + 1) + (size_t)(cls + 1)];
    return 0;
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
