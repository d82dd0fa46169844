//! Bad input: metadata whose id is not a valid revision id.

use retort_guest::{Migration, Result, Tx};

struct BadId;

impl Migration for BadId {
    fn upgrade(_tx: &Tx) -> Result<()> {
        Ok(())
    }

    fn downgrade(_tx: &Tx) -> Result<()> {
        Ok(())
    }
}

retort_guest::export!(BadId, id: "bad id!", parents: [], description: "");
