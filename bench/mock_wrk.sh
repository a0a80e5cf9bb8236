#!/usr/bin/env bash
# Throughput of `ratelab mock` against nginx serving a fixed 429, same machine,
# same run, one worker each: the server pinned to CPU 0, wrk (one thread) to CPU 1.
#   1. mock, limits off: every answer a 200 chat completion (16 tokens, no latency)
#   2. mock, limits on: requests_per_minute = 1, so every answer (after the first) a 429
#   3. nginx (Debian nginx-light), `return 429` with the same body and headers
# Usage: bench/mock_wrk.sh [DURATION=10s] [CONNECTIONS=100]
# Needs wrk and nginx; builds an optimised ratelab in build-bench/ (no sanitizers).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10s}
CONNS=${2:-100}
BUILD=${BUILD:-build-bench}
NGINX=${NGINX:-/usr/sbin/nginx}
if [ ! -x "$BUILD/ratelab" ]; then
    mkdir -p "$BUILD"
    (cd "$BUILD" && { [ -f Makefile ] || ../configure -q CFLAGS="-O2 -g"; } && make -s -j2 ratelab)
fi
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

cat >"$tmp/off.ini" <<'INI'
[scenario]
name = bench-limits-off
[server]
max_running = 0
ttft = 0
prefill_per_token = 0
decode_per_token = 0
[class.bench]
arrival = poisson 1/s
[live]
model = bench
INI
sed -e 's/limits-off/limits-on/' -e 's/^\[server\]$/[server]\nrequests_per_minute = 1/' \
    "$tmp/off.ini" >"$tmp/on.ini"

# Start the mock pinned to CPU 0; sets pid and addr.
start_mock() {
    taskset -c 0 "$BUILD/ratelab" mock "$1" --listen 127.0.0.1:0 >"$tmp/mock.out" 2>/dev/null &
    pid=$!
    for _ in $(seq 100); do
        addr=$(sed -n 's/^listening on //p' "$tmp/mock.out")
        [ -n "$addr" ] && return 0
        sleep 0.05
    done
    echo "mock did not start" >&2
    exit 1
}

run_wrk() { # label url
    echo "== $1"
    taskset -c 1 wrk -t1 -c"$CONNS" -d"$DUR" --latency -s bench/mock_post.lua "$2" | tee "$tmp/$1.txt"
    grep -oP 'Requests/sec:\s+\K[0-9.]+' "$tmp/$1.txt" >"$tmp/$1.rps"
}

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), Debian $(cat /etc/debian_version)"
echo "wrk -t1 -c$CONNS -d$DUR, server on CPU 0, wrk on CPU 1"

start_mock "$tmp/off.ini"
run_wrk mock-limits-off "http://$addr/v1/chat/completions"
kill -TERM "$pid"; wait "$pid" || true; pid=

start_mock "$tmp/on.ini"
run_wrk mock-limits-on "http://$addr/v1/chat/completions"
kill -TERM "$pid"; wait "$pid" || true; pid=

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$tmp/nginx/tmp"
sed "s/@PORT@/$port/" bench/mock_nginx.conf >"$tmp/nginx/nginx.conf"
taskset -c 0 "$NGINX" -p "$tmp/nginx" -c nginx.conf -e stderr &
pid=$!
for _ in $(seq 100); do
    curl -s -o /dev/null "http://127.0.0.1:$port/" && break
    sleep 0.05
done
run_wrk nginx-429 "http://127.0.0.1:$port/v1/chat/completions"
kill -QUIT "$pid"; wait "$pid" || true; pid=

off=$(cat "$tmp/mock-limits-off.rps"); on=$(cat "$tmp/mock-limits-on.rps"); ng=$(cat "$tmp/nginx-429.rps")
echo
echo "| server | requests/s | vs nginx |"
echo "| --- | ---: | ---: |"
awk -v off="$off" -v on="$on" -v ng="$ng" 'BEGIN {
    printf "| ratelab mock, limits off (200) | %.0f | %.0f%% |\n", off, 100 * off / ng
    printf "| ratelab mock, limits on (429) | %.0f | %.0f%% |\n", on, 100 * on / ng
    printf "| nginx, fixed 429 | %.0f | 100%% |\n", ng
}'
