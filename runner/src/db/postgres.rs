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
    CursorId, DbError, GuestSql, Lock, Session, SqlFailure, Tables, plain_decimal, sqlx_db_error,
    sqlx_failure,
};
use crate::bindings::{Column, GuestError, Value};
use crate::core::Dialect;

/// The advisory lock key of the `public` schema: the bytes of "retort". Advisory locks are
/// per database, so each other schema has a key of its own ([`lock_key`]).
const LOCK_KEY: i64 = 0x7265_746f_7274;

/// The run lock's key for the bookkeeping in `schema`: [`LOCK_KEY`] for `public` (what every
/// earlier version took), otherwise derived from the schema's name, so that tenants in one
/// database (a schema each, chosen by `search_path`) migrate side by side rather than one at
/// a time, and a runner on one tenant never waits for another's.
fn lock_key(schema: &str) -> i64 {
    use sha2::{Digest, Sha256};
    if schema == "public" {
        return LOCK_KEY;
    }
    let digest = Sha256::digest(format!("retort lock {schema}").as_bytes());
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_be_bytes(bytes)
}

/// The lock key and bookkeeping tables of the schema the server resolved (`current_schema()`
/// as it is and quoted). No schema of the search path exists (a tenant's schema not created
/// yet, a typo in `options[search_path]`): refused — nothing may fall back to another
/// schema's bookkeeping.
fn bookkeeping_in(
    url: &str,
    search_path: &str,
    raw: Option<String>,
    quoted: Option<String>,
) -> Result<(i64, Tables), DbError> {
    let (Some(raw), Some(quoted)) = (raw, quoted) else {
        return Err(DbError::Connect {
            url: super::redact(url),
            message: format!(
                "no schema of the connection's search_path ({search_path}) exists: create \
                 the schema first (Retort keeps each schema's history in that schema)"
            ),
        });
    };
    Ok((lock_key(&raw), Tables::under(&format!("{quoted}."), &raw)))
}

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

/// Batches in one round trip: `PREPARE` with the parameter types the extended protocol would
/// send, one `EXECUTE` per parameter set with quoted literals (coerced to those types exactly
/// as bound parameters are), `DEALLOCATE` — one simple-protocol script per chunk.
mod batch {
    use super::values;
    use crate::bindings::Value;

    /// Parameter sets per round trip.
    pub const CHUNK: usize = 1000;

    /// The session settings [`literal`]'s output is read back exactly under, with the value
    /// forced when one differs. `standard_conforming_strings` decides what a backslash in a
    /// quoted literal means (off, a value could end its literal and run as SQL);
    /// `client_encoding` how the script's UTF-8 bytes are read; `DateStyle` how date input is
    /// read. Other settings (TimeZone, IntervalStyle, extra_float_digits, bytea_output) change
    /// output, not how these literals are read: every timestamptz literal carries its offset.
    pub const LITERAL_SETTINGS: [(&str, &str); 3] = [
        ("standard_conforming_strings", "on"),
        ("client_encoding", "UTF8"),
        ("DateStyle", "ISO, MDY"),
    ];

    /// Whether `current`, the value of `name`, reads [`literal`]'s output exactly.
    pub fn setting_ok(name: &str, current: &str) -> bool {
        match name {
            "DateStyle" => current.trim_start().to_ascii_uppercase().starts_with("ISO"),
            "client_encoding" => matches!(current.to_ascii_uppercase().as_str(), "UTF8" | "UTF-8"),
            _ => current.eq_ignore_ascii_case("on"),
        }
    }

    pub(super) fn type_of(value: &Value) -> Option<&'static str> {
        Some(match value {
            Value::Null => return None,
            Value::Boolean(_) => "bool",
            Value::Integer(_) => "int8",
            Value::Float(_) => "float8",
            Value::Text(_) => "text",
            Value::Bytes(_) => "bytea",
            Value::Decimal(_) => "numeric",
            Value::Date(_) => "date",
            Value::Time(_) => "time",
            Value::Timestamp(_) => "timestamp",
            Value::Timestamptz(_) => "timestamptz",
            Value::Uuid(_) => "uuid",
            Value::Json(_) => "jsonb",
        })
    }

    /// The statement's parameter types, if it can be prepared this way: a plain DML/query
    /// statement whose every parameter has one kind of value across the batch (NULLs aside).
    pub fn parameter_types(sql: &str, sets: &[Vec<Value>]) -> Option<Vec<&'static str>> {
        let first_word = sql
            .trim_start()
            .split(|c: char| !c.is_ascii_alphabetic())
            .next()?
            .to_ascii_uppercase();
        if !matches!(
            first_word.as_str(),
            "INSERT" | "UPDATE" | "DELETE" | "MERGE" | "SELECT" | "WITH" | "VALUES"
        ) {
            return None;
        }
        let columns = sets.first()?.len();
        let mut types = Vec::with_capacity(columns);
        for i in 0..columns {
            let mut ty: Option<&'static str> = None;
            for set in sets {
                match (type_of(&set[i]), ty) {
                    (None, _) => {}
                    (Some(t), None) => ty = Some(t),
                    (Some(t), Some(u)) if t == u => {}
                    _ => return None,
                }
            }
            types.push(ty.unwrap_or("unknown"));
        }
        Some(types)
    }

    fn quote(s: &str, out: &mut String) {
        out.push('\'');
        for c in s.chars() {
            if c == '\'' {
                out.push('\'');
            }
            out.push(c);
        }
        out.push('\'');
    }

    /// A literal that PostgreSQL reads back as exactly `value` under
    /// [`LITERAL_SETTINGS`].
    pub fn literal(value: &Value, out: &mut String) -> Result<(), String> {
        use std::fmt::Write;
        match value {
            Value::Null => out.push_str("NULL"),
            Value::Boolean(b) => out.push_str(if *b { "'t'" } else { "'f'" }),
            Value::Integer(i) => {
                let _ = write!(out, "'{i}'");
            }
            Value::Float(f) if f.is_nan() => out.push_str("'NaN'"),
            Value::Float(f) if f.is_infinite() => out.push_str(if *f > 0.0 {
                "'Infinity'"
            } else {
                "'-Infinity'"
            }),
            Value::Float(f) => {
                let _ = write!(out, "'{f:?}'");
            }
            Value::Text(s) | Value::Decimal(s) | Value::Uuid(s) | Value::Json(s) => {
                if s.contains('\0') {
                    return Err("text cannot contain a NUL character".into());
                }
                quote(s, out)
            }
            Value::Bytes(b) => {
                out.push_str("'\\x");
                for byte in b {
                    let _ = write!(out, "{byte:02x}");
                }
                out.push('\'');
            }
            Value::Date(d) => {
                let d = values::date_to_chrono(*d).map_err(|e| e.to_string())?;
                if chrono::Datelike::year(&d) < 1 {
                    return Err("dates before year 1 are not sent in batches".into());
                }
                let _ = write!(out, "'{}'", d.format("%Y-%m-%d"));
            }
            Value::Time(t) => quote(
                &values::format_time(values::time_to_chrono(*t).map_err(|e| e.to_string())?),
                out,
            ),
            Value::Timestamp(dt) => {
                let dt = values::datetime_to_chrono(*dt).map_err(|e| e.to_string())?;
                let _ = write!(
                    out,
                    "'{} {}'",
                    dt.format("%Y-%m-%d"),
                    values::format_time(dt.time())
                );
            }
            Value::Timestamptz(dt) => {
                let dt = values::datetime_to_chrono(*dt).map_err(|e| e.to_string())?;
                let _ = write!(
                    out,
                    "'{} {}+00'",
                    dt.format("%Y-%m-%d"),
                    values::format_time(dt.time())
                );
            }
        }
        Ok(())
    }

    /// The script for one chunk.
    pub fn script(
        name: &str,
        types: &[&str],
        sql: &str,
        sets: &[Vec<Value>],
    ) -> Result<String, String> {
        let mut out = String::with_capacity(sql.len() + sets.len() * 64);
        out.push_str("PREPARE ");
        out.push_str(name);
        if !types.is_empty() {
            out.push_str(" (");
            out.push_str(&types.join(", "));
            out.push(')');
        }
        out.push_str(" AS ");
        out.push_str(sql.trim().trim_end_matches(';'));
        out.push_str(";\n");
        for (n, set) in sets.iter().enumerate() {
            out.push_str("EXECUTE ");
            out.push_str(name);
            if !set.is_empty() {
                out.push('(');
                for (i, value) in set.iter().enumerate() {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    literal(value, &mut out)
                        .map_err(|m| format!("parameter set {n}, ${}: {m}", i + 1))?;
                }
                out.push(')');
            }
            out.push_str(";\n");
        }
        out.push_str("DEALLOCATE ");
        out.push_str(name);
        out.push(';');
        Ok(out)
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn only_settings_that_read_literals_exactly_are_accepted() {
            assert!(setting_ok("standard_conforming_strings", "on"));
            assert!(!setting_ok("standard_conforming_strings", "off"));
            assert!(setting_ok("client_encoding", "UTF8"));
            assert!(!setting_ok("client_encoding", "LATIN1"));
            assert!(setting_ok("DateStyle", "ISO, DMY"));
            assert!(!setting_ok("DateStyle", "SQL, DMY"));
            assert!(!setting_ok("DateStyle", "German"));
        }

        #[test]
        fn literals_are_quoted_exactly() {
            let mut s = String::new();
            literal(&Value::Text("it's \\ fine".into()), &mut s).unwrap();
            assert_eq!(s, "'it''s \\ fine'");
            s.clear();
            literal(&Value::Bytes(vec![0, 255]), &mut s).unwrap();
            assert_eq!(s, "'\\x00ff'");
            s.clear();
            literal(&Value::Float(0.1), &mut s).unwrap();
            assert_eq!(s, "'0.1'");
            assert!(literal(&Value::Text("nul\0".into()), &mut String::new()).is_err());
        }

        #[test]
        fn only_uniform_dml_batches_are_pipelined() {
            let sets = vec![
                vec![Value::Integer(1), Value::Null],
                vec![Value::Integer(2), Value::Text("x".into())],
            ];
            assert_eq!(
                parameter_types("UPDATE t SET a = $2 WHERE id = $1", &sets),
                Some(vec!["int8", "text"])
            );
            assert_eq!(parameter_types("CALL p($1, $2)", &sets), None);
            let mixed = vec![vec![Value::Integer(1)], vec![Value::Text("1".into())]];
            assert_eq!(parameter_types("INSERT INTO t VALUES ($1)", &mixed), None);
            let nulls = vec![vec![Value::Null], vec![Value::Null]];
            assert_eq!(
                parameter_types("INSERT INTO t VALUES ($1)", &nulls),
                Some(vec!["unknown"])
            );
            let script = script(
                "b1",
                &["int8"],
                "INSERT INTO t VALUES ($1);",
                &[vec![Value::Integer(7)]],
            )
            .unwrap();
            assert_eq!(
                script,
                "PREPARE b1 (int8) AS INSERT INTO t VALUES ($1);\nEXECUTE b1('7');\nDEALLOCATE b1;"
            );
        }
    }
}

/// How many statement texts [`PgBackend::typed_text`] remembers before it starts over.
const PREPARED_LIMIT: usize = 4096;

/// A connection to a PostgreSQL database: the migration's, and the lock's.
pub struct PgBackend {
    /// The connection migrations and Retort's bookkeeping run on (in one transaction).
    conn: PgConnection,
    /// The connection that holds the run lock, which no migration statement reaches: a
    /// migration's `pg_advisory_unlock_all()` frees nothing.
    lock_conn: Option<PgConnection>,
    /// The owner's URL: the lock's connection.
    url: String,
    /// The URL migrations connect with (the owner's, or a restricted account's).
    migration_url: String,
    /// The migration connection's backend pid, to cancel its statement at the deadline.
    pid: i32,
    /// The run lock's advisory key ([`lock_key`] of the bookkeeping's schema).
    lock_key: i64,
    tables: Tables,
    next_batch: u64,
    /// Open cursors by id; `None` once exhausted (and closed on the server).
    cursors: HashMap<CursorId, Option<String>>,
    next_cursor: CursorId,
    in_transaction: bool,
    /// The parameter types each statement text was prepared with (see
    /// [`PgBackend::typed_text`]).
    prepared: HashMap<String, Vec<&'static str>>,
    /// The session setup (`retort.toml` `session`), replayed after each reset.
    setup: Vec<String>,
    /// `transaction_timestamp()` of the transaction Retort opened, as the server said at
    /// `BEGIN`: the same value later means the same transaction.
    began: Option<String>,
    /// The same, as read with the deferred work settled, for [`Session::transaction_intact`].
    settled: Option<String>,
    /// The deferred work was settled with the session's reset, in its round trip.
    settled_with_reset: bool,
    /// A deferrable trigger existed when the deferred work was settled (since `BEGIN`):
    /// something could still run inside COMMIT ([`Session::may_run_at_commit`]).
    deferred_triggers: bool,
    /// What [`Session::known_artifacts`] answers.
    known: std::collections::HashSet<String>,
    /// The bookkeeping fingerprint read in the round trip of `BEGIN` or of the reset after a
    /// migration ([`Session::take_fingerprint`]); any other statement forgets it.
    fingerprint: Option<String>,
    /// Whether the lock was held, read on the lock's connection while the reset after a
    /// migration ran on the migration's ([`Lock::check_lock`] takes it); any other statement
    /// forgets it.
    lock_checked: Option<Result<(), DbError>>,
    /// The fingerprint read at `BEGIN` of the open transaction, and whether the last one
    /// read after a migration in it was the same: the bookkeeping then commits as it was at
    /// `BEGIN` but for Retort's own rows, which a new transaction's counts no longer show.
    began_fingerprint: Option<String>,
    unchanged: bool,
    /// The definitions' rows of the last fingerprint read after a migration.
    definitions: Option<Vec<Vec<Value>>>,
    /// Those rows, after such a commit, for the next `BEGIN`, which then reads the counts
    /// alone: what reading the definitions again would give, unless something outside the
    /// run changes the bookkeeping's catalog between two migrations (then the next
    /// migration's check fails: safe). Any statement between the commit and the next `BEGIN`
    /// forgets them.
    carried: Option<Vec<Vec<Value>>>,
}

impl PgBackend {
    /// Connects migrations as `migrations`' account; the lock is taken as `url`'s.
    pub async fn connect(url: &str, migrations: &str) -> Result<Self, DbError> {
        let connect_error = |e: sqlx::Error| DbError::Connect {
            url: super::redact(migrations),
            message: e.to_string(),
        };
        let mut conn = PgConnection::connect(migrations)
            .await
            .map_err(connect_error)?;
        // Resolved before any migration runs: a temporary table or `search_path` it sets
        // later cannot redirect the bookkeeping.
        let sql = "SELECT pg_backend_pid(), current_schema(), quote_ident(current_schema()), \
                   current_setting('search_path')";
        let (pid, raw, schema, path): (i32, Option<String>, Option<String>, String) =
            sqlx::query_as(sql)
                .fetch_one(&mut conn)
                .await
                .map_err(|e| sqlx_db_error("reading the session's schema", sql, e))?;
        let (lock_key, tables) = bookkeeping_in(migrations, &path, raw, schema)?;
        Ok(PgBackend {
            conn,
            lock_conn: None,
            url: url.to_string(),
            migration_url: migrations.to_string(),
            pid,
            lock_key,
            tables,
            next_batch: 1,
            cursors: HashMap::new(),
            prepared: HashMap::new(),
            next_cursor: 1,
            in_transaction: false,
            setup: Vec::new(),
            began: None,
            settled: None,
            settled_with_reset: false,
            deferred_triggers: false,
            known: Default::default(),
            fingerprint: None,
            lock_checked: None,
            began_fingerprint: None,
            unchanged: false,
            definitions: None,
            carried: None,
        })
    }

    /// Points this connection, used only to read bookkeeping (never lent to a migration), at
    /// the schema `search_path` resolves to, as a connection made with
    /// `options[search_path]=…` would be: a pooled reader serves every schema of its database
    /// ([`super::Readers`]).
    pub(super) async fn retarget(&mut self, search_path: &str) -> Result<(), DbError> {
        let sql = "SELECT set_config('search_path', $1, false), current_schema(), \
                   quote_ident(current_schema())";
        let (path, raw, schema): (String, Option<String>, Option<String>) = sqlx::query_as(sql)
            .bind(search_path)
            .fetch_one(self.conn())
            .await
            .map_err(|e| sqlx_db_error("choosing the schema to read", sql, e))?;
        (self.lock_key, self.tables) = bookkeeping_in(&self.url, &path, raw, schema)?;
        Ok(())
    }

    /// The text to send `sql` as with `params`. PostgreSQL fixes a prepared statement's
    /// parameter types when it is prepared, from the first values sent, and sqlx keys its
    /// statement cache on the text alone (a cached text is reused whatever the values): the
    /// same text sent later with a value of another type (an integer where a float was, a
    /// NULL, a decimal) would be bound to the old types — an integer's bytes read as a
    /// float's (3 stored as 0.00), or "incorrect binary data format". So a text keeps its own
    /// types; sent with others, it goes with a leading comment naming them, which makes it
    /// another text with a prepared statement of its own. The record is bounded: past
    /// [`PREPARED_LIMIT`] texts it and sqlx's cache are cleared together.
    async fn typed_text(&mut self, sql: &str, params: &[Value]) -> Result<String, SqlFailure> {
        let types: Vec<&'static str> = params
            .iter()
            .map(|v| batch::type_of(v).unwrap_or("null"))
            .collect();
        if let Some(prepared) = self.prepared.get(sql) {
            return Ok(if *prepared == types {
                sql.to_string()
            } else {
                format!("/* retort: parameters {} */ {sql}", types.join(", "))
            });
        }
        if self.prepared.len() >= PREPARED_LIMIT {
            sqlx::Connection::clear_cached_statements(self.conn())
                .await
                .map_err(sqlx_failure)?;
            self.prepared.clear();
        }
        self.prepared.insert(sql.to_string(), types);
        Ok(sql.to_string())
    }

    /// Sends a batch as `PREPARE`/`EXECUTE …` scripts of quoted literals (one round trip per
    /// [`batch::CHUNK`] sets). Literals are read back exactly only under the settings
    /// [`batch::LITERAL_SETTINGS`] names, and a migration may change any of them (`SET
    /// standard_conforming_strings = off` would make a row value executable SQL): so they are
    /// read before every chunk, forced where they differ, and put back after it.
    async fn pipelined_batch(
        &mut self,
        sql: &str,
        sets: &[Vec<Value>],
        types: &[&str],
    ) -> Result<u64, SqlFailure> {
        let mut total = 0;
        for chunk in sets.chunks(batch::CHUNK) {
            let name = format!("retort_batch_{}", self.next_batch);
            self.next_batch += 1;
            let script = batch::script(&name, types, sql, chunk).map_err(GuestError::Conversion)?;
            let changed = self.force_literal_settings().await?;
            let sent = sqlx::raw_sql(AssertSqlSafe(script))
                .execute(self.conn())
                .await
                .map_err(sqlx_failure);
            // Put the migration's own settings back (in a failed transaction this fails, and
            // the rollback restores them anyway).
            for (setting, previous) in changed {
                let _ = sqlx::query("SELECT set_config($1, $2, false)")
                    .bind(setting)
                    .bind(previous)
                    .execute(self.conn())
                    .await;
            }
            total += sent?.rows_affected();
        }
        Ok(total)
    }

    /// Makes the session read literals as [`batch::script`] writes them; returns the settings
    /// it changed, with their previous values.
    async fn force_literal_settings(&mut self) -> Result<Vec<(&'static str, String)>, SqlFailure> {
        let sql = batch::LITERAL_SETTINGS
            .iter()
            .map(|(name, _)| format!("current_setting('{name}')"))
            .collect::<Vec<_>>()
            .join(", ");
        let row = sqlx::query(AssertSqlSafe(format!("SELECT {sql}")))
            .fetch_one(self.conn())
            .await
            .map_err(sqlx_failure)?;
        let mut changed = Vec::new();
        for (i, (name, wanted)) in batch::LITERAL_SETTINGS.iter().enumerate() {
            let current: String = row.try_get(i).map_err(sqlx_failure)?;
            if !batch::setting_ok(name, &current) {
                sqlx::query("SELECT set_config($1, $2, false)")
                    .bind(*name)
                    .bind(*wanted)
                    .execute(self.conn())
                    .await
                    .map_err(sqlx_failure)?;
                changed.push((*name, current));
            }
        }
        Ok(changed)
    }

    /// The migration's connection, for a statement: what was read along with the previous
    /// one is forgotten, since this one may change it.
    fn conn(&mut self) -> &mut PgConnection {
        self.fingerprint = None;
        self.lock_checked = None;
        self.carried = None;
        &mut self.conn
    }

    /// Runs `before` (statements ending in `; `), then reads which transaction the
    /// connection is in: its start time, to the microsecond. Outside a transaction block each
    /// statement is its own transaction, so a migration that committed Retort's (by a
    /// `COMMIT` the host's lexer did not see, say) shows another value.
    async fn transaction_stamp(&mut self, before: &str) -> Result<String, DbError> {
        let sql = format!("{before}SELECT transaction_timestamp()::text");
        let rows = sqlx::raw_sql(AssertSqlSafe(sql.clone()))
            .fetch_all(self.conn())
            .await
            .map_err(|e| sqlx_db_error("reading which transaction this is", &sql, e))?;
        // The last row: what `before` ran may answer rows of its own.
        rows.last()
            .and_then(|r| r.try_get::<String, _>(0).ok())
            .ok_or_else(|| DbError::Statement {
                doing: "reading which transaction this is".into(),
                statement: sql,
                code: None,
                message: "no answer".into(),
            })
    }

    /// Runs `before`, then what the migration deferred to COMMIT (`SET CONSTRAINTS ALL
    /// IMMEDIATE`), and reads which transaction this is (for `transaction_intact`, asked next),
    /// whether a deferrable trigger exists (then a trigger could defer itself past this, and
    /// the history row is read back after COMMIT) and the session's prepared statements, in one
    /// round trip while the lock's connection says, concurrently, whether it still holds the
    /// lock (for `check_lock`); then the bookkeeping's fingerprint (for the check asked next).
    /// `reset`: `before` is [`PgBackend::reset_session`]'s script, whose first row says
    /// whether `track_counts` was still on.
    async fn settle(&mut self, before: &str, reset: bool) -> Result<(), DbError> {
        let sql = format!(
            "{before}SET CONSTRAINTS ALL IMMEDIATE; SELECT transaction_timestamp()::text, \
             EXISTS (SELECT 1 FROM pg_trigger WHERE tgdeferrable AND NOT tgisinternal); \
             {PREPARED_SQL}"
        );
        let doing = "running what the migration deferred to the commit";
        let (rows, lock) = tokio::join!(
            sqlx::raw_sql(AssertSqlSafe(sql.clone())).fetch_all(&mut self.conn),
            async {
                match self.lock_conn.as_mut() {
                    Some(conn) => Some(lock_held(conn).await),
                    None => None,
                }
            }
        );
        self.fingerprint = None;
        let rows = rows.map_err(|e| sqlx_db_error(doing, &sql, e))?;
        if reset {
            tracking_was_on(&rows, doing, &sql)?;
        }
        // From the end: the prepared statements' row, the stamp's row (the session setup
        // replayed in `before` may answer rows before them).
        let n = rows.len();
        if n < 2 {
            return Err(DbError::Statement {
                doing: doing.into(),
                statement: sql,
                code: None,
                message: format!("{n} rows came back, not the 2 asked for"),
            });
        }
        let row = &rows[n - 2];
        let stamp: String = row.try_get(0).map_err(|e| sqlx_db_error(doing, &sql, e))?;
        let deferred: bool = row.try_get(1).map_err(|e| sqlx_db_error(doing, &sql, e))?;
        self.forget_prepared_if_touched(&rows[n - 1], doing, &sql)
            .await?;
        // Then the fingerprint, as a prepared statement (its plan kept: planning it took
        // 0.2-1.2 ms of each migration, more than running it), now that the session's
        // prepared statements are known to be the driver's own.
        let fingerprint_sql = super::history::pg_transaction_writes_sql(
            &self.tables.history,
            &self.tables.artifacts,
            false,
        );
        let rows = self.host_query(doing, &fingerprint_sql, &[]).await?;
        if rows.len() != 4 {
            return Err(DbError::Statement {
                doing: doing.into(),
                statement: fingerprint_sql,
                code: None,
                message: format!(
                    "the bookkeeping's fingerprint came as {} rows, not 4",
                    rows.len()
                ),
            });
        }
        let fingerprint = super::history::fingerprint_text(&rows);
        let definitions = rows[2..].to_vec();
        self.lock_checked = lock;
        self.settled = Some(stamp);
        self.deferred_triggers |= deferred;
        self.definitions = Some(definitions);
        self.unchanged = self.began_fingerprint.as_ref() == Some(&fingerprint);
        self.fingerprint = Some(fingerprint);
        Ok(())
    }

    /// After a migration, from [`PREPARED_SQL`]'s row: when the server's prepared statements
    /// are not exactly the ones sqlx prepared for this connection, forgets them all. Retort's
    /// own statements run as sqlx's named prepared statements, which share the session's
    /// namespace with SQL `PREPARE`: a migration that deallocated one and prepared other SQL
    /// under its name would have Retort run that SQL for its history row, after the checks.
    /// (And one it left behind would reach the next migration's session.)
    async fn forget_prepared_if_touched(
        &mut self,
        row: &PgRow,
        doing: &str,
        sql: &str,
    ) -> Result<(), DbError> {
        let from_sql: i64 = row.try_get(0).map_err(|e| sqlx_db_error(doing, sql, e))?;
        let ours: i64 = row.try_get(1).map_err(|e| sqlx_db_error(doing, sql, e))?;
        let cached = i64::try_from(self.conn.cached_statements_size()).unwrap_or(i64::MAX);
        if from_sql == 0 && ours == cached {
            return Ok(());
        }
        let doing = "forgetting the prepared statements the migration touched";
        // Close every statement sqlx knows (closing one that is gone is no error), then
        // whatever is left; sqlx prepares Retort's statements anew.
        self.conn()
            .clear_cached_statements()
            .await
            .map_err(|e| sqlx_db_error(doing, "", e))?;
        self.run(doing, "DEALLOCATE ALL").await
    }

    async fn run(&mut self, doing: &str, sql: &str) -> Result<(), DbError> {
        sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
            .execute(self.conn())
            .await
            .map(|_| ())
            .map_err(|e| sqlx_db_error(doing, sql, e))
    }

    async fn close_cursor_named(&mut self, name: &str) {
        // A failed transaction already closed it; nothing to report.
        let _ = self.run("closing a cursor", &format!("CLOSE {name}")).await;
    }
}

/// Whether `track_counts` is on, the first statement of the reset after a migration: the
/// bookkeeping check reads write counts that it gates (a superuser's to switch), and the reset
/// would put it back on before the check, hiding that the migration ran without it.
const TRACK_COUNTS_SQL: &str = "SELECT current_setting('track_counts');";

/// Fails unless the first row of `rows` (the answer to [`TRACK_COUNTS_SQL`]) says `on`.
fn tracking_was_on(rows: &[PgRow], doing: &str, sql: &str) -> Result<(), DbError> {
    let setting = rows
        .first()
        .and_then(|r| r.try_get::<String, _>(0).ok())
        .unwrap_or_default();
    if setting == "on" {
        return Ok(());
    }
    Err(DbError::Statement {
        doing: doing.into(),
        statement: sql.into(),
        code: None,
        message: format!(
            "the migration switched track_counts off (`{setting}`), which Retort's bookkeeping \
             check reads"
        ),
    })
}

/// The session's prepared statements: those made by SQL `PREPARE`, and the others (sqlx's,
/// by the protocol). See [`PgBackend::forget_prepared_if_touched`].
const PREPARED_SQL: &str = "SELECT count(*) FILTER (WHERE from_sql), \
     count(*) FILTER (WHERE NOT from_sql) FROM pg_catalog.pg_prepared_statements";

const LOCK_SQL: &str = "SELECT pg_try_advisory_lock($1)";

#[async_trait]
impl Lock for PgBackend {
    async fn lock(&mut self, wait: Duration) -> Result<(), DbError> {
        let started = Instant::now();
        if self.lock_conn.is_none() {
            let conn = PgConnection::connect(&self.url)
                .await
                .map_err(|e| DbError::Connect {
                    url: super::redact(&self.url),
                    message: e.to_string(),
                })?;
            self.lock_conn = Some(conn);
        }
        let conn = self.lock_conn.as_mut().expect("opened above");
        loop {
            let got: bool = sqlx::query_scalar(LOCK_SQL)
                .bind(self.lock_key)
                .fetch_one(&mut *conn)
                .await
                .map_err(|e| sqlx_db_error("taking the migration lock", LOCK_SQL, e))?;
            if got {
                return Ok(());
            }
            if started.elapsed() >= wait {
                let holder = lock_holder(conn, self.lock_key).await;
                return Err(DbError::LockTimeout {
                    waited: started.elapsed(),
                    holder,
                });
            }
            tokio::time::sleep(Duration::from_millis(100).min(wait)).await;
        }
    }

    async fn unlock(&mut self) -> Result<(), DbError> {
        let Some(mut conn) = self.lock_conn.take() else {
            return Ok(());
        };
        let sql = "SELECT pg_advisory_unlock($1)";
        let done = sqlx::query(sql)
            .bind(self.lock_key)
            .execute(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| sqlx_db_error("releasing the migration lock", sql, e));
        let _ = conn.close().await;
        done
    }

    async fn check_lock(&mut self) -> Result<(), DbError> {
        if let Some(checked) = self.lock_checked.take() {
            return checked;
        }
        match self.lock_conn.as_mut() {
            Some(conn) => lock_held(conn).await,
            None => Ok(()),
        }
    }
}

/// Whether the lock's connection `conn` still holds the run's advisory lock: whether its
/// session is alive. A session-level advisory lock ends only with its session or by that
/// session's own unlock (which only Retort sends, on this connection; no function releases
/// another session's), and a connection that lost its session fails the next query. Asking
/// `pg_locks` instead read every lock the server holds — in a `--transaction single` run the
/// migrations' transaction holds one per table it made, which made that check quadratic
/// (0.3 ms at the start of 2,000 migrations, 3.1 ms at the end).
async fn lock_held(conn: &mut PgConnection) -> Result<(), DbError> {
    match sqlx::query_scalar::<_, i32>("SELECT 1")
        .fetch_one(conn)
        .await
    {
        Ok(_) => Ok(()),
        Err(e) => Err(DbError::LockLost(format!("its connection failed: {e}"))),
    }
}

/// The bookkeeping fingerprint of the rows [`super::history::pg_transaction_writes_sql`]
/// answered (the counts alone when `definitions` carries the rest), as
/// [`super::HistoryStore::bookkeeping_fingerprint`] computes it, with its definitions' rows.
fn fingerprint_of(
    rows: &[PgRow],
    definitions: Option<Vec<Vec<Value>>>,
    doing: &str,
    sql: &str,
) -> Result<(String, Vec<Vec<Value>>), DbError> {
    let mut rows = rows
        .iter()
        .map(read_row)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|f| super::host_failure(doing, sql, f))?;
    rows.extend(definitions.unwrap_or_default());
    if rows.len() != 4 {
        return Err(DbError::Statement {
            doing: doing.into(),
            statement: sql.into(),
            code: None,
            message: format!(
                "the bookkeeping's fingerprint came as {} rows, not 4",
                rows.len()
            ),
        });
    }
    Ok((super::history::fingerprint_text(&rows), rows.split_off(2)))
}

/// Who holds the lock, for the timeout message.
async fn lock_holder(conn: &mut PgConnection, key: i64) -> String {
    let sql =
        "SELECT a.pid, coalesce(a.application_name, ''), coalesce(a.client_addr::text, 'local'),
                      coalesce(to_char(a.backend_start, 'YYYY-MM-DD HH24:MI:SS'), '')
               FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
               WHERE l.locktype = 'advisory' AND l.granted
                 AND l.classid = ($1 >> 32)::int::oid AND l.objid = ($1 & 4294967295)::bigint::oid
                 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())";
    match sqlx::query_as::<_, (i32, String, String, String)>(sql)
        .bind(key)
        .fetch_optional(conn)
        .await
    {
        Ok(Some((pid, app, addr, since))) => {
            format!("; held by backend pid {pid} ({app} from {addr}, connected {since})")
        }
        _ => String::new(),
    }
}

/// Cancels the statement a migration's connection runs, from a connection of its own.
struct PgInterrupt {
    url: String,
    pid: i32,
}

#[async_trait]
impl super::Interrupt for PgInterrupt {
    async fn interrupt(&self) {
        if let Ok(mut conn) = PgConnection::connect(&self.url).await {
            let _ = sqlx::query("SELECT pg_cancel_backend($1)")
                .bind(self.pid)
                .execute(&mut conn)
                .await;
            let _ = conn.close().await;
        }
    }
}

#[async_trait]
impl Session for PgBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Postgres
    }

    async fn begin(&mut self) -> Result<(), DbError> {
        // With the stamp, the bookkeeping's fingerprint before anything runs in the
        // transaction (the check before a migration asks for it next): one round trip, or
        // none for the fingerprint when the last transaction committed it unchanged.
        let carried = self.carried.take();
        let sql = format!(
            "BEGIN; SELECT transaction_timestamp()::text; {}",
            super::history::pg_transaction_writes_sql(
                &self.tables.history,
                &self.tables.artifacts,
                carried.is_some()
            )
        );
        let doing = "beginning a transaction";
        let rows = sqlx::raw_sql(AssertSqlSafe(sql.clone()))
            .fetch_all(self.conn())
            .await
            .map_err(|e| sqlx_db_error(doing, &sql, e))?;
        let stamp = rows
            .first()
            .and_then(|r| r.try_get::<String, _>(0).ok())
            .ok_or_else(|| DbError::Statement {
                doing: doing.into(),
                statement: sql.clone(),
                code: None,
                message: "no answer".into(),
            })?;
        self.began = Some(stamp);
        self.deferred_triggers = false;
        self.in_transaction = true;
        let (fingerprint, _) = fingerprint_of(&rows[1..], carried, doing, &sql)?;
        self.began_fingerprint = Some(fingerprint.clone());
        self.unchanged = false;
        self.fingerprint = Some(fingerprint);
        Ok(())
    }

    fn take_fingerprint(&mut self) -> Option<String> {
        self.fingerprint.take()
    }

    async fn commit(&mut self) -> Result<(), DbError> {
        // Cursors without HOLD end with the transaction.
        self.cursors.clear();
        self.in_transaction = false;
        self.began_fingerprint = None;
        let unchanged = std::mem::take(&mut self.unchanged);
        let definitions = self.definitions.take();
        self.run("committing", "COMMIT").await?;
        if unchanged {
            self.carried = definitions;
        }
        Ok(())
    }

    async fn rollback(&mut self) -> Result<(), DbError> {
        self.known.clear();
        self.began_fingerprint = None;
        self.unchanged = false;
        self.definitions = None;
        self.close_all_cursors().await;
        self.in_transaction = false;
        self.run("rolling back", "ROLLBACK").await
    }

    fn tables(&self) -> &Tables {
        &self.tables
    }

    fn known_artifacts(&mut self) -> Option<&mut std::collections::HashSet<String>> {
        Some(&mut self.known)
    }

    async fn setup(&mut self, doing: &str, sql: &str) -> Result<(), DbError> {
        self.host_execute(doing, sql, &[]).await?;
        self.setup.push(sql.to_string());
        Ok(())
    }

    async fn reset_session(&mut self) -> Result<(), DbError> {
        // Every setting to its value at connection (what the connection asked for, else the
        // server's), the role and session authorization back, the migration's temporary
        // objects gone (they come first on the search path); then the session setup again.
        // The bookkeeping check reads write counts that `track_counts` gates (a superuser's
        // to switch): switched off, they would be put back on here and the check fooled.
        // Read before the reset (the first row of the answer), checked when it comes back: a
        // plain query, where a `DO` block was compiled anew after every migration.
        let mut script =
            format!("{TRACK_COUNTS_SQL}\nRESET ALL; RESET SESSION AUTHORIZATION; DISCARD TEMP;\n");
        for sql in &self.setup {
            script.push_str(sql);
            script.push_str(";\n");
        }
        if !self.in_transaction {
            let doing = "putting the session back as configured";
            script.push_str(PREPARED_SQL);
            let rows = sqlx::raw_sql(AssertSqlSafe(script.clone()))
                .fetch_all(self.conn())
                .await
                .map_err(|e| sqlx_db_error(doing, &script, e))?;
            tracking_was_on(&rows, doing, &script)?;
            let Some(last) = rows.last() else {
                return Err(DbError::Statement {
                    doing: doing.into(),
                    statement: script,
                    code: None,
                    message: "no answer".into(),
                });
            };
            return self.forget_prepared_if_touched(last, doing, &script).await;
        }
        // In a transaction the deferred work is settled next: in the same round trip.
        self.settle(&script, true).await?;
        self.settled_with_reset = true;
        Ok(())
    }

    async fn settle_deferred(&mut self) -> Result<(), DbError> {
        if std::mem::take(&mut self.settled_with_reset) {
            return Ok(());
        }
        self.settle("", false).await
    }

    fn may_run_at_commit(&self) -> bool {
        self.deferred_triggers
    }

    fn fingerprint_covers_catalog(&self) -> bool {
        true
    }

    async fn escaped(&mut self) -> Result<bool, DbError> {
        self.settled = None;
        // In Retort's transaction, aborted by the failure, the query fails: not escaped.
        match self.transaction_stamp("").await {
            Ok(now) => Ok(self.began.as_deref() != Some(now.as_str())),
            Err(_) => Ok(false),
        }
    }

    async fn transaction_intact(&mut self) -> Result<bool, DbError> {
        let now = match self.settled.take() {
            Some(stamp) => stamp,
            None => self.transaction_stamp("").await?,
        };
        Ok(self.began.as_deref() == Some(now.as_str()))
    }

    async fn privileged_account(&mut self) -> Result<Option<String>, DbError> {
        // `session_user`: a migration's `RESET ROLE` returns to it, whatever the session
        // setup's `SET ROLE` chose.
        let sql = "SELECT session_user::text, r.rolsuper,
                          pg_has_role(session_user, 'pg_execute_server_program', 'MEMBER'),
                          pg_has_role(session_user, 'pg_read_server_files', 'MEMBER'),
                          pg_has_role(session_user, 'pg_write_server_files', 'MEMBER')
                     FROM pg_roles r WHERE r.rolname = session_user";
        let (user, superuser, program, read, write): (String, bool, bool, bool, bool) =
            sqlx::query_as(sql)
                .fetch_one(self.conn())
                .await
                .map_err(|e| sqlx_db_error("reading the account's privileges", sql, e))?;
        if superuser {
            return Ok(Some(format!("PostgreSQL superuser `{user}`")));
        }
        let mut may = Vec::new();
        for (granted, what) in [
            (program, "run server programs"),
            (read, "read server files"),
            (write, "write server files"),
        ] {
            if granted {
                may.push(what);
            }
        }
        Ok((!may.is_empty())
            .then(|| format!("PostgreSQL role `{user}`, which may {}", may.join(", "))))
    }

    async fn close(self: Box<Self>) {
        let this = *self;
        if let Some(lock) = this.lock_conn {
            let _ = lock.close().await;
        }
        let _ = this.conn.close().await;
    }

    async fn host_execute(
        &mut self,
        doing: &str,
        sql: &str,
        params: &[Value],
    ) -> Result<u64, DbError> {
        let done = if params.is_empty() {
            sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                .execute(self.conn())
                .await
        } else {
            let args = arguments(params).map_err(|f| super::host_failure(doing, sql, f))?;
            let text = self
                .typed_text(sql, params)
                .await
                .map_err(|f| super::host_failure(doing, sql, f))?;
            sqlx::query_with(AssertSqlSafe(text), args)
                .execute(self.conn())
                .await
        };
        done.map(|r| r.rows_affected())
            .map_err(|e| sqlx_db_error(doing, sql, e))
    }

    async fn host_query(
        &mut self,
        doing: &str,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Vec<Value>>, DbError> {
        let args = arguments(params).map_err(|f| super::host_failure(doing, sql, f))?;
        let text = self
            .typed_text(sql, params)
            .await
            .map_err(|f| super::host_failure(doing, sql, f))?;
        let rows = sqlx::query_with(AssertSqlSafe(text), args)
            .fetch_all(self.conn())
            .await
            .map_err(|e| sqlx_db_error(doing, sql, e))?;
        rows.iter()
            .map(read_row)
            .collect::<Result<_, _>>()
            .map_err(|f| super::host_failure(doing, sql, f))
    }
}

#[async_trait]
impl GuestSql for PgBackend {
    async fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, SqlFailure> {
        let params = &params[..];
        if params.is_empty() {
            // The simple protocol: a statement may hold several statements (a script).
            return sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                .execute(self.conn())
                .await
                .map(|r| r.rows_affected())
                .map_err(sqlx_failure);
        }
        rewrite(sql, Dialect::Postgres, params.len()).map_err(GuestError::InvalidStatement)?;
        let text = self.typed_text(sql, params).await?;
        sqlx::query_with(AssertSqlSafe(text), arguments(params)?)
            .execute(self.conn())
            .await
            .map(|r| r.rows_affected())
            .map_err(sqlx_failure)
    }

    async fn execute_batch(&mut self, sql: &str, sets: Vec<Vec<Value>>) -> Result<u64, SqlFailure> {
        let sets = &sets[..];
        let Some(first) = sets.first() else {
            return Ok(0);
        };
        rewrite(sql, Dialect::Postgres, first.len()).map_err(GuestError::InvalidStatement)?;
        for (n, params) in sets.iter().enumerate() {
            if params.len() != first.len() {
                return Err(GuestError::InvalidStatement(format!(
                    "parameter set {n} has {} values, the first has {}",
                    params.len(),
                    first.len()
                ))
                .into());
            }
        }
        if sets.len() > 1
            && let Some(types) = batch::parameter_types(sql, sets)
        {
            return self.pipelined_batch(sql, sets, &types).await;
        }
        let mut total = 0;
        for params in sets {
            let text = self.typed_text(sql, params).await?;
            total += sqlx::query_with(AssertSqlSafe(text), arguments(params)?)
                .execute(self.conn())
                .await
                .map_err(sqlx_failure)?
                .rows_affected();
        }
        Ok(total)
    }

    async fn open_cursor(
        &mut self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<(CursorId, Vec<Column>), SqlFailure> {
        let params = &params[..];
        rewrite(sql, Dialect::Postgres, params.len()).map_err(GuestError::InvalidStatement)?;
        // Described for its columns, this text is cached with the types the server inferred,
        // which no values' types are taken to match (see `typed_text`).
        self.prepared
            .entry(sql.to_string())
            .or_insert_with(|| vec!["inferred"]);
        let statement = (self.conn())
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
            .execute(self.conn())
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
            .fetch_all(self.conn())
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

    fn interrupter(&self) -> Box<dyn super::Interrupt> {
        Box::new(PgInterrupt {
            url: self.migration_url.clone(),
            pid: self.pid,
        })
    }
}

#[cfg(test)]
mod lock_tests {
    use super::*;

    /// SHA-256 of "retort lock tenant_1", first eight bytes, big-endian (computed apart).
    const PINNED_TENANT_1: i64 = -711_274_366_871_574_586;

    #[test]
    fn each_schema_has_its_own_lock_and_public_keeps_the_old_one() {
        assert_eq!(lock_key("public"), LOCK_KEY);
        assert_ne!(lock_key("tenant_1"), lock_key("tenant_2"));
        assert_ne!(lock_key("tenant_1"), LOCK_KEY);
        // Pinned: a runner of another release must take the same key for the same schema.
        assert_eq!(lock_key("tenant_1"), PINNED_TENANT_1);
    }
}
