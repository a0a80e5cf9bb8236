/*
 * tui: the dashboard on a terminal, the only module that includes <curses.h>.
 * It samples (metrics snapshot, run gauges), renders through dash.h into a
 * screen and copies that to the terminal, at most ~10 frames a second; and it
 * reads keys. The engines' commands drive it: `ratelab sim --tui` from its
 * playback loop, `ratelab live --tui` from a timer on the live loop.
 *
 * Keys handled here (they change only what is shown): arrows scroll through
 * time (when paused or finished), End follows the run again, c cycles the
 * class, ? toggles help; the rest are returned to the caller as actions.
 */
#ifndef RATELAB_TUI_H
#define RATELAB_TUI_H

#include <stdbool.h>

#include "dash.h"
#include "run.h"

/* What a key asks of the caller. */
enum tui_action {
    TUI_NONE,
    TUI_QUIT,   /* q */
    TUI_PAUSE,  /* p: pause or resume */
    TUI_FASTER, /* + */
    TUI_SLOWER, /* - */
};

typedef struct tui tui;

/*
 * Take the terminal (full screen) for the run r of scenario sc; asks r's
 * metrics to keep DASH_HISTORY windows of history. Returns NULL with err
 * filled when the terminal cannot be used (stdout not a terminal, TERM unknown).
 */
tui *tui_open(const struct scenario *sc, run *r, char *err, size_t errn);

/* Give the terminal back (the normal screen returns). NULL does nothing. */
void tui_close(tui *t);

/* Sample at now_us (the run's time) and draw one frame. */
void tui_frame(tui *t, int64_t now_us, const struct dash_state *st);

/*
 * Read one key, waiting up to wait_ms (0: do not wait; -1: until a key), and
 * handle it. Returns the action for the caller, TUI_NONE when none (or no key).
 * A terminal resize is handled here too (the next frame uses the new size).
 */
enum tui_action tui_key(tui *t, int wait_ms, const struct dash_state *st);

/*
 * The text of the last frame (its rows joined by '\n'), for tests and for
 * RATELAB_TUI_DUMP: returns bytes written, or -1 if n is too small.
 */
int tui_dump(const tui *t, char *buf, size_t n);

#endif
