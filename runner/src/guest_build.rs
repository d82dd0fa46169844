//! `retort build`: compile every migration crate of a directory to a component.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The target migrations are built for.
pub const TARGET: &str = "wasm32-wasip2";

/// The custom section in which `retort build` records the fingerprint of the sources an
/// artifact was built from.
pub const SOURCE_SECTION: &str = "retort-source";

/// SHA-256 over a migration crate's files (relative path and content, sorted; `target/` and
/// hidden entries skipped): what the artifact was built from.
pub fn source_fingerprint(crate_dir: &Path) -> anyhow::Result<String> {
    fn walk(dir: &Path, base: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
            if name
                .as_deref()
                .is_some_and(|n| n.starts_with('.') || n == "target")
            {
                continue;
            }
            if path.is_dir() {
                walk(&path, base, files)?;
            } else {
                files.push(path.strip_prefix(base).unwrap_or(&path).to_path_buf());
            }
        }
        Ok(())
    }
    use sha2::{Digest, Sha256};
    let mut files = Vec::new();
    walk(crate_dir, crate_dir, &mut files)
        .with_context(|| format!("cannot read {}", crate_dir.display()))?;
    files.sort();
    let mut hash = Sha256::new();
    for f in files {
        let bytes = std::fs::read(crate_dir.join(&f))
            .with_context(|| format!("cannot read {}", crate_dir.join(&f).display()))?;
        // Separators `/` on every platform, lengths to keep the encoding unambiguous.
        let name = f.to_string_lossy().replace('\\', "/");
        hash.update((name.len() as u64).to_le_bytes());
        hash.update(name.as_bytes());
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(&bytes);
    }
    Ok(crate::signing::hex(&hash.finalize()))
}

/// Whether the artifact beside `crate_dir` was built from the crate's current sources.
fn up_to_date(crate_dir: &Path, fingerprint: &str) -> bool {
    let artifact = PathBuf::from(format!("{}.wasm", crate_dir.display()));
    std::fs::read(artifact).is_ok_and(|bytes| {
        crate::signing::custom_section(&bytes, SOURCE_SECTION) == Some(fingerprint.as_bytes())
    })
}

/// One built artifact.
#[derive(Debug)]
pub struct Built {
    /// The crate directory.
    pub crate_dir: PathBuf,
    /// The artifact written beside it.
    pub artifact: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its SHA-256.
    pub digest: String,
    /// False when the artifact already matched its sources and was kept as it was.
    pub rebuilt: bool,
}

/// Makes sure the wasm target is installed, installing it with rustup if needed.
pub fn ensure_target() -> anyhow::Result<()> {
    let installed = Command::new("rustup")
        .args(["target", "list", "--installed"])
        .output();
    match installed {
        Ok(out)
            if String::from_utf8_lossy(&out.stdout)
                .lines()
                .any(|l| l.trim() == TARGET) =>
        {
            Ok(())
        }
        Ok(_) => {
            eprintln!("retort: installing the {TARGET} target (rustup target add {TARGET})");
            let status = Command::new("rustup")
                .args(["target", "add", TARGET])
                .status()?;
            if !status.success() {
                bail!("`rustup target add {TARGET}` failed");
            }
            Ok(())
        }
        // Without rustup, trust that the toolchain has the target; cargo will say if not.
        Err(_) => Ok(()),
    }
}

/// The migration crates of `dir`: subdirectories with a `Cargo.toml`, sorted.
pub fn crates(dir: &Path) -> anyhow::Result<Vec<(PathBuf, String)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read {}", dir.display()))? {
        let path = entry?.path();
        let manifest = path.join("Cargo.toml");
        if path.is_dir() && manifest.is_file() {
            let text = std::fs::read_to_string(&manifest)?;
            let doc: toml::Table = toml::from_str(&text)
                .with_context(|| format!("{} is not valid TOML", manifest.display()))?;
            let name = doc
                .get("package")
                .and_then(|p| p.get("name"))
                .and_then(|n| n.as_str())
                .with_context(|| format!("{} has no [package] name", manifest.display()))?;
            out.push((path, name.replace('-', "_")));
        }
    }
    out.sort();
    Ok(out)
}

/// Builds every crate of `dir` (a cargo workspace) in release mode for `wasm32-wasip2` and
/// writes `<crate dir>.wasm` beside each crate.
///
/// Artifacts are pinned to their sources: each records a fingerprint of its crate's files
/// (custom section [`SOURCE_SECTION`]), and an artifact whose sources did not change is kept
/// byte for byte (signature included) unless `force`. So rebuilding an unchanged project on
/// another machine, path or toolchain never changes an applied migration's digest.
///
/// Paths are remapped (`--remap-path-prefix`) so the artifact does not depend on where the
/// project or cargo's registry sit on this machine: the same sources give the same bytes.
/// `target_dir` defaults to `$CARGO_TARGET_DIR`, else `<dir>/target`. Paths under `root`
/// (the project) are recorded relative to it.
pub fn build(
    dir: &Path,
    root: &Path,
    target_dir: Option<&Path>,
    quiet: bool,
    force: bool,
) -> anyhow::Result<Vec<Built>> {
    let dir = dir
        .canonicalize()
        .with_context(|| format!("no migrations directory {}", dir.display()))?;
    if !dir.join("Cargo.toml").is_file() {
        bail!(
            "{} has no Cargo.toml: it is not a migrations workspace (create one with `retort new`)",
            dir.display()
        );
    }
    let crates = crates(&dir)?;
    let mut fingerprints = Vec::new();
    for (crate_dir, _) in &crates {
        fingerprints.push(source_fingerprint(crate_dir)?);
    }
    let stale: Vec<bool> = crates
        .iter()
        .zip(&fingerprints)
        .map(|((d, _), f)| force || !up_to_date(d, f))
        .collect();
    let kept = |crate_dir: &Path| -> anyhow::Result<Built> {
        let artifact = PathBuf::from(format!("{}.wasm", crate_dir.display()));
        let bytes = std::fs::read(&artifact)?;
        Ok(Built {
            crate_dir: crate_dir.to_path_buf(),
            size: bytes.len() as u64,
            digest: crate::artifact::digest(&bytes),
            artifact,
            rebuilt: false,
        })
    };
    if !stale.iter().any(|s| *s) {
        return crates.iter().map(|(d, _)| kept(d)).collect();
    }
    ensure_target()?;
    let project = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let mut flags = vec![format!(
        "--remap-path-prefix={}=/project",
        project.display()
    )];
    if let Some(home) = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo")))
    {
        flags.push(format!("--remap-path-prefix={}=/cargo", home.display()));
    }
    let target_dir = target_dir
        .map(Path::to_path_buf)
        .or_else(|| std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from))
        .unwrap_or_else(|| dir.join("target"));
    flags.push(format!(
        "--remap-path-prefix={}=/target",
        target_dir.display()
    ));
    let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
    cmd.args(["build", "--release", "--target", TARGET, "--workspace"])
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env("CARGO_ENCODED_RUSTFLAGS", flags.join("\x1f"))
        .env_remove("RUSTFLAGS");
    if quiet {
        cmd.arg("--quiet");
    }
    let status = cmd.status().context("cannot run cargo")?;
    if !status.success() {
        bail!("cargo build of the migrations in {} failed", dir.display());
    }
    let mut built = Vec::new();
    for (((crate_dir, name), fingerprint), stale) in crates.into_iter().zip(fingerprints).zip(stale)
    {
        if !stale {
            built.push(kept(&crate_dir)?);
            continue;
        }
        let output = target_dir
            .join(TARGET)
            .join("release")
            .join(format!("{name}.wasm"));
        let mut bytes = std::fs::read(&output)
            .with_context(|| format!("cargo did not produce {}", output.display()))?;
        crate::signing::append_custom_section(&mut bytes, SOURCE_SECTION, fingerprint.as_bytes());
        let artifact = PathBuf::from(format!("{}.wasm", crate_dir.display()));
        std::fs::write(&artifact, &bytes)
            .with_context(|| format!("cannot write {}", artifact.display()))?;
        built.push(Built {
            crate_dir,
            size: bytes.len() as u64,
            digest: crate::artifact::digest(&bytes),
            artifact,
            rebuilt: true,
        });
    }
    Ok(built)
}
