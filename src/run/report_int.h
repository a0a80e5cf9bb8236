/*
 * report_int: what the report's two halves share (report.c: SLOs, JSON, CSV;
 * summary.c: the human summary). Internal to src/run.
 */
#ifndef RATELAB_REPORT_INT_H
#define RATELAB_REPORT_INT_H

#include <stdint.h>

#include "scenario.h"

/* part / whole, 0 when whole is 0. */
static inline double share(uint64_t part, uint64_t whole)
{
    return whole ? (double)part / (double)whole : 0;
}

/* How long arrivals ran: the scenario's duration, or less when the run was stopped early. */
static inline int64_t arrival_span(const struct scenario *sc, int64_t end_us)
{
    return end_us < sc->duration_us ? end_us : sc->duration_us;
}

#endif
