//! Running SQL scripts: the body of plain `.sql` migrations, split into statements by
//! [`retort_sql::split`] (literals, comments, dollar-quoted and routine bodies kept whole;
//! a comment-only or empty script runs nothing).

use crate::{Dialect, Result, Tx};

/// Splits `script` into statements, in order, without their terminators (the splitter the
/// host shares: [`retort_sql::split`]).
///
/// ```
/// use retort_guest::{Dialect, script::split};
/// let sql = "CREATE TABLE t (s TEXT); -- a comment; not a statement\nINSERT INTO t VALUES ('a;b');";
/// assert_eq!(split(sql, Dialect::Sqlite).unwrap(),
///            ["CREATE TABLE t (s TEXT)", "INSERT INTO t VALUES ('a;b')"]);
/// ```
pub fn split(script: &str, dialect: Dialect) -> std::result::Result<Vec<String>, String> {
    retort_sql::split(script, lexical(dialect))
}

/// The lexical rules of `dialect`, for [`retort_sql::skip_opaque`].
fn lexical(dialect: Dialect) -> retort_sql::Dialect {
    match dialect {
        Dialect::Sqlite => retort_sql::Dialect::Sqlite,
        Dialect::Postgres => retort_sql::Dialect::Postgres,
        Dialect::Mysql => retort_sql::Dialect::Mysql,
    }
}

/// Splits `script` and runs each statement; a failure names the statement's position. A
/// `BEGIN;` … `COMMIT;` pair wrapping the whole script is dropped
/// ([`retort_sql::unwrap_transaction`]): Retort runs the script in one transaction already.
pub fn run(tx: &Tx, script: &str) -> Result<()> {
    let statements = split(script, tx.dialect()).map_err(crate::Error::migration)?;
    let (statements, _) = retort_sql::unwrap_transaction(statements, lexical(tx.dialect()));
    for sql in &statements {
        tx.execute(sql, ())?;
    }
    Ok(())
}

/// The cases every SDK's splitter must agree on (`tests/conformance/script_split.json`; the
/// Python helper's `split_script` is checked against the same file).
#[cfg(test)]
mod shared_cases {
    use super::split;
    use crate::Dialect;

    #[test]
    fn every_shared_case() {
        let cases: Vec<serde_json::Value> =
            serde_json::from_str(include_str!("../../tests/conformance/script_split.json"))
                .expect("valid JSON");
        assert!(cases.len() >= 10);
        for case in cases {
            let name = case["name"].as_str().unwrap();
            let dialect = match case["dialect"].as_str().unwrap() {
                "sqlite" => Dialect::Sqlite,
                "postgres" => Dialect::Postgres,
                _ => Dialect::Mysql,
            };
            let got = split(case["script"].as_str().unwrap(), dialect);
            match case.get("error").and_then(|e| e.as_str()) {
                Some(error) => {
                    let e = got.expect_err(name);
                    assert!(e.contains(error), "{name}: {e}");
                }
                None => {
                    let want: Vec<&str> = case["statements"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .map(|s| s.as_str().unwrap())
                        .collect();
                    let got = got.expect(name);
                    assert_eq!(got, want, "{name}");
                    if let Some(unwrapped) = case.get("unwrapped").and_then(|u| u.as_array()) {
                        let unwrapped: Vec<&str> =
                            unwrapped.iter().map(|s| s.as_str().unwrap()).collect();
                        let (inner, _) =
                            retort_sql::unwrap_transaction(got, super::lexical(dialect));
                        assert_eq!(inner, unwrapped, "{name}: unwrapped");
                    }
                }
            }
        }
    }
}
