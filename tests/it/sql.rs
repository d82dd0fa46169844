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
    let out = project.retort(&db).arg("upgrade").output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
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
    let out = project
        .retort(&db)
        .args(["downgrade", "base"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
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
        Dialect::Postgres => "\"SET session_replication_role = replica\"",
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
            let out = project
                .retort(&db)
                .args(["resolve", "20261101030000", "--downgrade"])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
            let out = project
                .retort(&db)
                .args(["downgrade", "base"])
                .output()
                .unwrap();
            assert!(out.status.success(), "{}", stderr(&out));
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
