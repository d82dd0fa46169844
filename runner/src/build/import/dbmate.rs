//! Importing dbmate (`<version>_<name>.sql` with `-- migrate:up` / `-- migrate:down`;
//! `-- migrate:up transaction:false`).

use std::path::Path;

use anyhow::{Context, bail};

use super::{Imported, Report, entries, file_name, id_of, numeric_prefix, read, words};

/// Adds the migrations of `dir` to `report`.
pub(super) fn read_dir(dir: &Path, report: &mut Report) -> anyhow::Result<()> {
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
            dbmate_sections(&text).with_context(|| format!("{}", path.display()))?;
        report.migrations.push(Imported {
            id: id_of(version),
            version: version.to_string(),
            description: words(rest),
            up,
            down,
            transactional,
            sources: vec![path.clone()],
        });
    }
    Ok(())
}

/// Splits a dbmate file into (up, down, transactional).
fn dbmate_sections(text: &str) -> anyhow::Result<(String, String, bool)> {
    let mut up = String::new();
    let mut down = String::new();
    let mut transactional = true;
    let mut section = None;
    for line in text.lines() {
        let t = line.trim();
        if let Some(opts) = t.strip_prefix("-- migrate:up") {
            section = Some(true);
            transactional = !opts.split_whitespace().any(|o| o == "transaction:false");
            continue;
        }
        if t.starts_with("-- migrate:down") {
            section = Some(false);
            continue;
        }
        match section {
            Some(true) => {
                up.push_str(line);
                up.push('\n');
            }
            Some(false) => {
                down.push_str(line);
                down.push('\n');
            }
            None => {}
        }
    }
    if section.is_none() {
        bail!("no `-- migrate:up` section");
    }
    Ok((up, down, transactional))
}
