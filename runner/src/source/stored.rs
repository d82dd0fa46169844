//! The copies of applied artifacts stored in the database (`retort_artifacts`).

use async_trait::async_trait;

use super::{ArtifactError, Expected, MigrationSource, Offered};
use crate::db::HistoryStore;
use crate::db::{self, Access, Backend};
use crate::trust::signing::Trust;

/// Stored copies of the applied revisions `wanted` (revision and recorded digest), read from
/// the database at `url` without changing it. A revision whose copy is not stored is left
/// out (the plan then reports it as applied but missing). Each copy must hash to its recorded
/// digest and name itself as its revision.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// The database's URL.
    pub url: String,
    /// The revisions to read.
    pub wanted: Vec<Expected>,
}

#[async_trait]
impl MigrationSource for Stored {
    fn describe(&self) -> String {
        format!("{} (retort_artifacts)", db::redact(&self.url))
    }

    async fn offer(&self, database: &str, _trust: &Trust) -> Result<Vec<Offered>, ArtifactError> {
        let mut backend = db::connect(&self.url, Access::ReadOnly).await?;
        let read = read_all(backend.as_mut(), &self.wanted, database).await;
        backend.close().await;
        read
    }

    /// No: a database's stored copies are read rarely (a downgrade after their source is
    /// gone), and a file per database URL would pile up in the cache over a fleet's tenants.
    fn keeps_metadata(&self) -> bool {
        false
    }

    async fn runtime(&self, digest: &str) -> Result<Option<Vec<u8>>, ArtifactError> {
        let mut backend = db::connect(&self.url, Access::ReadOnly).await?;
        let read = backend.load_artifact(digest).await;
        backend.close().await;
        Ok(read?)
    }
}

async fn read_all(
    backend: &mut dyn Backend,
    wanted: &[Expected],
    database: &str,
) -> Result<Vec<Offered>, ArtifactError> {
    let mut offered = Vec::new();
    for expected in wanted {
        if let Some(bytes) = backend.load_artifact(&expected.digest).await? {
            offered.push(Offered {
                name: format!("{database}:retort_artifacts/{}", expected.digest),
                bytes,
                expected: Some(expected.clone()),
            });
        }
    }
    Ok(offered)
}
