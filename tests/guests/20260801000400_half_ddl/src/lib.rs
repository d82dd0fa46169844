//! Fails after DDL: on MySQL/MariaDB the CREATE TABLE (and the INSERT before the next DDL)
//! commit implicitly, so the failure leaves an explained, journaled, unfinished state.
//! The INSERTs after it are rolled back with the failure.

use retort_guest::{Migration, Result, Tx};

struct HalfDdl;

impl Migration for HalfDdl {
    fn upgrade(tx: &Tx) -> Result<()> {
        tx.execute("CREATE TABLE half_a (id INTEGER PRIMARY KEY)", ())?;
        tx.execute_batch("INSERT INTO half_a (id) VALUES ($1)", [(1,), (2,)])?;
        // One statement row by row, as a data migration runs it: one journal entry.
        for id in 3..=302 {
            tx.execute("INSERT INTO half_a VALUES ($1)", (id,))?;
        }
        tx.execute("CREAT TABLE oops (id INTEGER)", ())?;
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.execute("DROP TABLE IF EXISTS half_a", ())?;
        Ok(())
    }
}

retort_guest::export!(HalfDdl, id: "20260801000400", parents: [], description: "fails after DDL");
