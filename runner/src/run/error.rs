//! The library's error: one enum whose messages name the database, the revision and the
//! statement, with a stable [`ErrorKind`] to match on and a [`FailureState`] after a failed
//! migration.

use crate::core::Direction;
use crate::core::graph::GraphError;
use crate::core::plan::PlanError;
use crate::db::{self, DbError, RowState};
use crate::run::Resolution;
use crate::source::artifact::ArtifactError;

/// Why a command failed. Messages name the database, the revision and the statement.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The project's configuration is invalid.
    #[error(transparent)]
    Config(#[from] crate::project::ConfigError),
    /// The wasm engine could not start.
    #[error("cannot start the wasm engine: {0}")]
    Engine(String),
    /// The migrations could not be loaded.
    #[error("database `{database}`")]
    Artifact {
        /// The database.
        database: String,
        /// The cause.
        source: ArtifactError,
    },
    /// The migrations do not form a graph.
    #[error("database `{database}`: the migrations in {dir} do not form a revision graph:\n  {}",
        .problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n  "))]
    Graph {
        /// The database.
        database: String,
        /// The migrations directory.
        dir: String,
        /// Every problem.
        problems: Vec<GraphError>,
    },
    /// No plan exists.
    #[error("database `{database}`")]
    Plan {
        /// The database.
        database: String,
        /// The cause.
        source: PlanError,
    },
    /// The database failed outside a migration.
    #[error("database `{database}`")]
    Db {
        /// The database.
        database: String,
        /// The cause.
        source: DbError,
    },
    /// A migration failed; `state` says what that left.
    #[error("database `{database}`: {direction} of {revision} ({description}) failed: {cause}{}\n  {state}",
        .statement.as_deref().map(|s| format!("\n  failed statement: {}", db::truncate(s, 300))).unwrap_or_default())]
    Migration {
        /// The database.
        database: String,
        /// The revision.
        revision: String,
        /// Its description.
        description: String,
        /// `upgrade` or `downgrade`.
        direction: &'static str,
        /// What went wrong.
        cause: String,
        /// The statement that failed, when the failure was a statement's.
        statement: Option<String>,
        /// What state the database is in now.
        state: FailureState,
    },
    /// Applied revisions whose artifact changed since they were applied. (The `retort`
    /// binary adds the commands that restore each artifact and accept a rebuild.)
    #[error("database `{database}`: {} changed since {} applied:{}\n  \
             A migration must not change once applied. Put back what was applied (the \
             database keeps a copy of it); then, to apply an edit of its source, downgrade \
             below it (that runs what was applied) and upgrade again. If the change is a \
             deliberate rebuild of the same source (a new toolchain), accept the rebuild \
             instead.",
        if .changed.len() == 1 { "a migration" } else { "migrations" },
        if .changed.len() == 1 { "it was" } else { "they were" },
        .changed.iter().map(|c| format!(
            "\n  {}\n    applied:  sha256 {} at {}\n    now:      sha256 {} in {}",
            c.revision, c.recorded, c.applied, c.actual, c.file)).collect::<String>())]
    Changed {
        /// The database.
        database: String,
        /// Every changed revision.
        changed: Vec<Changed>,
    },
    /// A cross-database requirement cannot be met.
    #[error(
        "database `{database}`: {revision} requires `{required_database}` at {required_revision}, {reason}"
    )]
    CrossDatabase {
        /// The database of the requiring migration.
        database: String,
        /// The requiring revision.
        revision: String,
        /// The database it requires.
        required_database: String,
        /// The revision it requires there.
        required_revision: String,
        /// Why that cannot be.
        reason: String,
    },
    /// A directory capability is not granted, or its changes could not be published.
    #[error("database `{database}`")]
    Capability {
        /// The database.
        database: String,
        /// What is wrong.
        source: crate::host::capability::CapabilityError,
    },
    /// Databases require each other in a cycle.
    #[error("the databases' requirements form a cycle: {}", .0.join(" → "))]
    DatabaseCycle(Vec<String>),
    /// A target that names revisions was given for several databases.
    #[error("`{0}` names revisions of one database: choose the database")]
    TargetNeedsOneDatabase(String),
    /// Another tool's history cannot be adopted ([`Maintenance::adopt`](super::Maintenance::adopt)).
    #[error("database `{database}`: cannot adopt the {tool} history: {}",
        match .unknown {
            Some(v) => format!("it applied version {v}, which is not a revision here: import \
                                its migrations directory and build it first"),
            None => "it recorded no applied migration in this database".to_string(),
        })]
    Adopt {
        /// The database.
        database: String,
        /// The tool (`sqlx`, `diesel`, …).
        tool: &'static str,
        /// The first version it applied that is not a revision here; `None` when it applied
        /// none.
        unknown: Option<String>,
    },
    /// Migrations in the directory are not built, or changed since they were: upgrading would
    /// skip them or run their old artifact.
    #[error(
        "database `{database}`: {}; build the migrations first",
        .stale.join("; ")
    )]
    Unbuilt {
        /// The database.
        database: String,
        /// Each migration and why, e.g. `migrations/2026…_add.up.sql has no artifact`.
        stale: Vec<String>,
    },
    /// The database account migrations run as is privileged, and the database requires it not
    /// to be (`require_unprivileged`).
    #[error(
        "database `{database}`: migrations would run as {account}, whose SQL reaches the \
         server's files or programs; `require_unprivileged` refuses that. Run them as a \
         restricted account (`migration_url`, see docs/security.md)"
    )]
    Privileged {
        /// The database.
        database: String,
        /// The account and what it may do.
        account: String,
    },
    /// A claim that an unfinished migration is applied or rolled back was refused
    /// ([`Rehearsal::check_resolution`](super::Rehearsal::check_resolution)). (The `retort` binary
    /// adds the commands for the other choices.)
    #[error("database `{database}`: {revision} cannot be resolved as {claim}: {}",
        refusal_text(*.claim, .refusal))]
    Resolution {
        /// The database.
        database: String,
        /// The revision.
        revision: String,
        /// What was claimed: [`Resolution::Applied`] or [`Resolution::RolledBack`].
        claim: Resolution,
        /// Why it was refused.
        refusal: Refusal,
    },
    /// A declared schema (`schema = …`) does not run on its engine.
    #[error("database `{database}`: the declared schema {file} does not run: {message}")]
    Declared {
        /// The database.
        database: String,
        /// The file.
        file: String,
        /// Why (the engine's message and the statement).
        message: String,
    },
    /// The rehearsal behind offline SQL failed on the scratch database.
    #[error(
        "database `{database}`: offline SQL needs a rehearsal on a scratch database, which failed: {message}"
    )]
    Rehearsal {
        /// The database.
        database: String,
        /// What failed.
        message: String,
    },
    /// A previous run left a migration unfinished (dialects whose DDL commits implicitly).
    /// (The `retort` binary adds the commands that settle it.)
    #[error(
        "database `{database}`: {revision} was left {state} by an earlier run that failed; \
         its status lists the statements it completed. Check the schema, then resolve it {}",
        resolution_choices()
    )]
    Unfinished {
        /// The database.
        database: String,
        /// The revision.
        revision: String,
        /// `upgrading` or `downgrading`.
        state: &'static str,
    },
}

pub use crate::core::checks::Changed;

/// Why a claim about an unfinished migration was refused (see [`Error::Resolution`]).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// Its artifact is neither in the migrations directory nor stored in the database, so
    /// there is nothing to rehearse.
    NoArtifact,
    /// The rehearsal needs a scratch database this account cannot make safely (why).
    Unprivileged(String),
    /// Its upgrade fails in the rehearsal (why), so what "applied" looks like is unknown.
    UpgradeFails(String),
    /// Objects whose state in the database is not what the claim says.
    Disagrees(Vec<Disagreement>),
}

/// One schema object whose state contradicts a claim.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disagreement {
    /// The object (`table half_a`, `index users_email`).
    pub object: String,
    /// Its definition in the database, `None` when it is not there.
    pub found: Option<String>,
    /// Its definition as the claim says it should be, `None` for absent.
    pub claimed: Option<String>,
}

/// `applied (…), downgraded (…) or rolled back (…)`.
fn resolution_choices() -> String {
    let all = Resolution::ALL.map(|r| format!("{r} ({})", r.when()));
    format!("as {}, {} or {}", all[0], all[1], all[2])
}

fn refusal_text(claim: Resolution, refusal: &Refusal) -> String {
    match refusal {
        Refusal::NoArtifact => "its artifact is neither in the migrations directory nor stored \
                                in the database, so the schema cannot be checked; it can be \
                                recorded unchecked"
            .into(),
        Refusal::Unprivileged(why) => format!(
            "the schema cannot be checked: {why}; rehearse on another server whose \
             unprivileged account may create databases, or check by hand and record it \
             unchecked"
        ),
        Refusal::UpgradeFails(why) => format!(
            "its upgrade fails in a rehearsal on a scratch database ({why}), so what \
             \"applied\" looks like is unknown; check by hand and record it unchecked, or \
             resolve it by downgrading"
        ),
        Refusal::Disagrees(objects) => {
            let shown = |d: &Option<String>| {
                d.as_deref()
                    .map_or("nothing".to_string(), |d| crate::core::one_line(d, 100))
            };
            let lines: Vec<String> = objects
                .iter()
                .map(|d| {
                    format!(
                        "{}: the database has {}, {claim} means {}",
                        d.object,
                        shown(&d.found),
                        shown(&d.claimed)
                    )
                })
                .collect();
            let other = match claim {
                Resolution::Applied => "as rolled back (if none of it is there) or downgraded",
                _ => "as downgraded (undo what is there) or applied (if all of it is)",
            };
            format!(
                "the schema disagrees:\n    {}\n  Resolve it {other}; or record the claim \
                 unchecked",
                lines.join("\n    ")
            )
        }
    }
}

/// The state a failed migration left its database in. Printed after the failure, so each
/// case says only what is true.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FailureState {
    /// The migration's transaction was rolled back: the database is at its previous revision.
    RolledBack,
    /// The run's single transaction (`--transaction single`) was rolled back: the database is
    /// at the revision it had before the run.
    RunRolledBack,
    /// The rollback failed too (its message); closing the connection discards the
    /// transaction.
    RollbackFailed(String),
    /// The migration ended the transaction Retort lent it (the server says the connection is
    /// in another transaction, or none): what it did committed without its history row.
    Escaped,
    /// The migration failed in a rehearsal (`check`, `--sql`, `diff`, autogenerate, resolve's
    /// check): on a scratch database Retort drops, so the real database was not touched.
    Rehearsal,
    /// The migration failed after some of it committed, and Retort's own bookkeeping is not
    /// what Retort left (what it found): a migration that changed it, or something else on
    /// the server meanwhile. Nothing Retort reads from it about this database can be trusted.
    BookkeepingDamaged(String),
    /// The migration ran outside one transaction and left an unfinished history row:
    /// statements that committed implicitly may have run ([`Runner::resolve`](super::Runner::resolve)
    /// settles it; the `retort` binary adds its commands).
    Unfinished {
        /// The revision.
        revision: String,
        /// The direction it was running in.
        direction: Direction,
    },
}

impl std::fmt::Display for FailureState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FailureState::RolledBack => f.write_str(
                "the transaction was rolled back: the database is still at its previous revision",
            ),
            FailureState::RunRolledBack => f.write_str(
                "the run's single transaction was rolled back: the database is at the revision \
                 it had before this run",
            ),
            FailureState::Escaped => f.write_str(
                "the migration ended the transaction Retort ran it in, so what it did committed \
                 on its own, without its history row: the database is not at a revision Retort \
                 knows. Inspect the schema, then either undo its changes by hand or record \
                 its revision as the database's (stamp)",
            ),
            FailureState::Rehearsal => f.write_str(
                "this was a rehearsal on a scratch database, which Retort drops: the real \
                 database was not touched",
            ),
            FailureState::BookkeepingDamaged(found) => write!(
                f,
                "statements of the migration committed, and Retort's bookkeeping is not as \
                 Retort left it ({found}): what it says about this database cannot be trusted. \
                 Restore retort_history and retort_artifacts from a backup before running \
                 Retort here again, and find what changed them (docs/security.md)"
            ),
            FailureState::RollbackFailed(e) => write!(
                f,
                "the rollback failed too ({e}); closing the connection discards the transaction"
            ),
            FailureState::Unfinished {
                revision,
                direction,
            } => write!(
                f,
                "{revision} left `{}` in retort_history: statements that committed implicitly \
                 (DDL) may have run (its status lists them). Inspect the schema, then resolve \
                 it {}",
                match direction {
                    Direction::Upgrade => RowState::Upgrading.as_str(),
                    Direction::Downgrade => RowState::Downgrading.as_str(),
                },
                resolution_choices()
            ),
        }
    }
}

/// What kind of failure an [`Error`] is: stable across releases, for applications to match
/// on (the messages are for people and may change).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The project's configuration is invalid (`retort.toml`, environment, options).
    Config,
    /// The wasm engine could not start.
    Engine,
    /// An artifact could not be loaded or was refused (not a migration, unsigned where
    /// signatures are required, tampered, untrusted).
    Artifact,
    /// The migrations do not form a revision graph.
    Graph,
    /// The target cannot be reached from the database's current state.
    Plan,
    /// The database could not be reached, or a statement Retort itself ran failed.
    Database,
    /// Another runner held the migration lock past the lock timeout.
    LockTimeout,
    /// A migration failed; [`FailureState`] says what state it left.
    Migration,
    /// An applied migration's artifact changed since it was applied.
    Changed,
    /// A cross-database requirement cannot be met, or databases require each other in a
    /// cycle.
    Requirement,
    /// A directory capability is not granted, or its changes could not be published.
    Capability,
    /// An earlier run left a migration unfinished ([`Runner::resolve`](super::Runner::resolve)).
    Unfinished,
    /// Another tool's history cannot be adopted.
    Adopt,
}

impl ErrorKind {
    /// A stable name, for machines (`--json`): `config`, `migration`, `lock-timeout`, ….
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Config => "config",
            ErrorKind::Engine => "engine",
            ErrorKind::Artifact => "artifact",
            ErrorKind::Graph => "graph",
            ErrorKind::Plan => "plan",
            ErrorKind::Database => "database",
            ErrorKind::LockTimeout => "lock-timeout",
            ErrorKind::Migration => "migration",
            ErrorKind::Changed => "changed",
            ErrorKind::Requirement => "requirement",
            ErrorKind::Capability => "capability",
            ErrorKind::Unfinished => "unfinished",
            ErrorKind::Adopt => "adopt",
        }
    }
}

impl Error {
    /// Whether the database could not be reached at all: the connection failed (refused,
    /// unknown host, credentials) or its URL names no engine. Nothing was read or changed.
    pub fn unreachable(&self) -> bool {
        matches!(
            self,
            Error::Db {
                source: DbError::Connect { .. } | DbError::UnsupportedUrl(_),
                ..
            }
        )
    }

    /// The message with every cause after it, as the command line prints it.
    pub fn full_message(&self) -> String {
        super::check::chain(self)
    }

    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::Config(_) | Error::Declared { .. } => ErrorKind::Config,
            Error::Engine(_) => ErrorKind::Engine,
            Error::Artifact { .. } | Error::Unbuilt { .. } => ErrorKind::Artifact,
            Error::Graph { .. } => ErrorKind::Graph,
            Error::Plan { .. } | Error::TargetNeedsOneDatabase(_) => ErrorKind::Plan,
            Error::Db {
                source: DbError::LockTimeout { .. },
                ..
            } => ErrorKind::LockTimeout,
            Error::Db { .. } => ErrorKind::Database,
            Error::Migration { .. } | Error::Rehearsal { .. } => ErrorKind::Migration,
            Error::Changed { .. } => ErrorKind::Changed,
            Error::CrossDatabase { .. } | Error::DatabaseCycle(_) => ErrorKind::Requirement,
            Error::Capability { .. } | Error::Privileged { .. } => ErrorKind::Capability,
            Error::Unfinished { .. } | Error::Resolution { .. } => ErrorKind::Unfinished,
            Error::Adopt { .. } => ErrorKind::Adopt,
        }
    }

    /// The database the failure concerns, when it concerns one.
    pub fn database(&self) -> Option<&str> {
        match self {
            Error::Artifact { database, .. }
            | Error::Graph { database, .. }
            | Error::Plan { database, .. }
            | Error::Db { database, .. }
            | Error::Migration { database, .. }
            | Error::Rehearsal { database, .. }
            | Error::Resolution { database, .. }
            | Error::Declared { database, .. }
            | Error::Changed { database, .. }
            | Error::CrossDatabase { database, .. }
            | Error::Capability { database, .. }
            | Error::Privileged { database, .. }
            | Error::Unbuilt { database, .. }
            | Error::Unfinished { database, .. }
            | Error::Adopt { database, .. } => Some(database),
            Error::Config(_)
            | Error::Engine(_)
            | Error::DatabaseCycle(_)
            | Error::TargetNeedsOneDatabase(_) => None,
        }
    }
}
