#!/usr/bin/env bash
# A/B of two retort binaries on what issue 25's state-based containment costs (run by hand,
# never in CI):
#
#   bash bench/containment_state.sh OLD_RETORT NEW_RETORT [MIGRATIONS] [ROWS] [ROUNDS]
#
# On SQLite, PostgreSQL and MariaDB:
# 1. schema: MIGRATIONS (default 200) plain SQL migrations of a table and an index each, to a
#    fresh database, one transaction per migration — what the per-migration verification
#    (session reset, deferred work, read-back, MariaDB's transaction state after each
#    statement) costs;
# 2. data: bench/guests' batched data migration (read each row of ROWS, default 100000,
#    derive two columns, write back through execute-batch).
# Warm compile cache; rounds (default 3) alternate the binaries; prints the median wall time of
# each and new / old. Needs psql, mariadb and python3. BENCH_ENGINES / BENCH_CASES narrow the
# run (e.g. BENCH_ENGINES=postgres BENCH_CASES=schema).
set -euo pipefail
cd "$(dirname "$0")/.."
old=$1 new=$2 migrations=${3:-200} rows=${4:-100000} rounds=${5:-3}
pg=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
my=${BENCH_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}
root=$(pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
db=retort_bench_state

# The data migration, built once.
cfg="$work/build.toml"
printf '[databases.bench]\nurl = "sqlite://unused.db"\nmigrations = "%s/bench/guests"\n' "$root" > "$cfg"
CARGO_TARGET_DIR="$root/target/guests" "$new" --config "$cfg" -q build >/dev/null
mkdir -p "$work/data/migrations"
cp bench/guests/data_batched.wasm "$work/data/migrations/20270101000002_data_batched.wasm"

# MIGRATIONS chained SQL migrations, built once (their runtime is the same in both binaries).
python3 - "$work/schema/migrations" "$migrations" <<'PY'
import os, sys
out, n = sys.argv[1], int(sys.argv[2])
os.makedirs(out)
for i in range(1, n + 1):
    parent = "none" if i == 1 else f"{i - 1:014}"
    with open(f"{out}/{i:014}_t{i}.up.sql", "w") as f:
        f.write(f"-- retort: parents = {parent}\n"
                f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, v INTEGER);\n"
                f"CREATE INDEX t{i}_v ON t{i} (v);\n")
PY
printf '[databases.bench]\nurl = "${DATABASE_URL}"\nmigrations = "migrations"\n' > "$work/schema/retort.toml"
printf '[databases.bench]\nurl = "${DATABASE_URL}"\nmigrations = "migrations"\n' > "$work/data/retort.toml"
(cd "$work/schema" && DATABASE_URL="sqlite://$work/unused.db" "$new" -q build >/dev/null)

fresh() { # engine -> url of an empty database
    case $1 in
        sqlite) rm -f "$work/s.db"; echo "sqlite://$work/s.db" ;;
        postgres) psql -q "$pg" -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db" >/dev/null
                  echo "${pg%/*}/$db" ;;
        mysql) mariadb -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS $db; CREATE DATABASE $db"
               echo "${my%/*}/$db" ;;
    esac
}
seed() { # engine url: the bulk table with $rows rows
    case $1 in
        sqlite) python3 - "${2#sqlite://}" "$rows" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.execute("CREATE TABLE bulk (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, s TEXT NOT NULL, a INTEGER, b TEXT)")
c.execute("WITH RECURSIVE r(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM r WHERE i < ?) "
          "INSERT INTO bulk (id, n, s) SELECT i, i % 1000, 'row ' || i FROM r", (int(sys.argv[2]),))
c.commit()
PY
        ;;
        postgres) psql -q "$2" -c "CREATE TABLE bulk (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, s TEXT NOT NULL, a BIGINT, b TEXT);
                  INSERT INTO bulk (id, n, s) SELECT i, i % 1000, 'row ' || i FROM generate_series(1, $rows) i" >/dev/null ;;
        mysql) mariadb -h 127.0.0.1 -u root "$db" -e "CREATE TABLE bulk (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, s VARCHAR(40) NOT NULL, a BIGINT, b VARCHAR(80));
               INSERT INTO bulk (id, n, s) SELECT seq, seq % 1000, CONCAT('row ', seq) FROM seq_1_to_$rows" ;;
    esac
}
timed() { # a run that fails is not a time
    local t0 t1; t0=$(date +%s.%N)
    "$@" >/dev/null 2>"$work/err" || { echo "failed: $*" >&2; cat "$work/err" >&2; exit 1; }
    t1=$(date +%s.%N); echo "$t1 - $t0" | bc
}
run() { # binary case engine
    local url; url=$(fresh "$3")
    [ "$2" = data ] && seed "$3" "$url"
    (cd "$work/$2" && timed env RETORT_CACHE_DIR="$work/cache" DATABASE_URL="$url" "$1" -q upgrade)
    verify "$2" "$3" "$url"
}
verify() { # case engine url: every migration applied, every row derived
    local want sql
    case $1 in
        schema) want=$migrations; sql="SELECT COUNT(*) FROM retort_history WHERE state = 'applied'" ;;
        data) want=$rows; sql="SELECT COUNT(*) FROM bulk WHERE a IS NOT NULL AND b IS NOT NULL" ;;
    esac
    local got
    case $2 in
        sqlite) got=$(python3 -c "import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute(sys.argv[2]).fetchone()[0])" "${3#sqlite://}" "$sql") ;;
        postgres) got=$(psql -qtA "$3" -c "$sql") ;;
        mysql) got=$(mariadb -h 127.0.0.1 -u root -N "$db" -e "$sql") ;;
    esac
    [ "$got" = "$want" ] || { echo "$1 on $2: $got of $want done" >&2; exit 1; }
}
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
report() { # name old-times new-times
    local o n
    o=$(printf '%s\n' $2 | median) n=$(printf '%s\n' $3 | median)
    printf '| %s | %.2f s | %.2f s | %.2f× |\n' "$1" "$o" "$n" "$(echo "$n / $o" | bc -l)"
}

engines=${BENCH_ENGINES:-sqlite postgres mysql}
cases=${BENCH_CASES:-schema data}
for engine in $engines; do # warm the compile cache
    run "$new" schema "$engine" >/dev/null
    run "$new" data "$engine" >/dev/null
done
echo "machine: $(nproc) cores; migrations=$migrations rows=$rows rounds=$rounds"
echo "| case | old | new | new / old |"
echo "|---|---|---|---|"
for case in $cases; do
    for engine in $engines; do
        o="" n=""
        for _ in $(seq "$rounds"); do
            o="$o $(run "$old" "$case" "$engine")"
            n="$n $(run "$new" "$case" "$engine")"
        done
        report "$case-$engine" "$o" "$n"
    done
done
