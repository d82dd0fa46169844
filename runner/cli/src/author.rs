//! Commands that write migrations: new, merge, build, import. They need the migrations
//! directory, never a database.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, bail};

use super::Ctx;
use retort::authoring::import::Tool;
use retort::authoring::scaffold::{self, Lang};

/// What `retort init` adds to `.gitignore`: build output, SQLite files and fleet run logs
/// (`.retort/`), never the artifacts (what `check` compares and a deploy applies).
const IGNORED: &[&str] = &[
    "target/",
    "*.db",
    "*.db-journal",
    "*.db-wal",
    "*.db-shm",
    ".retort/",
];

/// `retort init [--url URL] [--migrations DIR]`: writes `config` (refusing to replace one),
/// the migrations directory and `.gitignore` lines beside it.
pub(super) fn init(
    out: &mut impl Write,
    config: &std::path::Path,
    url: &str,
    migrations: &std::path::Path,
    lang: Lang,
) -> anyhow::Result<()> {
    if config.exists() {
        bail!(
            "{} exists: this is a Retort project already (edit it, or `retort new \"…\"`)",
            config.display()
        );
    }
    let root = config.parent().unwrap_or(std::path::Path::new("."));
    let dir = root.join(migrations);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let toml_str = |s: &str| toml::Value::String(s.to_string()).to_string();
    std::fs::write(
        config,
        format!(
            "# A Retort project (see `retort --help`). Paths are relative to this file; \
             ${{VAR}} and\n# ${{VAR:-default}} are expanded; DATABASE_URL or --database-url \
             override the URL.\n[databases.default]\nurl = {}\nmigrations = {}\n\
             # what `retort new` scaffolds without --lang: sql, python, js or rust\n\
             language = {}\n",
            toml_str(url),
            toml_str(&migrations.to_string_lossy()),
            toml_str(lang.name())
        ),
    )
    .with_context(|| format!("cannot write {}", config.display()))?;
    let gitignore = root.join(".gitignore");
    let existing = std::fs::read_to_string(&gitignore).unwrap_or_default();
    let missing: Vec<&str> = IGNORED
        .iter()
        .copied()
        .filter(|line| !existing.lines().any(|l| l.trim() == *line))
        .collect();
    if !missing.is_empty() {
        let mut text = existing.clone();
        if !text.is_empty() && !text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str("# Retort: build output and SQLite files (artifacts are committed)\n");
        for line in &missing {
            text.push_str(line);
            text.push('\n');
        }
        std::fs::write(&gitignore, text)
            .with_context(|| format!("cannot write {}", gitignore.display()))?;
    }
    writeln!(
        out,
        "created {} (database `default`: {url})",
        config.display()
    )?;
    writeln!(out, "created {}/", dir.display())?;
    if !missing.is_empty() {
        writeln!(
            out,
            "{} {}: {}",
            if existing.is_empty() {
                "created"
            } else {
                "updated"
            },
            gitignore.display(),
            missing.join(" ")
        )?;
    }
    writeln!(
        out,
        "next: `retort new \"create users\"` ({lang}), edit it, then `retort upgrade`"
    )?;
    Ok(())
}

/// `retort new DESCRIPTION [--lang LANG]`.
pub(super) async fn new(
    ctx: &Ctx,
    out: &mut impl Write,
    description: String,
    lang: Option<Lang>,
    autogenerate: Option<bool>,
) -> anyhow::Result<()> {
    let db = ctx.one_database()?;
    let lang = lang
        .or(db.language)
        .unwrap_or_else(|| scaffold::project_language(&db.migrations));
    let graph = graph_with_unbuilt(ctx, db).await?;
    let (heads, taken) = (graph.heads(), graph.order().to_vec());
    if heads.len() > 1 {
        bail!(
            "the graph has several heads ({}); merge them first (`retort merge heads -m MESSAGE`)",
            heads.join(", ")
        );
    }
    if let Some(allow_destructive) = autogenerate {
        return super::diff::autogenerate(ctx, out, &description, allow_destructive, heads, &taken)
            .await;
    }
    let made = match lang {
        Lang::Rust => scaffold::scaffold(&db.migrations, &description, heads, &taken),
        Lang::Sql => scaffold::scaffold_sql(&db.migrations, &description, heads, &taken),
        Lang::Python | Lang::Js | Lang::Alembic => {
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
            "edit {shown} and its .down.sql, then run `retort upgrade` (it builds SQL migrations)"
        )?,
        Lang::Python | Lang::Js | Lang::Alembic => {
            writeln!(out, "edit {shown}, then run `retort build`")?
        }
    }
    Ok(())
}

/// The graph's heads and every id in use, counting migrations not built yet by the id and
/// parents their source declares (SQL and scripts on a present runtime are built first: that
/// needs no toolchain), so `new` can run twice in a row.
async fn graph_with_unbuilt(
    ctx: &Ctx,
    db: &retort::project::DatabaseConfig,
) -> anyhow::Result<retort::core::graph::Graph> {
    use retort::core::graph::{Graph, Node};
    if db.migrations.is_dir() {
        retort::authoring::guest::build_offline(&db.migrations)?;
    }
    let mut pending = Vec::new();
    let mut unreadable = Vec::new();
    for stem in retort::authoring::guest::unbuilt(&db.migrations)? {
        let sources = [
            stem.clone(),
            stem.with_extension("py"),
            stem.with_extension("js"),
        ];
        let found = sources
            .iter()
            .filter(|p| p.exists())
            .find_map(|p| scaffold::declared(p));
        match found {
            Some(node) => pending.push(node),
            None => unreadable.push(stem.display().to_string()),
        }
    }
    if !unreadable.is_empty() {
        bail!(
            "run `retort build` first: these migrations have no artifact, and their source does              not declare its id and parents as the scaffold wrote them: {}",
            unreadable.join(", ")
        );
    }
    let artifacts = if db.migrations.is_dir() {
        ctx.runner()?.maintenance().load_artifacts(db).await?
    } else {
        Vec::new()
    };
    let nodes = artifacts
        .iter()
        .map(|a| (a.info.id.clone(), a.info.parents.clone()))
        .chain(pending)
        .map(|(id, parents)| Node {
            id,
            parents,
            branch_labels: Vec::new(),
            depends_on: Vec::new(),
        });
    let graph = Graph::new(nodes).map_err(|problems| {
        anyhow::anyhow!(
            "the migrations in {} do not form a revision graph:\n  {}",
            db.migrations.display(),
            problems
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("\n  ")
        )
    })?;
    Ok(graph)
}

/// `retort merge REV REV…|heads -m MESSAGE [--lang LANG]`.
pub(super) async fn merge(
    ctx: &Ctx,
    out: &mut impl Write,
    revisions: Vec<String>,
    message: String,
    lang: Option<Lang>,
) -> anyhow::Result<()> {
    let db = ctx.one_database()?;
    let graph = graph_with_unbuilt(ctx, db).await?;
    let taken = graph.order().to_vec();
    let parents = if revisions == ["heads"] {
        graph.heads()
    } else {
        revisions
            .iter()
            .map(|r| retort::core::plan::find_revision(&graph, r))
            .collect::<Result<Vec<_>, _>>()?
    };
    if parents.len() < 2 {
        bail!(
            "nothing to merge: {} (a merge needs two revisions or more)",
            match parents.as_slice() {
                [one] => format!("the graph has one head, {one}"),
                _ => "no revision given".to_string(),
            }
        );
    }
    let lang = lang.unwrap_or_else(|| scaffold::project_language(&db.migrations));
    let made = match lang {
        Lang::Rust => scaffold::scaffold(&db.migrations, &message, parents, &taken),
        Lang::Sql => scaffold::scaffold_sql(&db.migrations, &message, parents, &taken),
        Lang::Python | Lang::Js | Lang::Alembic => {
            scaffold::scaffold_script(&db.migrations, lang, &message, parents, &taken)
        }
    }
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
    let observer = (!ctx.quiet).then_some(&*ctx.observer);
    for db in &ctx.project.databases {
        let built = retort::authoring::guest::build(
            &db.migrations,
            &ctx.project.root,
            None,
            observer,
            force,
        )?;
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

/// `retort import --from alembic DIR`: the revisions as Python migrations, graph and all,
/// into a migrations directory that must not hold migrations yet (the history's roots become
/// roots).
async fn import_alembic(
    ctx: &Ctx,
    out: &mut impl Write,
    db: &retort::DatabaseConfig,
    dir: &std::path::Path,
    baseline: Option<&std::path::Path>,
) -> anyhow::Result<()> {
    use retort::authoring::import::alembic;
    let revisions = alembic::read_dir(dir)?;
    let baseline = match baseline {
        Some(path) => Some(alembic::Baseline::read(path)?),
        None => None,
    };
    if revisions.is_empty() {
        bail!(
            "no Alembic revisions in {} (looked for {})",
            dir.display(),
            retort::authoring::import::layout(Tool::Alembic)
        );
    }
    if db.migrations.is_dir() && !ctx.runner()?.load(db).await?.graph.heads().is_empty() {
        bail!(
            "{} holds migrations already: import an Alembic history into an empty migrations \
             directory (its roots become the graph's roots)",
            ctx.shown(&db.migrations)
        );
    }
    let mut written = alembic::write(&db.migrations, &revisions, baseline.as_ref())?;
    if let Some(b) = &baseline {
        let path = written.remove(0);
        writeln!(
            out,
            "baseline {} -> {}  (the history's root; its downgrade is a recorded no-op)",
            b.source.display(),
            ctx.shown(&path)
        )?;
    }
    for (r, path) in revisions.iter().zip(&written) {
        let merge = if r.down_revisions.len() > 1 {
            "  (merge)"
        } else {
            ""
        };
        writeln!(
            out,
            "imported {} -> {}{merge}",
            r.source.display(),
            ctx.shown(path)
        )?;
    }
    writeln!(
        out,
        "next: `retort upgrade` (it builds Python migrations on the project's runtime), or \
         `retort stamp --adopt alembic` on a database Alembic already migrated"
    )?;
    Ok(())
}

/// `retort import --from TOOL DIR`.
pub(super) async fn import(
    ctx: &Ctx,
    out: &mut impl Write,
    from: Tool,
    dir: PathBuf,
    baseline: Option<PathBuf>,
) -> anyhow::Result<()> {
    let db = ctx.one_database()?;
    if from == Tool::Alembic {
        return import_alembic(ctx, out, db, &dir, baseline.as_deref()).await;
    }
    if baseline.is_some() {
        bail!("--baseline goes with --from alembic (the other tools' histories start from SQL)");
    }
    let report = retort::authoring::import::read_dir(from, &dir)?;
    if report.migrations.is_empty() {
        bail!("{}", nothing_to_import(from, &dir, &report));
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
    let written = retort::authoring::import::write(
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

/// Why an import found nothing: what the directory holds, why each file the importer looked
/// at was not taken, and which importers would take the directory as it is.
fn nothing_to_import(
    from: Tool,
    dir: &std::path::Path,
    report: &retort::authoring::import::Report,
) -> String {
    let mut message = format!("no {} migrations in {}", from.name(), dir.display());
    let mut entries: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    entries.sort();
    match entries.len() {
        0 => message.push_str(": the directory is empty or cannot be read"),
        n => message.push_str(&format!(
            "; it holds {n} {} ({}{})",
            if n == 1 { "entry" } else { "entries" },
            entries
                .iter()
                .take(8)
                .cloned()
                .collect::<Vec<_>>()
                .join(", "),
            if n > 8 { ", …" } else { "" }
        )),
    }
    for (path, why) in report.skipped.iter().take(8) {
        message.push_str(&format!("\n  skipped {}: {why}", path.display()));
    }
    let matching: Vec<&str> = Tool::ALL
        .iter()
        .filter(|t| **t != from)
        .filter(|t| {
            retort::authoring::import::read_dir(**t, dir).is_ok_and(|r| !r.migrations.is_empty())
        })
        .map(|t| t.name())
        .collect();
    match matching.as_slice() {
        [] => message.push_str(&format!(
            "\n  {}'s layout: {}",
            from.name(),
            retort::authoring::import::layout(from)
        )),
        [tool] => message.push_str(&format!(
            "\n  the directory is in {tool}'s layout: `retort import --from {tool} {}`",
            dir.display()
        )),
        tools => message.push_str(&format!(
            "\n  the directory is in the layout of: {} (`retort import --from TOOL {}`)",
            tools.join(", "),
            dir.display()
        )),
    }
    message
}
