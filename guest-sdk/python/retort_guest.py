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
import traceback
import typing
import uuid
from typing import Any, Callable, Generic, Iterator, List, Optional, Sequence, Type, TypeVar

import wit_world
from componentize_py_types import Err
from wit_world.imports import report, sql, types

__all__ = ["Migration", "Tx", "Rows", "Json", "Dialect", "MigrationError", "export", "log", "warn", "progress"]

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


def _from_value(v: types.Value) -> Any:
    if isinstance(v, types.Value_Null):
        return None
    if isinstance(v, types.Value_Decimal):
        return decimal.Decimal(v.value)
    if isinstance(v, types.Value_Date):
        return datetime.date(v.value.year, v.value.month, v.value.day)
    if isinstance(v, types.Value_Time):
        t = v.value
        return datetime.time(t.hour, t.minute, t.second, t.nanosecond // 1000)
    if isinstance(v, types.Value_Timestamp):
        return _py_datetime(v.value)
    if isinstance(v, types.Value_Timestamptz):
        return _py_datetime(v.value, datetime.timezone.utc)
    if isinstance(v, types.Value_Uuid):
        return uuid.UUID(v.value)
    if isinstance(v, types.Value_Json):
        return json.loads(v.value)
    return v.value


def _params(params: Sequence[Any]) -> List[types.Value]:
    if isinstance(params, (str, bytes)) or not isinstance(params, (list, tuple)):
        params = (params,)
    return [_to_value(p) for p in params]


class Rows(Generic[T]):
    """A streaming query result: iterate rows, or ``.batches(n)`` for lists of rows."""

    def __init__(self, rows: sql.Rows, make: Callable[[List[types.Column], List[types.Value]], T], batch_size: int):
        self._rows = rows
        self._columns = rows.columns()
        self._make = make
        self._batch_size = batch_size

    @property
    def columns(self) -> List[str]:
        """The result's column names."""
        return [c.name for c in self._columns]

    def next_batch(self, max_rows: Optional[int] = None) -> List[T]:
        """Up to ``max_rows`` further rows (the batch size by default); empty at the end."""
        raw = self._rows.next_batch(max_rows or self._batch_size)
        return [self._make(self._columns, r) for r in raw]

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


def _coercer(hint: Any) -> Optional[Callable[[Any], Any]]:
    """What turns a decoded value into the field's declared type, where the wire cannot say
    (MariaDB sends UUID and JSON columns as text or bytes)."""
    if typing.get_origin(hint) is typing.Union:
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        hint = args[0] if len(args) == 1 else None
    text = lambda v: v.decode() if isinstance(v, (bytes, bytearray)) else v  # noqa: E731
    if hint is uuid.UUID:
        return lambda v: v if isinstance(v, uuid.UUID) else uuid.UUID(text(v))
    if hint is Json:
        return lambda v: Json(json.loads(text(v))) if isinstance(v, (str, bytes, bytearray)) else Json(v)
    if hint is decimal.Decimal:
        return lambda v: v if isinstance(v, decimal.Decimal) else decimal.Decimal(str(v))
    return None


def _maker(row: Type[T]) -> Callable[[List[types.Column], List[types.Value]], T]:
    if row is tuple:
        return lambda cols, values: tuple(_from_value(v) for v in values)  # type: ignore[return-value]
    if row is dict:
        return lambda cols, values: {c.name: _from_value(v) for c, v in zip(cols, values)}  # type: ignore[return-value]
    if dataclasses.is_dataclass(row):
        wanted = [f.name for f in dataclasses.fields(row)]
        hints = typing.get_type_hints(row)
        coerce = {n: _coercer(hints.get(n)) for n in wanted}
    else:
        wanted = None
        coerce = {}

    def make(cols: List[types.Column], values: List[types.Value]) -> T:
        by_name = {c.name: v for c, v in zip(cols, values)}
        names = wanted if wanted is not None else list(by_name)
        missing = [n for n in names if n not in by_name]
        if missing:
            raise MigrationError(
                f"{row.__name__} needs column(s) {', '.join(missing)}; the query returned {', '.join(by_name)}"
            )
        out = {}
        for n in names:
            v = _from_value(by_name[n])
            c = coerce.get(n)
            out[n] = c(v) if c is not None and v is not None else v
        return row(**out)

    return make


class Tx:
    """The migration's transaction (or connection, for non-transactional migrations)."""

    def __init__(self, tx: sql.Transaction):
        self._tx = tx

    @property
    def dialect(self) -> types.Dialect:
        """``Dialect.SQLITE``, ``Dialect.POSTGRES`` or ``Dialect.MYSQL``."""
        return self._tx.dialect()

    def execute(self, statement: str, params: Sequence[Any] = ()) -> int:
        """Runs one statement; returns the rows affected."""
        return self._tx.execute(statement, _params(params))

    def execute_batch(self, statement: str, param_sets: Sequence[Sequence[Any]]) -> int:
        """Runs one statement once per parameter set, in one host call; returns rows affected."""
        sets = [_params(p) for p in param_sets]
        if not sets:
            return 0
        return self._tx.execute_batch(statement, sets)

    def query(self, row: Type[T], statement: str, params: Sequence[Any] = (), batch_size: int = 1000) -> Rows[T]:
        """Streams a query's rows into ``row`` objects (a dataclass, ``tuple`` or ``dict``)."""
        return Rows(self._tx.query(statement, _params(params)), _maker(row), batch_size)

    def script(self, sql_text: str) -> None:
        """Runs statements separated by ``;`` (no literals or routine bodies holding ``;``)."""
        for statement in sql_text.split(";"):
            if statement.strip():
                self.execute(statement)


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
