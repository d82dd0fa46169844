//! One migration, applied and recorded by its [`Protocol`].

use std::time::Instant;

use super::{Error, FailureState, Ran, Runner};
use crate::core::Direction;
use crate::core::observe::Event;
use crate::db::HistoryStore;
use crate::db::ddl::definitions::{self, Kept};
use crate::db::{self, Backend, DbError, HistoryRow, RowState, View, Watch};
use crate::host::capability::{self, Staged};
use crate::host::sandbox::{CallOutcome, Lending};
use crate::project::DatabaseConfig;
use crate::source::artifact::Artifact;

/// How one migration is applied and recorded, chosen per step from the dialect, the
/// migration's `transactional` flag and the run's transaction mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Protocol {
    /// The migration and its history row commit in one transaction of their own, or nothing
    /// does (PostgreSQL, SQLite).
    Atomic,
    /// Inside the run's single transaction (`--transaction single`): the run commits or rolls
    /// back as a whole; the runner opens and closes the group.
    Grouped,
    /// A pending `upgrading`/`downgrading` row is committed first, every completed statement
    /// is journaled in it, and the row is completed after (MySQL/MariaDB, whose DDL commits
    /// implicitly, or a migration declared `transactional: false`). With `transaction`, the
    /// migration's statements still run in a transaction, as far as the dialect keeps one.
    Journaled {
        /// Whether a transaction is opened around the migration.
        transaction: bool,
    },
}

impl Protocol {
    /// The protocol for a migration that is (or is not) `transactional`, on a dialect whose DDL
    /// does (or does not) commit implicitly, in a run that does (or does not) group its
    /// migrations into one transaction.
    pub(super) fn choose(ddl_commits_implicitly: bool, transactional: bool, single: bool) -> Self {
        if ddl_commits_implicitly || !transactional {
            Protocol::Journaled {
                transaction: transactional,
            }
        } else if single {
            Protocol::Grouped
        } else {
            Protocol::Atomic
        }
    }

    fn journaled(self) -> bool {
        matches!(self, Protocol::Journaled { .. })
    }

    /// Whether this step opens and commits a transaction of its own.
    fn owns_transaction(self) -> bool {
        matches!(
            self,
            Protocol::Atomic | Protocol::Journaled { transaction: true }
        )
    }

    /// How the database is lent to the migration: journaled or not, in a transaction or not.
    fn lending(self) -> Lending {
        Lending {
            journal: self.journaled(),
            in_transaction: self.in_transaction(),
        }
    }

    /// Whether the migration's statements run inside a transaction (its own or the group's).
    fn in_transaction(self) -> bool {
        !matches!(self, Protocol::Journaled { transaction: false })
    }

    /// How the bookkeeping is watched while the migration runs: its own transaction's writes
    /// where it runs in one and Retort journals nothing meanwhile, else the tables' contents.
    fn watch(self) -> Watch {
        match self {
            Protocol::Atomic | Protocol::Grouped => Watch::Transaction,
            Protocol::Journaled { .. } => Watch::Contents,
        }
    }

    /// Before the migration runs: write the pending row, open the transaction.
    async fn before(
        self,
        backend: &mut dyn Backend,
        artifact: &Artifact,
        row: &HistoryRow,
        direction: Direction,
    ) -> Result<(), DbError> {
        if self.journaled() {
            match direction {
                Direction::Upgrade => {
                    let pending = HistoryRow {
                        state: RowState::Upgrading,
                        ..row.clone()
                    };
                    record(backend, artifact, &pending).await?;
                }
                Direction::Downgrade => {
                    backend
                        .update_history(&row.revision, RowState::Downgrading, 0)
                        .await?
                }
            }
        }
        if self.owns_transaction() {
            backend.begin().await?;
        }
        Ok(())
    }

    /// After the migration succeeded: record it (with the definitions it kept) and commit.
    async fn after(
        self,
        backend: &mut dyn Backend,
        artifact: &Artifact,
        row: &HistoryRow,
        direction: Direction,
        (kept, journal_tail): (&[Kept], Option<&str>),
    ) -> Result<(), DbError> {
        match (direction, self.journaled()) {
            (Direction::Upgrade, false) => {
                record(backend, artifact, row).await?;
                keep(backend, &row.revision, kept).await?;
            }
            (Direction::Upgrade, true) => {
                if self.owns_transaction() {
                    backend.commit().await?;
                }
                keep(backend, &row.revision, kept).await?;
                return backend
                    .complete_history(&row.revision, row.duration_ms, journal_tail)
                    .await;
            }
            (Direction::Downgrade, _) => backend.delete_history(&row.revision).await?,
        }
        if self.owns_transaction() {
            backend.commit().await?;
            if backend.may_run_at_commit() {
                read_back(backend, &row.revision, direction).await?;
            }
        }
        Ok(())
    }

    /// After the migration failed: roll back what can be, and say what state that leaves.
    async fn abandon(
        self,
        backend: &mut dyn Backend,
        revision: &str,
        direction: Direction,
        journal_tail: Option<&str>,
    ) -> FailureState {
        if self.journaled() {
            // The last statement's entry first: what follows explains what came after it.
            if let Some(tail) = journal_tail {
                let _ = backend.journal(revision, tail).await;
            }
            // Nothing could have committed (no statement that commits was sent, the server
            // reported no commit point): the rollback undid everything, and the pending row
            // is put back as it was.
            if self.in_transaction()
                && !backend.may_have_committed()
                && backend.rollback().await.is_ok()
                && settle_pending(backend, revision, direction).await.is_ok()
            {
                return FailureState::RolledBack;
            }
            if self.in_transaction() && backend.rollback().await.is_ok() {
                // Say in the journal what the rollback undid, so the row explains itself.
                let _ = backend
                    .journal(
                        revision,
                        "-- failed: rolled back the statements after the last one that \
                         committed (DDL, or a query opened on MySQL)\n",
                    )
                    .await;
            }
            // What the message will say the history holds, read back first: a migration that
            // got past the checks may have changed the bookkeeping itself (docs/security.md).
            let pending = match direction {
                Direction::Upgrade => RowState::Upgrading,
                Direction::Downgrade => RowState::Downgrading,
            };
            return match backend.history().await {
                Ok(rows)
                    if rows
                        .iter()
                        .any(|r| r.revision == revision && r.state == pending) =>
                {
                    FailureState::Unfinished {
                        revision: revision.to_string(),
                        direction,
                    }
                }
                Ok(_) => FailureState::BookkeepingDamaged(format!(
                    "retort_history no longer holds {revision}'s `{}` row",
                    pending.as_str()
                )),
                Err(e) => {
                    FailureState::BookkeepingDamaged(format!("retort_history cannot be read: {e}"))
                }
            };
        }
        // A rollback undoes only what is still in Retort's transaction: ask the server first.
        if let Ok(true) = backend.escaped().await {
            let _ = backend.rollback().await;
            return FailureState::Escaped;
        }
        match backend.rollback().await {
            Ok(()) if self == Protocol::Grouped => FailureState::RunRolledBack,
            Ok(()) => FailureState::RolledBack,
            Err(e) => FailureState::RollbackFailed(e.to_string()),
        }
    }
}

/// Puts a pending history row back as it was before the step: removed before an upgrade,
/// applied (with its recorded duration) before a downgrade.
async fn settle_pending(
    backend: &mut dyn Backend,
    revision: &str,
    direction: Direction,
) -> Result<(), DbError> {
    match direction {
        Direction::Upgrade => backend.delete_history(revision).await,
        Direction::Downgrade => {
            let duration = backend
                .history()
                .await?
                .into_iter()
                .find(|r| r.revision == revision)
                .map_or(0, |r| r.duration_ms);
            backend
                .update_history(revision, RowState::Applied, duration)
                .await
        }
    }
}

/// Stores the artifact (so a downgrade outlives its source) and, for a script migration, the
/// runtime it runs on (once per database, by digest), and writes its history row.
async fn record(
    backend: &mut dyn Backend,
    artifact: &Artifact,
    row: &HistoryRow,
) -> Result<(), DbError> {
    if let Some(runtime) = artifact.prepared.runtime()
        && let Some(bytes) = artifact.prepared.runtime_bytes()
        && !backend
            .known_artifacts()
            .is_some_and(|known| known.contains(&runtime.digest))
    {
        if !backend.has_artifact(&runtime.digest).await? {
            backend.store_artifact(&runtime.digest, bytes).await?;
        }
        if let Some(known) = backend.known_artifacts() {
            known.insert(runtime.digest.clone());
        }
    }
    backend.record_with_artifact(&artifact.bytes, row).await
}

/// Reads `revision`'s history row back after its transaction committed: applied after an
/// upgrade, gone after a downgrade. Nothing of the migration may run after Retort's checks,
/// but PostgreSQL runs deferred triggers inside COMMIT, and one can defer itself again past
/// `SET CONSTRAINTS ALL IMMEDIATE`; this is what makes Retort's next line true even then.
/// (Only where a deferrable trigger exists: [`Session::may_run_at_commit`].)
pub(super) async fn read_back(
    backend: &mut dyn Backend,
    revision: &str,
    direction: Direction,
) -> Result<(), DbError> {
    let found = backend.recorded_state(revision).await?;
    let expected = match direction {
        Direction::Upgrade => Some(RowState::Applied.as_str()),
        Direction::Downgrade => None,
    };
    if found.as_deref() == expected {
        return Ok(());
    }
    Err(DbError::ChangedAtCommit {
        revision: revision.to_string(),
        found: match found {
            None => "missing".to_string(),
            Some(_) if expected.is_none() => "still there".to_string(),
            Some(state) => format!("`{}`", state.escape_debug()),
        },
    })
}

/// Stores what `revision`'s upgrade kept, if anything.
async fn keep(backend: &mut dyn Backend, revision: &str, kept: &[Kept]) -> Result<(), DbError> {
    if kept.is_empty() {
        return Ok(());
    }
    backend
        .keep_definitions(revision, &definitions::encode(kept))
        .await
}

/// What `revision`'s upgrade kept for its downgrade.
async fn restorable(backend: &mut dyn Backend, revision: &str) -> Result<Vec<Kept>, DbError> {
    match backend.kept_definitions(revision).await? {
        None => Ok(Vec::new()),
        Some(json) => definitions::decode(&json).map_err(|message| DbError::Statement {
            doing: format!("reading the definitions {revision} kept"),
            statement: String::new(),
            code: None,
            message,
        }),
    }
}

/// The history row a step writes.
fn history_row(artifact: &Artifact) -> HistoryRow {
    let info = &artifact.info;
    HistoryRow {
        revision: info.id.clone(),
        parents: info.parents.clone(),
        description: info.description.clone(),
        digest: artifact.digest.clone(),
        state: RowState::Applied,
        applied_at: db::now_rfc3339(),
        applied_by: db::runner_identity(),
        duration_ms: 0,
        journal: None,
        signer: artifact.signer.clone(),
        notes: None,
    }
}

impl Runner {
    /// Runs one migration by `protocol` and records it: stage its capabilities, write what
    /// comes before, call it in the sandbox, then record and commit (and publish its file
    /// changes), or roll back and say what state that left.
    pub(super) async fn run_step(
        &self,
        mut backend: Box<dyn Backend>,
        db: &DatabaseConfig,
        artifact: &Artifact,
        direction: Direction,
        protocol: Protocol,
    ) -> (Box<dyn Backend>, Result<Ran, Error>) {
        let info = &artifact.info;
        let started = Instant::now();
        let wrap = |source| Error::Db {
            database: db.name.clone(),
            source,
        };
        let capability_error = |source| Error::Capability {
            database: db.name.clone(),
            source,
        };
        let staged = match capability::stage(&db.name, &db.capabilities, info) {
            Ok(staged) => staged,
            Err(e) => return (backend, Err(capability_error(e))),
        };
        self.observer.event(&Event::StepStarted {
            database: &db.name,
            revision: &info.id,
            description: &info.description,
            direction,
        });
        let undid_nothing = self.warn_if_no_downgrade(db, artifact, direction, backend.dialect());
        let mut row = history_row(artifact);
        let (before, kept) =
            match prepare(backend.as_mut(), protocol, artifact, &row, direction).await {
                Ok(prepared) => prepared,
                Err(e) => {
                    capability::discard(staged);
                    let _ = backend.rollback().await;
                    return (backend, Err(wrap(e)));
                }
            };
        let (mut backend, called) = self
            .sandbox
            .call(
                &artifact.prepared,
                &info.id,
                direction,
                backend,
                self.observer.clone(),
                protocol.lending(),
                &staged,
                kept,
            )
            .await;
        backend.watch_bookkeeping(None);
        let cause = self
            .judge(backend.as_mut(), called.outcome, &staged, &before, protocol)
            .await;
        if let Some(cause) = cause {
            // The migration's file changes are thrown away with its transaction.
            capability::discard(staged);
            let failure = Failure {
                cause,
                statement: called.failed_statement,
                journal_tail: called.journal_tail,
            };
            let error = failure
                .settle(protocol, backend.as_mut(), db, artifact, direction)
                .await;
            return (backend, Err(error));
        }

        let duration = started.elapsed();
        row.duration_ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX);
        if let Err(e) = protocol
            .after(
                backend.as_mut(),
                artifact,
                &row,
                direction,
                (&called.kept, called.journal_tail.as_deref()),
            )
            .await
        {
            capability::discard(staged);
            let _ = backend.rollback().await;
            return (backend, Err(wrap(e)));
        }
        if let Err(e) = capability::publish(staged, direction, &info.id) {
            return (backend, Err(capability_error(e)));
        }
        self.observer.event(&Event::StepFinished {
            database: &db.name,
            revision: &info.id,
            direction,
            duration,
        });
        (
            backend,
            Ok(Ran::new(artifact, direction, duration, undid_nothing)),
        )
    }
}

impl Runner {
    /// Whether `artifact`'s downgrade has nothing to run on this database (it then removes
    /// only the history row), said before it runs.
    fn warn_if_no_downgrade(
        &self,
        db: &DatabaseConfig,
        artifact: &Artifact,
        direction: Direction,
        dialect: crate::core::Dialect,
    ) -> bool {
        let nothing = direction == Direction::Downgrade && artifact.has_no_downgrade(dialect);
        if nothing {
            self.observer.event(&Event::Warning {
                database: &db.name,
                message: &format!(
                    "{} has no downgrade for this database: downgrading it removes its history \
                     row, and what its upgrade did stays",
                    artifact.info.id
                ),
            });
        }
        nothing
    }

    /// Why a called migration must not commit, if it must not: it failed, or what it left
    /// behind (files, its transaction, the bookkeeping, the lock) is not as it must be.
    async fn judge(
        &self,
        backend: &mut dyn Backend,
        outcome: CallOutcome,
        staged: &[Staged],
        before: &str,
        protocol: Protocol,
    ) -> Option<String> {
        match outcome {
            CallOutcome::Ok => {
                if let Err(e) = capability::verify(staged, self.sandbox.limits().staged_bytes) {
                    return Some(e.to_string());
                }
                // Before Retort's own statements: they, and the next migration, run in the
                // session as configured, whatever this migration set.
                if let Err(e) = backend.reset_session().await {
                    return Some(format!(
                        "its session could not be put back as configured: {e}"
                    ));
                }
                left_intact(backend, before, protocol).await.err()
            }
            CallOutcome::Failed(e) => Some(crate::bindings::describe(&e)),
            CallOutcome::Trapped(message) => Some(format!("trap: {message}")),
        }
    }
}

impl Ran {
    /// A step that ran `artifact` in `direction` for `duration`.
    fn new(
        artifact: &Artifact,
        direction: Direction,
        duration: std::time::Duration,
        undid_nothing: bool,
    ) -> Self {
        Ran {
            revision: artifact.info.id.clone(),
            description: artifact.info.description.clone(),
            direction,
            duration,
            undid_nothing,
        }
    }
}

/// Why a called migration must not commit, with what its call left to say.
struct Failure {
    cause: String,
    statement: Option<String>,
    journal_tail: Option<String>,
}

impl Failure {
    /// Rolls back what can be by `protocol`, and the error, with the state that left.
    async fn settle(
        self,
        protocol: Protocol,
        backend: &mut dyn Backend,
        db: &DatabaseConfig,
        artifact: &Artifact,
        direction: Direction,
    ) -> Error {
        let state = protocol
            .abandon(
                backend,
                &artifact.info.id,
                direction,
                self.journal_tail.as_deref(),
            )
            .await;
        failed(db, artifact, direction, self.cause, self.statement, state)
    }
}

/// The error of a migration that failed, with the state its failure left.
fn failed(
    db: &DatabaseConfig,
    artifact: &Artifact,
    direction: Direction,
    cause: String,
    statement: Option<String>,
    state: FailureState,
) -> Error {
    Error::Migration {
        database: db.name.clone(),
        revision: artifact.info.id.clone(),
        description: artifact.info.description.clone(),
        direction: direction.name(),
        cause,
        statement,
        state,
    }
}

/// Writes what comes before a migration (its protocol's pending row, its transaction) and
/// returns the bookkeeping's fingerprint, which the backend then watches while it runs, and
/// for a downgrade the definitions its upgrade kept.
async fn prepare(
    backend: &mut dyn Backend,
    protocol: Protocol,
    artifact: &Artifact,
    row: &HistoryRow,
    direction: Direction,
) -> Result<(String, Vec<Kept>), DbError> {
    // A downgrade may restore what its upgrade kept (`schema.restore-definition`).
    let kept = match direction {
        Direction::Downgrade => restorable(backend, &row.revision).await?,
        Direction::Upgrade => Vec::new(),
    };
    protocol.before(backend, artifact, row, direction).await?;
    let fingerprint = backend
        .bookkeeping_fingerprint(View::Own, protocol.watch())
        .await?;
    backend.watch_bookkeeping(Some(fingerprint.clone()));
    Ok((fingerprint, kept))
}

/// Checks, before a migration commits, that it left its transaction open (when it was lent
/// one) and Retort's bookkeeping as it was, and that the run still holds its lock; the
/// reason otherwise.
async fn left_intact(
    backend: &mut dyn Backend,
    before: &str,
    protocol: Protocol,
) -> Result<(), String> {
    if protocol.in_transaction() {
        // Deferred constraint triggers would otherwise run inside COMMIT, after every check
        // below (and could rewrite the history row they judged).
        if let Err(e) = backend.settle_deferred().await {
            return Err(format!("what it deferred to the commit failed: {e}"));
        }
        match backend.transaction_intact().await {
            Ok(true) => {}
            Ok(false) => {
                return Err(
                    "the migration ended the transaction Retort ran it in (or switched \
                     autocommit on), so part of its work may have committed on its own"
                        .into(),
                );
            }
            Err(e) => return Err(format!("its transaction could not be checked: {e}")),
        }
    }
    if !backend.fingerprint_covers_catalog()
        && !backend.catalog_guarded()
        && let Err(e) = backend.check_bookkeeping_catalog(View::Migration).await
    {
        return Err(e.to_string());
    }
    match backend
        .bookkeeping_fingerprint(View::Migration, protocol.watch())
        .await
    {
        Ok(after) if after == before => {}
        Ok(_) => return Err(DbError::Bookkeeping.to_string()),
        Err(e) => {
            return Err(format!(
                "Retort's bookkeeping could not be checked after the migration: {e}"
            ));
        }
    }
    backend.check_lock().await.map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::Protocol;

    #[test]
    fn the_protocol_follows_dialect_flag_and_mode() {
        // PostgreSQL/SQLite: atomic, or grouped in a single-transaction run.
        assert_eq!(Protocol::choose(false, true, false), Protocol::Atomic);
        assert_eq!(Protocol::choose(false, true, true), Protocol::Grouped);
        // A non-transactional migration is journaled everywhere, with no transaction, and
        // closes a group.
        for single in [false, true] {
            assert_eq!(
                Protocol::choose(false, false, single),
                Protocol::Journaled { transaction: false }
            );
            assert_eq!(
                Protocol::choose(true, false, single),
                Protocol::Journaled { transaction: false }
            );
            // MySQL/MariaDB: journaled, statements in a transaction up to the next DDL.
            assert_eq!(
                Protocol::choose(true, true, single),
                Protocol::Journaled { transaction: true }
            );
        }
    }

    #[test]
    fn only_atomic_and_transactional_journaled_steps_own_a_transaction() {
        assert!(Protocol::Atomic.owns_transaction());
        assert!(!Protocol::Grouped.owns_transaction());
        assert!(Protocol::Journaled { transaction: true }.owns_transaction());
        assert!(!Protocol::Journaled { transaction: false }.owns_transaction());
        assert!(Protocol::Grouped.in_transaction());
        assert!(!Protocol::Journaled { transaction: false }.in_transaction());
    }
}
