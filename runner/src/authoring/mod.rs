//! Turning sources into artifacts: Rust crates, SQL pairs and Python/JavaScript scripts built
//! to components, scaffolding new migrations, and importing other tools' histories.
//!
//! Owns: files in a migrations directory. Must not import `run` or `cli`; needs no database.

mod error;
pub mod guest;
pub mod import;
pub mod lint;
pub mod runtimes;
pub mod scaffold;
pub mod sdk;

pub use error::{BuildError, Result};
