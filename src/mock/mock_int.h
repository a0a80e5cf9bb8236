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

struct bufferevent;
struct evconnlistener;
struct evhttp;
struct evhttp_connection;
struct evhttp_request;
struct conn;

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
    bool done;                   /* the provider finished it: what remains is sending */
    bool malformed;              /* done, and the answer is to break off (a malformed fault) */
    bool sending;                /* a sliced answer's headers are out (stream or large body) */
    bool draining;               /* a slice was handed to libevent; wait for it to be written */
    struct conn *conn;           /* its connection while it may still write, else NULL */
    enum call_deferred deferred; /* what the timer does next */
    uint64_t pid;                /* provider id, 0 when the provider is done with it */
    struct mock_request r;       /* the parsed request */
    struct mock_answer a;        /* what the answer says */
    struct rlinfo rl;            /* rate-limit state at admission, sent on the 200 */
    int64_t submit_us;           /* when it arrived, µs on the mock's timeline */
    int64_t first_token_us;      /* stream pacing: token k at first + k·per_token */
    double per_token_us;         /* decode time per token after the first, µs */
    int64_t next_token;          /* the next token to render (stream or sliced body) */
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

/*
 * Where a connection is in its life, for its deadline and whether it may be
 * closed to make room for a new one (only a WAITING one may).
 */
enum conn_state {
    CONN_PENDING, /* accepted, not yet adopted (the adopt event runs in the same loop turn) */
    CONN_WAITING, /* no request begun: closed at its deadline, or first to make room */
    CONN_READING, /* a request's first bytes arrived: the header timeout runs */
    CONN_BUSY,    /* a request is ours: no deadline but the send timeout on stalled writes */
};

/*
 * One accepted client connection (mock_conn.c). Invariant: a connection is on
 * exactly one list — pending while CONN_PENDING, the idle list while
 * CONN_WAITING, none while READING or BUSY — and in by_fd[fd] once adopted;
 * call is non-NULL only while BUSY.
 */
struct conn {
    struct mock *m;                  /* the server it belongs to */
    struct bufferevent *bev;         /* the bufferevent we gave evhttp for it */
    struct evhttp_connection *evcon; /* evhttp's connection, NULL until adopted */
    int fd;                          /* its socket once adopted, else -1 */
    enum conn_state state;           /* see enum conn_state */
    bool fresh;                      /* no request of it has reached us yet */
    bool watching;                   /* first_byte is pending */
    int busy_reports;                /* first_byte reports while BUSY (on_first_byte) */
    bool flush_queued;               /* on m->flush: a complete answer to write this turn */
    bool timed;                      /* timer (an idle or header deadline) is armed */
    struct call *call;               /* the live call writing to it, told when it closes */
    struct event timer;              /* the idle or header deadline */
    struct event first_byte;         /* readable: a request's first byte (persistent) */
    struct conn *prev, *next;        /* pending, idle or free list */
    struct conn *flush_next;         /* m->flush list */
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
    struct mock *next_server;                /* mock_http_errors.c's list of this process's mocks */
    int64_t max_tokens;                      /* requests asking for more get a 400 */

    /* connections (mock_conn.c) */
    int64_t max_conns;         /* open connections at most (descriptor limit applied) */
    int64_t n_conns;           /* connections open, pending ones included */
    int64_t idle_timeout_us;   /* WAITING after an answer, and stalled writes */
    int64_t header_timeout_us; /* a new connection's first request; READING */
    struct timeval idle_tv_plain, header_tv_plain; /* the two timeouts as timevals */
    const struct timeval *idle_tv, *header_tv;     /* the same as libevent common timeouts */
    struct conn *conn_free;                        /* the connection pool's free list */
    struct conn **conn_slabs;                      /* the pool's blocks */
    int n_conn_slabs;                              /* blocks in conn_slabs */
    struct conn **by_fd;                           /* adopted connections by socket */
    int by_fd_cap;                                 /* entries in by_fd */
    struct conn *pending, *pending_tail;           /* accepted, not yet adopted, in accept order */
    struct conn *idle_head, *idle_tail;            /* WAITING connections, longest waiting first */
    struct event *adopt;                           /* adopts pending connections after the accept */
    struct event *resume;                          /* re-enables accepting after an accept error */
    struct event *flusher;         /* writes queued answers once the turn's requests ran */
    struct conn *flush;            /* connections with a complete answer to write now */
    struct evconnlistener **levs;  /* every listening socket's listener */
    int n_levs;                    /* entries in levs */
    bool accept_paused;            /* held back after an accept error */
    bool limit_paused;             /* held back at the limit until the adopt step */
    bool listening;                /* levs are enabled */
    uint64_t conns_accepted;       /* connections accepted */
    uint64_t conns_refused;        /* closed for the limit before any request was served */
    uint64_t conns_evicted;        /* idle after an answer, closed to make room */
    uint64_t conns_idle_timeout;   /* closed waiting for a request */
    uint64_t conns_header_timeout; /* closed part way through reading a request */
    uint64_t accept_pauses;        /* accept() failures that paused accepting */
    int64_t last_warn_us;          /* when the last accept warning was printed */
    uint64_t warns_suppressed;     /* accept errors since then not printed */
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
/* The registered mock serving http, NULL if none. */
struct mock *mock_of_http(const struct evhttp *http);
/*
 * Whether req's body framing is unambiguous: at most one Content-Length, not
 * both it and Transfer-Encoding, no Transfer-Encoding but a single chunked.
 * Else false with *e filled (400, or 501 for an unknown coding); the answer
 * must close the connection, since the two ends disagree on where req ends.
 */
bool mock_http_framing_ok(struct evhttp_request *req, struct mock_error *e);

/* mock.c: the connection of a live call closed (evcon is going away). */
void mock_call_closed(struct call *c, struct evhttp_connection *evcon);

/* mock_conn.c: connection accounting, deadlines, the limit and accept pauses. */
void mock_conn_init(struct mock *m); /* after m->http exists */
void mock_conn_stop(struct mock *m); /* before evhttp_free: forget the listeners */
void mock_conn_fini(struct mock *m); /* after evhttp_free */
void mock_conn_listener(struct mock *m, struct evconnlistener *lev);
/* The connection a request arrived on, NULL if untracked. */
struct conn *mock_conn_of(struct mock *m, struct evhttp_request *req);
/* A complete request is ours now: no deadline until its answer is sent. */
void mock_conn_request(struct mock *m, struct evhttp_request *req);
/* c's whole answer is queued (evhttp_send_reply): write it later in this loop turn.
 * c from mock_conn_of before the send; NULL does nothing. */
void mock_conn_flush_soon(struct mock *m, struct conn *c);

/* mock_http.c: the evhttp server with its routes; listening. */
#define MOCK_MAX_HEADERS_BYTES (64 * 1024) /* a request's header block, larger gets 400 */
struct evhttp *mock_http_new(struct mock *m);
/* The body size evhttp reads before it refuses a request unread (413), bytes. */
int64_t mock_http_read_limit(const struct mock *m);
int mock_http_listen(struct mock *m, const char *addr, char *bound, size_t n);

#endif
