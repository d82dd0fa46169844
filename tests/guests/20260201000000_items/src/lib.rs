//! A table of 2,500 items with unique codes: the data the failure tests must not lose.

use retort_guest::{Dialect, Migration, Result, Tx};

struct Items;

impl Migration for Items {
    fn upgrade(tx: &Tx) -> Result<()> {
        let id = if tx.dialect() == Dialect::Postgres { "BIGINT" } else { "INTEGER" };
        tx.execute(&format!("CREATE TABLE items (id {id} PRIMARY KEY, code VARCHAR(40) NOT NULL UNIQUE)"), ())?;
        let rows = (1..=2500i64).map(|i| (i, format!("item-{i:05}")));
        tx.execute_batch("INSERT INTO items (id, code) VALUES ($1, $2)", rows)?;
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.execute("DROP TABLE items", ())?;
        Ok(())
    }
}

retort_guest::export!(Items, id: "20260201000000", parents: [], description: "items");
