//! The library API as an application embeds it: no binary, the same guarantees.

use std::sync::{Arc, Mutex};

use retort::{
    Direction, ErrorKind, Event, FailureState, Observer, Project, RevisionState, RowState, Runner,
    Target,
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
    match dialect {
        Dialect::Mysql => assert_eq!(
            *state,
            FailureState::Unfinished {
                revision: "20260201000100".into(),
                direction: Direction::Upgrade
            }
        ),
        _ => assert_eq!(*state, FailureState::RolledBack),
    }
    assert!(err.to_string().contains(&state.to_string()), "{err}");
    assert_eq!(
        db.strings("SELECT code FROM items WHERE id IN (1, 2500) ORDER BY id"),
        ["item-00001", "item-02500"],
        "the failed migration changed no row"
    );
    if dialect == Dialect::Mysql {
        // Settled as an operator would: its journal shows what ran.
        rt.block_on(runner.resolve(database, "20260201000100", retort::Resolution::RolledBack))
            .unwrap();
    }

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
