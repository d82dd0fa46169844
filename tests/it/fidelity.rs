//! The fidelity suite (issue 15, item 4): one realistic history — tables with foreign keys and
//! defaults, an index, a view, a routine and a trigger, a no-transaction index build, a column
//! added later, data, an empty down, a comment-only migration — written in each tool's layout,
//! imported, built and run by Retort, and compared by catalog introspection with the same
//! files applied directly by the engine's own client (`psql`, `mariadb`, `sqlite3`) in the
//! tool's order. Then down to base (nothing of it left) and up again (the same catalog).

use std::path::Path;
use std::process::Command;

use crate::common::{Dialect, Project, TestDb, stdout};

/// One migration of the history, in this dialect's SQL.
struct Step {
    name: &'static str,
    up: String,
    down: String,
    /// Runs outside a transaction (a concurrent index build on PostgreSQL).
    no_transaction: bool,
}

fn step(name: &'static str, up: &str, down: &str) -> Step {
    Step {
        name,
        up: up.to_string(),
        down: down.to_string(),
        no_transaction: false,
    }
}

/// The history; `concurrently` is whether the tool can run a migration outside a transaction.
fn history(dialect: Dialect, concurrently: bool) -> Vec<Step> {
    let routine = match dialect {
        Dialect::Postgres => step(
            "touch_trigger",
            "CREATE FUNCTION fb_touch() RETURNS trigger LANGUAGE plpgsql AS $$\nBEGIN\n  NEW.title := trim(NEW.title);\n  RETURN NEW;\nEND;\n$$;\n\
             CREATE TRIGGER fb_books_touch BEFORE INSERT ON fb_books FOR EACH ROW EXECUTE FUNCTION fb_touch();\n",
            "DROP TRIGGER fb_books_touch ON fb_books;\nDROP FUNCTION fb_touch();\n",
        ),
        Dialect::Mysql => step(
            "touch_trigger",
            "CREATE TRIGGER fb_books_touch BEFORE INSERT ON fb_books FOR EACH ROW SET NEW.title = TRIM(NEW.title);\n",
            "DROP TRIGGER fb_books_touch;\n",
        ),
        Dialect::Sqlite => step(
            "touch_trigger",
            "CREATE TRIGGER fb_books_touch AFTER INSERT ON fb_books FOR EACH ROW\nBEGIN\n  UPDATE fb_books SET title = trim(title) WHERE id = NEW.id;\nEND;\n",
            "DROP TRIGGER fb_books_touch;\n",
        ),
    };
    let drop_index = |name: &str| match dialect {
        Dialect::Mysql => format!("DROP INDEX {name} ON fb_books;\n"),
        _ => format!("DROP INDEX {name};\n"),
    };
    let mut title_index = step(
        "index_titles",
        "CREATE INDEX fb_books_title ON fb_books (title);\n",
        &drop_index("fb_books_title"),
    );
    if dialect == Dialect::Postgres && concurrently {
        title_index.up = "CREATE INDEX CONCURRENTLY fb_books_title ON fb_books (title);\n".into();
        title_index.no_transaction = true;
    }
    vec![
        step(
            "create_authors",
            "CREATE TABLE fb_authors (\n  id INTEGER PRIMARY KEY,\n  name VARCHAR(100) NOT NULL,\n  country CHAR(2) DEFAULT 'NZ'\n);\n",
            "DROP TABLE fb_authors;\n",
        ),
        step(
            "create_books",
            "CREATE TABLE fb_books (\n  id INTEGER PRIMARY KEY,\n  author_id INTEGER NOT NULL REFERENCES fb_authors (id),\n  title VARCHAR(200) NOT NULL,\n  price DECIMAL(10,2) DEFAULT 0 CHECK (price >= 0)\n);\n\
             CREATE INDEX fb_books_author ON fb_books (author_id);\n",
            "DROP TABLE fb_books;\n",
        ),
        step(
            "titles_view",
            "CREATE VIEW fb_titles AS SELECT b.title, a.name FROM fb_books b JOIN fb_authors a ON a.id = b.author_id;\n",
            "DROP VIEW fb_titles;\n",
        ),
        routine,
        step(
            "seed",
            "INSERT INTO fb_authors (id, name) VALUES (1, 'Ada; Lovelace');\nINSERT INTO fb_books (id, author_id, title, price) VALUES (1, 1, '  Notes  ', 9.50);\n",
            "-- the rows go with their tables\n",
        ),
        title_index,
        step(
            "add_isbn",
            "ALTER TABLE fb_books ADD COLUMN isbn VARCHAR(20);\n",
            "ALTER TABLE fb_books DROP COLUMN isbn;\n",
        ),
        step("nothing", "-- nothing to do in this version\n", ""),
    ]
}

/// Writes `steps` into `dir` in `tool`'s layout; the files' version of step `i` is `i + 1`.
fn write_layout(tool: &str, dialect: Dialect, dir: &Path, steps: &[Step]) {
    let put = |name: String, text: &str| {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    };
    let popx_dialect = match dialect {
        Dialect::Postgres => "postgres",
        Dialect::Mysql => "mysql",
        Dialect::Sqlite => "sqlite3",
    };
    let mut plan = String::from("%syntax-version=1.0.0\n%project=fidelity\n\n");
    for (i, s) in steps.iter().enumerate() {
        let v = i + 1;
        let n = s.name;
        match tool {
            "sqlx" => {
                let marker = if s.no_transaction {
                    "-- no-transaction\n"
                } else {
                    ""
                };
                put(
                    format!("{:014}_{n}.up.sql", v),
                    &format!("{marker}{}", s.up),
                );
                put(format!("{:014}_{n}.down.sql", v), &s.down);
            }
            "dbmate" => {
                let opts = if s.no_transaction {
                    " transaction:false"
                } else {
                    ""
                };
                put(
                    format!("{:014}_{n}.sql", v),
                    &format!("-- migrate:up{opts}\n{}\n-- migrate:down\n{}", s.up, s.down),
                );
            }
            "goose" => {
                let marker = if s.no_transaction {
                    "-- +goose NO TRANSACTION\n"
                } else {
                    ""
                };
                put(
                    format!("{:05}_{n}.sql", v),
                    &format!(
                        "{marker}-- +goose Up\n-- +goose StatementBegin\n{}-- +goose StatementEnd\n\
                         -- +goose Down\n-- +goose StatementBegin\n{}-- +goose StatementEnd\n",
                        s.up, s.down
                    ),
                );
            }
            "flyway" => {
                put(format!("V{v}__{n}.sql"), &s.up);
                put(format!("U{v}__{n}.sql"), &s.down);
                if s.no_transaction {
                    put(
                        format!("V{v}__{n}.sql.conf"),
                        "executeInTransaction=false\n",
                    );
                }
            }
            "liquibase" => {
                let attrs = if s.no_transaction {
                    " runInTransaction:false"
                } else {
                    ""
                };
                let rollback: String = s
                    .down
                    .lines()
                    .filter(|l| !l.trim_start().starts_with("--"))
                    .map(|l| format!("--rollback {l}\n"))
                    .collect();
                let rollback = if rollback.is_empty() {
                    "--rollback not required\n".into()
                } else {
                    rollback
                };
                put(
                    format!("{v:03}_{n}.sql"),
                    &format!(
                        "--liquibase formatted sql\n--changeset fidelity:{n}{attrs}\n{}{rollback}",
                        s.up
                    ),
                );
            }
            "popx" => {
                let up = if s.no_transaction {
                    format!("{:014}_{n}.{popx_dialect}.autocommit.up.sql", v)
                } else {
                    format!("{:014}_{n}.up.sql", v)
                };
                put(up, &s.up);
                put(format!("{:014}_{n}.down.sql", v), &s.down);
            }
            "sqitch" => {
                let wrap = |t: &str| {
                    if s.no_transaction {
                        t.to_string()
                    } else {
                        format!("BEGIN;\n{t}COMMIT;\n")
                    }
                };
                put(format!("deploy/{n}.sql"), &wrap(&s.up));
                put(format!("revert/{n}.sql"), &wrap(&s.down));
                plan.push_str(&format!(
                    "{n} 2026-01-01T00:00:0{}Z Fidelity <f@example.com> # {n}\n",
                    i % 10
                ));
            }
            "golang-migrate" => {
                put(format!("{v}_{n}.up.sql"), &s.up);
                put(format!("{v}_{n}.down.sql"), &s.down);
            }
            "diesel" => {
                let d = format!("2026-01-01-0000{v:02}_{n}");
                put(format!("{d}/up.sql"), &s.up);
                put(format!("{d}/down.sql"), &s.down);
                if s.no_transaction {
                    put(format!("{d}/metadata.toml"), "run_in_transaction = false\n");
                }
            }
            "refinery" => {
                let marker = if s.no_transaction {
                    "-- refinery:noTransaction\n"
                } else {
                    ""
                };
                put(format!("V{v}__{n}.sql"), &format!("{marker}{}", s.up));
            }
            "prisma" => put(format!("{:014}_{n}/migration.sql", v), &s.up),
            other => panic!("no layout for {other}"),
        }
    }
    if tool == "sqitch" {
        put("sqitch.plan".into(), &plan);
    }
}

/// Applies `scripts` in order with the engine's own client, as a user of the tool would.
fn apply_with_client(db: &TestDb, scripts: &[&str]) {
    let file = tempfile::NamedTempFile::new().unwrap();
    for script in scripts {
        std::fs::write(file.path(), script).unwrap();
        let out = match db.dialect {
            Dialect::Postgres => Command::new("psql")
                .args(["-q", "-v", "ON_ERROR_STOP=1", "-f"])
                .arg(file.path())
                .arg(&db.url)
                .output(),
            Dialect::Mysql => {
                let rest = db.url.trim_start_matches("mysql://");
                let (user, rest) = rest.split_once('@').unwrap();
                let (host, name) = rest.split_once('/').unwrap();
                let (host, port) = host.split_once(':').unwrap_or((host, "3306"));
                Command::new("mariadb")
                    .args(["-h", host, "-P", port, "-u", user, name])
                    .stdin(std::fs::File::open(file.path()).unwrap())
                    .output()
            }
            Dialect::Sqlite => Command::new("sqlite3")
                .arg("-bail")
                .arg(db.sqlite_path())
                .stdin(std::fs::File::open(file.path()).unwrap())
                .output(),
        }
        .expect("the engine's client (psql, mariadb, sqlite3) on PATH");
        assert!(
            out.status.success(),
            "the client failed on:\n{script}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// The schema's catalog as sorted lines: columns with types, nullability and defaults,
/// constraints, indexes, views, routines and triggers (Retort's own tables left out).
fn catalog(db: &TestDb) -> Vec<String> {
    let queries: &[&str] = match db.dialect {
        Dialect::Postgres => &[
            "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || COALESCE(column_default, '-') FROM information_schema.columns WHERE table_schema = 'public' AND table_name NOT LIKE 'retort%'",
            "SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text NOT LIKE 'retort%'",
            "SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename NOT LIKE 'retort%'",
            "SELECT 'view ' || viewname || ' ' || definition FROM pg_views WHERE schemaname = 'public'",
            "SELECT 'routine ' || pg_get_functiondef(p.oid) FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace",
            "SELECT 'trigger ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal",
        ],
        Dialect::Mysql => &[
            "SELECT CAST(CONCAT('column ', table_name, '.', column_name, ' ', column_type, ' ', is_nullable, ' ', COALESCE(column_default, '-')) AS CHAR) FROM information_schema.columns WHERE table_schema = DATABASE() AND table_name NOT LIKE 'retort%'",
            "SELECT CAST(CONCAT('index ', table_name, ' ', index_name, ' ', non_unique, ' ', seq_in_index, ' ', column_name) AS CHAR) FROM information_schema.statistics WHERE table_schema = DATABASE() AND table_name NOT LIKE 'retort%'",
            "SELECT CAST(CONCAT('constraint ', table_name, ' ', constraint_type) AS CHAR) FROM information_schema.table_constraints WHERE table_schema = DATABASE() AND table_name NOT LIKE 'retort%'",
            // The definition names the database, which differs between the two.
            "SELECT CAST(CONCAT('view ', table_name, ' ', REPLACE(view_definition, CONCAT('`', DATABASE(), '`.'), '')) AS CHAR) FROM information_schema.views WHERE table_schema = DATABASE()",
            "SELECT CAST(CONCAT('trigger ', trigger_name, ' ', action_timing, ' ', event_manipulation, ' ', action_statement) AS CHAR) FROM information_schema.triggers WHERE trigger_schema = DATABASE()",
        ],
        Dialect::Sqlite => &[
            "SELECT type || ' ' || name || ' ' || COALESCE(sql, '-') FROM sqlite_master WHERE name NOT LIKE 'retort%' AND name NOT LIKE 'sqlite_%'",
        ],
    };
    let mut lines: Vec<String> = queries.iter().flat_map(|q| db.strings(q)).collect();
    lines.sort();
    lines
}

/// Import, build, upgrade; the catalog must be what the client made of the same files. Down to
/// base leaves nothing of it (for a tool with down scripts); up again gives the same catalog.
fn fidelity(dialect: Dialect, tool: &str, concurrently: bool, downs: bool) {
    let steps = history(dialect, concurrently);
    let reference = TestDb::new(dialect, &format!("fidref_{tool}"));
    apply_with_client(
        &reference,
        &steps.iter().map(|s| s.up.as_str()).collect::<Vec<_>>(),
    );
    let expected = catalog(&reference);
    assert!(
        expected.iter().any(|l| l.contains("fb_books_touch")),
        "{expected:#?}"
    );

    let db = TestDb::new(dialect, &format!("fid_{tool}"));
    let project = Project::empty();
    std::fs::remove_dir(project.migrations()).unwrap();
    let source = project.dir.path().join("history");
    write_layout(tool, dialect, &source, &steps);
    let out = project.run_ok(&db, &["import", "--from", tool, "history"]);
    assert_eq!(
        stdout(&out).matches("imported ").count(),
        steps.len(),
        "{}",
        stdout(&out)
    );
    project.run_ok(&db, &["build", "-q"]);
    project.run_ok(&db, &["upgrade"]);
    assert_eq!(
        catalog(&db),
        expected,
        "{tool} on {dialect:?}: Retort's result differs from the client's"
    );
    if !downs {
        return;
    }
    project.run_ok(&db, &["downgrade", "base"]);
    assert_eq!(
        catalog(&db),
        Vec::<String>::new(),
        "{tool}: the downgrade left a trace"
    );
    project.run_ok(&db, &["upgrade"]);
    assert_eq!(catalog(&db), expected, "{tool}: up again differs");
}

/// Every importer but Atlas (whose directories need an `atlas.sum`, checked by its own test):
/// (tool, has a no-transaction marker, has down scripts).
pub fn imported_histories_match_the_engines_own_client(dialect: Dialect) {
    let client = match dialect {
        Dialect::Postgres => "psql",
        Dialect::Mysql => "mariadb",
        Dialect::Sqlite => "sqlite3",
    };
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {client}")])
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        // A fresh machine with only the Rust toolchain has no sqlite3; CI installs every client.
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {client} is not on PATH: the fidelity suite needs it"
        );
        eprintln!("SKIPPED the fidelity suite on {dialect:?}: {client} is not on PATH");
        return;
    }
    for (tool, concurrently, downs) in [
        ("sqlx", true, true),
        ("golang-migrate", false, true),
        ("diesel", true, true),
        ("dbmate", true, true),
        ("goose", true, true),
        ("flyway", true, true),
        ("liquibase", true, true),
        ("popx", true, true),
        ("sqitch", true, true),
        ("refinery", true, false),
        ("prisma", false, false),
    ] {
        fidelity(dialect, tool, concurrently, downs);
    }
}
