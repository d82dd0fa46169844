#!/usr/bin/env bash
# A/B of two retort binaries on what issue 13's containment fixes or costs (run by hand, never
# in CI):
#
#   bash bench/containment_ab.sh OLD_RETORT NEW_RETORT [ROWS] [ROUNDS] [MIGRATIONS]
#
# 1. MariaDB: bench/guests' batched data migration after a DDL statement, on ROWS (default
#    20000) rows — the rows after an implicit commit used to be committed one by one.
# 2. MIGRATIONS (default 300) chained schema migrations to a fresh database, warm compile
#    cache, on SQLite and PostgreSQL — what the per-migration bookkeeping check and the lock's
#    own connection cost.
# Rounds alternate the binaries; prints the median wall time of each and new / old.
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 rows=${3:-20000} rounds=${4:-3} migrations=${5:-300}
pg=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
my=${BENCH_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cfg="$work/build.toml"
printf '[databases.bench]\nurl = "sqlite://unused.db"\nmigrations = "%s/bench/guests"\n' "$root" > "$cfg"
CARGO_TARGET_DIR="$root/target/guests" "$new" --config "$cfg" -q build >/dev/null

# Chained schema migrations from the template artifacts (as bench/harness does).
python3 - "$root/bench/guests" "$work/schema/migrations" "$migrations" <<'PY'
import os, sys
guests, out, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
os.makedirs(out)
root = open(f"{guests}/schema_root.wasm", "rb").read()
child = open(f"{guests}/schema_child.wasm", "rb").read()
for i in range(1, n + 1):
    ident = f"{i:014}".encode()
    b = root if i == 1 else child.replace(b"PARENTHOLDER01", f"{i - 1:014}".encode())
    open(f"{out}/{i:014}_bench.wasm", "wb").write(b.replace(b"IDPLACEHOLDER1", ident))
PY

my_db=retort_bench_ab
seed_mysql() {
    mariadb -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS $my_db; CREATE DATABASE $my_db;
        CREATE TABLE $my_db.bulk (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, s VARCHAR(40) NOT NULL, a BIGINT, b VARCHAR(80));
        USE $my_db; INSERT INTO bulk (id, n, s) SELECT seq, seq % 1000, CONCAT('row ', seq) FROM seq_1_to_$rows;"
}
fresh() { # dialect -> url
    case $1 in
        sqlite) rm -f "$work/s.db"; echo "sqlite://$work/s.db" ;;
        postgres) psql -q "$pg" -c "DROP DATABASE IF EXISTS retort_bench_ab" -c "CREATE DATABASE retort_bench_ab" >/dev/null
                  echo "${pg%/*}/retort_bench_ab" ;;
    esac
}
timed() { local t0 t1; t0=$(date +%s.%N); "$@" >/dev/null 2>&1; t1=$(date +%s.%N); echo "$t1 - $t0" | bc; }

data_project="$work/data"
mkdir -p "$data_project/migrations"
cp bench/guests/data_after_ddl.wasm "$data_project/migrations/20270101000003_after_ddl.wasm"
run_data() { seed_mysql; (cd "$data_project" && timed env RETORT_CACHE_DIR="$work/cache" "$1" -q --database-url "${my%/*}/$my_db" upgrade); }
run_schema() { local url; url=$(fresh "$2"); (cd "$work/schema" && timed env RETORT_CACHE_DIR="$work/cache" "$1" -q --database-url "$url" upgrade); }

median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
report() { # name old-times new-times
    local o n
    o=$(printf '%s\n' $2 | median) n=$(printf '%s\n' $3 | median)
    printf '| %s | %.2f s | %.2f s | %.2f× |\n' "$1" "$o" "$n" "$(echo "$n / $o" | bc -l)"
}

run_schema "$new" sqlite >/dev/null # warm the compile cache
echo "machine: $(nproc) cores; rows=$rows rounds=$rounds migrations=$migrations"
echo "| case | old | new | new / old |"
echo "|---|---|---|---|"
for case in data schema-sqlite schema-postgres; do
    o="" n=""
    for _ in $(seq "$rounds"); do
        case $case in
            data) o="$o $(run_data "$old")"; n="$n $(run_data "$new")" ;;
            schema-sqlite) o="$o $(run_schema "$old" sqlite)"; n="$n $(run_schema "$new" sqlite)" ;;
            schema-postgres) o="$o $(run_schema "$old" postgres)"; n="$n $(run_schema "$new" postgres)" ;;
        esac
    done
    report "$case" "$o" "$n"
done
