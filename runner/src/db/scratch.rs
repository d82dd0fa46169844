//! Scratch databases: made for one `retort check` (or one test) on the server of a given
//! URL, and dropped after it. Like Django's and `sqlx::test`'s test databases, a scratch
//! database is created next to the one the URL names (PostgreSQL, MySQL), so the account
//! needs the right to create databases there; on SQLite it is a file in a temporary
//! directory.

use super::{Access, DbError, connect};
use crate::core::Dialect;
use crate::core::DialectExt;

/// A database of its own; [`Scratch::drop_database`] removes it (a SQLite one also goes with
/// the value).
pub struct Scratch {
    /// Where it is (on MySQL/MariaDB, for a rehearsal, as its own account).
    pub url: String,
    server: Option<(String, String)>,
    /// The temporary account a MySQL rehearsal runs as, dropped with the database.
    account: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

/// How long a scratch database may live: one older than this was left by a run that was
/// killed, and the next rehearsal on the server drops it.
const STALE_AFTER_SECS: u64 = 6 * 3600;

/// The prefix of every scratch database's name (and MySQL rehearsal account's).
const PREFIX: &str = "retort_scratch_";

impl Scratch {
    /// Creates an empty database on `server`'s engine (and server), named after `label`.
    /// `isolated`: on MySQL/MariaDB, where one connection reaches every database of the
    /// server its account may, the scratch URL connects as a temporary account granted only
    /// the scratch database, so what a rehearsal runs (`USE app`, `otherdb.audit`) cannot
    /// reach real data; an account that cannot create one is refused, with the way out.
    pub async fn create(server: &str, label: &str, isolated: bool) -> Result<Scratch, DbError> {
        let name = unique_name(label);
        if Dialect::of_url(server) == Some(Dialect::Sqlite) {
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
                account: None,
                _dir: Some(dir),
            });
        }
        let mysql = Dialect::of_url(server) != Some(Dialect::Postgres);
        let mut admin = connect(server, Access::ReadWrite).await?;
        drop_stale(admin.as_mut(), mysql).await;
        let created = admin
            .host_execute(
                "creating a scratch database (the account needs the right to create one; \
                 or give another server)",
                &format!("CREATE DATABASE {name}"),
                &[],
            )
            .await;
        let mut scratch = Scratch {
            url: with_database(server, &name),
            server: Some((server.to_string(), name.clone())),
            account: None,
            _dir: None,
        };
        if let Err(e) = created {
            admin.close().await;
            return Err(e);
        }
        if mysql && isolated {
            let password = password();
            let made = admin
                .host_execute(
                    "creating the rehearsal's account, granted only its scratch database (the \
                     account needs CREATE USER and GRANT OPTION; or rehearse on a throwaway \
                     server whose account has them)",
                    &format!(
                        "CREATE USER '{name}'@'%' IDENTIFIED BY '{password}'; GRANT ALL \
                         PRIVILEGES ON `{name}`.* TO '{name}'@'%'"
                    ),
                    &[],
                )
                .await;
            scratch.account = Some(name.clone());
            if let Err(e) = made {
                admin.close().await;
                let _ = scratch.drop_database().await;
                return Err(e);
            }
            scratch.url = with_database(&with_account(server, &name, &password), &name);
        }
        admin.close().await;
        Ok(scratch)
    }

    /// Drops the database (PostgreSQL and MySQL; SQLite's file goes with its directory), and
    /// the rehearsal's account.
    pub async fn drop_database(self) -> Result<(), DbError> {
        let Some((server, name)) = &self.server else {
            return Ok(());
        };
        let force = if Dialect::of_url(server) == Some(Dialect::Postgres) {
            " WITH (FORCE)"
        } else {
            ""
        };
        let mut admin = connect(server, Access::ReadWrite).await?;
        let mut dropped = admin
            .host_execute(
                "dropping the scratch database",
                &format!("DROP DATABASE IF EXISTS {name}{force}"),
                &[],
            )
            .await;
        if let Some(account) = &self.account {
            let user = admin
                .host_execute(
                    "dropping the rehearsal's account",
                    &format!("DROP USER IF EXISTS '{account}'@'%'"),
                    &[],
                )
                .await;
            dropped = dropped.and(user);
        }
        admin.close().await;
        dropped.map(|_| ())
    }
}

/// Drops the scratch databases (and MySQL rehearsal accounts) on the server older than
/// [`STALE_AFTER_SECS`]: what runs killed before they could drop theirs left. Best effort: an
/// account that may not see or drop them leaves them.
async fn drop_stale(admin: &mut dyn super::Backend, mysql: bool) {
    let pattern = format!("{}%", PREFIX.replace('_', "\\_"));
    let list = match mysql {
        true => format!(
            "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE '{pattern}' \
             UNION SELECT User FROM mysql.user WHERE User LIKE '{pattern}'"
        ),
        false => format!("SELECT datname FROM pg_database WHERE datname LIKE '{pattern}'"),
    };
    // (mysql.user may be out of the account's sight: then only the databases.)
    let rows = match admin
        .host_query("listing scratch databases", &list, &[])
        .await
    {
        Ok(rows) => rows,
        Err(_) if mysql => {
            let databases = list.split(" UNION ").next().unwrap_or_default().to_string();
            match admin
                .host_query("listing scratch databases", &databases, &[])
                .await
            {
                Ok(rows) => rows,
                Err(_) => return,
            }
        }
        Err(_) => return,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for row in rows {
        // (MySQL may hand a UNION of names back as bytes.)
        let name = match row.into_iter().next() {
            Some(crate::bindings::Value::Text(name)) => name,
            Some(crate::bindings::Value::Bytes(b)) => String::from_utf8_lossy(&b).into_owned(),
            _ => continue,
        };
        let Some(made) = made_at(&name) else {
            continue;
        };
        if now.saturating_sub(made) < STALE_AFTER_SECS {
            continue;
        }
        let drops = match mysql {
            true => vec![
                format!("DROP DATABASE IF EXISTS `{name}`"),
                format!("DROP USER IF EXISTS '{name}'@'%'"),
            ],
            false => vec![format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)")],
        };
        for sql in drops {
            let _ = admin
                .host_execute("dropping a stale scratch database", &sql, &[])
                .await;
        }
    }
}

/// When a scratch database named by [`unique_name`] was made (Unix seconds); `None` for any
/// other name (which is never dropped).
fn made_at(name: &str) -> Option<u64> {
    let rest = name.strip_prefix(PREFIX)?;
    let secs = rest.split('_').next()?;
    let valid = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    valid.then(|| secs.parse().ok()).flatten()
}

/// A password for a rehearsal's account: 128 random bits, hex.
fn password() -> String {
    use rand_core::RngCore;
    let mut bytes = [0u8; 16];
    rand_core::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// `retort_scratch_<unix seconds>_<pid>_<n>_<label>`: lowercase letters, digits and `_`
/// only, so it needs no quoting on any engine; at most 64 characters (MySQL's limit for
/// database and account names); when it was made, so a stale one can be told.
fn unique_name(label: &str) -> String {
    static MADE: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = MADE.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let label: String = label
        .chars()
        .map(|c| match c {
            'a'..='z' | '0'..='9' => c,
            'A'..='Z' => c.to_ascii_lowercase(),
            _ => '_',
        })
        .take(12)
        .collect();
    format!("{PREFIX}{secs}_{}_{n}_{label}", std::process::id())
}

/// `scheme://USER:PASSWORD@host/…`: the URL with its account replaced (`user` and
/// `password` are letters, digits and `_`).
fn with_account(url: &str, user: &str, password: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    format!("{scheme}://{user}:{password}@{host}{path}")
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
    fn the_account_is_replaced_and_the_rest_kept() {
        assert_eq!(
            with_account("mysql://root:pw@h:3306/app?x=1", "u", "p"),
            "mysql://u:p@h:3306/app?x=1"
        );
        assert_eq!(with_account("mysql://h", "u", "p"), "mysql://u:p@h");
    }

    #[test]
    fn names_need_no_quoting_and_say_when_they_were_made() {
        let name = unique_name("Catalog-DB of the shop");
        assert!(name.starts_with("retort_scratch_"), "{name}");
        assert!(name.ends_with("_catalog_db_o"), "{name}");
        assert!(name.len() <= 64, "{name}");
        let made = made_at(&name).unwrap();
        assert!(made > 1_700_000_000, "{name}");
        assert_eq!(made_at("retort_scratch_x_1"), None);
        assert_eq!(made_at("app"), None);
        assert_ne!(unique_name("a"), unique_name("a"));
        assert!(
            name.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        );
    }
}
