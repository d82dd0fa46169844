//! MySQL batches in a round trip per chunk, not one per parameter set.
//!
//! `execute-batch` prepared its statement and sent each parameter set as an execution of its
//! own: a round trip per row, ~100–230 µs a row on MariaDB whatever the language (BENCHMARKS.md,
//! goal 5), where PostgreSQL sends a batch at once. Here the sets of a plain single DML
//! statement go as one text of statements (the text protocol runs several in one round trip),
//! each with its values written in as literals that mean exactly the value under any session
//! settings: text as `_utf8mb4 X'…'` (hex: no quote, no backslash, no character set to read it
//! under), bytes as `X'…'`, numbers in digits (floating point always with an exponent, so
//! DOUBLE as bound), dates and times as typed literals at the microseconds bound values keep.
//!
//! Several statements in one text are only safe if the server splits the text where Retort's
//! lexer does; the guest's statement (the only text not Retort's own) is therefore sent this way
//! only without anything a session setting or a versioned comment could make the server read
//! differently: no backslash (`NO_BACKSLASH_ESCAPES` moves where a string ends), no comment
//! (`/*! … */` runs as SQL; `--` needs a space after it there), one statement. And the server
//! has the last word: the statement is prepared first (kept in the driver's cache), so the
//! server itself says it is one statement with the placeholders Retort found, before any text
//! is built from it (`MySqlBackend::execute_batch`). Anything else, or a value no literal says
//! exactly, goes the old way.

use super::values;
use crate::bindings::Value;

/// Bytes of statement text per round trip; a chunk holds at least one parameter set.
const CHUNK_BYTES: usize = 1 << 20;

/// Whether `sql` (the guest's statement) may be sent as literal-filled copies in one text.
pub(super) fn eligible(sql: &str) -> bool {
    let first = sql
        .trim_start()
        .split(|c: char| !c.is_ascii_alphabetic())
        .next()
        .unwrap_or("")
        .to_ascii_uppercase();
    matches!(first.as_str(), "INSERT" | "UPDATE" | "DELETE" | "REPLACE")
        && !sql.contains('\\')
        && !sql.contains("/*")
        && !sql.contains("--")
        && !sql.contains('#')
        && retort_sql::split(sql, retort_sql::Dialect::Mysql).is_ok_and(|s| s.len() == 1)
}

/// The texts to send for `sets`: `sql` (rewritten, `?` at `at`, bound to `order`) once per set
/// with its values written in, in chunks of about [`CHUNK_BYTES`]. `None` when a value has no
/// exact literal.
pub(super) fn texts(
    sql: &str,
    at: &[usize],
    order: &[usize],
    sets: &[Vec<Value>],
) -> Option<Vec<String>> {
    let statement = sql.trim_end().trim_end_matches(';');
    let mut out = Vec::new();
    let mut text = String::new();
    let mut held = 0;
    for set in sets {
        let mut copied = 0;
        for (&pos, &i) in at.iter().zip(order) {
            text.push_str(&statement[copied..pos]);
            literal(set.get(i)?, &mut text)?;
            copied = pos + 1;
        }
        text.push_str(&statement[copied..]);
        text.push_str(";\n");
        held += 1;
        if text.len() >= CHUNK_BYTES {
            out.push(std::mem::take(&mut text));
            held = 0;
        }
    }
    if held > 0 {
        out.push(text);
    }
    Some(out)
}

/// Writes `value` as a literal MySQL reads back exactly as the bound value; `None` when there
/// is none (a NaN, an infinity or a subnormal float, a date outside 1–9999, a leap second).
fn literal(value: &Value, out: &mut String) -> Option<()> {
    use std::fmt::Write;
    let hex = |out: &mut String, bytes: &[u8]| {
        out.push_str("X'");
        out.push_str(&hex::encode(bytes));
        out.push('\'');
    };
    match value {
        Value::Null => out.push_str("NULL"),
        Value::Boolean(b) => out.push_str(if *b { "TRUE" } else { "FALSE" }),
        // The most negative one in digits is a DECIMAL negated; this is a BIGINT, as bound.
        Value::Integer(i64::MIN) => out.push_str("(-9223372036854775807 - 1)"),
        Value::Integer(i) => {
            let _ = write!(out, "{i}");
        }
        Value::Float(f) if !f.is_normal() && *f != 0.0 => return None,
        // Rust's shortest exact form; the exponent makes it a DOUBLE literal.
        Value::Float(f) => {
            let _ = write!(out, "{f:e}");
        }
        Value::Text(s) | Value::Decimal(s) | Value::Uuid(s) | Value::Json(s) => {
            out.push_str("_utf8mb4 ");
            hex(out, s.as_bytes());
        }
        Value::Bytes(b) => hex(out, b),
        Value::Date(d) => {
            let d = values::date_to_chrono(*d).ok()?;
            let _ = write!(out, "DATE'{}'", date(d)?);
        }
        Value::Time(t) => {
            let t = values::time_to_chrono(*t).ok()?;
            let _ = write!(out, "TIME'{}'", time(t)?);
        }
        Value::Timestamp(dt) | Value::Timestamptz(dt) => {
            let dt = values::datetime_to_chrono(*dt).ok()?;
            let _ = write!(out, "TIMESTAMP'{} {}'", date(dt.date())?, time(dt.time())?);
        }
    }
    Some(())
}

fn date(d: chrono::NaiveDate) -> Option<String> {
    use chrono::Datelike;
    (1..=9999)
        .contains(&d.year())
        .then(|| format!("{:04}-{:02}-{:02}", d.year(), d.month(), d.day()))
}

/// `HH:MM:SS.ffffff`, truncated to the microsecond as a bound value is.
fn time(t: chrono::NaiveTime) -> Option<String> {
    use chrono::Timelike;
    let nanos = t.nanosecond();
    (nanos < 1_000_000_000).then(|| {
        format!(
            "{:02}:{:02}:{:02}.{:06}",
            t.hour(),
            t.minute(),
            t.second(),
            nanos / 1000
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_single_dml_goes_as_text() {
        assert!(eligible("UPDATE bulk SET n = ? WHERE id = ?"));
        assert!(eligible("INSERT INTO t (a, b) VALUES (?, 'x;y')"));
        for sql in [
            "SELECT ?",
            "CREATE TABLE t (a INT)",
            "UPDATE t SET a = '\\'; DROP TABLE x; -- '",
            "UPDATE t SET a = 1 /*!; DROP TABLE x */",
            "UPDATE t SET a = 1 --x\n; DROP TABLE x",
            "UPDATE t SET a = 1 # c",
            "UPDATE t SET a = 1; DELETE FROM t",
        ] {
            assert!(!eligible(sql), "{sql}");
        }
    }

    #[test]
    fn values_are_written_so_that_nothing_in_them_is_read_as_sql() {
        let sets = vec![vec![
            Value::Text("x'); DROP TABLE victim; -- \\ ü".into()),
            Value::Bytes(vec![0x27, 0x5c, 0]),
            Value::Integer(i64::MIN),
            Value::Float(0.1),
            Value::Boolean(true),
            Value::Null,
        ]];
        let sql = "INSERT INTO t VALUES (?, ?, ?, ?, ?, ?)";
        let at: Vec<usize> = sql.match_indices('?').map(|(i, _)| i).collect();
        let texts = texts(sql, &at, &[0, 1, 2, 3, 4, 5], &sets).unwrap();
        assert_eq!(
            texts,
            [
                "INSERT INTO t VALUES (_utf8mb4 X'7827293b2044524f50205441424c452076696374\
                 696d3b202d2d205c20c3bc', X'275c00', (-9223372036854775807 - 1), 1e-1, TRUE, \
                 NULL);\n"
            ]
        );
    }

    /// Sets past [`CHUNK_BYTES`] start a new text; every set is in exactly one, whole.
    #[test]
    fn large_batches_go_in_several_texts_each_set_once() {
        let big = "é".repeat(300_000); // 600,000 bytes, 1.2 MB in hex
        let sets: Vec<Vec<Value>> = (0..5)
            .map(|i| vec![Value::Integer(i), Value::Text(big.clone())])
            .collect();
        let sql = "INSERT INTO t VALUES (?, ?)";
        let large = texts(sql, &[22, 25], &[0, 1], &sets).unwrap();
        assert_eq!(large.len(), 5, "one set per text at this size");
        for (i, text) in large.iter().enumerate() {
            assert!(text.starts_with(&format!("INSERT INTO t VALUES ({i}, _utf8mb4 X'c3a9")));
            assert!(text.ends_with("');\n"));
            assert_eq!(text.matches("INSERT").count(), 1);
        }
        let small: Vec<Vec<Value>> = (0..2500).map(|i| vec![Value::Integer(i)]).collect();
        let one = texts("DELETE FROM t WHERE a = ?", &[24], &[0], &small).unwrap();
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].matches("DELETE").count(), 2500);
    }

    #[test]
    fn values_without_an_exact_literal_go_the_old_way() {
        for value in [
            Value::Float(f64::NAN),
            Value::Float(f64::INFINITY),
            Value::Float(5e-324),
        ] {
            assert!(texts("DELETE FROM t WHERE a = ?", &[24], &[0], &[vec![value]]).is_none());
        }
    }
}
