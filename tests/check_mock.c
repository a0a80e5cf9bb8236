/*
 * check_mock: the mock server end to end. Each test starts its own server on
 * 127.0.0.1 with an ephemeral port (in process, on its own thread and loop, or
 * the ratelab binary itself), drives it with libcurl and stops it. Configured
 * latencies are a millisecond or so; nothing waits for time beyond that.
 */
#include "config.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mock_client.h"
#include "mock_proto.h"
#include "util.h"

#define CHAT_BODY(extra)                                                                         \
    "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello there, mock!\"}]" extra \
    "}"

static const char *const no_headers[] = {NULL};

/* The JSON body of r, which must parse. */
static cJSON *json_of(const struct http_resp *r)
{
    cJSON *j = cJSON_Parse(r->body);
    ck_assert_msg(j != NULL, "not JSON: %s", r->body);
    return j;
}

static const char *jstr(const cJSON *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *v = o;
    for (char *tok = strtok(buf, "."); tok && v; tok = strtok(NULL, ".")) {
        if (tok[0] >= '0' && tok[0] <= '9')
            v = cJSON_GetArrayItem(v, atoi(tok));
        else
            v = cJSON_GetObjectItemCaseSensitive(v, tok);
    }
    if (!v)
        return NULL;
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsNull(v))
        return "null";
    static char num[64];
    if (cJSON_IsNumber(v)) {
        snprintf(num, sizeof num, "%.0f", v->valuedouble);
        return num;
    }
    return "?";
}

/* An OpenAI-style error body with this status, type and code ("null" for null). */
static void assert_error(const struct http_resp *r, long status, const char *type,
                         const char *code)
{
    ck_assert_msg(r->status == status, "status %ld, want %ld: %s", r->status, status, r->body);
    cJSON *j = json_of(r);
    ck_assert_ptr_nonnull(jstr(j, "error.message"));
    ck_assert_str_eq(jstr(j, "error.type"), type);
    if (code)
        ck_assert_str_eq(jstr(j, "error.code"), code);
    cJSON_Delete(j);
}

START_TEST(chat_non_streaming)
{
    struct test_server s;
    test_server_init(&s);
    test_server_start(&s);
    struct http_resp r = {0};
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":7"), no_headers,
            &r);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = json_of(&r);
    ck_assert_str_eq(jstr(j, "object"), "chat.completion");
    ck_assert_str_eq(jstr(j, "model"), "m1");
    ck_assert(strncmp(jstr(j, "id"), "chatcmpl-", 9) == 0);
    ck_assert_str_eq(jstr(j, "choices.0.message.role"), "assistant");
    ck_assert_str_eq(jstr(j, "choices.0.finish_reason"), "length");
    ck_assert_str_eq(jstr(j, "usage.completion_tokens"), "7");
    /* 18 bytes of content: 5 tokens, +4 for the message, +3 priming. */
    ck_assert_str_eq(jstr(j, "usage.prompt_tokens"), "12");
    ck_assert_str_eq(jstr(j, "usage.total_tokens"), "19");
    ck_assert_int_eq(strlen(jstr(j, "choices.0.message.content")) > 7, 1);
    cJSON_Delete(j);
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

START_TEST(legacy_completions)
{
    struct test_server s;
    test_server_init(&s);
    test_server_start(&s);
    struct http_resp r = {0};
    http_do(s.addr, "POST", "/v1/completions",
            "{\"model\":\"m1\",\"prompt\":\"12345678\",\"max_tokens\":3}", no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = json_of(&r);
    ck_assert_str_eq(jstr(j, "object"), "text_completion");
    ck_assert(strncmp(jstr(j, "id"), "cmpl-", 5) == 0);
    ck_assert_ptr_nonnull(jstr(j, "choices.0.text"));
    ck_assert_str_eq(jstr(j, "usage.prompt_tokens"), "2");
    ck_assert_str_eq(jstr(j, "usage.completion_tokens"), "3");
    cJSON_Delete(j);
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

/* Split an SSE body into its data payloads; returns how many. */
static int sse_events(char *body, char **ev, int max)
{
    int n = 0;
    for (char *line = strtok(body, "\n"); line; line = strtok(NULL, "\n")) {
        if (line[0] == '\0')
            continue;
        ck_assert_msg(strncmp(line, "data: ", 6) == 0, "not an SSE data line: %s", line);
        ck_assert_int_lt(n, max);
        ev[n++] = line + 6;
    }
    return n;
}

static void check_stream(const char *path, const char *body, bool chat, bool usage, int tokens)
{
    struct test_server s;
    test_server_init(&s);
    test_server_start(&s);
    struct http_resp r = {0};
    http_do(s.addr, "POST", path, body, no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    char ct[128];
    ck_assert_ptr_nonnull(http_header(&r, "content-type", ct, sizeof ct));
    ck_assert(strncmp(ct, "text/event-stream", 17) == 0);
    char *ev[256];
    int n = sse_events(r.body, ev, 256);
    ck_assert_str_eq(ev[n - 1], "[DONE]");
    int i = 0, text_chunks = 0;
    if (chat) {
        cJSON *j = cJSON_Parse(ev[i++]);
        ck_assert_str_eq(jstr(j, "object"), "chat.completion.chunk");
        ck_assert_str_eq(jstr(j, "choices.0.delta.role"), "assistant");
        cJSON_Delete(j);
    }
    for (; i < n - 1; i++) {
        cJSON *j = cJSON_Parse(ev[i]);
        ck_assert_msg(j != NULL, "chunk %d not JSON: %s", i, ev[i]);
        const char *fin = jstr(j, "choices.0.finish_reason");
        const cJSON *u = cJSON_GetObjectItemCaseSensitive(j, "usage");
        ck_assert_int_eq(u != NULL, usage);
        if (fin && strcmp(fin, "null") != 0) {
            ck_assert_str_eq(fin, "length");
        } else if (cJSON_IsObject(u)) {
            ck_assert_int_eq(i, n - 2); /* the usage chunk comes last, with no choices */
            ck_assert_int_eq(cJSON_GetArraySize(cJSON_GetObjectItem(j, "choices")), 0);
            char want[16];
            snprintf(want, sizeof want, "%d", tokens);
            ck_assert_str_eq(jstr(j, "usage.completion_tokens"), want);
        } else {
            ck_assert_ptr_nonnull(jstr(j, chat ? "choices.0.delta.content" : "choices.0.text"));
            text_chunks++;
        }
        cJSON_Delete(j);
    }
    ck_assert_int_eq(text_chunks, tokens);
    http_resp_free(&r);
    test_server_stop(&s);
}

START_TEST(chat_streaming_with_usage)
{
    check_stream("/v1/chat/completions",
                 CHAT_BODY(",\"max_tokens\":20,\"stream\":true,"
                           "\"stream_options\":{\"include_usage\":true}"),
                 true, true, 20);
}
END_TEST

START_TEST(chat_streaming_without_usage)
{
    check_stream("/v1/chat/completions", CHAT_BODY(",\"max_tokens\":5,\"stream\":true"), true,
                 false, 5);
}
END_TEST

START_TEST(completions_streaming)
{
    check_stream("/v1/completions",
                 "{\"model\":\"m\",\"prompt\":\"hi\",\"max_tokens\":4,\"stream\":true,"
                 "\"stream_options\":{\"include_usage\":true}}",
                 false, true, 4);
}
END_TEST


/* ---- 429s ------------------------------------------------------------- */

START_TEST(rate_limit_openai_headers)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.server.requests_per_minute = 2;
    test_server_start(&s);
    struct http_resp r = {0};
    for (int i = 0; i < 2; i++) {
        http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
        ck_assert_int_eq(r.status, 200);
        char v[64];
        ck_assert_str_eq(http_header(&r, "x-ratelimit-limit-requests", v, sizeof v), "2");
        ck_assert_int_eq(atoi(http_header(&r, "x-ratelimit-remaining-requests", v, sizeof v)),
                         1 - i);
        http_resp_free(&r);
    }
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
    assert_error(&r, 429, "requests", "rate_limit_exceeded");
    char v[64];
    /* 2 per minute refills one request in 30 s. */
    ck_assert_ptr_nonnull(http_header(&r, "retry-after", v, sizeof v));
    ck_assert_int_ge(atoi(v), 29);
    ck_assert_int_le(atoi(v), 30);
    ck_assert_ptr_nonnull(http_header(&r, "retry-after-ms", v, sizeof v));
    ck_assert_int_gt(atoi(v), 28000);
    ck_assert_int_le(atoi(v), 30000);
    ck_assert_str_eq(http_header(&r, "x-ratelimit-limit-requests", v, sizeof v), "2");
    ck_assert_str_eq(http_header(&r, "x-ratelimit-remaining-requests", v, sizeof v), "0");
    ck_assert_ptr_nonnull(http_header(&r, "x-ratelimit-reset-requests", v, sizeof v));
    ck_assert_ptr_null(http_header(&r, "anthropic-ratelimit-requests-limit", v, sizeof v));
    http_resp_free(&r);

    /* The 429 is counted by reason on /metrics. */
    http_do(s.addr, "GET", "/metrics", NULL, no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(prom_value(r.body, "ratelab_mock_rate_limited_total{reason=\"rpm\"}") == 1);
    ck_assert(prom_value(r.body, "ratelab_mock_responses_total{code=\"429\"}") == 1);
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

START_TEST(rate_limit_anthropic_headers)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.server.requests_per_minute = 1;
    s.sc.server.tokens_per_minute = 100000;
    s.sc.server.headers = HEADERS_ANTHROPIC;
    test_server_start(&s);
    struct http_resp r = {0};
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
    assert_error(&r, 429, "requests", "rate_limit_exceeded");
    char v[64];
    ck_assert_ptr_nonnull(http_header(&r, "retry-after", v, sizeof v));
    ck_assert_int_ge(atoi(v), 59);
    ck_assert_str_eq(http_header(&r, "anthropic-ratelimit-requests-limit", v, sizeof v), "1");
    ck_assert_str_eq(http_header(&r, "anthropic-ratelimit-requests-remaining", v, sizeof v), "0");
    ck_assert_ptr_nonnull(http_header(&r, "anthropic-ratelimit-requests-reset", v, sizeof v));
    ck_assert_int_eq(strlen(v), 20); /* RFC 3339: 2026-11-28T18:05:07Z */
    ck_assert_int_eq(v[19], 'Z');
    ck_assert_str_eq(http_header(&r, "anthropic-ratelimit-tokens-limit", v, sizeof v), "100000");
    ck_assert_ptr_null(http_header(&r, "x-ratelimit-limit-requests", v, sizeof v));
    ck_assert_ptr_null(http_header(&r, "retry-after-ms", v, sizeof v));
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

START_TEST(rate_limit_none_style)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.server.requests_per_minute = 1;
    s.sc.server.headers = HEADERS_NONE;
    test_server_start(&s);
    struct http_resp r = {0};
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
    assert_error(&r, 429, "requests", "rate_limit_exceeded");
    ck_assert(strstr(r.headers, "retry-after") == NULL && strstr(r.headers, "ratelimit") == NULL);
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

START_TEST(rate_limit_tokens)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.server.tokens_per_minute = 100;
    test_server_start(&s);
    struct http_resp r = {0};
    /* 12 prompt + 60 max tokens fit once in 100, not twice. */
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":60"), no_headers,
            &r);
    ck_assert_int_eq(r.status, 200);
    char v[64];
    ck_assert_str_eq(http_header(&r, "x-ratelimit-limit-tokens", v, sizeof v), "100");
    ck_assert_str_eq(http_header(&r, "x-ratelimit-remaining-tokens", v, sizeof v), "28");
    http_resp_free(&r);
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":60"), no_headers,
            &r);
    assert_error(&r, 429, "tokens", "rate_limit_exceeded");
    ck_assert_ptr_nonnull(http_header(&r, "retry-after-ms", v, sizeof v));
    ck_assert_ptr_nonnull(http_header(&r, "x-ratelimit-reset-tokens", v, sizeof v));
    http_resp_free(&r);
    /* A request larger than the limit can never fit: no retry-after, x-should-retry false. */
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":500"),
            no_headers, &r);
    assert_error(&r, 429, "tokens", "rate_limit_exceeded");
    ck_assert_ptr_null(http_header(&r, "retry-after", v, sizeof v));
    ck_assert_str_eq(http_header(&r, "x-should-retry", v, sizeof v), "false");
    ck_assert(strstr(r.body, "Request too large") != NULL);
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

START_TEST(rate_limit_tokens_per_day)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.server.tokens_per_day = 50;
    test_server_start(&s);
    struct http_resp r = {0};
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":30"), no_headers,
            &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":30"), no_headers,
            &r);
    assert_error(&r, 429, "tokens", "rate_limit_exceeded");
    ck_assert_msg(strstr(r.body, "tokens per day (TPD): Limit 50, Used 42, Requested 42") != NULL,
                  "%s", r.body);
    char v[64];
    ck_assert_ptr_nonnull(http_header(&r, "retry-after", v, sizeof v));
    ck_assert_str_eq(http_header(&r, "x-ratelimit-limit-tokens", v, sizeof v), "50");
    http_resp_free(&r);
    http_do(s.addr, "GET", "/metrics", NULL, no_headers, &r);
    ck_assert(prom_value(r.body, "ratelab_mock_rate_limited_total{reason=\"tpd\"}") == 1);
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

START_TEST(rate_limit_concurrency)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.server.max_concurrent = 1;
    s.sc.server.ttft_base_us = 300 * US_PER_MS; /* long enough for both to overlap */
    test_server_start(&s);
    struct http_resp r[2];
    http_many(s.addr, "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":2"), 2, r);
    int ok = r[0].status == 200 ? 0 : 1;
    ck_assert_int_eq(r[ok].status, 200);
    assert_error(&r[1 - ok], 429, "requests", "rate_limit_exceeded");
    ck_assert(strstr(r[1 - ok].body, "concurrent") != NULL);
    http_resp_free(&r[0]);
    http_resp_free(&r[1]);
    test_server_stop(&s);
}
END_TEST

/* ---- capacity and faults ---------------------------------------------- */

START_TEST(overloaded_queue_503)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.server.max_running = 1;
    s.sc.server.max_waiting = 1;
    s.sc.server.ttft_base_us = 200 * US_PER_MS;
    test_server_start(&s);
    struct http_resp r[3];
    http_many(s.addr, "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":2"), 3, r);
    int n200 = 0, n503 = 0;
    for (int i = 0; i < 3; i++) {
        if (r[i].status == 200)
            n200++;
        if (r[i].status == 503) {
            n503++;
            assert_error(&r[i], 503, "server_error", "overloaded");
        }
        http_resp_free(&r[i]);
    }
    ck_assert_int_eq(n200, 2);
    ck_assert_int_eq(n503, 1);
    test_server_stop(&s);
}
END_TEST

START_TEST(fault_error)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.server.error_rate = 1;
    test_server_start(&s);
    bool seen[2] = {false, false};
    for (int i = 0; i < 40 && !(seen[0] && seen[1]); i++) {
        struct http_resp r = {0};
        http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
        ck_assert(r.status == 500 || r.status == 503);
        assert_error(&r, r.status, "server_error", NULL);
        seen[r.status == 503] = true;
        http_resp_free(&r);
    }
    ck_assert(seen[0] && seen[1]);
    test_server_stop(&s);
}
END_TEST

START_TEST(fault_reset)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.server.reset_rate = 1;
    test_server_start(&s);
    struct http_resp r = {0};
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
    ck_assert_int_eq(r.status, 0);
    ck_assert(r.curl_rc == CURLE_RECV_ERROR || r.curl_rc == CURLE_GOT_NOTHING);
    http_resp_free(&r);
    /* The server lives on. */
    http_do(s.addr, "GET", "/health", NULL, no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

START_TEST(fault_stall)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.server.timeout_rate = 1;
    s.sc.server.stall_us = 50 * US_PER_MS;
    test_server_start(&s);
    for (int stream = 0; stream < 2; stream++) {
        struct http_resp r = {0};
        http_do(s.addr, "POST", "/v1/chat/completions",
                stream ? CHAT_BODY(",\"stream\":true") : CHAT_BODY(""), no_headers, &r);
        ck_assert_int_eq(r.status, 0);
        ck_assert_int_eq(r.curl_rc, CURLE_GOT_NOTHING);
        http_resp_free(&r);
    }
    struct http_resp r = {0};
    http_do(s.addr, "GET", "/metrics", NULL, no_headers, &r);
    ck_assert(prom_value(r.body, "ratelab_mock_faults_total{kind=\"stall\"}") == 2);
    ck_assert(prom_value(r.body, "ratelab_mock_in_flight") == 0);
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

START_TEST(fault_malformed)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.server.malformed_rate = 1;
    test_server_start(&s);
    struct http_resp r = {0};
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = cJSON_Parse(r.body);
    ck_assert_ptr_null(j);
    http_resp_free(&r);
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"stream\":true,\"max_tokens\":3"),
            no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(strstr(r.body, "[DONE]") == NULL);
    char *last = strrchr(r.body, '{');
    ck_assert_ptr_nonnull(last);
    j = cJSON_Parse(strstr(r.body, "data: {\"id\":\"chatcmpl-2\",\"object\":\"chat.compl\"") ? last
                                                                                        : last);
    ck_assert_ptr_null(j);
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

START_TEST(client_hangs_up_mid_stream)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.server.decode_us_per_token = 2 * US_PER_MS;
    s.sc.server.max_running = 4;
    test_server_start(&s);
    struct http_resp r = {.abort_after = 1};
    http_do(s.addr, "POST", "/v1/chat/completions",
            CHAT_BODY(",\"stream\":true,\"max_tokens\":500"), no_headers, &r);
    ck_assert_int_eq(r.curl_rc, CURLE_WRITE_ERROR);
    http_resp_free(&r);
    /* The next token write finds the connection gone and frees the batch slot. */
    double in_flight = -1;
    for (int i = 0; i < 200 && in_flight != 0; i++) {
        http_do(s.addr, "GET", "/metrics", NULL, no_headers, &r);
        in_flight = prom_value(r.body, "ratelab_mock_in_flight");
        if (in_flight == 0)
            ck_assert(prom_value(r.body, "ratelab_mock_client_cancelled_total") == 1);
        http_resp_free(&r);
        if (in_flight != 0)
            usleep(5000);
    }
    ck_assert(in_flight == 0);
    test_server_stop(&s);
}
END_TEST

START_TEST(stop_with_requests_in_flight)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.server.ttft_base_us = 10 * US_PER_S;
    test_server_start(&s);
    struct http_resp r[3];
    /* Nothing answers for 10 s; stopping the server must still free everything. */
    for (int i = 0; i < 3; i++)
        r[i] = (struct http_resp){0};
    pid_t pid = fork();
    if (pid == 0) {
        http_many(s.addr, "/v1/chat/completions", CHAT_BODY(",\"stream\":true"), 3, r);
        _exit(0);
    }
    struct http_resp m = {0};
    double in_flight = 0;
    for (int i = 0; i < 400 && in_flight < 3; i++) {
        http_do(s.addr, "GET", "/metrics", NULL, no_headers, &m);
        in_flight = prom_value(m.body, "ratelab_mock_in_flight");
        http_resp_free(&m);
        if (in_flight < 3)
            usleep(5000);
    }
    ck_assert(in_flight == 3);
    test_server_stop(&s);
    int st;
    waitpid(pid, &st, 0);
}
END_TEST

/* ---- bad requests ----------------------------------------------------- */

struct bad_case {
    const char *method, *path, *body;
    long status;
    const char *code; /* NULL: do not check */
};

static const struct bad_case bad_cases[] = {
    {"POST", "/v1/chat/completions", "{\"model\":\"m\",\"messages\":[", 400, "null"},
    {"POST", "/v1/chat/completions", "", 400, "null"},
    {"POST", "/v1/chat/completions", "[1,2]", 400, "null"},
    {"POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 400,
     "missing_required_parameter"},
    {"POST", "/v1/chat/completions", "{\"model\":\"m\"}", 400, "missing_required_parameter"},
    {"POST", "/v1/chat/completions", "{\"model\":7,\"messages\":[]}", 400, "invalid_type"},
    {"POST", "/v1/chat/completions", "{\"model\":\"m\",\"messages\":\"hi\"}", 400,
     "invalid_type"},
    {"POST", "/v1/chat/completions", "{\"model\":\"m\",\"messages\":[]}", 400, "empty_array"},
    {"POST", "/v1/chat/completions", "{\"model\":\"m\",\"messages\":[42]}", 400, "invalid_type"},
    {"POST", "/v1/chat/completions", "{\"model\":\"m\",\"messages\":[{\"content\":\"x\"}]}", 400,
     "missing_required_parameter"},
    {"POST", "/v1/chat/completions",
     "{\"model\":\"m\",\"messages\":[{\"role\":\"wizard\",\"content\":\"x\"}]}", 400,
     "invalid_value"},
    {"POST", "/v1/chat/completions",
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":5}]}", 400, "invalid_type"},
    {"POST", "/v1/chat/completions",
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":\"9\"}",
     400, "invalid_type"},
    {"POST", "/v1/chat/completions",
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":-1}", 400,
     "integer_below_min_value"},
    {"POST", "/v1/chat/completions",
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"stream\":\"yes\"}",
     400, "invalid_type"},
    {"POST", "/v1/chat/completions",
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
     "\"stream_options\":{\"include_usage\":true}}",
     400, "invalid_value"},
    {"POST", "/v1/completions", "{\"model\":\"m\"}", 400, "missing_required_parameter"},
    {"POST", "/v1/completions", "{\"model\":\"m\",\"prompt\":{}}", 400, "invalid_type"},
    {"POST", "/v1/nope", "{}", 404, "null"},
    {"GET", "/", NULL, 404, "null"},
    {"GET", "/v1/chat/completions", NULL, 405, "null"},
    {"DELETE", "/v1/completions", NULL, 405, "null"},
    {"POST", "/v1/models", "{}", 405, "null"},
    {"PATCH", "/metrics", NULL, 405, "null"},
};

START_TEST(bad_requests)
{
    struct test_server s;
    test_server_init(&s);
    s.opt.max_body_bytes = 1000;
    test_server_start(&s);
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        const struct bad_case *bc = &bad_cases[i];
        struct http_resp r = {0};
        http_do(s.addr, bc->method, bc->path, bc->body, no_headers, &r);
        ck_assert_msg(r.status == bc->status, "case %zu (%s %s %s): %ld %s", i, bc->method,
                      bc->path, bc->body ? bc->body : "", r.status, r.body);
        assert_error(&r, bc->status, "invalid_request_error", bc->code);
        http_resp_free(&r);
    }
    /* A body over the limit: 413 with JSON. */
    char *big = xmalloc(4000);
    snprintf(big, 4000, "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"");
    size_t l = strlen(big);
    memset(big + l, 'x', 3000);
    snprintf(big + l + 3000, 4000 - l - 3000, "\"}]}");
    struct http_resp r = {0};
    http_do(s.addr, "POST", "/v1/chat/completions", big, no_headers, &r);
    assert_error(&r, 413, "invalid_request_error", "request_too_large");
    http_resp_free(&r);
    free(big);
    /* Still serving. */
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

START_TEST(api_key)
{
    struct test_server s;
    test_server_init(&s);
    s.opt.api_key = "sk-test-123";
    test_server_start(&s);
    struct http_resp r = {0};
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
    assert_error(&r, 401, "invalid_request_error", "null");
    http_resp_free(&r);
    const char *wrong[] = {"Authorization: Bearer sk-test-12", NULL};
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), wrong, &r);
    assert_error(&r, 401, "invalid_request_error", "invalid_api_key");
    http_resp_free(&r);
    http_do(s.addr, "GET", "/v1/models", NULL, wrong, &r);
    ck_assert_int_eq(r.status, 401);
    http_resp_free(&r);
    const char *right[] = {"Authorization: Bearer sk-test-123", NULL};
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), right, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    /* Health and metrics stay open, as on vLLM. */
    http_do(s.addr, "GET", "/health", NULL, no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

/* ---- models, health, metrics ------------------------------------------ */

START_TEST(models_health_metrics)
{
    struct test_server s;
    test_server_init(&s);
    snprintf(s.sc.live.model, sizeof s.sc.live.model, "served-model");
    test_server_start(&s);
    struct http_resp r = {0};
    http_do(s.addr, "GET", "/v1/models", NULL, no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = json_of(&r);
    ck_assert_str_eq(jstr(j, "object"), "list");
    ck_assert_str_eq(jstr(j, "data.0.id"), "served-model");
    ck_assert_str_eq(jstr(j, "data.0.object"), "model");
    cJSON_Delete(j);
    http_resp_free(&r);
    http_do(s.addr, "GET", "/health", NULL, no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":5"), no_headers,
            &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    http_do(s.addr, "GET", "/metrics", NULL, no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    const char *L = "{model_name=\"served-model\"}";
    char series[160];
#define METRIC(name) (snprintf(series, sizeof series, "%s%s", name, L), prom_value(r.body, series))
    ck_assert(METRIC("vllm:num_requests_running") == 0);
    ck_assert(METRIC("vllm:num_requests_waiting") == 0);
    ck_assert(METRIC("vllm:kv_cache_usage_perc") == 0);
    ck_assert(METRIC("vllm:prompt_tokens_total") == 12);
    ck_assert(METRIC("vllm:generation_tokens_total") == 5);
    ck_assert(METRIC("vllm:time_to_first_token_seconds_count") == 1);
    ck_assert(METRIC("vllm:e2e_request_latency_seconds_count") == 1);
    ck_assert(METRIC("vllm:request_queue_time_seconds_count") == 1);
    ck_assert(prom_value(r.body, "vllm:time_to_first_token_seconds_bucket{model_name=\"served-"
                                 "model\",le=\"+Inf\"}") == 1);
    ck_assert(strstr(r.body, "# TYPE vllm:e2e_request_latency_seconds histogram") != NULL);
    ck_assert(prom_value(r.body, "ratelab_mock_rate_limited_total{reason=\"tpm\"}") == 0);
#undef METRIC
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

START_TEST(completion_lengths_from_class)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.n_classes = 2;
    snprintf(s.sc.classes[0].name, SCENARIO_NAME_MAX, "chat");
    s.sc.classes[0].completion_tokens = (struct dist_config){.kind = DIST_CONST, .a = 9};
    snprintf(s.sc.classes[1].name, SCENARIO_NAME_MAX, "batch");
    s.sc.classes[1].completion_tokens = (struct dist_config){.kind = DIST_CONST, .a = 30};
    test_server_start(&s);
    struct http_resp r = {0};
    /* An unknown model takes the first class; a class name picks that class. */
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
    cJSON *j = json_of(&r);
    ck_assert_str_eq(jstr(j, "usage.completion_tokens"), "9");
    ck_assert_str_eq(jstr(j, "choices.0.finish_reason"), "stop");
    cJSON_Delete(j);
    http_resp_free(&r);
    http_do(s.addr, "POST", "/v1/chat/completions",
            "{\"model\":\"batch\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
            "\"max_tokens\":20}",
            no_headers, &r);
    j = json_of(&r);
    ck_assert_str_eq(jstr(j, "usage.completion_tokens"), "20");
    ck_assert_str_eq(jstr(j, "choices.0.finish_reason"), "length");
    cJSON_Delete(j);
    http_resp_free(&r);
    http_do(s.addr, "GET", "/v1/models", NULL, no_headers, &r);
    ck_assert(strstr(r.body, "\"batch\"") != NULL);
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

START_TEST(token_estimator)
{
    ck_assert_int_eq(mock_estimate_text_tokens(0), 0);
    ck_assert_int_eq(mock_estimate_text_tokens(1), 1);
    ck_assert_int_eq(mock_estimate_text_tokens(4), 1);
    ck_assert_int_eq(mock_estimate_text_tokens(5), 2);
    struct mock_request rq;
    struct mock_error e;
    const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"12345678\"},"
                       "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"abcd\"}]}]}";
    ck_assert_int_eq(mock_parse_request(MOCK_API_CHAT, body, strlen(body), &rq, &e), 0);
    ck_assert_int_eq(rq.prompt_tokens, 3 + (4 + 2) + (4 + 1));
    body = "{\"model\":\"m\",\"prompt\":[1,2,3,4,5]}";
    ck_assert_int_eq(mock_parse_request(MOCK_API_COMPLETIONS, body, strlen(body), &rq, &e), 0);
    ck_assert_int_eq(rq.prompt_tokens, 5);
    /* NUL bytes inside the body are refused, not truncated. */
    ck_assert_int_eq(mock_parse_request(MOCK_API_CHAT, "{}\0{}", 5, &rq, &e), -EINVAL);
}
END_TEST

/* ---- the ratelab binary ------------------------------------------------ */

/* Start BUILDDIR/ratelab with args, read its "listening on ADDR" line. */
static pid_t spawn_mock(char *const argv[], char *addr, size_t n)
{
    int p[2];
    ck_assert_int_eq(pipe(p), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        dup2(p[1], STDOUT_FILENO);
        close(p[0]);
        close(p[1]);
        execv(BUILDDIR "/ratelab", argv);
        _exit(127);
    }
    close(p[1]);
    FILE *f = fdopen(p[0], "r");
    char line[256] = "";
    ck_assert_ptr_nonnull(fgets(line, sizeof line, f));
    fclose(f);
    ck_assert_msg(strncmp(line, "listening on 127.0.0.1:", 23) == 0, "got '%s'", line);
    line[strcspn(line, "\n")] = '\0';
    snprintf(addr, n, "%.60s", line + 13);
    return pid;
}

static int stop_mock(pid_t pid, int sig)
{
    kill(pid, sig);
    int st;
    ck_assert_int_eq(waitpid(pid, &st, 0), pid);
    ck_assert(WIFEXITED(st));
    return WEXITSTATUS(st);
}

START_TEST(binary_with_scenario_file)
{
    char dir[] = "/tmp/ratelab-mock-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/s.ini", dir);
    FILE *f = fopen(path, "w");
    fputs("[scenario]\nname = mocktest\n\n[server]\nrequests_per_minute = 1\n"
          "ttft = 1ms\ndecode_per_token = 100us\n\n[class.served]\narrival = poisson 1/s\n"
          "completion_tokens = const 3\n\n[live]\nmodel = served\n",
          f);
    fclose(f);
    setenv("RATELAB_TEST_KEY", "sekrit", 1);
    char *argv[] = {"ratelab", "mock", path, "--listen", "127.0.0.1:0", "--api-key-env",
                    "RATELAB_TEST_KEY", NULL};
    char addr[64];
    pid_t pid = spawn_mock(argv, addr, sizeof addr);
    const char *auth[] = {"Authorization: Bearer sekrit", NULL};
    struct http_resp r = {0};
    http_do(addr, "POST", "/v1/chat/completions", CHAT_BODY(""), auth, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    http_do(addr, "POST", "/v1/chat/completions", CHAT_BODY(""), auth, &r);
    ck_assert_int_eq(r.status, 429);
    http_resp_free(&r);
    http_do(addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
    ck_assert_int_eq(r.status, 401);
    http_resp_free(&r);
    http_do(addr, "GET", "/v1/models", NULL, auth, &r);
    ck_assert(strstr(r.body, "\"served\"") != NULL);
    http_resp_free(&r);
    http_do(addr, "GET", "/metrics", NULL, no_headers, &r);
    ck_assert(prom_value(r.body, "vllm:generation_tokens_total{model_name=\"served\"}") == 3);
    http_resp_free(&r);
    /* A clean exit (0) under SIGTERM; LeakSanitizer would make it non-zero. */
    ck_assert_int_eq(stop_mock(pid, SIGTERM), 0);
    unlink(path);
    rmdir(dir);
}
END_TEST

START_TEST(binary_defaults_and_sigint)
{
    char *argv[] = {"ratelab", "mock", "--listen", "127.0.0.1:0", "--set",
                    "server.ttft=2ms", NULL};
    char addr[64];
    pid_t pid = spawn_mock(argv, addr, sizeof addr);
    struct http_resp r = {0};
    http_do(addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":2"), no_headers,
            &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    ck_assert_int_eq(stop_mock(pid, SIGINT), 0);
}
END_TEST

START_TEST(binary_usage_errors)
{
    const char *cmds[] = {
        BUILDDIR "/ratelab mock --listen nonsense >/dev/null 2>&1",
        BUILDDIR "/ratelab mock --api-key-env RATELAB_SURELY_UNSET_VAR >/dev/null 2>&1",
        BUILDDIR "/ratelab mock --max-body x >/dev/null 2>&1",
        BUILDDIR "/ratelab mock /nonexistent/scenario.ini >/dev/null 2>&1",
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        int st = system(cmds[i]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s: %d", cmds[i], st);
    }
    int st = system(BUILDDIR "/ratelab mock --help >/dev/null 2>&1");
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}
END_TEST

/* ---- the official openai npm client ----------------------------------- */

START_TEST(openai_npm_client)
{
    struct stat st;
    if (stat(SRCDIR "/tests/npm/node_modules/openai", &st) != 0) {
        fprintf(stderr, "check_mock: SKIP openai_npm_client: run 'npm install' in tests/npm "
                        "(.ci/test does) to test with the official openai package\n");
        return;
    }
    int rc = system("RATELAB=" BUILDDIR "/ratelab node " SRCDIR "/tests/npm/test.mjs");
    ck_assert_msg(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "tests/npm/test.mjs failed: %d", rc);
}
END_TEST

Suite *mock_suite(void);

Suite *mock_suite(void)
{
    Suite *s = suite_create("mock");
    TCase *tc = tcase_create("answers");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, chat_non_streaming);
    tcase_add_test(tc, legacy_completions);
    tcase_add_test(tc, chat_streaming_with_usage);
    tcase_add_test(tc, chat_streaming_without_usage);
    tcase_add_test(tc, completions_streaming);
    tcase_add_test(tc, completion_lengths_from_class);
    tcase_add_test(tc, models_health_metrics);
    tcase_add_test(tc, token_estimator);
    suite_add_tcase(s, tc);

    tc = tcase_create("limits");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, rate_limit_openai_headers);
    tcase_add_test(tc, rate_limit_anthropic_headers);
    tcase_add_test(tc, rate_limit_none_style);
    tcase_add_test(tc, rate_limit_tokens);
    tcase_add_test(tc, rate_limit_tokens_per_day);
    tcase_add_test(tc, rate_limit_concurrency);
    tcase_add_test(tc, overloaded_queue_503);
    suite_add_tcase(s, tc);

    tc = tcase_create("faults");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, fault_error);
    tcase_add_test(tc, fault_reset);
    tcase_add_test(tc, fault_stall);
    tcase_add_test(tc, fault_malformed);
    tcase_add_test(tc, client_hangs_up_mid_stream);
    tcase_add_test(tc, stop_with_requests_in_flight);
    suite_add_tcase(s, tc);

    tc = tcase_create("bad input");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, bad_requests);
    tcase_add_test(tc, api_key);
    suite_add_tcase(s, tc);

    tc = tcase_create("binary");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, binary_with_scenario_file);
    tcase_add_test(tc, binary_defaults_and_sigint);
    tcase_add_test(tc, binary_usage_errors);
    tcase_add_test(tc, openai_npm_client);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    SRunner *sr = srunner_create(mock_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
