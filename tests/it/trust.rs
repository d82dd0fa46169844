//! Signed artifacts, integrity of what was applied, downgrades after the source is gone, and
//! bundles: each on SQLite, PostgreSQL and MariaDB.

use std::path::{Path, PathBuf};

use crate::common::{Dialect, Project, TestDb, stderr, stdout};

/// Release 1 of the versions fixture, and the two migrations release 2 adds.
const V1: &[&str] = &["20261001000000"];
const V2: &[&str] = &["20261001000000", "20261001000100", "20261001000200"];

/// A project of `ids` whose one database requires signatures by `keys/release.pub`.
fn signed_project(ids: &[&str]) -> Project {
    let project = Project::with_fixtures(ids);
    std::fs::write(
        project.dir.path().join("retort.toml"),
        "[databases.main]\nurl = \"sqlite://unused.db\"\nrequire_signatures = true\n\n\
         [trust]\nkeys = [\"keys/release.pub\"]\n",
    )
    .unwrap();
    project
}

/// Makes `keys/NAME` in the project with `retort keygen`; returns its key id.
fn keygen(project: &Project, db: &TestDb, name: &str) -> String {
    let out = project
        .retort(db)
        .args(["keygen", &format!("keys/{name}"), "--comment", name])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    text.lines()
        .find_map(|l| l.strip_prefix("key id "))
        .unwrap_or_else(|| panic!("no key id in {text}"))
        .to_string()
}

fn sign(project: &Project, db: &TestDb, key: &str) {
    let out = project
        .retort(db)
        .args(["sign", "--key", &format!("keys/{key}")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
}

fn artifact(project: &Project, id: &str) -> PathBuf {
    std::fs::read_dir(project.migrations())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.file_name().unwrap().to_string_lossy().starts_with(id))
        .unwrap_or_else(|| panic!("no artifact {id}"))
}

fn flip(path: &Path, at: usize) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[at] ^= 0x01;
    std::fs::write(path, bytes).unwrap();
}

/// Appends a custom section: a "rebuild" with the same code and metadata but other bytes.
fn append_custom_section(path: &Path, name: &str) {
    let mut bytes = std::fs::read(path).unwrap();
    let mut body = vec![name.len() as u8];
    body.extend_from_slice(name.as_bytes());
    body.extend_from_slice(b"rebuilt");
    bytes.push(0);
    bytes.push(body.len() as u8);
    bytes.extend_from_slice(&body);
    std::fs::write(path, bytes).unwrap();
}

/// Runs `upgrade` expecting it to be refused before the database is touched.
fn assert_refused(project: &Project, db: &TestDb, file: &Path, reason: &str) {
    let out = project.retort(db).arg("upgrade").output().unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let name = file.file_name().unwrap().to_string_lossy();
    assert!(
        err.contains("refusing") && err.contains(name.as_ref()) && err.contains(reason),
        "expected a refusal of {name} because {reason}: {err}"
    );
    assert!(
        db.tables().is_empty(),
        "the database was touched: {:?}",
        db.tables()
    );
}

pub fn unsigned_tampered_and_untrusted_artifacts_are_refused(dialect: Dialect) {
    let db = TestDb::new(dialect, "trust");
    let project = signed_project(V2);
    let release = keygen(&project, &db, "release");
    keygen(&project, &db, "stranger");
    let file = artifact(&project, "20261001000100");

    let unsigned = std::fs::read(&file).unwrap();
    assert_refused(
        &project,
        &db,
        &artifact(&project, "20261001000000"),
        "not signed",
    );

    // The CI gate says so too, with the artifacts bit, before anything runs anywhere.
    let out = project.run(&db, &["check", "--offline"]);
    assert_eq!(out.status.code(), Some(8), "{}", stdout(&out));
    assert!(
        stdout(&out).contains("the migrations are refused") && stdout(&out).contains("not signed"),
        "{}",
        stdout(&out)
    );

    // One artifact unsigned among signed ones.
    sign(&project, &db, "release");
    let checked = project.run(&db, &["check", "--offline"]);
    // (These fixtures create and fill tables in one migration: on MySQL that is a lint
    // finding, and only that.)
    let expected = if dialect == Dialect::Mysql { 64 } else { 0 };
    assert_eq!(
        checked.status.code(),
        Some(expected),
        "signed: {}",
        stdout(&checked)
    );
    assert!(
        stdout(&checked).contains("3 of 3 round-tripped"),
        "{}",
        stdout(&checked)
    );
    let good = std::fs::read(&file).unwrap();
    std::fs::write(&file, &unsigned).unwrap();
    assert_refused(&project, &db, &file, "not signed");

    // One artifact signed by a key the project does not trust.
    let out = project
        .retort(&db)
        .args(["sign", "--key", "keys/stranger"])
        .arg(&file)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_refused(&project, &db, &file, "not a trusted key");

    let len = good.len();
    // A byte of the header, of the code, of the signature's armour, of the signature itself,
    // and the last byte.
    let sig_at = good
        .windows(9)
        .position(|w| w == b"-----BEGI")
        .expect("an embedded signature");
    for at in [4, len / 3, len / 2, sig_at + 3, sig_at + 120, len - 1] {
        std::fs::write(&file, &good).unwrap();
        flip(&file, at);
        let out = project.retort(&db).arg("upgrade").output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "byte {at}: {err}");
        assert!(
            err.contains(file.file_name().unwrap().to_string_lossy().as_ref()),
            "byte {at}: the error names the file: {err}"
        );
        assert!(
            db.tables().is_empty(),
            "byte {at}: the database was touched"
        );
    }
    std::fs::write(&file, &good).unwrap();

    project.run_ok(&db, &["upgrade"]);
    assert_eq!(
        db.strings("SELECT COALESCE(signer, 'NULL') FROM retort_history ORDER BY revision"),
        [release.clone(), release.clone(), release.clone()]
    );
    let out = project
        .retort(&db)
        .args(["history", "-v"])
        .output()
        .unwrap();
    let text = stdout(&out);
    assert!(
        text.matches(&format!("signed by {release}")).count() == 3,
        "{text}"
    );
}

fn view_definition(db: &TestDb) -> String {
    db.strings(match db.dialect {
        Dialect::Sqlite => "SELECT sql FROM sqlite_master WHERE name = 'order_report'",
        Dialect::Postgres => "SELECT pg_get_viewdef('order_report')",
        Dialect::Mysql => {
            "SELECT CAST(view_definition AS CHAR) FROM information_schema.views \
             WHERE table_schema = DATABASE() AND table_name = 'order_report'"
        }
    })
    .concat()
}

pub fn downgrade_to_an_older_release_without_its_source(dialect: Dialect) {
    let db = TestDb::new(dialect, "versions");
    let v2 = signed_project(V2);
    keygen(&v2, &db, "release");
    sign(&v2, &db, "release");
    v2.run_ok(&db, &["upgrade"]);
    assert!(
        view_definition(&db).contains("big"),
        "{}",
        view_definition(&db)
    );
    if dialect != Dialect::Sqlite {
        assert_eq!(
            db.count("SELECT order_total()"),
            450,
            "release 2's function"
        );
    }
    assert_eq!(
        db.strings("SELECT status FROM orders ORDER BY id"),
        ["small", "big", "big"]
    );

    // Release 1's checkout: its own (signed) artifact only, the same trusted key.
    let v1 = signed_project(V1);
    std::fs::create_dir(v1.dir.path().join("keys")).unwrap();
    std::fs::copy(
        v2.dir.path().join("keys/release.pub"),
        v1.dir.path().join("keys/release.pub"),
    )
    .unwrap();
    std::fs::copy(
        artifact(&v2, "20261001000000"),
        artifact(&v1, "20261001000000"),
    )
    .unwrap();
    let out = v1
        .retort(&db)
        .args(["downgrade", "20261001000000"])
        .output()
        .unwrap();
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("20261001000200 is not in the migrations directory: using the copy stored in the database"),
        "{err}"
    );
    let view = view_definition(&db);
    assert!(
        !view.contains("big") && view.contains("amount"),
        "release 1's view is back: {view}"
    );
    if dialect != Dialect::Sqlite {
        assert_eq!(
            db.count("SELECT order_total()"),
            500,
            "release 1's function"
        );
    }
    assert_eq!(
        db.count(
            "SELECT COUNT(*) FROM orders WHERE (id = 1 AND amount = 50) \
             OR (id = 2 AND amount = 150) OR (id = 3 AND amount = 300)"
        ),
        3,
        "no order was lost"
    );
    assert_eq!(
        db.strings("SELECT revision FROM retort_history"),
        ["20261001000000"]
    );

    // A stored copy must pass the signature policy too: a database whose stored artifact
    // was replaced by an unsigned copy (same digest) is refused.
    v2.run_ok(&db, &["upgrade"]);
    if dialect == Dialect::Sqlite {
        let unsigned = std::fs::read(
            crate::common::fixtures().join(
                std::fs::read_dir(crate::common::fixtures())
                    .unwrap()
                    .flatten()
                    .map(|e| e.file_name())
                    .find(|n| n.to_string_lossy().starts_with("20261001000200"))
                    .unwrap(),
            ),
        )
        .unwrap();
        let conn = rusqlite::Connection::open(db.sqlite_path()).unwrap();
        conn.execute(
            "UPDATE retort_artifacts SET bytes = ?1 WHERE digest = \
             (SELECT digest FROM retort_history WHERE revision = '20261001000200')",
            [retort::db::pack(&unsigned)],
        )
        .unwrap();
        drop(conn);
        let out = v1
            .retort(&db)
            .args(["downgrade", "20261001000000"])
            .output()
            .unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("retort_artifacts") && err.contains("not signed"),
            "{err}"
        );
        assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 3);
    }
}

pub fn a_changed_artifact_is_an_error_until_the_rebuild_is_accepted(dialect: Dialect) {
    let db = TestDb::new(dialect, "integrity");
    let project = Project::with_fixtures(V2);
    project.run_ok(&db, &["upgrade", "20261001000100"]);
    let file = artifact(&project, "20261001000000");
    let recorded =
        db.strings("SELECT digest FROM retort_history WHERE revision = '20261001000000'");
    append_custom_section(&file, "rebuild");

    for args in [&["upgrade"][..], &["downgrade", "base"]] {
        let out = project.retort(&db).args(args).output().unwrap();
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{args:?}: {err}");
        assert!(
            err.contains("changed since it was applied")
                && err.contains(&recorded[0])
                && err.contains(file.file_name().unwrap().to_string_lossy().as_ref())
                && err.contains("accept-rebuild 20261001000000"),
            "{args:?}: {err}"
        );
    }
    assert_eq!(
        db.count("SELECT COUNT(*) FROM retort_history"),
        2,
        "nothing ran"
    );

    project.run_ok(&db, &["accept-rebuild", "20261001000000"]);
    let notes = db.strings("SELECT notes FROM retort_history WHERE revision = '20261001000000'");
    assert!(
        notes[0].contains("accept-rebuild") && notes[0].contains(&recorded[0]),
        "{notes:?}"
    );
    project.run_ok(&db, &["upgrade"]);
    let out = project
        .retort(&db)
        .args(["history", "-v"])
        .output()
        .unwrap();
    assert!(stdout(&out).contains("note: "), "{}", stdout(&out));
}

pub fn bundles_run_without_the_source_tree(dialect: Dialect) {
    let db = TestDb::new(dialect, "bundle");
    let project = Project::with_fixtures(V2);
    let release = keygen(&project, &db, "release");
    project.run_ok(
        &db,
        &["bundle", "-o", "release.retort", "--key", "keys/release"],
    );

    // Another machine: a directory holding only the bundle and the public key.
    let host = Project::empty();
    std::fs::remove_dir(host.migrations()).unwrap();
    for f in ["release.retort", "keys/release.pub"] {
        let to = host.dir.path().join(Path::new(f).file_name().unwrap());
        std::fs::copy(project.dir.path().join(f), to).unwrap();
    }
    let strict = [
        "--bundle",
        "release.retort",
        "--trusted-key",
        "release.pub",
        "--require-signatures",
    ];
    // Tampered: one byte of an artifact inside the archive.
    let good = std::fs::read(host.dir.path().join("release.retort")).unwrap();
    let mut bad = good.clone();
    let wasm = bad
        .windows(4)
        .position(|w| w == b"\0asm")
        .expect("an artifact in the bundle");
    bad[wasm + 200] ^= 0x01;
    std::fs::write(host.dir.path().join("release.retort"), &bad).unwrap();
    let out = host
        .retort(&db)
        .args(strict)
        .arg("upgrade")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("refusing") && err.contains("release.retort"),
        "{err}"
    );
    assert!(db.tables().is_empty(), "the database was touched");

    // An unsigned bundle where signatures are required.
    project.run_ok(&db, &["bundle", "-o", "unsigned.retort"]);
    std::fs::copy(
        project.dir.path().join("unsigned.retort"),
        host.dir.path().join("release.retort"),
    )
    .unwrap();
    let out = host
        .retort(&db)
        .args(strict)
        .arg("upgrade")
        .output()
        .unwrap();
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("not signed"), "{err}");
    assert!(db.tables().is_empty(), "the database was touched");

    std::fs::write(host.dir.path().join("release.retort"), &good).unwrap();
    let out = host
        .retort(&db)
        .args(strict)
        .arg("upgrade")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(
        db.strings("SELECT COALESCE(signer, 'NULL') FROM retort_history ORDER BY revision"),
        [release.clone(), release.clone(), release]
    );
    assert_eq!(
        db.strings("SELECT status FROM orders ORDER BY id"),
        ["small", "big", "big"]
    );
    // The same bundle downgrades too.
    let out = host
        .retort(&db)
        .args(strict)
        .args(["downgrade", "base"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 0);
}
