"""Python, hostile: writes, then spins forever — the deadline must stop it and its write roll back,
whichever compiler (Cranelift, or Winch for a runtime's first compile) made its runtime's code."""

from retort_guest import Migration, Tx, export


class BusyLoop(Migration):
    id = "20261207000100"
    parents = []
    description = "Python: a busy loop"

    def upgrade(self, tx: Tx) -> None:
        tx.execute("CREATE TABLE py_spun (n INTEGER)")
        tx.execute("INSERT INTO py_spun (n) VALUES (1)")
        n = 0
        while True:
            n += 1

    def downgrade(self, tx: Tx) -> None:
        tx.execute("DROP TABLE py_spun")


WitWorld = export(BusyLoop)
