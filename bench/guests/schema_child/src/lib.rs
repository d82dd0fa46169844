//! Template for the 500-migration benchmark: a table and an index. The harness copies the
//! artifact and patches the 14-byte placeholders with each revision's id and parent.

use retort_guest::{Migration, Result, Tx};

const ID: &str = "IDPLACEHOLDER1";

struct Schema;

impl Migration for Schema {
    fn upgrade(tx: &Tx) -> Result<()> {
        tx.execute(&format!("CREATE TABLE t_{ID} (id INTEGER PRIMARY KEY, v INTEGER NOT NULL)"), ())?;
        tx.execute(&format!("CREATE INDEX i_{ID} ON t_{ID} (v)"), ())?;
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.execute(&format!("DROP TABLE t_{ID}"), ())?;
        Ok(())
    }
}

retort_guest::export!(Schema, id: "IDPLACEHOLDER1", parents: ["PARENTHOLDER01"], description: "bench table");
