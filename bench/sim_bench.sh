#!/usr/bin/env bash
# Simulator benchmarks, recorded in doc/benchmarks.md under "## Simulator".
#
#   1. ratelab's engine against SimPy 2 (Debian python3-simpy 2.3.1, the classic
#      `from SimPy.Simulation import *` API) on the same M/M/c model, same run.
#   2. A realistic multi-class scenario (bench/sim_realistic.ini: RPM/TPM buckets,
#      concurrency pool, aging priority queue, retries with jitter and a budget,
#      provider 429s and faults, full metrics): simulated requests per CPU second.
#   3. Peak RSS of that scenario at 10^6, 10^7 and 10^8 simulated requests.
#
# Builds an optimised tree without sanitizers in build-sim-bench/ as users build it:
# ../configure CFLAGS="-O2 -DNDEBUG" (or BENCH_CFLAGS; another value needs a fresh build
# dir, BENCH_DIR=...), so with link-time optimisation when configure enables it (GCC);
# sim_mmc is compiled and linked with the same flags as ratelab.
# Rates are per CPU second (user+sys of the process), pinned to one core, so other
# work on the machine skews them less; wall time is printed too.
#
# usage: bench/sim_bench.sh [MMC_CUSTOMERS] [SIZES]
#   MMC_CUSTOMERS  customers for the M/M/c comparison (default 1000000)
#   SIZES          request counts for the memory runs (default "1e6 1e7 1e8")
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-1000000}
SIZES=${2:-"1e6 1e7 1e8"}
B=${BENCH_DIR:-build-sim-bench}
CFLAGS_BENCH=${BENCH_CFLAGS:-"-O2 -DNDEBUG"}
CORE=${CORE:-1}
PY=/usr/bin/python3 # Debian's python, where python3-simpy lives

[ -x configure ] || autoreconf -fi
mkdir -p "$B"
(cd "$B" && { [ -f Makefile ] || ../configure -q CFLAGS="$CFLAGS_BENCH"; } &&
    make -j2 ratelab libsim.a libmodel.a librun.a libcore.a libbase.a >/dev/null)
LTO=$(sed -n 's/^RL_CFLAGS = .*\(-flto[^ ]*\).*/\1/p' "$B"/Makefile) # what configure chose
cc $CFLAGS_BENCH $LTO -I"$B" -Isrc/sim -Isrc/run -Isrc/model -Isrc/core -Isrc/base bench/sim_mmc.c "$B"/libsim.a "$B"/libmodel.a "$B"/librun.a "$B"/libcore.a \
    "$B"/libbase.a $(pkg-config --libs libcjson inih) -lm -o "$B"/sim_mmc

echo "== machine"
echo "$(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'),"\
     "Debian $(cat /etc/debian_version), $(uname -sr), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(cc --version | head -1), CFLAGS $CFLAGS_BENCH ${LTO:-(no LTO)}; $($PY --version); SimPy $($PY -c 'import SimPy; print(SimPy.__version__)')"

echo
echo "== 1. M/M/4 at rho = 0.9, $N customers, pinned to core $CORE"
r=$(taskset -c "$CORE" "$B"/sim_mmc "$N" 4 0.9 1)
p=$(taskset -c "$CORE" $PY bench/sim_mmc_simpy.py "$N" 4 0.9 1)
echo "$r"
echo "$p"
rr=$(echo "$r" | sed -E 's/.* ([0-9]+) customers\/s \(cpu\).*/\1/')
pr=$(echo "$p" | sed -E 's/.* ([0-9]+) customers\/s \(cpu\).*/\1/')
echo "ratio: ratelab / SimPy = $(awk -v a="$rr" -v b="$pr" 'BEGIN { printf "%.1f", a / b }') x"

# The scenario arrives at about 2,335 requests per simulated second.
run_scenario() { # $1 = request count; prints requests, CPU s, wall s, peak RSS KB
    local n=$1 dur
    dur=$(awk -v n="$n" 'BEGIN { printf "%ds", n / 2335 + 0.5 }')
    local out="$B/sim_bench.json" tf="$B/sim_bench.time"
    taskset -c "$CORE" /usr/bin/time -f "%U %S %e %M" -o "$tf" \
        "$B"/ratelab sim bench/sim_realistic.ini --quiet --set scenario.duration="$dur" \
        --json "$out" >/dev/null || true # an SLO verdict is not a benchmark failure
    local arrived
    arrived=$(grep -m1 '"arrived"' "$out" | tr -dc 0-9)
    read -r u s e m <"$tf"
    awk -v n="$arrived" -v u="$u" -v s="$s" -v e="$e" -v m="$m" -v d="$dur" 'BEGIN {
        printf "duration %-7s requests %10d  cpu %7.2f s  wall %7.2f s  %9.0f requests/s (cpu)  peak RSS %6.1f MB\n",
               d, n, u + s, e, n / (u + s), m / 1024 }'
}

echo
echo "== 2. realistic multi-class scenario (bench/sim_realistic.ini), pinned to core $CORE"
run_scenario 1e7

echo
echo "== 3. peak RSS by simulated requests"
for n in $SIZES; do
    run_scenario "$n"
done
