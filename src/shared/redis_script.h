/*
 * redis_script: the one Lua script that keeps ratelab's shared admission state in Redis
 * (doc/redis.md). Every decision runs inside it, so each is atomic across every dimension
 * and every process; its clock is Redis's own (TIME), so hosts with skewed clocks agree,
 * and only durations (waits) leave it.
 *
 * KEYS (all under the scenario's redis_key_prefix):
 *   1 PREFIX rpm    2 PREFIX tpm    3 PREFIX tpd   GCRA theoretical arrival time, µs of
 *                                                  Redis time (absent = a full bucket)
 *   4 PREFIX procs  sorted set: process id -> its lease's expiry (µs); the live-process
 *                   registry, and the lease on the process's concurrency slots
 *   5 PREFIX held   hash: process id -> concurrency slots it holds
 * ARGV:
 *   1 mode: admit | done | renew | sync | leave
 *   2 process id   3 lease µs   4 max_concurrent (0 = unlimited)
 *   5..13  amount, period µs, capacity of rpm, tpm, tpd (amount 0 = unlimited)
 *   14 count   admit: admissions wanted (the batch); done: slots freed; renew/sync: slots
 *              held by the process
 *   15 tokens  admit: tokens per admission; done: tokens refunded (negative: charged more)
 *   16 the release channel (PREFIX released; not a key: channels ignore the database)
 * Reply: {n, wait_us, processes, short, free_us}
 *   admit: n admitted (0..count), each charged 1 request, `tokens` tokens and one slot;
 *          n = 0: wait_us = µs from now until one fits if nothing else is taken
 *          meanwhile, or -1 when the concurrency pool is full (wait for a release)
 *   others: n = 0, wait_us = 0.
 *   processes: live processes in the registry after this call (open policy's N).
 *   short: admit with n = 0 for want of tokens: the dimensions found short, 1 rpm + 2 tpm
 *          + 4 tpd; else 0.
 *   free_us: admit refused for a full pool: µs from now until the earliest lease of a
 *          process holding slots runs out (its slots come back then unless it renews;
 *          this process's own lease included); else 0.
 * Releases: a call that lowers the slots held while the pool is full (done, leave, a sync
 * restating fewer, or reaping a process whose lease ran out) PUBLISHes one message, the
 * calling process's id, on the release channel, so processes told the pool is full ask
 * again (the caller itself needs no message: its next call sees what it freed).
 */
#ifndef RATELAB_REDIS_SCRIPT_H
#define RATELAB_REDIS_SCRIPT_H

extern const char redis_script_lua[];

#endif
