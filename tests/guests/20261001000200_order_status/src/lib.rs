//! Release 2 of the "project versions" fixture: a data migration that adds `orders.status`
//! and fills it row by row from a frozen copy of the order row.

use retort_guest::{Migration, Result, Tx, row};

row! {
    struct Order { id: i64, amount: i64 }
}

struct OrderStatus;

impl Migration for OrderStatus {
    fn upgrade(tx: &Tx) -> Result<()> {
        tx.execute("ALTER TABLE orders ADD COLUMN status VARCHAR(20)", ())?;
        let mut rows = tx.query::<Order>("SELECT id, amount FROM orders ORDER BY id", ())?;
        while let Some(batch) = rows.next_batch()? {
            let updates = batch.iter().map(|o| {
                let status = if o.amount >= 100 { "big" } else { "small" };
                (status.to_string(), o.id)
            });
            tx.execute_batch("UPDATE orders SET status = $1 WHERE id = $2", updates)?;
        }
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.execute("ALTER TABLE orders DROP COLUMN status", ())?;
        Ok(())
    }
}

retort_guest::export!(OrderStatus, id: "20261001000200", parents: ["20261001000100"],
    description: "classify orders by size");
