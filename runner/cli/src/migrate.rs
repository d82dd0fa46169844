//! Commands that change databases: upgrade, downgrade, stamp, resolve, accept-rebuild.

use std::io::Write;

use anyhow::bail;

use super::Ctx;
use super::print::finish;
use retort::authoring::import::Tool;
use retort::core::Direction;
use retort::core::plan::Target;
use retort::run::{Resolution, Run};

/// `retort upgrade [TARGET]` and `retort downgrade TARGET` (`--dry-run`: plan only).
pub(super) async fn migrate(
    ctx: &Ctx,
    out: &mut impl Write,
    direction: Direction,
    target: &str,
    dry_run: bool,
) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let target = Target::parse(target);
    let run = match direction {
        Direction::Upgrade => Run::upgrade(target),
        Direction::Downgrade => Run::downgrade(target),
    };
    let run = if dry_run { run.planned() } else { run };
    let outcome = ctx.runner()?.run(&ctx.project, &run).await?;
    if ctx.json {
        return finish_json(out, outcome, direction);
    }
    let ran: std::time::Duration = outcome
        .reports
        .iter()
        .flat_map(|r| &r.steps)
        .map(|s| s.duration)
        .sum();
    let failed = outcome.failed.is_some();
    finish(out, &ctx.project.databases, outcome, direction)?;
    // The time a first run spends compiling a language runtime counts: say the whole.
    let total = started.elapsed();
    if !dry_run && !failed && total.saturating_sub(ran) > std::time::Duration::from_secs(1) {
        writeln!(
            out,
            "in all {:.1} s, {} of it in the migrations themselves (the rest: loading, \
             compiling, locking, checking)",
            total.as_secs_f64(),
            super::print::ms(ran)
        )?;
    }
    Ok(())
}

/// The `finished` line of `--json upgrade`/`downgrade`: every database's report, and the
/// failure (whose message also goes to stderr, with exit code 1).
fn finish_json(
    out: &mut impl Write,
    outcome: retort::run::ProjectOutcome,
    direction: Direction,
) -> anyhow::Result<()> {
    let reports: Vec<serde_json::Value> = outcome
        .reports
        .iter()
        .map(|r| {
            serde_json::json!({
                "database": r.database,
                "dry_run": r.dry_run,
                "current": r.current,
                "steps": r.steps.iter().map(|s| serde_json::json!({
                    "revision": s.revision,
                    "description": s.description,
                    "direction": s.direction,
                    "duration_ms": s.duration.as_secs_f64() * 1000.0,
                    "undid_nothing": s.undid_nothing,
                })).collect::<Vec<_>>(),
            })
        })
        .collect();
    let failed = outcome.failed.as_ref().map(|(database, error)| {
        serde_json::json!({
            "database": database,
            "kind": error.kind().as_str(),
            "message": error.full_message(),
        })
    });
    super::json::line(
        out,
        "finished",
        serde_json::json!({
            "command": direction.name(),
            "ok": failed.is_none(),
            "databases": reports,
            "failed": failed,
            "untouched": outcome.untouched,
        }),
    )?;
    match outcome.failed {
        Some((_, error)) => Err(error.into()),
        None => Ok(()),
    }
}

/// `retort stamp TARGET | --adopt TOOL`.
pub(super) async fn stamp(
    ctx: &Ctx,
    out: &mut impl Write,
    target: Option<String>,
    adopt: Option<Tool>,
) -> anyhow::Result<()> {
    let runner = ctx.runner()?;
    let db = ctx.one_database()?;
    let targets = match (target, adopt) {
        (Some(t), _) => vec![t],
        (None, Some(tool)) => {
            let adopted = runner.maintenance().adopt(db, tool).await?;
            match tool {
                // Alembic records the heads it is at, not what it applied.
                Tool::Alembic => writeln!(
                    out,
                    "{}: alembic is at {}",
                    db.name,
                    adopted.versions.join(", ")
                )?,
                _ => writeln!(
                    out,
                    "{}: {} applied {} migration(s), the newest {}",
                    db.name,
                    tool.name(),
                    adopted.versions.len(),
                    adopted.stamp.join(", ")
                )?,
            }
            adopted.stamp
        }
        (None, None) => bail!("name a target or --adopt TOOL"),
    };
    for target in targets {
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
    Ok(())
}

/// `retort resolve REV --applied | --rolled-back | --downgrade`.
pub(super) async fn resolve(
    ctx: &Ctx,
    out: &mut impl Write,
    revision: String,
    (applied, downgrade): (bool, bool),
    (force, scratch_url): (bool, Option<String>),
) -> anyhow::Result<()> {
    let runner = ctx.runner()?;
    let db = ctx.one_database()?;
    let resolution = match (applied, downgrade) {
        (true, _) => Resolution::Applied,
        (_, true) => Resolution::Downgrade,
        _ => Resolution::RolledBack,
    };
    if force {
        writeln!(out, "{}: not checked against the schema (--force)", db.name)?;
    } else if resolution != Resolution::Downgrade {
        match super::rehearsal(&runner, scratch_url.as_deref())
            .check_resolution(db, &revision, resolution)
            .await?
        {
            0 => writeln!(
                out,
                "{}: its upgrade changes no schema object: nothing to check the claim against",
                db.name
            )?,
            n => writeln!(
                out,
                "{}: checked against the schema: the {n} object(s) its upgrade changes agree",
                db.name
            )?,
        }
    }
    let was = runner
        .maintenance()
        .resolve_unchecked(db, &revision, resolution)
        .await?;
    let now = match resolution {
        Resolution::Applied => "applied",
        Resolution::RolledBack => "not applied (row removed)",
        Resolution::Downgrade => "compensated by its downgrade and not applied",
    };
    writeln!(
        out,
        "{}: {revision} was {}, now {now}",
        db.name,
        was.as_str()
    )?;
    Ok(())
}

/// `retort accept-rebuild REV…`.
pub(super) async fn accept_rebuild(
    ctx: &Ctx,
    out: &mut impl Write,
    revisions: Vec<String>,
) -> anyhow::Result<()> {
    let db = ctx.one_database()?;
    let runner = ctx.runner()?;
    let accepted = runner.maintenance().accept_rebuild(db, &revisions).await?;
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
    Ok(())
}
