//! Holds the migration lock for three seconds of busy work (before any statement), then
//! creates `t_slow`: the window in which the concurrency tests kill the runner.

use std::time::{Duration, Instant};

use retort_guest::{Migration, Result, Tx};

struct Slow;

impl Migration for Slow {
    fn upgrade(tx: &Tx) -> Result<()> {
        retort_guest::log("slow migration started");
        let start = Instant::now();
        let mut spins = 0u64;
        while start.elapsed() < Duration::from_secs(3) {
            spins = spins.wrapping_add(1);
        }
        tx.execute("CREATE TABLE t_slow (id INTEGER PRIMARY KEY)", ())?;
        tx.execute("INSERT INTO t_slow (id) VALUES ($1)", (spins.min(1_000_000) as i64,))?;
        Ok(())
    }

    fn downgrade(tx: &Tx) -> Result<()> {
        tx.execute("DROP TABLE t_slow", ())?;
        Ok(())
    }
}

retort_guest::export!(Slow, id: "20260601000000", parents: [], description: "busy for three seconds");
