#include "config.h"

#include "mock_client.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <event2/event.h>

#include "util.h"

void test_server_init(struct test_server *s)
{
    memset(s, 0, sizeof *s);
    scenario_defaults(&s->sc);
    s->sc.server.ttft_base_us = 1000;
    s->sc.server.prefill_us_per_token = 0;
    s->sc.server.decode_us_per_token = 100;
    s->sc.server.stall_us = 50 * US_PER_MS;
}

static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    event_base_loopbreak(arg);
}

static void *run(void *arg)
{
    struct test_server *s = arg;
    event_base_dispatch(s->base);
    return NULL;
}

void test_server_start(struct test_server *s)
{
    signal(SIGPIPE, SIG_IGN);
    s->base = event_base_new();
    ck_assert_ptr_nonnull(s->base);
    s->m = mock_new(s->base, &s->sc, &s->opt);
    ck_assert_int_eq(mock_listen(s->m, "127.0.0.1:0", s->addr, sizeof s->addr), 0);
    ck_assert_int_eq(pipe(s->stop_pipe), 0);
    s->stop = event_new(s->base, s->stop_pipe[0], EV_READ, on_stop, s->base);
    event_add(s->stop, NULL);
    ck_assert_int_eq(pthread_create(&s->thread, NULL, run, s), 0);
}

void test_server_stop(struct test_server *s)
{
    ck_assert_int_eq(write(s->stop_pipe[1], "x", 1), 1);
    pthread_join(s->thread, NULL);
    mock_free(s->m);
    event_free(s->stop);
    event_base_free(s->base);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    scenario_fini(&s->sc);
}

static size_t on_body(char *p, size_t size, size_t n, void *arg)
{
    struct http_resp *r = arg;
    size_t k = size * n;
    r->body = xrealloc(r->body, r->len + k + 1);
    memcpy(r->body + r->len, p, k);
    r->len += k;
    r->body[r->len] = '\0';
    if (r->abort_after > 0 && r->len >= (size_t)r->abort_after)
        return 0; /* hang up */
    return k;
}

static size_t on_header(char *p, size_t size, size_t n, void *arg)
{
    struct http_resp *r = arg;
    size_t k = size * n;
    r->headers = xrealloc(r->headers, r->headers_len + k + 1);
    memcpy(r->headers + r->headers_len, p, k);
    r->headers_len += k;
    r->headers[r->headers_len] = '\0';
    return k;
}

static CURL *prepare(const char *addr, const char *method, const char *path, const char *body,
                     struct curl_slist *hl, struct http_resp *r)
{
    char url[512];
    snprintf(url, sizeof url, "http://%s%s", addr, path);
    r->body = xstrdup("");
    r->headers = xstrdup("");
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, r->timeout_ms > 0 ? r->timeout_ms : 20000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    return c;
}

void http_do(const char *addr, const char *method, const char *path, const char *body,
             const char *const *headers, struct http_resp *r)
{
    int abort_after = r->abort_after;
    long timeout_ms = r->timeout_ms;
    memset(r, 0, sizeof *r);
    r->abort_after = abort_after;
    r->timeout_ms = timeout_ms;
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Expect:");
    for (int i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    CURL *c = prepare(addr, method, path, body, hl, r);
    r->curl_rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_cleanup(c);
    curl_slist_free_all(hl);
}

void http_many(const char *addr, const char *path, const char *body, int n, struct http_resp *r)
{
    struct curl_slist *hl = curl_slist_append(NULL, "Content-Type: application/json");
    hl = curl_slist_append(hl, "Expect:");
    CURLM *multi = curl_multi_init();
    CURL **easy = xcalloc((size_t)n, sizeof *easy);
    for (int i = 0; i < n; i++) {
        memset(&r[i], 0, sizeof r[i]);
        easy[i] = prepare(addr, "POST", path, body, hl, &r[i]);
        curl_easy_setopt(easy[i], CURLOPT_PRIVATE, &r[i]);
        curl_multi_add_handle(multi, easy[i]);
    }
    int running = n;
    while (running > 0) {
        curl_multi_perform(multi, &running);
        if (running > 0)
            curl_multi_poll(multi, NULL, 0, 100, NULL);
    }
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(multi, &left)) != NULL) {
        struct http_resp *ri;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&ri);
        ri->curl_rc = msg->data.result;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &ri->status);
    }
    for (int i = 0; i < n; i++) {
        curl_multi_remove_handle(multi, easy[i]);
        curl_easy_cleanup(easy[i]);
    }
    free(easy);
    curl_multi_cleanup(multi);
    curl_slist_free_all(hl);
}

const char *http_header(const struct http_resp *r, const char *name, char *buf, size_t n)
{
    size_t nl = strlen(name);
    for (const char *line = r->headers; line && *line;) {
        const char *end = strstr(line, "\r\n");
        size_t ll = end ? (size_t)(end - line) : strlen(line);
        if (ll > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(line + ll - v);
            if (vl >= n)
                vl = n - 1;
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            return buf;
        }
        line = end ? end + 2 : NULL;
    }
    return NULL;
}

void http_resp_free(struct http_resp *r)
{
    free(r->body);
    free(r->headers);
    r->body = r->headers = NULL;
}

double prom_value(const char *text, const char *series)
{
    size_t sl = strlen(series);
    for (const char *line = text; line && *line;) {
        if (strncmp(line, series, sl) == 0 && line[sl] == ' ')
            return strtod(line + sl + 1, NULL);
        line = strchr(line, '\n');
        if (line)
            line++;
    }
    return -1;
}

const char *const no_headers[] = {NULL};

/* The JSON body of r, which must parse. */
cJSON *json_of(const struct http_resp *r)
{
    cJSON *j = cJSON_Parse(r->body);
    ck_assert_msg(j != NULL, "not JSON: %s", r->body);
    return j;
}

bool utf8_valid(const char *str, size_t n)
{
    const unsigned char *s = (const unsigned char *)str;
    size_t i = 0;
    while (i < n) {
        uint32_t cp;
        size_t k;
        if (s[i] < 0x80) {
            i++;
            continue;
        } else if ((s[i] & 0xe0) == 0xc0) {
            k = 2;
            cp = s[i] & 0x1f;
        } else if ((s[i] & 0xf0) == 0xe0) {
            k = 3;
            cp = s[i] & 0x0f;
        } else if ((s[i] & 0xf8) == 0xf0) {
            k = 4;
            cp = s[i] & 0x07;
        } else {
            return false;
        }
        if (i + k > n)
            return false;
        for (size_t j = 1; j < k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = cp << 6 | (s[i + j] & 0x3f);
        }
        static const uint32_t min[5] = {0, 0, 0x80, 0x800, 0x10000};
        if (cp < min[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k;
    }
    return true;
}

void assert_json_utf8(const char *text)
{
    ck_assert_msg(utf8_valid(text, strlen(text)), "not UTF-8: %s", text);
    cJSON *j = cJSON_Parse(text);
    ck_assert_msg(j != NULL, "not JSON: %s", text);
    cJSON_Delete(j);
}

const char *jstr(const cJSON *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *v = o;
    for (char *tok = strtok(buf, "."); tok && v; tok = strtok(NULL, ".")) {
        if (tok[0] >= '0' && tok[0] <= '9')
            v = cJSON_GetArrayItem(v, atoi(tok));
        else
            v = cJSON_GetObjectItemCaseSensitive(v, tok);
    }
    if (!v)
        return NULL;
    if (cJSON_IsString(v))
        return v->valuestring;
    if (cJSON_IsNull(v))
        return "null";
    static char num[64];
    if (cJSON_IsNumber(v)) {
        snprintf(num, sizeof num, "%.0f", v->valuedouble);
        return num;
    }
    return "?";
}

/* An OpenAI-style error body with this status, type and code ("null" for null). */
void assert_error(const struct http_resp *r, long status, const char *type, const char *code)
{
    ck_assert_msg(r->status == status, "status %ld, want %ld: %s", r->status, status, r->body);
    cJSON *j = json_of(r);
    ck_assert_ptr_nonnull(jstr(j, "error.message"));
    ck_assert_str_eq(jstr(j, "error.type"), type);
    if (code)
        ck_assert_str_eq(jstr(j, "error.code"), code);
    cJSON_Delete(j);
}
