//! The guest conformance kit (tests/conformance/README.md): the host side, run against the
//! Rust, Python and JavaScript implementations on every dialect.

use crate::common::{Dialect, Project, TestDb, stderr, stdout};

const COLUMNS: &str = "id, b, i, f, t, bt, d, dt, tm, ts, tz, u, j";

fn ddl(dialect: Dialect, table: &str) -> String {
    let cols = match dialect {
        Dialect::Sqlite => {
            "id INTEGER PRIMARY KEY, b BOOLEAN, i BIGINT, f DOUBLE, t TEXT, bt BLOB, \
             d DECIMAL TEXT, dt DATE, tm TIME, ts TIMESTAMP, tz TIMESTAMPTZ, u UUID, j JSON"
        }
        Dialect::Postgres => {
            "id BIGINT PRIMARY KEY, b BOOLEAN, i BIGINT, f DOUBLE PRECISION, t TEXT, bt BYTEA, \
             d NUMERIC, dt DATE, tm TIME, ts TIMESTAMP, tz TIMESTAMPTZ, u UUID, j JSONB"
        }
        Dialect::Mysql => {
            "id BIGINT PRIMARY KEY, b BOOLEAN, i BIGINT, f DOUBLE, \
             t VARCHAR(100) CHARACTER SET utf8mb4, bt VARBINARY(100), d DECIMAL(38,6), dt DATE, \
             tm TIME(6), ts DATETIME(6), tz TIMESTAMP(6) NULL, u UUID, j JSON"
        }
    };
    format!("CREATE TABLE {table} ({cols})")
}

fn seed(dialect: Dialect) -> Vec<&'static str> {
    match dialect {
        Dialect::Sqlite => vec![
            "INSERT INTO conf_src VALUES (1, 1, 9223372036854775807, 3.141592653589793, 'héllo wörld ✓ 日本', X'00FF10', \
             '12345678901234567890.123456', '2026-11-22', '13:14:15.123456', '2026-11-22 13:14:15.123456', \
             '2026-11-22T13:14:15.123456Z', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": [1, 2, {\"b\": null}]}')",
            "INSERT INTO conf_src VALUES (2, 0, -9223372036854775808, -0.5, '', X'', '-0.000001', '1970-01-01', \
             '00:00:00', '1999-12-31 23:59:59', '2000-01-01T00:00:00Z', '00000000-0000-0000-0000-000000000000', '[]')",
            "INSERT INTO conf_src (id) VALUES (3)",
        ],
        Dialect::Postgres => vec![
            "INSERT INTO conf_src VALUES (1, true, 9223372036854775807, 3.141592653589793, 'héllo wörld ✓ 日本', '\\x00ff10', \
             12345678901234567890.123456, '2026-11-22', '13:14:15.123456', '2026-11-22 13:14:15.123456', \
             '2026-11-22 13:14:15.123456+00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": [1, 2, {\"b\": null}]}')",
            "INSERT INTO conf_src VALUES (2, false, -9223372036854775808, -0.5, '', '\\x', -0.000001, '1970-01-01', \
             '00:00:00', '1999-12-31 23:59:59', '2000-01-01 00:00:00+00', '00000000-0000-0000-0000-000000000000', '[]')",
            "INSERT INTO conf_src (id) VALUES (3)",
        ],
        Dialect::Mysql => vec![
            "INSERT INTO conf_src VALUES (1, true, 9223372036854775807, 3.141592653589793, 'héllo wörld ✓ 日本', X'00FF10', \
             12345678901234567890.123456, '2026-11-22', '13:14:15.123456', '2026-11-22 13:14:15.123456', \
             '2026-11-22 13:14:15.123456', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": [1, 2, {\"b\": null}]}')",
            "INSERT INTO conf_src VALUES (2, false, -9223372036854775808, -0.5, '', X'', -0.000001, '1970-01-01', \
             '00:00:00', '1999-12-31 23:59:59', '2000-01-01 00:00:00', '00000000-0000-0000-0000-000000000000', '[]')",
            "INSERT INTO conf_src (id) VALUES (3)",
        ],
    }
}

/// Runs the kit against the guest whose artifact is `fixture` (found by id prefix).
pub fn run_kit(dialect: Dialect, project: Project, id: &str) {
    run_kit_with(dialect, &project, id, &[]);
}

/// [`run_kit`], every `retort` started with `env` set.
pub fn run_kit_with(
    dialect: Dialect,
    project: &Project,
    id: &str,
    env: &[(&str, &std::ffi::OsStr)],
) {
    let db = TestDb::new(dialect, &format!("conf{id}"));
    let retort = || {
        let mut command = project.retort(&db);
        command.envs(env.iter().copied());
        command
    };
    // MariaDB sessions run in UTC for Retort; the seed's TIMESTAMP is read back as written.
    for sql in [ddl(dialect, "conf_src"), ddl(dialect, "conf_dst")] {
        db.execute(&sql);
    }
    db.execute("CREATE TABLE conf_log (k VARCHAR(40) PRIMARY KEY, v TEXT)");
    if dialect == Dialect::Mysql {
        // The seed's TIMESTAMP literal is UTC, as Retort's MariaDB sessions are.
        let mut script = String::from("SET time_zone = '+00:00';");
        for s in seed(dialect) {
            script.push_str(s);
            script.push(';');
        }
        db.execute(&script);
    } else {
        for s in seed(dialect) {
            db.execute(s);
        }
    }

    let out = retort().arg("upgrade").output().unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{id} on {dialect:?}: {err}");
    assert!(
        err.contains(&format!("[{id}] info: conformance ok")),
        "{err}"
    );
    assert!(err.contains(&format!("[{id}] 3/3")), "{err}");

    // JSON compared normalised: SQLite and MariaDB keep JSON as text.
    let json = |table: &str| match dialect {
        Dialect::Sqlite => COLUMNS.replace(", j", ", json(j)") + " FROM " + table,
        Dialect::Mysql => COLUMNS.replace(", j", ", JSON_COMPACT(j)") + " FROM " + table,
        Dialect::Postgres => format!("{COLUMNS} FROM {table}"),
    };
    for (a, b) in [("conf_src", "conf_dst"), ("conf_dst", "conf_src")] {
        assert_eq!(
            db.count(&format!(
                "SELECT COUNT(*) FROM (SELECT {} EXCEPT SELECT {}) AS diff",
                json(a),
                json(b)
            )),
            0,
            "{id} on {dialect:?}: {a} has rows {b} lacks"
        );
    }
    assert_eq!(db.count("SELECT COUNT(*) FROM conf_dst"), 3);
    let log = |k: &str| {
        db.strings(&format!("SELECT v FROM conf_log WHERE k = '{k}'"))
            .concat()
    };
    let dialect_name = match dialect {
        Dialect::Sqlite => "sqlite",
        Dialect::Postgres => "postgres",
        Dialect::Mysql => "mysql",
    };
    assert_eq!(log("dialect"), dialect_name);
    assert_eq!(log("columns"), COLUMNS.replace(' ', ""));
    assert_eq!(log("batches"), "2");
    assert_eq!(log("affected"), "2");
    let code = log("error_code");
    match dialect {
        Dialect::Postgres => assert_eq!(code, "23505"),
        Dialect::Mysql => assert_eq!(code, "23000"),
        Dialect::Sqlite => assert!(code.starts_with("SQLITE_CONSTRAINT"), "{code}"),
    }
    let out = retort().args(["show", id]).output().unwrap();
    assert!(
        stdout(&out).contains("branch labels: conformance"),
        "{}",
        stdout(&out)
    );

    let out = retort().args(["downgrade", "base"]).output().unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(db.count("SELECT COUNT(*) FROM conf_dst"), 0);
    assert_eq!(db.count("SELECT COUNT(*) FROM conf_log"), 0);
}

pub fn conformance_rust(dialect: Dialect) {
    run_kit(
        dialect,
        Project::with_fixtures(&["20261104000000"]),
        "20261104000000",
    );
}

pub fn conformance_python(dialect: Dialect) {
    run_kit(
        dialect,
        Project::with_polyglot(&["20261104000100"]),
        "20261104000100",
    );
}

pub fn conformance_javascript(dialect: Dialect) {
    run_kit(
        dialect,
        Project::with_polyglot(&["20261104000200"]),
        "20261104000200",
    );
}

/// Runs a check of the Python helper with plain `python3` (`tests/conformance/<script>`, given
/// the helper and `args`): it passes when it prints "N passed, 0 failed".
fn python_check(script: &str, args: &[&str]) {
    let repo = crate::common::repo();
    let run = std::process::Command::new("python3")
        .arg(repo.join("tests/conformance").join(script))
        .arg(repo.join("guest-sdk/python/retort_guest.py"))
        .args(args.iter().map(|a| repo.join(a)))
        .output();
    let out = match run {
        Ok(out) => out,
        Err(e) if std::env::var("CI").as_deref() != Ok("true") => {
            eprintln!("SKIPPED {script}: no python3 ({e})");
            return;
        }
        Err(e) => panic!("python3 is needed in CI: {e}"),
    };
    assert!(out.status.success(), "{}{}", stdout(&out), stderr(&out));
    assert!(
        stdout(&out).contains(" passed, 0 failed"),
        "{}",
        stdout(&out)
    );
}

/// The Python helper's `Tx.script` splits scripts exactly as the Rust SDK's `script::split`:
/// both are checked against `tests/conformance/script_split.json` (the Rust side in
/// `guest-sdk`'s unit tests, the Python side here, with plain `python3`).
#[test]
fn python_helper_splits_scripts_like_the_rust_sdk() {
    python_check(
        "check_python_split.py",
        &["tests/conformance/script_split.json"],
    );
}

/// The Python helper's row making and its JSON batch choices (`tests/conformance/
/// check_python_rows.py`, plain `python3`): parameter sets go as JSON only when every value
/// reaches the host unchanged that way, results read as JSON only where a string can only be
/// text, and rows are the same objects from JSON values as from typed ones — including
/// keyword-only dataclasses, lossy conversions and missing columns, which no engine's
/// conformance data reaches.
#[test]
fn python_helper_makes_rows_the_same_from_json_and_typed_values() {
    python_check("check_python_rows.py", &[]);
}

/// The same, on scripts no one wrote by hand: thousands per dialect, made (deterministically)
/// of the pieces the two splitters must read alike — quotes of each kind with `;` and escapes
/// inside, each kind of comment (MySQL's `--` before a letter, `#`, versioned comments),
/// dollar quotes, `E'…'` strings, routine bodies, `DELIMITER` lines, characters of several
/// bytes. What the Rust lexer says is the expected answer; the two ports once drifted apart
/// for a session (MySQL's `--` rule reached the Rust side only).
#[test]
fn python_helper_splits_generated_scripts_like_the_rust_lexer() {
    const PIECES: &[&str] = &[
        "SELECT 1",
        "INSERT INTO t VALUES (2)",
        " ",
        "\n",
        ";",
        ";",
        "'a;b'",
        "'it''s'",
        r"'a\'b;'",
        r"'\\'",
        "\"x;y\"",
        "`q;r`",
        "-- c; d\n",
        "--1",
        "-- \n",
        "# e; f\n",
        "/* g; h */",
        "/*! SET @a = 1 */",
        "/*!50001 CREATE VIEW v AS SELECT 1 */",
        "/*M!100100 SET @b = 2 */",
        "$$ i; j $$",
        "$t$ k; $t$",
        "$1",
        r"E'l\'; m'",
        "é✓",
        "CREATE PROCEDURE p() BEGIN SELECT 1; SELECT 2; END",
        "BEGIN",
        "END",
        "CASE",
        "CREATE TRIGGER tr AFTER INSERT ON t FOR EACH ROW BEGIN UPDATE t SET a = 1; END",
        "\nDELIMITER //\n",
        "//",
        "\nDELIMITER ;\n",
        "2 --a",
        "'",
        "/*",
    ];
    let mut seed: u64 = 0x5eed_1234_abcd_0042;
    let mut next = |n: usize| {
        seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((seed >> 33) % n as u64) as usize
    };
    let mut cases = Vec::new();
    for (dialect, name) in [
        (retort_sql::Dialect::Mysql, "mysql"),
        (retort_sql::Dialect::Postgres, "postgres"),
        (retort_sql::Dialect::Sqlite, "sqlite"),
    ] {
        for n in 0..1500 {
            let len = 1 + next(9);
            let script: String = (0..len).map(|_| PIECES[next(PIECES.len())]).collect();
            let mut case = serde_json::json!({
                "name": format!("{name} #{n}: {script:?}"),
                "dialect": name,
                "script": script,
            });
            match retort_sql::split(&script, dialect) {
                Ok(statements) => case["statements"] = serde_json::json!(statements),
                Err(_) => case["error"] = serde_json::json!("unterminated"),
            }
            cases.push(case);
        }
    }
    let dir = tempfile::tempdir().expect("a temp dir");
    let file = dir.path().join("generated_split.json");
    std::fs::write(&file, serde_json::to_string(&cases).expect("JSON")).expect("written");
    python_check(
        "check_python_split.py",
        &[file.to_str().expect("a UTF-8 path")],
    );
}
