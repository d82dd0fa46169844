#!/usr/bin/env bash
# Retort's benchmarks (issue 6), run by hand — never in CI:
#
#   bash bench/run.sh [POSTGRES_URL]      # default postgres://postgres@127.0.0.1:5432/test
#
# Builds the release runner and the benchmark guests, installs Alembic + SQLAlchemy into a
# local virtual environment (target/bench-venv), then prints the result tables. Sizes:
# BENCH_ROWS (default 100000,1000000) and BENCH_MIGRATIONS (default 500). Set BENCH_PG=off to
# skip PostgreSQL.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
pg=${1:-postgres://postgres@127.0.0.1:5432/test}

rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
cargo build --release -q -p retort-cli
cfg=$(mktemp)
printf '[databases.bench]\nurl = "sqlite://unused.db"\nmigrations = "%s/bench/guests"\n' "$root" > "$cfg"
CARGO_TARGET_DIR="$root/target/guests" target/release/retort --config "$cfg" -q build
rm -f "$cfg"

if [ ! -x target/bench-venv/bin/python ]; then
    python3 -m venv target/bench-venv
fi
target/bench-venv/bin/pip install -q alembic sqlalchemy psycopg2-binary

(cd bench/harness && CARGO_TARGET_DIR="$root/target/bench" cargo build --release -q)
args=("$root/target/release/retort" "$root/target/bench-venv/bin/python" "$root/bench/guests" "$root/target/bench-work")
if [ "${BENCH_PG:-on}" != off ]; then args+=("$pg"); fi
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/ {print $2}') GiB, $(uname -sr); $(target/release/retort --version)"
exec target/bench/release/retort-bench "${args[@]}"
