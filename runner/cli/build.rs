//! Decides which database test suites run: PostgreSQL and MariaDB tests are compiled as
//! `#[ignore]`d (visibly skipped, with the reason) unless their URL is set or `CI=true`, in
//! which case they run and fail loudly if the server is missing. The same holds for the
//! Python/JavaScript guest tests and their build tools, and for the comparison with Alembic
//! itself (`RETORT_ALEMBIC`).

fn main() {
    for (var, cfg) in [
        ("RETORT_TEST_POSTGRES_URL", "retort_test_postgres"),
        ("RETORT_TEST_MYSQL_URL", "retort_test_mysql"),
    ] {
        println!("cargo::rustc-check-cfg=cfg({cfg})");
        println!("cargo::rerun-if-env-changed={var}");
        let set = std::env::var_os(var).is_some_and(|v| !v.is_empty());
        let ci = std::env::var("CI").is_ok_and(|v| v == "true");
        if set || ci {
            println!("cargo::rustc-cfg={cfg}");
        }
    }
    // Python and JavaScript guests need componentize-py and componentize-js.
    println!("cargo::rustc-check-cfg=cfg(retort_test_polyglot)");
    let tools = ["RETORT_COMPONENTIZE_PY", "RETORT_COMPONENTIZE_JS"];
    for var in tools {
        println!("cargo::rerun-if-env-changed={var}");
    }
    let ci = std::env::var("CI").is_ok_and(|v| v == "true");
    if ci
        || tools
            .iter()
            .all(|v| std::env::var_os(v).is_some_and(|v| !v.is_empty()))
    {
        println!("cargo::rustc-cfg=retort_test_polyglot");
    }
    // The Alembic comparison runs Alembic itself (installed from PyPI by .ci/run).
    println!("cargo::rustc-check-cfg=cfg(retort_test_alembic)");
    println!("cargo::rerun-if-env-changed=RETORT_ALEMBIC");
    if ci || std::env::var_os("RETORT_ALEMBIC").is_some_and(|v| !v.is_empty()) {
        println!("cargo::rustc-cfg=retort_test_alembic");
    }
    println!("cargo::rerun-if-env-changed=CI");
}
