#!/usr/bin/env bash
# Build bench/limiter_bench.c with -O2 (no sanitizers) against the client core
# sources and run it; then show with valgrind that the timed loops allocate
# nothing. Usage: bench/limiter_bench.sh [decisions]
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
out="${TMPDIR:-/tmp}/ratelab-limiter-bench"
mkdir -p "$out"
printf '#define _GNU_SOURCE 1\n#define PACKAGE_VERSION "bench"\n' > "$out/config.h"
cc -std=c11 -O2 -DNDEBUG -I"$out" -I"$top/src/base" -I"$top/src/core" -o "$out/limiter_bench" \
    "$top/bench/limiter_bench.c" "$top/src/core/limiter.c" "$top/src/core/client.c" "$top/src/core/cqueue.c" "$top/src/core/retry.c" \
    "$top/src/base/rng.c" "$top/src/base/util.c" "$top/src/base/scenario.c" $(pkg-config --cflags --libs inih) -lm
"$out/limiter_bench" "${1:-50000000}"
if command -v valgrind >/dev/null && [ "${VALGRIND:-1}" = 1 ]; then
    echo "--- valgrind (1M decisions): heap use is the program's set-up only"
    valgrind --leak-check=no "$out/limiter_bench" 1000000 2>&1 | grep -E "allocations|total heap usage"
fi
