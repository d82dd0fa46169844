//! A migrations directory: its `*.wasm` files.

use std::path::PathBuf;

use async_trait::async_trait;

use super::{ArtifactError, MigrationSource, Offered};
use crate::trust::signing::Trust;

/// The `*.wasm` files of a directory (not its subdirectories), and the runtimes of its
/// [`crate::host::runtime::RUNTIMES_DIR`] subdirectory. A directory that does not exist holds no migrations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Directory(pub PathBuf);

#[async_trait]
impl MigrationSource for Directory {
    fn describe(&self) -> String {
        self.0.display().to_string()
    }

    async fn offer(&self, _database: &str, _trust: &Trust) -> Result<Vec<Offered>, ArtifactError> {
        let dir = &self.0;
        let listing = |source| ArtifactError::Directory {
            path: dir.display().to_string(),
            source,
        };
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(listing(e)),
        };
        let mut offered = Vec::new();
        for entry in entries {
            let path = entry.map_err(listing)?.path();
            if path.extension().is_some_and(|e| e == "wasm") && path.is_file() {
                let name = path.display().to_string();
                let bytes = std::fs::read(&path).map_err(|source| ArtifactError::Read {
                    path: name.clone(),
                    source,
                })?;
                offered.push(Offered {
                    name,
                    bytes,
                    expected: None,
                });
            }
        }
        Ok(offered)
    }

    async fn runtime(&self, digest: &str) -> Result<Option<Vec<u8>>, ArtifactError> {
        let dir = self.0.join(crate::host::runtime::RUNTIMES_DIR);
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return Ok(None);
        };
        let suffix = format!("-{digest}.wasm");
        for entry in entries.flatten() {
            let path = entry.path();
            if path
                .file_name()
                .is_some_and(|n| n.to_string_lossy().ends_with(&suffix))
            {
                let bytes = std::fs::read(&path).map_err(|source| ArtifactError::Read {
                    path: path.display().to_string(),
                    source,
                })?;
                return Ok(Some(bytes));
            }
        }
        Ok(None)
    }
}
