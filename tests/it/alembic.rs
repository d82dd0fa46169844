//! Coming from Alembic: `retort import --from alembic` reads a history statically and writes
//! Python migrations that run the revisions as written on Retort's Alembic layer.

use crate::common::{Dialect, Project, TestDb, polyglot, repo, stderr, stdout};

/// The shared Python runtime the polyglot fixtures are built on, copied into `project`, so
/// `upgrade` builds the imported revisions without componentize-py.
fn with_python_runtime(project: &Project) {
    let runtimes = polyglot().join("runtimes");
    let into = project.migrations().join("runtimes");
    std::fs::create_dir_all(&into).unwrap();
    for entry in std::fs::read_dir(&runtimes).unwrap().flatten() {
        let name = entry.file_name();
        if name.to_string_lossy().starts_with("python") {
            std::fs::copy(entry.path(), into.join(name)).unwrap();
        }
    }
}

fn shop() -> std::path::PathBuf {
    repo().join("tests/alembic/shop")
}

/// The test history (`tests/alembic/shop`: a root, two branches — one labelled — a merge,
/// `bulk_insert`, `sa.text` with bound parameters, a data migration through `get_bind()`,
/// `batch_alter_table`, a MySQL dialect type, the inspector) is imported with its graph,
/// upgraded, and downgraded to base, leaving nothing.
pub fn an_alembic_history_imports_and_runs(dialect: Dialect) {
    let db = TestDb::new(dialect, "alembic");
    let project = Project::empty();
    let out = project.run_ok(
        &db,
        &["import", "--from", "alembic", &shop().display().to_string()],
    );
    let text = stdout(&out);
    assert_eq!(text.matches("imported ").count(), 5, "{text}");
    assert!(
        text.contains(
            "4d5e6f7a8b9c_merge.py -> migrations/4d5e6f7a8b9c_merge_plan_and_orders.py  (merge)"
        ),
        "{text}"
    );
    with_python_runtime(&project);

    // One branch's revision (an id starting with a letter, as most of Alembic's): its root and
    // itself, not the other branch.
    project.run_ok(&db, &["upgrade", "c3d4e5f6a7b8"]);
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 2);
    assert_eq!(db.count("SELECT COUNT(*) FROM orders"), 2);
    assert!(
        db.try_execute("SELECT plan FROM accounts").is_err(),
        "the other branch did not run"
    );
    project.run_ok(&db, &["upgrade"]);
    assert_eq!(
        db.strings("SELECT email FROM accounts ORDER BY id"),
        [
            "ada@corp.example",
            "grace@home.example",
            "o'brien@corp.example"
        ],
        "the data migration lowered every e-mail"
    );
    assert_eq!(
        db.strings("SELECT plan FROM accounts ORDER BY id"),
        ["pro", "free", "pro"],
        "sa.text's bound parameters"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM orders WHERE qty = 1"), 2);
    assert_eq!(db.strings("SELECT what FROM audit"), ["normalised"]);
    assert!(
        db.try_execute("INSERT INTO orders (id, account_id, total) VALUES (12, 1, -1)")
            .is_err(),
        "the check constraint holds"
    );
    assert!(
        db.try_execute("INSERT INTO accounts (id, email) VALUES (9, 'grace@home.example')")
            .is_err(),
        "the unique constraint holds"
    );
    // A new revision in the same style: `new` sees an Alembic-style project and scaffolds one
    // whose down_revision is the head.
    project.run_ok(&db, &["new", "add nickname"]);
    let file = std::fs::read_dir(project.migrations())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("_add_nickname.py"))
        .expect("the scaffolded revision");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("down_revision = \"5e6f7a8b9c0d\"")
            && text.contains("from alembic import op"),
        "{text}"
    );
    let text = text.replacen(
        "    pass\n\n\ndef downgrade():\n    pass\n",
        "    op.add_column('accounts', sa.Column('nickname', sa.String(40)))\n\n\ndef downgrade():\n    op.drop_column('accounts', 'nickname')\n",
        1,
    );
    std::fs::write(&file, text).unwrap();
    project.run_ok(&db, &["upgrade"]);
    db.execute("UPDATE accounts SET nickname = 'ada' WHERE id = 1");

    // The graph: a merge with both branches as parents, the label kept.
    let history = stdout(&project.run_ok(&db, &["history"]));
    assert!(history.contains("4d5e6f7a8b9c"), "{history}");
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 6);

    project.run_ok(&db, &["downgrade", "base"]);
    let left: Vec<String> = db
        .tables()
        .into_iter()
        // (SQLite's own `sqlite_sequence` stays once an AUTOINCREMENT table existed.)
        .filter(|t| !t.starts_with("retort_") && !t.starts_with("sqlite_"))
        .collect();
    assert!(
        left.is_empty(),
        "downgrade to base leaves nothing: {left:?}"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 0);

    // A database Alembic migrated: `alembic_version` holds its heads. At two (before the
    // merge), adopting records both branches, and upgrading runs what lies after them.
    db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)");
    db.execute("INSERT INTO alembic_version VALUES ('2b3c4d5e6f7a'), ('c3d4e5f6a7b8')");
    let out = project.run_ok(&db, &["stamp", "--adopt", "alembic"]);
    assert!(
        stdout(&out).contains("alembic is at 2b3c4d5e6f7a, c3d4e5f6a7b8"),
        "{}",
        stdout(&out)
    );
    assert_eq!(
        db.strings("SELECT revision FROM retort_history ORDER BY revision"),
        ["1a2b3c4d5e6f", "2b3c4d5e6f7a", "c3d4e5f6a7b8"],
        "the root and both branches, not the merge"
    );
    let out = project.run_ok(&db, &["upgrade", "--dry-run"]);
    assert!(
        stdout(&out).contains("would upgrade 3 migrations"),
        "the merge, the revision after it and the one written since: {}",
        stdout(&out)
    );
    // And at one head, the path to it.
    db.execute("DELETE FROM retort_history");
    db.execute("DELETE FROM alembic_version");
    db.execute("INSERT INTO alembic_version VALUES ('5e6f7a8b9c0d')");
    project.run_ok(&db, &["stamp", "--adopt", "alembic"]);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM retort_history"),
        5,
        "the path to the head, both branches and the merge"
    );
    let out = project.run_ok(&db, &["upgrade", "--dry-run"]);
    assert!(
        stdout(&out).contains("would upgrade 1 migration"),
        "only the revision written since is left to run: {}",
        stdout(&out)
    );
}

/// What cannot run in a sandbox is refused at import, every finding with its file and line,
/// and nothing is written.
pub fn alembic_revisions_that_cannot_run_in_a_sandbox_are_refused(dialect: Dialect) {
    let db = TestDb::new(dialect, "alembicrefused");
    let project = Project::empty();
    let history = project.dir.path().join("legacy/versions");
    std::fs::create_dir_all(&history).unwrap();
    let write = |name: &str, body: &str| std::fs::write(history.join(name), body).unwrap();
    write(
        "aaa_first.py",
        "\"\"\"first\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\nfrom app.models.user import User\n\nrevision = 'aaa'\ndown_revision = None\n\ndef upgrade():\n    op.execute('SELECT 1')\n\ndef downgrade():\n    pass\n",
    );
    write(
        "bbb_second.py",
        "\"\"\"second\"\"\"\nimport os\nfrom alembic import op, context\nfrom sqlalchemy.orm import Session\n\nrevision = 'bbb'\ndown_revision = 'aaa'\n\ndef upgrade():\n    url = context.config.get_main_option('sqlalchemy.url')\n    seed = open('seed.csv').read()\n\ndef downgrade():\n    pass\n",
    );
    let out = project.run(
        &db,
        &[
            "import",
            "--from",
            "alembic",
            &project.dir.path().join("legacy").display().to_string(),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    for expected in [
        "aaa_first.py:4: `from app.models.user import User` imports `app.models.user`",
        "frozen model",
        "bbb_second.py:2: `import os` imports `os`",
        "bbb_second.py:3: `from alembic import op, context`: Alembic's `context`",
        "bbb_second.py:4: `from sqlalchemy.orm import Session`: the ORM",
        "bbb_second.py:10: `context.config`",
        "bbb_second.py:11: `open(`",
        "nothing was imported",
    ] {
        assert!(err.contains(expected), "{expected}: {err}");
    }
    let written: Vec<_> = std::fs::read_dir(project.migrations()).unwrap().collect();
    assert!(written.is_empty(), "nothing written");

    // A history that is not one: a parent that is not there, a file without a revision.
    let broken = project.dir.path().join("broken/versions");
    std::fs::create_dir_all(&broken).unwrap();
    std::fs::write(
        broken.join("ccc_orphan.py"),
        "revision = 'ccc'\ndown_revision = 'gone'\n\ndef upgrade():\n    pass\n",
    )
    .unwrap();
    let import = |dir: &str| {
        project.run(
            &db,
            &[
                "import",
                "--from",
                "alembic",
                &project.dir.path().join(dir).display().to_string(),
            ],
        )
    };
    let out = import("broken");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("ccc_orphan.py") && stderr(&out).contains("down_revision gone"),
        "{}",
        stderr(&out)
    );
    std::fs::write(broken.join("ddd_helper.py"), "def helper():\n    pass\n").unwrap();
    std::fs::remove_file(broken.join("ccc_orphan.py")).unwrap();
    let out = import("broken");
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("ddd_helper.py")
            && stderr(&out).contains("not an Alembic revision file"),
        "{}",
        stderr(&out)
    );
    assert_eq!(std::fs::read_dir(project.migrations()).unwrap().count(), 0);
}

/// The cookbook's start — the schema from `metadata.create_all()`, an empty first revision —
/// with `--baseline schema.sql`: an empty database is built from scratch (the baseline, then
/// the revisions), and one Alembic migrated is adopted and upgraded by what it lacks.
pub fn an_alembic_baseline_builds_from_scratch_and_adopts(dialect: Dialect) {
    let project = Project::empty();
    let root = project.dir.path();
    let versions = root.join("legacy/versions");
    std::fs::create_dir_all(&versions).unwrap();
    std::fs::write(
        versions.join("ab12cd34ef56_empty_init.py"),
        "\"\"\"empty init\"\"\"\nrevision = 'ab12cd34ef56'\ndown_revision = None\n\ndef upgrade():\n    pass\n\ndef downgrade():\n    pass\n",
    )
    .unwrap();
    std::fs::write(
        versions.join("bc23de45fa67_add_email.py"),
        "\"\"\"add email\"\"\"\nfrom alembic import op\nimport sqlalchemy as sa\n\nrevision = 'bc23de45fa67'\ndown_revision = 'ab12cd34ef56'\n\ndef upgrade():\n    op.add_column('legacy_users', sa.Column('email', sa.String(80)))\n\ndef downgrade():\n    op.drop_column('legacy_users', 'email')\n",
    )
    .unwrap();
    let schema = "CREATE TABLE legacy_users (id INTEGER PRIMARY KEY, name VARCHAR(40) NOT NULL);\n";
    std::fs::write(root.join("schema.sql"), schema).unwrap();
    let fresh = TestDb::new(dialect, "alembicbase");
    let out = project.run_ok(
        &fresh,
        &[
            "import",
            "--from",
            "alembic",
            "legacy",
            "--baseline",
            "schema.sql",
        ],
    );
    assert!(
        stdout(&out).contains("baseline schema.sql -> migrations/000000000000_baseline.up.sql"),
        "{}",
        stdout(&out)
    );
    with_python_runtime(&project);
    project.run_ok(&fresh, &["upgrade"]);
    fresh.execute("INSERT INTO legacy_users (id, name, email) VALUES (1, 'ada', 'ada@example')");
    assert_eq!(fresh.count("SELECT COUNT(*) FROM retort_history"), 3);

    // A database Alembic built: the schema as create_all made it, stamped at the first revision.
    let adopted = TestDb::new(dialect, "alembicadopt");
    adopted.execute(schema.trim_end_matches(";\n"));
    adopted.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)");
    adopted.execute("INSERT INTO alembic_version VALUES ('ab12cd34ef56')");
    project.run_ok(&adopted, &["stamp", "--adopt", "alembic"]);
    assert_eq!(adopted.count("SELECT COUNT(*) FROM retort_history"), 2);
    let out = project.run_ok(&adopted, &["upgrade"]);
    assert!(stdout(&out).contains("1 migration"), "{}", stdout(&out));
    adopted.execute("INSERT INTO legacy_users (id, name, email) VALUES (1, 'ada', 'ada@example')");
}

/// Alembic itself (`RETORT_ALEMBIC`: its command, from PyPI), run on the test history.
fn alembic(db: &TestDb, versions: &std::path::Path, args: &[&str]) {
    let tool = std::env::var("RETORT_ALEMBIC")
        .expect("RETORT_ALEMBIC: the alembic command (pip install alembic; .ci/run does)");
    let env = tempfile::tempdir().unwrap();
    let url = match db.dialect {
        Dialect::Sqlite => format!("sqlite:///{}", db.sqlite_path().display()),
        Dialect::Postgres => db.url.replacen("postgres://", "postgresql+psycopg2://", 1),
        Dialect::Mysql => format!(
            "{}?charset=utf8mb4",
            db.url.replacen("mysql://", "mysql+pymysql://", 1)
        ),
    };
    std::fs::write(
        env.path().join("alembic.ini"),
        format!(
            "[alembic]\nscript_location = {}\nversion_locations = {}\nsqlalchemy.url = {url}\n",
            env.path().display(),
            versions.display()
        ),
    )
    .unwrap();
    std::fs::write(
        env.path().join("env.py"),
        "from alembic import context\nfrom sqlalchemy import create_engine\n\n\
         engine = create_engine(context.config.get_main_option('sqlalchemy.url'))\n\
         with engine.connect() as connection:\n    \
             context.configure(connection=connection, target_metadata=None)\n    \
             with context.begin_transaction():\n        context.run_migrations()\n",
    )
    .unwrap();
    let out = std::process::Command::new(&tool)
        .arg("-c")
        .arg(env.path().join("alembic.ini"))
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {tool}: {e}"));
    assert!(
        out.status.success(),
        "alembic {}: {}{}",
        args.join(" "),
        stdout(&out),
        stderr(&out)
    );
}

/// The schema as the catalog describes it, in a form that does not depend on how a statement
/// spelled it (SQLite keeps the text it was given: its pragmas are compared instead):
/// columns (type, nullability, default), indexes, constraints — without either tool's
/// bookkeeping.
fn shape(db: &TestDb) -> Vec<String> {
    let queries: Vec<String> = match db.dialect {
        Dialect::Postgres => vec![
            "SELECT 'column ' || table_name || '.' || column_name || ' ' || data_type || ' ' || \
             COALESCE(character_maximum_length::text, '') || ' ' || COALESCE(numeric_precision::text, '') \
             || ',' || COALESCE(numeric_scale::text, '') || ' ' || is_nullable || ' ' || \
             COALESCE(column_default, '-') FROM information_schema.columns WHERE table_schema = 'public' \
             AND table_name NOT LIKE 'retort%' AND table_name <> 'alembic_version'"
                .into(),
            "SELECT 'constraint ' || conrelid::regclass::text || ' ' || conname || ' ' || \
             pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
             AND conrelid::regclass::text NOT LIKE 'retort%' AND conrelid::regclass::text <> 'alembic_version'"
                .into(),
            "SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename \
             NOT LIKE 'retort%' AND tablename <> 'alembic_version'"
                .into(),
        ],
        Dialect::Mysql => vec![
            "SELECT CAST(CONCAT('column ', table_name, '.', column_name, ' ', column_type, ' ', \
             is_nullable, ' ', COALESCE(column_default, '-'), ' ', extra) AS CHAR) FROM \
             information_schema.columns WHERE table_schema = DATABASE() AND table_name NOT LIKE \
             'retort%' AND table_name <> 'alembic_version'"
                .into(),
            "SELECT CAST(CONCAT('index ', table_name, ' ', index_name, ' ', non_unique, ' ', \
             seq_in_index, ' ', column_name) AS CHAR) FROM information_schema.statistics WHERE \
             table_schema = DATABASE() AND table_name NOT LIKE 'retort%' AND table_name <> \
             'alembic_version'"
                .into(),
            "SELECT CAST(CONCAT('constraint ', table_name, ' ', constraint_name, ' ', \
             constraint_type) AS CHAR) FROM information_schema.table_constraints WHERE \
             table_schema = DATABASE() AND table_name NOT LIKE 'retort%' AND table_name <> \
             'alembic_version'"
                .into(),
            "SELECT CAST(CONCAT('check ', table_name, ' ', constraint_name, ' ', check_clause) AS \
             CHAR) FROM information_schema.check_constraints WHERE constraint_schema = DATABASE()"
                .into(),
            "SELECT CAST(CONCAT('references ', table_name, ' ', constraint_name, ' ', \
             referenced_table_name, ' ', update_rule, ' ', delete_rule) AS CHAR) FROM \
             information_schema.referential_constraints WHERE constraint_schema = DATABASE()"
                .into(),
        ],
        Dialect::Sqlite => {
            let tables = db.strings(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'retort%' \
                 AND name NOT LIKE 'sqlite_%' AND name <> 'alembic_version' ORDER BY name",
            );
            tables
                .iter()
                .flat_map(|t| {
                    [
                        format!(
                            "SELECT 'column {t}.' || name || ' ' || type || ' ' || \"notnull\" || ' ' \
                             || COALESCE(dflt_value, '-') || ' ' || pk FROM pragma_table_info('{t}')"
                        ),
                        format!(
                            "SELECT 'index {t} ' || CASE WHEN il.origin = 'c' THEN il.name ELSE il.origin \
                             END || ' ' || il.\"unique\" || ' ' || ii.seqno || ' ' || ii.name FROM \
                             pragma_index_list('{t}') il, pragma_index_info(il.name) ii"
                        ),
                        format!(
                            "SELECT 'references {t} ' || \"from\" || ' ' || \"table\" || '.' || \"to\" || \
                             ' ' || on_update || ' ' || on_delete FROM pragma_foreign_key_list('{t}')"
                        ),
                    ]
                })
                .collect()
        }
    };
    let mut lines: Vec<String> = queries.iter().flat_map(|q| db.strings(q)).collect();
    lines.sort();
    lines
}

/// What the rows hold, as text, in an order both have.
fn rows(db: &TestDb) -> Vec<String> {
    let mut out = db.strings(
        "SELECT CAST(id AS CHAR(8)) || ' ' || email || ' ' || plan || ' ' || CAST(active AS CHAR(5)) FROM accounts ORDER BY id",
    );
    out.extend(db.strings(
        "SELECT CAST(id AS CHAR(8)) || ' ' || CAST(account_id AS CHAR(8)) || ' ' || CAST(total AS CHAR(12)) || ' ' || CAST(qty AS CHAR(8)) FROM orders ORDER BY id",
    ));
    out.extend(db.strings("SELECT what FROM audit"));
    out
}

/// The test history run by Alembic itself and by Retort from its import builds the same
/// schema and rows on each engine; both downgrade to nothing. (Alembic from PyPI, pinned in
/// .ci/run; each engine's catalog read back as `shape` describes.)
pub fn the_imported_history_builds_what_alembic_builds(dialect: Dialect) {
    let versions = shop().join("versions");
    let by_alembic = TestDb::new(dialect, "byalembic");
    alembic(&by_alembic, &versions, &["upgrade", "heads"]);

    let by_retort = TestDb::new(dialect, "byretort");
    let project = Project::empty();
    project.run_ok(
        &by_retort,
        &["import", "--from", "alembic", &shop().display().to_string()],
    );
    with_python_runtime(&project);
    project.run_ok(&by_retort, &["upgrade"]);

    let (theirs, ours) = (shape(&by_alembic), shape(&by_retort));
    let only_theirs: Vec<&String> = theirs.iter().filter(|l| !ours.contains(l)).collect();
    let only_ours: Vec<&String> = ours.iter().filter(|l| !theirs.contains(l)).collect();
    assert!(
        only_theirs.is_empty() && only_ours.is_empty(),
        "the schemas differ:\n  only Alembic's:\n    {}\n  only Retort's:\n    {}",
        only_theirs
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n    "),
        only_ours
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("\n    ")
    );
    assert!(
        theirs.len() > 12,
        "the comparison saw the schema: {theirs:?}"
    );
    assert_eq!(rows(&by_alembic), rows(&by_retort));

    alembic(&by_alembic, &versions, &["downgrade", "base"]);
    project.run_ok(&by_retort, &["downgrade", "base"]);
    assert_eq!(shape(&by_alembic), Vec::<String>::new());
    assert_eq!(shape(&by_retort), Vec::<String>::new());
}

/// SQLite, `batch_alter_table` on a table others reference (`accounts`, which `orders`
/// references with ON DELETE CASCADE): refused inside a transaction, saying how to run it;
/// with `transactional=False` in the revision's footer, rebuilt with every order kept.
pub fn a_batch_rebuild_of_a_referenced_sqlite_table_runs_outside_a_transaction() {
    let db = TestDb::new(Dialect::Sqlite, "alembicparent");
    let project = Project::empty();
    project.run_ok(
        &db,
        &["import", "--from", "alembic", &shop().display().to_string()],
    );
    with_python_runtime(&project);
    project.run_ok(&db, &["upgrade"]);
    project.run_ok(&db, &["new", "--lang", "alembic", "widen emails"]);
    let file = std::fs::read_dir(project.migrations())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.to_string_lossy().ends_with("_widen_emails.py"))
        .expect("the scaffolded revision");
    let text = std::fs::read_to_string(&file).unwrap().replacen(
        "    pass\n\n\ndef downgrade():\n    pass\n",
        "    with op.batch_alter_table('accounts') as batch_op:\n        batch_op.alter_column('email', type_=sa.String(255))\n\n\ndef downgrade():\n    with op.batch_alter_table('accounts') as batch_op:\n        batch_op.alter_column('email', type_=sa.String(120))\n",
        1,
    );
    std::fs::write(&file, &text).unwrap();
    let out = project.run(&db, &["upgrade"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("would cascade") && stderr(&out).contains("transactional"),
        "{}",
        stderr(&out)
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM orders"), 2, "nothing lost");
    std::fs::write(
        &file,
        text.replacen(
            "    description=",
            "    transactional=False,\n    description=",
            1,
        ),
    )
    .unwrap();
    project.run_ok(&db, &["upgrade"]);
    assert_eq!(
        db.count("SELECT COUNT(*) FROM orders"),
        2,
        "every order kept"
    );
    assert!(
        db.strings("SELECT sql FROM sqlite_master WHERE name = 'accounts'")[0]
            .contains("VARCHAR(255)")
    );
    project.run_ok(&db, &["downgrade", "-1"]);
    assert_eq!(db.count("SELECT COUNT(*) FROM orders"), 2);
}

/// The refusals at import are a courtesy, not the guarantee: a revision that reaches the
/// environment, a file and the network by spellings the import does not look for
/// (`__import__("o" + "s")`, `getattr(builtins, "op" + "en")`) is imported, and at run time
/// finds none of them — the sandbox has no environment variables, no files and no sockets.
pub fn an_alembic_revision_that_hides_its_reach_finds_nothing_in_the_sandbox(dialect: Dialect) {
    let db = TestDb::new(dialect, "alembichostile");
    let project = Project::empty();
    let versions = project.dir.path().join("sly/versions");
    std::fs::create_dir_all(&versions).unwrap();
    std::fs::write(
        versions.join("ee11ff22aa33_reach_out.py"),
        r#""""reach out"""
from alembic import op
import sqlalchemy as sa

revision = 'ee11ff22aa33'
down_revision = None


def _try(what):
    try:
        return what()
    except BaseException as e:
        return type(e).__name__


def upgrade():
    system = __import__("o" + "s")
    builtins = __import__("built" + "ins")
    seen = [
        "environ " + repr(sorted(dict(system.environ))),
        "file " + str(_try(lambda: getattr(builtins, "op" + "en")("/etc/hostname").read()[:0] + "read")),
        "listing " + str(_try(lambda: "listed " + str(len(system.listdir("/"))))),
        "socket " + str(_try(lambda: __import__("soc" + "ket").create_connection(("127.0.0.1", 5432), 1) and "connected")),
    ]
    op.create_table('seen', sa.Column('what', sa.Text(), nullable=False))
    op.bulk_insert(sa.table('seen', sa.column('what')), [{'what': w} for w in seen])


def downgrade():
    op.drop_table('seen')
"#,
    )
    .unwrap();
    project.run_ok(
        &db,
        &[
            "import",
            "--from",
            "alembic",
            &project.dir.path().join("sly").display().to_string(),
        ],
    );
    with_python_runtime(&project);
    project.run_ok(&db, &["upgrade"]);
    assert_eq!(
        db.strings("SELECT what FROM seen ORDER BY what"),
        [
            "environ []",
            "file FileNotFoundError",
            "listing FileNotFoundError",
            "socket ModuleNotFoundError"
        ],
        "no variable, no file, no directory, no socket"
    );
}
