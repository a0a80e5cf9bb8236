/*
 * ratehdr_int: lexing helpers shared by the two halves of the header parser
 * (ratehdr.c: header names and values; ratehdr_time.c: durations and dates).
 * Internal to the core: not part of ratehdr.h's contract.
 */
#ifndef RATELAB_RATEHDR_INT_H
#define RATELAB_RATEHDR_INT_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

typedef __int128 i128;

static inline bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

static inline bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Digits at *p into *v (no sign); advances *p. -EINVAL if none, -ERANGE on overflow. */
static inline int digits(const char **p, int64_t *v, int *ndigits)
{
    const char *s = *p;
    int64_t x = 0;
    int n = 0;
    while (is_digit(*s)) {
        int d = *s - '0';
        if (x > (INT64_MAX - d) / 10)
            return -ERANGE;
        x = x * 10 + d;
        s++;
        n++;
    }
    if (n == 0)
        return -EINVAL;
    *p = s;
    *v = x;
    if (ndigits)
        *ndigits = n;
    return 0;
}

#endif
