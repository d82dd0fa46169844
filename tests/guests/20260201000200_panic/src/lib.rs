//! A data migration that changes rows and then panics.

use retort_guest::{Migration, Result, Tx};

struct Panics;

impl Migration for Panics {
    fn upgrade(tx: &Tx) -> Result<()> {
        tx.execute("UPDATE items SET code = 'gone' WHERE id = 7", ())?;
        tx.execute("DELETE FROM items WHERE id > 2000", ())?;
        let items: Vec<i64> = Vec::new();
        panic!("guest bug: expected an item, found {}", items.len());
    }

    fn downgrade(_tx: &Tx) -> Result<()> {
        Ok(())
    }
}

retort_guest::export!(Panics, id: "20260201000200", parents: ["20260201000000"],
    description: "panics after changing rows");
