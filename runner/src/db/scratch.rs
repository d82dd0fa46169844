//! Scratch databases: made for one `retort check` (or one test) on the server of a given
//! URL, and dropped after it. Like Django's and `sqlx::test`'s test databases, a scratch
//! database is created next to the one the URL names (PostgreSQL, MySQL), so the account
//! needs the right to create databases there; on SQLite it is a file in a temporary
//! directory.

use super::{Access, DbError, connect};

/// A database of its own; [`Scratch::drop_database`] removes it (a SQLite one also goes with
/// the value).
pub struct Scratch {
    /// Where it is.
    pub url: String,
    server: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl Scratch {
    /// Creates an empty database on `server`'s engine (and server), named after `label`.
    pub async fn create(server: &str, label: &str) -> Result<Scratch, DbError> {
        let scheme = server.split_once("://").map(|(s, _)| s).unwrap_or("");
        let name = unique_name(label);
        if scheme == "sqlite" {
            let dir = tempfile::Builder::new()
                .prefix("retort-scratch-")
                .tempdir()
                .map_err(|e| DbError::Connect {
                    url: server.into(),
                    message: format!("cannot make a temporary directory: {e}"),
                })?;
            let url = format!(
                "sqlite://{}",
                dir.path().join(format!("{name}.db")).display()
            );
            return Ok(Scratch {
                url,
                server: None,
                _dir: Some(dir),
            });
        }
        let mut admin = connect(server, Access::ReadWrite).await?;
        let created = admin
            .host_execute(
                "creating a scratch database (the account needs the right to create one; \
                 or give another server)",
                &format!("CREATE DATABASE {name}"),
                &[],
            )
            .await;
        admin.close().await;
        created?;
        Ok(Scratch {
            url: with_database(server, &name),
            server: Some((server.to_string(), name)),
            _dir: None,
        })
    }

    /// Drops the database (PostgreSQL and MySQL; SQLite's file goes with its directory).
    pub async fn drop_database(self) -> Result<(), DbError> {
        let Some((server, name)) = &self.server else {
            return Ok(());
        };
        let force = if server.starts_with("postgres") {
            " WITH (FORCE)"
        } else {
            ""
        };
        let mut admin = connect(server, Access::ReadWrite).await?;
        let dropped = admin
            .host_execute(
                "dropping the scratch database",
                &format!("DROP DATABASE IF EXISTS {name}{force}"),
                &[],
            )
            .await;
        admin.close().await;
        dropped.map(|_| ())
    }
}

/// `retort_<label>_<pid>_<nanos>`: lowercase letters, digits and `_` only, so it needs no
/// quoting on any engine.
fn unique_name(label: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let label: String = label
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .take(24)
        .collect();
    format!("retort_{label}_{}_{nanos}", std::process::id())
}

/// `scheme://authority/NAME?query`: the URL with its database replaced.
pub fn with_database(url: &str, name: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let query = path
        .split_once('?')
        .map(|(_, q)| format!("?{q}"))
        .unwrap_or_default();
    format!("{scheme}://{authority}/{name}{query}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_database_is_replaced_and_the_query_kept() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/app?sslmode=disable", "x"),
            "postgres://u:p@h:5432/x?sslmode=disable"
        );
        assert_eq!(with_database("mysql://root@h", "x"), "mysql://root@h/x");
    }

    #[test]
    fn names_need_no_quoting() {
        let name = unique_name("Catalog-DB");
        assert!(name.starts_with("retort_catalog_db_"), "{name}");
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
    }
}
