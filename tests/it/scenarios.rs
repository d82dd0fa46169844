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
/// an explicit unfinished row that `status` explains and `resolve` settles when something of
/// the migration may have committed (`may_commit`), and is at the previous revision too when
/// nothing could have.
fn assert_failed_cleanly(db: &TestDb, project: &Project, revision: &str, may_commit: bool) {
    let status = project.retort(db).arg("status").output().unwrap();
    let text = stdout(&status);
    assert!(status.status.success(), "{}", stderr(&status));
    match db.dialect {
        Dialect::Mysql if may_commit => {
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
                stderr(&blocked).contains(&format!("resolve {revision} --applied")),
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
    assert_failed_cleanly(&db, &project, "20260201000100", false);
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
        err.contains("the migration panicked: guest bug: expected an item, found 0 (at "),
        "the panic message comes first: {err}"
    );
    assert!(
        !err.contains("<unknown>") && !err.contains("wasm backtrace"),
        "no backtrace without -v: {err}"
    );
    assert_items_intact(&db);
    // Only row changes before the panic: rolled back whole on every engine.
    assert_failed_cleanly(&db, &project, "20260201000200", false);
    let out = project.run(&db, &["upgrade", "-v"]);
    let err = stderr(&out);
    assert!(err.contains("wasm backtrace:"), "-v shows where: {err}");
    assert!(
        err.find("wasm backtrace:") < err.find("the migration panicked"),
        "the backtrace is printed as it happens, the error at the end: {err}"
    );
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
        let created = run(&["new", "--lang", "rust", "create widgets"]);
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
        // No --lang: the newest migration's language (a crate) is the project's.
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
        let first_artifact = PathBuf::from(format!("{}.wasm", first.display()));
        let before = std::fs::read(&first_artifact).unwrap();
        let built = run(&["build"]);
        // Artifacts are pinned to their sources: only the new migration is built.
        assert_eq!(built.matches("built migrations/").count(), 1, "{built}");
        assert_eq!(built.matches("unchanged migrations/").count(), 1, "{built}");
        assert_eq!(
            std::fs::read(&first_artifact).unwrap(),
            before,
            "an unchanged migration keeps its bytes"
        );
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

const ROOT: &str = "20260501000000";
const LEFT: &str = "20260501000100";
const RIGHT: &str = "20260501000200";
const MERGE: &str = "20260501000300";

fn graph_project() -> Project {
    Project::with_fixtures(&[ROOT, LEFT, RIGHT, MERGE])
}

/// Branch labels, depends-on across branches, partial upgrades and single-branch downgrades,
/// and stamp — against a real database.
pub fn branches_labels_and_stamp(dialect: Dialect) {
    let db = TestDb::new(dialect, "branches");
    let project = graph_project();
    let run = |args: &[&str]| {
        let out = project.retort(&db).args(args).output().unwrap();
        assert!(out.status.success(), "retort {args:?}: {}", stderr(&out));
        stdout(&out)
    };
    let tables = || user_tables(&db);

    // A partial upgrade: one revision of the left branch and what it needs.
    run(&["upgrade", LEFT]);
    assert_eq!(tables(), ["t_left", "t_root"]);
    // One step along `right`, which depends on `left` (applied) and leads to the merge.
    run(&["upgrade", "right@+1"]);
    assert_eq!(tables(), ["t_left", "t_right", "t_root"]);
    // Reverting the right branch alone keeps the left one.
    run(&["downgrade", "right@base"]);
    assert_eq!(tables(), ["t_left", "t_root"]);
    run(&["upgrade", "heads"]);
    assert_eq!(tables(), ["t_left", "t_merge", "t_right", "t_root"]);
    // Reverting `left` must revert what depends on it: the merge and `right`.
    let out = run(&["downgrade", "left@base"]);
    let order: Vec<&str> = out
        .lines()
        .filter_map(|l| l.trim().strip_prefix("↓ "))
        .map(|l| &l[..14])
        .collect();
    assert_eq!(order, [MERGE, RIGHT, LEFT]);
    assert_eq!(tables(), ["t_root"]);
    // -1 from a single current revision.
    run(&["upgrade", "head"]);
    run(&["downgrade", "-1"]);
    assert_eq!(tables(), ["t_left", "t_right", "t_root"]);

    // stamp records without running: no table appears, history says applied.
    run(&["stamp", "head"]);
    assert_eq!(tables(), ["t_left", "t_right", "t_root"]);
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 4);
    let current = run(&["current"]);
    assert!(current.contains(MERGE), "{current}");
    run(&["stamp", "base"]);
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 0);
    assert_eq!(
        tables(),
        ["t_left", "t_right", "t_root"],
        "stamp never runs migrations"
    );
}

/// Several databases: requirements order the run, a run that would break one is refused,
/// and a failure says which databases were done, failed and untouched.
pub fn several_databases(dialect: Dialect) {
    let catalog = TestDb::new(dialect, "catalog");
    let monitoring = TestDb::new(dialect, "monitoring");
    let project = Project::empty();
    let root = project.dir.path();
    for (name, dir) in [
        ("catalog", "migrations/catalog"),
        ("monitoring", "migrations/monitoring"),
    ] {
        std::fs::create_dir_all(root.join(name)).unwrap();
        for entry in std::fs::read_dir(crate::common::repo().join(dir))
            .unwrap()
            .flatten()
        {
            if entry.path().extension().is_some_and(|e| e == "wasm") {
                std::fs::copy(entry.path(), root.join(name).join(entry.file_name())).unwrap();
            }
        }
    }
    // Declared in the "wrong" order: monitoring requires catalog, so catalog must go first.
    std::fs::create_dir(root.join("config")).unwrap();
    // The demo's file as committed (the repository's copy may have been migrated by a run).
    let original = "[alerts]\nsource = events\nretention_days = 30\n";
    std::fs::write(root.join("config/monitoring.ini"), original).unwrap();
    std::fs::write(
        root.join("retort.toml"),
        "[databases.monitoring]\nurl = \"${MON_URL}\"\nmigrations = \"monitoring\"\n\
         [databases.monitoring.capabilities]\nconfig = \"config\"\n\
         [databases.catalog]\nurl = \"${CAT_URL}\"\nmigrations = \"catalog\"\n",
    )
    .unwrap();
    let retort = |args: &[&str]| {
        assert_cmd::Command::new(env!("CARGO_BIN_EXE_retort"))
            .current_dir(root)
            .env_remove("DATABASE_URL")
            .env("CAT_URL", &catalog.url)
            .env("MON_URL", &monitoring.url)
            .args(args)
            .output()
            .unwrap()
    };

    // Monitoring alone cannot go first: refused before anything runs.
    let out = retort(&["-d", "monitoring", "upgrade"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("requires `catalog` at 20261122090000"),
        "{}",
        stderr(&out)
    );
    assert_eq!(monitoring.tables(), Vec::<String>::new());

    let out = retort(&["upgrade"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let (cat, mon) = (
        text.find("catalog (").unwrap(),
        text.find("monitoring (").unwrap(),
    );
    assert!(cat < mon, "catalog is migrated before monitoring:\n{text}");
    assert_eq!(user_tables(&monitoring), ["alert_rules", "events"]);
    let edited = std::fs::read_to_string(root.join("config/monitoring.ini")).unwrap();
    assert!(
        edited.contains("retention_days = 90\nkinds_index = events_kind_time"),
        "{edited}"
    );
    assert_eq!(user_tables(&catalog), ["user_emails", "users"]);

    // Reverting the catalog alone would strand monitoring's requirement.
    let out = retort(&["-d", "catalog", "downgrade", "base"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("downgrade `monitoring` first"),
        "{}",
        stderr(&out)
    );
    assert_eq!(user_tables(&catalog), ["user_emails", "users"]);

    let out = retort(&["downgrade", "base"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.find("monitoring (").unwrap() < text.find("catalog (").unwrap(),
        "{text}"
    );
    assert_eq!(user_tables(&catalog), Vec::<String>::new());
    assert_eq!(
        std::fs::read_to_string(root.join("config/monitoring.ini")).unwrap(),
        original,
        "the downgrade restored the file"
    );
}

/// A failure in the middle database: the first is done, the last untouched.
pub fn failure_reports_done_failed_untouched(dialect: Dialect) {
    let dbs: Vec<TestDb> = (0..3)
        .map(|i| TestDb::new(dialect, &format!("multi{i}")))
        .collect();
    let project = Project::empty();
    let root = project.dir.path();
    let fixtures = crate::common::fixtures();
    for (name, files) in [
        ("a", &["20260201000000_items.wasm"][..]),
        (
            "b",
            &[
                "20260201000000_items.wasm",
                "20260201000100_fail_midway.wasm",
            ][..],
        ),
        ("c", &["20260201000000_items.wasm"][..]),
    ] {
        std::fs::create_dir_all(root.join(name)).unwrap();
        for f in files {
            std::fs::copy(fixtures.join(f), root.join(name).join(f)).unwrap();
        }
    }
    let toml: String = ["a", "b", "c"]
        .iter()
        .zip(&dbs)
        .map(|(n, db)| {
            format!(
                "[databases.{n}]\nurl = \"{}\"\nmigrations = \"{n}\"\n",
                db.url
            )
        })
        .collect();
    std::fs::write(root.join("retort.toml"), toml).unwrap();
    let out = assert_cmd::Command::new(env!("CARGO_BIN_EXE_retort"))
        .current_dir(root)
        .env_remove("DATABASE_URL")
        .arg("upgrade")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for line in ["a: done", "b: FAILED", "c: untouched", "database `b`"] {
        assert!(err.contains(line), "missing `{line}` in:\n{err}");
    }
    assert_eq!(dbs[0].count("SELECT COUNT(*) FROM items"), 2500);
    // b: its first migration is applied and the failed one changed no row (its upper-cased
    // codes were rolled back; on MariaDB the unfinished row is explained, not applied).
    assert_items_intact(&dbs[1]);
    assert_eq!(
        dbs[1].strings("SELECT revision FROM retort_history WHERE state = 'applied'"),
        ["20260201000000"]
    );
    assert_eq!(dbs[2].tables(), Vec::<String>::new(), "c was not touched");
}

/// Eight runners started at once: every one exits 0 and each migration runs exactly once.
pub fn concurrent_upgrades_apply_each_migration_once(dialect: Dialect) {
    let db = TestDb::new(dialect, "concurrent");
    let project = Project::with_demo();
    let started = std::time::Instant::now();
    let children: Vec<std::process::Child> = (0..8)
        .map(|_| {
            std::process::Command::new(env!("CARGO_BIN_EXE_retort"))
                .current_dir(project.dir.path())
                .env("DATABASE_URL", &db.url)
                .args(["--lock-timeout", "60", "upgrade"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<std::process::Output> = children
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    let elapsed = started.elapsed();
    for out in &outputs {
        assert!(
            out.status.success(),
            "a concurrent runner failed:\n{}",
            stderr(out)
        );
    }
    let ran: usize = outputs
        .iter()
        .filter(|o| stdout(o).contains("upgraded 3 migrations"))
        .count();
    let idle: usize = outputs
        .iter()
        .filter(|o| stdout(o).contains("nothing to do"))
        .count();
    assert_eq!(
        (ran, idle),
        (1, 7),
        "exactly one runner applies the migrations"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 3);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM users"),
        3,
        "the seed rows were inserted once"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM user_emails"), 2);
    eprintln!(
        "[figures] {dialect:?}: 8 concurrent runners, all exit 0, 1 applied 3 migrations, 7 found nothing to do, {elapsed:.2?} wall"
    );
}

/// A runner killed with SIGKILL while it holds the lock does not block the next run.
pub fn sigkill_while_holding_the_lock_does_not_block(dialect: Dialect) {
    use std::io::{BufRead, BufReader};
    let db = TestDb::new(dialect, "sigkill");
    let project = Project::with_fixtures(&["20260601000000"]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_retort"))
        .current_dir(project.dir.path())
        .env("DATABASE_URL", &db.url)
        .arg("upgrade")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait until the migration runs (the lock is held), then kill -9.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let running = lines
        .by_ref()
        .map_while(Result::ok)
        .any(|l| l.contains("slow migration started"));
    assert!(running, "the slow migration never started");
    child.kill().unwrap();
    child.wait().unwrap();

    let started = std::time::Instant::now();
    let out = project
        .retort(&db)
        .args(["--lock-timeout", "20", "upgrade"])
        .output()
        .unwrap();
    let waited = started.elapsed();
    // A lock the dead runner still held would end in a lock timeout after 20 s: the next
    // runner must neither time out nor take that long (its own migration takes ~3 s).
    assert!(
        !stderr(&out).contains("timed out after"),
        "the dead runner's lock blocked: {}",
        stderr(&out)
    );
    assert!(
        waited < std::time::Duration::from_secs(20),
        "the next runner waited {waited:?}, as long as the lock timeout"
    );
    match dialect {
        Dialect::Mysql => {
            // The pending row makes the interrupted migration explicit; it is not a lock.
            assert_eq!(out.status.code(), Some(1));
            assert!(
                stderr(&out).contains("was left upgrading"),
                "{}",
                stderr(&out)
            );
            let resolved = project
                .retort(&db)
                .args(["resolve", "20260601000000", "--rolled-back"])
                .output()
                .unwrap();
            assert!(resolved.status.success(), "{}", stderr(&resolved));
            let again = project.retort(&db).arg("upgrade").output().unwrap();
            assert!(again.status.success(), "{}", stderr(&again));
        }
        _ => assert!(out.status.success(), "{}", stderr(&out)),
    }
    assert_eq!(
        db.count("SELECT COUNT(*) FROM retort_history WHERE state = 'applied'"),
        1
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM t_slow"), 1);
    eprintln!(
        "[figures] {dialect:?}: after SIGKILL the next runner got the lock and finished in {waited:.2?}"
    );
}

/// `--transaction single`: one commit for the whole run; a failure rolls every migration of
/// the run back (PostgreSQL, SQLite). MySQL keeps its per-migration protocol.
pub fn single_transaction_rolls_back_the_whole_run(dialect: Dialect) {
    let db = TestDb::new(dialect, "single");
    let project = Project::with_fixtures(&["20260201000000", "20260201000100"]);
    let out = project
        .retort(&db)
        .args(["--transaction", "single", "upgrade"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    match dialect {
        Dialect::Mysql => {
            assert_eq!(
                db.count("SELECT COUNT(*) FROM items"),
                2500,
                "MySQL applies items on its own"
            );
            // The failing one only changed rows: rolled back whole.
            assert!(err.contains("the transaction was rolled back"), "{err}");
        }
        _ => {
            assert!(
                err.contains("the run's single transaction was rolled back"),
                "{err}"
            );
            assert_eq!(
                user_tables(&db),
                Vec::<String>::new(),
                "items was rolled back with the failed migration"
            );
            assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 0);
        }
    }
    // And a good run commits everything at once.
    let good = Project::with_fixtures(&["20260501000000", "20260501000100"]);
    let db = TestDb::new(dialect, "single_ok");
    let out = good
        .retort(&db)
        .args(["--transaction", "single", "upgrade", "20260501000100"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(user_tables(&db), ["t_left", "t_root"]);
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 2);
}

/// Checks that history and schema agree after an interrupted run of the demo catalog, and
/// that no row was lost; returns the applied revisions.
fn assert_demo_consistent(db: &TestDb) -> Vec<String> {
    let tables = db.tables();
    let applied = if tables.contains(&"retort_history".to_string()) {
        db.strings("SELECT revision FROM retort_history WHERE state = 'applied' ORDER BY revision")
    } else {
        Vec::new()
    };
    // MariaDB: an interrupted migration is an explicit unfinished row; its effects are judged
    // by the operator (resolve), so only the finished revisions are checked here.
    if db.dialect == Dialect::Mysql
        && tables.contains(&"retort_history".to_string())
        && db.count("SELECT COUNT(*) FROM retort_history WHERE state <> 'applied'") > 0
    {
        return applied;
    }
    let has = |rev: &str| applied.iter().any(|a| a == rev);
    assert_eq!(
        has("20261122090000"),
        tables.contains(&"users".to_string()),
        "users vs history {applied:?}"
    );
    assert_eq!(
        has("20261122090200"),
        tables.contains(&"user_emails".to_string()),
        "user_emails vs history {applied:?}"
    );
    if has("20261122090000") {
        assert_eq!(db.count("SELECT COUNT(*) FROM users"), 3, "users lost rows");
        let columns: Vec<String> = match db.dialect {
            Dialect::Sqlite => db.strings("SELECT name FROM pragma_table_info('users')"),
            Dialect::Postgres => db.strings("SELECT column_name::text FROM information_schema.columns WHERE table_name = 'users' AND table_schema = current_schema()"),
            Dialect::Mysql => db.strings("SELECT CAST(column_name AS CHAR) FROM information_schema.columns WHERE table_name = 'users' AND table_schema = DATABASE()"),
        };
        assert_eq!(
            has("20261122090100"),
            columns.contains(&"first_name".to_string()),
            "first_name vs history {applied:?}"
        );
        if has("20261122090100") {
            assert_eq!(
                db.count("SELECT COUNT(*) FROM users WHERE last_name IS NOT NULL"),
                3
            );
        }
        if has("20261122090200") {
            assert_eq!(
                db.count("SELECT COUNT(*) FROM user_emails"),
                2,
                "addresses lost"
            );
        } else {
            assert_eq!(
                db.count("SELECT COUNT(*) FROM users WHERE email IS NOT NULL"),
                2,
                "addresses lost"
            );
        }
    }
    applied
}

/// SIGKILL the runner at many moments of a multi-migration upgrade: after each, history and
/// schema agree, nothing is lost, and the next run finishes the job.
pub fn killed_at_any_moment_loses_nothing(dialect: Dialect) {
    const KILL_POINTS: u32 = 50;
    let project = Project::with_demo();
    // How long a whole run takes here, to spread the kill points over it.
    let full = (0..3)
        .map(|_| {
            let probe = TestDb::new(dialect, "killprobe");
            let started = std::time::Instant::now();
            let out = project.retort(&probe).arg("upgrade").output().unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
            started.elapsed()
        })
        .max()
        .unwrap();
    let mut outcomes = std::collections::BTreeMap::<usize, u32>::new();
    let mut unfinished = 0;
    for k in 0..KILL_POINTS {
        let db = TestDb::new(dialect, "kill");
        let delay = full.mul_f64(f64::from(k) / f64::from(KILL_POINTS));
        let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_retort"))
            .current_dir(project.dir.path())
            .env("DATABASE_URL", &db.url)
            .args(["-q", "upgrade"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        let _ = child.kill();
        child.wait().unwrap();
        db.wait_idle();
        let applied = assert_demo_consistent(&db);
        *outcomes.entry(applied.len()).or_default() += 1;
        if dialect == Dialect::Mysql && db.tables().contains(&"retort_history".to_string()) {
            // Journaled semantics: settle an interrupted migration by running its downgrade.
            for revision in
                db.strings("SELECT revision FROM retort_history WHERE state <> 'applied'")
            {
                // The operator's choice, as `status` explains it: nothing journaled → it is
                // safe to forget; otherwise compensate with the downgrade.
                let journaled = db.count(&format!(
                    "SELECT COUNT(*) FROM retort_history WHERE revision = '{revision}' AND COALESCE(journal, '') <> ''"
                )) > 0;
                let how = if journaled {
                    "--downgrade"
                } else {
                    "--rolled-back"
                };
                let mut out = project
                    .retort(&db)
                    .args(["resolve", &revision, how])
                    .output()
                    .unwrap();
                // Killed after a DDL statement committed but before its journal entry: the
                // schema check refuses `--rolled-back`, and the downgrade compensates.
                if !out.status.success() && stderr(&out).contains("the schema disagrees") {
                    out = project
                        .retort(&db)
                        .args(["resolve", &revision, "--downgrade"])
                        .output()
                        .unwrap();
                }
                assert!(
                    out.status.success(),
                    "resolve {revision} {how}: {}",
                    stderr(&out)
                );
                unfinished += 1;
            }
        }
        let out = project.retort(&db).arg("upgrade").output().unwrap();
        assert!(
            out.status.success(),
            "after a kill at {delay:?} the next run failed: {}",
            stderr(&out)
        );
        assert_eq!(assert_demo_consistent(&db).len(), 3);
    }
    eprintln!(
        "[figures] {dialect:?}: {KILL_POINTS} kill points over {full:.2?}; revisions applied when killed → count: {outcomes:?}; \
         unfinished rows settled with resolve: {unfinished}; rows lost: 0"
    );
}

/// Invalid SQL half-way through a migration: the error names the statement and the code,
/// and the database keeps its previous revision and data.
pub fn invalid_sql_is_reported_and_rolled_back(dialect: Dialect) {
    let db = TestDb::new(dialect, "invalidsql");
    let project = Project::with_fixtures(&["20260201000000", "20260801000200"]);
    let out = project.retort(&db).arg("upgrade").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("upgrade of 20260801000200 (misspelt DDL) failed"),
        "{err}"
    );
    assert!(
        err.contains("failed statement: CREAT TABLE oops (id INTEGER)"),
        "{err}"
    );
    let code = match dialect {
        Dialect::Sqlite => "SQLITE_ERROR",
        Dialect::Postgres => "42601",
        Dialect::Mysql => "42000",
    };
    assert!(err.contains(code), "{err}");
    assert_items_intact(&db);
    assert_failed_cleanly(&db, &project, "20260801000200", true);
}

/// The server kills the migration's connection mid-run (pg_terminate_backend): the run fails
/// clearly, the database is at its previous revision, and the next run succeeds.
pub fn a_dropped_connection_mid_migration_loses_nothing(dialect: Dialect) {
    use std::io::{BufRead, BufReader};
    assert_eq!(dialect, Dialect::Postgres, "uses pg_terminate_backend");
    let db = TestDb::new(dialect, "terminated");
    let project = Project::with_fixtures(&["20260601000000"]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_retort"))
        .current_dir(project.dir.path())
        .env("DATABASE_URL", &db.url)
        .arg("upgrade")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    assert!(
        lines
            .by_ref()
            .map_while(Result::ok)
            .any(|l| l.contains("slow migration started"))
    );
    let name = db.url.rsplit('/').next().unwrap().to_string();
    let killed = db.count(&format!(
        "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = '{name}' AND pid <> pg_backend_pid()"
    ));
    assert!(killed >= 1, "no backend to terminate");
    let rest: Vec<String> = lines.map_while(Result::ok).collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(1), "{rest:?}");
    let err = rest.join("\n");
    assert!(err.contains("upgrade of 20260601000000"), "{err}");
    assert!(
        err.contains("lost the database connection") || err.contains("terminat"),
        "{err}"
    );
    assert_eq!(
        user_tables(&db),
        Vec::<String>::new(),
        "nothing of the migration was committed"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 0);
    let again = project.retort(&db).arg("upgrade").output().unwrap();
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(db.count("SELECT COUNT(*) FROM t_slow"), 1);
}

/// A migration that fails after DDL. PostgreSQL/SQLite: rolled back. MySQL/MariaDB: the DDL
/// committed implicitly; `status` lists the statements that completed (the journal) and
/// `resolve --downgrade` compensates with the migration's downgrade.
pub fn failure_after_ddl_is_journaled_and_compensated(dialect: Dialect) {
    let db = TestDb::new(dialect, "halfddl");
    let project = Project::with_fixtures(&["20260801000400"]);
    let out = project.retort(&db).arg("upgrade").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    if dialect != Dialect::Mysql {
        assert_eq!(user_tables(&db), Vec::<String>::new());
        return;
    }
    assert_eq!(
        user_tables(&db),
        ["half_a"],
        "MySQL committed the DDL implicitly"
    );
    let status = stdout(&project.retort(&db).arg("status").output().unwrap());
    assert!(
        status.contains("20260801000400  UNFINISHED (upgrading)"),
        "{status}"
    );
    assert!(
        status.contains("CREATE TABLE half_a (id INTEGER PRIMARY KEY) → 0 row(s)"),
        "{status}"
    );
    assert!(
        status.contains("INSERT INTO half_a (id) VALUES ($1) ×2 → 2 row(s)"),
        "{status}"
    );
    // 300 executions of one statement are one entry, after the batch's.
    assert!(
        status.contains("INSERT INTO half_a VALUES ($1) ×300 → 300 row(s)"),
        "{status}"
    );
    assert_eq!(
        status.matches("INSERT INTO half_a VALUES").count(),
        1,
        "{status}"
    );
    assert!(
        !status.contains("CREAT TABLE oops"),
        "the failed statement did not complete: {status}"
    );
    assert!(
        status.contains("resolve 20260801000400 --downgrade"),
        "{status}"
    );
    // A claim the schema contradicts is refused, saying which object disagrees; nothing
    // changes.
    let out = project.run(&db, &["resolve", "20260801000400", "--rolled-back"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("cannot be resolved as rolled back: the schema disagrees"),
        "{err}"
    );
    assert!(
        err.contains("table half_a: the database has BASE TABLE"),
        "names the object: {err}"
    );
    assert!(err.contains("rolled back means nothing"), "{err}");
    // The binary offers the other resolutions as commands, and the unchecked one.
    for offered in [
        "resolve 20260801000400 --downgrade",
        "resolve 20260801000400 --applied",
        "resolve 20260801000400 --rolled-back --force",
    ] {
        assert!(err.contains(offered), "{offered}: {err}");
    }
    let out = project.run(&db, &["resolve", "20260801000400", "--applied"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("its upgrade fails in a rehearsal on a scratch database")
            && stderr(&out).contains("resolve 20260801000400 --downgrade"),
        "{}",
        stderr(&out)
    );
    assert!(
        stdout(&project.run_ok(&db, &["status"])).contains("UNFINISHED (upgrading)"),
        "still unfinished"
    );
    let out = project
        .retort(&db)
        .args(["resolve", "20260801000400", "--downgrade"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        user_tables(&db),
        Vec::<String>::new(),
        "the downgrade compensated"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 0);

    // Interrupted again; the operator undoes the DDL by hand: now `--rolled-back` is what
    // the schema says, and is accepted after the check.
    let out = project.retort(&db).arg("upgrade").output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    db.execute("DROP TABLE half_a");
    let out = project.run_ok(&db, &["resolve", "20260801000400", "--rolled-back"]);
    assert!(
        stdout(&out).contains("checked against the schema: the ")
            && stdout(&out).contains("object(s) its upgrade changes agree"),
        "{}",
        stdout(&out)
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 0);
}

/// After the application rolls back to an older release, its migrations directory no longer
/// has the newer migrations: the downgrade runs their copies stored in the database, and a
/// stored copy whose bytes do not match the recorded digest is refused.
pub fn downgrade_without_source_uses_stored_artifacts(dialect: Dialect) {
    let db = TestDb::new(dialect, "nosource");
    let project = Project::with_demo();
    let out = project.retort(&db).arg("upgrade").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    // "Release 1": only the first migration's artifact.
    for entry in std::fs::read_dir(project.migrations()).unwrap().flatten() {
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with("20261122090000")
        {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    let out = project
        .retort(&db)
        .args(["downgrade", "20261122090000"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("20261122090200 is not in the migrations directory: using the copy stored in the database"), "{err}");
    assert_eq!(user_tables(&db), ["users"]);
    assert_eq!(
        db.strings("SELECT COALESCE(email, 'NULL') FROM users ORDER BY id"),
        ["Ada@Example.org", "grace@example.ORG", "NULL"],
        "the stored downgrade restored the original addresses"
    );
    assert_eq!(
        db.strings("SELECT revision FROM retort_history"),
        ["20261122090000"]
    );

    if dialect == Dialect::Sqlite {
        // Tamper with a stored copy: upgrade again from the full set, drop the sources, and
        // swap the bytes stored for one revision with another's.
        let full = Project::with_demo();
        assert!(
            full.retort(&db)
                .arg("upgrade")
                .output()
                .unwrap()
                .status
                .success()
        );
        let conn = rusqlite::Connection::open(db.sqlite_path()).unwrap();
        conn.execute_batch(
            "UPDATE retort_artifacts SET bytes = (SELECT a.bytes FROM retort_artifacts a \
               JOIN retort_history h ON h.digest = a.digest WHERE h.revision = '20261122090100') \
             WHERE digest = (SELECT digest FROM retort_history WHERE revision = '20261122090200')",
        )
        .unwrap();
        drop(conn);
        let out = project
            .retort(&db)
            .args(["downgrade", "base"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(1));
        assert!(stderr(&out).contains("refusing them"), "{}", stderr(&out));
        assert_eq!(
            db.count("SELECT COUNT(*) FROM retort_history"),
            3,
            "nothing ran"
        );
    }
}

/// A project made by `retort new` carries no path to this checkout: moved elsewhere, with the
/// SDK copy `retort build` keeps in `.retort/sdk` deleted, it rebuilds every artifact byte for
/// byte.
pub fn a_scaffolded_project_builds_anywhere() {
    let original = scaffolded_project();
    let manifest = std::fs::read_to_string(original.join("migrations/Cargo.toml")).unwrap();
    assert!(
        manifest.contains("retort-guest = { path = \".retort/sdk/retort-guest\" }"),
        "{manifest}"
    );
    assert!(original.join("migrations/.retort/sdk/STAMP").is_file());
    let moved = tempfile::Builder::new()
        .prefix("retort-moved-")
        .tempdir()
        .unwrap();
    copy_tree(original, moved.path());
    std::fs::remove_dir_all(moved.path().join("migrations/.retort")).unwrap();
    let out = assert_cmd::Command::new(env!("CARGO_BIN_EXE_retort"))
        .current_dir(moved.path())
        .env("CARGO_TARGET_DIR", crate::common::guest_target())
        .env_remove("DATABASE_URL")
        .args(["build", "--force"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let mut compared = 0;
    for entry in std::fs::read_dir(original.join("migrations"))
        .unwrap()
        .flatten()
    {
        let path = entry.path();
        if path.extension().is_some_and(|e| e == "wasm") {
            let rebuilt = moved.path().join("migrations").join(entry.file_name());
            assert_eq!(
                std::fs::read(&path).unwrap(),
                std::fs::read(&rebuilt).unwrap(),
                "{} differs after the move",
                entry.file_name().to_string_lossy()
            );
            compared += 1;
        }
    }
    assert_eq!(compared, 2);
    assert_eq!(
        std::fs::read_to_string(moved.path().join("migrations/.retort/.gitignore")).unwrap(),
        "# Build output of `retort build`.\n*\n"
    );
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().flatten() {
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if src.is_dir() {
            if entry.file_name() != "target" {
                copy_tree(&src, &dst);
            }
        } else {
            std::fs::copy(&src, &dst).unwrap();
        }
    }
}

/// One row type decodes what each engine sends for the same query (issue 15): `SUM()` and
/// `AVG()` of a BIGINT as integer/float on SQLite and decimals elsewhere, a DECIMAL sum as a
/// float on SQLite, MariaDB's TIMESTAMP as timestamptz; lossy decodes are refused, named.
pub fn one_row_type_decodes_every_engines_values(dialect: Dialect) {
    let db = TestDb::new(dialect, "portable");
    let project = Project::with_fixtures(&["20261203000000"]);
    project.run_ok(&db, &["upgrade"]);
    let got = |k: &str| db.strings(&format!("SELECT v FROM pv_out WHERE k = '{k}'"));
    assert_eq!(got("total"), ["6"]);
    assert_eq!(got("average"), ["3"]);
    assert_eq!(got("price_sum"), ["3.75"]);
    assert_eq!(got("price_float"), ["3.75"]);
    assert_eq!(got("stamped"), ["2026-12-03 00:00:00"]);
    assert_eq!(got("day"), ["2026-12-03"]);
    let lossy = got("lossy_int").remove(0);
    assert!(lossy.contains("3.75"), "{lossy}");
    let lossy = got("lossy_date").remove(0);
    assert!(lossy.contains("10:30:00, not midnight"), "{lossy}");
}

/// The same portable-values row decoded by Python dataclass annotations and JavaScript
/// `static types` on every engine: the conversions of docs/values.md, lossy ones refused.
pub fn python_and_javascript_decode_every_engines_values(dialect: Dialect) {
    let db = TestDb::new(dialect, "portablepj");
    let project = Project::with_polyglot(&["20261203000000", "20261203000100", "20261203000200"]);
    project.run_ok(&db, &["upgrade"]);
    let got = |k: &str| db.strings(&format!("SELECT v FROM pv_out WHERE k = '{k}'"));
    assert_eq!(got("py_total"), ["6"]);
    assert_eq!(got("py_average"), ["3.0"]);
    assert_eq!(got("py_price_sum"), ["3.75"]);
    assert_eq!(got("py_price_float"), ["3.75"]);
    assert_eq!(got("py_day"), ["datetime.date(2026, 12, 3)"]);
    let lossy = got("py_lossy_int").remove(0);
    assert!(
        lossy.contains("Cents.cents") && lossy.contains("3.75"),
        "{lossy}"
    );
    assert_eq!(got("js_total"), ["number:6"]);
    assert_eq!(got("js_average"), ["number:3"]);
    assert_eq!(got("js_price_sum"), ["string:3.75"]);
    assert_eq!(got("js_price_float"), ["number:3.75"]);
    assert_eq!(got("js_stamped"), ["2026-12-03T00:00:00"]);
    assert_eq!(got("js_day"), ["2026-12-03"]);
    let lossy = got("js_lossy_int").remove(0);
    assert!(
        lossy.contains("Cents.cents") && lossy.contains("3.75"),
        "{lossy}"
    );
}
