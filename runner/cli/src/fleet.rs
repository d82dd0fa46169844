//! `retort fleet …`: one database's migrations on many targets, through the library's
//! [`retort::fleet`]; this file turns flags into a run and prints its progress and outcome.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::Ctx;
use super::args::{FleetCommand, FleetRunArgs, JobArgs, OptionalTargetArgs, TargetArgs};
use retort::core::Direction;
use retort::fleet::{
    Attempt, Fleet, FleetObserver, FleetOptions, FleetTarget, Halt, MaxFailures, Outcome,
    Partition, Progress, Queue, Recorded, RunLog, RunSpec, StopFlag, Summary, TargetSource,
};

/// Runs one `fleet` subcommand.
pub(super) async fn fleet(
    ctx: &Ctx,
    out: &mut impl Write,
    command: FleetCommand,
) -> anyhow::Result<()> {
    match command {
        FleetCommand::Upgrade {
            target,
            targets,
            run,
        } => {
            let target = target.unwrap_or_else(|| "head".into());
            let source = source_of(&targets)?;
            start(ctx, out, Direction::Upgrade, &target, source, run).await
        }
        FleetCommand::Downgrade {
            target,
            targets,
            run,
        } => {
            let source = source_of(&targets)?;
            start(ctx, out, Direction::Downgrade, &target, source, run).await
        }
        FleetCommand::Plan {
            target,
            targets,
            jobs,
        } => {
            let target = target.unwrap_or_else(|| "head".into());
            read_only(ctx, out, "plan", &target, source_of(&targets)?, jobs).await
        }
        FleetCommand::Status { targets, jobs } => {
            read_only(ctx, out, "status", "head", source_of(&targets)?, jobs).await
        }
        FleetCommand::Resume { name, targets, run } => {
            again(ctx, out, &name, targets, run, Again::Unfinished).await
        }
        FleetCommand::Retry {
            name, targets, run, ..
        } => again(ctx, out, &name, targets, run, Again::Failed).await,
    }
}

fn source_of(args: &TargetArgs) -> anyhow::Result<TargetSource> {
    optional_source(&args.targets, &args.targets_cmd, &args.targets_sql)?.context(
        "give the targets: --targets FILE|GLOB, --targets-cmd COMMAND or --targets-sql URL QUERY",
    )
}

fn optional_source(
    targets: &Option<String>,
    command: &Option<String>,
    sql: &Option<Vec<String>>,
) -> anyhow::Result<Option<TargetSource>> {
    Ok(match (targets, command, sql) {
        (Some(t), _, _) if t.contains(['*', '?', '[']) => {
            Some(TargetSource::Glob { pattern: t.clone() })
        }
        (Some(t), _, _) => Some(TargetSource::File { path: t.into() }),
        (_, Some(c), _) => Some(TargetSource::Command { command: c.clone() }),
        (_, _, Some(v)) => match v.as_slice() {
            [url, query] => Some(TargetSource::Sql {
                url: url.clone(),
                query: query.clone(),
            }),
            _ => bail!("--targets-sql takes a URL and a query"),
        },
        _ => None,
    })
}

fn options(jobs: &JobArgs, run: Option<&FleetRunArgs>) -> FleetOptions {
    let mut options = FleetOptions::default()
        .jobs(jobs.jobs)
        .jobs_per_server(jobs.jobs_per_server);
    if let Some(run) = run {
        options = options.lease(Duration::from_secs(run.lease));
        if let Some(worker) = &run.worker {
            options = options.worker(worker.clone());
        }
    }
    options
}

/// Lists the targets, keeping this worker's partition.
async fn list(
    source: &TargetSource,
    partition: Option<Partition>,
) -> anyhow::Result<Vec<FleetTarget>> {
    let all = source.list().await?;
    Ok(match partition {
        Some(p) => all.into_iter().filter(|t| p.contains(t)).collect(),
        None => all,
    })
}

/// `fleet upgrade|downgrade`: a new run.
async fn start(
    ctx: &Ctx,
    out: &mut impl Write,
    direction: Direction,
    target: &str,
    source: TargetSource,
    args: FleetRunArgs,
) -> anyhow::Result<()> {
    let partition = args
        .jobs
        .partition
        .as_deref()
        .map(Partition::parse)
        .transpose()?;
    let max_failures = args
        .max_failures
        .as_deref()
        .map(MaxFailures::parse)
        .transpose()?;
    let options = options(&args.jobs, Some(&args));
    let name = args
        .run_name
        .clone()
        .unwrap_or_else(retort::fleet::new_run_name);
    let spec = RunSpec::new(&name, direction, target, &source)
        .partition(partition)
        .canary(args.canary)
        .max_failures(max_failures);
    let targets = list(&source, partition).await?;
    let queue = match &args.control {
        Some(url) => Queue::Control {
            url: url.clone(),
            requeue_failed: false,
        },
        None => Queue::Local {
            previous_attempts: BTreeMap::new(),
        },
    };
    execute(ctx, out, spec, targets, queue, options, &args).await
}

/// What `resume` and `retry --failed` run again.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Again {
    /// Targets without a finished attempt.
    Unfinished,
    /// Targets whose last attempt failed.
    Failed,
}

/// `fleet resume RUN` / `fleet retry --failed RUN`.
async fn again(
    ctx: &Ctx,
    out: &mut impl Write,
    run_name: &str,
    targets: OptionalTargetArgs,
    mut args: FleetRunArgs,
    which: Again,
) -> anyhow::Result<()> {
    let path = RunLog::path_in(&args.log_dir, run_name)?;
    let given = optional_source(&targets.targets, &targets.targets_cmd, &targets.targets_sql)?;
    if !path.is_file() {
        if args.control.is_some() {
            bail!(
                "run `{run_name}` has no log in {}: with --control, start the worker again \
                 with the run's command and `--run {run_name}` (it joins the run and takes \
                 what is left)",
                args.log_dir.display()
            );
        }
        bail!(
            "no log of run `{run_name}` in {} (pass --log-dir where it was written)",
            args.log_dir.display()
        );
    }
    let recorded = Recorded::read(&path)?;
    let spec = recorded.spec.clone();
    let source = match given {
        Some(s) => s,
        None if has_hidden_password(&spec.source) => bail!(
            "run `{run_name}` lists its targets from {}, whose password the log does not \
             keep: give the source again (--targets-sql URL QUERY)",
            spec.source
        ),
        None => spec.source.clone(),
    };
    let all = list(&source, spec.partition).await?;
    // With a control database its queue knows what is left; otherwise the log does.
    let chosen: Vec<FleetTarget> = all
        .into_iter()
        .filter(|t| {
            args.control.is_some()
                || match which {
                    Again::Unfinished => !recorded.finished(&t.name) && !recorded.failed(&t.name),
                    Again::Failed => recorded.failed(&t.name),
                }
        })
        .collect();
    args.run_name = Some(spec.run.clone());
    if args.max_failures.is_none() {
        args.max_failures = spec.max_failures.map(|m| m.to_string());
    }
    let options = options(&args.jobs, Some(&args));
    let spec = spec.again();
    let queue = match &args.control {
        Some(url) => Queue::Control {
            url: url.clone(),
            requeue_failed: which == Again::Failed,
        },
        None => Queue::Local {
            previous_attempts: recorded.attempts.clone(),
        },
    };
    execute(ctx, out, spec, chosen, queue, options, &args).await
}

/// A `***` in a recorded control URL: the password was not written down.
fn has_hidden_password(source: &TargetSource) -> bool {
    matches!(source, TargetSource::Sql { url, .. } if url.contains("***"))
}

/// Runs `spec` on `targets`, printing progress on stderr and the outcome on stdout.
async fn execute(
    ctx: &Ctx,
    out: &mut impl Write,
    spec: RunSpec,
    targets: Vec<FleetTarget>,
    queue: Queue,
    options: FleetOptions,
    args: &FleetRunArgs,
) -> anyhow::Result<()> {
    let db = ctx.one_database()?;
    // Per-target events would interleave thousands of runs: the fleet reports attempts.
    let runner = retort::Runner::new(std::sync::Arc::new(retort::Silent), ctx.project.limits)?
        .building_sources(true);
    let fleet = Fleet::new(std::sync::Arc::new(runner), db, spec.direction(), options).await?;
    fleet.check(&spec)?;
    let mut log = RunLog::open(&RunLog::path_in(&args.log_dir, &spec.run)?)?;
    let display = Display::new(ctx, &spec, targets.len());
    let stop = StopFlag::default();
    let on_interrupt = stop.clone();
    // The first Ctrl-C stops starting targets (running ones finish or roll back); a second
    // one exits at once, as Ctrl-C does elsewhere (each target's lock and transaction end
    // with its connection).
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            on_interrupt.stop();
            eprintln!("stopping: no new target starts; Ctrl-C again to exit now");
            if tokio::signal::ctrl_c().await.is_ok() {
                std::process::exit(130);
            }
        }
    });
    let summary = fleet
        .run(&spec, &targets, queue, Some(&mut log), &display, &stop)
        .await?;
    display.done();
    if let Some(path) = &args.junit {
        // From the log: the run's last attempt on each target, without keeping every
        // attempt in memory during the run.
        let recorded = Recorded::read(log.path())?;
        let last: Vec<Attempt> = recorded.last.into_values().collect();
        write_junit(path, &spec, &targets, &last, &summary)?;
    }
    report(ctx, out, &summary, &display.notable(), Some(log.path()))
}

/// `fleet plan` / `fleet status`: a planned run, no log, nothing written.
async fn read_only(
    ctx: &Ctx,
    out: &mut impl Write,
    command: &str,
    target: &str,
    source: TargetSource,
    jobs: JobArgs,
) -> anyhow::Result<()> {
    let partition = jobs
        .partition
        .as_deref()
        .map(Partition::parse)
        .transpose()?;
    let options = options(&jobs, None);
    let spec = RunSpec::new(command, Direction::Upgrade, target, &source)
        .partition(partition)
        .planned();
    let targets = list(&source, partition).await?;
    let db = ctx.one_database()?;
    let runner = retort::Runner::new(std::sync::Arc::new(retort::Silent), ctx.project.limits)?
        .building_sources(true);
    let fleet = Fleet::new(std::sync::Arc::new(runner), db, Direction::Upgrade, options).await?;
    let display = Display::new(ctx, &spec, targets.len());
    let queue = Queue::Local {
        previous_attempts: BTreeMap::new(),
    };
    let summary = fleet
        .run(&spec, &targets, queue, None, &display, &StopFlag::default())
        .await?;
    display.done();
    report(ctx, out, &summary, &display.notable(), None)
}

/// The outcome: per-target lines for what is not simply done, then the summary; exit 1
/// when a target failed or the run halted.
fn report(
    ctx: &Ctx,
    out: &mut impl Write,
    summary: &Summary,
    attempts: &[Attempt],
    log: Option<&Path>,
) -> anyhow::Result<()> {
    if ctx.json {
        let line = serde_json::json!({
            "version": super::json::VERSION,
            "event": "summary",
            "summary": summary,
            "log": log.map(|p| p.display().to_string()),
        });
        writeln!(out, "{line}")?;
    } else {
        for a in attempts {
            writeln!(out, "{}", retort::core::as_data(&a.to_string()))?;
        }
        writeln!(out, "{summary}")?;
        if let Some(log) = log {
            writeln!(out, "log: {}", ctx.shown(log))?;
            if summary.failed + summary.unreachable > 0 {
                writeln!(
                    out,
                    "retry the failed targets: retort fleet retry --failed {}",
                    summary.run
                )?;
            }
            if summary.not_started > 0 {
                writeln!(out, "finish the run: retort fleet resume {}", summary.run)?;
            }
        }
    }
    if summary.ok() {
        Ok(())
    } else {
        Err(super::Exit(1).into())
    }
}

/// The live display: a bar on a terminal, a line every few seconds otherwise, a JSON line
/// per attempt with `--json`; failures are printed as they happen.
struct Display {
    json: bool,
    quiet: bool,
    verbose: bool,
    bar: Option<indicatif::ProgressBar>,
    started: Instant,
    state: Mutex<DisplayState>,
}

struct DisplayState {
    last_line: Instant,
    /// The attempts the outcome lists: failed, unreachable, pending (all with `-v`). Memory
    /// grows with those, not with the targets.
    notable: Vec<Attempt>,
}

/// How often a plain progress line may be printed.
const LINE_EVERY: Duration = Duration::from_secs(2);

impl Display {
    fn new(ctx: &Ctx, spec: &RunSpec, total: usize) -> Display {
        let live = !ctx.quiet && !ctx.json && std::io::stderr().is_terminal();
        let bar = live.then(|| {
            let bar = indicatif::ProgressBar::new(total as u64);
            bar.set_style(
                indicatif::ProgressStyle::with_template(
                    "{prefix} [{bar:30}] {human_pos}/{human_len} {msg} ({per_sec}, eta {eta})",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
                .progress_chars("=> "),
            );
            bar.set_prefix(format!("fleet {}", spec.run));
            bar
        });
        if !ctx.quiet && !ctx.json && bar.is_none() {
            let plural = if total == 1 { "" } else { "s" };
            if spec.apply {
                eprintln!(
                    "fleet {}: {} to {} on {total} target{plural}",
                    spec.run, spec.direction, spec.target
                );
            } else {
                eprintln!("fleet {}: reading {total} target{plural}", spec.run);
            }
        }
        Display {
            json: ctx.json,
            quiet: ctx.quiet,
            verbose: ctx.verbose,
            bar,
            started: Instant::now(),
            state: Mutex::new(DisplayState {
                last_line: Instant::now(),
                notable: Vec::new(),
            }),
        }
    }

    fn notable(&self) -> Vec<Attempt> {
        std::mem::take(&mut self.lock().notable)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, DisplayState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn done(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn say(&self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            None => eprintln!("{line}"),
        }
    }
}

impl FleetObserver for Display {
    fn finished(&self, attempt: &Attempt, progress: &Progress) {
        let mut state = self.lock();
        if self.verbose || !attempt.outcome.succeeded() || attempt.outcome == Outcome::Pending {
            state.notable.push(attempt.clone());
        }
        if self.json {
            let mut line = serde_json::json!({
                "version": super::json::VERSION,
                "event": "attempt",
            });
            if let (Some(map), Ok(serde_json::Value::Object(fields))) =
                (line.as_object_mut(), serde_json::to_value(attempt))
            {
                map.extend(fields);
            }
            println!("{line}");
            return;
        }
        if !attempt.outcome.succeeded() {
            self.say(&retort::core::as_data(&attempt.to_string()));
        }
        if let Some(bar) = &self.bar {
            bar.set_position(progress.finished as u64);
            bar.set_message(format!(
                "{} failed, {} running",
                progress.failed, progress.running
            ));
            return;
        }
        let now = Instant::now();
        if !self.quiet
            && (now.duration_since(state.last_line) >= LINE_EVERY
                || progress.finished == progress.total)
        {
            state.last_line = now;
            let elapsed = self.started.elapsed().as_secs_f64().max(0.001);
            let rate = progress.finished as f64 / elapsed;
            let left = progress.total.saturating_sub(progress.finished);
            let eta = if rate > 0.0 { left as f64 / rate } else { 0.0 };
            eprintln!(
                "{}/{} targets finished ({} failed, {} running), {rate:.0}/s, about {eta:.0} s left",
                progress.finished, progress.total, progress.failed, progress.running
            );
        }
    }

    fn halted(&self, why: &Halt) {
        if self.json {
            let line = serde_json::json!({
                "version": super::json::VERSION,
                "event": "halted",
                "halt": why,
            });
            println!("{line}");
        } else {
            self.say(&format!("halting: {why}"));
        }
    }
}

/// A JUnit XML report: one test suite for the run, one test case per target (failed and
/// unreachable targets fail; targets not started are skipped).
fn write_junit(
    path: &Path,
    spec: &RunSpec,
    targets: &[FleetTarget],
    attempts: &[Attempt],
    summary: &Summary,
) -> anyhow::Result<()> {
    use quick_junit::{NonSuccessKind, Report, TestCase, TestCaseStatus, TestSuite};
    let last: BTreeMap<&str, &Attempt> = attempts.iter().map(|a| (a.target.as_str(), a)).collect();
    let mut suite = TestSuite::new(format!("retort fleet {}", spec.run));
    for target in targets {
        let (status, time) = match last.get(target.name.as_str()) {
            Some(a) if a.outcome.succeeded() => (TestCaseStatus::success(), a.duration_ms),
            Some(a) => {
                let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
                status.set_type(a.outcome.as_str());
                status.set_message(a.error.clone().unwrap_or_default());
                (status, a.duration_ms)
            }
            None => {
                let mut status = TestCaseStatus::skipped();
                status.set_message("not started");
                (status, 0.0)
            }
        };
        let mut case = TestCase::new(target.name.clone(), status);
        case.set_classname(format!("{} {}", spec.direction, spec.target));
        case.set_time(Duration::from_secs_f64(time / 1000.0));
        suite.add_test_case(case);
    }
    suite.set_time(Duration::from_secs_f64(summary.duration_ms / 1000.0));
    let mut report = Report::new("retort fleet");
    report.add_test_suite(suite);
    let xml = report.to_string().context("writing the JUnit report")?;
    std::fs::write(path, xml).with_context(|| format!("writing {}", path.display()))
}
