//! `retort`, the command line: a thin client of the `retort` library. clap types
//! (`args.rs`), one file per command group, and printing; no migration logic lives here.
//!
//! Exit codes: 0 success, 1 a failure (bad input, failed migration, refused artifact,
//! unreachable database), 2 a usage error (clap's).

mod args;
mod author;
mod check;
mod diff;
mod fleet;
mod inspect;
mod json;
mod migrate;
mod offline;
mod print;
mod progress;
mod render;
mod signing;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::bail;
use clap::Parser;

use args::{Cli, Command};

use retort::core::Direction;
use retort::core::observe::Observer;
use retort::project::{self, DatabaseConfig, Overrides, Project};
use retort::run::Runner;

/// Rehearsals on scratch databases made beside each database, or on `--scratch-url`.
fn rehearsal<'r>(runner: &'r retort::Runner, scratch_url: Option<&str>) -> retort::Rehearsal<'r> {
    match scratch_url {
        Some(url) => runner.rehearsal().on_server(url),
        None => runner.rehearsal(),
    }
}

/// What every command works with: the resolved project and how to report.
struct Ctx {
    cwd: PathBuf,
    project: Project,
    observer: Arc<dyn Observer>,
    quiet: bool,
    json: bool,
    verbose: bool,
}

/// A command's verdict as an exit code, after it printed its results (`check`, `status
/// --exit-code`): not an error message.
#[derive(Debug)]
struct Exit(u8);

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "exit code {}", self.0)
    }
}

impl std::error::Error for Exit {}

impl Ctx {
    /// The runner (its wasm engine) for this project's limits.
    #[allow(clippy::needless_question_mark)] // converts the library error to anyhow
    fn runner(&self) -> anyhow::Result<Runner> {
        Ok(Runner::new(self.observer.clone(), self.project.limits)?.building_sources(true))
    }

    /// The one selected database, for commands that act on one.
    fn one_database(&self) -> anyhow::Result<&DatabaseConfig> {
        match self.project.databases.as_slice() {
            [db] => Ok(db),
            _ => bail!("the project has several databases: choose one with -d NAME"),
        }
    }

    /// `path` relative to the working directory, for messages.
    fn shown<'a>(&self, path: &'a Path) -> std::path::Display<'a> {
        path.strip_prefix(&self.cwd).unwrap_or(path).display()
    }
}

/// Commands that need a migrations directory but no database.
fn offline(command: &Command) -> bool {
    matches!(
        command,
        Command::New {
            autogenerate: false,
            ..
        } | Command::Build { .. }
            | Command::Sign { .. }
            | Command::Verify { .. }
            | Command::Import { .. }
            | Command::Bundle { .. }
            | Command::Fleet { .. }
            | Command::Lint {
                engine: Some(_),
                ..
            }
    )
}

/// Commands whose `--json` output is a stream of events (JSON Lines).
fn streams_events(command: &Command) -> bool {
    matches!(
        command,
        Command::Upgrade { sql: false, .. } | Command::Downgrade { sql: false, .. }
    )
}

fn overrides(cli: &Cli) -> Overrides {
    Overrides {
        config: cli.config.clone(),
        database_url: cli.database_url.clone(),
        databases: cli.databases.clone(),
        lock_timeout: cli.lock_timeout.map(Duration::from_secs),
        transaction: cli.transaction,
        trusted_keys: cli.trusted_keys.clone(),
        require_signatures: cli.require_signatures,
        bundle: cli.bundle.clone(),
        offline: offline(&cli.command),
        // Problems name this binary's flags.
        names: project::OverrideNames {
            database_url: "--database-url/DATABASE_URL",
            choose_one: "choose one with -d NAME",
            bundle: "--bundle",
            trust_a_key: "pass --trusted-key FILE",
            give_a_url: "pass --database-url, set DATABASE_URL",
        },
    }
}

/// Commands with a `--json` form (docs/json.md).
fn speaks_json(command: &Command) -> bool {
    matches!(
        command,
        Command::Status { .. }
            | Command::Current
            | Command::History
            | Command::Heads
            | Command::Branches
            | Command::Show {
                artifact: false,
                ..
            }
            | Command::Check { .. }
            | Command::Lint { .. }
            | Command::Diff { .. }
            | Command::Upgrade { .. }
            | Command::Downgrade { .. }
            | Command::Fleet { .. }
    )
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    if cli.json && !speaks_json(&cli.command) {
        // Text where JSON was asked for would break the consumer: refuse, as a usage error.
        clap::Command::new("retort")
            .error(
                clap::error::ErrorKind::ArgumentConflict,
                "--json is not supported by this command (docs/json.md lists those that have it)",
            )
            .exit();
    }
    let mut out = std::io::stdout().lock();
    // A key belongs to no project: make it before reading one (whose trust list may name it).
    if let Command::Keygen { path, comment } = &cli.command {
        return signing::keygen(&mut out, path, comment);
    }
    let cwd = std::env::current_dir()?;
    if let Command::Init {
        url,
        migrations,
        lang,
    } = &cli.command
    {
        let config = cli
            .config
            .clone()
            .unwrap_or_else(|| cwd.join("retort.toml"));
        return author::init(&mut out, &config, url, migrations, *lang);
    }
    let env = |name: &str| std::env::var(name).ok();
    let project = project::read(&cwd, &overrides(&cli), &env)?;
    let ctx = Ctx {
        cwd,
        project,
        observer: if cli.json && streams_events(&cli.command) {
            Arc::new(json::JsonObserver)
        } else {
            progress::observer(cli.quiet, cli.verbose)
        },
        quiet: cli.quiet,
        json: cli.json,
        verbose: cli.verbose,
    };
    dispatch(&ctx, &mut out, cli.command).await
}

/// Runs one command of a resolved project.
async fn dispatch(
    ctx: &Ctx,
    out: &mut impl std::io::Write,
    command: Command,
) -> anyhow::Result<()> {
    match command {
        Command::Keygen { .. } | Command::Init { .. } => Ok(()), // done above
        Command::Sign { key, artifacts } => signing::sign(out, &ctx.project, &key, &artifacts),
        Command::Verify { artifacts } => signing::verify(out, &ctx.project, &artifacts),
        Command::Bundle { output, key } => signing::bundle(ctx, out, output, key).await,
        Command::New {
            description,
            lang,
            autogenerate,
            allow_destructive,
        } => {
            let generate = autogenerate.then_some(allow_destructive);
            author::new(ctx, out, description, lang, generate).await
        }
        Command::Diff {
            against,
            scratch_url,
            exit_code,
        } => {
            let against = match against.as_str() {
                "head" => retort::run::Against::Head,
                "database" => retort::run::Against::Database,
                revision => retort::run::Against::Revision(revision.to_string()),
            };
            diff::diff(ctx, out, against, scratch_url, exit_code).await
        }
        Command::Merge {
            revisions,
            message,
            lang,
        } => author::merge(ctx, out, revisions, message, lang).await,
        Command::Build { force } => author::build(ctx, out, force),
        Command::Import {
            from,
            dir,
            baseline,
        } => author::import(ctx, out, from, dir, baseline).await,
        Command::Upgrade {
            target,
            sql: true,
            scratch_url,
            ..
        } => {
            let target = target.as_deref().unwrap_or("head");
            offline::sql(ctx, out, Direction::Upgrade, target, scratch_url).await
        }
        Command::Downgrade {
            target,
            sql: true,
            scratch_url,
            ..
        } => offline::sql(ctx, out, Direction::Downgrade, &target, scratch_url).await,
        Command::Upgrade {
            target, dry_run, ..
        } => {
            let target = target.as_deref().unwrap_or("head");
            migrate::migrate(ctx, out, Direction::Upgrade, target, dry_run).await
        }
        Command::Downgrade {
            target, dry_run, ..
        } => migrate::migrate(ctx, out, Direction::Downgrade, &target, dry_run).await,
        Command::Stamp { target, adopt } => migrate::stamp(ctx, out, target, adopt).await,
        Command::Resolve {
            revision,
            applied,
            downgrade,
            force,
            scratch_url,
            ..
        } => {
            let check = (force, scratch_url);
            migrate::resolve(ctx, out, revision, (applied, downgrade), check).await
        }
        Command::AcceptRebuild { revisions } => migrate::accept_rebuild(ctx, out, revisions).await,
        Command::Current => inspect::current(ctx, out).await,
        Command::History => inspect::history(ctx, out, ctx.verbose).await,
        Command::Heads => inspect::heads(ctx, out).await,
        Command::Branches => inspect::branches(ctx, out).await,
        Command::Show {
            revision,
            artifact: true,
            output: Some(file),
        } => inspect::extract(ctx, out, revision, &file).await,
        Command::Show { revision, .. } => inspect::show(ctx, out, revision).await,
        Command::Status { exit_code } => inspect::status(ctx, out, exit_code).await,
        Command::Lint {
            engine,
            write_baseline,
        } => check::lint(ctx, out, engine, write_baseline),
        Command::Check {
            offline,
            no_round_trip,
            scratch_url,
        } => check::check(ctx, out, offline, no_round_trip, scratch_url).await,
        Command::Fleet { command } => fleet::fleet(ctx, out, *command).await,
    }
}

/// Runs the command line and returns the process's exit code.
fn main() -> ExitCode {
    let cli = Cli::parse();
    // A fleet runs its targets as tasks on every core; one database's run is one task.
    let mut builder = if matches!(cli.command, Command::Fleet { .. }) {
        tokio::runtime::Builder::new_multi_thread()
    } else {
        tokio::runtime::Builder::new_current_thread()
    };
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            if let Some(Exit(code)) = e.downcast_ref::<Exit>() {
                return ExitCode::from(*code);
            }
            // A closed pipe (`retort history | head`) is not a failure.
            if e.chain().any(|c| {
                c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
            }) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            for line in print::what_to_run(&e) {
                eprintln!("{line}");
            }
            ExitCode::from(1)
        }
    }
}
