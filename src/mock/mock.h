/*
 * mock: an OpenAI-compatible HTTP server (libevent evhttp) in front of the
 * shared provider model, so a live run, a curl or an SDK meets the same 429s,
 * latencies and faults as the simulator.
 *
 * One event loop does everything: requests are parsed and submitted to the
 * provider at once; first tokens, stream chunks, completions and stalls are
 * timers on that loop (no thread or sleep per request). The provider runs on a
 * monotonic clock aligned to the Unix epoch at start, so ENFORCE_WINDOW windows
 * fall on wall-clock minutes. Endpoints, headers, faults and metrics are
 * documented in doc/mock.md.
 */
#ifndef RATELAB_MOCK_H
#define RATELAB_MOCK_H

#include <stddef.h>
#include <stdint.h>

#include "scenario.h"

struct event_base;

typedef struct mock mock;

#define MOCK_DEFAULT_MAX_BODY (1024 * 1024) /* bytes; larger bodies get 413 */
/* The largest max_body_bytes, 1 GiB: far above any real request, and 4x it plus slack
 * (what libevent reads before answering 413) fits every size type. */
#define MOCK_MAX_BODY_LIMIT ((int64_t)1 << 30)

#define MOCK_DEFAULT_IDLE_TIMEOUT_US   (75 * 1000000LL)    /* nginx's keepalive_timeout */
#define MOCK_DEFAULT_HEADER_TIMEOUT_US (60 * 1000000LL)    /* nginx's client_header_timeout */
#define MOCK_MAX_TIMEOUT_US            (86400 * 1000000LL) /* the longest timeout accepted: a day */
/* Descriptors kept back from the connection limit: listeners, the loop, stdio, a reset's dup. */
#define MOCK_FD_RESERVE      32
#define MOCK_MAX_CONNECTIONS 10000000 /* the largest max_connections accepted */
/* max_tokens larger than this get a 400 by default: 128Ki, a large model context. */
#define MOCK_DEFAULT_MAX_TOKENS_CAP 131072
#define MOCK_MAX_TOKENS_LIMIT       1000000000 /* the largest --max-tokens (and max_tokens parsed) */

struct mock_options {
    const char *api_key;       /* required Bearer token; NULL or "" = no authentication */
    int64_t max_body_bytes;    /* 413 above this many body bytes; 0 = MOCK_DEFAULT_MAX_BODY;
                                  above MOCK_MAX_BODY_LIMIT counts as the limit */
    int64_t max_tokens;        /* 400 for a request's max_tokens above this; 0 =
                                  MOCK_DEFAULT_MAX_TOKENS_CAP; at most MOCK_MAX_TOKENS_LIMIT */
    int64_t idle_timeout_us;   /* close a connection waiting this long for its next request,
                                  or whose writes stall this long; 0 = the default; at most
                                  MOCK_MAX_TIMEOUT_US */
    int64_t header_timeout_us; /* a request must arrive whole this long after its first byte
                                  (a new connection: after accept); 0 = the default */
    int64_t max_connections;   /* open connections at most; 0 = as many as descriptors allow
                                  (RLIMIT_NOFILE - MOCK_FD_RESERVE), which also caps it */
};

/*
 * A server for the scenario's [server] section on base (borrowed: run and free
 * it yourself, after mock_free). sc is borrowed too and must outlive the mock:
 * its classes give completion lengths, its seed the random draws, [live] model
 * the served model name. o may be NULL for defaults. Never returns NULL (aborts
 * on OOM). It serves nothing until mock_listen().
 */
mock *mock_new(struct event_base *base, const struct scenario *sc, const struct mock_options *o);

/*
 * Listen on addr: "HOST:PORT", "[V6HOST]:PORT" or ":PORT" (host 127.0.0.1);
 * port 0 picks a free one. On success writes the bound "HOST:PORT" into bound
 * (n bytes; may be NULL) and returns 0; else -EINVAL (unparsable address) or
 * -EADDRINUSE / another negative errno (bind failed). May be called more than
 * once to listen on several addresses.
 */
int mock_listen(mock *m, const char *addr, char *bound, size_t n);

/* Stop serving, close every connection, and free everything. NULL is fine. */
void mock_free(mock *m);

#endif
