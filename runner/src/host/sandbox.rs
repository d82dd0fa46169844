//! The wasmtime side: one engine, a linker with Retort's host interface and a locked-down
//! WASI, and a fresh store per call.
//!
//! Deny by default: a migration sees no environment variables, no arguments, no files, no
//! network and no stdin. What it prints to stdout/stderr is captured and handed to the
//! observer, tagged with its revision.

use std::sync::Arc;

use wasmtime::component::{HasData, HasSelf, Linker, Resource, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::retort::migration0_1_0::{report, sql, types};
use crate::bindings::retort::migration0_2_0::{json_batches, script};
use crate::bindings::schema;
use crate::bindings::{
    Column, GuestError, MigrationInfo, RowsHandle, SchemaScriptRuntimePre, TxHandle, Value,
    WitDialect,
};
use crate::core::observe::{Event, Level, Observer};
use crate::core::{Direction, Limits};
use crate::db::ddl::definitions::Kept;
use crate::db::{Backend, HistoryStore, SqlFailure};
use crate::host::output::CappedPipe;
use crate::host::runtime::{RuntimeRef, Script};

/// How much a migration's `report.log` messages may hold in all, per call; a single message
/// is cut at [`LOG_MESSAGE`]. Past the limit the operator is told once that the rest was
/// dropped: a migration cannot flood the terminal or the log.
const LOG_CAPACITY: usize = 1 << 20;
/// The longest single `report.log` message passed on.
const LOG_MESSAGE: usize = 16 << 10;

/// How much of what a migration prints to stdout and stderr is kept, each; the rest is
/// dropped (and counted), never a failed write.
const OUTPUT_CAPACITY: usize = 1 << 20;

/// Everything a store holds for one call into a migration.
pub struct HostState {
    wasi: WasiCtx,
    table: ResourceTable,
    /// What the `sql`, `json-batches` and `schema` interfaces work on ([`SqlView`]).
    sql: SqlCtx,
    /// What the `report` interface works on.
    report: ReportCtx,
    stdout: CappedPipe,
    stderr: CappedPipe,
    limits: Limiter,
    /// The migration a shared runtime runs (`script.current`); `None` for a component that
    /// is the migration itself.
    script: Option<Arc<script::Migration>>,
}

/// The state of the `sql`, `json-batches` and `schema` interfaces for one call: the database
/// lent to the migration and what the call did with it. Borrowed with the resource table as
/// a [`SqlView`], the way wasmtime's WASI crates pair a context with its table.
pub struct SqlCtx {
    db: Option<Box<dyn Backend>>,
    /// The migration's revision, for its journal.
    revision: String,
    /// The last statement that returned an error to the guest, for the failure report.
    failed_statement: Option<String>,
    open_rows: usize,
    max_open_rows: usize,
    /// How the step lends the database (journal, transaction).
    mode: Lending,
    /// What this call's upgrade kept for its downgrade (`schema.keep-definition`).
    pub(super) kept: Vec<Kept>,
    /// What this migration's upgrade kept, for this call's downgrade to restore.
    pub(super) restorable: Vec<Kept>,
    /// The journal entry of the last run of one statement ([`JournalRun`]), written when a
    /// different statement is sent, a query is opened, after an execution the server reports
    /// committed, or by the step with the row's completion (one commit fewer per migration on
    /// MySQL): the journal lags the database by the running statement, and by the executions
    /// of its own run since that run's last commit (docs/failure-states.md).
    journal_tail: Option<JournalRun>,
    /// The last statement found to leave the lent transaction alone: a data migration sends
    /// one statement row after row, and lexing it each time cost more than running it.
    harmless: Option<String>,
}

/// The `sql`, `json-batches` and `schema` interfaces' view of a store: their context and the
/// resource table that holds the transaction and row handles. (It dereferences to the
/// context.)
pub struct SqlView<'a> {
    ctx: &'a mut SqlCtx,
    pub(super) table: &'a mut ResourceTable,
}

impl std::ops::Deref for SqlView<'_> {
    type Target = SqlCtx;
    fn deref(&self) -> &SqlCtx {
        self.ctx
    }
}

impl std::ops::DerefMut for SqlView<'_> {
    fn deref_mut(&mut self) -> &mut SqlCtx {
        self.ctx
    }
}

/// Links the `sql`, `json-batches` and `schema` interfaces to their [`SqlView`].
struct SqlData;

impl HasData for SqlData {
    type Data<'a> = SqlView<'a>;
}

/// The state of the `report` interface: where a migration's logs and progress go.
pub struct ReportCtx {
    revision: String,
    observer: Arc<dyn Observer>,
    /// Bytes of `report.log` messages passed on so far in this call (see [`LOG_CAPACITY`]).
    logged: usize,
}

/// How often the epoch advances: the deadline's resolution.
const EPOCH_TICK: std::time::Duration = std::time::Duration::from_millis(50);

/// Enforces the memory limit and remembers that it did, to name the limit in the report.
struct Limiter {
    max_memory: usize,
    denied_memory: Option<usize>,
}

impl wasmtime::ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.max_memory {
            self.denied_memory = Some(desired);
            return Err(wasmtime::format_err!(
                "the migration tried to grow its memory to {} MiB, over its limit of {} MiB (limits.memory_mib)",
                desired >> 20,
                self.max_memory >> 20
            ));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 1_000_000)
    }
}

impl HostState {
    fn new(
        revision: &str,
        db: Option<Box<dyn Backend>>,
        observer: Arc<dyn Observer>,
        limits: &Limits,
        dirs: &[crate::host::capability::Staged],
    ) -> wasmtime::Result<Self> {
        let stdout = CappedPipe::new(OUTPUT_CAPACITY);
        let stderr = CappedPipe::new(OUTPUT_CAPACITY);
        let mut builder = WasiCtxBuilder::new();
        builder
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false);
        // Only the staged copies of granted capabilities, nothing else of the file system.
        for dir in dirs {
            builder.preopened_dir(
                &dir.staging,
                format!("/{}", dir.name),
                wasmtime_wasi::FsPerms::ReadWrite,
            )?;
        }
        let wasi = builder.build();
        Ok(HostState {
            wasi,
            table: ResourceTable::new(),
            sql: SqlCtx {
                db,
                revision: revision.to_string(),
                failed_statement: None,
                journal_tail: None,
                harmless: None,
                open_rows: 0,
                max_open_rows: limits.max_open_rows,
                mode: Lending::default(),
                kept: Vec::new(),
                restorable: Vec::new(),
            },
            report: ReportCtx {
                revision: revision.to_string(),
                observer,
                logged: 0,
            },
            stdout,
            stderr,
            limits: Limiter {
                max_memory: limits.memory_bytes,
                denied_memory: None,
            },
            script: None,
        })
    }

    /// The `sql`, `json-batches` and `schema` interfaces' view of this state.
    fn sql_view(&mut self) -> SqlView<'_> {
        SqlView {
            ctx: &mut self.sql,
            table: &mut self.table,
        }
    }
}

impl SqlCtx {
    /// How the step lends the database to this call.
    pub(super) fn lending(&self) -> Lending {
        self.mode
    }

    /// Remembers what failed, for the failure report (a statement, or an operation).
    pub(super) fn note_failed(&mut self, what: &str) {
        self.failed_statement = Some(what.to_string());
    }

    pub(super) fn db(&mut self) -> wasmtime::Result<&mut Box<dyn Backend>> {
        self.db.as_mut().ok_or_else(|| {
            wasmtime::format_err!("the migration used SQL outside upgrade/downgrade")
        })
    }
}

impl HostState {
    /// Forwards what the guest printed to the observer.
    fn flush_output(&self) {
        for (pipe, stream) in [(&self.stdout, "stdout"), (&self.stderr, "stderr")] {
            let (bytes, dropped) = pipe.contents();
            let text = String::from_utf8_lossy(&bytes);
            for line in text.lines() {
                self.report.observer.event(&Event::GuestOutput {
                    revision: &self.report.revision,
                    stream,
                    line,
                });
            }
            if dropped > 0 {
                let line = format!(
                    "(the migration printed {dropped} more bytes to {stream}, past the {} MiB kept: dropped)",
                    OUTPUT_CAPACITY >> 20
                );
                self.report.observer.event(&Event::GuestOutput {
                    revision: &self.report.revision,
                    stream,
                    line: &line,
                });
            }
        }
    }

    /// What the guest wrote to stderr, for trap messages (a Rust panic prints there).
    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents().0)
            .trim()
            .to_string()
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// Consecutive executions of one statement, journaled as one entry: `INSERT … ×N → M row(s)`.
/// A data migration runs one statement per row; an entry per execution rewrote a growing
/// journal once per row (MariaDB kept every old version: 74 GB of history table for 100,000
/// rows before the server refused, BENCHMARKS.md, issue 31).
#[derive(Debug)]
struct JournalRun {
    statement: String,
    sets: usize,
    rows: u64,
    /// The server reported the work committed after the last of them.
    committed: bool,
}

impl JournalRun {
    /// The journal's line for the run.
    fn entry(&self) -> String {
        let times = if self.sets == 1 {
            String::new()
        } else {
            format!(" ×{}", self.sets)
        };
        let committed = if self.committed { " — committed" } else { "" };
        format!(
            "{}{times} → {} row(s){committed}\n",
            crate::db::truncate(&self.statement, 200),
            self.rows
        )
    }

    /// Whether an execution of `statement` continues the run: the same text, and nothing of
    /// the run committed yet (a commit is written before the next statement is sent).
    fn continued_by(&self, statement: &str) -> bool {
        !self.committed && self.statement == statement
    }
}

impl SqlCtx {
    /// Records a completed statement in the history row's journal: it continues the run of
    /// the statement before it when it is the same statement, or starts a run.
    async fn journal(&mut self, statement: &str, sets: usize, rows: u64) -> wasmtime::Result<()> {
        if !self.mode.journal {
            return Ok(());
        }
        let committed = self.db()?.take_commit_point();
        match &mut self.journal_tail {
            Some(run) if run.continued_by(statement) => {
                run.sets += sets;
                run.rows += rows;
                run.committed = committed;
            }
            _ => {
                self.flush_journal(statement).await?;
                self.journal_tail = Some(JournalRun {
                    statement: statement.to_string(),
                    sets,
                    rows,
                    committed,
                });
            }
        }
        Ok(())
    }

    /// Writes the journal entry still held ([`SqlCtx::journal`]) before `next` is sent,
    /// unless `next` continues its run: what a statement that commits makes permanent is in
    /// the journal before it runs, except the executions of the same statement since the
    /// run's last commit, which only that statement itself could commit.
    async fn flush_journal(&mut self, next: &str) -> wasmtime::Result<()> {
        if self
            .journal_tail
            .as_ref()
            .is_none_or(|run| run.continued_by(next))
        {
            return Ok(());
        }
        self.end_journal_run().await
    }

    /// Writes the journal entry still held, ending its run: before a query is opened (on
    /// MySQL its opening commits what ran before it, so the entry must not also count
    /// executions after it).
    async fn end_journal_run(&mut self) -> wasmtime::Result<()> {
        let Some(run) = self.journal_tail.take() else {
            return Ok(());
        };
        let revision = self.revision.clone();
        self.db()?
            .journal(&revision, &run.entry())
            .await
            .map_err(wasmtime::Error::new)
    }

    /// Turns a backend failure into the guest's error value, or a trap, remembering the
    /// statement that failed.
    fn lift<T>(
        &mut self,
        statement: &str,
        r: Result<T, SqlFailure>,
    ) -> wasmtime::Result<Result<T, GuestError>> {
        match r {
            Ok(v) => Ok(Ok(v)),
            Err(SqlFailure::Guest(e)) => {
                self.failed_statement = Some(statement.to_string());
                Ok(Err(e))
            }
            Err(SqlFailure::Fatal(e)) => {
                self.failed_statement = Some(statement.to_string());
                Err(wasmtime::Error::new(e))
            }
        }
    }
}

impl SqlCtx {
    /// `execute-batch` of `statement`, as sent: the transaction-control check, the journal.
    pub(super) async fn send_batch(
        &mut self,
        statement: String,
        param_sets: Vec<Vec<Value>>,
    ) -> wasmtime::Result<Result<u64, GuestError>> {
        self.refuse_transaction_control(&statement)?;
        self.flush_journal(&statement).await?;
        let sets = param_sets.len();
        let r = self.db()?.execute_batch(&statement, param_sets).await;
        if let Ok(rows) = &r {
            self.journal(&statement, sets, *rows).await?;
        }
        self.lift(&statement, r)
    }

    /// Traps on a statement that would begin, end or abandon the transaction Retort lent the
    /// migration: its work would commit without its history row. A trap, not an error value,
    /// so the migration cannot carry on as if it had not tried.
    fn refuse_transaction_control(&mut self, statement: &str) -> wasmtime::Result<()> {
        if !self.mode.in_transaction || self.harmless.as_deref() == Some(statement) {
            return Ok(());
        }
        let dialect = self.db()?.dialect();
        let Ok(Some(control)) = retort_sql::transaction_control(statement, dialect) else {
            // The verdict depends on the text and the dialect alone.
            self.harmless = Some(statement.to_string());
            return Ok(());
        };
        self.failed_statement = Some(statement.to_string());
        Err(wasmtime::format_err!(
            "the migration sent `{}`, which would take the transaction Retort runs it in out \
             of Retort's hands (its work would commit without its history row); Retort commits \
             or rolls back a migration itself. Use SAVEPOINT for nested work, or declare the \
             migration `transactional: false`",
            crate::db::truncate(&control, 120)
        ))
    }
}

/// How a step lends the database to a migration.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Lending {
    /// Completed statements are journaled in the history row (migrations that run outside
    /// one transaction).
    pub journal: bool,
    /// The migration runs inside a transaction Retort opened: it may not end it.
    pub in_transaction: bool,
}

impl types::Host for HostState {}

impl sql::Host for SqlView<'_> {}

impl script::Host for HostState {
    async fn current(&mut self) -> wasmtime::Result<script::Migration> {
        match &self.script {
            Some(script) => Ok(script::Migration::clone(script)),
            None => Err(wasmtime::format_err!(
                "the component asked for a script, but it is a migration of its own, not a runtime"
            )),
        }
    }
}

/// The same calls as `rows.next-batch` and `transaction.execute-batch`, with the values as
/// JSON text (`host/json_batch.rs`).
impl json_batches::Host for SqlView<'_> {
    async fn next_batch(
        &mut self,
        rows: Resource<RowsHandle>,
        max: u32,
    ) -> wasmtime::Result<Result<String, GuestError>> {
        let batch = sql::HostRows::next_batch(self, rows, max).await?;
        Ok(batch.map(|rows| crate::host::json_batch::encode(&rows)))
    }

    async fn execute_batch(
        &mut self,
        tx: Resource<TxHandle>,
        statement: String,
        param_sets: String,
    ) -> wasmtime::Result<Result<u64, GuestError>> {
        match crate::host::json_batch::decode(&param_sets) {
            Ok(sets) => sql::HostTransaction::execute_batch(self, tx, statement, sets).await,
            Err(e) => {
                self.failed_statement = Some(statement);
                Ok(Err(GuestError::Conversion(e)))
            }
        }
    }
}

impl sql::HostTransaction for SqlView<'_> {
    async fn dialect(&mut self, _tx: Resource<TxHandle>) -> wasmtime::Result<WitDialect> {
        Ok(self.db()?.dialect().into())
    }

    async fn execute(
        &mut self,
        _tx: Resource<TxHandle>,
        statement: String,
        params: Vec<Value>,
    ) -> wasmtime::Result<Result<u64, GuestError>> {
        self.refuse_transaction_control(&statement)?;
        self.flush_journal(&statement).await?;
        let r = self.db()?.execute(&statement, params).await;
        if let Ok(rows) = &r {
            self.journal(&statement, 1, *rows).await?;
        }
        self.lift(&statement, r)
    }

    async fn execute_batch(
        &mut self,
        _tx: Resource<TxHandle>,
        statement: String,
        param_sets: Vec<Vec<Value>>,
    ) -> wasmtime::Result<Result<u64, GuestError>> {
        // One statement, run once per parameter set, however the backend sends the sets (as
        // one text on PostgreSQL and MySQL, where a second statement would run once, unasked).
        let dialect = self.db()?.dialect();
        if let Ok(statements) = retort_sql::split(&statement, dialect)
            && statements.len() > 1
        {
            let refused = GuestError::InvalidStatement(format!(
                "execute-batch runs one statement per parameter set; this text holds {}",
                statements.len()
            ));
            return self.lift(&statement, Err(refused.into()));
        }
        self.send_batch(statement, param_sets).await
    }

    async fn query(
        &mut self,
        _tx: Resource<TxHandle>,
        statement: String,
        params: Vec<Value>,
    ) -> wasmtime::Result<Result<Resource<RowsHandle>, GuestError>> {
        if self.open_rows >= self.max_open_rows {
            return Err(wasmtime::format_err!(
                "the migration opened more than {} query results at once (limits.max_open_rows); \
                 drop rows when done with them",
                self.max_open_rows
            ));
        }
        self.refuse_transaction_control(&statement)?;
        self.end_journal_run().await?;
        let r = self.db()?.open_cursor(&statement, params).await;
        match self.lift(&statement, r)? {
            Ok((cursor, columns)) => {
                self.open_rows += 1;
                Ok(Ok(self.table.push(RowsHandle { cursor, columns })?))
            }
            Err(e) => Ok(Err(e)),
        }
    }

    async fn drop(&mut self, tx: Resource<TxHandle>) -> wasmtime::Result<()> {
        self.table.delete(tx)?;
        Ok(())
    }
}

impl sql::HostRows for SqlView<'_> {
    async fn columns(&mut self, rows: Resource<RowsHandle>) -> wasmtime::Result<Vec<Column>> {
        Ok(self.table.get(&rows)?.columns.clone())
    }

    async fn next_batch(
        &mut self,
        rows: Resource<RowsHandle>,
        max: u32,
    ) -> wasmtime::Result<Result<Vec<Vec<Value>>, GuestError>> {
        let cursor = self.table.get(&rows)?.cursor;
        let r = self.db()?.fetch(cursor, max).await;
        self.lift("(reading the rows of a query)", r)
    }

    async fn drop(&mut self, rows: Resource<RowsHandle>) -> wasmtime::Result<()> {
        let handle = self.table.delete(rows)?;
        self.open_rows = self.open_rows.saturating_sub(1);
        if let Some(db) = self.db.as_mut() {
            db.close_cursor(handle.cursor).await;
        }
        Ok(())
    }
}

impl report::Host for ReportCtx {
    async fn log(&mut self, level: report::Level, message: String) -> wasmtime::Result<()> {
        let level = match level {
            report::Level::Debug => Level::Debug,
            report::Level::Info => Level::Info,
            report::Level::Warn => Level::Warn,
            report::Level::Error => Level::Error,
        };
        if self.logged >= LOG_CAPACITY {
            return Ok(());
        }
        let mut message = message;
        if message.len() > LOG_MESSAGE {
            let mut cut = LOG_MESSAGE;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
            message.push_str("… (message cut at 16 KiB)");
        }
        self.logged += message.len();
        self.observer.event(&Event::GuestLog {
            revision: &self.revision,
            level,
            message: &message,
        });
        if self.logged >= LOG_CAPACITY {
            self.observer.event(&Event::GuestLog {
                revision: &self.revision,
                level: Level::Warn,
                message: "the migration logged 1 MiB: its further log messages are dropped",
            });
        }
        Ok(())
    }

    async fn progress(&mut self, done: u64, total: Option<u64>) -> wasmtime::Result<()> {
        self.observer.event(&Event::Progress {
            revision: &self.revision,
            done,
            total,
        });
        Ok(())
    }
}

/// Why loading or calling a component failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SandboxError {
    /// The bytes are not a component Retort can run.
    #[error("{path}: not a Retort migration component: {message}")]
    Invalid {
        /// The artifact's path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A script artifact's runtime is not one Retort can run.
    #[error("refusing {path}: {message}")]
    Runtime {
        /// The artifact's path.
        path: String,
        /// Which runtime, and why.
        message: String,
    },
    /// The guest trapped (a panic, an exhausted limit, a host failure).
    #[error("the migration trapped: {message}")]
    Trap {
        /// The trap and what the guest printed to stderr.
        message: String,
    },
}

/// What a finished call returned.
pub enum CallOutcome {
    /// The export returned `ok`.
    Ok,
    /// The export returned an `error` value.
    Failed(GuestError),
    /// The guest trapped or the host failed.
    Trapped(String),
}

/// What a call did: its outcome, and the last statement that failed in it, if any.
pub struct Called {
    /// How the call ended.
    pub outcome: CallOutcome,
    /// The last statement that returned an error (or broke the connection).
    pub failed_statement: Option<String>,
    /// The definitions an upgrade kept for its downgrade (`schema.keep-definition`).
    pub kept: Vec<Kept>,
    /// The journal entry of the last statement, not written yet (journaled steps): the step
    /// writes it with the history row's completion, or before saying what a failure left.
    pub journal_tail: Option<String>,
}

/// The engine and linker, built once per process.
pub struct Sandbox {
    engine: Engine,
    linker: Linker<HostState>,
    cache: crate::host::cache::CompileCache,
    /// The quick tier (Winch): a shared runtime's first compile on a machine, 4–6× faster
    /// than Cranelift's (BENCHMARKS.md, goal 4), while Cranelift compiles it in the background
    /// into the compile cache for later runs. `None` with `RETORT_FIRST_COMPILE=optimized`
    /// (docs/speed.md).
    quick: Option<Tier>,
    /// Whether a runtime compiled in the quick tier is also compiled with Cranelift in the
    /// background (not with `RETORT_FIRST_COMPILE=quick`: a machine thrown away after the run).
    optimise_later: bool,
    limits: Limits,
    /// Shared runtimes compiled in this process, by digest: every script migration of a
    /// language instantiates the same one.
    runtimes:
        std::sync::Mutex<std::collections::HashMap<String, SchemaScriptRuntimePre<HostState>>>,
    /// Runtimes the migrations' sources hold (Python and JavaScript: a project's
    /// `runtimes/`, a bundle, `retort_artifacts`), by digest, for [`Sandbox::add_runtime`].
    offered: std::sync::Mutex<std::collections::HashMap<String, Arc<[u8]>>>,
    /// Told when a runtime is compiled (seconds, once per machine), so the wait is shown.
    observer: Option<Arc<dyn crate::core::observe::Observer>>,
}

/// A second engine, its linker and its compile cache.
struct Tier {
    engine: Engine,
    linker: Linker<HostState>,
    cache: crate::host::cache::CompileCache,
}

/// A runtime this large compiles in the quick tier first (the SQL runtime, 81 KB, compiles
/// in well under a second either way).
const QUICK_TIER_MIN: usize = 1 << 20;

/// The linker of `engine`: the host interface and a deny-by-default WASI.
fn linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    // Each interface on its own view of the store (wasmtime's WASI crates' pattern): the SQL
    // interfaces see the lent database and the resource table, `report` only where its
    // messages go.
    types::add_to_linker::<_, HasSelf<_>>(&mut linker, |s: &mut HostState| s)?;
    script::add_to_linker::<_, HasSelf<_>>(&mut linker, |s: &mut HostState| s)?;
    report::add_to_linker::<_, HasSelf<_>>(&mut linker, |s: &mut HostState| &mut s.report)?;
    sql::add_to_linker::<_, SqlData>(&mut linker, HostState::sql_view)?;
    json_batches::add_to_linker::<_, SqlData>(&mut linker, HostState::sql_view)?;
    schema::add_to_linker::<_, SqlData>(&mut linker, HostState::sql_view)?;
    Ok(linker)
}

/// Compiles (or loads) a component with `engine` and links it.
fn link(
    engine: &Engine,
    linker: &Linker<HostState>,
    cache: &crate::host::cache::CompileCache,
    digest: &str,
    bytes: &[u8],
) -> Result<SchemaScriptRuntimePre<HostState>, String> {
    let (component, _cached) = cache
        .component(engine, digest, bytes)
        .map_err(|e| format!("{e:#}"))?;
    let pre = linker
        .instantiate_pre(&component)
        .map_err(|e| format!("it imports something Retort does not provide: {e:#}"))?;
    SchemaScriptRuntimePre::new(pre).map_err(|e| {
        format!("it does not export the retort:migration@0.1.0 `migration` world: {e:#}")
    })
}

/// A compiled migration, ready to instantiate cheaply.
#[derive(Clone)]
pub struct Prepared {
    pre: SchemaScriptRuntimePre<HostState>,
    /// For a script migration: the script its runtime runs, which runtime, and its bytes.
    script: Option<(Arc<script::Migration>, RuntimeRef, Arc<[u8]>)>,
}

impl Prepared {
    /// The shared runtime a script migration runs on (`None`: the component is the migration).
    pub fn runtime(&self) -> Option<&RuntimeRef> {
        self.script.as_ref().map(|(_, r, _)| r)
    }

    /// The bytes of the runtime a script migration runs on.
    pub fn runtime_bytes(&self) -> Option<&[u8]> {
        self.script.as_ref().map(|(_, _, b)| &b[..])
    }
}

impl Sandbox {
    /// Builds the engine and links the host interface and a deny-by-default WASI.
    pub fn new(limits: Limits) -> wasmtime::Result<Self> {
        let mut config = Config::new();
        config.wasm_component_model(true);
        // Deadlines: compiled code checks the epoch at function entries and loop heads; a
        // thread advances it while the engine lives.
        config.epoch_interruption(true);
        // Host calls run on the guest's stack, SQLite's statements among them (they run on the
        // caller's thread): `HOST_STACK` of room for them past what wasm may use.
        config.max_wasm_stack(WASM_STACK);
        config.async_stack_size(WASM_STACK + HOST_STACK);
        // Measured in BENCHMARKS.md: `RETORT_OPT_LEVEL=none` trades guest speed for a faster
        // first compile; the default optimises for speed (cached code is reused).
        if std::env::var("RETORT_OPT_LEVEL").is_ok_and(|v| v == "none") {
            config.cranelift_opt_level(wasmtime::OptLevel::None);
        }
        let engine = Engine::new(&config)?;
        // Winch: Tier 1 in wasmtime, like Cranelift; a target it does not support simply
        // has no quick tier.
        let first_compile = std::env::var("RETORT_FIRST_COMPILE").unwrap_or_default();
        // Winch is Tier 1 on x86-64 only; elsewhere every compile is Cranelift's.
        let quick = if first_compile == "optimized" || !cfg!(target_arch = "x86_64") {
            None
        } else {
            config.strategy(wasmtime::Strategy::Winch);
            match Engine::new(&config) {
                Ok(engine) => Some(Tier {
                    linker: linker(&engine)?,
                    cache: crate::host::cache::CompileCache::new(&engine),
                    engine,
                }),
                Err(_) => None,
            }
        };
        // Every engine's epoch advances while the main one lives.
        let weak: Vec<_> = std::iter::once(&engine)
            .chain(quick.as_ref().map(|t| &t.engine))
            .map(Engine::weak)
            .collect();
        std::thread::Builder::new()
            .name("retort-epoch".into())
            .spawn(move || {
                while weak[0].upgrade().is_some() {
                    for engine in weak.iter().filter_map(|w| w.upgrade()) {
                        engine.increment_epoch();
                    }
                    std::thread::sleep(EPOCH_TICK);
                }
            })
            .map_err(|e| wasmtime::format_err!("cannot start the deadline thread: {e}"))?;
        let linker = linker(&engine)?;
        let cache = crate::host::cache::CompileCache::new(&engine);
        Ok(Sandbox {
            engine,
            linker,
            cache,
            quick,
            optimise_later: first_compile != "quick",
            limits,
            runtimes: Default::default(),
            offered: Default::default(),
            observer: None,
        })
    }

    /// Reports the compilation of shared runtimes to `observer` ([`Event::Compiling`],
    /// [`Event::Compiled`]).
    ///
    /// [`Event::Compiling`]: crate::core::observe::Event::Compiling
    /// [`Event::Compiled`]: crate::core::observe::Event::Compiled
    pub fn observed_by(mut self, observer: Arc<dyn crate::core::observe::Observer>) -> Self {
        self.observer = Some(observer);
        self
    }

    /// Compiles (or loads from the compile cache) a component whose SHA-256 is `digest` and
    /// checks it targets the `migration` world; for a script artifact, the runtime it names
    /// (compiled once per process). Safe to call from several threads at once.
    pub fn prepare(
        &self,
        path: &str,
        digest: &str,
        bytes: &[u8],
    ) -> Result<Prepared, SandboxError> {
        let invalid = |message: String| SandboxError::Invalid {
            path: path.to_string(),
            message,
        };
        if let Some(script) = Script::decode(bytes) {
            let script = script.map_err(invalid)?;
            let (pre, runtime) =
                self.runtime(&script.runtime)
                    .map_err(|message| SandboxError::Runtime {
                        path: path.to_string(),
                        message,
                    })?;
            return Ok(Prepared {
                pre,
                script: Some((Arc::new(script.to_guest()), script.runtime, runtime)),
            });
        }
        let pre = self.program(digest, bytes).map_err(invalid)?;
        Ok(Prepared { pre, script: None })
    }

    /// Makes a runtime a migration source holds available to the script artifacts that name
    /// its digest (which is all that makes it trusted: a signed artifact's signature covers
    /// it). Returns that digest.
    pub fn add_runtime(&self, bytes: Vec<u8>) -> String {
        let digest = crate::trust::signing::digest(&bytes);
        if let Ok(mut offered) = self.offered.lock() {
            offered
                .entry(digest.clone())
                .or_insert_with(|| bytes.into());
        }
        digest
    }

    /// Whether the runtime with this digest is available: shipped, or added.
    pub fn has_runtime(&self, digest: &str) -> bool {
        crate::host::runtime::builtin(digest).is_some()
            || self.offered.lock().is_ok_and(|o| o.contains_key(digest))
    }

    /// The compiled runtime `runtime` and its bytes: for SQL one this binary ships (trusts),
    /// for another language one a source offered ([`Sandbox::add_runtime`]).
    fn runtime(
        &self,
        runtime: &RuntimeRef,
    ) -> Result<(SchemaScriptRuntimePre<HostState>, Arc<[u8]>), String> {
        let mut offered = self
            .offered
            .lock()
            .map_err(|_| "a compile thread panicked".to_string())?;
        let bytes: Arc<[u8]> = match crate::host::runtime::builtin(&runtime.digest) {
            // Copied once per process, like an offered one.
            Some(bytes) => offered
                .entry(runtime.digest.clone())
                .or_insert_with(|| bytes.into())
                .clone(),
            None if runtime.language == crate::host::runtime::SQL => {
                return Err(format!(
                    "it runs on {runtime}, which this Retort does not ship; only SQL runtimes \
                     it ships are trusted (this one has {}): rebuild the migration from \
                     its source, or run it with the Retort version that built it",
                    crate::host::runtime::sql_runtime()
                ));
            }
            None => match offered.get(&runtime.digest) {
                Some(bytes) => bytes.clone(),
                None => {
                    return Err(format!(
                        "it runs on {runtime}, which its source does not hold: a project \
                             keeps its runtimes in <migrations>/runtimes/ (building writes \
                             them there), a bundle and the database keep theirs"
                    ));
                }
            },
        };
        drop(offered);
        let mut runtimes = self
            .runtimes
            .lock()
            .map_err(|_| "a compile thread panicked".to_string())?;
        if let Some(pre) = runtimes.get(&runtime.digest) {
            return Ok((pre.clone(), bytes));
        }
        let pre = self.compile_runtime(runtime, &bytes)?;
        runtimes.insert(runtime.digest.clone(), pre.clone());
        Ok((pre, bytes))
    }

    /// Compiles (or loads) a shared runtime, in the quick tier where this machine's cache lacks
    /// Cranelift's code for a large one, saying what takes seconds and what runs slower.
    fn compile_runtime(
        &self,
        runtime: &RuntimeRef,
        bytes: &Arc<[u8]>,
    ) -> Result<SchemaScriptRuntimePre<HostState>, String> {
        // The SQL runtime (81 KB) compiles in a blink; an interpreter takes seconds with
        // Cranelift: the quick tier compiles it for this process, and Cranelift's code is
        // compiled in the background for the compile cache (the next run on this machine
        // uses it; a process that ends first leaves it for another run to try).
        let first = bytes.len() >= QUICK_TIER_MIN && !self.cache.holds(&runtime.digest);
        let quick = self.quick.as_ref().filter(|_| first);
        let announced = self
            .observer
            .as_ref()
            .filter(|_| first && quick.is_none_or(|t| !t.cache.holds(&runtime.digest)))
            .map(|observer| {
                let what = match quick {
                    Some(_) if self.optimise_later && self.cache.enabled() => format!(
                        "{runtime} (quick tier; Cranelift's code follows in the background, \
                         for later runs)"
                    ),
                    Some(_) => format!("{runtime} (quick tier)"),
                    None => format!("{runtime}, once per machine"),
                };
                observer.event(&crate::core::observe::Event::Compiling {
                    what: &what,
                    bytes: bytes.len(),
                });
                (observer, what, std::time::Instant::now())
            });
        let (pre, on_quick) = match quick.map(|tier| {
            link(
                &tier.engine,
                &tier.linker,
                &tier.cache,
                &runtime.digest,
                bytes,
            )
        }) {
            Some(Ok(pre)) => {
                // After the quick compile, not during it: both would share rayon's pool, and a
                // wait of one would run the other's work (measured: 1.6 s became 7.1 s).
                self.compile_in_background(&runtime.digest, bytes);
                (Ok(pre), true)
            }
            // Winch could not take it (a WebAssembly feature it lacks): Cranelift compiles it,
            // as where there is no quick tier; a component that is wrong fails there too.
            Some(Err(_)) | None => (self.program(&runtime.digest, bytes), false),
        };
        let pre = pre.map_err(|e| format!("{runtime} cannot be loaded: {e}"))?;
        let announced = announced.map(|(observer, what, started)| match quick {
            Some(_) if !on_quick => (observer, format!("{runtime}, once per machine"), started),
            _ => (observer, what, started),
        });
        if announced.is_none()
            && on_quick
            && self.optimise_later
            && self.cache.enabled()
            && let Some(observer) = &self.observer
        {
            // Loaded from the quick tier's earlier compile, with no sign of it otherwise: a
            // data migration here runs slower than it will once Cranelift's code is cached.
            let message = format!(
                "{runtime} runs on its quick compile's code this time (data migrations 1.2-1.6x \
                 slower); Cranelift's compiles in the background for later runs \
                 (RETORT_FIRST_COMPILE=optimized compiles it first instead)"
            );
            observer.event(&crate::core::observe::Event::Note { message: &message });
        }
        if let Some((observer, what, started)) = announced {
            observer.event(&crate::core::observe::Event::Compiled {
                what: &what,
                duration: started.elapsed(),
            });
        }
        Ok(pre)
    }

    /// Compiles (or loads) a component and links it.
    fn program(
        &self,
        digest: &str,
        bytes: &[u8],
    ) -> Result<SchemaScriptRuntimePre<HostState>, String> {
        if !wasmparser::Parser::is_component(bytes) {
            return Err(if wasmparser::Parser::is_core_wasm(bytes) {
                "it is a core WebAssembly module, not a component (build for wasm32-wasip2)".into()
            } else {
                "it is not WebAssembly".into()
            });
        }
        link(&self.engine, &self.linker, &self.cache, digest, bytes)
    }

    /// Compiles a runtime with Cranelift into the compile cache on a thread of its own, for
    /// the runs after this one (this one uses the quick tier's code throughout).
    fn compile_in_background(&self, digest: &str, bytes: &Arc<[u8]>) {
        if !self.cache.enabled() || !self.optimise_later {
            return;
        }
        let (engine, cache) = (self.engine.clone(), self.cache.clone());
        let (digest, bytes) = (digest.to_string(), bytes.clone());
        // On one core of a pool of its own (wasmtime compiles in whichever rayon pool it is
        // called from): the run keeps the others. Not started (no thread to be had): the next
        // run tries again.
        let _ = std::thread::Builder::new()
            .name("retort-optimise".into())
            .spawn(move || {
                match rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .thread_name(|_| "retort-optimise".into())
                    .build()
                {
                    Ok(pool) => pool.install(|| cache.fill(&engine, &digest, &bytes)),
                    Err(_) => cache.fill(&engine, &digest, &bytes),
                }
            });
    }

    /// Applies the memory limit and a deadline `timeout` from now to a fresh store.
    fn arm(&self, store: &mut Store<HostState>, timeout: std::time::Duration) {
        store.limiter(|state| &mut state.limits);
        let ticks = (timeout.as_millis() / EPOCH_TICK.as_millis()).max(1);
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        store.epoch_deadline_trap();
    }

    /// The limits every call runs under.
    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    /// Calls `metadata`.
    pub async fn metadata(
        &self,
        prepared: &Prepared,
        observer: Arc<dyn Observer>,
    ) -> Result<MigrationInfo, SandboxError> {
        let state = HostState::new("?", None, observer, &self.limits, &[]).map_err(|e| {
            SandboxError::Trap {
                message: format!("{e:#}"),
            }
        })?;
        let mut store = Store::new(prepared.pre.engine(), state);
        store.data_mut().script = prepared.script.as_ref().map(|(s, _, _)| s.clone());
        self.arm(&mut store, std::time::Duration::from_secs(10));
        let result = async {
            let instance = prepared.pre.instantiate_async(&mut store).await?;
            instance.call_metadata(&mut store).await
        }
        .await;
        store.data().flush_output();
        result.map_err(|e| SandboxError::Trap {
            message: trap_message(&e, store.data()),
        })
    }

    /// Calls `upgrade` or `downgrade` with the database lent through a transaction handle.
    /// The backend is handed back whatever happens, with every cursor closed.
    #[allow(clippy::too_many_arguments)] // each is one aspect of the call; a struct would only rename them
    pub async fn call(
        &self,
        prepared: &Prepared,
        revision: &str,
        direction: Direction,
        db: Box<dyn Backend>,
        observer: Arc<dyn Observer>,
        mode: Lending,
        dirs: &[crate::host::capability::Staged],
        kept: Vec<Kept>,
    ) -> (Box<dyn Backend>, Called) {
        let interrupter = db.interrupter();
        // Granting the staged directories fails only if they vanished; then the guest never
        // runs and the backend comes back untouched.
        let state = match HostState::new(revision, None, observer, &self.limits, dirs) {
            Ok(mut state) => {
                state.sql.db = Some(db);
                state
            }
            Err(e) => {
                let outcome = CallOutcome::Trapped(format!(
                    "cannot grant the migration's directories: {e:#}"
                ));
                return (
                    db,
                    Called {
                        outcome,
                        failed_statement: None,
                        kept: Vec::new(),
                        journal_tail: None,
                    },
                );
            }
        };
        let mut store = Store::new(prepared.pre.engine(), state);
        self.arm(&mut store, self.limits.timeout);
        store.data_mut().sql.mode = mode;
        store.data_mut().sql.restorable = kept;
        store.data_mut().script = prepared.script.as_ref().map(|(s, _, _)| s.clone());
        let (result, overdue) = self
            .run_until_deadline(&mut store, prepared, direction, interrupter)
            .await;
        let state = store.data();
        state.flush_output();
        let outcome = match result {
            Ok(Ok(())) if !overdue => CallOutcome::Ok,
            Ok(Err(e)) if !overdue => CallOutcome::Failed(e),
            Err(e)
                if !overdue
                    && e.downcast_ref::<wasmtime::Trap>() != Some(&wasmtime::Trap::Interrupt) =>
            {
                CallOutcome::Trapped(trap_message(&e, state))
            }
            _ => CallOutcome::Trapped(format!(
                "the migration ran past its time limit of {} s (limits.timeout_secs) and was stopped{}",
                self.limits.timeout.as_secs_f64(),
                if overdue {
                    " while it waited in a host call (its statement was cancelled)"
                } else {
                    ""
                }
            )),
        };
        let mut state = store.into_data();
        let mut db = state
            .sql
            .db
            .take()
            .expect("the backend stays in the store for the whole call");
        db.close_all_cursors().await;
        (
            db,
            Called {
                outcome,
                failed_statement: state.sql.failed_statement,
                kept: std::mem::take(&mut state.sql.kept),
                journal_tail: state.sql.journal_tail.take().map(|run| run.entry()),
            },
        )
    }
}

impl Sandbox {
    /// Runs the export, holding the deadline inside host calls too: epoch interruption stops
    /// guest code, but not a guest waiting in the database or in a WASI sleep. At the
    /// deadline the database is asked to stop the running statement (the statement then
    /// fails and the guest traps at its next instruction); a call still waiting after
    /// [`GRACE`] is dropped. The flag says whether the deadline was reached.
    async fn run_until_deadline(
        &self,
        store: &mut Store<HostState>,
        prepared: &Prepared,
        direction: Direction,
        interrupter: Box<dyn crate::db::Interrupt>,
    ) -> (wasmtime::Result<Result<(), GuestError>>, bool) {
        let deadline = tokio::time::Instant::now() + self.limits.timeout;
        let _armed = Armed::at(&*interrupter, deadline.into_std());
        let call = async {
            let instance = prepared.pre.instantiate_async(&mut *store).await?;
            let tx = store.data_mut().table.push(TxHandle)?;
            let borrowed = Resource::<TxHandle>::new_borrow(tx.rep());
            match direction {
                Direction::Upgrade => instance.call_upgrade(&mut *store, borrowed).await,
                Direction::Downgrade => instance.call_downgrade(&mut *store, borrowed).await,
            }
        };
        tokio::pin!(call);
        tokio::select! {
            result = &mut call => {
                // A statement SQLite stopped at the deadline itself ([`Armed`]) ends the call
                // before the timer below can fire: a failure past the deadline is its doing.
                let overdue = !matches!(result, Ok(Ok(())))
                    && tokio::time::Instant::now() >= deadline;
                (result, overdue)
            }
            () = tokio::time::sleep_until(deadline) => {
                interrupter.interrupt().await;
                match tokio::time::timeout(GRACE, &mut call).await {
                    Ok(result) => (result, true),
                    Err(_) => (Err(wasmtime::Trap::Interrupt.into()), true),
                }
            }
        }
    }
}

/// The database told to stop a guest's statements at the deadline by itself
/// ([`crate::db::Interrupt::stop_at`]) while the guest runs, and told to stop no longer
/// when it is done: the host's own statements afterwards run whatever the time.
struct Armed<'a>(&'a dyn crate::db::Interrupt);

impl<'a> Armed<'a> {
    fn at(interrupt: &'a dyn crate::db::Interrupt, deadline: std::time::Instant) -> Self {
        interrupt.stop_at(Some(deadline));
        Armed(interrupt)
    }
}

impl Drop for Armed<'_> {
    fn drop(&mut self) {
        self.0.stop_at(None);
    }
}

/// The stack wasm code may use (wasmtime 48's default, set explicitly: the fiber's size is
/// counted from it).
const WASM_STACK: usize = 512 << 10;

/// The stack left to host calls below a guest's. SQLite's statements run on it, and
/// preparing one recurses with the depth of the views it reads (a view of a view of …) and
/// the triggers it fires, ~1 KB each: SQLite sets no limit, the guest's policy refuses a
/// statement past 1,000 queries or 20,000 reported actions (`db/sqlite_policy.rs`), well
/// inside this. The pages are mapped as they are touched: this costs address space, not
/// memory.
pub(crate) const HOST_STACK: usize = 64 << 20;

/// How long a call may go on after its deadline once its statement was cancelled.
const GRACE: std::time::Duration = std::time::Duration::from_secs(2);

/// A trap's message: the guest's panic message first, if it printed one, then the trap. The
/// wasm backtrace (frames of a stripped guest are mostly `<unknown>`) goes to the observer
/// as [`Event::Backtrace`], which the command line shows with `-v`.
fn trap_message(e: &wasmtime::Error, state: &HostState) -> String {
    let stderr = state.stderr_text();
    let mut cause = format!("{e:#}");
    if let Some(backtrace) = e.downcast_ref::<wasmtime::WasmBacktrace>() {
        let frames = backtrace.to_string();
        state.report.observer.event(&Event::Backtrace {
            revision: &state.report.revision,
            backtrace: frames.trim_end(),
        });
        cause = cause
            .replace(&frames, "")
            .trim_matches(|c: char| c == ':' || c.is_whitespace())
            .to_string();
    }
    if let Some(trap) = e.downcast_ref::<wasmtime::Trap>() {
        cause = format!("wasm trap: {trap}");
    }
    let panic: Vec<&str> = stderr
        .lines()
        .skip_while(|l| !l.contains("panicked at"))
        .take_while(|l| !l.starts_with("note: "))
        .take(4)
        .collect();
    if !panic.is_empty() {
        let place = panic[0]
            .split_once("panicked at ")
            .map(|(_, at)| at.trim_end_matches(':'))
            .unwrap_or(panic[0]);
        let message = crate::core::as_data(&panic[1..].join(" "));
        let place = crate::core::as_data(place);
        return format!("the migration panicked: {message} (at {place}; {cause})");
    }
    if stderr.is_empty() {
        cause
    } else {
        format!(
            "{cause}\n  guest stderr: {}",
            crate::db::truncate(&stderr, 500)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refusal(bytes: &[u8]) -> String {
        let sandbox = Sandbox::new(Limits::default()).unwrap();
        let digest = crate::trust::signing::digest(bytes);
        match sandbox.prepare("m.wasm", &digest, bytes) {
            Ok(_) => panic!("accepted"),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn what_is_not_a_migration_component_is_refused_with_the_reason() {
        assert!(
            refusal(b"hello")
                .contains("m.wasm: not a Retort migration component: it is not WebAssembly")
        );
        assert!(refusal(b"\0asm\x01\0\0\0").contains("core WebAssembly module, not a component"));
        // A valid component that exports nothing is not a migration.
        let e = refusal(b"\0asm\x0d\x00\x01\x00");
        assert!(
            e.contains("does not export the retort:migration@0.1.0 `migration` world"),
            "{e}"
        );
        // A truncated component fails to compile, and says so.
        assert!(refusal(b"\0asm\x0d\x00\x01\x00\x01").contains("m.wasm"));
    }

    /// Counts the log messages and bytes an observer receives.
    #[derive(Default)]
    struct Counted(std::sync::Mutex<(usize, usize, Vec<String>)>);

    impl Observer for Counted {
        fn event(&self, event: &Event<'_>) {
            if let Event::GuestLog { message, .. } = event {
                let mut c = self.0.lock().unwrap();
                c.0 += 1;
                c.1 += message.len();
                // The end of each message: where a cut says so.
                let tail: Vec<char> = message.chars().rev().take(80).collect();
                c.2.push(tail.into_iter().rev().collect());
            }
        }
    }

    #[tokio::test]
    async fn a_log_flood_is_cut_and_said_so() {
        use report::Host as _;
        let seen = Arc::new(Counted::default());
        let mut state = HostState::new("r1", None, seen.clone(), &Limits::default(), &[]).unwrap();
        state
            .report
            .log(report::Level::Info, "é".repeat(20_000))
            .await
            .unwrap();
        for _ in 0..200 {
            state
                .report
                .log(report::Level::Info, "x".repeat(10_000))
                .await
                .unwrap();
        }
        let (count, bytes, messages) = &*seen.0.lock().unwrap();
        assert!(
            messages[0].ends_with("é… (message cut at 16 KiB)"),
            "{}",
            messages[0]
        );
        assert!(
            *bytes < LOG_CAPACITY + LOG_MESSAGE + 200,
            "{bytes} bytes passed on"
        );
        assert!(*count < 120, "{count} messages passed on");
        assert_eq!(
            messages.last().unwrap(),
            "the migration logged 1 MiB: its further log messages are dropped"
        );
    }

    #[test]
    fn default_limits_are_generous_but_finite() {
        let limits = Limits::default();
        assert_eq!(limits.timeout, std::time::Duration::from_secs(3600));
        assert_eq!(limits.memory_bytes, 512 << 20);
        assert_eq!(limits.max_open_rows, 64);
    }
}
