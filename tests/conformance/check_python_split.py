"""Checks the Python helper's split_script (and unwrap_transaction) against the cases shared
with the Rust SDK.

usage: python3 check_python_split.py HELPER CASES    (prints "N passed, M failed")

The helper is loaded on stubbed bindings (helper_stub.py): splitting needs none of them.
"""
import json
import sys

import helper_stub

helper = helper_stub.load(sys.argv[1])

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
