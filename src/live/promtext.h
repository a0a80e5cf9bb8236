/*
 * promtext: the Prometheus text exposition format (version 0.0.4), as vLLM's
 * /metrics serves it, read for the few gauges the live dashboard shows.
 *
 * The text is untrusted bytes (n of them, NUL not needed). One sample per
 * line: `name{label="value",...} value [timestamp]`, blanks or tabs between
 * tokens, "\n" or "\r\n" line ends, leading blanks allowed. Metric names are
 * [a-zA-Z_:][a-zA-Z0-9_:]*; label values may hold any byte but '"', '\' and a
 * line end, escaped as \" \\ \n (or \ and any byte); the braces may be empty
 * and may end in a comma. Values are Go floats as Prometheus writes them:
 * decimals, exponents, NaN, Inf, +Inf, -Inf (case-insensitive); they are read
 * without the C locale (a dashboard's setlocale does not change them), to
 * within an ulp or so. The timestamp is an integer; after it, an OpenMetrics
 * exemplar ("# {...} value") is tolerated. Lines starting with '#' (HELP,
 * TYPE, comments) and empty lines are skipped; any other line that does not
 * match is skipped as bad, not fatal. Nothing is allocated.
 */
#ifndef RATELAB_PROMTEXT_H
#define RATELAB_PROMTEXT_H

#include <stddef.h>

/*
 * vLLM's scheduler gauges. Only finite, non-negative samples count; NaN,
 * infinite or negative ones are valid lines but leave a gauge as it was.
 */
struct prom_vllm {
    double running;        /* vllm:num_requests_running, summed over label sets; -1 absent */
    double waiting;        /* vllm:num_requests_waiting, summed over label sets; -1 absent */
    double kv_cache_usage; /* vllm:kv_cache_usage_perc, or the older vllm:gpu_cache_usage_perc,
                              a share 0..1 (larger values are clamped to 1); the max over label
                              sets and both names; -1 absent */
};

/*
 * Parse one scrape. Returns 0 with *out filled (-1 for absent gauges), or
 * -EINVAL when the text has no valid sample line at all (an HTML error page,
 * garbage, an empty body), or starts (after white space) with '<' (HTML or
 * XML, whose text lines could otherwise pass for samples); *out is then
 * untouched.
 */
int prom_parse_vllm(const char *text, size_t n, struct prom_vllm *out);

/*
 * One sample line (without its line end, len bytes): the metric name as a
 * span of line (*name, *name_len) and the value. 0, or -EINVAL for a comment,
 * an empty line or a bad line. Outputs written only on 0. Also used by tests.
 */
int prom_parse_line(const char *line, size_t len, const char **name, size_t *name_len,
                    double *value);

#endif
