// JavaScript: the portable-values row (issue 15) decoded into declared types on every engine.
import { defineMigration, MigrationError } from "./retort_guest.js";

class Totals {
  static types = { total: "integer", average: "float", price_sum: "decimal", price_float: "float" };
  constructor(o) { Object.assign(this, o); }
}

class Stamp {
  static types = { stamped: "timestamp", day: "date" };
  constructor(o) { Object.assign(this, o); }
}

class Cents {
  static types = { cents: "integer" };
  constructor(o) { Object.assign(this, o); }
}

export const { metadata, upgrade, downgrade } = defineMigration({
  id: "20261203000200",
  parents: ["20261203000100"],
  description: "JavaScript: portable values",
  upgrade(tx) {
    const [t] = tx.query(Totals, "SELECT SUM(n) AS total, AVG(n) AS average, SUM(price) AS price_sum, SUM(price) AS price_float FROM pv_src").nextBatch();
    const [s] = tx.query(Stamp, "SELECT at AS stamped, at AS day FROM pv_src WHERE id = 1").nextBatch();
    const out = [
      ["js_total", `${typeof t.total}:${t.total}`],
      ["js_average", `${typeof t.average}:${t.average}`],
      ["js_price_sum", `${typeof t.price_sum}:${t.price_sum}`],
      ["js_price_float", `${typeof t.price_float}:${t.price_float}`],
      ["js_stamped", s.stamped],
      ["js_day", s.day],
    ];
    try {
      tx.query(Cents, "SELECT SUM(price) AS cents FROM pv_src").nextBatch();
      out.push(["js_lossy_int", "accepted"]);
    } catch (e) {
      if (!(e instanceof MigrationError)) throw e;
      out.push(["js_lossy_int", e.message]);
    }
    tx.executeBatch("INSERT INTO pv_out (k, v) VALUES ($1, $2)", out);
  },
  downgrade(tx) {
    tx.execute("DELETE FROM pv_out WHERE k LIKE 'js_%'");
  },
});
