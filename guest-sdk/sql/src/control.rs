//! Which statements take the transaction out of Retort's hands.

use crate::Dialect;

/// The first statement of `sql` (a statement or a script) that begins, ends or abandons a
/// transaction, or switches autocommit on, in `dialect`: what a migration may not send
/// inside the transaction Retort lent it, since its work would then commit without its
/// history row (or not roll back with it). `ROLLBACK TO [SAVEPOINT]`, `SAVEPOINT` and
/// `RELEASE` stay allowed: they nest inside the transaction. Routine bodies (a procedure that
/// commits when called) are not statements of the script. `Err` when the text does not lex.
///
/// ```
/// use retort_sql::{Dialect, transaction_control};
/// assert_eq!(transaction_control("UPDATE t SET a = 1; COMMIT", Dialect::Postgres), Ok(Some("COMMIT".into())));
/// assert_eq!(transaction_control("ROLLBACK TO SAVEPOINT s", Dialect::Postgres), Ok(None));
/// assert_eq!(transaction_control("SET autocommit = 1", Dialect::Mysql), Ok(Some("SET autocommit = 1".into())));
/// ```
pub fn transaction_control(sql: &str, dialect: Dialect) -> Result<Option<String>, String> {
    for statement in crate::split(sql, dialect)? {
        if controls(&words(&statement, dialect), dialect) {
            return Ok(Some(statement));
        }
    }
    Ok(None)
}

/// Why a migration may not send `sql` on MySQL/MariaDB, where DDL commits the moment it runs
/// (so no check after it can roll it back): a statement that names one of `tables` (Retort's
/// bookkeeping tables, anywhere in its text, quoted or not) and is not a read — `TRUNCATE`,
/// `DROP`, `ALTER`, `RENAME`, a routine or event whose body does so; a `DROP DATABASE` or
/// `DROP SCHEMA` naming `schema`. `None` when it may be sent. (Writes by plain DML are left to
/// the bookkeeping digest, which refuses them while they can still roll back. SQL built at run
/// time is checked by the host on the text the server will prepare: see
/// [`mysql_dynamic_sql`].) An early, friendly refusal: what holds is what the host verifies
/// after the statement.
///
/// A routine body may build SQL at run time (`PREPARE` inside a procedure), which real
/// histories do: it is not refused here. What such a body does when called is seen after the
/// call, by the bookkeeping digest and the server's transaction state; on MySQL a DDL statement
/// in it commits at once, so the guarantee against it is the migration account's privileges
/// (docs/security.md).
///
/// ```
/// use retort_sql::mysql_bookkeeping_refusal as refusal;
/// let tables = ["retort_history", "retort_artifacts"];
/// assert!(refusal("TRUNCATE `retort_artifacts`", &tables, "app").is_some());
/// assert!(refusal("CREATE PROCEDURE p() PREPARE s FROM @q", &tables, "app").is_none());
/// assert!(refusal("DROP DATABASE app", &tables, "app").is_some());
/// assert!(refusal("SELECT * FROM retort_history", &tables, "app").is_none());
/// assert!(refusal("CREATE TABLE orders (id INT)", &tables, "app").is_none());
/// ```
pub fn mysql_bookkeeping_refusal(sql: &str, tables: &[&str], schema: &str) -> Option<String> {
    let statements = crate::split(sql, Dialect::Mysql).unwrap_or_else(|_| vec![sql.to_string()]);
    for statement in statements {
        let w = words(&statement, Dialect::Mysql);
        let word = |n: usize| w.get(n).map_or("", String::as_str);
        let lower = statement.to_ascii_lowercase();
        let read = matches!(
            word(0),
            "SELECT" | "WITH" | "TABLE" | "SHOW" | "DESCRIBE" | "DESC" | "EXPLAIN"
        );
        if !read
            && let Some(table) = tables
                .iter()
                .find(|t| lower.contains(&t.to_ascii_lowercase()))
        {
            return Some(format!(
                "`{}` names {table}, one of Retort's bookkeeping tables; only Retort writes them",
                crate::truncate_statement(&statement)
            ));
        }
        if word(0) == "DROP"
            && matches!(word(1), "DATABASE" | "SCHEMA")
            && lower.contains(&schema.to_ascii_lowercase())
        {
            return Some(format!(
                "`{}` drops the database that holds Retort's bookkeeping",
                crate::truncate_statement(&statement)
            ));
        }
    }
    None
}

/// Whether `sql` (a statement or a script) may commit implicitly on MySQL/MariaDB: any
/// statement but plain DML, queries and session variables (`CREATE TEMPORARY TABLE` and
/// `DROP TEMPORARY TABLE` do not commit). Conservative: `CALL` and `EXECUTE` count, since the
/// procedure or prepared statement they run may be DDL. Text that does not lex counts too.
///
/// ```
/// use retort_sql::may_commit_implicitly;
/// assert!(may_commit_implicitly("INSERT INTO t VALUES (1); ALTER TABLE t ADD c INT"));
/// assert!(!may_commit_implicitly("UPDATE t SET a = 1; CREATE TEMPORARY TABLE x (a INT)"));
/// ```
pub fn may_commit_implicitly(sql: &str) -> bool {
    let Ok(statements) = crate::split(sql, Dialect::Mysql) else {
        return true;
    };
    statements.iter().any(|statement| {
        let w = words(statement, Dialect::Mysql);
        let word = |n: usize| w.get(n).map_or("", String::as_str);
        !matches!(
            (word(0), word(1)),
            (
                "SELECT"
                    | "INSERT"
                    | "UPDATE"
                    | "DELETE"
                    | "REPLACE"
                    | "WITH"
                    | "VALUES"
                    | "TABLE"
                    | "SET"
                    | "DO"
                    | "SHOW"
                    | "EXPLAIN"
                    | "DESCRIBE"
                    | "DESC"
                    | "SAVEPOINT"
                    | "RELEASE"
                    | "ROLLBACK"
                    | "HANDLER"
                    | "PREPARE"
                    | "DEALLOCATE"
                    | "SIGNAL"
                    | "GET",
                _
            ) | ("CREATE" | "DROP", "TEMPORARY")
        )
    })
}

/// A script's statements without the `BEGIN;` … `COMMIT;` pair that wraps all of them, if
/// one does (as in many imported `.up.sql` files): their authors meant "run this as one
/// transaction", which is what Retort does. `true` when the pair was dropped. A script with
/// other transaction control inside is left as it is (and refused when it runs).
///
/// ```
/// use retort_sql::{Dialect, split, unwrap_transaction};
/// let script = split("BEGIN;\nCREATE TABLE t (a INT);\nCOMMIT;\n", Dialect::Postgres).unwrap();
/// assert_eq!(unwrap_transaction(script, Dialect::Postgres), (vec!["CREATE TABLE t (a INT)".to_string()], true));
/// ```
pub fn unwrap_transaction(statements: Vec<String>, dialect: Dialect) -> (Vec<String>, bool) {
    let opens = |s: &str| {
        let w = words(s, dialect);
        let w: Vec<&str> = w.iter().map(String::as_str).collect();
        matches!(
            w.as_slice(),
            ["BEGIN"] | ["BEGIN", "WORK" | "TRANSACTION"] | ["START", "TRANSACTION"]
        )
    };
    let closes = |s: &str| {
        let w = words(s, dialect);
        let w: Vec<&str> = w.iter().map(String::as_str).collect();
        match w.as_slice() {
            ["COMMIT"] | ["COMMIT", "WORK" | "TRANSACTION"] => true,
            ["END"] | ["END", "WORK" | "TRANSACTION"] => dialect != Dialect::Mysql,
            _ => false,
        }
    };
    let n = statements.len();
    let wrapped = n >= 2
        && opens(&statements[0])
        && closes(&statements[n - 1])
        && !statements[1..n - 1]
            .iter()
            .any(|s| controls(&words(s, dialect), dialect));
    if !wrapped {
        return (statements, false);
    }
    let mut inner = statements;
    inner.pop();
    inner.remove(0);
    (inner, true)
}

/// The statement's words (outside literals and comments), upper-cased.
fn words(statement: &str, dialect: Dialect) -> Vec<String> {
    // What a MySQL versioned comment holds is code to the server: its words count.
    let statement = &*crate::reveal_versioned(statement, dialect);
    let b = statement.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if let Some(end) = crate::skip_opaque(statement, i, dialect) {
            i = end.unwrap_or(b.len());
            continue;
        }
        let c = b[i];
        if c.is_ascii_alphabetic() || c == b'_' || c == b'@' {
            let end = statement[i..]
                .find(|ch: char| {
                    !(ch.is_ascii_alphanumeric() || ch == '_' || ch == '@' || ch == '.')
                })
                .map_or(b.len(), |n| i + n);
            out.push(statement[i..end].to_ascii_uppercase());
            i = end;
        } else {
            i += 1;
        }
    }
    out
}

fn controls(w: &[String], dialect: Dialect) -> bool {
    let word = |n: usize| w.get(n).map_or("", String::as_str);
    match (word(0), dialect) {
        // `BEGIN NOT ATOMIC … END` is a MariaDB compound statement: it controls the
        // transaction only if it commits or rolls back inside.
        ("BEGIN", Dialect::Mysql) if word(1) == "NOT" && word(2) == "ATOMIC" => w[3..]
            .iter()
            .any(|x| matches!(x.as_str(), "COMMIT" | "ROLLBACK" | "AUTOCOMMIT")),
        ("BEGIN" | "COMMIT", _) => true,
        ("START", _) => word(1) == "TRANSACTION",
        ("ROLLBACK", _) => word(1) != "TO" && !(word(1) == "WORK" && word(2) == "TO"),
        ("END" | "ABORT", Dialect::Postgres | Dialect::Sqlite) => true,
        // Two-phase commit.
        ("PREPARE", Dialect::Postgres) => word(1) == "TRANSACTION",
        ("XA", Dialect::Mysql) => true,
        // `SET autocommit = 1`, `SET @@session.autocommit = 1`, `SET a = 1, autocommit = 1`.
        ("SET", Dialect::Mysql) => w.iter().any(|x| {
            x.trim_start_matches('@')
                .rsplit('.')
                .next()
                .is_some_and(|name| name == "AUTOCOMMIT")
        }),
        _ => false,
    }
}

/// Where the text of SQL built at run time comes from, in MySQL's `PREPARE name FROM …` and
/// MariaDB's `EXECUTE IMMEDIATE …`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DynamicSql {
    /// A user variable (`@q`, upper-cased): the host reads its value before sending the
    /// statement, and checks that text as it would check the statement.
    Variable(String),
    /// A string literal: part of the statement's own text, checked with it.
    Literal,
    /// Anything else (an expression, a quoted variable name): its value cannot be read
    /// without evaluating it.
    Expression,
    /// A `PREPARE … FROM @q` among other statements sent in one string: `@q` may be set by
    /// one of them, so its value cannot be read before they run.
    InScript,
}

/// The SQL that `sql` builds at run time on MySQL/MariaDB, if it does (`PREPARE name FROM …`,
/// `EXECUTE IMMEDIATE …`); routine bodies are not statements of the script. `EXECUTE name`
/// runs what `PREPARE` prepared, checked then.
///
/// ```
/// use retort_sql::{mysql_dynamic_sql as dynamic, DynamicSql};
/// assert_eq!(dynamic("PREPARE s FROM @q"), Some(DynamicSql::Variable("@Q".into())));
/// assert_eq!(dynamic("PREPARE s FROM 'DROP TABLE t'"), Some(DynamicSql::Literal));
/// assert_eq!(dynamic("EXECUTE IMMEDIATE CONCAT('DROP ', 'TABLE t')"), Some(DynamicSql::Expression));
/// assert_eq!(dynamic("SET @q = 'x'; PREPARE s FROM @q"), Some(DynamicSql::InScript));
/// assert_eq!(dynamic("EXECUTE s"), None);
/// ```
pub fn mysql_dynamic_sql(sql: &str) -> Option<DynamicSql> {
    let statements = crate::split(sql, Dialect::Mysql).unwrap_or_else(|_| vec![sql.to_string()]);
    let several = statements.len() > 1;
    for statement in &statements {
        let statement = &*crate::reveal_versioned(statement, Dialect::Mysql);
        let w = words(statement, Dialect::Mysql);
        let word = |n: usize| w.get(n).map_or("", String::as_str);
        // What follows `FROM` / `IMMEDIATE` in the text itself (literals are not words).
        let rest = match (word(0), word(1), word(2)) {
            ("PREPARE", _, "FROM") => after_word(after_word(after_word(statement))),
            ("EXECUTE", "IMMEDIATE", _) => after_word(after_word(statement)),
            _ => continue,
        };
        let source = if rest.starts_with('\'') || rest.starts_with('"') {
            DynamicSql::Literal
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '_' | '$' | '.'))
                .collect();
            let whole = rest[name.len()..]
                .trim()
                .trim_end_matches(';')
                .trim()
                .is_empty();
            match name.starts_with('@') && !name.starts_with("@@") && name.len() > 1 && whole {
                true if several => DynamicSql::InScript,
                true => DynamicSql::Variable(name.to_ascii_uppercase()),
                false => DynamicSql::Expression,
            }
        };
        return Some(source);
    }
    None
}

/// `text` after its first word (a name, perhaps back-quoted), without the space around it.
fn after_word(text: &str) -> &str {
    let text = text.trim_start();
    let end = match text.starts_with('`') {
        true => crate::skip_opaque(text, 0, Dialect::Mysql)
            .and_then(Result::ok)
            .unwrap_or(text.len()),
        false => text
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '$')))
            .unwrap_or(text.len()),
    };
    text[end..].trim_start()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(sql: &str, dialect: Dialect) -> Option<String> {
        transaction_control(sql, dialect).unwrap()
    }

    #[test]
    fn transaction_statements_are_found_anywhere_in_a_script() {
        for d in [Dialect::Postgres, Dialect::Mysql, Dialect::Sqlite] {
            assert_eq!(
                refused("BEGIN;\nCREATE TABLE t (a INT);\nCOMMIT;", d),
                Some("BEGIN".into())
            );
            assert_eq!(
                refused("INSERT INTO t VALUES (1); commit work", d),
                Some("commit work".into())
            );
            assert_eq!(
                refused("start transaction read write", d),
                Some("start transaction read write".into())
            );
            assert!(refused("ROLLBACK", d).is_some());
            assert_eq!(
                refused(
                    "ROLLBACK TO SAVEPOINT a; SAVEPOINT b; RELEASE SAVEPOINT b",
                    d
                ),
                None
            );
            assert_eq!(refused("ROLLBACK WORK TO a", d), None);
            // Literals, identifiers and comments are not statements.
            assert_eq!(
                refused("INSERT INTO t VALUES ('; COMMIT'); -- COMMIT\n", d),
                None
            );
            assert_eq!(refused("SELECT 1 AS \"commit\"", d), None);
            assert_eq!(refused("UPDATE t SET started = 1", d), None);
        }
        assert!(refused("END", Dialect::Postgres).is_some());
        assert!(refused("abort", Dialect::Postgres).is_some());
        assert!(refused("PREPARE TRANSACTION 'x'", Dialect::Postgres).is_some());
        assert_eq!(
            refused("PREPARE p (int) AS SELECT $1", Dialect::Postgres),
            None
        );
        assert!(refused("XA START 'x'", Dialect::Mysql).is_some());
    }

    #[test]
    fn routine_bodies_are_not_statements_of_the_script() {
        let pg = "CREATE FUNCTION f() RETURNS int LANGUAGE sql BEGIN ATOMIC SELECT 1; END;\n\
                  CREATE PROCEDURE p() LANGUAGE plpgsql AS $$ BEGIN COMMIT; END $$;";
        assert_eq!(refused(pg, Dialect::Postgres), None);
        let my = "CREATE PROCEDURE p() BEGIN UPDATE t SET a = 1; COMMIT; END;\n\
                  CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW BEGIN SET NEW.a = 1; END";
        assert_eq!(refused(my, Dialect::Mysql), None);
        let lite = "CREATE TRIGGER tr AFTER INSERT ON t BEGIN UPDATE t SET a = 1; END;";
        assert_eq!(refused(lite, Dialect::Sqlite), None);
    }

    #[test]
    fn a_wrapping_pair_is_dropped_only_when_it_wraps_everything() {
        let unwrap = |sql: &str, d| unwrap_transaction(crate::split(sql, d).unwrap(), d);
        let (inner, dropped) = unwrap(
            "-- header\nBEGIN;\nCREATE TABLE t (a INT);\nINSERT INTO t VALUES (1);\nCOMMIT;\n-- end\n",
            Dialect::Sqlite,
        );
        assert!(dropped);
        assert_eq!(
            inner,
            ["CREATE TABLE t (a INT)", "INSERT INTO t VALUES (1)"]
        );
        assert!(
            unwrap(
                "START TRANSACTION; UPDATE t SET a = 1; COMMIT WORK;",
                Dialect::Mysql
            )
            .1
        );
        assert!(
            unwrap(
                "BEGIN TRANSACTION; UPDATE t SET a = 1; END TRANSACTION;",
                Dialect::Sqlite
            )
            .1
        );
        // Not a wrapping pair: left alone (and refused when run).
        assert!(
            !unwrap(
                "BEGIN; UPDATE t SET a = 1; COMMIT; BEGIN; UPDATE t SET a = 2; COMMIT;",
                Dialect::Postgres
            )
            .1
        );
        assert!(!unwrap("UPDATE t SET a = 1; COMMIT;", Dialect::Postgres).1);
        assert!(!unwrap("BEGIN; UPDATE t SET a = 1;", Dialect::Postgres).1);
        assert!(!unwrap("BEGIN; UPDATE t SET a = 1; ROLLBACK;", Dialect::Postgres).1);
        assert!(
            !unwrap(
                "BEGIN ISOLATION LEVEL SERIALIZABLE; UPDATE t SET a = 1; COMMIT;",
                Dialect::Postgres
            )
            .1
        );
        assert_eq!(unwrap("BEGIN; COMMIT;", Dialect::Postgres), (vec![], true));
    }

    #[test]
    fn what_may_commit_implicitly_on_mysql() {
        for sql in [
            "CREATE TABLE t (a INT)",
            "ALTER TABLE t ADD b INT",
            "DROP TABLE t",
            "TRUNCATE t",
            "RENAME TABLE a TO b",
            "CREATE TRIGGER tr BEFORE INSERT ON t FOR EACH ROW SET NEW.a = 1",
            "LOCK TABLES t WRITE",
            "CALL p()",
            "EXECUTE s",
            "SELECT 'unterminated",
            // The server runs a versioned comment's content.
            "/*!50001 CREATE TABLE t (a INT) */",
            "/*M! DROP TABLE t */",
        ] {
            assert!(may_commit_implicitly(sql), "{sql}");
        }
        for sql in [
            "INSERT INTO t VALUES ('CREATE TABLE')",
            "UPDATE t SET a = 1 -- DROP TABLE t",
            "CREATE TEMPORARY TABLE x (a INT)",
            "DROP TEMPORARY TABLE x",
            "SELECT 1; SET @a = 1",
            "",
        ] {
            assert!(!may_commit_implicitly(sql), "{sql}");
        }
    }

    #[test]
    fn what_a_versioned_comment_holds_is_checked_as_sql() {
        let tables = ["retort_history"];
        assert!(mysql_bookkeeping_refusal("/*! DROP DATABASE app */", &tables, "app").is_some());
        assert_eq!(
            mysql_dynamic_sql("/*!50001 PREPARE s FROM @q */"),
            Some(DynamicSql::Variable("@Q".into()))
        );
        assert!(
            transaction_control("/*! COMMIT */", Dialect::Mysql)
                .unwrap()
                .is_some()
        );
        assert_eq!(
            transaction_control("/*! COMMIT */", Dialect::Postgres),
            Ok(None)
        );
    }

    #[test]
    fn mysql_autocommit_and_compound_statements() {
        for sql in [
            "SET autocommit = 1",
            "SET @@autocommit := 1",
            "set session autocommit=ON",
            "SET @@SESSION.autocommit = 1",
            "SET sql_mode = '', autocommit = 1",
        ] {
            assert!(refused(sql, Dialect::Mysql).is_some(), "{sql}");
        }
        assert_eq!(
            refused("SET @autocommit_note = 'autocommit'", Dialect::Mysql),
            None
        );
        assert_eq!(refused("SET FOREIGN_KEY_CHECKS = 0", Dialect::Mysql), None);
        assert!(
            refused(
                "BEGIN NOT ATOMIC UPDATE t SET a = 1; COMMIT; END",
                Dialect::Mysql
            )
            .is_some()
        );
        assert_eq!(
            refused("BEGIN NOT ATOMIC UPDATE t SET a = 1; END", Dialect::Mysql),
            None
        );
        // MySQL has no END statement of its own.
        assert_eq!(refused("END", Dialect::Mysql), None);
    }
}
