//! The command line as a user meets it: usage errors, configuration errors, bad artifacts.

use crate::common::{Dialect, Project, TestDb, stderr, stdout};

fn retort(project: &Project) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_retort"));
    cmd.current_dir(project.dir.path())
        .env_remove("DATABASE_URL");
    cmd
}

#[test]
fn usage_errors_exit_2() {
    let project = Project::empty();
    let out = retort(&project).arg("frobnicate").output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let out = retort(&project).arg("downgrade").output().unwrap();
    assert_eq!(out.status.code(), Some(2), "downgrade needs a target");
}

#[test]
fn every_config_problem_is_reported_at_once() {
    let project = Project::empty();
    std::fs::write(
        project.dir.path().join("retort.toml"),
        "[databases.a]\nurl = \"${RETORT_TEST_SURELY_UNSET}\"\n[databases.b]\nurl = \"http://nope\"\nmigratons = \"typo\"\n",
    )
    .unwrap();
    let out = retort(&project).arg("status").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("RETORT_TEST_SURELY_UNSET is not set"), "{err}");
    assert!(err.contains("unknown field `migratons`"), "{err}");
}

#[test]
fn missing_database_url_is_explained() {
    let project = Project::empty();
    let out = retort(&project).arg("upgrade").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("has no URL: pass --database-url, set DATABASE_URL"),
        "{}",
        stderr(&out)
    );
}

/// Files that are not migrations are refused before the database is touched.
#[test]
fn bad_artifacts_are_refused_before_touching_the_database() {
    let cases: [(&str, &[u8], &str); 3] = [
        (
            "20260301000000_text.wasm",
            b"this is not wasm",
            "not WebAssembly",
        ),
        (
            "20260301000000_core.wasm",
            b"\0asm\x01\0\0\0",
            "core WebAssembly module, not a component",
        ),
        ("20260301000000_empty.wasm", b"", "not WebAssembly"),
    ];
    for (name, bytes, expected) in cases {
        let db = TestDb::new(Dialect::Sqlite, "badartifact");
        let project = Project::empty();
        std::fs::write(project.migrations().join(name), bytes).unwrap();
        let out = project.retort(&db).arg("upgrade").output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{name}");
        let err = stderr(&out);
        assert!(
            err.contains(name) && err.contains(expected),
            "{name}: {err}"
        );
        assert!(
            !db.sqlite_path().exists(),
            "{name}: the database was touched"
        );
    }
}

#[test]
fn a_file_named_for_another_revision_is_refused() {
    let db = TestDb::new(Dialect::Sqlite, "misnamed");
    let project = Project::empty();
    let fixtures = crate::common::fixtures();
    std::fs::copy(
        fixtures.join("20260201000000_items.wasm"),
        project.migrations().join("20990101000000_items.wasm"),
    )
    .unwrap();
    let out = project.retort(&db).arg("upgrade").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(
            "the file name says revision `20990101000000` but the migration says `20260201000000`"
        ),
        "{err}"
    );
    assert!(!db.sqlite_path().exists());
}

fn graph_project() -> (Project, TestDb) {
    let db = TestDb::new(Dialect::Sqlite, "graphcli");
    let project = Project::with_fixtures(&[
        "20260501000000",
        "20260501000100",
        "20260501000200",
        "20260501000300",
    ]);
    (project, db)
}

fn ok(out: &std::process::Output) -> String {
    assert!(out.status.success(), "{}", stderr(out));
    crate::common::stdout(out)
}

#[test]
fn history_draws_the_graph_with_what_is_applied() {
    let (project, db) = graph_project();
    ok(&project
        .retort(&db)
        .args(["upgrade", "20260501000100"])
        .output()
        .unwrap());
    let text = ok(&project.retort(&db).arg("history").output().unwrap());
    let lines: Vec<&str> = text.lines().skip(1).collect();
    assert_eq!(
        lines,
        [
            "o 20260501000300 (head)  create t_merge",
            "| \\",
            "| o 20260501000200 [right]  create t_right",
            "* | 20260501000100 [left]  create t_left",
            "| /",
            "* 20260501000000  create t_root",
        ],
        "{text}"
    );
    let verbose = ok(&project
        .retort(&db)
        .args(["history", "-v"])
        .output()
        .unwrap());
    assert!(verbose.contains("applied (newest first):"), "{verbose}");
    assert!(verbose.contains("sha256 "), "{verbose}");
}

#[test]
fn heads_branches_and_show() {
    let (project, db) = graph_project();
    let heads = ok(&project.retort(&db).arg("heads").output().unwrap());
    assert_eq!(heads.trim(), "default: 20260501000300  create t_merge");
    let branches = ok(&project.retort(&db).arg("branches").output().unwrap());
    assert!(
        branches.contains("default: 20260501000000  create t_root"),
        "{branches}"
    );
    assert!(
        branches.contains("  -> 20260501000100 [left]  create t_left"),
        "{branches}"
    );
    assert!(
        branches.contains("  -> 20260501000200 [right]  create t_right"),
        "{branches}"
    );
    assert!(
        branches.contains("label left -> 20260501000100"),
        "{branches}"
    );
    let show = ok(&project
        .retort(&db)
        .args(["show", "202605010002"])
        .output()
        .unwrap());
    assert!(show.contains("depends on:    20260501000100"), "{show}");
    assert!(show.contains("children:      20260501000300"), "{show}");
    assert!(show.contains("state:         not applied"), "{show}");
    let ambiguous = project
        .retort(&db)
        .args(["upgrade", "2026050100"])
        .output()
        .unwrap();
    assert_eq!(ambiguous.status.code(), Some(1));
    assert!(
        stderr(&ambiguous).contains("matches several revisions: 20260501000000, 20260501000100"),
        "{}",
        stderr(&ambiguous)
    );
    let doc: serde_json::Value = serde_json::from_str(&ok(&project
        .retort(&db)
        .args(["--json", "branches"])
        .output()
        .unwrap()))
    .unwrap();
    assert_eq!(
        doc["databases"][0]["branch_points"][0]["children"],
        serde_json::json!(["20260501000100", "20260501000200"])
    );
    assert_eq!(doc["databases"][0]["labels"]["left"], "20260501000100");
    // A command without a JSON form refuses --json rather than print text.
    let refused = project
        .retort(&db)
        .args(["--json", "stamp", "base"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("--json is not supported by this command"),
        "{}",
        stderr(&refused)
    );
    assert!(
        !db.sqlite_path().exists(),
        "graph commands and failed plans do not create the database"
    );
}

#[test]
fn merge_scaffolds_a_migration_with_both_parents() {
    let (project, db) = graph_project();
    // Two heads: drop the merge artifact.
    std::fs::remove_file(project.migrations().join("20260501000300_merge.wasm")).unwrap();
    let several = project.retort(&db).arg("upgrade").output().unwrap();
    assert_eq!(several.status.code(), Some(1));
    assert!(
        stderr(&several).contains("several heads (20260501000100, 20260501000200)"),
        "{}",
        stderr(&several)
    );
    let out = ok(&project
        .retort(&db)
        .args([
            "merge",
            "20260501000100",
            "202605010002",
            "-m",
            "join left and right",
        ])
        .output()
        .unwrap());
    assert!(
        out.contains("parents 20260501000100, 20260501000200"),
        "{out}"
    );
    let dir = std::fs::read_dir(project.migrations())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.is_dir() && p.to_string_lossy().ends_with("_join_left_and_right"))
        .expect("the merge crate");
    let lib = std::fs::read_to_string(dir.join("src/lib.rs")).unwrap();
    assert!(
        lib.contains(r#"parents: ["20260501000100", "20260501000200"]"#),
        "{lib}"
    );
}

#[test]
fn graph_errors_are_reported_together_before_touching_the_database() {
    let db = TestDb::new(Dialect::Sqlite, "badgraph");
    // Without the root, both branches name a parent that no migration defines.
    let project = Project::with_fixtures(&["20260501000100", "20260501000200"]);
    let out = project.retort(&db).arg("upgrade").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains(
            "revision 20260501000100 names parent 20260501000000, which no migration defines"
        ),
        "{err}"
    );
    assert!(
        err.contains("revision 20260501000200 names parent 20260501000000"),
        "{err}"
    );
    assert!(!db.sqlite_path().exists());
}

/// Components are compiled once per machine; a damaged cache entry is compiled again.
#[test]
fn the_compile_cache_is_used_and_survives_corruption() {
    let db = TestDb::new(Dialect::Sqlite, "cache");
    let project = Project::with_demo();
    let cache = tempfile::tempdir().unwrap();
    let status = || {
        let out = project
            .retort(&db)
            .env("RETORT_CACHE_DIR", cache.path())
            .arg("status")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        crate::common::stdout(&out)
    };
    let first = status();
    let entries: Vec<_> = std::fs::read_dir(cache.path())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file()) // besides `metadata/` (the next test's)
        .collect();
    assert_eq!(
        entries.len(),
        3,
        "one compiled entry per artifact: {entries:?}"
    );
    assert!(
        entries
            .iter()
            .all(|p| p.extension().is_some_and(|e| e == "cwasm"))
    );
    for entry in &entries {
        std::fs::write(entry, b"not a compiled component").unwrap();
    }
    assert_eq!(
        status(),
        first,
        "corrupt entries are recompiled, not trusted"
    );
    assert!(
        std::fs::metadata(&entries[0]).unwrap().len() > 1000,
        "and rewritten"
    );
    let off = project
        .retort(&db)
        .env("RETORT_CACHE", "off")
        .env("RETORT_CACHE_DIR", cache.path())
        .arg("status")
        .output()
        .unwrap();
    assert!(off.status.success());
}

/// What each artifact says about itself (`metadata`) is asked once per artifact and kept in
/// the machine's cache, per source; a kept answer is checked like a fresh one, a damaged file is
/// asked again, and the entries of artifacts gone are dropped.
#[test]
fn what_each_artifact_says_is_asked_once_and_checked_every_time() {
    let db = TestDb::new(Dialect::Sqlite, "metadata");
    let project = Project::with_demo();
    let cache = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        project
            .retort(&db)
            .env("RETORT_CACHE_DIR", cache.path())
            .args(args)
            .output()
            .unwrap()
    };
    let status = || run(&["status"]);
    let kept_file = || -> std::path::PathBuf {
        let files: Vec<_> = std::fs::read_dir(cache.path().join("metadata"))
            .expect("the metadata cache")
            .flatten()
            .map(|e| e.path())
            .collect();
        assert_eq!(files.len(), 1, "one file for the one source: {files:?}");
        files[0].clone()
    };
    let kept = || -> serde_json::Map<String, serde_json::Value> {
        serde_json::from_slice(&std::fs::read(kept_file()).unwrap()).unwrap()
    };
    let first = status();
    assert!(first.status.success(), "{}", stderr(&first));
    let entries = kept();
    let mut ids: Vec<&str> = entries
        .values()
        .map(|v| v["id"].as_str().unwrap())
        .collect();
    ids.sort();
    assert_eq!(
        ids,
        ["20261122090000", "20261122090100", "20261122090200"],
        "one entry per artifact, keyed by digest"
    );
    let (digest, _) = entries
        .iter()
        .find(|(_, v)| v["id"] == "20261122090100")
        .unwrap();
    assert_eq!(digest.len(), 64);

    // Kept answers are used: an edited description shows (the artifact was not asked).
    let mut edited = entries.clone();
    edited[digest.as_str()]["description"] = "said by the cache".into();
    std::fs::write(kept_file(), serde_json::to_vec(&edited).unwrap()).unwrap();
    let out = status();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        crate::common::stdout(&out).contains("said by the cache"),
        "{}",
        crate::common::stdout(&out)
    );

    // ... and checked like fresh ones: an entry that makes the artifact another revision than
    // its file name says is refused, naming the file.
    let mut forged = entries.clone();
    forged[digest.as_str()]["id"] = "20261122090150".into();
    std::fs::write(kept_file(), serde_json::to_vec(&forged).unwrap()).unwrap();
    let out = status();
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains("20261122090100_split_user_names.wasm"),
        "{err}"
    );
    assert!(err.contains("20261122090150"), "{err}");

    // A damaged file is asked again and rewritten whole.
    std::fs::write(kept_file(), b"{ not json").unwrap();
    let out = status();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(crate::common::stdout(&out), crate::common::stdout(&first));
    assert_eq!(kept(), entries);

    // An artifact gone: its entry goes with it. (Applied first, so that the downgrade runs its
    // copy stored in the database, whose answers are not kept: still one file, above.)
    let out = run(&["upgrade"]);
    assert!(out.status.success(), "{}", stderr(&out));
    std::fs::remove_file(
        project
            .migrations()
            .join("20261122090200_move_emails_to_table.wasm"),
    )
    .unwrap();
    let out = run(&["downgrade", "20261122090100"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("20261122090200"),
        "the stored copy ran: {}",
        stderr(&out)
    );
    let mut left: Vec<String> = kept()
        .values()
        .map(|v| v["id"].as_str().unwrap().to_string())
        .collect();
    left.sort();
    assert_eq!(left, ["20261122090000", "20261122090100"]);

    // Another executable (a rebuild of Retort, which may hand a runtime something else) asks
    // afresh, and its file replaces the earlier build's.
    let before = kept_file();
    let elsewhere = tempfile::tempdir().unwrap();
    let copy = elsewhere.path().join("retort");
    std::fs::copy(env!("CARGO_BIN_EXE_retort"), &copy).unwrap();
    let out = assert_cmd::Command::new(&copy)
        .current_dir(project.migrations().parent().unwrap())
        .env("DATABASE_URL", &db.url)
        .env("RETORT_CACHE_DIR", cache.path())
        .arg("status")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_ne!(kept_file(), before);
    assert_eq!(kept().len(), 2);
}

/// The bad-input corpus (fixtures in tests/guests/202608*): each is refused with a clear error
/// that names the file, exit code 1, and the database is never touched.
#[test]
fn components_that_are_not_migrations_are_refused() {
    let cases = [
        (
            "20260801000000",
            "does not export the retort:migration@0.1.0 `migration` world",
        ),
        ("20260801000100", "id `bad id!` must be 1–128 characters"),
        (
            "20260801000300",
            "imports something Retort does not provide",
        ),
    ];
    for (fixture, expected) in cases {
        let db = TestDb::new(Dialect::Sqlite, "corpus");
        let project = Project::with_fixtures(&[fixture]);
        let out = project.retort(&db).arg("upgrade").output().unwrap();
        assert_eq!(out.status.code(), Some(1), "{fixture}");
        let err = stderr(&out);
        assert!(
            err.contains(fixture) && err.contains(expected),
            "{fixture}: {err}"
        );
        assert!(
            !db.sqlite_path().exists(),
            "{fixture}: the database was touched"
        );
    }
}

#[test]
fn an_unreachable_database_is_a_clear_error() {
    let project = Project::with_demo();
    let out = retort(&project)
        .args([
            "--database-url",
            "postgres://nobody:secret@127.0.0.1:1/nowhere",
            "upgrade",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("cannot connect to postgres://nobody:***@127.0.0.1:1/nowhere"),
        "{err}"
    );
    assert!(!err.contains("secret"), "the password leaked: {err}");
}

/// Commands that need no database (here `new`) work in a project of several databases whose
/// URLs name unset variables; commands that need one still name the missing variable.
#[test]
fn offline_commands_need_no_database_url() {
    let project = Project::empty();
    std::fs::write(
        project.dir.path().join("retort.toml"),
        "[databases.a]\nurl = \"${RETORT_TEST_UNSET_A}\"\nmigrations = \"migrations/a\"\n\
         [databases.b]\nurl = \"${RETORT_TEST_UNSET_B}\"\nmigrations = \"migrations/b\"\n",
    )
    .unwrap();
    let out = retort(&project)
        .args(["-d", "a", "new", "--lang", "sql", "create things"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let mut made: Vec<String> = std::fs::read_dir(project.dir.path().join("migrations/a"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".sql"))
        .collect();
    made.sort();
    assert_eq!(made.len(), 2, "{made:?}");
    assert!(made[0].ends_with("_create_things.down.sql"), "{made:?}");
    assert!(made[1].ends_with("_create_things.up.sql"), "{made:?}");
    assert!(!project.dir.path().join("migrations/b").exists());

    let out = retort(&project)
        .args(["-d", "a", "status"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("RETORT_TEST_UNSET_A is not set"),
        "{}",
        stderr(&out)
    );
}

fn run_in(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    assert_cmd::Command::new(env!("CARGO_BIN_EXE_retort"))
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .args(args)
        .output()
        .unwrap()
}

fn ok_in(dir: &std::path::Path, args: &[&str]) -> String {
    let out = run_in(dir, args);
    assert!(
        out.status.success(),
        "retort {}: {}{}",
        args.join(" "),
        crate::common::stdout(&out),
        stderr(&out)
    );
    crate::common::stdout(&out)
}

/// The revision id `retort new` printed.
fn made_id(printed: &str) -> String {
    let at = printed.find("(revision ").expect("a revision id") + "(revision ".len();
    printed[at..at + 14].to_string()
}

/// `new` without `--lang` scaffolds in the project's language: what `init` recorded, else the
/// newest migration's, else SQL (the one language that needs no toolchain) — never a Rust crate
/// in a project of SQL files, which without cargo could not be built.
#[test]
fn new_scaffolds_in_the_projects_language() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    ok_in(root, &["init"]);
    let toml = std::fs::read_to_string(root.join("retort.toml")).unwrap();
    assert!(toml.contains("language = \"sql\""), "{toml}");
    let made = ok_in(root, &["new", "create things"]);
    let id = made_id(&made);
    assert!(
        root.join(format!("migrations/{id}_create_things.up.sql"))
            .is_file(),
        "{made}"
    );

    // Recorded as python: python, even though the newest migration is SQL.
    let py = tempfile::tempdir().unwrap();
    ok_in(py.path(), &["init", "--lang", "python"]);
    let made = ok_in(py.path(), &["new", "add things"]);
    let id = made_id(&made);
    assert!(
        py.path()
            .join(format!("migrations/{id}_add_things.py"))
            .is_file(),
        "{made}"
    );

    // No retort.toml, a directory of SQL migrations: SQL.
    let bare = tempfile::tempdir().unwrap();
    std::fs::create_dir(bare.path().join("migrations")).unwrap();
    std::fs::write(
        bare.path().join("migrations/20260101000000_first.up.sql"),
        "CREATE TABLE t (id INTEGER);\n",
    )
    .unwrap();
    let made = ok_in(
        bare.path(),
        &["--database-url", "sqlite://x.db", "new", "second"],
    );
    let id = made_id(&made);
    assert!(
        bare.path()
            .join(format!("migrations/{id}_second.up.sql"))
            .is_file(),
        "{made}"
    );
    assert!(made.contains("parent 20260101000000"), "{made}");
}

/// What `new` scaffolds in Python and JavaScript builds and runs as written, up and down (a
/// Python template whose method bodies had lost their indentation trapped on its first run).
#[test]
#[cfg_attr(
    not(retort_test_polyglot),
    ignore = "set RETORT_COMPONENTIZE_PY and RETORT_COMPONENTIZE_JS (see docs/development.md) to run"
)]
fn scaffolded_script_migrations_run_as_written() {
    let polyglot = crate::common::polyglot(); // both runtimes, built once per machine
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    ok_in(root, &["init", "--lang", "python"]);
    // The project's runtimes, as `retort build` would make them with the tools.
    let runtimes = root.join("migrations/runtimes");
    std::fs::create_dir_all(&runtimes).unwrap();
    for entry in std::fs::read_dir(polyglot.join("runtimes")).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), runtimes.join(entry.file_name())).unwrap();
    }
    let py = made_id(&ok_in(root, &["new", "python things"]));
    let js = made_id(&ok_in(root, &["new", "javascript things", "--lang", "js"]));
    ok_in(root, &["build"]);
    // Both migrations are in state `want`, as `status` prints them.
    let both = |want: &str| {
        let status = ok_in(root, &["status"]);
        for id in [&py, &js] {
            assert!(
                status
                    .lines()
                    .any(|l| l.contains(id.as_str()) && l.contains(want)),
                "{status}"
            );
        }
    };
    let up = ok_in(root, &["upgrade"]);
    assert!(up.contains(&format!("now at {js}")), "{up}");
    both("applied");
    ok_in(root, &["downgrade", "base"]);
    both("pending");
}

/// `init` makes a project; `new` runs several times without a build in between (the
/// unbuilt Rust crate's id and parents are read from its source); `merge heads` merges every
/// head in the project's language.
#[test]
fn init_new_twice_and_merge_heads() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    std::fs::write(root.join(".gitignore"), "/notes\n").unwrap();
    let printed = ok_in(root, &["init"]);
    assert!(printed.contains("created"), "{printed}");
    let toml = std::fs::read_to_string(root.join("retort.toml")).unwrap();
    assert!(toml.contains("url = \"sqlite://app.db\""), "{toml}");
    assert!(root.join("migrations").is_dir());
    let ignore = std::fs::read_to_string(root.join(".gitignore")).unwrap();
    assert!(ignore.starts_with("/notes\n"), "kept: {ignore}");
    for line in ["target/", "*.db", "*.db-wal"] {
        assert!(ignore.lines().any(|l| l == line), "{line}: {ignore}");
    }
    let again = run_in(root, &["init"]);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("exists"), "{}", stderr(&again));

    let one = made_id(&ok_in(root, &["new", "--lang", "sql", "one"]));
    let two = ok_in(root, &["new", "--lang", "rust", "two"]);
    assert!(two.contains(&format!("parent {one}")), "{two}");
    let two = made_id(&two);
    let three = ok_in(root, &["new", "--lang", "sql", "three"]);
    assert!(
        three.contains(&format!("parent {two}")),
        "the unbuilt crate is the head: {three}"
    );
    let three = made_id(&three);
    // A sibling of `two`, written by hand: two heads.
    // (Later than any id `new` or `merge` makes today, so it is the newest.)
    let side = "29991231235959".to_string();
    std::fs::write(
        root.join(format!("migrations/{side}_side.up.sql")),
        format!("-- retort: parents = {one}\nSELECT 1;\n"),
    )
    .unwrap();
    std::fs::write(root.join(format!("migrations/{side}_side.down.sql")), "").unwrap();
    let refused = run_in(root, &["new", "--lang", "sql", "four"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        stderr(&refused).contains("merge heads"),
        "{}",
        stderr(&refused)
    );
    let merged = ok_in(root, &["merge", "heads", "-m", "join"]);
    assert!(
        merged.contains(&format!("parents {three}, {side}"))
            || merged.contains(&format!("parents {side}, {three}")),
        "{merged}"
    );
    let up = std::fs::read_dir(root.join("migrations"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("_join.up.sql"))
        .expect("the merge is SQL, like the newest migration");
    let header = std::fs::read_to_string(up).unwrap();
    assert!(
        header.contains(&format!("-- retort: parents = {three} {side}"))
            || header.contains(&format!("-- retort: parents = {side} {three}")),
        "{header}"
    );
    let nothing = run_in(root, &["merge", "heads", "-m", "again"]);
    assert_eq!(nothing.status.code(), Some(1));
    assert!(
        stderr(&nothing).contains("nothing to merge: the graph has one head"),
        "{}",
        stderr(&nothing)
    );
}

/// An SQLite path in retort.toml is relative to the file, from wherever Retort runs; a bad
/// `--database-url` is blamed on the option, not on the file; with no retort.toml none is
/// named.
#[test]
fn paths_and_errors_name_their_real_source() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    ok_in(root, &["init", "--url", "sqlite://data/app.db"]);
    std::fs::create_dir(root.join("data")).unwrap();
    let id = made_id(&ok_in(root, &["new", "--lang", "sql", "notes"]));
    let up = std::fs::read_dir(root.join("migrations"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".up.sql"))
        .unwrap();
    let header = std::fs::read_to_string(&up).unwrap();
    std::fs::write(
        &up,
        format!("{header}CREATE TABLE notes (id INTEGER PRIMARY KEY);\n"),
    )
    .unwrap();
    let sub = root.join("deploy/scripts");
    std::fs::create_dir_all(&sub).unwrap();
    ok_in(&sub, &["--config", "../../retort.toml", "upgrade"]);
    assert!(root.join("data/app.db").is_file());
    assert!(!sub.join("data").exists());
    let current = ok_in(&sub, &["--config", "../../retort.toml", "current"]);
    assert!(
        current.contains(&format!("default: {id} (head)")),
        "{current}"
    );

    let bad = run_in(root, &["--database-url", "http://nowhere", "status"]);
    assert_eq!(bad.status.code(), Some(1));
    let err = stderr(&bad);
    assert!(err.contains("--database-url/DATABASE_URL: "), "{err}");
    assert!(!err.contains("retort.toml"), "{err}");
    let elsewhere = tempfile::tempdir().unwrap();
    let bad = run_in(
        elsewhere.path(),
        &["--database-url", "http://nowhere", "status"],
    );
    let err = stderr(&bad);
    assert!(err.contains("--database-url/DATABASE_URL: "), "{err}");
    assert!(!err.contains("retort.toml"), "no file is named: {err}");
}

/// `show REV --artifact -o FILE` writes the artifact the database ran, from the database,
/// after its source and artifact are gone.
#[test]
fn show_artifact_extracts_what_was_applied() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    ok_in(root, &["init"]);
    let printed = ok_in(root, &["new", "--lang", "sql", "notes"]);
    let id = made_id(&printed);
    ok_in(root, &["upgrade"]);
    let artifact = std::fs::read_dir(root.join("migrations"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "wasm"))
        .unwrap();
    let original = std::fs::read(&artifact).unwrap();
    for entry in std::fs::read_dir(root.join("migrations"))
        .unwrap()
        .flatten()
    {
        if entry.path().is_file() {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    let printed = ok_in(
        root,
        &["show", &id[..10], "--artifact", "-o", "applied.wasm"],
    );
    assert!(
        printed.contains(&format!("the artifact of {id}")),
        "{printed}"
    );
    assert_eq!(std::fs::read(root.join("applied.wasm")).unwrap(), original);
    let none = run_in(root, &["show", "20990101", "--artifact", "-o", "x.wasm"]);
    assert_eq!(none.status.code(), Some(1));
    assert!(stderr(&none).contains("is applied"), "{}", stderr(&none));
    assert!(!root.join("x.wasm").exists());
    let usage = run_in(root, &["show", &id, "--artifact"]);
    assert_eq!(usage.status.code(), Some(2), "--artifact needs -o");
}

/// Bad input to the new commands is a clear error naming its source, and changes nothing:
/// a scratch server of another engine, a diff with no declared schema, a declared schema
/// the engine refuses.
#[test]
fn gate_and_schema_commands_refuse_bad_input_clearly() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    ok_in(root, &["init"]);
    let out = run_in(
        root,
        &[
            "check",
            "--offline",
            "--scratch-url",
            "postgres://nobody@127.0.0.1:1/x",
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "the scratch server postgres://nobody@127.0.0.1:1/x is not the engine of database `default`"
        ),
        "{}",
        stderr(&out)
    );
    let out = run_in(root, &["diff"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out)
            .contains("database `default` declares no schema: add `schema = \"schema.sql\"`"),
        "{}",
        stderr(&out)
    );
    let toml = std::fs::read_to_string(root.join("retort.toml")).unwrap();
    std::fs::write(
        root.join("retort.toml"),
        format!("{toml}schema = \"schema.sql\"\n"),
    )
    .unwrap();
    std::fs::write(
        root.join("schema.sql"),
        "CREATE TABLE t (id INTEGER PRIMARY KEY);\nCREATE TABLE t (id INTEGER);\n",
    )
    .unwrap();
    let out = run_in(root, &["new", "--autogenerate", "from a bad schema"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("the declared schema")
            && err.contains("schema.sql does not run")
            && err.contains("already exists"),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(root.join("migrations")).unwrap().count(),
        0,
        "nothing was written"
    );
    assert!(
        !root.join("app.db").exists(),
        "the database was not touched"
    );
}

/// `show` with an ambiguous prefix lists the candidates; `downgrade head-1`, as Alembic users
/// type it, is `REV-1` of the head: its first parent (here the merge's left parent, so the
/// right branch goes too, as `downgrade 20260501000100` would).
#[test]
fn ambiguous_prefixes_list_candidates_and_head_minus_one_works() {
    let (project, db) = graph_project();
    let out = project
        .retort(&db)
        .args(["show", "2026050100"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains(
            "`2026050100` matches several revisions: 20260501000000, 20260501000100, \
             20260501000200, 20260501000300; give more of the id"
        ),
        "{}",
        stderr(&out)
    );
    let out = project.retort(&db).args(["show", "2099"]).output().unwrap();
    assert!(
        stderr(&out).contains("no revision matches `2099` (`retort history` lists them)"),
        "{}",
        stderr(&out)
    );
    // A database whose history cannot be read is not "not applied".
    let junk = project.dir.path().join("junk.db");
    std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
    let unreadable = format!("sqlite://{}", junk.display());
    let out = project
        .retort(&db)
        .env("DATABASE_URL", &unreadable)
        .args(["show", "20260501000000"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.contains("unknown: the database's history cannot be read")
            && !text.contains("not applied"),
        "{text}"
    );
    let out = project
        .retort(&db)
        .env("DATABASE_URL", &unreadable)
        .args(["--json", "show", "20260501000000"])
        .output()
        .unwrap();
    let doc: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    let shown = &doc["revisions"][0];
    assert!(
        shown["applied"].is_null() && shown["history_error"].is_string(),
        "{doc}"
    );
    // The same on the other engines' path: a server that does not answer (nothing listens on
    // port 1) is unknown, not "not applied".
    for url in [
        "postgres://postgres@127.0.0.1:1/x",
        "mysql://root@127.0.0.1:1/x",
    ] {
        let out = project
            .retort(&db)
            .env("DATABASE_URL", url)
            .args(["show", "20260501000000"])
            .output()
            .unwrap();
        let text = stdout(&out);
        assert!(
            text.contains("unknown: the database's history cannot be read")
                && !text.contains("not applied"),
            "{url}: {text}{}",
            stderr(&out)
        );
    }
    ok(&project.retort(&db).arg("upgrade").output().unwrap());
    let out = ok(&project
        .retort(&db)
        .args(["downgrade", "head-1"])
        .output()
        .unwrap());
    assert!(out.contains("now at 20260501000100"), "{out}");
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 2);
}

/// A shared runtime's first compile on a machine is the quick tier's (Winch), and a migration
/// runs on it as on Cranelift's code (the Python conformance kit: every value type both ways,
/// then a downgrade); `RETORT_FIRST_COMPILE=quick` compiles nothing more, `optimized` compiles
/// Cranelift's, which later runs then load instead of compiling anything.
#[test]
#[cfg_attr(
    not(retort_test_polyglot),
    ignore = "set RETORT_COMPONENTIZE_PY and RETORT_COMPONENTIZE_JS (see docs/development.md) to run"
)]
fn a_runtimes_first_compile_is_quick_and_the_optimised_one_follows() {
    crate::common::polyglot(); // both runtimes, built once per machine
    let id = "20261104000100";
    let project = Project::with_polyglot(&[id]);
    let cache = tempfile::tempdir().unwrap();
    let runtime = std::fs::read_dir(project.migrations().join("runtimes"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .find(|n| n.starts_with("python-"))
        .expect("the Python runtime beside the migration");
    let digest = runtime
        .trim_start_matches("python-")
        .trim_end_matches(".wasm")
        .to_string();
    let compiled = || -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(cache.path())
            .map(|d| {
                d.flatten()
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .filter(|n| n.starts_with(&digest) && n.ends_with(".cwasm"))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    };
    let env = |mode: &'static str| {
        [
            ("RETORT_CACHE_DIR", cache.path().as_os_str()),
            ("RETORT_FIRST_COMPILE", std::ffi::OsStr::new(mode)),
        ]
    };
    crate::conformance::run_kit_with(Dialect::Sqlite, &project, id, &env("quick"));
    let quick = compiled();
    assert_eq!(quick.len(), 1, "the quick tier's entry only: {quick:?}");

    let db = TestDb::new(Dialect::Sqlite, "tiers");
    let status = |mode: &'static str| {
        let out = project
            .retort(&db)
            .envs(env(mode))
            .arg("status")
            .output()
            .unwrap();
        assert!(out.status.success(), "{mode}: {}", stderr(&out));
        stderr(&out)
    };
    let err = status("quick");
    assert!(!err.contains("compiling"), "loaded from the cache: {err}");
    assert_eq!(compiled(), quick);
    // By default a run that loads the quick tier's code says so (and starts Cranelift's compile
    // in the background: in a copy of the cache here, so nothing below depends on its timing).
    let copy = tempfile::tempdir().unwrap();
    for name in &quick {
        std::fs::copy(cache.path().join(name), copy.path().join(name)).unwrap();
    }
    let out = project
        .retort(&db)
        .env("RETORT_CACHE_DIR", copy.path())
        .env_remove("RETORT_FIRST_COMPILE")
        .arg("status")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("runs on its quick compile's code this time") && !err.contains("compiling"),
        "{err}"
    );
    let err = status("optimized");
    assert!(
        err.contains("compiling") && !err.contains("quick tier"),
        "{err}"
    );
    let both = compiled();
    assert_eq!(
        both.len(),
        2,
        "Cranelift's entry beside the quick one: {both:?}"
    );
    // From then on Cranelift's code is there to load, whatever the mode.
    let err = status("");
    assert!(!err.contains("compiling"), "{err}");
    assert_eq!(compiled(), both);
}
