//! Importing refinery (`V<version>__<name>.sql` and unversioned `U<version>__<name>.sql`, in
//! the directory and its subdirectories, as refinery finds them; a line
//! `-- refinery:noTransaction` runs the file outside a transaction). refinery has no down
//! migrations: each imported one's downgrade is an empty, recorded no-op, and `retort import`
//! lists them so. Versions are refinery's `i32`s, sorted numerically; `.rs` migrations are
//! listed as skipped.

use std::path::Path;

use crate::authoring::BuildError;

use super::{Imported, Report, file_name, id_of, read, words};

/// Adds the migrations of `dir` (and its subdirectories) to `report`.
pub(super) fn read_dir(dir: &Path, report: &mut Report) -> crate::authoring::Result<()> {
    let mut files = super::files_below(dir)?;
    files.sort();
    for path in files {
        let name = file_name(&path);
        let Some((kind, version, rest)) = parse(&name) else {
            continue;
        };
        if kind == "rs" {
            report.skipped.push((
                path.clone(),
                "a Rust refinery migration: rewrite it as a Retort Rust migration".into(),
            ));
            continue;
        }
        let version: i32 = version.parse().map_err(|e| BuildError::Invalid {
            file: path.display().to_string(),
            message: format!("refinery versions are 32-bit integers, not `{version}` ({e})"),
        })?;
        let up = read(&path)?;
        let transactional = !up.lines().any(no_transaction);
        report.migrations.push(Imported {
            id: id_of(&version.to_string()),
            version: version.to_string(),
            description: words(rest),
            up,
            down: String::new(),
            transactional,
            sources: vec![path.clone()],
            variants: Default::default(),
            depends_on: Vec::new(),
        });
    }
    Ok(())
}

/// `[UV]<version>__<name>.(sql|rs)` → (extension, version, name).
fn parse(name: &str) -> Option<(&str, &str, &str)> {
    let rest = name.strip_prefix(['U', 'V'])?;
    let (version, rest) = rest.split_once("__")?;
    let (stem, ext) = rest.rsplit_once('.')?;
    let word = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_alphanumeric() || c == '_');
    let numeric = !version.is_empty()
        && version
            .split('.')
            .all(|p| p.bytes().all(|b| b.is_ascii_digit()) && !p.is_empty());
    (numeric && word(stem) && matches!(ext, "sql" | "rs")).then_some((ext, version, stem))
}

/// refinery's marker: `--` (or more dashes), an optional space, `refinery:noTransaction`.
fn no_transaction(line: &str) -> bool {
    let rest = line.trim_start_matches('-');
    line.len() - rest.len() >= 2
        && rest.strip_prefix(' ').unwrap_or(rest) == "refinery:noTransaction"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_markers_as_refinery_reads_them() {
        assert_eq!(
            parse("V1__create_users.sql"),
            Some(("sql", "1", "create_users"))
        );
        assert_eq!(parse("U12__seed.sql"), Some(("sql", "12", "seed")));
        assert_eq!(parse("V3__job.rs"), Some(("rs", "3", "job")));
        assert_eq!(parse("V1_single.sql"), None);
        assert_eq!(parse("X1__x.sql"), None);
        assert_eq!(parse("V1__has-dash.sql"), None);
        assert!(no_transaction("-- refinery:noTransaction"));
        assert!(no_transaction("---refinery:noTransaction"));
        assert!(!no_transaction("- refinery:noTransaction"));
        assert!(!no_transaction("-- refinery:noTransaction please"));
    }
}
