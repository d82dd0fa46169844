//! Importing Atlas versioned migrations (`<version>_<name>.sql` in one directory, ordered by
//! file name, with `atlas.sum`). The directory is verified against `atlas.sum` first, as Atlas
//! does before it runs anything: a migration edited after it was hashed is refused. A file
//! directive `-- atlas:txmode none` (in the comment block at the top, before an empty line)
//! runs it outside a transaction; `atlas:delimiter` is refused (Retort's splitter has no
//! custom delimiters). Atlas has no down files: each downgrade is a recorded no-op.

use std::path::Path;

use crate::authoring::BuildError;
use crate::authoring::error::io;
use base64::Engine;
use sha2::{Digest, Sha256};

use super::{Imported, Report, entries, file_name, id_of, read, words};

/// Adds the migrations of `dir` to `report`, after checking `atlas.sum`.
pub(super) fn read_dir(dir: &Path, report: &mut Report) -> crate::authoring::Result<()> {
    let mut files = Vec::new();
    for path in entries(dir)? {
        let name = file_name(&path);
        if path.is_file() && name.ends_with(".sql") {
            files.push((name, read(&path)?, path));
        }
    }
    // Atlas sorts by file name (`entries` sorts by path, which is the same within one dir).
    files.sort_by(|a, b| a.0.cmp(&b.0));
    verify(dir, &files)?;
    for (name, text, path) in files {
        let stem = name.trim_end_matches(".sql");
        let (version, rest) = stem.split_once('_').unwrap_or((stem, ""));
        let directives = file_directives(&text);
        if directives.iter().any(|d| d.starts_with("delimiter")) {
            return Err(BuildError::Refused(format!(
                "{}: `atlas:delimiter` is not supported; Retort keeps routine bodies whole \
                 without one, so remove the directive and use `;`",
                path.display()
            )));
        }
        let transactional = !directives.iter().any(|d| d == "txmode none");
        report.migrations.push(Imported {
            id: id_of(version),
            version: version.to_string(),
            description: words(rest),
            up: text,
            down: String::new(),
            transactional,
            sources: vec![path.clone()],
            variants: Default::default(),
            depends_on: Vec::new(),
        });
    }
    Ok(())
}

/// Atlas's hash file of `files` (name, content, path), in order: each entry is the running
/// SHA-256 of every name and content so far; a file whose first line says `atlas:sum ignore`
/// adds its name only, and has no entry.
fn hash_file(files: &[(String, String, std::path::PathBuf)]) -> Vec<(String, String)> {
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let mut running = Sha256::new();
    let mut out = Vec::new();
    for (name, text, _) in files {
        running.update(name.as_bytes());
        let first = text.lines().next().unwrap_or("");
        if first
            .split_once("atlas:sum")
            .is_some_and(|(_, rest)| rest.trim_start().starts_with("ignore"))
        {
            continue;
        }
        running.update(text.as_bytes());
        out.push((name.clone(), b64(&running.clone().finalize())));
    }
    out
}

/// The checksum of a hash file (its first line).
fn sum(entries: &[(String, String)]) -> String {
    let mut h = Sha256::new();
    for (name, hash) in entries {
        h.update(name.as_bytes());
        h.update(hash.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

/// Checks the directory against its `atlas.sum`, naming the first file that differs.
fn verify(
    dir: &Path,
    files: &[(String, String, std::path::PathBuf)],
) -> crate::authoring::Result<()> {
    let sum_path = dir.join("atlas.sum");
    let text = match std::fs::read_to_string(&sum_path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && files.is_empty() => return Ok(()),
        Err(e) => {
            return Err(io("read", &sum_path)(e).within(format!(
                "{} (Atlas's integrity file; `atlas migrate hash` writes it)",
                sum_path.display()
            )));
        }
    };
    let mut lines = text.lines();
    let recorded_sum = lines
        .next()
        .unwrap_or("")
        .trim_start_matches("h1:")
        .to_string();
    let recorded: Vec<(String, String)> = lines
        .filter(|l| !l.trim().is_empty())
        .map(|l| match l.split_once(" h1:") {
            Some((n, h)) => Ok((n.trim().to_string(), h.trim().to_string())),
            None => Err(BuildError::Invalid {
                file: sum_path.display().to_string(),
                message: format!("`{l}` is not `<file> h1:<hash>`"),
            }),
        })
        .collect::<crate::authoring::Result<_>>()?;
    if sum(&recorded) != recorded_sum {
        return Err(BuildError::Refused(format!(
            "{}: its own checksum does not match its lines (edited by hand?)",
            sum_path.display()
        )));
    }
    let computed = hash_file(files);
    if computed != recorded {
        let differs = computed
            .iter()
            .zip(&recorded)
            .find(|(c, r)| c != r)
            .map(|(c, _)| c.0.clone())
            .or_else(|| computed.get(recorded.len()).map(|c| c.0.clone()))
            .or_else(|| recorded.get(computed.len()).map(|r| r.0.clone()))
            .unwrap_or_default();
        return Err(BuildError::Refused(format!(
            "{}: the directory does not match it (from `{differs}` on): a migration was changed, \
             added or removed after `atlas migrate hash`; restore it, or re-hash if intended",
            sum_path.display()
        )));
    }
    Ok(())
}

/// The `atlas:` directives of the comment block at the top of a file, when an empty line
/// separates that block from the statements (Atlas's rule for file directives).
fn file_directives(text: &str) -> Vec<String> {
    let mut comments = Vec::new();
    let mut rest = text;
    while rest.starts_with('#') || rest.starts_with("--") {
        match rest.find('\n') {
            Some(i) => {
                comments.push(rest[..i].trim().to_string());
                rest = &rest[i + 1..];
            }
            None => {
                comments.push(rest.trim().to_string());
                rest = "";
                break;
            }
        }
    }
    if !rest.starts_with('\n') && !rest.is_empty() {
        return Vec::new();
    }
    comments
        .iter()
        .filter_map(|c| c.split_once("atlas:").map(|(_, d)| d.trim().to_string()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn files(list: &[(&str, &str)]) -> Vec<(String, String, std::path::PathBuf)> {
        list.iter()
            .map(|(n, t)| (n.to_string(), t.to_string(), std::path::PathBuf::from(n)))
            .collect()
    }

    /// The expected values come from a port of Atlas's `NewHashFile`/`Sum` that reproduced a
    /// real project's `atlas.sum` exactly.
    #[test]
    fn hashes_as_atlas_does() {
        let f = files(&[
            (
                "20240101000000_create_users.sql",
                "CREATE TABLE ausers (id INTEGER PRIMARY KEY, name VARCHAR(50));\n",
            ),
            (
                "20240102000000_seed.sql",
                "INSERT INTO ausers (id, name) VALUES (1, 'ada');\n",
            ),
            (
                "20240103000000_index.sql",
                "-- atlas:txmode none\n\nCREATE INDEX ausers_by_name ON ausers (name);\n",
            ),
        ]);
        let h = hash_file(&f);
        assert_eq!(h[0].1, "/D8g7lUpQwg2QoLYs8J6bEMsVuCnTphQHFnvhY4AweQ=");
        assert_eq!(h[2].1, "iF2M0KmyOC6M8XP7KdHmgXqZbXaKXxa1thErReWwOLY=");
        assert_eq!(sum(&h), "NVhPpJPA1EG+yyIzaz1GhsTELDMqL98QhZqBxLsMFZM=");
    }

    #[test]
    fn directives_only_in_the_separated_top_block() {
        assert_eq!(
            file_directives("-- atlas:txmode none\n\nCREATE TABLE t (a INT);"),
            ["txmode none"]
        );
        assert!(file_directives("-- atlas:txmode none\nCREATE TABLE t (a INT);").is_empty());
        assert!(file_directives("CREATE TABLE t (a INT);\n-- atlas:txmode none\n").is_empty());
    }
}
