/*
 * plan_vary: the keys `ratelab plan` varies. Parsing --vary KEY=LO..HI[:STEP]
 * into a lattice (plan_parse_vary and plan_vary_value, declared in plan.h),
 * binding a class key to its class's arrival process, and turning a lattice
 * point into the scenario overrides that load it.
 */
#ifndef RATELAB_PLAN_VARY_H
#define RATELAB_PLAN_VARY_H

#include <stddef.h>
#include <stdint.h>

#include "plan.h"
#include "scenario.h"

/*
 * A class key (class.NAME.rate, class.NAME.users): find its class in sc and the
 * arrival spec around the value (v->class_index, arrival_pre, arrival_post).
 * Other keys are left alone. Returns 0, or -EINVAL with a message in err.
 */
int plan_vary_bind(struct plan_vary *v, const struct scenario *sc, char *err, size_t n);

/* The value at lattice index i as people read it ("20", "1.5s", "12.5/s"); returns buf. */
char *plan_vary_text(const struct plan_vary *v, int64_t i, char *buf, size_t n);

/*
 * Load c's scenario with its --set overrides and each varied key k at lattice
 * index idx[k]. Returns 0, or -EINVAL with err filled; sc needs scenario_fini
 * either way.
 */
int plan_vary_load(const struct plan_config *c, const int64_t *idx, struct scenario *sc,
                   struct scenario_error *err);

#endif
