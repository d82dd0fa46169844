//! The library API as an application embeds it: no binary, the same guarantees.

use std::sync::{Arc, Mutex};

use retort::{
    Direction, ErrorKind, Event, FailureState, Observer, Project, RevisionState, RowState, Run,
    Runner, Target,
};

use crate::common::{Dialect, Project as Fixture, TestDb};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a tokio runtime")
}

/// Records which steps started and finished.
#[derive(Default)]
struct Steps(Mutex<Vec<String>>);

impl Observer for Steps {
    fn event(&self, event: &Event<'_>) {
        let line = match event {
            Event::StepStarted {
                revision,
                direction,
                ..
            } => format!("start {direction} {revision}"),
            Event::StepFinished {
                revision,
                direction,
                ..
            } => format!("done {direction} {revision}"),
            _ => return,
        };
        self.0.lock().unwrap().push(line);
    }
}

/// Upgrade, status, history, current, a failing migration and a downgrade through the
/// library, checked against the database itself.
pub fn library_api_upgrade_status_failure_downgrade(dialect: Dialect) {
    let db = TestDb::new(dialect, "api");
    let fixture = Fixture::with_fixtures(&["20260201000000", "20260201000100"]);
    let project = Project::from_url(&db.url, fixture.migrations()).unwrap();
    let steps = Arc::new(Steps::default());
    let runner = Runner::new(steps.clone(), project.limits).unwrap();
    let database = &project.databases[0];
    // The database checks use runtimes of their own: each library call gets one here.
    let rt = runtime();
    // The plan runs and creates nothing.
    let planned = rt
        .block_on(runner.plan(&project, Direction::Upgrade, &Target::Head))
        .unwrap();
    assert!(planned[0].dry_run);
    let planned: Vec<_> = planned[0]
        .steps
        .iter()
        .map(|s| s.revision.as_str())
        .collect();
    assert_eq!(planned, ["20260201000000", "20260201000100"]);
    assert!(db.tables().is_empty(), "planning created something");
    // A rehearsal says what a run would send, on a scratch database: the real one is not
    // touched.
    let offline = rt
        .block_on(runner.rehearsal().offline_sql(
            database,
            Direction::Upgrade,
            &Target::parse("20260201000000"),
        ))
        .unwrap();
    let rehearsed: Vec<_> = offline.steps.iter().map(|s| s.revision.as_str()).collect();
    assert_eq!(rehearsed, ["20260201000000"]);
    assert!(
        offline.steps[0]
            .statements
            .iter()
            .any(|s| s.sql.contains("CREATE TABLE")),
        "{:?}",
        offline.steps[0]
            .statements
            .iter()
            .map(|s| &s.sql)
            .collect::<Vec<_>>()
    );
    assert!(db.tables().is_empty(), "the rehearsal touched the database");
    // (Its steps reached the observer as a run's do.)
    steps.0.lock().unwrap().clear();

    // Only the first migration: `fail_midway` fails half-way through its update.
    let reports = rt
        .block_on(runner.upgrade(&project, &Target::parse("20260201000000")))
        .unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].steps.len(), 1);
    assert_eq!(reports[0].current, ["20260201000000"]);
    assert_eq!(db.count("SELECT COUNT(*) FROM items"), 2500);
    assert_eq!(
        *steps.0.lock().unwrap(),
        [
            "start upgrade 20260201000000",
            "done upgrade 20260201000000"
        ]
    );

    let status = rt.block_on(runner.status(database)).unwrap();
    let states: Vec<_> = status.iter().map(|l| l.state.clone()).collect();
    assert_eq!(states, [RevisionState::Applied, RevisionState::Pending]);
    let history = rt.block_on(runner.history(database)).unwrap();
    assert_eq!(history.len(), 1);
    assert_eq!(history[0].revision, "20260201000000");
    assert_eq!(history[0].state, RowState::Applied);
    assert_eq!(history[0].digest.len(), 64);
    let current = rt.block_on(runner.current(database)).unwrap();
    assert_eq!(current.len(), 1);
    assert_eq!(current[0].revision, "20260201000000");
    assert!(!current[0].head);

    // The failing migration: a Migration error whose state says what is true.
    let err = rt
        .block_on(runner.upgrade(&project, &Target::Head))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Migration, "{err}");
    assert_eq!(err.database(), Some("default"));
    let retort::Error::Migration { state, .. } = &err else {
        panic!("not a migration failure: {err}");
    };
    // A migration that only changes rows rolls back whole on every engine (on MariaDB
    // nothing that commits implicitly was sent).
    assert_eq!(*state, FailureState::RolledBack);
    assert!(err.to_string().contains(&state.to_string()), "{err}");
    // The same run as a value: the outcome names the failed database and what it left
    // untouched (nothing: the project has one).
    let outcome = rt
        .block_on(runner.run(&project, &Run::upgrade(Target::Head)))
        .unwrap();
    assert!(outcome.reports.is_empty());
    let (failed, err) = outcome.failed.as_ref().expect("the run failed");
    assert_eq!(
        (failed.as_str(), err.kind()),
        ("default", ErrorKind::Migration)
    );
    assert!(outcome.untouched.is_empty());
    assert_eq!(
        db.strings("SELECT code FROM items WHERE id IN (1, 2500) ORDER BY id"),
        ["item-00001", "item-02500"],
        "the failed migration changed no row"
    );

    // A target that does not exist is a plan error, and changes nothing.
    let err = rt
        .block_on(runner.upgrade(&project, &Target::parse("nope")))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Plan, "{err}");

    let reports = rt
        .block_on(runner.downgrade(&project, &Target::Base))
        .unwrap();
    assert_eq!(reports[0].steps.len(), 1);
    assert!(reports[0].current.is_empty());
    assert!(!db.tables().contains(&"items".to_string()));
    assert!(rt.block_on(runner.history(database)).unwrap().is_empty());
}

/// The server a test kit database is made on, per engine.
fn server(dialect: Dialect) -> String {
    let var = |name: &str| std::env::var(name).unwrap_or_else(|_| panic!("{name} is not set"));
    match dialect {
        Dialect::Postgres => var("RETORT_TEST_POSTGRES_URL"),
        Dialect::Mysql => var("RETORT_TEST_MYSQL_URL"),
        Dialect::Sqlite => "sqlite://".into(),
    }
}

/// Whether the database a URL names still exists on its server.
fn exists(dialect: Dialect, url: &str) -> bool {
    let name = url.rsplit('/').next().unwrap().split('?').next().unwrap();
    let admin = TestDb::new(dialect, "kitcheck");
    match dialect {
        Dialect::Postgres => {
            admin.count(&format!(
                "SELECT COUNT(*) FROM pg_database WHERE datname = '{name}'"
            )) == 1
        }
        Dialect::Mysql => {
            admin.count(&format!(
                "SELECT COUNT(*) FROM information_schema.schemata WHERE schema_name = '{name}'"
            )) == 1
        }
        Dialect::Sqlite => std::path::Path::new(url.trim_start_matches("sqlite://")).exists(),
    }
}

/// `retort::testing`: a database per test on the engine, migrate to a revision, seed, upgrade,
/// assert; the round trip; the database dropped on close and kept when the test panics.
pub fn the_test_kit_migrates_seeds_and_round_trips(dialect: Dialect) {
    use retort::testing::TestDatabase;
    let demo = Fixture::with_demo();
    let rt = runtime();
    let db = rt
        .block_on(TestDatabase::on(&server(dialect), demo.migrations()))
        .unwrap();
    let url = db.url().to_string();
    rt.block_on(async {
        db.upgrade("20261122090100").await.unwrap();
        db.execute(
            "INSERT INTO users (full_name, email, first_name, last_name) \
             VALUES ('Alan Turing', ' Alan@Example.COM', 'Alan', 'Turing')",
        )
        .await
        .unwrap();
        let report = db.upgrade("head").await.unwrap();
        assert_eq!(report.current, ["20261122090200"]);
        let rows = db
            .query(
                "SELECT e.address, e.original FROM user_emails e \
                 JOIN users u ON u.id = e.user_id WHERE u.first_name = 'Alan'",
            )
            .await
            .unwrap();
        assert_eq!(
            rows,
            [[
                Some("alan@example.com".to_string()),
                Some(" Alan@Example.COM".to_string())
            ]]
        );
        let trip = db.round_trip().await.unwrap();
        assert!(trip.failed.is_none(), "{:?}", trip.failed);
        assert_eq!(trip.passed.len(), 3);
        db.downgrade("base").await.unwrap();
        assert_eq!(
            db.query("SELECT COUNT(*) FROM retort_history")
                .await
                .unwrap(),
            [[Some("0".to_string())]]
        );
    });
    assert!(exists(dialect, &url));
    rt.block_on(db.close()).unwrap();
    assert!(!exists(dialect, &url), "closed: dropped");

    // A test that panics keeps its database for a look.
    let migrations = demo.migrations();
    let server = server(dialect);
    let kept = std::thread::spawn(move || {
        let rt = runtime();
        let db = rt.block_on(TestDatabase::on(&server, migrations)).unwrap();
        rt.block_on(db.upgrade("head")).unwrap();
        let url = db.url().to_string();
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || {
            let _db = db;
            panic!("a failing assertion");
        }));
        url
    })
    .join()
    .unwrap();
    assert!(exists(dialect, &kept), "kept after the panic: {kept}");
    if dialect == Dialect::Sqlite {
        let file = std::path::PathBuf::from(kept.trim_start_matches("sqlite://"));
        std::fs::remove_dir_all(file.parent().unwrap()).unwrap();
    } else {
        let admin = TestDb::new(dialect, "kitdrop");
        let name = kept.rsplit('/').next().unwrap().split('?').next().unwrap();
        admin.execute(&format!("DROP DATABASE {name}"));
    }
}

/// A library run writes no files: an unbuilt SQL migration is refused (kind `Artifact`,
/// naming it) and the database is untouched; with `building_sources(true)` — what the
/// binary turns on — the same run builds its artifact first and applies it.
pub fn library_builds_sources_only_when_asked(dialect: Dialect) {
    let db = TestDb::new(dialect, "api_build");
    let fixture = Fixture::empty();
    let migrations = fixture.migrations();
    std::fs::write(
        migrations.join("20270101000000_notes.up.sql"),
        "CREATE TABLE api_notes (id INT PRIMARY KEY);\n",
    )
    .unwrap();
    std::fs::write(
        migrations.join("20270101000000_notes.down.sql"),
        "DROP TABLE api_notes;\n",
    )
    .unwrap();
    let artifact = migrations.join("20270101000000_notes.wasm");
    let project = Project::from_url(&db.url, &migrations).unwrap();
    let rt = runtime();

    let runner = Runner::new(Arc::new(retort::Silent), project.limits).unwrap();
    let err = rt
        .block_on(runner.upgrade(&project, &Target::Head))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Artifact, "{err}");
    assert!(err.to_string().contains("20270101000000_notes"), "{err}");
    assert!(
        !artifact.exists(),
        "the library wrote {}",
        artifact.display()
    );
    assert!(!db.tables().iter().any(|t| t == "api_notes"));

    let runner = runner.building_sources(true);
    let reports = rt
        .block_on(runner.upgrade(&project, &Target::Head))
        .unwrap();
    assert_eq!(reports[0].steps.len(), 1);
    assert!(artifact.is_file());
    assert!(db.tables().iter().any(|t| t == "api_notes"));
}
