/*
 * play: a simulation on the dashboard (--tui on sim and replay). Simulated time
 * follows the wall clock at a speed the user sets (+/-), in slices between
 * frames, so the run is the same run as without the dashboard.
 */
#ifndef RATELAB_PLAY_H
#define RATELAB_PLAY_H

#include "scenario.h"
#include "sim.h"
#include "tui.h"

/*
 * Play s on t (command names it in the title: "sim", "replay") until the user quits (q) or, once the run has ended, leaves. The run
 * may not be over when this returns: finish it with sim_run.
 */
void sim_play(sim *s, tui *t, const struct scenario *sc, const char *command);

#endif
