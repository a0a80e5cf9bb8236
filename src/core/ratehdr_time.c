#include "config.h"

#include "ratehdr.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "ratehdr_int.h"
#include "util.h"

/* The time formats of rate-limit headers: Go durations (OpenAI), HTTP dates
 * (Retry-After) and RFC 3339 (Anthropic), parsed strictly and rounded up. */

int ratehdr_parse_go_duration(const char *s, int64_t *out_us)
{
    while (is_space(*s))
        s++;
    if (s[0] == '0' && (s[1] == '\0' || is_space(s[1]))) {
        *out_us = 0;
        return 0;
    }
    /* Accumulate in ns (int128: no overflow mid-way), round up to µs at the end. */
    i128 total_ns = 0;
    int parts = 0;
    while (*s && !is_space(*s)) {
        int64_t ip;
        int rc = digits(&s, &ip, NULL);
        if (rc)
            return rc;
        const char *frac = NULL;
        int nfrac = 0;
        if (*s == '.') {
            frac = ++s;
            while (is_digit(*s))
                s++;
            nfrac = (int)(s - frac);
            if (nfrac == 0)
                return -EINVAL;
        }
        int64_t unit_ns;
        if (strncmp(s, "ns", 2) == 0) {
            unit_ns = 1;
            s += 2;
        } else if (strncmp(s, "us", 2) == 0) {
            unit_ns = 1000;
            s += 2;
        } else if (strncmp(s, "\xc2\xb5s", 3) == 0 || strncmp(s, "\xce\xbcs", 3) == 0) {
            unit_ns = 1000;
            s += 3;
        } else if (strncmp(s, "ms", 2) == 0) {
            unit_ns = 1000000;
            s += 2;
        } else if (*s == 's') {
            unit_ns = 1000000000;
            s++;
        } else if (*s == 'm') {
            unit_ns = 60LL * 1000000000;
            s++;
        } else if (*s == 'h') {
            unit_ns = 3600LL * 1000000000;
            s++;
        } else {
            return -EINVAL;
        }
        total_ns += (i128)ip * unit_ns;
        if (frac) {
            i128 n = 0, den = 1;
            for (int i = 0; i < nfrac && i < 18; i++) {
                n = n * 10 + (frac[i] - '0');
                den *= 10;
            }
            total_ns += (n * unit_ns + den - 1) / den;
        }
        if (total_ns > (i128)INT64_MAX * 1000)
            return -ERANGE;
        parts++;
    }
    while (is_space(*s))
        s++;
    if (*s || parts == 0)
        return -EINVAL;
    *out_us = (int64_t)((total_ns + 999) / 1000);
    return 0;
}

/* ---- calendar ------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static bool leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static bool valid_date(int64_t y, int m, int d, int hh, int mm, int ss)
{
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1 || y > 9999 || m < 1 || m > 12 || d < 1 || hh > 23 || mm > 59 || ss > 60)
        return false;
    return d <= mdays[m - 1] + (m == 2 && leap(y));
}

static int64_t to_unix_us(int64_t y, int m, int d, int hh, int mm, int ss)
{
    int64_t days = days_from_civil(y, m, d);
    return ((days * 24 + hh) * 60 + mm) * 60 * US_PER_S + (int64_t)ss * US_PER_S;
}

static const char *const month_names[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                          "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
static const char *const day_names[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

static int month_of(const char *s)
{
    for (int i = 0; i < 12; i++)
        if (strncmp(s, month_names[i], 3) == 0)
            return i + 1;
    return 0;
}

/* Exactly n digits. */
static int fixed(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!is_digit((*p)[i]))
            return -EINVAL;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += n;
    *out = v;
    return 0;
}

static int expect(const char **p, char c)
{
    if (**p != c)
        return -EINVAL;
    (*p)++;
    return 0;
}

static int hms(const char **p, int *hh, int *mm, int *ss)
{
    if (fixed(p, 2, hh) || expect(p, ':') || fixed(p, 2, mm) || expect(p, ':') || fixed(p, 2, ss))
        return -EINVAL;
    return 0;
}

int ratehdr_parse_http_date(const char *s, int64_t *out_unix_us)
{
    while (is_space(*s))
        s++;
    const char *p = s;
    while ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z'))
        p++;
    size_t wlen = (size_t)(p - s);
    if (wlen < 3)
        return -EINVAL;
    int64_t y;
    int m, d, hh, mm, ss, yy;
    if (*p == ',' && wlen == 3) {
        /* IMF-fixdate: Sun, 06 Nov 1994 08:49:37 GMT */
        p++;
        int y4;
        if (expect(&p, ' ') || fixed(&p, 2, &d) || expect(&p, ' ') || !(m = month_of(p)))
            return -EINVAL;
        p += 3;
        if (expect(&p, ' ') || fixed(&p, 4, &y4) || expect(&p, ' ') || hms(&p, &hh, &mm, &ss) ||
            strncmp(p, " GMT", 4) != 0)
            return -EINVAL;
        p += 4;
        y = y4;
    } else if (*p == ',') {
        /* RFC 850: Sunday, 06-Nov-94 08:49:37 GMT */
        p++;
        if (expect(&p, ' ') || fixed(&p, 2, &d) || expect(&p, '-') || !(m = month_of(p)))
            return -EINVAL;
        p += 3;
        if (expect(&p, '-') || fixed(&p, 2, &yy) || expect(&p, ' ') || hms(&p, &hh, &mm, &ss) ||
            strncmp(p, " GMT", 4) != 0)
            return -EINVAL;
        p += 4;
        y = yy < 70 ? 2000 + yy : 1900 + yy;
    } else if (*p == ' ' && wlen == 3) {
        /* asctime: Sun Nov  6 08:49:37 1994 */
        p++;
        if (!(m = month_of(p)))
            return -EINVAL;
        p += 3;
        if (expect(&p, ' '))
            return -EINVAL;
        if (*p == ' ') {
            p++;
            if (fixed(&p, 1, &d))
                return -EINVAL;
        } else if (fixed(&p, 2, &d)) {
            return -EINVAL;
        }
        int y4;
        if (expect(&p, ' ') || hms(&p, &hh, &mm, &ss) || expect(&p, ' ') || fixed(&p, 4, &y4))
            return -EINVAL;
        y = y4;
    } else {
        return -EINVAL;
    }
    while (is_space(*p))
        p++;
    if (*p || !valid_date(y, m, d, hh, mm, ss))
        return -EINVAL;
    *out_unix_us = to_unix_us(y, m, d, hh, mm, ss);
    return 0;
}

int ratehdr_parse_rfc3339(const char *s, int64_t *out_unix_us)
{
    while (is_space(*s))
        s++;
    const char *p = s;
    int y4, m, d, hh, mm, ss;
    if (fixed(&p, 4, &y4) || expect(&p, '-') || fixed(&p, 2, &m) || expect(&p, '-') ||
        fixed(&p, 2, &d))
        return -EINVAL;
    if (*p != 'T' && *p != 't' && *p != ' ')
        return -EINVAL;
    p++;
    if (hms(&p, &hh, &mm, &ss))
        return -EINVAL;
    int64_t frac_us = 0;
    if (*p == '.') {
        p++;
        i128 num = 0, den = 1;
        int n = 0;
        while (is_digit(*p)) {
            if (n < 18) {
                num = num * 10 + (*p - '0');
                den *= 10;
            }
            p++;
            n++;
        }
        if (n == 0)
            return -EINVAL;
        frac_us = (int64_t)((num * US_PER_S + den - 1) / den);
    }
    int64_t offset_s = 0;
    if (*p == 'Z' || *p == 'z') {
        p++;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1, oh, om;
        p++;
        if (fixed(&p, 2, &oh) || expect(&p, ':') || fixed(&p, 2, &om) || oh > 23 || om > 59)
            return -EINVAL;
        offset_s = sign * (oh * 3600 + om * 60);
    } else {
        return -EINVAL;
    }
    while (is_space(*p))
        p++;
    if (*p || !valid_date(y4, m, d, hh, mm, ss))
        return -EINVAL;
    *out_unix_us = to_unix_us(y4, m, d, hh, mm, ss) + frac_us - offset_s * US_PER_S;
    return 0;
}

/* ---- formatting ---------------------------------------------------------- */

char *ratehdr_format_go_duration(int64_t us, char *buf, size_t n)
{
    if (us <= 0) {
        snprintf(buf, n, "0s");
        return buf;
    }
    if (us < US_PER_S) {
        if (us % US_PER_MS == 0)
            snprintf(buf, n, "%lldms", (long long)(us / US_PER_MS));
        else
            snprintf(buf, n, "%lldus", (long long)us);
        return buf;
    }
    int64_t h = us / US_PER_HOUR, m = us % US_PER_HOUR / US_PER_MIN;
    int64_t s = us % US_PER_MIN / US_PER_S, frac = us % US_PER_S;
    char sec[40];
    if (frac) {
        int len = snprintf(sec, sizeof sec, "%lld.%06lld", (long long)s, (long long)frac);
        while (len > 0 && sec[len - 1] == '0')
            sec[--len] = '\0';
    } else {
        snprintf(sec, sizeof sec, "%lld", (long long)s);
    }
    if (h)
        snprintf(buf, n, "%lldh%lldm%ss", (long long)h, (long long)m, sec);
    else if (m)
        snprintf(buf, n, "%lldm%ss", (long long)m, sec);
    else
        snprintf(buf, n, "%ss", sec);
    return buf;
}

static void split_time(int64_t unix_s, int64_t *y, int *mo, int *d, int *hh, int *mi, int *ss,
                       int *wday)
{
    int64_t days = unix_s / 86400, rem = unix_s % 86400;
    if (rem < 0) {
        rem += 86400;
        days--;
    }
    civil_from_days(days, y, mo, d);
    *hh = (int)(rem / 3600);
    *mi = (int)(rem % 3600 / 60);
    *ss = (int)(rem % 60);
    *wday = (int)(((days % 7) + 11) % 7); /* 1970-01-01 was a Thursday */
}

char *ratehdr_format_http_date(int64_t unix_us, char *buf, size_t n)
{
    int64_t y;
    int mo, d, hh, mi, ss, wd;
    int64_t s = unix_us / US_PER_S - (unix_us % US_PER_S < 0);
    split_time(s, &y, &mo, &d, &hh, &mi, &ss, &wd);
    snprintf(buf, n, "%s, %02d %s %04lld %02d:%02d:%02d GMT", day_names[wd], d, month_names[mo - 1],
             (long long)y, hh, mi, ss);
    return buf;
}

char *ratehdr_format_rfc3339(int64_t unix_us, char *buf, size_t n)
{
    int64_t y;
    int mo, d, hh, mi, ss, wd;
    int64_t s = unix_us / US_PER_S + (unix_us % US_PER_S > 0);
    split_time(s, &y, &mo, &d, &hh, &mi, &ss, &wd);
    snprintf(buf, n, "%04lld-%02d-%02dT%02d:%02d:%02dZ", (long long)y, mo, d, hh, mi, ss);
    return buf;
}
