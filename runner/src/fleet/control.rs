//! A control database (PostgreSQL) coordinating workers on several machines: the run's
//! targets are rows of a queue table; a worker claims one with `FOR UPDATE SKIP LOCKED` and
//! a lease it renews while it works; a worker that dies stops renewing, and once its lease
//! has run out another worker claims the target again. PostgreSQL is the coordinator: no
//! protocol of Retort's runs between workers. Each attempt is also a row of
//! `retort_fleet_attempts`, the run log in the database.
//!
//! A target claimed twice (a lease that ran out under a worker that was only slow) is still
//! migrated once: the target's own lock serialises the two, and its history makes the second
//! find nothing to do.

use std::time::Duration;

use sqlx::{Connection, PgConnection};

use super::{Attempt, FleetError, FleetTarget, RunSpec};
use crate::core::DialectExt;

/// The tables, created if missing (under a transaction-scoped advisory lock, so that
/// workers starting together do not race on `CREATE TABLE IF NOT EXISTS`).
const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS retort_fleet_runs (
    run text PRIMARY KEY,
    spec jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS retort_fleet_targets (
    run text NOT NULL REFERENCES retort_fleet_runs (run) ON DELETE CASCADE,
    target text NOT NULL,
    position integer NOT NULL,
    server text NOT NULL,
    state text NOT NULL DEFAULT 'queued'
        CHECK (state IN ('queued', 'running', 'done', 'failed')),
    worker text,
    lease_until timestamptz,
    attempts integer NOT NULL DEFAULT 0,
    PRIMARY KEY (run, target)
);
CREATE INDEX IF NOT EXISTS retort_fleet_targets_queue
    ON retort_fleet_targets (run, state, position);
CREATE INDEX IF NOT EXISTS retort_fleet_targets_position
    ON retort_fleet_targets (run, position);
CREATE TABLE IF NOT EXISTS retort_fleet_attempts (
    run text NOT NULL,
    target text NOT NULL,
    attempt integer NOT NULL,
    worker text NOT NULL,
    started_at timestamptz NOT NULL,
    duration_ms double precision NOT NULL,
    outcome text NOT NULL,
    from_revisions text[] NOT NULL,
    to_revisions text[] NOT NULL,
    revisions text[] NOT NULL,
    error_kind text,
    error text,
    PRIMARY KEY (run, target, attempt, worker)
);";

/// Registers a new run's targets in its worker's order; a worker joining a run already
/// registered must list the same targets (a claim hands out any of the run's, and a worker
/// can run only those it has a URL for).
async fn register(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    run: &str,
    targets: &[FleetTarget],
    new_run: bool,
) -> Result<(), FleetError> {
    let names: Vec<String> = targets.iter().map(|t| t.name.clone()).collect();
    if new_run {
        let positions: Vec<i32> = (0..targets.len() as i32).collect();
        let servers: Vec<String> = targets.iter().map(|t| t.server.clone()).collect();
        sqlx::query(
            "INSERT INTO retort_fleet_targets (run, target, position, server)
             SELECT $1, t, p, s FROM unnest($2::text[], $3::int[], $4::text[]) AS u (t, p, s)",
        )
        .bind(run)
        .bind(&names)
        .bind(&positions)
        .bind(&servers)
        .execute(&mut **tx)
        .await
        .map_err(|e| failure("registering the targets", e))?;
    } else {
        // Every worker of a run lists the same targets: a claim hands out any of the
        // run's, and a worker can run only those it has a URL for.
        let (registered, shared): (i64, i64) = sqlx::query_as(
            "SELECT count(*), count(*) FILTER (WHERE target = ANY ($2))
               FROM retort_fleet_targets WHERE run = $1",
        )
        .bind(run)
        .bind(&names)
        .fetch_one(&mut **tx)
        .await
        .map_err(|e| failure("comparing the run's targets", e))?;
        if registered != names.len() as i64 || shared != registered {
            return Err(FleetError::Mismatch {
                run: run.to_string(),
                recorded: format!("a run of {registered} targets"),
                asked: format!(
                    "{} targets, {shared} of them the run's (every worker of a run lists \
                     the same targets)",
                    names.len()
                ),
            });
        }
    }
    Ok(())
}

/// The advisory key serialising the schema's creation: the bytes of "fleet".
const SCHEMA_LOCK: i64 = 0x66_6c65_6574;

/// Counts of a run's targets by state, read from the queue.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct QueueState {
    pub queued: i64,
    pub running: i64,
    pub expired: i64,
    pub failed: i64,
    pub canary_failed: i64,
}

/// A worker's connection to the control database.
pub(super) struct Control {
    conn: PgConnection,
    run: String,
    worker: String,
    lease: Duration,
    /// The queue's counts as last read, and when: halting is checked against counts at
    /// most [`STATE_EVERY`] old, so a run of many targets does not count them all after
    /// each one.
    last_state: Option<(std::time::Instant, QueueState)>,
}

/// How old the counts halting is decided on may be.
const STATE_EVERY: Duration = Duration::from_millis(500);

fn failure(doing: &str, e: impl std::fmt::Display) -> FleetError {
    FleetError::Control(format!("{doing}: {e}"))
}

impl Control {
    /// Connects, creates the tables if missing, and registers the run and its targets (a
    /// run already registered keeps its first worker's spec, which is returned: every
    /// worker then follows the same canary and failure limit).
    pub async fn join(
        url: &str,
        spec: &RunSpec,
        targets: &[FleetTarget],
        lease: Duration,
    ) -> Result<(Control, RunSpec), FleetError> {
        if crate::core::Dialect::of_url(url) != Some(crate::core::Dialect::Postgres) {
            return Err(FleetError::Control(format!(
                "the control database must be PostgreSQL (its queue relies on FOR UPDATE SKIP \
                 LOCKED): {}",
                crate::db::redact(url)
            )));
        }
        let mut conn = PgConnection::connect(url)
            .await
            .map_err(|e| failure(&format!("connecting to {}", crate::db::redact(url)), e))?;
        let mut tx = conn.begin().await.map_err(|e| failure("BEGIN", e))?;
        sqlx::query("SELECT pg_advisory_xact_lock($1)")
            .bind(SCHEMA_LOCK)
            .execute(&mut *tx)
            .await
            .map_err(|e| failure("locking the control tables' creation", e))?;
        sqlx::raw_sql(SCHEMA)
            .execute(&mut *tx)
            .await
            .map_err(|e| failure("creating the control tables", e))?;
        let json = serde_json::to_value(spec).map_err(|e| failure("writing the run", e))?;
        let new_run = sqlx::query(
            "INSERT INTO retort_fleet_runs (run, spec) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )
        .bind(&spec.run)
        .bind(&json)
        .execute(&mut *tx)
        .await
        .map_err(|e| failure("registering the run", e))?
        .rows_affected()
            == 1;
        let stored: serde_json::Value =
            sqlx::query_scalar("SELECT spec FROM retort_fleet_runs WHERE run = $1")
                .bind(&spec.run)
                .fetch_one(&mut *tx)
                .await
                .map_err(|e| failure("reading the run", e))?;
        let stored: RunSpec =
            serde_json::from_value(stored).map_err(|e| failure("reading the run", e))?;
        if (
            stored.direction.as_str(),
            stored.target.as_str(),
            stored.apply,
        ) != (spec.direction.as_str(), spec.target.as_str(), spec.apply)
        {
            return Err(FleetError::Mismatch {
                run: spec.run.clone(),
                recorded: format!("{} to {}", stored.direction, stored.target),
                asked: format!("{} to {}", spec.direction, spec.target),
            });
        }
        register(&mut tx, &spec.run, targets, new_run).await?;
        tx.commit().await.map_err(|e| failure("COMMIT", e))?;
        Ok((
            Control {
                conn,
                run: spec.run.clone(),
                worker: spec.worker.clone(),
                lease,
                last_state: None,
            },
            stored,
        ))
    }

    /// Claims the next target this worker lists: a queued one, or one whose lease ran out;
    /// none on a server in `full`; the canary's first `canary` positions before any other.
    /// Returns its name and attempt number.
    pub async fn claim(
        &mut self,
        full: &[String],
        canary: usize,
    ) -> Result<Option<(String, u32)>, FleetError> {
        let sql = "
            UPDATE retort_fleet_targets
               SET state = 'running', worker = $2, attempts = attempts + 1,
                   lease_until = clock_timestamp() + make_interval(secs => $3)
             WHERE run = $1 AND target = (
                SELECT target FROM retort_fleet_targets q
                 WHERE q.run = $1
                   AND (q.state = 'queued' OR (q.state = 'running' AND q.lease_until < clock_timestamp()))
                   AND NOT (q.server = ANY ($4))
                   AND (q.position < $5 OR NOT EXISTS (
                        SELECT 1 FROM retort_fleet_targets c
                         WHERE c.run = $1 AND c.position < $5 AND c.state <> 'done'))
                 ORDER BY q.position LIMIT 1
                   FOR UPDATE SKIP LOCKED)
            RETURNING target, attempts";
        let row: Option<(String, i32)> = sqlx::query_as(sql)
            .bind(&self.run)
            .bind(&self.worker)
            .bind(self.lease.as_secs_f64())
            .bind(full)
            .bind(canary as i32)
            .fetch_optional(&mut self.conn)
            .await
            .map_err(|e| failure("claiming a target", e))?;
        Ok(row.map(|(t, n)| (t, n.max(1) as u32)))
    }

    /// Records an attempt and settles its target (`done` or `failed`), unless another
    /// worker claimed it since (its lease ran out): then only the attempt is recorded.
    pub async fn finish(&mut self, attempt: &Attempt) -> Result<(), FleetError> {
        if !attempt.outcome.succeeded() {
            // Halting must see this failure at once.
            self.last_state = None;
        }
        let state = if attempt.outcome.succeeded() {
            "done"
        } else {
            "failed"
        };
        let mut tx = self.conn.begin().await.map_err(|e| failure("BEGIN", e))?;
        sqlx::query(
            "UPDATE retort_fleet_targets SET state = $4, lease_until = NULL
              WHERE run = $1 AND target = $2 AND worker = $3 AND attempts = $5
                AND state = 'running'",
        )
        .bind(&self.run)
        .bind(&attempt.target)
        .bind(&self.worker)
        .bind(state)
        .bind(attempt.attempt as i32)
        .execute(&mut *tx)
        .await
        .map_err(|e| failure("recording a target's outcome", e))?;
        sqlx::query(
            "INSERT INTO retort_fleet_attempts (run, target, attempt, worker, started_at,
                    duration_ms, outcome, from_revisions, to_revisions, revisions, error_kind, error)
             VALUES ($1, $2, $3, $4, $5::timestamptz, $6, $7, $8, $9, $10, $11, $12)
             ON CONFLICT DO NOTHING",
        )
        .bind(&self.run)
        .bind(&attempt.target)
        .bind(attempt.attempt as i32)
        .bind(&self.worker)
        .bind(&attempt.started_at)
        .bind(attempt.duration_ms)
        .bind(attempt.outcome.as_str())
        .bind(&attempt.from)
        .bind(&attempt.to)
        .bind(&attempt.revisions)
        .bind(&attempt.error_kind)
        .bind(&attempt.error)
        .execute(&mut *tx)
        .await
        .map_err(|e| failure("recording an attempt", e))?;
        tx.commit().await.map_err(|e| failure("COMMIT", e))
    }

    /// Extends the leases of the targets this worker is running.
    pub async fn renew(&mut self) -> Result<(), FleetError> {
        sqlx::query(
            "UPDATE retort_fleet_targets
                SET lease_until = clock_timestamp() + make_interval(secs => $3)
              WHERE run = $1 AND worker = $2 AND state = 'running'",
        )
        .bind(&self.run)
        .bind(&self.worker)
        .bind(self.lease.as_secs_f64())
        .execute(&mut self.conn)
        .await
        .map(|_| ())
        .map_err(|e| failure("renewing the leases", e))
    }

    /// [`Control::state`], or its last reading if that is recent.
    pub async fn recent_state(&mut self, canary: usize) -> Result<QueueState, FleetError> {
        match self.last_state {
            Some((at, state)) if at.elapsed() < STATE_EVERY => Ok(state),
            _ => self.state(canary).await,
        }
    }

    /// The run's targets by state, over every worker.
    pub async fn state(&mut self, canary: usize) -> Result<QueueState, FleetError> {
        let sql = "SELECT
                count(*) FILTER (WHERE state = 'queued'),
                count(*) FILTER (WHERE state = 'running' AND lease_until >= clock_timestamp()),
                count(*) FILTER (WHERE state = 'running' AND lease_until < clock_timestamp()),
                count(*) FILTER (WHERE state = 'failed'),
                count(*) FILTER (WHERE state = 'failed' AND position < $2)
            FROM retort_fleet_targets WHERE run = $1";
        let row: (i64, i64, i64, i64, i64) = sqlx::query_as(sql)
            .bind(&self.run)
            .bind(canary as i32)
            .fetch_one(&mut self.conn)
            .await
            .map_err(|e| failure("reading the queue", e))?;
        let state = QueueState {
            queued: row.0,
            running: row.1,
            expired: row.2,
            failed: row.3,
            canary_failed: row.4,
        };
        self.last_state = Some((std::time::Instant::now(), state));
        Ok(state)
    }

    /// Puts the run's failed targets back in the queue (`retry --failed`); returns how many.
    pub async fn requeue_failed(&mut self) -> Result<u64, FleetError> {
        sqlx::query(
            "UPDATE retort_fleet_targets SET state = 'queued', worker = NULL, lease_until = NULL
              WHERE run = $1 AND state = 'failed'",
        )
        .bind(&self.run)
        .execute(&mut self.conn)
        .await
        .map(|r| r.rows_affected())
        .map_err(|e| failure("putting failed targets back in the queue", e))
    }

    /// Closes the connection.
    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}
