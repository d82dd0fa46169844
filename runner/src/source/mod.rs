//! Where artifacts come from, behind one trait: a migrations directory ([`Directory`]), a
//! bundle ([`BundleFile`]), migrations embedded in the application binary ([`crate::core::Embedded`],
//! made by `retort::embed!`), or the copies stored in the database ([`Stored`]). Every
//! source's artifacts go through the same [`load`]: trust policy, digest, compilation (in
//! parallel), metadata.
//!
//! Owns: turning offered bytes into loaded [`Artifact`]s. May import `core`, `bindings`,
//! `db` (stored copies), `host` and `trust`; must not import `project`, `run`, `authoring` or
//! `cli`.

pub mod artifact;
mod bundle;
mod directory;
mod embedded;
mod info_cache;
mod stored;

use std::sync::Arc;

use async_trait::async_trait;

pub use artifact::{Artifact, ArtifactError};
pub use bundle::BundleFile;
pub use directory::Directory;
pub use stored::Stored;

use crate::core::observe::Observer;
use crate::host::sandbox::Sandbox;
use crate::trust::signing::Trust;

/// One artifact as a source offers it, before any check.
#[derive(Clone, Debug)]
pub struct Offered {
    /// Where it is, for messages; its file name follows the `<id>_<slug>.wasm` rule unless
    /// `expected` says which revision it must be.
    pub name: String,
    /// The component's bytes.
    pub bytes: Vec<u8>,
    /// What it must be, when the source knows it (a stored copy: the revision and digest
    /// history recorded for it).
    pub expected: Option<Expected>,
}

/// The revision and digest an offered artifact must have.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expected {
    /// The revision id.
    pub revision: String,
    /// SHA-256 of the artifact without its signature, lowercase hex.
    pub digest: String,
}

/// Where one database's migrations come from.
#[async_trait]
pub trait MigrationSource: Send + Sync {
    /// The source as messages name it (a directory, a bundle file, …).
    fn describe(&self) -> String;

    /// Every artifact the source holds for database `database`, whose trust policy is
    /// `trust` (a bundle checks its own manifest signature with it). Order does not matter.
    async fn offer(&self, database: &str, trust: &Trust) -> Result<Vec<Offered>, ArtifactError>;

    /// The bytes of the shared language runtime whose SHA-256 is `digest`, if the source
    /// holds it (a project's `runtimes/`, a bundle's, `retort_artifacts`). The caller checks
    /// the digest.
    async fn runtime(&self, _digest: &str) -> Result<Option<Vec<u8>>, ArtifactError> {
        Ok(None)
    }

    /// Whether what its artifacts say about themselves is kept in the machine's cache
    /// between runs (one file per source, named after [`MigrationSource::describe`]): yes,
    /// unless the source is one of many that come and go.
    fn keeps_metadata(&self) -> bool {
        true
    }
}

/// Loads every artifact `source` offers for `database`: each must pass the trust policy
/// (signature), hash to what it is expected to, compile, and describe itself consistently.
/// Nothing here touches the database being migrated (a [`Stored`] source only reads).
pub async fn load(
    sandbox: &Sandbox,
    source: &dyn MigrationSource,
    database: &str,
    trust: &Trust,
    observer: Arc<dyn Observer>,
) -> Result<Vec<Artifact>, ArtifactError> {
    let mut offered = source.offer(database, trust).await?;
    offered.sort_by(|a, b| a.name.cmp(&b.name));
    add_runtimes(sandbox, source, &offered).await?;
    let policy = artifact::Policy { database, trust };
    let compiled = artifact::compile_all(sandbox, offered, policy);
    let mut kept = info_cache::InfoCache::open(&source.describe(), source.keeps_metadata());
    let mut artifacts = Vec::with_capacity(compiled.len());
    for compiled in compiled {
        let described = artifact::describe(sandbox, compiled?, observer.clone(), &mut kept);
        artifacts.push(described.await?);
    }
    kept.save();
    Ok(artifacts)
}

/// Hands the sandbox the runtimes the offered script artifacts name that it does not have
/// yet, from the source; one the source lacks is reported when its artifact is compiled, one
/// whose bytes are not what its digest says is refused here.
async fn add_runtimes(
    sandbox: &Sandbox,
    source: &dyn MigrationSource,
    offered: &[Offered],
) -> Result<(), ArtifactError> {
    let mut wanted: Vec<crate::host::runtime::RuntimeRef> = offered
        .iter()
        .filter_map(|o| crate::host::runtime::Script::decode(&o.bytes)?.ok())
        .map(|s| s.runtime)
        .filter(|r| !sandbox.has_runtime(&r.digest))
        .collect();
    wanted.sort_by(|a, b| a.digest.cmp(&b.digest));
    wanted.dedup_by(|a, b| a.digest == b.digest);
    for runtime in wanted {
        if let Some(bytes) = source.runtime(&runtime.digest).await? {
            let actual = crate::trust::signing::digest(&bytes);
            if actual != runtime.digest {
                return Err(ArtifactError::Refused {
                    path: source.describe(),
                    reason: format!(
                        "its copy of {runtime} hashes to {actual}: it was altered, and no \
                         migration runs on it"
                    ),
                });
            }
            sandbox.add_runtime(bytes);
        }
    }
    Ok(())
}
