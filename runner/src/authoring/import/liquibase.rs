//! Importing Liquibase formatted SQL: `.sql` files starting with `--liquibase formatted sql`,
//! in the directory and its subdirectories in path order (as `includeAll` reads them), each
//! `--changeset author:id [attributes]` one migration, in file order.
//!
//! Kept as Liquibase runs them: `runInTransaction:false` runs outside a transaction;
//! `--rollback …` lines and `/* liquibase rollback … */` blocks are the downgrade (`--rollback
//! not required` an empty one); `dbms:postgresql,mysql` makes the changeset run on those
//! engines only (a recorded no-op elsewhere; `mariadb` is `mysql`, `!h2` style exclusions
//! make it a no-op on the excluded ones); `endDelimiter:X` ends statements at a line ending
//! in `X`. Refused, named, since a Retort migration cannot reproduce them: preconditions,
//! `runAlways`/`runOnChange` (repeatable changesets) and `context` filters. The history table
//! `DATABASECHANGELOG` is adopted by changeset id.

use std::collections::BTreeMap;
use std::path::Path;

use crate::authoring::BuildError;

use super::{Imported, Report, file_name, id_of, read, words};

/// Adds the changesets of `dir` (and its subdirectories) to `report`, in Liquibase's order.
pub(super) fn read_dir(dir: &Path, report: &mut Report) -> crate::authoring::Result<()> {
    let files = super::files_below(dir)?;
    for path in files.into_iter().filter(|p| file_name(p).ends_with(".sql")) {
        let text = read(&path)?;
        if !is_formatted(&text) {
            report.skipped.push((
                path,
                "not Liquibase formatted SQL (no `--liquibase formatted sql` first line)".into(),
            ));
            continue;
        }
        for changeset in changesets(&text)
            .map_err(|e| BuildError::Refused(format!("{}: {e}", path.display())))?
        {
            let Some(m) = changeset.imported(&path)? else {
                report.skipped.push((
                    path.clone(),
                    format!(
                        "changeset {}:{} is for dbms {} only, none of them SQLite, PostgreSQL or MySQL/MariaDB",
                        changeset.author, changeset.id, changeset.dbms.join(",")
                    ),
                ));
                continue;
            };
            report.migrations.push(m);
        }
    }
    Ok(())
}

/// The comment text of a `--` line (`-- changeset …` and `--changeset …` alike), if it is one.
fn comment(line: &str) -> Option<&str> {
    line.trim_start().strip_prefix("--").map(str::trim_start)
}

fn starts_with_word(text: &str, word: &str) -> bool {
    text.len() >= word.len() && text[..word.len()].eq_ignore_ascii_case(word)
}

fn is_formatted(text: &str) -> bool {
    text.lines()
        .find(|l| !l.trim().is_empty())
        .and_then(comment)
        .is_some_and(|c| {
            c.split_whitespace()
                .map(str::to_ascii_lowercase)
                .collect::<Vec<_>>()
                == ["liquibase", "formatted", "sql"]
        })
}

/// One `--changeset`, parsed.
#[derive(Debug, Default, PartialEq, Eq)]
struct Changeset {
    author: String,
    id: String,
    /// Line number of its `--changeset` line.
    line: usize,
    attributes: BTreeMap<String, String>,
    dbms: Vec<String>,
    up: String,
    down: String,
}

fn changesets(text: &str) -> Result<Vec<Changeset>, String> {
    let mut out: Vec<Changeset> = Vec::new();
    let mut in_rollback_block = false;
    for (n, line) in text.lines().enumerate() {
        let number = n + 1;
        if in_rollback_block {
            let current = out
                .last_mut()
                .ok_or("a rollback block outside a changeset")?;
            match line.find("*/") {
                Some(end) => {
                    current.down.push_str(&line[..end]);
                    current.down.push('\n');
                    in_rollback_block = false;
                }
                None => {
                    current.down.push_str(line);
                    current.down.push('\n');
                }
            }
            continue;
        }
        if let Some(c) = comment(line) {
            if starts_with_word(c, "changeset") {
                out.push(parse_changeset(c["changeset".len()..].trim(), number)?);
                continue;
            }
            if starts_with_word(c, "rollback") {
                let current = out
                    .last_mut()
                    .ok_or_else(|| format!("line {number}: `--rollback` before any changeset"))?;
                let sql = c["rollback".len()..].trim_start();
                if !sql.eq_ignore_ascii_case("not required") && !sql.eq_ignore_ascii_case("empty") {
                    current.down.push_str(sql);
                    current.down.push('\n');
                }
                continue;
            }
            if starts_with_word(c, "precondition") {
                return Err(format!(
                    "line {number}: preconditions cannot be reproduced (a Retort migration \
                     always runs): remove `--{}` or turn it into SQL",
                    c.split_whitespace().next().unwrap_or("precondition")
                ));
            }
            if starts_with_word(c, "liquibase formatted")
                || starts_with_word(c, "comment")
                || starts_with_word(c, "validcheck")
            {
                continue;
            }
        }
        if line
            .trim_start()
            .to_ascii_lowercase()
            .starts_with("/* liquibase rollback")
        {
            let current = out
                .last_mut()
                .ok_or_else(|| format!("line {number}: a rollback block before any changeset"))?;
            let rest = &line.trim_start()["/* liquibase rollback".len()..];
            match rest.find("*/") {
                Some(end) => {
                    current.down.push_str(&rest[..end]);
                    current.down.push('\n');
                }
                None => {
                    current.down.push_str(rest);
                    current.down.push('\n');
                    in_rollback_block = true;
                }
            }
            continue;
        }
        if let Some(current) = out.last_mut() {
            current.up.push_str(line);
            current.up.push('\n');
        }
    }
    if in_rollback_block {
        return Err("a `/* liquibase rollback` block is not closed".into());
    }
    Ok(out)
}

fn parse_changeset(rest: &str, line: usize) -> Result<Changeset, String> {
    let mut words = rest.split_whitespace();
    let name = words
        .next()
        .ok_or_else(|| format!("line {line}: `--changeset` needs author:id"))?;
    let (author, id) = name
        .split_once(':')
        .filter(|(a, i)| !a.is_empty() && !i.is_empty())
        .ok_or_else(|| format!("line {line}: `--changeset {name}`: expected author:id"))?;
    let mut c = Changeset {
        author: author.to_string(),
        id: id.to_string(),
        line,
        ..Changeset::default()
    };
    for attribute in words {
        let (key, value) = attribute.split_once(':').unwrap_or((attribute, ""));
        let key = key.to_ascii_lowercase();
        match key.as_str() {
            "runalways" | "runonchange" if value.eq_ignore_ascii_case("true") => {
                return Err(format!(
                    "line {line}: changeset {name} is {key}: a repeatable changeset cannot be \
                     reproduced (a Retort migration runs once)"
                ));
            }
            "context" | "contextfilter" if !value.is_empty() => {
                return Err(format!(
                    "line {line}: changeset {name} has context {value}: context filters cannot \
                     be reproduced (a Retort migration always runs); remove it, or move that \
                     data into a project of its own"
                ));
            }
            "dbms" => {
                c.dbms = value
                    .split(',')
                    .map(|d| d.trim().to_ascii_lowercase())
                    .collect()
            }
            _ => {
                c.attributes.insert(key, value.to_string());
            }
        }
    }
    Ok(c)
}

/// Liquibase's dbms names mapped to Retort's dialects.
fn dialect(dbms: &str) -> Option<&'static str> {
    match dbms {
        "postgresql" => Some("postgres"),
        "mysql" | "mariadb" => Some("mysql"),
        "sqlite" => Some("sqlite"),
        _ => None,
    }
}

impl Changeset {
    /// The Retort migration, or `None` for one that runs on no engine Retort supports.
    fn imported(&self, path: &Path) -> crate::authoring::Result<Option<Imported>> {
        let delimiter = self
            .attributes
            .get("enddelimiter")
            .filter(|d| !d.is_empty() && *d != ";");
        let up = match delimiter {
            Some(d) => end_statements(&self.up, d),
            None => self.up.clone(),
        };
        let down = match delimiter {
            Some(d) => end_statements(&self.down, d),
            None => self.down.clone(),
        };
        let transactional = !self
            .attributes
            .get("runintransaction")
            .is_some_and(|v| v.eq_ignore_ascii_case("false"));
        if id_of(&self.id).is_empty() {
            return Err(BuildError::Refused(format!(
                "{}: changeset {}:{} has no usable id",
                path.display(),
                self.author,
                self.id
            )));
        }
        let mut m = Imported {
            id: id_of(&self.id),
            version: self.id.clone(),
            description: format!("{} by {}", words(&self.id), self.author),
            up: String::new(),
            down: String::new(),
            transactional,
            sources: vec![path.to_path_buf()],
            variants: BTreeMap::new(),
            depends_on: Vec::new(),
        };
        let (included, excluded): (Vec<&String>, Vec<&String>) =
            self.dbms.iter().partition(|d| !d.starts_with('!'));
        if self.dbms.is_empty()
            || included.iter().any(|d| d.as_str() == "all")
            || included.is_empty()
        {
            m.up = up;
            m.down = down;
            for d in excluded.iter().filter_map(|d| dialect(&d[1..])) {
                m.variants
                    .insert(d.into(), (Some(String::new()), Some(String::new())));
            }
            return Ok(Some(m));
        }
        let engines: Vec<&str> = included.iter().filter_map(|d| dialect(d)).collect();
        if engines.is_empty() {
            return Ok(None);
        }
        for d in engines {
            m.variants
                .insert(d.into(), (Some(up.clone()), Some(down.clone())));
        }
        Ok(Some(m))
    }
}

/// `text` with each line ending in `delimiter` ending in `;` instead.
fn end_statements(text: &str, delimiter: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim_end();
        match trimmed.strip_suffix(delimiter) {
            Some(rest) => {
                out.push_str(rest);
                out.push(';');
            }
            None => out.push_str(line),
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "--liquibase formatted sql\n\
        \n\
        --changeset ada:1\n\
        CREATE TABLE t (id INT);\n\
        --rollback DROP TABLE t;\n\
        \n\
        -- changeset bob:add-index runInTransaction:false dbms:postgresql,mariadb\n\
        --comment: concurrently where it can\n\
        CREATE INDEX t_id ON t (id);\n\
        /* liquibase rollback\n\
        DROP INDEX t_id;\n\
        */\n\
        --changeset ada:3 dbms:!sqlite endDelimiter://\n\
        CREATE PROCEDURE p() BEGIN SELECT 1; END//\n\
        --rollback not required\n";

    #[test]
    fn changesets_rollbacks_and_attributes() {
        let sets = changesets(FILE).unwrap();
        assert_eq!(sets.len(), 3);
        assert_eq!((sets[0].author.as_str(), sets[0].id.as_str()), ("ada", "1"));
        assert_eq!(sets[0].down, "DROP TABLE t;\n");
        assert_eq!(sets[1].dbms, ["postgresql", "mariadb"]);
        assert_eq!(sets[1].down, "\nDROP INDEX t_id;\n\n");
        assert_eq!(sets[2].down, "");
        let path = Path::new("x.sql");
        let index = sets[1].imported(path).unwrap().unwrap();
        assert!(!index.transactional);
        assert_eq!(index.up, "");
        assert_eq!(
            index.variants.keys().collect::<Vec<_>>(),
            ["mysql", "postgres"]
        );
        let procedure = sets[2].imported(path).unwrap().unwrap();
        assert_eq!(procedure.up, "CREATE PROCEDURE p() BEGIN SELECT 1; END;\n");
        assert_eq!(
            procedure.variants["sqlite"],
            (Some(String::new()), Some(String::new()))
        );
        assert_eq!(procedure.id, "3");
    }

    #[test]
    fn what_a_migration_cannot_reproduce_is_refused() {
        let refused = |extra: &str| {
            changesets(&format!("--liquibase formatted sql\n{extra}\nSELECT 1;\n")).unwrap_err()
        };
        assert!(refused("--changeset a:1 runOnChange:true").contains("repeatable"));
        assert!(refused("--changeset a:1 context:test").contains("context filters"));
        assert!(
            refused("--changeset a:1\n--precondition-sql-check expectedResult:0 SELECT 1")
                .contains("preconditions")
        );
        assert!(refused("--changeset nobody").contains("author:id"));
        assert!(!is_formatted("CREATE TABLE t (id INT);"));
        assert!(is_formatted("\n-- liquibase formatted sql\n"));
    }
}
