/*
 * rng: a per-run pseudo-random generator (xoshiro256**, seeded through
 * splitmix64). No global state: every simulation, limiter and workload owns
 * or borrows one, so runs are reproducible and can share a process.
 */
#ifndef RATELAB_RNG_H
#define RATELAB_RNG_H

#include <stdint.h>

struct rng {
    uint64_t s[4]; /* xoshiro256** state; never all zero */
};

/* Seed deterministically from any 64-bit value (0 included). */
void rng_seed(struct rng *r, uint64_t seed);

/* A child generator whose stream is independent of the parent's next draws. */
void rng_split(struct rng *parent, struct rng *child);

uint64_t rng_u64(struct rng *r);

/* Uniform in [0, n), n > 0, without modulo bias. */
uint64_t rng_below(struct rng *r, uint64_t n);

/* Uniform in (0, 1): never exactly 0 or 1, so log() of it is safe. */
double rng_unit(struct rng *r);

/* Exponential with the given mean. */
double rng_exp(struct rng *r, double mean);

/* Normal (Box–Muller, one value per call; the pair's twin is discarded). */
double rng_normal(struct rng *r, double mean, double stddev);

/* Lognormal with the given median and sigma (of the underlying normal). */
double rng_lognormal(struct rng *r, double median, double sigma);

/* Gamma with shape k > 0 and scale theta (Marsaglia–Tsang). */
double rng_gamma(struct rng *r, double shape, double scale);

#endif
