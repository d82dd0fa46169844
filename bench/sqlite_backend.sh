#!/usr/bin/env bash
# A/B of two retort binaries on SQLite's hot paths (run by hand, never in CI):
#
#   bash bench/sqlite_backend.sh OLD_RETORT NEW_RETORT [ROWS] [ROUNDS]
#
# Each round, alternating the binaries, upgrades a fresh SQLite file of ROWS (default
# 100000) rows with each benchmark data migration of bench/guests (row by row: one host call
# per row; batched: one per 1000 rows): the data path is where the SQLite backend's design
# shows. The compile cache is warmed first. Prints the median wall time of each binary and
# their ratio (new / old).
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 rows=${3:-100000} rounds=${4:-5}
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
cfg="$work/build.toml"
printf '[databases.bench]\nurl = "sqlite://unused.db"\nmigrations = "%s/bench/guests"\n' "$root" > "$cfg"
CARGO_TARGET_DIR="$root/target/guests" "$new" --config "$cfg" -q build >/dev/null

seed() {
    python3 - "$1" "$rows" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.executescript(f"""CREATE TABLE bulk (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, s VARCHAR(40) NOT NULL, a BIGINT, b VARCHAR(80));
WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {sys.argv[2]})
INSERT INTO bulk (id, n, s) SELECT x, x % 1000, 'row ' || x FROM g;""")
c.commit()
PY
}

verify() {
    python3 - "$1" "$rows" <<'PY'
import sqlite3, sys
n = sqlite3.connect(sys.argv[1]).execute(
    "SELECT COUNT(*) FROM bulk WHERE a = n * 2 + LENGTH(s) AND b = s || '-' || CAST(n AS TEXT)").fetchone()[0]
assert n == int(sys.argv[2]), f"only {n} rows migrated"
PY
}

run() { # binary artifact -> seconds
    local bin=$1 artifact=$2 id=$3 project="$work/p-$RANDOM"
    mkdir -p "$project/migrations"
    cp "bench/guests/$artifact.wasm" "$project/migrations/${id}_$artifact.wasm"
    seed "$project/db.sqlite"
    local t0 t1
    t0=$(date +%s.%N)
    (cd "$project" && RETORT_CACHE_DIR="$work/cache" "$bin" -q --database-url "sqlite://$project/db.sqlite" upgrade >/dev/null)
    t1=$(date +%s.%N)
    verify "$project/db.sqlite"
    rm -rf "$project"
    echo "$t1 - $t0" | bc
}

median() { sort -n | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

echo "rows: $rows, rounds: $rounds, machine: $(nproc) cores, $(uname -sr)"
echo "| data migration | old (s) | new (s) | new / old |"
echo "|---|---|---|---|"
for pair in "data_row 20270101000001" "data_batched 20270101000002"; do
    set -- $pair
    rows_saved=$rows; rows=10; run "$old" "$1" "$2" >/dev/null; run "$new" "$1" "$2" >/dev/null; rows=$rows_saved
    : > "$work/old.txt"; : > "$work/new.txt"
    for _ in $(seq "$rounds"); do
        run "$old" "$1" "$2" >> "$work/old.txt"
        run "$new" "$1" "$2" >> "$work/new.txt"
    done
    o=$(median < "$work/old.txt"); n=$(median < "$work/new.txt")
    echo "| $1 | $o | $n | $(echo "scale=2; $n / $o" | bc) |"
done
