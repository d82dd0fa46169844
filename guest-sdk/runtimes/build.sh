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
target="${CARGO_TARGET_DIR:-$repo/target}"
rustup target add wasm32-wasip2 >/dev/null 2>&1 || true
toolchain="$(rustc --version)"
cargo_home="${CARGO_HOME:-$HOME/.cargo}"
flags="--remap-path-prefix=$repo=/retort"$'\x1f'"--remap-path-prefix=$cargo_home=/cargo"
(cd "$here/sql" && CARGO_ENCODED_RUSTFLAGS="$flags" RUSTFLAGS= cargo build --quiet --locked \
    --release --target wasm32-wasip2 --target-dir "$target/runtimes")
built="$target/runtimes/wasm32-wasip2/release/retort_runtime_sql.wasm"
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
