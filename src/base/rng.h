/*
 * rng: a per-run pseudo-random generator (xoshiro256**, seeded through
 * splitmix64). No global state: every simulation, limiter and workload owns
 * or borrows one, so runs are reproducible and can share a process.
 */
#ifndef RATELAB_RNG_H
#define RATELAB_RNG_H

#include <math.h>
#include <stdint.h>

struct rng {
    uint64_t s[4]; /* xoshiro256** state; never all zero */
};

/* Seed deterministically from any 64-bit value (0 included). */
void rng_seed(struct rng *r, uint64_t seed);

/* A child generator whose stream is independent of the parent's next draws. */
void rng_split(struct rng *parent, struct rng *child);

/*
 * The next 64 random bits. This and the two below are inline: the simulator
 * draws a few per request, and the calls showed in its profile.
 */
static inline uint64_t rng_u64(struct rng *r)
{
    uint64_t *s = r->s;
    uint64_t x = s[1] * 5;
    uint64_t result = ((x << 7) | (x >> 57)) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = (s[3] << 45) | (s[3] >> 19);
    return result;
}

/* Uniform in [0, n), n > 0, without modulo bias. */
uint64_t rng_below(struct rng *r, uint64_t n);

/* Uniform in (0, 1): never exactly 0 or 1, so log() of it is safe. */
static inline double rng_unit(struct rng *r)
{
    /* 53 random bits, offset by half a step: strictly inside (0, 1). */
    return ((double)(rng_u64(r) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

/*
 * The exponential ziggurat (Marsaglia and Tsang, 2000) behind rng_exp: 256
 * layers of equal area under e^-x; layer i spans x in [0, rng_exp_zig_x[i]]
 * and e^-x in [rng_exp_zig_f[i], rng_exp_zig_f[i + 1]]. Layer 0 is the base
 * strip with the tail beyond rng_exp_zig_x[1]; rng_exp_zig_x[256] is 0.
 */
extern const double rng_exp_zig_x[257], rng_exp_zig_f[257];

/*
 * rng_exp's rare path (2.2% of draws): layer i was drawn and x, a point
 * of it, is not wholly under the curve. Returns an exponential of mean 1.
 */
double rng_exp_slow(struct rng *r, unsigned i, double x);

/*
 * Exponential with the given mean. Exact in distribution (ziggurat: one 64-bit
 * draw, a table lookup and a multiply on 97.8% of draws, no log) and strictly
 * positive for a positive mean; the stream differs from -mean * log(u).
 */
static inline double rng_exp(struct rng *r, double mean)
{
    uint64_t b = rng_u64(r);
    unsigned i = (unsigned)(b & 0xff); /* low 8 bits: the layer; top 53: the point */
    double x = ((double)(b >> 11) + 0.5) * (1.0 / 9007199254740992.0) * rng_exp_zig_x[i];
    if (x < rng_exp_zig_x[i + 1])
        return mean * x;
    return mean * rng_exp_slow(r, i, x);
}

/* Normal (Box–Muller, one value per call; the pair's twin is discarded). */
double rng_normal(struct rng *r, double mean, double stddev);

/* Lognormal with the given median and sigma (of the underlying normal). */
double rng_lognormal(struct rng *r, double median, double sigma);

/* Gamma with shape k > 0 and scale theta (Marsaglia–Tsang). */
double rng_gamma(struct rng *r, double shape, double scale);

#endif
