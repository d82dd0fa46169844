//! Importing sqitch: `sqitch.plan` in DIR, and each change's `deploy/<change>.sql` and
//! `revert/<change>.sql` beside it (`verify/` is not run by a migration runner, so it is not
//! imported).
//!
//! The plan's order is kept; a change's `[dependencies]` become its `depends-on` (a conflict,
//! `!change`, says what must *not* be deployed, which a linear Retort history already
//! guarantees, so it is dropped). sqitch runs a script as the engine's client does, with no
//! transaction of its own: a script wrapped in `BEGIN; … COMMIT;` (sqitch's templates) runs in
//! Retort's one transaction, any other outside one. Refused, named: a change reworked later in
//! the plan (`sqitch rework`), a dependency on another project, and psql meta-commands (`\i`,
//! `\set`), which only psql understands. The registry is adopted from `sqitch.changes`
//! (PostgreSQL's `sqitch` schema, MySQL's `sqitch` database; SQLite keeps it in another file,
//! which Retort does not open).

use std::path::Path;

use crate::authoring::BuildError;

use super::{Imported, Report, id_of, read, words};

/// One change line of a plan.
#[derive(Debug, PartialEq, Eq)]
struct Change {
    name: String,
    requires: Vec<String>,
    note: String,
    line: usize,
}

fn plan(text: &str) -> crate::authoring::Result<(Option<String>, Vec<Change>)> {
    let mut project = None;
    let mut changes: Vec<Change> = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('@') {
            continue;
        }
        if let Some(pragma) = line.strip_prefix('%') {
            if let Some(name) = pragma.trim().strip_prefix("project=") {
                project = Some(name.trim().to_string());
            }
            continue;
        }
        let (body, note) = line.split_once(" # ").unwrap_or((line, ""));
        let name = body
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_string();
        let requires = match (body.find('['), body.find(']')) {
            (Some(open), Some(close)) if open < close => body[open + 1..close]
                .split_whitespace()
                .map(str::to_string)
                .collect(),
            _ => Vec::new(),
        };
        if changes.iter().any(|c| c.name == name) {
            return Err(BuildError::Refused(format!(
                "sqitch.plan, line {}: change `{name}` is reworked (it appears again after a tag): \
                 import the plan up to its first version, then write the rework as a Retort migration",
                n + 1
            )));
        }
        changes.push(Change {
            name,
            requires,
            note: note.trim().to_string(),
            line: n + 1,
        });
    }
    Ok((project, changes))
}

/// The change a `[dependency]` names, or `None` for a conflict (`!change`).
fn dependency(
    token: &str,
    project: Option<&str>,
    line: usize,
) -> crate::authoring::Result<Option<String>> {
    if token.starts_with('!') {
        return Ok(None);
    }
    let local = match token.split_once(':') {
        Some((p, change)) if Some(p) == project => change,
        Some((p, _)) => {
            return Err(BuildError::Refused(format!(
                "sqitch.plan, line {line}: `{token}` depends on project `{p}`: a Retort migration can \
             depend on its own database's revisions only (declare the other project as a database \
             of its own and use `requires`)"
            )));
        }
        None => token,
    };
    // `change@tag` pins a version of a reworked change; reworks are refused, so it is the change.
    let change = local.split_once('@').map_or(local, |(c, _)| c);
    Ok(Some(change.to_string()))
}

/// Refuses psql meta-commands, which no driver runs.
fn check_script(path: &Path, text: &str) -> crate::authoring::Result<()> {
    if let Some((n, line)) = text
        .lines()
        .enumerate()
        .find(|(_, l)| l.trim_start().starts_with('\\'))
    {
        return Err(BuildError::Refused(format!(
            "{}, line {}: `{}` is a psql meta-command, which only psql runs: replace it with SQL",
            path.display(),
            n + 1,
            line.trim()
        )));
    }
    Ok(())
}

/// Adds the changes of the sqitch project in `dir` to `report`, in plan order.
pub(super) fn read_dir(dir: &Path, report: &mut Report) -> crate::authoring::Result<()> {
    let plan_path = dir.join("sqitch.plan");
    let text = read(&plan_path)?;
    let (project, changes) = plan(&text).map_err(|e| e.within(plan_path.display().to_string()))?;
    for change in changes {
        // A change's scripts are files of the project: a name that climbs out of it (`..`) or
        // starts anywhere else (`/etc/x`) would read files the import was not given.
        let inside = std::path::Path::new(&change.name)
            .components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
        if !inside || change.name.contains('\\') {
            return Err(BuildError::Refused(format!(
                "sqitch.plan, line {}: change `{}` names a path outside the project's deploy/ \
                 and revert/ directories; sqitch change names are names, not paths",
                change.line, change.name
            )));
        }
        let deploy = dir.join("deploy").join(format!("{}.sql", change.name));
        let revert = dir.join("revert").join(format!("{}.sql", change.name));
        let up = read(&deploy).map_err(|e| {
            e.within(format!(
                "sqitch.plan, line {}: change `{}`",
                change.line, change.name
            ))
        })?;
        check_script(&deploy, &up)?;
        let down = match revert.is_file() {
            true => read(&revert)?,
            false => String::new(),
        };
        check_script(&revert, &down)?;
        let mut depends_on = Vec::new();
        for token in &change.requires {
            if let Some(d) = dependency(token, project.as_deref(), change.line)? {
                depends_on.push(id_of(&d));
            }
        }
        let mut sources = vec![deploy];
        if revert.is_file() {
            sources.push(revert);
        }
        report.migrations.push(Imported {
            id: id_of(&change.name),
            version: change.name.clone(),
            description: if change.note.is_empty() {
                words(&change.name)
            } else {
                change.note.clone()
            },
            transactional: crate::authoring::guest::wrapped_in_transaction(&up),
            up,
            down,
            sources,
            variants: Default::default(),
            depends_on,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_change_cannot_name_a_file_outside_the_project() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("secret.sql");
        std::fs::write(&outside, "DROP TABLE everything;").unwrap();
        let project = dir.path().join("p");
        std::fs::create_dir_all(project.join("deploy")).unwrap();
        for name in ["../../secret", "../secret", "/etc/passwd"] {
            std::fs::write(
                project.join("sqitch.plan"),
                format!("%project=p\n{name} 2020-01-01T00:00:00Z a <a@b> # x\n"),
            )
            .unwrap();
            let mut report = super::Report::default();
            let err = super::read_dir(&project, &mut report)
                .unwrap_err()
                .to_string();
            assert!(err.contains("outside the project"), "{name}: {err}");
            assert!(report.migrations.is_empty());
        }
    }

    use super::*;

    #[test]
    fn a_plan_reads_changes_dependencies_and_notes_and_refuses_reworks() {
        let (project, changes) = plan(
            "%syntax-version=1.0.0\n%project=flipr\n\n\
             appschema 2013-12-30T23:19:45Z Marge <m@example.com> # Add schema.\n\
             users [appschema] 2013-12-30T23:20:41Z Marge <m@example.com> # Track users.\n\
             @v1.0 2013-12-31T00:00:00Z Marge <m@example.com> # Tag.\n\
             flips [users !old flipr:appschema] 2014-01-01T00:00:00Z Marge <m@example.com>\n",
        )
        .unwrap();
        assert_eq!(project.as_deref(), Some("flipr"));
        let names: Vec<&str> = changes.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["appschema", "users", "flips"]);
        assert_eq!(changes[1].note, "Track users.");
        assert_eq!(changes[2].requires, ["users", "!old", "flipr:appschema"]);
        let deps: Vec<Option<String>> = changes[2]
            .requires
            .iter()
            .map(|t| dependency(t, Some("flipr"), 6).unwrap())
            .collect();
        assert_eq!(deps, [Some("users".into()), None, Some("appschema".into())]);
        assert!(dependency("other:x", Some("flipr"), 6).is_err());
        let e = plan("a 2013-12-30T23:19:45Z M <m@x> # A\n@v1 2013-12-31T00:00:00Z M <m@x>\na 2014-01-01T00:00:00Z M <m@x>\n")
            .unwrap_err();
        assert!(e.to_string().contains("reworked"), "{e}");
        assert!(check_script(Path::new("d.sql"), "BEGIN;\n\\i other.sql\nCOMMIT;\n").is_err());
    }
}
