#!/usr/bin/env bash
# Python and JavaScript migrations on their shared runtimes (issue 14), run by hand:
#
#   bash bench/script_storage.sh [N]        # default 100 migrations per language
#
# For N generated Python migrations and N JavaScript ones (a table each) on SQLite: artifact
# bytes per migration, `retort build` time once the runtime is in this machine's cache, the
# first upgrade with an empty compile cache, and the bytes stored in retort_artifacts against
# "one runtime + N artifacts". Needs componentize-py / componentize-js for the first runtime
# build (see .ci/run); RETORT_BIN the runner (default: a release build).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
n=${1:-100}
export RETORT_COMPONENTIZE_PY=${RETORT_COMPONENTIZE_PY:-$root/target/py-guest-venv/bin/componentize-py}
export RETORT_COMPONENTIZE_JS=${RETORT_COMPONENTIZE_JS:-$root/target/js-guest-tools/node_modules/@bytecodealliance/componentize-js/src/cli.js}
if [ -z "${RETORT_BIN:-}" ]; then
    cargo build --release -q -p retort-cli
    RETORT_BIN=$root/target/release/retort
fi
now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc; }
echo "machine: $(nproc) cores; $("$RETORT_BIN" --version); $n migrations per language"
printf '%-11s %10s %14s %10s %14s %16s %16s\n' language "build s" "artifact B" "cold s" "stored B" "runtime file B" "1 rt + N art. B"
for lang in python javascript; do
    work=$root/target/bench-scripts/$lang
    rm -rf "$work" && mkdir -p "$work/migrations"
    for i in $(seq 0 $((n - 1))); do
        id=$((20270201000000 + i)); parent=$((id - 1))
        if [ "$lang" = python ]; then
            parents=$([ "$i" = 0 ] && echo "[]" || echo "[\"$parent\"]")
            cat > "$work/migrations/${id}_t$i.py" <<PY
from retort_guest import Migration, Tx, export

class T$i(Migration):
    id = "$id"
    parents = $parents
    description = "table t$i"

    def upgrade(self, tx: Tx) -> None:
        tx.execute("CREATE TABLE t$i (id INTEGER PRIMARY KEY, v VARCHAR(20))")

    def downgrade(self, tx: Tx) -> None:
        tx.execute("DROP TABLE t$i")

WitWorld = export(T$i)
PY
        else
            parents=$([ "$i" = 0 ] && echo "[]" || echo "[\"$parent\"]")
            cat > "$work/migrations/${id}_t$i.js" <<JS
import { defineMigration } from "./retort_guest.js";

export const { metadata, upgrade, downgrade } = defineMigration({
  id: "$id",
  parents: $parents,
  description: "table t$i",
  upgrade(tx) { tx.execute("CREATE TABLE t$i (id INTEGER PRIMARY KEY, v VARCHAR(20))"); },
  downgrade(tx) { tx.execute("DROP TABLE t$i"); },
});
JS
        fi
    done
    # The runtime once into this machine's cache (not timed), then the timed build.
    (cd "$work" && "$RETORT_BIN" --database-url sqlite://x.db -q build >/dev/null && rm -f migrations/*.wasm)
    t=$(now); (cd "$work" && "$RETORT_BIN" --database-url sqlite://x.db -q build >/dev/null); b=$(since "$t")
    art=$(cat "$work"/migrations/*.wasm | wc -c); art=$((art / n))
    t=$(now); (cd "$work" && RETORT_CACHE_DIR=$work/cache "$RETORT_BIN" -q --database-url sqlite://db.sqlite upgrade >/dev/null); cold=$(since "$t")
    stored=$(python3 -c "import sqlite3; print(sqlite3.connect('$work/db.sqlite').execute('SELECT SUM(LENGTH(bytes)) FROM retort_artifacts').fetchone()[0])")
    rtfile=$(stat -c %s "$work"/migrations/runtimes/*.wasm)
    rtstored=$(python3 -c "
import sqlite3, hashlib, glob
digest = glob.glob('$work/migrations/runtimes/*.wasm')[0].rsplit('-', 1)[1][:-5]
print(sqlite3.connect('$work/db.sqlite').execute('SELECT SUM(LENGTH(bytes)) FROM retort_artifacts WHERE digest = ?', (digest,)).fetchone()[0])")
    printf '%-11s %10.3f %14s %10.2f %14s %16s %16s\n' "$lang" "$b" "$art" "$cold" "$stored" "$rtfile" "$((rtstored + n * art)) (runtime stored: $rtstored)"
done
