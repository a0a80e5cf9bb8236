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
