#include "config.h"

#include "trace.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ratehdr.h"
#include "util.h"

enum field { F_TIME, F_PROMPT, F_COMPLETION, F_CLASS, F_STATUS, F_LATENCY, F_SAW429, F_COUNT };

static const char *const field_keys[4] = {"time", "prompt", "completion", "class"};
static const char *const csv_defaults[F_COUNT] = {"time", "prompt_tokens", "completion_tokens",
                                                  "class", "status", "latency_ms", "saw_429"};
static const char *const json_defaults[F_COUNT] = {"t", "prompt_tokens", "usage.completion_tokens",
                                                   "class", "status", "latency_ms", "saw_429"};

#define NAME_MAX_LEN 128
#define CSV_MAX_CELLS 1024

/* A line waiting in the reorder heap. */
struct entry {
    int64_t time_us;    /* on the trace's own µs scale (not yet relative to the origin) */
    int64_t prompt;     /* tokens */
    int64_t completion; /* tokens, -1 = none */
    int64_t line;       /* line number, the tie-break: equal times leave in file order */
    double latency_ms;  /* -1 = none */
    int32_t status;     /* INT32_MIN = none */
    int32_t cls;        /* class index, -1 = none */
    int8_t saw_429;     /* 1 the request saw a 429, 0 it did not, -1 = not given */
};

/* One field of a line as text: a CSV cell or a JSON value (string contents unquoted). */
struct span {
    const char *s;
    size_t n;
    bool present;       /* false: absent, an empty cell, or JSON null */
};

/*
 * Invariant: heap[0..n) is a min-heap on (time_us, line) with n <= bound; every
 * line emitted so far has (time, line) <= every line in the heap, and last_us is
 * the time of the last one emitted (so a line read with an earlier time is
 * "going backwards").
 */
struct trace {
    struct trace_options o;
    FILE *f;
    char *buf;                      /* one line, TRACE_LINE_MAX + 2 bytes */
    int64_t lineno;                 /* lines read */
    bool format_known, jsonl;
    bool eof;                       /* the file is read to its end */
    bool done;                      /* nothing more to emit */
    char names[F_COUNT][NAME_MAX_LEN]; /* field names (CSV columns or JSON paths) */
    bool named[F_COUNT];            /* set by trace_columns (else a default) */
    int csv_col[F_COUNT];           /* CSV: column index of each field, -1 = absent */
    bool have_start;
    int64_t start_us;               /* trace_start on the trace's scale */
    bool emitted_any;
    int64_t origin_us;              /* time 0 of the replay */
    int64_t last_us;                /* time of the last line emitted */
    struct entry *heap;
    int64_t n, cap, bound;
    int64_t skipped;
    struct span cells[CSV_MAX_CELLS]; /* CSV: the cells of the line being parsed */
};

/* ---- time and numbers ---------------------------------------------------- */

/* Seconds, epoch ms (an integer above 10^11) or RFC 3339, to µs; negative is bad. */
static int parse_time_us(const char *s, size_t n, int64_t *out)
{
    char b[80];
    while (n && isspace((unsigned char)*s))
        s++, n--;
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    if (n == 0 || n >= sizeof b)
        return -EINVAL;
    memcpy(b, s, n);
    b[n] = '\0';
    char *end;
    if (strspn(b, "0123456789") == n) {
        errno = 0;
        long long v = strtoll(b, &end, 10);
        if (errno)
            return -ERANGE;
        if (v > 100000000000LL) {
            if (v > INT64_MAX / US_PER_MS)
                return -ERANGE;
            *out = v * US_PER_MS;
        } else {
            *out = v * US_PER_S;
        }
        return 0;
    }
    if (isdigit((unsigned char)b[0]) || b[0] == '.' || b[0] == '-' || b[0] == '+') {
        double d = strtod(b, &end);
        if (end == b + n) {
            if (!isfinite(d) || d < 0 || d > 9e12)
                return d < 0 ? -ERANGE : -EINVAL;
            *out = round_i64(d * US_PER_S);
            return 0;
        }
    }
    if (ratehdr_parse_rfc3339(b, out) == 0)
        return *out >= 0 ? 0 : -ERANGE;
    return -EINVAL;
}

/* A whole number (a JSON 12.0 too): 0, -EINVAL, or -ERANGE when negative. */
static int parse_int(const struct span *v, int64_t *out)
{
    char b[40];
    if (v->n == 0 || v->n >= sizeof b)
        return -EINVAL;
    memcpy(b, v->s, v->n);
    b[v->n] = '\0';
    char *t = str_trim(b), *end;
    errno = 0;
    long long x = strtoll(t, &end, 10);
    if (*t && !*end && !errno) {
        *out = x;
        return x < 0 ? -ERANGE : 0;
    }
    double d = strtod(t, &end);
    if (!*t || *end || !isfinite(d) || d != floor(d) || fabs(d) > 9e15)
        return -EINVAL;
    *out = (int64_t)d;
    return d < 0 ? -ERANGE : 0;
}

/* ---- JSON, just enough: one object per line, members found by path ------ */

static const char *jws(const char *p)
{
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
        p++;
    return p;
}

/* p at '"': past the closing quote, or NULL. */
static const char *jstring(const char *p)
{
    for (p++; *p; p++) {
        if (*p == '\\') {
            if (!*++p)
                return NULL;
        } else if (*p == '"') {
            return p + 1;
        } else if ((unsigned char)*p < 0x20) {
            return NULL;
        }
    }
    return NULL;
}

/* Past one JSON value starting at p (after white space), or NULL when malformed. */
static const char *jvalue(const char *p, int depth)
{
    p = jws(p);
    if (depth > 64)
        return NULL;
    if (*p == '"')
        return jstring(p);
    if (*p == '{' || *p == '[') {
        char close = *p == '{' ? '}' : ']';
        p = jws(p + 1);
        if (*p == close)
            return p + 1;
        for (;;) {
            if (close == '}') {
                if (*p != '"' || !(p = jstring(p)))
                    return NULL;
                p = jws(p);
                if (*p++ != ':')
                    return NULL;
            }
            if (!(p = jvalue(p, depth + 1)))
                return NULL;
            p = jws(p);
            if (*p == close)
                return p + 1;
            if (*p++ != ',')
                return NULL;
            p = jws(p);
        }
    }
    static const char *const lits[] = {"true", "false", "null"};
    for (int i = 0; i < 3; i++)
        if (strncmp(p, lits[i], strlen(lits[i])) == 0)
            return p + strlen(lits[i]);
    char *end;
    if (*p == '-' || isdigit((unsigned char)*p)) {
        strtod(p, &end);
        if (end > p)
            return end;
    }
    return NULL;
}

/* The member at path ("usage.completion_tokens") of the well-formed object at obj. */
static void jget(const char *obj, const char *path, struct span *v)
{
    v->present = false;
    const char *dot = strchr(path, '.');
    size_t seg = dot ? (size_t)(dot - path) : strlen(path);
    const char *p = jws(obj);
    if (*p != '{')
        return;
    p = jws(p + 1);
    while (*p == '"') {
        const char *k = p + 1, *ke = jstring(p);
        p = jws(ke);
        p = jws(p + 1); /* past ':' */
        const char *ve = jvalue(p, 0);
        bool match = (size_t)(ke - 1 - k) == seg && strncmp(k, path, seg) == 0;
        if (match) {
            if (dot) {
                jget(p, dot + 1, v);
            } else if (*p == '"') {
                v->s = p + 1;
                v->n = (size_t)(ve - 1 - (p + 1));
                v->present = true;
            } else if (strncmp(p, "null", 4) != 0) {
                v->s = p;
                v->n = (size_t)(ve - p);
                v->present = true;
            }
            return;
        }
        p = jws(ve);
        if (*p != ',')
            return;
        p = jws(p + 1);
    }
}

/* ---- CSV ------------------------------------------------------------------ */

/* Split line in place into cells (quotes removed, "" unescaped). Returns the count or -1. */
static int csv_split(char *line, struct span *cells, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == max)
            return -1;
        char *out = p, *start = p;
        if (*p == '"') {
            p++;
            for (;;) {
                if (!*p)
                    return -1; /* unterminated quote */
                if (*p == '"') {
                    if (p[1] != '"')
                        break;
                    p++;
                }
                *out++ = *p++;
            }
            p++; /* closing quote */
            while (*p == ' ' || *p == '\t')
                p++;
            if (*p && *p != ',')
                return -1;
        } else {
            while (*p && *p != ',')
                p++;
            out = p;
        }
        cells[n].s = start;
        cells[n].n = (size_t)(out - start);
        /* trim unquoted white space */
        while (cells[n].n && isspace((unsigned char)cells[n].s[0]))
            cells[n].s++, cells[n].n--;
        while (cells[n].n && isspace((unsigned char)cells[n].s[cells[n].n - 1]))
            cells[n].n--;
        cells[n].present = cells[n].n > 0;
        n++;
        if (!*p)
            return n;
        p++; /* ',' */
    }
}

/* ---- the heap ------------------------------------------------------------- */

static bool before(const struct entry *a, const struct entry *b)
{
    return a->time_us < b->time_us || (a->time_us == b->time_us && a->line < b->line);
}

#ifndef NDEBUG
/* The invariant near the top only: a full check per pop would make replay quadratic. */
static bool heap_ok(const trace *t)
{
    for (int64_t i = 1; i < t->n && i < 7; i++)
        if (before(&t->heap[i], &t->heap[(i - 1) / 2]))
            return false;
    return t->n <= t->bound;
}
#endif

static void heap_push(trace *t, const struct entry *e)
{
    if (t->n == t->cap) {
        t->cap = t->cap ? t->cap * 2 : 256;
        if (t->cap > t->bound)
            t->cap = t->bound;
        t->heap = xrealloc(t->heap, (size_t)t->cap * sizeof *t->heap);
    }
    int64_t i = t->n++;
    while (i > 0 && before(e, &t->heap[(i - 1) / 2])) {
        t->heap[i] = t->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    t->heap[i] = *e;
}

static struct entry heap_pop(trace *t)
{
    struct entry top = t->heap[0], last = t->heap[--t->n];
    int64_t i = 0;
    for (;;) {
        int64_t c = 2 * i + 1;
        if (c >= t->n)
            break;
        if (c + 1 < t->n && before(&t->heap[c + 1], &t->heap[c]))
            c++;
        if (!before(&t->heap[c], &last))
            break;
        t->heap[i] = t->heap[c];
        i = c;
    }
    if (t->n > 0)
        t->heap[i] = last;
    assert(heap_ok(t));
    return top;
}

/* ---- reading -------------------------------------------------------------- */

static void set_err(struct trace_error *err, const char *file, int64_t line, const char *fmt,
                    ...) __attribute__((format(printf, 4, 5)));

static void set_err(struct trace_error *err, const char *file, int64_t line, const char *fmt, ...)
{
    snprintf(err->file, sizeof err->file, "%s", file);
    err->line = line;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
}

enum { GOT_LINE = 0, GOT_EOF = 1, GOT_NOTHING = 2 };

/* A bad line: an error, or skipped and counted (GOT_NOTHING) under skip_bad. */
#define BAD(t, err, ...)                                                  \
    ((t)->o.skip_bad ? ((t)->skipped++, GOT_NOTHING)                      \
                     : (set_err(err, (t)->o.path, (t)->lineno, __VA_ARGS__), -EINVAL))

/* Parse the options' trace_columns: "time=ts,prompt=in_tokens". */
static int parse_columns(trace *t, const char *text, struct trace_error *err)
{
    if (!text || !*text)
        return 0;
    char b[SCENARIO_TEXT_MAX];
    snprintf(b, sizeof b, "%s", text);
    char *save = NULL;
    for (char *item = strtok_r(b, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        char *eq = strchr(item, '=');
        int f = -1;
        if (eq) {
            *eq = '\0';
            for (int i = 0; i < 4; i++)
                if (strcmp(str_trim(item), field_keys[i]) == 0)
                    f = i;
        }
        char *col = eq ? str_trim(eq + 1) : NULL;
        if (f < 0 || !*col || strlen(col) >= NAME_MAX_LEN) {
            set_err(err, t->o.path, 0, "trace_columns: bad item '%s' (expected time=COL, "
                    "prompt=COL, completion=COL or class=COL, separated by commas)", item);
            return -EINVAL;
        }
        snprintf(t->names[f], NAME_MAX_LEN, "%s", col);
        t->named[f] = true;
    }
    return 0;
}

/* CSV header: find each field's column. */
static int csv_header(trace *t, char *line, struct trace_error *err)
{
    struct span *cells = t->cells;
    int n = csv_split(line, cells, CSV_MAX_CELLS);
    if (n < 0) {
        set_err(err, t->o.path, t->lineno, "unparseable CSV header (expected column names "
                "separated by commas)");
        return -EINVAL;
    }
    for (int f = 0; f < F_COUNT; f++) {
        t->csv_col[f] = -1;
        for (int i = 0; i < n; i++)
            if (cells[i].n == strlen(t->names[f]) &&
                strncasecmp(cells[i].s, t->names[f], cells[i].n) == 0)
                t->csv_col[f] = i;
        if (t->csv_col[f] < 0 && (f <= F_PROMPT || t->named[f])) {
            set_err(err, t->o.path, t->lineno, "no column '%s' for %s in the CSV header "
                    "(map the columns with trace_columns = time=COL,prompt=COL,...)",
                    t->names[f], field_keys[f]);
            return -EINVAL;
        }
    }
    return 0;
}

/* Read and parse one line into *e: GOT_LINE, GOT_EOF, GOT_NOTHING (blank, header,
 * skipped) or -EINVAL. */
static int read_one(trace *t, struct entry *e, struct trace_error *err)
{
    if (!fgets(t->buf, TRACE_LINE_MAX + 2, t->f)) {
        if (ferror(t->f)) {
            set_err(err, t->o.path, t->lineno + 1, "read error: %s", strerror(errno));
            return -EIO;
        }
        t->eof = true;
        return GOT_EOF;
    }
    t->lineno++;
    size_t len = strlen(t->buf);
    if (len && t->buf[len - 1] == '\n') {
        t->buf[--len] = '\0';
    } else if (!feof(t->f)) {
        int c;
        while ((c = getc(t->f)) != EOF && c != '\n')
            ;
        return BAD(t, err, "line longer than %d bytes", TRACE_LINE_MAX);
    }
    if (strlen(t->buf) != len)
        return BAD(t, err, "a NUL byte in the line (expected text)");
    char *line = str_trim(t->buf);
    if (!*line)
        return GOT_NOTHING;
    if (!t->format_known) {
        t->format_known = true;
        t->jsonl = line[0] == '{';
        for (int f = 0; f < F_COUNT; f++)
            if (!t->named[f])
                snprintf(t->names[f], NAME_MAX_LEN, "%s",
                         t->jsonl ? json_defaults[f] : csv_defaults[f]);
        if (!t->jsonl) {
            int rc = csv_header(t, line, err);
            return rc < 0 ? rc : GOT_NOTHING;
        }
    }
    struct span v[F_COUNT];
    if (t->jsonl) {
        const char *end = line[0] == '{' ? jvalue(line, 0) : NULL;
        if (!end || *jws(end))
            return BAD(t, err, "unparseable line (expected one JSON object per line)");
        for (int f = 0; f < F_COUNT; f++)
            jget(line, t->names[f], &v[f]);
        if (!t->named[F_TIME] && !v[F_TIME].present)
            jget(line, "ts_ms", &v[F_TIME]);
    } else {
        struct span *cells = t->cells;
        int n = csv_split(line, cells, CSV_MAX_CELLS);
        if (n < 0)
            return BAD(t, err, "unparseable CSV line (an unterminated quote, or more than %d "
                       "cells)", CSV_MAX_CELLS);
        for (int f = 0; f < F_COUNT; f++) {
            int c = t->csv_col[f];
            v[f] = c >= 0 && c < n ? cells[c] : (struct span){NULL, 0, false};
        }
    }
    if (!v[F_TIME].present)
        return BAD(t, err, "missing time ('%s')", t->names[F_TIME]);
    if (!v[F_PROMPT].present)
        return BAD(t, err, "missing prompt tokens ('%s')", t->names[F_PROMPT]);
    int rc = parse_time_us(v[F_TIME].s, v[F_TIME].n, &e->time_us);
    if (rc < 0)
        return BAD(t, err, "%s time '%.*s' (expected seconds, epoch milliseconds or an RFC "
                   "3339 time)", rc == -ERANGE ? "negative or out of range" : "bad",
                   (int)(v[F_TIME].n > 64 ? 64 : v[F_TIME].n), v[F_TIME].s);
    rc = parse_int(&v[F_PROMPT], &e->prompt);
    if (rc < 0)
        return BAD(t, err, "%s prompt tokens '%.*s' (expected a whole number >= 0)",
                   rc == -ERANGE ? "negative" : "bad", (int)(v[F_PROMPT].n > 64 ? 64 : v[F_PROMPT].n),
                   v[F_PROMPT].s);
    e->completion = -1;
    if (v[F_COMPLETION].present) {
        rc = parse_int(&v[F_COMPLETION], &e->completion);
        /* -1 is how a recorded trace says the server left the member out */
        if (rc == -ERANGE && t->jsonl && e->completion == -1)
            rc = 0;
        if (rc < 0)
            return BAD(t, err, "%s completion tokens '%.*s' (expected a whole number >= 0)",
                       rc == -ERANGE ? "negative" : "bad",
                       (int)(v[F_COMPLETION].n > 64 ? 64 : v[F_COMPLETION].n),
                       v[F_COMPLETION].s);
    }
    e->cls = -1;
    if (v[F_CLASS].present && t->o.n_classes > 0) {
        for (int i = 0; i < t->o.n_classes; i++)
            if (strlen(t->o.classes[i]) == v[F_CLASS].n &&
                strncmp(t->o.classes[i], v[F_CLASS].s, v[F_CLASS].n) == 0)
                e->cls = i;
        if (e->cls < 0)
            return BAD(t, err, "class '%.*s' is not in the scenario (add a [class.NAME] or "
                       "pass --skip-bad)", (int)(v[F_CLASS].n > 64 ? 64 : v[F_CLASS].n),
                       v[F_CLASS].s);
    }
    int64_t st = 0;
    rc = v[F_STATUS].present ? parse_int(&v[F_STATUS], &st) : -EINVAL;
    /* -1: never sent (doc/trace.md) */
    e->status = (rc == 0 && st < 1000) || (rc == -ERANGE && st == -1) ? (int32_t)st : INT32_MIN;
    double lat;
    char lb[64];
    snprintf(lb, sizeof lb, "%.*s", (int)(v[F_LATENCY].n < 63 ? v[F_LATENCY].n : 63),
             v[F_LATENCY].present ? v[F_LATENCY].s : "");
    e->latency_ms = v[F_LATENCY].present && parse_double(lb, &lat) == 0 && lat >= 0 ? lat : -1;
    /* A boolean: true/false (JSONL), or 1/0 (CSV); anything else is "not given". */
    char c0 = v[F_SAW429].present && v[F_SAW429].n ? v[F_SAW429].s[0] : '\0';
    e->saw_429 = c0 == 't' || c0 == '1' ? 1 : c0 == 'f' || c0 == '0' ? 0 : -1;
    e->line = t->lineno;
    if (t->have_start && e->time_us < t->start_us)
        return BAD(t, err, "time '%.*s' is before trace_start", (int)v[F_TIME].n, v[F_TIME].s);
    if (t->emitted_any && e->time_us < t->last_us)
        return BAD(t, err, "time goes backwards: %.6f s is before %.6f s, already replayed "
                   "(lines may be out of order by at most %" PRId64 " lines)",
                   (double)(e->time_us - t->origin_us) / US_PER_S,
                   (double)(t->last_us - t->origin_us) / US_PER_S, t->bound);
    return GOT_LINE;
}

trace *trace_open(const struct trace_options *o, struct trace_error *err)
{
    assert(o && o->path && err);
    trace *t = xcalloc(1, sizeof *t);
    t->o = *o;
    t->bound = o->reorder_lines > 0 ? o->reorder_lines : TRACE_REORDER_LINES;
    if (parse_columns(t, o->columns, err) < 0)
        goto fail;
    if (o->start && *o->start) {
        if (parse_time_us(o->start, strlen(o->start), &t->start_us) < 0) {
            set_err(err, o->path, 0, "trace_start: bad value '%s' (expected seconds, epoch "
                    "milliseconds or an RFC 3339 time)", o->start);
            goto fail;
        }
        t->have_start = true;
        t->origin_us = t->start_us;
    }
    t->f = fopen(o->path, "r");
    if (!t->f) {
        set_err(err, o->path, 0, "cannot open the trace: %s", strerror(errno));
        goto fail;
    }
    t->buf = xmalloc(TRACE_LINE_MAX + 2);
    return t;
fail:
    free(t);
    return NULL;
}

int trace_next(trace *t, struct trace_line *out, struct trace_error *err)
{
    for (;;) {
        if (t->done)
            return 1;
        while (!t->eof && t->n < t->bound) {
            struct entry e;
            int rc = read_one(t, &e, err);
            if (rc < 0) {
                t->done = true;
                return -EINVAL;
            }
            if (rc == GOT_LINE)
                heap_push(t, &e);
        }
        if (t->n == 0) {
            t->done = true;
            return 1;
        }
        struct entry e = heap_pop(t);
        if (!t->emitted_any && !t->have_start)
            t->origin_us = e.time_us;
        t->emitted_any = true;
        t->last_us = e.time_us;
        if (t->o.only_class >= 0 && e.cls >= 0 && e.cls != t->o.only_class)
            continue;
        *out = (struct trace_line){.time_us = e.time_us - t->origin_us,
                                   .prompt_tokens = e.prompt,
                                   .completion_tokens = e.completion,
                                   .class_index = e.cls,
                                   .status = e.status,
                                   .latency_ms = e.latency_ms,
                                   .saw_429 = e.saw_429,
                                   .line = e.line};
        return 0;
    }
}

int64_t trace_skipped(const trace *t)
{
    return t->skipped;
}

int64_t trace_lines_read(const trace *t)
{
    return t->lineno;
}

void trace_close(trace *t)
{
    if (!t)
        return;
    if (t->f)
        fclose(t->f);
    free(t->buf);
    free(t->heap);
    free(t);
}

int trace_check(const struct trace_options *o, int64_t *requests, int64_t *skipped,
                struct trace_error *err)
{
    struct trace_options all = *o;
    all.only_class = -1;
    trace *t = trace_open(&all, err);
    if (!t)
        return -EINVAL;
    struct trace_line l;
    int64_t n = 0;
    int rc;
    while ((rc = trace_next(t, &l, err)) == 0)
        n++;
    if (rc == 1) {
        *requests = n;
        *skipped = t->skipped;
    }
    trace_close(t);
    return rc == 1 ? 0 : -EINVAL;
}
