#!/usr/bin/env bash
# The start of a run (issue 31): `retort upgrade` with nothing to do, on an up-to-date SQLite
# database over N SQL migrations (a table and an index each, as bench/peers.sh writes them),
# whole processes, warm caches; medians of BENCH_RUNS (default 20), this build and, with
# BENCH_RETORT_BASE=PATH, another one interleaved with it. Run by hand, never in CI:
#
#   bash bench/start.sh [N...]          # default: 200 2000
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
cargo build --release -q -p retort-cli
work="$root/target/bench-start"
export RETORT_CACHE_DIR="$work/cache"
RUNS="${BENCH_RUNS:-20}" RETORT="$root/target/release/retort" BASE="${BENCH_RETORT_BASE:-}" \
    python3 - "$work" ${@:-200 2000} <<'EOF'
import os, shutil, statistics, subprocess, sys, time

work, sizes = sys.argv[1], [int(n) for n in sys.argv[2:]]
runs = int(os.environ["RUNS"])
builds = {"retort": os.environ["RETORT"]}
if os.environ["BASE"]:
    builds["base"] = os.environ["BASE"]
print(f"| N | " + " | ".join(builds) + (" | retort ÷ base |" if "base" in builds else " |"))
print("|---|" + "---|" * (len(builds) + ("base" in builds)))
for n in sizes:
    d = os.path.join(work, f"sqlite-{n}")
    shutil.rmtree(d, ignore_errors=True)
    m = os.path.join(d, "migrations")
    os.makedirs(m)
    prev = None
    for i in range(1, n + 1):
        vid = 20260101000000 + i
        with open(os.path.join(m, f"{vid}_m{i}.up.sql"), "w") as f:
            f.write(f"-- retort: parents = {prev or 'none'}\n"
                    f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, v INTEGER NOT NULL);\n"
                    f"CREATE INDEX i{i} ON t{i} (v);\n")
        with open(os.path.join(m, f"{vid}_m{i}.down.sql"), "w") as f:
            f.write(f"DROP TABLE t{i};\n")
        prev = vid
    with open(os.path.join(d, "retort.toml"), "w") as f:
        f.write(f'[databases.bench]\nurl = "sqlite://{d}/bench.db"\nmigrations = "migrations"\n')
    for exe in builds.values():  # built, applied, and every cache warm for each build
        subprocess.run([exe, "-q", "build"], cwd=d, check=True, capture_output=True)
        subprocess.run([exe, "-q", "upgrade"], cwd=d, check=True, capture_output=True)
        subprocess.run([exe, "-q", "upgrade"], cwd=d, check=True, capture_output=True)
    times = {k: [] for k in builds}
    for _ in range(runs):
        for name, exe in builds.items():
            t0 = time.perf_counter()
            subprocess.run([exe, "-q", "upgrade"], cwd=d, check=True, capture_output=True)
            times[name].append(time.perf_counter() - t0)
    med = {k: statistics.median(v) for k, v in times.items()}
    cells = " | ".join(f"{med[k] * 1000:.1f} ms" for k in builds)
    ratio = f" | {med['retort'] / med['base']:.2f}× |" if "base" in builds else " |"
    print(f"| {n} | {cells}{ratio}", flush=True)
EOF
