//! Definitions a migration keeps for its downgrade (WIT 0.3.0 `keep-definition` and
//! `restore-definition`): read from the catalog during the upgrade, stored as JSON in the
//! migration's history row (`retort_history.kept`), replayed by the downgrade. The statements
//! kept are the ones that recreate the object exactly as the catalog described it.

use serde::{Deserialize, Serialize};

use super::{DdlError, Writer};
pub use crate::bindings::schema::ObjectKind;
use crate::core::Dialect;

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
pub fn capture(dialect: Dialect, kind: ObjectKind, name: &str) -> Result<Capture, DdlError> {
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
            return Err(DdlError::NoSuchKind {
                kind: kind_name(kind),
                name: name.to_string(),
            });
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

/// Checks that what was kept for an object does only what it claims, before a downgrade runs
/// it: each statement is one statement (as the host splits SQL) that drops or creates an
/// object of the kept kind whose name is the kept name, and the last creates it. The kept text
/// is read back from `retort_history.kept`, which whoever can write that table could have
/// changed: signatures cover the artifact, not what the catalog said during its upgrade. (The
/// host also sends each as a prepared statement, in which the server refuses a second.)
pub fn verify(dialect: Dialect, kept: &Kept) -> Result<(), DdlError> {
    let kind = match kept.kind.as_str() {
        "view" => "VIEW",
        "function" => "FUNCTION",
        "procedure" => "PROCEDURE",
        "trigger" => "TRIGGER",
        other => return Err(DdlError::UnknownKind(other.to_string())),
    };
    super::check_name(&kept.name)?;
    let lexical = dialect;
    let mut created = false;
    for statement in &kept.statements {
        let whole = retort_sql::split(statement, lexical).map_err(DdlError::Unsplittable)?;
        if whole.len() != 1 {
            return Err(DdlError::NotOneStatement {
                statement: crate::db::truncate(statement, 120),
                count: whole.len(),
            });
        }
        let t = tokens(statement, lexical);
        let drops = t.first() == Some(&Token::Word("DROP".into()));
        let named = match drops {
            true => drop_names(&t, kind, &kept.name),
            false => create_names(&t, kind, &kept.name),
        };
        if !named {
            return Err(DdlError::NotOfObject {
                statement: crate::db::truncate(statement, 120),
                drops,
                kind: kept.kind.clone(),
                name: kept.name.clone(),
            });
        }
        created = !drops;
    }
    match created {
        true => Ok(()),
        false => Err(DdlError::NothingCreates {
            kind: kept.kind.clone(),
            name: kept.name.clone(),
        }),
    }
}

/// A word (upper-cased), a quoted identifier (unquoted) or anything else, one character.
#[derive(Debug, PartialEq, Eq)]
enum Token {
    Word(String),
    Quoted(String),
    Other(char),
}

/// The first tokens of `sql`, outside comments; a string literal or dollar body is one
/// `Other('\'')`.
fn tokens(sql: &str, dialect: retort_sql::Dialect) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < sql.len() && out.len() < 64 {
        let c = sql[i..].chars().next().unwrap_or(' ');
        if let Some(end) = retort_sql::skip_opaque(sql, i, dialect) {
            let end = end.unwrap_or(sql.len());
            match c {
                '"' | '`' => {
                    let inner = &sql[i + 1..end.saturating_sub(1).max(i + 1)];
                    out.push(Token::Quoted(
                        inner.replace(&format!("{c}{c}"), &c.to_string()),
                    ));
                }
                '\'' | '$' => out.push(Token::Other('\'')),
                _ => {} // a comment
            }
            i = end;
        } else if c.is_alphanumeric() || c == '_' {
            let end = sql[i..]
                .find(|ch: char| !(ch.is_alphanumeric() || ch == '_' || ch == '$'))
                .map_or(sql.len(), |n| i + n);
            out.push(Token::Word(sql[i..end].to_uppercase()));
            i = end;
        } else {
            if !c.is_whitespace() {
                out.push(Token::Other(c));
            }
            i += c.len_utf8();
        }
    }
    out
}

/// Whether `t` at `at` is `name`, perhaps qualified (`schema.name`); the index after it.
fn named_at(t: &[Token], at: usize, name: &str) -> Option<usize> {
    let is = |tok: Option<&Token>| match tok {
        Some(Token::Quoted(q)) => q == name,
        Some(Token::Word(w)) => w.eq_ignore_ascii_case(name),
        _ => false,
    };
    let part = |tok: Option<&Token>| matches!(tok, Some(Token::Quoted(_) | Token::Word(_)));
    if part(t.get(at)) && t.get(at + 1) == Some(&Token::Other('.')) {
        return is(t.get(at + 2)).then_some(at + 3);
    }
    is(t.get(at)).then_some(at + 1)
}

/// `DROP KIND IF EXISTS name [ON table]`, and nothing more.
fn drop_names(t: &[Token], kind: &str, name: &str) -> bool {
    let word = |n: usize, w: &str| t.get(n) == Some(&Token::Word(w.into()));
    if !(word(1, kind) && word(2, "IF") && word(3, "EXISTS")) {
        return false;
    }
    let Some(end) = named_at(t, 4, name) else {
        return false;
    };
    match t.get(end) {
        None => true,
        // A trigger's table (PostgreSQL): any one, perhaps qualified, name.
        Some(Token::Word(on)) if on == "ON" && kind == "TRIGGER" => {
            let rest = &t[end + 1..];
            matches!(
                rest,
                [Token::Word(_) | Token::Quoted(_)]
                    | [
                        Token::Word(_) | Token::Quoted(_),
                        Token::Other('.'),
                        Token::Word(_) | Token::Quoted(_)
                    ]
            )
        }
        Some(_) => false,
    }
}

/// `CREATE [OR REPLACE] [options] KIND [IF NOT EXISTS] name …`.
fn create_names(t: &[Token], kind: &str, name: &str) -> bool {
    const OPTIONS: &[&str] = &[
        "OR",
        "REPLACE",
        "ALGORITHM",
        "UNDEFINED",
        "MERGE",
        "TEMPTABLE",
        "SQL",
        "SECURITY",
        "INVOKER",
        "DEFINER",
        "CONSTRAINT",
        "AGGREGATE",
        "RECURSIVE",
    ];
    if t.first() != Some(&Token::Word("CREATE".into())) {
        return false;
    }
    let mut at = 1;
    loop {
        match t.get(at) {
            Some(Token::Word(w)) if w == kind => break,
            Some(Token::Word(w)) if OPTIONS.contains(&w.as_str()) => at += 1,
            Some(Token::Other('=')) => at += 1,
            _ => return false,
        }
    }
    at += 1;
    let word = |n: usize, w: &str| t.get(n) == Some(&Token::Word(w.into()));
    if word(at, "IF") && word(at + 1, "NOT") && word(at + 2, "EXISTS") {
        at += 3;
    }
    named_at(t, at, name).is_some_and(|end| t.get(end) != Some(&Token::Other('.')))
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

    fn kept(kind: &str, name: &str, statements: &[&str]) -> Kept {
        Kept {
            kind: kind.into(),
            name: name.into(),
            statements: statements.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn what_the_catalog_gives_passes_verification() {
        let ok = [
            (
                Dialect::Sqlite,
                kept(
                    "view",
                    "report",
                    &[
                        "DROP VIEW IF EXISTS \"report\"",
                        "CREATE VIEW report AS SELECT 1; -- x",
                    ],
                ),
            ),
            (
                Dialect::Sqlite,
                kept(
                    "trigger",
                    "stamp",
                    &[
                        "DROP TRIGGER IF EXISTS \"stamp\"",
                        "CREATE TRIGGER stamp AFTER INSERT ON items BEGIN UPDATE items SET note = 'v1;' WHERE id = new.id; END",
                    ],
                ),
            ),
            (
                Dialect::Postgres,
                kept(
                    "view",
                    "report",
                    &["CREATE OR REPLACE VIEW public.report AS SELECT 1"],
                ),
            ),
            (
                Dialect::Postgres,
                kept(
                    "view",
                    "My View",
                    &["CREATE OR REPLACE VIEW \"s p\".\"My View\" AS SELECT 1"],
                ),
            ),
            (
                Dialect::Postgres,
                kept(
                    "function",
                    "price",
                    &[
                        "CREATE OR REPLACE FUNCTION public.price(x integer)\n RETURNS integer\n LANGUAGE sql\nAS $function$ SELECT x; SELECT 2 $function$\n",
                        "CREATE OR REPLACE FUNCTION public.price(x text) RETURNS text LANGUAGE sql AS $$ SELECT x $$",
                    ],
                ),
            ),
            (
                Dialect::Postgres,
                kept(
                    "trigger",
                    "stamp",
                    &[
                        "DROP TRIGGER IF EXISTS stamp ON public.items",
                        "CREATE TRIGGER stamp BEFORE INSERT ON public.items FOR EACH ROW EXECUTE FUNCTION stamp_v1()",
                    ],
                ),
            ),
            (
                Dialect::Postgres,
                kept(
                    "trigger",
                    "late",
                    &[
                        "DROP TRIGGER IF EXISTS late ON items",
                        "CREATE CONSTRAINT TRIGGER late AFTER INSERT ON public.items DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION f()",
                    ],
                ),
            ),
            (
                Dialect::Mysql,
                kept(
                    "procedure",
                    "bump",
                    &[
                        "DROP PROCEDURE IF EXISTS `bump`",
                        "CREATE PROCEDURE `bump`()\nBEGIN UPDATE items SET n = n + 1; SELECT 1; END",
                    ],
                ),
            ),
            (
                Dialect::Mysql,
                kept(
                    "view",
                    "report",
                    &["CREATE OR REPLACE VIEW `report` AS select 1 AS `version`"],
                ),
            ),
            (
                Dialect::Mysql,
                kept(
                    "function",
                    "price",
                    &[
                        "DROP FUNCTION IF EXISTS `price`",
                        "CREATE FUNCTION `price`(x INT) RETURNS int(11) DETERMINISTIC RETURN x * 2",
                    ],
                ),
            ),
        ];
        for (dialect, k) in ok {
            assert_eq!(verify(dialect, &k), Ok(()), "{k:?}");
        }
    }

    #[test]
    fn anything_but_the_named_object_is_refused() {
        let bad = [
            (
                Dialect::Sqlite,
                kept("view", "report", &["DROP TABLE victim"]),
            ),
            (
                Dialect::Sqlite,
                kept(
                    "view",
                    "report",
                    &["CREATE VIEW report AS SELECT 1; DROP TABLE victim"],
                ),
            ),
            (
                Dialect::Sqlite,
                kept("view", "report", &["CREATE VIEW other AS SELECT 1"]),
            ),
            (
                Dialect::Sqlite,
                kept("view", "report", &["CREATE TABLE report (a INT)"]),
            ),
            (
                Dialect::Sqlite,
                kept("view", "report", &["DROP VIEW IF EXISTS report"]),
            ),
            (Dialect::Sqlite, kept("view", "report", &[])),
            (
                Dialect::Sqlite,
                kept("table", "report", &["CREATE TABLE report (a)"]),
            ),
            (
                Dialect::Sqlite,
                kept(
                    "view",
                    "report",
                    &[
                        "DROP VIEW IF EXISTS \"report\" ; DROP TABLE victim",
                        "CREATE VIEW report AS SELECT 1",
                    ],
                ),
            ),
            (
                Dialect::Postgres,
                kept(
                    "view",
                    "report",
                    &["CREATE OR REPLACE VIEW public.report.x AS SELECT 1"],
                ),
            ),
            (
                Dialect::Postgres,
                kept(
                    "function",
                    "price",
                    &[
                        "CREATE OR REPLACE FUNCTION price() RETURNS int AS $$ SELECT 1 $$ LANGUAGE sql; DELETE FROM retort_history",
                    ],
                ),
            ),
            (
                Dialect::Postgres,
                kept(
                    "trigger",
                    "stamp",
                    &[
                        "DROP TRIGGER IF EXISTS stamp ON items CASCADE",
                        "CREATE TRIGGER stamp BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION f()",
                    ],
                ),
            ),
            (
                Dialect::Postgres,
                kept("view", "report", &["GRANT ALL ON retort_history TO PUBLIC"]),
            ),
            (
                Dialect::Mysql,
                kept(
                    "procedure",
                    "bump",
                    &["CREATE PROCEDURE `bump`() BEGIN SELECT 1; END; DROP TABLE victim"],
                ),
            ),
            (
                Dialect::Mysql,
                kept(
                    "view",
                    "report",
                    &[
                        "CREATE DEFINER=`x`@`%` TRIGGER report BEFORE INSERT ON t FOR EACH ROW SET @a = 1",
                    ],
                ),
            ),
            (
                Dialect::Mysql,
                kept("view", "re\nport", &["CREATE VIEW `re\nport` AS SELECT 1"]),
            ),
        ];
        for (dialect, k) in bad {
            assert!(verify(dialect, &k).is_err(), "{k:?}");
        }
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
        assert!(matches!(
            capture(Dialect::Sqlite, ObjectKind::Function, "f"),
            Err(DdlError::NoSuchKind {
                kind: "function",
                ..
            })
        ));
    }
}
