#include "config.h"

/*
 * mock_conn: the mock's client connections — how many may be open, how long
 * one may sit idle or take to send a request, and what happens when accept()
 * fails for want of descriptors.
 *
 * libevent 2.1's evhttp accepts connections itself and has neither a
 * connection limit nor idle timeouts apart from one read/write timeout that
 * would also cut off a long answer. So the mock follows each connection from
 * the moment evhttp accepts it: evhttp asks us for each new connection's
 * bufferevent (evhttp_set_bevcb), and once evhttp has wired it up (later in the
 * same loop turn) we read the evhttp connection back from the bufferevent's
 * callback argument, hook its close callback and give it a deadline.
 *
 * Deadlines, after nginx: a new connection must deliver its first request
 * within the header timeout (client_header_timeout); after an answer it may
 * wait the idle timeout for the next (keepalive_timeout), and once that
 * request's first byte arrives, the header timeout runs again. While a request
 * is ours there is no deadline (an answer may take as long as the model says),
 * but a write that makes no progress for the idle timeout (a client that stops
 * reading) fails the connection (nginx's send_timeout), through the
 * bufferevent's write timeout.
 *
 * At the connection limit a new connection closes the one that has waited
 * longest for a request (nginx reuses idle keep-alive connections the same
 * way): "evicted" if it had been answered before, "refused" if it never got to
 * send a request. When nothing is waiting yet (a burst whose connections are
 * not adopted), accepting pauses until the adopt step, which closes the
 * longest-waiting ones down to the limit — so in a burst the newest
 * connections stay, and when every connection is busy each new one is
 * refused. If accept() itself fails (EMFILE, ENFILE, ...), accepting pauses
 * until a connection closes or half a second passes, with one warning per 10 s.
 */

#include <assert.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/listener.h>

#include "mock_int.h"
#include "util.h"

#define CONNS_PER_SLAB 256
#define RESUME_US      (500 * US_PER_MS) /* accept retry after an error (nginx: 500 ms) */
#define WARN_EVERY_US  (10 * US_PER_S)

static struct timeval tv_us(int64_t us)
{
    struct timeval tv = {.tv_sec = us / US_PER_S, .tv_usec = us % US_PER_S};
    return tv;
}

/* ---- the pool and the lists -------------------------------------------- */

static void on_conn_timer(evutil_socket_t fd, short what, void *arg);
static void on_first_byte(evutil_socket_t fd, short what, void *arg);

static struct conn *conn_get(struct mock *m)
{
    if (!m->conn_free) {
        m->conn_slabs =
            xrealloc(m->conn_slabs, (size_t)(m->n_conn_slabs + 1) * sizeof *m->conn_slabs);
        struct conn *slab = xcalloc(CONNS_PER_SLAB, sizeof *slab);
        m->conn_slabs[m->n_conn_slabs++] = slab;
        for (int i = 0; i < CONNS_PER_SLAB; i++) {
            slab[i].m = m;
            event_assign(&slab[i].timer, m->base, -1, 0, on_conn_timer, &slab[i]);
            slab[i].next = m->conn_free;
            m->conn_free = &slab[i];
        }
    }
    struct conn *c = m->conn_free;
    m->conn_free = c->next;
    c->bev = NULL;
    c->evcon = NULL;
    c->fd = -1;
    c->state = CONN_PENDING;
    c->fresh = true;
    c->flush_queued = false;
    c->flush_next = NULL;
    c->watching = false;
    c->timed = false;
    c->call = NULL;
    c->prev = c->next = NULL;
    return c;
}

static void idle_unlink(struct mock *m, struct conn *c)
{
    assert(c->state == CONN_WAITING);
    if (c->prev)
        c->prev->next = c->next;
    else
        m->idle_head = c->next;
    if (c->next)
        c->next->prev = c->prev;
    else
        m->idle_tail = c->prev;
    c->prev = c->next = NULL;
}

static void idle_append(struct mock *m, struct conn *c)
{
    c->prev = m->idle_tail;
    c->next = NULL;
    if (m->idle_tail)
        m->idle_tail->next = c;
    else
        m->idle_head = c;
    m->idle_tail = c;
}

static void stop_first_byte(struct conn *c)
{
    if (c->watching) {
        event_del(&c->first_byte);
        c->watching = false;
    }
}

#ifndef NDEBUG
/* The invariant of struct conn (mock_int.h), for assert() only; O(1), the list part by c's links.
 */
static bool conn_ok(const struct mock *m, const struct conn *c)
{
    if (c->call && c->state != CONN_BUSY)
        return false;
    if (c->state == CONN_PENDING)
        return !c->evcon;
    if (!c->evcon || c->fd < 0 || c->fd >= m->by_fd_cap || m->by_fd[c->fd] != c)
        return false;
    if (c->state == CONN_WAITING)
        return c->prev ? c->prev->next == c : m->idle_head == c;
    return !c->prev && !c->next && m->idle_head != c;
}
#endif

/* Move c to state to, on or off the idle list (the first-byte watch is the callers'). */
static void set_state(struct mock *m, struct conn *c, enum conn_state to)
{
    if (c->state == CONN_WAITING)
        idle_unlink(m, c);
    c->state = to;
    if (to == CONN_WAITING)
        idle_append(m, c);
    assert(conn_ok(m, c));
}

/* tv is m->idle_tv or m->header_tv: libevent common timeouts, a queue each, not the heap. */
static void set_deadline(struct mock *m, struct conn *c, const struct timeval *tv)
{
    (void)m;
    c->timed = true;
    evtimer_add(&c->timer, tv);
}

static void clear_deadline(struct conn *c)
{
    if (c->timed) {
        evtimer_del(&c->timer);
        c->timed = false;
    }
}

/* Listeners accept while neither an accept error nor the limit holds them back. */
static void update_listeners(struct mock *m)
{
    bool on = !m->accept_paused && !m->limit_paused;
    if (on == m->listening)
        return;
    m->listening = on;
    for (int i = 0; i < m->n_levs; i++)
        if (on)
            evconnlistener_enable(m->levs[i]);
        else
            evconnlistener_disable(m->levs[i]);
}

static void resume_accepting(struct mock *m)
{
    if (!m->accept_paused)
        return;
    m->accept_paused = false;
    evtimer_del(m->resume);
    update_listeners(m);
}

/* The connection is gone (evhttp is freeing it): back to the pool. */
static void conn_release(struct mock *m, struct conn *c)
{
    assert(conn_ok(m, c));
    if (c->flush_queued) {
        struct conn **p = &m->flush;
        while (*p != c)
            p = &(*p)->flush_next;
        *p = c->flush_next;
        c->flush_queued = false;
    }
    if (c->state == CONN_WAITING)
        idle_unlink(m, c);
    stop_first_byte(c);
    clear_deadline(c);
    if (c->fd >= 0 && c->fd < m->by_fd_cap && m->by_fd[c->fd] == c)
        m->by_fd[c->fd] = NULL;
    m->n_conns--;
    c->bev = NULL;
    c->evcon = NULL;
    c->fd = -1;
    c->call = NULL;
    c->next = m->conn_free;
    m->conn_free = c;
    /* A descriptor came free: a pause for EMFILE can end now. */
    resume_accepting(m);
}

static void on_conn_close(struct evhttp_connection *evcon, void *arg)
{
    struct conn *c = arg;
    struct mock *m = c->m;
    evhttp_connection_set_closecb(evcon, NULL, NULL);
    struct call *call = c->call;
    c->call = NULL;
    if (call)
        mock_call_closed(call, evcon);
    conn_release(m, c);
}

/* Close c now (evhttp frees it; on_conn_close releases it). */
static void conn_close(struct conn *c)
{
    assert(c->evcon && !c->call);
    evhttp_connection_free(c->evcon);
}

/* Close the connection that has waited longest for a request, if any. */
static bool make_room(struct mock *m)
{
    struct conn *c = m->idle_head;
    if (!c)
        return false;
    if (c->fresh)
        m->conns_refused++;
    else
        m->conns_evicted++;
    conn_close(c);
    return true;
}

/* ---- accepting --------------------------------------------------------- */

/*
 * evhttp's hook for each accepted connection's bufferevent. Socket-less, as
 * evhttp wants it, and with the options evhttp uses for its own (it closes the
 * socket itself). We keep a reference so the adopt step can tell a connection
 * evhttp already freed from a live one.
 */
static struct bufferevent *on_new_connection(struct event_base *base, void *arg)
{
    struct mock *m = arg;
    struct bufferevent *bev = bufferevent_socket_new(base, -1, 0);
    if (!bev) {
        fprintf(stderr, "ratelab: out of memory\n");
        abort();
    }
    bufferevent_set_timeouts(bev, NULL, m->idle_tv);
    bufferevent_incref(bev);
    struct conn *c = conn_get(m);
    c->bev = bev;
    if (m->pending_tail)
        m->pending_tail->next = c;
    else
        m->pending = c;
    m->pending_tail = c;
    m->n_conns++;
    m->conns_accepted++;
    if (m->n_conns > m->max_conns && !make_room(m) && !m->limit_paused) {
        m->limit_paused = true; /* until the adopt step has made room */
        update_listeners(m);
    }
    event_active(m->adopt, EV_TIMEOUT, 0);
    return bev;
}

static void grow_by_fd(struct mock *m, int fd)
{
    int cap = m->by_fd_cap ? m->by_fd_cap : 64;
    while (cap <= fd)
        cap *= 2;
    m->by_fd = xrealloc(m->by_fd, (size_t)cap * sizeof *m->by_fd);
    memset(m->by_fd + m->by_fd_cap, 0, (size_t)(cap - m->by_fd_cap) * sizeof *m->by_fd);
    m->by_fd_cap = cap;
}

/*
 * The connections accepted in this loop turn, now that evhttp has set them up:
 * evhttp passes its connection as its bufferevent's callback argument (2.1's
 * http.c does so for every incoming connection), which is how we find it. A
 * bufferevent whose callbacks are gone was freed by evhttp meanwhile.
 */
static void on_adopt(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct mock *m = arg;
    while (m->pending) {
        struct conn *c = m->pending;
        m->pending = c->next;
        if (!m->pending)
            m->pending_tail = NULL;
        c->next = NULL;
        struct bufferevent *bev = c->bev;
        void *cbarg = NULL;
        bufferevent_getcb(bev, NULL, NULL, NULL, &cbarg);
        int sock = bufferevent_getfd(bev);
        if (!cbarg || sock < 0) {
            c->bev = NULL;
            c->next = m->conn_free;
            m->conn_free = c;
            m->n_conns--;
            bufferevent_decref(bev);
            continue;
        }
        struct evhttp_connection *evcon = cbarg;
        assert(evhttp_connection_get_bufferevent(evcon) == bev);
        bufferevent_decref(bev);
        c->evcon = evcon;
        c->fd = sock;
        if (sock >= m->by_fd_cap)
            grow_by_fd(m, sock);
        m->by_fd[sock] = c;
        evhttp_connection_set_closecb(evcon, on_conn_close, c);
        event_assign(&c->first_byte, m->base, sock, EV_READ | EV_PERSIST, on_first_byte, c);
        set_state(m, c, CONN_WAITING);
        event_add(&c->first_byte, NULL);
        c->watching = true;
        set_deadline(m, c, m->header_tv);
    }
    while (m->n_conns > m->max_conns && make_room(m))
        ;
    if (m->limit_paused) {
        m->limit_paused = false;
        update_listeners(m);
    }
}

static void on_resume(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    resume_accepting(arg);
}

/*
 * accept() failed with something other than a transient error (libevent
 * retries EAGAIN, EINTR and ECONNABORTED itself). Most likely the process is
 * out of descriptors: pause every listener — the pending connections wait in
 * the kernel's queue — until a connection closes or RESUME_US passes. Warn at
 * most once per WARN_EVERY_US (libevent's own log line would be repeated for
 * every wake-up of the loop, tens of megabytes a second).
 */
static void on_accept_error(struct evconnlistener *lev, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    /* The error callback gets evhttp's argument (the evhttp), not ours. */
    struct mock *m = mock_of_http(arg);
    if (!m) {
        evconnlistener_disable(lev); /* not ours: should not happen */
        return;
    }
    m->accept_pauses++;
    if (!m->accept_paused) {
        m->accept_paused = true;
        update_listeners(m);
        struct timeval tv = tv_us(RESUME_US);
        evtimer_add(m->resume, &tv);
    }
    int64_t now = mock_now_us(m);
    if (m->last_warn_us && now - m->last_warn_us < WARN_EVERY_US) {
        m->warns_suppressed++;
        return;
    }
    fprintf(stderr,
            "ratelab mock: accept: %s; not accepting for up to %d ms (%" PRId64
            " connections open, limit %" PRId64 "; %" PRIu64 " more such errors since the "
            "last warning)\n",
            strerror(err), (int)(RESUME_US / US_PER_MS), m->n_conns, m->max_conns,
            m->warns_suppressed);
    m->last_warn_us = now;
    m->warns_suppressed = 0;
}

void mock_conn_listener(struct mock *m, struct evconnlistener *lev)
{
    m->levs = xrealloc(m->levs, (size_t)(m->n_levs + 1) * sizeof *m->levs);
    m->levs[m->n_levs++] = lev;
    evconnlistener_set_error_cb(lev, on_accept_error);
    if (!m->listening)
        evconnlistener_disable(lev);
}

/* ---- deadlines --------------------------------------------------------- */

static void on_conn_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    struct mock *m = c->m;
    c->timed = false;
    if (c->state == CONN_READING || (c->state == CONN_WAITING && c->fresh))
        m->conns_header_timeout++; /* a new connection's first request counts as a request */
    else if (c->state == CONN_WAITING)
        m->conns_idle_timeout++;
    else
        return; /* BUSY connections have no deadline */
    conn_close(c);
}

/*
 * The socket is readable. WAITING: the next request's first byte, from now the
 * header timeout runs. The watch stays registered otherwise: with it, evhttp
 * turning its own read interest off and on around each answer nets out within
 * the loop turn and never reaches epoll (one epoll_ctl a request fewer). BUSY:
 * the first report comes with the request itself, whose bytes evhttp has just
 * read; a second, in a later turn, means bytes or an EOF that evhttp does not
 * read while the answer is pending (a pipelined request, a hang-up), and the
 * watch stops, or the level-triggered event would fire every loop turn; the
 * answer's end restarts it.
 */
static void on_first_byte(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct conn *c = arg;
    struct mock *m = c->m;
    if (c->state == CONN_BUSY && ++c->busy_reports >= 2)
        stop_first_byte(c);
    if (c->state != CONN_WAITING)
        return;
    set_state(m, c, CONN_READING);
    if (!c->fresh) { /* a new connection's first request keeps the deadline it got at accept */
        clear_deadline(c);
        set_deadline(m, c, m->header_tv);
    }
}

struct conn *mock_conn_of(struct mock *m, struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    if (!evcon)
        return NULL;
    int fd = bufferevent_getfd(evhttp_connection_get_bufferevent(evcon));
    if (fd < 0 || fd >= m->by_fd_cap)
        return NULL;
    struct conn *c = m->by_fd[fd];
    return c && c->evcon == evcon ? c : NULL;
}

/* The answer's last byte is written: wait for the next request. */
static void on_answered(struct evhttp_request *req, void *arg)
{
    (void)req;
    struct conn *c = arg;
    struct mock *m = c->m;
    if (c->state != CONN_BUSY)
        return;
    c->call = NULL;
    set_state(m, c, CONN_WAITING);
    if (!c->watching) {
        event_add(&c->first_byte, NULL);
        c->watching = true;
    }
    set_deadline(m, c, m->idle_tv);
}

void mock_conn_request(struct mock *m, struct evhttp_request *req)
{
    struct conn *c = mock_conn_of(m, req);
    if (!c)
        return;
    clear_deadline(c);
    c->fresh = false;
    c->busy_reports = 0;
    set_state(m, c, CONN_BUSY);
    evhttp_request_set_on_complete_cb(req, on_answered, c);
}

/* ---- writing answers at once ------------------------------------------- */

/*
 * A bufferevent writes only when the loop reports its socket writable, so a
 * whole answer evhttp has queued waits a loop turn, and costs two epoll_ctl
 * calls (write interest on, then off) besides its writev. perf on
 * bench/mock_wrk.sh put the mock at five system calls a request against
 * nginx's two. So once the request callbacks of a loop turn have run, each
 * complete answer is written straight away; when the whole of it went out,
 * the bufferevent's write callback (evhttp's, read back with
 * bufferevent_getcb) is run as the bufferevent itself would run it after a
 * complete write, and evhttp, ready for the next request, withdraws the write
 * interest it asked for in the same loop turn, so it never reaches epoll.
 * Anything unwritten (a full socket buffer, an error) is left to the
 * bufferevent as before.
 */
void mock_conn_flush_soon(struct mock *m, struct conn *c)
{
    /* Only answers to requests that reached us: libevent's own refusals keep its pace. */
    if (!c || c->state != CONN_BUSY || c->flush_queued)
        return;
    c->flush_queued = true;
    c->flush_next = m->flush;
    m->flush = c;
    event_active(m->flusher, EV_TIMEOUT, 0);
}

static void on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    struct mock *m = arg;
    while (m->flush) {
        struct conn *c = m->flush;
        m->flush = c->flush_next;
        c->flush_next = NULL;
        c->flush_queued = false;
        struct evbuffer *out = bufferevent_get_output(c->bev);
        if (evbuffer_get_length(out) == 0)
            continue;
        /* A socket bufferevent keeps its output frozen at the front against drains by others. */
        evbuffer_unfreeze(out, 1);
        int n = evbuffer_write(out, c->fd);
        evbuffer_freeze(out, 1);
        if (n <= 0 || evbuffer_get_length(out) > 0)
            continue;
        bufferevent_data_cb wcb = NULL;
        void *wcbarg = NULL;
        bufferevent_getcb(c->bev, NULL, &wcb, NULL, &wcbarg);
        if (wcb)
            wcb(c->bev, wcbarg); /* evhttp's: the answer is done; c may be released here */
    }
}

/* ---- lifecycle --------------------------------------------------------- */

void mock_conn_init(struct mock *m)
{
    /* Leave descriptors for the listeners, the loop, stdio and a reset's dup. */
    struct rlimit rl;
    int64_t fd_room = INT64_MAX;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY)
        fd_room = (int64_t)rl.rlim_cur - MOCK_FD_RESERVE;
    if (fd_room < 1)
        fd_room = 1;
    if (m->max_conns <= 0 || m->max_conns > fd_room)
        m->max_conns = fd_room;
    /*
     * Every connection waits one of two durations, so each is a common timeout
     * (a queue per duration instead of the timer heap): arming a deadline, or
     * the bufferevent's write timeout on every write, is O(1).
     */
    m->idle_tv_plain = tv_us(m->idle_timeout_us);
    m->header_tv_plain = tv_us(m->header_timeout_us);
    m->idle_tv = event_base_init_common_timeout(m->base, &m->idle_tv_plain);
    m->header_tv = event_base_init_common_timeout(m->base, &m->header_tv_plain);
    if (!m->idle_tv)
        m->idle_tv = &m->idle_tv_plain;
    if (!m->header_tv)
        m->header_tv = &m->header_tv_plain;
    m->adopt = event_new(m->base, -1, 0, on_adopt, m);
    m->resume = evtimer_new(m->base, on_resume, m);
    m->flusher = event_new(m->base, -1, 0, on_flush, m);
    if (!m->adopt || !m->resume || !m->flusher) {
        fprintf(stderr, "ratelab: out of memory\n");
        abort();
    }
    m->listening = true;
    evhttp_set_bevcb(m->http, on_new_connection, m);
}

void mock_conn_stop(struct mock *m)
{
    /* evhttp_free frees the listeners before it closes the connections. */
    m->n_levs = 0;
    m->accept_paused = false;
    m->limit_paused = false;
    evtimer_del(m->resume);
}

void mock_conn_fini(struct mock *m)
{
    /* evhttp_free closed every adopted connection; only pending ones remain. */
    on_adopt(-1, 0, m);
    for (int i = 0; i < m->n_conn_slabs; i++)
        free(m->conn_slabs[i]);
    free(m->conn_slabs);
    free(m->by_fd);
    free(m->levs);
    if (m->adopt)
        event_free(m->adopt);
    if (m->resume)
        event_free(m->resume);
    if (m->flusher)
        event_free(m->flusher);
}
