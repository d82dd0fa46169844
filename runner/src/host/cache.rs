//! The compile cache: each component is compiled once per machine.
//!
//! A small cache of our own rather than wasmtime's `cache` feature: wasmtime's cache is keyed
//! by module, needs a TOML config file and brings zstd and a worker thread, while we already
//! have the key we want — the artifact's SHA-256 — and one file per artifact is all it takes.
//! Files are `<digest>-<engine>.cwasm`, where `<engine>` hashes wasmtime's
//! `precompile_compatibility_hash` (version, target, compiler settings) and Retort's version:
//! a precompiled component only loads into an engine with the same settings, and a stale
//! entry is simply recompiled.
//!
//! The directory is `$RETORT_CACHE_DIR`, else `$XDG_CACHE_HOME/retort`, else
//! `~/.cache/retort`; `RETORT_CACHE=off` disables it. Loading precompiled code runs it as
//! native code, so the directory is created private (0700) and entries are written atomically
//! (temporary file + rename): never point it at a directory others can write.

use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

/// Where compiled components are kept, if anywhere.
#[derive(Clone, Debug)]
pub struct CompileCache {
    dir: Option<PathBuf>,
    engine_key: String,
}

/// This machine's cache directory: `$RETORT_CACHE_DIR`, else `$XDG_CACHE_HOME/retort`, else
/// `~/.cache/retort`; none with `RETORT_CACHE=off` or when no directory can be found.
pub fn machine_dir() -> Option<PathBuf> {
    if std::env::var("RETORT_CACHE").is_ok_and(|v| v == "off") {
        return None;
    }
    std::env::var_os("RETORT_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("retort")))
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/retort")))
}

impl CompileCache {
    /// The cache for `engine` in the configured directory (none when disabled or when no
    /// directory can be found).
    pub fn new(engine: &Engine) -> Self {
        CompileCache {
            dir: machine_dir(),
            engine_key: engine_key(engine),
        }
    }

    fn path(&self, digest: &str) -> Option<PathBuf> {
        self.dir
            .as_ref()
            .map(|d| d.join(format!("{digest}-{}.cwasm", self.engine_key)))
    }

    /// Whether the compiled form of `digest` is in the cache (loading it takes milliseconds).
    pub fn holds(&self, digest: &str) -> bool {
        self.path(digest).is_some_and(|p| p.is_file())
    }

    /// Whether there is a directory to keep compiled components in.
    pub fn enabled(&self) -> bool {
        self.dir.is_some()
    }

    /// Compiles `bytes` and keeps the result, unless the cache holds it already; nothing to
    /// load (the optimised tier of a runtime this run uses the quick tier of,
    /// `host/sandbox.rs`).
    pub fn fill(&self, engine: &Engine, digest: &str, bytes: &[u8]) {
        let Some(path) = self.path(digest) else {
            return;
        };
        if path.is_file() {
            return;
        }
        if let Ok(compiled) = engine.precompile_component(bytes) {
            store(&path, &compiled);
        }
    }

    /// The component for `bytes` (whose SHA-256 is `digest`): from the cache, or compiled
    /// and then stored. Failing to store is not an error: the next run compiles again.
    pub fn component(
        &self,
        engine: &Engine,
        digest: &str,
        bytes: &[u8],
    ) -> wasmtime::Result<(Component, bool)> {
        let Some(path) = self.path(digest) else {
            return Ok((Component::new(engine, bytes)?, false));
        };
        if path.is_file() {
            // SAFETY: the file was written by `store` below from `Engine::precompile_component`
            // in a private directory; wasmtime checks that it matches this engine's settings.
            if let Ok(component) = unsafe { Component::deserialize_file(engine, &path) } {
                return Ok((component, true));
            }
        }
        let compiled = engine.precompile_component(bytes)?;
        store(&path, &compiled);
        // SAFETY: `compiled` was produced by this engine a moment ago.
        let component = unsafe { Component::deserialize(engine, &compiled)? };
        Ok((component, false))
    }
}

/// The engine part of a cache file name: SHA-256 of wasmtime's compatibility hash and
/// Retort's version. A stable hash on purpose: `DefaultHasher` may change between Rust
/// releases, which would silently orphan every cache entry.
fn engine_key(engine: &Engine) -> String {
    use sha2::Digest;
    use std::hash::Hash;
    /// Feeds `Hash` input to SHA-256 (wasmtime exposes its settings only as `impl Hash`).
    struct Sha(sha2::Sha256);
    impl std::hash::Hasher for Sha {
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
        fn finish(&self) -> u64 {
            0 // unused: the digest is read from the inner SHA-256
        }
    }
    let mut sha = Sha(sha2::Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut sha);
    sha.0.update(env!("CARGO_PKG_VERSION").as_bytes());
    let digest = sha.0.finalize();
    hex::encode(&digest[..8])
}

/// Writes `bytes` to `path` atomically (a temporary file renamed), creating the private
/// directory first; a failure leaves nothing behind and is not an error (a cache).
pub(crate) fn store(path: &Path, bytes: &[u8]) {
    let Some(dir) = path.parent() else { return };
    if std::fs::create_dir_all(dir).is_err() {
        return;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
    let tmp = dir.join(format!(
        ".{}.{}.tmp",
        path.file_name().and_then(|n| n.to_str()).unwrap_or("entry"),
        std::process::id()
    ));
    if std::fs::write(&tmp, bytes).is_ok() && std::fs::rename(&tmp, path).is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_engine_key_is_stable_within_a_process_and_hex() {
        let engine = wasmtime::Engine::default();
        let key = super::engine_key(&engine);
        assert_eq!(key, super::engine_key(&engine));
        assert_eq!(key.len(), 16);
        assert!(key.bytes().all(|b| b.is_ascii_hexdigit()));
    }
}
