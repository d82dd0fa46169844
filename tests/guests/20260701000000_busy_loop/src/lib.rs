//! Hostile: changes a row, then never returns.

use retort_guest::{Migration, Result, Tx};

struct BusyLoop;

impl Migration for BusyLoop {
    fn upgrade(tx: &Tx) -> Result<()> {
        tx.execute("UPDATE items SET code = 'looping' WHERE id = 1", ())?;
        let mut x: u64 = 0;
        loop {
            x = std::hint::black_box(x.wrapping_add(1));
        }
    }

    fn downgrade(_tx: &Tx) -> Result<()> {
        Ok(())
    }
}

retort_guest::export!(BusyLoop, id: "20260701000000", parents: ["20260201000000"], description: "loops forever");
