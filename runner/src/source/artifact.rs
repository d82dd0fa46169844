//! Migration artifacts: the `*.wasm` component files of a migrations directory.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::bindings::MigrationInfo;
use crate::core::observe::Observer;
use crate::host::sandbox::{Prepared, Sandbox, SandboxError};
use crate::trust::signing::{self, Trust};

/// One loaded migration.
#[derive(Clone)]
pub struct Artifact {
    /// Where it was read from.
    pub path: PathBuf,
    /// SHA-256 of its bytes without the signature section, lowercase hex.
    pub digest: String,
    /// The key id (`SHA256:…`) of the trusted key that signed it, if one did.
    pub signer: Option<String>,
    /// The component's bytes.
    pub bytes: Arc<Vec<u8>>,
    /// What the migration says about itself.
    pub info: MigrationInfo,
    /// Compiled and linked, ready to instantiate.
    pub prepared: Prepared,
}

impl Artifact {
    /// This artifact's entry in a bundle manifest.
    pub fn bundle_entry(&self) -> crate::trust::bundle::Entry {
        let file = self
            .path
            .file_name()
            .and_then(|f| f.to_str())
            .map(str::to_string)
            .unwrap_or_else(|| format!("{}.wasm", self.info.id));
        crate::trust::bundle::Entry {
            id: self.info.id.clone(),
            parents: self.info.parents.clone(),
            description: self.info.description.clone(),
            file,
            digest: self.digest.clone(),
        }
    }
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
    /// The artifact is refused before anything runs: unsigned where signatures are required,
    /// tampered with, or signed by a key the project does not trust.
    #[error("refusing {path}: {reason}")]
    Refused {
        /// The file.
        path: String,
        /// Why.
        reason: String,
    },
    /// The metadata is unusable.
    #[error("{path}: bad metadata: {message}")]
    Metadata {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// SHA-256 of an artifact without its signature section, lowercase hex. Pinned: stored
/// digests must stay comparable forever.
pub fn digest(bytes: &[u8]) -> String {
    signing::digest(bytes)
}

/// Where artifacts come from and what they must satisfy.
#[derive(Clone, Copy)]
pub struct Source<'a> {
    /// The database they are loaded for (for messages).
    pub database: &'a str,
    /// The signature policy.
    pub trust: &'a Trust,
}

/// Checks the signature policy before anything else is done with the bytes; returns the
/// digest and the signer to record.
pub fn admit(
    shown: &str,
    bytes: &[u8],
    source: Source<'_>,
) -> Result<(String, Option<String>), ArtifactError> {
    let refused = |reason: String| ArtifactError::Refused {
        path: shown.to_string(),
        reason,
    };
    match signing::split(bytes) {
        Ok(split) => {
            let signer = source
                .trust
                .admit(&split, source.database)
                .map_err(refused)?;
            Ok((split.digest(), signer))
        }
        Err(e) if source.trust.required => {
            Err(refused(format!("cannot look for its signature: {e}")))
        }
        // Not WebAssembly: compiling it says so in detail.
        Err(_) => Ok((digest(bytes), None)),
    }
}

/// Loads one artifact: reads, checks its signature, digests, compiles and asks it for its
/// metadata.
pub async fn load(
    sandbox: &Sandbox,
    path: &Path,
    source: Source<'_>,
    observer: Arc<dyn Observer>,
) -> Result<Artifact, ArtifactError> {
    let compiled = compile(sandbox, path, source)?;
    describe(sandbox, path, compiled, observer).await
}

/// Loads an artifact held in memory (from a bundle); `path` is shown in messages and its
/// file name must name the revision, as in a directory.
pub async fn load_bytes(
    sandbox: &Sandbox,
    path: &Path,
    bytes: Vec<u8>,
    source: Source<'_>,
    observer: Arc<dyn Observer>,
) -> Result<Artifact, ArtifactError> {
    let compiled = compile_bytes(sandbox, &path.display().to_string(), bytes, source)?;
    describe(sandbox, path, compiled, observer).await
}

/// An artifact stored in the database (`retort_artifacts`), used when the migrations
/// directory no longer has it: its digest must match the one recorded when it was applied,
/// it must pass the signature policy, and it must say it is `revision`.
pub async fn from_database(
    sandbox: &Sandbox,
    source: Source<'_>,
    revision: &str,
    digest: &str,
    bytes: Vec<u8>,
    observer: Arc<dyn Observer>,
) -> Result<Artifact, ArtifactError> {
    let shown = format!("{}:retort_artifacts/{digest}", source.database);
    let (actual, signer) = admit(&shown, &bytes, source)?;
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
        signer,
        bytes: Arc::new(bytes),
        info,
        prepared,
    })
}

/// An artifact's bytes, digest, signer and compiled component.
struct Compiled {
    bytes: Vec<u8>,
    digest: String,
    signer: Option<String>,
    prepared: Prepared,
}

/// Reads, checks, digests and compiles (CPU-bound: run several at once).
fn compile(sandbox: &Sandbox, path: &Path, source: Source<'_>) -> Result<Compiled, ArtifactError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|source| ArtifactError::Read {
        path: shown.clone(),
        source,
    })?;
    compile_bytes(sandbox, &shown, bytes, source)
}

fn compile_bytes(
    sandbox: &Sandbox,
    shown: &str,
    bytes: Vec<u8>,
    source: Source<'_>,
) -> Result<Compiled, ArtifactError> {
    let (digest, signer) = admit(shown, &bytes, source)?;
    let prepared = sandbox.prepare(shown, &digest, &bytes)?;
    Ok(Compiled {
        bytes,
        digest,
        signer,
        prepared,
    })
}

async fn describe(
    sandbox: &Sandbox,
    path: &Path,
    compiled: Compiled,
    observer: Arc<dyn Observer>,
) -> Result<Artifact, ArtifactError> {
    let shown = path.display().to_string();
    let info = sandbox.metadata(&compiled.prepared, observer).await?;
    check_metadata(&shown, path, &info)?;
    Ok(Artifact {
        path: path.to_path_buf(),
        digest: compiled.digest,
        signer: compiled.signer,
        bytes: Arc::new(compiled.bytes),
        info,
        prepared: compiled.prepared,
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
    source: Source<'_>,
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
                        done.push((i, compile(sandbox, path, source)));
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
        let compiled = result.expect("every path was compiled")?;
        artifacts.push(describe(sandbox, path, compiled, observer.clone()).await?);
    }
    Ok(artifacts)
}
