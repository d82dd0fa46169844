"""``sqlalchemy.engine``: the connection ``op.get_bind()`` returns, and ``reflection``."""

from retort_alembic import Connection, Inspector  # noqa: F401

__path__ = []
