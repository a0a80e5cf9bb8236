/*
 * plan: capacity planning on the simulator. Vary scenario keys over ranges,
 * simulate each point with several seeds, and find the cheapest setting that
 * meets every SLO: the smallest [client]/[server] value (a resource), or the
 * largest [class.NAME] value (a load the setting sustains).
 *
 * An SLO is "PATH OP VALUE" on the JSON report (doc/report.md), e.g.
 * "latency_ms.p95<=2s", "hit_rate.server_429<=1%", "lost==0". The worst seed
 * decides each SLO.
 *
 * Each varied key is a lattice: LO, LO+STEP, ..., HI. Several keys form a grid
 * over all but the last, and a search on the last for each grid point: bisection
 * (PLAN_PROBES probes per round) while the points tried are consistent with a
 * monotone feasibility, a grid at STEP once they are not. The probes of a round
 * are chosen before it and the results gathered after it, so the decisions, and
 * the output, do not depend on --jobs: points run as forked processes, up to
 * jobs at once, and serial and parallel runs print the same bytes.
 */
#ifndef RATELAB_PLAN_H
#define RATELAB_PLAN_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "scenario.h"

#define PLAN_MAX_VARY 4
#define PLAN_MAX_SLO 16
#define PLAN_PROBES 3        /* interior probes per bisection round (a quarter-section) */
#define PLAN_GRID_MAX 256    /* most lattice points a grid (or a non-monotone fallback) may take */

enum plan_cmp { PLAN_LE, PLAN_LT, PLAN_GE, PLAN_GT, PLAN_EQ };

/* The unit of a report field, from its path. */
enum plan_unit {
    PLAN_UNIT_PLAIN, /* counts, rates, anything else: compared as written */
    PLAN_UNIT_MS,    /* a *_ms field: the SLO value takes us, ms, s, min or h */
    PLAN_UNIT_S,     /* a *_s field (end_s): the same units, compared in s */
    PLAN_UNIT_SHARE, /* hit_rate.*: a fraction; the SLO value may be a percentage */
};

struct plan_slo {
    char text[160];      /* as given, for headers and messages */
    char path[128];      /* dotted path in the JSON report; a last part "lost" = failed +
                            rejected + timed_out of that scope's requests */
    enum plan_cmp cmp;
    char value[64];      /* the value as written ("2s", "1%") */
    double target;       /* in the field's unit (ms, s, fraction, plain); set by plan_check,
                            which knows the field */
    enum plan_unit unit;
};

enum plan_key_kind {
    PLAN_KEY_COUNT,      /* a whole number (limits, capacities, class users): integer lattice */
    PLAN_KEY_DURATION,   /* a duration; lattice in µs */
    PLAN_KEY_RATE,       /* a rate key ("20/s"); lattice in 1/s */
    PLAN_KEY_NUMBER,     /* a plain decimal (shares, slopes) */
    PLAN_KEY_CLASS_RATE, /* class.NAME.rate: the rate of the class's arrival process, 1/s */
    PLAN_KEY_CLASS_USERS,/* class.NAME.users: the users of a closed-loop class */
};

struct plan_vary {
    char key[128];       /* as given: "client.max_concurrent", "class.chat.rate" */
    enum plan_key_kind kind;
    double lo, hi, step; /* in the lattice unit (count, µs, 1/s or plain); lo < hi, step > 0 */
    int64_t n;           /* lattice points: lo + i*step for i < n - 1, then hi */
    bool largest;        /* the goal: the largest value ([class.*]), else the smallest */
    int class_index;     /* class keys: the class, once plan_check resolved it; else -1 */
    char arrival_pre[32];   /* class keys: the arrival spec around the value ("poisson "), */
    char arrival_post[128]; /* ("/s"), from the scenario's own process (plan_check) */
};

/*
 * Parse "KEY=LO..HI[:STEP]". Counts (optionally k/M/G) give an integer lattice,
 * step 1 by default; durations, rates and plain numbers a real one, a hundredth of
 * the range by default. class.NAME.rate takes plain numbers (per second) or rates.
 * Returns 0, or -EINVAL with a message in err.
 */
int plan_parse_vary(const char *arg, struct plan_vary *v, char *err, size_t n);

/*
 * Parse "PATH OP VALUE" (OP <=, <, >=, >, ==). The value's unit is checked, and
 * target set, by plan_check (after the path). Returns 0, or -EINVAL with err.
 */
int plan_parse_slo(const char *arg, struct plan_slo *s, char *err, size_t n);

/* The value at lattice index i of v, in its lattice unit. */
double plan_vary_value(const struct plan_vary *v, int64_t i);

struct plan_config {
    const char *scenario_path;
    const char *const *overrides; /* --set options, applied before the varied keys */
    int n_overrides;
    uint64_t seed0;              /* seeds seed0 .. seed0 + seeds - 1 */
    int seeds;                   /* >= 1 */
    int jobs;                    /* worker processes at once, >= 1; 1 = in this process */
    bool progress;               /* draw a progress line on stderr */
    struct plan_vary vary[PLAN_MAX_VARY];
    int n_vary;
    struct plan_slo slo[PLAN_MAX_SLO];
    int n_slo;
};

/*
 * Check c against the loaded scenario sc (the base, with --set): class keys name a
 * class with a fitting arrival process, the scenario loads with each key at LO and
 * HI, the grid is not too large, and every SLO path names a number in the report
 * (else the near matches). Returns 0, or -EINVAL with a message in err.
 */
int plan_check(struct plan_config *c, const struct scenario *sc, char *err, size_t n);

typedef struct plan plan;

/* A planner for c (copied; c must have passed plan_check). */
plan *plan_new(const struct plan_config *c);
void plan_free(plan *p);

/*
 * Search. Returns 0 when a setting meets every SLO, 1 when none in range does,
 * -EIO when a point could not be evaluated (after saying why on stderr).
 */
int plan_run(plan *p);

/* The points tried (a table), notes on monotonicity, the recommendation and its margin. */
void plan_print(const plan *p, FILE *out);

/* The same as JSON. Returns 0 or -EIO. */
int plan_json(const plan *p, FILE *out);

/*
 * The same as an HTML page (doc/report.md): the plan as printed, and per SLO a
 * plot of the worst seed (and the spread) against the last varied key, one line
 * per grid point of the others, the target and the recommendation marked.
 * Returns 0, -EIO or -ENOMEM.
 */
int plan_html(const plan *p, FILE *out);

#endif
