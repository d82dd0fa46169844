//! Capability fixture: rewrites /config/app.ini, then fails on invalid SQL.

use retort_guest::{Error, Migration, Result, Tx};

struct IniThenFail;

impl Migration for IniThenFail {
    fn upgrade(tx: &Tx) -> Result<()> {
        let path = retort_guest::dir("config").join("app.ini");
        std::fs::write(&path, "clobbered = yes\n").map_err(|e| Error::migration(e.to_string()))?;
        tx.execute("CREAT TABLE oops (id INTEGER)", ())?;
        Ok(())
    }

    fn downgrade(_tx: &Tx) -> Result<()> {
        Ok(())
    }
}

retort_guest::export!(IniThenFail, id: "20260901000100", parents: ["20260901000000"],
    description: "clobber app.ini, then fail", capabilities: ["config"]);
