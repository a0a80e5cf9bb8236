#include "config.h"

#include "ratehdr.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "ratehdr_int.h"
#include "util.h"

/*
 * A non-negative decimal "I[.F]" scaled by `scale` (e.g. 1e6 for seconds -> µs),
 * rounded up. The fraction may have up to 18 digits.
 */
static int decimal_scaled(const char **p, int64_t scale, bool allow_frac, int64_t *out)
{
    const char *s = *p;
    int64_t ip;
    int rc = digits(&s, &ip, NULL);
    if (rc)
        return rc;
    i128 v = (i128)ip * scale;
    if (*s == '.' && allow_frac) {
        s++;
        i128 num = 0, den = 1;
        int n = 0;
        while (is_digit(*s)) {
            if (n < 18) {
                num = num * 10 + (*s - '0');
                den *= 10;
            } else if (*s != '0') {
                num += 1; /* beyond our precision: nudge up so we still round up */
            }
            s++;
            n++;
        }
        if (n == 0)
            return -EINVAL;
        v += (num * scale + den - 1) / den;
    }
    if (v > INT64_MAX)
        return -ERANGE;
    *p = s;
    *out = (int64_t)v;
    return 0;
}

/* Whole string (after trimming) as a non-negative integer. */
static int parse_int(const char *s, int64_t *out)
{
    while (is_space(*s))
        s++;
    int64_t v;
    int rc = digits(&s, &v, NULL);
    if (rc)
        return rc;
    while (is_space(*s))
        s++;
    if (*s)
        return -EINVAL;
    *out = v;
    return 0;
}

/* Whole string as a non-negative decimal scaled and rounded up. */
static int parse_decimal(const char *s, int64_t scale, int64_t *out)
{
    while (is_space(*s))
        s++;
    int64_t v;
    int rc = decimal_scaled(&s, scale, true, &v);
    if (rc)
        return rc;
    while (is_space(*s))
        s++;
    if (*s)
        return -EINVAL;
    *out = v;
    return 0;
}

/* ---- IETF RateLimit structured values ------------------------------------ */

/*
 * Members of a header like `"default";r=50;t=30, "burst";r=5;t=1` or
 * `limit=100, remaining=50, reset=5` or `100;w=60`. For each member we pick the
 * integer values of a bare item and of the keys we know. Returns 0 or -EINVAL.
 */
struct sf_member {
    int64_t item; /* bare integer item, -1 = none (a string item, or key=value) */
    int64_t r, t, q, w, limit, remaining, reset; /* -1 = absent */
};

static void sf_clear(struct sf_member *m)
{
    m->item = m->r = m->t = m->q = m->w = m->limit = m->remaining = m->reset = -1;
}

static int sf_skip_string(const char **p)
{
    const char *s = *p;
    if (*s != '"')
        return -EINVAL;
    s++;
    while (*s && *s != '"') {
        if (*s == '\\' && s[1])
            s++;
        s++;
    }
    if (*s != '"')
        return -EINVAL;
    *p = s + 1;
    return 0;
}

static bool is_key_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c) || c == '-' ||
           c == '_' || c == '*' || c == '.';
}

/* key=value where value is an integer, a string or a token; stores known keys. */
static int sf_param(const char **p, struct sf_member *m)
{
    const char *s = *p, *k = s;
    while (is_key_char(*s))
        s++;
    size_t klen = (size_t)(s - k);
    if (klen == 0)
        return -EINVAL;
    int64_t v = -1;
    if (*s == '=') {
        s++;
        if (*s == '"') {
            if (sf_skip_string(&s))
                return -EINVAL;
        } else if (is_digit(*s)) {
            if (digits(&s, &v, NULL))
                return -EINVAL;
            if (*s == '.') { /* a decimal: keep the integer part, skip the rest */
                s++;
                while (is_digit(*s))
                    s++;
            }
        } else if (*s == '-') {
            return -EINVAL; /* no negative quotas or times */
        } else {
            const char *t = s;
            while (is_key_char(*s) || *s == '/' || *s == ':')
                s++;
            if (s == t)
                return -EINVAL;
        }
    }
#define KEY(name) (klen == sizeof name - 1 && strncasecmp(k, name, klen) == 0)
    if (KEY("r"))
        m->r = v;
    else if (KEY("t"))
        m->t = v;
    else if (KEY("q"))
        m->q = v;
    else if (KEY("w"))
        m->w = v;
    else if (KEY("limit"))
        m->limit = v;
    else if (KEY("remaining"))
        m->remaining = v;
    else if (KEY("reset"))
        m->reset = v;
#undef KEY
    *p = s;
    return 0;
}

/*
 * Parse the whole list, calling back per member. Each member is a bare item
 * (integer, string or token) with ;params, or a key=value (dictionary form).
 */
static int sf_parse(const char *s, struct sf_member *out, int max, int *n)
{
    int count = 0;
    for (;;) {
        while (*s == ' ' || *s == '\t')
            s++;
        if (count == max)
            return -EINVAL;
        struct sf_member *m = &out[count];
        sf_clear(m);
        if (*s == '"') {
            if (sf_skip_string(&s))
                return -EINVAL;
        } else if (is_digit(*s)) {
            if (digits(&s, &m->item, NULL))
                return -EINVAL;
        } else if (is_key_char(*s)) {
            if (sf_param(&s, m)) /* dictionary member key=value, or a bare token */
                return -EINVAL;
        } else {
            return -EINVAL;
        }
        while (*s == ';') {
            s++;
            while (*s == ' ')
                s++;
            if (sf_param(&s, m))
                return -EINVAL;
        }
        count++;
        while (*s == ' ' || *s == '\t')
            s++;
        if (*s == '\0' || *s == '\r' || *s == '\n')
            break;
        if (*s != ',')
            return -EINVAL;
        s++;
    }
    *n = count;
    return 0;
}

static int ietf_ratelimit(struct ratehdr *h, const char *value)
{
    struct sf_member ms[8];
    int n;
    if (sf_parse(value, ms, 8, &n))
        return -EINVAL;
    int64_t lim = -1, rem = -1, reset_s = -1;
    bool found = false;
    for (int i = 0; i < n; i++) {
        /* draft -05/-06 dictionary members spread over several members */
        if (ms[i].limit >= 0)
            lim = ms[i].limit;
        if (ms[i].remaining >= 0)
            rem = ms[i].remaining, found = true;
        if (ms[i].reset >= 0)
            reset_s = ms[i].reset;
        /* draft -07+: one member per policy; keep the most restrictive */
        if (ms[i].r >= 0 && (!found || ms[i].r < rem)) {
            rem = ms[i].r;
            reset_s = ms[i].t;
            found = true;
        }
    }
    if (!found && lim < 0 && reset_s < 0)
        return -EINVAL;
    if (lim >= 0)
        h->ietf_limit = lim;
    if (rem >= 0)
        h->ietf_remaining = rem;
    if (reset_s >= 0) {
        if (reset_s > INT64_MAX / US_PER_S)
            return -ERANGE;
        h->ietf_reset_us = reset_s * US_PER_S;
    }
    return 0;
}

static int ietf_policy(struct ratehdr *h, const char *value)
{
    struct sf_member ms[8];
    int n;
    if (sf_parse(value, ms, 8, &n))
        return -EINVAL;
    int64_t lim = -1;
    for (int i = 0; i < n; i++) {
        int64_t q = ms[i].q >= 0 ? ms[i].q : ms[i].item;
        if (q >= 0 && (lim < 0 || q < lim))
            lim = q;
    }
    if (lim < 0)
        return -EINVAL;
    if (h->ietf_limit < 0 || lim < h->ietf_limit)
        h->ietf_limit = lim;
    return 0;
}

/* ---- collecting ---------------------------------------------------------- */

void ratehdr_begin(struct ratehdr *h)
{
    rlinfo_clear(&h->info);
    h->retry_after_us = h->retry_after_at_us = h->retry_after_ms_us = -1;
    for (int i = 0; i < 4; i++)
        h->anth_reset_at_us[i] = -1;
    h->ietf_limit = h->ietf_remaining = h->ietf_reset_us = -1;
}

static int store_int(const char *value, int64_t *field)
{
    int64_t v;
    if (parse_int(value, &v))
        return -EINVAL;
    *field = v;
    return 0;
}

static int store_go(const char *value, int64_t *field)
{
    int64_t v;
    if (ratehdr_parse_go_duration(value, &v))
        return -EINVAL;
    *field = v;
    return 0;
}

static int anthropic(struct ratehdr *h, const char *rest, const char *value)
{
    static const char *const dims[] = {"requests-", "tokens-", "input-tokens-", "output-tokens-"};
    struct rlinfo *i = &h->info;
    int64_t *lim[] = {&i->limit_requests, &i->limit_tokens, &i->limit_input_tokens,
                      &i->limit_output_tokens};
    int64_t *rem[] = {&i->remaining_requests, &i->remaining_tokens, &i->remaining_input_tokens,
                      &i->remaining_output_tokens};
    for (int d = 0; d < 4; d++) {
        size_t n = strlen(dims[d]);
        if (strncasecmp(rest, dims[d], n) != 0)
            continue;
        const char *what = rest + n;
        if (strcasecmp(what, "limit") == 0)
            return store_int(value, lim[d]);
        if (strcasecmp(what, "remaining") == 0)
            return store_int(value, rem[d]);
        if (strcasecmp(what, "reset") == 0) {
            int64_t t;
            if (ratehdr_parse_rfc3339(value, &t))
                return -EINVAL;
            h->anth_reset_at_us[d] = t;
            return 0;
        }
        return 1;
    }
    return 1;
}

static int add(struct ratehdr *h, const char *name, const char *value)
{
    struct rlinfo *i = &h->info;
    if (strcasecmp(name, "retry-after") == 0) {
        int64_t v;
        if (parse_decimal(value, US_PER_S, &v) == 0) {
            h->retry_after_us = v;
            return 0;
        }
        if (ratehdr_parse_http_date(value, &v) == 0) {
            h->retry_after_at_us = v;
            return 0;
        }
        return -EINVAL;
    }
    if (strcasecmp(name, "retry-after-ms") == 0) {
        int64_t v;
        if (parse_decimal(value, US_PER_MS, &v))
            return -EINVAL;
        h->retry_after_ms_us = v;
        return 0;
    }
    if (strcasecmp(name, "x-should-retry") == 0) {
        char buf[8];
        snprintf(buf, sizeof buf, "%s", value);
        char *t = str_trim(buf);
        if (strcasecmp(t, "true") == 0)
            i->should_retry = 1;
        else if (strcasecmp(t, "false") == 0)
            i->should_retry = 0;
        else
            return -EINVAL;
        return 0;
    }
    if (strncasecmp(name, "x-ratelimit-", 12) == 0) {
        const char *r = name + 12;
        if (strcasecmp(r, "limit-requests") == 0)
            return store_int(value, &i->limit_requests);
        if (strcasecmp(r, "remaining-requests") == 0)
            return store_int(value, &i->remaining_requests);
        if (strcasecmp(r, "reset-requests") == 0)
            return store_go(value, &i->reset_requests_us);
        if (strcasecmp(r, "limit-tokens") == 0)
            return store_int(value, &i->limit_tokens);
        if (strcasecmp(r, "remaining-tokens") == 0)
            return store_int(value, &i->remaining_tokens);
        if (strcasecmp(r, "reset-tokens") == 0)
            return store_go(value, &i->reset_tokens_us);
        return 1;
    }
    if (strncasecmp(name, "anthropic-ratelimit-", 20) == 0)
        return anthropic(h, name + 20, value);
    if (strcasecmp(name, "ratelimit-limit") == 0) {
        struct sf_member ms[8];
        int n;
        if (sf_parse(value, ms, 8, &n) || ms[0].item < 0)
            return -EINVAL;
        h->ietf_limit = ms[0].item;
        return 0;
    }
    if (strcasecmp(name, "ratelimit-remaining") == 0)
        return store_int(value, &h->ietf_remaining);
    if (strcasecmp(name, "ratelimit-reset") == 0) {
        int64_t v;
        if (parse_decimal(value, US_PER_S, &v))
            return -EINVAL;
        h->ietf_reset_us = v;
        return 0;
    }
    if (strcasecmp(name, "ratelimit") == 0)
        return ietf_ratelimit(h, value);
    if (strcasecmp(name, "ratelimit-policy") == 0)
        return ietf_policy(h, value);
    return 1;
}

int ratehdr_add(struct ratehdr *h, const char *name, const char *value)
{
    int rc = add(h, name, value);
    if (rc < 0) {
        h->info.parse_errors++;
        return -EINVAL;
    }
    return rc;
}

int ratehdr_add_line(struct ratehdr *h, const char *line, size_t len)
{
    char buf[1024];
    if (len >= sizeof buf)
        return 1;
    memcpy(buf, line, len);
    buf[len] = '\0';
    char *colon = strchr(buf, ':');
    if (!colon || colon == buf)
        return 1; /* status line ("HTTP/1.1 429 ..."), blank line */
    *colon = '\0';
    char *name = str_trim(buf);
    if (strchr(name, ' ') || strchr(name, '\t'))
        return 1;
    return ratehdr_add(h, name, str_trim(colon + 1));
}

static int64_t until(int64_t at_us, int64_t now_unix_us)
{
    return at_us > now_unix_us ? at_us - now_unix_us : 0;
}

void ratehdr_finish(const struct ratehdr *h, int64_t now_unix_us, struct rlinfo *out)
{
    *out = h->info;
    if (h->retry_after_ms_us >= 0)
        out->retry_after_us = h->retry_after_ms_us;
    else if (h->retry_after_us >= 0)
        out->retry_after_us = h->retry_after_us;
    else if (h->retry_after_at_us >= 0)
        out->retry_after_us = until(h->retry_after_at_us, now_unix_us);
    int64_t *reset[] = {&out->reset_requests_us, &out->reset_tokens_us, &out->reset_input_tokens_us,
                        &out->reset_output_tokens_us};
    for (int d = 0; d < 4; d++)
        if (h->anth_reset_at_us[d] >= 0)
            *reset[d] = until(h->anth_reset_at_us[d], now_unix_us);
    if (out->limit_requests < 0 && out->remaining_requests < 0) {
        out->limit_requests = h->ietf_limit;
        out->remaining_requests = h->ietf_remaining;
        if (out->reset_requests_us < 0)
            out->reset_requests_us = h->ietf_reset_us;
    }
}

int ratehdr_parse(const char *const *names, const char *const *values, int n, int64_t now_unix_us,
                  struct rlinfo *out)
{
    struct ratehdr h;
    ratehdr_begin(&h);
    for (int i = 0; i < n; i++)
        ratehdr_add(&h, names[i], values[i]);
    ratehdr_finish(&h, now_unix_us, out);
    return out->parse_errors;
}
