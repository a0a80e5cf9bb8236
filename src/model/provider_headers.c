#include "config.h"

#include "provider.h"

#include <assert.h>
#include <inttypes.h>
#include <stdio.h>

#include "ratehdr.h"

/*
 * Rate-limit headers as OpenAI and Anthropic send them. Only formatting: the
 * numbers come from a struct rlinfo the provider filled, and the time formats
 * are the header parser's own (ratehdr.h), so what we send is what we parse.
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
    return ratehdr_format_go_duration(ceil_div(us, 1000) * 1000, buf, n);
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
        emit(ctx, "anthropic-ratelimit-requests-reset",
             ratehdr_format_rfc3339(now_unix_us + ri->reset_requests_us, buf, sizeof buf));
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
        emit(ctx, "anthropic-ratelimit-tokens-reset",
             ratehdr_format_rfc3339(now_unix_us + ri->reset_tokens_us, buf, sizeof buf));
        n++;
    }
    return n;
}
