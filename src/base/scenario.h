/*
 * scenario: the resolved contents of a scenario INI file — the workload mix,
 * the client limiter under test, the provider model and the live endpoint.
 *
 * These are plain configuration structs. Every module that needs settings takes
 * a pointer to its own part (client_config, server_config, class_config, ...),
 * so the limiter never sees the INI and the loader never sees the limiter.
 * All durations are int64_t µs; 0 means "unlimited" or "none" where so noted.
 * doc/scenario.md documents every key; tests/check_scenario.c checks that the
 * documentation and scenario_key() agree.
 */
#ifndef RATELAB_SCENARIO_H
#define RATELAB_SCENARIO_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define SCENARIO_MAX_CLASSES 32
#define SCENARIO_NAME_MAX 64
#define SCENARIO_TEXT_MAX 512
#define SCENARIO_MAX_HEADERS 16
#define SCENARIO_MAX_INSTANCES 1024 /* [client] instances */
#define SCENARIO_MAX_INSTANCES_TEXT "1024"

/* ---- [client] ----------------------------------------------------------- */

enum jitter_kind { JITTER_NONE, JITTER_FULL, JITTER_EQUAL, JITTER_DECORRELATED };
enum queue_full_policy { QUEUE_FULL_REJECT, QUEUE_FULL_BLOCK };
/* How classes share the queue: strict priority, strict plus aging, or weighted. */
enum priority_policy { PRIORITY_FIFO, PRIORITY_STRICT, PRIORITY_AGING, PRIORITY_WEIGHTED };
/* Head of line: the queue head blocks those behind it, or smaller ones may pass. */
enum hol_policy { HOL_BLOCK, HOL_SKIP };
/* What the client reserves before a call. */
enum token_estimate { ESTIMATE_PROMPT_PLUS_MAX, ESTIMATE_PROMPT_ONLY };
/*
 * The limits of each of several client instances (instances > 1): every instance
 * enforces the whole of them (uncoordinated pods with one config), a 1/N share of
 * them, or all share one admission state (coordinated, as through Redis).
 */
enum instance_limits { INSTANCE_LIMITS_FULL, INSTANCE_LIMITS_SPLIT, INSTANCE_LIMITS_SHARED };

struct retry_config {
    int max_attempts;          /* attempts in all, the first included; 1 = never retry */
    int64_t base_delay_us;     /* backoff before the first retry */
    int64_t max_delay_us;      /* cap on any one backoff */
    enum jitter_kind jitter;   /* randomisation of each backoff */
    bool honor_retry_after;    /* never retry before the server's Retry-After */
    double budget_ratio;       /* retries may add at most this share of first attempts (plus
                                  budget_min_retries) per budget window */
    int64_t budget_window_us;  /* the window the retry budget is measured over; 0 = no budget */
    int64_t budget_min_retries; /* retries always allowed per window on top of the ratio, so a
                                   lone request may still retry (0 with ratio 0 = no retries) */
};

/* Where the client's admission state lives ([client] backend). */
enum backend_kind { BACKEND_LOCAL, BACKEND_REDIS };
/* What a Redis-backed client does when Redis is unreachable or slower than redis_timeout. */
enum redis_failure { REDIS_FAIL_CLOSED, REDIS_FAIL_OPEN };

/* [client] backend = redis: the shared admission state (doc/redis.md). */
struct redis_config {
    char url[SCENARIO_TEXT_MAX];         /* redis://[:${VAR}@]HOST[:PORT][/DB] (base/redisurl.h) */
    char key_prefix[SCENARIO_NAME_MAX];  /* every key's prefix: one quota per prefix */
    enum redis_failure failure;          /* closed: wait (and count); open: limit / N locally */
    int64_t timeout_us;                  /* an answer later than this counts as Redis failing */
    int64_t batch;                       /* admissions reserved per round trip (>= 1) */
    int64_t lease_us;                    /* a process's slots expire this long after its last
                                            renewal (renewed every lease/3) */
};

struct client_config {
    int64_t requests_per_minute; /* RPM limit, 0 = unlimited */
    int64_t tokens_per_minute;   /* TPM limit, 0 = unlimited */
    int64_t tokens_per_day;      /* TPD limit, 0 = unlimited */
    int64_t burst_us;            /* the RPM and TPM buckets hold this much time's worth of their
                                    rate (limiter.h); 0 = one period's, the same as the 1 min
                                    default */
    int64_t max_concurrent;      /* requests in flight at once, 0 = unlimited */
    int64_t queue_capacity;      /* requests waiting in the client queue, 0 = unbounded */
    enum queue_full_policy queue_full; /* reject new arrivals, or block the producer */
    enum priority_policy priority;
    int64_t aging_us;            /* PRIORITY_AGING: a waiting request rises one level per aging_us */
    enum hol_policy head_of_line;
    enum token_estimate estimate;
    int64_t request_timeout_us;  /* arrival to final answer, 0 = none; a class may override */
    bool adaptive;               /* follow server rate-limit headers, AIMD on concurrency */
    struct retry_config retry;
    int instances;               /* client instances (pods) the arrivals are spread over, >= 1 */
    enum instance_limits instance_limits; /* how the limits above apply to them */
    enum backend_kind backend;   /* live: the in-process limiter, or Redis; sim: always local */
    struct redis_config redis;   /* backend = redis */
};

/*
 * One instance's share of a limit under INSTANCE_LIMITS_SPLIT: limit / instances,
 * rounded down (the instances together never exceed it); 0 (unlimited) stays 0.
 * The loader refuses a split that would leave an instance no unit.
 */
static inline int64_t scenario_split_limit(int64_t limit, int instances)
{
    return limit / instances;
}

/* ---- [server] ----------------------------------------------------------- */

enum enforce_kind { ENFORCE_BUCKET, ENFORCE_WINDOW };
enum header_style { HEADERS_OPENAI, HEADERS_ANTHROPIC, HEADERS_NONE };
/* The service-time model: an LLM batching server, or textbook queues for validation. */
enum service_kind { SERVICE_BATCHING, SERVICE_EXPONENTIAL, SERVICE_DETERMINISTIC };

struct server_config {
    int64_t requests_per_minute; /* provider RPM, 0 = unlimited */
    int64_t tokens_per_minute;   /* provider TPM, 0 = unlimited */
    int64_t tokens_per_day;      /* provider TPD, 0 = unlimited */
    int64_t burst_us;            /* ENFORCE_BUCKET: the RPM and TPM buckets hold this much time's
                                    worth of their rate; 0 = one period's, as the 1 min default */
    int64_t max_concurrent;      /* provider concurrency limit (429 above it), 0 = unlimited */
    enum enforce_kind enforce;   /* continuously refilled bucket, or fixed windows */
    enum header_style headers;   /* rate-limit headers on answers and 429s */
    int64_t max_running;         /* sequences decoded at once (the batch), 0 = unlimited */
    int64_t max_waiting;         /* server waiting queue bound (503 above it), 0 = unbounded */
    enum service_kind service;
    int64_t ttft_base_us;        /* fixed part of time to first token */
    double prefill_us_per_token; /* added to TTFT per prompt token, µs */
    double decode_us_per_token;  /* per output token with a batch of one, µs */
    double decode_batch_slope;   /* decode time grows by this share per extra running sequence */
    int64_t service_mean_us;     /* SERVICE_EXPONENTIAL / SERVICE_DETERMINISTIC: mean service */
    double error_rate;           /* share of requests answered 500/503 */
    double timeout_rate;         /* share that stall and never answer */
    double reset_rate;           /* share whose connection is reset */
    double malformed_rate;       /* share answered 200 with a malformed body */
    int64_t stall_us;            /* how long a stalled request hangs before the connection drops */
};

/* ---- [class.NAME] ------------------------------------------------------- */

enum arrival_kind {
    ARRIVAL_POISSON,  /* rate */
    ARRIVAL_CONSTANT, /* rate */
    ARRIVAL_GAMMA,    /* rate, burstiness (squared coefficient of variation of gaps) */
    ARRIVAL_BURST,    /* count requests all at time at */
    ARRIVAL_RAMP,     /* Poisson, rate moving linearly from..to over a duration, then to */
    ARRIVAL_ONOFF,    /* Poisson at rate during on, silent during off, repeating */
    ARRIVAL_CLOSED,   /* users, each sends, waits for the answer, thinks, sends again */
    ARRIVAL_TRACE,    /* replay the arrivals (and token counts) of a trace file (run/trace.h) */
};

struct arrival_config {
    enum arrival_kind kind;
    double rate_per_s;    /* poisson, constant, gamma, onoff (while on) */
    double burstiness;    /* gamma: CV² of the gaps; 1 = Poisson, >1 burstier */
    int64_t at_us;        /* burst: when */
    int64_t count;        /* burst: how many */
    double from_per_s;    /* ramp: start rate */
    double to_per_s;      /* ramp: end rate */
    int64_t over_us;      /* ramp: ramp length */
    int64_t on_us;        /* onoff: on period */
    int64_t off_us;       /* onoff: off period */
    int64_t users;        /* closed: number of users */
    int64_t think_us;     /* closed: mean think time (exponential) */
    char trace_path[SCENARIO_TEXT_MAX]; /* trace: the file, resolved (absolute when it
                                           resolves); its lines are checked at run start */
};

enum dist_kind { DIST_CONST, DIST_UNIFORM, DIST_NORMAL, DIST_LOGNORMAL, DIST_EMPIRICAL };

/* A distribution of token counts; draws are rounded and clamped to at least 1. */
struct dist_config {
    enum dist_kind kind;
    double a;             /* const: value; uniform: low; normal: mean; lognormal: median */
    double b;             /* uniform: high; normal: stddev; lognormal: sigma */
    char path[SCENARIO_TEXT_MAX]; /* empirical: file as written in the scenario */
    int64_t *values;      /* empirical: the samples, owned by the scenario */
    int64_t n_values;
};

struct class_config {
    char name[SCENARIO_NAME_MAX];
    struct arrival_config arrival;
    struct dist_config prompt_tokens;
    struct dist_config completion_tokens; /* actual output, clipped to max_tokens */
    int64_t max_tokens;          /* max_tokens sent with each request */
    int priority;                /* 0 = most urgent .. 9 */
    int weight;                  /* PRIORITY_WEIGHTED: share of sends, >= 1 */
    int64_t timeout_us;          /* 0 = the client's request_timeout */
    int64_t slo_p95_us;          /* 0 = no SLO */
    char prompts_path[SCENARIO_TEXT_MAX]; /* live: JSONL prompts file, resolved (absolute when
                                             it resolves); "" = synthetic prompts */
    char trace_columns[SCENARIO_TEXT_MAX]; /* arrival = trace: "time=COL,prompt=COL,..."
                                              ("" = the defaults, run/trace.h) */
    char trace_start[SCENARIO_NAME_MAX]; /* arrival = trace: the trace's time 0 as written
                                            (seconds, epoch ms, RFC 3339); "" = first line */
    int line;                    /* line of the section header, for messages */
};

/* ---- [live] ------------------------------------------------------------- */

struct live_config {
    char base_url[SCENARIO_TEXT_MAX];
    char api_path[SCENARIO_TEXT_MAX];
    char model[SCENARIO_TEXT_MAX];
    char api_key_env[SCENARIO_NAME_MAX]; /* name of the variable; the key is never stored */
    bool stream;
    char headers[SCENARIO_MAX_HEADERS][SCENARIO_TEXT_MAX]; /* "Name: value" */
    int n_headers;
    bool verify_tls;
    int64_t connect_timeout_us;
    int64_t timeout_us;
    char metrics_url[SCENARIO_TEXT_MAX]; /* "" = none */
};

/* ---- [scenario] --------------------------------------------------------- */

enum end_policy { END_DRAIN, END_CANCEL };

struct scenario {
    char name[SCENARIO_NAME_MAX];
    char description[SCENARIO_TEXT_MAX];
    char path[SCENARIO_TEXT_MAX]; /* the file it came from */
    int64_t duration_us;          /* how long arrivals run */
    uint64_t seed;
    int64_t window_us;            /* time-series window */
    enum end_policy at_end;       /* after duration: drain in-flight work, or cancel it */
    int64_t drain_limit_us;       /* END_DRAIN: give up and cancel after this long, 0 = never */
    int64_t slo_p95_us;           /* overall p95 SLO, 0 = none */
    bool slo_zero_lost;           /* SLO: no request failed, rejected or timed out */
    double slo_max_429_share;     /* SLO: at most this share of arrivals saw a 429; <0 = none */
    struct client_config client;
    struct server_config server;
    struct class_config classes[SCENARIO_MAX_CLASSES];
    int n_classes;
    struct live_config live;
    bool trace_skip_bad;          /* not a key: --skip-bad, set after loading; bad trace lines
                                     are skipped and counted instead of failing the run */
};

/* Where a load or override failed: "FILE:LINE: message" is printed from these. */
struct scenario_error {
    char file[SCENARIO_TEXT_MAX];
    int line;                     /* 0 when no line applies */
    char msg[SCENARIO_TEXT_MAX];
};

/* Fill every field with its documented default (no classes). */
void scenario_defaults(struct scenario *sc);

/*
 * Load a scenario file on top of the defaults, apply overrides ("section.key=value",
 * validated exactly like the file), then check the whole. Returns 0, or -EINVAL with
 * *err filled. The scenario owns memory (empirical samples): release it with
 * scenario_fini() on success and on failure.
 */
int scenario_load(struct scenario *sc, const char *path, const char *const *overrides,
                  int n_overrides, struct scenario_error *err);

/* What a scenario is loaded for: what the loader insists on. */
enum scenario_use {
    SCENARIO_FOR_RUN,   /* a run: at least one [class.NAME] with an arrival process */
    SCENARIO_FOR_SERVE, /* the mock server: classes are optional (with them, a request's
                           completion length is drawn from its class; doc/mock.md) */
};

/*
 * scenario_load() for a use. path NULL loads no file: the defaults with the
 * overrides applied, and err->file is then "" unless an override failed (it
 * names the "--set ..." then), so messages speak only of what the user wrote.
 */
int scenario_load_for(struct scenario *sc, enum scenario_use use, const char *path,
                      const char *const *overrides, int n_overrides, struct scenario_error *err);

/* Same as scenario_load, from a string; name is used for messages. */
int scenario_load_string(struct scenario *sc, const char *name, const char *text,
                         const char *const *overrides, int n_overrides,
                         struct scenario_error *err);

void scenario_fini(struct scenario *sc);

/* Write the fully resolved scenario as INI that loads back to the same thing. */
void scenario_write(const struct scenario *sc, FILE *out);

/* The class's effective timeout (its own, else the client's), 0 = none. */
int64_t scenario_class_timeout_us(const struct scenario *sc, int class_index);

/*
 * The keys the loader accepts, by index from 0: returns the key's name and sets
 * *section ("scenario", "client", "server", "class" or "live"); NULL past the end.
 */
const char *scenario_key(int i, const char **section);

#endif
