//! What a migration's SQL cannot do to the host or to its neighbours (issue 13): each test a
//! hostile migration, checked against the database itself.

use crate::common::{Dialect, Project, TestDb, stderr, stdout};

/// A migration turns `standard_conforming_strings` off (and `DateStyle` to `SQL, DMY`) and
/// then copies rows with `execute-batch`: the batch's literals are still read exactly, so a row
/// value cannot end its literal and run as SQL, and every byte, backslash and date arrives as
/// it was.
pub fn hostile_session_settings_do_not_change_batched_values(dialect: Dialect) {
    let db = TestDb::new(dialect, "hostilesettings");
    let project = Project::with_fixtures(&["20261201000000"]);
    project.run_ok(&db, &["upgrade"]);
    assert!(
        db.tables().contains(&"victim".to_string()),
        "a row value ran as SQL and dropped `victim`"
    );
    let expected = [
        r"x\'); DROP TABLE victim; --",
        r"a\nb",
        r"\\",
        "it's",
        r"tab\there ü ✓",
    ];
    assert_eq!(db.strings("SELECT t FROM hs_src ORDER BY id"), expected);
    let mut one = db.strings("SELECT t FROM hs_one");
    one.sort();
    let mut want = expected.to_vec();
    want.sort();
    assert_eq!(one, want);
    assert_eq!(db.strings("SELECT t FROM hs_dst ORDER BY id"), expected);
    for (a, b) in [("hs_src", "hs_dst"), ("hs_dst", "hs_src")] {
        assert_eq!(
            db.count(&format!(
                "SELECT COUNT(*) FROM (SELECT id, t, bt, d FROM {a} EXCEPT SELECT id, t, bt, d FROM {b}) AS diff"
            )),
            0,
            "bytes or dates changed on the way from {a} to {b}"
        );
    }
    assert_eq!(db.count("SELECT COUNT(*) FROM hs_dst"), 5);
}

/// A batch's statement is one statement, however it is sent. The migration batches values
/// that would end a literal (exact, below), then a statement the server would read as two
/// if it were sent as text: on MySQL, with `NO_BACKSLASH_ESCAPES` switched on, `'\'` ends a
/// string where Retort's lexer reads on (so the batch may not go as one text of statements,
/// `mysql_batch.rs`); elsewhere a plain second statement. The migration fails, nothing of it
/// stays, and `victim` survives.
pub fn a_batch_cannot_carry_a_second_statement(dialect: Dialect) {
    let texts = [r"x\'); DROP TABLE victim; --", "it's", r"\\", "ü ✓"];
    let batch = |sql: &str| -> String {
        std::iter::once(sql)
            .chain(texts.iter().copied())
            .collect::<Vec<_>>()
            .join("\u{1f}")
    };
    // Made before the migration: a rollback of the migration would otherwise take them too.
    let tables = |db: &TestDb| {
        db.execute("CREATE TABLE victim (id INTEGER PRIMARY KEY)");
        db.execute("CREATE TABLE nb (t TEXT)");
    };
    let mut first: Vec<(&str, String)> = Vec::new();
    let smuggled = match dialect {
        Dialect::Mysql => {
            first.push((
                "sql",
                "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')".into(),
            ));
            r"INSERT INTO nb (t) VALUES ($1), ('\'); DROP TABLE victim; SELECT (')"
        }
        _ => "INSERT INTO nb (t) VALUES ($1); DROP TABLE victim",
    };
    // The values alone arrive exactly.
    let db = TestDb::new(dialect, "batchvalues");
    tables(&db);
    let mut steps = first.clone();
    steps.push(("batch", batch("INSERT INTO nb (t) VALUES ($1)")));
    let steps: Vec<(&str, &str)> = steps.iter().map(|(k, a)| (*k, a.as_str())).collect();
    script(&db, &steps);
    let project = Project::with_fixtures(&[HOSTILE]);
    project.run_ok(&db, &["upgrade"]);
    let mut stored = db.strings("SELECT t FROM nb");
    stored.sort();
    let mut want: Vec<String> = texts.iter().map(|t| t.to_string()).collect();
    want.sort();
    assert_eq!(stored, want);

    // A second statement in the batch's text does not run.
    let db = TestDb::new(dialect, "batchsmuggle");
    tables(&db);
    let mut steps = first;
    steps.push(("batch", batch(smuggled)));
    let steps: Vec<(&str, &str)> = steps.iter().map(|(k, a)| (*k, a.as_str())).collect();
    script(&db, &steps);
    let out = project.run(&db, &["upgrade"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        db.tables().contains(&"victim".to_string()),
        "the batch's second statement ran: {err}"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM nb"), 0, "{err}");
    assert_ne!(hostile_state(&db).as_deref(), Some("applied"), "{err}");
    // Refused by the host where its lexer sees two statements; on MySQL it sees one (a string
    // with an escaped quote), the batch goes set by set as a prepared statement, and the
    // server refuses the second statement in it.
    let refusal = match dialect {
        Dialect::Mysql => "error in your SQL syntax",
        _ => "execute-batch runs one statement per parameter set; this text holds 2",
    };
    assert!(err.contains(refusal), "{err}");
}

/// The scripted hostile migration (`tests/guests/20261202000000_hostile_script`).
pub const HOSTILE: &str = "20261202000000";

/// An SQL string literal for `dialect`.
fn lit(dialect: Dialect, s: &str) -> String {
    let s = s.replace('\'', "''");
    match dialect {
        Dialect::Mysql => format!("'{}'", s.replace('\\', "\\\\")),
        _ => format!("'{s}'"),
    }
}

/// Writes the hostile migration's steps into `db` (see the fixture for the kinds).
pub fn script(db: &TestDb, up: &[(&str, &str)]) {
    // (MySQL's TEXT holds 64 KiB; a step may be longer.)
    let text = match db.dialect {
        Dialect::Mysql => "LONGTEXT",
        _ => "TEXT",
    };
    db.execute(&format!(
        "CREATE TABLE hostile_script (n INTEGER PRIMARY KEY, kind VARCHAR(10) NOT NULL, arg {text} NOT NULL);\
         CREATE TABLE hostile_script_down (n INTEGER PRIMARY KEY, kind VARCHAR(10) NOT NULL, arg {text} NOT NULL)"
    ));
    for (n, (kind, arg)) in up.iter().enumerate() {
        db.execute(&format!(
            "INSERT INTO hostile_script (n, kind, arg) VALUES ({n}, {}, {})",
            lit(db.dialect, kind),
            lit(db.dialect, arg)
        ));
    }
}

/// The hostile migration's history row state, if it has one.
pub fn hostile_state(db: &TestDb) -> Option<String> {
    if !db.tables().contains(&"retort_history".to_string()) {
        return None;
    }
    db.strings(&format!(
        "SELECT state FROM retort_history WHERE revision = '{HOSTILE}'"
    ))
    .into_iter()
    .next()
}

/// The failed run left nothing applied: on PostgreSQL and SQLite no history row (and the
/// message says it rolled back); on MySQL/MariaDB, where DDL commits as it runs, either the
/// same (nothing that commits had been sent) or the pending `upgrading` row, and the message
/// says which, never the other.
pub fn assert_not_applied(db: &TestDb, err: &str) {
    match db.dialect {
        Dialect::Mysql => match hostile_state(db).as_deref() {
            None => assert!(err.contains("rolled back"), "{err}"),
            Some("upgrading") => {
                assert!(!err.contains("still at its previous revision"), "{err}");
                assert!(err.contains("may have run"), "{err}");
            }
            other => panic!("the hostile migration's row is {other:?}: {err}"),
        },
        _ => {
            assert_eq!(hostile_state(db), None, "{err}");
            assert!(err.contains("rolled back"), "{err}");
        }
    }
}

fn upgrade_fails(project: &Project, db: &TestDb) -> String {
    let out = project.run(db, &["upgrade"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(HOSTILE),
        "the error names the migration: {err}"
    );
    err
}

/// `COMMIT` (even one the migration catches the error of) is refused before it reaches the
/// database: the work before it is rolled back with the rest, and the message names the
/// statement. MySQL: the DDL had committed implicitly, the row written after it did not.
pub fn transaction_control_is_refused_and_nothing_is_lost(dialect: Dialect) {
    for control in ["COMMIT", "ROLLBACK", "BEGIN", "START TRANSACTION"] {
        let db = TestDb::new(dialect, "txcontrol");
        script(
            &db,
            &[
                ("sql", "CREATE TABLE tc_a (a INTEGER)"),
                ("sql", "INSERT INTO tc_a VALUES (1)"),
                ("try", control),
                ("sql", "CREATE TABLE tc_b (a INTEGER)"),
            ],
        );
        let project = Project::with_fixtures(&[HOSTILE]);
        let err = upgrade_fails(&project, &db);
        assert!(
            err.contains(&format!("the migration sent `{control}`")),
            "{err}"
        );
        assert!(!db.tables().contains(&"tc_b".to_string()), "{err}");
        if dialect == Dialect::Mysql {
            assert_eq!(db.count("SELECT COUNT(*) FROM tc_a"), 0, "{err}");
        } else {
            assert!(!db.tables().contains(&"tc_a".to_string()), "{err}");
        }
        assert_not_applied(&db, &err);
    }
}

/// A failure after DDL rolls back the rows written since (MySQL re-opens a transaction after
/// every implicit commit) instead of leaving them committed one by one; the journal says so.
pub fn rows_written_after_ddl_roll_back_with_the_failure(dialect: Dialect) {
    let db = TestDb::new(dialect, "afterddl");
    let mut steps = vec![("sql", "CREATE TABLE m3 (a INTEGER)")];
    steps.extend(std::iter::repeat_n(
        ("sql", "INSERT INTO m3 VALUES (1)"),
        20,
    ));
    steps.push(("fail", "after the rows"));
    script(&db, &steps);
    let project = Project::with_fixtures(&[HOSTILE]);
    let err = upgrade_fails(&project, &db);
    assert!(err.contains("failing on purpose: after the rows"), "{err}");
    if dialect == Dialect::Mysql {
        assert_eq!(db.count("SELECT COUNT(*) FROM m3"), 0, "{err}");
        let journal = db.strings(&format!(
            "SELECT journal FROM retort_history WHERE revision = '{HOSTILE}'"
        ));
        assert!(journal[0].starts_with("CREATE TABLE m3"), "{journal:?}");
        assert!(
            journal[0].trim_end().ends_with(
                "-- failed: rolled back the statements after the last one that committed (DDL, or a query opened on MySQL)"
            ),
            "{journal:?}"
        );
    } else {
        assert!(!db.tables().contains(&"m3".to_string()), "{err}");
    }
    assert_not_applied(&db, &err);
}

/// MySQL: a procedure that forges a history row by SQL it builds at run time.
const PROCEDURE_FORGE: &str = "CREATE PROCEDURE hide_a_write() BEGIN \
     SET @q = CONCAT('INSERT INTO retort_', 'history (revision, parents, description, digest, \
     state, applied_at, applied_by, duration_ms) VALUES (''99999999999999'', '''', ''forged'', \
     ''aa'', ''applied'', ''2026-01-01T00:00:00Z'', ''x'', 0)'); \
     PREPARE s FROM @q; EXECUTE s; DEALLOCATE PREPARE s; END";

/// A forged history row, written through the view `hidden_history`.
const VIEW_FORGE: &str = "INSERT INTO hidden_history (revision, parents, description, digest, \
     state, applied_at, applied_by, duration_ms) VALUES ('99999999999999', '', 'forged', 'aa', \
     'applied', '2026-01-01T00:00:00Z', 'x', 0)";

/// Replaces Retort's prepared history insert with one that writes `notes = 'forged'`.
const HIJACK: &str = "DO $$ DECLARE r record; BEGIN
  FOR r IN SELECT name, parameter_types::text[] AS types FROM pg_catalog.pg_prepared_statements
      WHERE NOT from_sql AND statement LIKE '%INSERT INTO%retort_history%' LOOP
    EXECUTE format('DEALLOCATE %I', r.name);
    EXECUTE format('PREPARE %I (%s) AS INSERT INTO public.retort_history (revision, parents, \
      description, digest, state, applied_at, applied_by, duration_ms, signer, notes) VALUES \
      ($5, $6, $7, $8, $9, $10, $11, $12, $13, %L)', r.name, array_to_string(r.types, ','), 'forged');
  END LOOP;
END $$";

/// The `ansi_quotes_long` attack's statement.
static ANSI_QUOTES_LONG: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Forging, rewriting, hiding or watching Retort's bookkeeping is refused and rolled back:
/// the history stays exactly as Retort wrote it, and a run never reports a migration it did
/// not record.
pub fn bookkeeping_cannot_be_forged_hidden_or_replaced(dialect: Dialect) {
    let fake = "INSERT INTO retort_history (revision, parents, description, digest, state, \
                applied_at, applied_by, duration_ms) VALUES ('99999999999999', '', 'forged', \
                'aa', 'applied', '2026-01-01T00:00:00Z', 'x', 0)";
    let digest = format!(
        "UPDATE retort_history SET digest = '{}' WHERE revision = '20260501000000'",
        "a".repeat(64)
    );
    let trigger = match dialect {
        Dialect::Postgres => {
            "CREATE FUNCTION forge() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.notes := 'forged'; RETURN NEW; END $$;\
             CREATE TRIGGER forge BEFORE INSERT ON retort_history FOR EACH ROW EXECUTE FUNCTION forge()"
        }
        Dialect::Mysql => {
            "CREATE TRIGGER forge BEFORE INSERT ON retort_history FOR EACH ROW SET NEW.notes = 'forged'"
        }
        Dialect::Sqlite => {
            "CREATE TEMP TRIGGER forge AFTER INSERT ON retort_history BEGIN UPDATE retort_history SET notes = 'forged'; END"
        }
    };
    let shadow = match dialect {
        Dialect::Postgres => "CREATE TEMP TABLE retort_history (LIKE public.retort_history)",
        Dialect::Mysql => "CREATE TEMPORARY TABLE retort_history (revision VARCHAR(255))",
        Dialect::Sqlite => "CREATE TEMP TABLE retort_history (revision TEXT)",
    };
    let truncate = match dialect {
        Dialect::Sqlite => "DELETE FROM retort_artifacts",
        _ => "TRUNCATE retort_artifacts",
    };
    let mut attacks: Vec<(&str, Vec<&str>)> = vec![
        ("forge", vec![fake]),
        ("digest", vec![&digest]),
        (
            "delete",
            vec!["DELETE FROM retort_history WHERE revision = '20260501000000'"],
        ),
        ("truncate", vec![truncate]),
        ("trigger", vec![trigger]),
        ("shadow", vec![shadow]),
    ];
    if dialect != Dialect::Sqlite {
        // A write that names no bookkeeping table (through a view made over one), left
        // uncommitted before DDL that would commit it (MySQL's check before a committing
        // statement must run then). SQLite's views take no writes.
        attacks.push((
            "view",
            vec![
                "CREATE VIEW hidden_history AS SELECT * FROM retort_history",
                VIEW_FORGE,
            ],
        ));
    }
    attacks.push((
        "rename",
        vec![match dialect {
            Dialect::Mysql => "RENAME TABLE retort_history TO gone",
            _ => "ALTER TABLE retort_history RENAME TO gone",
        }],
    ));
    if dialect == Dialect::Mysql {
        // A write no statement text names (built inside a procedure at run time), left
        // uncommitted before DDL that would commit it: the check before the committing
        // statement finds it while it can still roll back.
        attacks.push(("procedure", vec![PROCEDURE_FORGE, "CALL hide_a_write()"]));
        // The same, behind `--` before a letter, which MySQL reads as two minus signs and a
        // reader that took it for a comment would not look past: refused all the same.
        attacks.push((
            "dashes",
            vec![
                "SET @z = 2 --1; SET @q = CONCAT('TRUNCATE retort_', 'artifacts'); \
                 PREPARE s FROM @q; EXECUTE s",
            ],
        ));
        // The same, behind a string that `NO_BACKSLASH_ESCAPES` ends earlier for the server than
        // for Retort's lexer: one statement to the lexer, three to the server, which prepares
        // it and refuses the text whole (it truncated the table when sent as text).
        attacks.push((
            "unescaped",
            vec![
                "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')",
                "SET @q = CONCAT('TRUNCATE retort_', 'artifacts')",
                r"SELECT 'a\' ; PREPARE s FROM @q; EXECUTE s; SELECT '",
            ],
        ));
        // A statement the server runs from inside a versioned comment, which a reader that
        // took `/*! … */` for a comment saw nothing in (shown to truncate the table): refused.
        attacks.push(("versioned", vec!["/*! TRUNCATE retort_artifacts */"]));
        // A second statement behind a double-quoted name, which `ANSI_QUOTES` ends at `\"`
        // for the server where Retort's lexer reads an escaped quote and one `SELECT` (shown to
        // truncate the table when sent as text): the server, given it as one prepared
        // statement, refuses the text whole, and nothing runs.
        attacks.push((
            "ansi_quotes",
            vec![
                "SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')",
                r#"SELECT 1 AS "a\" ; TRUNCATE retort_artifacts; SELECT 1 AS ""#,
            ],
        ));
        // The same, over a MiB long, which goes by the protocol's prepared statement.
        attacks.push((
            "ansi_quotes_long",
            vec![
                "SET SESSION sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES')",
                ANSI_QUOTES_LONG.get_or_init(|| {
                    format!(
                        r#"SELECT 1 AS "a\" ; TRUNCATE retort_artifacts; SELECT 1 AS " /* {} */"#,
                        "x".repeat(1_100_000)
                    )
                }),
            ],
        ));
        // SQL built at run time cannot be checked before it commits: refused.
        attacks.push((
            "prepared",
            vec![
                "SET @q = CONCAT('TRUNCATE retort_', 'artifacts')",
                "PREPARE s FROM @q",
                "EXECUTE s",
            ],
        ));
    }
    if dialect == Dialect::Postgres {
        // The write counts PostgreSQL's check reads depend on `track_counts`: a superuser
        // (as in these tests) switching it off is seen too.
        attacks.push(("untracked", vec!["SET track_counts = off", fake]));
        // DDL that rewrites nothing (no new file node, no row written) changes the definition.
        attacks.push((
            "relax",
            vec!["ALTER TABLE retort_history ALTER COLUMN description DROP NOT NULL"],
        ));
        attacks.push((
            "index",
            vec!["CREATE INDEX forged ON retort_artifacts (digest)"],
        ));
        // Grants let another account plant rows a later run (or downgrade) trusts.
        attacks.push(("grant", vec!["GRANT ALL ON retort_history TO PUBLIC"]));
        // Retort's own statements are prepared statements of the migration's session, whose
        // names SQL `PREPARE` shares: swap the one that records the history row (prepared
        // when the first migration of this run was recorded) for other SQL. Neutralised, not
        // refused: the run succeeds and records the truth.
        attacks.push(("hijack", vec![HIJACK]));
    }
    for (attack, sqls) in attacks {
        let db = TestDb::new(dialect, "forge");
        let mut steps: Vec<(&str, &str)> = sqls.iter().map(|sql| ("sql", *sql)).collect();
        steps.push(("sql", "CREATE TABLE after_attack (a INTEGER)"));
        script(&db, &steps);
        let project = Project::with_fixtures(&["20260501000000", HOSTILE]);
        let out = project.run(&db, &["upgrade", "heads"]);
        let err = stderr(&out);
        let forged = db.count(
            "SELECT COUNT(*) FROM retort_history WHERE revision = '99999999999999' OR notes = 'forged'",
        );
        assert_eq!(forged, 0, "{attack}: {err}");
        let root =
            db.strings("SELECT digest FROM retort_history WHERE revision = '20260501000000'");
        assert_eq!(root.len(), 1, "{attack}: {err}");
        assert_ne!(root[0], "a".repeat(64), "{attack}: {err}");
        assert!(
            db.count("SELECT COUNT(*) FROM retort_artifacts") >= 1,
            "{attack}: the stored artifact is gone: {err}"
        );
        if out.status.success() {
            // Only where the attack was harmless (a shadow that qualified names ignore, a
            // swapped prepared statement Retort forgets): the migration is recorded in the real
            // table, truthfully (no `forged` notes, above).
            assert!(attack == "shadow" || attack == "hijack", "{attack}: {err}");
            assert_eq!(hostile_state(&db).as_deref(), Some("applied"), "{err}");
        } else {
            // `dashes`: refused for what it hides, the `PREPARE` (a lexer that took `--1` for a
            // comment let it drop the table).
            assert!(
                err.contains("bookkeeping")
                    || err.contains("Retort alone")
                    || (attack == "dashes" && err.contains("`PREPARE … FROM @q` among other"))
                    || (attack == "unescaped" && err.contains("SQL syntax"))
                    || (attack.starts_with("ansi_quotes") && err.contains("SQL syntax")),
                "{attack}: {err}"
            );
            assert!(
                !db.tables().contains(&"after_attack".to_string()) || dialect == Dialect::Mysql
            );
            assert_not_applied(&db, &err);
        }
        if dialect == Dialect::Mysql && attack == "trigger" {
            // DDL naming the bookkeeping is refused before it is sent (it would commit at
            // once): no trigger was made.
            assert!(err.contains("names retort_history"), "{err}");
            assert_eq!(
                db.count(
                    "SELECT COUNT(*) FROM information_schema.triggers \
                     WHERE trigger_schema = DATABASE() AND trigger_name = 'forge'"
                ),
                0
            );
            // One made behind Retort's back (by hand) makes every run refuse to write
            // through it.
            db.execute(trigger);
            let again = project.run(&db, &["resolve", HOSTILE, "--rolled-back"]);
            let again_err = stderr(&again);
            let next = project.run(&db, &["upgrade", "heads"]);
            let next_err = stderr(&next);
            assert!(
                !next.status.success() && next_err.contains("has a trigger (`forge`)"),
                "{again_err}\n{next_err}"
            );
        }
    }
}

/// Redirecting the session (MySQL `USE` another database, PostgreSQL `search_path` to a schema
/// with its own `retort_history`) does not move the bookkeeping: the migration is recorded where Retort
/// keeps it.
pub fn redirecting_the_session_does_not_move_the_bookkeeping(dialect: Dialect) {
    let db = TestDb::new(dialect, "redirect");
    let other = format!("{}_other", db.url.rsplit('/').next().unwrap_or("x"));
    let steps: Vec<(&str, String)> = match dialect {
        Dialect::Sqlite => return,
        Dialect::Mysql => vec![
            ("sql", format!("CREATE DATABASE IF NOT EXISTS {other}")),
            ("sql", format!("USE {other}")),
            // (A table of that name there is refused outright: DDL naming the bookkeeping
            // is, on MySQL; see `bookkeeping_cannot_be_forged_hidden_or_replaced`.)
            (
                "sql",
                "CREATE TABLE elsewhere (revision VARCHAR(255))".into(),
            ),
        ],
        Dialect::Postgres => vec![
            ("sql", "CREATE SCHEMA other".into()),
            ("sql", "SET search_path = other".into()),
            ("sql", "CREATE TABLE retort_history (revision TEXT)".into()),
        ],
    };
    let steps: Vec<(&str, &str)> = steps.iter().map(|(k, a)| (*k, a.as_str())).collect();
    script(&db, &steps);
    let project = Project::with_fixtures(&[HOSTILE]);
    let out = project.run_ok(&db, &["upgrade"]);
    assert_eq!(
        hostile_state(&db).as_deref(),
        Some("applied"),
        "{}",
        stderr(&out)
    );
    let history = project.run_ok(&db, &["history"]);
    assert!(stdout(&history).contains(HOSTILE), "{}", stdout(&history));
    if dialect == Dialect::Mysql {
        db.execute(&format!("DROP DATABASE {other}"));
    }
}

/// The run lock lives where a migration cannot release it: after the migration's
/// `pg_advisory_unlock_all()` / `RELEASE_ALL_LOCKS()` (or SQLite's `locking_mode`, refused),
/// a second runner still waits, and times out, while the first finishes.
pub fn the_lock_cannot_be_released_by_the_migration(dialect: Dialect) {
    let db = TestDb::new(dialect, "unlock");
    let release = match dialect {
        Dialect::Postgres => "SELECT pg_advisory_unlock_all()",
        Dialect::Mysql => "SELECT RELEASE_ALL_LOCKS()",
        Dialect::Sqlite => {
            // SQLite's lock is the file's, kept by `locking_mode = EXCLUSIVE`: changing the
            // pragma is refused.
            script(&db, &[("sql", "PRAGMA locking_mode = NORMAL")]);
            let project = Project::with_fixtures(&[HOSTILE]);
            let err = upgrade_fails(&project, &db);
            assert!(err.contains("may not use PRAGMA locking_mode"), "{err}");
            assert_not_applied(&db, &err);
            return;
        }
    };
    script(&db, &[("try", release), ("sleep", "4000")]);
    let project = Project::with_fixtures(&[HOSTILE]);
    let first = std::process::Command::new(env!("CARGO_BIN_EXE_retort"))
        .current_dir(project.dir.path())
        .env("DATABASE_URL", &db.url)
        .arg("upgrade")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("starting the first runner");
    std::thread::sleep(std::time::Duration::from_millis(2000));
    let second = project.run(&db, &["upgrade", "--lock-timeout", "1"]);
    let second_err = stderr(&second);
    let first = first.wait_with_output().expect("the first runner");
    let first_err = stderr(&first);
    assert!(first.status.success(), "{first_err}");
    assert_eq!(second.status.code(), Some(1), "{second_err}");
    assert!(
        second_err.contains("waiting for the migration lock"),
        "{second_err}"
    );
    assert_eq!(hostile_state(&db).as_deref(), Some("applied"));
    assert_eq!(
        db.count(&format!(
            "SELECT COUNT(*) FROM retort_history WHERE revision = '{HOSTILE}'"
        )),
        1
    );
}

/// PostgreSQL: a migration that kills the lock's connection (as a superuser can) stops the run
/// before it commits: another runner may already be migrating.
pub fn a_lost_lock_stops_the_run(dialect: Dialect) {
    let db = TestDb::new(dialect, "lostlock");
    script(
        &db,
        &[
            (
                "sql",
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' \
                 AND pid <> pg_backend_pid() \
                 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
            ),
            ("sql", "CREATE TABLE after_kill (a INTEGER)"),
        ],
    );
    let project = Project::with_fixtures(&[HOSTILE]);
    let err = upgrade_fails(&project, &db);
    assert!(err.contains("lost the migration lock"), "{err}");
    assert!(!db.tables().contains(&"after_kill".to_string()), "{err}");
    assert_not_applied(&db, &err);
}

/// The deadline holds while a migration waits in the database (a long statement is
/// cancelled) or in a WASI sleep: the run stops soon after the limit, rolls back, says which
/// limit, and leaves the lock free.
pub fn the_deadline_holds_inside_host_calls(dialect: Dialect) {
    let long = match dialect {
        Dialect::Postgres => "SELECT pg_sleep(60)",
        Dialect::Mysql => "SELECT SLEEP(60)",
        // Counts forever, in constant memory.
        Dialect::Sqlite => {
            "CREATE TABLE cnt AS WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) \
             SELECT count(*) AS n FROM c"
        }
    };
    for (kind, arg) in [("sql", long), ("sleep", "60000")] {
        let db = TestDb::new(dialect, "deadline");
        script(
            &db,
            &[("sql", "CREATE TABLE before_wait (a INTEGER)"), (kind, arg)],
        );
        let project = Project::with_fixtures(&[HOSTILE]);
        std::fs::write(
            project.dir.path().join("retort.toml"),
            "[limits]\ntimeout_secs = 2\n\n[databases.main]\nurl = \"sqlite://unused.db\"\n",
        )
        .unwrap();
        let started = std::time::Instant::now();
        let err = upgrade_fails(&project, &db);
        // Far below the 60 s the migration asked for: the deadline, not the wait, ended it.
        assert!(
            started.elapsed() < std::time::Duration::from_secs(30),
            "{kind}: {err}"
        );
        assert!(
            err.contains("ran past its time limit of 2 s (limits.timeout_secs)"),
            "{kind}: {err}"
        );
        if dialect != Dialect::Mysql {
            assert!(!db.tables().contains(&"before_wait".to_string()), "{err}");
        }
        assert_not_applied(&db, &err);
        project.run_ok(&db, &["status"]);
    }
}

/// A migration printing more than the 1 MiB kept is not failed for it (a Rust guest panics
/// on a failed write): the rest is dropped, and the operator is told how much.
pub fn a_flood_of_output_is_cut_not_fatal(dialect: Dialect) {
    let db = TestDb::new(dialect, "flood");
    script(&db, &[("print", "3145728")]);
    let project = Project::with_fixtures(&[HOSTILE]);
    let out = project.run_ok(&db, &["upgrade"]);
    let err = stderr(&out);
    assert!(
        err.contains("more bytes to stdout, past the 1 MiB kept: dropped"),
        "{}",
        &err[err.len().saturating_sub(500)..]
    );
    assert!(err.len() < 3 << 20, "{} bytes reached stderr", err.len());
    assert_eq!(hostile_state(&db).as_deref(), Some("applied"));
}

/// Migrations that run as an account whose SQL reaches the server's files or programs are
/// warned about on every run, or refused with `require_unprivileged`; with `migration_url`
/// they run as a restricted account (no warning, the server's files out of reach) while the
/// lock and the bookkeeping stay right.
pub fn privileged_accounts_are_warned_about_or_refused(dialect: Dialect) {
    let config = |project: &Project, extra: &str| {
        std::fs::write(
            project.dir.path().join("retort.toml"),
            format!("[databases.main]\nurl = \"sqlite://unused.db\"\n{extra}"),
        )
        .unwrap()
    };
    let db = TestDb::new(dialect, "privileged");
    script(&db, &[("sql", "CREATE TABLE made (a INTEGER)")]);
    let project = Project::with_fixtures(&[HOSTILE]);
    if dialect == Dialect::Sqlite {
        let out = project.run_ok(&db, &["upgrade"]);
        assert!(!stderr(&out).contains("warning:"), "{}", stderr(&out));
        return;
    }
    config(&project, "require_unprivileged = true\n");
    let out = project.run(&db, &["upgrade"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let account = match dialect {
        Dialect::Postgres => "PostgreSQL superuser `postgres`",
        _ => "with FILE and SUPER",
    };
    assert!(
        err.contains(account) && err.contains("`require_unprivileged` refuses that"),
        "{err}"
    );
    let tables = db.tables();
    assert!(
        !tables.contains(&"made".to_string()) && !tables.contains(&"retort_history".to_string())
    );

    config(&project, "");
    let out = project.run_ok(&db, &["upgrade"]);
    let err = stderr(&out);
    assert!(
        err.contains("warning: [main] migrations run as") && err.contains(account),
        "{err}"
    );

    // A restricted account: the server's files are out of its reach.
    let low_db = TestDb::new(dialect, "restricted");
    let low = low_db.restricted_account();
    let file = std::env::temp_dir().join(format!("retort-outfile-{}", std::process::id()));
    let attack = match dialect {
        Dialect::Postgres => "COPY (SELECT 1) TO PROGRAM 'true'".to_string(),
        _ => format!("SELECT 1 INTO OUTFILE '{}'", file.display()),
    };
    script(
        &low_db,
        &[("sql", &attack), ("sql", "CREATE TABLE low (a INTEGER)")],
    );
    if dialect == Dialect::Postgres {
        low_db.execute(&format!(
            "GRANT SELECT ON hostile_script, hostile_script_down TO {}",
            low.name
        ));
    }
    let low_project = Project::with_fixtures(&[HOSTILE]);
    config(
        &low_project,
        &format!(
            "migration_url = \"{}\"\nrequire_unprivileged = true\n",
            low.url
        ),
    );
    let err = upgrade_fails(&low_project, &low_db);
    let denied = match dialect {
        Dialect::Postgres => {
            "must be superuser or have privileges of the pg_execute_server_program role"
        }
        _ => "Access denied",
    };
    assert!(err.contains(denied) && err.contains(&attack), "{err}");
    assert!(!err.contains("warning:"), "{err}");
    assert!(!file.exists());
    // (On MariaDB too: the refused statement was a query, nothing had committed.)
    assert_eq!(hostile_state(&low_db), None, "{err}");
    low_db.execute("DELETE FROM hostile_script");
    low_db.execute("INSERT INTO hostile_script (n, kind, arg) VALUES (0, 'sql', 'CREATE TABLE low (a INTEGER)')");
    let out = low_project.run_ok(&low_db, &["upgrade"]);
    assert!(!stderr(&out).contains("warning:"), "{}", stderr(&out));
    assert_eq!(hostile_state(&low_db).as_deref(), Some("applied"));
    if dialect == Dialect::Postgres {
        assert_eq!(
            low_db.strings("SELECT tableowner::text FROM pg_tables WHERE tablename = 'low'"),
            std::slice::from_ref(&low.name)
        );
    }
}

/// Names are names (issue 25): a portable operation whose name holds a newline would end the
/// `-- retort schema:` comment line its statement starts with and run what follows; such a
/// name is refused before anything is read or sent, the victim stays, nothing is applied, and
/// the message shows the name escaped (no line of it starts with the injected SQL).
pub fn names_with_control_characters_are_refused(dialect: Dialect) {
    for name in ["t\nDROP TABLE victim;\n--", "t\r\u{1b}[2K", "t\u{2028}x"] {
        let db = TestDb::new(dialect, "ctlnames");
        db.execute("CREATE TABLE victim (a INTEGER)");
        script(
            &db,
            &[
                ("sql", "CREATE TABLE cn_before (a INTEGER)"),
                ("schema", &format!("drop:{name}")),
            ],
        );
        let project = Project::with_fixtures(&[HOSTILE]);
        let err = upgrade_fails(&project, &db);
        assert!(err.contains("control character"), "{err}");
        assert!(
            !err.lines()
                .any(|l| l.trim_start().starts_with("DROP TABLE victim")),
            "{err}"
        );
        assert!(!err.contains('\u{1b}'), "{err}");
        assert!(db.tables().contains(&"victim".to_string()), "{err}");
        assert_not_applied(&db, &err);
    }
}

/// Work deferred to COMMIT (PostgreSQL constraint triggers, `DEFERRABLE INITIALLY DEFERRED`)
/// cannot rewrite the history after Retort's checks unseen. Retort runs deferred work before
/// its checks (`SET CONSTRAINTS ALL IMMEDIATE`), so a trigger that deletes the migration's row
/// runs while there is none yet: the upgrade is recorded, and the next run does not repeat it.
/// A trigger that defers itself again runs inside COMMIT all the same; Retort reads its row
/// back after the commit and says what happened instead of "upgraded".
pub fn work_deferred_to_commit_cannot_rewrite_the_history(dialect: Dialect) {
    let forge = |again: bool| {
        format!(
            "CREATE FUNCTION forge() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN \
             DELETE FROM retort_history WHERE revision = '{HOSTILE}'; {} RETURN NULL; END $$",
            if again {
                "IF NEW.a < 4 THEN SET CONSTRAINTS ALL DEFERRED; \
                 INSERT INTO late VALUES (NEW.a + 1); END IF;"
            } else {
                ""
            }
        )
    };
    for again in [false, true] {
        let db = TestDb::new(dialect, "deferred");
        let function = forge(again);
        script(
            &db,
            &[
                ("sql", "CREATE TABLE late (a INTEGER)"),
                ("sql", &function),
                (
                    "sql",
                    "CREATE CONSTRAINT TRIGGER forge AFTER INSERT ON late DEFERRABLE \
                     INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION forge()",
                ),
                ("sql", "INSERT INTO late VALUES (1)"),
            ],
        );
        let project = Project::with_fixtures(&[HOSTILE]);
        let out = project.run(&db, &["upgrade"]);
        let (out_text, err) = (stdout(&out), stderr(&out));
        if !again {
            assert_eq!(out.status.code(), Some(0), "{err}");
            assert_eq!(hostile_state(&db).as_deref(), Some("applied"), "{err}");
            let second = project.run_ok(&db, &["upgrade"]);
            assert_eq!(
                db.count("SELECT COUNT(*) FROM late"),
                1,
                "{}",
                stderr(&second)
            );
            continue;
        }
        assert_eq!(out.status.code(), Some(1), "{out_text}{err}");
        assert!(
            err.contains(&format!(
                "{HOSTILE} committed, but its history row was missing"
            )),
            "{err}"
        );
        assert!(!out_text.contains("now at"), "{out_text}");
        assert_eq!(hostile_state(&db), None);
        assert_eq!(db.count("SELECT COUNT(*) FROM late"), 4);
    }
}

/// Each migration starts from the session as configured (issue 25): what the hostile
/// migration sets for its session — PostgreSQL's `search_path`, `standard_conforming_strings`
/// and a temporary table shadowing a real one; SQLite's check-constraint, ALTER and
/// foreign-key pragmas; MariaDB's `foreign_key_checks`, `sql_mode` and default database —
/// does not reach the next migration, which records what it saw. In both transaction modes.
/// (SQLite's `PRAGMA foreign_keys = OFF` inside the transaction is accepted, as real
/// histories need, and changes nothing, as in SQLite.)
pub fn each_migration_starts_from_the_configured_session(dialect: Dialect) {
    let modes: &[&str] = match dialect {
        Dialect::Mysql => &["per-migration"],
        _ => &["per-migration", "single"],
    };
    for mode in modes {
        let db = TestDb::new(dialect, "sessionreset");
        let (hostile, observe, expected): (Vec<&str>, &str, Vec<&str>) = match dialect {
            Dialect::Postgres => (
                vec![
                    "CREATE SCHEMA elsewhere",
                    "SET search_path = elsewhere",
                    "SET standard_conforming_strings = off",
                    "CREATE TEMP TABLE shadowed (t TEXT)",
                    "SET client_encoding = 'LATIN1'",
                ],
                "CREATE TABLE seen AS SELECT current_setting('search_path') AS a, \
                 current_setting('standard_conforming_strings') AS b, 'C:\\temp\\new' AS c;\n\
                 INSERT INTO shadowed VALUES ('real');\n",
                vec!["\"$user\", public", "on", "C:\\temp\\new"],
            ),
            Dialect::Sqlite => (
                vec![
                    "PRAGMA ignore_check_constraints = 1",
                    "PRAGMA legacy_alter_table = 1",
                    "PRAGMA foreign_keys = OFF",
                    "PRAGMA recursive_triggers = 1",
                    "CREATE TEMP TABLE shadowed (t TEXT)",
                ],
                "CREATE TABLE seen AS SELECT (SELECT * FROM pragma_ignore_check_constraints) AS a, \
                 (SELECT * FROM pragma_legacy_alter_table) AS b, \
                 (SELECT * FROM pragma_foreign_keys) AS c;\n\
                 INSERT INTO shadowed VALUES ('real');\n",
                vec!["0", "0", "1"],
            ),
            Dialect::Mysql => (
                vec![
                    "SET SESSION foreign_key_checks = 0",
                    "SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'",
                    "USE information_schema",
                ],
                "CREATE TABLE seen (a TEXT, b TEXT, c TEXT);\n\
                 INSERT INTO seen SELECT @@session.foreign_key_checks, \
                 LOCATE('NO_BACKSLASH_ESCAPES', @@session.sql_mode), 'C:\\\\temp';\n\
                 INSERT INTO shadowed VALUES ('real');\n",
                vec!["1", "0", "C:\\temp"],
            ),
        };
        db.execute("CREATE TABLE shadowed (t TEXT)");
        let steps: Vec<(&str, &str)> = hostile.iter().map(|s| ("sql", *s)).collect();
        script(&db, &steps);
        let project = Project::with_fixtures(&[HOSTILE]);
        std::fs::write(
            project
                .migrations()
                .join("20261202000100_observe_session.up.sql"),
            format!("-- retort: parents = {HOSTILE}\n{observe}"),
        )
        .unwrap();
        let out = project
            .retort(&db)
            .args(["--transaction", mode, "upgrade"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(0), "{mode}: {}", stderr(&out));
        assert_eq!(
            db.strings("SELECT a FROM seen")
                .into_iter()
                .chain(db.strings("SELECT b FROM seen"))
                .chain(db.strings("SELECT c FROM seen"))
                .collect::<Vec<_>>(),
            expected,
            "{mode}"
        );
        assert_eq!(db.strings("SELECT t FROM shadowed"), ["real"], "{mode}");
    }
}

/// SQLite's session is put back after a migration whose statements SQLite itself reported
/// as naming a pragma or the temporary database (its authorizer, whatever the spelling), and
/// only then: a temporary table made through a quoted, differently cased qualified name and
/// a schema-qualified pragma in lower case still do not reach the next migration.
pub fn sqlite_session_reset_follows_what_sqlite_reports() {
    let db = TestDb::new(Dialect::Sqlite, "sessionspelling");
    db.execute("CREATE TABLE shadowed (t TEXT)");
    script(
        &db,
        &[
            ("sql", "CREATE TABLE \"Temp\".shadowed (t TEXT)"),
            ("sql", "pragma  MAIN.legacy_alter_table=1"),
        ],
    );
    let project = Project::with_fixtures(&[HOSTILE]);
    std::fs::write(
        project
            .migrations()
            .join("20261202000100_observe_session.up.sql"),
        format!(
            "-- retort: parents = {HOSTILE}\n\
             CREATE TABLE seen AS SELECT (SELECT * FROM pragma_legacy_alter_table) AS b;\n\
             INSERT INTO shadowed VALUES ('real');\n"
        ),
    )
    .unwrap();
    project.run_ok(&db, &["upgrade"]);
    assert_eq!(db.strings("SELECT b FROM seen"), ["0"]);
    assert_eq!(db.strings("SELECT t FROM shadowed"), ["real"]);
}

/// Guest output is data (issue 25): a database error message the migration provokes (a table
/// named with a newline and a terminal escape) and the error it returns print escaped, on
/// lines attributed to the migration: nothing it emits starts a line of its own or reaches
/// the terminal as a control sequence.
pub fn output_cannot_forge_retorts_lines(dialect: Dialect) {
    let db = TestDb::new(dialect, "forgedlines");
    let (open, close) = match dialect {
        Dialect::Mysql => ('`', '`'),
        _ => ('"', '"'),
    };
    let provoke =
        format!("SELECT * FROM {open}ghost\ndefault: upgraded 9 migrations\u{1b}[2K{close}");
    script(
        &db,
        &[
            ("try", &provoke),
            (
                "fail",
                "on purpose\n[default] upgraded 0 migrations, now at base\u{7}",
            ),
        ],
    );
    let project = Project::with_fixtures(&[HOSTILE]);
    let out = project.run(&db, &["upgrade"]);
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(1), "{err}");
    for line in text.lines().chain(err.lines()) {
        assert!(
            !line.starts_with("default: upgraded") && !line.starts_with("[default] upgraded"),
            "a forged line: {line:?}\n{err}"
        );
    }
    assert!(!err.contains('\u{1b}') && !err.contains('\u{7}'), "{err:?}");
    // (MariaDB writes the escape character itself as `\001B`.)
    assert!(
        err.contains("ghost\\ndefault: upgraded 9 migrations"),
        "{err}"
    );
    assert!(
        err.contains("on purpose\\n[default] upgraded 0 migrations, now at base\\u{7}"),
        "{err}"
    );
    assert_not_applied(&db, &err);
}

/// MariaDB runs SQL built at run time as real histories write it (issue 25): the conditional
/// foreign-key drop (`SET @s = IF(…)`, `PREPARE stmt FROM @s`, `EXECUTE stmt`) and a stored
/// procedure that prepares its own DDL. Retort reads `@s` before `PREPARE` and checks the text
/// the server will prepare; a variable naming the bookkeeping is still refused (see
/// `bookkeeping_cannot_be_forged_hidden_or_replaced`).
pub fn mysql_dynamic_sql_runs_as_real_histories_write_it(dialect: Dialect) {
    let db = TestDb::new(dialect, "dynamicsql");
    let project = Project::empty();
    std::fs::write(
        project.migrations().join("20261206000000_dynamic.up.sql"),
        "-- retort: parents = none\n\
         CREATE TABLE parent (id INT PRIMARY KEY);\n\
         CREATE TABLE child (id INT PRIMARY KEY, p INT, CONSTRAINT fk_child_parent FOREIGN KEY (p) REFERENCES parent (id));\n\
         SET @s = (SELECT IF(COUNT(*) > 0, 'ALTER TABLE child DROP FOREIGN KEY fk_child_parent', 'SELECT 1') \
         FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE() \
         AND TABLE_NAME = 'child' AND CONSTRAINT_NAME = 'fk_child_parent');\n\
         PREPARE stmt FROM @s;\n\
         EXECUTE stmt;\n\
         DEALLOCATE PREPARE stmt;\n\
         CREATE PROCEDURE add_note() BEGIN SET @q = 'ALTER TABLE child ADD COLUMN note TEXT'; \
         PREPARE s FROM @q; EXECUTE s; DEALLOCATE PREPARE s; END;\n\
         CALL add_note();\n\
         DROP PROCEDURE add_note;\n",
    )
    .unwrap();
    project.run_ok(&db, &["upgrade"]);
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM information_schema.TABLE_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = \
             DATABASE() AND CONSTRAINT_NAME = 'fk_child_parent'"
        ),
        0
    );
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = DATABASE() \
             AND TABLE_NAME = 'child' AND COLUMN_NAME = 'note'"
        ),
        1
    );
}

/// A script sent in one `execute` call on MySQL runs statement by statement, each checked and
/// prepared by the server on its own: so SQL built at run time in the same call works (the
/// `PREPARE` reads `@q` after the `SET` ran), and a statement in a versioned comment runs.
pub fn mysql_a_script_in_one_call_runs_statement_by_statement(dialect: Dialect) {
    let db = TestDb::new(dialect, "onecall");
    script(
        &db,
        &[(
            "sql",
            "CREATE TABLE one_call (x INT); INSERT INTO one_call VALUES (1), (2);\n\
             /*!40101 SET @q = 'CREATE TABLE built_in_call (y INT)' */;\n\
             PREPARE s FROM @q; EXECUTE s; DEALLOCATE PREPARE s",
        )],
    );
    let project = Project::with_fixtures(&[HOSTILE]);
    let out = project.run(&db, &["upgrade"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(db.count("SELECT COUNT(*) FROM one_call"), 2);
    assert!(db.tables().contains(&"built_in_call".to_string()));
    assert_eq!(hostile_state(&db).as_deref(), Some("applied"));
}

/// MySQL: with `NO_BACKSLASH_ESCAPES` on, a statement holding a backslash runs as the server
/// reads it (it was refused before the server decided which statements run), and a commit
/// the lexer cannot see in it (`autocommit = 1` inside what it reads as a string) is found by
/// the checks the server answers: the bookkeeping is checked before it, and the migration
/// fails for taking the transaction out of Retort's hands.
pub fn mysql_backslashes_under_no_backslash_escapes(dialect: Dialect) {
    let db = TestDb::new(dialect, "nobackslash");
    script(
        &db,
        &[
            (
                "sql",
                "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')",
            ),
            ("sql", "CREATE TABLE paths (p TEXT)"),
            ("sql", r"INSERT INTO paths VALUES ('C:\temp\new')"),
        ],
    );
    let project = Project::with_fixtures(&[HOSTILE]);
    let out = project.run(&db, &["upgrade"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(db.strings("SELECT p FROM paths"), [r"C:\temp\new"]);

    let db = TestDb::new(dialect, "nobackslash");
    db.execute("CREATE TABLE kept_rows (a INT)");
    script(
        &db,
        &[
            (
                "sql",
                "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')",
            ),
            ("sql", "INSERT INTO kept_rows VALUES (1)"),
            ("sql", r"SET @a = 'x\', autocommit = 1 -- '"),
            ("sql", "INSERT INTO kept_rows VALUES (2)"),
        ],
    );
    let err = upgrade_fails(&project, &db);
    assert!(
        err.contains("autocommit") || err.contains("transaction"),
        "{err}"
    );
    assert_eq!(hostile_state(&db).as_deref(), Some("upgrading"), "{err}");
    assert!(!err.contains("rolled back: the database is still"), "{err}");
}

/// A commit hidden where no statement says COMMIT (a procedure's body, here) is found by
/// asking the server after each statement: the journal marks where the migration's work
/// committed, the rows before it stay and are said to, the rows after it roll back.
pub fn mysql_hidden_commits_are_journaled_where_they_happened(dialect: Dialect) {
    let db = TestDb::new(dialect, "hiddencommit");
    script(
        &db,
        &[
            ("sql", "CREATE TABLE hc (a INT)"),
            ("sql", "CREATE PROCEDURE hc_commit() COMMIT"),
            ("sql", "INSERT INTO hc VALUES (1)"),
            ("sql", "CALL hc_commit()"),
            ("sql", "INSERT INTO hc VALUES (2)"),
            ("fail", "after the hidden commit"),
        ],
    );
    let project = Project::with_fixtures(&[HOSTILE]);
    let err = upgrade_fails(&project, &db);
    assert_eq!(db.strings("SELECT CAST(a AS CHAR) FROM hc"), ["1"], "{err}");
    let journal = db.strings(&format!(
        "SELECT journal FROM retort_history WHERE revision = '{HOSTILE}'"
    ));
    let lines: Vec<&str> = journal[0].lines().collect();
    let marked: Vec<&&str> = lines
        .iter()
        .filter(|l| l.ends_with("— committed"))
        .collect();
    assert!(
        marked.iter().any(|l| l.starts_with("CALL hc_commit()")),
        "{journal:?}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.starts_with("INSERT INTO hc VALUES (1)") && l.ends_with("— committed")),
        "{journal:?}"
    );
    assert_not_applied(&db, &err);
}

/// One statement run again and again is one journal entry — but not across a commit: when a
/// repetition commits through a procedure (its second call here), the entry up to it is
/// marked committed and written before the next call, and the calls after it start another
/// entry; a query opened between two executions (whose opening commits on MySQL) splits them
/// too. The journal never folds committed work into an entry
/// that reads as rolled back, or the reverse.
pub fn mysql_a_repeated_statement_that_commits_splits_its_journal_entry(dialect: Dialect) {
    let db = TestDb::new(dialect, "repeatcommit");
    script(
        &db,
        &[
            ("sql", "CREATE TABLE rc (a INT)"),
            (
                "sql",
                "CREATE PROCEDURE rc_step() BEGIN INSERT INTO rc SELECT COUNT(*) + 1 FROM rc; \
                 IF (SELECT COUNT(*) FROM rc) = 2 THEN COMMIT; END IF; END",
            ),
            ("sql", "CALL rc_step()"),
            ("sql", "CALL rc_step()"),
            ("sql", "CALL rc_step()"),
            ("sql", "CALL rc_step()"),
            // A query opened after writing commits them on MySQL: it ends the run too.
            ("sql", "INSERT INTO rc VALUES (10)"),
            ("query", "SELECT a FROM rc"),
            ("sql", "INSERT INTO rc VALUES (10)"),
            ("fail", "after the calls"),
        ],
    );
    let project = Project::with_fixtures(&[HOSTILE]);
    let err = upgrade_fails(&project, &db);
    assert_eq!(
        db.strings("SELECT CAST(a AS CHAR) FROM rc ORDER BY a"),
        ["1", "2", "3", "4", "10"],
        "the second call committed rows 1-2, the query's opening 3, 4 and the first 10; \
         the second 10 rolled back: {err}"
    );
    let journal = db.strings(&format!(
        "SELECT journal FROM retort_history WHERE revision = '{HOSTILE}'"
    ));
    let calls: Vec<&str> = journal[0]
        .lines()
        .filter(|l| l.starts_with("CALL rc_step()"))
        .collect();
    assert_eq!(calls.len(), 2, "{journal:?}");
    assert!(
        calls[0].starts_with("CALL rc_step() ×2 ") && calls[0].ends_with("— committed"),
        "{journal:?}"
    );
    assert!(
        calls[1].starts_with("CALL rc_step() ×2 ") && !calls[1].ends_with("— committed"),
        "{journal:?}"
    );
    let inserts: Vec<&str> = journal[0]
        .lines()
        .filter(|l| l.starts_with("INSERT INTO rc VALUES (10)"))
        .collect();
    assert_eq!(
        inserts,
        [
            "INSERT INTO rc VALUES (10) → 1 row(s)",
            "INSERT INTO rc VALUES (10) → 1 row(s)"
        ],
        "the query between them splits the entry: {journal:?}"
    );
    assert_not_applied(&db, &err);
}

/// Rehearsals touch nothing real (issue 25). A declared schema runs through the door a
/// migration's SQL takes on a scratch database: on SQLite an `ATTACH` of the real file is
/// refused; on MariaDB the scratch database is reached as a temporary account granted only
/// it, so a dump's `USE app` and a rehearsed migration's `app.victim` reach nothing. A failed
/// rehearsal says it was one (never "run `retort resolve`" about the scratch database), and a
/// scratch database a killed run left is dropped by the next rehearsal on the server.
pub fn rehearsals_touch_nothing_real(dialect: Dialect) {
    let db = TestDb::new(dialect, "rehearsal");
    db.execute("CREATE TABLE victim (a INTEGER)");
    db.execute("INSERT INTO victim VALUES (1)");
    let real = db
        .url
        .rsplit('/')
        .next()
        .unwrap()
        .split('?')
        .next()
        .unwrap()
        .to_string();
    let project = Project::empty();
    let root = project.dir.path();
    std::fs::write(
        root.join("retort.toml"),
        "[databases.rehearsal]\nurl = \"${DATABASE_URL}\"\nmigrations = \"migrations\"\nschema = \"schema.sql\"\n",
    )
    .unwrap();
    let reach = match dialect {
        Dialect::Sqlite => format!(
            "ATTACH DATABASE '{}' AS real;\nDELETE FROM real.victim;\n",
            db.sqlite_path().display()
        ),
        Dialect::Mysql => format!("USE `{real}`;\nDELETE FROM victim;\n"),
        Dialect::Postgres => "DELETE FROM victim;\n".to_string(),
    };
    std::fs::write(
        root.join("schema.sql"),
        format!("CREATE TABLE t (a INTEGER);\n{reach}"),
    )
    .unwrap();
    let out = project.run(&db, &["diff"]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("schema.sql") && err.contains("scratch"),
        "{err}"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM victim"), 1, "{err}");

    // A migration rehearsed by `check` and `upgrade --sql`.
    let up = match dialect {
        Dialect::Mysql => format!("CREATE TABLE t (a INTEGER);\nDELETE FROM `{real}`.victim;\n"),
        _ => "CREATE TABLE t (a INTEGER);\nDELETE FROM victim;\n".to_string(),
    };
    std::fs::write(
        project.migrations().join("20261206000100_reach.up.sql"),
        format!("-- retort: parents = none\n{up}"),
    )
    .unwrap();
    std::fs::write(
        project.migrations().join("20261206000100_reach.down.sql"),
        "DROP TABLE t;\n",
    )
    .unwrap();
    for args in [&["check"][..], &["upgrade", "--sql"][..]] {
        let out = project.run(&db, args);
        let err = stderr(&out);
        assert_ne!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(!err.contains("retort resolve"), "{args:?}: {err}");
        assert!(err.contains("rehearsal"), "{args:?}: {err}");
        assert_eq!(
            db.count("SELECT COUNT(*) FROM victim"),
            1,
            "{args:?}: {err}"
        );
    }
    assert!(!db.tables().contains(&"retort_history".to_string()));

    // What a killed rehearsal left: dropped by the next one (older than six hours).
    if dialect != Dialect::Sqlite {
        let stale = "retort_scratch_1000_1_0_killed";
        let admin = &db;
        admin.execute(&format!("CREATE DATABASE {stale}"));
        let listed = |admin: &TestDb| match dialect {
            Dialect::Postgres => admin.count(&format!(
                "SELECT COUNT(*) FROM pg_database WHERE datname = '{stale}'"
            )),
            _ => admin.count(&format!(
                "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = '{stale}'"
            )),
        };
        assert_eq!(listed(admin), 1);
        let _ = project.run(&db, &["check"]);
        assert_eq!(
            listed(admin),
            0,
            "the stale scratch database is still there"
        );
    }
}

/// On MariaDB a migration whose statements so far cannot have committed (plain DML, and the
/// server reported no commit point) is rolled back whole when it fails, here on a statement
/// refused before it was sent: no `upgrading` row, no "DDL may have run", and it says so.
pub fn mysql_a_failure_before_any_commit_rolls_back_whole(dialect: Dialect) {
    let db = TestDb::new(dialect, "nocommit");
    db.execute("CREATE TABLE kept_rows (a INT)");
    script(
        &db,
        &[
            ("sql", "INSERT INTO kept_rows VALUES (1)"),
            ("sql", "XA START 'escape'"),
        ],
    );
    let project = Project::with_fixtures(&[HOSTILE]);
    let err = upgrade_fails(&project, &db);
    assert_eq!(hostile_state(&db), None, "{err}");
    assert!(err.contains("rolled back"), "{err}");
    assert!(!err.contains("may have run"), "{err}");
    assert_eq!(db.count("SELECT COUNT(*) FROM kept_rows"), 0, "{err}");
}

/// MySQL: DDL on the bookkeeping built at run time inside a routine body runs when the routine
/// is called, and commits at once (the account's privileges are the guarantee there:
/// docs/security.md). The run fails, and what it says afterwards must be true: not that
/// `retort_history` holds an unfinished row, since the table is gone.
pub fn mysql_a_committed_change_to_the_bookkeeping_is_reported_as_such(dialect: Dialect) {
    let db = TestDb::new(dialect, "damaged");
    script(
        &db,
        &[
            (
                "sql",
                "CREATE PROCEDURE drop_the_history() BEGIN \
                 SET @q = CONCAT('DROP TABLE retort_', 'history'); \
                 PREPARE s FROM @q; EXECUTE s; DEALLOCATE PREPARE s; END",
            ),
            ("sql", "CALL drop_the_history()"),
            ("sql", "CREATE TABLE after_attack (a INTEGER)"),
        ],
    );
    let project = Project::with_fixtures(&[HOSTILE]);
    let err = upgrade_fails(&project, &db);
    assert!(
        !db.tables().contains(&"retort_history".to_string()),
        "{err}"
    );
    assert!(
        err.contains("Retort's bookkeeping is not as Retort left it")
            && err.contains("retort_history no longer holds 20261202000000's `upgrading` row"),
        "{err}"
    );
    assert!(!err.contains("left `upgrading`"), "{err}");
}

/// PostgreSQL: a `COMMIT` the host's lexer does not see (it reads `a$b$ … c$b$` as a
/// dollar-quoted string, the server as two identifiers with a `$` in them) is not the
/// guarantee's end: Retort asks the server which transaction the
/// connection is in (`transaction_timestamp()` against the one `BEGIN` answered). A migration
/// that escaped fails, whether it then succeeds or fails, and the message says its work
/// committed without its history row — never "rolled back".
pub fn an_escaped_transaction_is_found_by_asking_the_server(dialect: Dialect) {
    for then in ["sql", "fail"] {
        let db = TestDb::new(dialect, "escaped");
        script(
            &db,
            &[
                ("sql", "CREATE TABLE esc_a (a INTEGER)"),
                ("sql", "SELECT 1 AS a$b$; COMMIT; SELECT 1 AS c$b$"),
                (then, "CREATE TABLE esc_b (a INTEGER)"),
            ],
        );
        let project = Project::with_fixtures(&[HOSTILE]);
        let err = upgrade_fails(&project, &db);
        assert!(
            err.contains("ended the transaction Retort ran it in"),
            "{then}: {err}"
        );
        assert!(!err.contains("rolled back"), "{then}: {err}");
        assert!(
            err.contains("record:") && err.contains(" stamp "),
            "the binary names the command that records it: {then}: {err}"
        );
        assert_eq!(hostile_state(&db), None, "{then}: {err}");
        // What the message says: its work committed on its own.
        assert!(db.tables().contains(&"esc_a".to_string()), "{then}: {err}");
    }
}
