#!/usr/bin/env bash
# Retort against sqlx-cli, Alembic and the engine's own client on the same migrations (issue 31),
# run by hand — never in CI:
#
#   bash bench/peers.sh [N...]          # default: 200 2000
#
# Builds the release runner, installs sqlx-cli 0.9.0 (cargo, into target/peers) and Alembic
# (PyPI, target/bench-venv), then bench/peers.py prints the table (BENCH_RUNS, default 3, medians;
# BENCH_ENGINES, default sqlite,postgres,mysql; BENCH_PG_URL / BENCH_MYSQL_URL: a server URL
# without a database, default the local services; BENCH_RETORT_BASE: another build to time in
# the same rounds). Needs the sqlite3, psql and mariadb clients.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

cargo build --release -q -p retort-cli
if [ ! -x target/peers/bin/sqlx ]; then
    cargo install -q sqlx-cli --version 0.9.0 --locked --no-default-features \
        --features postgres,sqlite,mysql,rustls --root target/peers --target-dir target/peers-build
fi
if [ ! -x target/bench-venv/bin/python ]; then python3 -m venv target/bench-venv; fi
target/bench-venv/bin/pip install -q alembic==1.14.0 SQLAlchemy==2.0.36 psycopg2-binary==2.9.10 PyMySQL==1.1.1

echo "machine: $(nproc) cores, $(uname -sr); sqlite3 $(sqlite3 --version | cut -d' ' -f1), $(psql --version), $(mariadb --version | cut -d' ' -f4-6)"
BENCH_RETORT="$root/target/release/retort" BENCH_SQLX="$root/target/peers/bin/sqlx" \
    BENCH_PYTHON="$root/target/bench-venv/bin/python" \
    exec python3 bench/peers.py "$root/target/bench-peers" ${@:-200 2000}
