//! Graph fixture: creates table `t_merge` and drops it on the way down.

use retort_guest::{Migration, Result, Tx};

struct Fixture;

impl Migration for Fixture {
    fn upgrade(tx: &Tx) -> Result<()> {
        tx.execute("CREATE TABLE t_merge (id INTEGER PRIMARY KEY)", ())?;
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.execute("DROP TABLE t_merge", ())?;
        Ok(())
    }
}

retort_guest::export!(Fixture, id: "20260501000300", parents: ["20260501000100", "20260501000200"], description: "create t_merge");
