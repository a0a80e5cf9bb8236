#include "config.h"

#include "sse.h"

#include <assert.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

enum { FIELD_OTHER, FIELD_DATA, FIELD_EVENT };

#define SSE_FIRST_CAP 4096

static const char bom[3] = {'\xEF', '\xBB', '\xBF'};

#ifndef NDEBUG
/* The invariant above struct sse, for assert() only. */
static bool sse_ok(const struct sse *p)
{
    if (p->data_len > SSE_MAX_EVENT || p->type_len >= SSE_MAX_TYPE || p->type[p->type_len])
        return false;
    if (p->data && (p->data_len >= p->data_cap || p->data_cap > (size_t)SSE_MAX_EVENT + 1))
        return false;
    if (!p->data && (p->data_len || p->data_cap))
        return false;
    if (p->discarding && (p->have_data || p->data_len))
        return false;
    return p->name_len <= sizeof p->name && p->bom_matched >= 0 && p->bom_matched < 3;
}
#endif

void sse_init(struct sse *p, sse_event_fn fn, void *ctx)
{
    assert(p && fn);
    memset(p, 0, sizeof *p);
    p->fn = fn;
    p->ctx = ctx;
    p->state = SSE_BOM;
}

void sse_reset(struct sse *p)
{
    assert(p);
    p->state = SSE_BOM;
    p->after_cr = false;
    p->bom_matched = 0;
    p->field = FIELD_OTHER;
    p->name_len = 0;
    p->data_len = 0;
    p->have_data = false;
    p->discarding = false;
    p->type_len = 0;
    p->type[0] = '\0';
}

void sse_fini(struct sse *p)
{
    assert(p);
    free(p->data);
    memset(p, 0, sizeof *p);
}

/* The event grew past the bound: drop what it has and ignore it up to the blank line. */
static void overflow(struct sse *p)
{
    p->discarding = true;
    p->overflowed = true;
    p->have_data = false;
    p->data_len = 0;
}

static void data_append(struct sse *p, const char *s, size_t k)
{
    if (p->discarding || k == 0)
        return;
    if (k > SSE_MAX_EVENT - p->data_len) {
        overflow(p);
        return;
    }
    size_t need = p->data_len + k + 1; /* the NUL at dispatch */
    if (need > p->data_cap) {
        size_t cap = p->data_cap ? p->data_cap : SSE_FIRST_CAP;
        while (cap < need)
            cap *= 2;
        if (cap > (size_t)SSE_MAX_EVENT + 1)
            cap = (size_t)SSE_MAX_EVENT + 1;
        p->data = xrealloc(p->data, cap);
        p->data_cap = cap;
    }
    memcpy(p->data + p->data_len, s, k);
    p->data_len += k;
}

static void type_append(struct sse *p, const char *s, size_t k)
{
    size_t room = SSE_MAX_TYPE - 1 - p->type_len;
    if (k > room)
        k = room; /* truncated, as the header says */
    memcpy(p->type + p->type_len, s, k);
    p->type_len += k;
    p->type[p->type_len] = '\0';
}

/* The field name is complete (a colon, or the end of a line without one): start its value. */
static void field_start(struct sse *p)
{
    if (p->name_len == 4 && memcmp(p->name, "data", 4) == 0) {
        p->field = FIELD_DATA;
        if (p->discarding)
            return;
        if (p->have_data)
            data_append(p, "\n", 1); /* data lines are joined with "\n" */
        if (!p->discarding)
            p->have_data = true;
    } else if (p->name_len == 5 && memcmp(p->name, "event", 5) == 0) {
        p->field = FIELD_EVENT;
        p->type_len = 0;
        p->type[0] = '\0';
    } else {
        p->field = FIELD_OTHER;
    }
}

/* A blank line: dispatch the event if it had data; either way start a new one. */
static void dispatch(struct sse *p)
{
    if (p->discarding) {
        p->discarding = false;
    } else if (p->have_data) {
        const char *d = "";
        if (p->data) {
            p->data[p->data_len] = '\0';
            d = p->data;
        }
        p->fn(p->ctx, p->type, d, p->data_len);
    }
    p->data_len = 0;
    p->have_data = false;
    p->type_len = 0;
    p->type[0] = '\0';
}

static void line_end(struct sse *p)
{
    if (p->state == SSE_NAME) {
        if (p->name_len == 0)
            dispatch(p);
        else
            field_start(p); /* "data" alone: a data line with an empty value */
    }
    p->state = SSE_NAME;
    p->name_len = 0;
    p->field = FIELD_OTHER;
}

static bool is_eol(char c)
{
    return c == '\n' || c == '\r';
}

static void feed(struct sse *p, const char *s, const char *end)
{
    while (s < end) {
        if (p->after_cr) {
            p->after_cr = false;
            if (*s == '\n') { /* the second half of a "\r\n" */
                s++;
                continue;
            }
        }
        char c = *s;
        switch (p->state) {
        case SSE_BOM: {
            if (c == bom[p->bom_matched]) {
                s++;
                if (++p->bom_matched == 3) {
                    p->bom_matched = 0;
                    p->state = SSE_NAME;
                }
                continue;
            }
            /* Not a BOM after all: the bytes matched so far are the line's first bytes. */
            int matched = p->bom_matched;
            p->state = SSE_NAME;
            p->bom_matched = 0;
            feed(p, bom, bom + matched);
            continue;
        }
        case SSE_NAME:
            s++;
            if (is_eol(c)) {
                p->after_cr = c == '\r';
                line_end(p);
            } else if (c == ':') {
                if (p->name_len == 0) {
                    p->state = SSE_COMMENT;
                } else {
                    field_start(p);
                    p->state = SSE_SPACE;
                }
            } else if (p->name_len < sizeof p->name) {
                p->name[p->name_len++] = c;
            }
            continue;
        case SSE_SPACE:
            if (c == ' ')
                s++;
            p->state = SSE_VALUE;
            continue;
        case SSE_VALUE:
        case SSE_COMMENT: {
            const char *run = s;
            while (s < end && !is_eol(*s))
                s++;
            if (p->state == SSE_VALUE && p->field == FIELD_DATA)
                data_append(p, run, (size_t)(s - run));
            else if (p->state == SSE_VALUE && p->field == FIELD_EVENT)
                type_append(p, run, (size_t)(s - run));
            if (s < end) {
                p->after_cr = *s == '\r';
                s++;
                line_end(p);
            }
            continue;
        }
        }
    }
}

int sse_feed(struct sse *p, const char *buf, size_t n)
{
    assert(p && (buf || n == 0));
    assert(sse_ok(p));
    if (n == 0)
        return 0;
    p->overflowed = false;
    feed(p, buf, buf + n);
    assert(sse_ok(p));
    return p->overflowed ? -E2BIG : 0;
}
