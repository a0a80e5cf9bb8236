/*
 * testutil: helpers the Check suites share. Header-only (static inline), so
 * each test program stays one source file.
 */
#ifndef RATELAB_TESTUTIL_H
#define RATELAB_TESTUTIL_H

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

/* Run a shell command line; capture stdout and stderr into out; return its exit status. */
static inline int run_cmd(const char *cmdline, char *out, size_t n)
{
    char full[4096];
    snprintf(full, sizeof full, "%s 2>&1", cmdline);
    FILE *p = popen(full, "r");
    ck_assert_ptr_nonnull(p);
    size_t got = fread(out, 1, n - 1, p);
    out[got] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A whole file, NUL-terminated, in memory the caller frees (fails the test if unreadable). */
static inline char *slurp_file(const char *path)
{
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "cannot read %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    ck_assert_ptr_nonnull(b);
    ck_assert_uint_eq(fread(b, 1, (size_t)n, f), (size_t)n);
    b[n] = '\0';
    fclose(f);
    return b;
}

/* Write text to path, replacing it (fails the test if it cannot). */
static inline void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    ck_assert_msg(f != NULL, "cannot write %s", path);
    fputs(text, f);
    ck_assert_int_eq(fclose(f), 0);
}

/* Write text to dir/name. */
static inline void write_file_in(const char *dir, const char *name, const char *text)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    write_file(path, text);
}

/* Remove a test's temporary directory and everything in it. */
static inline void remove_tree(const char *dir)
{
    char cmd[512], out[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    ck_assert_int_eq(run_cmd(cmd, out, sizeof out), 0);
}

#endif
