/*
 * plan_out: what `ratelab plan` prints after the search: the points tried as a
 * table (each SLO's worst seed and the spread over seeds), monotonicity as seen
 * on those points, the recommendation with its margin against each SLO and the
 * step that fails beside it (plan_print), the same as JSON (plan_json), and as
 * an HTML page with a plot per SLO against the last varied key (plan_html).
 */
#include "config.h"

#include "plan.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "html.h"
#include "plan_int.h"
#include "plan_slo.h"
#include "plan_vary.h"
#include "util.h"

/* A measured value in its field's unit: "2000 ms", "1.5%", "12". */
static char *value_text(const struct plan_slo *s, double x, char *buf, size_t n)
{
    if (isinf(x))
        snprintf(buf, n, "never");
    else if (s->unit == PLAN_UNIT_MS)
        snprintf(buf, n, "%.6g ms", x);
    else if (s->unit == PLAN_UNIT_S)
        snprintf(buf, n, "%.6g s", x);
    else if (s->unit == PLAN_UNIT_SHARE)
        snprintf(buf, n, "%.4g%%", 100 * x);
    else
        snprintf(buf, n, "%.6g", x);
    return buf;
}

/* One SLO cell: the worst seed's value, "!" when it fails, the spread over seeds. */
static void cell_text(const plan *p, const struct point *q, int k, char *buf, size_t n)
{
    const struct plan_slo *s = &p->c.slo[k];
    char w[48];
    value_text(s, q->worst[k], w, sizeof w);
    double f = s->unit == PLAN_UNIT_SHARE ? 100 : 1; /* the spread in the worst's unit */
    if (p->c.seeds > 1 && q->min[k] != q->max[k])
        snprintf(buf, n, "%s%s [%.6g..%.6g]", w, q->pass[k] ? "" : " !", f * q->min[k],
                 f * q->max[k]);
    else
        snprintf(buf, n, "%s%s", w, q->pass[k] ? "" : " !");
}

static const plan *sort_plan; /* qsort has no context argument */

static int by_setting(const void *a, const void *b)
{
    const struct point *x = &sort_plan->pts[*(const int64_t *)a];
    const struct point *y = &sort_plan->pts[*(const int64_t *)b];
    int last = sort_plan->c.n_vary - 1;
    if (x->combo != y->combo)
        return x->combo < y->combo ? -1 : 1;
    return (x->idx[last] > y->idx[last]) - (x->idx[last] < y->idx[last]);
}

/* Point indices in the table's order: grid point by preference, then the last key rising. */
static int64_t *table_order(const plan *p)
{
    int64_t *o = xmalloc(sizeof *o * (size_t)(p->n_pts ? p->n_pts : 1));
    for (int64_t i = 0; i < p->n_pts; i++)
        o[i] = i;
    sort_plan = p;
    qsort(o, (size_t)p->n_pts, sizeof *o, by_setting);
    sort_plan = NULL;
    return o;
}

/* "server.max_running=8, client.max_concurrent=20" */
static void setting_text(const plan *p, const int64_t *idx, int upto, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < upto && len < n; k++) {
        char v[64];
        len += (size_t)snprintf(buf + len, n - len, "%s%s=%s", k ? ", " : "", p->c.vary[k].key,
                                plan_vary_text(&p->c.vary[k], idx[k], v, sizeof v));
    }
}

/* The SLOs a point fails, with their worst values: "latency_ms.p95 (2950 ms)". */
static void failures_text(const plan *p, const struct point *q, char *buf, size_t n)
{
    size_t len = 0;
    buf[0] = '\0';
    for (int k = 0; k < p->c.n_slo && len < n; k++)
        if (!q->pass[k]) {
            char v[48];
            len += (size_t)snprintf(buf + len, n - len, "%s%s (%s)", len ? ", " : "",
                                    p->c.slo[k].path, value_text(&p->c.slo[k], q->worst[k], v, sizeof v));
        }
}

/* A slack against an SLO's target, in its unit, and as a share of the target. */
static void margin_text(const struct plan_slo *s, double x, char *buf, size_t n)
{
    double slack = s->cmp == PLAN_GE || s->cmp == PLAN_GT ? x - s->target : s->target - x;
    if (s->cmp == PLAN_EQ)
        slack = 0;
    char v[48], t[48], d[48];
    value_text(s, x, v, sizeof v);
    value_text(s, s->target, t, sizeof t);
    if (s->unit == PLAN_UNIT_SHARE)
        snprintf(d, sizeof d, "%.4g points", 100 * slack);
    else
        value_text(s, slack, d, sizeof d);
    if (s->target != 0 && isfinite(x))
        snprintf(buf, n, "%s %s against %s %s (%s, %.1f%%)", s->path, v, plan_slo_cmp_text(s->cmp),
                 t, d, 100 * slack / fabs(s->target));
    else
        snprintf(buf, n, "%s %s against %s %s", s->path, v, plan_slo_cmp_text(s->cmp), t);
}

void plan_print(const plan *p, FILE *out)
{
    const struct plan_config *c = &p->c;
    int K = c->n_vary, S = c->n_slo;
    fprintf(out, "plan %s: %lld points tried in %d round%s, %d seed%s each (%llu..%llu, the worst "
                 "decides)\n",
            c->scenario_path, (long long)p->n_pts, p->rounds, p->rounds == 1 ? "" : "s", c->seeds, c->seeds == 1 ? "" : "s",
            (unsigned long long)c->seed0, (unsigned long long)(c->seed0 + (uint64_t)c->seeds - 1));
    for (int k = 0; k < K; k++) {
        const struct plan_vary *v = &c->vary[k];
        char a[64], b[64], st[64];
        if (v->kind == PLAN_KEY_DURATION)
            format_duration(llround(v->step), st, sizeof st);
        else
            snprintf(st, sizeof st, "%.6g", v->step);
        fprintf(out, "  %s %s..%s step %s: the %s that meets the SLOs%s\n", v->key,
                plan_vary_text(v, 0, a, sizeof a), plan_vary_text(v, v->n - 1, b, sizeof b), st,
                v->largest ? "largest" : "smallest", k + 1 < K ? " (a grid)" : "");
    }
    fprintf(out, "  SLOs:");
    for (int k = 0; k < S; k++)
        fprintf(out, " %s", c->slo[k].text);
    fprintf(out, "\n\n");

    /* The table: column widths from the cells. */
    int64_t *o = table_order(p);
    int wk[PLAN_MAX_VARY], ws[PLAN_MAX_SLO];
    char cell[256];
    for (int k = 0; k < K; k++)
        wk[k] = (int)strlen(c->vary[k].key);
    for (int k = 0; k < S; k++)
        ws[k] = (int)strlen(c->slo[k].text);
    for (int64_t i = 0; i < p->n_pts; i++) {
        for (int k = 0; k < K; k++) {
            int l = (int)strlen(plan_vary_text(&c->vary[k], p->pts[i].idx[k], cell, sizeof cell));
            wk[k] = l > wk[k] ? l : wk[k];
        }
        for (int k = 0; k < S; k++) {
            cell_text(p, &p->pts[i], k, cell, sizeof cell);
            int l = (int)strlen(cell);
            ws[k] = l > ws[k] ? l : ws[k];
        }
    }
    for (int k = 0; k < K; k++)
        fprintf(out, "%*s  ", wk[k], c->vary[k].key);
    for (int k = 0; k < S; k++)
        fprintf(out, "%-*s  ", ws[k], c->slo[k].text);
    fprintf(out, "verdict\n");
    for (int64_t j = 0; j < p->n_pts; j++) {
        const struct point *q = &p->pts[o[j]];
        for (int k = 0; k < K; k++)
            fprintf(out, "%*s  ", wk[k], plan_vary_text(&c->vary[k], q->idx[k], cell, sizeof cell));
        for (int k = 0; k < S; k++) {
            cell_text(p, q, k, cell, sizeof cell);
            fprintf(out, "%-*s  ", ws[k], cell);
        }
        fprintf(out, "%s%s\n", q->ok ? "ok" : "fail", o[j] == p->best ? "  <- recommended" : "");
    }
    free(o);
    fputc('\n', out);

    /* Monotonicity, as checked on the points tried. */
    const struct plan_vary *lv = &c->vary[K - 1];
    bool all_monotone = true;
    for (int64_t g = 0; g < p->n_combos; g++) {
        const struct search *s = &p->s[g];
        if (!s->not_monotone)
            continue;
        all_monotone = false;
        /* A witness: the lowest-ranked failure above a pass. */
        const struct point *f = NULL, *ps = NULL;
        for (int64_t i = 0; i < p->n_pts; i++) {
            const struct point *q = &p->pts[i];
            if (q->combo == g && q->ok && (!ps || q->rank < ps->rank))
                ps = q;
        }
        for (int64_t i = 0; ps && i < p->n_pts; i++) {
            const struct point *q = &p->pts[i];
            if (q->combo == g && !q->ok && q->rank > ps->rank && (!f || q->rank < f->rank))
                f = q;
        }
        char where[256] = "", a[64], b[64];
        if (K > 1) {
            setting_text(p, ps->idx, K - 1, where, sizeof where);
            strncat(where, ": ", sizeof where - strlen(where) - 1);
        }
        fprintf(out, "not monotone: %s%s=%s fails where %s passes", where, lv->key,
                plan_vary_text(lv, f->idx[K - 1], a, sizeof a),
                plan_vary_text(lv, ps->idx[K - 1], b, sizeof b));
        if (s->grid_capped)
            fprintf(out, "; the grid at this STEP would take %lld points (more than %d): give a "
                         "coarser STEP to search it\n",
                    (long long)lv->n, PLAN_GRID_MAX);
        else
            fprintf(out, "; searched every step of the range instead\n");
    }
    if (all_monotone)
        fprintf(out, "monotone on the %lld points tried: no %s fails %s one that passes\n",
                (long long)p->n_pts, lv->key, lv->largest ? "below" : "above");
    if (K > 1)
        for (int64_t g = 0; g < p->n_combos; g++) {
            int64_t idx[PLAN_MAX_VARY];
            char where[256], v[64];
            plan_probe_indices(p, g, 0, idx);
            setting_text(p, idx, K - 1, where, sizeof where);
            if (p->s[g].answer >= 0)
                fprintf(out, "  %s: %s=%s\n", where, lv->key,
                        plan_vary_text(lv, plan_rank_index(lv, p->s[g].answer), v, sizeof v));
            else
                fprintf(out, "  %s: none in range\n", where);
        }

    char buf[1024];
    if (p->best < 0) {
        fprintf(out, "no setting in range meets every SLO\n");
        /* The most generous setting tried, and what it misses. */
        const struct point *g = NULL;
        for (int64_t i = 0; i < p->n_pts; i++)
            if (p->pts[i].combo == 0 && (!g || p->pts[i].rank > g->rank))
                g = &p->pts[i];
        if (g) {
            char set[512];
            setting_text(p, g->idx, K, set, sizeof set);
            failures_text(p, g, buf, sizeof buf);
            fprintf(out, "  the most generous setting tried, %s, fails: %s\n", set, buf);
        }
        return;
    }
    const struct point *b = &p->pts[p->best];
    setting_text(p, b->idx, K, buf, sizeof buf);
    fprintf(out, "recommended: %s\n", buf);
    for (int k = 0; k < S; k++) {
        margin_text(&c->slo[k], b->worst[k], buf, sizeof buf);
        fprintf(out, "  margin: %s\n", buf);
    }
    const struct point *nx = b->rank > 0 ? plan_find_point(p, b->combo, b->rank - 1) : NULL;
    if (nx && !nx->ok) {
        char v[64];
        failures_text(p, nx, buf, sizeof buf);
        fprintf(out, "  one step %s, %s=%s fails: %s\n", lv->largest ? "up" : "down", lv->key,
                plan_vary_text(lv, nx->idx[K - 1], v, sizeof v), buf);
    }
}

static cJSON *vary_values(const plan *p, const int64_t *idx)
{
    cJSON *o = cJSON_CreateObject();
    for (int k = 0; k < p->c.n_vary; k++) {
        const struct plan_vary *v = &p->c.vary[k];
        double x = plan_vary_value(v, idx[k]);
        if (v->kind == PLAN_KEY_DURATION)
            x /= 1e6; /* seconds in JSON */
        cJSON_AddNumberToObject(o, v->key, x);
    }
    return o;
}

int plan_json(const plan *p, FILE *out)
{
    const struct plan_config *c = &p->c;
    static const char *const kinds[] = {"count", "duration_s", "rate_per_s", "number",
                                        "rate_per_s", "count"};
    static const char *const units[] = {"plain", "ms", "s", "share"};
    cJSON *root = cJSON_CreateObject();
    cJSON_AddStringToObject(root, "scenario", c->scenario_path);
    cJSON *seeds = cJSON_AddArrayToObject(root, "seeds");
    for (int s = 0; s < c->seeds; s++)
        cJSON_AddItemToArray(seeds, cJSON_CreateNumber((double)(c->seed0 + (uint64_t)s)));
    cJSON *va = cJSON_AddArrayToObject(root, "vary");
    for (int k = 0; k < c->n_vary; k++) {
        const struct plan_vary *v = &c->vary[k];
        double f = v->kind == PLAN_KEY_DURATION ? 1e-6 : 1;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "key", v->key);
        cJSON_AddStringToObject(o, "unit", kinds[v->kind]);
        cJSON_AddNumberToObject(o, "lo", v->lo * f);
        cJSON_AddNumberToObject(o, "hi", v->hi * f);
        cJSON_AddNumberToObject(o, "step", v->step * f);
        cJSON_AddStringToObject(o, "goal", v->largest ? "largest" : "smallest");
        cJSON_AddItemToArray(va, o);
    }
    cJSON *sa = cJSON_AddArrayToObject(root, "slos");
    for (int k = 0; k < c->n_slo; k++) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "slo", c->slo[k].text);
        cJSON_AddStringToObject(o, "path", c->slo[k].path);
        cJSON_AddStringToObject(o, "op", plan_slo_cmp_text(c->slo[k].cmp));
        cJSON_AddNumberToObject(o, "target", c->slo[k].target);
        cJSON_AddStringToObject(o, "unit", units[c->slo[k].unit]);
        cJSON_AddItemToArray(sa, o);
    }
    cJSON *pa = cJSON_AddArrayToObject(root, "points");
    int64_t *ord = table_order(p);
    bool monotone = true;
    for (int64_t g = 0; g < p->n_combos; g++)
        monotone = monotone && !p->s[g].not_monotone;
    for (int64_t j = 0; j < p->n_pts; j++) {
        const struct point *q = &p->pts[ord[j]];
        cJSON *o = cJSON_CreateObject();
        cJSON_AddItemToObject(o, "setting", vary_values(p, q->idx));
        cJSON_AddBoolToObject(o, "ok", q->ok);
        cJSON *ms = cJSON_AddArrayToObject(o, "slos");
        for (int k = 0; k < c->n_slo; k++) {
            cJSON *m = cJSON_CreateObject();
            cJSON_AddNumberToObject(m, "worst", q->worst[k]);
            cJSON_AddNumberToObject(m, "min", q->min[k]);
            cJSON_AddNumberToObject(m, "max", q->max[k]);
            cJSON_AddBoolToObject(m, "ok", q->pass[k]);
            cJSON_AddItemToArray(ms, m);
        }
        cJSON_AddItemToArray(pa, o);
    }
    free(ord);
    cJSON_AddBoolToObject(root, "monotone", monotone);
    cJSON_AddNumberToObject(root, "rounds", p->rounds);
    cJSON_AddBoolToObject(root, "found", p->best >= 0);
    if (p->best >= 0) {
        const struct point *b = &p->pts[p->best];
        cJSON *r = cJSON_AddObjectToObject(root, "recommended");
        cJSON_AddItemToObject(r, "setting", vary_values(p, b->idx));
        cJSON *mg = cJSON_AddArrayToObject(r, "margin");
        for (int k = 0; k < c->n_slo; k++) {
            const struct plan_slo *s = &c->slo[k];
            double slack = s->cmp == PLAN_EQ ? 0
                           : s->cmp == PLAN_GE || s->cmp == PLAN_GT ? b->worst[k] - s->target
                                                                     : s->target - b->worst[k];
            cJSON *m = cJSON_CreateObject();
            cJSON_AddStringToObject(m, "path", s->path);
            cJSON_AddNumberToObject(m, "worst", b->worst[k]);
            cJSON_AddNumberToObject(m, "target", s->target);
            cJSON_AddNumberToObject(m, "slack", slack);
            cJSON_AddItemToArray(mg, m);
        }
    } else {
        cJSON_AddNullToObject(root, "recommended");
    }
    char *text = cJSON_Print(root);
    cJSON_Delete(root);
    int rc = text && fputs(text, out) >= 0 && fputc('\n', out) != EOF ? 0 : -EIO;
    free(text);
    return rc;
}

int plan_html(const plan *p, FILE *out)
{
    const struct plan_config *c = &p->c;
    const int K = c->n_vary, S = c->n_slo, last = K - 1;
    const struct plan_vary *v = &c->vary[last];
    int64_t *order = table_order(p);
    int64_t n = p->n_pts > 0 ? p->n_pts : 1;
    /* Lines: the points of one grid point of the other keys, the last key rising. */
    int n_lines = 0;
    int *first = xcalloc((size_t)n + 1, sizeof *first); /* each line's first in order */
    for (int64_t i = 0; i < p->n_pts; i++)
        if (i == 0 || p->pts[order[i]].combo != p->pts[order[i - 1]].combo)
            first[n_lines++] = (int)i;
    first[n_lines] = (int)p->n_pts;
    double *vals = xcalloc((size_t)(S * 4 + 1) * (size_t)n, sizeof *vals);
    double *xs = vals + (size_t)S * 4 * (size_t)n;
    char(*labels)[256] = xcalloc((size_t)n_lines + 1, sizeof *labels);
    struct html_sweep_line *lines = xcalloc((size_t)(S * n_lines) + 1, sizeof *lines);
    struct html_sweep *sw = xcalloc((size_t)S + 1, sizeof *sw);
    double xdiv = v->kind == PLAN_KEY_DURATION ? US_PER_S : 1;
    char x_unit[160], mark[512] = "";
    snprintf(x_unit, sizeof x_unit, "%s%s", v->key,
             v->kind == PLAN_KEY_DURATION ? " (s)"
             : v->kind == PLAN_KEY_RATE || v->kind == PLAN_KEY_CLASS_RATE ? " (1/s)" : "");
    for (int64_t i = 0; i < p->n_pts; i++)
        xs[i] = plan_vary_value(v, p->pts[order[i]].idx[last]) / xdiv;
    int mark_line = -1;
    const struct point *best = p->best >= 0 ? &p->pts[p->best] : NULL;
    if (best)
        setting_text(p, best->idx, K, mark, sizeof mark);
    for (int g = 0; g < n_lines; g++) {
        const struct point *q = &p->pts[order[first[g]]];
        setting_text(p, q->idx, last, labels[g], sizeof labels[g]);
        if (best && q->combo == best->combo)
            mark_line = g;
    }
    for (int k = 0; k < S; k++) {
        const struct plan_slo *s = &c->slo[k];
        double f = s->unit == PLAN_UNIT_SHARE ? 100 : 1;
        double *w = vals + (size_t)k * 4 * (size_t)n, *lo = w + n, *hi = lo + n;
        for (int64_t i = 0; i < p->n_pts; i++) {
            const struct point *q = &p->pts[order[i]];
            w[i] = f * q->worst[k];
            lo[i] = f * q->min[k];
            hi[i] = f * q->max[k];
        }
        for (int g = 0; g < n_lines; g++)
            lines[k * n_lines + g] = (struct html_sweep_line){
                .label = labels[g], .n = first[g + 1] - first[g], .x = xs + first[g],
                .worst = w + first[g], .lo = lo + first[g], .hi = hi + first[g]};
        sw[k] = (struct html_sweep){
            .title = s->text,
            .x_unit = x_unit,
            .y_unit = s->unit == PLAN_UNIT_MS ? "ms"
                      : s->unit == PLAN_UNIT_S ? "s"
                      : s->unit == PLAN_UNIT_SHARE ? "%" : "",
            .target = f * s->target,
            .mark_x = best ? plan_vary_value(v, best->idx[last]) / xdiv : NAN,
            .mark_line = mark_line,
            .mark_text = best ? mark : NULL,
            .lines = lines + k * n_lines,
            .n_lines = n_lines,
        };
    }
    char *text = NULL, title[PATH_MAX + 16];
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    if (mem) {
        plan_print(p, mem);
        fclose(mem);
    }
    snprintf(title, sizeof title, "plan: %s", c->scenario_path);
    int rc = html_write_sweeps(out, title, text, sw, S);
    free(text);
    free(sw);
    free(lines);
    free(labels);
    free(vals);
    free(first);
    free(order);
    return rc;
}
