/*
 * mock_proto: the OpenAI wire format as the mock server speaks it — parsing and
 * validating request bodies, estimating prompt tokens, and rendering answers,
 * stream chunks and error bodies into evbuffers.
 *
 * Nothing here knows about time, limits or connections: mock.c decides what to
 * answer and when; this file only decides how it looks on the wire.
 */
#ifndef RATELAB_MOCK_PROTO_H
#define RATELAB_MOCK_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct evbuffer;

enum mock_api { MOCK_API_CHAT, MOCK_API_COMPLETIONS };

#define MOCK_MODEL_MAX 256 /* longest model name accepted, bytes */
#define MOCK_DEFAULT_MAX_TOKENS                                                                    \
    16 /* max_tokens when the request gives none (as OpenAI's legacy API) */

/* One validated completion request. */
struct mock_request {
    enum mock_api api;
    char model[MOCK_MODEL_MAX + 1]; /* as sent, NUL-terminated (no NULs inside) */
    bool stream;                    /* "stream": true */
    bool include_usage;             /* "stream_options": {"include_usage": true} */
    int64_t prompt_tokens;          /* estimated from the prompt, >= 1 */
    int64_t max_tokens;             /* max_tokens / max_completion_tokens, 0 = not given */
};

/* Why a request was refused, in OpenAI's error shape. */
struct mock_error {
    int status;        /* HTTP status */
    const char *type;  /* error.type, e.g. "invalid_request_error" */
    const char *code;  /* error.code, NULL for JSON null */
    const char *param; /* error.param, NULL for JSON null */
    char message[320]; /* error.message */
};

/*
 * Parse and validate a request body (len bytes, need not be NUL-terminated).
 * Returns 0 and fills *r, or -EINVAL and fills *e with a 400 describing the first
 * problem found (malformed JSON, a missing or mistyped field, an empty array).
 */
int mock_parse_request(enum mock_api api, const char *body, size_t len, struct mock_request *r,
                       struct mock_error *e);

/*
 * The prompt-token estimator: one token per 4 bytes of text, rounded up, plus
 * 4 tokens per chat message (role and framing) and 3 to prime the reply; a
 * completions prompt is its text only, and a pre-tokenised prompt (an array of
 * integers) counts its elements. At least 1. Documented in doc/mock.md.
 */
int64_t mock_estimate_text_tokens(size_t bytes);

/* Fill *e; message is printf-formatted. Returns -EINVAL for tail calls. */
int mock_error_set(struct mock_error *e, int status, const char *type, const char *code,
                   const char *param, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* Append {"error":{...}} for *e. */
void mock_render_error(struct evbuffer *out, const struct mock_error *e);

/* The identity of one answer: shared by its body or all its chunks. */
struct mock_answer {
    const struct mock_request *req;
    uint64_t id;               /* makes "chatcmpl-<id>" / "cmpl-<id>" */
    int64_t created_s;         /* Unix time the request arrived */
    int64_t completion_tokens; /* tokens generated */
    bool length_capped;        /* stopped by max_tokens: finish_reason "length" */
};

/* A whole non-streaming answer: choices[0] with completion_tokens of text, and usage. */
void mock_render_body(struct evbuffer *out, const struct mock_answer *a);

/*
 * The same answer in three parts, for sending a large one a slice at a time:
 * everything before the content, the content of tokens [from, to) (the texts
 * of mock_token_text, no escaping needed), and everything after it.
 * mock_render_body is the three in a row.
 */
void mock_render_body_head(struct evbuffer *out, const struct mock_answer *a);
void mock_render_body_content(struct evbuffer *out, int64_t from, int64_t to);
void mock_render_body_tail(struct evbuffer *out, const struct mock_answer *a);

/* Bytes of the content of tokens [0, n), without rendering it (n >= 0). */
int64_t mock_content_bytes(int64_t n);

/* Stream pieces, each a complete "data: ...\n\n" event. */
void mock_render_chunk_first(struct evbuffer *out, const struct mock_answer *a); /* chat: role */
void mock_render_chunk_token(struct evbuffer *out, const struct mock_answer *a, int64_t index);
void mock_render_chunk_finish(struct evbuffer *out, const struct mock_answer *a);
void mock_render_chunk_usage(struct evbuffer *out, const struct mock_answer *a);
void mock_render_done(struct evbuffer *out);

/* The text of generated token i (0-based): a short word with a leading space, ~4 bytes. */
const char *mock_token_text(int64_t index);

/* Append s to out as a JSON string body (without the quotes). */
void mock_json_escape(struct evbuffer *out, const char *s);

#endif
