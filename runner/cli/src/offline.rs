//! `upgrade --sql` / `downgrade --sql`: the statements a run would send, printed as a
//! script with comments saying where each came from.

use std::io::Write;
use std::sync::Arc;

use super::{Ctx, json};
use retort::core::Direction;
use retort::core::plan::Target;
use retort::db::recording::{Recorded, Sender};
use retort::run::{OfflineSql, OfflineStep, Runner};

/// Prints the offline SQL of every selected database.
pub(super) async fn sql(
    ctx: &Ctx,
    out: &mut impl Write,
    direction: Direction,
    target: &str,
    scratch_url: Option<String>,
) -> anyhow::Result<()> {
    // The rehearsal's own progress is not the operator's business: only warnings show.
    let observer = Arc::new(super::print::StderrObserver::new(true, false));
    let runner = Runner::new(observer, ctx.project.limits)?.building_sources(true);
    let target = Target::parse(target);
    let mut documents = Vec::new();
    for db in &ctx.project.databases {
        let script = super::rehearsal(&runner, scratch_url.as_deref())
            .offline_sql(db, direction, &target)
            .await?;
        if ctx.json {
            documents.push(serde_json::to_value(&script)?);
        } else {
            print_script(out, &script, direction, &target)?;
        }
    }
    if ctx.json {
        let command = match direction {
            Direction::Upgrade => "upgrade --sql",
            Direction::Downgrade => "downgrade --sql",
        };
        json::emit(out, command, serde_json::json!({ "databases": documents }))?;
    }
    Ok(())
}

fn print_script(
    out: &mut impl Write,
    script: &OfflineSql,
    direction: Direction,
    target: &Target,
) -> std::io::Result<()> {
    let from = match script.current.as_slice() {
        [] => "base".to_string(),
        current => current.join(", "),
    };
    writeln!(
        out,
        "-- retort {} {target} --sql: database `{}` ({}), from {from}",
        direction.name(),
        script.database,
        script.dialect
    )?;
    writeln!(
        out,
        "-- Rehearsed on a scratch database: each migration's statements as it sent them, with\n\
         -- Retort's bookkeeping (its values are the rehearsal's). Nothing ran on the target."
    )?;
    if script.steps.is_empty() {
        writeln!(out, "-- Nothing to do.")?;
    }
    for step in &script.steps {
        print_step(out, step)?;
    }
    Ok(())
}

fn print_step(out: &mut impl Write, step: &OfflineStep) -> std::io::Result<()> {
    let origin = if step.exact {
        "a SQL migration: its statements, exactly"
    } else {
        "a code migration: its statements as recorded; those with parameters, and any after \
         a query, may depend on the data"
    };
    writeln!(
        out,
        "\n-- {} {}: {} ({origin})",
        step.direction.name(),
        step.revision,
        step.description
    )?;
    for s in &step.statements {
        print_statement(out, s, step.exact)?;
    }
    Ok(())
}

fn print_statement(out: &mut impl Write, s: &Recorded, exact: bool) -> std::io::Result<()> {
    let sql = s.sql.trim().trim_end_matches(';');
    match s.sender {
        Sender::Transaction => return writeln!(out, "{sql};"),
        Sender::Bookkeeping => writeln!(out, "-- Retort's bookkeeping:")?,
        Sender::Migration if s.query => writeln!(out, "-- a query (reads rows, writes nothing):")?,
        Sender::Migration if !exact && !s.params.is_empty() => {
            writeln!(out, "-- data-dependent: parameters as recorded")?
        }
        Sender::Migration => {}
    }
    writeln!(out, "{sql};")?;
    const SHOWN_SETS: usize = 3;
    for (n, set) in s.params.iter().take(SHOWN_SETS).enumerate() {
        let list: Vec<String> = set
            .iter()
            .enumerate()
            .map(|(i, v)| format!("${} = {v}", i + 1))
            .collect();
        let label = if s.params.len() > 1 {
            format!("set {}: ", n + 1)
        } else {
            String::new()
        };
        writeln!(out, "--   {label}{}", list.join(", "))?;
    }
    if s.params.len() > SHOWN_SETS {
        writeln!(
            out,
            "--   … {} parameter sets in all (one batch)",
            s.params.len()
        )?;
    }
    Ok(())
}
