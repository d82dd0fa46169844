"""Retort's shared Python runtime: runs the Python migration the host hands it.

Built once per machine by ``retort build`` with componentize-py (the ``schema-script-runtime`` world of
``retort:migration@0.3.0``); every Python migration of a project is a small script artifact that
names this runtime by digest. Each migration runs in a fresh instance: on its first call the
runtime reads the migration (``script.current()``), executes ``migration.py`` as the module
``migration`` (its other ``.py`` files importable by name) and serves the ``WitWorld`` that
``retort_guest.export`` made of it, exactly as a migration built on its own would.

Nothing runs at build time but the imports below (componentize-py snapshots them), so the
interpreter and ``retort_guest`` start ready.
"""

import importlib.abc
import importlib.util
import sys

import retort_guest  # noqa: F401  (imported here so the snapshot holds it)
import wit_world
from wit_world.imports import script

_served = None


class _Files(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports a migration's own helper modules from its files."""

    def __init__(self, files):
        self.files = files

    def find_spec(self, name, path=None, target=None):
        file = name.replace(".", "/") + ".py"
        if file in self.files:
            return importlib.util.spec_from_loader(name, self, origin=file)
        return None

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        file = module.__spec__.origin
        exec(compile(self.files[file], file, "exec"), module.__dict__)


def _migration():
    global _served
    if _served is None:
        m = script.current()
        files = {f.name: f.contents for f in m.files}
        if "migration.py" not in files:
            raise RuntimeError("the script artifact has no migration.py")
        settings = dict(m.settings)
        shown = settings.get("source", "migration.py")
        del files["migration.py"]
        main = next(f.contents for f in m.files if f.name == "migration.py")
        sys.meta_path.insert(0, _Files(files))
        module = type(sys)("migration")
        module.__file__ = shown
        sys.modules["migration"] = module
        exec(compile(main, shown, "exec"), module.__dict__)
        world = module.__dict__.get("WitWorld")
        if world is None:
            raise RuntimeError(f"{shown} defines no WitWorld: end it with `WitWorld = export(YourMigration)`")
        _served = world()
    return _served


class WitWorld(wit_world.WitWorld):
    def metadata(self):
        return _migration().metadata()

    def upgrade(self, tx):
        return _migration().upgrade(tx)

    def downgrade(self, tx):
        return _migration().downgrade(tx)
