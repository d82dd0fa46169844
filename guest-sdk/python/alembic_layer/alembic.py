"""Retort's stand-in for ``alembic`` inside an imported revision: ``from alembic import op``
gives Retort's :mod:`retort_alembic` operations. Alembic's ``context`` (its environment) is not
here: Retort owns the connection and the configuration."""

from retort_alembic import op  # noqa: F401

__path__ = []  # so `import alembic.op` finds the layer's module too
