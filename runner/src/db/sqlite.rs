//! SQLite through rusqlite (chosen by measurement: see BENCHMARKS.md).

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::types::{ToSqlOutput, ValueRef};
use rusqlite::{Connection, OpenFlags, ffi};

use super::placeholders::rewrite;
use super::sqlite_policy::Policy;
use super::values::{self, kind};
use super::{Access, CursorId, DbError, GuestSql, Lock, Session, SqlFailure, Tables};
use crate::bindings::{Column, DatabaseError, GuestError, Value};
use crate::core::Dialect;

/// How long a statement waits for another connection's lock before SQLITE_BUSY.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

/// How a column's declared type says its text or numbers should be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Decl {
    Plain,
    Boolean,
    Decimal,
    Date,
    Time,
    Timestamp,
    Timestamptz,
    Uuid,
    Json,
}

impl Decl {
    fn of(decltype: Option<&str>) -> Decl {
        let Some(t) = decltype else {
            return Decl::Plain;
        };
        let t = t.to_ascii_uppercase();
        let first = t
            .split(|c: char| !c.is_ascii_alphanumeric())
            .next()
            .unwrap_or("");
        match first {
            "BOOL" | "BOOLEAN" => Decl::Boolean,
            "DECIMAL" | "NUMERIC" => Decl::Decimal,
            "DATE" => Decl::Date,
            "TIME" if !t.contains("ZONE") => Decl::Time,
            "DATETIME" => Decl::Timestamp,
            "TIMESTAMP" if t.contains("WITH TIME ZONE") => Decl::Timestamptz,
            "TIMESTAMP" => Decl::Timestamp,
            "TIMESTAMPTZ" => Decl::Timestamptz,
            "UUID" => Decl::Uuid,
            "JSON" | "JSONB" => Decl::Json,
            _ => Decl::Plain,
        }
    }

    /// Reads a stored value as the declared type says; a value that does not parse arrives
    /// as its storage class, so nothing is ever lost.
    fn read(self, v: ValueRef<'_>) -> Result<Value, String> {
        Ok(match (self, v) {
            (_, ValueRef::Null) => Value::Null,
            (Decl::Boolean, ValueRef::Integer(i @ (0 | 1))) => Value::Boolean(i == 1),
            (Decl::Decimal, ValueRef::Integer(i)) => Value::Decimal(i.to_string()),
            (Decl::Decimal, ValueRef::Real(f)) => Value::Decimal(f.to_string()),
            (_, ValueRef::Integer(i)) => Value::Integer(i),
            (_, ValueRef::Real(f)) => Value::Float(f),
            (_, ValueRef::Blob(b)) => Value::Bytes(b.to_vec()),
            (decl, ValueRef::Text(bytes)) => {
                let s =
                    std::str::from_utf8(bytes).map_err(|e| format!("text is not UTF-8: {e}"))?;
                let parsed = match decl {
                    Decl::Decimal if is_decimal(s) => Some(Value::Decimal(s.to_string())),
                    Decl::Date => values::parse_date(s).map(Value::Date),
                    Decl::Time => values::parse_time(s).map(Value::Time),
                    Decl::Timestamp => values::parse_timestamp(s).map(Value::Timestamp),
                    Decl::Timestamptz => values::parse_timestamptz(s).map(Value::Timestamptz),
                    Decl::Uuid => Some(Value::Uuid(s.to_ascii_lowercase())),
                    Decl::Json => Some(Value::Json(s.to_string())),
                    _ => None,
                };
                parsed.unwrap_or_else(|| Value::Text(s.to_string()))
            }
        })
    }
}

fn is_decimal(s: &str) -> bool {
    let digits = s.strip_prefix(['-', '+']).unwrap_or(s);
    !digits.is_empty()
        && digits.bytes().filter(|&b| b == b'.').count() <= 1
        && digits.bytes().all(|b| b.is_ascii_digit() || b == b'.')
}

fn to_sql(value: &Value) -> Result<ToSqlOutput<'_>, String> {
    use rusqlite::types::Value as Owned;
    Ok(match value {
        Value::Null => ToSqlOutput::Owned(Owned::Null),
        Value::Boolean(b) => ToSqlOutput::Owned(Owned::Integer(i64::from(*b))),
        Value::Integer(i) => ToSqlOutput::Owned(Owned::Integer(*i)),
        Value::Float(f) => ToSqlOutput::Owned(Owned::Real(*f)),
        Value::Text(s) | Value::Decimal(s) | Value::Uuid(s) | Value::Json(s) => {
            ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes()))
        }
        Value::Bytes(b) => ToSqlOutput::Borrowed(ValueRef::Blob(b)),
        other => match values::sqlite_text(other).map_err(|e| e.to_string())? {
            Some(text) => ToSqlOutput::Owned(Owned::Text(text)),
            None => return Err(format!("cannot bind a {} value", kind(other))),
        },
    })
}

/// The name of an SQLite extended result code, e.g. `SQLITE_CONSTRAINT_UNIQUE`.
fn code_name(e: &ffi::Error) -> String {
    match e.extended_code {
        2067 => "SQLITE_CONSTRAINT_UNIQUE".into(),
        1555 => "SQLITE_CONSTRAINT_PRIMARYKEY".into(),
        787 => "SQLITE_CONSTRAINT_FOREIGNKEY".into(),
        1299 => "SQLITE_CONSTRAINT_NOTNULL".into(),
        275 => "SQLITE_CONSTRAINT_CHECK".into(),
        _ => {
            let primary = match e.code {
                ffi::ErrorCode::ConstraintViolation => "CONSTRAINT",
                ffi::ErrorCode::DatabaseBusy => "BUSY",
                ffi::ErrorCode::DatabaseLocked => "LOCKED",
                ffi::ErrorCode::ReadOnly => "READONLY",
                ffi::ErrorCode::TypeMismatch => "MISMATCH",
                ffi::ErrorCode::TooBig => "TOOBIG",
                ffi::ErrorCode::DatabaseCorrupt => "CORRUPT",
                ffi::ErrorCode::DiskFull => "FULL",
                ffi::ErrorCode::ApiMisuse => "MISUSE",
                ffi::ErrorCode::ParameterOutOfRange => "RANGE",
                _ => "ERROR",
            };
            format!("SQLITE_{primary}")
        }
    }
}

fn guest_error(e: rusqlite::Error) -> SqlFailure {
    match e {
        rusqlite::Error::SqliteFailure(code, message) => {
            SqlFailure::Guest(GuestError::Database(DatabaseError {
                code: Some(code_name(&code)),
                message: message.unwrap_or_else(|| code.to_string()),
                detail: None,
            }))
        }
        rusqlite::Error::SqlInputError {
            error, msg, offset, ..
        } => SqlFailure::Guest(GuestError::Database(DatabaseError {
            code: Some(code_name(&error)),
            message: msg,
            detail: Some(format!("at offset {offset}")),
        })),
        rusqlite::Error::ExecuteReturnedResults => SqlFailure::Guest(GuestError::InvalidStatement(
            "the statement returns rows: use query".into(),
        )),
        rusqlite::Error::MultipleStatement => SqlFailure::Guest(GuestError::InvalidStatement(
            "only statements without parameters may contain several statements".into(),
        )),
        other => SqlFailure::Guest(GuestError::Database(DatabaseError {
            code: None,
            message: other.to_string(),
            detail: None,
        })),
    }
}

fn db_error(doing: &str, statement: &str, e: rusqlite::Error) -> DbError {
    let code = match &e {
        rusqlite::Error::SqliteFailure(c, _) => Some(code_name(c)),
        _ => None,
    };
    DbError::Statement {
        doing: doing.into(),
        statement: statement.into(),
        code,
        message: e.to_string(),
    }
}

/// A guest's open query. Its rows are read with `Statement::raw_query`, which keeps the
/// statement's position between batches as long as the `Rows` it returns are not dropped
/// (dropping them resets the statement): each batch `forget`s them instead, which is sound —
/// `Rows` owns nothing — and marks the cursor done once SQLite says it is exhausted (it then
/// resets the statement itself, so it must not be read again).
struct OpenCursor<'c> {
    stmt: rusqlite::Statement<'c>,
    decls: Vec<Decl>,
    done: bool,
}

/// What borrows the connection: its open cursors and the state of the session as Retort
/// sees it. It lives in [`Held`] beside the connection it borrows.
struct Worker<'c> {
    conn: &'c Connection,
    /// What a guest's statements may do (the authorizer reads it).
    policy: Policy,
    cursors: HashMap<CursorId, OpenCursor<'c>>,
    next_cursor: CursorId,
    in_transaction: bool,
    /// The last statement's placeholders rewritten (statement, parameter count, rewritten):
    /// a data migration sends one statement row after row, and lexing it each time cost
    /// more than SQLite's own work on it.
    rewritten: std::cell::RefCell<Option<(String, usize, std::sync::Arc<str>)>>,
}

self_cell::self_cell!(
    /// The connection and the [`Worker`] that borrows it, dropped in that order reversed:
    /// the statements before the connection.
    struct Cell {
        owner: Connection,
        #[covariant]
        dependent: Worker,
    }
);

/// [`Cell`], movable between threads as one.
///
/// The connection is `Send`; what borrows it is not, because a statement holds a reference
/// to it. Moving both together is what SQLite allows: the connection is opened in
/// multi-thread mode (`SQLITE_OPEN_NO_MUTEX`), where a connection and its statements may be
/// used from any thread, one thread at a time. One at a time holds because the cell is only
/// reached through `&mut SqliteBackend` ([`SqliteBackend::call`]), and nothing that borrows
/// the connection leaves the closure it is lent to (the closure is generic over the borrow's
/// lifetime; the one shared value, the rewritten text, is an `Arc`).
struct Held(Cell);

// SAFETY: see `Held`: the connection and everything borrowing it move together and are used
// by one thread at a time, which SQLite's multi-thread mode permits.
unsafe impl Send for Held {}

/// The deadline of the guest call that is running, as nanoseconds after [`DEADLINE_BASE`]
/// (0: none). SQLite's progress handler reads it: the connection's calls run on the caller's
/// thread, where the timer that would ask for an interrupt cannot run until they return.
type Deadline = std::sync::Arc<std::sync::atomic::AtomicU64>;

/// The instant deadlines are counted from.
static DEADLINE_BASE: std::sync::LazyLock<std::time::Instant> =
    std::sync::LazyLock::new(std::time::Instant::now);

/// How many SQLite virtual-machine steps pass between two looks at the deadline.
const DEADLINE_STEPS: std::ffi::c_int = 1000;

/// The connection settings a migration may change (`sqlite_policy.rs`), read once configured
/// and put back after each migration. (`foreign_keys` changes nothing inside a transaction;
/// outside one it would, until put back.)
const SESSION_PRAGMAS: &[&str] = &[
    "automatic_index",
    "cache_size",
    "foreign_keys",
    "ignore_check_constraints",
    "legacy_alter_table",
    "recursive_triggers",
    "reverse_unordered_selects",
];

/// A connection to an SQLite file. rusqlite's calls block, and they run on the caller's
/// thread, as a guest's own work does: a data migration's statement row after row costs
/// SQLite's work and nothing more (a thread of its own cost a hand-off each way, measured in
/// BENCHMARKS.md). Under the exclusive lock a run holds, nothing another connection does
/// makes a guest's statement wait; a deadline stops a statement through the progress
/// handler ([`Deadline`]).
pub struct SqliteBackend {
    tables: Tables,
    /// The session setup (`retort.toml` `session`).
    setup: Vec<String>,
    /// What puts the connection's settings back as configured ([`Session::configured`]).
    baseline: Option<String>,
    interrupt: std::sync::Arc<rusqlite::InterruptHandle>,
    deadline: Deadline,
    held: Held,
    /// What [`Session::known_artifacts`] answers.
    known: std::collections::HashSet<String>,
}

impl SqliteBackend {
    pub fn connect(url: &str, access: Access) -> Result<Self, DbError> {
        let path = url.trim_start_matches("sqlite://");
        let path = path.split('?').next().unwrap_or(path);
        let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_URI
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        if access == Access::ReadWrite {
            flags |= OpenFlags::SQLITE_OPEN_CREATE;
        } else if path != ":memory:" && !std::path::Path::new(path).exists() {
            return Err(DbError::MissingFile(url.into()));
        }
        let failed = |e: rusqlite::Error| DbError::Connect {
            url: url.into(),
            message: e.to_string(),
        };
        let conn = Connection::open_with_flags(path, flags).map_err(failed)?;
        conn.set_prepared_statement_cache_capacity(64);
        // Readers wait for a migrating process's exclusive lock rather than fail at once.
        conn.busy_timeout(BUSY_TIMEOUT).map_err(failed)?;
        let policy = Policy::default();
        let authorizer = policy.clone();
        conn.authorizer(Some(move |ctx: rusqlite::hooks::AuthContext<'_>| {
            authorizer.authorize(ctx)
        }))
        .map_err(failed)?;
        let deadline = Deadline::default();
        let passed = deadline.clone();
        conn.progress_handler(
            DEADLINE_STEPS,
            Some(move || {
                let at = passed.load(std::sync::atomic::Ordering::Relaxed);
                at != 0 && DEADLINE_BASE.elapsed().as_nanos() >= u128::from(at)
            }),
        )
        .map_err(failed)?;
        let interrupt = std::sync::Arc::new(conn.get_interrupt_handle());
        let cell = Cell::new(conn, |conn| Worker {
            conn,
            policy,
            cursors: HashMap::new(),
            next_cursor: 1,
            in_transaction: false,
            rewritten: std::cell::RefCell::new(None),
        });
        Ok(SqliteBackend {
            tables: Tables::under("main.", "main"),
            setup: Vec::new(),
            baseline: None,
            interrupt,
            deadline,
            held: Held(cell),
            known: Default::default(),
        })
    }

    /// Runs `f` on the connection, on this thread.
    fn call<T>(&mut self, f: impl for<'c> FnOnce(&mut Worker<'c>) -> T) -> T {
        self.held.0.with_dependent_mut(|_, worker| f(worker))
    }

    /// [`Self::call`] for work that waits on the disk (a commit's `fsync`s) or on another
    /// process (the lock's busy handler): on a multi-threaded runtime (a fleet's), the
    /// thread's other tasks move to another thread meanwhile, so that other targets' work
    /// overlaps with the wait.
    fn call_on_disk<T>(&mut self, f: impl for<'c> FnOnce(&mut Worker<'c>) -> T) -> T {
        let threaded = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if threaded {
            tokio::task::block_in_place(|| self.call(f))
        } else {
            self.call(f)
        }
    }
}

impl Worker<'_> {
    /// Runs a guest's request under the guest's rules ([`Policy`]); a statement the policy
    /// refused fails with the reason.
    fn as_guest<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, SqlFailure>,
    ) -> Result<T, SqlFailure> {
        let policy = self.policy.clone();
        let in_transaction = self.in_transaction;
        let (out, refused) = policy.as_guest(in_transaction, || f(self));
        match (out, refused) {
            (Err(SqlFailure::Guest(GuestError::Database(mut e))), Some(reason)) => {
                e.message = format!("{reason} ({})", e.message);
                Err(SqlFailure::Guest(GuestError::Database(e)))
            }
            (out, _) => out,
        }
    }

    fn run(&self, doing: &str, sql: &str) -> Result<(), DbError> {
        self.conn
            .execute_batch(sql)
            .map_err(|e| db_error(doing, sql, e))
    }

    fn bind(stmt: &mut rusqlite::Statement<'_>, params: &[Value]) -> Result<(), SqlFailure> {
        for (i, value) in params.iter().enumerate() {
            let out = to_sql(value)
                .map_err(|m| GuestError::Conversion(format!("parameter ${}: {m}", i + 1)))?;
            stmt.raw_bind_parameter(i + 1, out).map_err(guest_error)?;
        }
        Ok(())
    }

    /// `sql` with its `$n` placeholders as SQLite's `?n`, for `params` parameters
    /// (remembered for the last statement: the rewrite depends on nothing else).
    fn rewrite(&self, sql: &str, params: usize) -> Result<std::sync::Arc<str>, SqlFailure> {
        let mut last = self.rewritten.borrow_mut();
        if let Some((text, n, rewritten)) = last.as_ref()
            && *n == params
            && text == sql
        {
            return Ok(rewritten.clone());
        }
        let rewritten: std::sync::Arc<str> = rewrite(sql, Dialect::Sqlite, params)
            .map_err(GuestError::InvalidStatement)?
            .sql
            .into();
        *last = Some((sql.to_string(), params, rewritten.clone()));
        Ok(rewritten)
    }

    /// One attempt at the exclusive lock, waiting up to `wait` for other connections (`Ok(false)`:
    /// still busy). SQLite returns BUSY without waiting when waiting could deadlock (another
    /// connection holds a pending lock), so the caller retries ([`Lock::lock`]).
    fn try_lock(&self, wait: Duration) -> Result<bool, DbError> {
        // Exclusive mode is switched on inside the transaction: set before it, a failed
        // attempt would keep the shared lock it took and deadlock the other waiters.
        let sql = "BEGIN EXCLUSIVE; PRAGMA locking_mode = EXCLUSIVE; COMMIT;";
        self.conn
            .busy_timeout(wait)
            .map_err(|e| db_error("setting busy_timeout", "", e))?;
        let attempt = self.conn.execute_batch(sql);
        self.conn
            .busy_timeout(BUSY_TIMEOUT)
            .map_err(|e| db_error("setting busy_timeout", "", e))?;
        match attempt {
            Ok(()) => Ok(true),
            Err(rusqlite::Error::SqliteFailure(c, _)) if c.code == ffi::ErrorCode::DatabaseBusy => {
                if !self.conn.is_autocommit() {
                    let _ = self.conn.execute_batch("ROLLBACK");
                }
                Ok(false)
            }
            Err(e) => Err(db_error("locking the database", sql, e)),
        }
    }

    /// A guest's script, statement by statement as `execute_batch` runs it (each stepped
    /// once), each statement's preparation bounded on its own ([`Policy::next_statement`]).
    fn execute_script(&self, sql: &str) -> Result<(), SqlFailure> {
        use rusqlite::fallible_iterator::FallibleIterator;
        let mut batch = rusqlite::Batch::new(self.conn, sql);
        loop {
            self.policy.next_statement();
            let Some(mut stmt) = batch.next().map_err(guest_error)? else {
                return Ok(());
            };
            stmt.raw_query().next().map_err(guest_error)?;
        }
    }

    fn execute(&self, sql: &str, params: &[Value]) -> Result<u64, SqlFailure> {
        if params.is_empty() {
            // Without parameters a statement may hold several statements (a script).
            let before = self.conn.total_changes();
            self.execute_script(sql)?;
            return Ok(self.conn.total_changes().saturating_sub(before));
        }
        let rewritten = self.rewrite(sql, params.len())?;
        let mut stmt = self.conn.prepare_cached(&rewritten).map_err(guest_error)?;
        Self::bind(&mut stmt, params)?;
        Ok(stmt.raw_execute().map_err(guest_error)? as u64)
    }

    fn execute_batch(&self, sql: &str, sets: &[Vec<Value>]) -> Result<u64, SqlFailure> {
        let Some(first) = sets.first() else {
            return Ok(0);
        };
        let rewritten = self.rewrite(sql, first.len())?;
        let mut stmt = self.conn.prepare_cached(&rewritten).map_err(guest_error)?;
        let mut total = 0u64;
        for (n, params) in sets.iter().enumerate() {
            if params.len() != first.len() {
                return Err(GuestError::InvalidStatement(format!(
                    "parameter set {n} has {} values, the first has {}",
                    params.len(),
                    first.len()
                ))
                .into());
            }
            Self::bind(&mut stmt, params)?;
            total += stmt.raw_execute().map_err(guest_error)? as u64;
        }
        Ok(total)
    }

    fn host_query(
        &self,
        doing: &str,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Vec<Value>>, DbError> {
        let failed = |f| super::host_failure(doing, sql, f);
        let rewritten = self.rewrite(sql, params.len()).map_err(failed)?;
        let mut stmt = self
            .conn
            .prepare_cached(&rewritten)
            .map_err(|e| db_error(doing, sql, e))?;
        Self::bind(&mut stmt, params).map_err(failed)?;
        let decls = decls(&stmt);
        let mut rows = stmt.raw_query();
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| db_error(doing, sql, e))? {
            out.push(read_row(row, &decls).map_err(failed)?);
        }
        Ok(out)
    }

    fn open_cursor(
        &mut self,
        sql: &str,
        params: &[Value],
    ) -> Result<(CursorId, Vec<Column>), SqlFailure> {
        let rewritten = self.rewrite(sql, params.len())?;
        let mut stmt = self.conn.prepare(&rewritten).map_err(guest_error)?;
        Self::bind(&mut stmt, params)?;
        let columns: Vec<Column> = stmt
            .columns()
            .iter()
            .map(|c| Column {
                name: c.name().to_string(),
                type_name: c.decl_type().unwrap_or("").to_ascii_uppercase(),
            })
            .collect();
        let decls = decls(&stmt);
        let id = self.next_cursor;
        self.next_cursor += 1;
        self.cursors.insert(
            id,
            OpenCursor {
                stmt,
                decls,
                done: false,
            },
        );
        Ok((id, columns))
    }

    fn fetch(&mut self, cursor: CursorId, max: u32) -> Result<Vec<Vec<Value>>, SqlFailure> {
        let c = self
            .cursors
            .get_mut(&cursor)
            .ok_or_else(|| GuestError::ClosedHandle("the rows were closed".into()))?;
        let mut out = Vec::with_capacity(max.min(4096) as usize);
        if c.done {
            return Ok(out);
        }
        let mut rows = c.stmt.raw_query();
        let read = (|| {
            while out.len() < max as usize {
                match rows.next().map_err(guest_error)? {
                    Some(row) => out.push(read_row(row, &c.decls)?),
                    None => return Ok(true),
                }
            }
            Ok::<_, SqlFailure>(false)
        })();
        match read {
            // Exhausted (SQLite reset the statement) or failed: never read it again.
            Ok(true) | Err(_) => c.done = true,
            // More to come: keep the statement where it is (see `OpenCursor`).
            Ok(false) => std::mem::forget(rows),
        }
        read.map(|_| out)
    }
}

fn decls(stmt: &rusqlite::Statement<'_>) -> Vec<Decl> {
    stmt.columns()
        .iter()
        .map(|c| Decl::of(c.decl_type()))
        .collect()
}

fn read_row(row: &rusqlite::Row<'_>, decls: &[Decl]) -> Result<Vec<Value>, SqlFailure> {
    let mut values = Vec::with_capacity(decls.len());
    for (i, decl) in decls.iter().enumerate() {
        let v = row.get_ref(i).map_err(guest_error)?;
        values.push(
            decl.read(v)
                .map_err(|m| GuestError::Conversion(format!("column {i}: {m}")))?,
        );
    }
    Ok(values)
}

#[async_trait]
impl Lock for SqliteBackend {
    async fn lock(&mut self, wait: Duration) -> Result<(), DbError> {
        // An exclusive lock held for the connection's lifetime: `locking_mode = EXCLUSIVE`
        // keeps the lock the first write transaction takes. The OS drops it if we die.
        let started = std::time::Instant::now();
        loop {
            // SQLite's busy handler waits on this thread: in short turns, handed off as a
            // commit's disk wait is, so that a fleet's other targets are not held up by it.
            let left = wait.saturating_sub(started.elapsed());
            if self.call_on_disk(|w| w.try_lock(left.min(Duration::from_millis(100))))? {
                return Ok(());
            }
            if started.elapsed() >= wait {
                return Err(DbError::LockTimeout {
                    waited: started.elapsed(),
                    holder: "; another process has the SQLite file open for writing".into(),
                });
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn unlock(&mut self) -> Result<(), DbError> {
        // Leaving exclusive mode releases the lock at the next access.
        self.call(|w| {
            w.run(
                "unlocking the database",
                "PRAGMA locking_mode = NORMAL; SELECT 1 FROM sqlite_master LIMIT 1;",
            )
        })
    }
}

#[async_trait]
impl Session for SqliteBackend {
    fn dialect(&self) -> Dialect {
        Dialect::Sqlite
    }

    async fn begin(&mut self) -> Result<(), DbError> {
        self.call(|w| {
            w.run("beginning a transaction", "BEGIN")?;
            w.in_transaction = true;
            Ok(())
        })
    }

    async fn commit(&mut self) -> Result<(), DbError> {
        self.call_on_disk(|w| {
            w.cursors.clear();
            w.in_transaction = false;
            w.run("committing", "COMMIT")
        })
    }

    async fn rollback(&mut self) -> Result<(), DbError> {
        self.known.clear();
        self.call(|w| {
            w.cursors.clear();
            // No transaction left: SQLite rolled it back itself (an interrupted statement,
            // a full disk), since a migration may not commit it.
            if w.conn.is_autocommit() {
                w.in_transaction = false;
                return Ok(());
            }
            w.in_transaction = false;
            w.run("rolling back", "ROLLBACK")
        })
    }

    fn tables(&self) -> &Tables {
        &self.tables
    }

    fn known_artifacts(&mut self) -> Option<&mut std::collections::HashSet<String>> {
        Some(&mut self.known)
    }

    fn catalog_guarded(&self) -> bool {
        true
    }

    async fn transaction_intact(&mut self) -> Result<bool, DbError> {
        Ok(self.call(|w| !w.conn.is_autocommit()))
    }

    async fn setup(&mut self, doing: &str, sql: &str) -> Result<(), DbError> {
        self.host_execute(doing, sql, &[]).await?;
        self.setup.push(sql.to_string());
        Ok(())
    }

    async fn configured(&mut self) -> Result<(), DbError> {
        let read = self.call(|w| {
            SESSION_PRAGMAS
                .iter()
                .map(|name| {
                    w.conn
                        .pragma_query_value(None, name, |row| row.get::<_, i64>(0))
                        .map(|value| format!("PRAGMA {name} = {value};\n"))
                        .map_err(|e| db_error("reading the session's settings", name, e))
                })
                .collect::<Result<String, DbError>>()
        })?;
        // `case_sensitive_like` cannot be read back: off, or as the setup sets it.
        let mut script = read;
        let setting_like: Vec<&String> = self
            .setup
            .iter()
            .filter(|s| s.to_ascii_lowercase().contains("case_sensitive_like"))
            .collect();
        match setting_like.is_empty() {
            true => script.push_str("PRAGMA case_sensitive_like = 0;\n"),
            false => {
                for sql in setting_like {
                    script.push_str(sql);
                    script.push_str(";\n");
                }
            }
        }
        self.baseline = Some(script);
        Ok(())
    }

    async fn reset_session(&mut self) -> Result<(), DbError> {
        let Some(script) = self.baseline.clone() else {
            return Ok(());
        };
        self.call(move |w| {
            // Nothing a guest prepared named a pragma or the temporary database: the session
            // is as configured (putting it back expired every cached statement, and its
            // temporary-object check cost a query per migration).
            if !w.policy.take_touched() {
                return Ok(());
            }
            let doing = "putting the session back as configured";
            w.run(doing, &script)?;
            // Temporary objects come first in name resolution: one left by a migration would
            // stand in for the real table in the next.
            let sql = "SELECT type, name FROM temp.sqlite_master WHERE type IN ('trigger', \
                       'view', 'table') AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' \
                       ORDER BY type = 'table', type = 'view'";
            let temps = w.host_query(doing, sql, &[])?;
            for row in temps {
                if let [Value::Text(kind), Value::Text(name)] = &row[..] {
                    let drop = format!(
                        "DROP {} IF EXISTS temp.{}",
                        kind.to_ascii_uppercase(),
                        crate::db::ddl::sqlite_table::quote(name)
                    );
                    w.run(doing, &drop)?;
                }
            }
            Ok(())
        })
    }

    async fn close(self: Box<Self>) {
        // The statements go, then the connection (releasing its locks): a caller that
        // connects again next finds the file unlocked.
        drop(self);
    }

    async fn host_execute(
        &mut self,
        doing: &str,
        sql: &str,
        params: &[Value],
    ) -> Result<u64, DbError> {
        self.call(|w| {
            if params.is_empty() {
                let before = w.conn.total_changes();
                w.run(doing, sql)?;
                return Ok(w.conn.total_changes().saturating_sub(before));
            }
            w.execute(sql, params)
                .map_err(|f| super::host_failure(doing, sql, f))
        })
    }

    async fn host_query(
        &mut self,
        doing: &str,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Vec<Value>>, DbError> {
        self.call(|w| w.host_query(doing, sql, params))
    }
}

#[async_trait]
impl GuestSql for SqliteBackend {
    async fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, SqlFailure> {
        self.call(|w| w.as_guest(|w| w.execute(sql, &params)))
    }

    async fn execute_batch(&mut self, sql: &str, sets: Vec<Vec<Value>>) -> Result<u64, SqlFailure> {
        self.call(|w| w.as_guest(|w| w.execute_batch(sql, &sets)))
    }

    async fn open_cursor(
        &mut self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<(CursorId, Vec<Column>), SqlFailure> {
        self.call(|w| w.as_guest(|w| w.open_cursor(sql, &params)))
    }

    async fn fetch(&mut self, cursor: CursorId, max: u32) -> Result<Vec<Vec<Value>>, SqlFailure> {
        self.call(|w| w.fetch(cursor, max))
    }

    async fn close_cursor(&mut self, cursor: CursorId) {
        self.call(|w| {
            w.cursors.remove(&cursor);
        })
    }

    async fn close_all_cursors(&mut self) {
        self.call(|w| w.cursors.clear())
    }

    fn interrupter(&self) -> Box<dyn super::Interrupt> {
        Box::new(SqliteInterrupt {
            handle: self.interrupt.clone(),
            deadline: self.deadline.clone(),
        })
    }
}

/// `sqlite3_interrupt` on the migration's connection, and the deadline its progress handler
/// reads.
struct SqliteInterrupt {
    handle: std::sync::Arc<rusqlite::InterruptHandle>,
    deadline: Deadline,
}

#[async_trait]
impl super::Interrupt for SqliteInterrupt {
    async fn interrupt(&self) {
        self.handle.interrupt();
    }

    fn stop_at(&self, deadline: Option<std::time::Instant>) {
        let at = deadline.map_or(0, |at| {
            let nanos = at.saturating_duration_since(*DEADLINE_BASE).as_nanos();
            u64::try_from(nanos).unwrap_or(u64::MAX).max(1)
        });
        self.deadline
            .store(at, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn declared_types_pick_the_reading() {
        assert_eq!(Decl::of(Some("decimal text")), Decl::Decimal);
        assert_eq!(Decl::of(Some("NUMERIC(10,2)")), Decl::Decimal);
        assert_eq!(
            Decl::of(Some("TIMESTAMP WITH TIME ZONE")),
            Decl::Timestamptz
        );
        assert_eq!(Decl::of(Some("timestamptz")), Decl::Timestamptz);
        assert_eq!(Decl::of(Some("DATETIME")), Decl::Timestamp);
        assert_eq!(Decl::of(Some("VARCHAR(20)")), Decl::Plain);
        assert_eq!(Decl::of(None), Decl::Plain);
    }

    /// One `execute` of a script: each statement's preparation is bounded on its own, so six
    /// statements each well inside the limits run, where one past them is refused.
    #[tokio::test]
    async fn each_statement_of_a_guest_script_is_bounded_on_its_own() {
        let mut backend = SqliteBackend::connect("sqlite://:memory:", Access::ReadWrite).unwrap();
        // Each view reads the one before twice: 2^n copies of the first when expanded.
        let mut views =
            String::from("CREATE TABLE t (a INTEGER); CREATE VIEW d0 AS SELECT a FROM t;");
        for i in 1..12 {
            views.push_str(&format!(
                "CREATE VIEW d{i} AS SELECT a FROM d{p} UNION ALL SELECT a FROM d{p};",
                p = i - 1
            ));
        }
        assert!(backend.execute(&views, Vec::new()).await.is_ok());
        let six = "SELECT a FROM d6;".repeat(6);
        assert!(backend.execute(&six, Vec::new()).await.is_ok());
        match backend.execute("SELECT a FROM d11", Vec::new()).await {
            Err(SqlFailure::Guest(GuestError::Database(e))) => {
                assert!(e.message.contains("too large to prepare"), "{}", e.message);
            }
            _ => panic!("a statement past the limits was not refused"),
        }
    }

    #[test]
    fn unparsable_text_keeps_its_storage_class() {
        let v = Decl::Date.read(ValueRef::Text(b"not a date")).unwrap();
        assert_eq!(v, Value::Text("not a date".into()));
        assert!(is_decimal("-12.340"));
        assert!(!is_decimal("1e5"));
    }
}
