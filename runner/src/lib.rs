//! Retort: database migrations as sandboxed WebAssembly components.
//!
//! A migration is a component targeting `retort:migration@0.1.0` (see `wit/`). The runner
//! loads components ([`artifact`]), builds their revision [`graph`], [`plan`]s a move, and
//! [`exec`]utes it against a [`db`] backend with each migration running in the [`sandbox`].
#![deny(missing_docs)]

pub mod artifact;
#[allow(missing_docs)]
pub mod bindings;
pub mod bundle;
pub mod cache;
pub mod capability;
pub mod cli;
pub mod config;
pub mod db;
pub mod exec;
pub mod graph;
pub mod guest_build;
pub mod import;
pub mod observe;
pub mod plan;
pub mod render;
pub mod sandbox;
pub mod scaffold;
pub mod signing;
mod signing_cli;
