/*
 * `ratelab live` end to end: the binary against ratelab's mock server (in this
 * process, on its own thread, on 127.0.0.1 with an ephemeral port), or against
 * a scripted HTTP server for exact timing rules. Nothing leaves loopback.
 *
 * Runs are short and real-time. Assertions are about behaviour — accounting,
 * counts matching the server's, lower bounds such as "never before
 * Retry-After" — and never about how fast this machine is, except where the
 * issue asks for agreement with the simulator, with its tolerance stated.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mock_client.h"
#include "scenario.h"
#include "testutil.h"
#include "util.h"

/* ---- helpers ------------------------------------------------------------------- */

struct tmp {
    char dir[64];
    char ini[128], json[128], csv[128], trace[128], out[128];
};

static void tmp_init(struct tmp *t)
{
    snprintf(t->dir, sizeof t->dir, "/tmp/ratelab-live-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(t->dir));
    snprintf(t->ini, sizeof t->ini, "%s/s.ini", t->dir);
    snprintf(t->json, sizeof t->json, "%s/r.json", t->dir);
    snprintf(t->csv, sizeof t->csv, "%s/r.csv", t->dir);
    snprintf(t->trace, sizeof t->trace, "%s/t.jsonl", t->dir);
    snprintf(t->out, sizeof t->out, "%s/out.txt", t->dir);
}

static void tmp_fini(struct tmp *t)
{
    remove_tree(t->dir);
}

/* Start the mock with the scenario in t->ini (its [server] section). */
static void start_mock(struct test_server *s, const struct tmp *t)
{
    test_server_start_ini(s, t->ini);
}

/* Run `ratelab live` on t->ini against addr; stdout+stderr in t->out. Returns the exit code. */
static int live(const struct tmp *t, const char *addr, const char *extra)
{
    char cmd[2048], out[256];
    snprintf(cmd, sizeof cmd,
             "%s/ratelab live %s --url http://%s --json %s --csv %s --record %s %s >%s 2>&1",
             BUILDDIR, t->ini, addr, t->json, t->csv, t->trace, extra ? extra : "", t->out);
    return run_cmd(cmd, out, sizeof out);
}

static double jnum(const cJSON *o, const char *a, const char *b)
{
    const cJSON *g = cJSON_GetObjectItemCaseSensitive(o, a);
    const cJSON *v = b ? cJSON_GetObjectItemCaseSensitive(g, b) : g;
    ck_assert_msg(cJSON_IsNumber(v), "missing %s.%s", a, b ? b : "");
    return v->valuedouble;
}

/* Every request ended in exactly one state; the trace has one line per request. */
static cJSON *assert_report(const struct tmp *t)
{
    char *text = slurp_file(t->json);
    cJSON *j = cJSON_Parse(text);
    ck_assert_msg(j != NULL, "report is not JSON: %s", text);
    free(text);
    static const char *const ends[] = {"succeeded", "failed", "rejected", "timed_out",
                                       "cancelled"};
    double sum = 0;
    for (int i = 0; i < 5; i++)
        sum += jnum(j, "requests", ends[i]);
    double arrived = jnum(j, "requests", "arrived");
    ck_assert_double_eq(sum, arrived);
    ck_assert_double_gt(arrived, 0);
    char *tr = slurp_file(t->trace);
    int lines = 0;
    for (char *p = tr; *p; p++)
        lines += *p == '\n';
    free(tr);
    ck_assert_int_eq(lines, (int)arrived);
    /* A live report (send lag, ITL, status classes, server gauges) merges back to itself. */
    char cmd[1024], out[1024];
    snprintf(cmd, sizeof cmd, "%s/ratelab merge %s --json %s.merged && cmp %s %s.merged", BUILDDIR,
             t->json, t->json, t->json, t->json);
    ck_assert_msg(run_cmd(cmd, out, sizeof out) == 0, "merging one live report changed it: %s",
                  out);
    snprintf(cmd, sizeof cmd, "%s.merged", t->json);
    unlink(cmd);
    return j;
}

/* ---- the mock as the server ---------------------------------------------------------- */

/* A client limit below the server's: the server never answers 429. Streaming TTFT/ITL. */
START_TEST(client_below_server)
{
    struct tmp t;
    tmp_init(&t);
    write_file(t.ini, "[scenario]\nduration = 3s\n"
                      "[client]\nrequests_per_minute = 600\nmax_concurrent = 4\n"
                      "[server]\nrequests_per_minute = 1200\nmax_concurrent = 8\n"
                      "ttft = 30ms\nprefill_per_token = 0\ndecode_per_token = 20ms\n"
                      "decode_batch_slope = 0\n"
                      "[class.chat]\narrival = constant 10/s\nprompt_tokens = const 40\n"
                      "completion_tokens = const 6\nmax_tokens = 16\n"
                      "[live]\nstream = yes\n");
    struct test_server s;
    start_mock(&s, &t);
    char scrape[128];
    snprintf(scrape, sizeof scrape, "--set live.metrics_url=http://%s/metrics", s.addr);
    int rc = live(&t, s.addr, scrape);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, slurp_file(t.out));
    cJSON *j = assert_report(&t);
    ck_assert_double_eq(jnum(j, "requests", "succeeded"), jnum(j, "requests", "arrived"));
    /* The server's metrics, scraped every window on the same loop as streamed answers. */
    const cJSON *sm = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(j, "live"), "server_metrics");
    ck_assert_double_ge(jnum(sm, "scrapes", NULL), 2);
    ck_assert_double_eq(jnum(sm, "scrape_failures", NULL), 0);
    ck_assert_double_ge(jnum(sm, "num_requests_running", "max"), 1);
    char *csv = slurp_file(t.csv);
    ck_assert_ptr_nonnull(strstr(csv, ",server_running,server_waiting,server_kv_cache_usage\n"));
    free(csv);
    double ratelimited = 0;
    const char *reasons[] = {"rpm", "tpm", "tpd", "concurrency"};
    for (int i = 0; i < 4; i++) {
        char series[96];
        snprintf(series, sizeof series, "ratelab_mock_rate_limited_total{reason=\"%s\"}",
                 reasons[i]);
        ratelimited += test_server_metric(&s, series);
    }
    ck_assert_double_eq(ratelimited, 0);
    /* Streaming: TTFT at least the server's 30 ms; inter-token latency about its 20 ms per
     * token (bounds wide enough for a loaded machine; lower bounds are the server's). */
    ck_assert_double_ge(jnum(j, "ttft_ms", "p50"), 29);
    ck_assert_double_le(jnum(j, "ttft_ms", "p50"), 300);
    ck_assert_double_ge(jnum(j, "itl_ms", "p50"), 10);
    ck_assert_double_le(jnum(j, "itl_ms", "p50"), 200);
    ck_assert_double_gt(jnum(j, "itl_ms", "count"), 0);
    /* Usage reconciled: the mock counts the synthetic prompt as exactly 40 tokens. */
    ck_assert_double_eq(jnum(cJSON_GetObjectItemCaseSensitive(j, "tokens"), "prompt", NULL),
                        40 * jnum(j, "requests", "succeeded"));
    cJSON_Delete(j);
    test_server_stop(&s);
    tmp_fini(&t);
}
END_TEST

/*
 * Faults: every request ends in one terminal state, and what the client saw matches what
 * the mock did: 500/503 errors, malformed bodies, stalls cut by [live] timeout. (A reset on
 * a reused connection before any answer byte is re-sent by libcurl itself on a fresh
 * connection, so the client sees at most as many resets as the mock made.)
 */
START_TEST(faults_match_the_server)
{
    struct tmp t;
    tmp_init(&t);
    write_file(t.ini, "[scenario]\nduration = 3s\ndrain_limit = 10s\n"
                      "[client]\nmax_concurrent = 32\nretry_max_attempts = 3\n"
                      "retry_base_delay = 20ms\nretry_max_delay = 50ms\nretry_budget = 1\n"
                      "[server]\nttft = 2ms\nprefill_per_token = 0\ndecode_per_token = 1ms\n"
                      "error_rate = 8%\nreset_rate = 5%\nmalformed_rate = 5%\ntimeout_rate = 3%\n"
                      "stall = 20s\n"
                      "[class.chat]\narrival = poisson 40/s\nprompt_tokens = const 20\n"
                      "completion_tokens = const 5\nmax_tokens = 8\n"
                      "[live]\ntimeout = 500ms\n");
    struct test_server s;
    start_mock(&s, &t);
    int rc = live(&t, s.addr, NULL);
    ck_assert_msg(rc == 0 || rc == 1, "exit %d: %s", rc, slurp_file(t.out));
    cJSON *j = assert_report(&t);
    const cJSON *att = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(j, "live"), "attempts");
    /* First: each scrape of /metrics is itself a 200 the mock counts, after rendering. */
    double ok200 = test_server_metric(&s, "ratelab_mock_responses_total{code=\"200\"}");
    double errors = test_server_metric(&s, "ratelab_mock_faults_total{kind=\"error\"}");
    double malformed = test_server_metric(&s, "ratelab_mock_faults_total{kind=\"malformed\"}");
    double stalls = test_server_metric(&s, "ratelab_mock_faults_total{kind=\"stall\"}");
    double resets = test_server_metric(&s, "ratelab_mock_faults_total{kind=\"reset\"}");
    ck_assert_double_gt(errors, 0);
    ck_assert_double_gt(malformed, 0);
    ck_assert_double_gt(stalls, 0);
    ck_assert_double_eq(jnum(att, "503", NULL) + jnum(att, "5xx", NULL), errors);
    ck_assert_double_eq(jnum(att, "malformed", NULL), malformed);
    ck_assert_double_eq(jnum(att, "timeout", NULL), stalls);
    ck_assert_double_le(jnum(att, "reset", NULL), resets);
    ck_assert_double_eq(ok200, jnum(att, "2xx", NULL) + malformed);
    /* Every attempt sent is one answer class (nothing is still in flight at the end). */
    double classes = 0;
    for (const cJSON *v = att->child; v; v = v->next)
        classes += v->valuedouble;
    ck_assert_double_eq(classes, jnum(j, "attempts", "sent"));
    cJSON_Delete(j);
    test_server_stop(&s);
    tmp_fini(&t);
}
END_TEST

/* The API key goes to the server and nowhere else: not stdout, stderr, reports or trace. */
START_TEST(key_never_written)
{
    struct tmp t;
    tmp_init(&t);
    write_file(t.ini, "[scenario]\nduration = 1s\n"
                      "[class.chat]\narrival = constant 5/s\nprompt_tokens = const 20\n"
                      "completion_tokens = const 3\n"
                      "[live]\napi_key_env = RATELAB_TEST_KEY\n");
    static const char key[] = "sk-ratelab-test-0123456789-SECRET";
    setenv("RATELAB_TEST_KEY", key, 1);
    struct test_server s;
    test_server_init(&s);
    struct scenario_error err;
    ck_assert_int_eq(scenario_load(&s.sc, t.ini, NULL, 0, &err), 0);
    s.opt.api_key = key; /* the mock answers 401 without it: 200s prove it was sent */
    test_server_start(&s);
    ck_assert_int_eq(live(&t, s.addr, NULL), 0);
    cJSON *j = assert_report(&t);
    ck_assert_double_eq(jnum(j, "requests", "succeeded"), jnum(j, "requests", "arrived"));
    cJSON_Delete(j);
    const char *files[] = {t.json, t.csv, t.trace, t.out};
    for (int i = 0; i < 4; i++) {
        char *text = slurp_file(files[i]);
        ck_assert_msg(strstr(text, "SECRET") == NULL, "the key is in %s", files[i]);
        free(text);
    }
    /* ratelab check prints the scenario back: the variable's name, never its value. */
    char cmd[512], out[8192];
    snprintf(cmd, sizeof cmd, "%s/ratelab check %s", BUILDDIR, t.ini);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 0);
    ck_assert_ptr_null(strstr(out, "SECRET"));
    unsetenv("RATELAB_TEST_KEY");
    test_server_stop(&s);
    tmp_fini(&t);
}
END_TEST

/* SIGINT mid-run: arrivals stop, in flight drains, the report is written and adds up. */
START_TEST(sigint_writes_the_report)
{
    struct tmp t;
    tmp_init(&t);
    write_file(t.ini, "[scenario]\nduration = 60s\ndrain_limit = 5s\n"
                      "[client]\nmax_concurrent = 4\n"
                      "[server]\nttft = 50ms\nprefill_per_token = 0\ndecode_per_token = 10ms\n"
                      "[class.chat]\narrival = poisson 20/s\nprompt_tokens = const 20\n"
                      "completion_tokens = const 10\n");
    struct test_server s;
    start_mock(&s, &t);
    char url[96];
    snprintf(url, sizeof url, "http://%s", s.addr);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (!freopen(t.out, "w", stdout) || dup2(STDOUT_FILENO, STDERR_FILENO) < 0)
            _exit(99);
        execl(BUILDDIR "/ratelab", "ratelab", "live", t.ini, "--url", url, "--json", t.json,
              "--record", t.trace, (char *)NULL);
        _exit(98);
    }
    /* Wait until the run is well under way (the mock has generated 10 answers' tokens),
     * then interrupt. */
    for (int i = 0; i < 3000; i++) {
        if (test_server_metric(&s, "vllm:generation_tokens_total{model_name=\"default\"}") >= 100)
            break;
        usleep(10000);
    }
    ck_assert_int_eq(kill(pid, SIGINT), 0);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 0, "status %d: %s", st, slurp_file(t.out));
    cJSON *j = assert_report(&t);
    /* Stopped long before the 60 s: arrivals ended at the interrupt. */
    ck_assert_double_lt(jnum(j, "requests", "arrived"), 20 * 30);
    ck_assert_double_ge(jnum(j, "requests", "succeeded"), 10);
    cJSON_Delete(j);
    char *out = slurp_file(t.out);
    ck_assert_ptr_nonnull(strstr(out, "interrupted"));
    free(out);
    test_server_stop(&s);
    tmp_fini(&t);
}
END_TEST

/*
 * Sim and live agree. One short scenario through `ratelab sim` and through `ratelab live`
 * against the mock running the same [server]: constant arrivals every 100 ms, a server that
 * holds 2 requests at once for 380 ms each and answers 429 above that, no retries. Every
 * other pair of arrivals is refused, with 20 ms of margin either way, so loopback and
 * scheduling jitter cannot change who is refused. Tolerances (the issue's): throughput and
 * 429 count within 2%, p95 within 5% (live adds the round trip, ~1 ms on loopback, to
 * 380 ms). The times are long so that the 5% (19 ms) also holds on a loaded machine: at
 * 190 ms a load average of 8 on 2 cores once made the live p95 200 ms.
 */
START_TEST(sim_and_live_agree)
{
    struct tmp t;
    tmp_init(&t);
    write_file(t.ini, "[scenario]\nduration = 8s\n"
                      "[client]\nretry_max_attempts = 1\n"
                      "[server]\nmax_concurrent = 2\nservice = deterministic\n"
                      "service_mean = 380ms\n"
                      "[class.chat]\narrival = constant 10/s\nprompt_tokens = const 20\n"
                      "completion_tokens = const 4\nmax_tokens = 8\n");
    struct test_server s;
    start_mock(&s, &t);
    int rc = live(&t, s.addr, NULL);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, slurp_file(t.out));
    cJSON *lj = assert_report(&t);
    char cmd[1024], out[4096], simjson[160];
    snprintf(simjson, sizeof simjson, "%s/sim.json", t.dir);
    snprintf(cmd, sizeof cmd, "%s/ratelab sim %s --quiet --json %s", BUILDDIR, t.ini, simjson);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 0);
    char *text = slurp_file(simjson);
    cJSON *sj = cJSON_Parse(text);
    free(text);
    const cJSON *la = cJSON_GetObjectItemCaseSensitive(lj, "attempts");
    const cJSON *sa = cJSON_GetObjectItemCaseSensitive(sj, "attempts");
    double l429 = jnum(la, "http_429", NULL), s429 = jnum(sa, "http_429", NULL);
    double lthr = jnum(lj, "requests", "succeeded"), sthr = jnum(sj, "requests", "succeeded");
    double lp95 = jnum(lj, "latency_ms", "p95"), sp95 = jnum(sj, "latency_ms", "p95");
    fprintf(stderr, "sim vs live: 429 %g vs %g, succeeded %g vs %g, p95 %.1f vs %.1f ms\n", s429,
            l429, sthr, lthr, sp95, lp95);
    ck_assert_double_gt(s429, 0);
    ck_assert_msg(fabs(l429 - s429) <= 0.02 * s429, "429: sim %g live %g", s429, l429);
    ck_assert_msg(fabs(lthr - sthr) <= 0.02 * sthr, "succeeded: sim %g live %g", sthr, lthr);
    ck_assert_msg(fabs(lp95 - sp95) <= 0.05 * sp95, "p95: sim %g live %g ms", sp95, lp95);
    /* The live run's --record trace, replayed through the simulator under the same
     * scenario, gives the same counts within the same tolerances. */
    char rjson[160];
    snprintf(rjson, sizeof rjson, "%s/replay.json", t.dir);
    snprintf(cmd, sizeof cmd, "%s/ratelab replay %s %s --quiet --json %s", BUILDDIR, t.trace,
             t.ini, rjson);
    ck_assert_msg(run_cmd(cmd, out, sizeof out) == 0, "%s: %s", cmd, out);
    text = slurp_file(rjson);
    cJSON *rj = cJSON_Parse(text);
    free(text);
    const cJSON *rs = cJSON_GetObjectItemCaseSensitive(rj, "scenario");
    double r429 = jnum(cJSON_GetObjectItemCaseSensitive(rs, "attempts"), "http_429", NULL);
    double rthr = jnum(rs, "requests", "succeeded"), rp95 = jnum(rs, "latency_ms", "p95");
    fprintf(stderr, "replay of the live trace: 429 %g, succeeded %g, p95 %.1f ms\n", r429, rthr,
            rp95);
    ck_assert_double_eq(jnum(rs, "requests", "arrived"), jnum(lj, "requests", "arrived"));
    ck_assert_msg(fabs(r429 - l429) <= 0.02 * l429, "429: live %g replay %g", l429, r429);
    ck_assert_msg(fabs(rthr - lthr) <= 0.02 * lthr, "succeeded: live %g replay %g", lthr, rthr);
    ck_assert_msg(fabs(rp95 - lp95) <= 0.05 * lp95, "p95: live %g replay %g ms", lp95, rp95);
    cJSON_Delete(rj);
    cJSON_Delete(lj);
    cJSON_Delete(sj);
    test_server_stop(&s);
    tmp_fini(&t);
}
END_TEST

/* ---- a scripted server: exact rules about when the client may come back ---------------- */

/*
 * Answers the first `refuse` requests 429 with "retry-after-ms: 300" and the rest 200 with
 * a minimal chat body, every answer with the header lines `hdrs` (each ending in CRLF)
 * when given; records when each request arrived (CLOCK_MONOTONIC µs). One connection at
 * a time, keep-alive.
 */
struct script {
    int fd;
    int port;
    int refuse;
    const char *hdrs;
    int n;
    int64_t at_us[64];
    pthread_t th;
};

static int64_t mono(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void *script_run(void *arg)
{
    struct script *s = arg;
    static const char ok_body[] =
        "{\"id\":\"x\",\"object\":\"chat.completion\",\"choices\":[{\"index\":0,\"message\":"
        "{\"role\":\"assistant\",\"content\":\"hi\"},\"finish_reason\":\"stop\"}],"
        "\"usage\":{\"prompt_tokens\":20,\"completion_tokens\":1,\"total_tokens\":21}}";
    static const char err_body[] = "{\"error\":{\"message\":\"slow down\",\"type\":\"requests\","
                                   "\"code\":\"rate_limit_exceeded\"}}";
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char buf[8192];
        size_t have = 0;
        for (;;) {
            ssize_t k = read(c, buf + have, sizeof buf - 1 - have);
            if (k <= 0)
                break;
            have += (size_t)k;
            buf[have] = '\0';
            char *end = strstr(buf, "\r\n\r\n");
            if (!end)
                continue;
            const char *cl = strcasestr(buf, "content-length:");
            size_t body = cl ? strtoul(cl + 15, NULL, 10) : 0;
            size_t need = (size_t)(end + 4 - buf) + body;
            if (have < need)
                continue;
            if (s->n < 64)
                s->at_us[s->n] = mono();
            bool refuse = s->n++ < s->refuse;
            char resp[2048];
            int len = snprintf(resp, sizeof resp,
                               "HTTP/1.1 %s\r\nContent-Type: application/json\r\n%s%s"
                               "Content-Length: %zu\r\n\r\n%s",
                               refuse ? "429 Too Many Requests" : "200 OK",
                               refuse ? "retry-after-ms: 300\r\n" : "", s->hdrs ? s->hdrs : "",
                               refuse ? strlen(err_body) : strlen(ok_body),
                               refuse ? err_body : ok_body);
            if (write(c, resp, (size_t)len) != len)
                break;
            memmove(buf, buf + need, have - need);
            have -= need;
        }
        close(c);
    }
}

static void script_start(struct script *s, int refuse, const char *hdrs)
{
    memset(s, 0, sizeof *s);
    s->refuse = refuse;
    s->hdrs = hdrs;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s->fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    ck_assert_int_eq(listen(s->fd, 16), 0);
    socklen_t al = sizeof a;
    getsockname(s->fd, (struct sockaddr *)&a, &al);
    s->port = ntohs(a.sin_port);
    ck_assert_int_eq(pthread_create(&s->th, NULL, script_run, s), 0);
}

static void script_stop(struct script *s)
{
    shutdown(s->fd, SHUT_RDWR);
    close(s->fd);
    pthread_join(s->th, NULL);
}

/* Every retry waits at least the server's retry-after-ms (300 ms), however short the backoff. */
START_TEST(retry_waits_for_retry_after)
{
    struct tmp t;
    tmp_init(&t);
    write_file(t.ini, "[scenario]\nduration = 100ms\nwindow = 100ms\n"
                      "[client]\nretry_max_attempts = 5\nretry_base_delay = 1ms\n"
                      "retry_max_delay = 2ms\nretry_jitter = none\n"
                      "[class.chat]\narrival = burst 0s 1\nprompt_tokens = const 20\n"
                      "completion_tokens = const 1\n");
    struct script s;
    script_start(&s, 3, NULL);
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", s.port);
    int rc = live(&t, addr, NULL);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, slurp_file(t.out));
    cJSON *j = assert_report(&t);
    ck_assert_double_eq(jnum(j, "requests", "succeeded"), 1);
    ck_assert_double_eq(jnum(j, "retries", NULL), 3);
    cJSON_Delete(j);
    script_stop(&s);
    ck_assert_int_eq(s.n, 4);
    for (int i = 1; i < s.n; i++)
        ck_assert_msg(s.at_us[i] - s.at_us[i - 1] >= 300000, "retry %d after %lld us", i,
                      (long long)(s.at_us[i] - s.at_us[i - 1]));
    tmp_fini(&t);
}
END_TEST

/*
 * Malformed rate-limit headers are ignored, never fatal, and reported: the JSON counts the
 * malformed values and the answers that carried them and quotes the first line, the
 * summary says so; a well-formed header beside them still counts (no error for it).
 */
START_TEST(malformed_rate_limit_headers_reported)
{
    struct tmp t;
    tmp_init(&t);
    write_file(t.ini, "[scenario]\nduration = 100ms\nwindow = 100ms\n"
                      "[client]\nmax_concurrent = 1\nretry_max_attempts = 2\n"
                      "retry_base_delay = 1ms\n"
                      "[class.chat]\narrival = burst 0s 3\nprompt_tokens = const 20\n"
                      "completion_tokens = const 1\n");
    struct script s;
    /* two malformed values per answer (garbage, a Go duration with two dots), one good */
    script_start(&s, 1,
                 "x-ratelimit-remaining-requests: lots\r\nx-ratelimit-limit-requests: 100\r\n"
                 "x-ratelimit-reset-tokens: 1.5.3s\r\n");
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", s.port);
    int rc = live(&t, addr, NULL);
    char *out = slurp_file(t.out);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
    cJSON *j = assert_report(&t);
    ck_assert_double_eq(jnum(j, "requests", "succeeded"), 3);
    script_stop(&s);
    ck_assert_int_eq(s.n, 4); /* one 429, retried, and three 200s: four answers */
    const cJSON *rh = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(j, "live"), "rate_limit_headers");
    ck_assert_double_eq(jnum(rh, "malformed", NULL), 8);
    ck_assert_double_eq(jnum(rh, "answers", NULL), 4);
    const cJSON *first = cJSON_GetObjectItemCaseSensitive(rh, "first");
    ck_assert_msg(cJSON_IsString(first), "rate_limit_headers.first is not a string");
    ck_assert_str_eq(first->valuestring, "x-ratelimit-remaining-requests: lots");
    ck_assert_msg(strstr(out, "rate-limit headers: 8 malformed values in 4 answers, ignored") &&
                      strstr(out, "first: x-ratelimit-remaining-requests: lots"),
                  "%s", out);
    free(out);
    cJSON_Delete(j);
    /* two such runs merged: the counts add, the first line stays */
    char cmd[1024], mout[1024], merged[160];
    snprintf(merged, sizeof merged, "%s/m.json", t.dir);
    snprintf(cmd, sizeof cmd, "%s/ratelab merge %s %s --json %s", BUILDDIR, t.json, t.json,
             merged);
    ck_assert_msg(run_cmd(cmd, mout, sizeof mout) == 0, "%s", mout);
    char *mtext = slurp_file(merged);
    j = cJSON_Parse(mtext);
    free(mtext);
    ck_assert_ptr_nonnull(j);
    rh = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(j, "live"),
                                          "rate_limit_headers");
    ck_assert_double_eq(jnum(rh, "malformed", NULL), 16);
    ck_assert_double_eq(jnum(rh, "answers", NULL), 8);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(rh, "first")->valuestring,
                     "x-ratelimit-remaining-requests: lots");
    cJSON_Delete(j);
    tmp_fini(&t);
}
END_TEST

/* Well-formed headers: zero in the JSON, nothing in the summary. */
START_TEST(good_rate_limit_headers_no_errors)
{
    struct tmp t;
    tmp_init(&t);
    write_file(t.ini, "[scenario]\nduration = 100ms\nwindow = 100ms\n"
                      "[client]\nmax_concurrent = 1\n"
                      "[class.chat]\narrival = burst 0s 2\nprompt_tokens = const 20\n"
                      "completion_tokens = const 1\n");
    struct script s;
    script_start(&s, 0,
                 "x-ratelimit-remaining-requests: 99\r\nx-ratelimit-reset-tokens: 6m0s\r\n");
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", s.port);
    int rc = live(&t, addr, NULL);
    char *out = slurp_file(t.out);
    ck_assert_msg(rc == 0, "exit %d: %s", rc, out);
    cJSON *j = assert_report(&t);
    script_stop(&s);
    const cJSON *rh = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(j, "live"), "rate_limit_headers");
    ck_assert_double_eq(jnum(rh, "malformed", NULL), 0);
    ck_assert_double_eq(jnum(rh, "answers", NULL), 0);
    ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(rh, "first")->valuestring, "");
    ck_assert_msg(!strstr(out, "rate-limit headers"), "%s", out);
    free(out);
    cJSON_Delete(j);
    tmp_fini(&t);
}
END_TEST

/* Nothing listening: every attempt is a refused connection, counted, and the run ends. */
START_TEST(refused_is_counted)
{
    struct tmp t;
    tmp_init(&t);
    write_file(t.ini, "[scenario]\nduration = 500ms\nwindow = 100ms\n"
                      "[client]\nretry_max_attempts = 2\nretry_base_delay = 10ms\n"
                      "[class.chat]\narrival = constant 10/s\n");
    struct script s;
    script_start(&s, 0, NULL);
    script_stop(&s); /* a port that was just free: nothing listens there now */
    char addr[64];
    snprintf(addr, sizeof addr, "127.0.0.1:%d", s.port);
    ck_assert_int_eq(live(&t, addr, NULL), 0);
    cJSON *j = assert_report(&t);
    const cJSON *att = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(j, "live"), "attempts");
    ck_assert_double_eq(jnum(j, "requests", "failed"), jnum(j, "requests", "arrived"));
    ck_assert_double_eq(jnum(att, "refused", NULL), jnum(j, "attempts", "sent"));
    cJSON_Delete(j);
    tmp_fini(&t);
}
END_TEST

/* [client] instances is simulated only: live refuses more than one, before any traffic. */
START_TEST(instances_refused)
{
    struct tmp t;
    tmp_init(&t);
    write_file(t.ini, "[scenario]\nduration = 1s\n[client]\ninstances = 3\n"
                      "instance_limits = shared\n[class.chat]\narrival = constant 10/s\n");
    ck_assert_int_eq(live(&t, "127.0.0.1:9", NULL), 2);
    char *out = slurp_file(t.out);
    ck_assert_msg(strstr(out, "[client] instances = 3 is simulated only"), "%s", out);
    free(out);
    ck_assert_int_ne(access(t.json, F_OK), 0);
    tmp_fini(&t);
}
END_TEST

/* ---- nginx limit_req in front of the mock ----------------------------------------------- */

/* A free loopback port (bound and released: nginx takes it a moment later). */
static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    socklen_t al = sizeof a;
    getsockname(fd, (struct sockaddr *)&a, &al);
    close(fd);
    return ntohs(a.sin_port);
}

/*
 * nginx's limit_req (10 requests/s, burst 5, nodelay, 429 above) proxying to the mock.
 * The same workload (40 requests at 20/s) through a client limited to 600 RPM: with today's
 * minute-long bucket (burst = 1m) the client sends its whole backlog at once and nginx
 * refuses much of it; with burst = 500ms (5 requests, what nginx allows beyond its rate)
 * the client paces itself and draws no 429.
 */
START_TEST(nginx_limit_req_burst)
{
    const char *nginx = access("/usr/sbin/nginx", X_OK) == 0 ? "/usr/sbin/nginx" : NULL;
    ck_assert_msg(nginx != NULL, "nginx is needed (.ci/deps installs nginx-light)");
    struct tmp t;
    tmp_init(&t);
    write_file(t.ini, "[scenario]\nduration = 2s\n"
                      "[client]\nrequests_per_minute = 600\nretry_max_attempts = 1\n"
                      "[server]\nttft = 1ms\nprefill_per_token = 0\ndecode_per_token = 0\n"
                      "[class.chat]\narrival = constant 20/s\nprompt_tokens = const 20\n"
                      "completion_tokens = const 2\nmax_tokens = 4\n");
    struct test_server s;
    start_mock(&s, &t);
    int port[2] = {free_port(), free_port()};
    char conf[256], errlog[256], text[4096];
    snprintf(conf, sizeof conf, "%s/nginx.conf", t.dir);
    snprintf(errlog, sizeof errlog, "%s/error.log", t.dir);
    /* Two servers, each with its own limit_req state, so each run meets a full bucket. */
    int n = snprintf(text, sizeof text,
                     "daemon off;\nworker_processes 1;\npid %s/nginx.pid;\nerror_log %s;\n"
                     "events { worker_connections 256; }\nhttp {\n access_log off;\n"
                     " client_body_temp_path %s/body;\n proxy_temp_path %s/proxy;\n"
                     " fastcgi_temp_path %s/fcgi;\n uwsgi_temp_path %s/uwsgi;\n"
                     " scgi_temp_path %s/scgi;\n",
                     t.dir, errlog, t.dir, t.dir, t.dir, t.dir, t.dir);
    for (int k = 0; k < 2; k++)
        n += snprintf(text + n, sizeof text - (size_t)n,
                      " limit_req_zone $server_port zone=z%d:1m rate=10r/s;\n"
                      " server {\n  listen 127.0.0.1:%d;\n"
                      "  location / { limit_req zone=z%d burst=5 nodelay; limit_req_status 429;\n"
                      "   proxy_pass http://%s; proxy_http_version 1.1;\n"
                      "   proxy_set_header Connection \"\"; }\n }\n",
                      k, port[k], k, s.addr);
    snprintf(text + n, sizeof text - (size_t)n, "}\n");
    write_file(conf, text);
    pid_t ng = fork();
    ck_assert_int_ge(ng, 0);
    if (ng == 0) {
        execl(nginx, "nginx", "-p", t.dir, "-e", errlog, "-c", conf, (char *)NULL);
        _exit(98);
    }
    char addr[2][64];
    for (int k = 0; k < 2; k++) {
        snprintf(addr[k], sizeof addr[k], "127.0.0.1:%d", port[k]);
        for (int i = 0; i < 500; i++) { /* until nginx listens */
            int fd = socket(AF_INET, SOCK_STREAM, 0);
            struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port[k])};
            a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            int ok = connect(fd, (struct sockaddr *)&a, sizeof a) == 0;
            close(fd);
            if (ok)
                break;
            usleep(10000);
        }
    }
    double got429[2];
    const char *bursts[2] = {"--set client.burst=1m", "--set client.burst=500ms"};
    for (int k = 0; k < 2; k++) {
        int rc = live(&t, addr[k], bursts[k]);
        ck_assert_msg(rc == 0 || rc == 1, "exit %d: %s", rc, slurp_file(t.out));
        cJSON *j = assert_report(&t);
        got429[k] = jnum(cJSON_GetObjectItemCaseSensitive(j, "attempts"), "http_429", NULL);
        if (k == 1)
            ck_assert_double_eq(jnum(j, "requests", "succeeded"), jnum(j, "requests", "arrived"));
        cJSON_Delete(j);
    }
    fprintf(stderr, "nginx limit_req: 429s with burst 1m %g, with burst 500ms %g\n", got429[0],
            got429[1]);
    ck_assert_double_ge(got429[0], 10);
    ck_assert_double_eq(got429[1], 0);
    kill(ng, SIGQUIT);
    waitpid(ng, NULL, 0);
    test_server_stop(&s);
    tmp_fini(&t);
}
END_TEST

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    Suite *s = suite_create("live");
    TCase *tc = tcase_create("against servers");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, client_below_server);
    tcase_add_test(tc, faults_match_the_server);
    tcase_add_test(tc, key_never_written);
    tcase_add_test(tc, sigint_writes_the_report);
    tcase_add_test(tc, sim_and_live_agree);
    tcase_add_test(tc, retry_waits_for_retry_after);
    tcase_add_test(tc, malformed_rate_limit_headers_reported);
    tcase_add_test(tc, good_rate_limit_headers_no_errors);
    tcase_add_test(tc, refused_is_counted);
    tcase_add_test(tc, instances_refused);
    tcase_add_test(tc, nginx_limit_req_burst);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
