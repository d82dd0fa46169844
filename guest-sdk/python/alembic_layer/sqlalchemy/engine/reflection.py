"""``sqlalchemy.engine.reflection``: ``Inspector.from_engine(op.get_bind())``, as older
revisions write it."""

from retort_alembic import Inspector  # noqa: F401
