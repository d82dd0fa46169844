//! A data migration that breaks a unique constraint half-way: rows 1–1499 are rewritten
//! before row 1500 collides with row 1. Everything must roll back.

use retort_guest::{Migration, Result, Tx, row};

row! {
    struct Item { id: i64, code: String }
}

struct FailMidway;

impl Migration for FailMidway {
    fn upgrade(tx: &Tx) -> Result<()> {
        let mut items = tx.query::<Item>("SELECT id, code FROM items ORDER BY id", ())?.batch_size(500);
        while let Some(batch) = items.next_batch()? {
            let updates = batch.iter().map(|item| {
                let code = if item.id == 1500 { "ITEM-00001".to_string() } else { item.code.to_uppercase() };
                (code, item.id)
            });
            tx.execute_batch("UPDATE items SET code = $1 WHERE id = $2", updates)?;
        }
        Ok(())
    }

    fn downgrade(_tx: &Tx) -> Result<()> {
        Ok(())
    }
}

retort_guest::export!(FailMidway, id: "20260201000100", parents: ["20260201000000"],
    description: "upper-case item codes (collides at row 1500)");
