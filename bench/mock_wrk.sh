#!/usr/bin/env bash
# Throughput of `ratelab mock` against nginx serving a fixed 429, same machine,
# same run, one worker each: the server pinned to CPU 0, wrk (one thread) to CPU 1.
#   1. mock, limits off: every answer a 200 chat completion (16 tokens, no latency)
#   2. mock, limits on: requests_per_minute = 1, so every answer (after the first) a 429
#   3. nginx (Debian nginx-light), `return 429` with the same body and headers
# The three run in turn, ROUNDS times; the table shows each server's median.
# Requests per second depend on how much of CPU 0 the server gets, which other
# load on a shared machine steals; requests per CPU-second of the server
# process (utime + stime from /proc, nginx's worker) does not, so both are shown.
# Each run also prints wrk's CPU time and "others": the machine's busy CPU time
# during the run (/proc/stat) less the server's and wrk's, so a run that shared
# the machine says so.
# Usage: bench/mock_wrk.sh [DURATION=10s] [CONNECTIONS=100] [ROUNDS=3]
# Needs wrk and nginx; builds an optimised ratelab in build-bench/ (no sanitizers).
set -euo pipefail
cd "$(dirname "$0")/.."
DUR=${1:-10s}
CONNS=${2:-100}
ROUNDS=${3:-3}
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

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
# Busy ticks of the whole machine (all CPUs: user, nice, system, irq, softirq, steal).
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
run_wrk() { # label url server-pid
    local c0 c1 b0 b1 rps non2xx total per_cpu wrk_s others
    c0=$(cpu_ticks "$3")
    b0=$(busy_ticks)
    TIMEFORMAT='%U %S'
    { time taskset -c 1 wrk -t1 -c"$CONNS" -d"$DUR" --latency -s bench/mock_post.lua "$2" \
        >"$tmp/run.txt"; } 2>"$tmp/wrk.time"
    c1=$(cpu_ticks "$3")
    b1=$(busy_ticks)
    wrk_s=$(awk '{print $1 + $2}' "$tmp/wrk.time")
    # What neither the server nor wrk used: other load on the machine during the run.
    others=$(awk -v b=$((b1 - b0)) -v s=$((c1 - c0)) -v w="$wrk_s" -v hz="$(getconf CLK_TCK)" \
        'BEGIN {o = (b - s) / hz - w; printf "%.1f", o < 0 ? 0 : o}')
    rps=$(grep -oP 'Requests/sec:\s+\K[0-9.]+' "$tmp/run.txt")
    non2xx=$(grep -oP 'Non-2xx or 3xx responses: \K[0-9]+' "$tmp/run.txt" || echo 0)
    total=$(grep -oP '[0-9]+(?= requests in)' "$tmp/run.txt")
    per_cpu=$(awk -v n="$total" -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.0f", n * hz / t}')
    echo "$rps" >>"$tmp/$1.rps"
    echo "$per_cpu" >>"$tmp/$1.cpu"
    printf '%-16s %9.0f req/s %7s req/CPU-s  server CPU %5.2f s  wrk CPU %5.2f s  others %4s CPU-s  p50 %-8s p99 %-8s non-2xx %s of %s\n' \
        "$1" "$rps" "$per_cpu" "$(awk -v t=$((c1 - c0)) -v hz="$(getconf CLK_TCK)" 'BEGIN {print t / hz}')" \
        "$wrk_s" "$others" \
        "$(awk '$1 == "50%" {print $2}' "$tmp/run.txt")" "$(awk '$1 == "99%" {print $2}' "$tmp/run.txt")" \
        "$non2xx" "$total"
}
median() { sort -n "$1" | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

echo "machine: $(nproc) cores, $(lscpu | sed -n 's/^Model name: *//p'), Debian $(cat /etc/debian_version)"
echo "wrk -t1 -c$CONNS -d$DUR, server on CPU 0, wrk on CPU 1"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
mkdir -p "$tmp/nginx/tmp"
sed "s/@PORT@/$port/" bench/mock_nginx.conf >"$tmp/nginx/nginx.conf"
for round in $(seq "$ROUNDS"); do
    echo "-- round $round"
    start_mock "$tmp/off.ini"
    run_wrk mock-limits-off "http://$addr/v1/chat/completions" "$pid"
    kill -TERM "$pid"; wait "$pid" || true; pid=

    start_mock "$tmp/on.ini"
    run_wrk mock-limits-on "http://$addr/v1/chat/completions" "$pid"
    kill -TERM "$pid"; wait "$pid" || true; pid=

    taskset -c 0 "$NGINX" -p "$tmp/nginx" -c nginx.conf -e stderr &
    pid=$!
    for _ in $(seq 100); do
        curl -s -o /dev/null "http://127.0.0.1:$port/" && break
        sleep 0.05
    done
    run_wrk nginx-429 "http://127.0.0.1:$port/v1/chat/completions" "$(pgrep -P "$pid" | head -1)"
    kill -QUIT "$pid"; wait "$pid" || true; pid=
done

row() { # label file-stem
    awk -v label="$1" -v r="$(median "$tmp/$2.rps")" -v c="$(median "$tmp/$2.cpu")" \
        -v nr="$(median "$tmp/nginx-429.rps")" -v nc="$(median "$tmp/nginx-429.cpu")" \
        'BEGIN {printf "| %s | %.0f | %.0f%% | %.0f | %.0f%% |\n", label, r, 100 * r / nr, c, 100 * c / nc}'
}
echo
echo "Medians of $ROUNDS rounds:"
echo
echo "| server | requests/s | vs nginx | requests per server CPU-second | vs nginx |"
echo "| --- | ---: | ---: | ---: | ---: |"
row "ratelab mock, limits off (200)" mock-limits-off
row "ratelab mock, limits on (429)" mock-limits-on
row "nginx 1.22, fixed 429" nginx-429
