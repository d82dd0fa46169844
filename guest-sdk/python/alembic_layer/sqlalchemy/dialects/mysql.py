"""``sqlalchemy.dialects.mysql``: its types, written as the dialect's own (``native``) types on
mysql and as their generic kind elsewhere."""

from retort_alembic import dialect_types as _types

globals().update(_types("mysql"))
