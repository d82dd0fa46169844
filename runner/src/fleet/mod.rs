//! Fleets: one database's migrations run on many databases (a database or schema per
//! tenant, per customer, per shard), concurrently, with a durable log of every attempt.
//!
//! Owns: the list of targets ([`TargetSource`], [`Partition`]), the schedule (`jobs`
//! overall and per server, a canary wave, a failure limit), the run log (`log.rs`: JSON
//! lines; `resume` and `retry --failed` read it) and the control database's queue
//! (`control.rs`: workers on several machines claim targets with `FOR UPDATE SKIP LOCKED`
//! and leases). A client of [`crate::run`]: each target is one database of the project's
//! template ([`Fleet::new`]), migrated by the runner exactly as `retort upgrade` would, with
//! its own history, lock and signatures; the migrations are built, verified and compiled
//! once for all targets. May import `run`, `db`, `core`, `project`; nothing imports it.

// A target's failure is an `Attempt`, never this module's error; `FleetError` wraps the
// library's (large) error only when the template itself cannot load.
#![allow(clippy::result_large_err)]

mod control;
mod log;
mod targets;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use serde::{Deserialize, Serialize};

use crate::core::Direction;
use crate::core::plan::Target;
use crate::project::DatabaseConfig;
use crate::run::{Error, Migrations, Run, Runner};

pub use log::{Record, Recorded, RunLog};
pub use targets::{FleetTarget, Partition, TargetSource};

/// Why a fleet run could not start or go on (a target's own failure is an [`Attempt`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// The targets could not be listed.
    #[error("cannot list the targets from {source_name}: {message}")]
    Targets {
        /// Where they were listed from (a file and line, a command, a query).
        source_name: String,
        /// What went wrong.
        message: String,
    },
    /// `K/N` is not a partition.
    #[error("`{0}` is not a partition: write K/N, with 1 ≤ K ≤ N (this worker, how many)")]
    Partition(String),
    /// A `--max-failures` value is neither a count nor a percentage.
    #[error("`{0}` is not a failure limit: write a count (5) or a percentage of the targets (2%)")]
    MaxFailures(String),
    /// A run's name that cannot name a file.
    #[error(
        "`{0}` cannot name a run: use letters, digits and `._:-` (it names the run's log file)"
    )]
    RunName(String),
    /// The run log could not be read or written.
    #[error("run log {}: {message}", path.display())]
    Log {
        /// The log file.
        path: std::path::PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The control database failed.
    #[error("control database: {0}")]
    Control(String),
    /// A target's task was cancelled (the runtime shut down under the run).
    #[error("a target's task was cancelled: {0}")]
    Cancelled(String),
    /// A worker joined a run registered for something else.
    #[error("run `{run}` is recorded as {recorded}; this worker was asked for {asked}")]
    Mismatch {
        /// The run.
        run: String,
        /// What it is, as recorded.
        recorded: String,
        /// What this worker was asked to do.
        asked: String,
    },
    /// The template database cannot be run on many targets, or its migrations failed to load.
    #[error(transparent)]
    Project(#[from] Error),
    /// The template database has a setting that cannot apply to every target.
    #[error("{0}")]
    Template(String),
    /// The migrations cannot reach the run's target even on an empty database: every target
    /// would fail the same way, so none is started.
    #[error("no target can be upgraded to `{target}`")]
    Unreachable {
        /// The run's target.
        target: String,
        /// Why.
        source: crate::core::plan::PlanError,
    },
}

/// How one attempt on one target ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Migrations ran.
    Applied,
    /// Nothing was to do (read once, without the lock).
    UpToDate,
    /// A plan or status found steps to run (nothing ran).
    Pending,
    /// The run failed on this target; its error says what state the target is in.
    Failed,
    /// The target could not be reached: nothing was read or changed.
    Unreachable,
}

impl Outcome {
    /// A stable name: `applied`, `up-to-date`, `pending`, `failed`, `unreachable`.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Applied => "applied",
            Outcome::UpToDate => "up-to-date",
            Outcome::Pending => "pending",
            Outcome::Failed => "failed",
            Outcome::Unreachable => "unreachable",
        }
    }

    /// Whether the target is where the run wanted it (or, for a plan, was read).
    pub fn succeeded(self) -> bool {
        !matches!(self, Outcome::Failed | Outcome::Unreachable)
    }
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One attempt on one target: a line of the run log and a row of the control database.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Attempt {
    /// The run.
    pub run: String,
    /// The target's name (its URL without the password).
    pub target: String,
    /// Which attempt on this target in this run, from 1.
    pub attempt: u32,
    /// The worker that made it.
    pub worker: String,
    /// When it started (RFC 3339, UTC).
    pub started_at: String,
    /// How long it took.
    pub duration_ms: f64,
    /// How it ended.
    pub outcome: Outcome,
    /// The target's revisions before.
    pub from: Vec<String>,
    /// Its revisions after (before, when it failed).
    pub to: Vec<String>,
    /// The revisions that ran (or would run, for a plan), in order.
    pub revisions: Vec<String>,
    /// The error's kind ([`crate::ErrorKind::as_str`]), when it failed.
    pub error_kind: Option<String>,
    /// The error with its causes, when it failed: it names the migration, the statement and
    /// the state the target was left in.
    pub error: Option<String>,
}

impl std::fmt::Display for Attempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.target, self.outcome)?;
        match self.outcome {
            Outcome::Applied | Outcome::Pending => {
                let n = self.revisions.len();
                write!(f, ", {n} migration{}", if n == 1 { "" } else { "s" })?;
            }
            _ => {}
        }
        if self.outcome != Outcome::Pending && !self.to.is_empty() {
            write!(f, ", at {}", self.to.join(", "))?;
        }
        if let Some(error) = &self.error {
            // The library names the database; here the line already does.
            let named = format!("database `{}`: ", self.target);
            write!(f, ": {}", error.strip_prefix(&named).unwrap_or(error))?;
        }
        Ok(())
    }
}

/// A limit on failures, after which no new target starts.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum MaxFailures {
    /// This many failed targets.
    Count(u32),
    /// This share of the run's targets, in percent.
    Percent(f64),
}

impl MaxFailures {
    /// Parses `5` or `2%` (or `2.5%`).
    pub fn parse(text: &str) -> Result<MaxFailures, FleetError> {
        let bad = || FleetError::MaxFailures(text.to_string());
        match text.trim().strip_suffix('%') {
            Some(p) => {
                let p: f64 = p.trim().parse().map_err(|_| bad())?;
                if !(0.0..=100.0).contains(&p) {
                    return Err(bad());
                }
                Ok(MaxFailures::Percent(p))
            }
            None => Ok(MaxFailures::Count(text.trim().parse().map_err(|_| bad())?)),
        }
    }

    /// The number of failures that stops the run, out of `total` targets (at least 1).
    pub fn limit(self, total: usize) -> usize {
        match self {
            MaxFailures::Count(n) => n.max(1) as usize,
            MaxFailures::Percent(p) => ((total as f64 * p / 100.0).ceil() as usize).max(1),
        }
    }
}

impl std::fmt::Display for MaxFailures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MaxFailures::Count(n) => write!(f, "{n}"),
            MaxFailures::Percent(p) => write!(f, "{p}%"),
        }
    }
}

impl Serialize for MaxFailures {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

impl<'de> Deserialize<'de> for MaxFailures {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        MaxFailures::parse(&text).map_err(serde::de::Error::custom)
    }
}

/// What a fleet run is: the log's first record, the control database's run row. `resume`
/// and `retry` read it back to do the same again. Made with [`RunSpec::new`] and its
/// builder methods.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunSpec {
    /// The run's name (given, or made from the time).
    pub run: String,
    /// `upgrade` or `downgrade`.
    pub direction: String,
    /// Where to (`head`, a revision, `base`…).
    pub target: String,
    /// False for a plan: nothing runs.
    pub apply: bool,
    /// Where the targets come from (passwords redacted).
    pub source: TargetSource,
    /// This worker's share of them, when the run is partitioned.
    pub partition: Option<Partition>,
    /// How many targets run first, alone; any failure among them stops the run.
    pub canary: usize,
    /// After how many failures no new target starts.
    pub max_failures: Option<MaxFailures>,
    /// The worker that wrote this.
    pub worker: String,
    /// When (RFC 3339, UTC).
    pub started_at: String,
}

impl RunSpec {
    /// A run named `name` (a file name: letters, digits, `._:-`; [`new_run_name`] makes one
    /// from the time) moving every target in `direction` to `target` (`head`, `base`, a
    /// revision…), its targets listed from `source` (written down with any password
    /// redacted).
    pub fn new(name: &str, direction: Direction, target: &str, source: &TargetSource) -> RunSpec {
        RunSpec {
            run: name.to_string(),
            direction: direction.name().to_string(),
            target: target.to_string(),
            apply: true,
            source: source.redacted(),
            partition: None,
            canary: 0,
            max_failures: None,
            worker: default_worker(),
            started_at: timestamp(),
        }
    }

    /// Only plan: read each target, run nothing.
    pub fn planned(mut self) -> RunSpec {
        self.apply = false;
        self
    }

    /// Run the first `n` targets first, alone.
    pub fn canary(mut self, n: usize) -> RunSpec {
        self.canary = n;
        self
    }

    /// Start no new target after this many failures.
    pub fn max_failures(mut self, limit: Option<MaxFailures>) -> RunSpec {
        self.max_failures = limit;
        self
    }

    /// Record that the targets are this worker's share.
    pub fn partition(mut self, partition: Option<Partition>) -> RunSpec {
        self.partition = partition;
        self
    }

    /// The same run, carried out again (a resume or retry): this worker, now, no canary
    /// (the first pass had it).
    pub fn again(mut self) -> RunSpec {
        self.worker = default_worker();
        self.started_at = timestamp();
        self.canary = 0;
        self
    }

    /// The run to carry out on each target.
    pub fn as_run(&self) -> Result<Run, FleetError> {
        let target = Target::parse(&self.target);
        let run = match self.direction.as_str() {
            "upgrade" => Run::upgrade(target),
            "downgrade" => Run::downgrade(target),
            other => {
                return Err(FleetError::Template(format!(
                    "run `{}` has an unknown direction `{other}`",
                    self.run
                )));
            }
        };
        Ok(if self.apply { run } else { run.planned() })
    }

    /// The run's direction.
    pub fn direction(&self) -> Direction {
        if self.direction == "downgrade" {
            Direction::Downgrade
        } else {
            Direction::Upgrade
        }
    }
}

/// Why a run stopped starting targets.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum Halt {
    /// A canary target failed.
    Canary {
        /// How many canary targets failed.
        failed: usize,
    },
    /// The failure limit was reached.
    MaxFailures {
        /// How many targets failed.
        failed: usize,
        /// The limit.
        limit: usize,
    },
    /// The operator interrupted the run (Ctrl-C).
    Interrupted,
}

impl std::fmt::Display for Halt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Halt::Canary { failed } => write!(
                f,
                "{failed} canary target{} failed: no other target was started",
                if *failed == 1 { "" } else { "s" }
            ),
            Halt::MaxFailures { failed, limit } => write!(
                f,
                "{failed} targets failed (the limit is {limit}): no new target was started"
            ),
            Halt::Interrupted => f.write_str("interrupted: no new target was started"),
        }
    }
}

/// What one pass over a fleet (a run, a resume, a retry) did.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Summary {
    /// The run.
    pub run: String,
    /// The targets this pass was to cover.
    pub total: usize,
    /// Targets where migrations ran.
    pub applied: usize,
    /// Targets with nothing to do.
    pub up_to_date: usize,
    /// Targets a plan found steps for.
    pub pending: usize,
    /// Targets that failed.
    pub failed: usize,
    /// Targets that could not be reached.
    pub unreachable: usize,
    /// Targets not started (the run halted).
    pub not_started: usize,
    /// Targets other workers finished (with a control database).
    pub by_other_workers: usize,
    /// Why it stopped starting targets, if it did.
    pub halted: Option<Halt>,
    /// How long it took.
    pub duration_ms: f64,
}

impl Summary {
    /// Whether every target this pass covered succeeded.
    pub fn ok(&self) -> bool {
        self.failed == 0 && self.unreachable == 0 && self.halted.is_none()
    }

    fn count(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Applied => self.applied += 1,
            Outcome::UpToDate => self.up_to_date += 1,
            Outcome::Pending => self.pending += 1,
            Outcome::Failed => self.failed += 1,
            Outcome::Unreachable => self.unreachable += 1,
        }
    }

    fn failures(&self) -> usize {
        self.failed + self.unreachable
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut parts = Vec::new();
        for (n, what) in [
            (self.applied, "migrated"),
            (self.up_to_date, "up to date"),
            (self.pending, "with pending migrations"),
            (self.failed, "failed"),
            (self.unreachable, "unreachable"),
            (self.not_started, "not started"),
            (self.by_other_workers, "done by other workers"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        if parts.is_empty() {
            parts.push("no targets".into());
        }
        write!(
            f,
            "run {}: {} of {} target{} in {:.1} s",
            self.run,
            parts.join(", "),
            self.total,
            if self.total == 1 { "" } else { "s" },
            self.duration_ms / 1000.0
        )?;
        if let Some(halt) = &self.halted {
            write!(f, "; {halt}")?;
        }
        Ok(())
    }
}

/// Where a run stands, for a live display.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// Targets this pass covers.
    pub total: usize,
    /// Finished (any outcome).
    pub finished: usize,
    /// Failed or unreachable.
    pub failed: usize,
    /// Running now.
    pub running: usize,
}

/// Receives a fleet run's progress (the per-target events of the runner are not passed on:
/// each attempt's outcome is).
pub trait FleetObserver: Send + Sync {
    /// A target started.
    fn started(&self, _target: &FleetTarget, _progress: &Progress) {}
    /// A target's attempt ended.
    fn finished(&self, _attempt: &Attempt, _progress: &Progress) {}
    /// The run stopped starting targets.
    fn halted(&self, _why: &Halt) {}
}

/// Observes nothing.
impl FleetObserver for () {}

/// A flag that stops a run from starting new targets (in-flight targets finish or roll back
/// as they would): set it from a Ctrl-C handler.
#[derive(Clone, Debug, Default)]
pub struct StopFlag(Arc<AtomicBool>);

impl StopFlag {
    /// Asks the run to start no new target.
    pub fn stop(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    fn stopped(&self) -> bool {
        self.0.load(Ordering::SeqCst)
    }
}

/// How a fleet run is carried out.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct FleetOptions {
    /// Targets in flight at once.
    pub jobs: usize,
    /// Targets in flight at once on one server (connections are the scarce resource).
    pub jobs_per_server: Option<usize>,
    /// How long a claimed target's lease lasts in the control database (renewed while it
    /// runs, every third of it).
    pub lease: Duration,
    /// This worker's name (in the log and the control database).
    pub worker: String,
}

impl Default for FleetOptions {
    fn default() -> Self {
        FleetOptions {
            jobs: 4,
            jobs_per_server: None,
            lease: Duration::from_secs(60),
            worker: default_worker(),
        }
    }
}

impl FleetOptions {
    /// `jobs` targets in flight at once.
    pub fn jobs(mut self, jobs: usize) -> Self {
        self.jobs = jobs.max(1);
        self
    }

    /// At most `jobs` on one server.
    pub fn jobs_per_server(mut self, jobs: Option<usize>) -> Self {
        self.jobs_per_server = jobs.map(|j| j.max(1));
        self
    }

    /// A lease of `lease` in the control database.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_secs(1));
        self
    }

    /// The worker's name.
    pub fn worker(mut self, worker: String) -> Self {
        self.worker = worker;
        self
    }
}

/// `host-pid`: unique among the workers of one run.
fn default_worker() -> String {
    let host = std::fs::read_to_string("/etc/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "worker".into());
    format!("{host}-{}", std::process::id())
}

/// The time now, RFC 3339 in UTC to the millisecond (as logs record it).
pub fn timestamp() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// A name for a new run: the time, to the millisecond (UTC), sortable.
pub fn new_run_name() -> String {
    chrono::Utc::now().format("%Y%m%dT%H%M%S%.3fZ").to_string()
}

/// Where targets are taken from: this worker's list, or the control database's queue.
pub enum Queue {
    /// This worker's list: every target, in order (after `--partition`, and less what a
    /// resumed run already finished), with the attempts each had before (from the log).
    Local {
        /// Earlier attempts per target name (empty for a new run).
        previous_attempts: BTreeMap<String, u32>,
    },
    /// A control database (PostgreSQL) shared with other workers.
    Control {
        /// Its URL.
        url: String,
        /// Put the run's failed targets back in the queue first (`retry --failed`).
        requeue_failed: bool,
    },
}

/// One database's migrations, ready to run on many targets.
pub struct Fleet {
    /// What each attempt needs, shared with the tasks that run them.
    shared: Arc<Shared>,
    options: FleetOptions,
}

/// The runner, the template and the migrations, loaded once; the connections that read
/// targets' histories, kept per database.
struct Shared {
    runner: Arc<Runner>,
    template: DatabaseConfig,
    migrations: Migrations,
    readers: crate::db::Readers,
}

impl Fleet {
    /// Builds (as the runner does), loads, verifies and compiles `template`'s migrations once
    /// for runs in `direction`. Each target is `template` with the target's URL: its trust
    /// policy, limits, capabilities and session setup apply to every target.
    pub async fn new(
        runner: Arc<Runner>,
        template: &DatabaseConfig,
        direction: Direction,
        options: FleetOptions,
    ) -> Result<Fleet, FleetError> {
        if template.migration_url.is_some() {
            return Err(FleetError::Template(format!(
                "database `{}` sets `migration_url`, one account for one database: a fleet's \
                 targets each carry their own credentials in their URLs",
                template.name
            )));
        }
        let migrations = runner.prepare(template, direction).await?;
        Ok(Fleet {
            shared: Arc::new(Shared {
                runner,
                template: template.clone(),
                migrations,
                readers: crate::db::Readers::default(),
            }),
            options,
        })
    }

    /// The options it runs with.
    pub fn options(&self) -> &FleetOptions {
        &self.options
    }

    /// Refuses `spec` when no target could carry it out (an upgrade to a target the
    /// migrations cannot reach even from an empty database: several heads and `head`, an
    /// unknown revision), before any target or log is touched. [`Fleet::run`] checks too.
    pub fn check(&self, spec: &RunSpec) -> Result<Run, FleetError> {
        let run = spec.as_run()?;
        if spec.direction() == Direction::Upgrade {
            let target = Target::parse(&spec.target);
            let nothing = std::collections::BTreeSet::new();
            crate::core::plan::upgrade(&self.shared.migrations.graph, &nothing, &target).map_err(
                |source| FleetError::Unreachable {
                    target: spec.target.clone(),
                    source,
                },
            )?;
        }
        Ok(run)
    }

    /// Carries out `spec` on `targets`: the canary first (any failure there stops the run),
    /// then the rest, `jobs` at a time (and `jobs_per_server` per server), starting no new
    /// target once the failure limit is reached or `stop` is set; every attempt goes to
    /// `log` (when given) and to the control database (with [`Queue::Control`]). A target
    /// that fails is recorded and the others go on. `Err` is a failure of the run itself
    /// (the log, the control database), never a target's.
    pub async fn run(
        &self,
        spec: &RunSpec,
        targets: &[FleetTarget],
        queue: Queue,
        mut log: Option<&mut RunLog>,
        observer: &dyn FleetObserver,
        stop: &StopFlag,
    ) -> Result<Summary, FleetError> {
        let started = Instant::now();
        let run = self.check(spec)?;
        let mut spec = spec.clone();
        spec.worker = self.options.worker.clone();
        let (mut board, spec) = Board::open(queue, &spec, targets, &self.options).await?;
        if let Some(log) = log.as_deref_mut() {
            log.append(&Record::Run(spec.clone()))?;
        }
        let mut tally = Tally {
            summary: Summary {
                run: spec.run.clone(),
                total: targets.len(),
                ..Summary::default()
            },
            per_server: BTreeMap::new(),
        };
        let by_name: BTreeMap<&str, &FleetTarget> =
            targets.iter().map(|t| (t.name.as_str(), t)).collect();
        let limit = spec.max_failures.map(|m| m.limit(targets.len()));
        let canary = spec.canary.min(targets.len());
        let mut running = FuturesUnordered::new();
        let mut halted: Option<Halt> = None;
        let mut renew = tokio::time::interval(self.options.lease / 3);
        renew.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if halted.is_none() && stop.stopped() {
                halted = Some(Halt::Interrupted);
            }
            if halted.is_none() {
                halted = board.halted(canary, limit, &tally.summary).await?;
                if let Some(h) = &halted {
                    observer.halted(h);
                }
            }
            let mut exhausted = false;
            while halted.is_none() && running.len() < self.options.jobs {
                let full = tally.full(self.options.jobs_per_server);
                match board.claim(&full, canary).await? {
                    Claim::Target(name, number) => {
                        // Claims come from this worker's own list.
                        let Some(&target) = by_name.get(name.as_str()) else {
                            continue;
                        };
                        tally.start(target);
                        observer.started(target, &tally.progress(running.len() + 1));
                        running.push(self.spawn(&spec, &run, target, number));
                    }
                    Claim::Wait => break,
                    Claim::Exhausted => {
                        exhausted = true;
                        break;
                    }
                }
            }
            if running.is_empty() {
                if halted.is_some() || exhausted {
                    break;
                }
                // Other workers hold the rest (or the canary is still running elsewhere).
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue;
            }
            tokio::select! {
                attempt = running.next() => {
                    let Some(joined) = attempt else { continue };
                    let (attempt, server) = joined_attempt(joined)?;
                    tally.end(&attempt, &server);
                    board.finish(&attempt).await?;
                    if let Some(log) = log.as_deref_mut() {
                        log.append(&Record::Attempt(attempt.clone()))?;
                    }
                    observer.finished(&attempt, &tally.progress(running.len()));
                }
                _ = renew.tick() => board.renew().await?,
            }
        }
        let mut summary = tally.summary;
        self.shared.readers.close().await;
        board.settle(&mut summary, canary).await?;
        summary.halted = halted;
        summary.duration_ms = started.elapsed().as_secs_f64() * 1000.0;
        board.close().await;
        if let Some(log) = log {
            log.append(&Record::Summary(summary.clone()))?;
        }
        Ok(summary)
    }
}

impl Fleet {
    /// Starts an attempt as a task of its own: on a multi-threaded runtime, targets use every
    /// core (a migration's wasm and Retort's checks are CPU work).
    fn spawn(
        &self,
        spec: &RunSpec,
        run: &Run,
        target: &FleetTarget,
        number: u32,
    ) -> tokio::task::JoinHandle<(Attempt, String)> {
        let shared = self.shared.clone();
        let (spec, run, target) = (spec.clone(), run.clone(), target.clone());
        let worker = self.options.worker.clone();
        tokio::spawn(async move { shared.attempt(&spec, &run, &target, number, worker).await })
    }
}

/// An attempt's task's result. A panic in an attempt is a bug: it surfaces as one.
fn joined_attempt(
    joined: Result<(Attempt, String), tokio::task::JoinError>,
) -> Result<(Attempt, String), FleetError> {
    match joined {
        Ok(done) => Ok(done),
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => Err(FleetError::Cancelled(e.to_string())),
    }
}

impl Shared {
    /// One attempt on `target`, with the server it took a slot of.
    async fn attempt(
        &self,
        spec: &RunSpec,
        run: &Run,
        target: &FleetTarget,
        number: u32,
        worker: String,
    ) -> (Attempt, String) {
        let mut db = self.template.clone();
        db.url = target.url.clone();
        db.name = target.name.clone();
        let started_at = timestamp();
        let clock = Instant::now();
        let result = self
            .runner
            .run_prepared(&db, &self.migrations, run, &self.readers)
            .await;
        let mut attempt = Attempt {
            run: spec.run.clone(),
            target: target.name.clone(),
            attempt: number,
            worker,
            started_at,
            duration_ms: 0.0,
            outcome: Outcome::UpToDate,
            from: Vec::new(),
            to: Vec::new(),
            revisions: Vec::new(),
            error_kind: None,
            error: None,
        };
        match result {
            Ok(moved) => {
                attempt.outcome = match (moved.report.steps.is_empty(), spec.apply) {
                    (true, _) => Outcome::UpToDate,
                    (false, true) => Outcome::Applied,
                    (false, false) => Outcome::Pending,
                };
                attempt.revisions = moved
                    .report
                    .steps
                    .iter()
                    .map(|s| s.revision.clone())
                    .collect();
                attempt.from = moved.from;
                attempt.to = moved.report.current;
            }
            Err(e) => {
                attempt.outcome = if e.unreachable() {
                    Outcome::Unreachable
                } else {
                    Outcome::Failed
                };
                attempt.error_kind = Some(e.kind().as_str().to_string());
                attempt.error = Some(e.full_message());
            }
        }
        attempt.duration_ms = clock.elapsed().as_secs_f64() * 1000.0;
        (attempt, target.server.clone())
    }
}

impl Summary {
    fn finished(&self) -> usize {
        self.applied + self.up_to_date + self.pending + self.failed + self.unreachable
    }
}

/// A run's counts as it goes: outcomes, and targets in flight per server.
struct Tally {
    summary: Summary,
    per_server: BTreeMap<String, usize>,
}

impl Tally {
    /// The servers at `max` targets in flight.
    fn full(&self, max: Option<usize>) -> Vec<String> {
        self.per_server
            .iter()
            .filter(|(_, n)| max.is_some_and(|max| **n >= max))
            .map(|(s, _)| s.clone())
            .collect()
    }

    fn start(&mut self, target: &FleetTarget) {
        *self.per_server.entry(target.server.clone()).or_default() += 1;
    }

    fn end(&mut self, attempt: &Attempt, server: &str) {
        if let Some(n) = self.per_server.get_mut(server) {
            *n = n.saturating_sub(1);
        }
        self.summary.count(attempt.outcome);
    }

    fn progress(&self, running: usize) -> Progress {
        Progress {
            total: self.summary.total,
            finished: self.summary.finished(),
            failed: self.summary.failures(),
            running,
        }
    }
}

/// What the queue hands out next.
enum Claim {
    /// This target, as this attempt number.
    Target(String, u32),
    /// Nothing now (servers at their limit, the canary still running elsewhere).
    Wait,
    /// Nothing left.
    Exhausted,
}

/// The queue a run takes targets from.
enum Board {
    Local {
        /// Targets not started yet, in order: name, attempt number, server.
        pending: VecDeque<(String, u32, String)>,
        /// Canary targets not finished yet.
        canary_left: usize,
        canary_failed: usize,
        canary_positions: std::collections::BTreeSet<String>,
    },
    Control(control::Control),
}

impl Board {
    async fn open(
        queue: Queue,
        spec: &RunSpec,
        targets: &[FleetTarget],
        options: &FleetOptions,
    ) -> Result<(Board, RunSpec), FleetError> {
        match queue {
            Queue::Local { previous_attempts } => {
                let canary = spec.canary.min(targets.len());
                let pending = targets
                    .iter()
                    .map(|t| {
                        let before = previous_attempts.get(&t.name).copied().unwrap_or(0);
                        (t.name.clone(), before + 1, t.server.clone())
                    })
                    .collect::<VecDeque<_>>();
                let canary_positions = targets[..canary].iter().map(|t| t.name.clone()).collect();
                Ok((
                    Board::Local {
                        pending,
                        canary_left: canary,
                        canary_failed: 0,
                        canary_positions,
                    },
                    spec.clone(),
                ))
            }
            Queue::Control {
                url,
                requeue_failed,
            } => {
                let (mut control, stored) =
                    control::Control::join(&url, spec, targets, options.lease).await?;
                if requeue_failed {
                    control.requeue_failed().await?;
                }
                Ok((Board::Control(control), stored))
            }
        }
    }

    async fn claim(&mut self, full: &[String], canary: usize) -> Result<Claim, FleetError> {
        match self {
            Board::Local {
                pending,
                canary_left,
                canary_positions,
                ..
            } => {
                if pending.is_empty() {
                    return Ok(Claim::Exhausted);
                }
                let in_canary = *canary_left > 0;
                let next = pending.iter().position(|(name, _, server)| {
                    (!in_canary || canary_positions.contains(name))
                        && !full.iter().any(|s| s == server)
                });
                Ok(match next.and_then(|i| pending.remove(i)) {
                    Some((name, n, _)) => Claim::Target(name, n),
                    None => Claim::Wait,
                })
            }
            Board::Control(control) => Ok(match control.claim(full, canary).await? {
                Some((name, n)) => Claim::Target(name, n),
                None => {
                    let state = control.state(canary).await?;
                    if state.queued == 0 && state.running == 0 && state.expired == 0 {
                        Claim::Exhausted
                    } else {
                        Claim::Wait
                    }
                }
            }),
        }
    }

    async fn finish(&mut self, attempt: &Attempt) -> Result<(), FleetError> {
        match self {
            Board::Local {
                canary_left,
                canary_failed,
                canary_positions,
                ..
            } => {
                if canary_positions.contains(&attempt.target) {
                    *canary_left = canary_left.saturating_sub(1);
                    if !attempt.outcome.succeeded() {
                        *canary_failed += 1;
                    }
                }
                Ok(())
            }
            Board::Control(control) => control.finish(attempt).await,
        }
    }

    /// Whether the run must stop starting targets: a canary failed, or the failures reached
    /// the limit (over every worker, with a control database).
    async fn halted(
        &mut self,
        canary: usize,
        limit: Option<usize>,
        summary: &Summary,
    ) -> Result<Option<Halt>, FleetError> {
        let (canary_failed, failed) = match self {
            Board::Local { canary_failed, .. } => (*canary_failed, summary.failures()),
            Board::Control(control) => {
                let state = control.recent_state(canary).await?;
                (state.canary_failed as usize, state.failed as usize)
            }
        };
        if canary_failed > 0 {
            return Ok(Some(Halt::Canary {
                failed: canary_failed,
            }));
        }
        Ok(limit
            .filter(|&limit| failed >= limit)
            .map(|limit| Halt::MaxFailures { failed, limit }))
    }

    /// Counts what this worker did not: not started, or finished by other workers.
    async fn settle(&mut self, summary: &mut Summary, canary: usize) -> Result<(), FleetError> {
        let mine = summary.finished();
        match self {
            Board::Local { .. } => {
                summary.not_started = summary.total.saturating_sub(mine);
            }
            Board::Control(control) => {
                let state = control.state(canary).await?;
                let left = (state.queued + state.expired) as usize;
                summary.not_started = left;
                summary.by_other_workers = summary.total.saturating_sub(mine + left);
            }
        }
        Ok(())
    }

    async fn renew(&mut self) -> Result<(), FleetError> {
        match self {
            Board::Local { .. } => Ok(()),
            Board::Control(control) => control.renew().await,
        }
    }

    async fn close(self) {
        if let Board::Control(control) = self {
            control.close().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn failure_limits() {
        assert_eq!(MaxFailures::parse("5").unwrap().limit(100), 5);
        assert_eq!(MaxFailures::parse("2%").unwrap().limit(1000), 20);
        assert_eq!(MaxFailures::parse("2.5%").unwrap().limit(100), 3);
        // A share of a small fleet still allows one failure before halting.
        assert_eq!(MaxFailures::parse("1%").unwrap().limit(10), 1);
        assert_eq!(MaxFailures::parse("0").unwrap().limit(10), 1);
        for bad in ["", "x", "-1", "150%", "5 %x"] {
            assert!(MaxFailures::parse(bad).is_err(), "{bad}");
        }
        let json = serde_json::to_string(&MaxFailures::Percent(2.5)).unwrap();
        assert_eq!(json, "\"2.5%\"");
        let back: MaxFailures = serde_json::from_str(&json).unwrap();
        assert_eq!(back, MaxFailures::Percent(2.5));
    }

    #[test]
    fn a_summary_says_what_happened_and_why_it_stopped() {
        let s = Summary {
            run: "r1".into(),
            total: 10,
            applied: 3,
            failed: 2,
            not_started: 5,
            halted: Some(Halt::MaxFailures {
                failed: 2,
                limit: 2,
            }),
            duration_ms: 1500.0,
            ..Summary::default()
        };
        assert_eq!(
            s.to_string(),
            "run r1: 3 migrated, 2 failed, 5 not started of 10 targets in 1.5 s; 2 targets \
             failed (the limit is 2): no new target was started"
        );
        assert!(!s.ok());
    }
}
