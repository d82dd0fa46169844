"""Checks the Python helper's split_script (and unwrap_transaction) against the cases shared
with the Rust SDK.

usage: python3 check_python_split.py HELPER CASES    (prints "N passed, M failed")

The helper imports componentize-py's generated modules at import time; they are stubbed here,
since splitting needs none of them.
"""
import importlib.util
import json
import sys
import types


class Permissive(types.ModuleType):
    """A stub module: any attribute is a placeholder class (the helper's annotations name
    generated types at import time)."""

    def __getattr__(self, name):
        return type(name, (), {})


def stub(name, **attrs):
    module = Permissive(name)
    module.__dict__.update(attrs)
    sys.modules[name] = module
    return module


imports = stub("wit_world.imports", report=stub("report"), schema=stub("schema"), sql=stub("sql"),
               types=stub("wit_types"))
stub("wit_world", imports=imports)
stub("componentize_py_types", Err=Exception)

spec = importlib.util.spec_from_file_location("retort_guest", sys.argv[1])
helper = importlib.util.module_from_spec(spec)
spec.loader.exec_module(helper)

passed = failed = 0
for case in json.load(open(sys.argv[2], encoding="utf-8")):
    try:
        got = helper.split_script(case["script"], case["dialect"])
        ok = "error" not in case and got == case["statements"]
        detail = got
        if ok and "unwrapped" in case:
            inner = helper.unwrap_transaction(got, case["dialect"])
            ok = inner == case["unwrapped"]
            detail = f"unwrapped: {inner!r}"
    except ValueError as e:
        ok = "error" in case and case["error"] in str(e)
        detail = f"ValueError: {e}"
    if ok:
        passed += 1
    else:
        failed += 1
        print(f"FAILED {case['name']}: {detail!r}", file=sys.stderr)
print(f"{passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
