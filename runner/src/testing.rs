//! A test kit for migration authors: a fresh database per test on any engine, "migrate to
//! X, seed rows, upgrade to Y, assert", and `retort check`'s round trip, from `cargo test`
//! (what pytest-alembic and `sqlx::test` give their users).
//!
//! ```
//! use retort::testing::TestDatabase;
//!
//! # let migrations = concat!(env!("CARGO_MANIFEST_DIR"), "/../migrations/catalog");
//! # let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//! # rt.block_on(async {
//! // A database of its own: a temporary SQLite file here; `TestDatabase::on(server, …)`
//! // makes one on a PostgreSQL or MySQL server (e.g. from an environment variable).
//! let db = TestDatabase::sqlite(migrations).await?;
//!
//! // Migrate to the revision before the data migration under test, seed what it must handle…
//! db.upgrade("20261122090100").await?;
//! db.execute("INSERT INTO users (full_name, email, first_name, last_name) \
//!             VALUES ('Alan Turing', ' Alan@Example.COM', 'Alan', 'Turing')").await?;
//!
//! // …run it, and assert what it made of the rows.
//! db.upgrade("head").await?;
//! let rows = db.query("SELECT address, original FROM user_emails WHERE user_id = 4").await?;
//! assert_eq!(rows, [[Some("alan@example.com".to_string()), Some(" Alan@Example.COM".to_string())]]);
//!
//! // Every migration's downgrade undoes its upgrade (on a scratch database of its own).
//! let trip = db.round_trip().await?;
//! assert!(trip.failed.is_none(), "{:?}", trip.failed);
//! db.close().await?;
//! # Ok::<(), retort::Error>(())
//! # }).unwrap();
//! ```

use crate::core::DialectExt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::core::observe::Silent;
use crate::core::plan::Target;
use crate::db::scratch::Scratch;
use crate::db::{self, Access, DbError};
use crate::project::Project;
use crate::run::{Error, Report, RoundTrip, Runner};

/// A database made for one test, with a project of one database on it. Dropped by
/// [`TestDatabase::close`], or when the value is dropped — except while a test panics, so
/// a failed test's database stays for a look (its URL is in [`TestDatabase::url`]).
pub struct TestDatabase {
    scratch: Option<Scratch>,
    project: Project,
    runner: Runner,
}

impl TestDatabase {
    /// A temporary SQLite database running the migrations in `migrations` (built artifacts,
    /// as `retort build` writes them; SQL migrations are built when they run).
    pub async fn sqlite(migrations: impl Into<PathBuf>) -> Result<TestDatabase, Error> {
        TestDatabase::on("sqlite://", migrations).await
    }

    /// A new database on `server`'s engine and server (a PostgreSQL or MySQL URL whose
    /// account may create databases; `sqlite://` for a temporary file), running the
    /// migrations in `migrations`.
    pub async fn on(server: &str, migrations: impl Into<PathBuf>) -> Result<TestDatabase, Error> {
        let wrap = |source| Error::Db {
            database: "test".into(),
            source,
        };
        let scratch = Scratch::create(server, "test", false).await.map_err(wrap)?;
        let project = Project::from_url(&scratch.url, migrations)?;
        // An author's test runs the migrations as they are written: SQL is built first.
        let runner = Runner::new(Arc::new(Silent), project.limits)?.building_sources(true);
        Ok(TestDatabase {
            scratch: Some(scratch),
            project,
            runner,
        })
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.project.databases[0].url
    }

    /// Its project (one database, named `default`), to change settings or call [`Runner`]
    /// directly.
    pub fn project(&mut self) -> &mut Project {
        &mut self.project
    }

    /// Upgrades to `target` (`head`, a revision or unique prefix, `+1`, …).
    pub async fn upgrade(&self, target: &str) -> Result<Report, Error> {
        let mut reports = self
            .runner
            .upgrade(&self.project, &Target::parse(target))
            .await?;
        Ok(reports.remove(0))
    }

    /// Downgrades to `target` (`base`, a revision to keep, `-1`, …).
    pub async fn downgrade(&self, target: &str) -> Result<Report, Error> {
        let mut reports = self
            .runner
            .downgrade(&self.project, &Target::parse(target))
            .await?;
        Ok(reports.remove(0))
    }

    /// Runs `sql` (no parameters; several statements where the engine allows) outside any
    /// migration, e.g. to seed rows; returns the rows affected.
    pub async fn execute(&self, sql: &str) -> Result<u64, Error> {
        let mut backend = self.connect().await?;
        let done = backend
            .host_execute("running the test's SQL", sql, &[])
            .await;
        backend.close().await;
        done.map_err(|source| self.error(source))
    }

    /// Runs a query; each value as text (`None` for NULL), for assertions.
    pub async fn query(&self, sql: &str) -> Result<Vec<Vec<Option<String>>>, Error> {
        let mut backend = self.connect().await?;
        let rows = backend
            .host_query("running the test's query", sql, &[])
            .await;
        backend.close().await;
        let rows = rows.map_err(|source| self.error(source))?;
        Ok(rows
            .into_iter()
            .map(|row| row.iter().map(db::values::as_text).collect())
            .collect())
    }

    /// `retort check`'s round trip of every migration, on a scratch database of its own on
    /// the same server: upgrade, downgrade back to the schema before, upgrade again.
    pub async fn round_trip(&self) -> Result<RoundTrip, Error> {
        let db = &self.project.databases[0];
        let migrations = self.runner.load(db).await?;
        let trip = TestDatabase::on(self.server(), db.migrations.clone()).await?;
        let result = self
            .runner
            .round_trip(&trip.project.databases[0], &migrations)
            .await;
        trip.close().await?;
        result
    }

    /// Drops the database.
    pub async fn close(mut self) -> Result<(), Error> {
        match self.scratch.take() {
            Some(scratch) => scratch
                .drop_database()
                .await
                .map_err(|source| self.error(source)),
            None => Ok(()),
        }
    }

    /// The server the database was made on (SQLite: a temporary file of its own).
    fn server(&self) -> &str {
        match crate::core::Dialect::of_url(self.url()) {
            Some(crate::core::Dialect::Sqlite) => "sqlite://",
            _ => self.url(),
        }
    }

    async fn connect(&self) -> Result<Box<dyn db::Backend>, Error> {
        db::connect(self.url(), Access::ReadWrite)
            .await
            .map_err(|source| self.error(source))
    }

    fn error(&self, source: DbError) -> Error {
        Error::Db {
            database: "test".into(),
            source,
        }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(scratch) = self.scratch.take() else {
            return;
        };
        if std::thread::panicking() {
            eprintln!(
                "retort::testing: kept the failed test's database {}",
                scratch.url
            );
            std::mem::forget(scratch);
            return;
        }
        // Dropped without `close()`: drop the database on a runtime of its own (a test's
        // runtime may be shutting down).
        let _ = std::thread::spawn(move || {
            if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                let _ = rt.block_on(scratch.drop_database());
            }
        })
        .join();
    }
}
