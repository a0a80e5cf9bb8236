/*
 * ratehdr: real HTTP response headers -> struct rlinfo (live runs; the sim's
 * provider fills rlinfo directly).
 *
 * Understood (names case-insensitive, anything else ignored):
 *   Retry-After                  delta seconds ("30", "1.5" tolerated) or an HTTP date
 *                                (IMF-fixdate, RFC 850, asctime)
 *   retry-after-ms               milliseconds, decimals allowed; wins over Retry-After
 *   x-should-retry               true / false
 *   x-ratelimit-{limit,remaining}-{requests,tokens}   integers (OpenAI)
 *   x-ratelimit-reset-{requests,tokens}               Go durations: 1s, 6m0s, 12ms,
 *                                                     23h47m36.648s (OpenAI)
 *   anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining}
 *   anthropic-ratelimit-...-reset                     RFC 3339 times (Anthropic)
 *   RateLimit-Limit / RateLimit-Remaining / RateLimit-Reset (IETF draft, delta seconds)
 *   RateLimit: limit=L, remaining=R, reset=S            (IETF draft -05/-06)
 *   RateLimit: "name";r=R;t=S   RateLimit-Policy: "name";q=L;w=W  (IETF draft -07+;
 *                                with several policies the most restrictive one counts)
 * IETF values fill the request fields only where no vendor header did.
 *
 * Every value is parsed strictly. A malformed one (empty, negative, garbage,
 * overflow, "1.5.3s") is ignored and counted in rlinfo.parse_errors, never a
 * crash. All waits are rounded up to whole µs, so a retry is never early.
 * Absolute times (HTTP dates, RFC 3339) are turned into waits against the
 * caller's wall clock, `now_unix_us` (µs since 1970, the moment of receipt);
 * a time in the past is a wait of 0.
 */
#ifndef RATELAB_RATEHDR_H
#define RATELAB_RATEHDR_H

#include <stddef.h>
#include <stdint.h>

#include "rlinfo.h"

/* One response's headers being collected (embed it; no allocation). */
struct ratehdr {
    struct rlinfo info;          /* relative values as they are parsed */
    int64_t retry_after_us;      /* Retry-After as a delta, -1 = none */
    int64_t retry_after_at_us;   /* Retry-After as an HTTP date, unix µs, -1 = none */
    int64_t retry_after_ms_us;   /* retry-after-ms, -1 = none */
    int64_t anth_reset_at_us[4]; /* anthropic resets (requests, tokens, input, output), unix µs */
    int64_t ietf_limit, ietf_remaining, ietf_reset_us; /* IETF, -1 = none */
};

/* Start collecting one response. */
void ratehdr_begin(struct ratehdr *h);

/*
 * One header, name and value as C strings (surrounding white space in the
 * value is ignored). Returns 0 (understood and stored), 1 (not a rate-limit
 * header: ignored), or -EINVAL (malformed value: ignored and counted).
 */
int ratehdr_add(struct ratehdr *h, const char *name, const char *value);

/*
 * One raw header line as libcurl's header callback gives it ("Name: value\r\n",
 * not NUL-terminated, len bytes). Status lines and blank lines are ignored (1).
 * Lines longer than 1 KiB are ignored (1).
 */
int ratehdr_add_line(struct ratehdr *h, const char *line, size_t len);

/* Resolve absolute times against now_unix_us and write the result to *out. */
void ratehdr_finish(const struct ratehdr *h, int64_t now_unix_us, struct rlinfo *out);

/* One-shot: n name/value pairs. Returns out->parse_errors. */
int ratehdr_parse(const char *const *names, const char *const *values, int n, int64_t now_unix_us,
                  struct rlinfo *out);

/* ---- the value parsers, also used by tests ------------------------------ */

/* Go duration ("1s", "6m0s", "12ms", "23h47m36.648s", "250us", "0") rounded up to µs. */
int ratehdr_parse_go_duration(const char *s, int64_t *out_us);

/* HTTP date (IMF-fixdate, RFC 850, asctime) -> unix µs. 0 or -EINVAL. */
int ratehdr_parse_http_date(const char *s, int64_t *out_unix_us);

/* RFC 3339 date-time -> unix µs, fractions rounded up. 0 or -EINVAL. */
int ratehdr_parse_rfc3339(const char *s, int64_t *out_unix_us);

/* ---- formatting, for the provider model / mock server ------------------- */

/* Go duration as OpenAI sends it ("6m0s", "1.5s", "12ms", "0s"); returns buf. */
char *ratehdr_format_go_duration(int64_t us, char *buf, size_t n);

/* IMF-fixdate ("Sun, 06 Nov 1994 08:49:37 GMT") of a unix time, seconds floored. */
char *ratehdr_format_http_date(int64_t unix_us, char *buf, size_t n);

/* RFC 3339 in UTC, whole seconds rounded up ("2024-05-01T12:34:56Z"). */
char *ratehdr_format_rfc3339(int64_t unix_us, char *buf, size_t n);

#endif
