//! Release 1 of the "project versions" fixture: an `orders` table, a view and (on PostgreSQL
//! and MariaDB) a stored function, in their first definitions.

use retort_guest::{Dialect, Migration, Result, Tx};

struct ReportV1;

impl Migration for ReportV1 {
    fn upgrade(tx: &Tx) -> Result<()> {
        tx.execute("CREATE TABLE orders (id INTEGER PRIMARY KEY, amount INTEGER NOT NULL)", ())?;
        tx.execute("INSERT INTO orders (id, amount) VALUES (1, 50), (2, 150), (3, 300)", ())?;
        tx.execute("CREATE VIEW order_report AS SELECT id, amount FROM orders", ())?;
        match tx.dialect() {
            Dialect::Postgres => {
                tx.execute(
                    "CREATE FUNCTION order_total() RETURNS bigint LANGUAGE sql AS \
                     $$ SELECT COALESCE(SUM(amount), 0) FROM orders $$",
                    (),
                )?;
            }
            Dialect::Mysql => {
                tx.execute(
                    "CREATE FUNCTION order_total() RETURNS BIGINT READS SQL DATA \
                     RETURN (SELECT COALESCE(SUM(amount), 0) FROM orders)",
                    (),
                )?;
            }
            Dialect::Sqlite => {}
        }
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        if tx.dialect() != Dialect::Sqlite {
            tx.execute("DROP FUNCTION order_total", ())?;
        }
        tx.execute("DROP VIEW order_report", ())?;
        tx.execute("DROP TABLE orders", ())?;
        Ok(())
    }
}

retort_guest::export!(ReportV1, id: "20261001000000", parents: [], description: "orders with a report view and total function");
