/*
 * srvlimit: one server-side rate limit (RPM, TPM or TPD) of the provider model,
 * enforced as a continuously refilled bucket or as fixed windows. Internal to
 * the provider; embeddable, no allocation.
 *
 * Bucket: the client core's struct limiter_bucket (limiter.h), exact in
 * 128-bit unit-µs: capacity as given (the server's burst; one period's worth
 * by default), starts full, refills `limit` units per period_us; a cost above
 * the capacity (up to the limit) goes from a full bucket into debt, as the
 * client's does. Waits and the "until full" time are exact, rounded up to the
 * next µs.
 *
 * Window: windows [k·period, (k+1)·period) of the caller's timeline; at most
 * `limit` units are charged in each. The capacity does not apply: a window's
 * whole quota is its burst.
 *
 * Time: srvlimit keeps the latest time it was given (now_us) and answers as of
 * it. An earlier time is ignored rather than asserted, unlike the limiter: a
 * provider created at 0 may be driven on any timeline (the mock passes
 * Unix-epoch µs, a test may start below 0).
 *
 * Invariant: the bucket is in debt only after a cost above its capacity, and
 * by at most limit − capacity (capacity − limit <= level <= capacity); 0 <=
 * used <= limit (window). limit == 0 means unlimited: everything fits, nothing
 * is tracked.
 */
#ifndef RATELAB_SRVLIMIT_H
#define RATELAB_SRVLIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "limiter.h"
#include "scenario.h"

struct srvlimit {
    int64_t limit;                /* units per period; 0 = unlimited */
    int64_t period_us;            /* 60 s or a day, µs */
    enum enforce_kind mode;       /* bucket or fixed windows */
    int64_t now_us;               /* latest time seen, µs; never decreases */
    struct limiter_bucket bucket; /* bucket mode: the level, brought to now_us on use */
    int64_t win_start_us;         /* window mode: start of the current window, µs */
    int64_t used;                 /* window mode: units charged in the current window */
};

/*
 * capacity: most units the bucket holds (limiter_burst_capacity of the
 * server's burst), 0 = one period's worth (the limit); ignored in window mode.
 */
void srvlimit_init(struct srvlimit *l, int64_t limit, int64_t period_us, int64_t capacity,
                   enum enforce_kind mode, int64_t now_us);

/* Bring the state to now_us (>= the last time seen; earlier times are ignored). */
void srvlimit_update(struct srvlimit *l, int64_t now_us);

/*
 * After srvlimit_update(now): 0 if cost fits now, -1 if it never can (cost >
 * limit), else the exact µs until it fits (rounded up) if nothing else is charged.
 * Changes nothing observable (the bucket may bring its level up to now).
 */
int64_t srvlimit_wait_us(struct srvlimit *l, int64_t cost);

/* Take cost (it must fit: srvlimit_wait_us() == 0). */
void srvlimit_charge(struct srvlimit *l, int64_t cost);

/* Whole units available now (bucket: floor of the level, 0 in debt; window: limit − used). */
int64_t srvlimit_remaining(const struct srvlimit *l);

/* µs until the limit is back to full (bucket: refilled; window: the window ends), 0 if full. */
int64_t srvlimit_reset_us(const struct srvlimit *l);

static inline bool srvlimit_unlimited(const struct srvlimit *l)
{
    return l->limit == 0;
}

#endif
