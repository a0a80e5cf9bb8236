#include "config.h"

#include "promtext.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>

static bool is_blank(char c)
{
    return c == ' ' || c == '\t';
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static bool is_alpha_(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static const char *skip_blanks(const char *p, const char *e)
{
    while (p < e && is_blank(*p))
        p++;
    return p;
}

/* The token [p, e) equals lit, ignoring ASCII case. */
static bool token_is(const char *p, const char *e, const char *lit)
{
    size_t n = strlen(lit);
    if ((size_t)(e - p) != n)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c >= 'A' && c <= 'Z')
            c = (char)(c - 'A' + 'a');
        if (c != lit[i])
            return false;
    }
    return true;
}

/*
 * A Go float, the whole token [p, e). Our own reader rather than strtod: strtod
 * follows LC_NUMERIC, and a dashboard may have called setlocale. Up to 19
 * significant digits are kept and scaled once in long double; that is exact
 * or within an ulp or so, plenty for gauges.
 */
static int parse_float(const char *p, const char *e, double *out)
{
    if (p == e)
        return -EINVAL;
    if (token_is(p, e, "nan")) {
        *out = NAN;
        return 0;
    }
    bool neg = *p == '-';
    if (*p == '-' || *p == '+')
        p++;
    if (token_is(p, e, "inf") || token_is(p, e, "infinity")) {
        *out = neg ? -INFINITY : INFINITY;
        return 0;
    }
    uint64_t mant = 0;
    int ndigits = 0;  /* significant digits in mant */
    int64_t dexp = 0; /* value = mant * 10^dexp */
    bool any = false, frac = false;
    for (; p < e; p++) {
        if (*p == '.' && !frac) {
            frac = true;
            continue;
        }
        if (!is_digit(*p))
            break;
        any = true;
        int d = *p - '0';
        if (ndigits < 19 && (mant > 0 || d > 0)) {
            mant = mant * 10 + (uint64_t)d;
            ndigits++;
            dexp -= frac;
        } else if (mant == 0) {
            dexp -= frac; /* a leading zero */
        } else {
            dexp += !frac; /* a digit beyond what mant keeps */
        }
        if (dexp < -100000 || dexp > 100000)
            return -EINVAL; /* absurdly long; keeps dexp bounded */
    }
    if (!any)
        return -EINVAL;
    if (p < e && (*p == 'e' || *p == 'E')) {
        p++;
        bool eneg = p < e && *p == '-';
        if (p < e && (*p == '-' || *p == '+'))
            p++;
        if (p == e)
            return -EINVAL;
        int64_t x = 0;
        for (; p < e && is_digit(*p); p++)
            if (x < 1000000)
                x = x * 10 + (*p - '0');
        dexp += eneg ? -x : x;
    }
    if (p != e)
        return -EINVAL;
    long double v = (long double)mant;
    if (mant != 0) {
        if (dexp > 400)
            dexp = 400; /* overflows a double either way */
        if (dexp < -400)
            dexp = -400; /* underflows to 0 either way */
        long double scale = 1;
        for (int64_t k = dexp < 0 ? -dexp : dexp; k > 0; k--)
            scale *= 10;
        v = dexp < 0 ? v / scale : v * scale;
    }
    *out = (double)(neg ? -v : v);
    return 0;
}

/* An integer timestamp token [p, e): optional '-', digits. */
static bool is_timestamp(const char *p, const char *e)
{
    if (p < e && *p == '-')
        p++;
    if (p == e)
        return false;
    for (; p < e; p++)
        if (!is_digit(*p))
            return false;
    return true;
}

/* Labels, at the '{': returns the byte after the '}', or NULL when they are malformed. */
static const char *skip_labels(const char *p, const char *e)
{
    p++;
    for (;;) {
        p = skip_blanks(p, e);
        if (p < e && *p == '}')
            return p + 1;
        if (p == e || !is_alpha_(*p))
            return NULL;
        while (p < e && (is_alpha_(*p) || is_digit(*p)))
            p++;
        p = skip_blanks(p, e);
        if (p == e || *p != '=')
            return NULL;
        p = skip_blanks(p + 1, e);
        if (p == e || *p != '"')
            return NULL;
        for (p++; p < e && *p != '"'; p++)
            if (*p == '\\' && ++p == e)
                return NULL;
        if (p == e)
            return NULL;
        p = skip_blanks(p + 1, e);
        if (p < e && *p == ',')
            p++;
        else if (p == e || *p != '}')
            return NULL;
    }
}

int prom_parse_line(const char *line, size_t len, const char **name, size_t *name_len,
                    double *value)
{
    assert((line || len == 0) && name && name_len && value);
    if (len == 0)
        return -EINVAL;
    const char *p = line, *e = line + len;
    p = skip_blanks(p, e);
    if (p == e || !(is_alpha_(*p) || *p == ':'))
        return -EINVAL; /* empty, a comment, or not a name */
    const char *nm = p;
    while (p < e && (is_alpha_(*p) || is_digit(*p) || *p == ':'))
        p++;
    const char *nm_end = p;
    p = skip_blanks(p, e);
    if (p < e && *p == '{') {
        p = skip_labels(p, e);
        if (!p)
            return -EINVAL;
        p = skip_blanks(p, e);
    } else if (p == nm_end) {
        return -EINVAL; /* the name must end at a blank or a brace */
    }
    const char *v = p;
    while (p < e && !is_blank(*p))
        p++;
    double x;
    if (parse_float(v, p, &x) != 0)
        return -EINVAL;
    p = skip_blanks(p, e);
    if (p < e && *p != '#') {
        const char *ts = p;
        while (p < e && !is_blank(*p))
            p++;
        if (!is_timestamp(ts, p))
            return -EINVAL;
        p = skip_blanks(p, e);
    }
    if (p < e && *p != '#')
        return -EINVAL; /* trailing junk; '#' starts an OpenMetrics exemplar */
    *name = nm;
    *name_len = (size_t)(nm_end - nm);
    *value = x;
    return 0;
}

static bool name_is(const char *name, size_t n, const char *lit)
{
    return n == strlen(lit) && memcmp(name, lit, n) == 0;
}

static void add_to(double *gauge, double v)
{
    *gauge = (*gauge < 0 ? 0 : *gauge) + v;
}

static void max_of(double *gauge, double v)
{
    if (v > *gauge)
        *gauge = v;
}

int prom_parse_vllm(const char *text, size_t n, struct prom_vllm *out)
{
    assert((text || n == 0) && out);
    if (n == 0)
        return -EINVAL;
    const char *p = text, *e = text + n;
    const char *first = p;
    while (first < e && (is_blank(*first) || *first == '\n' || *first == '\r'))
        first++;
    if (first < e && *first == '<')
        return -EINVAL;
    struct prom_vllm g = {.running = -1, .waiting = -1, .kv_cache_usage = -1};
    int samples = 0;
    while (p < e) {
        const char *nl = memchr(p, '\n', (size_t)(e - p));
        const char *end = nl ? nl : e;
        if (end > p && end[-1] == '\r')
            end--;
        const char *name;
        size_t name_len;
        double v;
        if (prom_parse_line(p, (size_t)(end - p), &name, &name_len, &v) == 0) {
            samples++;
            if (isfinite(v) && v >= 0) {
                if (name_is(name, name_len, "vllm:num_requests_running"))
                    add_to(&g.running, v);
                else if (name_is(name, name_len, "vllm:num_requests_waiting"))
                    add_to(&g.waiting, v);
                else if (name_is(name, name_len, "vllm:kv_cache_usage_perc") ||
                         name_is(name, name_len, "vllm:gpu_cache_usage_perc"))
                    max_of(&g.kv_cache_usage, v < 1 ? v : 1);
            }
        }
        p = nl ? nl + 1 : e;
    }
    if (samples == 0)
        return -EINVAL;
    *out = g;
    return 0;
}
