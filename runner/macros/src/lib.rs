//! `retort::embed!("migrations")`: the migration artifacts of a directory, compiled into the
//! application binary, for `retort::Project::from_embedded`. Use it through the `retort`
//! crate, which re-exports it.
//!
//! The directory is relative to the calling crate's `Cargo.toml`; its `*.wasm` files (and
//! those of its `runtimes/`, as `runtimes/<file>`) are embedded with `include_bytes!`, so editing one rebuilds the application. A file *added* to
//! the directory is only seen after a rebuild of the calling crate: add
//! `println!("cargo::rerun-if-changed=migrations");` to its build script (as with
//! `sqlx::migrate!`). No dependency: the input is one string literal, the output a struct
//! literal.

use proc_macro::{TokenStream, TokenTree};
use std::path::{Path, PathBuf};

/// Embeds the `*.wasm` artifacts of a migrations directory (relative to the calling crate's
/// `Cargo.toml`) as a `retort::Embedded`.
#[proc_macro]
pub fn embed(input: TokenStream) -> TokenStream {
    let expanded = directory(input).and_then(|dir| expand(&dir));
    match expanded {
        Ok(tokens) => tokens,
        Err(message) => format!("::core::compile_error!({message:?})")
            .parse()
            .unwrap_or_default(),
    }
}

/// The one string-literal argument.
fn directory(input: TokenStream) -> Result<String, String> {
    let usage = "retort::embed! takes one string literal: the migrations directory, relative \
                 to the crate's Cargo.toml, e.g. retort::embed!(\"migrations\")";
    let mut tokens = input.into_iter();
    let (Some(TokenTree::Literal(literal)), None) = (tokens.next(), tokens.next()) else {
        return Err(usage.into());
    };
    let text = literal.to_string();
    match text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        Some(inner) if !inner.contains('\\') => Ok(inner.to_string()),
        Some(_) => Err("retort::embed!: write the directory without escapes".into()),
        None => Err(usage.into()),
    }
}

fn expand(dir: &str) -> Result<TokenStream, String> {
    let root = std::env::var("CARGO_MANIFEST_DIR")
        .map_err(|_| "retort::embed!: CARGO_MANIFEST_DIR is not set (build with cargo)")?;
    let path = Path::new(&root).join(dir);
    let files = artifacts(&path)?;
    if files.is_empty() {
        return Err(format!(
            "retort::embed!: {} holds no *.wasm artifacts (run `retort build` first)",
            path.display()
        ));
    }
    // The shared runtimes its Python and JavaScript migrations run on, as `runtimes/<file>`.
    let runtimes = match path.join("runtimes").is_dir() {
        true => artifacts(&path.join("runtimes"))?,
        false => Vec::new(),
    };
    let mut out = format!("::retort::Embedded {{ dir: {dir:?}, files: &[");
    for (file, prefix) in files
        .iter()
        .map(|f| (f, ""))
        .chain(runtimes.iter().map(|f| (f, "runtimes/")))
    {
        let name = file
            .file_name()
            .and_then(|n| n.to_str())
            .map(|n| format!("{prefix}{n}"))
            .ok_or_else(|| format!("retort::embed!: {} is not UTF-8", file.display()))?;
        let absolute = file
            .to_str()
            .ok_or_else(|| format!("retort::embed!: {} is not UTF-8", file.display()))?;
        out.push_str(&format!(
            "({name:?}, ::core::include_bytes!({absolute:?}) as &[u8]),"
        ));
    }
    out.push_str("] }");
    out.parse()
        .map_err(|e| format!("retort::embed!: internal error: {e}"))
}

/// The `*.wasm` files of `dir`, sorted.
fn artifacts(dir: &Path) -> Result<Vec<PathBuf>, String> {
    let entries = std::fs::read_dir(dir)
        .map_err(|e| format!("retort::embed!: cannot read {}: {e}", dir.display()))?;
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|e| format!("retort::embed!: cannot read {}: {e}", dir.display()))?
            .path();
        if path.extension().is_some_and(|e| e == "wasm") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    Ok(files)
}
