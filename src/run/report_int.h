/*
 * report_int: what the report's two halves share (report.c: SLOs, JSON, CSV;
 * summary.c: the human summary). Internal to src/run.
 */
#ifndef RATELAB_REPORT_INT_H
#define RATELAB_REPORT_INT_H

#include <stdint.h>

/* part / whole, 0 when whole is 0. */
static inline double share(uint64_t part, uint64_t whole)
{
    return whole ? (double)part / (double)whole : 0;
}

#endif
