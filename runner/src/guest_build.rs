//! `retort build`: compile every migration crate of a directory to a component.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The target migrations are built for.
pub const TARGET: &str = "wasm32-wasip2";

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
/// Paths are remapped (`--remap-path-prefix`) so the artifact does not depend on where the
/// project or cargo's registry sit on this machine: the same sources give the same bytes.
/// `target_dir` defaults to `$CARGO_TARGET_DIR`, else `<dir>/target`. Paths under `root`
/// (the project) are recorded relative to it.
pub fn build(
    dir: &Path,
    root: &Path,
    target_dir: Option<&Path>,
    quiet: bool,
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
    if crates.is_empty() {
        return Ok(Vec::new());
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
    for (crate_dir, name) in crates {
        let output = target_dir
            .join(TARGET)
            .join("release")
            .join(format!("{name}.wasm"));
        let bytes = std::fs::read(&output)
            .with_context(|| format!("cargo did not produce {}", output.display()))?;
        let artifact = PathBuf::from(format!("{}.wasm", crate_dir.display()));
        std::fs::write(&artifact, &bytes)
            .with_context(|| format!("cannot write {}", artifact.display()))?;
        built.push(Built {
            crate_dir,
            size: bytes.len() as u64,
            digest: crate::artifact::digest(&bytes),
            artifact,
        });
    }
    Ok(built)
}
