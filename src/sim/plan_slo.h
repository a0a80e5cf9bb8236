/*
 * plan_slo: the SLOs `ratelab plan` checks. Parsing "PATH OP VALUE"
 * (plan_parse_slo, declared in plan.h), the field's unit from its path and the
 * target in that unit, reading a path from a JSON report (a scope's "lost"
 * included), near matches for a path the report lacks, and which seed's value
 * decides and whether it meets the SLO.
 */
#ifndef RATELAB_PLAN_SLO_H
#define RATELAB_PLAN_SLO_H

#include <stdbool.h>
#include <stddef.h>

#include "plan.h"

struct cJSON;

/* The comparator as written: "<=", "<", ">=", ">", "==". */
const char *plan_slo_cmp_text(enum plan_cmp cmp);

/*
 * The number at path in a parsed JSON report: 0, or -ENOENT when the path names
 * no number. A last part "lost" sums that scope's failed, rejected and timed_out
 * requests; null (a forecast that never runs out) reads as +infinity.
 */
int plan_slo_read(const struct cJSON *report, const char *path, double *out);

/*
 * Check each of the n_slo SLOs against a report of the scenario: its path names
 * a number (else -EINVAL with the near matches in err), and its value reads in
 * the field's unit (sets target; else -EINVAL with err). Returns 0 or -EINVAL.
 */
int plan_slo_check(struct plan_slo *slo, int n_slo, const struct cJSON *report, char *err,
                   size_t n);

/* Whether a is a worse value than b for s: higher for <=, lower for >=, farther for ==. */
bool plan_slo_worse(const struct plan_slo *s, double a, double b);

/* Whether x meets s (s's target set by plan_slo_check). */
bool plan_slo_meets(const struct plan_slo *s, double x);

#endif
