//! Give every event a severity, with portable schema operations instead of dialect SQL: the
//! host writes each operation for the engine it runs on, and on SQLite the `NOT NULL` and the
//! check constraint (which SQLite's `ALTER TABLE` cannot add) are a table rebuild that keeps
//! the rows, their ids and the `events_kind_time` index.

use retort_guest::schema::{Check, Column, ColumnChange, ColumnType, Constraint, ConstraintKind};
use retort_guest::{Migration, Result, Tx};

struct EventSeverity;

impl Migration for EventSeverity {
    fn upgrade(tx: &Tx) -> Result<()> {
        tx.add_column("events", Column::new("severity", ColumnType::Varchar(10)))?;
        tx.execute("UPDATE events SET severity = 'info'", ())?;
        tx.alter_column(
            ColumnChange::new("events", "severity")
                .nullable(false)
                .default_sql(Some("'info'")),
        )?;
        tx.add_constraint(
            "events",
            Constraint::Check(Check {
                name: "events_severity_known".into(),
                expression: "severity IN ('info', 'warn', 'error')".into(),
            }),
        )
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.drop_constraint("events", ConstraintKind::Check, "events_severity_known")?;
        tx.drop_column("events", "severity")
    }
}

retort_guest::export!(EventSeverity, id: "20261205000000", parents: ["20261122100200"],
    description: "give every event a severity (portable schema operations)");
