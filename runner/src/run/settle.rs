//! Before a resolution as applied or rolled back records a claim about an unfinished
//! migration, the schema is asked: the migration's upgrade is rehearsed on a scratch database
//! brought to the other applied revisions, giving the schema without it and with it; the
//! objects it changes must be, in the target, as the claim says.

use super::check::chain;
use super::error::{Disagreement, Refusal};
use super::{Error, Migrations, Rehearsal, Runner};
use crate::core::snapshot::Snapshot;
use crate::db::{self, Access, Backend, HistoryStore, RowState};
use crate::project::DatabaseConfig;
use crate::run::Resolution;

/// The schema without the migration, with it (as far as its upgrade got in the rehearsal),
/// and why the rehearsal's upgrade failed, if it did.
struct Expected {
    without: Snapshot,
    with: Snapshot,
    failed: Option<String>,
}

impl Runner {
    /// The target's schema, read-only.
    pub(super) async fn target_schema(&self, db: &DatabaseConfig) -> Result<Snapshot, Error> {
        let wrap = |source| Error::Db {
            database: db.name.clone(),
            source,
        };
        let mut backend = db::connect(&db.url, Access::ReadOnly).await.map_err(wrap)?;
        let snapshot = db::catalog::snapshot(backend.as_mut()).await;
        backend.close().await;
        snapshot.map_err(wrap)
    }

    /// Rehearses on a scratch database: `applied`, then `revision`'s upgrade.
    async fn expected_schemas(
        &self,
        db: &DatabaseConfig,
        server: &str,
        migrations: &Migrations,
        applied: &[String],
        revision: &str,
    ) -> Result<Expected, Error> {
        let scratch = self.scratch_for(db, server).await?;
        let config = &scratch.config;
        let rehearsed = self
            .locked(config, |backend| {
                self.rehearse_one(backend, config, migrations, applied, revision)
            })
            .await;
        scratch.finish(rehearsed).await
    }

    async fn rehearse_one(
        &self,
        mut backend: Box<dyn Backend>,
        db: &DatabaseConfig,
        migrations: &Migrations,
        applied: &[String],
        revision: &str,
    ) -> (Box<dyn Backend>, Result<Expected, Error>) {
        let wrap = |source| Error::Db {
            database: db.name.clone(),
            source,
        };
        if let Err(e) = backend.create_history().await {
            return (backend, Err(wrap(e)));
        }
        let (mut backend, upgraded) = self.upgrade_through(backend, db, migrations, applied).await;
        if let Err((id, e)) = upgraded {
            return (
                backend,
                Err(Error::Rehearsal {
                    database: db.name.clone(),
                    message: format!("upgrade of {id}: {}", chain(&e)),
                }),
            );
        }
        let without = match db::catalog::snapshot(backend.as_mut()).await {
            Ok(s) => s,
            Err(e) => return (backend, Err(wrap(e))),
        };
        let (mut backend, upgraded) = self
            .upgrade_through(backend, db, migrations, &[revision.to_string()])
            .await;
        let failed = upgraded.err().map(|(_, e)| chain(&e));
        match db::catalog::snapshot(backend.as_mut()).await {
            Ok(with) => (
                backend,
                Ok(Expected {
                    without,
                    with,
                    failed,
                }),
            ),
            Err(e) => (backend, Err(wrap(e))),
        }
    }
}

impl Rehearsal<'_> {
    /// Checks `resolution` of `revision` against `db`'s schema (see the module
    /// documentation). `Ok(n)`: the `n` objects the migration changes are as claimed (0 for
    /// one that changes no schema, and for `Downgrade`, which needs no claim).
    pub async fn check_resolution(
        &self,
        db: &DatabaseConfig,
        revision: &str,
        resolution: Resolution,
    ) -> Result<usize, Error> {
        let scratch_server = self.server.as_deref();
        if resolution == Resolution::Downgrade {
            return Ok(0);
        }
        let refuse = |refusal| Error::Resolution {
            database: db.name.clone(),
            revision: revision.to_string(),
            claim: resolution,
            refusal,
        };
        let migrations = self.runner.load(db).await?;
        let history = self.runner.history(db).await?;
        let migrations = self
            .runner
            .with_stored_artifacts(db, migrations, &history)
            .await?;
        if migrations.get(revision).is_none() {
            return Err(refuse(Refusal::NoArtifact));
        }
        let applied: Vec<String> = migrations
            .graph
            .order()
            .iter()
            .filter(|id| *id != revision)
            .filter(|id| {
                history
                    .iter()
                    .any(|r| &r.revision == *id && r.state == RowState::Applied)
            })
            .cloned()
            .collect();
        let server = scratch_server.unwrap_or(&db.url);
        let expected = match self
            .runner
            .expected_schemas(db, server, &migrations, &applied, revision)
            .await
        {
            Err(e @ Error::Privileged { .. }) => {
                return Err(refuse(Refusal::Unprivileged(e.full_message())));
            }
            other => other?,
        };
        let target = self.runner.target_schema(db).await?;
        if resolution == Resolution::Applied
            && let Some(why) = &expected.failed
        {
            return Err(refuse(Refusal::UpgradeFails(why.clone())));
        }
        let keys = expected.without.changed_keys(&expected.with);
        let claimed = match resolution {
            Resolution::Applied => &expected.with,
            _ => &expected.without,
        };
        let disagree: Vec<Disagreement> = keys
            .iter()
            .filter(|k| target.get(k) != claimed.get(k))
            .map(|k| Disagreement {
                object: k.to_string(),
                found: target.get(k).map(str::to_string),
                claimed: claimed.get(k).map(str::to_string),
            })
            .collect();
        if disagree.is_empty() {
            return Ok(keys.len());
        }
        Err(refuse(Refusal::Disagrees(disagree)))
    }
}
