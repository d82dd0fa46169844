//! The shared Python and JavaScript runtimes (docs/artifacts.md).
//!
//! A runtime is built from sources this binary embeds (`guest-sdk/runtimes/<language>/`, the
//! language's helper layer and the three WIT packages) with the language's tool, once per machine:
//! the build is kept in the machine's cache (`<cache>/runtimes/`). Each project keeps the
//! runtimes its artifacts name in `<migrations>/runtimes/<language>-<digest>.wasm` (commit it
//! with the artifacts): componentize-py and componentize-js do not build reproducibly, so a
//! teammate's or CI's build of the same sources would have another digest. A runtime records
//! the fingerprint of its sources (custom section [`SOURCE_SECTION`]); the project's runtime
//! is reused while that fingerprint matches, so nobody needs the tool until the runtime's
//! sources change.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::authoring::BuildError;
use crate::authoring::error::io;
use crate::core::observe::{Event, Observer};

use super::guest::{Language, SOURCE_SECTION, WIT};
use crate::host::runtime::{RUNTIMES_DIR, RuntimeRef};

/// The 0.2.0 WIT package (the `script-runtime` world), embedded like [`WIT`].
pub const RUNTIME_WIT: &str = include_str!("../../../wit/0.2.0/runtime.wit");

/// The 0.3.0 WIT package (portable schema operations; the `schema-script-runtime` world the
/// Python and JavaScript runtimes are built for).
pub const SCHEMA_WIT: &str = include_str!("../../../wit/0.3.0/schema.wit");

/// The version of the Python and JavaScript runtimes this binary builds: the WIT world they
/// target (0.3.0 adds `schema`).
pub const VERSION: &str = "0.3.0";

/// The world the Python and JavaScript runtimes are built for.
const WORLD: &str = "schema-script-runtime";

const PYTHON_APP: &str = include_str!("../../../guest-sdk/runtimes/python/app.py");
const JS_APP: &str = include_str!("../../../guest-sdk/runtimes/js/app.js");

impl Language {
    /// The runtime's language name ([`RuntimeRef::language`]).
    pub fn runtime_language(self) -> &'static str {
        match self {
            Language::Python => crate::host::runtime::PYTHON,
            Language::JavaScript => crate::host::runtime::JAVASCRIPT,
        }
    }

    /// The runtime application: its module name and source.
    fn app(self) -> (&'static str, &'static str) {
        match self {
            Language::Python => ("app.py", PYTHON_APP),
            Language::JavaScript => ("app.js", JS_APP),
        }
    }
}

/// SHA-256 over what the runtime for `language` is built from: its version, the tool version
/// it is built with, the three WIT packages, the helper layer and the runtime application.
pub fn source_fingerprint(language: Language) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for part in [
        VERSION,
        language.pinned_tool(),
        WIT,
        RUNTIME_WIT,
        SCHEMA_WIT,
        language.helper().1,
        language.app().1,
    ] {
        hash.update((part.len() as u64).to_le_bytes());
        hash.update(part.as_bytes());
    }
    crate::trust::signing::hex(&hash.finalize())
}

/// The runtime in `dir`'s `runtimes/` built from this binary's sources for `language`, if
/// there is one: no tool is needed to build migrations on it.
pub fn find(dir: &Path, language: Language) -> Option<RuntimeRef> {
    let fingerprint = source_fingerprint(language);
    let prefix = format!("{}-", language.runtime_language());
    let entries = std::fs::read_dir(dir.join(RUNTIMES_DIR)).ok()?;
    let mut found: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        })
        .collect();
    found.sort();
    found.into_iter().find_map(|path| {
        let bytes = std::fs::read(&path).ok()?;
        let recorded = crate::trust::signing::custom_section(&bytes, SOURCE_SECTION)?;
        let digest = crate::trust::signing::digest(&bytes);
        let named = path.file_name()?.to_string_lossy().into_owned();
        (recorded == fingerprint.as_bytes() && named == format!("{prefix}{digest}.wasm"))
            .then(|| reference(language, digest))
    })
}

fn reference(language: Language, digest: String) -> RuntimeRef {
    RuntimeRef {
        language: language.runtime_language().to_string(),
        version: VERSION.to_string(),
        digest,
    }
}

/// The runtime `dir`'s `language` migrations build on: the project's own ([`find`]), else
/// this machine's build of the same sources (copied into the project), else a fresh build
/// with the language's tool (kept in the machine's cache and copied into the project).
pub fn ensure(
    dir: &Path,
    language: Language,
    observer: Option<&dyn Observer>,
) -> crate::authoring::Result<RuntimeRef> {
    if let Some(found) = find(dir, language) {
        return Ok(found);
    }
    let fingerprint = source_fingerprint(language);
    let name = format!("{}-{fingerprint}.wasm", language.runtime_language());
    let cached = crate::host::cache::machine_dir().map(|d| d.join("runtimes").join(&name));
    let bytes = match cached.as_ref().and_then(|p| std::fs::read(p).ok()) {
        Some(bytes)
            if crate::trust::signing::custom_section(&bytes, SOURCE_SECTION)
                == Some(fingerprint.as_bytes()) =>
        {
            bytes
        }
        _ => {
            let bytes = build(language, &fingerprint, observer)?;
            if let Some(path) = &cached {
                keep(path, &bytes);
            }
            bytes
        }
    };
    let digest = crate::trust::signing::digest(&bytes);
    let runtime = reference(language, digest);
    let target = dir
        .join(RUNTIMES_DIR)
        .join(crate::host::runtime::file_name(&runtime));
    std::fs::create_dir_all(dir.join(RUNTIMES_DIR))
        .map_err(io("create", dir.join(RUNTIMES_DIR)))?;
    std::fs::write(&target, &bytes).map_err(io("write", &target))?;
    Ok(runtime)
}

/// Stores a built runtime in the machine's cache; failing to is not an error (the next
/// build builds again).
fn keep(path: &Path, bytes: &[u8]) {
    if let Some(parent) = path.parent()
        && std::fs::create_dir_all(parent).is_ok()
    {
        let tmp = path.with_extension(format!("partial-{}", std::process::id()));
        if std::fs::write(&tmp, bytes).is_ok() {
            let _ = std::fs::rename(&tmp, path);
        }
    }
}

/// Builds the runtime for `language` with its tool, pinned to `fingerprint`.
fn build(
    language: Language,
    fingerprint: &str,
    observer: Option<&dyn Observer>,
) -> crate::authoring::Result<Vec<u8>> {
    let (tool, version) = language.tool()?;
    let pinned = language.pinned_tool();
    if let Some(observer) = observer {
        if !version.contains(pinned.rsplit(' ').next().unwrap_or_default()) {
            observer.event(&Event::Note {
                message: &format!("Retort builds this runtime with {pinned}; {version} may differ"),
            });
        }
        observer.event(&Event::BuildingRuntime {
            language: language.name(),
            tool: &version,
        });
    }
    let work = tempfile::Builder::new()
        .prefix("retort-runtime-")
        .tempdir()
        .map_err(io("create", std::env::temp_dir().join("retort-runtime-…")))?;
    let dir = work.path();
    let (helper_name, helper) = language.helper();
    let (app_name, app) = language.app();
    for sub in ["wit/deps/migration", "wit/deps/runtime", "app"] {
        std::fs::create_dir_all(dir.join(sub)).map_err(io("create", dir.join(sub)))?;
    }
    for (file, text) in [
        ("wit/schema.wit", SCHEMA_WIT),
        ("wit/deps/runtime/runtime.wit", RUNTIME_WIT),
        ("wit/deps/migration/migration.wit", WIT),
        (&format!("app/{helper_name}"), helper),
        (&format!("app/{app_name}"), app),
    ] {
        std::fs::write(dir.join(file), text).map_err(io("write", dir.join(file)))?;
    }
    let out = dir.join("runtime.wasm");
    let mut cmd = Command::new(&tool[0]);
    cmd.args(&tool[1..]);
    match language {
        Language::Python => {
            cmd.arg("-d")
                .arg(dir.join("wit"))
                .args(["-w", WORLD, "componentize", "app", "-p"])
                .arg(dir.join("app"))
                .arg("-o")
                .arg(&out);
        }
        Language::JavaScript => {
            // http and fetch-event are not in the world; the host grants the rest of WASI
            // nothing.
            cmd.arg(dir.join("app").join(app_name))
                .arg("-w")
                .arg(dir.join("wit"))
                .args(["-n", WORLD, "-d", "http", "-d", "fetch-event", "-o"])
                .arg(&out);
        }
    }
    let started = std::time::Instant::now();
    let output = cmd.output();
    if let Some(observer) = observer {
        observer.event(&Event::BuiltRuntime {
            language: language.name(),
            duration: started.elapsed(),
        });
    }
    let output = output.map_err(|e| BuildError::Tool {
        message: format!("cannot run the {} runtime build", language.name()),
        source: Some(e),
    })?;
    if !output.status.success() || !out.is_file() {
        return Err(BuildError::Tool {
            source: None,
            message: format!(
                "building the shared {} runtime failed:\n{}{}",
                language.name(),
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        });
    }
    let mut bytes = std::fs::read(&out).map_err(io("read", &out))?;
    crate::trust::signing::append_custom_section(
        &mut bytes,
        SOURCE_SECTION,
        fingerprint.as_bytes(),
    );
    Ok(bytes)
}
