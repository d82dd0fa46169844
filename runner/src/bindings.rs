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
        "retort:migration/sql.transaction": crate::sandbox::TxHandle,
        "retort:migration/sql.rows": crate::sandbox::RowsHandle,
    },
});

pub use retort::migration::types::{
    Column, DatabaseError, Date, Datetime, Dialect, Error as GuestError, Time, Value,
};

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
