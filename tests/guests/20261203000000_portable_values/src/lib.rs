//! One row type for values each engine types differently (issue 15): `SUM()` of a BIGINT is an
//! integer on SQLite and a decimal on PostgreSQL and MariaDB, `AVG()` a float or a decimal, a
//! DECIMAL column's sum a float on SQLite, and MariaDB sends a TIMESTAMP column as timestamptz.
//! The migration decodes them into declared types and writes what it got to `pv_out`; a lossy
//! decode (a sum with cents into an integer) must fail, and its message is written too.

use retort_guest::{Date, DateTime, Decimal, Dialect, Migration, Result, Tx, row};

row! {
    struct Totals {
        total: i64,
        average: f64,
        price_sum: Decimal,
        price_float: f64,
    }
}

row! {
    struct Stamp {
        stamped: DateTime,
        day: Date,
    }
}

fn put(tx: &Tx, k: &str, v: String) -> Result<()> {
    tx.execute("INSERT INTO pv_out (k, v) VALUES ($1, $2)", (k, v))?;
    Ok(())
}

struct PortableValues;

impl Migration for PortableValues {
    fn upgrade(tx: &Tx) -> Result<()> {
        let stamp = if tx.dialect() == Dialect::Postgres { "TIMESTAMP" } else { "TIMESTAMP NULL" };
        tx.execute(
            &format!("CREATE TABLE pv_src (id INTEGER PRIMARY KEY, n BIGINT NOT NULL, price DECIMAL(10,2) NOT NULL, at {stamp})"),
            (),
        )?;
        tx.execute("CREATE TABLE pv_out (k VARCHAR(20) PRIMARY KEY, v VARCHAR(200) NOT NULL)", ())?;
        tx.execute(
            "INSERT INTO pv_src (id, n, price, at) VALUES (1, 2, 1.50, '2026-12-03 00:00:00'), (2, 4, 2.25, '2026-12-04 10:30:00')",
            (),
        )?;
        let t = tx
            .query_one::<Totals>(
                "SELECT SUM(n) AS total, AVG(n) AS average, SUM(price) AS price_sum, SUM(price) AS price_float FROM pv_src",
                (),
            )?
            .ok_or_else(|| retort_guest::Error::migration("no totals"))?;
        put(tx, "total", t.total.to_string())?;
        put(tx, "average", t.average.to_string())?;
        put(tx, "price_sum", t.price_sum.0.clone())?;
        put(tx, "price_float", t.price_float.to_string())?;
        let s = tx
            .query_one::<Stamp>("SELECT at AS stamped, at AS day FROM pv_src WHERE id = 1", ())?
            .ok_or_else(|| retort_guest::Error::migration("no stamp"))?;
        let (d, tm) = (s.stamped.date, s.stamped.time);
        put(
            tx,
            "stamped",
            format!("{:04}-{:02}-{:02} {:02}:{:02}:{:02}", d.year, d.month, d.day, tm.hour, tm.minute, tm.second),
        )?;
        put(tx, "day", format!("{:04}-{:02}-{:02}", s.day.year, s.day.month, s.day.day))?;
        // Lossy: cents into an integer, 10:30 into a date. Refused, not rounded.
        let lossy = tx.query_one::<(i64,)>("SELECT SUM(price) FROM pv_src", ());
        put(tx, "lossy_int", lossy.err().map(|e| e.to_string()).unwrap_or_else(|| "accepted".into()))?;
        let lossy = tx.query_one::<(Date,)>("SELECT at FROM pv_src WHERE id = 2", ());
        put(tx, "lossy_date", lossy.err().map(|e| e.to_string()).unwrap_or_else(|| "accepted".into()))?;
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.execute("DROP TABLE pv_out", ())?;
        tx.execute("DROP TABLE pv_src", ())?;
        Ok(())
    }
}

retort_guest::export!(PortableValues, id: "20261203000000", parents: [], description: "portable values");
