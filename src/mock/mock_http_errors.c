#include "config.h"

/*
 * mock_http_errors: the answers libevent writes by itself, in OpenAI's words.
 *
 * evhttp (libevent 2.1) answers what it cannot parse — a malformed request
 * line or header, a bad Content-Length, a bad chunk, a header block or body
 * past its limits, an Expect it does not know — without asking the server: it
 * calls evhttp_send_error(), which writes an HTML page. 2.1 has no hook for it
 * (2.2 added evhttp_set_errorcb) and no callback before a request is parsed,
 * so the server never sees these requests. But libevent calls its own exported
 * evhttp_send_error() through its PLT, so the definition below, linked into
 * the program, is the one it reaches (ELF symbol interposition): one function
 * with libevent's contract, sending OpenAI's error JSON instead of the page,
 * with the connection closed as libevent would. tests/check_mock_input.c
 * (refused_in_openai_json) fails if a libevent build ever binds the call
 * inside itself (-Bsymbolic) and the HTML comes back.
 *
 * The request has been through libevent's parser when it fails, and what the
 * parser left in it (struct evhttp_request, event2/http_struct.h) says which
 * part was wrong, so the message can say it too.
 */

#include <inttypes.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/http_struct.h>
#include <event2/keyvalq_struct.h>

#include "mock_int.h"
#include "util.h"

/* The mocks of this process, so an answer is counted in its own server's metrics. */
static pthread_mutex_t servers_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mock *servers; /* linked through mock.next_server */

void mock_http_errors_register(struct mock *m)
{
    pthread_mutex_lock(&servers_lock);
    m->next_server = servers;
    servers = m;
    pthread_mutex_unlock(&servers_lock);
}

void mock_http_errors_forget(struct mock *m)
{
    pthread_mutex_lock(&servers_lock);
    for (struct mock **p = &servers; *p; p = &(*p)->next_server)
        if (*p == m) {
            *p = m->next_server;
            break;
        }
    pthread_mutex_unlock(&servers_lock);
}

struct mock *mock_of_http(const struct evhttp *http)
{
    struct mock *m = NULL;
    pthread_mutex_lock(&servers_lock);
    for (struct mock *s = servers; s && !m; s = s->next_server)
        if (s->http == http)
            m = s;
    pthread_mutex_unlock(&servers_lock);
    return m;
}

static struct mock *server_of(struct evhttp_request *req)
{
    struct evhttp_connection *evcon = evhttp_request_get_connection(req);
    return evcon ? mock_of_http(evhttp_connection_get_server(evcon)) : NULL;
}

/*
 * The body's framing, which libevent 2.1 does not check: it takes the first of
 * several Content-Length headers, and chunked over a Content-Length, and reads
 * any other Transfer-Encoding as no body at all. Each leaves the two ends
 * disagreeing on where this request ends (request smuggling, RFC 9112 §6.3),
 * so each is refused and the connection closed after the answer.
 */
bool mock_http_framing_ok(struct evhttp_request *req, struct mock_error *e)
{
    const struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    int lengths = 0, encodings = 0;
    const char *te = NULL;
    for (const struct evkeyval *h = in->tqh_first; h; h = h->next.tqe_next) {
        if (strcasecmp(h->key, "Content-Length") == 0)
            lengths++;
        else if (strcasecmp(h->key, "Transfer-Encoding") == 0) {
            encodings++;
            te = h->value;
        }
    }
    if (lengths > 1)
        mock_error_set(e, 400, "invalid_request_error", NULL, NULL,
                       "The request has %d Content-Length headers (expected at most one).",
                       lengths);
    else if (lengths && encodings)
        mock_error_set(e, 400, "invalid_request_error", NULL, NULL,
                       "The request has both Content-Length and Transfer-Encoding (expected "
                       "one of them).");
    else if (encodings > 1 || (te && strcasecmp(te, "chunked") != 0))
        mock_error_set(e, 501, "invalid_request_error", NULL, NULL,
                       "Unsupported Transfer-Encoding '%.60s' (only a single chunked is "
                       "supported).",
                       te);
    else
        return true;
    return false;
}

/* Content-Length as libevent accepts it: digits only, no sign, no overflow. */
static bool valid_length(const char *s)
{
    int64_t v;
    return s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789") == strlen(s) &&
           parse_count(s, &v) == 0;
}

/* Why libevent refused req with status, from what its parser left in req, into *e. */
static void explain(const struct mock *m, struct evhttp_request *req, int status,
                    struct mock_error *e)
{
    const struct evkeyvalq *in = evhttp_request_get_input_headers(req);
    const char *cl = evhttp_find_header(in, "Content-Length");
    switch (status) {
    case HTTP_BADREQUEST:
        if (req->major != 0 && !mock_http_framing_ok(req, e))
            return;
        if (req->major == 0) /* the version is the request line's last part */
            mock_error_set(e, 400, "invalid_request_error", NULL, NULL,
                           "We could not parse the HTTP request line (expected 'METHOD /path "
                           "HTTP/1.1').");
        else if (cl && !valid_length(cl))
            mock_error_set(e, 400, "invalid_request_error", NULL, NULL,
                           "Invalid Content-Length header '%.40s' (expected a byte count).", cl);
        else
            mock_error_set(e, 400, "invalid_request_error", NULL, NULL,
                           "We could not parse the HTTP request headers: a malformed header "
                           "line, or a header block over %d KiB.",
                           MOCK_MAX_HEADERS_BYTES / 1024);
        return;
    case HTTP_ENTITYTOOLARGE:
        /*
         * libevent 2.1 answers a chunk-size line that is not a number as if the
         * body were too large (DATA_CORRUPTED and DATA_TOO_LONG share one path,
         * and the line is gone): in a chunked body the two cannot be told apart,
         * so the answer is the 400 that the malformed case deserves and names both.
         */
        if (req->chunked) {
            if (m)
                mock_error_set(e, 400, "invalid_request_error", NULL, NULL,
                               "We could not read the chunked request body: a chunk size that "
                               "is not a hexadecimal number, or chunks adding up to more than "
                               "%" PRId64 " bytes.",
                               mock_http_read_limit(m));
            else
                mock_error_set(e, 400, "invalid_request_error", NULL, NULL,
                               "We could not read the chunked request body.");
        } else if (m && cl) {
            mock_error_set(e, 413, "invalid_request_error", "request_too_large", NULL,
                           "Request body too large: %.40s bytes; this server accepts at most "
                           "%" PRId64 ".",
                           cl, m->max_body);
        } else {
            mock_error_set(e, 413, "invalid_request_error", "request_too_large", NULL,
                           "Request body too large.");
        }
        return;
    case HTTP_EXPECTATIONFAILED: {
        const char *x = evhttp_find_header(in, "Expect");
        mock_error_set(e, 417, "invalid_request_error", NULL, NULL,
                       "Unsupported Expect header '%.60s' (only 100-continue is supported).",
                       x ? x : "");
        return;
    }
    default:
        mock_error_set(e, status, "invalid_request_error", NULL, NULL,
                       "The server could not process this HTTP request (status %d).", status);
        return;
    }
}

/* libevent's contract (event2/http.h): answer req with status and close the connection. */
void evhttp_send_error(struct evhttp_request *req, int error, const char *reason)
{
    struct mock *m = server_of(req);
    struct mock_error e;
    explain(m, req, error, &e);
    /* As libevent: a request line that did not parse left no version to answer in. */
    if (!req->major || !req->minor) {
        req->major = 1;
        req->minor = 1;
    }
    evhttp_add_header(evhttp_request_get_output_headers(req), "Connection", "close");
    if (m) {
        mock_send_error(m, req, &e);
    } else {
        evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                          "application/json");
        mock_render_error(evhttp_request_get_output_buffer(req), &e);
        evhttp_send_reply(req, e.status, reason ? reason : "Error", NULL);
    }
}
