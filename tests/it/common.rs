//! Fixtures: guest artifacts built once, a project directory per test, a database per test.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicUsize, Ordering};

use sqlx::{AssertSqlSafe, Connection};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Sqlite,
    Postgres,
    Mysql,
}

pub fn repo() -> PathBuf {
    // The suite belongs to runner/cli (it drives the binary).
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("runner/cli is two levels below the repository")
        .to_path_buf()
}

/// The shared target directory for guest builds, so every build reuses compiled crates.
pub fn guest_target() -> PathBuf {
    repo().join("target/guests")
}

/// The guest fixtures of `tests/guests`, built once per test run.
pub fn fixtures() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = repo().join("tests/guests");
        retort::authoring::guest::build(&dir, &repo(), Some(&guest_target()), None, false)
            .expect("building tests/guests");
        dir
    })
}

/// The Python and JavaScript fixtures of `tests/polyglot`, built once per test run with
/// componentize-py and componentize-js (`RETORT_COMPONENTIZE_PY`, `RETORT_COMPONENTIZE_JS`).
pub fn polyglot() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = repo().join("tests/polyglot");
        // Forced: a build keeps a script artifact on the earlier runtime it was built on while
        // its source is unchanged (an applied digest never moves), but the fixtures must run
        // on this checkout's helpers. Re-wrapping a script is cheap; the runtime is built
        // only where this checkout's is missing.
        let built =
            retort::authoring::guest::build(&dir, &repo(), Some(&guest_target()), None, true)
                .expect("building tests/polyglot (needs componentize-py and componentize-js)");
        // Compile each (~15 MB) runtime once into the compile cache here, rather than in
        // every `retort` process the three dialects' tests start at the same moment.
        let sandbox = retort::host::sandbox::Sandbox::new(retort::core::Limits::default())
            .expect("a wasm engine");
        for entry in std::fs::read_dir(dir.join("runtimes")).expect("tests/polyglot/runtimes") {
            sandbox.add_runtime(std::fs::read(entry.expect("an entry").path()).expect("a runtime"));
        }
        for b in built {
            let bytes = std::fs::read(&b.artifact).expect("a built artifact");
            sandbox
                .prepare(&b.artifact.display().to_string(), &b.digest, &bytes)
                .expect("compiling a polyglot fixture");
        }
        dir
    })
}

fn find_artifact(dirs: &[&Path], id: &str) -> PathBuf {
    dirs.iter()
        .flat_map(|d| std::fs::read_dir(d).expect("fixtures dir").flatten())
        .map(|e| e.path())
        .find(|p| {
            p.extension().is_some_and(|e| e == "wasm")
                && p.file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with(id))
        })
        .unwrap_or_else(|| panic!("no fixture artifact for {id}"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

fn unique(test: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let short: String = test
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .take(30)
        .collect();
    format!(
        "rt_{short}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::SeqCst)
    )
}

/// A temporary project directory with a `migrations/` folder.
pub struct Project {
    pub dir: tempfile::TempDir,
}

impl Project {
    pub fn empty() -> Project {
        let dir = tempfile::Builder::new()
            .prefix("retort-test-")
            .tempdir()
            .expect("a temp dir");
        std::fs::create_dir(dir.path().join("migrations")).expect("migrations dir");
        Project { dir }
    }

    /// A project whose migrations are the fixtures whose file names start with `ids`.
    pub fn with_fixtures(ids: &[&str]) -> Project {
        let project = Project::empty();
        for id in ids {
            let file = std::fs::read_dir(fixtures())
                .expect("fixtures dir")
                .flatten()
                .map(|e| e.path())
                .find(|p| {
                    p.extension().is_some_and(|e| e == "wasm")
                        && p.file_name()
                            .is_some_and(|n| n.to_string_lossy().starts_with(id))
                })
                .unwrap_or_else(|| panic!("no fixture artifact for {id}"));
            project.add(&file);
        }
        project
    }

    /// A project of fixtures from `tests/polyglot` and `tests/guests`.
    pub fn with_polyglot(ids: &[&str]) -> Project {
        let project = Project::empty();
        for id in ids {
            project.add(&find_artifact(&[polyglot(), fixtures()], id));
        }
        project
    }

    /// A project with the demo's committed artifacts.
    pub fn with_demo() -> Project {
        let project = Project::empty();
        for entry in std::fs::read_dir(repo().join("migrations/catalog"))
            .expect("migrations/")
            .flatten()
        {
            if entry.path().extension().is_some_and(|e| e == "wasm") {
                project.add(&entry.path());
            }
        }
        project
    }

    /// Copies an artifact in, with the shared runtime it runs on when that is kept beside it
    /// (`runtimes/`, as `retort build` writes it).
    pub fn add(&self, artifact: &Path) {
        let name = artifact.file_name().expect("a file name");
        std::fs::copy(artifact, self.migrations().join(name)).expect("copying an artifact");
        let bytes = std::fs::read(artifact).expect("an artifact");
        if let Some(Ok(script)) = retort::host::runtime::Script::decode(&bytes) {
            let file = retort::host::runtime::file_name(&script.runtime);
            let kept = artifact
                .parent()
                .expect("a dir")
                .join("runtimes")
                .join(&file);
            if kept.is_file() {
                std::fs::create_dir_all(self.migrations().join("runtimes")).expect("runtimes dir");
                std::fs::copy(&kept, self.migrations().join("runtimes").join(file))
                    .expect("copying a runtime");
            }
        }
    }

    pub fn migrations(&self) -> PathBuf {
        self.dir.path().join("migrations")
    }

    /// Runs `retort ARGS` in this project against `db`.
    pub fn run(&self, db: &TestDb, args: &[&str]) -> std::process::Output {
        self.retort(db).args(args).output().expect("running retort")
    }

    /// Runs `retort ARGS` and asserts that it succeeded.
    pub fn run_ok(&self, db: &TestDb, args: &[&str]) -> std::process::Output {
        let out = self.run(db, args);
        assert!(
            out.status.success(),
            "retort {} exited with {:?}:\n{}{}",
            args.join(" "),
            out.status.code(),
            stdout(&out),
            stderr(&out)
        );
        out
    }

    /// The real `retort` binary, run in this project against `db`.
    pub fn retort(&self, db: &TestDb) -> assert_cmd::Command {
        let mut cmd = assert_cmd::Command::new(env!("CARGO_BIN_EXE_retort"));
        cmd.current_dir(self.dir.path())
            .env("DATABASE_URL", &db.url)
            .env("CARGO_TARGET_DIR", guest_target());
        cmd
    }
}

/// A database of its own for one test; dropped when the test passes, kept when it fails.
pub struct TestDb {
    pub dialect: Dialect,
    pub url: String,
    admin: Option<(String, String)>,
    dir: Option<tempfile::TempDir>,
}

fn required_env(var: &str) -> String {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => v,
        _ => panic!(
            "{var} is not set, but this test is enabled (CI=true or the variable was set at build time); \
             CI must provide the database server"
        ),
    }
}

/// `scheme://auth@host/db?query` with the database replaced (the runner's own).
use retort::db::scratch::with_database;

impl TestDb {
    pub fn new(dialect: Dialect, test: &str) -> TestDb {
        let dir = tempfile::Builder::new()
            .prefix("retort-db-")
            .tempdir()
            .expect("a temp dir");
        let name = unique(test);
        let (url, admin) = match dialect {
            Dialect::Sqlite => (
                format!("sqlite://{}", dir.path().join("test.db").display()),
                None,
            ),
            Dialect::Postgres => {
                let base = required_env("RETORT_TEST_POSTGRES_URL");
                runtime().block_on(async {
                    let mut c = sqlx::PgConnection::connect(&base)
                        .await
                        .expect("connecting to RETORT_TEST_POSTGRES_URL");
                    sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
                        .execute(&mut c)
                        .await
                        .unwrap();
                    sqlx::raw_sql(AssertSqlSafe(format!("CREATE DATABASE {name}")))
                        .execute(&mut c)
                        .await
                        .unwrap();
                });
                (with_database(&base, &name), Some((base, name)))
            }
            Dialect::Mysql => {
                let base = required_env("RETORT_TEST_MYSQL_URL");
                runtime().block_on(async {
                    let mut c = sqlx::MySqlConnection::connect(&base)
                        .await
                        .expect("connecting to RETORT_TEST_MYSQL_URL");
                    sqlx::raw_sql(AssertSqlSafe(format!("DROP DATABASE IF EXISTS {name}")))
                        .execute(&mut c)
                        .await
                        .unwrap();
                    sqlx::raw_sql(AssertSqlSafe(format!(
                        "CREATE DATABASE {name} CHARACTER SET utf8mb4"
                    )))
                    .execute(&mut c)
                    .await
                    .unwrap();
                });
                (with_database(&base, &name), Some((base, name)))
            }
        };
        TestDb {
            dialect,
            url,
            admin,
            dir: Some(dir),
        }
    }

    pub fn sqlite_path(&self) -> PathBuf {
        PathBuf::from(self.url.trim_start_matches("sqlite://"))
    }

    /// The first column of every row, as text (cast in SQL where needed).
    pub fn strings(&self, sql: &str) -> Vec<String> {
        match self.dialect {
            Dialect::Sqlite => {
                let conn = rusqlite::Connection::open(self.sqlite_path())
                    .expect("opening the SQLite file");
                let mut stmt = conn.prepare(sql).unwrap_or_else(|e| panic!("{sql}: {e}"));
                stmt.query_map([], |r| {
                    Ok(match r.get::<_, rusqlite::types::Value>(0)? {
                        rusqlite::types::Value::Null => "NULL".to_string(),
                        rusqlite::types::Value::Integer(i) => i.to_string(),
                        rusqlite::types::Value::Real(f) => f.to_string(),
                        rusqlite::types::Value::Text(t) => t,
                        rusqlite::types::Value::Blob(b) => format!("{b:?}"),
                    })
                })
                .and_then(|rows| rows.collect())
                .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
            Dialect::Postgres => runtime().block_on(async {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar::<_, Option<String>>(AssertSqlSafe(sql.to_string()))
                    .fetch_all(&mut c)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
                    .into_iter()
                    .map(|v| v.unwrap_or_else(|| "NULL".into()))
                    .collect()
            }),
            Dialect::Mysql => runtime().block_on(async {
                let mut c = sqlx::MySqlConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar::<_, Option<String>>(AssertSqlSafe(sql.to_string()))
                    .fetch_all(&mut c)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
                    .into_iter()
                    .map(|v| v.unwrap_or_else(|| "NULL".into()))
                    .collect()
            }),
        }
    }

    /// Runs a script of statements outside Retort (as another tool would).
    pub fn execute(&self, sql: &str) {
        self.try_execute(sql)
            .unwrap_or_else(|e| panic!("{sql}: {e}"));
    }

    /// [`TestDb::execute`], with the database's error as a value (a constraint that holds).
    pub fn try_execute(&self, sql: &str) -> Result<(), String> {
        match self.dialect {
            Dialect::Sqlite => {
                let conn = rusqlite::Connection::open(self.sqlite_path())
                    .expect("opening the SQLite file");
                conn.execute_batch(sql).map_err(|e| e.to_string())
            }
            Dialect::Postgres => runtime().block_on(async {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                    .execute(&mut c)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
            Dialect::Mysql => runtime().block_on(async {
                let mut c = sqlx::MySqlConnection::connect(&self.url).await.unwrap();
                sqlx::raw_sql(AssertSqlSafe(sql.to_string()))
                    .execute(&mut c)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            }),
        }
    }

    pub fn count(&self, sql: &str) -> i64 {
        match self.dialect {
            Dialect::Sqlite => {
                let conn = rusqlite::Connection::open(self.sqlite_path())
                    .expect("opening the SQLite file");
                conn.query_row(sql, [], |r| r.get(0))
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }
            Dialect::Postgres => runtime().block_on(async {
                let mut c = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.to_string()))
                    .fetch_one(&mut c)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }),
            Dialect::Mysql => runtime().block_on(async {
                let mut c = sqlx::MySqlConnection::connect(&self.url).await.unwrap();
                sqlx::query_scalar::<_, i64>(AssertSqlSafe(sql.to_string()))
                    .fetch_one(&mut c)
                    .await
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            }),
        }
    }

    /// Waits until no other session is connected to this database: a killed runner's server
    /// session finishes its COMMIT or rollback asynchronously, and checks made meanwhile would
    /// read across it.
    pub fn wait_idle(&self) {
        let sql = match self.dialect {
            Dialect::Sqlite => return,
            Dialect::Postgres => {
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            }
            Dialect::Mysql => {
                "SELECT COUNT(*) FROM information_schema.processlist WHERE db = DATABASE() AND id <> CONNECTION_ID()"
            }
        };
        for _ in 0..200 {
            if self.count(sql) == 0 {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(25));
        }
        panic!("other sessions stayed connected to {}", self.url);
    }

    /// The database's tables, sorted (in Rust: collations differ).
    pub fn tables(&self) -> Vec<String> {
        if self.dialect == Dialect::Sqlite && !self.sqlite_path().exists() {
            return Vec::new();
        }
        let mut tables = self.strings(match self.dialect {
            Dialect::Sqlite => "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name",
            Dialect::Postgres => "SELECT tablename::text FROM pg_tables WHERE schemaname = 'public' ORDER BY 1",
            Dialect::Mysql => {
                "SELECT CAST(table_name AS CHAR) FROM information_schema.tables WHERE table_schema = DATABASE() ORDER BY 1"
            }
        });
        tables.sort();
        tables
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            if let Some(dir) = self.dir.take() {
                let _ = dir.keep();
            }
            eprintln!("kept the failed test's database: {}", self.url);
            return;
        }
        if let Some((base, name)) = &self.admin {
            let sql = match self.dialect {
                Dialect::Postgres => format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
                _ => format!("DROP DATABASE IF EXISTS {name}"),
            };
            let base = base.clone();
            let dialect = self.dialect;
            runtime().block_on(async move {
                if dialect == Dialect::Postgres {
                    if let Ok(mut c) = sqlx::PgConnection::connect(&base).await {
                        let _ = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut c).await;
                    }
                } else if let Ok(mut c) = sqlx::MySqlConnection::connect(&base).await {
                    let _ = sqlx::raw_sql(AssertSqlSafe(sql)).execute(&mut c).await;
                }
            });
        }
    }
}

pub fn stdout(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

pub fn stderr(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A database account without the privileges that reach the server's files or programs,
/// allowed to do what migrations do in one test database; dropped with the test.
pub struct Account {
    /// Connects to the test database as the account.
    pub url: String,
    /// Its name.
    pub name: String,
    dialect: Dialect,
    /// The test database's URL as its owner, and the server's (for dropping the account).
    owner: (String, String),
}

impl TestDb {
    /// A restricted account for this PostgreSQL or MySQL test database.
    pub fn restricted_account(&self) -> Account {
        let (base, db) = self.admin.clone().expect("a server database");
        let name = format!("low_{db}");
        let with_user = |url: &str| {
            let (scheme, rest) = url.split_once("://").expect("a URL");
            let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
            format!("{scheme}://{name}@{host}")
        };
        match self.dialect {
            Dialect::Postgres => {
                Self::on(&base, self.dialect, &format!("CREATE ROLE {name} LOGIN"));
                self.execute(&format!("GRANT CREATE, USAGE ON SCHEMA public TO {name}"));
            }
            Dialect::Mysql => {
                for host in ["%", "localhost", "127.0.0.1"] {
                    Self::on(
                        &base,
                        self.dialect,
                        &format!(
                            "CREATE USER '{name}'@'{host}'; GRANT ALL PRIVILEGES ON {db}.* TO '{name}'@'{host}'"
                        ),
                    );
                }
            }
            Dialect::Sqlite => panic!("SQLite has no accounts"),
        }
        Account {
            url: with_user(&self.url),
            name,
            dialect: self.dialect,
            owner: (self.url.clone(), base),
        }
    }

    fn on(url: &str, dialect: Dialect, sql: &str) {
        let sql = sql.to_string();
        runtime().block_on(async move {
            let done = if dialect == Dialect::Postgres {
                let mut c = sqlx::PgConnection::connect(url).await.unwrap();
                sqlx::raw_sql(AssertSqlSafe(sql.clone()))
                    .execute(&mut c)
                    .await
                    .map(|_| ())
            } else {
                let mut c = sqlx::MySqlConnection::connect(url).await.unwrap();
                sqlx::raw_sql(AssertSqlSafe(sql.clone()))
                    .execute(&mut c)
                    .await
                    .map(|_| ())
            };
            done.unwrap_or_else(|e| panic!("{sql}: {e}"));
        });
    }
}

impl Drop for Account {
    fn drop(&mut self) {
        let (db, base) = &self.owner;
        let name = &self.name;
        let attempt = |url: &str, sql: String| {
            let url = url.to_string();
            let dialect = self.dialect;
            let _ = std::panic::catch_unwind(move || TestDb::on(&url, dialect, &sql));
        };
        match self.dialect {
            Dialect::Postgres => {
                attempt(db, format!("DROP OWNED BY {name}"));
                attempt(base, format!("DROP ROLE IF EXISTS {name}"));
            }
            _ => {
                for host in ["%", "localhost", "127.0.0.1"] {
                    attempt(base, format!("DROP USER IF EXISTS '{name}'@'{host}'"));
                }
            }
        }
    }
}
