//! The database layer's contract, run directly (no wasm, no binary) on every engine: the lock,
//! the bookkeeping store written once for all dialects, and a guest's SQL (a cursor streaming
//! while the same transaction writes).

use retort::bindings::{GuestError, Value};
use retort::db::{self, Access, HistoryStore};
use retort::{HistoryRow, RowState};

use crate::common::{Dialect, TestDb};

fn row(revision: &str, state: RowState) -> HistoryRow {
    HistoryRow {
        revision: revision.into(),
        parents: vec!["p1".into(), "p2".into()],
        description: "a migration: with ünïcode".into(),
        digest: "ab".repeat(32),
        state,
        applied_at: db::now_rfc3339(),
        applied_by: db::runner_identity(),
        duration_ms: 42,
        journal: None,
        signer: Some("SHA256:key".into()),
        notes: None,
    }
}

pub fn backend_contract(dialect: Dialect) {
    let test = TestDb::new(dialect, "backend");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut b = db::connect(&test.url, Access::ReadWrite).await.unwrap();
        b.lock(std::time::Duration::from_secs(5)).await.unwrap();
        assert!(!b.has_history().await.unwrap());
        assert!(b.history().await.unwrap().is_empty(), "no tables: no rows");
        b.create_history().await.unwrap();
        b.create_history().await.unwrap(); // idempotent
        assert!(b.has_history().await.unwrap());

        // History rows: insert, update, replace the digest twice (notes accumulate), journal.
        b.insert_history(&row("r1", RowState::Applied))
            .await
            .unwrap();
        b.insert_history(&row("r2", RowState::Upgrading))
            .await
            .unwrap();
        b.journal("r2", "CREATE TABLE t → 0 row(s)\n")
            .await
            .unwrap();
        b.journal("r2", "INSERT INTO t ×3 → 3 row(s)\n")
            .await
            .unwrap();
        b.update_history("r2", RowState::Applied, 7).await.unwrap();
        b.replace_digest("r1", &"cd".repeat(32), None, "first note")
            .await
            .unwrap();
        b.replace_digest("r1", &"ef".repeat(32), Some("SHA256:other"), "second note")
            .await
            .unwrap();
        let rows = b.history().await.unwrap();
        assert_eq!(rows.len(), 2);
        let r1 = rows.iter().find(|r| r.revision == "r1").unwrap();
        assert_eq!(r1.parents, ["p1", "p2"]);
        assert_eq!(r1.description, "a migration: with ünïcode");
        assert_eq!(r1.digest, "ef".repeat(32));
        assert_eq!(r1.signer.as_deref(), Some("SHA256:other"));
        assert_eq!(r1.notes.as_deref(), Some("first note\nsecond note"));
        let r2 = rows.iter().find(|r| r.revision == "r2").unwrap();
        assert_eq!(r2.state, RowState::Applied);
        assert_eq!(r2.duration_ms, 7);
        assert_eq!(
            r2.journal.as_deref(),
            Some("CREATE TABLE t → 0 row(s)\nINSERT INTO t ×3 → 3 row(s)\n")
        );
        b.delete_history("r2").await.unwrap();
        assert_eq!(b.history().await.unwrap().len(), 1);

        // Artifacts: stored once by digest, in several parts when large, read back exactly.
        // Incompressible (xorshift) bytes: 9 MB stays over two 4 MiB parts after zlib.
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let big: Vec<u8> = (0..9_000_000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 32) as u8
            })
            .collect();
        b.store_artifact("big", &big).await.unwrap();
        b.store_artifact("big", &big).await.unwrap(); // already stored: no error, no copy
        assert_eq!(
            b.load_artifact("big").await.unwrap().as_deref(),
            Some(&big[..])
        );
        assert_eq!(b.load_artifact("missing").await.unwrap(), None);

        // A guest's SQL: stream a query in batches while updating the rows it reads.
        b.begin().await.unwrap();
        b.execute(
            "CREATE TABLE contract (id INTEGER PRIMARY KEY, n INTEGER)",
            vec![],
        )
        .await
        .unwrap();
        let sets: Vec<Vec<Value>> = (1..=2500)
            .map(|i| vec![Value::Integer(i), Value::Integer(i * 10)])
            .collect();
        assert_eq!(
            b.execute_batch("INSERT INTO contract (id, n) VALUES ($1, $2)", sets)
                .await
                .unwrap(),
            2500
        );
        let (cursor, columns) = b
            .open_cursor("SELECT id, n FROM contract ORDER BY id", vec![])
            .await
            .unwrap();
        assert_eq!(columns.len(), 2);
        let mut seen = 0i64;
        loop {
            let batch = b.fetch(cursor, 1000).await.unwrap();
            if batch.is_empty() {
                break;
            }
            for values in batch {
                seen += 1;
                assert_eq!(values, [Value::Integer(seen), Value::Integer(seen * 10)]);
                if seen % 500 == 0 {
                    b.execute(
                        "UPDATE contract SET n = $1 WHERE id = $2",
                        vec![Value::Integer(-1), Value::Integer(seen)],
                    )
                    .await
                    .unwrap();
                }
            }
        }
        assert_eq!(seen, 2500);
        b.close_cursor(cursor).await;
        // A closed cursor is a value error, not a crash.
        assert!(b.fetch(cursor, 10).await.is_err());
        // A failing guest statement is a value the guest may handle.
        assert!(matches!(
            b.execute("INSERT INTO contract (id, n) VALUES (1, 1)", vec![])
                .await,
            Err(db::SqlFailure::Guest(_))
        ));
        b.rollback().await.unwrap();
        b.unlock().await.unwrap();
        b.close().await;
    });
    // The history and artifacts were committed outside the rolled-back transaction.
    assert_eq!(test.strings("SELECT revision FROM retort_history"), ["r1"]);
    assert_eq!(
        test.count("SELECT COUNT(*) FROM retort_artifacts WHERE digest = 'big'"),
        3,
        "9 MB in parts of at most 4 MiB"
    );
}

/// SQLite: a migration's statements cannot reach other files (ATTACH, VACUUM INTO), change
/// the connection's safety or Retort's lock (pragmas outside the allow list) or end the
/// transaction Retort lent them; Retort's own
/// statements (the lock's `PRAGMA locking_mode`) still can.
#[test]
fn sqlite_guest_sql_cannot_reach_files_or_change_safety() {
    let test = TestDb::new(Dialect::Sqlite, "sqlitepolicy");
    let dir = tempfile::tempdir().unwrap();
    let outside = dir.path().join("outside.db");
    let copy = dir.path().join("copy.db");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut b = db::connect(&test.url, Access::ReadWrite).await.unwrap();
        b.lock(std::time::Duration::from_secs(5)).await.unwrap();
        b.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, x TEXT)", vec![])
            .await
            .unwrap();
        let refused = [
            format!("ATTACH DATABASE '{}' AS x", outside.display()),
            format!("VACUUM INTO '{}'", copy.display()),
            "PRAGMA writable_schema = 1".to_string(),
            "PRAGMA journal_mode = OFF".to_string(),
            "PRAGMA locking_mode = NORMAL".to_string(),
            "PRAGMA temp_store_directory = '/tmp'".to_string(),
            "SELECT 1; DETACH DATABASE main".to_string(),
        ];
        for sql in &refused {
            match b.execute(sql, vec![]).await {
                Err(db::SqlFailure::Guest(GuestError::Database(e))) => {
                    assert!(
                        e.message.contains("a migration may"),
                        "{sql}: {}",
                        e.message
                    )
                }
                other => panic!("{sql} was not refused: {other:?}"),
            }
        }
        // What a schema migration needs still works, also through a cursor.
        b.execute("PRAGMA defer_foreign_keys = ON", vec![])
            .await
            .unwrap();
        let (cursor, _) = b.open_cursor("PRAGMA table_info(t)", vec![]).await.unwrap();
        assert_eq!(b.fetch(cursor, 10).await.unwrap().len(), 2);
        b.close_cursor(cursor).await;
        // The transaction Retort lends is not the migration's to end: COMMIT, END, ROLLBACK
        // and BEGIN are refused inside it, savepoints nest; its rollback undoes everything.
        b.begin().await.unwrap();
        b.execute(
            "INSERT INTO t (id, x) VALUES (1, 'kept only if committed')",
            vec![],
        )
        .await
        .unwrap();
        for sql in ["COMMIT", "END", "ROLLBACK", "BEGIN", "SELECT 1; COMMIT"] {
            match b.execute(sql, vec![]).await {
                Err(db::SqlFailure::Guest(GuestError::Database(e))) => assert!(
                    e.message.contains("may not begin, commit or roll back"),
                    "{sql}: {}",
                    e.message
                ),
                other => panic!("{sql} was not refused: {other:?}"),
            }
        }
        b.execute(
            "SAVEPOINT s; INSERT INTO t (id, x) VALUES (2, 'y'); RELEASE s",
            vec![],
        )
        .await
        .unwrap();
        b.rollback().await.unwrap();
        // Outside a lent transaction (a non-transactional migration) the migration decides.
        b.execute(
            "BEGIN; INSERT INTO t (id, x) VALUES (3, 'z'); COMMIT",
            vec![],
        )
        .await
        .unwrap();
        // Retort's own statements are not a migration's: unlocking uses PRAGMA locking_mode.
        b.unlock().await.unwrap();
        b.close().await;
    });
    assert!(!outside.exists(), "ATTACH created a file");
    assert!(!copy.exists(), "VACUUM INTO wrote a copy");
    assert_eq!(test.tables(), ["t"]);
    assert_eq!(
        test.strings("SELECT x FROM t ORDER BY id"),
        ["z"],
        "the refused COMMIT committed nothing; the rollback undid rows 1 and 2"
    );
}

/// The same statement sent with a parameter of another type each time — a float, an integer,
/// a decimal, a NULL, one at a time and in a batch — stores each value as given. (PostgreSQL
/// prepares a statement for the parameter types it first sees; reusing that statement for
/// other types read an integer's bytes as a float's: 3 became 0.00. Found by running an
/// Alembic history's `bulk_insert` both ways.)
pub fn a_statement_reused_with_other_parameter_types_stores_each_value(dialect: Dialect) {
    let test = TestDb::new(dialect, "paramtypes");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut b = db::connect(&test.url, Access::ReadWrite).await.unwrap();
        b.execute(
            "CREATE TABLE amounts (id INTEGER PRIMARY KEY, total NUMERIC(10, 2))",
            vec![],
        )
        .await
        .unwrap();
        let insert = "INSERT INTO amounts (id, total) VALUES ($1, $2)";
        for (id, total) in [
            (1, Value::Float(12.5)),
            (2, Value::Integer(3)),
            (3, Value::Decimal("7.10".into())),
            (4, Value::Null),
            (5, Value::Integer(-8)),
            (6, Value::Float(0.25)),
        ] {
            b.execute(insert, vec![Value::Integer(id), total])
                .await
                .unwrap();
        }
        let sets = vec![
            vec![Value::Integer(7), Value::Float(1.5)],
            vec![Value::Integer(8), Value::Integer(9)],
            vec![Value::Integer(9), Value::Decimal("2.75".into())],
        ];
        assert_eq!(b.execute_batch(insert, sets).await.unwrap(), 3);
        b.close().await;
    });
    let stored: Vec<String> = test
        .strings("SELECT COALESCE(CAST(total AS CHAR(12)), 'null') FROM amounts ORDER BY id")
        .iter()
        .map(|s| match s.trim().parse::<f64>() {
            Ok(n) => format!("{n:.2}"),
            Err(_) => s.trim().to_string(),
        })
        .collect();
    assert_eq!(
        stored,
        [
            "12.50", "3.00", "7.10", "null", "-8.00", "0.25", "1.50", "9.00", "2.75"
        ]
    );
}

/// The fingerprint before a migration as Retort's own connection takes it, and as the server
/// computes it whole on the migration's connection: they must be equal.
async fn same(b: &mut Box<dyn db::Backend>, after: &str) -> String {
    let (own, whole) = fingerprints(b).await;
    assert_eq!(own, whole, "after {after}");
    own
}

/// The fingerprint as Retort's own connection takes it, then as the server computes it whole.
async fn fingerprints(b: &mut Box<dyn db::Backend>) -> (String, String) {
    use retort::db::{View, Watch};
    let own = b
        .bookkeeping_fingerprint(View::Own, Watch::Contents)
        .await
        .unwrap();
    let whole = b
        .bookkeeping_fingerprint(View::Migration, Watch::Contents)
        .await
        .unwrap();
    (own, whole)
}

/// The fingerprint a migration's check is compared with, as Retort's own connection takes it
/// (on MySQL kept from the rows Retort itself writes, `db/mirror.rs`), equals the one the server
/// computes whole after every kind of write Retort makes to its bookkeeping; a change Retort did
/// not make is not in it (so the next migration's check fails), and a write Retort does not
/// announce makes it read everything again.
pub fn the_fingerprint_follows_retorts_own_writes(dialect: Dialect) {
    let test = TestDb::new(dialect, "mirror");
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (b, before) = rt.block_on(async {
        let mut b = db::connect(&test.url, Access::ReadWrite).await.unwrap();
        b.lock(std::time::Duration::from_secs(5)).await.unwrap();
        b.create_history().await.unwrap();
        let empty = same(&mut b, "creating the tables").await;
        b.insert_history(&row("r1", RowState::Upgrading))
            .await
            .unwrap();
        let one = same(&mut b, "insert_history").await;
        if dialect != Dialect::Sqlite {
            assert_ne!(empty, one, "a new row changes the fingerprint");
        }
        // Two parts: incompressible bytes over one part's size.
        let big: Vec<u8> = (0..db::ARTIFACT_PART + 1000)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        b.store_artifact(&"aa".repeat(32), &big).await.unwrap();
        same(&mut b, "store_artifact of two parts").await;
        b.journal("r1", "CREATE TABLE t → 0 row(s)\n")
            .await
            .unwrap();
        same(&mut b, "journal").await;
        b.complete_history("r1", 9, Some("CREATE INDEX i ON t (a) → 0 row(s)\n"))
            .await
            .unwrap();
        same(&mut b, "complete_history").await;
        b.record_with_artifact(b"\0asm small", &row("r2", RowState::Upgrading))
            .await
            .unwrap();
        same(&mut b, "record_with_artifact").await;
        b.update_history("r2", RowState::Downgrading, 3)
            .await
            .unwrap();
        same(&mut b, "update_history").await;
        b.keep_definitions("r2", "[]").await.unwrap();
        same(&mut b, "keep_definitions").await;
        b.replace_digest("r1", &"cd".repeat(32), None, "accepted")
            .await
            .unwrap();
        same(&mut b, "replace_digest").await;
        b.delete_history("r2").await.unwrap();
        let before = same(&mut b, "delete_history").await;
        (b, before)
    });
    if dialect == Dialect::Sqlite {
        // Its authorizer refuses a migration's writes to the bookkeeping outright: no digest.
        return;
    }
    let (mut b, before) = (b, before);
    // A change Retort did not make, between two migrations, from another connection.
    test.execute("UPDATE retort_history SET description = 'changed' WHERE revision = 'r1'");
    rt.block_on(async {
        // A change Retort did not make, between two migrations: not in the fingerprint Retort
        // keeps (MySQL), so the check after the next migration, which the server computes
        // whole, differs — the migration is refused. Where the fingerprint before a
        // migration is read whole, it is simply part of it.
        let (own, whole) = fingerprints(&mut b).await;
        if dialect == Dialect::Mysql {
            assert_eq!(own, before, "the kept fingerprint does not see it");
            assert_ne!(own, whole, "the whole read does");
        } else {
            assert_eq!(own, whole);
        }
        // A write of Retort's own that says nothing of what it touches: everything is read
        // again, the outside change with it.
        b.host_execute(
            "an unannounced write",
            "UPDATE retort_history SET notes = NULL WHERE revision = 'nothing'",
            &[],
        )
        .await
        .unwrap();
        same(&mut b, "an unannounced write").await;
        b.close().await;
    });
}
