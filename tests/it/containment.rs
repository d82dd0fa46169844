//! What a migration's SQL cannot do to the host or to its neighbours (issue 13): each test a
//! hostile migration, checked against the database itself.

use crate::common::{Dialect, Project, TestDb};

/// A migration turns `standard_conforming_strings` off (and `DateStyle` to `SQL, DMY`) and
/// then copies rows with `execute-batch`: the batch's literals are still read exactly, so a row
/// value cannot end its literal and run as SQL, and every byte, backslash and date arrives as
/// it was.
pub fn hostile_session_settings_do_not_change_batched_values(dialect: Dialect) {
    let db = TestDb::new(dialect, "hostilesettings");
    let project = Project::with_fixtures(&["20261201000000"]);
    project.run_ok(&db, &["upgrade"]);
    assert!(
        db.tables().contains(&"victim".to_string()),
        "a row value ran as SQL and dropped `victim`"
    );
    let expected = [
        r"x\'); DROP TABLE victim; --",
        r"a\nb",
        r"\\",
        "it's",
        r"tab\there ü ✓",
    ];
    assert_eq!(db.strings("SELECT t FROM hs_src ORDER BY id"), expected);
    let mut one = db.strings("SELECT t FROM hs_one");
    one.sort();
    let mut want = expected.to_vec();
    want.sort();
    assert_eq!(one, want);
    assert_eq!(db.strings("SELECT t FROM hs_dst ORDER BY id"), expected);
    for (a, b) in [("hs_src", "hs_dst"), ("hs_dst", "hs_src")] {
        assert_eq!(
            db.count(&format!(
                "SELECT COUNT(*) FROM (SELECT id, t, bt, d FROM {a} EXCEPT SELECT id, t, bt, d FROM {b}) AS diff"
            )),
            0,
            "bytes or dates changed on the way from {a} to {b}"
        );
    }
    assert_eq!(db.count("SELECT COUNT(*) FROM hs_dst"), 5);
}
