"""Loads the Python helper (guest-sdk/python/retort_guest.py) into plain python3 for the
checks in this directory. The helper imports componentize-py's generated modules at import
time; they are stubbed here, since what the checks exercise needs none of them."""
import importlib.util
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


def load(path):
    """The helper module at ``path``, on stubbed bindings."""
    imports = stub("wit_world.imports", report=stub("report"), schema=stub("schema"), sql=stub("sql"),
                   types=stub("wit_types"), json_batches=stub("json_batches"))
    stub("wit_world", imports=imports)
    stub("componentize_py_types", Err=Exception)
    spec = importlib.util.spec_from_file_location("retort_guest", path)
    helper = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(helper)
    return helper
