//! The monitoring database's first migration: an `events` table keyed by catalog user ids.
//!
//! It `requires` the catalog database's users table (revision 20261122090000): Retort
//! migrates the catalog first and refuses a run that would leave this applied without it.

use retort_guest::{Dialect, Migration, Result, Tx};

struct CreateEvents;

impl Migration for CreateEvents {
    fn upgrade(tx: &Tx) -> Result<()> {
        let id = match tx.dialect() {
            Dialect::Sqlite => "INTEGER PRIMARY KEY",
            Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
            Dialect::Mysql => "BIGINT AUTO_INCREMENT PRIMARY KEY",
        };
        tx.execute(
            &format!(
                "CREATE TABLE events (
                    id {id},
                    user_id BIGINT NOT NULL,
                    kind VARCHAR(40) NOT NULL,
                    happened_at TIMESTAMP NOT NULL
                )"
            ),
            (),
        )?;
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.execute("DROP TABLE events", ())?;
        Ok(())
    }
}

retort_guest::export!(CreateEvents, id: "20261122100000", parents: [],
    description: "create the events table",
    branch_labels: ["events"],
    requires: ["catalog" => "20261122090000"]);
