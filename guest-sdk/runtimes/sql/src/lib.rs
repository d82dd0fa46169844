//! Retort's SQL runtime: runs the SQL migration the host hands it (`script.current`).
//!
//! A SQL migration's artifact holds its scripts and metadata, not code; every SQL migration
//! runs on this one component, each in a fresh instance. `upgrade` runs `up.sql` (or
//! `up.<dialect>.sql` where the migration has one for the dialect it runs on), `downgrade`
//! runs `down.sql` likewise (none: a no-op), statement by statement through the lent
//! transaction, split by the lexer the host shares (`retort-sql`). A script wrapped in
//! `BEGIN; … COMMIT;` has that pair dropped: Retort runs the migration in one transaction
//! with its history row. A migration marked `dialect = NAME` does nothing elsewhere.

wit_bindgen::generate!({
    world: "retort:migration/script-runtime@0.2.0",
    path: ["../../../wit/0.1.0", "../../../wit/0.2.0"],
    generate_all,
});

use retort::migration0_1_0::report::{self, Level};
use retort::migration0_1_0::types::Dialect;
use retort::migration0_2_0::script;

struct Runtime;

impl Guest for Runtime {
    fn metadata() -> MigrationInfo {
        script::current().metadata
    }

    fn upgrade(tx: &Transaction) -> Result<(), Error> {
        run(tx, "up")
    }

    fn downgrade(tx: &Transaction) -> Result<(), Error> {
        run(tx, "down")
    }
}

/// Runs the `up` or `down` script for the dialect `tx` is on.
fn run(tx: &Transaction, which: &str) -> Result<(), Error> {
    let migration = script::current();
    let dialect = tx.dialect();
    let name = match dialect {
        Dialect::Postgres => "postgres",
        Dialect::Mysql => "mysql",
        Dialect::Sqlite => "sqlite",
    };
    if let Some((_, only)) = migration.settings.iter().find(|(k, _)| k == "dialect")
        && only != name
    {
        report::log(
            Level::Info,
            &format!("written for {only} only: nothing to do on this database"),
        );
        return Ok(());
    }
    let file = |n: &str| migration.files.iter().find(|f| f.name == n);
    let Some(file) = file(&format!("{which}.{name}.sql")).or_else(|| file(&format!("{which}.sql")))
    else {
        return Ok(());
    };
    let lexical = match dialect {
        Dialect::Postgres => retort_sql::Dialect::Postgres,
        Dialect::Mysql => retort_sql::Dialect::Mysql,
        Dialect::Sqlite => retort_sql::Dialect::Sqlite,
    };
    let statements = retort_sql::split(&file.contents, lexical).map_err(Error::Migration)?;
    let (statements, _) = retort_sql::unwrap_transaction(statements, lexical);
    for statement in &statements {
        tx.execute(statement, &[])?;
    }
    Ok(())
}

export!(Runtime);
