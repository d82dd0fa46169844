//! `retort new`: a new Rust migration crate with its id and parents filled in.

use std::path::{Path, PathBuf};

/// What `new` created.
#[derive(Debug)]
pub struct Scaffolded {
    /// The new revision id.
    pub id: String,
    /// Its parents.
    pub parents: Vec<String>,
    /// The crate directory.
    pub dir: PathBuf,
}

/// `"Add e-mail to Users!"` → `add_e_mail_to_users`.
pub fn slug(description: &str) -> String {
    let mut out = String::new();
    for c in description.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('_') && !out.is_empty() {
            out.push('_');
        }
    }
    let out = out.trim_end_matches('_');
    out.chars()
        .take(48)
        .collect::<String>()
        .trim_end_matches('_')
        .to_string()
}

/// A timestamp id (`YYYYMMDDHHMMSS`, UTC) not yet used in `dir`.
pub fn new_id(dir: &Path, taken: &[String]) -> String {
    let mut t = chrono::Utc::now();
    loop {
        let id = t.format("%Y%m%d%H%M%S").to_string();
        let used_on_disk = std::fs::read_dir(dir)
            .map(|entries| {
                entries.flatten().any(|e| {
                    e.file_name()
                        .to_string_lossy()
                        .starts_with(&format!("{id}_"))
                })
            })
            .unwrap_or(false);
        if !used_on_disk && !taken.contains(&id) {
            return id;
        }
        t += chrono::Duration::seconds(1);
    }
}

/// The workspace manifest of a new migrations directory: its crates build against the SDK
/// copy `retort build` keeps in `.retort/sdk` ([`crate::authoring::sdk`]), so the project builds
/// wherever it is, with only the `retort` binary.
pub fn workspace_manifest() -> String {
    format!(
        "# Migrations: one crate per migration, built to wasm32-wasip2 components by `retort build`,\n\
         # which writes each artifact beside its crate as `<crate dir>.wasm`.\n\
         [workspace]\nresolver = \"3\"\nmembers = [\"[0-9]*\"]\n\n\
         [workspace.package]\nedition = \"2024\"\npublish = false\n\n\
         [workspace.dependencies]\n{}\n\n\
         [profile.release]\nopt-level = \"s\"\nlto = true\nstrip = true\ncodegen-units = 1\n",
        crate::authoring::sdk::DEPENDENCY
    )
}

/// A new id and `<id>_<slug>` for a migration described by `description`.
fn new_stem(dir: &Path, description: &str, taken: &[String]) -> (String, String) {
    let id = new_id(dir, taken);
    let slug = slug(description);
    let stem = if slug.is_empty() {
        id.clone()
    } else {
        format!("{id}_{slug}")
    };
    (id, stem)
}

/// A migration's language, for `retort new --lang` and a database's `language` setting.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    /// A Rust crate (`<id>_<slug>/`).
    Rust,
    /// A Python file (`<id>_<slug>.py`, built with componentize-py).
    Python,
    /// A JavaScript file (`<id>_<slug>.js`, built with componentize-js).
    Js,
    /// A Python file in Alembic's style (`from alembic import op`, `upgrade()` /
    /// `downgrade()`), run on Retort's Alembic layer (docs/alembic.md).
    Alembic,
    /// A pair of SQL files (`<id>_<slug>.up.sql`, `.down.sql`): the default, the one
    /// language that needs no toolchain.
    #[default]
    Sql,
}

impl Lang {
    /// Every language, in the order a command line lists them.
    pub const ALL: [Lang; 5] = [Lang::Rust, Lang::Python, Lang::Js, Lang::Sql, Lang::Alembic];

    /// The name `--lang` and `language = …` take.
    pub fn name(self) -> &'static str {
        match self {
            Lang::Rust => "rust",
            Lang::Python => "python",
            Lang::Js => "js",
            Lang::Sql => "sql",
            Lang::Alembic => "alembic",
        }
    }
}

impl std::fmt::Display for Lang {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Creates `DIR/<id>_<slug>.py` or `.js` from a template that declares the id and parents.
pub fn scaffold_script(
    dir: &Path,
    lang: Lang,
    description: &str,
    parents: Vec<String>,
    taken: &[String],
) -> std::io::Result<Scaffolded> {
    std::fs::create_dir_all(dir)?;
    let (id, stem) = new_stem(dir, description, taken);
    let list = parents
        .iter()
        .map(|p| format!("{p:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    let (file, text) = match lang {
        Lang::Python => (
            format!("{stem}.py"),
            python_template(&id, &list, description),
        ),
        Lang::Js => (format!("{stem}.js"), js_template(&id, &list, description)),
        Lang::Alembic => (
            format!("{stem}.py"),
            alembic_template(&id, &parents, &list, description),
        ),
        Lang::Rust | Lang::Sql => {
            return Err(std::io::Error::other("not a single-file language"));
        }
    };
    let path = dir.join(file);
    std::fs::write(&path, text)?;
    Ok(Scaffolded {
        id,
        parents,
        dir: path,
    })
}

/// A Python migration in Retort's style.
fn python_template(id: &str, list: &str, description: &str) -> String {
    format!(
        r#""""{description}"""

from dataclasses import dataclass

from retort_guest import Migration, Tx, export


# Declare the rows this migration reads as its own dataclasses (a frozen copy of the model):
# @dataclass
# class User:
#     id: int
#     email: str


class Change(Migration):
    id = {id:?}
    parents = [{list}]
    description = {description:?}

    def upgrade(self, tx: Tx) -> None:
        # Placeholders are $1, $2, … on every dialect.
        # for batch in tx.query(User, "SELECT id, email FROM users ORDER BY id").batches(1000):
        #     tx.execute_batch("UPDATE users SET email = $1 WHERE id = $2",
        #                      [(u.email.lower(), u.id) for u in batch])
        pass

    def downgrade(self, tx: Tx) -> None:
        pass


WitWorld = export(Change)
"#
    )
}

/// A JavaScript migration.
fn js_template(id: &str, list: &str, description: &str) -> String {
    format!(
        r#"// {description}
import {{ defineMigration }} from "./retort_guest.js";

// Declare the rows this migration reads as its own classes (a frozen copy of the model):
// class User {{ constructor({{ id, email }}) {{ this.id = id; this.email = email; }} }}

export const {{ metadata, upgrade, downgrade }} = defineMigration({{
  id: {id:?},
  parents: [{list}],
  description: {description:?},
  upgrade(tx) {{
    // Placeholders are $1, $2, … on every dialect.
    // for (const batch of tx.query(User, "SELECT id, email FROM users ORDER BY id").batches(1000)) {{
    //   tx.executeBatch("UPDATE users SET email = $1 WHERE id = $2", batch.map((u) => [u.email.toLowerCase(), u.id]));
    // }}
  }},
  downgrade(tx) {{}},
}});
"#
    )
}

/// A Python revision in Alembic's style, with the footer that places it in the graph.
fn alembic_template(id: &str, parents: &[String], list: &str, description: &str) -> String {
    format!(
        r#""""{description}

Revision ID: {id}
Revises: {revises}
"""
from alembic import op
import sqlalchemy as sa


revision = {id:?}
down_revision = {down_revision}
branch_labels = None
depends_on = None


def upgrade():
    # op.add_column("users", sa.Column("nickname", sa.String(40)))
    # Data: the rows as this revision knows them, never the application's models:
    # bind = op.get_bind()
    # for row in bind.execute(sa.text("SELECT id, email FROM users")).fetchall():
    #     bind.execute(sa.text("UPDATE users SET email = :e WHERE id = :id"),
    #                  {{"e": row.email.lower(), "id": row.id}})
    pass


def downgrade():
    pass


# ---- retort: this revision's place in the graph
import retort_alembic as _retort_alembic  # noqa: E402

WitWorld = _retort_alembic.revision(
    globals(),
    id={id:?},
    parents=[{list}],
    description={description:?},
)
"#,
        revises = parents.join(", "),
        down_revision = match parents {
            [] => "None".to_string(),
            [one] => format!("{one:?}"),
            many => format!(
                "({})",
                many.iter()
                    .map(|p| format!("{p:?}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        },
    )
}

/// Creates a plain SQL migration: `DIR/<id>_<slug>.up.sql` (with its `-- retort:` header)
/// and `DIR/<id>_<slug>.down.sql`. No cargo workspace: SQL migrations run on the SQL runtime
/// Retort ships.
pub fn scaffold_sql(
    dir: &Path,
    description: &str,
    parents: Vec<String>,
    taken: &[String],
) -> std::io::Result<Scaffolded> {
    std::fs::create_dir_all(dir)?;
    let (id, stem) = new_stem(dir, description, taken);
    let header = format!(
        "-- retort: parents = {}\n-- retort: description = {}\n\
         -- retort: transaction = true\n\n-- Statements separated by `;`. Routine bodies \
         (PostgreSQL $$ … $$, MySQL/SQLite BEGIN … END) need no DELIMITER.\n",
        if parents.is_empty() {
            "none".to_string()
        } else {
            parents.join(" ")
        },
        description.replace('\n', " ")
    );
    std::fs::write(dir.join(format!("{stem}.up.sql")), header)?;
    std::fs::write(
        dir.join(format!("{stem}.down.sql")),
        "-- Undo the upgrade. An empty file makes the downgrade a recorded no-op.\n",
    )?;
    Ok(Scaffolded {
        id,
        parents,
        dir: dir.join(format!("{stem}.up.sql")),
    })
}

/// Creates `DIR/<id>_<slug>/` with `Cargo.toml` and `src/lib.rs`.
pub fn scaffold(
    dir: &Path,
    description: &str,
    parents: Vec<String>,
    taken: &[String],
) -> std::io::Result<Scaffolded> {
    std::fs::create_dir_all(dir)?;
    if !dir.join("Cargo.toml").exists() {
        std::fs::write(dir.join("Cargo.toml"), workspace_manifest())?;
    }
    let id = new_id(dir, taken);
    let slug = slug(description);
    let name = if slug.is_empty() {
        id.clone()
    } else {
        format!("{id}_{slug}")
    };
    let crate_dir = dir.join(&name);
    std::fs::create_dir_all(crate_dir.join("src"))?;
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        format!(
            "[package]\nname = \"m{name}\"\nversion = \"0.1.0\"\nedition.workspace = true\npublish.workspace = true\n\n\
             [lib]\ncrate-type = [\"cdylib\"]\n\n[dependencies]\nretort-guest.workspace = true\n"
        ),
    )?;
    let type_name: String = slug
        .split('_')
        .filter(|w| !w.is_empty())
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect();
    let type_name = if type_name.is_empty() || type_name.starts_with(|c: char| c.is_ascii_digit()) {
        format!("Migration{type_name}")
    } else {
        type_name
    };
    let parents_list = parents
        .iter()
        .map(|p| format!("{p:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    std::fs::write(
        crate_dir.join("src/lib.rs"),
        format!(
            r#"//! {description}

use retort_guest::{{Migration, Result, Tx}};

struct {type_name};

impl Migration for {type_name} {{
    fn upgrade(tx: &Tx) -> Result<()> {{
        // Placeholders are $1, $2, … on every dialect.
        // tx.execute("ALTER TABLE users ADD COLUMN email VARCHAR(320)", ())?;
        let _ = tx;
        Ok(())
    }}

    fn downgrade(tx: &Tx) -> Result<()> {{
        let _ = tx;
        Ok(())
    }}
}}

retort_guest::export!({type_name}, id: "{id}", parents: [{parents_list}],
    description: {description:?});
"#
        ),
    )?;
    Ok(Scaffolded {
        id,
        parents,
        dir: crate_dir,
    })
}

/// The id and parents a scaffolded source declares (a Rust crate's `export!(…, id: "…",
/// parents: […])`, a Python class's `id = "…"` / `parents = […]`, a JavaScript
/// `defineMigration({ id: "…", parents: […] })`): what `retort new` needs of a migration not
/// built yet. `None` when the source does not say it in that form.
pub fn declared(source: &Path) -> Option<(String, Vec<String>)> {
    let file = if source.is_dir() {
        source.join("src/lib.rs")
    } else {
        source.to_path_buf()
    };
    let text = std::fs::read_to_string(file).ok()?;
    let id = value_after(&text, "id", '"', '"')?;
    let parents = value_after(&text, "parents", '[', ']')?
        .split(',')
        .map(|p| p.trim().trim_matches(|c| c == '"' || c == '\'').to_string())
        .filter(|p| !p.is_empty())
        .collect();
    Some((id, parents))
}

/// The text between `open` and `close` after the first `KEY:` or `KEY =` (as a whole word).
fn value_after(text: &str, key: &str, open: char, close: char) -> Option<String> {
    let mut from = 0;
    while let Some(at) = text[from..].find(key).map(|i| from + i) {
        from = at + key.len();
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == '.') {
            continue;
        }
        let rest = text[from..].trim_start();
        let Some(rest) = rest.strip_prefix(':').or_else(|| rest.strip_prefix('=')) else {
            continue;
        };
        let Some(rest) = rest.trim_start().strip_prefix(open) else {
            continue;
        };
        return rest.find(close).map(|end| rest[..end].to_string());
    }
    None
}

/// The language of the newest migration in `dir` (by id): what `new` and `merge` scaffold in
/// when neither `--lang` nor the database's `language` says. SQL when the directory holds
/// none (the one language that needs no toolchain).
pub fn project_language(dir: &Path) -> Lang {
    let mut newest: Option<(String, Lang)> = None;
    let mut consider = |stem: String, lang: Lang| {
        if newest.as_ref().is_none_or(|(s, _)| stem > *s) {
            newest = Some((stem, lang));
        }
    };
    if !dir.is_dir() {
        return Lang::Sql;
    }
    for (crate_dir, _) in crate::authoring::guest::crates(dir).unwrap_or_default() {
        if let Some(name) = crate_dir.file_name() {
            consider(name.to_string_lossy().into_owned(), Lang::Rust);
        }
    }
    for m in crate::authoring::guest::sql_migrations(dir).unwrap_or_default() {
        consider(m.stem, Lang::Sql);
    }
    for g in crate::authoring::guest::script_guests(dir).unwrap_or_default() {
        let lang = match g.language {
            crate::authoring::guest::Language::Python
                if std::fs::read_to_string(&g.source).is_ok_and(|text| {
                    crate::authoring::guest::uses_alembic_layer(g.language, &text)
                }) =>
            {
                Lang::Alembic
            }
            crate::authoring::guest::Language::Python => Lang::Python,
            crate::authoring::guest::Language::JavaScript => Lang::Js,
        };
        consider(g.stem, lang);
    }
    // Built migrations whose sources are not here (a checkout of artifacts only): a script
    // artifact names its language; any other component is a Rust crate's.
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        let Some(stem) = path
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".wasm"))
        else {
            continue;
        };
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        let lang = match crate::host::runtime::Script::decode(&bytes) {
            Some(Ok(script)) => match script.runtime.language.as_str() {
                crate::host::runtime::PYTHON => Lang::Python,
                crate::host::runtime::JAVASCRIPT => Lang::Js,
                _ => Lang::Sql,
            },
            Some(Err(_)) => continue,
            None => Lang::Rust,
        };
        consider(stem.to_string(), lang);
    }
    newest.map(|(_, lang)| lang).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_parents_are_read_from_every_scaffold() {
        let dir = tempfile::tempdir().unwrap();
        let parents = vec!["20260101000000".to_string(), "20260102000000".to_string()];
        let rust = scaffold(dir.path(), "a crate", parents.clone(), &[]).unwrap();
        assert_eq!(
            declared(&rust.dir),
            Some((rust.id.clone(), parents.clone()))
        );
        for lang in [Lang::Alembic, Lang::Python, Lang::Js] {
            let made = scaffold_script(
                dir.path(),
                lang,
                "a script",
                vec![],
                std::slice::from_ref(&rust.id),
            )
            .unwrap();
            assert_eq!(declared(&made.dir), Some((made.id, vec![])), "{lang:?}");
        }
        assert_eq!(
            project_language(dir.path()),
            Lang::Js,
            "the newest is the JS one"
        );
        let sql = scaffold_sql(dir.path(), "sql", vec![], &[]).unwrap();
        assert!(sql.id.len() >= 14);
        assert_eq!(project_language(dir.path()), Lang::Sql);
    }

    #[test]
    fn slugs() {
        assert_eq!(slug("Add e-mail to Users!"), "add_e_mail_to_users");
        assert_eq!(slug("  "), "");
    }

    #[test]
    fn ids_do_not_collide() {
        let dir = tempfile::tempdir().unwrap();
        let a = new_id(dir.path(), &[]);
        std::fs::create_dir(dir.path().join(format!("{a}_x"))).unwrap();
        let b = new_id(dir.path(), &[]);
        assert_ne!(a, b);
        assert!(b > a);
    }
}
