//! Host bindings generated from `wit/0.1.0` (package `retort:migration@0.1.0`).
//!
//! The generated `Value`, `Error`, `Column` and `MigrationInfo` types are used throughout the
//! runner, so rows go from the driver to the guest without an intermediate representation.

wasmtime::component::bindgen!({
    world: "migration",
    path: "../wit/0.1.0",
    imports: { default: async | trappable },
    exports: { default: async },
    additional_derives: [PartialEq],
    with: {
        "retort:migration/sql.transaction": TxHandle,
        "retort:migration/sql.rows": RowsHandle,
    },
});

use crate::core::CursorId;

pub use self::retort::migration::types::{
    Column, DatabaseError, Date, Datetime, Dialect, Error as GuestError, Time, Value,
};

/// The transaction a migration borrows for one call (the host resource behind
/// `retort:migration/sql.transaction`). The connection itself stays with the host state.
pub struct TxHandle;

/// An open query (the host resource behind `retort:migration/sql.rows`).
pub struct RowsHandle {
    /// The backend's cursor.
    pub(crate) cursor: CursorId,
    /// Its columns, as the guest sees them.
    pub(crate) columns: Vec<Column>,
}

impl Dialect {
    /// The dialect's name as users write it in URLs and docs.
    pub fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
        }
    }
}

/// A guest error as one line for operators.
pub fn describe(e: &GuestError) -> String {
    use std::fmt::Write;
    let mut f = String::new();
    let _ = (|| -> std::fmt::Result {
        match e {
            GuestError::Database(e) => {
                write!(f, "database error ")?;
                if let Some(code) = &e.code {
                    write!(f, "[{code}] ")?;
                }
                write!(f, "{}", e.message)?;
                if let Some(detail) = &e.detail {
                    write!(f, " ({detail})")?;
                }
                Ok(())
            }
            GuestError::InvalidStatement(m) => write!(f, "invalid statement: {m}"),
            GuestError::Conversion(m) => write!(f, "conversion failed: {m}"),
            GuestError::ClosedHandle(m) => write!(f, "closed handle: {m}"),
            GuestError::Migration(m) => write!(f, "the migration returned an error: {m}"),
        }
    })();
    f
}
