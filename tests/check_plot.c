#include "config.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "plot.h"
#include "rng.h"

/* plot_format into a fresh buffer, checking the returned length. */
static const char *fmt(double v, enum plot_unit u)
{
    static char buf[64];
    int n = plot_format(v, u, buf, sizeof buf);
    ck_assert_int_eq(n, (int)strlen(buf));
    return buf;
}

START_TEST(format_ms)
{
    ck_assert_str_eq(fmt(0, PLOT_MS), "0");
    ck_assert_str_eq(fmt(-0.0, PLOT_MS), "0");
    ck_assert_str_eq(fmt(0.0001, PLOT_MS), "0"); /* below the 0.001 ms resolution */
    ck_assert_str_eq(fmt(-0.0001, PLOT_MS), "0");
    ck_assert_str_eq(fmt(0.25, PLOT_MS), "0.25ms");
    ck_assert_str_eq(fmt(2.5, PLOT_MS), "2.5ms");
    ck_assert_str_eq(fmt(250, PLOT_MS), "250ms");
    ck_assert_str_eq(fmt(999, PLOT_MS), "999ms");
    ck_assert_str_eq(fmt(999.4, PLOT_MS), "999ms");
    ck_assert_str_eq(fmt(999.5, PLOT_MS), "1s"); /* rounds up into the next unit */
    ck_assert_str_eq(fmt(1000, PLOT_MS), "1s");
    ck_assert_str_eq(fmt(1250, PLOT_MS), "1.25s");
    ck_assert_str_eq(fmt(1500, PLOT_MS), "1.5s");
    ck_assert_str_eq(fmt(12345, PLOT_MS), "12.3s");
    ck_assert_str_eq(fmt(59900, PLOT_MS), "59.9s");
    ck_assert_str_eq(fmt(59960, PLOT_MS), "1min");
    ck_assert_str_eq(fmt(60000, PLOT_MS), "1min");
    ck_assert_str_eq(fmt(90000, PLOT_MS), "1.5min");
    ck_assert_str_eq(fmt(120000, PLOT_MS), "2min");
    ck_assert_str_eq(fmt(750000, PLOT_MS), "12.5min");
    ck_assert_str_eq(fmt(3600000, PLOT_MS), "1h");
    ck_assert_str_eq(fmt(4320000, PLOT_MS), "1.2h");
    ck_assert_str_eq(fmt(36 * 3600e3, PLOT_MS), "36h");
    ck_assert_str_eq(fmt(-250, PLOT_MS), "-250ms");
    ck_assert_str_eq(fmt(NAN, PLOT_MS), "-");
    ck_assert_str_eq(fmt(INFINITY, PLOT_MS), "inf");
    ck_assert_str_eq(fmt(-INFINITY, PLOT_MS), "-inf");
}
END_TEST

START_TEST(format_share_count)
{
    ck_assert_str_eq(fmt(0, PLOT_SHARE), "0%");
    ck_assert_str_eq(fmt(0.25, PLOT_SHARE), "25%");
    ck_assert_str_eq(fmt(0.005, PLOT_SHARE), "0.5%");
    ck_assert_str_eq(fmt(0.0004, PLOT_SHARE), "0.04%");
    ck_assert_str_eq(fmt(0.00001, PLOT_SHARE), "0.001%");
    ck_assert_str_eq(fmt(0.123456, PLOT_SHARE), "12.3%");
    ck_assert_str_eq(fmt(0.6000000000000001, PLOT_SHARE), "60%"); /* 3 × 0.2 */
    ck_assert_str_eq(fmt(1, PLOT_SHARE), "100%");
    ck_assert_str_eq(fmt(0, PLOT_COUNT), "0");
    ck_assert_str_eq(fmt(2.5, PLOT_COUNT), "2.5");
    ck_assert_str_eq(fmt(40, PLOT_COUNT), "40");
    ck_assert_str_eq(fmt(999, PLOT_COUNT), "999");
    ck_assert_str_eq(fmt(1000, PLOT_COUNT), "1k");
    ck_assert_str_eq(fmt(1500, PLOT_COUNT), "1.5k");
    ck_assert_str_eq(fmt(12500, PLOT_COUNT), "12.5k");
    ck_assert_str_eq(fmt(999999, PLOT_COUNT), "1M");
    ck_assert_str_eq(fmt(2e6, PLOT_COUNT), "2M");
    ck_assert_str_eq(fmt(3e9, PLOT_COUNT), "3G");
    ck_assert_str_eq(fmt(4e12, PLOT_COUNT), "4T");
    ck_assert_str_eq(fmt(-1500, PLOT_COUNT), "-1.5k");
}
END_TEST

START_TEST(format_seconds)
{
    ck_assert_str_eq(fmt(0, PLOT_SECONDS), "0s");
    ck_assert_str_eq(fmt(0.0004, PLOT_SECONDS), "0s");
    ck_assert_str_eq(fmt(0.5, PLOT_SECONDS), "0.5s");
    ck_assert_str_eq(fmt(0.125, PLOT_SECONDS), "0.125s");
    ck_assert_str_eq(fmt(30, PLOT_SECONDS), "30s");
    ck_assert_str_eq(fmt(59.9996, PLOT_SECONDS), "1m");
    ck_assert_str_eq(fmt(90, PLOT_SECONDS), "1m30s");
    ck_assert_str_eq(fmt(120, PLOT_SECONDS), "2m");
    ck_assert_str_eq(fmt(61.5, PLOT_SECONDS), "1m1.5s");
    ck_assert_str_eq(fmt(3600, PLOT_SECONDS), "1h");
    ck_assert_str_eq(fmt(5400, PLOT_SECONDS), "1h30m");
    ck_assert_str_eq(fmt(3610, PLOT_SECONDS), "1h0m10s");
    ck_assert_str_eq(fmt(3600.04, PLOT_SECONDS), "1h");       /* 0.1 s resolution past 1 h */
    ck_assert_str_eq(fmt(3600.25, PLOT_SECONDS), "1h0m0.3s"); /* halves away from zero */
    ck_assert_str_eq(fmt(93600, PLOT_SECONDS), "1d2h");
    ck_assert_str_eq(fmt(86399.99, PLOT_SECONDS), "1d");
    ck_assert_str_eq(fmt(86400 + 0.4, PLOT_SECONDS), "1d"); /* 1 s resolution past 1 d */
    ck_assert_str_eq(fmt(-30, PLOT_SECONDS), "-30s");
    /* The longest of each resolution fits the axis's 12-byte labels. */
    ck_assert_str_eq(fmt(3599.999, PLOT_SECONDS), "59m59.999s");
    ck_assert_str_eq(fmt(86399.9, PLOT_SECONDS), "23h59m59.9s");
    ck_assert_str_eq(fmt(10 * 86400 - 1, PLOT_SECONDS), "9d23h59m59s");
    ck_assert_str_eq(fmt(1000 * 86400 - 60, PLOT_SECONDS), "999d23h59m");
    ck_assert_str_eq(fmt(2000 * 86400, PLOT_SECONDS), "2000d");
}
END_TEST

START_TEST(format_truncates)
{
    char buf[4];
    ck_assert_int_eq(plot_format(90000, PLOT_MS, buf, sizeof buf), 3);
    ck_assert_str_eq(buf, "1.5");
    ck_assert_int_eq(plot_format(1, PLOT_SHARE, buf, 1), 0);
    ck_assert_str_eq(buf, "");
}
END_TEST

static void assert_ticks(const struct plot_axis *a, const double *want, int n)
{
    ck_assert_int_eq(a->n_ticks, n);
    for (int i = 0; i < n; i++)
        ck_assert_msg(fabs(a->tick[i] - want[i]) <= 1e-9 * fabs(want[i]), "tick %d: %g, want %g", i,
                      a->tick[i], want[i]);
}

START_TEST(axis_examples)
{
    struct plot_axis a;
    plot_axis_fit(&a, PLOT_COUNT, 0, 37, 5);
    assert_ticks(&a, (const double[]){0, 10, 20, 30, 40}, 5);
    ck_assert(a.lo == 0 && a.hi == 40 && a.step == 10);
    ck_assert_str_eq(a.label[4], "40");

    plot_axis_fit(&a, PLOT_MS, 3, 1234, 6);
    assert_ticks(&a, (const double[]){0, 250, 500, 750, 1000, 1250}, 6);
    ck_assert_str_eq(a.label[1], "250ms");
    ck_assert_str_eq(a.label[4], "1s");
    ck_assert_str_eq(a.label[5], "1.25s");

    plot_axis_fit(&a, PLOT_MS, 0, 170000, 4); /* 0, 1, 2, 3 min */
    ck_assert(a.step == 60000 && a.hi == 180000);
    ck_assert_str_eq(a.label[3], "3min");

    plot_axis_fit(&a, PLOT_SHARE, 0, 0.37, 8);
    assert_ticks(&a, (const double[]){0, 0.1, 0.2, 0.3, 0.4}, 5);
    ck_assert_str_eq(a.label[3], "30%");
    plot_axis_fit(&a, PLOT_SHARE, 0, 1, 8);
    ck_assert(a.hi == 1 && a.n_ticks == 6);
    ck_assert_str_eq(a.label[5], "100%");

    /* The time axis is the data's range; ticks are the nice multiples inside. */
    plot_axis_fit(&a, PLOT_SECONDS, 0, 300, 6);
    ck_assert(a.lo == 0 && a.hi == 300 && a.step == 60);
    assert_ticks(&a, (const double[]){0, 60, 120, 180, 240, 300}, 6);
    ck_assert_str_eq(a.label[0], "0s");
    ck_assert_str_eq(a.label[5], "5m");
    plot_axis_fit(&a, PLOT_SECONDS, 100, 250, 4);
    ck_assert(a.lo == 100 && a.hi == 250);
    assert_ticks(&a, (const double[]){120, 180, 240}, 3);
    plot_axis_fit(&a, PLOT_SECONDS, 3000, 6000, 4); /* 10 min: 6 ticks; 15 min: 3 */
    assert_ticks(&a, (const double[]){3600, 4500, 5400}, 3);
    ck_assert_str_eq(a.label[1], "1h15m");
    ck_assert_str_eq(a.label[2], "1h30m");
    /* MS skips 10 s (70 s would be "1.17min"); SECONDS does not ("1m10s"). */
    plot_axis_fit(&a, PLOT_MS, 0, 65000, 8);
    ck_assert(a.step == 15000 && a.hi == 75000);
    ck_assert_str_eq(a.label[5], "1.25min");
    plot_axis_fit(&a, PLOT_SECONDS, 0, 65, 8);
    ck_assert(a.step == 10);
    ck_assert_str_eq(a.label[6], "1m");
    /* Two ticks at most, none at the ends. */
    plot_axis_fit(&a, PLOT_SECONDS, 130, 290, 2);
    assert_ticks(&a, (const double[]){180, 240}, 2);
    plot_axis_fit(&a, PLOT_SECONDS, 61.2, 61.9, 2);
    assert_ticks(&a, (const double[]){61.5}, 1);
    /* Both signs in two ticks: -step and step. */
    plot_axis_fit(&a, PLOT_COUNT, -3, 4, 2);
    assert_ticks(&a, (const double[]){-5, 5}, 2);
}
END_TEST

START_TEST(axis_degenerate)
{
    struct plot_axis a;
    plot_axis_fit(&a, PLOT_COUNT, 0, 0, 5);
    ck_assert(a.lo == 0 && a.hi == 1);
    assert_ticks(&a, (const double[]){0, 1}, 2);
    plot_axis_fit(&a, PLOT_SHARE, 0, 0, 6);
    ck_assert(a.lo == 0 && fabs(a.hi - 0.01) < 1e-15);
    ck_assert_str_eq(a.label[a.n_ticks - 1], "1%");
    plot_axis_fit(&a, PLOT_MS, 0, 0, 6);
    ck_assert(a.lo == 0 && a.hi == 1);
    ck_assert_str_eq(a.label[a.n_ticks - 1], "1ms");
    /* Empty: NaN, inverted, or the ±inf of an unfed running min/max. */
    plot_axis_fit(&a, PLOT_COUNT, NAN, NAN, 5);
    ck_assert(a.lo == 0 && a.hi == 1);
    plot_axis_fit(&a, PLOT_COUNT, INFINITY, -INFINITY, 5);
    ck_assert(a.lo == 0 && a.hi == 1);
    plot_axis_fit(&a, PLOT_COUNT, 5, 2, 5);
    ck_assert(a.lo == 0 && a.hi == 1);
    /* One NaN bound: the other alone. */
    plot_axis_fit(&a, PLOT_COUNT, NAN, 5, 6);
    ck_assert(a.lo == 0 && a.hi == 5);
    plot_axis_fit(&a, PLOT_MS, 700, NAN, 8);
    ck_assert(a.lo == 0 && a.hi == 700);
    /* A constant: 0 is on every value axis. */
    plot_axis_fit(&a, PLOT_COUNT, 7, 7, 8);
    ck_assert(a.lo == 0 && a.hi == 7);
    /* One point in time: a second ending at it. */
    plot_axis_fit(&a, PLOT_SECONDS, 42, 42, 5);
    ck_assert(a.lo == 41 && a.hi == 42 && a.n_ticks >= 2);
    plot_axis_fit(&a, PLOT_SECONDS, 0, 0, 5);
    ck_assert(a.lo == 0 && a.hi == 1);
    plot_axis_fit(&a, PLOT_SECONDS, NAN, NAN, 5);
    ck_assert(a.lo == 0 && a.hi == 1);
    /* max_ticks out of range is clamped. */
    plot_axis_fit(&a, PLOT_COUNT, 0, 100, 100);
    ck_assert_int_le(a.n_ticks, PLOT_MAX_TICKS);
    plot_axis_fit(&a, PLOT_COUNT, 0, 100, 0);
    ck_assert_int_eq(a.n_ticks, 2);
}
END_TEST

static bool in_list(double x, const double *l, int n)
{
    for (int i = 0; i < n; i++)
        if (fabs(x - l[i]) <= 1e-9 * l[i])
            return true;
    return false;
}

/* x is m · 10^k for m in l. */
static bool decade_in(double x, const double *l, int n)
{
    double p = pow(10, floor(log10(x) + 1e-12));
    return in_list(x / p, l, n);
}

/* The steps plot.h promises, written out independently. */
static bool step_is_nice(enum plot_unit u, double x)
{
    static const double m125[] = {1, 2, 5}, m1225[] = {1, 2, 2.5, 5};
    static const double clock_s[] = {1,   2,   5,    10,   15,   30,    60,    120,  300,
                                     600, 900, 1800, 3600, 7200, 10800, 21600, 43200};
    static const double ms_clock_s[] = {1,   2,    5,    15,   30,    60,    120,  300,
                                        900, 1800, 3600, 7200, 10800, 21600, 43200};
    double s;
    switch (u) {
    case PLOT_COUNT:
        return x >= 1 && decade_in(x, m125, 3);
    case PLOT_SHARE:
        return x >= 1e-5 * (1 - 1e-9) && decade_in(x, m125, 3);
    case PLOT_MS:
        if (x < 1000)
            return x >= 0.01 * (1 - 1e-9) && decade_in(x, m1225, 4);
        s = x / 1000;
        return in_list(s, ms_clock_s, 15) || (s >= 86400 && decade_in(s / 86400, m125, 3));
    case PLOT_SECONDS:
        if (x < 1)
            return x >= 1e-3 * (1 - 1e-9) && decade_in(x, m125, 3);
        s = x;
        break;
    default:
        return false;
    }
    return in_list(s, clock_s, 17) || (s >= 86400 && decade_in(s / 86400, m125, 3));
}

/* The value a label reads as, parsed independently of plot_format. */
static double parse_label(const char *l, enum plot_unit u)
{
    static const struct {
        const char *suffix;
        double mul;
    } ms[] = {{"ms", 1}, {"s", 1e3}, {"min", 6e4}, {"h", 3.6e6}, {"", 1}},
      count[] = {{"k", 1e3}, {"M", 1e6}, {"G", 1e9}, {"T", 1e12}, {"", 1}},
      dhms[] = {{"d", 86400}, {"h", 3600}, {"m", 60}, {"s", 1}};
    char *end;
    double v = 0, sign = 1;
    if (*l == '-') {
        sign = -1;
        l++;
    }
    if (u == PLOT_SECONDS) {
        for (int i = 0; i < 4 && *l; i++) {
            double x = strtod(l, &end);
            if (*end == dhms[i].suffix[0]) {
                v += x * dhms[i].mul;
                l = end + 1;
            }
        }
        ck_assert_msg(*l == '\0', "trailing %s", l);
        return sign * v;
    }
    v = strtod(l, &end);
    if (u == PLOT_SHARE) {
        ck_assert_str_eq(end, "%");
        return sign * v / 100;
    }
    for (int i = 0; i < 5; i++)
        if (strcmp(end, (u == PLOT_MS ? ms : count)[i].suffix) == 0)
            return sign * v * (u == PLOT_MS ? ms : count)[i].mul;
    ck_abort_msg("suffix %s", end);
    return 0;
}

/* The resolution of plot_format's SECONDS labels at magnitude t. */
static double seconds_resolution(double t)
{
    t = fabs(t);
    return t < 3600 ? 1e-3 : t < 86400 ? 0.1 : t < 864000 ? 1 : t < 1000 * 86400 ? 60 : 86400;
}

/* Properties of plot_axis_fit over random ranges, units and tick budgets. */
START_TEST(axis_properties)
{
    struct rng r;
    rng_seed(&r, 1000 + (uint64_t)_i);
    for (int iter = 0; iter < 5000; iter++) {
        enum plot_unit u = (enum plot_unit)rng_below(&r, 4);
        int max_ticks = 1 + (int)rng_below(&r, 9); /* 1..9: the ends are clamped */
        int budget = max_ticks < 2 ? 2 : max_ticks > PLOT_MAX_TICKS ? PLOT_MAX_TICKS : max_ticks;
        double mag =
            u == PLOT_SHARE ? pow(10, -7 + 7 * rng_unit(&r)) : pow(10, -4 + 13 * rng_unit(&r));
        double x0 = mag * rng_unit(&r), x1 = mag * rng_unit(&r);
        switch (rng_below(&r, 6)) {
        case 0:
            x0 = -x0;
            break;
        case 1:
            x0 = -x0;
            x1 = -x1;
            break;
        case 2:
            x1 = x0;
            break;
        case 3:
            x0 = NAN;
            break;
        case 4: /* a narrow window far from 0, as a late time axis */
            x1 = x0 + x0 * pow(10, -3 * rng_unit(&r));
            break;
        }
        double dmin = isnan(x0) ? x1 : fmin(x0, x1), dmax = isnan(x0) ? x1 : fmax(x0, x1);
        struct plot_axis a;
        plot_axis_fit(&a, u, dmin, dmax, max_ticks);
        ck_assert(isfinite(a.lo) && isfinite(a.hi) && a.lo < a.hi);
        ck_assert_int_ge(a.n_ticks, u == PLOT_SECONDS ? 1 : 2);
        ck_assert_int_le(a.n_ticks, budget);
        ck_assert_msg(step_is_nice(u, a.step), "unit %d step %.17g", u, a.step);
        /* covers the data */
        ck_assert(a.lo <= dmin && a.hi >= dmax);
        if (u == PLOT_SECONDS && dmax - dmin >= 1e-3)
            ck_assert(a.lo == dmin && a.hi == dmax);
        if (u != PLOT_SECONDS) {
            ck_assert(a.lo <= 0 && a.hi >= 0);
            double tol = 1e-9 * fmax(fabs(a.lo) + fabs(a.hi), a.step);
            ck_assert(fabs(a.tick[0] - a.lo) <= tol);
            ck_assert(fabs(a.tick[a.n_ticks - 1] - a.hi) <= tol);
        }
        /* Labels read exactly (so also distinct), but for SECONDS finer than its resolution. */
        bool exact = u != PLOT_SECONDS ||
                     a.step >= seconds_resolution(fmax(fabs(a.lo), fabs(a.hi))) * (1 - 1e-9);
        for (int i = 0; i < a.n_ticks; i++) {
            double k = a.tick[i] / a.step;
            ck_assert_msg(fabs(k - round(k)) <= 1e-6 * fmax(1, fabs(k)), "tick %.17g step %.17g",
                          a.tick[i], a.step);
            ck_assert(a.tick[i] >= a.lo && a.tick[i] <= a.hi);
            ck_assert_int_le((int)strlen(a.label[i]),
                             (u == PLOT_SECONDS ? 11 : 7) + (a.tick[i] < 0));
            if (exact)
                ck_assert_msg(fabs(parse_label(a.label[i], u) - a.tick[i]) <=
                                  1e-9 * fabs(a.tick[i]) + 1e-6 * a.step,
                              "unit %d label %s tick %.17g", u, a.label[i], a.tick[i]);
            if (i == 0)
                continue;
            ck_assert(a.tick[i] > a.tick[i - 1]);
            double gap = (a.tick[i] - a.tick[i - 1]) / a.step;
            ck_assert(fabs(gap - 1) < 1e-6 || (budget == 2 && fabs(gap - 2) < 1e-6));
            if (exact)
                ck_assert_msg(strcmp(a.label[i], a.label[i - 1]) != 0, "labels %s %s",
                              a.label[i - 1], a.label[i]);
        }
    }
}
END_TEST

START_TEST(axis_rows_cols)
{
    struct plot_axis a;
    plot_axis_fit(&a, PLOT_MS, 0, 1000, 5); /* 0..1000 */
    int sub = -1;
    /* 3 rows × 4 sub-rows: 12 dot rows, 1000 at dot 0, 0 at dot 11. */
    ck_assert_int_eq(plot_axis_row(&a, 1000, 3, 4, &sub), 0);
    ck_assert_int_eq(sub, 0);
    ck_assert_int_eq(plot_axis_row(&a, 0, 3, 4, &sub), 2);
    ck_assert_int_eq(sub, 3);
    ck_assert_int_eq(plot_axis_row(&a, 500, 3, 4, &sub), 1); /* dot 5.5 rounds to 6 */
    ck_assert_int_eq(sub, 2);
    ck_assert_int_eq(plot_axis_row(&a, 5000, 3, 4, &sub), 0); /* clamped */
    ck_assert_int_eq(sub, 0);
    ck_assert_int_eq(plot_axis_row(&a, -INFINITY, 3, 4, &sub), 2);
    ck_assert_int_eq(sub, 3);
    sub = 9;
    ck_assert_int_eq(plot_axis_row(&a, NAN, 3, 4, &sub), -1);
    ck_assert_int_eq(sub, 9);
    ck_assert_int_eq(plot_axis_row(&a, 500, 5, 1, NULL), 2);
    ck_assert_int_eq(plot_axis_row(&a, 123, 1, 1, NULL), 0);
    ck_assert_int_eq(plot_axis_col(&a, 0, 10, 2, &sub), 0);
    ck_assert_int_eq(sub, 0);
    ck_assert_int_eq(plot_axis_col(&a, 1000, 10, 2, &sub), 9);
    ck_assert_int_eq(sub, 1);
    ck_assert_int_eq(plot_axis_col(&a, NAN, 10, 2, NULL), -1);

    /* Time labels land over the columns plot_series puts evenly spaced windows at. */
    struct rng r;
    rng_seed(&r, 7);
    for (int iter = 0; iter < 500; iter++) {
        int n = 2 + (int)rng_below(&r, 300), w = 1 + (int)rng_below(&r, 200);
        bool braille = rng_below(&r, 2);
        double win = 0.1 * (1 + (int)rng_below(&r, 100)), t0 = win * (double)rng_below(&r, 5000);
        plot_axis_fit(&a, PLOT_SECONDS, t0, t0 + (n - 1) * win, 6);
        struct plot_canvas c;
        plot_canvas_init(&c, w, 1, braille);
        struct plot_axis flat;
        plot_axis_fit(&flat, PLOT_COUNT, 0, 1, 2);
        for (int i = 0; i < n; i += 1 + (int)rng_below(&r, 20)) {
            double *v = malloc(n * sizeof *v);
            for (int j = 0; j < n; j++)
                v[j] = j == i ? 1 : NAN;
            plot_canvas_clear(&c);
            plot_series(&c, v, n, &flat, 0);
            int s, col = plot_axis_col(&a, t0 + i * win, w, plot_sub_x(&c), &s);
            int dot = col * plot_sub_x(&c) + s, lit = -1;
            for (int x = 0; x < w; x++) {
                char out[5];
                if (plot_cell(&c, x, 0, out) >= 0) /* 0x47: the left dot column's bits */
                    lit = x * plot_sub_x(&c) + (c.braille && !(c.cells[x] & 0x47));
            }
            ck_assert_int_ge(lit, 0);
            ck_assert_int_le(abs(lit - dot), 1);
            free(v);
        }
        plot_canvas_fini(&c);
    }
}
END_TEST

/* A 1×1 braille canvas on a 0..3 axis: value 3 − row at dot column col is dot (col, row). */
START_TEST(braille_bits)
{
    static const unsigned bit[4][2] = {{0x01, 0x08}, {0x02, 0x10}, {0x04, 0x20}, {0x40, 0x80}};
    struct plot_axis a;
    plot_axis_fit(&a, PLOT_COUNT, 0, 3, 4);
    ck_assert(a.lo == 0 && a.hi == 3);
    struct plot_canvas c;
    plot_canvas_init(&c, 1, 1, true);
    for (int row = 0; row < 4; row++) {
        for (int col = 0; col < 2; col++) {
            double v[2] = {NAN, NAN};
            v[col] = 3 - row; /* n = 2: value 0 at dot column 0, value 1 at column 1 */
            plot_canvas_clear(&c);
            plot_series(&c, v, 2, &a, 5);
            ck_assert_uint_eq(c.cells[0], bit[row][col]);
            char out[5];
            ck_assert_int_eq(plot_cell(&c, 0, 0, out), 5);
            unsigned cp = 0x2800 + bit[row][col];
            char want[4] = {(char)(0xE0 | cp >> 12), (char)(0x80 | (cp >> 6 & 0x3F)),
                            (char)(0x80 | (cp & 0x3F)), 0};
            ck_assert_str_eq(out, want);
        }
    }
    /* Every dot: U+28FF, and a cleared cell is a space with no series. */
    plot_canvas_clear(&c);
    for (int k = 0; k < 4; k++) {
        double v0[2] = {k, k};
        plot_series(&c, v0, 2, &a, 1);
    }
    char out[5];
    ck_assert_int_eq(plot_cell(&c, 0, 0, out), 1);
    ck_assert_str_eq(out, "\xe2\xa3\xbf");
    plot_canvas_clear(&c);
    ck_assert_int_eq(plot_cell(&c, 0, 0, out), -1);
    ck_assert_str_eq(out, " ");
    /* A single value sits at the right edge. */
    double one = 3;
    plot_series(&c, &one, 1, &a, 0);
    ck_assert_uint_eq(c.cells[0], 0x08);
    plot_canvas_fini(&c);
}
END_TEST

START_TEST(diagonal_corners)
{
    struct plot_axis a;
    plot_axis_fit(&a, PLOT_SHARE, 0, 1, 5);
    struct plot_canvas c;
    plot_canvas_init(&c, 10, 5, true); /* 20 × 20 dots */
    double v[2] = {0, 1};
    plot_series(&c, v, 2, &a, 0);
    ck_assert(c.cells[4 * 10 + 0] & 0x40); /* bottom-left dot */
    ck_assert(c.cells[0 * 10 + 9] & 0x08); /* top-right dot */
    /* One dot per dot column and per dot row: the diagonal, unbroken. */
    int dots = 0;
    for (int i = 0; i < 50; i++)
        dots += __builtin_popcount(c.cells[i]);
    ck_assert_int_eq(dots, 20);
    for (int y = 0; y < 5; y++)
        for (int x = 0; x < 10; x++)
            ck_assert_int_eq(c.owner[y * 10 + x], x / 2 == 4 - y ? 0 : -1);
    plot_canvas_fini(&c);

    /* ASCII: the same shape at cell resolution. */
    plot_canvas_init(&c, 10, 10, false);
    plot_series(&c, v, 2, &a, 3);
    char buf[256];
    ck_assert_int_eq(plot_dump(&c, buf, sizeof buf), 10 * 10 + 9);
    for (int y = 0; y < 10; y++)
        for (int x = 0; x < 10; x++)
            ck_assert_int_eq(buf[y * 11 + x], x == 9 - y ? '/' : ' ');
    plot_canvas_fini(&c);
}
END_TEST

START_TEST(nan_gap)
{
    struct plot_axis a;
    plot_axis_fit(&a, PLOT_COUNT, 0, 1, 2);
    struct plot_canvas c;
    plot_canvas_init(&c, 4, 1, true); /* 8 × 4 dots, n = 8: value i at dot column i */
    double v[8] = {0, 0, 0, NAN, NAN, 0, 0, 0};
    plot_series(&c, v, 8, &a, 0);
    ck_assert_uint_eq(c.cells[0], 0xC0);
    ck_assert_uint_eq(c.cells[1], 0x40); /* dot column 3 is the gap */
    ck_assert_uint_eq(c.cells[2], 0x80); /* dot column 4 too */
    ck_assert_uint_eq(c.cells[3], 0xC0);
    /* A value between two NaNs is a lone dot; leading and trailing NaNs draw nothing. */
    double w[8] = {NAN, NAN, NAN, 1, NAN, NAN, NAN, NAN};
    plot_canvas_clear(&c);
    plot_series(&c, w, 8, &a, 0);
    ck_assert_uint_eq(c.cells[0] | c.cells[2] | c.cells[3], 0);
    ck_assert_uint_eq(c.cells[1], 0x08);
    plot_canvas_fini(&c);

    /* ASCII: a gap is blank; a lone point is '*'. */
    plot_canvas_init(&c, 8, 1, false);
    plot_series(&c, v, 8, &a, 0);
    char buf[16];
    ck_assert_int_eq(plot_dump(&c, buf, sizeof buf), 8);
    ck_assert_str_eq(buf, "---  ---");
    double z[8] = {NAN, 0, NAN, NAN, NAN, NAN, NAN, NAN};
    plot_canvas_clear(&c);
    plot_series(&c, z, 8, &a, 0);
    plot_dump(&c, buf, sizeof buf);
    ck_assert_str_eq(buf, " *      ");
    plot_canvas_fini(&c);
}
END_TEST

START_TEST(hline)
{
    struct plot_axis a;
    plot_axis_fit(&a, PLOT_MS, 0, 1000, 5);
    struct plot_canvas c;
    plot_canvas_init(&c, 4, 3, true);
    plot_hline(&c, 500, &a, 2); /* dot row 6: cell row 1, sub-row 2 */
    int sub;
    ck_assert_int_eq(plot_axis_row(&a, 500, 3, 4, &sub), 1);
    ck_assert_int_eq(sub, 2);
    for (int y = 0; y < 3; y++)
        for (int x = 0; x < 4; x++) {
            ck_assert_uint_eq(c.cells[y * 4 + x], y == 1 ? 0x04 : 0);
            ck_assert_int_eq(c.owner[y * 4 + x], y == 1 ? 2 : -1);
        }
    plot_canvas_clear(&c);
    plot_hline(&c, 1001, &a, 2); /* outside the axis: nothing */
    plot_hline(&c, NAN, &a, 2);
    for (int i = 0; i < 12; i++)
        ck_assert_uint_eq(c.cells[i], 0);
    plot_canvas_fini(&c);

    /* ASCII: every other cell; a series drawn after it takes its cells. */
    plot_canvas_init(&c, 7, 3, false);
    plot_hline(&c, 1000, &a, 1);
    double v[2] = {1000, 1000};
    char buf[64];
    plot_dump(&c, buf, sizeof buf);
    ck_assert_str_eq(buf, "- - - -\n       \n       ");
    plot_series(&c, v, 2, &a, 0);
    plot_dump(&c, buf, sizeof buf);
    ck_assert_str_eq(buf, "-------\n       \n       ");
    char out[5];
    ck_assert_int_eq(plot_cell(&c, 2, 0, out), 0);
    plot_canvas_fini(&c);
}
END_TEST

START_TEST(dump_known)
{
    /* Braille: a 4 × 2 canvas (8 × 8 dots), values 0..7, one per dot column. */
    struct plot_axis a;
    plot_axis_fit(&a, PLOT_COUNT, 0, 7, 8);
    ck_assert(a.lo == 0 && a.hi == 7);
    struct plot_canvas c;
    plot_canvas_init(&c, 4, 2, true);
    double v[8] = {0, 1, 2, 3, 4, 5, 6, 7};
    plot_series(&c, v, 8, &a, 0);
    char buf[64];
    /* U+2860 (dots 6, 7) and U+280A (dots 2, 4) climbing two dots per column. */
    const char *want = "  \xe2\xa1\xa0\xe2\xa0\x8a\n\xe2\xa1\xa0\xe2\xa0\x8a  ";
    ck_assert_int_eq(plot_dump(&c, buf, sizeof buf), (int)strlen(want));
    ck_assert_str_eq(buf, want);
    /* Too small: -ENOSPC and an empty string. */
    ck_assert_int_eq(plot_dump(&c, buf, strlen(want)), -ENOSPC);
    ck_assert_str_eq(buf, "");
    ck_assert_int_eq(plot_dump(&c, buf, strlen(want) + 1), (int)strlen(want));
    plot_canvas_fini(&c);

    /* ASCII: rise, peak, fall, flat, rise again. */
    plot_axis_fit(&a, PLOT_COUNT, 0, 2, 3);
    plot_canvas_init(&c, 7, 3, false);
    double w[7] = {0, 1, 2, 1, 0, 0, 1};
    plot_series(&c, w, 7, &a, 0);
    ck_assert_int_eq(plot_dump(&c, buf, sizeof buf), 7 * 3 + 2);
    ck_assert_str_eq(buf, "  ^    \n"
                          " / \\  /\n"
                          "/   \\/ ");
    /*
     * Steep steps are '|' past their first cell; a second series takes the cells
     * it crosses whole, and draws a valley 'v'.
     */
    double s[7] = {2, 2, 0, 0, 2, 1, 1};
    plot_canvas_clear(&c);
    plot_series(&c, s, 7, &a, 0);
    plot_dump(&c, buf, sizeof buf);
    ck_assert_str_eq(buf, "-\\  |  \n"
                          "  | |\\-\n"
                          "  |/   ");
    double t[7] = {NAN, NAN, NAN, 1, 0, 1, NAN};
    plot_series(&c, t, 7, &a, 1);
    plot_dump(&c, buf, sizeof buf);
    ck_assert_str_eq(buf, "-\\  |  \n"
                          "  |\\|/-\n"
                          "  |/v  ");
    char out[5];
    ck_assert_int_eq(plot_cell(&c, 5, 1, out), 1); /* taken from series 0 */
    ck_assert_str_eq(out, "/");
    ck_assert_int_eq(plot_cell(&c, 6, 1, out), 0);
    ck_assert_int_eq(plot_cell(&c, 0, 2, out), -1);
    plot_canvas_fini(&c);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plot");
    TCase *tc = tcase_create("plot");
    tcase_add_test(tc, format_ms);
    tcase_add_test(tc, format_share_count);
    tcase_add_test(tc, format_seconds);
    tcase_add_test(tc, format_truncates);
    tcase_add_test(tc, axis_examples);
    tcase_add_test(tc, axis_degenerate);
    tcase_add_loop_test(tc, axis_properties, 0, 8);
    tcase_add_test(tc, axis_rows_cols);
    tcase_add_test(tc, braille_bits);
    tcase_add_test(tc, diagonal_corners);
    tcase_add_test(tc, nan_gap);
    tcase_add_test(tc, hline);
    tcase_add_test(tc, dump_known);
    suite_add_tcase(s, tc);
    tcase_set_timeout(tc, 60);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
