/*
 * ratelab replay: a trace as the arrival process of a simulation, under one or two
 * sets of limits, against what the trace observed.
 */
#include "config.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static char dir[64];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/ratelab-replay-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    remove_tree(dir);
}

static cJSON *read_json(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "no %s", path);
    static char buf[1 << 22];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    cJSON *j = cJSON_Parse(buf);
    ck_assert_msg(j != NULL, "%s is not JSON", path);
    return j;
}

static double num(const cJSON *o, const char *path)
{
    char p[256];
    snprintf(p, sizeof p, "%s", path);
    const cJSON *v = o;
    for (char *tok = strtok(p, "."); tok; tok = strtok(NULL, "."))
        v = cJSON_GetObjectItemCaseSensitive(v, tok);
    ck_assert_msg(cJSON_IsNumber(v), "no number at %s", path);
    return v->valuedouble;
}

static const char *const limits =
    "[scenario]\nname = base\nwindow = 100ms\n"
    "[client]\nmax_concurrent = 3\nretry_max_attempts = 1\n"
    "[server]\nservice = deterministic\nservice_mean = 400ms\n"
    "[class.chat]\narrival = constant 10/s\nprompt_tokens = const 100\n"
    "completion_tokens = const 20\nmax_tokens = 64\n";

/*
 * A trace of exactly the arrivals a constant process makes (10/s, the same token
 * counts) replays to the metrics of the simulation that makes them.
 */
START_TEST(trace_replays_like_its_process)
{
    char trace[1 << 16];
    int n = 0;
    n += snprintf(trace + n, sizeof trace - (size_t)n, "t,prompt_tokens,completion_tokens\n");
    for (int k = 0; k < 100; k++)
        n += snprintf(trace + n, sizeof trace - (size_t)n, "%.1f,100,20\n", k / 10.0);
    write_file_in(dir, "t.csv", trace);
    write_file_in(dir, "base.ini", limits);
    char cmd[1024], out[8192];
    snprintf(cmd, sizeof cmd,
             "cd %s && %s/ratelab replay t.csv base.ini --columns time=t --quiet --json r.json "
             "&& %s/ratelab sim base.ini --set scenario.duration=10s --quiet --json s.json",
             dir, BUILDDIR, BUILDDIR);
    int rc = run_cmd(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
    cJSON *r = read_json("r.json"), *s = read_json("s.json");
    const cJSON *rep = cJSON_GetObjectItemCaseSensitive(r, "scenario");
    static const char *const same[] = {"requests.arrived", "requests.succeeded",
                                       "requests.failed", "attempts.sent", "latency_ms.p50",
                                       "latency_ms.p95", "queue_depth.max"};
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++)
        ck_assert_msg(num(rep, same[i]) == num(s, same[i]), "%s: replay %g, sim %g", same[i],
                      num(rep, same[i]), num(s, same[i]));
    ck_assert_double_eq(num(rep, "requests.arrived"), 100);
    cJSON_Delete(r);
    cJSON_Delete(s);
}
END_TEST

/* --against: both reports, a diff, and the table names what changed. */
START_TEST(against_compares)
{
    char trace[1 << 16];
    int n = 0;
    n += snprintf(trace + n, sizeof trace - (size_t)n, "time,prompt_tokens\n");
    for (int k = 0; k < 200; k++)
        n += snprintf(trace + n, sizeof trace - (size_t)n, "%.2f,100\n", k / 40.0);
    write_file_in(dir, "t.csv", trace);
    write_file_in(dir, "base.ini", limits);
    char more[4096];
    snprintf(more, sizeof more, "%s", limits);
    char *p = strstr(more, "max_concurrent = 3");
    memcpy(p, "max_concurrent = 9", strlen("max_concurrent = 9"));
    p = strstr(more, "name = base");
    memcpy(p, "name = more", strlen("name = more"));
    write_file_in(dir, "more.ini", more);
    char cmd[1024], out[16384];
    snprintf(cmd, sizeof cmd,
             "cd %s && %s/ratelab replay t.csv base.ini --against more.ini --json r.json", dir,
             BUILDDIR);
    int rc = run_cmd(cmd, out, sizeof out);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
    ck_assert_ptr_nonnull(strstr(out, "against more"));
    ck_assert_ptr_nonnull(strstr(out, "p95 latency"));
    ck_assert_ptr_nonnull(strstr(out, "peak queue"));
    cJSON *r = read_json("r.json");
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(r, "scenario");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(r, "against");
    ck_assert_ptr_nonnull(b);
    ck_assert(cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(r, "diff")));
    /* Three times the concurrency: the same requests, less waiting. */
    ck_assert_double_eq(num(a, "requests.arrived"), num(b, "requests.arrived"));
    ck_assert_double_lt(num(b, "latency_ms.p95"), num(a, "latency_ms.p95"));
    cJSON_Delete(r);
}
END_TEST

/*
 * The bundled incident (recorded by ratelab live against the mock): replayed under the
 * limits of that day, the simulation comes close to what was observed; the CSV form of
 * the same requests replays to the same numbers as the JSONL.
 */
START_TEST(bundled_incident)
{
    char cmd[2048], out[16384];
    snprintf(cmd, sizeof cmd,
             "cd %s && %s/ratelab replay %s/scenarios/traces/incident.jsonl "
             "%s/scenarios/traces/incident.ini --against %s/scenarios/traces/incident-fix.ini "
             "--json j.json && %s/ratelab replay %s/scenarios/traces/incident.csv "
             "%s/scenarios/traces/incident.ini --quiet --json c.json "
             "--columns time=ts,prompt=in_tokens,completion=out_tokens,class=route",
             dir, BUILDDIR, SRCDIR, SRCDIR, SRCDIR, BUILDDIR, SRCDIR, SRCDIR);
    int rc = run_cmd(cmd, out, sizeof out);
    ck_assert_msg(rc == 0 || rc == 1, "exit %d: %s", rc, out);
    cJSON *j = read_json("j.json"), *c = read_json("c.json");
    const cJSON *ob = cJSON_GetObjectItemCaseSensitive(j, "observed");
    ck_assert_double_eq(num(ob, "requests"), 917);
    double p95err = num(ob, "p95_error"), p50err = num(ob, "p50_error");
    fprintf(stderr, "incident: p50 error %+.1f%%, p95 error %+.1f%%\n", 100 * p50err,
            100 * p95err);
    ck_assert_msg(fabs(p95err) < 0.15, "p95 off by %.1f%%", 100 * p95err);
    double saw_obs = num(ob, "server_429_share"), saw_sim = num(ob, "sim_server_429_share");
    ck_assert_msg(fabs(saw_obs - saw_sim) < 0.02, "saw a 429: observed %.3f simulated %.3f",
                  saw_obs, saw_sim);
    /* The fix loses nothing. */
    ck_assert_double_eq(num(cJSON_GetObjectItemCaseSensitive(j, "against"), "requests.failed"), 0);
    /* CSV and JSONL: the same requests, the same replay. */
    const cJSON *sj = cJSON_GetObjectItemCaseSensitive(j, "scenario");
    const cJSON *sc = cJSON_GetObjectItemCaseSensitive(c, "scenario");
    ck_assert_double_eq(num(sj, "requests.arrived"), num(sc, "requests.arrived"));
    ck_assert_double_eq(num(sj, "requests.failed"), num(sc, "requests.failed"));
    ck_assert_double_eq(num(sj, "latency_ms.p95"), num(sc, "latency_ms.p95"));
    cJSON_Delete(j);
    cJSON_Delete(c);
}
END_TEST

/* A trace without classes cannot feed several classes: a usage error that says why. */
START_TEST(classless_trace_two_classes)
{
    write_file_in(dir, "t.csv", "time,prompt_tokens\n0,10\n0.5,10\n");
    write_file_in(dir, "two.ini", "[class.a]\narrival = constant 1/s\n[class.b]\narrival = constant 1/s\n");
    char cmd[1024], out[4096];
    snprintf(cmd, sizeof cmd, "cd %s && %s/ratelab replay t.csv two.ini", dir, BUILDDIR);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 2);
    ck_assert_ptr_nonnull(strstr(out, "name no class"));
    snprintf(cmd, sizeof cmd, "cd %s && %s/ratelab replay two.ini", dir, BUILDDIR);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 2);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("replay");
    TCase *tc = tcase_create("replay");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, trace_replays_like_its_process);
    tcase_add_test(tc, against_compares);
    tcase_add_test(tc, bundled_incident);
    tcase_add_test(tc, classless_trace_two_classes);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
