//! `retort diff` and `retort new --autogenerate`: the declared schema against what the
//! migrations make.

use std::io::Write;

use anyhow::{Context, bail};

use super::{Ctx, Exit, json};
use crate::core::lint::Engine;
use crate::core::schema::Difference;
use crate::run::{Against, SchemaDiff};

/// A runner whose rehearsals on scratch databases print only warnings.
fn quiet_runner(ctx: &Ctx) -> anyhow::Result<crate::run::Runner> {
    let observer = std::sync::Arc::new(super::print::StderrObserver::new(true, false));
    Ok(crate::run::Runner::new(observer, ctx.project.limits)?)
}

/// `retort diff [--against head|database] [--scratch-url URL] [--exit-code]`.
pub(super) async fn diff(
    ctx: &Ctx,
    out: &mut impl Write,
    against_database: bool,
    scratch_url: Option<String>,
    exit_code: bool,
) -> anyhow::Result<()> {
    let against = if against_database {
        Against::Database
    } else {
        Against::Head
    };
    let runner = quiet_runner(ctx)?;
    let mut documents = Vec::new();
    let mut any = false;
    for db in &ctx.project.databases {
        let diff = runner.diff(db, against, scratch_url.as_deref()).await?;
        any |= !diff.differences.is_empty();
        if ctx.json {
            documents.push(serde_json::json!({
                "database": diff.database,
                "declared": diff.file,
                "against": if against_database { "database" } else { "head" },
                "differences": diff.differences,
            }));
            continue;
        }
        print_diff(out, &diff, against_database)?;
    }
    if ctx.json {
        json::emit(out, "diff", serde_json::json!({ "databases": documents }))?;
    }
    if exit_code && any {
        return Err(Exit(3).into());
    }
    Ok(())
}

fn print_diff(out: &mut impl Write, diff: &SchemaDiff, database: bool) -> std::io::Result<()> {
    let against = if database {
        "the database"
    } else {
        "the migrations' schema at head"
    };
    match diff.differences.len() {
        0 => writeln!(
            out,
            "{}: {against} is {} (no difference)",
            diff.database, diff.file
        ),
        n => {
            writeln!(
                out,
                "{}: {n} difference{} from {against} to {} (+ to create, - to drop, ~ to change):",
                diff.database,
                if n == 1 { "" } else { "s" },
                diff.file
            )?;
            for d in &diff.differences {
                writeln!(out, "  {d}")?;
            }
            Ok(())
        }
    }
}

/// `retort new DESCRIPTION --autogenerate [--allow-destructive]`: a SQL migration from head
/// to the declared schema.
pub(super) async fn autogenerate(
    ctx: &Ctx,
    out: &mut impl Write,
    description: &str,
    allow_destructive: bool,
    heads: Vec<String>,
    taken: &[String],
) -> anyhow::Result<()> {
    let db = ctx.one_database()?;
    let engine = crate::build::lint::engine_of(&db.url)
        .with_context(|| format!("database `{}` has no engine to generate for", db.name))?;
    let diff = quiet_runner(ctx)?.diff(db, Against::Head, None).await?;
    if diff.differences.is_empty() {
        writeln!(
            out,
            "{}: nothing to generate: the migrations already make {}",
            db.name, diff.file
        )?;
        return Ok(());
    }
    let dialect = match engine {
        Engine::Postgres => retort_sql::Dialect::Postgres,
        Engine::Mysql => retort_sql::Dialect::Mysql,
        Engine::Sqlite => retort_sql::Dialect::Sqlite,
    };
    let file = db.schema.as_ref().expect("diff read it");
    let declared_sql = retort_sql::split(&std::fs::read_to_string(file)?, dialect)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let g = crate::core::autogen::generate(engine, &diff.differences, &declared_sql, &diff.current);
    if !g.destructive.is_empty() && !allow_destructive {
        bail!(
            "the declared schema drops what the migrations made: {}. Nothing was written; run \
             again with --allow-destructive to generate it (the downgrade restores the \
             structure, not the data)",
            g.destructive.join(", ")
        );
    }
    if g.up.is_empty() {
        bail!(
            "nothing could be generated; by hand:\n  {}",
            g.notes.join("\n  ")
        );
    }
    let made = crate::build::scaffold::scaffold_sql(&db.migrations, description, heads, taken)?;
    let header = std::fs::read_to_string(&made.dir)?;
    let notes: String = g
        .notes
        .iter()
        .map(|n| format!("-- autogenerate: {n}\n"))
        .collect();
    let header = header
        .lines()
        .filter(|l| l.starts_with("-- retort:"))
        .collect::<Vec<_>>()
        .join("\n");
    let body = |statements: &[String]| {
        statements
            .iter()
            .map(|s| {
                if s.starts_with("--") {
                    format!("{s}\n")
                } else {
                    format!("{};\n", s.trim_end_matches(';'))
                }
            })
            .collect::<String>()
    };
    std::fs::write(
        &made.dir,
        format!(
            "{header}\n-- Generated by `retort new --autogenerate` from {}: review it.\n{notes}\n{}",
            ctx.shown(file),
            body(&g.up)
        ),
    )?;
    let down = made.dir.to_string_lossy().replace(".up.sql", ".down.sql");
    std::fs::write(&down, body(&g.down))?;
    writeln!(
        out,
        "created {} (revision {}, {} statement{}; parent {})",
        ctx.shown(&made.dir),
        made.id,
        g.up.len(),
        if g.up.len() == 1 { "" } else { "s" },
        if made.parents.is_empty() {
            "none: a root".to_string()
        } else {
            made.parents.join(", ")
        }
    )?;
    for d in diff
        .differences
        .iter()
        .filter(|d| matches!(d, Difference::Removed { .. }))
    {
        writeln!(out, "  destructive: {d}")?;
    }
    for n in &g.notes {
        writeln!(out, "  note: {n}")?;
    }
    writeln!(
        out,
        "review it, then `retort check` (its round trip) and `retort upgrade`"
    )?;
    Ok(())
}
