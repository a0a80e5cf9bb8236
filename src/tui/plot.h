/*
 * plot: the geometry of the dashboard's charts — value labels, "nice" axes, and
 * canvases of character cells that series are drawn into as lines. Plain
 * functions on plain arrays: no curses, no clock, no I/O. tui.c (the only user
 * of <curses.h>) fits the axes, draws the series into a canvas, then copies the
 * canvas cell by cell to the screen with plot_cell, colouring by series.
 *
 * Two resolutions. A braille canvas gives each cell 2×4 dots (the glyphs
 * U+2800..U+28FF, for UTF-8 terminals); an ASCII canvas gives each cell a
 * single dot and picks the character from the way the line passes through it:
 *
 *   '-'  flat (neighbours left/right only)     '|'  steep (a neighbour above or below)
 *   '/'  rising                                '\\' falling
 *   '^'  a peak (rises in, falls out)          'v'  a valley (falls in, rises out)
 *   '*'  a lone point, or a mix of the above   '-'  every other cell of a marker (plot_hline)
 *
 * Coordinates: x grows to the right, y (rows) grows downwards, (0, 0) is the
 * top-left cell. "Dots" are the canvas's finest grid: w·sx × h·sy with
 * (sx, sy) = (2, 4) for braille, (1, 1) for ASCII.
 *
 * The x rule, one for every series: n values span the full width, oldest at the
 * left edge, newest at the right: value i sits at dot column
 * round(i · (dot_w − 1) / (n − 1)); a single value sits at the right edge. The
 * dashboard passes the latest N windows (N at most the dot width keeps one dot
 * column or more per window) and fits the time axis to [t of the oldest, t of
 * the newest], so plot_axis_col puts the time labels over the same columns.
 */
#ifndef RATELAB_PLOT_H
#define RATELAB_PLOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum plot_unit {
    PLOT_MS,     /* values in ms; labels adapt: "0", "250ms", "1.5s", "2min", "1.2h" */
    PLOT_SHARE,  /* values 0..1; labels as percentages: "0%", "25%", "0.5%" */
    PLOT_COUNT,  /* counts; labels "0", "40", "1.5k", "2M" */
    PLOT_SECONDS /* the time axis: seconds of run time; labels "0s", "30s", "2m", "1h30m" */
};

/*
 * Format v in unit u into buf (n >= 1 bytes; NUL-terminated, truncated to n − 1
 * bytes). Returns the length written (excluding the NUL).
 *
 * PLOT_MS, PLOT_COUNT, PLOT_SHARE: three significant digits, trailing zeros
 * dropped, in the largest unit the rounded value reaches 1 of:
 *   MS:    ms below 1000 ms (at most 3 decimals: "0.25ms", "999ms"), then "s" below
 *          60 s ("1s", "1.5s", "59.9s"), "min" below 60 min (90 s is "1.5min"), then "h"
 *          ("1.25h", "36h"); zero is "0".
 *   COUNT: plain below 1000 (at most 2 decimals: "2.5"), then k, M, G, T ("1.5k",
 *          "2M"); zero is "0".
 *   SHARE: percent of 1, at most 4 decimals ("0%", "25%", "0.04%" for 0.0004, "100%").
 * A value that rounds up to the next unit is shown in it (999.7 ms is "1s").
 * Tick labels fit 7 columns (8 with a minus sign) for any realistic range
 * (latencies below 1000 h, counts below 10^15, shares up to 1000%).
 *
 * PLOT_SECONDS: units d, h, m, s from the largest non-zero to the smallest
 * non-zero one, zeros between included: "0s", "0.5s", "30s", "2m", "2m30s",
 * "1h30m", "1h0m10s", "1d2h". Resolution 1 ms below an hour, 0.1 s below a day,
 * 1 s below 10 days, 1 min beyond; at most 11 bytes below 1000 days.
 *
 * Negative values get a leading '-'; NaN is "-", infinities "inf" / "-inf".
 */
int plot_format(double v, enum plot_unit u, char *buf, size_t n);

#define PLOT_MAX_TICKS 8

/*
 * Invariant: lo < hi, both finite; 1 <= n_ticks <= PLOT_MAX_TICKS; lo <= tick[0]
 * < tick[1] < ... <= hi; ticks are consecutive multiples of step (computed as
 * k · step, never accumulated, so exact up to the last bit), but for a value
 * axis of both signs fitted to 2 ticks: -step and step; label[i] is
 * plot_format(tick[i], unit).
 */
struct plot_axis {
    double lo, hi;                  /* the range shown, in the unit's values */
    enum plot_unit unit;            /* how values and labels read */
    double step;                    /* distance between ticks, a nice value (see below) */
    int n_ticks;                    /* ticks in use, 1..PLOT_MAX_TICKS */
    double tick[PLOT_MAX_TICKS];    /* tick values, increasing, within [lo, hi] */
    char label[PLOT_MAX_TICKS][12]; /* their labels (plot_format) */
};

/*
 * Fit a into [min, max] of the data with at most max_ticks ticks (clamped into
 * 2..PLOT_MAX_TICKS), choosing the smallest nice step that fits. a needs no
 * fini. Nice steps, all in the unit's values:
 *   COUNT: 1, 2, 5 × 10^k, at least 1.       SHARE: 1, 2, 5 × 10^k, at least 0.00001 (0.001%).
 *   MS:      1, 2, 2.5, 5 × 10^k ms below 1 s (at least 0.01 ms); 1, 2, 5, 15, 30 s;
 *            1, 2, 5, 15, 30 min; 1, 2, 3, 6, 12 h; then 1, 2, 5 × 10^k days (no 10 s or
 *            10 min: 70 s would read "1.17min"; with these every tick label is exact).
 *   SECONDS: 1, 2, 5 × 10^k s below 1 s (at least 1 ms); 1, 2, 5, 10, 15, 30 s;
 *            1, 2, 5, 10, 15, 30 min; then as MS (its labels are exact at any step).
 *
 * Value axes (COUNT, SHARE, MS) always include 0 (lo = 0 when the data are
 * >= 0) and are rounded out to multiples of step: tick[0] = lo and
 * tick[n_ticks − 1] = hi, at least 2 ticks (data of both signs in 2 ticks:
 * -step, step). All-zero data give 0..1 (COUNT), 0..1% (SHARE), 0..1ms (MS).
 *
 * The time axis (SECONDS) is exactly [min, max], so that columns line up with
 * the x rule of plot_series; its ticks are the multiples of step inside (at
 * least one). A single time t gives [t − 1, t] (or [t, t + 1] when t < 1).
 *
 * NaN and infinite bounds are ignored (the other bound is used alone); min > max,
 * or no finite bound, is an empty range (all zero). Magnitudes are clamped to 1e15.
 */
void plot_axis_fit(struct plot_axis *a, enum plot_unit u, double min, double max, int max_ticks);

/*
 * Row (0 = top) of value v on axis a drawn over `rows` rows of `sub` sub-rows
 * each (braille 4, ASCII 1): hi at the top sub-row, lo at the bottom one,
 * linear, rounded to the nearest sub-row and clamped to the plot. Writes the
 * sub-row (0 = top of the row) to *sub_out unless sub_out is NULL. Returns -1
 * for NaN (and writes nothing). These are the rows plot_series and plot_hline
 * draw v on, so tick labels beside the canvas line up with its dots.
 */
int plot_axis_row(const struct plot_axis *a, double v, int rows, int sub, int *sub_out);

/*
 * Column (0 = left) of value v on a horizontal axis drawn over `cols` columns
 * of `sub` sub-columns each (braille 2, ASCII 1): lo at the left, hi at the
 * right, linear, rounded and clamped. Sub-column in *sub_out unless NULL;
 * -1 for NaN. For a time axis fitted to evenly spaced window times, this is
 * the column plot_series puts the matching window at (within one dot).
 */
int plot_axis_col(const struct plot_axis *a, double v, int cols, int sub, int *sub_out);

/*
 * A canvas of w × h character cells.
 *
 * Invariant: cells and owner hold w · h entries each, row-major (cell (x, y) at
 * y · w + x); owner[i] is -1 exactly when cells[i] is 0 (nothing drawn there),
 * else the series (>= 0) that drew in the cell last. Braille: cells[i] is the
 * dot mask, bits as in U+2800 + mask. ASCII: PLOT_LIT and a PLOT_LINK_* bit per
 * neighbour the line goes on to where a series passes, PLOT_MARK where a marker
 * does.
 *
 * Dots of different series share a braille cell (the glyph shows both, the
 * colour is the last one's); an ASCII cell shows one series only, the last
 * to draw in it. Draw the SLO marker first so the series stay on top.
 */
struct plot_canvas {
    int w, h;        /* size in character cells, >= 1 */
    bool braille;    /* 2×4 braille dots per cell; else one ASCII dot per cell */
    uint16_t *cells; /* per cell: braille dot mask, or ASCII PLOT_* bits; owned */
    int *owner;      /* per cell: series that drew there last, -1 = none; owned */
};

/* ASCII cell bits: links to the 8 neighbours (y grows downwards), drawn, marker. */
enum {
    PLOT_LINK_E = 1 << 0,
    PLOT_LINK_NE = 1 << 1,
    PLOT_LINK_N = 1 << 2,
    PLOT_LINK_NW = 1 << 3,
    PLOT_LINK_W = 1 << 4,
    PLOT_LINK_SW = 1 << 5,
    PLOT_LINK_S = 1 << 6,
    PLOT_LINK_SE = 1 << 7,
    PLOT_LIT = 1 << 8,  /* a series point or line passes here */
    PLOT_MARK = 1 << 9, /* a dot of a marker line (plot_hline) */
};

/* Dots per cell across and down: 2 and 4 for braille, 1 and 1 for ASCII. */
static inline int plot_sub_x(const struct plot_canvas *c)
{
    return c->braille ? 2 : 1;
}

static inline int plot_sub_y(const struct plot_canvas *c)
{
    return c->braille ? 4 : 1;
}

/* Make an empty canvas of w × h cells (1 <= w, h <= 4096); allocates (aborts on OOM). */
void plot_canvas_init(struct plot_canvas *c, int w, int h, bool braille);

/* Free what init allocated; c may then be init'ed again (to resize). */
void plot_canvas_fini(struct plot_canvas *c);

/* Empty every cell. */
void plot_canvas_clear(struct plot_canvas *c);

/*
 * Draw n >= 0 values as a line in series `series` (>= 0): v[0] the oldest, v[n − 1]
 * the newest, at the columns of the x rule above and the rows of plot_axis_row
 * (values beyond the axis are clamped to its edge). Consecutive points are joined
 * (Bresenham in dot space); NaN is no data: the line breaks, and a value with
 * NaN on both sides is a lone dot.
 */
void plot_series(struct plot_canvas *c, const double *v, int n, const struct plot_axis *a,
                 int series);

/*
 * A dotted horizontal marker across the whole width at value y (the SLO line):
 * every other dot column (braille), every other cell (ASCII, '-'). Nothing is
 * drawn when y is NaN or outside [a->lo, a->hi]: fit the axis to include it.
 */
void plot_hline(struct plot_canvas *c, double y, const struct plot_axis *a, int series);

/*
 * The UTF-8 text of cell (x, y) into out, NUL-terminated: braille U+2800 + mask
 * (3 bytes), ASCII one byte (the table at the top), " " when empty. Returns the
 * series that drew there last, or -1 when empty.
 */
int plot_cell(const struct plot_canvas *c, int x, int y, char out[5]);

/*
 * The canvas as text: its h rows of plot_cell text, joined by '\n' (none after
 * the last), NUL-terminated, into buf of n bytes. Returns the bytes written
 * (excluding the NUL), or -ENOSPC when it does not fit (buf is then "" if n > 0).
 */
int plot_dump(const struct plot_canvas *c, char *buf, size_t n);

#endif
