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
            .map(|(file, bytes)| Offered {
                name: format!("{}/{file}", self.describe()),
                bytes: bytes.to_vec(),
                expected: None,
            })
            .collect())
    }
}
