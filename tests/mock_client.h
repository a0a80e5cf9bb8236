/*
 * mock_client: test helpers for check_mock — an in-process mock server on its
 * own thread and event loop, and a small libcurl client (one request, or many
 * at once through curl multi) that keeps status, headers and body.
 */
#ifndef RATELAB_TESTS_MOCK_CLIENT_H
#define RATELAB_TESTS_MOCK_CLIENT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "mock.h"
#include "scenario.h"

/* A condition on the server's state, evaluated on its own thread (mock_int.h's fields). */
typedef bool (*test_server_cond)(const struct mock *m, void *arg);

struct test_server {
    struct scenario sc; /* fill after test_server_init, before test_server_start */
    struct mock_options opt;
    struct event_base *base;
    mock *m;
    pthread_t thread;
    int stop_pipe[2];
    struct event *stop; /* fires when stop_pipe is written */
    int poke_pipe[2];
    struct event *poke; /* fires when poke_pipe is written: a loop turn to check a condition */
    bool stopping;      /* the loop ends after this turn (server thread only) */
    pthread_mutex_t lock; /* guards until, until_arg, met */
    pthread_cond_t changed; /* signalled when met becomes true */
    test_server_cond until; /* the condition test_server_wait waits for, NULL = none */
    void *until_arg;
    bool met;
    char addr[64];      /* "127.0.0.1:PORT" once started */
};

/* Defaults with tiny latencies: 1 ms to first token, 0.1 ms per token, no limits. */
void test_server_init(struct test_server *s);
/* Listen on 127.0.0.1:0 and run the loop on a thread. */
void test_server_start(struct test_server *s);
/* test_server_init, the scenario file ini's [server] (and classes) loaded, then start. */
void test_server_start_ini(struct test_server *s, const char *ini);
/* Stop the loop, join, free everything (LeakSanitizer sees the rest). */
void test_server_stop(struct test_server *s);
/*
 * Wait until cond(m, arg) holds: it is evaluated on the server's thread after
 * every turn of its loop (and once at the call), so the test wakes on the event
 * that made it true, without polling or sleeping. Returns false if it still
 * does not hold after timeout_ms (a guard against hangs, not a timing).
 */
bool test_server_wait(struct test_server *s, test_server_cond cond, void *arg, long timeout_ms);

struct http_resp {
    int curl_rc; /* CURLcode */
    long status; /* 0 when no answer */
    char *body;  /* NUL-terminated, owned */
    size_t len;
    char *headers; /* raw header block, NUL-terminated, owned */
    size_t headers_len;
    int abort_after; /* > 0: hang up once this many body bytes arrived */
    long timeout_ms; /* > 0: give up after this long (default 20 s) */
};

/*
 * method "GET"/"POST"/...; body NULL for none; headers NULL-terminated list of
 * "Name: value" or NULL. The URL is "http://ADDR" path.
 */
void http_do(const char *addr, const char *method, const char *path, const char *body,
             const char *const *headers, struct http_resp *r);

/* n POSTs of the same body at once (curl multi), each answer in r[i]. */
void http_many(const char *addr, const char *path, const char *body, int n, struct http_resp *r);

/* A header's value (case-insensitive name) copied into buf, or NULL if absent. */
const char *http_header(const struct http_resp *r, const char *name, char *buf, size_t n);

void http_resp_free(struct http_resp *r);

/* The value of one metric line in Prometheus text ("name{labels} value"), -1 if absent. */
double prom_value(const char *text, const char *series);
/* prom_value of the server's /metrics now. */
double test_server_metric(const struct test_server *s, const char *series);

/*
 * Start s with a [live] model name that needs escaping in a label
 * (we"ird\mo<newline>del), a class of 2-token completions and 3 requests per
 * minute, then send it answers of every kind: 2 stop, 1 length (200s), a 429
 * and a 404. For tests of /metrics.
 */
void metrics_server_start(struct test_server *s);

/*
 * Fail unless text is a Prometheus text exposition (0.0.4) keeping the rules
 * scrapers and promtool rely on: every family has one # HELP and one # TYPE
 * before its samples, its samples in one group; counters end in _total;
 * names and label names are well-formed, label values escape only \\, \" and
 * \n, no label twice; no series twice; every value a number.
 */
void assert_exposition(const char *text);
/* The same rules as a predicate: false with the first broken rule in why (n bytes). */
bool exposition_ok(const char *text, char *why, size_t n);

/* A chat completion body with extra JSON members spliced in (",\"k\":v" or ""). */
#define CHAT_BODY(extra)                                                                           \
    "{\"model\":\"m1\",\"messages\":[{\"role\":\"user\",\"content\":\"Hello there, "               \
    "mock!\"}]" extra "}"

extern const char *const no_headers[];

/* The JSON body of r, which must parse (fails the test otherwise). Free with cJSON_Delete. */
struct cJSON *json_of(const struct http_resp *r);

/* The value at a dotted path ("choices.0.message.role") as text: strings as they are,
 * numbers as integers, null as "null"; NULL when absent. Numbers share a static buffer. */
const char *jstr(const struct cJSON *o, const char *path);

/* Whether s[0..n) is well-formed UTF-8 (RFC 3629), checked independently of the mock's code. */
bool utf8_valid(const char *s, size_t n);

/* Fail unless text is valid UTF-8 and parses as JSON (cJSON). */
void assert_json_utf8(const char *text);

/* An OpenAI-style error body with this status and type, and code unless NULL ("null" for null). */
void assert_error(const struct http_resp *r, long status, const char *type, const char *code);

#endif
