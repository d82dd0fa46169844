//! What a migration's SQL may do on SQLite beyond its database: SQLite's authorizer, active
//! only while a guest's statement is prepared (Retort's own statements — the lock's
//! `PRAGMA locking_mode`, the bookkeeping — are not a guest's).
//!
//! Refused: `ATTACH`/`DETACH` (and so `VACUUM INTO`, which attaches its target), which reach
//! any file the process can; every `PRAGMA` but the list below, since pragmas change safety
//! (`journal_mode`, `synchronous`), the lock (`locking_mode`), the schema's integrity
//! (`writable_schema`, `schema_version`) or where files go (`temp_store_directory`).
//! Writes to, and DDL on, Retort's bookkeeping tables (`retort_history`, `retort_artifacts`),
//! and temporary tables or views that would shadow them, are refused: a migration could
//! otherwise forge, hide or replace what Retort records.
//! Transaction control (`BEGIN`, `COMMIT`, `END`, `ROLLBACK`) is refused while the migration runs
//! in the transaction Retort opened for it: ending it would commit the migration's work without
//! its history row. Extension loading is off in the connection already.
//!
//! A statement whose preparation would be too large to bound is refused too: preparing runs
//! before SQLite's progress handler (and so the migration's deadline) can stop anything, on
//! the stack the migration's host calls share, and its cost grows with the cube of how deep
//! views nest (2,000 nested views: 1.6 s; 8,000: 79 s; ~100,000 overflow the stack and
//! abort the process). SQLite reports each query and view it expands, and each column and
//! table it resolves, as it prepares; past [`MAX_SELECTS`] queries or [`MAX_ACTIONS`]
//! reports in one statement, it is refused (docs/security.md).

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use rusqlite::hooks::{AuthAction, AuthContext, Authorization};

/// Pragmas a migration may read and, where the second field says so, set (or call with a
/// table argument): introspection, and settings that only affect its own statements.
const PRAGMAS: &[(&str, bool)] = &[
    ("application_id", true),
    ("automatic_index", true),
    ("cache_size", true),
    ("case_sensitive_like", true),
    ("collation_list", false),
    ("compile_options", false),
    ("data_version", false),
    ("database_list", false),
    ("defer_foreign_keys", true),
    ("encoding", false),
    ("foreign_key_check", true),
    ("foreign_key_list", true),
    // Inside a transaction SQLite ignores it; outside one it holds until Retort puts the
    // session back after the migration (real histories carry `PRAGMA foreign_keys = OFF`).
    ("foreign_keys", true),
    ("freelist_count", false),
    ("function_list", false),
    ("ignore_check_constraints", true),
    ("index_info", true),
    ("index_list", true),
    ("index_xinfo", true),
    ("integrity_check", true),
    ("legacy_alter_table", true),
    ("module_list", false),
    ("optimize", true),
    ("page_count", false),
    ("page_size", false),
    ("pragma_list", false),
    ("quick_check", true),
    ("recursive_triggers", true),
    ("reverse_unordered_selects", true),
    ("schema_version", false),
    ("table_info", true),
    ("table_list", true),
    ("table_xinfo", true),
    ("user_version", true),
];

/// The most queries (a `SELECT`, a subquery, each view it reads through, as SQLite expands
/// them) one statement of a migration may prepare: a view read through 1,000 others prepares
/// in ~0.3 s, and the cost grows with the cube of the depth from there.
pub(super) const MAX_SELECTS: u32 = 1_000;

/// The most actions SQLite may report while preparing one statement of a migration (each
/// query, column read, table written; functions are not counted): views that read others
/// twice over expand exponentially, which [`MAX_SELECTS`] alone does not bound when the copies are
/// scalar subqueries, and a chain of triggers compiles one program per trigger on the stack
/// (~1 KB each). 20,000 leaves room for `SELECT *` over a join of wide tables.
pub(super) const MAX_ACTIONS: u32 = 20_000;

/// Whether the statement being prepared is a guest's, and why the last one was refused.
#[derive(Clone, Default)]
pub(super) struct Policy {
    guest: Arc<AtomicBool>,
    /// Whether the guest runs inside the transaction Retort opened (then it may not end it).
    lent_transaction: Arc<AtomicBool>,
    refused: Arc<Mutex<Option<String>>>,
    /// Whether a guest's statement named a pragma or the temporary database since
    /// [`Policy::take_touched`]: only such a statement can leave the session different from
    /// its configured settings (SQLite reports both while preparing a statement; pragmas
    /// take no parameters, so a statement that sets one is never a cached one).
    touched: Arc<AtomicBool>,
    /// Queries and all actions SQLite reported while preparing the guest's current statement
    /// ([`Policy::next_statement`] starts the count again).
    selects: Arc<AtomicU32>,
    actions: Arc<AtomicU32>,
}

impl Policy {
    /// Runs `f` with the guest's rules on; returns what it returned and, if the policy refused
    /// something meanwhile, why.
    pub(super) fn as_guest<T>(
        &self,
        in_transaction: bool,
        f: impl FnOnce() -> T,
    ) -> (T, Option<String>) {
        self.take_refusal();
        self.next_statement();
        self.lent_transaction
            .store(in_transaction, Ordering::SeqCst);
        self.guest.store(true, Ordering::SeqCst);
        let out = f();
        self.guest.store(false, Ordering::SeqCst);
        (out, self.take_refusal())
    }

    /// Starts the size count of a statement's preparation again: before each statement of a
    /// script (one call may prepare many, each bounded on its own).
    pub(super) fn next_statement(&self) {
        self.selects.store(0, Ordering::Relaxed);
        self.actions.store(0, Ordering::Relaxed);
    }

    /// Why the statement being prepared is too large to prepare, once it is.
    fn too_large(&self, action: &AuthAction<'_>) -> Option<String> {
        // A function is reported where it is called, once however many rows run it: a seed
        // `INSERT … VALUES` of 50,000 rows calling one each is large text, not a deep plan.
        if matches!(action, AuthAction::Function { .. }) {
            return None;
        }
        let actions = self.actions.fetch_add(1, Ordering::Relaxed) + 1;
        let selects = if matches!(action, AuthAction::Select) {
            self.selects.fetch_add(1, Ordering::Relaxed) + 1
        } else {
            self.selects.load(Ordering::Relaxed)
        };
        let what = if selects > MAX_SELECTS {
            format!("more than {MAX_SELECTS} queries and views (nested, or read more than once)")
        } else if actions > MAX_ACTIONS {
            format!(
                "more than {MAX_ACTIONS} columns, tables and triggers (views read more than \
                 once, or a chain of triggers)"
            )
        } else {
            return None;
        };
        Some(format!(
            "the statement is too large to prepare: it expands to {what}, and SQLite prepares \
             a statement before the migration's time limit can stop it (docs/security.md)"
        ))
    }

    /// Whether a guest's statement may have changed the session's settings or made
    /// temporary objects since the last call.
    pub(super) fn take_touched(&self) -> bool {
        self.touched.swap(false, Ordering::SeqCst)
    }

    fn take_refusal(&self) -> Option<String> {
        self.refused.lock().ok().and_then(|mut r| r.take())
    }

    /// The authorizer callback.
    pub(super) fn authorize(&self, ctx: AuthContext<'_>) -> Authorization {
        if !self.guest.load(Ordering::SeqCst) {
            return Authorization::Allow;
        }
        if matches!(ctx.action, AuthAction::Pragma { .. })
            || ctx
                .database_name
                .is_some_and(|name| name.eq_ignore_ascii_case("temp"))
            || matches!(
                ctx.action,
                AuthAction::CreateTempIndex { .. }
                    | AuthAction::CreateTempTable { .. }
                    | AuthAction::CreateTempTrigger { .. }
                    | AuthAction::CreateTempView { .. }
            )
        {
            self.touched.store(true, Ordering::SeqCst);
        }
        let refusal = self.too_large(&ctx.action).or_else(|| match ctx.action {
            AuthAction::Attach { filename } => Some(format!(
                "a migration may not attach another database file (`{filename}`): ATTACH and \
                 VACUUM INTO reach files outside the sandbox"
            )),
            AuthAction::Detach { database_name } => Some(format!(
                "a migration may not detach databases (`{database_name}`)"
            )),
            AuthAction::Pragma {
                pragma_name,
                pragma_value,
            } => pragma_refusal(pragma_name, pragma_value),
            // BEGIN, COMMIT/END, ROLLBACK: the migration and its history row must commit
            // together, so the transaction Retort lent is not the migration's to end.
            // (Savepoints nest inside it and stay allowed.)
            AuthAction::Transaction { .. } if self.lent_transaction.load(Ordering::SeqCst) => Some(
                "a migration may not begin, commit or roll back the transaction Retort runs \
                     it in (it commits with the history row); use SAVEPOINT for nested work, or \
                     declare the migration `transactional: false`"
                    .into(),
            ),
            action => bookkeeping_refusal(&action),
        });
        match refusal {
            None => Authorization::Allow,
            Some(reason) => {
                if let Ok(mut r) = self.refused.lock() {
                    *r = Some(reason);
                }
                Authorization::Deny
            }
        }
    }
}

/// Whether `name` is one of Retort's bookkeeping tables.
fn is_bookkeeping(name: &str) -> bool {
    [super::HISTORY_TABLE, super::ARTIFACTS_TABLE]
        .iter()
        .any(|t| t.eq_ignore_ascii_case(name))
}

/// Refuses any write to, change of, or shadow over Retort's bookkeeping tables: the rows a
/// migration could forge (a fake applied revision, a replaced artifact), the triggers that
/// could forge them later, and a temporary table or view of the same name that would hide them.
/// Reading them stays allowed.
fn bookkeeping_refusal(action: &AuthAction<'_>) -> Option<String> {
    let (verb, name) = match *action {
        AuthAction::Insert { table_name } => ("insert into", table_name),
        AuthAction::Update { table_name, .. } => ("update", table_name),
        AuthAction::Delete { table_name } => ("delete from", table_name),
        AuthAction::DropTable { table_name } | AuthAction::DropTempTable { table_name } => {
            ("drop", table_name)
        }
        AuthAction::AlterTable { table_name, .. } => ("alter", table_name),
        AuthAction::CreateTrigger { table_name, .. }
        | AuthAction::CreateTempTrigger { table_name, .. } => ("add a trigger to", table_name),
        AuthAction::DropTrigger { table_name, .. }
        | AuthAction::DropTempTrigger { table_name, .. } => ("drop a trigger of", table_name),
        AuthAction::CreateIndex { table_name, .. }
        | AuthAction::CreateTempIndex { table_name, .. }
        | AuthAction::DropIndex { table_name, .. }
        | AuthAction::DropTempIndex { table_name, .. } => ("index", table_name),
        AuthAction::CreateTable { table_name } | AuthAction::CreateTempTable { table_name } => {
            ("create a table named", table_name)
        }
        AuthAction::CreateView { view_name } | AuthAction::CreateTempView { view_name } => {
            ("create a view named", view_name)
        }
        AuthAction::CreateVtable { table_name, .. } => ("create a virtual table named", table_name),
        _ => return None,
    };
    is_bookkeeping(name).then(|| {
        format!(
            "a migration may not {verb} {name}: Retort's bookkeeping is written by Retort alone"
        )
    })
}

fn pragma_refusal(name: &str, value: Option<&str>) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    match PRAGMAS.iter().find(|(p, _)| *p == lower) {
        Some((_, true)) => None,
        Some((_, false)) if value.is_none() => None,
        Some(_) => Some(format!(
            "a migration may read PRAGMA {lower} but not set it"
        )),
        None => Some(format!(
            "a migration may not use PRAGMA {lower}: it changes the database's safety, \
             Retort's lock or files outside the migration (see docs/decisions.md for the \
             pragmas allowed)"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bookkeeping_tables_are_read_only_to_a_migration() {
        let refused = |action: AuthAction<'_>| bookkeeping_refusal(&action);
        assert!(
            refused(AuthAction::Insert {
                table_name: "retort_history"
            })
            .unwrap()
            .contains("may not insert into retort_history")
        );
        assert!(
            refused(AuthAction::CreateTempTable {
                table_name: "RETORT_HISTORY"
            })
            .is_some()
        );
        assert!(
            refused(AuthAction::CreateTempTrigger {
                trigger_name: "t",
                table_name: "retort_artifacts"
            })
            .is_some()
        );
        assert!(
            refused(AuthAction::Read {
                table_name: "retort_history",
                column_name: "digest"
            })
            .is_none()
        );
        assert!(
            refused(AuthAction::Insert {
                table_name: "users"
            })
            .is_none()
        );
    }

    /// A guest's statement whose preparation SQLite reports as too large, on a real
    /// connection with the policy as its authorizer: `Err` with the reason, else `Ok`.
    fn prepare_as_guest(
        conn: &rusqlite::Connection,
        policy: &Policy,
        sql: &str,
    ) -> Result<(), String> {
        let (prepared, refused) = policy.as_guest(true, || conn.prepare(sql).map(drop));
        match (prepared, refused) {
            (Ok(()), None) => Ok(()),
            (_, Some(reason)) => Err(reason),
            (Err(e), None) => panic!("{sql}: {e}"),
        }
    }

    fn guarded() -> (rusqlite::Connection, Policy) {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        let policy = Policy::default();
        let authorizer = policy.clone();
        let _ = conn.authorizer(Some(move |ctx: AuthContext<'_>| authorizer.authorize(ctx)));
        (conn, policy)
    }

    #[test]
    fn statements_too_large_to_prepare_are_refused_before_sqlite_prepares_them() {
        // A guest's statements are prepared on its fiber, with `HOST_STACK` of room.
        std::thread::Builder::new()
            .stack_size(crate::host::sandbox::HOST_STACK)
            .spawn(too_large_statements)
            .unwrap()
            .join()
            .unwrap();
    }

    fn too_large_statements() {
        let (conn, policy) = guarded();
        conn.execute_batch("CREATE TABLE t (a INTEGER); CREATE VIEW d0 AS SELECT a FROM t;")
            .unwrap();
        // Each view reads the one before twice: 2^n copies of the first when expanded.
        for i in 1..12 {
            conn.execute_batch(&format!(
                "CREATE VIEW d{i} AS SELECT a FROM d{p} UNION ALL SELECT a FROM d{p};",
                p = i - 1
            ))
            .unwrap();
        }
        assert_eq!(prepare_as_guest(&conn, &policy, "SELECT a FROM d6"), Ok(()));
        let refused = prepare_as_guest(&conn, &policy, "SELECT a FROM d11").unwrap_err();
        assert!(
            refused.contains("more than 1000 queries and views"),
            "{refused}"
        );
        // A chain of triggers, each inserting a row of ten columns into the next table: one
        // program per trigger (on the stack, ~1 KB each), compiled when the first insert is
        // prepared; SQLite reports each table written and each column read.
        let chain = 2_000;
        let columns: Vec<String> = (0..10).map(|c| format!("c{c}")).collect();
        let mut ddl = String::from("BEGIN;\n");
        for i in 0..chain {
            ddl.push_str(&format!("CREATE TABLE r{i} ({});\n", columns.join(", ")));
        }
        let new_row: Vec<String> = columns.iter().map(|c| format!("new.{c}")).collect();
        for i in 0..chain - 1 {
            ddl.push_str(&format!(
                "CREATE TRIGGER g{i} AFTER INSERT ON r{i} BEGIN INSERT INTO r{n} VALUES ({}); END;\n",
                new_row.join(", "),
                n = i + 1
            ));
        }
        ddl.push_str("COMMIT;");
        conn.execute_batch(&ddl).unwrap();
        let insert =
            |table: usize| format!("INSERT INTO r{table} VALUES (0, 1, 2, 3, 4, 5, 6, 7, 8, 9)");
        assert_eq!(
            prepare_as_guest(&conn, &policy, &insert(chain - 1_000)),
            Ok(())
        );
        let refused = prepare_as_guest(&conn, &policy, &insert(0)).unwrap_err();
        assert!(
            refused.contains("more than 20000 columns, tables and triggers"),
            "{refused}"
        );
        // Retort's own statements are not counted.
        assert!(conn.prepare(&insert(0)).is_ok());
    }

    #[test]
    fn pragmas_are_an_allow_list() {
        assert_eq!(pragma_refusal("table_info", Some("t")), None);
        assert_eq!(pragma_refusal("USER_VERSION", Some("3")), None);
        assert_eq!(pragma_refusal("foreign_keys", None), None);
        assert_eq!(pragma_refusal("foreign_keys", Some("OFF")), None);
        assert!(
            pragma_refusal("page_size", Some("1024"))
                .unwrap()
                .contains("not set it")
        );
        for denied in [
            "writable_schema",
            "journal_mode",
            "locking_mode",
            "query_only",
            "synchronous",
            "temp_store_directory",
            "mmap_size",
        ] {
            assert!(pragma_refusal(denied, Some("1")).is_some(), "{denied}");
            assert!(pragma_refusal(denied, None).is_some(), "{denied}");
        }
    }
}
