//! The guest conformance kit (tests/conformance/README.md), in Rust.

use retort_guest::{
    Date, DateTime, Decimal, Dialect, Error, Json, Migration, Result, Time, Timestamptz, ToRowValues,
    Tx, Uuid, row,
};

row! {
    #[derive(Debug, PartialEq)]
    struct Conf {
        id: i64,
        b: Option<bool>,
        i: Option<i64>,
        f: Option<f64>,
        t: Option<String>,
        bt: Option<Vec<u8>>,
        d: Option<Decimal>,
        dt: Option<Date>,
        tm: Option<Time>,
        ts: Option<DateTime>,
        tz: Option<Timestamptz>,
        u: Option<Uuid>,
        j: Option<Json>,
    }
}

struct Conformance;

fn note(tx: &Tx, k: &str, v: &str) -> Result<()> {
    tx.execute("INSERT INTO conf_log (k, v) VALUES ($1, $2)", (k, v))?;
    Ok(())
}

fn check(ok: bool, what: &str) -> Result<()> {
    if ok { Ok(()) } else { Err(Error::migration(format!("decoded wrongly: {what}"))) }
}

impl Migration for Conformance {
    fn upgrade(tx: &Tx) -> Result<()> {
        let dialect = match tx.dialect() {
            Dialect::Sqlite => "sqlite",
            Dialect::Postgres => "postgres",
            Dialect::Mysql => "mysql",
        };
        note(tx, "dialect", dialect)?;

        let mut rows = tx.query::<Conf>("SELECT * FROM conf_src WHERE id >= $1 ORDER BY id", (1,))?.batch_size(2);
        let columns: Vec<String> = rows.columns().iter().map(|c| c.name.clone()).collect();
        let mut read = Vec::new();
        let mut batches = 0;
        while let Some(batch) = rows.next_batch()? {
            batches += 1;
            read.extend(batch);
        }
        note(tx, "columns", &columns.join(","))?;
        note(tx, "batches", &batches.to_string())?;

        let first = read.first().ok_or_else(|| Error::migration("no rows"))?;
        check(first.b == Some(true), "b")?;
        check(first.i == Some(i64::MAX), "i")?;
        check(first.f == Some(std::f64::consts::PI), "f")?;
        check(first.t.as_deref() == Some("héllo wörld ✓ 日本"), "t")?;
        check(first.bt.as_deref() == Some(&[0u8, 255, 16][..]), "bt")?;
        check(first.d == Some(Decimal("12345678901234567890.123456".into())), "d")?;
        check(first.dt == Some(Date { year: 2026, month: 11, day: 22 }), "dt")?;
        check(first.tm == Some(Time { hour: 13, minute: 14, second: 15, nanosecond: 123_456_000 }), "tm")?;
        check(first.ts.as_ref().is_some_and(|t| t.date.day == 22 && t.time.nanosecond == 123_456_000), "ts")?;
        check(first.tz.as_ref().is_some_and(|t| t.0.time.hour == 13), "tz")?;
        check(first.u == Some(Uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into())), "u")?;
        check(first.j.as_ref().is_some_and(|j| j.0.contains("\"b\"")), "j")?;
        let last = read.last().ok_or_else(|| Error::migration("no rows"))?;
        check(last.b.is_none() && last.j.is_none() && last.tz.is_none(), "nulls")?;

        tx.execute_batch(
            "INSERT INTO conf_dst (id, b, i, f, t, bt, d, dt, tm, ts, tz, u, j) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            read.iter().map(ToRowValues::to_values),
        )?;

        note(tx, "scratch1", "x")?;
        note(tx, "scratch2", "x")?;
        let affected = tx.execute("DELETE FROM conf_log WHERE k LIKE 'scratch%'", ())?;
        note(tx, "affected", &affected.to_string())?;

        tx.execute("SAVEPOINT conf", ())?;
        let code = match note(tx, "dialect", "again") {
            Err(Error::Database(e)) => e.code.unwrap_or_default(),
            Err(other) => return Err(other),
            Ok(()) => return Err(Error::migration("a duplicate key was accepted")),
        };
        tx.execute("ROLLBACK TO SAVEPOINT conf", ())?;
        note(tx, "error_code", &code)?;

        retort_guest::progress(3, Some(3));
        retort_guest::log("conformance ok");
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.execute("DELETE FROM conf_dst", ())?;
        tx.execute("DELETE FROM conf_log", ())?;
        Ok(())
    }
}

retort_guest::export!(Conformance, id: "20261104000000", parents: [], description: "conformance",
    branch_labels: ["conformance"]);
