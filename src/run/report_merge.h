/*
 * report_merge: several JSON reports (report_json) made into one, as if one run had
 * made every request of them all: the reports of processes that shared one quota
 * (`ratelab live --redis-run`), or of runs split in parts.
 *
 * Exact where the reports allow it: counts add; quantiles, maxima and means come
 * from the merged histograms the reports carry (doc/report.md, "Histograms"),
 * computed by the same code as a single run's (metrics_row_stats); hit rates,
 * rates and SLO verdicts are recomputed from the merged figures; the document is
 * written by report_json_doc, so it has a single report's shape and number
 * formatting, and merging one report gives it back byte for byte. What cannot be
 * exact (levels such as queue depth, which the reports keep only as a max and a
 * mean) follows the rules doc/report.md gives, field by field, under "Merging".
 */
#ifndef RATELAB_REPORT_MERGE_H
#define RATELAB_REPORT_MERGE_H

#include <stddef.h>
#include <stdio.h>

/*
 * Merge the reports texts[0..n) (n >= 1; each the whole text of a JSON report, named
 * names[i] in messages) and write the merged document to out. Returns 0; -EINVAL
 * when an input is not a report this ratelab can merge (not JSON, not a ratelab
 * report, another report_version or histogram format, a field missing or
 * inconsistent, live and simulated reports mixed), with "NAME: what is wrong" in
 * err[0..errlen); -EIO when out cannot be written.
 */
int report_merge(FILE *out, const char *const *names, const char *const *texts, int n,
                 char *err, size_t errlen);

#endif
