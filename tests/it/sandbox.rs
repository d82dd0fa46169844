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

fn ini_project(map: bool) -> (Project, TestDb, std::path::PathBuf) {
    let db = TestDb::new(Dialect::Sqlite, "capability");
    let project = Project::with_fixtures(&["20260901000000", "20260901000100"]);
    let config = project.dir.path().join("settings");
    std::fs::create_dir(&config).unwrap();
    std::fs::write(config.join("app.ini"), "[app]\nname = demo\n").unwrap();
    let grant = if map {
        "[databases.main.capabilities]\nconfig = \"settings\"\n"
    } else {
        ""
    };
    std::fs::write(
        project.dir.path().join("retort.toml"),
        format!("[databases.main]\nurl = \"{}\"\n{grant}", db.url),
    )
    .unwrap();
    (project, db, config)
}

/// A granted directory: changes are published when the migration commits, discarded when it
/// fails, and reversed by the downgrade.
#[test]
fn file_changes_follow_the_database_transaction() {
    let (project, db, config) = ini_project(true);
    let tmp = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        project
            .retort(&db)
            .env_remove("DATABASE_URL")
            .env("TMPDIR", tmp.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["upgrade", "20260901000000"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(config.join("app.ini")).unwrap(),
        "[app]\nname = demo\nmigrated = yes\n"
    );
    assert!(config.join("new.ini").exists());

    let out = run(&["upgrade"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        std::fs::read_to_string(config.join("app.ini")).unwrap(),
        "[app]\nname = demo\nmigrated = yes\n",
        "the failed migration's file change was discarded with its transaction"
    );

    let out = run(&["downgrade", "base"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        std::fs::read_to_string(config.join("app.ini")).unwrap(),
        "[app]\nname = demo\n"
    );
    assert!(
        !config.join("new.ini").exists(),
        "the downgrade's deletion was published"
    );
    let leftovers: Vec<_> = std::fs::read_dir(tmp.path())
        .unwrap()
        .flatten()
        .map(|e| e.file_name())
        .collect();
    assert!(
        leftovers.is_empty(),
        "staging directories are removed: {leftovers:?}"
    );
}

#[test]
fn an_ungranted_capability_is_refused_before_anything_runs() {
    let (project, db, config) = ini_project(false);
    let out = project
        .retort(&db)
        .env_remove("DATABASE_URL")
        .arg("upgrade")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("needs the directory capability `config`, which the project does not grant"),
        "{err}"
    );
    assert!(err.contains("[databases.main.capabilities]"), "{err}");
    assert!(!db.sqlite_path().exists());
    assert_eq!(
        std::fs::read_to_string(config.join("app.ini")).unwrap(),
        "[app]\nname = demo\n"
    );
}

/// A Python migration that spins or hoards memory on its runtime's code from either compiler —
/// Winch's quick tier (a fresh cache, `RETORT_FIRST_COMPILE=quick`) and Cranelift's
/// (`optimized`) — is stopped by the same limits, rolled back and named.
#[test]
#[cfg_attr(
    not(retort_test_polyglot),
    ignore = "set RETORT_COMPONENTIZE_PY and RETORT_COMPONENTIZE_JS (see docs/development.md) to run"
)]
fn limits_stop_a_script_migration_on_either_compilers_code() {
    crate::common::polyglot(); // both runtimes, built once per machine
    for (fixture, limits, said, table) in [
        (
            "20261207000100",
            "timeout_secs = 2",
            "ran past its time limit of 2 s (limits.timeout_secs)",
            "py_spun",
        ),
        (
            "20261207000200",
            "memory_mib = 96",
            "over its limit of 96 MiB (limits.memory_mib)",
            "py_bombed",
        ),
    ] {
        for tier in ["quick", "optimized"] {
            let db = TestDb::new(Dialect::Sqlite, "hostile_py");
            let project = Project::with_polyglot(&[fixture]);
            std::fs::write(
                project.dir.path().join("retort.toml"),
                format!(
                    "[databases.main]\nurl = \"{}\"\nmigrations = \"migrations\"\n\n[limits]\n{limits}\n",
                    db.url
                ),
            )
            .unwrap();
            let cache = tempfile::tempdir().unwrap();
            let started = std::time::Instant::now();
            let out = project
                .retort(&db)
                .env_remove("DATABASE_URL")
                .env("RETORT_CACHE_DIR", cache.path())
                .env("RETORT_FIRST_COMPILE", tier)
                .arg("upgrade")
                .output()
                .unwrap();
            let err = stderr(&out);
            assert!(
                started.elapsed() < std::time::Duration::from_secs(120),
                "{fixture} on the {tier} tier: the limit did not stop it in time"
            );
            assert_eq!(out.status.code(), Some(1), "{fixture} {tier}: {err}");
            assert!(err.contains(&format!("upgrade of {fixture}")), "{err}");
            assert!(err.contains(said), "{fixture} on the {tier} tier: {err}");
            assert_eq!(
                err.contains("quick tier"),
                tier == "quick",
                "{fixture}: compiled on the {tier} tier: {err}"
            );
            assert!(
                !db.tables().contains(&table.to_string()),
                "{fixture} {tier}: its write was rolled back"
            );
            assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 0, "{err}");
        }
    }
}
