#!/usr/bin/env bash
# Builds Retort's shared SQL runtime from source into guest-sdk/runtimes/sql.wasm, the file
# the runner embeds (runner/src/host/runtime.rs). Reproducible: paths are remapped, the lock
# file is committed, so the same sources and toolchain give the same bytes.
#
#   bash guest-sdk/runtimes/build.sh           # rebuild sql.wasm
#   bash guest-sdk/runtimes/build.sh --check   # rebuild elsewhere; fail if the bytes differ
#
# The committed file was built with the toolchain named in toolchain.txt; --check on another
# toolchain says so instead of reporting a mismatch of unknown cause.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
toolchain="$(rustc --version)"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
# Built from a copy at a fixed path: cargo hashes a path dependency's location into its
# symbols, which moves data in the output, so a build in another checkout would differ.
work=/tmp/retort-runtime-build
tree="$work/tree"
rm -rf "$tree" && mkdir -p "$tree/guest-sdk/runtimes"
cp -R "$repo/wit" "$tree/wit"
cp -R "$repo/guest-sdk/sql" "$tree/guest-sdk/sql"
cp -R "$here/sql" "$tree/guest-sdk/runtimes/sql"
rm -rf "$tree/guest-sdk/sql/target" "$tree/guest-sdk/runtimes/sql/target"
# retort-sql inherits its package fields from the repository's workspace.
{
    printf '[workspace]\nresolver = "3"\nmembers = ["guest-sdk/sql"]\n\n'
    awk '/^\[workspace.package\]/ {on = 1; print; next} /^\[/ {on = 0} on' "$repo/Cargo.toml"
} > "$tree/Cargo.toml"
flags="--remap-path-prefix=$tree=/retort"$'\x1f'"--remap-path-prefix=$cargo_home=/cargo"
(cd "$tree/guest-sdk/runtimes/sql" && CARGO_ENCODED_RUSTFLAGS="$flags" RUSTFLAGS= cargo build \
    --quiet --locked --release --target wasm32-wasip2 --target-dir "$work/target")
built="$work/target/wasm32-wasip2/release/retort_runtime_sql.wasm"
if [ "${1:-}" = "--check" ]; then
    if [ "$toolchain" != "$(cat "$here/toolchain.txt")" ]; then
        echo "sql.wasm was built with $(cat "$here/toolchain.txt"), this is $toolchain: cannot compare" >&2
        exit 1
    fi
    if ! cmp -s "$built" "$here/sql.wasm"; then
        echo "guest-sdk/runtimes/sql.wasm differs from a build of guest-sdk/runtimes/sql:" >&2
        echo "  committed $(sha256sum < "$here/sql.wasm" | cut -c1-64)" >&2
        echo "  rebuilt   $(sha256sum < "$built" | cut -c1-64)" >&2
        echo "run bash guest-sdk/runtimes/build.sh and commit the result" >&2
        exit 1
    fi
    echo "sql.wasm is reproducible: $(sha256sum < "$built" | cut -c1-64)"
else
    cp "$built" "$here/sql.wasm"
    echo "$toolchain" > "$here/toolchain.txt"
    echo "wrote guest-sdk/runtimes/sql.wasm ($(wc -c < "$here/sql.wasm") bytes, sha256 $(sha256sum < "$here/sql.wasm" | cut -c1-64))"
fi
