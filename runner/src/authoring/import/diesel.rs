//! Importing diesel (`<yyyy-mm-dd-hhmmss>_<name>/up.sql`, `down.sql`; `metadata.toml`:
//! `run_in_transaction = false`).

use std::path::Path;

use crate::authoring::BuildError;

use super::{Imported, Report, entries, file_name, id_of, read, words};

/// Adds the migrations of `dir` to `report`.
pub(super) fn read_dir(dir: &Path, report: &mut Report) -> crate::authoring::Result<()> {
    for path in entries(dir)? {
        let name = file_name(&path);
        if !path.is_dir() || !path.join("up.sql").is_file() {
            continue;
        }
        // `2024-01-15-093000_create_users` (or `00000000000000_diesel_initial_setup`).
        let (stamp, rest) = match name.split_once('_') {
            Some((s, r)) if s.bytes().all(|b| b.is_ascii_digit() || b == b'-') => (s, r),
            _ => {
                report
                    .skipped
                    .push((path.clone(), "no timestamp prefix".into()));
                continue;
            }
        };
        let version: String = stamp.chars().filter(char::is_ascii_digit).collect();
        let up = read(&path.join("up.sql"))?;
        let down = if path.join("down.sql").is_file() {
            read(&path.join("down.sql"))?
        } else {
            String::new()
        };
        let transactional = match std::fs::read_to_string(path.join("metadata.toml")) {
            Ok(text) => {
                let doc: toml::Table = toml::from_str(&text).map_err(|e| BuildError::Invalid {
                    file: path.join("metadata.toml").display().to_string(),
                    message: format!("not valid TOML: {e}"),
                })?;
                doc.get("run_in_transaction")
                    .and_then(toml::Value::as_bool)
                    .unwrap_or(true)
            }
            Err(_) => true,
        };
        report.migrations.push(Imported {
            id: id_of(&version),
            version,
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
