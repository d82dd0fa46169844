//! Splitting SQL scripts into statements, shared by the guest SDK (which runs `.sql`
//! migrations statement by statement) and the host (which looks at the statements a
//! migration sends, e.g. for transaction control).
//!
//! A script is split on `;` outside string literals, quoted identifiers, comments and
//! PostgreSQL dollar-quoted bodies (`$$ … $$`, `$tag$ … $tag$`). Routine bodies need no
//! `DELIMITER`: inside `CREATE [OR REPLACE] … PROCEDURE | FUNCTION | TRIGGER | EVENT`,
//! `BEGIN … END` (and `CASE … END`) blocks are kept whole, so MySQL procedures, PostgreSQL
//! `BEGIN ATOMIC` bodies and SQLite triggers split correctly. A `DELIMITER x` line (the mysql
//! client's command) is also understood. Comments and blank statements are dropped: a
//! comment-only or empty script has no statements.

use crate::Dialect;

/// Splits `script` into statements, in order, without their terminators.
///
/// ```
/// use retort_sql::{Dialect, split};
/// let sql = "CREATE TABLE t (s TEXT); -- a comment; not a statement\nINSERT INTO t VALUES ('a;b');";
/// assert_eq!(split(sql, Dialect::Sqlite).unwrap(),
///            ["CREATE TABLE t (s TEXT)", "INSERT INTO t VALUES ('a;b')"]);
/// ```
pub fn split(script: &str, dialect: Dialect) -> Result<Vec<String>, String> {
    let b = script.as_bytes();
    let mut out = Vec::new();
    let mut delimiter = ";".to_string();
    let mut start = 0;
    let mut i = 0;
    let mut depth = 0usize;
    // Whether the statement so far has significant (non-comment) text, and its first words.
    let mut words: Vec<String> = Vec::new();
    let mut at_line_start = true;
    let push = |out: &mut Vec<String>, text: &str| {
        // (A MySQL statement in a versioned comment, `/*!40101 SET NAMES utf8 */`, runs.)
        if !strip_comments(&crate::reveal_versioned(text, dialect), dialect)
            .trim()
            .is_empty()
        {
            out.push(trim_leading_comments(text, dialect).trim_end().to_string());
        }
    };
    while i < b.len() {
        let c = b[i];
        // `DELIMITER x` at the start of a line (mysql client syntax).
        if at_line_start && dialect == Dialect::Mysql {
            let rest = &script[i..];
            let trimmed = rest.trim_start_matches([' ', '\t']);
            if trimmed
                .get(..10)
                .is_some_and(|w| w.eq_ignore_ascii_case("DELIMITER "))
            {
                let line_end = trimmed.find('\n').map_or(trimmed.len(), |n| n);
                let new = trimmed[10..line_end].trim();
                if new.is_empty() {
                    return Err("DELIMITER without a delimiter".into());
                }
                push(&mut out, &script[start..i]);
                delimiter = new.to_string();
                i += (rest.len() - trimmed.len()) + line_end;
                start = i;
                words.clear();
                continue;
            }
        }
        at_line_start = false;
        if let Some(end) = crate::skip_opaque(script, i, dialect) {
            i = end?;
            continue;
        }
        match c {
            b'\n' => {
                at_line_start = true;
                i += 1;
            }
            // (Bytes: `i` may be inside a character of several bytes, such as an unquoted
            // `é`, where slicing the `str` would panic.)
            _ if b[i..].starts_with(delimiter.as_bytes()) && (depth == 0 || delimiter != ";") => {
                push(&mut out, &script[start..i]);
                i += delimiter.len();
                start = i;
                depth = 0;
                words.clear();
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                let end = i + script[i..]
                    .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                    .unwrap_or(script.len() - i);
                let word = script[i..end].to_ascii_uppercase();
                if routine(&words) {
                    match word.as_str() {
                        "BEGIN" | "CASE" => depth += 1,
                        "END" => {
                            let next = next_word(&script[end..]);
                            if !matches!(next.as_str(), "IF" | "LOOP" | "WHILE" | "REPEAT" | "FOR")
                            {
                                depth = depth.saturating_sub(1);
                            }
                        }
                        _ => {}
                    }
                }
                if words.len() < 8 {
                    words.push(word);
                }
                i = end;
            }
            _ => i += 1,
        }
    }
    push(&mut out, &script[start..]);
    Ok(out)
}

/// Whether the statement's first words create a routine whose body may hold `;`.
fn routine(words: &[String]) -> bool {
    let mut w = words.iter().map(String::as_str).peekable();
    if w.next() != Some("CREATE") {
        return false;
    }
    w.any(|x| matches!(x, "PROCEDURE" | "FUNCTION" | "TRIGGER" | "EVENT"))
}

fn next_word(s: &str) -> String {
    s.trim_start()
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .next()
        .unwrap_or("")
        .to_ascii_uppercase()
}

fn skip_line(b: &[u8], start: usize) -> usize {
    b[start..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |n| start + n)
}

/// The text from its first significant character (leading comments and blanks dropped, so
/// error messages show the statement itself; a MySQL versioned comment is kept: it runs).
fn trim_leading_comments(text: &str, dialect: Dialect) -> &str {
    let mut t = text.trim_start();
    loop {
        if crate::dash_comment(t.as_bytes(), 0, dialect)
            || (dialect == Dialect::Mysql && t.starts_with('#'))
        {
            t = t.find('\n').map_or("", |n| &t[n + 1..]).trim_start();
        } else if t.starts_with("/*")
            && (dialect != Dialect::Mysql || crate::versioned_opener(t.as_bytes(), 0).is_none())
        {
            t = t.find("*/").map_or("", |n| &t[n + 2..]).trim_start();
        } else {
            return t;
        }
    }
}

/// The text with comments removed (to tell comment-only statements apart).
fn strip_comments(text: &str, dialect: Dialect) -> String {
    let b = text.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'-' if crate::dash_comment(b, i, dialect) => i = skip_line(b, i),
            b'#' if dialect == Dialect::Mysql => i = skip_line(b, i),
            b'/' if b.get(i + 1) == Some(&b'*') => {
                i = text[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2)
            }
            _ => {
                let ch = text[i..].chars().next().unwrap_or(' ');
                out.push(ch);
                i += ch.len_utf8();
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_comments_and_empty_statements() {
        let sql = "-- header; with a semicolon\nCREATE TABLE a (s TEXT DEFAULT 'x;y', \"c;d\" INT);\n\
                   /* block; comment */ ;; INSERT INTO a VALUES ('it''s; fine');\n-- trailing";
        assert_eq!(
            split(sql, Dialect::Sqlite).unwrap(),
            [
                "CREATE TABLE a (s TEXT DEFAULT 'x;y', \"c;d\" INT)",
                "INSERT INTO a VALUES ('it''s; fine')"
            ]
        );
        assert!(
            split("-- nothing\n/* at all */\n", Dialect::Postgres)
                .unwrap()
                .is_empty()
        );
        assert!(split("", Dialect::Mysql).unwrap().is_empty());
    }

    /// MySQL reads `--` as a comment only before a space or a control character: `--a` is two
    /// minus signs, and what follows on the line is SQL (a second statement after a `;`).
    #[test]
    fn mysql_dashes_before_a_letter_are_not_a_comment() {
        let sql = "UPDATE t SET a = 2 --a; SET @q = 'x'; PREPARE s FROM @q\n;";
        assert_eq!(
            split(sql, Dialect::Mysql).unwrap(),
            [
                "UPDATE t SET a = 2 --a",
                "SET @q = 'x'",
                "PREPARE s FROM @q"
            ]
        );
        // A comment: one statement, the `;` in it is not an end.
        for sql in ["SELECT 1 -- c; d\n", "SELECT 1 --\tc; d\n", "SELECT 1 --"] {
            assert_eq!(split(sql, Dialect::Mysql).unwrap().len(), 1, "{sql:?}");
        }
        // PostgreSQL and SQLite take `--` before anything for a comment.
        assert_eq!(
            split("SELECT 2 --a; SELECT 3\n", Dialect::Postgres)
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn postgres_dollar_bodies() {
        let sql = "CREATE FUNCTION f() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END; $$;\n\
                   CREATE FUNCTION g() RETURNS text AS $body$ SELECT 'a;$$' $body$ LANGUAGE sql;\n\
                   SELECT $1";
        let parts = split(sql, Dialect::Postgres).unwrap();
        assert_eq!(parts.len(), 3, "{parts:?}");
        assert!(parts[0].ends_with("END; $$"));
        assert!(parts[1].contains("'a;$$' $body$"));
    }

    #[test]
    fn mysql_routines_without_delimiter() {
        let sql = "CREATE PROCEDURE p(IN n INT)\nBEGIN\n  DECLARE i INT DEFAULT 0;\n  WHILE i < n DO\n    \
                   IF i = 2 THEN SET i = i + 1; END IF;\n    SET i = i + 1;\n  END WHILE;\n  \
                   SELECT CASE WHEN n > 1 THEN 'many' ELSE 'one' END;\nEND;\n\
                   CREATE TABLE t (s VARCHAR(10) DEFAULT 'a\\';b'); # comment; here\nDROP TABLE t;";
        let parts = split(sql, Dialect::Mysql).unwrap();
        assert_eq!(parts.len(), 3, "{parts:#?}");
        assert!(parts[0].starts_with("CREATE PROCEDURE") && parts[0].ends_with("END"));
        assert!(parts[1].starts_with("CREATE TABLE t"));
    }

    #[test]
    fn mysql_delimiter_lines() {
        let sql =
            "DELIMITER //\nCREATE PROCEDURE p() BEGIN SELECT 1; END //\nDELIMITER ;\nSELECT 2;";
        let parts = split(sql, Dialect::Mysql).unwrap();
        assert_eq!(
            parts,
            ["CREATE PROCEDURE p() BEGIN SELECT 1; END", "SELECT 2"]
        );
    }

    #[test]
    fn sqlite_triggers() {
        let sql = "CREATE TRIGGER t AFTER INSERT ON a BEGIN UPDATE a SET n = n + 1; DELETE FROM b; END;\nSELECT 1;";
        let parts = split(sql, Dialect::Sqlite).unwrap();
        assert_eq!(parts.len(), 2, "{parts:?}");
    }

    #[test]
    fn mysql_versioned_comments_are_statements() {
        // What mysqldump writes: the server runs each of these, so none may be dropped.
        let dump = "/*!40101 SET NAMES utf8mb4 */;\n\
                    /*!50001 CREATE ALGORITHM=UNDEFINED */ /*!50001 VIEW v AS SELECT 1 */;\n\
                    /*M!100100 SET sql_mode = '' */;\n/* a plain comment */;";
        assert_eq!(
            split(dump, Dialect::Mysql).unwrap(),
            [
                "/*!40101 SET NAMES utf8mb4 */",
                "/*!50001 CREATE ALGORITHM=UNDEFINED */ /*!50001 VIEW v AS SELECT 1 */",
                "/*M!100100 SET sql_mode = '' */",
            ]
        );
        // Elsewhere `/*!` opens an ordinary comment.
        assert!(
            split("/*! SET x = 1 */;", Dialect::Postgres)
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            crate::reveal_versioned("SELECT 1 /*!50001 , '*/' */ /* c */", Dialect::Mysql),
            "SELECT 1          , '*/'    /* c */"
        );
    }

    #[test]
    fn characters_of_several_bytes_outside_quotes() {
        // Unquoted names may hold them (a lexer that sliced its text at every byte panicked).
        assert_eq!(
            split("CREATE TABLE café (numéro INT);SELECT ✓;é", Dialect::Mysql).unwrap(),
            ["CREATE TABLE café (numéro INT)", "SELECT ✓", "é"]
        );
        assert_eq!(
            crate::transaction_control("UPDATE café SET a = 1; COMMIT", Dialect::Postgres),
            Ok(Some("COMMIT".into()))
        );
    }

    #[test]
    fn unterminated_input_is_an_error() {
        assert!(
            split("SELECT 'abc", Dialect::Sqlite)
                .unwrap_err()
                .contains("unterminated string")
        );
        assert!(
            split("SELECT $$ abc", Dialect::Postgres)
                .unwrap_err()
                .contains("unterminated $$")
        );
        assert!(split("/* abc", Dialect::Mysql).is_err());
    }
}
