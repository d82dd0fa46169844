//! `retort lint` on SQL migrations: each upgrade script, as the engine would run it (its
//! dialect's variant, split into statements, a `BEGIN`/`COMMIT` pair dropped), through the
//! rules of [`crate::core::lint`], with the header's `allow` acknowledgements.

use std::path::Path;

use crate::build::guest::{SqlMigration, sql_migrations};
use crate::core::lint::{Context, Engine, LintFinding, lint};

/// The lint findings of one migration.
#[derive(Clone, Debug, serde::Serialize)]
pub struct MigrationLint {
    /// The revision.
    pub revision: String,
    /// Where its upgrade is (`<stem>.up.sql`, or its dialect's variant).
    pub file: String,
    /// What is wrong, unacknowledged.
    pub findings: Vec<LintFinding>,
}

/// The engine's name in SQL migrations' file names and headers.
pub fn engine_name(engine: Engine) -> &'static str {
    match engine {
        Engine::Postgres => "postgres",
        Engine::Mysql => "mysql",
        Engine::Sqlite => "sqlite",
    }
}

/// The engine a database URL names.
pub fn engine_of(url: &str) -> Option<Engine> {
    match url.split_once("://").map(|(s, _)| s) {
        Some("postgres" | "postgresql") => Some(Engine::Postgres),
        Some("mysql" | "mariadb") => Some(Engine::Mysql),
        Some("sqlite") => Some(Engine::Sqlite),
        _ => None,
    }
}

/// Lints every SQL migration in `dir` for `engine`; only migrations with findings are
/// returned.
pub fn lint_dir(dir: &Path, engine: Engine) -> anyhow::Result<Vec<MigrationLint>> {
    let mut out = Vec::new();
    for m in sql_migrations(dir)? {
        if let Some(lint) = lint_migration(&m, engine)? {
            out.push(lint);
        }
    }
    Ok(out)
}

/// Lints one SQL migration's upgrade for `engine` (`None`: nothing found, or it does not run
/// there).
pub fn lint_migration(m: &SqlMigration, engine: Engine) -> anyhow::Result<Option<MigrationLint>> {
    let name = engine_name(engine);
    if m.only.as_deref().is_some_and(|only| only != name) {
        return Ok(None);
    }
    let (script, file) = match m.variants.get(name).and_then(|(up, _)| up.as_ref()) {
        Some(up) => (up.as_str(), format!("{}.{name}.up.sql", m.stem)),
        None => (m.up.as_str(), format!("{}.up.sql", m.stem)),
    };
    let dialect = engine.lexical();
    let statements =
        retort_sql::split(script, dialect).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
    let statements = with_leading_comments(script, statements);
    let (statements, _) = retort_sql::unwrap_transaction(statements, dialect);
    let ctx = Context {
        engine,
        transactional: m.transactional,
        allowed: m.allow.clone(),
    };
    let findings = lint(&statements, &ctx);
    Ok((!findings.is_empty()).then(|| MigrationLint {
        revision: m.id.clone(),
        file,
        findings,
    }))
}

/// Each statement with the comments between it and the one before (the splitter drops
/// them): where a statement's `-- retort: allow RULE` line is.
fn with_leading_comments(script: &str, statements: Vec<String>) -> Vec<String> {
    let mut cursor = 0;
    statements
        .into_iter()
        .map(|statement| match script[cursor..].find(&statement) {
            Some(at) => {
                let start = cursor;
                cursor += at + statement.len();
                let before =
                    script[start..start + at].trim_start_matches([';', ' ', '\t', '\n', '\r']);
                format!("{before}{statement}")
            }
            None => statement,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_keeps_the_comment_lines_before_it() {
        let script =
            "-- header\nCREATE TABLE t (a int);\n-- retort: allow drop-table\nDROP TABLE t;\n";
        let statements = retort_sql::split(script, retort_sql::Dialect::Sqlite).unwrap();
        let kept = with_leading_comments(script, statements);
        assert_eq!(kept[0], "-- header\nCREATE TABLE t (a int)");
        assert_eq!(kept[1], "-- retort: allow drop-table\nDROP TABLE t");
    }
}
