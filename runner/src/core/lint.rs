//! `retort lint`: statements that lose data, lock or rewrite a table in production, or fail
//! where they stand. Lexical (keywords outside literals and comments, by `retort_sql`'s
//! rules), per statement, with what the migration itself created known: a rule about an
//! existing table does not fire on one the same migration made.
//!
//! Each rule has an id; a finding is acknowledged in the file by a comment naming it in the
//! statement (`-- retort: allow drop-column`, or `/* retort: allow drop-column */`), or for the
//! whole migration by a SQL migration's header line `-- retort: allow = drop-column`.

use std::collections::BTreeSet;

use crate::core::Dialect;

/// What a lint rule checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Rule {
    /// `DROP TABLE` of a table the migration did not create.
    DropTable,
    /// `ALTER TABLE … DROP COLUMN`.
    DropColumn,
    /// A column's type changed (`ALTER COLUMN … TYPE`, MySQL `MODIFY`/`CHANGE`).
    TypeChange,
    /// `ADD COLUMN … NOT NULL` without a `DEFAULT`, on an existing table.
    NotNullWithoutDefault,
    /// PostgreSQL `CREATE INDEX` without `CONCURRENTLY` on an existing table.
    IndexWithoutConcurrently,
    /// PostgreSQL foreign key added to an existing table without `NOT VALID`.
    ForeignKeyWithoutNotValid,
    /// PostgreSQL `CONCURRENTLY` in a migration that runs in a transaction.
    ConcurrentlyInTransaction,
    /// MySQL/MariaDB: data changes in one migration with DDL, which commits implicitly.
    DmlWithDdl,
}

/// Every rule, in the order they are documented.
pub const RULES: [Rule; 8] = [
    Rule::DropTable,
    Rule::DropColumn,
    Rule::TypeChange,
    Rule::NotNullWithoutDefault,
    Rule::IndexWithoutConcurrently,
    Rule::ForeignKeyWithoutNotValid,
    Rule::ConcurrentlyInTransaction,
    Rule::DmlWithDdl,
];

impl Rule {
    /// Its id, as findings print it and acknowledgements name it.
    pub fn id(self) -> &'static str {
        match self {
            Rule::DropTable => "drop-table",
            Rule::DropColumn => "drop-column",
            Rule::TypeChange => "type-change",
            Rule::NotNullWithoutDefault => "not-null-without-default",
            Rule::IndexWithoutConcurrently => "index-without-concurrently",
            Rule::ForeignKeyWithoutNotValid => "foreign-key-without-not-valid",
            Rule::ConcurrentlyInTransaction => "concurrently-in-transaction",
            Rule::DmlWithDdl => "dml-with-ddl",
        }
    }

    /// One line: why it matters and what to do instead.
    pub fn explanation(self) -> &'static str {
        match self {
            Rule::DropTable => {
                "drops a table and its rows: code still deployed may read it, and a downgrade \
                 cannot bring the rows back"
            }
            Rule::DropColumn => {
                "drops a column and its values: stop reading it in a release first; a \
                 downgrade cannot bring the values back"
            }
            Rule::TypeChange => {
                "changes a column's type: a narrower type loses or refuses values, and the \
                 table is rewritten under an exclusive lock (PostgreSQL, MySQL)"
            }
            Rule::NotNullWithoutDefault => {
                "adds a NOT NULL column without a DEFAULT to an existing table: it fails on a \
                 table with rows (add it nullable, backfill, then set NOT NULL)"
            }
            Rule::IndexWithoutConcurrently => {
                "builds an index while blocking writes to the table: use CREATE INDEX \
                 CONCURRENTLY in a migration with `transaction = false`"
            }
            Rule::ForeignKeyWithoutNotValid => {
                "adds a foreign key that scans the table under a lock blocking writes: add it \
                 NOT VALID, then VALIDATE CONSTRAINT in a later migration"
            }
            Rule::ConcurrentlyInTransaction => {
                "CONCURRENTLY cannot run inside a transaction and will fail: mark the \
                 migration `transaction = false`"
            }
            Rule::DmlWithDdl => {
                "mixes data changes with DDL, which commits implicitly on MySQL/MariaDB: a \
                 failure half-way leaves part of it applied; split it into two migrations"
            }
        }
    }

    /// The rule with this id.
    pub fn parse(id: &str) -> Option<Rule> {
        RULES.into_iter().find(|r| r.id() == id)
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// What the linter knows of the migration around the statements.
#[derive(Clone, Debug)]
pub struct Context {
    /// The engine.
    pub engine: Dialect,
    /// Whether the migration runs in a transaction.
    pub transactional: bool,
    /// Rules acknowledged for the whole migration (a SQL header's `allow`).
    pub allowed: BTreeSet<Rule>,
}

/// One unacknowledged problem.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct LintFinding {
    /// The rule.
    pub rule: Rule,
    /// The statement (its number in the migration, from 1) and its text, shortened.
    pub statement: usize,
    /// The statement's text on one line, shortened.
    pub sql: String,
}

impl std::fmt::Display for LintFinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (statement {}: {}): {}",
            self.rule,
            self.statement,
            self.sql,
            self.rule.explanation()
        )
    }
}

/// A statement as words: keywords upper-cased, quoted identifiers unquoted and lower-cased,
/// literals as `'`, with the acknowledgements its comments make.
pub(crate) struct Words {
    pub(crate) words: Vec<String>,
    allowed: BTreeSet<Rule>,
}

pub(crate) fn words(sql: &str, engine: Dialect) -> Words {
    let dialect = engine;
    let mut out = Words {
        words: Vec::new(),
        allowed: BTreeSet::new(),
    };
    let b = sql.as_bytes();
    let mut at = 0;
    while at < b.len() {
        if let Some(end) = retort_sql::skip_opaque(sql, at, dialect) {
            let end = end.unwrap_or(b.len()).max(at + 1).min(b.len());
            let piece = &sql[at..end];
            if piece.starts_with("--") || piece.starts_with('#') || piece.starts_with("/*") {
                acknowledged(piece, &mut out.allowed);
            } else if piece.starts_with('"') || piece.starts_with('`') {
                out.words
                    .push(piece.trim_matches(|c| c == '"' || c == '`').to_lowercase());
            } else {
                out.words.push("'".into());
            }
            at = end;
            continue;
        }
        let c = b[at];
        if c.is_ascii_alphanumeric() || c == b'_' {
            let start = at;
            while at < b.len() && (b[at].is_ascii_alphanumeric() || b[at] == b'_' || b[at] == b'$')
            {
                at += 1;
            }
            out.words.push(sql[start..at].to_ascii_uppercase());
            continue;
        }
        if matches!(c, b'(' | b')' | b',' | b'.') {
            out.words.push((c as char).to_string());
        }
        at += sql[at..].chars().next().map_or(1, char::len_utf8);
    }
    out
}

/// `retort: allow ID[, ID…]` in a comment.
fn acknowledged(comment: &str, into: &mut BTreeSet<Rule>) {
    let Some(at) = comment.find("retort:") else {
        return;
    };
    let rest = comment[at + "retort:".len()..].trim_start();
    let Some(ids) = rest.strip_prefix("allow") else {
        return;
    };
    for id in ids.split(|c: char| c.is_whitespace() || c == ',' || c == '=') {
        if let Some(rule) = Rule::parse(id.trim_end_matches("*/")) {
            into.insert(rule);
        }
    }
}

/// The acknowledgements in a SQL migration's `-- retort: allow = …` header value.
pub fn allowed_in_header(value: &str) -> Result<BTreeSet<Rule>, String> {
    value
        .split([' ', ','])
        .filter(|id| !id.is_empty())
        .map(|id| {
            Rule::parse(id).ok_or_else(|| {
                format!(
                    "`{id}` is not a lint rule ({})",
                    RULES.map(Rule::id).join(", ")
                )
            })
        })
        .collect()
}

/// The table a statement names after `words[at..]` (`[IF [NOT] EXISTS] [ONLY] [schema.]name`),
/// lower-cased, without its schema.
pub(crate) fn table_at(w: &[String], mut at: usize) -> Option<String> {
    while at < w.len() && matches!(w[at].as_str(), "IF" | "NOT" | "EXISTS" | "ONLY") {
        at += 1;
    }
    let mut name = w.get(at)?.clone();
    while w.get(at + 1).map(String::as_str) == Some(".") {
        at += 2;
        name = w.get(at)?.clone();
    }
    Some(name.to_lowercase())
}

fn starts(w: &[String], prefix: &[&str]) -> bool {
    w.len() >= prefix.len() && w.iter().zip(prefix).all(|(a, b)| a == b)
}

fn has(w: &[String], word: &str) -> bool {
    w.iter().any(|x| x == word)
}

/// The top-level clauses of an `ALTER TABLE` (split at commas outside parentheses), after the
/// table's name.
fn clauses(w: &[String], from: usize) -> Vec<&[String]> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0usize, from);
    for (i, x) in w.iter().enumerate().skip(from) {
        match x.as_str() {
            "(" => depth += 1,
            ")" => depth = depth.saturating_sub(1),
            "," if depth == 0 => {
                out.push(&w[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&w[start..]);
    out
}

/// What is wrong in one `ALTER TABLE` clause of an existing table.
fn alter_clause(clause: &[String], engine: Dialect, found: &mut Vec<Rule>) {
    let Some(first) = clause.first().map(String::as_str) else {
        return;
    };
    match first {
        "DROP" => {
            let next = clause.get(1).map(String::as_str).unwrap_or("");
            let not_a_column = [
                "CONSTRAINT",
                "INDEX",
                "KEY",
                "PRIMARY",
                "FOREIGN",
                "CHECK",
                "PARTITION",
                "DEFAULT",
            ];
            if next == "COLUMN" || (!not_a_column.contains(&next) && !next.is_empty()) {
                found.push(Rule::DropColumn);
            }
        }
        "ALTER" if has(clause, "TYPE") => found.push(Rule::TypeChange),
        "MODIFY" | "CHANGE" if engine == Dialect::Mysql => found.push(Rule::TypeChange),
        "ADD" => {
            let next = clause.get(1).map(String::as_str).unwrap_or("");
            let foreign = has(clause, "FOREIGN") || has(clause, "REFERENCES");
            let constraint = matches!(
                next,
                "CONSTRAINT" | "FOREIGN" | "PRIMARY" | "UNIQUE" | "CHECK" | "INDEX" | "KEY"
            );
            if engine == Dialect::Postgres && foreign && !has(clause, "VALID") {
                found.push(Rule::ForeignKeyWithoutNotValid);
            }
            let not_null = clause.windows(2).any(|p| p[0] == "NOT" && p[1] == "NULL");
            let generated = has(clause, "GENERATED") || has(clause, "AS");
            if !constraint && not_null && !has(clause, "DEFAULT") && !generated {
                found.push(Rule::NotNullWithoutDefault);
            }
        }
        _ => {}
    }
}

/// The statement without the comments before it (a file's header, an `allow` line): what a
/// finding quotes.
fn without_leading_comments(sql: &str, engine: Dialect) -> &str {
    let dialect = engine;
    let mut at = 0;
    loop {
        let rest = &sql[at..];
        let trimmed = rest.trim_start();
        at += rest.len() - trimmed.len();
        let comment = trimmed.starts_with("--")
            || trimmed.starts_with("/*")
            || (engine == Dialect::Mysql && trimmed.starts_with('#'));
        match retort_sql::skip_opaque(sql, at, dialect) {
            Some(Ok(end)) if comment => at = end,
            _ => return &sql[at..],
        }
    }
}

/// Lints one migration's statements, in order.
pub fn lint(statements: &[String], ctx: &Context) -> Vec<LintFinding> {
    let mut created = BTreeSet::new();
    let mut findings = Vec::new();
    let mut saw_ddl = false;
    let mut saw_dml = false;
    for (n, sql) in statements.iter().enumerate() {
        let Words { words: w, allowed } = words(sql, ctx.engine);
        let mut found = Vec::new();
        if starts(&w, &["CREATE", "TABLE"])
            || starts(&w, &["CREATE", "TEMPORARY", "TABLE"])
            || starts(&w, &["CREATE", "TEMP", "TABLE"])
        {
            let at = w.iter().position(|x| x == "TABLE").map_or(2, |i| i + 1);
            created.extend(table_at(&w, at));
        }
        let is_new = |table: &Option<String>| table.as_ref().is_some_and(|t| created.contains(t));
        if starts(&w, &["DROP", "TABLE"]) && !is_new(&table_at(&w, 2)) {
            found.push(Rule::DropTable);
        }
        if starts(&w, &["ALTER", "TABLE"]) {
            let table = table_at(&w, 2);
            if !is_new(&table) {
                let after = w
                    .iter()
                    .position(|x| table.as_deref() == Some(&x.to_lowercase()))
                    .map_or(w.len(), |i| i + 1);
                for clause in clauses(&w, after) {
                    alter_clause(clause, ctx.engine, &mut found);
                }
            }
        }
        if ctx.engine == Dialect::Postgres {
            let index =
                starts(&w, &["CREATE", "INDEX"]) || starts(&w, &["CREATE", "UNIQUE", "INDEX"]);
            let table = w
                .iter()
                .position(|x| x == "ON")
                .and_then(|i| table_at(&w, i + 1));
            if index && !has(&w, "CONCURRENTLY") && !is_new(&table) {
                found.push(Rule::IndexWithoutConcurrently);
            }
            if has(&w, "CONCURRENTLY") && ctx.transactional && !starts(&w, &["REFRESH"]) {
                found.push(Rule::ConcurrentlyInTransaction);
            }
        }
        if ctx.engine == Dialect::Mysql {
            let dml = ["INSERT", "UPDATE", "DELETE", "REPLACE"]
                .iter()
                .any(|k| starts(&w, &[k]));
            let ddl = retort_sql::may_commit_implicitly(sql);
            if (dml && saw_ddl) || (ddl && saw_dml) {
                // Once per migration: at the statement that mixes them.
                if !saw_ddl || !saw_dml {
                    found.push(Rule::DmlWithDdl);
                }
            }
            saw_ddl |= ddl;
            saw_dml |= dml;
        }
        for rule in found {
            if !allowed.contains(&rule) && !ctx.allowed.contains(&rule) {
                findings.push(LintFinding {
                    rule,
                    statement: n + 1,
                    sql: crate::core::one_line(without_leading_comments(sql, ctx.engine), 120),
                });
            }
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(engine: Dialect, transactional: bool, statements: &[&str]) -> Vec<&'static str> {
        let ctx = Context {
            engine,
            transactional,
            allowed: BTreeSet::new(),
        };
        let statements: Vec<String> = statements.iter().map(|s| s.to_string()).collect();
        lint(&statements, &ctx)
            .into_iter()
            .map(|f| f.rule.id())
            .collect()
    }

    #[test]
    fn destructive_changes_are_found() {
        let pg = Dialect::Postgres;
        assert_eq!(check(pg, true, &["DROP TABLE users"]), ["drop-table"]);
        assert_eq!(
            check(pg, true, &["ALTER TABLE public.users DROP COLUMN email"]),
            ["drop-column"]
        );
        assert_eq!(
            check(Dialect::Mysql, true, &["ALTER TABLE `users` DROP `email`"]),
            ["drop-column"]
        );
        assert_eq!(
            check(
                pg,
                true,
                &["ALTER TABLE users ALTER COLUMN age TYPE smallint"]
            ),
            ["type-change"]
        );
        assert_eq!(
            check(
                Dialect::Mysql,
                true,
                &["ALTER TABLE users MODIFY age TINYINT"]
            ),
            ["type-change"]
        );
    }

    #[test]
    fn what_is_not_destructive_is_not_found() {
        let pg = Dialect::Postgres;
        assert!(
            check(
                pg,
                true,
                &["ALTER TABLE users DROP CONSTRAINT users_email_key"]
            )
            .is_empty()
        );
        assert!(check(pg, true, &["ALTER TABLE users ALTER COLUMN a DROP DEFAULT"]).is_empty());
        assert!(
            check(
                pg,
                true,
                &["ALTER TABLE users ALTER COLUMN a DROP NOT NULL"]
            )
            .is_empty()
        );
        assert!(check(Dialect::Mysql, true, &["ALTER TABLE t DROP INDEX i"]).is_empty());
        // In a literal or a comment, DROP TABLE is not a statement.
        assert!(
            check(
                pg,
                true,
                &["INSERT INTO log VALUES ('DROP TABLE users') -- DROP TABLE x"]
            )
            .is_empty()
        );
        // A table the migration made itself may be changed freely.
        assert!(
            check(
                pg,
                true,
                &[
                    "CREATE TABLE scratch (id int)",
                    "CREATE INDEX scratch_id ON scratch (id)",
                    "ALTER TABLE scratch ADD COLUMN b int NOT NULL",
                    "DROP TABLE scratch",
                ]
            )
            .is_empty()
        );
    }

    #[test]
    fn not_null_needs_a_default_on_an_existing_table() {
        let s = Dialect::Sqlite;
        assert_eq!(
            check(
                s,
                true,
                &["ALTER TABLE users ADD COLUMN age INTEGER NOT NULL"]
            ),
            ["not-null-without-default"]
        );
        assert!(
            check(
                s,
                true,
                &["ALTER TABLE users ADD COLUMN age INTEGER NOT NULL DEFAULT 0"]
            )
            .is_empty()
        );
        assert!(check(s, true, &["ALTER TABLE users ADD COLUMN age INTEGER"]).is_empty());
    }

    #[test]
    fn postgres_locking_rules() {
        let pg = Dialect::Postgres;
        assert_eq!(
            check(pg, true, &["CREATE INDEX users_email ON users (email)"]),
            ["index-without-concurrently"]
        );
        assert_eq!(
            check(
                pg,
                true,
                &["CREATE INDEX CONCURRENTLY users_email ON users (email)"]
            ),
            ["concurrently-in-transaction"]
        );
        assert!(
            check(
                pg,
                false,
                &["CREATE INDEX CONCURRENTLY users_email ON users (email)"]
            )
            .is_empty()
        );
        assert_eq!(
            check(
                pg,
                true,
                &[
                    "ALTER TABLE orders ADD CONSTRAINT orders_user FOREIGN KEY (user_id) REFERENCES users (id)"
                ]
            ),
            ["foreign-key-without-not-valid"]
        );
        assert!(
            check(
                pg,
                true,
                &["ALTER TABLE orders ADD CONSTRAINT orders_user FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID"]
            )
            .is_empty()
        );
        // Only PostgreSQL builds indexes concurrently.
        assert!(check(Dialect::Sqlite, true, &["CREATE INDEX i ON t (a)"]).is_empty());
        assert!(check(pg, true, &["REFRESH MATERIALIZED VIEW CONCURRENTLY v"]).is_empty());
    }

    #[test]
    fn mysql_data_changes_with_ddl_are_found_once() {
        let my = Dialect::Mysql;
        assert_eq!(
            check(
                my,
                true,
                &[
                    "ALTER TABLE users ADD COLUMN age INT",
                    "UPDATE users SET age = 0",
                    "UPDATE users SET age = 1",
                ]
            ),
            ["dml-with-ddl"]
        );
        assert!(check(my, true, &["UPDATE users SET a = 1", "DELETE FROM users"]).is_empty());
        assert!(
            check(
                Dialect::Postgres,
                true,
                &[
                    "ALTER TABLE users ADD COLUMN a int",
                    "UPDATE users SET a = 1"
                ]
            )
            .is_empty()
        );
    }

    #[test]
    fn findings_are_acknowledged_in_the_statement_or_the_header() {
        let pg = Dialect::Postgres;
        assert!(check(pg, true, &["-- retort: allow drop-table\nDROP TABLE users"]).is_empty());
        assert!(
            check(
                pg,
                true,
                &["DROP TABLE users /* retort: allow drop-table, drop-column */"]
            )
            .is_empty()
        );
        assert_eq!(
            check(
                pg,
                true,
                &["-- retort: allow drop-column\nDROP TABLE users"]
            ),
            ["drop-table"],
            "another rule's acknowledgement does not count"
        );
        let ctx = Context {
            engine: pg,
            transactional: true,
            allowed: allowed_in_header("drop-table").unwrap(),
        };
        assert!(lint(&["DROP TABLE users".to_string()], &ctx).is_empty());
        assert!(
            allowed_in_header("drop-tables")
                .unwrap_err()
                .contains("not a lint rule")
        );
    }

    #[test]
    fn a_finding_quotes_the_statement_not_the_comments_before_it() {
        let ctx = |engine| Context {
            engine,
            transactional: true,
            allowed: BTreeSet::new(),
        };
        let first = "-- retort: parents = none\n-- retort: description = x\n/* note */\n\
                     ALTER TABLE users DROP COLUMN email"
            .to_string();
        let found = lint(&[first], &ctx(Dialect::Postgres));
        assert_eq!(found[0].sql, "ALTER TABLE users DROP COLUMN email");
        let mysql = "# a MySQL comment\nALTER TABLE users DROP COLUMN email".to_string();
        let found = lint(&[mysql], &ctx(Dialect::Mysql));
        assert_eq!(found[0].sql, "ALTER TABLE users DROP COLUMN email");
    }
}
