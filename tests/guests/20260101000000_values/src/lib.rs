//! Value round trip: reads every mapped type through the guest into typed fields, checks the
//! decoded values, and writes them back with parameters into a second table. The test then
//! compares both tables in SQL.

use retort_guest::{
    Date, DateTime, Decimal, Dialect, Error, Json, Migration, Result, Time, Timestamptz, ToRowValues,
    Tx, Uuid, row,
};

row! {
    #[derive(Debug, PartialEq)]
    struct Vals {
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

struct Values;

fn ddl(dialect: Dialect, table: &str) -> String {
    let cols = match dialect {
        Dialect::Sqlite => "id INTEGER PRIMARY KEY, b BOOLEAN, i BIGINT, f DOUBLE, t TEXT, bt BLOB, \
            d DECIMAL TEXT, dt DATE, tm TIME, ts TIMESTAMP, tz TIMESTAMPTZ, u UUID, j JSON",
        Dialect::Postgres => "id BIGINT PRIMARY KEY, b BOOLEAN, i BIGINT, f DOUBLE PRECISION, t TEXT, bt BYTEA, \
            d NUMERIC, dt DATE, tm TIME, ts TIMESTAMP, tz TIMESTAMPTZ, u UUID, j JSONB",
        Dialect::Mysql => "id BIGINT PRIMARY KEY, b BOOLEAN, i BIGINT, f DOUBLE, \
            t VARCHAR(100) CHARACTER SET utf8mb4, bt VARBINARY(100), d DECIMAL(38,6), dt DATE, tm TIME(6), \
            ts DATETIME(6), tz TIMESTAMP(6) NULL, u UUID, j JSON",
    };
    format!("CREATE TABLE {table} ({cols})")
}

fn seed(dialect: Dialect) -> [&'static str; 3] {
    match dialect {
        Dialect::Sqlite => [
            "INSERT INTO vals_src VALUES (1, 1, 9223372036854775807, 3.141592653589793, 'héllo wörld ✓ 日本', X'00FF10', \
             '12345678901234567890.123456', '2026-11-22', '13:14:15.123456', '2026-11-22 13:14:15.123456', \
             '2026-11-22T13:14:15.123456Z', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": [1, 2, {\"b\": null}]}')",
            "INSERT INTO vals_src VALUES (2, 0, -9223372036854775808, -0.5, '', X'', '-0.000001', '1970-01-01', \
             '00:00:00', '1999-12-31 23:59:59', '2000-01-01T00:00:00Z', '00000000-0000-0000-0000-000000000000', '[]')",
            "INSERT INTO vals_src (id) VALUES (3)",
        ],
        Dialect::Postgres => [
            "INSERT INTO vals_src VALUES (1, true, 9223372036854775807, 3.141592653589793, 'héllo wörld ✓ 日本', '\\x00ff10', \
             12345678901234567890.123456, '2026-11-22', '13:14:15.123456', '2026-11-22 13:14:15.123456', \
             '2026-11-22 13:14:15.123456+00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": [1, 2, {\"b\": null}]}')",
            "INSERT INTO vals_src VALUES (2, false, -9223372036854775808, -0.5, '', '\\x', -0.000001, '1970-01-01', \
             '00:00:00', '1999-12-31 23:59:59', '2000-01-01 00:00:00+00', '00000000-0000-0000-0000-000000000000', '[]')",
            "INSERT INTO vals_src (id) VALUES (3)",
        ],
        Dialect::Mysql => [
            "INSERT INTO vals_src VALUES (1, true, 9223372036854775807, 3.141592653589793, 'héllo wörld ✓ 日本', X'00FF10', \
             12345678901234567890.123456, '2026-11-22', '13:14:15.123456', '2026-11-22 13:14:15.123456', \
             '2026-11-22 13:14:15.123456', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": [1, 2, {\"b\": null}]}')",
            "INSERT INTO vals_src VALUES (2, false, -9223372036854775808, -0.5, '', X'', -0.000001, '1970-01-01', \
             '00:00:00', '1999-12-31 23:59:59', '2000-01-01 00:00:00', '00000000-0000-0000-0000-000000000000', '[]')",
            "INSERT INTO vals_src (id) VALUES (3)",
        ],
    }
}

fn dt(y: i32, mo: u8, d: u8, h: u8, mi: u8, s: u8, ns: u32) -> DateTime {
    DateTime {
        date: Date { year: y, month: mo, day: d },
        time: Time { hour: h, minute: mi, second: s, nanosecond: ns },
    }
}

fn expected() -> Vec<Vals> {
    vec![
        Vals {
            id: 1,
            b: Some(true),
            i: Some(i64::MAX),
            f: Some(std::f64::consts::PI),
            t: Some("héllo wörld ✓ 日本".into()),
            bt: Some(vec![0, 255, 16]),
            d: Some(Decimal("12345678901234567890.123456".into())),
            dt: Some(Date { year: 2026, month: 11, day: 22 }),
            tm: Some(Time { hour: 13, minute: 14, second: 15, nanosecond: 123_456_000 }),
            ts: Some(dt(2026, 11, 22, 13, 14, 15, 123_456_000)),
            tz: Some(Timestamptz(dt(2026, 11, 22, 13, 14, 15, 123_456_000))),
            u: Some(Uuid("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11".into())),
            j: Some(Json("{\"a\": [1, 2, {\"b\": null}]}".into())),
        },
        Vals {
            id: 2,
            b: Some(false),
            i: Some(i64::MIN),
            f: Some(-0.5),
            t: Some(String::new()),
            bt: Some(vec![]),
            d: Some(Decimal("-0.000001".into())),
            dt: Some(Date { year: 1970, month: 1, day: 1 }),
            tm: Some(Time { hour: 0, minute: 0, second: 0, nanosecond: 0 }),
            ts: Some(dt(1999, 12, 31, 23, 59, 59, 0)),
            tz: Some(Timestamptz(dt(2000, 1, 1, 0, 0, 0, 0))),
            u: Some(Uuid("00000000-0000-0000-0000-000000000000".into())),
            j: Some(Json("[]".into())),
        },
        Vals { id: 3, b: None, i: None, f: None, t: None, bt: None, d: None, dt: None, tm: None, ts: None, tz: None, u: None, j: None },
    ]
}

impl Migration for Values {
    fn upgrade(tx: &Tx) -> Result<()> {
        let dialect = tx.dialect();
        tx.execute(&ddl(dialect, "vals_src"), ())?;
        tx.execute(&ddl(dialect, "vals_dst"), ())?;
        for insert in seed(dialect) {
            tx.execute(insert, ())?;
        }
        // A parameter in the query itself, and a batch of one row to see batching ends.
        let mut rows = tx
            .query::<Vals>("SELECT * FROM vals_src WHERE id >= $1 ORDER BY id", (1,))?
            .batch_size(2);
        let mut read = Vec::new();
        while let Some(batch) = rows.next_batch()? {
            read.extend(batch);
        }
        let want = expected();
        for (got, want) in read.iter().zip(&want) {
            if got != want {
                return Err(Error::migration(format!("decoded {got:?}\n expected {want:?}")));
            }
        }
        if read.len() != want.len() {
            return Err(Error::migration(format!("read {} rows, expected {}", read.len(), want.len())));
        }
        tx.execute_batch(
            "INSERT INTO vals_dst (id, b, i, f, t, bt, d, dt, tm, ts, tz, u, j) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
            read.iter().map(ToRowValues::to_values),
        )?;
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.execute("DROP TABLE vals_dst", ())?;
        tx.execute("DROP TABLE vals_src", ())?;
        Ok(())
    }
}

retort_guest::export!(Values, id: "20260101000000", parents: [], description: "value round trip");
