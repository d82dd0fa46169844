//! The sandbox: limits stop hostile migrations, roll them back and say which limit; the guest
//! sees no environment, files, network or stdin; its output reaches Retort's log.

use crate::common::{Dialect, Project, TestDb, stderr};

fn hostile(fixture: &str, limits: &str) -> (std::process::Output, TestDb) {
    let db = TestDb::new(Dialect::Sqlite, "hostile");
    let project = Project::with_fixtures(&["20260201000000", fixture]);
    std::fs::write(
        project.dir.path().join("retort.toml"),
        format!(
            "[databases.main]\nurl = \"{}\"\n\n[limits]\n{limits}\n",
            db.url
        ),
    )
    .unwrap();
    let started = std::time::Instant::now();
    let out = project
        .retort(&db)
        .env_remove("DATABASE_URL")
        .arg("upgrade")
        .output()
        .unwrap();
    assert!(
        started.elapsed() < std::time::Duration::from_secs(30),
        "the limit did not stop the guest in time"
    );
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    // The hostile migration's change was rolled back; the one before it stays.
    assert_eq!(
        db.count("SELECT COUNT(*) FROM items WHERE code LIKE 'item-%'"),
        2500
    );
    assert_eq!(
        db.strings("SELECT revision FROM retort_history"),
        ["20260201000000"]
    );
    (out, db)
}

#[test]
fn a_busy_loop_is_stopped_by_the_deadline() {
    let (out, _db) = hostile("20260701000000", "timeout_secs = 1");
    let err = stderr(&out);
    assert!(err.contains("upgrade of 20260701000000"), "{err}");
    assert!(
        err.contains("ran past its time limit of 1 s (limits.timeout_secs)"),
        "{err}"
    );
}

#[test]
fn a_memory_bomb_hits_the_memory_limit() {
    let (out, _db) = hostile("20260701000100", "memory_mib = 64");
    let err = stderr(&out);
    assert!(err.contains("upgrade of 20260701000100"), "{err}");
    assert!(
        err.contains("over its limit of 64 MiB (limits.memory_mib)"),
        "{err}"
    );
}

#[test]
fn thousands_of_cursors_hit_the_handle_limit() {
    let (out, _db) = hostile("20260701000200", "max_open_rows = 16");
    let err = stderr(&out);
    assert!(err.contains("upgrade of 20260701000200"), "{err}");
    assert!(
        err.contains("more than 16 query results at once (limits.max_open_rows)"),
        "{err}"
    );
}

#[test]
fn the_guest_sees_no_ambient_authority_and_its_output_is_logged() {
    let db = TestDb::new(Dialect::Sqlite, "snoop");
    let project = Project::with_fixtures(&["20260701000300"]);
    let out = project
        .retort(&db)
        .env("SECRET_TOKEN", "hunter2")
        .arg("upgrade")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("[20260701000300] stdout: snoop: hello from stdout"),
        "{err}"
    );
    assert!(
        err.contains("[20260701000300] stderr: snoop: hello from stderr"),
        "{err}"
    );
    assert!(!project.dir.path().join("escape.txt").exists());
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 1);
}
