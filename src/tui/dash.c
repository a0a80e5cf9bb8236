#include "config.h"

#include "dash.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"
#include "util.h"

/*
 * Layout (columns × rows of the terminal):
 *
 *   row 0          title bar: command, scenario, time, speed, state, key hints
 *   rows 1..H-2    three plots stacked, each a title row then canvas rows, with
 *                  tick labels in AXIS_W columns on the left; the side panel on
 *                  the right (PANEL_W columns) when the terminal is wide enough
 *   row H-1        the shared time axis
 *
 * At 80×24 each plot has 6 canvas rows of 42 columns (84 windows in braille).
 */
#define AXIS_W 7
#define PANEL_W 30
#define PANEL_WIDE 36  /* from 120 columns */
#define MIN_PLOT_W 20  /* narrower than this and the panel goes */

static int panel_w(int w)
{
    if (w >= 120)
        return PANEL_WIDE;
    return w - PANEL_W - 1 >= AXIS_W + 1 + MIN_PLOT_W ? PANEL_W : 0;
}

static int canvas_w(int w)
{
    int p = panel_w(w);
    int cw = w - (p ? p + 1 : 0) - AXIS_W - 1;
    return cw < 1 ? 1 : cw;
}

int dash_points(const struct dash *d, int screen_w)
{
    return canvas_w(screen_w) * (d->braille ? 2 : 1);
}

void dash_init(struct dash *d, const struct scenario *sc, bool braille, bool color)
{
    memset(d, 0, sizeof *d);
    d->sc = sc;
    d->braille = braille;
    d->color = color;
    d->cls = -1;
    d->srv_wait = xcalloc(DASH_HISTORY, sizeof *d->srv_wait);
    d->srv_wait_win = xmalloc(DASH_HISTORY * sizeof *d->srv_wait_win);
    for (int i = 0; i < DASH_HISTORY; i++)
        d->srv_wait_win[i] = -1;
}

void dash_fini(struct dash *d)
{
    free(d->srv_wait);
    free(d->srv_wait_win);
}

static int64_t window_us(const struct dash *d)
{
    return d->sc->window_us > 0 ? d->sc->window_us : US_PER_S;
}

void dash_sample(struct dash *d, const metrics *m, const struct run_gauges *g)
{
    (void)m;
    if (g->server.waiting < 0)
        return;
    /* Windows are (start, end]: the instant now belongs to the window ending at or after it. */
    int64_t win = g->now_us > 0 ? (g->now_us - 1) / window_us(d) : 0;
    int i = (int)(win % DASH_HISTORY);
    if (d->srv_wait_win[i] != win) {
        d->srv_wait_win[i] = win;
        d->srv_wait[i] = 0;
    }
    if ((double)g->server.waiting > d->srv_wait[i])
        d->srv_wait[i] = (double)g->server.waiting;
}

void dash_scroll(struct dash *d, const metrics *m, int delta, int screen_w)
{
    int kept = metrics_windows_kept(m);
    int most = kept + 1 - dash_points(d, screen_w);
    d->scroll += delta;
    if (d->scroll > most)
        d->scroll = most;
    if (d->scroll < 0)
        d->scroll = 0;
}

/* ---- the series ---------------------------------------------------------------------- */

enum { S_THR, S_429, S_QUEUE, S_INFLIGHT, S_SRVWAIT, S_P95, S_P50, S__N };

struct series {
    int n;                 /* points, oldest first */
    double t_s[2];         /* run time of the oldest and newest window's end, s */
    double *v[S__N];       /* values per point */
};

static double ratio(uint64_t a, uint64_t b)
{
    return b ? (double)a / (double)b : NAN;
}

/*
 * A window's share of requests that hit a limit. Its events are counted when they
 * happen (a request is "throttled" when it leaves the queue late, "saw 429" at the
 * answer), not in the window it arrived in, so the base is the larger of the
 * window's arrivals and its first attempts, and the share never passes 1.
 */
static double share(uint64_t hits, const struct metrics_counts *c)
{
    uint64_t firsts = c->sends - c->retries;
    double v = ratio(hits, c->arrivals > firsts ? c->arrivals : firsts);
    return v > 1 ? 1 : v;
}

static void point(struct series *s, int i, const struct dash *d, const struct metrics_row *r)
{
    const struct metrics_counts *c = &r->c;
    s->v[S_THR][i] = share(c->client_throttled, c);
    s->v[S_429][i] = share(c->saw_429, c);
    s->v[S_QUEUE][i] = (double)r->queue_max;
    s->v[S_INFLIGHT][i] = (double)r->inflight_max;
    bool answered = c->ended[OUTCOME_SUCCEEDED] + c->ended[OUTCOME_FAILED] > 0;
    s->v[S_P95][i] = answered ? (double)r->latency_p95_us / US_PER_MS : NAN;
    s->v[S_P50][i] = answered ? (double)r->latency_p50_us / US_PER_MS : NAN;
    int64_t win = r->end_us > 0 ? (r->end_us - 1) / window_us(d) : 0;
    int k = (int)(win % DASH_HISTORY);
    s->v[S_SRVWAIT][i] = d->srv_wait_win[k] == win ? d->srv_wait[k] : NAN;
}

/*
 * The last `want` windows before the scroll position, oldest first: the kept
 * closed windows, then (when following the run) the open window so far.
 */
static void collect(struct series *s, const struct dash *d, const metrics *m,
                    const struct metrics_snapshot *snap, int want)
{
    int kept = metrics_windows_kept(m);
    bool open = !snap->finished && snap->all.window.end_us > snap->all.window.start_us;
    int avail = kept + (open ? 1 : 0); /* index 0 = newest */
    int first = d->scroll;             /* newest shown */
    int n = avail - first < want ? avail - first : want;
    if (n < 0)
        n = 0;
    s->n = n;
    for (int i = 0; i < n; i++) {
        int back = first + (n - 1 - i); /* windows back from the newest */
        struct metrics_row r;
        if (open && back == 0) {
            r = d->cls < 0 ? snap->all.window : snap->cls[d->cls].window;
        } else {
            int k = back - (open ? 1 : 0);
            if (metrics_window_row(m, k, d->cls, &r) < 0)
                memset(&r, 0, sizeof r);
        }
        point(s, i, d, &r);
        if (i == 0)
            s->t_s[0] = (double)r.end_us / US_PER_S;
        if (i == n - 1)
            s->t_s[1] = (double)r.end_us / US_PER_S;
    }
}

/* ---- drawing ------------------------------------------------------------------------- */

static enum screen_style style_of(const struct dash *d, int series, enum screen_style plain)
{
    static const enum screen_style col[] = {SS_CYAN, SS_MAGENTA, SS_YELLOW, SS_GREEN, SS_RED};
    if (!d->color)
        return plain;
    return series >= 0 && series < 5 ? col[series] : plain;
}

struct plot_spec {
    const char *title;
    enum plot_unit unit;
    int n_series;
    int idx[3];             /* series indices into struct series */
    const char *name[3];    /* legend */
    int color[3];           /* colour per series (style_of); -1 = dim */
    double marker;          /* a marker line (the SLO), NaN = none */
};

static void minmax(const double *v, int n, double *lo, double *hi)
{
    for (int i = 0; i < n; i++) {
        if (isnan(v[i]))
            continue;
        if (v[i] < *lo)
            *lo = v[i];
        if (v[i] > *hi)
            *hi = v[i];
    }
}

static void draw_plot(const struct dash *d, struct screen *s, const struct series *ser,
                      const struct plot_spec *p, int x0, int y0, int rows, int cw)
{
    /* Title and legend. */
    int x = x0 + screen_text(s, x0, y0, AXIS_W + cw + 1, SS_BOLD, p->title);
    for (int k = 0; k < p->n_series; k++) {
        x += 2;
        enum screen_style st = p->color[k] < 0 ? SS_DIM : style_of(d, p->color[k], SS_NORMAL);
        x += screen_text(s, x, y0, x0 + AXIS_W + cw + 1 - x, st, d->braille ? "\u2501" : "-");
        x += 1 + screen_text(s, x + 1, y0, x0 + AXIS_W + cw + 1 - x - 1, SS_NORMAL, p->name[k]);
    }
    if (!isnan(p->marker)) {
        char buf[16];
        plot_format(p->marker, p->unit, buf, sizeof buf);
        x += 2;
        screen_printf(s, x, y0, x0 + AXIS_W + cw + 1 - x, d->color ? SS_RED : SS_DIM, "-- SLO %s",
                      buf);
    }
    int ch = rows - 1;
    if (ch < 1)
        return;
    double lo = INFINITY, hi = -INFINITY;
    for (int k = 0; k < p->n_series; k++)
        minmax(ser->v[p->idx[k]], ser->n, &lo, &hi);
    if (!isnan(p->marker)) {
        lo = lo < p->marker ? lo : p->marker;
        hi = hi > p->marker ? hi : p->marker;
    }
    struct plot_axis ax;
    plot_axis_fit(&ax, p->unit, lo, hi, ch >= 6 ? 4 : ch >= 3 ? 3 : 2);
    struct plot_canvas c;
    plot_canvas_init(&c, cw, ch, d->braille);
    if (!isnan(p->marker))
        plot_hline(&c, p->marker, &ax, 9);
    for (int k = 0; k < p->n_series; k++)
        plot_series(&c, ser->v[p->idx[k]], ser->n, &ax, k);
    /* Tick labels, right-aligned beside the rows their values fall on. */
    for (int t = 0; t < ax.n_ticks; t++) {
        int row = plot_axis_row(&ax, ax.tick[t], ch, 1, NULL);
        if (row < 0)
            continue;
        char lab[16];
        snprintf(lab, sizeof lab, "%*s", AXIS_W - 1, ax.label[t]);
        screen_text(s, x0, y0 + 1 + row, AXIS_W - 1, SS_DIM, lab);
    }
    for (int r = 0; r < ch; r++)
        screen_put(s, x0 + AXIS_W - 1, y0 + 1 + r, d->braille ? "\u2502" : "|", SS_DIM);
    for (int r = 0; r < ch; r++)
        for (int q = 0; q < cw; q++) {
            char cell[5];
            int who = plot_cell(&c, q, r, cell);
            if (who < 0)
                continue;
            enum screen_style st = who == 9                 ? (d->color ? SS_RED : SS_DIM)
                                   : p->color[who] < 0      ? SS_DIM
                                                            : style_of(d, p->color[who], SS_NORMAL);
            screen_put(s, x0 + AXIS_W + q, y0 + 1 + r, cell, st);
        }
    plot_canvas_fini(&c);
}

static void time_axis(const struct dash *d, struct screen *s, const struct series *ser, int x0,
                      int y, int cw)
{
    if (ser->n < 1)
        return;
    struct plot_axis ax;
    plot_axis_fit(&ax, PLOT_SECONDS, ser->t_s[0], ser->t_s[1], cw >= 60 ? 6 : cw >= 30 ? 4 : 2);
    int sub = d->braille ? 2 : 1;
    int last_end = -1;
    for (int t = 0; t < ax.n_ticks; t++) {
        int col = plot_axis_col(&ax, ax.tick[t], cw, sub, NULL);
        if (col < 0)
            continue;
        int len = (int)strlen(ax.label[t]);
        int at = x0 + AXIS_W + col - len / 2;
        if (at + len > x0 + AXIS_W + cw)
            at = x0 + AXIS_W + cw - len;
        if (at <= last_end)
            continue;
        screen_text(s, at, y, len, SS_DIM, ax.label[t]);
        last_end = at + len;
    }
}

/* ---- the side panel ------------------------------------------------------------------ */

static void fmt_count(double v, char *buf, size_t n)
{
    plot_format(v, PLOT_COUNT, buf, n);
}

/* "[#####.....]" of level/capacity in w columns; full when unlimited. */
static void bar(const struct dash *d, struct screen *s, int x, int y, int w, double frac,
                enum screen_style st)
{
    if (w < 3)
        return;
    int inner = w - 2;
    if (frac < 0)
        frac = 0;
    if (frac > 1)
        frac = 1;
    int full = (int)lround(frac * inner);
    screen_put(s, x, y, "[", SS_DIM);
    for (int i = 0; i < inner; i++)
        screen_put(s, x + 1 + i, y,
                   i < full ? (d->braille ? "\u2588" : "#") : (d->braille ? "\u00b7" : "."),
                   i < full ? st : SS_DIM);
    screen_put(s, x + 1 + inner, y, "]", SS_DIM);
}

static void bucket_row(const struct dash *d, struct screen *s, int x, int y, int w,
                       const char *name, const struct run_bucket_gauge *b)
{
    screen_text(s, x, y, 5, SS_NORMAL, name);
    if (b->capacity <= 0) {
        screen_text(s, x + 5, y, w - 5, SS_DIM, "unlimited");
        return;
    }
    double frac = (double)b->level / (double)b->capacity;
    enum screen_style st = !d->color ? SS_NORMAL : frac < 0.1 ? SS_RED : frac < 0.3 ? SS_YELLOW
                                                                                 : SS_GREEN;
    bar(d, s, x + 5, y, w - 5 - 5, frac, st);
    screen_printf(s, x + w - 5, y, 5, SS_NORMAL, "%4.0f%%", 100 * (frac > 0 ? frac : 0));
}

static void panel(const struct dash *d, struct screen *s, int x, int y0, int w, int h,
                  const metrics *m, const struct metrics_snapshot *snap,
                  const struct run_gauges *g, const struct dash_state *st)
{
    const struct metrics_view *v = d->cls < 0 ? &snap->all : &snap->cls[d->cls];
    const struct metrics_counts *c = &v->run.c;
    int y = y0, end = y0 + h;
    char a[16];
    screen_printf(s, x, y++, w, SS_BOLD, "Requests (%s)",
                  d->cls < 0 ? "all classes" : d->sc->classes[d->cls].name);
    static const char *const names[OUTCOME__COUNT] = {"succeeded", "failed", "rejected",
                                                      "timed out", "cancelled"};
    uint64_t ended = 0;
    fmt_count((double)c->arrivals, a, sizeof a);
    screen_printf(s, x, y++, w, SS_NORMAL, " arrived      %8s", a);
    for (int o = 0; o < OUTCOME__COUNT && y < end; o++) {
        ended += c->ended[o];
        fmt_count((double)c->ended[o], a, sizeof a);
        enum screen_style stl = (o == OUTCOME_FAILED || o == OUTCOME_TIMED_OUT ||
                                 o == OUTCOME_REJECTED) && c->ended[o] && d->color
                                    ? SS_RED
                                    : SS_NORMAL;
        screen_printf(s, x, y++, w, stl, " %-12s %8s", names[o], a);
    }
    if (y < end) {
        fmt_count((double)(c->arrivals - ended), a, sizeof a);
        screen_printf(s, x, y++, w, SS_DIM, " open         %8s", a);
    }
    if (y < end) {
        /* Rates of the last whole window (the open one has barely begun), else the run's. */
        struct metrics_row last;
        if (metrics_window_row(m, 0, d->cls, &last) < 0)
            last = v->run;
        char rq[16], tk[16];
        plot_format(last.requests_per_s, PLOT_COUNT, rq, sizeof rq);
        plot_format(last.tokens_per_s, PLOT_COUNT, tk, sizeof tk);
        screen_printf(s, x, y++, w, SS_NORMAL, "req/s %-6s tok/s %s", rq, tk);
    }
    if (y < end) {
        if (g->concurrency > 0)
            screen_printf(s, x, y++, w, SS_NORMAL, "in flight %lld/%lld  queue %lld",
                          (long long)v->inflight, (long long)g->concurrency,
                          (long long)v->queue_depth);
        else
            screen_printf(s, x, y++, w, SS_NORMAL, "in flight %lld  queue %lld",
                          (long long)v->inflight, (long long)v->queue_depth);
    }
    if (y < end)
        screen_text(s, x, y++, w, SS_BOLD, "Client limiter");
    const struct run_bucket_gauge *b[3] = {&g->rpm, &g->tpm, &g->tpd};
    static const char *const bn[3] = {"RPM", "TPM", "TPD"};
    if (g->limits_elsewhere && y < end) /* shared in Redis: not known in this process */
        screen_text(s, x, y++, w, SS_DIM, " shared in Redis (backend = redis)");
    for (int i = 0; i < 3 && y < end && !g->limits_elsewhere; i++)
        bucket_row(d, s, x, y++, w, bn[i], b[i]);
    if (y < end && !g->limits_elsewhere) {
        /* Concurrency: slots free against the effective limit, like the buckets. */
        struct run_bucket_gauge cg = {g->concurrency > 0 ? g->concurrency - g->in_flight : 0,
                                      g->concurrency};
        bucket_row(d, s, x, y++, w, "conc", &cg);
    }
    if (y < end) {
        if (g->retry_budget_left >= 0)
            screen_printf(s, x, y++, w, SS_NORMAL, "retries %llu  budget left %lld",
                          (unsigned long long)c->retries, (long long)g->retry_budget_left);
        else
            screen_printf(s, x, y++, w, SS_NORMAL, "retries %llu  (no budget)",
                          (unsigned long long)c->retries);
    }
    if (y < end)
        screen_text(s, x, y++, w, SS_BOLD, "p95 by class (SLO)");
    for (int i = 0; i < d->sc->n_classes && y < end; i++) {
        if (y == end - 1 && i < d->sc->n_classes - 1 && !st->live) {
            screen_printf(s, x, y++, w, SS_DIM, " ... %d more", d->sc->n_classes - i);
            break;
        }
        const struct metrics_row *r = &snap->cls[i].run;
        char p95[16], slo[16];
        plot_format((double)r->latency_p95_us / US_PER_MS, PLOT_MS, p95, sizeof p95);
        int64_t slo_us = d->sc->classes[i].slo_p95_us ? d->sc->classes[i].slo_p95_us
                                                       : d->sc->slo_p95_us;
        enum screen_style stl = SS_NORMAL;
        if (slo_us > 0) {
            plot_format((double)slo_us / US_PER_MS, PLOT_MS, slo, sizeof slo);
            bool over = r->latency_p95_us > slo_us;
            stl = d->color ? (over ? SS_RED : SS_GREEN) : (over ? SS_BOLD : SS_NORMAL);
            screen_printf(s, x, y++, w, stl, " %-10.10s %6s %s %s%s", d->sc->classes[i].name, p95,
                          over ? ">" : "<=", slo, over && !d->color ? " !" : "");
        } else {
            screen_printf(s, x, y++, w, stl, " %-10.10s %6s", d->sc->classes[i].name, p95);
        }
    }
    if (st->live && g->server.running >= 0 && y < end) {
        screen_text(s, x, y++, w, SS_BOLD, "Server (vLLM metrics)");
        if (y < end)
            screen_printf(s, x, y++, w, SS_NORMAL, " running %lld  waiting %lld",
                          (long long)g->server.running, (long long)g->server.waiting);
        if (y < end && g->server.kv_cache_usage >= 0)
            screen_printf(s, x, y++, w, SS_NORMAL, " KV cache %.0f%%",
                          100 * g->server.kv_cache_usage);
    }
}

static void help_box(struct screen *s)
{
    static const char *const lines[] = {
        "Keys",
        "  q        quit (the report is still written)",
        "  p        pause / resume",
        "  + / -    sim: faster / slower playback",
        "  <- / ->  scroll back / forward in time",
        "           (when paused or finished)",
        "  End      follow the run again",
        "  c        cycle the class shown (or all)",
        "  ?        this help",
    };
    int n = (int)(sizeof lines / sizeof lines[0]);
    int bw = 48 < s->w - 2 ? 48 : s->w - 2, bh = n + 2;
    int x0 = (s->w - bw) / 2, y0 = (s->h - bh) / 2;
    if (x0 < 0)
        x0 = 0;
    if (y0 < 0)
        y0 = 0;
    for (int y = 0; y < bh; y++)
        for (int x = 0; x < bw; x++) {
            bool edge = y == 0 || y == bh - 1 || x == 0 || x == bw - 1;
            screen_put(s, x0 + x, y0 + y, edge ? (y == 0 || y == bh - 1 ? "-" : "|") : " ",
                       SS_NORMAL);
        }
    for (int i = 0; i < n; i++)
        screen_text(s, x0 + 2, y0 + 1 + i, bw - 3, i == 0 ? SS_BOLD : SS_NORMAL, lines[i]);
}

void dash_render(struct dash *d, struct screen *s, const metrics *m,
                 const struct metrics_snapshot *snap, const struct run_gauges *g,
                 const struct dash_state *st)
{
    screen_clear(s);
    int w = s->w, h = s->h;
    /* Title bar. */
    char now[16], dur[16];
    plot_format((double)snap->now_us / US_PER_S, PLOT_SECONDS, now, sizeof now);
    plot_format((double)d->sc->duration_us / US_PER_S, PLOT_SECONDS, dur, sizeof dur);
    char speed[32] = "";
    if (!st->live) {
        if (st->speed > 0)
            snprintf(speed, sizeof speed, "  x%g", st->speed);
        else
            snprintf(speed, sizeof speed, "  x max");
    }
    const char *state = st->finished ? "finished" : st->paused ? "PAUSED" : "running";
    for (int x = 0; x < w; x++)
        screen_put(s, x, 0, " ", SS_REVERSE);
    int tx = screen_printf(s, 0, 0, w, SS_REVERSE, " ratelab %s  %s  t %s / %s%s  [%s]%s",
                           st->command ? st->command : st->live ? "live" : "sim", d->sc->name,
                           now, dur, speed, state,
                           d->scroll ? "  (scrolled)" : "");
    const char *hint = "? help  q quit";
    int hl = (int)strlen(hint);
    if (tx + hl + 2 <= w)
        screen_text(s, w - hl - 1, 0, hl, SS_REVERSE, hint);
    if (h < 8 || w < 20) {
        screen_text(s, 0, h > 1 ? 1 : 0, w, SS_NORMAL, "terminal too small");
        return;
    }
    /* Series over the windows the canvas can show. */
    int cw = canvas_w(w);
    int want = dash_points(d, w);
    struct series ser = {0};
    double *buf = xmalloc((size_t)S__N * (size_t)(want > 0 ? want : 1) * sizeof *buf);
    for (int k = 0; k < S__N; k++)
        ser.v[k] = buf + (size_t)k * (size_t)want;
    collect(&ser, d, m, snap, want);
    int64_t slo_us = d->cls >= 0 && d->sc->classes[d->cls].slo_p95_us
                         ? d->sc->classes[d->cls].slo_p95_us
                         : d->sc->slo_p95_us;
    bool srv = st->live && g->server.waiting >= 0;
    const struct plot_spec specs[3] = {
        {"hit rate", PLOT_SHARE, 2, {S_THR, S_429}, {"throttled", "429"}, {0, 1}, NAN},
        {"queue depth", PLOT_COUNT, srv ? 3 : 2, {S_QUEUE, S_INFLIGHT, S_SRVWAIT},
         {"queue", "in flight", "server"}, {0, 2, 1}, NAN},
        {"latency", PLOT_MS, 2, {S_P95, S_P50}, {"p95", "p50"}, {0, -1},
         slo_us > 0 ? (double)slo_us / US_PER_MS : NAN},
    };
    int area = h - 2; /* rows 1 .. h-2 */
    int ph = area / 3;
    for (int i = 0; i < 3; i++) {
        int y0 = 1 + i * ph;
        int rows = i == 2 ? area - 2 * ph : ph;
        draw_plot(d, s, &ser, &specs[i], 0, y0, rows, cw);
    }
    time_axis(d, s, &ser, 0, h - 1, cw);
    free(buf);
    int pw = panel_w(w);
    if (pw) {
        int px = w - pw;
        for (int y = 1; y < h; y++)
            screen_put(s, px - 1, y, d->braille ? "\u2502" : "|", SS_DIM);
        panel(d, s, px, 1, pw, h - 1, m, snap, g, st);
    }
    if (d->help)
        help_box(s);
}
