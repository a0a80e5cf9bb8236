#include "config.h"

#include "html_plot.h"

#include <assert.h>
#include <cairo-svg.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- text ------------------------------------------------------------------ */

/*
 * Text for HTML content and attributes. A "://" is written "&#58;//" so that a
 * URL in the settings (a live server's) reads the same but the page's source
 * names no scheme a checker could take for a resource.
 */
void html_put_text(FILE *f, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = s[i];
        if (ch == '<')
            fputs("&lt;", f);
        else if (ch == '>')
            fputs("&gt;", f);
        else if (ch == '&')
            fputs("&amp;", f);
        else if (ch == '"')
            fputs("&quot;", f);
        else if (ch == ':' && i + 2 < n && s[i + 1] == '/' && s[i + 2] == '/')
            fputs("&#58;", f);
        else
            fputc(ch, f);
    }
}

void html_put_str(FILE *f, const char *s)
{
    html_put_text(f, s, strlen(s));
}

/* A JSON string safe inside <script>: '<', '>' and '&' as \u escapes. */
void html_put_json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; *s; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\')
            fprintf(f, "\\%c", ch);
        else if (ch < 0x20 || ch == '<' || ch == '>' || ch == '&')
            fprintf(f, "\\u%04x", ch);
        else
            fputc(ch, f);
    }
    fputc('"', f);
}

/* A JSON number; null for NaN (no value). %.17g: reads back as the same double. */
void html_put_json_num(FILE *f, double v)
{
    if (isnan(v) || isinf(v))
        fputs("null", f);
    else
        fprintf(f, "%.17g", v);
}

/* ---- the frame ------------------------------------------------------------- */

const double HTML_FG[3] = {0.13, 0.13, 0.13};
const double HTML_GRID[3] = {0.85, 0.85, 0.85};
const double HTML_BLUE[3] = {0.12, 0.42, 0.75}, HTML_ORANGE[3] = {0.90, 0.45, 0.05},
                    HTML_GREEN[3] = {0.15, 0.58, 0.20}, HTML_PURPLE[3] = {0.55, 0.30, 0.72},
                    HTML_RED[3] = {0.85, 0.12, 0.12};

double html_nice_step(double range, int ticks)
{
    double raw = range / ticks;
    double mag = pow(10, floor(log10(raw)));
    double f = raw / mag;
    return (f <= 1 ? 1 : f <= 2 ? 2 : f <= 5 ? 5 : 10) * mag;
}

void html_axis(double max, double *top, double *step)
{
    if (!(max > 0))
        max = 1;
    *step = html_nice_step(max, 5);
    *top = ceil(max / *step - 1e-9) * *step;
}

void html_set_rgb(cairo_t *cr, const double c[3])
{
    cairo_set_source_rgb(cr, c[0], c[1], c[2]);
}

void html_text_at(cairo_t *cr, double x, double y, double ax, const char *s)
{
    cairo_text_extents_t e;
    cairo_text_extents(cr, s, &e);
    cairo_move_to(cr, x - ax * e.x_advance, y);
    cairo_show_text(cr, s);
}

static void tick_label(char *buf, size_t n, double v)
{
    if (fabs(v) >= 1e6)
        snprintf(buf, n, "%gM", v / 1e6);
    else if (fabs(v) >= 1e4)
        snprintf(buf, n, "%gk", v / 1e3);
    else
        snprintf(buf, n, "%g", v);
}


void html_frame_init(struct html_frame *f, double extra_top)
{
    f->x0 = PLOT_L;
    f->x1 = PLOT_W - PLOT_R;
    f->y0 = PLOT_H - PLOT_B;
    f->y1 = PLOT_T + extra_top;
}

double html_frame_x(const struct html_frame *f, double v)
{
    return f->x0 + (f->x1 - f->x0) * (v - f->xlo) / (f->xhi - f->xlo);
}

double html_frame_y(const struct html_frame *f, double v, double top)
{
    return f->y0 - (f->y0 - f->y1) * v / top;
}

double html_frame_draw(cairo_t *cr, const struct html_frame *f)
{
    assert(f->xhi > f->xlo && f->xstep > 0 && f->ltop > 0 && f->lstep > 0);
    const double x0 = f->x0, x1 = f->x1, y0 = f->y0, y1 = f->y1;
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 11);
    cairo_set_line_width(cr, 1);
    char buf[64];
    /* Grid and y ticks (left). */
    for (double v = 0; v <= f->ltop + f->lstep / 2; v += f->lstep) {
        double y = html_frame_y(f, v, f->ltop);
        html_set_rgb(cr, HTML_GRID);
        cairo_move_to(cr, x0, y);
        cairo_line_to(cr, x1, y);
        cairo_stroke(cr);
        html_set_rgb(cr, HTML_FG);
        tick_label(buf, sizeof buf, v);
        html_text_at(cr, x0 - 5, y + 4, 1, buf);
    }
    if (f->right_unit)
        for (double v = 0; v <= f->rtop + f->rstep / 2; v += f->rstep) {
            double y = html_frame_y(f, v, f->rtop);
            tick_label(buf, sizeof buf, v);
            html_text_at(cr, x1 + 5, y + 4, 0, buf);
        }
    /* x ticks, at multiples of the step */
    for (double v = ceil(f->xlo / f->xstep - 1e-9) * f->xstep; v <= f->xhi + 1e-9 * f->xstep;
         v += f->xstep) {
        double x = html_frame_x(f, v);
        html_set_rgb(cr, HTML_GRID);
        cairo_move_to(cr, x, y0);
        cairo_line_to(cr, x, y1);
        cairo_stroke(cr);
        html_set_rgb(cr, HTML_FG);
        cairo_move_to(cr, x, y0);
        cairo_line_to(cr, x, y0 + 4);
        cairo_stroke(cr);
        tick_label(buf, sizeof buf, fabs(v) < 1e-9 * f->xstep ? 0 : v);
        html_text_at(cr, x, y0 + 16, 0.5, buf);
    }
    /* Axes and units. */
    html_set_rgb(cr, HTML_FG);
    cairo_move_to(cr, x0, y1);
    cairo_line_to(cr, x0, y0);
    cairo_line_to(cr, x1, y0);
    if (f->right_unit)
        cairo_line_to(cr, x1, y1);
    cairo_stroke(cr);
    html_text_at(cr, (x0 + x1) / 2, PLOT_H - 6, 0.5, f->x_unit);
    cairo_save(cr);
    cairo_translate(cr, 14, (y0 + y1) / 2);
    cairo_rotate(cr, -M_PI / 2);
    html_text_at(cr, 0, 0, 0.5, f->unit);
    cairo_restore(cr);
    if (f->right_unit) {
        cairo_save(cr);
        cairo_translate(cr, PLOT_W - 8, (y0 + y1) / 2);
        cairo_rotate(cr, -M_PI / 2);
        html_text_at(cr, 0, 0, 0.5, f->right_unit);
        cairo_restore(cr);
    }
    /* The title; the legend goes to its right. */
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_BOLD);
    cairo_set_font_size(cr, 13);
    html_text_at(cr, x0, 18, 0, f->title);
    cairo_text_extents_t e;
    cairo_text_extents(cr, f->title, &e);
    cairo_select_font_face(cr, "sans-serif", CAIRO_FONT_SLANT_NORMAL, CAIRO_FONT_WEIGHT_NORMAL);
    cairo_set_font_size(cr, 11);
    return x0 + e.x_advance + 18;
}

void html_legend(cairo_t *cr, double *lx, double y, const double rgb[3], const double *dash,
                 int n_dash, const char *label)
{
    html_set_rgb(cr, rgb);
    cairo_set_line_width(cr, 2);
    if (dash)
        cairo_set_dash(cr, dash, n_dash, 0);
    cairo_move_to(cr, *lx, y - 4);
    cairo_line_to(cr, *lx + 18, y - 4);
    cairo_stroke(cr);
    cairo_set_dash(cr, NULL, 0, 0);
    html_set_rgb(cr, HTML_FG);
    html_text_at(cr, *lx + 22, y, 0, label);
    cairo_text_extents_t e;
    cairo_text_extents(cr, label, &e);
    *lx += 22 + e.x_advance + 14;
}

/* ---- inline SVG ------------------------------------------------------------ */

struct membuf {
    char *p;
    size_t n, cap;
};

static cairo_status_t membuf_write(void *closure, const unsigned char *data, unsigned int len)
{
    struct membuf *b = closure;
    if (b->n + len + 1 > b->cap) {
        b->cap = (b->n + len + 1) * 2;
        b->p = xrealloc(b->p, b->cap);
    }
    memcpy(b->p + b->n, data, len);
    b->n += len;
    b->p[b->n] = '\0';
    return CAIRO_STATUS_SUCCESS;
}

/*
 * Put cairo's SVG document inline: without the XML declaration and the
 * namespace declarations (the HTML parser knows svg and xlink), and with every
 * id (cairo names its glyphs and clips the same in each document) prefixed by
 * the plot's own, so the plots on one page do not take each other's glyphs.
 */
static void put_svg(FILE *f, const char *svg, int id, const char *title)
{
    const char *p = strstr(svg, "<svg");
    if (!p)
        return;
    static const char *const drop[] = {" xmlns=\"http://www.w3.org/2000/svg\"",
                                       " xmlns:xlink=\"http://www.w3.org/1999/xlink\""};
    char pre[32];
    snprintf(pre, sizeof pre, "p%d-", id);
    fputs("<svg class=\"plot\" role=\"img\" aria-label=\"", f);
    html_put_str(f, title);
    fputc('"', f);
    p += 4;
    while (*p) {
        bool done = false;
        for (size_t i = 0; i < sizeof drop / sizeof drop[0] && !done; i++)
            if (strncmp(p, drop[i], strlen(drop[i])) == 0) {
                p += strlen(drop[i]);
                done = true;
            }
        static const char *const refs[] = {"id=\"", "href=\"#", "url(#"};
        for (size_t i = 0; i < sizeof refs / sizeof refs[0] && !done; i++)
            if (strncmp(p, refs[i], strlen(refs[i])) == 0) {
                fputs(refs[i], f);
                fputs(pre, f);
                p += strlen(refs[i]);
                done = true;
            }
        if (!done)
            fputc(*p++, f);
    }
}

int html_svg(FILE *f, void (*draw)(cairo_t *cr, const void *ctx), const void *ctx,
             const char *label, int id)
{
    struct membuf b = {0};
    cairo_surface_t *sf = cairo_svg_surface_create_for_stream(membuf_write, &b, PLOT_W, PLOT_H);
    cairo_svg_surface_set_document_unit(sf, CAIRO_SVG_UNIT_PX);
    cairo_t *cr = cairo_create(sf);
    draw(cr, ctx);
    int bad = cairo_status(cr) != CAIRO_STATUS_SUCCESS;
    cairo_destroy(cr);
    cairo_surface_finish(sf);
    bad |= cairo_surface_status(sf) != CAIRO_STATUS_SUCCESS;
    cairo_surface_destroy(sf);
    if (!bad && b.p) {
        fputs("<figure>", f);
        put_svg(f, b.p, id, label);
        fputs("</figure>\n", f);
    }
    free(b.p);
    return bad || !b.p ? -ENOMEM : 0;
}
