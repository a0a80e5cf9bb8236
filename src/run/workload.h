/*
 * workload: the request generators of one [class.NAME] section — when requests
 * arrive and how many tokens each carries.
 *
 * Engine-agnostic: no clock reads, no engine types. Every time is int64_t µs on
 * the engine's timeline, with the run starting at 0. An arrival time is the
 * *intended* send time, the moment latency is measured from.
 *
 * Each generator owns a child random stream split from the run's generator at
 * creation (rng_split), so its draws do not depend on how the engine interleaves
 * classes or on other modules' draws. Create the generators in scenario order
 * for reproducible runs.
 *
 * Open-loop processes (poisson, constant, gamma, burst, ramp, onoff) are asked
 * for their next arrival with workload_next_arrival(). Closed-loop classes
 * (users with think time) are driven by completions: workload_user_start() for
 * each user's first send, then workload_after_done() each time a user's request
 * reaches its final answer.
 */
#ifndef RATELAB_WORKLOAD_H
#define RATELAB_WORKLOAD_H

#include <stdbool.h>
#include <stdint.h>

#include "rng.h"
#include "scenario.h"
#include "trace.h"

typedef struct workload workload;

/*
 * A generator for class cl, whose arrivals all fall in [0, end_us) (end_us is the
 * scenario duration). cl must outlive the generator and not change under it (empirical
 * samples are read from it, not copied; constant token counts are read once).
 * Splits one child stream from parent. Never returns NULL
 * (aborts on OOM). The configuration is assumed valid (the loader checks it);
 * nonsense such as a negative rate asserts.
 */
workload *workload_new(const struct class_config *cl, int64_t end_us, struct rng *parent);

/* Release the generator; workload_free(NULL) does nothing. */
void workload_free(workload *w);

/* True for ARRIVAL_CLOSED: use workload_user_start/after_done, not next_arrival. */
bool workload_is_closed(const workload *w);

/*
 * Open loop: the next arrival time in µs, in non-decreasing order across calls
 * (equal times are possible: a burst, or two draws rounding to the same µs), or
 * TIME_NEVER once the process has no arrival before end_us (and on every call
 * after that). Must not be called on a closed-loop class (asserts).
 *
 * Where each process starts:
 *   constant  arrivals at exactly round(k * 1e6 / rate) µs, k = 0, 1, 2, ...: the
 *             first at 0, so a run of D seconds has ceil(D * rate) arrivals (one
 *             fewer if the last one rounds up onto end_us);
 *   poisson   exponential gaps from 0 (first arrival after one gap);
 *   gamma     gamma gaps with mean 1/rate and CV² = burstiness (shape 1/CV²) from 0;
 *             burstiness 0 gives constant gaps, the first after one gap;
 *   burst     count arrivals all at at_us (none if at_us >= end_us);
 *   ramp      Poisson with rate from -> to linearly over [0, over_us), then to;
 *             exact inversion of the integrated rate, so the expected count over
 *             [0, t) equals the integral of the rate;
 *   onoff     Poisson at rate during [k(on+off), k(on+off)+on), silent otherwise,
 *             starting "on" at 0.
 *   trace     the trace's lines in time order (run/trace.h), from its origin at 0; lines
 *             at or after end_us are not replayed. Needs workload_trace_begin() first
 *             (without it: no arrivals). The request created at an arrival takes that
 *             line's tokens from workload_prompt_tokens/completion_tokens, so draw them
 *             before asking for the next arrival.
 */
int64_t workload_next_arrival(workload *w);

/* Closed loop: how many users (0 for open-loop classes). */
int64_t workload_users(const workload *w);

/*
 * Closed loop: when user number `user` (0 <= user < users) sends first. Each user
 * starts after one think time (exponential, mean think_us) so users do not all
 * fire at t = 0; with think_us = 0 every user starts at 0. Returns TIME_NEVER if
 * that time is at or after end_us. Call once per user, in user order, for a
 * deterministic stream.
 */
int64_t workload_user_start(workload *w, int64_t user);

/*
 * Closed loop: the user whose request reached its final answer (success or
 * terminal failure) at done_us sends its next request at done_us + think, think
 * exponential with mean think_us. Returns TIME_NEVER if that is at or after end_us
 * (the user stops).
 */
int64_t workload_after_done(workload *w, int64_t done_us);

/*
 * ARRIVAL_TRACE: check the whole trace of class cls of sc in one streaming pass
 * (every line, against sc's class names; sc->trace_skip_bad skips and counts bad
 * lines). Returns 0 with *requests (lines of any class that would replay, before
 * the duration cut) and *skipped, or -EINVAL with *err (FILE:LINE of the first bad
 * line, or line 0 for a file that cannot be opened or a bad trace_columns/start).
 */
int workload_trace_check(const struct scenario *sc, int cls, int64_t *requests,
                         int64_t *skipped, struct trace_error *err);

/*
 * ARRIVAL_TRACE: open the replay of class cls of sc (w must be that class's
 * generator). sc must outlive w. Returns 0, or -EINVAL with *err when the file
 * cannot be opened (then the class has no arrivals). A bad line met during the
 * replay (the file changed since workload_trace_check) ends the class's arrivals
 * and is counted by workload_trace_errors().
 */
int workload_trace_begin(workload *w, const struct scenario *sc, int cls,
                         struct trace_error *err);

/* Bad lines met during the replay (0 for a trace checked beforehand and unchanged). */
int64_t workload_trace_errors(const workload *w);

/*
 * One draw from the class's prompt-token distribution: rounded, >= 1. A trace
 * class gives the current line's prompt tokens instead (at least 1).
 */
int64_t workload_prompt_tokens(workload *w);

/*
 * One draw from the class's completion-token distribution: rounded, >= 1, and at
 * most max_tokens when the class sets max_tokens (> 0). This is what the provider
 * will actually generate; max_tokens is what the client sends and reserves. A trace
 * class gives the current line's completion tokens when it has them (at least 1,
 * clipped the same way), else draws.
 */
int64_t workload_completion_tokens(workload *w);

/* The class's max_tokens (0 = not set). */
int64_t workload_max_tokens(const workload *w);

/*
 * One draw from any token distribution, rounded to the nearest integer and
 * clamped to >= 1. Empirical: a uniformly chosen sample (n_values must be > 0).
 * Normal draws below 1 are clamped, not redrawn. For the mock server, which
 * draws completion lengths without a whole workload.
 */
int64_t dist_draw(const struct dist_config *d, struct rng *r);

/* The distribution's mean before rounding and clamping (lognormal: median·e^(σ²/2)). */
double dist_mean(const struct dist_config *d);

#endif
