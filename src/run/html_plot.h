/*
 * html_plot: what the HTML pages' plots share (html.c's run plots over time,
 * and the sweep plot of a plan): the plot's frame (grid, ticks, axes, units,
 * title), legend entries, the colours, and putting cairo's SVG inline in the
 * page; and the page's text escapes. Internal to the run area: html.h is the API.
 */
#ifndef RATELAB_HTML_PLOT_H
#define RATELAB_HTML_PLOT_H

#include <cairo.h>
#include <stddef.h>
#include <stdio.h>

#define PLOT_W 640
#define PLOT_H 260
#define PLOT_L 62  /* left margin: y tick labels and unit */
#define PLOT_R 62  /* right margin: the right axis' labels when there is one */
#define PLOT_T 34  /* top: title and legend */
#define PLOT_B 40  /* bottom: x tick labels and unit */

/*
 * Colours chosen for a light page; the stylesheet inverts the picture (with the
 * hue turned back) for a dark one. The background is left transparent.
 */
extern const double HTML_FG[3], HTML_GRID[3], HTML_BLUE[3], HTML_ORANGE[3], HTML_GREEN[3],
    HTML_PURPLE[3], HTML_RED[3];

/* A plot's frame: the axes' ranges and labels. The plot area is x0..x1 by y1..y0 (px). */
struct html_frame {
    const char *title;
    const char *unit;        /* left axis */
    const char *right_unit;  /* right axis, NULL = none */
    const char *x_unit;      /* under the x axis */
    double xlo, xhi, xstep;  /* the x axis' range and tick step, in its unit; xlo < xhi */
    double ltop, lstep;      /* the left axis, 0..ltop */
    double rtop, rstep;      /* the right axis, 0..rtop (with right_unit) */
    double x0, x1, y0, y1;   /* the plot area, px: set by html_frame_init */
};

/* Fill f's plot area, with extra_top px more above it (a second legend row). */
void html_frame_init(struct html_frame *f, double extra_top);

/* x and y (on the axis 0..top) in px. */
double html_frame_x(const struct html_frame *f, double v);
double html_frame_y(const struct html_frame *f, double v, double top);

/*
 * Draw f's grid, ticks, axes, units and title. Returns where the legend may
 * start on the title's line (px), with the font left at the legend's.
 */
double html_frame_draw(cairo_t *cr, const struct html_frame *f);

/* A legend entry at *lx on the row whose baseline is y; advances *lx. dash: NULL solid. */
void html_legend(cairo_t *cr, double *lx, double y, const double rgb[3], const double *dash,
                 int n_dash, const char *label);

/* A round tick step for range split in about ticks steps. */
double html_nice_step(double range, int ticks);

/* An axis from 0 to a round top above max, with its tick step. */
void html_axis(double max, double *top, double *step);

void html_set_rgb(cairo_t *cr, const double c[3]);

/* Text at (x, y), anchored at ax of its width (0 left, 0.5 centre, 1 right). */
void html_text_at(cairo_t *cr, double x, double y, double ax, const char *s);

/*
 * Draw with draw(cr, ctx) on a PLOT_W x PLOT_H SVG surface and put it inline in
 * a <figure>, its ids prefixed by plot id, label its aria-label. Returns 0, or
 * -ENOMEM when cairo failed.
 */
int html_svg(FILE *f, void (*draw)(cairo_t *cr, const void *ctx), const void *ctx,
             const char *label, int id);

/* HTML text (content and attributes) of n bytes of s, and of a string. */
void html_put_text(FILE *f, const char *s, size_t n);
void html_put_str(FILE *f, const char *s);

/* A JSON string safe inside <script>, and a JSON number (null for NaN or inf). */
void html_put_json_str(FILE *f, const char *s);
void html_put_json_num(FILE *f, double v);

#endif
