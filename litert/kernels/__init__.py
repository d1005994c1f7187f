"""Kernel modules, one per op family. Importing this package registers every kernel."""
import importlib
import pkgutil

for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _m != "common" and not _m.startswith("_"):
        importlib.import_module(f"{__name__}.{_m}")
