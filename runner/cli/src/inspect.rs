//! Read-only commands: current, history, heads, branches, show, status. None of them creates
//! or changes anything.

use std::io::Write;

use anyhow::{Context, bail};
use serde_json::json;

use super::Ctx;
use super::print::{description, labels_of};
use retort::run::RevisionState;

/// `retort current`.
pub(super) async fn current(ctx: &Ctx, out: &mut impl Write) -> anyhow::Result<()> {
    let runner = ctx.runner()?;
    let mut documents = Vec::new();
    for db in &ctx.project.databases {
        let current = runner.current(db).await?;
        if ctx.json {
            let revisions: Vec<serde_json::Value> = current
                .iter()
                .map(|c| json!({"revision": c.revision, "description": c.description, "head": c.head}))
                .collect();
            documents.push(json!({"database": db.name, "current": revisions}));
            continue;
        }
        if current.is_empty() {
            writeln!(out, "{}: base (nothing applied)", db.name)?;
        }
        for c in current {
            let head = if c.head { " (head)" } else { "" };
            writeln!(out, "{}: {}{head}  {}", db.name, c.revision, c.description)?;
        }
    }
    if ctx.json {
        super::json::emit(out, "current", json!({ "databases": documents }))?;
    }
    Ok(())
}

/// `retort history [-v]`.
pub(super) async fn history(ctx: &Ctx, out: &mut impl Write, verbose: bool) -> anyhow::Result<()> {
    let runner = ctx.runner()?;
    let mut documents = Vec::new();
    for db in &ctx.project.databases {
        let migrations = runner.load(db).await?;
        let history = runner.history(db).await?;
        if ctx.json {
            documents.push(history_json(db, &migrations, &history));
            continue;
        }
        writeln!(out, "{} ({}):", db.name, retort::db::redact(&db.url))?;
        let heads = migrations.graph.heads();
        for row in super::render::rows(&migrations.graph, |id| {
            match history.iter().find(|r| r.revision == id) {
                Some(r) if r.state == retort::db::RowState::Applied => '*',
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
    if ctx.json {
        super::json::emit(out, "history", json!({ "databases": documents }))?;
    }
    Ok(())
}

/// `retort heads`.
pub(super) async fn heads(ctx: &Ctx, out: &mut impl Write) -> anyhow::Result<()> {
    let runner = ctx.runner()?;
    let mut documents = Vec::new();
    for db in &ctx.project.databases {
        let migrations = runner.load(db).await?;
        let heads = migrations.graph.heads();
        if ctx.json {
            let heads: Vec<serde_json::Value> = heads
                .iter()
                .map(|h| {
                    json!({
                        "revision": h,
                        "description": description(&migrations, h),
                        "branch_labels": migrations.get(h).map(|a| a.info.branch_labels.clone()),
                    })
                })
                .collect();
            documents.push(json!({"database": db.name, "heads": heads}));
            continue;
        }
        for head in heads {
            writeln!(
                out,
                "{}: {head}{}  {}",
                db.name,
                labels_of(&migrations, &head),
                description(&migrations, &head)
            )?;
        }
    }
    if ctx.json {
        super::json::emit(out, "heads", json!({ "databases": documents }))?;
    }
    Ok(())
}

/// `retort branches`.
pub(super) async fn branches(ctx: &Ctx, out: &mut impl Write) -> anyhow::Result<()> {
    let runner = ctx.runner()?;
    let mut documents = Vec::new();
    for db in &ctx.project.databases {
        let migrations = runner.load(db).await?;
        let points = migrations.graph.branch_points();
        if ctx.json {
            let points: Vec<serde_json::Value> = points
                .iter()
                .map(|(id, children)| json!({"revision": id, "children": children}))
                .collect();
            documents.push(json!({
                "database": db.name,
                "branch_points": points,
                "labels": migrations.graph.labels(),
            }));
            continue;
        }
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
    if ctx.json {
        super::json::emit(out, "branches", json!({ "databases": documents }))?;
    }
    Ok(())
}

/// The revision `revision` names in `db`'s graph; an ambiguous prefix adds its candidates to
/// `ambiguous` (named by database when the project has several).
fn matching(
    ctx: &Ctx,
    db: &retort::project::DatabaseConfig,
    migrations: &retort::run::Migrations,
    revision: &str,
    ambiguous: &mut Vec<String>,
) -> Option<String> {
    match retort::core::plan::find_revision(&migrations.graph, revision) {
        Ok(id) => Some(id),
        Err(e @ retort::core::plan::PlanError::Ambiguous { .. }) => {
            ambiguous.push(if ctx.project.databases.len() > 1 {
                format!("{}: {e}", db.name)
            } else {
                e.to_string()
            });
            None
        }
        Err(_) => None,
    }
}

/// `retort show REV`.
pub(super) async fn show(ctx: &Ctx, out: &mut impl Write, revision: String) -> anyhow::Result<()> {
    let runner = ctx.runner()?;
    let mut found = false;
    let mut ambiguous = Vec::new();
    let mut documents = Vec::new();
    for db in &ctx.project.databases {
        let migrations = runner.load(db).await?;
        let Some(id) = matching(ctx, db, &migrations, &revision, &mut ambiguous) else {
            continue;
        };
        found = true;
        let a = migrations.get(&id).expect("resolved ids have artifacts");
        // An unreadable database says so: "not applied" would be a guess.
        let history = runner.history(db).await;
        let state = match &history {
            Err(e) => format!("unknown: the database's history cannot be read ({e})"),
            Ok(history) => history
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
                .unwrap_or_else(|| "not applied".into()),
        };
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
        if ctx.json {
            let applied = history.as_ref().ok().and_then(|history| {
                history.iter().find(|r| r.revision == id).map(|r| {
                    json!({"state": r.state.as_str(), "applied_at": r.applied_at,
                           "applied_by": r.applied_by, "digest": r.digest, "signer": r.signer})
                })
            });
            // `applied: null` means "not applied" only when the history could be read.
            let history_error = history.as_ref().err().map(|e| e.to_string());
            documents.push(json!({
                "revision": id,
                "database": db.name,
                "history_error": history_error,
                "description": a.info.description,
                "parents": a.info.parents,
                "children": migrations.graph.children(&id),
                "branch_labels": a.info.branch_labels,
                "depends_on": a.info.depends_on,
                "requires": requires,
                "transactional": a.info.transactional,
                "artifact": a.path.display().to_string(),
                "size": a.bytes.len(),
                "sha256": a.digest,
                "signer": a.signer,
                "applied": applied,
            }));
            continue;
        }
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
        if !ambiguous.is_empty() {
            bail!("{}; give more of the id", ambiguous.join("; "));
        }
        bail!("no revision matches `{revision}` (`retort history` lists them)");
    }
    if ctx.json {
        super::json::emit(out, "show", json!({ "revisions": documents }))?;
    }
    Ok(())
}

/// `retort show REV --artifact -o FILE`: the applied artifact, from the database.
pub(super) async fn extract(
    ctx: &Ctx,
    out: &mut impl Write,
    revision: String,
    file: &std::path::Path,
) -> anyhow::Result<()> {
    let db = ctx.one_database()?;
    let Some((row, bytes)) = ctx
        .runner()?
        .maintenance()
        .applied_artifact(db, &revision)
        .await?
    else {
        bail!(
            "no revision matching `{revision}` is applied to `{}` (a pending migration's \
             artifact is the file in {})",
            db.name,
            ctx.shown(&db.migrations)
        );
    };
    let digest = retort::source::artifact::digest(&bytes);
    if digest != row.digest {
        bail!(
            "the artifact stored for {} has sha256 {digest}, not the {} recorded when it was \
             applied: retort_artifacts was changed outside Retort; nothing written",
            row.revision,
            row.digest
        );
    }
    std::fs::write(file, &bytes).with_context(|| format!("cannot write {}", file.display()))?;
    writeln!(
        out,
        "wrote {} ({} bytes): the artifact of {} ({}) applied at {}, sha256 {digest}",
        ctx.shown(file),
        bytes.len(),
        row.revision,
        row.description,
        row.applied_at
    )?;
    Ok(())
}

/// `retort status [--exit-code]`.
pub(super) async fn status(ctx: &Ctx, out: &mut impl Write, exit_code: bool) -> anyhow::Result<()> {
    let runner = ctx.runner()?;
    let mut unfinished = Vec::new();
    let mut documents = Vec::new();
    let mut verdict = 0u8;
    let mut edited_notes = Vec::new();
    let several = ctx.project.databases.len() > 1;
    for db in &ctx.project.databases {
        let lines = runner.status(db).await?;
        let migrations = runner.load(db).await?;
        let edited = retort::run::edited_sources(db, &migrations);
        let pending = lines
            .iter()
            .filter(|l| l.state == RevisionState::Pending)
            .count();
        let applied = lines
            .iter()
            .filter(|l| matches!(l.state, RevisionState::Applied | RevisionState::Changed(_)))
            .count();
        for l in &lines {
            verdict = verdict.max(match &l.state {
                RevisionState::Pending => 3,
                RevisionState::Unfinished(_) | RevisionState::Changed(_) => 4,
                _ => 0,
            });
        }
        if ctx.json {
            documents.push(status_json(db, &lines, applied, pending));
            continue;
        }
        writeln!(
            out,
            "{} ({}): {applied} applied, {pending} pending",
            db.name,
            retort::db::redact(&db.url),
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
            let source = edited.iter().find(|(rev, _)| rev == &l.revision);
            let state = match (source, &l.state) {
                (Some((rev, path)), RevisionState::Applied | RevisionState::Unfinished(_)) => {
                    edited_notes.push(edited_note(
                        ctx,
                        db,
                        several,
                        &migrations,
                        rev,
                        path,
                        &l.state,
                    ));
                    format!("{state} (source edited since)")
                }
                _ => state,
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
    if ctx.json {
        super::json::emit(out, "status", serde_json::json!({ "databases": documents }))?;
    }
    for note in edited_notes {
        writeln!(out, "\n{note}")?;
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
    if exit_code && verdict != 0 {
        return Err(super::Exit(verdict).into());
    }
    Ok(())
}

/// What `status` says of an applied or unfinished revision whose source changed since its
/// artifact was built: the edit has not run, and the commands that would run it.
fn edited_note(
    ctx: &Ctx,
    db: &retort::project::DatabaseConfig,
    several: bool,
    migrations: &retort::run::Migrations,
    revision: &str,
    source: &std::path::Path,
    state: &RevisionState,
) -> String {
    let retort = if several {
        format!("retort -d {}", db.name)
    } else {
        "retort".to_string()
    };
    let shown = ctx.shown(source);
    if let RevisionState::Unfinished(_) = state {
        return format!(
            "{revision}: {shown} changed since the run that left it unfinished; that run's \
             build is what `resolve` uses. To settle it with the edited source:\n  \
             {retort} build && {retort} accept-rebuild {revision}   # then `resolve`, below"
        );
    }
    let below = migrations
        .get(revision)
        .and_then(|a| a.info.parents.first().cloned())
        .unwrap_or_else(|| "base".to_string());
    format!(
        "{revision} is applied as it was built before {shown} changed: the edit has not run, \
         and `status`, `downgrade` and `check` use what was applied.\n  \
         to apply the edit:  {retort} downgrade {below} && {retort} upgrade   \
         # reverts {revision} as applied{}, then runs the edit\n  \
         to keep what ran:   undo the edit",
        if below == "base" {
            " (and every other revision)"
        } else {
            " and what followed it"
        }
    )
}

fn status_json(
    db: &retort::project::DatabaseConfig,
    lines: &[retort::run::StatusLine],
    applied: usize,
    pending: usize,
) -> serde_json::Value {
    let revisions: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| {
            let (state, detail) = match &l.state {
                RevisionState::Applied => ("applied", None),
                RevisionState::Pending => ("pending", None),
                RevisionState::Changed(recorded) => ("changed", Some(recorded.clone())),
                RevisionState::AppliedWithoutArtifact => ("applied-without-artifact", None),
                RevisionState::Unfinished(s) => ("unfinished", Some(s.as_str().to_string())),
            };
            serde_json::json!({
                "revision": l.revision,
                "description": l.description,
                "state": state,
                "applied_digest": if state == "changed" { detail.clone() } else { None },
                "unfinished": if state == "unfinished" { detail } else { None },
                "journal": l.journal.as_ref().map(|j| j.lines().collect::<Vec<_>>()),
            })
        })
        .collect();
    serde_json::json!({
        "database": db.name,
        "url": retort::db::redact(&db.url),
        "applied": applied,
        "pending": pending,
        "revisions": revisions,
    })
}

/// Every revision of the graph in order, with its history row when it has one, and the rows
/// no artifact defines.
fn history_json(
    db: &retort::project::DatabaseConfig,
    migrations: &retort::run::Migrations,
    history: &[retort::db::HistoryRow],
) -> serde_json::Value {
    let row_json = |r: &retort::db::HistoryRow| {
        json!({
            "state": r.state.as_str(),
            "applied_at": r.applied_at,
            "applied_by": r.applied_by,
            "duration_ms": r.duration_ms,
            "digest": r.digest,
            "signer": r.signer,
            "notes": r.notes.as_ref().map(|n| n.lines().collect::<Vec<_>>()),
        })
    };
    let heads = migrations.graph.heads();
    let mut revisions: Vec<serde_json::Value> = migrations
        .graph
        .order()
        .iter()
        .map(|id| {
            let a = migrations.get(id);
            json!({
                "revision": id,
                "description": description(migrations, id),
                "parents": a.map(|a| a.info.parents.clone()),
                "branch_labels": a.map(|a| a.info.branch_labels.clone()),
                "head": heads.contains(id),
                "applied": history.iter().find(|r| &r.revision == id).map(row_json),
            })
        })
        .collect();
    for r in history
        .iter()
        .filter(|r| !migrations.graph.contains(&r.revision))
    {
        revisions.push(json!({
            "revision": r.revision,
            "description": r.description,
            "parents": r.parents,
            "artifact_missing": true,
            "applied": row_json(r),
        }));
    }
    json!({
        "database": db.name,
        "url": retort::db::redact(&db.url),
        "revisions": revisions,
    })
}
