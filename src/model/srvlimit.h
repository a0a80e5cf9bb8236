/*
 * srvlimit: one server-side rate limit (RPM, TPM or TPD) of the provider model,
 * enforced as a continuously refilled bucket or as fixed windows. Internal to
 * the provider; embeddable, no allocation.
 *
 * Bucket: capacity = limit, starts full, refills `limit` units per period_us.
 * The level is kept exactly in units × period_us (128-bit), so a refill never
 * rounds and the wait for a refused cost is exact, rounded up to the next µs.
 * (The client core's limiter_bucket uses the same scheme; this one adds fixed
 * windows and the "until full" time that rate-limit headers report, and keeps
 * the provider free of a link dependency on the client core.)
 *
 * Window: windows [k·period, (k+1)·period) of the caller's timeline; at most
 * `limit` units are charged in each.
 *
 * Invariant: 0 <= level_uus <= limit × period_us (bucket); 0 <= used <= limit
 * (window). limit == 0 means unlimited: everything fits, nothing is tracked.
 */
#ifndef RATELAB_SRVLIMIT_H
#define RATELAB_SRVLIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include "scenario.h"

struct srvlimit {
    int64_t limit;            /* units per period; 0 = unlimited */
    int64_t period_us;        /* 60 s or a day */
    enum enforce_kind mode;
    __extension__ __int128 level_uus; /* bucket: units × period_us available */
    int64_t now_us;           /* time the state was last brought up to date */
    int64_t win_start_us;     /* window: start of the current window */
    int64_t used;             /* window: units charged in the current window */
};

void srvlimit_init(struct srvlimit *l, int64_t limit, int64_t period_us, enum enforce_kind mode,
                   int64_t now_us);

/* Bring the state to now_us (>= the last time seen; earlier times are ignored). */
void srvlimit_update(struct srvlimit *l, int64_t now_us);

/*
 * After srvlimit_update(now): 0 if cost fits now, -1 if it never can (cost >
 * limit), else the exact µs until it fits (rounded up) if nothing else is charged.
 */
int64_t srvlimit_wait_us(const struct srvlimit *l, int64_t cost);

/* Take cost (it must fit: srvlimit_wait_us() == 0). */
void srvlimit_charge(struct srvlimit *l, int64_t cost);

/* Whole units available now (bucket: floor of the level; window: limit − used). */
int64_t srvlimit_remaining(const struct srvlimit *l);

/* µs until the limit is back to full (bucket: refilled; window: the window ends), 0 if full. */
int64_t srvlimit_reset_us(const struct srvlimit *l);

static inline bool srvlimit_unlimited(const struct srvlimit *l)
{
    return l->limit == 0;
}

#endif
