"""``sqlalchemy.sql``: the lightweight table and column constructs of Retort's layer."""

from sqlalchemy import and_, column, false, func, literal_column, or_, table, text, true  # noqa: F401
