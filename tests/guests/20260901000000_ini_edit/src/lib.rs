//! Capability fixture: appends a line to /config/app.ini and creates a table.

use retort_guest::{Error, Migration, Result, Tx};

struct IniEdit;

fn path() -> std::path::PathBuf {
    retort_guest::dir("config").join("app.ini")
}

impl Migration for IniEdit {
    fn upgrade(tx: &Tx) -> Result<()> {
        let text = std::fs::read_to_string(path()).map_err(|e| Error::migration(e.to_string()))?;
        std::fs::write(path(), format!("{text}migrated = yes\n")).map_err(|e| Error::migration(e.to_string()))?;
        std::fs::write(retort_guest::dir("config").join("new.ini"), "[new]\n").map_err(|e| Error::migration(e.to_string()))?;
        tx.execute("CREATE TABLE t_ini (id INTEGER PRIMARY KEY)", ())?;
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        let text = std::fs::read_to_string(path()).map_err(|e| Error::migration(e.to_string()))?;
        std::fs::write(path(), text.replace("migrated = yes\n", "")).map_err(|e| Error::migration(e.to_string()))?;
        std::fs::remove_file(retort_guest::dir("config").join("new.ini")).map_err(|e| Error::migration(e.to_string()))?;
        tx.execute("DROP TABLE t_ini", ())?;
        Ok(())
    }
}

retort_guest::export!(IniEdit, id: "20260901000000", parents: [], description: "edit app.ini",
    capabilities: ["config"]);
