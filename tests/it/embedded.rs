//! The embedding example (`runner/examples/embedded_app.rs`): an application that migrates its
//! own database at start-up from embedded, signed migrations; and embedded migrations the
//! signature policy refuses.

use std::path::PathBuf;
use std::sync::Arc;

use retort::{ErrorKind, Project, Runner, Silent, Target};

use crate::common::{Dialect, TestDb, stderr, stdout};

/// The key id of `runner/examples/embedded_app/release.pub`.
const RELEASE_KEY_ID: &str = "SHA256:GSRKXbWBgUhyHGxd0ZKZxROYWLh2tkJ3GeHWsR4HiHU";

/// `target/debug/examples/embedded_app`, which `cargo test` builds with the test binaries.
fn example() -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target/<profile>/deps");
    let app = profile.join("examples/embedded_app");
    assert!(
        app.is_file(),
        "{} is missing: run the suite with `cargo test --workspace`, which builds examples",
        app.display()
    );
    app
}

pub fn embedded_app_migrates_its_database_at_start_up(dialect: Dialect) {
    let db = TestDb::new(dialect, "embedded");
    let run = || {
        std::process::Command::new(example())
            .arg(&db.url)
            .env_remove("APP_DATABASE_URL")
            .output()
            .expect("running the example")
    };
    let first = run();
    assert!(first.status.success(), "{}", stderr(&first));
    assert_eq!(
        stdout(&first),
        "default: ran 3 migrations; now at 20261122090200\nready\n"
    );
    assert!(stderr(&first).contains("migrating: upgrade 20261122090000"));
    // Every applied revision records the release key as its signer.
    assert_eq!(
        db.strings("SELECT signer FROM retort_history ORDER BY revision"),
        [RELEASE_KEY_ID; 3]
    );
    assert!(db.tables().contains(&"user_emails".to_string()));
    let again = run();
    assert!(again.status.success(), "{}", stderr(&again));
    assert_eq!(
        stdout(&again),
        "default: ran 0 migrations; now at 20261122090200\nready\n"
    );
    assert_eq!(db.count("SELECT COUNT(*) FROM retort_history"), 3);
}

/// The example's migrations embedded again, trusting another key: refused before the
/// database is touched.
pub fn embedded_migrations_signed_by_an_untrusted_key_are_refused(dialect: Dialect) {
    static MIGRATIONS: retort::Embedded = retort::embed!("../examples/embedded_app/migrations");
    assert_eq!(MIGRATIONS.files.len(), 3);
    let db = TestDb::new(dialect, "embeddeduntrusted");
    let mut project = Project::from_embedded(&db.url, MIGRATIONS).unwrap();
    let other = retort::trust::signing::generate("someone-else").unwrap().1;
    project.trust(&other, true).unwrap();
    let runner = Runner::new(Arc::new(Silent), project.limits).unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let err = rt
        .block_on(runner.upgrade(&project, &Target::Head))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Artifact, "{err}");
    let chain = format!("{:#}", anyhow::Error::from(err));
    assert!(
        chain.contains("20261122090000_create_users.wasm"),
        "{chain}"
    );
    assert!(chain.contains(RELEASE_KEY_ID), "{chain}");
    assert!(chain.contains("not a trusted key"), "{chain}");
    assert!(db.tables().is_empty(), "the database was touched");
}
