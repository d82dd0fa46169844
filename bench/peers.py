#!/usr/bin/env python3
"""Retort against its peers and the engine's own client on the same SQL (issue 31).

Called by bench/peers.sh, which builds and installs everything; run by hand, never in CI.

    peers.py WORK N [N...]

For each engine (BENCH_ENGINES, default sqlite,postgres,mysql) and each N, generates N
migrations of a table and an index each (with a down script), as one directory that Retort and
sqlx-cli both read (`<version>_<name>.up.sql` / `.down.sql`, Retort's header is a comment to
sqlx), the same revisions for Alembic (`op.execute`), and one script per migration for the
engine's client. Then times each tool as a whole process on a fresh database, BENCH_RUNS
times (default 3, median), the tools interleaved within a round so that drift hits all:

  retort        `retort upgrade` (a transaction per migration, with its history row)
  retort-single `retort upgrade --transaction single`
  sqlx-cli      `sqlx migrate run` (a transaction per migration, with its history row)
  alembic       `alembic upgrade head` (its default env.py: one transaction for all)
  client        the engine's client (sqlite3, psql, mariadb), one session, BEGIN/COMMIT
                around each migration's statements (no history row)
  client-single the same client, all statements in one transaction
  base, base-single  with BENCH_RETORT_BASE=PATH: another retort build, the same two ways

Prints a Markdown table of medians and the ratios the issue sets goals on.
"""

import os
import shutil
import statistics
import subprocess
import sys
import time

WORK = os.path.abspath(sys.argv[1])
SIZES = [int(n) for n in sys.argv[2:]] or [200, 2000]
RUNS = int(os.environ.get("BENCH_RUNS", "3"))
ENGINES = os.environ.get("BENCH_ENGINES", "sqlite,postgres,mysql").split(",")
PG = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
MY = os.environ.get("BENCH_MYSQL_URL", "mysql://root@127.0.0.1:3306")
RETORT = os.environ["BENCH_RETORT"]
# Optional: another build (an earlier commit) timed in the same rounds, for before/after.
BASE = os.environ.get("BENCH_RETORT_BASE")
SQLX = os.environ.get("BENCH_SQLX")
PY = os.environ.get("BENCH_PYTHON")
DB = "bench_peers"


def generate(d, n):
    """Writes the N migrations for every tool under d."""
    m = os.path.join(d, "migrations")
    a = os.path.join(d, "alembic", "versions")
    c = os.path.join(d, "client")
    for p in (m, a, c):
        os.makedirs(p)
    with open(os.path.join(d, "alembic", "env.py"), "w") as f:
        f.write(
            "from alembic import context\n"
            "from sqlalchemy import engine_from_config, pool\n"
            "config = context.config\n"
            "engine = engine_from_config(config.get_section(config.config_ini_section), "
            "prefix='sqlalchemy.', poolclass=pool.NullPool)\n"
            "with engine.connect() as connection:\n"
            "    context.configure(connection=connection, target_metadata=None)\n"
            "    with context.begin_transaction():\n"
            "        context.run_migrations()\n"
        )
    open(os.path.join(d, "alembic", "script.py.mako"), "w").close()
    prev = prev_rev = None
    per_file, single = [], ["BEGIN;"]
    for i in range(1, n + 1):
        vid = 20260101000000 + i
        up = [
            f"CREATE TABLE t{i} (id INTEGER PRIMARY KEY, v INTEGER NOT NULL, note VARCHAR(40))",
            f"CREATE INDEX i{i} ON t{i} (v)",
        ]
        with open(os.path.join(m, f"{vid}_m{i}.up.sql"), "w") as f:
            f.write(f"-- retort: parents = {prev or 'none'}\n" + "".join(s + ";\n" for s in up))
        with open(os.path.join(m, f"{vid}_m{i}.down.sql"), "w") as f:
            f.write(f"DROP TABLE t{i};\n")
        rev = f"{i:012x}"
        body = "\n".join(f"    op.execute({s!r})" for s in up)
        with open(os.path.join(a, f"{rev}_m.py"), "w") as f:
            f.write(
                f"from alembic import op\nrevision = {rev!r}\ndown_revision = {prev_rev!r}\n"
                "branch_labels = None\ndepends_on = None\n"
                f"def upgrade():\n{body}\n"
                f"def downgrade():\n    op.execute('DROP TABLE t{i}')\n"
            )
        per_file += ["BEGIN;"] + [s + ";" for s in up] + ["COMMIT;"]
        single += [s + ";" for s in up]
        prev, prev_rev = vid, rev
    single.append("COMMIT;")
    for name, lines in (("per-file.sql", per_file), ("single.sql", single)):
        with open(os.path.join(c, name), "w") as f:
            f.write("\n".join(lines) + "\n")


def run(cmd, cwd, stdin=None):
    """Runs cmd; fails the benchmark loudly if it fails."""
    with open(stdin) if stdin else open(os.devnull) as inp:
        p = subprocess.run(cmd, cwd=cwd, stdin=inp, capture_output=True, text=True)
    if p.returncode != 0:
        sys.exit(f"failed: {' '.join(cmd)}\n{p.stdout}\n{p.stderr}")


class Engine:
    """URLs, a fresh database and the client command for one engine."""

    def __init__(self, name, d):
        self.name, self.d = name, d
        if name == "sqlite":
            path = os.path.join(d, "bench.db")
            self.path = path
            self.url = f"sqlite://{path}"
            self.sqlx = f"sqlite://{path}?mode=rwc"
            self.alembic = f"sqlite:///{path}"
            self.client = ["sqlite3", "-bail", path]
        elif name == "postgres":
            self.url = f"{PG}/{DB}"
            self.sqlx = self.url
            self.alembic = f"postgresql+psycopg2://{PG.split('://', 1)[1]}/{DB}"
            self.client = ["psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", self.url]
        else:
            self.url = f"{MY}/{DB}"
            self.sqlx = self.url
            rest = MY.split("://", 1)[1]
            self.alembic = f"mysql+pymysql://{rest}/{DB}"
            host, port = rest.split("@")[-1].split(":")
            self.client = ["mariadb", "-h", host, "-P", port, "-u", "root", DB]

    def fresh(self):
        if self.name == "sqlite":
            for suffix in ("", "-journal", "-wal", "-shm"):
                if os.path.exists(self.path + suffix):
                    os.remove(self.path + suffix)
        elif self.name == "postgres":
            # CHECKPOINT: the copy CREATE DATABASE makes is flushed before the clock starts,
            # not during the next tool's run.
            run(["psql", "-q", "-X", f"{PG}/postgres", "-c", f"DROP DATABASE IF EXISTS {DB}",
                 "-c", f"CREATE DATABASE {DB}", "-c", "CHECKPOINT"], self.d)
        else:
            host, port = MY.split("@")[-1].split(":")
            run(["mariadb", "-h", host, "-P", port, "-u", "root", "-e",
                 f"DROP DATABASE IF EXISTS {DB}; CREATE DATABASE {DB}"], self.d)


def tools(e, d):
    """The timed commands: name -> (argv, stdin file or None)."""
    t = {
        "retort": ([RETORT, "-q", "upgrade"], None),
        "retort-single": ([RETORT, "-q", "upgrade", "--transaction", "single"], None),
        "client": (e.client, os.path.join(d, "client", "per-file.sql")),
        "client-single": (e.client, os.path.join(d, "client", "single.sql")),
    }
    if BASE:
        t["base"] = ([BASE, "-q", "upgrade"], None)
        t["base-single"] = ([BASE, "-q", "upgrade", "--transaction", "single"], None)
    if SQLX:
        t["sqlx-cli"] = ([SQLX, "migrate", "run", "--source", "migrations",
                          "--database-url", e.sqlx], None)
    if PY:
        t["alembic"] = ([PY, "-m", "alembic", "-c", "alembic.ini", "-q", "upgrade", "head"], None)
    return t


def bench(engine, n):
    d = os.path.join(WORK, f"{engine}-{n}")
    shutil.rmtree(d, ignore_errors=True)
    os.makedirs(d)
    generate(d, n)
    e = Engine(engine, d)
    with open(os.path.join(d, "retort.toml"), "w") as f:
        f.write(f'[databases.bench]\nurl = "{e.url}"\nmigrations = "migrations"\n')
    with open(os.path.join(d, "alembic.ini"), "w") as f:
        f.write(f"[alembic]\nscript_location = {d}/alembic\nsqlalchemy.url = {e.alembic}\n")
    env_cache = os.path.join(WORK, "cache")
    os.environ["RETORT_CACHE_DIR"] = env_cache
    run([RETORT, "-q", "build"], d)
    # Warm: the compile cache holds the SQL runtime, the page cache the files.
    e.fresh()
    run([RETORT, "-q", "upgrade"], d)
    times = {name: [] for name in tools(e, d)}
    for _ in range(RUNS):
        for name, (cmd, stdin) in tools(e, d).items():
            e.fresh()
            t0 = time.perf_counter()
            run(cmd, d, stdin)
            times[name].append(time.perf_counter() - t0)
    return {k: statistics.median(v) for k, v in times.items()}


def main():
    os.makedirs(WORK, exist_ok=True)
    print(f"{os.cpu_count()} cores; {subprocess.run([RETORT, '--version'], capture_output=True, text=True).stdout.strip()}; "
          f"medians of {RUNS}")
    cols = ["retort", "retort-single", "sqlx-cli", "alembic", "client", "client-single"]
    if BASE:
        cols = ["base", "base-single"] + cols
    print("| engine | N | " + " | ".join(cols) +
          " | retort ÷ client | single ÷ client-single | single ÷ retort | retort ÷ sqlx-cli |")
    print("|---|---|" + "---|" * (len(cols) + 4))
    for engine in ENGINES:
        for n in SIZES:
            r = bench(engine, n)
            cells = [f"{r[c]:.2f} s" if c in r else "—" for c in cols]
            ratio = lambda a, b: f"{r[a] / r[b]:.2f}×" if a in r and b in r else "—"
            print(f"| {engine} | {n} | " + " | ".join(cells) + " | " +
                  " | ".join([ratio("retort", "client"), ratio("retort-single", "client-single"),
                              ratio("retort-single", "retort"), ratio("retort", "sqlx-cli")]) +
                  " |", flush=True)


main()
