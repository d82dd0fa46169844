"""Benchmark data migration (batched), in Python: the same work as bench/guests/data_batched."""

from dataclasses import dataclass

from retort_guest import Migration, Tx, export


@dataclass
class Bulk:
    id: int
    n: int
    s: str


class Data(Migration):
    id = "20270101000002"
    parents = []
    description = "bench data migration (batched, Python)"

    def upgrade(self, tx: Tx) -> None:
        sql = "UPDATE bulk SET a = $1, b = $2 WHERE id = $3"
        for batch in tx.query(Bulk, "SELECT id, n, s FROM bulk ORDER BY id").batches(1000):
            tx.execute_batch(sql, [(r.n * 2 + len(r.s), f"{r.s}-{r.n}", r.id) for r in batch])

    def downgrade(self, tx: Tx) -> None:
        tx.execute("UPDATE bulk SET a = NULL, b = NULL")


WitWorld = export(Data)
