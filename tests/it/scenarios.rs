//! Scenarios run against every dialect (see the `dialect_suite!` in main.rs).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::common::{Dialect, Project, TestDb, stderr, stdout};

fn user_tables(db: &TestDb) -> Vec<String> {
    db.tables()
        .into_iter()
        .filter(|t| !t.starts_with("retort_"))
        .collect()
}

pub fn demo_project_upgrades_and_downgrades(dialect: Dialect) {
    let db = TestDb::new(dialect, "demo");
    let project = Project::with_demo();

    let out = project.retort(&db).arg("upgrade").output().unwrap();
    assert!(out.status.success(), "upgrade failed:\n{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("upgraded 3 migrations"), "{text}");
    assert!(text.contains("now at 20261122090200"), "{text}");
    assert!(
        stderr(&out).contains("split the names of 3 users"),
        "the guest's log reaches stderr"
    );

    // The data migration split names; the move normalised addresses and kept the originals.
    assert_eq!(
        db.strings(
            "SELECT CONCAT(COALESCE(first_name, '-'), '|', last_name) FROM users ORDER BY id"
        ),
        ["Ada|Lovelace", "Grace Brewster|Hopper", "Edsger|Dijkstra"]
    );
    assert_eq!(
        db.strings("SELECT CONCAT(address, '|', original) FROM user_emails ORDER BY user_id"),
        [
            "ada@example.org|Ada@Example.org",
            "grace@example.org|grace@example.ORG"
        ]
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM retort_history WHERE state = 'applied'"),
        3
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_artifacts"), 3);

    let out = project.retort(&db).arg("status").output().unwrap();
    assert!(
        stdout(&out).contains("3 applied, 0 pending"),
        "{}",
        stdout(&out)
    );
    let again = project.retort(&db).arg("upgrade").output().unwrap();
    assert!(
        stdout(&again).contains("nothing to do"),
        "{}",
        stdout(&again)
    );

    // One step down restores the e-mail column with the original spellings.
    let out = project
        .retort(&db)
        .args(["downgrade", "20261122090100"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        db.strings("SELECT COALESCE(email, 'NULL') FROM users ORDER BY id"),
        ["Ada@Example.org", "grace@example.ORG", "NULL"]
    );
    assert!(!user_tables(&db).contains(&"user_emails".to_string()));
    let out = project.retort(&db).arg("current").output().unwrap();
    assert!(stdout(&out).contains("20261122090100"), "{}", stdout(&out));

    let out = project
        .retort(&db)
        .args(["downgrade", "base"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains("now at base"));
    assert_eq!(user_tables(&db), Vec::<String>::new());
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 0);
}

pub fn values_round_trip_unchanged(dialect: Dialect) {
    let db = TestDb::new(dialect, "values");
    let project = Project::with_fixtures(&["20260101000000"]);
    let out = project.retort(&db).arg("upgrade").output().unwrap();
    assert!(
        out.status.success(),
        "the guest decoded something wrong or a write failed:\n{}",
        stderr(&out)
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM vals_dst"), 3);
    // Written back unchanged: the two tables hold the same rows, NULLs included.
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM (SELECT * FROM vals_src EXCEPT SELECT * FROM vals_dst) AS diff"
        ),
        0
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM (SELECT * FROM vals_dst EXCEPT SELECT * FROM vals_src) AS diff"
        ),
        0
    );
}

/// The expected item codes after the `items` fixture.
fn item_codes() -> Vec<String> {
    (1..=2500).map(|i| format!("item-{i:05}")).collect()
}

fn assert_items_intact(db: &TestDb) {
    assert_eq!(
        db.strings("SELECT code FROM items ORDER BY id"),
        item_codes(),
        "no row may change or be lost"
    );
}

/// After a failed migration: PostgreSQL and SQLite are at the previous revision; MySQL has
/// an explicit unfinished row that `status` explains and `resolve` settles.
fn assert_failed_cleanly(db: &TestDb, project: &Project, revision: &str) {
    let status = project.retort(db).arg("status").output().unwrap();
    let text = stdout(&status);
    assert!(status.status.success(), "{}", stderr(&status));
    match db.dialect {
        Dialect::Mysql => {
            assert!(
                text.contains(&format!("{revision}  UNFINISHED (upgrading)")),
                "{text}"
            );
            assert!(
                text.contains(&format!("resolve {revision} --rolled-back")),
                "{text}"
            );
            let blocked = project.retort(db).arg("upgrade").output().unwrap();
            assert_eq!(blocked.status.code(), Some(1));
            assert!(
                stderr(&blocked).contains("retort resolve"),
                "{}",
                stderr(&blocked)
            );
            let out = project
                .retort(db)
                .args(["resolve", revision, "--rolled-back"])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
            let text = stdout(&project.retort(db).arg("status").output().unwrap());
            assert!(text.contains("1 applied, 1 pending"), "{text}");
        }
        _ => {
            assert!(text.contains("1 applied, 1 pending"), "{text}");
            assert!(text.contains(&format!("{revision}  pending")), "{text}");
        }
    }
    assert_eq!(
        db.strings("SELECT revision FROM retort_history WHERE state = 'applied'"),
        ["20260201000000"]
    );
}

pub fn constraint_violation_mid_data_migration_loses_nothing(dialect: Dialect) {
    let db = TestDb::new(dialect, "midway");
    let project = Project::with_fixtures(&["20260201000000", "20260201000100"]);
    let out = project.retort(&db).arg("upgrade").output().unwrap();
    assert_eq!(out.status.code(), Some(1), "a failed migration exits 1");
    let err = stderr(&out);
    assert!(
        err.contains("upgrade of 20260201000100"),
        "names the migration: {err}"
    );
    assert!(
        err.contains("failed statement: UPDATE items SET code = $1 WHERE id = $2"),
        "names the statement: {err}"
    );
    let code = match dialect {
        Dialect::Sqlite => "SQLITE_CONSTRAINT_UNIQUE",
        Dialect::Postgres => "23505",
        Dialect::Mysql => "23000",
    };
    assert!(
        err.contains(code),
        "carries the SQLSTATE/vendor code {code}: {err}"
    );
    assert!(
        err.contains("database `default`"),
        "names the database: {err}"
    );
    assert_items_intact(&db);
    assert_failed_cleanly(&db, &project, "20260201000100");
}

pub fn guest_panic_loses_nothing(dialect: Dialect) {
    let db = TestDb::new(dialect, "panic");
    let project = Project::with_fixtures(&["20260201000000", "20260201000200"]);
    let out = project.retort(&db).arg("upgrade").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("upgrade of 20260201000200"), "{err}");
    assert!(err.contains("trap"), "{err}");
    assert!(
        err.contains("guest bug: expected an item, found 0"),
        "the panic message is reported: {err}"
    );
    assert_items_intact(&db);
    assert_failed_cleanly(&db, &project, "20260201000200");
}

/// A project made the way a user makes one: `retort new` twice and `retort build`, once
/// per test run.
fn scaffolded_project() -> &'static Path {
    static PROJECT: OnceLock<PathBuf> = OnceLock::new();
    PROJECT.get_or_init(|| {
        let dir = tempfile::Builder::new().prefix("retort-new-").tempdir().unwrap().keep();
        let run = |args: &[&str]| {
            let out = assert_cmd::Command::new(env!("CARGO_BIN_EXE_retort"))
                .current_dir(&dir)
                .env("CARGO_TARGET_DIR", crate::common::guest_target())
                .env_remove("DATABASE_URL")
                .args(args)
                .output()
                .unwrap();
            assert!(out.status.success(), "retort {args:?}:\n{}\n{}", stdout(&out), stderr(&out));
            stdout(&out)
        };
        let write_body = |crate_dir: &Path, upgrade: &str, downgrade: &str| {
            let lib = crate_dir.join("src/lib.rs");
            let text = std::fs::read_to_string(&lib).unwrap();
            let mut parts = text.splitn(3, "let _ = tx;\n        Ok(())");
            let (a, b, c) = (parts.next().unwrap(), parts.next().unwrap(), parts.next().unwrap());
            std::fs::write(&lib, format!("{a}{upgrade}\n        Ok(()){b}{downgrade}\n        Ok(()){c}")).unwrap();
        };
        let created = run(&["new", "create widgets"]);
        assert!(created.contains("parent none: a root"), "{created}");
        let first = only_crate(&dir.join("migrations"));
        write_body(
            &first,
            r#"tx.execute("CREATE TABLE widgets (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL)", ())?;
        tx.execute_batch("INSERT INTO widgets (id, name) VALUES ($1, $2)", [(1, "sprocket"), (2, "flange")])?;"#,
            r#"tx.execute("DROP TABLE widgets", ())?;"#,
        );
        let built = run(&["build"]);
        assert!(built.contains("built migrations/"), "{built}");
        let first_id = first.file_name().unwrap().to_string_lossy()[..14].to_string();
        let created = run(&["new", "add widget colour"]);
        assert!(created.contains(&format!("parent {first_id}")), "the new migration follows the head: {created}");
        let second = std::fs::read_dir(dir.join("migrations"))
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.is_dir() && p.join("Cargo.toml").exists() && p != &first)
            .unwrap();
        write_body(
            &second,
            r#"tx.execute("ALTER TABLE widgets ADD COLUMN colour VARCHAR(20)", ())?;
        tx.execute("UPDATE widgets SET colour = $1 WHERE id = $2", ("red", 1))?;"#,
            r#"tx.execute("ALTER TABLE widgets DROP COLUMN colour", ())?;"#,
        );
        let built = run(&["build"]);
        assert_eq!(built.matches("built migrations/").count(), 2, "{built}");
        dir
    })
}

fn only_crate(dir: &Path) -> PathBuf {
    let crates: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && p.join("Cargo.toml").exists())
        .collect();
    assert_eq!(crates.len(), 1, "{crates:?}");
    crates.into_iter().next().unwrap()
}

pub fn new_build_upgrade_downgrade_round_trip(dialect: Dialect) {
    let dir = scaffolded_project();
    let db = TestDb::new(dialect, "scaffold");
    let retort = |args: &[&str]| {
        assert_cmd::Command::new(env!("CARGO_BIN_EXE_retort"))
            .current_dir(dir)
            .env("DATABASE_URL", &db.url)
            .args(args)
            .output()
            .unwrap()
    };
    let out = retort(&["upgrade"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("upgraded 2 migrations"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        db.strings("SELECT CONCAT(name, ':', COALESCE(colour, '-')) FROM widgets ORDER BY id"),
        ["sprocket:red", "flange:-"]
    );
    let out = retort(&["downgrade", "base"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(user_tables(&db), Vec::<String>::new());
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 0);
}

pub fn read_only_commands_create_nothing(dialect: Dialect) {
    let db = TestDb::new(dialect, "readonly");
    let project = Project::with_demo();
    for command in ["status", "current", "history"] {
        let out = project.retort(&db).arg(command).output().unwrap();
        assert!(out.status.success(), "{command}: {}", stderr(&out));
    }
    let status = stdout(&project.retort(&db).arg("status").output().unwrap());
    assert!(status.contains("0 applied, 3 pending"), "{status}");
    let dry = project
        .retort(&db)
        .args(["upgrade", "--dry-run"])
        .output()
        .unwrap();
    assert!(
        stdout(&dry).contains("would upgrade 3 migrations"),
        "{}",
        stdout(&dry)
    );
    match dialect {
        Dialect::Sqlite => assert!(
            !db.sqlite_path().exists(),
            "a read-only command created the SQLite file"
        ),
        _ => assert_eq!(
            db.tables(),
            Vec::<String>::new(),
            "a read-only command created tables"
        ),
    }
}
