/*
 * plan_slo: SLOs for `ratelab plan`, "PATH OP VALUE" on the JSON report
 * (doc/report.md). The path decides the unit (a *_ms field takes durations, a
 * hit rate a share); the worst seed's value at the path is compared with the
 * target. Paths the report lacks get "did you mean" suggestions.
 */
#include "config.h"

#include "plan_slo.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "plan_int.h"
#include "util.h"

/* The unit of a report field, from its path's parts. */
static enum plan_unit path_unit(const char *path)
{
    const char *last = strrchr(path, '.');
    last = last ? last + 1 : path;
    if (strncmp(path, "hit_rate.", 9) == 0 || strstr(path, ".hit_rate.") ||
        strcmp(last, "kv_cache_usage") == 0)
        return PLAN_UNIT_SHARE;
    if (strcmp(last, "count") == 0 || strcmp(last, "lost") == 0)
        return PLAN_UNIT_PLAIN;
    size_t n = strlen(last);
    if (n > 6 && strcmp(last + n - 6, "_per_s") == 0)
        return PLAN_UNIT_PLAIN;
    if (strstr(path, "_ms.") || (n > 3 && strcmp(last + n - 3, "_ms") == 0))
        return PLAN_UNIT_MS;
    if (n > 2 && strcmp(last + n - 2, "_s") == 0)
        return PLAN_UNIT_S;
    return PLAN_UNIT_PLAIN;
}

static const char *const cmp_text[] = {"<=", "<", ">=", ">", "=="};

const char *plan_slo_cmp_text(enum plan_cmp cmp)
{
    return cmp_text[cmp];
}

int plan_parse_slo(const char *arg, struct plan_slo *s, char *err, size_t n)
{
    memset(s, 0, sizeof *s);
    snprintf(s->text, sizeof s->text, "%s", arg);
    const char *op = strpbrk(arg, "<>=");
    if (!op)
        return plan_errf(err, n, "--slo wants PATH OP VALUE (OP one of <= < >= > ==), not '%s'",
                         arg);
    size_t oplen;
    if (strncmp(op, "<=", 2) == 0)
        s->cmp = PLAN_LE, oplen = 2;
    else if (strncmp(op, ">=", 2) == 0)
        s->cmp = PLAN_GE, oplen = 2;
    else if (strncmp(op, "==", 2) == 0)
        s->cmp = PLAN_EQ, oplen = 2;
    else if (*op == '<')
        s->cmp = PLAN_LT, oplen = 1;
    else if (*op == '>')
        s->cmp = PLAN_GT, oplen = 1;
    else
        return plan_errf(err, n, "--slo %s: '=' compares nothing; use == (or <=, >=)", arg);
    char path[sizeof s->path];
    size_t plen = (size_t)(op - arg);
    if (plen >= sizeof path)
        return plan_errf(err, n, "--slo %s: path too long", arg);
    memcpy(path, arg, plen);
    path[plen] = '\0';
    snprintf(s->path, sizeof s->path, "%s", str_trim(path));
    if (!s->path[0])
        return plan_errf(err, n, "--slo %s: no report field before '%s'", arg, cmp_text[s->cmp]);
    char val[sizeof s->value];
    snprintf(val, sizeof val, "%s", op + oplen);
    snprintf(s->value, sizeof s->value, "%s", str_trim(val));
    if (!s->value[0])
        return plan_errf(err, n, "--slo %s: no value after '%s'", arg, cmp_text[s->cmp]);
    s->unit = path_unit(s->path);
    return 0;
}

/* The SLO's value in its field's unit, once the path is known to exist. */
static int slo_target(struct plan_slo *s, char *err, size_t n)
{
    const char *arg = s->text;
    char *v = s->value;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (end == v || errno || !isfinite(x))
        return plan_errf(err, n, "--slo %s: '%s' is not a number", arg, v);
    while (isspace((unsigned char)*end))
        end++;
    static const struct {
        const char *name;
        double ms;
    } units[] = {{"us", 1e-3}, {"ms", 1}, {"s", 1e3}, {"min", 6e4}, {"m", 6e4}, {"h", 3.6e6}};
    switch (s->unit) {
    case PLAN_UNIT_MS:
    case PLAN_UNIT_S:
        if (!*end && x != 0)
            return plan_errf(err, n,
                             "--slo %s: %s is a duration: give a unit (us, ms, s, min, h), "
                             "e.g. %s%s2s",
                             arg, s->path, s->path, cmp_text[s->cmp]);
        if (*end) {
            size_t k;
            for (k = 0; k < sizeof units / sizeof units[0]; k++)
                if (strcmp(end, units[k].name) == 0)
                    break;
            if (k == sizeof units / sizeof units[0])
                return plan_errf(err, n, "--slo %s: unknown unit '%s' (us, ms, s, min, h)", arg,
                                 end);
            x *= units[k].ms;
        }
        s->target = s->unit == PLAN_UNIT_S ? x / 1e3 : x;
        return 0;
    case PLAN_UNIT_SHARE:
        if (strcmp(end, "%") == 0)
            x /= 100;
        else if (*end)
            return plan_errf(err, n, "--slo %s: %s is a share: a fraction or a percentage (1%%)",
                             arg, s->path);
        if (x < 0 || x > 1)
            return plan_errf(err, n, "--slo %s: a share lies between 0 and 100%%", arg);
        s->target = x;
        return 0;
    case PLAN_UNIT_PLAIN:
        if (*end)
            return plan_errf(err, n, "--slo %s: %s is a plain number: no unit ('%s')", arg, s->path,
                             end);
        s->target = x;
        return 0;
    }
    return 0;
}

/* The number at path (plan_slo.h); the path is at most 127 bytes, as in struct plan_slo. */
int plan_slo_read(const cJSON *root, const char *path, double *out)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    char *last = strrchr(buf, '.');
    const char *leaf = last ? last + 1 : buf;
    if (strcmp(leaf, "lost") == 0) {
        /* A scope's lost requests: the report's three counts. */
        const cJSON *scope = root;
        if (last) {
            *last = '\0';
            char *save = NULL;
            for (char *p = strtok_r(buf, ".", &save); p && scope; p = strtok_r(NULL, ".", &save))
                scope = cJSON_GetObjectItemCaseSensitive(scope, p);
        }
        const cJSON *rq = scope ? cJSON_GetObjectItemCaseSensitive(scope, "requests") : NULL;
        if (!cJSON_IsObject(rq))
            return -ENOENT;
        double sum = 0;
        static const char *const parts[] = {"failed", "rejected", "timed_out"};
        for (int i = 0; i < 3; i++) {
            const cJSON *x = cJSON_GetObjectItemCaseSensitive(rq, parts[i]);
            if (!cJSON_IsNumber(x))
                return -ENOENT;
            sum += x->valuedouble;
        }
        *out = sum;
        return 0;
    }
    const cJSON *node = root;
    char *save = NULL;
    for (char *p = strtok_r(buf, ".", &save); p && node; p = strtok_r(NULL, ".", &save))
        node = cJSON_IsObject(node) ? cJSON_GetObjectItemCaseSensitive(node, p) : NULL;
    if (cJSON_IsNumber(node))
        *out = node->valuedouble;
    else if (cJSON_IsBool(node))
        *out = cJSON_IsTrue(node) ? 1 : 0;
    else if (cJSON_IsNull(node))
        *out = INFINITY;
    else
        return -ENOENT;
    return 0;
}

/* Every number's path in the report (and each scope's "lost"), for near matches. */
static void collect_paths(const cJSON *node, const char *prefix, char ***paths, int *n, int *cap)
{
    for (const cJSON *ch = node->child; ch; ch = ch->next) {
        char p[256];
        snprintf(p, sizeof p, "%s%s%s", prefix, prefix[0] ? "." : "", ch->string);
        if (cJSON_IsObject(ch)) {
            if (strcmp(ch->string, "requests") == 0) {
                char l[256];
                snprintf(l, sizeof l, "%s%slost", prefix, prefix[0] ? "." : "");
                if (*n == *cap)
                    *paths = xrealloc(*paths, sizeof **paths * (size_t)(*cap = *cap * 2 + 16));
                (*paths)[(*n)++] = xstrdup(l);
            }
            collect_paths(ch, p, paths, n, cap);
        } else if (cJSON_IsNumber(ch) || cJSON_IsBool(ch) || cJSON_IsNull(ch)) {
            if (*n == *cap)
                *paths = xrealloc(*paths, sizeof **paths * (size_t)(*cap = *cap * 2 + 16));
            (*paths)[(*n)++] = xstrdup(p);
        }
    }
}

/* "did you mean": the nearest paths, and those ending the same way. */
static int unknown_path(const char *path, char **paths, int n_paths, char *err, size_t n)
{
    const char *leaf = strrchr(path, '.');
    leaf = leaf ? leaf + 1 : path;
    char list[1024] = "";
    int shown = 0;
    int limit = (int)strlen(path) / 3 + 2;
    for (int d = 0; d <= limit && shown < 6; d++)
        for (int i = 0; i < n_paths && shown < 6; i++) {
            const char *l = strrchr(paths[i], '.');
            l = l ? l + 1 : paths[i];
            int dist = edit_distance(path, paths[i]);
            bool same_leaf = strcmp(l, leaf) == 0;
            if (dist == d || (d == limit && same_leaf && dist > limit)) {
                size_t len = strlen(list);
                snprintf(list + len, sizeof list - len, "%s%s", shown ? ", " : "", paths[i]);
                shown++;
            }
        }
    if (shown)
        return plan_errf(err, n, "--slo: no number '%s' in the report (did you mean %s?)", path,
                         list);
    return plan_errf(err, n, "--slo: no number '%s' in the report (doc/report.md lists the fields)",
                     path);
}

int plan_slo_check(struct plan_slo *slo, int n_slo, const struct cJSON *report, char *err,
                   size_t n)
{
    char **paths = NULL;
    int n_paths = 0, cap = 0, rc = 0;
    collect_paths(report, "", &paths, &n_paths, &cap);
    for (int k = 0; k < n_slo && rc == 0; k++) {
        double x;
        if (plan_slo_read(report, slo[k].path, &x) < 0)
            rc = unknown_path(slo[k].path, paths, n_paths, err, n);
        else
            rc = slo_target(&slo[k], err, n);
    }
    for (int i = 0; i < n_paths; i++)
        free(paths[i]);
    free(paths);
    return rc;
}

/* Which seed's value decides: the highest for <=, the lowest for >=, the farthest for ==. */
bool plan_slo_worse(const struct plan_slo *s, double a, double b)
{
    switch (s->cmp) {
    case PLAN_LE:
    case PLAN_LT:
        return a > b;
    case PLAN_GE:
    case PLAN_GT:
        return a < b;
    case PLAN_EQ:
        return fabs(a - s->target) > fabs(b - s->target);
    }
    return false;
}

bool plan_slo_meets(const struct plan_slo *s, double x)
{
    switch (s->cmp) {
    case PLAN_LE: return x <= s->target;
    case PLAN_LT: return x < s->target;
    case PLAN_GE: return x >= s->target;
    case PLAN_GT: return x > s->target;
    case PLAN_EQ: return x == s->target;
    }
    return false;
}
