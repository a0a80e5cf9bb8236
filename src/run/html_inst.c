#include "config.h"

#include "html_inst.h"

#include <assert.h>
#include <inttypes.h>

#include "metrics.h"
#include "run.h"

/* Each instance's counts as the JSON report's instances.each[] entry writes them. */
static void put_instance_json(FILE *f, const struct run_instance_stats *st)
{
    fprintf(f, "{\"arrived\":%" PRId64, st->arrived);
    for (int i = 0; i < OUTCOME__COUNT; i++)
        fprintf(f, ",\"%s\":%" PRId64, report_outcome_key(i), st->ended[i]);
    fprintf(f, ",\"client_throttled\":%" PRId64 ",\"attempts_sent\":%" PRId64
               ",\"http_429\":%" PRId64 "}",
            st->throttled, st->sent, st->http_429);
}

void html_put_instances(FILE *f, const struct report_extra *x, const char *id)
{
    assert(f && x && x->n_instances > 1 && x->instances && id);
    static const char *const how[] = {"each enforces the whole limits",
                                      "each enforces a 1/N share of the limits",
                                      "all admit through one shared limiter"};
    enum instance_limits l = x->instance_limits;
    const char *limits = report_instance_limits_name(l);
    fprintf(f,
            "<p class=\"muted\">%d client instances, instance_limits = %s: %s. Requests "
            "go to them in turn (arrival k to instance k mod %d); retries stay on theirs.</p>\n",
            x->n_instances, limits, how[l <= INSTANCE_LIMITS_SHARED ? l : 0], x->n_instances);
    fputs("<table><tr><th>instance</th><th>arrived</th><th>succeeded</th><th>failed</th>"
          "<th>rejected</th><th>timed out</th><th>cancelled</th><th>throttled</th>"
          "<th>attempts sent</th><th>429 answers</th></tr>\n",
          f);
    for (int k = 0; k < x->n_instances; k++) {
        const struct run_instance_stats *st = &x->instances[k];
        fprintf(f, "<tr><td>%d</td><td>%" PRId64 "</td>", k, st->arrived);
        for (int i = 0; i < OUTCOME__COUNT; i++)
            fprintf(f, "<td>%" PRId64 "</td>", st->ended[i]);
        fprintf(f, "<td>%" PRId64 "</td><td>%" PRId64 "</td><td>%" PRId64 "</td></tr>\n",
                st->throttled, st->sent, st->http_429);
    }
    fprintf(f,
            "</table>\n<script type=\"application/json\" id=\"%s\">{\"count\":%d,"
            "\"limits\":\"%s\",\"each\":[",
            id, x->n_instances, limits);
    for (int k = 0; k < x->n_instances; k++) {
        fputs(k ? "," : "", f);
        put_instance_json(f, &x->instances[k]);
    }
    fputs("]}</script>\n", f);
}
