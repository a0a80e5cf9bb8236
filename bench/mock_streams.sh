#!/usr/bin/env bash
# Hold many concurrent streaming completions against `ratelab mock` and record
# its resident memory (VmRSS) as they open and while they are held: memory must
# stay flat once every stream is open.
# Each stream: first token after 10 ms, then one token every 200 ms (batch
# slowdown off), max_tokens 100000, so none finishes during the run.
# Usage: bench/mock_streams.sh [CONNECTIONS=10000] [HOLD_SECONDS=60]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
HOLD=${2:-60}
BUILD=${BUILD:-build-bench}
if [ ! -x "$BUILD/ratelab" ]; then
    mkdir -p "$BUILD"
    (cd "$BUILD" && { [ -f Makefile ] || ../configure -q CFLAGS="-O2 -g"; } && make -s -j2 ratelab)
fi
ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -gt $((N + 100)) ] || { echo "ulimit -n $(ulimit -n) is too low for $N" >&2; exit 1; }
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT
cc -O2 -o "$tmp/hold" bench/mock_stream_hold.c
cat >"$tmp/s.ini" <<'INI'
[scenario]
name = bench-streams
[server]
max_running = 0
ttft = 10ms
prefill_per_token = 0
decode_per_token = 200ms
decode_batch_slope = 0
[class.bench]
arrival = poisson 1/s
completion_tokens = const 100000
[live]
model = bench
INI
taskset -c 0 "$BUILD/ratelab" mock "$tmp/s.ini" --listen 127.0.0.1:0 >"$tmp/mock.out" &
pid=$!
for _ in $(seq 100); do
    addr=$(sed -n 's/^listening on //p' "$tmp/mock.out"); [ -n "$addr" ] && break; sleep 0.05
done
rss() { awk '/^VmRSS/ {print $2}' "/proc/$pid/status"; }
echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), Debian $(cat /etc/debian_version)"
echo "ulimit -n $(ulimit -n); $N streams held $HOLD s; mock on CPU 0, client on CPU 1"
echo "idle RSS: $(rss) kB"
taskset -c 1 "$tmp/hold" "${addr%:*}" "${addr##*:}" "$N" "$HOLD" >"$tmp/hold.out" &
cpid=$!
echo "| t (s) | streams open | mock RSS (kB) | mock CPU (s) |"
echo "| ---: | ---: | ---: | ---: |"
t=0
while kill -0 "$cpid" 2>/dev/null; do
    sleep 5; t=$((t + 5))
    line=$(tail -1 "$tmp/hold.out")
    cpu=$(awk '{printf "%.1f", ($14 + $15) / 100}' "/proc/$pid/stat")
    echo "| $t | $(sed -n 's/.*streaming=\([0-9]*\).*/\1/p' <<<"$line") | $(rss) | $cpu |"
done
wait "$cpid" && rc=0 || rc=$?
tail -1 "$tmp/hold.out"
sleep 1
echo "after the client left: RSS $(rss) kB"
kill -TERM "$pid"; wait "$pid" || true; pid=
exit $rc
