"""The guest conformance kit (tests/conformance/README.md), in Python."""

import datetime
import math
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Optional

from componentize_py_types import Err
from retort_guest import Json, Migration, MigrationError, Tx, export, log, progress
from wit_world.imports import types


@dataclass
class Conf:
    id: int
    b: Optional[bool]
    i: Optional[int]
    f: Optional[float]
    t: Optional[str]
    bt: Optional[bytes]
    d: Optional[Decimal]
    dt: Optional[datetime.date]
    tm: Optional[datetime.time]
    ts: Optional[datetime.datetime]
    tz: Optional[datetime.datetime]
    u: Optional[uuid.UUID]
    j: Optional[Json]


def note(tx: Tx, k: str, v: str) -> None:
    tx.execute("INSERT INTO conf_log (k, v) VALUES ($1, $2)", (k, v))


def check(ok: bool, what: str) -> None:
    if not ok:
        raise MigrationError(f"decoded wrongly: {what}")


class Conformance(Migration):
    id = "20261104000100"
    parents = []
    description = "conformance"
    branch_labels = ["conformance"]

    def upgrade(self, tx: Tx) -> None:
        note(tx, "dialect", {types.Dialect.SQLITE: "sqlite", types.Dialect.POSTGRES: "postgres",
                             types.Dialect.MYSQL: "mysql"}[tx.dialect])

        rows = tx.query(Conf, "SELECT * FROM conf_src WHERE id >= $1 ORDER BY id", (1,), batch_size=2)
        read = []
        batches = 0
        for batch in rows.batches():
            batches += 1
            read.extend(batch)
        note(tx, "columns", ",".join(rows.columns))
        note(tx, "batches", str(batches))

        r = read[0]
        check(r.b is True, "b")
        check(r.i == 2**63 - 1, "i")
        check(r.f == math.pi, "f")
        check(r.t == "héllo wörld ✓ 日本", "t")
        check(r.bt == b"\x00\xff\x10", "bt")
        check(r.d == Decimal("12345678901234567890.123456"), "d")
        check(r.dt == datetime.date(2026, 11, 22), "dt")
        check(r.tm == datetime.time(13, 14, 15, 123456), "tm")
        check(r.ts == datetime.datetime(2026, 11, 22, 13, 14, 15, 123456), "ts")
        check(r.tz == datetime.datetime(2026, 11, 22, 13, 14, 15, 123456, tzinfo=datetime.timezone.utc), "tz")
        check(r.u == uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"), "u")
        check(r.j == Json({"a": [1, 2, {"b": None}]}), f"j {r.j!r}")
        last = read[-1]
        check(last.b is None and last.j is None and last.tz is None, "nulls")

        # A result of only null/boolean/integer/float/text/bytes columns is read as one JSON
        # string per batch; it must decode to exactly what the typed values decode to.
        plain = tx.query(tuple, "SELECT id, b, i, f, t, bt FROM conf_src ORDER BY id", batch_size=2)
        check(plain._json, "a result of plain columns reads through json-batches")
        as_json = [r for batch in plain.batches() for r in batch]
        typed = [(c.id, c.b, c.i, c.f, c.t, c.bt) for c in read]
        check(len(as_json) == len(typed), "json rows")
        for got, want in zip(as_json, typed):
            check([type(v) for v in got] == [type(v) for v in want] and list(got) == list(want),
                  f"json {got!r} != typed {want!r}")
        as_dicts = tx.query(dict, "SELECT t AS name, i FROM conf_src WHERE id = 1").next_batch()
        check(as_dicts == [{"name": r.t, "i": r.i}], f"json dict {as_dicts!r}")

        # Sets of plain values (None, bool, int, float, str) go to the host as one JSON string
        # (given as a generator here, read once); sets with any other value go typed.
        tx.execute_batch(
            "INSERT INTO conf_dst (id, b, i, f, t) VALUES ($1, $2, $3, $4, $5)",
            ((c.id, c.b, c.i, c.f, c.t) for c in read),
        )
        tx.execute_batch(
            "UPDATE conf_dst SET bt = $1, d = $2, dt = $3, tm = $4, ts = $5, tz = $6, u = $7, j = $8 WHERE id = $9",
            [(c.bt, c.d, c.dt, c.tm, c.ts, c.tz, c.u, c.j, c.id) for c in read],
        )

        # Ragged parameter sets (plain values: the JSON path) are refused with the set named,
        # and what the batch ran before it rolls back with the savepoint.
        tx.execute("SAVEPOINT ragged")
        try:
            tx.execute_batch("INSERT INTO conf_log (k, v) VALUES ($1, $2)", [("r1", "a"), ("r2",)])
            raise MigrationError("ragged parameter sets were accepted")
        except Err as e:
            check(isinstance(e.value, types.Error_InvalidStatement)
                  and "parameter set 1 has 1 values, the first has 2" in e.value.value, f"ragged {e.value!r}")
        tx.execute("ROLLBACK TO SAVEPOINT ragged")
        check(tx.query(tuple, "SELECT k FROM conf_log WHERE k LIKE 'r_'").next_batch() == [], "ragged rolled back")

        note(tx, "scratch1", "x")
        note(tx, "scratch2", "x")
        affected = tx.execute("DELETE FROM conf_log WHERE k LIKE 'scratch%'")
        note(tx, "affected", str(affected))

        tx.execute("SAVEPOINT conf")
        try:
            note(tx, "dialect", "again")
            raise MigrationError("a duplicate key was accepted")
        except Err as e:
            if not isinstance(e.value, types.Error_Database):
                raise
            code = e.value.value.code or ""
        tx.execute("ROLLBACK TO SAVEPOINT conf")
        note(tx, "error_code", code)

        progress(3, 3)
        log("conformance ok")

    def downgrade(self, tx: Tx) -> None:
        tx.execute("DELETE FROM conf_dst")
        tx.execute("DELETE FROM conf_log")


WitWorld = export(Conformance)
