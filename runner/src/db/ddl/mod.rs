//! Portable schema operations (WIT 0.3.0 `schema`) written in each dialect's SQL.
//!
//! [`plan`] is pure: from an operation, the dialect and the [`Facts`] the host read from the
//! catalog beforehand (what [`needs`] asks for), it gives the statements to run and the
//! checks to make after them. Most operations are one statement; on SQLite, what `ALTER
//! TABLE` cannot do in place is SQLite's documented table rebuild (`rebuild`), and on MySQL a
//! change of a column's type or nullability restates the rest of the column (`MODIFY`).

pub mod definitions;
mod error;
mod rebuild;
pub mod sqlite_table;

pub use crate::bindings::schema::{
    Column, ColumnChange, ColumnType, Constraint, ConstraintKind, DefaultChange, Index, Operation,
    ReferenceAction, Table,
};
use crate::core::Dialect;
pub use error::DdlError;
pub use rebuild::SqliteTable;

/// What the host reads from the catalog before [`plan`] can write an operation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Needs {
    /// Nothing: the operation is one statement whatever the table holds.
    Nothing,
    /// The SQLite table to rebuild ([`SqliteTable`]).
    SqliteTable(String),
    /// The MySQL column whose definition `MODIFY` restates: `(table, column)`.
    MysqlColumn(String, String),
}

/// A MySQL column as `information_schema.COLUMNS` describes it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MysqlColumn {
    /// `COLUMN_TYPE`, e.g. `varchar(40)`.
    pub column_type: String,
    /// `IS_NULLABLE = 'YES'`.
    pub nullable: bool,
    /// `COLUMN_DEFAULT` as MariaDB writes it: an expression, a quoted literal, or `NULL`.
    pub default: Option<String>,
    /// `EXTRA`, e.g. `auto_increment`, `on update current_timestamp()`.
    pub extra: String,
    /// `COLLATION_NAME`, for text columns.
    pub collation: Option<String>,
    /// `COLUMN_COMMENT` (empty: none), which `MODIFY` would otherwise drop.
    pub comment: String,
}

/// What the host read for [`plan`] (as [`needs`] asked).
#[derive(Clone, Debug, Default)]
pub struct Facts {
    /// The SQLite table to rebuild.
    pub sqlite: Option<SqliteTable>,
    /// The MySQL column to restate.
    pub mysql: Option<MysqlColumn>,
}

/// The statements for one operation, and what to check once they ran.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// What to run, in order.
    pub statements: Vec<String>,
    /// Run inside a savepoint, so a failure part-way leaves nothing (SQLite rebuilds).
    pub atomic: bool,
    /// Tables whose foreign keys `PRAGMA foreign_key_check` must find intact before the
    /// savepoint is released (SQLite rebuilds).
    pub foreign_key_check: Vec<String>,
    /// Run after the statements whether they succeeded or not (settings a rebuild changed).
    pub finally: Vec<String>,
    /// Switch foreign keys off around the savepoint (a rebuild of a referenced table outside
    /// a transaction, on a connection that enforces them).
    pub foreign_keys_off: bool,
}

impl Plan {
    fn one(statement: String) -> Plan {
        Plan {
            statements: vec![statement],
            ..Plan::default()
        }
    }
}

/// A short name for the operation, as the journal and `--sql` show it:
/// `alter-column items.price`.
pub fn describe(op: &Operation) -> String {
    match op {
        Operation::CreateTable(t) => format!("create-table {}", t.name),
        Operation::DropTable(t) => format!("drop-table {t}"),
        Operation::RenameTable((from, to)) => format!("rename-table {from} → {to}"),
        Operation::AddColumn((t, c)) => format!("add-column {t}.{}", c.name),
        Operation::DropColumn((t, c)) => format!("drop-column {t}.{c}"),
        Operation::RenameColumn((t, from, to)) => format!("rename-column {t}.{from} → {to}"),
        Operation::AlterColumn(c) => format!("alter-column {}.{}", c.table, c.column),
        Operation::CreateIndex(i) => format!("create-index {} on {}", i.name, i.table),
        Operation::DropIndex((t, i, _)) => format!("drop-index {i} on {t}"),
        Operation::AddConstraint((t, c)) => {
            let name = match c {
                Constraint::ForeignKey(f) => &f.name,
                Constraint::Unique(u) => &u.name,
                Constraint::Check(c) => &c.name,
            };
            format!("add-constraint {t}.{name}")
        }
        Operation::DropConstraint((t, _, n)) => format!("drop-constraint {t}.{n}"),
    }
}

/// What the host must read before [`plan`] can write `op` on `dialect`.
pub fn needs(dialect: Dialect, op: &Operation) -> Needs {
    match (dialect, op) {
        (Dialect::Sqlite, Operation::AlterColumn(c)) => Needs::SqliteTable(c.table.clone()),
        (Dialect::Sqlite, Operation::AddConstraint((t, _)))
        | (Dialect::Sqlite, Operation::DropConstraint((t, _, _))) => Needs::SqliteTable(t.clone()),
        (Dialect::Mysql, Operation::AlterColumn(c))
            if c.data_type.is_some() || c.nullable.is_some() =>
        {
            Needs::MysqlColumn(c.table.clone(), c.column.clone())
        }
        _ => Needs::Nothing,
    }
}

/// The statements that carry out `op` on `dialect`, given what [`needs`] asked for.
/// `in_transaction`: the migration runs in the transaction Retort opened.
pub fn plan(
    dialect: Dialect,
    op: &Operation,
    facts: &Facts,
    in_transaction: bool,
) -> Result<Plan, DdlError> {
    check_names(op)?;
    let w = Writer { dialect };
    match op {
        Operation::CreateTable(t) => w.create_table(t).map(Plan::one),
        Operation::DropTable(t) => Ok(Plan::one(format!("DROP TABLE {}", w.q(t)))),
        Operation::RenameTable((from, to)) => Ok(Plan::one(format!(
            "ALTER TABLE {} RENAME TO {}",
            w.q(from),
            w.q(to)
        ))),
        Operation::AddColumn((t, c)) => Ok(Plan::one(format!(
            "ALTER TABLE {} ADD COLUMN {}",
            w.q(t),
            w.column(c, false)?
        ))),
        Operation::DropColumn((t, c)) => Ok(Plan::one(format!(
            "ALTER TABLE {} DROP COLUMN {}",
            w.q(t),
            w.q(c)
        ))),
        Operation::RenameColumn((t, from, to)) => Ok(Plan::one(format!(
            "ALTER TABLE {} RENAME COLUMN {} TO {}",
            w.q(t),
            w.q(from),
            w.q(to)
        ))),
        Operation::AlterColumn(c) => w.alter_column(c, facts, in_transaction),
        Operation::CreateIndex(i) => w.create_index(i, in_transaction).map(Plan::one),
        Operation::DropIndex((t, i, concurrently)) => w
            .drop_index(t, i, *concurrently, in_transaction)
            .map(Plan::one),
        Operation::AddConstraint((t, c)) => match dialect {
            Dialect::Sqlite => rebuild::add_constraint(&w, sqlite(facts)?, c, in_transaction),
            _ => Ok(Plan::one(format!(
                "ALTER TABLE {} ADD {}",
                w.q(t),
                w.constraint(c)?
            ))),
        },
        Operation::DropConstraint((t, kind, name)) => match dialect {
            Dialect::Sqlite => rebuild::drop_constraint(sqlite(facts)?, name, in_transaction),
            Dialect::Mysql => Ok(Plan::one(format!(
                "ALTER TABLE {} DROP {} {}",
                w.q(t),
                match kind {
                    ConstraintKind::ForeignKey => "FOREIGN KEY",
                    ConstraintKind::Unique => "INDEX",
                    ConstraintKind::Check => "CONSTRAINT",
                },
                w.q(name)
            ))),
            Dialect::Postgres => Ok(Plan::one(format!(
                "ALTER TABLE {} DROP CONSTRAINT {}",
                w.q(t),
                w.q(name)
            ))),
        },
    }
}

/// Refuses a name that holds a control character (a newline, a NUL, an escape): quoting keeps
/// any other character inside the name, but a line break would end the `-- retort schema:`
/// comment a statement starts with, and no engine's catalog, terminal or log shows such a
/// name faithfully. Names built from row data (a table per tenant) make this a check on data.
pub fn check_name(name: &str) -> Result<(), DdlError> {
    match name
        .chars()
        .find(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'))
    {
        Some(character) => Err(DdlError::ControlCharacter {
            name: name.to_string(),
            character,
        }),
        None if name.is_empty() => Err(DdlError::EmptyName),
        None => Ok(()),
    }
}

/// Every name `op` holds: tables, columns, indexes, constraints and what they reference.
pub fn names(op: &Operation) -> Vec<&str> {
    // A constraint named "" is unnamed (the engine names it): it has no name to check.
    fn named(n: &str) -> Option<&str> {
        (!n.is_empty()).then_some(n)
    }
    fn constraint(c: &Constraint) -> Vec<&str> {
        match c {
            Constraint::ForeignKey(f) => named(&f.name)
                .into_iter()
                .chain(f.columns.iter().map(String::as_str))
                .chain(std::iter::once(f.referenced_table.as_str()))
                .chain(f.referenced_columns.iter().map(String::as_str))
                .collect(),
            Constraint::Unique(u) => named(&u.name)
                .into_iter()
                .chain(u.columns.iter().map(String::as_str))
                .collect(),
            Constraint::Check(c) => named(&c.name).into_iter().collect(),
        }
    }
    match op {
        Operation::CreateTable(t) => std::iter::once(t.name.as_str())
            .chain(t.columns.iter().map(|c| c.name.as_str()))
            .chain(t.primary_key.iter().map(String::as_str))
            .chain(t.constraints.iter().flat_map(constraint))
            .collect(),
        Operation::DropTable(t) => vec![t],
        Operation::RenameTable((a, b)) => vec![a, b],
        Operation::AddColumn((t, c)) => vec![t, &c.name],
        Operation::DropColumn((t, c)) => vec![t, c],
        Operation::RenameColumn((t, a, b)) => vec![t, a, b],
        Operation::AlterColumn(c) => vec![&c.table, &c.column],
        Operation::CreateIndex(i) => std::iter::once(i.name.as_str())
            .chain(std::iter::once(i.table.as_str()))
            .chain(i.columns.iter().map(String::as_str))
            .collect(),
        Operation::DropIndex((t, i, _)) => vec![t, i],
        Operation::AddConstraint((t, c)) => {
            std::iter::once(t.as_str()).chain(constraint(c)).collect()
        }
        Operation::DropConstraint((t, _, n)) => vec![t, n],
    }
}

/// [`check_name`] for every name of `op`.
pub fn check_names(op: &Operation) -> Result<(), DdlError> {
    names(op).into_iter().try_for_each(check_name)
}

fn sqlite(facts: &Facts) -> Result<&SqliteTable, DdlError> {
    facts.sqlite.as_ref().ok_or(DdlError::TableNotRead)
}

/// `name` quoted as an identifier of `dialect`, as every statement written here quotes names.
pub fn quote(dialect: Dialect, name: &str) -> String {
    Writer { dialect }.q(name)
}

/// Writes names, types and clauses for one dialect.
pub(crate) struct Writer {
    pub(crate) dialect: Dialect,
}

impl Writer {
    /// `CONSTRAINT <name> `, or nothing for an unnamed constraint (`""`: the engine names it,
    /// as it names one SQLAlchemy creates without a name).
    fn named(&self, name: &str) -> String {
        match name {
            "" => String::new(),
            name => format!("CONSTRAINT {} ", self.q(name)),
        }
    }

    /// `name` quoted for the dialect.
    pub(crate) fn q(&self, name: &str) -> String {
        match self.dialect {
            Dialect::Mysql => format!("`{}`", name.replace('`', "``")),
            _ => format!("\"{}\"", name.replace('"', "\"\"")),
        }
    }

    fn list(&self, names: &[String]) -> Result<String, DdlError> {
        if names.is_empty() {
            return Err(DdlError::EmptyColumnList);
        }
        Ok(names
            .iter()
            .map(|n| self.q(n))
            .collect::<Vec<_>>()
            .join(", "))
    }

    /// The dialect's name for a portable type.
    pub(crate) fn data_type(&self, t: &ColumnType) -> String {
        use ColumnType as T;
        let (sqlite, postgres, mysql): (&str, &str, &str) = match t {
            T::Boolean => ("BOOLEAN", "BOOLEAN", "BOOLEAN"),
            T::SmallInteger => ("SMALLINT", "SMALLINT", "SMALLINT"),
            T::Integer => ("INTEGER", "INTEGER", "INT"),
            T::BigInteger => ("INTEGER", "BIGINT", "BIGINT"),
            T::Float => ("REAL", "REAL", "FLOAT"),
            T::Double => ("REAL", "DOUBLE PRECISION", "DOUBLE"),
            T::Decimal(d) => {
                let (p, s) = (d.precision, d.scale);
                return match self.dialect {
                    Dialect::Postgres => format!("NUMERIC({p}, {s})"),
                    _ => format!("DECIMAL({p}, {s})"),
                };
            }
            T::Text => ("TEXT", "TEXT", "TEXT"),
            T::Varchar(n) => return format!("VARCHAR({n})"),
            T::Bytes => ("BLOB", "BYTEA", "LONGBLOB"),
            T::Date => ("DATE", "DATE", "DATE"),
            T::Time => ("TIME", "TIME", "TIME(6)"),
            T::Timestamp => ("TIMESTAMP", "TIMESTAMP", "DATETIME(6)"),
            T::Timestamptz => ("TIMESTAMPTZ", "TIMESTAMPTZ", "TIMESTAMP(6)"),
            T::Uuid => ("UUID", "UUID", "CHAR(36)"),
            T::Json => ("JSON", "JSONB", "JSON"),
            T::Native(n) => return n.clone(),
        };
        match self.dialect {
            Dialect::Sqlite => sqlite,
            Dialect::Postgres => postgres,
            Dialect::Mysql => mysql,
        }
        .to_string()
    }

    /// A column definition. `sole_key`: the column is the table's whole primary key (SQLite
    /// writes an identity column's key on the column itself).
    pub(crate) fn column(&self, c: &Column, sole_key: bool) -> Result<String, DdlError> {
        let mut sql = format!("{} {}", self.q(&c.name), self.data_type(&c.data_type));
        if c.identity {
            match self.dialect {
                Dialect::Sqlite if sole_key => {
                    // The row id: SQLite numbers it only as `INTEGER PRIMARY KEY`.
                    return Ok(format!(
                        "{} INTEGER PRIMARY KEY AUTOINCREMENT",
                        self.q(&c.name)
                    ));
                }
                Dialect::Sqlite => {
                    return Err(DdlError::IdentityNotSoleKey {
                        column: c.name.clone(),
                    });
                }
                Dialect::Postgres => sql.push_str(" GENERATED BY DEFAULT AS IDENTITY"),
                Dialect::Mysql => {}
            }
        }
        if !c.nullable {
            sql.push_str(" NOT NULL");
        }
        if let Some(d) = &c.default_value {
            sql.push_str(&format!(" DEFAULT {}", self.default_expr(d)));
        }
        if c.identity && self.dialect == Dialect::Mysql {
            sql.push_str(" AUTO_INCREMENT");
        }
        Ok(sql)
    }

    /// A default as the dialect takes an expression: SQLite and MySQL need parentheses
    /// around anything but a literal.
    fn default_expr(&self, d: &str) -> String {
        match self.dialect {
            Dialect::Postgres => d.to_string(),
            _ if is_literal(d) => d.to_string(),
            _ => format!("({d})"),
        }
    }

    fn create_table(&self, t: &Table) -> Result<String, DdlError> {
        if t.columns.is_empty() {
            return Err(DdlError::NoColumns {
                table: t.name.clone(),
            });
        }
        let sole_key = |c: &Column| t.primary_key.len() == 1 && t.primary_key[0] == c.name;
        let mut elements = t
            .columns
            .iter()
            .map(|c| self.column(c, sole_key(c)))
            .collect::<Result<Vec<_>, _>>()?;
        let key_on_column =
            self.dialect == Dialect::Sqlite && t.columns.iter().any(|c| c.identity && sole_key(c));
        if !t.primary_key.is_empty() && !key_on_column {
            elements.push(format!("PRIMARY KEY ({})", self.list(&t.primary_key)?));
        }
        for c in &t.constraints {
            elements.push(self.constraint(c)?);
        }
        Ok(format!(
            "CREATE TABLE {} (\n    {}\n)",
            self.q(&t.name),
            elements.join(",\n    ")
        ))
    }

    /// A table constraint: `CONSTRAINT name …`.
    pub(crate) fn constraint(&self, c: &Constraint) -> Result<String, DdlError> {
        Ok(match c {
            Constraint::ForeignKey(f) => {
                if f.columns.len() != f.referenced_columns.len() {
                    return Err(DdlError::ForeignKeyArity {
                        name: f.name.clone(),
                        columns: f.columns.len(),
                        referenced: f.referenced_columns.len(),
                    });
                }
                let mut sql = format!(
                    "{}FOREIGN KEY ({}) REFERENCES {} ({})",
                    self.named(&f.name),
                    self.list(&f.columns)?,
                    self.q(&f.referenced_table),
                    self.list(&f.referenced_columns)?
                );
                for (on, action) in [("DELETE", f.on_delete), ("UPDATE", f.on_update)] {
                    if action != ReferenceAction::NoAction {
                        sql.push_str(&format!(" ON {on} {}", action_sql(action)));
                    }
                }
                sql
            }
            Constraint::Unique(u) => {
                format!("{}UNIQUE ({})", self.named(&u.name), self.list(&u.columns)?)
            }
            Constraint::Check(c) => {
                format!("{}CHECK ({})", self.named(&c.name), c.expression)
            }
        })
    }

    fn create_index(&self, i: &Index, in_transaction: bool) -> Result<String, DdlError> {
        let concurrently = self.concurrently(i.concurrently, in_transaction, "create-index")?;
        let mut sql = format!(
            "CREATE {}INDEX {concurrently}{} ON {} ({})",
            if i.unique { "UNIQUE " } else { "" },
            self.q(&i.name),
            self.q(&i.table),
            self.list(&i.columns)?
        );
        if let Some(w) = &i.where_clause {
            if self.dialect == Dialect::Mysql {
                return Err(DdlError::PartialIndex {
                    index: i.name.clone(),
                    predicate: w.clone(),
                });
            }
            sql.push_str(&format!(" WHERE {w}"));
        }
        Ok(sql)
    }

    fn drop_index(
        &self,
        table: &str,
        index: &str,
        concurrently: bool,
        in_transaction: bool,
    ) -> Result<String, DdlError> {
        let concurrently = self.concurrently(concurrently, in_transaction, "drop-index")?;
        Ok(match self.dialect {
            Dialect::Mysql => format!("DROP INDEX {} ON {}", self.q(index), self.q(table)),
            _ => format!("DROP INDEX {concurrently}{}", self.q(index)),
        })
    }

    /// `CONCURRENTLY ` where asked for on PostgreSQL, which runs it only outside a
    /// transaction.
    fn concurrently(
        &self,
        asked: bool,
        in_transaction: bool,
        operation: &'static str,
    ) -> Result<&'static str, DdlError> {
        if !asked || self.dialect != Dialect::Postgres {
            return Ok("");
        }
        if in_transaction {
            return Err(DdlError::ConcurrentlyInTransaction { operation });
        }
        Ok("CONCURRENTLY ")
    }

    fn alter_column(
        &self,
        c: &ColumnChange,
        facts: &Facts,
        in_transaction: bool,
    ) -> Result<Plan, DdlError> {
        if c.data_type.is_none() && c.nullable.is_none() && c.default_value.is_none() {
            return Err(DdlError::NothingToAlter {
                table: c.table.clone(),
                column: c.column.clone(),
            });
        }
        match self.dialect {
            Dialect::Postgres => Ok(Plan::one(self.postgres_alter(c))),
            Dialect::Mysql => self.mysql_alter(c, facts.mysql.as_ref()),
            Dialect::Sqlite => rebuild::alter_column(self, sqlite(facts)?, c, in_transaction),
        }
    }

    fn postgres_alter(&self, c: &ColumnChange) -> String {
        let col = self.q(&c.column);
        let mut actions = Vec::new();
        if let Some(t) = &c.data_type {
            let t = self.data_type(t);
            actions.push(format!("ALTER COLUMN {col} TYPE {t} USING {col}::{t}"));
        }
        match c.nullable {
            Some(true) => actions.push(format!("ALTER COLUMN {col} DROP NOT NULL")),
            Some(false) => actions.push(format!("ALTER COLUMN {col} SET NOT NULL")),
            None => {}
        }
        match new_default(c) {
            Some(Some(d)) => actions.push(format!("ALTER COLUMN {col} SET DEFAULT {d}")),
            Some(None) => actions.push(format!("ALTER COLUMN {col} DROP DEFAULT")),
            None => {}
        }
        format!("ALTER TABLE {} {}", self.q(&c.table), actions.join(", "))
    }

    /// MySQL: `ALTER COLUMN … SET/DROP DEFAULT` for a default alone; otherwise `MODIFY`
    /// with the column's definition restated from the catalog and the changes applied.
    fn mysql_alter(&self, c: &ColumnChange, now: Option<&MysqlColumn>) -> Result<Plan, DdlError> {
        let (table, col) = (self.q(&c.table), self.q(&c.column));
        let Some(now) = now else {
            return Ok(Plan::one(match new_default(c) {
                Some(Some(d)) => format!(
                    "ALTER TABLE {table} ALTER COLUMN {col} SET DEFAULT {}",
                    self.default_expr(d)
                ),
                _ => format!("ALTER TABLE {table} ALTER COLUMN {col} DROP DEFAULT"),
            }));
        };
        let mut sql = format!("ALTER TABLE {table} MODIFY COLUMN {col} ");
        match &c.data_type {
            Some(t) => sql.push_str(&self.data_type(t)),
            None => {
                sql.push_str(&now.column_type);
                if let Some(collation) = &now.collation {
                    sql.push_str(&format!(" COLLATE {collation}"));
                }
            }
        }
        sql.push_str(if c.nullable.unwrap_or(now.nullable) {
            " NULL"
        } else {
            " NOT NULL"
        });
        let default = match new_default(c) {
            Some(d) => d.map(|d| self.default_expr(d)),
            None => now
                .default
                .as_deref()
                .filter(|d| !d.eq_ignore_ascii_case("NULL"))
                .map(|d| self.default_expr(d)),
        };
        if let Some(d) = default {
            sql.push_str(&format!(" DEFAULT {d}"));
        }
        let extra = now.extra.to_ascii_lowercase();
        if extra.contains("auto_increment") {
            sql.push_str(" AUTO_INCREMENT");
        }
        if let Some(at) = extra.find("on update ") {
            sql.push(' ');
            sql.push_str(&now.extra[at..]);
        }
        if !now.comment.is_empty() {
            sql.push_str(&format!(
                " COMMENT '{}'",
                now.comment.replace('\\', "\\\\").replace('\'', "''")
            ));
        }
        Ok(Plan::one(sql))
    }
}

/// A column change's default: `None` unchanged, `Some(None)` dropped, `Some(Some(e))` set.
pub(crate) fn new_default(c: &ColumnChange) -> Option<Option<&str>> {
    c.default_value.as_ref().map(|d| match d {
        DefaultChange::Set(e) => Some(e.as_str()),
        DefaultChange::Drop => None,
    })
}

/// A number, a string literal, `NULL`, `TRUE` or `FALSE`: what every dialect takes as a
/// default without parentheses.
fn is_literal(d: &str) -> bool {
    let d = d.trim();
    let number = d
        .strip_prefix('-')
        .unwrap_or(d)
        .chars()
        .all(|c| c.is_ascii_digit() || c == '.')
        && !d.is_empty();
    let string = d.len() >= 2 && d.starts_with('\'') && d.ends_with('\'');
    number
        || string
        || ["NULL", "TRUE", "FALSE"]
            .iter()
            .any(|k| d.eq_ignore_ascii_case(k))
}

fn action_sql(a: ReferenceAction) -> &'static str {
    match a {
        ReferenceAction::NoAction => "NO ACTION",
        ReferenceAction::Restrict => "RESTRICT",
        ReferenceAction::Cascade => "CASCADE",
        ReferenceAction::SetNull => "SET NULL",
        ReferenceAction::SetDefault => "SET DEFAULT",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::schema::{Check, DecimalSize, ForeignKey, Unique};

    fn col(name: &str, t: ColumnType, nullable: bool) -> Column {
        Column {
            name: name.into(),
            data_type: t,
            nullable,
            default_value: None,
            identity: false,
        }
    }

    fn items() -> Table {
        let mut id = col("id", ColumnType::BigInteger, false);
        id.identity = true;
        let mut price = col(
            "price",
            ColumnType::Decimal(DecimalSize {
                precision: 10,
                scale: 2,
            }),
            false,
        );
        price.default_value = Some("0".into());
        Table {
            name: "items".into(),
            columns: vec![id, col("name", ColumnType::Varchar(40), true), price],
            primary_key: vec!["id".into()],
            constraints: vec![
                Constraint::Unique(Unique {
                    name: "items_name".into(),
                    columns: vec!["name".into()],
                }),
                Constraint::Check(Check {
                    name: "price_positive".into(),
                    expression: "price >= 0".into(),
                }),
            ],
        }
    }

    fn one(d: Dialect, op: &Operation) -> String {
        let p = plan(d, op, &Facts::default(), true).unwrap();
        assert_eq!(p.statements.len(), 1);
        p.statements[0].clone()
    }

    #[test]
    fn create_table_in_each_dialect() {
        let op = Operation::CreateTable(items());
        assert_eq!(
            one(Dialect::Postgres, &op),
            "CREATE TABLE \"items\" (\n    \"id\" BIGINT GENERATED BY DEFAULT AS IDENTITY NOT \
             NULL,\n    \"name\" VARCHAR(40),\n    \"price\" NUMERIC(10, 2) NOT NULL DEFAULT 0,\n    \
             PRIMARY KEY (\"id\"),\n    CONSTRAINT \"items_name\" UNIQUE (\"name\"),\n    \
             CONSTRAINT \"price_positive\" CHECK (price >= 0)\n)"
        );
        let mysql = one(Dialect::Mysql, &op);
        assert!(
            mysql.contains("`id` BIGINT NOT NULL AUTO_INCREMENT"),
            "{mysql}"
        );
        assert!(mysql.contains("PRIMARY KEY (`id`)"), "{mysql}");
        let sqlite = one(Dialect::Sqlite, &op);
        assert!(
            sqlite.contains("\"id\" INTEGER PRIMARY KEY AUTOINCREMENT,"),
            "{sqlite}"
        );
        assert!(!sqlite.contains("PRIMARY KEY (\"id\")"), "{sqlite}");
    }

    #[test]
    fn alter_column_per_dialect() {
        let change = ColumnChange {
            table: "items".into(),
            column: "name".into(),
            data_type: Some(ColumnType::Text),
            nullable: Some(false),
            default_value: Some(DefaultChange::Set("'none'".into())),
        };
        let op = Operation::AlterColumn(change.clone());
        assert_eq!(
            one(Dialect::Postgres, &op),
            "ALTER TABLE \"items\" ALTER COLUMN \"name\" TYPE TEXT USING \"name\"::TEXT, ALTER \
             COLUMN \"name\" SET NOT NULL, ALTER COLUMN \"name\" SET DEFAULT 'none'"
        );
        assert_eq!(
            needs(Dialect::Mysql, &op),
            Needs::MysqlColumn("items".into(), "name".into())
        );
        let facts = Facts {
            mysql: Some(MysqlColumn {
                column_type: "varchar(40)".into(),
                nullable: true,
                default: Some("'x'".into()),
                extra: String::new(),
                collation: Some("utf8mb4_bin".into()),
                comment: "who's it for".into(),
            }),
            ..Facts::default()
        };
        let nullable_only = Operation::AlterColumn(ColumnChange {
            data_type: None,
            default_value: None,
            ..change
        });
        assert_eq!(
            plan(Dialect::Mysql, &nullable_only, &facts, false)
                .unwrap()
                .statements,
            [
                "ALTER TABLE `items` MODIFY COLUMN `name` varchar(40) COLLATE utf8mb4_bin NOT NULL \
              DEFAULT 'x' COMMENT 'who''s it for'"
            ]
        );
        assert_eq!(
            needs(Dialect::Sqlite, &op),
            Needs::SqliteTable("items".into())
        );
    }

    #[test]
    fn indexes_and_constraints() {
        let index = Index {
            name: "items_cheap".into(),
            table: "items".into(),
            columns: vec!["price".into()],
            unique: false,
            where_clause: Some("price < 10".into()),
            concurrently: true,
        };
        let op = Operation::CreateIndex(index);
        let err = plan(Dialect::Postgres, &op, &Facts::default(), true).unwrap_err();
        assert_eq!(
            err,
            DdlError::ConcurrentlyInTransaction {
                operation: "create-index"
            }
        );
        assert!(err.to_string().contains("transactional: false"), "{err}");
        assert_eq!(
            plan(Dialect::Postgres, &op, &Facts::default(), false)
                .unwrap()
                .statements,
            ["CREATE INDEX CONCURRENTLY \"items_cheap\" ON \"items\" (\"price\") WHERE price < 10"]
        );
        let err = plan(Dialect::Mysql, &op, &Facts::default(), true).unwrap_err();
        assert_eq!(
            err,
            DdlError::PartialIndex {
                index: "items_cheap".into(),
                predicate: "price < 10".into()
            }
        );
        let fk = Operation::AddConstraint((
            "items".into(),
            Constraint::ForeignKey(ForeignKey {
                name: "items_owner".into(),
                columns: vec!["owner".into()],
                referenced_table: "users".into(),
                referenced_columns: vec!["id".into()],
                on_delete: ReferenceAction::Cascade,
                on_update: ReferenceAction::NoAction,
            }),
        ));
        assert_eq!(
            one(Dialect::Mysql, &fk),
            "ALTER TABLE `items` ADD CONSTRAINT `items_owner` FOREIGN KEY (`owner`) REFERENCES \
             `users` (`id`) ON DELETE CASCADE"
        );
        let drop = Operation::DropConstraint((
            "items".into(),
            ConstraintKind::ForeignKey,
            "items_owner".into(),
        ));
        assert_eq!(
            one(Dialect::Mysql, &drop),
            "ALTER TABLE `items` DROP FOREIGN KEY `items_owner`"
        );
        assert_eq!(
            one(Dialect::Postgres, &drop),
            "ALTER TABLE \"items\" DROP CONSTRAINT \"items_owner\""
        );
        assert_eq!(
            one(
                Dialect::Mysql,
                &Operation::DropIndex(("items".into(), "items_cheap".into(), false))
            ),
            "DROP INDEX `items_cheap` ON `items`"
        );
    }

    #[test]
    fn names_are_quoted_against_injection() {
        let op = Operation::DropTable("a\"; DROP TABLE b; --".into());
        assert_eq!(
            one(Dialect::Sqlite, &op),
            "DROP TABLE \"a\"\"; DROP TABLE b; --\""
        );
        let op = Operation::DropTable("a`b".into());
        assert_eq!(one(Dialect::Mysql, &op), "DROP TABLE `a``b`");
    }

    #[test]
    fn names_with_control_characters_are_refused_everywhere_in_an_operation() {
        let evil = "t\nDROP TABLE victim;\n--";
        let mut table = items();
        table.columns[1].name = evil.into();
        let mut index = Index {
            name: "i".into(),
            table: "items".into(),
            columns: vec!["a".into(), evil.into()],
            unique: false,
            where_clause: None,
            concurrently: false,
        };
        let ops = [
            Operation::DropTable(evil.into()),
            Operation::CreateTable(table),
            Operation::RenameTable(("items".into(), "x\r".into())),
            Operation::DropColumn(("items".into(), "\u{1b}[2J".into())),
            Operation::CreateIndex(index.clone()),
        ];
        for op in &ops {
            for d in [Dialect::Sqlite, Dialect::Postgres, Dialect::Mysql] {
                let err = plan(d, op, &Facts::default(), true).unwrap_err();
                assert!(matches!(err, DdlError::ControlCharacter { .. }), "{err}");
            }
        }
        index.columns[1] = "quoted \"but\" fine ✓".into();
        assert!(
            plan(
                Dialect::Postgres,
                &Operation::CreateIndex(index),
                &Facts::default(),
                true
            )
            .is_ok()
        );
        assert_eq!(check_name(""), Err(DdlError::EmptyName));
        // A constraint named "" is unnamed: written without `CONSTRAINT`, the engine names it.
        let unnamed = Operation::AddConstraint((
            "items".into(),
            Constraint::Unique(Unique {
                name: String::new(),
                columns: vec!["code".into()],
            }),
        ));
        assert_eq!(
            plan(Dialect::Postgres, &unnamed, &Facts::default(), true)
                .unwrap()
                .statements,
            ["ALTER TABLE \"items\" ADD UNIQUE (\"code\")"]
        );
    }
}
