//! Portable schema operations (WIT 0.3.0 `schema`) on every engine, and SQLite's table
//! rebuild behind the ones SQLite cannot do in place: rows, row ids, indexes, triggers, views
//! and foreign keys survive, and a rebuild that would break a key is refused with the rows.

use crate::common::{Dialect, Project, TestDb, stderr, stdout};

/// The columns of `table` as `name type null|not-null default`, in order.
fn columns(db: &TestDb, table: &str) -> Vec<String> {
    db.strings(&match db.dialect {
        Dialect::Sqlite => format!(
            "SELECT name || ' ' || lower(type) || ' ' || CASE WHEN \"notnull\" = 1 THEN 'not-null' \
             ELSE 'null' END || ' ' || coalesce(dflt_value, '-') FROM pragma_table_info('{table}') \
             ORDER BY cid"
        ),
        Dialect::Postgres => format!(
            "SELECT column_name || ' ' || CASE WHEN data_type = 'character varying' THEN \
             'varchar(' || character_maximum_length || ')' WHEN data_type = 'numeric' THEN \
             'numeric(' || numeric_precision || ',' || numeric_scale || ')' ELSE data_type END || ' ' \
             || CASE WHEN is_nullable = 'YES' THEN 'null' ELSE 'not-null' END || ' ' || \
             coalesce(column_default, '-') FROM information_schema.columns WHERE table_name = \
             '{table}' ORDER BY ordinal_position"
        ),
        Dialect::Mysql => format!(
            "SELECT CAST(CONCAT(column_name, ' ', column_type, ' ', IF(is_nullable = 'YES', 'null', \
             'not-null'), ' ', COALESCE(column_default, '-')) AS CHAR) FROM information_schema.columns \
             WHERE table_schema = DATABASE() AND table_name = '{table}' ORDER BY ordinal_position"
        ),
    })
}

/// Whether `sql` fails (a constraint holds).
fn refused(db: &TestDb, sql: &str) -> bool {
    db.try_execute(sql).is_err()
}

/// Every operation on tables that hold rows; the downgrade undoes each exactly, which
/// `retort check`'s round trip proves on a scratch database; the rows survive both ways.
pub fn portable_operations_change_the_schema_and_keep_the_rows(dialect: Dialect) {
    let db = TestDb::new(dialect, "portable");
    let project = Project::with_fixtures(&["20261205000000", "20261205000100"]);
    // The round trip passes; the linter may have words for the statements written (a type
    // change rewrites a table, an index built in a transaction blocks writes): exit bit 64.
    let out = project.run(&db, &["--json", "check"]);
    assert!(
        matches!(out.status.code(), Some(0 | 64)),
        "{}\n{}",
        stdout(&out),
        stderr(&out)
    );
    let doc: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(doc["databases"][0]["round_tripped"], 2, "{doc}");

    project.run_ok(&db, &["upgrade"]);
    assert_eq!(
        db.tables()
            .into_iter()
            .filter(|t| !t.starts_with("retort_") && !t.starts_with("sqlite_"))
            .collect::<Vec<_>>(),
        ["purchases", "users"]
    );
    let cols = columns(&db, "purchases");
    let names: Vec<&str> = cols.iter().map(|c| c.split(' ').next().unwrap()).collect();
    assert_eq!(
        names,
        ["id", "user_id", "total", "status", "remark", "shipped"],
        "{cols:?}"
    );
    let status = &cols[3];
    assert!(
        status.contains("not-null") && status.contains("new"),
        "{status}"
    );
    let remark = &cols[4];
    assert!(remark.contains("varchar(200)"), "{remark}");
    let rows = db.strings(match dialect {
        Dialect::Mysql => {
            "SELECT CAST(CONCAT(id, ':', user_id, ':', total, ':', status, ':', COALESCE(remark, \
             '-'), ':', shipped) AS CHAR) FROM purchases ORDER BY id"
        }
        _ => {
            "SELECT CAST(id AS TEXT) || ':' || user_id || ':' || total || ':' || status || ':' || \
             coalesce(remark, '-') || ':' || CAST(shipped AS INTEGER) FROM purchases ORDER BY id"
        }
    });
    let total = |t: &str| match dialect {
        Dialect::Sqlite => t.trim_end_matches('0').trim_end_matches('.').to_string(),
        _ => t.to_string(),
    };
    assert_eq!(
        rows,
        [
            format!("1:1:{}:paid:first:0", total("5.25")),
            format!("2:2:{}:new:-:0", total("7.50"))
        ]
    );
    // The constraints added hold, the one dropped does not; the identity still numbers rows.
    let fk_on = if dialect == Dialect::Sqlite {
        "PRAGMA foreign_keys = ON; "
    } else {
        ""
    };
    assert!(refused(
        &db,
        "INSERT INTO purchases (user_id, total, status) VALUES (1, 1, 'paid')"
    ));
    assert!(refused(
        &db,
        "INSERT INTO purchases (user_id, total, status) VALUES (1, 1, '')"
    ));
    assert!(refused(
        &db,
        &format!("{fk_on}INSERT INTO purchases (user_id, total, status) VALUES (9, 1, 'x')")
    ));
    db.execute("INSERT INTO purchases (user_id, total, status) VALUES (1, -1, 'refund')");
    // (PostgreSQL and MySQL spend identity values on the refused inserts.)
    assert_eq!(
        db.count("SELECT COUNT(*) FROM purchases WHERE status = 'refund' AND id > 2"),
        1
    );

    // (The check the downgrade restores would refuse the refund.)
    db.execute("DELETE FROM purchases WHERE status = 'refund'");
    project.run_ok(&db, &["downgrade", "-1"]);
    let cols = columns(&db, "orders");
    let names: Vec<&str> = cols.iter().map(|c| c.split(' ').next().unwrap()).collect();
    assert_eq!(
        names,
        ["id", "user_id", "total", "status", "note"],
        "{cols:?}"
    );
    assert_eq!(cols[3].split(' ').nth(2), Some("null"), "{}", cols[3]);
    assert!(refused(
        &db,
        "INSERT INTO orders (user_id, total) VALUES (1, -1)"
    ));
    assert_eq!(
        db.count("SELECT COUNT(*) FROM orders WHERE note = 'first'"),
        1
    );
    project.run_ok(&db, &["downgrade", "base"]);
    assert!(
        db.tables()
            .iter()
            .all(|t| t.starts_with("retort_") || t.starts_with("sqlite_")),
        "{:?}",
        db.tables()
    );
}

/// What the rebuild must keep: `authors` is referenced by `books` (cascading deletes), has an
/// index, a trigger, two views (one over the other) and row ids with a gap.
const AUTHORS: &str = "
CREATE TABLE authors (code VARCHAR(10) PRIMARY KEY, name VARCHAR(60), born INTEGER CHECK (born > 1000));
CREATE TABLE books (id INTEGER PRIMARY KEY, author VARCHAR(10) NOT NULL REFERENCES authors (code) ON DELETE CASCADE, editor VARCHAR(10), title TEXT);
CREATE TABLE renames (old_name TEXT, new_name TEXT);
CREATE INDEX authors_by_name ON authors (name);
INSERT INTO authors VALUES ('le', 'Le Guin', 1929), ('gone', 'Gone', 1900), ('pt', 'Pratchett', 1948);
DELETE FROM authors WHERE code = 'gone';
INSERT INTO books (id, author, editor, title) VALUES (1, 'le', 'pt', 'The Dispossessed'), (2, 'pt', 'le', 'Mort'), (3, 'pt', 'nobody', 'Guards! Guards!');
";

/// What only SQLite keeps through a type change: views reading the column (PostgreSQL
/// refuses to change the type of a column a view reads), and this trigger's syntax.
const SQLITE_TRIGGER: &str = "CREATE VIEW author_names AS SELECT code, name FROM authors; \
    CREATE VIEW author_codes AS SELECT code FROM author_names; CREATE TRIGGER authors_renamed AFTER UPDATE OF name ON authors \
    BEGIN INSERT INTO renames VALUES (old.name, new.name); END;";

/// The rebuild behind a column change keeps rows, row ids, the index, the trigger, the views
/// and the referencing table's rows; adding a foreign key that rows violate is refused with
/// the rows named, and changes nothing.
pub fn a_rebuild_keeps_rows_indexes_triggers_views_and_keys(dialect: Dialect) {
    let db = TestDb::new(dialect, "rebuild");
    db.execute(AUTHORS);
    if dialect == Dialect::Sqlite {
        db.execute(SQLITE_TRIGGER);
    }
    let rowids =
        |db: &TestDb| db.strings("SELECT CAST(rowid AS TEXT) || code FROM authors ORDER BY rowid");
    let before_ids = (dialect == Dialect::Sqlite).then(|| rowids(&db));
    // Outside a transaction: `authors` is referenced, and SQLite can switch foreign keys off
    // only there.
    let project = Project::with_fixtures(&["20261205000210"]);
    project.run_ok(&db, &["upgrade"]);

    let name = columns(&db, "authors")[1].clone();
    assert!(
        name.contains("not-null") && name.contains("varchar(100)"),
        "{name}"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM books"), 3);
    assert!(
        refused(&db, "INSERT INTO authors VALUES ('x', 'X', 5)"),
        "the check survives"
    );
    if dialect == Dialect::Sqlite {
        assert_eq!(
            db.strings("SELECT code FROM author_codes ORDER BY code"),
            ["le", "pt"]
        );
        assert_eq!(Some(rowids(&db)), before_ids, "row ids survive");
        assert_eq!(
            db.strings("SELECT rowid FROM authors WHERE code = 'pt'"),
            ["3"]
        );
        let objects = db.strings(
            "SELECT type || ' ' || name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND \
             name NOT LIKE 'retort_%' ORDER BY type, name",
        );
        assert_eq!(
            objects,
            [
                "index authors_by_name",
                "table authors",
                "table books",
                "table renames",
                "trigger authors_renamed",
                "view author_codes",
                "view author_names"
            ]
        );
        db.execute("UPDATE authors SET name = 'Ursula' WHERE code = 'le'");
        assert_eq!(
            db.strings("SELECT new_name FROM renames"),
            ["Ursula"],
            "the trigger fires"
        );
        assert_eq!(db.count("SELECT COUNT(*) FROM pragma_foreign_key_check"), 0);
        // The cascade still points at the rebuilt table.
        db.execute("PRAGMA foreign_keys = ON; DELETE FROM authors WHERE code = 'le'");
        assert_eq!(db.count("SELECT COUNT(*) FROM books"), 2);
        db.execute("INSERT INTO authors VALUES ('le', 'Le Guin', 1929); INSERT INTO books VALUES (1, 'le', 'pt', 'The Dispossessed')");
    }

    // A key the rows violate: refused, naming the row, and nothing changes.
    let project = Project::with_fixtures(&["20261205000210", "20261205000300"]);
    let before = db.strings(&format!(
        "SELECT {} FROM books ORDER BY id",
        if dialect == Dialect::Mysql {
            "CAST(CONCAT(id, editor) AS CHAR)"
        } else {
            "CAST(id AS TEXT) || editor"
        }
    ));
    let out = project.run(&db, &["upgrade"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(err.contains("20261205000300"), "{err}");
    match dialect {
        Dialect::Sqlite => {
            assert!(err.contains("add-constraint books.books_editor"), "{err}");
            assert!(
                err.contains("row 3 of `books` references a missing row of `authors`"),
                "{err}"
            );
            assert!(err.contains("nothing was changed"), "{err}");
            assert!(
                !db.strings("SELECT sql FROM sqlite_master WHERE name = 'books'")[0]
                    .contains("books_editor")
            );
            assert_eq!(
                db.count("SELECT COUNT(*) FROM sqlite_master WHERE name LIKE '%retort_rebuild%'"),
                0
            );
        }
        _ => assert!(err.to_lowercase().contains("foreign key"), "{err}"),
    }
    let after = db.strings(&format!(
        "SELECT {} FROM books ORDER BY id",
        if dialect == Dialect::Mysql {
            "CAST(CONCAT(id, editor) AS CHAR)"
        } else {
            "CAST(id AS TEXT) || editor"
        }
    ));
    assert_eq!(before, after);
    let out = project.run(&db, &["current"]);
    assert!(stdout(&out).contains("20261205000210"), "{}", stdout(&out));

    if dialect == Dialect::Mysql {
        // MySQL's DDL commits as it goes: the operator says the failed step left
        // nothing.
        // (`--force`: the tables came from outside Retort, so a rehearsal cannot check it.)
        project.run_ok(
            &db,
            &["resolve", "20261205000300", "--rolled-back", "--force"],
        );
    }

    // Fixed data: the key is added, and a violating insert is refused from then on.
    db.execute("UPDATE books SET editor = 'le' WHERE id = 3");
    project.run_ok(&db, &["upgrade"]);
    let fk_on = if dialect == Dialect::Sqlite {
        "PRAGMA foreign_keys = ON; "
    } else {
        ""
    };
    assert!(refused(
        &db,
        &format!("{fk_on}UPDATE books SET editor = 'nobody' WHERE id = 3")
    ));
    project.run_ok(&db, &["downgrade", "base"]);
    assert_eq!(db.count("SELECT COUNT(*) FROM books"), 3);
    assert!(!refused(
        &db,
        "UPDATE books SET editor = 'nobody' WHERE id = 3"
    ));
}

/// Retort's SQLite connections enforce foreign keys, and SQLite cannot stop that inside a
/// transaction: there a rebuild of a referenced table would cascade its `DROP TABLE` into the
/// referencing rows. Refused, with the way out, and nothing is lost.
pub fn a_rebuild_never_cascades_into_referencing_rows() {
    let db = TestDb::new(Dialect::Sqlite, "cascade");
    db.execute(AUTHORS);
    let project = Project::with_fixtures(&["20261205000200"]);
    let out = project.run(&db, &["upgrade"]);
    assert_eq!(out.status.code(), Some(1), "{}", stdout(&out));
    let err = stderr(&out);
    assert!(
        err.contains("would cascade") && err.contains("books"),
        "{err}"
    );
    assert!(err.contains("transactional: false"), "{err}");
    assert_eq!(db.count("SELECT COUNT(*) FROM books"), 3);
    assert_eq!(db.count("SELECT COUNT(*) FROM authors"), 2);
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 0);
}

/// A portable operation is the migration's SQL: one aimed at Retort's bookkeeping (dropping,
/// renaming or altering `retort_history`, a constraint that makes SQLite rebuild it, an index
/// or a column on `retort_artifacts`) is refused like the statement it writes, and the history
/// stays exactly as Retort wrote it.
pub fn portable_operations_cannot_touch_the_bookkeeping(dialect: Dialect) {
    use crate::containment::{HOSTILE, assert_not_applied, hostile_state, script};
    for attack in [
        "drop:retort_history",
        "rename:retort_history",
        "alter:retort_history.description",
        "check:retort_history",
        "index:retort_artifacts.digest",
        "column:retort_artifacts",
    ] {
        let db = TestDb::new(dialect, "bookop");
        script(
            &db,
            &[
                ("schema", attack),
                ("sql", "CREATE TABLE after_attack (a INTEGER)"),
            ],
        );
        let project = Project::with_fixtures(&["20260501000000", HOSTILE]);
        let out = project.run(&db, &["upgrade", "heads"]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{attack}: {err}");
        assert!(
            err.contains("bookkeeping") || err.contains("Retort alone"),
            "{attack}: {err}"
        );
        assert_not_applied(&db, &err);
        let root =
            db.strings("SELECT description FROM retort_history WHERE revision = '20260501000000'");
        assert_eq!(root.len(), 1, "{attack}: {err}");
        assert!(
            db.count("SELECT COUNT(*) FROM retort_artifacts") >= 1,
            "{attack}: {err}"
        );
        assert!(
            !db.tables().contains(&"gone".to_string()),
            "{attack}: {err}"
        );
        if dialect == Dialect::Sqlite {
            let sql = db.strings("SELECT sql FROM sqlite_master WHERE name = 'retort_history'");
            assert!(!sql[0].contains("forged"), "{attack}: {sql:?}");
        }
        let _ = hostile_state(&db);
    }
}
