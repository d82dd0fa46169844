//! PostgreSQL through sqlx.
//!
//! Guest queries are server-side cursors (`DECLARE … CURSOR` / `FETCH n`) on the migration's
//! own connection and transaction, so a guest can read a table of any size in bounded memory
//! and write back on the same transaction while the rows are open.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use sqlx::postgres::{PgArguments, PgRow, PgTypeInfo, PgValueFormat};
use sqlx::{
    Arguments, AssertSqlSafe, Column as _, Connection, Executor, PgConnection, Postgres, Row,
    SqlSafeStr, TypeInfo, ValueRef,
};

use super::placeholders::rewrite;
use super::values::{self, kind};
use super::{
    ARTIFACTS_TABLE, Backend, CursorId, DbError, HISTORY_TABLE, HistoryRow, RowState, SqlFailure,
    plain_decimal, sqlx_db_error, sqlx_failure,
};
use crate::bindings::{Column, Dialect, GuestError, Value};

/// The advisory lock key: the bytes of "retort". Advisory locks are per database.
const LOCK_KEY: i64 = 0x7265_746f_7274;

/// A NULL parameter of unspecified type, so the server infers it from the context
/// (a typed NULL such as `text` would not go into an integer column).
struct UntypedNull;

impl sqlx::Type<Postgres> for UntypedNull {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(sqlx::postgres::types::Oid(0))
    }
}

impl sqlx::Encode<'_, Postgres> for UntypedNull {
    fn encode_by_ref(
        &self,
        _buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        Ok(sqlx::encode::IsNull::Yes)
    }
}

fn arguments(params: &[Value]) -> Result<PgArguments, SqlFailure> {
    let mut args = PgArguments::default();
    for (i, value) in params.iter().enumerate() {
        let conv = |m: String| GuestError::Conversion(format!("parameter ${}: {m}", i + 1));
        let added = match value {
            Value::Null => args.add(UntypedNull),
            Value::Boolean(b) => args.add(*b),
            Value::Integer(n) => args.add(*n),
            Value::Float(f) => args.add(*f),
            Value::Text(s) => args.add(s.clone()),
            Value::Bytes(b) => args.add(b.clone()),
            Value::Decimal(s) => args.add(super::parse_decimal(s).map_err(conv)?),
            Value::Date(d) => args.add(values::date_to_chrono(*d).map_err(conv)?),
            Value::Time(t) => args.add(values::time_to_chrono(*t).map_err(conv)?),
            Value::Timestamp(dt) => args.add(values::datetime_to_chrono(*dt).map_err(conv)?),
            Value::Timestamptz(dt) => args.add(values::utc_to_chrono(*dt).map_err(conv)?),
            Value::Uuid(s) => args.add(
                uuid::Uuid::parse_str(s).map_err(|e| conv(format!("`{s}` is not a UUID: {e}")))?,
            ),
            Value::Json(s) => args.add(sqlx::types::Json(
                serde_json::from_str::<Box<serde_json::value::RawValue>>(s)
                    .map_err(|e| conv(format!("not JSON: {e}")))?,
            )),
        };
        added.map_err(|e| conv(format!("cannot send a {}: {e}", kind(value))))?;
    }
    Ok(args)
}

fn read(row: &PgRow, i: usize) -> Result<Value, String> {
    let raw = row.try_get_raw(i).map_err(|e| e.to_string())?;
    if raw.is_null() {
        return Ok(Value::Null);
    }
    let type_name = raw.type_info().name().to_string();
    let get_err = |e: sqlx::Error| e.to_string();
    Ok(match type_name.as_str() {
        "BOOL" => Value::Boolean(row.try_get(i).map_err(get_err)?),
        "INT2" => Value::Integer(row.try_get::<i16, _>(i).map_err(get_err)?.into()),
        "INT4" => Value::Integer(row.try_get::<i32, _>(i).map_err(get_err)?.into()),
        "INT8" => Value::Integer(row.try_get(i).map_err(get_err)?),
        "FLOAT4" => Value::Float(row.try_get::<f32, _>(i).map_err(get_err)?.into()),
        "FLOAT8" => Value::Float(row.try_get(i).map_err(get_err)?),
        "TEXT" | "VARCHAR" | "BPCHAR" | "NAME" | "CHAR" | "CITEXT" => {
            Value::Text(row.try_get_unchecked(i).map_err(get_err)?)
        }
        "BYTEA" => Value::Bytes(row.try_get(i).map_err(get_err)?),
        "NUMERIC" => {
            let decimal = row
                .try_get::<bigdecimal::BigDecimal, _>(i)
                .map_err(get_err)?;
            // The binary form's display scale (bytes 6..8) is the scale PostgreSQL shows;
            // the decoded value may carry extra zeros up to the next base-10000 digit.
            let bytes = raw.as_bytes().map_err(|e| e.to_string())?;
            let decimal = match (raw.format(), bytes.get(6..8)) {
                (PgValueFormat::Binary, Some(&[hi, lo])) => {
                    decimal.with_scale(i64::from(u16::from_be_bytes([hi, lo])))
                }
                _ => decimal,
            };
            Value::Decimal(plain_decimal(&decimal))
        }
        "DATE" => Value::Date(values::date_from_chrono(row.try_get(i).map_err(get_err)?)),
        "TIME" => Value::Time(values::time_from_chrono(row.try_get(i).map_err(get_err)?)),
        "TIMESTAMP" => Value::Timestamp(values::datetime_from_chrono(
            row.try_get(i).map_err(get_err)?,
        )),
        "TIMESTAMPTZ" => Value::Timestamptz(values::utc_from_chrono(
            row.try_get::<chrono::DateTime<chrono::Utc>, _>(i)
                .map_err(get_err)?,
        )),
        "UUID" => Value::Uuid(
            row.try_get::<uuid::Uuid, _>(i)
                .map_err(get_err)?
                .to_string(),
        ),
        "JSON" | "JSONB" => {
            let bytes = raw.as_bytes().map_err(|e| e.to_string())?;
            // Binary JSONB starts with a version byte; JSON is sent as its text.
            let text = match (raw.format(), type_name.as_str(), bytes.split_first()) {
                (PgValueFormat::Binary, "JSONB", Some((1, rest))) => rest,
                _ => bytes,
            };
            Value::Json(String::from_utf8(text.to_vec()).map_err(|e| e.to_string())?)
        }
        other => {
            return Err(format!(
                "type {other} is not mapped by retort:migration@0.1.0; cast it in the query \
                 (e.g. `column::text`)"
            ));
        }
    })
}

fn read_row(row: &PgRow) -> Result<Vec<Value>, SqlFailure> {
    (0..row.len())
        .map(|i| {
            read(row, i).map_err(|m| {
                let name = row.column(i).name();
                SqlFailure::Guest(GuestError::Conversion(format!("column `{name}`: {m}")))
            })
        })
        .collect()
}

/// A connection to a PostgreSQL database.
pub struct PgBackend {
    conn: PgConnection,
    /// Open cursors by id; `None` once exhausted (and closed on the server).
    cursors: HashMap<CursorId, Option<String>>,
    next_cursor: CursorId,
    in_transaction: bool,
}

impl PgBackend {
    pub async fn connect(url: &str) -> Result<Self, DbError> {
        let conn = PgConnection::connect(url)
            .await
            .map_err(|e| DbError::Connect {
                url: super::redact(url),
                message: e.to_string(),
            })?;
        Ok(PgBackend {
            conn,
            cursors: HashMap::new(),
            next_cursor: 1,
            in_transaction: false,
        })
    }

    async fn run(&mut self, doing: &str, sql: &str) -> Result<(), DbError> {
        sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
            .execute(&mut self.conn)
            .await
            .map(|_| ())
            .map_err(|e| sqlx_db_error(doing, sql, e))
    }

    async fn lock_holder(&mut self) -> String {
        let sql = "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.client_addr::text, 'local'),
                          coalesce(to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS'), '')
                   FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
                   WHERE l.locktype = 'advisory' AND l.granted
                     AND l.classid = ($1 >> 32)::int::oid AND l.objid = ($1 & 4294967295)::bigint::oid
                     AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())";
        match sqlx::query_as::<_, (i32, String, String, String)>(sql)
            .bind(LOCK_KEY)
            .fetch_optional(&mut self.conn)
            .await
        {
            Ok(Some((pid, app, addr, since))) => {
                format!("; held by backend pid {pid} ({app} from {addr}, connected {since})")
            }
            _ => String::new(),
        }
    }

    async fn close_cursor_named(&mut self, name: &str) {
        // A failed transaction already closed it; nothing to report.
        let _ = self.run("closing a cursor", &format!("CLOSE {name}")).await;
    }
}

#[async_trait]
impl Backend for PgBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn lock(&mut self, wait: Duration) -> Result<(), DbError> {
        let started = Instant::now();
        loop {
            let got: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(LOCK_KEY)
                .fetch_one(&mut self.conn)
                .await
                .map_err(|e| {
                    sqlx_db_error(
                        "taking the migration lock",
                        "SELECT pg_try_advisory_lock($1)",
                        e,
                    )
                })?;
            if got {
                return Ok(());
            }
            if started.elapsed() >= wait {
                let holder = self.lock_holder().await;
                return Err(DbError::LockTimeout {
                    waited: started.elapsed(),
                    holder,
                });
            }
            tokio::time::sleep(Duration::from_millis(100).min(wait)).await;
        }
    }

    async fn unlock(&mut self) -> Result<(), DbError> {
        sqlx::query("SELECT pg_advisory_unlock($1)")
            .bind(LOCK_KEY)
            .execute(&mut self.conn)
            .await
            .map(|_| ())
            .map_err(|e| {
                sqlx_db_error(
                    "releasing the migration lock",
                    "SELECT pg_advisory_unlock($1)",
                    e,
                )
            })
    }

    async fn has_history(&mut self) -> Result<bool, DbError> {
        let sql = "SELECT to_regclass($1) IS NOT NULL";
        sqlx::query_scalar(sql)
            .bind(HISTORY_TABLE)
            .fetch_one(&mut self.conn)
            .await
            .map_err(|e| sqlx_db_error("looking for retort_history", sql, e))
    }

    async fn create_history(&mut self) -> Result<(), DbError> {
        let sql = format!(
            "CREATE TABLE IF NOT EXISTS {HISTORY_TABLE} (
                revision TEXT NOT NULL PRIMARY KEY,
                parents TEXT NOT NULL,
                description TEXT NOT NULL,
                digest TEXT NOT NULL,
                state TEXT NOT NULL,
                applied_at TEXT NOT NULL,
                applied_by TEXT NOT NULL,
                duration_ms BIGINT NOT NULL
            );
            CREATE TABLE IF NOT EXISTS {ARTIFACTS_TABLE} (
                digest TEXT NOT NULL PRIMARY KEY,
                bytes BYTEA NOT NULL,
                stored_at TEXT NOT NULL
            );"
        );
        self.run("creating the history tables", &sql).await
    }

    async fn history(&mut self) -> Result<Vec<HistoryRow>, DbError> {
        if !self.has_history().await? {
            return Ok(Vec::new());
        }
        let sql = format!(
            "SELECT revision, parents, description, digest, state, applied_at, applied_by, duration_ms
             FROM {HISTORY_TABLE} ORDER BY applied_at, revision"
        );
        let rows: Vec<(String, String, String, String, String, String, String, i64)> =
            sqlx::query_as(AssertSqlSafe(sql.clone()))
                .fetch_all(&mut self.conn)
                .await
                .map_err(|e| sqlx_db_error("reading retort_history", &sql, e))?;
        rows.into_iter()
            .map(|(r, p, d, g, s, a, b, ms)| super::history_row(r, &p, d, g, &s, a, b, ms))
            .collect()
    }

    async fn insert_history(&mut self, row: &HistoryRow) -> Result<(), DbError> {
        let sql = format!(
            "INSERT INTO {HISTORY_TABLE} (revision, parents, description, digest, state, applied_at, applied_by, duration_ms)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        );
        sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(&row.revision)
            .bind(row.parents.join(" "))
            .bind(&row.description)
            .bind(&row.digest)
            .bind(row.state.as_str())
            .bind(&row.applied_at)
            .bind(&row.applied_by)
            .bind(row.duration_ms)
            .execute(&mut self.conn)
            .await
            .map(|_| ())
            .map_err(|e| sqlx_db_error("recording the revision in retort_history", &sql, e))
    }

    async fn update_history(
        &mut self,
        revision: &str,
        state: RowState,
        duration_ms: i64,
    ) -> Result<(), DbError> {
        let sql =
            format!("UPDATE {HISTORY_TABLE} SET state = $1, duration_ms = $2 WHERE revision = $3");
        sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(state.as_str())
            .bind(duration_ms)
            .bind(revision)
            .execute(&mut self.conn)
            .await
            .map(|_| ())
            .map_err(|e| sqlx_db_error("updating retort_history", &sql, e))
    }

    async fn delete_history(&mut self, revision: &str) -> Result<(), DbError> {
        let sql = format!("DELETE FROM {HISTORY_TABLE} WHERE revision = $1");
        sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(revision)
            .execute(&mut self.conn)
            .await
            .map(|_| ())
            .map_err(|e| sqlx_db_error("removing the revision from retort_history", &sql, e))
    }

    async fn store_artifact(&mut self, digest: &str, bytes: &[u8]) -> Result<(), DbError> {
        let sql = format!(
            "INSERT INTO {ARTIFACTS_TABLE} (digest, bytes, stored_at) VALUES ($1, $2, $3)
             ON CONFLICT (digest) DO NOTHING"
        );
        sqlx::query(AssertSqlSafe(sql.clone()))
            .bind(digest)
            .bind(bytes)
            .bind(super::now_rfc3339())
            .execute(&mut self.conn)
            .await
            .map(|_| ())
            .map_err(|e| sqlx_db_error("storing the artifact", &sql, e))
    }

    async fn begin(&mut self) -> Result<(), DbError> {
        self.run("beginning a transaction", "BEGIN").await?;
        self.in_transaction = true;
        Ok(())
    }

    async fn commit(&mut self) -> Result<(), DbError> {
        // Cursors without HOLD end with the transaction.
        self.cursors.clear();
        self.in_transaction = false;
        self.run("committing", "COMMIT").await
    }

    async fn rollback(&mut self) -> Result<(), DbError> {
        self.close_all_cursors().await;
        self.in_transaction = false;
        self.run("rolling back", "ROLLBACK").await
    }

    async fn execute(&mut self, sql: &str, params: &[Value]) -> Result<u64, SqlFailure> {
        if params.is_empty() {
            // The simple protocol: a statement may hold several statements (a script).
            return sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                .execute(&mut self.conn)
                .await
                .map(|r| r.rows_affected())
                .map_err(sqlx_failure);
        }
        rewrite(sql, Dialect::Postgres, params.len()).map_err(GuestError::InvalidStatement)?;
        sqlx::query_with(AssertSqlSafe(sql.to_string()), arguments(params)?)
            .execute(&mut self.conn)
            .await
            .map(|r| r.rows_affected())
            .map_err(sqlx_failure)
    }

    async fn execute_batch(&mut self, sql: &str, sets: &[Vec<Value>]) -> Result<u64, SqlFailure> {
        let Some(first) = sets.first() else {
            return Ok(0);
        };
        rewrite(sql, Dialect::Postgres, first.len()).map_err(GuestError::InvalidStatement)?;
        let mut total = 0;
        for (n, params) in sets.iter().enumerate() {
            if params.len() != first.len() {
                return Err(GuestError::InvalidStatement(format!(
                    "parameter set {n} has {} values, the first has {}",
                    params.len(),
                    first.len()
                ))
                .into());
            }
            total += sqlx::query_with(AssertSqlSafe(sql.to_string()), arguments(params)?)
                .execute(&mut self.conn)
                .await
                .map_err(sqlx_failure)?
                .rows_affected();
        }
        Ok(total)
    }

    async fn open_cursor(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<(CursorId, Vec<Column>), SqlFailure> {
        rewrite(sql, Dialect::Postgres, params.len()).map_err(GuestError::InvalidStatement)?;
        let statement = (&mut self.conn)
            .prepare(AssertSqlSafe(sql.to_string()).into_sql_str())
            .await
            .map_err(sqlx_failure)?;
        let columns = sqlx::Statement::columns(&statement)
            .iter()
            .map(|c| Column {
                name: c.name().to_string(),
                type_name: c.type_info().name().to_string(),
            })
            .collect();
        let id = self.next_cursor;
        self.next_cursor += 1;
        let name = format!("retort_cursor_{id}");
        let hold = if self.in_transaction {
            "WITHOUT HOLD"
        } else {
            "WITH HOLD"
        };
        let declare = format!("DECLARE {name} NO SCROLL CURSOR {hold} FOR {sql}");
        sqlx::query_with(AssertSqlSafe(declare), arguments(params)?)
            .persistent(false)
            .execute(&mut self.conn)
            .await
            .map_err(sqlx_failure)?;
        self.cursors.insert(id, Some(name));
        Ok((id, columns))
    }

    async fn fetch(&mut self, cursor: CursorId, max: u32) -> Result<Vec<Vec<Value>>, SqlFailure> {
        let name = self
            .cursors
            .get(&cursor)
            .ok_or_else(|| GuestError::ClosedHandle("the rows were closed".into()))?;
        let Some(name) = name.clone() else {
            return Ok(Vec::new());
        };
        let fetch = format!("FETCH FORWARD {max} FROM {name}");
        let rows = sqlx::query(AssertSqlSafe(fetch))
            .persistent(false)
            .fetch_all(&mut self.conn)
            .await
            .map_err(sqlx_failure)?;
        let values = rows.iter().map(read_row).collect::<Result<Vec<_>, _>>()?;
        if values.len() < max as usize {
            // Exhausted: close it now, so DDL on its tables is not blocked by a guest that
            // keeps the handle open.
            self.cursors.insert(cursor, None);
            self.close_cursor_named(&name).await;
        }
        Ok(values)
    }

    async fn close_cursor(&mut self, cursor: CursorId) {
        if let Some(Some(name)) = self.cursors.remove(&cursor) {
            self.close_cursor_named(&name).await;
        }
    }

    async fn close_all_cursors(&mut self) {
        let names: Vec<String> = self.cursors.drain().filter_map(|(_, n)| n).collect();
        for name in names {
            self.close_cursor_named(&name).await;
        }
    }

    async fn close(self: Box<Self>) {
        let _ = self.conn.close().await;
    }
}
