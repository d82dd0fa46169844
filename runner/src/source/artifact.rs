//! A loaded migration artifact, and the checks every source's bytes pass to become one.

use crate::core::DialectExt;
use std::path::{Path, PathBuf};

use super::Offered;
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
    /// Whether this is an SQL migration with nothing to run when downgraded on `dialect`: no
    /// statement in `down.<dialect>.sql` or `down.sql` (or neither), nothing kept to restore,
    /// and not written for another dialect only (whose downgrade is rightly nothing there).
    /// `false` where it cannot tell (Rust, Python and JavaScript decide in their code).
    pub fn has_no_downgrade(&self, dialect: retort_sql::Dialect) -> bool {
        let Some(Ok(script)) = crate::host::runtime::Script::decode(&self.bytes) else {
            return false;
        };
        if script.runtime.language != crate::host::runtime::SQL {
            return false;
        }
        // The SQL runtime's names for the dialects, in its files and settings.
        let name = dialect.name();
        let setting = |k: &str| script.settings.iter().find(|(key, _)| key == k);
        if setting("dialect").is_some_and(|(_, only)| only != name) || setting("keep").is_some() {
            return false;
        }
        // The file the SQL runtime runs (the dialect's, else the generic one), and whether it
        // has a statement (a missing down script is built as an empty `down.sql`).
        let file = |n: &str| script.files.iter().find(|f| f.name == n);
        let down = file(&format!("down.{name}.sql")).or_else(|| file("down.sql"));
        down.is_none_or(|f| retort_sql::split(&f.contents, dialect).is_ok_and(|s| s.is_empty()))
    }

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

/// Why a source's migrations could not be loaded.
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
    /// A bundle could not be read, or is refused (altered, untrusted).
    #[error("refusing {path}")]
    Bundle {
        /// The bundle.
        path: String,
        /// Why.
        source: crate::trust::bundle::BundleError,
    },
    /// Stored copies could not be read from the database.
    #[error(transparent)]
    Database(#[from] crate::db::DbError),
    /// The metadata is unusable.
    #[error("{path}: bad metadata: {message}")]
    Metadata {
        /// The file.
        path: String,
        /// What is wrong.
        message: String,
    },
}

/// SHA-256 of `bytes`, lowercase hex (of the whole input: callers strip signatures first).
pub fn digest(bytes: &[u8]) -> String {
    signing::digest(bytes)
}

/// The database an artifact is loaded for, and its trust policy.
#[derive(Clone, Copy)]
pub struct Policy<'a> {
    /// The database's name in the project.
    pub database: &'a str,
    /// Its trusted keys and whether it requires signatures.
    pub trust: &'a Trust,
}

/// Applies the trust policy to an artifact's bytes: its digest (without the signature) and
/// the key id of a trusted signer, or why it is refused.
pub fn admit(
    shown: &str,
    bytes: &[u8],
    policy: Policy<'_>,
) -> Result<(String, Option<String>), ArtifactError> {
    let refused = |reason: String| ArtifactError::Refused {
        path: shown.to_string(),
        reason,
    };
    match signing::split(bytes) {
        Ok(split) => {
            let signer = policy
                .trust
                .admit(&split, policy.database)
                .map_err(|e| refused(e.to_string()))?;
            Ok((split.digest(), signer))
        }
        Err(e) if policy.trust.required => {
            Err(refused(format!("cannot look for its signature: {e}")))
        }
        // Not WebAssembly: compiling it says so in detail.
        Err(_) => Ok((digest(bytes), None)),
    }
}

/// An admitted, compiled artifact whose metadata is not read yet.
pub(super) struct Compiled {
    offered: Offered,
    digest: String,
    signer: Option<String>,
    prepared: Prepared,
}

fn compile(
    sandbox: &Sandbox,
    offered: Offered,
    policy: Policy<'_>,
) -> Result<Compiled, ArtifactError> {
    let (digest, signer) = admit(&offered.name, &offered.bytes, policy)?;
    if let Some(expected) = &offered.expected
        && expected.digest != digest
    {
        return Err(ArtifactError::Metadata {
            path: offered.name.clone(),
            message: format!(
                "the stored bytes hash to {digest}, not to the recorded {}: refusing them",
                expected.digest
            ),
        });
    }
    let prepared = sandbox.prepare(&offered.name, &digest, &offered.bytes)?;
    Ok(Compiled {
        offered,
        digest,
        signer,
        prepared,
    })
}

/// Admits and compiles every offered artifact, on every core (cached components load in well
/// under a millisecond each), before the first migration runs. Results keep the input order.
pub(super) fn compile_all(
    sandbox: &Sandbox,
    offered: Vec<Offered>,
    policy: Policy<'_>,
) -> Vec<Result<Compiled, ArtifactError>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(offered.len().max(1));
    let queue = std::sync::Mutex::new(offered.into_iter().enumerate());
    let mut results: Vec<(usize, Result<Compiled, ArtifactError>)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let next = queue.lock().map(|mut q| q.next()).ok().flatten();
                        let Some((i, offered)) = next else { break };
                        done.push((i, compile(sandbox, offered, policy)));
                    }
                    done
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|w| w.join().expect("a compile worker panicked"))
            .collect()
    });
    results.sort_by_key(|(i, _)| *i);
    results.into_iter().map(|(_, r)| r).collect()
}

/// Reads a compiled artifact's metadata and checks it: a valid id and parents, and the
/// revision its name (or, for a stored copy, history) says it is.
/// What the artifact said is taken from `kept` when it holds the artifact's digest, else asked
/// (and kept); either way it is checked here.
pub(super) async fn describe(
    sandbox: &Sandbox,
    compiled: Compiled,
    observer: Arc<dyn Observer>,
    kept: &mut super::info_cache::InfoCache,
) -> Result<Artifact, ArtifactError> {
    let Compiled {
        offered,
        digest,
        signer,
        prepared,
    } = compiled;
    let mut info = match kept.get(&digest) {
        Some(info) => info,
        None => {
            let info = sandbox.metadata(&prepared, observer).await?;
            kept.put(&digest, &info);
            info
        }
    };
    // The description is the migration's text: every line and file Retort prints or writes
    // it to shows it as data (no line breaks, no terminal controls).
    info.description = crate::core::as_data(&info.description);
    let path = PathBuf::from(&offered.name);
    match &offered.expected {
        Some(expected) if info.id != expected.revision => {
            return Err(ArtifactError::Metadata {
                path: offered.name,
                message: format!(
                    "the stored artifact says it is {}, but history recorded it for {}",
                    info.id, expected.revision
                ),
            });
        }
        Some(_) => check_ids(&offered.name, &info)?,
        None => {
            check_ids(&offered.name, &info)?;
            check_file_name(&offered.name, &path, &info)?;
        }
    }
    Ok(Artifact {
        path,
        digest,
        signer,
        bytes: Arc::new(offered.bytes),
        info,
        prepared,
    })
}

fn bad(shown: &str, message: String) -> Result<(), ArtifactError> {
    Err(ArtifactError::Metadata {
        path: shown.to_string(),
        message,
    })
}

fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn check_ids(shown: &str, info: &MigrationInfo) -> Result<(), ArtifactError> {
    if !valid_id(&info.id) {
        return bad(
            shown,
            format!(
                "id `{}` must be 1–128 characters of A–Z, a–z, 0–9, `-` and `_`",
                info.id
            ),
        );
    }
    if let Some(p) = info.parents.iter().find(|p| !valid_id(p)) {
        return bad(shown, format!("parent `{p}` is not a valid revision id"));
    }
    if info.parents.contains(&info.id) {
        return bad(
            shown,
            format!("revision {} names itself as a parent", info.id),
        );
    }
    // Names the migration gives that Retort prints and matches on: words, not lines.
    let named = info
        .branch_labels
        .iter()
        .chain(&info.depends_on)
        .chain(&info.capabilities);
    if let Some(n) = named.into_iter().find(|n| crate::core::as_data(n) != **n) {
        return bad(
            shown,
            format!(
                "`{}` (a branch label, dependency or capability) holds control characters",
                crate::core::as_data(n)
            ),
        );
    }
    Ok(())
}

/// `<id>_<slug>.wasm`: a file cannot pass for another revision.
fn check_file_name(shown: &str, path: &Path, info: &MigrationInfo) -> Result<(), ArtifactError> {
    let stem = path.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    let file_id = stem.split_once('_').map_or(stem, |(id, _)| id);
    if file_id != info.id {
        return bad(
            shown,
            format!(
                "the file name says revision `{file_id}` but the migration says `{}`; name the file `{}_<description>.wasm`",
                info.id, info.id
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::valid_id;

    #[test]
    fn revision_ids_are_short_plain_words() {
        for ok in ["20260101000000", "a", "rev-1_b", &"x".repeat(128)] {
            assert!(valid_id(ok), "{ok}");
        }
        for bad in ["", "a b", "a/b", "é", "a.b", &"x".repeat(129)] {
            assert!(!valid_id(bad), "{bad}");
        }
    }
}
