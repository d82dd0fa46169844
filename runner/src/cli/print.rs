//! What the command line prints: progress on stderr (an [`Observer`]), reports on stdout.

use std::io::Write;
use std::time::Duration;

use crate::core::Direction;
use crate::core::observe::{Event, Level, Observer};
use crate::project::DatabaseConfig;
use crate::run::{Migrations, ProjectOutcome, Report};

/// Prints progress to stderr.
pub(super) struct StderrObserver {
    pub(super) quiet: bool,
    /// `-v`: also a trapped migration's wasm backtrace.
    pub(super) verbose: bool,
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
            Event::Built { database, artifact } => {
                writeln!(err, "[{database}] built {artifact} from its source")
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
            Event::Warning { database, message } => {
                writeln!(err, "warning: [{database}] {message}")
            }
            Event::Backtrace {
                revision,
                backtrace,
            } if self.verbose => writeln!(err, "  [{revision}] wasm backtrace:\n{backtrace}"),
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
