//! Importing Flyway (`V<version>__<desc>.sql`, undo `U<version>__<desc>.sql`; `V….sql.conf`:
//! `executeInTransaction=false`).

use std::path::{Path, PathBuf};

use super::{Imported, Report, entries, file_name, id_of, read, words};

/// Adds the migrations of `dir` to `report`.
pub(super) fn read_dir(dir: &Path, report: &mut Report) -> crate::authoring::Result<()> {
    let mut undo = std::collections::BTreeMap::new();
    let mut versioned = Vec::new();
    for path in entries(dir)? {
        let name = file_name(&path);
        let Some(stem) = name.strip_suffix(".sql") else {
            continue;
        };
        let Some((head, desc)) = stem.split_once("__") else {
            report
                .skipped
                .push((path.clone(), "not V<version>__<description>.sql".into()));
            continue;
        };
        match head.split_at(1) {
            ("V", version) if !version.is_empty() => {
                versioned.push((version.to_string(), desc.to_string(), path.clone()))
            }
            ("U", version) if !version.is_empty() => {
                undo.insert(version.to_string(), path.clone());
            }
            ("R", _) => report.skipped.push((
                path.clone(),
                "a repeatable migration: Retort migrations run once; rewrite it as a \
                 versioned migration holding the definition"
                    .into(),
            )),
            _ => report
                .skipped
                .push((path.clone(), "not a V, U or R migration".into())),
        }
    }
    for (version, desc, path) in versioned {
        let up = read(&path)?;
        let mut sources = vec![path.clone()];
        let down = match undo.remove(&version) {
            Some(u) => {
                sources.push(u.clone());
                read(&u)?
            }
            None => String::new(),
        };
        let conf = PathBuf::from(format!("{}.conf", path.display()));
        let transactional = match std::fs::read_to_string(&conf) {
            Ok(text) => !text.lines().any(|l| {
                let l = l.replace(' ', "");
                l.eq_ignore_ascii_case("executeInTransaction=false")
            }),
            Err(_) => true,
        };
        report.migrations.push(Imported {
            id: id_of(&version),
            version,
            description: words(&desc),
            up,
            down,
            transactional,
            sources,
            variants: Default::default(),
            depends_on: Vec::new(),
        });
    }
    for (_, path) in undo {
        report
            .skipped
            .push((path, "an undo migration without its versioned one".into()));
    }
    Ok(())
}
