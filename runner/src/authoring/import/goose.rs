//! Importing goose (`<version>_<name>.sql` with `-- +goose Up` / `-- +goose Down`,
//! `-- +goose StatementBegin` / `StatementEnd` around statements that hold `;`, and
//! `-- +goose NO TRANSACTION`). Go migrations (`.go`) are listed as skipped: their code is not
//! SQL. A file using `-- +goose ENVSUB ON` is refused: goose substitutes environment variables
//! into it when it runs, and a Retort migration sees no environment.
//!
//! The annotations themselves are dropped: Retort's splitter keeps what `StatementBegin`
//! protects in goose — dollar-quoted bodies and `BEGIN … END` routine bodies — whole by itself.

use std::path::Path;

use crate::authoring::BuildError;

use super::{Imported, Line, Report, entries, file_name, id_of, numeric_prefix, read, words};

/// Adds the migrations of `dir` to `report`.
pub(super) fn read_dir(dir: &Path, report: &mut Report) -> crate::authoring::Result<()> {
    for path in entries(dir)? {
        let name = file_name(&path);
        if name.ends_with(".go") && numeric_prefix(&name).is_some() {
            report.skipped.push((
                path.clone(),
                "a Go migration: rewrite it as SQL or as a Rust migration".into(),
            ));
            continue;
        }
        let Some(stem) = name.strip_suffix(".sql") else {
            continue;
        };
        let Some((version, rest)) = numeric_prefix(stem) else {
            report
                .skipped
                .push((path.clone(), "no numeric version prefix".into()));
            continue;
        };
        let text = read(&path)?;
        let (up, down, transactional) =
            sections(&text).map_err(|e| e.within(path.display().to_string()))?;
        // goose compares versions as integers: `00001` is version 1.
        let version = version.trim_start_matches('0');
        let version = if version.is_empty() { "0" } else { version };
        report.migrations.push(Imported {
            id: id_of(version),
            version: version.to_string(),
            description: words(rest),
            up,
            down,
            transactional,
            sources: vec![path.clone()],
            variants: Default::default(),
            depends_on: Vec::new(),
        });
    }
    Ok(())
}

/// Splits a goose file into (up, down, transactional).
fn sections(text: &str) -> crate::authoring::Result<(String, String, bool)> {
    let mut transactional = true;
    let found = super::sections(text, |t| {
        let Some(annotation) = t.strip_prefix("-- +goose") else {
            return Ok(Line::Sql);
        };
        Ok(match annotation.trim().to_ascii_uppercase().as_str() {
            "UP" => Line::Up,
            "DOWN" => Line::Down,
            "NO TRANSACTION" => {
                transactional = false;
                Line::Directive
            }
            "STATEMENTBEGIN" | "STATEMENTEND" | "ENVSUB OFF" => Line::Directive,
            "ENVSUB ON" => {
                return Err(BuildError::Refused(
                    "it uses `-- +goose ENVSUB ON`: goose substitutes environment variables \
                     into it, and a Retort migration sees no environment; expand them first"
                        .into(),
                ));
            }
            other => {
                return Err(BuildError::Refused(format!(
                    "unknown goose annotation `-- +goose {other}`"
                )));
            }
        })
    })?;
    let Some((up, down)) = found else {
        return Err(BuildError::Refused("no `-- +goose Up` section".into()));
    };
    Ok((up, down, transactional))
}
