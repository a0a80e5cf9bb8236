#include "config.h"

#include "body.h"

#include <assert.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* ---- the buffer ----------------------------------------------------------- */

void body_buf_fini(struct body_buf *b)
{
    free(b->data);
    *b = (struct body_buf){0};
}

/* Room for n more bytes and the terminating NUL; doubles, so growth is amortised. */
static void reserve(struct body_buf *b, size_t n)
{
    if (b->len + n < b->cap)
        return;
    size_t cap = b->cap ? b->cap : 256;
    while (b->len + n >= cap)
        cap *= 2;
    b->data = xrealloc(b->data, cap);
    b->cap = cap;
}

static void put(struct body_buf *b, const char *s, size_t n)
{
    reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = '\0';
}

#define PUT_LIT(b, lit) put((b), (lit), sizeof(lit) - 1)

static void put_i64(struct body_buf *b, int64_t v)
{
    reserve(b, 24);
    b->len += (size_t)snprintf(b->data + b->len, 24, "%" PRId64, v);
}

/*
 * s as the inside of a JSON string. Only what JSON requires is escaped: bytes from
 * 0x80 up are passed through (prompts were checked to be UTF-8 when loaded), so a
 * text's bytes on the wire are its bytes, and the server's count matches ours.
 */
static void put_escaped(struct body_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    reserve(b, n);
    size_t run = 0; /* start of the bytes not yet copied */
    for (size_t k = 0; k < n; k++) {
        unsigned char c = (unsigned char)s[k];
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        put(b, s + run, k - run);
        run = k + 1;
        switch (c) {
        case '"':
            PUT_LIT(b, "\\\"");
            break;
        case '\\':
            PUT_LIT(b, "\\\\");
            break;
        case '\n':
            PUT_LIT(b, "\\n");
            break;
        case '\r':
            PUT_LIT(b, "\\r");
            break;
        case '\t':
            PUT_LIT(b, "\\t");
            break;
        case '\b':
            PUT_LIT(b, "\\b");
            break;
        case '\f':
            PUT_LIT(b, "\\f");
            break;
        default: {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            put(b, u, sizeof u);
        }
        }
    }
    put(b, s + run, n - run);
}

/* ---- prompts -------------------------------------------------------------- */

/* One prompt: two renderings of it in the arena, and its token counts. */
struct prompt {
    size_t msgs_off, msgs_len; /* the "messages" array, JSON text: [{"role":..},..] */
    size_t text_off, text_len; /* the contents joined with "\n", escaped, without quotes */
    int64_t chat_tokens;       /* the mock's estimate of the messages */
    int64_t text_tokens;       /* the mock's estimate of the joined text */
};

/*
 * Every prompt's two ranges lie inside arena[0..len); chat_tokens >= 7 (one message
 * at least) and text_tokens >= 1; there is at least one prompt.
 */
struct prompts {
    struct prompt *v;      /* the prompts, in file order */
    size_t n;              /* how many */
    struct body_buf arena; /* the rendered text of all prompts, back to back */
};

#ifndef NDEBUG
static bool prompts_ok(const struct prompts *p)
{
    if (!p || p->n == 0 || !p->v)
        return false;
    for (size_t i = 0; i < p->n; i++) {
        const struct prompt *q = &p->v[i];
        if (q->msgs_off + q->msgs_len > p->arena.len || q->text_off + q->text_len > p->arena.len ||
            q->chat_tokens < 7 || q->text_tokens < 1)
            return false;
    }
    return true;
}
#endif

/* The mock's estimate of a text (mock_estimate_text_tokens): one token per 4 bytes. */
static int64_t text_tokens(size_t bytes)
{
    return (int64_t)((bytes + 3) / 4);
}

static int errf(char *err, size_t errn, const char *path, size_t line, int rc, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

/* Fill err with "PATH:LINE: message" ("PATH: message" for line 0); return rc. */
static int errf(char *err, size_t errn, const char *path, size_t line, int rc, const char *fmt, ...)
{
    if (!errn)
        return rc;
    int n = line ? snprintf(err, errn, "%s:%zu: ", path, line) : snprintf(err, errn, "%s: ", path);
    if (n >= 0 && (size_t)n < errn) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err + n, errn - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return rc;
}

/* Well-formed UTF-8 (no overlongs, surrogates or code points above U+10FFFF). */
static bool valid_utf8(const unsigned char *s, size_t n)
{
    size_t k = 0;
    while (k < n) {
        unsigned char c = s[k];
        size_t len;
        unsigned char lo = 0x80, hi = 0xBF; /* range of the second byte */
        if (c < 0x80) {
            k++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3;
            lo = c == 0xE0 ? 0xA0 : 0x80;
            hi = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4;
            lo = c == 0xF0 ? 0x90 : 0x80;
            hi = c == 0xF4 ? 0x8F : 0xBF;
        } else {
            return false;
        }
        if (n - k < len || s[k + 1] < lo || s[k + 1] > hi)
            return false;
        for (size_t j = 2; j < len; j++)
            if (s[k + j] < 0x80 || s[k + j] > 0xBF)
                return false;
        k += len;
    }
    return true;
}

/*
 * Whether the JSON text holds the escape \u0000: cJSON would end the string there
 * and silently drop the rest, so such a prompt is refused rather than cut.
 */
static bool has_nul_escape(const char *s, size_t n)
{
    for (size_t k = 0; k + 6 <= n; k++) {
        if (s[k] != '\\')
            continue;
        if (memcmp(s + k + 1, "u0000", 5) == 0)
            return true;
        k++; /* skip the escaped character, so "\\u0000" is a backslash and text */
    }
    return false;
}

static const char *json_type(const cJSON *x)
{
    if (cJSON_IsNull(x))
        return "null";
    if (cJSON_IsBool(x))
        return "a boolean";
    if (cJSON_IsNumber(x))
        return "a number";
    if (cJSON_IsString(x))
        return "a string";
    if (cJSON_IsArray(x))
        return "an array";
    return "an object";
}

#define EXPECT_MSG "an object {\"role\": string, \"content\": string}"

/* Check message m (index k) of a line; 0 or -EINVAL with err filled. */
static int check_message(const cJSON *m, int k, const char *path, size_t line, char *err,
                         size_t errn)
{
    if (!cJSON_IsObject(m))
        return errf(err, errn, path, line, -EINVAL, "messages[%d] is %s (expected " EXPECT_MSG ")",
                    k, json_type(m));
    static const char *const members[] = {"role", "content"};
    for (int j = 0; j < 2; j++) {
        const cJSON *x = cJSON_GetObjectItemCaseSensitive(m, members[j]);
        if (!x)
            return errf(err, errn, path, line, -EINVAL,
                        "messages[%d] has no \"%s\" (expected " EXPECT_MSG ")", k, members[j]);
        if (!cJSON_IsString(x))
            return errf(err, errn, path, line, -EINVAL, "messages[%d].%s is %s (expected a string)",
                        k, members[j], json_type(x));
        size_t len = strlen(x->valuestring);
        if (j == 0 && len == 0)
            return errf(err, errn, path, line, -EINVAL,
                        "messages[%d].role is empty (expected a role such as \"user\")", k);
        if (!valid_utf8((const unsigned char *)x->valuestring, len))
            return errf(err, errn, path, line, -EINVAL,
                        "messages[%d].%s is not valid UTF-8 (expected UTF-8 text)", k, members[j]);
    }
    return 0;
}

/* Validate one line's array and render it into p (arena and a new entry). */
static int add_prompt(struct prompts *p, size_t *cap, const cJSON *arr, const char *path,
                      size_t line, char *err, size_t errn)
{
    if (!cJSON_IsArray(arr))
        return errf(err, errn, path, line, -EINVAL,
                    "%s, not an array (expected one array of chat messages per line, such as "
                    "[{\"role\": \"user\", \"content\": \"Hello\"}])",
                    json_type(arr));
    int n = cJSON_GetArraySize(arr);
    if (n == 0)
        return errf(err, errn, path, line, -EINVAL,
                    "an empty array (expected at least one message)");
    int k = 0;
    const cJSON *m;
    cJSON_ArrayForEach(m, arr)
    {
        int rc = check_message(m, k++, path, line, err, errn);
        if (rc < 0)
            return rc;
    }
    /* Valid: render it. Nothing was written before, so a refused line leaves no trace. */
    struct prompt q = {0};
    struct body_buf *a = &p->arena;
    q.msgs_off = a->len;
    q.chat_tokens = 3; /* the reply's priming */
    size_t text_bytes = 0;
    PUT_LIT(a, "[");
    k = 0;
    cJSON_ArrayForEach(m, arr)
    {
        const char *role = cJSON_GetObjectItemCaseSensitive(m, "role")->valuestring;
        const char *content = cJSON_GetObjectItemCaseSensitive(m, "content")->valuestring;
        size_t clen = strlen(content);
        if (k++)
            PUT_LIT(a, ",");
        PUT_LIT(a, "{\"role\":\"");
        put_escaped(a, role, strlen(role));
        PUT_LIT(a, "\",\"content\":\"");
        put_escaped(a, content, clen);
        PUT_LIT(a, "\"}");
        q.chat_tokens += 4 + text_tokens(clen);
        text_bytes += clen;
    }
    PUT_LIT(a, "]");
    q.msgs_len = a->len - q.msgs_off;
    q.text_off = a->len;
    k = 0;
    cJSON_ArrayForEach(m, arr)
    {
        const char *content = cJSON_GetObjectItemCaseSensitive(m, "content")->valuestring;
        if (k++)
            PUT_LIT(a, "\\n");
        put_escaped(a, content, strlen(content));
    }
    q.text_len = a->len - q.text_off;
    text_bytes += (size_t)n - 1; /* the "\n" joints */
    q.text_tokens = text_tokens(text_bytes);
    if (q.text_tokens < 1)
        q.text_tokens = 1; /* the mock counts an empty prompt as 1 */
    if (p->n == *cap) {
        *cap = *cap ? *cap * 2 : 16;
        p->v = xrealloc(p->v, *cap * sizeof *p->v);
    }
    p->v[p->n++] = q;
    return 0;
}

/* Parse one non-blank line (len bytes, not NUL-terminated) and add its prompt to p. */
static int parse_line(struct prompts *p, size_t *cap, const char *s, size_t len, const char *path,
                      size_t line, char *err, size_t errn)
{
    if (memchr(s, '\0', len))
        return errf(err, errn, path, line, -EINVAL,
                    "a NUL byte (expected a line of UTF-8 JSON text)");
    if (has_nul_escape(s, len))
        return errf(err, errn, path, line, -EINVAL,
                    "a \\u0000 in a string (expected text without NUL characters)");
    const char *end = NULL;
    cJSON *arr = cJSON_ParseWithLengthOpts(s, len, &end, false);
    if (arr) {
        while (end < s + len && (*end == ' ' || *end == '\t' || *end == '\r' || *end == '\n'))
            end++;
        if (end < s + len) {
            cJSON_Delete(arr);
            return errf(err, errn, path, line, -EINVAL,
                        "text after the JSON value at column %zu (expected one array of chat "
                        "messages per line)",
                        (size_t)(end - s) + 1);
        }
    }
    if (!arr) {
        size_t col = end && end >= s && end <= s + len ? (size_t)(end - s) + 1 : 1;
        return errf(err, errn, path, line, -EINVAL,
                    "not valid JSON near column %zu (expected one array of chat messages per "
                    "line, such as [{\"role\": \"user\", \"content\": \"Hello\"}])",
                    col);
    }
    int rc = add_prompt(p, cap, arr, path, line, err, errn);
    cJSON_Delete(arr);
    return rc;
}

int prompts_load(const char *path, struct prompts **out, char *err, size_t errn)
{
    assert(path && out);
    FILE *f = fopen(path, "r");
    if (!f) {
        int e = errno;
        return errf(err, errn, path, 0, -e,
                    "cannot read: %s (expected a JSONL file of messages arrays)", strerror(e));
    }
    struct prompts *p = xcalloc(1, sizeof *p);
    size_t cap = 0, line = 0, lcap = 0;
    char *buf = NULL;
    ssize_t got;
    int rc = 0;
    while ((got = getline(&buf, &lcap, f)) >= 0) {
        line++;
        const char *s = buf;
        size_t len = (size_t)got;
        if (line == 1 && len >= 3 && memcmp(s, "\xEF\xBB\xBF", 3) == 0)
            s += 3, len -= 3; /* a UTF-8 byte order mark, as some editors write */
        size_t lead = strspn(s, " \t\r\n");
        if (lead == len || s[lead] == '#')
            continue;
        rc = parse_line(p, &cap, s, len, path, line, err, errn);
        if (rc < 0)
            break;
    }
    if (rc == 0 && ferror(f)) {
        int e = errno ? errno : EIO;
        rc = errf(err, errn, path, 0, -e,
                  "cannot read: %s (expected a JSONL file of messages "
                  "arrays)",
                  strerror(e));
    }
    free(buf);
    fclose(f);
    if (rc == 0 && p->n == 0)
        rc = errf(err, errn, path, 0, -EINVAL,
                  "no prompts (expected one JSON array of chat messages per line; blank lines "
                  "and lines starting with '#' are skipped)");
    if (rc < 0) {
        prompts_free(p);
        return rc;
    }
    *out = p;
    assert(prompts_ok(p));
    return 0;
}

void prompts_free(struct prompts *p)
{
    if (!p)
        return;
    free(p->v);
    body_buf_fini(&p->arena);
    free(p);
}

size_t prompts_count(const struct prompts *p)
{
    assert(p && p->n > 0); /* prompts_ok held at load, and nothing changes a loaded set */
    return p->n;
}

int64_t prompts_tokens(const struct prompts *p, size_t i, enum body_api api)
{
    assert(p && i < p->n);
    return api == BODY_CHAT ? p->v[i].chat_tokens : p->v[i].text_tokens;
}

/* ---- bodies --------------------------------------------------------------- */

int body_api_of(const char *api_path, enum body_api *out)
{
    assert(api_path && out);
    static const char chat[] = "/chat/completions", compl [] = "/completions";
    size_t n = strcspn(api_path, "?"); /* a query ("?api-version=..." on Azure) is not the path */
    if (n >= sizeof chat - 1 &&
        memcmp(api_path + n - (sizeof chat - 1), chat, sizeof chat - 1) == 0) {
        *out = BODY_CHAT;
        return 0;
    }
    if (n >= sizeof compl -1 &&
        memcmp(api_path + n - (sizeof compl -1), compl, sizeof compl -1) == 0) {
        *out = BODY_COMPLETIONS;
        return 0;
    }
    return -EINVAL;
}

/*
 * Words of the synthetic prompts: 64 common three-letter English words, each written
 * with a trailing space, so every word is 4 bytes (one token to the mock) and a
 * single token to BPE tokenizers too (" and" and the like are in their vocabularies).
 */
static const char words[] = "the and for are but not you all any can had her was one our out "
                            "day get has him his how man new now old see two way who boy did "
                            "its let put say she too use art bag bed big box car cat cup dog "
                            "ear eye fan fix fun gap hat ice job key leg map net oil pen red ";
_Static_assert(sizeof words == 64 * 4 + 1, "64 words of 4 bytes");

/* splitmix64's finaliser: a bijection on 64 bits, so distinct salts give distinct draws. */
static uint64_t mix64(uint64_t z)
{
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/*
 * n words salted by salt. The first draw gives words 0..10 (its 64 bits, 6 at a time),
 * so two salts differ within the first 11 words; later draws give 10 words each.
 */
static void put_words(struct body_buf *b, uint64_t salt, int64_t n)
{
    if (n <= 0)
        return;
    reserve(b, (size_t)n * 4);
    char *w = b->data + b->len;
    uint64_t s = salt, z = mix64(s += 0x9e3779b97f4a7c15ULL);
    int left = 11;
    for (int64_t k = 0; k < n; k++) {
        if (left == 0) {
            z = mix64(s += 0x9e3779b97f4a7c15ULL);
            left = 10;
        }
        memcpy(w, words + 4 * (z & 63), 4);
        w += 4;
        z >>= 6;
        left--;
    }
    b->len += (size_t)n * 4;
    b->data[b->len] = '\0';
}

int body_build(struct body_buf *b, const struct body_spec *s, const struct prompts *p, size_t i,
               int64_t prompt_tokens, int64_t max_tokens)
{
    assert(b && s && s->model);
    assert(!p || i < p->n);
    b->len = 0;
    PUT_LIT(b, "{\"model\":\"");
    put_escaped(b, s->model, strlen(s->model));
    if (s->api == BODY_CHAT) {
        PUT_LIT(b, "\",\"messages\":");
        if (p) {
            put(b, p->arena.data + p->v[i].msgs_off, p->v[i].msgs_len);
        } else {
            /* 3 (priming) + 4 (the message) + one token per 4-byte word */
            PUT_LIT(b, "[{\"role\":\"user\",\"content\":\"");
            put_words(b, i, prompt_tokens - 7);
            PUT_LIT(b, "\"}]");
        }
    } else {
        PUT_LIT(b, "\",\"prompt\":\"");
        if (p)
            put(b, p->arena.data + p->v[i].text_off, p->v[i].text_len);
        else
            put_words(b, i, prompt_tokens);
        PUT_LIT(b, "\"");
    }
    if (max_tokens > 0) {
        PUT_LIT(b, ",\"max_tokens\":");
        put_i64(b, max_tokens);
    }
    if (s->stream)
        PUT_LIT(b, ",\"stream\":true,\"stream_options\":{\"include_usage\":true}");
    PUT_LIT(b, "}");
    return 0;
}
