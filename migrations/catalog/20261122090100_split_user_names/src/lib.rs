//! Data migration: split `users.full_name` into `first_name` and `last_name`.
//!
//! `User` below is this migration's own, frozen copy of the model: it stays as it was when the
//! migration was written, whatever the application's `User` becomes later.

use retort_guest::{Dialect, Migration, Result, Tx, row};

row! {
    /// A user as this migration reads it.
    struct User {
        id: i64,
        full_name: String,
    }
}

struct SplitUserNames;

/// `"Grace Brewster Hopper"` → (`"Grace Brewster"`, `"Hopper"`); one word is a last name.
fn split(full_name: &str) -> (Option<String>, String) {
    let trimmed = full_name.trim();
    match trimmed.rsplit_once(' ') {
        Some((first, last)) => (Some(first.trim().to_string()), last.to_string()),
        None => (None, trimmed.to_string()),
    }
}

impl Migration for SplitUserNames {
    fn upgrade(tx: &Tx) -> Result<()> {
        // Re-runnable where DDL commits one statement at a time (MySQL): a run interrupted
        // after the first column can simply be run again.
        let if_not_exists = if tx.dialect() == Dialect::Sqlite { "" } else { "IF NOT EXISTS " };
        tx.execute(&format!("ALTER TABLE users ADD COLUMN {if_not_exists}first_name VARCHAR(200)"), ())?;
        tx.execute(&format!("ALTER TABLE users ADD COLUMN {if_not_exists}last_name VARCHAR(200)"), ())?;

        let mut users = tx.query::<User>("SELECT id, full_name FROM users ORDER BY id", ())?;
        let mut done = 0;
        while let Some(batch) = users.next_batch()? {
            let updates = batch.iter().map(|user| {
                let (first, last) = split(&user.full_name);
                (first, last, user.id)
            });
            done += tx.execute_batch(
                "UPDATE users SET first_name = $1, last_name = $2 WHERE id = $3",
                updates,
            )?;
            retort_guest::progress(done, None);
        }
        retort_guest::log(&format!("split the names of {done} users"));
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        // `full_name` was kept, so reversing is dropping the derived columns. On MySQL an
        // interrupted upgrade may have added only one of them (DDL commits implicitly), so the
        // downgrade must also work as compensation: `IF EXISTS` where the dialect has it.
        let if_exists = if tx.dialect() == Dialect::Sqlite { "" } else { "IF EXISTS " };
        tx.execute(&format!("ALTER TABLE users DROP COLUMN {if_exists}last_name"), ())?;
        tx.execute(&format!("ALTER TABLE users DROP COLUMN {if_exists}first_name"), ())?;
        Ok(())
    }
}

retort_guest::export!(SplitUserNames, id: "20261122090100", parents: ["20261122090000"],
    description: "split users.full_name into first_name and last_name");
