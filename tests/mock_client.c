#include "config.h"

#include "mock_client.h"

#include <check.h>
#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
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
    struct test_server *s = arg;
    s->stopping = true;
}

static void on_poke(evutil_socket_t fd, short what, void *arg)
{
    (void)what;
    (void)arg;
    char b[64];
    while (read(fd, b, sizeof b) == (ssize_t)sizeof b)
        ;
}

/* One loop turn at a time, so a waiting test's condition is checked after each. */
static void *run(void *arg)
{
    struct test_server *s = arg;
    while (!s->stopping) {
        event_base_loop(s->base, EVLOOP_ONCE);
        pthread_mutex_lock(&s->lock);
        if (s->until && s->until(s->m, s->until_arg)) {
            s->until = NULL;
            s->met = true;
            pthread_cond_broadcast(&s->changed);
        }
        pthread_mutex_unlock(&s->lock);
    }
    return NULL;
}

bool test_server_wait(struct test_server *s, test_server_cond cond, void *arg, long timeout_ms)
{
    struct timespec deadline;
    clock_gettime(CLOCK_REALTIME, &deadline);
    deadline.tv_sec += timeout_ms / 1000;
    deadline.tv_nsec += (timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->lock);
    s->until = cond;
    s->until_arg = arg;
    s->met = false;
    /* A turn now, in case nothing else happens: the condition may hold already. */
    ck_assert_int_eq(write(s->poke_pipe[1], "p", 1), 1);
    int rc = 0;
    while (!s->met && rc == 0)
        rc = pthread_cond_timedwait(&s->changed, &s->lock, &deadline);
    bool met = s->met;
    s->until = NULL;
    pthread_mutex_unlock(&s->lock);
    return met;
}

void test_server_start(struct test_server *s)
{
    signal(SIGPIPE, SIG_IGN);
    s->base = event_base_new();
    ck_assert_ptr_nonnull(s->base);
    s->m = mock_new(s->base, &s->sc, &s->opt);
    ck_assert_int_eq(mock_listen(s->m, "127.0.0.1:0", s->addr, sizeof s->addr), 0);
    ck_assert_int_eq(pipe(s->stop_pipe), 0);
    s->stop = event_new(s->base, s->stop_pipe[0], EV_READ, on_stop, s);
    event_add(s->stop, NULL);
    ck_assert_int_eq(pipe2(s->poke_pipe, O_NONBLOCK), 0);
    s->poke = event_new(s->base, s->poke_pipe[0], EV_READ | EV_PERSIST, on_poke, s);
    event_add(s->poke, NULL);
    pthread_mutex_init(&s->lock, NULL);
    pthread_cond_init(&s->changed, NULL);
    ck_assert_int_eq(pthread_create(&s->thread, NULL, run, s), 0);
}

void test_server_stop(struct test_server *s)
{
    ck_assert_int_eq(write(s->stop_pipe[1], "x", 1), 1);
    pthread_join(s->thread, NULL);
    mock_free(s->m);
    event_free(s->stop);
    event_free(s->poke);
    event_base_free(s->base);
    close(s->stop_pipe[0]);
    close(s->stop_pipe[1]);
    close(s->poke_pipe[0]);
    close(s->poke_pipe[1]);
    pthread_mutex_destroy(&s->lock);
    pthread_cond_destroy(&s->changed);
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

void test_server_start_ini(struct test_server *s, const char *ini)
{
    test_server_init(s);
    struct scenario_error err;
    ck_assert_msg(scenario_load(&s->sc, ini, NULL, 0, &err) == 0, "%s:%d: %s", err.file,
                  err.line, err.msg);
    test_server_start(s);
}

double test_server_metric(const struct test_server *s, const char *series)
{
    struct http_resp r = {0};
    http_do(s->addr, "GET", "/metrics", NULL, NULL, &r);
    ck_assert_int_eq(r.status, 200);
    double v = prom_value(r.body, series);
    http_resp_free(&r);
    return v;
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

/* See mock_client.h. */
void metrics_server_start(struct test_server *s)
{
    test_server_init(s);
    snprintf(s->sc.live.model, sizeof s->sc.live.model, "we\"ird\\mo\ndel");
    s->sc.server.requests_per_minute = 3;
    s->sc.n_classes = 1;
    snprintf(s->sc.classes[0].name, SCENARIO_NAME_MAX, "short");
    s->sc.classes[0].completion_tokens = (struct dist_config){.kind = DIST_CONST, .a = 2};
    s->sc.classes[0].max_tokens = 100;
    test_server_start(s);
    struct http_resp r = {0};
    http_do(s->addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":50"), no_headers,
            &r);
    ck_assert_int_eq(r.status, 200); /* 2 tokens: stop */
    http_resp_free(&r);
    http_do(s->addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"max_tokens\":1"), no_headers,
            &r);
    ck_assert_int_eq(r.status, 200); /* capped at 1: length */
    http_resp_free(&r);
    http_do(s->addr, "POST", "/v1/chat/completions", CHAT_BODY(",\"stream\":true"), no_headers,
            &r);
    ck_assert_int_eq(r.status, 200); /* streamed, 2 tokens: stop */
    http_resp_free(&r);
    http_do(s->addr, "POST", "/v1/chat/completions", CHAT_BODY(""), no_headers, &r);
    ck_assert_int_eq(r.status, 429);
    http_resp_free(&r);
    http_do(s->addr, "GET", "/nowhere", NULL, no_headers, &r);
    ck_assert_int_eq(r.status, 404);
    http_resp_free(&r);
}

/* ---- Prometheus exposition rules ------------------------------------------ */

#define EXPO_MAX 128

struct expo_family {
    char name[128];
    char type[16];
    bool help, done; /* done: a later family's samples came after its own */
    int samples;
};

static size_t name_len(const char *p, bool colon_ok)
{
    size_t n = 0;
    while ((p[n] >= 'a' && p[n] <= 'z') || (p[n] >= 'A' && p[n] <= 'Z') || p[n] == '_' ||
           (colon_ok && p[n] == ':') || (n > 0 && p[n] >= '0' && p[n] <= '9'))
        n++;
    return n;
}

static struct expo_family *expo_find(struct expo_family *f, int n, const char *name, size_t len)
{
    for (int i = 0; i < n; i++)
        if (strlen(f[i].name) == len && strncmp(f[i].name, name, len) == 0)
            return &f[i];
    return NULL;
}

/* The family named name[0..len), added if new; NULL when there are too many. */
static struct expo_family *expo_get(struct expo_family *f, int *n, const char *name, size_t len)
{
    struct expo_family *x = expo_find(f, *n, name, len);
    if (x)
        return x;
    if (*n == EXPO_MAX || len >= sizeof x->name)
        return NULL;
    x = &f[(*n)++];
    memset(x, 0, sizeof *x);
    memcpy(x->name, name, len);
    return x;
}

/* The family a sample belongs to: a histogram's _bucket, _sum and _count are its own. */
static struct expo_family *expo_family_of(struct expo_family *f, int n, const char *name,
                                          size_t len)
{
    static const char *const parts[] = {"_bucket", "_sum", "_count"};
    for (size_t i = 0; i < 3; i++) {
        size_t pl = strlen(parts[i]);
        if (len > pl && strncmp(name + len - pl, parts[i], pl) == 0) {
            struct expo_family *h = expo_find(f, n, name, len - pl);
            if (h && strcmp(h->type, "histogram") == 0)
                return h;
        }
    }
    return expo_find(f, n, name, len);
}

/* A broken rule: say which into why and give up. */
#define EXPECT(cond, ...)                                                                          \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            snprintf(why, n, __VA_ARGS__);                                                         \
            free(copy);                                                                            \
            return false;                                                                          \
        }                                                                                          \
    } while (0)

bool exposition_ok(const char *text, char *why, size_t n)
{
    static struct expo_family fam[EXPO_MAX];
    int n_fam = 0;
    static char series[1024][256];
    int n_series = 0;
    struct expo_family *current = NULL;
    char *copy = xstrdup(text), *save = NULL;
    EXPECT(text[0] && text[strlen(text) - 1] == '\n', "it does not end in a newline");
    for (char *line = strtok_r(copy, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        if (strncmp(line, "# HELP ", 7) == 0 || strncmp(line, "# TYPE ", 7) == 0) {
            const char *name = line + 7;
            size_t len = name_len(name, true);
            EXPECT(len > 0 && name[len] == ' ', "bad metric name in '%s'", line);
            struct expo_family *x = expo_get(fam, &n_fam, name, len);
            EXPECT(x, "too many families");
            EXPECT(x->samples == 0, "'%s' after the family's samples", line);
            if (line[2] == 'H') {
                EXPECT(!x->help, "second HELP for %s", x->name);
                x->help = true;
                for (const char *p = name + len + 1; *p; p++)
                    if (*p == '\\') {
                        EXPECT(p[1] == '\\' || p[1] == 'n', "bad escape in '%s'", line);
                        p++;
                    }
            } else {
                EXPECT(!x->type[0], "second TYPE for %s", x->name);
                const char *t = name + len + 1;
                EXPECT(strcmp(t, "counter") == 0 || strcmp(t, "gauge") == 0 ||
                                  strcmp(t, "histogram") == 0 || strcmp(t, "summary") == 0 ||
                                  strcmp(t, "untyped") == 0,
                              "bad type in '%s'", line);
                snprintf(x->type, sizeof x->type, "%s", t);
            }
            continue;
        }
        if (line[0] == '#')
            continue; /* a comment */
        size_t len = name_len(line, true);
        EXPECT(len > 0, "bad sample line '%s'", line);
        struct expo_family *x = expo_family_of(fam, n_fam, line, len);
        EXPECT(x && x->help && x->type[0], "'%s' without HELP and TYPE", line);
        EXPECT(!x->done, "samples of %s are not in one group ('%s')", x->name, line);
        if (current && current != x)
            current->done = true;
        current = x;
        x->samples++;
        if (strcmp(x->type, "counter") == 0) {
            size_t fl = strlen(x->name);
            EXPECT(fl > 6 && strcmp(x->name + fl - 6, "_total") == 0,
                          "counter %s does not end in _total", x->name);
        }
        const char *p = line + len;
        char lnames[16][64];
        int n_labels = 0;
        if (*p == '{') {
            p++;
            while (*p != '}') {
                size_t ll = name_len(p, false);
                EXPECT(ll > 0 && ll < 64 && p[ll] == '=' && p[ll + 1] == '"',
                              "bad label in '%s'", line);
                for (int i = 0; i < n_labels; i++)
                    EXPECT(strlen(lnames[i]) != ll || strncmp(lnames[i], p, ll) != 0,
                                  "label twice in '%s'", line);
                EXPECT(n_labels < 16, "too many labels in '%s'", line);
                memcpy(lnames[n_labels], p, ll);
                lnames[n_labels++][ll] = '\0';
                for (p += ll + 2; *p != '"'; p++) {
                    EXPECT(*p, "unterminated label value in '%s'", line);
                    if (*p == '\\') {
                        EXPECT(p[1] == '\\' || p[1] == '"' || p[1] == 'n',
                                      "bad escape in '%s'", line);
                        p++;
                    }
                }
                p++;
                if (*p == ',')
                    p++;
                else
                    EXPECT(*p == '}', "bad label list in '%s'", line);
            }
            p++;
        }
        EXPECT(*p == ' ', "no value in '%s'", line);
        size_t sl = (size_t)(p - line);
        EXPECT(sl < sizeof series[0], "series too long: '%s'", line);
        for (int i = 0; i < n_series; i++)
            EXPECT(strlen(series[i]) != sl || strncmp(series[i], line, sl) != 0,
                          "series twice: '%s'", line);
        EXPECT(n_series < 1024, "too many series");
        memcpy(series[n_series], line, sl);
        series[n_series++][sl] = '\0';
        char *end;
        strtod(p + 1, &end);
        EXPECT(end != p + 1 && *end == '\0', "bad value in '%s'", line);
    }
    free(copy);
    return true;
}
#undef EXPECT

void assert_exposition(const char *text)
{
    char why[512];
    ck_assert_msg(exposition_ok(text, why, sizeof why), "/metrics breaks a rule: %s", why);
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
