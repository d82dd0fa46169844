//! Index events by kind and time.

use retort_guest::{Migration, Result, Tx};

struct IndexEventsByKind;

impl Migration for IndexEventsByKind {
    fn upgrade(tx: &Tx) -> Result<()> {
        // The events table is small when this runs: a blocking build is acceptable here.
        tx.execute(
            "CREATE INDEX events_kind_time ON events (kind, happened_at) \
             /* retort: allow index-without-concurrently */",
            (),
        )?;
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        // MySQL names the table in DROP INDEX; SQLite and PostgreSQL must not.
        match tx.dialect() {
            retort_guest::Dialect::Mysql => tx.execute("DROP INDEX events_kind_time ON events", ())?,
            _ => tx.execute("DROP INDEX events_kind_time", ())?,
        };
        Ok(())
    }
}

retort_guest::export!(IndexEventsByKind, id: "20261122100100", parents: ["20261122100000"],
    description: "index events by kind and time");
