//! Measures, on one machine in one run, a row-by-row UPDATE loop (one prepared statement, one
//! transaction) and a full-table read through rusqlite and through sqlx's SQLite driver, and
//! optionally a Retort guest doing the same data migration through the real binary.

use std::path::Path;
use std::time::{Duration, Instant};

use sqlx::{Connection, Row};

fn seed(path: &Path, rows: i64) {
    let _ = std::fs::remove_file(path);
    let mut c = rusqlite::Connection::open(path).unwrap();
    c.execute_batch("CREATE TABLE bulk (id INTEGER PRIMARY KEY, n INTEGER NOT NULL, s TEXT NOT NULL)").unwrap();
    let tx = c.transaction().unwrap();
    {
        let mut st = tx.prepare("INSERT INTO bulk (id, n, s) VALUES (?1, ?2, ?3)").unwrap();
        for i in 1..=rows {
            st.execute(rusqlite::params![i, i % 1000, format!("row {i}")]).unwrap();
        }
    }
    tx.commit().unwrap();
}

fn rusqlite_update(path: &Path, rows: i64) -> Duration {
    let mut c = rusqlite::Connection::open(path).unwrap();
    let t = Instant::now();
    let tx = c.transaction().unwrap();
    {
        let mut st = tx.prepare_cached("UPDATE bulk SET n = n + 1 WHERE id = ?1").unwrap();
        for i in 1..=rows {
            st.execute([i]).unwrap();
        }
    }
    tx.commit().unwrap();
    t.elapsed()
}

fn rusqlite_read(path: &Path) -> (Duration, i64) {
    let c = rusqlite::Connection::open(path).unwrap();
    let t = Instant::now();
    let mut st = c.prepare("SELECT id, n, s FROM bulk").unwrap();
    let mut rows = st.query([]).unwrap();
    let mut sum = 0i64;
    while let Some(r) = rows.next().unwrap() {
        sum += r.get::<_, i64>(1).unwrap() + r.get::<_, String>(2).unwrap().len() as i64;
    }
    (t.elapsed(), sum)
}

async fn sqlx_update(path: &Path, rows: i64) -> Duration {
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let t = Instant::now();
    let mut tx = c.begin().await.unwrap();
    for i in 1..=rows {
        sqlx::query("UPDATE bulk SET n = n + 1 WHERE id = ?1").bind(i).execute(&mut *tx).await.unwrap();
    }
    tx.commit().await.unwrap();
    t.elapsed()
}

async fn sqlx_read(path: &Path) -> (Duration, i64) {
    use futures_lite::StreamExt;
    let mut c = sqlx::SqliteConnection::connect(&format!("sqlite://{}", path.display())).await.unwrap();
    let t = Instant::now();
    let mut sum = 0i64;
    let mut stream = sqlx::query("SELECT id, n, s FROM bulk").fetch(&mut c);
    while let Some(r) = stream.next().await {
        let r = r.unwrap();
        sum += r.get::<i64, _>(1) + r.get::<String, _>(2).len() as i64;
    }
    (t.elapsed(), sum)
}

fn rate(rows: i64, d: Duration) -> f64 {
    rows as f64 / d.as_secs_f64()
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let rows: i64 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(100_000);
    let retort = args.get(2);
    let dir = std::env::temp_dir().join("retort-bench-sqlite");
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("bench.db");
    let runs = 3;
    let (mut ru, mut su, mut rr, mut sr, mut guest) = (vec![], vec![], vec![], vec![], vec![]);
    for _ in 0..runs {
        seed(&db, rows);
        ru.push(rusqlite_update(&db, rows));
        seed(&db, rows);
        su.push(sqlx_update(&db, rows).await);
        let (d, a) = rusqlite_read(&db);
        rr.push(d);
        let (d, b) = sqlx_read(&db).await;
        assert_eq!(a, b);
        sr.push(d);
        if let Some(bin) = retort {
            seed(&db, rows);
            let project = dir.join("project");
            let _ = std::fs::remove_dir_all(&project);
            std::fs::create_dir_all(project.join("migrations")).unwrap();
            let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/guests/20260401000000_bulk_update.wasm");
            std::fs::copy(&fixture, project.join("migrations/20260401000000_bulk_update.wasm"))
                .expect("build tests/guests first (cargo test does)");
            let t = Instant::now();
            let status = std::process::Command::new(bin)
                .current_dir(&project)
                .args(["-q", "--database-url", &format!("sqlite://{}", db.display()), "upgrade"])
                .stdout(std::process::Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
            guest.push(t.elapsed());
        }
    }
    let (ru, su, rr, sr) = (median(ru), median(su), median(rr), median(sr));
    println!("rows: {rows}, runs: {runs} (median)");
    println!("row-by-row UPDATE, one transaction:");
    println!("  rusqlite  {:>10.0} rows/s  ({:?})", rate(rows, ru), ru);
    println!("  sqlx      {:>10.0} rows/s  ({:?})", rate(rows, su), su);
    println!("  rusqlite / sqlx = {:.1}x", su.as_secs_f64() / ru.as_secs_f64());
    println!("full-table read:");
    println!("  rusqlite  {:>10.0} rows/s  ({:?})", rate(rows, rr), rr);
    println!("  sqlx      {:>10.0} rows/s  ({:?})", rate(rows, sr), sr);
    println!("  rusqlite / sqlx = {:.1}x", sr.as_secs_f64() / rr.as_secs_f64());
    if !guest.is_empty() {
        let g = median(guest);
        println!("retort guest data migration (read + row-by-row update via execute-batch), whole process:");
        println!("  retort    {:>10.0} rows/s  ({:?})", rate(rows, g), g);
        println!("  native rusqlite update / retort guest = {:.2}x", g.as_secs_f64() / ru.as_secs_f64());
    }
}
