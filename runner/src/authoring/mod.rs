//! What authors of migrations use: turning sources into artifacts (Rust crates, SQL pairs and
//! Python/JavaScript scripts built to components), scaffolding new migrations, linting SQL
//! files, importing other tools' histories, and writing a migration from the difference
//! between the schema and a declared one (autogen.rs, whose statements `db::ddl` writes). (Not called `build/`: tools take folders of
//! that name for build output and skip them.)
//!
//! Owns: files in a migrations directory. Must not import `run`; needs no database; reports
//! through an `Observer`, never prints.

pub mod autogen;
mod error;
pub mod guest;
pub mod import;
pub mod lint;
pub mod runtimes;
pub mod scaffold;
pub mod sdk;

pub use error::{BuildError, Result};
