"""Retort's stand-in for ``sqlalchemy`` inside an imported Alembic revision: the column types,
``Column`` and constraints ``op`` takes, ``text``/``table``/``column`` for data statements,
``func``, and ``inspect`` over the catalog (docs/alembic.md lists the subset)."""

from retort_alembic import (  # noqa: F401
    BIGINT, BINARY, BLOB, BOOLEAN, CHAR, CLOB, DATE, DATETIME, DECIMAL, DOUBLE, DOUBLE_PRECISION, FLOAT,
    INT, INTEGER, JSON, NCHAR, NUMERIC, NVARCHAR, REAL, SMALLINT, TEXT, TIME, TIMESTAMP, UUID, VARBINARY,
    VARCHAR, BigInteger, Boolean, CheckConstraint, Column, Date, DateTime, Double, Enum, Float, ForeignKey,
    ForeignKeyConstraint, Index, Integer, Interval, LargeBinary, MetaData, Numeric, PrimaryKeyConstraint,
    SmallInteger, String, Table, Text, TextClause, Time, TypeEngine, Unicode, UnicodeText, UniqueConstraint,
    Uuid, and_, column, false, func, inspect, literal_column, or_, table, text, true,
)

__path__ = []  # so `sqlalchemy.dialects.mysql` and `sqlalchemy.sql` import from the layer
