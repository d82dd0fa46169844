"""A Python data migration: classify orders into bands, row by row, in batches."""

from dataclasses import dataclass
from decimal import Decimal

from retort_guest import Migration, Tx, export, log


@dataclass
class Order:  # the orders row as this migration knows it
    id: int
    amount: int


class OrderBands(Migration):
    id = "20261102000000"
    parents = ["20261001000000"]
    description = "Python: classify orders into bands"

    def upgrade(self, tx: Tx) -> None:
        tx.execute("ALTER TABLE orders ADD COLUMN band VARCHAR(10)")
        done = 0
        for batch in tx.query(Order, "SELECT id, amount FROM orders ORDER BY id").batches(2):
            tx.execute_batch(
                "UPDATE orders SET band = $1 WHERE id = $2",
                [("large" if o.amount >= Decimal(100) else "small", o.id) for o in batch],
            )
            done += len(batch)
        log(f"classified {done} orders")

    def downgrade(self, tx: Tx) -> None:
        tx.execute("ALTER TABLE orders DROP COLUMN band")


WitWorld = export(OrderBands)
