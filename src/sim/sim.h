/*
 * sim: the discrete-event simulator. One run = the provider model (provider.h)
 * behind the shared request lifecycle (run.h: workload, client core, deadlines,
 * metrics), on a virtual clock (int64_t µs). Each step goes to the earliest of
 * the provider's next event and the lifecycle's next time; ties are resolved in
 * a fixed order (the provider's answers, then the lifecycle), so the same
 * scenario and seed give the same events, metrics and reports.
 *
 * No global state: a sim owns its random streams (run.h says the split order),
 * so two sims run side by side in one process.
 *
 * A run ends as run.h describes (at_end = cancel or drain, drain_limit); every
 * request that arrived ends in exactly one terminal state.
 */
#ifndef RATELAB_SIM_H
#define RATELAB_SIM_H

#include <stdbool.h>
#include <stdint.h>

#include "metrics.h"
#include "run.h"
#include "scenario.h"

typedef struct sim sim;

/*
 * A simulation of sc (borrowed: it must outlive the sim, and not change). Uses
 * sc->seed. Returns NULL with *err = -EINVAL when the client core refuses the
 * configuration or the scenario has no class.
 */
sim *sim_new(const struct scenario *sc, int *err);
void sim_free(sim *s);

/* Receive each window's rows as windows close (before the first sim_run). */
void sim_set_window_sink(sim *s, metrics_sink sink, void *ctx);

/*
 * Process at most max_events engine steps (each one moment of virtual time;
 * <= 0 = no limit). Returns 1 when the run has ended (metrics finished), 0 when
 * there is more to do. Callers that show progress run it in slices.
 */
int sim_run(sim *s, int64_t max_events);

/*
 * As sim_run, but stop before any moment later than until_us (the dashboard's
 * playback: simulated time follows the wall clock at a chosen speed). Returns 1
 * when the run has ended, 0 otherwise (until_us reached, or max_events done).
 */
int sim_run_until(sim *s, int64_t until_us, int64_t max_events);

/* Virtual time now, µs. */
int64_t sim_now(const sim *s);

/* When the run ended (valid once sim_run returned 1), µs. */
int64_t sim_end_us(const sim *s);

/* The run's metrics (complete once sim_run returned 1). */
const metrics *sim_metrics(const sim *s);

/* The lifecycle inside (for the shared report path and live readers). */
run *sim_lifecycle(sim *s);

/* Engine counters, for benchmarks and reports. */
struct sim_stats {
    int64_t steps;           /* engine steps (distinct moments processed) */
    int64_t heap_events;     /* arrival and closed-loop events handled */
    int64_t requests;        /* requests created (arrivals) */
    int64_t pool_peak;       /* most requests alive at once (pool size) */
    int64_t heap_peak;       /* most arrival events pending at once */
    int64_t spin_guards;     /* times the client asked to be polled again at once and did nothing */
    int64_t stuck;           /* requests cancelled because nothing could ever move them (a bug) */
    int64_t server_429[4];   /* provider 429s by limit: rpm, tpm, tpd, concurrency */
    int64_t server_503;      /* provider waiting queue full */
    int64_t server_faults;   /* injected faults of every kind (error, reset, stall, malformed),
                                as the provider drew them */
    int64_t server_served;   /* attempts the provider finished (DONE or MALFORMED) */
    int64_t server_waited;   /* of those, how many waited for a batch slot (start > submit) */
    int64_t server_wait_us;  /* their total time in the provider's waiting queue, µs */
    int64_t server_tpd_used_tokens; /* tokens the provider charged to its TPD limit */
    int64_t server_tpd_short_us;    /* first 429 that found the provider's TPD short, µs; -1 = none */
};
void sim_stats(const sim *s, struct sim_stats *out);

struct report_extra;
/* The engine's figures every report of a finished run carries (report.h): when it ended,
 * the provider's 429s, 503s, faults and waits, and both sides' daily budgets. */
void sim_report_extra(sim *s, struct report_extra *x);

#endif
