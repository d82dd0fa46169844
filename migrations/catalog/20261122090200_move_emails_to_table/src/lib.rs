//! Move e-mail addresses from `users.email` into their own table, normalised to lower case;
//! the downgrade puts them back, so no address is lost in either direction.

use retort_guest::{Dialect, Migration, Result, Tx, row};

row! {
    /// A user's address as the upgrade reads it.
    struct UserEmail {
        id: i64,
        email: String,
    }
}

row! {
    /// An address as the downgrade reads it back.
    struct StoredEmail {
        user_id: i64,
        address: String,
        original: String,
    }
}

struct MoveEmails;

impl Migration for MoveEmails {
    fn upgrade(tx: &Tx) -> Result<()> {
        tx.execute(
            "CREATE TABLE IF NOT EXISTS user_emails (
                user_id BIGINT NOT NULL PRIMARY KEY REFERENCES users (id),
                address VARCHAR(320) NOT NULL,
                original VARCHAR(320) NOT NULL
            )",
            (),
        )?;
        let mut rows = tx.query::<UserEmail>(
            "SELECT id, email FROM users WHERE email IS NOT NULL ORDER BY id",
            (),
        )?;
        while let Some(batch) = rows.next_batch()? {
            let inserts = batch
                .iter()
                .map(|u| (u.id, u.email.trim().to_lowercase(), u.email.as_str()));
            tx.execute_batch(
                "INSERT INTO user_emails (user_id, address, original) VALUES ($1, $2, $3)",
                inserts,
            )?;
        }
        // The values live on in user_emails; the downgrade restores the column from there.
        tx.execute(
            "ALTER TABLE users DROP COLUMN email /* retort: allow drop-column */",
            (),
        )?;
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        // Written to also compensate an interrupted upgrade on MySQL, where the table may
        // exist while `users.email` was never dropped.
        let if_not_exists = if tx.dialect() == Dialect::Sqlite { "" } else { "IF NOT EXISTS " };
        tx.execute(&format!("ALTER TABLE users ADD COLUMN {if_not_exists}email VARCHAR(320)"), ())?;
        let mut rows = tx.query::<StoredEmail>(
            "SELECT user_id, address, original FROM user_emails ORDER BY user_id",
            (),
        )?;
        while let Some(batch) = rows.next_batch()? {
            // The original spelling is restored exactly, not the normalised address.
            let updates = batch.iter().map(|e| (e.original.as_str(), e.user_id));
            tx.execute_batch("UPDATE users SET email = $1 WHERE id = $2", updates)?;
        }
        tx.execute("DROP TABLE IF EXISTS user_emails", ())?;
        Ok(())
    }
}

retort_guest::export!(MoveEmails, id: "20261122090200", parents: ["20261122090100"],
    description: "move users.email into user_emails, normalised");
