//! Release 2 of the "project versions" fixture: replaces the view and the stored function.
//! Its downgrade holds a frozen copy of release 1's definitions and puts them back.

use retort_guest::{Dialect, Migration, Result, Tx};

struct ReportV2;

fn set_definitions(tx: &Tx, view: &str, total: &str) -> Result<()> {
    tx.execute("DROP VIEW order_report", ())?;
    tx.execute(&format!("CREATE VIEW order_report AS {view}"), ())?;
    match tx.dialect() {
        Dialect::Postgres => {
            tx.execute(
                &format!("CREATE OR REPLACE FUNCTION order_total() RETURNS bigint LANGUAGE sql AS $$ {total} $$"),
                (),
            )?;
        }
        Dialect::Mysql => {
            tx.execute("DROP FUNCTION order_total", ())?;
            tx.execute(
                &format!("CREATE FUNCTION order_total() RETURNS BIGINT READS SQL DATA RETURN ({total})"),
                (),
            )?;
        }
        Dialect::Sqlite => {}
    }
    Ok(())
}

impl Migration for ReportV2 {
    fn upgrade(tx: &Tx) -> Result<()> {
        set_definitions(
            tx,
            "SELECT id, amount, CASE WHEN amount >= 100 THEN 1 ELSE 0 END AS big FROM orders",
            "SELECT COALESCE(SUM(amount), 0) FROM orders WHERE amount >= 100",
        )
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        set_definitions(
            tx,
            "SELECT id, amount FROM orders",
            "SELECT COALESCE(SUM(amount), 0) FROM orders",
        )
    }
}

retort_guest::export!(ReportV2, id: "20261001000100", parents: ["20261001000000"],
    description: "report big orders only");
