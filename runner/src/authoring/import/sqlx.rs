//! Importing sqlx (`<version>_<desc>.sql`, or `.up.sql` + `.down.sql`; first line `-- no-transaction`) and
//! golang-migrate (`<version>_<title>.up.sql` + `.down.sql`).

use std::path::Path;

use super::{Imported, Report, Tool, entries, file_name, id_of, numeric_prefix, read, words};

/// Adds the migrations of `dir` to `report`.
pub(super) fn read_dir(
    tool: Tool,
    dir: &Path,
    report: &mut Report,
) -> crate::authoring::Result<()> {
    for path in entries(dir)? {
        let name = file_name(&path);
        if path.is_dir() || !name.ends_with(".sql") {
            continue;
        }
        if name.ends_with(".down.sql") {
            continue; // read with its up file
        }
        let Some((version, rest)) = numeric_prefix(&name) else {
            report
                .skipped
                .push((path.clone(), "no numeric version prefix".into()));
            continue;
        };
        let (desc, down_path) = match rest.strip_suffix(".up.sql") {
            Some(d) => (d, Some(dir.join(format!("{version}_{d}.down.sql")))),
            None if tool == Tool::Sqlx => (rest.trim_end_matches(".sql"), None),
            None => {
                report
                    .skipped
                    .push((path.clone(), "not a .up.sql/.down.sql file".into()));
                continue;
            }
        };
        let up = read(&path)?;
        let mut sources = vec![path.clone()];
        let down = match down_path.filter(|p| p.is_file()) {
            Some(p) => {
                sources.push(p.clone());
                read(&p)?
            }
            None => String::new(),
        };
        let transactional = !(tool == Tool::Sqlx
            && up
                .lines()
                .next()
                .is_some_and(|l| l.trim() == "-- no-transaction"));
        report.migrations.push(Imported {
            id: id_of(version),
            version: version.to_string(),
            description: words(desc),
            up,
            down,
            transactional,
            sources,
            variants: Default::default(),
            depends_on: Vec::new(),
        });
    }
    Ok(())
}
