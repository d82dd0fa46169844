//! Benchmark guest: a row-by-row data migration over an existing `bulk (id, n, s)` table —
//! stream every row into a struct, compute, and write each row back (batched parameter sets).

use retort_guest::{Migration, Result, Tx, row};

row! {
    struct Bulk { id: i64, n: i64, s: String }
}

struct BulkUpdate;

impl Migration for BulkUpdate {
    fn upgrade(tx: &Tx) -> Result<()> {
        let mut rows = tx.query::<Bulk>("SELECT id, n, s FROM bulk ORDER BY id", ())?.batch_size(1000);
        while let Some(batch) = rows.next_batch()? {
            let updates = batch.iter().map(|r| (r.n * 2 + r.s.len() as i64, r.id));
            tx.execute_batch("UPDATE bulk SET n = $1 WHERE id = $2", updates)?;
        }
        Ok(())
    }

    fn downgrade(_tx: &Tx) -> Result<()> {
        Ok(())
    }
}

retort_guest::export!(BulkUpdate, id: "20260401000000", parents: [], description: "bulk row-by-row update");
