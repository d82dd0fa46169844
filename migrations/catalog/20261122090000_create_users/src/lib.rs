//! Schema migration: the `users` table, with a few demo rows.

use retort_guest::{Dialect, Migration, Result, Tx};

struct CreateUsers;

impl Migration for CreateUsers {
    fn upgrade(tx: &Tx) -> Result<()> {
        let id = match tx.dialect() {
            Dialect::Sqlite => "INTEGER PRIMARY KEY",
            Dialect::Postgres => "BIGSERIAL PRIMARY KEY",
            Dialect::Mysql => "BIGINT AUTO_INCREMENT PRIMARY KEY",
        };
        tx.execute(
            &format!(
                "CREATE TABLE IF NOT EXISTS users (
                    id {id},
                    full_name VARCHAR(200) NOT NULL,
                    email VARCHAR(320)
                )"
            ),
            (),
        )?;
        let demo = [
            ("Ada Lovelace", Some("Ada@Example.org")),
            ("Grace Brewster Hopper", Some("grace@example.ORG")),
            ("Edsger Dijkstra", None),
        ];
        tx.execute_batch("INSERT INTO users (full_name, email) VALUES ($1, $2)", demo)?;
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.execute("DROP TABLE IF EXISTS users", ())?;
        Ok(())
    }
}

retort_guest::export!(CreateUsers, id: "20261122090000", parents: [],
    description: "create the users table");
