#include "config.h"

#include "play.h"

#include <time.h>

#include "util.h"

static double wall_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Playback speeds, simulated seconds per wall second; 0 = as fast as it runs. */
static const double speeds[] = {1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000,
                                10000, 20000, 50000, 100000, 0};
#define N_SPEEDS ((int)(sizeof speeds / sizeof speeds[0]))

/*
 * The dashboard's playback: simulated time follows the wall clock at the chosen
 * speed, in slices between frames (about 10 a second), so the speed is exact and
 * the run is the same run (slices never change it). q leaves the dashboard; the
 * rest of the run then goes at full speed, so the report is the one without --tui.
 */
void sim_play(sim *s, tui *t, const struct scenario *sc, const char *command)
{
    /* Start at the slowest speed that plays the whole duration within a minute. */
    int sp = 0;
    while (speeds[sp] && speeds[sp] * 60 * US_PER_S < sc->duration_us)
        sp++;
    struct dash_state st = {.live = false, .speed = speeds[sp], .command = command};
    double wall0 = wall_s();
    int64_t sim0 = 0;
    for (;;) {
        double frame_end = wall_s() + 0.1;
        if (!st.paused && !st.finished) {
            if (speeds[sp] == 0) {
                while (!st.finished && wall_s() < frame_end - 0.01)
                    st.finished = sim_run(s, 20000) == 1;
            } else {
                int64_t target = sim0 + (int64_t)((wall_s() - wall0) * speeds[sp] * US_PER_S);
                while (!st.finished && sim_now(s) < target && wall_s() < frame_end - 0.01)
                    st.finished = sim_run_until(s, target, 20000) == 1;
            }
        }
        tui_frame(t, sim_now(s), &st);
        /* Keys until the next frame is due (or, once finished, until one comes). */
        int left = (int)((frame_end - wall_s()) * 1000);
        enum tui_action a = tui_key(t, st.finished ? -1 : left > 0 ? left : 0, &st);
        if (a == TUI_QUIT)
            return;
        if (a == TUI_PAUSE && !st.finished)
            st.paused = !st.paused;
        else if (a == TUI_FASTER && sp < N_SPEEDS - 1)
            sp++;
        else if (a == TUI_SLOWER && sp > 0)
            sp--;
        if (a != TUI_NONE) {
            /* Speed or pause changed: playback goes on from here at the new pace. */
            st.speed = speeds[sp];
            wall0 = wall_s();
            sim0 = sim_now(s);
        }
    }
}
