#!/usr/bin/env bash
# `ratelab live` benchmarks, recorded in doc/benchmarks.md under "## Live engine".
# Each figure is measured in one run of this script, against `ratelab mock` on
# loopback (mock pinned to CPU 0, the client to CPU 1):
#   1. Throughput: the mock with no latency and no limits; ratelab live with N
#      closed-loop users of zero think time (N requests always outstanding) against
#      wrk -t1 -cN on the same mock, same connection count, same request body size.
#      The figure is the ratio of requests/s, ROUNDS rounds, medians.
#   2. Pacing: constant 1,000 requests/s for PACE_S seconds: the achieved rate of
#      arrivals handed to the client and sent, and the send lag p50/p99/max from the
#      report (arrival due → handed to the client).
#   3. Streams: STREAMS requests at once (a burst), each a stream held HOLD_S seconds
#      by the mock (one token every 200 ms): ratelab live's peak RSS, and how many
#      streams ended succeeded (all of them, or one was lost).
# Usage: bench/live_bench.sh [DURATION_S=10] [CONNS=100] [ROUNDS=3] [PACE_S=60]
#                            [STREAMS=10000] [HOLD_S=60]
# Needs wrk. Builds an optimised ratelab in build-bench/ (BUILD=...) as users build it.
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10}
CONNS=${2:-100}
ROUNDS=${3:-3}
PACE_S=${4:-60}
STREAMS=${5:-10000}
HOLD_S=${6:-60}
BUILD=${BUILD:-build-bench}
if [ ! -x "$BUILD/ratelab" ] || [ -n "${REBUILD:-}" ]; then
    mkdir -p "$BUILD"
    (cd "$BUILD" && { [ -f Makefile ] || ../configure -q CFLAGS="-O2 -DNDEBUG"; } && make -s -j2 ratelab)
fi
ulimit -n "$(ulimit -Hn)"
tmp=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$tmp"; }
trap cleanup EXIT

start_mock() { # ini; sets pid and addr
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
stop_mock() { kill -TERM "$pid"; wait "$pid" || true; pid=; }
median() { sort -n "$1" | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
jget() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval('d' + sys.argv[2]))" "$@"; }

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), Debian $(cat /etc/debian_version), $(uname -r)"
echo "libcurl $(curl-config --version 2>/dev/null | cut -d' ' -f2), $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"

# ---- 1. throughput against wrk ----------------------------------------------------------
cat >"$tmp/fast.ini" <<INI
[scenario]
name = bench-live-throughput
duration = ${DUR}s
at_end = cancel
[client]
queue_capacity = 0
request_timeout = 0
retry_max_attempts = 1
[server]
max_running = 0
ttft = 0
prefill_per_token = 0
decode_per_token = 0
[class.bench]
arrival = closed $CONNS 0s
prompt_tokens = const 12
completion_tokens = const 16
max_tokens = 16
[live]
model = bench
INI
# wrk sends the same size of body as ratelab's synthetic 12-token prompt.
body=$("$BUILD/ratelab" check "$tmp/fast.ini" >/dev/null && python3 - <<'PY'
import json
words = " ".join(["tok"] * ((12 - 7)))
print(json.dumps({"model": "bench", "messages": [{"role": "user", "content": words}], "max_tokens": 16}))
PY
)
cat >"$tmp/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$body'
LUA
echo
echo "== 1. throughput: ratelab live ($CONNS closed-loop users) vs wrk -t1 -c$CONNS, ${DUR}s, $ROUNDS rounds"
for round in $(seq "$ROUNDS"); do
    start_mock "$tmp/fast.ini"
    taskset -c 1 wrk -t1 -c"$CONNS" -d"${DUR}s" -s "$tmp/post.lua" "http://$addr/v1/chat/completions" >"$tmp/wrk.txt"
    w=$(grep -oP 'Requests/sec:\s+\K[0-9.]+' "$tmp/wrk.txt")
    stop_mock
    start_mock "$tmp/fast.ini"
    taskset -c 1 "$BUILD/ratelab" live "$tmp/fast.ini" --url "http://$addr" --quiet \
        --json "$tmp/live.json" >/dev/null 2>&1 || true
    stop_mock
    sent=$(jget "$tmp/live.json" "['attempts']['sent']")
    ok=$(jget "$tmp/live.json" "['live']['attempts']['2xx']")
    r=$(awk -v n="$ok" -v d="$DUR" 'BEGIN {printf "%.0f", n / d}')
    echo "$w" >>"$tmp/wrk.rps"
    echo "$r" >>"$tmp/live.rps"
    printf 'round %d: wrk %8.0f req/s   ratelab live %8.0f req/s (%d sent, %d 2xx)   ratio %.2f\n' \
        "$round" "$w" "$r" "$sent" "$ok" "$(awk -v a="$r" -v b="$w" 'BEGIN {print a / b}')"
done
wm=$(median "$tmp/wrk.rps"); lm=$(median "$tmp/live.rps")
printf 'median: wrk %.0f req/s, ratelab live %.0f req/s, ratio %.2f (target >= 0.30)\n' "$wm" "$lm" \
    "$(awk -v a="$lm" -v b="$wm" 'BEGIN {print a / b}')"

# ---- 2. pacing ------------------------------------------------------------------------------
sed -e "s/^duration = .*/duration = ${PACE_S}s/" -e "s/^arrival = .*/arrival = constant 1000\/s/" \
    -e 's/^name = .*/name = bench-live-pacing/' "$tmp/fast.ini" >"$tmp/pace.ini"
sed -i 's/^at_end = cancel/at_end = drain/' "$tmp/pace.ini"
echo
echo "== 2. pacing: constant 1000 req/s for ${PACE_S}s"
start_mock "$tmp/pace.ini"
/usr/bin/time -f "%e %M" -o "$tmp/pace.time" taskset -c 1 "$BUILD/ratelab" live "$tmp/pace.ini" \
    --url "http://$addr" --quiet --json "$tmp/pace.json" --csv "$tmp/pace.csv" >/dev/null 2>"$tmp/pace.err" || true
stop_mock
arr=$(jget "$tmp/pace.json" "['requests']['arrived']")
sent=$(jget "$tmp/pace.json" "['attempts']['sent']")
end=$(jget "$tmp/pace.json" "['end_s']")
printf 'arrived %d, sent %d in %d s: %.1f req/s (target 1000, within 1%%: %s)\n' "$arr" "$sent" "$PACE_S" \
    "$(awk -v n="$sent" -v d="$PACE_S" 'BEGIN {print n / d}')" \
    "$(awk -v n="$sent" -v d="$PACE_S" 'BEGIN {r = n / d; print (r >= 990 && r <= 1010) ? "yes" : "NO"}')"
printf 'send lag: p50 %s ms, p99 %s ms, max %s ms (target p99 < 1 ms); latency p50 %s ms, p99 %s ms; run ended at %s s\n' \
    "$(jget "$tmp/pace.json" "['send_lag_ms']['p50']")" "$(jget "$tmp/pace.json" "['send_lag_ms']['p99']")" \
    "$(jget "$tmp/pace.json" "['send_lag_ms']['max']")" "$(jget "$tmp/pace.json" "['latency_ms']['p50']")" \
    "$(jget "$tmp/pace.json" "['latency_ms']['p99']")" "$end"
echo "\"falling behind\" warnings: $(grep -c "falling behind" "$tmp/pace.err" || true)"

# ---- 3. streams -----------------------------------------------------------------------------
tokens=$((HOLD_S * 5))
cat >"$tmp/streams.ini" <<INI
[scenario]
name = bench-live-streams
duration = 1s
drain_limit = $((HOLD_S + 60))s
[client]
queue_capacity = 0
request_timeout = 0
retry_max_attempts = 1
[server]
max_running = 0
ttft = 10ms
prefill_per_token = 0
decode_per_token = 200ms
decode_batch_slope = 0
[class.bench]
arrival = burst 0s $STREAMS
prompt_tokens = const 12
completion_tokens = const $tokens
max_tokens = $tokens
[live]
model = bench
stream = yes
timeout = $((HOLD_S + 60))s
INI
echo
echo "== 3. $STREAMS concurrent streams held ${HOLD_S}s (one token / 200 ms, $tokens tokens each)"
start_mock "$tmp/streams.ini"
taskset -c 1 /usr/bin/time -f "%e %M" -o "$tmp/streams.time" "$BUILD/ratelab" live "$tmp/streams.ini" \
    --url "http://$addr" --quiet --json "$tmp/streams.json" >/dev/null 2>"$tmp/streams.err" || true
stop_mock
read -r wall rss <"$tmp/streams.time"
printf 'succeeded %s of %s (lost: %s), inflight max %s, wall %s s, ratelab live peak RSS %.1f MB\n' \
    "$(jget "$tmp/streams.json" "['requests']['succeeded']")" "$(jget "$tmp/streams.json" "['requests']['arrived']")" \
    "$(jget "$tmp/streams.json" "['requests']['arrived'] - d['requests']['succeeded']")" \
    "$(jget "$tmp/streams.json" "['attempts']['inflight_max']")" "$wall" "$(awk -v k="$rss" 'BEGIN {print k / 1024}')"
printf 'ttft p50 %s ms, p99 %s ms; itl p50 %s ms, p99 %s ms\n' \
    "$(jget "$tmp/streams.json" "['ttft_ms']['p50']")" "$(jget "$tmp/streams.json" "['ttft_ms']['p99']")" \
    "$(jget "$tmp/streams.json" "['itl_ms']['p50']")" "$(jget "$tmp/streams.json" "['itl_ms']['p99']")"
