#!/usr/bin/python3
"""M/M/c in SimPy 2 (Debian's python3-simpy 2.3.1, the classic SimPy 2 API:
`from SimPy.Simulation import *`, Process / Resource / yield hold, request,
release), for the speed comparison with ratelab's engine (bench/sim_mmc.c runs
the same model). usage: sim_mmc_simpy.py CUSTOMERS [C] [RHO] [SEED]
Prints customers, CPU and wall time, customers per CPU second, mean sojourn and
P(wait)."""
import random
import sys
import time

import SimPy
from SimPy.Simulation import Process, Resource, activate, hold, initialize, now, release, \
    request, simulate


class Stats:
    def __init__(self):
        self.n = 0
        self.sojourn = 0.0
        self.waited = 0


class Customer(Process):
    def visit(self, server, rng, mu, stats):
        arrive = now()
        yield request, self, server
        if now() > arrive:
            stats.waited += 1
        yield hold, self, rng.expovariate(mu)
        yield release, self, server
        stats.n += 1
        stats.sojourn += now() - arrive


class Source(Process):
    def generate(self, n, lam, server, rng, mu, stats):
        for _ in range(n):
            c = Customer()
            activate(c, c.visit(server, rng, mu, stats))
            yield hold, self, rng.expovariate(lam)


def erlang_c(c, a):
    term, total = 1.0, 1.0
    for k in range(1, c):
        term *= a / k
        total += term
    top = term * a / c / (1 - a / c)
    return top / (total + top)


def main():
    n = int(float(sys.argv[1]))
    c = int(sys.argv[2]) if len(sys.argv) > 2 else 4
    rho = float(sys.argv[3]) if len(sys.argv) > 3 else 0.9
    seed = int(sys.argv[4]) if len(sys.argv) > 4 else 1
    mu = 1.0
    lam = rho * c * mu
    rng = random.Random(seed)
    stats = Stats()
    t0, c0 = time.perf_counter(), time.process_time()
    initialize()
    server = Resource(capacity=c, name="server", unitName="slot")
    src = Source()
    activate(src, src.generate(n, lam, server, rng, mu, stats))
    simulate(until=1e18)
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    pc = erlang_c(c, lam)
    print("SimPy %s M/M/%d rho=%.2f seed=%d: customers %d  cpu %.3f s  wall %.3f s  "
          "%.0f customers/s (cpu)  mean sojourn %.4f s (theory %.4f)  P(wait) %.4f "
          "(Erlang C %.4f)"
          % (SimPy.__version__, c, rho, seed, stats.n, cpu, wall, stats.n / cpu,
             stats.sojourn / stats.n, pc / (c - lam) + 1, stats.waited / stats.n, pc))


if __name__ == "__main__":
    main()
