//! Retort's SQL runtime: runs the SQL migration the host hands it (`script.current`).
//!
//! A SQL migration's artifact holds its scripts and metadata, not code; every SQL migration
//! runs on this one component, each in a fresh instance. `upgrade` runs `up.sql` (or
//! `up.<dialect>.sql` where the migration has one for the dialect it runs on), `downgrade`
//! runs `down.sql` likewise (none: a no-op), statement by statement through the lent
//! transaction, split by the lexer the host shares (`retort-sql`). A script wrapped in
//! `BEGIN; … COMMIT;` has that pair dropped: Retort runs the migration in one transaction
//! with its history row. A migration marked `dialect = NAME` does nothing elsewhere.
//!
//! The setting `keep` (`view:report, function:price`, from the migration's header) names
//! objects the upgrade replaces: before its statements the upgrade keeps each one's
//! definition (`schema.keep-definition`), and after its statements the downgrade restores
//! them (`schema.restore-definition`), even once the migration's source is gone.

wit_bindgen::generate!({
    world: "retort:migration/sql-script-runtime@0.3.0",
    path: ["../../../wit/0.1.0", "../../../wit/0.2.0", "../../../wit/0.3.0"],
    generate_all,
});

use retort::migration0_1_0::report::{self, Level};
use retort::migration0_1_0::types::Dialect;
use retort::migration0_2_0::script;
use retort::migration0_3_0::schema::{self, ObjectKind};

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
    let file = file(&format!("{which}.{name}.sql")).or_else(|| file(&format!("{which}.sql")));
    let lexical = match dialect {
        Dialect::Postgres => retort_sql::Dialect::Postgres,
        Dialect::Mysql => retort_sql::Dialect::Mysql,
        Dialect::Sqlite => retort_sql::Dialect::Sqlite,
    };
    // No script: nothing to run (what is kept is still kept and restored).
    let statements = match file {
        Some(file) => retort_sql::split(&file.contents, lexical).map_err(Error::Migration)?,
        None => Vec::new(),
    };
    let (statements, _) = retort_sql::unwrap_transaction(statements, lexical);
    let kept = kept(&migration.settings)?;
    if which == "up" {
        for (kind, name, label) in &kept {
            if !schema::keep_definition(tx, *kind, name)? {
                return Err(Error::Migration(format!(
                    "keep = {label}: there is no such object to keep"
                )));
            }
        }
    }
    for statement in &statements {
        tx.execute(statement, &[])?;
    }
    if which == "down" {
        for (kind, name, label) in &kept {
            if !schema::restore_definition(tx, *kind, name)? {
                return Err(Error::Migration(format!(
                    "keep = {label}: the upgrade kept no definition to restore"
                )));
            }
        }
    }
    Ok(())
}

/// The objects the `keep` setting names: `(kind, name, as written)`.
fn kept(settings: &[(String, String)]) -> Result<Vec<(ObjectKind, String, String)>, Error> {
    let Some((_, list)) = settings.iter().find(|(k, _)| k == "keep") else {
        return Ok(Vec::new());
    };
    list.split(',')
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(|item| {
            let (kind, name) = item.split_once(':').unwrap_or(("", item));
            let kind = match kind.trim() {
                "view" => ObjectKind::View,
                "function" => ObjectKind::Function,
                "procedure" => ObjectKind::Procedure,
                "trigger" => ObjectKind::Trigger,
                other => {
                    return Err(Error::Migration(format!(
                        "keep = {item}: `{other}` is not view, function, procedure or trigger"
                    )));
                }
            };
            Ok((kind, name.trim().to_string(), item.to_string()))
        })
        .collect()
}

export!(Runtime);
