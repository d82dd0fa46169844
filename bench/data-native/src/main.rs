//! The data migration of `bench/guests/data_*` as a native Rust loop on rusqlite: read each
//! row of `bulk` into a struct, derive two columns, write them back with a prepared `UPDATE`
//! per row, in one transaction. Prints the loop's time in milliseconds (from `BEGIN` to
//! before `COMMIT`, as Retort's recorded duration of a migration excludes its commit).
//!
//!     data-native DB_FILE

use std::time::Instant;

struct Bulk {
    id: i64,
    n: i64,
    s: String,
}

fn main() {
    let path = std::env::args().nth(1).expect("usage: data-native DB_FILE");
    let c = rusqlite::Connection::open(&path).expect("open the database");
    let started = Instant::now();
    c.execute_batch("BEGIN").expect("BEGIN");
    {
        let mut read = c.prepare("SELECT id, n, s FROM bulk ORDER BY id").expect("prepare SELECT");
        let mut update = c.prepare("UPDATE bulk SET a = ?1, b = ?2 WHERE id = ?3").expect("prepare UPDATE");
        let mut rows = read.query([]).expect("query");
        while let Some(r) = rows.next().expect("step") {
            let row = Bulk { id: r.get(0).expect("id"), n: r.get(1).expect("n"), s: r.get(2).expect("s") };
            update
                .execute(rusqlite::params![row.n * 2 + row.s.len() as i64, format!("{}-{}", row.s, row.n), row.id])
                .expect("UPDATE");
        }
    }
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    c.execute_batch("COMMIT").expect("COMMIT");
    println!("{ms:.1}");
}
