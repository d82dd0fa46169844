//! One database's migrations, loaded once and run on many databases: what a fleet
//! ([`crate::fleet`]) asks of the runner. The migrations are built, read, verified and
//! compiled once; each database is then read once to find out whether anything is to do,
//! and only then connected for writing and locked.

use super::{Error, Migrations, Report, Run, Runner, applied_set};
use crate::core::Direction;
use crate::db::RowState;
use crate::project::DatabaseConfig;

/// What one database's run did, with where it started.
pub(crate) struct Moved {
    /// The database's current revisions before the run.
    pub from: Vec<String>,
    /// What the run did (no steps: nothing was to do, and nothing was locked or written).
    pub report: Report,
}

impl Runner {
    /// Builds (when the runner builds sources), loads and verifies `db`'s migrations once for
    /// runs on many databases. Refuses migrations that require another database's revisions:
    /// such requirements name the project's databases, which a run over many URLs of one
    /// database's migrations cannot check.
    pub(crate) async fn prepare(
        &self,
        db: &DatabaseConfig,
        direction: Direction,
    ) -> Result<Migrations, Error> {
        super::check_built(db, direction, self.observer.as_ref(), self.build_sources)?;
        let migrations = self.load(db).await?;
        let requiring = migrations.artifacts.iter().find_map(|a| {
            a.info
                .requires
                .first()
                .map(|req| (a.info.id.clone(), req.clone()))
        });
        if let Some((revision, req)) = requiring {
            return Err(Error::CrossDatabase {
                database: db.name.clone(),
                revision,
                required_database: req.database,
                required_revision: req.revision,
                reason: "which a run over many databases of one project database's migrations \
                         cannot check: run it as a project of several databases"
                    .into(),
            });
        }
        Ok(migrations)
    }

    /// Runs `run` on `db` with `migrations` from [`Runner::prepare`]. The history is read
    /// once, read-only, on a connection from `readers`: when the plan is empty and no revision is unfinished, that read is
    /// the whole run (no lock, no write, one connection); otherwise the run proceeds as
    /// [`Runner::run`]'s does for one database, planning again under the lock.
    pub(crate) async fn run_prepared(
        &self,
        db: &DatabaseConfig,
        migrations: &Migrations,
        run: &Run,
        readers: &crate::db::Readers,
    ) -> Result<Moved, Error> {
        let history = readers.history(&db.url).await.map_err(|source| Error::Db {
            database: db.name.clone(),
            source,
        })?;
        self.check_integrity(db, migrations, &history)?;
        let from = migrations.graph.tips(&applied_set(&history));
        let unknown = history
            .iter()
            .any(|r| !migrations.graph.contains(&r.revision));
        let unfinished = history.iter().any(|r| r.state != RowState::Applied);
        if !unknown && !unfinished {
            let steps = self.plan_steps(db, migrations, &history, run.direction, &run.target)?;
            if steps.is_empty() {
                let report = Report {
                    database: db.name.clone(),
                    steps: Vec::new(),
                    dry_run: !run.apply,
                    current: from.clone(),
                };
                return Ok(Moved { from, report });
            }
        }
        let report = if unknown {
            // Applied revisions whose source is gone come from the database's own store.
            let with_stored = self
                .with_stored_artifacts(db, clone_migrations(self, db, migrations)?, &history)
                .await?;
            let (direction, target) = (run.direction, &run.target);
            self.migrate_read(db, &with_stored, history, direction, target, !run.apply)
                .await?
        } else {
            // The history just read is the read-only plan's; the lock plans again.
            let (direction, target) = (run.direction, &run.target);
            self.migrate_read(db, migrations, history, direction, target, !run.apply)
                .await?
        };
        Ok(Moved { from, report })
    }
}

/// A copy of `migrations` (its graph is rebuilt from the artifacts).
fn clone_migrations(
    runner: &Runner,
    db: &DatabaseConfig,
    migrations: &Migrations,
) -> Result<Migrations, Error> {
    runner.graph_of(db, migrations.artifacts.clone())
}
