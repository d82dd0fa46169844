//! Retort: database migrations as sandboxed WebAssembly components, for SQLite, PostgreSQL
//! and MySQL/MariaDB.
//!
//! A migration is a wasm component (`retort:migration@0.1.0`, see `wit/`) that exports
//! `upgrade` and `downgrade` and reaches its database only through the transaction Retort
//! lends it. This crate is the host: it loads a project's migrations, checks their digests and
//! signatures, plans a move through the revision graph, and runs each migration in a fresh
//! sandbox with its history row in the same transaction (where the dialect allows). The
//! `retort` binary is a thin client of the API below.
//!
//! # Migrating an application's database at start-up
//!
//! ```
//! use std::sync::Arc;
//! use retort::{Project, Runner, Silent, Target};
//!
//! # let tmp = std::env::temp_dir().join(format!("retort-doc-{}", std::process::id()));
//! # std::fs::create_dir_all(&tmp).unwrap();
//! # let db_file = tmp.join("app.db");
//! # let migrations = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/catalog");
//! # let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! # runtime.block_on(async {
//! // One database and its directory of built migrations (`retort build` writes them).
//! let url = format!("sqlite://{}", db_file.display());
//! let project = Project::from_url(&url, migrations)?;
//! let runner = Runner::new(Arc::new(Silent), project.limits)?;
//!
//! let reports = runner.upgrade(&project, &Target::Head).await?;
//! assert_eq!(reports[0].steps.len(), 3);
//! println!("{}", reports[0]); // "default: ran 3 migrations; now at 20261122090200"
//!
//! // Running again has nothing to do.
//! let again = runner.upgrade(&project, &Target::Head).await?;
//! assert!(again[0].steps.is_empty());
//!
//! // Errors have a stable kind to match on.
//! let err = runner
//!     .upgrade(&project, &Target::parse("no-such-revision"))
//!     .await
//!     .unwrap_err();
//! assert_eq!(err.kind(), retort::ErrorKind::Plan);
//! # Ok::<(), retort::Error>(())
//! # }).unwrap();
//! # std::fs::remove_dir_all(&tmp).ok();
//! ```
//!
//! # The API
//! - [`Project`] — the databases to migrate: [`Project::load`] reads `retort.toml`,
//!   [`Project::from_url`] makes a project of one database, [`Project::from_embedded`] one
//!   whose migrations [`embed!`] compiled into the application; [`Project::trust`] adds
//!   trusted keys and can require signatures.
//! - [`Runner`] — the wasm engine and the operations: [`Runner::upgrade`],
//!   [`Runner::downgrade`], [`Runner::plan`] (a dry run), [`Runner::run`] (a [`Run`], and
//!   which databases it left untouched), [`Runner::status`], [`Runner::history`],
//!   [`Runner::current`], [`Runner::stamp`], [`Runner::resolve`].
//! - [`Target`] — where to go: `head`, `base`, a revision, `+N`, `REV-N`, `LABEL@head`…
//! - [`Report`], [`StatusLine`], [`HistoryRow`] — what happened and what is there.
//! - [`Observer`] and [`Event`] — progress, guest logs and output while a run works.
//! - [`Error`] and [`ErrorKind`] — one error type; after a failed migration,
//!   [`FailureState`] says what state the database is in.
//! - [`Runner::check`] ([`CheckOptions`], [`DatabaseCheck`], [`Finding`]) — the CI gate,
//!   whose round trip ([`RoundTrip`]) checks that every downgrade undoes its upgrade.
//! - [`Runner::rehearsal`] ([`Rehearsal`]) — runs on scratch databases:
//!   [`Rehearsal::offline_sql`] ([`OfflineSql`], what a run would send), [`Rehearsal::diff`]
//!   ([`SchemaDiff`]), [`Rehearsal::check_resolution`].
//! - [`Runner::maintenance`] ([`Maintenance`]) — repairs and inspections of a history:
//!   accepting rebuilt artifacts, adopting another tool's history, settling a revision
//!   unchecked, reading what was applied.
//! - [`fleet`] — one database's migrations on many databases (a database or schema per
//!   tenant): [`fleet::Fleet`] runs them concurrently with a canary, a failure limit, a
//!   run log to resume and retry from, and a control database for workers on many machines.
//! - [`testing`] — a database per test, "migrate to X, seed, upgrade to Y, assert".
//!
//! The modules below are the implementation, documented for contributors (the layout and its
//! import rules are in `docs/architecture.md`); only the items re-exported here are the API
//! an application should rely on.
#![deny(missing_docs)]

// `retort::embed!` expands to `::retort::…` paths; this makes them resolve inside the crate too.
extern crate self as retort;

#[doc(hidden)]
pub mod authoring;
#[doc(hidden)]
#[allow(missing_docs)]
pub mod bindings;
#[doc(hidden)]
pub mod core;
#[doc(hidden)]
pub mod db;
pub mod fleet;
#[doc(hidden)]
pub mod host;
#[doc(hidden)]
pub mod project;
#[doc(hidden)]
pub mod run;
#[doc(hidden)]
pub mod source;
pub mod testing;
#[doc(hidden)]
pub mod trust;

pub use crate::authoring::import::Tool;
pub use crate::authoring::scaffold::Lang;
pub use crate::core::observe::{Event, Level, Observer, Silent};
pub use crate::core::plan::{BranchPoint, Target};
pub use crate::core::{Dialect, DialectExt, Direction, Embedded, Limits};
pub use crate::db::{HistoryRow, RowState};
pub use crate::host::capability::CapabilityError;
pub use crate::project::{ConfigError, DatabaseConfig, Project, Source, TransactionMode};
pub use crate::run::{
    Adoption, Against, Changed, CheckOptions, CurrentRevision, DatabaseCheck, Disagreement, Error,
    ErrorKind, FailureState, Finding, FindingKind, Maintenance, Migrations, OfflineSql,
    OfflineStep, ProjectOutcome, Ran, Refusal, Rehearsal, Report, Resolution, RevisionState,
    RoundTrip, RoundTripProblem, Run, Runner, SchemaDiff, StatusLine,
};
pub use crate::source::{Artifact, ArtifactError, MigrationSource};
pub use crate::trust::signing::Trust;
pub use retort_macros::embed;

/// The Rust blocks of the README and of `docs/` compile (and those not marked `no_run` run):
/// they are doctests of this crate. `tests/it/readme.rs` runs the README's tour and checks the
/// other languages' blocks.
#[cfg(doctest)]
mod documentation {
    #[doc = include_str!("../../README.md")]
    struct Readme;
    #[doc = include_str!("../../docs/code-migrations.md")]
    struct CodeMigrations;
    #[doc = include_str!("../../docs/embedding.md")]
    struct Embedding;
    #[doc = include_str!("../../docs/schema-operations.md")]
    struct SchemaOperations;
    #[doc = include_str!("../../docs/fleet.md")]
    struct Fleet;
}
