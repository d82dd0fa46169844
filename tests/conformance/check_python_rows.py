"""Checks the Python helper's row making and JSON batch choices with plain python3 (the paths
a migration's rows take: tests/it/conformance.rs runs the same helper inside the runtime
against every engine; this covers the cases no engine's data reaches).

usage: python3 check_python_rows.py HELPER    (prints "N passed, M failed")
"""
import dataclasses
import decimal
import sys
from typing import Optional

import helper_stub

helper = helper_stub.load(sys.argv[1])


class Dialect:
    def __init__(self, name):
        self.name = name


class Col:
    def __init__(self, name, type_name="TEXT"):
        self.name = name
        self.type_name = type_name


class Typed:
    """A typed value as the bindings give it, of a variant the helper takes as its value."""

    def __init__(self, value):
        self.value = value


@dataclasses.dataclass
class Row:
    id: int
    f: Optional[float]
    s: str
    d: Optional[decimal.Decimal] = None


@dataclasses.dataclass(kw_only=True)
class KwRow:
    id: int
    s: str


passed = failed = 0


def case(name, got, want):
    global passed, failed
    if got == want and type(got) is type(want):
        passed += 1
    else:
        failed += 1
        print(f"FAILED {name}: got {got!r}, want {want!r}", file=sys.stderr)


def raises(name, fn, text):
    global passed, failed
    try:
        fn()
    except helper.MigrationError as e:
        if text in str(e):
            passed += 1
            return
        failed += 1
        print(f"FAILED {name}: {e}", file=sys.stderr)
        return
    failed += 1
    print(f"FAILED {name}: nothing raised", file=sys.stderr)


# Parameter sets: JSON only when every value reaches the host as the same SQL value.
js = helper._json_sets
case("plain sets", js([(1, "a", None, True, 1.5), [2, "é", False, -0.5, "x"]]),
     '[[1,"a",null,true,1.5],[2,"é",false,-0.5,"x"]]')
case("64-bit bounds", js([[2**63 - 1, -2**63]]), "[[9223372036854775807,-9223372036854775808]]")
case("beyond 64 bits", js([[2**63]]), None)
case("nan", js([[float("nan")]]), None)
case("infinity", js([[float("-inf")]]), None)
case("bytes", js([[b"x"]]), None)
case("decimal", js([[decimal.Decimal("1.5")]]), None)
case("a set that is a string", js(["ab"]), None)
case("a nested list", js([[[1]]]), None)

# Results: JSON only where a string can only be text.
safe = helper._json_safe
case("sqlite plain", safe(Dialect("SQLITE"), [Col("a", "INTEGER"), Col("b", "VARCHAR(40)"), Col("c", ""),
                                             Col("d", "BOOLEAN"), Col("e", "BLOB")]), True)
for t in ("DATE", "DECIMAL(10,2)", "NUMERIC", "TIMESTAMP", "DATETIME", "UUID", "JSON", "TIME"):
    case(f"sqlite {t}", safe(Dialect("SQLITE"), [Col("a", "TEXT"), Col("b", t)]), False)
case("postgres plain", safe(Dialect("POSTGRES"), [Col("a", "INT8"), Col("b", "TEXT"), Col("c", "BYTEA")]), True)
for t in ("NUMERIC", "DATE", "UUID", "JSONB", "TIMESTAMPTZ"):
    case(f"postgres {t}", safe(Dialect("POSTGRES"), [Col("a", t)]), False)
case("mysql plain", safe(Dialect("MYSQL"), [Col("a", "BIGINT"), Col("b", "VARCHAR"), Col("c", "BOOLEAN")]), True)
for t in ("BIGINT UNSIGNED", "DECIMAL", "DATETIME", "JSON"):
    case(f"mysql {t}", safe(Dialect("MYSQL"), [Col("a", t)]), False)

# Tagged values of a JSON batch.
case("int tag", helper._untag({"int": "9007199254740993"}), 9007199254740993)
case("bytes tag", helper._untag({"bytes": [0, 255]}), b"\x00\xff")
case("float tag", str(helper._untag({"float": "-Infinity"})), "-inf")
raises("unknown tag", lambda: helper._untag({"json": 1}), "unexpected value")

# Rows: the same objects from JSON values and from typed ones.
cols = [Col("s"), Col("id"), Col("f"), Col("d")]
for typed in (False, True):
    wrap = (lambda vs: [Typed(v) for v in vs]) if typed else (lambda vs: vs)
    how = "typed" if typed else "json"
    make = helper._maker(Row)(cols, typed)
    case(f"{how}: fields by name, int to float", make(wrap(["x", 3, 4, None])), Row(3, 4.0, "x", None))
    case(f"{how}: float to decimal", make(wrap(["x", 3, None, 2.5])), Row(3, None, "x", decimal.Decimal("2.5")))
    case(f"{how}: keyword-only fields", helper._maker(KwRow)(cols, typed)(wrap(["x", 3, 4, None])), KwRow(id=3, s="x"))
    raises(f"{how}: lossy conversion names the field",
           lambda: make(wrap(["x", 7.5, None, None])), "Row.id: expected integer, found the float 7.5")
    case(f"{how}: tuple", helper._maker(tuple)(cols, typed)(wrap(["x", 1, 2.0, None])), ("x", 1, 2.0, None))
    case(f"{how}: dict", helper._maker(dict)(cols, typed)(wrap(["x", 1, 2.0, None])),
         {"s": "x", "id": 1, "f": 2.0, "d": None})
    missing = helper._maker(Row)([Col("id")], typed)  # matching fails on the first row, not before
    raises(f"{how}: missing columns", lambda: missing(wrap([1])), "Row needs column(s) f, s, d; the query returned id")

print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
