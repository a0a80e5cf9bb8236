#include "config.h"

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "rng.h"
#include "scenario.h"
#include "testutil.h"
#include "trace.h"
#include "util.h"
#include "workload.h"

static char dir[256];

static void setup(void)
{
    snprintf(dir, sizeof dir, "/tmp/check_trace.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
}

static void teardown(void)
{
    remove_tree(dir);
}

/* Write text to dir/name; returns the path (static buffer per call site is enough). */
static const char *put(const char *name, const char *text)
{
    static char paths[8][320];
    static int k;
    char *p = paths[k++ % 8];
    snprintf(p, 320, "%s/%s", dir, name);
    FILE *f = fopen(p, "w");
    ck_assert_ptr_nonnull(f);
    fputs(text, f);
    fclose(f);
    return p;
}

static const char *const two[] = {"chat", "batch"};

static struct trace_options opts(const char *path)
{
    return (struct trace_options){.path = path, .classes = two, .n_classes = 2,
                                  .only_class = -1};
}

/* Read every line; returns the count, or -(line of the error) on an error. */
static int64_t read_all(const struct trace_options *o, struct trace_line *out, int max,
                        struct trace_error *err)
{
    trace *t = trace_open(o, err);
    if (!t)
        return -1000000;
    int64_t n = 0;
    struct trace_line l;
    int rc;
    while ((rc = trace_next(t, &l, err)) == 0) {
        if (n < max)
            out[n] = l;
        n++;
    }
    trace_close(t);
    return rc == 1 ? n : -err->line;
}

START_TEST(jsonl_recorded)
{
    /* As ratelab live --record writes it: in order of ending, not of arrival. */
    const char *p = put("rec.jsonl",
        "{\"t\":0.500000,\"ts_ms\":1796097685775,\"class\":\"chat\",\"prompt_tokens\":169,"
        "\"max_tokens\":64,\"usage\":{\"prompt_tokens\":169,\"completion_tokens\":39},"
        "\"status\":200,\"outcome\":\"succeeded\",\"attempts\":1,\"latency_ms\":79.475,"
        "\"ttft_ms\":39.934}\n"
        "{\"t\":0.093487,\"ts_ms\":1796097685368,\"class\":\"batch\",\"prompt_tokens\":12,"
        "\"max_tokens\":64,\"usage\":null,\"status\":429,\"outcome\":\"failed\",\"attempts\":3,"
        "\"latency_ms\":900.5,\"ttft_ms\":null}\n"
        "\n"
        "{\"t\":1.25,\"prompt_tokens\":7,\"usage\":{\"prompt_tokens\":7,\"completion_tokens\":-1},"
        "\"status\":-1}\n");
    struct trace_options o = opts(p);
    struct trace_line l[8];
    struct trace_error err;
    ck_assert_int_eq(read_all(&o, l, 8, &err), 3);
    /* time order; the earliest line is 0 */
    ck_assert_int_eq(l[0].time_us, 0);
    ck_assert_int_eq(l[0].line, 2);
    ck_assert_int_eq(l[0].prompt_tokens, 12);
    ck_assert_int_eq(l[0].completion_tokens, -1); /* usage null */
    ck_assert_int_eq(l[0].class_index, 1);
    ck_assert_int_eq(l[0].status, 429);
    ck_assert(l[0].latency_ms == 900.5);
    ck_assert_int_eq(l[1].time_us, 500000 - 93487);
    ck_assert_int_eq(l[1].completion_tokens, 39);
    ck_assert_int_eq(l[1].class_index, 0);
    ck_assert_int_eq(l[1].status, 200);
    ck_assert_int_eq(l[2].time_us, 1250000 - 93487);
    ck_assert_int_eq(l[2].completion_tokens, -1); /* -1: the server left it out */
    ck_assert_int_eq(l[2].class_index, -1);       /* no class: every trace class takes it */
    ck_assert_int_eq(l[2].status, -1);
    ck_assert(l[2].latency_ms < 0);

    /* trace_start = 0: the recorded t as it is */
    o.start = "0";
    ck_assert_int_eq(read_all(&o, l, 8, &err), 3);
    ck_assert_int_eq(l[0].time_us, 93487);
    ck_assert_int_eq(l[1].time_us, 500000);
    /* time = ts_ms in JSONL: epoch milliseconds, relative to the earliest */
    o.start = NULL;
    o.columns = "time=ts_ms";
    ck_assert_int_eq(read_all(&o, l, 8, &err), -4); /* line 4 has no ts_ms */
    ck_assert_str_eq(err.file, p);
    ck_assert_ptr_nonnull(strstr(err.msg, "missing time"));
}
END_TEST

START_TEST(csv_mapping)
{
    const char *p = put("gw.csv",
                        "ts,route,in_tokens,out_tokens,note\n"
                        "10.0,chat,100,20,\"a, quoted \"\"cell\"\"\"\n"
                        "10.25,batch,2000,,x\n"
                        " 11.5 , chat ,  5 , 6 ,\n");
    struct trace_options o = opts(p);
    o.columns = "time=ts,prompt=in_tokens,completion=out_tokens,class=route";
    struct trace_line l[8];
    struct trace_error err;
    ck_assert_int_eq(read_all(&o, l, 8, &err), 3);
    ck_assert_int_eq(l[0].time_us, 0);
    ck_assert_int_eq(l[0].prompt_tokens, 100);
    ck_assert_int_eq(l[0].completion_tokens, 20);
    ck_assert_int_eq(l[0].class_index, 0);
    ck_assert_int_eq(l[0].line, 2);
    ck_assert_int_eq(l[1].time_us, 250000);
    ck_assert_int_eq(l[1].completion_tokens, -1); /* empty cell: the class's distribution */
    ck_assert_int_eq(l[1].class_index, 1);
    ck_assert_int_eq(l[2].time_us, 1500000);
    ck_assert_int_eq(l[2].prompt_tokens, 5);
    ck_assert_int_eq(l[2].completion_tokens, 6);

    /* the defaults need time and prompt_tokens columns */
    o.columns = NULL;
    ck_assert_int_eq(read_all(&o, l, 8, &err), -1);
    ck_assert_ptr_nonnull(strstr(err.msg, "no column 'time'"));
    /* a bad mapping is refused at open */
    o.columns = "when=ts";
    ck_assert_ptr_null(trace_open(&o, &err));
    ck_assert_ptr_nonnull(strstr(err.msg, "trace_columns"));
    /* defaults */
    p = put("plain.csv", "time,prompt_tokens\n3,10\n4.5,11\n");
    o = opts(p);
    ck_assert_int_eq(read_all(&o, l, 8, &err), 2);
    ck_assert_int_eq(l[1].time_us, 1500000);
    ck_assert_int_eq(l[1].completion_tokens, -1);
}
END_TEST

START_TEST(time_formats)
{
    /* The same three instants as seconds, epoch ms and RFC 3339. */
    const char *s = put("s.csv", "time,prompt_tokens\n1796097685.275,1\n1796097686.5,1\n"
                                 "1796097690,1\n");
    const char *ms = put("ms.csv", "time,prompt_tokens\n1796097685275,1\n1796097686500,1\n"
                                   "1796097690000,1\n");
    const char *rfc = put("rfc.csv", "time,prompt_tokens\n2026-12-01T04:01:25.275Z,1\n"
                                     "2026-12-01T05:01:26.5+01:00,1\n"
                                     "2026-12-01T04:01:30Z,1\n");
    const char *files[] = {s, ms, rfc};
    for (int i = 0; i < 3; i++) {
        struct trace_options o = opts(files[i]);
        struct trace_line l[4];
        struct trace_error err;
        ck_assert_msg(read_all(&o, l, 4, &err) == 3, "%s: %s:%lld: %s", files[i], err.file,
                      (long long)err.line, err.msg);
        ck_assert_int_eq(l[0].time_us, 0);
        ck_assert_int_eq(l[1].time_us, 1225000);
        ck_assert_int_eq(l[2].time_us, 4725000);
        /* trace_start in any format: the same origin */
        const char *starts[] = {"1796097685", "1796097685000", "2026-12-01T04:01:25Z"};
        for (int j = 0; j < 3; j++) {
            o.start = starts[j];
            ck_assert_int_eq(read_all(&o, l, 4, &err), 3);
            ck_assert_int_eq(l[0].time_us, 275000);
            ck_assert_int_eq(l[2].time_us, 5000000);
        }
        /* a start after a line: that line is bad */
        o.start = "1796097686";
        ck_assert_int_eq(read_all(&o, l, 4, &err), -2);
        ck_assert_ptr_nonnull(strstr(err.msg, "before trace_start"));
        o.start = "yesterday";
        ck_assert_ptr_null(trace_open(&o, &err));
    }
}
END_TEST

START_TEST(reorder_bound)
{
    /* Lines out of order by at most 3 places replay sorted with a buffer of 4. */
    const char *p = put("ooo.csv", "time,prompt_tokens\n3,1\n1,1\n2,1\n0,1\n7,1\n5,1\n4,1\n6,1\n"
                                   "8,1\n");
    struct trace_options o = opts(p);
    o.reorder_lines = 4;
    o.start = "0";
    struct trace_line l[16];
    struct trace_error err;
    ck_assert_int_eq(read_all(&o, l, 16, &err), 9);
    for (int i = 0; i < 9; i++)
        ck_assert_int_eq(l[i].time_us, i * 1000000LL);
    /* Ties leave in file order. */
    p = put("ties.csv", "time,prompt_tokens\n1,1\n1,2\n0,3\n1,4\n");
    o = opts(p);
    o.reorder_lines = 4;
    ck_assert_int_eq(read_all(&o, l, 16, &err), 4);
    ck_assert_int_eq(l[0].prompt_tokens, 3);
    ck_assert_int_eq(l[1].prompt_tokens, 1);
    ck_assert_int_eq(l[2].prompt_tokens, 2);
    ck_assert_int_eq(l[3].prompt_tokens, 4);
    /* Beyond the buffer: line 7 (time 0) comes after 1 was emitted. */
    p = put("back.csv", "time,prompt_tokens\n1,1\n2,1\n3,1\n4,1\n5,1\n0,1\n");
    o = opts(p);
    o.reorder_lines = 4;
    ck_assert_int_eq(read_all(&o, l, 16, &err), -7);
    ck_assert_ptr_nonnull(strstr(err.msg, "time goes backwards"));
    ck_assert_ptr_nonnull(strstr(err.msg, "4 lines"));
    /* With the default bound it is absorbed. */
    o.reorder_lines = 0;
    ck_assert_int_eq(read_all(&o, l, 16, &err), 6);
    /* skip_bad: skipped and counted */
    o.reorder_lines = 4;
    o.skip_bad = true;
    int64_t n, sk;
    ck_assert_int_eq(trace_check(&o, &n, &sk, &err), 0);
    ck_assert_int_eq(n, 5);
    ck_assert_int_eq(sk, 1);
}
END_TEST

START_TEST(bad_lines)
{
    static const struct {
        const char *text;
        int64_t line;
        const char *msg;
    } cases[] = {
        {"{\"t\":1,\"prompt_tokens\":3}\n{\"t\":2,\"prompt_tokens\":3\n", 2, "unparseable"},
        {"{\"t\":1,\"prompt_tokens\":3}\nnot json\n", 2, "unparseable"},
        {"{\"t\":1,\"prompt_tokens\":3}\n{\"t\":2}\n", 2, "missing prompt"},
        {"{\"prompt_tokens\":3}\n", 1, "missing time"},
        {"{\"t\":1,\"prompt_tokens\":-3}\n", 1, "negative prompt"},
        {"{\"t\":1,\"prompt_tokens\":3,\"usage\":{\"completion_tokens\":-5}}\n", 1,
         "negative completion"},
        {"{\"t\":-1,\"prompt_tokens\":3}\n", 1, "negative"},
        {"{\"t\":\"soon\",\"prompt_tokens\":3}\n", 1, "bad time"},
        {"{\"t\":1,\"prompt_tokens\":2.5}\n", 1, "bad prompt"},
        {"{\"t\":1,\"prompt_tokens\":3,\"class\":\"video\"}\n", 1, "class 'video'"},
        {"time,prompt_tokens\n1,2\n2,-4\n", 3, "negative prompt"},
        {"time,prompt_tokens\n1,2\n2\n", 3, "missing prompt"},
        {"time,prompt_tokens\n1,2\n\"2,3\n", 3, "unparseable"},
        {"time,prompt_tokens,completion_tokens\n1,2,x\n", 2, "bad completion"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *p = put("bad.txt", cases[i].text);
        struct trace_options o = opts(p);
        int64_t n = -1, sk = -1;
        struct trace_error err;
        ck_assert_int_eq(trace_check(&o, &n, &sk, &err), -EINVAL);
        ck_assert_msg(err.line == cases[i].line && strstr(err.msg, cases[i].msg),
                      "case %zu: %s:%lld: %s", i, err.file, (long long)err.line, err.msg);
        ck_assert_str_eq(err.file, p);
        ck_assert_int_eq(n, -1); /* untouched on error */
        o.skip_bad = true;
        ck_assert_int_eq(trace_check(&o, &n, &sk, &err), 0);
        ck_assert_int_eq(sk, 1);
    }
    struct trace_options o = opts("/nonexistent/trace.jsonl");
    struct trace_error err;
    ck_assert_ptr_null(trace_open(&o, &err));
    ck_assert_int_eq(err.line, 0);
}
END_TEST

/* A scenario with classes chat and batch reading path; a third class "other" is poisson. */
static void load(struct scenario *sc, const char *path, const char *extra_chat)
{
    char text[2048];
    snprintf(text, sizeof text,
             "[scenario]\nduration = 60s\nseed = 3\n"
             "[class.chat]\narrival = trace %s\ncompletion_tokens = const 77\n%s\n"
             "[class.batch]\narrival = trace %s\n"
             "[class.other]\narrival = poisson 1/s\n",
             path, extra_chat, path);
    struct scenario_error err;
    int rc = scenario_load_string(sc, "t.ini", text, NULL, 0, &err);
    ck_assert_msg(rc == 0, "%s:%d: %s", err.file, err.line, err.msg);
}

START_TEST(workload_routing)
{
    const char *p = put("mix.csv", "time,class,prompt_tokens,completion_tokens\n"
                                   "0.5,chat,10,1\n0,batch,20,2\n1,chat,30,\n2,,40,4\n"
                                   "70,chat,50,5\n");
    struct scenario sc;
    load(&sc, p, "");
    ck_assert_int_eq(sc.classes[0].arrival.kind, ARRIVAL_TRACE);
    int64_t n, sk;
    struct trace_error err;
    ck_assert_int_eq(workload_trace_check(&sc, 0, &n, &sk, &err), 0);
    ck_assert_int_eq(n, 5);
    ck_assert_int_eq(sk, 0);

    struct rng r;
    rng_seed(&r, 1);
    workload *chat = workload_new(&sc.classes[0], sc.duration_us, &r);
    workload *batch = workload_new(&sc.classes[1], sc.duration_us, &r);
    ck_assert_int_eq(workload_trace_begin(chat, &sc, 0, &err), 0);
    ck_assert_int_eq(workload_trace_begin(batch, &sc, 1, &err), 0);
    /* chat: its own lines and the class-less one; the 70 s line is past the duration */
    ck_assert_int_eq(workload_next_arrival(chat), 500000);
    ck_assert_int_eq(workload_prompt_tokens(chat), 10);
    ck_assert_int_eq(workload_completion_tokens(chat), 1);
    ck_assert_int_eq(workload_next_arrival(chat), 1000000);
    ck_assert_int_eq(workload_prompt_tokens(chat), 30);
    ck_assert_int_eq(workload_completion_tokens(chat), 77); /* none in the trace: drawn */
    ck_assert_int_eq(workload_next_arrival(chat), 2000000);
    ck_assert_int_eq(workload_prompt_tokens(chat), 40);
    ck_assert_int_eq(workload_next_arrival(chat), TIME_NEVER);
    ck_assert_int_eq(workload_next_arrival(chat), TIME_NEVER);
    /* batch: the origin is the file's earliest line, shared by both classes */
    ck_assert_int_eq(workload_next_arrival(batch), 0);
    ck_assert_int_eq(workload_prompt_tokens(batch), 20);
    ck_assert_int_eq(workload_completion_tokens(batch), 2);
    ck_assert_int_eq(workload_next_arrival(batch), 2000000);
    ck_assert_int_eq(workload_next_arrival(batch), TIME_NEVER);
    ck_assert_int_eq(workload_trace_errors(chat), 0);
    workload_free(chat);
    workload_free(batch);
    scenario_fini(&sc);

    /* a class the scenario lacks: FILE:LINE, or skipped and counted */
    p = put("lack.csv", "time,class,prompt_tokens\n0,chat,1\n1,video,2\n2,batch,3\n");
    load(&sc, p, "");
    ck_assert_int_eq(workload_trace_check(&sc, 0, &n, &sk, &err), -EINVAL);
    ck_assert_int_eq(err.line, 3);
    ck_assert_ptr_nonnull(strstr(err.msg, "class 'video'"));
    sc.trace_skip_bad = true;
    ck_assert_int_eq(workload_trace_check(&sc, 0, &n, &sk, &err), 0);
    ck_assert_int_eq(n, 2);
    ck_assert_int_eq(sk, 1);
    scenario_fini(&sc);
}
END_TEST

START_TEST(scenario_keys)
{
    const char *p = put("k.csv", "ts,in\n0,1\n");
    struct scenario sc;
    load(&sc, p, "trace_columns = time=ts,prompt=in\ntrace_start = 2026-12-01T04:01:25Z");
    ck_assert_str_eq(sc.classes[0].trace_columns, "time=ts,prompt=in");
    ck_assert_str_eq(sc.classes[0].trace_start, "2026-12-01T04:01:25Z");
    /* written back, it loads to the same */
    char *buf = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&buf, &len);
    scenario_write(&sc, f);
    fclose(f);
    ck_assert_ptr_nonnull(strstr(buf, "arrival = trace /"));
    ck_assert_ptr_nonnull(strstr(buf, "trace_columns = time=ts,prompt=in\n"));
    struct scenario sc2;
    struct scenario_error err;
    ck_assert_int_eq(scenario_load_string(&sc2, "back.ini", buf, NULL, 0, &err), 0);
    ck_assert_str_eq(sc2.classes[0].arrival.trace_path, sc.classes[0].arrival.trace_path);
    ck_assert_str_eq(sc2.classes[1].trace_columns, "");
    free(buf);
    scenario_fini(&sc2);
    scenario_fini(&sc);

    /* bad mapping, keys on a non-trace class, a missing file: scenario FILE:LINE */
    static const char *const bad[] = {
        "[class.a]\narrival = trace k.csv\ntrace_columns = time=ts,when=x\n",
        "[class.a]\narrival = poisson 1/s\ntrace_start = 0\n",
        "[class.a]\narrival = trace missing.csv\n",
    };
    static const int line[] = {3, 3, 2};
    for (int i = 0; i < 3; i++) {
        char name[320];
        snprintf(name, sizeof name, "%s/s.ini", dir);
        int rc = scenario_load_string(&sc, name, bad[i], NULL, 0, &err);
        ck_assert_int_eq(rc, -EINVAL);
        ck_assert_msg(err.line == line[i], "%d: %d: %s", i, err.line, err.msg);
        scenario_fini(&sc);
    }
}
END_TEST

START_TEST(replays_own_arrivals)
{
    /* A poisson class's arrivals written as a trace replay to the same count and times. */
    struct class_config c;
    memset(&c, 0, sizeof c);
    snprintf(c.name, sizeof c.name, "chat");
    c.arrival.kind = ARRIVAL_POISSON;
    c.arrival.rate_per_s = 50;
    c.prompt_tokens.kind = DIST_UNIFORM;
    c.prompt_tokens.a = 10;
    c.prompt_tokens.b = 500;
    c.completion_tokens.kind = DIST_CONST;
    c.completion_tokens.a = 10;
    int64_t end = 60 * US_PER_S;
    struct rng r;
    rng_seed(&r, 42);
    workload *w = workload_new(&c, end, &r);
    char path[320];
    snprintf(path, sizeof path, "%s/own.jsonl", dir);
    FILE *f = fopen(path, "w");
    int64_t times[4000], prompts[4000], n = 0, t;
    while ((t = workload_next_arrival(w)) != TIME_NEVER) {
        ck_assert_int_lt(n, 4000);
        times[n] = t;
        prompts[n] = workload_prompt_tokens(w);
        fprintf(f, "{\"t\":%.6f,\"class\":\"chat\",\"prompt_tokens\":%lld}\n",
                (double)t / US_PER_S, (long long)prompts[n]);
        n++;
    }
    fclose(f);
    workload_free(w);
    ck_assert_int_gt(n, 2500);

    struct scenario sc;
    char text[1024];
    snprintf(text, sizeof text, "[scenario]\nduration = 60s\n[class.chat]\narrival = trace %s\n"
             "trace_start = 0\n", path);
    struct scenario_error serr;
    ck_assert_int_eq(scenario_load_string(&sc, "own.ini", text, NULL, 0, &serr), 0);
    int64_t req, sk;
    struct trace_error err;
    ck_assert_int_eq(workload_trace_check(&sc, 0, &req, &sk, &err), 0);
    ck_assert_int_eq(req, n);
    rng_seed(&r, 7);
    w = workload_new(&sc.classes[0], sc.duration_us, &r);
    ck_assert_int_eq(workload_trace_begin(w, &sc, 0, &err), 0);
    int64_t k = 0;
    while ((t = workload_next_arrival(w)) != TIME_NEVER) {
        ck_assert_int_lt(k, n);
        ck_assert_int_eq(t, times[k]);
        ck_assert_int_eq(workload_prompt_tokens(w), prompts[k]);
        k++;
    }
    ck_assert_int_eq(k, n);
    workload_free(w);
    scenario_fini(&sc);
}
END_TEST

static long maxrss_kb(void)
{
    struct rusage u;
    getrusage(RUSAGE_SELF, &u);
    return u.ru_maxrss;
}

START_TEST(million_lines_flat)
{
    /* 10^6 lines in ending order (each a few places late): memory is the reorder heap. */
    char path[320];
    snprintf(path, sizeof path, "%s/big.csv", dir);
    FILE *f = fopen(path, "w");
    fputs("time,prompt_tokens,completion_tokens,class\n", f);
    const int64_t n = 1000000;
    for (int64_t i = 0; i < n; i++) {
        int64_t j = i ^ 7; /* a permutation within blocks of 8 */
        fprintf(f, "%lld.%03lld,%lld,%lld,chat\n", (long long)(j / 1000), (long long)(j % 1000),
                (long long)(100 + j % 50), (long long)(j % 30));
    }
    fclose(f);
    struct trace_options o = opts(path);
    long before = maxrss_kb();
    trace *t = trace_open(&o, &(struct trace_error){{0}, 0, {0}});
    ck_assert_ptr_nonnull(t);
    struct trace_line l;
    struct trace_error err;
    int64_t k = 0, last = -1, backwards = 0;
    int rc;
    /* No ck_assert per line: Check records every assertion's location (allocating). */
    while ((rc = trace_next(t, &l, &err)) == 0) {
        backwards += l.time_us < last;
        last = l.time_us;
        k++;
    }
    ck_assert_int_eq(backwards, 0);
    ck_assert_int_eq(rc, 1);
    ck_assert_int_eq(k, n);
    ck_assert_int_eq(last, (n - 1) * 1000);
    trace_close(t);
    long grown = maxrss_kb() - before;
    /* The heap is TRACE_REORDER_LINES x 48 bytes (3 MB); 10^6 lines kept would be 48 MB+. */
    ck_assert_msg(grown < 24 * 1024, "RSS grew by %ld kB over 10^6 lines", grown);
}
END_TEST

static Suite *suite(void)
{
    Suite *s = suite_create("trace");
    TCase *tc = tcase_create("trace");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, jsonl_recorded);
    tcase_add_test(tc, csv_mapping);
    tcase_add_test(tc, time_formats);
    tcase_add_test(tc, reorder_bound);
    tcase_add_test(tc, bad_lines);
    tcase_add_test(tc, workload_routing);
    tcase_add_test(tc, scenario_keys);
    tcase_add_test(tc, replays_own_arrivals);
    tcase_add_test(tc, million_lines_flat);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
