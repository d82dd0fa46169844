#!/usr/bin/env bash
# Data migrations against the native floor and across languages (issue 31, goal 5), run by
# hand — never in CI:
#
#   bash bench/data.sh [ROWS]        # default 200000
#
# The same data migration (read each row of `bulk` into the language's row type, derive two
# columns, write them back): a native Rust loop on rusqlite (bench/data-native, SQLite only),
# Retort's Rust guest row by row (`execute` per row, bench/guests/data_row) and batched
# (`execute-batch` per 1000, bench/guests/data_batched), and the batched Python and
# JavaScript migrations (bench/polyglot), on SQLite, PostgreSQL and MariaDB. Time is the
# migration's own: Retort's recorded duration (retort_history.duration_ms: from BEGIN to
# before COMMIT, instantiation and checks included), the native loop's from BEGIN to before
# COMMIT; warm compile cache; a fresh table per run; medians of BENCH_RUNS (default 3).
# BENCH_ENGINES (default "sqlite postgres mysql"), BENCH_PG_URL, BENCH_MYSQL_URL; RETORT_BIN
# (default: a release build); BENCH_VARIANTS (default "rust-row rust-batched python
# javascript"). BENCH_PY_RUNTIME=FILE adds a row "python-alt": the same Python
# artifact on another build of its runtime (e.g. one with an earlier helper), through
# bench/retarget_runtime.py. Needs componentize-py / componentize-js (see .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
rows=${1:-200000}
runs=${BENCH_RUNS:-3}
engines=${BENCH_ENGINES:-sqlite postgres mysql}
pg=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
my=${BENCH_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}
export RETORT_COMPONENTIZE_PY=${RETORT_COMPONENTIZE_PY:-$root/target/py-guest-venv/bin/componentize-py}
export RETORT_COMPONENTIZE_JS=${RETORT_COMPONENTIZE_JS:-$root/target/js-guest-tools/node_modules/@bytecodealliance/componentize-js/src/cli.js}
if [ -z "${RETORT_BIN:-}" ]; then
    cargo build --release -q -p retort-cli
    RETORT_BIN=$root/target/release/retort
fi
CARGO_TARGET_DIR=$root/target/bench-native cargo build --release -q --manifest-path bench/data-native/Cargo.toml
native=$root/target/bench-native/release/data-native

work=$root/target/bench-data
rm -rf "$work" && mkdir -p "$work"
export RETORT_CACHE_DIR=$work/cache
# Steady state: the warm-up run compiles a Python or JavaScript runtime with Cranelift into
# the fresh cache. By default a first compile is the quick tier's, and Cranelift's follows in
# a background thread that a 10-row warm-up ends before it finishes: every timed run was then
# on the quick tier, with a background compile competing for the cores.
export RETORT_FIRST_COMPILE=${RETORT_FIRST_COMPILE:-optimized}
cfg=$work/build.toml
for src in guests polyglot; do
    printf '[databases.a]\nurl = "sqlite://unused.db"\nmigrations = "%s/bench/%s"\n' "$root" "$src" > "$cfg"
    # --force: a script artifact otherwise stays on the runtime it was first built on, and
    # the runtime of this checkout's helpers is the one to measure.
    CARGO_TARGET_DIR="$root/target/guests" "$RETORT_BIN" --config "$cfg" -q build --force
done
declare -A artifact=(
    [rust-row]=$root/bench/guests/data_row.wasm
    [rust-batched]=$root/bench/guests/data_batched.wasm
    [python]=$root/bench/polyglot/20270101000002_data_batched_py.wasm
    [javascript]=$root/bench/polyglot/20270101000002_data_batched_js.wasm
)
variants=${BENCH_VARIANTS:-rust-row rust-batched python javascript}
if [ -n "${BENCH_PY_RUNTIME:-}" ]; then
    artifact[python-alt]=${artifact[python]}
    variants="$variants python-alt"
fi
for v in $variants; do
    mkdir -p "$work/$v/migrations"
    name=$(basename "${artifact[$v]}")
    case $v in rust-row) name=20270101000001_data_row.wasm ;; rust-batched) name=20270101000002_data_batched.wasm ;; esac
    cp "${artifact[$v]}" "$work/$v/migrations/$name"
    case $v in
    python | javascript) cp -R "$root/bench/polyglot/runtimes" "$work/$v/migrations/runtimes" ;;
    python-alt) python3 bench/retarget_runtime.py "$work/$v/migrations/$name" "$BENCH_PY_RUNTIME" >/dev/null ;;
    esac
done

table='CREATE TABLE bulk (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, s VARCHAR(40) NOT NULL, a BIGINT, b VARCHAR(80))'
# A fresh `bulk` of $2 rows on engine $1; prints the URL Retort reaches it by.
fresh() {
    local engine=$1 n=$2
    case $engine in
    sqlite)
        rm -f "$work/bulk.db"
        sqlite3 "$work/bulk.db" "$table; WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < $n) INSERT INTO bulk (id, n, s) SELECT x, x % 1000, 'row ' || x FROM g;"
        echo "sqlite://$work/bulk.db" ;;
    postgres)
        psql -q "$pg" -c "DROP DATABASE IF EXISTS bench_data" -c "CREATE DATABASE bench_data" >/dev/null 2>&1
        local url=${pg%/*}/bench_data
        psql -q "$url" -c "$table" -c "INSERT INTO bulk (id, n, s) SELECT g, g % 1000, 'row ' || g FROM generate_series(1, $n) g" -c "VACUUM ANALYZE bulk" -c "CHECKPOINT" >/dev/null
        echo "$url" ;;
    mysql)
        mariadb -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS bench_data; CREATE DATABASE bench_data"
        mariadb -h 127.0.0.1 -u root bench_data -e "$table; INSERT INTO bulk (id, n, s) SELECT seq, seq % 1000, CONCAT('row ', seq) FROM seq_1_to_$n; ANALYZE TABLE bulk" >/dev/null
        echo "${my%/*}/bench_data" ;;
    esac
}
# $1 engine, $2 URL, $3 SQL: the single value it selects.
scalar() {
    case $1 in
    sqlite) sqlite3 "${2#sqlite://}" "$3" ;;
    postgres) psql -tA "$2" -c "$3" ;;
    mysql) mariadb -N -h 127.0.0.1 -u root bench_data -e "$3" ;;
    esac
}
# One timed run of variant $2 on engine $1 over $3 rows: milliseconds.
run() {
    local engine=$1 v=$2 n=$3 url ms
    url=$(fresh "$engine" "$n")
    if [ "$v" = native ]; then
        ms=$("$native" "${url#sqlite://}")
    else
        # Its warnings (a superuser URL) once per run would bury the table; a failure shows.
        (cd "$work/$v" && "$RETORT_BIN" -q --database-url "$url" upgrade >/dev/null 2>"$work/upgrade.err") ||
            { cat "$work/upgrade.err" >&2; exit 1; }
        ms=$(scalar "$engine" "$url" "SELECT duration_ms FROM retort_history")
    fi
    local ok
    ok=$(scalar "$engine" "$url" "SELECT COUNT(*) FROM bulk WHERE a = n * 2 + LENGTH(s) AND b = CONCAT(s, '-', n)" 2>/dev/null ||
        scalar "$engine" "$url" "SELECT COUNT(*) FROM bulk WHERE a = n * 2 + LENGTH(s) AND b = s || '-' || n")
    [ "$ok" = "$n" ] || { echo "$engine/$v: $ok of $n rows derived" >&2; exit 1; }
    echo "$ms"
}
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }

echo "machine: $(nproc) cores; $("$RETORT_BIN" --version); rows: $rows; medians of $runs"
for engine in $engines; do
    list=$variants
    [ "$engine" = sqlite ] && list="native $list"
    for v in $list; do run "$engine" "$v" 10 >/dev/null; done # compile cache, page cache
    declare -A ms=()
    for v in $list; do ms[$v]=""; done
    for _ in $(seq "$runs"); do
        for v in $list; do ms[$v]+="$(run "$engine" "$v" "$rows") "; done
    done
    printf '\n%s\n%-13s %10s %12s %12s %12s\n' "$engine" variant "ms" "rows/s" "÷ native" "÷ rust-batched"
    declare -A med=()
    for v in $list; do med[$v]=$(echo "${ms[$v]}" | tr ' ' '\n' | grep . | median); done
    for v in $list; do
        m=${med[$v]}
        rate=$(echo "$rows * 1000 / $m" | bc)
        vs_native=-
        [ -n "${med[native]:-}" ] && vs_native=$(echo "scale=2; ${med[native]} / $m" | bc)
        vs_rust=$(echo "scale=2; ${med[rust-batched]} / $m" | bc)
        printf '%-13s %10s %12s %12s %12s\n' "$v" "$m" "$rate" "$vs_native" "$vs_rust"
    done
    unset ms med
done
