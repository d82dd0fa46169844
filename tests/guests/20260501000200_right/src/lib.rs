//! Graph fixture: creates table `t_right` and drops it on the way down.

use retort_guest::{Migration, Result, Tx};

struct Fixture;

impl Migration for Fixture {
    fn upgrade(tx: &Tx) -> Result<()> {
        tx.execute("CREATE TABLE t_right (id INTEGER PRIMARY KEY)", ())?;
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.execute("DROP TABLE t_right", ())?;
        Ok(())
    }
}

retort_guest::export!(Fixture, id: "20260501000200", parents: ["20260501000000"], description: "create t_right", branch_labels: ["right"], depends_on: ["20260501000100"]);
