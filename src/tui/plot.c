#include "config.h"

#include "plot.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Inputs beyond this are clamped: 1e15 ms is 31,000 years, and k · step stays exact enough. */
#define MAG_MAX 1e15

/* Relative slack for "is x a multiple of step": ticks are products, not exact decimals. */
#define EPS 1e-9

/* ------------------------------------------------------------------ labels */

/*
 * x >= 0 and finite, rounded to 3 significant digits, and the decimal exponent
 * of the result. printf rounds, so that the unit chosen and the digits printed
 * agree (999.5 is 1.00e3, not 999).
 */
static double round3(double x, int *exp10)
{
    char t[32];
    snprintf(t, sizeof t, "%.2e", x);
    *exp10 = atoi(strchr(t, 'e') + 1);
    return strtod(t, NULL);
}

/*
 * x >= 0 with 3 significant digits (more only for a longer integer part), at
 * most max_dec decimals, trailing zeros dropped. Returns false when that is
 * "0" (x rounds to zero).
 */
static bool num3(double x, int max_dec, char *t, size_t n)
{
    int e;
    double r = round3(x, &e);
    int dec = 2 - e;
    if (dec < 0)
        dec = 0;
    if (dec > max_dec)
        dec = max_dec;
    snprintf(t, n, "%.*f", dec, r);
    if (strchr(t, '.')) {
        char *end = t + strlen(t);
        while (end[-1] == '0')
            *--end = '\0';
        if (end[-1] == '.')
            *--end = '\0';
    }
    return strcmp(t, "0") != 0;
}

/* One display unit: values are divided by div, shown while they round below `below`. */
struct scale {
    double div;
    double below;
    int max_dec;
    const char *suffix;
};

static const struct scale ms_scale[] = {
    {1, 1000, 3, "ms"}, {1e3, 60, 2, "s"}, {6e4, 60, 2, "min"}, {3.6e6, 0, 2, "h"}};
static const struct scale count_scale[] = {{1, 1000, 2, ""},
                                           {1e3, 1000, 2, "k"},
                                           {1e6, 1000, 2, "M"},
                                           {1e9, 1000, 2, "G"},
                                           {1e12, 0, 2, "T"}};
static const struct scale share_scale[] = {{0.01, 0, 4, "%"}};

/*
 * a >= 0 in the first scale whose rounded value stays below its limit (or the
 * last), else `zero` when it rounds to zero. Returns false for zero.
 */
static bool fmt_scaled(double a, const struct scale *s, int ns, const char *zero, char *t, size_t n)
{
    for (int i = 0; i < ns; i++) {
        double x = a / s[i].div;
        int e;
        if (i < ns - 1 && round3(x, &e) >= s[i].below)
            continue;
        /* Reached by rounding up (999.6 ms): 0.9996 s would print as "0.999s". */
        if (i > 0 && x < 1)
            x = 1;
        char num[400];
        if (!num3(x, s[i].max_dec, num, sizeof num)) {
            snprintf(t, n, "%s", zero);
            return false;
        }
        snprintf(t, n, "%s%s", num, s[i].suffix);
        return true;
    }
    assert(0);
    return false;
}

/*
 * a >= 0 seconds as "1d2h3m4.5s", largest to smallest non-zero unit. The
 * resolution coarsens with the magnitude so the text stays within 11 bytes.
 */
static bool fmt_seconds(double a, char *t, size_t n)
{
    double ms = round(a * 1e3);
    if (ms >= 3600e3)
        ms = round(a * 10) * 100;
    if (ms >= 86400e3)
        ms = round(a) * 1e3;
    if (ms >= 864000e3)
        ms = round(a / 60) * 60e3;
    if (ms >= 1000 * 86400e3) {
        double d = round(a / 86400);
        snprintf(t, n, d < 1e6 ? "%.0fd" : "%.1ed", d);
        return true;
    }
    int64_t tot = (int64_t)ms;
    int64_t part[4] = {tot / 86400000, tot / 3600000 % 24, tot / 60000 % 60, tot % 60000};
    static const char unit[3] = {'d', 'h', 'm'};
    int first = 0, last = 3;
    while (first < 4 && part[first] == 0)
        first++;
    if (first == 4) {
        snprintf(t, n, "0s");
        return false;
    }
    while (part[last] == 0)
        last--;
    size_t len = 0;
    t[0] = '\0';
    for (int i = first; i <= last && len < n; i++) {
        if (i < 3) {
            len += snprintf(t + len, n - len, "%lld%c", (long long)part[i], unit[i]);
        } else if (part[3] % 1000 == 0) {
            len += snprintf(t + len, n - len, "%llds", (long long)(part[3] / 1000));
        } else {
            char frac[8];
            snprintf(frac, sizeof frac, "%03d", (int)(part[3] % 1000));
            for (int k = 2; k > 0 && frac[k] == '0'; k--)
                frac[k] = '\0';
            len += snprintf(t + len, n - len, "%lld.%ss", (long long)(part[3] / 1000), frac);
        }
    }
    return true;
}

int plot_format(double v, enum plot_unit u, char *buf, size_t n)
{
    assert(buf && n > 0);
    char body[512], t[520];
    if (isnan(v)) {
        snprintf(t, sizeof t, "-");
    } else if (isinf(v)) {
        snprintf(t, sizeof t, v < 0 ? "-inf" : "inf");
    } else {
        double a = fabs(v);
        bool nonzero = false;
        switch (u) {
        case PLOT_MS:
            nonzero = fmt_scaled(a, ms_scale, 4, "0", body, sizeof body);
            break;
        case PLOT_SHARE:
            nonzero = fmt_scaled(a, share_scale, 1, "0%", body, sizeof body);
            break;
        case PLOT_COUNT:
            nonzero = fmt_scaled(a, count_scale, 5, "0", body, sizeof body);
            break;
        case PLOT_SECONDS:
            nonzero = fmt_seconds(a, body, sizeof body);
            break;
        }
        snprintf(t, sizeof t, "%s%s", v < 0 && nonzero ? "-" : "", body);
    }
    snprintf(buf, n, "%s", t);
    return (int)strlen(buf);
}

/* -------------------------------------------------------------------- axes */

/* The smallest m[i] · 10^k >= x (x > 0), m ascending within [1, 10). */
static double decade_ge(double x, const double *m, int nm)
{
    double p = pow(10, floor(log10(x)));
    for (int i = 0; i < nm; i++)
        if (m[i] * p >= x * (1 - EPS))
            return m[i] * p;
    return 10 * p;
}

static const double m125[] = {1, 2, 5}, m1225[] = {1, 2, 2.5, 5};

/*
 * The smallest nice duration >= x, in units of 1/per_s s (1000 for ms, 1 for s):
 * below a second `sub` × 10^k units, then the steps of a clock (clock_s, n of
 * them), then 1, 2, 5 × 10^k days.
 */
static double duration_ge(double x, double per_s, const double *sub, int nsub,
                          const double *clock_s, int n)
{
    if (x < per_s) {
        double r = decade_ge(x, sub, nsub);
        if (r < per_s * (1 - EPS))
            return r;
    }
    double s = x / per_s;
    for (int i = 0; i < n; i++)
        if (clock_s[i] >= s * (1 - EPS))
            return clock_s[i] * per_s;
    return 86400 * decade_ge(s / 86400, m125, 3) * per_s;
}

/*
 * Clock steps in seconds. MS labels are decimals of one unit, so its steps skip
 * 10 s and 10 min: 7 × 10 s is "1.17min"; a multiple of 15 s is exact in
 * minutes ("1.25min"), of 15 min in hours. SECONDS labels are compound ("1m10s"):
 * any step reads exactly.
 */
static const double ms_clock_s[] = {1,   2,    5,    15,   30,    60,    120,  300,
                                    900, 1800, 3600, 7200, 10800, 21600, 43200};
static const double s_clock_s[] = {1,   2,   5,    10,   15,   30,    60,    120,  300,
                                   600, 900, 1800, 3600, 7200, 10800, 21600, 43200};
#define NCLOCK(t) ((int)(sizeof t / sizeof t[0]))

/* The smallest nice step of unit u that is >= x (and at least the unit's finest). */
static double nice_ge(enum plot_unit u, double x)
{
    switch (u) {
    case PLOT_COUNT:
        return decade_ge(fmax(x, 1), m125, 3);
    case PLOT_SHARE:
        return decade_ge(fmax(x, 1e-5), m125, 3);
    case PLOT_MS:
        return duration_ge(fmax(x, 0.01), 1000, m1225, 4, ms_clock_s, NCLOCK(ms_clock_s));
    case PLOT_SECONDS:
        return duration_ge(fmax(x, 1e-3), 1, m125, 3, s_clock_s, NCLOCK(s_clock_s));
    }
    assert(0);
    return 1;
}

#ifndef NDEBUG
static bool axis_ok(const struct plot_axis *a)
{
    if (!(isfinite(a->lo) && isfinite(a->hi) && a->lo < a->hi && a->step > 0))
        return false;
    if (a->n_ticks < 1 || a->n_ticks > PLOT_MAX_TICKS)
        return false;
    for (int i = 0; i < a->n_ticks; i++)
        if (a->tick[i] < a->lo || a->tick[i] > a->hi || (i > 0 && a->tick[i] <= a->tick[i - 1]))
            return false;
    return true;
}
#endif

/*
 * Ticks at k · step for k = kmin, kmin + stride, ... <= kmax, clamped into
 * [lo, hi] (the product may miss by the last bit); at least one.
 */
static void put_ticks(struct plot_axis *a, double kmin, double kmax, double stride)
{
    a->n_ticks = 0;
    for (int i = 0; i < PLOT_MAX_TICKS && kmin + i * stride <= kmax; i++) {
        double t = fmin(fmax((kmin + i * stride) * a->step, a->lo), a->hi);
        if (a->n_ticks > 0 && t <= a->tick[a->n_ticks - 1])
            continue; /* lost to rounding at magnitudes near MAG_MAX */
        a->tick[a->n_ticks++] = t;
    }
    if (a->n_ticks == 0)
        a->tick[a->n_ticks++] = a->lo;
    for (int i = 0; i < a->n_ticks; i++)
        plot_format(a->tick[i], a->unit, a->label[i], sizeof a->label[i]);
}

/* Value axes: include 0, round out to multiples of the step. */
static void fit_value(struct plot_axis *a, double min, double max, int max_ticks)
{
    double lo = fmin(min, 0), hi = fmax(max, 0);
    if (hi == lo)
        hi = a->unit == PLOT_SHARE ? 0.01 : 1;
    double step, kmin = -1, kmax = 1, stride = 1;
    if (max_ticks == 2 && lo < 0 && hi > 0) {
        /* Both signs in two ticks: -step and step, skipping 0. */
        step = nice_ge(a->unit, fmax(-lo, hi));
        stride = 2;
    } else {
        step = nice_ge(a->unit, (hi - lo) / (max_ticks - 1));
        /* Fits at once but for rounding and both signs; steps grow >= 1.5× a try. */
        for (int i = 0; i < 200; i++) {
            kmin = floor(lo / step + EPS);
            kmax = ceil(hi / step - EPS);
            if (kmax - kmin + 1 <= max_ticks)
                break;
            step = nice_ge(a->unit, step * (1 + 1e-6));
        }
    }
    a->step = step;
    a->lo = fmin(kmin * step, lo); /* the product can miss the data by the last bit */
    a->hi = fmax(kmax * step, hi);
    put_ticks(a, kmin, kmax, stride);
}

/* The time axis: exactly the data's range, ticks at the multiples of the step inside. */
static void fit_time(struct plot_axis *a, double min, double max, int max_ticks)
{
    double lo = min, hi = max;
    if (hi - lo < 1e-3) { /* one window: a second's worth, ending at it */
        if (hi >= 1)
            lo = hi - 1;
        else
            hi = lo + 1;
    }
    a->lo = lo;
    a->hi = hi;
    /* Below span / (max_ticks + 1) a step always has too many multiples inside. */
    double step = nice_ge(PLOT_SECONDS, (hi - lo) / (max_ticks + 1));
    double kmin = 0, kmax = 0;
    for (int i = 0; i < 200; i++) {
        kmin = ceil(lo / step - EPS);
        kmax = floor(hi / step + EPS);
        if (kmax - kmin + 1 <= max_ticks)
            break;
        step = nice_ge(PLOT_SECONDS, step * (1 + 1e-6));
    }
    /*
     * At least one tick: the first step tried is shorter than the range, and a
     * later one follows a step with three or more multiples inside, and any three
     * consecutive multiples of a step in the list hold a multiple of the next
     * (2k..2k+4 hold a multiple of 5, 120k..120k+240 one of 300, ...).
     */
    a->step = step;
    put_ticks(a, kmin, kmax, 1);
}

void plot_axis_fit(struct plot_axis *a, enum plot_unit u, double min, double max, int max_ticks)
{
    assert(a);
    if (max_ticks < 2)
        max_ticks = 2;
    if (max_ticks > PLOT_MAX_TICKS)
        max_ticks = PLOT_MAX_TICKS;
    if (!isfinite(min))
        min = max;
    if (!isfinite(max))
        max = min;
    if (!isfinite(min) || min > max)
        min = max = 0;
    min = fmin(fmax(min, -MAG_MAX), MAG_MAX);
    max = fmin(fmax(max, -MAG_MAX), MAG_MAX);
    memset(a, 0, sizeof *a);
    a->unit = u;
    if (u == PLOT_SECONDS)
        fit_time(a, min, max, max_ticks);
    else
        fit_value(a, min, max, max_ticks);
    assert(axis_ok(a));
}

/* f (0 at one end, 1 at the other) to the nearest of `dots` dots, clamped. */
static int frac_dot(double f, int dots)
{
    double d = f * (dots - 1);
    if (dots == 1 || !(d > 0))
        return 0;
    if (d >= dots - 1)
        return dots - 1;
    return (int)(d + 0.5);
}

/* The dot row (0 = top) of v, not NaN, over `dots` dot rows. */
static int row_dot(const struct plot_axis *a, double v, int dots)
{
    return frac_dot((a->hi - v) / (a->hi - a->lo), dots);
}

int plot_axis_row(const struct plot_axis *a, double v, int rows, int sub, int *sub_out)
{
    assert(a && axis_ok(a) && rows >= 1 && sub >= 1);
    if (isnan(v))
        return -1;
    int d = row_dot(a, v, rows * sub);
    if (sub_out)
        *sub_out = d % sub;
    return d / sub;
}

int plot_axis_col(const struct plot_axis *a, double v, int cols, int sub, int *sub_out)
{
    assert(a && axis_ok(a) && cols >= 1 && sub >= 1);
    if (isnan(v))
        return -1;
    int d = frac_dot((v - a->lo) / (a->hi - a->lo), cols * sub);
    if (sub_out)
        *sub_out = d % sub;
    return d / sub;
}

/* ------------------------------------------------------------------ canvas */

#ifndef NDEBUG
static bool canvas_ok(const struct plot_canvas *c)
{
    if (c->w < 1 || c->h < 1 || !c->cells || !c->owner)
        return false;
    for (int i = 0; i < c->w * c->h; i++)
        if (c->owner[i] < -1 || (c->owner[i] == -1) != (c->cells[i] == 0))
            return false;
    return true;
}
#endif

void plot_canvas_init(struct plot_canvas *c, int w, int h, bool braille)
{
    assert(c && w >= 1 && h >= 1 && w <= 4096 && h <= 4096);
    c->w = w;
    c->h = h;
    c->braille = braille;
    c->cells = xcalloc((size_t)w * h, sizeof *c->cells);
    c->owner = xmalloc((size_t)w * h * sizeof *c->owner);
    plot_canvas_clear(c);
}

void plot_canvas_fini(struct plot_canvas *c)
{
    assert(c);
    free(c->cells);
    free(c->owner);
    c->cells = NULL;
    c->owner = NULL;
    c->w = c->h = 0;
}

void plot_canvas_clear(struct plot_canvas *c)
{
    assert(c && c->cells && c->owner);
    for (int i = 0; i < c->w * c->h; i++) {
        c->cells[i] = 0;
        c->owner[i] = -1;
    }
}

/* Braille bit of dot (x, y) within its cell: the Unicode dot numbering. */
static const uint8_t braille_bit[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};

/* Set dot (x, y) of the dot grid for `series`. An ASCII cell goes to the last series whole. */
static void dot(struct plot_canvas *c, int x, int y, int series, uint16_t ascii_bits)
{
    int i = y / plot_sub_y(c) * c->w + x / plot_sub_x(c);
    if (c->braille) {
        c->cells[i] |= braille_bit[y % 4][x % 2];
    } else {
        if (c->owner[i] != series)
            c->cells[i] = 0;
        c->cells[i] |= ascii_bits;
    }
    c->owner[i] = series;
}

/* The ASCII link bit toward the neighbour at (dx, dy), each in -1..1 (y grows downwards). */
static uint16_t link_bit(int dx, int dy)
{
    static const uint16_t bits[3][3] = {
        {PLOT_LINK_NW, PLOT_LINK_N, PLOT_LINK_NE},
        {PLOT_LINK_W, 0, PLOT_LINK_E},
        {PLOT_LINK_SW, PLOT_LINK_S, PLOT_LINK_SE},
    };
    return bits[dy + 1][dx + 1];
}

/* A line of dots from (x0, y0) to (x1, y1) inclusive (Bresenham, all octants). */
static void line(struct plot_canvas *c, int x0, int y0, int x1, int y1, int series)
{
    int dx = abs(x1 - x0), sx = x0 < x1 ? 1 : -1;
    int dy = -abs(y1 - y0), sy = y0 < y1 ? 1 : -1;
    int err = dx + dy;
    dot(c, x0, y0, series, PLOT_LIT);
    while (x0 != x1 || y0 != y1) {
        int px = x0, py = y0, e2 = 2 * err;
        if (e2 >= dy) {
            err += dy;
            x0 += sx;
        }
        if (e2 <= dx) {
            err += dx;
            y0 += sy;
        }
        /* ASCII: both cells remember the step, to pick '-', '/', '|'... */
        dot(c, px, py, series, PLOT_LIT | link_bit(x0 - px, y0 - py));
        dot(c, x0, y0, series, PLOT_LIT | link_bit(px - x0, py - y0));
    }
}

void plot_series(struct plot_canvas *c, const double *v, int n, const struct plot_axis *a,
                 int series)
{
    assert(c && a && axis_ok(a) && series >= 0 && n >= 0 && (n == 0 || v));
    int dw = c->w * plot_sub_x(c), dh = c->h * plot_sub_y(c);
    bool joined = false; /* the previous value was drawn: join to it */
    int px = 0, py = 0;
    for (int i = 0; i < n; i++) {
        if (isnan(v[i])) {
            joined = false;
            continue;
        }
        /* round(i · (dw − 1) / (n − 1)) in integers: no drift between series of equal n */
        int x =
            n == 1 ? dw - 1 : (int)(((int64_t)2 * i * (dw - 1) + (n - 1)) / (2 * (int64_t)(n - 1)));
        int y = row_dot(a, v[i], dh);
        if (joined)
            line(c, px, py, x, y, series);
        else
            dot(c, x, y, series, PLOT_LIT);
        joined = true;
        px = x;
        py = y;
    }
    assert(canvas_ok(c));
}

void plot_hline(struct plot_canvas *c, double y, const struct plot_axis *a, int series)
{
    assert(c && a && axis_ok(a) && series >= 0);
    if (isnan(y) || y < a->lo || y > a->hi)
        return;
    int dw = c->w * plot_sub_x(c), dy = row_dot(a, y, c->h * plot_sub_y(c));
    for (int x = 0; x < dw; x += 2)
        dot(c, x, dy, series, PLOT_MARK);
    assert(canvas_ok(c));
}

/* The ASCII character of a cell's bits: the table in plot.h. */
static char ascii_glyph(uint16_t b)
{
    const uint16_t up = PLOT_LINK_NE | PLOT_LINK_NW, down = PLOT_LINK_SE | PLOT_LINK_SW;
    bool rise = b & (PLOT_LINK_NE | PLOT_LINK_SW), fall = b & (PLOT_LINK_NW | PLOT_LINK_SE);
    if (!(b & PLOT_LIT))
        return b & PLOT_MARK ? '-' : ' ';
    if (b & (PLOT_LINK_N | PLOT_LINK_S))
        return '|';
    if (rise && fall) {
        if ((b & down) == down && !(b & up))
            return '^';
        if ((b & up) == up && !(b & down))
            return 'v';
        return '*';
    }
    if (rise)
        return '/';
    if (fall)
        return '\\';
    if (b & (PLOT_LINK_E | PLOT_LINK_W))
        return '-';
    return '*';
}

int plot_cell(const struct plot_canvas *c, int x, int y, char out[5])
{
    assert(c && out && x >= 0 && x < c->w && y >= 0 && y < c->h);
    int i = y * c->w + x;
    uint16_t b = c->cells[i];
    if (b == 0) {
        out[0] = ' ';
        out[1] = '\0';
    } else if (c->braille) {
        /* U+2800 + b in UTF-8: 1110 0010, 10 1000bb, 10 bbbbbb */
        out[0] = (char)0xE2;
        out[1] = (char)(0xA0 | (b >> 6));
        out[2] = (char)(0x80 | (b & 0x3F));
        out[3] = '\0';
    } else {
        out[0] = ascii_glyph(b);
        out[1] = '\0';
    }
    return c->owner[i];
}

int plot_dump(const struct plot_canvas *c, char *buf, size_t n)
{
    assert(c && (buf || n == 0));
    size_t len = 0;
    for (int y = 0; y < c->h; y++) {
        for (int x = 0; x <= c->w; x++) {
            char cell[5];
            if (x < c->w)
                plot_cell(c, x, y, cell);
            else if (y < c->h - 1)
                strcpy(cell, "\n");
            else
                break;
            size_t k = strlen(cell);
            if (len + k + 1 > n) {
                if (n > 0)
                    buf[0] = '\0';
                return -ENOSPC;
            }
            memcpy(buf + len, cell, k);
            len += k;
        }
    }
    buf[len] = '\0'; /* the loop kept a byte for it */
    return (int)len;
}
