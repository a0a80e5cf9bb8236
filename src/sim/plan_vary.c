/*
 * plan_vary: --vary ranges for `ratelab plan`. A key's kind (count, duration,
 * rate, number, or a class's rate or users) follows from its name and how its
 * bounds read; its range is a lattice LO, LO+STEP, ..., HI; a lattice point
 * becomes "KEY=VALUE" overrides on the scenario (a class key rewrites the
 * class's arrival around the value).
 */
#include "config.h"

#include "plan_vary.h"

#include <assert.h>
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "plan_int.h"
#include "util.h"

/* Keys where 0 means "unlimited": a range from 0 would jump from no limit to a limit. */
static const char *const unlimited_zero[] = {
    "requests_per_minute", "tokens_per_minute", "tokens_per_day", "max_concurrent",
    "queue_capacity",      "max_running",       "max_waiting",
};

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
        return plan_errf(err, n, "--vary wants KEY=LO..HI[:STEP], not '%s'", arg);
    memcpy(v->key, arg, (size_t)(eq - arg));
    char lo[64], hi[64], step[64] = "";
    size_t lo_len = (size_t)(dots - eq - 1);
    const char *colon = strchr(dots + 2, ':');
    size_t hi_len = colon ? (size_t)(colon - dots - 2) : strlen(dots + 2);
    if (lo_len == 0 || hi_len == 0 || lo_len >= sizeof lo || hi_len >= sizeof hi ||
        (colon && (strlen(colon + 1) == 0 || strlen(colon + 1) >= sizeof step)))
        return plan_errf(err, n, "--vary wants KEY=LO..HI[:STEP], not '%s'", arg);
    memcpy(lo, eq + 1, lo_len);
    lo[lo_len] = '\0';
    memcpy(hi, dots + 2, hi_len);
    hi[hi_len] = '\0';
    if (colon)
        snprintf(step, sizeof step, "%s", colon + 1);

    const char *dot = strchr(v->key, '.');
    if (!dot)
        return plan_errf(err, n,
                         "--vary %s: the key is SECTION.KEY (client.max_concurrent, "
                         "class.NAME.rate)",
                         v->key);
    bool cls = strncmp(v->key, "class.", 6) == 0;
    const char *last = strrchr(v->key, '.') + 1;
    if (cls && strcmp(last, "rate") == 0)
        v->kind = PLAN_KEY_CLASS_RATE;
    else if (cls && strcmp(last, "users") == 0)
        v->kind = PLAN_KEY_CLASS_USERS;
    else if (cls && strcmp(last, "arrival") == 0)
        return plan_errf(err, n,
                         "--vary %s: vary the arrival's rate (class.NAME.rate) or a closed "
                         "class's users (class.NAME.users)",
                         v->key);
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
            return plan_errf(err, n,
                             "--vary %s: '%s..%s' are not two counts, durations, rates "
                             "or numbers of the same kind",
                             v->key, lo, hi);
        v->kind = order[k];
    }
    v->largest = cls;
    if (parse_bound(v->kind, lo, &v->lo) < 0 || parse_bound(v->kind, hi, &v->hi) < 0)
        return plan_errf(err, n, "--vary %s: bad range '%s..%s' (%s)", v->key, lo, hi,
                         v->kind == PLAN_KEY_CLASS_USERS
                             ? "whole numbers"
                             : "numbers per second, or rates like 20/s");
    if (!(v->lo < v->hi))
        return plan_errf(err, n, "--vary %s: LO must be below HI ('%s..%s')", v->key, lo, hi);
    bool integer = v->kind == PLAN_KEY_COUNT || v->kind == PLAN_KEY_CLASS_USERS;
    if (integer && v->lo == 0 && !cls)
        for (size_t i = 0; i < sizeof unlimited_zero / sizeof unlimited_zero[0]; i++)
            if (strcmp(last, unlimited_zero[i]) == 0)
                return plan_errf(err, n,
                                 "--vary %s: 0 means unlimited for %s; start the range at 1",
                                 v->key, last);
    if (step[0]) {
        if (parse_bound(v->kind, step, &v->step) < 0 || !(v->step > 0))
            return plan_errf(err, n,
                             "--vary %s: bad STEP '%s' (a positive value in the range's "
                             "unit)",
                             v->key, step);
    } else {
        v->step = integer ? 1 : (v->hi - v->lo) / 100;
    }
    if (integer && v->step != floor(v->step))
        return plan_errf(err, n, "--vary %s: STEP must be a whole number", v->key);
    double steps = ceil((v->hi - v->lo) / v->step - 1e-9);
    if (steps > 1e12)
        return plan_errf(err, n, "--vary %s: too many steps; give a larger STEP", v->key);
    v->n = (int64_t)steps + 1;
    return 0;
}

double plan_vary_value(const struct plan_vary *v, int64_t i)
{
    assert(i >= 0 && i < v->n);
    return i == v->n - 1 ? v->hi : v->lo + (double)i * v->step;
}

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
char *plan_vary_text(const struct plan_vary *v, int64_t i, char *buf, size_t n)
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
int plan_vary_load(const struct plan_config *c, const int64_t *idx, struct scenario *sc,
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

int plan_vary_bind(struct plan_vary *v, const struct scenario *sc, char *err, size_t n)
{
    if (v->kind != PLAN_KEY_CLASS_RATE && v->kind != PLAN_KEY_CLASS_USERS)
        return 0;
    const char *name = v->key + 6, *end = strrchr(v->key, '.');
    v->class_index = -1;
    for (int i = 0; i < sc->n_classes; i++)
        if ((size_t)(end - name) == strlen(sc->classes[i].name) &&
            strncmp(sc->classes[i].name, name, (size_t)(end - name)) == 0)
            v->class_index = i;
    if (v->class_index < 0)
        return plan_errf(err, n, "--vary %s: the scenario has no class '%.*s'", v->key,
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
        return plan_errf(err, n, "--vary %s: class %s's arrival is not %s", v->key,
                         sc->classes[v->class_index].name,
                         v->kind == PLAN_KEY_CLASS_USERS
                             ? "closed (users vary a closed loop)"
                             : "poisson, constant, gamma or onoff (the processes with a rate)");
    return 0;
}
