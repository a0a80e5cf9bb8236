/*
 * redis_be: the client core's admission state in Redis, shared by every process that uses
 * the same redis_key_prefix (client.h's struct client_backend; doc/redis.md).
 *
 * Asynchronous on the engine's libevent loop through hiredis's libevent adapter: nothing
 * here blocks the loop. An admission the backend cannot answer at once (from its local
 * reservation, or by the failure policy) goes to Redis as one EVALSHA of the admission
 * script (redis_script.h), and its answer comes back through hooks.answer, which the
 * engine hands to run_admission_answer before its next run_advance. Releases and refunds
 * are coalesced: all the answers of one loop turn go back in one script call.
 *
 * Concurrency slots are leases: the process's slot count in Redis lives as long as its
 * entry in the registry (PREFIX procs), renewed every lease/3; a process that dies leaks
 * its slots for at most one lease. The registry also gives N, the live processes, for
 * the open policy's local share.
 *
 * A full shared pool: another process's release is not seen on this process's command
 * connection, so the admission is answered LIMITER_WAIT until the exact time the earliest
 * lease of a process holding slots can run out (a crashed process's slots come back then),
 * and a second connection SUBSCRIBEs to the prefix's release channel: when any process
 * releases slots from a full pool, the script PUBLISHes there and hooks.wake tells the
 * engine to ask again at once. A lost subscription is reconnected every redis_timeout
 * (meanwhile the lease time alone ends the wait); once back, a pending wait is woken in
 * case a release was missed. Nothing re-asks on a tick.
 *
 * When Redis is unreachable, or an admission's answer takes longer than redis_timeout:
 *   closed  the admission is told to wait redis_timeout, and asks again then (counted:
 *           closed_waits); nothing goes out without Redis.
 *   open    admissions come from a local limiter holding limit / N of every dimension (N
 *           the registry's count last seen, at least the --redis-run count, at least 1),
 *           made the first time it is needed (counted: open_admitted).
 * An answer that comes after its timeout is not lost: what it granted is kept as a local
 * reservation. Lost connections are retried every redis_timeout; after a reconnection the
 * process restates its slot count (sync).
 *
 * Batching (redis_batch = K > 1): an admission asks Redis for up to K admissions of its
 * cost at once; those not used at once are reserved locally and handed out without a
 * round trip while the reservation's slots and tokens last. A reservation unused for a
 * whole renewal period (lease/3) is handed back. The cost in accuracy: reserved
 * admissions are charged to the shared buckets when reserved, not when sent, so sends can
 * run up to (K - 1) per process ahead of the shared rate in a window, and another process
 * can be told to wait while admissions sit reserved here.
 */
#ifndef RATELAB_REDIS_BE_H
#define RATELAB_REDIS_BE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "client.h"
#include "report.h"
#include "scenario.h"

struct event_base;

typedef struct redis_be redis_be;

struct redis_be_hooks {
    /* The engine's now, µs (its timeline). Required. */
    int64_t (*now)(void *ctx);
    /* The answer to the admission left pending (client_admission_answer's arguments). */
    void (*answer)(void *ctx, int64_t now_us, int rc, int64_t wait_until_us, uint64_t ticket);
    /*
     * Optional. The first connection attempt is over: status 0 (connected, script loaded)
     * or a negative errno (refused, timed out, AUTH failed: the policy applies meanwhile).
     */
    void (*ready)(void *ctx, int status);
    /*
     * Optional. redis_be_barrier is over: status 0 and the delay, µs from now, at which
     * every process starts; or a negative errno (-EEXIST: the run name was used before).
     */
    void (*barrier)(void *ctx, int status, int64_t start_in_us);
    /*
     * Optional. The admission last answered LIMITER_WAIT for a full pool may fit now (a
     * release was published): ask again at now_us (run_wake). Called at most once per such
     * answer, never from inside admit or done. Without it the wait lasts until its time.
     */
    void (*wake)(void *ctx, int64_t now_us);
    void *ctx;
};

/*
 * A backend for cfg (its limits and cfg->redis), on base. The connection starts when the
 * loop runs (hooks.ready says when it is up, never from inside this call). expect_procs: processes known to share the quota (the
 * --redis-run count), 0 = unknown. Returns NULL with err filled (never quoting the
 * password) when the URL does not parse or its password variable is unset.
 */
redis_be *redis_be_new(struct event_base *base, const struct client_config *cfg,
                       int64_t expect_procs, const struct redis_be_hooks *hooks, char *err,
                       size_t errn);

/*
 * Hand everything back (the reservation, the slots: the process leaves the registry) with
 * one blocking round trip of at most redis_timeout, then close. Call once the run is over
 * and the loop has stopped. Then redis_be_free.
 */
void redis_be_leave(redis_be *b);

void redis_be_free(redis_be *b);

/* The client_backend to give run_set_backend (valid while b lives). */
const struct client_backend *redis_be_backend(redis_be *b);

/*
 * The start barrier of `ratelab live --redis-run NAME`: n processes register under NAME;
 * when the n-th arrives, all are told one start instant (Redis time, 100 ms ahead) and
 * hooks.barrier gives each the delay to it. Needs the connection up (after hooks.ready
 * with 0). Blocks nothing: the answer comes on the loop.
 */
void redis_be_barrier(redis_be *b, const char *name, int64_t n);

/*
 * Whether the last admission was answered "the shared pool is full" and no release has
 * woken it yet: hooks.wake may come at any moment (an engine must not end the run as if
 * nothing could happen before that answer's wait).
 */
bool redis_be_waits_for_release(const redis_be *b);

/* The counters for the report. */
void redis_be_report(const redis_be *b, struct report_redis *out);

/*
 * This process's side of the shared daily budget (TPD), for the report: the limit, the
 * tokens this process charged (net of refunds and of reservations handed back; local
 * admissions of the open policy included), and the first time Redis refused an admission
 * for want of TPD (-1: never). The processes' used_tokens add up to the shared use
 * (ratelab merge adds them).
 */
void redis_be_budget(const redis_be *b, struct report_budget *out);

#endif
