//! SQL migrations as script artifacts on the SQL runtime the `retort` binary ships: built with
//! no toolchain, kilobytes each, the runtime stored once per database, downgrades from the
//! stored copies, tampering refused, and SQL artifacts built before all this still running.

use std::path::{Path, PathBuf};

use crate::common::{Dialect, Project, TestDb, repo, stderr, stdout};

/// A `PATH` without cargo, rustup or rustc on it: the system directories only.
fn path_without_rust() -> String {
    let path = "/usr/local/sbin:/usr/sbin:/sbin:/usr/bin:/bin";
    for tool in ["cargo", "rustup", "rustc"] {
        let found = std::process::Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .env("PATH", path)
            .output()
            .unwrap();
        assert!(
            !found.status.success(),
            "{tool} is on {path}: the test cannot hide it"
        );
    }
    path.to_string()
}

/// `retort ARGS` with no Rust toolchain reachable.
fn run_without_rust(project: &Project, db: &TestDb, args: &[&str]) -> std::process::Output {
    project
        .retort(db)
        .args(args)
        .env("PATH", path_without_rust())
        .env_remove("CARGO")
        .env_remove("RUSTUP_HOME")
        .env_remove("CARGO_HOME")
        .output()
        .unwrap()
}

/// Writes a chain of `n` SQL migrations (a table and an index each, with a MySQL down script
/// of their own: `DROP INDEX … ON …`) into the project.
fn sql_chain(project: &Project, n: usize) {
    for i in 0..n {
        let id = 20260101000000u64 + i as u64;
        let parents = if i == 0 {
            "none".to_string()
        } else {
            (id - 1).to_string()
        };
        let stem = project.migrations().join(format!("{id}_t{i}"));
        std::fs::write(
            format!("{}.up.sql", stem.display()),
            format!(
                "-- retort: parents = {parents}\nCREATE TABLE t{i} (id INTEGER PRIMARY KEY, v VARCHAR(20));\n\
                 CREATE INDEX t{i}_v ON t{i} (v);\nINSERT INTO t{i} (id, v) VALUES ({i}, 'semi;{i}');\n"
            ),
        )
        .unwrap();
        std::fs::write(
            format!("{}.down.sql", stem.display()),
            format!("DROP INDEX t{i}_v;\nDROP TABLE t{i};\n"),
        )
        .unwrap();
        std::fs::write(
            format!("{}.mysql.down.sql", stem.display()),
            format!("DROP INDEX t{i}_v ON t{i};\nDROP TABLE t{i};\n"),
        )
        .unwrap();
    }
}

fn artifacts(project: &Project) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(project.migrations())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "wasm"))
        .collect();
    out.sort();
    out
}

fn sql_runtime_digest() -> String {
    retort::host::runtime::sql_runtime().digest
}

/// Build and run a SQL-only project with cargo, rustup and rustc absent; artifacts are
/// kilobytes; the runtime is stored once in `retort_artifacts`; a downgrade with the sources
/// and the build output deleted runs from the stored copies.
pub fn sql_needs_no_toolchain_and_its_runtime_is_stored_once(dialect: Dialect) {
    let db = TestDb::new(dialect, "sqlruntime");
    let project = Project::empty();
    sql_chain(&project, 5);
    let out = run_without_rust(&project, &db, &["build"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let built = artifacts(&project);
    assert_eq!(built.len(), 5, "{}", stdout(&out));
    for file in &built {
        let size = std::fs::metadata(file).unwrap().len();
        let stem = file.with_extension("");
        let scripts: u64 = ["up.sql", "down.sql", "mysql.down.sql"]
            .iter()
            .filter_map(|k| std::fs::metadata(format!("{}.{k}", stem.display())).ok())
            .map(|m| m.len())
            .sum();
        assert!(
            size <= 4096 + scripts,
            "{}: {size} bytes for {scripts} bytes of scripts",
            file.display()
        );
    }
    let out = run_without_rust(&project, &db, &["upgrade"]);
    assert!(out.status.success(), "{}", stderr(&out));
    for i in 0..5 {
        assert_eq!(
            db.strings(&format!("SELECT v FROM t{i}")),
            [format!("semi;{i}")]
        );
    }
    // Five migrations and one runtime, each stored once.
    let runtime = sql_runtime_digest();
    assert_eq!(
        db.count("SELECT COUNT(DISTINCT digest) FROM retort_artifacts"),
        6
    );
    assert_eq!(
        db.count(&format!(
            "SELECT COUNT(*) FROM retort_artifacts WHERE digest = '{runtime}'"
        )),
        1
    );
    let length = match dialect {
        Dialect::Postgres => "CAST(LENGTH(bytes) AS BIGINT)",
        _ => "LENGTH(bytes)",
    };
    let stored = db.count(&format!(
        "SELECT {length} FROM retort_artifacts WHERE digest = '{runtime}'"
    ));
    assert!(
        stored > 1000 && (stored as usize) < retort::host::runtime::SQL_RUNTIME.len(),
        "the runtime is stored compressed: {stored} bytes"
    );
    // A second upgrade with nothing to do stores nothing more.
    let out = run_without_rust(&project, &db, &["upgrade"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_artifacts"), 6);
    // Sources and build output gone: the downgrade runs the stored copies on the runtime.
    for entry in std::fs::read_dir(project.migrations()).unwrap().flatten() {
        std::fs::remove_file(entry.path()).unwrap();
    }
    let out = run_without_rust(&project, &db, &["downgrade", "base"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("downgraded 5 migrations"),
        "{}",
        stdout(&out)
    );
    let tables = db.tables();
    assert!(
        (0..5).all(|i| !tables.contains(&format!("t{i}"))),
        "{tables:?}"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 0);
}

/// Rewrites the `retort-script` section of a script artifact through `edit`.
fn edit_script(path: &Path, edit: impl FnOnce(&mut retort::host::runtime::Script)) {
    let bytes = std::fs::read(path).unwrap();
    let mut script = retort::host::runtime::Script::decode(&bytes)
        .expect("a script artifact")
        .unwrap();
    edit(&mut script);
    // Still pinned to its sources, so `upgrade` does not rebuild it from them.
    let mut edited = script.encode();
    let source = retort::trust::signing::custom_section(&bytes, "retort-source").unwrap();
    retort::trust::signing::append_custom_section(&mut edited, "retort-source", source);
    std::fs::write(path, edited).unwrap();
}

/// A tampered script is refused against its signature; a script naming a runtime this binary
/// does not ship is refused even when signed by a trusted key; neither touches the database.
pub fn tampered_scripts_and_runtimes_are_refused(dialect: Dialect) {
    let db = TestDb::new(dialect, "sqltamper");
    let project = Project::empty();
    sql_chain(&project, 1);
    std::fs::write(
        project.dir.path().join("retort.toml"),
        "[databases.main]\nurl = \"sqlite://unused.db\"\nmigrations = \"migrations\"\n\
         require_signatures = true\n\n[trust]\nkeys = [\"keys/release.pub\"]\n",
    )
    .unwrap();
    let keygen = project
        .retort(&db)
        .args(["keygen", "keys/release", "--comment", "release"])
        .output()
        .unwrap();
    assert!(keygen.status.success(), "{}", stderr(&keygen));
    project.run_ok(&db, &["build", "-q"]);
    let file = artifacts(&project).remove(0);
    let sign = |project: &Project| {
        let out = project
            .retort(&db)
            .args(["sign", "--key", "keys/release"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
    };
    sign(&project);
    let signed = std::fs::read(&file).unwrap();
    // The script edited after signing: the signature no longer matches.
    let mut tampered = signed.clone();
    let at = tampered
        .windows(12)
        .position(|w| w == b"CREATE TABLE")
        .unwrap();
    tampered[at..at + 6].copy_from_slice(b"CREATX");
    std::fs::write(&file, &tampered).unwrap();
    let out = project.run(&db, &["upgrade"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refusing") && stderr(&out).contains("signature"),
        "{}",
        stderr(&out)
    );
    assert!(db.tables().is_empty(), "{:?}", db.tables());
    // Another runtime (as if swapped for one of the author's own), then signed anew with the
    // trusted key: the runtime is still not one Retort ships.
    std::fs::write(&file, &signed).unwrap();
    edit_script(&file, |s| {
        s.runtime.digest = retort::trust::signing::digest(b"some other runtime");
    });
    sign(&project);
    let out = project.run(&db, &["upgrade"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "runs on the sql runtime {}",
            retort::host::runtime::SQL_RUNTIME_VERSION
        )) && err.contains("which this Retort does not ship"),
        "{err}"
    );
    assert!(db.tables().is_empty(), "{:?}", db.tables());
    // A script edited after its artifact was signed: `upgrade` does not rebuild it (that would
    // drop the signature), it refuses, and the signed artifact stays as it was.
    std::fs::write(&file, &signed).unwrap();
    let up = file.with_extension("up.sql");
    let script = std::fs::read_to_string(&up).unwrap();
    std::fs::write(&up, format!("{script}CREATE TABLE extra (x INT);\n")).unwrap();
    let out = project.run(&db, &["upgrade"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("changed since its artifact was built"),
        "{err}"
    );
    assert_eq!(std::fs::read(&file).unwrap(), signed);
    assert!(db.tables().is_empty(), "{:?}", db.tables());
}

/// A SQL migration built before script artifacts (a generated Rust crate, 0.1.0 WIT) is kept
/// byte for byte by `retort build` while its scripts do not change, upgrades and downgrades,
/// and runs beside a new script artifact.
pub fn sql_artifacts_built_before_runtimes_still_run(dialect: Dialect) {
    let db = TestDb::new(dialect, "sqllegacy");
    let project = Project::empty();
    let legacy = repo().join("tests/legacy");
    for name in [
        "20260301000000_legacy_sql.up.sql",
        "20260301000000_legacy_sql.down.sql",
        "20260301000000_legacy_sql.wasm",
    ] {
        std::fs::copy(legacy.join(name), project.migrations().join(name)).unwrap();
    }
    std::fs::write(
        project.migrations().join("20260301000100_after.up.sql"),
        "-- retort: parents = 20260301000000\nINSERT INTO legacy (id, note) VALUES (2, 'from 0.2.0');\n",
    )
    .unwrap();
    std::fs::write(
        project.migrations().join("20260301000100_after.down.sql"),
        "DELETE FROM legacy WHERE id = 2;\n",
    )
    .unwrap();
    let before = std::fs::read(legacy.join("20260301000000_legacy_sql.wasm")).unwrap();
    let out = run_without_rust(&project, &db, &["build"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("unchanged migrations/20260301000000_legacy_sql.wasm"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        std::fs::read(project.migrations().join("20260301000000_legacy_sql.wasm")).unwrap(),
        before,
        "the old artifact is kept byte for byte"
    );
    // A script artifact built for a runtime this binary does not ship (another Retort
    // version's), not yet applied: rebuilt, by `upgrade` itself, onto the shipped runtime.
    let after = project.migrations().join("20260301000100_after.wasm");
    edit_script(&after, |s| {
        s.runtime.digest = retort::trust::signing::digest(b"an older runtime");
    });
    let out = project.run_ok(&db, &["upgrade"]);
    assert!(
        stderr(&out).contains("built migrations/20260301000100_after.wasm"),
        "{}",
        stderr(&out)
    );
    let rebuilt = retort::host::runtime::Script::decode(&std::fs::read(&after).unwrap())
        .unwrap()
        .unwrap();
    assert_eq!(rebuilt.runtime.digest, sql_runtime_digest());
    assert_eq!(
        db.strings("SELECT note FROM legacy ORDER BY id"),
        ["from 0.1.0", "from 0.2.0"]
    );
    project.run_ok(&db, &["downgrade", "20260301000000"]);
    assert_eq!(
        db.strings("SELECT note FROM legacy ORDER BY id"),
        ["from 0.1.0"]
    );
    project.run_ok(&db, &["downgrade", "base"]);
    assert!(!db.tables().contains(&"legacy".to_string()));
}

/// Writes a Python or JavaScript migration `<id>_<slug>.<ext>` into the project.
fn write_script(project: &Project, stem: &str, ext: &str, text: &str) -> PathBuf {
    let path = project.migrations().join(format!("{stem}.{ext}"));
    std::fs::write(&path, text).unwrap();
    path
}

const PY_ROOT: &str = r#"from retort_guest import Migration, Tx, export

class Items(Migration):
    id = "20260301000000"
    parents = []
    description = "python: items"

    def upgrade(self, tx: Tx) -> None:
        tx.execute("CREATE TABLE py_items (id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL)")
        tx.execute_batch("INSERT INTO py_items (id, name) VALUES ($1, $2)", [(i, f"item {i}") for i in range(1, 6)])

    def downgrade(self, tx: Tx) -> None:
        tx.execute("DROP TABLE py_items")

WitWorld = export(Items)
"#;

const PY_CHILD: &str = r#"from dataclasses import dataclass
from retort_guest import Migration, Tx, export

@dataclass
class Item:
    id: int
    name: str

class Shout(Migration):
    id = "20260301000100"
    parents = ["20260301000000"]
    description = "python: upper-case the names"

    def upgrade(self, tx: Tx) -> None:
        rows = list(tx.query(Item, "SELECT id, name FROM py_items ORDER BY id"))
        tx.execute_batch("UPDATE py_items SET name = $1 WHERE id = $2", [(r.name.upper(), r.id) for r in rows])

    def downgrade(self, tx: Tx) -> None:
        tx.execute("UPDATE py_items SET name = LOWER(name)")

WitWorld = export(Shout)
"#;

const JS_CHILD: &str = r#"import { defineMigration, log as say } from "./retort_guest.js";

class Item {
  constructor({ id, name }) { this.id = id; this.name = name; }
}

export const { metadata, upgrade, downgrade } = defineMigration({
  id: "20260301000200",
  parents: ["20260301000100"],
  description: "javascript: copy the items",
  upgrade(tx) {
    tx.execute("CREATE TABLE js_items (id INTEGER PRIMARY KEY, name VARCHAR(20) NOT NULL)");
    const rows = [...tx.query(Item, "SELECT id, name FROM py_items ORDER BY id")];
    tx.executeBatch("INSERT INTO js_items (id, name) VALUES ($1, $2)", rows.map((r) => [r.id, `${r.name}!`]));
    say(`copied ${rows.length} items`);
  },
  downgrade(tx) {
    tx.execute("DROP TABLE js_items");
  },
});
"#;

const JS_GRANDCHILD: &str = r#"import * as retort from "./retort_guest.js";

export const { metadata, upgrade, downgrade } = retort.defineMigration({
  id: "20260301000300",
  parents: ["20260301000200"],
  description: "javascript: one more item",
  upgrade(tx) { tx.execute("INSERT INTO js_items (id, name) VALUES (6, 'six')"); },
  downgrade(tx) { tx.execute("DELETE FROM js_items WHERE id = 6"); },
});
"#;

/// `retort upgrade` on a machine without componentize-py or componentize-js.
fn upgrade_without_guest_tools(project: &Project, db: &TestDb) -> std::process::Output {
    project
        .retort(db)
        .arg("upgrade")
        .env("RETORT_COMPONENTIZE_PY", "/nonexistent/componentize-py")
        .env("RETORT_COMPONENTIZE_JS", "/nonexistent/cli.js")
        .output()
        .unwrap()
}

fn runtime_files(project: &Project) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(project.migrations().join("runtimes"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

/// Python and JavaScript migrations are script artifacts of kilobytes on one shared runtime
/// per language, kept once in the project and stored once per database; a tampered runtime
/// is refused; a new migration is built by `upgrade` itself once its runtime is there; a
/// downgrade with sources, artifacts and runtimes deleted runs from the stored copies.
pub fn python_and_javascript_run_on_shared_runtimes(dialect: Dialect) {
    crate::common::polyglot(); // builds both runtimes into this machine's cache, once
    let db = TestDb::new(dialect, "scriptrt");
    let project = Project::empty();
    let sources = [
        write_script(&project, "20260301000000_items", "py", PY_ROOT),
        write_script(&project, "20260301000100_shout", "py", PY_CHILD),
        write_script(&project, "20260301000200_copy", "js", JS_CHILD),
    ];
    // Without the runtime in the project, nothing can build them without the tool: upgrade
    // refuses, naming each, and touches nothing.
    let out = upgrade_without_guest_tools(&project, &db);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    for stem in [
        "20260301000000_items",
        "20260301000100_shout",
        "20260301000200_copy",
    ] {
        assert!(
            stderr(&out).contains(&format!("migrations/{stem} has no artifact")),
            "{}",
            stderr(&out)
        );
    }
    assert!(db.tables().is_empty(), "{:?}", db.tables());
    project.run_ok(&db, &["build", "-q"]);
    for source in &sources {
        let artifact = source.with_extension("wasm");
        let size = std::fs::metadata(&artifact).unwrap().len();
        let script = std::fs::metadata(source).unwrap().len();
        assert!(
            size <= 50 * 1024 + script,
            "{}: {size} bytes for a {script}-byte script",
            artifact.display()
        );
    }
    let runtimes = runtime_files(&project);
    assert_eq!(runtimes.len(), 2, "{runtimes:?}");
    assert!(runtimes[0].starts_with("javascript-") && runtimes[1].starts_with("python-"));

    // A runtime whose bytes are not the ones the artifacts name is refused; nothing runs.
    let python = project.migrations().join("runtimes").join(&runtimes[1]);
    let original = std::fs::read(&python).unwrap();
    let mut tampered = original.clone();
    retort::trust::signing::append_custom_section(&mut tampered, "x", b"tampered");
    std::fs::write(&python, &tampered).unwrap();
    let out = project.run(&db, &["upgrade"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains(&format!(
            "the python runtime {}",
            retort::authoring::runtimes::VERSION
        )) && stderr(&out).contains("it was altered"),
        "{}",
        stderr(&out)
    );
    assert!(!db.tables().contains(&"py_items".to_string()));
    std::fs::write(&python, &original).unwrap();

    let out = project.run_ok(&db, &["upgrade"]);
    assert!(stderr(&out).contains("copied 5 items"), "{}", stderr(&out));
    assert_eq!(
        db.strings("SELECT name FROM js_items ORDER BY id"),
        ["ITEM 1!", "ITEM 2!", "ITEM 3!", "ITEM 4!", "ITEM 5!"]
    );

    // A new JavaScript migration needs no tool: its runtime is in the project.
    write_script(&project, "20260301000300_six", "js", JS_GRANDCHILD);
    let out = upgrade_without_guest_tools(&project, &db);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("built migrations/20260301000300_six.wasm from its source"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        db.strings("SELECT name FROM js_items WHERE id = 6"),
        ["six"]
    );

    // Four migrations and two runtimes, each stored once (a runtime in 4 MB parts).
    assert_eq!(
        db.count("SELECT COUNT(DISTINCT digest) FROM retort_artifacts"),
        6
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM retort_artifacts WHERE part = 0"),
        6
    );
    for file in &runtimes {
        let digest = file
            .split_once('-')
            .unwrap()
            .1
            .trim_end_matches(".wasm")
            .to_string();
        assert_eq!(
            db.count(&format!(
                "SELECT COUNT(*) FROM retort_artifacts WHERE digest = '{digest}' AND part = 0"
            )),
            1,
            "{file}"
        );
    }

    // A bundle holds each runtime once, and runs with nothing else on another database.
    project.run_ok(&db, &["bundle", "-o", "release.retort"]);
    let listing = std::process::Command::new("tar")
        .arg("-tf")
        .arg(project.dir.path().join("release.retort"))
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&listing.stdout).into_owned();
    let mut bundled: Vec<&str> = listing
        .lines()
        .filter_map(|l| l.strip_prefix("runtimes/"))
        .collect();
    bundled.sort();
    assert_eq!(bundled, runtimes, "{listing}");
    let other = TestDb::new(dialect, "scriptrt2");
    let host = Project::empty();
    std::fs::copy(
        project.dir.path().join("release.retort"),
        host.dir.path().join("release.retort"),
    )
    .unwrap();
    host.run_ok(&other, &["--bundle", "release.retort", "upgrade"]);
    assert_eq!(other.count("SELECT COUNT(*) FROM js_items"), 6);

    // Sources, artifacts and runtimes gone: the downgrade runs the stored copies.
    std::fs::remove_dir_all(project.migrations()).unwrap();
    std::fs::create_dir(project.migrations()).unwrap();
    let out = project.run_ok(&db, &["downgrade", "base"]);
    assert!(
        stdout(&out).contains("downgraded 4 migrations"),
        "{}",
        stdout(&out)
    );
    let tables = db.tables();
    assert!(
        !tables.contains(&"py_items".to_string()) && !tables.contains(&"js_items".to_string()),
        "{tables:?}"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 0);
}

/// A SQL migration built on an earlier build of the SQL runtime (one a past Retort shipped)
/// is kept as it is by `upgrade`, runs on that runtime, and downgrades from its stored copy.
pub fn sql_artifacts_on_an_earlier_sql_runtime_still_run(dialect: Dialect) {
    for past in retort::host::runtime::PAST_SQL_RUNTIMES {
        on_a_past_sql_runtime(dialect, &retort::trust::signing::digest(past));
    }
}

fn on_a_past_sql_runtime(dialect: Dialect, past: &str) {
    let past = past.to_string();
    assert_ne!(past, sql_runtime_digest());
    let db = TestDb::new(dialect, "pastrt");
    let project = Project::empty();
    sql_chain(&project, 2);
    project.run_ok(&db, &["build", "-q"]);
    for file in artifacts(&project) {
        edit_script(&file, |s| s.runtime.digest = past.clone());
    }
    let before = artifacts(&project)
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect::<Vec<_>>();
    project.run_ok(&db, &["upgrade"]);
    let after = artifacts(&project)
        .iter()
        .map(|f| std::fs::read(f).unwrap())
        .collect::<Vec<_>>();
    assert_eq!(
        before, after,
        "upgrade rebuilt artifacts of a shipped runtime"
    );
    assert_eq!(db.strings("SELECT v FROM t1"), ["semi;1"]);
    // The past runtime is what was stored, not the current one.
    assert_eq!(
        db.count(&format!(
            "SELECT COUNT(*) FROM retort_artifacts WHERE digest = '{past}' AND part = 0"
        )),
        1
    );
    for entry in std::fs::read_dir(project.migrations()).unwrap().flatten() {
        std::fs::remove_file(entry.path()).unwrap();
    }
    project.run_ok(&db, &["downgrade", "base"]);
    assert!(!db.tables().contains(&"t0".to_string()));
}
