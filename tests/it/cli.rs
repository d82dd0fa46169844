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
