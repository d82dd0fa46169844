//! `retort lint` on SQL migrations: each upgrade script, as the engine would run it (its
//! dialect's variant, split into statements, a `BEGIN`/`COMMIT` pair dropped), through the
//! rules of [`crate::core::lint`], with the header's `allow` acknowledgements.

use crate::authoring::BuildError;
use crate::authoring::error::io;
use crate::core::DialectExt;
use std::path::Path;

use crate::authoring::guest::{SqlMigration, sql_migrations};
use crate::core::Dialect;
use crate::core::lint::{Context, LintFinding, lint};

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

/// Lints every SQL migration in `dir` for `engine`; only migrations with findings are
/// returned.
pub fn lint_dir(dir: &Path, engine: Dialect) -> crate::authoring::Result<Vec<MigrationLint>> {
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
pub fn lint_migration(
    m: &SqlMigration,
    engine: Dialect,
) -> crate::authoring::Result<Option<MigrationLint>> {
    let name = engine.name();
    if m.only.as_deref().is_some_and(|only| only != name) {
        return Ok(None);
    }
    let (script, file) = match m.variants.get(name).and_then(|(up, _)| up.as_ref()) {
        Some(up) => (up.as_str(), format!("{}.{name}.up.sql", m.stem)),
        None => (m.up.as_str(), format!("{}.up.sql", m.stem)),
    };
    let dialect = engine;
    let statements = retort_sql::split(script, dialect)
        .map_err(|e| BuildError::Refused(format!("{file}: {e}")))?;
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

/// The file, in a migrations directory, of findings acknowledged outside their migrations.
pub const BASELINE: &str = "lint-baseline.toml";

/// Findings acknowledged outside their migrations (`<migrations>/lint-baseline.toml`, written
/// by `retort lint --write-baseline`), as ruff's and eslint's baselines are: acknowledging a
/// finding in an applied migration's file would change its digest. An entry holds while its
/// revision has that finding on a statement that reads the same.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Baseline {
    /// The acknowledged findings.
    #[serde(default)]
    pub acknowledged: Vec<Acknowledged>,
}

/// One acknowledged finding.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Acknowledged {
    /// The migration.
    pub revision: String,
    /// The rule's id (`drop-column`, …).
    pub rule: String,
    /// The statement as the finding quotes it.
    pub statement: String,
    /// Why it is acceptable, for the reviewer.
    #[serde(default)]
    pub reason: String,
}

impl Baseline {
    /// The baseline of `dir`: empty when it has none; an unreadable or invalid one is an
    /// error (never silently ignored).
    pub fn load(dir: &Path) -> crate::authoring::Result<Baseline> {
        let path = dir.join(BASELINE);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Baseline::default()),
            Err(e) => return Err(io("read", &path)(e)),
        };
        let baseline: Baseline = toml::from_str(&text).map_err(|e| BuildError::Invalid {
            file: path.display().to_string(),
            message: e.to_string(),
        })?;
        for a in &baseline.acknowledged {
            if crate::core::lint::Rule::parse(&a.rule).is_none() {
                return Err(BuildError::Refused(format!(
                    "{}: `{}` (revision {}) is not a lint rule",
                    path.display(),
                    a.rule,
                    a.revision
                )));
            }
        }
        Ok(baseline)
    }

    /// Whether `finding` of `revision` is acknowledged here.
    pub fn covers(&self, revision: &str, finding: &LintFinding) -> bool {
        self.acknowledged.iter().any(|a| {
            a.revision == revision && a.rule == finding.rule.id() && a.statement == finding.sql
        })
    }

    /// `lints` without the findings acknowledged here, and how many those were.
    pub fn apply(&self, lints: Vec<MigrationLint>) -> (Vec<MigrationLint>, usize) {
        let mut acknowledged = 0;
        let kept = lints
            .into_iter()
            .filter_map(|mut l| {
                let before = l.findings.len();
                l.findings.retain(|f| !self.covers(&l.revision, f));
                acknowledged += before - l.findings.len();
                (!l.findings.is_empty()).then_some(l)
            })
            .collect();
        (kept, acknowledged)
    }

    /// Adds `lints` (findings not acknowledged yet) and writes the baseline into `dir`;
    /// returns how many were added.
    pub fn extend_and_write(
        &mut self,
        dir: &Path,
        lints: &[MigrationLint],
    ) -> crate::authoring::Result<usize> {
        let today = chrono::Utc::now().format("%Y-%m-%d");
        let mut added = 0;
        for l in lints {
            for f in &l.findings {
                if !self.covers(&l.revision, f) {
                    self.acknowledged.push(Acknowledged {
                        revision: l.revision.clone(),
                        rule: f.rule.id().to_string(),
                        statement: f.sql.clone(),
                        reason: format!("in the baseline since {today}: say why it is safe"),
                    });
                    added += 1;
                }
            }
        }
        let text = format!(
            "# Lint findings acknowledged outside their migrations (`retort lint \
             --write-baseline`).\n# Each holds while its revision's statement reads the same; \
             write the reason for the reviewer.\n\n{}",
            toml::to_string(self).map_err(|e| BuildError::Refused(format!(
                "cannot write the lint baseline as TOML: {e}"
            )))?
        );
        let path = dir.join(BASELINE);
        std::fs::write(&path, text).map_err(io("write", &path))?;
        Ok(added)
    }
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
