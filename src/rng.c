#include "config.h"

#include "rng.h"

#include <assert.h>
#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

void rng_seed(struct rng *r, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        r->s[i] = splitmix64(&x);
}

void rng_split(struct rng *parent, struct rng *child)
{
    rng_seed(child, rng_u64(parent));
}

uint64_t rng_below(struct rng *r, uint64_t n)
{
    assert(n > 0);
    /* Lemire's method would need 128-bit multiply; rejection keeps it portable. */
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do
        x = rng_u64(r);
    while (x >= limit);
    return x % n;
}

double rng_normal(struct rng *r, double mean, double stddev)
{
    double u1 = rng_unit(r), u2 = rng_unit(r);
    return mean + stddev * sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}

double rng_lognormal(struct rng *r, double median, double sigma)
{
    return median * exp(rng_normal(r, 0, sigma));
}

double rng_gamma(struct rng *r, double shape, double scale)
{
    assert(shape > 0);
    if (shape < 1) {
        /* Boost: Gamma(k) = Gamma(k+1) * U^(1/k). */
        double u = rng_unit(r);
        return rng_gamma(r, shape + 1, scale) * pow(u, 1.0 / shape);
    }
    double d = shape - 1.0 / 3.0, c = 1.0 / sqrt(9.0 * d);
    for (;;) {
        double x = rng_normal(r, 0, 1), v = 1 + c * x;
        if (v <= 0)
            continue;
        v = v * v * v;
        double u = rng_unit(r);
        if (u < 1 - 0.0331 * x * x * x * x || log(u) < 0.5 * x * x + d * (1 - v + log(v)))
            return d * v * scale;
    }
}
