//! A hostile migration driven by the test that runs it (issue 13): it reads the steps from a
//! table the test created, `hostile_script (n, kind, arg)`, before running any of them, then
//! runs them in order. One fixture, so every hostile scenario is a few rows of test data
//! instead of a crate of its own:
//! - `sql`: execute `arg`; an error fails the migration;
//! - `try`: execute `arg`; an error is logged and ignored (what a migration that handles its
//!   errors does);
//! - `sleep`: sleep `arg` milliseconds inside the sandbox (a WASI host call);
//! - `print`: write `arg` bytes to stdout;
//! - `batch`: `execute-batch` of `arg`'s first part (split at U+001F) with one text parameter
//!   per set, the other parts; an error fails the migration;
//! - `schema`: a portable schema operation (`schema` below); an error fails the migration;
//! - `fail`: return an error.
//!
//! Its downgrade runs the rows of `hostile_script_down` the same way (none: nothing).

use retort_guest::{Error, Migration, Result, Tx, row};

row! {
    struct Step { kind: String, arg: String }
}

fn steps(tx: &Tx, table: &str) -> Result<Vec<Step>> {
    let mut query = tx.query::<Step>(&format!("SELECT kind, arg FROM {table} ORDER BY n"), ())?;
    let mut steps = Vec::new();
    while let Some(batch) = query.next_batch()? {
        steps.extend(batch);
    }
    Ok(steps)
}

fn run(tx: &Tx, table: &str) -> Result<()> {
    for step in steps(tx, table)? {
        match step.kind.as_str() {
            "sql" => {
                tx.execute(&step.arg, ())?;
            }
            "try" => {
                if let Err(e) = tx.execute(&step.arg, ()) {
                    retort_guest::warn(&format!("ignored: {e}"));
                }
            }
            "query" => {
                let mut rows = tx.query::<Vec<retort_guest::Value>>(&step.arg, ())?;
                while rows.next_batch()?.is_some() {}
            }
            "sleep" => {
                let ms: u64 = step.arg.parse().unwrap_or(0);
                std::thread::sleep(std::time::Duration::from_millis(ms));
            }
            "print" => {
                let n: usize = step.arg.parse().unwrap_or(0);
                let line = "x".repeat(1023);
                for _ in 0..n / 1024 {
                    println!("{line}");
                }
            }
            "batch" => {
                let mut parts = step.arg.split('\u{1f}');
                let sql = parts.next().unwrap_or_default();
                tx.execute_batch(sql, parts.map(|value| (value,)))?;
            }
            "schema" => schema(tx, &step.arg)?,
            "fail" => {
                return Err(Error::migration(format!(
                    "failing on purpose: {}",
                    step.arg
                )));
            }
            other => return Err(Error::migration(format!("unknown step kind `{other}`"))),
        }
    }
    Ok(())
}

/// A portable schema operation, `op:table[.column]`: `drop`, `rename` (to `gone`), `alter`
/// (the column may hold NULL), `check` (a check constraint), `index`, `column` (one added),
/// `keep` (`keep:VIEW`: its definition kept).
fn schema(tx: &Tx, arg: &str) -> Result<()> {
    use retort_guest::schema::{
        Check, Column, ColumnChange, ColumnType, Constraint, Index, ObjectKind,
    };
    let (op, target) = arg.split_once(':').unwrap_or((arg, ""));
    let (table, column) = target.split_once('.').unwrap_or((target, ""));
    match op {
        "drop" => tx.drop_table(table),
        "rename" => tx.rename_table(table, "gone"),
        "alter" => tx.alter_column(ColumnChange::new(table, column).nullable(true)),
        "check" => tx.add_constraint(
            table,
            Constraint::Check(Check {
                name: "forged".into(),
                expression: "1 = 1".into(),
            }),
        ),
        "index" => tx.create_index(Index::new("forged", table, &[column])),
        "column" => tx.add_column(table, Column::new("forged", ColumnType::Text)),
        "keep" => tx.keep_definition(ObjectKind::View, target).map(|_| ()),
        other => Err(Error::migration(format!(
            "unknown schema operation `{other}`"
        ))),
    }
}

struct HostileScript;

impl Migration for HostileScript {
    fn upgrade(tx: &Tx) -> Result<()> {
        run(tx, "hostile_script")
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        run(tx, "hostile_script_down")
    }
}

retort_guest::export!(HostileScript, id: "20261202000000", parents: [],
    description: "a hostile migration scripted by its test");
