#include "config.h"

#include "redisurl.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int bad(char *why, size_t whyn, const char *msg)
{
    snprintf(why, whyn, "%s", msg);
    return -EINVAL;
}

/* A whole decimal number in [lo, hi] spanning exactly s[0..n). */
static int number(const char *s, size_t n, int lo, int hi, int *out)
{
    if (n == 0 || n > 5)
        return -1;
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

int redisurl_parse(const char *url, struct redisurl *out, char *why, size_t whyn)
{
    struct redisurl u = {.port = 6379, .db = 0};
    static const char scheme[] = "redis://";
    if (strncmp(url, scheme, sizeof scheme - 1) != 0)
        return bad(why, whyn, "not a redis:// URL (expected redis://[:${PASSWORD_VAR}@]HOST[:PORT][/DB])");
    const char *p = url + sizeof scheme - 1;
    const char *at = strrchr(p, '@');
    if (at) {
        /* userinfo: exactly ":${NAME}" */
        const char *ui = p;
        size_t n = (size_t)(at - ui);
        if (n == 0 || ui[0] != ':')
            return bad(why, whyn, "a user name in redis_url (expected redis://:${PASSWORD_VAR}@HOST: "
                                  "a password only)");
        if (n < 5 || strncmp(ui + 1, "${", 2) != 0 || ui[n - 1] != '}')
            return bad(why, whyn, "a literal password in redis_url (expected ${NAME}, read from the "
                                  "environment variable NAME, so the password is never written)");
        size_t en = n - 4; /* ":${" and "}" */
        if (en >= sizeof u.password_env)
            return bad(why, whyn, "the password variable's name is too long (at most 127 characters)");
        for (size_t i = 0; i < en; i++) {
            char c = ui[3 + i];
            if (!isalnum((unsigned char)c) && c != '_')
                return bad(why, whyn, "a bad password variable name in redis_url (expected ${NAME} "
                                      "with letters, digits and _)");
        }
        memcpy(u.password_env, ui + 3, en);
        u.password_env[en] = '\0';
        p = at + 1;
    }
    /* host */
    const char *hs = p, *he;
    if (*p == '[') {
        he = strchr(p, ']');
        if (!he)
            return bad(why, whyn, "an unclosed [ in redis_url's host (expected [IPv6])");
        hs = p + 1;
        p = he + 1;
    } else {
        he = p + strcspn(p, ":/");
        p = he;
    }
    size_t hn = (size_t)(he - hs);
    if (hn == 0)
        return bad(why, whyn, "no host in redis_url (expected redis://HOST[:PORT][/DB])");
    if (hn >= sizeof u.host)
        return bad(why, whyn, "redis_url's host is too long (at most 255 characters)");
    for (size_t i = 0; i < hn; i++)
        if (!isalnum((unsigned char)hs[i]) && !strchr(".-_:", hs[i]))
            return bad(why, whyn, "a bad character in redis_url's host (expected a name or an "
                                  "address)");
    memcpy(u.host, hs, hn);
    u.host[hn] = '\0';
    if (*p == ':') {
        p++;
        size_t n = strcspn(p, "/");
        if (number(p, n, 1, 65535, &u.port) < 0)
            return bad(why, whyn, "a bad port in redis_url (expected 1 to 65535)");
        p += n;
    }
    if (*p == '/') {
        p++;
        size_t n = strlen(p);
        if (n > 0 && number(p, n, 0, 15, &u.db) < 0)
            return bad(why, whyn, "a bad database in redis_url (expected /0 to /15)");
        p += n;
    }
    if (*p)
        return bad(why, whyn, "trailing text in redis_url (expected redis://HOST[:PORT][/DB])");
    *out = u;
    return 0;
}

const char *redisurl_password(const struct redisurl *u, int *err)
{
    *err = 0;
    if (!u->password_env[0])
        return NULL;
    const char *pw = getenv(u->password_env);
    if (!pw || !pw[0]) {
        *err = -ENOENT;
        return NULL;
    }
    return pw;
}
