//! Graph fixture: creates table `t_left` and drops it on the way down.

use retort_guest::{Migration, Result, Tx};

struct Fixture;

impl Migration for Fixture {
    fn upgrade(tx: &Tx) -> Result<()> {
        tx.execute("CREATE TABLE t_left (id INTEGER PRIMARY KEY)", ())?;
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.execute("DROP TABLE t_left", ())?;
        Ok(())
    }
}

retort_guest::export!(Fixture, id: "20260501000100", parents: ["20260501000000"], description: "create t_left", branch_labels: ["left"]);
