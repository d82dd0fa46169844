// JavaScript: portable schema operations — a table made, a column made NOT NULL with a
// default (a rebuild on SQLite), a check added, a view replaced with its old definition kept.
import { defineMigration, check, column, index } from "./retort_guest.js";

export const { metadata, upgrade, downgrade } = defineMigration({
  id: "20261205000700",
  parents: ["20261205000600"],
  description: "JavaScript: portable schema operations",
  upgrade(tx) {
    tx.createTable(
      "js_tags",
      [
        column("id", "big-integer", { null: false, identity: true }),
        column("label", "varchar(40)"),
        column("weight", "decimal(6, 2)", { null: false, default: "1" }),
      ],
      { primaryKey: ["id"], constraints: [check("js_tags_weight", "weight > 0")] },
    );
    tx.execute("INSERT INTO js_tags (label) VALUES ('a'), (NULL)");
    tx.execute("UPDATE js_tags SET label = 'none' WHERE label IS NULL");
    tx.allowing("not-null-without-default").alterColumn("js_tags", "label", { null: false, default: "'none'" });
    tx.createIndex(index("js_tags_label", "js_tags", ["label"], { unique: true }));
    if (!tx.keepDefinition("view", "js_report")) throw new Error("there is no js_report to keep");
    tx.execute("DROP VIEW js_report");
    tx.execute("CREATE VIEW js_report AS SELECT 2 AS version");
  },
  downgrade(tx) {
    if (!tx.restoreDefinition("view", "js_report")) throw new Error("nothing was kept of js_report");
    tx.dropTable("js_tags");
  },
});
