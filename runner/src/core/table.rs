//! The one reader of a `CREATE TABLE` statement's text (SQLite keeps tables as their
//! statement): the elements between its outer parentheses, split where a comma stands at the
//! top level, outside literals, quoted names, comments and nested parentheses. SQLite's table
//! rebuild edits them (`db/ddl/sqlite_table.rs`), the catalog snapshot compares them without
//! their order (`db/catalog.rs`), and autogenerate compares declared and current columns.

use retort_sql::{Dialect, skip_opaque};

/// A `CREATE TABLE` statement split into what precedes its column list, the list's elements
/// and what follows it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableText {
    /// Up to the opening parenthesis (`CREATE TABLE name`), trimmed.
    pub head: String,
    /// The elements between the outer parentheses (column and constraint definitions),
    /// each trimmed, in order.
    pub elements: Vec<String>,
    /// What follows the closing parenthesis (`WITHOUT ROWID`, `STRICT`), trimmed, without a
    /// final `;`.
    pub options: String,
}

impl TableText {
    /// Splits `sql`, a `CREATE TABLE` statement (comments become spaces). An unterminated
    /// literal or comment, or unbalanced parentheses, is an error.
    pub fn parse(sql: &str) -> Result<TableText, String> {
        let sql = &without_comments(sql)?;
        let open = first_code_paren(sql).ok_or("no column list")?;
        let close = group_end(sql, open)? - 1;
        let body = &sql[open + 1..close];
        let b = body.as_bytes();
        let mut elements = Vec::new();
        let (mut depth, mut start, mut i) = (0usize, 0usize, 0usize);
        while i < b.len() {
            if let Some(end) = skip_opaque(body, i, Dialect::Sqlite) {
                i = end?;
                continue;
            }
            match b[i] {
                b'(' => depth += 1,
                b')' => depth = depth.saturating_sub(1),
                b',' if depth == 0 => {
                    elements.push(body[start..i].trim().to_string());
                    start = i + 1;
                }
                _ => {}
            }
            i += 1;
        }
        elements.push(body[start..].trim().to_string());
        Ok(TableText {
            head: sql[..open].trim().to_string(),
            elements,
            options: sql[close + 1..]
                .trim()
                .trim_end_matches(';')
                .trim()
                .to_string(),
        })
    }

    /// The elements with their whitespace collapsed to single spaces, empty ones dropped:
    /// the form in which two spellings of one definition compare equal.
    pub fn squashed_elements(&self) -> Vec<String> {
        self.elements
            .iter()
            .map(|e| squash(e))
            .filter(|e| !e.is_empty())
            .collect()
    }
}

/// `text` with every run of whitespace as one space, trimmed.
pub fn squash(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// `sql` with each comment replaced by a space.
fn without_comments(sql: &str) -> Result<String, String> {
    let mut out = String::with_capacity(sql.len());
    let mut i = 0;
    let mut kept = 0;
    while i < sql.len() {
        match skip_opaque(sql, i, Dialect::Sqlite) {
            Some(end) => {
                let end = end?;
                if sql[i..].starts_with("--") || sql[i..].starts_with("/*") {
                    out.push_str(&sql[kept..i]);
                    out.push(' ');
                    kept = end;
                }
                i = end;
            }
            None => i += sql[i..].chars().next().map_or(1, char::len_utf8),
        }
    }
    out.push_str(&sql[kept..]);
    Ok(out)
}

/// The byte after the `)` matching the `(` at `open`.
pub fn group_end(text: &str, open: usize) -> Result<usize, String> {
    let b = text.as_bytes();
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        if let Some(end) = skip_opaque(text, i, Dialect::Sqlite) {
            i = end?;
            continue;
        }
        match b[i] {
            b'(' => depth += 1,
            b')' => {
                depth -= 1;
                if depth == 0 {
                    return Ok(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Err("unbalanced parentheses".into())
}

/// The first `(` of `sql` outside literals and quoted names.
fn first_code_paren(sql: &str) -> Option<usize> {
    let b = sql.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if let Some(end) = skip_opaque(sql, i, Dialect::Sqlite) {
            i = end.ok()?;
            continue;
        }
        if b[i] == b'(' {
            return Some(i);
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn elements_split_at_top_level_commas_only() {
        let t = TableText::parse(
            "CREATE TABLE \"a,b\" ( -- a comment, with a comma\n  id INT,\n  \
             note TEXT DEFAULT 'x,y', total NUMERIC(10, 2),\n  CHECK (id IN (1, 2))\n) STRICT;",
        )
        .unwrap();
        assert_eq!(t.head, "CREATE TABLE \"a,b\"");
        assert_eq!(
            t.elements,
            [
                "id INT",
                "note TEXT DEFAULT 'x,y'",
                "total NUMERIC(10, 2)",
                "CHECK (id IN (1, 2))"
            ]
        );
        assert_eq!(t.options, "STRICT");
    }

    #[test]
    fn broken_text_is_an_error() {
        assert!(TableText::parse("CREATE TABLE t (a TEXT DEFAULT 'x)").is_err());
        assert!(TableText::parse("CREATE TABLE t (a INT").is_err());
        assert!(TableText::parse("CREATE TABLE t AS SELECT 1").is_err());
    }
}
