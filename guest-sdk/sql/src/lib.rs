//! The SQL lexing Retort's host and its guest SDK share: where opaque text ends
//! ([`skip_opaque`]), how a script splits into statements ([`split`]), and which statements
//! control the transaction ([`transaction_control`]).
//!
//! Two scanners look for something in SQL text while skipping what is not SQL code: the
//! host's placeholder rewriting (`$1` outside literals) and the SDK's script splitting (`;`
//! outside literals). Both ask [`skip_opaque`] where the literal, quoted identifier, comment
//! or PostgreSQL dollar-quoted body starting at a position ends, so they cannot disagree
//! about what a statement contains. (The Python helper's splitter is a line-for-line port,
//! checked against the same cases.)
#![deny(missing_docs)]

mod control;
mod split;

pub use control::{
    may_commit_implicitly, mysql_bookkeeping_refusal, transaction_control, unwrap_transaction,
};

/// A statement shortened for a message: its first 120 characters.
pub(crate) fn truncate_statement(statement: &str) -> String {
    match statement.char_indices().nth(120) {
        Some((end, _)) => format!("{}…", &statement[..end]),
        None => statement.to_string(),
    }
}
pub use split::split;

/// The dialect whose lexical rules apply.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// PostgreSQL: dollar-quoted bodies.
    Postgres,
    /// MySQL/MariaDB: `#` comments, backslash escapes in string literals.
    Mysql,
}

/// If a string literal, quoted identifier, comment or (PostgreSQL) dollar-quoted body starts
/// at byte `at` of `sql`: `Some(Ok(end))`, the byte just after it (for a `--`/`#` comment,
/// the line's `\n`, which is left to the caller); `Some(Err(message))` when it never ends.
/// `None` when SQL code starts there.
///
/// ```
/// use retort_sql::{Dialect, skip_opaque};
/// let sql = "SELECT 'a;b', $1 -- c\n";
/// assert_eq!(skip_opaque(sql, 7, Dialect::Sqlite), Some(Ok(12)));
/// assert_eq!(skip_opaque(sql, 14, Dialect::Sqlite), None); // `$1`
/// assert_eq!(skip_opaque(sql, 17, Dialect::Sqlite), Some(Ok(21)));
/// ```
pub fn skip_opaque(sql: &str, at: usize, dialect: Dialect) -> Option<Result<usize, String>> {
    let b = sql.as_bytes();
    let c = *b.get(at)?;
    match c {
        b'\'' | b'"' | b'`' => {
            // MySQL strings take backslash escapes; PostgreSQL's only as `E'…'` (an escape
            // string: `E'it\'s'` is one string, which a reader without this takes for two).
            let word = |i: usize| b[i].is_ascii_alphanumeric() || b[i] == b'_' || b[i] >= 0x80;
            let escape_string = dialect == Dialect::Postgres
                && c == b'\''
                && at > 0
                && matches!(b[at - 1], b'E' | b'e')
                && (at < 2 || !word(at - 2));
            let backslash = (dialect == Dialect::Mysql && c != b'`') || escape_string;
            Some(
                skip_quoted(b, at, c, backslash)
                    .ok_or_else(|| format!("unterminated {} starting at byte {at}", quote_name(c))),
            )
        }
        b'-' if dash_comment(b, at, dialect) => Some(Ok(line_end(b, at))),
        b'#' if dialect == Dialect::Mysql => Some(Ok(line_end(b, at))),
        b'/' if b.get(at + 1) == Some(&b'*') => Some(
            sql[at + 2..]
                .find("*/")
                .map(|n| at + 2 + n + 2)
                .ok_or_else(|| format!("unterminated /* comment starting at byte {at}")),
        ),
        b'$' if dialect == Dialect::Postgres => {
            let tag = dollar_tag(&sql[at..])?;
            let body = at + tag.len();
            Some(
                sql[body..]
                    .find(tag)
                    .map(|n| body + n + tag.len())
                    .ok_or_else(|| format!("unterminated {tag} body starting at byte {at}")),
            )
        }
        _ => None,
    }
}

fn quote_name(c: u8) -> &'static str {
    match c {
        b'\'' => "string",
        b'"' => "quoted identifier",
        _ => "backquoted identifier",
    }
}

/// The index after the closing quote (a doubled quote is an escaped one).
fn skip_quoted(b: &[u8], start: usize, quote: u8, backslash: bool) -> Option<usize> {
    let mut i = start + 1;
    while i < b.len() {
        match b[i] {
            // The escaped character whole, however many bytes it takes.
            b'\\' if backslash => {
                i += 2;
                while i < b.len() && b[i] & 0xC0 == 0x80 {
                    i += 1;
                }
            }
            c if c == quote => {
                if b.get(i + 1) == Some(&quote) {
                    i += 2;
                } else {
                    return Some(i + 1);
                }
            }
            _ => i += 1,
        }
    }
    None
}

/// The index of the `\n` ending the line that contains `start` (or the end of the text).
/// Whether a `--` comment starts at byte `at`. MySQL reads `--` as one only before a space or
/// a control character (or the end): `2 --a` is two minus signs there, and a reader that took
/// it for a comment would miss what follows on the line (a statement, after a `;`).
pub(crate) fn dash_comment(b: &[u8], at: usize, dialect: Dialect) -> bool {
    b.get(at) == Some(&b'-')
        && b.get(at + 1) == Some(&b'-')
        && (dialect != Dialect::Mysql || b.get(at + 2).is_none_or(|&c| c <= b' '))
}

/// Whether a MySQL versioned comment (`/*!`, `/*!50001`, MariaDB's `/*M!100100`) opens at
/// byte `at`: the server runs its content as SQL. Its length with the version digits.
pub(crate) fn versioned_opener(b: &[u8], at: usize) -> Option<usize> {
    let rest = b.get(at..)?;
    let len = match rest {
        [b'/', b'*', b'!', ..] => 3,
        [b'/', b'*', b'M' | b'm', b'!', ..] => 4,
        _ => return None,
    };
    Some(
        len + rest[len..]
            .iter()
            .take_while(|c| c.is_ascii_digit())
            .count(),
    )
}

/// `sql` as MySQL runs it: the markers of its versioned comments (the opener with its version,
/// and the `*/` that closes it) blanked, their content left as code, the text's length kept.
/// What reads a statement's words must see them, since the server runs them: `/*! DROP
/// DATABASE app */` drops the database. (Revealed whatever their version: a check sees what
/// a newer server would run.) Other dialects, and text without one, come back unchanged.
pub(crate) fn reveal_versioned(sql: &str, dialect: Dialect) -> std::borrow::Cow<'_, str> {
    if dialect != Dialect::Mysql || !sql.contains("/*") {
        return sql.into();
    }
    let b = sql.as_bytes();
    let mut out = b.to_vec();
    let mut open = false;
    let mut i = 0;
    while i < b.len() {
        if let Some(len) = versioned_opener(b, i).filter(|_| !open) {
            out[i..i + len].fill(b' ');
            open = true;
            i += len;
        } else if open && b[i..].starts_with(b"*/") {
            out[i..i + 2].fill(b' ');
            open = false;
            i += 2;
        } else if let Some(end) = skip_opaque(sql, i, dialect) {
            i = end.unwrap_or(b.len());
        } else {
            i += 1;
        }
    }
    // Only ASCII bytes were replaced, by ASCII spaces: still UTF-8.
    String::from_utf8(out).map_or_else(|_| sql.into(), Into::into)
}

fn line_end(b: &[u8], start: usize) -> usize {
    b[start..]
        .iter()
        .position(|&c| c == b'\n')
        .map_or(b.len(), |n| start + n)
}

/// `$tag$` at the start of `s`, if it opens a dollar-quoted string (not a `$1` parameter).
fn dollar_tag(s: &str) -> Option<&str> {
    let rest = s.get(1..)?;
    let end = rest.find('$')?;
    let tag = &rest[..end];
    let valid = tag
        .chars()
        .enumerate()
        .all(|(n, c)| c == '_' || c.is_ascii_alphabetic() || (n > 0 && c.is_ascii_digit()));
    valid.then(|| &s[..end + 2])
}

// (Exported here, after the code the SQL runtime is built from: its panic locations name
// line numbers, and the runtime's bytes are reproducible. See guest-sdk/runtimes/build.sh.)
pub use control::{DynamicSql, mysql_dynamic_sql};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literals_and_identifiers_end_at_their_closing_quote() {
        let sql = "'it''s' \"a\"\"b\" `c`";
        assert_eq!(skip_opaque(sql, 0, Dialect::Sqlite), Some(Ok(7)));
        assert_eq!(skip_opaque(sql, 8, Dialect::Sqlite), Some(Ok(14)));
        assert_eq!(skip_opaque(sql, 15, Dialect::Mysql), Some(Ok(18)));
        // A backslash escapes in MySQL string literals only.
        assert_eq!(skip_opaque(r"'a\'b' x", 0, Dialect::Mysql), Some(Ok(6)));
        assert_eq!(skip_opaque(r"'a\'b' x", 0, Dialect::Postgres), Some(Ok(4)));
    }

    #[test]
    fn postgres_escape_strings_take_backslash_escapes() {
        // `E'it\'s; here'` is one string; a name ending in e before a quote is not a prefix.
        let sql = r"SELECT E'it\'s; here', e'\\', name'x'";
        assert_eq!(skip_opaque(sql, 8, Dialect::Postgres), Some(Ok(21)));
        assert_eq!(skip_opaque(sql, 24, Dialect::Postgres), Some(Ok(28)));
        assert_eq!(skip_opaque(sql, 34, Dialect::Postgres), Some(Ok(37)));
        assert_eq!(
            split(r"SELECT E'it\'s; here'; SELECT 2", Dialect::Postgres).unwrap(),
            [r"SELECT E'it\'s; here'", "SELECT 2"]
        );
        // The COMMIT a reader without escape strings would miss.
        assert_eq!(
            transaction_control(r"SELECT E'\''; COMMIT; --'", Dialect::Postgres),
            Ok(Some("COMMIT".into()))
        );
    }

    #[test]
    fn an_escaped_character_of_several_bytes_is_skipped_whole() {
        for (sql, dialect) in [
            ("SELECT E'\\é; x'; SELECT 1", Dialect::Postgres),
            ("SELECT '\\é; x'; SELECT 1", Dialect::Mysql),
            ("SELECT '\\✓'", Dialect::Mysql),
        ] {
            let parts = split(sql, dialect).unwrap();
            assert!(parts[0].ends_with('\''), "{sql}: {parts:?}");
        }
    }

    #[test]
    fn comments_end_at_the_line_or_their_closing_mark() {
        assert_eq!(skip_opaque("-- x\ny", 0, Dialect::Sqlite), Some(Ok(4)));
        assert_eq!(skip_opaque("# x\ny", 0, Dialect::Mysql), Some(Ok(3)));
        assert_eq!(skip_opaque("# x\ny", 0, Dialect::Postgres), None);
        assert_eq!(skip_opaque("/* a */b", 0, Dialect::Sqlite), Some(Ok(7)));
        assert_eq!(skip_opaque("- 1", 0, Dialect::Sqlite), None);
    }

    #[test]
    fn dollar_bodies_are_postgres_only_and_parameters_are_code() {
        let sql = "$$ a; $$ $f$ $$ $f$ $1";
        assert_eq!(skip_opaque(sql, 0, Dialect::Postgres), Some(Ok(8)));
        assert_eq!(skip_opaque(sql, 9, Dialect::Postgres), Some(Ok(19)));
        assert_eq!(skip_opaque(sql, 20, Dialect::Postgres), None);
        assert_eq!(skip_opaque(sql, 0, Dialect::Sqlite), None);
        assert_eq!(skip_opaque("$", 0, Dialect::Postgres), None);
    }

    #[test]
    fn what_never_ends_is_an_error() {
        for (sql, d, message) in [
            ("'abc", Dialect::Sqlite, "unterminated string"),
            ("\"abc", Dialect::Sqlite, "unterminated quoted identifier"),
            ("`abc", Dialect::Mysql, "unterminated backquoted identifier"),
            ("/* abc", Dialect::Mysql, "unterminated /* comment"),
            ("$$ abc", Dialect::Postgres, "unterminated $$ body"),
        ] {
            let e = skip_opaque(sql, 0, d).unwrap().unwrap_err();
            assert!(e.contains(message), "{sql}: {e}");
        }
        assert_eq!(skip_opaque("", 0, Dialect::Sqlite), None);
        assert_eq!(skip_opaque("x", 5, Dialect::Sqlite), None);
    }
}
