//! A SQLite `CREATE TABLE` statement as the list of its elements (column definitions and
//! table constraints), edited for a table rebuild: a column's type, nullability or default
//! changed, a constraint added or dropped, everything else kept as the author wrote it.
//!
//! SQLite keeps a table's definition only as its `CREATE TABLE` text (check constraints and
//! constraint names exist nowhere else), so a rebuild edits that text. It is split with the
//! lexical rules the rest of Retort uses (`retort_sql::skip_opaque`) into top-level elements,
//! and a column definition into its name, its type and its constraints; nothing is parsed
//! beyond what an edit needs.

use retort_sql::{Dialect as Lexical, skip_opaque};

pub use crate::core::table::TableText;
use crate::core::table::group_end;

/// Why a table's text could not be edited.
#[derive(Debug)]
pub enum EditError {
    /// No column of that name.
    NoColumn(String),
    /// No constraint of that name.
    NoConstraint(String),
    /// The text could not be read (why).
    Unreadable(String),
}

impl From<String> for EditError {
    fn from(reason: String) -> EditError {
        EditError::Unreadable(reason)
    }
}

impl From<&str> for EditError {
    fn from(reason: &str) -> EditError {
        EditError::Unreadable(reason.to_string())
    }
}

/// One lexical unit of a column definition: a word, a quoted name or literal, a
/// parenthesised group (kept whole), or a punctuation character.
fn tokens(text: &str) -> Result<Vec<&str>, String> {
    let b = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        let start = i;
        i = if let Some(end) = skip_opaque(text, i, Lexical::Sqlite) {
            end?
        } else if c == b'[' {
            text[i..]
                .find(']')
                .map(|n| i + n + 1)
                .ok_or("an unterminated [name]")?
        } else if c == b'(' {
            group_end(text, i)?
        } else if c.is_ascii_alphanumeric() || c == b'_' || c >= 0x80 {
            let mut j = i;
            while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80) {
                j += 1;
            }
            j
        } else {
            i + 1
        };
        out.push(&text[start..i]);
    }
    Ok(out)
}

impl TableText {
    /// The statement creating a table named `name` with these elements.
    pub fn render(&self, name: &str) -> String {
        let mut sql = format!(
            "CREATE TABLE {} (\n    {}\n)",
            quote(name),
            self.elements.join(",\n    ")
        );
        if !self.options.is_empty() {
            sql.push(' ');
            sql.push_str(&self.options);
        }
        sql
    }

    /// The index of the column definition of `column`.
    pub fn column(&self, column: &str) -> Result<usize, EditError> {
        for (n, e) in self.elements.iter().enumerate() {
            let t = tokens(e)?;
            if let Some(first) = t.first()
                && !is_table_constraint(first)
                && same_name(first, column)
            {
                return Ok(n);
            }
        }
        Err(EditError::NoColumn(column.to_string()))
    }

    /// Replaces column `column`'s type (if `data_type`), its NULL/NOT NULL (if `nullable`)
    /// and its default (if `default`: `Some(None)` drops it), keeping its other constraints.
    pub fn alter_column(
        &mut self,
        column: &str,
        data_type: Option<&str>,
        nullable: Option<bool>,
        default: Option<Option<&str>>,
    ) -> Result<(), EditError> {
        let n = self.column(column)?;
        let def = ColumnText::parse(&self.elements[n])?;
        self.elements[n] = def.altered(data_type, nullable, default);
        Ok(())
    }

    /// Appends a table constraint.
    pub fn add_constraint(&mut self, constraint: String) {
        // Table constraints follow every column definition.
        self.elements.push(constraint);
    }

    /// Removes the constraint named `name`: a table constraint, or a column's.
    pub fn drop_constraint(&mut self, name: &str) -> Result<(), EditError> {
        for n in 0..self.elements.len() {
            let t = tokens(&self.elements[n])?;
            let first = t.first().copied().unwrap_or_default();
            if is_table_constraint(first) {
                if first.eq_ignore_ascii_case("CONSTRAINT")
                    && t.get(1).is_some_and(|c| same_name(c, name))
                {
                    self.elements.remove(n);
                    return Ok(());
                }
                continue;
            }
            let mut def = ColumnText::parse(&self.elements[n])?;
            let before = def.constraints.len();
            def.constraints.retain(|c| {
                !(c.len() > 1 && c[0].eq_ignore_ascii_case("CONSTRAINT") && same_name(&c[1], name))
            });
            if def.constraints.len() != before {
                self.elements[n] = def.render();
                return Ok(());
            }
        }
        Err(EditError::NoConstraint(name.to_string()))
    }
}

fn is_table_constraint(first: &str) -> bool {
    ["CONSTRAINT", "PRIMARY", "UNIQUE", "CHECK", "FOREIGN"]
        .iter()
        .any(|k| first.eq_ignore_ascii_case(k))
}

/// Whether a (possibly quoted) name token names `name` (SQLite compares names without case).
fn same_name(token: &str, name: &str) -> bool {
    unquote(token).eq_ignore_ascii_case(name)
}

/// A name token without its quotes.
pub fn unquote(token: &str) -> String {
    let b = token.as_bytes();
    match (b.first(), b.last()) {
        (Some(q @ (b'"' | b'`' | b'\'')), Some(e)) if q == e && b.len() >= 2 => {
            let q = *q as char;
            token[1..token.len() - 1].replace(&format!("{q}{q}"), &q.to_string())
        }
        (Some(b'['), Some(b']')) => token[1..token.len() - 1].to_string(),
        _ => token.to_string(),
    }
}

/// `name` as a SQLite identifier.
pub fn quote(name: &str) -> String {
    format!("\"{}\"", name.replace('"', "\"\""))
}

/// Words that start a column constraint (after the type).
const COLUMN_CONSTRAINT: &[&str] = &[
    "CONSTRAINT",
    "PRIMARY",
    "NOT",
    "NULL",
    "UNIQUE",
    "CHECK",
    "DEFAULT",
    "COLLATE",
    "REFERENCES",
    "GENERATED",
    "AS",
];

/// A column definition: its name, type tokens and constraints (each a list of tokens).
struct ColumnText {
    name: String,
    data_type: Vec<String>,
    constraints: Vec<Vec<String>>,
}

impl ColumnText {
    fn parse(text: &str) -> Result<ColumnText, String> {
        let t = tokens(text)?;
        let (name, rest) = t.split_first().ok_or("an empty column definition")?;
        let starts = |w: &str| COLUMN_CONSTRAINT.iter().any(|k| w.eq_ignore_ascii_case(k));
        let type_len = rest.iter().position(|w| starts(w)).unwrap_or(rest.len());
        let mut constraints: Vec<Vec<String>> = Vec::new();
        let mut i = type_len;
        while i < rest.len() {
            let mut c = vec![rest[i].to_string()];
            i += 1;
            let head = c[0].to_ascii_uppercase();
            if head == "CONSTRAINT" && i < rest.len() {
                // `CONSTRAINT name` belongs to the constraint that follows it.
                c.push(rest[i].to_string());
                i += 1;
                if i < rest.len() {
                    c.push(rest[i].to_string());
                    i += 1;
                }
            }
            let keyword = c.last().map(|w| w.to_ascii_uppercase()).unwrap_or_default();
            if keyword == "DEFAULT" {
                // DEFAULT takes one value: a literal, a signed number or a (group).
                if i < rest.len() && (rest[i] == "-" || rest[i] == "+") {
                    c.push(rest[i].to_string());
                    i += 1;
                }
                if i < rest.len() {
                    c.push(rest[i].to_string());
                    i += 1;
                }
            } else if keyword == "NOT" && i < rest.len() {
                c.push(rest[i].to_string());
                i += 1;
            }
            while i < rest.len() && (!starts(rest[i]) || continues(&c, rest[i])) {
                c.push(rest[i].to_string());
                i += 1;
            }
            constraints.push(c);
        }
        Ok(ColumnText {
            name: name.to_string(),
            data_type: rest[..type_len].iter().map(|s| s.to_string()).collect(),
            constraints,
        })
    }

    fn render(&self) -> String {
        let mut parts = vec![self.name.clone()];
        if !self.data_type.is_empty() {
            parts.push(join_tokens(&self.data_type));
        }
        parts.extend(self.constraints.iter().map(|c| join_tokens(c)));
        parts.join(" ")
    }

    fn altered(
        mut self,
        data_type: Option<&str>,
        nullable: Option<bool>,
        default: Option<Option<&str>>,
    ) -> String {
        if let Some(t) = data_type {
            self.data_type = vec![t.to_string()];
        }
        let kind = |c: &Vec<String>| {
            let skip = if c[0].eq_ignore_ascii_case("CONSTRAINT") {
                2
            } else {
                0
            };
            let w = |k: usize| c.get(skip + k).map(|s| s.to_ascii_uppercase());
            match (w(0).as_deref(), w(1).as_deref()) {
                (Some("NOT"), Some("NULL")) | (Some("NULL"), _) => "null",
                (Some("DEFAULT"), _) => "default",
                _ => "",
            }
        };
        if let Some(nullable) = nullable {
            self.constraints.retain(|c| kind(c) != "null");
            if !nullable {
                self.constraints
                    .insert(0, vec!["NOT".into(), "NULL".into()]);
            }
        }
        if let Some(default) = default {
            self.constraints.retain(|c| kind(c) != "default");
            if let Some(expr) = default {
                self.constraints
                    .push(vec!["DEFAULT".into(), format!("({expr})")]);
            }
        }
        self.render()
    }
}

/// Whether `word` continues constraint `c` rather than starting a new one: the `NOT` of
/// `NOT DEFERRABLE` in a `REFERENCES` clause, the `NULL` of `ON DELETE SET NULL`, the
/// `DEFAULT` of `SET DEFAULT`, a `GENERATED ALWAYS AS`'s `AS`.
fn continues(c: &[String], word: &str) -> bool {
    let head = c
        .iter()
        .find(|w| !w.eq_ignore_ascii_case("CONSTRAINT"))
        .map(|w| w.to_ascii_uppercase());
    let last = c.last().map(|w| w.to_ascii_uppercase()).unwrap_or_default();
    let word = word.to_ascii_uppercase();
    match head.as_deref() {
        Some("REFERENCES") => {
            word == "NOT" || ((word == "NULL" || word == "DEFAULT") && last == "SET")
        }
        Some("GENERATED") => word == "AS",
        _ => false,
    }
}

/// Tokens back into text: a space between words, none before `(` groups after a word
/// (`VARCHAR(10)`) or around punctuation that binds (`-1`).
fn join_tokens(tokens: &[String]) -> String {
    let mut out = String::new();
    for (n, t) in tokens.iter().enumerate() {
        let spaced = ["DEFAULT", "CHECK", "AS", "KEY", "UNIQUE"];
        let glue = n > 0
            && (t.starts_with('(')
                && !spaced.iter().any(|k| tokens[n - 1].eq_ignore_ascii_case(k))
                || tokens[n - 1] == "-"
                || tokens[n - 1] == "+");
        if n > 0 && !glue {
            out.push(' ');
        }
        out.push_str(t);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ITEMS: &str = "CREATE TABLE items (\n  id INTEGER PRIMARY KEY AUTOINCREMENT,\n  \
        name VARCHAR(40) NOT NULL DEFAULT 'a, (b)' COLLATE NOCASE,\n  price NUMERIC(10, 2) \
        CONSTRAINT price_positive CHECK (price > 0),\n  owner INTEGER REFERENCES users(id) ON \
        DELETE SET NULL NOT DEFERRABLE, -- who\n  CONSTRAINT one_name UNIQUE (name, owner)\n) STRICT";

    #[test]
    fn a_table_splits_into_its_elements_and_options() {
        let t = TableText::parse(ITEMS).unwrap();
        assert_eq!(t.elements.len(), 5);
        assert_eq!(
            t.elements[1],
            "name VARCHAR(40) NOT NULL DEFAULT 'a, (b)' COLLATE NOCASE"
        );
        assert_eq!(t.elements[4], "CONSTRAINT one_name UNIQUE (name, owner)");
        assert_eq!(t.options, "STRICT");
        assert_eq!(t.column("PRICE").unwrap(), 2);
        assert!(t.column("missing").is_err());
    }

    #[test]
    fn altering_a_column_keeps_its_other_constraints() {
        let mut t = TableText::parse(ITEMS).unwrap();
        t.alter_column("name", Some("TEXT"), Some(true), Some(Some("'x'")))
            .unwrap();
        assert_eq!(t.elements[1], "name TEXT COLLATE NOCASE DEFAULT ('x')");
        t.alter_column("owner", None, Some(false), None).unwrap();
        assert_eq!(
            t.elements[3],
            "owner INTEGER NOT NULL REFERENCES users(id) ON DELETE SET NULL NOT DEFERRABLE"
        );
        t.alter_column("price", None, None, Some(None)).unwrap();
        assert!(t.elements[2].contains("CONSTRAINT price_positive CHECK (price > 0)"));
    }

    #[test]
    fn constraints_are_dropped_by_name_wherever_they_are() {
        let mut t = TableText::parse(ITEMS).unwrap();
        t.drop_constraint("ONE_NAME").unwrap();
        assert_eq!(t.elements.len(), 4);
        t.drop_constraint("price_positive").unwrap();
        assert_eq!(t.elements[2], "price NUMERIC(10, 2)");
        assert!(t.drop_constraint("price_positive").is_err());
        t.add_constraint("CHECK (price < 100)".into());
        assert!(
            t.render("items_new")
                .starts_with("CREATE TABLE \"items_new\" (\n    id INTEGER")
        );
        assert!(t.render("x").ends_with("CHECK (price < 100)\n) STRICT"));
    }

    #[test]
    fn quoted_names_match_unquoted() {
        let t = TableText::parse("CREATE TABLE \"a\"([my col] text, \"b\"\"c\" int)").unwrap();
        assert_eq!(t.column("my col").unwrap(), 0);
        assert_eq!(t.column("b\"c").unwrap(), 1);
    }
}
