#!/usr/bin/env bash
# SQL migrations on the shared SQL runtime (issue 14), run by hand — never in CI:
#
#   bash bench/sql_runtime.sh [N] [POSTGRES_URL]     # N default 500
#
# Generates N SQL migrations (a table and an index each, with a down script) and the same N
# Alembic revisions, then times, each as a whole process on a fresh database:
#   build    `retort build` of the N migrations, with no Rust toolchain on PATH
#   cold     `retort upgrade` to head with an empty compile cache
#   warm     `retort upgrade` to head with the cache filled (default transaction policy)
#   alembic  `alembic upgrade head` (its default env: one transaction for all)
# on SQLite and (unless BENCH_PG=off) PostgreSQL. BENCH_SHAPED=on adds a real-world-shaped
# history on PostgreSQL: every 10th migration a PL/pgSQL function and trigger, every 7th a
# view, every 25th a `CREATE INDEX CONCURRENTLY` outside a transaction.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
n=${1:-500}
pg=${2:-postgres://postgres@127.0.0.1:5432/test}
retort="$root/target/release/retort"
work="$root/target/bench-sql"
rm -rf "$work" && mkdir -p "$work"

cargo build --release -q -p retort-cli
if [ ! -x target/bench-venv/bin/python ]; then python3 -m venv target/bench-venv; fi
target/bench-venv/bin/pip install -q alembic sqlalchemy psycopg2-binary
py="$root/target/bench-venv/bin/python"

now() { date +%s.%N; }
elapsed() { python3 -c "print(f'{$2 - $1:.3f}')"; }
norust="/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin"

# gen DIR KIND: N SQL migrations, and an Alembic env doing the same, in DIR.
gen() {
    python3 - "$1" "$n" "$2" <<'EOF'
import os, sys
d, n, kind = sys.argv[1], int(sys.argv[2]), sys.argv[3]
m = os.path.join(d, "migrations"); a = os.path.join(d, "alembic", "versions")
os.makedirs(m); os.makedirs(a)
with open(os.path.join(d, "alembic", "env.py"), "w") as f:
    f.write("from alembic import context\nfrom sqlalchemy import engine_from_config, pool\n"
            "config = context.config\n"
            "engine = engine_from_config(config.get_section(config.config_ini_section), prefix='sqlalchemy.', poolclass=pool.NullPool)\n"
            "with engine.connect() as connection:\n"
            "    context.configure(connection=connection, target_metadata=None)\n"
            "    with context.begin_transaction():\n"
            "        context.run_migrations()\n")
open(os.path.join(d, "alembic", "script.py.mako"), "w").close()
prev = None
for i in range(1, n + 1):
    rid = 20260101000000 + i
    up = [f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, v INTEGER NOT NULL, note VARCHAR(40))",
          f"CREATE INDEX i{i} ON t{i} (v)"]
    down = [f"DROP TABLE t{i}"]
    header = [f"-- retort: parents = {prev or 'none'}"]
    concurrently = False
    if kind == "shaped":
        if i % 10 == 0:
            up += [f"CREATE FUNCTION f{i}() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  NEW.note := coalesce(NEW.note, 'n' || NEW.v);\n  RETURN NEW;\nEND;\n$$",
                   f"CREATE TRIGGER g{i} BEFORE INSERT ON t{i} FOR EACH ROW EXECUTE FUNCTION f{i}()"]
            down = [f"DROP TRIGGER g{i} ON t{i}", f"DROP FUNCTION f{i}()"] + down
        if i % 7 == 0:
            up += [f"CREATE VIEW w{i} AS SELECT id, v FROM t{i} WHERE v > 0"]
            down = [f"DROP VIEW w{i}"] + down
        if i % 25 == 0:
            concurrently = True
            up = [f"CREATE INDEX CONCURRENTLY c{i} ON t{i - 1} (note)"]
            down = [f"DROP INDEX CONCURRENTLY c{i}"]
            header.append("-- retort: transaction = false")
    with open(os.path.join(m, f"{rid}_m{i}.up.sql"), "w") as f:
        f.write("\n".join(header) + "\n" + "".join(s + ";\n" for s in up))
    with open(os.path.join(m, f"{rid}_m{i}.down.sql"), "w") as f:
        f.write("".join(s + ";\n" for s in down))
    rev = f"{i:012x}"
    body = "\n".join(f"    op.execute({s!r})" for s in up)
    if concurrently:
        body = "    with op.get_context().autocommit_block():\n" + "\n".join("    " + l for l in body.split("\n"))
    with open(os.path.join(a, f"{rev}_m.py"), "w") as f:
        f.write(f"from alembic import op\nrevision = {rev!r}\ndown_revision = {prev and f'{prev_rev}'!r}\n"
                "branch_labels = None\ndepends_on = None\n"
                f"def upgrade():\n{body}\n"
                "def downgrade():\n" + "\n".join(f"    op.execute({s!r})" for s in down) + "\n")
    prev, prev_rev = rid, rev
EOF
}

# fresh URL: an empty database at URL (SQLite: delete the file; PostgreSQL: recreate bench_sql).
fresh() {
    case "$1" in
        sqlite://*) rm -f "${1#sqlite://}" "${1#sqlite://}"-journal "${1#sqlite://}"-wal ;;
        postgres://*)
            psql -q "$pg" -c "DROP DATABASE IF EXISTS bench_sql" -c "CREATE DATABASE bench_sql" ;;
    esac
}

# run NAME URL KIND: one row of the table.
run() {
    local name=$1 url=$2 kind=$3 dir="$work/$1"
    gen "$dir" "$kind"
    printf '[databases.bench]\nurl = "%s"\nmigrations = "migrations"\n' "$url" > "$dir/retort.toml"
    local aurl
    case "$url" in
        sqlite://*) aurl="sqlite:///${url#sqlite://}" ;;
        postgres://*) aurl="postgresql+psycopg2://${url#postgres://}" ;;
    esac
    printf '[alembic]\nscript_location = %s/alembic\nsqlalchemy.url = %s\n' "$dir" "$aurl" > "$dir/alembic.ini"
    cd "$dir"
    local t0 t1 build cold warm alembic
    t0=$(now); env PATH="$norust" "$retort" -q build; t1=$(now); build=$(elapsed "$t0" "$t1")
    local size; size=$(du -cb migrations/*.wasm | tail -1 | cut -f1)
    local scripts; scripts=$(du -cb migrations/*.sql | tail -1 | cut -f1)
    fresh "$url"; rm -rf "$work/cache"
    t0=$(now); RETORT_CACHE_DIR="$work/cache" "$retort" -q upgrade; t1=$(now); cold=$(elapsed "$t0" "$t1")
    fresh "$url"
    t0=$(now); RETORT_CACHE_DIR="$work/cache" "$retort" -q upgrade; t1=$(now); warm=$(elapsed "$t0" "$t1")
    fresh "$url"
    t0=$(now); "$py" -m alembic -c alembic.ini -q upgrade head >/dev/null; t1=$(now); alembic=$(elapsed "$t0" "$t1")
    cd "$root"
    python3 -c "
b,c,w,a=$build,$cold,$warm,$alembic
print(f'| $name | {b:.3f} s | {c:.3f} s | {w:.3f} s | {a:.3f} s | {a/c:.1f}× | {a/w:.1f}× | {($size-$scripts)/$n:.0f} B |')"
}

echo "machine: $(nproc) cores, $(uname -sr); $("$retort" --version); $n migrations"
echo "| history | build (no toolchain) | cold upgrade | warm upgrade | Alembic | cold vs Alembic | warm vs Alembic | artifact bytes per migration beyond its scripts |"
echo "|---|---|---|---|---|---|---|---|"
run sqlite "sqlite://$work/bench.db" plain
if [ "${BENCH_PG:-on}" != off ]; then
    base=${pg%/*}
    run postgres "$base/bench_sql" plain
    if [ "${BENCH_SHAPED:-on}" != off ]; then run postgres-shaped "$base/bench_sql" shaped; fi
fi
