// Benchmark data migration (batched), in JavaScript: the same work as bench/guests/data_batched.
import { defineMigration } from "./retort_guest.js";

class Bulk {
  constructor({ id, n, s }) { this.id = id; this.n = n; this.s = s; }
}

export const { metadata, upgrade, downgrade } = defineMigration({
  id: "20270101000002",
  parents: [],
  description: "bench data migration (batched, JavaScript)",
  upgrade(tx) {
    const sql = "UPDATE bulk SET a = $1, b = $2 WHERE id = $3";
    for (const batch of tx.query(Bulk, "SELECT id, n, s FROM bulk ORDER BY id").batches(1000)) {
      tx.executeBatch(sql, batch.map((r) => [r.n * 2 + r.s.length, `${r.s}-${r.n}`, r.id]));
    }
  },
  downgrade(tx) {
    tx.execute("UPDATE bulk SET a = NULL, b = NULL");
  },
});
