//! The pure core: the revision graph, targets and planning, the model shared by every layer
//! (directions, limits, events).
//!
//! Owns: what a migration run *means*, decided without any I/O. Must not import wasmtime, sqlx,
//! clap, or any other module of this crate: everything else builds on it, and it is tested
//! alone (`cargo test -p retort core::`).

pub mod autogen;
pub mod checks;
pub mod graph;
pub mod lint;
mod model;
pub mod observe;
pub mod plan;
pub mod schema;

pub use model::{CursorId, DEFAULT_DATABASE, Direction, Embedded, Limits};

/// Shortens text for messages to one line of at most `max` characters, keeping its start.
pub fn one_line(text: &str, max: usize) -> String {
    let one_line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    }
}
