/*
 * body: the JSON request bodies `ratelab live` sends — chat completions or legacy
 * completions, with a class's prompts from a JSONL file or synthetic prompts of a
 * given token count.
 *
 * Prompts files are parsed and validated once, at the start of a run, and every
 * prompt is stored pre-rendered, so building a body on the hot path only copies
 * bytes into a reused buffer: no JSON library, no allocation once it has grown.
 *
 * Token counts follow the mock server's estimator (src/mock/mock_proto.h,
 * mock_estimate_text_tokens and doc/mock.md): ceil(bytes / 4) of each text, plus
 * 4 per chat message and 3 to prime the reply; a completions prompt is its text
 * only; at least 1. The client limiter charges these, and the mock counts the
 * bodies built here to exactly them.
 */
#ifndef RATELAB_BODY_H
#define RATELAB_BODY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum body_api { BODY_CHAT, BODY_COMPLETIONS };

/*
 * The API of a [live] api_path: a path ending in "/chat/completions" is BODY_CHAT;
 * one ending in "/completions" otherwise is BODY_COMPLETIONS; a query string
 * ("?api-version=...") after the path is ignored. Returns 0 and writes *out, or
 * -EINVAL (anything else, e.g. "/v1/embeddings" or a trailing '/'; *out untouched).
 */
int body_api_of(const char *api_path, enum body_api *out);

/*
 * The prompts of one class, from a JSONL file: one JSON array of chat messages per
 * line, each message an object with a string "role" (not empty) and a string
 * "content" (other members are ignored and not sent). Blank lines and lines whose
 * first non-blank character is '#' are skipped. Immutable once loaded.
 */
struct prompts;

/*
 * Load and validate the prompts file at path. Returns 0 with *out (free with
 * prompts_free), or, leaving *out alone, with err filled (NUL-terminated, at most
 * errn bytes) as "PATH:LINE: what is wrong (what was expected)":
 *   -errno   the file cannot be opened or read ("PATH: cannot read: reason ...");
 *   -EINVAL  a line that is not JSON, not an array, an empty array, a message that is
 *            not an object, lacks "role" or "content" or has them of another type, text
 *            that is not UTF-8 or holds a NUL (\u0000); or no prompt at all
 *            ("PATH: no prompts ...").
 */
int prompts_load(const char *path, struct prompts **out, char *err, size_t errn);

void prompts_free(struct prompts *p); /* NULL does nothing */

/* Number of prompts, >= 1. */
size_t prompts_count(const struct prompts *p);

/*
 * The prompt-token estimate of prompt i (< prompts_count) as the mock counts the body
 * body_build makes of it: chat, ceil(content bytes / 4) summed over messages + 4 per
 * message + 3; completions, ceil(bytes of the contents joined with "\n" / 4), at
 * least 1. What the client limiter charges for the prompt.
 */
int64_t prompts_tokens(const struct prompts *p, size_t i, enum body_api api);

/*
 * A growable byte buffer, reused across requests: it only grows, so once it has
 * held the largest body no call allocates. Start it as {0}. After body_build,
 * data[0..len) is the body and data[len] is '\0'.
 */
struct body_buf {
    char *data; /* cap bytes, NULL while cap is 0 */
    size_t len; /* bytes of content, < cap once anything was written */
    size_t cap; /* bytes allocated */
};

/* Free the buffer and leave it {0}, ready for reuse. */
void body_buf_fini(struct body_buf *b);

/* What every body of a run shares. */
struct body_spec {
    enum body_api api;
    const char *model; /* "model", JSON-escaped when written */
    bool stream;       /* "stream": true and "stream_options": {"include_usage": true} */
};

/*
 * Write into b, replacing its content, the JSON body of one request:
 *  - p not NULL: prompt i of p (i < prompts_count(p)), as "messages" (chat) or as
 *    "prompt", its messages' contents joined with "\n" (completions); prompt_tokens
 *    is ignored.
 *  - p NULL: a synthetic prompt the mock counts as exactly prompt_tokens tokens (chat:
 *    one "user" message, exact for prompt_tokens >= 7, the least a chat prompt can
 *    count; completions: exact for prompt_tokens >= 1), made of 4-byte words ("the ",
 *    "and ", ...) that real tokenizers also count about one token each. i salts it:
 *    the same i gives the same text, and texts of different i differ within their
 *    first 11 words, so a server's prefix cache cannot serve one request from another.
 * "max_tokens": max_tokens, omitted when max_tokens <= 0. Strings are JSON-escaped
 * (quotes, backslashes, control characters; UTF-8 passed through). Allocates only to
 * grow b, aborting on OOM. Returns 0.
 */
int body_build(struct body_buf *b, const struct body_spec *s, const struct prompts *p, size_t i,
               int64_t prompt_tokens, int64_t max_tokens);

#endif
