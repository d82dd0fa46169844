//! The wasm host: the wasmtime engine and linker, the compile cache, the host side of the WIT
//! interface, sandbox limits, directory capabilities and the shared language runtimes script
//! migrations run on.
//!
//! Owns: everything that touches wasmtime or the guest's view of the world. May import
//! `core`, `bindings` and `db` (a migration's SQL goes to a database session); must not import
//! `run`, `source`, `authoring` or `project`.

pub mod cache;
pub(crate) mod capability;
mod json_batch;
mod operations;
mod output;
pub mod runtime;
pub mod sandbox;
