//! The command line's types: global options and one variant per command (clap derive).

use std::path::PathBuf;

use clap::builder::{PossibleValuesParser, TypedValueParser};
use clap::{Parser, Subcommand};

use retort::authoring::import::Tool;
use retort::authoring::scaffold::Lang;
use retort::project::TransactionMode;

/// A parser for one of a library enum's values by name: the library's enums do not depend
/// on clap, so the command line lists their names (`ALL`, `name`) itself.
fn one_of<T: Copy + Send + Sync + 'static>(
    all: &'static [T],
    name: fn(T) -> &'static str,
) -> impl TypedValueParser<Value = T> {
    PossibleValuesParser::new(all.iter().map(|t| name(*t))).map(move |chosen| {
        *all.iter()
            .find(|t| name(**t) == chosen)
            .expect("clap accepts only the listed names")
    })
}

/// Database migrations as sandboxed WebAssembly components.
#[derive(Debug, Parser)]
#[command(name = "retort", version, about, long_about = None)]
pub struct Cli {
    /// The project file (default: ./retort.toml, if present).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Database URL (sqlite://PATH, postgres://…, mysql://…) for a single-database project.
    #[arg(
        long,
        global = true,
        env = "DATABASE_URL",
        hide_env_values = true,
        value_name = "URL"
    )]
    pub database_url: Option<String>,
    /// Act on this database of the project only (repeatable).
    #[arg(short = 'd', long = "database", global = true, value_name = "NAME")]
    pub databases: Vec<String>,
    /// Seconds to wait for another runner's migration lock.
    #[arg(long, global = true, value_name = "SECONDS")]
    pub lock_timeout: Option<u64>,
    /// How to group migrations into transactions (PostgreSQL, SQLite): `per-migration`
    /// (default) or `single` (the whole run commits once).
    #[arg(long, global = true, value_name = "MODE",
          value_parser = one_of(&TransactionMode::ALL, TransactionMode::name))]
    pub transaction: Option<TransactionMode>,
    /// Trust this public key file (OpenSSH `ssh-ed25519 …` lines), besides `[trust] keys`
    /// (repeatable).
    #[arg(long = "trusted-key", global = true, value_name = "FILE")]
    pub trusted_keys: Vec<PathBuf>,
    /// Refuse any artifact not signed by a trusted key, whatever retort.toml says.
    #[arg(long, global = true)]
    pub require_signatures: bool,
    /// Take the migrations from this bundle (made by `retort bundle`) instead of the
    /// migrations directory.
    #[arg(long, global = true, value_name = "FILE")]
    pub bundle: Option<PathBuf>,
    /// Print less on stderr.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Print more: a trapped migration's wasm backtrace; with `history`, each applied
    /// revision's details.
    #[arg(short, long, global = true)]
    pub verbose: bool,
    /// Print results as JSON on stdout (one document per command; see docs/json.md).
    #[arg(long, global = true)]
    pub json: bool,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// An engine, for `lint --engine`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LintEngine {
    /// PostgreSQL.
    Postgres,
    /// MySQL or MariaDB.
    Mysql,
    /// SQLite.
    Sqlite,
}

/// Retort's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Start a project here: retort.toml (one database), the migrations directory, and
    /// .gitignore lines for build output and SQLite files.
    Init {
        /// The database URL written to retort.toml (DATABASE_URL or --database-url still
        /// override it).
        #[arg(long, default_value = "sqlite://app.db", value_name = "URL")]
        url: String,
        /// The migrations directory, relative to retort.toml.
        #[arg(long, default_value = "migrations", value_name = "DIR")]
        migrations: PathBuf,
        /// The language `retort new` scaffolds in (recorded as `language` in retort.toml):
        /// sql (needs no toolchain), python, js or rust.
        #[arg(long, default_value = "sql", value_parser = one_of(&Lang::ALL, Lang::name))]
        lang: Lang,
    },
    /// Scaffold a new migration after the current head.
    New {
        /// What the migration does, e.g. "add email to users".
        description: String,
        /// The migration's language: sql (an up/down pair), python, js, or rust (a crate).
        /// Default: the database's `language` in retort.toml, else the newest migration's,
        /// else sql.
        #[arg(long, value_parser = one_of(&Lang::ALL, Lang::name))]
        lang: Option<Lang>,
        /// Write a SQL migration (and its downgrade) from the migrations' schema at head to
        /// the declared one (`schema = …` in retort.toml).
        #[arg(long)]
        autogenerate: bool,
        /// With --autogenerate: also write the drops the declared schema implies.
        #[arg(long, requires = "autogenerate")]
        allow_destructive: bool,
    },
    /// Compare the declared schema (`schema = …`) with the migrations' schema at head (or
    /// the database itself, `--against database`), by catalog, on scratch databases.
    Diff {
        /// `head` (the schema the migrations make, rehearsed on a scratch database), a
        /// revision (the schema up to it), or `database` (the database itself, read-only).
        #[arg(long, default_value = "head", value_name = "head|REV|database")]
        against: String,
        /// Make the scratch databases on this server.
        #[arg(long, value_name = "URL")]
        scratch_url: Option<String>,
        /// Exit with 3 when there is a difference.
        #[arg(long)]
        exit_code: bool,
    },
    /// Compile every migration crate whose sources changed to a component (wasm32-wasip2).
    Build {
        /// Rebuild every artifact, even those whose sources did not change (their digests may
        /// change: applied ones then need `retort accept-rebuild`).
        #[arg(long)]
        force: bool,
    },
    /// Apply migrations up to TARGET (default: head).
    Upgrade {
        /// `head`, `heads`, a revision (or unique prefix), `+N`, `REV+N`, `LABEL@head`,
        /// `LABEL@+N`.
        #[arg(allow_hyphen_values = true)]
        target: Option<String>,
        /// Print the plan without running it.
        #[arg(long)]
        dry_run: bool,
        /// Print the SQL the upgrade would send, with Retort's bookkeeping, without touching
        /// the database (rehearsed on a scratch database of the same engine).
        #[arg(long, conflicts_with = "dry_run")]
        sql: bool,
        /// With --sql: make the scratch database on this server (default: beside the
        /// database).
        #[arg(long, value_name = "URL", requires = "sql")]
        scratch_url: Option<String>,
    },
    /// Revert migrations down to TARGET.
    Downgrade {
        /// `base` (revert everything), a revision (or unique prefix) to keep, `-N`, `REV-N`,
        /// `LABEL@base`, `LABEL@-N`.
        #[arg(allow_hyphen_values = true)]
        target: String,
        /// Print the plan without running it.
        #[arg(long)]
        dry_run: bool,
        /// Print the SQL the downgrade would send, without touching the database.
        #[arg(long, conflicts_with = "dry_run")]
        sql: bool,
        /// With --sql: make the scratch database on this server.
        #[arg(long, value_name = "URL", requires = "sql")]
        scratch_url: Option<String>,
    },
    /// Show the database's current revision(s). Read-only.
    Current,
    /// Draw the revision graph with what is applied (`*`), pending (`o`) or unfinished (`!`);
    /// with `-v`, each applied revision's time, runner, duration, digest, signer and notes.
    /// Read-only.
    History,
    /// List the heads of the revision graph. Read-only.
    Heads,
    /// List where the graph branches, and the branch labels. Read-only.
    Branches,
    /// Show one revision: parents, children, labels, dependencies, artifact. Read-only.
    Show {
        /// A revision id or unique prefix.
        revision: String,
        /// Write the artifact that was applied (from the database's `retort_artifacts`,
        /// checked against its recorded digest) to `-o FILE`, even when its source is gone.
        #[arg(long, requires = "output")]
        artifact: bool,
        /// Where `--artifact` writes.
        #[arg(short, long, value_name = "FILE", requires = "artifact")]
        output: Option<PathBuf>,
    },
    /// Scaffold a migration that merges several heads (`merge heads` merges them all).
    Merge {
        /// The revisions to merge (ids or unique prefixes), or `heads`.
        #[arg(required = true, num_args = 1..)]
        revisions: Vec<String>,
        /// What the merge is for.
        #[arg(short, long)]
        message: String,
        /// The merge's language (default: that of the newest migration).
        #[arg(long, value_parser = one_of(&Lang::ALL, Lang::name))]
        lang: Option<Lang>,
    },
    /// Record TARGET as the current revision without running migrations (adopting a
    /// database migrated by other means; `stamp base` forgets everything).
    Stamp {
        /// Any upgrade or downgrade target.
        #[arg(allow_hyphen_values = true, required_unless_present = "adopt")]
        target: Option<String>,
        /// Adopt a database migrated by TOOL: read TOOL's history table and stamp the newest
        /// version it applied (after `retort import --from TOOL`).
        #[arg(long, value_name = "TOOL", conflicts_with = "target",
              value_parser = one_of(&Tool::ALL, Tool::name))]
        adopt: Option<Tool>,
    },
    /// Convert another tool's migrations directory into SQL migrations of this project,
    /// chained after the current head.
    Import {
        /// The tool that wrote DIR.
        #[arg(long, value_name = "TOOL", value_parser = one_of(&Tool::ALL, Tool::name))]
        from: Tool,
        /// Its migrations directory.
        dir: PathBuf,
        /// Alembic only: the schema the history starts from (a dump of what
        /// `metadata.create_all()` made), written as a SQL migration that becomes the
        /// history's root.
        #[arg(long, value_name = "FILE")]
        baseline: Option<PathBuf>,
    },
    /// Show every revision as applied or pending. Read-only.
    Status {
        /// Exit with 3 when a revision is pending, 4 when one is unfinished or changed since
        /// it was applied (for scripts and CI).
        #[arg(long)]
        exit_code: bool,
    },
    /// Lint the SQL migrations' upgrades: destructive changes, table rewrites and locks,
    /// statements that fail where they stand. Exit code 64 on a finding not acknowledged in
    /// the file (`-- retort: allow RULE` in the statement, `-- retort: allow = RULE` in the
    /// header, or in `<migrations>/lint-baseline.toml`). `check` lints code migrations too,
    /// from what they send.
    Lint {
        /// Lint for this engine (default: the database URL's).
        #[arg(long, value_enum)]
        engine: Option<LintEngine>,
        /// Acknowledge every current finding in `<migrations>/lint-baseline.toml` (outside
        /// the migrations, whose digests must not change once applied), then exit 0.
        #[arg(long)]
        write_baseline: bool,
    },
    /// The CI gate: one head, every artifact built, fresh and trusted, the databases'
    /// applied revisions unchanged, and every migration round-tripped (upgrade, downgrade
    /// back to the schema before it, upgrade again) on a scratch database. Exit code: the
    /// sum of 4 (heads), 8 (artifacts), 16 (target database), 32 (round trip), 64 (lint);
    /// 1 when the check could not run.
    Check {
        /// Do not connect to the project's databases (skip comparing their history).
        #[arg(long)]
        offline: bool,
        /// Skip the round trip.
        #[arg(long)]
        no_round_trip: bool,
        /// Make scratch databases on this server instead of the database's own (a URL of the
        /// same engine whose account may create databases; SQLite's are temporary files).
        #[arg(long, value_name = "URL")]
        scratch_url: Option<String>,
    },
    /// Make an Ed25519 signing key: PATH (private, mode 600) and PATH.pub (public, for
    /// `[trust] keys`). The same format as `ssh-keygen -t ed25519`.
    Keygen {
        /// Where to write the private key.
        path: PathBuf,
        /// A name for the key, stored in the public key (e.g. release@example.com).
        #[arg(long, default_value = "retort-release")]
        comment: String,
    },
    /// Sign artifacts with a private key (the signature goes inside the file; its digest
    /// does not change). Default: every artifact of the selected databases.
    Sign {
        /// The private key (from `retort keygen` or `ssh-keygen -t ed25519`).
        #[arg(long, value_name = "FILE")]
        key: PathBuf,
        /// Artifacts to sign.
        artifacts: Vec<PathBuf>,
    },
    /// Check artifacts' signatures against the trusted keys, without a database. Default:
    /// every artifact of the selected databases, under each database's policy.
    Verify {
        /// Artifacts to check (then a signature by a trusted key is required).
        artifacts: Vec<PathBuf>,
    },
    /// Pack one database's migrations into one file (a tar with a manifest), signed with
    /// `--key`, for `retort --bundle FILE upgrade` on a host without the source.
    Bundle {
        /// The bundle to write.
        #[arg(short, long, value_name = "FILE")]
        output: PathBuf,
        /// Sign the bundle and every artifact in it with this private key.
        #[arg(long, value_name = "FILE")]
        key: Option<PathBuf>,
    },
    /// Accept a deliberate rebuild of applied migrations: record the digest of the artifact
    /// now in the directory (logged in the history row's notes).
    AcceptRebuild {
        /// The applied revisions whose new artifact to accept.
        #[arg(required = true)]
        revisions: Vec<String>,
    },
    /// Settle a migration an earlier run left unfinished (MySQL/MariaDB, or non-transactional);
    /// --applied and --rolled-back are checked against the schema first.
    #[command(group = clap::ArgGroup::new("resolution").required(true))]
    Resolve {
        /// The unfinished revision.
        revision: String,
        /// Its changes are in the database: mark it applied.
        #[arg(long, group = "resolution")]
        applied: bool,
        /// Its changes are not in the database: forget it.
        #[arg(long, group = "resolution")]
        rolled_back: bool,
        /// Compensate: run its downgrade, then forget it.
        #[arg(long, group = "resolution")]
        downgrade: bool,
        /// Record --applied or --rolled-back without checking the schema (which rehearses
        /// the migration on a scratch database and compares the objects it changes).
        #[arg(long)]
        force: bool,
        /// Rehearse on a scratch database made on this server (default: beside the
        /// database).
        #[arg(long, value_name = "URL", conflicts_with = "force")]
        scratch_url: Option<String>,
    },
    /// Run this database's migrations on many databases (a database or schema per tenant):
    /// concurrently, with a canary, a failure limit and a run log to resume from
    /// (docs/fleet.md).
    Fleet {
        /// What to do on every target.
        #[command(subcommand)]
        command: Box<FleetCommand>,
    },
}

/// `retort fleet …`.
#[derive(Debug, Subcommand)]
pub enum FleetCommand {
    /// Upgrade every target (to head, or TARGET).
    Upgrade {
        /// Where to go (default: head).
        target: Option<String>,
        #[command(flatten)]
        targets: TargetArgs,
        #[command(flatten)]
        run: FleetRunArgs,
    },
    /// Downgrade every target to TARGET (`base` reverts everything).
    Downgrade {
        /// Where to go.
        target: String,
        #[command(flatten)]
        targets: TargetArgs,
        #[command(flatten)]
        run: FleetRunArgs,
    },
    /// What an upgrade would run on each target. Read-only.
    Plan {
        /// Where to go (default: head).
        target: Option<String>,
        #[command(flatten)]
        targets: TargetArgs,
        #[command(flatten)]
        jobs: JobArgs,
    },
    /// Which targets have pending migrations: one read of each target's history. Read-only.
    Status {
        #[command(flatten)]
        targets: TargetArgs,
        #[command(flatten)]
        jobs: JobArgs,
    },
    /// Finish a run that stopped (killed, interrupted, halted): the targets its log does
    /// not record as finished.
    Resume {
        /// The run (its log is LOG_DIR/RUN.jsonl).
        #[arg(value_name = "RUN")]
        name: String,
        #[command(flatten)]
        targets: OptionalTargetArgs,
        #[command(flatten)]
        run: FleetRunArgs,
    },
    /// Run a run's failed and unreachable targets again.
    Retry {
        /// Retry the targets whose last attempt failed (the only kind of retry there is;
        /// the flag says so where the command is written down).
        #[arg(long, required = true)]
        failed: bool,
        /// The run.
        #[arg(value_name = "RUN")]
        name: String,
        #[command(flatten)]
        targets: OptionalTargetArgs,
        #[command(flatten)]
        run: FleetRunArgs,
    },
}

/// Where a fleet's targets come from: exactly one source.
#[derive(Debug, clap::Args)]
#[group(required = true, multiple = false)]
pub struct TargetArgs {
    /// A file of URLs (one per line, `#` comments), or a glob of SQLite files
    /// (`tenants/*.db`).
    #[arg(long, value_name = "FILE|GLOB")]
    pub targets: Option<String>,
    /// A command (run with `sh -c`) that prints the URLs.
    #[arg(long, value_name = "COMMAND")]
    pub targets_cmd: Option<String>,
    /// A query on a database whose rows' first column is a target URL.
    #[arg(long, num_args = 2, value_names = ["URL", "QUERY"])]
    pub targets_sql: Option<Vec<String>>,
}

/// The same, optional (`resume`/`retry` read the run's source from its log).
#[derive(Debug, clap::Args)]
#[group(required = false, multiple = false)]
pub struct OptionalTargetArgs {
    /// A file of URLs, or a glob of SQLite files, instead of the run's recorded source.
    #[arg(long, value_name = "FILE|GLOB")]
    pub targets: Option<String>,
    /// A command printing the URLs, instead of the run's recorded source.
    #[arg(long, value_name = "COMMAND")]
    pub targets_cmd: Option<String>,
    /// A query returning the URLs, instead of the run's recorded source.
    #[arg(long, num_args = 2, value_names = ["URL", "QUERY"])]
    pub targets_sql: Option<Vec<String>>,
}

/// Concurrency.
#[derive(Debug, clap::Args)]
pub struct JobArgs {
    /// Targets in flight at once.
    #[arg(long, short = 'j', default_value_t = 4, value_name = "N")]
    pub jobs: usize,
    /// Targets in flight at once on one database server (connections are the scarce
    /// resource). Default: --jobs.
    #[arg(long, value_name = "N")]
    pub jobs_per_server: Option<usize>,
    /// Only this worker's share of the targets: K of N workers (1-based), each target
    /// assigned by a hash of its URL (a CI matrix, a Kubernetes Indexed Job).
    #[arg(long, value_name = "K/N")]
    pub partition: Option<String>,
}

/// How a fleet run goes, and where it is recorded.
#[derive(Debug, clap::Args)]
pub struct FleetRunArgs {
    #[command(flatten)]
    pub jobs: JobArgs,
    /// Run the first N targets first, alone; if any fails, start no other.
    #[arg(long, default_value_t = 0, value_name = "N")]
    pub canary: usize,
    /// Start no new target once this many have failed: a count (5) or a share of the
    /// targets (2%). In-flight targets finish or roll back.
    #[arg(long, value_name = "N|P%")]
    pub max_failures: Option<String>,
    /// The run's name (default: the time). Workers sharing a control database join the
    /// run of this name.
    #[arg(long = "run", value_name = "NAME")]
    pub run_name: Option<String>,
    /// A PostgreSQL database coordinating workers on several machines: they claim targets
    /// from a queue there, with leases, and record every attempt there.
    #[arg(long, value_name = "URL", conflicts_with = "partition")]
    pub control: Option<String>,
    /// Seconds a claimed target's lease lasts (renewed while it runs).
    #[arg(long, default_value_t = 60, value_name = "SECONDS")]
    pub lease: u64,
    /// This worker's name (default: host-pid).
    #[arg(long, value_name = "NAME")]
    pub worker: Option<String>,
    /// Where run logs go (RUN.jsonl).
    #[arg(long, default_value = ".retort/fleet", value_name = "DIR")]
    pub log_dir: PathBuf,
    /// Also write a JUnit XML report here (a test case per target) for CI.
    #[arg(long, value_name = "FILE")]
    pub junit: Option<PathBuf>,
}
