//! A careless migration for `retort check`: its upgrade drops a table (a lint finding), and
//! its downgrade recreates it without the `NOT NULL UNIQUE` the table had (a round-trip
//! trace).

use retort_guest::{Dialect, Migration, Result, Tx};

struct DropItems;

impl Migration for DropItems {
    fn upgrade(tx: &Tx) -> Result<()> {
        tx.execute("DROP TABLE items", ())?;
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        let id = if tx.dialect() == Dialect::Postgres { "BIGINT" } else { "INTEGER" };
        tx.execute(&format!("CREATE TABLE items (id {id} PRIMARY KEY, code VARCHAR(40))"), ())?;
        Ok(())
    }
}

retort_guest::export!(DropItems, id: "20261204000000", parents: ["20260201000000"],
    description: "drop items, carelessly");
