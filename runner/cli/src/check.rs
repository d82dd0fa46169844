//! `retort check`: the CI gate's output and exit code.

use retort::DialectExt;
use std::io::Write;

use super::{Ctx, Exit, json};
use retort::run::{CheckOptions, DatabaseCheck};

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
        // The finding says what to do; the binary names the command that does it.
        match f {
            retort::Finding::SeveralHeads { .. } => {
                writeln!(out, "    merge:  retort merge heads -m MESSAGE")?
            }
            retort::Finding::Unbuilt { .. } => writeln!(out, "    build:  retort build")?,
            _ => {}
        }
    }
    Ok(())
}

/// `retort lint [--engine ENGINE]`.
pub(super) fn lint(
    ctx: &Ctx,
    out: &mut impl Write,
    engine: Option<super::args::LintEngine>,
    write_baseline: bool,
) -> anyhow::Result<()> {
    use retort::authoring::lint::{Baseline, lint_dir};
    use retort::core::Dialect;
    let mut documents = Vec::new();
    let mut found = false;
    for db in &ctx.project.databases {
        let engine = match engine {
            Some(super::args::LintEngine::Postgres) => Dialect::Postgres,
            Some(super::args::LintEngine::Mysql) => Dialect::Mysql,
            Some(super::args::LintEngine::Sqlite) => Dialect::Sqlite,
            None => retort::core::Dialect::of_url(&db.url).ok_or_else(|| {
                anyhow::anyhow!(
                    "database `{}`: no engine to lint for (give --engine)",
                    db.name
                )
            })?,
        };
        let mut baseline = Baseline::load(&db.migrations)?;
        let (lints, acknowledged) = baseline.apply(lint_dir(&db.migrations, engine)?);
        if write_baseline {
            let added = baseline.extend_and_write(&db.migrations, &lints)?;
            writeln!(
                out,
                "{}: {added} finding{} added to {} ({} acknowledged there in all): write why \
                 each is safe in its `reason`",
                db.name,
                if added == 1 { "" } else { "s" },
                ctx.shown(&db.migrations.join(retort::authoring::lint::BASELINE)),
                baseline.acknowledged.len()
            )?;
            continue;
        }
        found |= !lints.is_empty();
        if ctx.json {
            documents.push(serde_json::json!({
                "database": db.name,
                "engine": engine.name(),
                "migrations": lints,
            }));
            continue;
        }
        let n: usize = lints.iter().map(|l| l.findings.len()).sum();
        writeln!(
            out,
            "{} ({}): {}",
            db.name,
            engine.name(),
            match n {
                0 => "no findings".to_string(),
                1 => "1 finding".to_string(),
                n => format!("{n} findings"),
            } + &match acknowledged {
                0 => String::new(),
                n => format!(
                    " ({n} more acknowledged in {})",
                    ctx.shown(&db.migrations.join(retort::authoring::lint::BASELINE))
                ),
            }
        )?;
        for l in &lints {
            for f in &l.findings {
                writeln!(out, "  {}: {f}", l.file)?;
            }
        }
    }
    if ctx.json {
        json::emit(out, "lint", serde_json::json!({ "databases": documents }))?;
    }
    if found {
        return Err(Exit(retort::run::FindingKind::Lint.exit_bit()).into());
    }
    Ok(())
}
