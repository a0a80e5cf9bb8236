/*
 * redisurl: the [client] redis_url of a scenario, parsed.
 *
 *   redis://[:PASSWORD@]HOST[:PORT][/DB]
 *
 * HOST is a name or an IPv4 address (an IPv6 address in brackets), PORT 1..65535
 * (default 6379), DB 0..15 (default 0). A password, when there is one, must be written
 * as ${NAME}: it is read from the environment variable NAME when the connection is
 * made (redisurl_password), so a scenario file, a resolved scenario (--dry-run) and a
 * report never hold it. A literal password is refused. A user name before the ':' is
 * refused too (Redis 6 ACL users are not supported: AUTH with one argument only).
 */
#ifndef RATELAB_REDISURL_H
#define RATELAB_REDISURL_H

#include <stddef.h>

#define REDISURL_HOST_MAX 256
#define REDISURL_ENV_MAX 128

struct redisurl {
    char host[REDISURL_HOST_MAX];    /* without brackets */
    int port;                        /* 1..65535 */
    int db;                          /* 0..15 */
    char password_env[REDISURL_ENV_MAX]; /* NAME of ${NAME}; "" = no password */
};

/*
 * Parse url into *out. Returns 0, or -EINVAL with why[0..whyn) saying what is
 * wrong and what was expected (never quoting a password).
 */
int redisurl_parse(const char *url, struct redisurl *out, char *why, size_t whyn);

/*
 * The password from the environment, or NULL when the URL names none. Returns -ENOENT
 * through *err (and NULL) when the variable is unset or empty; *err = 0 otherwise.
 */
const char *redisurl_password(const struct redisurl *u, int *err);

#endif
