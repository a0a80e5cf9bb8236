/*
 * screen: a grid of character cells the dashboard draws into, with no curses:
 * each cell holds one UTF-8 character (one column wide) and a style. The
 * curses module copies a screen to the terminal; tests and the text dump read
 * it directly. Model apart from drawing: everything the dashboard shows is
 * decided here, where a test can see it.
 */
#ifndef RATELAB_SCREEN_H
#define RATELAB_SCREEN_H

#include <stdbool.h>
#include <stddef.h>

/* Styles: a colour (or none) and a weight. With colour off, only the weights show. */
enum screen_style {
    SS_NORMAL,
    SS_DIM,     /* fainter: axes, second series (p50), hints */
    SS_BOLD,    /* titles, figures */
    SS_CYAN,    /* series 0 */
    SS_MAGENTA, /* series 1 */
    SS_YELLOW,  /* series 2 */
    SS_GREEN,   /* within limits */
    SS_RED,     /* over an SLO, errors */
    SS_REVERSE, /* the title bar */
    SS__COUNT
};

struct screen_cell {
    char ch[5];      /* one UTF-8 character, NUL-terminated; " " when blank */
    unsigned char style; /* enum screen_style */
};

/* Invariant: cells has w × h entries, each a valid one-column character. */
struct screen {
    int w, h;
    struct screen_cell *cells;
};

/* A blank screen of w × h (>= 1 each); screen_fini releases it. */
void screen_init(struct screen *s, int w, int h);
void screen_fini(struct screen *s);
void screen_clear(struct screen *s);

/* One character (UTF-8, one column) at (x, y); outside the screen is ignored. */
void screen_put(struct screen *s, int x, int y, const char *ch, enum screen_style st);

/*
 * Text from (x, y) to the right, cut at max_w columns (and the screen's edge):
 * ASCII or UTF-8 text of one-column characters. Returns the columns written.
 */
int screen_text(struct screen *s, int x, int y, int max_w, enum screen_style st, const char *text);

/* printf into screen_text. */
int screen_printf(struct screen *s, int x, int y, int max_w, enum screen_style st,
                  const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* The screen's rows as UTF-8 text joined by '\n' (trailing blanks kept); bytes written
 * excluding the NUL, or -1 when n is too small. */
int screen_dump(const struct screen *s, char *buf, size_t n);

#endif
