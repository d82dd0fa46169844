//! A bundle file made by `retort bundle`.

use std::path::PathBuf;

use async_trait::async_trait;

use super::{ArtifactError, MigrationSource, Offered};
use crate::trust::signing::Trust;

/// The artifacts of a bundle, after its manifest's signature and digests are checked (see
/// [`crate::trust::bundle`]); each artifact is then checked like one from a directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleFile(pub PathBuf);

#[async_trait]
impl MigrationSource for BundleFile {
    fn describe(&self) -> String {
        self.0.display().to_string()
    }

    async fn offer(&self, database: &str, trust: &Trust) -> Result<Vec<Offered>, ArtifactError> {
        let shown = self.describe();
        let refused = |reason: String| ArtifactError::Refused {
            path: shown.clone(),
            reason,
        };
        let opened = crate::trust::bundle::read(&self.0, trust, database).map_err(|source| {
            ArtifactError::Bundle {
                path: shown.clone(),
                source,
            }
        })?;
        if opened.manifest.database != database && database != crate::core::DEFAULT_DATABASE {
            return Err(refused(format!(
                "it holds the migrations of database `{}`, not of `{database}`",
                opened.manifest.database
            )));
        }
        Ok(opened
            .files
            .into_iter()
            .map(|(file, bytes)| Offered {
                name: format!("{shown}!/{file}"),
                bytes,
                expected: None,
            })
            .collect())
    }

    async fn runtime(&self, digest: &str) -> Result<Option<Vec<u8>>, ArtifactError> {
        crate::trust::bundle::read_runtime(&self.0, digest).map_err(|source| {
            ArtifactError::Bundle {
                path: self.describe(),
                source,
            }
        })
    }
}
