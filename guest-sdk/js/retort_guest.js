// Write Retort migrations in JavaScript (run by Retort's shared JavaScript runtime, built
// with componentize-js).
//
// A migration is one file, `<id>_<slug>.js`, that imports this module and exports the three
// functions `defineMigration` returns. It declares its own row classes: a frozen copy of the
// rows as this migration knows them, never the application's models.
//
//   import { defineMigration } from "./retort_guest.js";
//
//   class User {                      // the users row as this migration knows it
//     constructor({ id, full_name }) { this.id = id; this.fullName = full_name; }
//   }
//
//   export const { metadata, upgrade, downgrade } = defineMigration({
//     id: "20261122110000",
//     parents: ["20261122090200"],
//     description: "split full names",
//     upgrade(tx) {
//       for (const batch of tx.query(User, "SELECT id, full_name FROM users ORDER BY id").batches(500)) {
//         tx.executeBatch("UPDATE users SET first_name = $1 WHERE id = $2",
//                         batch.map((u) => [u.fullName.split(" ")[0], u.id]));
//       }
//     },
//     downgrade(tx) { /* … */ },
//   });
//
// Parameters are `$1, $2, …` on every database. JavaScript values map to SQL values as:
// null/undefined → NULL, boolean, integer numbers and bigint → integer, other numbers →
// float, string → text, Uint8Array → bytes, Date → timestamptz; `sql.decimal("1.50")`,
// `sql.date("2026-01-02")`, `sql.time("12:00:00")`, `sql.timestamp("2026-01-02T03:04:05")`,
// `sql.uuid("…")`, `sql.json(value)` for the rest. Rows decode integers to numbers (bigint
// beyond 2^53), decimals, dates, times, timestamps and uuids to strings, timestamptz to an
// RFC 3339 string in UTC, JSON to its value, bytes to Uint8Array. A row class may declare
// `static types = { u: "uuid", j: "json", total: "integer" }` for columns the driver sends as
// text or bytes (MariaDB's UUID and JSON), or that one engine sends as another kind than the
// next (`integer`, `float`, `decimal`, `timestamp`, `timestamptz`, `date`: the lossless
// conversions of docs/values.md, lossy ones refused).

import { log as hostLog, progress as hostProgress } from "retort:migration/report@0.1.0";
// Rows and parameter sets as one JSON string per call: the bindings lift and lower each
// value variant slowly, the engine's JSON.parse/stringify are native (BENCHMARKS.md).
import {
  nextBatch as jsonNextBatch,
  executeBatch as jsonExecuteBatch,
} from "retort:migration/json-batches@0.2.0";

// Portable schema operations: the host writes each in the dialect's SQL.
import {
  apply as schemaApply,
  applyAllowing as schemaApplyAllowing,
  statements as schemaStatements,
  keepDefinition,
  restoreDefinition,
} from "retort:migration/schema@0.3.0";

/** Explicitly typed SQL values. */
export const sql = {
  integer: (n) => ({ tag: "integer", val: BigInt(n) }),
  float: (n) => ({ tag: "float", val: Number(n) }),
  decimal: (s) => ({ tag: "decimal", val: String(s) }),
  date: (s) => ({ tag: "date", val: parseDate(s) }),
  time: (s) => ({ tag: "time", val: parseTime(s) }),
  timestamp: (s) => ({ tag: "timestamp", val: parseDatetime(s) }),
  // A Date, or an RFC 3339 string in UTC (`…Z`, microseconds kept).
  timestamptz: (d) => ({
    tag: "timestamptz",
    val: d instanceof Date ? dateToDatetime(d) : parseDatetime(String(d).replace(/(Z|[+-]00:?00)$/, "")),
  }),
  uuid: (s) => ({ tag: "uuid", val: String(s) }),
  json: (v) => ({ tag: "json", val: JSON.stringify(v) }),
  null: () => ({ tag: "null" }),
};

/** Fails the migration with a message (its transaction is rolled back). */
export class MigrationError extends Error {}

const pad = (n, w = 2) => String(n).padStart(w, "0");

function parseDate(s) {
  const m = /^(-?\d+)-(\d{2})-(\d{2})$/.exec(s);
  if (!m) throw new MigrationError(`not a date (YYYY-MM-DD): ${s}`);
  return { year: Number(m[1]), month: Number(m[2]), day: Number(m[3]) };
}

function parseTime(s) {
  const m = /^(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?$/.exec(s);
  if (!m) throw new MigrationError(`not a time (HH:MM:SS[.fff]): ${s}`);
  const nanosecond = m[4] ? Number(m[4].padEnd(9, "0")) : 0;
  return { hour: Number(m[1]), minute: Number(m[2]), second: Number(m[3]), nanosecond };
}

function parseDatetime(s) {
  const [d, t] = String(s).replace(" ", "T").split("T");
  return { date: parseDate(d), time: parseTime(t ?? "00:00:00") };
}

function dateToDatetime(d) {
  return {
    date: { year: d.getUTCFullYear(), month: d.getUTCMonth() + 1, day: d.getUTCDate() },
    time: {
      hour: d.getUTCHours(), minute: d.getUTCMinutes(), second: d.getUTCSeconds(),
      nanosecond: d.getUTCMilliseconds() * 1_000_000,
    },
  };
}

function showDate(d) {
  return `${pad(d.year, 4)}-${pad(d.month)}-${pad(d.day)}`;
}

function showTime(t) {
  const frac = t.nanosecond ? "." + pad(Math.floor(t.nanosecond / 1000), 6) : "";
  return `${pad(t.hour)}:${pad(t.minute)}:${pad(t.second)}${frac}`;
}

function toValue(v) {
  if (v === null || v === undefined) return { tag: "null" };
  if (typeof v === "object" && typeof v.tag === "string" && !(v instanceof Date)) return v;
  switch (typeof v) {
    case "boolean":
      return { tag: "boolean", val: v };
    case "bigint":
      return { tag: "integer", val: v };
    case "number":
      return Number.isInteger(v) ? { tag: "integer", val: BigInt(v) } : { tag: "float", val: v };
    case "string":
      return { tag: "text", val: v };
  }
  if (v instanceof Uint8Array) return { tag: "bytes", val: v };
  if (v instanceof Date) return { tag: "timestamptz", val: dateToDatetime(v) };
  throw new MigrationError(`cannot send ${Object.prototype.toString.call(v)} as an SQL value`);
}

// Rows arrive through `json-batches` (host/json_batch.rs gives each value in the form the
// mapping above documents: integers as numbers, or bigint beyond 2^53; decimals, dates, times,
// timestamps and uuids as strings; timestamptz as `…Z`; JSON parsed; bytes as Uint8Array).

const textOf = (v) => (v instanceof Uint8Array ? new TextDecoder().decode(v) : v);

// Declared column types (`static types = { u: "uuid", j: "json" }` on a row class) fix what
// the wire cannot say: MariaDB sends UUID and JSON columns as text or bytes.
// They also apply the lossless conversions of docs/values.md ("Decoding into a declared type"):
// the same query gives decimals (strings) on one engine and numbers on another.
const coercions = {
  uuid: (v) => String(textOf(v)).toLowerCase(),
  json: (v) => (typeof v === "string" || v instanceof Uint8Array ? JSON.parse(textOf(v)) : v),
  text: (v) => textOf(v),
  integer: toInteger,
  float: toFloat,
  decimal: (v) => (typeof v === "number" ? plainNumber(v) : typeof v === "bigint" ? String(v) : v),
  timestamp: (v) => (typeof v === "string" ? v.replace(/Z$/, "") : v),
  timestamptz: (v) => {
    if (typeof v === "string" && !v.endsWith("Z")) {
      throw new TypeError(`expected timestamptz, found the timestamp ${v}, which has no zone to convert from`);
    }
    return v;
  },
  date: (v) => {
    if (typeof v !== "string" || !v.includes("T")) return v;
    const [day, time] = v.replace(/Z$/, "").split("T");
    if (/^00:00:00(\.0+)?$/.test(time)) return day;
    throw new TypeError(`expected date, found a timestamp at ${time}, not midnight`);
  },
};

function toInteger(v) {
  if (typeof v === "bigint") return v;
  if (typeof v === "number") {
    if (Number.isInteger(v) && Math.abs(v) <= 2 ** 53) return v;
    throw new TypeError(`expected integer, found the float ${v}, which is not an integer it holds exactly`);
  }
  if (typeof v === "string") {
    const m = /^([+-]?\d+)(?:\.(\d*))?$/.exec(v);
    if (!m) throw new TypeError(`expected integer, found ${JSON.stringify(v)}`);
    if (/[1-9]/.test(m[2] ?? "")) {
      throw new TypeError(`expected integer, found the decimal ${v}, which has a fractional part`);
    }
    const n = BigInt(m[1]);
    return n >= -9007199254740991n && n <= 9007199254740991n ? Number(n) : n;
  }
  return v;
}

function toFloat(v) {
  if (typeof v === "bigint") {
    if (BigInt(Number(v)) === v) return Number(v);
    throw new TypeError(`expected float, found the integer ${v}, which a float does not hold exactly`);
  }
  if (typeof v === "string" && /^[+-]?\d+(\.\d*)?$/.test(v)) {
    const f = Number(v);
    if (Number.isFinite(f) && normalNumber(plainNumber(f)) === normalNumber(v)) return f;
    throw new TypeError(`expected float, found the decimal ${v}, which a float does not hold as written`);
  }
  return v;
}

// A number's shortest form without an exponent (`1e-7` → `0.0000001`).
function plainNumber(f) {
  const s = String(f);
  const m = /^(-?)(\d)(?:\.(\d+))?e([+-]\d+)$/.exec(s);
  if (!m) return s;
  const digits = m[2] + (m[3] ?? "");
  const exp = Number(m[4]);
  if (exp >= 0) {
    const whole = digits.padEnd(exp + 1, "0");
    return m[1] + whole.slice(0, exp + 1) + (digits.length > exp + 1 ? `.${digits.slice(exp + 1)}` : "");
  }
  return `${m[1]}0.${"0".repeat(-exp - 1)}${digits}`;
}

// A plain decimal numeral in one canonical form (`-012.50` → `-12.5`, `-0` → `0`).
function normalNumber(s) {
  let t = String(s);
  const negative = t.startsWith("-");
  t = t.replace(/^[+-]/, "");
  let [whole, fraction = ""] = t.split(".");
  whole = whole.replace(/^0+/, "");
  fraction = fraction.replace(/0+$/, "");
  if (!whole && !fraction) return "0";
  const body = fraction ? `${whole || "0"}.${fraction}` : whole;
  return negative ? `-${body}` : body;
}

const params = (list) => (list ?? []).map(toValue);

// A value of a `json-batches` row: the tagged forms are those plain JSON cannot carry.
function untag(v) {
  if (v === null || typeof v !== "object") return v;
  if ("int" in v) return BigInt(v.int);
  if ("json" in v) return v.json;
  if ("bytes" in v) return Uint8Array.from(v.bytes);
  if ("float" in v) return Number(v.float);
  if ("json_text" in v) return JSON.parse(v.json_text);
  return v;
}

// Whether a value maps to the same SQL value through JSON as through toValue: null, boolean,
// string, a finite number that is a safe integer or not an integer.
function plain(v) {
  switch (typeof v) {
    case "string":
    case "boolean":
    case "undefined":
      return true;
    case "number":
      return Number.isFinite(v) && (Number.isSafeInteger(v) || !Number.isInteger(v));
    default:
      return v === null;
  }
}

const plainSet = (set) => Array.isArray(set) && set.every(plain);

/** A streaming query result: iterate rows, or `.batches(n)` for arrays of rows. */
export class Rows {
  constructor(rows, make, batchSize) {
    this.rows = rows;
    this.columns = rows.columns().map((c) => c.name);
    this.make = make;
    this.batchSize = batchSize;
  }

  /** Up to `max` further rows (the batch size by default); empty at the end. */
  nextBatch(max) {
    const raw = JSON.parse(jsonNextBatch(this.rows, max ?? this.batchSize));
    return raw.map((r) => this.make(this.columns, r));
  }

  /** Arrays of at most `size` rows until the result is exhausted. */
  *batches(size) {
    for (;;) {
      const batch = this.nextBatch(size);
      if (batch.length === 0) return;
      yield batch;
    }
  }

  *[Symbol.iterator]() {
    for (const batch of this.batches()) yield* batch;
  }
}

/** The migration's transaction (or connection, for non-transactional migrations). */
export class Tx {
  constructor(tx) {
    this.tx = tx;
  }

  /** "sqlite", "postgres" or "mysql". */
  get dialect() {
    return this.tx.dialect();
  }

  /** Runs one statement; returns the rows affected (a number). */
  execute(statement, values) {
    return Number(this.tx.execute(statement, params(values)));
  }

  /** Runs one statement once per parameter set, in one host call; returns rows affected. */
  executeBatch(statement, sets) {
    if (sets.length === 0) return 0;
    if (sets.every(plainSet)) {
      return Number(jsonExecuteBatch(this.tx, statement, JSON.stringify(sets)));
    }
    return Number(this.tx.executeBatch(statement, sets.map(params)));
  }

  /**
   * Streams a query's rows: `query(RowClass, sql, params)` builds `new RowClass(object)`
   * from an object keyed by column name; `query(sql, params)` yields those plain objects.
   */
  query(rowOrStatement, statementOrParams, maybeParams, batchSize = 1000) {
    let make;
    let statement;
    let values;
    if (typeof rowOrStatement === "string") {
      statement = rowOrStatement;
      values = statementOrParams;
      make = (cols, r) => objectOf(cols, r);
    } else {
      const Row = rowOrStatement;
      statement = statementOrParams;
      values = maybeParams;
      const declared = Object.entries(Row.types ?? {});
      make = (cols, r) => {
        const o = objectOf(cols, r);
        for (const [name, type] of declared) {
          const c = coercions[type];
          if (c && o[name] !== null && o[name] !== undefined) {
            try {
              o[name] = c(o[name]);
            } catch (e) {
              throw new MigrationError(`${Row.name}.${name}: ${e.message}`);
            }
          }
        }
        return new Row(o);
      };
    }
    return new Rows(this.tx.query(statement, params(values)), make, batchSize);
  }
}

// Portable schema operations (WIT 0.3.0 `schema`) on a Tx: the host writes the dialect's SQL.
Object.assign(Tx.prototype, {
  /** Runs a portable schema operation (`{ tag: "create-table", val: … }`). */
  apply(operation) {
    if (this.allow?.length) schemaApplyAllowing(this.tx, operation, this.allow);
    else schemaApply(this.tx, operation);
  },
  /** This transaction with `retort lint` rules acknowledged for the operations applied through it. */
  allowing(...rules) {
    const t = new Tx(this.tx);
    t.allow = rules;
    return t;
  },
  /** The statements `apply` would run for `operation`, without running them. */
  statements(operation) {
    return schemaStatements(this.tx, operation);
  },
  /** `CREATE TABLE` of `column(…)` values, with `foreignKey`/`unique`/`check` constraints. */
  createTable(name, columns, { primaryKey = [], constraints = [] } = {}) {
    this.apply({ tag: "create-table", val: { name, columns, primaryKey, constraints } });
  },
  dropTable(name) {
    this.apply({ tag: "drop-table", val: name });
  },
  renameTable(from, to) {
    this.apply({ tag: "rename-table", val: [from, to] });
  },
  addColumn(table, column) {
    this.apply({ tag: "add-column", val: [table, column] });
  },
  dropColumn(table, name) {
    this.apply({ tag: "drop-column", val: [table, name] });
  },
  renameColumn(table, from, to) {
    this.apply({ tag: "rename-column", val: [table, from, to] });
  },
  /**
   * Changes a column: `{ type: "varchar(80)", null: false, default: "'x'" }`; what is left
   * out stays, `default: null` drops the default. A table rebuild on SQLite.
   */
  alterColumn(table, column, change = {}) {
    const defaultValue = !("default" in change)
      ? undefined
      : change.default === null
        ? { tag: "drop" }
        : { tag: "set", val: String(change.default) };
    this.apply({
      tag: "alter-column",
      val: {
        table,
        column,
        dataType: change.type === undefined ? undefined : columnType(change.type),
        nullable: change.null,
        defaultValue,
      },
    });
  },
  createIndex(index) {
    this.apply({ tag: "create-index", val: index });
  },
  dropIndex(table, name, concurrently = false) {
    this.apply({ tag: "drop-index", val: [table, name, concurrently] });
  },
  /** Adds a `foreignKey`, `unique` or `check` constraint (a rebuild on SQLite). */
  addConstraint(table, constraint) {
    this.apply({ tag: "add-constraint", val: [table, constraint] });
  },
  /** Drops the `"foreign-key"`, `"unique"` or `"check"` constraint `name`. */
  dropConstraint(table, kind, name) {
    this.apply({ tag: "drop-constraint", val: [table, kind, name] });
  },
  /** Upgrade: keeps a `"view"`, `"function"`, `"procedure"` or `"trigger"` definition. */
  keepDefinition(kind, name) {
    return keepDefinition(this.tx, kind, name);
  },
  /** Downgrade: recreates what the upgrade kept. */
  restoreDefinition(kind, name) {
    return restoreDefinition(this.tx, kind, name);
  },
});

const SIMPLE_TYPES = [
  "boolean", "small-integer", "integer", "big-integer", "float", "double", "text", "bytes",
  "date", "time", "timestamp", "timestamptz", "uuid", "json",
];

/** A portable type from its name: "big-integer", "varchar(40)", "decimal(10, 2)", "native:CITEXT". */
export function columnType(text) {
  const low = String(text).trim().toLowerCase();
  if (SIMPLE_TYPES.includes(low)) return { tag: low };
  let m = /^varchar\(\s*(\d+)\s*\)$/.exec(low);
  if (m) return { tag: "varchar", val: Number(m[1]) };
  m = /^decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)$/.exec(low);
  if (m) return { tag: "decimal", val: { precision: Number(m[1]), scale: Number(m[2]) } };
  if (low.startsWith("native:")) return { tag: "native", val: String(text).trim().slice(7).trim() };
  throw new MigrationError(
    `unknown column type ${JSON.stringify(text)}: one of ${SIMPLE_TYPES.join(", ")}, varchar(n), decimal(p, s), or native:<the dialect's type>`,
  );
}

/** A column: `column("id", "big-integer", { null: false, identity: true, default: "0" })`. */
export function column(name, type, { null: nullable = true, default: defaultValue, identity = false } = {}) {
  return { name, dataType: columnType(type), nullable, defaultValue, identity };
}

/** A foreign key; actions "no-action", "restrict", "cascade", "set-null", "set-default". */
export function foreignKey(name, columns, table, referenced, { onDelete = "no-action", onUpdate = "no-action" } = {}) {
  return {
    tag: "foreign-key",
    val: { name, columns, referencedTable: table, referencedColumns: referenced, onDelete, onUpdate },
  };
}

/** A unique constraint. */
export function unique(name, columns) {
  return { tag: "unique", val: { name, columns } };
}

/** A check constraint (`expression` is SQL). */
export function check(name, expression) {
  return { tag: "check", val: { name, expression } };
}

/** An index: `index("by_status", "orders", ["status"], { unique: true, where: "status <> 'x'" })`. */
export function index(name, table, columns, { unique: isUnique = false, where, concurrently = false } = {}) {
  return { name, table, columns, unique: isUnique, whereClause: where, concurrently };
}

// A row of a `json-batches` batch as an object keyed by column name.
function objectOf(cols, r) {
  const o = {};
  for (let i = 0; i < cols.length; i++) o[cols[i]] = untag(r[i]);
  return o;
}

export function log(message) {
  hostLog("info", String(message));
}

export function warn(message) {
  hostLog("warn", String(message));
}

export function progress(done, total) {
  hostProgress(BigInt(done), total === undefined || total === null ? undefined : BigInt(total));
}

function run(step, tx) {
  try {
    step(new Tx(tx));
  } catch (e) {
    if (e && e.payload && typeof e.payload.tag === "string") throw e.payload; // a database error
    const message = e instanceof Error ? `${e.name}: ${e.message}\n${e.stack ?? ""}` : String(e);
    throw { tag: "migration", val: message };
  }
}

/**
 * Describes a migration: `{ id, parents, description, transactional?, branchLabels?,
 * dependsOn?, requires?: [[database, revision]], capabilities?, upgrade(tx), downgrade(tx) }`.
 * Returns the `metadata`, `upgrade` and `downgrade` functions the component must export.
 */
export function defineMigration(m) {
  return {
    metadata: () => ({
      id: m.id,
      parents: m.parents ?? [],
      description: m.description ?? "",
      transactional: m.transactional ?? true,
      branchLabels: m.branchLabels ?? [],
      dependsOn: m.dependsOn ?? [],
      requires: (m.requires ?? []).map(([database, revision]) => ({ database, revision })),
      capabilities: m.capabilities ?? [],
    }),
    upgrade: (tx) => run((t) => m.upgrade(t), tx),
    downgrade: (tx) => run((t) => m.downgrade(t), tx),
  };
}
