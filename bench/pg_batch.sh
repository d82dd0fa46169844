#!/usr/bin/env bash
# A/B of two retort binaries on PostgreSQL's batched data path (run by hand, never in CI):
#
#   bash bench/pg_batch.sh OLD_RETORT NEW_RETORT [ROWS] [ROUNDS] [POSTGRES_URL]
#
# Each round, alternating the binaries, upgrades a freshly seeded database of ROWS (default
# 100000) rows with bench/guests' batched data migration (execute-batch of 1,000 rows per host
# call) and the row-by-row one, warm compile cache. Prints the median wall time of each binary
# and their ratio (new / old).
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 rows=${3:-100000} rounds=${4:-5} pg=${5:-postgres://postgres@127.0.0.1:5432/test}
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
db=retort_bench_ab
base=${pg%/*}

cfg="$work/build.toml"
printf '[databases.bench]\nurl = "sqlite://unused.db"\nmigrations = "%s/bench/guests"\n' "$root" > "$cfg"
CARGO_TARGET_DIR="$root/target/guests" "$new" --config "$cfg" -q build >/dev/null

seed() {
    psql -q "$pg" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
    psql -q "$base/$db" >/dev/null <<SQL
CREATE TABLE bulk (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, s VARCHAR(40) NOT NULL, a BIGINT, b VARCHAR(80));
INSERT INTO bulk (id, n, s) SELECT g, g % 1000, 'row ' || g FROM generate_series(1, $1) g;
VACUUM ANALYZE bulk;
SQL
}

run() { # binary artifact id rows -> seconds
    local bin=$1 artifact=$2 id=$3 n=$4 project="$work/p-$RANDOM"
    mkdir -p "$project/migrations"
    cp "bench/guests/$artifact.wasm" "$project/migrations/${id}_$artifact.wasm"
    seed "$n"
    local t0 t1
    t0=$(date +%s.%N)
    (cd "$project" && RETORT_CACHE_DIR="$work/cache" "$bin" -q --database-url "$base/$db" upgrade >/dev/null)
    t1=$(date +%s.%N)
    local ok
    ok=$(psql -tA "$base/$db" -c "SELECT COUNT(*) FROM bulk WHERE a = n * 2 + LENGTH(s) AND b = s || '-' || n::text")
    [ "$ok" = "$n" ] || { echo "only $ok of $n rows migrated" >&2; exit 1; }
    rm -rf "$project"
    echo "$t1 - $t0" | bc
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "rows: $rows, rounds: $rounds, machine: $(nproc) cores, $(uname -sr), PostgreSQL $(psql -tA "$pg" -c 'SHOW server_version')"
echo "| data migration | old (s) | new (s) | new / old |"
echo "|---|---|---|---|"
for pair in "data_batched 20270101000002" "data_row 20270101000001"; do
    set -- $pair
    run "$old" "$1" "$2" 10 >/dev/null
    run "$new" "$1" "$2" 10 >/dev/null
    : > "$work/old.txt"; : > "$work/new.txt"
    for _ in $(seq "$rounds"); do
        run "$old" "$1" "$2" "$rows" >> "$work/old.txt"
        run "$new" "$1" "$2" "$rows" >> "$work/new.txt"
    done
    o=$(median < "$work/old.txt"); n=$(median < "$work/new.txt")
    echo "| $1 | $o | $n | $(echo "scale=2; $n / $o" | bc) |"
done
psql -q "$pg" -c "DROP DATABASE IF EXISTS $db" >/dev/null
