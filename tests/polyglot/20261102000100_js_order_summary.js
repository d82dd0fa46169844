// A JavaScript data migration: count orders per band, streaming rows into a class.
import { defineMigration, log } from "./retort_guest.js";

class Order { // the orders row as this migration knows it
  constructor({ id, amount }) { this.id = id; this.amount = amount; }
}

export const { metadata, upgrade, downgrade } = defineMigration({
  id: "20261102000100",
  parents: ["20261102000000"],
  description: "JavaScript: count orders per band",
  upgrade(tx) {
    tx.execute("CREATE TABLE order_summary (band VARCHAR(10) PRIMARY KEY, n BIGINT NOT NULL)");
    const counts = new Map();
    for (const batch of tx.query(Order, "SELECT id, amount FROM orders ORDER BY id").batches(2)) {
      for (const o of batch) {
        const band = o.amount >= 100 ? "large" : "small";
        counts.set(band, (counts.get(band) ?? 0) + 1);
      }
    }
    tx.executeBatch("INSERT INTO order_summary (band, n) VALUES ($1, $2)", [...counts]);
    log(`summarised ${counts.size} bands`);
  },
  downgrade(tx) {
    tx.execute("DROP TABLE order_summary");
  },
});
