//! The guest SDK a migrations workspace builds against, carried inside the `retort` binary.
//!
//! A workspace made by `retort new` (or `retort import`) depends on
//! `.retort/sdk/retort-guest` inside the migrations directory, a copy of this repository's
//! `guest-sdk` (and `retort-sql`, and the WIT) that `retort build` writes there whenever it is
//! missing or from another runner version. So the project builds wherever it is moved and
//! for a teammate with only an installed `retort`, and its artifacts do not depend on where a
//! checkout of Retort sits (cargo hashes the absolute path of a path dependency outside the
//! workspace into the build; one inside it is remapped with the project). The copy is build
//! output: `.retort/.gitignore` keeps it out of version control.

use std::path::Path;

use crate::authoring::error::io;

/// Where the copy goes, relative to the migrations directory.
pub const DIR: &str = ".retort/sdk";

/// The dependency line of a workspace built against the copy.
pub const DEPENDENCY: &str = "retort-guest = { path = \".retort/sdk/retort-guest\" }";

const WIT_BINDGEN: &str = "wit-bindgen = { version = \"0.61\", default-features = false, features = [\"macros\", \"realloc\"] }";

/// The files of the copy, relative to [`DIR`].
fn files() -> Vec<(&'static str, String)> {
    let version = env!("CARGO_PKG_VERSION");
    let manifest = |name: &str, dependencies: &str| {
        format!(
            "# Written by `retort build` from the retort {version} binary: do not edit.\n\
             [package]\nname = \"{name}\"\nversion = \"{version}\"\nedition = \"2024\"\n\
             publish = false\n\n[dependencies]\n{dependencies}\n"
        )
    };
    vec![
        (
            "retort-guest/Cargo.toml",
            manifest(
                "retort-guest",
                &format!("retort-sql = {{ path = \"../retort-sql\" }}\n{WIT_BINDGEN}"),
            ),
        ),
        (
            "retort-guest/src/lib.rs",
            include_str!("../../../guest-sdk/src/lib.rs").into(),
        ),
        (
            "retort-guest/src/decode.rs",
            include_str!("../../../guest-sdk/src/decode.rs").into(),
        ),
        (
            "retort-guest/src/params.rs",
            include_str!("../../../guest-sdk/src/params.rs").into(),
        ),
        (
            "retort-guest/src/script.rs",
            include_str!("../../../guest-sdk/src/script.rs").into(),
        ),
        ("retort-sql/Cargo.toml", manifest("retort-sql", "")),
        (
            "retort-sql/src/lib.rs",
            include_str!("../../../guest-sdk/sql/src/lib.rs").into(),
        ),
        (
            "retort-sql/src/control.rs",
            include_str!("../../../guest-sdk/sql/src/control.rs").into(),
        ),
        (
            "retort-sql/src/split.rs",
            include_str!("../../../guest-sdk/sql/src/split.rs").into(),
        ),
        (
            "retort-guest/src/schema.rs",
            include_str!("../../../guest-sdk/src/schema.rs").into(),
        ),
        (
            "wit/0.1.0/migration.wit",
            include_str!("../../../wit/0.1.0/migration.wit").into(),
        ),
        (
            "wit/0.2.0/runtime.wit",
            include_str!("../../../wit/0.2.0/runtime.wit").into(),
        ),
        (
            "wit/0.3.0/schema.wit",
            include_str!("../../../wit/0.3.0/schema.wit").into(),
        ),
    ]
}

/// SHA-256 of the copy's files: which runner wrote it.
fn stamp(files: &[(&'static str, String)]) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for (path, text) in files {
        hash.update((path.len() as u64).to_le_bytes());
        hash.update(path.as_bytes());
        hash.update((text.len() as u64).to_le_bytes());
        hash.update(text.as_bytes());
    }
    crate::trust::signing::hex(&hash.finalize())
}

/// Whether the workspace of `dir` builds against the copy.
pub fn vendored(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("Cargo.toml")).is_ok_and(|m| m.contains(".retort/sdk/"))
}

/// Writes the copy into `dir` unless this runner's is there already.
pub fn materialize(dir: &Path) -> crate::authoring::Result<()> {
    let files = files();
    let stamp = stamp(&files);
    let root = dir.join(DIR);
    let stamp_file = root.join("STAMP");
    if std::fs::read_to_string(&stamp_file).is_ok_and(|s| s.trim() == stamp) {
        return Ok(());
    }
    let write = |rel: &str, text: &str| -> crate::authoring::Result<()> {
        let path = root.join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(io("create", &parent))?;
        }
        std::fs::write(&path, text).map_err(io("write", &path))
    };
    // Files of another version's copy that this one lacks must not linger.
    let _ = std::fs::remove_dir_all(&root);
    for (rel, text) in &files {
        write(rel, text)?;
    }
    write("STAMP", &format!("{stamp}\n"))?;
    let ignore = dir.join(".retort/.gitignore");
    std::fs::write(&ignore, "# Build output of `retort build`.\n*\n").map_err(io("write", &ignore))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_copy_is_written_once_per_runner_and_replaced_when_stale() {
        let dir = tempfile::tempdir().unwrap();
        materialize(dir.path()).unwrap();
        let lib = dir.path().join(DIR).join("retort-guest/src/lib.rs");
        assert!(
            std::fs::read_to_string(&lib)
                .unwrap()
                .contains("../wit/0.1.0")
        );
        assert!(dir.path().join(DIR).join("wit/0.3.0/schema.wit").is_file());
        let manifest =
            std::fs::read_to_string(dir.path().join(DIR).join("retort-guest/Cargo.toml")).unwrap();
        assert!(
            manifest.contains("retort-sql = { path = \"../retort-sql\" }"),
            "{manifest}"
        );
        // A stale copy (another stamp) is replaced; a current one is left alone.
        std::fs::write(&lib, "edited").unwrap();
        materialize(dir.path()).unwrap();
        assert_eq!(std::fs::read_to_string(&lib).unwrap(), "edited");
        std::fs::write(dir.path().join(DIR).join("STAMP"), "old\n").unwrap();
        std::fs::write(dir.path().join(DIR).join("leftover.rs"), "x").unwrap();
        materialize(dir.path()).unwrap();
        assert!(
            std::fs::read_to_string(&lib)
                .unwrap()
                .contains("wit_bindgen::generate!")
        );
        assert!(!dir.path().join(DIR).join("leftover.rs").exists());
        assert_eq!(
            std::fs::read_to_string(dir.path().join(".retort/.gitignore")).unwrap(),
            "# Build output of `retort build`.\n*\n"
        );
    }
}
