//! Commands that repair or adopt bookkeeping (stamp, resolve, accept-rebuild, adopting another
//! tool's history) and `current`.

use std::time::Duration;

use super::step::Protocol;
use super::{CurrentRevision, Error, Ran, Report, Resolution, Runner, applied_set};
use crate::core::Direction;
use crate::core::plan::{self, PlanError, Target};
use crate::db::HistoryStore;
use crate::db::{self, Access, DbError, HistoryRow, RowState};
use crate::project::DatabaseConfig;
use crate::source::artifact::ArtifactError;

/// The history another tool recorded, mapped onto this project's revisions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adoption {
    /// Every version the tool recorded as applied, as Retort revision ids, oldest first
    /// (Alembic: the heads its database is at).
    pub versions: Vec<String>,
    /// The revisions to stamp, in turn, each with what lies below it: the newest version (a
    /// tool that records every version it ran), or each head (Alembic, which records only
    /// those).
    pub stamp: Vec<String>,
}

/// Repairs and inspections of a database's history, for operators and tools rather than
/// for an application's deploy: settling an unfinished revision without the schema check,
/// accepting rebuilt artifacts, adopting another tool's history, reading what was applied.
/// From [`Runner::maintenance`].
pub struct Maintenance<'r> {
    pub(super) runner: &'r Runner,
}

impl Runner {
    /// Repairs and inspections of a database's history (see [`Maintenance`]).
    pub fn maintenance(&self) -> Maintenance<'_> {
        Maintenance { runner: self }
    }
}

impl Runner {
    /// Settles a revision an earlier run left unfinished. `Applied` and
    /// `RolledBack` are first checked against the schema ([`Rehearsal::check_resolution`](super::Rehearsal::check_resolution)).
    pub async fn resolve(
        &self,
        db: &DatabaseConfig,
        revision: &str,
        resolution: Resolution,
    ) -> Result<RowState, Error> {
        self.rehearsal()
            .check_resolution(db, revision, resolution)
            .await?;
        self.maintenance()
            .resolve_unchecked(db, revision, resolution)
            .await
    }

    /// The versions `tool` recorded as applied in this database (its own history table), as
    /// Retort revision ids, oldest first. Read-only.
    pub(crate) async fn tool_versions(
        &self,
        db: &DatabaseConfig,
        tool: crate::authoring::import::Tool,
    ) -> Result<Vec<String>, Error> {
        let wrap = |source| Error::Db {
            database: db.name.clone(),
            source,
        };
        let sql = crate::authoring::import::applied_versions_sql(tool);
        let doing = format!("reading the {} history table", tool.name());
        let mut backend = db::connect(&db.url, Access::ReadOnly).await.map_err(wrap)?;
        let rows = backend.host_query(&doing, sql, &[]).await;
        backend.close().await;
        let versions = rows
            .map_err(wrap)?
            .into_iter()
            .map(|row| match row.into_iter().next() {
                Some(crate::bindings::Value::Text(t)) => Ok(t),
                Some(crate::bindings::Value::Integer(i)) => Ok(i.to_string()),
                Some(crate::bindings::Value::Decimal(d)) => Ok(d),
                _ => Err(wrap(DbError::Statement {
                    doing: doing.clone(),
                    statement: sql.into(),
                    code: None,
                    message: "a version is neither text nor a number".into(),
                })),
            });
        versions.collect::<Result<Vec<_>, _>>().map(|versions| {
            versions
                .iter()
                .map(|v| crate::authoring::import::id_of(v.trim()))
                .collect()
        })
    }

    /// Records the revisions that make `target` current as applied (or removes them going
    /// down) without running them: adopting a database migrated by other means.
    pub async fn stamp(&self, db: &DatabaseConfig, target: &Target) -> Result<Report, Error> {
        let migrations = self.load(db).await?;
        let wrap = |source| Error::Db {
            database: db.name.clone(),
            source,
        };
        self.locked(db, |mut backend| async {
            let result = async {
                backend.create_history().await.map_err(wrap)?;
                let history = backend.history().await.map_err(wrap)?;
                if let Some(row) = history.iter().find(|r| r.state != RowState::Applied) {
                    return Err(Error::Unfinished {
                        database: db.name.clone(),
                        revision: row.revision.clone(),
                        state: row.state.as_str(),
                    });
                }
                let mut applied = applied_set(&history);
                let steps = plan::stamp(&migrations.graph, &applied, target).map_err(|source| {
                    Error::Plan {
                        database: db.name.clone(),
                        source,
                    }
                })?;
                backend.begin().await.map_err(wrap)?;
                let mut ran = Vec::new();
                for step in steps {
                    let artifact = migrations
                        .get(&step.revision)
                        .expect("plans only name loaded revisions");
                    let recorded = match step.direction {
                        Direction::Upgrade => {
                            let stored = backend
                                .store_artifact(&artifact.digest, &artifact.bytes)
                                .await;
                            if let Err(e) = stored {
                                let _ = backend.rollback().await;
                                return Err(wrap(e));
                            }
                            backend
                                .insert_history(&HistoryRow {
                                    revision: artifact.info.id.clone(),
                                    parents: artifact.info.parents.clone(),
                                    description: artifact.info.description.clone(),
                                    digest: artifact.digest.clone(),
                                    state: RowState::Applied,
                                    applied_at: db::now_rfc3339(),
                                    applied_by: format!("{} (stamp)", db::runner_identity()),
                                    duration_ms: 0,
                                    journal: None,
                                    signer: artifact.signer.clone(),
                                    notes: None,
                                })
                                .await
                        }
                        Direction::Downgrade => backend.delete_history(&step.revision).await,
                    };
                    if let Err(e) = recorded {
                        let _ = backend.rollback().await;
                        return Err(wrap(e));
                    }
                    match step.direction {
                        Direction::Upgrade => applied.insert(step.revision.clone()),
                        Direction::Downgrade => applied.remove(&step.revision),
                    };
                    ran.push(Ran {
                        revision: step.revision,
                        description: artifact.info.description.clone(),
                        direction: step.direction,
                        duration: Duration::ZERO,
                        undid_nothing: false,
                    });
                }
                backend.commit().await.map_err(wrap)?;
                Ok(Report {
                    database: db.name.clone(),
                    steps: ran,
                    dry_run: false,
                    current: migrations.graph.tips(&applied),
                })
            }
            .await;
            (backend, result)
        })
        .await
    }
}

impl Runner {
    /// The database's current revisions: the tips of what is applied, plus applied revisions
    /// the migrations directory no longer has. Empty at base. Read-only.
    pub async fn current(&self, db: &DatabaseConfig) -> Result<Vec<CurrentRevision>, Error> {
        let history = self.history(db).await?;
        let applied = applied_set(&history);
        let migrations = self.load(db).await?;
        let mut tips = migrations.graph.tips(&applied);
        tips.extend(
            applied
                .iter()
                .filter(|r| !migrations.graph.contains(r))
                .cloned(),
        );
        let heads = migrations.graph.heads();
        Ok(tips
            .into_iter()
            .map(|revision| CurrentRevision {
                description: history
                    .iter()
                    .find(|r| r.revision == revision)
                    .map(|r| r.description.clone())
                    .unwrap_or_default(),
                head: heads.contains(&revision),
                revision,
            })
            .collect())
    }
}

impl Maintenance<'_> {
    /// Loads and validates the artifacts of `db` like [`Runner::load`], without requiring
    /// them to form a graph on their own (a tool adding migrations not built yet).
    pub async fn load_artifacts(
        &self,
        db: &DatabaseConfig,
    ) -> Result<Vec<crate::source::Artifact>, Error> {
        self.runner
            .load_from(db, Runner::source_of(db).as_ref())
            .await
    }

    /// Accepts a deliberate rebuild of applied revisions: records the digest (and signer)
    /// of the artifacts now in the directory, with a note of the digest they replace and
    /// who accepted it. The new artifact must pass the signature policy and describe the
    /// same revision with the same parents.
    pub async fn accept_rebuild(
        &self,
        db: &DatabaseConfig,
        revisions: &[String],
    ) -> Result<Vec<(String, String, String)>, Error> {
        let migrations = self.runner.load(db).await?;
        let wrap = |source| Error::Db {
            database: db.name.clone(),
            source,
        };
        self.runner.locked(db, |mut backend| async {
            let result = async {
                let history = backend.history().await.map_err(wrap)?;
                let mut accepted = Vec::new();
                for wanted in revisions {
                    let id = plan::find_revision(&migrations.graph, wanted).map_err(
                        |source| Error::Plan {
                            database: db.name.clone(),
                            source,
                        },
                    )?;
                    let artifact = migrations.get(&id).expect("resolved ids have artifacts");
                    // Applied, or left unfinished by a failed run (its row keeps the digest
                    // of what ran; `resolve` then runs the accepted rebuild).
                    let Some(row) = history.iter().find(|r| r.revision == id) else {
                        return Err(Error::Plan {
                            database: db.name.clone(),
                            source: PlanError::NeverApplied(id),
                        });
                    };
                    if row.parents != artifact.info.parents {
                        return Err(Error::Artifact {
                            database: db.name.clone(),
                            source: ArtifactError::Metadata {
                                path: artifact.path.display().to_string(),
                                message: format!(
                                    "its parents ({}) differ from the applied revision's ({}): this is not a rebuild of the same migration",
                                    artifact.info.parents.join(", "),
                                    row.parents.join(", ")
                                ),
                            },
                        });
                    }
                    if row.digest == artifact.digest {
                        continue;
                    }
                    let note = format!(
                        "{} accept-rebuild by {}: sha256 {} replaced sha256 {}",
                        db::now_rfc3339(),
                        db::runner_identity(),
                        artifact.digest,
                        row.digest
                    );
                    backend.begin().await.map_err(wrap)?;
                    let done = async {
                        backend
                            .store_artifact(&artifact.digest, &artifact.bytes)
                            .await?;
                        backend
                            .replace_digest(
                                &id,
                                &artifact.digest,
                                artifact.signer.as_deref(),
                                &note,
                            )
                            .await?;
                        backend.commit().await
                    }
                    .await;
                    if let Err(e) = done {
                        let _ = backend.rollback().await;
                        return Err(wrap(e));
                    }
                    accepted.push((id, row.digest.clone(), artifact.digest.clone()));
                }
                Ok(accepted)
            }
            .await;
            (backend, result)
        })
        .await
    }

    /// Reads `tool`'s history table in this database and checks that every version it
    /// applied is a revision here (its migrations imported and built), so
    /// `stamp` can adopt the newest. Read-only.
    pub async fn adopt(
        &self,
        db: &DatabaseConfig,
        tool: crate::authoring::import::Tool,
    ) -> Result<Adoption, Error> {
        let versions = self.runner.tool_versions(db, tool).await?;
        let migrations = self.runner.load(db).await?;
        let fail = |unknown: Option<&String>| Error::Adopt {
            database: db.name.clone(),
            tool: tool.name(),
            unknown: unknown.cloned(),
        };
        let Some(newest) = versions.last().cloned() else {
            return Err(fail(None));
        };
        if let Some(unknown) = versions.iter().find(|v| !migrations.graph.contains(v)) {
            return Err(fail(Some(unknown)));
        }
        // Alembic keeps one row per head it is at, not the versions it applied.
        let stamp = match tool {
            crate::authoring::import::Tool::Alembic => versions.clone(),
            _ => vec![newest],
        };
        Ok(Adoption { versions, stamp })
    }

    /// The artifact applied for `revision` (an applied revision's id or unique prefix), as
    /// `retort_artifacts` stores it, with its history row: what was run, byte for byte, even
    /// when its source is gone. `Ok(None)` when no applied revision matches. Read-only.
    pub async fn applied_artifact(
        &self,
        db: &DatabaseConfig,
        revision: &str,
    ) -> Result<Option<(HistoryRow, Vec<u8>)>, Error> {
        let wrap = |source| Error::Db {
            database: db.name.clone(),
            source,
        };
        let history = self.runner.history(db).await?;
        let matching: Vec<&HistoryRow> = match history.iter().find(|r| r.revision == revision) {
            Some(exact) => vec![exact],
            None => history
                .iter()
                .filter(|r| r.revision.starts_with(revision))
                .collect(),
        };
        let row = match matching.as_slice() {
            [] => return Ok(None),
            [row] => (*row).clone(),
            rows => {
                return Err(Error::Plan {
                    database: db.name.clone(),
                    source: PlanError::Ambiguous {
                        prefix: revision.to_string(),
                        candidates: rows.iter().map(|r| r.revision.clone()).collect(),
                    },
                });
            }
        };
        let mut backend = db::connect(&db.url, Access::ReadOnly).await.map_err(wrap)?;
        let bytes = backend.load_artifact(&row.digest).await;
        backend.close().await;
        match bytes.map_err(wrap)? {
            Some(bytes) => Ok(Some((row, bytes))),
            None => Err(wrap(DbError::Lost(format!(
                "retort_artifacts has no artifact with the digest {} recorded for {}",
                row.digest, row.revision
            )))),
        }
    }

    /// [`Runner::resolve`] without the schema check: for a revision whose schema cannot be
    /// rehearsed, after checking it by hand.
    pub async fn resolve_unchecked(
        &self,
        db: &DatabaseConfig,
        revision: &str,
        resolution: Resolution,
    ) -> Result<RowState, Error> {
        let wrap = |source| Error::Db {
            database: db.name.clone(),
            source,
        };
        let migrations = if resolution == Resolution::Downgrade {
            Some(self.runner.load(db).await?)
        } else {
            None
        };
        self.runner
            .locked(db, |mut backend| async move {
                let history = match backend.history().await {
                    Ok(h) => h,
                    Err(e) => return (backend, Err(wrap(e))),
                };
                let Some(row) = history.iter().find(|r| r.revision == revision) else {
                    return (
                        backend,
                        Err(Error::Plan {
                            database: db.name.clone(),
                            source: PlanError::Unknown(revision.into()),
                        }),
                    );
                };
                let was = row.state;
                match resolution {
                    Resolution::Applied => {
                        let r = backend
                            .update_history(revision, RowState::Applied, row.duration_ms)
                            .await
                            .map_err(wrap);
                        (backend, r.map(|()| was))
                    }
                    Resolution::RolledBack => {
                        let r = backend.delete_history(revision).await.map_err(wrap);
                        (backend, r.map(|()| was))
                    }
                    Resolution::Downgrade => {
                        let Some(artifact) = migrations.as_ref().and_then(|m| m.get(revision))
                        else {
                            return (
                                backend,
                                Err(Error::Plan {
                                    database: db.name.clone(),
                                    source: PlanError::AppliedButMissing(vec![revision.into()]),
                                }),
                            );
                        };
                        let protocol = Protocol::choose(
                            backend.ddl_commits_implicitly(),
                            artifact.info.transactional,
                            false,
                        );
                        let (backend, result) = self
                            .runner
                            .run_step(backend, db, artifact, Direction::Downgrade, protocol)
                            .await;
                        (backend, result.map(|_| was))
                    }
                }
            })
            .await
    }
}
