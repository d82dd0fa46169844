//! One backend trait, one implementation per dialect.
//!
//! A backend owns one connection to the database being migrated. It knows how to lock, how to
//! keep Retort's history tables, and how to run a guest's SQL with the host-side placeholder
//! rewriting and value mapping of its dialect. Everything that differs between SQLite,
//! PostgreSQL and MySQL lives behind this trait.

pub(crate) mod catalog;
pub(crate) mod ddl;
mod history;
mod mirror;
mod mysql;
mod mysql_batch;
pub(crate) mod placeholders;
mod postgres;
pub mod recording;
pub mod scratch;
mod sqlite;
mod sqlite_policy;
pub(crate) mod values;

use crate::core::DialectExt;
use std::time::Duration;

use async_trait::async_trait;

use crate::bindings::{Column, GuestError, Value};
use crate::core::Dialect;

/// Name of the table that records applied revisions.
pub const HISTORY_TABLE: &str = "retort_history";
/// Name of the table that keeps the bytes of every applied artifact, by digest.
pub const ARTIFACTS_TABLE: &str = "retort_artifacts";

/// A failure of the database layer, outside any guest call.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DbError {
    /// The URL names no supported dialect.
    #[error("unsupported database URL `{0}`: expected sqlite://, postgres:// or mysql://")]
    UnsupportedUrl(String),
    /// The database could not be reached or refused the connection.
    #[error("cannot connect to {url}: {message}")]
    Connect {
        /// The URL, without its password.
        url: String,
        /// The driver's message.
        message: String,
    },
    /// A read-only command found no SQLite database file (it never creates one): the
    /// database has no history yet.
    #[error(
        "cannot open {0}: the database file does not exist (read-only commands never create it)"
    )]
    MissingFile(String),
    /// A statement Retort itself ran failed.
    #[error("{doing} failed: {}{}\n  statement: {}", crate::core::as_data(message), code.as_deref().map(|c| format!(" [{c}]")).unwrap_or_default(), truncate(statement, 300))]
    Statement {
        /// What Retort was doing, e.g. `reading retort_history`.
        doing: String,
        /// The statement.
        statement: String,
        /// SQLSTATE or vendor code.
        code: Option<String>,
        /// The database's message.
        message: String,
    },
    /// Another process holds the migration lock.
    #[error("timed out after {}s waiting for the migration lock{holder}", .waited.as_secs_f32())]
    LockTimeout {
        /// How long Retort waited.
        waited: Duration,
        /// Who holds it, where the dialect can tell (starts with `; `).
        holder: String,
    },
    /// The connection broke while a guest was running a statement.
    #[error("lost the database connection: {0}")]
    Lost(String),
    /// A migration changed Retort's bookkeeping tables (caught before it could commit).
    #[error(
        "the migration changed Retort's bookkeeping (the rows, triggers, rules or columns of \
         retort_history or retort_artifacts, or a table shadowing them); only Retort writes them"
    )]
    Bookkeeping,
    /// A migration committed, but its history row was not as Retort wrote it when read back
    /// after the commit: work the migration set up to run inside COMMIT (a deferred
    /// constraint trigger that deferred itself again) changed the bookkeeping after the
    /// checks. The migration's changes are in the database.
    #[error(
        "{revision} committed, but its history row was {found} when Retort read it back right \
         after the commit: work the migration deferred to COMMIT changed Retort's bookkeeping \
         after its checks. The migration's changes are in the database; inspect \
         retort_history (and the migration's deferred triggers) before the next run"
    )]
    ChangedAtCommit {
        /// The revision that committed.
        revision: String,
        /// What Retort found instead of what it wrote: `missing`, `present`, or a state.
        found: String,
    },
    /// The run lock was lost while migrations ran (its connection died or was killed):
    /// another runner may be migrating the same database, so nothing more is committed.
    #[error("lost the migration lock ({0}); nothing further was committed")]
    LockLost(String),
}

/// The largest part of a stored artifact.
pub const ARTIFACT_PART: usize = 4 << 20;

/// Compresses an artifact for `retort_artifacts` (zlib at its fast level: a Python runtime,
/// stored once in every database a first Python migration runs on, took 0.76 s at the
/// default level and 0.37 s at this one, 12 % larger). One compressor per thread is reset
/// and reused: a fresh one allocates ~300 KB of state, which glibc maps and unmaps per call —
/// measured as a tenth of a SQL migration's CPU (page faults and TLB shoot-downs), for an
/// artifact of a few hundred bytes.
pub fn pack(bytes: &[u8]) -> Vec<u8> {
    use flate2::{Compress, Compression, FlushCompress, Status};
    thread_local! {
        static COMPRESSOR: std::cell::RefCell<Compress> =
            std::cell::RefCell::new(Compress::new(Compression::fast(), true));
    }
    COMPRESSOR.with_borrow_mut(|c| {
        c.reset();
        let mut out = Vec::with_capacity(bytes.len() / 2 + 64);
        loop {
            let read = usize::try_from(c.total_in())
                .unwrap_or(bytes.len())
                .min(bytes.len());
            if out.len() == out.capacity() {
                out.reserve(out.capacity().max(64));
            }
            match c.compress_vec(&bytes[read..], &mut out, FlushCompress::Finish) {
                Ok(Status::StreamEnd) => return out,
                Ok(_) => {}
                // Compressing into a Vec with room cannot fail; were it to, a fresh
                // encoder does it.
                Err(_) => return pack_fresh(bytes),
            }
        }
    })
}

/// [`pack`] with an encoder of its own.
fn pack_fresh(bytes: &[u8]) -> Vec<u8> {
    use std::io::Write;
    let mut enc = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    // Writing to a Vec cannot fail.
    let _ = enc.write_all(bytes);
    enc.finish().unwrap_or_default()
}

/// [`pack`]ed bytes kept by the SHA-256 of the bytes they were made from.
type PackedCache = std::collections::HashMap<[u8; 32], std::sync::Arc<[u8]>>;

/// How many bytes of packed artifacts [`packed`] keeps before it starts over.
const PACKED_CACHE_LIMIT: usize = 64 << 20;

/// The smallest artifact [`packed`] remembers.
const PACKED_CACHE_MIN: usize = 64 << 10;

/// [`pack`], remembered: the same artifact stored in many databases (a fleet's targets all
/// store the same runtime and migrations) is compressed once. Kept by a hash of the bytes
/// themselves, not the artifact's digest (which leaves out a signature, so two artifacts of
/// one digest may differ); hashing costs a fraction of compressing.
pub fn packed(bytes: &[u8]) -> std::sync::Arc<[u8]> {
    use sha2::{Digest, Sha256};
    use std::sync::{Arc, Mutex, OnceLock};
    // A small artifact (a SQL migration's is under 1 KB) packs again in microseconds; kept,
    // it would only grow the run's memory with every migration.
    if bytes.len() < PACKED_CACHE_MIN {
        return pack(bytes).into();
    }
    static CACHE: OnceLock<Mutex<(PackedCache, usize)>> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    let lock =
        |c: &'static Mutex<(PackedCache, usize)>| c.lock().unwrap_or_else(|p| p.into_inner());
    let key: [u8; 32] = Sha256::digest(bytes).into();
    if let Some(packed) = lock(cache).0.get(&key) {
        return packed.clone();
    }
    let packed: Arc<[u8]> = pack(bytes).into();
    let mut guard = lock(cache);
    let (entries, size) = &mut *guard;
    if *size + packed.len() > PACKED_CACHE_LIMIT {
        entries.clear();
        *size = 0;
    }
    *size += packed.len();
    entries.insert(key, packed.clone());
    packed
}

/// Reverses [`pack`].
pub fn unpack(packed: &[u8]) -> std::io::Result<Vec<u8>> {
    use std::io::Read;
    let mut out = Vec::new();
    flate2::read::ZlibDecoder::new(packed).read_to_end(&mut out)?;
    Ok(out)
}

/// Shortens a statement for error messages, keeping its start.
pub fn truncate(sql: &str, max: usize) -> String {
    crate::core::one_line(sql, max)
}

/// Why a guest's SQL request failed: a value the guest receives, or a fatal host failure
/// that traps the guest and rolls the migration back.
#[derive(Debug)]
pub enum SqlFailure {
    /// Returned to the guest as `error`.
    Guest(GuestError),
    /// Ends the migration.
    Fatal(DbError),
}

impl From<GuestError> for SqlFailure {
    fn from(e: GuestError) -> Self {
        SqlFailure::Guest(e)
    }
}

/// The state of a row in `retort_history`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RowState {
    /// The revision is applied.
    Applied,
    /// An upgrade started but did not finish (dialects whose DDL commits implicitly).
    Upgrading,
    /// A downgrade started but did not finish (dialects whose DDL commits implicitly).
    Downgrading,
}

impl std::fmt::Display for RowState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl RowState {
    /// The word stored in the `state` column.
    pub fn as_str(self) -> &'static str {
        match self {
            RowState::Applied => "applied",
            RowState::Upgrading => "upgrading",
            RowState::Downgrading => "downgrading",
        }
    }

    /// Parses the `state` column.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "applied" => Some(RowState::Applied),
            "upgrading" => Some(RowState::Upgrading),
            "downgrading" => Some(RowState::Downgrading),
            _ => None,
        }
    }
}

/// One row of `retort_history`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HistoryRow {
    /// The revision id.
    pub revision: String,
    /// Its parents, as recorded when it was applied.
    pub parents: Vec<String>,
    /// Its description.
    pub description: String,
    /// SHA-256 of the artifact, lowercase hex.
    pub digest: String,
    /// Applied, or an unfinished upgrade/downgrade.
    pub state: RowState,
    /// When it was applied (RFC 3339, UTC).
    pub applied_at: String,
    /// Which runner applied it: `retort <version> <user>@<host>`.
    pub applied_by: String,
    /// How long the migration ran, in milliseconds.
    pub duration_ms: i64,
    /// For a migration run outside one transaction (MySQL, or `transactional: false`): the
    /// statements it completed, one per line, so an interrupted run can be explained.
    pub journal: Option<String>,
    /// The key id (`SHA256:…`) of the trusted key that signed the artifact, if one did.
    pub signer: Option<String>,
    /// Operator decisions about this row (an accepted rebuild), one per line.
    pub notes: Option<String>,
}

pub use crate::core::CursorId;
pub use history::{HistoryStore, Tables, View, Watch};

/// The migration lock, held where a migration's statements cannot release it: on a
/// connection of its own (PostgreSQL, MySQL), or as SQLite's exclusive file lock, whose
/// pragma a migration may not change.
#[async_trait]
pub trait Lock: Send {
    /// Takes the migration lock, waiting at most `wait`.
    async fn lock(&mut self, wait: Duration) -> Result<(), DbError>;
    /// Releases the migration lock.
    async fn unlock(&mut self) -> Result<(), DbError>;
    /// Fails with [`DbError::LockLost`] when the lock taken is no longer held (checked
    /// before every commit).
    async fn check_lock(&mut self) -> Result<(), DbError> {
        Ok(())
    }
}

/// Stops the statement a migration's connection is running, from outside the call that
/// runs it: how a deadline holds while the migration waits in the database.
#[async_trait]
pub trait Interrupt: Send + Sync {
    /// Asks the database to stop the running statement (a no-op when none runs).
    async fn interrupt(&self);

    /// Has the database stop statements still running at `deadline` by itself (`None`:
    /// disarms it). A backend whose calls run on the caller's thread (SQLite) needs it: the
    /// timer that calls [`Interrupt::interrupt`] runs on that thread too, and cannot fire
    /// while a statement holds it. Backends that await a server do nothing.
    fn stop_at(&self, deadline: Option<std::time::Instant>) {
        let _ = deadline;
    }
}

/// A connection as Retort itself uses it: its dialect, transactions, and two primitives for
/// its own statements (placeholders `$1`, `$2`, … on every dialect), on which the
/// bookkeeping of [`HistoryStore`] is written once.
#[async_trait]
pub trait Session: Send {
    /// The dialect, as the guest sees it.
    fn dialect(&self) -> Dialect;

    /// True where DDL commits implicitly (MySQL/MariaDB): the executor then records a pending
    /// history row before a migration runs and completes it after.
    fn ddl_commits_implicitly(&self) -> bool {
        false
    }

    /// Opens a transaction.
    async fn begin(&mut self) -> Result<(), DbError>;
    /// Commits the open transaction.
    async fn commit(&mut self) -> Result<(), DbError>;
    /// Rolls the open transaction back (a no-op without one).
    async fn rollback(&mut self) -> Result<(), DbError>;

    /// Runs one of Retort's own statements (without parameters: possibly several,
    /// separated by `;`); returns the rows affected. `doing` names it in errors.
    async fn host_execute(
        &mut self,
        doing: &str,
        sql: &str,
        params: &[Value],
    ) -> Result<u64, DbError>;
    /// Runs one of Retort's own queries and returns all its rows.
    async fn host_query(
        &mut self,
        doing: &str,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Vec<Value>>, DbError>;

    /// The bookkeeping tables, qualified as resolved when the connection opened.
    fn tables(&self) -> &Tables;

    /// The bookkeeping fingerprint ([`HistoryStore::bookkeeping_fingerprint`], as
    /// [`Watch::Transaction`] reads it) that the backend read in the round trip of the last
    /// thing it did, if that was `BEGIN` or the reset after a migration (PostgreSQL): taken,
    /// so it answers once. Any other statement forgets it.
    fn take_fingerprint(&mut self) -> Option<String> {
        None
    }

    /// Says that the next [`Session::host_execute`] writes `revision`'s history row and/or
    /// `artifact`'s stored parts, and nothing else of the bookkeeping: a backend that keeps the
    /// bookkeeping's fingerprint up to date from its own writes (MySQL,
    /// [`Session::own_contents_fingerprint`]) reads just those rows again. A write not
    /// announced makes it read everything.
    fn writing(&mut self, revision: Option<&str>, artifact: Option<&str>) {
        let _ = (revision, artifact);
    }

    /// The bookkeeping fingerprint as [`Watch::Contents`] reads it through Retort's own
    /// connection, computed from what the backend knows of the rows plus the ones it wrote
    /// since ([`Session::writing`]) rather than by reading the tables whole; `None`: read it.
    async fn own_contents_fingerprint(&mut self) -> Result<Option<String>, DbError> {
        Ok(None)
    }

    /// The artifact digests this connection stored, or found stored, in `retort_artifacts`
    /// since its last rollback (which may undo a store): the runtime every script migration
    /// shares is looked for once per run then, not before each migration. `None`: no memory,
    /// always look. A migration cannot remove a stored artifact unseen (the bookkeeping check
    /// fails its step, and the failure rolls back, which forgets).
    fn known_artifacts(&mut self) -> Option<&mut std::collections::HashSet<String>> {
        None
    }

    /// Whether the transaction Retort opened is still open on the migration's connection
    /// (checked before it commits). Where a statement could end it unseen — MySQL's dynamic
    /// SQL, `PREPARE s FROM @sql`, may switch autocommit on — the dialect checks.
    async fn transaction_intact(&mut self) -> Result<bool, DbError> {
        Ok(true)
    }

    /// The session is now as configured (Retort's settings, then `retort.toml` `session`):
    /// remember what [`Session::reset_session`] puts back. Called once, before any migration.
    async fn configured(&mut self) -> Result<(), DbError> {
        Ok(())
    }

    /// Puts the migration's connection back as Retort configured it — the settings it chose
    /// when it connected, then `retort.toml` `session` — after a migration ran and before
    /// Retort's own statements and the next migration: what one migration set for its
    /// session (`SET`, `PRAGMA`, `USE`, temporary tables on PostgreSQL) does not reach the
    /// next, which did nothing wrong. What each dialect resets is in docs/security.md.
    async fn reset_session(&mut self) -> Result<(), DbError> {
        Ok(())
    }

    /// Makes what the migration deferred to COMMIT happen now, before the checks that precede
    /// Retort's commit (PostgreSQL: deferred constraints and constraint triggers, `SET
    /// CONSTRAINTS ALL IMMEDIATE`), so nothing it set up runs after them. An error here is the
    /// migration's: what it deferred failed.
    async fn settle_deferred(&mut self) -> Result<(), DbError> {
        Ok(())
    }

    /// Whether [`HistoryStore::bookkeeping_fingerprint`] covers what
    /// [`HistoryStore::check_bookkeeping_catalog`] looks for (triggers, rules, row security),
    /// so a migration that adds one changes the fingerprint and the separate check after each
    /// migration is not needed (PostgreSQL). The check before the first migration stays.
    fn fingerprint_covers_catalog(&self) -> bool {
        false
    }

    /// Whether the server itself keeps what [`HistoryStore::check_bookkeeping_catalog`] looks
    /// for from appearing while a migration runs, so that the check before the first
    /// migration of a run is enough (SQLite: its authorizer refuses, as actions rather than
    /// statement texts, every trigger, index, table or view a migration would put on or over
    /// the bookkeeping, in `main` or `temp`, and the session reset drops the migration's
    /// temporary objects before the checks). There the check after each migration read
    /// `sqlite_master` whole, which has no index: quadratic in a run's migrations.
    fn catalog_guarded(&self) -> bool {
        false
    }

    /// Whether anything the migration set up may still run inside COMMIT (PostgreSQL: a
    /// deferrable trigger existed when its deferred work was settled), so its history row is
    /// read back after the commit.
    fn may_run_at_commit(&self) -> bool {
        false
    }

    /// After a migration failed, before Retort rolls back: whether the server says its
    /// connection left the transaction Retort opened (a commit the host did not recognise),
    /// so a rollback would undo nothing of what it did. `false` where a migration cannot end
    /// it (SQLite's authorizer refuses it; an empty transaction there was rolled back by
    /// SQLite itself) or where the protocol journals instead (MySQL).
    async fn escaped(&mut self) -> Result<bool, DbError> {
        Ok(false)
    }

    /// The account migrations' statements run as, if it may reach the server's files or
    /// programs (a PostgreSQL superuser or member of `pg_execute_server_program`,
    /// `pg_read_server_files`, `pg_write_server_files`; a MySQL account with `FILE` or
    /// `SUPER`): what a migration's SQL can do beyond the database. `None` where it cannot.
    async fn privileged_account(&mut self) -> Result<Option<String>, DbError> {
        Ok(None)
    }

    /// Where statements a migration sends can commit before Retort does (MySQL's implicit
    /// commits), the backend checks the bookkeeping against `expected`
    /// ([`HistoryStore::bookkeeping_fingerprint`]) before sending one, so a change is refused
    /// while it can still be rolled back. `None` stops the watch.
    fn watch_bookkeeping(&mut self, expected: Option<String>) {
        let _ = expected;
    }

    /// Runs a session setup statement (`retort.toml` `session`) where the migration's
    /// statements run, and on every connection opened for them later.
    async fn setup(&mut self, doing: &str, sql: &str) -> Result<(), DbError> {
        self.host_execute(doing, sql, &[]).await.map(|_| ())
    }

    /// [`Session::host_query`] on the connection the migration's statements run on, where
    /// that is not Retort's own (MySQL): what the migration sees of the bookkeeping.
    async fn host_query_as_migration(
        &mut self,
        doing: &str,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Vec<Value>>, DbError> {
        self.host_query(doing, sql, params).await
    }

    /// Closes the connection.
    async fn close(self: Box<Self>);
}

/// A migration's SQL: what the transaction handle lent to a guest reaches. Database errors
/// are values the guest may handle ([`SqlFailure::Guest`]); a broken connection is fatal.
#[async_trait]
pub trait GuestSql: Send {
    /// Runs a guest statement; returns rows affected. (Parameters are owned: a backend may
    /// hand them to another thread without copying them.)
    async fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, SqlFailure>;
    /// Runs a guest statement once per parameter set; returns the total rows affected.
    async fn execute_batch(&mut self, sql: &str, sets: Vec<Vec<Value>>) -> Result<u64, SqlFailure>;
    /// Opens a streaming query.
    async fn open_cursor(
        &mut self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<(CursorId, Vec<Column>), SqlFailure>;
    /// Up to `max` further rows of a cursor; empty when exhausted.
    async fn fetch(&mut self, cursor: CursorId, max: u32) -> Result<Vec<Vec<Value>>, SqlFailure>;
    /// Closes a cursor.
    async fn close_cursor(&mut self, cursor: CursorId);
    /// Closes every open cursor (before a commit or rollback).
    async fn close_all_cursors(&mut self);
    /// A handle that stops the statement this connection runs, usable while it runs.
    fn interrupter(&self) -> Box<dyn Interrupt>;
    /// Whether the last statement left nothing uncommitted in the migration's transaction:
    /// everything it did so far committed, as the server says (MySQL: DDL, or a commit inside
    /// a compound statement or dynamic SQL). What the journal marks as a commit point.
    fn take_commit_point(&mut self) -> bool {
        false
    }
    /// Whether anything the migration did since Retort opened its transaction may have
    /// committed on its own (MySQL: nothing that may commit implicitly was sent and the
    /// server reported no commit point). Conservative: `true` unless the backend knows.
    fn may_have_committed(&self) -> bool {
        true
    }
}

/// A connection to one database being migrated: one implementation per dialect. The lock,
/// Retort's session and the guest's SQL are separate traits; the bookkeeping
/// ([`HistoryStore`]) is written once on top of [`Session`].
pub trait Backend: Lock + Session + GuestSql {}

impl<T: Lock + Session + GuestSql + ?Sized> Backend for T {}

/// A guest-side failure of one of Retort's own statements, as a [`DbError`] naming what
/// Retort was doing.
pub fn host_failure(doing: &str, statement: &str, failure: SqlFailure) -> DbError {
    match failure {
        SqlFailure::Fatal(e) => e,
        SqlFailure::Guest(e) => DbError::Statement {
            doing: doing.into(),
            statement: statement.into(),
            code: match &e {
                GuestError::Database(d) => d.code.clone(),
                _ => None,
            },
            message: match &e {
                GuestError::Database(d) => d.message.clone(),
                other => crate::bindings::describe(other),
            },
        },
    }
}

/// What a command intends to do with the database, which decides whether a missing SQLite
/// file may be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Read-only commands: never create or change anything.
    ReadOnly,
    /// Commands that migrate.
    ReadWrite,
}

/// Connects to `url` (`sqlite://PATH`, `postgres://…`, `mysql://…`/`mariadb://…`).
pub async fn connect(url: &str, access: Access) -> Result<Box<dyn Backend>, DbError> {
    connect_as(url, None, access).await
}

/// Connects to `url`, with the migrations' statements running as `migration_url`'s account
/// when one is given (PostgreSQL, MySQL): the lock (and on MySQL the bookkeeping) stay on
/// `url`'s.
pub async fn connect_as(
    url: &str,
    migration_url: Option<&str>,
    access: Access,
) -> Result<Box<dyn Backend>, DbError> {
    let migrations = migration_url.unwrap_or(url);
    match Dialect::of_url(url) {
        Some(Dialect::Sqlite) if migration_url.is_some() => Err(DbError::Connect {
            url: redact(url),
            message: "`migration_url` applies to PostgreSQL and MySQL: SQLite has no accounts"
                .into(),
        }),
        Some(Dialect::Sqlite) => Ok(Box::new(sqlite::SqliteBackend::connect(url, access)?)),
        Some(Dialect::Postgres) => Ok(Box::new(
            postgres::PgBackend::connect(url, migrations).await?,
        )),
        Some(Dialect::Mysql) => Ok(Box::new(
            mysql::MySqlBackend::connect(url, migrations).await?,
        )),
        None => Err(DbError::UnsupportedUrl(redact(url))),
    }
}

/// `url`'s history, read-only, on a connection of its own closed after; a database that was
/// never migrated (a missing SQLite file) has none. Creates nothing.
pub async fn read_history(url: &str) -> Result<Vec<HistoryRow>, DbError> {
    let mut backend = match connect(url, Access::ReadOnly).await {
        Ok(b) => b,
        Err(DbError::MissingFile(_)) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    let rows = backend.history().await;
    backend.close().await;
    rows
}

/// Connections that read histories, kept for the next database on the same PostgreSQL
/// database: the schemas of one database (a schema per tenant, `options[search_path]=NAME`
/// in each URL) are read over a few connections instead of one new connection each — a
/// new server process per target was most of a fleet's "anything pending?". Only
/// bookkeeping is read on them; no migration ever runs on one. Other URLs (SQLite files,
/// MySQL, other search paths) get a connection each, closed after the read.
#[derive(Default)]
pub struct Readers {
    idle: std::sync::Mutex<std::collections::HashMap<String, Vec<postgres::PgBackend>>>,
}

impl Readers {
    /// `url`'s history, read-only; a missing SQLite file has none.
    pub async fn history(&self, url: &str) -> Result<Vec<HistoryRow>, DbError> {
        let Some((base, schema)) = pooled(url) else {
            return read_history(url).await;
        };
        let kept = self.lock().get_mut(&base).and_then(Vec::pop);
        let mut backend = match kept {
            Some(b) => b,
            None => match postgres::PgBackend::connect(&base, &base).await {
                Ok(b) => b,
                // The database without the schema cannot be connected to as such (its
                // default search path names no schema): read on a connection of the URL's.
                Err(_) => return read_history(url).await,
            },
        };
        let read = async {
            backend.retarget(&schema).await?;
            backend.history().await
        }
        .await;
        match read {
            Ok(rows) => {
                self.lock().entry(base).or_default().push(backend);
                Ok(rows)
            }
            Err(e) => {
                Box::new(backend).close().await;
                Err(e)
            }
        }
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Vec<postgres::PgBackend>>>
    {
        self.idle.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Closes the kept connections.
    pub async fn close(&self) {
        let kept: Vec<postgres::PgBackend> = self.lock().drain().flat_map(|(_, v)| v).collect();
        for backend in kept {
            Box::new(backend).close().await;
        }
    }
}

/// A PostgreSQL URL whose only query parameter is `options[search_path]=NAME` (a plain
/// name): the URL without it, and the name. Anything else is not pooled.
fn pooled(url: &str) -> Option<(String, String)> {
    if Dialect::of_url(url) != Some(Dialect::Postgres) {
        return None;
    }
    let (base, query) = url.split_once('?')?;
    let schema = query.strip_prefix("options[search_path]=")?;
    let plain = !schema.is_empty()
        && schema
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_');
    plain.then(|| (base.to_string(), schema.to_string()))
}

/// The URL with its password replaced by `***`, for messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{path}"),
            None => url.to_string(),
        },
        None => url.to_string(),
    }
}

/// `user@host` of the process, for `applied_by`.
pub fn runner_identity() -> String {
    // Read once per process: every history row carries it.
    static IDENTITY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IDENTITY
        .get_or_init(|| {
            let user = std::env::var("USER")
                .or_else(|_| std::env::var("USERNAME"))
                .unwrap_or_else(|_| "unknown".into());
            let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_string())
                .or_else(|_| std::env::var("HOSTNAME"))
                .unwrap_or_else(|_| "unknown".into());
            format!("retort {} {user}@{host}", env!("CARGO_PKG_VERSION"))
        })
        .clone()
}

/// Now, as stored in history tables: RFC 3339 in UTC with microseconds.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// Maps a sqlx error from a guest statement: database errors are values the guest may
/// handle; a broken connection or protocol failure is fatal.
fn sqlx_failure(e: sqlx::Error) -> SqlFailure {
    match e {
        sqlx::Error::Database(db) => {
            let mut detail = None;
            if let Some(pg) = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>() {
                detail = match (pg.detail(), pg.hint()) {
                    (Some(d), Some(h)) => Some(format!("{d}; hint: {h}")),
                    (Some(d), None) => Some(d.to_string()),
                    (None, Some(h)) => Some(format!("hint: {h}")),
                    (None, None) => None,
                };
            } else if let Some(my) = db.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>() {
                detail = Some(format!("MySQL error {}", my.number()));
            }
            SqlFailure::Guest(GuestError::Database(crate::bindings::DatabaseError {
                code: db.code().map(|c| c.into_owned()),
                message: db.message().to_string(),
                detail,
            }))
        }
        sqlx::Error::Encode(e) => SqlFailure::Guest(GuestError::Conversion(e.to_string())),
        sqlx::Error::ColumnDecode { index, source } => {
            SqlFailure::Guest(GuestError::Conversion(format!("column {index}: {source}")))
        }
        sqlx::Error::Decode(e) => SqlFailure::Guest(GuestError::Conversion(e.to_string())),
        other => SqlFailure::Fatal(DbError::Lost(other.to_string())),
    }
}

/// Maps a sqlx error from a statement Retort itself ran.
fn sqlx_db_error(doing: &str, statement: &str, e: sqlx::Error) -> DbError {
    let code = match &e {
        sqlx::Error::Database(db) => db.code().map(|c| c.into_owned()),
        _ => None,
    };
    let message = match &e {
        sqlx::Error::Database(db) => db.message().to_string(),
        other => other.to_string(),
    };
    DbError::Statement {
        doing: doing.into(),
        statement: statement.into(),
        code,
        message,
    }
}

/// Renders a decimal without exponent notation, keeping its scale.
fn plain_decimal(d: &bigdecimal::BigDecimal) -> String {
    d.to_plain_string()
}

fn parse_decimal(s: &str) -> Result<bigdecimal::BigDecimal, String> {
    s.parse()
        .map_err(|e| format!("`{s}` is not a decimal: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_schemas_of_postgres_urls_are_pooled() {
        assert_eq!(
            pooled("postgres://u:p@h/db?options[search_path]=tenant_7"),
            Some(("postgres://u:p@h/db".into(), "tenant_7".into()))
        );
        for url in [
            "postgres://u@h/db",
            "postgres://u@h/db?options[search_path]=a,b",
            "postgres://u@h/db?options[search_path]=a&sslmode=require",
            "postgres://u@h/db?options=-c%20search_path%3Da",
            "mysql://u@h/db?options[search_path]=a",
            "sqlite://x.db",
        ] {
            assert_eq!(pooled(url), None, "{url}");
        }
    }

    #[test]
    fn a_reused_compressor_packs_every_size_as_a_fresh_one_would_unpack() {
        let mut noise = 1u32;
        let mut big = Vec::new();
        for _ in 0..300_000 {
            noise = noise.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            big.push((noise >> 16) as u8);
        }
        for bytes in [
            &b""[..],
            b"x",
            &[7u8; 100_000][..],
            &big[..],
            b"again, small",
        ] {
            let packed = pack(bytes);
            assert_eq!(unpack(&packed).unwrap(), bytes);
            assert_eq!(unpack(&pack_fresh(bytes)).unwrap(), bytes);
        }
    }

    #[test]
    fn packing_is_remembered_only_for_the_same_large_bytes() {
        let unsigned = b"artifact bytes".repeat(PACKED_CACHE_MIN / 10);
        let mut signed = unsigned.clone();
        signed.extend_from_slice(b"-- a signature");
        let first = packed(&unsigned);
        assert_eq!(unpack(&first).unwrap(), unsigned);
        assert!(std::sync::Arc::ptr_eq(&first, &packed(&unsigned)));
        // The same artifact signed (its digest leaves the signature out): packed anew.
        let other = packed(&signed);
        assert_eq!(unpack(&other).unwrap(), signed);
        assert!(!std::sync::Arc::ptr_eq(&first, &other));
        // A small artifact is packed again each time, not kept for the run.
        let small = b"a SQL migration".repeat(10);
        let once = packed(&small);
        assert_eq!(unpack(&once).unwrap(), small);
        assert!(!std::sync::Arc::ptr_eq(&once, &packed(&small)));
    }

    #[test]
    fn redact_hides_passwords_only() {
        assert_eq!(
            redact("postgres://u:secret@h:5432/db"),
            "postgres://u:***@h:5432/db"
        );
        assert_eq!(redact("mysql://root@h/db"), "mysql://root@h/db");
        assert_eq!(redact("sqlite://demo.db"), "sqlite://demo.db");
    }

    #[test]
    fn truncate_keeps_the_start_on_one_line() {
        assert_eq!(truncate("SELECT\n  1", 20), "SELECT 1");
        assert_eq!(truncate("abcdef", 3), "abc…");
    }
}
