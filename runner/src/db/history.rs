//! Retort's bookkeeping tables (`retort_history`, `retort_artifacts`), written once for every
//! dialect: the same statements, with `$N` placeholders, run through [`Session`]'s two
//! primitives. Only what the dialects spell differently is chosen per dialect here — column
//! types, "insert unless present", string concatenation and the catalog lookup.

use async_trait::async_trait;

use super::{
    ARTIFACT_PART, ARTIFACTS_TABLE, DbError, HISTORY_TABLE, HistoryRow, RowState, Session, packed,
    unpack,
};
use crate::bindings::Value;
use crate::core::Dialect;

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

/// The bookkeeping tables' names, qualified by the schema (PostgreSQL), database (MySQL) or
/// `main` (SQLite) the connection resolved before any migration ran: a temporary table, a
/// `search_path` or a `USE` a migration sets cannot redirect Retort's own statements.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tables {
    /// `retort_history`, qualified.
    pub history: String,
    /// `retort_artifacts`, qualified.
    pub artifacts: String,
    /// The schema (database, on MySQL) they are in, unquoted.
    pub schema: String,
}

impl Tables {
    /// Both tables under `prefix` (an already quoted schema followed by `.`, or empty) of
    /// `schema` (unquoted).
    pub fn under(prefix: &str, schema: &str) -> Self {
        Tables {
            history: format!("{prefix}{HISTORY_TABLE}"),
            artifacts: format!("{prefix}{ARTIFACTS_TABLE}"),
            schema: schema.to_string(),
        }
    }
}

/// `CREATE TABLE IF NOT EXISTS` for both tables.
pub(super) fn create_sql(dialect: Dialect, tables: &Tables) -> String {
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
    let Tables {
        history, artifacts, ..
    } = tables;
    format!(
        "CREATE TABLE IF NOT EXISTS {history} (
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
            notes {long},
            kept {long}
        );
        CREATE TABLE IF NOT EXISTS {artifacts} (
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

/// Appends `entry` (a `$N`) to the journal of a history row.
fn journal_sql(dialect: Dialect, history: &str) -> String {
    format!(
        "UPDATE {history} SET journal = {} WHERE revision = $2",
        concat(dialect, "COALESCE(journal, '')", "$1")
    )
}

/// Whether the history table exists: `$1` is its qualified name (PostgreSQL) or its bare name.
fn has_history_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => "SELECT CASE WHEN to_regclass($1) IS NULL THEN 0 ELSE 1 END",
        Dialect::Mysql => {
            "SELECT COUNT(*) FROM information_schema.tables \
             WHERE table_schema = DATABASE() AND table_name = $1"
        }
        Dialect::Sqlite => {
            "SELECT count(*) FROM main.sqlite_master WHERE type = 'table' AND name = $1"
        }
    }
}

fn store_part_sql(dialect: Dialect, artifacts: &str) -> String {
    let columns = "(digest, part, bytes, stored_at) VALUES ($1, $2, $3, $4)";
    match dialect {
        Dialect::Mysql => format!("INSERT IGNORE INTO {artifacts} {columns}"),
        Dialect::Postgres | Dialect::Sqlite => {
            format!("INSERT INTO {artifacts} {columns} ON CONFLICT (digest, part) DO NOTHING")
        }
    }
}

/// The `INSERT` of a history row into `history`, its placeholders numbered from `after + 1`.
fn insert_history_sql(history: &str, row: &HistoryRow, after: usize) -> (String, Vec<Value>) {
    let placeholders: Vec<String> = (after + 1..=after + 9).map(|i| format!("${i}")).collect();
    let sql = format!(
        "INSERT INTO {history} (revision, parents, description, digest, state, applied_at, \
         applied_by, duration_ms, signer) VALUES ({})",
        placeholders.join(", ")
    );
    let params = vec![
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
    (sql, params)
}

fn replace_digest_sql(dialect: Dialect, history: &str) -> String {
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
    format!("UPDATE {history} SET digest = $1, signer = $2, notes = {notes} WHERE revision = $4")
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

/// The catalog facts about the bookkeeping tables that would let anyone forge or hide what
/// Retort records through its own writes: triggers, rules, row security. `$1` and
/// `$2` are the tables' qualified (PostgreSQL) or bare names, `$3` the database (MySQL:
/// the migration's `USE` changes `DATABASE()`).
fn catalog_sql(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => {
            "SELECT c.relname::text, c.relkind::text,
                    (SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = c.oid AND NOT t.tgisinternal),
                    (SELECT count(*) FROM pg_rewrite r WHERE r.ev_class = c.oid),
                    (SELECT count(*) FROM pg_policy p WHERE p.polrelid = c.oid),
                    c.relrowsecurity, c.relforcerowsecurity
               FROM pg_class c WHERE c.oid IN (to_regclass($1), to_regclass($2)) ORDER BY 1"
        }
        // One table per lookup: with `IN` MariaDB opens every table of the database to find
        // their triggers (2 ms at 2,000 tables, after every migration); with `=` just the one.
        Dialect::Mysql => {
            "SELECT (SELECT GROUP_CONCAT(trigger_name) FROM information_schema.triggers
                      WHERE event_object_schema = $3 AND event_object_table = $1),
                    (SELECT GROUP_CONCAT(trigger_name) FROM information_schema.triggers
                      WHERE event_object_schema = $3 AND event_object_table = $2)"
        }
        Dialect::Sqlite => {
            "SELECT 'main', type, name, COALESCE(sql, '') FROM main.sqlite_master
              WHERE tbl_name IN ($1, $2) OR name IN ($1, $2)
             UNION ALL
             SELECT 'temp', type, name, COALESCE(sql, '') FROM temp.sqlite_master
              WHERE tbl_name IN ($1, $2) OR name IN ($1, $2)
             ORDER BY 1, 2, 3"
        }
    }
}

/// What [`catalog_sql`]'s rows show that must never be there, whoever put it there (a
/// MySQL trigger a migration created commits with its DDL, so it is refused on every later
/// run too): a trigger, rule or row security on the bookkeeping tables, or a temporary
/// object shadowing them.
fn tampered_catalog(dialect: Dialect, rows: &[Vec<Value>]) -> Option<String> {
    let text = |v: Option<&Value>| match v {
        Some(Value::Text(s)) => s.clone(),
        _ => String::new(),
    };
    for row in rows {
        let problem = match dialect {
            Dialect::Postgres => {
                let count = |i: usize| row.get(i).and_then(integer).unwrap_or(0);
                let flag = |i: usize| matches!(row.get(i), Some(Value::Boolean(true)));
                let table = text(row.first());
                if count(2) > 0 {
                    Some(format!("{table} has a trigger"))
                } else if count(3) > 0 {
                    Some(format!("{table} has a rule"))
                } else if count(4) > 0 || flag(5) || flag(6) {
                    Some(format!("{table} has row-level security"))
                } else {
                    None
                }
            }
            // One column per table: its triggers' names, NULL when it has none.
            Dialect::Mysql => [HISTORY_TABLE, ARTIFACTS_TABLE]
                .iter()
                .zip(row)
                .find(|(_, names)| !matches!(names, Value::Null))
                .map(|(table, names)| format!("{table} has a trigger (`{}`)", text(Some(names)))),
            Dialect::Sqlite => {
                let (schema, kind, name) = (text(row.first()), text(row.get(1)), text(row.get(2)));
                if kind == "trigger" {
                    Some(format!("a trigger (`{name}`) is defined on them"))
                } else if schema == "temp" {
                    Some(format!("a temporary {kind} `{name}` shadows them"))
                } else {
                    None
                }
            }
        };
        if problem.is_some() {
            return problem;
        }
    }
    None
}

/// MySQL: one history row's hash, as the bookkeeping digest takes it — every column but the
/// journal (which Retort appends to while a migration runs); NULL told from '' by `CHAR(0)`.
const MYSQL_HISTORY_ROW: &str = "UNHEX(SHA2(CONCAT_WS(CHAR(31), revision, parents, description, \
     digest, state, applied_at, applied_by, duration_ms, COALESCE(signer, CHAR(0)), \
     COALESCE(notes, CHAR(0)), COALESCE(kept, CHAR(0))), 256))";

/// MySQL: one stored artifact part's hash — its key and size (its bytes are checked against
/// the recorded digest when read).
const MYSQL_ARTIFACT_ROW: &str =
    "UNHEX(SHA2(CONCAT_WS(CHAR(31), digest, part, LENGTH(bytes)), 256))";

/// MySQL: the hashes the bookkeeping digest is made of, row by row (kind 0: a history row
/// keyed by revision; 1: an artifact part keyed by digest and part), for Retort's own
/// connection to keep ([`super::mirror::Mirror`]). With `only`, just the rows of those
/// revisions and the parts of those artifacts (`$1…`: the revisions, then the digests).
pub(crate) fn mysql_row_hashes_sql(tables: &Tables, only: Option<(usize, usize)>) -> String {
    let Tables {
        history, artifacts, ..
    } = tables;
    let list = |from: usize, n: usize| {
        (from..from + n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (rows, parts) = match only {
        None => (String::new(), String::new()),
        Some((r, a)) => (
            if r == 0 {
                " WHERE FALSE".to_string()
            } else {
                format!(" WHERE revision IN ({})", list(1, r))
            },
            if a == 0 {
                " WHERE FALSE".to_string()
            } else {
                format!(" WHERE digest IN ({})", list(r + 1, a))
            },
        ),
    };
    format!(
        "SELECT 0, revision, 0, {MYSQL_HISTORY_ROW} FROM {history}{rows}
         UNION ALL
         SELECT 1, digest, part, {MYSQL_ARTIFACT_ROW} FROM {artifacts}{parts}"
    )
}

/// A query for one digest of the bookkeeping tables' contents, computed by the server: every
/// history row but its journal, and every artifact part's key and size. `None` on SQLite, whose
/// authorizer refuses a migration's writes to them outright.
fn contents_digest_sql(dialect: Dialect, history: &str, artifacts: &str) -> Option<String> {
    match dialect {
        // A row's text form tells NULL (nothing) from '' (`""`).
        Dialect::Postgres => Some(format!(
            "SELECT encode(sha256(convert_to(
                 coalesce((SELECT string_agg((revision, parents, description, digest, state,
                                              applied_at, applied_by, duration_ms, signer, notes,
                                              kept)::text,
                                             chr(30) ORDER BY revision) FROM {history}), '')
                 || chr(29) ||
                 coalesce((SELECT string_agg((digest, part, octet_length(bytes))::text, chr(30)
                                             ORDER BY digest, part) FROM {artifacts}), '')
                 || chr(29) ||
                 coalesce((SELECT string_agg(concat_ws(':', a.attrelid, a.attname, a.atttypid,
                                  a.atttypmod, a.attnotnull, a.atthasdef, a.attisdropped), ','
                                  ORDER BY a.attrelid, a.attnum)
                           FROM pg_attribute a WHERE a.attnum > 0 AND a.attrelid IN
                                (to_regclass('{history}'), to_regclass('{artifacts}'))), '')
                 || (SELECT count(*) FROM pg_index WHERE indrelid IN
                         (to_regclass('{history}'), to_regclass('{artifacts}')))::text
                 || (SELECT count(*) FROM pg_constraint WHERE conrelid IN
                         (to_regclass('{history}'), to_regclass('{artifacts}')))::text
                 || coalesce((SELECT string_agg(concat_ws(':', r.relowner, r.relacl::text,
                                  r.relrowsecurity, r.relforcerowsecurity,
                                  (SELECT count(*) FROM pg_trigger g
                                    WHERE g.tgrelid = r.oid AND NOT g.tgisinternal),
                                  (SELECT count(*) FROM pg_rewrite w WHERE w.ev_class = r.oid),
                                  (SELECT count(*) FROM pg_policy p WHERE p.polrelid = r.oid)),
                                  ',' ORDER BY r.oid)
                           FROM pg_class r WHERE r.oid IN
                                (to_regclass('{history}'), to_regclass('{artifacts}'))), ''),
                 'UTF8')), 'hex')"
        )),
        // Each row's SHA-256, sorted bytewise (binary strings: no collation a session picks
        // can reorder them), so Retort's own connection can keep the same digest up to date
        // from the rows it writes (`db/mirror.rs`). `group_concat_max_len` is raised on every
        // connection Retort opens; a migration that lowers it on its own only makes its
        // fingerprint differ (and be refused).
        Dialect::Mysql => Some(format!(
            "SELECT SHA2(CONCAT(
                 COALESCE((SELECT GROUP_CONCAT(h ORDER BY h SEPARATOR '')
                             FROM (SELECT {MYSQL_HISTORY_ROW} AS h FROM {history}) r), ''),
                 CHAR(29),
                 COALESCE((SELECT GROUP_CONCAT(h ORDER BY h SEPARATOR '')
                             FROM (SELECT {MYSQL_ARTIFACT_ROW} AS h FROM {artifacts}) a), '')),
                 256)"
        )),
        Dialect::Sqlite => None,
    }
}

/// PostgreSQL, inside the transaction a migration runs in: what the transaction itself did to
/// the bookkeeping tables, in O(1) whatever the history's length — each table's oid (a table
/// dropped and made anew, or renamed away, has another), its file node (`TRUNCATE` and
/// rewriting `ALTER`s give a new one), and the transaction's own counts of rows it inserted,
/// updated and deleted there (`COPY` and `INSERT … ON CONFLICT` included), plus
/// `track_counts`, which those counts depend on (a superuser could switch it off), and its
/// definition as the catalog holds it (columns with type, nullability and default; the number
/// of indexes and constraints), which DDL that rewrites nothing changes (`ALTER COLUMN … DROP
/// NOT NULL`, `ADD COLUMN`, `CREATE INDEX`), and its owner, grants and row-security flags (a
/// `GRANT ALL … TO PUBLIC` would let any account plant rows a later run trusts), and their
/// triggers, rules and policies — so the catalog check after each migration is part of this
/// one query ([`Session::fingerprint_covers_catalog`]).
///
/// Four rows: the two tables' counts (oid, file node, `track_counts`, rows written), then
/// their definitions — so that a backend may read the counts alone and take the definitions
/// from an earlier read it knows still holds (PostgreSQL 15's "current transaction" counts
/// include earlier transactions' until they are flushed, so counts are compared only within
/// one transaction). `$1`, `$2`: the qualified table names.
const PG_TRANSACTION_WRITES_SQL: &str = "WITH t AS (SELECT 1 AS k, to_regclass($1)::oid AS oid
          UNION ALL SELECT 2, to_regclass($2)::oid)
    SELECT f FROM (SELECT t.k, concat_ws(',', current_setting('track_counts'), t.oid,
        pg_relation_filenode(t.oid), pg_stat_get_xact_tuples_inserted(t.oid),
        pg_stat_get_xact_tuples_updated(t.oid), pg_stat_get_xact_tuples_deleted(t.oid)) AS f
      FROM t
    UNION ALL SELECT t.k + 2, concat_ws(',',
        (SELECT md5(coalesce(string_agg(concat_ws(':', a.attname, a.atttypid, a.atttypmod,
                a.attnotnull, a.atthasdef, a.attisdropped), ',' ORDER BY a.attnum), ''))
           FROM pg_attribute a WHERE a.attrelid = t.oid AND a.attnum > 0),
        (SELECT count(*) FROM pg_index i WHERE i.indrelid = t.oid),
        (SELECT count(*) FROM pg_constraint c WHERE c.conrelid = t.oid),
        (SELECT concat_ws(':', r.relowner, r.relacl::text, r.relrowsecurity, r.relforcerowsecurity)
           FROM pg_class r WHERE r.oid = t.oid),
        (SELECT count(*) FROM pg_trigger g WHERE g.tgrelid = t.oid AND NOT g.tgisinternal),
        (SELECT count(*) FROM pg_rewrite w WHERE w.ev_class = t.oid),
        (SELECT count(*) FROM pg_policy p WHERE p.polrelid = t.oid))
      FROM t) fp
    ORDER BY k";

/// The first two rows of [`PG_TRANSACTION_WRITES_SQL`] alone (the counts): cheap to plan.
const PG_TRANSACTION_COUNTS_SQL: &str = "SELECT concat_ws(',', current_setting('track_counts'),
        t.oid, pg_relation_filenode(t.oid), pg_stat_get_xact_tuples_inserted(t.oid),
        pg_stat_get_xact_tuples_updated(t.oid), pg_stat_get_xact_tuples_deleted(t.oid))
    FROM (SELECT 1 AS k, to_regclass($1)::oid AS oid UNION ALL
          SELECT 2, to_regclass($2)::oid) t
    ORDER BY t.k";

/// [`PG_TRANSACTION_WRITES_SQL`] (or, `counts_only`, its counts) for the tables `history` and
/// `artifacts` (qualified names), written into the text as `E''` literals, which mean the same
/// under any `standard_conforming_strings`: a statement without parameters, so that
/// PostgreSQL's backend can send it in the round trip of another (`BEGIN`, the reset after a
/// migration).
pub(crate) fn pg_transaction_writes_sql(
    history: &str,
    artifacts: &str,
    counts_only: bool,
) -> String {
    let literal = |name: &str| format!("E'{}'", name.replace('\\', "\\\\").replace('\'', "''"));
    let sql = if counts_only {
        PG_TRANSACTION_COUNTS_SQL
    } else {
        PG_TRANSACTION_WRITES_SQL
    };
    sql.replace("$1", &literal(history))
        .replace("$2", &literal(artifacts))
}

/// The fingerprint of the rows a fingerprint query answered: the same text however the
/// rows were read.
pub(crate) fn fingerprint_text(rows: &[Vec<Value>]) -> String {
    format!("{rows:?}")
}

/// How [`HistoryStore::bookkeeping_fingerprint`] looks for a migration's writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Watch {
    /// A digest of the tables' contents, computed by the server: every protocol, every
    /// dialect, but it reads the whole history.
    Contents,
    /// The migration runs inside one transaction in which Retort writes nothing of its own
    /// while it runs: on PostgreSQL the transaction's own write counts
    /// (`PG_TRANSACTION_WRITES_SQL`) tell, without reading the history; elsewhere as
    /// [`Watch::Contents`].
    Transaction,
}

/// A bookkeeping write must change exactly one row: anything else means the tables are not
/// what Retort created (a migration hid, replaced or emptied them).
fn exactly_one(doing: &str, statement: &str, affected: u64) -> Result<(), DbError> {
    // MySQL counts a row whose new values equal its old ones as unchanged (0).
    if affected == 1 {
        return Ok(());
    }
    Err(DbError::Statement {
        doing: doing.into(),
        statement: statement.into(),
        code: None,
        message: format!(
            "changed {affected} rows where exactly one was expected: the bookkeeping tables are \
             not as Retort left them"
        ),
    })
}

/// The bookkeeping tables of a database, for any [`Session`].
#[async_trait]
pub trait HistoryStore: Session {
    /// Whether the history tables exist. Never creates anything.
    async fn has_history(&mut self) -> Result<bool, DbError> {
        let name = match self.dialect() {
            Dialect::Postgres => self.tables().history.clone(),
            Dialect::Mysql | Dialect::Sqlite => HISTORY_TABLE.to_string(),
        };
        let rows = self
            .host_query(
                "looking for retort_history",
                has_history_sql(self.dialect()),
                &[text(&name)],
            )
            .await?;
        Ok(rows
            .first()
            .and_then(|row| row.first())
            .and_then(integer)
            .is_some_and(|n| n > 0))
    }

    /// Creates the history tables if they do not exist, and adds to a history table made by
    /// an earlier Retort the columns it lacks (`kept`).
    async fn create_history(&mut self) -> Result<(), DbError> {
        let sql = create_sql(self.dialect(), self.tables());
        self.host_execute("creating the history tables", &sql, &[])
            .await?;
        let doing = "checking retort_history's columns";
        let schema = text(&self.tables().schema);
        let (sql, params) = match self.dialect() {
            Dialect::Sqlite => (
                "SELECT COUNT(*) FROM pragma_table_info('retort_history', $1) WHERE name = 'kept'",
                vec![schema],
            ),
            _ => (
                "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = $1 AND \
                 table_name = 'retort_history' AND column_name = 'kept'",
                vec![schema],
            ),
        };
        let rows = self.host_query(doing, sql, &params).await?;
        if rows.first().and_then(|r| r.first()).and_then(integer) == Some(0) {
            let long = types(self.dialect()).long;
            let sql = format!(
                "ALTER TABLE {} ADD COLUMN kept {long}",
                self.tables().history
            );
            self.host_execute("adding retort_history.kept", &sql, &[])
                .await?;
        }
        Ok(())
    }

    /// Stores the definitions `revision`'s upgrade kept for its downgrade (JSON,
    /// `db::ddl::definitions`), in the transaction that records it.
    async fn keep_definitions(&mut self, revision: &str, kept: &str) -> Result<(), DbError> {
        let sql = format!(
            "UPDATE {} SET kept = $1 WHERE revision = $2",
            self.tables().history
        );
        let doing = "keeping definitions in retort_history";
        self.writing(Some(revision), None);
        let n = self
            .host_execute(doing, &sql, &[text(kept), text(revision)])
            .await?;
        exactly_one(doing, &sql, n)
    }

    /// The definitions `revision`'s upgrade kept, if it kept any.
    async fn kept_definitions(&mut self, revision: &str) -> Result<Option<String>, DbError> {
        let sql = format!(
            "SELECT kept FROM {} WHERE revision = $1",
            self.tables().history
        );
        let rows = self
            .host_query("reading kept definitions", &sql, &[text(revision)])
            .await?;
        Ok(rows
            .into_iter()
            .next()
            .and_then(|r| r.into_iter().next())
            .and_then(|v| match v {
                Value::Text(s) => Some(s),
                Value::Bytes(b) => Some(String::from_utf8_lossy(&b).into_owned()),
                _ => None,
            }))
    }

    /// Every history row, oldest first; empty when the tables do not exist.
    async fn history(&mut self) -> Result<Vec<HistoryRow>, DbError> {
        if !self.has_history().await? {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT {HISTORY_COLUMNS} FROM {} ORDER BY applied_at, revision",
            self.tables().history
        );
        let rows = self.host_query("reading retort_history", &sql, &[]).await?;
        rows.into_iter().map(history_row).collect()
    }

    /// Adds a history row (inside the current transaction, if any).
    async fn insert_history(&mut self, row: &HistoryRow) -> Result<(), DbError> {
        let (sql, params) = insert_history_sql(&self.tables().history, row, 0);
        let doing = "recording the revision in retort_history";
        self.writing(Some(&row.revision), None);
        let n = self.host_execute(doing, &sql, &params).await?;
        exactly_one(doing, &sql, n)
    }

    /// [`HistoryStore::store_artifact`] of `row`'s artifact, then
    /// [`HistoryStore::insert_history`] of `row`: in one statement on PostgreSQL (a
    /// data-modifying `WITH`, one round trip) when the artifact is one part.
    async fn record_with_artifact(
        &mut self,
        bytes: &[u8],
        row: &HistoryRow,
    ) -> Result<(), DbError> {
        let packed = packed(bytes);
        if self.dialect() != Dialect::Postgres || packed.len() > ARTIFACT_PART {
            self.store_artifact(&row.digest, bytes).await?;
            return self.insert_history(row).await;
        }
        let Tables {
            history, artifacts, ..
        } = self.tables().clone();
        let (insert, history_params) = insert_history_sql(&history, row, 4);
        let sql = format!(
            "WITH stored AS ({} RETURNING 1) {insert}",
            store_part_sql(Dialect::Postgres, &artifacts)
        );
        let mut params = vec![
            text(&row.digest),
            Value::Integer(0),
            Value::Bytes(packed.to_vec()),
            Value::Text(super::now_rfc3339()),
        ];
        params.extend(history_params);
        let doing = "storing the artifact and recording the revision in retort_history";
        self.writing(Some(&row.revision), Some(&row.digest));
        let n = self.host_execute(doing, &sql, &params).await?;
        exactly_one(doing, &sql, n)
    }

    /// Changes the state (and duration) of a history row.
    async fn update_history(
        &mut self,
        revision: &str,
        state: RowState,
        duration_ms: i64,
    ) -> Result<(), DbError> {
        // A downgrade starts its own journal: the statements listed for an unfinished
        // downgrade are the downgrade's, never the upgrade's that ran long ago.
        let journal = if state == RowState::Downgrading {
            ", journal = NULL"
        } else {
            ""
        };
        let sql = format!(
            "UPDATE {} SET state = $1, duration_ms = $2{journal} WHERE revision = $3",
            self.tables().history
        );
        let params = [
            text(state.as_str()),
            Value::Integer(duration_ms),
            text(revision),
        ];
        let doing = "updating retort_history";
        self.writing(Some(revision), None);
        let n = self.host_execute(doing, &sql, &params).await?;
        exactly_one(doing, &sql, n)
    }

    /// [`HistoryStore::update_history`] to `applied` after a journaled step, appending
    /// `tail` (the entry of its last statement, not written yet) to the journal in the same
    /// statement: one commit, not two.
    async fn complete_history(
        &mut self,
        revision: &str,
        duration_ms: i64,
        tail: Option<&str>,
    ) -> Result<(), DbError> {
        let Some(tail) = tail else {
            return self
                .update_history(revision, RowState::Applied, duration_ms)
                .await;
        };
        let sql = format!(
            "UPDATE {} SET state = $1, duration_ms = $2, journal = {} WHERE revision = $4",
            self.tables().history,
            concat(self.dialect(), "COALESCE(journal, '')", "$3")
        );
        let params = [
            text(RowState::Applied.as_str()),
            Value::Integer(duration_ms),
            Value::Text(tail.into()),
            text(revision),
        ];
        let doing = "updating retort_history";
        self.writing(Some(revision), None);
        let n = self.host_execute(doing, &sql, &params).await?;
        exactly_one(doing, &sql, n)
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
        let sql = replace_digest_sql(self.dialect(), &self.tables().history);
        let params = [text(digest), optional(signer), text(note), text(revision)];
        let doing = "recording the accepted rebuild in retort_history";
        self.writing(Some(revision), None);
        let n = self.host_execute(doing, &sql, &params).await?;
        exactly_one(doing, &sql, n)
    }

    /// The state of `revision`'s history row as the database has it now, if it has one:
    /// read back after a commit, to see that nothing at COMMIT changed it.
    async fn recorded_state(&mut self, revision: &str) -> Result<Option<String>, DbError> {
        let sql = format!(
            "SELECT state FROM {} WHERE revision = $1",
            self.tables().history
        );
        let rows = self
            .host_query(
                "reading the revision back from retort_history",
                &sql,
                &[text(revision)],
            )
            .await?;
        Ok(rows
            .into_iter()
            .next()
            .map(|row| match row.into_iter().next() {
                Some(Value::Text(state)) => state,
                _ => "(not text)".to_string(),
            }))
    }

    /// Removes a history row (a downgrade).
    async fn delete_history(&mut self, revision: &str) -> Result<(), DbError> {
        let sql = format!("DELETE FROM {} WHERE revision = $1", self.tables().history);
        let doing = "removing the revision from retort_history";
        self.writing(Some(revision), None);
        let n = self.host_execute(doing, &sql, &[text(revision)]).await?;
        exactly_one(doing, &sql, n)
    }

    /// Appends `entry` to the journal of `revision`'s history row, durably: outside the
    /// migration's transaction where the dialect keeps one open across DDL (MySQL's own
    /// statements run on a connection of their own).
    async fn journal(&mut self, revision: &str, entry: &str) -> Result<(), DbError> {
        let sql = journal_sql(self.dialect(), &self.tables().history);
        let params = [Value::Text(entry.into()), Value::Text(revision.into())];
        let doing = "writing the journal";
        self.writing(Some(revision), None);
        let n = self.host_execute(doing, &sql, &params).await?;
        exactly_one(doing, &sql, n)
    }

    /// Stores an artifact's bytes under its digest, unless already stored: zlib-compressed
    /// (once per process for the same bytes: a fleet stores the same runtime in every target)
    /// and cut into parts of at most [`ARTIFACT_PART`] bytes, so that a Python or JavaScript
    /// component (~20 MB) fits MariaDB's default 16 MiB `max_allowed_packet`.
    async fn store_artifact(&mut self, digest: &str, bytes: &[u8]) -> Result<(), DbError> {
        let sql = store_part_sql(self.dialect(), &self.tables().artifacts);
        let packed = packed(bytes);
        for (i, chunk) in packed.chunks(ARTIFACT_PART).enumerate() {
            let params = [
                text(digest),
                Value::Integer(i64::try_from(i).unwrap_or(i64::MAX)),
                Value::Bytes(chunk.to_vec()),
                Value::Text(super::now_rfc3339()),
            ];
            self.writing(None, Some(digest));
            self.host_execute("storing the artifact", &sql, &params)
                .await?;
        }
        Ok(())
    }

    /// Whether bytes are stored under `digest` (an artifact, or a runtime script artifacts
    /// share).
    async fn has_artifact(&mut self, digest: &str) -> Result<bool, DbError> {
        let sql = format!(
            "SELECT part FROM {} WHERE digest = $1 AND part = 0",
            self.tables().artifacts
        );
        let rows = self
            .host_query("looking for a stored artifact", &sql, &[text(digest)])
            .await?;
        Ok(!rows.is_empty())
    }

    /// The stored bytes of an applied artifact, if the database has them. (Callers check
    /// them against the recorded digest.)
    async fn load_artifact(&mut self, digest: &str) -> Result<Option<Vec<u8>>, DbError> {
        let sql = format!(
            "SELECT bytes FROM {} WHERE digest = $1 ORDER BY part",
            self.tables().artifacts
        );
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

    /// A digest of everything in the bookkeeping tables a migration must not change: every
    /// history row but its journal (which Retort itself appends to while a migration runs),
    /// and every stored artifact part's key and size (its bytes are checked against the
    /// recorded digest when read), computed by the server. Taken before a migration runs and
    /// compared before it commits, with `view` saying through which connection the tables are
    /// read (see [`View`]) and `watch` how (see [`Watch`]). Empty on SQLite, whose authorizer
    /// refuses a migration's writes to them outright.
    async fn bookkeeping_fingerprint(
        &mut self,
        view: View,
        watch: Watch,
    ) -> Result<String, DbError> {
        let doing = "checking that the migration left Retort's bookkeeping alone";
        let Tables {
            history, artifacts, ..
        } = self.tables().clone();
        let reads_contents = watch == Watch::Contents || self.dialect() != Dialect::Postgres;
        if view == View::Own
            && reads_contents
            && let Some(fingerprint) = self.own_contents_fingerprint().await?
        {
            return Ok(fingerprint);
        }
        let (sql, params) = match (self.dialect(), watch) {
            (Dialect::Postgres, Watch::Transaction) => {
                // Read with the statement just before, if the backend could.
                if let Some(fingerprint) = self.take_fingerprint() {
                    return Ok(fingerprint);
                }
                (
                    pg_transaction_writes_sql(&history, &artifacts, false),
                    Vec::new(),
                )
            }
            (dialect, _) => match contents_digest_sql(dialect, &history, &artifacts) {
                Some(sql) => (sql, Vec::new()),
                None => return Ok(String::new()),
            },
        };
        let rows = match view {
            View::Own => self.host_query(doing, &sql, &params).await,
            View::Migration => self.host_query_as_migration(doing, &sql, &params).await,
        }?;
        Ok(fingerprint_text(&rows))
    }

    /// Refuses bookkeeping tables that Retort's own writes would go through something else
    /// on: a trigger, rule or row-security policy on them, or (SQLite) a temporary object
    /// shadowing them — whoever made it, and whenever (a MySQL trigger a migration created
    /// commits with its DDL, so every later run is refused too).
    async fn check_bookkeeping_catalog(&mut self, view: View) -> Result<(), DbError> {
        let doing = "checking Retort's bookkeeping tables";
        let dialect = self.dialect();
        let Tables {
            history,
            artifacts,
            schema,
        } = self.tables().clone();
        let names = match dialect {
            Dialect::Postgres => vec![text(&history), text(&artifacts)],
            Dialect::Mysql => vec![text(HISTORY_TABLE), text(ARTIFACTS_TABLE), text(&schema)],
            Dialect::Sqlite => vec![text(HISTORY_TABLE), text(ARTIFACTS_TABLE)],
        };
        let sql = catalog_sql(dialect);
        let rows = match view {
            View::Own => self.host_query(doing, sql, &names).await,
            View::Migration => self.host_query_as_migration(doing, sql, &names).await,
        }?;
        match tampered_catalog(dialect, &rows) {
            None => Ok(()),
            Some(problem) => Err(DbError::Statement {
                doing: doing.into(),
                statement: sql.into(),
                code: None,
                message: format!(
                    "{problem}: Retort's bookkeeping tables must have none (drop it; only \
                     Retort writes them)"
                ),
            }),
        }
    }
}

/// Through which connection [`HistoryStore::bookkeeping_fingerprint`] reads: where Retort's
/// own statements run on a connection of their own (MySQL), the migration's connection sees
/// what it wrote but has not committed, and a temporary table it made to shadow the real one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum View {
    /// Retort's own connection.
    Own,
    /// The connection the migration's statements run on.
    Migration,
}

impl<T: Session + ?Sized> HistoryStore for T {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tables_keep_each_dialects_column_types() {
        let my = create_sql(Dialect::Mysql, &Tables::under("", ""));
        assert!(
            my.contains("revision VARCHAR(255) NOT NULL PRIMARY KEY"),
            "{my}"
        );
        assert!(my.contains("bytes LONGBLOB NOT NULL"), "{my}");
        let pg = create_sql(Dialect::Postgres, &Tables::under("\"public\".", "public"));
        assert!(
            pg.contains("CREATE TABLE IF NOT EXISTS \"public\".retort_history"),
            "{pg}"
        );
        assert!(pg.contains("bytes BYTEA NOT NULL"), "{pg}");
        assert!(pg.contains("duration_ms BIGINT NOT NULL"), "{pg}");
        let lite = create_sql(Dialect::Sqlite, &Tables::under("main.", "main"));
        assert!(lite.contains("duration_ms INTEGER NOT NULL"), "{lite}");
    }

    #[test]
    fn only_the_spellings_differ() {
        let t = Tables::under("`db`.", "db");
        assert!(
            store_part_sql(Dialect::Mysql, &t.artifacts)
                .starts_with("INSERT IGNORE INTO `db`.retort_artifacts")
        );
        assert!(
            store_part_sql(Dialect::Sqlite, "main.retort_artifacts")
                .ends_with("ON CONFLICT (digest, part) DO NOTHING")
        );
        assert_eq!(
            journal_sql(Dialect::Mysql, &t.history),
            "UPDATE `db`.retort_history SET journal = CONCAT(COALESCE(journal, ''), $1) WHERE revision = $2"
        );
        assert_eq!(
            journal_sql(Dialect::Postgres, "\"public\".retort_history"),
            "UPDATE \"public\".retort_history SET journal = COALESCE(journal, '') || $1 WHERE revision = $2"
        );
        assert!(replace_digest_sql(Dialect::Postgres, "h").contains("chr(10)"));
        assert!(replace_digest_sql(Dialect::Mysql, "h").contains("CONCAT_WS(CHAR(10), notes, $3)"));
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
