//! Plain SQL migrations: built into artifacts by `retort build`, in one graph with Rust
//! migrations, on every dialect.

use crate::common::{Dialect, Project, TestDb, stderr, stdout};

/// The Rust root (orders, a view, a function) and the dialect's SQL migrations after it.
fn fixtures(dialect: Dialect) -> Vec<&'static str> {
    let mut ids = vec!["20261001000000"];
    ids.extend(match dialect {
        Dialect::Postgres => ["20261101000000", "20261101000100", "20261101000200"].as_slice(),
        Dialect::Mysql => ["20261101010000", "20261101010100"].as_slice(),
        Dialect::Sqlite => ["20261101020000", "20261101020100"].as_slice(),
    });
    ids
}

pub fn sql_migrations_join_the_graph(dialect: Dialect) {
    let db = TestDb::new(dialect, "sql");
    let ids = fixtures(dialect);
    let project = Project::with_fixtures(&ids);
    project.run_ok(&db, &["upgrade"]);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM retort_history"),
        ids.len() as i64,
        "every SQL migration is recorded, the comment-only one too"
    );
    let notes = db.strings("SELECT note FROM order_log ORDER BY id");
    match dialect {
        Dialect::Postgres => {
            assert_eq!(notes, ["order 4; amount 40"], "the plpgsql trigger ran");
            assert_eq!(
                db.count("SELECT COUNT(*) FROM pg_indexes WHERE indexname = 'orders_by_amount'"),
                1,
                "CREATE INDEX CONCURRENTLY ran outside a transaction"
            );
        }
        Dialect::Mysql => {
            assert_eq!(notes, ["added 2; done"], "the procedure ran");
            assert_eq!(db.count("SELECT COUNT(*) FROM orders"), 5);
        }
        Dialect::Sqlite => assert_eq!(notes, ["order 4; amount 40"], "the trigger ran"),
    }
    let out = project.retort(&db).arg("status").output().unwrap();
    let status = stdout(&out);
    assert!(
        status.contains(&format!("{} applied, 0 pending", ids.len())),
        "{status}"
    );
    // Stored like any artifact: the downgrade works from the database alone.
    for entry in std::fs::read_dir(project.migrations()).unwrap().flatten() {
        std::fs::remove_file(entry.path()).unwrap();
    }
    project.run_ok(&db, &["downgrade", "base"]);
    assert_eq!(
        db.tables()
            .into_iter()
            .filter(|t| !t.starts_with("retort_"))
            .collect::<Vec<_>>(),
        Vec::<String>::new()
    );
}

pub fn session_setup_runs_before_migrations(dialect: Dialect) {
    let db = TestDb::new(dialect, "session");
    let project = Project::with_fixtures(&["20261001000000", "20261101030000"]);
    let write_config = |session: &str| {
        std::fs::write(
            project.dir.path().join("retort.toml"),
            format!("[databases.main]\nurl = \"sqlite://unused.db\"\nsession = [{session}]\n"),
        )
        .unwrap()
    };
    // Every dialect enforces foreign keys (Retort's SQLite too) until the session says not to.
    let setting = match dialect {
        Dialect::Sqlite => "\"PRAGMA foreign_keys = OFF\"",
        // (A setup statement that answers a row too: the session is replayed after each
        // migration, in the round trip that reads which transaction this is.)
        Dialect::Postgres => {
            "\"SET session_replication_role = replica\", \"SELECT set_config('app.tenant', 'x', false)\""
        }
        Dialect::Mysql => "\"SET FOREIGN_KEY_CHECKS = 0\"",
    };
    for with_session in [false, true] {
        write_config(if with_session { setting } else { "" });
        let out = project.retort(&db).arg("upgrade").output().unwrap();
        let enforced = !with_session;
        let err = stderr(&out);
        if enforced {
            assert_eq!(out.status.code(), Some(1), "session {with_session}: {err}");
            assert!(
                err.contains("20261101030000") && err.contains("INSERT INTO order_lines"),
                "the error names the migration and the statement: {err}"
            );
        } else {
            assert!(out.status.success(), "session {with_session}: {err}");
        }
        let out = project
            .retort(&db)
            .args(["downgrade", "base"])
            .output()
            .unwrap();
        if !out.status.success() {
            // MariaDB: the failed migration left its pending row; settle it.
            project.run_ok(&db, &["resolve", "20261101030000", "--downgrade"]);
            project.run_ok(&db, &["downgrade", "base"]);
        }
    }
    // A failing session statement is an error that names it; nothing runs.
    write_config("\"SET no_such_setting = 1\"");
    let out = project.retort(&db).arg("upgrade").output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("session setup") && err.contains("no_such_setting"),
        "{err}"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 0);
}

/// A realistic dbmate directory for `dialect`: a table, a routine whose body holds `;`, an
/// index built outside a transaction, and a migration without a down section.
fn dbmate_dir(dir: &std::path::Path, dialect: Dialect) {
    let routine = match dialect {
        Dialect::Postgres => {
            "CREATE FUNCTION touch_users() RETURNS trigger LANGUAGE plpgsql AS $$\n\
             BEGIN\n  NEW.updated_at := now();\n  RETURN NEW;\nEND;\n$$;\n\
             CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW EXECUTE FUNCTION touch_users();\n\
             -- migrate:down\nDROP TRIGGER users_touch ON users;\nDROP FUNCTION touch_users();\n"
        }
        Dialect::Mysql => {
            "CREATE TRIGGER users_touch BEFORE UPDATE ON users FOR EACH ROW\nBEGIN\n  \
             SET NEW.updated_at = CURRENT_TIMESTAMP;\n  SET NEW.name = TRIM(NEW.name);\nEND;\n\
             -- migrate:down\nDROP TRIGGER users_touch;\n"
        }
        Dialect::Sqlite => {
            "CREATE TRIGGER users_touch AFTER UPDATE OF name ON users BEGIN\n  \
             UPDATE users SET updated_at = CURRENT_TIMESTAMP WHERE id = NEW.id;\nEND;\n\
             -- migrate:down\nDROP TRIGGER users_touch;\n"
        }
    };
    let (index, index_options) = match dialect {
        Dialect::Postgres => (
            "CREATE INDEX CONCURRENTLY users_by_name ON users (name);",
            " transaction:false",
        ),
        _ => (
            "CREATE INDEX users_by_name ON users (name);",
            " transaction:false",
        ),
    };
    let files = [
        (
            "20240101000000_create_users.sql",
            "-- migrate:up\nCREATE TABLE users (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, \
             updated_at TIMESTAMP NULL);\nINSERT INTO users (id, name) VALUES (1, 'ada');\n\n\
             -- migrate:down\nDROP TABLE users;\n"
                .to_string(),
        ),
        (
            "20240102000000_touch_users.sql",
            format!("-- migrate:up\n{routine}"),
        ),
        (
            "20240103000000_index_users_by_name.sql",
            format!("-- migrate:up{index_options}\n{index}\n\n-- migrate:down\n"),
        ),
    ];
    std::fs::create_dir_all(dir).unwrap();
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

pub fn import_from_dbmate_and_adopt_its_database(dialect: Dialect) {
    let db = TestDb::new(dialect, "import");
    let project = Project::empty();
    std::fs::remove_dir(project.migrations()).unwrap();
    let source = project.dir.path().join("db/migrations");
    dbmate_dir(&source, dialect);

    // dbmate already applied the first two migrations to this database.
    db.execute("CREATE TABLE schema_migrations (version VARCHAR(128) PRIMARY KEY)");
    for name in [
        "20240101000000_create_users.sql",
        "20240102000000_touch_users.sql",
    ] {
        let text = std::fs::read_to_string(source.join(name)).unwrap();
        let up = text
            .split("-- migrate:down")
            .next()
            .unwrap()
            .replace("-- migrate:up", "");
        if dialect == Dialect::Mysql && up.contains("TRIGGER") {
            db.execute(up.trim().trim_end_matches(';'));
        } else {
            db.execute(&up);
        }
        db.execute(&format!(
            "INSERT INTO schema_migrations (version) VALUES ('{}')",
            &name[..14]
        ));
    }

    let out = project
        .retort(&db)
        .args(["import", "--from", "dbmate", "db/migrations"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(text.matches("imported ").count(), 3, "{text}");
    assert!(text.contains("(no transaction)"), "{text}");
    project.run_ok(&db, &["build", "-q"]);

    let out = project.run_ok(&db, &["stamp", "--adopt", "dbmate"]);
    assert!(
        stdout(&out).contains("the newest 20240102000000"),
        "{}",
        stdout(&out)
    );
    let out = project.retort(&db).arg("upgrade").output().unwrap();
    let text = stdout(&out);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(
        text.contains("upgraded 1 migration") && text.contains("20240103000000"),
        "only the migration dbmate had not applied runs: {text}"
    );
    // The adopted trigger still works, and the new index exists.
    db.execute("UPDATE users SET name = ' ada ' WHERE id = 1");
    assert_eq!(
        db.count("SELECT COUNT(*) FROM users WHERE updated_at IS NOT NULL"),
        1
    );
    assert_eq!(index_count(&db, "users_by_name"), 1);

    // Down to base: the index migration had no down section (a recorded no-op).
    project.run_ok(&db, &["downgrade", "base"]);
    assert!(!db.tables().contains(&"users".to_string()));
}

/// Rust, Python, JavaScript and SQL migrations in one graph: orders (Rust) → bands (Python)
/// → per-band counts (JavaScript) → a view over both (SQL).
pub fn four_languages_in_one_graph(dialect: Dialect) {
    let db = TestDb::new(dialect, "polyglot");
    let ids = [
        "20261001000000",
        "20261102000000",
        "20261102000100",
        "20261102000200",
    ];
    let project = Project::with_polyglot(&ids);
    let out = project.retort(&db).arg("upgrade").output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("[20261102000000] info: classified 3 orders"),
        "{err}"
    );
    assert_eq!(
        db.strings("SELECT band FROM orders ORDER BY id"),
        ["small", "large", "large"]
    );
    assert_eq!(
        db.strings("SELECT band FROM order_summary ORDER BY band"),
        ["large", "small"]
    );
    assert_eq!(
        db.count("SELECT n FROM order_summary WHERE band = 'large'"),
        2
    );
    assert_eq!(db.count("SELECT n FROM band_report"), 1, "the SQL view");
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 4);
    project.run_ok(&db, &["downgrade", "base"]);
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 0);
}

/// `retort new --lang sql` → edit → `retort build` → upgrade → downgrade.
pub fn new_sql_migration_round_trip(dialect: Dialect) {
    let db = TestDb::new(dialect, "newsql");
    let project = Project::empty();
    std::fs::remove_dir(project.migrations()).unwrap();
    let out = project.run_ok(&db, &["new", "--lang", "sql", "create notes"]);
    assert!(
        stdout(&out).contains("parent none: a root"),
        "{}",
        stdout(&out)
    );
    let up = std::fs::read_dir(project.migrations())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".up.sql"))
        .expect("an .up.sql file");
    let header = std::fs::read_to_string(&up).unwrap();
    assert!(header.contains("-- retort: parents = none"), "{header}");
    std::fs::write(
        &up,
        format!(
            "{header}BEGIN;\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR(200));\n\
             INSERT INTO notes (id, body) VALUES (1, 'semi; colon');\nCOMMIT;\n"
        ),
    )
    .unwrap();
    let down = up.to_string_lossy().replace(".up.sql", ".down.sql");
    std::fs::write(&down, "START TRANSACTION;\nDROP TABLE notes;\nCOMMIT;\n").unwrap();
    // A migration that needs a toolchain and has no artifact is refused, naming it, before
    // the database is touched: forgetting the build is never "nothing to do".
    let crate_dir = project.migrations().join("20990101000000_rust_crate");
    std::fs::create_dir_all(crate_dir.join("src")).unwrap();
    std::fs::write(
        crate_dir.join("Cargo.toml"),
        "[package]\nname = \"rust_crate\"\nversion = \"0.1.0\"\n",
    )
    .unwrap();
    let out = project.run(&db, &["upgrade"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out)
            .contains("20990101000000_rust_crate has no artifact; build the migrations first"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("build:      retort build"),
        "the binary names its command: {}",
        stderr(&out)
    );
    assert!(!db.tables().contains(&"retort_history".to_string()));
    std::fs::remove_dir_all(&crate_dir).unwrap();
    // (The SQL migration beside it was built by that upgrade; build it again below.)
    for entry in std::fs::read_dir(project.migrations()).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "wasm") {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    // Scripts wrapped in their own transaction (as other tools' histories often are) run as
    // one Retort transaction: the pair is dropped, and the build says so.
    let out = project.run_ok(&db, &["build"]);
    for kind in ["up", "down"] {
        assert!(
            stderr(&out).contains(&format!(
                "create_notes.{kind}.sql: its BEGIN; … COMMIT; pair is dropped when it runs"
            )),
            "{}",
            stderr(&out)
        );
    }
    project.run_ok(&db, &["upgrade"]);
    assert_eq!(db.strings("SELECT body FROM notes"), ["semi; colon"]);
    // A second build keeps the artifact: its sources did not change.
    let out = project.retort(&db).arg("build").output().unwrap();
    assert!(
        stdout(&out).contains("unchanged migrations/"),
        "{}",
        stdout(&out)
    );
    project.run_ok(&db, &["downgrade", "base"]);
    assert!(!db.tables().contains(&"notes".to_string()));
    // An edited SQL migration is not upgraded from its old artifact: SQL needs no toolchain,
    // so `upgrade` builds it first and says so.
    let edited = std::fs::read_to_string(&up)
        .unwrap()
        .replace("'semi; colon'", "'edited'");
    std::fs::write(&up, edited).unwrap();
    let out = project.run_ok(&db, &["upgrade"]);
    assert!(
        stderr(&out).contains("_create_notes.wasm from its source"),
        "{}",
        stderr(&out)
    );
    assert_eq!(db.strings("SELECT body FROM notes"), ["edited"]);
    project.run_ok(&db, &["downgrade", "base"]);
    // A new SQL migration needs no `retort build` at all.
    for entry in std::fs::read_dir(project.migrations()).unwrap().flatten() {
        if entry.path().extension().is_some_and(|e| e == "wasm") {
            std::fs::remove_file(entry.path()).unwrap();
        }
    }
    let out = project.run_ok(&db, &["upgrade"]);
    assert!(
        stderr(&out).contains("built migrations/") && stdout(&out).contains("upgraded 1 migration"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert_eq!(db.strings("SELECT body FROM notes"), ["edited"]);
}

/// goose: a directory of annotated files imports in goose's order, and `stamp --adopt goose`
/// reads `goose_db_version` as goose does (a version's newest row says whether it is applied:
/// version 2 was rolled back and re-applied, version 3 applied and rolled back).
pub fn import_from_goose_and_adopt_its_database(dialect: Dialect) {
    let db = TestDb::new(dialect, "goose");
    let project = Project::empty();
    std::fs::remove_dir(project.migrations()).unwrap();
    let source = project.dir.path().join("db/goose");
    std::fs::create_dir_all(&source).unwrap();
    let drop_index = match dialect {
        Dialect::Mysql => "DROP INDEX gusers_by_name ON gusers;",
        _ => "DROP INDEX gusers_by_name;",
    };
    for (name, text) in [
        (
            "00001_create_users.sql",
            "-- +goose Up\nCREATE TABLE gusers (id INTEGER PRIMARY KEY, name VARCHAR(50));\n\
             -- +goose Down\nDROP TABLE gusers;\n"
                .to_string(),
        ),
        (
            "00002_seed.sql",
            "-- +goose Up\n-- +goose StatementBegin\nINSERT INTO gusers (id, name) VALUES (1, 'ada');\n\
             -- +goose StatementEnd\n-- +goose Down\nDELETE FROM gusers;\n"
                .to_string(),
        ),
        (
            "00003_index.sql",
            format!(
                "-- +goose NO TRANSACTION\n-- +goose Up\nCREATE INDEX gusers_by_name ON gusers (name);\n\
                 -- +goose Down\n{drop_index}\n"
            ),
        ),
    ] {
        std::fs::write(source.join(name), text).unwrap();
    }
    // What goose did to this database.
    db.execute("CREATE TABLE gusers (id INTEGER PRIMARY KEY, name VARCHAR(50))");
    db.execute("INSERT INTO gusers (id, name) VALUES (1, 'ada')");
    db.execute(
        "CREATE TABLE goose_db_version (id INTEGER PRIMARY KEY, version_id BIGINT NOT NULL, \
         is_applied BOOLEAN NOT NULL, tstamp VARCHAR(40))",
    );
    for (id, version, applied) in [
        (1, 0, true),
        (2, 1, true),
        (3, 2, true),
        (4, 2, false),
        (5, 2, true),
        (6, 3, true),
        (7, 3, false),
    ] {
        db.execute(&format!(
            "INSERT INTO goose_db_version (id, version_id, is_applied) VALUES ({id}, {version}, {})",
            if applied { "TRUE" } else { "FALSE" }
        ));
    }

    let out = project.run_ok(&db, &["import", "--from", "goose", "db/goose"]);
    let text = stdout(&out);
    assert_eq!(text.matches("imported ").count(), 3, "{text}");
    assert!(text.contains("(no transaction)"), "{text}");
    adopt_then_upgrade_one(&project, &db, "goose", "2", "↑ 3 ");
    assert_eq!(index_count(&db, "gusers_by_name"), 1);
    assert_eq!(db.strings("SELECT name FROM gusers"), ["ada"]);
    project.run_ok(&db, &["downgrade", "base"]);
    assert!(!db.tables().contains(&"gusers".to_string()));
}

/// popx: per-dialect files win over generic ones, versions order as strings (`9_…` after
/// `2021…`), `.<dialect>.autocommit.` runs outside a transaction, a comment-only file is a
/// recorded no-op, CockroachDB files are skipped, and `stamp --adopt popx` reads
/// `schema_migration`. Then down to base and up again from the imported files alone.
pub fn import_from_popx_and_adopt_its_database(dialect: Dialect) {
    let db = TestDb::new(dialect, "popx");
    let project = Project::empty();
    std::fs::remove_dir(project.migrations()).unwrap();
    let source = project.dir.path().join("db/popx");
    std::fs::create_dir_all(source.join("sql")).unwrap();
    let users = "CREATE TABLE pusers (id INTEGER PRIMARY KEY, name VARCHAR(50));\n";
    let lite_users = "CREATE TABLE pusers (id INTEGER PRIMARY KEY, name TEXT, lite INTEGER);\n";
    for (name, text) in [
        ("20210101000000000001_users.up.sql", users),
        ("20210101000000000001_users.sqlite3.up.sql", lite_users),
        (
            "20210101000000000001_users.cockroach.up.sql",
            "CREATE TABLE nope (id INT);\n",
        ),
        (
            "20210101000000000001_users.down.sql",
            "DROP TABLE pusers;\n",
        ),
        (
            "sql/20210101000000000002_index.up.sql",
            "CREATE INDEX pusers_by_name ON pusers (name);\n",
        ),
        (
            "sql/20210101000000000002_index.postgres.autocommit.up.sql",
            "CREATE INDEX CONCURRENTLY pusers_by_name ON pusers (name);\n",
        ),
        (
            "sql/20210101000000000002_index.down.sql",
            "DROP INDEX pusers_by_name;\n",
        ),
        (
            "sql/20210101000000000002_index.mysql.down.sql",
            "DROP INDEX pusers_by_name ON pusers;\n",
        ),
        (
            "20210101000000000003_nothing.up.sql",
            "-- nothing to do on this version\n",
        ),
        ("20210101000000000003_nothing.down.sql", ""),
        (
            "9_seed.up.sql",
            "INSERT INTO pusers (id, name) VALUES (1, 'ada');\n",
        ),
        ("9_seed.down.sql", "DELETE FROM pusers;\n"),
        ("README.md", "not a migration"),
    ] {
        std::fs::write(source.join(name), text).unwrap();
    }
    // What popx did to this database: the first three versions.
    db.execute(
        if dialect == Dialect::Sqlite {
            lite_users
        } else {
            users
        }
        .trim(),
    );
    db.execute("CREATE INDEX pusers_by_name ON pusers (name)");
    db.execute("CREATE TABLE schema_migration (version VARCHAR(48) NOT NULL, version_self INT NOT NULL DEFAULT 0)");
    for v in [
        "20210101000000000001",
        "20210101000000000002",
        "20210101000000000003",
    ] {
        db.execute(&format!(
            "INSERT INTO schema_migration (version) VALUES ('{v}')"
        ));
    }

    let out = project.run_ok(&db, &["import", "--from", "popx", "db/popx"]);
    let text = stdout(&out);
    assert_eq!(text.matches("imported ").count(), 4, "{text}");
    assert!(text.contains("(no transaction)"), "{text}");
    assert!(
        text.contains("cockroach.up.sql") && text.contains("CockroachDB"),
        "{text}"
    );
    adopt_then_upgrade_one(&project, &db, "popx", "20210101000000000003", "↑ 9 ");
    assert_eq!(db.strings("SELECT name FROM pusers"), ["ada"]);
    project.run_ok(&db, &["downgrade", "base"]);
    assert!(
        !db.tables().contains(&"pusers".to_string()),
        "{:?}",
        db.tables()
    );
    // From the imported files alone: each dialect's own scripts.
    project.run_ok(&db, &["upgrade"]);
    assert_eq!(index_count(&db, "pusers_by_name"), 1);
    assert_eq!(db.strings("SELECT name FROM pusers"), ["ada"]);
    if dialect == Dialect::Sqlite {
        assert_eq!(
            db.count("SELECT COUNT(*) FROM pragma_table_info('pusers') WHERE name = 'lite'"),
            1
        );
    }
    project.run_ok(&db, &["downgrade", "base"]);
    assert_eq!(index_count(&db, "pusers_by_name"), 0);
}

/// Liquibase formatted SQL: changesets in path and file order, `--rollback` lines and
/// `/* liquibase rollback */` blocks as downs, `dbms:` per engine (a recorded no-op elsewhere),
/// `runInTransaction:false`, files that are not formatted SQL skipped, and `stamp --adopt
/// liquibase` reading `DATABASECHANGELOG`. Then down to base and up again.
pub fn import_from_liquibase_and_adopt_its_database(dialect: Dialect) {
    let db = TestDb::new(dialect, "liquibase");
    let project = Project::empty();
    std::fs::remove_dir(project.migrations()).unwrap();
    let source = project.dir.path().join("db/changelog");
    std::fs::create_dir_all(source.join("later")).unwrap();
    for (name, text) in [
        (
            "001_users.sql",
            "--liquibase formatted sql\n\n--changeset ada:1\n\
             CREATE TABLE lusers (id INTEGER PRIMARY KEY, name VARCHAR(50));\n\
             --rollback DROP TABLE lusers;\n\n\
             --changeset ada:2\nINSERT INTO lusers (id, name) VALUES (1, 'ada');\n\
             --rollback DELETE FROM lusers;\n",
        ),
        (
            "002_index.sql",
            "-- liquibase formatted sql\n\
             -- changeset bob:index-pg runInTransaction:false dbms:postgresql\n\
             CREATE INDEX CONCURRENTLY lusers_by_name ON lusers (name);\n\
             --rollback DROP INDEX lusers_by_name;\n\
             -- changeset bob:index-lite dbms:sqlite\n\
             CREATE INDEX lusers_by_name ON lusers (name);\n\
             /* liquibase rollback\nDROP INDEX lusers_by_name;\n*/\n\
             -- changeset bob:index-my dbms:mariadb,mysql\n\
             CREATE INDEX lusers_by_name ON lusers (name);\n\
             --rollback DROP INDEX lusers_by_name ON lusers;\n",
        ),
        (
            "later/003_seed.sql",
            "--liquibase formatted sql\n--changeset ada:seed-2\n\
             INSERT INTO lusers (id, name) VALUES (2, 'bob');\n--rollback DELETE FROM lusers WHERE id = 2;\n",
        ),
        ("notes.sql", "SELECT 'not a changelog';\n"),
    ] {
        std::fs::write(source.join(name), text).unwrap();
    }
    // What Liquibase did to this database: the first two changesets and this engine's index.
    db.execute("CREATE TABLE lusers (id INTEGER PRIMARY KEY, name VARCHAR(50))");
    db.execute("INSERT INTO lusers (id, name) VALUES (1, 'ada')");
    db.execute("CREATE INDEX lusers_by_name ON lusers (name)");
    db.execute(
        "CREATE TABLE DATABASECHANGELOG (ID VARCHAR(255) NOT NULL, AUTHOR VARCHAR(255) NOT NULL, \
         FILENAME VARCHAR(255) NOT NULL, ORDEREXECUTED INTEGER NOT NULL, EXECTYPE VARCHAR(10) NOT NULL)",
    );
    let index = match dialect {
        Dialect::Postgres => "index-pg",
        Dialect::Mysql => "index-my",
        Dialect::Sqlite => "index-lite",
    };
    for (n, id) in ["1", "2", index].iter().enumerate() {
        db.execute(&format!(
            "INSERT INTO DATABASECHANGELOG (ID, AUTHOR, FILENAME, ORDEREXECUTED, EXECTYPE) \
             VALUES ('{id}', 'x', 'f', {n}, 'EXECUTED')"
        ));
    }

    let out = project.run_ok(&db, &["import", "--from", "liquibase", "db/changelog"]);
    let text = stdout(&out);
    assert_eq!(text.matches("imported ").count(), 6, "{text}");
    assert!(text.contains("(no transaction)"), "{text}");
    assert!(
        text.contains("notes.sql") && text.contains("not Liquibase formatted SQL"),
        "{text}"
    );
    project.run_ok(&db, &["build", "-q"]);
    let out = project.run_ok(&db, &["stamp", "--adopt", "liquibase"]);
    assert!(
        stdout(&out).contains(&format!("the newest {index}")),
        "{}",
        stdout(&out)
    );
    let out = project.run_ok(&db, &["upgrade"]);
    assert!(stdout(&out).contains("↑ seed-2 "), "{}", stdout(&out));
    assert_eq!(
        db.strings("SELECT name FROM lusers ORDER BY id"),
        ["ada", "bob"]
    );
    assert_eq!(index_count(&db, "lusers_by_name"), 1);
    project.run_ok(&db, &["downgrade", "base"]);
    assert!(
        !db.tables().contains(&"lusers".to_string()),
        "{:?}",
        db.tables()
    );
    project.run_ok(&db, &["upgrade"]);
    assert_eq!(index_count(&db, "lusers_by_name"), 1);
    assert_eq!(
        db.strings("SELECT name FROM lusers ORDER BY id"),
        ["ada", "bob"]
    );
    project.run_ok(&db, &["downgrade", "base"]);
    assert_eq!(index_count(&db, "lusers_by_name"), 0);
}

/// sqitch: the plan's order, `[dependencies]` as `depends-on`, `BEGIN; … COMMIT;` scripts in
/// one transaction and others outside one, then up, down to base and up again; on PostgreSQL
/// `stamp --adopt sqitch` reads the `sqitch.changes` registry.
pub fn import_from_sqitch_and_adopt_its_database(dialect: Dialect) {
    let db = TestDb::new(dialect, "sqitch");
    let project = Project::empty();
    std::fs::remove_dir(project.migrations()).unwrap();
    let source = project.dir.path().join("db/sqitch");
    for d in ["deploy", "revert", "verify"] {
        std::fs::create_dir_all(source.join(d)).unwrap();
    }
    for (name, text) in [
        (
            "sqitch.plan",
            "%syntax-version=1.0.0\n%project=flipr\n\n\
             appschema 2013-12-30T23:19:45Z Marge <m@example.com> # Add the app table.\n\
             users [appschema] 2013-12-30T23:20:41Z Marge <m@example.com> # Track users.\n\
             @v1.0 2013-12-31T00:00:00Z Marge <m@example.com> # Tag v1.0.\n\
             flips [users !legacy] 2014-01-01T00:00:00Z Marge <m@example.com> # Flips.\n",
        ),
        (
            "deploy/appschema.sql",
            "-- Deploy flipr:appschema\nBEGIN;\nCREATE TABLE sq_app (id INTEGER PRIMARY KEY);\nCOMMIT;\n",
        ),
        (
            "revert/appschema.sql",
            "BEGIN;\nDROP TABLE sq_app;\nCOMMIT;\n",
        ),
        (
            "deploy/users.sql",
            "BEGIN;\nCREATE TABLE sq_users (id INTEGER PRIMARY KEY, name VARCHAR(50));\n\
             INSERT INTO sq_users (id, name) VALUES (1, 'ada');\nCOMMIT;\n",
        ),
        (
            "revert/users.sql",
            "BEGIN;\nDROP TABLE sq_users;\nCOMMIT;\n",
        ),
        (
            "deploy/flips.sql",
            "CREATE TABLE sq_flips (id INTEGER PRIMARY KEY);\n",
        ),
        ("revert/flips.sql", "DROP TABLE sq_flips;\n"),
        ("verify/flips.sql", "SELECT id FROM sq_flips WHERE FALSE;\n"),
    ] {
        std::fs::write(source.join(name), text).unwrap();
    }
    let out = project.run_ok(&db, &["import", "--from", "sqitch", "db/sqitch"]);
    let text = stdout(&out);
    assert_eq!(text.matches("imported ").count(), 3, "{text}");
    assert_eq!(text.matches("(no transaction)").count(), 1, "{text}");
    let users = std::fs::read_dir(project.migrations())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.to_string_lossy().ends_with(".up.sql") && p.to_string_lossy().contains("users_")
        })
        .expect("the users migration");
    let header = std::fs::read_to_string(users).unwrap();
    assert!(
        header.contains("-- retort: depends-on = appschema"),
        "{header}"
    );
    project.run_ok(&db, &["build", "-q"]);
    if dialect == Dialect::Postgres {
        // What sqitch did to this database: the first two changes, and its registry.
        db.execute("CREATE TABLE sq_app (id INTEGER PRIMARY KEY)");
        db.execute("CREATE TABLE sq_users (id INTEGER PRIMARY KEY, name VARCHAR(50))");
        db.execute("INSERT INTO sq_users (id, name) VALUES (1, 'ada')");
        db.execute("CREATE SCHEMA sqitch");
        db.execute(
            "CREATE TABLE sqitch.changes (change_id TEXT PRIMARY KEY, change TEXT NOT NULL, \
             project TEXT NOT NULL, committed_at TIMESTAMPTZ NOT NULL)",
        );
        db.execute(
            "INSERT INTO sqitch.changes VALUES ('a1', 'appschema', 'flipr', '2014-01-01 00:00:00Z'), \
             ('b2', 'users', 'flipr', '2014-01-01 00:00:01Z')",
        );
        let out = project.run_ok(&db, &["stamp", "--adopt", "sqitch"]);
        assert!(
            stdout(&out).contains("the newest users"),
            "{}",
            stdout(&out)
        );
        let out = project.run_ok(&db, &["upgrade"]);
        assert!(
            stdout(&out).contains("upgraded 1 migration") && stdout(&out).contains("↑ flips "),
            "{}",
            stdout(&out)
        );
    } else {
        project.run_ok(&db, &["upgrade"]);
    }
    assert_eq!(db.strings("SELECT name FROM sq_users"), ["ada"]);
    assert!(db.tables().contains(&"sq_flips".to_string()));
    project.run_ok(&db, &["downgrade", "base"]);
    let tables = db.tables();
    assert!(
        !["sq_app", "sq_users", "sq_flips"]
            .iter()
            .any(|t| tables.contains(&t.to_string())),
        "{tables:?}"
    );
    project.run_ok(&db, &["upgrade"]);
    assert_eq!(db.strings("SELECT name FROM sq_users"), ["ada"]);
}

/// refinery: `V`/`U` files (in subdirectories too) import in version order, the
/// `-- refinery:noTransaction` marker is kept, and `stamp --adopt refinery` reads
/// `refinery_schema_history`. refinery has no downs: the import says so.
pub fn import_from_refinery_and_adopt_its_database(dialect: Dialect) {
    let db = TestDb::new(dialect, "refinery");
    let project = Project::empty();
    std::fs::remove_dir(project.migrations()).unwrap();
    let source = project.dir.path().join("db/refinery");
    std::fs::create_dir_all(source.join("later")).unwrap();
    for (name, text) in [
        (
            "V1__create_items.sql",
            "CREATE TABLE ritems (id INTEGER PRIMARY KEY, name VARCHAR(50));",
        ),
        (
            "later/U2__seed.sql",
            "INSERT INTO ritems (id, name) VALUES (1, 'bolt');",
        ),
        (
            "V10__index.sql",
            "-- refinery:noTransaction\nCREATE INDEX ritems_by_name ON ritems (name);",
        ),
    ] {
        std::fs::write(source.join(name), text).unwrap();
    }
    db.execute("CREATE TABLE ritems (id INTEGER PRIMARY KEY, name VARCHAR(50))");
    db.execute("INSERT INTO ritems (id, name) VALUES (1, 'bolt')");
    db.execute(
        "CREATE TABLE refinery_schema_history (version INTEGER PRIMARY KEY, name VARCHAR(255), \
         applied_on VARCHAR(255), checksum VARCHAR(255))",
    );
    db.execute("INSERT INTO refinery_schema_history (version, name) VALUES (1, 'create_items'), (2, 'seed')");

    let out = project.run_ok(&db, &["import", "--from", "refinery", "db/refinery"]);
    let text = stdout(&out);
    assert_eq!(text.matches("imported ").count(), 3, "{text}");
    assert_eq!(
        text.matches("its downgrade is a recorded no-op").count(),
        3,
        "{text}"
    );
    assert_eq!(text.matches("(no transaction)").count(), 1, "{text}");
    adopt_then_upgrade_one(&project, &db, "refinery", "2", "↑ 10 ");
    assert_eq!(db.strings("SELECT name FROM ritems"), ["bolt"]);
    assert_eq!(index_count(&db, "ritems_by_name"), 1);
}

/// Prisma: `<timestamp>_<name>/migration.sql` directories import in name order; `stamp --adopt
/// prisma` takes the migrations `_prisma_migrations` finished and did not mark rolled back.
pub fn import_from_prisma_and_adopt_its_database(dialect: Dialect) {
    let db = TestDb::new(dialect, "prisma");
    let project = Project::empty();
    std::fs::remove_dir(project.migrations()).unwrap();
    let source = project.dir.path().join("prisma/migrations");
    for (name, sql) in [
        (
            "20240101000000_init",
            "CREATE TABLE pusers (id INTEGER PRIMARY KEY, email VARCHAR(80));",
        ),
        (
            "20240201000000_seed",
            "INSERT INTO pusers (id, email) VALUES (1, 'a@example.com');",
        ),
        (
            "20240301000000_index",
            "CREATE UNIQUE INDEX pusers_email ON pusers (email);",
        ),
    ] {
        std::fs::create_dir_all(source.join(name)).unwrap();
        std::fs::write(source.join(name).join("migration.sql"), sql).unwrap();
    }
    std::fs::write(
        source.join("migration_lock.toml"),
        "provider = \"postgresql\"\n",
    )
    .unwrap();
    db.execute("CREATE TABLE pusers (id INTEGER PRIMARY KEY, email VARCHAR(80))");
    db.execute("INSERT INTO pusers (id, email) VALUES (1, 'a@example.com')");
    db.execute(
        "CREATE TABLE _prisma_migrations (id VARCHAR(36) PRIMARY KEY, migration_name VARCHAR(255) NOT NULL, \
         finished_at VARCHAR(40), rolled_back_at VARCHAR(40))",
    );
    // The index migration failed once (rolled back) and never finished since.
    db.execute(
        "INSERT INTO _prisma_migrations (id, migration_name, finished_at, rolled_back_at) VALUES \
         ('a', '20240101000000_init', '2024-01-01', NULL), \
         ('b', '20240201000000_seed', '2024-02-01', NULL), \
         ('c', '20240301000000_index', NULL, '2024-03-01')",
    );
    let out = project.run_ok(&db, &["import", "--from", "prisma", "prisma/migrations"]);
    let text = stdout(&out);
    assert_eq!(text.matches("imported ").count(), 3, "{text}");
    adopt_then_upgrade_one(
        &project,
        &db,
        "prisma",
        "20240201000000-seed",
        "20240301000000-index",
    );
    assert_eq!(db.strings("SELECT email FROM pusers"), ["a@example.com"]);
    assert_eq!(index_count(&db, "pusers_email"), 1);
}

/// Atlas: the directory is verified against `atlas.sum` before anything is imported (an edited
/// file is refused, named), `-- atlas:txmode none` is kept, and `stamp --adopt atlas` reads
/// `atlas_schema_revisions` (revisions whose every statement was applied).
pub fn import_from_atlas_and_adopt_its_database(dialect: Dialect) {
    let db = TestDb::new(dialect, "atlas");
    let project = Project::empty();
    std::fs::remove_dir(project.migrations()).unwrap();
    let source = project.dir.path().join("atlas");
    std::fs::create_dir_all(&source).unwrap();
    let index = "-- atlas:txmode none\n\nCREATE INDEX ausers_by_name ON ausers (name);\n";
    for (name, text) in [
        (
            "20240101000000_create_users.sql",
            "CREATE TABLE ausers (id INTEGER PRIMARY KEY, name VARCHAR(50));\n",
        ),
        (
            "20240102000000_seed.sql",
            "INSERT INTO ausers (id, name) VALUES (1, 'ada');\n",
        ),
        ("20240103000000_index.sql", index),
        (
            "atlas.sum",
            "h1:NVhPpJPA1EG+yyIzaz1GhsTELDMqL98QhZqBxLsMFZM=\n\
             20240101000000_create_users.sql h1:/D8g7lUpQwg2QoLYs8J6bEMsVuCnTphQHFnvhY4AweQ=\n\
             20240102000000_seed.sql h1:YtJdPJwHxM52NfWZp+MAWBAS35JzptZ+lNnarO97Qdo=\n\
             20240103000000_index.sql h1:iF2M0KmyOC6M8XP7KdHmgXqZbXaKXxa1thErReWwOLY=\n",
        ),
    ] {
        std::fs::write(source.join(name), text).unwrap();
    }
    // An edited migration is refused before anything is written.
    std::fs::write(
        source.join("20240102000000_seed.sql"),
        "INSERT INTO ausers VALUES (2, 'eve');\n",
    )
    .unwrap();
    let out = project.run(&db, &["import", "--from", "atlas", "atlas"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("does not match it (from `20240102000000_seed.sql` on)"),
        "{}",
        stderr(&out)
    );
    assert!(!project.migrations().exists());
    std::fs::write(
        source.join("20240102000000_seed.sql"),
        "INSERT INTO ausers (id, name) VALUES (1, 'ada');\n",
    )
    .unwrap();

    db.execute("CREATE TABLE ausers (id INTEGER PRIMARY KEY, name VARCHAR(50))");
    db.execute("INSERT INTO ausers (id, name) VALUES (1, 'ada')");
    db.execute(
        "CREATE TABLE atlas_schema_revisions (version VARCHAR(255) PRIMARY KEY, description VARCHAR(255), \
         applied BIGINT NOT NULL, total BIGINT NOT NULL)",
    );
    db.execute(
        "INSERT INTO atlas_schema_revisions (version, description, applied, total) VALUES \
         ('20240101000000', 'create_users', 1, 1), ('20240102000000', 'seed', 1, 1)",
    );
    let out = project.run_ok(&db, &["import", "--from", "atlas", "atlas"]);
    let text = stdout(&out);
    assert_eq!(text.matches("imported ").count(), 3, "{text}");
    assert_eq!(text.matches("(no transaction)").count(), 1, "{text}");
    adopt_then_upgrade_one(&project, &db, "atlas", "20240102000000", "20240103000000");
    assert_eq!(db.strings("SELECT name FROM ausers"), ["ada"]);
    assert_eq!(index_count(&db, "ausers_by_name"), 1);
}

/// Per-dialect SQL: a `.mysql.down.sql` wins over the generic down on MySQL (whose
/// `DROP INDEX` needs `ON table`), and a migration marked `-- retort: dialect = postgres` runs
/// there and is a recorded no-op elsewhere: one history on every engine.
pub fn per_dialect_sql_files_and_dialect_only_migrations(dialect: Dialect) {
    let db = TestDb::new(dialect, "perdialect");
    let project = Project::empty();
    std::fs::remove_dir(project.migrations()).unwrap();
    project.run_ok(&db, &["new", "--lang", "sql", "indexed things"]);
    let up = std::fs::read_dir(project.migrations())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with(".up.sql"))
        .expect("an .up.sql file");
    let stem = up
        .file_name()
        .unwrap()
        .to_string_lossy()
        .replace(".up.sql", "");
    let id = stem[..14].to_string();
    let header = std::fs::read_to_string(&up).unwrap();
    std::fs::write(
        &up,
        format!(
            "{header}CREATE TABLE things (id INTEGER PRIMARY KEY, name VARCHAR(50));\n\
             CREATE INDEX things_by_name ON things (name);\n"
        ),
    )
    .unwrap();
    let dir = project.migrations();
    std::fs::write(
        dir.join(format!("{stem}.down.sql")),
        "DROP INDEX things_by_name;\nDROP TABLE things;\n",
    )
    .unwrap();
    std::fs::write(
        dir.join(format!("{stem}.mysql.down.sql")),
        "DROP INDEX things_by_name ON things;\nDROP TABLE things;\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("20990101000000_pg_schema.up.sql"),
        format!(
            "-- retort: parents = {id}\n-- retort: dialect = postgres\nCREATE SCHEMA only_pg_things;\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("20990101000000_pg_schema.down.sql"),
        "DROP SCHEMA only_pg_things;\n",
    )
    .unwrap();
    project.run_ok(&db, &["build", "-q"]);
    let out = project.run_ok(&db, &["upgrade"]);
    assert!(
        stdout(&out).contains("upgraded 2 migrations"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM retort_history WHERE state = 'applied'"),
        2
    );
    assert!(db.tables().contains(&"things".to_string()));
    if dialect == Dialect::Postgres {
        assert_eq!(
            db.count("SELECT COUNT(*) FROM pg_namespace WHERE nspname = 'only_pg_things'"),
            1
        );
    } else {
        assert!(
            stderr(&out).contains("written for postgres only: nothing to do on this database"),
            "{}",
            stderr(&out)
        );
    }
    project.run_ok(&db, &["downgrade", "base"]);
    assert!(!db.tables().contains(&"things".to_string()));
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 0);
}

/// Whether `db` has an index named `name`, by its engine's catalog.
fn index_count(db: &TestDb, name: &str) -> i64 {
    db.count(&match db.dialect {
        Dialect::Postgres => format!("SELECT COUNT(*) FROM pg_indexes WHERE indexname = '{name}'"),
        Dialect::Mysql => format!(
            "SELECT COUNT(DISTINCT index_name) FROM information_schema.statistics \
             WHERE table_schema = DATABASE() AND index_name = '{name}'"
        ),
        Dialect::Sqlite => format!("SELECT COUNT(*) FROM sqlite_master WHERE name = '{name}'"),
    })
}

/// After an import: builds, adopts `tool`'s history (whose newest applied revision must be
/// `newest`), and upgrades, which must run exactly the one migration `runs` names.
fn adopt_then_upgrade_one(project: &Project, db: &TestDb, tool: &str, newest: &str, runs: &str) {
    project.run_ok(db, &["build", "-q"]);
    let out = project.run_ok(db, &["stamp", "--adopt", tool]);
    assert!(
        stdout(&out).contains(&format!("the newest {newest}")),
        "{}",
        stdout(&out)
    );
    let out = project.run_ok(db, &["upgrade"]);
    let text = stdout(&out);
    assert!(
        text.contains("upgraded 1 migration") && text.contains(runs),
        "only the migration {tool} had not applied runs: {text}"
    );
}

/// An import that finds nothing says what the directory holds and which importer would take it
/// (issue 26): here dbmate files offered as Flyway's.
pub fn an_import_that_finds_nothing_says_why() {
    let db = TestDb::new(Dialect::Sqlite, "importnothing");
    let project = Project::empty();
    let dir = project.dir.path().join("from-dbmate");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("20240101000000_users.sql"),
        "-- migrate:up\nCREATE TABLE users (id INTEGER);\n-- migrate:down\nDROP TABLE users;\n",
    )
    .unwrap();
    let out = project.run(&db, &["import", "--from", "flyway", dir.to_str().unwrap()]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no flyway migrations in"), "{err}");
    assert!(err.contains("20240101000000_users.sql"), "{err}");
    let suggestion = err
        .lines()
        .find(|l| l.contains("layout"))
        .unwrap_or_default();
    assert!(suggestion.contains("dbmate"), "{err}");
    assert!(
        std::fs::read_dir(project.migrations())
            .unwrap()
            .next()
            .is_none(),
        "nothing written"
    );
}

/// A downgrade of an SQL migration without a down script for the database undoes nothing
/// (issue 26): it is said before (a warning) and after (the report, and `--json`'s
/// `undid_nothing`), never a bare "now at base". One with a down script says nothing of it.
pub fn downgrading_what_has_no_downgrade_says_so(dialect: Dialect) {
    let db = TestDb::new(dialect, "nodown");
    let project = Project::empty();
    let dir = project.migrations();
    std::fs::write(
        dir.join("20261206000200_kept.up.sql"),
        "-- retort: parents = none\nCREATE TABLE kept (a INTEGER);\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("20261206000300_undone.up.sql"),
        "-- retort: parents = 20261206000200\nCREATE TABLE undone (a INTEGER);\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("20261206000300_undone.down.sql"),
        "DROP TABLE undone;\n",
    )
    .unwrap();
    project.run_ok(&db, &["upgrade"]);
    let out = project.run_ok(&db, &["--json", "downgrade", "base"]);
    let text = stdout(&out);
    let finished = text
        .lines()
        .find(|l| l.contains("\"event\":\"finished\""))
        .unwrap_or_else(|| panic!("no finished line: {text}"));
    let doc: serde_json::Value = serde_json::from_str(finished).unwrap();
    let steps = doc["databases"][0]["steps"].as_array().unwrap().clone();
    let undid: Vec<(String, bool)> = steps
        .iter()
        .map(|s| {
            (
                s["revision"].as_str().unwrap().to_string(),
                s["undid_nothing"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        undid,
        [
            ("20261206000300".to_string(), false),
            ("20261206000200".to_string(), true)
        ]
    );
    // Said before it ran: a `warning` event.
    let warned = text.lines().any(|l| {
        l.contains("\"event\":\"warning\"")
            && l.contains("20261206000200 has no downgrade for this database")
    });
    assert!(warned, "{text}");
    // What the message says: the table is still there, the history is empty.
    assert!(db.tables().contains(&"kept".to_string()));
    assert!(!db.tables().contains(&"undone".to_string()));
    db.execute("DROP TABLE kept");
    project.run_ok(&db, &["upgrade"]);
    let out = project.run_ok(&db, &["downgrade", "base"]);
    assert!(
        stdout(&out).contains("20261206000200 has no downgrade for this database: its history row is gone, its changes are still there"),
        "{}",
        stdout(&out)
    );
}

/// PostgreSQL escape strings in SQL migrations (issue 26, item 2): `E'it\'s; here'` is one
/// string, and a character of several bytes after a backslash builds and runs (it made
/// `retort build` panic); the rows arrive exactly.
pub fn postgres_escape_strings_split_as_the_server_reads_them() {
    let db = TestDb::new(Dialect::Postgres, "escapestrings");
    let project = Project::empty();
    std::fs::write(
        project.migrations().join("20261206000400_escapes.up.sql"),
        "-- retort: parents = none\n\
         CREATE TABLE esc (n INTEGER, t TEXT);\n\
         INSERT INTO esc VALUES (1, E'it\\'s; here');\n\
         INSERT INTO esc VALUES (2, E'caf\\é ✓; -- not a comment');\n",
    )
    .unwrap();
    project.run_ok(&db, &["upgrade"]);
    assert_eq!(
        db.strings("SELECT t FROM esc ORDER BY n"),
        ["it's; here", "café ✓; -- not a comment"]
    );
}

/// Real histories carry `PRAGMA foreign_keys = OFF/ON` around table rebuilds (issue 26, item
/// 3): on SQLite the migration runs (it used to be refused) as SQLite runs it — inside the
/// transaction the pragma changes nothing — and `retort build` says so. (That the session's
/// foreign keys are put back after a migration: `each_migration_starts_from_the_configured_session`.)
pub fn sqlite_foreign_key_pragmas_run_as_sqlite_runs_them() {
    let db = TestDb::new(Dialect::Sqlite, "fkpragma");
    let project = Project::empty();
    std::fs::write(
        project.migrations().join("20261206000500_rebuild.up.sql"),
        "-- retort: parents = none\n\
         PRAGMA foreign_keys = OFF;\n\
         CREATE TABLE parent (id INTEGER PRIMARY KEY);\n\
         CREATE TABLE child (id INTEGER PRIMARY KEY, p INTEGER REFERENCES parent (id));\n\
         PRAGMA foreign_keys = ON;\n",
    )
    .unwrap();
    let out = project.run_ok(&db, &["build"]);
    assert!(
        stderr(&out).contains(
            "20261206000500_rebuild.up.sql: on SQLite its `PRAGMA foreign_keys` changes nothing"
        ),
        "{}",
        stderr(&out)
    );
    project.run_ok(&db, &["upgrade"]);
    assert!(db.tables().contains(&"child".to_string()));
}

/// An applied SQL migration edited afterwards: `status` says the edit has not run and gives
/// the commands that would run it, `downgrade` warns before running what was applied, and
/// those commands apply the edit. A migration a failed run left unfinished can have its fixed
/// source accepted (`accept-rebuild` works on an unfinished row) and then be resolved.
pub fn an_edited_sql_migration_is_named_with_what_to_do(dialect: Dialect) {
    let db = TestDb::new(dialect, "edited");
    let project = Project::empty();
    let write =
        |name: &str, text: &str| std::fs::write(project.migrations().join(name), text).unwrap();
    write(
        "20260101000000_notes.up.sql",
        "-- retort: parents = none\nCREATE TABLE notes (id INTEGER PRIMARY KEY, body VARCHAR(20));\n",
    );
    write("20260101000000_notes.down.sql", "DROP TABLE notes;\n");
    write(
        "20260101000100_seed.up.sql",
        "-- retort: parents = 20260101000000\nINSERT INTO notes (id, body) VALUES (1, 'first');\n",
    );
    write(
        "20260101000100_seed.down.sql",
        "DELETE FROM notes WHERE id = 1;\n",
    );
    project.run_ok(&db, &["upgrade"]);
    write(
        "20260101000100_seed.up.sql",
        "-- retort: parents = 20260101000000\nINSERT INTO notes (id, body) VALUES (1, 'second');\n",
    );
    let status = stdout(&project.run_ok(&db, &["status"]));
    assert!(status.contains("applied (source edited since)"), "{status}");
    assert!(
        status.contains(
            "20260101000100 is applied as it was built before migrations/20260101000100_seed.*.sql changed: \
             the edit has not run"
        ),
        "{status}"
    );
    assert!(
        status.contains("to apply the edit:  retort downgrade 20260101000000 && retort upgrade"),
        "{status}"
    );
    let down = project.run_ok(&db, &["downgrade", "20260101000000"]);
    assert!(
        stderr(&down).contains(
            "migrations/20260101000100_seed.*.sql changed since its artifact was built: a downgrade runs the artifact"
        ),
        "{}",
        stderr(&down)
    );
    assert!(db.strings("SELECT body FROM notes").is_empty());
    project.run_ok(&db, &["upgrade"]);
    assert_eq!(db.strings("SELECT body FROM notes"), ["second"]);
    let status = stdout(&project.run_ok(&db, &["status"]));
    assert!(!status.contains("edited since"), "{status}");

    // Edited again and rebuilt over the applied artifact: the refusal names the command that
    // puts back what was applied, from the database; it works, and then the way it gives
    // (downgrade below it, upgrade) applies the edit.
    write(
        "20260101000100_seed.up.sql",
        "-- retort: parents = 20260101000000\nINSERT INTO notes (id, body) VALUES (1, 'third');\n",
    );
    project.run_ok(&db, &["build"]);
    let refused = project.run(&db, &["downgrade", "20260101000000"]);
    assert_eq!(refused.status.code(), Some(1));
    let message = stderr(&refused);
    let restore = message
        .lines()
        .find_map(|l| l.trim().strip_prefix("restore:"))
        .and_then(|l| l.trim().strip_prefix("retort "))
        .unwrap_or_else(|| panic!("a restore line: {message}"));
    let args: Vec<&str> = restore.split_whitespace().collect();
    project.run_ok(&db, &args);
    assert_eq!(
        db.strings("SELECT body FROM notes"),
        ["second"],
        "nothing ran"
    );
    project.run_ok(&db, &["downgrade", "20260101000000"]);
    project.run_ok(&db, &["upgrade"]);
    assert_eq!(db.strings("SELECT body FROM notes"), ["third"]);

    // A non-transactional migration that fails after its first statement: unfinished on every
    // engine. Its source is fixed; the fix is accepted for the unfinished row, which `resolve`
    // then settles with it.
    write(
        "20260101000200_more.up.sql",
        "-- retort: parents = 20260101000100\n-- retort: transaction = false\n\
         CREATE TABLE more_notes (id INTEGER PRIMARY KEY);\nINSERT INTO missing_table VALUES (1);\n",
    );
    write("20260101000200_more.down.sql", "DROP TABLE more_notes;\n");
    let out = project.run(&db, &["upgrade"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let status = stdout(&project.run(&db, &["status"]));
    assert!(status.contains("UNFINISHED"), "{status}");
    write(
        "20260101000200_more.up.sql",
        "-- retort: parents = 20260101000100\n-- retort: transaction = false\n\
         CREATE TABLE more_notes (id INTEGER PRIMARY KEY);\n",
    );
    let status = stdout(&project.run(&db, &["status"]));
    assert!(
        status.contains("20260101000200: migrations/20260101000200_more.*.sql changed since the run that left it unfinished"),
        "{status}"
    );
    project.run_ok(&db, &["build"]);
    let accepted = project.run_ok(&db, &["accept-rebuild", "20260101000200"]);
    assert!(
        stdout(&accepted).contains("20260101000200"),
        "{}",
        stdout(&accepted)
    );
    project.run_ok(&db, &["resolve", "20260101000200", "--applied"]);
    let status = stdout(&project.run_ok(&db, &["status"]));
    assert!(status.contains("3 applied, 0 pending"), "{status}");
    // accept-rebuild of a revision never applied says so.
    write(
        "20260101000300_later.up.sql",
        "-- retort: parents = 20260101000200\nSELECT 1;\n",
    );
    project.run_ok(&db, &["build"]);
    let out = project.run(&db, &["accept-rebuild", "20260101000300"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("20260101000300 has no history row: it was never applied"),
        "{}",
        stderr(&out)
    );
}

/// What mysqldump writes — statements inside versioned comments (`/*!40101 … */`, MariaDB's
/// `/*M!100100 … */`) — runs on MySQL/MariaDB, where the server runs such a comment's content,
/// and is a comment elsewhere; one for a newer server version is a comment to this one, and
/// runs as nothing. (The SQL runtime's splitter once dropped them as comments, so a dumped
/// schema lost its views and settings without a word.)
pub fn versioned_comments_run_where_the_server_runs_them(dialect: Dialect) {
    let db = TestDb::new(dialect, "versioned");
    let project = one_sql_migration(
        "20990101000000_dumped",
        "/*!40101 SET @saved_cs_client = 'kept' */;\n\
         CREATE TABLE dumped (a INTEGER);\n\
         /*!50001 CREATE TABLE dumped_too (a INTEGER) */;\n\
         /*M!100100 INSERT INTO dumped VALUES (1) */;\n\
         /*!INSERT INTO dumped VALUES (2)*/;\n\
         /*!999999 INSERT INTO dumped VALUES (3) */;\n",
        "DROP TABLE dumped;\n/*!50001 DROP TABLE dumped_too */;\n",
    );
    project.run_ok(&db, &["upgrade"]);
    let tables = db.tables();
    assert!(tables.contains(&"dumped".to_string()), "{tables:?}");
    let mysql = dialect == Dialect::Mysql;
    assert_eq!(
        tables.contains(&"dumped_too".to_string()),
        mysql,
        "{tables:?}"
    );
    assert_eq!(
        db.count("SELECT COUNT(*) FROM dumped"),
        if mysql { 2 } else { 0 }
    );
    project.run_ok(&db, &["downgrade", "base"]);
    let tables = db.tables();
    assert!(
        !tables.iter().any(|t| t.starts_with("dumped")),
        "{tables:?}"
    );
}

/// Unquoted names may hold characters of several bytes (`café`, `numéro`), through the SQL
/// runtime's splitter and the host's checks alike. (Retort's lexer stepped through them a
/// byte at a time and sliced its text mid-character: the SQL runtime trapped on every engine,
/// and the host, which splits what every migration sends, would have panicked.)
pub fn unquoted_names_with_accents_run(dialect: Dialect) {
    let db = TestDb::new(dialect, "accents");
    let project = one_sql_migration(
        "20990101000000_cafe",
        "CREATE TABLE café (numéro INTEGER);\nINSERT INTO café (numéro) VALUES (7);\n",
        "DROP TABLE café;\n",
    );
    project.run_ok(&db, &["upgrade"]);
    assert_eq!(db.count("SELECT COUNT(*) FROM café WHERE numéro = 7"), 1);
    project.run_ok(&db, &["downgrade", "base"]);
    assert!(!db.tables().contains(&"café".to_string()));
}

/// A project whose one migration is the SQL root `stem` (`up` and `down` scripts).
fn one_sql_migration(stem: &str, up: &str, down: &str) -> Project {
    let project = Project::empty();
    let dir = project.migrations();
    std::fs::write(
        dir.join(format!("{stem}.up.sql")),
        format!("-- retort: parents =\n{up}"),
    )
    .unwrap();
    std::fs::write(dir.join(format!("{stem}.down.sql")), down).unwrap();
    project
}

/// SQLite runs in Retort's process, on the stack a migration's host calls share with it:
/// the deepest expression SQLite accepts runs, as does a view read through 900 others
/// (preparing it recurses through each); a deeper expression fails with SQLite's error, and
/// a view read through 1,200 others is refused before SQLite's preparation (its time grows
/// with the cube of the depth, beyond the deadline's reach; at ~100,000 it overflowed the
/// stack) — each naming the migration, the previous revision kept.
pub fn sqlite_deep_statements_run_or_fail_never_crash() {
    const DEPTH: usize = 990;
    const VIEWS: usize = 900;
    let sum = |n: usize| format!("{}1{}", "1 + (".repeat(n), ")".repeat(n));
    let mut up = format!(
        "CREATE TABLE deep AS SELECT {} AS s;\nCREATE VIEW v0 AS SELECT s FROM deep;\n",
        sum(DEPTH)
    );
    for i in 1..VIEWS {
        up.push_str(&format!("CREATE VIEW v{i} AS SELECT s FROM v{};\n", i - 1));
    }
    up.push_str(&format!(
        "CREATE TABLE through AS SELECT s FROM v{};\n",
        VIEWS - 1
    ));
    let db = TestDb::new(Dialect::Sqlite, "deep");
    let project = one_sql_migration("20990101000000_deep", &up, "DROP TABLE deep;\n");
    project.run_ok(&db, &["upgrade"]);
    assert_eq!(db.count("SELECT s FROM deep"), DEPTH as i64 + 1);
    assert_eq!(db.count("SELECT s FROM through"), DEPTH as i64 + 1);
    let stem = "20990102000000_deeper";
    std::fs::write(
        project.migrations().join(format!("{stem}.up.sql")),
        format!(
            "-- retort: parents = 20990101000000\n\
             INSERT INTO deep (s) VALUES (0);\nSELECT {};\n",
            sum(2 * DEPTH)
        ),
    )
    .unwrap();
    std::fs::write(project.migrations().join(format!("{stem}.down.sql")), "").unwrap();
    let out = project.run(&db, &["upgrade"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("upgrade of 20990102000000 (deeper)"), "{err}");
    assert!(
        err.contains("Expression tree is too large (maximum depth 1000)"),
        "{err}"
    );
    assert!(err.contains("still at its previous revision"), "{err}");
    assert_eq!(db.count("SELECT COUNT(*) FROM deep"), 1, "{err}");

    // Views each reading the one before, created one statement at a time (each prepares in
    // an instant), then read through all of them.
    std::fs::remove_file(project.migrations().join(format!("{stem}.up.sql"))).unwrap();
    std::fs::remove_file(project.migrations().join(format!("{stem}.down.sql"))).unwrap();
    std::fs::remove_file(project.migrations().join(format!("{stem}.wasm"))).unwrap();
    let stem = "20990103000000_deepest";
    let mut up =
        String::from("-- retort: parents = 20990101000000\nINSERT INTO deep (s) VALUES (0);\n");
    for i in VIEWS..1200 {
        up.push_str(&format!("CREATE VIEW v{i} AS SELECT s FROM v{};\n", i - 1));
    }
    up.push_str("CREATE TABLE beyond AS SELECT s FROM v1199;\n");
    std::fs::write(project.migrations().join(format!("{stem}.up.sql")), up).unwrap();
    std::fs::write(project.migrations().join(format!("{stem}.down.sql")), "").unwrap();
    let out = project.run(&db, &["upgrade"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("upgrade of 20990103000000 (deepest)"), "{err}");
    assert!(
        err.contains("the statement is too large to prepare")
            && err.contains("more than 1000 queries and views")
            && err.contains("CREATE TABLE beyond AS SELECT s FROM v1199"),
        "{err}"
    );
    assert!(err.contains("still at its previous revision"), "{err}");
    assert_eq!(db.count("SELECT COUNT(*) FROM deep"), 1, "{err}");
    assert_eq!(
        db.count("SELECT COUNT(*) FROM sqlite_master WHERE name IN ('v900', 'beyond')"),
        0,
        "{err}"
    );
}
