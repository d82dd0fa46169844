//! Running plans: connect → lock → read history → plan → for each step begin → call →
//! record → commit, releasing the lock on every path.
//!
//! Owns: orchestration. [`Runner`] loads a database's migrations ([`crate::source`]), plans
//! with [`crate::core`], and runs each step by its protocol (`step.rs`) on a [`crate::db`]
//! connection inside the [`crate::host`] sandbox. May import every library module but `cli`.

// Errors carry the names an operator needs; they are built once per failed run, so their
// size does not matter.
#![allow(clippy::result_large_err)]

mod check;
mod diff;
mod error;
mod maintenance;
mod offline;
mod one;
mod project;
mod report;
mod scratch;
mod settle;
mod step;

use crate::core::DialectExt;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use crate::core::Direction;
use crate::core::graph::{Graph, Node};
use crate::core::observe::{Event, Observer};
use crate::core::plan::{self, Step, Target};
use crate::db::HistoryStore;
use crate::db::{self, Access, Backend, HistoryRow, RowState};
use crate::host::sandbox::Sandbox;
use crate::project::{DatabaseConfig, Source, TransactionMode};
use crate::source::{
    self, Artifact, ArtifactError, BundleFile, Directory, Expected, MigrationSource, Stored,
};

pub use check::{CheckOptions, DatabaseCheck, Finding, FindingKind, RoundTrip, RoundTripProblem};
pub use diff::{Against, SchemaDiff};
pub use error::{Changed, Disagreement, Error, ErrorKind, FailureState, Refusal};
pub use maintenance::{Adoption, Maintenance};
pub use offline::{OfflineSql, OfflineStep};
pub use report::{
    CurrentRevision, ProjectOutcome, Ran, Report, Resolution, RevisionState, Run, StatusLine,
};
pub use scratch::Rehearsal;
use step::Protocol;

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
///
/// A migration's wasm code runs inside the futures these methods return, between their await
/// points (SQLite's own calls run on a thread per connection): drive them on a runtime of
/// their own — the CLI and `examples/embedded_app.rs` use a current-thread runtime — rather
/// than on a runtime whose other tasks must not wait for a data migration.
pub struct Runner {
    sandbox: Sandbox,
    observer: Arc<dyn Observer>,
    /// Whether runs from a migrations directory first build what needs no external tool
    /// ([`Runner::building_sources`]).
    build_sources: bool,
}

fn applied_set(history: &[HistoryRow]) -> BTreeSet<String> {
    history
        .iter()
        .filter(|r| r.state == RowState::Applied)
        .map(|r| r.revision.clone())
        .collect()
}

impl Runner {
    /// Builds the wasm engine once; every migration then runs under `limits` and reports
    /// to `observer` (use [`crate::Silent`] to ignore events).
    pub fn new(observer: Arc<dyn Observer>, limits: crate::core::Limits) -> Result<Self, Error> {
        let sandbox = Sandbox::new(limits)
            .map_err(|e| Error::Engine(format!("{e:#}")))?
            .observed_by(observer.clone());
        Ok(Runner {
            sandbox,
            observer,
            build_sources: false,
        })
    }

    /// Before a run from a migrations directory, build the migrations that need no external
    /// tool and whose artifact is missing or older than their sources — SQL migrations, and
    /// Python/JavaScript ones whose runtime the project holds — writing their `.wasm` files
    /// beside them as `retort build` does (the `retort` binary turns this on). Off by
    /// default: a run writes no files, and refuses sources that are not built.
    pub fn building_sources(mut self, on: bool) -> Self {
        self.build_sources = on;
        self
    }

    /// Upgrades every selected database of `project` to `target` (`Target::Head` for all
    /// that is pending), in dependency order, and returns what each did. The first failure
    /// stops the run and is returned; databases after it are not touched.
    pub async fn upgrade(
        &self,
        project: &crate::project::Project,
        target: &Target,
    ) -> Result<Vec<Report>, Error> {
        self.run(project, &Run::upgrade(target.clone()))
            .await?
            .into_result()
    }

    /// Downgrades every selected database of `project` to `target` (`Target::Base` reverts
    /// everything), in reverse dependency order, like [`Runner::upgrade`].
    pub async fn downgrade(
        &self,
        project: &crate::project::Project,
        target: &Target,
    ) -> Result<Vec<Report>, Error> {
        self.run(project, &Run::downgrade(target.clone()))
            .await?
            .into_result()
    }

    /// What [`Runner::upgrade`] or [`Runner::downgrade`] would do to each selected database of
    /// `project`: the steps, in order, in reports marked `dry_run`. Runs nothing and creates
    /// nothing (not even the history tables or an SQLite file).
    pub async fn plan(
        &self,
        project: &crate::project::Project,
        direction: Direction,
        target: &Target,
    ) -> Result<Vec<Report>, Error> {
        let run = match direction {
            Direction::Upgrade => Run::upgrade(target.clone()),
            Direction::Downgrade => Run::downgrade(target.clone()),
        };
        self.run(project, &run.planned()).await?.into_result()
    }

    /// Carries out `run` on every selected database of `project` and says, database by
    /// database, what happened: the reports of those that finished, the failure, and the
    /// databases the failure left untouched. Databases another one requires go first on
    /// the way up and last on the way down; the whole run is refused before anything runs
    /// if a cross-database requirement would not hold afterwards (the project's unselected
    /// databases are read, never changed, to check that). `Err` is a failure before any
    /// database was touched.
    pub async fn run(
        &self,
        project: &crate::project::Project,
        run: &Run,
    ) -> Result<ProjectOutcome, Error> {
        self.migrate_project(
            &project.databases,
            &project.others,
            run.direction,
            &run.target,
            !run.apply,
        )
        .await
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

    /// Where `db`'s migrations come from: embedded in the application, a bundle, or its
    /// migrations directory.
    pub(crate) fn source_of(db: &DatabaseConfig) -> Box<dyn MigrationSource> {
        match &db.source {
            Source::Embedded(embedded) => Box::new(*embedded),
            Source::Bundle(bundle) => Box::new(BundleFile(bundle.clone())),
            Source::Directory => Box::new(Directory(db.migrations.clone())),
        }
    }

    /// Loads and validates the migrations of `db` from its source (the migrations directory,
    /// a bundle or the application), refusing any the signature policy refuses, without
    /// touching the database.
    pub async fn load(&self, db: &DatabaseConfig) -> Result<Migrations, Error> {
        let artifacts = self.load_from(db, Self::source_of(db).as_ref()).await?;
        self.graph_of(db, artifacts)
    }

    async fn load_from(
        &self,
        db: &DatabaseConfig,
        from: &dyn MigrationSource,
    ) -> Result<Vec<Artifact>, Error> {
        source::load(
            &self.sandbox,
            from,
            &db.name,
            &db.trust,
            self.observer.clone(),
        )
        .await
        .map_err(|e| match e {
            ArtifactError::Database(source) => Error::Db {
                database: db.name.clone(),
                source,
            },
            source => Error::Artifact {
                database: db.name.clone(),
                source,
            },
        })
    }

    /// Compares every applied revision's recorded digest with the artifact about to be
    /// used for it: a migration must not change once applied. Read-only.
    pub(crate) fn check_integrity(
        &self,
        db: &DatabaseConfig,
        migrations: &Migrations,
        history: &[HistoryRow],
    ) -> Result<(), Error> {
        use crate::core::checks::{Offered, Recorded};
        let files: std::collections::BTreeMap<&str, (String, &str)> = migrations
            .artifacts
            .iter()
            .map(|a| {
                let file = a.path.display().to_string();
                (a.info.id.as_str(), (file, a.digest.as_str()))
            })
            .collect();
        let recorded = history.iter().map(|row| Recorded {
            revision: &row.revision,
            digest: &row.digest,
            applied_at: &row.applied_at,
            applied_by: &row.applied_by,
        });
        let changed = crate::core::checks::changed(recorded, |revision| {
            files
                .get(revision)
                .map(|(file, digest)| Offered { file, digest })
        });
        if changed.is_empty() {
            Ok(())
        } else {
            Err(Error::Changed {
                database: db.name.clone(),
                changed,
            })
        }
    }

    /// Adds, from `retort_artifacts`, the applied revisions the migrations source lacks, so
    /// a database can be downgraded after its newer migrations' source is gone. Read-only;
    /// `history` is the database's, as its caller read it.
    pub(crate) async fn with_stored_artifacts(
        &self,
        db: &DatabaseConfig,
        migrations: Migrations,
        history: &[HistoryRow],
    ) -> Result<Migrations, Error> {
        let wanted: Vec<Expected> = history
            .iter()
            .filter(|r| !migrations.graph.contains(&r.revision))
            .map(|r| Expected {
                revision: r.revision.clone(),
                digest: r.digest.clone(),
            })
            .collect();
        if wanted.is_empty() {
            return Ok(migrations);
        }
        let url = db.url.clone();
        let stored = self.load_from(db, &Stored { url, wanted }).await?;
        for artifact in &stored {
            self.observer.event(&Event::StoredArtifact {
                database: &db.name,
                revision: &artifact.info.id,
            });
        }
        let mut artifacts = migrations.artifacts;
        artifacts.extend(stored);
        self.graph_of(db, artifacts)
    }

    /// Reads the history without creating anything; a missing SQLite file has none.
    pub async fn history(&self, db: &DatabaseConfig) -> Result<Vec<HistoryRow>, Error> {
        db::read_history(&db.url).await.map_err(|source| Error::Db {
            database: db.name.clone(),
            source,
        })
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

    /// Moves `db` to `target`, planned first on `history` as read before the lock (read-only:
    /// a target that cannot be reached fails before anything is created), then under the lock.
    pub(super) async fn migrate_read(
        &self,
        db: &DatabaseConfig,
        migrations: &Migrations,
        history: Vec<HistoryRow>,
        direction: Direction,
        target: &Target,
        dry_run: bool,
    ) -> Result<Report, Error> {
        if dry_run {
            let steps = self.plan_steps(db, migrations, &history, direction, target)?;
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
                        undid_nothing: s.direction == Direction::Downgrade
                            && crate::core::Dialect::of_url(&db.url).is_some_and(|engine| {
                                migrations
                                    .get(&s.revision)
                                    .is_some_and(|a| a.has_no_downgrade(engine))
                            }),
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
        self.check_integrity(db, migrations, &history)?;
        let history: Vec<HistoryRow> = history
            .into_iter()
            .filter(|r| r.state == RowState::Applied)
            .collect();
        for step in self.plan_steps(db, migrations, &history, direction, target)? {
            if let Some(artifact) = migrations.get(&step.revision) {
                crate::host::capability::check(&db.name, &db.capabilities, &artifact.info)
                    .map_err(|source| Error::Capability {
                        database: db.name.clone(),
                        source,
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
        let mut backend = db::connect_as(&db.url, db.migration_url.as_deref(), Access::ReadWrite)
            .await
            .map_err(wrap)?;
        self.observer.event(&Event::Waiting { database: &db.name });
        if let Err(e) = backend.lock(db.lock_timeout).await {
            backend.close().await;
            return Err(wrap(e));
        }
        for sql in &db.session {
            let doing = "running the session setup (retort.toml `session`)";
            if let Err(e) = backend.setup(doing, sql).await {
                let _ = backend.unlock().await;
                backend.close().await;
                return Err(wrap(e));
            }
        }
        if let Err(e) = backend.configured().await {
            let _ = backend.unlock().await;
            backend.close().await;
            return Err(wrap(e));
        }
        if let Err(e) = self.check_account(backend.as_mut(), db).await {
            let _ = backend.unlock().await;
            backend.close().await;
            return Err(e);
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

    /// Warns, on every run, when migrations run as an account whose SQL reaches the server's
    /// files or programs, or refuses to run them (`require_unprivileged`).
    async fn check_account(
        &self,
        backend: &mut dyn Backend,
        db: &DatabaseConfig,
    ) -> Result<(), Error> {
        let account = backend
            .privileged_account()
            .await
            .map_err(|source| Error::Db {
                database: db.name.clone(),
                source,
            })?;
        let Some(account) = account else {
            return Ok(());
        };
        if db.require_unprivileged {
            return Err(Error::Privileged {
                database: db.name.clone(),
                account,
            });
        }
        let message = format!(
            "migrations run as {account}: their SQL can reach the database server's files or \
             programs (COPY … PROGRAM, pg_read_file, INTO OUTFILE, LOAD_FILE). Run them as a \
             restricted account (`migration_url`), or set `require_unprivileged = true` to \
             refuse this; see docs/security.md"
        );
        self.observer.event(&Event::Warning {
            database: &db.name,
            message: &message,
        });
        Ok(())
    }

    fn plan_steps(
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
            let steps = self.plan_steps(db, migrations, &history, direction, target)?;
            if !steps.is_empty() {
                backend.create_history().await.map_err(wrap)?;
                // Refuses tables a trigger or rule would write through, before Retort's
                // first write of the run.
                backend
                    .check_bookkeeping_catalog(crate::db::View::Own)
                    .await
                    .map_err(wrap)?;
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
            let protocol = Protocol::choose(
                backend.ddl_commits_implicitly(),
                artifact.info.transactional,
                single,
            );
            let grouped = protocol == Protocol::Grouped;
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
                .run_step(backend, db, artifact, step.direction, protocol)
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
        // What one transaction recorded, read back after its commit (see `step::read_back`).
        if single && backend.may_run_at_commit() {
            for r in &ran {
                if let Err(e) = step::read_back(backend.as_mut(), &r.revision, r.direction).await {
                    return (backend, Err(wrap(e)));
                }
            }
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
}

/// Refuses an upgrade from a migrations directory whose sources are not built, or changed
/// since they were: it would skip the new migrations ("nothing to do") or run the old
/// artifact of an edited one. (Bundles and embedded migrations have no sources here.)
/// With `build`, first builds the SQL migrations whose artifact is missing or older than
/// their scripts (that needs no toolchain), and the Python/JavaScript ones whose runtime the
/// project holds; then refuses, naming them, while any migration has no artifact or changed
/// since it was built. Before a downgrade, warns of sources edited since their build.
pub(super) fn check_built(
    db: &DatabaseConfig,
    direction: Direction,
    observer: &dyn crate::core::observe::Observer,
    build: bool,
) -> Result<(), Error> {
    if !db.source.is_directory() {
        return Ok(());
    }
    let shown = |p: &std::path::Path| {
        let base = db.migrations.parent().unwrap_or(&db.migrations);
        p.strip_prefix(base).unwrap_or(p).display().to_string()
    };
    if direction == Direction::Downgrade {
        // A downgrade runs what was applied; an edit since then is not it. Say so before.
        if let Ok(stale) = crate::authoring::guest::stale(&db.migrations) {
            for (source, why) in stale {
                if why == crate::authoring::guest::Staleness::Changed {
                    let message = format!(
                        "{} changed since its artifact was built: a downgrade runs the artifact \
                         (what was applied), not the edit (its status says what to do)",
                        shown(&source_file(&source))
                    );
                    observer.event(&crate::core::observe::Event::Warning {
                        database: &db.name,
                        message: &message,
                    });
                }
            }
        }
        return Ok(());
    }
    // The offline build and the staleness check share one listing and one read of each file.
    let checked = if build {
        crate::authoring::guest::build_offline_then_stale(&db.migrations)
    } else {
        Ok((Vec::new(), crate::authoring::guest::stale(&db.migrations)))
    };
    let stale = match checked {
        Ok((built, stale)) => {
            for b in &built {
                observer.event(&crate::core::observe::Event::Built {
                    database: &db.name,
                    artifact: &shown(&b.artifact),
                });
            }
            stale
        }
        Err(e) => {
            return Err(Error::Unbuilt {
                database: db.name.clone(),
                stale: vec![format!("its migrations cannot be built: {}", e.chain())],
            });
        }
    };
    let stale = match stale {
        Ok(stale) => stale
            .iter()
            .map(|(path, why)| format!("{} {why}", shown(path)))
            .collect::<Vec<_>>(),
        Err(e) => vec![format!("its sources cannot be read: {}", e.chain())],
    };
    if stale.is_empty() {
        return Ok(());
    }
    Err(Error::Unbuilt {
        database: db.name.clone(),
        stale,
    })
}

/// The revisions of a migrations directory whose sources changed since their artifact was
/// built, with the source: what runs for them (a downgrade, a stored copy) is the artifact,
/// not the edit. Empty for bundles and embedded migrations, which have no sources here.
pub fn edited_sources(
    db: &DatabaseConfig,
    migrations: &Migrations,
) -> Vec<(String, std::path::PathBuf)> {
    if !db.source.is_directory() {
        return Vec::new();
    }
    let Ok(stale) = crate::authoring::guest::stale(&db.migrations) else {
        return Vec::new();
    };
    stale
        .into_iter()
        .filter(|(_, why)| *why == crate::authoring::guest::Staleness::Changed)
        .filter_map(|(source, _)| {
            let artifact = std::path::PathBuf::from(format!("{}.wasm", source.display()));
            migrations
                .artifacts
                .iter()
                .find(|a| a.path == artifact)
                .map(|a| (a.info.id.clone(), source_file(&source)))
        })
        .collect()
}

/// What a migration's author edits, from the stem `stale` names: a crate's directory, a SQL
/// migration's scripts (`<stem>.*.sql`: up, down, per dialect), a Python or JavaScript file.
fn source_file(stem: &std::path::Path) -> std::path::PathBuf {
    let with = |ext: &str| std::path::PathBuf::from(format!("{}{ext}", stem.display()));
    if with(".up.sql").is_file() {
        return with(".*.sql");
    }
    [".py", ".js"]
        .into_iter()
        .map(with)
        .find(|p| p.is_file())
        .unwrap_or_else(|| stem.to_path_buf())
}

impl Migrations {
    /// Every loaded revision id, in file order.
    pub fn ids(&self) -> Vec<String> {
        self.artifacts.iter().map(|a| a.info.id.clone()).collect()
    }
}
