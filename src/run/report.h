/*
 * report: a finished run's metrics as a human summary (stdout), a JSON
 * document and a CSV time series, plus the scenario's SLO verdicts.
 * doc/report.md documents every field and its unit.
 *
 * Reports read only metrics (and the scenario for names and SLOs), never an
 * engine. Output is a pure function of those: the same scenario and seed give
 * byte-identical JSON and CSV.
 */
#ifndef RATELAB_REPORT_H
#define RATELAB_REPORT_H

#include <stdbool.h>
#include <stdio.h>

#include "metrics.h"
#include "scenario.h"

/* One SLO verdict. */
struct slo_result {
    char name[96];     /* "p95", "class chat p95", "zero_lost", "max_429_share" */
    char key[96];      /* the scenario key it comes from: "scenario.slo_p95", "class.chat.slo_p95" */
    double target;     /* the limit (ms for latencies, a count or a share otherwise) */
    double actual;     /* what the run measured, same unit */
    const char *unit;  /* "ms", "requests", "share" */
    bool ok;
};

#define REPORT_MAX_SLOS (SCENARIO_MAX_CLASSES + 3)

/* Evaluate every SLO the scenario sets, in a fixed order; returns how many (<= REPORT_MAX_SLOS). */
int report_slos(const struct scenario *sc, const metrics *m, struct slo_result *out);

/* Extra engine figures for the summary and JSON (optional, NULL to leave out). */
struct report_extra {
    int64_t end_us;            /* when the run ended (duration + drain), µs */
    int64_t server_429[4];     /* provider 429s by limit: rpm, tpm, tpd, concurrency */
    int64_t server_503;        /* provider waiting queue full */
    int64_t server_faults;     /* injected faults */
};

/* The human summary: per-class table, an accounting line that adds up, SLO lines. */
void report_summary(FILE *out, const struct scenario *sc, const metrics *m,
                    const struct report_extra *x);

/* The JSON document (schema in doc/report.md). Returns 0 or -EIO. */
int report_json(FILE *out, const struct scenario *sc, const metrics *m,
                const struct report_extra *x);

/*
 * CSV time series: one row per window, overall columns then each class's with
 * a "NAME." prefix. Register report_csv_sink as the window sink; the header is
 * written before the first row.
 */
struct report_csv {
    FILE *out;
    const struct scenario *sc;
    bool header_done;
    int n_classes;
};
void report_csv_init(struct report_csv *c, FILE *out, const struct scenario *sc);
void report_csv_sink(void *ctx, int cls, const struct metrics_row *row);

#endif
