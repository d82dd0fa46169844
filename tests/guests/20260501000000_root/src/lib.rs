//! Graph fixture: creates table `t_root` and drops it on the way down.

use retort_guest::{Migration, Result, Tx};

struct Fixture;

impl Migration for Fixture {
    fn upgrade(tx: &Tx) -> Result<()> {
        tx.execute("CREATE TABLE t_root (id INTEGER PRIMARY KEY)", ())?;
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.execute("DROP TABLE t_root", ())?;
        Ok(())
    }
}

retort_guest::export!(Fixture, id: "20260501000000", parents: [], description: "create t_root");
