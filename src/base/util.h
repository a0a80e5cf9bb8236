/*
 * util: small shared helpers — allocation that aborts on OOM, and the parsers
 * for the explicit units ratelab's inputs use (durations, rates, counts).
 *
 * Time everywhere in ratelab is int64_t microseconds on the engine's timeline.
 */
#ifndef RATELAB_UTIL_H
#define RATELAB_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define US_PER_MS 1000LL
#define US_PER_S 1000000LL
#define US_PER_MIN (60LL * US_PER_S)
#define US_PER_HOUR (60LL * US_PER_MIN)
#define US_PER_DAY (24LL * US_PER_HOUR)

/* Largest time ratelab handles: about 292 thousand years; "never". */
#define TIME_NEVER INT64_MAX

/*
 * llround(x) for |x| < 2^63, bit for bit (halves away from zero), inline: the
 * simulator rounds every drawn time, and the libm call showed in its profile.
 * Exact because x − trunc(x) is exact in doubles.
 */
static inline int64_t round_i64(double x)
{
    int64_t t = (int64_t)x;
    double frac = x - (double)t;
    return t + (frac >= 0.5) - (frac <= -0.5); /* no branch: draws go either way */
}

/* Allocation outside hot paths: abort with a message on OOM, never return NULL. */
void *xmalloc(size_t n);
void *xcalloc(size_t count, size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);

/*
 * Parse a duration with a required unit: "250us", "250ms", "30s", "5m", "1h", "1d",
 * decimals allowed ("1.5s"), several parts allowed ("1m30s"). "0" alone is accepted
 * as zero. A bare non-zero number is an error. On success writes *out_us (rounded to
 * the nearest µs) and returns 0; on error returns -EINVAL (syntax) or -ERANGE
 * (negative or too large) and leaves *out_us alone.
 */
int parse_duration_us(const char *s, int64_t *out_us);

/*
 * Parse a rate with a required unit: "20/s", "600/m", "36000/h", "1000/d", decimals
 * allowed. Writes events per second to *out_per_s. Returns 0, -EINVAL or -ERANGE.
 */
int parse_rate_per_s(const char *s, double *out_per_s);

/* A non-negative decimal integer with an optional k/M/G suffix (x1000). 0, -EINVAL, -ERANGE. */
int parse_count(const char *s, int64_t *out);

/* A decimal integer from 0 to 2^64-1, no suffix (seeds use the whole range).
 * 0, -EINVAL, -ERANGE. */
int parse_u64(const char *s, uint64_t *out);

/* A finite decimal number. 0, -EINVAL, -ERANGE. */
int parse_double(const char *s, double *out);

/* A share: "0.05" or "5%"; must lie in [0, 1]. 0, -EINVAL, -ERANGE. */
int parse_share(const char *s, double *out);

/* yes/no/true/false/on/off/1/0. 0 or -EINVAL. */
int parse_bool(const char *s, int *out);

/*
 * Format a duration for humans and for INI round trips: the largest unit that
 * represents it exactly ("250ms", "90s", "5m", "1500us"); "0" for zero.
 * Writes at most n bytes into buf; returns buf.
 */
char *format_duration(int64_t us, char *buf, size_t n);

/* Format a rate per second as the exact shortest "N/s", "N/m" or "N/h" form. */
char *format_rate(double per_s, char *buf, size_t n);

/* Levenshtein distance between two short strings (for "did you mean"). */
int edit_distance(const char *a, const char *b);

/* Trim leading and trailing white space in place; returns the start. */
char *str_trim(char *s);

#endif
