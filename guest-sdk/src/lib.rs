//! Write [Retort](https://example.invalid/retort) database migrations in Rust.
//!
//! A migration is a crate of type `cdylib` built for `wasm32-wasip2`. It declares the rows it
//! reads as its own structs — a frozen copy of the model, so the migration never depends on the
//! live application — implements [`Migration`], and exports itself with one [`export!`] line:
//!
//! ```no_run
//! use retort_guest::{Migration, Result, Tx, row};
//!
//! row! {
//!     /// A user as this migration knows it.
//!     struct User { id: i64, name: String }
//! }
//!
//! struct NormaliseNames;
//!
//! impl Migration for NormaliseNames {
//!     fn upgrade(tx: &Tx) -> Result<()> {
//!         let mut users = tx.query::<User>("SELECT id, name FROM users", ())?;
//!         while let Some(batch) = users.next_batch()? {
//!             let updates = batch.iter().map(|u| (u.name.trim().to_lowercase(), u.id));
//!             tx.execute_batch("UPDATE users SET name = $1 WHERE id = $2", updates)?;
//!         }
//!         Ok(())
//!     }
//!
//!     fn downgrade(_tx: &Tx) -> Result<()> {
//!         Err(retort_guest::Error::migration("names cannot be un-normalised"))
//!     }
//! }
//!
//! retort_guest::export!(NormaliseNames, id: "20261122050000", parents: ["20261122044700"],
//!     description: "normalise user names");
//! ```
//!
//! Placeholders are `$1`, `$2`, … on every dialect. Parameters are anything that implements
//! [`Params`]: `()`, a tuple of up to twelve [`ToValue`]s, or a `Vec<Value>`.
#![deny(missing_docs)]

mod decode;
mod params;
pub mod schema;
pub mod script;

pub use decode::{FromRow, FromValue, RowReader};

pub use params::{Params, ToValue};

#[doc(hidden)]
pub mod bindings {
    wit_bindgen::generate!({
        world: "retort:migration/migration@0.3.0",
        path: ["../wit/0.1.0", "../wit/0.2.0", "../wit/0.3.0"],
        generate_all,
        pub_export_macro: true,
        export_macro_name: "__export_migration",
        default_bindings_module: "retort_guest::bindings",
        additional_derives: [PartialEq],
    });
}

use bindings::retort::migration0_1_0::{report, sql, types};

pub use types::{Column, DatabaseError, Date, Datetime as DateTime, Dialect, Error, Time, Value};

/// The result type of every fallible call in this crate.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// How many rows [`Rows::next_batch`] asks the host for by default.
pub const DEFAULT_BATCH_SIZE: u32 = 1000;

/// A migration: what a migration crate implements and passes to [`export!`].
pub trait Migration {
    /// Moves the database one revision forward. Return an error to fail (and roll back).
    fn upgrade(tx: &Tx) -> Result<()>;
    /// Reverses [`Migration::upgrade`].
    fn downgrade(tx: &Tx) -> Result<()>;
}

/// An exact decimal in plain notation, e.g. `Decimal("12.50".into())`: `numeric`/`DECIMAL`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Decimal(pub String);

/// A UUID in lowercase hyphenated form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Uuid(pub String);

/// A JSON document as text.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Json(pub String);

/// An instant in UTC: `timestamptz` (PostgreSQL), `TIMESTAMP` (MySQL).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Timestamptz(pub DateTime);

impl Error {
    /// A failure decided by the migration itself, e.g. data it refuses to transform.
    pub fn migration(message: impl Into<String>) -> Self {
        Error::Migration(message.into())
    }
}

/// The transaction the host lends a migration for one `upgrade` or `downgrade` call.
pub struct Tx<'a> {
    inner: &'a sql::Transaction,
    /// Lint rules acknowledged for the schema operations applied through this handle
    /// ([`Tx::allowing`]).
    allow: Vec<String>,
}

impl<'a> Tx<'a> {
    #[doc(hidden)]
    pub fn __new(inner: &'a sql::Transaction) -> Self {
        Tx {
            inner,
            allow: Vec::new(),
        }
    }

    /// The database engine this migration runs against, for the rare statement that differs.
    ///
    /// ```no_run
    /// # fn f(tx: &retort_guest::Tx) -> retort_guest::Result<()> {
    /// use retort_guest::Dialect;
    /// let autoinc = match tx.dialect() {
    ///     Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
    ///     Dialect::Mysql => "BIGINT AUTO_INCREMENT PRIMARY KEY",
    ///     Dialect::Sqlite => "INTEGER PRIMARY KEY",
    /// };
    /// tx.execute(&format!("CREATE TABLE t (id {autoinc})"), ())?;
    /// # Ok(()) }
    /// ```
    pub fn dialect(&self) -> Dialect {
        self.inner.dialect()
    }

    /// Runs one statement; returns the number of rows it affected.
    ///
    /// ```no_run
    /// # fn f(tx: &retort_guest::Tx) -> retort_guest::Result<()> {
    /// tx.execute("UPDATE users SET active = $1 WHERE id = $2", (true, 42))?;
    /// # Ok(()) }
    /// ```
    pub fn execute(&self, statement: &str, params: impl Params) -> Result<u64> {
        self.inner.execute(statement, &params.into_values())
    }

    /// Runs one statement once per parameter set, in one host call with one prepared
    /// statement; returns the total number of rows affected.
    ///
    /// ```no_run
    /// # fn f(tx: &retort_guest::Tx) -> retort_guest::Result<()> {
    /// let rows = vec![(1, "ada"), (2, "grace")];
    /// tx.execute_batch("INSERT INTO users (id, name) VALUES ($1, $2)", rows)?;
    /// # Ok(()) }
    /// ```
    pub fn execute_batch<P: Params>(
        &self,
        statement: &str,
        param_sets: impl IntoIterator<Item = P>,
    ) -> Result<u64> {
        let sets: Vec<Vec<Value>> = param_sets.into_iter().map(Params::into_values).collect();
        if sets.is_empty() {
            return Ok(0);
        }
        self.inner.execute_batch(statement, &sets)
    }

    /// Starts a query whose rows decode into `T` (a [`row!`] struct, `Vec<Value>`, or a tuple
    /// of [`FromValue`]s). Rows stream in batches; other statements may run meanwhile.
    ///
    /// ```no_run
    /// # fn f(tx: &retort_guest::Tx) -> retort_guest::Result<()> {
    /// let mut rows = tx.query::<(i64, String)>("SELECT id, name FROM users WHERE id > $1", (10,))?;
    /// while let Some(batch) = rows.next_batch()? {
    ///     for (id, name) in batch { /* … */ }
    /// }
    /// # Ok(()) }
    /// ```
    pub fn query<T: FromRow>(&self, statement: &str, params: impl Params) -> Result<Rows<T>> {
        let inner = self.inner.query(statement, &params.into_values())?;
        let columns = inner.columns();
        let order = match T::FIELDS {
            Some(fields) => fields
                .iter()
                .map(|field| {
                    columns
                        .iter()
                        .position(|c| c.name.eq_ignore_ascii_case(field))
                        .ok_or_else(|| {
                            Error::Conversion(format!(
                                "the query has no column `{field}` (it has: {})",
                                columns
                                    .iter()
                                    .map(|c| c.name.as_str())
                                    .collect::<Vec<_>>()
                                    .join(", ")
                            ))
                        })
                })
                .collect::<Result<Vec<_>>>()?,
            None => (0..columns.len()).collect(),
        };
        Ok(Rows {
            inner: Some(inner),
            columns,
            order,
            batch_size: DEFAULT_BATCH_SIZE,
            _row: core::marker::PhantomData,
        })
    }

    /// Runs a query and returns its first row, if any.
    pub fn query_one<T: FromRow>(&self, statement: &str, params: impl Params) -> Result<Option<T>> {
        let mut rows = self.query::<T>(statement, params)?.batch_size(1);
        Ok(rows.next_batch()?.and_then(|mut b| b.pop()))
    }
}

/// A streaming query result, decoded into `T` batch by batch.
pub struct Rows<T> {
    /// `None` once exhausted: dropping the handle closes the cursor on the host early.
    inner: Option<sql::Rows>,
    columns: Vec<Column>,
    order: Vec<usize>,
    batch_size: u32,
    _row: core::marker::PhantomData<fn() -> T>,
}

impl<T: FromRow> Rows<T> {
    /// Sets how many rows each [`Rows::next_batch`] asks for (default
    /// [`DEFAULT_BATCH_SIZE`]).
    pub fn batch_size(mut self, rows: u32) -> Self {
        self.batch_size = rows.max(1);
        self
    }

    /// The result's columns.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The next batch of rows, or `None` when the result is exhausted.
    pub fn next_batch(&mut self) -> Result<Option<Vec<T>>> {
        let Some(inner) = &self.inner else {
            return Ok(None);
        };
        let raw = inner.next_batch(self.batch_size)?;
        if (raw.len() as u32) < self.batch_size {
            self.inner = None;
        }
        if raw.is_empty() {
            return Ok(None);
        }
        let mut out = Vec::with_capacity(raw.len());
        for mut values in raw {
            let mut reader = RowReader::new(&mut values, &self.order, &self.columns);
            out.push(T::from_row(&mut reader)?);
        }
        Ok(Some(out))
    }
}

/// Where a directory capability declared in [`export!`] (`capabilities: ["config"]`) is
/// mounted; use it with `std::fs`. Changes become visible only if the migration commits.
///
/// ```no_run
/// let ini = retort_guest::dir("config").join("app.ini");
/// let text = std::fs::read_to_string(&ini).unwrap_or_default();
/// ```
pub fn dir(capability: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(format!("/{capability}"))
}

/// Writes a message to Retort's log, tagged with this migration's id.
pub fn log(message: &str) {
    report::log(report::Level::Info, message);
}

/// Writes a warning to Retort's log.
pub fn warn(message: &str) {
    report::log(report::Level::Warn, message);
}

/// Reports progress of a long data migration: `done` of `total` units, if known.
pub fn progress(done: u64, total: Option<u64>) {
    report::progress(done, total);
}

/// Declares a struct that rows decode into, matching columns by name (case-insensitive).
///
/// ```
/// retort_guest::row! {
///     /// An order as this migration knows it.
///     #[derive(Debug, Clone)]
///     pub struct Order {
///         pub id: i64,
///         pub total_cents: i64,
///         pub note: Option<String>,
///     }
/// }
/// ```
#[macro_export]
macro_rules! row {
    (
        $(#[$meta:meta])*
        $vis:vis struct $name:ident {
            $($(#[$fmeta:meta])* $fvis:vis $field:ident : $fty:ty),* $(,)?
        }
    ) => {
        $(#[$meta])*
        $vis struct $name {
            $($(#[$fmeta])* $fvis $field: $fty,)*
        }

        impl $crate::FromRow for $name {
            const FIELDS: Option<&'static [&'static str]> = Some(&[$(stringify!($field)),*]);

            fn from_row(row: &mut $crate::RowReader<'_>) -> $crate::Result<Self> {
                Ok($name { $($field: row.read::<$fty>()?,)* })
            }
        }

        impl $crate::ToRowValues for $name {
            fn to_values(&self) -> Vec<$crate::Value> {
                vec![$($crate::ToValue::to_value(&self.$field)),*]
            }
        }
    };
}

/// The values of a [`row!`] struct in declaration order, e.g. to insert it.
pub trait ToRowValues {
    /// The field values, in declaration order.
    fn to_values(&self) -> Vec<Value>;
}

/// Exports a [`Migration`] with its metadata. One per migration crate.
///
/// `id`, `parents` and `description` are required; the optional fields follow in this order:
///
/// ```ignore
/// retort_guest::export!(AddEmail, id: "20261122044700", parents: ["20261120093000"],
///     description: "add email to users");
///
/// retort_guest::export!(AuditLog, id: "20261201000000", parents: [],
///     description: "start the audit branch",
///     transactional: true,                          // false: run outside a transaction
///     branch_labels: ["audit"],                     // targets such as `audit@head`
///     depends_on: ["20261122044700"],               // same graph, not a parent
///     requires: ["catalog" => "20261122090000"],   // another database of the project
///     capabilities: ["config"]);                    // a directory the project grants
/// ```
#[macro_export]
macro_rules! export {
    (
        $migration:ty,
        id: $id:literal,
        parents: [$($parent:literal),* $(,)?],
        description: $description:literal
        $(, transactional: $transactional:literal)?
        $(, branch_labels: [$($label:literal),* $(,)?])?
        $(, depends_on: [$($dependency:literal),* $(,)?])?
        $(, requires: [$($database:literal => $revision:literal),* $(,)?])?
        $(, capabilities: [$($capability:literal),* $(,)?])?
        $(,)?
    ) => {
        const _: () = {
            struct RetortExport;

            impl $crate::bindings::Guest for RetortExport {
                fn metadata() -> $crate::bindings::retort::migration0_1_0::types::MigrationInfo {
                    use $crate::bindings::retort::migration0_1_0::types::{DatabaseRequirement, MigrationInfo};
                    MigrationInfo {
                        id: $id.to_string(),
                        parents: vec![$($parent.to_string()),*],
                        description: $description.to_string(),
                        transactional: $crate::__transactional!($($transactional)?),
                        branch_labels: vec![$($($label.to_string()),*)?],
                        depends_on: vec![$($($dependency.to_string()),*)?],
                        requires: vec![$($(DatabaseRequirement {
                            database: $database.to_string(),
                            revision: $revision.to_string(),
                        }),*)?],
                        capabilities: vec![$($($capability.to_string()),*)?],
                    }
                }

                fn upgrade(
                    tx: &$crate::bindings::retort::migration0_1_0::sql::Transaction,
                ) -> $crate::Result<()> {
                    <$migration as $crate::Migration>::upgrade(&$crate::Tx::__new(tx))
                }

                fn downgrade(
                    tx: &$crate::bindings::retort::migration0_1_0::sql::Transaction,
                ) -> $crate::Result<()> {
                    <$migration as $crate::Migration>::downgrade(&$crate::Tx::__new(tx))
                }
            }

            $crate::bindings::__export_migration!(RetortExport with_types_in $crate::bindings);
        };
    };
}

#[doc(hidden)]
#[macro_export]
macro_rules! __transactional {
    () => {
        true
    };
    ($value:literal) => {
        $value
    };
}
