/*
 * sse: an incremental Server-Sent Events parser (the WHATWG "event stream"
 * rules), fed whatever byte runs libcurl's write callback hands over.
 *
 * Lines end in "\n", "\r\n" or "\r", and any of them may be split across two
 * feeds (a "\r" at the end of one feed and a "\n" at the start of the next are
 * one line end). A UTF-8 BOM at the very start of the stream is dropped.
 * "data:" lines are joined with "\n"; "event:" sets the event's type (the last
 * one wins); a single space after the colon is dropped; a line without a colon
 * is a field with an empty value; lines starting with ':' are comments; every
 * other field (id, retry, anything) is ignored. An empty line dispatches the
 * event if it had at least one data line ("data:" alone dispatches data "");
 * otherwise it only clears the type. Bytes are passed through as they are (no
 * UTF-8 check; a NUL byte in data is kept and counted in len).
 *
 * Bounds: the data buffer grows (doubling, from 4 KiB) up to SSE_MAX_EVENT + 1
 * bytes and is kept for reuse, so once warmed up a feed allocates nothing. The
 * type is kept in a fixed buffer; longer types are truncated to
 * SSE_MAX_TYPE - 1 bytes. Lines are never buffered whole, so a long id or
 * comment line costs nothing. Allocation aborts on OOM (xrealloc).
 */
#ifndef RATELAB_SSE_H
#define RATELAB_SSE_H

#include <stdbool.h>
#include <stddef.h>

#define SSE_MAX_EVENT (1 << 20) /* bytes of one event's data (joined lines, without the NUL) */
#define SSE_MAX_TYPE  64        /* bytes of the type buffer, NUL included */

/*
 * One dispatched event. event is its type, "" when no "event:" line set one;
 * data is the joined data lines, NUL-terminated, len bytes without the NUL.
 * Both point into the parser and are valid only during the call. The callback
 * must not call sse_feed, sse_reset or sse_fini on the same parser.
 */
typedef void (*sse_event_fn)(void *ctx, const char *event, const char *data, size_t len);

enum sse_state {
    SSE_BOM,     /* at the start of the stream: matching a UTF-8 BOM */
    SSE_NAME,    /* reading a field name (the line so far has no colon) */
    SSE_SPACE,   /* just after the colon: one space to drop */
    SSE_VALUE,   /* reading a field's value */
    SSE_COMMENT, /* a comment line: ignored up to its end */
};

/*
 * Embeddable. Invariants: data_len <= SSE_MAX_EVENT and, when data is not
 * NULL, data_len < data_cap <= SSE_MAX_EVENT + 1; type_len < SSE_MAX_TYPE and
 * type[type_len] == '\0'; discarding implies have_data is false and data_len
 * is 0; name_len <= sizeof name.
 */
struct sse {
    sse_event_fn fn;         /* called for each dispatched event */
    void *ctx;               /* passed to fn */
    enum sse_state state;    /* where in a line the parser is */
    bool after_cr;           /* the last byte was a "\r": a "\n" next is part of that line end */
    int bom_matched;         /* BOM bytes matched so far (only in SSE_BOM) */
    int field;               /* the current line's field: 0 other, 1 data, 2 event */
    char name[8];            /* the current field name's first bytes (enough for "event") */
    size_t name_len;         /* bytes of it kept; sizeof name means "longer: some other field" */
    char *data;              /* the event's data so far; NULL until the first data byte */
    size_t data_len;         /* bytes in data */
    size_t data_cap;         /* bytes allocated for data */
    bool have_data;          /* the event has had a data line (so a blank line dispatches) */
    bool discarding;         /* the event overflowed: drop it up to the next blank line */
    bool overflowed;         /* an event overflowed during the current feed (-E2BIG) */
    char type[SSE_MAX_TYPE]; /* the event's type, NUL-terminated */
    size_t type_len;         /* bytes in type */
};

/* Set up an empty parser that calls fn(ctx, ...) for each event. Allocates nothing. */
void sse_init(struct sse *p, sse_event_fn fn, void *ctx);

/*
 * Feed n bytes of the stream (buf may be NULL when n is 0). Events complete in
 * them are dispatched, in order, before it returns. Returns 0, or -E2BIG when
 * an event's data grew past SSE_MAX_EVENT: that event is dropped (never
 * dispatched, not even in part) up to the next blank line, and the rest of
 * buf, and later feeds, are parsed as usual. -E2BIG is returned once per
 * dropped event, by the feed in which it overflowed.
 */
int sse_feed(struct sse *p, const char *buf, size_t n);

/* Forget any partial line and event, as at the start of a new stream (a BOM is dropped again).
 * Keeps the buffer for reuse. */
void sse_reset(struct sse *p);

/* Free the buffer. The parser may be sse_init-ed again. */
void sse_fini(struct sse *p);

#endif
