//! `retort check`: the CI gate's output and exit code.

use std::io::Write;

use super::{Ctx, Exit, json};
use crate::run::{CheckOptions, DatabaseCheck};

/// `retort check [--offline] [--no-round-trip] [--scratch-url URL]`.
pub(super) async fn check(
    ctx: &Ctx,
    out: &mut impl Write,
    offline: bool,
    no_round_trip: bool,
    scratch_url: Option<String>,
) -> anyhow::Result<()> {
    let options = CheckOptions {
        target: !offline,
        round_trip: !no_round_trip,
        scratch_server: scratch_url,
    };
    let checks = ctx.runner()?.check(&ctx.project, &options).await?;
    let code = exit_code(&checks);
    if ctx.json {
        json::emit(
            out,
            "check",
            serde_json::json!({
                "databases": checks.iter().map(as_json).collect::<Vec<_>>(),
                "exit_code": code,
            }),
        )?;
    } else {
        for c in &checks {
            print_human(out, c, &options)?;
        }
    }
    if code != 0 {
        return Err(Exit(code).into());
    }
    Ok(())
}

fn exit_code(checks: &[DatabaseCheck]) -> u8 {
    checks
        .iter()
        .flat_map(|c| &c.findings)
        .fold(0, |code, f| code | f.kind().exit_bit())
}

fn as_json(c: &DatabaseCheck) -> serde_json::Value {
    let findings: Vec<serde_json::Value> = c
        .findings
        .iter()
        .map(|f| {
            let mut v = serde_json::to_value(f).unwrap_or_default();
            if let Some(map) = v.as_object_mut() {
                map.insert("message".into(), f.to_string().into());
                map.insert("exit_bit".into(), f.kind().exit_bit().into());
            }
            v
        })
        .collect();
    serde_json::json!({
        "database": c.database,
        "revisions": c.revisions,
        "round_tripped": c.round_tripped,
        "ok": c.findings.is_empty(),
        "findings": findings,
    })
}

fn print_human(
    out: &mut impl Write,
    c: &DatabaseCheck,
    options: &CheckOptions,
) -> std::io::Result<()> {
    let round_trip = match c.round_tripped {
        Some(n) => format!("{n} of {} round-tripped", c.revisions),
        None if options.round_trip => "not round-tripped (the migrations did not load)".into(),
        None => "round trip skipped (--no-round-trip)".into(),
    };
    let target = if options.target {
        "history compared"
    } else {
        "history not compared (--offline)"
    };
    let verdict = if c.findings.is_empty() {
        "ok"
    } else {
        "FAILED"
    };
    writeln!(
        out,
        "{}: {verdict}: {} revisions, {round_trip}, {target}",
        c.database, c.revisions
    )?;
    for f in &c.findings {
        writeln!(out, "  {f}")?;
    }
    Ok(())
}
