"""Kernel modules, one per op family. Importing this package registers every kernel.

numba's on-disk cache checks a kernel's own source file only: a change to a jitted helper it
calls from another file (gemm.py, qmath.py, ...) would reuse a stale compiled kernel. So the
cache lives in a directory named by a hash of every kernel module that other kernel modules
import from (under NUMBA_CACHE_DIR if set, else ~/.cache/litert/numba): a change to a shared
helper starts a fresh cache; a change to a leaf module is caught by numba itself.
"""
import hashlib
import importlib
import os
import pkgutil
import re

import numba


def _cache_dir():
    digest = hashlib.sha256(numba.__version__.encode())
    here = os.path.dirname(__file__)
    sources = {}
    for name in sorted(os.listdir(here)):
        if name.endswith(".py"):
            with open(os.path.join(here, name), "rb") as f:
                sources[name[:-3]] = f.read()
    shared = set()
    for text in sources.values():
        shared.update(re.findall(rb"^from \.(\w+) import", text, re.M))
    for name in sorted(shared):
        digest.update(name + b"\0" + sources.get(name.decode(), b""))
    base = os.environ.get("NUMBA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "litert", "numba")
    return os.path.join(base, digest.hexdigest()[:16])


numba.config.CACHE_DIR = _cache_dir()

for _m in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _m != "common" and not _m.startswith("_"):
        importlib.import_module(f"{__name__}.{_m}")
