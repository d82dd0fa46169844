"""Python: portable schema operations — a table made, a column made NOT NULL with a default
(a rebuild on SQLite), a check added, a view replaced with its old definition kept."""

from retort_guest import Migration, Tx, check, column, export, index


class PortableSchema(Migration):
    id = "20261205000600"
    parents = []
    description = "Python: portable schema operations"

    def upgrade(self, tx: Tx) -> None:
        tx.create_table("py_tags", [
            column("id", "big-integer", null=False, identity=True),
            column("label", "varchar(40)"),
            column("weight", "decimal(6, 2)", null=False, default="1"),
        ], primary_key=["id"], constraints=[check("py_tags_weight", "weight > 0")])
        tx.execute("INSERT INTO py_tags (label) VALUES ('a'), (NULL)")
        tx.execute("UPDATE py_tags SET label = 'none' WHERE label IS NULL")
        tx.allowing("not-null-without-default").alter_column("py_tags", "label", null=False,
                                                             default="'none'")
        tx.create_index(index("py_tags_label", "py_tags", ["label"], unique=True))
        if not tx.keep_definition("view", "py_report"):
            raise RuntimeError("there is no py_report to keep")
        tx.execute("DROP VIEW py_report")
        tx.execute("CREATE VIEW py_report AS SELECT 2 AS version")

    def downgrade(self, tx: Tx) -> None:
        if not tx.restore_definition("view", "py_report"):
            raise RuntimeError("nothing was kept of py_report")
        tx.drop_table("py_tags")


WitWorld = export(PortableSchema)
