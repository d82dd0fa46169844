"""Alembic side of the Retort benchmarks (driven by bench/harness; not run in CI).

  python alembic_bench.py schema DIR URL N   # write an Alembic env with N revisions (a table + an index each)
  python alembic_bench.py data URL MODE      # MODE row|batch: SQLAlchemy Core data migration over `bulk`

Timing is done by the caller around the whole process, as for Retort.
"""
import os
import sys


def schema(directory, url, n):
    versions = os.path.join(directory, "versions")
    os.makedirs(versions, exist_ok=True)
    with open(os.path.join(directory, "alembic.ini"), "w") as f:
        f.write(f"[alembic]\nscript_location = {directory}\nsqlalchemy.url = {url}\n")
    with open(os.path.join(directory, "env.py"), "w") as f:
        f.write(
            "from alembic import context\n"
            "from sqlalchemy import engine_from_config, pool\n"
            "config = context.config\n"
            "engine = engine_from_config(config.get_section(config.config_ini_section), prefix='sqlalchemy.', poolclass=pool.NullPool)\n"
            "with engine.connect() as connection:\n"
            "    context.configure(connection=connection, target_metadata=None)\n"
            "    with context.begin_transaction():\n"
            "        context.run_migrations()\n"
        )
    with open(os.path.join(directory, "script.py.mako"), "w") as f:
        f.write("")
    previous = None
    for i in range(1, n + 1):
        rev = f"{i:012x}"
        with open(os.path.join(versions, f"{rev}_t.py"), "w") as f:
            f.write(
                "import sqlalchemy as sa\nfrom alembic import op\n"
                f"revision = {rev!r}\ndown_revision = {previous!r}\nbranch_labels = None\ndepends_on = None\n"
                "def upgrade():\n"
                f"    op.create_table('t_{rev}', sa.Column('id', sa.Integer, primary_key=True), sa.Column('v', sa.Integer, nullable=False))\n"
                f"    op.create_index('i_{rev}', 't_{rev}', ['v'])\n"
                "def downgrade():\n"
                f"    op.drop_table('t_{rev}')\n"
            )
        previous = rev


def data(url, mode):
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    meta = sa.MetaData()
    bulk = sa.Table("bulk", meta, autoload_with=engine)
    update = sa.update(bulk).where(bulk.c.id == sa.bindparam("_id")).values(a=sa.bindparam("_a"), b=sa.bindparam("_b"))
    with engine.begin() as conn:
        # Streaming belongs to the SELECT only (a connection-wide option would turn the
        # UPDATEs into server-side cursors too).
        rows = conn.execute(
            sa.select(bulk.c.id, bulk.c.n, bulk.c.s).order_by(bulk.c.id).execution_options(stream_results=True, yield_per=1000)
        )
        if mode == "row":
            for r in rows:
                conn.execute(update, {"_a": r.n * 2 + len(r.s), "_b": f"{r.s}-{r.n}", "_id": r.id})
        else:
            for part in rows.partitions(1000):
                conn.execute(update, [{"_a": r.n * 2 + len(r.s), "_b": f"{r.s}-{r.n}", "_id": r.id} for r in part])


if __name__ == "__main__":
    if sys.argv[1] == "schema":
        schema(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    elif sys.argv[1] == "data":
        data(sys.argv[2], sys.argv[3])
    else:
        sys.exit(__doc__)
