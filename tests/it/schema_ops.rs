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
    // The type change the migration acknowledged (`tx.allowing(&["type-change"])`) is not a
    // finding; on PostgreSQL and MySQL the others are.
    assert!(
        !doc.to_string().contains("alter-column orders.note"),
        "{doc}"
    );

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

/// The originals a migration replaces: a view, a function, a procedure and a trigger (what the
/// engine has).
fn originals(dialect: Dialect) -> &'static str {
    match dialect {
        Dialect::Sqlite => {
            "CREATE TABLE items (id INTEGER PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0, note TEXT);
             CREATE VIEW report AS SELECT 1 AS version, count(*) AS items FROM items;
             CREATE TRIGGER stamp AFTER INSERT ON items BEGIN UPDATE items SET note = 'v1' WHERE id = new.id; END;"
        }
        Dialect::Postgres => {
            "CREATE TABLE items (id INTEGER PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0, note TEXT);
             CREATE VIEW report AS SELECT 1 AS version, count(*) AS items FROM items;
             CREATE FUNCTION price(x integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT x + 1 $$;
             CREATE PROCEDURE bump() LANGUAGE sql AS $$ UPDATE items SET n = n + 1 $$;
             CREATE FUNCTION stamp_v1() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := 'v1'; RETURN NEW; END $$;
             CREATE FUNCTION stamp_v2() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := 'v2'; RETURN NEW; END $$;
             CREATE TRIGGER stamp BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION stamp_v1();"
        }
        Dialect::Mysql => {
            "CREATE TABLE items (id INTEGER PRIMARY KEY, n INTEGER NOT NULL DEFAULT 0, note TEXT);
             CREATE VIEW report AS SELECT 1 AS version, count(*) AS items FROM items;
             CREATE FUNCTION price(x INT) RETURNS INT DETERMINISTIC RETURN x + 1;
             CREATE PROCEDURE bump() UPDATE items SET n = n + 1;
             CREATE TRIGGER stamp BEFORE INSERT ON items FOR EACH ROW SET NEW.note = 'v1';"
        }
    }
}

/// Every definition the test compares, as the catalog has it.
fn definitions(db: &TestDb) -> Vec<String> {
    let sql = match db.dialect {
        Dialect::Sqlite => {
            "SELECT type || ' ' || name || ': ' || sql FROM sqlite_master WHERE type IN ('view', \
             'trigger') ORDER BY name"
        }
        Dialect::Postgres => {
            "SELECT 'view: ' || pg_get_viewdef('report'::regclass, true) UNION ALL SELECT \
             'routine: ' || pg_get_functiondef(p.oid) FROM pg_proc p WHERE p.proname IN ('price', \
             'bump') AND p.pronamespace = current_schema()::regnamespace UNION ALL SELECT \
             'trigger: ' || pg_get_triggerdef(t.oid) FROM pg_trigger t WHERE t.tgname = 'stamp' \
             ORDER BY 1"
        }
        Dialect::Mysql => {
            "SELECT CAST(d AS CHAR) FROM (SELECT CONCAT('view: ', VIEW_DEFINITION) AS d FROM \
             information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() UNION ALL SELECT \
             CONCAT('routine: ', ROUTINE_TYPE, ' ', ROUTINE_NAME, ' ', DTD_IDENTIFIER, ' ', \
             ROUTINE_DEFINITION, ' ', IS_DETERMINISTIC, ' ', SECURITY_TYPE) FROM \
             information_schema.ROUTINES WHERE ROUTINE_SCHEMA = DATABASE() UNION ALL SELECT \
             CONCAT('parameter: ', SPECIFIC_NAME, ' ', COALESCE(PARAMETER_NAME, '-'), ' ', \
             DTD_IDENTIFIER) FROM information_schema.PARAMETERS WHERE SPECIFIC_SCHEMA = \
             DATABASE() UNION ALL SELECT CONCAT('trigger: ', TRIGGER_NAME, ' ', ACTION_TIMING, ' ', \
             EVENT_MANIPULATION, ' ', ACTION_STATEMENT) FROM information_schema.TRIGGERS WHERE \
             TRIGGER_SCHEMA = DATABASE()) x ORDER BY 1"
        }
    };
    db.strings(sql)
}

/// What the objects do: the view's version, the note the trigger writes, and (where the
/// engine has them) the function's result and the procedure's step.
fn behaviour(db: &TestDb, id: i64) -> Vec<String> {
    db.execute(&format!("INSERT INTO items (id) VALUES ({id})"));
    let mut seen = vec![
        db.strings("SELECT CAST(version AS CHAR(2)) FROM report")[0].clone(),
        db.strings(&format!("SELECT note FROM items WHERE id = {id}"))[0].clone(),
    ];
    if db.dialect != Dialect::Sqlite {
        seen.push(db.strings("SELECT CAST(price(3) AS CHAR(4))")[0].clone());
        db.execute(&format!(
            "UPDATE items SET n = 0 WHERE id = {id}; CALL bump()"
        ));
        seen.push(
            db.strings(&format!(
                "SELECT CAST(n AS CHAR(4)) FROM items WHERE id = {id}"
            ))[0]
                .clone(),
        );
    }
    // (PostgreSQL pads a CHAR(n).)
    seen.iter().map(|s| s.trim().to_string()).collect()
}

/// What [`behaviour`] sees of the [`originals`]: view version 1, trigger note `v1`, and
/// where the engine has them `price(3) = 4` and one `bump()` step.
fn original_behaviour(dialect: Dialect) -> Vec<&'static str> {
    match dialect {
        Dialect::Sqlite => vec!["1", "v1"],
        _ => vec!["1", "v1", "4", "1"],
    }
}

/// A migration that replaces a view, function, procedure or trigger keeps the old definition
/// in its history record; its downgrade restores each exactly — from the stored artifact,
/// with the migration's source gone.
pub fn replaced_definitions_are_restored_exactly_without_the_source(dialect: Dialect) {
    let db = TestDb::new(dialect, "definitions");
    db.execute(originals(dialect));
    let before = definitions(&db);
    let v1 = original_behaviour(dialect);
    assert_eq!(behaviour(&db, 1), v1);

    let project = Project::with_fixtures(&["20261205000500"]);
    project.run_ok(&db, &["upgrade"]);
    let v2 = match dialect {
        Dialect::Sqlite => vec!["2", "v2"],
        _ => vec!["2", "v2", "6", "2"],
    };
    assert_eq!(behaviour(&db, 2), v2);
    assert_ne!(definitions(&db), before);
    let kept = db.strings("SELECT kept FROM retort_history WHERE revision = '20261205000500'");
    assert!(
        kept[0].contains("\"report\"") && kept[0].contains("\"stamp\""),
        "{kept:?}"
    );

    // The source is gone: the downgrade runs from the stored artifact and what it kept.
    for entry in std::fs::read_dir(project.migrations()).unwrap().flatten() {
        std::fs::remove_file(entry.path()).unwrap();
    }
    project.run_ok(&db, &["downgrade", "base"]);
    assert_eq!(definitions(&db), before);
    assert_eq!(behaviour(&db, 3), v1);
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 0);

    // A history table an earlier Retort made has no `kept`: read-only commands leave it so,
    // the next run that writes adds it.
    db.execute("ALTER TABLE retort_history DROP COLUMN kept");
    let has_kept = |db: &TestDb| {
        db.count(match db.dialect {
            Dialect::Sqlite => {
                "SELECT COUNT(*) FROM pragma_table_info('retort_history') WHERE name = 'kept'"
            }
            Dialect::Postgres => {
                "SELECT COUNT(*) FROM information_schema.columns WHERE table_name = \
                 'retort_history' AND column_name = 'kept'"
            }
            Dialect::Mysql => {
                "SELECT COUNT(*) FROM information_schema.columns WHERE table_schema = DATABASE() \
                 AND table_name = 'retort_history' AND column_name = 'kept'"
            }
        })
    };
    let project = Project::with_fixtures(&["20261205000500"]);
    project.run_ok(&db, &["status"]);
    assert_eq!(has_kept(&db), 0);
    project.run_ok(&db, &["upgrade"]);
    assert_eq!(has_kept(&db), 1);
    assert_eq!(behaviour(&db, 4), v2);
}

/// Python and JavaScript migrations reach the same operations through their helpers: a table
/// with an identity, a decimal with a default and a check; a column made `NOT NULL` with a
/// default (a rebuild on SQLite); a unique index; a view replaced and restored exactly.
pub fn python_and_javascript_use_portable_operations(dialect: Dialect) {
    let db = TestDb::new(dialect, "polyschema");
    db.execute(
        "CREATE VIEW py_report AS SELECT 1 AS version; CREATE VIEW js_report AS SELECT 1 AS version",
    );
    let views = |db: &TestDb| {
        db.strings(match db.dialect {
            Dialect::Sqlite => "SELECT sql FROM sqlite_master WHERE type = 'view' ORDER BY name",
            Dialect::Postgres => {
                "SELECT viewname || ': ' || definition FROM pg_views WHERE schemaname = \
                 current_schema() ORDER BY viewname"
            }
            Dialect::Mysql => {
                "SELECT CAST(CONCAT(TABLE_NAME, ': ', VIEW_DEFINITION) AS CHAR) FROM \
                 information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() ORDER BY TABLE_NAME"
            }
        })
    };
    let before = views(&db);
    let project = Project::with_polyglot(&["20261205000600", "20261205000700"]);
    project.run_ok(&db, &["upgrade"]);
    for (lang, table) in [("py", "py_tags"), ("js", "js_tags")] {
        let cols = columns(&db, table);
        let label = &cols[1];
        assert!(
            label.contains("not-null") && label.contains("none"),
            "{lang}: {cols:?}"
        );
        assert!(cols[2].contains("not-null"), "{lang}: {cols:?}");
        assert_eq!(
            db.strings(&format!("SELECT label FROM {table} ORDER BY id")),
            ["a", "none"],
            "{lang}"
        );
        assert!(
            refused(
                &db,
                &format!("INSERT INTO {table} (label, weight) VALUES ('b', 0)")
            ),
            "{lang}: the check holds"
        );
        assert!(
            refused(&db, &format!("INSERT INTO {table} (label) VALUES ('a')")),
            "{lang}: the unique index holds"
        );
        assert_eq!(
            db.strings(&format!(
                "SELECT CAST(version AS CHAR(2)) FROM {lang}_report"
            ))[0]
                .trim(),
            "2"
        );
    }
    project.run_ok(&db, &["downgrade", "base"]);
    assert_eq!(views(&db), before);
    assert!(!db.tables().contains(&"py_tags".to_string()));
    assert!(!db.tables().contains(&"js_tags".to_string()));
}

/// A SQL migration's `keep` header: its upgrade keeps the definitions before its statements
/// replace the objects, its downgrade (here: no down file at all) restores them — after the
/// migration's source files are deleted.
pub fn sql_migrations_keep_and_restore_definitions(dialect: Dialect) {
    let db = TestDb::new(dialect, "sqlkeep");
    db.execute(originals(dialect));
    let before = definitions(&db);
    let v1 = original_behaviour(dialect);
    let (keep, up) = match dialect {
        Dialect::Sqlite => (
            "view:report, trigger:stamp",
            "DROP VIEW report;\nCREATE VIEW report AS SELECT 2 AS version, count(*) AS items FROM items;\n\
             DROP TRIGGER stamp;\nCREATE TRIGGER stamp AFTER INSERT ON items BEGIN UPDATE items SET note = 'v2' WHERE id = new.id; END;\n",
        ),
        Dialect::Postgres => (
            "view:report, function:price, procedure:bump, trigger:stamp",
            "CREATE OR REPLACE VIEW report AS SELECT 2 AS version, count(*) AS items FROM items;\n\
             CREATE OR REPLACE FUNCTION price(x integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT x * 2 $$;\n\
             CREATE OR REPLACE PROCEDURE bump() LANGUAGE sql AS $$ UPDATE items SET n = n + 2 $$;\n\
             CREATE OR REPLACE TRIGGER stamp BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION stamp_v2();\n",
        ),
        Dialect::Mysql => (
            "view:report, function:price, procedure:bump, trigger:stamp",
            "CREATE OR REPLACE VIEW report AS SELECT 2 AS version, count(*) AS items FROM items;\n\
             DROP FUNCTION price;\nCREATE FUNCTION price(x INT) RETURNS INT DETERMINISTIC RETURN x * 2;\n\
             DROP PROCEDURE bump;\nCREATE PROCEDURE bump() UPDATE items SET n = n + 2;\n\
             DROP TRIGGER stamp;\nCREATE TRIGGER stamp BEFORE INSERT ON items FOR EACH ROW SET NEW.note = 'v2';\n",
        ),
    };
    let project = Project::empty();
    let stem = project.migrations().join("20261205000800_replace_report");
    std::fs::write(
        stem.with_extension("up.sql"),
        format!("-- retort: parents = none\n-- retort: keep = {keep}\n{up}"),
    )
    .unwrap();
    project.run_ok(&db, &["upgrade"]);
    assert_eq!(behaviour(&db, 2)[0], "2");
    assert_ne!(definitions(&db), before);

    // The script and its artifact are gone: the stored artifact and the kept text remain.
    for entry in std::fs::read_dir(project.migrations()).unwrap().flatten() {
        std::fs::remove_file(entry.path()).unwrap();
    }
    project.run_ok(&db, &["downgrade", "base"]);
    assert_eq!(definitions(&db), before);
    assert_eq!(behaviour(&db, 3), v1);

    // A kind the runtime does not know is refused when the migration is built.
    std::fs::write(
        stem.with_extension("up.sql"),
        "-- retort: parents = none\n-- retort: keep = table:items\nSELECT 1;\n",
    )
    .unwrap();
    let out = project.run(&db, &["upgrade"]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("keep lists `KIND:NAME` items")
            && stderr(&out).contains("table:items"),
        "{}",
        stderr(&out)
    );
}

/// SQLite rebuilds of tables that are hard to copy: a name with quotes and a column with a
/// comma in theirs, a check whose text holds a parenthesis, a comment inside the definition,
/// generated columns (virtual and stored: not copied, recomputed), an `AUTOINCREMENT` counter
/// ahead of the highest row id, and a `WITHOUT ROWID` table.
pub fn awkward_sqlite_tables_rebuild_intact() {
    use crate::containment::{HOSTILE, script};
    let db = TestDb::new(Dialect::Sqlite, "awkward");
    db.execute(
        "CREATE TABLE \"odd \"\"name\"\"\" (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            \"a,b\" TEXT CHECK (\"a,b\" <> ')'), -- a comment, with a comma
            total REAL NOT NULL,
            doubled REAL GENERATED ALWAYS AS (total * 2) VIRTUAL,
            stored REAL AS (total + 1) STORED
         );
         INSERT INTO \"odd \"\"name\"\"\" (\"a,b\", total) VALUES ('x', 1), ('y', 2), ('z', 3);
         DELETE FROM \"odd \"\"name\"\"\" WHERE id = 3;
         CREATE TABLE kv (k TEXT PRIMARY KEY, v TEXT) WITHOUT ROWID;
         INSERT INTO kv VALUES ('a', '1'), ('b', '2');",
    );
    script(
        &db,
        &[
            ("schema", "alter:odd \"name\".total"),
            ("schema", "check:kv"),
        ],
    );
    let project = Project::with_fixtures(&[HOSTILE]);
    project.run_ok(&db, &["upgrade"]);
    let odd = "\"odd \"\"name\"\"\"";
    assert_eq!(
        db.strings(&format!(
            "SELECT id || ':' || \"a,b\" || ':' || total || ':' || doubled || ':' || stored FROM \
             {odd} ORDER BY id"
        )),
        ["1:x:1.0:2.0:2.0", "2:y:2.0:4.0:3.0"]
    );
    let sql = db.strings("SELECT sql FROM sqlite_master WHERE name = 'odd \"name\"'");
    assert!(
        !sql[0].contains("NOT NULL") && sql[0].contains("GENERATED ALWAYS AS (total * 2) VIRTUAL"),
        "{sql:?}"
    );
    assert!(
        db.try_execute(&format!(
            "INSERT INTO {odd} (\"a,b\", total) VALUES (')', 1)"
        ))
        .is_err()
    );
    // The counter stays ahead: the next row does not reuse the deleted id 3.
    db.execute(&format!(
        "INSERT INTO {odd} (\"a,b\", total) VALUES ('w', NULL)"
    ));
    assert_eq!(db.count(&format!("SELECT MAX(id) FROM {odd}")), 4);
    let kv = db.strings("SELECT sql FROM sqlite_master WHERE name = 'kv'");
    assert!(
        kv[0].ends_with("WITHOUT ROWID") && kv[0].contains("forged"),
        "{kv:?}"
    );
    assert_eq!(db.strings("SELECT k || v FROM kv ORDER BY k"), ["a1", "b2"]);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM sqlite_master WHERE name LIKE '%retort_rebuild%'"),
        0
    );
}

/// Kept definitions are written into the history row: a migration that keeps more than the
/// limit (4 MiB) traps and is rolled back, whatever it kept it with.
pub fn keeping_too_much_is_a_trap() {
    use crate::containment::{HOSTILE, assert_not_applied, script};
    let db = TestDb::new(Dialect::Sqlite, "keepcap");
    let big = "x".repeat(3 << 20);
    db.execute(&format!(
        "CREATE VIEW big1 AS SELECT '{big}' AS x; CREATE VIEW big2 AS SELECT '{big}' AS x;"
    ));
    script(
        &db,
        &[
            ("schema", "keep:big1"),
            ("schema", "keep:big2"),
            ("sql", "CREATE TABLE after (a INTEGER)"),
        ],
    );
    let project = Project::with_fixtures(&[HOSTILE]);
    let out = project.run(&db, &["upgrade"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("kept more than 4 MiB of definitions"), "{err}");
    assert!(err.contains("keep-definition view big2"), "{err}");
    assert_not_applied(&db, &err);
    assert!(!db.tables().contains(&"after".to_string()));
}

/// What a downgrade restores is read back from `retort_history.kept`, which signatures do not
/// cover: an entry edited to run something else (another statement, a second statement after
/// the definition, another object) is refused before it runs, naming the row; the victim
/// table, the replaced definitions and the history stay as they were. On MariaDB a kept
/// procedure that the host's splitter reads as one statement but the server would read as
/// two (`… AS begin; DROP TABLE victim; END`) is sent as a prepared statement, which the
/// server refuses to hold two of.
pub fn forged_kept_definitions_are_refused(dialect: Dialect) {
    let db = TestDb::new(dialect, "forgedkept");
    db.execute(originals(dialect));
    db.execute("CREATE TABLE victim (a INTEGER)");
    let project = Project::with_fixtures(&["20261205000500"]);
    project.run_ok(&db, &["upgrade"]);
    let replaced = definitions(&db);
    let genuine = db.strings("SELECT kept FROM retort_history WHERE revision = '20261205000500'");
    let genuine: serde_json::Value = serde_json::from_str(&genuine[0]).unwrap();
    let quote = |s: &str| match dialect {
        Dialect::Mysql => format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''")),
        _ => format!("'{}'", s.replace('\'', "''")),
    };
    let forge = |kind: &str, name: &str, statements: &[&str]| {
        let mut kept = genuine.clone();
        for entry in kept.as_array_mut().unwrap() {
            if entry["kind"] == kind && entry["name"] == name {
                entry["statements"] = serde_json::json!(statements);
            }
        }
        db.execute(&format!(
            "UPDATE retort_history SET kept = {} WHERE revision = '20261205000500'",
            quote(&kept.to_string())
        ));
    };
    let forgeries: [&[&str]; 4] = [
        &["DROP TABLE victim"],
        &["CREATE VIEW report AS SELECT 1 AS version, 0 AS items; DROP TABLE victim"],
        &["CREATE VIEW other AS SELECT 1 AS version"],
        &["DROP VIEW IF EXISTS report", "DROP TABLE victim"],
    ];
    for statements in forgeries {
        forge("view", "report", statements);
        let out = project.run(&db, &["downgrade", "base"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("retort_history.kept") && err.contains("view `report` is refused"),
            "{err}"
        );
        assert!(db.tables().contains(&"victim".to_string()), "{err}");
        assert_eq!(definitions(&db), replaced, "{err}");
        // (On MariaDB too: nothing that commits was sent before the refusal, so the row's
        // pending state is put back and the message may say it rolled back.)
        let state =
            db.strings("SELECT state FROM retort_history WHERE revision = '20261205000500'");
        assert_eq!(state, ["applied"], "{err}");
        assert!(err.contains("rolled back"), "{err}");
    }
    if dialect == Dialect::Mysql {
        let mut kept = genuine.clone();
        for entry in kept.as_array_mut().unwrap() {
            if entry["name"] == "bump" {
                entry["statements"] = serde_json::json!([
                    "DROP PROCEDURE IF EXISTS `bump`",
                    "CREATE PROCEDURE `bump`() SELECT 1 AS begin; DROP TABLE victim; END"
                ]);
            }
        }
        db.execute(&format!(
            "UPDATE retort_history SET kept = {} WHERE revision = '20261205000500'",
            quote(&kept.to_string())
        ));
        let out = project.run(&db, &["downgrade", "base"]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(err.contains("syntax"), "{err}");
        assert!(db.tables().contains(&"victim".to_string()), "{err}");
    }
}
