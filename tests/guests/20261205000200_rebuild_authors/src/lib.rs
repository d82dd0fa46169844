//! Changes a column of `authors`, a table other tables reference, that has an index and a
//! trigger and that views read (the test makes them): on SQLite a table rebuild, which must
//! keep all of them, and every row with its row id.

use retort_guest::schema::{ColumnChange, ColumnType};
use retort_guest::{Migration, Result, Tx};

struct RebuildAuthors;

impl Migration for RebuildAuthors {
    fn upgrade(tx: &Tx) -> Result<()> {
        tx.alter_column(
            ColumnChange::new("authors", "name")
                .data_type(ColumnType::Varchar(100))
                .nullable(false),
        )
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.alter_column(
            ColumnChange::new("authors", "name")
                .data_type(ColumnType::Varchar(60))
                .nullable(true),
        )
    }
}

retort_guest::export!(RebuildAuthors, id: "20261205000200", parents: [],
    description: "authors must have a name");
