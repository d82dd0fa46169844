//! Importing Prisma Migrate (`<timestamp>_<name>/migration.sql`; `migration_lock.toml` is
//! Prisma's own). Prisma orders the directories by name and records each by its full name in
//! `_prisma_migrations`, so the full name is the version. Prisma has no down migrations and
//! no no-transaction marker.

use std::path::Path;

use super::{Imported, Report, entries, file_name, id_of, read, words};

/// Adds the migrations of `dir` to `report`.
pub(super) fn read_dir(dir: &Path, report: &mut Report) -> crate::authoring::Result<()> {
    for path in entries(dir)? {
        let name = file_name(&path);
        if !path.is_dir() {
            continue;
        }
        let script = path.join("migration.sql");
        if !script.is_file() {
            report
                .skipped
                .push((path.clone(), "no migration.sql".into()));
            continue;
        }
        let rest = name.split_once('_').map_or("", |(_, r)| r);
        report.migrations.push(Imported {
            id: id_of(&name),
            version: name.clone(),
            description: words(rest),
            up: read(&script)?,
            down: String::new(),
            transactional: true,
            sources: vec![script],
            variants: Default::default(),
            depends_on: Vec::new(),
        });
    }
    Ok(())
}
