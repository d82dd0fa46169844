//! Commands that write migrations: new, merge, build, import. They need the migrations
//! directory, never a database.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};

use super::Ctx;
use crate::build::import::Tool;
use crate::build::scaffold::{self, Lang};

/// `retort new DESCRIPTION [--lang LANG]`.
pub(super) async fn new(
    ctx: &Ctx,
    out: &mut impl Write,
    description: String,
    lang: Lang,
) -> anyhow::Result<()> {
    let db = ctx.one_database()?;
    let runner = ctx.runner()?;
    let unbuilt = crate::build::guest::unbuilt(&db.migrations)?;
    if !unbuilt.is_empty() {
        bail!(
            "run `retort build` first: these migrations have no artifact yet, so their ids are unknown: {}",
            unbuilt
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let migrations = runner.load(db).await?;
    let heads = migrations.graph.heads();
    if heads.len() > 1 {
        bail!(
            "the graph has several heads ({}); merge them first",
            heads.join(", ")
        );
    }
    let taken = migrations.ids();
    let made = match lang {
        Lang::Rust => scaffold::scaffold(&db.migrations, &description, heads, &taken),
        Lang::Sql => scaffold::scaffold_sql(&db.migrations, &description, heads, &taken),
        Lang::Python | Lang::Js => {
            scaffold::scaffold_script(&db.migrations, lang, &description, heads, &taken)
        }
    }
    .with_context(|| format!("cannot create the migration in {}", db.migrations.display()))?;
    writeln!(
        out,
        "created {} (revision {}, parent {})",
        ctx.shown(&made.dir),
        made.id,
        if made.parents.is_empty() {
            "none: a root".to_string()
        } else {
            made.parents.join(", ")
        }
    )?;
    let shown = ctx.shown(&made.dir);
    match lang {
        Lang::Rust => writeln!(out, "edit {shown}/src/lib.rs, then run `retort build`")?,
        Lang::Sql => writeln!(
            out,
            "edit {shown} and its .down.sql, then run `retort build`"
        )?,
        Lang::Python | Lang::Js => writeln!(out, "edit {shown}, then run `retort build`")?,
    }
    Ok(())
}

/// `retort merge REV REV… -m MESSAGE`.
pub(super) async fn merge(
    ctx: &Ctx,
    out: &mut impl Write,
    revisions: Vec<String>,
    message: String,
) -> anyhow::Result<()> {
    let db = ctx.one_database()?;
    let runner = ctx.runner()?;
    let migrations = runner.load(db).await?;
    let parents = revisions
        .iter()
        .map(|r| crate::core::plan::resolve_revision(&migrations.graph, r))
        .collect::<Result<Vec<_>, _>>()?;
    let taken = migrations.ids();
    let made = scaffold::scaffold(&db.migrations, &message, parents, &taken)
        .with_context(|| format!("cannot create the migration in {}", db.migrations.display()))?;
    writeln!(
        out,
        "created merge {} (revision {}, parents {})",
        ctx.shown(&made.dir),
        made.id,
        made.parents.join(", ")
    )?;
    Ok(())
}

/// `retort build [--force]`.
pub(super) fn build(ctx: &Ctx, out: &mut impl Write, force: bool) -> anyhow::Result<()> {
    for db in &ctx.project.databases {
        let built =
            crate::build::guest::build(&db.migrations, &ctx.project.root, None, ctx.quiet, force)?;
        if built.is_empty() {
            writeln!(
                out,
                "{}: no migration crates in {}",
                db.name,
                db.migrations.display()
            )?;
        }
        for b in built {
            writeln!(
                out,
                "{} {}  {:>7} bytes  sha256 {}",
                if b.rebuilt { "built" } else { "unchanged" },
                ctx.shown(&b.artifact),
                b.size,
                &b.digest[..16]
            )?;
        }
    }
    Ok(())
}

/// `retort import --from TOOL DIR`.
pub(super) async fn import(
    ctx: &Ctx,
    out: &mut impl Write,
    from: Tool,
    dir: PathBuf,
) -> anyhow::Result<()> {
    let db = ctx.one_database()?;
    let report = crate::build::import::read_dir(from, &dir)?;
    if report.migrations.is_empty() {
        bail!("no {} migrations in {}", from.name(), dir.display());
    }
    let runner = ctx.runner()?;
    let heads = if db.migrations.is_dir() {
        runner.load(db).await?.graph.heads()
    } else {
        Vec::new()
    };
    if heads.len() > 1 {
        bail!(
            "the graph has several heads ({}); merge them first",
            heads.join(", ")
        );
    }
    let written = crate::build::import::write(
        &db.migrations,
        &report.migrations,
        heads.first().map(String::as_str),
    )?;
    for (m, path) in report.migrations.iter().zip(&written) {
        writeln!(
            out,
            "imported {} -> {}{}{}",
            m.sources
                .iter()
                .map(|s| s.display().to_string())
                .collect::<Vec<_>>()
                .join(" + "),
            ctx.shown(path),
            if m.transactional {
                ""
            } else {
                "  (no transaction)"
            },
            if m.down.trim().is_empty() {
                "  (no down script: its downgrade is a recorded no-op)"
            } else {
                ""
            }
        )?;
    }
    for (path, why) in &report.skipped {
        writeln!(out, "skipped {}: {why}", path.display())?;
    }
    writeln!(
        out,
        "next: `retort upgrade` (it builds SQL migrations itself; `retort build` to build them \
         now), or `retort stamp --adopt {}` on a database {} already migrated",
        from.name(),
        from.name()
    )?;
    Ok(())
}
