//! The scratch databases the runner rehearses on (`check`'s round trip, offline SQL,
//! `resolve`'s schema check): made on a server of the database's engine, configured like the
//! database, with copies of its capability directories (so a rehearsal changes no file of the
//! project), and dropped after.

use crate::core::DialectExt;
use std::path::{Path, PathBuf};

use super::step::Protocol;
use super::{Error, Migrations, Runner};
use crate::core::Direction;
use crate::db::Backend;
use crate::db::scratch::Scratch;
use crate::db::{self, DbError};
use crate::host::capability::CapabilityError;
use crate::project::DatabaseConfig;

/// A scratch database and the configuration to run `db`'s migrations on it.
pub(super) struct ScratchDb {
    /// Like the database's, with the scratch URL, no `migration_url`, copied capabilities.
    pub(super) config: DatabaseConfig,
    scratch: Scratch,
    _files: tempfile::TempDir,
}

/// Rehearsals: runs of a database's migrations on scratch databases Retort makes and drops
/// (beside the database: on its server, or as a temporary SQLite file), which never touch
/// the database itself — the schema the migrations make compared with a declared one, the
/// statements a run would send, the check behind settling an unfinished revision. From
/// [`Runner::rehearsal`].
pub struct Rehearsal<'r> {
    pub(super) runner: &'r Runner,
    pub(super) server: Option<String>,
}

impl Runner {
    /// Rehearsals on scratch databases made beside each database (see [`Rehearsal`]).
    pub fn rehearsal(&self) -> Rehearsal<'_> {
        Rehearsal {
            runner: self,
            server: None,
        }
    }
}

impl Rehearsal<'_> {
    /// Makes the scratch databases on `server` instead (a URL of the database's engine whose
    /// account may create databases): for a database whose own account may not, or whose
    /// server should not be burdened.
    pub fn on_server(mut self, server: impl Into<String>) -> Self {
        self.server = Some(server.into());
        self
    }
}

impl Runner {
    /// Makes a scratch database for `db` on `server` (which must be of `db`'s engine).
    pub(super) async fn scratch_for(
        &self,
        db: &DatabaseConfig,
        server: &str,
    ) -> Result<ScratchDb, Error> {
        if crate::core::Dialect::of_url(server) != crate::core::Dialect::of_url(&db.url) {
            return Err(Error::Config(crate::project::ConfigError {
                path: "the scratch server".into(),
                problems: vec![format!(
                    "the scratch server {} is not the engine of database `{}` ({})",
                    db::redact(server),
                    db.name,
                    db::redact(&db.url)
                )],
            }));
        }
        let wrap = |source| Error::Db {
            database: db.name.clone(),
            source,
        };
        let files = tempfile::Builder::new()
            .prefix("retort-scratch-files-")
            .tempdir()
            .map_err(|e| {
                wrap(DbError::Lost(format!(
                    "cannot make a temporary directory: {e}"
                )))
            })?;
        let capabilities =
            copied_capabilities(&db.capabilities, files.path()).map_err(|source| {
                Error::Capability {
                    database: db.name.clone(),
                    source,
                }
            })?;
        let scratch = Scratch::create(server, &db.name, true)
            .await
            .map_err(wrap)?;
        let config = DatabaseConfig {
            url: scratch.url.clone(),
            migration_url: None,
            capabilities,
            ..db.clone()
        };
        Ok(ScratchDb {
            config,
            scratch,
            _files: files,
        })
    }
}

impl Runner {
    /// Upgrades through `ids` in order, each by its own protocol: how a rehearsal brings a
    /// scratch database to a state. Stops at the first failure, naming its revision.
    pub(super) async fn upgrade_through(
        &self,
        mut backend: Box<dyn Backend>,
        db: &DatabaseConfig,
        migrations: &Migrations,
        ids: &[String],
    ) -> (Box<dyn Backend>, Result<(), (String, Error)>) {
        for id in ids {
            let artifact = migrations
                .get(id)
                .expect("rehearsals name loaded revisions");
            let protocol = Protocol::choose(
                backend.ddl_commits_implicitly(),
                artifact.info.transactional,
                false,
            );
            let (b, ran) = self
                .run_step(backend, db, artifact, Direction::Upgrade, protocol)
                .await;
            backend = b;
            if let Err(e) = ran {
                return (backend, Err((id.clone(), rehearsed(e))));
            }
        }
        (backend, Ok(()))
    }
}

/// A migration's failure in a rehearsal: what it left is on the scratch database, which is
/// dropped, so the state it names is the rehearsal's — never "run `retort resolve`" about a
/// database the user cannot see.
pub(super) fn rehearsed(mut e: Error) -> Error {
    if let Error::Migration { state, .. } = &mut e {
        *state = super::FailureState::Rehearsal;
    }
    e
}

impl ScratchDb {
    /// Drops the scratch database, then returns `result` (its error first, if both failed).
    pub(super) async fn finish<T>(self, result: Result<T, Error>) -> Result<T, Error> {
        let database = self.config.name.clone();
        let dropped = self.scratch.drop_database().await;
        let value = result?;
        dropped.map_err(|source| Error::Db { database, source })?;
        Ok(value)
    }
}

/// A fresh copy of each capability's directory under `into`.
fn copied_capabilities(
    capabilities: &std::collections::BTreeMap<String, PathBuf>,
    into: &Path,
) -> Result<std::collections::BTreeMap<String, PathBuf>, CapabilityError> {
    let mut out = std::collections::BTreeMap::new();
    for (name, dir) in capabilities {
        let copy = into.join(name);
        copy_dir(dir, &copy).map_err(|source| CapabilityError::Io {
            action: "copy for the rehearsal",
            name: name.clone(),
            path: dir.clone(),
            source,
        })?;
        out.insert(name.clone(), copy);
    }
    Ok(out)
}

/// Copies regular files and directories (links and special files are not followed).
fn copy_dir(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    if !from.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let kind = entry.file_type()?;
        let target = to.join(entry.file_name());
        if kind.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else if kind.is_file() {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
