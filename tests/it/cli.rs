//! The command line as a user meets it: usage errors, configuration errors, bad artifacts.

use crate::common::{Dialect, Project, TestDb, stderr};

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
