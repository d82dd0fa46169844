//! Retort's bookkeeping tables (`retort_history`, `retort_artifacts`), written once for every
//! dialect: the same statements, with `$N` placeholders, run through [`Session`]'s two
//! primitives. Only what the dialects spell differently is chosen per dialect here — column
//! types, "insert unless present", string concatenation and the catalog lookup.

use async_trait::async_trait;

use super::{
    ARTIFACT_PART, ARTIFACTS_TABLE, DbError, HISTORY_TABLE, HistoryRow, RowState, Session, pack,
    unpack,
};
use crate::bindings::{Dialect, Value};

fn text(s: &str) -> Value {
    Value::Text(s.to_string())
}

fn optional(s: Option<&str>) -> Value {
    s.map_or(Value::Null, text)
}

/// Column types of the bookkeeping tables, as each dialect has always created them.
struct Types {
    key: &'static str,
    digest: &'static str,
    state: &'static str,
    time: &'static str,
    long: &'static str,
    bigint: &'static str,
    int: &'static str,
    blob: &'static str,
}

fn types(dialect: Dialect) -> Types {
    match dialect {
        Dialect::Postgres => Types {
            key: "TEXT",
            digest: "TEXT",
            state: "TEXT",
            time: "TEXT",
            long: "TEXT",
            bigint: "BIGINT",
            int: "INTEGER",
            blob: "BYTEA",
        },
        Dialect::Mysql => Types {
            key: "VARCHAR(255)",
            digest: "CHAR(64)",
            state: "VARCHAR(20)",
            time: "VARCHAR(40)",
            long: "LONGTEXT",
            bigint: "BIGINT",
            int: "INT",
            blob: "LONGBLOB",
        },
        Dialect::Sqlite => Types {
            key: "TEXT",
            digest: "TEXT",
            state: "TEXT",
            time: "TEXT",
            long: "TEXT",
            bigint: "INTEGER",
            int: "INTEGER",
            blob: "BLOB",
        },
    }
}

/// `CREATE TABLE IF NOT EXISTS` for both tables.
pub(super) fn create_sql(dialect: Dialect) -> String {
    let Types {
        key,
        digest,
        state,
        time,
        long,
        bigint,
        int,
        blob,
    } = types(dialect);
    format!(
        "CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (
            revision {key} NOT NULL PRIMARY KEY,
            parents TEXT NOT NULL,
            description TEXT NOT NULL,
            digest {digest} NOT NULL,
            state {state} NOT NULL,
            applied_at {time} NOT NULL,
            applied_by TEXT NOT NULL,
            duration_ms {bigint} NOT NULL,
            journal {long},
            signer TEXT,
            notes {long}
        );
        CREATE TABLE IF NOT EXISTS {ARTIFACTS_TABLE} (
            digest {digest} NOT NULL,
            part {int} NOT NULL,
            bytes {blob} NOT NULL,
            stored_at {time} NOT NULL,
            PRIMARY KEY (digest, part)
        );"
    )
}

/// `a || b` (MySQL's `||` is a logical or).
fn concat(dialect: Dialect, a: &str, b: &str) -> String {
    match dialect {
        Dialect::Mysql => format!("CONCAT({a}, {b})"),
        Dialect::Postgres | Dialect::Sqlite => format!("{a} || {b}"),
    }
}

/// Appends `entry` (a `$N`) to the journal of a history row: the statement every dialect's
/// journal connection runs.
pub(super) fn journal_sql(dialect: Dialect) -> String {
    format!(
        "UPDATE {HISTORY_TABLE} SET journal = {} WHERE revision = $2",
        concat(dialect, "COALESCE(journal, '')", "$1")
    )
}

fn has_history_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => "SELECT CASE WHEN to_regclass($1) IS NULL THEN 0 ELSE 1 END",
        Dialect::Mysql => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = $1"
        }
        Dialect::Sqlite => "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = $1",
    }
}

fn store_part_sql(dialect: Dialect) -> String {
    let columns = "(digest, part, bytes, stored_at) VALUES ($1, $2, $3, $4)";
    match dialect {
        Dialect::Mysql => format!("INSERT IGNORE INTO {ARTIFACTS_TABLE} {columns}"),
        Dialect::Postgres | Dialect::Sqlite => {
            format!("INSERT INTO {ARTIFACTS_TABLE} {columns} ON CONFLICT (digest, part) DO NOTHING")
        }
    }
}

fn replace_digest_sql(dialect: Dialect) -> String {
    let notes = match dialect {
        Dialect::Mysql => "CONCAT_WS(CHAR(10), notes, $3)".to_string(),
        Dialect::Postgres | Dialect::Sqlite => {
            let newline = if dialect == Dialect::Postgres {
                "chr(10)"
            } else {
                "char(10)"
            };
            format!("CASE WHEN notes IS NULL THEN $3 ELSE notes || {newline} || $3 END")
        }
    };
    format!(
        "UPDATE {HISTORY_TABLE} SET digest = $1, signer = $2, notes = {notes} WHERE revision = $4"
    )
}

const HISTORY_COLUMNS: &str = "revision, parents, description, digest, state, applied_at, \
                               applied_by, duration_ms, journal, signer, notes";

fn integer(v: &Value) -> Option<i64> {
    match v {
        Value::Integer(n) => Some(*n),
        Value::Decimal(d) => d.parse().ok(),
        Value::Boolean(b) => Some(i64::from(*b)),
        _ => None,
    }
}

/// A `retort_history` row from the values a [`Session`] read.
fn history_row(values: Vec<Value>) -> Result<HistoryRow, DbError> {
    let bad = |what: &str| DbError::Statement {
        doing: "reading retort_history".into(),
        statement: String::new(),
        code: None,
        message: format!("unexpected value in column {what}"),
    };
    let mut values = values.into_iter();
    let mut column = |name: &str| values.next().ok_or_else(|| bad(name));
    let mut required = |name: &str| match column(name)? {
        Value::Text(s) => Ok(s),
        _ => Err(bad(name)),
    };
    let revision = required("revision")?;
    let parents = required("parents")?;
    let description = required("description")?;
    let digest = required("digest")?;
    let state = required("state")?;
    let applied_at = required("applied_at")?;
    let applied_by = required("applied_by")?;
    let duration_ms = integer(&column("duration_ms")?).ok_or_else(|| bad("duration_ms"))?;
    let mut nullable = |name: &str| match column(name)? {
        Value::Null => Ok(None),
        Value::Text(s) => Ok(Some(s)),
        _ => Err(bad(name)),
    };
    let (journal, signer, notes) = (
        nullable("journal")?,
        nullable("signer")?,
        nullable("notes")?,
    );
    let state = RowState::parse(&state).ok_or_else(|| DbError::Statement {
        doing: format!("reading retort_history row {revision}"),
        statement: String::new(),
        code: None,
        message: format!("unknown state `{state}`"),
    })?;
    Ok(HistoryRow {
        revision,
        parents: parents.split_whitespace().map(str::to_string).collect(),
        description,
        digest,
        state,
        applied_at,
        applied_by,
        duration_ms,
        journal,
        signer,
        notes,
    })
}

/// The bookkeeping tables of a database, for any [`Session`].
#[async_trait]
pub trait HistoryStore: Session {
    /// Whether the history tables exist. Never creates anything.
    async fn has_history(&mut self) -> Result<bool, DbError> {
        let rows = self
            .host_query(
                "looking for retort_history",
                has_history_sql(self.dialect()),
                &[text(HISTORY_TABLE)],
            )
            .await?;
        Ok(rows
            .first()
            .and_then(|row| row.first())
            .and_then(integer)
            .is_some_and(|n| n > 0))
    }

    /// Creates the history tables if they do not exist.
    async fn create_history(&mut self) -> Result<(), DbError> {
        let sql = create_sql(self.dialect());
        self.host_execute("creating the history tables", &sql, &[])
            .await
            .map(|_| ())
    }

    /// Every history row, oldest first; empty when the tables do not exist.
    async fn history(&mut self) -> Result<Vec<HistoryRow>, DbError> {
        if !self.has_history().await? {
            return Ok(Vec::new());
        }
        let sql =
            format!("SELECT {HISTORY_COLUMNS} FROM {HISTORY_TABLE} ORDER BY applied_at, revision");
        let rows = self.host_query("reading retort_history", &sql, &[]).await?;
        rows.into_iter().map(history_row).collect()
    }

    /// Adds a history row (inside the current transaction, if any).
    async fn insert_history(&mut self, row: &HistoryRow) -> Result<(), DbError> {
        let sql = format!(
            "INSERT INTO {HISTORY_TABLE} (revision, parents, description, digest, state, \
             applied_at, applied_by, duration_ms, signer) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
        );
        let params = [
            text(&row.revision),
            Value::Text(row.parents.join(" ")),
            text(&row.description),
            text(&row.digest),
            text(row.state.as_str()),
            text(&row.applied_at),
            text(&row.applied_by),
            Value::Integer(row.duration_ms),
            optional(row.signer.as_deref()),
        ];
        self.host_execute("recording the revision in retort_history", &sql, &params)
            .await
            .map(|_| ())
    }

    /// Changes the state (and duration) of a history row.
    async fn update_history(
        &mut self,
        revision: &str,
        state: RowState,
        duration_ms: i64,
    ) -> Result<(), DbError> {
        let sql =
            format!("UPDATE {HISTORY_TABLE} SET state = $1, duration_ms = $2 WHERE revision = $3");
        let params = [
            text(state.as_str()),
            Value::Integer(duration_ms),
            text(revision),
        ];
        self.host_execute("updating retort_history", &sql, &params)
            .await
            .map(|_| ())
    }

    /// Records that an applied revision's artifact was deliberately rebuilt: its new digest
    /// and signer, and a note saying who accepted it and what it replaced.
    async fn replace_digest(
        &mut self,
        revision: &str,
        digest: &str,
        signer: Option<&str>,
        note: &str,
    ) -> Result<(), DbError> {
        let sql = replace_digest_sql(self.dialect());
        let params = [text(digest), optional(signer), text(note), text(revision)];
        self.host_execute(
            "recording the accepted rebuild in retort_history",
            &sql,
            &params,
        )
        .await
        .map(|_| ())
    }

    /// Removes a history row (a downgrade).
    async fn delete_history(&mut self, revision: &str) -> Result<(), DbError> {
        let sql = format!("DELETE FROM {HISTORY_TABLE} WHERE revision = $1");
        self.host_execute(
            "removing the revision from retort_history",
            &sql,
            &[text(revision)],
        )
        .await
        .map(|_| ())
    }

    /// Stores an artifact's bytes under its digest, unless already stored: zlib-compressed
    /// and cut into parts of at most [`ARTIFACT_PART`] bytes, so that a Python or JavaScript
    /// component (~20 MB) fits MariaDB's default 16 MiB `max_allowed_packet`.
    async fn store_artifact(&mut self, digest: &str, bytes: &[u8]) -> Result<(), DbError> {
        let sql = store_part_sql(self.dialect());
        let packed = pack(bytes);
        for (i, chunk) in packed.chunks(ARTIFACT_PART).enumerate() {
            let params = [
                text(digest),
                Value::Integer(i64::try_from(i).unwrap_or(i64::MAX)),
                Value::Bytes(chunk.to_vec()),
                Value::Text(super::now_rfc3339()),
            ];
            self.host_execute("storing the artifact", &sql, &params)
                .await?;
        }
        Ok(())
    }

    /// The stored bytes of an applied artifact, if the database has them. (Callers check
    /// them against the recorded digest.)
    async fn load_artifact(&mut self, digest: &str) -> Result<Option<Vec<u8>>, DbError> {
        let sql = format!("SELECT bytes FROM {ARTIFACTS_TABLE} WHERE digest = $1 ORDER BY part");
        let rows = self
            .host_query("reading a stored artifact", &sql, &[text(digest)])
            .await?;
        if rows.is_empty() {
            return Ok(None);
        }
        let mut packed = Vec::new();
        for row in rows {
            match row.into_iter().next() {
                Some(Value::Bytes(part)) => packed.extend(part),
                _ => {
                    return Err(DbError::Statement {
                        doing: format!("reading stored artifact {digest}"),
                        statement: sql,
                        code: None,
                        message: "a part is not bytes".into(),
                    });
                }
            }
        }
        unpack(&packed).map(Some).map_err(|e| DbError::Statement {
            doing: format!("unpacking stored artifact {digest}"),
            statement: String::new(),
            code: None,
            message: e.to_string(),
        })
    }
}

impl<T: Session + ?Sized> HistoryStore for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_keep_each_dialects_column_types() {
        let my = create_sql(Dialect::Mysql);
        assert!(
            my.contains("revision VARCHAR(255) NOT NULL PRIMARY KEY"),
            "{my}"
        );
        assert!(my.contains("bytes LONGBLOB NOT NULL"), "{my}");
        let pg = create_sql(Dialect::Postgres);
        assert!(pg.contains("bytes BYTEA NOT NULL"), "{pg}");
        assert!(pg.contains("duration_ms BIGINT NOT NULL"), "{pg}");
        let lite = create_sql(Dialect::Sqlite);
        assert!(lite.contains("duration_ms INTEGER NOT NULL"), "{lite}");
    }

    #[test]
    fn only_the_spellings_differ() {
        assert!(store_part_sql(Dialect::Mysql).starts_with("INSERT IGNORE INTO"));
        assert!(store_part_sql(Dialect::Sqlite).ends_with("ON CONFLICT (digest, part) DO NOTHING"));
        assert_eq!(
            journal_sql(Dialect::Mysql),
            "UPDATE retort_history SET journal = CONCAT(COALESCE(journal, ''), $1) WHERE revision = $2"
        );
        assert_eq!(
            journal_sql(Dialect::Postgres),
            "UPDATE retort_history SET journal = COALESCE(journal, '') || $1 WHERE revision = $2"
        );
        assert!(replace_digest_sql(Dialect::Postgres).contains("chr(10)"));
        assert!(replace_digest_sql(Dialect::Mysql).contains("CONCAT_WS(CHAR(10), notes, $3)"));
    }

    #[test]
    fn history_rows_decode_from_values() {
        let t = |s: &str| Value::Text(s.into());
        let row = history_row(vec![
            t("r2"),
            t("r0 r1"),
            t("merge"),
            t("ab"),
            t("upgrading"),
            t("2026-01-01T00:00:00Z"),
            t("retort x@y"),
            Value::Integer(12),
            t("CREATE TABLE t → 0 row(s)\n"),
            Value::Null,
            Value::Null,
        ])
        .unwrap();
        assert_eq!(row.parents, ["r0", "r1"]);
        assert_eq!(row.state, RowState::Upgrading);
        assert_eq!(row.duration_ms, 12);
        assert_eq!(row.signer, None);
        assert!(history_row(vec![t("r")]).is_err());
        let mut bad = vec![t("r"), t(""), t(""), t(""), t("nonsense"), t(""), t("")];
        bad.extend([Value::Integer(0), Value::Null, Value::Null, Value::Null]);
        assert!(history_row(bad).is_err());
    }
}
