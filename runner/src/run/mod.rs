//! Running plans: connect → lock → read history → plan → for each step begin → call →
//! record → commit, releasing the lock on every path.

// Errors carry the names an operator needs; they are built once per failed run, so their
// size does not matter.
#![allow(clippy::result_large_err)]

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::core::Direction;
use crate::core::graph::{Graph, GraphError, Node};
use crate::core::observe::{Event, Observer};
use crate::core::plan::{self, PlanError, Step, Target};
use crate::db::{self, Access, Backend, DbError, HistoryRow, RowState};
use crate::host::sandbox::{CallOutcome, Sandbox};
use crate::project::{DatabaseConfig, TransactionMode};
use crate::source::artifact::{self, Artifact, ArtifactError, Source};

/// Why a command failed. Messages name the database, the revision and the statement.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
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
    /// A migration failed; its transaction was rolled back.
    #[error("database `{database}`: {direction} of {revision} ({description}) failed: {cause}{}{state}",
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
        state: String,
    },
    /// Applied revisions whose artifact changed since they were applied.
    #[error("database `{database}`: {} changed since {} applied:{}\n  \
             A migration must not change once applied: restore the artifact that was applied \
             (`retort show REV` prints the recorded digest), or, if the change is a deliberate \
             rebuild of the same source (a new toolchain), accept it with \
             `retort -d {database} accept-rebuild {}`",
        if .changed.len() == 1 { "a migration" } else { "migrations" },
        if .changed.len() == 1 { "it was" } else { "they were" },
        .changed.iter().map(|c| format!(
            "\n  {}\n    applied:  sha256 {} at {}\n    now:      sha256 {} in {}",
            c.revision, c.recorded, c.applied, c.actual, c.file)).collect::<String>(),
        .changed.iter().map(|c| c.revision.as_str()).collect::<Vec<_>>().join(" "))]
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
    #[error("database `{database}`: {message}")]
    Capability {
        /// The database.
        database: String,
        /// What is wrong.
        message: String,
    },
    /// Databases require each other in a cycle.
    #[error("the databases' requirements form a cycle: {}", .0.join(" → "))]
    DatabaseCycle(Vec<String>),
    /// A target that names revisions was given for several databases.
    #[error("`{0}` names revisions of one database: choose it with -d NAME")]
    TargetNeedsOneDatabase(String),
    /// Another tool's history cannot be adopted (`stamp --adopt`).
    #[error("database `{database}`: cannot adopt the {tool} history: {reason}")]
    Adopt {
        /// The database.
        database: String,
        /// The tool (`sqlx`, `diesel`, …).
        tool: &'static str,
        /// Why not.
        reason: String,
    },
    /// A previous run left a migration unfinished (dialects whose DDL commits implicitly).
    #[error(
        "database `{database}`: {revision} was left {state} by an earlier run that failed; \
             check the schema, then run `retort resolve {revision} --applied` or \
             `retort resolve {revision} --rolled-back`"
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

/// An applied revision whose artifact is not the one that was applied.
#[derive(Clone, Debug)]
pub struct Changed {
    /// The revision.
    pub revision: String,
    /// The digest recorded when it was applied.
    pub recorded: String,
    /// When and by whom it was applied.
    pub applied: String,
    /// The artifact now offered for it.
    pub file: String,
    /// That artifact's digest.
    pub actual: String,
}

/// One migration that ran.
#[derive(Clone, Debug)]
pub struct Ran {
    /// The revision.
    pub revision: String,
    /// Its description.
    pub description: String,
    /// Upgrade or downgrade.
    pub direction: Direction,
    /// How long it took, including recording it.
    pub duration: Duration,
}

/// What `upgrade`/`downgrade` did (or, with `dry_run`, would do) to one database.
#[derive(Clone, Debug)]
pub struct Report {
    /// The database.
    pub database: String,
    /// The steps, in order.
    pub steps: Vec<Ran>,
    /// Whether this was a dry run.
    pub dry_run: bool,
    /// The database's current revisions afterwards.
    pub current: Vec<String>,
}

/// The state of one revision, for `status`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RevisionState {
    /// Applied.
    Applied,
    /// Not applied.
    Pending,
    /// An earlier run failed half-way (see [`Error::Unfinished`]).
    Unfinished(RowState),
    /// Applied, but no artifact in the directory defines it.
    AppliedWithoutArtifact,
    /// Applied, but the artifact now offered for it is not the one applied (its recorded
    /// digest is given).
    Changed(String),
}

/// One line of `status`.
#[derive(Clone, Debug)]
pub struct StatusLine {
    /// The revision.
    pub revision: String,
    /// Its description.
    pub description: String,
    /// Its state.
    pub state: RevisionState,
    /// For an unfinished revision: the statements it completed before it stopped.
    pub journal: Option<String>,
}

/// The loaded migrations of one database.
pub struct Migrations {
    /// Artifacts by file order.
    pub artifacts: Vec<Artifact>,
    /// Their graph.
    pub graph: Graph,
}

impl Migrations {
    /// The artifact of `revision`.
    pub fn get(&self, revision: &str) -> Option<&Artifact> {
        self.artifacts.iter().find(|a| a.info.id == revision)
    }
}

/// Runs commands against the databases of a project.
pub struct Runner {
    sandbox: Sandbox,
    observer: Arc<dyn Observer>,
}

fn applied_set(history: &[HistoryRow]) -> BTreeSet<String> {
    history
        .iter()
        .filter(|r| r.state == RowState::Applied)
        .map(|r| r.revision.clone())
        .collect()
}

impl Runner {
    /// Builds the wasm engine once.
    pub fn new(observer: Arc<dyn Observer>, limits: crate::core::Limits) -> anyhow::Result<Self> {
        let sandbox = Sandbox::new(limits)
            .map_err(|e| anyhow::anyhow!("cannot start the wasm engine: {e:#}"))?;
        Ok(Runner { sandbox, observer })
    }

    fn graph_of(&self, db: &DatabaseConfig, artifacts: Vec<Artifact>) -> Result<Migrations, Error> {
        let graph = Graph::new(artifacts.iter().map(|a| Node {
            id: a.info.id.clone(),
            parents: a.info.parents.clone(),
            branch_labels: a.info.branch_labels.clone(),
            depends_on: a.info.depends_on.clone(),
        }))
        .map_err(|problems| Error::Graph {
            database: db.name.clone(),
            dir: db.migrations.display().to_string(),
            problems,
        })?;
        Ok(Migrations { artifacts, graph })
    }

    /// Loads and validates the migrations of `db` (from its directory, or its bundle),
    /// refusing any the signature policy refuses, without touching the database.
    pub async fn load(&self, db: &DatabaseConfig) -> Result<Migrations, Error> {
        let source = Source {
            database: &db.name,
            trust: &db.trust,
        };
        let artifacts = match &db.bundle {
            Some(bundle) => self.load_bundle(db, bundle, source).await,
            None => {
                artifact::load_dir(&self.sandbox, &db.migrations, source, self.observer.clone())
                    .await
            }
        }
        .map_err(|source| Error::Artifact {
            database: db.name.clone(),
            source,
        })?;
        self.graph_of(db, artifacts)
    }

    async fn load_bundle(
        &self,
        db: &DatabaseConfig,
        bundle: &std::path::Path,
        source: Source<'_>,
    ) -> Result<Vec<Artifact>, ArtifactError> {
        let shown = bundle.display().to_string();
        let refused = |reason: String| ArtifactError::Refused {
            path: shown.clone(),
            reason,
        };
        let opened = crate::trust::bundle::read(bundle, &db.trust, &db.name).map_err(refused)?;
        if opened.manifest.database != db.name && db.name != crate::project::DEFAULT_DATABASE {
            return Err(refused(format!(
                "it holds the migrations of database `{}`, not of `{}`",
                opened.manifest.database, db.name
            )));
        }
        let mut artifacts = Vec::new();
        for (file, bytes) in opened.files {
            let path = std::path::PathBuf::from(format!("{shown}!/{file}"));
            artifacts.push(
                artifact::load_bytes(&self.sandbox, &path, bytes, source, self.observer.clone())
                    .await?,
            );
        }
        Ok(artifacts)
    }

    /// Compares every applied revision's recorded digest with the artifact about to be
    /// used for it: a migration must not change once applied. Read-only.
    pub fn check_integrity(
        &self,
        db: &DatabaseConfig,
        migrations: &Migrations,
        history: &[HistoryRow],
    ) -> Result<(), Error> {
        let changed: Vec<Changed> = history
            .iter()
            .filter_map(|row| {
                let a = migrations.get(&row.revision)?;
                (a.digest != row.digest).then(|| Changed {
                    revision: row.revision.clone(),
                    recorded: row.digest.clone(),
                    applied: format!("{} by {}", row.applied_at, row.applied_by),
                    file: a.path.display().to_string(),
                    actual: a.digest.clone(),
                })
            })
            .collect();
        if changed.is_empty() {
            Ok(())
        } else {
            Err(Error::Changed {
                database: db.name.clone(),
                changed,
            })
        }
    }

    /// Adds, from `retort_artifacts`, the applied revisions the migrations directory lacks,
    /// so a database can be downgraded after its newer migrations' source is gone. Read-only.
    pub async fn with_stored_artifacts(
        &self,
        db: &DatabaseConfig,
        migrations: Migrations,
    ) -> Result<Migrations, Error> {
        let history = self.history(db).await?;
        let missing: Vec<&HistoryRow> = history
            .iter()
            .filter(|r| !migrations.graph.contains(&r.revision))
            .collect();
        if missing.is_empty() {
            return Ok(migrations);
        }
        let wrap = |source| Error::Db {
            database: db.name.clone(),
            source,
        };
        let mut backend = db::connect(&db.url, Access::ReadOnly).await.map_err(wrap)?;
        let mut artifacts = migrations.artifacts;
        for row in missing {
            let bytes = match backend.load_artifact(&row.digest).await {
                Ok(Some(bytes)) => bytes,
                Ok(None) => continue, // the plan reports it as applied but missing
                Err(e) => {
                    backend.close().await;
                    return Err(wrap(e));
                }
            };
            let artifact = artifact::from_database(
                &self.sandbox,
                Source {
                    database: &db.name,
                    trust: &db.trust,
                },
                &row.revision,
                &row.digest,
                bytes,
                self.observer.clone(),
            )
            .await;
            match artifact {
                Ok(a) => {
                    self.observer.event(&Event::StoredArtifact {
                        database: &db.name,
                        revision: &row.revision,
                    });
                    artifacts.push(a);
                }
                Err(source) => {
                    backend.close().await;
                    return Err(Error::Artifact {
                        database: db.name.clone(),
                        source,
                    });
                }
            }
        }
        backend.close().await;
        self.graph_of(db, artifacts)
    }

    /// Reads the history without creating anything; a missing SQLite file has none.
    pub async fn history(&self, db: &DatabaseConfig) -> Result<Vec<HistoryRow>, Error> {
        let wrap = |source| Error::Db {
            database: db.name.clone(),
            source,
        };
        let mut backend = match db::connect(&db.url, Access::ReadOnly).await {
            Ok(b) => b,
            Err(DbError::Connect { message, .. })
                if message.contains("does not exist") && db.url.starts_with("sqlite:") =>
            {
                return Ok(Vec::new());
            }
            Err(e) => return Err(wrap(e)),
        };
        let rows = backend.history().await;
        backend.close().await;
        rows.map_err(wrap)
    }

    /// Applied, pending and unfinished revisions, in graph order. Read-only.
    pub async fn status(&self, db: &DatabaseConfig) -> Result<Vec<StatusLine>, Error> {
        let migrations = self.load(db).await?;
        let history = self.history(db).await?;
        let mut lines = Vec::new();
        for id in migrations.graph.order() {
            let artifact = migrations.get(id).expect("graph ids come from artifacts");
            let state = match history.iter().find(|r| &r.revision == id) {
                Some(r) if r.state == RowState::Applied && r.digest != artifact.digest => {
                    RevisionState::Changed(r.digest.clone())
                }
                Some(r) if r.state == RowState::Applied => RevisionState::Applied,
                Some(r) => RevisionState::Unfinished(r.state),
                None => RevisionState::Pending,
            };
            let journal = history
                .iter()
                .find(|r| &r.revision == id && r.state != RowState::Applied)
                .and_then(|r| r.journal.clone());
            lines.push(StatusLine {
                revision: id.clone(),
                description: artifact.info.description.clone(),
                state,
                journal,
            });
        }
        for row in history
            .iter()
            .filter(|r| !migrations.graph.contains(&r.revision))
        {
            let state = match row.state {
                RowState::Applied => RevisionState::AppliedWithoutArtifact,
                other => RevisionState::Unfinished(other),
            };
            lines.push(StatusLine {
                revision: row.revision.clone(),
                description: row.description.clone(),
                state,
                journal: row
                    .journal
                    .clone()
                    .filter(|_| row.state != RowState::Applied),
            });
        }
        Ok(lines)
    }

    /// Moves `db` to `target` in the given direction (`dry_run`: only plans).
    pub async fn migrate(
        &self,
        db: &DatabaseConfig,
        direction: Direction,
        target: &Target,
        dry_run: bool,
    ) -> Result<Report, Error> {
        // Refuse bad artifacts before the database is touched.
        let migrations = self.load(db).await?;
        self.migrate_loaded(db, &migrations, direction, target, dry_run)
            .await
    }

    async fn migrate_loaded(
        &self,
        db: &DatabaseConfig,
        migrations: &Migrations,
        direction: Direction,
        target: &Target,
        dry_run: bool,
    ) -> Result<Report, Error> {
        if dry_run {
            let history = self.history(db).await?;
            let steps = self.plan(db, migrations, &history, direction, target)?;
            let current = migrations.graph.tips(&applied_set(&history));
            return Ok(Report {
                database: db.name.clone(),
                steps: steps
                    .into_iter()
                    .map(|s| Ran {
                        description: migrations
                            .get(&s.revision)
                            .map(|a| a.info.description.clone())
                            .unwrap_or_default(),
                        revision: s.revision,
                        direction: s.direction,
                        duration: Duration::ZERO,
                    })
                    .collect(),
                dry_run,
                current,
            });
        }
        // Plan once read-only first, so a target that cannot be reached fails before anything
        // (an SQLite file, a history table) is created; the plan that runs is made under the
        // lock.
        // Rows another runner is working on right now are left to the locked plan.
        let history: Vec<HistoryRow> = self.history(db).await?;
        self.check_integrity(db, migrations, &history)?;
        let history: Vec<HistoryRow> = history
            .into_iter()
            .filter(|r| r.state == RowState::Applied)
            .collect();
        for step in self.plan(db, migrations, &history, direction, target)? {
            if let Some(artifact) = migrations.get(&step.revision) {
                crate::host::capability::check(&db.name, &db.capabilities, &artifact.info)
                    .map_err(|message| Error::Capability {
                        database: db.name.clone(),
                        message,
                    })?;
            }
        }
        self.locked(db, |backend| {
            self.migrate_locked(backend, db, migrations, direction, target)
        })
        .await
    }

    /// Connects for writing, takes the migration lock, runs `f`, and releases the lock and
    /// the connection on every path. (A process killed meanwhile releases both with its
    /// connection: every dialect's lock dies with its session or file handle.)
    async fn locked<T, F, Fut>(&self, db: &DatabaseConfig, f: F) -> Result<T, Error>
    where
        F: FnOnce(Box<dyn Backend>) -> Fut,
        Fut: std::future::Future<Output = (Box<dyn Backend>, Result<T, Error>)>,
    {
        let wrap = |source| Error::Db {
            database: db.name.clone(),
            source,
        };
        let mut backend = db::connect(&db.url, Access::ReadWrite)
            .await
            .map_err(wrap)?;
        self.observer.event(&Event::Waiting { database: &db.name });
        if let Err(e) = backend.lock(db.lock_timeout).await {
            backend.close().await;
            return Err(wrap(e));
        }
        for sql in &db.session {
            if let Err(failure) = backend.execute(sql, &[]).await {
                let message = match failure {
                    db::SqlFailure::Guest(e) => crate::bindings::describe(&e),
                    db::SqlFailure::Fatal(e) => e.to_string(),
                };
                let _ = backend.unlock().await;
                backend.close().await;
                return Err(wrap(DbError::Statement {
                    doing: "running the session setup (retort.toml `session`)".into(),
                    statement: sql.clone(),
                    code: None,
                    message,
                }));
            }
        }
        let (mut backend, result) = f(backend).await;
        // A failed release is reported only if nothing else failed; closing the connection
        // releases the lock anyway.
        let unlocked = backend.unlock().await;
        backend.close().await;
        let value = result?;
        unlocked.map_err(wrap)?;
        Ok(value)
    }

    fn plan(
        &self,
        db: &DatabaseConfig,
        migrations: &Migrations,
        history: &[HistoryRow],
        direction: Direction,
        target: &Target,
    ) -> Result<Vec<Step>, Error> {
        if let Some(row) = history.iter().find(|r| r.state != RowState::Applied) {
            return Err(Error::Unfinished {
                database: db.name.clone(),
                revision: row.revision.clone(),
                state: row.state.as_str(),
            });
        }
        let applied = applied_set(history);
        let planned = match direction {
            Direction::Upgrade => plan::upgrade(&migrations.graph, &applied, target),
            Direction::Downgrade => plan::downgrade(&migrations.graph, &applied, target),
        };
        planned.map_err(|source| Error::Plan {
            database: db.name.clone(),
            source,
        })
    }

    async fn migrate_locked(
        &self,
        mut backend: Box<dyn Backend>,
        db: &DatabaseConfig,
        migrations: &Migrations,
        direction: Direction,
        target: &Target,
    ) -> (Box<dyn Backend>, Result<Report, Error>) {
        let wrap = |source| Error::Db {
            database: db.name.clone(),
            source,
        };
        let prepared = async {
            let history = backend.history().await.map_err(wrap)?;
            let steps = self.plan(db, migrations, &history, direction, target)?;
            if !steps.is_empty() {
                backend.create_history().await.map_err(wrap)?;
            }
            Ok::<_, Error>((history, steps))
        }
        .await;
        let (history, steps) = match prepared {
            Ok(p) => p,
            Err(e) => return (backend, Err(e)),
        };
        let mut applied = applied_set(&history);
        let mut ran = Vec::new();
        // `--transaction single`: one transaction around every transactional step (where DDL
        // is transactional); a non-transactional step closes the group and opens a new one.
        let single = db.transaction == TransactionMode::Single && !backend.ddl_commits_implicitly();
        let mut group_open = false;
        for step in steps {
            let artifact = migrations
                .get(&step.revision)
                .expect("plans only name loaded revisions");
            let grouped = single && artifact.info.transactional;
            let boundary = match (grouped, group_open) {
                (true, false) => Some(backend.begin().await),
                (false, true) => Some(backend.commit().await),
                _ => None,
            };
            if let Some(Err(e)) = boundary {
                let _ = backend.rollback().await;
                return (backend, Err(wrap(e)));
            }
            group_open = grouped;
            let (b, result) = self
                .run_step(backend, db, artifact, step.direction, grouped)
                .await;
            backend = b;
            match result {
                Ok(r) => {
                    match step.direction {
                        Direction::Upgrade => applied.insert(step.revision.clone()),
                        Direction::Downgrade => applied.remove(&step.revision),
                    };
                    ran.push(r);
                }
                Err(e) => return (backend, Err(e)),
            }
        }
        if group_open && let Err(e) = backend.commit().await {
            let _ = backend.rollback().await;
            return (backend, Err(wrap(e)));
        }
        let current = migrations.graph.tips(&applied);
        (
            backend,
            Ok(Report {
                database: db.name.clone(),
                steps: ran,
                dry_run: false,
                current,
            }),
        )
    }

    /// Runs one migration and records it.
    ///
    /// Transactional migrations on dialects with transactional DDL: the migration and its
    /// history row commit together, or nothing does. Otherwise (MySQL/MariaDB, or a
    /// migration that opts out of transactions): a pending row is committed first and
    /// completed after, so a failure leaves an explicit `upgrading`/`downgrading` row.
    async fn run_step(
        &self,
        mut backend: Box<dyn Backend>,
        db: &DatabaseConfig,
        artifact: &Artifact,
        direction: Direction,
        grouped: bool,
    ) -> (Box<dyn Backend>, Result<Ran, Error>) {
        let info = &artifact.info;
        let started = Instant::now();
        let wrap = |source| Error::Db {
            database: db.name.clone(),
            source,
        };
        let pending = backend.ddl_commits_implicitly() || !info.transactional;
        let staged = match crate::host::capability::stage(&db.name, &db.capabilities, info) {
            Ok(staged) => staged,
            Err(message) => {
                return (
                    backend,
                    Err(Error::Capability {
                        database: db.name.clone(),
                        message,
                    }),
                );
            }
        };
        self.observer.event(&Event::StepStarted {
            database: &db.name,
            revision: &info.id,
            description: &info.description,
            direction,
        });
        let row = HistoryRow {
            revision: info.id.clone(),
            parents: info.parents.clone(),
            description: info.description.clone(),
            digest: artifact.digest.clone(),
            state: RowState::Applied,
            applied_at: db::now_rfc3339(),
            applied_by: db::runner_identity(),
            duration_ms: 0,
            journal: None,
            signer: artifact.signer.clone(),
            notes: None,
        };

        // Before: open the transaction, or write the pending marker.
        let before = async {
            if pending {
                match direction {
                    Direction::Upgrade => {
                        backend
                            .store_artifact(&artifact.digest, &artifact.bytes)
                            .await?;
                        backend
                            .insert_history(&HistoryRow {
                                state: RowState::Upgrading,
                                ..row.clone()
                            })
                            .await?;
                    }
                    Direction::Downgrade => {
                        backend
                            .update_history(&info.id, RowState::Downgrading, 0)
                            .await?
                    }
                }
            }
            if info.transactional && !grouped {
                backend.begin().await?;
            }
            Ok::<_, DbError>(())
        }
        .await;
        if let Err(e) = before {
            crate::host::capability::discard(staged);
            let _ = backend.rollback().await;
            return (backend, Err(wrap(e)));
        }

        let (mut backend, called) = self
            .sandbox
            .call(
                &artifact.prepared,
                &info.id,
                direction,
                backend,
                self.observer.clone(),
                pending,
                &staged,
            )
            .await;
        let statement = called.failed_statement;
        let cause = match called.outcome {
            CallOutcome::Ok => None,
            CallOutcome::Failed(e) => Some(crate::bindings::describe(&e)),
            CallOutcome::Trapped(message) => Some(format!("trap: {message}")),
        };
        if let Some(cause) = cause {
            // The migration's file changes are thrown away with its transaction.
            crate::host::capability::discard(staged);
            let rolled_back = if info.transactional {
                backend.rollback().await
            } else {
                Ok(())
            };
            let state = match (pending, rolled_back) {
                (false, Ok(())) if grouped => "\n  the run's single transaction was rolled back: the database is at the revision it had \
                     before this run"
                    .to_string(),
                (false, Ok(())) => {
                    "\n  the transaction was rolled back: the database is still at its previous revision".to_string()
                }
                (false, Err(e)) => format!(
                    "\n  the rollback failed too ({e}); closing the connection discards the transaction"
                ),
                (true, _) => format!(
                    "\n  {} left `{}` in retort_history: statements that committed implicitly (DDL) may have run. \
                     Inspect the schema, then run `retort resolve {} --applied` or `retort resolve {} --rolled-back`",
                    info.id,
                    if direction == Direction::Upgrade {
                        "upgrading"
                    } else {
                        "downgrading"
                    },
                    info.id,
                    info.id
                ),
            };
            return (
                backend,
                Err(Error::Migration {
                    database: db.name.clone(),
                    revision: info.id.clone(),
                    description: info.description.clone(),
                    direction: direction.name(),
                    cause,
                    statement,
                    state,
                }),
            );
        }

        // After: record and commit.
        let duration = started.elapsed();
        let ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        let after = async {
            match (direction, pending) {
                (Direction::Upgrade, false) => {
                    backend
                        .store_artifact(&artifact.digest, &artifact.bytes)
                        .await?;
                    backend
                        .insert_history(&HistoryRow {
                            duration_ms: ms,
                            ..row.clone()
                        })
                        .await?;
                }
                (Direction::Upgrade, true) => {
                    if info.transactional && !grouped {
                        backend.commit().await?;
                    }
                    backend
                        .update_history(&info.id, RowState::Applied, ms)
                        .await?;
                    return Ok(());
                }
                (Direction::Downgrade, _) => backend.delete_history(&info.id).await?,
            }
            if info.transactional && !grouped {
                backend.commit().await?;
            }
            Ok::<_, DbError>(())
        }
        .await;
        if let Err(e) = after {
            crate::host::capability::discard(staged);
            let _ = backend.rollback().await;
            return (backend, Err(wrap(e)));
        }
        if let Err(message) = crate::host::capability::publish(staged) {
            let message = format!(
                "{message}; the database committed {} {}, so the directory must be fixed by hand",
                direction.name(),
                info.id
            );
            return (
                backend,
                Err(Error::Capability {
                    database: db.name.clone(),
                    message,
                }),
            );
        }
        self.observer.event(&Event::StepFinished {
            database: &db.name,
            revision: &info.id,
            direction,
            duration,
        });
        (
            backend,
            Ok(Ran {
                revision: info.id.clone(),
                description: info.description.clone(),
                direction,
                duration,
            }),
        )
    }

    /// Settles a revision an earlier run left unfinished (`retort resolve`).
    pub async fn resolve(
        &self,
        db: &DatabaseConfig,
        revision: &str,
        resolution: Resolution,
    ) -> Result<RowState, Error> {
        let wrap = |source| Error::Db {
            database: db.name.clone(),
            source,
        };
        let migrations = if resolution == Resolution::Downgrade {
            Some(self.load(db).await?)
        } else {
            None
        };
        self.locked(db, |mut backend| async move {
            let history = match backend.history().await {
                Ok(h) => h,
                Err(e) => return (backend, Err(wrap(e))),
            };
            let Some(row) = history.iter().find(|r| r.revision == revision) else {
                return (
                    backend,
                    Err(Error::Plan {
                        database: db.name.clone(),
                        source: PlanError::Unknown(revision.into()),
                    }),
                );
            };
            let was = row.state;
            match resolution {
                Resolution::Applied => {
                    let r = backend
                        .update_history(revision, RowState::Applied, row.duration_ms)
                        .await
                        .map_err(wrap);
                    (backend, r.map(|()| was))
                }
                Resolution::RolledBack => {
                    let r = backend.delete_history(revision).await.map_err(wrap);
                    (backend, r.map(|()| was))
                }
                Resolution::Downgrade => {
                    let Some(artifact) = migrations.as_ref().and_then(|m| m.get(revision)) else {
                        return (
                            backend,
                            Err(Error::Plan {
                                database: db.name.clone(),
                                source: PlanError::AppliedButMissing(vec![revision.into()]),
                            }),
                        );
                    };
                    let (backend, result) = self
                        .run_step(backend, db, artifact, Direction::Downgrade, false)
                        .await;
                    (backend, result.map(|_| was))
                }
            }
        })
        .await
    }

    /// Accepts a deliberate rebuild of applied revisions: records the digest (and signer)
    /// of the artifacts now in the directory, with a note of the digest they replace and
    /// who accepted it. The new artifact must pass the signature policy and describe the
    /// same revision with the same parents.
    pub async fn accept_rebuild(
        &self,
        db: &DatabaseConfig,
        revisions: &[String],
    ) -> Result<Vec<(String, String, String)>, Error> {
        let migrations = self.load(db).await?;
        let wrap = |source| Error::Db {
            database: db.name.clone(),
            source,
        };
        self.locked(db, |mut backend| async {
            let result = async {
                let history = backend.history().await.map_err(wrap)?;
                let mut accepted = Vec::new();
                for wanted in revisions {
                    let id = plan::resolve_revision(&migrations.graph, wanted).map_err(
                        |source| Error::Plan {
                            database: db.name.clone(),
                            source,
                        },
                    )?;
                    let artifact = migrations.get(&id).expect("resolved ids have artifacts");
                    let Some(row) = history
                        .iter()
                        .find(|r| r.revision == id && r.state == RowState::Applied)
                    else {
                        return Err(Error::Plan {
                            database: db.name.clone(),
                            source: PlanError::Unknown(format!("{id} (it is not applied)")),
                        });
                    };
                    if row.parents != artifact.info.parents {
                        return Err(Error::Artifact {
                            database: db.name.clone(),
                            source: ArtifactError::Metadata {
                                path: artifact.path.display().to_string(),
                                message: format!(
                                    "its parents ({}) differ from the applied revision's ({}): this is not a rebuild of the same migration",
                                    artifact.info.parents.join(", "),
                                    row.parents.join(", ")
                                ),
                            },
                        });
                    }
                    if row.digest == artifact.digest {
                        continue;
                    }
                    let note = format!(
                        "{} accept-rebuild by {}: sha256 {} replaced sha256 {}",
                        db::now_rfc3339(),
                        db::runner_identity(),
                        artifact.digest,
                        row.digest
                    );
                    backend.begin().await.map_err(wrap)?;
                    let done = async {
                        backend
                            .store_artifact(&artifact.digest, &artifact.bytes)
                            .await?;
                        backend
                            .replace_digest(
                                &id,
                                &artifact.digest,
                                artifact.signer.as_deref(),
                                &note,
                            )
                            .await?;
                        backend.commit().await
                    }
                    .await;
                    if let Err(e) = done {
                        let _ = backend.rollback().await;
                        return Err(wrap(e));
                    }
                    accepted.push((id, row.digest.clone(), artifact.digest.clone()));
                }
                Ok(accepted)
            }
            .await;
            (backend, result)
        })
        .await
    }

    /// The versions `tool` recorded as applied in this database (its own history table), as
    /// Retort revision ids, oldest first. Read-only.
    pub async fn tool_versions(
        &self,
        db: &DatabaseConfig,
        tool: crate::build::import::Tool,
    ) -> Result<Vec<String>, Error> {
        let wrap = |source| Error::Db {
            database: db.name.clone(),
            source,
        };
        let sql = crate::build::import::applied_versions_sql(tool);
        let mut backend = db::connect(&db.url, Access::ReadOnly).await.map_err(wrap)?;
        let read = async {
            let (cursor, _) = backend.open_cursor(sql, &[]).await?;
            let mut out = Vec::new();
            loop {
                let rows = backend.fetch(cursor, 1000).await?;
                if rows.is_empty() {
                    break;
                }
                for row in rows {
                    out.push(match row.into_iter().next() {
                        Some(crate::bindings::Value::Text(t)) => t,
                        Some(crate::bindings::Value::Integer(i)) => i.to_string(),
                        Some(crate::bindings::Value::Decimal(d)) => d,
                        other => format!("{other:?}"),
                    });
                }
            }
            backend.close_cursor(cursor).await;
            Ok::<_, db::SqlFailure>(out)
        }
        .await;
        backend.close().await;
        read.map_err(|failure| {
            wrap(DbError::Statement {
                doing: format!("reading the {} history table", tool.name()),
                statement: sql.into(),
                code: None,
                message: match failure {
                    db::SqlFailure::Guest(e) => crate::bindings::describe(&e),
                    db::SqlFailure::Fatal(e) => e.to_string(),
                },
            })
        })
        .map(|versions| {
            versions
                .iter()
                .map(|v| v.trim().replace(['.', '_'], "-"))
                .collect()
        })
    }

    /// Records the revisions that make `target` current as applied (or removes them going
    /// down) without running them: adopting a database migrated by other means.
    pub async fn stamp(&self, db: &DatabaseConfig, target: &Target) -> Result<Report, Error> {
        let migrations = self.load(db).await?;
        let wrap = |source| Error::Db {
            database: db.name.clone(),
            source,
        };
        self.locked(db, |mut backend| async {
            let result = async {
                backend.create_history().await.map_err(wrap)?;
                let history = backend.history().await.map_err(wrap)?;
                if let Some(row) = history.iter().find(|r| r.state != RowState::Applied) {
                    return Err(Error::Unfinished {
                        database: db.name.clone(),
                        revision: row.revision.clone(),
                        state: row.state.as_str(),
                    });
                }
                let mut applied = applied_set(&history);
                let steps = plan::stamp(&migrations.graph, &applied, target).map_err(|source| {
                    Error::Plan {
                        database: db.name.clone(),
                        source,
                    }
                })?;
                backend.begin().await.map_err(wrap)?;
                let mut ran = Vec::new();
                for step in steps {
                    let artifact = migrations
                        .get(&step.revision)
                        .expect("plans only name loaded revisions");
                    let recorded = match step.direction {
                        Direction::Upgrade => {
                            let stored = backend
                                .store_artifact(&artifact.digest, &artifact.bytes)
                                .await;
                            if let Err(e) = stored {
                                let _ = backend.rollback().await;
                                return Err(wrap(e));
                            }
                            backend
                                .insert_history(&HistoryRow {
                                    revision: artifact.info.id.clone(),
                                    parents: artifact.info.parents.clone(),
                                    description: artifact.info.description.clone(),
                                    digest: artifact.digest.clone(),
                                    state: RowState::Applied,
                                    applied_at: db::now_rfc3339(),
                                    applied_by: format!("{} (stamp)", db::runner_identity()),
                                    duration_ms: 0,
                                    journal: None,
                                    signer: artifact.signer.clone(),
                                    notes: None,
                                })
                                .await
                        }
                        Direction::Downgrade => backend.delete_history(&step.revision).await,
                    };
                    if let Err(e) = recorded {
                        let _ = backend.rollback().await;
                        return Err(wrap(e));
                    }
                    match step.direction {
                        Direction::Upgrade => applied.insert(step.revision.clone()),
                        Direction::Downgrade => applied.remove(&step.revision),
                    };
                    ran.push(Ran {
                        revision: step.revision,
                        description: artifact.info.description.clone(),
                        direction: step.direction,
                        duration: Duration::ZERO,
                    });
                }
                backend.commit().await.map_err(wrap)?;
                Ok(Report {
                    database: db.name.clone(),
                    steps: ran,
                    dry_run: false,
                    current: migrations.graph.tips(&applied),
                })
            }
            .await;
            (backend, result)
        })
        .await
    }

    /// Moves every database of `selected` to `target`: databases another one requires go
    /// first on the way up and last on the way down, and the whole run is refused before
    /// anything runs if a cross-database requirement would not hold afterwards. `others`
    /// are the project's unselected databases, read (never changed) to check requirements.
    pub async fn migrate_project(
        &self,
        selected: &[DatabaseConfig],
        others: &[DatabaseConfig],
        direction: Direction,
        target: &Target,
        dry_run: bool,
    ) -> Result<ProjectOutcome, Error> {
        if selected.len() > 1 && !matches!(target, Target::Head | Target::Heads | Target::Base) {
            return Err(Error::TargetNeedsOneDatabase(format!("{target:?}")));
        }
        let mut loaded = Vec::new();
        for db in selected {
            let migrations = self.load(db).await?;
            // Every database's applied artifacts are checked before any database is touched.
            self.check_integrity(db, &migrations, &self.history(db).await?)?;
            loaded.push(self.with_stored_artifacts(db, migrations).await?);
        }
        let mut order = order_databases(selected, &loaded)?;
        if direction == Direction::Downgrade {
            order.reverse();
        }
        self.check_requirements(selected, others, &loaded, direction, target)
            .await?;

        let mut outcome = ProjectOutcome::default();
        let mut remaining: Vec<usize> = order.clone();
        while !remaining.is_empty() {
            let i = remaining.remove(0);
            match self
                .migrate_loaded(&selected[i], &loaded[i], direction, target, dry_run)
                .await
            {
                Ok(report) => outcome.reports.push(report),
                Err(e) => {
                    outcome.failed = Some((selected[i].name.clone(), e));
                    outcome.untouched = remaining
                        .iter()
                        .map(|&j| selected[j].name.clone())
                        .collect();
                    break;
                }
            }
        }
        Ok(outcome)
    }

    /// Simulates every selected database's plan and checks each applied-afterwards
    /// revision's `requires` against the other databases' applied-afterwards sets.
    async fn check_requirements(
        &self,
        selected: &[DatabaseConfig],
        others: &[DatabaseConfig],
        loaded: &[Migrations],
        direction: Direction,
        target: &Target,
    ) -> Result<(), Error> {
        // Going down, an unselected database's applied migrations may require what this run
        // removes: check them too (their artifacts say what they require).
        let mut other_loaded = Vec::new();
        if direction == Direction::Downgrade {
            for other in others {
                other_loaded.push(self.load(other).await?);
            }
        }
        let any = loaded
            .iter()
            .chain(&other_loaded)
            .any(|m| m.artifacts.iter().any(|a| !a.info.requires.is_empty()));
        if !any {
            return Ok(());
        }
        let mut after: std::collections::BTreeMap<String, BTreeSet<String>> = Default::default();
        for (db, migrations) in selected.iter().zip(loaded) {
            let history = self.history(db).await?;
            let mut applied = applied_set(&history);
            for step in self.plan(db, migrations, &history, direction, target)? {
                match step.direction {
                    Direction::Upgrade => applied.insert(step.revision),
                    Direction::Downgrade => applied.remove(&step.revision),
                };
            }
            after.insert(db.name.clone(), applied);
        }
        for (db, _) in others.iter().zip(&other_loaded) {
            after.insert(db.name.clone(), applied_set(&self.history(db).await?));
        }
        for (db, migrations) in selected
            .iter()
            .zip(loaded)
            .chain(others.iter().zip(&other_loaded))
        {
            for revision in &after[&db.name] {
                let Some(artifact) = migrations.get(revision) else {
                    continue;
                };
                for req in &artifact.info.requires {
                    let fail = |reason: String| Error::CrossDatabase {
                        database: db.name.clone(),
                        revision: revision.clone(),
                        required_database: req.database.clone(),
                        required_revision: req.revision.clone(),
                        reason,
                    };
                    let state = match after.get(&req.database) {
                        Some(state) => state.clone(),
                        None => match others.iter().find(|o| o.name == req.database) {
                            Some(other) => applied_set(&self.history(other).await?),
                            None => {
                                return Err(fail("but the project has no such database".into()));
                            }
                        },
                    };
                    if !state.contains(&req.revision) {
                        return Err(fail(match direction {
                            Direction::Upgrade => "which would not be applied there after this run; \
                                                   include that database in the run (or upgrade it first)"
                                .into(),
                            Direction::Downgrade => format!(
                                "which this downgrade would revert; downgrade `{}` first, or both together",
                                db.name
                            ),
                        }));
                    }
                }
            }
        }
        Ok(())
    }
}

/// How `retort resolve` settles an unfinished revision.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resolution {
    /// Its changes are in place: record it as applied.
    Applied,
    /// Its changes are not in place: forget the row.
    RolledBack,
    /// Run its downgrade to undo what it did, then forget the row.
    Downgrade,
}

/// What a project-wide run did, database by database.
#[derive(Debug, Default)]
pub struct ProjectOutcome {
    /// The databases that finished, in run order.
    pub reports: Vec<Report>,
    /// The database that failed, with why.
    pub failed: Option<(String, Error)>,
    /// The databases not touched because of the failure.
    pub untouched: Vec<String>,
}

/// Orders databases so that those required by another's migrations come first; otherwise
/// the project's declared order.
fn order_databases(dbs: &[DatabaseConfig], loaded: &[Migrations]) -> Result<Vec<usize>, Error> {
    let index = |name: &str| dbs.iter().position(|d| d.name == name);
    let mut before: Vec<BTreeSet<usize>> = vec![BTreeSet::new(); dbs.len()];
    for (i, migrations) in loaded.iter().enumerate() {
        for artifact in &migrations.artifacts {
            for req in &artifact.info.requires {
                if let Some(j) = index(&req.database)
                    && j != i
                {
                    before[i].insert(j);
                }
            }
        }
    }
    let mut order = Vec::new();
    let mut done = vec![false; dbs.len()];
    while order.len() < dbs.len() {
        let next = (0..dbs.len()).find(|&i| !done[i] && before[i].iter().all(|&j| done[j]));
        match next {
            Some(i) => {
                done[i] = true;
                order.push(i);
            }
            None => {
                return Err(Error::DatabaseCycle(
                    (0..dbs.len())
                        .filter(|&i| !done[i])
                        .map(|i| dbs[i].name.clone())
                        .collect(),
                ));
            }
        }
    }
    Ok(order)
}

impl Migrations {
    /// Every loaded revision id, in file order.
    pub fn ids(&self) -> Vec<String> {
        self.artifacts.iter().map(|a| a.info.id.clone()).collect()
    }
}

/// One current revision of a database (a tip of what is applied).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CurrentRevision {
    /// The revision.
    pub revision: String,
    /// Its description, as recorded when it was applied.
    pub description: String,
    /// Whether it is a head of the graph (nothing is pending after it).
    pub head: bool,
}

/// The history another tool recorded, mapped onto this project's revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adoption {
    /// Every version the tool recorded as applied, as Retort revision ids, oldest first.
    pub versions: Vec<String>,
    /// The newest of them: the revision to stamp.
    pub newest: String,
}

impl Runner {
    /// The database's current revisions: the tips of what is applied, plus applied revisions
    /// the migrations directory no longer has. Empty at base. Read-only.
    pub async fn current(&self, db: &DatabaseConfig) -> Result<Vec<CurrentRevision>, Error> {
        let history = self.history(db).await?;
        let applied = applied_set(&history);
        let migrations = self.load(db).await?;
        let mut tips = migrations.graph.tips(&applied);
        tips.extend(
            applied
                .iter()
                .filter(|r| !migrations.graph.contains(r))
                .cloned(),
        );
        let heads = migrations.graph.heads();
        Ok(tips
            .into_iter()
            .map(|revision| CurrentRevision {
                description: history
                    .iter()
                    .find(|r| r.revision == revision)
                    .map(|r| r.description.clone())
                    .unwrap_or_default(),
                head: heads.contains(&revision),
                revision,
            })
            .collect())
    }

    /// Reads `tool`'s history table in this database and checks that every version it
    /// applied is a revision here (imported with `retort import --from TOOL` and built), so
    /// `stamp` can adopt the newest. Read-only.
    pub async fn adopt(
        &self,
        db: &DatabaseConfig,
        tool: crate::build::import::Tool,
    ) -> Result<Adoption, Error> {
        let versions = self.tool_versions(db, tool).await?;
        let migrations = self.load(db).await?;
        let fail = |reason: String| Error::Adopt {
            database: db.name.clone(),
            tool: tool.name(),
            reason,
        };
        let Some(newest) = versions.last().cloned() else {
            return Err(fail(
                "it recorded no applied migration in this database".into(),
            ));
        };
        if let Some(unknown) = versions.iter().find(|v| !migrations.graph.contains(v)) {
            return Err(fail(format!(
                "it applied version {unknown}, which is not a revision here: run \
                 `retort import --from {}` on its directory and `retort build` first",
                tool.name()
            )));
        }
        Ok(Adoption { versions, newest })
    }
}
