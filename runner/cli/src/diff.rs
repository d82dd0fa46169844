//! `retort diff` and `retort new --autogenerate`: the declared schema against what the
//! migrations make.

use retort::DialectExt;
use std::io::Write;

use anyhow::{Context, bail};

use super::{Ctx, Exit, json};
use retort::core::snapshot::Difference;
use retort::run::{Against, SchemaDiff};

/// A runner whose rehearsals on scratch databases print only warnings.
fn quiet_runner(ctx: &Ctx) -> anyhow::Result<retort::run::Runner> {
    let observer = std::sync::Arc::new(super::print::StderrObserver::new(true, false));
    Ok(retort::run::Runner::new(observer, ctx.project.limits)?.building_sources(true))
}

/// `retort diff [--against head|REV|database] [--scratch-url URL] [--exit-code]`.
pub(super) async fn diff(
    ctx: &Ctx,
    out: &mut impl Write,
    against: Against,
    scratch_url: Option<String>,
    exit_code: bool,
) -> anyhow::Result<()> {
    let runner = quiet_runner(ctx)?;
    let mut documents = Vec::new();
    let mut any = false;
    for db in &ctx.project.databases {
        let diff = super::rehearsal(&runner, scratch_url.as_deref())
            .diff(db, against.clone())
            .await?;
        any |= !diff.differences.is_empty();
        if ctx.json {
            documents.push(serde_json::json!({
                "database": diff.database,
                "declared": diff.file,
                "against": match &against {
                    Against::Head => "head".to_string(),
                    Against::Database => "database".to_string(),
                    Against::Revision(r) => r.clone(),
                },
                "differences": diff.differences,
            }));
            continue;
        }
        print_diff(out, &diff, &against)?;
    }
    if ctx.json {
        json::emit(out, "diff", serde_json::json!({ "databases": documents }))?;
    }
    if exit_code && any {
        return Err(Exit(3).into());
    }
    Ok(())
}

fn print_diff(out: &mut impl Write, diff: &SchemaDiff, against: &Against) -> std::io::Result<()> {
    let against = match against {
        Against::Database => "the database".to_string(),
        Against::Head => "the migrations' schema at head".to_string(),
        Against::Revision(r) => format!("the migrations' schema at {r}"),
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

/// Writes a generated migration: the header stays in the generic `<stem>.up.sql` (every
/// engine reads it), the statements go into `<stem>.<dialect>.up.sql` and `.down.sql` — they
/// are one engine's SQL, from its catalog — and the rules the linter finds in them are
/// acknowledged in the header with the reason, so `check` passes what was generated. On
/// another engine the migration is a recorded no-op until someone writes its variant.
fn write_migration(
    up: &std::path::Path,
    engine: retort::core::Dialect,
    source: &str,
    g: &retort::authoring::autogen::Generated,
) -> anyhow::Result<Vec<std::path::PathBuf>> {
    let name = engine.name();
    let stem = up.to_string_lossy().trim_end_matches(".up.sql").to_string();
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
    let findings = retort::core::lint::lint(
        &g.up,
        &retort::core::lint::Context {
            engine,
            transactional: true,
            allowed: Default::default(),
        },
    );
    let mut rules: Vec<retort::core::lint::Rule> = findings.iter().map(|f| f.rule).collect();
    rules.sort();
    rules.dedup();
    let mut header: Vec<String> = std::fs::read_to_string(up)?
        .lines()
        .filter(|l| l.starts_with("-- retort:"))
        .map(str::to_string)
        .collect();
    if !rules.is_empty() {
        header.push(format!(
            "-- retort: allow = {}",
            rules.iter().map(|r| r.id()).collect::<Vec<_>>().join(", ")
        ));
        for rule in &rules {
            header.push(format!(
                "-- acknowledged by autogenerate, review it: {} {}",
                rule.id(),
                rule.explanation()
            ));
        }
    }
    let notes: String = g
        .notes
        .iter()
        .map(|n| format!("-- autogenerate: {n}\n"))
        .collect();
    std::fs::write(
        up,
        format!(
            "{}\n\n-- Generated by `retort new --autogenerate` from {source} on {name}: the \
             statements are in\n-- {file}.{name}.up.sql and .{name}.down.sql. On another engine \
             this migration does\n-- nothing until its own <stem>.<engine>.up.sql is written.\n",
            header.join("\n"),
            file = std::path::Path::new(&stem)
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
    )?;
    std::fs::write(
        format!("{stem}.down.sql"),
        "-- The downgrade is in the engines' own files, as the upgrade is.\n",
    )?;
    let variant_up = std::path::PathBuf::from(format!("{stem}.{name}.up.sql"));
    let variant_down = std::path::PathBuf::from(format!("{stem}.{name}.down.sql"));
    std::fs::write(
        &variant_up,
        format!(
            "-- Generated by `retort new --autogenerate` from {source}: review it.\n{notes}\n{}",
            body(&g.up)
        ),
    )?;
    std::fs::write(&variant_down, body(&g.down))?;
    Ok(vec![variant_up, variant_down])
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
    let engine = retort::core::Dialect::of_url(&db.url)
        .with_context(|| format!("database `{}` has no engine to generate for", db.name))?;
    let diff = quiet_runner(ctx)?
        .rehearsal()
        .diff(db, Against::Head)
        .await?;
    if diff.differences.is_empty() {
        writeln!(
            out,
            "{}: nothing to generate: the migrations already make {}",
            db.name, diff.file
        )?;
        return Ok(());
    }
    let dialect = engine;
    let file = db.schema.as_ref().expect("diff read it");
    let declared_sql = retort_sql::split(&std::fs::read_to_string(file)?, dialect)
        .map_err(|e| anyhow::anyhow!("{}: {e}", file.display()))?;
    let g = retort::authoring::autogen::generate(
        engine,
        &diff.differences,
        &declared_sql,
        &diff.current,
    );
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
    let made =
        retort::authoring::scaffold::scaffold_sql(&db.migrations, description, heads, taken)?;
    let variants = write_migration(&made.dir, engine, &ctx.shown(file).to_string(), &g)?;
    writeln!(
        out,
        "created {} (revision {}, {} statement{} in {}; parent {})",
        ctx.shown(&made.dir),
        made.id,
        g.up.len(),
        if g.up.len() == 1 { "" } else { "s" },
        variants
            .iter()
            .map(|v| ctx.shown(v).to_string())
            .collect::<Vec<_>>()
            .join(" and "),
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
