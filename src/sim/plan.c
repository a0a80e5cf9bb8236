#include "config.h"

#include "plan.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <poll.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"
#include "report.h"
#include "sim.h"
#include "util.h"

/* ---- parsing ------------------------------------------------------------ */

/* Keys where 0 means "unlimited": a range from 0 would jump from no limit to a limit. */
static const char *const unlimited_zero[] = {
    "requests_per_minute", "tokens_per_minute", "tokens_per_day", "max_concurrent",
    "queue_capacity",      "max_running",       "max_waiting",
};

static int errf(char *err, size_t n, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int errf(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

/* One end of a range in the key's kind; 0 or -EINVAL. */
static int parse_bound(enum plan_key_kind k, const char *s, double *out)
{
    int64_t i;
    switch (k) {
    case PLAN_KEY_COUNT:
    case PLAN_KEY_CLASS_USERS:
        if (parse_count(s, &i) < 0)
            return -EINVAL;
        *out = (double)i;
        return 0;
    case PLAN_KEY_DURATION:
        if (parse_duration_us(s, &i) < 0)
            return -EINVAL;
        *out = (double)i;
        return 0;
    case PLAN_KEY_RATE:
        return parse_rate_per_s(s, out);
    case PLAN_KEY_CLASS_RATE:
        if (parse_rate_per_s(s, out) == 0)
            return 0;
        return parse_double(s, out) == 0 && *out >= 0 ? 0 : -EINVAL;
    case PLAN_KEY_NUMBER:
        return parse_double(s, out);
    }
    return -EINVAL;
}

int plan_parse_vary(const char *arg, struct plan_vary *v, char *err, size_t n)
{
    memset(v, 0, sizeof *v);
    v->class_index = -1;
    const char *eq = strchr(arg, '=');
    const char *dots = eq ? strstr(eq, "..") : NULL;
    if (!eq || !dots || eq == arg || (size_t)(eq - arg) >= sizeof v->key)
        return errf(err, n, "--vary wants KEY=LO..HI[:STEP], not '%s'", arg);
    memcpy(v->key, arg, (size_t)(eq - arg));
    char lo[64], hi[64], step[64] = "";
    size_t lo_len = (size_t)(dots - eq - 1);
    const char *colon = strchr(dots + 2, ':');
    size_t hi_len = colon ? (size_t)(colon - dots - 2) : strlen(dots + 2);
    if (lo_len == 0 || hi_len == 0 || lo_len >= sizeof lo || hi_len >= sizeof hi ||
        (colon && (strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof step)))
        return errf(err, n, "--vary wants KEY=LO..HI[:STEP], not '%s'", arg);
    memcpy(lo, eq + 1, lo_len);
    lo[lo_len] = '\0';
    memcpy(hi, dots + 2, hi_len);
    hi[hi_len] = '\0';
    if (colon)
        snprintf(step, sizeof step, "%s", colon + 1);

    const char *dot = strchr(v->key, '.');
    if (!dot)
        return errf(err, n, "--vary %s: the key is SECTION.KEY (client.max_concurrent, "
                            "class.NAME.rate)", v->key);
    bool cls = strncmp(v->key, "class.", 6) == 0;
    const char *last = strrchr(v->key, '.') + 1;
    if (cls && strcmp(last, "rate") == 0)
        v->kind = PLAN_KEY_CLASS_RATE;
    else if (cls && strcmp(last, "users") == 0)
        v->kind = PLAN_KEY_CLASS_USERS;
    else if (cls && strcmp(last, "arrival") == 0)
        return errf(err, n, "--vary %s: vary the arrival's rate (class.NAME.rate) or a closed "
                            "class's users (class.NAME.users)", v->key);
    else {
        /* The kind of a plain key follows from how its bounds read. */
        double a, b;
        static const enum plan_key_kind order[] = {PLAN_KEY_COUNT, PLAN_KEY_DURATION,
                                                   PLAN_KEY_RATE, PLAN_KEY_NUMBER};
        size_t k;
        for (k = 0; k < sizeof order / sizeof order[0]; k++)
            if (parse_bound(order[k], lo, &a) == 0 && parse_bound(order[k], hi, &b) == 0)
                break;
        if (k == sizeof order / sizeof order[0])
            return errf(err, n, "--vary %s: '%s..%s' are not two counts, durations, rates "
                                "or numbers of the same kind", v->key, lo, hi);
        v->kind = order[k];
    }
    v->largest = cls;
    if (parse_bound(v->kind, lo, &v->lo) < 0 || parse_bound(v->kind, hi, &v->hi) < 0)
        return errf(err, n, "--vary %s: bad range '%s..%s' (%s)", v->key, lo, hi,
                    v->kind == PLAN_KEY_CLASS_USERS ? "whole numbers"
                                                    : "numbers per second, or rates like 20/s");
    if (!(v->lo < v->hi))
        return errf(err, n, "--vary %s: LO must be below HI ('%s..%s')", v->key, lo, hi);
    bool integer = v->kind == PLAN_KEY_COUNT || v->kind == PLAN_KEY_CLASS_USERS;
    if (integer && v->lo == 0 && !cls)
        for (size_t i = 0; i < sizeof unlimited_zero / sizeof unlimited_zero[0]; i++)
            if (strcmp(last, unlimited_zero[i]) == 0)
                return errf(err, n, "--vary %s: 0 means unlimited for %s; start the range at 1",
                            v->key, last);
    if (step[0]) {
        if (parse_bound(v->kind, step, &v->step) < 0 || !(v->step > 0))
            return errf(err, n, "--vary %s: bad STEP '%s' (a positive value in the range's "
                                "unit)", v->key, step);
    } else {
        v->step = integer ? 1 : (v->hi - v->lo) / 100;
    }
    if (integer && v->step != floor(v->step))
        return errf(err, n, "--vary %s: STEP must be a whole number", v->key);
    double steps = ceil((v->hi - v->lo) / v->step - 1e-9);
    if (steps > 1e12)
        return errf(err, n, "--vary %s: too many steps; give a larger STEP", v->key);
    v->n = (int64_t)steps + 1;
    return 0;
}

double plan_vary_value(const struct plan_vary *v, int64_t i)
{
    assert(i >= 0 && i < v->n);
    return i == v->n - 1 ? v->hi : v->lo + (double)i * v->step;
}

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

int plan_parse_slo(const char *arg, struct plan_slo *s, char *err, size_t n)
{
    memset(s, 0, sizeof *s);
    snprintf(s->text, sizeof s->text, "%s", arg);
    const char *op = strpbrk(arg, "<>=");
    if (!op)
        return errf(err, n, "--slo wants PATH OP VALUE (OP one of <= < >= > ==), not '%s'", arg);
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
        return errf(err, n, "--slo %s: '=' compares nothing; use == (or <=, >=)", arg);
    char path[sizeof s->path];
    size_t plen = (size_t)(op - arg);
    if (plen >= sizeof path)
        return errf(err, n, "--slo %s: path too long", arg);
    memcpy(path, arg, plen);
    path[plen] = '\0';
    snprintf(s->path, sizeof s->path, "%s", str_trim(path));
    if (!s->path[0])
        return errf(err, n, "--slo %s: no report field before '%s'", arg, cmp_text[s->cmp]);
    char val[sizeof s->value];
    snprintf(val, sizeof val, "%s", op + oplen);
    snprintf(s->value, sizeof s->value, "%s", str_trim(val));
    if (!s->value[0])
        return errf(err, n, "--slo %s: no value after '%s'", arg, cmp_text[s->cmp]);
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
        return errf(err, n, "--slo %s: '%s' is not a number", arg, v);
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
            return errf(err, n, "--slo %s: %s is a duration: give a unit (us, ms, s, min, h), "
                                "e.g. %s%s2s", arg, s->path, s->path, cmp_text[s->cmp]);
        if (*end) {
            size_t k;
            for (k = 0; k < sizeof units / sizeof units[0]; k++)
                if (strcmp(end, units[k].name) == 0)
                    break;
            if (k == sizeof units / sizeof units[0])
                return errf(err, n, "--slo %s: unknown unit '%s' (us, ms, s, min, h)", arg, end);
            x *= units[k].ms;
        }
        s->target = s->unit == PLAN_UNIT_S ? x / 1e3 : x;
        return 0;
    case PLAN_UNIT_SHARE:
        if (strcmp(end, "%") == 0)
            x /= 100;
        else if (*end)
            return errf(err, n, "--slo %s: %s is a share: a fraction or a percentage (1%%)", arg,
                        s->path);
        if (x < 0 || x > 1)
            return errf(err, n, "--slo %s: a share lies between 0 and 100%%", arg);
        s->target = x;
        return 0;
    case PLAN_UNIT_PLAIN:
        if (*end)
            return errf(err, n, "--slo %s: %s is a plain number: no unit ('%s')", arg, s->path,
                        end);
        s->target = x;
        return 0;
    }
    return 0;
}

/* ---- one point ---------------------------------------------------------- */

/* The override that sets v to lattice index i: "KEY=VALUE" into buf. */
static void vary_override(const struct plan_vary *v, int64_t i, char *buf, size_t n)
{
    double x = plan_vary_value(v, i);
    const char *last = strrchr(v->key, '.');
    switch (v->kind) {
    case PLAN_KEY_COUNT:
        snprintf(buf, n, "%s=%lld", v->key, (long long)llround(x));
        break;
    case PLAN_KEY_DURATION:
        snprintf(buf, n, "%s=%lldus", v->key, (long long)llround(x));
        break;
    case PLAN_KEY_RATE:
        snprintf(buf, n, "%s=%.17g/s", v->key, x);
        break;
    case PLAN_KEY_NUMBER:
        snprintf(buf, n, "%s=%.17g", v->key, x);
        break;
    case PLAN_KEY_CLASS_RATE:
        snprintf(buf, n, "%.*s.arrival=%s%.17g%s", (int)(last - v->key), v->key, v->arrival_pre,
                 x, v->arrival_post);
        break;
    case PLAN_KEY_CLASS_USERS:
        snprintf(buf, n, "%.*s.arrival=%s%lld%s", (int)(last - v->key), v->key, v->arrival_pre,
                 (long long)llround(x), v->arrival_post);
        break;
    }
}

/* The value as people read it: "20", "1.5s", "12.5/s". */
static char *vary_text(const struct plan_vary *v, int64_t i, char *buf, size_t n)
{
    double x = plan_vary_value(v, i);
    switch (v->kind) {
    case PLAN_KEY_COUNT:
    case PLAN_KEY_CLASS_USERS:
        snprintf(buf, n, "%lld", (long long)llround(x));
        break;
    case PLAN_KEY_DURATION:
        format_duration(llround(x), buf, n);
        break;
    case PLAN_KEY_RATE:
    case PLAN_KEY_CLASS_RATE:
        snprintf(buf, n, "%.6g/s", x);
        break;
    case PLAN_KEY_NUMBER:
        snprintf(buf, n, "%.6g", x);
        break;
    }
    return buf;
}

/* Load the scenario with --set and the varied keys at idx; 0 or -EINVAL with err. */
static int load_point(const struct plan_config *c, const int64_t *idx, struct scenario *sc,
                      struct scenario_error *err)
{
    const char *ov[CLI_MAX_OVERRIDES + PLAN_MAX_VARY];
    char buf[PLAN_MAX_VARY][SCENARIO_TEXT_MAX];
    int n = 0;
    for (int i = 0; i < c->n_overrides && n < CLI_MAX_OVERRIDES; i++)
        ov[n++] = c->overrides[i];
    for (int k = 0; k < c->n_vary; k++) {
        vary_override(&c->vary[k], idx[k], buf[k], sizeof buf[k]);
        ov[n++] = buf[k];
    }
    return scenario_load(sc, c->scenario_path, ov, n, err);
}

/* Run sc in the simulator and parse its JSON report; NULL on failure. */
static cJSON *simulate(const struct scenario *sc)
{
    int e = 0;
    sim *s = sim_new(sc, &e);
    if (!s)
        return NULL;
    sim_run(s, 0);
    struct report_extra x;
    sim_report_extra(s, &x);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    cJSON *j = NULL;
    if (mem) {
        int rc = report_json(mem, sc, sim_metrics(s), &x);
        if (fclose(mem) == 0 && rc == 0)
            j = cJSON_Parse(text);
    }
    free(text);
    sim_free(s);
    return j;
}

/*
 * The number at path in the report: 0, or -ENOENT when the path names no number.
 * null (a forecast that never runs out) reads as +infinity.
 */
static int json_path(const cJSON *root, const char *path, double *out)
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

/*
 * Evaluate one point at one seed: the SLO paths' values into vals. 0, or -EIO
 * after saying why on stderr.
 */
static int eval_point(const struct plan_config *c, const int64_t *idx, uint64_t seed,
                      double *vals)
{
    struct scenario sc;
    struct scenario_error err;
    if (load_point(c, idx, &sc, &err) < 0) {
        fprintf(stderr, "ratelab plan: %s:%d: %s\n", err.file, err.line, err.msg);
        scenario_fini(&sc);
        return -EIO;
    }
    sc.seed = seed;
    cJSON *j = simulate(&sc);
    int rc = j ? 0 : -EIO;
    if (!j)
        fprintf(stderr, "ratelab plan: the simulation of a point failed\n");
    for (int k = 0; j && k < c->n_slo; k++)
        if (json_path(j, c->slo[k].path, &vals[k]) < 0) {
            fprintf(stderr, "ratelab plan: %s is not in this point's report\n", c->slo[k].path);
            rc = -EIO;
        }
    cJSON_Delete(j);
    scenario_fini(&sc);
    return rc;
}

/* ---- checks before the search -------------------------------------------- */

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
        return errf(err, n, "--slo: no number '%s' in the report (did you mean %s?)", path, list);
    return errf(err, n, "--slo: no number '%s' in the report (doc/report.md lists the fields)",
                path);
}

int plan_check(struct plan_config *c, const struct scenario *sc, char *err, size_t n)
{
    if (c->n_vary < 1 || c->n_slo < 1)
        return errf(err, n, "give at least one --vary KEY=LO..HI and one --slo PATH<=VALUE");
    for (int k = 0; k < c->n_vary; k++) {
        struct plan_vary *v = &c->vary[k];
        for (int j = 0; j < k; j++)
            if (strcmp(c->vary[j].key, v->key) == 0)
                return errf(err, n, "--vary %s is given twice", v->key);
        if (v->kind != PLAN_KEY_CLASS_RATE && v->kind != PLAN_KEY_CLASS_USERS)
            continue;
        const char *name = v->key + 6, *end = strrchr(v->key, '.');
        v->class_index = -1;
        for (int i = 0; i < sc->n_classes; i++)
            if ((size_t)(end - name) == strlen(sc->classes[i].name) &&
                strncmp(sc->classes[i].name, name, (size_t)(end - name)) == 0)
                v->class_index = i;
        if (v->class_index < 0)
            return errf(err, n, "--vary %s: the scenario has no class '%.*s'", v->key,
                        (int)(end - name), name);
        const struct arrival_config *a = &sc->classes[v->class_index].arrival;
        char d1[64], d2[64];
        bool ok = true;
        if (v->kind == PLAN_KEY_CLASS_USERS) {
            ok = a->kind == ARRIVAL_CLOSED;
            snprintf(v->arrival_pre, sizeof v->arrival_pre, "closed ");
            snprintf(v->arrival_post, sizeof v->arrival_post, " %s",
                     format_duration(a->think_us, d1, sizeof d1));
        } else if (a->kind == ARRIVAL_POISSON || a->kind == ARRIVAL_CONSTANT) {
            snprintf(v->arrival_pre, sizeof v->arrival_pre, "%s ",
                     a->kind == ARRIVAL_POISSON ? "poisson" : "constant");
            snprintf(v->arrival_post, sizeof v->arrival_post, "/s");
        } else if (a->kind == ARRIVAL_GAMMA) {
            snprintf(v->arrival_pre, sizeof v->arrival_pre, "gamma ");
            snprintf(v->arrival_post, sizeof v->arrival_post, "/s %.17g", a->burstiness);
        } else if (a->kind == ARRIVAL_ONOFF) {
            snprintf(v->arrival_pre, sizeof v->arrival_pre, "onoff ");
            snprintf(v->arrival_post, sizeof v->arrival_post, "/s %s %s",
                     format_duration(a->on_us, d1, sizeof d1),
                     format_duration(a->off_us, d2, sizeof d2));
        } else {
            ok = false;
        }
        if (!ok)
            return errf(err, n, "--vary %s: class %s's arrival is not %s", v->key,
                        sc->classes[v->class_index].name,
                        v->kind == PLAN_KEY_CLASS_USERS
                            ? "closed (users vary a closed loop)"
                            : "poisson, constant, gamma or onoff (the processes with a rate)");
    }
    int64_t combos = 1;
    for (int k = 0; k + 1 < c->n_vary; k++) {
        if (c->vary[k].n > PLAN_GRID_MAX || (combos *= c->vary[k].n) > PLAN_GRID_MAX)
            return errf(err, n, "--vary: the grid over all but the last key would take more than "
                                "%d points; give a larger STEP", PLAN_GRID_MAX);
    }
    /* Every key loads at both ends of its range (the others at their low end). */
    for (int k = 0; k < c->n_vary; k++)
        for (int end = 0; end < 2; end++) {
            int64_t idx[PLAN_MAX_VARY] = {0};
            idx[k] = end ? c->vary[k].n - 1 : 0;
            struct scenario t;
            struct scenario_error e;
            int rc = load_point(c, idx, &t, &e);
            scenario_fini(&t);
            if (rc < 0) {
                char b[64];
                return errf(err, n, "--vary %s at %s: %s", c->vary[k].key,
                            vary_text(&c->vary[k], idx[k], b, sizeof b), e.msg);
            }
        }
    /* The report's fields: a very short run of the scenario has them all. */
    struct scenario t = *sc;
    t.duration_us = 1000;
    t.at_end = END_CANCEL;
    cJSON *j = simulate(&t);
    if (!j)
        return errf(err, n, "the scenario does not simulate");
    char **paths = NULL;
    int n_paths = 0, cap = 0, rc = 0;
    collect_paths(j, "", &paths, &n_paths, &cap);
    for (int k = 0; k < c->n_slo && rc == 0; k++) {
        double x;
        if (json_path(j, c->slo[k].path, &x) < 0)
            rc = unknown_path(c->slo[k].path, paths, n_paths, err, n);
        else
            rc = slo_target(&c->slo[k], err, n);
    }
    for (int i = 0; i < n_paths; i++)
        free(paths[i]);
    free(paths);
    cJSON_Delete(j);
    return rc;
}

/* ---- the search ----------------------------------------------------------- */

/* One point tried: its lattice indices and, per SLO, the worst seed and the spread. */
struct point {
    int64_t idx[PLAN_MAX_VARY];   /* lattice index of each varied key */
    int64_t combo;                /* its grid point over all keys but the last */
    int64_t rank;                 /* the last key's rank: 0 = most wanted, n - 1 = least */
    double worst[PLAN_MAX_SLO];   /* the value of the seed that decides, field's unit */
    double min[PLAN_MAX_SLO], max[PLAN_MAX_SLO]; /* the spread over seeds */
    bool pass[PLAN_MAX_SLO];      /* the worst seed meets that SLO */
    bool ok;                      /* every SLO passes */
};

enum search_mode { SEARCH_BISECT, SEARCH_GRID, SEARCH_DONE };

/* The search on the last key at one grid point of the others. */
struct search {
    enum search_mode mode;
    bool not_monotone;  /* a point failed at a higher rank than one that passed */
    bool grid_capped;   /* not monotone, and the lattice too large for a grid */
    int64_t answer;     /* the rank found, -1 = none in range */
};

/* A probe of a round: a grid point and the last key's rank. */
struct probe {
    int64_t combo, rank;
};

/*
 * The planner. Points are appended in the order rounds try them (probes in
 * (combo, rank) order within a round), which depends on no timing.
 */
struct plan {
    struct plan_config c;
    struct point *pts;     /* every point tried */
    int64_t n_pts, cap;
    struct search *s;      /* one per grid point of all keys but the last */
    int64_t n_combos;
    int rounds;            /* rounds run */
    int64_t best;          /* the recommended point (index in pts), -1 = none */
};

static int64_t rank_index(const struct plan_vary *v, int64_t r)
{
    return v->largest ? v->n - 1 - r : r;
}

static void probe_indices(const plan *p, int64_t combo, int64_t rank, int64_t *idx)
{
    int last = p->c.n_vary - 1;
    for (int k = last - 1; k >= 0; k--) {
        idx[k] = rank_index(&p->c.vary[k], combo % p->c.vary[k].n);
        combo /= p->c.vary[k].n;
    }
    idx[last] = rank_index(&p->c.vary[last], rank);
}

plan *plan_new(const struct plan_config *c)
{
    plan *p = xcalloc(1, sizeof *p);
    p->c = *c;
    p->n_combos = 1;
    for (int k = 0; k + 1 < c->n_vary; k++)
        p->n_combos *= c->vary[k].n;
    p->s = xcalloc((size_t)p->n_combos, sizeof *p->s);
    for (int64_t i = 0; i < p->n_combos; i++)
        p->s[i].answer = -1;
    p->best = -1;
    return p;
}

void plan_free(plan *p)
{
    if (!p)
        return;
    free(p->pts);
    free(p->s);
    free(p);
}

static const struct point *find_point(const plan *p, int64_t combo, int64_t rank)
{
    for (int64_t i = 0; i < p->n_pts; i++)
        if (p->pts[i].combo == combo && p->pts[i].rank == rank)
            return &p->pts[i];
    return NULL;
}

/* Which seed's value decides: the highest for <=, the lowest for >=, the farthest for ==. */
static bool worse(const struct plan_slo *s, double a, double b)
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

static bool meets(const struct plan_slo *s, double x)
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

/* One (probe, seed) job in a child process: its values over a pipe. */
static pid_t start_child(const plan *p, const struct probe *pr, uint64_t seed, int *fd)
{
    int pipefd[2];
    if (pipe(pipefd) < 0)
        return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(pipefd[0]);
        close(pipefd[1]);
        return -1;
    }
    if (pid == 0) {
        close(pipefd[0]);
        int64_t idx[PLAN_MAX_VARY];
        probe_indices(p, pr->combo, pr->rank, idx);
        double vals[PLAN_MAX_SLO];
        int rc = eval_point(&p->c, idx, seed, vals);
        size_t want = sizeof vals[0] * (size_t)p->c.n_slo;
        if (rc == 0 && write(pipefd[1], vals, want) != (ssize_t)want)
            rc = -EIO;
        _exit(rc == 0 ? 0 : 1); /* no atexit handlers: the parent's state is the parent's */
    }
    close(pipefd[1]);
    *fd = pipefd[0];
    return pid;
}

/*
 * Evaluate jobs (probe j at seed s is job j * seeds + s) into vals (n_slo per job):
 * in this process with one job at a time, else in up to jobs children at once.
 * Results land by job number, so the order they finish in changes nothing.
 */
static int run_jobs(const plan *p, const struct probe *pr, int64_t n_jobs, double *vals,
                    int64_t *done, int64_t total)
{
    const struct plan_config *c = &p->c;
    int S = c->n_slo;
    if (c->jobs <= 1) {
        for (int64_t j = 0; j < n_jobs; j++) {
            int64_t idx[PLAN_MAX_VARY];
            probe_indices(p, pr[j / c->seeds].combo, pr[j / c->seeds].rank, idx);
            if (eval_point(c, idx, c->seed0 + (uint64_t)(j % c->seeds), vals + j * S) < 0)
                return -EIO;
            if (c->progress)
                cli_progress("planning", (double)++*done, (double)total);
        }
        return 0;
    }
    int width = c->jobs < n_jobs ? c->jobs : (int)n_jobs;
    struct slot {
        pid_t pid;     /* 0 = free */
        int fd;
        int64_t job;
        size_t got;    /* bytes of the job's values read so far */
    } *w = xcalloc((size_t)width, sizeof *w);
    struct pollfd *pf = xcalloc((size_t)width, sizeof *pf);
    int64_t next = 0;
    int running = 0, rc = 0;
    fflush(stdout);
    fflush(stderr);
    while (running > 0 || (next < n_jobs && rc == 0)) {
        for (int i = 0; i < width && next < n_jobs && rc == 0; i++) {
            if (w[i].pid)
                continue;
            const struct probe *q = &pr[next / c->seeds];
            w[i].pid = start_child(p, q, c->seed0 + (uint64_t)(next % c->seeds), &w[i].fd);
            if (w[i].pid < 0) {
                perror("ratelab plan: fork");
                w[i].pid = 0;
                rc = -EIO;
                break;
            }
            w[i].job = next++;
            w[i].got = 0;
            running++;
        }
        int n = 0;
        for (int i = 0; i < width; i++)
            if (w[i].pid)
                pf[n++] = (struct pollfd){.fd = w[i].fd, .events = POLLIN};
        if (n == 0)
            break;
        if (poll(pf, (nfds_t)n, -1) < 0) {
            if (errno == EINTR)
                continue;
            rc = -EIO;
        }
        for (int i = 0, k = 0; i < width; i++) {
            if (!w[i].pid)
                continue;
            short ev = pf[k++].revents;
            if (!(ev & (POLLIN | POLLHUP | POLLERR)))
                continue;
            size_t want = sizeof(double) * (size_t)S;
            char *dst = (char *)(vals + w[i].job * S);
            ssize_t r = read(w[i].fd, dst + w[i].got, want - w[i].got);
            if (r > 0) {
                w[i].got += (size_t)r;
                continue;
            }
            if (r < 0 && errno == EINTR)
                continue;
            close(w[i].fd);
            int st;
            while (waitpid(w[i].pid, &st, 0) < 0 && errno == EINTR)
                ;
            if (w[i].got != want || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
                rc = -EIO;
            w[i].pid = 0;
            running--;
            if (c->progress)
                cli_progress("planning", (double)++*done, (double)total);
        }
    }
    free(pf);
    free(w);
    return rc;
}

/* The probes of one grid point's next round; returns how many (into out). */
static int64_t next_probes(const plan *p, int64_t combo, struct probe *out)
{
    const struct search *s = &p->s[combo];
    int64_t n = p->c.vary[p->c.n_vary - 1].n, k = 0;
    if (s->mode == SEARCH_DONE)
        return 0;
    if (s->mode == SEARCH_GRID) {
        for (int64_t r = 0; r < n; r++)
            if (!find_point(p, combo, r))
                out[k++] = (struct probe){combo, r};
        return k;
    }
    int64_t fail = -1, pass = n;
    bool any = false;
    for (int64_t i = 0; i < p->n_pts; i++) {
        const struct point *q = &p->pts[i];
        if (q->combo != combo)
            continue;
        any = true;
        if (q->ok && q->rank < pass)
            pass = q->rank;
        if (!q->ok && q->rank > fail)
            fail = q->rank;
    }
    if (!any) {
        out[k++] = (struct probe){combo, 0};
        if (n > 1)
            out[k++] = (struct probe){combo, n - 1};
        return k;
    }
    int64_t gap = pass - fail - 1;
    if (gap <= PLAN_PROBES) {
        for (int64_t r = fail + 1; r < pass; r++)
            out[k++] = (struct probe){combo, r};
    } else {
        for (int j = 1; j <= PLAN_PROBES; j++)
            out[k++] = (struct probe){combo, fail + (pass - fail) * j / (PLAN_PROBES + 1)};
    }
    return k;
}

/* After a round: is one grid point's search over, or does it turn to a grid? */
static void update_search(plan *p, int64_t combo)
{
    struct search *s = &p->s[combo];
    if (s->mode == SEARCH_DONE)
        return;
    int64_t n = p->c.vary[p->c.n_vary - 1].n;
    int64_t fail = -1, pass = n;
    for (int64_t i = 0; i < p->n_pts; i++) {
        const struct point *q = &p->pts[i];
        if (q->combo != combo)
            continue;
        if (q->ok && q->rank < pass)
            pass = q->rank;
        if (!q->ok && q->rank > fail)
            fail = q->rank;
    }
    if (s->mode == SEARCH_GRID) {
        s->mode = SEARCH_DONE;
        s->answer = pass < n ? pass : -1;
        return;
    }
    if (fail > pass) {
        /* Feasibility is not upward-closed here: bisection cannot be trusted. */
        s->not_monotone = true;
        if (n <= PLAN_GRID_MAX) {
            s->mode = SEARCH_GRID;
            int64_t untried = 0;
            for (int64_t r = 0; r < n; r++)
                untried += find_point(p, combo, r) == NULL;
            if (untried > 0)
                return;
        } else {
            s->grid_capped = true;
        }
        s->mode = SEARCH_DONE;
        s->answer = pass;
        return;
    }
    if (pass == fail + 1) {
        s->mode = SEARCH_DONE;
        s->answer = pass < n ? pass : -1;
    }
}

int plan_run(plan *p)
{
    const struct plan_config *c = &p->c;
    int S = c->n_slo;
    int64_t n_last = c->vary[c->n_vary - 1].n;
    int64_t cap = n_last < PLAN_GRID_MAX ? n_last : PLAN_GRID_MAX;
    if (cap < PLAN_PROBES + 2)
        cap = PLAN_PROBES + 2;
    struct probe *pr = xmalloc(sizeof *pr * (size_t)(p->n_combos * cap));
    int rc = 0;
    int64_t done = 0, total = 0;
    for (;;) {
        int64_t np = 0;
        for (int64_t g = 0; g < p->n_combos; g++)
            np += next_probes(p, g, pr + np);
        if (np == 0)
            break;
        p->rounds++;
        int64_t n_jobs = np * c->seeds;
        total = done + n_jobs;
        double *vals = xcalloc((size_t)(n_jobs * S), sizeof *vals);
        rc = run_jobs(p, pr, n_jobs, vals, &done, total);
        if (rc < 0) {
            free(vals);
            break;
        }
        if (p->n_pts + np > p->cap) {
            p->cap = (p->n_pts + np) * 2;
            p->pts = xrealloc(p->pts, sizeof *p->pts * (size_t)p->cap);
        }
        for (int64_t j = 0; j < np; j++) {
            struct point *q = &p->pts[p->n_pts++];
            memset(q, 0, sizeof *q);
            q->combo = pr[j].combo;
            q->rank = pr[j].rank;
            probe_indices(p, q->combo, q->rank, q->idx);
            q->ok = true;
            for (int k = 0; k < S; k++) {
                const double *v = vals + j * c->seeds * S + k;
                q->worst[k] = q->min[k] = q->max[k] = v[0];
                for (int s = 1; s < c->seeds; s++) {
                    double x = v[s * S];
                    if (worse(&c->slo[k], x, q->worst[k]))
                        q->worst[k] = x;
                    q->min[k] = fmin(q->min[k], x);
                    q->max[k] = fmax(q->max[k], x);
                }
                q->pass[k] = meets(&c->slo[k], q->worst[k]);
                q->ok = q->ok && q->pass[k];
            }
        }
        free(vals);
        for (int64_t g = 0; g < p->n_combos; g++)
            update_search(p, g);
    }
    if (c->progress && done > 0)
        cli_progress_end();
    free(pr);
    if (rc < 0)
        return -EIO;
    /* The first grid point in order of preference that has an answer. */
    for (int64_t g = 0; g < p->n_combos && p->best < 0; g++)
        if (p->s[g].answer >= 0)
            for (int64_t i = 0; i < p->n_pts; i++)
                if (p->pts[i].combo == g && p->pts[i].rank == p->s[g].answer)
                    p->best = i;
    return p->best >= 0 ? 0 : 1;
}

/* ---- output --------------------------------------------------------------- */

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
                                vary_text(&p->c.vary[k], idx[k], v, sizeof v));
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
        snprintf(buf, n, "%s %s against %s %s (%s, %.1f%%)", s->path, v, cmp_text[s->cmp], t, d,
                 100 * slack / fabs(s->target));
    else
        snprintf(buf, n, "%s %s against %s %s", s->path, v, cmp_text[s->cmp], t);
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
                vary_text(v, 0, a, sizeof a), vary_text(v, v->n - 1, b, sizeof b), st,
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
            int l = (int)strlen(vary_text(&c->vary[k], p->pts[i].idx[k], cell, sizeof cell));
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
            fprintf(out, "%*s  ", wk[k], vary_text(&c->vary[k], q->idx[k], cell, sizeof cell));
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
                vary_text(lv, f->idx[K - 1], a, sizeof a), vary_text(lv, ps->idx[K - 1], b, sizeof b));
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
            probe_indices(p, g, 0, idx);
            setting_text(p, idx, K - 1, where, sizeof where);
            if (p->s[g].answer >= 0)
                fprintf(out, "  %s: %s=%s\n", where, lv->key,
                        vary_text(lv, rank_index(lv, p->s[g].answer), v, sizeof v));
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
    const struct point *nx = b->rank > 0 ? find_point(p, b->combo, b->rank - 1) : NULL;
    if (nx && !nx->ok) {
        char v[64];
        failures_text(p, nx, buf, sizeof buf);
        fprintf(out, "  one step %s, %s=%s fails: %s\n", lv->largest ? "up" : "down", lv->key,
                vary_text(lv, nx->idx[K - 1], v, sizeof v), buf);
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
        cJSON_AddStringToObject(o, "op", cmp_text[c->slo[k].cmp]);
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
