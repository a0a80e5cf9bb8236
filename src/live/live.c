#include "config.h"

#include "live.h"

#include <assert.h>
#include <curl/curl.h>
#include <errno.h>
#include <event2/event.h>
#include <inttypes.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "body.h"
#include "cli.h"
#include "histogram.h"
#include "oaresp.h"
#include "promtext.h"
#include "ratehdr.h"
#include "redis_be.h"
#include "rng.h"
#include "sse.h"
#include "util.h"

#define RESP_MAX (8u << 20)            /* a body above this is malformed: we stop reading */
#define LAG_WARN_US (10 * US_PER_MS)   /* an arrival handled this late is "behind" */
#define PROGRESS_US (100 * US_PER_MS)  /* progress redraw period */

struct live;

/* One attempt in flight (or a scrape of metrics_url). Pooled with its easy handle. */
struct xfer {
    struct live *l;
    CURL *easy;
    struct run_req *q;       /* the request; NULL for a scrape */
    uint32_t gen;            /* q->gen when sent */
    bool scrape;             /* a GET of metrics_url */
    bool stream;             /* SSE answer expected */
    struct body_buf body;    /* the request body (reused) */
    char *resp;              /* the answer (non-streamed, error bodies, scrapes) */
    size_t resp_len, resp_cap;
    bool resp_over;          /* above RESP_MAX: not read further */
    struct sse sse;          /* streamed answers */
    struct ratehdr hdr;      /* the last header block's rate-limit headers */
    char bad_hdr[REPORT_HEADER_TEXT]; /* that block's first malformed one, "" if none */
    int64_t last_token_us;   /* -1 = no token yet */
    struct oa_usage usage;   /* from the body or the stream's usage chunk */
    bool done_seen;          /* the stream's [DONE] */
    bool bad_stream;         /* a chunk that did not parse, or an error event */
    struct xfer *next_free;
};

/* A socket curl asked us to watch. */
struct sockw {
    struct event *ev;
};

struct live {
    const struct scenario *sc;
    struct live_options o;
    run *r;
    struct event_base *base;
    CURLM *multi;
    struct event *curl_timer;   /* curl's own timeout */
    struct event *run_timer;    /* the lifecycle's next time */
    struct event *tick;         /* the metrics window, and the scrape */
    struct event *progress_ev;  /* the progress line */
    struct event *sigint, *sigterm;
    struct event *ui_timer, *ui_input; /* the dashboard's frame timer and stdin, if any */
    struct timespec t0;         /* the run's time 0 (monotonic) */
    int64_t t0_unix_us;         /* the same instant on the wall clock */
    char url[SCENARIO_TEXT_MAX * 2];
    char auth[1024];            /* "Authorization: Bearer ..." (never printed) */
    struct curl_slist *headers[SCENARIO_MAX_CLASSES]; /* per class: fixed headers + class */
    struct curl_slist *scrape_headers;
    enum body_api api;
    struct prompts *prompts[SCENARIO_MAX_CLASSES];    /* NULL = synthetic prompts */
    struct xfer *free_xfers;
    int64_t in_flight;          /* attempts at curl */
    bool scraping;
    int interrupts;             /* SIGINT/SIGTERM received */
    bool ended;
    int64_t behind_us;          /* the latest an arrival was handled in this window */
    struct histogram *itl;      /* per class, streaming only */
    struct report_live rl;
    struct run_server_gauges server; /* the last scrape */
    uint64_t pick;              /* prompt sampling state (splitmix), seeded from the scenario */
    int loop_err;
    redis_be *rb;               /* backend = redis, else NULL */
    struct report_redis rr;     /* its figures, for the report */
    struct event *start_ev;     /* --redis-run: the barrier's start instant */
    bool started;               /* the run's clock runs (begin) */
    int start_err;              /* the Redis start (barrier) failed: negative errno */
};

/* ---- clocks ------------------------------------------------------------------ */

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * US_PER_S + ts.tv_nsec / 1000;
}

static int64_t now_us(const live *l)
{
    int64_t t = mono_us() - ((int64_t)l->t0.tv_sec * US_PER_S + l->t0.tv_nsec / 1000);
    int64_t rn = run_now(l->r);
    return t > rn ? t : rn; /* never behind what the run has seen */
}

static void arm(struct event *ev, int64_t delay_us)
{
    if (delay_us < 0)
        delay_us = 0;
    struct timeval tv = {(time_t)(delay_us / US_PER_S), (suseconds_t)(delay_us % US_PER_S)};
    evtimer_add(ev, &tv);
}

/* ---- the lifecycle's clock ------------------------------------------------------ */

static void finish_loop(live *l)
{
    if (l->ended)
        return;
    l->ended = true;
    event_base_loopbreak(l->base);
}

/*
 * Bring the lifecycle to now and re-arm its timer: called after anything that
 * may have changed it (an answer, a timer, a signal).
 */
static void pump(live *l)
{
    if (l->ended)
        return;
    if (run_done(l->r)) { /* stopped (a second signal): nothing more to drive */
        finish_loop(l);
        return;
    }
    int64_t now = now_us(l);
    int64_t due = run_next_us(l->r);
    if (due < now - LAG_WARN_US && now - due > l->behind_us)
        l->behind_us = now - due;
    run_advance(l->r, now);
    /* What can happen next: the lifecycle's own time, or, while attempts are in flight,
     * an admission's answer is awaited, or a full shared pool waits for another process's
     * release, an event at any moment (so the cancel time is the only bound). */
    int64_t next = run_next_us(l->r);
    int64_t t = next;
    bool outside = l->in_flight > 0 ||
                   (l->rb && (client_admission_pending(run_client(l->r)) ||
                              redis_be_waits_for_release(l->rb)));
    if (outside && now + 1 < t)
        t = now + 1;
    if (run_end_if_over(l->r, t)) {
        finish_loop(l);
        return;
    }
    int64_t cancel = run_cancel_at_us(l->r);
    if (cancel < next)
        next = cancel + 1;
    if (next != TIME_NEVER)
        arm(l->run_timer, next - now);
    else
        evtimer_del(l->run_timer);
}

static void on_run_timer(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    pump(arg);
}

/* ---- transfers ------------------------------------------------------------------ */

static size_t on_header(char *buf, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    if (len >= 5 && memcmp(buf, "HTTP/", 5) == 0) {
        ratehdr_begin(&x->hdr); /* a new header block (after 100, a redirect): start over */
        x->bad_hdr[0] = '\0';
    } else if (!x->scrape && ratehdr_add_line(&x->hdr, buf, len) < 0 && !x->bad_hdr[0]) {
        /* Kept for the report as received, line end dropped, controls shown as '?'. */
        size_t k = 0;
        for (; k < len && k + 1 < sizeof x->bad_hdr && buf[k] != '\r' && buf[k] != '\n'; k++)
            x->bad_hdr[k] = (unsigned char)buf[k] < 0x20 || buf[k] == 0x7f ? '?' : buf[k];
        x->bad_hdr[k] = '\0';
    }
    return len;
}

static void keep(struct xfer *x, const char *buf, size_t len)
{
    if (x->resp_over)
        return;
    if (x->resp_len + len > RESP_MAX) {
        x->resp_over = true;
        return;
    }
    if (x->resp_len + len + 1 > x->resp_cap) {
        size_t cap = x->resp_cap ? x->resp_cap : 4096;
        while (cap < x->resp_len + len + 1)
            cap *= 2;
        x->resp = xrealloc(x->resp, cap);
        x->resp_cap = cap;
    }
    memcpy(x->resp + x->resp_len, buf, len);
    x->resp_len += len;
    x->resp[x->resp_len] = '\0';
}

/* One SSE event of a streamed answer: tokens (TTFT, ITL), usage, [DONE]. */
static void on_sse(void *ctx, const char *event, const char *data, size_t len)
{
    struct xfer *x = ctx;
    live *l = x->l;
    (void)event;
    struct oa_chunk ch;
    if (oa_parse_chunk(data, len, &ch) < 0) {
        x->bad_stream = true;
        return;
    }
    if (ch.usage.prompt_tokens >= 0 || ch.usage.completion_tokens >= 0)
        x->usage = ch.usage;
    if (ch.kind == OA_CHUNK_DONE) {
        x->done_seen = true;
    } else if (ch.kind == OA_CHUNK_TOKEN) {
        int64_t t = now_us(l);
        if (x->last_token_us < 0)
            run_first_token(l->r, x->q, t);
        else if (l->itl)
            histogram_record(&l->itl[x->q->cr.class_idx], t - x->last_token_us);
        x->last_token_us = t;
    }
}

static size_t on_write(char *buf, size_t size, size_t n, void *ud)
{
    struct xfer *x = ud;
    size_t len = size * n;
    long code = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    if (x->stream && code >= 200 && code < 300) {
        if (sse_feed(&x->sse, buf, len) < 0)
            x->bad_stream = true;
    } else {
        keep(x, buf, len);
    }
    return len;
}

static struct xfer *xfer_get(live *l)
{
    struct xfer *x = l->free_xfers;
    if (x) {
        l->free_xfers = x->next_free;
        curl_easy_reset(x->easy);
    } else {
        x = xcalloc(1, sizeof *x);
        x->l = l;
        x->easy = curl_easy_init();
        if (!x->easy)
            abort(); /* out of memory inside libcurl */
        sse_init(&x->sse, on_sse, x);
    }
    x->resp_len = 0;
    x->resp_over = false;
    x->last_token_us = -1;
    x->usage = (struct oa_usage){-1, -1};
    x->done_seen = x->bad_stream = false;
    x->q = NULL;
    x->scrape = x->stream = false; /* a pooled transfer may have streamed last time */
    sse_reset(&x->sse);
    ratehdr_begin(&x->hdr);
    x->bad_hdr[0] = '\0';
    const struct live_config *lc = &l->sc->live;
    curl_easy_setopt(x->easy, CURLOPT_PRIVATE, x);
    curl_easy_setopt(x->easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(x->easy, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(x->easy, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(x->easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(x->easy, CURLOPT_CONNECTTIMEOUT_MS, (long)(lc->connect_timeout_us / 1000));
    curl_easy_setopt(x->easy, CURLOPT_TIMEOUT_MS, (long)(lc->timeout_us / 1000));
    curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYPEER, lc->verify_tls ? 1L : 0L);
    curl_easy_setopt(x->easy, CURLOPT_SSL_VERIFYHOST, lc->verify_tls ? 2L : 0L);
    curl_easy_setopt(x->easy, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(x->easy, CURLOPT_TCP_NODELAY, 1L);
    return x;
}

static void xfer_put(live *l, struct xfer *x)
{
    x->q = NULL;
    x->next_free = l->free_xfers;
    l->free_xfers = x;
}

static void xfer_free(struct xfer *x)
{
    curl_easy_cleanup(x->easy);
    body_buf_fini(&x->body);
    sse_fini(&x->sse);
    free(x->resp);
    free(x);
}

/* ---- the run's transport ------------------------------------------------------------ */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/*
 * A new request: with a prompts file, sample one (the client charges its estimate);
 * without, pick the variant of the synthetic words.
 */
static void tx_prepare(void *ctx, struct run_req *q)
{
    live *l = ctx;
    const struct prompts *p = l->prompts[q->cr.class_idx];
    uint64_t draw = splitmix(&l->pick);
    if (!p) {
        q->tx_tag = (uint32_t)draw; /* varies the synthetic words: no prefix cache hits */
        return;
    }
    size_t i = (size_t)(draw % prompts_count(p));
    q->tx_tag = (uint32_t)i;
    q->prompt_tokens = prompts_tokens(p, i, l->api);
}

static void tx_send(void *ctx, struct run_req *q, int64_t now)
{
    live *l = ctx;
    (void)now;
    int cls = q->cr.class_idx;
    struct xfer *x = xfer_get(l);
    x->q = q;
    x->gen = q->gen;
    x->stream = l->sc->live.stream;
    struct body_spec spec = {l->api, l->sc->live.model, x->stream};
    body_build(&x->body, &spec, l->prompts[cls], q->tx_tag, q->prompt_tokens, q->cr.max_tokens);
    curl_easy_setopt(x->easy, CURLOPT_URL, l->url);
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, l->headers[cls]);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDS, x->body.data);
    curl_easy_setopt(x->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->body.len);
    CURLMcode mc = curl_multi_add_handle(l->multi, x->easy);
    if (mc != CURLM_OK) {
        /* Could not even start (out of descriptors, say): a transport error, now. */
        xfer_put(l, x);
        l->rl.status[REPORT_ST_TRANSPORT]++;
        run_answer(l->r, q, now, 0, NULL, -1, -1);
        return;
    }
    l->in_flight++;
    q->tx_id = (uint64_t)(uintptr_t)x;
}

static void tx_abort(void *ctx, struct run_req *q, int64_t now)
{
    live *l = ctx;
    (void)now;
    struct xfer *x = (struct xfer *)(uintptr_t)q->tx_id;
    curl_multi_remove_handle(l->multi, x->easy);
    l->in_flight--;
    l->rl.status[REPORT_ST_ABORTED]++;
    xfer_put(l, x);
}

static void tx_server_gauges(void *ctx, struct run_server_gauges *out)
{
    live *l = ctx;
    *out = l->server;
}

/* The trace (--record): one JSON line per request at its end (doc/trace.md). */
static void tx_on_end(void *ctx, const struct run_req *q, enum outcome o, int64_t now)
{
    live *l = ctx;
    static const char *const names[OUTCOME__COUNT] = {"succeeded", "failed", "rejected",
                                                      "timed_out", "cancelled"};
    FILE *f = l->o.record;
    const struct client_req *c = &q->cr;
    int64_t at_unix_ms = (l->t0_unix_us + c->arrival_us) / US_PER_MS;
    fprintf(f,
            "{\"t\":%.6f,\"ts_ms\":%" PRId64 ",\"class\":\"%s\",\"prompt_tokens\":%" PRId64
            ",\"max_tokens\":%" PRId64 ",",
            (double)c->arrival_us / US_PER_S, at_unix_ms, l->sc->classes[c->class_idx].name,
            q->prompt_tokens, c->max_tokens);
    if (q->used_prompt >= 0 || q->used_completion >= 0)
        fprintf(f, "\"usage\":{\"prompt_tokens\":%" PRId64 ",\"completion_tokens\":%" PRId64 "},",
                q->used_prompt, q->used_completion);
    else
        fputs("\"usage\":null,", f);
    fprintf(f,
            "\"status\":%d,\"outcome\":\"%s\",\"attempts\":%d,\"saw_429\":%s,"
            "\"latency_ms\":%.3f,",
            c->last_status, names[o], c->attempts, q->saw_429 ? "true" : "false",
            (double)(now - c->arrival_us) / US_PER_MS);
    if (o == OUTCOME_SUCCEEDED && q->first_token_us >= 0)
        fprintf(f, "\"ttft_ms\":%.3f}\n", (double)(q->first_token_us - c->arrival_us) / US_PER_MS);
    else
        fputs("\"ttft_ms\":null}\n", f);
}

/* ---- answers ------------------------------------------------------------------------ */

static enum report_status transport_class(CURLcode rc)
{
    switch (rc) {
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
        return REPORT_ST_REFUSED;
    case CURLE_OPERATION_TIMEDOUT:
        return REPORT_ST_TIMEOUT;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return REPORT_ST_RESET;
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_CERTPROBLEM:
    case CURLE_SSL_CIPHER:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_USE_SSL_FAILED:
        return REPORT_ST_TLS;
    default:
        return REPORT_ST_TRANSPORT;
    }
}

static void scrape_done(live *l, struct xfer *x, CURLcode rc)
{
    long code = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    struct prom_vllm pv;
    l->rl.scrapes++;
    if (rc != CURLE_OK || code != 200 || x->resp_over ||
        prom_parse_vllm(x->resp ? x->resp : "", x->resp_len, &pv) < 0) {
        l->rl.scrape_failures++;
        return;
    }
    l->server = (struct run_server_gauges){(int64_t)(pv.running >= 0 ? pv.running + 0.5 : -1),
                                           (int64_t)(pv.waiting >= 0 ? pv.waiting + 0.5 : -1),
                                           pv.kv_cache_usage};
    struct report_gauge *g[3] = {&l->rl.running, &l->rl.waiting, &l->rl.kv_cache_usage};
    double v[3] = {pv.running, pv.waiting, pv.kv_cache_usage};
    for (int i = 0; i < 3; i++) {
        if (v[i] < 0)
            continue;
        if (!g[i]->samples || v[i] > g[i]->max)
            g[i]->max = v[i];
        g[i]->sum += v[i];
        g[i]->samples++;
    }
}

/* An attempt's transfer ended: classify it and hand the answer to the lifecycle. */
static void attempt_done(live *l, struct xfer *x, CURLcode rc, int64_t now)
{
    struct run_req *q = x->q;
    assert(q && q->tx_id == (uint64_t)(uintptr_t)x && q->gen == x->gen);
    l->in_flight--;
    long code = 0;
    curl_easy_getinfo(x->easy, CURLINFO_RESPONSE_CODE, &code);
    int status = 0;
    int64_t pu = -1, cu = -1;
    struct rlinfo info;
    rlinfo_clear(&info);
    enum report_status st;
    if (rc != CURLE_OK) {
        st = transport_class(rc);
    } else if (code >= 200 && code < 300) {
        bool ok;
        if (x->stream) {
            ok = !x->bad_stream && (x->done_seen || x->last_token_us >= 0);
        } else {
            ok = !x->resp_over && oa_parse_body(x->resp ? x->resp : "", x->resp_len, &x->usage) == 0;
        }
        if (ok) {
            st = REPORT_ST_2XX;
            status = (int)code;
            pu = x->usage.prompt_tokens;
            cu = x->usage.completion_tokens;
        } else {
            st = REPORT_ST_MALFORMED; /* a body the client cannot use: a transport error */
        }
    } else {
        status = (int)code;
        st = code == 429   ? REPORT_ST_429
             : code == 503 ? REPORT_ST_503
             : code >= 500 ? REPORT_ST_5XX
             : code >= 400 ? REPORT_ST_4XX
                           : REPORT_ST_OTHER;
    }
    if (status != 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ratehdr_finish(&x->hdr, (int64_t)ts.tv_sec * US_PER_S + ts.tv_nsec / 1000, &info);
        if (info.parse_errors > 0) { /* ignored by the client core, reported */
            l->rl.header_errors += info.parse_errors;
            l->rl.header_error_answers++;
            if (!l->rl.header_first_error[0])
                memcpy(l->rl.header_first_error, x->bad_hdr, sizeof x->bad_hdr);
        }
    }
    l->rl.status[st]++;
    xfer_put(l, x);
    run_answer(l->r, q, now, status, status ? &info : NULL, pu, cu);
}

static void check_multi_info(live *l)
{
    CURLMsg *msg;
    int left;
    bool any = false;
    while ((msg = curl_multi_info_read(l->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        CURL *e = msg->easy_handle;
        CURLcode rc = msg->data.result;
        struct xfer *x;
        curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&x);
        curl_multi_remove_handle(l->multi, e);
        if (x->scrape) {
            l->scraping = false;
            scrape_done(l, x, rc);
            xfer_put(l, x);
            continue;
        }
        attempt_done(l, x, rc, now_us(l));
        any = true;
    }
    if (any)
        pump(l);
}

/* ---- curl on libevent ------------------------------------------------------------------ */

static void on_socket_event(evutil_socket_t fd, short what, void *arg)
{
    live *l = arg;
    int action = ((what & EV_READ) ? CURL_CSELECT_IN : 0) | ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0);
    int running;
    curl_multi_socket_action(l->multi, fd, action, &running);
    check_multi_info(l);
}

static int curl_socket_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
    live *l = userp;
    struct sockw *w = socketp;
    (void)e;
    if (what == CURL_POLL_REMOVE) {
        if (w) {
            event_free(w->ev);
            free(w);
            curl_multi_assign(l->multi, s, NULL);
        }
        return 0;
    }
    short kind = (short)(((what & CURL_POLL_IN) ? EV_READ : 0) |
                         ((what & CURL_POLL_OUT) ? EV_WRITE : 0) | EV_PERSIST);
    if (!w) {
        w = xcalloc(1, sizeof *w);
        curl_multi_assign(l->multi, s, w);
    } else {
        event_free(w->ev);
    }
    w->ev = event_new(l->base, s, kind, on_socket_event, l);
    event_add(w->ev, NULL);
    return 0;
}

static void on_curl_timer(evutil_socket_t fd, short what, void *arg)
{
    live *l = arg;
    (void)fd, (void)what;
    int running;
    curl_multi_socket_action(l->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_multi_info(l);
}

static int curl_timer_cb(CURLM *m, long timeout_ms, void *userp)
{
    live *l = userp;
    (void)m;
    if (timeout_ms < 0)
        evtimer_del(l->curl_timer);
    else
        arm(l->curl_timer, (int64_t)timeout_ms * US_PER_MS);
    return 0;
}

/* ---- the window tick, scrapes, progress, signals ------------------------------------------ */

static void start_scrape(live *l)
{
    if (l->scraping || !l->sc->live.metrics_url[0])
        return;
    struct xfer *x = xfer_get(l);
    x->scrape = true;
    curl_easy_setopt(x->easy, CURLOPT_URL, l->sc->live.metrics_url);
    curl_easy_setopt(x->easy, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(x->easy, CURLOPT_HTTPHEADER, l->scrape_headers);
    if (curl_multi_add_handle(l->multi, x->easy) != CURLM_OK) {
        l->rl.scrapes++;
        l->rl.scrape_failures++;
        xfer_put(l, x);
        return;
    }
    l->scraping = true;
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    live *l = arg;
    (void)fd, (void)what;
    if (l->ended || run_done(l->r))
        return;
    int64_t now = now_us(l);
    /* Windows close (CSV rows stream) even when nothing happens. */
    metrics_advance(run_metrics(l->r), now);
    if (l->behind_us > 0) {
        fprintf(stderr,
                "ratelab live: falling behind: arrivals handled up to %.1f ms late at %.1f s "
                "(this machine or loop cannot keep the workload's pace; latency still counts "
                "from the intended times)\n",
                (double)l->behind_us / US_PER_MS, (double)now / US_PER_S);
        l->behind_us = 0;
    }
    start_scrape(l);
    int64_t w = l->sc->window_us;
    arm(l->tick, w - now % w);
}

static void on_progress(evutil_socket_t fd, short what, void *arg)
{
    live *l = arg;
    (void)fd, (void)what;
    if (l->ended)
        return;
    int64_t now = now_us(l);
    static struct metrics_snapshot snap;
    metrics_snapshot(run_metrics(l->r), now, &snap);
    const struct metrics_row *t = &snap.all.run;
    double share429 = t->c.arrivals ? (double)t->c.saw_429 / (double)t->c.arrivals : 0;
    fprintf(stderr,
            "\r\033[Klive %.1f/%.0f s  sent %" PRIu64 "  in flight %" PRId64 "  429 %.1f%%  "
            "p95 %.0f ms%s",
            (double)now / US_PER_S, (double)l->sc->duration_us / US_PER_S, t->c.sends,
            snap.all.inflight, 100 * share429, (double)t->latency_p95_us / US_PER_MS,
            l->interrupts ? "  (draining)" : "");
    arm(l->progress_ev, PROGRESS_US);
}

#define FRAME_US (100 * US_PER_MS) /* the dashboard's frame period */

static void on_ui_timer(evutil_socket_t fd, short what, void *arg)
{
    live *l = arg;
    (void)fd, (void)what;
    if (l->ended)
        return;
    l->o.frame(l->o.ui_ctx, l, now_us(l));
    arm(l->ui_timer, FRAME_US);
}

static void on_ui_input(evutil_socket_t fd, short what, void *arg)
{
    live *l = arg;
    (void)fd, (void)what;
    if (!l->ended)
        l->o.input(l->o.ui_ctx, l);
}

void live_stop(live *l)
{
    if (l->ended)
        return;
    run_stop(l->r, now_us(l));
    pump(l);
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    live *l = arg;
    (void)what;
    int64_t now = now_us(l);
    if (++l->interrupts == 1) {
        fprintf(stderr,
                "\nratelab live: %s: no more arrivals; %" PRId64
                " in flight drain (up to drain_limit); press Ctrl-C again to stop now\n",
                sig == SIGINT ? "interrupted" : "terminated", l->in_flight);
        run_interrupt(l->r, now);
    } else {
        fprintf(stderr, "\nratelab live: stopping now; cancelling what is in flight\n");
        run_stop(l->r, now);
    }
    pump(l);
}

/* ---- the Redis backend ------------------------------------------------------------------ */

static void begin(live *l);

static int64_t rb_now(void *ctx)
{
    return now_us(ctx);
}

static void rb_answer(void *ctx, int64_t now, int rc, int64_t wait_until_us, uint64_t ticket)
{
    live *l = ctx;
    if (l->ended || run_done(l->r))
        return;
    run_admission_answer(l->r, now, rc, wait_until_us, ticket);
    pump(l);
}

static void rb_wake(void *ctx, int64_t now)
{
    live *l = ctx;
    if (l->ended || run_done(l->r) || !l->started)
        return;
    run_wake(l->r, now);
    pump(l);
}

static void rb_ready(void *ctx, int status)
{
    live *l = ctx;
    const struct scenario *sc = l->sc;
    if (status < 0 && !l->o.quiet)
        fprintf(stderr,
                "ratelab live: note: Redis (redis_url) is not reachable yet (%s): redis_failure = "
                "%s applies until it is\n",
                strerror(-status), sc->client.redis.failure == REDIS_FAIL_OPEN ? "open" : "closed");
    if (!l->o.redis_run) {
        begin(l);
        return;
    }
    if (status < 0) {
        fprintf(stderr, "ratelab live: --redis-run %s: the start barrier needs Redis (%s)\n",
                l->o.redis_run, strerror(-status));
        l->start_err = status;
        finish_loop(l);
        return;
    }
    if (!l->o.quiet)
        fprintf(stderr, "ratelab live: --redis-run %s: waiting for %lld processes\n",
                l->o.redis_run, (long long)l->o.redis_procs);
    redis_be_barrier(l->rb, l->o.redis_run, l->o.redis_procs);
}

static void on_start(evutil_socket_t fd, short what, void *arg)
{
    (void)fd, (void)what;
    begin(arg);
}

static void rb_barrier(void *ctx, int status, int64_t in_us)
{
    live *l = ctx;
    if (status < 0) {
        if (status == -EEXIST)
            fprintf(stderr, "ratelab live: --redis-run %s: that name already has %lld processes "
                            "(expected a new name for each run)\n",
                    l->o.redis_run, (long long)l->o.redis_procs);
        else
            fprintf(stderr, "ratelab live: --redis-run %s: the start barrier failed (%s)\n",
                    l->o.redis_run, strerror(-status));
        l->start_err = status;
        finish_loop(l);
        return;
    }
    arm(l->start_ev, in_us);
}

/* ---- setup --------------------------------------------------------------------------------- */

static struct curl_slist *add_header(struct curl_slist *h, const char *line)
{
    struct curl_slist *n = curl_slist_append(h, line);
    if (!n)
        abort();
    return n;
}

live *live_new(const struct scenario *sc, const struct live_options *o, char *err, size_t errn)
{
    const struct live_config *lc = &sc->live;
    enum body_api api;
    if (body_api_of(lc->api_path, &api) < 0) {
        snprintf(err, errn,
                 "[live] api_path = %s: not a completions endpoint (expected a path ending in "
                 "/chat/completions or /completions)",
                 lc->api_path);
        return NULL;
    }
    if (sc->client.instances > 1) {
        /* One live process is one client: N clients sharing a quota are N processes. */
        snprintf(err, errn,
                 "[client] instances = %d is simulated only (ratelab sim, replay, plan): a live "
                 "run is one client instance (expected instances = 1; to drive an endpoint "
                 "with N clients sharing one quota, run N ratelab live processes)",
                 sc->client.instances);
        return NULL;
    }
    static bool curl_ready;
    if (!curl_ready) {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
            snprintf(err, errn, "libcurl failed to initialise");
            return NULL;
        }
        curl_ready = true;
    }
    live *l = xcalloc(1, sizeof *l);
    l->sc = sc;
    l->o = *o;
    l->api = api;
    for (int i = 0; i < sc->n_classes; i++) {
        const char *path = sc->classes[i].prompts_path;
        if (path[0] && prompts_load(path, &l->prompts[i], err, errn) < 0) {
            live_free(l);
            return NULL;
        }
    }
    const char *base = lc->base_url;
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    snprintf(l->url, sizeof l->url, "%.*s%s", (int)bl, base, lc->api_path);

    const char *key = lc->api_key_env[0] ? getenv(lc->api_key_env) : NULL;
    for (int i = 0; i < sc->n_classes; i++) {
        struct curl_slist *h = add_header(NULL, "Content-Type: application/json");
        h = add_header(h, "Expect:"); /* no 100-continue round trip */
        if (lc->stream)
            h = add_header(h, "Accept: text/event-stream");
        if (key && key[0]) {
            snprintf(l->auth, sizeof l->auth, "Authorization: Bearer %s", key);
            h = add_header(h, l->auth);
        }
        for (int k = 0; k < lc->n_headers; k++)
            h = add_header(h, lc->headers[k]);
        char cls[SCENARIO_NAME_MAX + 32];
        snprintf(cls, sizeof cls, "X-Ratelab-Class: %s", sc->classes[i].name);
        l->headers[i] = add_header(h, cls);
    }
    memset(l->auth, 0, sizeof l->auth); /* the key lives on only inside curl's header lists */
    l->scrape_headers = add_header(NULL, "Accept: text/plain");

    /* Precise timers (timerfd on Linux): arrivals go out to the µs, not the ms of epoll's
     * timeout, which alone would add up to a millisecond of send lag. */
    struct event_config *ec = event_config_new();
    if (ec) {
        event_config_set_flag(ec, EVENT_BASE_FLAG_PRECISE_TIMER);
        l->base = event_base_new_with_config(ec);
        event_config_free(ec);
    }
    l->multi = curl_multi_init();
    if (!l->base || !l->multi) {
        snprintf(err, errn, "cannot start the event loop (out of memory or descriptors)");
        live_free(l);
        return NULL;
    }

    struct run_transport tx = {.send = tx_send,
                               .abort = tx_abort,
                               .server_gauges = lc->metrics_url[0] ? tx_server_gauges : NULL,
                               .prepare = tx_prepare,
                               .on_end = o->record ? tx_on_end : NULL,
                               .realtime = true,
                               .ctx = l};
    int rerr = 0;
    l->r = run_new(sc, &tx, &rerr);
    if (!l->r) {
        if (rerr == -EBADMSG) /* a bad trace line, reported already as FILE:LINE */
            snprintf(err, errn, "the trace above cannot be replayed (--skip-bad skips bad lines)");
        else
            snprintf(err, errn, "the client core refused the configuration (%s)",
                     strerror(-rerr));
        live_free(l);
        return NULL;
    }
    /* Same split order as the sim: the engine's stream (prompt sampling) comes second. */
    l->pick = rng_u64(run_engine_rng(l->r));
    if (sc->client.backend == BACKEND_REDIS) {
        struct redis_be_hooks hk = {.now = rb_now, .answer = rb_answer, .ready = rb_ready,
                                    .barrier = rb_barrier, .wake = rb_wake, .ctx = l};
        l->rb = redis_be_new(l->base, &sc->client, o->redis_run ? o->redis_procs : 0, &hk, err,
                             errn);
        if (!l->rb) {
            live_free(l);
            return NULL;
        }
        if (run_set_backend(l->r, redis_be_backend(l->rb)) < 0) {
            snprintf(err, errn, "the client core refused the Redis backend");
            live_free(l);
            return NULL;
        }
    }
    run_start(l->r);
    if (lc->stream) {
        l->itl = xcalloc((size_t)sc->n_classes, sizeof *l->itl);
        for (int i = 0; i < sc->n_classes; i++)
            histogram_init(&l->itl[i]);
    }
    l->server = (struct run_server_gauges){-1, -1, -1};
    l->rl.scrape = lc->metrics_url[0] != '\0';

    curl_multi_setopt(l->multi, CURLMOPT_SOCKETFUNCTION, curl_socket_cb);
    curl_multi_setopt(l->multi, CURLMOPT_SOCKETDATA, l);
    curl_multi_setopt(l->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
    curl_multi_setopt(l->multi, CURLMOPT_TIMERDATA, l);
    l->curl_timer = evtimer_new(l->base, on_curl_timer, l);
    l->run_timer = evtimer_new(l->base, on_run_timer, l);
    l->tick = evtimer_new(l->base, on_tick, l);
    l->progress_ev = evtimer_new(l->base, on_progress, l);
    l->start_ev = evtimer_new(l->base, on_start, l);
    l->sigint = evsignal_new(l->base, SIGINT, on_signal, l);
    l->sigterm = evsignal_new(l->base, SIGTERM, on_signal, l);
    if (o->frame)
        l->ui_timer = evtimer_new(l->base, on_ui_timer, l);
    if (o->input)
        l->ui_input = event_new(l->base, STDIN_FILENO, EV_READ | EV_PERSIST, on_ui_input, l);
    return l;
}

/* The run's clock starts: time 0 is now. */
static void begin(live *l)
{
    if (l->started || l->ended)
        return;
    l->started = true;
    clock_gettime(CLOCK_MONOTONIC, &l->t0);
    struct timespec wall;
    clock_gettime(CLOCK_REALTIME, &wall);
    l->t0_unix_us = (int64_t)wall.tv_sec * US_PER_S + wall.tv_nsec / 1000;
    arm(l->tick, l->sc->window_us);
    if (l->o.progress)
        arm(l->progress_ev, PROGRESS_US);
    if (l->ui_timer)
        arm(l->ui_timer, 0);
    if (l->ui_input)
        event_add(l->ui_input, NULL);
    start_scrape(l);
    pump(l);
}

int live_run(live *l)
{
    /* Until begin, a signal ends a run that has not started: its clock reads from here. */
    clock_gettime(CLOCK_MONOTONIC, &l->t0);
    event_add(l->sigint, NULL);
    event_add(l->sigterm, NULL);
    if (!l->rb)
        begin(l); /* with Redis: once connected (rb_ready), and past the barrier */
    int rc = l->ended ? 0 : event_base_dispatch(l->base);
    if (l->o.progress)
        fputs("\r\033[K", stderr);
    event_del(l->sigint);
    event_del(l->sigterm);
    if (l->ui_timer)
        event_del(l->ui_timer);
    if (l->ui_input)
        event_del(l->ui_input);
    if (!run_done(l->r)) {
        /* The loop ran dry without the run ending (it should not): stop it, account all. */
        run_stop(l->r, now_us(l));
    }
    if (l->rb) {
        redis_be_leave(l->rb); /* hand back the slots and the reservation */
        redis_be_report(l->rb, &l->rr);
    }
    if (l->start_err)
        return l->start_err;
    return rc < 0 ? -EIO : 0;
}

void live_free(live *l)
{
    if (!l)
        return;
    run_free(l->r); /* ends nothing: live_run did; in-flight transfers were aborted */
    redis_be_free(l->rb); /* its events first: the base goes below */
    if (l->multi) {
        struct xfer *x;
        while ((x = l->free_xfers)) {
            l->free_xfers = x->next_free;
            curl_multi_remove_handle(l->multi, x->easy);
            xfer_free(x);
        }
        curl_multi_cleanup(l->multi);
    }
    struct event *evs[] = {l->curl_timer, l->run_timer, l->tick,     l->progress_ev, l->sigint,
                           l->sigterm,    l->ui_timer,  l->ui_input, l->start_ev};
    for (size_t i = 0; i < sizeof evs / sizeof evs[0]; i++)
        if (evs[i])
            event_free(evs[i]);
    if (l->base)
        event_base_free(l->base);
    for (int i = 0; i < SCENARIO_MAX_CLASSES; i++) {
        curl_slist_free_all(l->headers[i]);
        prompts_free(l->prompts[i]);
    }
    curl_slist_free_all(l->scrape_headers);
    free(l->itl);
    free(l);
}

run *live_lifecycle(live *l)
{
    return l->r;
}

void live_extra(live *l, struct report_extra *x)
{
    *x = (struct report_extra){.end_us = run_end_us(l->r), .live = &l->rl};
    l->rl.send_lag = run_send_lag(l->r);
    l->rl.redis = l->rb ? &l->rr : NULL;
    l->rl.itl = l->itl;
}

void live_budget_client(live *l, struct report_budget *out)
{
    if (l->rb)
        redis_be_budget(l->rb, out);
    else
        run_budget_client(l->r, out);
}

const struct run_server_gauges *live_server_gauges(const live *l)
{
    return l->rl.scrape ? &l->server : NULL;
}
