#include "config.h"

#include "report.h"

#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "report_int.h"
#include "util.h"

/* ---- human summary ---------------------------------------------------------- */

/*
 * Laid out for a width and never wider, so it reads the same in a terminal, a CI
 * log or a ticket. Text is built as segments separated by '\t': each tab is a
 * place the line may break, shown as one space when it does not. A line that
 * would pass the width goes on below, indented under its values. Class blocks
 * sit side by side when more than one fits; their fields stay aligned.
 */

#define SUM_MIN_WIDTH     60
#define SUM_MAX_WIDTH     250
#define SUM_DEFAULT_WIDTH 80
#define SUM_LINE_BYTES    320 /* one line: SUM_MAX_WIDTH columns plus colour escapes */
#define SUM_LINES         6   /* lines one field of a block (or one top-level item) may take */
#define SUM_GAP           4   /* columns between blocks side by side */
#define SUM_LABEL         12  /* a field's label, dots included: "outcomes...." */
#define SUM_VALUES        16  /* where a field's values start: "  outcomes....: " */

#define SGR_FAIL  "\033[1;31m"
#define SGR_OK    "\033[32m"
#define SGR_RESET "\033[0m"

/* Lines of at most a width; w[i] is line i's width in columns (escapes excluded). */
struct sum_lines {
    int n;
    int w[SUM_LINES];
    char s[SUM_LINES][SUM_LINE_BYTES];
};

/* Text being built: segments separated by '\t'. Silently cut at its size (never reached). */
struct sum_text {
    size_t n;
    char s[1024];
};

static int summary_width(FILE *out)
{
    long w = 0;
    const char *env = getenv("COLUMNS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v > 0)
            w = v;
    }
    if (w == 0) {
        struct winsize ws;
        int fd = fileno(out);
        if (fd >= 0 && isatty(fd) && ioctl(fd, TIOCGWINSZ, &ws) == 0 && ws.ws_col > 0)
            w = ws.ws_col;
        else
            w = SUM_DEFAULT_WIDTH;
    }
    return w < SUM_MIN_WIDTH ? SUM_MIN_WIDTH : w > SUM_MAX_WIDTH ? SUM_MAX_WIDTH : (int)w;
}

static bool summary_color(FILE *out)
{
    const char *nc = getenv("NO_COLOR");
    int fd = fileno(out);
    return (!nc || !*nc) && fd >= 0 && isatty(fd);
}

/* Columns n bytes take: SGR escapes take none, UTF-8 continuation bytes none. */
static int text_width(const char *s, size_t n)
{
    int w = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\033') {
            while (i < n && s[i] != 'm')
                i++;
            continue;
        }
        w += ((unsigned char)s[i] & 0xC0) != 0x80;
    }
    return w;
}

static void put(struct sum_text *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void put(struct sum_text *t, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(t->s + t->n, sizeof t->s - t->n, fmt, ap);
    va_end(ap);
    if (k > 0)
        t->n = t->n + (size_t)k < sizeof t->s ? t->n + (size_t)k : sizeof t->s - 1;
}

/* Append n bytes of seg to line i, as many as fit in room columns (escapes kept whole). */
static void line_append(struct sum_lines *L, int i, const char *seg, size_t n, int room)
{
    char *d = L->s[i];
    size_t len = strlen(d);
    for (size_t j = 0; j < n; j++) {
        size_t k = j + 1; /* seg[j, k) is one escape, one character or one byte */
        int w = 1;
        if (seg[j] == '\033') {
            while (k < n && seg[k - 1] != 'm')
                k++;
            w = 0;
        } else
            while (k < n && ((unsigned char)seg[k] & 0xC0) == 0x80)
                k++;
        if (w > room || len + (k - j) >= SUM_LINE_BYTES)
            break;
        memcpy(d + len, seg + j, k - j);
        len += k - j;
        room -= w;
        L->w[i] += w;
        j = k - 1;
    }
    d[len] = '\0';
}

/*
 * Lay text out in lines of at most width columns, after those already in L: the
 * first segment starts a line, each next one follows a space while it fits, else
 * starts a line of its own after indent spaces. A segment wider than a whole line
 * is cut; lines past SUM_LINES are dropped (neither happens with ratelab's names).
 */
static void flow(struct sum_lines *L, int width, int indent, const char *text)
{
    bool first = true;
    for (const char *p = text;; p++) {
        size_t n = strcspn(p, "\t");
        int w = text_width(p, n);
        int i = L->n - 1;
        if (first || L->w[i] + 1 + w > width) {
            if (L->n == SUM_LINES)
                return;
            i = L->n++;
            L->w[i] = first ? 0 : indent;
            snprintf(L->s[i], sizeof L->s[i], "%*s", L->w[i], "");
            first = false;
        } else
            line_append(L, i, " ", 1, 1);
        line_append(L, i, p, n, width - L->w[i]);
        p += n;
        if (!*p)
            return;
    }
}

static void print_lines(FILE *out, const struct sum_lines *L)
{
    for (int i = 0; i < L->n; i++)
        fprintf(out, "%s\n", L->s[i]);
}

/* Lay out one top-level item (a line of its own, wrapped) and print it. */
static void print_flow(FILE *out, int width, int indent, const struct sum_text *t)
{
    struct sum_lines L = {0};
    flow(&L, width, indent, t->s);
    print_lines(out, &L);
}

/* "3.0 s" reads better as "3 s": drop a ".0" before the unit. */
static void drop_dot_zero(char *b)
{
    char *sp = strchr(b, ' ');
    if (sp && sp - b >= 3 && sp[-1] == '0' && sp[-2] == '.')
        memmove(sp - 2, sp, strlen(sp) + 1);
}

/* A duration: "0.45 ms", "45 ms", "1.2 s", "3.5 min", "2.1 h". */
static char *human_duration(int64_t us, char *b, size_t n)
{
    double v = (double)us / US_PER_MS;
    if (us <= 0)
        snprintf(b, n, "0 ms");
    else if (v < 0.995)
        snprintf(b, n, "%.2f ms", v);
    else if (v < 9.95)
        snprintf(b, n, "%.1f ms", v);
    else if (v < 999.5)
        snprintf(b, n, "%.0f ms", v);
    else if ((v /= 1000) < 59.95)
        snprintf(b, n, "%.1f s", v);
    else if ((v /= 60) < 59.95)
        snprintf(b, n, "%.1f min", v);
    else
        snprintf(b, n, "%.1f h", v / 60);
    drop_dot_zero(b);
    return b;
}

/* A count: "950", "3.1k", "45k", "2.4M". */
static char *human_count(double v, char *b, size_t n)
{
    if (v < 999.5)
        snprintf(b, n, "%.0f", v);
    else if (v < 99950)
        snprintf(b, n, "%.1fk", v / 1e3);
    else if (v < 999500)
        snprintf(b, n, "%.0fk", v / 1e3);
    else if (v < 99.95e6)
        snprintf(b, n, "%.1fM", v / 1e6);
    else if (v < 999.5e6)
        snprintf(b, n, "%.0fM", v / 1e6);
    else
        snprintf(b, n, "%.1fG", v / 1e9);
    return b;
}

/* A rate or a mean: "0", "<0.01", "0.93", "22.1", "167", "3.1k". */
static char *human_rate(double v, char *b, size_t n)
{
    if (v <= 0)
        snprintf(b, n, "0");
    else if (v < 0.005)
        snprintf(b, n, "<0.01");
    else if (v < 9.995)
        snprintf(b, n, "%.2f", v);
    else if (v < 99.95)
        snprintf(b, n, "%.1f", v);
    else
        human_count(v, b, n);
    return b;
}

/* A share of a whole: "0%", "<0.1%", "0.4%", "12%", "99.9%", "100%" (100% only when all). */
static char *human_share(double s, char *b, size_t n)
{
    double p = 100 * s;
    if (p <= 0)
        snprintf(b, n, "0%%");
    else if (p < 0.1)
        snprintf(b, n, "<0.1%%");
    else if (p < 9.95)
        snprintf(b, n, "%.1f%%", p);
    else if (p < 99.5)
        snprintf(b, n, "%.0f%%", p);
    else if (p < 100)
        snprintf(b, n, "%.1f%%", (double)(int)(p * 10) / 10);
    else
        snprintf(b, n, "100%%");
    return b;
}

/* ---- class blocks ---- */

enum sum_field {
    SF_TITLE,
    SF_OUTCOMES,
    SF_HIT_RATE,
    SF_RETRIES,
    SF_LATENCY,
    SF_TTFT,
    SF_THROUGHPUT,
    SF_QUEUE,
    SF__COUNT
};

static const char *const field_label[SF__COUNT] = {NULL,      "outcomes", "hit rate",   "retries",
                                                   "latency", "TTFT",     "throughput", "queue"};

/* One class (or all of them): a title and a field per line, each wrapped to a width. */
struct sum_block {
    int width; /* its widest line, columns */
    struct sum_lines f[SF__COUNT];
};

/* Start field f's text with its label: "  outcomes....: ". */
static void field_start(struct sum_text *t, enum sum_field f)
{
    int n = (int)strlen(field_label[f]);
    put(t, "  %s%.*s: ", field_label[f], SUM_LABEL - n, "..............");
}

static void block_field(struct sum_block *b, enum sum_field f, int width, const struct sum_text *t)
{
    flow(&b->f[f], width, f == SF_TITLE ? 2 : SUM_VALUES, t->s);
    for (int i = 0; i < b->f[f].n; i++)
        if (b->f[f].w[i] > b->width)
            b->width = b->f[f].w[i];
}

/* Block for class cls (-1: every class) laid out at most width columns wide. */
static void block_render(struct sum_block *b, int width, const metrics *m, int cls,
                         const char *name)
{
    static const char *const outcome_words[OUTCOME__COUNT] = {"succeeded", "failed", "rejected",
                                                              "timed out", "cancelled"};
    char n1[32], n2[32], n3[32], n4[32];
    struct metrics_row r;
    metrics_total(m, cls, &r);
    const struct metrics_counts *c = &r.c;
    memset(b, 0, sizeof *b);

    struct sum_text t = {0};
    if (cls < 0)
        put(&t, "all classes: %s arrived", human_count((double)c->arrivals, n1, sizeof n1));
    else
        put(&t, "class %s: %s arrived", name, human_count((double)c->arrivals, n1, sizeof n1));
    block_field(b, SF_TITLE, width, &t);

    /* Successes always; the ways to lose a request only when they happened. */
    t = (struct sum_text){0};
    field_start(&t, SF_OUTCOMES);
    const char *sep = "";
    for (int o = 0; o < OUTCOME__COUNT; o++) {
        if (o != OUTCOME_SUCCEEDED && !c->ended[o])
            continue;
        put(&t, "%s%s %s (%s)", sep, human_count((double)c->ended[o], n1, sizeof n1),
            outcome_words[o], human_share(share(c->ended[o], c->arrivals), n2, sizeof n2));
        sep = ",\t";
    }
    block_field(b, SF_OUTCOMES, width, &t);

    t = (struct sum_text){0};
    field_start(&t, SF_HIT_RATE);
    put(&t, "%s client-throttled,\t%s got a 429",
        human_share(share(c->client_throttled, c->arrivals), n1, sizeof n1),
        human_share(share(c->saw_429, c->arrivals), n2, sizeof n2));
    block_field(b, SF_HIT_RATE, width, &t);

    t = (struct sum_text){0};
    field_start(&t, SF_RETRIES);
    put(&t, "%s", human_count((double)c->retries, n1, sizeof n1));
    if (c->retries && c->arrivals)
        put(&t, " (%s per request)",
            human_rate((double)c->retries / (double)c->arrivals, n2, sizeof n2));
    block_field(b, SF_RETRIES, width, &t);

    t = (struct sum_text){0};
    field_start(&t, SF_LATENCY);
    if (metrics_latency_hist(m, cls)->count)
        put(&t, "p50 %s,\tp95 %s,\tp99 %s,\tmax %s", human_duration(r.latency_p50_us, n1, 32),
            human_duration(r.latency_p95_us, n2, 32), human_duration(r.latency_p99_us, n3, 32),
            human_duration(r.latency_max_us, n4, 32));
    else
        put(&t, "none answered");
    block_field(b, SF_LATENCY, width, &t);

    t = (struct sum_text){0};
    field_start(&t, SF_TTFT);
    if (metrics_ttft_hist(m, cls)->count)
        put(&t, "p50 %s,\tp95 %s,\tp99 %s", human_duration(r.ttft_p50_us, n1, 32),
            human_duration(r.ttft_p95_us, n2, 32), human_duration(r.ttft_p99_us, n3, 32));
    else
        put(&t, "none");
    block_field(b, SF_TTFT, width, &t);

    t = (struct sum_text){0};
    field_start(&t, SF_THROUGHPUT);
    put(&t, "%s req/s,\t%s tok/s", human_rate(r.requests_per_s, n1, sizeof n1),
        human_rate(r.tokens_per_s, n2, sizeof n2));
    block_field(b, SF_THROUGHPUT, width, &t);

    t = (struct sum_text){0};
    field_start(&t, SF_QUEUE);
    put(&t, "max %s,\tmean %s", human_count((double)r.queue_max, n1, sizeof n1),
        human_rate(r.queue_mean, n2, sizeof n2));
    block_field(b, SF_QUEUE, width, &t);
}

/* Block i of the summary: the classes in order, then "all" when there are several. */
static void block_of(struct sum_block *b, int width, const struct scenario *sc, const metrics *m,
                     int i)
{
    bool all = i == sc->n_classes;
    block_render(b, width, m, all ? -1 : i, all ? "all" : sc->classes[i].name);
}

/*
 * Blocks side by side, k to a row when k fit in width; the rows of each field
 * aligned across the row's blocks. No trailing spaces.
 */
static void print_blocks(FILE *out, int width, const struct scenario *sc, const metrics *m)
{
    int nb = sc->n_classes + (sc->n_classes > 1);
    struct sum_block *b = xmalloc(sizeof *b);
    int bw = 0;
    for (int i = 0; i < nb; i++) {
        block_of(b, width, sc, m, i);
        if (b->width > bw)
            bw = b->width;
    }
    free(b);
    int k = (width + SUM_GAP) / (bw + SUM_GAP);
    k = k < 1 ? 1 : k > nb ? nb : k;
    b = xcalloc((size_t)k, sizeof *b);
    for (int i0 = 0; i0 < nb; i0 += k) {
        int nr = nb - i0 < k ? nb - i0 : k;
        for (int j = 0; j < nr; j++)
            block_of(&b[j], width, sc, m, i0 + j);
        for (int f = 0; f < SF__COUNT; f++) {
            int nl = 0;
            for (int j = 0; j < nr; j++)
                nl = b[j].f[f].n > nl ? b[j].f[f].n : nl;
            for (int l = 0; l < nl; l++) {
                int pad = 0;
                for (int j = 0; j < nr; j++) {
                    const struct sum_lines *L = &b[j].f[f];
                    if (l < L->n) {
                        fprintf(out, "%*s%s", pad, "", L->s[l]);
                        pad = bw + SUM_GAP - L->w[l];
                    } else
                        pad += bw + SUM_GAP;
                }
                fputc('\n', out);
            }
        }
        fputc('\n', out);
    }
    free(b);
}

/* ---- the run's lines ---- */

static void print_server(FILE *out, int width, const struct report_extra *x)
{
    char n[6][32];
    struct sum_text t = {0};
    put(&t,
        "server: 429 by limit rpm %s,\ttpm %s,\ttpd %s,\tconcurrency %s;\t503 queue full %s;"
        "\tinjected faults %s",
        human_count((double)x->server_429[0], n[0], 32),
        human_count((double)x->server_429[1], n[1], 32),
        human_count((double)x->server_429[2], n[2], 32),
        human_count((double)x->server_429[3], n[3], 32),
        human_count((double)x->server_503, n[4], 32),
        human_count((double)x->server_faults, n[5], 32));
    if (x->server_served > 0) {
        put(&t, ";\tprovider waiting: %s of %s attempts\twaited for a batch slot",
            human_count((double)x->server_waited, n[0], 32),
            human_count((double)x->server_served, n[1], 32));
        if (x->server_waited > 0)
            put(&t, ",\tmean %s", human_duration(x->server_wait_us / x->server_waited, n[2], 32));
    }
    print_flow(out, width, 8, &t);
}

/* "instances: 4, the full limits each; 429s by instance 1.2k, 1.1k, ..." (the first 16). */
static void print_instances(FILE *out, int width, const struct report_extra *x)
{
    static const char *const how[] = {"the full limits each", "a 1/N share of the limits each",
                                      "one shared limiter"};
    char n[32];
    struct sum_text t = {0};
    put(&t, "instances: %d,	%s;	429s by instance", x->n_instances,
        how[x->instance_limits <= INSTANCE_LIMITS_SHARED ? x->instance_limits : 0]);
    int shown = x->n_instances < 16 ? x->n_instances : 16;
    for (int k = 0; k < shown; k++)
        put(&t, "%s%s", k ? ",	" : " ", human_count((double)x->instances[k].http_429, n, 32));
    if (shown < x->n_instances)
        put(&t, ",	... (JSON: instances.each)");
    print_flow(out, width, 11, &t);
}

/* Run time as "8h36m", "45m", "31h": the budget line's unit. */
static char *clock_duration(double s, char *b, size_t n)
{
    int64_t min = (int64_t)(s / 60 + 0.5);
    if (min < 60)
        snprintf(b, n, "%" PRId64 "m", min);
    else if (min % 60 == 0 || min >= 100 * 60)
        snprintf(b, n, "%" PRId64 "h", (min + 30) / 60);
    else
        snprintf(b, n, "%" PRId64 "h%02" PRId64 "m", min / 60, min % 60);
    return b;
}

/* One side of the budget line; false when it sets no TPD. */
static bool budget_side(struct sum_text *t, const char *sep, const char *side,
                        const struct report_budget *b, int64_t duration_us)
{
    struct report_forecast f;
    if (!report_budget_forecast(b, duration_us, &f))
        return false;
    char n[2][32];
    const char *how = f.observed ? "observed" : "extrapolated";
    put(t, "%s%s TPD %s ", sep, side, human_count((double)b->limit_tokens, n[0], 32));
    if (!f.lasts_day)
        put(t, "runs out %s in (%s)", clock_duration(f.at_s, n[1], 32), how);
    else if (isfinite(f.at_s))
        put(t, "lasts the day (%s %s)", how, clock_duration(f.at_s, n[1], 32));
    else
        put(t, "lasts the day (%s: never at %s tok/s)", how,
            human_count(f.rate_tokens_per_s, n[1], 32));
    return true;
}

/* "budget: client TPD 17M runs out 8h36m in (observed) / server TPD 20M lasts the day ..." */
static void print_budget(FILE *out, int width, int64_t span,
                         const struct report_extra *x)
{
    struct sum_text t = {0};
    put(&t, "budget:");
    bool any = budget_side(&t, " ", "client", &x->budget_client, span);
    any |= budget_side(&t, any ? "\t/ " : " ", "server", &x->budget_server, span);
    if (any)
        print_flow(out, width, 8, &t);
}

static void print_live(FILE *out, int width, const struct report_live *lv)
{
    char n[3][32];
    struct sum_text t = {0};
    put(&t, "answers:");
    for (int i = 0; i < REPORT_ST__COUNT; i++)
        put(&t, "%s%s %s", i ? ",\t" : " ", report_status_name(i),
            human_count((double)lv->status[i], n[0], 32));
    print_flow(out, width, 9, &t);
    if (lv->send_lag->count) {
        t = (struct sum_text){0};
        put(&t, "send lag: p50 %s,\tp99 %s,\tmax %s\t(arrival due to handed to the client)",
            human_duration(histogram_quantile(lv->send_lag, 0.5), n[0], 32),
            human_duration(histogram_quantile(lv->send_lag, 0.99), n[1], 32),
            human_duration(lv->send_lag->max, n[2], 32));
        print_flow(out, width, 10, &t);
    }
    if (lv->header_errors) {
        t = (struct sum_text){0};
        put(&t, "rate-limit headers: %s malformed values in %s answers, ignored;\tfirst: %s",
            human_count((double)lv->header_errors, n[0], 32),
            human_count((double)lv->header_error_answers, n[1], 32), lv->header_first_error);
        print_flow(out, width, 20, &t);
    }
    if (lv->scrape) {
        t = (struct sum_text){0};
        put(&t,
            "server metrics: %s scrapes (%s failed);\trunning max %.0f,\twaiting max %.0f,"
            "\tKV cache max %.0f%%",
            human_count((double)lv->scrapes, n[0], 32),
            human_count((double)lv->scrape_failures, n[1], 32), lv->running.max, lv->waiting.max,
            100 * lv->kv_cache_usage.max);
        print_flow(out, width, 16, &t);
    }
    if (lv->redis) {
        const struct report_redis *rd = lv->redis;
        t = (struct sum_text){0};
        put(&t, "redis: %s admitted",
            human_count((double)(rd->admitted_redis - rd->returned_reserved), n[0], 32));
        put(&t, " in %s round trips (batch %lld, %s from reservations);",
            human_count((double)rd->round_trips, n[1], 32), (long long)rd->batch,
            human_count((double)rd->admitted_reserved, n[2], 32));
        put(&t, "\tfailure %s: %s waits, %s admitted locally", rd->failure ? "open" : "closed",
            human_count((double)rd->closed_waits, n[0], 32),
            human_count((double)rd->open_admitted, n[1], 32));
        if (rd->open_share_n)
            put(&t, " (limit / %lld)", (long long)rd->open_share_n);
        if (rd->pool_waits)
            put(&t, ";\tpool full %s times, %s woken by a release",
                human_count((double)rd->pool_waits, n[0], 32),
                human_count((double)rd->release_wakes, n[1], 32));
        put(&t, ";\t%s timeouts, %s disconnects, %s errors;\t%lld processes at most",
            human_count((double)rd->timeouts, n[0], 32),
            human_count((double)rd->disconnects, n[1], 32),
            human_count((double)rd->errors, n[2], 32), (long long)rd->processes_max);
        print_flow(out, width, 7, &t);
    }
}

/* One SLO's measured value and target in its unit; finer when the rounded forms would tie. */
static void slo_values(const struct slo_result *s, char *act, char *tgt, size_t n)
{
    if (strcmp(s->unit, "ms") == 0) {
        human_duration((int64_t)(s->actual * US_PER_MS), act, n);
        human_duration((int64_t)(s->target * US_PER_MS), tgt, n);
        if (strcmp(act, tgt) == 0) {
            snprintf(act, n, "%.6g ms", s->actual);
            snprintf(tgt, n, "%.6g ms", s->target);
        }
    } else if (strcmp(s->unit, "share") == 0) {
        human_share(s->actual, act, n);
        human_share(s->target, tgt, n);
        if (strcmp(act, tgt) == 0) {
            snprintf(act, n, "%.4g%%", 100 * s->actual);
            snprintf(tgt, n, "%.4g%%", 100 * s->target);
        }
    } else {
        snprintf(act, n, "%.0f lost", s->actual);
        snprintf(tgt, n, "%.0f", s->target);
    }
}

/* One line per SLO, failures first: "SLO FAILED  p95: 52 s, target <= 15 s". */
static void print_slos(FILE *out, int width, bool color, const struct scenario *sc,
                       const metrics *m)
{
    struct slo_result slo[REPORT_MAX_SLOS];
    int n = report_slos(sc, m, slo);
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < n; i++) {
            if (slo[i].ok != (pass == 1))
                continue;
            char act[64], tgt[64];
            slo_values(&slo[i], act, tgt, sizeof act);
            struct sum_text t = {0};
            put(&t, "SLO %s%s%s  %s%s: %s,\ttarget %s%s",
                color ? (slo[i].ok ? SGR_OK : SGR_FAIL) : "", slo[i].ok ? "ok" : "FAILED",
                color ? SGR_RESET : "", slo[i].ok ? "    " : "", slo[i].name, act,
                strcmp(slo[i].unit, "requests") ? "<= " : "", tgt);
            print_flow(out, width, 12, &t);
        }
}

void report_summary(FILE *out, const struct scenario *sc, const metrics *m,
                    const struct report_extra *x)
{
    int width = summary_width(out);
    bool color = summary_color(out);
    char d1[32], d2[32];
    struct metrics_row t;
    metrics_total(m, -1, &t);

    struct sum_text h = {0};
    put(&h, "scenario %s,\tseed %" PRIu64 ":\tarrivals for %s,", sc->name, sc->seed,
        human_duration(sc->duration_us, d1, sizeof d1));
    /* When it ended says how long the last requests took to drain (or that it was stopped). */
    if (t.end_us > sc->duration_us)
        put(&h, "\tended %s later", human_duration(t.end_us - sc->duration_us, d2, sizeof d2));
    else if (t.end_us < sc->duration_us)
        put(&h, "\tstopped at %s", human_duration(t.end_us, d2, sizeof d2));
    else
        put(&h, "\tended with them");
    print_flow(out, width, 2, &h);
    fputc('\n', out);

    print_blocks(out, width, sc, m);

    /* Exact counts here: the one line to check against the JSON or grep. */
    const struct metrics_counts *c = &t.c;
    uint64_t sum = 0;
    for (int o = 0; o < OUTCOME__COUNT; o++)
        sum += c->ended[o];
    h = (struct sum_text){0};
    put(&h,
        "accounting: %" PRIu64 " arrived = %" PRIu64 " succeeded\t+ %" PRIu64 " failed\t+ %" PRIu64
        " rejected\t+ %" PRIu64 " timed out\t+ %" PRIu64 " cancelled",
        c->arrivals, c->ended[OUTCOME_SUCCEEDED], c->ended[OUTCOME_FAILED],
        c->ended[OUTCOME_REJECTED], c->ended[OUTCOME_TIMED_OUT], c->ended[OUTCOME_CANCELLED]);
    if (sum != c->arrivals)
        put(&h, "\t%s(DOES NOT ADD UP: a bug, please report it)%s", color ? SGR_FAIL : "",
            color ? SGR_RESET : "");
    print_flow(out, width, 12, &h);

    char n[5][32];
    h = (struct sum_text){0};
    put(&h,
        "attempts: %s sent (%s retries),\t%s answered 429,\t%s other errors;\t%s requests "
        "delayed\tby the client limiter",
        human_count((double)c->sends, n[0], 32), human_count((double)c->retries, n[1], 32),
        human_count((double)c->http_429, n[2], 32), human_count((double)c->errors, n[3], 32),
        human_count((double)c->client_throttled, n[4], 32));
    print_flow(out, width, 10, &h);

    if (x && x->n_instances > 1)
        print_instances(out, width, x);
    if (x && x->live)
        print_live(out, width, x->live);
    else if (x)
        print_server(out, width, x);
    if (x)
        print_budget(out, width, arrival_span(sc, t.end_us), x);
    if (x && x->trace_skipped > 0)
        fprintf(out, "trace: %" PRId64 " bad lines skipped (--skip-bad)\n", x->trace_skipped);
    print_slos(out, width, color, sc, m);
}

