/*
 * check_mock_conn: the mock server's connections and the size of its work —
 * idle and header timeouts, the connection limit, running out of descriptors,
 * answers sent a slice at a time with bounded memory, and the max_tokens cap.
 * Servers run in process on 127.0.0.1 with an ephemeral port (the descriptor
 * test in a child process with a lowered RLIMIT_NOFILE). Clients are raw
 * sockets where the test needs a client that says nothing or reads nothing.
 * Deadlines in loops are hang guards only; nothing asserts a duration.
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
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/event.h>

#include "mock_client.h"
#include "mock_proto.h"
#include "util.h"

/* ---- raw clients ------------------------------------------------------- */

/* A blocking TCP connection to "127.0.0.1:PORT"; reads give up after 20 s (a hang guard). */
static int dial(const char *addr)
{
    const char *colon = strrchr(addr, ':');
    ck_assert_ptr_nonnull(colon);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1))};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    struct timeval tv = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    return fd;
}

static void say(int fd, const char *s)
{
    size_t n = strlen(s);
    ck_assert_int_eq(send(fd, s, n, MSG_NOSIGNAL), (ssize_t)n);
}

/* Read until the end of a header block ("\r\n\r\n"); the answers read this way have no body. */
static void read_head(int fd)
{
    char buf[4096];
    size_t n = 0;
    while (n < sizeof buf - 1) {
        ssize_t k = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        ck_assert_msg(k > 0, "connection ended before the answer: %zd", k);
        n += (size_t)k;
        buf[n] = '\0';
        if (strstr(buf, "\r\n\r\n"))
            return;
    }
    ck_abort_msg("header block too long");
}

/* Whether the server closes fd (EOF or reset) before the 20 s guard. */
static bool closed_by_server(int fd)
{
    char b[512];
    for (;;) {
        ssize_t k = recv(fd, b, sizeof b, 0);
        if (k == 0 || (k < 0 && errno == ECONNRESET))
            return true;
        if (k < 0)
            return false; /* the guard ran out */
    }
}

static double metric(const char *addr, const char *series)
{
    struct http_resp r = {0};
    http_do(addr, "GET", "/metrics", NULL, no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    double v = prom_value(r.body, series);
    http_resp_free(&r);
    return v;
}

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    ck_assert_ptr_nonnull(f);
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    fclose(f);
    return kb;
}

static const char health[] = "GET /health HTTP/1.1\r\nHost: t\r\n\r\n";

/* ---- rendering in parts ------------------------------------------------ */

START_TEST(body_in_parts_is_the_body)
{
    struct mock_request rq = {.api = MOCK_API_CHAT, .prompt_tokens = 3};
    snprintf(rq.model, sizeof rq.model, "m");
    int64_t sizes[] = {0, 1, 15, 16, 17, 4096, 100003};
    for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
        int64_t n = sizes[i];
        struct mock_answer a = {.req = &rq, .id = 7, .created_s = 1, .completion_tokens = n};
        struct evbuffer *whole = evbuffer_new(), *parts = evbuffer_new(), *content = evbuffer_new();
        mock_render_body(whole, &a);
        mock_render_body_head(parts, &a);
        for (int64_t k = 0; k < n; k += 1000)
            mock_render_body_content(parts, k, k + 1000 < n ? k + 1000 : n);
        mock_render_body_tail(parts, &a);
        mock_render_body_content(content, 0, n);
        ck_assert_int_eq(evbuffer_get_length(whole), evbuffer_get_length(parts));
        ck_assert(memcmp(evbuffer_pullup(whole, -1), evbuffer_pullup(parts, -1),
                         evbuffer_get_length(whole)) == 0);
        ck_assert_int_eq((int64_t)evbuffer_get_length(content), mock_content_bytes(n));
        evbuffer_free(whole);
        evbuffer_free(parts);
        evbuffer_free(content);
    }
}
END_TEST

/* ---- timeouts ---------------------------------------------------------- */

START_TEST(idle_and_header_timeouts)
{
    struct test_server s;
    test_server_init(&s);
    s.opt.idle_timeout_us = 200 * US_PER_MS;
    s.opt.header_timeout_us = 300 * US_PER_MS;
    s.sc.server.ttft_base_us = 700 * US_PER_MS; /* longer than both: answers are not cut */
    test_server_start(&s);

    int kept = dial(s.addr); /* an answer, then silence: the idle timeout */
    say(kept, health);
    read_head(kept);
    int partial = dial(s.addr); /* half a request: the header timeout */
    say(partial, "GET /health HTTP/1.1\r\nHost: t\r\n");
    int silent = dial(s.addr); /* connects and says nothing: the header timeout */
    struct http_resp r = {0};
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":3"), no_headers, &r);
    ck_assert_int_eq(r.status, 200); /* slower than both timeouts, still answered */
    http_resp_free(&r);
    ck_assert(closed_by_server(kept));
    ck_assert(closed_by_server(partial));
    ck_assert(closed_by_server(silent));
    close(kept);
    close(partial);
    close(silent);
    ck_assert(metric(s.addr, "ratelab_mock_connections_closed_total{reason=\"idle_timeout\"}") ==
              1);
    ck_assert(metric(s.addr, "ratelab_mock_connections_closed_total{reason=\"header_timeout\"}") ==
              2);
    ck_assert(metric(s.addr, "ratelab_mock_connections_closed_total{reason=\"evicted\"}") == 0);
    test_server_stop(&s);
}
END_TEST

/* A request that starts near the end of the idle wait gets the header timeout from its first byte.
 */
START_TEST(request_begun_while_idle_is_not_cut)
{
    struct test_server s;
    test_server_init(&s);
    s.opt.idle_timeout_us = 300 * US_PER_MS;
    s.opt.header_timeout_us = 20 * US_PER_S;
    test_server_start(&s);
    int fd = dial(s.addr);
    say(fd, health);
    read_head(fd);
    say(fd, "GET /health HTTP/1.1\r\n");
    usleep(600 * 1000); /* past the idle timeout, well within the header timeout */
    say(fd, "Host: t\r\n\r\n");
    read_head(fd);
    close(fd);
    ck_assert(metric(s.addr, "ratelab_mock_connections_closed_total{reason=\"idle_timeout\"}") ==
              0);
    test_server_stop(&s);
}
END_TEST

/* ---- the connection limit ---------------------------------------------- */

START_TEST(limit_closes_idle_then_refuses)
{
    struct test_server s;
    test_server_init(&s);
    s.opt.max_connections = 3;
    test_server_start(&s);
    int fd[4];
    for (int i = 0; i < 3; i++) {
        fd[i] = dial(s.addr);
        say(fd[i], health);
        read_head(fd[i]); /* answered, so idle */
    }
    /* A fourth connection: the longest idle one makes room. */
    struct http_resp r = {0};
    http_do(s.addr, "GET", "/health", NULL, no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    ck_assert(closed_by_server(fd[0]));
    close(fd[0]);
    /* Three connections part way through a request: none idle, so a fourth is refused. */
    say(fd[1], "GET /health HTTP/1.1\r\n");
    say(fd[2], "GET /health HTTP/1.1\r\n");
    fd[3] = dial(s.addr);
    say(fd[3], "GET /health HTTP/1.1\r\n");
    usleep(50 * 1000); /* let the server read them (order only; no timing is asserted) */
    r = (struct http_resp){.timeout_ms = 5000};
    http_do(s.addr, "GET", "/health", NULL, no_headers, &r);
    ck_assert_int_eq(r.status, 0);
    http_resp_free(&r);
    close(fd[3]);
    /* A slot is free again once the server sees the close. */
    double refused = -1;
    for (int i = 0; i < 200 && refused < 0; i++) {
        r = (struct http_resp){.timeout_ms = 5000};
        http_do(s.addr, "GET", "/metrics", NULL, no_headers, &r);
        if (r.status == 200) {
            refused = prom_value(r.body, "ratelab_mock_connections_refused_total");
            ck_assert(prom_value(r.body,
                                 "ratelab_mock_connections_closed_total{reason=\"evicted\"}") == 1);
            ck_assert(prom_value(r.body, "ratelab_mock_connections_limit") == 3);
        }
        http_resp_free(&r);
        if (refused < 0)
            usleep(10 * 1000);
    }
    ck_assert(refused >= 1);
    say(fd[1], "Host: t\r\n\r\n"); /* the half-sent requests still complete */
    read_head(fd[1]);
    close(fd[1]);
    close(fd[2]);
    test_server_stop(&s);
}
END_TEST

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

/*
 * The case: 100 idle clients and a descriptor limit of 64. The server
 * runs in a child with RLIMIT_NOFILE 64 and its stderr in a file; /health must
 * be answered while all 100 stay connected, and stderr must stay a few lines.
 */
START_TEST(more_clients_than_descriptors)
{
    char errpath[] = "/tmp/ratelab-mock-conn-XXXXXX";
    int errfd = mkstemp(errpath);
    ck_assert_int_ge(errfd, 0);
    int ready[2], stop[2];
    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(stop), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct rlimit rl = {.rlim_cur = 64, .rlim_max = 64};
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            _exit(3);
        dup2(errfd, STDERR_FILENO);
        struct test_server s;
        test_server_init(&s);
        s.opt.idle_timeout_us = 60 * US_PER_S;
        s.opt.header_timeout_us = 60 * US_PER_S;
        s.base = event_base_new();
        s.m = mock_new(s.base, &s.sc, &s.opt);
        if (mock_listen(s.m, "127.0.0.1:0", s.addr, sizeof s.addr) != 0)
            _exit(4);
        struct event *ev = event_new(s.base, stop[0], EV_READ, on_stop, s.base);
        event_add(ev, NULL);
        if (write(ready[1], s.addr, sizeof s.addr) != (ssize_t)sizeof s.addr)
            _exit(5);
        event_base_dispatch(s.base);
        event_free(ev);
        mock_free(s.m);
        event_base_free(s.base);
        scenario_fini(&s.sc);
        _exit(0);
    }
    char addr[64];
    ck_assert_int_eq(read(ready[0], addr, sizeof addr), (ssize_t)sizeof addr);
    int fds[100];
    for (int i = 0; i < 100; i++)
        fds[i] = dial(addr); /* the kernel completes them; the server takes what it can */
    struct http_resp r = {.timeout_ms = 15000};
    http_do(addr, "GET", "/health", NULL, no_headers, &r);
    ck_assert_msg(r.status == 200, "/health: status %ld, curl %d", r.status, r.curl_rc);
    http_resp_free(&r);
    r = (struct http_resp){.timeout_ms = 15000};
    http_do(addr, "GET", "/metrics", NULL, no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    double limit = prom_value(r.body, "ratelab_mock_connections_limit");
    double open_ = prom_value(r.body, "ratelab_mock_connections_open");
    double refused = prom_value(r.body, "ratelab_mock_connections_refused_total");
    double evicted =
        prom_value(r.body, "ratelab_mock_connections_closed_total{reason=\"evicted\"}");
    ck_assert(limit == 64 - MOCK_FD_RESERVE);
    ck_assert(open_ >= 1 && open_ <= limit);
    /* All 102 were accepted (the queue is FIFO); the server closed all but the open ones and
     * /health's, which the client closed. */
    ck_assert(prom_value(r.body, "ratelab_mock_connections_accepted_total") == 102);
    ck_assert_msg(refused + evicted >= 102 - 1 - open_, "refused %g evicted %g open %g", refused,
                  evicted, open_);
    http_resp_free(&r);
    for (int i = 0; i < 100; i++)
        close(fds[i]);
    ck_assert_int_eq(write(stop[1], "x", 1), 1);
    int st;
    waitpid(pid, &st, 0);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    off_t errlen = lseek(errfd, 0, SEEK_END);
    ck_assert_msg(errlen < 2048, "stderr grew to %ld bytes", (long)errlen);
    close(errfd);
    unlink(errpath);
    close(ready[0]);
    close(ready[1]);
    close(stop[0]);
    close(stop[1]);
}
END_TEST

/* The child's hog descriptors, closed when the parent says so (release pipe). */
struct hog {
    int fds[64];
    int n;
};

static void on_release(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct hog *h = arg;
    for (int i = 0; i < h->n; i++)
        close(h->fds[i]);
    h->n = 0;
}

/*
 * accept() itself failing: descriptors used up by something else (here the
 * child holds them), so the server's own limit does not help. Accepting must
 * pause and retry with a single warning line, not one per loop wake-up, and
 * resume once descriptors are free again.
 */
START_TEST(accept_pauses_when_out_of_descriptors)
{
    char errpath[] = "/tmp/ratelab-mock-emfile-XXXXXX";
    int errfd = mkstemp(errpath);
    ck_assert_int_ge(errfd, 0);
    int ready[2], release[2], stop[2];
    ck_assert_int_eq(pipe(ready), 0);
    ck_assert_int_eq(pipe(release), 0);
    ck_assert_int_eq(pipe(stop), 0);
    pid_t pid = fork();
    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        struct rlimit rl = {.rlim_cur = 64, .rlim_max = 64};
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0)
            _exit(3);
        dup2(errfd, STDERR_FILENO);
        struct test_server s;
        test_server_init(&s);
        s.base = event_base_new();
        s.m = mock_new(s.base, &s.sc, &s.opt);
        if (mock_listen(s.m, "127.0.0.1:0", s.addr, sizeof s.addr) != 0)
            _exit(4);
        struct event *ev = event_new(s.base, stop[0], EV_READ, on_stop, s.base);
        struct hog h = {.n = 0};
        struct event *rel = event_new(s.base, release[0], EV_READ, on_release, &h);
        event_add(ev, NULL);
        event_add(rel, NULL);
        while (h.n < 64 && (h.fds[h.n] = dup(STDIN_FILENO)) >= 0)
            h.n++; /* every descriptor left */
        if (write(ready[1], s.addr, sizeof s.addr) != (ssize_t)sizeof s.addr)
            _exit(5);
        event_base_dispatch(s.base);
        event_free(ev);
        event_free(rel);
        mock_free(s.m);
        event_base_free(s.base);
        scenario_fini(&s.sc);
        _exit(0);
    }
    char addr[64];
    ck_assert_int_eq(read(ready[0], addr, sizeof addr), (ssize_t)sizeof addr);
    int fds[5];
    for (int i = 0; i < 5; i++)
        fds[i] = dial(addr); /* queued by the kernel; the server cannot take them */
    usleep(1200 * 1000);     /* a few 500 ms retries, all failing (order only, nothing timed) */
    ck_assert_int_eq(write(release[1], "x", 1), 1);
    struct http_resp r = {.timeout_ms = 15000};
    http_do(addr, "GET", "/metrics", NULL, no_headers, &r);
    ck_assert_msg(r.status == 200, "/metrics: status %ld, curl %d", r.status, r.curl_rc);
    double errors = prom_value(r.body, "ratelab_mock_accept_errors_total");
    ck_assert_msg(errors >= 2, "accept errors %g", errors);
    ck_assert(prom_value(r.body, "ratelab_mock_connections_accepted_total") >= 6);
    http_resp_free(&r);
    for (int i = 0; i < 5; i++)
        close(fds[i]);
    ck_assert_int_eq(write(stop[1], "x", 1), 1);
    int st;
    waitpid(pid, &st, 0);
    ck_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char text[4096];
    ssize_t n = pread(errfd, text, sizeof text - 1, 0);
    ck_assert_int_ge(n, 1);
    text[n] = '\0';
    int lines = 0;
    for (ssize_t i = 0; i < n; i++)
        lines += text[i] == '\n';
    ck_assert_msg(lines == 1 && strstr(text, "accept: Too many open files"), "stderr: %s", text);
    close(errfd);
    unlink(errpath);
    close(ready[0]);
    close(ready[1]);
    close(release[0]);
    close(release[1]);
    close(stop[0]);
    close(stop[1]);
}
END_TEST

/* ---- bounded work per answer ------------------------------------------- */

/*
 * Half a million stream tokens due at once (no decode time) to a client that
 * reads nothing: rendered whole that is about 90 MB. The server must hold only
 * a slice, answer others meanwhile, and deliver every event once read.
 */
START_TEST(huge_stream_to_a_client_that_does_not_read)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.server.decode_us_per_token = 0;
    s.opt.max_tokens = 1000000;
    test_server_start(&s);
    long rss0 = rss_kb();
    int fd = dial(s.addr);
    const char body[] = CHAT_BODY(",\"stream\":true,\"max_tokens\":500000");
    char req[512];
    snprintf(req, sizeof req,
             "POST /v1/chat/completions HTTP/1.0\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    say(fd, req);
    /* Other clients are served while that answer waits for its reader. */
    for (int i = 0; i < 20; i++) {
        struct http_resp r = {.timeout_ms = 10000};
        http_do(s.addr, "GET", "/health", NULL, no_headers, &r);
        ck_assert_int_eq(r.status, 200);
        http_resp_free(&r);
        usleep(10 * 1000);
    }
    ck_assert(metric(s.addr, "ratelab_mock_in_flight") == 1);
    long grown = rss_kb() - rss0;
    ck_assert_msg(grown < 24 * 1024, "RSS grew by %ld kB", grown);
    /* Now read it all: every token's event, the finish, [DONE]. */
    static const char pat[] = "data: ";
    size_t match = 0, events = 0, done = 0;
    char buf[65536];
    const char *dm = "[DONE]";
    size_t dmatch = 0;
    for (;;) {
        ssize_t k = recv(fd, buf, sizeof buf, 0);
        ck_assert_msg(k >= 0, "recv: %s", strerror(errno));
        if (k == 0)
            break;
        for (ssize_t i = 0; i < k; i++) {
            match = buf[i] == pat[match] ? match + 1 : (buf[i] == pat[0] ? 1 : 0);
            if (match == sizeof pat - 1) {
                events++;
                match = 0;
            }
            dmatch = buf[i] == dm[dmatch] ? dmatch + 1 : (buf[i] == dm[0] ? 1 : 0);
            if (dmatch == 6) {
                done++;
                dmatch = 0;
            }
        }
    }
    close(fd);
    ck_assert_int_eq(events, 1 + 500000 + 1 + 1); /* role, tokens, finish, [DONE] */
    ck_assert_int_eq(done, 1);
    test_server_stop(&s);
}
END_TEST

/* A client that stops reading is dropped after the idle timeout, its call released. */
START_TEST(stalled_reader_is_dropped)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.server.decode_us_per_token = 0;
    s.opt.max_tokens = 1000000;
    s.opt.idle_timeout_us = 300 * US_PER_MS;
    test_server_start(&s);
    int fd = dial(s.addr);
    const char body[] = CHAT_BODY(",\"stream\":true,\"max_tokens\":1000000");
    char req[512];
    snprintf(req, sizeof req,
             "POST /v1/chat/completions HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
             "Content-Length: %zu\r\n\r\n%s",
             strlen(body), body);
    say(fd, req);
    double in_flight = -1;
    for (int i = 0; i < 1000 && in_flight != 0; i++) {
        usleep(10 * 1000);
        in_flight = metric(s.addr, "ratelab_mock_in_flight");
    }
    ck_assert(in_flight == 0);
    ck_assert(closed_by_server(fd));
    close(fd);
    test_server_stop(&s);
}
END_TEST

START_TEST(large_body_sent_in_slices)
{
    struct test_server s;
    test_server_init(&s);
    s.sc.server.decode_us_per_token = 0;
    test_server_start(&s);
    struct http_resp r = {0};
    http_do(s.addr, "POST", "/v1/completions",
            "{\"model\":\"m1\",\"prompt\":\"hi\",\"max_tokens\":131072}", no_headers, &r);
    ck_assert_int_eq(r.status, 200);
    cJSON *j = json_of(&r);
    ck_assert_str_eq(jstr(j, "usage.completion_tokens"), "131072");
    ck_assert_str_eq(jstr(j, "choices.0.finish_reason"), "length");
    ck_assert_int_eq((int64_t)strlen(jstr(j, "choices.0.text")), mock_content_bytes(131072));
    char len[32];
    ck_assert_ptr_nonnull(http_header(&r, "Content-Length", len, sizeof len));
    ck_assert_int_eq(atol(len), (long)r.len);
    cJSON_Delete(j);
    http_resp_free(&r);
    /* The next answer on the server is whole too. */
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":5000"), no_headers,
            &r);
    ck_assert_int_eq(r.status, 200);
    j = json_of(&r);
    ck_assert_str_eq(jstr(j, "usage.completion_tokens"), "5000");
    cJSON_Delete(j);
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

START_TEST(max_tokens_cap)
{
    struct test_server s;
    test_server_init(&s);
    s.opt.max_tokens = 1000;
    test_server_start(&s);
    struct http_resp r = {0};
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":1001"), no_headers,
            &r);
    assert_error(&r, 400, "invalid_request_error", "invalid_value");
    cJSON *j = json_of(&r);
    ck_assert_str_eq(jstr(j, "error.param"), "max_tokens");
    ck_assert_ptr_nonnull(strstr(jstr(j, "error.message"), "at most 1000 completion tokens"));
    cJSON_Delete(j);
    http_resp_free(&r);
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_completion_tokens\":1001"),
            no_headers, &r);
    ck_assert_int_eq(r.status, 400);
    http_resp_free(&r);
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":1000"), no_headers,
            &r);
    ck_assert_int_eq(r.status, 200);
    http_resp_free(&r);
    test_server_stop(&s);
    /* The default cap. */
    test_server_init(&s);
    test_server_start(&s);
    http_do(s.addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":131073"), no_headers,
            &r);
    assert_error(&r, 400, "invalid_request_error", "invalid_value");
    http_resp_free(&r);
    test_server_stop(&s);
}
END_TEST

START_TEST(option_usage_errors)
{
    const char *cmds[] = {
        BUILDDIR "/ratelab mock --max-tokens 0 >/dev/null 2>&1",
        BUILDDIR "/ratelab mock --max-tokens 1000000001 >/dev/null 2>&1",
        BUILDDIR "/ratelab mock --max-tokens 9223372036854775808 >/dev/null 2>&1",
        BUILDDIR "/ratelab mock --max-tokens x >/dev/null 2>&1",
        BUILDDIR "/ratelab mock --idle-timeout 0 >/dev/null 2>&1",
        BUILDDIR "/ratelab mock --idle-timeout 5 >/dev/null 2>&1",
        BUILDDIR "/ratelab mock --idle-timeout 2d >/dev/null 2>&1",
        BUILDDIR "/ratelab mock --idle-timeout 99999999999999999999s >/dev/null 2>&1",
        BUILDDIR "/ratelab mock --header-timeout -1s >/dev/null 2>&1",
        BUILDDIR "/ratelab mock --max-connections 0 >/dev/null 2>&1",
        BUILDDIR "/ratelab mock --max-connections 10000001 >/dev/null 2>&1",
        BUILDDIR "/ratelab mock --max-connections 99999999999999999999 >/dev/null 2>&1",
    };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        int st = system(cmds[i]);
        ck_assert_msg(WIFEXITED(st) && WEXITSTATUS(st) == 2, "%s: %d", cmds[i], st);
    }
}
END_TEST

Suite *mock_conn_suite(void);

Suite *mock_conn_suite(void)
{
    Suite *s = suite_create("mock_conn");
    TCase *tc = tcase_create("connections");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, body_in_parts_is_the_body);
    tcase_add_test(tc, idle_and_header_timeouts);
    tcase_add_test(tc, request_begun_while_idle_is_not_cut);
    tcase_add_test(tc, limit_closes_idle_then_refuses);
    tcase_add_test(tc, more_clients_than_descriptors);
    tcase_add_test(tc, accept_pauses_when_out_of_descriptors);
    tcase_add_test(tc, huge_stream_to_a_client_that_does_not_read);
    tcase_add_test(tc, stalled_reader_is_dropped);
    tcase_add_test(tc, large_body_sent_in_slices);
    tcase_add_test(tc, max_tokens_cap);
    tcase_add_test(tc, option_usage_errors);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    SRunner *sr = srunner_create(mock_conn_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    curl_global_cleanup();
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
