/*
 * The numbers the bundled scenarios' comments state, asserted, so a comment cannot
 * drift from what the code does (issue 12). Each claim is checked on the binary as
 * a user would run it. daily-budget.ini's "around 14:40" is checked in check_sim
 * (the budget forecast).
 */
#include "config.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static cJSON *sim_json(const char *scenario, const char *args)
{
    char cmd[1024], path[64];
    static char out[1 << 16];
    snprintf(path, sizeof path, "/tmp/ratelab-claims-%d.json", (int)getpid());
    snprintf(cmd, sizeof cmd, "%s/ratelab sim %s/scenarios/%s %s --quiet --json %s", BUILDDIR,
             SRCDIR, scenario, args, path);
    int rc = run_cmd(cmd, out, sizeof out);
    ck_assert_msg(rc == 0 || rc == 1, "%s: exit %d: %s", cmd, rc, out);
    FILE *f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    static char buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(path);
    cJSON *j = cJSON_Parse(buf);
    ck_assert_msg(j != NULL, "%s: not JSON", cmd);
    return j;
}

static double num(const cJSON *o, const char *a, const char *b)
{
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, a);
    const cJSON *v = b ? cJSON_GetObjectItemCaseSensitive(g, b) : g;
    ck_assert(cJSON_IsNumber(v));
    return v->valuedouble;
}

/* retry-storm.ini: "95% of the answers are 429s"; "--set client.retry_budget=10%: retries
 * fall from ~53,000 to ~5,700 and the provider sees 40% fewer requests". */
START_TEST(retry_storm)
{
    cJSON *a = sim_json("retry-storm.ini", "");
    cJSON *b = sim_json("retry-storm.ini", "--set client.retry_budget=10%");
    double ra = num(a, "retries", NULL), rb = num(b, "retries", NULL);
    double sa = num(a, "attempts", "sent"), sb = num(b, "attempts", "sent");
    double share429 = num(a, "attempts", "http_429") / sa;
    fprintf(stderr, "retry-storm: retries %.0f -> %.0f, sent %.0f -> %.0f (%.0f%% fewer), "
                    "429 share %.1f%%\n",
            ra, rb, sa, sb, 100 * (1 - sb / sa), 100 * share429);
    ck_assert_msg(ra > 50000 && ra < 56000, "retries %.0f, the comment says ~53,000", ra);
    ck_assert_msg(rb > 5400 && rb < 6000, "retries %.0f, the comment says ~5,700", rb);
    ck_assert_msg(1 - sb / sa > 0.37 && 1 - sb / sa < 0.43, "%.0f%% fewer, the comment says 40%%",
                  100 * (1 - sb / sa));
    ck_assert_msg(share429 > 0.93 && share429 < 0.98, "429 share %.3f, the comment says 95%%",
                  share429);
    cJSON_Delete(a);
    cJSON_Delete(b);
}
END_TEST

/* per-pod-limits.ini: "About 1,900 answers are 429s, and about 1,380 requests fail (69% of
 * the batch)"; shared: "no 429s, nothing lost", batch p95 "about 5.5 min", chat p95 "about
 * 6 s"; split: "the same here". */
static double cls_num(const cJSON *o, const char *cls, const char *a, const char *b)
{
    return num(cJSON_GetObjectItem(cJSON_GetObjectItem(o, "classes"), cls), a, b);
}

START_TEST(per_pod_limits)
{
    cJSON *f = sim_json("per-pod-limits.ini", "");
    cJSON *sh = sim_json("per-pod-limits.ini", "--set client.instance_limits=shared");
    cJSON *sp = sim_json("per-pod-limits.ini", "--set client.instance_limits=split");
    double h429 = num(f, "attempts", "http_429"), failed = num(f, "requests", "failed");
    double batch_lost = cls_num(f, "batch", "requests", "failed") / cls_num(f, "batch", "requests",
                                                                             "arrived");
    fprintf(stderr, "per-pod-limits: full %.0f 429s, %.0f failed (%.0f%% of the batch); "
                    "shared %.0f 429s, %.0f failed, batch p95 %.0f s, chat p95 %.1f s\n",
            h429, failed, 100 * batch_lost, num(sh, "attempts", "http_429"),
            num(sh, "requests", "failed"), cls_num(sh, "batch", "latency_ms", "p95") / 1000,
            cls_num(sh, "chat", "latency_ms", "p95") / 1000);
    ck_assert_msg(h429 > 1800 && h429 < 2000, "%.0f 429s, the comment says about 1,900", h429);
    ck_assert_msg(failed > 1330 && failed < 1430, "%.0f failed, the comment says about 1,380",
                  failed);
    ck_assert_msg(batch_lost > 0.67 && batch_lost < 0.71, "%.3f of the batch lost, the comment "
                  "says 69%%", batch_lost);
    ck_assert_double_eq(num(f, "instances", "count"), 4);
    for (int k = 0; k < 2; k++) {
        cJSON *j = k ? sp : sh;
        ck_assert_double_eq(num(j, "attempts", "http_429"), 0);
        ck_assert_double_eq(num(j, "requests", "failed"), 0);
        ck_assert_double_eq(num(j, "requests", "arrived"), num(j, "requests", "succeeded"));
    }
    double bp95 = cls_num(sh, "batch", "latency_ms", "p95") / 60000;
    double cp95 = cls_num(sh, "chat", "latency_ms", "p95") / 1000;
    ck_assert_msg(bp95 > 5.2 && bp95 < 5.8, "batch p95 %.2f min, the comment says about 5.5", bp95);
    ck_assert_msg(cp95 > 5.5 && cp95 < 6.5, "chat p95 %.2f s, the comment says about 6", cp95);
    cJSON_Delete(f);
    cJSON_Delete(sh);
    cJSON_Delete(sp);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("claims");
    TCase *tc = tcase_create("scenario comments");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, retry_storm);
    tcase_add_test(tc, per_pod_limits);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
