//! The CI gate: `retort check` (heads, artifacts, the target's history, the round trip on a
//! scratch database), `status --exit-code`, and `--json` documents, parsed.

use std::path::Path;

use crate::common::{Dialect, Project, TestDb, stderr, stdout};

/// Writes the SQL pair `ID_SLUG.{up,down}.sql` after `parent`.
fn pair(dir: &Path, id: &str, parent: &str, up: &str, down: &str) {
    let stem = format!("{id}_step");
    std::fs::write(
        dir.join(format!("{stem}.up.sql")),
        format!("-- retort: parents = {parent}\n{up}"),
    )
    .unwrap();
    std::fs::write(dir.join(format!("{stem}.down.sql")), down).unwrap();
}

/// An engine's name in SQL migrations' file names.
fn engine_name(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Postgres => "postgres",
        Dialect::Mysql => "mysql",
        Dialect::Sqlite => "sqlite",
    }
}

fn json(out: &std::process::Output) -> serde_json::Value {
    let text = stdout(out);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A project whose one database is named `name` (the label of its scratch databases, so
/// tests running at once can tell theirs apart), at `DATABASE_URL`.
fn project_named(name: &str) -> Project {
    let project = Project::empty();
    std::fs::write(
        project.dir.path().join("retort.toml"),
        format!("[databases.{name}]\nurl = \"${{DATABASE_URL}}\"\nmigrations = \"migrations\"\n"),
    )
    .unwrap();
    project
}

/// Scratch databases labelled `name` that Retort made on the server and did not drop.
fn leftover_scratch(db: &TestDb, name: &str) -> i64 {
    match db.dialect {
        Dialect::Postgres => db.count(&format!(
            "SELECT COUNT(*) FROM pg_database WHERE datname LIKE 'retort\\_{name}\\_%'"
        )),
        Dialect::Mysql => db.count(&format!(
            "SELECT COUNT(*) FROM information_schema.schemata \
             WHERE schema_name LIKE 'retort\\_{name}\\_%'"
        )),
        Dialect::Sqlite => 0,
    }
}

/// A history that round-trips passes; a downgrade that leaves an index behind, one that
/// fails, several heads, an applied migration edited afterwards and an unbuilt one are each
/// reported with their own exit bit, in text and JSON; the target database is only read.
pub fn check_is_the_ci_gate(dialect: Dialect) {
    let db = TestDb::new(dialect, "gate");
    let project = project_named("gate");
    let dir = project.migrations();
    pair(
        &dir,
        "20260101000000",
        "none",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL);\n\
         CREATE INDEX items_by_name ON items (name);\n",
        "DROP TABLE items;\n",
    );
    pair(
        &dir,
        "20260101000100",
        "20260101000000",
        "ALTER TABLE items ADD COLUMN price INTEGER DEFAULT 0;\n",
        "ALTER TABLE items DROP COLUMN price;\n",
    );
    pair(
        &dir,
        "20260101000200",
        "20260101000100",
        "CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 10;\n",
        "DROP VIEW cheap;\n",
    );
    let out = project.run(&db, &["--json", "check"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let doc = json(&out);
    assert_eq!(doc["version"], 1);
    assert_eq!(doc["command"], "check");
    assert_eq!(doc["exit_code"], 0);
    assert_eq!(doc["databases"][0]["revisions"], 3);
    assert_eq!(doc["databases"][0]["round_tripped"], 3);
    assert_eq!(doc["databases"][0]["ok"], true);
    // Checking reads the target and creates nothing there (not even an SQLite file).
    match dialect {
        Dialect::Sqlite => assert!(!db.sqlite_path().exists()),
        _ => assert!(db.tables().is_empty(), "{:?}", db.tables()),
    }
    assert_eq!(leftover_scratch(&db, "gate"), 0);

    // A downgrade that forgets the index its upgrade made.
    pair(
        &dir,
        "20260101000300",
        "20260101000200",
        // (A blocking index build on a small table: acknowledged for PostgreSQL's linter.)
        "-- retort: allow = index-without-concurrently\n\
         CREATE TABLE tags (id INTEGER PRIMARY KEY, label VARCHAR(20));\n\
         CREATE INDEX items_by_price ON items (price);\n",
        "DROP TABLE tags;\n",
    );
    let out = project.run(&db, &["check"]);
    assert_eq!(out.status.code(), Some(32), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(
        text.contains("20260101000300: the downgrade does not undo the upgrade"),
        "{text}"
    );
    assert!(
        text.contains("+ index ") && text.contains("items_by_price"),
        "{text}"
    );
    let doc = json(&project.run(&db, &["--json", "check"]));
    let finding = &doc["databases"][0]["findings"][0];
    assert_eq!(finding["finding"], "round-trip");
    assert_eq!(finding["revision"], "20260101000300");
    assert_eq!(finding["exit_bit"], 32);
    assert_eq!(finding["problem"]["problem"], "trace");
    let differences = finding["problem"]["differences"].as_array().unwrap();
    assert!(
        differences
            .iter()
            .all(|d| d["change"] == "added"
                && d["object"].as_str().unwrap().contains("items_by_price")),
        "only the index is left behind: {differences:?}"
    );
    assert_eq!(doc["databases"][0]["round_tripped"], 3);
    assert_eq!(leftover_scratch(&db, "gate"), 0);

    // Fixed; the next one's downgrade fails.
    let stem = dir.join("20260101000300_step");
    std::fs::write(
        stem.with_extension("down.sql"),
        "DROP INDEX items_by_price;\nDROP TABLE tags;\n",
    )
    .unwrap();
    std::fs::write(
        stem.with_extension("mysql.down.sql"),
        "DROP INDEX items_by_price ON items;\nDROP TABLE tags;\n",
    )
    .unwrap();
    pair(
        &dir,
        "20260101000400",
        "20260101000300",
        "CREATE TABLE audit (id INTEGER PRIMARY KEY);\n",
        "DROP TABLE no_such_table;\n",
    );
    let doc = json(&project.run(&db, &["--json", "check"]));
    let finding = &doc["databases"][0]["findings"][0];
    assert_eq!(finding["revision"], "20260101000400", "{doc}");
    assert_eq!(finding["problem"]["problem"], "downgrade-failed");
    assert!(
        finding["problem"]["message"]
            .as_str()
            .unwrap()
            .contains("no_such_table"),
        "{doc}"
    );
    assert_eq!(doc["databases"][0]["round_tripped"], 4);
    std::fs::write(
        dir.join("20260101000400_step.down.sql"),
        "DROP TABLE audit;\n",
    )
    .unwrap();
    project.run_ok(&db, &["check"]);

    // The target at an earlier revision: status says so with --exit-code, in JSON too.
    // --json upgrade: a stream of events, one JSON document per line, the last `finished`.
    let out = project.run_ok(&db, &["--json", "upgrade", "20260101000100"]);
    let events: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let names: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    let started: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["event"] == "step-started")
        .map(|e| &e["revision"])
        .collect();
    assert_eq!(started, ["20260101000000", "20260101000100"], "{names:?}");
    assert_eq!(names.last(), Some(&"finished"));
    let last = events.last().unwrap();
    assert_eq!(last["ok"], true);
    assert_eq!(last["databases"][0]["current"][0], "20260101000100");
    assert_eq!(last["databases"][0]["steps"].as_array().unwrap().len(), 2);
    let doc = json(&project.run_ok(&db, &["--json", "show", "20260101000100"]));
    assert_eq!(doc["revisions"][0]["parents"][0], "20260101000000");
    assert_eq!(doc["revisions"][0]["applied"]["state"], "applied");
    let out = project.run(&db, &["status", "--exit-code"]);
    assert_eq!(out.status.code(), Some(3), "pending: {}", stdout(&out));
    project.run_ok(&db, &["status"]);
    let doc = json(&project.run_ok(&db, &["--json", "status"]));
    assert_eq!(doc["databases"][0]["applied"], 2);
    assert_eq!(doc["databases"][0]["pending"], 3);
    assert_eq!(doc["databases"][0]["revisions"][2]["state"], "pending");
    let doc = json(&project.run_ok(&db, &["--json", "current"]));
    assert_eq!(
        doc["databases"][0]["current"][0]["revision"],
        "20260101000100"
    );
    assert_eq!(doc["databases"][0]["current"][0]["head"], false);
    let doc = json(&project.run_ok(&db, &["--json", "history"]));
    let revisions = doc["databases"][0]["revisions"].as_array().unwrap();
    assert_eq!(revisions.len(), 5);
    assert_eq!(revisions[0]["applied"]["state"], "applied");
    assert!(revisions[2]["applied"].is_null());
    assert_eq!(revisions[4]["head"], true);
    let doc = json(&project.run_ok(&db, &["--json", "heads"]));
    assert_eq!(
        doc["databases"][0]["heads"][0]["revision"],
        "20260101000400"
    );

    // An applied migration edited afterwards: the target's history disagrees.
    let first = dir.join("20260101000000_step.up.sql");
    let edited = std::fs::read_to_string(&first).unwrap() + "-- an afterthought\n";
    std::fs::write(&first, edited).unwrap();
    let out = project.run(&db, &["check", "--no-round-trip"]);
    assert_eq!(out.status.code(), Some(16), "{}", stdout(&out));
    assert!(stdout(&out).contains("20260101000000"), "{}", stdout(&out));
    // --offline does not look at the target.
    project.run_ok(&db, &["check", "--offline", "--no-round-trip"]);

    // Two heads, and a Rust migration that was never built.
    pair(
        &dir,
        "20260101000500",
        "20260101000300",
        "CREATE TABLE side (id INTEGER PRIMARY KEY);\n",
        "DROP TABLE side;\n",
    );
    let crate_dir = dir.join("20260101000600_rust_crate");
    std::fs::create_dir_all(crate_dir.join("src")).unwrap();
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        "[package]\nname = \"rust_crate\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    let out = project.run(&db, &["check", "--offline", "--no-round-trip"]);
    assert_eq!(out.status.code(), Some(4 | 8), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(
        text.contains("2 heads (20260101000400, 20260101000500)")
            && text.contains("merge:  retort merge heads -m MESSAGE"),
        "{text}"
    );
    assert!(
        text.contains("20260101000600_rust_crate has no artifact"),
        "{text}"
    );
    let history = db.strings("SELECT revision FROM retort_history ORDER BY revision");
    assert_eq!(
        history,
        ["20260101000000", "20260101000100"],
        "check changed nothing"
    );
    assert_eq!(leftover_scratch(&db, "gate"), 0);
}

/// `upgrade --sql` / `downgrade --sql` print the statements in order with the bookkeeping,
/// planned from the target's history and rehearsed elsewhere: the target is not touched, a
/// rehearsal that fails is an error naming the statement.
pub fn offline_sql_prints_what_would_run(dialect: Dialect) {
    let db = TestDb::new(dialect, "offline");
    let project = project_named("offline");
    let dir = project.migrations();
    pair(
        &dir,
        "20260101000000",
        "none",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL);\n",
        "DROP TABLE items;\n",
    );
    pair(
        &dir,
        "20260101000100",
        "20260101000000",
        "ALTER TABLE items ADD COLUMN price INTEGER DEFAULT 0;\n",
        "ALTER TABLE items DROP COLUMN price;\n",
    );
    pair(
        &dir,
        "20260101000200",
        "20260101000100",
        "CREATE VIEW cheap AS SELECT id, name FROM items WHERE price < 10;\n",
        "DROP VIEW cheap;\n",
    );
    project.run_ok(&db, &["upgrade", "20260101000000", "-q"]);
    let tables = db.tables();
    let out = project.run_ok(&db, &["upgrade", "--sql"]);
    let text = stdout(&out);
    assert!(text.contains("from 20260101000000"), "{text}");
    let first = text
        .find("-- upgrade 20260101000100")
        .expect("the first step");
    let second = text
        .find("-- upgrade 20260101000200")
        .expect("the second step");
    assert!(first < second, "{text}");
    assert!(
        !text.contains("-- upgrade 20260101000000"),
        "applied: {text}"
    );
    assert!(
        text.contains("ALTER TABLE items ADD COLUMN price INTEGER DEFAULT 0;"),
        "{text}"
    );
    assert!(
        text.contains("a SQL migration: its statements, exactly"),
        "{text}"
    );
    assert!(text.contains("retort_history ("), "the bookkeeping: {text}");
    if dialect != Dialect::Mysql {
        assert!(
            text.contains("BEGIN;") && text.contains("COMMIT;"),
            "{text}"
        );
    }
    // Nothing ran on the target.
    assert_eq!(db.tables(), tables);
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 1);
    assert_eq!(leftover_scratch(&db, "offline"), 0);

    let doc = json(&project.run_ok(&db, &["--json", "downgrade", "base", "--sql"]));
    assert_eq!(doc["command"], "downgrade --sql");
    let steps = doc["databases"][0]["steps"].as_array().unwrap();
    assert_eq!(steps.len(), 1);
    assert_eq!(steps[0]["revision"], "20260101000000");
    assert_eq!(steps[0]["direction"], "downgrade");
    assert_eq!(steps[0]["exact"], true);
    let sent: Vec<&str> = steps[0]["statements"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["sender"] == "migration")
        .map(|s| s["sql"].as_str().unwrap())
        .collect();
    assert_eq!(sent, ["DROP TABLE items"], "{doc}");
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 1);

    pair(
        &dir,
        "20260101000300",
        "20260101000200",
        "INSERT INTO no_such_table VALUES (1);\n",
        "",
    );
    let out = project.run(&db, &["upgrade", "--sql"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("rehearsal"), "{err}");
    assert!(
        err.contains("20260101000300") && err.contains("no_such_table"),
        "{err}"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 1);
    assert_eq!(db.tables(), tables);
    assert_eq!(leftover_scratch(&db, "offline"), 0);

    // The real run fails there too: the JSON stream ends with what failed, and why.
    let out = project.run(&db, &["--json", "upgrade"]);
    assert_eq!(out.status.code(), Some(1));
    let text = stdout(&out);
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["event"], "finished");
    assert_eq!(last["ok"], false);
    assert_eq!(last["failed"]["kind"], "migration");
    let message = last["failed"]["message"].as_str().unwrap();
    assert!(
        message.contains("20260101000300") && message.contains("no_such_table"),
        "{message}"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM retort_history WHERE state = 'applied'"),
        3,
        "the three before it are applied"
    );
}

/// `lint` on SQL migrations (each engine's rules, acknowledgements in the file, JSON), and
/// `check` linting what a code migration sends, beside the round trip's finding.
pub fn lint_finds_what_production_would_regret(dialect: Dialect) {
    let db = TestDb::new(dialect, "lint");
    let project = project_named("lint");
    let dir = project.migrations();
    pair(
        &dir,
        "20260101000000",
        "none",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL);\n\
         CREATE INDEX items_by_name ON items (name);\n",
        "DROP TABLE items;\n",
    );
    project.run_ok(&db, &["lint"]);
    let risky = match dialect {
        Dialect::Postgres => "CREATE INDEX items_by_price ON items (price);\n",
        Dialect::Mysql => "UPDATE items SET price = 1;\n",
        Dialect::Sqlite => "ALTER TABLE items ADD COLUMN code TEXT NOT NULL;\n",
    };
    let rule = match dialect {
        Dialect::Postgres => "index-without-concurrently",
        Dialect::Mysql => "dml-with-ddl",
        Dialect::Sqlite => "not-null-without-default",
    };
    pair(
        &dir,
        "20260101000100",
        "20260101000000",
        &format!(
            "ALTER TABLE items ADD COLUMN price INTEGER DEFAULT 0;\n{risky}\
             ALTER TABLE items DROP COLUMN name;\n"
        ),
        "",
    );
    let out = project.run(&db, &["lint"]);
    assert_eq!(out.status.code(), Some(64), "{}", stdout(&out));
    let text = stdout(&out);
    assert!(text.contains("2 findings"), "{text}");
    assert!(
        text.contains("20260101000100_step.up.sql: drop-column (statement 3: ALTER TABLE items DROP COLUMN name)"),
        "{text}"
    );
    assert!(text.contains(&format!("{rule} (statement 2")), "{text}");
    let doc = json(&project.run(&db, &["--json", "lint"]));
    let findings = &doc["databases"][0]["migrations"][0]["findings"];
    let rules: Vec<&str> = findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(rules, [rule, "drop-column"], "{doc}");
    // Acknowledged outside the migration (its digest must not change once applied): a
    // baseline holds each finding while its statement reads the same.
    let out = project.run_ok(&db, &["lint", "--write-baseline"]);
    assert!(
        stdout(&out).contains("2 findings added to migrations/lint-baseline.toml"),
        "{}",
        stdout(&out)
    );
    let baseline = std::fs::read_to_string(dir.join("lint-baseline.toml")).unwrap();
    assert!(
        baseline.contains("statement = \"ALTER TABLE items DROP COLUMN name\""),
        "{baseline}"
    );
    let out = project.run_ok(&db, &["lint"]);
    assert!(
        stdout(&out).contains("no findings (2 more acknowledged in migrations/lint-baseline.toml)"),
        "{}",
        stdout(&out)
    );
    let doc = json(&project.run(&db, &["--json", "check", "--offline", "--no-round-trip"]));
    assert!(
        !doc["databases"][0]["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["finding"] == "lint"),
        "check reads the baseline too: {doc}"
    );
    let up = dir.join("20260101000100_step.up.sql");
    let edited = std::fs::read_to_string(&up)
        .unwrap()
        .replace("DROP COLUMN name", "DROP COLUMN  name_typo");
    std::fs::write(&up, &edited).unwrap();
    let out = project.run(&db, &["lint"]);
    assert_eq!(
        out.status.code(),
        Some(64),
        "a changed statement is not the one acknowledged"
    );
    assert!(
        stdout(&out).contains("1 finding (1 more acknowledged"),
        "{}",
        stdout(&out)
    );
    std::fs::write(
        &up,
        edited.replace("DROP COLUMN  name_typo", "DROP COLUMN name"),
    )
    .unwrap();
    std::fs::write(
        dir.join("lint-baseline.toml"),
        "[[acknowledged]]\nrevision = \"x\"\nrule = \"drop-colum\"\nstatement = \"\"\n",
    )
    .unwrap();
    let out = project.run(&db, &["lint"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("`drop-colum` (revision x) is not a lint rule"),
        "{}",
        stderr(&out)
    );
    std::fs::remove_file(dir.join("lint-baseline.toml")).unwrap();
    // Acknowledged in the file: one in the statement, one for the whole migration.
    let up = dir.join("20260101000100_step.up.sql");
    let text = std::fs::read_to_string(&up).unwrap().replace(
        "ALTER TABLE items DROP COLUMN name",
        "-- retort: allow drop-column\nALTER TABLE items DROP COLUMN name",
    );
    std::fs::write(&up, format!("-- retort: allow = {rule}\n{text}")).unwrap();
    project.run_ok(&db, &["lint"]);
    // A code migration is linted from what it sends, in the round trip of `check`.
    let project = Project::with_fixtures(&["20260201000000", "20261204000000"]);
    let doc = json(&project.run(&db, &["--json", "check", "--offline"]));
    let findings = doc["databases"][0]["findings"].as_array().unwrap();
    let lint = findings
        .iter()
        .find(|f| f["finding"] == "lint" && f["revision"] == "20261204000000")
        .unwrap_or_else(|| panic!("the drop is linted: {doc}"));
    assert_eq!(lint["findings"][0]["rule"], "drop-table");
    assert_eq!(lint["exit_bit"], 64);
    let trip = findings
        .iter()
        .find(|f| f["finding"] == "round-trip")
        .unwrap_or_else(|| panic!("the downgrade leaves a trace: {doc}"));
    assert_eq!(trip["revision"], "20261204000000");
    assert_eq!(trip["problem"]["problem"], "trace");
    let mixed = findings
        .iter()
        .any(|f| f["finding"] == "lint" && f["revision"] == "20260201000000");
    assert_eq!(
        mixed,
        dialect == Dialect::Mysql,
        "creating and filling a table in one migration mixes DDL and DML on MySQL only: {doc}"
    );
    assert_eq!(doc["exit_code"], 32 | 64);
}

/// The rehearsals on scratch databases (`check`'s round trip, `upgrade --sql`) run a
/// migration with a directory capability on copies: the project's files do not change, and
/// nothing is created beside the database.
#[test]
fn rehearsals_change_no_project_file() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    let repo = crate::common::repo();
    std::fs::copy(repo.join("retort.toml"), root.join("retort.toml")).unwrap();
    std::fs::create_dir(root.join("config")).unwrap();
    for entry in std::fs::read_dir(repo.join("config")).unwrap().flatten() {
        std::fs::copy(entry.path(), root.join("config").join(entry.file_name())).unwrap();
    }
    for db in ["catalog", "monitoring"] {
        let dir = root.join("migrations").join(db);
        std::fs::create_dir_all(&dir).unwrap();
        for entry in std::fs::read_dir(repo.join("migrations").join(db))
            .unwrap()
            .flatten()
        {
            if entry.path().extension().is_some_and(|e| e == "wasm") {
                std::fs::copy(entry.path(), dir.join(entry.file_name())).unwrap();
            }
        }
    }
    // The file as it is before the migration: a rehearsal on the real directory would move it
    // forward.
    let ini = root.join("config/monitoring.ini");
    let old = std::fs::read_to_string(&ini).unwrap().replace(
        "retention_days = 90\nkinds_index = events_kind_time",
        "retention_days = 30",
    );
    assert!(old.contains("retention_days = 30\n"), "{old}");
    std::fs::write(&ini, &old).unwrap();
    let before = std::fs::read_to_string(&ini).unwrap();
    let run = |args: &[&str]| {
        let out = assert_cmd::Command::new(env!("CARGO_BIN_EXE_retort"))
            .current_dir(root)
            .env_remove("DATABASE_URL")
            .env_remove("CATALOG_URL")
            .env_remove("MONITORING_URL")
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out)
    };
    let checked = run(&["-d", "monitoring", "check", "--offline"]);
    assert!(checked.contains("4 of 4 round-tripped"), "{checked}");
    let sql = run(&["-d", "monitoring", "upgrade", "--sql"]);
    assert!(sql.contains("point alerting at the kinds index"), "{sql}");
    // Portable operations show as the statements the host wrote, each named.
    assert!(
        sql.contains("-- retort schema: alter-column events.severity"),
        "{sql}"
    );
    assert!(
        sql.contains("CREATE TABLE \"events__retort_rebuild\""),
        "{sql}"
    );
    assert_eq!(
        std::fs::read_to_string(&ini).unwrap(),
        before,
        "the real file is untouched"
    );
    assert!(
        !root.join("monitoring.db").exists(),
        "the target is not created"
    );
}

/// `diff` and `new --autogenerate`: a declared schema (plain DDL, run by the engine) against
/// the migrations' schema at head; the generated migration upgrades, downgrades, passes the
/// round trip, and leaves the database as declared; drops need --allow-destructive.
pub fn autogenerate_from_a_declared_schema(dialect: Dialect) {
    let db = TestDb::new(dialect, "autogen");
    let project = Project::empty();
    let root = project.dir.path();
    std::fs::write(
        root.join("retort.toml"),
        "[databases.autogen]\nurl = \"${DATABASE_URL}\"\nmigrations = \"migrations\"\nschema = \"schema.sql\"\n",
    )
    .unwrap();
    pair(
        &project.migrations(),
        "20260101000000",
        "none",
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(50));\n",
        "DROP TABLE users;\n",
    );
    let schema = root.join("schema.sql");
    std::fs::write(
        &schema,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, email VARCHAR(50), age INTEGER DEFAULT 0);\n\
         CREATE TABLE tags (id INTEGER PRIMARY KEY, label VARCHAR(20));\n\
         CREATE INDEX users_email ON users (email);\n\
         CREATE VIEW adults AS SELECT id FROM users WHERE age >= 18;\n",
    )
    .unwrap();
    let out = project.run(&db, &["diff", "--exit-code"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let text = stdout(&out);
    assert!(text.contains("+ column users.age"), "{text}");
    assert!(text.contains("+ view adults"), "{text}");
    assert!(!text.contains("\n  - "), "nothing to drop: {text}");
    let doc = json(&project.run_ok(&db, &["--json", "diff"]));
    assert_eq!(doc["databases"][0]["against"], "head");
    assert!(
        doc["databases"][0]["differences"].as_array().unwrap().len() >= 4,
        "{doc}"
    );

    let made = stdout(&project.run_ok(&db, &["new", "--autogenerate", "catch up"]));
    assert!(made.contains("4 statements in migrations/"), "{made}");
    let engine = engine_name(dialect);
    let generated = |suffix: &str| {
        std::fs::read_dir(project.migrations())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(suffix))
            .unwrap_or_else(|| panic!("no file ends with {suffix}"))
    };
    // The header in the generic file every engine reads; one engine's SQL in its own file.
    let header = std::fs::read_to_string(generated("_catch_up.up.sql")).unwrap();
    assert!(
        header.contains("-- retort: parents = 20260101000000"),
        "{header}"
    );
    assert!(!header.contains("CREATE TABLE"), "{header}");
    let script = std::fs::read_to_string(generated(&format!("_catch_up.{engine}.up.sql"))).unwrap();
    if dialect == Dialect::Postgres {
        // What autogenerate writes passes `check`: the blocking index build is acknowledged,
        // with the reason, for the author to review.
        assert!(
            header.contains("-- retort: allow = index-without-concurrently"),
            "{header}"
        );
        assert!(
            header
                .contains("-- acknowledged by autogenerate, review it: index-without-concurrently"),
            "{header}"
        );
    }
    let users = match dialect {
        Dialect::Mysql => "`users`",
        _ => "\"users\"",
    };
    assert!(
        script.contains(&format!(
            "ALTER TABLE {users} ADD COLUMN age INTEGER DEFAULT 0;"
        )),
        "{script}"
    );
    assert!(
        script.contains("CREATE TABLE tags (id INTEGER PRIMARY KEY, label VARCHAR(20));"),
        "{script}"
    );
    let out = project.run_ok(&db, &["diff"]);
    assert!(stdout(&out).contains("(no difference)"), "{}", stdout(&out));
    // At the first revision the declared schema is still ahead.
    let out = project.run(&db, &["diff", "--against", "20260101000000", "--exit-code"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(
        stdout(&out).contains("from the migrations' schema at 20260101000000")
            && stdout(&out).contains("+ column users.age"),
        "{}",
        stdout(&out)
    );
    // The generated migration passes the gate: it round-trips and its lint is acknowledged.
    let doc = json(&project.run_ok(&db, &["--json", "check", "--offline"]));
    assert!(
        doc["databases"][0]["findings"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{doc}"
    );
    project.run_ok(&db, &["upgrade", "-q"]);
    let out = project.run_ok(&db, &["diff", "--against", "database"]);
    assert!(stdout(&out).contains("(no difference)"), "{}", stdout(&out));

    // Declared without the e-mail column (and its index): a drop, refused without the flag.
    std::fs::write(
        &schema,
        "CREATE TABLE users (id INTEGER PRIMARY KEY, age INTEGER DEFAULT 0);\n\
         CREATE TABLE tags (id INTEGER PRIMARY KEY, label VARCHAR(20));\n\
         CREATE VIEW adults AS SELECT id FROM users WHERE age >= 18;\n",
    )
    .unwrap();
    let out = project.run(&db, &["new", "--autogenerate", "drop email"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("drops what the migrations made: drop column users.email"),
        "{}",
        stderr(&out)
    );
    let files = std::fs::read_dir(project.migrations()).unwrap().count();
    let made = stdout(&project.run_ok(
        &db,
        &["new", "--autogenerate", "drop email", "--allow-destructive"],
    ));
    assert!(made.contains("destructive: - column users.email"), "{made}");
    assert_eq!(
        std::fs::read_dir(project.migrations()).unwrap().count(),
        files + 4,
        "the generic pair and the engine's pair"
    );
    // The drop round-trips (its downgrade restores the column and the index), and the
    // destructive rule it was generated with is acknowledged in its header.
    let doc = json(&project.run_ok(&db, &["--json", "check", "--offline"]));
    assert!(
        doc["databases"][0]["findings"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{doc}"
    );
    let header = std::fs::read_to_string(generated("_drop_email.up.sql")).unwrap();
    assert!(
        header.contains("-- retort: allow = drop-column"),
        "{header}"
    );
    project.run_ok(&db, &["upgrade", "-q"]);
    let out = project.run_ok(&db, &["diff", "--against", "database"]);
    assert!(stdout(&out).contains("(no difference)"), "{}", stdout(&out));
    project.run_ok(&db, &["downgrade", "20260101000000", "-q"]);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM retort_history"),
        1,
        "both generated migrations downgrade"
    );
}

/// A declared change of a column's type, nullability and default, and a check added to the
/// existing table: written as PostgreSQL's `ALTER COLUMN` actions or MySQL's `MODIFY COLUMN`
/// and `ADD CONSTRAINT`, with a downgrade that restores the catalog's old definitions, and
/// the generated migration round-trips; on SQLite, where only a rebuild changes a column, the
/// file says to use the portable operation instead.
pub fn autogenerate_writes_column_changes(dialect: Dialect) {
    let db = TestDb::new(dialect, "autocol");
    let project = Project::empty();
    let root = project.dir.path();
    std::fs::write(
        root.join("retort.toml"),
        "[databases.autocol]\nurl = \"${DATABASE_URL}\"\nmigrations = \"migrations\"\nschema = \"schema.sql\"\n",
    )
    .unwrap();
    pair(
        &project.migrations(),
        "20260101000000",
        "none",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(20), price INTEGER NOT NULL DEFAULT 0);\n",
        "DROP TABLE items;\n",
    );
    std::fs::write(
        root.join("schema.sql"),
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(80) NOT NULL DEFAULT 'none', price INTEGER, \
         CONSTRAINT items_price CHECK (price >= 0));\n",
    )
    .unwrap();
    let out = project.run_ok(&db, &["diff"]);
    assert!(
        stdout(&out).contains("~ column items.name"),
        "{}",
        stdout(&out)
    );
    let made = project.run(&db, &["new", "--autogenerate", "widen names"]);
    let text = format!("{}{}", stdout(&made), stderr(&made));
    let file = std::fs::read_dir(project.migrations())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.to_string_lossy()
                .ends_with(&format!("_widen_names.{}.up.sql", engine_name(dialect)))
        });
    if dialect == Dialect::Sqlite {
        let notes = match &file {
            Some(f) => std::fs::read_to_string(f).unwrap(),
            None => text.clone(),
        };
        assert!(notes.contains("portable `alter-column`"), "{notes}\n{text}");
        return;
    }
    assert!(made.status.success(), "{text}");
    let script = std::fs::read_to_string(file.expect("the generated migration")).unwrap();
    match dialect {
        Dialect::Postgres => {
            assert!(
                script.contains(
                    "ALTER TABLE \"items\" ALTER COLUMN \"name\" TYPE character varying(80) \
                     USING \"name\"::character varying(80), ALTER COLUMN \"name\" SET NOT NULL, \
                     ALTER COLUMN \"name\" SET DEFAULT 'none'::character varying;"
                ),
                "{script}"
            );
            assert!(
                script.contains(
                    "ALTER TABLE \"items\" ALTER COLUMN \"price\" DROP NOT NULL, ALTER COLUMN \
                     \"price\" DROP DEFAULT;"
                ),
                "{script}"
            );
        }
        // MODIFY restates the column from the catalog, its collation included.
        _ => assert!(
            script.lines().any(|l| l
                .starts_with("ALTER TABLE `items` MODIFY COLUMN `name` varchar(80) COLLATE ")
                && l.ends_with(" NOT NULL DEFAULT 'none';")),
            "{script}"
        ),
    }
    // The check added to the existing table is written from the catalog's definition.
    let check = match dialect {
        Dialect::Postgres => {
            "ALTER TABLE \"items\" ADD CONSTRAINT \"items_price\" CHECK ((price >= 0));"
        }
        _ => "ALTER TABLE `items` ADD CONSTRAINT `items_price` CHECK (`price` >= 0);",
    };
    assert!(script.contains(check), "{script}");
    // The round trip passes, and the type change is acknowledged with the reason.
    let doc = json(&project.run_ok(&db, &["--json", "check", "--offline"]));
    let findings = doc["databases"][0]["findings"].as_array().unwrap();
    assert!(findings.is_empty(), "{doc}");
    assert_eq!(doc["databases"][0]["round_tripped"], 2, "{doc}");
    project.run_ok(&db, &["upgrade", "-q"]);
    let out = project.run_ok(&db, &["diff", "--against", "database"]);
    assert!(stdout(&out).contains("(no difference)"), "{}", stdout(&out));
    db.execute("INSERT INTO items (id) VALUES (1)");
    assert_eq!(db.strings("SELECT name FROM items"), ["none"]);
    assert!(
        db.try_execute("INSERT INTO items (id, price) VALUES (2, -1)")
            .is_err()
    );
    db.execute("DELETE FROM items");
    project.run_ok(&db, &["downgrade", "-1"]);
    std::fs::write(
        root.join("schema.sql"),
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(20), price INTEGER NOT NULL DEFAULT 0);\n",
    )
    .unwrap();
    let out = project.run_ok(&db, &["diff", "--against", "database"]);
    assert!(stdout(&out).contains("(no difference)"), "{}", stdout(&out));
}

/// Names that are keywords (`order`, `select`) reach the generated SQL quoted, because
/// `db::ddl` writes autogenerate's drops and column changes: the migration runs, its
/// downgrade restores the dropped column, and the round trip passes, on every engine.
pub fn autogenerate_quotes_the_names_it_writes(dialect: Dialect) {
    let db = TestDb::new(dialect, "autoquote");
    let project = Project::empty();
    let root = project.dir.path();
    std::fs::write(
        root.join("retort.toml"),
        "[databases.autoquote]\nurl = \"${DATABASE_URL}\"\nmigrations = \"migrations\"\nschema = \"schema.sql\"\n",
    )
    .unwrap();
    let q = |name: &str| match dialect {
        Dialect::Mysql => format!("`{name}`"),
        _ => format!("\"{name}\""),
    };
    let (order, select) = (q("order"), q("select"));
    pair(
        &project.migrations(),
        "20260101000000",
        "none",
        &format!(
            "CREATE TABLE q_items (id INTEGER PRIMARY KEY, {order} INTEGER, {select} VARCHAR(20));\n"
        ),
        "DROP TABLE q_items;\n",
    );
    // SQLite changes a column only by a rebuild, which autogenerate leaves to the author:
    // there, only the drop.
    let order_type = match dialect {
        Dialect::Sqlite => "INTEGER",
        _ => "BIGINT NOT NULL DEFAULT 0",
    };
    std::fs::write(
        root.join("schema.sql"),
        format!("CREATE TABLE q_items (id INTEGER PRIMARY KEY, {order} {order_type});\n"),
    )
    .unwrap();
    let made = project.run(
        &db,
        &["new", "--autogenerate", "keywords", "--allow-destructive"],
    );
    assert!(made.status.success(), "{}", stderr(&made));
    let script = std::fs::read_dir(project.migrations())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.to_string_lossy()
                .ends_with(&format!("_keywords.{}.up.sql", engine_name(dialect)))
        })
        .map(|f| std::fs::read_to_string(f).unwrap())
        .expect("the generated migration");
    let items = q("q_items");
    assert!(
        script.contains(&format!("ALTER TABLE {items} DROP COLUMN {select};")),
        "{script}"
    );
    if dialect != Dialect::Sqlite {
        assert!(
            script.contains(&format!("ALTER TABLE {items} ")) && script.contains(&order),
            "{script}"
        );
    }
    let doc = json(&project.run_ok(&db, &["--json", "check", "--offline"]));
    assert!(
        doc["databases"][0]["findings"]
            .as_array()
            .unwrap()
            .is_empty(),
        "{doc}"
    );
    project.run_ok(&db, &["upgrade", "-q"]);
    let out = project.run_ok(&db, &["diff", "--against", "database"]);
    assert!(stdout(&out).contains("(no difference)"), "{}", stdout(&out));
    db.execute(&format!("INSERT INTO q_items (id, {order}) VALUES (1, 7)"));
    project.run_ok(&db, &["downgrade", "-1", "-q"]);
    assert_eq!(
        db.count(&format!("SELECT COUNT(*) FROM q_items WHERE {order} = 7")),
        1,
        "the downgrade kept the rows and restored the column"
    );
    db.execute(&format!("UPDATE q_items SET {select} = 'back'"));
}
