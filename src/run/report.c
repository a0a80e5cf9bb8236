#include "config.h"

#include "report.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"
#include "util.h"

static const char *const outcome_key[OUTCOME__COUNT] = {"succeeded", "failed", "rejected",
                                                         "timed_out", "cancelled"};

static double ms(int64_t us)
{
    return (double)us / US_PER_MS;
}


static uint64_t lost(const struct metrics_counts *c)
{
    return c->ended[OUTCOME_FAILED] + c->ended[OUTCOME_REJECTED] + c->ended[OUTCOME_TIMED_OUT];
}

/* ---- SLOs ------------------------------------------------------------------ */

static void slo_add(struct slo_result *r, const char *name, const char *key, double target,
                    double actual, const char *unit, bool ok)
{
    snprintf(r->name, sizeof r->name, "%s", name);
    snprintf(r->key, sizeof r->key, "%s", key);
    r->target = target;
    r->actual = actual;
    r->unit = unit;
    r->ok = ok;
}

int report_slos(const struct scenario *sc, const metrics *m, struct slo_result *out)
{
    int n = 0;
    struct metrics_row t;
    metrics_total(m, -1, &t);
    if (sc->slo_p95_us > 0)
        slo_add(&out[n++], "p95", "scenario.slo_p95", ms(sc->slo_p95_us), ms(t.latency_p95_us),
                "ms", t.latency_p95_us <= sc->slo_p95_us);
    if (sc->slo_zero_lost)
        slo_add(&out[n++], "zero_lost", "scenario.slo_zero_lost", 0, (double)lost(&t.c),
                "requests", lost(&t.c) == 0);
    if (sc->slo_max_429_share >= 0) {
        double sh = share(t.c.saw_429, t.c.arrivals);
        slo_add(&out[n++], "max_429_share", "scenario.slo_max_429_share", sc->slo_max_429_share,
                sh, "share", sh <= sc->slo_max_429_share);
    }
    for (int i = 0; i < sc->n_classes && i < metrics_classes(m); i++) {
        const struct class_config *cl = &sc->classes[i];
        if (cl->slo_p95_us <= 0)
            continue;
        struct metrics_row c;
        metrics_total(m, i, &c);
        char name[96], key[96];
        snprintf(name, sizeof name, "class %s p95", cl->name);
        snprintf(key, sizeof key, "class.%s.slo_p95", cl->name);
        slo_add(&out[n++], name, key, ms(cl->slo_p95_us), ms(c.latency_p95_us), "ms",
                c.latency_p95_us <= cl->slo_p95_us);
    }
    return n;
}

/* ---- JSON --------------------------------------------------------------------- */

static cJSON *obj(cJSON *parent, const char *name)
{
    cJSON *o = cJSON_CreateObject();
    cJSON_AddItemToObject(parent, name, o);
    return o;
}

static void num(cJSON *o, const char *name, double v)
{
    cJSON_AddNumberToObject(o, name, v);
}

/* µs to ms, rounded to the µs so the text stays short and exact. */
static void num_ms(cJSON *o, const char *name, int64_t us)
{
    cJSON_AddNumberToObject(o, name, ms(us));
}

/*
 * An integer as cJSON would print it, without its per-number cost. cJSON prints every
 * number with sprintf("%1.15g") and reads it back with sscanf to check it (about 3,600
 * instructions a number: the report's histogram buckets, thousands of integers, cost
 * ~10 ms a run that way). For an integer of magnitude below 10^15, "%1.15g" is its plain
 * decimal digits and reads back exactly, so the same text written here as a raw item
 * is the same output byte for byte; anything larger goes through cJSON as before.
 */
static cJSON *int_item(int64_t v)
{
    if (v <= -1000000000000000 || v >= 1000000000000000)
        return cJSON_CreateNumber((double)v);
    char buf[24], *p = buf + sizeof buf;
    uint64_t u = v < 0 ? (uint64_t)-v : (uint64_t)v;
    *--p = '\0';
    do
        *--p = (char)('0' + u % 10);
    while ((u /= 10) != 0);
    if (v < 0)
        *--p = '-';
    return cJSON_CreateRaw(p);
}

/*
 * A histogram in the report's compact form (doc/report.md, "Histograms"): count, the
 * exact min, max and sum, and the non-empty buckets as a flat [index, count, ...]
 * array, ascending; report_merge rebuilds it with histogram_load.
 */
static void json_histogram(cJSON *o, const char *name, const struct histogram *h)
{
    cJSON *g = obj(o, name);
    num(g, "count", (double)h->count);
    num(g, "min", h->count ? (double)h->min : 0);
    num(g, "max", h->count ? (double)h->max : 0);
    num(g, "sum", h->count ? h->sum : 0);
    cJSON *b = cJSON_CreateArray();
    for (int i = h->lo; i <= h->hi; i++)
        if (h->counts[i]) {
            cJSON_AddItemToArray(b, int_item(i));
            uint64_t c = h->counts[i];
            cJSON_AddItemToArray(b, c < 1000000000000000 ? int_item((int64_t)c)
                                                         : cJSON_CreateNumber((double)c));
        }
    cJSON_AddItemToObject(g, "buckets", b);
}

static void json_scope(cJSON *o, const struct report_scope *sc)
{
    const struct metrics_row *r = &sc->row;
    const struct metrics_counts *c = &r->c;
    cJSON *q = obj(o, "requests");
    num(q, "arrived", (double)c->arrivals);
    for (int i = 0; i < OUTCOME__COUNT; i++)
        num(q, outcome_key[i], (double)c->ended[i]);
    cJSON *h = obj(o, "hit_rate");
    num(h, "client_throttled", share(c->client_throttled, c->arrivals));
    num(h, "server_429", share(c->saw_429, c->arrivals));
    cJSON *l = obj(o, "latency_ms");
    num_ms(l, "p50", r->latency_p50_us);
    num_ms(l, "p95", r->latency_p95_us);
    num_ms(l, "p99", r->latency_p99_us);
    num_ms(l, "max", r->latency_max_us);
    num(l, "mean", r->latency_mean_us / US_PER_MS);
    json_histogram(l, "histogram_us", sc->lat);
    cJSON *tt = obj(o, "ttft_ms");
    num_ms(tt, "p50", r->ttft_p50_us);
    num_ms(tt, "p95", r->ttft_p95_us);
    num_ms(tt, "p99", r->ttft_p99_us);
    json_histogram(tt, "histogram_us", sc->ttft);
    cJSON *th = obj(o, "throughput");
    num(th, "requests_per_s", r->requests_per_s);
    num(th, "tokens_per_s", r->tokens_per_s);
    cJSON *qd = obj(o, "queue_depth");
    num(qd, "max", (double)r->queue_max);
    num(qd, "mean", r->queue_mean);
    num(o, "retries", (double)c->retries);
    cJSON *a = obj(o, "attempts");
    num(a, "sent", (double)c->sends);
    num(a, "http_429", (double)c->http_429);
    num(a, "errors", (double)c->errors);
    num(a, "inflight_max", (double)r->inflight_max);
    cJSON *tk = obj(o, "tokens");
    num(tk, "prompt", (double)c->prompt_tokens);
    num(tk, "output", (double)c->output_tokens);
}

static const char *const status_key[REPORT_ST__COUNT] = {
    "2xx",     "429",   "503",     "5xx", "4xx",       "other", "malformed",
    "refused", "reset", "timeout", "tls", "transport", "aborted"};

const char *report_status_name(enum report_status s)
{
    return s >= 0 && s < REPORT_ST__COUNT ? status_key[s] : "?";
}

static void json_quantiles(cJSON *o, const char *name, const struct histogram *h,
                           const double *qs, const char *const *keys, int n)
{
    cJSON *g = obj(o, name);
    for (int i = 0; i < n; i++)
        num_ms(g, keys[i], histogram_quantile(h, qs[i]));
    num_ms(g, "max", h->count ? h->max : 0);
    num(g, "count", (double)h->count);
    json_histogram(g, "histogram_us", h);
}

static void json_gauge(cJSON *o, const char *name, const struct report_gauge *g)
{
    cJSON *v = obj(o, name);
    num(v, "max", g->samples ? g->max : 0);
    num(v, "mean", g->samples ? g->sum / (double)g->samples : 0);
}

/* A live run's own figures: send lag, inter-token latency, status classes, server gauges. */
static void json_live(cJSON *root, const struct report_doc *d, const struct report_live *lv)
{
    static const double lag_q[] = {0.50, 0.99};
    static const char *const lag_k[] = {"p50", "p99"};
    static const double itl_q[] = {0.50, 0.95, 0.99};
    static const char *const itl_k[] = {"p50", "p95", "p99"};
    json_quantiles(root, "send_lag_ms", lv->send_lag, lag_q, lag_k, 2);
    if (lv->itl) {
        struct histogram all;
        histogram_init(&all);
        cJSON *cls = cJSON_GetObjectItemCaseSensitive(root, "classes");
        for (int i = 0; i < d->n_classes; i++) {
            histogram_merge(&all, &lv->itl[i]);
            json_quantiles(cJSON_GetObjectItemCaseSensitive(cls, d->classes[i].name), "itl_ms",
                           &lv->itl[i], itl_q, itl_k, 3);
        }
        json_quantiles(root, "itl_ms", &all, itl_q, itl_k, 3);
    }
    cJSON *l = obj(root, "live");
    cJSON *st = obj(l, "attempts");
    for (int i = 0; i < REPORT_ST__COUNT; i++)
        num(st, status_key[i], (double)lv->status[i]);
    cJSON *rh = obj(l, "rate_limit_headers");
    num(rh, "malformed", (double)lv->header_errors);
    num(rh, "answers", (double)lv->header_error_answers);
    cJSON_AddStringToObject(rh, "first", lv->header_first_error);
    if (lv->scrape) {
        cJSON *sv = obj(l, "server_metrics");
        num(sv, "scrapes", (double)lv->scrapes);
        num(sv, "scrape_failures", (double)lv->scrape_failures);
        json_gauge(sv, "num_requests_running", &lv->running);
        json_gauge(sv, "num_requests_waiting", &lv->waiting);
        json_gauge(sv, "kv_cache_usage", &lv->kv_cache_usage);
    }
    if (lv->redis) {
        const struct report_redis *rd = lv->redis;
        cJSON *o = obj(l, "redis");
        cJSON_AddStringToObject(o, "failure", rd->failure ? "open" : "closed");
        num(o, "batch", (double)rd->batch);
        num(o, "round_trips", (double)rd->round_trips);
        num(o, "releases", (double)rd->releases);
        num(o, "renewals", (double)rd->renewals);
        num(o, "admitted_redis", (double)rd->admitted_redis);
        num(o, "admitted_reserved", (double)rd->admitted_reserved);
        num(o, "returned_reserved", (double)rd->returned_reserved);
        num(o, "pool_waits", (double)rd->pool_waits);
        num(o, "release_wakes", (double)rd->release_wakes);
        num(o, "closed_waits", (double)rd->closed_waits);
        num(o, "open_admitted", (double)rd->open_admitted);
        num(o, "open_share_n", (double)rd->open_share_n);
        num(o, "timeouts", (double)rd->timeouts);
        num(o, "disconnects", (double)rd->disconnects);
        num(o, "errors", (double)rd->errors);
        num(o, "processes_max", (double)rd->processes_max);
    }
}

/* ---- client instances ------------------------------------------------------ */

const char *report_outcome_key(enum outcome o)
{
    assert(o >= 0 && o < OUTCOME__COUNT);
    return outcome_key[o];
}

const char *report_instance_limits_name(enum instance_limits l)
{
    switch (l) {
    case INSTANCE_LIMITS_SPLIT: return "split";
    case INSTANCE_LIMITS_SHARED: return "shared";
    default: return "full";
    }
}

/* Several client instances: how many, their limits, and each one's counts. */
static void json_instances(cJSON *root, const struct report_extra *x)
{
    cJSON *in = obj(root, "instances");
    num(in, "count", x->n_instances);
    cJSON_AddStringToObject(in, "limits", report_instance_limits_name(x->instance_limits));
    cJSON *each = cJSON_CreateArray();
    for (int k = 0; k < x->n_instances; k++) {
        const struct run_instance_stats *st = &x->instances[k];
        cJSON *o = cJSON_CreateObject();
        num(o, "arrived", (double)st->arrived);
        for (int i = 0; i < OUTCOME__COUNT; i++)
            num(o, outcome_key[i], (double)st->ended[i]);
        num(o, "client_throttled", (double)st->throttled);
        num(o, "attempts_sent", (double)st->sent);
        num(o, "http_429", (double)st->http_429);
        cJSON_AddItemToArray(each, o);
    }
    cJSON_AddItemToObject(in, "each", each);
}

/* ---- daily budget --------------------------------------------------------- */

bool report_budget_forecast(const struct report_budget *b, int64_t duration_us,
                            struct report_forecast *out)
{
    if (b->limit_tokens <= 0)
        return false;
    double limit = (double)b->limit_tokens, day_s = (double)US_PER_DAY / US_PER_S;
    out->rate_tokens_per_s =
        duration_us > 0 ? (double)b->used_tokens / ((double)duration_us / US_PER_S) : 0;
    out->observed = b->short_us >= 0;
    if (out->observed) {
        out->at_s = (double)b->short_us / US_PER_S;
    } else {
        /* A bucket refills while it drains (limit per day), a window does not. */
        double drain = out->rate_tokens_per_s - (b->window ? 0 : limit / day_s);
        out->at_s = drain > 0 ? limit / drain : INFINITY;
    }
    out->lasts_day = out->at_s >= day_s;
    return true;
}

/* Seconds to the ms, so the JSON does not carry float noise; null for never. */
static void num_s_or_null(cJSON *o, const char *name, double s, bool null)
{
    if (null || !isfinite(s))
        cJSON_AddNullToObject(o, name);
    else
        num(o, name, round(s * 1000) / 1000);
}

/* One side of "budget" (null when it sets no TPD); *first = its exhaustion if earlier. */
static void json_budget_side(cJSON *bud, const char *name, const struct report_budget *b,
                             int64_t duration_us, double *first)
{
    struct report_forecast f;
    if (!report_budget_forecast(b, duration_us, &f)) {
        cJSON_AddNullToObject(bud, name);
        return;
    }
    cJSON *o = obj(bud, name);
    num(o, "tpd_tokens", (double)b->limit_tokens);
    cJSON_AddStringToObject(o, "enforce", b->window ? "window" : "bucket");
    num(o, "used_tokens", (double)b->used_tokens);
    num(o, "rate_tokens_per_s", round(f.rate_tokens_per_s * 1000) / 1000);
    cJSON_AddStringToObject(o, "method", f.observed ? "observed" : "extrapolated");
    num_s_or_null(o, "runs_out_s", f.at_s, false);
    num_s_or_null(o, "tpd_exhausted_at_s", f.at_s, f.lasts_day);
    if (!f.lasts_day && f.at_s < *first)
        *first = f.at_s;
}

int report_json(FILE *out, const struct scenario *sc, const metrics *m,
                const struct report_extra *x)
{
    struct report_scope cls[SCENARIO_MAX_CLASSES];
    struct slo_result slo[REPORT_MAX_SLOS];
    struct report_doc d = {.scenario = sc->name,
                           .seed = sc->seed,
                           .duration_us = sc->duration_us,
                           .window_us = sc->window_us,
                           .classes = cls,
                           .n_classes = sc->n_classes,
                           .x = x,
                           .slo = slo};
    metrics_total(m, -1, &d.all.row);
    d.end_us = d.all.row.end_us;
    d.all.lat = metrics_latency_hist(m, -1);
    d.all.ttft = metrics_ttft_hist(m, -1);
    for (int i = 0; i < sc->n_classes; i++) {
        cls[i].name = sc->classes[i].name;
        metrics_total(m, i, &cls[i].row);
        cls[i].lat = metrics_latency_hist(m, i);
        cls[i].ttft = metrics_ttft_hist(m, i);
        d.traced |= sc->classes[i].arrival.kind == ARRIVAL_TRACE;
    }
    d.n_slo = report_slos(sc, m, slo);
    return report_json_doc(out, &d);
}

int report_json_doc(FILE *out, const struct report_doc *d)
{
    const struct report_extra *x = d->x;
    cJSON *root = cJSON_CreateObject();
    num(root, "report_version", REPORT_VERSION);
    cJSON_AddStringToObject(root, "scenario", d->scenario);
    if (d->seed <= (UINT64_C(1) << 53)) {
        num(root, "seed", (double)d->seed);
    } else {
        char buf[32];
        snprintf(buf, sizeof buf, "%" PRIu64, d->seed);
        cJSON_AddStringToObject(root, "seed", buf);
    }
    num(root, "duration_s", (double)d->duration_us / US_PER_S);
    num(root, "end_s", (double)d->end_us / US_PER_S);
    num(root, "window_s", (double)d->window_us / US_PER_S);
    /* What a reader needs to rebuild the histograms (histogram.h). */
    cJSON *hf = obj(root, "histogram_format");
    cJSON_AddStringToObject(hf, "unit", "us");
    num(hf, "sub_bits", HISTOGRAM_SUB_BITS);
    num(hf, "max_bits", HISTOGRAM_MAX_BITS);
    json_scope(root, &d->all);
    cJSON *cls = obj(root, "classes");
    for (int i = 0; i < d->n_classes; i++)
        json_scope(obj(cls, d->classes[i].name), &d->classes[i]);
    if (x && x->n_instances > 1)
        json_instances(root, x);
    if (x && x->live)
        json_live(root, d, x->live);
    if (x && !x->live) {
        cJSON *sv = obj(root, "server");
        cJSON *rl = obj(sv, "rate_limited");
        num(rl, "rpm", (double)x->server_429[0]);
        num(rl, "tpm", (double)x->server_429[1]);
        num(rl, "tpd", (double)x->server_429[2]);
        num(rl, "concurrency", (double)x->server_429[3]);
        num(sv, "overloaded", (double)x->server_503);
        num(sv, "faults", (double)x->server_faults);
        /* Attempts that waited in the provider's queue for a batch slot: their share of
         * the served ones, and the mean and p95 of their wait (0 when none waited). */
        cJSON *wt = obj(sv, "waited");
        num(wt, "share", share(x->server_waited, x->server_served));
        num_ms(wt, "mean_ms", x->server_waited > 0 ? x->server_wait_us / x->server_waited : 0);
        num_ms(wt, "p95_ms", x->server_wait && x->server_waited > 0
                                 ? histogram_quantile(x->server_wait, 0.95)
                                 : 0);
        num(wt, "served", (double)x->server_served);
        if (x->server_wait)
            json_histogram(wt, "histogram_us", x->server_wait);
    }
    if (x) {
        cJSON *bud = obj(root, "budget");
        double first = INFINITY;
        int64_t span = d->end_us < d->duration_us ? d->end_us : d->duration_us;
        cJSON_AddNullToObject(bud, "tpd_exhausted_at_s"); /* first in the object; set below */
        json_budget_side(bud, "client", &x->budget_client, span, &first);
        json_budget_side(bud, "server", &x->budget_server, span, &first);
        if (isfinite(first))
            cJSON_ReplaceItemInObjectCaseSensitive(bud, "tpd_exhausted_at_s",
                                                   cJSON_CreateNumber(round(first * 1000) / 1000));
    }
    if (x && d->traced) /* only with a trace class: other reports keep their shape */
        num(obj(root, "trace"), "skipped", (double)x->trace_skipped);
    cJSON *s = obj(root, "slo");
    bool all_ok = true;
    cJSON *checks = cJSON_CreateArray();
    for (int i = 0; i < d->n_slo; i++) {
        const struct slo_result *r = &d->slo[i];
        cJSON *c = cJSON_CreateObject();
        cJSON_AddStringToObject(c, "name", r->name);
        cJSON_AddStringToObject(c, "key", r->key);
        num(c, "target", r->target);
        num(c, "actual", r->actual);
        cJSON_AddStringToObject(c, "unit", r->unit);
        cJSON_AddBoolToObject(c, "ok", r->ok);
        cJSON_AddItemToArray(checks, c);
        all_ok &= r->ok;
    }
    cJSON_AddBoolToObject(s, "ok", all_ok);
    cJSON_AddItemToObject(s, "checks", checks);
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    if (!text)
        return -ENOMEM;
    int rc = fputs(text, out) < 0 || fputc('\n', out) == EOF ? -EIO : 0;
    free(text);
    return rc;
}

/* ---- CSV ---------------------------------------------------------------------- */

static const char *const csv_cols[] = {
    "arrivals",       "sends",           "succeeded",       "failed",         "rejected",
    "timed_out",      "cancelled",       "client_throttled", "http_429",      "saw_429",
    "retries",        "errors",          "queue_max",       "queue_mean",     "inflight_max",
    "inflight_end",   "latency_p50_ms",  "latency_p95_ms",  "latency_p99_ms", "latency_max_ms",
    "latency_mean_ms", "ttft_p50_ms",    "ttft_p95_ms",     "ttft_p99_ms",    "requests_per_s",
    "tokens_per_s",
};
#define N_CSV_COLS (sizeof csv_cols / sizeof csv_cols[0])

void report_csv_init(struct report_csv *c, FILE *out, const struct scenario *sc)
{
    c->out = out;
    c->sc = sc;
    c->header_done = false;
    c->n_classes = sc->n_classes;
    c->server = NULL;
    c->provider = false;
}

static void csv_header(struct report_csv *c, const struct metrics_row *first)
{
    c->provider = first->provider_waiting_max >= 0; /* the overall row comes first */
    fputs("window_start_s,window_end_s", c->out);
    for (int k = -1; k < c->n_classes; k++)
        for (size_t i = 0; i < N_CSV_COLS; i++) {
            if (k < 0)
                fprintf(c->out, ",%s", csv_cols[i]);
            else
                fprintf(c->out, ",%s.%s", c->sc->classes[k].name, csv_cols[i]);
        }
    if (c->provider)
        fputs(",provider_waiting_max,provider_waiting_mean", c->out);
    if (c->server)
        fputs(",server_running,server_waiting,server_kv_cache_usage", c->out);
    fputc('\n', c->out);
    c->header_done = true;
}

void report_csv_sink(void *ctx, int cls, const struct metrics_row *r)
{
    struct report_csv *c = ctx;
    FILE *f = c->out;
    if (!c->header_done)
        csv_header(c, r);
    if (cls < 0) {
        fprintf(f, "%.6f,%.6f", (double)r->start_us / US_PER_S, (double)r->end_us / US_PER_S);
        c->provider_waiting_max = r->provider_waiting_max;
        c->provider_waiting_mean = r->provider_waiting_mean;
    }
    const struct metrics_counts *k = &r->c;
    fprintf(f,
            ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64
            ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRId64 ",%.4f,%" PRId64
            ",%" PRId64 ",%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f,%.3f",
            k->arrivals, k->sends, k->ended[OUTCOME_SUCCEEDED], k->ended[OUTCOME_FAILED],
            k->ended[OUTCOME_REJECTED], k->ended[OUTCOME_TIMED_OUT], k->ended[OUTCOME_CANCELLED],
            k->client_throttled, k->http_429, k->saw_429, k->retries, k->errors, r->queue_max,
            r->queue_mean, r->inflight_max, r->inflight_end, ms(r->latency_p50_us),
            ms(r->latency_p95_us), ms(r->latency_p99_us), ms(r->latency_max_us),
            r->latency_mean_us / US_PER_MS, ms(r->ttft_p50_us), ms(r->ttft_p95_us),
            ms(r->ttft_p99_us), r->requests_per_s, r->tokens_per_s);
    if (cls == c->n_classes - 1) {
        if (c->provider)
            fprintf(f, ",%" PRId64 ",%.4f", c->provider_waiting_max, c->provider_waiting_mean);
        if (c->server)
            fprintf(f, ",%" PRId64 ",%" PRId64 ",%.4f", c->server->running, c->server->waiting,
                    c->server->kv_cache_usage);
        fputc('\n', f);
    }
}
