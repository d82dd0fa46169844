#!/usr/bin/env bash
# Guest languages side by side (issue 7), run by hand — never in CI:
#
#   bash bench/languages.sh [POSTGRES_URL]     # default postgres://postgres@127.0.0.1:5432/test
#
# The same batched data migration (bench/guests/data_batched, bench/polyglot/*) in Rust,
# Python and JavaScript: artifact size, first compile (empty compile cache), warm start
# (`retort heads`: load from the cache + instantiate + metadata), and a 100,000-row data
# migration on SQLite and PostgreSQL. Python and JavaScript are script artifacts on their
# shared runtime (built once per machine into bench/polyglot/runtimes/), so "size" is the
# artifact and "1st compile" compiles the runtime. Needs componentize-py / componentize-js
# (see .ci/run; RETORT_COMPONENTIZE_PY / RETORT_COMPONENTIZE_JS). BENCH_ROWS overrides the row
# count; RETORT_BIN the runner (default: a release build). BENCH_JS_RUNTIME=FILE adds a row
# "javascript-alt": the same JavaScript artifact on another build of its runtime (e.g. one made
# with another componentize-js), through bench/retarget_runtime.py.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
pg=${1:-postgres://postgres@127.0.0.1:5432/test}
rows=${BENCH_ROWS:-100000}
export RETORT_COMPONENTIZE_PY=${RETORT_COMPONENTIZE_PY:-$root/target/py-guest-venv/bin/componentize-py}
export RETORT_COMPONENTIZE_JS=${RETORT_COMPONENTIZE_JS:-$root/target/js-guest-tools/node_modules/@bytecodealliance/componentize-js/src/cli.js}
if [ -z "${RETORT_BIN:-}" ]; then
    cargo build --release -q -p retort-cli
    RETORT_BIN=$root/target/release/retort
fi
work=$root/target/bench-languages
rm -rf "$work" && mkdir -p "$work"
cfg=$work/build.toml
printf '[databases.a]\nurl = "sqlite://unused.db"\nmigrations = "%s/bench/guests"\n' "$root" > "$cfg"
CARGO_TARGET_DIR="$root/target/guests" "$RETORT_BIN" --config "$cfg" -q build
printf '[databases.a]\nurl = "sqlite://unused.db"\nmigrations = "%s/bench/polyglot"\n' "$root" > "$cfg"
CARGO_TARGET_DIR="$root/target/guests" "$RETORT_BIN" --config "$cfg" -q build

declare -A artifact=(
    [rust]=$root/bench/guests/data_batched.wasm
    [python]=$root/bench/polyglot/20270101000002_data_batched_py.wasm
    [javascript]=$root/bench/polyglot/20270101000002_data_batched_js.wasm
    [javascript-alt]=$root/bench/polyglot/20270101000002_data_batched_js.wasm
)
languages="rust python javascript"
[ -n "${BENCH_JS_RUNTIME:-}" ] && languages="$languages javascript-alt"
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }

echo "machine: $(nproc) cores; $("$RETORT_BIN" --version); rows: $rows"
printf '%-11s %12s %14s %12s %16s %16s\n' language "size (B)" "1st compile s" "warm start s" "SQLite rows/s" "PostgreSQL rows/s"
for lang in $languages; do
    dir=$work/$lang/migrations
    mkdir -p "$dir"
    cp "${artifact[$lang]}" "$dir/20270101000002_data_batched.wasm"
    if [ "$lang" = javascript-alt ]; then
        python3 "$root/bench/retarget_runtime.py" "$dir/20270101000002_data_batched.wasm" "$BENCH_JS_RUNTIME" >/dev/null
    elif [ "$lang" != rust ]; then
        cp -R "$root/bench/polyglot/runtimes" "$dir/runtimes"
    fi
    size=$(stat -c %s "${artifact[$lang]}")
    cache=$work/$lang/cache
    t=$(now); (cd "$work/$lang" && RETORT_CACHE_DIR=$cache "$RETORT_BIN" --database-url sqlite://x.db heads >/dev/null); first=$(since "$t")
    best=""
    for _ in 1 2 3 4 5; do
        t=$(now); (cd "$work/$lang" && RETORT_CACHE_DIR=$cache "$RETORT_BIN" --database-url sqlite://x.db heads >/dev/null); s=$(since "$t")
        if [ -z "$best" ] || [ "$(echo "$s < $best" | bc)" = 1 ]; then best=$s; fi
    done
    # SQLite
    db=$work/$lang/bulk.db
    python3 - "$db" "$rows" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1])
c.executescript(f"""CREATE TABLE bulk (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, s VARCHAR(40) NOT NULL, a BIGINT, b VARCHAR(80));
WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {int(sys.argv[2])})
INSERT INTO bulk (id, n, s) SELECT x, x % 1000, 'row ' || x FROM g;""")
PY
    t=$(now); (cd "$work/$lang" && RETORT_CACHE_DIR=$cache "$RETORT_BIN" -q --database-url "sqlite://$db" upgrade >/dev/null); s=$(since "$t")
    lite=$(echo "$rows / $s" | bc)
    python3 -c "import sqlite3,sys; n=sqlite3.connect('$db').execute(\"SELECT COUNT(*) FROM bulk WHERE a = n*2+length(s) AND b = s||'-'||n\").fetchone()[0]; sys.exit(0 if n == $rows else 'not every row derived')"
    # PostgreSQL
    pgrate=-
    if [ "${BENCH_PG:-on}" != off ]; then
        name=bench_lang_${lang/-/_}
        psql -q "$pg" -c "DROP DATABASE IF EXISTS $name" -c "CREATE DATABASE $name"
        url=${pg%/*}/$name
        psql -q "$url" -c "CREATE TABLE bulk (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, s VARCHAR(40) NOT NULL, a BIGINT, b VARCHAR(80))" \
            -c "INSERT INTO bulk (id, n, s) SELECT g, g % 1000, 'row ' || g FROM generate_series(1, $rows) g" -c "VACUUM ANALYZE bulk"
        t=$(now); (cd "$work/$lang" && RETORT_CACHE_DIR=$cache "$RETORT_BIN" -q --database-url "$url" upgrade >/dev/null); s=$(since "$t")
        pgrate=$(echo "$rows / $s" | bc)
        n=$(psql -tA "$url" -c "SELECT COUNT(*) FROM bulk WHERE a = n*2+length(s) AND b = s||'-'||n")
        [ "$n" = "$rows" ] || { echo "PostgreSQL: not every row derived"; exit 1; }
        psql -q "$pg" -c "DROP DATABASE $name"
    fi
    printf '%-11s %12s %14.2f %12.3f %16s %16s\n' "$lang" "$size" "$first" "$best" "$lite" "$pgrate"
done
