//! A backend that records what is sent through it: the statements a migration sends, the
//! transaction boundaries, and Retort's writes to its history table. What `upgrade --sql`
//! prints after a rehearsal on a scratch database.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;

use super::{Backend, CursorId, DbError, GuestSql, Interrupt, Lock, Session, SqlFailure, Tables};
use crate::bindings::{Column, Value};
use crate::core::Dialect;

/// Who sent a recorded statement.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sender {
    /// The migration.
    Migration,
    /// Retort, keeping its history.
    Bookkeeping,
    /// Retort, opening or ending a transaction.
    Transaction,
}

/// One statement sent, with its parameters as text (`None`: none; a batch lists each set).
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct Recorded {
    /// Who sent it.
    pub sender: Sender,
    /// The SQL as sent (placeholders `$1`, `$2`, …).
    pub sql: String,
    /// Each parameter set, rendered for reading.
    pub params: Vec<Vec<String>>,
    /// A query (its rows are read, not written).
    pub query: bool,
}

/// The shared log: `None` while not recording.
pub type Log = Arc<Mutex<Option<Vec<Recorded>>>>;

/// Wraps a backend; records into `log` while it holds a `Vec`.
pub struct Recording {
    inner: Box<dyn Backend>,
    log: Log,
}

impl Recording {
    /// Records what is sent through `inner` into `log` (while it holds a `Vec`).
    pub fn new(inner: Box<dyn Backend>, log: Log) -> Recording {
        Recording { inner, log }
    }

    fn record(&self, sender: Sender, sql: &str, params: Vec<Vec<String>>, query: bool) {
        let mut log = self.log.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(log) = log.as_mut() {
            log.push(Recorded {
                sender,
                sql: sql.to_string(),
                params,
                query,
            });
        }
    }
}

/// A parameter as a reader sees it: text quoted, bytes by size, others plainly.
pub fn shown(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Boolean(b) => b.to_string(),
        Value::Integer(n) => n.to_string(),
        Value::Float(f) => f.to_string(),
        Value::Text(s) | Value::Decimal(s) | Value::Json(s) => {
            let s = crate::core::one_line(s, 200);
            format!("'{}'", s.replace('\'', "''"))
        }
        Value::Bytes(b) => format!("<{} bytes>", b.len()),
        other => format!("<{}>", super::values::kind(other)),
    }
}

fn row(params: &[Value]) -> Vec<String> {
    params.iter().map(shown).collect()
}

#[async_trait]
impl Lock for Recording {
    async fn lock(&mut self, wait: Duration) -> Result<(), DbError> {
        self.inner.lock(wait).await
    }
    async fn unlock(&mut self) -> Result<(), DbError> {
        self.inner.unlock().await
    }
    async fn check_lock(&mut self) -> Result<(), DbError> {
        self.inner.check_lock().await
    }
}

#[async_trait]
impl Session for Recording {
    fn dialect(&self) -> Dialect {
        self.inner.dialect()
    }
    fn ddl_commits_implicitly(&self) -> bool {
        self.inner.ddl_commits_implicitly()
    }
    async fn begin(&mut self) -> Result<(), DbError> {
        self.record(Sender::Transaction, "BEGIN", Vec::new(), false);
        self.inner.begin().await
    }
    async fn commit(&mut self) -> Result<(), DbError> {
        self.record(Sender::Transaction, "COMMIT", Vec::new(), false);
        self.inner.commit().await
    }
    async fn rollback(&mut self) -> Result<(), DbError> {
        self.inner.rollback().await
    }
    async fn host_execute(
        &mut self,
        doing: &str,
        sql: &str,
        params: &[Value],
    ) -> Result<u64, DbError> {
        let tables = self.inner.tables();
        // (`WITH`: an artifact stored and a history row added in one statement.)
        let writes = ["INSERT", "UPDATE", "DELETE", "WITH"]
            .iter()
            .any(|w| sql.trim_start().to_ascii_uppercase().starts_with(w));
        if writes && (sql.contains(&tables.history) || sql.contains(&tables.artifacts)) {
            self.record(Sender::Bookkeeping, sql, vec![row(params)], false);
        }
        self.inner.host_execute(doing, sql, params).await
    }
    async fn host_query(
        &mut self,
        doing: &str,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Vec<Value>>, DbError> {
        self.inner.host_query(doing, sql, params).await
    }
    fn tables(&self) -> &Tables {
        self.inner.tables()
    }
    async fn transaction_intact(&mut self) -> Result<bool, DbError> {
        self.inner.transaction_intact().await
    }
    async fn privileged_account(&mut self) -> Result<Option<String>, DbError> {
        self.inner.privileged_account().await
    }
    fn watch_bookkeeping(&mut self, expected: Option<String>) {
        self.inner.watch_bookkeeping(expected)
    }
    fn writing(&mut self, revision: Option<&str>, artifact: Option<&str>) {
        self.inner.writing(revision, artifact)
    }
    async fn own_contents_fingerprint(&mut self) -> Result<Option<String>, DbError> {
        self.inner.own_contents_fingerprint().await
    }
    async fn setup(&mut self, doing: &str, sql: &str) -> Result<(), DbError> {
        self.inner.setup(doing, sql).await
    }
    async fn configured(&mut self) -> Result<(), DbError> {
        self.inner.configured().await
    }
    async fn reset_session(&mut self) -> Result<(), DbError> {
        self.inner.reset_session().await
    }
    async fn settle_deferred(&mut self) -> Result<(), DbError> {
        self.inner.settle_deferred().await
    }
    async fn escaped(&mut self) -> Result<bool, DbError> {
        self.inner.escaped().await
    }
    fn may_run_at_commit(&self) -> bool {
        self.inner.may_run_at_commit()
    }
    fn fingerprint_covers_catalog(&self) -> bool {
        self.inner.fingerprint_covers_catalog()
    }
    fn catalog_guarded(&self) -> bool {
        self.inner.catalog_guarded()
    }
    async fn host_query_as_migration(
        &mut self,
        doing: &str,
        sql: &str,
        params: &[Value],
    ) -> Result<Vec<Vec<Value>>, DbError> {
        self.inner.host_query_as_migration(doing, sql, params).await
    }
    async fn close(self: Box<Self>) {
        self.inner.close().await
    }
}

#[async_trait]
impl GuestSql for Recording {
    async fn execute(&mut self, sql: &str, params: Vec<Value>) -> Result<u64, SqlFailure> {
        let shown = if params.is_empty() {
            Vec::new()
        } else {
            vec![row(&params)]
        };
        self.record(Sender::Migration, sql, shown, false);
        self.inner.execute(sql, params).await
    }
    async fn execute_batch(&mut self, sql: &str, sets: Vec<Vec<Value>>) -> Result<u64, SqlFailure> {
        let shown = sets.iter().map(|s| row(s)).collect();
        self.record(Sender::Migration, sql, shown, false);
        self.inner.execute_batch(sql, sets).await
    }
    async fn open_cursor(
        &mut self,
        sql: &str,
        params: Vec<Value>,
    ) -> Result<(CursorId, Vec<Column>), SqlFailure> {
        let shown = if params.is_empty() {
            Vec::new()
        } else {
            vec![row(&params)]
        };
        self.record(Sender::Migration, sql, shown, true);
        self.inner.open_cursor(sql, params).await
    }
    async fn fetch(&mut self, cursor: CursorId, max: u32) -> Result<Vec<Vec<Value>>, SqlFailure> {
        self.inner.fetch(cursor, max).await
    }
    async fn close_cursor(&mut self, cursor: CursorId) {
        self.inner.close_cursor(cursor).await
    }
    async fn close_all_cursors(&mut self) {
        self.inner.close_all_cursors().await
    }
    fn interrupter(&self) -> Box<dyn Interrupt> {
        self.inner.interrupter()
    }
    fn take_commit_point(&mut self) -> bool {
        self.inner.take_commit_point()
    }
    fn may_have_committed(&self) -> bool {
        self.inner.may_have_committed()
    }
}
