#include "config.h"

/*
 * mock_http: the HTTP side of the mock server — routes, authentication, the
 * 429 answers, /v1/models, /metrics, and listening.
 */

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/util.h>

#include "mock_int.h"
#include "util.h"

/* ---- rate-limit answers ----------------------------------------------- */

static void emit_header(void *ctx, const char *name, const char *value)
{
    evhttp_add_header(ctx, name, value);
}

void mock_add_rl_headers(struct mock *m, struct evhttp_request *req, const struct rlinfo *rl,
                         int64_t at_us)
{
    provider_format_headers(m->sc->server.headers, rl, at_us, emit_header,
                            evhttp_request_get_output_headers(req));
}

/* A bounded string builder for error messages; truncates, always NUL-terminated. */
struct msg {
    char *p;
    size_t n, cap;
};

static void msg_str(struct msg *b, const char *s)
{
    size_t l = strlen(s);
    if (l > b->cap - 1 - b->n)
        l = b->cap - 1 - b->n;
    memcpy(b->p + b->n, s, l);
    b->n += l;
    b->p[b->n] = '\0';
}

static void msg_i64(struct msg *b, int64_t v)
{
    char t[24];
    int k = sizeof t - 1;
    t[k] = '\0';
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do {
        t[--k] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        t[--k] = '-';
    msg_str(b, t + k);
}

void mock_reply_limited(struct mock *m, struct evhttp_request *req, const struct mock_request *r,
                        int64_t completion, const struct provider_decision *d, int64_t now)
{
    static const char *const what[PROVIDER_LIMIT_N] = {
        "requests per min (RPM)", "tokens per min (TPM)", "tokens per day (TPD)",
        "concurrent requests"};
    const struct server_config *sv = &m->sc->server;
    bool tokens = d->reason == PROVIDER_LIMIT_TPM || d->reason == PROVIDER_LIMIT_TPD;
    /* rl's token fields describe TPM when it is set, else TPD (provider.h). */
    bool rl_is_this = d->reason == PROVIDER_LIMIT_RPM || d->reason == PROVIDER_LIMIT_TPM ||
                      (d->reason == PROVIDER_LIMIT_TPD && sv->tokens_per_minute == 0);
    int64_t limit = d->reason == PROVIDER_LIMIT_RPM   ? sv->requests_per_minute
                    : d->reason == PROVIDER_LIMIT_TPM ? sv->tokens_per_minute
                    : d->reason == PROVIDER_LIMIT_TPD ? sv->tokens_per_day
                                                      : sv->max_concurrent;
    int64_t remaining = !rl_is_this                       ? -1
                        : d->reason == PROVIDER_LIMIT_RPM ? d->rl.remaining_requests
                                                          : d->rl.remaining_tokens;
    if (d->reason == PROVIDER_LIMIT_CONCURRENCY)
        remaining = 0;
    int64_t requested =
        tokens ? r->prompt_tokens + (r->max_tokens ? r->max_tokens : completion) : 1;
    struct mock_error e;
    e.status = 429;
    e.code = "rate_limit_exceeded";
    e.param = NULL;
    struct msg mb = {e.message, 0, sizeof e.message};
    if (d->rl.retry_after_us < 0) {
        e.type = "tokens";
        msg_str(&mb, "Request too large for ");
        msg_str(&mb, r->model);
        msg_str(&mb, " in organization org-ratelab on ");
        msg_str(&mb, what[d->reason]);
        msg_str(&mb, ": Limit ");
        msg_i64(&mb, limit);
        msg_str(&mb, ", Requested ");
        msg_i64(&mb, requested);
        msg_str(&mb, ". The input or output tokens must be reduced in order to run "
                     "successfully.");
    } else {
        /* Built by hand, not printf: this is the hot path when every answer is a 429. */
        char wait[32];
        provider_format_reset(d->rl.retry_after_us, wait, sizeof wait);
        e.type = tokens ? "tokens" : "requests";
        msg_str(&mb, "Rate limit reached for ");
        msg_str(&mb, r->model);
        msg_str(&mb, " in organization org-ratelab on ");
        msg_str(&mb, what[d->reason]);
        msg_str(&mb, ": Limit ");
        msg_i64(&mb, limit);
        if (remaining >= 0) {
            msg_str(&mb, ", Used ");
            msg_i64(&mb, limit - remaining);
        }
        msg_str(&mb, ", Requested ");
        msg_i64(&mb, requested);
        msg_str(&mb, ". Please try again in ");
        msg_str(&mb, wait);
        msg_str(&mb, ".");
    }
    mock_add_rl_headers(m, req, &d->rl, now);
    mock_send_error(m, req, &e);
}

/* ---- small endpoints --------------------------------------------------- */

static void add_model(struct evbuffer *out, const char *name, int *n)
{
    evbuffer_add_printf(out, "%s{\"id\":\"", *n ? "," : "");
    mock_json_escape(out, name);
    evbuffer_add_printf(out, "\",\"object\":\"model\",\"created\":0,\"owned_by\":\"ratelab\"}");
    (*n)++;
}

/* GET /v1/models: the scenario's [live] model, then every class name (a model picks a class). */
static void serve_models(struct mock *m, struct evhttp_request *req)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    const struct scenario *sc = m->sc;
    int n = 0;
    evbuffer_add_printf(out, "{\"object\":\"list\",\"data\":[");
    add_model(out, sc->live.model, &n);
    for (int i = 0; i < sc->n_classes; i++)
        if (strcmp(sc->classes[i].name, sc->live.model) != 0)
            add_model(out, sc->classes[i].name, &n);
    evbuffer_add(out, "]}\n", 3);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type", "application/json");
    mock_send(m, req, 200);
}

static void metric_value(struct evbuffer *out, const char *name, const char *labels, double v)
{
    evbuffer_add_printf(out, "%s{%s} %.17g\n", name, labels, v);
}

/* GET /metrics: vLLM's names for what vLLM would show, ratelab_mock_* for the rest. */
static void serve_metrics(struct mock *m, struct evhttp_request *req)
{
    struct evbuffer *out = evhttp_request_get_output_buffer(req);
    struct provider_stats st;
    provider_stats(m->prov, &st);
    struct evbuffer *lb = evbuffer_new();
    evbuffer_add_printf(lb, "model_name=\"");
    prom_escape_label(lb, m->sc->live.model);
    evbuffer_add(lb, "\"\0", 2);
    const char *labels = (const char *)evbuffer_pullup(lb, -1);

    prom_meta(out, "vllm:num_requests_running", "gauge",
              "Number of requests in model execution batches.");
    metric_value(out, "vllm:num_requests_running", labels, (double)st.running);
    prom_meta(out, "vllm:num_requests_waiting", "gauge",
              "Number of requests waiting to be processed.");
    metric_value(out, "vllm:num_requests_waiting", labels, (double)st.waiting);
    prom_meta(out, "vllm:kv_cache_usage_perc", "gauge",
              "KV-cache usage. 1 means 100 percent usage (ratelab: batch slots in use).");
    metric_value(out, "vllm:kv_cache_usage_perc", labels, st.kv_cache_usage);
    prom_meta(out, "vllm:prompt_tokens_total", "counter", "Number of prefill tokens processed.");
    metric_value(out, "vllm:prompt_tokens_total", labels, (double)st.prompt_tokens_total);
    prom_meta(out, "vllm:generation_tokens_total", "counter",
              "Number of generation tokens processed.");
    metric_value(out, "vllm:generation_tokens_total", labels, (double)st.generation_tokens_total);
    prom_meta(out, "vllm:request_success_total", "counter",
              "Count of successfully processed requests.");
    static const char *const why[MOCK_FINISH_N] = {"stop", "length", "abort"};
    for (int i = 0; i < MOCK_FINISH_N; i++)
        evbuffer_add_printf(out, "vllm:request_success_total{finished_reason=\"%s\",%s} %" PRIu64
                                 "\n",
                            why[i], labels, m->finished[i]);
    prom_meta(out, "vllm:time_to_first_token_seconds", "histogram",
              "Histogram of time to first token in seconds.");
    prom_hist_render(out, "vllm:time_to_first_token_seconds", labels, &m->h_ttft);
    prom_meta(out, "vllm:e2e_request_latency_seconds", "histogram",
              "Histogram of end to end request latency in seconds.");
    prom_hist_render(out, "vllm:e2e_request_latency_seconds", labels, &m->h_e2e);
    prom_meta(out, "vllm:request_queue_time_seconds", "histogram",
              "Histogram of time spent in WAITING phase for request.");
    prom_hist_render(out, "vllm:request_queue_time_seconds", labels, &m->h_queue);

    prom_meta(out, "ratelab_mock_rate_limited_total", "counter",
              "429 answers sent, by the limit that was hit.");
    for (int i = 0; i < PROVIDER_LIMIT_N; i++)
        evbuffer_add_printf(out, "ratelab_mock_rate_limited_total{reason=\"%s\"} %" PRId64 "\n",
                            provider_limit_name(i), st.rate_limited[i]);
    prom_meta(out, "ratelab_mock_overloaded_total", "counter",
              "503 answers sent because the server's waiting queue was full.");
    evbuffer_add_printf(out, "ratelab_mock_overloaded_total %" PRId64 "\n", st.overloaded);
    prom_meta(out, "ratelab_mock_faults_total", "counter", "Injected faults, by kind.");
    for (int i = PROVIDER_FAULT_ERROR; i < PROVIDER_FAULT_N; i++)
        evbuffer_add_printf(out, "ratelab_mock_faults_total{kind=\"%s\"} %" PRId64 "\n",
                            provider_fault_name(i), st.faults[i]);
    prom_meta(out, "ratelab_mock_client_cancelled_total", "counter",
              "Accepted requests whose client hung up before the answer.");
    evbuffer_add_printf(out, "ratelab_mock_client_cancelled_total %" PRId64 "\n", m->client_gone);
    prom_meta(out, "ratelab_mock_responses_total", "counter",
              "Answers sent, by HTTP status (dropped connections are not answers).");
    for (int s = 0; s < MOCK_STATUS_MAX; s++)
        if (m->by_status[s])
            evbuffer_add_printf(out, "ratelab_mock_responses_total{code=\"%d\"} %" PRIu64 "\n", s,
                                m->by_status[s]);
    prom_meta(out, "ratelab_mock_in_flight", "gauge",
              "Accepted requests not yet answered (waiting, running or stalled).");
    evbuffer_add_printf(out, "ratelab_mock_in_flight %" PRId64 "\n", m->n_live);
    prom_meta(out, "ratelab_mock_connections_open", "gauge", "Client connections open.");
    evbuffer_add_printf(out, "ratelab_mock_connections_open %" PRId64 "\n", m->n_conns);
    prom_meta(out, "ratelab_mock_connections_limit", "gauge",
              "Client connections allowed at once (--max-connections, descriptor limit).");
    evbuffer_add_printf(out, "ratelab_mock_connections_limit %" PRId64 "\n", m->max_conns);
    prom_meta(out, "ratelab_mock_connections_accepted_total", "counter",
              "Client connections accepted.");
    evbuffer_add_printf(out, "ratelab_mock_connections_accepted_total %" PRIu64 "\n",
                        m->conns_accepted);
    prom_meta(out, "ratelab_mock_connections_refused_total", "counter",
              "Connections closed for the connection limit before they were answered at all.");
    evbuffer_add_printf(out, "ratelab_mock_connections_refused_total %" PRIu64 "\n",
                        m->conns_refused);
    prom_meta(out, "ratelab_mock_connections_closed_total", "counter",
              "Connections the server closed, by why: idle too long, a request too slow to "
              "arrive, or idle after an answer and closed to make room for a new one.");
    evbuffer_add_printf(
        out,
        "ratelab_mock_connections_closed_total{reason=\"idle_timeout\"} %" PRIu64
        "\nratelab_mock_connections_closed_total{reason=\"header_timeout\"} %" PRIu64
        "\nratelab_mock_connections_closed_total{reason=\"evicted\"} %" PRIu64 "\n",
        m->conns_idle_timeout, m->conns_header_timeout, m->conns_evicted);
    prom_meta(out, "ratelab_mock_accept_errors_total", "counter",
              "accept() failures (EMFILE, ENFILE, ...); each pauses accepting for up to 500 ms.");
    evbuffer_add_printf(out, "ratelab_mock_accept_errors_total %" PRIu64 "\n", m->accept_pauses);
    evbuffer_free(lb);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4; charset=utf-8");
    mock_send(m, req, 200);
}

/* ---- routing ----------------------------------------------------------- */

enum route { R_CHAT, R_COMPLETIONS, R_MODELS, R_HEALTH, R_METRICS, R_N };

static const struct {
    const char *path;
    bool post; /* POST only; else GET (and HEAD) */
    bool auth; /* behind the API key */
} routes[R_N] = {
    [R_CHAT] = {"/v1/chat/completions", true, true},
    [R_COMPLETIONS] = {"/v1/completions", true, true},
    [R_MODELS] = {"/v1/models", false, true},
    [R_HEALTH] = {"/health", false, false},
    [R_METRICS] = {"/metrics", false, false},
};

/* The method's name; NULL for one libevent does not know (2.1 does not keep its name). */
static const char *method_name(enum evhttp_cmd_type t)
{
    switch (t) {
    case EVHTTP_REQ_GET:
        return "GET";
    case EVHTTP_REQ_POST:
        return "POST";
    case EVHTTP_REQ_HEAD:
        return "HEAD";
    case EVHTTP_REQ_PUT:
        return "PUT";
    case EVHTTP_REQ_DELETE:
        return "DELETE";
    case EVHTTP_REQ_OPTIONS:
        return "OPTIONS";
    case EVHTTP_REQ_TRACE:
        return "TRACE";
    case EVHTTP_REQ_CONNECT:
        return "CONNECT";
    case EVHTTP_REQ_PATCH:
        return "PATCH";
    }
    return NULL;
}

static const char *method_text(enum evhttp_cmd_type t)
{
    const char *n = method_name(t);
    return n ? n : "an unknown method";
}

/* Compare without leaking the key's length or prefix through timing. */
static bool key_matches(const char *want, const char *got)
{
    size_t lw = strlen(want), lg = strlen(got);
    unsigned diff = lw != lg;
    for (size_t i = 0; i < lw; i++)
        diff |= (unsigned char)want[i] ^ (unsigned char)(i < lg ? got[i] : 0);
    return diff == 0;
}

static bool authorised(struct mock *m, struct evhttp_request *req, struct mock_error *e)
{
    if (!m->api_key)
        return true;
    const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
    if (!h || strncasecmp(h, "Bearer ", 7) != 0) {
        mock_error_set(e, 401, "invalid_request_error", NULL, NULL,
                       "You didn't provide an API key. You need to provide your API key in an "
                       "Authorization header using Bearer auth (i.e. Authorization: Bearer "
                       "YOUR_KEY).");
        return false;
    }
    const char *key = h + 7;
    while (*key == ' ')
        key++;
    if (!key_matches(m->api_key, key)) {
        mock_error_set(e, 401, "invalid_request_error", "invalid_api_key", NULL,
                       "Incorrect API key provided.");
        return false;
    }
    return true;
}

static void on_request(struct evhttp_request *req, void *arg)
{
    struct mock *m = arg;
    struct mock_error e;
    if (!mock_http_framing_ok(req, &e)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        mock_send_error(m, req, &e);
        return;
    }
    const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
    const char *path = uri ? evhttp_uri_get_path(uri) : NULL;
    enum evhttp_cmd_type method = evhttp_request_get_command(req);
    if (!path || !path[0])
        path = "/";
    mock_conn_request(m, req);
    int r = 0;
    while (r < R_N && strcmp(routes[r].path, path) != 0)
        r++;
    if (r == R_N) {
        if (!method_name(method))
            evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        mock_error_set(&e, 404, "invalid_request_error", NULL, NULL, "Invalid URL (%s %.200s)",
                       method_text(method), path);
        mock_send_error(m, req, &e);
        return;
    }
    bool ok = routes[r].post ? method == EVHTTP_REQ_POST
                             : method == EVHTTP_REQ_GET || method == EVHTTP_REQ_HEAD;
    if (!ok) {
        if (!method_name(method)) /* libevent left its body unread: this connection is done */
            evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
        evhttp_add_header(evhttp_request_get_output_headers(req), "Allow",
                          routes[r].post ? "POST" : "GET, HEAD");
        mock_error_set(&e, 405, "invalid_request_error", NULL, NULL,
                       "Invalid method for URL (%s %s): use %s.", method_text(method), path,
                       routes[r].post ? "POST" : "GET");
        mock_send_error(m, req, &e);
        return;
    }
    if (routes[r].auth && !authorised(m, req, &e)) {
        evhttp_add_header(evhttp_request_get_output_headers(req), "WWW-Authenticate", "Bearer");
        mock_send_error(m, req, &e);
        return;
    }
    switch ((enum route)r) {
    case R_CHAT:
        mock_serve_completion(m, req, MOCK_API_CHAT);
        break;
    case R_COMPLETIONS:
        mock_serve_completion(m, req, MOCK_API_COMPLETIONS);
        break;
    case R_MODELS:
        serve_models(m, req);
        break;
    case R_HEALTH:
        mock_send(m, req, 200); /* as vLLM: 200 with an empty body */
        break;
    case R_METRICS:
        serve_metrics(m, req);
        break;
    case R_N:
        break;
    }
}

int64_t mock_http_read_limit(const struct mock *m)
{
    assert(m->max_body > 0 && m->max_body <= MOCK_MAX_BODY_LIMIT); /* mock_new clamps it */
    return 4 * m->max_body + 65536;
}

struct evhttp *mock_http_new(struct mock *m)
{
    struct evhttp *http = evhttp_new(m->base);
    if (!http) {
        fprintf(stderr, "ratelab: out of memory\n");
        abort();
    }
    /*
     * Every method reaches on_request, the ones libevent does not know too (2.1
     * gives them a type bit of their own, 1 << 15, outside the EVHTTP_REQ_*
     * values): they get a JSON 404 or 405 instead of libevent's 501.
     */
    evhttp_set_allowed_methods(http, 0xffff);
    /*
     * Bodies up to max_body get parsed; up to 4x (plus 64 KiB) they are read and
     * answered with a JSON 413; beyond that libevent refuses them unread (its
     * 413 is JSON too, mock_http_errors.c, but a client still sending may see
     * the connection reset before it reads it).
     */
    int64_t read_max = mock_http_read_limit(m);
    evhttp_set_max_body_size(http, read_max > EV_SSIZE_MAX ? EV_SSIZE_MAX : (ev_ssize_t)read_max);
    evhttp_set_max_headers_size(http, MOCK_MAX_HEADERS_BYTES);
    evhttp_set_default_content_type(http, "application/json");
    evhttp_set_gencb(http, on_request, m);
    m->http = http;
    mock_http_errors_register(m);
    return http;
}

/* Split "HOST:PORT", "[V6]:PORT", ":PORT" or "PORT"; host defaults to 127.0.0.1. */
static int split_addr(const char *addr, char *host, size_t hn, char *port, size_t pn)
{
    const char *p;
    size_t hl;
    if (addr[0] == '[') {
        const char *close = strchr(addr, ']');
        if (!close || close[1] != ':')
            return -EINVAL;
        hl = (size_t)(close - addr - 1);
        memcpy(host, addr + 1, hl < hn ? hl : 0);
        p = close + 2;
    } else if ((p = strrchr(addr, ':')) != NULL) {
        hl = (size_t)(p - addr);
        if (hl < hn)
            memcpy(host, addr, hl);
        p++;
    } else {
        hl = 0;
        p = addr;
    }
    if (hl >= hn || !*p || strlen(p) >= pn || strspn(p, "0123456789") != strlen(p) ||
        atol(p) > 65535)
        return -EINVAL;
    host[hl] = '\0';
    if (!hl)
        snprintf(host, hn, "127.0.0.1");
    snprintf(port, pn, "%s", p);
    return 0;
}

int mock_http_listen(struct mock *m, const char *addr, char *bound, size_t n)
{
    char host[256], port[8];
    if (split_addr(addr, host, sizeof host, port, sizeof port) < 0)
        return -EINVAL;
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
    struct addrinfo *ai;
    if (getaddrinfo(host, port, &hints, &ai) != 0)
        return -EINVAL;
    int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC, ai->ai_protocol);
    int one = 1, rc = 0;
    if (fd < 0)
        rc = -errno;
    else if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
             bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, SOMAXCONN) < 0)
        rc = -errno;
    freeaddrinfo(ai);
    /* The accept queue is the kernel's maximum, so a burst of thousands of clients connects. */
    struct evhttp_bound_socket *bs = NULL;
    if (rc == 0 && !(bs = evhttp_accept_socket_with_handle(m->http, fd)))
        rc = -ENOMEM;
    if (bs)
        mock_conn_listener(m, evhttp_bound_socket_get_listener(bs));
    if (rc < 0) {
        if (fd >= 0)
            close(fd);
        return rc;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char h[NI_MAXHOST], s[NI_MAXSERV];
    if (bound && n) {
        if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0 &&
            getnameinfo((struct sockaddr *)&ss, sl, h, sizeof h, s, sizeof s,
                        NI_NUMERICHOST | NI_NUMERICSERV) == 0)
            snprintf(bound, n, strchr(h, ':') ? "[%s]:%s" : "%s:%s", h, s);
        else
            snprintf(bound, n, "%s", addr);
    }
    return 0;
}
