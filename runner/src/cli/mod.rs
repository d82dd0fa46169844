//! The command line: clap types and printing only. Migration logic lives in the library.
//!
//! Exit codes: 0 success, 1 a failure (bad input, failed migration, refused artifact,
//! unreachable database), 2 a usage error.

mod render;
mod signing;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand};

use crate::core::Direction;
use crate::core::observe::{Event, Level, Observer};
use crate::core::plan::Target;
use crate::project::{self as config, DatabaseConfig, Overrides};
use crate::run::{Migrations, ProjectOutcome, Report, RevisionState, Runner};

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
    #[arg(long, global = true, value_name = "MODE")]
    pub transaction: Option<config::TransactionMode>,
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
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Retort's commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Scaffold a new migration after the current head.
    New {
        /// What the migration does, e.g. "add email to users".
        description: String,
        /// The migration's language: rust (a crate), python, js, or sql (an up/down pair).
        #[arg(long, value_enum, default_value = "rust")]
        lang: crate::build::scaffold::Lang,
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
    },
    /// Show the database's current revision(s). Read-only.
    Current,
    /// Draw the revision graph with what is applied (`*`), pending (`o`) or unfinished (`!`).
    /// Read-only.
    History {
        /// Also list each applied revision's time, runner, duration, digest, signer and notes.
        #[arg(short, long)]
        verbose: bool,
    },
    /// List the heads of the revision graph. Read-only.
    Heads,
    /// List where the graph branches, and the branch labels. Read-only.
    Branches,
    /// Show one revision: parents, children, labels, dependencies, artifact. Read-only.
    Show {
        /// A revision id or unique prefix.
        revision: String,
    },
    /// Scaffold a migration that merges several heads.
    Merge {
        /// The revisions to merge (ids or unique prefixes).
        #[arg(required = true, num_args = 2..)]
        revisions: Vec<String>,
        /// What the merge is for.
        #[arg(short, long)]
        message: String,
    },
    /// Record TARGET as the current revision without running migrations (adopting a
    /// database migrated by other means; `stamp base` forgets everything).
    Stamp {
        /// Any upgrade or downgrade target.
        #[arg(allow_hyphen_values = true, required_unless_present = "adopt")]
        target: Option<String>,
        /// Adopt a database migrated by TOOL: read TOOL's history table and stamp the newest
        /// version it applied (after `retort import --from TOOL`).
        #[arg(long, value_name = "TOOL", conflicts_with = "target")]
        adopt: Option<crate::build::import::Tool>,
    },
    /// Convert another tool's migrations directory into SQL migrations of this project,
    /// chained after the current head.
    Import {
        /// The tool that wrote DIR.
        #[arg(long, value_name = "TOOL")]
        from: crate::build::import::Tool,
        /// Its migrations directory.
        dir: PathBuf,
    },
    /// Show every revision as applied or pending. Read-only.
    Status,
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
    /// Settle a migration an earlier run left unfinished (MySQL/MariaDB, or non-transactional).
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
    },
}

/// Prints progress to stderr.
struct StderrObserver {
    quiet: bool,
}

impl Observer for StderrObserver {
    fn event(&self, event: &Event<'_>) {
        let mut err = std::io::stderr().lock();
        let _ = match event {
            Event::StepStarted {
                database,
                revision,
                description,
                direction,
            } if !self.quiet => {
                writeln!(
                    err,
                    "[{database}] {} {revision}: {description}",
                    direction.name()
                )
            }
            Event::GuestLog {
                revision,
                level,
                message,
            } => {
                if self.quiet && matches!(level, Level::Debug | Level::Info) {
                    return;
                }
                let level = match level {
                    Level::Debug => "debug",
                    Level::Info => "info",
                    Level::Warn => "warn",
                    Level::Error => "error",
                };
                writeln!(err, "  [{revision}] {level}: {message}")
            }
            Event::StoredArtifact { database, revision } => writeln!(
                err,
                "[{database}] {revision} is not in the migrations directory: using the copy stored in the database"
            ),
            Event::GuestOutput {
                revision,
                stream,
                line,
            } => writeln!(err, "  [{revision}] {stream}: {line}"),
            Event::Progress {
                revision,
                done,
                total,
            } if !self.quiet => match total {
                Some(t) => writeln!(err, "  [{revision}] {done}/{t}"),
                None => writeln!(err, "  [{revision}] {done} done"),
            },
            _ => Ok(()),
        };
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn print_report(
    out: &mut impl Write,
    db: &DatabaseConfig,
    report: &Report,
    direction: Direction,
) -> std::io::Result<()> {
    let verb = match (report.dry_run, direction) {
        (true, Direction::Upgrade) => "would upgrade",
        (true, Direction::Downgrade) => "would downgrade",
        (false, Direction::Upgrade) => "upgraded",
        (false, Direction::Downgrade) => "downgraded",
    };
    let url = crate::db::redact(&db.url);
    if report.steps.is_empty() {
        writeln!(out, "{} ({url}): nothing to do", report.database)?;
    } else {
        let total: Duration = report.steps.iter().map(|s| s.duration).sum();
        let n = report.steps.len();
        let plural = if n == 1 { "" } else { "s" };
        if report.dry_run {
            writeln!(
                out,
                "{} ({url}): {verb} {n} migration{plural}:",
                report.database
            )?;
        } else {
            writeln!(
                out,
                "{} ({url}): {verb} {n} migration{plural} in {}",
                report.database,
                ms(total)
            )?;
        }
        for step in &report.steps {
            let arrow = if step.direction == Direction::Upgrade {
                "↑"
            } else {
                "↓"
            };
            if report.dry_run {
                writeln!(out, "  {arrow} {}  {}", step.revision, step.description)?;
            } else {
                writeln!(
                    out,
                    "  {arrow} {}  {:<50} {:>10}",
                    step.revision,
                    step.description,
                    ms(step.duration)
                )?;
            }
        }
    }
    if !report.dry_run {
        let at = if report.current.is_empty() {
            "base".to_string()
        } else {
            report.current.join(", ")
        };
        writeln!(out, "  now at {at}")?;
    }
    Ok(())
}

fn description(migrations: &Migrations, id: &str) -> String {
    migrations
        .get(id)
        .map(|a| a.info.description.clone())
        .unwrap_or_default()
}

fn labels_of(migrations: &Migrations, id: &str) -> String {
    match migrations.get(id) {
        Some(a) if !a.info.branch_labels.is_empty() => {
            format!(" [{}]", a.info.branch_labels.join(", "))
        }
        _ => String::new(),
    }
}

/// Prints every finished database's report, then, after a failure, which databases were
/// done, which failed and which were not touched, and returns the failure.
fn finish(
    out: &mut impl Write,
    dbs: &[DatabaseConfig],
    outcome: ProjectOutcome,
    direction: Direction,
) -> anyhow::Result<()> {
    for report in &outcome.reports {
        let db = dbs
            .iter()
            .find(|d| d.name == report.database)
            .expect("reports name selected databases");
        print_report(out, db, report, direction)?;
    }
    let Some((failed, error)) = outcome.failed else {
        return Ok(());
    };
    if dbs.len() > 1 {
        let mut err = std::io::stderr().lock();
        for report in &outcome.reports {
            writeln!(err, "{}: done", report.database)?;
        }
        writeln!(err, "{failed}: FAILED")?;
        for name in &outcome.untouched {
            writeln!(err, "{name}: untouched")?;
        }
    }
    Err(error.into())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    // A key belongs to no project: make it before reading one (whose trust list may name it).
    if let Command::Keygen { path, comment } = &cli.command {
        return crate::cli::signing::keygen(&mut std::io::stdout().lock(), path, comment);
    }
    let cwd = std::env::current_dir()?;
    let overrides = Overrides {
        config: cli.config.clone(),
        database_url: cli.database_url.clone(),
        databases: cli.databases.clone(),
        lock_timeout: cli.lock_timeout.map(Duration::from_secs),
        transaction: cli.transaction,
        trusted_keys: cli.trusted_keys.clone(),
        require_signatures: cli.require_signatures,
        bundle: cli.bundle.clone(),
    };
    let env = |name: &str| std::env::var(name).ok();
    let observer: Arc<dyn Observer> = Arc::new(StderrObserver { quiet: cli.quiet });
    let mut out = std::io::stdout().lock();

    // These need a migrations directory, not a database URL.
    let project = match &cli.command {
        Command::New { .. }
        | Command::Build { .. }
        | Command::Sign { .. }
        | Command::Verify { .. }
        | Command::Import { .. }
        | Command::Bundle { .. } => {
            let mut o = overrides.clone();
            o.database_url = Some(o.database_url.unwrap_or_else(|| "sqlite://unused".into()));
            config::resolve(&cwd, &o, &env).or_else(|_| config::resolve(&cwd, &overrides, &env))?
        }
        _ => config::resolve(&cwd, &overrides, &env)?,
    };

    match cli.command {
        Command::Keygen { .. } => {} // done above
        Command::Sign { key, artifacts } => {
            crate::cli::signing::sign(&mut out, &project, &key, &artifacts)?;
        }
        Command::Verify { artifacts } => {
            crate::cli::signing::verify(&mut out, &project, &artifacts)?;
        }
        Command::Bundle { output, key } => {
            let [db] = project.databases.as_slice() else {
                bail!("a bundle holds one database's migrations: choose one with -d NAME");
            };
            let key = key
                .map(|k| crate::trust::signing::read_private_key(&k))
                .transpose()
                .map_err(anyhow::Error::msg)?;
            let runner = Runner::new(observer, project.limits)?;
            let migrations = runner.load(db).await?;
            let ordered: Vec<_> = migrations
                .graph
                .order()
                .iter()
                .filter_map(|id| migrations.get(id))
                .map(|a| (a.bundle_entry(), a.bytes.as_slice()))
                .collect();
            let manifest = crate::trust::bundle::write(&output, &db.name, &ordered, key.as_ref())
                .map_err(anyhow::Error::msg)?;
            writeln!(
                out,
                "{}: bundled {} migration(s) into {}{}",
                db.name,
                manifest.migrations.len(),
                output.display(),
                match &key {
                    Some(k) => format!(
                        ", signed by {}",
                        crate::trust::signing::key_id(k.public_key().key_data())
                    ),
                    None => " (unsigned: pass --key to sign it)".into(),
                }
            )?;
            for m in &manifest.migrations {
                writeln!(
                    out,
                    "  {}  sha256 {}  {}",
                    m.id,
                    &m.digest[..16],
                    m.description
                )?;
            }
        }
        Command::Import { from, dir } => {
            let [db] = project.databases.as_slice() else {
                bail!("the project has several databases: choose one with -d NAME");
            };
            let report = crate::build::import::read_dir(from, &dir)?;
            if report.migrations.is_empty() {
                bail!("no {} migrations in {}", from.name(), dir.display());
            }
            let runner = Runner::new(observer, project.limits)?;
            let heads = if db.migrations.is_dir() {
                runner.load(db).await?.graph.heads()
            } else {
                Vec::new()
            };
            if heads.len() > 1 {
                bail!(
                    "the graph has several heads ({}); merge them first",
                    heads.join(", ")
                );
            }
            let written = crate::build::import::write(
                &db.migrations,
                &report.migrations,
                heads.first().map(String::as_str),
            )?;
            for (m, path) in report.migrations.iter().zip(&written) {
                writeln!(
                    out,
                    "imported {} -> {}{}",
                    m.sources
                        .iter()
                        .map(|s| s.display().to_string())
                        .collect::<Vec<_>>()
                        .join(" + "),
                    path.strip_prefix(&cwd).unwrap_or(path).display(),
                    if m.transactional {
                        ""
                    } else {
                        "  (no transaction)"
                    }
                )?;
            }
            for (path, why) in &report.skipped {
                writeln!(out, "skipped {}: {why}", path.display())?;
            }
            writeln!(
                out,
                "next: `retort build`, then `retort stamp --adopt {}` on a database {} already migrated",
                from.name(),
                from.name()
            )?;
        }
        Command::AcceptRebuild { revisions } => {
            let [db] = project.databases.as_slice() else {
                bail!("the project has several databases: choose one with -d NAME");
            };
            let runner = Runner::new(observer, project.limits)?;
            let accepted = runner.accept_rebuild(db, &revisions).await?;
            if accepted.is_empty() {
                writeln!(
                    out,
                    "{}: nothing to accept: the artifacts match history",
                    db.name
                )?;
            }
            for (id, old, new) in accepted {
                writeln!(
                    out,
                    "{}: {id}: accepted sha256 {new} (replaces {old}; noted in retort_history)",
                    db.name
                )?;
            }
        }
        Command::Build { force } => {
            for db in &project.databases {
                let built = crate::build::guest::build(
                    &db.migrations,
                    &project.root,
                    None,
                    cli.quiet,
                    force,
                )?;
                if built.is_empty() {
                    writeln!(
                        out,
                        "{}: no migration crates in {}",
                        db.name,
                        db.migrations.display()
                    )?;
                }
                for b in built {
                    writeln!(
                        out,
                        "{} {}  {:>7} bytes  sha256 {}",
                        if b.rebuilt { "built" } else { "unchanged" },
                        b.artifact
                            .strip_prefix(&cwd)
                            .unwrap_or(&b.artifact)
                            .display(),
                        b.size,
                        &b.digest[..16]
                    )?;
                }
            }
        }
        Command::New { description, lang } => {
            let [db] = project.databases.as_slice() else {
                bail!("the project has several databases: choose one with -d NAME");
            };
            let runner = Runner::new(observer, project.limits)?;
            let crates = if db.migrations.is_dir() {
                crate::build::guest::crates(&db.migrations)?
            } else {
                Vec::new()
            };
            let sql_stems: Vec<PathBuf> = crate::build::guest::sql_migrations(&db.migrations)?
                .into_iter()
                .map(|m| db.migrations.join(m.stem))
                .chain(
                    crate::build::guest::script_guests(&db.migrations)?
                        .into_iter()
                        .map(|g| db.migrations.join(g.stem)),
                )
                .collect();
            let unbuilt: Vec<_> = crates
                .iter()
                .map(|(dir, _)| dir.clone())
                .chain(sql_stems)
                .filter(|dir| !PathBuf::from(format!("{}.wasm", dir.display())).is_file())
                .map(|dir| dir.display().to_string())
                .collect();
            if !unbuilt.is_empty() {
                bail!(
                    "run `retort build` first: these migrations have no artifact yet, so their ids are unknown: {}",
                    unbuilt.join(", ")
                );
            }
            let migrations = runner.load(db).await?;
            let heads = migrations.graph.heads();
            if heads.len() > 1 {
                bail!(
                    "the graph has several heads ({}); merge them first",
                    heads.join(", ")
                );
            }
            let taken: Vec<String> = migrations
                .artifacts
                .iter()
                .map(|a| a.info.id.clone())
                .collect();
            use crate::build::scaffold::Lang;
            let made = match lang {
                Lang::Rust => {
                    crate::build::scaffold::scaffold(&db.migrations, &description, heads, &taken)
                }
                Lang::Sql => crate::build::scaffold::scaffold_sql(
                    &db.migrations,
                    &description,
                    heads,
                    &taken,
                ),
                Lang::Python | Lang::Js => crate::build::scaffold::scaffold_script(
                    &db.migrations,
                    lang,
                    &description,
                    heads,
                    &taken,
                ),
            }
            .with_context(|| {
                format!("cannot create the migration in {}", db.migrations.display())
            })?;
            writeln!(
                out,
                "created {} (revision {}, parent {})",
                made.dir.strip_prefix(&cwd).unwrap_or(&made.dir).display(),
                made.id,
                if made.parents.is_empty() {
                    "none: a root".to_string()
                } else {
                    made.parents.join(", ")
                }
            )?;
            let shown = made.dir.strip_prefix(&cwd).unwrap_or(&made.dir).display();
            match lang {
                Lang::Rust => writeln!(out, "edit {shown}/src/lib.rs, then run `retort build`")?,
                Lang::Sql => writeln!(
                    out,
                    "edit {shown} and its .down.sql, then run `retort build`"
                )?,
                Lang::Python | Lang::Js => writeln!(out, "edit {shown}, then run `retort build`")?,
            }
        }
        Command::Upgrade { target, dry_run } => {
            let runner = Runner::new(observer, project.limits)?;
            let target = Target::parse(target.as_deref().unwrap_or("head"));
            let outcome = runner
                .migrate_project(
                    &project.databases,
                    &project.others,
                    Direction::Upgrade,
                    &target,
                    dry_run,
                )
                .await?;
            finish(&mut out, &project.databases, outcome, Direction::Upgrade)?;
        }
        Command::Downgrade { target, dry_run } => {
            let runner = Runner::new(observer, project.limits)?;
            let target = Target::parse(&target);
            let outcome = runner
                .migrate_project(
                    &project.databases,
                    &project.others,
                    Direction::Downgrade,
                    &target,
                    dry_run,
                )
                .await?;
            finish(&mut out, &project.databases, outcome, Direction::Downgrade)?;
        }
        Command::Stamp { target, adopt } => {
            let runner = Runner::new(observer, project.limits)?;
            let [db] = project.databases.as_slice() else {
                bail!("the project has several databases: choose one with -d NAME");
            };
            let target = match (target, adopt) {
                (Some(t), _) => t,
                (None, Some(tool)) => {
                    let versions = runner.tool_versions(db, tool).await?;
                    let migrations = runner.load(db).await?;
                    let Some(last) = versions.last() else {
                        bail!(
                            "{} recorded no applied migration in this database",
                            tool.name()
                        );
                    };
                    if let Some(unknown) = versions.iter().find(|v| !migrations.graph.contains(v)) {
                        bail!(
                            "{} applied version {unknown}, which is not a revision here: run \
                             `retort import --from {}` on its directory and `retort build` first",
                            tool.name(),
                            tool.name()
                        );
                    }
                    writeln!(
                        out,
                        "{}: {} applied {} migration(s), the newest {last}",
                        db.name,
                        tool.name(),
                        versions.len()
                    )?;
                    last.clone()
                }
                (None, None) => bail!("name a target or --adopt TOOL"),
            };
            let report = runner.stamp(db, &Target::parse(&target)).await?;
            let at = if report.current.is_empty() {
                "base".to_string()
            } else {
                report.current.join(", ")
            };
            writeln!(
                out,
                "{}: stamped {} revision(s) without running them; now at {at}",
                db.name,
                report.steps.len()
            )?;
            for step in &report.steps {
                let verb = if step.direction == Direction::Upgrade {
                    "recorded"
                } else {
                    "forgot"
                };
                writeln!(out, "  {verb} {}  {}", step.revision, step.description)?;
            }
        }
        Command::Heads => {
            let runner = Runner::new(observer, project.limits)?;
            for db in &project.databases {
                let migrations = runner.load(db).await?;
                for head in migrations.graph.heads() {
                    writeln!(
                        out,
                        "{}: {head}{}  {}",
                        db.name,
                        labels_of(&migrations, &head),
                        description(&migrations, &head)
                    )?;
                }
            }
        }
        Command::Branches => {
            let runner = Runner::new(observer, project.limits)?;
            for db in &project.databases {
                let migrations = runner.load(db).await?;
                let points = migrations.graph.branch_points();
                if points.is_empty() {
                    writeln!(out, "{}: no branches", db.name)?;
                }
                for (id, children) in points {
                    writeln!(out, "{}: {id}  {}", db.name, description(&migrations, &id))?;
                    for child in children {
                        writeln!(
                            out,
                            "  -> {child}{}  {}",
                            labels_of(&migrations, &child),
                            description(&migrations, &child)
                        )?;
                    }
                }
                for (label, id) in migrations.graph.labels() {
                    writeln!(out, "{}: label {label} -> {id}", db.name)?;
                }
            }
        }
        Command::Show { revision } => {
            let runner = Runner::new(observer, project.limits)?;
            let mut found = false;
            for db in &project.databases {
                let migrations = runner.load(db).await?;
                let Ok(id) = crate::core::plan::resolve_revision(&migrations.graph, &revision)
                else {
                    continue;
                };
                found = true;
                let a = migrations.get(&id).expect("resolved ids have artifacts");
                let history = runner.history(db).await.unwrap_or_default();
                let state = history
                    .iter()
                    .find(|r| r.revision == id)
                    .map(|r| {
                        format!(
                            "{} at {} by {}; sha256 {}{}",
                            r.state.as_str(),
                            r.applied_at,
                            r.applied_by,
                            r.digest,
                            match &r.signer {
                                Some(k) => format!(", signed by {k}"),
                                None => String::new(),
                            }
                        )
                    })
                    .unwrap_or_else(|| "not applied".into());
                let list = |v: &[String]| {
                    if v.is_empty() {
                        "-".to_string()
                    } else {
                        v.join(", ")
                    }
                };
                let requires: Vec<String> = a
                    .info
                    .requires
                    .iter()
                    .map(|r| format!("{}@{}", r.database, r.revision))
                    .collect();
                writeln!(out, "revision:      {id}")?;
                writeln!(out, "database:      {}", db.name)?;
                writeln!(out, "description:   {}", a.info.description)?;
                writeln!(out, "parents:       {}", list(&a.info.parents))?;
                writeln!(
                    out,
                    "children:      {}",
                    list(&migrations.graph.children(&id))
                )?;
                writeln!(out, "branch labels: {}", list(&a.info.branch_labels))?;
                writeln!(out, "depends on:    {}", list(&a.info.depends_on))?;
                writeln!(out, "requires:      {}", list(&requires))?;
                writeln!(out, "transactional: {}", a.info.transactional)?;
                writeln!(
                    out,
                    "artifact:      {} ({} bytes)",
                    a.path.display(),
                    a.bytes.len()
                )?;
                writeln!(out, "sha256:        {}", a.digest)?;
                writeln!(out, "state:         {state}")?;
            }
            if !found {
                bail!(
                    "no revision matches `{revision}` (or the prefix is ambiguous: `retort history` lists them)"
                );
            }
        }
        Command::Merge { revisions, message } => {
            let [db] = project.databases.as_slice() else {
                bail!("the project has several databases: choose one with -d NAME");
            };
            let runner = Runner::new(observer, project.limits)?;
            let migrations = runner.load(db).await?;
            let parents = revisions
                .iter()
                .map(|r| crate::core::plan::resolve_revision(&migrations.graph, r))
                .collect::<Result<Vec<_>, _>>()?;
            let taken: Vec<String> = migrations
                .artifacts
                .iter()
                .map(|a| a.info.id.clone())
                .collect();
            let made = crate::build::scaffold::scaffold(&db.migrations, &message, parents, &taken)
                .with_context(|| {
                    format!("cannot create the migration in {}", db.migrations.display())
                })?;
            writeln!(
                out,
                "created merge {} (revision {}, parents {})",
                made.dir.strip_prefix(&cwd).unwrap_or(&made.dir).display(),
                made.id,
                made.parents.join(", ")
            )?;
        }
        Command::Current => {
            let runner = Runner::new(observer, project.limits)?;
            for db in &project.databases {
                let history = runner.history(db).await?;
                let applied = history
                    .iter()
                    .filter(|r| r.state == crate::db::RowState::Applied)
                    .map(|r| r.revision.clone())
                    .collect();
                let migrations = runner.load(db).await?;
                let mut tips = migrations.graph.tips(&applied);
                // Revisions applied but missing from the directory are current too.
                tips.extend(
                    applied
                        .iter()
                        .filter(|r| !migrations.graph.contains(r))
                        .cloned(),
                );
                if tips.is_empty() {
                    writeln!(out, "{}: base (nothing applied)", db.name)?;
                }
                for tip in tips {
                    let description = history
                        .iter()
                        .find(|r| r.revision == tip)
                        .map(|r| r.description.as_str())
                        .unwrap_or("");
                    let head = if migrations.graph.heads().contains(&tip) {
                        " (head)"
                    } else {
                        ""
                    };
                    writeln!(out, "{}: {tip}{head}  {description}", db.name)?;
                }
            }
        }
        Command::History { verbose } => {
            let runner = Runner::new(observer, project.limits)?;
            for db in &project.databases {
                let migrations = runner.load(db).await?;
                let history = runner.history(db).await?;
                writeln!(out, "{} ({}):", db.name, crate::db::redact(&db.url))?;
                let heads = migrations.graph.heads();
                for row in crate::cli::render::rows(&migrations.graph, |id| {
                    match history.iter().find(|r| r.revision == id) {
                        Some(r) if r.state == crate::db::RowState::Applied => '*',
                        Some(_) => '!',
                        None => 'o',
                    }
                }) {
                    match row.revision {
                        Some(id) => {
                            let head = if heads.contains(&id) { " (head)" } else { "" };
                            writeln!(
                                out,
                                "{} {id}{head}{}  {}",
                                row.lanes,
                                labels_of(&migrations, &id),
                                description(&migrations, &id)
                            )?;
                        }
                        None => writeln!(out, "{}", row.lanes)?,
                    }
                }
                for r in history
                    .iter()
                    .filter(|r| !migrations.graph.contains(&r.revision))
                {
                    writeln!(
                        out,
                        "? {}  {} (applied, but no artifact in {})",
                        r.revision,
                        r.description,
                        db.migrations.display()
                    )?;
                }
                if verbose {
                    writeln!(out, "applied (newest first):")?;
                    for r in history.iter().rev() {
                        writeln!(
                            out,
                            "  {}  {:<11} {}  {:>8} ms  {}",
                            r.revision,
                            r.state.as_str(),
                            r.applied_at,
                            r.duration_ms,
                            r.applied_by,
                        )?;
                        writeln!(
                            out,
                            "      sha256 {}  signed by {}",
                            r.digest,
                            r.signer.as_deref().unwrap_or("nobody (unsigned)")
                        )?;
                        for note in r.notes.iter().flat_map(|n| n.lines()) {
                            writeln!(out, "      note: {note}")?;
                        }
                    }
                }
            }
        }
        Command::Status => {
            let runner = Runner::new(observer, project.limits)?;
            let mut unfinished = Vec::new();
            for db in &project.databases {
                let lines = runner.status(db).await?;
                let pending = lines
                    .iter()
                    .filter(|l| l.state == RevisionState::Pending)
                    .count();
                writeln!(
                    out,
                    "{} ({}): {} applied, {pending} pending",
                    db.name,
                    crate::db::redact(&db.url),
                    lines
                        .iter()
                        .filter(|l| matches!(
                            l.state,
                            RevisionState::Applied | RevisionState::Changed(_)
                        ))
                        .count()
                )?;
                for l in &lines {
                    let state = match &l.state {
                        RevisionState::Applied => "applied".to_string(),
                        RevisionState::Pending => "pending".to_string(),
                        RevisionState::Changed(recorded) => format!(
                            "CHANGED since applied (applied sha256 {}…; see `retort accept-rebuild`)",
                            &recorded[..recorded.len().min(16)]
                        ),
                        RevisionState::AppliedWithoutArtifact => {
                            "applied (no artifact in the directory)".to_string()
                        }
                        RevisionState::Unfinished(s) => {
                            unfinished.push((db.name.clone(), l.revision.clone()));
                            format!("UNFINISHED ({})", s.as_str())
                        }
                    };
                    writeln!(out, "  {}  {:<10} {}", l.revision, state, l.description)?;
                    if let Some(journal) = &l.journal {
                        writeln!(out, "      statements it completed before it stopped:")?;
                        for entry in journal.lines() {
                            writeln!(out, "        {entry}")?;
                        }
                    }
                }
            }
            for (db, rev) in unfinished {
                writeln!(
                    out,
                    "\n{rev} in `{db}` did not finish: an earlier run stopped after statements that commit implicitly \
                     (listed above, if any). Inspect the schema, then run one of\n  \
                     retort -d {db} resolve {rev} --applied      # its changes are in place\n  \
                     retort -d {db} resolve {rev} --downgrade    # undo them with its downgrade\n  \
                     retort -d {db} resolve {rev} --rolled-back  # its changes are not there"
                )?;
            }
        }
        Command::Resolve {
            revision,
            applied,
            downgrade,
            ..
        } => {
            let runner = Runner::new(observer, project.limits)?;
            let [db] = project.databases.as_slice() else {
                bail!("the project has several databases: choose one with -d NAME");
            };
            let resolution = match (applied, downgrade) {
                (true, _) => crate::run::Resolution::Applied,
                (_, true) => crate::run::Resolution::Downgrade,
                _ => crate::run::Resolution::RolledBack,
            };
            let was = runner.resolve(db, &revision, resolution).await?;
            let now = match resolution {
                crate::run::Resolution::Applied => "applied",
                crate::run::Resolution::RolledBack => "not applied (row removed)",
                crate::run::Resolution::Downgrade => "compensated by its downgrade and not applied",
            };
            writeln!(
                out,
                "{}: {revision} was {}, now {now}",
                db.name,
                was.as_str()
            )?;
        }
    }
    Ok(())
}

/// Runs the command line and returns the process's exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}
