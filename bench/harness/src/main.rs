//! Retort's benchmark harness (issue 6). Run by hand with `bash bench/run.sh`; prints
//! markdown tables for BENCHMARKS.md. Every figure in a table comes from the same run.
//!
//! Arguments: RETORT_BIN PYTHON GUESTS_DIR WORK_DIR [PG_URL] — rows and revision counts
//! come from BENCH_ROWS (default "100000,1000000") and BENCH_MIGRATIONS (default 500).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use sqlx::{Connection, Executor, Row};

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Dialect {
    Sqlite,
    Postgres,
}

struct Ctx {
    retort: PathBuf,
    python: PathBuf,
    guests: PathBuf,
    work: PathBuf,
    pg: Option<String>,
}

/// Runs a command under /usr/bin/time; returns wall time and peak RSS in KiB.
fn timed(cmd: &mut Command) -> (Duration, u64) {
    let program = cmd.get_program().to_owned();
    let args: Vec<_> = cmd.get_args().map(|a| a.to_owned()).collect();
    let envs: Vec<_> = cmd.get_envs().map(|(k, v)| (k.to_owned(), v.map(|v| v.to_owned()))).collect();
    let mut wrapped = Command::new("/usr/bin/time");
    wrapped.arg("-f").arg("__PEAK_KB %M").arg(program).args(args);
    if let Some(dir) = cmd.get_current_dir() {
        wrapped.current_dir(dir);
    }
    for (k, v) in envs {
        match v {
            Some(v) => wrapped.env(k, v),
            None => wrapped.env_remove(k),
        };
    }
    let start = Instant::now();
    let out = wrapped.output().expect("running a benchmark command");
    let elapsed = start.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        panic!("benchmark command failed: {wrapped:?}\n{stderr}");
    }
    let peak = stderr.lines().rev().find_map(|l| l.strip_prefix("__PEAK_KB ")).and_then(|v| v.trim().parse().ok()).unwrap_or(0);
    (elapsed, peak)
}

fn pg_db_url(base: &str, name: &str) -> String {
    let (head, _) = base.rsplit_once('/').expect("a PostgreSQL URL with a database");
    format!("{head}/{name}")
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

impl Ctx {
    /// A fresh, empty database; returns (retort URL, SQLAlchemy URL).
    fn fresh(&self, dialect: Dialect, name: &str) -> (String, String) {
        match dialect {
            Dialect::Sqlite => {
                let path = self.work.join(format!("{name}.db"));
                let _ = std::fs::remove_file(&path);
                (format!("sqlite://{}", path.display()), format!("sqlite:///{}", path.display()))
            }
            Dialect::Postgres => {
                let base = self.pg.as_deref().expect("a PostgreSQL URL");
                rt().block_on(async {
                    let mut c = sqlx::PgConnection::connect(base).await.unwrap();
                    c.execute(sqlx::AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))).await.unwrap();
                    c.execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}"))).await.unwrap();
                });
                let url = pg_db_url(base, name);
                let sa = url.replacen("postgres://", "postgresql+psycopg2://", 1);
                (url, sa)
            }
        }
    }

    fn seed(&self, dialect: Dialect, url: &str, rows: i64) {
        let create = "CREATE TABLE bulk (id BIGINT PRIMARY KEY, n BIGINT NOT NULL, s VARCHAR(40) NOT NULL, a BIGINT, b VARCHAR(80))";
        match dialect {
            Dialect::Sqlite => {
                let c = rusqlite::Connection::open(url.trim_start_matches("sqlite://")).unwrap();
                c.execute_batch(&format!(
                    "{create}; WITH RECURSIVE g(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM g WHERE x < {rows}) \
                     INSERT INTO bulk (id, n, s) SELECT x, x % 1000, 'row ' || x FROM g;"
                ))
                .unwrap();
            }
            Dialect::Postgres => rt().block_on(async {
                let mut c = sqlx::PgConnection::connect(url).await.unwrap();
                c.execute(create).await.unwrap();
                c.execute(sqlx::AssertSqlSafe(format!(
                    "INSERT INTO bulk (id, n, s) SELECT g, g % 1000, 'row ' || g FROM generate_series(1, {rows}) g"
                )))
                .await
                .unwrap();
                c.execute("VACUUM ANALYZE bulk").await.unwrap();
            }),
        }
    }

    /// Checks the data migration derived both columns of every row.
    fn verify(&self, dialect: Dialect, url: &str, rows: i64) {
        let sql = "SELECT COUNT(*) FROM bulk WHERE a = n * 2 + LENGTH(s) AND b = s || '-' || CAST(n AS VARCHAR(20))";
        let n: i64 = match dialect {
            Dialect::Sqlite => rusqlite::Connection::open(url.trim_start_matches("sqlite://"))
                .unwrap()
                .query_row(&sql.replace("VARCHAR(20)", "TEXT"), [], |r| r.get(0))
                .unwrap(),
            Dialect::Postgres => rt().block_on(async {
                let mut c = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::query_scalar(sql).fetch_one(&mut c).await.unwrap()
            }),
        };
        assert_eq!(n, rows, "the data migration did not derive every row");
    }

    fn retort(&self, project: &Path, url: &str, cache: &Path, args: &[&str]) -> (Duration, u64) {
        timed(
            Command::new(&self.retort)
                .current_dir(project)
                .env("RETORT_CACHE_DIR", cache)
                .args(["-q", "--database-url", url])
                .args(args),
        )
    }
}

/// Writes `n` chained schema migrations by patching the template artifacts' placeholders.
fn generate_schema_project(ctx: &Ctx, n: usize) -> PathBuf {
    let project = ctx.work.join("schema-project");
    let _ = std::fs::remove_dir_all(&project);
    std::fs::create_dir_all(project.join("migrations")).unwrap();
    let root = std::fs::read(ctx.guests.join("schema_root.wasm")).expect("bench guests are built");
    let child = std::fs::read(ctx.guests.join("schema_child.wasm")).unwrap();
    let patch = |bytes: &[u8], from: &[u8], to: &[u8]| -> Vec<u8> {
        assert_eq!(from.len(), to.len());
        let mut out = bytes.to_vec();
        let mut found = 0;
        let mut i = 0;
        while i + from.len() <= out.len() {
            if &out[i..i + from.len()] == from {
                out[i..i + from.len()].copy_from_slice(to);
                found += 1;
                i += from.len();
            } else {
                i += 1;
            }
        }
        assert!(found > 0, "placeholder not found");
        out
    };
    for i in 1..=n {
        let id = format!("{i:014}");
        let bytes = if i == 1 {
            patch(&root, b"IDPLACEHOLDER1", id.as_bytes())
        } else {
            let parent = format!("{:014}", i - 1);
            patch(&patch(&child, b"IDPLACEHOLDER1", id.as_bytes()), b"PARENTHOLDER01", parent.as_bytes())
        };
        std::fs::write(project.join("migrations").join(format!("{id}_bench.wasm")), bytes).unwrap();
    }
    project
}

fn secs(d: Duration) -> String {
    format!("{:.2} s", d.as_secs_f64())
}

fn scenario1(ctx: &Ctx, dialect: Dialect, n: usize) {
    let project = generate_schema_project(ctx, n);
    let cold_cache = ctx.work.join(format!("cache-cold-{dialect:?}"));
    let _ = std::fs::remove_dir_all(&cold_cache);
    let (url, _) = ctx.fresh(dialect, "bench_s1_cold");
    let (cold, _) = ctx.retort(&project, &url, &cold_cache, &["upgrade"]);
    let (url, _) = ctx.fresh(dialect, "bench_s1_warm");
    let (warm, _) = ctx.retort(&project, &url, &cold_cache, &["upgrade"]);
    let (url, _) = ctx.fresh(dialect, "bench_s1_single");
    let (single, _) = ctx.retort(&project, &url, &cold_cache, &["upgrade", "--transaction", "single"]);

    let alembic_dir = ctx.work.join(format!("alembic-{dialect:?}"));
    let _ = std::fs::remove_dir_all(&alembic_dir);
    let (_, sa_url) = ctx.fresh(dialect, "bench_s1_alembic");
    let script = ctx.guests.join("../alembic_bench.py");
    let gen_ = Command::new(&ctx.python).arg(&script).args(["schema"]).arg(&alembic_dir).arg(&sa_url).arg(n.to_string()).status().unwrap();
    assert!(gen_.success());
    let (alembic, _) = timed(Command::new(&ctx.python).args(["-m", "alembic", "-c"]).arg(alembic_dir.join("alembic.ini")).args(["upgrade", "head"]));

    let r = |d: Duration| alembic.as_secs_f64() / d.as_secs_f64();
    println!(
        "| {dialect:?} | {n} | {} | {} | {} | {} | {:.1}× | {:.1}× | {:.1}× |",
        secs(alembic), secs(cold), secs(warm), secs(single), r(cold), r(warm), r(single)
    );
}

/// The data migration as a native Rust loop on the same driver Retort uses.
fn native(dialect: Dialect, url: &str) -> Duration {
    let start = Instant::now();
    match dialect {
        Dialect::Sqlite => {
            let c = rusqlite::Connection::open(url.trim_start_matches("sqlite://")).unwrap();
            c.execute_batch("BEGIN").unwrap();
            {
                let mut read = c.prepare("SELECT id, n, s FROM bulk ORDER BY id").unwrap();
                let mut update = c.prepare("UPDATE bulk SET a = ?1, b = ?2 WHERE id = ?3").unwrap();
                let mut rows = read.query([]).unwrap();
                while let Some(r) = rows.next().unwrap() {
                    let (id, n, s): (i64, i64, String) = (r.get(0).unwrap(), r.get(1).unwrap(), r.get(2).unwrap());
                    update.execute(rusqlite::params![n * 2 + s.len() as i64, format!("{s}-{n}"), id]).unwrap();
                }
            }
            c.execute_batch("COMMIT").unwrap();
        }
        Dialect::Postgres => rt().block_on(async {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            c.execute("BEGIN; DECLARE cur NO SCROLL CURSOR FOR SELECT id, n, s FROM bulk ORDER BY id").await.unwrap();
            loop {
                let rows = sqlx::query("FETCH FORWARD 1000 FROM cur").fetch_all(&mut c).await.unwrap();
                if rows.is_empty() {
                    break;
                }
                for r in &rows {
                    let (id, n, s): (i64, i64, String) = (r.get(0), r.get(1), r.get(2));
                    sqlx::query("UPDATE bulk SET a = $1, b = $2 WHERE id = $3")
                        .bind(n * 2 + s.len() as i64)
                        .bind(format!("{s}-{n}"))
                        .bind(id)
                        .execute(&mut c)
                        .await
                        .unwrap();
                }
            }
            c.execute("CLOSE cur; COMMIT").await.unwrap();
        }),
    }
    start.elapsed()
}

fn set_based(dialect: Dialect, url: &str) -> Duration {
    let start = Instant::now();
    match dialect {
        Dialect::Sqlite => {
            rusqlite::Connection::open(url.trim_start_matches("sqlite://"))
                .unwrap()
                .execute_batch("UPDATE bulk SET a = n * 2 + LENGTH(s), b = s || '-' || n")
                .unwrap();
        }
        Dialect::Postgres => rt().block_on(async {
            let mut c = sqlx::PgConnection::connect(url).await.unwrap();
            c.execute("UPDATE bulk SET a = n * 2 + LENGTH(s), b = s || '-' || n::text").await.unwrap();
        }),
    }
    start.elapsed()
}

fn scenario2(ctx: &Ctx, dialect: Dialect, rows: i64) {
    let cache = ctx.work.join("cache-data");
    let mut results: Vec<(&str, Duration, u64)> = Vec::new();
    for (name, artifact) in [("retort guest, row by row", "data_row"), ("retort guest, batched", "data_batched")] {
        let project = ctx.work.join(format!("data-{artifact}"));
        let _ = std::fs::remove_dir_all(&project);
        std::fs::create_dir_all(project.join("migrations")).unwrap();
        let id = if artifact == "data_row" { "20270101000001" } else { "20270101000002" };
        std::fs::copy(ctx.guests.join(format!("{artifact}.wasm")), project.join(format!("migrations/{id}_{artifact}.wasm"))).unwrap();
        // Warm the compile cache first: scenario 2 measures the data path.
        let (url, _) = ctx.fresh(dialect, "bench_s2");
        ctx.seed(dialect, &url, 10);
        ctx.retort(&project, &url, &cache, &["upgrade"]);
        let (url, _) = ctx.fresh(dialect, "bench_s2");
        ctx.seed(dialect, &url, rows);
        let (d, peak) = ctx.retort(&project, &url, &cache, &["upgrade"]);
        ctx.verify(dialect, &url, rows);
        results.push((name, d, peak));
    }
    let (url, _) = ctx.fresh(dialect, "bench_s2");
    ctx.seed(dialect, &url, rows);
    let d = native(dialect, &url);
    ctx.verify(dialect, &url, rows);
    results.push(("native Rust loop (same driver)", d, 0));
    let script = ctx.guests.join("../alembic_bench.py");
    for (name, mode) in [("Alembic + SQLAlchemy Core, row by row", "row"), ("Alembic + SQLAlchemy Core, executemany", "batch")] {
        let (url, sa_url) = ctx.fresh(dialect, "bench_s2");
        ctx.seed(dialect, &url, rows);
        let (d, peak) = timed(Command::new(&ctx.python).arg(&script).args(["data", &sa_url, mode]));
        ctx.verify(dialect, &url, rows);
        results.push((name, d, peak));
    }
    let (url, _) = ctx.fresh(dialect, "bench_s2");
    ctx.seed(dialect, &url, rows);
    let d = set_based(dialect, &url);
    ctx.verify(dialect, &url, rows);
    results.push(("one set-based UPDATE (ceiling)", d, 0));

    let batched = results[1].1.as_secs_f64();
    for (name, d, peak) in &results {
        let rate = rows as f64 / d.as_secs_f64();
        let peak = if *peak > 0 { format!("{:.0} MB", *peak as f64 / 1024.0) } else { "—".into() };
        println!(
            "| {dialect:?} | {rows} | {name} | {} | {:.0} rows/s | {:.2}× | {peak} |",
            secs(*d),
            rate,
            d.as_secs_f64() / batched
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    assert!(args.len() >= 5, "usage: retort-bench RETORT_BIN PYTHON GUESTS_DIR WORK_DIR [PG_URL]");
    let ctx = Ctx {
        retort: PathBuf::from(&args[1]),
        python: PathBuf::from(&args[2]),
        guests: PathBuf::from(&args[3]),
        work: PathBuf::from(&args[4]),
        pg: args.get(5).cloned(),
    };
    std::fs::create_dir_all(&ctx.work).unwrap();
    let rows: Vec<i64> = std::env::var("BENCH_ROWS")
        .unwrap_or_else(|_| "100000,1000000".into())
        .split(',')
        .map(|r| r.trim().parse().expect("BENCH_ROWS: numbers"))
        .collect();
    let migrations: usize = std::env::var("BENCH_MIGRATIONS").ok().and_then(|m| m.parse().ok()).unwrap_or(500);
    let mut dialects: Vec<Dialect> =
        if ctx.pg.is_some() { vec![Dialect::Sqlite, Dialect::Postgres] } else { vec![Dialect::Sqlite] };
    if std::env::var("BENCH_SQLITE").is_ok_and(|v| v == "off") {
        dialects.retain(|d| *d != Dialect::Sqlite);
    }

    println!("### Scenario 1: a fresh database to head through {migrations} schema migrations\n");
    println!("| database | migrations | Alembic | Retort, cold cache | Retort, warm cache | Retort, warm, `--transaction single` | cold vs Alembic | warm vs Alembic | single vs Alembic |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for &d in &dialects {
        scenario1(&ctx, d, migrations);
    }
    println!("\n### Scenario 2: data migration (read each row into a struct, derive two columns, write back)\n");
    println!("| database | rows | variant | time | throughput | time ÷ batched guest | peak RSS |");
    println!("|---|---|---|---|---|---|---|");
    for &d in &dialects {
        for &r in &rows {
            scenario2(&ctx, d, r);
        }
    }
}
