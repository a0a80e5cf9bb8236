/*
 * html_inst: the HTML page's client instances section ([client] instances > 1):
 * per instance the counts the JSON report's instances.each[] has, as a table and
 * as a JSON block of the same shape as the JSON report's "instances". Internal to
 * the run area: html.h is the API, doc/report.md describes the page.
 */
#ifndef RATELAB_HTML_INST_H
#define RATELAB_HTML_INST_H

#include <stdio.h>

#include "report.h"

/*
 * Write x's instances (x->n_instances > 1) to f: a line naming their count and
 * instance_limits, a table with a row per instance in order, and
 * <script type="application/json" id="ID"> with {"count", "limits", "each": [...]},
 * each entry's keys and values those of the JSON report's instances.each[].
 * The heading is the caller's.
 */
void html_put_instances(FILE *f, const struct report_extra *x, const char *id);

#endif
