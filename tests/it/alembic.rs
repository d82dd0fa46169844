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
    // The graph: a merge with both branches as parents, the label kept.
    let history = stdout(&project.run_ok(&db, &["history"]));
    assert!(history.contains("4d5e6f7a8b9c"), "{history}");
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 5);

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

    // A database Alembic migrated: `alembic_version` holds its head; adopting records the
    // path to it, and nothing runs again. At two heads (before the merge), adoption refuses.
    db.execute("CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL)");
    db.execute("INSERT INTO alembic_version VALUES ('2b3c4d5e6f7a'), ('c3d4e5f6a7b8')");
    let out = project.run(&db, &["stamp", "--adopt", "alembic"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("it is at 2 heads (2b3c4d5e6f7a, c3d4e5f6a7b8)"),
        "{}",
        stderr(&out)
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 0);
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
        stdout(&out).contains("nothing to do"),
        "nothing left to run: {}",
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
