/*
 * trace: a streaming reader of request traces, replayed as an arrival process
 * (`[class.NAME] arrival = trace FILE`, doc/scenario.md).
 *
 * Two formats, told apart by the first non-blank line: a '{' starts JSONL (what
 * `ratelab live --record` writes, doc/trace.md), anything else is CSV with a
 * header row. Each line gives a time, prompt tokens, and optionally completion
 * tokens, a class, the HTTP status and the latency.
 *
 * Fields (trace_columns = time=COL,prompt=COL,completion=COL,class=COL names them;
 * in JSONL a '.' in a name descends into an object):
 *   CSV defaults    time, prompt_tokens, completion_tokens, class
 *   JSONL defaults  t (else ts_ms), prompt_tokens, usage.completion_tokens, class;
 *                   status, latency_ms and saw_429 are kept when present (CSV too,
 *                   under those column names)
 * time and prompt are required; completion and class may be absent (an empty CSV
 * cell, a missing JSON member, or null: completion -1, class "none").
 *
 * Times: seconds as a number ("12.5"), epoch milliseconds (an integer above 10^11,
 * so "1796097685275"), or RFC 3339 ("2026-11-30T10:01:25.275Z"). All are put on one
 * µs scale (seconds ×10^6, epoch ms ×10^3, RFC 3339 as Unix µs), so they may be mixed.
 * The trace's origin is trace_start when set (same formats; lines before it are
 * bad), else the earliest line's time: the first replayed line is then at 0.
 *
 * Order: traces are often written in order of *ending* (a recorded trace, proxy
 * logs). The reader keeps the next TRACE_REORDER_LINES lines in a min-heap and emits
 * them in time order (ties in file order), so a line may appear up to that many
 * lines after a later-timed one. A line earlier than one already emitted is "time
 * goes backwards", a bad line. Memory is that heap (48 bytes a line, grown up to
 * the bound) and one line buffer: flat in the trace's length.
 *
 * Bad lines (unparseable, a missing or negative field, time before trace_start or
 * going backwards, a class the scenario lacks) are errors reported as FILE:LINE, or
 * with skip_bad skipped and counted. Blank lines are ignored.
 */
#ifndef RATELAB_TRACE_H
#define RATELAB_TRACE_H

#include <stdbool.h>
#include <stdint.h>

#include "scenario.h"

/* Lines held for reordering: the bound on how far out of time order a line may be. */
#define TRACE_REORDER_LINES 65536

/* Longest accepted line, bytes (longer lines are bad lines). */
#define TRACE_LINE_MAX 65536

typedef struct trace trace;

struct trace_options {
    const char *path;           /* the file */
    const char *columns;        /* trace_columns text; NULL or "" = the defaults */
    const char *start;          /* trace_start text; NULL or "" = the earliest line */
    const char *const *classes; /* the scenario's class names, for the class field */
    int n_classes;              /* 0: any class name is accepted and reported as -1 */
    int only_class;             /* emit only lines of this class index (and class-less
                                   lines); -1 = every line */
    bool skip_bad;              /* skip and count bad lines instead of failing */
    int64_t reorder_lines;      /* heap bound; 0 = TRACE_REORDER_LINES */
};

/* One request of the trace. */
struct trace_line {
    int64_t time_us;            /* from the origin, >= 0 */
    int64_t prompt_tokens;      /* >= 0 */
    int64_t completion_tokens;  /* >= 0, or -1 when the line has none */
    int class_index;            /* into options.classes, -1 = none given (or n_classes 0) */
    int status;                 /* HTTP status when given (JSONL), else INT32_MIN */
    double latency_ms;          /* when given, else -1 */
    int saw_429;                /* the request saw a 429 (1) or not (0), when given; else -1 */
    int64_t line;               /* its line number in the file, from 1 */
};

struct trace_error {
    char file[SCENARIO_TEXT_MAX];
    int64_t line;               /* 0 when no line applies (cannot open, bad option) */
    char msg[SCENARIO_TEXT_MAX];
};

/*
 * Open o->path for reading (o is copied; its strings must outlive the reader).
 * Returns NULL with *err filled when the file cannot be opened or the options are
 * bad (a trace_columns or trace_start that does not parse).
 */
trace *trace_open(const struct trace_options *o, struct trace_error *err);

/*
 * The next line in time order into *out. Returns 0 (a line), 1 at the end of the
 * trace (and on every later call), or -EINVAL with *err at a bad line when skip_bad
 * is off (the reader is then finished: later calls return 1).
 */
int trace_next(trace *t, struct trace_line *out, struct trace_error *err);

/* Bad lines skipped so far (skip_bad). */
int64_t trace_skipped(const trace *t);

/* Lines read so far, blank ones and the CSV header included. */
int64_t trace_lines_read(const trace *t);

/* Close the file and free the reader; trace_close(NULL) does nothing. */
void trace_close(trace *t);

/*
 * Validate a whole trace in one streaming pass (every line, every class). Returns
 * 0 with *requests (lines that would replay, all classes) and *skipped (bad lines
 * skipped under skip_bad), or -EINVAL with *err at the first bad line. only_class
 * is ignored.
 */
int trace_check(const struct trace_options *o, int64_t *requests, int64_t *skipped,
                struct trace_error *err);

#endif
