"""Python: the portable-values row (issue 15) decoded into declared types on every engine."""

import datetime
from dataclasses import dataclass
from decimal import Decimal

from retort_guest import Migration, MigrationError, Tx, export


@dataclass
class Totals:
    total: int
    average: float
    price_sum: Decimal
    price_float: float


@dataclass
class Day:
    day: datetime.date


@dataclass
class Cents:
    cents: int


class PortableValues(Migration):
    id = "20261203000100"
    parents = ["20261203000000"]
    description = "Python: portable values"

    def upgrade(self, tx: Tx) -> None:
        t = next(iter(tx.query(Totals, "SELECT SUM(n) AS total, AVG(n) AS average, SUM(price) AS price_sum, SUM(price) AS price_float FROM pv_src")))
        d = next(iter(tx.query(Day, "SELECT at AS day FROM pv_src WHERE id = 1")))
        out = [
            ("py_total", repr(t.total)),
            ("py_average", repr(t.average)),
            ("py_price_sum", str(t.price_sum.normalize())),
            ("py_price_float", repr(t.price_float)),
            ("py_day", repr(d.day)),
        ]
        try:
            list(tx.query(Cents, "SELECT SUM(price) AS cents FROM pv_src"))
            out.append(("py_lossy_int", "accepted"))
        except MigrationError as e:
            out.append(("py_lossy_int", str(e)))
        tx.execute_batch("INSERT INTO pv_out (k, v) VALUES ($1, $2)", out)

    def downgrade(self, tx: Tx) -> None:
        tx.execute("DELETE FROM pv_out WHERE k LIKE 'py_%'")


WitWorld = export(PortableValues)
