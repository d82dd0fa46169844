//! Migrations compiled into the application binary (`retort::embed!`).

use async_trait::async_trait;

use super::{ArtifactError, MigrationSource, Offered};
use crate::core::Embedded;
use crate::trust::signing::Trust;

#[async_trait]
impl MigrationSource for Embedded {
    fn describe(&self) -> String {
        format!("{} (embedded)", self.dir)
    }

    async fn offer(&self, _database: &str, _trust: &Trust) -> Result<Vec<Offered>, ArtifactError> {
        Ok(self
            .files
            .iter()
            .filter(|(file, _)| !file.starts_with(RUNTIMES))
            .map(|(file, bytes)| Offered {
                name: format!("{}/{file}", self.describe()),
                bytes: bytes.to_vec(),
                expected: None,
            })
            .collect())
    }

    async fn runtime(&self, digest: &str) -> Result<Option<Vec<u8>>, ArtifactError> {
        let suffix = format!("-{digest}.wasm");
        Ok(self
            .files
            .iter()
            .find(|(file, _)| file.starts_with(RUNTIMES) && file.ends_with(&suffix))
            .map(|(_, bytes)| bytes.to_vec()))
    }
}

/// Where `retort::embed!` puts the runtimes of the directory's `runtimes/` in
/// [`Embedded::files`].
const RUNTIMES: &str = "runtimes/";
