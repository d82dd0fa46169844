//! Importing dbmate (`<version>_<name>.sql` with `-- migrate:up` / `-- migrate:down`;
//! `-- migrate:up transaction:false`).

use std::path::Path;

use crate::authoring::BuildError;

use super::{Imported, Line, Report, entries, file_name, id_of, numeric_prefix, read, words};

/// Adds the migrations of `dir` to `report`.
pub(super) fn read_dir(dir: &Path, report: &mut Report) -> crate::authoring::Result<()> {
    for path in entries(dir)? {
        let name = file_name(&path);
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
            dbmate_sections(&text).map_err(|e| e.within(path.display().to_string()))?;
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

/// Splits a dbmate file into (up, down, transactional).
fn dbmate_sections(text: &str) -> crate::authoring::Result<(String, String, bool)> {
    let mut transactional = true;
    let found = super::sections(text, |t| {
        Ok(if let Some(opts) = t.strip_prefix("-- migrate:up") {
            transactional = !opts.split_whitespace().any(|o| o == "transaction:false");
            Line::Up
        } else if t.starts_with("-- migrate:down") {
            Line::Down
        } else {
            Line::Sql
        })
    })?;
    let Some((up, down)) = found else {
        return Err(BuildError::Refused("no `-- migrate:up` section".into()));
    };
    Ok((up, down, transactional))
}
