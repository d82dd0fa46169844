//! What the command line prints: progress on stderr (an [`Observer`]), reports on stdout.

use std::io::Write;
use std::time::Duration;

use retort::core::observe::{Event, Level, Observer};
use retort::core::{Direction, as_data};
use retort::project::DatabaseConfig;
use retort::run::{Migrations, ProjectOutcome, Report};

/// Prints progress to stderr as plain lines (stderr is not a terminal, or `-q`): one line per
/// event, a migration's `progress` calls at most every two seconds (and its last).
pub(super) struct StderrObserver {
    pub(super) quiet: bool,
    /// `-v`: also a trapped migration's wasm backtrace.
    pub(super) verbose: bool,
    /// When the last progress line was printed, and for which revision.
    pub(super) last_progress: std::sync::Mutex<Option<(String, std::time::Instant)>>,
}

/// How often a plain progress line may be printed.
const PROGRESS_EVERY: Duration = Duration::from_secs(2);

impl StderrObserver {
    /// `quiet`: only warnings and errors.
    pub(super) fn new(quiet: bool, verbose: bool) -> Self {
        StderrObserver {
            quiet,
            verbose,
            last_progress: std::sync::Mutex::new(None),
        }
    }

    /// The line an event prints, if it prints one (progress excepted).
    pub(super) fn line(&self, event: &Event<'_>) -> Option<String> {
        match event {
            Event::StepStarted {
                database,
                revision,
                description,
                direction,
            } if !self.quiet => Some(format!(
                "[{database}] {} {revision}: {}",
                direction.name(),
                as_data(description)
            )),
            Event::GuestLog {
                revision,
                level,
                message,
            } => {
                if self.quiet && matches!(level, Level::Debug | Level::Info) {
                    return None;
                }
                let level = match level {
                    Level::Debug => "debug",
                    Level::Info => "info",
                    Level::Warn => "warn",
                    Level::Error => "error",
                };
                // Each line of the message on a line of its own, attributed, as data.
                let lines: Vec<String> = message
                    .split('\n')
                    .map(|line| format!("  [{revision}] {level}: {}", as_data(line)))
                    .collect();
                Some(lines.join("\n"))
            }
            Event::Built { database, artifact } if !self.quiet => {
                Some(format!("[{database}] built {artifact} from its source"))
            }
            Event::StoredArtifact { database, revision } => Some(format!(
                "[{database}] {revision} is not in the migrations directory: using the copy stored in the database"
            )),
            Event::GuestOutput {
                revision,
                stream,
                line,
            } => Some(format!("  [{revision}] {stream}: {}", as_data(line))),
            Event::Compiling { what, bytes } if !self.quiet => Some(format!(
                "compiling {what} ({:.1} MB)…",
                *bytes as f64 / 1_000_000.0
            )),
            Event::Compiled { what, duration } if !self.quiet => Some(format!(
                "compiled {what} in {:.1} s",
                duration.as_secs_f64()
            )),
            Event::Warning { database, message } => {
                Some(format!("warning: [{database}] {message}"))
            }
            Event::Note { message } if !self.quiet => Some(format!("note: {message}")),
            Event::BuildingRuntime { language, tool } if !self.quiet => Some(format!(
                "   Building the shared {language} runtime {} with {tool} (once per machine)",
                retort::authoring::runtimes::VERSION
            )),
            Event::BuiltRuntime { language, duration } if !self.quiet => Some(format!(
                "   Built the shared {language} runtime in {:.1} s",
                duration.as_secs_f64()
            )),
            Event::Writing { source, language } if !self.quiet => {
                Some(format!("   Writing {source} ({language})"))
            }
            Event::Backtrace {
                revision,
                backtrace,
            } if self.verbose => Some(format!(
                "  [{revision}] wasm backtrace:\n{}",
                backtrace
                    .lines()
                    .map(|l| format!("  [{revision}] {}", as_data(l)))
                    .collect::<Vec<_>>()
                    .join("\n")
            )),
            _ => None,
        }
    }

    /// A progress line, unless one for the same revision was printed less than
    /// [`PROGRESS_EVERY`] ago (the last one, `done == total`, always prints).
    fn progress_line(&self, revision: &str, done: u64, total: Option<u64>) -> Option<String> {
        if self.quiet {
            return None;
        }
        let now = std::time::Instant::now();
        let mut last = self
            .last_progress
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let recent = last
            .as_ref()
            .is_some_and(|(r, at)| r == revision && now.duration_since(*at) < PROGRESS_EVERY);
        if recent && total != Some(done) {
            return None;
        }
        *last = Some((revision.to_string(), now));
        Some(match total {
            Some(t) => format!("  [{revision}] {done}/{t}"),
            None => format!("  [{revision}] {done} done"),
        })
    }
}

impl Observer for StderrObserver {
    fn event(&self, event: &Event<'_>) {
        let line = match event {
            Event::Progress {
                revision,
                done,
                total,
            } => self.progress_line(revision, *done, *total),
            other => self.line(other),
        };
        if let Some(line) = line {
            let _ = writeln!(std::io::stderr().lock(), "{line}");
        }
    }
}

pub(super) fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

pub(super) fn print_report(
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
    let url = retort::db::redact(&db.url);
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
            if step.undid_nothing {
                writeln!(
                    out,
                    "      {} has no downgrade for this database: its history row is gone, its \
                     changes are still there",
                    step.revision
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

pub(super) fn description(migrations: &Migrations, id: &str) -> String {
    migrations
        .get(id)
        .map(|a| a.info.description.clone())
        .unwrap_or_default()
}

pub(super) fn labels_of(migrations: &Migrations, id: &str) -> String {
    match migrations.get(id) {
        Some(a) if !a.info.branch_labels.is_empty() => {
            format!(" [{}]", a.info.branch_labels.join(", "))
        }
        _ => String::new(),
    }
}

/// Prints every finished database's report, then, after a failure, which databases were
/// done, which failed and which were not touched, and returns the failure.
pub(super) fn finish(
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

/// The commands that act on a failure, after its message: the library says what to do in
/// its own words (restore an artifact, resolve a revision as applied, build first); the
/// binary names its commands and flags.
pub(super) fn what_to_run(error: &anyhow::Error) -> Vec<String> {
    use retort::{Error, FailureState, Refusal, Resolution};
    let Some(error) = error.chain().find_map(|c| c.downcast_ref::<Error>()) else {
        return Vec::new();
    };
    let flag = |r: Resolution| match r {
        Resolution::Applied => "--applied",
        Resolution::RolledBack => "--rolled-back",
        Resolution::Downgrade => "--downgrade",
    };
    let resolve = |database: &str, revision: &str, offered: &[Resolution]| -> Vec<String> {
        offered
            .iter()
            .map(|r| {
                format!(
                    "  {:<11} retort -d {database} resolve {revision} {}",
                    format!("{}:", r.name()),
                    flag(*r)
                )
            })
            .collect()
    };
    match error {
        Error::Changed { database, changed } => {
            let mut lines: Vec<String> = changed
                .iter()
                .map(|c| {
                    format!(
                        "  restore:    retort -d {database} show {} --artifact -o {}",
                        c.revision, c.file
                    )
                })
                .collect();
            let revisions: Vec<&str> = changed.iter().map(|c| c.revision.as_str()).collect();
            lines.push(format!(
                "  accept:     retort -d {database} accept-rebuild {}",
                revisions.join(" ")
            ));
            lines
        }
        Error::Unfinished {
            database, revision, ..
        }
        | Error::Migration {
            database,
            revision,
            state: FailureState::Unfinished { .. },
            ..
        } => {
            let mut lines = vec![format!("  inspect:    retort -d {database} status")];
            lines.extend(resolve(database, revision, &Resolution::ALL));
            lines
        }
        Error::Migration {
            database,
            revision,
            state: FailureState::Escaped,
            ..
        } => vec![format!(
            "  record:     retort -d {database} stamp {revision}   # once its changes are \
             complete"
        )],
        Error::Resolution {
            database,
            revision,
            claim,
            refusal,
        } => {
            let unchecked = format!(
                "  unchecked:  retort -d {database} resolve {revision} {} --force",
                flag(*claim)
            );
            match refusal {
                Refusal::Unprivileged(_) => vec![
                    format!(
                        "  elsewhere:  retort -d {database} resolve {revision} {} --scratch-url URL",
                        flag(*claim)
                    ),
                    unchecked,
                ],
                Refusal::UpgradeFails(_) => {
                    let mut lines = resolve(database, revision, &[Resolution::Downgrade]);
                    lines.push(unchecked);
                    lines
                }
                Refusal::Disagrees(_) => {
                    let others: Vec<Resolution> =
                        Resolution::ALL.into_iter().filter(|r| r != claim).collect();
                    let mut lines = resolve(database, revision, &others);
                    lines.push(unchecked);
                    lines
                }
                _ => vec![unchecked],
            }
        }
        Error::Unbuilt { .. } => vec!["  build:      retort build".to_string()],
        Error::TargetNeedsOneDatabase(target) => {
            vec![format!("  choose:     retort -d NAME … {target}")]
        }
        Error::Adopt {
            database,
            tool,
            unknown: Some(_),
        } => vec![
            format!("  import:     retort -d {database} import --from {tool} DIR"),
            "  build:      retort build".to_string(),
        ],
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_progress_is_throttled_but_its_end_always_prints() {
        let o = StderrObserver::new(false, false);
        assert_eq!(
            o.progress_line("r", 1, Some(100)).as_deref(),
            Some("  [r] 1/100")
        );
        assert_eq!(
            o.progress_line("r", 2, Some(100)),
            None,
            "two seconds apart"
        );
        assert_eq!(
            o.progress_line("s", 1, None).as_deref(),
            Some("  [s] 1 done")
        );
        assert_eq!(o.progress_line("s", 2, None), None);
        assert_eq!(
            o.progress_line("r", 100, Some(100)).as_deref(),
            Some("  [r] 100/100")
        );
        let quiet = StderrObserver::new(true, false);
        assert_eq!(quiet.progress_line("r", 1, Some(1)), None);
    }
}
