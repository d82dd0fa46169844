//! Host bindings generated from `wit/0.1.0`, `wit/0.2.0` and `wit/0.3.0` (package
//! `retort:migration`).
//!
//! The host links the 0.3.0 `schema-script-runtime` world: the 0.1.0 `sql` and `report`
//! interfaces (which every 0.1.0 migration component imports), 0.2.0's `script` (which
//! shared language runtimes import) and `json-batches` (which the Python and JavaScript
//! runtimes import), and 0.3.0's `schema` (portable schema operations). Every kind exports the same `metadata`, `upgrade` and `downgrade`, so one
//! linker and one set of typed exports serve them all.
//!
//! The generated `Value`, `Error`, `Column` and `MigrationInfo` types are used throughout the
//! runner, so rows go from the driver to the guest without an intermediate representation.

wasmtime::component::bindgen!({
    world: "retort:migration/schema-script-runtime@0.3.0",
    path: ["../wit/0.1.0", "../wit/0.2.0", "../wit/0.3.0"],
    imports: { default: async | trappable },
    exports: { default: async },
    additional_derives: [PartialEq],
    with: {
        "retort:migration/sql@0.1.0.transaction": TxHandle,
        "retort:migration/sql@0.1.0.rows": RowsHandle,
    },
});

use crate::core::CursorId;

/// The portable schema operations of WIT 0.3.0 (`retort:migration/schema`).
pub use self::retort::migration0_3_0::schema;

pub use self::retort::migration0_1_0::types::{
    Column, DatabaseError, Date, Datetime, Dialect as WitDialect, Error as GuestError, Time, Value,
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

impl From<crate::core::Dialect> for WitDialect {
    fn from(d: crate::core::Dialect) -> WitDialect {
        match d {
            crate::core::Dialect::Sqlite => WitDialect::Sqlite,
            crate::core::Dialect::Postgres => WitDialect::Postgres,
            crate::core::Dialect::Mysql => WitDialect::Mysql,
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
    // The message and detail came from the database or the migration: data, not lines.
    crate::core::as_data(&f)
}
