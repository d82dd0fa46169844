//! Importing an Alembic history (`versions/*.py`), read statically: nothing of the user's
//! code runs at import. Each revision file gives its `revision`, `down_revision` (a tuple for a
//! merge), `branch_labels`, `depends_on` and docstring; each becomes one Python migration,
//! `<revision>_<slug>.py`, holding the file as written and, at its end, the call that
//! places it in the graph. Its `op` and `sa` are Retort's layer (`retort_alembic`, shipped
//! inside the artifact), which carries Alembic's operations out as portable schema operations.
//!
//! What cannot run in a sandbox is refused here, with the file, the line and what to do: an
//! import of the application's modules (a migration freezes its own model copies), ORM
//! sessions, `context.config`, the environment, files and the network.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use crate::authoring::BuildError;
use crate::authoring::error::io;

use super::{file_name, id_of};

/// One Alembic revision, read from its file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Revision {
    /// Alembic's revision id (what `alembic_version` holds).
    pub revision: String,
    /// Its parents' revision ids (none for a root, several for a merge).
    pub down_revisions: Vec<String>,
    /// Its branch labels.
    pub branch_labels: Vec<String>,
    /// The revisions (or labels) it depends on besides its parents.
    pub depends_on: Vec<String>,
    /// The first line of its docstring (Alembic's message).
    pub description: String,
    /// The file.
    pub source: PathBuf,
    /// The file's text.
    pub text: String,
}

/// Module roots an imported revision may use: Alembic and SQLAlchemy (Retort's layer) and
/// the standard library's pure modules.
const ALLOWED: [&str; 19] = [
    "alembic",
    "sqlalchemy",
    "__future__",
    "typing",
    "typing_extensions",
    "datetime",
    "decimal",
    "uuid",
    "json",
    "re",
    "math",
    "enum",
    "dataclasses",
    "collections",
    "itertools",
    "functools",
    "textwrap",
    "string",
    "operator",
];

/// Reads the revisions of an Alembic project (`dir`, its `versions/` or an `alembic.ini`'s
/// directory's `versions/`), in graph order (parents first, then by revision id). Refuses, with
/// every finding, files that would not run in a sandbox.
pub fn read_dir(dir: &Path) -> crate::authoring::Result<Vec<Revision>> {
    let versions = [dir.join("versions"), dir.join("alembic/versions")]
        .into_iter()
        .find(|d| d.is_dir())
        .unwrap_or_else(|| dir.to_path_buf());
    let mut revisions = Vec::new();
    let mut findings = Vec::new();
    for path in super::entries(&versions)? {
        let name = file_name(&path);
        if !name.ends_with(".py") || name.starts_with("__") || !path.is_file() {
            continue;
        }
        let text = super::read(&path)?;
        let shown = path.display().to_string();
        findings.extend(
            refusals(&text)
                .into_iter()
                .map(|(line, what)| format!("{shown}:{line}: {what}")),
        );
        revisions.push(parse(&text, &path)?);
    }
    if !findings.is_empty() {
        return Err(BuildError::Refused(format!(
            "{} line(s) of the Alembic history cannot run in a migration's sandbox; nothing \
             was imported:\n  {}",
            findings.len(),
            findings.join("\n  ")
        )));
    }
    order(revisions, &versions)
}

/// Parents first; among revisions ready together, by revision id.
fn order(revisions: Vec<Revision>, dir: &Path) -> crate::authoring::Result<Vec<Revision>> {
    let mut by_id: BTreeMap<String, Revision> = BTreeMap::new();
    for r in revisions {
        if let Some(other) = by_id.get(&r.revision) {
            return Err(BuildError::Refused(format!(
                "{} and {} both declare revision {}",
                other.source.display(),
                r.source.display(),
                r.revision
            )));
        }
        by_id.insert(r.revision.clone(), r);
    }
    for r in by_id.values() {
        if let Some(missing) = r.down_revisions.iter().find(|p| !by_id.contains_key(*p)) {
            return Err(BuildError::Invalid {
                file: r.source.display().to_string(),
                message: format!(
                    "its down_revision {missing} is not a revision in {}",
                    dir.display()
                ),
            });
        }
    }
    let mut done: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    while out.len() < by_id.len() {
        let ready: Vec<String> = by_id
            .values()
            .filter(|r| !done.contains(&r.revision))
            .filter(|r| r.down_revisions.iter().all(|p| done.contains(p)))
            .map(|r| r.revision.clone())
            .collect();
        if ready.is_empty() {
            let left: Vec<&str> = by_id
                .keys()
                .filter(|k| !done.contains(*k))
                .map(String::as_str)
                .collect();
            return Err(BuildError::Refused(format!(
                "the revisions {} form a cycle",
                left.join(", ")
            )));
        }
        for id in ready {
            done.insert(id.clone());
            out.push(by_id[&id].clone());
        }
    }
    Ok(out)
}

/// Reads one revision file's identifiers and docstring.
fn parse(text: &str, path: &Path) -> crate::authoring::Result<Revision> {
    let invalid = |message: String| BuildError::Invalid {
        file: path.display().to_string(),
        message,
    };
    let value = |name: &str| -> crate::authoring::Result<Option<Literal>> {
        match assignment(text, name) {
            None => Ok(None),
            Some(rest) => literal(rest).map(Some).ok_or_else(|| {
                invalid(format!(
                    "`{name}` is not a string, a tuple of strings or None"
                ))
            }),
        }
    };
    let revision = match value("revision")? {
        Some(Literal::Strings(mut s)) if s.len() == 1 => s.remove(0),
        _ => {
            return Err(invalid(
                "no `revision = \"…\"`: not an Alembic revision file".into(),
            ));
        }
    };
    let strings = |l: Option<Literal>| match l {
        Some(Literal::Strings(s)) => s,
        _ => Vec::new(),
    };
    let down_revisions = strings(value("down_revision")?);
    let branch_labels = strings(value("branch_labels")?);
    let depends_on = strings(value("depends_on")?);
    let description = docstring(text)
        .and_then(|d| {
            d.lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_string)
        })
        .unwrap_or_else(|| {
            let stem = file_name(path);
            let stem = stem.trim_end_matches(".py");
            let words = stem.strip_prefix(&revision).unwrap_or(stem);
            super::words(words)
        });
    Ok(Revision {
        revision,
        down_revisions,
        branch_labels,
        depends_on,
        description,
        source: path.to_path_buf(),
        text: text.to_string(),
    })
}

/// The text after `name =` (or `name: T =`) of a top-level assignment.
fn assignment<'a>(text: &'a str, name: &str) -> Option<&'a str> {
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if let Some(rest) = line.strip_prefix(name) {
            let rest = rest.trim_start();
            let rest = match rest.strip_prefix(':') {
                // An annotation: `revision: str = "…"`, `down_revision: Union[str, None] = …`.
                Some(annotated) => annotated.split_once('=').map(|(_, v)| v),
                None => rest.strip_prefix('=').filter(|v| !v.starts_with('=')),
            };
            if let Some(value) = rest {
                let start = at + line.len() - value.len();
                return Some(&text[start..]);
            }
        }
        at += line.len();
    }
    None
}

/// A literal an identifier is assigned.
#[derive(Debug, PartialEq)]
enum Literal {
    None,
    Strings(Vec<String>),
}

/// `None`, a string, or a tuple/list of strings (across lines), at the start of `text`.
fn literal(text: &str) -> Option<Literal> {
    let text = text.trim_start_matches([' ', '\t']);
    if text.starts_with("None") {
        return Some(Literal::None);
    }
    let (open, close) = match text.chars().next()? {
        '(' => ('(', ')'),
        '[' => ('[', ']'),
        _ => return string_at(text).map(|(s, _)| Literal::Strings(vec![s])),
    };
    let mut rest = &text[open.len_utf8()..];
    let mut out = Vec::new();
    loop {
        rest = rest.trim_start_matches(|c: char| c.is_whitespace() || c == ',');
        if let Some(after) = rest.strip_prefix(close) {
            let _ = after;
            return Some(Literal::Strings(out));
        }
        let (s, used) = string_at(rest)?;
        out.push(s);
        rest = &rest[used..];
    }
}

/// The string literal at the start of `text` (single or double quotes, an `r`/`u` prefix,
/// simple escapes) and the bytes it spans.
fn string_at(text: &str) -> Option<(String, usize)> {
    let prefix = text.len() - text.trim_start_matches(['r', 'u', 'R', 'U']).len();
    let body = &text[prefix..];
    let quote = body.chars().next().filter(|c| *c == '"' || *c == '\'')?;
    let mut out = String::new();
    let mut chars = body[1..].char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '\\' => {
                if let Some((_, next)) = chars.next() {
                    out.push(next);
                }
            }
            c if c == quote => return Some((out, prefix + 1 + i + 1)),
            '\n' => return None,
            c => out.push(c),
        }
    }
    None
}

/// The module docstring: the first statement, when it is a string.
fn docstring(text: &str) -> Option<String> {
    let body = text
        .lines()
        .skip_while(|l| l.trim().is_empty() || l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let body = body.trim_start();
    for quote in ["\"\"\"", "'''"] {
        if let Some(rest) = body.strip_prefix(quote) {
            return rest.split_once(quote).map(|(d, _)| d.to_string());
        }
    }
    string_at(body).map(|(s, _)| s)
}

/// Each line of `text` (1-based) whose code cannot run in a sandbox, with what to do.
fn refusals(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, code) in code_lines(text) {
        let line = n + 1;
        let trimmed = code.trim();
        if let Some(modules) = imported_modules(trimmed) {
            for module in modules {
                if let Some(why) = refused_module(&module, trimmed) {
                    out.push((line, why));
                }
            }
            continue;
        }
        let patterns: [(&str, &str); 6] = [
            (
                "context.config",
                "reads Alembic's `context.config` (alembic.ini, the command line): a \
                 migration's settings are its own; write the values into the file",
            ),
            (
                "os.environ",
                "reads the environment, which a sandboxed migration has none of: write the \
                 value into the migration",
            ),
            (
                "os.getenv",
                "reads the environment, which a sandboxed migration has none of: write the \
                 value into the migration",
            ),
            (
                "open(",
                "opens a file, which a sandboxed migration cannot: put the data in the \
                 migration (or a directory capability, docs/code-migrations.md)",
            ),
            (
                "Session(",
                "opens an ORM session over the application's models: query through \
                 `op.get_bind().execute(sa.text(...))` with the columns this revision knows",
            ),
            (
                "sessionmaker",
                "makes ORM sessions over the application's models: query through \
                 `op.get_bind().execute(sa.text(...))` with the columns this revision knows",
            ),
        ];
        for (pattern, why) in patterns {
            let found = code.match_indices(pattern).any(|(at, _)| {
                // `open(` as a name, not `reopen(` or `x.open(`… of an allowed object.
                pattern != "open("
                    || at == 0
                    || !code[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_' || c == '.')
            });
            if found {
                out.push((line, format!("`{pattern}`: {why}")));
            }
        }
    }
    out
}

/// The modules an `import` / `from … import` statement names (roots and full names), or
/// `None` for another statement.
fn imported_modules(statement: &str) -> Option<Vec<String>> {
    if let Some(rest) = statement.strip_prefix("from ") {
        let (module, names) = rest.split_once(" import ")?;
        let module = module.trim();
        if module == "alembic" {
            // `from alembic import op` is the layer; `context` is the environment.
            return Some(
                names
                    .split(',')
                    .map(|n| {
                        format!(
                            "alembic.{}",
                            n.split_whitespace()
                                .next()
                                .unwrap_or("")
                                .trim_matches(['(', ')'])
                        )
                    })
                    .collect(),
            );
        }
        return Some(vec![module.to_string()]);
    }
    let rest = statement.strip_prefix("import ")?;
    Some(
        rest.split(',')
            .map(|m| m.split_whitespace().next().unwrap_or("").to_string())
            .collect(),
    )
}

fn refused_module(module: &str, statement: &str) -> Option<String> {
    let root = module.split('.').next().unwrap_or(module);
    if module == "alembic.context" {
        return Some(format!(
            "`{statement}`: Alembic's `context` is its environment (configuration, the \
             connection, offline mode), which Retort owns: use `op` and `op.get_bind()`"
        ));
    }
    if module == "sqlalchemy.orm"
        || module.starts_with("sqlalchemy.orm.")
        || module == "sqlalchemy.ext"
        || module.starts_with("sqlalchemy.ext.")
    {
        return Some(format!(
            "`{statement}`: the ORM works through the application's models, which change \
             after this revision: declare the columns this revision knows with `sa.table` / \
             `sa.column` and use `op.get_bind().execute(...)` (a frozen model, \
             docs/alembic.md)"
        ));
    }
    if module.starts_with('.') || !ALLOWED.contains(&root) {
        return Some(format!(
            "`{statement}` imports `{module}`, which is not in the migration: the application's \
             modules (and the network, files, processes) are not in a migration's sandbox, and \
             a revision that uses today's models breaks when they change. Copy what it needs \
             into the revision: the columns it reads as `sa.table(\"name\", sa.column(\"id\"), \
             …)`, constants as values (a frozen model, docs/alembic.md)"
        ));
    }
    None
}

/// The lines of `text` with strings' contents and comments blanked (triple-quoted strings
/// across lines too), numbered from 0: what the refusals look at.
fn code_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut in_triple: Option<&str> = None;
    for (n, line) in text.lines().enumerate() {
        let mut code = String::new();
        let mut rest = line;
        loop {
            if let Some(q) = in_triple {
                match rest.find(q) {
                    Some(end) => {
                        rest = &rest[end + 3..];
                        in_triple = None;
                        code.push_str("\"\"");
                    }
                    None => break,
                }
            }
            let Some(at) = rest.find(['"', '\'', '#']) else {
                code.push_str(rest);
                break;
            };
            code.push_str(&rest[..at]);
            let c = rest.as_bytes()[at];
            if c == b'#' {
                break;
            }
            let triple = if c == b'"' { "\"\"\"" } else { "'''" };
            if rest[at..].starts_with(triple) {
                in_triple = Some(triple);
                rest = &rest[at + 3..];
                continue;
            }
            match string_at(&rest[at..]) {
                Some((_, used)) => {
                    code.push_str("\"\"");
                    rest = &rest[at + used..];
                }
                None => break,
            }
        }
        out.push((n, code));
    }
    out
}

/// The schema an Alembic history starts from when its first revision did not make it (the
/// cookbook's `metadata.create_all()` and `alembic stamp head`): a SQL dump, written as the
/// root SQL migration [`BASELINE_ID`], whose children are the history's roots.
#[derive(Clone, Debug)]
pub struct Baseline {
    /// The dump.
    pub source: PathBuf,
    /// Its SQL.
    pub sql: String,
}

/// The revision id of the baseline: before every Alembic revision, and no Alembic id (those are
/// 12 hexadecimal digits drawn at random; this one is refused if a history has it).
pub const BASELINE_ID: &str = "000000000000";

impl Baseline {
    /// Reads the dump at `path`.
    pub fn read(path: &Path) -> crate::authoring::Result<Baseline> {
        Ok(Baseline {
            source: path.to_path_buf(),
            sql: super::read(path)?,
        })
    }
}

/// Writes each revision as a Python migration `<revision>_<slug>.py` into `into`: the file as
/// written, then the call that gives Retort its id, parents, labels and description; with a
/// `baseline`, first the baseline (the roots' parent). Returns the files, the baseline's
/// upgrade first.
pub fn write(
    into: &Path,
    revisions: &[Revision],
    baseline: Option<&Baseline>,
) -> crate::authoring::Result<Vec<PathBuf>> {
    std::fs::create_dir_all(into).map_err(io("create", &into))?;
    let mut written = Vec::new();
    if let Some(b) = baseline {
        if revisions.iter().any(|r| r.revision == BASELINE_ID) {
            return Err(BuildError::Refused(format!(
                "the history has a revision {BASELINE_ID}, the baseline's id: import it without \
                 --baseline"
            )));
        }
        let up = into.join(format!("{BASELINE_ID}_baseline.up.sql"));
        let down = into.join(format!("{BASELINE_ID}_baseline.down.sql"));
        super::not_overwriting(&[&up, &down])?;
        let header = format!(
            "-- retort: parents = none\n-- retort: description = baseline: the schema the \
             Alembic history starts from\n-- imported from {} (retort import --from alembic \
             --baseline)\n",
            file_name(&b.source)
        );
        std::fs::write(&up, format!("{header}{}", b.sql)).map_err(io("write", &up))?;
        // No downgrade: dropping the whole schema is not what "below the first revision"
        // should do to a database that was adopted.
        std::fs::write(&down, "").map_err(io("write", &down))?;
        written.push(up);
    }
    for r in revisions {
        let slug = crate::authoring::scaffold::slug(&r.description);
        let id = id_of(&r.revision);
        let stem = match slug.is_empty() {
            true => id.clone(),
            false => format!("{id}_{slug}"),
        };
        let path = into.join(format!("{stem}.py"));
        super::not_overwriting(&[&path])?;
        let list = |items: &[String], map: fn(&str) -> String| {
            items
                .iter()
                .map(|i| format!("{:?}", map(i)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let text = format!(
            "# Imported from Alembic: {file} (revision {rev}). Its code runs as written on \
             Retort's\n# Alembic layer (`op` and `sa` carried out as portable schema \
             operations, docs/alembic.md).\n{body}{newline}\n\n# ---- retort: this revision's \
             place in the graph (written by `retort import --from alembic`)\nimport \
             retort_alembic as _retort_alembic  # noqa: E402\n\nWitWorld = \
             _retort_alembic.revision(\n    globals(),\n    id={id:?},\n    parents=[{parents}],\n    \
             description={description:?},\n    branch_labels=[{labels}],\n    \
             depends_on=[{depends}],\n)\n",
            file = file_name(&r.source),
            rev = r.revision,
            body = r.text,
            newline = if r.text.ends_with('\n') { "" } else { "\n" },
            parents = match (r.down_revisions.is_empty(), baseline) {
                (true, Some(_)) => format!("{BASELINE_ID:?}"),
                _ => list(&r.down_revisions, id_of),
            },
            description = r.description,
            labels = list(&r.branch_labels, str::to_string),
            depends = list(&r.depends_on, id_of),
        );
        std::fs::write(&path, text).map_err(io("write", &path))?;
        written.push(path);
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MERGE: &str = r#""""merge the two heads

Revision ID: c3
Revises: a1, b2
Create Date: 2026-01-01 00:00:00
"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa
from sqlalchemy.dialects import mysql

# revision identifiers, used by Alembic.
revision: str = 'c3'
down_revision: Union[str, Sequence[str], None] = (
    'a1',
    "b2",
)
branch_labels = None
depends_on = ('x9',)


def upgrade():
    op.execute("SELECT 'open(' -- os.environ")


def downgrade():
    pass
"#;

    #[test]
    fn a_revision_file_is_read_statically() {
        let r = parse(MERGE, Path::new("versions/c3_merge.py")).unwrap();
        assert_eq!(r.revision, "c3");
        assert_eq!(r.down_revisions, ["a1", "b2"]);
        assert_eq!(r.branch_labels, Vec::<String>::new());
        assert_eq!(r.depends_on, ["x9"]);
        assert_eq!(r.description, "merge the two heads");
        assert_eq!(
            refusals(MERGE),
            Vec::new(),
            "strings and comments are not code"
        );
        assert_eq!(literal("None\n"), Some(Literal::None));
        assert_eq!(
            literal("['a', 'b']"),
            Some(Literal::Strings(vec!["a".into(), "b".into()]))
        );
        assert_eq!(assignment("revision = 'x'\n", "down_revision"), None);
        assert_eq!(assignment("revisions == 'x'\n", "revision"), None);
    }

    #[test]
    fn what_cannot_run_in_a_sandbox_is_refused_with_its_line() {
        let text = "from alembic import op, context\nimport sqlalchemy as sa\nfrom app.models.user import User\nfrom sqlalchemy.orm import Session\nimport os\nx = os.environ['A']\ndata = open('seed.csv').read()\nurl = context.config.get_main_option('u')\nimport requests\n";
        let found = refusals(text);
        let lines: Vec<usize> = found.iter().map(|(l, _)| *l).collect();
        assert_eq!(lines, [1, 3, 4, 5, 6, 7, 8, 9], "{found:#?}");
        assert!(found[1].1.contains("app.models.user") && found[1].1.contains("frozen model"));
        assert!(found[2].1.contains("ORM"));
        assert!(found[4].1.contains("environment"));
        assert!(found[5].1.contains("opens a file"));
    }

    #[test]
    fn revisions_are_ordered_parents_first_and_broken_graphs_refused() {
        let rev = |id: &str, parents: &[&str]| Revision {
            revision: id.into(),
            down_revisions: parents.iter().map(|p| p.to_string()).collect(),
            branch_labels: vec![],
            depends_on: vec![],
            description: String::new(),
            source: PathBuf::from(format!("{id}.py")),
            text: String::new(),
        };
        let ordered = order(
            vec![
                rev("m", &["b", "a"]),
                rev("b", &["r"]),
                rev("a", &["r"]),
                rev("r", &[]),
            ],
            Path::new("v"),
        )
        .unwrap();
        let ids: Vec<&str> = ordered.iter().map(|r| r.revision.as_str()).collect();
        assert_eq!(ids, ["r", "a", "b", "m"]);
        assert!(order(vec![rev("a", &["gone"])], Path::new("v")).is_err());
        assert!(order(vec![rev("a", &["b"]), rev("b", &["a"])], Path::new("v")).is_err());
    }
}
