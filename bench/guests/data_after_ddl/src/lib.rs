//! Benchmark data migration after DDL (batched): create a table, then read each row of `bulk`
//! into a struct, derive two columns, write them back.

use retort_guest::{Migration, Result, Tx, row};

row! {
    struct Bulk { id: i64, n: i64, s: String }
}

struct Data;

fn derive(r: &Bulk) -> (i64, String, i64) {
    (r.n * 2 + r.s.len() as i64, format!("{}-{}", r.s, r.n), r.id)
}

impl Migration for Data {
    fn upgrade(tx: &Tx) -> Result<()> {
        // DDL first: on MySQL/MariaDB it commits implicitly, and everything after it used to
        // run in autocommit, one commit per row (issue 13, item 3).
        tx.execute("CREATE TABLE bench_after_ddl (a INTEGER)", ())?;
        let mut rows = tx.query::<Bulk>("SELECT id, n, s FROM bulk ORDER BY id", ())?.batch_size(1000);
        let sql = "UPDATE bulk SET a = $1, b = $2 WHERE id = $3";
        while let Some(batch) = rows.next_batch()? {
            tx.execute_batch(sql, batch.iter().map(derive))?;
        }
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.execute("UPDATE bulk SET a = NULL, b = NULL", ())?;
        tx.execute("DROP TABLE bench_after_ddl", ())?;
        Ok(())
    }
}

retort_guest::export!(Data, id: "20270101000003", parents: [], description: "bench data migration after DDL (batched)");
