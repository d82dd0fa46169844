//! MySQL and MariaDB through sqlx.
//!
//! DDL commits implicitly here, so the executor records a pending history row before a
//! migration and completes it after (see `docs/failure-states.md`). Retort's own statements
//! (the lock, the bookkeeping, the journal) run on a connection of their own, which no
//! migration statement reaches: a migration's `USE other_db`, temporary table or
//! `RELEASE_ALL_LOCKS()` cannot redirect or release them. The migration's connection runs
//! with `autocommit = 0` while it is lent, so after each statement that commits implicitly
//! (DDL) the next one opens a new transaction: DML is atomic up to the next DDL, never one
//! commit per row. Opening a streaming query also commits (see below), since its reader sees
//! only committed rows.
//!
//! Streaming queries: a MySQL connection cannot run a statement while a result is being
//! streamed on it, and sqlx has no server-side cursors. A guest query therefore streams on a
//! second, read-only connection opened for that query, inside `START TRANSACTION WITH
//! CONSISTENT SNAPSHOT`, and hands rows over a bounded channel. It sees what was committed
//! when the query started; so that this includes everything the migration wrote, opening a
//! query commits the migration's statements so far (like DDL does): a query is a commit
//! point on MySQL. See `docs/values.md#mysql-streaming`.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use futures_util::StreamExt;
use sqlx::mysql::{MySqlArguments, MySqlConnection, MySqlRow};
use sqlx::{
    Arguments, AssertSqlSafe, Column as _, Connection, Executor, Row, SqlSafeStr, TypeInfo,
    ValueRef,
};
use tokio::sync::mpsc;

use super::history::mysql_row_hashes_sql;
use super::mirror::{Mirror, Reread};
use super::placeholders::rewrite;
use super::values::{self, kind};
use super::{
    CursorId, DbError, GuestSql, Lock, Session, SqlFailure, Tables, plain_decimal, sqlx_db_error,
    sqlx_failure,
};
use crate::bindings::{Column, GuestError, Value};
use crate::core::Dialect;
use retort_sql::DynamicSql;

/// Rows per message from a streaming reader; with `CHANNEL_DEPTH` this bounds the rows
/// buffered in the host per open query.
const CHUNK: usize = 256;
const CHANNEL_DEPTH: usize = 2;

fn arguments(params: &[Value], order: &[usize]) -> Result<MySqlArguments, SqlFailure> {
    let mut args = MySqlArguments::default();
    for &i in order {
        let value = &params[i];
        let conv = |m: String| GuestError::Conversion(format!("parameter ${}: {m}", i + 1));
        let added = match value {
            Value::Null => args.add(None::<String>),
            Value::Boolean(b) => args.add(*b),
            Value::Integer(n) => args.add(*n),
            Value::Float(f) => args.add(*f),
            Value::Text(s) | Value::Decimal(s) | Value::Uuid(s) | Value::Json(s) => {
                args.add(s.clone())
            }
            Value::Bytes(b) => args.add(b.clone()),
            Value::Date(d) => {
                args.add(values::date_to_chrono(*d).map_err(|e| conv(e.to_string()))?)
            }
            Value::Time(t) => {
                args.add(values::time_to_chrono(*t).map_err(|e| conv(e.to_string()))?)
            }
            Value::Timestamp(dt) => {
                args.add(values::datetime_to_chrono(*dt).map_err(|e| conv(e.to_string()))?)
            }
            Value::Timestamptz(dt) => {
                args.add(values::utc_to_chrono(*dt).map_err(|e| conv(e.to_string()))?)
            }
        };
        added.map_err(|e| conv(format!("cannot send a {}: {e}", kind(value))))?;
    }
    Ok(args)
}

fn read(row: &MySqlRow, i: usize) -> Result<Value, String> {
    let raw = row.try_get_raw(i).map_err(|e| e.to_string())?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let type_name = raw.type_info().name().to_string();
    let e = |e: sqlx::Error| e.to_string();
    Ok(match type_name.as_str() {
        "BOOLEAN" => Value::Boolean(row.try_get(i).map_err(e)?),
        "TINYINT" | "SMALLINT" | "MEDIUMINT" | "INT" | "BIGINT" | "YEAR" => {
            Value::Integer(row.try_get_unchecked(i).map_err(e)?)
        }
        "TINYINT UNSIGNED" | "SMALLINT UNSIGNED" | "MEDIUMINT UNSIGNED" | "INT UNSIGNED"
        | "BIGINT UNSIGNED" => {
            let n: u64 = row.try_get_unchecked(i).map_err(e)?;
            match i64::try_from(n) {
                Ok(n) => Value::Integer(n),
                Err(_) => Value::Decimal(n.to_string()),
            }
        }
        "FLOAT" => Value::Float(row.try_get::<f32, _>(i).map_err(e)?.into()),
        "DOUBLE" => Value::Float(row.try_get(i).map_err(e)?),
        "DECIMAL" => Value::Decimal(plain_decimal(
            &row.try_get::<bigdecimal::BigDecimal, _>(i).map_err(e)?,
        )),
        "CHAR" | "VARCHAR" | "TEXT" | "TINYTEXT" | "MEDIUMTEXT" | "LONGTEXT" | "ENUM" | "SET" => {
            Value::Text(row.try_get_unchecked(i).map_err(e)?)
        }
        "JSON" => Value::Json(row.try_get_unchecked(i).map_err(e)?),
        "BINARY" | "VARBINARY" | "BLOB" | "TINYBLOB" | "MEDIUMBLOB" | "LONGBLOB" | "BIT" => {
            Value::Bytes(row.try_get_unchecked(i).map_err(e)?)
        }
        "DATE" => Value::Date(values::date_from_chrono(row.try_get(i).map_err(e)?)),
        "TIME" => Value::Time(values::time_from_chrono(row.try_get(i).map_err(e)?)),
        "DATETIME" => Value::Timestamp(values::datetime_from_chrono(row.try_get(i).map_err(e)?)),
        "TIMESTAMP" => Value::Timestamptz(values::utc_from_chrono(
            row.try_get::<chrono::DateTime<chrono::Utc>, _>(i)
                .map_err(e)?,
        )),
        other => {
            return Err(format!(
                "type {other} is not mapped by retort:migration@0.1.0; cast it in the query \
                 (e.g. `CAST(column AS CHAR)`)"
            ));
        }
    })
}

fn read_row(row: &MySqlRow) -> Result<Vec<Value>, SqlFailure> {
    (0..row.len())
        .map(|i| {
            read(row, i).map_err(|m| {
                let name = row.column(i).name();
                SqlFailure::Guest(GuestError::Conversion(format!("column `{name}`: {m}")))
            })
        })
        .collect()
}

type Chunk = Result<Vec<Vec<Value>>, SqlFailure>;

/// The session variables that change what statements mean or how they run, put back after
/// each migration: `(name, quoted)` — a text value is quoted by the server (`QUOTE`), a
/// number or switch is written as it reads.
const SESSION_VARIABLES: &[(&str, bool)] = &[
    ("sql_mode", true),
    ("time_zone", true),
    ("character_set_client", true),
    ("character_set_connection", true),
    ("character_set_results", true),
    ("collation_connection", true),
    ("foreign_key_checks", false),
    ("unique_checks", false),
    ("sql_safe_updates", false),
    ("sql_select_limit", false),
    ("sql_auto_is_null", false),
    ("sql_notes", false),
    ("sql_warnings", false),
    ("sql_quote_show_create", false),
    ("sql_big_selects", false),
    ("sql_buffer_result", false),
    ("innodb_strict_mode", false),
    ("explicit_defaults_for_timestamp", false),
    ("div_precision_increment", false),
    ("group_concat_max_len", false),
    ("auto_increment_increment", false),
    ("auto_increment_offset", false),
    ("default_week_format", false),
    ("wait_timeout", false),
    ("net_read_timeout", false),
    ("net_write_timeout", false),
    ("lc_time_names", true),
    ("lc_messages", true),
    ("default_storage_engine", true),
];

/// Those only MariaDB has, and the clock and system-versioning time put back to the real ones.
const MARIADB_VARIABLES: (&[(&str, bool)], &str) = (
    &[
        ("check_constraint_checks", false),
        ("sql_if_exists", false),
        ("standard_compliant_cte", false),
        ("max_statement_time", false),
        ("tx_isolation", true),
        ("tx_read_only", false),
        ("old_mode", true),
    ],
    "timestamp = DEFAULT, system_versioning_asof = DEFAULT",
);

/// Those only MySQL 8 has (MariaDB's names differ), and the clock.
const MYSQL_VARIABLES: (&[(&str, bool)], &str) = (
    &[
        ("transaction_isolation", true),
        ("transaction_read_only", false),
        ("max_execution_time", false),
    ],
    "timestamp = DEFAULT",
);

/// The query that builds, on the migration's connection, the statements putting its session
/// back as it is now: the variables above, then the default database (`USE`). A migration's
/// user variables and temporary tables are not reset (MariaDB cannot list them):
/// docs/security.md.
fn session_baseline((own, tail): (&[(&str, bool)], &str)) -> String {
    let parts: Vec<String> = SESSION_VARIABLES
        .iter()
        .chain(own)
        .map(|(name, quoted)| match quoted {
            true => format!("'{name} = ', COALESCE(QUOTE(@@session.{name}), 'NULL')"),
            false => format!("'{name} = ', @@session.{name}"),
        })
        .collect();
    format!(
        "SELECT CONCAT('SET SESSION ', {}, ', {tail}', ';\nUSE `', REPLACE(DATABASE(), '`', \
         '``'), '`')",
        parts.join(", ', ', ")
    )
}

/// A query streaming on its own connection.
struct Cursor {
    rx: mpsc::Receiver<Chunk>,
    buffered: std::collections::VecDeque<Vec<Value>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Cursor {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A connection to a MySQL or MariaDB database: the migration's, and Retort's own.
pub struct MySqlBackend {
    /// The connection the migration's statements run on.
    conn: MySqlConnection,
    /// `CONNECTION_ID()` of `conn`, to stop its statement at the deadline.
    conn_id: u64,
    /// Retort's own autocommit connection: the lock, the bookkeeping and the journal (which
    /// must survive the migration's rollback).
    own: MySqlConnection,
    /// The lock's name, resolved on `own` when connecting.
    lock_name: String,
    /// The session setup (`retort.toml` `session`), run on every connection that runs
    /// migration statements (the streaming readers too).
    setup: Vec<String>,
    /// Whether the last statement left the migration's transaction with nothing uncommitted
    /// ([`GuestSql::take_commit_point`]).
    commit_point: bool,
    /// Whether anything of the migration's transaction may have committed since `begin`: a
    /// statement that may commit implicitly was sent, the server reported a commit point, or
    /// a query committed to open ([`GuestSql::may_have_committed`]).
    committed_any: bool,
    /// Whether the migration sent a statement since its transaction last committed.
    wrote: bool,
    /// What puts `conn`'s session back as configured, read from it before the first
    /// migration ran ([`Session::configured`]).
    baseline: Option<String>,
    tables: Tables,
    /// The URL migration statements connect with (readers, the interrupter).
    url: String,
    cursors: HashMap<CursorId, Cursor>,
    next_cursor: CursorId,
    /// Whether a migration's transaction is open on `conn`.
    in_transaction: bool,
    /// The bookkeeping's fingerprint while a migration runs: checked before each statement
    /// that may commit implicitly (see [`Session::watch_bookkeeping`]).
    watched: Option<String>,
    /// What [`Session::known_artifacts`] answers.
    known: std::collections::HashSet<String>,
    /// Whether the migration's connection ran a statement since the bookkeeping was last
    /// found as watched, and that statement left the transaction open: only then can a write
    /// to the bookkeeping still be rolled back, and is it worth the check (O(history)) before
    /// a statement that may commit it.
    since_check: bool,
    /// The bookkeeping rows' hashes as last read on `own`, and the rows written since: the
    /// fingerprint before a migration without reading the history whole (`db/mirror.rs`).
    /// `None`: read everything next time.
    mirror: Option<Mirror>,
    /// What the next `host_execute` writes, as announced ([`Session::writing`]).
    announced: Option<(Option<String>, Option<String>)>,
}

async fn open(url: &str) -> Result<MySqlConnection, DbError> {
    let url = url.replacen("mariadb://", "mysql://", 1);
    let mut conn = MySqlConnection::connect(&url)
        .await
        .map_err(|e| DbError::Connect {
            url: super::redact(&url),
            message: e.to_string(),
        })?;
    // Instants (`timestamptz`) travel in UTC; the bookkeeping digest concatenates the whole
    // history (see `db/history.rs`), which must not be cut at the default 1 MiB.
    sqlx::raw_sql("SET time_zone = '+00:00', group_concat_max_len = 1073741824")
        .execute(&mut conn)
        .await
        .map_err(|e| {
            sqlx_db_error(
                "setting the session time zone",
                "SET time_zone = '+00:00', group_concat_max_len = 1073741824",
                e,
            )
        })?;
    Ok(conn)
}

/// Runs one of Retort's own statements on `conn` (`$N` placeholders).
async fn host_execute(
    conn: &mut MySqlConnection,
    doing: &str,
    sql: &str,
    params: &[Value],
) -> Result<u64, DbError> {
    let done = if params.is_empty() {
        sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
            .execute(&mut *conn)
            .await
    } else {
        let rewritten = rewrite(sql, Dialect::Mysql, params.len())
            .map_err(|m| super::host_failure(doing, sql, GuestError::InvalidStatement(m).into()))?;
        let args =
            arguments(params, &rewritten.order).map_err(|f| super::host_failure(doing, sql, f))?;
        sqlx::query_with(AssertSqlSafe(rewritten.sql), args)
            .execute(&mut *conn)
            .await
    };
    done.map(|r| r.rows_affected())
        .map_err(|e| sqlx_db_error(doing, sql, e))
}

/// Quotes a MySQL identifier.
fn quote_ident(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

impl MySqlBackend {
    /// Connects migrations as `migrations`' account; the lock and the bookkeeping use `url`'s.
    pub async fn connect(url: &str, migrations: &str) -> Result<Self, DbError> {
        let mut conn = open(migrations).await?;
        let mut own = open(url).await?;
        let sql = "SELECT CONNECTION_ID()";
        let conn_id: u64 = sqlx::query_scalar(sql)
            .fetch_one(&mut conn)
            .await
            .map_err(|e| sqlx_db_error("reading the connection id", sql, e))?;
        let sql = "SELECT DATABASE()";
        let database: Option<String> = sqlx::query_scalar(sql)
            .fetch_one(&mut own)
            .await
            .map_err(|e| sqlx_db_error("reading the database name", sql, e))?;
        let prefix = database
            .as_deref()
            .map(|d| format!("{}.", quote_ident(d)))
            .unwrap_or_default();
        Ok(MySqlBackend {
            conn,
            conn_id,
            own,
            lock_name: format!("retort:{}", database.clone().unwrap_or_default()),
            setup: Vec::new(),
            baseline: None,
            commit_point: false,
            committed_any: false,
            wrote: false,
            tables: Tables::under(&prefix, database.as_deref().unwrap_or_default()),
            url: migrations.to_string(),
            cursors: HashMap::new(),
            next_cursor: 1,
            in_transaction: false,
            watched: None,
            known: Default::default(),
            since_check: false,
            mirror: None,
            announced: None,
        })
    }

    /// Refuses, before it is sent, a statement that would change the bookkeeping tables in a
    /// way that commits at once (DDL on them, dynamic SQL): [`retort_sql::mysql_bookkeeping_refusal`].
    fn refuse_bookkeeping_ddl(&self, sql: &str) -> Result<(), SqlFailure> {
        let schema = &self.tables().schema;
        match retort_sql::mysql_bookkeeping_refusal(
            sql,
            &[super::HISTORY_TABLE, super::ARTIFACTS_TABLE],
            schema,
        ) {
            None => Ok(()),
            Some(reason) => Err(SqlFailure::Fatal(DbError::Statement {
                doing: "checking a migration's statement".into(),
                statement: crate::db::truncate(sql, 200),
                code: None,
                message: format!("refused: {reason} (Retort's bookkeeping is off limits)"),
            })),
        }
    }

    /// Whether the server may read `sql` differently from Retort's lexer, which reads
    /// MySQL's default way: with `NO_BACKSLASH_ESCAPES` in the session's `sql_mode` a
    /// backslash escapes nothing for the server, so `SET @a = 'x\', autocommit = 1 -- '` is a
    /// string to the lexer and a commit to the server. A text without a backslash reads the
    /// same in either mode: the server is asked only about one with. (Which statements run
    /// is the server's own reading either way: [`MySqlBackend::send_one`].)
    async fn backslashes_read_differently(&mut self, sql: &str) -> Result<bool, SqlFailure> {
        if !sql.contains('\\') {
            return Ok(false);
        }
        let mode: Option<String> = sqlx::query_scalar("SELECT CAST(@@SESSION.sql_mode AS CHAR)")
            .fetch_one(&mut self.conn)
            .await
            .map_err(sqlx_failure)?;
        let mode = mode.unwrap_or_default().to_ascii_uppercase();
        Ok(mode.split(',').any(|m| m.trim() == "NO_BACKSLASH_ESCAPES"))
    }

    /// SQL built at run time, checked on the text the server will prepare: the user variable
    /// of `PREPARE … FROM @q` (or `EXECUTE IMMEDIATE @q`) is read on the migration's
    /// connection first, and its value checked as the statement itself would be. A literal is
    /// part of the statement's text, checked with it. An expression, or a script that may set
    /// the variable itself, cannot be read beforehand: refused, saying how to send it.
    async fn check_dynamic(&mut self, sql: &str) -> Result<(), SqlFailure> {
        let refused = |message: String| {
            SqlFailure::Fatal(DbError::Statement {
                doing: "checking a migration's statement".into(),
                statement: crate::db::truncate(sql, 200),
                code: None,
                message,
            })
        };
        let name = match retort_sql::mysql_dynamic_sql(sql) {
            None | Some(DynamicSql::Literal) => return Ok(()),
            Some(DynamicSql::Variable(name)) => name,
            Some(DynamicSql::Expression) => {
                return Err(refused(
                    "refused: SQL built by an expression cannot be read before it runs; assign \
                     it to a user variable first (`SET @q = …;` then `PREPARE s FROM @q`)"
                        .into(),
                ));
            }
            Some(DynamicSql::InScript) => {
                return Err(refused(
                    "refused: `PREPARE … FROM @q` among other statements in one string: send \
                     it as a statement of its own, so Retort can read what @q holds"
                        .into(),
                ));
            }
        };
        let read = format!("SELECT CAST({name} AS CHAR)");
        let text: Option<String> = sqlx::query_scalar(AssertSqlSafe(read))
            .fetch_one(&mut self.conn)
            .await
            .map_err(sqlx_failure)?;
        let text = text.unwrap_or_default();
        if let Ok(Some(control)) =
            retort_sql::transaction_control(&text, retort_sql::Dialect::Mysql)
        {
            return Err(refused(format!(
                "refused: {name} holds `{}`, which would take the transaction Retort runs the \
                 migration in out of Retort's hands",
                crate::db::truncate(&control, 120)
            )));
        }
        self.refuse_bookkeeping_ddl(&text)?;
        self.check_before_commit(&text, false).await
    }

    /// After a statement of the migration: whether the server's transaction is still open,
    /// which tells the journal where the migration's work committed (DDL commits implicitly;
    /// so does a `COMMIT` inside a compound statement or dynamic SQL).
    /// `answered` is the server's answer when it came with the statement's own round trip
    /// ([`MySqlBackend::send_one`]); else it is asked now.
    async fn note_commit_point(&mut self, answered: Option<bool>) -> Result<(), SqlFailure> {
        if !self.in_transaction {
            return Ok(());
        }
        let open = match answered {
            Some(open) => open,
            None => {
                let open: u64 = sqlx::query_scalar(IN_TRANSACTION_SQL)
                    .fetch_one(&mut self.conn)
                    .await
                    .map_err(sqlx_failure)?;
                open != 0
            }
        };
        self.commit_point = !open;
        self.committed_any |= self.commit_point;
        Ok(())
    }

    /// Refuses `sql`, before it is sent, if it may commit implicitly (or `always`) while the
    /// migration has changed the bookkeeping: refused now, the change still rolls back.
    async fn check_before_commit(&mut self, sql: &str, always: bool) -> Result<(), SqlFailure> {
        let Some(expected) = self.watched.clone() else {
            return Ok(());
        };
        if !always && !retort_sql::may_commit_implicitly(sql) {
            return Ok(());
        }
        // Nothing ran since the last check, or what ran committed on its own: there is no
        // change left that the commit could make permanent (one already committed is found by
        // the check after the migration, as it would be here).
        if !self.since_check {
            return Ok(());
        }
        let now = super::HistoryStore::bookkeeping_fingerprint(
            self,
            super::View::Migration,
            super::Watch::Contents,
        )
        .await
        .map_err(SqlFailure::Fatal)?;
        if now == expected {
            self.since_check = false;
            Ok(())
        } else {
            Err(SqlFailure::Fatal(DbError::Bookkeeping))
        }
    }

    /// A new connection for migration statements (a streaming reader), set up as the
    /// migration's connection is.
    async fn open_for_migration(&self) -> Result<MySqlConnection, DbError> {
        let mut conn = open(&self.url).await?;
        for sql in &self.setup {
            sqlx::raw_sql(AssertSqlSafe(sql.clone()))
                .execute(&mut conn)
                .await
                .map_err(|e| {
                    sqlx_db_error("running the session setup (retort.toml `session`)", sql, e)
                })?;
        }
        Ok(conn)
    }

    async fn run(&mut self, doing: &str, sql: &str) -> Result<(), DbError> {
        sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
            .execute(&mut self.conn)
            .await
            .map(|_| ())
            .map_err(|e| sqlx_db_error(doing, sql, e))
    }
}

#[async_trait]
impl Lock for MySqlBackend {
    async fn lock(&mut self, wait: Duration) -> Result<(), DbError> {
        let sql = "SELECT GET_LOCK(?, ?)";
        let got: Option<i64> = sqlx::query_scalar(sql)
            .bind(&self.lock_name)
            .bind(wait.as_secs_f64())
            .fetch_one(&mut self.own)
            .await
            .map_err(|e| sqlx_db_error("taking the migration lock", sql, e))?;
        if got == Some(1) {
            return Ok(());
        }
        let holder_sql = "SELECT IS_USED_LOCK(?)";
        let holder: Option<i64> = sqlx::query_scalar(holder_sql)
            .bind(&self.lock_name)
            .fetch_one(&mut self.own)
            .await
            .unwrap_or(None);
        let holder = holder
            .map(|id| format!("; held by connection {id}"))
            .unwrap_or_default();
        Err(DbError::LockTimeout {
            waited: wait,
            holder,
        })
    }

    async fn unlock(&mut self) -> Result<(), DbError> {
        let sql = "SELECT RELEASE_LOCK(?)";
        sqlx::query(sql)
            .bind(&self.lock_name)
            .execute(&mut self.own)
            .await
            .map(|_| ())
            .map_err(|e| sqlx_db_error("releasing the migration lock", sql, e))
    }

    async fn check_lock(&mut self) -> Result<(), DbError> {
        let sql = "SELECT COALESCE(IS_USED_LOCK(?) = CONNECTION_ID(), 0)";
        let held: Result<i64, _> = sqlx::query_scalar(sql)
            .bind(&self.lock_name)
            .fetch_one(&mut self.own)
            .await;
        match held {
            Ok(1) => Ok(()),
            Ok(_) => Err(DbError::LockLost(format!(
                "`{}` is no longer held by Retort's connection",
                self.lock_name
            ))),
            Err(e) => Err(DbError::LockLost(format!("its connection failed: {e}"))),
        }
    }
}

/// `KILL QUERY` on the migration's connection, from a connection of its own.
struct MySqlInterrupt {
    url: String,
    id: u64,
}

#[async_trait]
impl super::Interrupt for MySqlInterrupt {
    async fn interrupt(&self) {
        if let Ok(mut conn) = open(&self.url).await {
            let kill = format!("KILL QUERY {}", self.id);
            let _ = sqlx::raw_sql(AssertSqlSafe(kill)).execute(&mut conn).await;
            let _ = conn.close().await;
        }
    }
}

#[async_trait]
impl Session for MySqlBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Mysql
    }

    fn ddl_commits_implicitly(&self) -> bool {
        true
    }

    async fn begin(&mut self) -> Result<(), DbError> {
        // With autocommit off, the statement after an implicit commit opens the next
        // transaction itself.
        self.run("beginning a transaction", "SET autocommit = 0; BEGIN")
            .await?;
        self.in_transaction = true;
        self.committed_any = false;
        self.wrote = false;
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), DbError> {
        self.cursors.clear();
        self.in_transaction = false;
        self.run("committing", "COMMIT; SET autocommit = 1").await
    }

    async fn rollback(&mut self) -> Result<(), DbError> {
        self.known.clear();
        self.cursors.clear();
        self.in_transaction = false;
        self.run("rolling back", "ROLLBACK; SET autocommit = 1")
            .await
    }

    fn tables(&self) -> &Tables {
        &self.tables
    }

    fn known_artifacts(&mut self) -> Option<&mut std::collections::HashSet<String>> {
        Some(&mut self.known)
    }

    fn watch_bookkeeping(&mut self, expected: Option<String>) {
        self.watched = expected;
        // Just read: the migration has run nothing since.
        self.since_check = false;
    }

    async fn privileged_account(&mut self) -> Result<Option<String>, DbError> {
        let sql = "SELECT CURRENT_USER(), COALESCE(GROUP_CONCAT(PRIVILEGE_TYPE ORDER BY PRIVILEGE_TYPE), '')
                     FROM information_schema.USER_PRIVILEGES
                    WHERE GRANTEE = CONCAT(CHAR(39), SUBSTRING_INDEX(CURRENT_USER(), '@', 1), CHAR(39), '@',
                                           CHAR(39), SUBSTRING_INDEX(CURRENT_USER(), '@', -1), CHAR(39))
                      AND PRIVILEGE_TYPE IN ('FILE', 'SUPER')";
        let (user, privileges): (String, String) = sqlx::query_as(sql)
            .fetch_one(&mut self.conn)
            .await
            .map_err(|e| sqlx_db_error("reading the account's privileges", sql, e))?;
        Ok((!privileges.is_empty()).then(|| {
            format!(
                "MySQL account `{user}` with {}",
                privileges.replace(',', " and ")
            )
        }))
    }

    async fn transaction_intact(&mut self) -> Result<bool, DbError> {
        let sql = "SELECT @@autocommit";
        let autocommit: i64 = sqlx::query_scalar(sql)
            .fetch_one(&mut self.conn)
            .await
            .map_err(|e| sqlx_db_error("checking the transaction", sql, e))?;
        Ok(autocommit == 0)
    }

    async fn setup(&mut self, doing: &str, sql: &str) -> Result<(), DbError> {
        self.run(doing, sql).await?;
        self.setup.push(sql.to_string());
        Ok(())
    }

    async fn configured(&mut self) -> Result<(), DbError> {
        let doing = "reading the session as configured";
        // MariaDB's names first, then MySQL 8's.
        let mut script = String::new();
        for variables in [MARIADB_VARIABLES, MYSQL_VARIABLES] {
            let sql = session_baseline(variables);
            match sqlx::query_scalar::<_, String>(AssertSqlSafe(sql.clone()))
                .fetch_one(&mut self.conn)
                .await
            {
                Ok(read) => {
                    script = read;
                    break;
                }
                Err(e) if variables == MYSQL_VARIABLES => {
                    return Err(sqlx_db_error(doing, &sql, e));
                }
                Err(_) => {}
            }
        }
        // What the variables cannot hold (user variables the setup sets): the setup again.
        for sql in &self.setup {
            script.push_str(";\n");
            script.push_str(sql);
        }
        self.baseline = Some(script);
        Ok(())
    }

    async fn reset_session(&mut self) -> Result<(), DbError> {
        let Some(baseline) = self.baseline.take() else {
            return Ok(());
        };
        let done = self
            .run("putting the session back as configured", &baseline)
            .await;
        self.baseline = Some(baseline);
        done
    }

    async fn close(self: Box<Self>) {
        let this = *self;
        drop(this.cursors);
        let _ = this.own.close().await;
        let _ = this.conn.close().await;
    }

    async fn host_execute(
        &mut self,
        doing: &str,
        sql: &str,
        params: &[Value],
    ) -> Result<u64, DbError> {
        match (self.announced.take(), &mut self.mirror) {
            (Some((revision, artifact)), Some(mirror)) => {
                mirror.mark(revision.as_deref(), artifact.as_deref());
            }
            (Some(_), None) => {}
            // A write the mirror cannot place: read everything next time.
            (None, _) => self.mirror = None,
        }
        host_execute(&mut self.own, doing, sql, params).await
    }

    fn writing(&mut self, revision: Option<&str>, artifact: Option<&str>) {
        self.announced = Some((revision.map(str::to_owned), artifact.map(str::to_owned)));
    }

    async fn own_contents_fingerprint(&mut self) -> Result<Option<String>, DbError> {
        let doing = "checking that the migration left Retort's bookkeeping alone";
        let (only, params) = match self.mirror.as_ref().and_then(Mirror::reread) {
            Some(Reread::Nothing) => return Ok(self.mirror.as_ref().map(Mirror::digest)),
            Some(Reread::Rows(revisions, artifacts)) => (
                Some((revisions.len(), artifacts.len())),
                revisions
                    .into_iter()
                    .chain(artifacts)
                    .map(Value::Text)
                    .collect(),
            ),
            None => (None, Vec::new()),
        };
        let sql = mysql_row_hashes_sql(&self.tables, only);
        let mut mirror = self.mirror.take().unwrap_or_default();
        let rows = host_query(&mut self.own, doing, &sql, &params).await?;
        mirror.refresh(rows, only.is_none()).map_err(|m| {
            super::host_failure(doing, &sql, GuestError::InvalidStatement(m).into())
        })?;
        let digest = mirror.digest();
        self.mirror = Some(mirror);
        Ok(Some(digest))
    }

    async fn host_query(
        &mut self,
        doing: &str,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Vec<Value>>, DbError> {
        host_query(&mut self.own, doing, sql, params).await
    }

    async fn host_query_as_migration(
        &mut self,
        doing: &str,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Vec<Value>>, DbError> {
        host_query(&mut self.conn, doing, sql, params).await
    }
}

/// Runs one of Retort's own queries on `conn` (`$N` placeholders).
async fn host_query(
    conn: &mut MySqlConnection,
    doing: &str,
    sql: &str,
    params: &[Value],
) -> Result<Vec<Vec<Value>>, DbError> {
    let rewritten = rewrite(sql, Dialect::Mysql, params.len())
        .map_err(|m| super::host_failure(doing, sql, GuestError::InvalidStatement(m).into()))?;
    let args =
        arguments(params, &rewritten.order).map_err(|f| super::host_failure(doing, sql, f))?;
    let rows = sqlx::query_with(AssertSqlSafe(rewritten.sql), args)
        .fetch_all(conn)
        .await
        .map_err(|e| sqlx_db_error(doing, sql, e))?;
    rows.iter()
        .map(read_row)
        .collect::<Result<_, _>>()
        .map_err(|f| super::host_failure(doing, sql, f))
}

/// Whether the session's transaction is open (`1`) or not (`0`): read after each statement of a
/// migration, since DDL (or a `COMMIT` in a procedure) commits it on the server's side.
const IN_TRANSACTION_SQL: &str = "SELECT CAST(@@in_transaction AS UNSIGNED)";

/// Runs `script` (Retort's own text, its statements' results in order) and, when `asked`, reads
/// the one-value row its last statement ([`IN_TRANSACTION_SQL`]) returns: the rows the others
/// affected, and whether the transaction is open. A failing statement stops the script there
/// (the server runs nothing after it), so no answer comes with an error.
async fn sent_with_answer(
    conn: &mut MySqlConnection,
    script: String,
    asked: bool,
) -> Result<(u64, Option<bool>), sqlx::Error> {
    let mut results = sqlx::raw_sql(AssertSqlSafe(script)).fetch_many(conn);
    let (mut rows, mut last) = (0, None);
    while let Some(item) = results.next().await {
        match item? {
            sqlx::Either::Left(done) => rows += done.rows_affected(),
            sqlx::Either::Right(row) => last = Some(row),
        }
    }
    if !asked {
        return Ok((rows, None));
    }
    let open: u64 = match last {
        Some(row) => row.try_get(0)?,
        None => return Err(sqlx::Error::RowNotFound),
    };
    Ok((rows, Some(open != 0)))
}

/// The longest statement [`MySqlBackend::send_one`] sends as a hex literal (twice this size).
const HEX_WRAPPED_MAX: usize = 1 << 20;

impl MySqlBackend {
    /// One statement of a migration's `execute`: checked, then sent so that the server runs
    /// one statement at most (below), and asked afterwards whether it committed.
    async fn execute_one(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlFailure> {
        self.refuse_bookkeeping_ddl(sql)?;
        self.check_dynamic(sql).await?;
        // Lexed once: whether the bookkeeping must be checked first, and (set before it is
        // sent: DDL commits what came before it even when it then fails) whether it may commit.
        // A text the lexer may misread is taken to commit: the check runs before it.
        let commits = retort_sql::may_commit_implicitly(sql)
            || self.backslashes_read_differently(sql).await?;
        if commits {
            self.check_before_commit(sql, true).await?;
        }
        self.committed_any |= commits;
        self.wrote = true;
        // Until the server says otherwise after it: it may write and leave that uncommitted
        // (a failing `CALL` keeps what ran before the failure).
        self.since_check = true;
        let (rows, answered) = if params.is_empty() {
            self.send_one(sql).await?
        } else {
            let rewritten =
                rewrite(sql, Dialect::Mysql, params.len()).map_err(GuestError::InvalidStatement)?;
            sqlx::query_with(
                AssertSqlSafe(rewritten.sql),
                arguments(params, &rewritten.order)?,
            )
            .execute(&mut self.conn)
            .await
            .map(|r| (r.rows_affected(), None))
            .map_err(sqlx_failure)?
        };
        self.note_commit_point(answered).await?;
        self.since_check = self.in_transaction && !self.commit_point;
        Ok(rows)
    }

    /// Sends a statement without parameters so that the server runs one statement at most,
    /// whatever Retort's lexer made of the text: the server prepares it (SQL `PREPARE`), which
    /// parses exactly one statement or refuses the text whole as a syntax error before
    /// anything runs, then executes it. The checks above read the text with Retort's lexer,
    /// and the text protocol would run every statement the *server* finds in it: three
    /// disagreements between the two (`--1`, a backslash under `NO_BACKSLASH_ESCAPES` or in a
    /// double-quoted name under `ANSI_QUOTES`) were shown to run a statement no check had seen
    /// (docs/security.md).
    ///
    /// One round trip, Retort's own text: the statement travels as a hex literal (nothing in
    /// it for any reader to misread), `SET @… = _utf8mb4 X'…'; PREPARE … FROM @…; EXECUTE …`.
    /// (The protocol's own prepared statements cost a second round trip; on sqlx 0.9.0, which
    /// left Nagle's algorithm on, closing one also stalled the next command ~40 ms, which made
    /// 200 migrations on MariaDB 8× slower: BENCHMARKS.md.) A re-`PREPARE` of the name
    /// deallocates the previous statement, so nothing accumulates.
    ///
    /// A statement the server will not prepare (`PREPARE`, `EXECUTE`, `DEALLOCATE`, `EXECUTE
    /// IMMEDIATE` on MariaDB; routine definitions on MySQL) answers ER_UNSUPPORTED_PS only
    /// after the server parsed it as one statement (a second one is a syntax error first), so
    /// it goes as text, which the same parser, in the same session, reads the same way.
    ///
    /// Inside Retort's transaction the same round trip then asks whether the transaction is
    /// still open (`@@in_transaction`, for the journal's commit points): the rows affected,
    /// and that answer when it came along.
    async fn send_one(&mut self, sql: &str) -> Result<(u64, Option<bool>), SqlFailure> {
        const ER_UNSUPPORTED_PS: u16 = 1295;
        const ER_EMPTY_QUERY: u16 = 1065;
        let prepared = if sql.len() <= HEX_WRAPPED_MAX {
            let mut wrapped = format!(
                "SET @retort__statement = _utf8mb4 X'{}'; \
                 PREPARE retort__statement FROM @retort__statement; EXECUTE retort__statement",
                hex::encode(sql)
            );
            if self.in_transaction {
                wrapped.push_str("; ");
                wrapped.push_str(IN_TRANSACTION_SQL);
            }
            let asked = self.in_transaction;
            sent_with_answer(&mut self.conn, wrapped, asked).await
        } else {
            // Hex doubles the text, which could pass `max_allowed_packet` where the statement
            // itself does not: a statement this large goes through the protocol's prepared
            // statement (two round trips are nothing beside a MiB of SQL).
            sqlx::query(AssertSqlSafe(sql.to_string()))
                .persistent(false)
                .execute(&mut self.conn)
                .await
                .map(|done| (done.rows_affected(), None))
        };
        let number = |e: &sqlx::Error| match e {
            sqlx::Error::Database(e) => e
                .try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
                .map(|e| e.number()),
            _ => None,
        };
        match prepared {
            Ok(done) => Ok(done),
            // A statement that is only a comment to this server (a versioned comment for a
            // newer version, MariaDB's `/*M! … */` on MySQL): nothing ran, as the server says.
            Err(e) if number(&e) == Some(ER_EMPTY_QUERY) => Ok((0, None)),
            Err(e) if number(&e) == Some(ER_UNSUPPORTED_PS) => {
                sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                    .execute(&mut self.conn)
                    .await
                    .map(|r| (r.rows_affected(), None))
                    .map_err(sqlx_failure)
            }
            Err(e) => Err(sqlx_failure(e)),
        }
    }
}

#[async_trait]
impl GuestSql for MySqlBackend {
    /// A text without parameters may hold several statements (a script): split by Retort's
    /// lexer, each statement is checked and sent on its own, as one statement (see
    /// [`MySqlBackend::send_one`]).
    async fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, SqlFailure> {
        if !params.is_empty() {
            return self.execute_one(sql, &params).await;
        }
        let statements = retort_sql::split(sql, retort_sql::Dialect::Mysql)
            .map_err(GuestError::InvalidStatement)?;
        let (mut rows, mut committed) = (0, false);
        for statement in &statements {
            rows += self.execute_one(statement, &[]).await?;
            committed |= self.commit_point;
        }
        self.commit_point = committed;
        Ok(rows)
    }

    fn take_commit_point(&mut self) -> bool {
        std::mem::take(&mut self.commit_point)
    }

    fn may_have_committed(&self) -> bool {
        !self.in_transaction || self.committed_any
    }

    async fn execute_batch(&mut self, sql: &str, sets: Vec<Vec<Value>>) -> Result<u64, SqlFailure> {
        let sets = &sets[..];
        let Some(first) = sets.first() else {
            return Ok(0);
        };
        self.refuse_bookkeeping_ddl(sql)?;
        let commits = retort_sql::may_commit_implicitly(sql);
        if commits {
            self.check_before_commit(sql, true).await?;
        }
        self.committed_any |= commits;
        self.wrote = true;
        // Until the server says otherwise after it: it may write and leave that uncommitted
        // (a failing `CALL` keeps what ran before the failure).
        self.since_check = true;
        let rewritten =
            rewrite(sql, Dialect::Mysql, first.len()).map_err(GuestError::InvalidStatement)?;
        if let Some(n) = sets.iter().position(|p| p.len() != first.len()) {
            return Err(GuestError::InvalidStatement(format!(
                "parameter set {n} has {} values, the first has {}",
                sets[n].len(),
                first.len()
            ))
            .into());
        }
        let mut total = 0;
        // A round trip per chunk of sets where the statement and its values allow it
        // (`mysql_batch.rs`); else one per set.
        // The server, not only Retort's lexer, says the statement is one statement with the
        // parameters Retort found (prepared: a second statement is a syntax error), before
        // values are written into its text (kept in the driver's statement cache, which the
        // set-by-set path below shares).
        let mut texts = None;
        if super::mysql_batch::eligible(sql) {
            let statement = (&mut self.conn)
                .prepare(AssertSqlSafe(rewritten.sql.clone()).into_sql_str())
                .await
                .map_err(sqlx_failure)?;
            let parameters = match sqlx::Statement::parameters(&statement) {
                Some(sqlx::Either::Right(n)) => n,
                Some(sqlx::Either::Left(types)) => types.len(),
                None => usize::MAX,
            };
            if parameters == rewritten.order.len() {
                texts = super::mysql_batch::texts(
                    &rewritten.sql,
                    &rewritten.at,
                    &rewritten.order,
                    sets,
                );
            }
        }
        for text in texts.iter().flatten() {
            total += sqlx::raw_sql(AssertSqlSafe(text.clone()))
                .execute(&mut self.conn)
                .await
                .map_err(sqlx_failure)?
                .rows_affected();
        }
        for params in sets.iter().filter(|_| texts.is_none()) {
            total += sqlx::query_with(
                AssertSqlSafe(rewritten.sql.clone()),
                arguments(params, &rewritten.order)?,
            )
            .execute(&mut self.conn)
            .await
            .map_err(sqlx_failure)?
            .rows_affected();
        }
        self.note_commit_point(None).await?;
        self.since_check = self.in_transaction && !self.commit_point;
        Ok(total)
    }

    async fn open_cursor(
        &mut self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<(CursorId, Vec<Column>), SqlFailure> {
        self.refuse_bookkeeping_ddl(sql)?;
        let params = &params[..];
        let rewritten =
            rewrite(sql, Dialect::Mysql, params.len()).map_err(GuestError::InvalidStatement)?;
        let args = arguments(params, &rewritten.order)?;
        // The reader sees what is committed: commit the migration's statements so far (the
        // next one opens a new transaction), so it reads what the migration wrote.
        if self.in_transaction {
            self.check_before_commit(sql, true).await?;
            // (A query opened before the migration wrote anything commits nothing of it.)
            self.committed_any |= self.wrote;
            self.wrote = false;
            sqlx::raw_sql("COMMIT")
                .execute(&mut self.conn)
                .await
                .map_err(sqlx_failure)?;
        }
        let mut reader = self.open_for_migration().await.map_err(SqlFailure::Fatal)?;
        sqlx::raw_sql("START TRANSACTION WITH CONSISTENT SNAPSHOT")
            .execute(&mut reader)
            .await
            .map_err(sqlx_failure)?;
        let statement = (&mut reader)
            .prepare(AssertSqlSafe(rewritten.sql.clone()).into_sql_str())
            .await
            .map_err(sqlx_failure)?;
        let columns = sqlx::Statement::columns(&statement)
            .iter()
            .map(|c| Column {
                name: c.name().to_string(),
                type_name: c.type_info().name().to_string(),
            })
            .collect();
        let (tx, rx) = mpsc::channel::<Chunk>(CHANNEL_DEPTH);
        let sql = rewritten.sql;
        let task = tokio::spawn(async move {
            {
                let mut stream = sqlx::query_with(AssertSqlSafe(sql), args).fetch(&mut reader);
                let mut chunk = Vec::with_capacity(CHUNK);
                while let Some(row) = stream.next().await {
                    let converted = row.map_err(sqlx_failure).and_then(|r| read_row(&r));
                    match converted {
                        Ok(values) => chunk.push(values),
                        Err(e) => {
                            let _ = tx.send(Err(e)).await;
                            return;
                        }
                    }
                    if chunk.len() == CHUNK
                        && tx
                            .send(Ok(std::mem::replace(&mut chunk, Vec::with_capacity(CHUNK))))
                            .await
                            .is_err()
                    {
                        return;
                    }
                }
                if !chunk.is_empty() {
                    let _ = tx.send(Ok(chunk)).await;
                }
            }
            let _ = reader.close().await;
        });
        let id = self.next_cursor;
        self.next_cursor += 1;
        self.cursors.insert(
            id,
            Cursor {
                rx,
                buffered: Default::default(),
                task,
            },
        );
        Ok((id, columns))
    }

    async fn fetch(&mut self, cursor: CursorId, max: u32) -> Result<Vec<Vec<Value>>, SqlFailure> {
        let c = self
            .cursors
            .get_mut(&cursor)
            .ok_or_else(|| GuestError::ClosedHandle("the rows were closed".into()))?;
        let max = max as usize;
        while c.buffered.len() < max {
            match c.rx.recv().await {
                Some(Ok(chunk)) => c.buffered.extend(chunk),
                Some(Err(e)) => return Err(e),
                None => break,
            }
        }
        let n = max.min(c.buffered.len());
        Ok(c.buffered.drain(..n).collect())
    }

    async fn close_cursor(&mut self, cursor: CursorId) {
        self.cursors.remove(&cursor);
    }

    async fn close_all_cursors(&mut self) {
        self.cursors.clear();
    }

    fn interrupter(&self) -> Box<dyn super::Interrupt> {
        Box::new(MySqlInterrupt {
            url: self.url.clone(),
            id: self.conn_id,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_session_baseline_names_each_servers_variables() {
        let mariadb = session_baseline(MARIADB_VARIABLES);
        let mysql = session_baseline(MYSQL_VARIABLES);
        for common in [
            "'sql_mode = ', COALESCE(QUOTE(@@session.sql_mode)",
            "'foreign_key_checks = ', @@session.foreign_key_checks",
        ] {
            assert!(
                mariadb.contains(common) && mysql.contains(common),
                "{common}"
            );
        }
        assert!(mariadb.contains("@@session.tx_isolation") && !mysql.contains("tx_isolation"));
        assert!(mysql.contains("@@session.transaction_isolation"));
        assert!(mariadb.contains("system_versioning_asof = DEFAULT"));
        assert!(!mysql.contains("system_versioning_asof"));
        assert!(mariadb.ends_with("';\nUSE `', REPLACE(DATABASE(), '`', '``'), '`')"));
    }
}
