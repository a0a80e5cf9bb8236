#include "config.h"

#include <check.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "oaresp.h"
#include "promtext.h"
#include "sse.h"

#define BOM "\xEF\xBB\xBF" /* UTF-8 byte order mark */

/* ---- helpers --------------------------------------------------------------- */

/* Events as a log: "<type>|<len>|<data>\n" each, so two runs compare with memcmp. */
struct rec {
    char log[1 << 16];
    size_t len;
    int n;
    size_t last_len; /* len of the last event's data */
};

static void rec_event(void *ctx, const char *event, const char *data, size_t len)
{
    struct rec *r = ctx;
    ck_assert_int_eq(data[len], '\0');
    ck_assert_uint_lt(strlen(event), SSE_MAX_TYPE);
    r->n++;
    r->last_len = len;
    size_t keep = len < 256 ? len : 256; /* huge events: their length is what matters */
    int k = snprintf(r->log + r->len, sizeof r->log - r->len, "%s|%zu|", event, len);
    ck_assert(k > 0 && (size_t)k + keep + 1 < sizeof r->log - r->len);
    r->len += (size_t)k;
    memcpy(r->log + r->len, data, keep);
    r->len += keep;
    r->log[r->len++] = '\n';
    r->log[r->len] = '\0';
}

/* Feed s in pieces cut at the given offsets (ascending, each within s). */
static int feed_cut(struct sse *p, const char *s, size_t n, const size_t *cuts, int ncuts)
{
    size_t at = 0;
    int rc = 0;
    for (int i = 0; i <= ncuts; i++) {
        size_t to = i < ncuts ? cuts[i] : n;
        int r = sse_feed(p, s + at, to - at);
        if (r)
            rc = r;
        at = to;
    }
    return rc;
}

static void parse_all(const char *s, size_t n, struct rec *r)
{
    struct sse p;
    memset(r, 0, sizeof *r);
    sse_init(&p, rec_event, r);
    ck_assert_int_eq(sse_feed(&p, s, n), 0);
    sse_fini(&p);
}

static uint64_t xorshift(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* An exact-size heap copy, so ASan sees any read past n. */
static char *dup_exact(const char *s, size_t n)
{
    char *d = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(d);
    memcpy(d, s, n);
    return d;
}

/* ---- SSE ----------------------------------------------------------------- */

/* A chat stream as ratelab's mock and vLLM send it, plus what other servers add. */
static const char stream[] = BOM
    ": keep-alive\n"
    "\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1796097661,"
    "\"model\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n\n"
    "data: {\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1796097661,"
    "\"model\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" the\"},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\r\n\r\n"
    "id: 7\r"
    "retry: 1000\r"
    "event: message\r"
    "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" sky\"}}]}\r\r"
    "event: ping\n"
    "data:first\n"
    "data:  second\n"
    "data\n"
    ":comment: with a colon\n"
    "\n"
    "data: {\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":8,"
    "\"completion_tokens\":2,\"total_tokens\":10}}\n\n"
    "data: [DONE]\n\n";

static const char stream_log[] =
    "|201|{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1796097661,"
    "\"model\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n"
    "|186|{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1796097661,"
    "\"model\":\"x\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\" the\"},"
    "\"logprobs\":null,\"finish_reason\":null}],\"usage\":null}\n"
    "message|52|{\"choices\":[{\"index\":0,\"delta\":{\"content\":\" sky\"}}]}\n"
    "ping|14|first\n second\n\n"
    "|100|{\"id\":\"chatcmpl-1\",\"choices\":[],\"usage\":{\"prompt_tokens\":8,"
    "\"completion_tokens\":2,\"total_tokens\":10}}\n"
    "|6|[DONE]\n";

START_TEST(sse_one_feed)
{
    struct rec r;
    parse_all(stream, sizeof stream - 1, &r);
    ck_assert_int_eq(r.n, 6);
    ck_assert_str_eq(r.log, stream_log);
}
END_TEST

START_TEST(sse_every_split)
{
    const size_t n = sizeof stream - 1;
    struct rec *r = malloc(sizeof *r);
    struct sse p;
    /* one cut at every byte boundary */
    for (size_t i = 0; i <= n; i++) {
        memset(r, 0, sizeof *r);
        sse_init(&p, rec_event, r);
        ck_assert_int_eq(feed_cut(&p, stream, n, &i, 1), 0);
        ck_assert_msg(strcmp(r->log, stream_log) == 0, "cut at %zu:\n%s", i, r->log);
        sse_fini(&p);
    }
    /* a byte at a time */
    memset(r, 0, sizeof *r);
    sse_init(&p, rec_event, r);
    for (size_t i = 0; i < n; i++)
        ck_assert_int_eq(sse_feed(&p, stream + i, 1), 0);
    ck_assert_str_eq(r->log, stream_log);
    sse_fini(&p);
    /* random cuts, several per stream */
    uint64_t x = 0x9E3779B97F4A7C15ULL;
    for (int k = 0; k < 500; k++) {
        size_t cuts[6];
        int nc = (int)(xorshift(&x) % 7);
        for (int i = 0; i < nc; i++)
            cuts[i] = xorshift(&x) % (n + 1);
        for (int i = 1; i < nc; i++) /* insertion sort */
            for (int j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
                size_t t = cuts[j];
                cuts[j] = cuts[j - 1];
                cuts[j - 1] = t;
            }
        memset(r, 0, sizeof *r);
        sse_init(&p, rec_event, r);
        ck_assert_int_eq(feed_cut(&p, stream, n, cuts, nc), 0);
        ck_assert_str_eq(r->log, stream_log);
        sse_fini(&p);
    }
    free(r);
}
END_TEST

START_TEST(sse_crlf_split)
{
    struct rec r = {.n = 0};
    struct sse p;
    sse_init(&p, rec_event, &r);
    ck_assert_int_eq(sse_feed(&p, "data: a\r", 8), 0);
    ck_assert_int_eq(sse_feed(&p, "\ndata: b\r", 9), 0);
    ck_assert_int_eq(r.n, 0);
    /* the "\n" ends b's line; the "\r" is a blank line at once (not waiting for a "\n") */
    ck_assert_int_eq(sse_feed(&p, "\n\r", 2), 0);
    ck_assert_int_eq(r.n, 1);
    ck_assert_int_eq(sse_feed(&p, "\n", 1), 0); /* the rest of that "\r\n": nothing more */
    ck_assert_int_eq(r.n, 1);
    ck_assert_str_eq(r.log, "|3|a\nb\n");
    /* "\r" then "\r" in the next feed: two line ends, so a dispatch */
    ck_assert_int_eq(sse_feed(&p, "data: c\r", 8), 0);
    ck_assert_int_eq(sse_feed(&p, "\r", 1), 0);
    ck_assert_int_eq(r.n, 2);
    /* "\n\r" is two line ends, not one */
    ck_assert_int_eq(sse_feed(&p, "data: d\n\r", 9), 0);
    ck_assert_int_eq(r.n, 3);
    ck_assert_str_eq(r.log, "|3|a\nb\n|1|c\n|1|d\n");
    /* a "\r" at the end of one feed and "\n" starting the next is one blank line, not two */
    ck_assert_int_eq(sse_feed(&p, "data: e\n\r", 9), 0);
    ck_assert_int_eq(sse_feed(&p, "\ndata: f\n\n", 10), 0);
    ck_assert_int_eq(r.n, 5);
    sse_fini(&p);
}
END_TEST

START_TEST(sse_fields)
{
    struct rec r;
    /* types reset after a dispatch; a blank line without data dispatches nothing but clears
     * the type; the last event: wins; "event" alone is an empty type; "data:" alone is "" */
    static const char s[] = "event: a\n\n"
                            "data: q\n\n"
                            "event: x\nevent: y\ndata: 1\n\n"
                            "event: z\nevent\ndata: 2\n\n"
                            "data:\n\n"
                            "data: \n\n"
                            "data:  two spaces\n\n"
                            "data:no space\n\n"
                            "Data: case\n\n"
                            "data : not data\n\n"
                            "dataX: no\n\n"
                            "retry: 5\nid: 9\nfoo\n: c\n\n"
                            "event: e\n:data: commented\n\n"
                            "data: a:b: c\n\n"
                            "data: tail without blank line\n";
    parse_all(s, sizeof s - 1, &r);
    ck_assert_str_eq(r.log, "|1|q\n"
                            "y|1|1\n"
                            "|1|2\n"
                            "|0|\n"
                            "|0|\n"
                            "|11| two spaces\n"
                            "|8|no space\n"
                            "|6|a:b: c\n");
    /* a NUL byte in data is data */
    parse_all("data: a\0b\n\n", 11, &r);
    ck_assert_int_eq(r.n, 1);
    ck_assert_uint_eq(r.last_len, 3);
    /* a long type is truncated */
    char big[300];
    memset(big, 't', sizeof big);
    memcpy(big, "event:", 6);
    struct sse p;
    memset(&r, 0, sizeof r);
    sse_init(&p, rec_event, &r);
    sse_feed(&p, big, sizeof big);
    sse_feed(&p, "\ndata: x\n\n", 10);
    ck_assert_int_eq(r.n, 1);
    ck_assert_uint_eq(strlen(r.log), SSE_MAX_TYPE - 1 + strlen("|1|x\n"));
    sse_fini(&p);
}
END_TEST

START_TEST(sse_bom)
{
    struct rec r;
    parse_all(BOM "data: a\n\n", 12, &r);
    ck_assert_str_eq(r.log, "|1|a\n");
    /* only one BOM is dropped: a second one is part of the field name */
    parse_all(BOM BOM "data: a\n\n", 15, &r);
    ck_assert_int_eq(r.n, 0);
    /* a partial BOM is not dropped */
    parse_all("\xEF\xBB:\ndata: a\n\n", 13, &r); /* a field named EF BB */
    ck_assert_int_eq(r.n, 1);
    parse_all("\xEF\xBB\x64\x61ta: a\n\n", 11, &r); /* "\xEF\xBB" "data" */
    ck_assert_int_eq(r.n, 0);
    parse_all("\xEF\xBB:x\ndata: b\n\n", 15, &r);
    ck_assert_str_eq(r.log, "|1|b\n");
    parse_all("\xEF\n\ndata: c\n\n", 12, &r);
    ck_assert_str_eq(r.log, "|1|c\n");
    /* not at the start: part of the data */
    parse_all("data: \xEF\xBB\xBF\n\n", 11, &r);
    ck_assert_uint_eq(r.last_len, 3);
    /* split over feeds, and dropped again after a reset */
    struct sse p;
    memset(&r, 0, sizeof r);
    sse_init(&p, rec_event, &r);
    sse_feed(&p, "\xEF", 1);
    sse_feed(&p, "\xBB", 1);
    sse_feed(&p, "\xBF", 1);
    sse_feed(&p, "da", 2);
    sse_feed(&p, "ta: d\n\ndata: partial", 20);
    sse_reset(&p);
    sse_feed(&p, BOM "data: e\n\n", 12);
    ck_assert_str_eq(r.log, "|1|d\n|1|e\n");
    sse_fini(&p);
}
END_TEST

START_TEST(sse_reset_forgets)
{
    struct rec r = {.n = 0};
    struct sse p;
    sse_init(&p, rec_event, &r);
    /* a pending "\r" is forgotten too: the "\n" after the reset is a blank line of its own */
    sse_feed(&p, "event: t\ndata: a\r", 17);
    sse_reset(&p);
    sse_feed(&p, "\ndata: b\n\n", 10);
    ck_assert_str_eq(r.log, "|1|b\n");
    /* the buffer is kept: a second identical stream allocates nothing */
    char *buf = p.data;
    size_t cap = p.data_cap;
    sse_reset(&p);
    sse_feed(&p, stream, sizeof stream - 1);
    buf = p.data;
    cap = p.data_cap;
    sse_reset(&p);
    sse_feed(&p, stream, sizeof stream - 1);
    ck_assert_ptr_eq(p.data, buf);
    ck_assert_uint_eq(p.data_cap, cap);
    sse_fini(&p);
    ck_assert_ptr_null(p.data);
    sse_fini(&p); /* twice is harmless */
}
END_TEST

START_TEST(sse_oversize)
{
    struct rec r = {.n = 0};
    struct sse p;
    sse_init(&p, rec_event, &r);
    size_t chunk = 64 * 1024;
    char *fill = malloc(chunk);
    memset(fill, 'x', chunk);
    /* exactly SSE_MAX_EVENT bytes is fine */
    sse_feed(&p, "data: ", 6);
    for (size_t k = 0; k < SSE_MAX_EVENT / chunk; k++)
        ck_assert_int_eq(sse_feed(&p, fill, chunk), 0);
    ck_assert_int_eq(sse_feed(&p, "\n\n", 2), 0);
    ck_assert_int_eq(r.n, 1);
    ck_assert_uint_eq(r.last_len, SSE_MAX_EVENT);
    ck_assert_uint_le(p.data_cap, (size_t)SSE_MAX_EVENT + 1);
    /* one byte more: -E2BIG once, nothing dispatched, then the stream goes on */
    sse_feed(&p, "event: big\ndata: ", 17);
    int e2big = 0;
    for (size_t k = 0; k < SSE_MAX_EVENT / chunk; k++)
        e2big += sse_feed(&p, fill, chunk) == -E2BIG;
    ck_assert_int_eq(e2big, 0);
    ck_assert_int_eq(sse_feed(&p, "x", 1), -E2BIG);
    ck_assert_int_eq(sse_feed(&p, fill, chunk), 0);          /* still discarding: no repeat */
    ck_assert_int_eq(sse_feed(&p, "\ndata: more\n", 12), 0); /* part of the dropped event */
    ck_assert_int_eq(sse_feed(&p, "\ndata: ok\n\n", 11), 0);
    ck_assert_int_eq(r.n, 2);
    ck_assert_uint_eq(r.last_len, 2);
    /* overflow by joining lines, and the next event in the same feed still arrives */
    size_t half = SSE_MAX_EVENT / 2;
    char *s = malloc(2 * (half + 7) + 32);
    size_t n = 0;
    for (int l = 0; l < 2; l++) {
        memcpy(s + n, "data: ", 6);
        n += 6;
        memset(s + n, 'y', half);
        n += half;
        s[n++] = '\n';
    }
    memcpy(s + n, "\ndata: after\n\n", 14);
    n += 14;
    ck_assert_int_eq(sse_feed(&p, s, n), -E2BIG);
    ck_assert_int_eq(r.n, 3);
    ck_assert_uint_eq(r.last_len, 5);
    ck_assert(memcmp(r.log + r.len - 6, "after\n", 6) == 0);
    free(s);
    free(fill);
    sse_fini(&p);
}
END_TEST

/* ---- OpenAI-compatible bodies ---------------------------------------------- */

static const char openai_body[] =
    "{\n"
    "  \"id\": \"chatcmpl-B9MBs8CjcvOU2jLn4n570S5qMJKcT\",\n"
    "  \"object\": \"chat.completion\",\n"
    "  \"created\": 1741569952,\n"
    "  \"model\": \"gpt-4.1-2025-04-14\",\n"
    "  \"choices\": [\n"
    "    {\n"
    "      \"index\": 0,\n"
    "      \"message\": {\n"
    "        \"role\": \"assistant\",\n"
    "        \"content\": \"Hello! How can I assist you today? \\u00e9\\ud83d\\ude00\",\n"
    "        \"refusal\": null,\n"
    "        \"annotations\": []\n"
    "      },\n"
    "      \"logprobs\": null,\n"
    "      \"finish_reason\": \"stop\"\n"
    "    }\n"
    "  ],\n"
    "  \"usage\": {\n"
    "    \"prompt_tokens\": 19,\n"
    "    \"completion_tokens\": 10,\n"
    "    \"total_tokens\": 29,\n"
    "    \"prompt_tokens_details\": {\"cached_tokens\": 0, \"audio_tokens\": 0},\n"
    "    \"completion_tokens_details\": {\"reasoning_tokens\": 0, \"audio_tokens\": 0,\n"
    "      \"accepted_prediction_tokens\": 0, \"rejected_prediction_tokens\": 0}\n"
    "  },\n"
    "  \"service_tier\": \"default\",\n"
    "  \"system_fingerprint\": null\n"
    "}\n";

static const char vllm_completions_body[] =
    "{\"id\":\"cmpl-5f2b0c\",\"object\":\"text_completion\",\"created\":1715000000,"
    "\"model\":\"meta-llama/Llama-3.1-8B-Instruct\",\"choices\":[{\"index\":0,\"text\":\" the sky "
    "was\",\"logprobs\":null,\"finish_reason\":\"length\",\"stop_reason\":null,"
    "\"prompt_logprobs\":null}],\"usage\":{\"prompt_tokens\":5,\"total_tokens\":8,"
    "\"completion_tokens\":3,\"prompt_tokens_details\":null},\"kv_transfer_params\":null}";

static int body(const char *s, struct oa_usage *u)
{
    size_t n = strlen(s);
    char *d = dup_exact(s, n);
    int rc = oa_parse_body(d, n, u);
    free(d);
    return rc;
}

START_TEST(body_usage)
{
    struct oa_usage u = {0, 0};
    ck_assert_int_eq(body(openai_body, &u), 0);
    ck_assert_int_eq(u.prompt_tokens, 19);
    ck_assert_int_eq(u.completion_tokens, 10);
    ck_assert_int_eq(body(vllm_completions_body, &u), 0);
    ck_assert_int_eq(u.prompt_tokens, 5);
    ck_assert_int_eq(u.completion_tokens, 3);
    /* ratelab's mock */
    ck_assert_int_eq(body("{\"id\":\"chatcmpl-3\",\"object\":\"chat.completion\",\"created\":"
                          "1796097661,\"model\":\"x\",\"choices\":[{\"index\":0,\"message\":{"
                          "\"role\":\"assistant\",\"content\":\" the sky was\"},\"logprobs\":null,"
                          "\"finish_reason\":\"length\"}],\"usage\":{\"prompt_tokens\":8,"
                          "\"completion_tokens\":3,\"total_tokens\":11}}\n",
                          &u),
                     0);
    ck_assert_int_eq(u.prompt_tokens, 8);
    ck_assert_int_eq(u.completion_tokens, 3);
    /* no usage, null usage, odd counts */
    static const char *const no_usage[] = {
        "{\"choices\":[{\"index\":0,\"text\":\"x\"}]}",
        "{\"choices\":[{}],\"usage\":null}",
        "{\"choices\":[{}],\"usage\":{}}",
        "{\"choices\":[1],\"usage\":{\"prompt_tokens\":-1,\"completion_tokens\":1.5}}",
        "{\"choices\":[1],\"usage\":{\"prompt_tokens\":\"7\",\"completion_tokens\":1e2}}",
        "{\"choices\":[1],\"usage\":{\"prompt_tokens\":9223372036854775808,"
        "\"completion_tokens\":null}}",
        "{\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":6},\"usage\":null,\"choices\":[0]}",
    };
    for (size_t i = 0; i < sizeof no_usage / sizeof no_usage[0]; i++) {
        u.prompt_tokens = u.completion_tokens = 77;
        ck_assert_msg(body(no_usage[i], &u) == 0, "%s", no_usage[i]);
        ck_assert_msg(u.prompt_tokens == -1 && u.completion_tokens == -1, "%s", no_usage[i]);
    }
    ck_assert_int_eq(body("{\"choices\":[{}],\"usage\":{\"prompt_tokens\":9223372036854775807,"
                          "\"completion_tokens\":0}}",
                          &u),
                     0);
    ck_assert_int_eq(u.prompt_tokens, INT64_MAX);
    ck_assert_int_eq(u.completion_tokens, 0);
}
END_TEST

START_TEST(body_malformed)
{
    struct oa_usage u = {42, 43};
    static const char *const bad[] = {
        "",
        " ",
        "null",
        "[]",
        "[{\"choices\":[{}]}]",
        "\"choices\"",
        "42",
        "{}",
        "{\"choices\":[]}",
        "{\"choices\":{}}",
        "{\"choices\":null}",
        "{\"error\":{\"message\":\"x\"}}",
        "{\"choices\":[{}]} x",
        "{\"choices\":[{}]}}",
        "{\"choices\":[{}],}",
        "{\"choices\":[{},]}",
        "{'choices':[{}]}",
        "{\"choices\":[01]}",
        "{\"choices\":[1.]}",
        "{\"choices\":[.5]}",
        "{\"choices\":[-]}",
        "{\"choices\":[1e]}",
        "{\"choices\":[tru]}",
        "{\"choices\":[nul]}",
        "{\"choices\":[\"\\x\"]}",
        "{\"choices\":[\"\\u12g4\"]}",
        "{\"choices\":[\"tab\tinside\"]}",
        "{\"choices\":[{}] /* comment */}",
        "{\"choices\" [{}]}",
        "{\"choices\":[{}]",
        "{\"id\":\"chatcmpl-7\",\"object\":\"chat.compl", /* the mock's malformed fault */
        "<html><body>502 Bad Gateway</body></html>",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(body(bad[i], &u) == -EINVAL, "accepted: %s", bad[i]);
    ck_assert_int_eq(u.prompt_tokens, 42); /* untouched */
    ck_assert_int_eq(u.completion_tokens, 43);
    ck_assert_int_eq(oa_parse_body(NULL, 0, &u), -EINVAL);
    /* every truncation of a real body is malformed */
    const char *s = openai_body;
    size_t last = strrchr(s, '}') - s;
    for (size_t n = 0; n <= last; n++) {
        char *d = dup_exact(s, n);
        ck_assert_msg(oa_parse_body(d, n, &u) == -EINVAL, "prefix %zu accepted", n);
        free(d);
    }
    /* nesting: OA_MAX_DEPTH levels pass, one more does not */
    char deep[2 * OA_MAX_DEPTH + 64];
    for (int extra = 0; extra <= 1; extra++) {
        int levels = OA_MAX_DEPTH - 1 + extra; /* arrays inside the top object */
        size_t n = 0;
        n += (size_t)sprintf(deep, "{\"choices\":[1],\"x\":");
        for (int i = 0; i < levels; i++)
            deep[n++] = '[';
        for (int i = 0; i < levels; i++)
            deep[n++] = ']';
        deep[n++] = '}';
        deep[n] = '\0';
        ck_assert_int_eq(oa_parse_body(deep, n, &u), extra ? -EINVAL : 0);
    }
}
END_TEST

static int chunk(const char *s, struct oa_chunk *c)
{
    size_t n = strlen(s);
    char *d = dup_exact(s, n);
    int rc = oa_parse_chunk(d, n, c);
    free(d);
    return rc;
}

START_TEST(chunks)
{
    struct oa_chunk c;
    /* ratelab's mock / vLLM, chat: role-only first delta, tokens, finish, usage, DONE */
    ck_assert_int_eq(chunk("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
                           "\"created\":1796097661,\"model\":\"x\",\"choices\":[{\"index\":0,"
                           "\"delta\":{\"role\":\"assistant\",\"content\":\"\"},\"logprobs\":null,"
                           "\"finish_reason\":null}],\"usage\":null}",
                           &c),
                     0);
    ck_assert_int_eq(c.kind, OA_CHUNK_OTHER);
    ck_assert_int_eq(c.tokens, 0);
    ck_assert_int_eq(c.usage.prompt_tokens, -1);
    ck_assert_int_eq(chunk("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
                           "\"created\":1796097661,\"model\":\"x\",\"choices\":[{\"index\":0,"
                           "\"delta\":{\"content\":\" the\"},\"logprobs\":null,"
                           "\"finish_reason\":null}],\"usage\":null}",
                           &c),
                     0);
    ck_assert_int_eq(c.kind, OA_CHUNK_TOKEN);
    ck_assert_int_eq(c.tokens, 1);
    ck_assert_int_eq(c.usage.prompt_tokens, -1);
    ck_assert_int_eq(c.usage.completion_tokens, -1);
    ck_assert_int_eq(chunk("{\"choices\":[{\"index\":0,\"delta\":{},\"logprobs\":null,"
                           "\"finish_reason\":\"length\"}]}",
                           &c),
                     0);
    ck_assert_int_eq(c.kind, OA_CHUNK_OTHER);
    ck_assert_int_eq(chunk("{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\","
                           "\"created\":1796097661,\"model\":\"x\",\"choices\":[],\"usage\":{"
                           "\"prompt_tokens\":8,\"completion_tokens\":4,\"total_tokens\":12}}",
                           &c),
                     0);
    ck_assert_int_eq(c.kind, OA_CHUNK_USAGE);
    ck_assert_int_eq(c.tokens, 0);
    ck_assert_int_eq(c.usage.prompt_tokens, 8);
    ck_assert_int_eq(c.usage.completion_tokens, 4);
    ck_assert_int_eq(chunk("{\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}", &c), 0);
    ck_assert_int_eq(c.kind, OA_CHUNK_USAGE);
    ck_assert_int_eq(chunk("[DONE]", &c), 0);
    ck_assert_int_eq(c.kind, OA_CHUNK_DONE);
    ck_assert_int_eq(c.tokens, 0);
    ck_assert_int_eq(chunk(" [DONE]\r\n", &c), 0);
    ck_assert_int_eq(c.kind, OA_CHUNK_DONE);
    /* completions */
    ck_assert_int_eq(chunk("{\"id\":\"cmpl-2\",\"object\":\"text_completion\",\"created\":1,"
                           "\"model\":\"x\",\"choices\":[{\"index\":0,\"text\":\" sky\","
                           "\"logprobs\":null,\"finish_reason\":null}]}",
                           &c),
                     0);
    ck_assert_int_eq(c.kind, OA_CHUNK_TOKEN);
    ck_assert_int_eq(c.tokens, 1);
    ck_assert_int_eq(chunk("{\"choices\":[{\"index\":0,\"text\":\"\",\"finish_reason\":"
                           "\"length\"}]}",
                           &c),
                     0);
    ck_assert_int_eq(c.kind, OA_CHUNK_OTHER);
    /* a token that also carries usage (vLLM's continuous_usage_stats) */
    ck_assert_int_eq(chunk("{\"choices\":[{\"index\":0,\"delta\":{\"content\":\"a\"}}],"
                           "\"usage\":{\"prompt_tokens\":8,\"completion_tokens\":1}}",
                           &c),
                     0);
    ck_assert_int_eq(c.kind, OA_CHUNK_TOKEN);
    ck_assert_int_eq(c.usage.prompt_tokens, 8);
    ck_assert_int_eq(c.usage.completion_tokens, 1);
    /* reasoning models' deltas are tokens too; an escaped character is text */
    ck_assert_int_eq(
        chunk("{\"choices\":[{\"delta\":{\"content\":null,\"reasoning_content\":\"Hm\"}}]}", &c),
        0);
    ck_assert_int_eq(c.kind, OA_CHUNK_TOKEN);
    ck_assert_int_eq(chunk("{\"choices\":[{\"delta\":{\"reasoning\":\"\\n\"}}]}", &c), 0);
    ck_assert_int_eq(c.kind, OA_CHUNK_TOKEN);
    /* only choices[0] counts; tool-call deltas and null content are not text */
    ck_assert_int_eq(chunk("{\"choices\":[{\"delta\":{}},{\"delta\":{\"content\":\"b\"}}]}", &c),
                     0);
    ck_assert_int_eq(c.kind, OA_CHUNK_OTHER);
    ck_assert_int_eq(chunk("{\"choices\":[{\"delta\":{\"content\":null,\"tool_calls\":[{"
                           "\"index\":0,\"function\":{\"arguments\":\"{\\\"a\"}}]}}]}",
                           &c),
                     0);
    ck_assert_int_eq(c.kind, OA_CHUNK_OTHER);
    ck_assert_int_eq(chunk("{\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"error\":null}", &c),
                     0);
    ck_assert_int_eq(c.kind, OA_CHUNK_TOKEN);
}
END_TEST

START_TEST(chunk_errors)
{
    struct oa_chunk c = {.kind = OA_CHUNK_DONE, .usage = {5, 6}, .tokens = 9};
    static const char *const proto[] = {
        "{\"error\":{\"message\":\"The server had an error\",\"type\":\"server_error\","
        "\"param\":null,\"code\":null}}",
        "{\"error\":{\"object\":\"error\",\"message\":\"prompt too long\",\"type\":"
        "\"BadRequestError\",\"param\":null,\"code\":400}}",
        "{\"object\":\"error\",\"message\":\"x\",\"type\":\"InternalServerError\",\"code\":500}",
        "{\"error\":\"Input validation error\",\"error_type\":\"validation\"}",
        "{\"choices\":[{\"delta\":{\"content\":\"x\"}}],\"error\":{}}",
    };
    for (size_t i = 0; i < sizeof proto / sizeof proto[0]; i++)
        ck_assert_msg(chunk(proto[i], &c) == -EPROTO, "%s", proto[i]);
    static const char *const bad[] = {
        "",
        "   ",
        "[DONE",
        "[DONE]x",
        "[DONE] [DONE]",
        "done",
        "[]",
        "null",
        "\"x\"",
        "{",
        "{\"choices\":[{\"delta\":{\"content\":\"x\"}}]",
        "{\"a\":1}{\"b\":2}",
        "1",
        "{\"error\":nul}",
        "\xff\xfe{}",
        "{\"id\":\"chatcmpl-7\",\"object\":\"chat.compl",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(chunk(bad[i], &c) == -EINVAL, "accepted: '%s'", bad[i]);
    ck_assert_int_eq(oa_parse_chunk(NULL, 0, &c), -EINVAL);
    /* untouched on errors */
    ck_assert_int_eq(c.kind, OA_CHUNK_DONE);
    ck_assert_int_eq(c.usage.prompt_tokens, 5);
    ck_assert_int_eq(c.tokens, 9);
}
END_TEST

static int error_msg(const char *s, char *msg, size_t msgn)
{
    size_t n = strlen(s);
    char *d = dup_exact(s, n);
    int rc = oa_parse_error(d, n, msg, msgn);
    free(d);
    return rc;
}

START_TEST(error_bodies)
{
    char msg[256];
    ck_assert_int_eq(error_msg("{\"error\":{\"message\":\"Rate limit reached for gpt-4 in "
                               "organization org-x on tokens per min (TPM): Limit 10000, Used "
                               "9800, Requested 500. Please try again in 1.8s.\",\"type\":"
                               "\"tokens\",\"param\":null,\"code\":\"rate_limit_exceeded\"}}",
                               msg, sizeof msg),
                     0);
    ck_assert_str_eq(msg,
                     "Rate limit reached for gpt-4 in organization org-x on tokens per min "
                     "(TPM): Limit 10000, Used 9800, Requested 500. Please try again in 1.8s.");
    /* the mock's 400 */
    ck_assert_int_eq(error_msg("{\"error\":{\"message\":\"We could not parse the JSON body of "
                               "your request.\",\"type\":\"invalid_request_error\",\"param\":null,"
                               "\"code\":null}}",
                               msg, sizeof msg),
                     0);
    ck_assert_str_eq(msg, "We could not parse the JSON body of your request.");
    /* vLLM's older top-level shape, TGI's string */
    ck_assert_int_eq(error_msg("{\"object\":\"error\",\"message\":\"This model's maximum context "
                               "length is 4096 tokens.\",\"type\":\"BadRequestError\",\"param\":"
                               "null,\"code\":400}",
                               msg, sizeof msg),
                     0);
    ck_assert_str_eq(msg, "This model's maximum context length is 4096 tokens.");
    ck_assert_int_eq(error_msg("{\"error\":\"Model is overloaded\",\"error_type\":\"overloaded\"}",
                               msg, sizeof msg),
                     0);
    ck_assert_str_eq(msg, "Model is overloaded");
    /* escapes decoded; control characters become spaces; bad UTF-8 and lone surrogates U+FFFD */
    ck_assert_int_eq(
        error_msg("{\"error\":{\"message\":\"a\\\"b\\\\c\\/d\\ne\\u00e9\\ud83d\\ude00"
                  "\\u001b[31m\\u0000\x7f\\u009b|\\ud800x\\udc00|\xff\xc3(\xe2\x82\"}}",
                  msg, sizeof msg),
        0);
    ck_assert_str_eq(msg, "a\"b\\c/d e\xc3\xa9\xf0\x9f\x98\x80 [31m   |\xef\xbf\xbdx\xef\xbf\xbd|"
                          "\xef\xbf\xbd\xef\xbf\xbd(\xef\xbf\xbd\xef\xbf\xbd");
    /* cut at a character boundary */
    static const char hello[] = "{\"error\":{\"message\":\"h\\u00e9llo\"}}";
    ck_assert_int_eq(error_msg(hello, msg, 5), 0);
    ck_assert_str_eq(msg, "h\xc3\xa9l");
    ck_assert_int_eq(error_msg(hello, msg, 4), 0);
    ck_assert_str_eq(msg, "h\xc3\xa9");
    ck_assert_int_eq(error_msg(hello, msg, 3), 0);
    ck_assert_str_eq(msg, "h");
    ck_assert_int_eq(error_msg(hello, msg, 1), 0);
    ck_assert_str_eq(msg, "");
    /* not that shape: msg untouched */
    static const char *const bad[] = {
        "",
        "{}",
        "{\"error\":{\"type\":\"x\"}}",
        "{\"error\":{\"message\":null}}",
        "{\"error\":null,\"message\":\"x\"}",
        "{\"message\":\"x\"}",
        "{\"object\":\"list\",\"message\":\"x\"}",
        "{\"error\":{\"message\":\"x\"}",
        "[{\"error\":{\"message\":\"x\"}}]",
        "<html><head><title>502 Bad Gateway</title></head></html>",
        "{\"error\":{\"message\":\"x\\q\"}}",
    };
    strcpy(msg, "keep");
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(error_msg(bad[i], msg, sizeof msg) == -EINVAL, "accepted: %s", bad[i]);
    ck_assert_str_eq(msg, "keep");
}
END_TEST

/* ---- Prometheus text ------------------------------------------------------- */

static int prom(const char *s, struct prom_vllm *g)
{
    size_t n = strlen(s);
    char *d = dup_exact(s, n);
    int rc = prom_parse_vllm(d, n, g);
    free(d);
    return rc;
}

/* As ratelab's mock writes it (src/mock/mock_http.c), histograms cut short. */
static const char mock_scrape[] =
    "# HELP vllm:num_requests_running Number of requests in model execution batches.\n"
    "# TYPE vllm:num_requests_running gauge\n"
    "vllm:num_requests_running{model_name=\"default\"} 3\n"
    "# HELP vllm:num_requests_waiting Number of requests waiting to be processed.\n"
    "# TYPE vllm:num_requests_waiting gauge\n"
    "vllm:num_requests_waiting{model_name=\"default\"} 12\n"
    "# HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage (ratelab: batch "
    "slots in use).\n"
    "# TYPE vllm:kv_cache_usage_perc gauge\n"
    "vllm:kv_cache_usage_perc{model_name=\"default\"} 0.33333333333333331\n"
    "# HELP vllm:prompt_tokens_total Number of prefill tokens processed.\n"
    "# TYPE vllm:prompt_tokens_total counter\n"
    "vllm:prompt_tokens_total{model_name=\"default\"} 17\n"
    "# HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.\n"
    "# TYPE vllm:time_to_first_token_seconds histogram\n"
    "vllm:time_to_first_token_seconds_bucket{model_name=\"default\",le=\"0.001\"} 0\n"
    "vllm:time_to_first_token_seconds_bucket{model_name=\"default\",le=\"2560\"} 3\n"
    "vllm:time_to_first_token_seconds_bucket{model_name=\"default\",le=\"+Inf\"} 3\n"
    "vllm:time_to_first_token_seconds_sum{model_name=\"default\"} 0.451700\n"
    "vllm:time_to_first_token_seconds_count{model_name=\"default\"} 3\n"
    "# HELP ratelab_mock_rate_limited_total 429 answers sent, by the limit that was hit.\n"
    "# TYPE ratelab_mock_rate_limited_total counter\n"
    "ratelab_mock_rate_limited_total{reason=\"rpm\"} 0\n"
    "ratelab_mock_overloaded_total 0\n"
    "ratelab_mock_responses_total{code=\"200\"} 3\n"
    "ratelab_mock_in_flight 15\n";

/* vLLM with two models' label sets, older and newer names, escapes, odd values. */
static const char vllm_scrape[] =
    "# HELP vllm:num_requests_running Number of requests currently running on GPU.\r\n"
    "# TYPE vllm:num_requests_running gauge\r\n"
    "vllm:num_requests_running{engine=\"0\",model_name=\"meta-llama/Llama-3.1-8B\"} 4.0\r\n"
    "vllm:num_requests_running{engine=\"1\",model_name=\"a \\\"quoted\\\" {model}, x=\\\\y\\n\"} "
    "3.0 1715000000000\n"
    "vllm:num_requests_running{model_name=\"nan\"} NaN\n"
    "vllm:num_requests_running{model_name=\"neg\"} -2\n"
    "  vllm:num_requests_waiting { model_name = \"m1\" , } 2.5e+1\n"
    "vllm:num_requests_waiting{model_name=\"m2\"}\t1E0\t-5\n"
    "vllm:num_requests_waiting{model_name=\"m3\"} +Inf\n"
    "vllm:gpu_cache_usage_perc{model_name=\"old\"} 0.875\n"
    "vllm:kv_cache_usage_perc{model_name=\"new\"} 2.5e-1\n"
    "vllm:kv_cache_usage_perc{model_name=\"clamped\"} -Inf\n"
    "vllm:num_requests_swapped{model_name=\"x\"} 9\n"
    "vllm:num_requests_running_total{model_name=\"x\"} 100\n"
    "# a comment line\n"
    "#TYPE without a space\n"
    "\n"
    "vllm:num_requests_running{model_name=\"bad} 1\n"
    "vllm:num_requests_running{model_name=\"x\"} 1 2 3\n"
    "vllm:num_requests_running{model_name=\"x\"} one\n"
    "vllm:num_requests_running{model_name=\"x\"}\n"
    "vllm:num_requests_running 1x\n"
    "vllm:num_requests_running5\n"
    "1vllm:num_requests_running 5\n"
    "vllm:num_requests_waiting{0=\"x\"} 5\n"
    "vllm:num_requests_waiting{a=\"x\"b=\"y\"} 5\n"
    "vllm:num_requests_running{} 1 # {trace_id=\"abc\"} 1.0 1715000000.000";

START_TEST(prom_vllm)
{
    struct prom_vllm g;
    ck_assert_int_eq(prom(mock_scrape, &g), 0);
    ck_assert(g.running == 3);
    ck_assert(g.waiting == 12);
    ck_assert(fabs(g.kv_cache_usage - 1.0 / 3) <= 2e-16);
    ck_assert_int_eq(prom(vllm_scrape, &g), 0);
    ck_assert_msg(g.running == 8, "%g", g.running);  /* 4 + 3 + 1 (the exemplar line) */
    ck_assert_msg(g.waiting == 26, "%g", g.waiting); /* 25 + 1; +Inf does not count */
    ck_assert(g.kv_cache_usage == 0.875);            /* the max over both names */
    /* absent gauges, the old name alone, clamping */
    ck_assert_int_eq(prom("vllm:gpu_cache_usage_perc{model_name=\"a\"} 0.5\n"
                          "vllm:gpu_cache_usage_perc{model_name=\"b\"} 1.0000001\n",
                          &g),
                     0);
    ck_assert(g.running == -1 && g.waiting == -1);
    ck_assert(g.kv_cache_usage == 1);
    ck_assert_int_eq(prom("process_cpu_seconds_total 12.5\n", &g), 0);
    ck_assert(g.running == -1 && g.waiting == -1 && g.kv_cache_usage == -1);
    ck_assert_int_eq(prom("vllm:num_requests_running NaN", &g), 0);
    ck_assert(g.running == -1);
    ck_assert_int_eq(prom("vllm:num_requests_running 0\nvllm:kv_cache_usage_perc 0\n", &g), 0);
    ck_assert(g.running == 0 && g.kv_cache_usage == 0);
}
END_TEST

START_TEST(prom_invalid)
{
    struct prom_vllm g = {7, 8, 9};
    static const char *const bad[] = {
        "",
        "\n\n",
        "# HELP x y\n# TYPE x gauge\n",
        "<!DOCTYPE html>\n<html><head><title>502 Bad Gateway</title></head>\n<body>\n"
        "<center><h1>502 Bad Gateway</h1></center>\nnginx 1\n</body>\n</html>\n",
        "  \n<html>\nerror 503\n</html>",
        "{\"error\":{\"message\":\"not found\"}}",
        "garbage",
        "x{ 1",
        "x{a=\"1\" 1",
        "x{a=1} 1",
        "x 1 2 3",
        "x 0x10",
        "x 1_000",
        "x 1e",
        "x .",
        "x -nan",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        ck_assert_msg(prom(bad[i], &g) == -EINVAL, "accepted: %s", bad[i]);
    ck_assert(g.running == 7 && g.waiting == 8 && g.kv_cache_usage == 9);
    ck_assert_int_eq(prom_parse_vllm(NULL, 0, &g), -EINVAL);
}
END_TEST

START_TEST(prom_values)
{
    static const struct {
        const char *line;
        double v;
    } ok[] = {
        {"a 0", 0},
        {"a 1", 1},
        {"a -1.5", -1.5},
        {"a +2", 2},
        {"a 1e3", 1000},
        {"a 1E-3", 0.001},
        {"a 2.5e+1", 25},
        {"a .5", 0.5},
        {"a 5.", 5},
        {"a 0.000000000000000000000000001", 1e-27},
        {"a 12345678901234567890123", 12345678901234567890123.0},
        {"a 1e308", 1e308},
        {"a 1e-320", 1e-320},
        {"a 0.451700", 0.4517},
        {"a 3.0 1715000000000", 3},
        {"a 3 -17", 3},
        {"a{} 4", 4},
        {"a{b=\"}\"} 5", 5},
        {"a{b=\"\\\\\"} 6", 6},
        {"a{b=\"\\\"\",c=\"\\n\"} 7", 7},
        {"a{b=\"x y\",} 8", 8},
        {"a{b=\"\"}9", 9},
        {"a 1 # {x=\"y\"} 1", 1},
        {":a_b:c 10", 10},
    };
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        const char *name = NULL;
        size_t name_len = 0;
        double v = -99;
        size_t n = strlen(ok[i].line);
        char *d = dup_exact(ok[i].line, n);
        ck_assert_msg(prom_parse_line(d, n, &name, &name_len, &v) == 0, "%s", ok[i].line);
        ck_assert_msg(v == ok[i].v, "%s -> %.17g", ok[i].line, v);
        ck_assert_uint_eq(name_len, strcspn(ok[i].line, " {"));
        free(d);
    }
    const char *name;
    size_t name_len;
    double v;
    ck_assert_int_eq(prom_parse_line("a NaN", 5, &name, &name_len, &v), 0);
    ck_assert(isnan(v));
    ck_assert_int_eq(prom_parse_line("a nan", 5, &name, &name_len, &v), 0);
    ck_assert(isnan(v));
    ck_assert_int_eq(prom_parse_line("a +Inf", 6, &name, &name_len, &v), 0);
    ck_assert(isinf(v) && v > 0);
    ck_assert_int_eq(prom_parse_line("a -Inf", 6, &name, &name_len, &v), 0);
    ck_assert(isinf(v) && v < 0);
    ck_assert_int_eq(prom_parse_line("a Inf", 5, &name, &name_len, &v), 0);
    ck_assert(isinf(v) && v > 0);
    ck_assert_int_eq(prom_parse_line("a 1e999", 7, &name, &name_len, &v), 0);
    ck_assert(isinf(v));
    ck_assert_int_eq(prom_parse_line("a 1e-999", 8, &name, &name_len, &v), 0);
    ck_assert(v == 0);
    ck_assert_int_eq(prom_parse_line("# TYPE a gauge", 14, &name, &name_len, &v), -EINVAL);
    ck_assert_int_eq(prom_parse_line("", 0, &name, &name_len, &v), -EINVAL);
    ck_assert_int_eq(prom_parse_line("a", 1, &name, &name_len, &v), -EINVAL);
    ck_assert_int_eq(prom_parse_line("a ", 2, &name, &name_len, &v), -EINVAL);
    /* a line is len bytes: what follows is not read */
    ck_assert_int_eq(prom_parse_line("a 12", 3, &name, &name_len, &v), 0);
    ck_assert(v == 1);
}
END_TEST

/* ---- property: any bytes, no crash ------------------------------------------- */

/* Random bytes: half the time any byte, else bytes the parsers care about. */
static size_t random_input(uint64_t *x, char *buf, size_t max)
{
    static const char alphabet[] = "{}[]\":,\\ \n\r\tdata:event:choices\"usage\"error\"message"
                                   "prompt_tokens0123456789.eE+-truefalsenullNaNInf#{}=u00e9"
                                   "vllm:num_requests_running\xEF\xBB\xBF\xff";
    size_t n = xorshift(x) % max;
    bool any = xorshift(x) & 1;
    for (size_t i = 0; i < n; i++) {
        uint64_t r = xorshift(x);
        buf[i] = any ? (char)(r & 0xFF) : alphabet[r % (sizeof alphabet - 1)];
    }
    return n;
}

/* A valid input with a few bytes changed, dropped or cut: reaches deeper than noise. */
static size_t mutate(uint64_t *x, const char *src, size_t n, char *buf, size_t max)
{
    if (n > max)
        n = max;
    memcpy(buf, src, n);
    int edits = 1 + (int)(xorshift(x) % 4);
    for (int k = 0; k < edits && n > 0; k++) {
        size_t at = xorshift(x) % n;
        switch (xorshift(x) % 3) {
        case 0:
            buf[at] = (char)xorshift(x);
            break;
        case 1:
            memmove(buf + at, buf + at + 1, n - at - 1);
            n--;
            break;
        default:
            n = at;
        }
    }
    return n;
}

START_TEST(random_bytes_never_crash)
{
    static const char *const seeds[] = {
        stream,      openai_body, vllm_completions_body,
        mock_scrape, vllm_scrape, "{\"error\":{\"message\":\"a\\u00e9\\ud83d\\ude00\"}}"};
    uint64_t x = 0x2545F4914F6CDD1DULL;
    char buf[2048];
    int events = 0;
    struct rec *whole = malloc(sizeof *whole), *pieces = malloc(sizeof *pieces);
    for (int k = 0; k < 6000; k++) {
        size_t n;
        if (k % 2)
            n = random_input(&x, buf, sizeof buf);
        else {
            const char *s = seeds[xorshift(&x) % (sizeof seeds / sizeof seeds[0])];
            n = mutate(&x, s, strlen(s), buf, sizeof buf);
        }
        char *d = dup_exact(buf, n);

        /* SSE: the same events whether the bytes come in one feed or in random pieces */
        memset(whole, 0, sizeof *whole);
        memset(pieces, 0, sizeof *pieces);
        struct sse p1, p2;
        sse_init(&p1, rec_event, whole);
        sse_init(&p2, rec_event, pieces);
        ck_assert_int_eq(sse_feed(&p1, d, n), 0);
        size_t at = 0;
        while (at < n) {
            size_t piece = 1 + xorshift(&x) % (n - at);
            char *pc = dup_exact(d + at, piece);
            ck_assert_int_eq(sse_feed(&p2, pc, piece), 0);
            free(pc);
            at += piece;
        }
        ck_assert_int_eq(whole->n, pieces->n);
        ck_assert(whole->len == pieces->len && memcmp(whole->log, pieces->log, whole->len) == 0);
        events += whole->n;
        sse_fini(&p1);
        sse_fini(&p2);

        struct oa_usage u;
        int rc = oa_parse_body(d, n, &u);
        ck_assert(rc == 0 || rc == -EINVAL);
        if (rc == 0)
            ck_assert(u.prompt_tokens >= -1 && u.completion_tokens >= -1);
        struct oa_chunk c;
        rc = oa_parse_chunk(d, n, &c);
        ck_assert(rc == 0 || rc == -EINVAL || rc == -EPROTO);
        if (rc == 0) {
            ck_assert(c.kind >= OA_CHUNK_TOKEN && c.kind <= OA_CHUNK_OTHER);
            ck_assert(c.tokens == (c.kind == OA_CHUNK_TOKEN));
        }
        char msg[16];
        size_t msgn = 1 + xorshift(&x) % sizeof msg;
        char *m = malloc(msgn);
        rc = oa_parse_error(d, n, m, msgn);
        ck_assert(rc == 0 || rc == -EINVAL);
        if (rc == 0)
            ck_assert_ptr_nonnull(memchr(m, '\0', msgn));
        free(m);
        struct prom_vllm g;
        rc = prom_parse_vllm(d, n, &g);
        ck_assert(rc == 0 || rc == -EINVAL);
        if (rc == 0) {
            ck_assert(g.running == -1 || g.running >= 0);
            ck_assert(g.waiting == -1 || g.waiting >= 0);
            ck_assert(g.kv_cache_usage == -1 || (g.kv_cache_usage >= 0 && g.kv_cache_usage <= 1));
        }
        free(d);
    }
    free(whole);
    free(pieces);
    ck_assert_int_ge(events, 100); /* the SSE half did see events */
}
END_TEST

static Suite *live_parse_suite(void)
{
    Suite *s = suite_create("live_parse");
    TCase *t = tcase_create("sse");
    tcase_add_test(t, sse_one_feed);
    tcase_add_test(t, sse_every_split);
    tcase_add_test(t, sse_crlf_split);
    tcase_add_test(t, sse_fields);
    tcase_add_test(t, sse_bom);
    tcase_add_test(t, sse_reset_forgets);
    tcase_add_test(t, sse_oversize);
    suite_add_tcase(s, t);
    t = tcase_create("oaresp");
    tcase_add_test(t, body_usage);
    tcase_add_test(t, body_malformed);
    tcase_add_test(t, chunks);
    tcase_add_test(t, chunk_errors);
    tcase_add_test(t, error_bodies);
    suite_add_tcase(s, t);
    t = tcase_create("promtext");
    tcase_add_test(t, prom_vllm);
    tcase_add_test(t, prom_invalid);
    tcase_add_test(t, prom_values);
    suite_add_tcase(s, t);
    t = tcase_create("property");
    tcase_set_timeout(t, 60);
    tcase_add_test(t, random_bytes_never_crash);
    suite_add_tcase(s, t);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(live_parse_suite());
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
