#!/usr/bin/env bash
# Issue 30's benchmark, run by hand — never in CI: one project's migrations on many targets.
#
#   bash bench/fleet.sh [TARGETS] [MIGRATIONS] [SCHEMAS]    # default 1000 20 500
#
# 1. TARGETS SQLite files × MIGRATIONS SQL migrations (a table and an index each):
#    `retort fleet upgrade --jobs 2` against a shell loop of `retort upgrade`, one process per
#    target (what users do today), each on fresh files.
# 2. Nothing pending: `fleet status` and a second `fleet upgrade` over the same files.
# 3. Nothing pending over SCHEMAS PostgreSQL schemas in one database (RETORT_TEST_POSTGRES_URL).
# 4. Peak memory (max RSS, /usr/bin/time) of `fleet upgrade` on TARGETS/10 and on TARGETS files:
#    it must not grow with the number of targets.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
n=${1:-1000}
m=${2:-20}
schemas=${3:-500}
pg=${RETORT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}

cargo build --release -q -p retort-cli
retort="$root/target/release/retort"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", a / b }'; }

mkdir -p "$work/project/migrations"
prev=""
for i in $(seq -w 1 "$m"); do
    { [ -n "$prev" ] && echo "-- retort: parents = 00$prev"
      echo "CREATE TABLE t$i (id INTEGER PRIMARY KEY, v TEXT); CREATE INDEX t${i}_v ON t$i (v);"
    } > "$work/project/migrations/00${i}_t$i.up.sql"
    prev=$i
    echo "DROP TABLE t$i;" > "$work/project/migrations/00${i}_t$i.down.sql"
done
(cd "$work/project" && DATABASE_URL="sqlite://$work/warm.db" "$retort" -q upgrade >/dev/null)

files() { # DIR COUNT: fresh empty SQLite files
    mkdir -p "$1"
    for i in $(seq 1 "$2"); do : > "$1/tenant_$i.db"; done
}
fleet() { (cd "$work/project" && "$retort" -q fleet "$@" >/dev/null) }

echo "machine: $(nproc) cores; $n SQLite targets x $m migrations; $schemas PostgreSQL schemas"

files "$work/loop" "$n"
t0=$(now)
for f in "$work"/loop/*.db; do
    (cd "$work/project" && DATABASE_URL="sqlite://$f" "$retort" -q upgrade >/dev/null)
done
t1=$(now)
loop=$(secs "$t0" "$t1")

files "$work/fleet" "$n"
t0=$(now)
fleet upgrade --targets "$work/fleet/*.db" --jobs 2 --run up
t1=$(now)
up=$(secs "$t0" "$t1")
echo "upgrade, $n targets x $m migrations: shell loop ${loop} s, fleet --jobs 2 ${up} s: $(ratio "$loop" "$up")x faster"

files "$work/fleet4" "$n"
t0=$(now); fleet upgrade --targets "$work/fleet4/*.db" --jobs 4 --run up4; t1=$(now)
up4=$(secs "$t0" "$t1")
echo "  fleet --jobs 4 ${up4} s: $(ratio "$loop" "$up4")x faster than the loop"

# The engine's floor: Python's sqlite3, one process, the same statements and a history row,
# a transaction per migration, one target after another.
t0=$(now)
python3 - "$work/floor" "$n" "$m" <<'PY'
import os, sqlite3, sys
d, n, m = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
os.makedirs(d)
for k in range(n):
    c = sqlite3.connect(f"{d}/t{k}.db", isolation_level=None)
    c.execute("CREATE TABLE h (rev TEXT PRIMARY KEY)")
    for i in range(m):
        c.execute("BEGIN")
        c.execute(f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, v TEXT)")
        c.execute(f"CREATE INDEX t{i}_v ON t{i} (v)")
        c.execute("INSERT INTO h VALUES (?)", (str(i),))
        c.execute("COMMIT")
    c.close()
PY
t1=$(now)
floor=$(secs "$t0" "$t1")
echo "  engine floor (python sqlite3, one target after another, a transaction per migration) ${floor} s: the loop is $(ratio "$loop" "$floor")x the floor, fleet --jobs 2 $(ratio "$up" "$floor")x"

# One transaction per target (`--transaction single`), for both.
files "$work/loop1" "$n"
t0=$(now)
for f in "$work"/loop1/*.db; do
    (cd "$work/project" && DATABASE_URL="sqlite://$f" "$retort" -q --transaction single upgrade >/dev/null)
done
t1=$(now)
loop1=$(secs "$t0" "$t1")
files "$work/fleet1" "$n"
t0=$(now); (cd "$work/project" && "$retort" -q --transaction single fleet upgrade --targets "$work/fleet1/*.db" --jobs 2 --run one >/dev/null); t1=$(now)
up1=$(secs "$t0" "$t1")
echo "upgrade --transaction single: shell loop ${loop1} s, fleet --jobs 2 ${up1} s: $(ratio "$loop1" "$up1")x faster"

t0=$(now); fleet status --targets "$work/fleet/*.db" --jobs 2; t1=$(now)
echo "nothing pending, $n SQLite targets: fleet status $(secs "$t0" "$t1") s"
t0=$(now); fleet upgrade --targets "$work/fleet/*.db" --jobs 2 --run again; t1=$(now)
echo "nothing pending, $n SQLite targets: fleet upgrade $(secs "$t0" "$t1") s"

# PostgreSQL: SCHEMAS tenant schemas in a database of their own.
db="retort_fleet_bench"
psql -q "$pg" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
pgdb="${pg%/*}/$db"
for i in $(seq 1 "$schemas"); do echo "CREATE SCHEMA tenant_$i;"; done | psql -q "$pgdb" >/dev/null
for i in $(seq 1 "$schemas"); do echo "$pgdb?options[search_path]=tenant_$i"; done > "$work/schemas.txt"
t0=$(now); fleet upgrade --targets "$work/schemas.txt" --jobs 4 --jobs-per-server 4 --run pg; t1=$(now)
echo "upgrade, $schemas PostgreSQL schemas x $m migrations: fleet --jobs 4 $(secs "$t0" "$t1") s"
t0=$(now); fleet status --targets "$work/schemas.txt" --jobs 4; t1=$(now)
echo "nothing pending, $schemas PostgreSQL schemas: fleet status $(secs "$t0" "$t1") s"
t0=$(now); fleet upgrade --targets "$work/schemas.txt" --jobs 4 --run pg-again; t1=$(now)
echo "nothing pending, $schemas PostgreSQL schemas: fleet upgrade $(secs "$t0" "$t1") s"
psql -q "$pg" -c "DROP DATABASE $db WITH (FORCE)" >/dev/null

# Peak memory against the number of targets.
small=$((n / 10))
files "$work/mem-small" "$small"
files "$work/mem-large" "$n"
rss() { # GLOB: max RSS in MB of one fleet upgrade
    (cd "$work/project" && /usr/bin/time -f '%M' "$retort" -q fleet upgrade --targets "$1" --jobs 2 \
        --run "mem-$RANDOM" 2>&1 >/dev/null | tail -n1 | awk '{ printf "%.1f", $1 / 1024 }')
}
echo "peak memory: $small targets $(rss "$work/mem-small/*.db") MB, $n targets $(rss "$work/mem-large/*.db") MB"
