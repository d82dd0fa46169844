//! What each artifact said about itself (`metadata`), kept per migration source in the
//! machine's cache directory, so a run calls each migration's `metadata` once per artifact
//! rather than once per run.
//!
//! Calling `metadata` instantiates the migration (its runtime, for a script migration): at
//! 2,000 SQL migrations that was a third of a run's start with nothing to do (BENCHMARKS.md).
//! The answer is a function of the artifact's bytes (a script names its runtime by digest,
//! inside those bytes) and of the host that asks (what it hands a script's runtime), so it is
//! keyed by the artifact's digest in a file of the running executable's: one file per source,
//! `metadata/<source>-<executable>.json` (the executable by path, size and modification time:
//! a rebuild of Retort, or of an application that embeds it, starts afresh), holding the
//! entries of the artifacts the source offered last time, written atomically. Writing one
//! removes the source's files of other executables.
//!
//! Trust: the file sits in the same private directory as the compile cache, whose entries run
//! as native code; someone who can write it could do worse there. What an entry says is
//! checked like a fresh answer (ids, file names, the revision a stored copy must be).
//! `RETORT_CACHE=off` disables it with the compile cache.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::bindings::MigrationInfo;

/// The entries of one source: artifact digest to what the artifact said.
pub(super) struct InfoCache {
    file: Option<PathBuf>,
    read: BTreeMap<String, Info>,
    used: BTreeMap<String, Info>,
    /// Whether an entry was added (or one read was not used): the file is then rewritten.
    changed: bool,
}

impl InfoCache {
    /// The entries kept for `source` (as [`super::MigrationSource::describe`] names it); none
    /// when the cache is disabled, the source keeps none (`keeps`), or the file is missing or
    /// unreadable.
    pub(super) fn open(source: &str, keeps: bool) -> InfoCache {
        let file = crate::host::cache::machine_dir()
            .filter(|_| keeps)
            .zip(executable())
            .map(|(dir, executable)| {
                dir.join("metadata").join(format!(
                    "{}-{executable}.json",
                    &crate::trust::signing::digest(source.as_bytes())[..16],
                ))
            });
        let read = file
            .as_ref()
            .and_then(|f| std::fs::read(f).ok())
            .and_then(|bytes| serde_json::from_slice(&bytes).ok())
            .unwrap_or_default();
        InfoCache {
            file,
            read,
            used: BTreeMap::new(),
            changed: false,
        }
    }

    /// What the artifact whose digest is `digest` said, if it was kept.
    pub(super) fn get(&mut self, digest: &str) -> Option<MigrationInfo> {
        let info = self.read.remove(digest)?;
        let answer = info.to_info();
        self.used.insert(digest.to_string(), info);
        Some(answer)
    }

    /// Keeps what the artifact whose digest is `digest` said.
    pub(super) fn put(&mut self, digest: &str, info: &MigrationInfo) {
        self.used.insert(digest.to_string(), Info::from_info(info));
        self.changed = true;
    }

    /// Writes the entries used by this load (those of artifacts gone are dropped), if any
    /// changed. Failing to write is not an error: the next run asks the artifacts again.
    pub(super) fn save(self) {
        let Some(file) = self.file else { return };
        if !self.changed && self.read.is_empty() {
            return;
        }
        if let Ok(json) = serde_json::to_vec(&self.used) {
            crate::host::cache::store(&file, &json);
        }
        // The source's files of other executables (earlier builds) are not read again.
        let (Some(dir), Some(name)) = (file.parent(), file.file_name().and_then(|n| n.to_str()))
        else {
            return;
        };
        let Some((source, _)) = name.split_once('-') else {
            return;
        };
        let prefix = format!("{source}-");
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let other = entry.file_name();
            let other = other.to_string_lossy();
            if other != name && other.starts_with(&prefix) && other.ends_with(".json") {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
}

/// The running executable, as its path, size and modification time hashed (16 hex digits);
/// `None` when it cannot be found (then nothing is kept).
fn executable() -> Option<String> {
    let path = std::env::current_exe().ok()?;
    let meta = std::fs::metadata(&path).ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    let id = format!("{}|{}|{modified}", path.display(), meta.len());
    Some(crate::trust::signing::digest(id.as_bytes())[..16].to_string())
}

/// A [`MigrationInfo`] as the file holds it.
#[derive(Serialize, Deserialize)]
struct Info {
    id: String,
    parents: Vec<String>,
    description: String,
    transactional: bool,
    branch_labels: Vec<String>,
    depends_on: Vec<String>,
    /// `(database, revision)` pairs.
    requires: Vec<(String, String)>,
    capabilities: Vec<String>,
}

impl Info {
    fn from_info(info: &MigrationInfo) -> Info {
        Info {
            id: info.id.clone(),
            parents: info.parents.clone(),
            description: info.description.clone(),
            transactional: info.transactional,
            branch_labels: info.branch_labels.clone(),
            depends_on: info.depends_on.clone(),
            requires: info
                .requires
                .iter()
                .map(|r| (r.database.clone(), r.revision.clone()))
                .collect(),
            capabilities: info.capabilities.clone(),
        }
    }

    fn to_info(&self) -> MigrationInfo {
        MigrationInfo {
            id: self.id.clone(),
            parents: self.parents.clone(),
            description: self.description.clone(),
            transactional: self.transactional,
            branch_labels: self.branch_labels.clone(),
            depends_on: self.depends_on.clone(),
            requires: self
                .requires
                .iter()
                .map(|(database, revision)| {
                    crate::bindings::retort::migration0_1_0::types::DatabaseRequirement {
                        database: database.clone(),
                        revision: revision.clone(),
                    }
                })
                .collect(),
            capabilities: self.capabilities.clone(),
        }
    }
}
