#!/usr/bin/env bash
# Goal 4 of issue 31, by hand: a first Python / JavaScript migration on a fresh machine — the
# project already holds its runtime (`migrations/runtimes/`, as `retort build` leaves it), the
# compile cache is empty, the SQLite database new. Times `retort new --lang L`, `retort build`
# and `retort upgrade` together, with the quick first compile (default) and with
# RETORT_FIRST_COMPILE=optimized, then the same upgrade again on a fresh database once the
# background compile has filled the cache.
#
#   bash bench/first_run.sh [RUNTIMES_DIR]   # default: tests/polyglot/runtimes (built by the suite)
#
# RETORT_BIN: the binary (default target/release/retort, built here). BENCH_RUNS (default 3).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
runtimes=$(cd "${1:-tests/polyglot/runtimes}" && pwd)
if [ -z "${RETORT_BIN:-}" ]; then
    cargo build --release -q -p retort-cli
    RETORT_BIN=$root/target/release/retort
fi
runs=${BENCH_RUNS:-3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

first() { # lang mode -> seconds for new + build + upgrade on a fresh machine
    local lang=$1 mode=$2 d
    d=$(mktemp -d "$work/$lang-XXXX")
    mkdir -p "$d/migrations/runtimes"
    cp "$runtimes"/"${lang/js/javascript}"-*.wasm "$d/migrations/runtimes/"
    printf '[databases.app]\nurl = "sqlite://app.db"\nmigrations = "migrations"\n' > "$d/retort.toml"
    local start end
    start=$(date +%s.%N)
    (
        cd "$d"
        export RETORT_CACHE_DIR="$d/cache"
        [ "$mode" = optimized ] && export RETORT_FIRST_COMPILE=optimized
        "$RETORT_BIN" -q new --lang "$lang" "first" > /dev/null
        "$RETORT_BIN" -q build > /dev/null
        "$RETORT_BIN" -q upgrade > /dev/null 2>&1
    )
    end=$(date +%s.%N)
    printf '%.2f\n' "$(echo "$end - $start" | bc)"
}

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

echo "machine: $(nproc) cores; runtimes from $runtimes; medians of $runs"
echo "| language | quick first compile (default) | RETORT_FIRST_COMPILE=optimized | optimized ÷ quick |"
echo "|---|---|---|---|"
for lang in python js; do
    q=$(for _ in $(seq "$runs"); do first "$lang" quick; done | median)
    o=$(for _ in $(seq "$runs"); do first "$lang" optimized; done | median)
    echo "| $lang | ${q} s | ${o} s | $(echo "scale=2; $o / $q" | bc)× |"
done
