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

#include "histogram.h"
#include "metrics.h"
#include "run.h"
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

/* How a live run's attempts ended, kept apart (report_live). */
enum report_status {
    REPORT_ST_2XX,       /* answered 2xx with a body that parsed */
    REPORT_ST_429,       /* answered 429 */
    REPORT_ST_503,       /* answered 503 */
    REPORT_ST_5XX,       /* other 5xx */
    REPORT_ST_4XX,       /* 4xx other than 429 */
    REPORT_ST_OTHER,     /* 1xx/3xx that ended the transfer */
    REPORT_ST_MALFORMED, /* 2xx whose body or stream could not be parsed */
    REPORT_ST_REFUSED,   /* transport: connection refused / host unreachable */
    REPORT_ST_RESET,     /* transport: reset, or closed with nothing / part of an answer */
    REPORT_ST_TIMEOUT,   /* transport: [live] timeout or connect timeout */
    REPORT_ST_TLS,       /* transport: TLS handshake or certificate */
    REPORT_ST_TRANSPORT, /* transport: any other libcurl error */
    REPORT_ST_ABORTED,   /* we abandoned it: past its deadline, or cancelled */
    REPORT_ST__COUNT
};

/* One gauge sampled over a run: max and mean over the samples. */
struct report_gauge {
    double max, sum;   /* over samples */
    int64_t samples;   /* 0 = never seen */
};

/* Room for the first malformed rate-limit header line a live report quotes, NUL included. */
#define REPORT_HEADER_TEXT 128

/* A live run's Redis backend ([client] backend = redis; doc/redis.md). */
struct report_redis {
    int failure;                /* enum redis_failure: 0 closed, 1 open */
    int64_t batch;              /* redis_batch: admissions reserved per round trip */
    int64_t round_trips;        /* admission scripts sent (one round trip each) */
    int64_t releases;           /* release/refund scripts sent (coalesced per loop turn) */
    int64_t renewals;           /* lease renewals sent */
    int64_t admitted_redis;     /* admissions Redis granted (reserved ones included) */
    int64_t admitted_reserved;  /* admissions handed out from the local reservation */
    int64_t returned_reserved;  /* reserved admissions handed back unused */
    int64_t pool_waits;         /* admissions Redis refused for a full concurrency pool */
    int64_t release_wakes;      /* of those waits, ended early by a release published in Redis */
    int64_t closed_waits;       /* closed: admissions told to wait, Redis unavailable */
    int64_t open_admitted;      /* open: admissions from the local share (limit / N) */
    int64_t open_share_n;       /* that N; 0 = the share was never needed */
    int64_t timeouts;           /* admission answers later than redis_timeout */
    int64_t disconnects;        /* connections refused or lost */
    int64_t errors;             /* error replies from Redis */
    int64_t processes_max;      /* most live processes seen in the registry */
};

/* What only a live run has (NULL in simulation). Histograms in µs. */
struct report_live {
    const struct histogram *send_lag;   /* arrival due → handed to the client */
    const struct histogram *itl;        /* inter-token latency per class [n_classes], NULL when
                                           not streaming */
    int64_t status[REPORT_ST__COUNT];   /* attempts by how they ended */
    int64_t header_errors;              /* malformed rate-limit header values, ignored
                                           (rlinfo.parse_errors summed over answers) */
    int64_t header_error_answers;       /* answers that carried at least one */
    char header_first_error[REPORT_HEADER_TEXT]; /* the first such header line as received
                                                    (controls as '?'), "" when none */
    bool scrape;                        /* [live] metrics_url is set */
    int64_t scrapes, scrape_failures;   /* scrapes done, and of those failed */
    struct report_gauge running, waiting, kv_cache_usage; /* the server's, from the scrapes */
    const struct report_redis *redis;   /* backend = redis, else NULL */
};

/*
 * One side's daily token budget (TPD) over a run, as the engine saw it; read by
 * report_budget_forecast (doc/report.md, "Daily budget").
 */
struct report_budget {
    int64_t limit_tokens; /* the TPD limit; 0 = none set, or not known (a live run's server) */
    bool window;          /* enforced in fixed day windows; else a bucket refilled continuously */
    int64_t used_tokens;  /* tokens charged to it over the run, net of refunds */
    int64_t short_us;     /* first time it was short during the run, µs; -1 = never */
};

/* When a daily budget runs out at the run's workload. */
struct report_forecast {
    bool observed;            /* the run ran it out itself: at_s is when */
    double rate_tokens_per_s; /* used_tokens per second of arrivals (the scenario's duration) */
    double at_s;              /* when it runs out, s from the start; INFINITY = never */
    bool lasts_day;           /* at_s >= one day (86,400 s): it lasts the day */
};

/*
 * The forecast for b in a run whose arrivals lasted duration_us: observed when
 * the run found the budget short (b->short_us), else extrapolated at
 * rate = used / duration: a window lasts limit / rate, a bucket (refilled at
 * limit per day) limit / (rate - limit / 86,400). Returns false, *out untouched,
 * when b sets no limit.
 */
bool report_budget_forecast(const struct report_budget *b, int64_t duration_us,
                            struct report_forecast *out);

/* Extra engine figures for the summary and JSON (optional, NULL to leave out). */
struct report_extra {
    int64_t end_us;            /* when the run ended (duration + drain), µs */
    int64_t server_429[4];     /* provider 429s by limit: rpm, tpm, tpd, concurrency */
    int64_t server_503;        /* provider waiting queue full */
    int64_t server_faults;     /* injected faults of every kind: error, reset, stall, malformed */
    int64_t server_served;     /* attempts the provider finished (0: not known, e.g. live) */
    int64_t server_waited;     /* of those, how many waited for a batch slot */
    int64_t server_wait_us;    /* their total time waiting for a slot, µs */
    const struct histogram *server_wait; /* those waits, µs (NULL: not known) */
    struct report_budget budget_client, budget_server; /* TPD budgets; limit 0 = none */
    const struct report_live *live; /* a live run's own figures, else NULL */
    int64_t trace_skipped;     /* bad trace lines skipped (--skip-bad; run_stats) */
    /* [client] instances (run_instances): their counters, written when more than one */
    const struct run_instance_stats *instances; /* [n_instances] */
    int n_instances;
    enum instance_limits instance_limits;
};

/* "full", "split", "shared": instance_limits as the scenario and the JSON name it. */
const char *report_instance_limits_name(enum instance_limits l);

/* "succeeded", "failed", "rejected", "timed_out", "cancelled": an outcome's JSON key. */
const char *report_outcome_key(enum outcome o);

/* Names for report_status in JSON and messages: "2xx", "429", ..., "aborted". */
const char *report_status_name(enum report_status s);

/*
 * The human summary: a header, a block per class (and "all" when there are several:
 * outcomes, hit rates, retries, latency and TTFT quantiles, throughput, queue), the
 * exact accounting line ("accounting: N arrived = ..."), attempts, the server's view
 * (x->live: answers, send lag, server metrics instead), then one line per SLO,
 * failures first. Numbers carry human units ("1.2 s", "3.1k", "12%"); the JSON has
 * them exact.
 *
 * No line is wider than the width: COLUMNS when it is a positive integer, else the
 * terminal's when out is one, else 80; clamped to [60, 250]. Longer text breaks
 * between items; class blocks sit side by side when several fit. SGR colour (the
 * SLO verdicts) only when out is a terminal and NO_COLOR is unset or empty.
 */
void report_summary(FILE *out, const struct scenario *sc, const metrics *m,
                    const struct report_extra *x);

/* The JSON document (schema in doc/report.md). Returns 0 or -EIO. */
int report_json(FILE *out, const struct scenario *sc, const metrics *m,
                const struct report_extra *x);

/*
 * The version of the JSON report's shape, its first field ("report_version"). Bump
 * it when a field changes meaning or a merged report could no longer be computed
 * from the parts' fields (report_merge refuses other versions).
 */
#define REPORT_VERSION 1

/* One scope of a JSON report: overall or a class. */
struct report_scope {
    const char *name;               /* the class name (unused for the overall scope) */
    struct metrics_row row;         /* its figures over the whole run */
    const struct histogram *lat;    /* latency of answered requests, µs */
    const struct histogram *ttft;   /* TTFT of succeeded requests, µs */
};

/*
 * Everything a JSON report holds, whatever computed it: report_json fills it from a
 * finished run's metrics, report_merge from parsed reports. Both then write it with
 * report_json_doc, so a merged report has exactly the shape and number formatting of
 * a single run's.
 */
struct report_doc {
    const char *scenario;              /* its name */
    uint64_t seed;
    int64_t duration_us, end_us, window_us;
    struct report_scope all;           /* overall */
    const struct report_scope *classes; /* [n_classes], in scenario order */
    int n_classes;
    const struct report_extra *x;      /* server, budget, trace, live; NULL: none of them */
    bool traced;                       /* a class replays a trace: "trace.skipped" is written */
    const struct slo_result *slo;      /* [n_slo], in report_slos's order */
    int n_slo;
};

/* Write d as the JSON document (doc/report.md). x->live->itl, when set, is per class of d. */
int report_json_doc(FILE *out, const struct report_doc *d);

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
    /* When set (live with metrics_url), three more columns per row: the server's last
     * scraped running, waiting and KV-cache usage (-1 = no scrape yet or unknown). */
    const struct run_server_gauges *server;
    /* Set from the first overall row: the engine models the provider (a simulation), so
     * two more columns per row, its waiting queue's max and time-weighted mean over the
     * window (metrics_row's provider_waiting_*), before any server columns. */
    bool provider;
    int64_t provider_waiting_max; /* the current window's, from its overall row */
    double provider_waiting_mean;
};
void report_csv_init(struct report_csv *c, FILE *out, const struct scenario *sc);
void report_csv_sink(void *ctx, int cls, const struct metrics_row *row);

#endif
