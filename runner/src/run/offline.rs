//! Offline SQL (`upgrade --sql`, `downgrade --sql`): the statements a run would send, in
//! order, with Retort's bookkeeping, without touching the target. The target's history is
//! read to plan; the plan is then rehearsed on a scratch database of the same engine brought
//! to the target's revisions, recording what each migration sends. For a SQL migration that
//! is its script, exactly; for a code migration it is what it sent there, which can depend on
//! the rows it read (the scratch database holds only what the migrations themselves wrote).

use crate::core::DialectExt;
use std::sync::{Arc, Mutex};

use super::check::chain;
use super::step::Protocol;
use super::{Error, Migrations, Rehearsal, Runner, applied_set, check_built};
use crate::core::Direction;
use crate::core::plan::{Step, Target};
use crate::db::recording::{Log, Recorded, Recording};
use crate::db::{Backend, HistoryStore};
use crate::project::DatabaseConfig;

/// What one migration sent in the rehearsal.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OfflineStep {
    /// The revision.
    pub revision: String,
    /// Its description.
    pub description: String,
    /// Upgrade or downgrade.
    pub direction: Direction,
    /// A SQL migration: its statements are its script's, whatever the data.
    pub exact: bool,
    /// In the order they were sent.
    pub statements: Vec<Recorded>,
}

/// The offline SQL of one database.
#[derive(Clone, Debug, serde::Serialize)]
pub struct OfflineSql {
    /// The database's name in the project.
    pub database: String,
    /// Its engine: `postgres`, `mysql` or `sqlite`.
    pub dialect: String,
    /// Its current revisions (the tips of what is applied), where the steps start.
    pub current: Vec<String>,
    /// The steps, in order.
    pub steps: Vec<OfflineStep>,
}

impl Runner {
    /// Brings the scratch database to `applied`, then runs `steps` recording each.
    async fn rehearse(
        &self,
        backend: Box<dyn Backend>,
        db: &DatabaseConfig,
        migrations: &Migrations,
        applied: &[String],
        steps: Vec<Step>,
    ) -> (Box<dyn Backend>, Result<Vec<OfflineStep>, Error>) {
        let log: Log = Arc::new(Mutex::new(None));
        let mut backend: Box<dyn Backend> = Box::new(Recording::new(backend, log.clone()));
        if let Err(source) = backend.create_history().await {
            let database = db.name.clone();
            return (backend, Err(Error::Db { database, source }));
        }
        let rehearsal: Vec<(String, Direction, bool)> = applied
            .iter()
            .map(|id| (id.clone(), Direction::Upgrade, false))
            .chain(steps.into_iter().map(|s| (s.revision, s.direction, true)))
            .collect();
        let mut out = Vec::new();
        for (id, direction, recorded) in rehearsal {
            let artifact = migrations
                .get(&id)
                .expect("plans only name loaded revisions");
            let protocol = Protocol::choose(
                backend.ddl_commits_implicitly(),
                artifact.info.transactional,
                false,
            );
            *log.lock().unwrap_or_else(|p| p.into_inner()) = recorded.then(Vec::new);
            let (b, ran) = self
                .run_step(backend, db, artifact, direction, protocol)
                .await;
            backend = b;
            let statements = log
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take()
                .unwrap_or_default();
            if let Err(e) = ran {
                let stage = if recorded {
                    "rehearsing"
                } else {
                    "bringing the scratch database to the target's revisions, at"
                };
                return (
                    backend,
                    Err(Error::Rehearsal {
                        database: db.name.clone(),
                        message: format!(
                            "{stage} {direction} of {id}: {}",
                            chain(&super::scratch::rehearsed(e))
                        ),
                    }),
                );
            }
            if recorded {
                out.push(OfflineStep {
                    revision: id.clone(),
                    description: artifact.info.description.clone(),
                    direction,
                    exact: artifact
                        .prepared
                        .runtime()
                        .is_some_and(|r| r.language == crate::host::runtime::SQL),
                    statements: statements
                        .into_iter()
                        .filter(|s| !s.sql.contains("SET journal"))
                        .collect(),
                });
            }
        }
        (backend, Ok(out))
    }
}

impl Rehearsal<'_> {
    /// The statements moving `db` to `target` would send (see the module documentation),
    /// rehearsed on a scratch database made on `scratch_server` (default: beside `db`).
    /// Reads the target's history; changes nothing there.
    pub async fn offline_sql(
        &self,
        db: &DatabaseConfig,
        direction: Direction,
        target: &Target,
    ) -> Result<OfflineSql, Error> {
        let scratch_server = self.server.as_deref();
        check_built(
            db,
            direction,
            self.runner.observer.as_ref(),
            self.runner.build_sources,
        )?;
        let migrations = self.runner.load(db).await?;
        let history = self.runner.history(db).await?;
        let migrations = self
            .runner
            .with_stored_artifacts(db, migrations, &history)
            .await?;
        self.runner.check_integrity(db, &migrations, &history)?;
        let steps = self
            .runner
            .plan_steps(db, &migrations, &history, direction, target)?;
        let applied = applied_set(&history);
        let current = migrations.graph.tips(&applied);
        let applied: Vec<String> = migrations
            .graph
            .order()
            .iter()
            .filter(|id| applied.contains(*id))
            .cloned()
            .collect();
        let scratch = self
            .runner
            .scratch_for(db, scratch_server.unwrap_or(&db.url))
            .await?;
        let config = &scratch.config;
        let rehearsed = self
            .runner
            .locked(config, |backend| {
                self.runner
                    .rehearse(backend, config, &migrations, &applied, steps)
            })
            .await;
        let steps = scratch.finish(rehearsed).await?;
        // `postgres`, `mysql` or `sqlite`, whichever spelling the URL uses.
        let dialect = crate::core::Dialect::of_url(&db.url).map_or("", |d| d.name());
        Ok(OfflineSql {
            database: db.name.clone(),
            dialect: dialect.to_string(),
            current,
            steps,
        })
    }
}
