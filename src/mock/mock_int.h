/*
 * mock_int: the mock server's internals, shared by mock.c (calls, the provider
 * and their timers) and mock_http.c (listening, routing, the small endpoints).
 * Not part of the mock's contract; include only from src/mock*.c and the
 * mock's tests (which read its state to wait for it, tests/mock_client.h).
 */
#ifndef RATELAB_MOCK_INT_H
#define RATELAB_MOCK_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <event2/event_struct.h>

#include "mock.h"
#include "mock_prom.h"
#include "mock_proto.h"
#include "provider.h"
#include "rlinfo.h"
#include "rng.h"
#include "workload.h"

struct evhttp;
struct evhttp_request;

#define MOCK_STATUS_MAX 600

/* What a call's timer does next, besides pacing a stream. */
enum call_deferred {
    DEFER_NONE,  /* pace stream tokens */
    DEFER_RESET, /* reset the connection (a reset fault drawn at submit) */
    DEFER_GONE,  /* the connection closed under us: release the call */
};

/*
 * One completion request the provider accepted, from submit to its last byte.
 * Invariant: a call is live (on mock.live) exactly while it has a provider id
 * or a connection-level action pending; pid != 0 only while the provider still
 * has it; req is NULL once libevent owns or freed it, and detached means
 * libevent handed it to us (the connection failed) to free.
 */
struct call {
    struct mock *m;              /* the server it belongs to */
    struct evhttp_request *req;  /* the client's request, NULL once gone */
    bool detached;               /* req outlived its connection: ours to free */
    bool live;                   /* linked on m->live */
    bool stream_started;         /* stream headers sent */
    enum call_deferred deferred; /* what the timer does next */
    uint64_t pid;                /* provider id, 0 when the provider is done with it */
    struct mock_request r;       /* the parsed request */
    struct mock_answer a;        /* what the answer says */
    struct rlinfo rl;            /* rate-limit state at admission, sent on the 200 */
    int64_t submit_us;           /* when it arrived, µs on the mock's timeline */
    int64_t first_token_us;      /* stream pacing: token k at first + k·per_token */
    double per_token_us;         /* decode time per token after the first, µs */
    int64_t next_token;          /* the next stream token to send */
    struct event timer;          /* stream pacing and deferred actions */
    struct event watch;          /* until the answer starts: EOF on the client's socket */
    bool watching;               /* watch is pending */
    struct call *prev, *next;    /* live list; next links the free list */
};

/* Why an accepted request ended, as vLLM's vllm:request_success_total{finished_reason} says. */
enum mock_finish {
    MOCK_FINISH_STOP,   /* the completion ended before max_tokens */
    MOCK_FINISH_LENGTH, /* it ran to max_tokens */
    MOCK_FINISH_ABORT,  /* the client hung up first (ratelab_mock_client_cancelled_total) */
    MOCK_FINISH_N,
};

struct mock {
    struct event_base *base;             /* borrowed */
    struct evhttp *http;                 /* the HTTP server (mock_http.c) */
    const struct scenario *sc;           /* borrowed */
    provider *prov;                      /* the shared provider model: limits, capacity, faults */
    workload **classes;                  /* one per scenario class, in scenario order:
                                            completion-length draws */
    int n_classes;                       /* entries in classes (sc->n_classes at start) */
    char *api_key;                       /* required Bearer token, NULL = none */
    int64_t max_body;                    /* bytes */
    int64_t epoch_offset_us;             /* Unix time minus CLOCK_MONOTONIC at start */
    struct event *tick;                  /* fires at the provider's next event */
    int64_t tick_at_us;                  /* when tick is armed for, TIME_NEVER when not */
    struct evbuffer *scratch;            /* stream chunks are rendered here, then moved */
    struct call *live;                   /* calls in flight */
    int64_t n_live;                      /* calls on live */
    struct call *free_calls;             /* the pool's free list */
    struct call **slabs;                 /* the pool's blocks, freed at the end */
    int n_slabs;                         /* blocks in slabs */
    uint64_t next_id;                    /* answer ids */
    int64_t client_gone;                 /* requests cancelled because the client hung up */
    uint64_t finished[MOCK_FINISH_N];    /* accepted requests that ended, by why */
    uint64_t by_status[MOCK_STATUS_MAX]; /* answers sent, by HTTP status */
    struct prom_hist h_ttft, h_e2e, h_queue; /* vLLM's histograms, seconds */
    struct mock *next_server;            /* mock_http_errors.c's list of this process's mocks */
};

/* The mock's clock: CLOCK_MONOTONIC shifted to the Unix epoch at start, µs. */
int64_t mock_now_us(const struct mock *m);

/* Send the request's output buffer (headers already added) as a complete answer. */
void mock_send(struct mock *m, struct evhttp_request *req, int status);
void mock_send_error(struct mock *m, struct evhttp_request *req, const struct mock_error *e);

/* Add the configured style's rate-limit headers for rl, as of at_us (Unix-aligned µs). */
void mock_add_rl_headers(struct mock *m, struct evhttp_request *req, const struct rlinfo *rl,
                         int64_t at_us);

/* Answer a 429 for d (PROVIDER_RATE_LIMITED) in OpenAI's words, with the headers. */
void mock_reply_limited(struct mock *m, struct evhttp_request *req, const struct mock_request *r,
                        int64_t completion, const struct provider_decision *d, int64_t now);

/* POST /v1/chat/completions and /v1/completions, after routing and authentication. */
void mock_serve_completion(struct mock *m, struct evhttp_request *req, enum mock_api api);

/* mock_http_errors.c: libevent's own error answers in OpenAI's JSON, counted in m's
 * metrics while m is registered (from mock_http_new until mock_free). */
void mock_http_errors_register(struct mock *m);
void mock_http_errors_forget(struct mock *m);
/*
 * Whether req's body framing is unambiguous: at most one Content-Length, not
 * both it and Transfer-Encoding, no Transfer-Encoding but a single chunked.
 * Else false with *e filled (400, or 501 for an unknown coding); the answer
 * must close the connection, since the two ends disagree on where req ends.
 */
bool mock_http_framing_ok(struct evhttp_request *req, struct mock_error *e);

/* mock_http.c: the evhttp server with its routes; listening. */
#define MOCK_MAX_HEADERS_BYTES (64 * 1024) /* a request's header block, larger gets 400 */
struct evhttp *mock_http_new(struct mock *m);
/* The body size evhttp reads before it refuses a request unread (413), bytes. */
int64_t mock_http_read_limit(const struct mock *m);
int mock_http_listen(struct mock *m, const char *addr, char *bound, size_t n);

#endif
