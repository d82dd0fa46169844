"""Retort's Alembic layer: runs an imported Alembic revision as written.

``retort import --from alembic`` writes each revision as a Python migration holding the file
as it was and, at its end, ``WitWorld = retort_alembic.revision(globals(), id=…, …)``. The
revision's ``from alembic import op`` and ``import sqlalchemy as sa`` resolve to this layer
(its files travel inside the migration's artifact, so a downgrade runs the layer it was
applied with). ``op``'s operations are carried out as Retort's portable schema operations —
the host writes each dialect's SQL, and SQLite's table rebuild where Alembic needs
``batch_alter_table`` — and ``op.get_bind()`` runs statements on the migration's transaction.

The supported subset is listed in docs/alembic.md; anything else fails the migration with a
message naming it, never silently.
"""

import datetime
import decimal
import re
import uuid
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import retort_guest as rg
from retort_guest import Migration, MigrationError, Tx, export

_tx: Optional[Tx] = None


def _current() -> Tx:
    if _tx is None:
        raise MigrationError("`op` is used outside the revision's upgrade() or downgrade()")
    return _tx


def _dialect() -> str:
    """SQLAlchemy's name of the dialect: ``postgresql``, ``mysql`` or ``sqlite``."""
    name = rg._dialect_name(_current().dialect)
    return {"postgres": "postgresql"}.get(name, name)


def _q(name: str) -> str:
    if _dialect() == "mysql":
        return "`" + name.replace("`", "``") + "`"
    return '"' + name.replace('"', '""') + '"'


# ---- SQL text: `:name` parameters, literals, clauses

class _Sql:
    """Something that renders as SQL with positional parameters."""

    def _render(self, params: List[Any]) -> str:
        raise NotImplementedError


def _render(value: Any, params: List[Any]) -> str:
    """``value`` as SQL: a clause renders itself; anything else becomes a parameter."""
    if isinstance(value, _Sql):
        return value._render(params)
    params.append(value)
    return f"${len(params)}"


def _bind(sql: str, named: Dict[str, Any], params: List[Any]) -> str:
    """Replaces ``:name`` parameters (outside literals, quoted names and comments, and not
    PostgreSQL's ``::`` casts) with ``$n``, appending their values to ``params``."""
    out: List[str] = []
    positions: Dict[str, int] = {}
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c in "'\"`":
            end = i + 1
            while end < n:
                if sql[end] == c and end + 1 < n and sql[end + 1] == c:
                    end += 2
                    continue
                if sql[end] == c:
                    break
                end += 1
            out.append(sql[i:end + 1])
            i = end + 1
            continue
        if sql.startswith("--", i):
            end = sql.find("\n", i)
            end = n if end < 0 else end
            out.append(sql[i:end])
            i = end
            continue
        if sql.startswith("/*", i):
            end = sql.find("*/", i + 2)
            end = n if end < 0 else end + 2
            out.append(sql[i:end])
            i = end
            continue
        if c == "\\" and sql.startswith("\\:", i):
            out.append(":")
            i += 2
            continue
        if c == ":" and sql.startswith("::", i):
            out.append("::")
            i += 2
            continue
        if c == ":" and i + 1 < n and (sql[i + 1].isalpha() or sql[i + 1] == "_") and (i == 0 or sql[i - 1] != ":"):
            m = re.match(r"[A-Za-z_][A-Za-z0-9_]*", sql[i + 1:])
            name = m.group(0)
            if name not in named:
                raise MigrationError(f"the statement's parameter :{name} has no value: {sql[:200]}")
            if name not in positions:
                params.append(named[name])
                positions[name] = len(params)
            out.append(f"${positions[name]}")
            i += 1 + len(name)
            continue
        out.append(c)
        i += 1
    return "".join(out)


class TextClause(_Sql):
    """``sa.text("… :name …")``, with :meth:`bindparams`."""

    def __init__(self, text: str, params: Optional[Dict[str, Any]] = None):
        self.text = text
        self._params = dict(params or {})

    def bindparams(self, *args: Any, **values: Any) -> "TextClause":
        return TextClause(self.text, {**self._params, **values})

    def _render(self, params: List[Any]) -> str:
        return _bind(self.text, self._params, params)

    def __str__(self) -> str:
        return self.text


def text(sql: str) -> TextClause:
    return TextClause(sql)


class _Literal(_Sql):
    """SQL written as is (``sa.literal_column``, ``op.inline_literal``, functions)."""

    def __init__(self, sql: str):
        self.sql = sql

    def _render(self, params: List[Any]) -> str:
        return self.sql

    def __str__(self) -> str:
        return self.sql


def literal_column(sql: str, type_: Any = None) -> _Literal:
    return _Literal(sql)


def _literal_sql(value: Any) -> str:
    """``value`` as an SQL literal of the current dialect (for DDL defaults and
    ``op.inline_literal``)."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        if _dialect() == "postgresql":
            return "true" if value else "false"
        return "1" if value else "0"
    if isinstance(value, (int, float, decimal.Decimal)):
        return str(value)
    if isinstance(value, (datetime.date, datetime.time, uuid.UUID)):
        value = value.isoformat() if not isinstance(value, uuid.UUID) else str(value)
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise MigrationError(f"cannot write {value!r} as an SQL literal")


class _Bool(_Literal):
    def __init__(self, value: bool):
        self.value = value

    def _render(self, params: List[Any]) -> str:
        return _literal_sql(self.value)


def true() -> _Bool:
    return _Bool(True)


def false() -> _Bool:
    return _Bool(False)


class _Function(_Literal):
    def __init__(self, name: str, args: Sequence[Any]):
        self.name, self.args = name, list(args)

    def _render(self, params: List[Any]) -> str:
        low = self.name.lower()
        if low in ("now", "current_timestamp") and not self.args:
            # As SQLAlchemy compiles it: now() on PostgreSQL and MySQL.
            return "now()" if _dialect() in ("postgresql", "mysql") else "CURRENT_TIMESTAMP"
        if low in ("current_date", "current_time") and not self.args:
            return low.upper()
        return f"{self.name}({', '.join(_render(a, params) for a in self.args)})"

    def __str__(self) -> str:
        return self._render([])


class _Functions:
    """``sa.func.name(args)``."""

    def __getattr__(self, name: str) -> Any:
        return lambda *args, **kw: _Function(name, args)


func = _Functions()


def _default_sql(default: Any) -> Optional[str]:
    """A ``server_default`` as the SQL expression the portable operations take."""
    if default is None:
        return None
    if isinstance(default, str):
        return _literal_sql(default)
    if isinstance(default, _Sql):
        return default._render([])
    if isinstance(default, (bool, int, float, decimal.Decimal)):
        return _literal_sql(default)
    raise MigrationError(f"server_default {default!r}: give a string, sa.text(...) or sa.func")


# ---- types: written as SQLAlchemy's compiler writes them for the dialect, so a revision
# builds the columns Alembic would (passed to the portable operations as native types)

class TypeEngine:
    """A column type: the DDL SQLAlchemy writes for it on each dialect."""

    def __call__(self, *args: Any, **kw: Any) -> "TypeEngine":
        return self

    def _ddl(self, dialect: str) -> str:
        raise NotImplementedError

    def _type(self) -> str:
        return "native:" + self._ddl(_dialect())

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _type_class(name: str, ddl: Any) -> type:
    """A type without arguments: ``ddl`` is its DDL, or a dict of it by dialect."""

    class _T(TypeEngine):
        def __init__(self, *args: Any, **kw: Any):
            self.args, self.kw = args, kw

        def _ddl(self, dialect: str) -> str:
            return ddl.get(dialect, ddl.get("")) if isinstance(ddl, dict) else ddl

    _T.__name__ = name
    return _T


Integer = _type_class("Integer", "INTEGER")
INTEGER = INT = Integer
BigInteger = _type_class("BigInteger", "BIGINT")
BIGINT = BigInteger
SmallInteger = _type_class("SmallInteger", "SMALLINT")
SMALLINT = SmallInteger
Boolean = _type_class("Boolean", {"mysql": "BOOL", "": "BOOLEAN"})
BOOLEAN = Boolean
Text = _type_class("Text", "TEXT")
TEXT = UnicodeText = CLOB = Text
Date = _type_class("Date", "DATE")
DATE = Date
LargeBinary = _type_class("LargeBinary", {"postgresql": "BYTEA", "": "BLOB"})
BLOB = LargeBinary
JSON = _type_class("JSON", "JSON")
Uuid = _type_class("Uuid", {"postgresql": "UUID", "": "CHAR(32)"})
UUID = Uuid
Interval = _type_class("Interval", {"postgresql": "INTERVAL", "": "DATETIME"})


class Float(TypeEngine):
    def __init__(self, precision: Optional[int] = None, *args: Any, **kw: Any):
        self.precision = precision

    def _ddl(self, dialect: str) -> str:
        return "FLOAT" if self.precision is None else f"FLOAT({self.precision})"


FLOAT = Float
REAL = _type_class("REAL", "REAL")
DOUBLE = Double = _type_class("Double", {"postgresql": "DOUBLE PRECISION", "": "DOUBLE"})
DOUBLE_PRECISION = _type_class("DOUBLE_PRECISION", "DOUBLE PRECISION")


class String(TypeEngine):
    name = "VARCHAR"

    def __init__(self, length: Optional[int] = None, *args: Any, **kw: Any):
        self.length = length

    def _ddl(self, dialect: str) -> str:
        if self.length is None:
            if dialect == "mysql":
                raise MigrationError(f"{type(self).__name__} without a length: MySQL needs one")
            return self.name
        return f"{self.name}({self.length})"


VARCHAR = Unicode = String
NVARCHAR = type("NVARCHAR", (String,), {"name": "NVARCHAR"})
CHAR = type("CHAR", (String,), {"name": "CHAR"})
NCHAR = type("NCHAR", (String,), {"name": "NCHAR"})


class _Binary(String):
    name = "VARBINARY"


VARBINARY = _Binary
BINARY = type("BINARY", (String,), {"name": "BINARY"})


class Numeric(TypeEngine):
    name = "NUMERIC"

    def __init__(self, precision: Optional[int] = None, scale: Optional[int] = None, *args: Any, **kw: Any):
        self.precision, self.scale = precision, scale

    def _ddl(self, dialect: str) -> str:
        if self.precision is None:
            return self.name
        if self.scale is None:
            return f"{self.name}({self.precision})"
        return f"{self.name}({self.precision}, {self.scale})"


NUMERIC = Numeric
DECIMAL = type("DECIMAL", (Numeric,), {"name": "DECIMAL"})


class DateTime(TypeEngine):
    def __init__(self, timezone: bool = False, *args: Any, **kw: Any):
        self.timezone = timezone

    def _ddl(self, dialect: str) -> str:
        if dialect == "postgresql":
            return "TIMESTAMP WITH TIME ZONE" if self.timezone else "TIMESTAMP WITHOUT TIME ZONE"
        return "DATETIME"


DATETIME = DateTime


class TIMESTAMP(DateTime):
    def _ddl(self, dialect: str) -> str:
        if dialect == "postgresql":
            return super()._ddl(dialect)
        return "TIMESTAMP"


class Time(TypeEngine):
    def __init__(self, timezone: bool = False, *args: Any, **kw: Any):
        self.timezone = timezone

    def _ddl(self, dialect: str) -> str:
        if dialect == "postgresql":
            return "TIME WITH TIME ZONE" if self.timezone else "TIME WITHOUT TIME ZONE"
        return "TIME"


TIME = Time


class Enum(TypeEngine):
    """An enum: MySQL's ``ENUM(…)``; elsewhere a ``VARCHAR`` as long as its longest value (a
    native PostgreSQL enum type is not created: write it with ``op.execute``)."""

    def __init__(self, *values: Any, **kw: Any):
        if len(values) == 1 and not isinstance(values[0], str):
            values = tuple(getattr(m, "name", str(m)) for m in values[0])
        self.values = [str(v) for v in values]

    def _ddl(self, dialect: str) -> str:
        if dialect == "mysql":
            return "ENUM(" + ",".join(_literal_sql(v) for v in self.values) + ")"
        return f"VARCHAR({max([len(v) for v in self.values] or [1])})"


class _DialectType(TypeEngine):
    """A type of ``sqlalchemy.dialects.<dialect>``: the dialect's own on its dialect, its
    generic kind elsewhere."""

    dialect = ""
    name = ""
    generic: Any = Text

    def __init__(self, *args: Any, **kw: Any):
        self.args = [a for a in args if not isinstance(a, bool)]
        self.kw = kw

    def _ddl(self, dialect: str) -> str:
        if dialect != self.dialect:
            return self.generic()._ddl(dialect)
        args = list(self.args)
        for key in ("length", "precision", "scale", "display_width", "fsp"):
            if key in self.kw and self.kw[key] is not None:
                args.append(self.kw[key])
        sql = self.name + (f"({', '.join(str(a) for a in args)})" if args else "")
        if self.kw.get("unsigned"):
            sql += " UNSIGNED"
        if self.kw.get("zerofill"):
            sql += " ZEROFILL"
        if self.kw.get("timezone"):
            sql = sql.replace("TIMESTAMP", "TIMESTAMP WITH TIME ZONE")
        return sql


_DIALECT_TYPES = {
    "mysql": {
        "INTEGER": Integer, "INT": Integer, "BIGINT": BigInteger, "SMALLINT": SmallInteger,
        "TINYINT": SmallInteger, "MEDIUMINT": Integer, "BIT": Integer, "YEAR": Integer,
        "VARCHAR": Text, "CHAR": Text, "TEXT": Text, "TINYTEXT": Text, "MEDIUMTEXT": Text,
        "LONGTEXT": Text, "DATETIME": DateTime, "TIMESTAMP": DateTime, "DATE": Date, "TIME": Time,
        "DOUBLE": Double, "FLOAT": Float, "DECIMAL": Numeric, "NUMERIC": Numeric, "BLOB": LargeBinary,
        "LONGBLOB": LargeBinary, "MEDIUMBLOB": LargeBinary, "VARBINARY": LargeBinary,
        "BINARY": LargeBinary, "JSON": JSON, "BOOLEAN": Boolean, "ENUM": Text, "SET": Text,
    },
    "postgresql": {
        "INTEGER": Integer, "BIGINT": BigInteger, "SMALLINT": SmallInteger, "VARCHAR": Text,
        "TEXT": Text, "JSONB": JSON, "JSON": JSON, "UUID": Uuid, "BYTEA": LargeBinary,
        "TIMESTAMP": DateTime, "DATE": Date, "TIME": Time, "DOUBLE_PRECISION": Double,
        "REAL": Float, "NUMERIC": Numeric, "BOOLEAN": Boolean, "INTERVAL": Text, "INET": Text,
        "CIDR": Text, "CITEXT": Text, "ARRAY": Text, "ENUM": Text, "TSVECTOR": Text, "HSTORE": Text,
        "MONEY": Numeric,
    },
    "sqlite": {
        "INTEGER": Integer, "TEXT": Text, "REAL": Float, "BLOB": LargeBinary, "NUMERIC": Numeric,
        "VARCHAR": Text, "DATETIME": DateTime, "DATE": Date, "TIME": Time, "BOOLEAN": Boolean,
        "JSON": JSON,
    },
}


def dialect_types(dialect: str) -> Dict[str, type]:
    """The classes of ``sqlalchemy.dialects.<dialect>`` (``mysql.INTEGER(unsigned=True)``)."""
    out: Dict[str, type] = {}
    for name, generic in _DIALECT_TYPES[dialect].items():
        sql_name = name.replace("_", " ")
        out[name] = type(name, (_DialectType,), {"dialect": dialect, "name": sql_name, "generic": generic})
    if dialect == "mysql":
        out["DOUBLE_PRECISION"] = out["DOUBLE"]
    return out


def _integer(t: Any) -> Optional[str]:
    """``INTEGER``, ``BIGINT`` or ``SMALLINT`` for an integer type, else ``None``."""
    if isinstance(t, type):
        t = t()
    while isinstance(t, _DialectType):
        t = t.generic()
    for cls, name in ((BigInteger, "BIGINT"), (SmallInteger, "SMALLINT"), (Integer, "INTEGER")):
        if isinstance(t, cls):
            return name
    return None


def _type_name(t: Any) -> str:
    """The portable type name of a type class or instance."""
    if isinstance(t, type) and issubclass(t, TypeEngine):
        t = t()
    if isinstance(t, TypeEngine):
        return t._type()
    raise MigrationError(f"{t!r} is not a column type this layer knows (docs/alembic.md)")


# ---- tables, columns, constraints

class ForeignKey:
    """``sa.ForeignKey("table.column", ondelete=…)`` on a column."""

    def __init__(self, target: str, name: Optional[str] = None, ondelete: Optional[str] = None,
                 onupdate: Optional[str] = None, **kw: Any):
        self.table, _, self.column = str(target).rpartition(".")
        self.name, self.ondelete, self.onupdate = name, ondelete, onupdate


def _action(a: Optional[str]) -> str:
    return "no-action" if a is None else a.strip().lower().replace(" ", "-")


class Constraint:
    name: Optional[str] = None


class PrimaryKeyConstraint(Constraint):
    def __init__(self, *columns: str, name: Optional[str] = None, **kw: Any):
        self.columns, self.name = list(columns), name


class UniqueConstraint(Constraint):
    def __init__(self, *columns: str, name: Optional[str] = None, **kw: Any):
        self.columns, self.name = list(columns), name


class ForeignKeyConstraint(Constraint):
    def __init__(self, columns: Sequence[str], refcolumns: Sequence[str], name: Optional[str] = None,
                 ondelete: Optional[str] = None, onupdate: Optional[str] = None, **kw: Any):
        self.columns = list(columns)
        self.refs = [str(r) for r in refcolumns]
        self.name, self.ondelete, self.onupdate = name, ondelete, onupdate


class CheckConstraint(Constraint):
    def __init__(self, sqltext: Any, name: Optional[str] = None, **kw: Any):
        self.sqltext, self.name = str(sqltext), name


class Index:
    def __init__(self, name: str, *columns: Any, unique: bool = False, **kw: Any):
        self.name, self.columns, self.unique, self.kw = name, [str(c) for c in columns], unique, kw


class Column(_Sql):
    """``sa.Column(name, type, *constraints, nullable=, server_default=, primary_key=, …)``; in
    a data statement (``sa.column``), a column to compare and assign."""

    def __init__(self, name: str, type_: Any = None, *args: Any, nullable: Optional[bool] = None,
                 server_default: Any = None, primary_key: bool = False, autoincrement: Any = "auto",
                 unique: bool = False, index: bool = False, default: Any = None, comment: Any = None,
                 **kw: Any):
        if isinstance(type_, (ForeignKey, Constraint)):
            args = (type_,) + args
            type_ = None
        self.name, self.type = name, type_
        self.foreign_keys = [a for a in args if isinstance(a, ForeignKey)]
        self.primary_key = primary_key
        self.nullable = (not primary_key) if nullable is None else nullable
        self.server_default = server_default
        self.autoincrement, self.unique, self.index = autoincrement, unique, index

    def _render(self, params: List[Any]) -> str:
        return _q(self.name)

    def _portable(self, serial: bool = False) -> Any:
        if self.type is None:
            raise MigrationError(f"column {self.name!r} has no type")
        type_name, identity = _type_name(self.type), False
        if serial and _dialect() == "postgresql":
            type_name = "native:" + {"INTEGER": "SERIAL", "BIGINT": "BIGSERIAL",
                                     "SMALLINT": "SMALLSERIAL"}[_integer(self.type)]
        elif serial and _dialect() == "mysql":
            identity = True
        return rg.column(self.name, type_name, null=self.nullable,
                         default=_default_sql(self.server_default), identity=identity)

    # Comparisons for data statements: `t.c.id == 3`.
    def _cmp(self, op_: str, other: Any) -> "_Condition":
        return _Condition(self, op_, other)

    def __eq__(self, other: Any) -> "_Condition":  # type: ignore[override]
        return self._cmp("IS" if other is None else "=", other)

    def __ne__(self, other: Any) -> "_Condition":  # type: ignore[override]
        return self._cmp("IS NOT" if other is None else "<>", other)

    def __lt__(self, other: Any) -> "_Condition":
        return self._cmp("<", other)

    def __le__(self, other: Any) -> "_Condition":
        return self._cmp("<=", other)

    def __gt__(self, other: Any) -> "_Condition":
        return self._cmp(">", other)

    def __ge__(self, other: Any) -> "_Condition":
        return self._cmp(">=", other)

    def is_(self, other: Any) -> "_Condition":
        return self._cmp("IS", other)

    def isnot(self, other: Any) -> "_Condition":
        return self._cmp("IS NOT", other)

    is_not = isnot

    def in_(self, values: Sequence[Any]) -> "_Condition":
        return _Condition(self, "IN", list(values))

    def like(self, pattern: str) -> "_Condition":
        return self._cmp("LIKE", pattern)

    __hash__ = object.__hash__


def column(name: str, type_: Any = None, **kw: Any) -> Column:
    return Column(name, type_)


class _Condition(_Sql):
    def __init__(self, left: Any, op_: str, right: Any):
        self.left, self.op, self.right = left, op_, right

    def _render(self, params: List[Any]) -> str:
        left = _render(self.left, params)
        if self.op == "IN":
            return f"{left} IN ({', '.join(_render(v, params) for v in self.right) or 'NULL'})"
        if self.right is None:
            return f"{left} {self.op} NULL"
        return f"{left} {self.op} {_render(self.right, params)}"

    def __and__(self, other: Any) -> "_Condition":
        return _Condition(self, "AND", other)

    def __or__(self, other: Any) -> "_Condition":
        return _Condition(self, "OR", other)


def and_(*conditions: Any) -> _Sql:
    return _Literal("1 = 1") if not conditions else _join("AND", conditions)


def or_(*conditions: Any) -> _Sql:
    return _Literal("1 = 0") if not conditions else _join("OR", conditions)


def _join(word: str, conditions: Sequence[Any]) -> _Sql:
    class _J(_Sql):
        def _render(self, params: List[Any]) -> str:
            return "(" + f" {word} ".join(_render(c, params) for c in conditions) + ")"
    return _J()


class _Columns:
    """``table.c``: the columns by name."""

    def __init__(self, columns: Sequence[Column]):
        self._by_name = {c.name: c for c in columns}

    def __getattr__(self, name: str) -> Column:
        try:
            return self._by_name[name]
        except KeyError:
            raise MigrationError(f"the table declares no column {name!r}") from None

    def __getitem__(self, name: str) -> Column:
        return self.__getattr__(name)

    def __iter__(self) -> Iterator[Column]:
        return iter(self._by_name.values())

    def keys(self) -> List[str]:
        return list(self._by_name)


class Table:
    """``sa.table(name, sa.column(...), …)`` — a table as this revision knows it — or what
    ``op.create_table`` returns."""

    def __init__(self, name: str, *columns: Any, **kw: Any):
        self.name = name
        self.columns = [c for c in columns if isinstance(c, Column)]
        self.c = _Columns(self.columns)

    def insert(self) -> "_Insert":
        return _Insert(self)

    def update(self) -> "_Update":
        return _Update(self)

    def delete(self) -> "_Delete":
        return _Delete(self)


def table(name: str, *columns: Any, **kw: Any) -> Table:
    return Table(name, *columns)


class _Where:
    def __init__(self, table_: Table):
        self.table, self.condition, self.assigned = table_, None, {}

    def where(self, *conditions: Any) -> Any:
        for c in conditions:
            self.condition = c if self.condition is None else _Condition(self.condition, "AND", c)
        return self

    def values(self, *args: Any, **values: Any) -> Any:
        if args and isinstance(args[0], dict):
            values = {**args[0], **values}
        self.assigned.update({getattr(k, "name", k): v for k, v in values.items()})
        return self

    def _where(self, params: List[Any]) -> str:
        return "" if self.condition is None else " WHERE " + _render(self.condition, params)


class _Insert(_Where, _Sql):
    def _render(self, params: List[Any]) -> str:
        names = list(self.assigned)
        values = ", ".join(_render(self.assigned[n], params) for n in names)
        return f"INSERT INTO {_q(self.table.name)} ({', '.join(_q(n) for n in names)}) VALUES ({values})"


class _Update(_Where, _Sql):
    def _render(self, params: List[Any]) -> str:
        sets = ", ".join(f"{_q(n)} = {_render(v, params)}" for n, v in self.assigned.items())
        return f"UPDATE {_q(self.table.name)} SET {sets}" + self._where(params)


class _Delete(_Where, _Sql):
    def _render(self, params: List[Any]) -> str:
        return f"DELETE FROM {_q(self.table.name)}" + self._where(params)


class MetaData:
    """Accepted as an argument; ``create_all`` is not run in a revision (see docs/alembic.md:
    ``--baseline``)."""

    def __init__(self, *args: Any, **kw: Any):
        pass

    def create_all(self, *args: Any, **kw: Any) -> None:
        raise MigrationError("metadata.create_all() builds today's models, not this revision's: "
                             "give the schema as the baseline revision (docs/alembic.md)")


# ---- running statements: op.execute and op.get_bind()

class Row(tuple):
    """A result row: a tuple whose values are also attributes and ``row._mapping`` keys."""

    _fields: Tuple[str, ...] = ()

    def __getattr__(self, name: str) -> Any:
        try:
            return self[self._fields.index(name)]
        except ValueError:
            raise AttributeError(name) from None

    @property
    def _mapping(self) -> Dict[str, Any]:
        return dict(zip(self._fields, self))


class Result:
    """Rows of a statement run through ``op.get_bind().execute``, read at once."""

    def __init__(self, keys: List[str], rows: List[Row], rowcount: int):
        self._keys, self._rows, self.rowcount = keys, rows, rowcount

    def keys(self) -> List[str]:
        return list(self._keys)

    def __iter__(self) -> Iterator[Row]:
        return iter(self._rows)

    def fetchall(self) -> List[Row]:
        return list(self._rows)

    all = fetchall

    def fetchone(self) -> Optional[Row]:
        return self._rows.pop(0) if self._rows else None

    def first(self) -> Optional[Row]:
        return self._rows[0] if self._rows else None

    def scalar(self) -> Any:
        return self._rows[0][0] if self._rows else None

    def scalar_one(self) -> Any:
        if len(self._rows) != 1:
            raise MigrationError(f"expected one row, the statement returned {len(self._rows)}")
        return self._rows[0][0]

    def scalars(self) -> List[Any]:
        return [r[0] for r in self._rows]

    def mappings(self) -> List[Dict[str, Any]]:
        return [r._mapping for r in self._rows]


_RETURNS_ROWS = re.compile(r"^\s*(\(\s*)*(SELECT|WITH|VALUES|SHOW|PRAGMA|EXPLAIN|DESCRIBE)\b|\bRETURNING\b", re.I)


def _statement(statement: Any, parameters: Any = None) -> Tuple[str, List[Any], Optional[List[Dict[str, Any]]]]:
    """(SQL with ``$n`` parameters, their values, or the named sets of an executemany)."""
    if isinstance(parameters, (list, tuple)) and parameters and isinstance(parameters[0], dict):
        return ("", [], list(parameters))
    named = dict(parameters or {})
    params: List[Any] = []
    if isinstance(statement, str):
        return (_bind(statement, named, params) if named else statement, params, None)
    if isinstance(statement, TextClause):
        return (TextClause(statement.text, {**statement._params, **named})._render(params), params, None)
    if isinstance(statement, _Sql):
        return (statement._render(params), params, None)
    raise MigrationError(f"cannot run {type(statement).__name__}: give SQL, sa.text(...) or a "
                         f"sa.table(...) insert/update/delete (docs/alembic.md)")


def _execute(statement: Any, parameters: Any = None) -> Result:
    tx = _current()
    sql, params, many = _statement(statement, parameters)
    if many is not None:
        if not isinstance(statement, (str, TextClause)):
            raise MigrationError("several parameter sets go with SQL text")
        raw = statement if isinstance(statement, str) else statement.text
        sets = []
        first_sql = ""
        for named in many:
            ps: List[Any] = []
            first_sql = _bind(raw, named, ps)
            sets.append(ps)
        return Result([], [], tx.execute_batch(first_sql, sets))
    if _RETURNS_ROWS.search(sql):
        rows = tx.query(tuple, sql, params)
        keys = rows.columns
        cls = type("Row", (Row,), {"_fields": tuple(keys)})
        out = [cls(r) for r in rows]
        return Result(keys, out, len(out))
    return Result([], [], tx.execute(sql, params))


class _DialectInfo:
    def __init__(self, name: str):
        self.name = name


class Connection:
    """``op.get_bind()``: the migration's transaction."""

    @property
    def dialect(self) -> _DialectInfo:
        return _DialectInfo(_dialect())

    @property
    def engine(self) -> "Connection":
        return self

    def execute(self, statement: Any, parameters: Any = None, **kw: Any) -> Result:
        return _execute(statement, parameters)

    def exec_driver_sql(self, statement: str, parameters: Any = None) -> Result:
        if isinstance(parameters, (list, tuple)) and parameters and not isinstance(parameters[0], dict):
            sql = statement.replace("%s", "{}").replace("?", "{}")
            sql = sql.format(*[f"${i + 1}" for i in range(len(parameters))])
            return Result(*_positional(sql, list(parameters)))
        return _execute(statement, parameters)

    def scalar(self, statement: Any, parameters: Any = None) -> Any:
        return _execute(statement, parameters).scalar()


def _positional(sql: str, params: List[Any]) -> Tuple[List[str], List[Row], int]:
    tx = _current()
    if _RETURNS_ROWS.search(sql):
        rows = tx.query(tuple, sql, params)
        cls = type("Row", (Row,), {"_fields": tuple(rows.columns)})
        out = [cls(r) for r in rows]
        return (rows.columns, out, len(out))
    return ([], [], tx.execute(sql, params))


# ---- the inspector

class Inspector:
    """``sa.inspect(op.get_bind())``: what the catalog says now."""

    @classmethod
    def from_engine(cls, bind: Any) -> "Inspector":
        return cls()

    def _rows(self, sql: Dict[str, str], *params: Any) -> List[Row]:
        return _execute(_Raw(sql[_dialect()], list(params))).fetchall()

    def get_table_names(self, schema: Optional[str] = None) -> List[str]:
        return [r[0] for r in self._rows({
            "postgresql": "SELECT tablename FROM pg_tables WHERE schemaname = current_schema() "
                          "AND tablename NOT LIKE 'retort\\_%' ORDER BY tablename",
            "mysql": "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE() "
                     "AND table_type = 'BASE TABLE' AND table_name NOT LIKE 'retort\\_%' ORDER BY table_name",
            "sqlite": "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' "
                      "ESCAPE '\\' AND name NOT LIKE 'retort\\_%' ESCAPE '\\' ORDER BY name",
        })]

    def has_table(self, table_name: str, schema: Optional[str] = None) -> bool:
        return table_name in self.get_table_names()

    def get_columns(self, table_name: str, schema: Optional[str] = None) -> List[Dict[str, Any]]:
        rows = self._rows({
            "postgresql": "SELECT column_name, data_type, is_nullable = 'YES', column_default FROM "
                          "information_schema.columns WHERE table_schema = current_schema() AND "
                          "table_name = $1 ORDER BY ordinal_position",
            "mysql": "SELECT column_name, column_type, is_nullable = 'YES', column_default FROM "
                     "information_schema.columns WHERE table_schema = DATABASE() AND table_name = $1 "
                     "ORDER BY ordinal_position",
            "sqlite": "SELECT name, type, \"notnull\" = 0, dflt_value FROM pragma_table_info($1) ORDER BY cid",
        }, table_name)
        return [{"name": r[0], "type": r[1], "nullable": bool(r[2]), "default": r[3]} for r in rows]

    def get_indexes(self, table_name: str, schema: Optional[str] = None) -> List[Dict[str, Any]]:
        rows = self._rows({
            "postgresql": "SELECT i.relname, ix.indisunique, a.attname FROM pg_index ix JOIN pg_class t ON "
                          "t.oid = ix.indrelid JOIN pg_class i ON i.oid = ix.indexrelid JOIN pg_attribute a "
                          "ON a.attrelid = t.oid AND a.attnum = ANY(ix.indkey) WHERE t.relname = $1 AND "
                          "t.relnamespace = current_schema()::regnamespace AND NOT ix.indisprimary "
                          "ORDER BY i.relname, array_position(ix.indkey, a.attnum)",
            "mysql": "SELECT index_name, non_unique = 0, column_name FROM information_schema.statistics "
                     "WHERE table_schema = DATABASE() AND table_name = $1 AND index_name <> 'PRIMARY' "
                     "ORDER BY index_name, seq_in_index",
            "sqlite": "SELECT il.name, il.\"unique\", ii.name FROM pragma_index_list($1) il, "
                      "pragma_index_info(il.name) ii WHERE il.origin = 'c' ORDER BY il.name, ii.seqno",
        }, table_name)
        out: Dict[str, Dict[str, Any]] = {}
        for name, unique, col in rows:
            out.setdefault(name, {"name": name, "unique": bool(unique), "column_names": []})["column_names"].append(col)
        return list(out.values())

    def _index_table(self, index_name: str) -> Optional[str]:
        rows = self._rows({
            "postgresql": "SELECT tablename FROM pg_indexes WHERE schemaname = current_schema() AND indexname = $1",
            "mysql": "SELECT DISTINCT table_name FROM information_schema.statistics WHERE "
                     "table_schema = DATABASE() AND index_name = $1",
            "sqlite": "SELECT tbl_name FROM sqlite_master WHERE type = 'index' AND name = $1",
        }, index_name)
        return rows[0][0] if rows else None

    def _constraint_kind(self, table_name: str, name: str) -> Optional[str]:
        if _dialect() == "sqlite":
            return None
        rows = self._rows({
            "postgresql": "SELECT contype FROM pg_constraint WHERE conname = $1 AND conrelid = "
                          "(SELECT oid FROM pg_class WHERE relname = $2 AND relnamespace = "
                          "current_schema()::regnamespace)",
            "mysql": "SELECT constraint_type FROM information_schema.table_constraints WHERE "
                     "constraint_schema = DATABASE() AND constraint_name = $1 AND table_name = $2",
        }, name, table_name)
        if not rows:
            return None
        kind = str(rows[0][0]).lower()
        return {"f": "foreignkey", "u": "unique", "c": "check", "p": "primary", "foreign key": "foreignkey",
                "primary key": "primary"}.get(kind, kind)


class _Raw(_Sql):
    def __init__(self, sql: str, params: List[Any]):
        self.sql, self.params = sql, params

    def _render(self, params: List[Any]) -> str:
        params.extend(self.params)
        return self.sql


def inspect(bind: Any) -> Inspector:
    return Inspector()


# ---- op

class Operations:
    """Alembic's ``op``, over the migration's transaction."""

    def get_bind(self) -> Connection:
        _current()
        return Connection()

    def get_context(self) -> Any:
        raise MigrationError("Alembic's migration context is its environment, which Retort owns: "
                             "use op.get_bind() for the connection")

    def f(self, name: str) -> str:
        return name

    def inline_literal(self, value: Any, type_: Any = None) -> _Literal:
        return _Literal(_literal_sql(value))

    def execute(self, sqltext: Any, execution_options: Any = None) -> None:
        _execute(sqltext)

    def bulk_insert(self, table_: Table, rows: Sequence[Dict[str, Any]], multiinsert: bool = True) -> None:
        if not rows:
            return
        # As SQLAlchemy's executemany: the first row's keys, in the table's column order.
        declared = [c.name for c in table_.columns]
        names = [n for n in declared if n in rows[0]] if declared else list(rows[0])
        if declared:
            unknown = [k for k in rows[0] if k not in declared]
            if unknown:
                raise MigrationError(f"bulk_insert into {table_.name}: the table declares no column "
                                     f"{', '.join(unknown)}")
        sql = (f"INSERT INTO {_q(table_.name)} ({', '.join(_q(n) for n in names)}) "
               f"VALUES ({', '.join(f'${i + 1}' for i in range(len(names)))})")
        sets = []
        for row in rows:
            if set(row) != set(names):
                raise MigrationError(f"bulk_insert into {table_.name}: every row gives the columns the "
                                     f"first does ({', '.join(names)}); this one gives {', '.join(row)}")
            sets.append([_value(row[n]) for n in names])
        _current().execute_batch(sql, sets)

    # -- tables
    def create_table(self, table_name: str, *items: Any, **kw: Any) -> Table:
        columns = [c for c in items if isinstance(c, Column)]
        primary = [c.name for c in columns if c.primary_key]
        constraints: List[Any] = []
        indexes: List[Any] = []
        for item in items:
            if isinstance(item, PrimaryKeyConstraint):
                primary = list(item.columns)
            elif isinstance(item, (UniqueConstraint, ForeignKeyConstraint, CheckConstraint)):
                constraints.append(_constraint(table_name, item, constraints))
            elif isinstance(item, Index):
                indexes.append(item)
        sole = primary[0] if len(primary) == 1 else None
        portable = []
        for c in columns:
            # SQLAlchemy's autoincrement: a sole integer primary key is SERIAL on PostgreSQL,
            # AUTO_INCREMENT on MySQL, and SQLite's rowid (INTEGER and a PRIMARY KEY).
            serial = c.name == sole and c.autoincrement is not False and _integer(c.type) is not None
            portable.append(c._portable(serial=serial))
            for fk in c.foreign_keys:
                constraints.append(rg.foreign_key(
                    fk.name or _unnamed_foreign_key(table_name, [c.name], constraints), [c.name], fk.table,
                    [fk.column], on_delete=_action(fk.ondelete), on_update=_action(fk.onupdate)))
            if c.unique:
                constraints.append(rg.unique(_unnamed_unique(table_name, [c.name]), [c.name]))
            if c.index:
                indexes.append(Index(f"ix_{table_name}_{c.name}", c.name))
        _current().create_table(table_name, portable, primary, constraints)
        for index in indexes:
            self.create_index(index.name, table_name, index.columns, unique=index.unique, **index.kw)
        return Table(table_name, *columns)

    def drop_table(self, table_name: str, **kw: Any) -> None:
        _current().drop_table(table_name)

    def rename_table(self, old_table_name: str, new_table_name: str, **kw: Any) -> None:
        _current().rename_table(old_table_name, new_table_name)

    # -- columns
    def add_column(self, table_name: str, column_: Column, **kw: Any) -> None:
        _current().add_column(table_name, column_._portable())
        for fk in column_.foreign_keys:
            self.create_foreign_key(fk.name or f"{table_name}_{column_.name}_fkey", table_name, fk.table,
                                    [column_.name], [fk.column], ondelete=fk.ondelete, onupdate=fk.onupdate)
        if column_.unique:
            self.create_unique_constraint(None, table_name, [column_.name])
        if column_.index:
            self.create_index(f"ix_{table_name}_{column_.name}", table_name, [column_.name])

    def drop_column(self, table_name: str, column_name: str, **kw: Any) -> None:
        _current().drop_column(table_name, column_name)

    def alter_column(self, table_name: str, column_name: str, nullable: Optional[bool] = None,
                     comment: Any = False, server_default: Any = False, new_column_name: Optional[str] = None,
                     type_: Any = None, **kw: Any) -> None:
        changes: Dict[str, Any] = {}
        if type_ is not None:
            changes["type"] = _type_name(type_)
        if nullable is not None:
            changes["null"] = nullable
        if server_default is not False:
            changes["default"] = _default_sql(server_default)
        if changes:
            _current().alter_column(table_name, column_name, **changes)
        if new_column_name is not None and new_column_name != column_name:
            _current().rename_column(table_name, column_name, new_column_name)

    # -- indexes and constraints
    def create_index(self, index_name: str, table_name: str, columns: Sequence[Any], unique: bool = False,
                     **kw: Any) -> None:
        where = kw.get(f"{_dialect()}_where")
        cols = [str(c) if not isinstance(c, Column) else c.name for c in columns]
        _current().create_index(rg.index(index_name, table_name, cols, unique=unique,
                                         where=None if where is None else str(where),
                                         concurrently=bool(kw.get("postgresql_concurrently"))))

    def drop_index(self, index_name: str, table_name: Optional[str] = None, **kw: Any) -> None:
        table_name = table_name or Inspector()._index_table(index_name)
        if table_name is None:
            raise MigrationError(f"drop_index: there is no index {index_name!r} to drop")
        _current().drop_index(table_name, index_name, bool(kw.get("postgresql_concurrently")))

    def create_unique_constraint(self, constraint_name: Optional[str], table_name: str, columns: Sequence[str],
                                 **kw: Any) -> None:
        name = constraint_name or _unnamed_unique(table_name, columns)
        _current().add_constraint(table_name, rg.unique(name, list(columns)))

    def create_foreign_key(self, constraint_name: Optional[str], source_table: str, referent_table: str,
                           local_cols: Sequence[str], remote_cols: Sequence[str], onupdate: Optional[str] = None,
                           ondelete: Optional[str] = None, **kw: Any) -> None:
        name = constraint_name or ""
        _current().add_constraint(source_table, rg.foreign_key(
            name, list(local_cols), referent_table, list(remote_cols),
            on_delete=_action(ondelete), on_update=_action(onupdate)))

    def create_check_constraint(self, constraint_name: Optional[str], table_name: str, condition: Any,
                                **kw: Any) -> None:
        _current().add_constraint(table_name, rg.check(constraint_name or "", str(condition)))

    def drop_constraint(self, constraint_name: str, table_name: str, type_: Optional[str] = None,
                        **kw: Any) -> None:
        kind = type_ or Inspector()._constraint_kind(table_name, constraint_name)
        if kind is None:
            raise MigrationError(f"drop_constraint {constraint_name!r} on {table_name}: give type_= "
                                 f"('foreignkey', 'unique' or 'check')")
        if kind == "primary":
            raise MigrationError(f"drop_constraint {constraint_name!r}: dropping a primary key is not in "
                                 f"Retort's portable operations; write it with op.execute")
        mapped = {"foreignkey": "foreign-key", "unique": "unique", "check": "check"}.get(kind)
        if mapped is None:
            raise MigrationError(f"drop_constraint: unknown type_ {kind!r}")
        _current().drop_constraint(table_name, mapped, constraint_name)

    def batch_alter_table(self, table_name: str, schema: Optional[str] = None, **kw: Any) -> "BatchOperations":
        return BatchOperations(self, table_name)


class BatchOperations:
    """``with op.batch_alter_table("t") as batch_op:`` — each operation carried out as it is
    called (on SQLite, the portable operations rebuild the table themselves)."""

    def __init__(self, op_: Operations, table_name: str):
        self._op, self._table = op_, table_name

    def __enter__(self) -> "BatchOperations":
        return self

    def __exit__(self, *exc: Any) -> bool:
        return False

    def add_column(self, column_: Column, **kw: Any) -> None:
        self._op.add_column(self._table, column_)

    def drop_column(self, column_name: str, **kw: Any) -> None:
        self._op.drop_column(self._table, column_name)

    def alter_column(self, column_name: str, **kw: Any) -> None:
        self._op.alter_column(self._table, column_name, **kw)

    def create_index(self, index_name: str, columns: Sequence[Any], **kw: Any) -> None:
        self._op.create_index(index_name, self._table, columns, **kw)

    def drop_index(self, index_name: str, **kw: Any) -> None:
        self._op.drop_index(index_name, self._table, **kw)

    def create_unique_constraint(self, constraint_name: Optional[str], columns: Sequence[str], **kw: Any) -> None:
        self._op.create_unique_constraint(constraint_name, self._table, columns)

    def create_foreign_key(self, constraint_name: Optional[str], referent_table: str, local_cols: Sequence[str],
                           remote_cols: Sequence[str], **kw: Any) -> None:
        self._op.create_foreign_key(constraint_name, self._table, referent_table, local_cols, remote_cols, **kw)

    def create_check_constraint(self, constraint_name: Optional[str], condition: Any, **kw: Any) -> None:
        self._op.create_check_constraint(constraint_name, self._table, condition)

    def drop_constraint(self, constraint_name: str, type_: Optional[str] = None, **kw: Any) -> None:
        self._op.drop_constraint(constraint_name, self._table, type_)

    def execute(self, sqltext: Any) -> None:
        self._op.execute(sqltext)


def _unnamed_foreign_key(table_name: str, columns: Sequence[str], made: Sequence[Any]) -> str:
    """A foreign key created without a name is written without one: the engine names it as it
    names SQLAlchemy's (``orders_account_id_fkey``, ``orders_ibfk_1``, SQLite's none)."""
    return ""


def _unnamed_unique(table_name: str, columns: Sequence[str]) -> str:
    """A unique constraint without a name, likewise (``accounts_email_key``, MySQL's index
    named after its first column)."""
    return ""


def _constraint(table_name: str, c: Any, made: Sequence[Any]) -> Any:
    if isinstance(c, UniqueConstraint):
        return rg.unique(c.name or _unnamed_unique(table_name, c.columns), c.columns)
    if isinstance(c, CheckConstraint):
        return rg.check(c.name or "", c.sqltext)
    refs = [r.rpartition(".") for r in c.refs]
    return rg.foreign_key(c.name or _unnamed_foreign_key(table_name, c.columns, made), c.columns, refs[0][0],
                          [r[2] for r in refs], on_delete=_action(c.ondelete), on_update=_action(c.onupdate))


def _value(v: Any) -> Any:
    return v.value if isinstance(v, _Bool) else v


op = Operations()


# ---- the revision as a Retort migration

def revision(module: Dict[str, Any], *, id: str, parents: Sequence[str], description: str,
             branch_labels: Sequence[str] = (), depends_on: Sequence[str] = (),
             transactional: bool = True) -> type:
    """The ``WitWorld`` of an imported revision whose module globals are ``module``: its
    ``upgrade()`` and ``downgrade()`` run with ``op`` bound to the migration's transaction.
    ``transactional=False`` runs it outside one (journaled): what a SQLite rebuild of a table
    other tables reference needs (docs/alembic.md)."""

    def step(name: str) -> Any:
        def run(self: Migration, tx: Tx) -> None:
            global _tx
            fn = module.get(name)
            if fn is None:
                raise MigrationError(f"the revision defines no {name}()")
            _tx = tx
            try:
                fn()
            finally:
                _tx = None
        return run

    cls = type("AlembicRevision", (Migration,), {
        "id": id, "parents": list(parents), "description": description,
        "branch_labels": list(branch_labels), "depends_on": list(depends_on),
        "transactional": transactional,
        "upgrade": step("upgrade"), "downgrade": step("downgrade"),
    })
    return export(cls)
