//! The README is a program: its tour runs as written, and every code block in it and in
//! `docs/` is checked in its language.
//!
//! The tour's blocks carry an HTML comment (invisible when rendered) that says what to do:
//! `<!-- readme: run -->` runs a shell block with the built `retort` first on `PATH`, in the
//! directory the previous block ended in (so `cd` carries over); `<!-- readme: write GLOB -->`
//! writes the block into the one file `GLOB` names — a file `retort new` made — keeping the
//! revision ids `retort new` chose: the example's ids stand for them, in order;
//! `<!-- readme: prerequisite -->` is an install step CI performs its own way (`.ci/run`).
//! `needs=python` marks what needs componentize-py: skipped, saying so, without it.

use std::path::{Path, PathBuf};

use crate::common::{guest_target, repo};

/// A fenced code block and the `readme:` instruction before it.
#[derive(Debug)]
struct Block {
    info: String,
    body: String,
    instruction: Option<String>,
    line: usize,
}

fn blocks(markdown: &str) -> Vec<Block> {
    let mut out = Vec::new();
    let mut lines = markdown.lines().enumerate();
    let mut last_text: Option<&str> = None;
    while let Some((n, line)) = lines.next() {
        let Some(info) = line.strip_prefix("```") else {
            if !line.trim().is_empty() {
                last_text = Some(line.trim());
            }
            continue;
        };
        let mut body = String::new();
        for (_, line) in lines.by_ref() {
            if line.starts_with("```") {
                break;
            }
            body.push_str(line);
            body.push('\n');
        }
        let instruction = last_text
            .and_then(|t| t.strip_prefix("<!-- readme:"))
            .and_then(|t| t.strip_suffix("-->"))
            .map(|t| t.trim().to_string());
        out.push(Block {
            info: info.trim().to_string(),
            body,
            instruction,
            line: n + 1,
        });
        last_text = None;
    }
    out
}

/// The 14-digit revision ids in `text`, in order.
fn ids(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let run = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if run == 14 {
            found.push(text[i..i + 14].to_string());
        }
        i += run.max(1);
    }
    found
}

/// The example with its ids replaced, in order, by the ones the scaffold holds.
fn with_scaffold_ids(example: &str, scaffold: &str, at: usize) -> String {
    let (mine, theirs) = (ids(example), ids(scaffold));
    assert_eq!(
        mine.len(),
        theirs.len(),
        "README line {at}: the example names {mine:?}, the scaffold {theirs:?}"
    );
    let mut text = example.to_string();
    // Through placeholders, so an id that is also another's replacement is not replaced twice.
    for (n, id) in mine.iter().enumerate() {
        text = text.replacen(id.as_str(), &format!("\u{1}{n}\u{1}"), 1);
    }
    for (n, id) in theirs.iter().enumerate() {
        text = text.replace(&format!("\u{1}{n}\u{1}"), id);
    }
    text
}

/// The one file `pattern` (a path with `*` in its components) names under `cwd`.
fn one_file(cwd: &Path, pattern: &str) -> PathBuf {
    let mut found = vec![cwd.to_path_buf()];
    for part in pattern.split('/') {
        let (prefix, suffix) = part.split_once('*').unwrap_or((part, ""));
        let exact = !part.contains('*');
        found = found
            .iter()
            .flat_map(|dir| {
                std::fs::read_dir(dir)
                    .into_iter()
                    .flatten()
                    .flatten()
                    .map(|e| e.path())
                    .filter(|p| {
                        let name = p.file_name().unwrap_or_default().to_string_lossy();
                        if exact {
                            name == part
                        } else {
                            name.starts_with(prefix)
                                && name.ends_with(suffix)
                                && name.len() >= prefix.len() + suffix.len()
                        }
                    })
                    .collect::<Vec<_>>()
            })
            .collect();
    }
    assert_eq!(found.len(), 1, "{pattern} in {}: {found:?}", cwd.display());
    found.remove(0)
}

/// Runs the README's tour in a fresh directory, then checks what it made.
#[test]
fn the_readme_tour_runs_as_written() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    let root = tempfile::Builder::new()
        .prefix("retort-readme-")
        .tempdir()
        .unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_retort")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let python = cfg!(retort_test_polyglot);
    // A machine that has compiled nothing yet, as a newcomer's (or CI's) is: the Python
    // runtime's first compilation must show. Built runtimes are copied in, so the tour does
    // not rebuild them with componentize-py (that is `retort build`'s, tested elsewhere).
    let cache = root.path().join(".machine-cache");
    if let Some(machine) = retort::host::cache::machine_dir() {
        copy_dir(&machine.join("runtimes"), &cache.join("runtimes"));
    }
    let mut cwd = root.path().to_path_buf();
    let mut ran = 0;
    let mut printed = String::new();
    for block in blocks(&readme) {
        let Some(instruction) = &block.instruction else {
            continue;
        };
        let mut words = instruction.split_whitespace();
        let verb = words.next().unwrap_or_default();
        let mut words: Vec<&str> = words.collect();
        if words.contains(&"needs=python") {
            if !python {
                eprintln!(
                    "README line {}: skipped, needs componentize-py (set RETORT_COMPONENTIZE_PY)",
                    block.line
                );
                continue;
            }
            words.retain(|w| *w != "needs=python");
        }
        match verb {
            "prerequisite" => {}
            "run" => {
                let state = root.path().join(".readme-cwd");
                let script = format!(
                    "set -euo pipefail\ncd '{}'\n{}\npwd > '{}'\n",
                    cwd.display(),
                    block.body,
                    state.display()
                );
                let out = std::process::Command::new("bash")
                    .args(["-c", &script])
                    .env("PATH", &path)
                    .env("CARGO_TARGET_DIR", guest_target())
                    .env("RETORT_CACHE_DIR", &cache)
                    .env_remove("DATABASE_URL")
                    .output()
                    .unwrap();
                printed.push_str(&String::from_utf8_lossy(&out.stdout));
                printed.push_str(&String::from_utf8_lossy(&out.stderr));
                assert!(
                    out.status.success(),
                    "README line {}:\n{}\nstdout:\n{}\nstderr:\n{}",
                    block.line,
                    block.body,
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                );
                cwd = PathBuf::from(std::fs::read_to_string(&state).unwrap().trim());
                ran += 1;
            }
            "write" => {
                let [pattern] = words.as_slice() else {
                    panic!("README line {}: `write` takes one path", block.line);
                };
                let file = one_file(&cwd, pattern);
                let scaffold = std::fs::read_to_string(&file).unwrap();
                std::fs::write(&file, with_scaffold_ids(&block.body, &scaffold, block.line))
                    .unwrap();
            }
            other => panic!("README line {}: unknown instruction `{other}`", block.line),
        }
    }
    assert!(ran >= 5, "the README's tour has {ran} runnable blocks");
    if python {
        // The first Python upgrade says it is compiling the runtime, and counts the time.
        assert!(
            printed.contains("compiling the python runtime")
                && printed.contains("compiled the python runtime")
                && printed.contains("in the migrations themselves"),
            "{printed}"
        );
    }

    // What the tour made: the orders and, with Python, their bands; the totals.
    let db = rusqlite::Connection::open(cwd.join("app.db")).unwrap();
    let totals: Vec<(String, i64)> = db
        .prepare("SELECT customer, total FROM customer_totals ORDER BY customer")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected = [("ada", 120), ("alan", 40), ("grace", 300)];
    assert_eq!(
        totals,
        expected.map(|(c, t)| (c.to_string(), t)),
        "customer_totals"
    );
    if python {
        let bands: Vec<(String, String)> = db
            .prepare("SELECT customer, band FROM orders ORDER BY customer")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            bands,
            [("ada", "large"), ("alan", "small"), ("grace", "large")]
                .map(|(c, b)| (c.to_string(), b.to_string()))
        );
    }
    let applied: i64 = db
        .query_row(
            "SELECT count(*) FROM retort_history WHERE state = 'applied'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(applied, if python { 3 } else { 2 });
}

/// Every code block of the README and `docs/` in a language that can be checked without a
/// database is valid: TOML parses (and a project file loads), Python compiles, JavaScript
/// passes `node --check`. Rust blocks are doctests of the `retort` crate (`lib.rs`).
#[test]
fn every_documented_block_parses() {
    let mut pages = vec![repo().join("README.md")];
    for entry in std::fs::read_dir(repo().join("docs")).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            pages.push(path);
        }
    }
    // Rust blocks run as doctests: every page that has one is included in lib.rs.
    let lib = std::fs::read_to_string(repo().join("runner/src/lib.rs")).unwrap();
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        let name = page.strip_prefix(repo()).unwrap().display().to_string();
        if blocks(&text).iter().any(|b| b.info.starts_with("rust")) {
            assert!(
                lib.contains(&format!("include_str!(\"../../{name}\")")),
                "{name} has Rust blocks: include it in lib.rs's `documentation` doctests"
            );
        }
    }
    let python = which("python3");
    let node = which("node");
    let scratch = tempfile::tempdir().unwrap();
    let mut checked = 0;
    for page in &pages {
        let text = std::fs::read_to_string(page).unwrap();
        for block in blocks(&text) {
            let at = format!("{}:{}", page.display(), block.line);
            match block.info.split([',', ' ']).next().unwrap_or_default() {
                "toml" => {
                    if let Err(e) = block.body.parse::<toml::Table>() {
                        panic!("{at}: not TOML: {e}\n{}", block.body);
                    }
                    checked += 1;
                }
                "python" if python => {
                    let file = scratch.path().join("block.py");
                    std::fs::write(&file, &block.body).unwrap();
                    let out = std::process::Command::new("python3")
                        .args(["-c", "import ast, sys; ast.parse(open(sys.argv[1]).read())"])
                        .arg(&file)
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "{at}: not Python:\n{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    checked += 1;
                }
                "js" | "javascript" if node => {
                    let file = scratch.path().join("block.mjs");
                    std::fs::write(&file, &block.body).unwrap();
                    let out = std::process::Command::new("node")
                        .arg("--check")
                        .arg(&file)
                        .output()
                        .unwrap();
                    assert!(
                        out.status.success(),
                        "{at}: not JavaScript:\n{}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                    checked += 1;
                }
                _ => {}
            }
        }
    }
    if !python || !node {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true: python3 and node are needed to check the documentation's blocks"
        );
        eprintln!("python3 or node missing: their documentation blocks were not checked");
    }
    assert!(checked > 10, "{checked} blocks checked");
}

fn copy_dir(from: &Path, to: &Path) {
    let Ok(entries) = std::fs::read_dir(from) else {
        return;
    };
    std::fs::create_dir_all(to).unwrap();
    for entry in entries.flatten() {
        if entry.path().is_file() {
            std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
        }
    }
}

fn which(program: &str) -> bool {
    std::process::Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn ids_map_in_order() {
    let example = "id = \"20261206100200\"\nparents = [\"20261206100100\"]\n";
    let scaffold = "id = \"20270101000001\"\nparents = [\"20261206100200\"]\n";
    assert_eq!(
        with_scaffold_ids(example, scaffold, 0),
        "id = \"20270101000001\"\nparents = [\"20261206100200\"]\n"
    );
}
