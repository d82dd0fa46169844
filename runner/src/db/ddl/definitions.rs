//! Definitions a migration keeps for its downgrade (WIT 0.3.0 `keep-definition` and
//! `restore-definition`): read from the catalog during the upgrade, stored as JSON in the
//! migration's history row (`retort_history.kept`), replayed by the downgrade. The statements
//! kept are the ones that recreate the object exactly as the catalog described it.

use serde::{Deserialize, Serialize};

use super::Writer;
use crate::bindings::Dialect;
pub use crate::bindings::schema::ObjectKind;

/// One object's definition, as kept.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    /// `view`, `function`, `procedure` or `trigger`.
    pub kind: String,
    /// The object's name, as the migration gave it.
    pub name: String,
    /// What recreates it, in order (a drop of what has the name then, and the definition).
    pub statements: Vec<String>,
}

/// The kind's name, as kept and as messages say it.
pub fn kind_name(kind: ObjectKind) -> &'static str {
    match kind {
        ObjectKind::View => "view",
        ObjectKind::Function => "function",
        ObjectKind::Procedure => "procedure",
        ObjectKind::Trigger => "trigger",
    }
}

/// How the host reads one kind of definition on one dialect.
pub enum Capture {
    /// One query (`$1`: the name): each row's first column is a statement that recreates
    /// (one row per PostgreSQL overload; a trigger's drop, then its creation).
    Query(&'static str),
    /// MySQL: whether it exists (`$1`: the name), then `SHOW CREATE …` (the statement in
    /// column `column`), since `information_schema` lacks routines' parameter lists.
    Show {
        /// Counts objects of the name.
        exists: &'static str,
        /// `SHOW CREATE FUNCTION|PROCEDURE|TRIGGER <name>`.
        show: String,
        /// The column holding the statement.
        column: usize,
        /// What to drop first (`DROP FUNCTION IF EXISTS <name>`).
        drop: String,
    },
}

/// How `kind` named `name` is read on `dialect`; an error for what the dialect has not.
pub fn capture(dialect: Dialect, kind: ObjectKind, name: &str) -> Result<Capture, String> {
    use ObjectKind as K;
    let w = Writer { dialect };
    Ok(match (dialect, kind) {
        (Dialect::Sqlite, K::View) => Capture::Query(
            "SELECT s FROM (SELECT 1 AS k, 'DROP VIEW IF EXISTS \"' || replace(name, '\"', \
             '\"\"') || '\"' AS s FROM sqlite_master WHERE type = 'view' AND name = $1 UNION \
             ALL SELECT 2, sql FROM sqlite_master WHERE type = 'view' AND name = $1) ORDER BY k",
        ),
        (Dialect::Sqlite, K::Trigger) => Capture::Query(
            "SELECT s FROM (SELECT 1 AS k, 'DROP TRIGGER IF EXISTS \"' || replace(name, '\"', \
             '\"\"') || '\"' AS s FROM sqlite_master WHERE type = 'trigger' AND name = $1 UNION \
             ALL SELECT 2, sql FROM sqlite_master WHERE type = 'trigger' AND name = $1) ORDER BY k",
        ),
        (Dialect::Sqlite, K::Function | K::Procedure) => {
            return Err(format!(
                "SQLite has no stored {}s: there is no `{name}` to keep",
                kind_name(kind)
            ));
        }
        (Dialect::Postgres, K::View) => Capture::Query(
            "SELECT 'CREATE OR REPLACE VIEW ' || c.oid::regclass::text || ' AS ' || \
             pg_get_viewdef(c.oid, true) FROM pg_class c WHERE c.relname = $1 AND c.relkind = \
             'v' AND c.relnamespace = current_schema()::regnamespace",
        ),
        (Dialect::Postgres, K::Function) => Capture::Query(
            "SELECT pg_get_functiondef(p.oid) FROM pg_proc p WHERE p.proname = $1 AND \
             p.prokind = 'f' AND p.pronamespace = current_schema()::regnamespace ORDER BY p.oid",
        ),
        (Dialect::Postgres, K::Procedure) => Capture::Query(
            "SELECT pg_get_functiondef(p.oid) FROM pg_proc p WHERE p.proname = $1 AND \
             p.prokind = 'p' AND p.pronamespace = current_schema()::regnamespace ORDER BY p.oid",
        ),
        (Dialect::Postgres, K::Trigger) => Capture::Query(
            "SELECT s FROM (SELECT 1 AS k, 'DROP TRIGGER IF EXISTS ' || quote_ident(t.tgname) || \
             ' ON ' || t.tgrelid::regclass::text AS s FROM pg_trigger t JOIN pg_class c ON c.oid = \
             t.tgrelid WHERE t.tgname = $1 AND NOT t.tgisinternal AND c.relnamespace = \
             current_schema()::regnamespace UNION ALL SELECT 2, pg_get_triggerdef(t.oid) FROM \
             pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE t.tgname = $1 AND NOT \
             t.tgisinternal AND c.relnamespace = current_schema()::regnamespace) d ORDER BY k",
        ),
        (Dialect::Mysql, K::View) => Capture::Query(
            "SELECT CONCAT('CREATE OR REPLACE VIEW `', REPLACE(TABLE_NAME, '`', '``'), '` AS ', \
             VIEW_DEFINITION) FROM information_schema.VIEWS WHERE TABLE_SCHEMA = DATABASE() AND \
             TABLE_NAME = $1",
        ),
        (Dialect::Mysql, K::Function | K::Procedure) => {
            let (word, exists) = match kind {
                K::Function => (
                    "FUNCTION",
                    "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = \
                     DATABASE() AND ROUTINE_NAME = $1 AND ROUTINE_TYPE = 'FUNCTION'",
                ),
                _ => (
                    "PROCEDURE",
                    "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = \
                     DATABASE() AND ROUTINE_NAME = $1 AND ROUTINE_TYPE = 'PROCEDURE'",
                ),
            };
            Capture::Show {
                exists,
                show: format!("SHOW CREATE {word} {}", w.q(name)),
                column: 2,
                drop: format!("DROP {word} IF EXISTS {}", w.q(name)),
            }
        }
        (Dialect::Mysql, K::Trigger) => Capture::Show {
            exists: "SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = \
                     DATABASE() AND TRIGGER_NAME = $1",
            show: format!("SHOW CREATE TRIGGER {}", w.q(name)),
            column: 2,
            drop: format!("DROP TRIGGER IF EXISTS {}", w.q(name)),
        },
    })
}

/// A MySQL `CREATE` statement from `SHOW CREATE` without its `DEFINER=…` clause: recreated,
/// the object belongs to the account the migration runs as, which may not name another.
pub fn without_definer(statement: &str) -> String {
    let Some(at) = statement.find(" DEFINER=") else {
        return statement.to_string();
    };
    let rest = &statement[at + " DEFINER=".len()..];
    // `user`@`host`: two back-quoted names joined by @ (a quoted name doubles its quotes).
    let mut end = 0;
    let mut quoted = 0;
    let b = rest.as_bytes();
    while end < b.len() && quoted < 2 {
        if b[end] == b'`' {
            let mut j = end + 1;
            while j < b.len() {
                if b[j] == b'`' && b.get(j + 1) == Some(&b'`') {
                    j += 2;
                } else if b[j] == b'`' {
                    break;
                } else {
                    j += 1;
                }
            }
            end = j + 1;
            quoted += 1;
        } else {
            end += 1;
        }
    }
    format!("{}{}", &statement[..at], &rest[end.min(rest.len())..])
}

/// The kept definitions as stored.
pub fn encode(kept: &[Kept]) -> String {
    serde_json::to_string(kept).unwrap_or_else(|_| "[]".into())
}

/// The kept definitions of a history row.
pub fn decode(text: &str) -> Result<Vec<Kept>, String> {
    serde_json::from_str(text).map_err(|e| format!("the kept definitions are unreadable: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_definer_is_dropped_and_nothing_else() {
        assert_eq!(
            without_definer(
                "CREATE DEFINER=`root`@`%` FUNCTION `price`(x INT) RETURNS int(11) RETURN x * 2"
            ),
            "CREATE FUNCTION `price`(x INT) RETURNS int(11) RETURN x * 2"
        );
        assert_eq!(
            without_definer(
                "CREATE DEFINER=`a``b`@`h` TRIGGER t AFTER INSERT ON x FOR EACH ROW SET @a = 1"
            ),
            "CREATE TRIGGER t AFTER INSERT ON x FOR EACH ROW SET @a = 1"
        );
        assert_eq!(
            without_definer("CREATE VIEW v AS SELECT 1"),
            "CREATE VIEW v AS SELECT 1"
        );
    }

    #[test]
    fn kept_definitions_round_trip_as_json() {
        let kept = vec![Kept {
            kind: "view".into(),
            name: "report".into(),
            statements: vec![
                "DROP VIEW IF EXISTS \"report\"".into(),
                "CREATE VIEW report AS SELECT 1".into(),
            ],
        }];
        assert_eq!(decode(&encode(&kept)).unwrap(), kept);
        assert!(decode("not json").is_err());
        assert!(capture(Dialect::Sqlite, ObjectKind::Function, "f").is_err());
    }
}
