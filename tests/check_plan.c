#include "config.h"

#include <check.h>
#include <errno.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "plan.h"
#include "scenario.h"
#include "testutil.h"

#define RATELAB BUILDDIR "/ratelab"

/* Write text to a fresh temporary file; returns its path (static per slot). */
static const char *temp_file(int slot, const char *text)
{
    static char paths[8][64];
    snprintf(paths[slot], sizeof paths[slot], "/tmp/check_plan_%d_%d.ini", (int)getpid(), slot);
    FILE *f = fopen(paths[slot], "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return paths[slot];
}

/* Constant arrivals 10/s, a fixed 2 s of service, nothing else in the way. */
static const char little_ini[] = "[scenario]\n"
                                 "duration = 60s\n"
                                 "seed = 1\n"
                                 "[client]\n"
                                 "max_concurrent = 100\n"
                                 "request_timeout = 0\n"
                                 "retry_max_attempts = 1\n"
                                 "[server]\n"
                                 "service = deterministic\n"
                                 "service_mean = 2s\n"
                                 "max_running = 0\n"
                                 "[class.c]\n"
                                 "arrival = constant 10/s\n";

/* M/M/c: Poisson 8/s, exponential service of mean 1 s, max_running = c servers. */
static const char erlang_ini[] = "[scenario]\n"
                                 "duration = 20m\n"
                                 "seed = 1\n"
                                 "[client]\n"
                                 "request_timeout = 0\n"
                                 "retry_max_attempts = 1\n"
                                 "[server]\n"
                                 "service = exponential\n"
                                 "service_mean = 1s\n"
                                 "[class.c]\n"
                                 "arrival = poisson 8/s\n";

/* Plan in this process; returns plan_run's result and the JSON plan (caller frees). */
static int plan_here(const char *path, const char *const *vary, int n_vary,
                     const char *const *slo, int n_slo, int seeds, int jobs, cJSON **json)
{
    static struct plan_config c;
    memset(&c, 0, sizeof c);
    char err[1024];
    c.scenario_path = path;
    c.seeds = seeds;
    c.jobs = jobs;
    for (int i = 0; i < n_vary; i++)
        ck_assert_msg(plan_parse_vary(vary[i], &c.vary[c.n_vary++], err, sizeof err) == 0, "%s",
                      err);
    for (int i = 0; i < n_slo; i++)
        ck_assert_msg(plan_parse_slo(slo[i], &c.slo[c.n_slo++], err, sizeof err) == 0, "%s", err);
    struct scenario sc;
    struct scenario_error se;
    ck_assert_int_eq(scenario_load(&sc, path, NULL, 0, &se), 0);
    c.seed0 = sc.seed;
    ck_assert_msg(plan_check(&c, &sc, err, sizeof err) == 0, "%s", err);
    scenario_fini(&sc);
    plan *p = plan_new(&c);
    int rc = plan_run(p);
    char *text = NULL;
    size_t len = 0;
    FILE *mem = open_memstream(&text, &len);
    ck_assert_int_eq(plan_json(p, mem), 0);
    fclose(mem);
    *json = cJSON_Parse(text);
    ck_assert_ptr_nonnull(*json);
    free(text);
    plan_free(p);
    return rc;
}

static double recommended(const cJSON *j, const char *key)
{
    const cJSON *r = cJSON_GetObjectItem(j, "recommended");
    ck_assert_ptr_nonnull(r);
    const cJSON *v = cJSON_GetObjectItem(cJSON_GetObjectItem(r, "setting"), key);
    ck_assert_msg(cJSON_IsNumber(v), "no recommended %s", key);
    return v->valuedouble;
}

/* ---- Little's law ------------------------------------------------------------ */

/* L = λ·W: 10/s for 2 s each keeps 20 in flight; 19 falls behind and queues. */
START_TEST(little_law_latency)
{
    const char *path = temp_file(0, little_ini);
    const char *vary[] = {"client.max_concurrent=1..64"};
    const char *slo[] = {"latency_ms.p95<=2.1s"};
    cJSON *j;
    ck_assert_int_eq(plan_here(path, vary, 1, slo, 1, 1, 1, &j), 0);
    ck_assert_double_eq(recommended(j, "client.max_concurrent"), 10 * 2);
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(j, "monotone")));
    cJSON_Delete(j);
    unlink(path);
}
END_TEST

START_TEST(little_law_throttled)
{
    const char *path = temp_file(0, little_ini);
    const char *vary[] = {"client.max_concurrent=1..64"};
    const char *slo[] = {"hit_rate.client_throttled<=0%", "lost==0"};
    cJSON *j;
    ck_assert_int_eq(plan_here(path, vary, 1, slo, 2, 2, 2, &j), 0);
    ck_assert_double_eq(recommended(j, "client.max_concurrent"), 20);
    cJSON_Delete(j);
    unlink(path);
}
END_TEST

/* The largest rate 20 slots sustain at 2 s each: 10/s (the load side of Little's law). */
START_TEST(little_law_rate)
{
    const char *vary[] = {"class.c.rate=1..20:0.5"};
    const char *slo[] = {"latency_ms.p95<=2.1s"};
    char ini[sizeof little_ini + 64];
    snprintf(ini, sizeof ini, "%s", little_ini);
    char *m = strstr(ini, "max_concurrent = 100");
    memcpy(m, "max_concurrent = 20 ", 20);
    const char *path = temp_file(0, ini);
    cJSON *j;
    ck_assert_int_eq(plan_here(path, vary, 1, slo, 1, 1, 1, &j), 0);
    ck_assert_double_eq(recommended(j, "class.c.rate"), 10);
    cJSON_Delete(j);
    unlink(path);
}
END_TEST

/* ---- Erlang C ------------------------------------------------------------------- */

/* P(wait) in M/M/c with offered load a = λ/μ erlangs (c > a). */
static double erlang_c(int c, double a)
{
    double sum = 0, term = 1; /* a^k / k! */
    for (int k = 0; k < c; k++) {
        sum += term;
        term *= a / (k + 1);
    }
    double top = term * c / (c - a);
    return top / (sum + top);
}

START_TEST(erlang_c_servers)
{
    const double lambda = 8, mu = 1, target_wq_s = 0.15;
    /* The fewest servers whose mean wait Wq = C(c, a) / (cμ − λ) is within the target. */
    int want = 0;
    double wq_want = 0, wq_below = 0;
    for (int c = 9; c < 40 && !want; c++) {
        double wq = erlang_c(c, lambda / mu) / (c * mu - lambda);
        if (wq <= target_wq_s)
            want = c, wq_want = wq;
        else
            wq_below = wq;
    }
    ck_assert_int_eq(want, 11);
    /* The target sits well between the answer and one server fewer, so seed noise cannot tip it. */
    ck_assert(target_wq_s - wq_want > 0.05 && wq_below - target_wq_s > 0.05);
    const char *path = temp_file(1, erlang_ini);
    const char *vary[] = {"server.max_running=4..32"};
    char slo_text[64];
    snprintf(slo_text, sizeof slo_text, "latency_ms.mean<=%.0fms", 1000 * (1 / mu + target_wq_s));
    const char *slo[] = {slo_text};
    cJSON *j;
    ck_assert_int_eq(plan_here(path, vary, 1, slo, 1, 3, 2, &j), 0);
    ck_assert_double_eq(recommended(j, "server.max_running"), want);
    cJSON_Delete(j);
    unlink(path);
}
END_TEST

/* ---- the command ---------------------------------------------------------------- */

/* Serial and parallel runs print the same bytes (a grid of two keys, several seeds). */
START_TEST(serial_parallel_identical)
{
    const char *path = temp_file(2, little_ini);
    static char out1[1 << 16], out4[1 << 16];
    char cmd[2048], j1[128], j4[128];
    snprintf(j1, sizeof j1, "/tmp/check_plan_%d_j1.json", (int)getpid());
    snprintf(j4, sizeof j4, "/tmp/check_plan_%d_j4.json", (int)getpid());
    const char *args = "--vary client.max_concurrent=10..30:5 --vary class.c.rate=1..20:0.5 "
                       "--slo 'latency_ms.p95<=2.1s' --slo 'hit_rate.server_429<=1%' --seeds 3";
    snprintf(cmd, sizeof cmd, "%s plan %s %s --jobs 1 --json %s", RATELAB, path, args, j1);
    ck_assert_int_eq(run_cmd(cmd, out1, sizeof out1), 0);
    snprintf(cmd, sizeof cmd, "%s plan %s %s --jobs 4 --json %s", RATELAB, path, args, j4);
    ck_assert_int_eq(run_cmd(cmd, out4, sizeof out4), 0);
    ck_assert_str_eq(out1, out4);
    char *a = slurp_file(j1), *b = slurp_file(j4);
    ck_assert_str_eq(a, b);
    /* Each concurrency sustains half its value in requests per second (2 s each). */
    ck_assert_ptr_nonnull(strstr(out1, "client.max_concurrent=20: class.c.rate=10/s"));
    ck_assert_ptr_nonnull(strstr(out1, "client.max_concurrent=30: class.c.rate=15/s"));
    ck_assert_ptr_nonnull(strstr(out1, "recommended: client.max_concurrent=10, class.c.rate=5/s"));
    free(a);
    free(b);
    unlink(j1);
    unlink(j4);
    unlink(path);
}
END_TEST

START_TEST(unknown_path_usage)
{
    const char *path = temp_file(3, little_ini);
    static char out[8192];
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s plan %s --vary client.max_concurrent=1..64 --slo "
                              "'latncy_ms.p95<=2s'", RATELAB, path);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 2);
    ck_assert_msg(strstr(out, "did you mean latency_ms.p95") != NULL, "%s", out);
    snprintf(cmd, sizeof cmd, "%s plan %s --vary client.max_concurrent=1..64 --slo "
                              "'classes.chat.latency_ms.p95<=2s'", RATELAB, path);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 2);
    ck_assert_msg(strstr(out, "classes.c.latency_ms.p95") != NULL, "%s", out);
    /* Units: a latency needs one, a count takes none. */
    snprintf(cmd, sizeof cmd, "%s plan %s --vary client.max_concurrent=1..64 --slo "
                              "'latency_ms.p95<=2'", RATELAB, path);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 2);
    snprintf(cmd, sizeof cmd, "%s plan %s --vary client.max_concurrent=0..64 --slo "
                              "'lost==0'", RATELAB, path);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 2);
    ck_assert_msg(strstr(out, "0 means unlimited") != NULL, "%s", out);
    snprintf(cmd, sizeof cmd, "%s plan %s --vary client.max_concurrent=8..4 --slo 'lost==0'",
             RATELAB, path);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 2);
    unlink(path);
}
END_TEST

START_TEST(none_in_range)
{
    const char *path = temp_file(4, little_ini);
    static char out[1 << 16];
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s plan %s --vary client.max_concurrent=1..10 --slo "
                              "'latency_ms.p95<=2.1s' --jobs 2", RATELAB, path);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 1);
    ck_assert_msg(strstr(out, "no setting in range meets every SLO") != NULL, "%s", out);
    unlink(path);
}
END_TEST

/* Throttling rises as concurrency falls: ">= 50%" passes low and fails high, not monotone. */
START_TEST(not_monotone_grid)
{
    const char *path = temp_file(5, little_ini);
    static char out[1 << 16];
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s plan %s --vary client.max_concurrent=1..40:3 --slo "
                              "'hit_rate.client_throttled>=50%%' --seeds 1", RATELAB, path);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "not monotone") != NULL, "%s", out);
    ck_assert_msg(strstr(out, "recommended: client.max_concurrent=1\n") != NULL, "%s", out);
    unlink(path);
}
END_TEST

START_TEST(parse_slo_units)
{
    struct plan_slo s;
    char err[256];
    ck_assert_int_eq(plan_parse_slo("latency_ms.p95 <= 2s", &s, err, sizeof err), 0);
    ck_assert_str_eq(s.path, "latency_ms.p95");
    ck_assert_int_eq(s.cmp, PLAN_LE);
    ck_assert_int_eq(s.unit, PLAN_UNIT_MS);
    ck_assert_int_eq(plan_parse_slo("hit_rate.server_429<1%", &s, err, sizeof err), 0);
    ck_assert_int_eq(s.unit, PLAN_UNIT_SHARE);
    ck_assert_int_eq(s.cmp, PLAN_LT);
    ck_assert_int_eq(plan_parse_slo("throughput.requests_per_s>=5", &s, err, sizeof err), 0);
    ck_assert_int_eq(s.unit, PLAN_UNIT_PLAIN);
    ck_assert_int_eq(plan_parse_slo("lost=0", &s, err, sizeof err), -EINVAL);
    ck_assert_int_eq(plan_parse_slo("lost", &s, err, sizeof err), -EINVAL);
    struct plan_vary v;
    ck_assert_int_eq(plan_parse_vary("server.tokens_per_minute=10k..2M:10k", &v, err, sizeof err),
                     0);
    ck_assert_int_eq(v.kind, PLAN_KEY_COUNT);
    ck_assert_int_eq(v.n, 200);
    ck_assert_double_eq(plan_vary_value(&v, 199), 2e6);
    ck_assert_int_eq(plan_parse_vary("server.service_mean=500ms..2s:250ms", &v, err, sizeof err),
                     0);
    ck_assert_int_eq(v.kind, PLAN_KEY_DURATION);
    ck_assert_int_eq(v.n, 7);
    ck_assert_int_eq(plan_parse_vary("class.chat.rate=1..50", &v, err, sizeof err), 0);
    ck_assert(v.largest);
    ck_assert_int_eq(plan_parse_vary("client.max_concurrent=1..5:0.5", &v, err, sizeof err),
                     -EINVAL);
}
END_TEST

/* The daily budget is a plan target: the smallest client TPD that lasts daily-budget's 12 h. */
START_TEST(budget_target)
{
    static char out[1 << 16];
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "%s plan %s/scenarios/daily-budget.ini --vary client.tokens_per_day=10M..60M:1M "
             "--slo 'budget.client.tpd_exhausted_at_s>=12h' --seeds 1 --jobs 2 --quiet",
             RATELAB, SRCDIR);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 0);
    ck_assert_msg(strstr(out, "recommended: client.tokens_per_day=18000000"), "%s", out);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("plan");
    TCase *t = tcase_create("plan");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, parse_slo_units);
    tcase_add_test(t, little_law_latency);
    tcase_add_test(t, little_law_throttled);
    tcase_add_test(t, little_law_rate);
    tcase_add_test(t, erlang_c_servers);
    tcase_add_test(t, serial_parallel_identical);
    tcase_add_test(t, unknown_path_usage);
    tcase_add_test(t, none_in_range);
    tcase_add_test(t, not_monotone_grid);
    tcase_add_test(t, budget_target);
    suite_add_tcase(s, t);
    SRunner *r = srunner_create(s);
    srunner_run_all(r, CK_NORMAL);
    int f = srunner_ntests_failed(r);
    srunner_free(r);
    return f ? 1 : 0;
}
