/*
 * rlinfo: what one response says about rate limits, whatever header style it
 * came in (OpenAI x-ratelimit-*, Anthropic anthropic-ratelimit-*, IETF
 * RateLimit, Retry-After). The provider model fills it directly in simulation;
 * the header parser (client core) fills it from text headers in live runs.
 * The client core reads only this struct, so both paths feed one mechanism.
 *
 * All times are relative to the moment the response was received, in µs.
 * -1 in any field means "not given". Always start from rlinfo_clear(): fields
 * may be added. Owned by the client core (src/ratehdr.h fills it from headers).
 */
#ifndef RATELAB_RLINFO_H
#define RATELAB_RLINFO_H

#include <stdint.h>

struct rlinfo {
    int64_t retry_after_us;      /* wait at least this long before retrying */
    int should_retry;            /* x-should-retry: 1 yes, 0 no, -1 not given */
    int64_t limit_requests;      /* request budget per its window */
    int64_t remaining_requests;  /* requests left now */
    int64_t reset_requests_us;   /* until the request budget is full again */
    int64_t limit_tokens;        /* token budget per its window */
    int64_t remaining_tokens;    /* tokens left now */
    int64_t reset_tokens_us;     /* until the token budget is full again */
    /* Anthropic's separate input/output token limits (anthropic-ratelimit-{input,output}-tokens-*) */
    int64_t limit_input_tokens;
    int64_t remaining_input_tokens;
    int64_t reset_input_tokens_us;
    int64_t limit_output_tokens;
    int64_t remaining_output_tokens;
    int64_t reset_output_tokens_us;
    int parse_errors;            /* header values that were present but malformed */
};

/* Every field "not given", no parse errors. */
static inline void rlinfo_clear(struct rlinfo *i)
{
    i->retry_after_us = -1;
    i->should_retry = -1;
    i->limit_requests = i->remaining_requests = i->reset_requests_us = -1;
    i->limit_tokens = i->remaining_tokens = i->reset_tokens_us = -1;
    i->limit_input_tokens = i->remaining_input_tokens = i->reset_input_tokens_us = -1;
    i->limit_output_tokens = i->remaining_output_tokens = i->reset_output_tokens_us = -1;
    i->parse_errors = 0;
}

#endif
