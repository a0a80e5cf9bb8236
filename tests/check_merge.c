/*
 * ratelab merge, on the binary: merged reports against one run over the union of
 * the requests, merging one report, and inputs it must refuse (exit 2).
 */
#include "config.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "testutil.h"

static char dir[64];
static char out[1 << 16];

static void make_dir(void)
{
    snprintf(dir, sizeof dir, "/tmp/ratelab-merge-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void remove_dir(void)
{
    remove_tree(dir);
}

static char *read_in_dir(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    return slurp_file(path);
}

static int ratelab(const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd %s && %s/ratelab %s", dir, BUILDDIR, args);
    return run_cmd(cmd, out, sizeof out);
}

/*
 * Two traces whose requests differ in kind: "chat" short answers, "batch" long ones,
 * interleaved in time. With no limits anywhere, an unbounded batch and a decode time
 * that does not grow with the batch, each request's latency and TTFT depend on its
 * own tokens only, so a run of both classes makes exactly the requests of the two
 * one-class runs, and its histograms are exactly the union of theirs.
 */
static void write_traces(void)
{
    FILE *f[2];
    const char *names[2] = {"chat.csv", "batch.csv"};
    for (int k = 0; k < 2; k++) {
        char path[256];
        snprintf(path, sizeof path, "%s/%s", dir, names[k]);
        f[k] = fopen(path, "w");
        ck_assert_ptr_nonnull(f[k]);
        fputs("time,prompt_tokens,completion_tokens\n", f[k]);
    }
    unsigned x = 12345;
    for (int i = 0; i < 4000; i++) {
        x = x * 1103515245u + 12345u;
        int k = (x >> 16) % 4 == 0; /* a quarter batch */
        int prompt = 50 + (int)((x >> 8) % 900);
        int completion = k ? 300 + (int)((x >> 4) % 700) : 5 + (int)((x >> 12) % 120);
        fprintf(f[k], "%.3f,%d,%d\n", i * 0.0075, prompt, completion);
    }
    for (int k = 0; k < 2; k++)
        ck_assert_int_eq(fclose(f[k]), 0);
}

static const char *const common =
    "[scenario]\nname = merge-union\nduration = 60s\nseed = 3\nslo_p95 = 8s\n"
    "[server]\nmax_running = 0\ndecode_batch_slope = 0\n";
static const char *const chat_class =
    "[class.chat]\narrival = trace chat.csv\ntrace_start = 0\nslo_p95 = 3s\n";
static const char *const batch_class =
    "[class.batch]\narrival = trace batch.csv\ntrace_start = 0\nmax_tokens = 1000\n"
    "slo_p95 = 30s\n";

static cJSON *parse(const char *text)
{
    cJSON *j = cJSON_Parse(text);
    ck_assert_ptr_nonnull(j);
    return j;
}

static double num(const cJSON *o, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(o, a);
    if (b)
        x = cJSON_GetObjectItemCaseSensitive(x, b);
    ck_assert_msg(cJSON_IsNumber(x), "no number %s.%s", a, b ? b : "");
    return x->valuedouble;
}

/* Take attempts.inflight_max out of a scope (and return it): the one field merge can
 * only bound (doc/report.md, "Merging"). */
static double take_inflight(cJSON *scope)
{
    cJSON *a = cJSON_GetObjectItemCaseSensitive(scope, "attempts");
    double v = num(scope, "attempts", "inflight_max");
    cJSON_DeleteItemFromObjectCaseSensitive(a, "inflight_max");
    return v;
}

START_TEST(merged_equals_union_run)
{
    make_dir();
    write_traces();
    char ini[1024];
    snprintf(ini, sizeof ini, "%s%s", common, chat_class);
    write_file_in(dir, "chat.ini", ini);
    snprintf(ini, sizeof ini, "%s%s", common, batch_class);
    write_file_in(dir, "batch.ini", ini);
    snprintf(ini, sizeof ini, "%s%s%s", common, chat_class, batch_class);
    write_file_in(dir, "union.ini", ini);
    int rc = ratelab("sim chat.ini --quiet --json chat.json >/dev/null");
    ck_assert_msg(rc == 0 || rc == 1, "%s", out);
    rc = ratelab("sim batch.ini --quiet --json batch.json >/dev/null");
    ck_assert_msg(rc == 0 || rc == 1, "%s", out);
    rc = ratelab("sim union.ini --quiet --json union.json >/dev/null");
    ck_assert_msg(rc == 0 || rc == 1, "%s", out);
    ck_assert_msg(ratelab("merge chat.json batch.json --json merged.json") == 0, "%s", out);

    char *cs = read_in_dir("chat.json"), *bs = read_in_dir("batch.json");
    char *us = read_in_dir("union.json"), *ms = read_in_dir("merged.json");
    cJSON *c = parse(cs), *b = parse(bs), *u = parse(us), *m = parse(ms);

    /* The construction holds: both classes sent, nothing limited, nothing waited. */
    ck_assert_double_eq(num(u, "requests", "arrived"), 4000);
    ck_assert_double_eq(num(u, "requests", "succeeded"), 4000);
    ck_assert_double_gt(num(c, "requests", "arrived"), 2500);
    ck_assert_double_gt(num(b, "requests", "arrived"), 700);

    /* Percentiles of the union are not those of either part, nor their average: the
     * comparison below could not pass by merging the parts' figures naively. */
    double pc = num(c, "latency_ms", "p95"), pb = num(b, "latency_ms", "p95");
    double pu = num(u, "latency_ms", "p95");
    ck_assert_double_ne(pu, pc);
    ck_assert_double_ne(pu, pb);
    double nc = num(c, "requests", "arrived"), nb = num(b, "requests", "arrived");
    ck_assert_double_ne(pu, (pc * nc + pb * nb) / (nc + nb));
    ck_assert_double_ne(num(u, "latency_ms", "p50"), num(c, "latency_ms", "p50"));

    /* Everything else is the union run's, byte for byte, but the in-flight peaks: a
     * merge knows only each part's, so it reports their max, which the union's
     * (both parts in flight at once) may exceed. */
    double mi = take_inflight(m), ui = take_inflight(u);
    ck_assert_double_le(mi, ui);
    ck_assert_double_eq(mi, num(c, "attempts", "inflight_max") > num(b, "attempts", "inflight_max")
                                ? num(c, "attempts", "inflight_max")
                                : num(b, "attempts", "inflight_max"));
    const char *cls[2] = {"chat", "batch"};
    for (int k = 0; k < 2; k++) {
        cJSON *mc = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(m, "classes"), cls[k]);
        cJSON *uc = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItem(u, "classes"), cls[k]);
        ck_assert_double_eq(take_inflight(mc), take_inflight(uc));
    }
    char *mt = cJSON_Print(m), *ut = cJSON_Print(u);
    ck_assert_msg(strcmp(mt, ut) == 0, "merged report differs from the union run's");
    /* and the SLO verdicts were recomputed, not copied: chat's part passed p95 8 s,
     * the union (and the merge) fails it */
    ck_assert(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(c, "slo"), "ok")));
    ck_assert(cJSON_IsFalse(cJSON_GetObjectItem(cJSON_GetObjectItem(m, "slo"), "ok")));

    /* Merging in the other order changes only the order classes appear in. */
    ck_assert_int_eq(ratelab("merge batch.json chat.json --json rev.json"), 0);
    char *rs = read_in_dir("rev.json");
    cJSON *r = parse(rs);
    ck_assert_double_eq(num(r, "latency_ms", "p95"), pu);
    ck_assert_double_eq(num(r, "ttft_ms", "p99"), num(u, "ttft_ms", "p99"));
    ck_assert_str_eq(cJSON_GetObjectItem(r, "classes")->child->string, "batch");

    /* Merging one report gives it back byte for byte. */
    ck_assert_int_eq(ratelab("merge union.json --json one.json"), 0);
    char *os = read_in_dir("one.json");
    ck_assert_str_eq(os, us);

    free(mt);
    free(ut);
    cJSON_Delete(c);
    cJSON_Delete(b);
    cJSON_Delete(u);
    cJSON_Delete(m);
    cJSON_Delete(r);
    free(cs);
    free(bs);
    free(us);
    free(ms);
    free(rs);
    free(os);
    remove_dir();
}
END_TEST

/* A report of the bundled retry storm, tampered with by edit, must be refused. */
static void refused(const char *what, void (*edit)(cJSON *), const char *expect)
{
    char *text = read_in_dir("good.json");
    cJSON *j = parse(text);
    edit(j);
    char *t = cJSON_Print(j);
    write_file_in(dir, "bad.json", t);
    int rc = ratelab("merge good.json bad.json --json out.json");
    ck_assert_msg(rc == 2, "%s: exit %d: %s", what, rc, out);
    ck_assert_msg(strstr(out, "bad.json: ") && strstr(out, expect), "%s: %s", what, out);
    char path[256];
    snprintf(path, sizeof path, "%s/out.json", dir);
    ck_assert_msg(access(path, F_OK) != 0, "%s: an output was written", what);
    free(t);
    cJSON_Delete(j);
    free(text);
}

static void bump_version(cJSON *j)
{
    cJSON_ReplaceItemInObjectCaseSensitive(j, "report_version", cJSON_CreateNumber(2));
}

static void drop_version(cJSON *j)
{
    cJSON_DeleteItemFromObjectCaseSensitive(j, "report_version");
}

static void other_format(cJSON *j)
{
    cJSON_ReplaceItemInObjectCaseSensitive(cJSON_GetObjectItem(j, "histogram_format"),
                                           "sub_bits", cJSON_CreateNumber(5));
}

static void bad_count(cJSON *j)
{
    cJSON *h = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "latency_ms"), "histogram_us");
    cJSON_ReplaceItemInObjectCaseSensitive(h, "count",
                                           cJSON_CreateNumber(num(h, "count", NULL) + 1));
}

static void bad_min(cJSON *j)
{
    cJSON *h = cJSON_GetObjectItem(cJSON_GetObjectItem(j, "ttft_ms"), "histogram_us");
    cJSON_ReplaceItemInObjectCaseSensitive(h, "min", cJSON_CreateNumber(num(h, "max", NULL) + 1));
}

static void no_requests(cJSON *j)
{
    cJSON_DeleteItemFromObjectCaseSensitive(cJSON_GetObjectItem(j, "classes")->child,
                                            "requests");
}

static void as_live(cJSON *j)
{
    cJSON_AddItemToObject(j, "live", cJSON_CreateObject());
}

START_TEST(bad_inputs_refused)
{
    make_dir();
    char args[1024];
    snprintf(args, sizeof args, "sim %s/scenarios/retry-storm.ini --quiet --json good.json",
             SRCDIR);
    int rc = ratelab(args);
    ck_assert_msg(rc == 0 || rc == 1, "%s", out);
    refused("version", bump_version, "report_version 2, this ratelab merges version 1");
    refused("no version", drop_version, "not a ratelab report");
    refused("format", other_format, "histograms in another format");
    refused("count", bad_count, "latency_ms.histogram_us is not a valid histogram");
    refused("min", bad_min, "ttft_ms.histogram_us is not a valid histogram");
    refused("field", no_requests, "no field classes.clients.requests");
    refused("kind", as_live, "a live run's report, the first one is a simulation's");

    write_file_in(dir, "bad.json", "{\"scenario\": \"x\"");
    ck_assert_int_eq(ratelab("merge bad.json"), 2);
    ck_assert_ptr_nonnull(strstr(out, "bad.json: not JSON"));
    write_file_in(dir, "bad.json", "[1, 2]");
    ck_assert_int_eq(ratelab("merge bad.json"), 2);
    ck_assert_ptr_nonnull(strstr(out, "bad.json: not a ratelab report"));
    ck_assert_int_eq(ratelab("merge"), 2);
    ck_assert_int_eq(ratelab("merge good.json --frobnicate"), 2);
    ck_assert_int_eq(ratelab("merge good.json missing.json"), 3);
    ck_assert_ptr_nonnull(strstr(out, "cannot read missing.json"));
    ck_assert_int_eq(ratelab("merge --help"), 0);
    ck_assert_ptr_nonnull(strstr(out, "usage: ratelab merge"));
    remove_dir();
}
END_TEST

int main(void)
{
    Suite *s = suite_create("merge");
    TCase *tc = tcase_create("merge");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, merged_equals_union_run);
    tcase_add_test(tc, bad_inputs_refused);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
