#include "config.h"

#include "provider.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>

/*
 * Rate-limit headers as OpenAI and Anthropic send them. Only formatting: the
 * numbers come from a struct rlinfo the provider filled.
 */

static int64_t ceil_div(int64_t a, int64_t b)
{
    return a <= 0 ? 0 : (a - 1) / b + 1;
}

/*
 * OpenAI writes resets as Go durations ("6m0s", "1s", "12ms", "1m26.4s"); we
 * round up to the ms so a client never retries early, then print as Go does.
 */
char *provider_format_reset(int64_t us, char *buf, size_t n)
{
    int64_t ms = ceil_div(us, 1000);
    if (ms == 0) {
        snprintf(buf, n, "0s");
        return buf;
    }
    if (ms < 1000) {
        snprintf(buf, n, "%" PRId64 "ms", ms);
        return buf;
    }
    int64_t h = ms / 3600000, m = ms / 60000 % 60, s = ms / 1000 % 60, frac = ms % 1000;
    char sec[32];
    if (frac == 0) {
        snprintf(sec, sizeof sec, "%" PRId64 "s", s);
    } else {
        int digits = 3;
        while (frac % 10 == 0) {
            frac /= 10;
            digits--;
        }
        snprintf(sec, sizeof sec, "%" PRId64 ".%0*" PRId64 "s", s, digits, frac);
    }
    if (h > 0)
        snprintf(buf, n, "%" PRId64 "h%" PRId64 "m%s", h, m, sec);
    else if (m > 0)
        snprintf(buf, n, "%" PRId64 "m%s", m, sec);
    else
        snprintf(buf, n, "%s", sec);
    return buf;
}

/* Days since 1970-01-01 to a civil date (proleptic Gregorian; H. Hinnant's algorithm). */
static void civil_from_days(int64_t z, int64_t *y, int *mo, int *d)
{
    z += 719468;
    int64_t era = (z >= 0 ? z : z - 146096) / 146097;
    int64_t doe = z - era * 146097;
    int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    int64_t mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *mo = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*mo <= 2);
}

/* RFC 3339 UTC of the instant unix_us, rounded up to the second. */
static void format_rfc3339(int64_t unix_us, char *buf, size_t n)
{
    int64_t s = unix_us >= 0 ? ceil_div(unix_us, 1000000) : -((-unix_us) / 1000000);
    int64_t days = s >= 0 ? s / 86400 : -((-s + 86399) / 86400);
    int64_t sod = s - days * 86400;
    int64_t y;
    int mo, d;
    civil_from_days(days, &y, &mo, &d);
    snprintf(buf, n, "%04" PRId64 "-%02d-%02dT%02d:%02d:%02dZ", y, mo, d, (int)(sod / 3600),
             (int)(sod / 60 % 60), (int)(sod % 60));
}

typedef void (*emit_fn)(void *ctx, const char *name, const char *value);

static void emit_int(emit_fn emit, void *ctx, const char *name, int64_t v)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%" PRId64, v);
    emit(ctx, name, buf);
}

int provider_format_headers(enum header_style style, const struct rlinfo *ri,
                            int64_t now_unix_us, emit_fn emit, void *ctx)
{
    assert(ri && emit);
    char buf[64];
    int n = 0;
    if (style == HEADERS_NONE)
        return 0;
    if (ri->retry_after_us >= 0) {
        emit_int(emit, ctx, "retry-after", ceil_div(ri->retry_after_us, 1000000));
        n++;
        if (style == HEADERS_OPENAI) {
            emit_int(emit, ctx, "retry-after-ms", ceil_div(ri->retry_after_us, 1000));
            n++;
        }
    }
    if (style == HEADERS_OPENAI) {
        if (ri->should_retry >= 0) {
            emit(ctx, "x-should-retry", ri->should_retry ? "true" : "false");
            n++;
        }
        if (ri->limit_requests >= 0) {
            emit_int(emit, ctx, "x-ratelimit-limit-requests", ri->limit_requests);
            n++;
        }
        if (ri->limit_tokens >= 0) {
            emit_int(emit, ctx, "x-ratelimit-limit-tokens", ri->limit_tokens);
            n++;
        }
        if (ri->remaining_requests >= 0) {
            emit_int(emit, ctx, "x-ratelimit-remaining-requests", ri->remaining_requests);
            n++;
        }
        if (ri->remaining_tokens >= 0) {
            emit_int(emit, ctx, "x-ratelimit-remaining-tokens", ri->remaining_tokens);
            n++;
        }
        if (ri->reset_requests_us >= 0) {
            emit(ctx, "x-ratelimit-reset-requests",
                 provider_format_reset(ri->reset_requests_us, buf, sizeof buf));
            n++;
        }
        if (ri->reset_tokens_us >= 0) {
            emit(ctx, "x-ratelimit-reset-tokens",
                 provider_format_reset(ri->reset_tokens_us, buf, sizeof buf));
            n++;
        }
        return n;
    }
    /* HEADERS_ANTHROPIC */
    if (ri->limit_requests >= 0) {
        emit_int(emit, ctx, "anthropic-ratelimit-requests-limit", ri->limit_requests);
        n++;
    }
    if (ri->remaining_requests >= 0) {
        emit_int(emit, ctx, "anthropic-ratelimit-requests-remaining", ri->remaining_requests);
        n++;
    }
    if (ri->reset_requests_us >= 0) {
        format_rfc3339(now_unix_us + ri->reset_requests_us, buf, sizeof buf);
        emit(ctx, "anthropic-ratelimit-requests-reset", buf);
        n++;
    }
    if (ri->limit_tokens >= 0) {
        emit_int(emit, ctx, "anthropic-ratelimit-tokens-limit", ri->limit_tokens);
        n++;
    }
    if (ri->remaining_tokens >= 0) {
        emit_int(emit, ctx, "anthropic-ratelimit-tokens-remaining", ri->remaining_tokens);
        n++;
    }
    if (ri->reset_tokens_us >= 0) {
        format_rfc3339(now_unix_us + ri->reset_tokens_us, buf, sizeof buf);
        emit(ctx, "anthropic-ratelimit-tokens-reset", buf);
        n++;
    }
    return n;
}
