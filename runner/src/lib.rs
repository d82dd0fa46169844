//! Retort: database migrations as sandboxed WebAssembly components.
//!
//! A migration is a component targeting `retort:migration@0.1.0` (see `wit/`). The runner
//! loads components ([`source`]), builds their revision graph and plans a move ([`core`]), and
//! [`run`]s it against a [`db`] session with each migration in the wasm [`host`]'s sandbox.
//! The layout and its import rules are in `docs/architecture.md`.
#![deny(missing_docs)]

#[allow(missing_docs)]
pub mod bindings;
pub mod build;
pub mod cli;
pub mod core;
pub mod db;
pub mod host;
pub mod project;
pub mod run;
pub mod source;
pub mod trust;
