#!/usr/bin/env bash
# Admissions per second through the Redis backend, with and without batching, and the
# round trips per admission: builds bench/redis_bench.c with -O2 (no sanitizers) against
# the backend's sources, starts its own redis-server on a free loopback port (no
# persistence), runs, stops it. Usage: bench/redis_bench.sh [admissions] [batch...]
set -euo pipefail
top="$(cd "$(dirname "$0")/.." && pwd)"
out="${TMPDIR:-/tmp}/ratelab-redis-bench"
mkdir -p "$out"
printf '#define _GNU_SOURCE 1\n#define PACKAGE_VERSION "bench"\n' > "$out/config.h"
cc -std=c11 -O2 -DNDEBUG -I"$out" -I"$top/src/base" -I"$top/src/core" -I"$top/src/run" \
    -I"$top/src/shared" -o "$out/redis_bench" "$top/bench/redis_bench.c" \
    "$top/src/shared/redis_be.c" "$top/src/shared/redis_script.c" "$top/src/core/limiter.c" \
    "$top/src/base/redisurl.c" "$top/src/base/util.c" \
    $(pkg-config --cflags --libs hiredis libevent_core) -lm
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --dir "$out" \
    --daemonize no >"$out/redis.log" 2>&1 &
rpid=$!
trap 'kill $rpid 2>/dev/null; wait $rpid 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.05
done
echo "redis-server $(redis-server --version | grep -o 'v=[0-9.]*') on 127.0.0.1:$port, $(nproc) CPUs"
n="${1:-50000}"
shift || true
[ $# -gt 0 ] || set -- 1 4 16 64
"$out/redis_bench" "$port" "$n" "$@"
