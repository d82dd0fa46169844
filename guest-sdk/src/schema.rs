//! Portable schema operations (WIT 0.3.0 `schema`): describe a schema change once, and the
//! host writes it in the dialect's SQL, runs it on the migration's transaction and records it
//! (`retort upgrade --sql`, `retort check`, the journal show it). On SQLite, a change `ALTER
//! TABLE` cannot make in place (a column's type, nullability or default, a constraint added
//! or dropped) is SQLite's table rebuild, which keeps the rows, their row ids, the table's
//! indexes and triggers and the views that read it.
//!
//! ```no_run
//! use retort_guest::schema::{Column, ColumnType, ForeignKey, Index, Table};
//! # fn f(tx: &retort_guest::Tx) -> retort_guest::Result<()> {
//! tx.create_table(
//!     Table::new("orders")
//!         .column(Column::new("id", ColumnType::BigInteger).not_null().identity())
//!         .column(Column::new("user_id", ColumnType::BigInteger).not_null())
//!         .column(Column::new("status", ColumnType::Varchar(20)).not_null().default_sql("'new'"))
//!         .primary_key(&["id"])
//!         .foreign_key(ForeignKey::new("orders_user", &["user_id"], "users", &["id"]).cascade()),
//! )?;
//! tx.create_index(Index::new("orders_by_status", "orders", &["status"]))?;
//! tx.alter_column(retort_guest::schema::ColumnChange::new("orders", "status").nullable(true))?;
//! # Ok(()) }
//! ```
//!
//! Names are plain identifiers (the host quotes them); defaults, check expressions and index
//! conditions are SQL, sent as written.

use crate::bindings::retort::migration0_3_0::schema as host;
pub use crate::bindings::retort::migration0_3_0::schema::{
    Check, Column, ColumnChange, ColumnType, Constraint, ConstraintKind, DecimalSize,
    DefaultChange, ForeignKey, Index, ObjectKind, Operation, ReferenceAction, Table, Unique,
};
use crate::{Result, Tx};

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

impl Column {
    /// A nullable column without a default.
    pub fn new(name: &str, data_type: ColumnType) -> Column {
        Column {
            name: name.into(),
            data_type,
            nullable: true,
            default_value: None,
            identity: false,
        }
    }

    /// The column may not hold NULL.
    pub fn not_null(mut self) -> Column {
        self.nullable = false;
        self
    }

    /// The column's default, as an SQL expression (`0`, `'new'`, `CURRENT_TIMESTAMP`).
    pub fn default_sql(mut self, expression: &str) -> Column {
        self.default_value = Some(expression.into());
        self
    }

    /// The database numbers new rows itself (the single column of the primary key).
    pub fn identity(mut self) -> Column {
        self.identity = true;
        self
    }
}

impl Table {
    /// A table without columns yet.
    pub fn new(name: &str) -> Table {
        Table {
            name: name.into(),
            columns: Vec::new(),
            primary_key: Vec::new(),
            constraints: Vec::new(),
        }
    }

    /// Adds a column.
    pub fn column(mut self, column: Column) -> Table {
        self.columns.push(column);
        self
    }

    /// Sets the primary key's columns.
    pub fn primary_key(mut self, columns: &[&str]) -> Table {
        self.primary_key = names(columns);
        self
    }

    /// Adds a foreign key.
    pub fn foreign_key(mut self, key: ForeignKey) -> Table {
        self.constraints.push(Constraint::ForeignKey(key));
        self
    }

    /// Adds a unique constraint.
    pub fn unique(mut self, name: &str, columns: &[&str]) -> Table {
        self.constraints.push(Constraint::Unique(Unique {
            name: name.into(),
            columns: names(columns),
        }));
        self
    }

    /// Adds a check constraint.
    pub fn check(mut self, name: &str, expression: &str) -> Table {
        self.constraints.push(Constraint::Check(Check {
            name: name.into(),
            expression: expression.into(),
        }));
        self
    }
}

impl ForeignKey {
    /// `columns` reference `table`'s `referenced`, with no action on delete or update.
    pub fn new(name: &str, columns: &[&str], table: &str, referenced: &[&str]) -> ForeignKey {
        ForeignKey {
            name: name.into(),
            columns: names(columns),
            referenced_table: table.into(),
            referenced_columns: names(referenced),
            on_delete: ReferenceAction::NoAction,
            on_update: ReferenceAction::NoAction,
        }
    }

    /// Deleting a referenced row deletes the rows referencing it.
    pub fn cascade(mut self) -> ForeignKey {
        self.on_delete = ReferenceAction::Cascade;
        self
    }

    /// What deleting a referenced row does.
    pub fn on_delete(mut self, action: ReferenceAction) -> ForeignKey {
        self.on_delete = action;
        self
    }
}

impl Index {
    /// A plain index of `columns`.
    pub fn new(name: &str, table: &str, columns: &[&str]) -> Index {
        Index {
            name: name.into(),
            table: table.into(),
            columns: names(columns),
            unique: false,
            where_clause: None,
            concurrently: false,
        }
    }

    /// The indexed values must be unique.
    pub fn unique(mut self) -> Index {
        self.unique = true;
        self
    }

    /// Only rows meeting `condition` are indexed (PostgreSQL, SQLite).
    pub fn partial(mut self, condition: &str) -> Index {
        self.where_clause = Some(condition.into());
        self
    }

    /// Built without blocking writes (PostgreSQL, in a `transactional: false` migration).
    pub fn concurrently(mut self) -> Index {
        self.concurrently = true;
        self
    }
}

impl ColumnChange {
    /// A change of `table.column` that changes nothing yet.
    pub fn new(table: &str, column: &str) -> ColumnChange {
        ColumnChange {
            table: table.into(),
            column: column.into(),
            data_type: None,
            nullable: None,
            default_value: None,
        }
    }

    /// Changes the column's type.
    pub fn data_type(mut self, data_type: ColumnType) -> ColumnChange {
        self.data_type = Some(data_type);
        self
    }

    /// Allows (`true`) or forbids (`false`) NULL.
    pub fn nullable(mut self, nullable: bool) -> ColumnChange {
        self.nullable = Some(nullable);
        self
    }

    /// Sets the default (an SQL expression), or drops it (`None`).
    pub fn default_sql(mut self, expression: Option<&str>) -> ColumnChange {
        self.default_value = Some(match expression {
            Some(e) => DefaultChange::Set(e.to_string()),
            None => DefaultChange::Drop,
        });
        self
    }
}

impl Tx<'_> {
    /// Runs a schema operation: the host writes it in the dialect's SQL.
    pub fn apply(&self, operation: Operation) -> Result<()> {
        if self.allow.is_empty() {
            host::apply(self.inner, &operation)
        } else {
            host::apply_allowing(self.inner, &operation, &self.allow)
        }
    }

    /// This transaction, with `retort lint` rules acknowledged for the schema operations
    /// applied through it — what a `retort: allow RULE` comment does for SQL written by hand:
    ///
    /// ```no_run
    /// # fn f(tx: &retort_guest::Tx) -> retort_guest::Result<()> {
    /// // The column's readers were removed two releases ago.
    /// tx.allowing(&["drop-column"]).drop_column("users", "legacy_name")?;
    /// # Ok(()) }
    /// ```
    pub fn allowing(&self, rules: &[&str]) -> Tx<'_> {
        Tx {
            inner: self.inner,
            allow: rules.iter().map(|r| r.to_string()).collect(),
        }
    }

    /// The statements [`Tx::apply`] would run for `operation`, without running them.
    pub fn statements(&self, operation: Operation) -> Result<Vec<String>> {
        host::statements(self.inner, &operation)
    }

    /// `CREATE TABLE`.
    pub fn create_table(&self, table: Table) -> Result<()> {
        self.apply(Operation::CreateTable(table))
    }

    /// `DROP TABLE`.
    pub fn drop_table(&self, table: &str) -> Result<()> {
        self.apply(Operation::DropTable(table.into()))
    }

    /// Renames a table.
    pub fn rename_table(&self, from: &str, to: &str) -> Result<()> {
        self.apply(Operation::RenameTable((from.into(), to.into())))
    }

    /// Adds a column.
    pub fn add_column(&self, table: &str, column: Column) -> Result<()> {
        self.apply(Operation::AddColumn((table.into(), column)))
    }

    /// Drops a column.
    pub fn drop_column(&self, table: &str, column: &str) -> Result<()> {
        self.apply(Operation::DropColumn((table.into(), column.into())))
    }

    /// Renames a column.
    pub fn rename_column(&self, table: &str, from: &str, to: &str) -> Result<()> {
        self.apply(Operation::RenameColumn((
            table.into(),
            from.into(),
            to.into(),
        )))
    }

    /// Changes a column's type, nullability or default (a table rebuild on SQLite).
    pub fn alter_column(&self, change: ColumnChange) -> Result<()> {
        self.apply(Operation::AlterColumn(change))
    }

    /// `CREATE INDEX`.
    pub fn create_index(&self, index: Index) -> Result<()> {
        self.apply(Operation::CreateIndex(index))
    }

    /// Drops an index of `table`.
    pub fn drop_index(&self, table: &str, index: &str) -> Result<()> {
        self.apply(Operation::DropIndex((table.into(), index.into(), false)))
    }

    /// Adds a constraint to a table (a table rebuild on SQLite).
    pub fn add_constraint(&self, table: &str, constraint: Constraint) -> Result<()> {
        self.apply(Operation::AddConstraint((table.into(), constraint)))
    }

    /// In an upgrade, before replacing or dropping a view, function, procedure or trigger:
    /// keeps its definition as the catalog has it now in this migration's history record,
    /// for the downgrade's [`Tx::restore_definition`] — which then works even after this
    /// migration's source is gone. `false`: there is no such object.
    ///
    /// ```no_run
    /// # fn f(tx: &retort_guest::Tx) -> retort_guest::Result<()> {
    /// use retort_guest::schema::ObjectKind;
    /// tx.keep_definition(ObjectKind::Function, "price_with_tax")?;
    /// tx.execute("CREATE OR REPLACE FUNCTION price_with_tax(p numeric) RETURNS numeric \
    ///             LANGUAGE sql AS $$ SELECT p * 1.21 $$", ())?;
    /// # Ok(()) }
    /// ```
    pub fn keep_definition(&self, kind: ObjectKind, name: &str) -> Result<bool> {
        host::keep_definition(self.inner, kind, name)
    }

    /// In a downgrade: recreates what this migration's upgrade kept under `kind` and `name`.
    /// `false`: it kept nothing there.
    pub fn restore_definition(&self, kind: ObjectKind, name: &str) -> Result<bool> {
        host::restore_definition(self.inner, kind, name)
    }

    /// Drops a constraint by kind and name (a table rebuild on SQLite).
    pub fn drop_constraint(&self, table: &str, kind: ConstraintKind, name: &str) -> Result<()> {
        self.apply(Operation::DropConstraint((table.into(), kind, name.into())))
    }
}
