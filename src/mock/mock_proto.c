#include "config.h"

#include "mock_proto.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>
#include <event2/buffer.h>

int mock_error_set(struct mock_error *e, int status, const char *type, const char *code,
                   const char *param, const char *fmt, ...)
{
    e->status = status;
    e->type = type;
    e->code = code;
    e->param = param;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -EINVAL;
}

static const char *json_type_name(const cJSON *v)
{
    if (cJSON_IsString(v))
        return "a string";
    if (cJSON_IsNumber(v))
        return "a number";
    if (cJSON_IsBool(v))
        return "a boolean";
    if (cJSON_IsArray(v))
        return "an array";
    if (cJSON_IsObject(v))
        return "an object";
    return "null";
}

/* OpenAI's wording for a mistyped parameter. */
static int bad_type(struct mock_error *e, const char *param, const char *want, const cJSON *got)
{
    return mock_error_set(e, 400, "invalid_request_error", "invalid_type", param,
                          "Invalid type for '%s': expected %s, but got %s instead.", param, want,
                          json_type_name(got));
}

static int missing(struct mock_error *e, const char *param)
{
    return mock_error_set(e, 400, "invalid_request_error", "missing_required_parameter", param,
                          "Missing required parameter: '%s'.", param);
}

int64_t mock_estimate_text_tokens(size_t bytes)
{
    return (int64_t)((bytes + 3) / 4);
}

/* Tokens of a message's content: a string, null, or an array of parts ({"type":"text","text":..}).
 */
static int content_tokens(const cJSON *content, int64_t *tokens, struct mock_error *e)
{
    if (!content || cJSON_IsNull(content))
        return 0;
    if (cJSON_IsString(content)) {
        *tokens += mock_estimate_text_tokens(strlen(content->valuestring));
        return 0;
    }
    if (!cJSON_IsArray(content))
        return bad_type(e, "messages.content", "a string or an array", content);
    const cJSON *part;
    cJSON_ArrayForEach(part, content)
    {
        if (!cJSON_IsObject(part))
            return bad_type(e, "messages.content", "an array of objects", part);
        const cJSON *text = cJSON_GetObjectItemCaseSensitive(part, "text");
        if (cJSON_IsString(text))
            *tokens += mock_estimate_text_tokens(strlen(text->valuestring));
        else
            *tokens += 85; /* an image or other non-text part: OpenAI's low-detail image cost */
    }
    return 0;
}

static int parse_messages(const cJSON *root, int64_t *tokens, struct mock_error *e)
{
    static const char *const roles[] = {"system", "user",      "assistant",
                                        "tool",   "developer", "function"};
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!msgs)
        return missing(e, "messages");
    if (!cJSON_IsArray(msgs))
        return bad_type(e, "messages", "an array", msgs);
    if (cJSON_GetArraySize(msgs) == 0)
        return mock_error_set(e, 400, "invalid_request_error", "empty_array", "messages",
                              "Invalid 'messages': empty array. Expected an array with minimum "
                              "length 1, but got an empty array instead.");
    int64_t t = 3; /* every reply is primed with <|start|>assistant<|message|> */
    int i = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        if (!cJSON_IsObject(m))
            return mock_error_set(e, 400, "invalid_request_error", "invalid_type", "messages",
                                  "Invalid type for 'messages[%d]': expected an object, but got "
                                  "%s instead.",
                                  i, json_type_name(m));
        const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
        if (!role)
            return mock_error_set(e, 400, "invalid_request_error", "missing_required_parameter",
                                  "messages", "Missing required parameter: 'messages[%d].role'.",
                                  i);
        if (!cJSON_IsString(role))
            return bad_type(e, "messages.role", "a string", role);
        bool known = false;
        for (size_t k = 0; k < sizeof roles / sizeof roles[0]; k++)
            known = known || strcmp(role->valuestring, roles[k]) == 0;
        if (!known)
            return mock_error_set(e, 400, "invalid_request_error", "invalid_value", "messages",
                                  "Invalid value for 'messages[%d].role': expected one of "
                                  "'system', 'user', 'assistant', 'tool', 'developer'.",
                                  i);
        t += 4;
        if (content_tokens(cJSON_GetObjectItemCaseSensitive(m, "content"), &t, e) < 0)
            return -EINVAL;
        i++;
    }
    *tokens = t;
    return 0;
}

static int parse_prompt(const cJSON *root, int64_t *tokens, struct mock_error *e)
{
    const cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (!p)
        return missing(e, "prompt");
    int64_t t = 0;
    if (cJSON_IsString(p)) {
        t = mock_estimate_text_tokens(strlen(p->valuestring));
    } else if (cJSON_IsArray(p)) {
        const cJSON *x;
        cJSON_ArrayForEach(x, p)
        {
            if (cJSON_IsString(x))
                t += mock_estimate_text_tokens(strlen(x->valuestring));
            else if (cJSON_IsNumber(x))
                t += 1; /* a pre-tokenised prompt: one token per integer */
            else if (cJSON_IsArray(x))
                t += cJSON_GetArraySize(x);
            else
                return bad_type(e, "prompt", "a string or an array of strings or integers", x);
        }
    } else {
        return bad_type(e, "prompt", "a string or an array", p);
    }
    *tokens = t;
    return 0;
}

/* An optional positive integer field; 0 when absent or null. */
static int positive_int(const cJSON *root, const char *name, int64_t *out, struct mock_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(root, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsNumber(v))
        return bad_type(e, name, "an integer", v);
    double d = v->valuedouble;
    /* Range first: converting an out-of-range double to an integer is undefined. */
    if (d < 1 || d > 1e9)
        return mock_error_set(e, 400, "invalid_request_error",
                              d < 1 ? "integer_below_min_value" : "integer_above_max_value", name,
                              "Invalid '%s': integer out of range. Expected a value between 1 "
                              "and 1000000000, but got %g instead.",
                              name, d);
    if (d != (double)(int64_t)d)
        return bad_type(e, name, "an integer", v);
    *out = (int64_t)d;
    return 0;
}

static int optional_bool(const cJSON *obj, const char *name, const char *param, bool *out,
                         struct mock_error *e)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, name);
    if (!v || cJSON_IsNull(v))
        return 0;
    if (!cJSON_IsBool(v))
        return bad_type(e, param, "a boolean", v);
    *out = cJSON_IsTrue(v);
    return 0;
}

static int parse_root(enum mock_api api, const cJSON *root, struct mock_request *r,
                      struct mock_error *e)
{
    if (!cJSON_IsObject(root))
        return mock_error_set(e, 400, "invalid_request_error", NULL, NULL,
                              "We could not parse the JSON body of your request: expected a JSON "
                              "object, but got %s.",
                              json_type_name(root));
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (!model)
        return mock_error_set(e, 400, "invalid_request_error", "missing_required_parameter",
                              "model", "You must provide a model parameter.");
    if (!cJSON_IsString(model))
        return bad_type(e, "model", "a string", model);
    size_t mlen = strlen(model->valuestring);
    if (mlen == 0 || mlen > MOCK_MODEL_MAX)
        return mock_error_set(e, 400, "invalid_request_error", "invalid_value", "model",
                              "Invalid 'model': expected a name of 1 to %d bytes.", MOCK_MODEL_MAX);
    memcpy(r->model, model->valuestring, mlen + 1);

    int rc = api == MOCK_API_CHAT ? parse_messages(root, &r->prompt_tokens, e)
                                  : parse_prompt(root, &r->prompt_tokens, e);
    if (rc < 0)
        return rc;
    if (r->prompt_tokens < 1)
        r->prompt_tokens = 1;

    int64_t max_tokens = 0, max_completion = 0, n = 0;
    if (positive_int(root, "max_tokens", &max_tokens, e) < 0 ||
        positive_int(root, "max_completion_tokens", &max_completion, e) < 0 ||
        positive_int(root, "n", &n, e) < 0)
        return -EINVAL;
    if (n > 1)
        return mock_error_set(e, 400, "invalid_request_error", "unsupported_value", "n",
                              "Invalid 'n': the ratelab mock generates one choice per request.");
    r->max_tokens = max_completion ? max_completion : max_tokens;

    if (optional_bool(root, "stream", "stream", &r->stream, e) < 0)
        return -EINVAL;
    const cJSON *so = cJSON_GetObjectItemCaseSensitive(root, "stream_options");
    if (so && !cJSON_IsNull(so)) {
        if (!cJSON_IsObject(so))
            return bad_type(e, "stream_options", "an object", so);
        if (!r->stream)
            return mock_error_set(e, 400, "invalid_request_error", "invalid_value",
                                  "stream_options",
                                  "The 'stream_options' parameter is only allowed when 'stream' "
                                  "is enabled.");
        if (optional_bool(so, "include_usage", "stream_options.include_usage", &r->include_usage,
                          e) < 0)
            return -EINVAL;
    }
    return 0;
}

int mock_parse_request(enum mock_api api, const char *body, size_t len, struct mock_request *r,
                       struct mock_error *e)
{
    memset(r, 0, sizeof *r);
    r->api = api;
    if (len == 0)
        return mock_error_set(e, 400, "invalid_request_error", NULL, NULL,
                              "We could not parse the JSON body of your request: the body is "
                              "empty. The API expects a JSON payload.");
    if (memchr(body, '\0', len))
        return mock_error_set(e, 400, "invalid_request_error", NULL, NULL,
                              "We could not parse the JSON body of your request: it contains a "
                              "NUL byte.");
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (root) { /* one JSON value, then at most whitespace: trailing bytes are not JSON */
        while (end < body + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
            end++;
        if (end < body + len) {
            cJSON_Delete(root);
            return mock_error_set(e, 400, "invalid_request_error", NULL, NULL,
                                  "We could not parse the JSON body of your request: %zu bytes "
                                  "follow the JSON value. The API expects one JSON payload.",
                                  (size_t)(body + len - end));
        }
    }
    if (!root)
        return mock_error_set(e, 400, "invalid_request_error", NULL, NULL,
                              "We could not parse the JSON body of your request. (HINT: This "
                              "likely means you aren't using your HTTP library correctly. The "
                              "API expects a JSON payload, but what was sent was not valid "
                              "JSON.)");
    int rc = parse_root(api, root, r, e);
    cJSON_Delete(root);
    return rc;
}

/*
 * Rendering goes through a stack buffer flushed into the evbuffer a few KB at a
 * time: one evbuffer_add per answer instead of one per fragment, and no printf
 * (the 429 path measured 7% of the server's CPU in evbuffer_add_printf before).
 */
struct wbuf {
    struct evbuffer *out;
    size_t n; /* bytes in b */
    char b[4096];
};

static void wb_flush(struct wbuf *w)
{
    if (w->n)
        evbuffer_add(w->out, w->b, w->n);
    w->n = 0;
}

static void wb_add(struct wbuf *w, const char *s, size_t len)
{
    if (len > sizeof w->b - w->n) {
        wb_flush(w);
        if (len > sizeof w->b) {
            evbuffer_add(w->out, s, len);
            return;
        }
    }
    memcpy(w->b + w->n, s, len);
    w->n += len;
}

#define WB_LIT(w, lit) wb_add((w), (lit), sizeof(lit) - 1)

static void wb_str(struct wbuf *w, const char *s)
{
    wb_add(w, s, strlen(s));
}

static void wb_i64(struct wbuf *w, int64_t v)
{
    char t[24];
    int k = sizeof t;
    uint64_t u = v < 0 ? -(uint64_t)v : (uint64_t)v;
    do {
        t[--k] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0)
        t[--k] = '-';
    wb_add(w, t + k, sizeof t - (size_t)k);
}

/*
 * Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlong forms,
 * no surrogates, nothing above U+10FFFF), or 0 when it is not one.
 */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf; /* the range of the second byte */
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        if (c == 0xe0)
            lo = 0xa0; /* overlong */
        else if (c == 0xed)
            hi = 0x9f; /* surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        if (c == 0xf0)
            lo = 0x90; /* overlong */
        else if (c == 0xf4)
            hi = 0x8f; /* above U+10FFFF */
    } else {
        return 0;
    }
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0; /* also stops at the NUL */
    return n;
}

/*
 * The one path every echoed string takes into JSON: quotes, backslashes and
 * control characters (C0, DEL, C1) escaped, well-formed UTF-8 kept, and each
 * byte of an ill-formed sequence replaced by U+FFFD, so the body is valid UTF-8
 * JSON whatever the request held.
 */
static void wb_escape(struct wbuf *w, const char *str)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *s = (const unsigned char *)str, *run = s;
    while (*s) {
        unsigned char c = *s;
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            s++;
            continue;
        }
        size_t n = c >= 0x80 ? utf8_len(s) : 1;
        /* U+0080..U+009F, the C1 controls, are 0xc2 0x80..0x9f. */
        if (n > 1 && !(c == 0xc2 && s[1] <= 0x9f)) {
            s += n;
            continue;
        }
        wb_add(w, (const char *)run, (size_t)(s - run));
        if (c == '"') {
            WB_LIT(w, "\\\"");
        } else if (c == '\\') {
            WB_LIT(w, "\\\\");
        } else if (c == '\n') {
            WB_LIT(w, "\\n");
        } else if (n == 0) {
            WB_LIT(w, "\\ufffd");
            n = 1;
        } else {
            unsigned cp = n == 2 ? s[1] : c; /* a C1 control's code point is its second byte */
            char u[6] = {'\\', 'u', '0', '0', hex[cp >> 4], hex[cp & 15]};
            wb_add(w, u, sizeof u);
        }
        s += n;
        run = s;
    }
    wb_add(w, (const char *)run, (size_t)(s - run));
}

void mock_json_escape(struct evbuffer *out, const char *s)
{
    struct wbuf w = {.out = out};
    wb_escape(&w, s);
    wb_flush(&w);
}

static void wb_str_or_null(struct wbuf *w, const char *s)
{
    if (!s) {
        WB_LIT(w, "null");
        return;
    }
    WB_LIT(w, "\"");
    wb_escape(w, s);
    WB_LIT(w, "\"");
}

void mock_render_error(struct evbuffer *out, const struct mock_error *e)
{
    struct wbuf w = {.out = out};
    WB_LIT(&w, "{\"error\":{\"message\":\"");
    wb_escape(&w, e->message);
    WB_LIT(&w, "\",\"type\":");
    wb_str_or_null(&w, e->type);
    WB_LIT(&w, ",\"param\":");
    wb_str_or_null(&w, e->param);
    WB_LIT(&w, ",\"code\":");
    wb_str_or_null(&w, e->code);
    WB_LIT(&w, "}}\n");
    wb_flush(&w);
}

/* Sixteen four-byte words; a token is one of them, so text length tracks the estimator. */
static const char *const words[] = {" the", " sky", " was", " red", " and", " one", " cat", " sat",
                                    " on",  " a",   " big", " mat", " all", " day", " so",  " it"};

const char *mock_token_text(int64_t index)
{
    return words[(uint64_t)index % (sizeof words / sizeof words[0])];
}

static void add_header(struct wbuf *w, const struct mock_answer *a, const char *object)
{
    bool chat = a->req->api == MOCK_API_CHAT;
    if (chat)
        WB_LIT(w, "{\"id\":\"chatcmpl-");
    else
        WB_LIT(w, "{\"id\":\"cmpl-");
    wb_i64(w, (int64_t)a->id);
    WB_LIT(w, "\",\"object\":\"");
    wb_str(w, object);
    WB_LIT(w, "\",\"created\":");
    wb_i64(w, a->created_s);
    WB_LIT(w, ",\"model\":\"");
    wb_escape(w, a->req->model);
    WB_LIT(w, "\",");
}

static void add_usage(struct wbuf *w, const struct mock_answer *a)
{
    int64_t p = a->req->prompt_tokens, c = a->completion_tokens;
    WB_LIT(w, "\"usage\":{\"prompt_tokens\":");
    wb_i64(w, p);
    WB_LIT(w, ",\"completion_tokens\":");
    wb_i64(w, c);
    WB_LIT(w, ",\"total_tokens\":");
    wb_i64(w, p + c);
    WB_LIT(w, "}");
}

static const char *finish_reason(const struct mock_answer *a)
{
    return a->length_capped ? "length" : "stop";
}

void mock_render_body_head(struct evbuffer *out, const struct mock_answer *a)
{
    struct wbuf w = {.out = out};
    bool chat = a->req->api == MOCK_API_CHAT;
    add_header(&w, a, chat ? "chat.completion" : "text_completion");
    if (chat)
        WB_LIT(&w, "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"");
    else
        WB_LIT(&w, "\"choices\":[{\"index\":0,\"text\":\"");
    wb_flush(&w);
}

void mock_render_body_content(struct evbuffer *out, int64_t from, int64_t to)
{
    struct wbuf w = {.out = out};
    for (int64_t i = from; i < to; i++)
        wb_str(&w, mock_token_text(i));
    wb_flush(&w);
}

int64_t mock_content_bytes(int64_t n)
{
    enum { N_WORDS = sizeof words / sizeof words[0] };
    int64_t period = 0, part = 0;
    for (int i = 0; i < N_WORDS; i++) {
        int64_t l = (int64_t)strlen(words[i]);
        period += l;
        if (i < n % N_WORDS)
            part += l;
    }
    return n / N_WORDS * period + part;
}

void mock_render_body_tail(struct evbuffer *out, const struct mock_answer *a)
{
    struct wbuf w = {.out = out};
    if (a->req->api == MOCK_API_CHAT)
        WB_LIT(&w, "\"},\"logprobs\":null,\"finish_reason\":\"");
    else
        WB_LIT(&w, "\",\"logprobs\":null,\"finish_reason\":\"");
    wb_str(&w, finish_reason(a));
    WB_LIT(&w, "\"}],");
    add_usage(&w, a);
    WB_LIT(&w, "}\n");
    wb_flush(&w);
}

void mock_render_body(struct evbuffer *out, const struct mock_answer *a)
{
    mock_render_body_head(out, a);
    mock_render_body_content(out, 0, a->completion_tokens);
    mock_render_body_tail(out, a);
}

/* One stream event: header, choices with the given inner text, usage null. */
static void chunk(struct evbuffer *out, const struct mock_answer *a, const char *inner1,
                  const char *inner2, const char *inner3, const char *finish)
{
    struct wbuf w = {.out = out};
    bool chat = a->req->api == MOCK_API_CHAT;
    WB_LIT(&w, "data: ");
    add_header(&w, a, chat ? "chat.completion.chunk" : "text_completion");
    WB_LIT(&w, "\"choices\":[{\"index\":0,");
    wb_str(&w, inner1);
    wb_str(&w, inner2);
    wb_str(&w, inner3);
    WB_LIT(&w, ",\"logprobs\":null,\"finish_reason\":");
    if (finish) {
        WB_LIT(&w, "\"");
        wb_str(&w, finish);
        WB_LIT(&w, "\"}]");
    } else {
        WB_LIT(&w, "null}]");
    }
    if (a->req->include_usage)
        WB_LIT(&w, ",\"usage\":null");
    WB_LIT(&w, "}\n\n");
    wb_flush(&w);
}

void mock_render_chunk_first(struct evbuffer *out, const struct mock_answer *a)
{
    if (a->req->api == MOCK_API_CHAT)
        chunk(out, a, "\"delta\":{\"role\":\"assistant\",\"content\":\"\"}", "", "", NULL);
}

void mock_render_chunk_token(struct evbuffer *out, const struct mock_answer *a, int64_t index)
{
    if (a->req->api == MOCK_API_CHAT)
        chunk(out, a, "\"delta\":{\"content\":\"", mock_token_text(index), "\"}", NULL);
    else
        chunk(out, a, "\"text\":\"", mock_token_text(index), "\"", NULL);
}

void mock_render_chunk_finish(struct evbuffer *out, const struct mock_answer *a)
{
    chunk(out, a, a->req->api == MOCK_API_CHAT ? "\"delta\":{}" : "\"text\":\"\"", "", "",
          finish_reason(a));
}

void mock_render_chunk_usage(struct evbuffer *out, const struct mock_answer *a)
{
    struct wbuf w = {.out = out};
    bool chat = a->req->api == MOCK_API_CHAT;
    WB_LIT(&w, "data: ");
    add_header(&w, a, chat ? "chat.completion.chunk" : "text_completion");
    WB_LIT(&w, "\"choices\":[],");
    add_usage(&w, a);
    WB_LIT(&w, "}\n\n");
    wb_flush(&w);
}

void mock_render_done(struct evbuffer *out)
{
    evbuffer_add(out, "data: [DONE]\n\n", 14);
}
