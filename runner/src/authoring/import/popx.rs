//! Importing popx (Ory's migrator: Kratos, Hydra, Keto): `<version>_<name>[.<dialect>]
//! [.autocommit].(up|down).sql`, subdirectories included.
//!
//! The rules are popx's (`popx/match.go`, `popx/migration_info.go`): for each version and
//! direction, a file for the connected dialect wins over the generic one; a version ordered by
//! its *string*; `.<dialect>.autocommit` runs outside a transaction, and so does a generic
//! `.autocommit.` file, for every dialect (current popx; older releases ignored it); an empty
//! or comment-only file is a no-op. Dialect names are pop's: `postgres` (`postgresql`, `pg`), `mysql`, `sqlite3`
//! (`sqlite`), `cockroach` (`cockroachdb`, `crdb`). CockroachDB files are skipped (Retort does
//! not run on it); `.fizz` files are refused, fizz being a DSL of its own, not SQL.

use std::collections::BTreeMap;
use std::path::Path;

use crate::authoring::BuildError;

use super::{Imported, Report, file_name, id_of, read, words};

/// One popx file name, parsed.
#[derive(Debug, PartialEq, Eq)]
struct Name {
    version: String,
    name: String,
    /// `None`: every dialect ("all").
    dialect: Option<&'static str>,
    autocommit: bool,
    up: bool,
}

/// pop's canonical dialect names, mapped to Retort's; `Some(None)` for a dialect pop knows and
/// Retort does not run on.
fn dialect(name: &str) -> Option<Option<&'static str>> {
    match name {
        "postgres" | "postgresql" | "pg" => Some(Some("postgres")),
        "mysql" => Some(Some("mysql")),
        "sqlite3" | "sqlite" => Some(Some("sqlite")),
        "cockroach" | "cockroachdb" | "crdb" => Some(None),
        _ => None,
    }
}

/// What a file name says, as popx's `^(\d+)_([^.]+)(\.[a-z0-9]+)?(|\.autocommit)\.(up|down)\.(sql|fizz)$`
/// reads it: `Ok(None)` for a file that is not a migration, `Err` with why it is skipped or refused.
fn parse(file: &str) -> Result<Option<Name>, String> {
    let Some((version, rest)) = file.split_once('_') else {
        return Ok(None);
    };
    if version.is_empty() || !version.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    let parts: Vec<&str> = rest.split('.').collect();
    let (name, middle, last) = match parts.as_slice() {
        [name, middle @ .., direction, kind] if !name.is_empty() => {
            (*name, middle, (*direction, *kind))
        }
        _ => return Ok(None),
    };
    let up = match last {
        (d, "sql" | "fizz") if d == "up" || d == "down" => d == "up",
        _ => return Ok(None),
    };
    if last.1 == "fizz" {
        return Err("a fizz migration (a DSL of pop's, not SQL): rewrite it as SQL first".into());
    }
    let (dialect_part, autocommit) = match middle {
        [] => (None, false),
        // Current popx (`popx/match.go`) reads a generic `.autocommit.` file as every
        // dialect's, run outside a transaction (older releases took `autocommit` for a dialect
        // name and ignored the file, losing a version: a public history fails that way).
        ["autocommit"] => (None, true),
        [d] => (Some(*d), false),
        [d, "autocommit"] => (Some(*d), true),
        _ => return Ok(None),
    };
    if let Some(d) = dialect_part
        && !d
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    {
        return Ok(None);
    }
    let dialect = match dialect_part.map(dialect) {
        None => None,
        Some(Some(Some(d))) => Some(d),
        Some(Some(None)) => return Err("CockroachDB only: Retort does not run on it".into()),
        Some(None) => {
            return Err(format!(
                "unsupported dialect {:?}",
                dialect_part.unwrap_or("")
            ));
        }
    };
    Ok(Some(Name {
        version: version.to_string(),
        name: name.to_string(),
        dialect,
        autocommit,
        up,
    }))
}

/// Adds the migrations of `dir` (and its subdirectories) to `report`.
pub(super) fn read_dir(dir: &Path, report: &mut Report) -> crate::authoring::Result<()> {
    let files = super::files_below(dir)?;
    let mut by_version: BTreeMap<String, Imported> = BTreeMap::new();
    for path in files {
        let name = match parse(&file_name(&path)) {
            Ok(Some(name)) => name,
            Ok(None) => continue,
            Err(why) if why.starts_with("a fizz") => {
                return Err(BuildError::Refused(format!("{}: {why}", path.display())));
            }
            Err(why) => {
                report.skipped.push((path, why));
                continue;
            }
        };
        let text = read(&path)?;
        let m = by_version
            .entry(name.version.clone())
            .or_insert_with(|| Imported {
                id: id_of(&name.version),
                version: name.version.clone(),
                description: words(&name.name),
                up: String::new(),
                down: String::new(),
                transactional: true,
                sources: Vec::new(),
                variants: BTreeMap::new(),
                depends_on: Vec::new(),
            });
        // One transaction mode per Retort migration: any `.autocommit` up file makes it run
        // outside a transaction on every dialect.
        if name.autocommit && name.up {
            m.transactional = false;
        }
        match (name.dialect, name.up) {
            (None, true) => m.up = text,
            (None, false) => m.down = text,
            (Some(d), true) => m.variants.entry(d.to_string()).or_default().0 = Some(text),
            (Some(d), false) => m.variants.entry(d.to_string()).or_default().1 = Some(text),
        }
        m.sources.push(path);
    }
    report.migrations.extend(by_version.into_values());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_are_read_as_popx_reads_them() {
        let name = |v: &str, n: &str, d: Option<&'static str>, a: bool, up: bool| {
            Ok(Some(Name {
                version: v.into(),
                name: n.into(),
                dialect: d,
                autocommit: a,
                up,
            }))
        };
        assert_eq!(
            parse("20210410175418000001_identities.up.sql"),
            name("20210410175418000001", "identities", None, false, true)
        );
        assert_eq!(
            parse("20210410175418000001_identities.sqlite3.down.sql"),
            name(
                "20210410175418000001",
                "identities",
                Some("sqlite"),
                false,
                false
            )
        );
        assert_eq!(
            parse("2_index.postgres.autocommit.up.sql"),
            name("2", "index", Some("postgres"), true, true)
        );
        assert_eq!(
            parse("3_x.autocommit.up.sql"),
            name("3", "x", None, true, true)
        );
        assert!(
            parse("4_x.cockroach.up.sql")
                .unwrap_err()
                .contains("CockroachDB")
        );
        assert!(
            parse("5_x.oracle.up.sql")
                .unwrap_err()
                .contains("unsupported")
        );
        assert!(parse("6_x.up.fizz").unwrap_err().contains("fizz"));
        for not_a_migration in [
            "README.md",
            "x_1.up.sql",
            "7_.up.sql",
            "8_x.sql",
            "9_x.a.b.up.sql",
        ] {
            assert_eq!(parse(not_a_migration), Ok(None), "{not_a_migration}");
        }
    }
}
