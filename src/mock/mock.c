#include "config.h"

#include "mock.h"

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/event_struct.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "mock_int.h"
#include "mock_prom.h"
#include "mock_proto.h"
#include "provider.h"
#include "util.h"
#include "workload.h"

#define CALLS_PER_SLAB 256
/*
 * An answer goes to libevent at most this many bytes at a time, and once this
 * much is queued unwritten for a connection, the next slice waits until it has
 * been written to the socket: a connection holds about two slices plus what the
 * kernel buffers, however many tokens are due and however slowly the client
 * reads, and a huge answer is spread over loop turns instead of blocking every
 * other client.
 */
#define SLICE_BYTES (64 * 1024)
/* Tokens of non-streamed content rendered per step (about 3.6 bytes each). */
#define BODY_TOKENS_PER_STEP 4096

/* ---- clock and provider tick ------------------------------------------- */

int64_t mock_now_us(const mock *m)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * US_PER_S + ts.tv_nsec / 1000 + m->epoch_offset_us;
}

static struct timeval tv_of(int64_t us)
{
    if (us < 0)
        us = 0;
    struct timeval tv = {.tv_sec = us / US_PER_S, .tv_usec = us % US_PER_S};
    return tv;
}

/* Keep the tick armed at the provider's next event; cheap when nothing moved. */
static void arm_tick(mock *m, int64_t now)
{
    int64_t next = provider_next_event_us(m->prov);
    if (next == m->tick_at_us)
        return;
    m->tick_at_us = next;
    if (next == TIME_NEVER) {
        evtimer_del(m->tick);
        return;
    }
    struct timeval tv = tv_of(next - now);
    evtimer_add(m->tick, &tv);
}

/* ---- the call pool ----------------------------------------------------- */

static void on_call_timer(evutil_socket_t fd, short what, void *arg);

/* A call from the pool, not yet linked as live. The pool only grows, to the peak in flight. */
static struct call *call_get(mock *m)
{
    if (!m->free_calls) {
        m->slabs = xrealloc(m->slabs, (size_t)(m->n_slabs + 1) * sizeof *m->slabs);
        struct call *slab = xcalloc(CALLS_PER_SLAB, sizeof *slab);
        m->slabs[m->n_slabs++] = slab;
        for (int i = 0; i < CALLS_PER_SLAB; i++) {
            slab[i].m = m;
            event_assign(&slab[i].timer, m->base, -1, 0, on_call_timer, &slab[i]);
            slab[i].next = m->free_calls;
            m->free_calls = &slab[i];
        }
    }
    struct call *c = m->free_calls;
    m->free_calls = c->next;
    c->req = NULL;
    c->detached = false;
    c->live = false;
    c->stream_started = false;
    c->done = false;
    c->malformed = false;
    c->sending = false;
    c->draining = false;
    c->conn = NULL;
    c->watching = false;
    c->deferred = DEFER_NONE;
    c->pid = 0;
    c->next_token = 0;
    c->prev = c->next = NULL;
    return c;
}

static void call_link(mock *m, struct call *c)
{
    c->live = true;
    c->prev = NULL;
    c->next = m->live;
    if (m->live)
        m->live->prev = c;
    m->live = c;
    m->n_live++;
}

static void stop_watch(struct call *c)
{
    if (c->watching) {
        event_del(&c->watch);
        c->watching = false;
    }
}

#ifndef NDEBUG
/* The invariant of struct call (mock_int.h), for assert() only. */
static bool call_ok(const struct call *c)
{
    if (c->pid != 0 && !c->live)
        return false; /* the provider has it, so it must be findable for shutdown */
    if (c->detached && (c->pid != 0 || c->deferred != DEFER_GONE))
        return false; /* a detached request is only waiting to be freed */
    if (c->stream_started && !c->r.stream)
        return false;
    return c->next_token <= c->a.completion_tokens || !c->stream_started;
}
#endif

/* Back to the pool; the caller has dealt with c->req and the provider. */
static void call_put(mock *m, struct call *c)
{
    assert(c->pid == 0);
    assert(call_ok(c));
    event_del(&c->timer);
    stop_watch(c);
    if (c->conn && c->conn->call == c)
        c->conn->call = NULL;
    c->conn = NULL;
    if (c->live) {
        if (c->prev)
            c->prev->next = c->next;
        else
            m->live = c->next;
        if (c->next)
            c->next->prev = c->prev;
        m->n_live--;
        c->live = false;
    }
    c->req = NULL;
    c->next = m->free_calls;
    m->free_calls = c;
}

/* Hear from the connection when it closes (mock_call_closed). */
static void hook(mock *m, struct call *c)
{
    c->conn = mock_conn_of(m, c->req);
    if (c->conn)
        c->conn->call = c;
}

/* Stop hearing from the connection before libevent may reuse or free it. */
static void unhook(struct call *c)
{
    if (c->conn && c->conn->call == c)
        c->conn->call = NULL;
    c->conn = NULL;
}

static void drop_connection(mock *m, struct call *c, bool rst);

/* A client hung up on an accepted request: vLLM counts it as finished_reason "abort". */
static void count_client_gone(mock *m)
{
    m->client_gone++;
    m->finished[MOCK_FINISH_ABORT]++;
}

/*
 * While a request waits for its answer, libevent does not read its connection,
 * so a client that gives up would go unnoticed until the answer. Watch the
 * socket meanwhile: EOF or an error means the client is gone, and its batch
 * slot is freed at once, as vLLM aborts a request whose client disconnects.
 * Bytes (a pipelined request) end the watch: the client is evidently still there.
 */
static void on_peer(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    struct call *c = arg;
    mock *m = c->m;
    c->watching = false;
    char b;
    ssize_t n = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n > 0)
        return;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
        event_add(&c->watch, NULL);
        c->watching = true;
        return;
    }
    if (c->pid) {
        int64_t now = mock_now_us(m);
        provider_cancel(m->prov, c->pid, now);
        c->pid = 0;
        count_client_gone(m);
        arm_tick(m, now);
    }
    drop_connection(m, c, false);
}

static void start_watch(struct call *c)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
    evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
    if (fd < 0)
        return;
    event_assign(&c->watch, c->m->base, fd, EV_READ, on_peer, c);
    event_add(&c->watch, NULL);
    c->watching = true;
}

/*
 * The client's connection is going away under a live call: stop the provider's
 * work for it at once, and finish the rest from a zero timer, outside libevent's
 * teardown. When libevent has detached the request (the connection failed mid
 * answer) it is ours to free; otherwise libevent frees it right after this.
 */
void mock_call_closed(struct call *c, struct evhttp_connection *evcon)
{
    (void)evcon;
    mock *m = c->m;
    c->conn = NULL;
    stop_watch(c);
    if (c->pid) {
        int64_t now = mock_now_us(m);
        provider_cancel(m->prov, c->pid, now);
        c->pid = 0;
        count_client_gone(m);
        arm_tick(m, now);
    }
    if (c->req && evhttp_request_get_connection(c->req) == NULL)
        c->detached = true;
    else
        c->req = NULL;
    c->deferred = DEFER_GONE;
    event_del(&c->timer);
    event_active(&c->timer, EV_TIMEOUT, 0);
}

/* ---- answers ----------------------------------------------------------- */

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 417:
        return "Expectation Failed";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 501:
        return "Not Implemented";
    case 503:
        return "Service Unavailable";
    default:
        return "Unknown";
    }
}

static void count_status(mock *m, int status)
{
    if (status >= 0 && status < MOCK_STATUS_MAX)
        m->by_status[status]++;
}

/*
 * Send the request's output buffer as the whole answer. A HEAD gets the headers
 * the GET would, Content-Length and Content-Type included, and no body: libevent
 * (2.1) would send the body and leave out Content-Length, which breaks the next
 * answer on a keep-alive connection.
 */
void mock_send(mock *m, struct evhttp_request *req, int status)
{
    count_status(m, status);
    if (evhttp_request_get_command(req) == EVHTTP_REQ_HEAD) {
        struct evkeyvalq *h = evhttp_request_get_output_headers(req);
        struct evbuffer *out = evhttp_request_get_output_buffer(req);
        char len[24];
        snprintf(len, sizeof len, "%zu", evbuffer_get_length(out));
        evhttp_remove_header(h, "Content-Length");
        evhttp_add_header(h, "Content-Length", len);
        if (!evhttp_find_header(h, "Content-Type"))
            evhttp_add_header(h, "Content-Type", "application/json");
        evbuffer_drain(out, evbuffer_get_length(out));
    }
    struct conn *c = mock_conn_of(m, req); /* before: sending may free a detached req */
    evhttp_send_reply(req, status, reason_phrase(status), NULL);
    mock_conn_flush_soon(m, c);
}

void mock_send_error(mock *m, struct evhttp_request *req, const struct mock_error *e)
{
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    mock_render_error(evhttp_request_get_output_buffer(req), e);
    mock_send(m, req, e->status);
}

/* A 200 whose body stops half way through, as a crashed proxy would leave it. */
static void render_malformed(struct evbuffer *out, const struct mock_answer *a)
{
    evbuffer_add_printf(out, "{\"id\":\"%s-%" PRIu64 "\",\"object\":\"chat.compl",
                        a->req->api == MOCK_API_CHAT ? "chatcmpl" : "cmpl", a->id);
}

/* ---- sending answers --------------------------------------------------- */

/* When stream token k is due: first + k·per_token, µs on the mock's clock. */
static int64_t token_due_us(const struct call *c, int64_t k)
{
    return c->first_token_us + (int64_t)((double)k * c->per_token_us + 0.5);
}

/* Tokens 1 .. completion-2 are paced here; the last one goes with the finish at done_us. */
static void schedule_token(mock *m, struct call *c, int64_t now)
{
    (void)m;
    if (c->next_token >= c->a.completion_tokens - 1)
        return;
    struct timeval tv = tv_of(token_due_us(c, c->next_token) - now);
    evtimer_add(&c->timer, &tv);
}

static void stream_start(mock *m, struct call *c)
{
    stop_watch(c); /* from now on every chunk written finds out */
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    evhttp_add_header(h, "Content-Type", "text/event-stream; charset=utf-8");
    evhttp_add_header(h, "Cache-Control", "no-cache");
    mock_add_rl_headers(m, c->req, &c->rl, c->submit_us);
    count_status(m, 200);
    evhttp_send_reply_start(c->req, 200, "OK");
    c->stream_started = true;
    c->sending = true;
    mock_render_chunk_first(m->scratch, &c->a);
    mock_render_chunk_token(m->scratch, &c->a, 0);
    c->next_token = 1;
}

/*
 * A non-streamed answer too large for one slice: its headers now, with the
 * exact Content-Length (head + content + tail), and the body a slice at a time.
 */
static void body_start(mock *m, struct call *c)
{
    stop_watch(c);
    mock_render_body_tail(m->scratch, &c->a);
    size_t tail = evbuffer_get_length(m->scratch);
    evbuffer_drain(m->scratch, tail);
    mock_render_body_head(m->scratch, &c->a);
    int64_t len = (int64_t)evbuffer_get_length(m->scratch) + (int64_t)tail +
                  mock_content_bytes(c->a.completion_tokens);
    char num[24];
    snprintf(num, sizeof num, "%" PRId64, len);
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    evhttp_add_header(h, "Content-Type", "application/json");
    evhttp_add_header(h, "Content-Length", num);
    mock_add_rl_headers(m, c->req, &c->rl, c->submit_us);
    count_status(m, 200);
    evhttp_send_reply_start(c->req, 200, "OK");
    c->sending = true;
    c->next_token = 0;
}

static void pump(mock *m, struct call *c);

static void on_drained(struct evhttp_connection *evcon, void *arg)
{
    (void)evcon;
    struct call *c = arg;
    c->draining = false;
    pump(c->m, c);
}

/* Bytes libevent still holds for c's connection, not yet written to the socket. */
static size_t queued_bytes(const struct call *c)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
    if (!evcon)
        return 0;
    return evbuffer_get_length(bufferevent_get_output(evhttp_connection_get_bufferevent(evcon)));
}

/*
 * Render what is due into slices and hand them to libevent: stream tokens due
 * by now (all of them once the provider is done), or the next part of a large
 * body. Once a slice's worth is queued unwritten for the connection, the next
 * slice goes with a callback and nothing more is rendered until on_drained says
 * it has been written: a reader that keeps up (a paced stream) never waits, a
 * slow one holds at most about two slices. With nothing due, the timer waits
 * for the next token. The last slice ends the answer and releases the call.
 */
static void pump(mock *m, struct call *c)
{
    struct evbuffer *out = m->scratch;
    int64_t n = c->a.completion_tokens;
    while (!c->draining && c->req && !c->detached) {
        bool last = false;
        if (c->r.stream) {
            int64_t upto = c->done ? n : n - 1;
            int64_t now = mock_now_us(m);
            while (c->next_token < upto && evbuffer_get_length(out) < SLICE_BYTES &&
                   (c->done || token_due_us(c, c->next_token) <= now))
                mock_render_chunk_token(out, &c->a, c->next_token++);
            if (c->done && c->next_token == n && evbuffer_get_length(out) < SLICE_BYTES) {
                if (c->malformed) {
                    evbuffer_add(out, "data: ", 6);
                    render_malformed(out, &c->a);
                    evbuffer_add(out, "\n\n", 2);
                } else {
                    mock_render_chunk_finish(out, &c->a);
                    if (c->r.include_usage)
                        mock_render_chunk_usage(out, &c->a);
                    mock_render_done(out);
                }
                last = true;
            }
            if (!last && evbuffer_get_length(out) == 0) {
                if (!c->done)
                    schedule_token(m, c, now);
                return;
            }
        } else {
            while (c->next_token < n && evbuffer_get_length(out) < SLICE_BYTES) {
                int64_t to = c->next_token + BODY_TOKENS_PER_STEP;
                if (to > n)
                    to = n;
                mock_render_body_content(out, c->next_token, to);
                c->next_token = to;
            }
            if (c->next_token == n && evbuffer_get_length(out) < SLICE_BYTES) {
                mock_render_body_tail(out, &c->a);
                last = true;
            }
        }
        if (last) {
            unhook(c);
            evhttp_send_reply_chunk(c->req, out);
            evbuffer_drain(out, evbuffer_get_length(out));
            struct evhttp_request *req = c->req;
            c->req = NULL;
            call_put(m, c);
            evhttp_send_reply_end(req);
            return;
        }
        if (queued_bytes(c) + evbuffer_get_length(out) >= SLICE_BYTES) {
            c->draining = true;
            evhttp_send_reply_chunk_with_cb(c->req, out, on_drained, c);
        } else {
            evhttp_send_reply_chunk(c->req, out);
        }
        evbuffer_drain(out, evbuffer_get_length(out));
    }
}

/* ---- provider events --------------------------------------------------- */

/*
 * The provider is done with the call (or broke it): small non-streamed answers
 * go out whole; streams and large bodies continue a slice at a time (pump).
 */
static void finish(mock *m, struct call *c, bool malformed)
{
    c->pid = 0;
    /* The model finished it; a malformed fault breaks the body, not the generation. */
    m->finished[c->a.length_capped ? MOCK_FINISH_LENGTH : MOCK_FINISH_STOP]++;
    c->done = true;
    c->malformed = malformed;
    event_del(&c->timer);
    if (!c->req || c->detached)
        return; /* the close path releases it */
    if (c->r.stream) {
        if (!c->stream_started)
            stream_start(m, c);
        pump(m, c);
        return;
    }
    if (!malformed && c->a.completion_tokens > BODY_TOKENS_PER_STEP) {
        body_start(m, c);
        pump(m, c);
        return;
    }
    stop_watch(c);
    unhook(c);
    struct evkeyvalq *h = evhttp_request_get_output_headers(c->req);
    evhttp_add_header(h, "Content-Type", "application/json");
    mock_add_rl_headers(m, c->req, &c->rl, c->submit_us);
    struct evbuffer *out = evhttp_request_get_output_buffer(c->req);
    if (malformed)
        render_malformed(out, &c->a);
    else
        mock_render_body(out, &c->a);
    mock_send(m, c->req, 200);
    call_put(m, c);
}

/*
 * Abort fd's TCP connection with an RST and nothing before it. SO_LINGER 0 makes
 * close() reset, but evhttp_connection_free() calls shutdown(SHUT_WR) first,
 * which sends a FIN, and the client reads a clean EOF. So the socket is closed
 * here through a duplicate, and fd's number is left to a placeholder socket for
 * libevent to shut down and close (the number stays taken until then, so no
 * new connection can be hit by that close).
 */
static void reset_socket(evutil_socket_t fd)
{
    struct linger lg = {.l_onoff = 1, .l_linger = 0};
    if (setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof lg) < 0)
        return;
    int dummy = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int real = dummy >= 0 ? dup(fd) : -1;
    if (real < 0 || dup2(dummy, fd) < 0) {
        if (real >= 0)
            close(real);
        if (dummy >= 0)
            close(dummy);
        return; /* libevent's FIN then RST it is */
    }
    close(dummy);
    close(real); /* the last reference: the RST goes out now */
}

/*
 * Close the client's connection without an answer: a FIN for a stall that ran
 * out, an RST for a reset fault. libevent frees the request with the connection.
 */
static void drop_connection(mock *m, struct call *c, bool rst)
{
    assert(c->pid == 0);
    stop_watch(c);
    if (c->req && !c->detached) {
        struct evhttp_connection *evcon = evhttp_request_get_connection(c->req);
        unhook(c);
        if (rst) {
            evutil_socket_t fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
            if (fd >= 0)
                reset_socket(fd);
        }
        c->req = NULL;
        evhttp_connection_free(evcon);
    } else if (c->req) {
        evhttp_request_free(c->req);
        c->req = NULL;
    }
    call_put(m, c);
}

static void on_event(void *ctx, const struct provider_event *ev)
{
    mock *m = ctx;
    struct call *c = ev->handle;
    assert(c->pid == ev->id && call_ok(c));
    switch (ev->kind) {
    case PROVIDER_EV_FIRST_TOKEN:
        prom_hist_observe(&m->h_queue, ev->start_us - ev->submit_us);
        prom_hist_observe(&m->h_ttft, ev->first_token_us - ev->submit_us);
        c->first_token_us = ev->first_token_us;
        c->per_token_us = ev->per_token_us;
        if (c->r.stream && c->req && !c->detached) {
            stream_start(m, c);
            pump(m, c); /* events may be delivered late: tokens may be due already */
        }
        break;
    case PROVIDER_EV_DONE:
    case PROVIDER_EV_MALFORMED:
        prom_hist_observe(&m->h_e2e, ev->done_us - ev->submit_us);
        finish(m, c, ev->kind == PROVIDER_EV_MALFORMED);
        break;
    case PROVIDER_EV_DROPPED:
        c->pid = 0;
        if (c->req && !c->detached)
            drop_connection(m, c, false);
        break;
    }
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    mock *m = arg;
    int64_t now = mock_now_us(m);
    m->tick_at_us = TIME_NEVER;
    provider_advance(m->prov, now, on_event, m);
    arm_tick(m, mock_now_us(m));
}

static void on_call_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct call *c = arg;
    mock *m = c->m;
    switch (c->deferred) {
    case DEFER_RESET:
        drop_connection(m, c, true);
        return;
    case DEFER_GONE:
        if (c->detached && c->req)
            evhttp_request_free(c->req);
        c->req = NULL;
        call_put(m, c);
        return;
    case DEFER_NONE:
        break;
    }
    pump(m, c); /* stream pacing: the next token is due */
}

/* ---- completions ------------------------------------------------------- */

/*
 * Completion length: with classes in the scenario, a draw from the class named
 * by the request's X-Ratelab-Class header, else by its model, else the first
 * class, made by that class's workload as the sim makes it (so clipped to the
 * class's max_tokens), then capped by the request's max_tokens (else the
 * class's); without classes, max_tokens itself (16 when the request gives
 * none), as if the model always ran to its limit.
 */
static int64_t draw_completion(mock *m, const struct mock_request *r, const char *class_hint,
                               bool *capped)
{
    const struct scenario *sc = m->sc;
    int64_t n, cap;
    if (m->n_classes > 0) {
        int k = -1;
        for (int i = 0; i < m->n_classes && k < 0; i++)
            if (class_hint && strcmp(sc->classes[i].name, class_hint) == 0)
                k = i;
        for (int i = 0; i < m->n_classes && k < 0; i++)
            if (strcmp(sc->classes[i].name, r->model) == 0)
                k = i;
        if (k < 0)
            k = 0;
        n = workload_completion_tokens(m->classes[k]);
        cap = r->max_tokens ? r->max_tokens : workload_max_tokens(m->classes[k]);
    } else {
        cap = r->max_tokens ? r->max_tokens : MOCK_DEFAULT_MAX_TOKENS;
        n = cap;
    }
    if (cap > 0 && n >= cap) {
        n = cap;
        *capped = true;
    }
    return n < 1 ? 1 : n;
}

void mock_serve_completion(mock *m, struct evhttp_request *req, enum mock_api api)
{
    struct mock_error e;
    struct evbuffer *in = evhttp_request_get_input_buffer(req);
    size_t len = evbuffer_get_length(in);
    if ((int64_t)len > m->max_body) {
        mock_error_set(&e, 413, "invalid_request_error", "request_too_large", NULL,
                       "Request body too large: %zu bytes; this server accepts at most %" PRId64
                       ".",
                       len, m->max_body);
        mock_send_error(m, req, &e);
        return;
    }
    struct call *c = call_get(m);
    const char *body = len ? (const char *)evbuffer_pullup(in, -1) : "";
    if (mock_parse_request(api, body, len, &c->r, &e) < 0) {
        call_put(m, c);
        mock_send_error(m, req, &e);
        return;
    }
    if (c->r.max_tokens > m->max_tokens) {
        mock_error_set(&e, 400, "invalid_request_error", "invalid_value", "max_tokens",
                       "max_tokens is too large: %" PRId64 ". This model supports at most %" PRId64
                       " completion tokens, whereas you provided %" PRId64 ".",
                       c->r.max_tokens, m->max_tokens, c->r.max_tokens);
        call_put(m, c);
        mock_send_error(m, req, &e);
        return;
    }
    int64_t now = mock_now_us(m);
    bool capped = false;
    const char *hint = evhttp_find_header(evhttp_request_get_input_headers(req), "X-Ratelab-Class");
    int64_t completion = draw_completion(m, &c->r, hint, &capped);
    c->req = req;
    c->submit_us = now;
    c->a = (struct mock_answer){.req = &c->r,
                                .id = ++m->next_id,
                                .created_s = now / US_PER_S,
                                .completion_tokens = completion,
                                .length_capped = capped};
    /* Capacity freed by now must count for this request (provider.h: advance before submit). */
    provider_advance(m->prov, now, on_event, m);
    struct provider_decision d;
    provider_submit(m->prov, now, c->r.prompt_tokens, c->r.max_tokens, completion, c, &d);
    switch (d.kind) {
    case PROVIDER_ACCEPTED:
        c->pid = d.id;
        c->rl = d.rl;
        call_link(m, c);
        hook(m, c);
        start_watch(c);
        break;
    case PROVIDER_RATE_LIMITED:
        mock_reply_limited(m, req, &c->r, completion, &d, now);
        call_put(m, c);
        break;
    case PROVIDER_OVERLOADED:
    case PROVIDER_ERROR:
        if (d.kind == PROVIDER_OVERLOADED || d.status == 503)
            mock_error_set(&e, 503, "server_error", "overloaded", NULL,
                           "The server is overloaded or not ready yet.");
        else
            mock_error_set(&e, 500, "server_error", NULL, NULL,
                           "The server had an error while processing your request. Sorry about "
                           "that!");
        mock_add_rl_headers(m, req, &d.rl, now);
        mock_send_error(m, req, &e);
        call_put(m, c);
        break;
    case PROVIDER_RESET:
        /* Not from inside libevent's request callback: it still uses the connection. */
        call_link(m, c);
        hook(m, c);
        c->deferred = DEFER_RESET;
        event_active(&c->timer, EV_TIMEOUT, 0);
        break;
    }
    arm_tick(m, now);
}

/* ---- lifecycle --------------------------------------------------------- */

mock *mock_new(struct event_base *base, const struct scenario *sc, const struct mock_options *o)
{
    mock *m = xcalloc(1, sizeof *m);
    m->base = base;
    m->sc = sc;
    /*
     * The sim's split order (doc/provider.md, "Random streams"): the client's
     * jitter stream (no client here: split and dropped), the provider, then one
     * workload per class in scenario order. So one seed gives the provider and
     * each class the same stream here as in `ratelab sim`.
     */
    struct rng root, client_rng;
    rng_seed(&root, sc->seed);
    rng_split(&root, &client_rng);
    m->prov = provider_new(&sc->server, &root);
    m->n_classes = sc->n_classes;
    if (m->n_classes > 0)
        m->classes = xcalloc((size_t)m->n_classes, sizeof *m->classes);
    for (int i = 0; i < m->n_classes; i++)
        m->classes[i] = workload_new(&sc->classes[i], sc->duration_us, &root);
    struct timespec mono, real;
    clock_gettime(CLOCK_MONOTONIC, &mono);
    clock_gettime(CLOCK_REALTIME, &real);
    m->epoch_offset_us = ((int64_t)real.tv_sec - (int64_t)mono.tv_sec) * US_PER_S +
                         (real.tv_nsec - mono.tv_nsec) / 1000;
    m->max_body = o && o->max_body_bytes > 0 ? o->max_body_bytes : MOCK_DEFAULT_MAX_BODY;
    if (m->max_body > MOCK_MAX_BODY_LIMIT)
        m->max_body = MOCK_MAX_BODY_LIMIT; /* keeps mock_http_new's 4x from overflowing */
    if (o && o->api_key && o->api_key[0])
        m->api_key = xstrdup(o->api_key);
    m->tick = evtimer_new(base, on_tick, m);
    m->tick_at_us = TIME_NEVER;
    m->scratch = evbuffer_new();
    if (!m->tick || !m->scratch) {
        fprintf(stderr, "ratelab: out of memory\n");
        abort();
    }
    prom_hist_init(&m->h_ttft, PROM_BUCKETS_TTFT);
    prom_hist_init(&m->h_e2e, PROM_BUCKETS_LATENCY);
    prom_hist_init(&m->h_queue, PROM_BUCKETS_LATENCY);
    m->max_tokens = o && o->max_tokens > 0 ? o->max_tokens : MOCK_DEFAULT_MAX_TOKENS_CAP;
    if (m->max_tokens > MOCK_MAX_TOKENS_LIMIT)
        m->max_tokens = MOCK_MAX_TOKENS_LIMIT;
    m->idle_timeout_us =
        o && o->idle_timeout_us > 0 ? o->idle_timeout_us : MOCK_DEFAULT_IDLE_TIMEOUT_US;
    m->header_timeout_us =
        o && o->header_timeout_us > 0 ? o->header_timeout_us : MOCK_DEFAULT_HEADER_TIMEOUT_US;
    if (m->idle_timeout_us > MOCK_MAX_TIMEOUT_US)
        m->idle_timeout_us = MOCK_MAX_TIMEOUT_US;
    if (m->header_timeout_us > MOCK_MAX_TIMEOUT_US)
        m->header_timeout_us = MOCK_MAX_TIMEOUT_US;
    m->max_conns = o ? o->max_connections : 0; /* mock_conn_init applies the default and cap */
    m->http = mock_http_new(m);
    mock_conn_init(m);
    return m;
}

int mock_listen(mock *m, const char *addr, char *bound, size_t n)
{
    return mock_http_listen(m, addr, bound, n);
}

void mock_free(mock *m)
{
    if (!m)
        return;
    /*
     * Freeing evhttp closes every connection: close callbacks run for live calls
     * and libevent frees their attached requests. Detached ones are ours.
     */
    mock_http_errors_forget(m);
    mock_conn_stop(m);
    if (m->http)
        evhttp_free(m->http);
    mock_conn_fini(m);
    while (m->live) {
        struct call *c = m->live;
        if (c->detached && c->req)
            evhttp_request_free(c->req);
        c->req = NULL;
        c->pid = 0;
        call_put(m, c);
    }
    for (int i = 0; i < m->n_slabs; i++)
        free(m->slabs[i]);
    free(m->slabs);
    provider_free(m->prov);
    for (int i = 0; i < m->n_classes; i++)
        workload_free(m->classes[i]);
    free(m->classes);
    if (m->tick)
        event_free(m->tick);
    if (m->scratch)
        evbuffer_free(m->scratch);
    free(m->api_key);
    free(m);
}
