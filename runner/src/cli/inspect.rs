//! Read-only commands: current, history, heads, branches, show, status. None of them creates
//! or changes anything.

use std::io::Write;

use anyhow::bail;

use super::Ctx;
use super::print::{description, labels_of};
use crate::run::RevisionState;

/// `retort current`.
pub(super) async fn current(ctx: &Ctx, out: &mut impl Write) -> anyhow::Result<()> {
    let runner = ctx.runner()?;
    for db in &ctx.project.databases {
        let current = runner.current(db).await?;
        if current.is_empty() {
            writeln!(out, "{}: base (nothing applied)", db.name)?;
        }
        for c in current {
            let head = if c.head { " (head)" } else { "" };
            writeln!(out, "{}: {}{head}  {}", db.name, c.revision, c.description)?;
        }
    }
    Ok(())
}

/// `retort history [-v]`.
pub(super) async fn history(ctx: &Ctx, out: &mut impl Write, verbose: bool) -> anyhow::Result<()> {
    let runner = ctx.runner()?;
    for db in &ctx.project.databases {
        let migrations = runner.load(db).await?;
        let history = runner.history(db).await?;
        writeln!(out, "{} ({}):", db.name, crate::db::redact(&db.url))?;
        let heads = migrations.graph.heads();
        for row in super::render::rows(&migrations.graph, |id| {
            match history.iter().find(|r| r.revision == id) {
                Some(r) if r.state == crate::db::RowState::Applied => '*',
                Some(_) => '!',
                None => 'o',
            }
        }) {
            match row.revision {
                Some(id) => {
                    let head = if heads.contains(&id) { " (head)" } else { "" };
                    writeln!(
                        out,
                        "{} {id}{head}{}  {}",
                        row.lanes,
                        labels_of(&migrations, &id),
                        description(&migrations, &id)
                    )?;
                }
                None => writeln!(out, "{}", row.lanes)?,
            }
        }
        for r in history
            .iter()
            .filter(|r| !migrations.graph.contains(&r.revision))
        {
            writeln!(
                out,
                "? {}  {} (applied, but no artifact in {})",
                r.revision,
                r.description,
                db.migrations.display()
            )?;
        }
        if verbose {
            writeln!(out, "applied (newest first):")?;
            for r in history.iter().rev() {
                writeln!(
                    out,
                    "  {}  {:<11} {}  {:>8} ms  {}",
                    r.revision,
                    r.state.as_str(),
                    r.applied_at,
                    r.duration_ms,
                    r.applied_by,
                )?;
                writeln!(
                    out,
                    "      sha256 {}  signed by {}",
                    r.digest,
                    r.signer.as_deref().unwrap_or("nobody (unsigned)")
                )?;
                for note in r.notes.iter().flat_map(|n| n.lines()) {
                    writeln!(out, "      note: {note}")?;
                }
            }
        }
    }
    Ok(())
}

/// `retort heads`.
pub(super) async fn heads(ctx: &Ctx, out: &mut impl Write) -> anyhow::Result<()> {
    let runner = ctx.runner()?;
    for db in &ctx.project.databases {
        let migrations = runner.load(db).await?;
        for head in migrations.graph.heads() {
            writeln!(
                out,
                "{}: {head}{}  {}",
                db.name,
                labels_of(&migrations, &head),
                description(&migrations, &head)
            )?;
        }
    }
    Ok(())
}

/// `retort branches`.
pub(super) async fn branches(ctx: &Ctx, out: &mut impl Write) -> anyhow::Result<()> {
    let runner = ctx.runner()?;
    for db in &ctx.project.databases {
        let migrations = runner.load(db).await?;
        let points = migrations.graph.branch_points();
        if points.is_empty() {
            writeln!(out, "{}: no branches", db.name)?;
        }
        for (id, children) in points {
            writeln!(out, "{}: {id}  {}", db.name, description(&migrations, &id))?;
            for child in children {
                writeln!(
                    out,
                    "  -> {child}{}  {}",
                    labels_of(&migrations, &child),
                    description(&migrations, &child)
                )?;
            }
        }
        for (label, id) in migrations.graph.labels() {
            writeln!(out, "{}: label {label} -> {id}", db.name)?;
        }
    }
    Ok(())
}

/// `retort show REV`.
pub(super) async fn show(ctx: &Ctx, out: &mut impl Write, revision: String) -> anyhow::Result<()> {
    let runner = ctx.runner()?;
    let mut found = false;
    for db in &ctx.project.databases {
        let migrations = runner.load(db).await?;
        let Ok(id) = crate::core::plan::resolve_revision(&migrations.graph, &revision) else {
            continue;
        };
        found = true;
        let a = migrations.get(&id).expect("resolved ids have artifacts");
        let history = runner.history(db).await.unwrap_or_default();
        let state = history
            .iter()
            .find(|r| r.revision == id)
            .map(|r| {
                format!(
                    "{} at {} by {}; sha256 {}{}",
                    r.state.as_str(),
                    r.applied_at,
                    r.applied_by,
                    r.digest,
                    match &r.signer {
                        Some(k) => format!(", signed by {k}"),
                        None => String::new(),
                    }
                )
            })
            .unwrap_or_else(|| "not applied".into());
        let list = |v: &[String]| {
            if v.is_empty() {
                "-".to_string()
            } else {
                v.join(", ")
            }
        };
        let requires: Vec<String> = a
            .info
            .requires
            .iter()
            .map(|r| format!("{}@{}", r.database, r.revision))
            .collect();
        writeln!(out, "revision:      {id}")?;
        writeln!(out, "database:      {}", db.name)?;
        writeln!(out, "description:   {}", a.info.description)?;
        writeln!(out, "parents:       {}", list(&a.info.parents))?;
        writeln!(
            out,
            "children:      {}",
            list(&migrations.graph.children(&id))
        )?;
        writeln!(out, "branch labels: {}", list(&a.info.branch_labels))?;
        writeln!(out, "depends on:    {}", list(&a.info.depends_on))?;
        writeln!(out, "requires:      {}", list(&requires))?;
        writeln!(out, "transactional: {}", a.info.transactional)?;
        writeln!(
            out,
            "artifact:      {} ({} bytes)",
            a.path.display(),
            a.bytes.len()
        )?;
        writeln!(out, "sha256:        {}", a.digest)?;
        writeln!(out, "state:         {state}")?;
    }
    if !found {
        bail!(
            "no revision matches `{revision}` (or the prefix is ambiguous: `retort history` lists them)"
        );
    }
    Ok(())
}

/// `retort status`.
pub(super) async fn status(ctx: &Ctx, out: &mut impl Write) -> anyhow::Result<()> {
    let runner = ctx.runner()?;
    let mut unfinished = Vec::new();
    for db in &ctx.project.databases {
        let lines = runner.status(db).await?;
        let pending = lines
            .iter()
            .filter(|l| l.state == RevisionState::Pending)
            .count();
        writeln!(
            out,
            "{} ({}): {} applied, {pending} pending",
            db.name,
            crate::db::redact(&db.url),
            lines
                .iter()
                .filter(|l| matches!(l.state, RevisionState::Applied | RevisionState::Changed(_)))
                .count()
        )?;
        for l in &lines {
            let state = match &l.state {
                RevisionState::Applied => "applied".to_string(),
                RevisionState::Pending => "pending".to_string(),
                RevisionState::Changed(recorded) => format!(
                    "CHANGED since applied (applied sha256 {}…; see `retort accept-rebuild`)",
                    &recorded[..recorded.len().min(16)]
                ),
                RevisionState::AppliedWithoutArtifact => {
                    "applied (no artifact in the directory)".to_string()
                }
                RevisionState::Unfinished(s) => {
                    unfinished.push((db.name.clone(), l.revision.clone()));
                    format!("UNFINISHED ({})", s.as_str())
                }
            };
            writeln!(out, "  {}  {:<10} {}", l.revision, state, l.description)?;
            if let Some(journal) = &l.journal {
                writeln!(out, "      statements it completed before it stopped:")?;
                for entry in journal.lines() {
                    writeln!(out, "        {entry}")?;
                }
            }
        }
    }
    for (db, rev) in unfinished {
        writeln!(
            out,
            "\n{rev} in `{db}` did not finish: an earlier run stopped after statements that commit implicitly \
                 (listed above, if any). Inspect the schema, then run one of\n  \
                 retort -d {db} resolve {rev} --applied      # its changes are in place\n  \
                 retort -d {db} resolve {rev} --downgrade    # undo them with its downgrade\n  \
                 retort -d {db} resolve {rev} --rolled-back  # its changes are not there"
        )?;
    }
    Ok(())
}
