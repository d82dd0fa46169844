//! SQLite's table rebuild (<https://www.sqlite.org/lang_altertable.html#otheralter>): what
//! `ALTER TABLE` cannot do in place — change a column's type, nullability or default, add or
//! drop a constraint — done by creating the table anew, copying its rows (with their row
//! ids), dropping the old table, renaming the new one and recreating the old one's indexes
//! and triggers.
//!
//! The rename runs with `legacy_alter_table` on, so SQLite neither rewrites nor re-checks the
//! views and other tables' triggers that name the table: they name it by name, and afterwards
//! read the new one. Foreign keys are handled as SQLite's procedure requires: the rebuild's
//! `DROP TABLE` must not cascade into the tables that reference it, so a rebuild of a
//! referenced table runs with foreign keys off. Retort's SQLite connections enforce them, and
//! SQLite switches that off only outside a transaction: such a rebuild needs a migration
//! declared `transactional: false`, where the host switches them off around the rebuild's own
//! savepoint (inside a lent transaction it is refused, saying so). `PRAGMA foreign_key_check`
//! of the table and of the tables referencing it must find nothing before the savepoint is
//! released.

use super::sqlite_table::{EditError, TableText, quote};
use super::{ColumnChange, Constraint, DdlError, Plan, Writer};

/// The table a rebuild recreates, as the host read it from the catalog.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SqliteTable {
    /// Its name, as the catalog spells it.
    pub name: String,
    /// Its `CREATE TABLE` statement (`sqlite_master.sql`).
    pub sql: String,
    /// Its stored columns, in order (`pragma_table_xinfo` without generated columns).
    pub columns: Vec<String>,
    /// Whether it has row ids (it is not `WITHOUT ROWID`).
    pub rowid: bool,
    /// The statements creating its indexes and triggers, in the order they were made.
    pub dependents: Vec<String>,
    /// Its `sqlite_sequence` counter (an `AUTOINCREMENT` table).
    pub sequence: Option<i64>,
    /// The other tables whose foreign keys reference it.
    pub referenced_by: Vec<String>,
    /// `PRAGMA foreign_keys` on the migration's connection.
    pub foreign_keys_on: bool,
    /// `PRAGMA legacy_alter_table` on the migration's connection (restored afterwards).
    pub legacy_alter_table: bool,
    /// `PRAGMA defer_foreign_keys` on the migration's connection (restored afterwards).
    pub defer_foreign_keys: bool,
}

pub(super) fn alter_column(
    w: &Writer,
    t: &SqliteTable,
    c: &ColumnChange,
    in_transaction: bool,
) -> Result<Plan, DdlError> {
    let mut text = TableText::parse(&t.sql).map_err(|e| unreadable(t, &e))?;
    let data_type = c.data_type.as_ref().map(|d| w.data_type(d));
    let default = super::new_default(c);
    text.alter_column(&c.column, data_type.as_deref(), c.nullable, default)
        .map_err(|e| edit_error(t, "alter-column", e))?;
    rebuild(t, &text, in_transaction)
}

pub(super) fn add_constraint(
    w: &Writer,
    t: &SqliteTable,
    c: &Constraint,
    in_transaction: bool,
) -> Result<Plan, DdlError> {
    let mut text = TableText::parse(&t.sql).map_err(|e| unreadable(t, &e))?;
    text.add_constraint(w.constraint(c)?);
    rebuild(t, &text, in_transaction)
}

pub(super) fn drop_constraint(
    t: &SqliteTable,
    name: &str,
    in_transaction: bool,
) -> Result<Plan, DdlError> {
    let mut text = TableText::parse(&t.sql).map_err(|e| unreadable(t, &e))?;
    text.drop_constraint(name)
        .map_err(|e| edit_error(t, "drop-constraint", e))?;
    rebuild(t, &text, in_transaction)
}

fn unreadable(t: &SqliteTable, reason: &str) -> DdlError {
    DdlError::Unreadable {
        table: t.name.clone(),
        reason: reason.to_string(),
    }
}

fn edit_error(t: &SqliteTable, operation: &'static str, e: EditError) -> DdlError {
    match e {
        EditError::NoColumn(column) => DdlError::NoSuchColumn {
            operation,
            table: t.name.clone(),
            column,
        },
        EditError::NoConstraint(name) => DdlError::NoSuchConstraint {
            table: t.name.clone(),
            name,
        },
        EditError::Unreadable(reason) => unreadable(t, &reason),
    }
}

/// The name the new table has until the old one is gone.
fn scratch_name(table: &str) -> String {
    format!("{table}__retort_rebuild")
}

/// The rebuild of `t` as `text` describes it; `in_transaction`: inside the transaction Retort
/// lent the migration.
fn rebuild(t: &SqliteTable, text: &TableText, in_transaction: bool) -> Result<Plan, DdlError> {
    if t.foreign_keys_on && !t.referenced_by.is_empty() && in_transaction {
        return Err(DdlError::RebuildCascades {
            table: t.name.clone(),
            referenced_by: t.referenced_by.clone(),
        });
    }
    let (old, new) = (quote(&t.name), quote(&scratch_name(&t.name)));
    let mut columns: Vec<String> = t.columns.iter().map(|c| quote(c)).collect();
    let shadowed = t.columns.iter().any(|c| {
        ["rowid", "_rowid_", "oid"]
            .iter()
            .any(|r| c.eq_ignore_ascii_case(r))
    });
    if t.rowid && !shadowed {
        // Row ids survive: other rows (and applications) may hold them.
        columns.insert(0, "rowid".to_string());
    }
    let columns = columns.join(", ");
    let mut statements = vec![
        // Keys are checked once the rebuild is done, by `foreign_key_check`, which names the
        // rows; until then the copy may reference rows that are not there yet.
        "PRAGMA defer_foreign_keys = ON".to_string(),
        text.render(&scratch_name(&t.name)),
        format!("INSERT INTO {new} ({columns}) SELECT {columns} FROM {old}"),
        // Its rows were copied: not the loss `retort lint` warns of.
        format!("DROP TABLE {old} /* retort: allow drop-table */"),
        "PRAGMA legacy_alter_table = ON".to_string(),
        format!("ALTER TABLE {new} RENAME TO {old}"),
        legacy(t.legacy_alter_table),
    ];
    statements.extend(t.dependents.iter().cloned());
    if let Some(seq) = t.sequence {
        statements.push(format!(
            "UPDATE sqlite_sequence SET seq = {seq} WHERE name = '{}' AND seq < {seq}",
            t.name.replace('\'', "''")
        ));
    }
    let mut check = vec![t.name.clone()];
    check.extend(t.referenced_by.iter().cloned());
    Ok(Plan {
        statements,
        atomic: true,
        foreign_key_check: check,
        finally: vec![
            legacy(t.legacy_alter_table),
            format!(
                "PRAGMA defer_foreign_keys = {}",
                if t.defer_foreign_keys { "ON" } else { "OFF" }
            ),
        ],
        foreign_keys_off: t.foreign_keys_on && !t.referenced_by.is_empty(),
    })
}

fn legacy(on: bool) -> String {
    format!(
        "PRAGMA legacy_alter_table = {}",
        if on { "ON" } else { "OFF" }
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::Dialect;
    use crate::db::ddl::{ColumnType, Facts, Operation, plan};

    fn table() -> SqliteTable {
        SqliteTable {
            name: "items".into(),
            sql: "CREATE TABLE items (id INTEGER PRIMARY KEY, price TEXT)".into(),
            columns: vec!["id".into(), "price".into()],
            rowid: true,
            dependents: vec!["CREATE INDEX items_price ON items (price)".into()],
            sequence: None,
            referenced_by: vec!["orders".into()],
            foreign_keys_on: false,
            legacy_alter_table: false,
            defer_foreign_keys: false,
        }
    }

    fn change() -> Operation {
        Operation::AlterColumn(ColumnChange {
            table: "items".into(),
            column: "price".into(),
            data_type: Some(ColumnType::Integer),
            nullable: Some(false),
            default_value: None,
        })
    }

    #[test]
    fn a_rebuild_keeps_row_ids_indexes_and_checks_the_keys_of_referencing_tables() {
        let facts = Facts {
            sqlite: Some(table()),
            ..Facts::default()
        };
        let p = plan(Dialect::Sqlite, &change(), &facts, true).unwrap();
        assert_eq!(
            p.statements,
            [
                "PRAGMA defer_foreign_keys = ON",
                "CREATE TABLE \"items__retort_rebuild\" (\n    id INTEGER PRIMARY KEY,\n    price \
                 INTEGER NOT NULL\n)",
                "INSERT INTO \"items__retort_rebuild\" (rowid, \"id\", \"price\") SELECT rowid, \
                 \"id\", \"price\" FROM \"items\"",
                "DROP TABLE \"items\" /* retort: allow drop-table */",
                "PRAGMA legacy_alter_table = ON",
                "ALTER TABLE \"items__retort_rebuild\" RENAME TO \"items\"",
                "PRAGMA legacy_alter_table = OFF",
                "CREATE INDEX items_price ON items (price)",
            ]
        );
        assert!(p.atomic);
        assert_eq!(p.foreign_key_check, ["items", "orders"]);
        assert!(!p.foreign_keys_off);
    }

    #[test]
    fn a_referenced_table_is_not_rebuilt_with_foreign_keys_on_inside_a_transaction() {
        let mut t = table();
        t.foreign_keys_on = true;
        let facts = Facts {
            sqlite: Some(t),
            ..Facts::default()
        };
        let err = plan(Dialect::Sqlite, &change(), &facts, true).unwrap_err();
        assert!(
            matches!(&err, DdlError::RebuildCascades { referenced_by, .. }
                if referenced_by.iter().any(|t| t == "orders")),
            "{err}"
        );
        assert!(
            plan(Dialect::Sqlite, &change(), &facts, false)
                .unwrap()
                .foreign_keys_off
        );
    }
}
