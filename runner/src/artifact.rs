//! Migration artifacts: the `*.wasm` component files of a migrations directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest, Sha256};

use crate::bindings::MigrationInfo;
use crate::observe::Observer;
use crate::sandbox::{Prepared, Sandbox, SandboxError};

/// One loaded migration.
#[derive(Clone)]
pub struct Artifact {
    /// Where it was read from.
    pub path: PathBuf,
    /// SHA-256 of its bytes, lowercase hex.
    pub digest: String,
    /// The component's bytes.
    pub bytes: Arc<Vec<u8>>,
    /// What the migration says about itself.
    pub info: MigrationInfo,
    /// Compiled and linked, ready to instantiate.
    pub prepared: Prepared,
}

/// Why a migrations directory could not be loaded.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ArtifactError {
    /// The directory could not be read.
    #[error("cannot read migrations directory {path}: {source}")]
    Directory {
        /// The directory.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is not a usable component, or it trapped while describing itself.
    #[error(transparent)]
    Sandbox(#[from] SandboxError),
    /// The metadata is unusable.
    #[error("{path}: bad metadata: {message}")]
    Metadata {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// SHA-256 of `bytes`, lowercase hex. Pinned: stored digests must stay comparable forever.
pub fn digest(bytes: &[u8]) -> String {
    let hash = Sha256::digest(bytes);
    hash.iter().map(|b| format!("{b:02x}")).collect()
}

/// Loads one artifact: reads, digests, compiles and asks it for its metadata.
pub async fn load(
    sandbox: &Sandbox,
    path: &Path,
    observer: Arc<dyn Observer>,
) -> Result<Artifact, ArtifactError> {
    let (bytes, digest, prepared) = compile(sandbox, path)?;
    describe(sandbox, path, bytes, digest, prepared, observer).await
}

/// An artifact stored in the database (`retort_artifacts`), used when the migrations
/// directory no longer has it: its digest must match the one recorded when it was applied,
/// and it must say it is `revision`.
pub async fn from_database(
    sandbox: &Sandbox,
    database: &str,
    revision: &str,
    digest: &str,
    bytes: Vec<u8>,
    observer: Arc<dyn Observer>,
) -> Result<Artifact, ArtifactError> {
    let shown = format!("{database}:retort_artifacts/{digest}");
    let actual = self::digest(&bytes);
    if actual != digest {
        return Err(ArtifactError::Metadata {
            path: shown,
            message: format!(
                "the stored bytes hash to {actual}, not to the recorded {digest}: refusing them"
            ),
        });
    }
    let prepared = sandbox.prepare(&shown, digest, &bytes)?;
    let info = sandbox.metadata(&prepared, observer).await?;
    if info.id != revision {
        return Err(ArtifactError::Metadata {
            path: shown,
            message: format!(
                "the stored artifact says it is {}, but history recorded it for {revision}",
                info.id
            ),
        });
    }
    Ok(Artifact {
        path: PathBuf::from(shown),
        digest: digest.to_string(),
        bytes: Arc::new(bytes),
        info,
        prepared,
    })
}

/// An artifact's bytes, digest and compiled component.
type Compiled = (Vec<u8>, String, Prepared);

/// Reads, digests and compiles (CPU-bound: run several at once).
fn compile(sandbox: &Sandbox, path: &Path) -> Result<Compiled, ArtifactError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ArtifactError::Read {
        path: shown.clone(),
        source,
    })?;
    let digest = digest(&bytes);
    let prepared = sandbox.prepare(&shown, &digest, &bytes)?;
    Ok((bytes, digest, prepared))
}

async fn describe(
    sandbox: &Sandbox,
    path: &Path,
    bytes: Vec<u8>,
    digest: String,
    prepared: Prepared,
    observer: Arc<dyn Observer>,
) -> Result<Artifact, ArtifactError> {
    let shown = path.display().to_string();
    let info = sandbox.metadata(&prepared, observer).await?;
    check_metadata(&shown, path, &info)?;
    Ok(Artifact {
        path: path.to_path_buf(),
        digest,
        bytes: Arc::new(bytes),
        info,
        prepared,
    })
}

fn check_metadata(shown: &str, path: &Path, info: &MigrationInfo) -> Result<(), ArtifactError> {
    let bad = |message: String| {
        Err(ArtifactError::Metadata {
            path: shown.to_string(),
            message,
        })
    };
    let valid_id = |id: &str| {
        !id.is_empty()
            && id.len() <= 128
            && id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    if !valid_id(&info.id) {
        return bad(format!(
            "id `{}` must be 1–128 characters of A–Z, a–z, 0–9, `-` and `_`",
            info.id
        ));
    }
    if let Some(p) = info.parents.iter().find(|p| !valid_id(p)) {
        return bad(format!("parent `{p}` is not a valid revision id"));
    }
    if info.parents.contains(&info.id) {
        return bad(format!("revision {} names itself as a parent", info.id));
    }
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let file_id = stem.split_once('_').map_or(stem, |(id, _)| id);
    if file_id != info.id {
        return bad(format!(
            "the file name says revision `{file_id}` but the migration says `{}`; name the file `{}_<description>.wasm`",
            info.id, info.id
        ));
    }
    Ok(())
}

/// Loads every `*.wasm` in `dir`, in file-name order. A missing directory holds nothing.
pub async fn load_dir(
    sandbox: &Sandbox,
    dir: &Path,
    observer: Arc<dyn Observer>,
) -> Result<Vec<Artifact>, ArtifactError> {
    let mut paths = Vec::new();
    match std::fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry.map_err(|source| ArtifactError::Directory {
                    path: dir.display().to_string(),
                    source,
                })?;
                let path = entry.path();
                if path.extension().is_some_and(|e| e == "wasm") && path.is_file() {
                    paths.push(path);
                }
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(ArtifactError::Directory {
                path: dir.display().to_string(),
                source,
            });
        }
    }
    paths.sort();
    // Compile on every core before the first migration runs; cached components load in
    // well under a millisecond each.
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(paths.len().max(1));
    let next = std::sync::atomic::AtomicUsize::new(0);
    let mut compiled: Vec<Option<Result<Compiled, ArtifactError>>> =
        (0..paths.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(path) = paths.get(i) else { break };
                        done.push((i, compile(sandbox, path)));
                    }
                    done
                })
            })
            .collect();
        for worker in workers {
            for (i, result) in worker.join().expect("a compile worker panicked") {
                compiled[i] = Some(result);
            }
        }
    });
    let mut artifacts = Vec::with_capacity(paths.len());
    for (path, result) in paths.iter().zip(compiled) {
        let (bytes, digest, prepared) = result.expect("every path was compiled")?;
        artifacts.push(describe(sandbox, path, bytes, digest, prepared, observer.clone()).await?);
    }
    Ok(artifacts)
}
