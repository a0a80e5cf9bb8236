#include "config.h"

#include "report_merge.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "histogram.h"
#include "metrics.h"
#include "report.h"
#include "report_int.h"
#include "scenario.h"
#include "util.h"

static const char *const outcome_key[OUTCOME__COUNT] = {"succeeded", "failed", "rejected",
                                                         "timed_out", "cancelled"};

/* One scope (overall or a class) as merged so far. */
struct mscope {
    char name[SCENARIO_NAME_MAX];
    struct metrics_row row;    /* counts summed; queue/inflight levels as doc/report.md says */
    struct histogram lat, ttft; /* the parts' histograms merged, µs */
    struct histogram itl;      /* live, streaming: inter-token latency, µs */
};

/* The merge: what the parts add up to, and the first error met. */
struct merge {
    const char *name;   /* the part being read, for messages */
    char *err;
    size_t errlen;
    bool bad;           /* an error is in err; everything after it is skipped */
    int64_t end_us;     /* the merged run's end: the latest part's */
    struct histogram scratch; /* one part's histogram, as loaded */
};

static void fail(struct merge *g, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(struct merge *g, const char *fmt, ...)
{
    if (g->bad)
        return;
    g->bad = true;
    int k = snprintf(g->err, g->errlen, "%s: ", g->name);
    if (k < 0 || (size_t)k >= g->errlen)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->err + k, g->errlen - (size_t)k, fmt, ap);
    va_end(ap);
}

/* ---- reading a part's fields ------------------------------------------------- */

/* o's member `key` (a plain name), or NULL after an error naming path.key. */
static const cJSON *field(struct merge *g, const cJSON *o, const char *path, const char *key)
{
    const cJSON *v = o ? cJSON_GetObjectItemCaseSensitive(o, key) : NULL;
    if (!v)
        fail(g, "not a ratelab report this version can merge (no field %s%s%s)", path,
             *path ? "." : "", key);
    return v;
}

static const cJSON *object(struct merge *g, const cJSON *o, const char *path, const char *key)
{
    const cJSON *v = field(g, o, path, key);
    if (v && !cJSON_IsObject(v)) {
        fail(g, "field %s%s%s is not an object", path, *path ? "." : "", key);
        return NULL;
    }
    return v;
}

static double number(struct merge *g, const cJSON *o, const char *path, const char *key)
{
    const cJSON *v = field(g, o, path, key);
    if (!v)
        return 0;
    if (!cJSON_IsNumber(v)) {
        fail(g, "field %s%s%s is not a number", path, *path ? "." : "", key);
        return 0;
    }
    return v->valuedouble;
}

/* Counts are exact integers in a double: 0 .. 2^53. */
static uint64_t count(struct merge *g, const cJSON *o, const char *path, const char *key)
{
    double v = number(g, o, path, key);
    if (!(v >= 0 && v <= 9007199254740992.0 && v == floor(v))) {
        fail(g, "field %s%s%s is not a count (%g)", path, *path ? "." : "", key, v);
        return 0;
    }
    return (uint64_t)v;
}

/* A share of `whole` written as part / whole: the part back, exactly (whole < 2^50). */
static uint64_t part_of(struct merge *g, double sh, uint64_t whole, const char *what)
{
    double p = round(sh * (double)whole);
    if (!(sh >= 0 && sh <= 1) || fabs(p / (whole ? (double)whole : 1) - sh) > 1e-12) {
        fail(g, "%s (%g) is not a share of %llu requests", what, sh, (unsigned long long)whole);
        return 0;
    }
    return (uint64_t)p;
}

static int64_t us_of_s(double s)
{
    return (int64_t)llround(s * US_PER_S);
}

/* Load the compact histogram o.key (doc/report.md, "Histograms") and add it into h. */
static void add_histogram(struct merge *g, const cJSON *o, const char *path, const char *key,
                          struct histogram *h)
{
    char sub[160];
    snprintf(sub, sizeof sub, "%s%s%s", path, *path ? "." : "", key);
    const cJSON *j = object(g, o, path, key);
    if (!j)
        return;
    uint64_t n = count(g, j, sub, "count");
    double min = number(g, j, sub, "min"), max = number(g, j, sub, "max");
    double sum = number(g, j, sub, "sum");
    const cJSON *b = field(g, j, sub, "buckets");
    if (g->bad)
        return;
    int nb = cJSON_GetArraySize(b);
    if (!cJSON_IsArray(b) || nb % 2 != 0) {
        fail(g, "%s.buckets is not an array of (index, count) pairs", sub);
        return;
    }
    nb /= 2;
    int *idx = xmalloc((size_t)(nb ? nb : 1) * sizeof *idx);
    uint64_t *cnt = xmalloc((size_t)(nb ? nb : 1) * sizeof *cnt);
    int k = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, b)
    {
        double v = cJSON_IsNumber(e) ? e->valuedouble : -1;
        if (!(v >= 0 && v <= 9007199254740992.0 && v == floor(v)))
            break;
        if (k % 2 == 0) {
            if (v >= HISTOGRAM_BUCKETS)
                break;
            idx[k / 2] = (int)v;
        } else {
            cnt[k / 2] = (uint64_t)v;
        }
        k++;
    }
    int rc = -EINVAL;
    if (k == 2 * nb && min >= 0 && max >= min && max <= (double)INT64_MAX / 2)
        rc = histogram_load(&g->scratch, n, (int64_t)min, (int64_t)max, sum, idx, cnt, nb);
    free(idx);
    free(cnt);
    if (rc < 0) {
        fail(g, "%s is not a valid histogram (buckets, count, min, max and sum disagree)", sub);
        return;
    }
    histogram_merge(h, &g->scratch);
}

/* ---- merging scopes ------------------------------------------------------------ */

static void scope_init(struct mscope *s, const char *name)
{
    memset(&s->row, 0, sizeof s->row);
    snprintf(s->name, sizeof s->name, "%s", name);
    histogram_init(&s->lat);
    histogram_init(&s->ttft);
    histogram_init(&s->itl);
}

/* Add one part's scope o (a run ending at end_us) into s. */
static void scope_add(struct merge *g, struct mscope *s, const cJSON *o, const char *path,
                      int64_t end_us)
{
    char p[160];
    struct metrics_counts *c = &s->row.c;
    snprintf(p, sizeof p, "%s%srequests", path, *path ? "." : "");
    const cJSON *rq = object(g, o, path, "requests");
    uint64_t arrived = count(g, rq, p, "arrived");
    c->arrivals += arrived;
    for (int i = 0; i < OUTCOME__COUNT; i++)
        c->ended[i] += count(g, rq, p, outcome_key[i]);
    snprintf(p, sizeof p, "%s%shit_rate", path, *path ? "." : "");
    const cJSON *hr = object(g, o, path, "hit_rate");
    c->client_throttled +=
        part_of(g, number(g, hr, p, "client_throttled"), arrived, "hit_rate.client_throttled");
    c->saw_429 += part_of(g, number(g, hr, p, "server_429"), arrived, "hit_rate.server_429");
    snprintf(p, sizeof p, "%s%slatency_ms", path, *path ? "." : "");
    add_histogram(g, object(g, o, path, "latency_ms"), p, "histogram_us", &s->lat);
    snprintf(p, sizeof p, "%s%sttft_ms", path, *path ? "." : "");
    add_histogram(g, object(g, o, path, "ttft_ms"), p, "histogram_us", &s->ttft);
    snprintf(p, sizeof p, "%s%squeue_depth", path, *path ? "." : "");
    const cJSON *qd = object(g, o, path, "queue_depth");
    int64_t qmax = (int64_t)count(g, qd, p, "max");
    if (qmax > s->row.queue_max)
        s->row.queue_max = qmax;
    /*
     * The parts' queues side by side: their time-weighted means add, each over its own
     * span, weighted by the share of the merged run it covers (exactly 1 for the part
     * that ends last, so one part's mean comes back unchanged).
     */
    s->row.queue_mean += number(g, qd, p, "mean") * ((double)end_us / (double)g->end_us);
    c->retries += count(g, o, path, "retries");
    snprintf(p, sizeof p, "%s%sattempts", path, *path ? "." : "");
    const cJSON *at = object(g, o, path, "attempts");
    c->sends += count(g, at, p, "sent");
    c->http_429 += count(g, at, p, "http_429");
    c->errors += count(g, at, p, "errors");
    int64_t inflight = (int64_t)count(g, at, p, "inflight_max");
    if (inflight > s->row.inflight_max)
        s->row.inflight_max = inflight;
    snprintf(p, sizeof p, "%s%stokens", path, *path ? "." : "");
    const cJSON *tk = object(g, o, path, "tokens");
    c->prompt_tokens += count(g, tk, p, "prompt");
    c->output_tokens += count(g, tk, p, "output");
}

/* The merged scope's quantiles, means and rates, by the code a single run uses. */
static void scope_finish(struct mscope *s, int64_t end_us)
{
    const struct histogram *lat = &s->lat, *ttft = &s->ttft;
    s->row.start_us = 0;
    s->row.end_us = end_us;
    metrics_row_stats(&s->row, &lat, 1, &ttft, 1, end_us);
}

/* ---- the whole document --------------------------------------------------------- */

enum kind { KIND_BARE, KIND_SIM, KIND_LIVE };

/* Everything merged, and what report_json_doc reads. */
struct merged {
    struct mscope *scopes;          /* [0] overall, then classes in order of first appearance */
    int n_classes;
    struct report_scope all, classes[SCENARIO_MAX_CLASSES];
    struct report_extra x;
    struct report_live live;
    struct report_redis redis;      /* live.redis summed over the parts that have it */
    bool has_redis;
    struct histogram send_lag, server_wait;
    struct histogram itl[SCENARIO_MAX_CLASSES];
    bool has_itl;
    double gauge_w[3];              /* Σ scrapes that succeeded, per gauge (weights) */
    double short_s[2];              /* the earliest observed exhaustion per budget side, s */
    struct slo_result slo[REPORT_MAX_SLOS];
    int n_slo;
    const char *scenario;
    uint64_t seed;
    int64_t duration_us, window_us;
    enum kind kind;
    bool traced;
    /* [client] instances: every part's, in order (a part without any is one instance) */
    struct run_instance_stats *inst;
    int n_inst, cap_inst;
    bool has_inst;                  /* some part had several: the merge lists them */
    enum instance_limits inst_limits;
};

static enum kind kind_of(const cJSON *root)
{
    if (cJSON_GetObjectItemCaseSensitive(root, "live"))
        return KIND_LIVE;
    if (cJSON_GetObjectItemCaseSensitive(root, "server"))
        return KIND_SIM;
    return KIND_BARE;
}

static const char *kind_name(enum kind k)
{
    return k == KIND_LIVE ? "a live run's" : k == KIND_SIM ? "a simulation's" : "a bare";
}

/* Check a part's version and histogram format: merging needs the same ones. */
static void check_format(struct merge *g, const cJSON *root)
{
    if (!cJSON_IsObject(root)) {
        fail(g, "not a ratelab report (not a JSON object)");
        return;
    }
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, "report_version");
    if (!v) {
        fail(g, "not a ratelab report, or one older than report_version %d (no "
                "report_version field)",
             REPORT_VERSION);
        return;
    }
    if (!cJSON_IsNumber(v)) {
        fail(g, "report_version is not a number");
        return;
    }
    if (v->valuedouble != REPORT_VERSION) {
        fail(g, "report_version %g, this ratelab merges version %d", v->valuedouble,
             REPORT_VERSION);
        return;
    }
    const cJSON *hf = object(g, root, "", "histogram_format");
    const cJSON *unit = field(g, hf, "histogram_format", "unit");
    double sub = number(g, hf, "histogram_format", "sub_bits");
    double max = number(g, hf, "histogram_format", "max_bits");
    if (g->bad)
        return;
    if (!cJSON_IsString(unit) || strcmp(unit->valuestring, "us") != 0 ||
        sub != HISTOGRAM_SUB_BITS || max != HISTOGRAM_MAX_BITS)
        fail(g, "histograms in another format (unit %s, sub_bits %g, max_bits %g; this "
                "ratelab's are us, %d, %d): they cannot be merged exactly",
             cJSON_IsString(unit) ? unit->valuestring : "?", sub, max, HISTOGRAM_SUB_BITS,
             HISTOGRAM_MAX_BITS);
}

static int class_index(struct merged *mg, struct merge *g, const char *name)
{
    for (int i = 0; i < mg->n_classes; i++)
        if (strcmp(mg->scopes[i + 1].name, name) == 0)
            return i;
    if (mg->n_classes == SCENARIO_MAX_CLASSES) {
        fail(g, "more than %d classes in all", SCENARIO_MAX_CLASSES);
        return -1;
    }
    if (strlen(name) >= SCENARIO_NAME_MAX) {
        fail(g, "class name too long: %.40s...", name);
        return -1;
    }
    scope_init(&mg->scopes[mg->n_classes + 1], name);
    histogram_init(&mg->itl[mg->n_classes]);
    return mg->n_classes++;
}

/*
 * A part's Redis backend figures (backend = redis; the processes of one --redis-run):
 * counts add, the registry's peak is the largest seen, and the policy and batch are the
 * first part's (parts that differ are refused: their counts would not mean one thing).
 */
static void add_redis(struct merge *g, struct merged *mg, const cJSON *rd)
{
    static const char *const p = "live.redis";
    const cJSON *f = field(g, rd, p, "failure");
    int failure = f && cJSON_IsString(f) && strcmp(f->valuestring, "open") == 0;
    if (f && (!cJSON_IsString(f) ||
              (strcmp(f->valuestring, "open") != 0 && strcmp(f->valuestring, "closed") != 0))) {
        fail(g, "field live.redis.failure is not closed or open");
        return;
    }
    int64_t batch = (int64_t)count(g, rd, p, "batch");
    struct report_redis *r = &mg->redis;
    if (mg->has_redis && (r->failure != failure || r->batch != batch)) {
        fail(g, "the parts used different redis_failure or redis_batch settings (expected the "
                "processes of one run)");
        return;
    }
    r->failure = failure;
    r->batch = batch;
    r->round_trips += (int64_t)count(g, rd, p, "round_trips");
    r->releases += (int64_t)count(g, rd, p, "releases");
    r->renewals += (int64_t)count(g, rd, p, "renewals");
    r->admitted_redis += (int64_t)count(g, rd, p, "admitted_redis");
    r->admitted_reserved += (int64_t)count(g, rd, p, "admitted_reserved");
    r->returned_reserved += (int64_t)count(g, rd, p, "returned_reserved");
    r->pool_waits += (int64_t)count(g, rd, p, "pool_waits");
    r->release_wakes += (int64_t)count(g, rd, p, "release_wakes");
    r->closed_waits += (int64_t)count(g, rd, p, "closed_waits");
    r->open_admitted += (int64_t)count(g, rd, p, "open_admitted");
    int64_t n = (int64_t)count(g, rd, p, "open_share_n");
    if (n > r->open_share_n)
        r->open_share_n = n;
    r->timeouts += (int64_t)count(g, rd, p, "timeouts");
    r->disconnects += (int64_t)count(g, rd, p, "disconnects");
    r->errors += (int64_t)count(g, rd, p, "errors");
    int64_t procs = (int64_t)count(g, rd, p, "processes_max");
    if (procs > r->processes_max)
        r->processes_max = procs;
    mg->has_redis = true;
}

/* A live part's own figures. */
static void add_live(struct merge *g, struct merged *mg, const cJSON *root)
{
    const cJSON *sl = object(g, root, "", "send_lag_ms");
    add_histogram(g, sl, "send_lag_ms", "histogram_us", &mg->send_lag);
    if (cJSON_GetObjectItemCaseSensitive(root, "itl_ms")) {
        mg->has_itl = true;
        const cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "classes");
        const cJSON *c;
        cJSON_ArrayForEach(c, cls)
        {
            char p[160];
            snprintf(p, sizeof p, "classes.%s.itl_ms", c->string);
            int i = class_index(mg, g, c->string);
            if (i >= 0)
                add_histogram(g, object(g, c, "classes", "itl_ms"), p, "histogram_us",
                              &mg->itl[i]);
        }
    }
    const cJSON *lv = object(g, root, "", "live");
    const cJSON *st = object(g, lv, "live", "attempts");
    for (int i = 0; i < REPORT_ST__COUNT; i++)
        mg->live.status[i] += (int64_t)count(g, st, "live.attempts", report_status_name(i));
    /* Reports from before rate_limit_headers lack it: none counted there. */
    const cJSON *rh = lv ? cJSON_GetObjectItemCaseSensitive(lv, "rate_limit_headers") : NULL;
    if (rh) {
        mg->live.header_errors += (int64_t)count(g, rh, "live.rate_limit_headers", "malformed");
        mg->live.header_error_answers +=
            (int64_t)count(g, rh, "live.rate_limit_headers", "answers");
        const cJSON *first = field(g, rh, "live.rate_limit_headers", "first");
        if (first && !cJSON_IsString(first))
            fail(g, "field live.rate_limit_headers.first is not a string");
        else if (first && !mg->live.header_first_error[0]) /* the first part's that has one */
            snprintf(mg->live.header_first_error, sizeof mg->live.header_first_error, "%s",
                     first->valuestring);
    }
    const cJSON *rd = lv ? cJSON_GetObjectItemCaseSensitive(lv, "redis") : NULL;
    if (rd)
        add_redis(g, mg, rd);
    const cJSON *sm = lv ? cJSON_GetObjectItemCaseSensitive(lv, "server_metrics") : NULL;
    if (sm) {
        mg->live.scrape = true;
        int64_t scrapes = (int64_t)count(g, sm, "live.server_metrics", "scrapes");
        int64_t failures = (int64_t)count(g, sm, "live.server_metrics", "scrape_failures");
        mg->live.scrapes += scrapes;
        mg->live.scrape_failures += failures;
        static const char *const gk[3] = {"num_requests_running", "num_requests_waiting",
                                          "kv_cache_usage"};
        struct report_gauge *gv[3] = {&mg->live.running, &mg->live.waiting,
                                      &mg->live.kv_cache_usage};
        for (int i = 0; i < 3; i++) {
            char p[96];
            snprintf(p, sizeof p, "live.server_metrics.%s", gk[i]);
            const cJSON *o = object(g, sm, "live.server_metrics", gk[i]);
            double max = number(g, o, p, "max"), mean = number(g, o, p, "mean");
            /* sum holds the scrape-weighted mean times the total weight, filled in at
             * the end (finish_live); here the weighted parts. */
            double w = (double)(scrapes - failures);
            if (w > 0) {
                if (!gv[i]->samples || max > gv[i]->max)
                    gv[i]->max = max;
                gv[i]->samples = 1;
                gv[i]->sum += mean * w;
                mg->gauge_w[i] += w;
            }
        }
    }
}

/* A simulation part's provider figures. */
static void add_server(struct merge *g, struct merged *mg, const cJSON *root)
{
    static const char *const lk[4] = {"rpm", "tpm", "tpd", "concurrency"};
    const cJSON *sv = object(g, root, "", "server");
    const cJSON *rl = object(g, sv, "server", "rate_limited");
    for (int i = 0; i < 4; i++)
        mg->x.server_429[i] += (int64_t)count(g, rl, "server.rate_limited", lk[i]);
    mg->x.server_503 += (int64_t)count(g, sv, "server", "overloaded");
    mg->x.server_faults += (int64_t)count(g, sv, "server", "faults");
    const cJSON *wt = object(g, sv, "server", "waited");
    mg->x.server_served += (int64_t)count(g, wt, "server.waited", "served");
    uint64_t before = mg->server_wait.count;
    double sum_before = mg->server_wait.sum;
    add_histogram(g, wt, "server.waited", "histogram_us", &mg->server_wait);
    mg->x.server_waited += (int64_t)(mg->server_wait.count - before);
    mg->x.server_wait_us += (int64_t)(mg->server_wait.sum - sum_before);
}

/* One side of a part's daily budget ("client" or "server"): null, or added in. */
static void add_budget(struct merge *g, struct merged *mg, const cJSON *bud, int side)
{
    const char *name = side == 0 ? "client" : "server";
    struct report_budget *b = side == 0 ? &mg->x.budget_client : &mg->x.budget_server;
    const cJSON *o = field(g, bud, "budget", name);
    if (!o || cJSON_IsNull(o))
        return;
    char p[32];
    snprintf(p, sizeof p, "budget.%s", name);
    int64_t limit = (int64_t)count(g, o, p, "tpd_tokens");
    const cJSON *enf = field(g, o, p, "enforce");
    const cJSON *method = field(g, o, p, "method");
    int64_t used = (int64_t)count(g, o, p, "used_tokens");
    if (g->bad)
        return;
    bool window = cJSON_IsString(enf) && strcmp(enf->valuestring, "window") == 0;
    if (b->limit_tokens && (b->limit_tokens != limit || b->window != window)) {
        fail(g, "%s is another budget (tpd_tokens %lld %s) than the earlier reports' "
                "(%lld %s): one budget's use cannot be added to another's",
             p, (long long)limit, window ? "window" : "bucket", (long long)b->limit_tokens,
             b->window ? "window" : "bucket");
        return;
    }
    b->limit_tokens = limit;
    b->window = window;
    b->used_tokens += used;
    if (cJSON_IsString(method) && strcmp(method->valuestring, "observed") == 0) {
        double at = number(g, o, p, "runs_out_s");
        if (at < mg->short_s[side])
            mg->short_s[side] = at;
    }
}

/* The SLO checks of a part: the union by key, first targets kept; actuals come later. */
static void add_slos(struct merge *g, struct merged *mg, const cJSON *root)
{
    const cJSON *s = object(g, root, "", "slo");
    const cJSON *checks = field(g, s, "slo", "checks");
    if (g->bad)
        return;
    const cJSON *c;
    cJSON_ArrayForEach(c, checks)
    {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(c, "name");
        const cJSON *key = cJSON_GetObjectItemCaseSensitive(c, "key");
        const cJSON *target = cJSON_GetObjectItemCaseSensitive(c, "target");
        if (!cJSON_IsString(name) || !cJSON_IsString(key) || !cJSON_IsNumber(target)) {
            fail(g, "slo.checks has an entry without name, key or target");
            return;
        }
        bool have = false;
        for (int i = 0; i < mg->n_slo; i++)
            have |= strcmp(mg->slo[i].key, key->valuestring) == 0;
        if (have)
            continue;
        if (mg->n_slo == REPORT_MAX_SLOS) {
            fail(g, "more than %d SLO checks in all", REPORT_MAX_SLOS);
            return;
        }
        struct slo_result *r = &mg->slo[mg->n_slo++];
        snprintf(r->name, sizeof r->name, "%s", name->valuestring);
        snprintf(r->key, sizeof r->key, "%s", key->valuestring);
        r->target = target->valuedouble;
    }
}

/* Evaluate the SLOs on the merged figures, as report_slos does on a run's. */
static void eval_slos(struct merge *g, struct merged *mg)
{
    for (int i = 0; i < mg->n_slo; i++) {
        struct slo_result *r = &mg->slo[i];
        const struct metrics_row *row = &mg->scopes[0].row;
        const struct metrics_counts *c = &row->c;
        if (strcmp(r->key, "scenario.slo_zero_lost") == 0) {
            uint64_t lost = c->ended[OUTCOME_FAILED] + c->ended[OUTCOME_REJECTED] +
                            c->ended[OUTCOME_TIMED_OUT];
            r->unit = "requests";
            r->actual = (double)lost;
            r->ok = lost == 0;
            continue;
        }
        if (strcmp(r->key, "scenario.slo_max_429_share") == 0) {
            r->unit = "share";
            r->actual = share(c->saw_429, c->arrivals);
            r->ok = r->actual <= r->target;
            continue;
        }
        size_t n = strlen(r->key);
        if (strncmp(r->key, "class.", 6) == 0 && n > 14 &&
            strcmp(r->key + n - 8, ".slo_p95") == 0) {
            char cls[SCENARIO_NAME_MAX];
            snprintf(cls, sizeof cls, "%.*s", (int)(n - 14), r->key + 6);
            row = NULL;
            for (int k = 0; k < mg->n_classes; k++)
                if (strcmp(mg->scopes[k + 1].name, cls) == 0)
                    row = &mg->scopes[k + 1].row;
            if (!row) {
                fail(g, "SLO %s names a class no report has", r->key);
                return;
            }
        } else if (strcmp(r->key, "scenario.slo_p95") != 0) {
            fail(g, "SLO key %s is not one this ratelab knows", r->key);
            return;
        }
        r->unit = "ms";
        r->actual = (double)row->latency_p95_us / US_PER_MS;
        r->ok = row->latency_p95_us <= (int64_t)llround(r->target * US_PER_MS);
    }
}

static struct run_instance_stats *new_instance(struct merged *mg)
{
    if (mg->n_inst == mg->cap_inst) {
        mg->cap_inst = mg->cap_inst ? 2 * mg->cap_inst : 16;
        mg->inst = xrealloc(mg->inst, (size_t)mg->cap_inst * sizeof *mg->inst);
    }
    struct run_instance_stats *st = &mg->inst[mg->n_inst++];
    memset(st, 0, sizeof *st);
    return st;
}

/* A part's client instances: its "instances.each", or the part as one instance. */
static void add_instances(struct merge *g, struct merged *mg, const cJSON *root)
{
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "instances");
    if (!in) {
        struct run_instance_stats *st = new_instance(mg);
        const cJSON *rq = object(g, root, "", "requests");
        st->arrived = (int64_t)count(g, rq, "requests", "arrived");
        for (int i = 0; i < OUTCOME__COUNT; i++)
            st->ended[i] = (int64_t)count(g, rq, "requests", outcome_key[i]);
        st->throttled = (int64_t)part_of(
            g, number(g, object(g, root, "", "hit_rate"), "hit_rate", "client_throttled"),
            (uint64_t)st->arrived, "hit_rate.client_throttled");
        const cJSON *at = object(g, root, "", "attempts");
        st->sent = (int64_t)count(g, at, "attempts", "sent");
        st->http_429 = (int64_t)count(g, at, "attempts", "http_429");
        return;
    }
    const cJSON *lim = field(g, in, "instances", "limits");
    const cJSON *each = field(g, in, "instances", "each");
    uint64_t n = count(g, in, "instances", "count");
    if (g->bad)
        return;
    enum instance_limits l = INSTANCE_LIMITS_FULL;
    bool known = false;
    for (int k = INSTANCE_LIMITS_FULL; k <= INSTANCE_LIMITS_SHARED; k++)
        if (cJSON_IsString(lim) && strcmp(lim->valuestring, report_instance_limits_name(k)) == 0) {
            l = k;
            known = true;
        }
    if (!known || !cJSON_IsArray(each) || (uint64_t)cJSON_GetArraySize(each) != n) {
        fail(g, "instances: limits is not full, split or shared, or each does not list count "
                "instances");
        return;
    }
    if (mg->has_inst && l != mg->inst_limits) {
        fail(g, "instances.limits = %s, an earlier report's are %s: instances under different "
                "limits cannot be added up as one run",
             report_instance_limits_name(l), report_instance_limits_name(mg->inst_limits));
        return;
    }
    mg->has_inst = true;
    mg->inst_limits = l;
    const cJSON *e;
    cJSON_ArrayForEach(e, each)
    {
        struct run_instance_stats *st = new_instance(mg);
        st->arrived = (int64_t)count(g, e, "instances.each[]", "arrived");
        for (int i = 0; i < OUTCOME__COUNT; i++)
            st->ended[i] = (int64_t)count(g, e, "instances.each[]", outcome_key[i]);
        st->throttled = (int64_t)count(g, e, "instances.each[]", "client_throttled");
        st->sent = (int64_t)count(g, e, "instances.each[]", "attempts_sent");
        st->http_429 = (int64_t)count(g, e, "instances.each[]", "http_429");
    }
}

/* Read part `root` (named g->name) into mg; the first part sets the run's identity. */
static void add_part(struct merge *g, struct merged *mg, const cJSON *root, bool first)
{
    enum kind k = kind_of(root);
    if (first) {
        const cJSON *sc = field(g, root, "", "scenario");
        const cJSON *seed = field(g, root, "", "seed");
        if (g->bad)
            return;
        mg->scenario = cJSON_IsString(sc) ? sc->valuestring : "";
        mg->seed = cJSON_IsString(seed) ? strtoull(seed->valuestring, NULL, 10)
                                        : (uint64_t)count(g, root, "", "seed");
        mg->window_us = us_of_s(number(g, root, "", "window_s"));
        mg->kind = k;
    } else if (k != mg->kind) {
        fail(g, "%s report, the first one is %s: merge reports of one kind", kind_name(k),
             kind_name(mg->kind));
        return;
    }
    int64_t dur = us_of_s(number(g, root, "", "duration_s"));
    if (dur > mg->duration_us)
        mg->duration_us = dur;
    int64_t end = us_of_s(number(g, root, "", "end_s"));
    scope_add(g, &mg->scopes[0], root, "", end);
    const cJSON *cls = object(g, root, "", "classes");
    const cJSON *c;
    cJSON_ArrayForEach(c, cls)
    {
        char p[160];
        snprintf(p, sizeof p, "classes.%s", c->string);
        int i = class_index(mg, g, c->string);
        if (i < 0)
            return;
        scope_add(g, &mg->scopes[i + 1], c, p, end);
    }
    add_instances(g, mg, root);
    if (k == KIND_LIVE)
        add_live(g, mg, root);
    if (k == KIND_SIM)
        add_server(g, mg, root);
    const cJSON *bud = cJSON_GetObjectItemCaseSensitive(root, "budget");
    if (bud) {
        add_budget(g, mg, bud, 0);
        add_budget(g, mg, bud, 1);
    }
    const cJSON *tr = cJSON_GetObjectItemCaseSensitive(root, "trace");
    if (tr) {
        mg->traced = true;
        mg->x.trace_skipped += (int64_t)count(g, tr, "trace", "skipped");
    }
    add_slos(g, mg, root);
}

/* The latest end among the parts: every part's queue weight needs it first. */
static int64_t latest_end(struct merge *g, cJSON *const *roots, const char *const *names, int n)
{
    int64_t end = 0;
    for (int i = 0; i < n && !g->bad; i++) {
        g->name = names[i];
        double e = number(g, roots[i], "", "end_s");
        if (!(e >= 0 && e < 1e12))
            fail(g, "end_s is not a time in s");
        int64_t us = us_of_s(e);
        if (us > end)
            end = us;
    }
    return end;
}

int report_merge(FILE *out, const char *const *names, const char *const *texts, int n,
                 char *err, size_t errlen)
{
    assert(n >= 1);
    struct merge *g = xcalloc(1, sizeof *g);
    g->err = err;
    g->errlen = errlen;
    histogram_init(&g->scratch);
    cJSON **roots = xcalloc((size_t)n, sizeof *roots);
    for (int i = 0; i < n && !g->bad; i++) {
        g->name = names[i];
        roots[i] = cJSON_Parse(texts[i]);
        if (!roots[i])
            fail(g, "not JSON (a ratelab report is a JSON document)");
        else
            check_format(g, roots[i]);
    }
    g->end_us = latest_end(g, roots, names, n);
    struct merged *mg = xcalloc(1, sizeof *mg);
    mg->scopes = xmalloc((SCENARIO_MAX_CLASSES + 1) * sizeof *mg->scopes);
    scope_init(&mg->scopes[0], "");
    histogram_init(&mg->send_lag);
    histogram_init(&mg->server_wait);
    mg->short_s[0] = mg->short_s[1] = INFINITY;
    for (int i = 0; i < n && !g->bad; i++) {
        g->name = names[i];
        add_part(g, mg, roots[i], i == 0);
    }
    int rc = -EINVAL;
    if (!g->bad) {
        g->name = "merge";
        scope_finish(&mg->scopes[0], g->end_us);
        for (int i = 0; i < mg->n_classes; i++)
            scope_finish(&mg->scopes[i + 1], g->end_us);
        eval_slos(g, mg);
    }
    if (!g->bad) {
        for (int s = 0; s < 2; s++) {
            struct report_budget *b = s == 0 ? &mg->x.budget_client : &mg->x.budget_server;
            b->short_us = isfinite(mg->short_s[s]) ? us_of_s(mg->short_s[s]) : -1;
        }
        mg->x.end_us = g->end_us;
        if (mg->has_inst) {
            mg->x.instances = mg->inst;
            mg->x.n_instances = mg->n_inst;
            mg->x.instance_limits = mg->inst_limits;
        }
        mg->x.server_wait = mg->kind == KIND_SIM ? &mg->server_wait : NULL;
        if (mg->kind == KIND_LIVE) {
            mg->live.send_lag = &mg->send_lag;
            mg->live.itl = mg->has_itl ? mg->itl : NULL;
            mg->live.redis = mg->has_redis ? &mg->redis : NULL;
            struct report_gauge *gv[3] = {&mg->live.running, &mg->live.waiting,
                                          &mg->live.kv_cache_usage};
            /* sum / samples is the scrape-weighted mean: Σ mean_i (w_i / W), so one
             * part's mean comes back as it was (w / w = 1). */
            for (int i = 0; i < 3; i++)
                if (gv[i]->samples)
                    gv[i]->sum /= mg->gauge_w[i];
            mg->x.live = &mg->live;
        }
        mg->all = (struct report_scope){.row = mg->scopes[0].row,
                                        .lat = &mg->scopes[0].lat,
                                        .ttft = &mg->scopes[0].ttft};
        for (int i = 0; i < mg->n_classes; i++)
            mg->classes[i] = (struct report_scope){.name = mg->scopes[i + 1].name,
                                                   .row = mg->scopes[i + 1].row,
                                                   .lat = &mg->scopes[i + 1].lat,
                                                   .ttft = &mg->scopes[i + 1].ttft};
        struct report_doc d = {.scenario = mg->scenario,
                               .seed = mg->seed,
                               .duration_us = mg->duration_us,
                               .end_us = g->end_us,
                               .window_us = mg->window_us,
                               .all = mg->all,
                               .classes = mg->classes,
                               .n_classes = mg->n_classes,
                               .x = mg->kind != KIND_BARE ? &mg->x : NULL,
                               .traced = mg->traced,
                               .slo = mg->slo,
                               .n_slo = mg->n_slo};
        rc = report_json_doc(out, &d) < 0 ? -EIO : 0;
    }
    for (int i = 0; i < n; i++)
        cJSON_Delete(roots[i]);
    free(roots);
    free(mg->scopes);
    free(mg->inst);
    free(mg);
    free(g);
    return rc;
}
