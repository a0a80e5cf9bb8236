/*
 * dash: the dashboard's model and layout, without curses. Each frame it
 * samples what the engines publish — the metrics snapshot and the last N
 * window rows (metrics.h), the run's gauges (run.h) — and renders three plots
 * on one time axis (rate-limit hit rate, queue depth, p50/p95 latency) and a
 * side panel into a struct screen (screen.h). tui.c copies that screen to the
 * terminal; tests read it as text.
 *
 * The engines never call the dashboard: it is sampled (sample → update →
 * draw, as htop does), at most ~10 frames a second, and with --tui off none of
 * this exists.
 */
#ifndef RATELAB_DASH_H
#define RATELAB_DASH_H

#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"
#include "run.h"
#include "scenario.h"
#include "screen.h"

/* Windows of history the dashboard asks metrics to keep (metrics_keep_windows). */
#define DASH_HISTORY 4096

/* What the frame says about the engine driving it. */
struct dash_state {
    bool live;        /* ratelab live (else sim) */
    bool paused;      /* sim: playback paused */
    bool finished;    /* the run has ended */
    double speed;     /* sim: simulated seconds per wall second; 0 = as fast as it runs */
    const char *command; /* for the title: "sim", "replay", "live"; NULL = by live */
};

struct dash {
    const struct scenario *sc;
    bool braille;     /* braille plots (a UTF-8 terminal), else ASCII */
    bool color;       /* colours (off with NO_COLOR or a terminal without them) */
    int cls;          /* class shown: -1 all, else the class index */
    int scroll;       /* windows back from the newest (0 = follow the run) */
    bool help;        /* the key help is shown */
    /* The server's waiting queue per window (live with metrics_url): the largest
     * sampled value of each window, in a ring indexed by window number. */
    double *srv_wait;
    int64_t *srv_wait_win; /* the window number each slot holds, -1 = none */
};

void dash_init(struct dash *d, const struct scenario *sc, bool braille, bool color);
void dash_fini(struct dash *d);

/* Sample the gauges once per frame (the server's waiting queue keeps a history). */
void dash_sample(struct dash *d, const metrics *m, const struct run_gauges *g);

/*
 * Render one frame of the whole dashboard into s (its size is the terminal's):
 * title bar, the three plots and the time axis, the side panel, and the help
 * box when d->help. snap is the metrics snapshot at g->now_us.
 */
void dash_render(struct dash *d, struct screen *s, const metrics *m,
                 const struct metrics_snapshot *snap, const struct run_gauges *g,
                 const struct dash_state *st);

/* Windows the plots can show at this screen size (one per braille/ASCII dot column). */
int dash_points(const struct dash *d, int screen_w);

/* Scroll by delta windows (positive = back in time), within the history kept. */
void dash_scroll(struct dash *d, const metrics *m, int delta, int screen_w);

#endif
