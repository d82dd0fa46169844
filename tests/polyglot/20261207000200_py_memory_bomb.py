"""Python, hostile: writes, then grows its memory without end — the memory limit must stop it and
its write roll back, whichever compiler made its runtime's code."""

from retort_guest import Migration, Tx, export


class MemoryBomb(Migration):
    id = "20261207000200"
    parents = []
    description = "Python: a memory bomb"

    def upgrade(self, tx: Tx) -> None:
        tx.execute("CREATE TABLE py_bombed (n INTEGER)")
        tx.execute("INSERT INTO py_bombed (n) VALUES (1)")
        hoard = []
        while True:
            hoard.append(bytearray(1 << 20))

    def downgrade(self, tx: Tx) -> None:
        tx.execute("DROP TABLE py_bombed")


WitWorld = export(MemoryBomb)
