//! `retort fleet`: one database's migrations on many targets — SQLite files, PostgreSQL
//! schemas in one database and databases of their own, MariaDB databases on one server —
//! with failures, halting, a canary, a partition, `kill -9` and resume, and workers sharing
//! a control database. Every test checks each target's history and schema, not only what
//! the command printed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::common::{Dialect, Project, TestDb, guest_target, stderr, stdout};

/// Three SQL migrations: a table, a column, another table.
const MIGRATIONS: [(&str, &str, &str); 3] = [
    (
        "0001_items",
        "CREATE TABLE items (id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL);",
        "DROP TABLE items;",
    ),
    (
        "0002_price",
        "-- retort: parents = 0001\nALTER TABLE items ADD COLUMN price INTEGER;",
        "ALTER TABLE items DROP COLUMN price;",
    ),
    (
        "0003_orders",
        "-- retort: parents = 0002\nCREATE TABLE orders (id INTEGER PRIMARY KEY, item_id INTEGER NOT NULL);",
        "DROP TABLE orders;",
    ),
];

fn project() -> Project {
    let project = Project::empty();
    for (stem, up, down) in MIGRATIONS {
        let dir = project.migrations();
        std::fs::write(dir.join(format!("{stem}.up.sql")), up).expect("an up script");
        std::fs::write(dir.join(format!("{stem}.down.sql")), down).expect("a down script");
    }
    project
}

/// `retort fleet ARGS` in `project` (no DATABASE_URL: the targets are the databases).
fn fleet(project: &Project, args: &[&str]) -> std::process::Output {
    fleet_cmd(project, args)
        .output()
        .expect("running retort fleet")
}

fn fleet_cmd(project: &Project, args: &[&str]) -> std::process::Command {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_retort"));
    cmd.current_dir(project.dir.path())
        .env_remove("DATABASE_URL")
        .env("CARGO_TARGET_DIR", guest_target())
        .arg("fleet")
        .args(args);
    cmd
}

fn ok(out: &std::process::Output) {
    assert!(
        out.status.success(),
        "exit {:?}\n{}{}",
        out.status.code(),
        stdout(out),
        stderr(out)
    );
}

fn failed(out: &std::process::Output) {
    assert_eq!(
        out.status.code(),
        Some(1),
        "expected exit 1\n{}{}",
        stdout(out),
        stderr(out)
    );
}

/// A run log's attempt records.
fn attempts(log: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(log)
        .unwrap_or_else(|e| panic!("{}: {e}", log.display()))
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|r| r["record"] == "attempt")
        .collect()
}

fn log_of(project: &Project, run: &str) -> PathBuf {
    project
        .dir
        .path()
        .join(".retort/fleet")
        .join(format!("{run}.jsonl"))
}

/// SQLite files, one per target, in a directory of their own.
struct Files {
    dir: tempfile::TempDir,
    urls: Vec<String>,
}

fn sqlite_targets(n: usize) -> Files {
    let dir = tempfile::Builder::new()
        .prefix("retort-fleet-")
        .tempdir()
        .expect("a temp dir");
    let urls = (0..n)
        .map(|i| {
            let path = dir.path().join(format!("tenant_{i:04}.db"));
            rusqlite::Connection::open(&path).expect("creating a tenant file");
            format!("sqlite://{}", path.display())
        })
        .collect();
    Files { dir, urls }
}

fn write_targets(project: &Project, urls: &[String]) -> PathBuf {
    let file = project.dir.path().join("targets.txt");
    let mut text = String::from("# the fleet\n\n");
    for url in urls {
        text.push_str(url);
        text.push('\n');
    }
    std::fs::write(&file, text).expect("the targets file");
    file
}

fn sqlite_applied(url: &str) -> Vec<String> {
    let path = url.trim_start_matches("sqlite://");
    let conn = rusqlite::Connection::open(path).expect("a tenant file");
    let mut stmt = match conn.prepare("SELECT revision FROM retort_history ORDER BY revision") {
        Ok(s) => s,
        Err(_) => return Vec::new(),
    };
    stmt.query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .expect("history rows")
}

fn sqlite_columns(url: &str, table: &str) -> Vec<String> {
    let path = url.trim_start_matches("sqlite://");
    let conn = rusqlite::Connection::open(path).expect("a tenant file");
    let mut stmt = conn
        .prepare(&format!(
            "SELECT name FROM pragma_table_info('{table}') ORDER BY cid"
        ))
        .expect("table info");
    stmt.query_map([], |r| r.get::<_, String>(0))
        .and_then(|rows| rows.collect())
        .expect("columns")
}

const ALL: [&str; 3] = ["0001", "0002", "0003"];

/// Every target at head, each migration recorded once, the schema in place.
fn assert_sqlite_done(urls: &[String]) {
    for url in urls {
        assert_eq!(sqlite_applied(url), ALL, "{url}");
        assert_eq!(
            sqlite_columns(url, "items"),
            ["id", "name", "price"],
            "{url}"
        );
        assert_eq!(sqlite_columns(url, "orders"), ["id", "item_id"], "{url}");
    }
}

/// A target where `0001` fails: it already has an `items` table, from elsewhere.
fn break_sqlite(url: &str) {
    let path = url.trim_start_matches("sqlite://");
    rusqlite::Connection::open(path)
        .expect("a tenant file")
        .execute_batch("CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT, price INTEGER)")
        .expect("breaking a tenant");
}

/// What `break_sqlite` did, undone, so the target can be retried.
fn mend_sqlite(url: &str) {
    let path = url.trim_start_matches("sqlite://");
    rusqlite::Connection::open(path)
        .expect("a tenant file")
        .execute_batch("DROP TABLE items")
        .expect("mending a tenant");
}

/// 120 SQLite files by glob: one target broken (0001 fails on it), recorded, the others
/// migrated; the log, the summary and the JUnit report say so; `status` finds the broken one
/// pending; mended, `retry --failed` finishes it; a second run finds nothing to do.
#[test]
fn sqlite_files_by_glob_with_a_failure_then_retry() {
    let project = project();
    let files = sqlite_targets(120);
    break_sqlite(&files.urls[7]);
    let glob = format!("{}/tenant_*.db", files.dir.path().display());
    let junit = project.dir.path().join("fleet.xml");
    let out = fleet(
        &project,
        &[
            "upgrade",
            "--targets",
            &glob,
            "--jobs",
            "3",
            "--run",
            "r1",
            "--junit",
            junit.to_str().unwrap(),
        ],
    );
    failed(&out);
    let text = stdout(&out);
    assert!(
        text.contains("run r1: 119 migrated, 1 failed of 120 targets"),
        "{text}"
    );
    assert!(text.contains("tenant_0007.db: failed"), "{text}");
    assert!(
        text.contains("0001"),
        "the failing migration is named: {text}"
    );
    assert!(text.contains("retort fleet retry --failed r1"), "{text}");
    assert_eq!(sqlite_applied(&files.urls[7]), Vec::<String>::new());
    let others: Vec<String> = files
        .urls
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 7)
        .map(|(_, u)| u.clone())
        .collect();
    assert_sqlite_done(&others);

    let log = attempts(&log_of(&project, "r1"));
    assert_eq!(log.len(), 120);
    let failures: Vec<&serde_json::Value> =
        log.iter().filter(|a| a["outcome"] == "failed").collect();
    assert_eq!(failures.len(), 1);
    assert!(
        failures[0]["target"]
            .as_str()
            .unwrap()
            .ends_with("tenant_0007.db")
    );
    assert_eq!(failures[0]["error_kind"], "migration");
    let applied = log.iter().find(|a| a["outcome"] == "applied").unwrap();
    assert_eq!(applied["from"], serde_json::json!([]));
    assert_eq!(applied["to"], serde_json::json!(["0003"]));
    assert_eq!(applied["revisions"], serde_json::json!(ALL));

    let xml = std::fs::read_to_string(&junit).expect("the JUnit report");
    assert_eq!(xml.matches("<testcase ").count(), 120, "{xml}");
    assert_eq!(xml.matches("<failure").count(), 1, "{xml}");

    // Status: one read per target; only the broken one is pending.
    let out = fleet(&project, &["status", "--targets", &glob]);
    ok(&out);
    let text = stdout(&out);
    assert!(
        text.contains("119 up to date, 1 with pending migrations of 120 targets"),
        "{text}"
    );
    assert!(
        text.contains("tenant_0007.db: pending, 3 migrations"),
        "{text}"
    );

    mend_sqlite(&files.urls[7]);
    let out = fleet(&project, &["retry", "--failed", "r1"]);
    ok(&out);
    assert!(
        stdout(&out).contains("run r1: 1 migrated of 1 target"),
        "{}",
        stdout(&out)
    );
    assert_sqlite_done(&files.urls);
    let log = attempts(&log_of(&project, "r1"));
    let retried = log.last().unwrap();
    assert_eq!(retried["attempt"], 2);
    assert_eq!(retried["outcome"], "applied");

    // Nothing pending: every target read once, nothing written.
    let before: Vec<std::time::SystemTime> = files
        .urls
        .iter()
        .map(|u| {
            std::fs::metadata(u.trim_start_matches("sqlite://"))
                .unwrap()
                .modified()
                .unwrap()
        })
        .collect();
    let out = fleet(&project, &["upgrade", "--targets", &glob, "--run", "r2"]);
    ok(&out);
    assert!(stdout(&out).contains("120 up to date of 120 targets"));
    for (url, was) in files.urls.iter().zip(before) {
        let now = std::fs::metadata(url.trim_start_matches("sqlite://"))
            .unwrap()
            .modified()
            .unwrap();
        assert_eq!(now, was, "{url} was written to with nothing to do");
    }
}

/// `--max-failures 3` with one job: after the third failure no new target starts; the
/// failed ones changed nothing and those not started are untouched.
#[test]
fn max_failures_stops_starting_targets() {
    let project = project();
    let files = sqlite_targets(30);
    for url in &files.urls[..10] {
        break_sqlite(url);
    }
    let list = write_targets(&project, &files.urls);
    let out = fleet(
        &project,
        &[
            "upgrade",
            "--targets",
            list.to_str().unwrap(),
            "--jobs",
            "1",
            "--max-failures",
            "3",
            "--run",
            "halt",
        ],
    );
    failed(&out);
    let text = stdout(&out);
    assert!(
        text.contains("3 failed, 27 not started of 30 targets"),
        "{text}"
    );
    assert!(
        text.contains("3 targets failed (the limit is 3): no new target was started"),
        "{text}"
    );
    assert!(text.contains("retort fleet resume halt"), "{text}");
    assert_eq!(attempts(&log_of(&project, "halt")).len(), 3);
    for url in &files.urls[10..] {
        assert_eq!(sqlite_applied(url), Vec::<String>::new(), "{url}");
    }
    // A share of the targets: 10% of 30 is 3.
    let out = fleet(
        &project,
        &[
            "upgrade",
            "--targets",
            list.to_str().unwrap(),
            "--jobs",
            "1",
            "--max-failures",
            "10%",
            "--run",
            "share",
        ],
    );
    failed(&out);
    assert_eq!(attempts(&log_of(&project, "share")).len(), 3);
}

/// `--canary 5` with the fourth target broken: the canary wave runs (five at once: four
/// migrated, one failed), then nothing else starts.
#[test]
fn a_failing_canary_stops_the_wave() {
    let project = project();
    let files = sqlite_targets(40);
    break_sqlite(&files.urls[3]);
    let list = write_targets(&project, &files.urls);
    let out = fleet(
        &project,
        &[
            "upgrade",
            "--targets",
            list.to_str().unwrap(),
            "--canary",
            "5",
            "--jobs",
            "5",
            "--run",
            "canary",
        ],
    );
    failed(&out);
    let text = stdout(&out);
    assert!(
        text.contains("4 migrated, 1 failed, 35 not started of 40 targets"),
        "{text}"
    );
    assert!(text.contains("1 canary target failed"), "{text}");
    let urls = &files.urls;
    assert_sqlite_done(&[
        urls[0].clone(),
        urls[1].clone(),
        urls[2].clone(),
        urls[4].clone(),
    ]);
    for url in &urls[5..] {
        assert_eq!(sqlite_applied(url), Vec::<String>::new(), "{url}");
    }
    // The same with a healthy canary goes through.
    mend_sqlite(&urls[3]);
    let out = fleet(
        &project,
        &[
            "upgrade",
            "--targets",
            list.to_str().unwrap(),
            "--canary",
            "5",
        ],
    );
    ok(&out);
    assert_sqlite_done(urls);
}

/// Two workers with `--partition 1/2` and `2/2` on the same list: each target is taken by
/// exactly one of them, and together they cover every target.
#[test]
fn two_partitions_cover_every_target_once() {
    let project = project();
    let files = sqlite_targets(100);
    let list = write_targets(&project, &files.urls);
    let list = list.to_str().unwrap();
    let one = fleet_cmd(
        &project,
        &[
            "upgrade",
            "--targets",
            list,
            "--partition",
            "1/2",
            "--run",
            "p1",
        ],
    )
    .stdout(std::process::Stdio::piped())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("worker 1");
    let two = fleet(
        &project,
        &[
            "upgrade",
            "--targets",
            list,
            "--partition",
            "2/2",
            "--run",
            "p2",
        ],
    );
    let one = one.wait_with_output().expect("worker 1");
    ok(&one);
    ok(&two);
    let mut taken: Vec<String> = attempts(&log_of(&project, "p1"))
        .into_iter()
        .chain(attempts(&log_of(&project, "p2")))
        .map(|a| a["target"].as_str().unwrap().to_string())
        .collect();
    let first = attempts(&log_of(&project, "p1")).len();
    assert!(first > 20 && first < 80, "an uneven split: {first} of 100");
    taken.sort();
    let mut expected = files.urls.clone();
    expected.sort();
    assert_eq!(taken, expected);
    assert_sqlite_done(&files.urls);
}

/// Waits until `log` records at least `n` attempts (or the process ended).
fn wait_for_attempts(log: &Path, n: usize, child: &mut std::process::Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        if log.is_file() && attempts_lenient(log) >= n {
            return;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the worker ended ({status}) before {n} attempts");
        }
        assert!(
            Instant::now() < deadline,
            "no {n} attempts in {}",
            log.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn attempts_lenient(log: &Path) -> usize {
    std::fs::read_to_string(log)
        .map(|t| t.matches("\"record\":\"attempt\"").count())
        .unwrap_or(0)
}

/// `kill -9` of a worker mid-run, then `resume`: every target ends at head with each
/// migration applied exactly once, and the resumed pass skips what the log says finished.
pub fn killed_worker_resumes(dialect: Dialect) {
    let project = project();
    let targets = Targets::new(dialect, "killed", 100);
    let list = write_targets(&project, &targets.urls);
    let list = list.to_str().unwrap();
    let mut child = fleet_cmd(
        &project,
        &[
            "upgrade",
            "--targets",
            list,
            "--jobs",
            "2",
            "--run",
            "killed",
        ],
    )
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::null())
    .spawn()
    .expect("a worker");
    let log = log_of(&project, "killed");
    wait_for_attempts(&log, 20, &mut child);
    child.kill().expect("kill -9");
    child.wait().expect("the killed worker");
    let before = attempts(&log).len();
    assert!(before < 100, "the worker finished before it was killed");
    targets.wait_idle();

    let out = fleet(&project, &["resume", "killed"]);
    ok(&out);
    let log = attempts(&log);
    let resumed = log.len() - before;
    assert!(
        resumed <= 100 - before + 2,
        "resume ran {resumed} targets after {before} had finished"
    );
    // Every target finished once in the log …
    let mut finished: Vec<&str> = log
        .iter()
        .filter(|a| a["outcome"] == "applied" || a["outcome"] == "up-to-date")
        .map(|a| a["target"].as_str().unwrap())
        .collect();
    finished.sort();
    finished.dedup();
    assert_eq!(finished.len(), 100);
    // … and in each target: its history and schema.
    targets.assert_done();
}

/// Targets on one engine: SQLite files, PostgreSQL schemas in one database (plus two
/// databases of their own), MariaDB databases on one server.
pub struct Targets {
    pub dialect: Dialect,
    pub urls: Vec<String>,
    /// The test database (schemas live in it on PostgreSQL).
    db: TestDb,
    /// Extra databases to drop (PostgreSQL, MariaDB).
    extra: Vec<TestDb>,
    /// SQLite files (removed with it).
    _files: Option<Files>,
}

impl Targets {
    pub fn new(dialect: Dialect, test: &str, n: usize) -> Targets {
        let db = TestDb::new(dialect, test);
        let mut extra = Vec::new();
        let mut files = None;
        let urls = match dialect {
            Dialect::Sqlite => {
                let f = sqlite_targets(n);
                let urls = f.urls.clone();
                files = Some(f);
                urls
            }
            Dialect::Postgres => {
                let mut script = String::new();
                for i in 0..n - 2 {
                    script.push_str(&format!("CREATE SCHEMA tenant_{i:03};"));
                }
                db.execute(&script);
                let mut urls: Vec<String> = (0..n - 2)
                    .map(|i| format!("{}?options[search_path]=tenant_{i:03}", db.url))
                    .collect();
                for k in 0..2 {
                    let own = TestDb::new(dialect, &format!("{test}_own{k}"));
                    urls.push(own.url.clone());
                    extra.push(own);
                }
                urls
            }
            Dialect::Mysql => {
                let mut urls = Vec::new();
                for i in 0..n {
                    let own = TestDb::new(dialect, &format!("{test}{i}"));
                    urls.push(own.url.clone());
                    extra.push(own);
                }
                urls
            }
        };
        Targets {
            dialect,
            urls,
            db,
            extra,
            _files: files,
        }
    }

    fn wait_idle(&self) {
        self.db.wait_idle();
        for e in &self.extra {
            e.wait_idle();
        }
    }

    /// The applied revisions of target `i`, from its own history.
    pub fn applied(&self, i: usize) -> Vec<String> {
        let url = &self.urls[i];
        match self.dialect {
            Dialect::Sqlite => sqlite_applied(url),
            Dialect::Postgres => match url.split_once("?options[search_path]=") {
                Some((_, schema)) => self.db.strings(&format!(
                    "SELECT revision FROM {schema}.retort_history ORDER BY revision"
                )),
                None => self
                    .own(url)
                    .strings("SELECT revision FROM public.retort_history ORDER BY revision"),
            },
            Dialect::Mysql => self
                .own(url)
                .strings("SELECT revision FROM retort_history ORDER BY revision"),
        }
    }

    fn own(&self, url: &str) -> &TestDb {
        self.extra
            .iter()
            .find(|e| e.url == url)
            .unwrap_or_else(|| panic!("no database for {url}"))
    }

    /// The columns of `table` in target `i`.
    pub fn columns(&self, i: usize, table: &str) -> Vec<String> {
        let url = &self.urls[i];
        match self.dialect {
            Dialect::Sqlite => sqlite_columns(url, table),
            Dialect::Postgres => {
                let (db, schema) = match url.split_once("?options[search_path]=") {
                    Some((_, schema)) => (&self.db, schema.to_string()),
                    None => (self.own(url), "public".to_string()),
                };
                db.strings(&format!(
                    "SELECT column_name::text FROM information_schema.columns \
                     WHERE table_schema = '{schema}' AND table_name = '{table}' \
                     ORDER BY ordinal_position"
                ))
            }
            Dialect::Mysql => self.own(url).strings(&format!(
                "SELECT CAST(column_name AS CHAR) FROM information_schema.columns \
                 WHERE table_schema = DATABASE() AND table_name = '{table}' \
                 ORDER BY ordinal_position"
            )),
        }
    }

    /// Makes `0001` fail on target `i`: an `items` table is already there.
    pub fn break_target(&self, i: usize) {
        let url = &self.urls[i];
        let sql = "CREATE TABLE items (id INTEGER)";
        match self.dialect {
            Dialect::Sqlite => rusqlite::Connection::open(url.trim_start_matches("sqlite://"))
                .expect("a tenant file")
                .execute_batch(sql)
                .expect("breaking a tenant"),
            Dialect::Postgres => match url.split_once("?options[search_path]=") {
                Some((_, schema)) => self
                    .db
                    .execute(&format!("CREATE TABLE {schema}.items (id INTEGER)")),
                None => self.own(url).execute(sql),
            },
            Dialect::Mysql => self.own(url).execute(sql),
        }
    }

    /// Undoes [`Targets::break_target`].
    pub fn mend_target(&self, i: usize) {
        let url = &self.urls[i];
        match self.dialect {
            Dialect::Sqlite => mend_sqlite(url),
            Dialect::Postgres => match url.split_once("?options[search_path]=") {
                Some((_, schema)) => self.db.execute(&format!("DROP TABLE {schema}.items")),
                None => self.own(url).execute("DROP TABLE items"),
            },
            Dialect::Mysql => self.own(url).execute("DROP TABLE items"),
        }
    }

    /// Every target at head, each migration once, the schema in place.
    pub fn assert_done(&self) {
        for i in 0..self.urls.len() {
            self.assert_target_done(i);
        }
    }

    fn assert_target_done(&self, i: usize) {
        let url = &self.urls[i];
        assert_eq!(self.applied(i), ALL, "{url}");
        assert_eq!(self.columns(i, "items"), ["id", "name", "price"], "{url}");
        assert_eq!(self.columns(i, "orders"), ["id", "item_id"], "{url}");
    }
}

/// 100+ targets on one engine, three at a time and at most two per server: all migrated,
/// each in its own history; a target whose migration fails, one that cannot be reached and
/// (PostgreSQL) one whose schema does not exist are recorded and the rest go on, under a
/// failure limit they do not reach; the failed target is left as it was; `status` then reads
/// every target once; the fleet goes down and the failed target, mended, is retried.
pub fn many_targets_on_one_engine(dialect: Dialect) {
    let project = project();
    let targets = Targets::new(dialect, "many", 101);
    targets.break_target(100);
    let mut urls = targets.urls.clone();
    let unreachable = match dialect {
        Dialect::Sqlite => "postgres://nobody@127.0.0.1:1/none".to_string(),
        Dialect::Postgres => "postgres://postgres@127.0.0.1:1/none".to_string(),
        Dialect::Mysql => "mysql://root@127.0.0.1:1/none".to_string(),
    };
    urls.insert(50, unreachable.clone());
    if dialect == Dialect::Postgres {
        urls.push(format!(
            "{}?options[search_path]=no_such_schema",
            targets.db.url
        ));
    }
    let list = write_targets(&project, &urls);
    let out = fleet(
        &project,
        &[
            "upgrade",
            "--targets",
            list.to_str().unwrap(),
            "--jobs",
            "3",
            "--jobs-per-server",
            "2",
            "--max-failures",
            "5",
            "--run",
            "many",
        ],
    );
    failed(&out);
    let text = stdout(&out);
    // On PostgreSQL the missing schema is found at connection: unreachable too.
    let unreachable_count = if dialect == Dialect::Postgres { 2 } else { 1 };
    assert!(
        text.contains(&format!(
            "100 migrated, 1 failed, {unreachable_count} unreachable of {} targets",
            urls.len()
        )),
        "{text}"
    );
    let broken = &targets.urls[100];
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{broken}: failed")))
        .unwrap_or_else(|| panic!("no line for the failed target: {text}"));
    assert!(line.contains("0001"), "{line}");
    // Its own table untouched; on PostgreSQL and SQLite nothing recorded (rolled back); on
    // MariaDB, whose DDL commits as it runs, 0001 is left unfinished, as `upgrade` leaves it.
    assert_eq!(targets.columns(100, "items"), ["id"]);
    let unfinished = dialect == Dialect::Mysql;
    if unfinished {
        assert!(
            line.contains("0001 left `upgrading` in retort_history"),
            "{line}"
        );
        assert_eq!(targets.applied(100), ["0001"], "{line}");
    } else {
        assert_eq!(targets.applied(100), Vec::<String>::new(), "{line}");
    }
    assert!(text.contains("127.0.0.1:1/none: unreachable"), "{text}");
    if dialect == Dialect::Postgres {
        assert!(
            text.contains("no schema of the connection's search_path"),
            "{text}"
        );
        // Nothing fell back to `public`.
        assert!(targets.db.tables().is_empty(), "{:?}", targets.db.tables());
    }
    for i in 0..100 {
        targets.assert_target_done(i);
    }
    let log = attempts(&log_of(&project, "many"));
    assert_eq!(log.len(), urls.len());
    let bad = log
        .iter()
        .find(|a| a["target"].as_str().unwrap().ends_with("127.0.0.1:1/none"))
        .unwrap();
    assert_eq!(bad["outcome"], "unreachable");
    assert_eq!(bad["error_kind"], "database");

    // Nothing pending: one read per target.
    let out = fleet(&project, &["status", "--targets", list.to_str().unwrap()]);
    failed(&out); // the unreachable target
    let broken_state = if unfinished {
        "1 failed"
    } else {
        "1 with pending migrations"
    };
    assert!(
        stdout(&out).contains(&format!(
            "100 up to date, {broken_state}, {unreachable_count} unreachable of {} targets",
            urls.len()
        )),
        "{}",
        stdout(&out)
    );
    // Mended (and on MariaDB its unfinished 0001 settled, as after any interrupted run),
    // the failed target is retried alone (the unreachable ones fail again).
    targets.mend_target(100);
    if unfinished {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_retort"))
            .current_dir(project.dir.path())
            .env("DATABASE_URL", broken)
            .env("CARGO_TARGET_DIR", guest_target())
            .args(["resolve", "0001", "--rolled-back", "--force"])
            .output()
            .expect("retort resolve");
        ok(&out);
    }
    let out = fleet(&project, &["retry", "--failed", "many"]);
    failed(&out);
    assert!(
        stdout(&out).contains(&format!(
            "1 migrated, {unreachable_count} unreachable of {} targets",
            unreachable_count + 1
        )),
        "{}",
        stdout(&out)
    );
    targets.assert_done();
    // Down on a fleet: each target's own downgrade ran.
    let good = write_targets(&project, &targets.urls);
    let out = fleet(
        &project,
        &[
            "downgrade",
            "0001",
            "--targets",
            good.to_str().unwrap(),
            "--run",
            "down",
        ],
    );
    ok(&out);
    for i in 0..targets.urls.len() {
        assert_eq!(targets.applied(i), ["0001"], "{}", targets.urls[i]);
        assert_eq!(targets.columns(i, "orders"), Vec::<String>::new());
    }
}

/// Three workers sharing a control database (PostgreSQL), one killed mid-run: the other two
/// take over its targets once its leases run out, and every target ends migrated once.
pub fn cooperative_workers_survive_a_killed_one(dialect: Dialect) {
    let control = TestDb::new(Dialect::Postgres, "control");
    let project = project();
    let targets = Targets::new(dialect, "coop", 100);
    let list = write_targets(&project, &targets.urls);
    let list = list.to_str().unwrap();
    let worker = |name: &str| {
        let log_dir = project.dir.path().join(format!("logs-{name}"));
        fleet_cmd(
            &project,
            &[
                "upgrade",
                "--targets",
                list,
                "--control",
                &control.url,
                "--run",
                "coop",
                "--lease",
                "2",
                "--jobs",
                "2",
                "--worker",
                name,
                "--log-dir",
                log_dir.to_str().unwrap(),
            ],
        )
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("a worker")
    };
    let mut doomed = worker("w1");
    let w2 = worker("w2");
    let w3 = worker("w3");
    wait_for_attempts(
        &project.dir.path().join("logs-w1/coop.jsonl"),
        5,
        &mut doomed,
    );
    doomed.kill().expect("kill -9");
    doomed.wait().expect("the killed worker");
    let w2 = w2.wait_with_output().expect("worker 2");
    let w3 = w3.wait_with_output().expect("worker 3");
    ok(&w2);
    ok(&w3);
    targets.wait_idle();
    targets.assert_done();
    assert_eq!(
        control.strings(
            "SELECT state || ' ' || count(*) FROM retort_fleet_targets WHERE run = 'coop' GROUP BY state"
        ),
        ["done 100"]
    );
    // Every target has a successful attempt, and the survivors did most of the work.
    assert_eq!(
        control.count(
            "SELECT count(DISTINCT target) FROM retort_fleet_attempts \
             WHERE run = 'coop' AND outcome IN ('applied', 'up-to-date')"
        ),
        100
    );
    assert!(
        control.count(
            "SELECT count(*) FROM retort_fleet_attempts WHERE run = 'coop' AND worker <> 'w1'"
        ) >= 90
    );
    // A worker that lists other targets cannot join the run (it could be handed a target it
    // has no URL for).
    let fewer = write_targets(&project, &targets.urls[..99]);
    let out = fleet(
        &project,
        &[
            "upgrade",
            "--targets",
            fewer.to_str().unwrap(),
            "--control",
            &control.url,
            "--run",
            "coop",
        ],
    );
    failed(&out);
    assert!(
        stderr(&out).contains("every worker of a run lists the same targets"),
        "{}",
        stderr(&out)
    );
}

/// What cannot work on any target is refused before one is touched: a line that is not a
/// database URL (named by file and line), a target listed twice, a partition that is not
/// K/N, migrations that cannot reach `head` even on an empty database.
#[test]
fn bad_runs_are_refused_before_any_target_is_touched() {
    let project = project();
    let files = sqlite_targets(3);
    let refused = |urls: &[String], extra: &[&str], says: &str| {
        let list = write_targets(&project, urls);
        let mut args = vec!["upgrade", "--targets", list.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = fleet(&project, &args);
        failed(&out);
        assert!(stderr(&out).contains(says), "{says}: {}", stderr(&out));
    };
    let mut lines = files.urls.clone();
    lines.insert(1, "tenant-two.db".into());
    refused(
        &lines,
        &[],
        "targets.txt:4: `tenant-two.db` is not a database URL",
    );
    let mut twice = files.urls.clone();
    twice.push(files.urls[0].clone());
    refused(&twice, &[], "is listed twice");
    refused(
        &files.urls,
        &["--partition", "3/2"],
        "`3/2` is not a partition",
    );
    refused(&files.urls, &["--run", "../elsewhere"], "cannot name a run");
    // A second root: two heads, so `head` names no single revision anywhere.
    std::fs::write(
        project.migrations().join("0009_other.up.sql"),
        "CREATE TABLE other (id INTEGER);",
    )
    .unwrap();
    refused(
        &files.urls,
        &["--run", "heads"],
        "no target can be upgraded to `head`",
    );
    for url in &files.urls {
        assert_eq!(sqlite_applied(url), Vec::<String>::new(), "{url}");
    }
    assert!(!log_of(&project, "heads").exists());
}

/// `--json`: one `attempt` line per target and a `summary` line last, each parseable; `plan`
/// and `status` are read-only (a missing SQLite file stays missing, no log is written).
#[test]
fn json_lines_and_read_only_plans() {
    let project = project();
    let files = sqlite_targets(10);
    let missing = format!("sqlite://{}/not_yet.db", files.dir.path().display());
    let mut urls = files.urls.clone();
    urls.push(missing.clone());
    let list = write_targets(&project, &urls);
    let list = list.to_str().unwrap();
    for command in ["plan", "status"] {
        let out = fleet(&project, &["--json", command, "--targets", list]);
        ok(&out);
        let lines: Vec<serde_json::Value> = stdout(&out)
            .lines()
            .map(|l| serde_json::from_str(l).expect("a JSON line"))
            .collect();
        assert_eq!(lines.len(), 12, "{}", stdout(&out));
        assert!(lines[..11].iter().all(|l| l["event"] == "attempt"
            && l["outcome"] == "pending"
            && l["revisions"] == serde_json::json!(ALL)));
        assert_eq!(lines[11]["event"], "summary");
        assert_eq!(lines[11]["summary"]["pending"], 11);
        assert_eq!(lines[11]["log"], serde_json::Value::Null);
    }
    assert!(!Path::new(missing.trim_start_matches("sqlite://")).exists());
    assert!(!project.dir.path().join(".retort").exists());

    let out = fleet(
        &project,
        &["--json", "upgrade", "--targets", list, "--run", "j"],
    );
    ok(&out);
    let lines: Vec<serde_json::Value> = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), 12);
    let summary = &lines[11]["summary"];
    assert_eq!(summary["applied"], 11);
    assert_eq!(summary["total"], 11);
    assert_eq!(summary["halted"], serde_json::Value::Null);
    assert!(lines[11]["log"].as_str().unwrap().ends_with("j.jsonl"));
    assert_sqlite_done(&urls);
}

/// Hostile, schema per tenant: a migration moves its session to another tenant's schema
/// (`SET search_path`, and again with `set_config` as its last word) and creates a table
/// there. That table lands where the account's SQL
/// put it — but every tenant's history rows stay in its own schema, and the next migration
/// runs in the tenant's own schema again (the session is reset to the URL's between
/// migrations).
pub fn a_migration_cannot_move_a_tenants_bookkeeping(dialect: Dialect) {
    assert_eq!(dialect, Dialect::Postgres);
    let project = project();
    std::fs::write(
        project.migrations().join("0002_price.up.sql"),
        "-- retort: parents = 0001\n\
         SET search_path TO tenant_000;\n\
         CREATE TABLE IF NOT EXISTS hijack (id INTEGER);\n\
         SELECT set_config('search_path', 'tenant_000', false);",
    )
    .unwrap();
    // Three schemas (tenant_000..002) in one database, and two databases not used here.
    let targets = Targets::new(dialect, "hijack", 5);
    let schemas: Vec<String> = targets.urls[..3].to_vec();
    let list = write_targets(&project, &schemas);
    let out = fleet(
        &project,
        &[
            "upgrade",
            "--targets",
            list.to_str().unwrap(),
            "--jobs",
            "1",
        ],
    );
    ok(&out);
    for (i, url) in schemas.iter().enumerate() {
        let schema = format!("tenant_{i:03}");
        assert_eq!(
            targets.db.strings(&format!(
                "SELECT revision FROM {schema}.retort_history ORDER BY revision"
            )),
            ALL,
            "{url}"
        );
        // 0003 ran in the tenant's own schema.
        assert_eq!(targets.columns(i, "orders"), ["id", "item_id"], "{url}");
    }
    // The one table the migration moved ended up where it sent it, and nothing else did.
    assert_eq!(
        targets.db.strings(
            "SELECT table_schema::text FROM information_schema.tables \
             WHERE table_name = 'hijack'"
        ),
        ["tenant_000"]
    );
    assert_eq!(
        targets.db.count(
            "SELECT count(*) FROM information_schema.tables \
             WHERE table_name = 'retort_history' AND table_schema NOT LIKE 'tenant_%'"
        ),
        0
    );
}

/// Targets from a command's output and from a query (here on a SQLite control file): the same
/// fleet either way; `resume` of a run listed by a query re-reads the query.
#[test]
fn targets_from_a_command_and_a_query() {
    let project = project();
    let files = sqlite_targets(12);
    let list = write_targets(&project, &files.urls[..6]);
    let out = fleet(
        &project,
        &[
            "upgrade",
            "--targets-cmd",
            &format!("cat {}", list.display()),
            "--run",
            "cmd",
        ],
    );
    ok(&out);
    assert!(
        stdout(&out).contains("6 migrated of 6 targets"),
        "{}",
        stdout(&out)
    );
    assert_sqlite_done(&files.urls[..6]);

    let control = files.dir.path().join("control.sqlite");
    let conn = rusqlite::Connection::open(&control).unwrap();
    conn.execute_batch("CREATE TABLE tenants (url TEXT, active INTEGER)")
        .unwrap();
    for (i, url) in files.urls.iter().enumerate() {
        conn.execute(
            "INSERT INTO tenants VALUES (?1, ?2)",
            rusqlite::params![url, i64::from(i % 4 != 3)],
        )
        .unwrap();
    }
    drop(conn);
    let control_url = format!("sqlite://{}", control.display());
    let query = "SELECT url FROM tenants WHERE active = 1 ORDER BY url";
    let out = fleet(
        &project,
        &[
            "upgrade",
            "--targets-sql",
            &control_url,
            query,
            "--run",
            "sql",
        ],
    );
    ok(&out);
    // 9 active, of which 5 were done by the command's run (indexes 0, 1, 2, 4, 5).
    assert!(
        stdout(&out).contains("4 migrated, 5 up to date of 9 targets"),
        "{}",
        stdout(&out)
    );
    for (i, url) in files.urls.iter().enumerate() {
        if i % 4 == 3 && i >= 6 {
            assert_eq!(sqlite_applied(url), Vec::<String>::new(), "{url}");
        } else {
            assert_eq!(sqlite_applied(url), ALL, "{url}");
        }
    }
    // A failing query is refused, naming it.
    let out = fleet(
        &project,
        &[
            "status",
            "--targets-sql",
            &control_url,
            "SELECT nope FROM tenants",
        ],
    );
    failed(&out);
    assert!(
        stderr(&out).contains("cannot list the targets from the query on sqlite://"),
        "{}",
        stderr(&out)
    );
}
