#include "config.h"

#include "oaresp.h"

#include <assert.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

/*
 * A small strict JSON scanner instead of cJSON: cJSON allocates a node per
 * value, and oa_parse_chunk runs once per streamed token. The scanner walks
 * the text once, checks it, and hands the few members we read to callbacks;
 * everything else is skipped. Recursion is bounded by OA_MAX_DEPTH.
 */

/* A JSON string as written between its quotes (escapes not decoded). */
struct span {
    const char *s; /* first byte after the opening quote */
    size_t n;      /* bytes up to the closing quote */
};

struct jscan {
    const char *p;   /* next byte */
    const char *end; /* one past the last byte */
    int depth;       /* arrays and objects open around p, at most OA_MAX_DEPTH */
};

/* Called at each member's value, which it must consume (scan or skip) exactly. */
typedef int (*member_fn)(struct jscan *j, struct span key, void *ctx);
/* Called at each array element, likewise. */
typedef int (*elem_fn)(struct jscan *j, int index, void *ctx);

static int skip(struct jscan *j);

static void ws(struct jscan *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
        j->p++;
}

/* The next byte, or -1 at the end. */
static int peek(const struct jscan *j)
{
    return j->p < j->end ? (unsigned char)*j->p : -1;
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

static bool span_is(struct span sp, const char *lit)
{
    size_t n = strlen(lit);
    return sp.n == n && memcmp(sp.s, lit, n) == 0;
}

/* A string, at its opening quote; *out (may be NULL) gets it as written. */
static int scan_string(struct jscan *j, struct span *out)
{
    assert(peek(j) == '"');
    const char *s = ++j->p;
    while (j->p < j->end) {
        unsigned char c = (unsigned char)*j->p;
        if (c == '"') {
            if (out) {
                out->s = s;
                out->n = (size_t)(j->p - s);
            }
            j->p++;
            return 0;
        }
        if (c < 0x20)
            return -EINVAL;
        if (c != '\\') {
            j->p++;
            continue;
        }
        if (j->end - j->p < 2)
            return -EINVAL;
        char e = j->p[1];
        if (e == 'u') {
            if (j->end - j->p < 6)
                return -EINVAL;
            for (int k = 2; k < 6; k++)
                if (hex_value(j->p[k]) < 0)
                    return -EINVAL;
            j->p += 6;
        } else if (e == '"' || e == '\\' || e == '/' || e == 'b' || e == 'f' || e == 'n' ||
                   e == 'r' || e == 't') {
            j->p += 2;
        } else {
            return -EINVAL;
        }
    }
    return -EINVAL;
}

/* A number; *u (may be NULL) gets it when it is a non-negative integer that fits, else -1. */
static int scan_number(struct jscan *j, int64_t *u)
{
    const char *p = j->p, *e = j->end;
    bool neg = false, integral = true, fits = true;
    int64_t v = 0;
    if (p < e && *p == '-') {
        neg = true;
        p++;
    }
    if (p < e && *p == '0') {
        p++;
    } else if (p < e && *p >= '1' && *p <= '9') {
        for (; p < e && is_digit(*p); p++) {
            int d = *p - '0';
            if (fits && v > (INT64_MAX - d) / 10)
                fits = false;
            else if (fits)
                v = v * 10 + d;
        }
    } else {
        return -EINVAL;
    }
    if (p < e && *p == '.') {
        integral = false;
        if (++p == e || !is_digit(*p))
            return -EINVAL;
        while (p < e && is_digit(*p))
            p++;
    }
    if (p < e && (*p == 'e' || *p == 'E')) {
        integral = false;
        if (++p < e && (*p == '+' || *p == '-'))
            p++;
        if (p == e || !is_digit(*p))
            return -EINVAL;
        while (p < e && is_digit(*p))
            p++;
    }
    j->p = p;
    if (u)
        *u = !neg && integral && fits ? v : -1;
    return 0;
}

static int scan_word(struct jscan *j, const char *w)
{
    size_t n = strlen(w);
    if ((size_t)(j->end - j->p) < n || memcmp(j->p, w, n) != 0)
        return -EINVAL;
    j->p += n;
    return 0;
}

/* An object, at its '{'; fn NULL skips every member. */
static int scan_object(struct jscan *j, member_fn fn, void *ctx)
{
    assert(peek(j) == '{');
    if (++j->depth > OA_MAX_DEPTH)
        return -EINVAL;
    j->p++;
    ws(j);
    if (peek(j) == '}') {
        j->p++;
        j->depth--;
        return 0;
    }
    for (;;) {
        struct span key;
        if (peek(j) != '"')
            return -EINVAL;
        int rc = scan_string(j, &key);
        if (rc)
            return rc;
        ws(j);
        if (peek(j) != ':')
            return -EINVAL;
        j->p++;
        ws(j);
        rc = fn ? fn(j, key, ctx) : skip(j);
        if (rc)
            return rc;
        ws(j);
        int c = peek(j);
        if (c != ',' && c != '}')
            return -EINVAL;
        j->p++;
        if (c == '}') {
            j->depth--;
            return 0;
        }
        ws(j);
    }
}

/* An array, at its '['; fn NULL skips every element. */
static int scan_array(struct jscan *j, elem_fn fn, void *ctx)
{
    assert(peek(j) == '[');
    if (++j->depth > OA_MAX_DEPTH)
        return -EINVAL;
    j->p++;
    ws(j);
    if (peek(j) == ']') {
        j->p++;
        j->depth--;
        return 0;
    }
    for (int i = 0;; i++) {
        int rc = fn ? fn(j, i, ctx) : skip(j);
        if (rc)
            return rc;
        ws(j);
        int c = peek(j);
        if (c != ',' && c != ']')
            return -EINVAL;
        j->p++;
        if (c == ']') {
            j->depth--;
            return 0;
        }
        ws(j);
    }
}

/* Any value (white space before it already skipped). */
static int skip(struct jscan *j)
{
    switch (peek(j)) {
    case '{':
        return scan_object(j, NULL, NULL);
    case '[':
        return scan_array(j, NULL, NULL);
    case '"':
        return scan_string(j, NULL);
    case 't':
        return scan_word(j, "true");
    case 'f':
        return scan_word(j, "false");
    case 'n':
        return scan_word(j, "null");
    default:
        return scan_number(j, NULL);
    }
}

/* A whole document that must be one object, its members handed to fn. */
static int scan_document(const char *buf, size_t n, member_fn fn, void *ctx)
{
    if (n == 0)
        return -EINVAL;
    struct jscan j = {.p = buf, .end = buf + n, .depth = 0};
    ws(&j);
    if (peek(&j) != '{')
        return -EINVAL;
    int rc = scan_object(&j, fn, ctx);
    if (rc)
        return rc;
    ws(&j);
    return j.p == j.end ? 0 : -EINVAL;
}

/* ---- what we read from an answer ----------------------------------------- */

/*
 * The members of one answer, a chunk or an error that we look at. Scanned
 * fresh per document; has_text refers to the last "choices" array.
 */
struct answer {
    int n_choices;         /* elements of "choices"; -1 when absent or not an array */
    bool has_text;         /* choices[0] carries non-empty text */
    bool has_usage;        /* "usage" is an object */
    struct oa_usage usage; /* its counts, -1 when not given */
    bool error_member;     /* a non-null "error" member */
    bool object_error;     /* "object": "error" at the top (vLLM's older error bodies) */
    bool has_error_msg;    /* error_msg is set */
    struct span error_msg; /* error.message, or "error" itself when it is a string */
    bool has_top_msg;      /* top_msg is set */
    struct span top_msg;   /* a string "message" at the top */
};

/* A string member's value into *sp (true), or skip a value of another type (false). */
static int string_or_skip(struct jscan *j, struct span *sp, bool *is_string)
{
    *is_string = peek(j) == '"';
    return *is_string ? scan_string(j, sp) : skip(j);
}

/* A string member that, when non-empty, is generated text. */
static int text_member(struct jscan *j, struct answer *a)
{
    struct span sp;
    bool is_string;
    int rc = string_or_skip(j, &sp, &is_string);
    if (rc == 0 && is_string && sp.n > 0)
        a->has_text = true;
    return rc;
}

static int delta_member(struct jscan *j, struct span key, void *ctx)
{
    if (span_is(key, "content") || span_is(key, "reasoning_content") || span_is(key, "reasoning"))
        return text_member(j, ctx);
    return skip(j);
}

static int choice_member(struct jscan *j, struct span key, void *ctx)
{
    if (span_is(key, "text"))
        return text_member(j, ctx);
    if (span_is(key, "delta") && peek(j) == '{')
        return scan_object(j, delta_member, ctx);
    return skip(j);
}

static int choice_elem(struct jscan *j, int index, void *ctx)
{
    struct answer *a = ctx;
    a->n_choices++;
    if (index == 0 && peek(j) == '{')
        return scan_object(j, choice_member, a);
    return skip(j);
}

static int usage_member(struct jscan *j, struct span key, void *ctx)
{
    struct oa_usage *u = ctx;
    int64_t *dst = NULL;
    if (span_is(key, "prompt_tokens"))
        dst = &u->prompt_tokens;
    else if (span_is(key, "completion_tokens"))
        dst = &u->completion_tokens;
    if (!dst)
        return skip(j);
    int c = peek(j);
    if (c == '-' || (c >= '0' && c <= '9'))
        return scan_number(j, dst);
    *dst = -1;
    return skip(j);
}

static int error_obj_member(struct jscan *j, struct span key, void *ctx)
{
    struct answer *a = ctx;
    if (span_is(key, "message"))
        return string_or_skip(j, &a->error_msg, &a->has_error_msg);
    return skip(j);
}

static int top_member(struct jscan *j, struct span key, void *ctx)
{
    struct answer *a = ctx;
    int c = peek(j);
    if (span_is(key, "choices")) {
        a->n_choices = -1;
        a->has_text = false;
        if (c != '[')
            return skip(j);
        a->n_choices = 0;
        return scan_array(j, choice_elem, a);
    }
    if (span_is(key, "usage")) {
        a->has_usage = c == '{';
        a->usage.prompt_tokens = a->usage.completion_tokens = -1;
        return a->has_usage ? scan_object(j, usage_member, &a->usage) : skip(j);
    }
    if (span_is(key, "error")) {
        a->error_member = c != 'n'; /* null is no error; a bad literal fails in skip */
        a->has_error_msg = false;
        if (c == '{')
            return scan_object(j, error_obj_member, a);
        return string_or_skip(j, &a->error_msg, &a->has_error_msg);
    }
    if (span_is(key, "object")) {
        struct span sp;
        bool is_string;
        int rc = string_or_skip(j, &sp, &is_string);
        a->object_error = rc == 0 && is_string && span_is(sp, "error");
        return rc;
    }
    if (span_is(key, "message"))
        return string_or_skip(j, &a->top_msg, &a->has_top_msg);
    return skip(j);
}

static int scan_answer(const char *buf, size_t n, struct answer *a)
{
    memset(a, 0, sizeof *a);
    a->n_choices = -1;
    a->usage.prompt_tokens = a->usage.completion_tokens = -1;
    return scan_document(buf, n, top_member, a);
}

int oa_parse_body(const char *body, size_t n, struct oa_usage *u)
{
    assert((body || n == 0) && u);
    struct answer a;
    if (scan_answer(body, n, &a) != 0 || a.n_choices <= 0)
        return -EINVAL;
    *u = a.usage;
    return 0;
}

int oa_parse_chunk(const char *data, size_t n, struct oa_chunk *out)
{
    assert((data || n == 0) && out);
    if (n == 0)
        return -EINVAL;
    const char *s = data, *e = data + n;
    while (s < e && (*s == ' ' || *s == '\t' || *s == '\n' || *s == '\r'))
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\n' || e[-1] == '\r'))
        e--;
    if (e - s == 6 && memcmp(s, "[DONE]", 6) == 0) {
        out->kind = OA_CHUNK_DONE;
        out->usage.prompt_tokens = out->usage.completion_tokens = -1;
        out->tokens = 0;
        return 0;
    }
    struct answer a;
    if (scan_answer(s, (size_t)(e - s), &a) != 0)
        return -EINVAL;
    if (a.error_member || a.object_error)
        return -EPROTO;
    out->usage = a.usage;
    out->tokens = 0;
    if (a.has_text) {
        out->kind = OA_CHUNK_TOKEN;
        out->tokens = 1;
    } else if (a.has_usage && a.n_choices <= 0) {
        out->kind = OA_CHUNK_USAGE;
    } else {
        out->kind = OA_CHUNK_OTHER;
    }
    return 0;
}

/* ---- error messages ------------------------------------------------------- */

static uint32_t hex4(const char *s)
{
    uint32_t v = 0;
    for (int k = 0; k < 4; k++)
        v = v << 4 | (uint32_t)hex_value(s[k]);
    return v;
}

/*
 * The next code point of a string as written (checked by scan_string, so every
 * escape is whole before end); U+FFFD for invalid UTF-8 or a lone surrogate.
 */
static uint32_t next_code_point(const char **pp, const char *end)
{
    const unsigned char *p = (const unsigned char *)*pp;
    if (*p == '\\') {
        char e = (char)p[1];
        *pp += 2;
        switch (e) {
        case 'b':
            return '\b';
        case 'f':
            return '\f';
        case 'n':
            return '\n';
        case 'r':
            return '\r';
        case 't':
            return '\t';
        case 'u':
            break;
        default:
            return (unsigned char)e; /* " \ / */
        }
        uint32_t cp = hex4(*pp);
        *pp += 4;
        if (cp >= 0xD800 && cp <= 0xDBFF && end - *pp >= 6 && (*pp)[0] == '\\' && (*pp)[1] == 'u') {
            uint32_t lo = hex4(*pp + 2);
            if (lo >= 0xDC00 && lo <= 0xDFFF) {
                *pp += 6;
                return 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            }
        }
        return cp >= 0xD800 && cp <= 0xDFFF ? 0xFFFD : cp;
    }
    if (*p < 0x80) {
        *pp += 1;
        return *p;
    }
    int len;
    uint32_t cp, min;
    if (*p >= 0xC2 && *p <= 0xDF) {
        len = 2, cp = *p & 0x1Fu, min = 0x80;
    } else if (*p >= 0xE0 && *p <= 0xEF) {
        len = 3, cp = *p & 0x0Fu, min = 0x800;
    } else if (*p >= 0xF0 && *p <= 0xF4) {
        len = 4, cp = *p & 0x07u, min = 0x10000;
    } else {
        *pp += 1;
        return 0xFFFD;
    }
    if (end - *pp < len) {
        *pp += 1;
        return 0xFFFD;
    }
    for (int k = 1; k < len; k++) {
        if ((p[k] & 0xC0) != 0x80) {
            *pp += 1;
            return 0xFFFD;
        }
        cp = cp << 6 | (p[k] & 0x3Fu);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        *pp += 1;
        return 0xFFFD;
    }
    *pp += len;
    return cp;
}

/* Append cp as UTF-8 if it fits with room for the NUL; false when it does not. */
static bool put_code_point(char *out, size_t *len, size_t outn, uint32_t cp)
{
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
        cp = ' '; /* C0, DEL and C1 controls: no terminal escapes from a server's text */
    unsigned char b[4];
    size_t k;
    if (cp < 0x80) {
        b[0] = (unsigned char)cp, k = 1;
    } else if (cp < 0x800) {
        b[0] = (unsigned char)(0xC0 | cp >> 6), b[1] = (unsigned char)(0x80 | (cp & 0x3F)), k = 2;
    } else if (cp < 0x10000) {
        b[0] = (unsigned char)(0xE0 | cp >> 12);
        b[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 3;
    } else {
        b[0] = (unsigned char)(0xF0 | cp >> 18);
        b[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
        b[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        b[3] = (unsigned char)(0x80 | (cp & 0x3F));
        k = 4;
    }
    if (outn - *len < k + 1)
        return false;
    memcpy(out + *len, b, k);
    *len += k;
    return true;
}

int oa_parse_error(const char *body, size_t n, char *msg, size_t msgn)
{
    assert((body || n == 0) && msg && msgn > 0);
    struct answer a;
    if (scan_answer(body, n, &a) != 0)
        return -EINVAL;
    struct span sp;
    if (a.error_member && a.has_error_msg)
        sp = a.error_msg;
    else if (a.object_error && a.has_top_msg)
        sp = a.top_msg;
    else
        return -EINVAL;
    size_t len = 0;
    const char *p = sp.s, *end = sp.s + sp.n;
    while (p < end && put_code_point(msg, &len, msgn, next_code_point(&p, end)))
        ;
    msg[len] = '\0';
    return 0;
}
