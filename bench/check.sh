#!/usr/bin/env bash
# `retort check` on a few hundred migrations (issue 16), run by hand — never in CI:
#
#   bash bench/check.sh [N] [POSTGRES_URL] [MYSQL_URL]     # N default 300
#
# Generates N SQL migrations shaped like a real history (each a table and an index; every
# 3rd also adds a column with a default to an earlier table, every 7th a view), then times,
# each as a whole process with a warm compile cache, on SQLite, PostgreSQL and MariaDB:
#   upgrade   `retort upgrade` to head on a fresh database (the baseline)
#   check     `retort check --offline`: heads, artifacts, lint, and the round trip of all N
#             (upgrade, catalog snapshot, downgrade, snapshot, upgrade, snapshot each)
# and prints check / upgrade.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
n=${1:-300}
pg=${2:-postgres://postgres@127.0.0.1:5432/test}
my=${3:-mysql://root@127.0.0.1:3306/test}
retort="$root/target/release/retort"
work="$root/target/bench-check"
rm -rf "$work" && mkdir -p "$work/migrations"
cargo build --release -q -p retort-cli

python3 - "$work/migrations" "$n" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
prev = None
for i in range(1, n + 1):
    rid = 20260101000000 + i
    up = [f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, v INTEGER NOT NULL, note VARCHAR(40))",
          f"CREATE INDEX i{i} ON t{i} (v)"]
    down = []
    if i % 3 == 0 and i > 1:
        up.append(f"ALTER TABLE t{i - 1} ADD COLUMN extra{i} INTEGER DEFAULT 0")
        down.append(f"ALTER TABLE t{i - 1} DROP COLUMN extra{i}")
    if i % 7 == 0:
        up.append(f"CREATE VIEW w{i} AS SELECT id, v FROM t{i} WHERE v > 0")
        down.append(f"DROP VIEW w{i}")
    down.append(f"DROP TABLE t{i}")
    header = f"-- retort: parents = {prev or 'none'}\n-- retort: allow = index-without-concurrently\n"
    stem = f"{rid}_m{i}"
    with open(os.path.join(d, stem + ".up.sql"), "w") as f:
        f.write(header + ";\n".join(up) + ";\n")
    with open(os.path.join(d, stem + ".down.sql"), "w") as f:
        f.write(";\n".join(down) + ";\n")
    prev = rid
PY

now() { date +%s.%N; }
run() { # URL ARGS…: seconds for one retort process
    local url=$1; shift
    local t0; t0=$(now)
    (cd "$work" && DATABASE_URL="$url" "$retort" -q "$@" >/dev/null)
    python3 -c "print(f'{$(now) - $t0:.2f}')"
}
fresh() { # ENGINE: a fresh database's URL
    case $1 in
        sqlite) rm -f "$work/bench.db"; echo "sqlite://$work/bench.db" ;;
        postgres) psql -q "$pg" -c "DROP DATABASE IF EXISTS bench_check" -c "CREATE DATABASE bench_check" >/dev/null
                  echo "${pg%/*}/bench_check" ;;
        mysql) mariadb -u root -h 127.0.0.1 -e "DROP DATABASE IF EXISTS bench_check; CREATE DATABASE bench_check" >/dev/null
               echo "${my%/*}/bench_check" ;;
    esac
}

# Build the artifacts and fill the compile cache once.
(cd "$work" && DATABASE_URL="sqlite://$work/warm.db" "$retort" -q upgrade >/dev/null)
echo "engine      N  upgrade(s)  check(s)  check/upgrade"
for engine in sqlite postgres mysql; do
    up=$(run "$(fresh $engine)" upgrade)
    ck=$(run "$(fresh $engine)" check --offline)
    ratio=$(python3 -c "print(f'{$ck / $up:.1f}')")
    printf "%-9s %4d  %10s  %8s  %12s\n" "$engine" "$n" "$up" "$ck" "$ratio"
done
