/*
 * oaresp: what ratelab needs from OpenAI-compatible answers (OpenAI, vLLM,
 * gateways, ratelab's mock): usage counts, streamed tokens, error messages.
 *
 * Bodies are untrusted bytes (n of them, NUL not needed, NUL bytes allowed).
 * They are checked as strict JSON (RFC 8259: one value, white space around it,
 * nothing else; strings may not hold raw control bytes; UTF-8 is not checked)
 * by a scanner that allocates nothing and nests at most OA_MAX_DEPTH deep
 * (deeper is malformed), so a chunk per token costs no malloc. Member names are
 * compared as written (an escaped name such as "us\u0061ge" is not "usage");
 * with duplicate members the last one wins.
 *
 * Token counts are read only when written as non-negative JSON integers that
 * fit int64_t; anything else (12.0, -1, "12", null) reads as absent (-1).
 */
#ifndef RATELAB_OARESP_H
#define RATELAB_OARESP_H

#include <stddef.h>
#include <stdint.h>

#define OA_MAX_DEPTH 64 /* nesting of arrays and objects */

/* An answer's "usage" object, tokens; -1 = not given. */
struct oa_usage {
    int64_t prompt_tokens;     /* usage.prompt_tokens */
    int64_t completion_tokens; /* usage.completion_tokens */
};

/*
 * A whole non-streamed body of /v1/chat/completions or /v1/completions.
 * Returns 0 with *u filled (both fields -1 when "usage" is absent or null), or
 * -EINVAL when the body is not a JSON object with a non-empty "choices" array
 * (a malformed answer; *u untouched).
 */
int oa_parse_body(const char *body, size_t n, struct oa_usage *u);

/* What one SSE data payload of a streamed answer is. */
enum oa_chunk_kind {
    OA_CHUNK_TOKEN, /* choices[0] carries generated text */
    OA_CHUNK_USAGE, /* the final usage chunk (include_usage): usage, no choices */
    OA_CHUNK_DONE,  /* "[DONE]" */
    OA_CHUNK_OTHER, /* valid but neither: role-only first delta, finish_reason chunk, ... */
};

struct oa_chunk {
    enum oa_chunk_kind kind; /* see above */
    struct oa_usage usage;   /* the chunk's "usage" object; -1 fields when absent or null */
    int tokens;              /* generated tokens in the chunk: 1 for OA_CHUNK_TOKEN, else 0 */
};

/*
 * One event's data (n bytes; white space around it is ignored).
 *   "[DONE]"                                   -> OA_CHUNK_DONE
 *   choices[0] with non-empty text             -> OA_CHUNK_TOKEN, tokens = 1 (a chunk is one
 *     (chat: delta.content, or a reasoning        token on vLLM and OpenAI); usage is filled
 *     model's delta.reasoning_content or          too when the chunk also carries it
 *     delta.reasoning; completions: text)
 *   a "usage" object and empty/absent choices  -> OA_CHUNK_USAGE
 *   any other JSON object                      -> OA_CHUNK_OTHER
 * Returns 0 with *out filled; -EPROTO for an error object (a non-null "error"
 * member, or vLLM's top-level "object": "error"; oa_parse_error reads its
 * message); -EINVAL when data is not a JSON object (a malformed stream). *out is
 * written only on 0.
 */
int oa_parse_chunk(const char *data, size_t n, struct oa_chunk *out);

/*
 * An error body {"error": {"message": "...", "type": ..., "code": ...}} (also
 * accepted: {"error": "..."} as text-generation-inference sends it, and vLLM's
 * older top-level {"object": "error", "message": "...", ...}). Copies the
 * message into msg (msgn > 0 bytes): JSON escapes decoded, control characters
 * turned into spaces (it is printed on a terminal), invalid UTF-8 and lone
 * surrogates turned into U+FFFD, cut at a character boundary to fit,
 * NUL-terminated. Returns 0, or -EINVAL when the body is not that shape (msg
 * untouched).
 */
int oa_parse_error(const char *body, size_t n, char *msg, size_t msgn);

#endif
