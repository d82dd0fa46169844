//! The pure core: the revision graph, targets and planning, the model shared by every layer
//! (directions, limits, events).
//!
//! Owns: what a migration run *means*, decided without any I/O. Must not import wasmtime, sqlx,
//! clap, or any other module of this crate: everything else builds on it, and it is tested
//! alone (`cargo test -p retort core::`).

/// The one dialect type (shared with the guest SDK's lexer): lint rules, schema operations,
/// the backends and the lexical rules all take it; the WIT's `dialect` enum is converted to
/// and from it where a guest asks. Its names and URL schemes are [`DialectExt`]'s.
pub use retort_sql::Dialect;

/// What the host knows of a [`Dialect`] besides its lexical rules: its name and the URL
/// schemes that select it. (An extension trait, not methods of `retort_sql::Dialect`: that
/// crate is compiled into the SQL runtime, whose committed bytes must not change with the
/// host's needs.)
pub trait DialectExt: Sized {
    /// The name users write in file names (`<stem>.postgres.up.sql`), headers and docs:
    /// `sqlite`, `postgres` or `mysql`.
    fn name(self) -> &'static str;

    /// The dialect a database URL's scheme names: `sqlite://`, `postgres://` or
    /// `postgresql://`, `mysql://` or `mariadb://`.
    ///
    /// ```
    /// use retort::{Dialect, DialectExt};
    /// assert_eq!(Dialect::of_url("postgresql://db/app"), Some(Dialect::Postgres));
    /// assert_eq!(Dialect::of_url("mariadb://db/app"), Some(Dialect::Mysql));
    /// assert_eq!(Dialect::of_url("oracle://db"), None);
    /// ```
    fn of_url(url: &str) -> Option<Self>;
}

impl DialectExt for Dialect {
    fn name(self) -> &'static str {
        match self {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
        }
    }

    fn of_url(url: &str) -> Option<Dialect> {
        match url.split_once("://")?.0 {
            "sqlite" => Some(Dialect::Sqlite),
            "postgres" | "postgresql" => Some(Dialect::Postgres),
            "mysql" | "mariadb" => Some(Dialect::Mysql),
            _ => None,
        }
    }
}

pub(crate) mod checks;
pub mod graph;
pub mod lint;
mod model;
pub mod observe;
pub mod plan;
pub mod snapshot;
pub(crate) mod table;

pub use model::{CursorId, DEFAULT_DATABASE, Direction, Embedded, Limits};

/// Text that came from a migration or a database (a log message, an error message, a
/// description), made safe to print as data: control characters (an escape sequence, a
/// carriage return, a newline) and Unicode's line separators and bidirectional overrides are
/// written as escapes (`\n`, `\u{1b}`), so the text can neither move the cursor, recolour
/// the terminal nor start a line that looks like Retort's own. Tabs stay.
pub fn as_data(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push('\t'),
            c if unprintable(c) => out.extend(c.escape_unicode()),
            c => out.push(c),
        }
    }
    out
}

/// Control characters and the format characters that reorder or break lines.
fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{2028}' | '\u{2029}' | '\u{200e}' | '\u{200f}' | '\u{061c}'
        )
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

/// Shortens text for messages to one line of at most `max` characters, keeping its start;
/// what is not printable is escaped as in [`as_data`].
pub fn one_line(text: &str, max: usize) -> String {
    let one_line = as_data(&text.split_whitespace().collect::<Vec<_>>().join(" "));
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    }
}

/// An error and its causes as one line, `outer: inner: …` (what `{:#}` of an `anyhow` error
/// shows), for messages that carry a nested error as text.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(c) = cause {
        text.push_str(": ");
        text.push_str(&c.to_string());
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_from_outside_cannot_start_a_line_or_drive_the_terminal() {
        assert_eq!(
            as_data("ok\nmain (x): upgraded 0 migrations\r\u{1b}[2K"),
            "ok\\nmain (x): upgraded 0 migrations\\r\\u{1b}[2K"
        );
        assert_eq!(
            as_data("a\u{2028}b\u{202e}c\td ✓"),
            "a\\u{2028}b\\u{202e}c\td ✓"
        );
        assert_eq!(one_line("SELECT\n  1 \u{7}", 100), "SELECT 1 \\u{7}");
    }
}
