//! Keeps a configuration file next to the database in step with the schema: points alerting
//! at the new index and raises retention. The file is reached through the `config` directory
//! capability (mapped in retort.toml); its changes are published only if this migration's
//! transaction commits, and the downgrade puts the file back as it was.

use retort_guest::{Error, Migration, Result, Tx};

struct AlertConfig;

fn ini() -> std::path::PathBuf {
    retort_guest::dir("config").join("monitoring.ini")
}

fn read() -> Result<String> {
    std::fs::read_to_string(ini()).map_err(|e| Error::migration(format!("cannot read monitoring.ini: {e}")))
}

fn write(text: &str) -> Result<()> {
    std::fs::write(ini(), text).map_err(|e| Error::migration(format!("cannot write monitoring.ini: {e}")))
}

impl Migration for AlertConfig {
    fn upgrade(tx: &Tx) -> Result<()> {
        let text = read()?;
        // Idempotent: the file lives beside the database, not in it, and may already have
        // been moved forward (e.g. the database was recreated).
        if !text.contains("kinds_index = events_kind_time") {
            if !text.contains("retention_days = 30") {
                return Err(Error::migration("monitoring.ini has neither the old nor the new settings"));
            }
            write(&text.replace("retention_days = 30", "retention_days = 90\nkinds_index = events_kind_time"))?;
        }
        tx.execute("CREATE TABLE alert_rules (kind VARCHAR(40) PRIMARY KEY, threshold BIGINT NOT NULL)", ())?;
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        let text = read()?.replace("retention_days = 90\nkinds_index = events_kind_time", "retention_days = 30");
        write(&text)?;
        tx.execute("DROP TABLE IF EXISTS alert_rules", ())?;
        Ok(())
    }
}

retort_guest::export!(AlertConfig, id: "20261122100200", parents: ["20261122100100"],
    description: "point alerting at the kinds index (edits config/monitoring.ini)",
    capabilities: ["config"]);
