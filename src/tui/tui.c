#include "config.h"

#include "tui.h"

#include <curses.h>
#include <langinfo.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

struct tui {
    const struct scenario *sc;
    run *r;
    struct dash d;
    struct screen s;
    bool color;
    struct metrics_snapshot snap; /* the last frame's (16 KB: not on the stack) */
};

/* Colour pairs per screen style (0 = the terminal's default). */
static const short pair_of[SS__COUNT] = {
    [SS_CYAN] = 1, [SS_MAGENTA] = 2, [SS_YELLOW] = 3, [SS_GREEN] = 4, [SS_RED] = 5,
};

static attr_t attr_of(const tui *t, enum screen_style st)
{
    switch (st) {
    case SS_DIM:
        return A_DIM;
    case SS_BOLD:
        return A_BOLD;
    case SS_REVERSE:
        return A_REVERSE;
    case SS_NORMAL:
        return A_NORMAL;
    default:
        return t->color ? COLOR_PAIR(pair_of[st]) : A_NORMAL;
    }
}

tui *tui_open(const struct scenario *sc, run *r, char *err, size_t errn)
{
    if (!isatty(STDOUT_FILENO) || !isatty(STDIN_FILENO)) {
        snprintf(err, errn, "--tui needs a terminal on stdin and stdout");
        return NULL;
    }
    setlocale(LC_ALL, "");
    bool utf8 = strcmp(nl_langinfo(CODESET), "UTF-8") == 0;
    if (!newterm(NULL, stdout, stdin)) {
        snprintf(err, errn, "cannot use the terminal (TERM=%s)",
                 getenv("TERM") ? getenv("TERM") : "unset");
        return NULL;
    }
    tui *t = xcalloc(1, sizeof *t);
    t->sc = sc;
    t->r = r;
    cbreak();
    noecho();
    keypad(stdscr, TRUE);
    curs_set(0);
    t->color = has_colors() && !getenv("NO_COLOR");
    if (t->color) {
        start_color();
        use_default_colors();
        init_pair(1, COLOR_CYAN, -1);
        init_pair(2, COLOR_MAGENTA, -1);
        init_pair(3, COLOR_YELLOW, -1);
        init_pair(4, COLOR_GREEN, -1);
        init_pair(5, COLOR_RED, -1);
    }
    metrics_keep_windows(run_metrics(r), DASH_HISTORY);
    dash_init(&t->d, sc, utf8, t->color);
    int h, w;
    getmaxyx(stdscr, h, w);
    screen_init(&t->s, w > 0 ? w : 80, h > 0 ? h : 24);
    return t;
}

void tui_close(tui *t)
{
    if (!t)
        return;
    endwin();
    dash_fini(&t->d);
    screen_fini(&t->s);
    free(t);
}

void tui_frame(tui *t, int64_t now_us, const struct dash_state *st)
{
    int h, w;
    getmaxyx(stdscr, h, w);
    if (w != t->s.w || h != t->s.h) {
        screen_fini(&t->s);
        screen_init(&t->s, w > 0 ? w : 1, h > 0 ? h : 1);
    }
    struct run_gauges g;
    run_gauges(t->r, now_us, &g);
    const metrics *m = run_metrics_const(t->r);
    metrics_snapshot(m, now_us, &t->snap);
    if (!st->paused)
        dash_sample(&t->d, m, &g);
    dash_render(&t->d, &t->s, m, &t->snap, &g, st);
    erase();
    for (int y = 0; y < t->s.h; y++)
        for (int x = 0; x < t->s.w; x++) {
            const struct screen_cell *c = &t->s.cells[y * t->s.w + x];
            if (c->ch[0] == ' ' && c->ch[1] == '\0' && c->style == SS_NORMAL)
                continue;
            attrset(attr_of(t, c->style));
            /* The bottom-right cell would scroll the screen: curses refuses it. */
            if (y == t->s.h - 1 && x == t->s.w - 1)
                continue;
            mvaddstr(y, x, c->ch);
        }
    attrset(A_NORMAL);
    refresh();
}

enum tui_action tui_key(tui *t, int wait_ms, const struct dash_state *st)
{
    timeout(wait_ms);
    int k = getch();
    const metrics *m = run_metrics_const(t->r);
    bool can_scroll = st->paused || st->finished;
    switch (k) {
    case ERR:
        return TUI_NONE;
    case 'q':
    case 'Q':
        return TUI_QUIT;
    case 'p':
    case 'P':
    case ' ':
        return TUI_PAUSE;
    case '+':
    case '=':
        return TUI_FASTER;
    case '-':
    case '_':
        return TUI_SLOWER;
    case 'c':
    case 'C':
        t->d.cls = t->d.cls + 1 < t->sc->n_classes ? t->d.cls + 1 : -1;
        return TUI_NONE;
    case '?':
    case 'h':
        t->d.help = !t->d.help;
        return TUI_NONE;
    case KEY_LEFT:
        if (can_scroll)
            dash_scroll(&t->d, m, dash_points(&t->d, t->s.w) / 4 + 1, t->s.w);
        return TUI_NONE;
    case KEY_RIGHT:
        if (can_scroll)
            dash_scroll(&t->d, m, -(dash_points(&t->d, t->s.w) / 4 + 1), t->s.w);
        return TUI_NONE;
    case KEY_END:
        t->d.scroll = 0;
        return TUI_NONE;
    case KEY_RESIZE:
        return TUI_NONE; /* the next frame takes the new size */
    default:
        return TUI_NONE;
    }
}

int tui_dump(const tui *t, char *buf, size_t n)
{
    return screen_dump(&t->s, buf, n);
}
