//! `retort diff`: the declared schema (a database's `schema` file of plain DDL, run by the
//! engine itself on a scratch database — no SQL parser of ours) against the schema the
//! migrations make (rehearsed to head on another scratch database) or the database's own,
//! compared by catalog snapshot as `check` compares.

use super::check::chain;
use super::{Error, Migrations, Rehearsal, Runner};
use crate::core::DialectExt;
use crate::core::Direction;
use crate::core::snapshot::{Difference, Snapshot};
use crate::db::{self, Backend, HistoryStore};
use crate::project::DatabaseConfig;

/// What the declared schema is compared with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Against {
    /// The schema every migration up to the heads makes, on a scratch database.
    Head,
    /// The schema the migrations make up to a revision (id or unique prefix) and what it
    /// needs, on a scratch database.
    Revision(String),
    /// The database itself (read-only).
    Database,
}

/// The differences between a database's schema and its declared one.
#[derive(Clone, Debug)]
pub struct SchemaDiff {
    /// The database's name in the project.
    pub database: String,
    /// The declared schema's file.
    pub file: String,
    /// From the current schema to the declared one: `Added` objects are to be created,
    /// `Removed` ones dropped, `Changed` ones changed.
    pub differences: Vec<Difference>,
    /// The declared schema.
    pub declared: Snapshot,
    /// The schema it was compared with.
    pub current: Snapshot,
}

impl Runner {
    /// Runs the declared DDL on a scratch database and reads its catalog.
    async fn declared_schema(
        &self,
        db: &DatabaseConfig,
        server: &str,
        file: &str,
        sql: &str,
    ) -> Result<Snapshot, Error> {
        // Read in the database's own dialect; an unknown one is not guessed.
        let dialect = crate::core::Dialect::of_url(&db.url).ok_or_else(|| Error::Declared {
            database: db.name.clone(),
            file: file.to_string(),
            message: format!(
                "{} names no engine Retort knows",
                crate::db::redact(&db.url)
            ),
        })?;
        let statements = retort_sql::split(sql, dialect).map_err(|e| Error::Declared {
            database: db.name.clone(),
            file: file.to_string(),
            message: e,
        })?;
        let scratch = self.scratch_for(db, server).await?;
        let result = async {
            let wrap = |source| Error::Db {
                database: db.name.clone(),
                source,
            };
            let mut backend = db::connect(&scratch.config.url, db::Access::ReadWrite)
                .await
                .map_err(wrap)?;
            // Through the door a migration's SQL takes (SQLite's authorizer refuses an
            // ATTACH of the real file; on MySQL the scratch account reaches nothing else):
            // whoever wrote the declared schema, or the dump it came from, is not trusted more.
            for statement in &statements {
                if let Err(e) = backend.execute(statement, Vec::new()).await {
                    backend.close().await;
                    let message = match e {
                        db::SqlFailure::Guest(e) => crate::bindings::describe(&e),
                        db::SqlFailure::Fatal(e) => e.to_string(),
                    };
                    return Err(Error::Declared {
                        database: db.name.clone(),
                        file: file.to_string(),
                        message: format!(
                            "`{}`: {message} (run on a scratch database)",
                            db::truncate(statement, 120)
                        ),
                    });
                }
            }
            let snapshot = db::catalog::snapshot(backend.as_mut()).await;
            backend.close().await;
            snapshot.map_err(wrap)
        }
        .await;
        scratch.finish(result).await
    }

    /// The schema `ids` (in order) make, upgraded on a scratch database.
    async fn schema_at(
        &self,
        db: &DatabaseConfig,
        server: &str,
        migrations: &Migrations,
        ids: &[String],
    ) -> Result<Snapshot, Error> {
        let scratch = self.scratch_for(db, server).await?;
        let config = &scratch.config;
        let result = self
            .locked(config, |backend| {
                self.upgrade_all(backend, config, migrations, ids)
            })
            .await;
        scratch.finish(result).await
    }

    async fn upgrade_all(
        &self,
        mut backend: Box<dyn Backend>,
        db: &DatabaseConfig,
        migrations: &Migrations,
        ids: &[String],
    ) -> (Box<dyn Backend>, Result<Snapshot, Error>) {
        let wrap = |source| Error::Db {
            database: db.name.clone(),
            source,
        };
        if let Err(e) = backend.create_history().await {
            return (backend, Err(wrap(e)));
        }
        let (mut backend, upgraded) = self.upgrade_through(backend, db, migrations, ids).await;
        if let Err((id, e)) = upgraded {
            let message = format!("upgrade of {id}: {}", chain(&e));
            let database = db.name.clone();
            return (backend, Err(Error::Rehearsal { database, message }));
        }
        let snapshot = db::catalog::snapshot(backend.as_mut()).await;
        (backend, snapshot.map_err(wrap))
    }
}

impl Rehearsal<'_> {
    /// Compares `db`'s declared schema with `against` (see the module documentation).
    pub async fn diff(&self, db: &DatabaseConfig, against: Against) -> Result<SchemaDiff, Error> {
        let scratch_server = self.server.as_deref();
        let Some(file) = &db.schema else {
            return Err(Error::Config(crate::project::ConfigError {
                path: "retort.toml".into(),
                problems: vec![format!(
                    "database `{}` declares no schema: add `schema = \"schema.sql\"` (plain DDL \
                     in its dialect) to [databases.{}]",
                    db.name, db.name
                )],
            }));
        };
        let shown = file.display().to_string();
        let sql = std::fs::read_to_string(file).map_err(|e| {
            Error::Config(crate::project::ConfigError {
                path: shown.clone(),
                problems: vec![format!("{shown}: cannot read the declared schema: {e}")],
            })
        })?;
        let server = scratch_server.unwrap_or(&db.url);
        let declared = self
            .runner
            .declared_schema(db, server, &shown, &sql)
            .await?;
        let current = match against {
            Against::Database => self.runner.target_schema(db).await?,
            Against::Head | Against::Revision(_) => {
                // SQL migrations are built as an upgrade builds them; unbuilt others refused.
                super::check_built(
                    db,
                    Direction::Upgrade,
                    self.runner.observer.as_ref(),
                    self.runner.build_sources,
                )?;
                let migrations = self.runner.load(db).await?;
                let ids: Vec<String> = match &against {
                    Against::Revision(prefix) => {
                        let id = crate::core::plan::find_revision(&migrations.graph, prefix)
                            .map_err(|source| Error::Plan {
                                database: db.name.clone(),
                                source,
                            })?;
                        let needed = migrations.graph.requirements(&[&id]);
                        let order = migrations.graph.order().iter();
                        order.filter(|r| needed.contains(*r)).cloned().collect()
                    }
                    _ => migrations.graph.order().to_vec(),
                };
                self.runner.schema_at(db, server, &migrations, &ids).await?
            }
        };
        Ok(SchemaDiff {
            database: db.name.clone(),
            file: shown,
            differences: current.diff(&declared),
            declared,
            current,
        })
    }
}
