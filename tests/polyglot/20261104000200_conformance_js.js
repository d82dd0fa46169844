// The guest conformance kit (tests/conformance/README.md), in JavaScript.
import { defineMigration, log, progress, sql, MigrationError } from "./retort_guest.js";

class Conf { // conf_src as this migration knows it
  static types = { u: "uuid", j: "json" };
  constructor(row) { Object.assign(this, row); }

  // Each value as the SQL case of its column.
  values() {
    const or = (v, f) => (v === null ? null : f(v));
    return [
      this.id, this.b, this.i, or(this.f, sql.float), this.t, this.bt, or(this.d, sql.decimal),
      or(this.dt, sql.date), or(this.tm, sql.time), or(this.ts, sql.timestamp),
      or(this.tz, sql.timestamptz), or(this.u, sql.uuid), or(this.j, sql.json),
    ];
  }
}

const note = (tx, k, v) => tx.execute("INSERT INTO conf_log (k, v) VALUES ($1, $2)", [k, v]);

function check(ok, what) {
  if (!ok) throw new MigrationError(`decoded wrongly: ${what}`);
}

export const { metadata, upgrade, downgrade } = defineMigration({
  id: "20261104000200",
  parents: [],
  description: "conformance",
  branchLabels: ["conformance"],

  upgrade(tx) {
    note(tx, "dialect", tx.dialect);

    const rows = tx.query(Conf, "SELECT * FROM conf_src WHERE id >= $1 ORDER BY id", [1], 2);
    const read = [];
    let batches = 0;
    for (const batch of rows.batches()) {
      batches += 1;
      read.push(...batch);
    }
    note(tx, "columns", rows.columns.join(","));
    note(tx, "batches", String(batches));

    const r = read[0];
    check(r.b === true, "b");
    check(r.i === 9223372036854775807n, "i");
    check(r.f === Math.PI, "f");
    check(r.t === "héllo wörld ✓ 日本", "t");
    check(r.bt instanceof Uint8Array && r.bt.join() === "0,255,16", "bt");
    check(r.d === "12345678901234567890.123456", "d");
    check(r.dt === "2026-11-22", "dt");
    check(r.tm === "13:14:15.123456", "tm");
    check(r.ts === "2026-11-22T13:14:15.123456", "ts");
    check(r.tz === "2026-11-22T13:14:15.123456Z", `tz ${r.tz}`);
    check(r.u === "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11", "u");
    check(JSON.stringify(r.j) === '{"a":[1,2,{"b":null}]}', `j ${JSON.stringify(r.j)}`);
    const last = read[read.length - 1];
    check(last.b === null && last.j === null && last.tz === null, "nulls");

    tx.executeBatch(
      "INSERT INTO conf_dst (id, b, i, f, t, bt, d, dt, tm, ts, tz, u, j) " +
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
      read.map((c) => c.values()),
    );

    note(tx, "scratch1", "x");
    note(tx, "scratch2", "x");
    const affected = tx.execute("DELETE FROM conf_log WHERE k LIKE 'scratch%'");
    note(tx, "affected", String(affected));

    tx.execute("SAVEPOINT conf");
    let code;
    try {
      note(tx, "dialect", "again");
    } catch (e) {
      if (!e.payload || e.payload.tag !== "database") throw e;
      code = e.payload.val.code ?? "";
    }
    if (code === undefined) throw new MigrationError("a duplicate key was accepted");
    tx.execute("ROLLBACK TO SAVEPOINT conf");
    note(tx, "error_code", code);

    progress(3, 3);
    log("conformance ok");
  },

  downgrade(tx) {
    tx.execute("DELETE FROM conf_dst");
    tx.execute("DELETE FROM conf_log");
  },
});
