#include "config.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "body.h"

#define PROMPTS SRCDIR "/tests/data/prompts.jsonl"

/*
 * The mock's prompt-token estimator, as src/mock/mock_proto.h documents it (and
 * mock_proto.c's parse_messages / parse_prompt compute it): one token per 4 bytes
 * of text, rounded up, plus 4 per chat message and 3 to prime the reply; a
 * completions prompt is its text only; at least 1. Applied to the body as sent, so
 * the test checks what the server would count, not what body.c says it counts.
 * liblive may not link src/mock, hence this copy of the formula.
 */
static int64_t mock_count(const cJSON *root, enum body_api api)
{
    int64_t t = 0;
    if (api == BODY_CHAT) {
        t = 3;
        const cJSON *m;
        cJSON_ArrayForEach(m, cJSON_GetObjectItemCaseSensitive(root, "messages"))
        {
            const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
            ck_assert(cJSON_IsString(c));
            t += 4 + (int64_t)((strlen(c->valuestring) + 3) / 4);
        }
    } else {
        const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
        ck_assert(cJSON_IsString(p));
        t = (int64_t)((strlen(p->valuestring) + 3) / 4);
    }
    return t < 1 ? 1 : t;
}

/* Parse a built body; it must be exactly one JSON object, NUL-terminated at len. */
static cJSON *parse_body(const struct body_buf *b)
{
    ck_assert_ptr_nonnull(b->data);
    ck_assert_int_lt(b->len, b->cap);
    ck_assert_int_eq(b->data[b->len], '\0');
    ck_assert_int_eq(strlen(b->data), b->len);
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(b->data, b->len + 1, &end, true); /* + the NUL */
    ck_assert_msg(root != NULL, "body is not JSON: %s", b->data);
    ck_assert(cJSON_IsObject(root));
    return root;
}

/* The fields every body shares: model, max_tokens (or none), stream (or none). */
static void check_common(const cJSON *root, const struct body_spec *s, int64_t max_tokens)
{
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    ck_assert(cJSON_IsString(model));
    ck_assert_str_eq(model->valuestring, s->model);
    const cJSON *mt = cJSON_GetObjectItemCaseSensitive(root, "max_tokens");
    if (max_tokens > 0) {
        ck_assert(cJSON_IsNumber(mt));
        ck_assert(mt->valuedouble == (double)max_tokens);
    } else {
        ck_assert_ptr_null(mt);
    }
    const cJSON *stream = cJSON_GetObjectItemCaseSensitive(root, "stream");
    const cJSON *opts = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (s->stream) {
        ck_assert(cJSON_IsTrue(stream));
        ck_assert(cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(opts, "include_usage")));
    } else {
        ck_assert_ptr_null(stream);
        ck_assert_ptr_null(opts);
    }
    ck_assert_int_eq(cJSON_GetArraySize(root), 2 + (max_tokens > 0) + 2 * s->stream);
}

/* Write text (len bytes) to a new temporary file; its path goes in path. */
static void write_temp(char *path, size_t n, const char *text, size_t len)
{
    snprintf(path, n, "/tmp/ratelab-body-XXXXXX");
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, text, len), (ssize_t)len);
    close(fd);
}

START_TEST(api_of_path)
{
    static const struct {
        const char *path;
        int rc;
        enum body_api api;
    } cases[] = {
        {"/v1/chat/completions", 0, BODY_CHAT},
        {"/chat/completions", 0, BODY_CHAT},
        {"/openai/deployments/gpt/chat/completions?api-version=2024-06-01", 0, BODY_CHAT},
        {"/v1/completions", 0, BODY_COMPLETIONS},
        {"/completions", 0, BODY_COMPLETIONS},
        {"/v1/completions?x=/chat/completions", 0, BODY_COMPLETIONS},
        {"/v1/embeddings", -EINVAL, 0},
        {"/v1/chat/completions/", -EINVAL, 0},
        {"/v1/xcompletions", -EINVAL, 0},
        {"completions", -EINVAL, 0},
        {"/v1/responses", -EINVAL, 0},
        {"", -EINVAL, 0},
        {"?/completions", -EINVAL, 0},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        enum body_api api = (enum body_api)99;
        int rc = body_api_of(cases[k].path, &api);
        ck_assert_msg(rc == cases[k].rc, "%s: rc %d, want %d", cases[k].path, rc, cases[k].rc);
        if (rc == 0)
            ck_assert_msg(api == cases[k].api, "%s: api %d", cases[k].path, (int)api);
        else
            ck_assert_int_eq(api, 99); /* untouched on error */
    }
}
END_TEST

/* A synthetic chat prompt of N tokens counts as N to the mock (7 is the least a chat can). */
START_TEST(synthetic_chat_counts)
{
    struct body_buf b = {0};
    struct body_spec s = {BODY_CHAT, "llama-3-8b", _i & 1};
    static const int64_t big[] = {1000, 4097, 32768, 131072};
    for (int64_t k = 0; k < 400 + 4; k++) {
        int64_t n = k < 400 ? k : big[k - 400];
        int64_t max_tokens = k % 3 ? 256 : 0;
        ck_assert_int_eq(body_build(&b, &s, NULL, (size_t)k, n, max_tokens), 0);
        cJSON *root = parse_body(&b);
        check_common(root, &s, max_tokens);
        const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
        ck_assert_int_eq(cJSON_GetArraySize(msgs), 1);
        const cJSON *m = cJSON_GetArrayItem(msgs, 0);
        ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring, "user");
        const char *content = cJSON_GetObjectItemCaseSensitive(m, "content")->valuestring;
        int64_t want = n < 7 ? 7 : n;
        ck_assert_msg(mock_count(root, BODY_CHAT) == want, "N=%lld counted %lld", (long long)n,
                      (long long)mock_count(root, BODY_CHAT));
        /* whole 4-byte words: three lowercase letters and a space */
        size_t len = strlen(content);
        ck_assert_int_eq(len % 4, 0);
        for (size_t j = 0; j < len; j += 4)
            ck_assert_msg(content[j] >= 'a' && content[j] <= 'z' && content[j + 3] == ' ',
                          "word at %zu: '%.4s'", j, content + j);
        cJSON_Delete(root);
    }
    body_buf_fini(&b);
    ck_assert_ptr_null(b.data);
    ck_assert_int_eq(b.cap, 0);
}
END_TEST

START_TEST(synthetic_completions_counts)
{
    struct body_buf b = {0};
    struct body_spec s = {BODY_COMPLETIONS, "gpt-3.5-turbo-instruct", _i & 1};
    for (int64_t n = 0; n < 600; n++) {
        ck_assert_int_eq(body_build(&b, &s, NULL, (size_t)n * 7919, n, 16), 0);
        cJSON *root = parse_body(&b);
        check_common(root, &s, 16);
        ck_assert_ptr_null(cJSON_GetObjectItemCaseSensitive(root, "messages"));
        const char *prompt = cJSON_GetObjectItemCaseSensitive(root, "prompt")->valuestring;
        ck_assert_int_eq(strlen(prompt), (size_t)(n > 0 ? n : 0) * 4);
        ck_assert_int_eq(mock_count(root, BODY_COMPLETIONS), n < 1 ? 1 : n);
        cJSON_Delete(root);
    }
    body_buf_fini(&b);
}
END_TEST

/* The salt: the same i gives the same body, different i differ within the first 11 words. */
START_TEST(synthetic_salted)
{
    enum { N = 512, HEAD = 11 * 4 };
    static char heads[N][HEAD + 1];
    struct body_buf b = {0}, again = {0};
    struct body_spec s = {BODY_COMPLETIONS, "m", false};
    for (size_t i = 0; i < N; i++) {
        size_t salt = i < N / 2 ? i : (SIZE_MAX - i); /* small and huge salts */
        body_build(&b, &s, NULL, salt, 100, 0);
        body_build(&again, &s, NULL, salt, 100, 0);
        ck_assert_str_eq(b.data, again.data);
        const char *p = strstr(b.data, "\"prompt\":\"") + 10;
        memcpy(heads[i], p, HEAD);
        heads[i][HEAD] = '\0';
        for (size_t j = 0; j < i; j++)
            ck_assert_msg(strcmp(heads[i], heads[j]) != 0, "salts %zu and %zu share '%s'", i, j,
                          heads[i]);
    }
    /* and the text is not one word repeated */
    const char *p = strstr(b.data, "\"prompt\":\"") + 10;
    int distinct = 0;
    for (int w = 1; w < 100; w++)
        distinct += memcmp(p + 4 * w, p, 4) != 0;
    ck_assert_int_gt(distinct, 80);
    body_buf_fini(&b);
    body_buf_fini(&again);
}
END_TEST

/* Each line's messages, straight from the file, in the order prompts_load keeps them. */
static cJSON *file_lines[8];
static int n_file_lines;

static void read_file_lines(void)
{
    FILE *f = fopen(PROMPTS, "r");
    ck_assert_ptr_nonnull(f);
    char line[4096];
    n_file_lines = 0;
    while (fgets(line, sizeof line, f)) {
        const char *t = line + strspn(line, " \t\r\n");
        if (!*t || *t == '#')
            continue;
        ck_assert_int_lt(n_file_lines, 8);
        file_lines[n_file_lines] = cJSON_Parse(t);
        ck_assert_ptr_nonnull(file_lines[n_file_lines]);
        n_file_lines++;
    }
    fclose(f);
}

static void free_file_lines(void)
{
    for (int i = 0; i < n_file_lines; i++)
        cJSON_Delete(file_lines[i]);
    n_file_lines = 0;
}

/* Every prompt of the file comes back, messages and joined text, with the mock's count. */
START_TEST(prompts_file_bodies)
{
    char err[512] = "";
    struct prompts *p = NULL;
    ck_assert_msg(prompts_load(PROMPTS, &p, err, sizeof err) == 0, "%s", err);
    read_file_lines();
    ck_assert_int_eq(prompts_count(p), 4); /* the comments and the blank line skipped */
    ck_assert_int_eq(prompts_count(p), n_file_lines);
    struct body_buf b = {0};
    for (size_t i = 0; i < prompts_count(p); i++) {
        const cJSON *want = file_lines[i];
        for (int stream = 0; stream < 2; stream++) {
            struct body_spec s = {BODY_CHAT, "m\"o\\d\ne\x01l \xc3\xa9", stream};
            ck_assert_int_eq(body_build(&b, &s, p, i, 12345, 100), 0);
            cJSON *root = parse_body(&b);
            check_common(root, &s, 100);
            const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
            ck_assert_int_eq(cJSON_GetArraySize(msgs), cJSON_GetArraySize(want));
            for (int k = 0; k < cJSON_GetArraySize(want); k++) {
                const cJSON *got = cJSON_GetArrayItem(msgs, k), *exp = cJSON_GetArrayItem(want, k);
                ck_assert_int_eq(cJSON_GetArraySize(got), 2); /* role and content only */
                ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(got, "role")->valuestring,
                                 cJSON_GetObjectItemCaseSensitive(exp, "role")->valuestring);
                ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(got, "content")->valuestring,
                                 cJSON_GetObjectItemCaseSensitive(exp, "content")->valuestring);
            }
            ck_assert_int_eq(prompts_tokens(p, i, BODY_CHAT), mock_count(root, BODY_CHAT));
            cJSON_Delete(root);

            s.api = BODY_COMPLETIONS;
            ck_assert_int_eq(body_build(&b, &s, p, i, 0, 0), 0);
            root = parse_body(&b);
            check_common(root, &s, 0);
            char joined[4096] = "";
            for (int k = 0; k < cJSON_GetArraySize(want); k++) {
                if (k)
                    strcat(joined, "\n");
                strcat(joined,
                       cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(want, k), "content")
                           ->valuestring);
            }
            ck_assert_str_eq(cJSON_GetObjectItemCaseSensitive(root, "prompt")->valuestring, joined);
            ck_assert_int_eq(prompts_tokens(p, i, BODY_COMPLETIONS),
                             mock_count(root, BODY_COMPLETIONS));
            cJSON_Delete(root);
        }
    }
    /* by hand, for two: "Hello" is 5 bytes, 2 tokens; + 4 + 3; completions 2 */
    ck_assert_int_eq(prompts_tokens(p, 0, BODY_CHAT), 9);
    ck_assert_int_eq(prompts_tokens(p, 0, BODY_COMPLETIONS), 2);
    /* "", "ok", "a\u0000b is text, not a NUL" (27 bytes): 3 + 3*4 + 0 + 1 + 7 */
    ck_assert_int_eq(prompts_tokens(p, 3, BODY_CHAT), 23);
    /* joined: 0 + 1 + 2 + 1 + 27 = 31 bytes, 8 tokens */
    ck_assert_int_eq(prompts_tokens(p, 3, BODY_COMPLETIONS), 8);
    free_file_lines();
    body_buf_fini(&b);
    prompts_free(p);
    prompts_free(NULL);
}
END_TEST

/* Awkward text is escaped as JSON requires, and only that: UTF-8 goes out as bytes. */
START_TEST(escaping)
{
    char err[512];
    struct prompts *p = NULL;
    ck_assert_msg(prompts_load(PROMPTS, &p, err, sizeof err) == 0, "%s", err);
    struct body_buf b = {0};
    struct body_spec s = {BODY_CHAT, "m", false};
    body_build(&b, &s, p, 1, 0, 0);
    ck_assert_ptr_nonnull(strstr(b.data, "Say \\\"hi\\\" and a backslash \\\\ then\\na new "
                                         "line,\\ta tab, \\u0001 and \\u001f."));
    for (size_t k = 0; k < b.len; k++)
        ck_assert_msg((unsigned char)b.data[k] >= 0x20, "raw control byte at %zu", k);
    body_build(&b, &s, p, 2, 0, 0);
    ck_assert_ptr_nonnull(strstr(b.data, "h\xc3\xa9llo \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac"
                                         "\xe8\xaa\x9e \xf0\x9f\x98\x80 and \xf0\x9f\x98\x80 / /"));
    body_build(&b, &s, p, 3, 0, 0);
    ck_assert_ptr_nonnull(strstr(b.data, "a\\\\u0000b is text"));
    s.api = BODY_COMPLETIONS;
    body_build(&b, &s, p, 1, 0, 0);
    ck_assert_ptr_nonnull(strstr(b.data, "\"prompt\":\"You are terse.\\nSay \\\"hi\\\""));
    body_buf_fini(&b);
    prompts_free(p);
}
END_TEST

/* Once grown, the buffer is reused: no reallocation building the same bodies again. */
START_TEST(buffer_reuse)
{
    char err[512];
    struct prompts *p = NULL;
    ck_assert_int_eq(prompts_load(PROMPTS, &p, err, sizeof err), 0);
    struct body_buf b = {0};
    struct body_spec s = {BODY_CHAT, "m", true};
    body_build(&b, &s, NULL, 0, 20000, 1024);
    char *data = b.data;
    size_t cap = b.cap;
    for (int round = 0; round < 50; round++) {
        s.api = round & 1 ? BODY_COMPLETIONS : BODY_CHAT;
        body_build(&b, &s, NULL, (size_t)round, 1 + round * 397, 1024);
        body_build(&b, &s, p, (size_t)round % prompts_count(p), 0, 1024);
        ck_assert_ptr_eq(b.data, data);
        ck_assert_int_eq(b.cap, cap);
    }
    body_buf_fini(&b);
    prompts_free(p);
}
END_TEST

/* A malformed prompts file: the error names the file, the line and what was expected. */
static const struct bad_prompts {
    const char *text;
    int line; /* 0: the message names no line */
    int rc;
    const char *msg;
} bad[] = {
    {"[{\"role\":\"user\",\"content\":\"hi\"}]\n\n{oops\n", 3, -EINVAL,
     "not valid JSON near column"},
    {"[{\"role\":\"user\",\"content\":\"hi\"}\n", 1, -EINVAL, "not valid JSON"},
    {"# one\n{\"role\":\"user\",\"content\":\"x\"}\n", 2, -EINVAL,
     "an object, not an array (expected one array of chat messages per line"},
    {"\"just text\"\n", 1, -EINVAL, "a string, not an array"},
    {"[]\n", 1, -EINVAL, "an empty array (expected at least one message)"},
    {"[\"hi\"]\n", 1, -EINVAL, "messages[0] is a string (expected an object {\"role\": string"},
    {"[{\"role\":\"user\",\"content\":\"a\"},{\"content\":\"b\"}]\n", 1, -EINVAL,
     "messages[1] has no \"role\""},
    {"\n\n\n[{\"role\":\"user\"}]\n", 4, -EINVAL, "messages[0] has no \"content\""},
    {"[{\"role\":\"user\",\"content\":null}]\n", 1, -EINVAL,
     "messages[0].content is null (expected a string)"},
    {"[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"}]}]\n", 1, -EINVAL,
     "messages[0].content is an array (expected a string)"},
    {"[{\"role\":7,\"content\":\"a\"}]\n", 1, -EINVAL, "messages[0].role is a number"},
    {"[{\"role\":\"\",\"content\":\"a\"}]\n", 1, -EINVAL, "messages[0].role is empty"},
    {"[{\"role\":\"user\",\"content\":\"\xff\"}]\n", 1, -EINVAL,
     "messages[0].content is not valid UTF-8"},
    {"[{\"role\":\"user\",\"content\":\"\xed\xa0\x80\"}]\n", 1, -EINVAL, "not valid UTF-8"},
    {"[{\"role\":\"user\",\"content\":\"a\\u0000b\"}]\n", 1, -EINVAL, "a \\u0000 in a string"},
    {"[{\"role\":\"user\",\"content\":\"a\"}] [1]\n", 1, -EINVAL, "text after the JSON value"},
    {"", 0, -EINVAL, "no prompts (expected one JSON array"},
    {"# only a comment\n\n   \n", 0, -EINVAL, "no prompts"},
};

START_TEST(load_errors)
{
    const struct bad_prompts *c = &bad[_i];
    char path[64], err[512] = "", want[128];
    write_temp(path, sizeof path, c->text, strlen(c->text));
    static char sentinel;
    struct prompts *p = (struct prompts *)&sentinel; /* must stay untouched */
    int rc = prompts_load(path, &p, err, sizeof err);
    ck_assert_msg(rc == c->rc, "case %d: rc %d (%s)", _i, rc, err);
    ck_assert_ptr_eq(p, (struct prompts *)&sentinel);
    if (c->line)
        snprintf(want, sizeof want, "%s:%d: ", path, c->line);
    else
        snprintf(want, sizeof want, "%s: ", path);
    ck_assert_msg(strncmp(err, want, strlen(want)) == 0, "case %d: '%s' does not start '%s'", _i,
                  err, want);
    ck_assert_msg(strstr(err, c->msg), "case %d: '%s' lacks '%s'", _i, err, c->msg);
    unlink(path);
}
END_TEST

START_TEST(load_edges)
{
    char path[64], err[512];
    struct prompts *p = NULL;
    /* CRLF line ends, a byte order mark, white space around the array */
    static const char crlf[] = "\xef\xbb\xbf[{\"role\":\"user\",\"content\":\"a\"}]\r\n\r\n"
                               "# c\r\n  [{\"role\":\"user\",\"content\":\"bb\"}]  \r\n";
    write_temp(path, sizeof path, crlf, sizeof crlf - 1);
    ck_assert_msg(prompts_load(path, &p, err, sizeof err) == 0, "%s", err);
    ck_assert_int_eq(prompts_count(p), 2);
    prompts_free(p);
    /* A NUL byte in a line */
    static const char nul[] = "[{\"role\":\"user\",\"content\":\"a\"}]\n[{\"role\":\"u\0\"}]\n";
    write_temp(path, sizeof path, nul, sizeof nul - 1);
    ck_assert_int_eq(prompts_load(path, &p, err, sizeof err), -EINVAL);
    ck_assert_ptr_nonnull(strstr(err, ":2: a NUL byte"));
    /* A tiny error buffer is filled, truncated and terminated */
    char tiny[12];
    memset(tiny, 'x', sizeof tiny);
    ck_assert_int_eq(prompts_load(path, &p, tiny, sizeof tiny), -EINVAL);
    ck_assert_int_eq(strlen(tiny), sizeof tiny - 1);
    ck_assert_int_eq(prompts_load(path, &p, NULL, 0), -EINVAL);
    unlink(path);
    /* A long line (a big prompt) */
    size_t big = 1 << 20;
    char *text = malloc(big + 64);
    int n = snprintf(text, 64, "[{\"role\":\"user\",\"content\":\"");
    memset(text + n, 'z', big);
    strcpy(text + n + big, "\"}]\n");
    write_temp(path, sizeof path, text, strlen(text));
    free(text);
    ck_assert_int_eq(prompts_load(path, &p, err, sizeof err), 0);
    ck_assert_int_eq(prompts_tokens(p, 0, BODY_CHAT), 3 + 4 + (int64_t)big / 4);
    prompts_free(p);
    unlink(path);
    /* Open errors: -errno, the path and no line */
    ck_assert_int_eq(prompts_load("/nonexistent/p.jsonl", &p, err, sizeof err), -ENOENT);
    ck_assert_str_eq(err, "/nonexistent/p.jsonl: cannot read: No such file or directory "
                          "(expected a JSONL file of messages arrays)");
    ck_assert_int_eq(prompts_load("/", &p, err, sizeof err), -EISDIR);
    ck_assert_ptr_nonnull(strstr(err, "/: cannot read: Is a directory"));
}
END_TEST

int main(void)
{
    Suite *s = suite_create("live_body");
    TCase *tc = tcase_create("body");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, api_of_path);
    tcase_add_loop_test(tc, synthetic_chat_counts, 0, 2);
    tcase_add_loop_test(tc, synthetic_completions_counts, 0, 2);
    tcase_add_test(tc, synthetic_salted);
    tcase_add_test(tc, prompts_file_bodies);
    tcase_add_test(tc, escaping);
    tcase_add_test(tc, buffer_reuse);
    tcase_add_loop_test(tc, load_errors, 0, (int)(sizeof bad / sizeof bad[0]));
    tcase_add_test(tc, load_edges);
    suite_add_tcase(s, tc);
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
