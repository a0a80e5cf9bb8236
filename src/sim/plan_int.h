/*
 * plan_int: what the planner's modules share inside the sim area, not part of
 * plan.h's API. The planner's state (the points tried and each grid point's
 * search) lives here because plan.c fills it and plan_out.c prints it; and
 * plan_errf, the message helper every parser of plan's arguments uses.
 */
#ifndef RATELAB_PLAN_INT_H
#define RATELAB_PLAN_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "plan.h"

/* Write a message into err (n bytes); returns -EINVAL, for "return plan_errf(...)". */
int plan_errf(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* One point tried: its lattice indices and, per SLO, the worst seed and the spread. */
struct point {
    int64_t idx[PLAN_MAX_VARY];   /* lattice index of each varied key */
    int64_t combo;                /* its grid point over all keys but the last */
    int64_t rank;                 /* the last key's rank: 0 = most wanted, n - 1 = least */
    double worst[PLAN_MAX_SLO];   /* the value of the seed that decides, field's unit */
    double min[PLAN_MAX_SLO], max[PLAN_MAX_SLO]; /* the spread over seeds */
    bool pass[PLAN_MAX_SLO];      /* the worst seed meets that SLO */
    bool ok;                      /* every SLO passes */
};

enum search_mode { SEARCH_BISECT, SEARCH_GRID, SEARCH_DONE };

/* The search on the last key at one grid point of the others. */
struct search {
    enum search_mode mode;
    bool not_monotone;  /* a point failed at a higher rank than one that passed */
    bool grid_capped;   /* not monotone, and the lattice too large for a grid */
    int64_t answer;     /* the rank found, -1 = none in range */
};

/*
 * The planner. Points are appended in the order rounds try them (probes in
 * (combo, rank) order within a round), which depends on no timing.
 */
struct plan {
    struct plan_config c;
    struct point *pts;     /* every point tried */
    int64_t n_pts, cap;
    struct search *s;      /* one per grid point of all keys but the last */
    int64_t n_combos;
    int rounds;            /* rounds run */
    int64_t best;          /* the recommended point (index in pts), -1 = none */
};

/* The lattice index of v's rank r: rank 0 is the most wanted value (the largest for [class.*]). */
int64_t plan_rank_index(const struct plan_vary *v, int64_t r);

/* The lattice indices (n_vary of them, into idx) of grid point combo at the last key's rank. */
void plan_probe_indices(const plan *p, int64_t combo, int64_t rank, int64_t *idx);

/* The point tried at (combo, rank), or NULL when none was. */
const struct point *plan_find_point(const plan *p, int64_t combo, int64_t rank);

#endif
