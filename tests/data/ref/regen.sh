#!/usr/bin/env bash
# Regenerate the reference outputs that tests/check_sim's reference_outputs test
# compares `ratelab sim` against: the JSON report in full and the CSV's SHA-256,
# for every bundled scenario at its own seed and at seeds 1 and 2, and for each
# line of variants.txt (files v-NAME.json, v-NAME.csv).
# Usage: tests/data/ref/regen.sh BUILD/ratelab
# Regenerate only when a change is meant to alter results, and say which in the commit.
set -euo pipefail
bin=$(realpath "$1")
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../../.." && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
: > "$here/csv.sha256"
for f in "$top"/scenarios/*.ini; do
    b=$(basename "$f" .ini)
    for seed in default 1 2; do
        args=()
        [ "$seed" = default ] || args=(--seed "$seed")
        rc=0
        "$bin" sim "$f" "${args[@]}" --quiet --json "$here/$b.$seed.json" --csv "$tmp/$b.$seed.csv" \
            >/dev/null 2>&1 || rc=$?
        [ $rc -le 1 ] || { echo "regen: $b seed $seed: exit $rc" >&2; exit 1; }
        (cd "$tmp" && sha256sum "$b.$seed.csv") >> "$here/csv.sha256"
    done
done
while read -r name scen args; do
    case "$name" in ''|'#'*) continue ;; esac
    rc=0
    # shellcheck disable=SC2086 # args is a list of words on purpose
    "$bin" sim "$top/scenarios/$scen" $args --quiet --json "$here/v-$name.json" \
        --csv "$tmp/v-$name.csv" >/dev/null 2>&1 || rc=$?
    [ $rc -le 1 ] || { echo "regen: variant $name: exit $rc" >&2; exit 1; }
    (cd "$tmp" && sha256sum "v-$name.csv") >> "$here/csv.sha256"
done < "$here/variants.txt"
