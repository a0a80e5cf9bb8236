/*
 * check_mock_input: the mock server against bad input and from the outside —
 * malformed and mistyped requests, oversize bodies, unknown paths and methods,
 * raw garbage on the socket, what libevent refuses itself, API keys, and the
 * ratelab binary (scenario file or none, --set, signals, usage errors). The
 * official openai npm client is check_mock_npm.c.
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
#include "mock_proto.h"
#include "testutil.h"
#include "util.h"

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
    {"POST", "/v1/chat/completions", CHAT_BODY("") "x", 400, "null"},
    {"POST", "/v1/chat/completions", CHAT_BODY("") " \r\n{}", 400, "null"},
    {"POST", "/v1/chat/completions", CHAT_BODY("") CHAT_BODY(""), 400, "null"},
    {"POST", "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", 400,
     "missing_required_parameter"},
    {"POST", "/v1/chat/completions", "{\"model\":\"m\"}", 400, "missing_required_parameter"},
    {"POST", "/v1/chat/completions", "{\"model\":7,\"messages\":[]}", 400, "invalid_type"},
    {"POST", "/v1/chat/completions", "{\"model\":\"m\",\"messages\":\"hi\"}", 400, "invalid_type"},
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
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":-1}",
     400, "integer_below_min_value"},
    {"POST", "/v1/chat/completions",
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":1e300}",
     400, "integer_above_max_value"},
    {"POST", "/v1/chat/completions",
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"max_tokens\":2.5}",
     400, "invalid_type"},
    {"POST", "/v1/chat/completions",
     "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],\"n\":3}", 400,
     "unsupported_value"},
    {"POST", "/v1/chat/completions", "{\"model\":\"\",\"messages\":[]}", 400, "invalid_value"},
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
    /* Bytes after the JSON value are named; whitespace after it is not a fault. */
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY("") "x", no_headers, &r);
    ck_assert_msg(strstr(r.body, "1 bytes follow the JSON value") != NULL, "%s", r.body);
    http_resp_free(&r);
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY("") " \r\n\t\n", no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    /* Still serving. */
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

/* A blocking TCP connection to addr ("127.0.0.1:PORT"). */
static int raw_connect(const char *addr)
{
    char host[64];
    snprintf(host, sizeof host, "%s", addr);
    char *colon = strrchr(host, ':');
    *colon = '\0';
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    ck_assert_int_eq(inet_pton(AF_INET, host, &sa.sin_addr), 1);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

/* Send raw bytes on a fresh connection, read what comes back within 0.3 s, close. */
static void raw_exchange(const char *addr, const char *data, size_t len, char *reply, size_t n)
{
    int fd = raw_connect(addr);
    struct timeval tv = {.tv_usec = 300000};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t off = 0;
    while (off < len) {
        ssize_t w = send(fd, data + off, len - off, MSG_NOSIGNAL);
        if (w <= 0)
            break; /* the server may hang up on us first: fine */
        off += (size_t)w;
    }
    ssize_t r = recv(fd, reply, n - 1, 0);
    reply[r > 0 ? r : 0] = '\0';
    close(fd);
}

START_TEST(raw_garbage)
{
    struct test_server s;
    test_server_init(&s);
    test_server_start(&s);
    static const char *const cases[] = {
        "GARBAGE\r\n\r\n",
        "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03 tls hello\r\n\r\n",
        "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: -5\r\n\r\n",
        "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n",
        "POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        "POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 50\r\n\r\n{\"model\":",
        "POST /v1/chat/completions HTTP/9.9\r\n\r\n",
        "POST /v1/chat/completions",
        "GET /%zz%00/../v1/models?x=%ff HTTP/1.1\r\nHost: x\r\n\r\n",
        "",
    };
    char reply[4096];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        raw_exchange(s.addr, cases[i], strlen(cases[i]), reply, sizeof reply);
    /* A header block far over the limit. */
    size_t big = 200 * 1024;
    char *huge = xmalloc(big + 64);
    int hl = snprintf(huge, 64, "GET /health HTTP/1.1\r\nX-Big: ");
    memset(huge + hl, 'a', big);
    memcpy(huge + hl + big, "\r\n\r\n", 4);
    raw_exchange(s.addr, huge, (size_t)hl + big + 4, reply, sizeof reply);
    free(huge);
    /* A chunked body: parsed like any other. */
    const char *chunked = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n"
                          "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
                          "10\r\n{\"model\":\"m\",\"me\r\n"
                          "2f\r\nssages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_t\r\n"
                          "e\r\nokens\":2}     \r\n0\r\n\r\n";
    raw_exchange(s.addr, chunked, strlen(chunked), reply, sizeof reply);
    ck_assert_msg(strncmp(reply, "HTTP/1.1 200", 12) == 0, "%s", reply);
    /* JSON nested 100,000 deep: refused, not a stack overflow. */
    struct http_resp r = {0};
    char *deep = xmalloc(100001);
    memset(deep, '[', 100000);
    deep[100000] = '\0';
    http_do(s.addr, "POST", "/v1/chat/completions", deep, no_headers, &r);
    assert_error(&r, 400, "invalid_request_error", "null");
    http_resp_free(&r);
    free(deep);
    /* Still serving. */
    http_do(s.addr, "GET", "/health", NULL, no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

static long content_length(const char *head);

/* Send raw bytes on a fresh connection and read the answer up to the server's close (5 s at most). */
static void raw_until_close(const char *addr, const char *data, char *reply, size_t n)
{
    int fd = raw_connect(addr);
    struct timeval tv = {.tv_sec = 5};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    size_t len = strlen(data), off = 0;
    while (off < len) {
        ssize_t w = send(fd, data + off, len - off, MSG_NOSIGNAL);
        ck_assert_int_gt(w, 0);
        off += (size_t)w;
    }
    size_t got = 0;
    ssize_t r;
    while (got < n - 1 && (r = recv(fd, reply + got, n - 1 - got, 0)) > 0)
        got += (size_t)r;
    reply[got] = '\0';
    ck_assert_msg(r == 0, "no close after sending %s; got: %s", data, reply);
    close(fd);
}

/*
 * What libevent refuses before the server sees a request, and what the server
 * refuses about a body's framing: each answered in OpenAI's error JSON with the
 * status it deserves, a message naming the fault, and the connection closed.
 */
static const struct {
    const char *send;
    int status;
    const char *message; /* a part of error.message */
} refused[] = {
    {"GARBAGE\r\n\r\n", 400, "request line"},
    {"\x16\x03\x01\x02\x05\x01\x07\x01\xfc\x03\x03 tls hello\r\n\r\n", 400, "request line"},
    {"GET / HTTP/9.9\r\n\r\n", 400, "request line"},
    {"GET /health HTTP/1.1\r\nno colon here\r\n\r\n", 400, "headers"},
    {"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: -5\r\n\r\n", 400,
     "Invalid Content-Length header '-5'"},
    {"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n", 413,
     "Request body too large: 99999999999999999999 bytes"},
    {"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 1e3\r\n\r\n", 400,
     "Invalid Content-Length header '1e3'"},
    {"POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400,
     "chunk size that is not a hexadecimal number"},
    {"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 100000\r\n\r\n", 413,
     "Request body too large: 100000 bytes"},
    {"POST /v1/chat/completions HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 2\r\n\r\n{}", 417,
     "Expect header '200-ok'"},
    {"BREW /v1/models HTTP/1.1\r\n\r\n", 405, "unknown method /v1/models"},
    {"BREW /coffee HTTP/1.1\r\n\r\n", 404, "unknown method /coffee"},
    {"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}x",
     400, "2 Content-Length headers"},
    {"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\n{}",
     400, "2 Content-Length headers"},
    {"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 7\r\n"
     "Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n",
     400, "both Content-Length and Transfer-Encoding"},
    {"POST /v1/chat/completions HTTP/1.1\r\nContent-Length: 5\r\n"
     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     400, "both Content-Length and Transfer-Encoding"},
    {"POST /v1/chat/completions HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n", 501,
     "Unsupported Transfer-Encoding 'gzip'"},
};

START_TEST(refused_in_openai_json)
{
    struct test_server s;
    test_server_init(&s);
    s.opt.max_body_bytes = 1000;
    test_server_start(&s);
    static char reply[16384];
    int by_status[600] = {0};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        raw_until_close(s.addr, refused[i].send, reply, sizeof reply);
        char want[32];
        snprintf(want, sizeof want, "HTTP/1.1 %d ", refused[i].status);
        ck_assert_msg(strncmp(reply, want, strlen(want)) == 0, "case %zu: %s", i, reply);
        char *body = strstr(reply, "\r\n\r\n");
        ck_assert_ptr_nonnull(body);
        *body = '\0';
        body += 4;
        ck_assert_msg(strcasestr(reply, "\r\nContent-Type: application/json") != NULL,
                      "case %zu: %s", i, reply);
        ck_assert_msg(strcasestr(reply, "\r\nConnection: close") != NULL, "case %zu: %s", i,
                      reply);
        ck_assert_int_eq(content_length(reply), (long)strlen(body));
        cJSON *j = cJSON_Parse(body);
        ck_assert_msg(j != NULL, "case %zu: not JSON: %s", i, body);
        ck_assert_str_eq(jstr(j, "error.type"), "invalid_request_error");
        ck_assert_str_eq(jstr(j, "error.param"), "null");
        ck_assert_msg(strstr(jstr(j, "error.message"), refused[i].message) != NULL,
                      "case %zu: message '%s' lacks '%s'", i, jstr(j, "error.message"),
                      refused[i].message);
        cJSON_Delete(j);
        by_status[refused[i].status]++;
    }
    /* Counted with every other answer. */
    struct http_resp r = {0};
    http_do(s.addr, "GET", "/metrics", NULL, no_headers, &r);
    for (int st = 0; st < 600; st++)
        if (by_status[st]) {
            char series[64];
            snprintf(series, sizeof series, "ratelab_mock_responses_total{code=\"%d\"}", st);
            ck_assert_msg(prom_value(r.body, series) == by_status[st], "%s: %g, want %d",
                          series, prom_value(r.body, series), by_status[st]);
        }
    http_resp_free(&r);
    /* Still serving. */
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

/* Read from fd until the end of a header block; returns its length, with the block in buf. */
static size_t read_headers(int fd, char *buf, size_t n)
{
    size_t off = 0;
    while (off < n - 1) {
        ssize_t r = recv(fd, buf + off, 1, 0); /* byte by byte: nothing after the block */
        ck_assert_int_eq(r, 1);
        off++;
        buf[off] = '\0';
        if (off >= 4 && memcmp(buf + off - 4, "\r\n\r\n", 4) == 0)
            return off;
    }
    ck_abort_msg("header block too long: %s", buf);
    return 0;
}

static long content_length(const char *head)
{
    const char *p = strcasestr(head, "\r\nContent-Length:");
    ck_assert_msg(p != NULL, "no Content-Length in %s", head);
    return strtol(p + 17, NULL, 10);
}

/* HEAD on a keep-alive connection: the GET's headers, no body, then the next answer parses. */
START_TEST(head_then_get_keep_alive)
{
    struct test_server s;
    test_server_init(&s);
    test_server_start(&s);
    static const char *const paths[] = {"/v1/models", "/health", "/metrics"};
    for (size_t i = 0; i < sizeof paths / sizeof paths[0]; i++) {
        int fd = raw_connect(s.addr);
        struct timeval tv = {.tv_sec = 5};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char req[256], head[4096], get[4096];
        int l = snprintf(req, sizeof req, "HEAD %s HTTP/1.1\r\nHost: x\r\n\r\n", paths[i]);
        ck_assert_int_eq(send(fd, req, (size_t)l, MSG_NOSIGNAL), l);
        read_headers(fd, head, sizeof head);
        ck_assert_msg(strncmp(head, "HTTP/1.1 200", 12) == 0, "%s", head);
        ck_assert_ptr_nonnull(strcasestr(head, "\r\nContent-Type:"));
        long hl = content_length(head);
        l = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", paths[i]);
        ck_assert_int_eq(send(fd, req, (size_t)l, MSG_NOSIGNAL), l);
        /* A body after the HEAD's headers would show up here instead of a status line. */
        read_headers(fd, get, sizeof get);
        ck_assert_msg(strncmp(get, "HTTP/1.1 200", 12) == 0, "after HEAD %s: %s", paths[i], get);
        long gl = content_length(get);
        if (strcmp(paths[i], "/metrics") != 0) /* metrics move between the two */
            ck_assert_int_eq(hl, gl);
        char *body = xmalloc((size_t)gl + 1);
        long got = 0;
        while (got < gl) {
            ssize_t r = recv(fd, body + got, (size_t)(gl - got), 0);
            ck_assert_int_gt(r, 0);
            got += r;
        }
        free(body);
        close(fd);
    }
    test_server_stop(&s);
}
END_TEST

/* A max_body_bytes beyond the limit through the API is the limit: bodies still get answered. */
START_TEST(max_body_huge_via_api)
{
    static const int64_t huge[] = {(int64_t)1 << 62, INT64_MAX};
    for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
        struct test_server s;
        test_server_init(&s);
        s.opt.max_body_bytes = huge[i];
        test_server_start(&s);
        struct http_resp r = {0};
        http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
        ck_assert_int_eq(r.status, 200);
        http_resp_free(&r);
        test_server_stop(&s);
    }
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

START_TEST(token_estimator)
{
    ck_assert_int_eq(mock_estimate_text_tokens(0), 0);
    ck_assert_int_eq(mock_estimate_text_tokens(1), 1);
    ck_assert_int_eq(mock_estimate_text_tokens(4), 1);
    ck_assert_int_eq(mock_estimate_text_tokens(5), 2);
    struct mock_request rq;
    struct mock_error e;
    const char *body =
        "{\"model\":\"m\",\"messages\":[{\"role\":\"system\",\"content\":\"12345678\"},"
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
    char *argv[] = {"ratelab",          "mock", path, "--listen", "127.0.0.1:0", "--api-key-env",
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
    char *argv[] = {"ratelab", "mock", "--listen", "127.0.0.1:0", "--set", "server.ttft=2ms", NULL};
    char addr[64];
    pid_t pid = spawn_mock(argv, addr, sizeof addr);
    struct http_resp r = {0};
    http_do(addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":2"), no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    ck_assert_int_eq(stop_mock(pid, SIGINT), 0);
}
END_TEST

/* Without a scenario, --set alone configures the mock: no workload class is needed. */
START_TEST(binary_set_without_scenario)
{
    char *argv[] = {"ratelab", "mock", "--listen", "127.0.0.1:0", "--set",
                    "server.tokens_per_minute=1000", NULL};
    char addr[64];
    pid_t pid = spawn_mock(argv, addr, sizeof addr);
    struct http_resp r = {0};
    http_do(addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":100"), no_headers,
            &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    /* The limit the user set is the one enforced: 12 prompt + 2000 can never fit 1000. */
    http_do(addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":2000"), no_headers,
            &r);
    ck_assert_int_eq(r.status, 429);
    ck_assert_msg(strstr(r.body, "Limit 1000, Requested 2012") != NULL, "%s", r.body);
    http_resp_free(&r);
    ck_assert_int_eq(stop_mock(pid, SIGTERM), 0);

    /* A scenario file with only [server] serves too. */
    char dir[] = "/tmp/ratelab-mock-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[128];
    snprintf(path, sizeof path, "%s/server-only.ini", dir);
    FILE *f = fopen(path, "w");
    fputs("[server]\nrequests_per_minute = 1\n", f);
    fclose(f);
    char *argv2[] = {"ratelab", "mock", path, "--listen", "127.0.0.1:0", NULL};
    pid = spawn_mock(argv2, addr, sizeof addr);
    http_do(addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    http_do(addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
    ck_assert_int_eq(r.status, 429);
    http_resp_free(&r);
    ck_assert_int_eq(stop_mock(pid, SIGTERM), 0);
    unlink(path);
    rmdir(dir);
}
END_TEST

/* A bad --set without a scenario: exit 2, and the message speaks only of what was written. */
START_TEST(binary_set_errors_name_the_set)
{
    static const struct {
        const char *args, *want;
    } cases[] = {
        {"--set server.tokens_per_minute=abc",
         "--set server.tokens_per_minute=abc: tokens_per_minute: bad value 'abc'"},
        {"--set server.error_rate=0.7 --set server.reset_rate=0.7",
         "ratelab: the fault shares add up to more than 1"},
        {"--set class.chat.arrival=poisson\\ 1/s",
         "--set class.chat.arrival=poisson 1/s: no [class.chat] section"},
    };
    char dir[] = "/tmp/ratelab-mock-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char err_path[128], cmd[512];
    snprintf(err_path, sizeof err_path, "%s/stderr", dir);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(cmd, sizeof cmd, BUILDDIR "/ratelab mock --listen 127.0.0.1:0 %s 2>%s",
                 cases[i].args, err_path);
        int st = system(cmd);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s: %d", cmd, st);
        char *err = slurp_file(err_path);
        ck_assert_ptr_nonnull(err);
        ck_assert_msg(strncmp(err, cases[i].want, strlen(cases[i].want)) == 0, "%s: got '%s'",
                      cmd, err);
        ck_assert_msg(strstr(err, "mock") == NULL && strstr(err, "(defaults)") == NULL &&
                          strchr(err, '\n') == err + strlen(err) - 1,
                      "%s: speaks of more than was written: '%s'", cmd, err);
        free(err);
    }
    unlink(err_path);
    rmdir(dir);
}
END_TEST

START_TEST(binary_usage_errors)
{
    const char *cmds[] = {
        BUILDDIR "/ratelab mock --listen nonsense >/dev/null 2>&1",
        BUILDDIR "/ratelab mock --api-key-env RATELAB_SURELY_UNSET_VAR >/dev/null 2>&1",
        BUILDDIR "/ratelab mock --max-body x >/dev/null 2>&1",
        /* 2^62: 4x it overflowed; 2^63-1; a float; one past the 1 GiB limit. */
        BUILDDIR "/ratelab mock --max-body 4611686018427387904 >/dev/null 2>&1",
        BUILDDIR "/ratelab mock --max-body 9223372036854775807 >/dev/null 2>&1",
        BUILDDIR "/ratelab mock --max-body 1e30 >/dev/null 2>&1",
        BUILDDIR "/ratelab mock --max-body 1073741825 >/dev/null 2>&1",
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

Suite *mock_input_suite(void);

Suite *mock_input_suite(void)
{
    Suite *s = suite_create("mock input");
    TCase *tc = tcase_create("bad input");
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, bad_requests);
    tcase_add_test(tc, raw_garbage);
    tcase_add_test(tc, refused_in_openai_json);
    tcase_add_test(tc, head_then_get_keep_alive);
    tcase_add_test(tc, max_body_huge_via_api);
    tcase_add_test(tc, api_key);
    tcase_add_test(tc, token_estimator);
    suite_add_tcase(s, tc);

    tc = tcase_create("binary");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, binary_with_scenario_file);
    tcase_add_test(tc, binary_defaults_and_sigint);
    tcase_add_test(tc, binary_set_without_scenario);
    tcase_add_test(tc, binary_set_errors_name_the_set);
    tcase_add_test(tc, binary_usage_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    SRunner *sr = srunner_create(mock_input_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
