#include "config.h"

#include "scenario.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "redisurl.h"
#include "util.h"

void scenario_defaults(struct scenario *sc)
{
    memset(sc, 0, sizeof *sc);
    snprintf(sc->name, sizeof sc->name, "unnamed");
    sc->duration_us = 10 * US_PER_MIN;
    sc->seed = 1;
    sc->window_us = US_PER_S;
    sc->at_end = END_DRAIN;
    sc->drain_limit_us = 10 * US_PER_MIN;
    sc->slo_max_429_share = -1;

    struct client_config *c = &sc->client;
    c->burst_us = US_PER_MIN;
    c->queue_capacity = 10000;
    c->queue_full = QUEUE_FULL_REJECT;
    c->priority = PRIORITY_AGING;
    c->aging_us = 10 * US_PER_S;
    c->head_of_line = HOL_BLOCK;
    c->estimate = ESTIMATE_PROMPT_PLUS_MAX;
    c->request_timeout_us = 10 * US_PER_MIN;
    c->retry.max_attempts = 5;
    c->retry.base_delay_us = 500 * US_PER_MS;
    c->retry.max_delay_us = 60 * US_PER_S;
    c->retry.jitter = JITTER_FULL;
    c->retry.honor_retry_after = true;
    c->retry.budget_ratio = 0.2;
    c->retry.budget_window_us = 60 * US_PER_S;
    c->retry.budget_min_retries = 10;
    c->instances = 1;
    c->instance_limits = INSTANCE_LIMITS_FULL;
    c->backend = BACKEND_LOCAL;
    snprintf(c->redis.url, sizeof c->redis.url, "redis://127.0.0.1:6379/0");
    snprintf(c->redis.key_prefix, sizeof c->redis.key_prefix, "ratelab:");
    c->redis.failure = REDIS_FAIL_CLOSED;
    c->redis.timeout_us = 250 * US_PER_MS;
    c->redis.batch = 1;
    c->redis.lease_us = 10 * US_PER_S;

    struct server_config *s = &sc->server;
    s->burst_us = US_PER_MIN;
    s->enforce = ENFORCE_BUCKET;
    s->headers = HEADERS_OPENAI;
    s->max_running = 256;
    s->service = SERVICE_BATCHING;
    s->ttft_base_us = 150 * US_PER_MS;
    s->prefill_us_per_token = 100;
    s->decode_us_per_token = 20 * US_PER_MS;
    s->decode_batch_slope = 0.01;
    s->service_mean_us = US_PER_S;
    s->stall_us = 5 * US_PER_MIN;

    struct live_config *l = &sc->live;
    snprintf(l->base_url, sizeof l->base_url, "http://127.0.0.1:8000");
    snprintf(l->api_path, sizeof l->api_path, "/v1/chat/completions");
    snprintf(l->model, sizeof l->model, "default");
    snprintf(l->api_key_env, sizeof l->api_key_env, "OPENAI_API_KEY");
    l->verify_tls = true;
    l->connect_timeout_us = 10 * US_PER_S;
    l->timeout_us = 10 * US_PER_MIN;
}

void scenario_fini(struct scenario *sc)
{
    for (int i = 0; i < SCENARIO_MAX_CLASSES; i++) {
        free(sc->classes[i].prompt_tokens.values);
        free(sc->classes[i].completion_tokens.values);
        sc->classes[i].prompt_tokens.values = NULL;
        sc->classes[i].completion_tokens.values = NULL;
    }
}

int64_t scenario_class_timeout_us(const struct scenario *sc, int class_index)
{
    const struct class_config *cl = &sc->classes[class_index];
    return cl->timeout_us ? cl->timeout_us : sc->client.request_timeout_us;
}

/* ---- the key table ------------------------------------------------------ */

enum section_kind { SEC_SCENARIO, SEC_CLIENT, SEC_SERVER, SEC_CLASS, SEC_LIVE, SEC_COUNT };

static const char *const section_names[SEC_COUNT] = {"scenario", "client", "server", "class",
                                                      "live"};

enum key_type {
    K_STRING,   /* char[size] */
    K_DURATION, /* int64_t µs */
    K_DURATION_D, /* double µs, written as a duration */
    K_COUNT,    /* int64_t, "unlimited" = 0 where zero_ok */
    K_INT,      /* int within [min, max] */
    K_SEED,     /* uint64_t */
    K_DOUBLE,   /* double >= 0 */
    K_SHARE,    /* double in [0, 1], "none" = -1 where none_ok */
    K_BOOL,     /* bool */
    K_ENUM,     /* int enum by name */
    K_ARRIVAL,  /* struct arrival_config */
    K_DIST,     /* struct dist_config */
    K_HEADER,   /* one more live header, repeatable */
    K_PATH,     /* char[size]: a readable file, relative to the scenario's folder, kept resolved */
};

struct key_def {
    enum section_kind sec;
    const char *name;
    enum key_type type;
    size_t off;                /* offset in the section's struct */
    size_t size;               /* K_STRING: buffer size */
    int64_t min;               /* smallest allowed (K_COUNT, K_INT, K_DURATION) */
    int64_t max;               /* K_INT: largest allowed; K_COUNT, K_DURATION: largest, 0 = none */
    const char *const *names;  /* K_ENUM: names in enum order, NULL-terminated */
    const char *expect;        /* what a valid value looks like, for messages */
};

static const char *const end_names[] = {"drain", "cancel", NULL};
static const char *const queue_full_names[] = {"reject", "block", NULL};
static const char *const priority_names[] = {"fifo", "strict", "aging", "weighted", NULL};
static const char *const hol_names[] = {"block", "skip", NULL};
static const char *const estimate_names[] = {"prompt+max_tokens", "prompt", NULL};
static const char *const jitter_names[] = {"none", "full", "equal", "decorrelated", NULL};
static const char *const enforce_names[] = {"bucket", "window", NULL};
static const char *const header_names[] = {"openai", "anthropic", "none", NULL};
static const char *const service_names[] = {"batching", "exponential", "deterministic", NULL};
static const char *const instance_limits_names[] = {"full", "split", "shared", NULL};
static const char *const backend_names[] = {"local", "redis", NULL};
static const char *const redis_failure_names[] = {"closed", "open", NULL};

#define SO(f) offsetof(struct scenario, f)
#define CO(f) offsetof(struct client_config, f)
#define VO(f) offsetof(struct server_config, f)
#define LO(f) offsetof(struct class_config, f)
#define IO(f) offsetof(struct live_config, f)
#define STR(sec, name, off, size) {sec, name, K_STRING, off, size, 0, 0, NULL, "text"}
#define DUR(sec, name, off, min) {sec, name, K_DURATION, off, 0, min, 0, NULL, \
    (min) ? "a positive duration such as 250ms, 30s, 5m, 1h" : "a duration such as 250ms, 30s, 5m, 1h, or 0"}
#define CNT(sec, name, off, min) {sec, name, K_COUNT, off, 0, min, 0, NULL, \
    (min) ? "a positive whole number" : "a whole number, 0 or 'unlimited' for no limit"}
#define ENUM(sec, name, off, names) {sec, name, K_ENUM, off, 0, 0, 0, names, NULL}
#define SHARE(sec, name, off) {sec, name, K_SHARE, off, 0, 0, 0, NULL, "a share such as 0.05 or 5%"}
#define BOOL(sec, name, off) {sec, name, K_BOOL, off, 0, 0, 0, NULL, "yes or no"}
/* At most the longest period a bucket refills over (a day). */
#define BURST(sec, off) {sec, "burst", K_DURATION, off, 0, 1, US_PER_DAY, NULL, \
    "a positive duration of at most 1d such as 1s or 1m"}

static const struct key_def keys[] = {
    STR(SEC_SCENARIO, "name", SO(name), SCENARIO_NAME_MAX),
    STR(SEC_SCENARIO, "description", SO(description), SCENARIO_TEXT_MAX),
    DUR(SEC_SCENARIO, "duration", SO(duration_us), 1),
    {SEC_SCENARIO, "seed", K_SEED, SO(seed), 0, 0, 0, NULL, "a non-negative whole number"},
    DUR(SEC_SCENARIO, "window", SO(window_us), 1000),
    ENUM(SEC_SCENARIO, "at_end", SO(at_end), end_names),
    DUR(SEC_SCENARIO, "drain_limit", SO(drain_limit_us), 0),
    DUR(SEC_SCENARIO, "slo_p95", SO(slo_p95_us), 0),
    BOOL(SEC_SCENARIO, "slo_zero_lost", SO(slo_zero_lost)),
    {SEC_SCENARIO, "slo_max_429_share", K_SHARE, SO(slo_max_429_share), 0, -1, 0, NULL,
     "a share such as 0.05 or 5%, or 'none'"},

    CNT(SEC_CLIENT, "requests_per_minute", CO(requests_per_minute), 0),
    CNT(SEC_CLIENT, "tokens_per_minute", CO(tokens_per_minute), 0),
    CNT(SEC_CLIENT, "tokens_per_day", CO(tokens_per_day), 0),
    BURST(SEC_CLIENT, CO(burst_us)),
    CNT(SEC_CLIENT, "max_concurrent", CO(max_concurrent), 0),
    CNT(SEC_CLIENT, "queue_capacity", CO(queue_capacity), 0),
    ENUM(SEC_CLIENT, "queue_full", CO(queue_full), queue_full_names),
    ENUM(SEC_CLIENT, "priority", CO(priority), priority_names),
    DUR(SEC_CLIENT, "aging", CO(aging_us), 1),
    ENUM(SEC_CLIENT, "head_of_line", CO(head_of_line), hol_names),
    ENUM(SEC_CLIENT, "token_estimate", CO(estimate), estimate_names),
    DUR(SEC_CLIENT, "request_timeout", CO(request_timeout_us), 0),
    BOOL(SEC_CLIENT, "adaptive", CO(adaptive)),
    {SEC_CLIENT, "retry_max_attempts", K_INT, CO(retry.max_attempts), 0, 1, 1000, NULL,
     "a whole number from 1 (no retries) to 1000"},
    DUR(SEC_CLIENT, "retry_base_delay", CO(retry.base_delay_us), 0),
    DUR(SEC_CLIENT, "retry_max_delay", CO(retry.max_delay_us), 0),
    ENUM(SEC_CLIENT, "retry_jitter", CO(retry.jitter), jitter_names),
    BOOL(SEC_CLIENT, "retry_honor_retry_after", CO(retry.honor_retry_after)),
    SHARE(SEC_CLIENT, "retry_budget", CO(retry.budget_ratio)),
    DUR(SEC_CLIENT, "retry_budget_window", CO(retry.budget_window_us), 0),
    CNT(SEC_CLIENT, "retry_budget_min", CO(retry.budget_min_retries), 0),
    {SEC_CLIENT, "instances", K_INT, CO(instances), 0, 1, SCENARIO_MAX_INSTANCES, NULL,
     "a whole number of client instances from 1 to " SCENARIO_MAX_INSTANCES_TEXT},
    ENUM(SEC_CLIENT, "instance_limits", CO(instance_limits), instance_limits_names),
    ENUM(SEC_CLIENT, "backend", CO(backend), backend_names),
    {SEC_CLIENT, "redis_url", K_STRING, CO(redis.url), SCENARIO_TEXT_MAX, 0, 0, NULL,
     "redis://[:${PASSWORD_VAR}@]HOST[:PORT][/DB]"},
    {SEC_CLIENT, "redis_key_prefix", K_STRING, CO(redis.key_prefix), SCENARIO_NAME_MAX, 0, 0,
     NULL, "text such as ratelab:org1:"},
    ENUM(SEC_CLIENT, "redis_failure", CO(redis.failure), redis_failure_names),
    DUR(SEC_CLIENT, "redis_timeout", CO(redis.timeout_us), 1000),
    {SEC_CLIENT, "redis_batch", K_COUNT, CO(redis.batch), 0, 1, 1000, NULL,
     "a whole number from 1 (one admission per round trip) to 1000"},
    DUR(SEC_CLIENT, "redis_lease", CO(redis.lease_us), 100000),

    CNT(SEC_SERVER, "requests_per_minute", VO(requests_per_minute), 0),
    CNT(SEC_SERVER, "tokens_per_minute", VO(tokens_per_minute), 0),
    CNT(SEC_SERVER, "tokens_per_day", VO(tokens_per_day), 0),
    BURST(SEC_SERVER, VO(burst_us)),
    CNT(SEC_SERVER, "max_concurrent", VO(max_concurrent), 0),
    ENUM(SEC_SERVER, "enforce", VO(enforce), enforce_names),
    ENUM(SEC_SERVER, "headers", VO(headers), header_names),
    CNT(SEC_SERVER, "max_running", VO(max_running), 0),
    CNT(SEC_SERVER, "max_waiting", VO(max_waiting), 0),
    ENUM(SEC_SERVER, "service", VO(service), service_names),
    DUR(SEC_SERVER, "ttft", VO(ttft_base_us), 0),
    {SEC_SERVER, "prefill_per_token", K_DURATION_D, VO(prefill_us_per_token), 0, 0, 0, NULL,
     "a duration such as 100us or 0.2ms"},
    {SEC_SERVER, "decode_per_token", K_DURATION_D, VO(decode_us_per_token), 0, 0, 0, NULL,
     "a duration such as 20ms"},
    {SEC_SERVER, "decode_batch_slope", K_DOUBLE, VO(decode_batch_slope), 0, 0, 0, NULL,
     "a non-negative number such as 0.01"},
    DUR(SEC_SERVER, "service_mean", VO(service_mean_us), 1),
    SHARE(SEC_SERVER, "error_rate", VO(error_rate)),
    SHARE(SEC_SERVER, "timeout_rate", VO(timeout_rate)),
    SHARE(SEC_SERVER, "reset_rate", VO(reset_rate)),
    SHARE(SEC_SERVER, "malformed_rate", VO(malformed_rate)),
    DUR(SEC_SERVER, "stall", VO(stall_us), 1),

    {SEC_CLASS, "arrival", K_ARRIVAL, LO(arrival), 0, 0, 0, NULL,
     "poisson RATE | constant RATE | gamma RATE BURSTINESS | burst AT COUNT | "
     "ramp FROM TO OVER | onoff RATE ON OFF | closed USERS THINK | trace FILE"},
    {SEC_CLASS, "prompt_tokens", K_DIST, LO(prompt_tokens), 0, 0, 0, NULL, NULL},
    {SEC_CLASS, "completion_tokens", K_DIST, LO(completion_tokens), 0, 0, 0, NULL, NULL},
    CNT(SEC_CLASS, "max_tokens", LO(max_tokens), 1),
    {SEC_CLASS, "priority", K_INT, LO(priority), 0, 0, 9, NULL,
     "a whole number from 0 (most urgent) to 9"},
    {SEC_CLASS, "weight", K_INT, LO(weight), 0, 1, 1000000, NULL, "a whole number from 1"},
    DUR(SEC_CLASS, "timeout", LO(timeout_us), 0),
    DUR(SEC_CLASS, "slo_p95", LO(slo_p95_us), 0),
    {SEC_CLASS, "prompts", K_PATH, LO(prompts_path), SCENARIO_TEXT_MAX, 0, 0, NULL,
     "a JSONL file of messages arrays"},
    {SEC_CLASS, "trace_columns", K_STRING, LO(trace_columns), SCENARIO_TEXT_MAX, 0, 0, NULL,
     "time=COL,prompt=COL,completion=COL,class=COL"},
    {SEC_CLASS, "trace_start", K_STRING, LO(trace_start), SCENARIO_NAME_MAX, 0, 0, NULL,
     "seconds, epoch milliseconds or an RFC 3339 time"},

    STR(SEC_LIVE, "base_url", IO(base_url), SCENARIO_TEXT_MAX),
    STR(SEC_LIVE, "api_path", IO(api_path), SCENARIO_TEXT_MAX),
    STR(SEC_LIVE, "model", IO(model), SCENARIO_TEXT_MAX),
    STR(SEC_LIVE, "api_key_env", IO(api_key_env), SCENARIO_NAME_MAX),
    BOOL(SEC_LIVE, "stream", IO(stream)),
    {SEC_LIVE, "header", K_HEADER, IO(headers), 0, 0, 0, NULL, "Name: value"},
    BOOL(SEC_LIVE, "verify_tls", IO(verify_tls)),
    DUR(SEC_LIVE, "connect_timeout", IO(connect_timeout_us), 1),
    DUR(SEC_LIVE, "timeout", IO(timeout_us), 1),
    STR(SEC_LIVE, "metrics_url", IO(metrics_url), SCENARIO_TEXT_MAX),
};

#define N_KEYS (sizeof keys / sizeof keys[0])

const char *scenario_key(int i, const char **section)
{
    if (i < 0 || (size_t)i >= N_KEYS)
        return NULL;
    *section = section_names[keys[i].sec];
    return keys[i].name;
}

/* ---- loading ------------------------------------------------------------ */

#define MAX_SECTIONS (SCENARIO_MAX_CLASSES + 8)

/* Where each key was set, so cross-checks can name the right line. */
struct key_site {
    int key;   /* index in keys[] */
    int cls;   /* class index, or -1 */
    int line;
};

struct loader {
    struct scenario *sc;
    struct scenario_error *err;
    const char *file;       /* name for messages */
    char dir[SCENARIO_TEXT_MAX]; /* directory of the file, for empirical paths */
    /* reader state */
    const char *text;       /* remaining input */
    int line;               /* line number of the line last handed to inih */
    int sec_line;           /* line of the last section header read */
    char ovname[SCENARIO_TEXT_MAX]; /* "--set ..." while applying an override */
    /* sections seen, in order, with their header lines */
    char sec_names[MAX_SECTIONS][SCENARIO_NAME_MAX + 8];
    int sec_lines[MAX_SECTIONS];
    int n_sec;
    struct key_site sites[512];
    int n_sites;
    bool classes_optional;  /* SCENARIO_FOR_SERVE: no [class.NAME] is fine */
    bool failed;
};

static bool fail(struct loader *ld, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static bool fail(struct loader *ld, int line, const char *fmt, ...)
{
    if (ld->failed)
        return false; /* keep the first error: later ones are often its echoes */
    ld->failed = true;
    snprintf(ld->err->file, sizeof ld->err->file, "%s", ld->file);
    ld->err->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ld->err->msg, sizeof ld->err->msg, fmt, ap);
    va_end(ap);
    return false;
}

/*
 * fgets-style reader for inih. It counts lines (inih's handler has no line
 * numbers in Debian's build), strips leading space (so no line is taken as a
 * multi-line continuation), drops " #" comments, notes section headers and
 * refuses lines longer than inih's buffer instead of letting them split.
 */
static char *reader(char *str, int num, void *stream)
{
    struct loader *ld = stream;
    if (!ld->text || !*ld->text)
        return NULL;
    const char *end = strchr(ld->text, '\n');
    size_t len = end ? (size_t)(end - ld->text) : strlen(ld->text);
    ld->line++;
    const char *p = ld->text;
    ld->text = end ? end + 1 : p + len;
    while (len > 0 && (*p == ' ' || *p == '\t'))
        p++, len--;
    if (len >= (size_t)num - 1) {
        fail(ld, ld->line, "line too long (at most %d characters)", num - 2);
        len = 0;
    }
    memcpy(str, p, len);
    str[len] = '\0';
    /* A '#' after white space starts a comment, as ';' does for inih. */
    for (char *c = str; *c; c++) {
        if (*c == '#' && c > str && (c[-1] == ' ' || c[-1] == '\t')) {
            *c = '\0';
            break;
        }
    }
    char *t = str_trim(str);
    if (*t == '[' && ld->n_sec < MAX_SECTIONS) {
        char *close = strchr(t, ']');
        size_t n = close ? (size_t)(close - t - 1) : strlen(t + 1);
        if (n >= sizeof ld->sec_names[0])
            n = sizeof ld->sec_names[0] - 1;
        memcpy(ld->sec_names[ld->n_sec], t + 1, n);
        ld->sec_names[ld->n_sec][n] = '\0';
        str_trim(ld->sec_names[ld->n_sec]);
        ld->sec_lines[ld->n_sec++] = ld->line;
        ld->sec_line = ld->line;
    }
    memmove(str, t, strlen(t) + 1);
    size_t l = strlen(str);
    str[l] = '\n';
    str[l + 1] = '\0';
    return str;
}

static const char *closest(const char *word, const char *const *cands, int n)
{
    const char *best = NULL;
    int best_d = 3; /* suggest only near misses */
    for (int i = 0; i < n; i++) {
        int d = edit_distance(word, cands[i]);
        if (d < best_d) {
            best_d = d;
            best = cands[i];
        }
    }
    return best;
}

static int find_key(enum section_kind sec, const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].sec == sec && strcmp(keys[i].name, name) == 0)
            return (int)i;
    return -1;
}

static bool unknown_key(struct loader *ld, int line, enum section_kind sec, const char *name)
{
    const char *cands[64];
    int n = 0;
    for (size_t i = 0; i < N_KEYS && n < 64; i++)
        if (keys[i].sec == sec)
            cands[n++] = keys[i].name;
    const char *near = closest(name, cands, n);
    if (near)
        return fail(ld, line, "unknown key '%s' in [%s]%s (did you mean '%s'?)", name,
                    section_names[sec], sec == SEC_CLASS ? " sections" : "", near);
    return fail(ld, line, "unknown key '%s' in [%s]%s (see doc/scenario.md for the keys)", name,
                section_names[sec], sec == SEC_CLASS ? " sections" : "");
}

static bool valid_class_name(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return false;
    return true;
}

/* Resolve a section name to its kind and, for classes, its index (creating it). */
static bool resolve_section(struct loader *ld, int line, const char *section,
                            enum section_kind *sec, int *cls)
{
    *cls = -1;
    if (strncmp(section, "class.", 6) == 0) {
        const char *name = section + 6;
        if (!valid_class_name(name) || strlen(name) >= SCENARIO_NAME_MAX)
            return fail(ld, line,
                        "bad class name '%s' (expected [class.NAME] with letters, digits, _ "
                        "or -, at most %d characters)", name, SCENARIO_NAME_MAX - 1);
        struct scenario *sc = ld->sc;
        for (int i = 0; i < sc->n_classes; i++)
            if (strcmp(sc->classes[i].name, name) == 0)
                *cls = i;
        if (*cls < 0) {
            if (sc->n_classes >= SCENARIO_MAX_CLASSES)
                return fail(ld, line, "too many classes (at most %d)", SCENARIO_MAX_CLASSES);
            *cls = sc->n_classes++;
            struct class_config *c = &sc->classes[*cls];
            snprintf(c->name, sizeof c->name, "%s", name);
            c->arrival.kind = ARRIVAL_POISSON;
            c->arrival.rate_per_s = -1; /* "not set": arrival is required */
            c->prompt_tokens.kind = DIST_CONST;
            c->prompt_tokens.a = 500;
            c->completion_tokens.kind = DIST_CONST;
            c->completion_tokens.a = 200;
            c->max_tokens = 1024;
            c->priority = 5;
            c->weight = 1;
            c->line = line;
        }
        *sec = SEC_CLASS;
        return true;
    }
    for (int i = 0; i < SEC_COUNT; i++) {
        if (i != SEC_CLASS && strcmp(section, section_names[i]) == 0) {
            *sec = (enum section_kind)i;
            return true;
        }
    }
    if (strcmp(section, "class") == 0)
        return fail(ld, line, "a class section needs a name (expected [class.NAME])");
    static const char *const known[] = {"scenario", "client", "server", "live", "class.NAME"};
    const char *near = closest(section, known, 5);
    if (near)
        return fail(ld, line, "unknown section [%s] (did you mean [%s]?)", section, near);
    return fail(ld, line,
                "unknown section [%s] (expected [scenario], [client], [server], "
                "[class.NAME] or [live])", section);
}

static void *field(struct scenario *sc, const struct key_def *k, int cls)
{
    char *base;
    switch (k->sec) {
    case SEC_SCENARIO: base = (char *)sc; break;
    case SEC_CLIENT: base = (char *)&sc->client; break;
    case SEC_SERVER: base = (char *)&sc->server; break;
    case SEC_CLASS: base = (char *)&sc->classes[cls]; break;
    default: base = (char *)&sc->live; break;
    }
    return base + k->off;
}

/* Split value into at most max white-space separated words (in buf). */
static int split_words(char *buf, char **words, int max)
{
    int n = 0;
    for (char *t = strtok(buf, " \t"); t; t = strtok(NULL, " \t")) {
        if (n == max)
            return max + 1;
        words[n++] = t;
    }
    return n;
}

static bool bad_value(struct loader *ld, int line, const char *key, const char *value,
                      const char *expect)
{
    return fail(ld, line, "%s: bad value '%s' (expected %s)", key, value, expect);
}

static void resolve_path(const struct loader *ld, const char *path, char *full, size_t n);

static bool parse_arrival(struct loader *ld, int line, const char *value,
                          struct arrival_config *a)
{
    const char *expect = keys[find_key(SEC_CLASS, "arrival")].expect;
    char buf[SCENARIO_TEXT_MAX];
    snprintf(buf, sizeof buf, "%s", value);
    char *w[5];
    int n = split_words(buf, w, 4);
    if (n == 0)
        return bad_value(ld, line, "arrival", value, expect);
    struct arrival_config r = {0};
    const char *kind = w[0];
    int want;
    if (strcmp(kind, "poisson") == 0 || strcmp(kind, "constant") == 0) {
        r.kind = kind[0] == 'p' ? ARRIVAL_POISSON : ARRIVAL_CONSTANT;
        want = 2;
    } else if (strcmp(kind, "gamma") == 0) {
        r.kind = ARRIVAL_GAMMA;
        want = 3;
    } else if (strcmp(kind, "burst") == 0) {
        r.kind = ARRIVAL_BURST;
        want = 3;
    } else if (strcmp(kind, "ramp") == 0) {
        r.kind = ARRIVAL_RAMP;
        want = 4;
    } else if (strcmp(kind, "onoff") == 0) {
        r.kind = ARRIVAL_ONOFF;
        want = 4;
    } else if (strcmp(kind, "closed") == 0) {
        r.kind = ARRIVAL_CLOSED;
        want = 3;
    } else if (strcmp(kind, "trace") == 0) {
        r.kind = ARRIVAL_TRACE;
        want = 2;
    } else {
        return fail(ld, line, "arrival: unknown process '%s' (expected %s)", kind, expect);
    }
    if (n != want)
        return fail(ld, line, "arrival: '%s' takes %d value%s, got %d (expected %s)", kind,
                    want - 1, want == 2 ? "" : "s", n - 1, expect);
#define RATE(i, dst, what)                                                                  \
    do {                                                                                    \
        if (parse_rate_per_s(w[i], &(dst)) < 0 || (dst) <= 0)                               \
            return fail(ld, line, "arrival: bad %s '%s' (expected a positive rate such as " \
                        "20/s or 600/m)", what, w[i]);                                      \
    } while (0)
#define DURA(i, dst, what, min)                                                             \
    do {                                                                                    \
        if (parse_duration_us(w[i], &(dst)) < 0 || (dst) < (min))                           \
            return fail(ld, line, "arrival: bad %s '%s' (expected %s duration such as "     \
                        "30s or 5m)", what, w[i], (min) ? "a positive" : "a");              \
    } while (0)
    switch (r.kind) {
    case ARRIVAL_POISSON:
    case ARRIVAL_CONSTANT:
        RATE(1, r.rate_per_s, "rate");
        break;
    case ARRIVAL_GAMMA:
        RATE(1, r.rate_per_s, "rate");
        if (parse_double(w[2], &r.burstiness) < 0 || r.burstiness <= 0)
            return fail(ld, line, "arrival: bad burstiness '%s' (expected a positive number; "
                        "1 is Poisson, 4 is bursty)", w[2]);
        break;
    case ARRIVAL_BURST:
        DURA(1, r.at_us, "time", 0);
        if (parse_count(w[2], &r.count) < 0 || r.count <= 0)
            return fail(ld, line, "arrival: bad burst count '%s' (expected a positive whole "
                        "number)", w[2]);
        break;
    case ARRIVAL_RAMP:
        if (parse_rate_per_s(w[1], &r.from_per_s) < 0)
            return fail(ld, line, "arrival: bad start rate '%s' (expected a rate such as 0/s "
                        "or 20/s)", w[1]);
        /* Either end may be 0 (a ramp up from or down to silence), not both. */
        if (parse_rate_per_s(w[2], &r.to_per_s) < 0)
            return fail(ld, line, "arrival: bad end rate '%s' (expected a rate such as 0/s "
                        "or 20/s)", w[2]);
        if (r.from_per_s <= 0 && r.to_per_s <= 0)
            return fail(ld, line, "arrival: a ramp from 0 to 0 sends nothing (one end must "
                        "be above 0)");
        DURA(3, r.over_us, "ramp length", 1);
        break;
    case ARRIVAL_ONOFF:
        RATE(1, r.rate_per_s, "rate");
        DURA(2, r.on_us, "on period", 1);
        DURA(3, r.off_us, "off period", 0);
        break;
    case ARRIVAL_CLOSED:
        if (parse_count(w[1], &r.users) < 0 || r.users <= 0 || r.users > 1000000)
            return fail(ld, line, "arrival: bad user count '%s' (expected a whole number from "
                        "1 to 1000000)", w[1]);
        DURA(2, r.think_us, "think time", 0);
        break;
    case ARRIVAL_TRACE: {
        /* Readable now; its lines are checked in one pass when a run starts (run/trace.h). */
        char full[2 * SCENARIO_TEXT_MAX];
        resolve_path(ld, w[1], full, sizeof full);
        FILE *f = fopen(full, "r");
        if (f && getc(f) == EOF && ferror(f)) { /* a directory opens, but does not read */
            fclose(f);
            f = NULL;
            errno = EISDIR;
        }
        if (!f)
            return fail(ld, line, "arrival: cannot read trace %s: %s (expected a JSONL or CSV "
                        "trace, doc/scenario.md)", full, strerror(errno));
        fclose(f);
        char *real = realpath(full, NULL);
        const char *keep = real ? real : full;
        bool fits = strlen(keep) < sizeof r.trace_path;
        if (fits)
            snprintf(r.trace_path, sizeof r.trace_path, "%s", keep);
        free(real);
        if (!fits)
            return fail(ld, line, "arrival: trace path too long (at most %zu characters "
                        "resolved)", sizeof r.trace_path - 1);
        break;
    }
    }
#undef RATE
#undef DURA
    *a = r;
    return true;
}

/* A file named in the scenario: a relative path is relative to the scenario's folder. */
static void resolve_path(const struct loader *ld, const char *path, char *full, size_t n)
{
    if (path[0] == '/' || !ld->dir[0])
        snprintf(full, n, "%s", path);
    else
        snprintf(full, n, "%s/%s", ld->dir, path);
}

/*
 * A K_PATH key: the file must be readable now; its content is checked by its user
 * (prompts: src/live/body.c at the start of a live run). Kept as an absolute path
 * when it resolves, so the written scenario loads back from anywhere.
 */
static bool set_path(struct loader *ld, int line, const struct key_def *k, char *dst,
                     const char *value)
{
    char full[2 * SCENARIO_TEXT_MAX];
    resolve_path(ld, value, full, sizeof full);
    FILE *f = fopen(full, "r");
    if (f && getc(f) == EOF && ferror(f)) { /* a directory opens, but does not read */
        int e = errno;
        fclose(f);
        f = NULL;
        errno = e;
    }
    if (!f)
        return fail(ld, line, "%s: cannot read %s: %s (expected %s)", k->name, full,
                    strerror(errno), k->expect);
    fclose(f);
    char *real = realpath(full, NULL);
    const char *keep = real ? real : full;
    bool fits = strlen(keep) < k->size;
    if (fits)
        snprintf(dst, k->size, "%s", keep);
    free(real);
    if (!fits)
        return fail(ld, line, "%s: path too long (at most %zu characters resolved)", k->name,
                    k->size - 1);
    return true;
}

static bool load_empirical(struct loader *ld, int line, const char *key, const char *path,
                           struct dist_config *d)
{
    char full[2 * SCENARIO_TEXT_MAX];
    resolve_path(ld, path, full, sizeof full);
    FILE *f = fopen(full, "r");
    if (!f)
        return fail(ld, line, "%s: cannot open empirical file '%s': %s (expected a file of "
                    "token counts, one per line)", key, full, strerror(errno));
    int64_t cap = 256, n = 0;
    int64_t *v = xmalloc((size_t)cap * sizeof *v);
    char buf[256];
    int fl = 0;
    bool ok = true;
    while (fgets(buf, sizeof buf, f)) {
        fl++;
        char *hash = strchr(buf, '#');
        if (hash)
            *hash = '\0';
        char *t = str_trim(buf);
        if (!*t)
            continue;
        int64_t x;
        if (parse_count(t, &x) < 0 || x <= 0) {
            ok = fail(ld, line, "%s: %s:%d: bad token count '%s' (expected a positive whole "
                      "number per line)", key, full, fl, t);
            break;
        }
        if (n == cap)
            v = xrealloc(v, (size_t)(cap *= 2) * sizeof *v);
        v[n++] = x;
    }
    fclose(f);
    if (ok && n == 0)
        ok = fail(ld, line, "%s: empirical file '%s' has no values (expected token counts, "
                  "one per line)", key, full);
    if (!ok) {
        free(v);
        return false;
    }
    free(d->values);
    d->values = v;
    d->n_values = n;
    /* Keep a path that resolves from anywhere, so the written scenario loads back. */
    char *real = realpath(full, NULL);
    snprintf(d->path, sizeof d->path, "%.*s", (int)sizeof d->path - 1, real ? real : full);
    free(real);
    return true;
}

static bool parse_dist(struct loader *ld, int line, const char *key, const char *value,
                       struct dist_config *d)
{
    static const char *expect = "const N | uniform LOW HIGH | normal MEAN STDDEV | "
                                "lognormal MEDIAN SIGMA | empirical FILE";
    char buf[SCENARIO_TEXT_MAX];
    snprintf(buf, sizeof buf, "%s", value);
    char *w[4];
    int n = split_words(buf, w, 3);
    if (n == 0)
        return bad_value(ld, line, key, value, expect);
    static const char *const kinds[] = {"const", "uniform", "normal", "lognormal", "empirical"};
    static const int want[] = {2, 3, 3, 3, 2};
    int kind = -1;
    for (int i = 0; i < 5; i++)
        if (strcmp(w[0], kinds[i]) == 0)
            kind = i;
    if (kind < 0)
        return fail(ld, line, "%s: unknown distribution '%s' (expected %s)", key, w[0], expect);
    if (n != want[kind])
        return fail(ld, line, "%s: '%s' takes %d value%s, got %d (expected %s)", key, w[0],
                    want[kind] - 1, want[kind] == 2 ? "" : "s", n - 1, expect);
    if (kind == DIST_EMPIRICAL) {
        d->kind = DIST_EMPIRICAL;
        d->a = d->b = 0;
        return load_empirical(ld, line, key, w[1], d);
    }
    double a, b = 0;
    if (parse_double(w[1], &a) < 0 || (n == 3 && parse_double(w[2], &b) < 0))
        return bad_value(ld, line, key, value, expect);
    switch (kind) {
    case DIST_CONST:
        if (a < 1)
            return fail(ld, line, "%s: const %s is below 1 (expected a token count of at least "
                        "1)", key, w[1]);
        break;
    case DIST_UNIFORM:
        if (a < 1 || b < a)
            return fail(ld, line, "%s: uniform %s %s is not a range (expected 1 <= LOW <= "
                        "HIGH)", key, w[1], w[2]);
        break;
    case DIST_NORMAL:
        if (a <= 0 || b < 0)
            return fail(ld, line, "%s: normal %s %s (expected a positive mean and a "
                        "non-negative standard deviation)", key, w[1], w[2]);
        break;
    case DIST_LOGNORMAL:
        if (a <= 0 || b < 0 || b > 5)
            return fail(ld, line, "%s: lognormal %s %s (expected a positive median and a sigma "
                        "from 0 to 5)", key, w[1], w[2]);
        break;
    }
    free(d->values);
    d->values = NULL;
    d->n_values = 0;
    d->path[0] = '\0';
    d->kind = (enum dist_kind)kind;
    d->a = a;
    d->b = b;
    return true;
}

/* Set one key from its text. line is 0 for --set overrides. */
static bool set_key(struct loader *ld, int line, const struct key_def *k, int cls,
                    const char *value)
{
    struct scenario *sc = ld->sc;
    void *f = field(sc, k, cls);
    const char *name = k->name;
    int64_t i64;
    double d;
    int b;
    int rc;
    switch (k->type) {
    case K_STRING:
        if (strlen(value) >= k->size)
            return fail(ld, line, "%s: value too long (at most %zu characters)", name,
                        k->size - 1);
        snprintf(f, k->size, "%s", value);
        return true;
    case K_DURATION:
        rc = parse_duration_us(value, &i64);
        if (rc == -EINVAL && strchr("0123456789.", value[0]) && !strpbrk(value, "abcdefghijklmnopqrstuvwxyz"))
            return fail(ld, line, "%s: '%s' has no unit (expected %s)", name, value, k->expect);
        if (rc < 0 || i64 < k->min || (k->max && i64 > k->max))
            return bad_value(ld, line, name, value, k->expect);
        *(int64_t *)f = i64;
        return true;
    case K_DURATION_D:
        if (parse_duration_us(value, &i64) < 0)
            return bad_value(ld, line, name, value, k->expect);
        *(double *)f = (double)i64;
        return true;
    case K_COUNT:
        if (k->min == 0 && strcmp(value, "unlimited") == 0)
            i64 = 0;
        else if (parse_count(value, &i64) < 0 || i64 < k->min || (k->max > 0 && i64 > k->max))
            return bad_value(ld, line, name, value, k->expect);
        *(int64_t *)f = i64;
        return true;
    case K_INT:
        if (parse_count(value, &i64) < 0 || i64 < k->min || i64 > k->max)
            return bad_value(ld, line, name, value, k->expect);
        *(int *)f = (int)i64;
        return true;
    case K_SEED:
        if (parse_count(value, &i64) < 0)
            return bad_value(ld, line, name, value, k->expect);
        *(uint64_t *)f = (uint64_t)i64;
        return true;
    case K_DOUBLE:
        if (parse_double(value, &d) < 0 || d < 0)
            return bad_value(ld, line, name, value, k->expect);
        *(double *)f = d;
        return true;
    case K_SHARE:
        if (k->min < 0 && strcmp(value, "none") == 0)
            d = -1;
        else if (parse_share(value, &d) < 0)
            return bad_value(ld, line, name, value, k->expect);
        *(double *)f = d;
        return true;
    case K_BOOL:
        if (parse_bool(value, &b) < 0)
            return bad_value(ld, line, name, value, k->expect);
        *(bool *)f = b;
        return true;
    case K_ENUM:
        for (int e = 0; k->names[e]; e++) {
            if (strcmp(value, k->names[e]) == 0) {
                *(int *)f = e;
                return true;
            }
        }
        {
            char list[256] = "";
            for (int e = 0; k->names[e]; e++) {
                strcat(list, e ? (k->names[e + 1] ? ", " : " or ") : "");
                strcat(list, k->names[e]);
            }
            return bad_value(ld, line, name, value, list);
        }
    case K_ARRIVAL:
        return parse_arrival(ld, line, value, f);
    case K_DIST:
        return parse_dist(ld, line, name, value, f);
    case K_HEADER: {
        struct live_config *l = &sc->live;
        const char *colon = strchr(value, ':');
        if (!colon || colon == value || strlen(value) >= SCENARIO_TEXT_MAX)
            return bad_value(ld, line, name, value, k->expect);
        for (const char *c = value; c < colon; c++)
            if (!isalnum((unsigned char)*c) && *c != '-' && *c != '_')
                return bad_value(ld, line, name, value, "Name: value, the name made of letters, "
                                 "digits and -");
        if (strncasecmp(value, "authorization", (size_t)(colon - value)) == 0 &&
            colon - value == 13)
            return fail(ld, line, "header: the Authorization header comes from the variable "
                        "named by api_key_env (the key is never written in a scenario)");
        if (l->n_headers >= SCENARIO_MAX_HEADERS)
            return fail(ld, line, "header: too many headers (at most %d)",
                        SCENARIO_MAX_HEADERS);
        snprintf(l->headers[l->n_headers++], SCENARIO_TEXT_MAX, "%s", value);
        return true;
    }
    case K_PATH:
        return set_path(ld, line, k, f, value);
    }
    return false;
}

static int site_line(const struct loader *ld, const char *key_name, enum section_kind sec,
                     int cls)
{
    int k = find_key(sec, key_name);
    for (int i = ld->n_sites - 1; i >= 0; i--)
        if (ld->sites[i].key == k && ld->sites[i].cls == cls)
            return ld->sites[i].line;
    return -1;
}

static bool apply(struct loader *ld, int line, const char *section, const char *name,
                  const char *value, bool override)
{
    enum section_kind sec;
    int cls;
    if (!resolve_section(ld, override ? 0 : ld->sec_line, section, &sec, &cls))
        return false;
    int k = find_key(sec, name);
    if (k < 0)
        return unknown_key(ld, line, sec, name);
    int prev = site_line(ld, name, sec, cls);
    if (!override && prev >= 0 && keys[k].type != K_HEADER)
        return fail(ld, line, "duplicate key '%s' in [%s] (first set at line %d)", name, section,
                    prev);
    if (!*value)
        return fail(ld, line, "%s: empty value (expected %s)", name,
                    keys[k].expect ? keys[k].expect : "a value");
    if (!set_key(ld, line, &keys[k], cls, value))
        return false;
    if (ld->n_sites < (int)(sizeof ld->sites / sizeof ld->sites[0]))
        ld->sites[ld->n_sites++] = (struct key_site){k, cls, line};
    return true;
}

static int handler(void *user, const char *section, const char *name, const char *value)
{
    struct loader *ld = user;
    if (ld->failed)
        return 1; /* already failed: keep inih quiet, the first error stands */
    if (!*section)
        return fail(ld, ld->line, "key '%s' before any section (expected a [section] line "
                    "first)", name);
    return apply(ld, ld->line, section, name, value, false);
}

/* ---- whole-scenario checks ---------------------------------------------- */

/*
 * The standard normal's 99.9th percentile: normal and lognormal sizes have no largest
 * draw, so the fit check takes this quantile as their largest (doc/scenario.md).
 */
#define FIT_Z_999 3.090232306167813

/*
 * The largest token count a distribution draws, as the fit check counts it: the
 * largest it can draw (const, uniform, empirical), or for normal and lognormal, which
 * are unbounded, the 99.9th percentile, rounded as draws are (*quantile = true).
 */
static double dist_max(const struct dist_config *d, bool *quantile)
{
    *quantile = false;
    switch (d->kind) {
    case DIST_CONST: return d->a;
    case DIST_UNIFORM: return d->b;
    case DIST_NORMAL:
        *quantile = true;
        return fmax(1, round(d->a + FIT_Z_999 * d->b));
    case DIST_LOGNORMAL:
        *quantile = true;
        return fmax(1, round(d->a * exp(FIT_Z_999 * d->b)));
    case DIST_EMPIRICAL: {
        int64_t m = 0;
        for (int64_t i = 0; i < d->n_values; i++)
            if (d->values[i] > m)
                m = d->values[i];
        return (double)m;
    }
    }
    return -1;
}

static int line_or(int line, int fallback)
{
    return line > 0 ? line : fallback;
}

static bool check_fits(struct loader *ld, int cls, const char *who, enum section_kind sec,
                       int64_t limit, const char *limit_key)
{
    if (!limit)
        return true;
    const struct class_config *c = &ld->sc->classes[cls];
    bool quantile;
    double prompt = dist_max(&c->prompt_tokens, &quantile);
    bool reserve_max = sec == SEC_SERVER || ld->sc->client.estimate == ESTIMATE_PROMPT_PLUS_MAX;
    double need = (reserve_max ? (double)c->max_tokens : 0) + (prompt > 0 ? prompt : 0);
    if (need <= (double)limit)
        return true;
    int line = line_or(site_line(ld, "max_tokens", SEC_CLASS, cls), c->line);
    if (prompt > 0 && (!reserve_max || site_line(ld, "max_tokens", SEC_CLASS, cls) < 0))
        line = line_or(site_line(ld, "prompt_tokens", SEC_CLASS, cls), line);
    /* the client's estimate may count the prompt alone (estimate = prompt) */
    char plus[48] = "";
    if (reserve_max)
        snprintf(plus, sizeof plus, " + max_tokens %lld", (long long)c->max_tokens);
    if (quantile)
        return fail(ld, line,
                    "class %s: 0.1%% of its requests cost %.0f tokens or more (prompt %.0f, the "
                    "99.9th percentile of its %s prompt_tokens%s), more than %s %s = %lld, so "
                    "they could never be sent (lower the prompt sizes or max_tokens, or raise "
                    "the limit)", c->name, need, prompt,
                    c->prompt_tokens.kind == DIST_NORMAL ? "normal" : "lognormal", plus, who,
                    limit_key, (long long)limit);
    return fail(ld, line,
                "class %s: a request can cost %.0f tokens (prompt %.0f%s), more than %s %s = "
                "%lld, so it could never be sent (lower max_tokens or raise the limit)",
                c->name, need, prompt > 0 ? prompt : 0, plus, who, limit_key, (long long)limit);
}

/* instance_limits = split: every limit set must leave each instance at least one unit. */
static bool check_split(struct loader *ld)
{
    const struct client_config *c = &ld->sc->client;
    if (c->instance_limits != INSTANCE_LIMITS_SPLIT)
        return true;
    static const char *const names[] = {"requests_per_minute", "tokens_per_minute",
                                        "tokens_per_day", "max_concurrent"};
    const int64_t limits[] = {c->requests_per_minute, c->tokens_per_minute, c->tokens_per_day,
                              c->max_concurrent};
    for (int i = 0; i < 4; i++)
        if (limits[i] > 0 && limits[i] < c->instances)
            return fail(ld,
                        line_or(site_line(ld, names[i], SEC_CLIENT, -1),
                                site_line(ld, "instance_limits", SEC_CLIENT, -1)),
                        "instance_limits = split: %s = %lld cannot be split over %d instances "
                        "(expected at least one per instance, or instance_limits = shared)",
                        names[i], (long long)limits[i], c->instances);
    return true;
}

/* "time=COL,prompt=COL,completion=COL,class=COL", any subset, each at most once. */
static bool trace_columns_ok(const char *text)
{
    static const char *const fields[] = {"time", "prompt", "completion", "class"};
    char b[SCENARIO_TEXT_MAX];
    snprintf(b, sizeof b, "%s", text);
    unsigned seen = 0;
    char *save = NULL;
    for (char *item = strtok_r(b, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        if (!eq || !*str_trim(eq + 1))
            return false;
        *eq = '\0';
        int f = -1;
        for (int i = 0; i < 4; i++)
            if (strcmp(str_trim(item), fields[i]) == 0)
                f = i;
        if (f < 0 || (seen & (1u << f)))
            return false;
        seen |= 1u << f;
    }
    return true;
}

static bool validate(struct loader *ld)
{
    struct scenario *sc = ld->sc;
    /* Empty sections still need checking: the reader saw every header. */
    for (int i = 0; i < ld->n_sec; i++) {
        enum section_kind sec;
        int cls;
        if (!resolve_section(ld, ld->sec_lines[i], ld->sec_names[i], &sec, &cls))
            return false;
        if (sec != SEC_CLASS)
            for (int j = 0; j < i; j++)
                if (strcmp(ld->sec_names[i], ld->sec_names[j]) == 0)
                    return fail(ld, ld->sec_lines[i], "duplicate section [%s] (first at line "
                                "%d; put its keys in one place)", ld->sec_names[i],
                                ld->sec_lines[j]);
        if (sec == SEC_CLASS)
            for (int j = 0; j < i; j++)
                if (strcmp(ld->sec_names[i], ld->sec_names[j]) == 0)
                    return fail(ld, ld->sec_lines[i], "duplicate section [%s] (first at line "
                                "%d)", ld->sec_names[i], ld->sec_lines[j]);
    }
    if (sc->n_classes == 0 && !ld->classes_optional)
        return fail(ld, 0, "no [class.NAME] section (a scenario needs at least one workload "
                    "class with an arrival process)");
    for (int i = 0; i < sc->n_classes; i++) {
        struct class_config *c = &sc->classes[i];
        if (c->arrival.kind == ARRIVAL_POISSON && c->arrival.rate_per_s < 0)
            return fail(ld, c->line, "class %s: missing key 'arrival' (expected e.g. arrival = "
                        "poisson 2/s)", c->name);
        if (c->arrival.kind != ARRIVAL_TRACE && (c->trace_columns[0] || c->trace_start[0]))
            return fail(ld, line_or(site_line(ld, c->trace_columns[0] ? "trace_columns" :
                                              "trace_start", SEC_CLASS, i), c->line),
                        "class %s: trace_columns and trace_start apply to arrival = trace FILE "
                        "only", c->name);
        if (!trace_columns_ok(c->trace_columns))
            return fail(ld, line_or(site_line(ld, "trace_columns", SEC_CLASS, i), c->line),
                        "class %s: trace_columns: bad value '%s' (expected %s)", c->name,
                        c->trace_columns, keys[find_key(SEC_CLASS, "trace_columns")].expect);
        if (c->arrival.kind == ARRIVAL_BURST && c->arrival.at_us >= sc->duration_us)
            return fail(ld, line_or(site_line(ld, "arrival", SEC_CLASS, i), c->line),
                        "class %s: the burst comes after the scenario's duration (expected a "
                        "time before duration)", c->name);
        /* Under split, each instance's own share is what a request must fit. */
        int split = sc->client.instance_limits == INSTANCE_LIMITS_SPLIT ? sc->client.instances : 1;
        if (!check_fits(ld, i, split > 1 ? "each client instance's share of" : "client",
                        SEC_CLIENT, scenario_split_limit(sc->client.tokens_per_minute, split),
                        "tokens_per_minute") ||
            !check_fits(ld, i, split > 1 ? "each client instance's share of" : "client",
                        SEC_CLIENT, scenario_split_limit(sc->client.tokens_per_day, split),
                        "tokens_per_day") ||
            !check_fits(ld, i, "server", SEC_SERVER, sc->server.tokens_per_minute,
                        "tokens_per_minute") ||
            !check_fits(ld, i, "server", SEC_SERVER, sc->server.tokens_per_day,
                        "tokens_per_day"))
            return false;
    }
    if (!check_split(ld))
        return false;
    const struct redis_config *rc = &sc->client.redis;
    struct redisurl ru;
    char why[SCENARIO_TEXT_MAX];
    if (redisurl_parse(rc->url, &ru, why, sizeof why) < 0)
        return fail(ld, site_line(ld, "redis_url", SEC_CLIENT, -1), "redis_url: %s", why);
    if (!rc->key_prefix[0])
        return fail(ld, site_line(ld, "redis_key_prefix", SEC_CLIENT, -1),
                    "redis_key_prefix is empty (expected text such as ratelab:org1:)");
    if (sc->client.backend == BACKEND_REDIS && sc->client.adaptive)
        return fail(ld, line_or(site_line(ld, "adaptive", SEC_CLIENT, -1),
                                site_line(ld, "backend", SEC_CLIENT, -1)),
                    "adaptive = yes with backend = redis (expected adaptive = no: the server's "
                    "feedback is not shared between processes)");
    const struct retry_config *r = &sc->client.retry;
    if (r->max_delay_us < r->base_delay_us)
        return fail(ld, line_or(site_line(ld, "retry_max_delay", SEC_CLIENT, -1),
                                site_line(ld, "retry_base_delay", SEC_CLIENT, -1)),
                    "retry_max_delay is below retry_base_delay (expected a cap at least as "
                    "large as the base delay)");
    const struct server_config *s = &sc->server;
    if (s->error_rate + s->timeout_rate + s->reset_rate + s->malformed_rate > 1.0 + 1e-9)
        return fail(ld, line_or(site_line(ld, "malformed_rate", SEC_SERVER, -1),
                                site_line(ld, "error_rate", SEC_SERVER, -1)),
                    "the fault shares add up to more than 1 (expected error_rate + "
                    "timeout_rate + reset_rate + malformed_rate <= 1)");
    if (sc->window_us > sc->duration_us)
        return fail(ld, site_line(ld, "window", SEC_SCENARIO, -1),
                    "window is longer than duration (expected a window at most as long as the "
                    "run)");
    return true;
}

static void set_dir(struct loader *ld, const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash) {
        ld->dir[0] = '\0';
        return;
    }
    size_t n = (size_t)(slash - path);
    if (n >= sizeof ld->dir)
        n = sizeof ld->dir - 1;
    memcpy(ld->dir, path, n);
    ld->dir[n] = '\0';
}

static bool apply_override(struct loader *ld, const char *ov)
{
    char buf[SCENARIO_TEXT_MAX];
    snprintf(buf, sizeof buf, "%s", ov);
    char *eq = strchr(buf, '=');
    char *dot = strrchr(buf, '.');
    snprintf(ld->ovname, sizeof ld->ovname, "--set %.*s", (int)sizeof ld->ovname - 7, ov);
    ld->file = ld->ovname; /* messages name the override, not the file */
    if (eq && dot > eq) /* a '.' in the value: the key's dot is before '=' */
        for (dot = eq; dot > buf && *dot != '.'; dot--)
            ;
    if (!eq || !dot || dot == buf || *dot != '.')
        return fail(ld, 0, "expected SECTION.KEY=VALUE");
    *eq = '\0';
    *dot = '\0';
    const char *section = str_trim(buf), *name = str_trim(dot + 1), *value = str_trim(eq + 1);
    if (strncmp(section, "class.", 6) == 0) {
        bool found = false;
        for (int i = 0; i < ld->sc->n_classes; i++)
            found |= strcmp(ld->sc->classes[i].name, section + 6) == 0;
        if (!found)
            return fail(ld, 0, "no [%s] section in the scenario to override (check the class "
                        "name)", section);
    }
    return apply(ld, 0, section, name, value, true);
}

static int load_text(struct scenario *sc, enum scenario_use use, const char *name,
                     const char *text, const char *const *overrides, int n_overrides,
                     struct scenario_error *err)
{
    struct loader *ld = xcalloc(1, sizeof *ld);
    scenario_defaults(sc);
    snprintf(sc->path, sizeof sc->path, "%s", name);
    ld->sc = sc;
    ld->err = err;
    ld->file = name;
    ld->text = text;
    ld->classes_optional = use == SCENARIO_FOR_SERVE;
    set_dir(ld, name);
    memset(err, 0, sizeof *err);
    int rc = ini_parse_stream(reader, ld, handler, ld);
    if (rc > 0 && (!ld->failed || rc < err->line)) {
        ld->failed = false;
        fail(ld, rc, "syntax error (expected 'key = value', '[section]' or a comment)");
    }
    for (int i = 0; i < n_overrides && !ld->failed; i++)
        apply_override(ld, overrides[i]);
    if (!ld->failed) {
        ld->file = name;
        validate(ld);
    }
    if (ld->failed && !err->file[0])
        snprintf(err->file, sizeof err->file, "%s", name);
    bool failed = ld->failed;
    free(ld);
    return failed ? -EINVAL : 0;
}

int scenario_load_string(struct scenario *sc, const char *name, const char *text,
                         const char *const *overrides, int n_overrides,
                         struct scenario_error *err)
{
    return load_text(sc, SCENARIO_FOR_RUN, name, text, overrides, n_overrides, err);
}

int scenario_load_for(struct scenario *sc, enum scenario_use use, const char *path,
                      const char *const *overrides, int n_overrides, struct scenario_error *err)
{
    if (!path)
        return load_text(sc, use, "", "", overrides, n_overrides, err);
    FILE *f = fopen(path, "rb");
    if (!f) {
        scenario_defaults(sc);
        memset(err, 0, sizeof *err);
        snprintf(err->file, sizeof err->file, "%s", path);
        snprintf(err->msg, sizeof err->msg, "cannot open scenario: %s (check the path; examples "
                 "are in scenarios/)", strerror(errno));
        return -EINVAL;
    }
    size_t cap = 4096, n = 0;
    char *text = xmalloc(cap);
    size_t got;
    while ((got = fread(text + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (n + 1 == cap)
            text = xrealloc(text, cap *= 2);
    }
    fclose(f);
    text[n] = '\0';
    if (strlen(text) != n) {
        scenario_defaults(sc);
        memset(err, 0, sizeof *err);
        snprintf(err->file, sizeof err->file, "%s", path);
        snprintf(err->msg, sizeof err->msg, "not a text file (it holds a NUL byte; expected an "
                 "INI scenario)");
        free(text);
        return -EINVAL;
    }
    int rc = load_text(sc, use, path, text, overrides, n_overrides, err);
    free(text);
    return rc;
}

int scenario_load(struct scenario *sc, const char *path, const char *const *overrides,
                  int n_overrides, struct scenario_error *err)
{
    return scenario_load_for(sc, SCENARIO_FOR_RUN, path, overrides, n_overrides, err);
}

/* ---- writing ------------------------------------------------------------ */

/* Shortest text that parses back to exactly d. */
static char *format_number(double d, char *buf, size_t n)
{
    for (int prec = 1; prec <= 17; prec++) {
        snprintf(buf, n, "%.*g", prec, d);
        double back;
        if (parse_double(buf, &back) == 0 && back == d)
            return buf;
    }
    snprintf(buf, n, "%.17g", d);
    return buf;
}

static void write_arrival(const struct arrival_config *a, FILE *out)
{
    char r1[64], r2[64], d1[64], d2[64], n1[64];
    switch (a->kind) {
    case ARRIVAL_POISSON:
        fprintf(out, "poisson %s", format_rate(a->rate_per_s, r1, sizeof r1));
        break;
    case ARRIVAL_CONSTANT:
        fprintf(out, "constant %s", format_rate(a->rate_per_s, r1, sizeof r1));
        break;
    case ARRIVAL_GAMMA:
        fprintf(out, "gamma %s %s", format_rate(a->rate_per_s, r1, sizeof r1),
                format_number(a->burstiness, n1, sizeof n1));
        break;
    case ARRIVAL_BURST:
        fprintf(out, "burst %s %lld", format_duration(a->at_us, d1, sizeof d1),
                (long long)a->count);
        break;
    case ARRIVAL_RAMP:
        fprintf(out, "ramp %s %s %s", format_rate(a->from_per_s, r1, sizeof r1),
                format_rate(a->to_per_s, r2, sizeof r2), format_duration(a->over_us, d1, sizeof d1));
        break;
    case ARRIVAL_ONOFF:
        fprintf(out, "onoff %s %s %s", format_rate(a->rate_per_s, r1, sizeof r1),
                format_duration(a->on_us, d1, sizeof d1), format_duration(a->off_us, d2, sizeof d2));
        break;
    case ARRIVAL_CLOSED:
        fprintf(out, "closed %lld %s", (long long)a->users,
                format_duration(a->think_us, d1, sizeof d1));
        break;
    case ARRIVAL_TRACE:
        fprintf(out, "trace %s", a->trace_path);
        break;
    }
}

static void write_dist(const struct dist_config *d, FILE *out)
{
    static const char *const kinds[] = {"const", "uniform", "normal", "lognormal", "empirical"};
    char a[64], b[64];
    if (d->kind == DIST_EMPIRICAL)
        fprintf(out, "empirical %s", d->path);
    else if (d->kind == DIST_CONST)
        fprintf(out, "const %s", format_number(d->a, a, sizeof a));
    else
        fprintf(out, "%s %s %s", kinds[d->kind], format_number(d->a, a, sizeof a),
                format_number(d->b, b, sizeof b));
}

static void write_key(const struct scenario *sc, const struct key_def *k, int cls, FILE *out)
{
    const void *f = field((struct scenario *)sc, k, cls);
    char buf[64];
    if (k->type == K_HEADER) {
        for (int i = 0; i < sc->live.n_headers; i++)
            fprintf(out, "header = %s\n", sc->live.headers[i]);
        return;
    }
    if ((k->type == K_STRING || k->type == K_PATH) && !*(const char *)f)
        return; /* empty text: the default, and "key =" would not load */
    fprintf(out, "%s = ", k->name);
    switch (k->type) {
    case K_STRING: fputs(f, out); break;
    case K_PATH: fputs(f, out); break;
    case K_DURATION: fputs(format_duration(*(const int64_t *)f, buf, sizeof buf), out); break;
    case K_DURATION_D:
        fputs(format_duration(llround(*(const double *)f), buf, sizeof buf), out);
        break;
    case K_COUNT: fprintf(out, "%lld", (long long)*(const int64_t *)f); break;
    case K_INT: fprintf(out, "%d", *(const int *)f); break;
    case K_SEED: fprintf(out, "%llu", (unsigned long long)*(const uint64_t *)f); break;
    case K_DOUBLE: fputs(format_number(*(const double *)f, buf, sizeof buf), out); break;
    case K_SHARE:
        if (*(const double *)f < 0)
            fputs("none", out);
        else
            fputs(format_number(*(const double *)f, buf, sizeof buf), out);
        break;
    case K_BOOL: fputs(*(const bool *)f ? "yes" : "no", out); break;
    case K_ENUM: fputs(k->names[*(const int *)f], out); break;
    case K_ARRIVAL: write_arrival(f, out); break;
    case K_DIST: write_dist(f, out); break;
    case K_HEADER: break;
    }
    fputc('\n', out);
}

static void write_section(const struct scenario *sc, enum section_kind sec, int cls, FILE *out)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (keys[i].sec == sec)
            write_key(sc, &keys[i], cls, out);
}

void scenario_write(const struct scenario *sc, FILE *out)
{
    fprintf(out, "; %s, fully resolved by ratelab %s\n", sc->path, PACKAGE_VERSION);
    fputs("[scenario]\n", out);
    write_section(sc, SEC_SCENARIO, -1, out);
    fputs("\n[client]\n", out);
    write_section(sc, SEC_CLIENT, -1, out);
    fputs("\n[server]\n", out);
    write_section(sc, SEC_SERVER, -1, out);
    for (int i = 0; i < sc->n_classes; i++) {
        fprintf(out, "\n[class.%s]\n", sc->classes[i].name);
        write_section(sc, SEC_CLASS, i, out);
    }
    fputs("\n[live]\n", out);
    write_section(sc, SEC_LIVE, -1, out);
}
