"""Write Retort migrations in Python (componentize-py).

A migration is one file, ``<id>_<slug>.py``, that subclasses :class:`Migration` and ends with
``WitWorld = export(MyMigration)``. It declares its own row classes (dataclasses): a frozen
copy of the rows as this migration knows them, never the application's models.

    from dataclasses import dataclass
    from retort_guest import Migration, Tx, export

    @dataclass
    class User:
        id: int
        full_name: str

    class SplitNames(Migration):
        id = "20261122110000"
        parents = ["20261122090200"]
        description = "split full names"

        def upgrade(self, tx: Tx) -> None:
            for batch in tx.query(User, "SELECT id, full_name FROM users ORDER BY id").batches(500):
                tx.execute_batch("UPDATE users SET first_name = $1 WHERE id = $2",
                                 [(u.full_name.split()[0], u.id) for u in batch])

    WitWorld = export(SplitNames)

Parameters are ``$1, $2, …`` on every database. Python values map to SQL values as: None →
NULL, bool, int, float, str, bytes, decimal.Decimal, datetime.date, datetime.time,
datetime.datetime (naive → timestamp, aware → timestamptz in UTC), uuid.UUID, and
:class:`Json` for JSON documents. Rows decode back to the same types, by column name into
the fields of the row class (a dataclass, or any class whose ``__init__`` takes the column
names), or into plain tuples with ``row=tuple``. A dataclass field declared ``uuid.UUID``,
``Json`` or ``decimal.Decimal`` gets that type whatever the driver sent (MariaDB sends UUID and
JSON columns as text).
"""

import dataclasses
import datetime
import decimal
import json
import operator
import re
import traceback
import typing
import uuid
from typing import Any, Callable, Generic, Iterator, List, Optional, Sequence, Type, TypeVar

import wit_world
from componentize_py_types import Err
from wit_world.imports import json_batches, report, schema, sql, types

__all__ = ["Migration", "Tx", "Rows", "Json", "Dialect", "MigrationError", "export", "log", "warn", "progress", "split_script", "unwrap_transaction", "column", "column_type", "foreign_key", "unique", "check", "index"]

Dialect = types.Dialect
T = TypeVar("T")


class Json:
    """A JSON document: ``Json({"a": 1})`` as a parameter. JSON columns decode to plain Python
    values, or to ``Json`` for row fields declared ``Json`` (which also reads MariaDB's JSON,
    sent as text)."""

    def __init__(self, value: Any):
        self.value = value

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Json) and other.value == self.value

    def __repr__(self) -> str:
        return f"Json({self.value!r})"


class MigrationError(Exception):
    """Raise to fail the migration with a message (the transaction is rolled back)."""


def _to_value(v: Any) -> types.Value:
    if v is None:
        return types.Value_Null()
    if isinstance(v, bool):
        return types.Value_Boolean(v)
    if isinstance(v, int):
        return types.Value_Integer(v)
    if isinstance(v, float):
        return types.Value_Float(v)
    if isinstance(v, str):
        return types.Value_Text(v)
    if isinstance(v, (bytes, bytearray, memoryview)):
        return types.Value_Bytes(bytes(v))
    if isinstance(v, decimal.Decimal):
        return types.Value_Decimal(format(v, "f"))
    if isinstance(v, datetime.datetime):
        if v.tzinfo is not None:
            return types.Value_Timestamptz(_datetime(v.astimezone(datetime.timezone.utc)))
        return types.Value_Timestamp(_datetime(v))
    if isinstance(v, datetime.date):
        return types.Value_Date(types.Date(v.year, v.month, v.day))
    if isinstance(v, datetime.time):
        return types.Value_Time(types.Time(v.hour, v.minute, v.second, v.microsecond * 1000))
    if isinstance(v, uuid.UUID):
        return types.Value_Uuid(str(v))
    if isinstance(v, Json):
        return types.Value_Json(json.dumps(v.value))
    raise MigrationError(f"cannot send a {type(v).__name__} as an SQL value: {v!r}")


def _datetime(v: datetime.datetime) -> types.Datetime:
    return types.Datetime(
        types.Date(v.year, v.month, v.day),
        types.Time(v.hour, v.minute, v.second, v.microsecond * 1000),
    )


def _py_datetime(d: types.Datetime, tz=None) -> datetime.datetime:
    return datetime.datetime(
        d.date.year, d.date.month, d.date.day,
        d.time.hour, d.time.minute, d.time.second, d.time.nanosecond // 1000, tzinfo=tz,
    )


# How each value variant decodes: one dict lookup per value instead of a chain of isinstance
# checks (rows are decoded value by value; BENCHMARKS.md, issue 31). Variants not named here
# (integer, float, boolean, text, bytes) are their ``value``.
_DECODE: dict = {
    types.Value_Null: lambda v: None,
    types.Value_Decimal: lambda v: decimal.Decimal(v.value),
    types.Value_Date: lambda v: datetime.date(v.value.year, v.value.month, v.value.day),
    types.Value_Time: lambda v: datetime.time(
        v.value.hour, v.value.minute, v.value.second, v.value.nanosecond // 1000),
    types.Value_Timestamp: lambda v: _py_datetime(v.value),
    types.Value_Timestamptz: lambda v: _py_datetime(v.value, datetime.timezone.utc),
    types.Value_Uuid: lambda v: uuid.UUID(v.value),
    types.Value_Json: lambda v: json.loads(v.value),
}


def _from_value(v: types.Value) -> Any:
    decode = _DECODE.get(type(v))
    return v.value if decode is None else decode(v)


def _params(params: Sequence[Any]) -> List[types.Value]:
    if isinstance(params, (str, bytes)) or not isinstance(params, (list, tuple)):
        params = (params,)
    return [_to_value(p) for p in params]


_I64 = 2 ** 63


def _plain(v: Any) -> bool:
    """Whether ``v`` reaches the host as the same SQL value through JSON (``json-batches``) as
    through :func:`_to_value`: None, a bool, an int within 64 bits, a finite float, a str."""
    t = type(v)
    if t is str or v is None or t is bool:
        return True
    if t is int:
        return -_I64 <= v < _I64
    return t is float and v - v == 0.0  # finite: inf - inf and nan - nan are nan


def _json_sets(param_sets: Sequence[Sequence[Any]]) -> Optional[str]:
    """The parameter sets as one JSON string, when every set is a list or tuple of plain
    values (see :func:`_plain`); ``None`` otherwise."""
    for p in param_sets:
        if type(p) not in (list, tuple):
            return None
        for v in p:
            if not _plain(v):
                return None
    return json.dumps(param_sets, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


# Column types whose values are only null, booleans, integers, floats, text or bytes, per
# dialect, as the host's drivers map them (runner/src/db/{postgres,mysql,sqlite}.rs): a result
# of only such columns is read as one JSON string per batch (``json-batches``), where a string
# can only be text. Any other column (decimal, date, time, timestamp, uuid, JSON, an unsigned
# MySQL integer that may arrive as a decimal) reads the typed way, value by value. Keyed by
# the dialect's name.
_JSON_SAFE = {
    "POSTGRES": frozenset((
        "BOOL", "INT2", "INT4", "INT8", "FLOAT4", "FLOAT8", "TEXT", "VARCHAR", "BPCHAR", "NAME",
        "CHAR", "CITEXT", "BYTEA")),
    "MYSQL": frozenset((
        "BOOLEAN", "TINYINT", "SMALLINT", "MEDIUMINT", "INT", "BIGINT", "YEAR", "FLOAT", "DOUBLE",
        "CHAR", "VARCHAR", "TEXT", "TINYTEXT", "MEDIUMTEXT", "LONGTEXT", "ENUM", "SET", "BINARY",
        "VARBINARY", "BLOB", "TINYBLOB", "MEDIUMBLOB", "LONGBLOB", "BIT")),
}
# SQLite reads a declared type's text as a decimal, date, time, timestamp, uuid or JSON by the
# declared type's first word (``Decl::of``); every other declared type, or none, reads plain.
_SQLITE_TYPED = frozenset((
    "DECIMAL", "NUMERIC", "DATE", "TIME", "DATETIME", "TIMESTAMP", "TIMESTAMPTZ", "UUID", "JSON",
    "JSONB"))
_FIRST_WORD = re.compile(r"[^A-Za-z0-9]")


def _json_safe(dialect: types.Dialect, columns: List[types.Column]) -> bool:
    """Whether every column's values read the same through ``json-batches`` as typed."""
    if dialect.name == "SQLITE":
        return all(_FIRST_WORD.split(c.type_name.upper(), 1)[0] not in _SQLITE_TYPED for c in columns)
    safe = _JSON_SAFE.get(dialect.name, frozenset())
    return all(c.type_name.upper() in safe for c in columns)


def _untag(tagged: dict) -> Any:
    """A tagged value of a ``json-batches`` row (only integers beyond 2^53, non-finite floats
    and bytes occur in the columns :func:`_json_safe` admits)."""
    if "int" in tagged:
        return int(tagged["int"])
    if "bytes" in tagged:
        return bytes(tagged["bytes"])
    if "float" in tagged:
        return float(tagged["float"])
    raise MigrationError(f"unexpected value in a JSON row batch: {tagged!r}")


class Rows(Generic[T]):
    """A streaming query result: iterate rows, or ``.batches(n)`` for lists of rows."""

    def __init__(self, rows: sql.Rows, make: "_Maker[T]", batch_size: int, dialect: types.Dialect):
        self._rows = rows
        self._columns = rows.columns()
        # Lifting each value as a variant object cost more than the query: a result whose
        # columns allow it arrives as one JSON string per batch (BENCHMARKS.md, issue 31).
        self._json = _json_safe(dialect, self._columns)
        self._make = make(self._columns, not self._json)
        self._batch_size = batch_size

    @property
    def columns(self) -> List[str]:
        """The result's column names."""
        return [c.name for c in self._columns]

    def next_batch(self, max_rows: Optional[int] = None) -> List[T]:
        """Up to ``max_rows`` further rows (the batch size by default); empty at the end."""
        n = max_rows or self._batch_size
        if self._json:
            batch = json.loads(json_batches.next_batch(self._rows, n), object_hook=_untag)
        else:
            batch = self._rows.next_batch(n)
        return list(map(self._make, batch))

    def batches(self, size: Optional[int] = None) -> Iterator[List[T]]:
        """Lists of at most ``size`` rows until the result is exhausted."""
        while True:
            batch = self.next_batch(size)
            if not batch:
                return
            yield batch

    def __iter__(self) -> Iterator[T]:
        for batch in self.batches():
            yield from batch


def _field_type(hint: Any) -> Any:
    """A field's declared type, ``Optional`` unwrapped (``None`` for other unions)."""
    if typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else None
    return hint


def _coercer(hint: Any) -> Optional[Callable[[Any], Any]]:
    """What turns a decoded value into the field's declared type, where the wire cannot say
    (MariaDB sends UUID and JSON columns as text or bytes)."""
    hint = _field_type(hint)
    text = lambda v: v.decode() if isinstance(v, (bytes, bytearray)) else v  # noqa: E731
    if hint is uuid.UUID:
        return lambda v: v if isinstance(v, uuid.UUID) else uuid.UUID(text(v))
    if hint is Json:
        return lambda v: Json(json.loads(text(v))) if isinstance(v, (str, bytes, bytearray)) else Json(v)
    if hint is decimal.Decimal:
        return _to_decimal
    if hint is int:
        return _to_int
    if hint is float:
        return _to_float
    if hint is datetime.date:
        return _to_date
    return None


# Lossless conversions into a declared field type (docs/values.md, "Decoding into a declared
# type"): the same query gives decimals on one engine and integers or floats on another.
_EXACT = 2 ** 53


def _to_int(v: Any) -> Any:
    if isinstance(v, decimal.Decimal):
        if v.is_finite() and v == v.to_integral_value():
            return int(v)
        raise ValueError(f"expected integer, found the decimal {v}, which has a fractional part")
    if isinstance(v, float):
        if v.is_integer() and abs(v) <= _EXACT:
            return int(v)
        raise ValueError(f"expected integer, found the float {v!r}, which is not an integer it holds exactly")
    return v


def _to_float(v: Any) -> Any:
    if isinstance(v, bool):
        return v
    if isinstance(v, int):
        if abs(v) <= _EXACT:
            return float(v)
        raise ValueError(f"expected float, found the integer {v}, which a float does not hold exactly")
    if isinstance(v, decimal.Decimal):
        f = float(v)
        if v.is_finite() and decimal.Decimal(repr(f)) == v:
            return f
        raise ValueError(f"expected float, found the decimal {v}, which a float does not hold as written")
    return v


def _to_decimal(v: Any) -> Any:
    if isinstance(v, decimal.Decimal):
        return v
    if isinstance(v, float):
        if v != v or abs(v) == float("inf"):
            raise ValueError(f"expected decimal, found the float {v!r}")
        return decimal.Decimal(repr(v))
    return decimal.Decimal(str(v)) if isinstance(v, int) else v


def _to_date(v: Any) -> Any:
    if isinstance(v, datetime.datetime):
        if v.time() == datetime.time(0):
            return v.date()
        raise ValueError(f"expected date, found a timestamp at {v.time()}, not midnight")
    return v


# What makes ``row`` objects of a result's rows: given the result's columns and whether the
# rows arrive as typed values (else as decoded Python values, from JSON), a function of a row.
_Maker = Callable[[List[types.Column], bool], Callable[[List[Any]], T]]


def _maker(row: Type[T]) -> _Maker[T]:
    """What makes ``row`` objects of a result's rows, given the result's columns: the columns
    are matched to the fields once per result, not once per row."""
    if row is tuple:
        def for_tuples(cols: List[types.Column], typed: bool) -> Callable[[List[Any]], T]:
            if typed:
                return lambda values: tuple(map(_from_value, values))  # type: ignore[return-value]
            return tuple  # type: ignore[return-value]
        return for_tuples
    if row is dict:
        def for_dicts(cols: List[types.Column], typed: bool) -> Callable[[List[Any]], T]:
            names = [c.name for c in cols]
            if typed:
                return lambda values: dict(zip(names, map(_from_value, values)))  # type: ignore[return-value]
            return lambda values: dict(zip(names, values))  # type: ignore[return-value]
        return for_dicts
    positional = False
    if dataclasses.is_dataclass(row):
        fields = dataclasses.fields(row)
        wanted: Optional[List[str]] = [f.name for f in fields]
        hints = typing.get_type_hints(row)
        coerce = {n: _coercer(hints.get(n)) for n in wanted}
        # A value already of the field's type needs no conversion (the conversions of these
        # types return such a value as it is); JSON fields always convert.
        exact = {n: _field_type(hints.get(n)) for n in wanted}
        exact = {n: t if t in (int, float, decimal.Decimal, datetime.date, uuid.UUID) else None
                 for n, t in exact.items()}
        # Passing fields by position skips a dict per row; keyword-only fields need names.
        positional = not any(getattr(f, "kw_only", False) is True for f in fields)
    else:
        wanted = None
        coerce = {}
        exact = {}

    def for_columns(cols: List[types.Column], typed: bool) -> Callable[[List[Any]], T]:
        # A name the query returns twice is read from its last column, as a dict of them would.
        at = {c.name: i for i, c in enumerate(cols)}
        names = wanted if wanted is not None else list(at)
        missing = [n for n in names if n not in at]
        if missing:
            def fail(values: List[Any]) -> T:
                raise MigrationError(
                    f"{row.__name__} needs column(s) {', '.join(missing)}; the query returned {', '.join(at)}"
                )
            return fail
        picks = [at[n] for n in names]
        checks = [(j, c, exact.get(n)) for j, (n, c) in enumerate((n, coerce.get(n)) for n in names)
                  if c is not None]
        pick = operator.itemgetter(*picks) if len(picks) > 1 else lambda values: tuple(values[i] for i in picks)

        def make(values: List[Any]) -> T:
            args: Any = pick(values)
            if typed:
                args = list(map(_from_value, args))
            for j, c, t in checks:
                v = args[j]
                if v is not None and type(v) is not t:
                    if type(args) is tuple:
                        args = list(args)
                    try:
                        args[j] = c(v)
                    except ValueError as e:
                        raise MigrationError(f"{row.__name__}.{names[j]}: {e}") from None
            if positional:
                return row(*args)
            return row(**dict(zip(names, args)))

        return make

    return for_columns


class Tx:
    """The migration's transaction (or connection, for non-transactional migrations)."""

    def __init__(self, tx: sql.Transaction, allow: Sequence[str] = ()):
        self._tx = tx
        self._allow = list(allow)

    @property
    def dialect(self) -> types.Dialect:
        """``Dialect.SQLITE``, ``Dialect.POSTGRES`` or ``Dialect.MYSQL``."""
        return self._tx.dialect()

    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        """Runs one statement; returns the rows affected."""
        return self._tx.execute(statement, _params(params))

    def execute_batch(self, statement: str, param_sets: Sequence[Sequence[Any]]) -> int:
        """Runs one statement once per parameter set, in one host call; returns rows affected."""
        if not isinstance(param_sets, (list, tuple)):
            param_sets = list(param_sets)  # a generator is read once
        if not param_sets:
            return 0
        # Plain values go as one JSON string (``json-batches``): lowering each value as a
        # variant object cost more than the statement (BENCHMARKS.md, issue 31).
        as_json = _json_sets(param_sets)
        if as_json is not None:
            return json_batches.execute_batch(self._tx, statement, as_json)
        return self._tx.execute_batch(statement, [_params(p) for p in param_sets])

    def query(self, row: Type[T], statement: str, params: Sequence[Any] = (), batch_size: int = 1000) -> Rows[T]:
        """Streams a query's rows into ``row`` objects (a dataclass, ``tuple`` or ``dict``)."""
        return Rows(self._tx.query(statement, _params(params)), _maker(row), batch_size, self.dialect)

    def script(self, sql_text: str) -> None:
        """Runs a SQL script statement by statement, split by :func:`split_script` (the same
        rules as the Rust SDK's ``script::split``: literals, comments, dollar quotes, routine
        bodies and ``DELIMITER`` lines are understood)."""
        try:
            statements = split_script(sql_text, self.dialect)
        except ValueError as e:
            raise MigrationError(str(e)) from None
        # Retort runs the script in one transaction already: a pair wrapping it is dropped.
        for statement in unwrap_transaction(statements, self.dialect):
            self.execute(statement)

    # Portable schema operations (WIT 0.3.0 `schema`): the host writes the dialect's SQL.

    def apply(self, operation: Any) -> None:
        """Runs a portable schema operation (a ``schema.Operation_*`` value)."""
        if self._allow:
            schema.apply_allowing(self._tx, operation, self._allow)
        else:
            schema.apply(self._tx, operation)

    def allowing(self, *rules: str) -> "Tx":
        """This transaction with ``retort lint`` rules acknowledged for the schema operations
        applied through it: ``tx.allowing("drop-column").drop_column("users", "legacy")``."""
        return Tx(self._tx, rules)

    def statements(self, operation: Any) -> List[str]:
        """The statements :meth:`apply` would run for ``operation``, without running them."""
        return list(schema.statements(self._tx, operation))

    def create_table(self, name: str, columns: Sequence[Any], primary_key: Sequence[str] = (),
                     constraints: Sequence[Any] = ()) -> None:
        """``CREATE TABLE`` of :func:`column` values, with :func:`foreign_key`, :func:`unique`
        and :func:`check` constraints."""
        self.apply(schema.Operation_CreateTable(
            schema.Table(name, list(columns), list(primary_key), list(constraints))))

    def drop_table(self, name: str) -> None:
        """``DROP TABLE``."""
        self.apply(schema.Operation_DropTable(name))

    def rename_table(self, old: str, new: str) -> None:
        """Renames a table."""
        self.apply(schema.Operation_RenameTable((old, new)))

    def add_column(self, table: str, column: Any) -> None:
        """Adds a :func:`column`."""
        self.apply(schema.Operation_AddColumn((table, column)))

    def drop_column(self, table: str, name: str) -> None:
        """Drops a column."""
        self.apply(schema.Operation_DropColumn((table, name)))

    def rename_column(self, table: str, old: str, new: str) -> None:
        """Renames a column."""
        self.apply(schema.Operation_RenameColumn((table, old, new)))

    def alter_column(self, table: str, name: str, *, type: Optional[str] = None,
                     null: Optional[bool] = None, default: Any = ...) -> None:
        """Changes a column's ``type``, whether it may be ``null``, or its ``default`` (an SQL
        expression; ``None`` drops it). What is not given stays. A table rebuild on SQLite."""
        if default is ...:
            new_default = None
        elif default is None:
            new_default = schema.DefaultChange_Drop()
        else:
            new_default = schema.DefaultChange_Set(default)
        change = schema.ColumnChange(
            table, name, None if type is None else column_type(type), null, new_default)
        self.apply(schema.Operation_AlterColumn(change))

    def create_index(self, index: Any) -> None:
        """``CREATE INDEX`` of an :func:`index`."""
        self.apply(schema.Operation_CreateIndex(index))

    def drop_index(self, table: str, name: str, concurrently: bool = False) -> None:
        """Drops an index of ``table``."""
        self.apply(schema.Operation_DropIndex((table, name, concurrently)))

    def add_constraint(self, table: str, constraint: Any) -> None:
        """Adds a :func:`foreign_key`, :func:`unique` or :func:`check` (a rebuild on SQLite)."""
        self.apply(schema.Operation_AddConstraint((table, constraint)))

    def drop_constraint(self, table: str, kind: str, name: str) -> None:
        """Drops the ``"foreign-key"``, ``"unique"`` or ``"check"`` constraint ``name``."""
        self.apply(schema.Operation_DropConstraint((table, _enum(schema.ConstraintKind, kind), name)))

    def keep_definition(self, kind: str, name: str) -> bool:
        """In an upgrade, before replacing a ``"view"``, ``"function"``, ``"procedure"`` or
        ``"trigger"``: keeps its definition for the downgrade's :meth:`restore_definition`."""
        return schema.keep_definition(self._tx, _enum(schema.ObjectKind, kind), name)

    def restore_definition(self, kind: str, name: str) -> bool:
        """In a downgrade: recreates what the upgrade kept under ``kind`` and ``name``."""
        return schema.restore_definition(self._tx, _enum(schema.ObjectKind, kind), name)


def _enum(enum: Any, name: str) -> Any:
    try:
        return enum[name.upper().replace("-", "_")]
    except KeyError:
        known = ", ".join(m.name.lower().replace("_", "-") for m in enum)
        raise MigrationError(f"unknown {enum.__name__} {name!r}: one of {known}") from None


_SIMPLE_TYPES = {
    "boolean": schema.ColumnType_Boolean, "small-integer": schema.ColumnType_SmallInteger,
    "integer": schema.ColumnType_Integer, "big-integer": schema.ColumnType_BigInteger,
    "float": schema.ColumnType_Float, "double": schema.ColumnType_Double,
    "text": schema.ColumnType_Text, "bytes": schema.ColumnType_Bytes,
    "date": schema.ColumnType_Date, "time": schema.ColumnType_Time,
    "timestamp": schema.ColumnType_Timestamp, "timestamptz": schema.ColumnType_Timestamptz,
    "uuid": schema.ColumnType_Uuid, "json": schema.ColumnType_Json,
}


def column_type(text: str) -> Any:
    """A portable type from its name: ``"big-integer"``, ``"varchar(40)"``,
    ``"decimal(10, 2)"``, … (docs/schema-operations.md), or ``"native:CITEXT"``."""
    low = text.strip().lower()
    if low in _SIMPLE_TYPES:
        return _SIMPLE_TYPES[low]()
    m = re.fullmatch(r"varchar\(\s*(\d+)\s*\)", low)
    if m:
        return schema.ColumnType_Varchar(int(m.group(1)))
    m = re.fullmatch(r"decimal\(\s*(\d+)\s*,\s*(\d+)\s*\)", low)
    if m:
        return schema.ColumnType_Decimal(schema.DecimalSize(int(m.group(1)), int(m.group(2))))
    if low.startswith("native:"):
        return schema.ColumnType_Native(text.strip()[len("native:"):].strip())
    known = ", ".join(_SIMPLE_TYPES)
    raise MigrationError(f"unknown column type {text!r}: one of {known}, varchar(n), "
                         f"decimal(p, s), or native:<the dialect's type>")


def column(name: str, type: str, *, null: bool = True, default: Optional[str] = None,
           identity: bool = False) -> Any:
    """A column for :meth:`Tx.create_table` / :meth:`Tx.add_column`; ``default`` is SQL."""
    return schema.Column(name, column_type(type), null, default, identity)


def foreign_key(name: str, columns: Sequence[str], table: str, referenced: Sequence[str], *,
                on_delete: str = "no-action", on_update: str = "no-action") -> Any:
    """A foreign key constraint; actions ``"no-action"``, ``"restrict"``, ``"cascade"``,
    ``"set-null"``, ``"set-default"``."""
    return schema.Constraint_ForeignKey(schema.ForeignKey(
        name, list(columns), table, list(referenced),
        _enum(schema.ReferenceAction, on_delete), _enum(schema.ReferenceAction, on_update)))


def unique(name: str, columns: Sequence[str]) -> Any:
    """A unique constraint."""
    return schema.Constraint_Unique(schema.Unique(name, list(columns)))


def check(name: str, expression: str) -> Any:
    """A check constraint (``expression`` is SQL)."""
    return schema.Constraint_Check(schema.Check(name, expression))


def index(name: str, table: str, columns: Sequence[str], *, unique: bool = False,
          where: Optional[str] = None, concurrently: bool = False) -> Any:
    """An index for :meth:`Tx.create_index` (``where``: a partial index's SQL condition)."""
    return schema.Index(name, table, list(columns), unique, where, concurrently)


def _dialect_name(dialect: Any) -> str:
    """``"sqlite"``, ``"postgres"`` or ``"mysql"`` for a :class:`Dialect` or such a name."""
    return str(getattr(dialect, "name", dialect)).lower()


def _bare_words(statement: str) -> List[str]:
    """The upper-cased words of a statement without literals (``[]`` if it has any): enough to
    tell a bare ``BEGIN``/``COMMIT`` from anything else. Comments are dropped."""
    text = re.sub(r"/\*.*?\*/", " ", statement, flags=re.S)
    text = re.sub(r"(--|#)[^\n]*", " ", text)
    if any(q in text for q in "'\"`$"):
        return []
    return [w.upper() for w in re.findall(r"[A-Za-z_]+", text)]


def _controls(words: List[str], mysql: bool) -> bool:
    """Whether a statement's words begin, end or abandon a transaction (as the host's
    ``retort_sql::transaction_control`` sees it, for the statements a wrapped script holds)."""
    first = words[0] if words else ""
    second = words[1] if len(words) > 1 else ""
    if first in ("BEGIN", "COMMIT"):
        return True
    if first == "START":
        return second == "TRANSACTION"
    if first == "ROLLBACK":
        return second != "TO" and not (second == "WORK" and words[2:3] == ["TO"])
    return first in ("END", "ABORT") and not mysql


def unwrap_transaction(statements: List[str], dialect: Any) -> List[str]:
    """``statements`` without the ``BEGIN;`` … ``COMMIT;`` pair that wraps all of them, if one
    does (a port of ``retort_sql::unwrap_transaction``, checked against the same cases)."""
    mysql = _dialect_name(dialect) == "mysql"
    if len(statements) < 2:
        return statements
    first, last = _bare_words(statements[0]), _bare_words(statements[-1])
    opens = first in (["BEGIN"], ["BEGIN", "WORK"], ["BEGIN", "TRANSACTION"], ["START", "TRANSACTION"])
    closes = last in (["COMMIT"], ["COMMIT", "WORK"], ["COMMIT", "TRANSACTION"]) or (
        not mysql and last in (["END"], ["END", "WORK"], ["END", "TRANSACTION"]))
    inner = statements[1:-1]
    if opens and closes and not any(_controls(_bare_words(s) or ["?"], mysql) for s in inner):
        return inner
    return statements


def split_script(script: str, dialect: Any) -> List[str]:
    """Splits ``script`` into statements, in order, without their terminators: on ``;``
    outside string literals, quoted identifiers, comments and PostgreSQL dollar-quoted bodies;
    ``BEGIN … END`` kept whole inside ``CREATE … PROCEDURE | FUNCTION | TRIGGER | EVENT``; a
    MySQL ``DELIMITER x`` line understood; comment-only statements dropped. A line-for-line
    port of the Rust SDK's ``script::split``: both are checked against the same cases
    (``tests/conformance/script_split.json``). Raises ``ValueError`` on unterminated input."""
    d = _dialect_name(dialect)
    out: List[str] = []
    delimiter = ";"
    start = 0
    i = 0
    depth = 0
    words: List[str] = []
    at_line_start = True
    n = len(script)

    def push(text: str) -> None:
        # (A MySQL statement in a versioned comment, ``/*!40101 SET NAMES utf8 */``, runs.)
        if _strip_comments(_reveal_versioned(text, d), d).strip():
            out.append(_trim_leading_comments(text, d).rstrip())

    while i < n:
        c = script[i]
        if at_line_start and d == "mysql":
            rest = script[i:]
            trimmed = rest.lstrip(" \t")
            if len(trimmed) >= 10 and trimmed[:10].upper() == "DELIMITER ":
                line_end = trimmed.find("\n")
                if line_end < 0:
                    line_end = len(trimmed)
                new = trimmed[10:line_end].strip()
                if not new:
                    raise ValueError("DELIMITER without a delimiter")
                push(script[start:i])
                delimiter = new
                i += (len(rest) - len(trimmed)) + line_end
                start = i
                words.clear()
                continue
        at_line_start = False
        if c == "\n":
            at_line_start = True
            i += 1
        elif c in "'\"`":
            end = _skip_quoted(script, i, c, (d == "mysql" and c != "`") or _escape_string(script, i, d))
            if end is None:
                raise ValueError(f"unterminated {_quote_name(c)} starting at character {i}")
            i = end
        elif _dash_comment(script, i, d):
            i = _skip_line(script, i)
        elif c == "#" and d == "mysql":
            i = _skip_line(script, i)
        elif c == "/" and script[i + 1:i + 2] == "*":
            end = script.find("*/", i + 2)
            if end < 0:
                raise ValueError(f"unterminated /* comment starting at character {i}")
            i = end + 2
        elif c == "$" and d == "postgres":
            tag = _dollar_tag(script[i:])
            if tag is None:
                i += 1
            else:
                end = script.find(tag, i + len(tag))
                if end < 0:
                    raise ValueError(f"unterminated {tag} body starting at character {i}")
                i = end + len(tag)
        elif script.startswith(delimiter, i) and (depth == 0 or delimiter != ";"):
            push(script[start:i])
            i += len(delimiter)
            start = i
            depth = 0
            words.clear()
        elif _word_start(c):
            end = i
            while end < n and _word_char(script[end]):
                end += 1
            word = script[i:end].upper()
            if _routine(words):
                if word in ("BEGIN", "CASE"):
                    depth += 1
                elif word == "END":
                    if _next_word(script[end:]) not in ("IF", "LOOP", "WHILE", "REPEAT", "FOR"):
                        depth = max(0, depth - 1)
            if len(words) < 8:
                words.append(word)
            i = end
        else:
            i += 1
    push(script[start:])
    return out


def _word_start(c: str) -> bool:
    return c.isascii() and (c.isalpha() or c == "_")


def _word_char(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c == "_")


def _routine(words: List[str]) -> bool:
    return bool(words) and words[0] == "CREATE" and any(
        w in ("PROCEDURE", "FUNCTION", "TRIGGER", "EVENT") for w in words[1:]
    )


def _next_word(s: str) -> str:
    s = s.lstrip()
    end = 0
    while end < len(s) and _word_char(s[end]):
        end += 1
    return s[:end].upper()


def _quote_name(c: str) -> str:
    return {"'": "string", '"': "quoted identifier"}.get(c, "backquoted identifier")


def _skip_quoted(s: str, start: int, quote: str, backslash: bool) -> Optional[int]:
    """The index after the closing quote (a doubled quote is an escaped one)."""
    i = start + 1
    while i < len(s):
        if s[i] == "\\" and backslash:
            i += 2
        elif s[i] == quote:
            if s[i + 1:i + 2] == quote:
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return None


def _escape_string(s: str, at: int, d: str) -> bool:
    """Whether the quote at ``at`` opens a PostgreSQL escape string (``E'it\\'s'``), in which a
    backslash escapes; a name ending in e before a quote is not its prefix (as in
    ``retort_sql::skip_opaque``)."""
    def word(c: str) -> bool:
        return c.isascii() and (c.isalnum() or c == "_") or ord(c) >= 0x80

    return (d == "postgres" and s[at] == "'" and at > 0 and s[at - 1] in "Ee"
            and (at < 2 or not word(s[at - 2])))


def _skip_line(s: str, start: int) -> int:
    end = s.find("\n", start)
    return len(s) if end < 0 else end


def _dollar_tag(s: str) -> Optional[str]:
    """``$tag$`` at the start of ``s``, if it opens a dollar-quoted string (not ``$1``)."""
    end = s.find("$", 1)
    if end < 0:
        return None
    tag = s[1:end]
    valid = all(
        c == "_" or (c.isascii() and c.isalpha()) or (k > 0 and c.isascii() and c.isdigit())
        for k, c in enumerate(tag)
    )
    return s[:end + 1] if valid else None


def _dash_comment(s: str, at: int, d: str) -> bool:
    """Whether a ``--`` comment starts at ``at``: on MySQL only before a space or a control
    character (``2 --1`` is two minus signs there), as ``retort_sql::dash_comment``."""
    if s[at:at + 2] != "--":
        return False
    return d != "mysql" or at + 2 >= len(s) or ord(s[at + 2]) <= 32


def _versioned_opener(s: str, at: int) -> int:
    """The length of a MySQL versioned comment's opener (``/*!``, ``/*!50001``, ``/*M!100100``)
    at ``at`` with its version digits, or 0."""
    if s.startswith("/*!", at):
        n = 3
    elif s.startswith("/*M!", at) or s.startswith("/*m!", at):
        n = 4
    else:
        return 0
    while at + n < len(s) and s[at + n].isascii() and s[at + n].isdigit():
        n += 1
    return n


def _reveal_versioned(text: str, d: str) -> str:
    """``text`` with the markers of MySQL versioned comments blanked, their content (which the
    server runs) left as code; as ``retort_sql::reveal_versioned``."""
    if d != "mysql" or "/*" not in text:
        return text
    out = list(text)
    opened = False
    i = 0
    n = len(text)
    while i < n:
        length = 0 if opened else _versioned_opener(text, i)
        c = text[i]
        if length:
            out[i:i + length] = " " * length
            opened = True
            i += length
        elif opened and text.startswith("*/", i):
            out[i:i + 2] = "  "
            opened = False
            i += 2
        elif c in "'\"`":
            end = _skip_quoted(text, i, c, c != "`")
            i = n if end is None else end
        elif _dash_comment(text, i, d) or c == "#":
            i = _skip_line(text, i)
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            i += 1
    return "".join(out)


def _trim_leading_comments(text: str, d: str) -> str:
    t = text.lstrip()
    while True:
        if _dash_comment(t, 0, d) or (d == "mysql" and t.startswith("#")):
            end = t.find("\n")
            t = "" if end < 0 else t[end + 1:].lstrip()
        elif t.startswith("/*") and not (d == "mysql" and _versioned_opener(t, 0)):
            end = t.find("*/")
            t = "" if end < 0 else t[end + 2:].lstrip()
        else:
            return t


def _strip_comments(text: str, d: str) -> str:
    out = []
    i = 0
    n = len(text)
    while i < n:
        if _dash_comment(text, i, d):
            i = _skip_line(text, i)
        elif text[i] == "#" and d == "mysql":
            i = _skip_line(text, i)
        elif text[i] == "/" and text[i + 1:i + 2] == "*":
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


class Migration:
    """Subclass it: set ``id``, ``parents``, ``description`` (and optionally
    ``transactional``, ``branch_labels``, ``depends_on``, ``requires`` as
    ``[("db", "rev")]``, ``capabilities``), and define ``upgrade``/``downgrade``."""

    id: str = ""
    parents: List[str] = []
    description: str = ""
    transactional: bool = True
    branch_labels: List[str] = []
    depends_on: List[str] = []
    requires: List[tuple] = []
    capabilities: List[str] = []

    def upgrade(self, tx: Tx) -> None:
        raise NotImplementedError

    def downgrade(self, tx: Tx) -> None:
        raise NotImplementedError


def log(message: str) -> None:
    """Writes an informational message to Retort's log."""
    report.log(report.Level.INFO, message)


def warn(message: str) -> None:
    """Writes a warning to Retort's log."""
    report.log(report.Level.WARN, message)


def progress(done: int, total: Optional[int] = None) -> None:
    """Reports progress of a long data migration."""
    report.progress(done, total)


def _run(step: Callable[[Tx], None], tx: sql.Transaction) -> None:
    try:
        step(Tx(tx))
    except Err:
        raise  # a database error: the host reports it with the statement
    except MigrationError as e:
        raise Err(types.Error_Migration(str(e)))
    except Exception as e:  # a bug in the migration: report it with its traceback
        raise Err(types.Error_Migration(f"{type(e).__name__}: {e}\n{traceback.format_exc()}"))


def export(migration: Type[Migration]) -> type:
    """The ``WitWorld`` class componentize-py exports for ``migration``."""
    m = migration()

    class Exported(wit_world.WitWorld):
        def metadata(self) -> types.MigrationInfo:
            return types.MigrationInfo(
                id=m.id,
                parents=list(m.parents),
                description=m.description,
                transactional=m.transactional,
                branch_labels=list(m.branch_labels),
                depends_on=list(m.depends_on),
                requires=[types.DatabaseRequirement(d, r) for d, r in m.requires],
                capabilities=list(m.capabilities),
            )

        def upgrade(self, tx: sql.Transaction) -> None:
            _run(m.upgrade, tx)

        def downgrade(self, tx: sql.Transaction) -> None:
            _run(m.downgrade, tx)

    return Exported
