//! Bundles: one database's migrations in one file, for a host without the source tree.
//!
//! A bundle is a plain tar archive (inspect it with `tar tvf`):
//! - `retort-bundle.json`, the manifest: format, database, and for every migration its id,
//!   parents, description, file name and digest;
//! - `retort-bundle.json.sig`, an SSHSIG of the manifest's bytes (namespace `retort`), when
//!   the bundle was made with a key;
//! - `migrations/<file>.wasm`, the artifacts (signed too, when made with a key);
//! - `runtimes/<language>-<digest>.wasm`, the shared Python and JavaScript runtimes the
//!   artifacts run on, each once (trusted through the digest a signed artifact names).
//!
//! Reading a bundle checks the manifest's signature against the trust policy, that every
//! listed artifact is present with the listed digest, and that nothing else is in it. Each
//! artifact then passes the same checks as one from a directory.

use std::io::Read;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::trust::signing::{self, SigningError, Trust, Verdict};

/// The manifest's name in the archive.
pub const MANIFEST: &str = "retort-bundle.json";
/// The manifest signature's name in the archive.
pub const MANIFEST_SIGNATURE: &str = "retort-bundle.json.sig";
/// The directory of the artifacts in the archive.
pub const DIR: &str = "migrations/";
/// The directory of the shared runtimes in the archive.
pub const RUNTIMES: &str = "runtimes/";
/// The manifest format this runner writes and reads.
pub const FORMAT: &str = "retort-bundle/1";

/// What a bundle holds.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`FORMAT`].
    pub format: String,
    /// The project's name of the database the migrations belong to.
    pub database: String,
    /// When the bundle was made (RFC 3339, UTC).
    pub created_at: String,
    /// Which runner made it.
    pub created_by: String,
    /// The migrations, in file order.
    pub migrations: Vec<Entry>,
    /// The shared runtimes under `runtimes/` (absent when there are none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runtimes: Vec<RuntimeEntry>,
}

/// One shared runtime of a bundle.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct RuntimeEntry {
    /// Its file name under `runtimes/` (`<language>-<digest>.wasm`).
    pub file: String,
    /// SHA-256 of its bytes.
    pub digest: String,
}

/// One migration of a bundle.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// The revision.
    pub id: String,
    /// Its parents.
    pub parents: Vec<String>,
    /// Its description.
    pub description: String,
    /// The artifact's file name under `migrations/`.
    pub file: String,
    /// SHA-256 of the artifact without its signature section.
    pub digest: String,
}

/// A bundle, read and checked.
#[derive(Debug)]
pub struct Opened {
    /// The manifest.
    pub manifest: Manifest,
    /// The key id that signed the manifest, if any.
    pub signer: Option<String>,
    /// `(file name, bytes)` of every artifact, in manifest order.
    pub files: Vec<(String, Vec<u8>)>,
}

fn append(builder: &mut tar::Builder<Vec<u8>>, name: &str, bytes: &[u8]) -> std::io::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(bytes.len() as u64);
    header.set_mode(0o644);
    // Fixed metadata: the same inputs make the same bundle.
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_cksum();
    builder.append_data(&mut header, name, bytes)
}

/// Why a bundle could not be written, or was refused when read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Opening, reading or writing the file failed.
    #[error("cannot {action} {}", .path.display())]
    Io {
        /// `open`, `read`, `write`.
        action: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// The file is not a tar archive.
    #[error("not a bundle (tar)")]
    NotTar(#[source] std::io::Error),
    /// An entry the format does not have.
    #[error("unexpected entry `{entry}`{}", if *.not_a_file { " (not a file)" } else { "" })]
    UnexpectedEntry {
        /// Its name in the archive.
        entry: String,
        /// It is not a regular file.
        not_a_file: bool,
    },
    /// No manifest.
    #[error("no {MANIFEST}: not a bundle")]
    NoManifest,
    /// The manifest's JSON is unreadable.
    #[error("its manifest is unreadable")]
    Manifest(#[source] serde_json::Error),
    /// A manifest of another format version.
    #[error("its format is `{found}`; this runner reads `{FORMAT}`")]
    Format {
        /// The format it declares.
        found: String,
    },
    /// Signing while writing, or checking the manifest's signature while reading, failed.
    #[error("{what}")]
    Signing {
        /// What was signed or checked: `its manifest signature is bad`, a file's name.
        what: String,
        /// The cause.
        source: SigningError,
    },
    /// The manifest's signer is not trusted, or a signature is required and missing.
    #[error(transparent)]
    Untrusted(SigningError),
    /// The archive does not hold what its manifest says: altered after it was written.
    #[error("{0}: the bundle was altered")]
    Altered(Alteration),
}

/// How a bundle differs from its manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Alteration {
    /// A listed artifact is missing.
    Missing {
        /// The file.
        file: String,
    },
    /// An artifact's digest differs from the listed one.
    Digest {
        /// The file.
        file: String,
        /// Its SHA-256.
        actual: String,
        /// The manifest's.
        listed: String,
    },
    /// An artifact the manifest does not list.
    Unlisted {
        /// The file.
        file: String,
    },
    /// The runtimes differ from the listed ones.
    Runtimes,
}

impl std::fmt::Display for Alteration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Alteration::Missing { file } => {
                write!(f, "the manifest lists {file} but the bundle lacks it")
            }
            Alteration::Digest {
                file,
                actual,
                listed,
            } => write!(
                f,
                "{file} hashes to {actual}, but the manifest says {listed}"
            ),
            Alteration::Unlisted { file } => {
                write!(f, "{file} is in the bundle but not in its manifest")
            }
            Alteration::Runtimes => {
                f.write_str("its runtimes/ are not the ones its manifest lists")
            }
        }
    }
}

/// Packs `artifacts` (one database's, in file order: each its manifest entry and its bytes)
/// and the shared `runtimes` they run on (file name and bytes) into a bundle at `out`. With
/// `key`, every artifact is signed (replacing earlier signatures) and so is the manifest.
pub fn write(
    out: &Path,
    database: &str,
    artifacts: &[(Entry, &[u8])],
    runtimes: &[(String, &[u8])],
    key: Option<&ssh_key::PrivateKey>,
) -> Result<Manifest, BundleError> {
    let mut manifest = Manifest {
        format: FORMAT.into(),
        database: database.into(),
        created_at: crate::db::now_rfc3339(),
        created_by: crate::db::runner_identity(),
        migrations: Vec::new(),
        runtimes: runtimes
            .iter()
            .map(|(file, bytes)| RuntimeEntry {
                file: file.clone(),
                digest: signing::digest(bytes),
            })
            .collect(),
    };
    let mut builder = tar::Builder::new(Vec::new());
    builder.mode(tar::HeaderMode::Deterministic);
    let mut files = Vec::new();
    for (entry, bytes) in artifacts {
        let bytes = match key {
            Some(k) => signing::sign_artifact(bytes, k).map_err(|source| BundleError::Signing {
                what: entry.file.clone(),
                source,
            })?,
            None => bytes.to_vec(),
        };
        manifest.migrations.push(entry.clone());
        files.push((entry.file.clone(), bytes));
    }
    let json = serde_json::to_vec_pretty(&manifest).map_err(BundleError::Manifest)?;
    let io = |source| BundleError::Io {
        action: "write",
        path: out.to_path_buf(),
        source,
    };
    append(&mut builder, MANIFEST, &json).map_err(io)?;
    if let Some(k) = key {
        let sig = signing::sign_message(k, &json).map_err(|source| BundleError::Signing {
            what: MANIFEST.into(),
            source,
        })?;
        append(&mut builder, MANIFEST_SIGNATURE, sig.as_bytes()).map_err(io)?;
    }
    for (file, bytes) in &files {
        append(&mut builder, &format!("{DIR}{file}"), bytes).map_err(io)?;
    }
    for (file, bytes) in runtimes {
        append(&mut builder, &format!("{RUNTIMES}{file}"), bytes).map_err(io)?;
    }
    let archive = builder.into_inner().map_err(io)?;
    let tmp = out.with_extension("partial");
    std::fs::write(&tmp, &archive).map_err(io)?;
    std::fs::rename(&tmp, out).map_err(io)?;
    Ok(manifest)
}

/// Every entry of the archive at `path`, as its name and bytes; one that is not a regular
/// file is refused.
fn entries(path: &Path) -> Result<Vec<(String, Vec<u8>)>, BundleError> {
    let file = std::fs::File::open(path).map_err(|source| BundleError::Io {
        action: "open",
        path: path.to_path_buf(),
        source,
    })?;
    let mut archive = tar::Archive::new(file);
    let entries = archive.entries().map_err(BundleError::NotTar)?;
    let mut out = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(BundleError::NotTar)?;
        let name = entry
            .path()
            .map_err(BundleError::NotTar)?
            .to_string_lossy()
            .into_owned();
        if !entry.header().entry_type().is_file() {
            return Err(BundleError::UnexpectedEntry {
                entry: name,
                not_a_file: true,
            });
        }
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).map_err(BundleError::NotTar)?;
        out.push((name, bytes));
    }
    Ok(out)
}

/// Reads and checks a bundle against `trust` (the manifest's signature and every digest).
/// Errors say what is wrong; the caller names the file.
pub fn read(path: &Path, trust: &Trust, database: &str) -> Result<Opened, BundleError> {
    let mut manifest_bytes = None;
    let mut signature = None;
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();
    let mut runtimes: Vec<(String, String)> = Vec::new();
    for (name, bytes) in entries(path)? {
        match name.as_str() {
            MANIFEST => manifest_bytes = Some(bytes),
            MANIFEST_SIGNATURE => signature = Some(bytes),
            other => match other.strip_prefix(DIR) {
                Some(file)
                    if file.ends_with(".wasm")
                        && !file.contains('/')
                        && !files.iter().any(|(f, _)| f == file) =>
                {
                    files.push((file.to_string(), bytes));
                }
                // Read on demand by `read_runtime`; checked against the manifest here.
                _ if other.starts_with(RUNTIMES) => {
                    runtimes.push((other[RUNTIMES.len()..].to_string(), signing::digest(&bytes)))
                }
                _ => {
                    return Err(BundleError::UnexpectedEntry {
                        entry: other.to_string(),
                        not_a_file: false,
                    });
                }
            },
        }
    }
    let manifest_bytes = manifest_bytes.ok_or(BundleError::NoManifest)?;
    let verdict = match signature {
        Some(sig) => signing::check_signature(&sig, &manifest_bytes, trust).map_err(|source| {
            BundleError::Signing {
                what: "its manifest signature is bad".into(),
                source,
            }
        })?,
        None => Verdict::Unsigned,
    };
    let signer = trust
        .decide(verdict, database)
        .map_err(BundleError::Untrusted)?;
    let manifest: Manifest =
        serde_json::from_slice(&manifest_bytes).map_err(BundleError::Manifest)?;
    if manifest.format != FORMAT {
        return Err(BundleError::Format {
            found: manifest.format,
        });
    }
    let mut ordered = Vec::new();
    for entry in &manifest.migrations {
        let Some(i) = files.iter().position(|(f, _)| f == &entry.file) else {
            return Err(BundleError::Altered(Alteration::Missing {
                file: entry.file.clone(),
            }));
        };
        let (file, bytes) = files.swap_remove(i);
        let actual = signing::digest(&bytes);
        if actual != entry.digest {
            return Err(BundleError::Altered(Alteration::Digest {
                file,
                actual,
                listed: entry.digest.clone(),
            }));
        }
        ordered.push((file, bytes));
    }
    if let Some((extra, _)) = files.first() {
        return Err(BundleError::Altered(Alteration::Unlisted {
            file: extra.clone(),
        }));
    }
    runtimes.sort();
    let mut listed: Vec<(String, String)> = manifest
        .runtimes
        .iter()
        .map(|r| (r.file.clone(), r.digest.clone()))
        .collect();
    listed.sort();
    if runtimes != listed {
        return Err(BundleError::Altered(Alteration::Runtimes));
    }
    Ok(Opened {
        manifest,
        signer,
        files: ordered,
    })
}

/// The bytes of the runtime whose SHA-256 is `digest` in the bundle at `path`, if it holds
/// one (the caller checks the digest; [`read`] checked the bundle's list of runtimes).
pub fn read_runtime(path: &Path, digest: &str) -> Result<Option<Vec<u8>>, BundleError> {
    let suffix = format!("-{digest}.wasm");
    Ok(entries(path)?
        .into_iter()
        .find(|(name, _)| name.starts_with(RUNTIMES) && name.ends_with(&suffix))
        .map(|(_, bytes)| bytes))
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::trust::signing::{self, Trust};

    /// A WebAssembly header and a custom section holding `marker`, so a test can find the
    /// artifact's bytes inside the archive.
    fn artifact(marker: &str) -> Vec<u8> {
        let mut bytes = b"\0asm\x0d\x00\x01\x00".to_vec();
        signing::append_custom_section(&mut bytes, "marker", marker.as_bytes());
        bytes
    }

    fn entry(id: &str, bytes: &[u8]) -> Entry {
        Entry {
            id: id.into(),
            parents: vec![],
            description: format!("migration {id}"),
            file: format!("{id}_m.wasm"),
            digest: signing::split(bytes).unwrap().digest(),
        }
    }

    fn new_key() -> (ssh_key::PrivateKey, Trust) {
        let (private, public) = signing::generate("test").unwrap();
        let key = ssh_key::PrivateKey::from_openssh(&private).unwrap();
        let trust = Trust {
            keys: signing::parse_public_keys(&public, "test").unwrap(),
            required: true,
        };
        (key, trust)
    }

    fn write_two(dir: &Path, key: Option<&ssh_key::PrivateKey>) -> (PathBuf, Vec<Vec<u8>>) {
        let (a, b) = (artifact("MARKER-A"), artifact("MARKER-B"));
        let out = dir.join("release.bundle");
        write(
            &out,
            "catalog",
            &[(entry("1", &a), &a[..]), (entry("2", &b), &b[..])],
            &[],
            key,
        )
        .unwrap();
        (out, vec![a, b])
    }

    #[test]
    fn runtimes_travel_once_and_an_altered_one_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let a = artifact("MARKER-A");
        let runtime = artifact("RUNTIME");
        let digest = signing::digest(&runtime);
        let file = format!("python-{digest}.wasm");
        let out = dir.path().join("release.bundle");
        let manifest = write(
            &out,
            "catalog",
            &[(entry("1", &a), &a[..])],
            &[(file.clone(), &runtime[..])],
            None,
        )
        .unwrap();
        assert_eq!(manifest.runtimes.len(), 1);
        assert_eq!(manifest.runtimes[0].digest, digest);
        read(&out, &Trust::default(), "catalog").unwrap();
        assert_eq!(read_runtime(&out, &digest).unwrap(), Some(runtime.clone()));
        assert_eq!(read_runtime(&out, &"0".repeat(64)).unwrap(), None);
        // One byte of the runtime changed inside the archive.
        let mut archive = std::fs::read(&out).unwrap();
        let at = archive
            .windows(7)
            .position(|w| w == b"RUNTIME")
            .expect("the runtime in the archive");
        archive[at] ^= 0x20;
        std::fs::write(&out, &archive).unwrap();
        let e = read(&out, &Trust::default(), "catalog").unwrap_err();
        assert!(
            matches!(e, BundleError::Altered(Alteration::Runtimes)),
            "{e}"
        );
    }

    #[test]
    fn an_unsigned_bundle_round_trips_and_is_refused_where_signatures_are_required() {
        let dir = tempfile::tempdir().unwrap();
        let (path, artifacts) = write_two(dir.path(), None);
        let opened = read(&path, &Trust::default(), "catalog").unwrap();
        assert_eq!(opened.signer, None);
        assert_eq!(opened.manifest.database, "catalog");
        let files: Vec<_> = opened.files.iter().map(|(f, b)| (f.as_str(), b)).collect();
        assert_eq!(
            files,
            [("1_m.wasm", &artifacts[0]), ("2_m.wasm", &artifacts[1])]
        );
        let required = new_key().1;
        let e = read(&path, &required, "catalog").unwrap_err();
        assert!(
            matches!(&e, BundleError::Untrusted(SigningError::Refused(why)) if why.contains("not signed")),
            "{e}"
        );
    }

    #[test]
    fn a_signed_bundle_names_its_signer_and_refuses_other_keys() {
        let dir = tempfile::tempdir().unwrap();
        let (key, trust) = new_key();
        let (path, _) = write_two(dir.path(), Some(&key));
        let opened = read(&path, &trust, "catalog").unwrap();
        let id = signing::key_id(key.public_key().key_data());
        assert_eq!(opened.signer.as_deref(), Some(id.as_str()));
        // Every artifact inside is signed too, and keeps its digest.
        for ((_, bytes), entry) in opened.files.iter().zip(&opened.manifest.migrations) {
            let split = signing::split(bytes).unwrap();
            assert!(split.signature.is_some());
            assert_eq!(split.digest(), entry.digest);
        }
        let e = read(&path, &new_key().1, "catalog").unwrap_err();
        assert!(
            matches!(&e, BundleError::Untrusted(SigningError::Refused(why)) if why.contains("not a trusted key")),
            "{e}"
        );
    }

    #[test]
    fn an_altered_bundle_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = write_two(dir.path(), None);
        let mut archive = std::fs::read(&path).unwrap();
        let at = archive
            .windows(8)
            .position(|w| w == b"MARKER-B")
            .expect("the artifact is stored as it is");
        archive[at + 7] = b'C';
        std::fs::write(&path, &archive).unwrap();
        let e = read(&path, &Trust::default(), "catalog").unwrap_err();
        assert!(
            matches!(&e, BundleError::Altered(Alteration::Digest { file, .. }) if file == "2_m.wasm"),
            "{e}"
        );
        assert!(e.to_string().ends_with("the bundle was altered"), "{e}");

        let e = read(&dir.path().join("missing"), &Trust::default(), "catalog").unwrap_err();
        assert!(matches!(e, BundleError::Io { action: "open", .. }), "{e}");
        std::fs::write(&path, b"not a tar at all, and longer than a block? no").unwrap();
        assert!(read(&path, &Trust::default(), "catalog").is_err());
    }
}
