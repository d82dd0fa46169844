//! One placeholder syntax for every dialect: `$1`, `$2`, … (PostgreSQL's own).
//!
//! The statement is scanned once, skipping string literals, quoted identifiers, comments and
//! PostgreSQL dollar-quoted bodies (the lexing shared with the guest SDK: `retort-sql`), and
//! rewritten for the driver: SQLite binds `?NNN` by
//! number, MySQL binds `?` by position (so parameters are reordered and repeated to match).

use crate::core::Dialect;

/// A statement rewritten for one driver.
#[derive(Debug, PartialEq, Eq)]
pub struct Rewritten {
    /// The SQL text to send.
    pub sql: String,
    /// For each driver placeholder in order, the 0-based index of the guest parameter it
    /// binds. For PostgreSQL and SQLite this is `0..n`.
    pub order: Vec<usize>,
    /// MySQL: the byte offset in `sql` of each `?` it binds, in `order`'s order (for writing
    /// values in as literals). Empty for the other dialects.
    pub at: Vec<usize>,
}

/// Rewrites `$N` placeholders for `dialect` and checks them against `params` parameters:
/// every placeholder needs a parameter and every parameter a placeholder.
pub fn rewrite(sql: &str, dialect: Dialect, params: usize) -> Result<Rewritten, String> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut order = Vec::new();
    let mut at = Vec::new();
    let mut used = vec![false; params];
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        // Literals, identifiers, comments, dollar bodies: no placeholder inside. What never
        // ends runs to the end of the text (the database reports the syntax error).
        if let Some(end) = retort_sql::skip_opaque(sql, i, dialect) {
            i = end.unwrap_or(bytes.len()).max(i + 1);
            continue;
        }
        match bytes[i] {
            b'$' if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
                let n: usize = sql[start + 1..i]
                    .parse()
                    .map_err(|_| format!("placeholder {} is out of range", &sql[start..i]))?;
                if n == 0 || n > params {
                    return Err(format!(
                        "placeholder ${n} has no parameter ({params} given)"
                    ));
                }
                used[n - 1] = true;
                out.push_str(&sql[copied..start]);
                match dialect {
                    Dialect::Postgres => out.push_str(&sql[start..i]),
                    Dialect::Sqlite => {
                        out.push('?');
                        out.push_str(&sql[start + 1..i]);
                    }
                    Dialect::Mysql => {
                        at.push(out.len());
                        out.push('?');
                        order.push(n - 1);
                    }
                }
                copied = i;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied..]);
    if let Some(unused) = used.iter().position(|u| !u) {
        return Err(format!(
            "parameter {} has no placeholder ${} in the statement",
            unused + 1,
            unused + 1
        ));
    }
    if dialect != Dialect::Mysql {
        order = (0..params).collect();
    }
    Ok(Rewritten {
        sql: out,
        order,
        at,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_is_unchanged() {
        let r = rewrite("SELECT $1, $2", Dialect::Postgres, 2).unwrap();
        assert_eq!(r.sql, "SELECT $1, $2");
        assert_eq!(r.order, vec![0, 1]);
    }

    #[test]
    fn sqlite_binds_by_number() {
        let r = rewrite(
            "UPDATE t SET a = $2 WHERE id = $1 OR id = $1",
            Dialect::Sqlite,
            2,
        )
        .unwrap();
        assert_eq!(r.sql, "UPDATE t SET a = ?2 WHERE id = ?1 OR id = ?1");
    }

    #[test]
    fn mysql_reorders_and_repeats() {
        let r = rewrite(
            "UPDATE t SET a = $2 WHERE id = $1 OR id = $1",
            Dialect::Mysql,
            2,
        )
        .unwrap();
        assert_eq!(r.sql, "UPDATE t SET a = ? WHERE id = ? OR id = ?");
        assert_eq!(r.order, vec![1, 0, 0]);
    }

    #[test]
    fn literals_comments_and_dollar_quotes_are_left_alone() {
        let sql = "SELECT '$1', \"$2\", $1 -- $3\n/* $4 */, $$ $5 $$, $f$ $6 $f$";
        let r = rewrite(sql, Dialect::Postgres, 1).unwrap();
        assert_eq!(r.sql, sql);
        let r = rewrite("SELECT 'it''s $2', `$3`, $1 # $4\n", Dialect::Mysql, 1).unwrap();
        assert_eq!(r.sql, "SELECT 'it''s $2', `$3`, ? # $4\n");
        let r = rewrite(r"SELECT 'a\'$2', $1", Dialect::Mysql, 1).unwrap();
        assert_eq!(r.sql, r"SELECT 'a\'$2', ?");
    }

    #[test]
    fn missing_and_unused_parameters_are_errors() {
        assert!(
            rewrite("SELECT $2", Dialect::Sqlite, 1)
                .unwrap_err()
                .contains("$2 has no parameter")
        );
        assert!(
            rewrite("SELECT $0", Dialect::Sqlite, 1)
                .unwrap_err()
                .contains("$0")
        );
        assert!(
            rewrite("SELECT 1", Dialect::Mysql, 1)
                .unwrap_err()
                .contains("parameter 1 has no placeholder")
        );
        assert_eq!(
            rewrite("SELECT 1", Dialect::Mysql, 0).unwrap().sql,
            "SELECT 1"
        );
    }
}
