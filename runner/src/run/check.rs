//! `retort check`, the CI gate: for each database, one head, every artifact built, fresh and
//! trusted, the target's applied revisions unchanged, and every migration round-tripped on a
//! scratch database (upgrade, downgrade back to the schema before it, upgrade again).
//!
//! Problems found are [`Finding`]s, not errors: a check reports all it can. An [`Error`] is
//! returned only when checking itself cannot go on (no scratch database can be made).

use crate::core::DialectExt;
use std::sync::{Arc, Mutex};

use super::step::Protocol;
use super::{Error, Migrations, Runner, check_built};
use crate::core::Direction;
use crate::core::snapshot::{Difference, Snapshot};
use crate::db::recording::{Log, Recording, Sender};
use crate::db::{self, Backend, HistoryStore};
use crate::project::DatabaseConfig;

/// What `retort check` should look at beyond the migrations themselves.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    /// Compare the databases' applied revisions with the artifacts (connects to them,
    /// read-only).
    pub target: bool,
    /// Round-trip every migration on a scratch database.
    pub round_trip: bool,
    /// The server to make scratch databases on (a URL whose database Retort may create
    /// siblings of); default: each database's own URL.
    pub scratch_server: Option<String>,
}

/// Everything `retort check` found about one database.
#[derive(Clone, Debug, serde::Serialize)]
pub struct DatabaseCheck {
    /// The database's name in the project.
    pub database: String,
    /// How many revisions its graph holds.
    pub revisions: usize,
    /// How many were round-tripped (`None`: the round trip did not run).
    pub round_tripped: Option<usize>,
    /// What is wrong; empty when the database passes.
    pub findings: Vec<Finding>,
}

/// One problem `retort check` found.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(tag = "finding", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum Finding {
    /// The graph has several heads outside labelled branches: a merge is missing.
    SeveralHeads {
        /// The heads.
        heads: Vec<String>,
    },
    /// Artifacts are missing or older than their sources.
    Unbuilt {
        /// One line per artifact.
        stale: Vec<String>,
    },
    /// The migrations cannot be loaded: a refused signature, a tampered artifact, a broken
    /// graph.
    Refused {
        /// Why.
        message: String,
    },
    /// The target database disagrees with the artifacts (an applied revision changed, or an
    /// earlier run left one unfinished), or cannot be read.
    Target {
        /// Why.
        message: String,
    },
    /// A migration's upgrade has unacknowledged lint findings (a SQL migration's from its
    /// file, a code migration's from what it sent in the round trip).
    Lint {
        /// The revision.
        revision: String,
        /// What is wrong.
        findings: Vec<crate::core::lint::LintFinding>,
    },
    /// A migration does not round-trip.
    RoundTrip {
        /// The revision.
        revision: String,
        /// What went wrong.
        problem: RoundTripProblem,
    },
}

/// How a migration failed its round trip.
#[derive(Clone, Debug, serde::Serialize)]
#[serde(tag = "problem", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum RoundTripProblem {
    /// Its upgrade failed on an empty scratch database at its parents.
    UpgradeFailed {
        /// The error.
        message: String,
    },
    /// Its downgrade failed right after its upgrade.
    DowngradeFailed {
        /// The error.
        message: String,
    },
    /// Its downgrade did not restore the schema its upgrade started from.
    Trace {
        /// From the schema before the upgrade to the schema after the downgrade.
        differences: Vec<Difference>,
    },
    /// Upgrading again after the downgrade failed.
    UpgradeAgainFailed {
        /// The error.
        message: String,
    },
    /// Upgrading again gave another schema than the first upgrade.
    NotRepeatable {
        /// From the schema after the first upgrade to the one after the second.
        differences: Vec<Difference>,
    },
}

/// The kinds of finding, each with a bit of `retort check`'s exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FindingKind {
    /// [`Finding::SeveralHeads`].
    Heads,
    /// [`Finding::Unbuilt`] and [`Finding::Refused`].
    Artifacts,
    /// [`Finding::Target`].
    Target,
    /// [`Finding::RoundTrip`].
    RoundTrip,
    /// [`Finding::Lint`].
    Lint,
}

impl FindingKind {
    /// The bit this kind sets in the exit code (4, 8, 16, 32, 64; 1 and 2 keep their
    /// meaning: the check could not run, a usage error).
    pub fn exit_bit(self) -> u8 {
        match self {
            FindingKind::Heads => 4,
            FindingKind::Artifacts => 8,
            FindingKind::Target => 16,
            FindingKind::RoundTrip => 32,
            FindingKind::Lint => 64,
        }
    }
}

impl Finding {
    /// Its kind.
    pub fn kind(&self) -> FindingKind {
        match self {
            Finding::SeveralHeads { .. } => FindingKind::Heads,
            Finding::Unbuilt { .. } | Finding::Refused { .. } => FindingKind::Artifacts,
            Finding::Target { .. } => FindingKind::Target,
            Finding::RoundTrip { .. } => FindingKind::RoundTrip,
            Finding::Lint { .. } => FindingKind::Lint,
        }
    }
}

impl std::fmt::Display for Finding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Finding::SeveralHeads { heads } => write!(
                f,
                "{} heads ({}): merge them (a migration whose parents are all of them), or give each \
                 its own branch label",
                heads.len(),
                heads.join(", ")
            ),
            Finding::Unbuilt { stale } => {
                write!(f, "artifacts are not built or not fresh (build them):")?;
                stale.iter().try_for_each(|s| write!(f, "\n    {s}"))
            }
            Finding::Refused { message } => write!(f, "the migrations are refused: {message}"),
            Finding::Target { message } => write!(f, "the target database: {message}"),
            Finding::RoundTrip { revision, problem } => write!(f, "{revision}: {problem}"),
            Finding::Lint { revision, findings } => {
                write!(f, "{revision}: lint:")?;
                findings.iter().try_for_each(|x| write!(f, "\n    {x}"))
            }
        }
    }
}

impl std::fmt::Display for RoundTripProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let list = |f: &mut std::fmt::Formatter<'_>, ds: &[Difference]| {
            ds.iter().try_for_each(|d| write!(f, "\n    {d}"))
        };
        match self {
            RoundTripProblem::UpgradeFailed { message } => write!(f, "upgrade failed: {message}"),
            RoundTripProblem::DowngradeFailed { message } => {
                write!(f, "downgrade failed after its upgrade: {message}")
            }
            RoundTripProblem::Trace { differences } => {
                write!(
                    f,
                    "the downgrade does not undo the upgrade ({} difference{} from the schema \
                     before it; + left behind, - lost, ~ changed):",
                    differences.len(),
                    if differences.len() == 1 { "" } else { "s" }
                )?;
                list(f, differences)
            }
            RoundTripProblem::UpgradeAgainFailed { message } => {
                write!(f, "upgrading again after the downgrade failed: {message}")
            }
            RoundTripProblem::NotRepeatable { differences } => {
                write!(
                    f,
                    "upgrading again after the downgrade gives another schema than the first \
                     upgrade:"
                )?;
                list(f, differences)
            }
        }
    }
}

/// The result of a round trip ([`Runner::check`], the testing kit).
#[derive(Clone, Debug)]
pub struct RoundTrip {
    /// The revisions that round-tripped, in the order they ran.
    pub passed: Vec<String>,
    /// The first revision that did not, and why; revisions after it were not tried (the
    /// database's state after a failed round trip is not one a later migration expects).
    pub failed: Option<(String, RoundTripProblem)>,
    /// What each migration's first upgrade sent, in order (the SQL of every statement).
    pub sent: Vec<(String, Vec<String>)>,
}

/// An error and its causes on one line.
pub(super) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

impl Runner {
    /// Checks every selected database of `project` (see the module documentation). Returns
    /// one [`DatabaseCheck`] per database, in project order.
    pub async fn check(
        &self,
        project: &crate::project::Project,
        options: &CheckOptions,
    ) -> Result<Vec<DatabaseCheck>, Error> {
        let mut out = Vec::new();
        for db in &project.databases {
            out.push(self.check_database(db, options).await?);
        }
        Ok(out)
    }

    async fn check_database(
        &self,
        db: &DatabaseConfig,
        options: &CheckOptions,
    ) -> Result<DatabaseCheck, Error> {
        let mut check = DatabaseCheck {
            database: db.name.clone(),
            revisions: 0,
            round_tripped: None,
            findings: Vec::new(),
        };
        match check_built(
            db,
            Direction::Upgrade,
            self.observer.as_ref(),
            self.build_sources,
        ) {
            Err(Error::Unbuilt { stale, .. }) => check.findings.push(Finding::Unbuilt { stale }),
            Err(e) => check.findings.push(Finding::Refused { message: chain(&e) }),
            Ok(()) => {}
        }
        let migrations = match self.load(db).await {
            Ok(m) => m,
            Err(e) => {
                check.findings.push(Finding::Refused { message: chain(&e) });
                return Ok(check);
            }
        };
        check.revisions = migrations.graph.order().len();
        let heads = unlabelled_heads(&migrations);
        if heads.len() > 1 {
            check.findings.push(Finding::SeveralHeads { heads });
        }
        if options.target
            && let Err(e) = self.compare_target(db, &migrations).await
        {
            check.findings.push(Finding::Target { message: chain(&e) });
        }
        let mut sent = Vec::new();
        if options.round_trip {
            let server = options.scratch_server.as_deref().unwrap_or(&db.url);
            let trip = self.round_trip_on_scratch(db, &migrations, server).await?;
            check.round_tripped = Some(trip.passed.len());
            if let Some((revision, problem)) = trip.failed {
                check
                    .findings
                    .push(Finding::RoundTrip { revision, problem });
            }
            sent = trip.sent;
        }
        check.findings.extend(lint_findings(db, &migrations, &sent));
        Ok(check)
    }

    /// The target's history against the artifacts, read-only (a missing SQLite file is a
    /// database with nothing applied).
    async fn compare_target(
        &self,
        db: &DatabaseConfig,
        migrations: &Migrations,
    ) -> Result<(), Error> {
        let history = self.history(db).await?;
        self.check_integrity(db, migrations, &history)?;
        if let Some(row) = history.iter().find(|r| r.state != db::RowState::Applied) {
            return Err(Error::Unfinished {
                database: db.name.clone(),
                revision: row.revision.clone(),
                state: row.state.as_str(),
            });
        }
        Ok(())
    }

    /// Makes a scratch database on `server`, round-trips `migrations` on it as `db` would
    /// run them, and drops it.
    async fn round_trip_on_scratch(
        &self,
        db: &DatabaseConfig,
        migrations: &Migrations,
        server: &str,
    ) -> Result<RoundTrip, Error> {
        let scratch = self.scratch_for(db, server).await?;
        let result = self.round_trip(&scratch.config, migrations).await;
        scratch.finish(result).await
    }

    /// Round-trips every migration of `migrations` on `db`, which must be empty: in graph
    /// order, each is upgraded, then downgraded — the schema must be the one before it —
    /// then upgraded again — the schema must be the one after its first upgrade. Stops at
    /// the first migration that fails. What [`Runner::check`] runs on a scratch database,
    /// callable from a test on a database of its own (the testing kit's `round_trip`).
    pub(crate) async fn round_trip(
        &self,
        db: &DatabaseConfig,
        migrations: &Migrations,
    ) -> Result<RoundTrip, Error> {
        self.locked(db, |backend| {
            self.round_trip_locked(backend, db, migrations)
        })
        .await
    }

    async fn round_trip_locked(
        &self,
        backend: Box<dyn Backend>,
        db: &DatabaseConfig,
        migrations: &Migrations,
    ) -> (Box<dyn Backend>, Result<RoundTrip, Error>) {
        // What each migration sends in its first upgrade is kept for the linter.
        let log: Log = Arc::new(Mutex::new(None));
        let mut backend: Box<dyn Backend> = Box::new(Recording::new(backend, log.clone()));
        if let Err(source) = backend.create_history().await {
            let database = db.name.clone();
            return (backend, Err(Error::Db { database, source }));
        }
        let mut before = match self.snapshot(backend.as_mut(), db).await {
            Ok(s) => s,
            Err(e) => return (backend, Err(e)),
        };
        let mut trip = RoundTrip {
            passed: Vec::new(),
            failed: None,
            sent: Vec::new(),
        };
        for id in migrations.graph.order() {
            let mut first = Vec::new();
            let (b, outcome) = self
                .round_trip_one(backend, db, migrations, id, before, (&log, &mut first))
                .await;
            backend = b;
            let sent = first
                .into_iter()
                .filter(|r| r.sender == Sender::Migration)
                .map(|r| r.sql)
                .collect();
            trip.sent.push((id.clone(), sent));
            match outcome {
                Ok(Ok(after)) => {
                    trip.passed.push(id.clone());
                    before = after;
                }
                Ok(Err(problem)) => {
                    trip.failed = Some((id.clone(), problem));
                    break;
                }
                Err(e) => return (backend, Err(e)),
            }
        }
        (backend, Ok(trip))
    }
}

/// Lint findings: a SQL migration's from its file (with its header's acknowledgements), any
/// other migration's from what it sent in the round trip (`sent`).
fn lint_findings(
    db: &DatabaseConfig,
    migrations: &Migrations,
    sent: &[(String, Vec<String>)],
) -> Vec<Finding> {
    use crate::core::lint::{Context, lint};
    let Some(engine) = crate::core::Dialect::of_url(&db.url) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let from_directory = db.source.is_directory();
    let (files, baseline) = if from_directory {
        let files = crate::authoring::guest::sql_migrations(&db.migrations).unwrap_or_else(|e| {
            out.push(Finding::Refused {
                message: format!(
                    "its SQL migrations cannot be read to lint them: {}",
                    e.chain()
                ),
            });
            Vec::new()
        });
        let baseline = crate::authoring::lint::Baseline::load(&db.migrations).unwrap_or_else(|e| {
            out.push(Finding::Refused { message: e.chain() });
            Default::default()
        });
        (files, baseline)
    } else {
        Default::default()
    };
    let mut lints = Vec::new();
    for m in &files {
        match crate::authoring::lint::lint_migration(m, engine) {
            Ok(Some(l)) => lints.push(l),
            Ok(None) => {}
            Err(e) => out.push(Finding::Refused { message: e.chain() }),
        }
    }
    for (id, statements) in sent {
        if files.iter().any(|m| &m.id == id) {
            continue;
        }
        let Some(artifact) = migrations.get(id) else {
            continue;
        };
        let ctx = Context {
            engine,
            transactional: artifact.info.transactional,
            allowed: Default::default(),
        };
        let findings = lint(statements, &ctx);
        if !findings.is_empty() {
            lints.push(crate::authoring::lint::MigrationLint {
                revision: id.clone(),
                file: artifact.path.display().to_string(),
                findings,
            });
        }
    }
    let (lints, _) = baseline.apply(lints);
    out.extend(lints.into_iter().map(|l| Finding::Lint {
        revision: l.revision,
        findings: l.findings,
    }));
    out
}

/// Every head, when two of them are in the same branch: no label, or one label. (Heads of
/// differently labelled branches are declared: `retort upgrade heads` moves each.)
fn unlabelled_heads(migrations: &Migrations) -> Vec<String> {
    let graph = &migrations.graph;
    let heads = graph.heads();
    // A head's branch is the innermost labelled branch holding it.
    let branch_of = |head: &String| {
        graph
            .labels()
            .keys()
            .filter_map(|label| Some((label, graph.branch(label)?)))
            .filter(|(_, members)| members.contains(head))
            .min_by_key(|(_, members)| members.len())
            .map(|(label, _)| label.clone())
    };
    let mut branches: Vec<Option<String>> = heads.iter().map(branch_of).collect();
    branches.sort();
    let shared = branches.windows(2).any(|w| w[0] == w[1]);
    if shared { heads } else { Vec::new() }
}

impl Runner {
    async fn snapshot(
        &self,
        backend: &mut dyn Backend,
        db: &DatabaseConfig,
    ) -> Result<Snapshot, Error> {
        db::catalog::snapshot(backend)
            .await
            .map_err(|source| Error::Db {
                database: db.name.clone(),
                source,
            })
    }

    /// One migration's round trip from `before`: `Ok(Ok(after))` when it passes.
    async fn round_trip_one(
        &self,
        mut backend: Box<dyn Backend>,
        db: &DatabaseConfig,
        migrations: &Migrations,
        id: &str,
        before: Snapshot,
        (log, first): (&Log, &mut Vec<crate::db::recording::Recorded>),
    ) -> (
        Box<dyn Backend>,
        Result<Result<Snapshot, RoundTripProblem>, Error>,
    ) {
        let artifact = migrations
            .get(id)
            .expect("the graph only names loaded revisions");
        let protocol = Protocol::choose(
            backend.ddl_commits_implicitly(),
            artifact.info.transactional,
            false,
        );
        macro_rules! step {
            ($direction:expr, $problem:ident) => {{
                let (b, ran) = self
                    .run_step(backend, db, artifact, $direction, protocol)
                    .await;
                backend = b;
                if let Err(e) = ran {
                    let message = chain(&super::scratch::rehearsed(e));
                    return (backend, Ok(Err(RoundTripProblem::$problem { message })));
                }
            }};
        }
        macro_rules! snapshot {
            () => {
                match self.snapshot(backend.as_mut(), db).await {
                    Ok(s) => s,
                    Err(e) => return (backend, Err(e)),
                }
            };
        }
        // What the first upgrade sends is kept for the linter, whatever happens after it.
        *log.lock().unwrap_or_else(|p| p.into_inner()) = Some(Vec::new());
        let (b, ran) = self
            .run_step(backend, db, artifact, Direction::Upgrade, protocol)
            .await;
        backend = b;
        *first = log
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
            .unwrap_or_default();
        if let Err(e) = ran {
            let message = chain(&super::scratch::rehearsed(e));
            return (
                backend,
                Ok(Err(RoundTripProblem::UpgradeFailed { message })),
            );
        }
        let after = snapshot!();
        step!(Direction::Downgrade, DowngradeFailed);
        let differences = before.diff(&snapshot!());
        if !differences.is_empty() {
            return (backend, Ok(Err(RoundTripProblem::Trace { differences })));
        }
        step!(Direction::Upgrade, UpgradeAgainFailed);
        let again = snapshot!();
        let differences = after.diff(&again);
        if !differences.is_empty() {
            return (
                backend,
                Ok(Err(RoundTripProblem::NotRepeatable { differences })),
            );
        }
        (backend, Ok(Ok(again)))
    }
}
