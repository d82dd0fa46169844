//! Shared language runtimes, and the script artifacts that run on them.
//!
//! A SQL migration's artifact is not a program: it is an empty WebAssembly component whose
//! custom section [`SCRIPT_SECTION`] holds the migration (its metadata, its files, its
//! settings) and the name, version and SHA-256 of the runtime component it runs on
//! (docs/artifacts.md). Being a component file, it is signed, digested, bundled and stored
//! like any other artifact, and the signature covers the script, the metadata and the
//! runtime's digest. At run time the host instantiates the runtime and hands it the migration
//! through the 0.2.0 `script` interface.
//!
//! The SQL runtime (`guest-sdk/runtimes/sql`, built reproducibly to
//! `guest-sdk/runtimes/sql.wasm`) ships inside this binary: SQL migrations need no toolchain
//! to build or run. A runtime is trusted when its digest is one this binary ships
//! ([`trusted`]); any other runtime is refused.

use serde::{Deserialize, Serialize};

use crate::bindings::MigrationInfo;

/// The custom section of a script artifact that holds the migration (JSON).
pub const SCRIPT_SECTION: &str = "retort-script";

/// The version of the script artifact format written by this build.
pub const FORMAT: u32 = 1;

/// The SQL runtime component, as built from `guest-sdk/runtimes/sql` (see `build.sh` there).
pub static SQL_RUNTIME: &[u8] = include_bytes!("../../../guest-sdk/runtimes/sql.wasm");

/// The language name of SQL migrations in [`RuntimeRef::language`].
pub const SQL: &str = "sql";

/// The language name of Python migrations in [`RuntimeRef::language`].
pub const PYTHON: &str = "python";

/// The language name of JavaScript migrations in [`RuntimeRef::language`].
pub const JAVASCRIPT: &str = "javascript";

/// The SQL runtime's version (its crate's version).
pub const SQL_RUNTIME_VERSION: &str = "0.3.0";

/// The runtime a script artifact runs on.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RuntimeRef {
    /// Its language: `sql`, `python` or `javascript`.
    pub language: String,
    /// Its version.
    pub version: String,
    /// SHA-256 of its component bytes, lowercase hex.
    pub digest: String,
}

impl std::fmt::Display for RuntimeRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "the {} runtime {} ({})",
            self.language,
            self.version,
            &self.digest[..self.digest.len().min(12)]
        )
    }
}

/// What a migration says about itself: [`MigrationInfo`] in the artifact's JSON.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// The revision id.
    pub id: String,
    /// Its parents.
    pub parents: Vec<String>,
    /// Its description.
    pub description: String,
    /// Whether it runs in a transaction.
    pub transactional: bool,
    /// Its branch labels.
    #[serde(default)]
    pub branch_labels: Vec<String>,
    /// Revisions it depends on.
    #[serde(default)]
    pub depends_on: Vec<String>,
}

/// One file of a script migration.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct File {
    /// Its name inside the migration (`up.sql`, `down.postgres.sql`, …).
    pub name: String,
    /// Its text.
    pub contents: String,
}

/// A script migration: what [`SCRIPT_SECTION`] holds.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Script {
    /// The format version ([`FORMAT`]).
    pub format: u32,
    /// The runtime it runs on.
    pub runtime: RuntimeRef,
    /// What it says about itself, when the artifact says it (SQL: from the script's header).
    /// `None` for a Python or JavaScript migration, whose code says it: the runtime answers
    /// `metadata` by running it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Metadata>,
    /// Its files.
    pub files: Vec<File>,
    /// Runtime-specific settings (SQL: `dialect`; Python and JavaScript: `source`, the file
    /// name tracebacks show).
    #[serde(default)]
    pub settings: Vec<(String, String)>,
}

/// The bytes of an empty component: the header of the component binary format.
const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];

impl Script {
    /// The artifact's bytes: an empty component holding the migration in [`SCRIPT_SECTION`].
    /// The same script always gives the same bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut bytes = COMPONENT_HEADER.to_vec();
        let json = serde_json::to_vec(self).expect("a script serialises");
        crate::trust::signing::append_custom_section(&mut bytes, SCRIPT_SECTION, &json);
        bytes
    }

    /// The script inside an artifact: `None` for a component that is a program (it has no
    /// [`SCRIPT_SECTION`]), an error for a script artifact that is malformed, holds code as
    /// well, or was written by a newer Retort.
    pub fn decode(bytes: &[u8]) -> Option<Result<Script, String>> {
        let section = crate::trust::signing::custom_section(bytes, SCRIPT_SECTION)?;
        Some(Self::decode_section(bytes, section))
    }

    fn decode_section(bytes: &[u8], section: &[u8]) -> Result<Script, String> {
        for payload in wasmparser::Parser::new(0).parse_all(bytes) {
            match payload.map_err(|e| format!("it is not a valid component: {e}"))? {
                wasmparser::Payload::Version { .. }
                | wasmparser::Payload::CustomSection(_)
                | wasmparser::Payload::End(_) => {}
                _ => {
                    return Err(format!(
                        "it holds code as well as a `{SCRIPT_SECTION}` section: a script \
                         artifact is the script only"
                    ));
                }
            }
        }
        let script: Script = serde_json::from_slice(section)
            .map_err(|e| format!("its `{SCRIPT_SECTION}` section is malformed: {e}"))?;
        if script.format > FORMAT {
            return Err(format!(
                "it was written in script artifact format {}, newer than this Retort reads ({FORMAT}): upgrade Retort",
                script.format
            ));
        }
        // Exactly one of the languages Retort knows, spelled as it spells them: which runtimes
        // are trusted depends on it (only shipped ones for SQL), so `SQL` is not `sql`.
        if ![SQL, PYTHON, JAVASCRIPT].contains(&script.runtime.language.as_str()) {
            return Err(format!(
                "it runs on a runtime for language `{}`; Retort knows `{SQL}`, `{PYTHON}` and \
                 `{JAVASCRIPT}`",
                crate::core::as_data(&script.runtime.language)
            ));
        }
        Ok(script)
    }

    /// The migration as the 0.2.0 `script` interface hands it to the runtime.
    pub fn to_guest(&self) -> crate::bindings::retort::migration0_2_0::script::Migration {
        use crate::bindings::retort::migration0_2_0::script;
        let metadata = match &self.metadata {
            Some(m) => MigrationInfo {
                id: m.id.clone(),
                parents: m.parents.clone(),
                description: m.description.clone(),
                transactional: m.transactional,
                branch_labels: m.branch_labels.clone(),
                depends_on: m.depends_on.clone(),
                requires: Vec::new(),
                capabilities: Vec::new(),
            },
            // The runtime reads it from the code; nothing in the record is meant.
            None => MigrationInfo {
                id: String::new(),
                parents: Vec::new(),
                description: String::new(),
                transactional: true,
                branch_labels: Vec::new(),
                depends_on: Vec::new(),
                requires: Vec::new(),
                capabilities: Vec::new(),
            },
        };
        script::Migration {
            metadata,
            files: self
                .files
                .iter()
                .map(|f| script::File {
                    name: f.name.clone(),
                    contents: f.contents.clone(),
                })
                .collect(),
            settings: self.settings.clone(),
        }
    }
}

/// The runtime SQL migrations built by this binary run on.
pub fn sql_runtime() -> RuntimeRef {
    RuntimeRef {
        language: SQL.to_string(),
        version: SQL_RUNTIME_VERSION.to_string(),
        digest: crate::trust::signing::digest(SQL_RUNTIME),
    }
}

/// Earlier builds of the SQL runtime that migrations may have been applied on, kept so that
/// their downgrades keep running after Retort is upgraded (docs/artifacts.md): new builds use
/// [`SQL_RUNTIME`]. `sql-0.2.0-8f6d7470.wasm` is 0.2.0 as first released, before a
/// `retort-sql` change moved its bytes; `sql-0.2.0-ac869061.wasm` is 0.2.0's last build,
/// before 0.3.0 (the `keep` setting, on WIT 0.3.0's `sql-script-runtime`);
/// `sql-0.3.0-452b5f38.wasm` is 0.3.0 before its splitter read PostgreSQL's `E'…'` escape
/// strings (and skipped an escaped character of several bytes whole); `sql-0.3.0-b984fbdd.wasm`
/// before it read MySQL's `--` as a comment only before a space or a control character;
/// `sql-0.3.0-5a547b9e.wasm` before it kept a MySQL statement written in a versioned comment
/// (`/*!40101 SET NAMES utf8mb4 */`, as mysqldump writes) instead of dropping it as a comment,
/// and before its splitter stepped over a character of several bytes outside quotes whole (it
/// panicked on an unquoted name such as `café`).
pub static PAST_SQL_RUNTIMES: &[&[u8]] = &[
    include_bytes!("../../../guest-sdk/runtimes/sql-0.2.0-8f6d7470.wasm"),
    include_bytes!("../../../guest-sdk/runtimes/sql-0.2.0-ac869061.wasm"),
    include_bytes!("../../../guest-sdk/runtimes/sql-0.3.0-452b5f38.wasm"),
    include_bytes!("../../../guest-sdk/runtimes/sql-0.3.0-b984fbdd.wasm"),
    include_bytes!("../../../guest-sdk/runtimes/sql-0.3.0-5a547b9e.wasm"),
];

/// The bytes of a runtime this binary ships, by digest: the SQL runtime, or one of its
/// [`PAST_SQL_RUNTIMES`].
pub fn builtin(digest: &str) -> Option<&'static [u8]> {
    static DIGESTS: std::sync::OnceLock<Vec<(String, &'static [u8])>> = std::sync::OnceLock::new();
    DIGESTS
        .get_or_init(|| {
            std::iter::once(SQL_RUNTIME)
                .chain(PAST_SQL_RUNTIMES.iter().copied())
                .map(|bytes| (crate::trust::signing::digest(bytes), bytes))
                .collect()
        })
        .iter()
        .find(|(d, _)| d == digest)
        .map(|(_, bytes)| *bytes)
}

/// Whether a SQL runtime with this digest may run: it is one this binary ships. (Python and
/// JavaScript runtimes are built per machine and travel with the migrations; they are
/// trusted through the digest the migration's artifact names: docs/artifacts.md.)
pub fn trusted(digest: &str) -> bool {
    builtin(digest).is_some()
}

/// The subdirectory of a migrations directory that holds the shared language runtimes its
/// Python and JavaScript migrations run on, each once, as [`file_name`] names them.
pub const RUNTIMES_DIR: &str = "runtimes";

/// The file name a runtime is kept under in a project's `runtimes/` directory and in a
/// bundle: `<language>-<digest>.wasm`.
pub fn file_name(runtime: &RuntimeRef) -> String {
    format!("{}-{}.wasm", runtime.language, runtime.digest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn script() -> Script {
        Script {
            format: FORMAT,
            runtime: sql_runtime(),
            metadata: Some(Metadata {
                id: "20260101000000".into(),
                parents: vec![],
                description: "create t".into(),
                transactional: true,
                branch_labels: vec![],
                depends_on: vec![],
            }),
            files: vec![File {
                name: "up.sql".into(),
                contents: "CREATE TABLE t (x INT);".into(),
            }],
            settings: vec![],
        }
    }

    #[test]
    fn a_script_artifact_is_an_empty_component_that_decodes_to_its_script() {
        let bytes = script().encode();
        assert!(wasmparser::Parser::is_component(&bytes));
        wasmparser::Validator::new_with_features(wasmparser::WasmFeatures::all())
            .validate_all(&bytes)
            .expect("a valid component");
        assert_eq!(Script::decode(&bytes), Some(Ok(script())));
        assert_eq!(bytes, script().encode(), "deterministic");
        assert!(bytes.len() < 1024, "{} bytes", bytes.len());
    }

    #[test]
    fn programs_are_not_scripts_and_mixed_or_newer_artifacts_are_refused() {
        assert_eq!(Script::decode(SQL_RUNTIME), None);
        let mut mixed = SQL_RUNTIME.to_vec();
        let json = serde_json::to_vec(&script()).unwrap();
        crate::trust::signing::append_custom_section(&mut mixed, SCRIPT_SECTION, &json);
        let e = Script::decode(&mixed).unwrap().unwrap_err();
        assert!(e.contains("holds code as well"), "{e}");
        let mut newer = script();
        newer.format = FORMAT + 1;
        let e = Script::decode(&newer.encode()).unwrap().unwrap_err();
        assert!(e.contains("newer than this Retort reads"), "{e}");
    }

    #[test]
    fn a_language_is_spelled_as_retort_spells_it() {
        for language in ["SQL", "Sql", "sql ", "ruby"] {
            let mut other = script();
            other.runtime.language = language.into();
            let e = Script::decode(&other.encode()).unwrap().unwrap_err();
            assert!(e.contains("Retort knows `sql`"), "{language}: {e}");
        }
    }

    #[test]
    fn only_shipped_runtimes_are_trusted() {
        assert!(trusted(&sql_runtime().digest));
        // The past builds keep their digests (their file names say which).
        assert!(trusted(
            "8f6d7470b8fdf9320e5dee480eaed996e0d491c53d67d4f667ce6af927583fcd"
        ));
        assert!(trusted(
            "ac869061ef27c0a9b17c5c6bcd490b7d714c4430f75571371d1dff01b5e3beb0"
        ));
        assert!(trusted(
            "452b5f38e6cd9a7cfe0ef117f713163730d29063eed2c64ee737dc5eedf60c1a"
        ));
        assert!(trusted(
            "b984fbdd0f4d3c4e9383dd449fd976f11c7704e09c7798caa4af2b2a9ae84bc6"
        ));
        assert!(trusted(
            "5a547b9ec9952e4f7190d3895cd7c81d60dc3c60935682e2111d581577b5efeb"
        ));
        assert!(!trusted(&crate::trust::signing::digest(b"another runtime")));
    }
}
