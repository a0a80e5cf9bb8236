#include "config.h"

#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void oom(size_t n)
{
    fprintf(stderr, "ratelab: out of memory allocating %zu bytes\n", n);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom(n);
    return p;
}

void *xcalloc(size_t count, size_t n)
{
    void *p = calloc(count ? count : 1, n ? n : 1);
    if (!p)
        oom(count * n);
    return p;
}

void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        oom(n);
    return q;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

/*
 * Read one unsigned decimal ("12", "1.5", ".5") at *s; advance *s past it.
 * strtod would also accept "inf", hex and exponents, which no unit-bearing
 * value in a scenario should; so digits are taken by hand.
 */
static int read_decimal(const char **s, double *out)
{
    const char *p = *s;
    int digits = 0;
    while (isdigit((unsigned char)*p))
        p++, digits++;
    if (*p == '.') {
        p++;
        while (isdigit((unsigned char)*p))
            p++, digits++;
    }
    if (digits == 0 || p - *s > 40)
        return -EINVAL;
    char buf[48];
    memcpy(buf, *s, (size_t)(p - *s));
    buf[p - *s] = '\0';
    *out = strtod(buf, NULL); /* validated span: strtod rounds correctly */
    *s = p;
    return 0;
}

/*
 * The start of an unsigned value: skip leading space into *s. 0 to go on,
 * -EINVAL for no text, -ERANGE for a minus sign (negative where none may be).
 */
static int unsigned_start(const char **s)
{
    if (!*s)
        return -EINVAL;
    while (isspace((unsigned char)**s))
        (*s)++;
    return **s == '-' ? -ERANGE : 0;
}

/* Only trailing space may follow the value at s. */
static bool only_space(const char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    return *s == '\0';
}

static const struct {
    const char *name;
    int64_t us;
} duration_units[] = {
    {"us", 1}, {"ms", US_PER_MS}, {"s", US_PER_S}, {"m", US_PER_MIN},
    {"h", US_PER_HOUR}, {"d", US_PER_DAY},
};

int parse_duration_us(const char *s, int64_t *out_us)
{
    int rc = unsigned_start(&s);
    if (rc < 0)
        return rc;
    if (strcmp(s, "0") == 0) {
        *out_us = 0;
        return 0;
    }
    double total = 0;
    int parts = 0;
    while (*s && !isspace((unsigned char)*s)) {
        double v;
        if (read_decimal(&s, &v) < 0)
            return -EINVAL;
        size_t len = 0;
        while (isalpha((unsigned char)s[len]))
            len++;
        if (len == 0)
            return -EINVAL; /* a bare number needs a unit */
        int64_t unit = 0;
        for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++)
            if (strlen(duration_units[i].name) == len &&
                strncmp(duration_units[i].name, s, len) == 0)
                unit = duration_units[i].us;
        if (!unit)
            return -EINVAL;
        total += v * (double)unit;
        s += len;
        parts++;
    }
    if (!only_space(s) || parts == 0)
        return -EINVAL;
    if (total > 9.0e18)
        return -ERANGE;
    *out_us = llround(total);
    return 0;
}

int parse_rate_per_s(const char *s, double *out_per_s)
{
    int rc = unsigned_start(&s);
    if (rc < 0)
        return rc;
    double v;
    if (read_decimal(&s, &v) < 0)
        return -EINVAL;
    if (*s != '/')
        return -EINVAL;
    s++;
    double per;
    switch (*s) {
    case 's': per = 1; break;
    case 'm': per = 60; break;
    case 'h': per = 3600; break;
    case 'd': per = 86400; break;
    default: return -EINVAL;
    }
    if (!only_space(s + 1))
        return -EINVAL;
    if (v > 1e12)
        return -ERANGE;
    *out_per_s = v / per;
    return 0;
}

/* The leading digits of an unsigned number: its value and where the digits end. */
static int leading_digits(const char *s, unsigned long long *v, char **end)
{
    int rc = unsigned_start(&s);
    if (rc < 0)
        return rc;
    if (!isdigit((unsigned char)*s))
        return -EINVAL;
    errno = 0;
    *v = strtoull(s, end, 10); /* at least 64 bits, so ERANGE is the bound */
    return errno == ERANGE ? -ERANGE : 0;
}

int parse_u64(const char *s, uint64_t *out)
{
    unsigned long long v;
    char *end;
    int rc = leading_digits(s, &v, &end);
    if (rc < 0)
        return rc;
    if (!only_space(end))
        return -EINVAL;
    *out = (uint64_t)v;
    return 0;
}

int parse_count(const char *s, int64_t *out)
{
    unsigned long long v;
    char *end;
    int rc = leading_digits(s, &v, &end);
    if (rc < 0)
        return rc;
    if (v > (unsigned long long)INT64_MAX)
        return -ERANGE;
    long long mult = 1;
    if (*end == 'k')
        mult = 1000, end++;
    else if (*end == 'M')
        mult = 1000000, end++;
    else if (*end == 'G')
        mult = 1000000000, end++;
    if (!only_space(end))
        return -EINVAL;
    if (v > (unsigned long long)(INT64_MAX / mult))
        return -ERANGE;
    *out = (int64_t)v * mult;
    return 0;
}

int parse_double(const char *s, double *out)
{
    if (!s)
        return -EINVAL;
    while (isspace((unsigned char)*s))
        s++;
    int neg = 0;
    if (*s == '-' || *s == '+')
        neg = *s++ == '-';
    double v;
    if (read_decimal(&s, &v) < 0)
        return -EINVAL;
    while (isspace((unsigned char)*s))
        s++;
    if (*s)
        return -EINVAL;
    *out = neg ? -v : v;
    return 0;
}

int parse_share(const char *s, double *out)
{
    if (!s)
        return -EINVAL;
    char buf[64];
    size_t n = strlen(s);
    if (n == 0 || n >= sizeof buf)
        return -EINVAL;
    memcpy(buf, s, n + 1);
    char *t = str_trim(buf);
    size_t tl = strlen(t);
    double scale = 1;
    if (tl > 0 && t[tl - 1] == '%') {
        t[tl - 1] = '\0';
        scale = 100;
    }
    double v;
    int rc = parse_double(t, &v);
    if (rc < 0)
        return rc;
    v /= scale;
    if (v < 0 || v > 1)
        return -ERANGE;
    *out = v;
    return 0;
}

int parse_bool(const char *s, int *out)
{
    static const char *const yes[] = {"yes", "true", "on", "1"};
    static const char *const no[] = {"no", "false", "off", "0"};
    if (!s)
        return -EINVAL;
    for (size_t i = 0; i < 4; i++) {
        if (strcasecmp(s, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(s, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return -EINVAL;
}

char *format_duration(int64_t us, char *buf, size_t n)
{
    if (us == 0) {
        snprintf(buf, n, "0");
        return buf;
    }
    /* Largest unit that divides exactly, so the text parses back to the same µs. */
    for (int i = (int)(sizeof duration_units / sizeof duration_units[0]) - 1; i >= 0; i--) {
        if (us % duration_units[i].us == 0) {
            snprintf(buf, n, "%lld%s", (long long)(us / duration_units[i].us),
                     duration_units[i].name);
            return buf;
        }
    }
    snprintf(buf, n, "%lldus", (long long)us);
    return buf;
}

char *format_rate(double per_s, char *buf, size_t n)
{
    /* %.17g round-trips any double; prefer a unit in which the value is whole. */
    static const struct {
        const char *unit;
        double per;
    } units[] = {{"s", 1}, {"m", 60}, {"h", 3600}, {"d", 86400}};
    for (size_t i = 0; i < 4; i++) {
        double v = per_s * units[i].per;
        if (v == floor(v) && v < 1e15) {
            double back;
            char tmp[64];
            snprintf(tmp, sizeof tmp, "%.0f/%s", v, units[i].unit);
            if (parse_rate_per_s(tmp, &back) == 0 && back == per_s) {
                snprintf(buf, n, "%s", tmp);
                return buf;
            }
        }
    }
    snprintf(buf, n, "%.17g/s", per_s);
    return buf;
}

int edit_distance(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    if (la > 63 || lb > 63)
        return 64;
    int d[64][64];
    for (size_t i = 0; i <= la; i++)
        d[i][0] = (int)i;
    for (size_t j = 0; j <= lb; j++)
        d[0][j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        for (size_t j = 1; j <= lb; j++) {
            int cost = a[i - 1] != b[j - 1];
            int best = d[i - 1][j] + 1;
            if (d[i][j - 1] + 1 < best)
                best = d[i][j - 1] + 1;
            if (d[i - 1][j - 1] + cost < best)
                best = d[i - 1][j - 1] + cost;
            d[i][j] = best;
        }
    }
    return d[la][lb];
}

char *str_trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}
