"""``sqlalchemy.dialects.sqlite``: its types, written as the dialect's own (``native``) types on
sqlite and as their generic kind elsewhere."""

from retort_alembic import dialect_types as _types

globals().update(_types("sqlite"))
