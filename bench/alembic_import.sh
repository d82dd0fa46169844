#!/usr/bin/env bash
# Issue 29's benchmark, run by hand — never in CI: an Alembic history of N revisions (a table
# and an index each, written by bench/alembic_bench.py) upgraded by Alembic itself and by Retort
# from `retort import --from alembic`, on the same engines, each on a fresh database.
#
#   bash bench/alembic_import.sh [N]     # N revisions, default 100
#
# Retort cold: its first run on the machine — an empty compile cache (the shared Python runtime
# compiled by Cranelift) and the revisions' artifacts built from their sources. Warm: another
# fresh database, the cache and the artifacts kept. Alembic: one process, as `alembic upgrade
# head` runs. PostgreSQL and MariaDB from RETORT_TEST_POSTGRES_URL / RETORT_TEST_MYSQL_URL (the
# services of docs/development.md). Needs componentize-py once (RETORT_COMPONENTIZE_PY) to
# build the project's Python runtime, and a release build of the runner.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
n=${1:-100}
pg=${RETORT_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}
my=${RETORT_TEST_MYSQL_URL:-mysql://root@127.0.0.1:3306/test}

cargo build --release -q -p retort-cli
retort="$root/target/release/retort"
venv="$root/target/alembic-venv"
if [ ! -x "$venv/bin/alembic" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q alembic==1.14.0 SQLAlchemy==2.0.36 psycopg2-binary==2.9.10 PyMySQL==1.1.1
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }

# The history, once; each engine's Alembic env points it at its own database.
"$venv/bin/python" bench/alembic_bench.py schema "$work/history" "sqlite:///$work/unused.db" "$n" >/dev/null

# The Retort project: imported once, the Python runtime built once (by `retort build`).
mkdir -p "$work/project"
(cd "$work/project" && DATABASE_URL="sqlite://$work/import.db" "$retort" -q import --from alembic "$work/history" >/dev/null)
(cd "$work/project" && DATABASE_URL="sqlite://$work/import.db" "$retort" -q build >/dev/null)

fresh() { # engine name -> a URL of a new, empty database
    case $1 in
        sqlite) echo "sqlite://$work/$2.db" ;;
        postgres)
            psql -q "$pg" -c "DROP DATABASE IF EXISTS $2" -c "CREATE DATABASE $2" >/dev/null
            echo "${pg%/*}/$2" ;;
        mysql)
            mariadb -h 127.0.0.1 -u root -e "DROP DATABASE IF EXISTS $2; CREATE DATABASE $2" >/dev/null
            echo "${my%/*}/$2" ;;
    esac
}
sqlalchemy_url() {
    case $1 in
        sqlite://*) echo "sqlite:///${1#sqlite://}" ;;
        postgres://*) echo "postgresql+psycopg2://${1#postgres://}" ;;
        mysql://*) echo "mysql+pymysql://${1#mysql://}?charset=utf8mb4" ;;
    esac
}

echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB; $("$retort" --version); alembic $("$venv/bin/alembic" --version | awk '{print $2}')"
echo "an Alembic history of $n revisions (a table and an index each), upgraded on a fresh database"
printf '%-9s %10s %12s %12s %14s %14s\n' engine alembic "retort cold" "retort warm" "alembic/cold" "alembic/warm"
for engine in sqlite postgres mysql; do
    url=$(fresh "$engine" bench_alembic)
    sed -i "s|^sqlalchemy.url = .*|sqlalchemy.url = $(sqlalchemy_url "$url")|" "$work/history/alembic.ini"
    t0=$(now); "$venv/bin/alembic" -c "$work/history/alembic.ini" upgrade head >/dev/null 2>&1; t1=$(now)
    a=$(secs "$t0" "$t1")

    # Cold: an empty compile cache and no built artifacts.
    cache="$work/cache-$engine"
    rm -rf "$cache"
    find "$work/project/migrations" -maxdepth 1 -name '*.wasm' -delete
    url=$(fresh "$engine" bench_retort_cold)
    t0=$(now); (cd "$work/project" && RETORT_CACHE_DIR="$cache" DATABASE_URL="$url" "$retort" -q upgrade >/dev/null); t1=$(now)
    c=$(secs "$t0" "$t1")
    url=$(fresh "$engine" bench_retort_warm)
    t0=$(now); (cd "$work/project" && RETORT_CACHE_DIR="$cache" DATABASE_URL="$url" "$retort" -q upgrade >/dev/null); t1=$(now)
    w=$(secs "$t0" "$t1")
    printf '%-9s %9ss %11ss %11ss %13sx %13sx\n' "$engine" "$a" "$c" "$w" \
        "$(awk -v a="$a" -v b="$c" 'BEGIN { printf "%.2f", a / b }')" \
        "$(awk -v a="$a" -v b="$w" 'BEGIN { printf "%.2f", a / b }')"
done
