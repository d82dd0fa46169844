//! Hostile session settings, then an innocent-looking batched copy (issue 13, item 1). On
//! PostgreSQL the migration turns `standard_conforming_strings` off and `DateStyle` to
//! `SQL, DMY`, then copies rows whose text would end a non-conforming literal and run as SQL
//! (`x\'); DROP TABLE victim; --`) with `execute-batch`. Every value must arrive exactly and
//! `victim` must survive. Elsewhere it only copies.

use retort_guest::{Date, Dialect, Migration, Result, Tx, row};

row! {
    struct Src { id: i64, t: String, bt: Vec<u8>, d: Date }
}

struct HostileSettings;

impl Migration for HostileSettings {
    fn upgrade(tx: &Tx) -> Result<()> {
        let (bytes, date) = match tx.dialect() {
            Dialect::Postgres => ("BYTEA", "DATE"),
            Dialect::Mysql => ("VARBINARY(16)", "DATE"),
            Dialect::Sqlite => ("BLOB", "DATE"),
        };
        tx.execute("CREATE TABLE victim (id INTEGER PRIMARY KEY)", ())?;
        tx.execute("CREATE TABLE hs_one (t TEXT NOT NULL)", ())?;
        for table in ["hs_src", "hs_dst"] {
            tx.execute(
                &format!("CREATE TABLE {table} (id BIGINT PRIMARY KEY, t TEXT NOT NULL, bt {bytes} NOT NULL, d {date} NOT NULL)"),
                (),
            )?;
        }
        let texts = [
            "x\\'); DROP TABLE victim; --",
            "a\\nb",
            "\\\\",
            "it's",
            "tab\\there ü ✓",
        ];
        for (i, t) in texts.iter().enumerate() {
            let id = i as i64 + 1;
            let bt: Vec<u8> = vec![0x5c, 0x27, 0x00, 0xff, id as u8];
            let d = Date { year: 2026, month: 3, day: 4 + id as u8 };
            tx.execute("INSERT INTO hs_src (id, t, bt, d) VALUES ($1, $2, $3, $4)", (id, *t, bt, d))?;
        }
        if tx.dialect() == Dialect::Postgres {
            tx.execute("SET standard_conforming_strings = off", ())?;
            tx.execute("SET DateStyle = 'SQL, DMY'", ())?;
        }
        // One text parameter: without exact literals, `x\'` would close the literal and the
        // rest of the value would run as the next statement.
        tx.execute_batch("INSERT INTO hs_one (t) VALUES ($1)", texts.iter().map(|t| (*t,)))?;
        let mut query = tx.query::<Src>("SELECT id, t, bt, d FROM hs_src ORDER BY id", ())?;
        let mut rows = Vec::new();
        while let Some(batch) = query.next_batch()? {
            rows.extend(batch);
        }
        tx.execute_batch(
            "INSERT INTO hs_dst (id, t, bt, d) VALUES ($1, $2, $3, $4)",
            rows.iter().map(|r| (r.id, r.t.clone(), r.bt.clone(), r.d)),
        )?;
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.execute("DROP TABLE hs_one", ())?;
        tx.execute("DROP TABLE hs_dst", ())?;
        tx.execute("DROP TABLE hs_src", ())?;
        tx.execute("DROP TABLE victim", ())?;
        Ok(())
    }
}

retort_guest::export!(HostileSettings, id: "20261201000000", parents: [],
    description: "hostile session settings, then a batched copy");
