//! Bad input: a valid statement, then a misspelt one.

use retort_guest::{Migration, Result, Tx};

struct InvalidSql;

impl Migration for InvalidSql {
    fn upgrade(tx: &Tx) -> Result<()> {
        tx.execute("UPDATE items SET code = 'changed' WHERE id = 2", ())?;
        tx.execute("CREAT TABLE oops (id INTEGER)", ())?;
        Ok(())
    }

    fn downgrade(_tx: &Tx) -> Result<()> {
        Ok(())
    }
}

retort_guest::export!(InvalidSql, id: "20260801000200", parents: ["20260201000000"], description: "misspelt DDL");
