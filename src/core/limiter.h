/*
 * limiter: exact, clock-free rate limiting on integer time.
 *
 * Two layers, both embeddable (no allocation, init/fini):
 *
 *   struct limiter_bucket  one continuously refilled token bucket: `amount` units
 *                          per `period_us`, holding at most `capacity` units.
 *                          The provider model uses it alone for server-side
 *                          enforcement.
 *   struct limiter         the client's four dimensions at once: requests per
 *                          minute, tokens per minute, tokens per day (three
 *                          buckets) and a concurrency pool. Admission is
 *                          all-or-nothing across them.
 *
 * Algorithm. A token bucket kept in exact integer "unit-microseconds": the level
 * is stored multiplied by period_us, and every elapsed µs adds exactly `amount`
 * to it. A bucket of 600 requests per 60 s gains 600 per µs against a cost of
 * 60,000,000 per request, so no rate is ever rounded: there is no drift over a
 * 24-hour (or 24-year) run, and calling twice with the same `now` adds nothing.
 * The arithmetic is 128-bit (GCC/Clang __int128), so any int64 amount and period
 * work. The admit path has no division; only a refused caller pays one, to get
 * the exact wait, rounded up to the next whole µs (never early).
 *
 * Burst semantics. A bucket starts full, and its capacity is, unless set
 * otherwise, one whole period's worth (`amount`): a cold client may send a full
 * minute of RPM at once, then continues at the steady rate. A smaller capacity
 * (limiter_burst_capacity: B µs' worth of the rate) models stricter enforcers —
 * quantised limits, nginx's limit_req burst, Envoy's bucket size. A single cost
 * larger than the capacity but at most one period's worth is still admitted, from
 * a full bucket, and leaves the bucket in debt for the excess: the bucket acts as
 * if it held that request, and never needs to know the largest one in advance.
 * So in any window of length W the admitted cost is at most
 * max(capacity, largest cost) + amount * W / period_us (the tests check exactly
 * this bound). A cost above max(capacity, amount) can never be admitted: it is
 * refused with -E2BIG at once, never left waiting.
 *
 * Reservation and reconciliation. Callers charge an estimate up front and
 * reconcile to the actual cost later: an unused part is refunded (never above
 * capacity), an overrun is charged as debt (the level goes negative and the
 * bucket must refill past zero before it admits again).
 *
 * Sharing. One struct limiter can be the admission state of several client cores
 * (N clients of one quota in one process): init it once and hand it to each with
 * client_share_limiter (client.h says what the engine then owes the clients). State
 * kept outside the process (Redis) is a client_backend instead, not this struct.
 *
 * Time is int64_t µs on the caller's timeline, and must never go backwards
 * (asserted). Return values follow STYLE.md: 0 success, negative errno, small
 * positive codes for non-error outcomes.
 */
#ifndef RATELAB_LIMITER_H
#define RATELAB_LIMITER_H

#include <stdbool.h>
#include <stdint.h>

#ifndef __SIZEOF_INT128__
#error "ratelab's limiter needs a compiler with __int128 (GCC or Clang on a 64-bit target)"
#endif

/* Outcomes of an admission attempt (0 = admitted and charged). */
#define LIMITER_OK   0
#define LIMITER_WAIT 1 /* a token dimension is short: *wait_until_us says exactly when */
#define LIMITER_BUSY 2 /* the concurrency pool is full: ask again after a release */

/*
 * One bucket. Invariant: level_uus <= capacity * period_us; level_uus is
 * negative only as debt: from a reconciliation (usage above the reservation),
 * or from a cost above the capacity, admitted from a full bucket.
 * amount == 0 means "unlimited": every call admits and nothing is tracked.
 * Fields are public so the struct can be embedded; treat them as read-only.
 */
struct limiter_bucket {
    int64_t amount;     /* units refilled per period; 0 = unlimited */
    int64_t period_us;  /* refill period, µs (> 0) */
    int64_t capacity;   /* most units held at once (the burst) */
    int64_t max_cost;   /* largest single cost ever admitted: max(capacity, amount) */
    __int128 level_uus; /* units × period_us; exact, see above */
    __int128 cap_uus;   /* capacity × period_us */
    int64_t last_us;    /* time level_uus was last brought up to date, µs */
};

/*
 * Set up a full bucket of `amount` units per `period_us`, holding at most
 * `capacity` units (0 = one period's worth, i.e. `amount`). `now_us` is the
 * start of its timeline. amount == 0 makes an unlimited bucket.
 * Returns 0, or -EINVAL (negative values, period_us <= 0, capacity < 0).
 */
int limiter_bucket_init(struct limiter_bucket *b, int64_t amount, int64_t period_us,
                        int64_t capacity, int64_t now_us);

/*
 * The capacity of a bucket of `amount` units per `period_us` that holds
 * `burst_us` µs' worth of its rate: ceil(amount × burst_us / period_us), at
 * least 1 (INT64_MAX if beyond). burst_us == 0 means one period's worth
 * (`amount`), and amount == 0 (unlimited) gives 0. Both arguments >= 0.
 */
int64_t limiter_burst_capacity(int64_t amount, int64_t period_us, int64_t burst_us);

/*
 * Take `cost` units if they are there now; a cost above the capacity (up to
 * max_cost) needs a full bucket and leaves it in debt. Returns LIMITER_OK
 * (taken), LIMITER_WAIT with *wait_until_us = the earliest µs at which `cost`
 * will be admitted if nothing else is taken meanwhile, -E2BIG if cost >
 * max_cost (can never fit), -EINVAL if cost < 0. A cost of 0 always succeeds.
 */
int limiter_bucket_try(struct limiter_bucket *b, int64_t now_us, int64_t cost,
                       int64_t *wait_until_us);

/*
 * Take `cost` units that limiter_bucket_peek just said fit (LIMITER_OK) at the
 * bucket's last time, without refilling or checking again: a peek then a take is a
 * try split in two, for callers (the provider) that peek every dimension before
 * charging any.
 */
void limiter_bucket_take(struct limiter_bucket *b, int64_t cost);

/* As limiter_bucket_try, without taking anything. */
int limiter_bucket_peek(struct limiter_bucket *b, int64_t now_us, int64_t cost,
                        int64_t *wait_until_us);

/*
 * Adjust by delta units: delta > 0 refunds (the level is capped at capacity),
 * delta < 0 takes more, possibly into debt. Used to reconcile a reservation:
 * delta = charged - actual.
 */
void limiter_bucket_adjust(struct limiter_bucket *b, int64_t now_us, int64_t delta);

/* Whole units available at now_us (floor; negative while in debt). Changes nothing. */
int64_t limiter_bucket_level(const struct limiter_bucket *b, int64_t now_us);

/*
 * The earliest µs, at or after now_us, at which the bucket is full again if
 * nothing is taken meanwhile: now_us when it is full (or unlimited), else exact,
 * rounded up to the next whole µs (TIME_NEVER if beyond int64). Debt is counted.
 * This is what a server's rate-limit "reset" header reports. Changes nothing.
 */
int64_t limiter_bucket_full_at(const struct limiter_bucket *b, int64_t now_us);

/* Lower the level to at most `units` (adaptive mode: the server says it has less). */
void limiter_bucket_clamp(struct limiter_bucket *b, int64_t now_us, int64_t units);

/* Nothing to release; for symmetry with init. */
void limiter_bucket_fini(struct limiter_bucket *b);

/* ---- four dimensions ---------------------------------------------------- */

/*
 * The client limiter. Invariant: 0 <= in_flight, and in_flight <= the effective
 * concurrency limit except right after that limit is lowered (adaptive mode),
 * when it only drains. Each admitted request costs 1 in `rpm` and its token
 * cost in `tpm` and `tpd`, and holds one concurrency slot until released.
 */
struct limiter {
    struct limiter_bucket rpm; /* requests per minute */
    struct limiter_bucket tpm; /* tokens per minute */
    struct limiter_bucket tpd; /* tokens per day */
    int64_t max_concurrent;    /* configured pool size, 0 = unlimited */
    int64_t conc_limit;        /* effective pool size now (adaptive may lower it), 0 = none */
    int64_t in_flight;         /* slots held */
    int64_t paused_until_us;   /* admit nothing before this time (adaptive pause), µs */
    int64_t max_cost;          /* largest token cost that can ever fit; INT64_MAX = any */
    /* Read-only records of the daily budget, for reports (0 and -1 when TPD is unlimited). */
    int64_t tpd_used_tokens;   /* tokens charged to TPD since init, net of reconciliation */
    int64_t tpd_short_us;      /* first time an admission found TPD short, µs; -1 = never */
};

/*
 * All buckets start full. The RPM and TPM buckets hold burst_us µs' worth of
 * their rate (limiter_burst_capacity: at least 1; 0 = one period's worth, as
 * 60 s is); the TPD bucket always holds the whole day, a budget rather than a
 * rate (doc/limiter.md). A request of up to min(tpm, tpd) tokens always fits:
 * one above the TPM bucket's capacity goes from a full bucket, into debt.
 * 0 = unlimited for each limit. Returns 0 or -EINVAL (negative arguments).
 */
int limiter_init_burst(struct limiter *l, int64_t rpm, int64_t tpm, int64_t tpd,
                       int64_t max_concurrent, int64_t burst_us, int64_t now_us);

/* limiter_init_burst with one period's worth in every bucket (burst_us = 0). */
int limiter_init(struct limiter *l, int64_t rpm, int64_t tpm, int64_t tpd, int64_t max_concurrent,
                 int64_t now_us);

/*
 * Admit one request of `cost_tokens` at now_us, all-or-nothing:
 *   LIMITER_OK    admitted: charged 1 request, cost_tokens on both token
 *                 buckets, and one concurrency slot (release it later).
 *   LIMITER_WAIT  a token/request dimension (or an adaptive pause) is short;
 *                 *wait_until_us = exact earliest time all are satisfied, given
 *                 no other charge meanwhile. Nothing charged.
 *   LIMITER_BUSY  the concurrency pool is full; ask again after a release.
 *                 Nothing charged, *wait_until_us untouched.
 *   -E2BIG        cost_tokens exceeds the TPM or TPD limit: never fits.
 *   -EINVAL       cost_tokens < 0.
 */
int limiter_try(struct limiter *l, int64_t now_us, int64_t cost_tokens, int64_t *wait_until_us);

/*
 * As limiter_try without charging anything: LIMITER_OK means limiter_try at the
 * same now would admit. Same returns otherwise.
 */
int limiter_peek(struct limiter *l, int64_t now_us, int64_t cost_tokens, int64_t *wait_until_us);

/* Whether a request of cost_tokens could ever be admitted (cost <= min(tpm, tpd)). */
bool limiter_fits(const struct limiter *l, int64_t cost_tokens);

/* Free the concurrency slot of one admitted request. */
void limiter_release(struct limiter *l);

/*
 * Reconcile one admitted request's tokens: it was charged `charged_tokens`, it
 * really used `actual_tokens`. The difference is refunded, or charged as debt
 * (and tpd_used_tokens moves by it).
 */
void limiter_reconcile(struct limiter *l, int64_t now_us, int64_t charged_tokens,
                       int64_t actual_tokens);

/* Admit nothing before until_us (later calls only extend the pause). */
void limiter_pause(struct limiter *l, int64_t until_us);

/* Set the effective concurrency limit (adaptive AIMD); 0 restores the configured one. */
void limiter_set_concurrency(struct limiter *l, int64_t limit);

void limiter_fini(struct limiter *l);

#endif
