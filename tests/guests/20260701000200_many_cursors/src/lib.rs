//! Hostile: opens thousands of queries and keeps them all.

use retort_guest::{Migration, Result, Tx};

struct ManyCursors;

impl Migration for ManyCursors {
    fn upgrade(tx: &Tx) -> Result<()> {
        tx.execute("UPDATE items SET code = 'cursors' WHERE id = 1", ())?;
        let mut open = Vec::new();
        for _ in 0..5000 {
            open.push(tx.query::<(i64,)>("SELECT id FROM items", ())?);
        }
        Ok(())
    }

    fn downgrade(_tx: &Tx) -> Result<()> {
        Ok(())
    }
}

retort_guest::export!(ManyCursors, id: "20260701000200", parents: ["20260201000000"], description: "opens thousands of cursors");
