/*
 * retry: what to do after an attempt failed — classification of the outcome,
 * capped exponential backoff with jitter, and a retry budget.
 *
 * Backoff for the retry after attempt n (n = 1 is the first try):
 *   ceiling = min(max_delay, base_delay × 2^(n-1))
 *   JITTER_NONE          ceiling
 *   JITTER_FULL          uniform [0, ceiling]
 *   JITTER_EQUAL         ceiling/2 + uniform [0, ceiling/2]
 *   JITTER_DECORRELATED  min(max_delay, uniform [base_delay, 3 × previous delay])
 * (AWS Architecture Blog, "Exponential Backoff And Jitter"). Draws come from
 * the caller's rng, so runs are reproducible.
 *
 * The retry budget bounds the load retries add: within any budget window,
 * retries <= budget_ratio × first attempts + min_retries. It is counted in
 * RETRY_BUDGET_SLOTS sub-windows (a ring, no allocation), so the window slides
 * in steps of window/RETRY_BUDGET_SLOTS.
 */
#ifndef RATELAB_RETRY_H
#define RATELAB_RETRY_H

#include <stdbool.h>
#include <stdint.h>

#include "scenario.h"

struct rng;

/* How an answer is classified. */
enum retry_class {
    RETRY_SUCCESS, /* 2xx */
    RETRY_RETRY,   /* 0 (transport), 408, 409, 429, 5xx */
    RETRY_FAIL,    /* anything else (400, 401, 403, 404, 422, ...) */
};

/*
 * Classify an HTTP status (0 = transport error). should_retry is the server's
 * x-should-retry: 1 forces a retry, 0 forbids one, -1 = not given. It never
 * turns a 2xx into a failure.
 */
enum retry_class retry_classify(int status, int should_retry);

/*
 * Backoff before the retry that follows attempt `attempt` (>= 1), in µs.
 * *prev_delay_us carries the previous delay for decorrelated jitter (start it
 * at 0) and is updated. Never negative, never above max_delay_us (when > 0).
 */
int64_t retry_backoff_us(const struct retry_config *cfg, int attempt, int64_t *prev_delay_us,
                         struct rng *rng);

#define RETRY_BUDGET_SLOTS 16

/* Sliding-window counts of first attempts and retries. */
struct retry_budget {
    double ratio;                        /* retries allowed per first attempt */
    int64_t min_retries;                 /* retries always allowed per window */
    int64_t slot_us;                     /* window / RETRY_BUDGET_SLOTS; 0 = budget off */
    int64_t slot_start_us;               /* start of the current slot, µs */
    int cur;                             /* index of the current slot */
    int64_t firsts[RETRY_BUDGET_SLOTS];  /* first attempts per slot */
    int64_t retries[RETRY_BUDGET_SLOTS]; /* retries per slot */
};

/* window_us == 0 turns the budget off (every retry allowed). */
void retry_budget_init(struct retry_budget *b, double ratio, int64_t min_retries, int64_t window_us,
                       int64_t now_us);

/* A first attempt was sent. */
void retry_budget_first(struct retry_budget *b, int64_t now_us);

/* Take one retry from the budget if there is one: true = allowed (and counted). */
bool retry_budget_take(struct retry_budget *b, int64_t now_us);

/* Retries retry_budget_take would allow at now_us (>= the last time seen), changing
 * nothing; -1 when the budget is off (unlimited). */
int64_t retry_budget_left(const struct retry_budget *b, int64_t now_us);

#endif
