/*
 * check_mock: the mock server end to end — answers, streams, 429s in each
 * header style, capacity, faults and metrics. Each test starts its own server
 * on 127.0.0.1 with an ephemeral port (in process, on its own thread and loop),
 * drives it with libcurl and stops it. Configured latencies are a millisecond
 * or so; nothing waits for time beyond that. Bad input, the binary and the npm
 * client are in check_mock_input.c.
 */
#include "config.h"

#include <arpa/inet.h>
#include <check.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mock_client.h"
#include "mock_int.h"
#include "mock_proto.h"
#include "provider.h"
#include "rng.h"
#include "util.h"
#include "workload.h"

START_TEST(chat_non_streaming)
{
    struct test_server s;
    test_server_init(&s);
    test_server_start(&s);
    struct http_resp r = {0};
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":7"), no_headers, &r);
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

/*
 * A model name with invalid UTF-8 (a stray 0xff, a cut sequence, an encoded
 * surrogate, an overlong '/', a truncated euro sign) and control characters
 * (C0, DEL, a C1 via \u0085), a quote and a valid e-acute: every answer that
 * echoes it is valid UTF-8 and parses as JSON.
 */
#define NASTY_MODEL "m\xff\xc3(\xed\xa0\x80\xc0\xaf\\u0001\\u001f\\u007f\\u0085\\\"\xc3\xa9\xe2\x82"

static void check_events_json(char *body)
{
    char *ev[256];
    int n = sse_events(body, ev, 256);
    ck_assert_int_ge(n, 2);
    ck_assert_str_eq(ev[n - 1], "[DONE]");
    for (int i = 0; i < n - 1; i++)
        assert_json_utf8(ev[i]);
}

START_TEST(echoed_strings_are_valid_json)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.server.requests_per_minute = 4;
    snprintf(s.sc.live.model, sizeof s.sc.live.model, "served\xff\x01\xc3");
    test_server_start(&s);
    static const char chat[] =
        "{\"model\":\"" NASTY_MODEL "\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],"
        "\"max_tokens\":3";
    static const char legacy[] = "{\"model\":\"" NASTY_MODEL "\",\"prompt\":\"hi\",\"max_tokens\":3";
    struct http_resp r = {0};
    char body[512];
    /* 200, chat and legacy. */
    snprintf(body, sizeof body, "%s}", chat);
    http_do(s.addr, "POST", "/v1/chat/completions", body, no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    assert_json_utf8(r.body);
    http_resp_free(&r);
    snprintf(body, sizeof body, "%s}", legacy);
    http_do(s.addr, "POST", "/v1/completions", body, no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    assert_json_utf8(r.body);
    http_resp_free(&r);
    /* Stream chunks, chat and legacy, with the usage chunk. */
    snprintf(body, sizeof body, "%s,\"stream\":true,\"stream_options\":{\"include_usage\":true}}",
             chat);
    http_do(s.addr, "POST", "/v1/chat/completions", body, no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    check_events_json(r.body);
    http_resp_free(&r);
    snprintf(body, sizeof body, "%s,\"stream\":true}", legacy);
    http_do(s.addr, "POST", "/v1/completions", body, no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    check_events_json(r.body);
    http_resp_free(&r);
    /* A 429 whose message names the model. */
    snprintf(body, sizeof body, "%s}", chat);
    http_do(s.addr, "POST", "/v1/chat/completions", body, no_headers, &r);
    ck_assert_int_eq(r.status, 429);
    assert_json_utf8(r.body);
    http_resp_free(&r);
    /* /v1/models names the served model. */
    http_do(s.addr, "GET", "/v1/models", NULL, no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    assert_json_utf8(r.body);
    http_resp_free(&r);
    test_server_stop(&s);

    /* "Request too large", the other 429 message. */
    test_server_init(&s);
    s.sc.server.tokens_per_minute = 100;
    test_server_start(&s);
    snprintf(body, sizeof body, "%s}", chat);
    char *big = strstr(body, "\"max_tokens\":3");
    memcpy(big, "\"max_tokens\":999}", 18);
    http_do(s.addr, "POST", "/v1/chat/completions", body, no_headers, &r);
    ck_assert_int_eq(r.status, 429);
    ck_assert(strstr(r.body, "Request too large") != NULL);
    assert_json_utf8(r.body);
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
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":500"), no_headers,
            &r);
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
    s.sc.server.ttft_base_us = 500 * US_PER_MS; /* long enough for both to overlap */
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
    s.sc.server.ttft_base_us = 500 * US_PER_MS; /* the three must overlap, even on a busy box */
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
    /* A reset, not "Empty reply from server" (CURLE_GOT_NOTHING): that is a FIN. */
    ck_assert_int_eq(r.curl_rc, CURLE_RECV_ERROR);
    http_resp_free(&r);
    /* On a raw socket: read() fails with ECONNRESET instead of returning 0 (EOF). */
    char host[64];
    snprintf(host, sizeof host, "%s", s.addr);
    char *colon = strrchr(host, ':');
    *colon = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    ck_assert_int_eq(inet_pton(AF_INET, host, &sa.sin_addr), 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char req[512];
    int l = snprintf(req, sizeof req,
                     "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s",
                     strlen(CHAT_BODY("")), CHAT_BODY(""));
    ck_assert_int_eq(send(fd, req, (size_t)l, MSG_NOSIGNAL), l);
    char b[64];
    errno = 0;
    ssize_t n = read(fd, b, sizeof b);
    ck_assert_msg(n == -1 && errno == ECONNRESET, "read: %zd, %s", n, strerror(errno));
    close(fd);
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
    /* The whole body is the answer's start, cut off mid-word. */
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"id\":\"chatcmpl-1\",\"object\":\"chat.compl");
    ck_assert_ptr_null(cJSON_Parse(r.body));
    http_resp_free(&r);
    /* Streamed: the role chunk and the 3 tokens arrive whole, then the cut-off chunk, no [DONE]. */
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"stream\":true,\"max_tokens\":3"),
            no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    ck_assert(strstr(r.body, "[DONE]") == NULL);
    static const char tail[] = "data: {\"id\":\"chatcmpl-2\",\"object\":\"chat.compl\n\n";
    size_t tl = strlen(tail);
    ck_assert_uint_ge(r.len, tl);
    ck_assert_msg(strcmp(r.body + r.len - tl, tail) == 0, "tail: %s", r.body);
    int whole = 0;
    for (char *ev = r.body; ev < r.body + r.len - tl; whole++) {
        ck_assert_msg(strncmp(ev, "data: ", 6) == 0, "event %d: %s", whole, ev);
        char *end = strstr(ev, "\n\n");
        ck_assert_ptr_nonnull(end);
        *end = '\0';
        cJSON *j = cJSON_Parse(ev + 6);
        ck_assert_msg(j != NULL, "event %d is not JSON: %s", whole, ev + 6);
        ck_assert_str_eq(jstr(j, "id"), "chatcmpl-2");
        cJSON_Delete(j);
        ev = end + 2;
    }
    ck_assert_int_eq(whole, 1 + 3);
    ck_assert_ptr_null(cJSON_Parse(r.body + r.len - tl + 6));
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

/* Conditions test_server_wait evaluates on the server's thread. */
static bool in_flight_is(const struct mock *m, void *arg)
{
    return m->n_live == *(const int64_t *)arg;
}

/* No call live, and the provider holds none (so the batch slot is free too). */
static bool nothing_in_flight(const struct mock *m, void *arg)
{
    (void)arg;
    struct provider_stats st;
    provider_stats(m->prov, &st);
    return m->n_live == 0 && st.running == 0 && st.waiting == 0;
}

START_TEST(client_hangs_up_mid_stream)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.server.decode_us_per_token = 2 * US_PER_MS;
    s.sc.server.max_running = 4;
    test_server_start(&s);
    struct http_resp r = {.abort_after = 1};
    http_do(s.addr, "POST", "/v1/chat/completions",
            CHAT_BODY(",\"stream\":true,\"max_tokens\":5000"), no_headers, &r);
    ck_assert_int_eq(r.curl_rc, CURLE_WRITE_ERROR);
    http_resp_free(&r);
    /* The next token write finds the connection gone and frees the batch slot. */
    ck_assert(test_server_wait(&s, nothing_in_flight, NULL, 10000));
    http_do(s.addr, "GET", "/metrics", NULL, no_headers, &r);
    ck_assert(prom_value(r.body, "ratelab_mock_in_flight") == 0);
    ck_assert(prom_value(r.body, "ratelab_mock_client_cancelled_total") == 1);
    ck_assert(prom_value(r.body, "vllm:request_success_total{finished_reason=\"abort\","
                                 "model_name=\"default\"}") == 1);
    ck_assert(prom_value(r.body, "vllm:num_requests_running{model_name=\"default\"}") == 0);
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

START_TEST(client_gives_up_while_waiting)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.server.ttft_base_us = 30 * US_PER_S;
    s.sc.server.max_running = 1;
    test_server_start(&s);
    /* Nothing is written to a waiting client, yet its hang-up frees the batch slot. */
    struct http_resp r = {.timeout_ms = 100};
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
    ck_assert_int_eq(r.curl_rc, CURLE_OPERATION_TIMEDOUT);
    http_resp_free(&r);
    ck_assert(test_server_wait(&s, nothing_in_flight, NULL, 10000));
    http_do(s.addr, "GET", "/metrics", NULL, no_headers, &r);
    ck_assert(prom_value(r.body, "ratelab_mock_in_flight") == 0);
    ck_assert(prom_value(r.body, "ratelab_mock_client_cancelled_total") == 1);
    ck_assert(prom_value(r.body, "vllm:num_requests_running{model_name=\"default\"}") == 0);
    http_resp_free(&r);
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
    int64_t three = 3;
    ck_assert(test_server_wait(&s, in_flight_is, &three, 10000));
    struct http_resp m = {0};
    http_do(s.addr, "GET", "/metrics", NULL, no_headers, &m);
    ck_assert(prom_value(m.body, "ratelab_mock_in_flight") == 3);
    http_resp_free(&m);
    test_server_stop(&s);
    int st;
    waitpid(pid, &st, 0);
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
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":5"), no_headers, &r);
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

/*
 * /metrics keeps the exposition rules (with a model name that needs escaping),
 * and vllm:request_success_total says why each accepted request ended.
 */
START_TEST(metrics_exposition)
{
    struct test_server s;
    metrics_server_start(&s);
    struct http_resp r = {0};
    http_do(s.addr, "GET", "/metrics", NULL, no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    assert_exposition(r.body);
    const char *L = "model_name=\"we\\\"ird\\\\mo\\ndel\"";
    char series[200];
#define SUCCESS(why)                                                                               \
    (snprintf(series, sizeof series, "vllm:request_success_total{finished_reason=\"%s\",%s}", why, \
              L),                                                                                  \
     prom_value(r.body, series))
    ck_assert(SUCCESS("stop") == 2);
    ck_assert(SUCCESS("length") == 1);
    ck_assert(SUCCESS("abort") == 0);
#undef SUCCESS
    ck_assert(strstr(r.body, "# TYPE vllm:request_success_total counter\n") != NULL);
    ck_assert(prom_value(r.body, "ratelab_mock_rate_limited_total{reason=\"rpm\"}") == 1);
    ck_assert(prom_value(r.body, "ratelab_mock_responses_total{code=\"404\"}") == 1);
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

/* The rules assert_exposition keeps are rules: each broken one is caught. */
START_TEST(exposition_rules_catch)
{
    static const char *const broken[] = {
        "a_total 1\n",                                              /* no HELP, TYPE */
        "# HELP a_total x\n# TYPE a_total counter\na_total 1\na_total 2\n", /* series twice */
        "# HELP a x\n# TYPE a counter\na 1\n",                      /* counter without _total */
        "# HELP a x\n# TYPE a gauge\na{l=\"q\"q\"} 1\n",            /* unescaped quote */
        "# HELP a x\n# TYPE a gauge\na{l=\"\\t\"} 1\n",             /* unknown escape */
        "# HELP a x\n# TYPE a gauge\na{l=\"1\",l=\"2\"} 1\n",       /* label twice */
        "# HELP a x\n# TYPE a gauge\na one\n",                      /* not a number */
        "# HELP a x\n# TYPE a gauge\n# TYPE a gauge\na 1\n",        /* TYPE twice */
        "# HELP a x\n# TYPE a gauge\na 1\n# HELP b x\n# TYPE b gauge\nb 1\na{x=\"1\"} 2\n",
        "# HELP a x\n# TYPE a gauge\na 1",                          /* no final newline */
    };
    char why[512];
    for (size_t i = 0; i < sizeof broken / sizeof broken[0]; i++)
        ck_assert_msg(!exposition_ok(broken[i], why, sizeof why), "case %zu passed: %s", i,
                      broken[i]);
    assert_exposition("# HELP a_total x\n# TYPE a_total counter\na_total{l=\"\\\\\\\"\\n\"} 1\n"
                      "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 1\nh_sum 0.5\n"
                      "h_count 1\n");
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
    /* X-Ratelab-Class beats the model name. */
    const char *hint[] = {"X-Ratelab-Class: batch", NULL};
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), hint, &r);
    j = json_of(&r);
    ck_assert_str_eq(jstr(j, "usage.completion_tokens"), "30");
    cJSON_Delete(j);
    http_resp_free(&r);
    http_do(s.addr, "GET", "/v1/models", NULL, no_headers, &r);
    ck_assert(strstr(r.body, "\"batch\"") != NULL);
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

/*
 * The mock splits its random streams in the sim's order (doc/provider.md,
 * "Random streams"): for one seed its provider draws the same faults, and each
 * class's workload the same completion lengths, as streams split the sim's way
 * here. Another order (the provider first, or the classes before it) fails.
 */
START_TEST(streams_split_in_sim_order)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.seed = 20240607;
    s.sc.server.error_rate = 0.4;
    s.sc.n_classes = 2;
    snprintf(s.sc.classes[0].name, SCENARIO_NAME_MAX, "chat");
    s.sc.classes[0].completion_tokens =
        (struct dist_config){.kind = DIST_UNIFORM, .a = 1, .b = 200};
    snprintf(s.sc.classes[1].name, SCENARIO_NAME_MAX, "batch");
    s.sc.classes[1].completion_tokens =
        (struct dist_config){.kind = DIST_LOGNORMAL, .a = 40, .b = 0.6};
    s.sc.classes[1].max_tokens = 60;

    /* As sim_new splits: the client's stream, the provider, then each class in order. */
    struct rng root, client;
    rng_seed(&root, s.sc.seed);
    rng_split(&root, &client);
    provider *p = provider_new(&s.sc.server, &root);
    workload *w[2];
    for (int k = 0; k < 2; k++)
        w[k] = workload_new(&s.sc.classes[k], s.sc.duration_us, &root);

    test_server_start(&s);
    const char *hint[2][2] = {{"X-Ratelab-Class: chat", NULL}, {"X-Ratelab-Class: batch", NULL}};
    int ok = 0, failed = 0;
    for (int i = 0; i < 40; i++) {
        int k = i % 3 == 0;
        int64_t n = workload_completion_tokens(w[k]);
        struct provider_decision d;
        provider_submit(p, i, 12, 0, n, NULL, &d);
        struct http_resp r = {0};
        http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), hint[k], &r);
        if (d.kind == PROVIDER_ACCEPTED) {
            ck_assert_int_eq(r.status, 200);
            cJSON *j = json_of(&r);
            ck_assert_str_eq(jstr(j, "usage.prompt_tokens"), "12");
            ck_assert_int_eq(atoll(jstr(j, "usage.completion_tokens")), n);
            cJSON_Delete(j);
            ok++;
        } else {
            ck_assert_int_eq(d.kind, PROVIDER_ERROR);
            ck_assert_int_eq(r.status, d.status);
            failed++;
        }
        http_resp_free(&r);
    }
    ck_assert(ok > 0 && failed > 0); /* both the fault draws and the lengths were compared */
    test_server_stop(&s);
    for (int k = 0; k < 2; k++)
        workload_free(w[k]);
    provider_free(p);
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
    tcase_add_test(tc, streams_split_in_sim_order);
    tcase_add_test(tc, models_health_metrics);
    tcase_add_test(tc, metrics_exposition);
    tcase_add_test(tc, exposition_rules_catch);
    tcase_add_test(tc, echoed_strings_are_valid_json);
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
    tcase_add_test(tc, client_gives_up_while_waiting);
    tcase_add_test(tc, stop_with_requests_in_flight);
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
