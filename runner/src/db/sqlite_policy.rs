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

use std::sync::atomic::{AtomicBool, Ordering};
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
        self.lent_transaction
            .store(in_transaction, Ordering::SeqCst);
        self.guest.store(true, Ordering::SeqCst);
        let out = f();
        self.guest.store(false, Ordering::SeqCst);
        (out, self.take_refusal())
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
        let refusal = match ctx.action {
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
        };
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
