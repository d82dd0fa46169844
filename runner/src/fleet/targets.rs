//! Which databases a fleet run covers: where their URLs come from, their names in logs, the
//! server each one is on, and which of several workers takes each one.

use std::collections::BTreeSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::FleetError;
use crate::core::{Dialect, DialectExt};

/// One database of a fleet: a SQLite file, a PostgreSQL database or schema (a URL with
/// `options[search_path]=SCHEMA`), a MySQL/MariaDB database.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FleetTarget {
    /// Its URL, as listed (credentials included).
    pub url: String,
    /// Its name in logs, reports and the control database: the URL without its password.
    pub name: String,
    /// The server it is on (`postgres://host:port`, `mysql://host:port`; `sqlite` for files):
    /// what `jobs_per_server` limits.
    pub server: String,
}

impl FleetTarget {
    /// A target from its URL; `None` when the URL names no engine Retort knows.
    pub fn new(url: &str) -> Option<FleetTarget> {
        let dialect = Dialect::of_url(url)?;
        let name = crate::db::redact(url);
        let server = match dialect {
            Dialect::Sqlite => "sqlite".to_string(),
            _ => {
                let (scheme, rest) = url.split_once("://")?;
                let authority = rest.split(['/', '?']).next().unwrap_or_default();
                let host = authority.rsplit('@').next().unwrap_or(authority);
                format!("{scheme}://{host}")
            }
        };
        Some(FleetTarget {
            url: url.to_string(),
            name,
            server,
        })
    }
}

/// Where a fleet's URLs come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TargetSource {
    /// A file of URLs, one per line; blank lines and lines starting with `#` are skipped.
    File {
        /// The file.
        path: PathBuf,
    },
    /// SQLite files matching a glob (`tenants/*.db`, `sqlite://tenants/*.db`).
    Glob {
        /// The pattern.
        pattern: String,
    },
    /// A command (run by `sh -c`) that prints URLs, one per line.
    Command {
        /// The command line.
        command: String,
    },
    /// A query on a control database whose rows' first column is a URL.
    Sql {
        /// The database the query runs on.
        url: String,
        /// The query.
        query: String,
    },
}

impl TargetSource {
    /// The same source with any password in it replaced by `***`, to be written down.
    pub fn redacted(&self) -> TargetSource {
        match self {
            TargetSource::Sql { url, query } => TargetSource::Sql {
                url: crate::db::redact(url),
                query: query.clone(),
            },
            other => other.clone(),
        }
    }

    /// Lists the targets, in the source's order, refusing a line that is not a URL Retort
    /// can migrate and a target listed twice.
    pub async fn list(&self) -> Result<Vec<FleetTarget>, FleetError> {
        let lines: Vec<(String, String)> = match self {
            TargetSource::File { path } => {
                let text = std::fs::read_to_string(path).map_err(|e| FleetError::Targets {
                    source_name: path.display().to_string(),
                    message: e.to_string(),
                })?;
                numbered(&path.display().to_string(), &text)
            }
            TargetSource::Glob { pattern } => glob_urls(pattern)?,
            TargetSource::Command { command } => {
                numbered(&format!("`{command}`"), &run_command(command)?)
            }
            TargetSource::Sql { url, query } => query_urls(url, query).await?,
        };
        let mut seen = BTreeSet::new();
        let mut targets = Vec::with_capacity(lines.len());
        for (place, url) in lines {
            let target = FleetTarget::new(&url).ok_or_else(|| FleetError::Targets {
                source_name: place.clone(),
                message: format!(
                    "`{}` is not a database URL (sqlite://, postgres://, mysql://, mariadb://)",
                    crate::db::redact(&url)
                ),
            })?;
            if !seen.insert(target.name.clone()) {
                return Err(FleetError::Targets {
                    source_name: place,
                    message: format!("`{}` is listed twice", target.name),
                });
            }
            targets.push(target);
        }
        Ok(targets)
    }
}

impl std::fmt::Display for TargetSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TargetSource::File { path } => write!(f, "the file {}", path.display()),
            TargetSource::Glob { pattern } => write!(f, "the files matching {pattern}"),
            TargetSource::Command { command } => write!(f, "the output of `{command}`"),
            TargetSource::Sql { url, .. } => {
                write!(f, "a query on {}", crate::db::redact(url))
            }
        }
    }
}

/// The URL lines of a text, with where each came from (`file:line`).
fn numbered(origin: &str, text: &str) -> Vec<(String, String)> {
    text.lines()
        .enumerate()
        .map(|(i, line)| (i, line.trim()))
        .filter(|(_, line)| !line.is_empty() && !line.starts_with('#'))
        .map(|(i, line)| (format!("{origin}:{}", i + 1), line.to_string()))
        .collect()
}

fn glob_urls(pattern: &str) -> Result<Vec<(String, String)>, FleetError> {
    let bare = pattern.strip_prefix("sqlite://").unwrap_or(pattern);
    let fail = |message: String| FleetError::Targets {
        source_name: format!("the glob {pattern}"),
        message,
    };
    let paths = glob::glob(bare).map_err(|e| fail(e.to_string()))?;
    let mut files = Vec::new();
    for path in paths {
        let path = path.map_err(|e| fail(e.to_string()))?;
        if path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files
        .into_iter()
        .map(|p| {
            (
                format!("the glob {pattern}"),
                format!("sqlite://{}", p.display()),
            )
        })
        .collect())
}

fn run_command(command: &str) -> Result<String, FleetError> {
    let fail = |message: String| FleetError::Targets {
        source_name: format!("`{command}`"),
        message,
    };
    let output = std::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let said = match stderr.trim() {
            "" => String::new(),
            text => format!(": {text}"),
        };
        return Err(fail(format!("it exited with {}{said}", output.status)));
    }
    String::from_utf8(output.stdout).map_err(|_| fail("it printed text that is not UTF-8".into()))
}

async fn query_urls(url: &str, query: &str) -> Result<Vec<(String, String)>, FleetError> {
    use sqlx::Connection;
    let place = format!("the query on {}", crate::db::redact(url));
    let fail = |e: String| FleetError::Targets {
        source_name: place.clone(),
        message: e,
    };
    let sql = sqlx::AssertSqlSafe(query.to_string());
    let rows: Vec<String> = match Dialect::of_url(url) {
        Some(Dialect::Postgres) => {
            let mut conn = sqlx::PgConnection::connect(url)
                .await
                .map_err(|e| fail(e.to_string()))?;
            sqlx::query_scalar(sql)
                .fetch_all(&mut conn)
                .await
                .map_err(|e| fail(e.to_string()))?
        }
        Some(Dialect::Mysql) => {
            let mut conn = sqlx::MySqlConnection::connect(url)
                .await
                .map_err(|e| fail(e.to_string()))?;
            sqlx::query_scalar(sql)
                .fetch_all(&mut conn)
                .await
                .map_err(|e| fail(e.to_string()))?
        }
        Some(Dialect::Sqlite) => {
            let path = url.trim_start_matches("sqlite://");
            let conn = rusqlite::Connection::open_with_flags(
                path,
                rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY,
            )
            .map_err(|e| fail(e.to_string()))?;
            let mut stmt = conn.prepare(query).map_err(|e| fail(e.to_string()))?;
            stmt.query_map([], |r| r.get::<_, String>(0))
                .and_then(|rows| rows.collect::<Result<Vec<_>, _>>())
                .map_err(|e| fail(e.to_string()))?
        }
        None => return Err(fail("not a database URL".into())),
    };
    Ok(rows
        .into_iter()
        .enumerate()
        .map(|(i, url)| (format!("{place}, row {}", i + 1), url.trim().to_string()))
        .collect())
}

/// One of `count` workers (1-based `index`): each target belongs to exactly one, decided by
/// its name alone, so workers started with `1/N` … `N/N` on the same list (a CI matrix, a
/// Kubernetes Indexed Job) cover it once without talking to each other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partition {
    /// This worker, from 1.
    pub index: u32,
    /// How many workers.
    pub count: u32,
}

impl Partition {
    /// Parses `K/N` (1 ≤ K ≤ N).
    pub fn parse(text: &str) -> Result<Partition, FleetError> {
        let bad = || FleetError::Partition(text.to_string());
        let (k, n) = text.split_once('/').ok_or_else(bad)?;
        let index: u32 = k.trim().parse().map_err(|_| bad())?;
        let count: u32 = n.trim().parse().map_err(|_| bad())?;
        if index == 0 || index > count {
            return Err(bad());
        }
        Ok(Partition { index, count })
    }

    /// Whether `target` is this worker's: SHA-256 of its name, modulo the count (stable
    /// across machines, versions and list orders).
    pub fn contains(&self, target: &FleetTarget) -> bool {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(target.name.as_bytes());
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&digest[..8]);
        u64::from_be_bytes(bytes) % u64::from(self.count) == u64::from(self.index - 1)
    }
}

impl std::fmt::Display for Partition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_target_is_named_without_its_password_and_knows_its_server() {
        let t =
            FleetTarget::new("postgres://app:secret@db1:5432/t?options[search_path]=a").unwrap();
        assert_eq!(
            t.name,
            "postgres://app:***@db1:5432/t?options[search_path]=a"
        );
        assert_eq!(t.server, "postgres://db1:5432");
        assert_eq!(FleetTarget::new("sqlite://x.db").unwrap().server, "sqlite");
        assert!(FleetTarget::new("redis://x").is_none());
    }

    #[test]
    fn partitions_cover_every_target_once() {
        let targets: Vec<FleetTarget> = (0..1000)
            .map(|i| FleetTarget::new(&format!("sqlite://t{i}.db")).unwrap())
            .collect();
        let parts: Vec<Partition> = (1..=3).map(|k| Partition { index: k, count: 3 }).collect();
        let mut sizes = [0usize; 3];
        for t in &targets {
            let owners: Vec<usize> = (0..3).filter(|&k| parts[k].contains(t)).collect();
            assert_eq!(owners.len(), 1, "{} has {owners:?}", t.name);
            sizes[owners[0]] += 1;
        }
        // Roughly even (a hash, not a round robin).
        assert!(sizes.iter().all(|&n| n > 250), "{sizes:?}");
    }

    #[test]
    fn partition_syntax() {
        assert_eq!(
            Partition::parse("2/3").unwrap(),
            Partition { index: 2, count: 3 }
        );
        for bad in ["0/3", "4/3", "1", "a/b", "1/0"] {
            assert!(Partition::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn url_lines_skip_comments_and_blanks_and_say_where_they_are() {
        let lines = numbered("t.txt", "# tenants\n\nsqlite://a.db\n  sqlite://b.db  \n");
        assert_eq!(
            lines,
            [
                ("t.txt:3".to_string(), "sqlite://a.db".to_string()),
                ("t.txt:4".to_string(), "sqlite://b.db".to_string())
            ]
        );
    }
}
