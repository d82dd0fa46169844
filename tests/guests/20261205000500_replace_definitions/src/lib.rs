//! Replaces a view, a function, a procedure and a trigger (those the engine has), keeping
//! each one's definition first; the downgrade restores them exactly from what was kept, so it
//! works after this migration's source is gone. The test creates the originals.

use retort_guest::schema::ObjectKind;
use retort_guest::{Dialect, Error, Migration, Result, Tx};

struct ReplaceDefinitions;

fn objects(tx: &Tx) -> Vec<(ObjectKind, &'static str)> {
    match tx.dialect() {
        Dialect::Sqlite => vec![(ObjectKind::View, "report"), (ObjectKind::Trigger, "stamp")],
        _ => vec![
            (ObjectKind::View, "report"),
            (ObjectKind::Function, "price"),
            (ObjectKind::Procedure, "bump"),
            (ObjectKind::Trigger, "stamp"),
        ],
    }
}

fn replacements(dialect: Dialect) -> &'static [&'static str] {
    match dialect {
        Dialect::Sqlite => &[
            "DROP VIEW report",
            "CREATE VIEW report AS SELECT 2 AS version, count(*) AS items FROM items",
            "DROP TRIGGER stamp",
            "CREATE TRIGGER stamp AFTER INSERT ON items BEGIN UPDATE items SET note = 'v2' WHERE id = new.id; END",
        ],
        Dialect::Postgres => &[
            "CREATE OR REPLACE VIEW report AS SELECT 2 AS version, count(*) AS items FROM items",
            "CREATE OR REPLACE FUNCTION price(x integer) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT x * 2 $$",
            "CREATE OR REPLACE PROCEDURE bump() LANGUAGE sql AS $$ UPDATE items SET n = n + 2 $$",
            "CREATE OR REPLACE TRIGGER stamp BEFORE INSERT ON items FOR EACH ROW EXECUTE FUNCTION stamp_v2()",
        ],
        Dialect::Mysql => &[
            "CREATE OR REPLACE VIEW report AS SELECT 2 AS version, count(*) AS items FROM items",
            "DROP FUNCTION price",
            "CREATE FUNCTION price(x INT) RETURNS INT DETERMINISTIC RETURN x * 2",
            "DROP PROCEDURE bump",
            "CREATE PROCEDURE bump() UPDATE items SET n = n + 2",
            "DROP TRIGGER stamp",
            "CREATE TRIGGER stamp BEFORE INSERT ON items FOR EACH ROW SET NEW.note = 'v2'",
        ],
    }
}

impl Migration for ReplaceDefinitions {
    fn upgrade(tx: &Tx) -> Result<()> {
        for (kind, name) in objects(tx) {
            if !tx.keep_definition(kind, name)? {
                return Err(Error::migration(format!("there is no {name} to keep")));
            }
        }
        if tx.keep_definition(ObjectKind::View, "missing")? {
            return Err(Error::migration("kept a view that does not exist"));
        }
        for statement in replacements(tx.dialect()) {
            tx.execute(statement, ())?;
        }
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        for (kind, name) in objects(tx) {
            if !tx.restore_definition(kind, name)? {
                return Err(Error::migration(format!("nothing was kept of {name}")));
            }
        }
        Ok(())
    }
}

retort_guest::export!(ReplaceDefinitions, id: "20261205000500", parents: [],
    description: "replace the report view, price, bump and the stamp trigger");
