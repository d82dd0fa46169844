//! Hostile: changes a row, then allocates without bound.

use retort_guest::{Migration, Result, Tx};

struct MemoryBomb;

impl Migration for MemoryBomb {
    fn upgrade(tx: &Tx) -> Result<()> {
        tx.execute("UPDATE items SET code = 'bomb' WHERE id = 1", ())?;
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(std::hint::black_box(vec![1u8; 16 << 20]));
        }
    }

    fn downgrade(_tx: &Tx) -> Result<()> {
        Ok(())
    }
}

retort_guest::export!(MemoryBomb, id: "20260701000100", parents: ["20260201000000"], description: "allocates without bound");
