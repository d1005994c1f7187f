"""Ahead-of-time compilation of the kernel cores for aarch64 (litert/aot.py).

Fast tests run the pipeline on tiny hand-written cores: one that must pass, and cores that must
fail (allocation, raise, non-contiguous argument). The slow test runs the reference models and
small one-op models, then compiles every kernel core signature they used.
"""
import os
import shutil
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import models_dir
from oneop import GraphBuilder, one_op_model, options

from litert import aot

TINY = '''
import functools
import math

import numpy as np

from litert.kernels.common import jit


@jit
def scale_exp(x, out, a, dims):
    """C arrays, a scalar and a tuple of scalars; calls expf."""
    n, m = dims
    for i in range(n):
        for j in range(m):
            out[i, j] = math.exp(x[i, j] * a)


@jit
def total(x):
    s = 0.0
    for i in range(x.shape[0]):
        s += x[i]
    return s


@jit
def allocates(x, out):
    t = np.empty_like(x)
    for i in range(x.shape[0]):
        t[i] = x[i] * 2
    for i in range(x.shape[0]):
        out[i] = t[i]


@jit
def raises(x, out):
    for i in range(x.shape[0]):
        if x[i] < 0:
            raise ValueError("negative input")
        out[i] = x[i]


@jit
def strided(x, out):
    for i in range(x.shape[0]):
        out[i] = x[i]


@jit(inline="always")
def _twice(v):
    return v * 2


@jit
def _helper(x, i):
    return _twice(x[i])


@jit
def uses_helper(x, out):
    for i in range(x.shape[0]):
        out[i] = _helper(x, i)


@functools.lru_cache(maxsize=None)
def make_scale(k):
    @jit
    def scale(x, out):
        for i in range(x.shape[0]):
            out[i] = x[i] * k
    return scale


@functools.lru_cache(maxsize=None)
def make_offset(offset, negate):
    """Two closures of one name, a parameter they do not capture, a jitted closure captured."""
    @jit(inline="always")
    def shift(v):
        return v + offset
    if negate:
        @jit
        def apply(x, out):
            for i in range(x.shape[0]):
                out[i] = -shift(x[i])
    else:
        @jit
        def apply(x, out):
            for i in range(x.shape[0]):
                out[i] = shift(x[i])
    return apply


def eval_like(x, out):
    """Python code naming the cores, as a kernel's eval does."""
    scale_exp(x, out, np.float32(1), (1, 1))
    total(x[0])
    allocates(x[0], out[0])
    raises(x[0], out[0])
    strided(x[0], out[0])
    uses_helper(x[0], out[0])
    make_scale(3)(x[0], out[0])
    make_offset(2, True)(x[0], out[0])
    make_offset(2, False)(x[0], out[0])
'''


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """The TINY module, imported, each core compiled once in this process."""
    path = tmp_path_factory.mktemp("aot_tiny")
    (path / "aot_tiny_cores.py").write_text(TINY)
    sys.path.insert(0, str(path))
    try:
        import aot_tiny_cores as mod
    finally:
        sys.path.remove(str(path))
    x = np.linspace(0.0, 1.0, 12, dtype=np.float32).reshape(3, 4)
    out = np.zeros_like(x)
    mod.eval_like(x, out)
    mod.strided(x[0, ::2], out[0, :2])         # a non-contiguous view: outside the contract
    return path, mod


def test_roles_signatures_and_contract(tiny):
    path, mod = tiny
    jitted = aot.kernel_dispatchers([mod])
    roles = {j.name: j.role for j in jitted}
    assert roles["_twice"] == "inline"
    assert roles["_helper"] == "helper"
    assert roles["uses_helper"] == roles["scale_exp"] == roles["scale"] == "core"
    specs, failures, unexercised = aot.collect(jitted)
    names = sorted(s.name for s in specs)
    assert names == ["allocates", "apply", "apply", "raises", "scale", "scale_exp", "strided", "total",
                     "uses_helper"]
    assert unexercised == []
    (kernel, message), = failures
    assert kernel == "aot_tiny_cores.strided" and "argument 0" in message and "non-contiguous" in message
    spec = next(s for s in specs if s.name == "scale_exp")
    assert spec.symbol == "litert_aot_tiny_cores_scale_exp__f32x2_f32x2_f32_t2i64"
    assert spec.c_prototype() == ("void litert_aot_tiny_cores_scale_exp__f32x2_f32x2_f32_t2i64(float *a0, "
                                  "int64_t a0__0, int64_t a0__1, float *a1, int64_t a1__0, int64_t a1__1, "
                                  "float a2, int64_t a3__0, int64_t a3__1);")
    scale = next(s for s in specs if s.name == "scale")
    assert scale.closure.outer == "make_scale" and scale.closure.captured == (("k", 3),)
    assert scale.kernel == "aot_tiny_cores.make_scale.<scale>[k=3]"
    assert scale.symbol == "litert_aot_tiny_cores_make_scale_3_scale__f32x1_f32x1"
    applies = [s for s in specs if s.name == "apply"]
    assert len({s.symbol for s in applies}) == 2 and all("make_offset_2_apply_L" in s.symbol for s in applies)
    total = next(s for s in specs if s.name == "total")
    assert str(total.ret) == "float64" and total.symbol.endswith("__f32x1__rf64")


def test_describe_type_rejects_what_c_cannot_take():
    from numba.core import types
    assert aot.describe_type(types.Array(types.float32, 2, "C"), "x") == aot.Arg("array", "float32", 2)
    assert aot.describe_type(types.UniTuple(types.int64, 3), "t").code == "t3i64"
    assert aot.describe_type(types.Tuple((types.int64, types.float32)), "t").code == "Ti64f32E"
    for bad, words in [(types.Array(types.float32, 2, "F"), "Fortran"), (types.none, "none"),
                       (types.Tuple((types.int64, types.Array(types.int8, 1, "C"))), "tuples of scalars"),
                       (types.Array(types.float32, 0, "C"), "0-D")]:
        with pytest.raises(aot.Unsupported, match=words):
            aot.describe_type(bad, "argument 2")


def test_wrapper_source_rebuilds_arrays_and_tuples():
    args = (aot.Arg("array", "int8", 2), aot.Arg("tuple", items=(aot.Arg("scalar", "int64"),)),
            aot.Arg("scalar", "float32"))
    spec = aot.CoreSpec("m", "core", args, aot.Arg("scalar", "int64"))
    assert aot.wrapper_source(spec) == (
        "def wrapper(a0, a0__0, a0__1, a1__0, a2):\n"
        "    return _aot_core(_aot_carray(a0, (a0__0, a0__1, )), (a1__0, ), a2)\n")


@pytest.fixture(scope="module")
def tiny_objects(tiny, tmp_path_factory):
    """Every TINY core compiled for aarch64: (out_dir, {name: Result}, [Result])."""
    path, mod = tiny
    out = tmp_path_factory.mktemp("aot_tiny_objects")
    specs, _, _ = aot.collect(aot.kernel_dispatchers([mod]))
    results = aot.compile_cores(specs, jobs=2, out_dir=out, extra_path=[path])
    print(aot.report(results))
    return out, {r.spec.name: r for r in results}, results


def test_pipeline_passes_a_clean_core_and_bites_on_bad_ones(tiny_objects):
    tmp_path, results, all_results = tiny_objects
    assert [r.ok for r in all_results if r.spec.name == "apply"] == [True, True]
    for name in ("scale_exp", "total", "uses_helper", "scale", "strided", "apply"):
        r = results[name]
        assert r.ok, (name, r.problem)
        assert r.exported == [r.spec.symbol] and r.object_size > 0
        assert set(r.undefined) <= aot.ALLOWED_UNDEFINED
    assert "expf" in results["scale_exp"].undefined
    bad = results["allocates"]
    assert not bad.ok and any(s.startswith("NRT_MemInfo_alloc") for s in bad.disallowed)
    assert any("allocates" in h for h in bad.hints)
    bad = results["raises"]
    assert not bad.ok and "numba_do_raise" in bad.disallowed
    assert "can raise ValueError: negative input" in bad.hints
    # only passing objects are written; the ELF reader agrees with nm where there is one
    assert sorted(p.stem for p in tmp_path.glob("*.o")) == sorted(r.spec.symbol for r in all_results if r.ok)
    obj = tmp_path / (results["scale_exp"].spec.symbol + ".o")
    syms = aot.elf_symbols(obj.read_bytes())
    assert {s.name for s in syms if not s.defined and s.name} == set(results["scale_exp"].undefined)
    nm = shutil.which("llvm-nm") or shutil.which("aarch64-linux-gnu-nm")
    if nm:
        out = subprocess.run([nm, "-u", str(obj)], capture_output=True, text=True, check=True).stdout.split()
        assert sorted(s for s in out if s != "U") == results["scale_exp"].undefined


def test_a_core_that_cannot_load_fails_alone(tiny):
    path, mod = tiny
    good = aot.CoreSpec("aot_tiny_cores", "total", (aot.Arg("array", "float32", 1),), aot.Arg("scalar", "float64"))
    missing = aot.CoreSpec("aot_no_such_module", "core", (aot.Arg("scalar", "int64"),))
    r_good, r_missing = aot.compile_cores([good, missing], jobs=1, extra_path=[path])
    assert r_good.ok
    assert not r_missing.ok and "ModuleNotFoundError" in r_missing.error


def test_elf_reader_rejects_other_machines():
    with pytest.raises(ValueError, match="ELF"):
        aot.elf_symbols(b"not an object file")


@pytest.mark.skipif(shutil.which("aarch64-linux-gnu-ld") is None,
                    reason="binutils-aarch64-linux-gnu is not installed")
def test_objects_link_into_a_shared_library(tiny_objects, tmp_path):
    out, results, _ = tiny_objects
    specs = [results[name].spec for name in ("scale_exp", "total")]
    lib = aot.link_shared([out / (s.symbol + ".o") for s in specs], tmp_path / "libtiny.so")
    syms = aot.elf_symbols(lib.read_bytes())
    assert {s.name for s in syms if not s.defined and s.name} == {"expf"}
    assert {s.symbol for s in specs} <= {s.name for s in syms if s.defined and s.bind == 1}


def test_runtime_does_not_import_aot():
    code = textwrap.dedent("""
        import sys
        import numpy as np
        from litert import Interpreter
        sys.path.insert(0, "tests")
        from oneop import one_op_model
        x = ("input", (2,), np.float32)
        m = one_op_model("ADD", [x, x], [((2,), np.float32)])
        it = Interpreter(model_content=m)
        it.allocate_tensors()
        it.invoke()
        print("litert.aot" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=str(aot.Path(aot.__file__).resolve().parent.parent))
    assert out.stdout.strip() == "False"


# -- every kernel core --------------------------------------------------------------------------
F32, I8, U8, I16, I32, I64, BOOL = np.float32, np.int8, np.uint8, np.int16, np.int32, np.int64, np.bool_
Q8 = ([0.05], [3])


def _model(op, inputs, outputs, opts=None):
    return lambda: one_op_model(op, inputs, outputs, opts)


def one_op_models():
    """Small models for cores the reference models may not reach. A model a kernel rejects is
    reported by aot.exercise and skipped: coverage, not correctness, is the point here."""
    x = ("input", (2, 3, 4), F32)
    m = []
    for op in ("LOGISTIC", "TANH", "RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1", "HARD_SWISH",
               "EXP", "SIN", "COS", "RSQRT", "SQRT", "ABS", "NEG", "LOG", "SQUARE"):
        m.append(_model(op, [x], [((2, 3, 4), F32)]))
    m.append(_model("LEAKY_RELU", [x], [((2, 3, 4), F32)], options("LeakyReluOptions", alpha=0.2)))
    for approx in (False, True):
        m.append(_model("GELU", [x], [((2, 3, 4), F32)], options("GeluOptions", approximate=approx)))
    for alpha in (np.full((4,), 0.1, F32), np.full((3, 1), 0.1, F32)):
        m.append(_model("PRELU", [x, ("const", alpha)], [((2, 3, 4), F32)]))
    for op, dt in (("NEG", I32), ("NEG", I64), ("ABS", I32)):
        m.append(_model(op, [("input", (2, 3), dt)], [((2, 3), dt)]))
    for src, dst in ((F32, I32), (I32, BOOL), (I32, F32), (F32, U8)):
        m.append(_model("CAST", [("input", (2, 3), src)], [((2, 3), dst)]))
    for op in ("LESS", "GREATER_EQUAL", "EQUAL", "NOT_EQUAL"):
        for b in ((2, 3), (3,), (2, 1)):
            m.append(_model(op, [("input", (2, 3), F32), ("input", b, F32)], [((2, 3), BOOL)]))
    m.append(_model("LESS", [("input", (2, 3), I32), ("input", (2, 3), I32)], [((2, 3), BOOL)]))
    for op in ("LOGICAL_AND", "LOGICAL_OR"):
        m.append(_model(op, [("input", (2, 3), BOOL), ("input", (3,), BOOL)], [((2, 3), BOOL)]))
    m.append(_model("LOGICAL_NOT", [("input", (2, 3), BOOL)], [((2, 3), BOOL)]))
    for c in ((2, 3), (2, 1)):
        m.append(_model("SELECT_V2", [("input", c, BOOL), ("input", (2, 3), F32), ("input", (2, 3), F32)],
                        [((2, 3), F32)]))
    for op, dt in (("ADD", I32), ("SUB", I32), ("DIV", F32), ("SQUARED_DIFFERENCE", F32)):
        m.append(_model(op, [("input", (2, 3), dt), ("input", (3,), dt)], [((2, 3), dt)]))
    m.append(_model("ADD", [("input", (2, 3), I8, Q8), ("input", (2, 3), I8, Q8)], [((2, 3), I8, ([0.1], [0]))],
                    options("AddOptions")))
    m.append(_model("BATCH_MATMUL", [("input", (2, 4, 3), F32), ("input", (2, 4, 5), F32)], [((2, 3, 5), F32)],
                    options("BatchMatMulOptions", adjX=True)))
    m.append(_model("FULLY_CONNECTED", [("input", (2, 8), F32), ("const", np.ones((4, 8), F32)), None],
                    [((2, 4), F32)], options("FullyConnectedOptions")))
    w = np.full((4, 3, 3, 3), 0.1, F32)
    m.append(_model("CONV_2D", [("input", (1, 6, 6, 3), F32), ("const", w), ("const", np.zeros(4, F32))],
                    [((1, 6, 6, 4), F32)], options("Conv2DOptions", padding=0, strideW=1, strideH=1)))
    dw = np.full((1, 3, 3, 3), 0.1, F32)
    m.append(_model("DEPTHWISE_CONV_2D", [("input", (1, 6, 6, 3), F32), ("const", dw),
                                          ("const", np.zeros(3, F32))], [((1, 6, 6, 3), F32)],
                    options("DepthwiseConv2DOptions", padding=0, strideW=1, strideH=1, depthMultiplier=1)))
    m.append(_model("CONCATENATION", [("input", (2, 3), F32), ("input", (2, 2), F32)], [((2, 5), F32)],
                    options("ConcatenationOptions", axis=1, fusedActivationFunction=1)))
    m.append(_model("CONCATENATION", [("input", (2, 3), U8, ([0.1], [5])), ("input", (2, 2), U8, ([0.2], [7]))],
                    [((2, 5), U8, ([0.3], [9]))], options("ConcatenationOptions", axis=1)))
    m.append(_model("DEQUANTIZE", [("input", (2, 3), I8, Q8)], [((2, 3), F32)]))
    m.append(_model("QUANTIZE", [("input", (2, 3), F32)], [((2, 3), I8, Q8)]))
    m.append(_model("QUANTIZE", [("input", (2, 3), I8, Q8)], [((2, 3), I8, ([0.1], [-2]))]))
    m.append(_model("GATHER", [("input", (4, 3), F32), ("const", np.array([2, 0], I32))], [((2, 3), F32)],
                    options("GatherOptions", axis=0)))
    m.append(_model("GATHER_ND", [("input", (4, 3), F32), ("const", np.array([[2], [0]], I32))],
                    [((2, 3), F32)]))
    m.append(_model("L2_NORMALIZATION", [x], [((2, 3, 4), F32)], options("L2NormOptions")))
    m.append(_model("LOCAL_RESPONSE_NORMALIZATION", [("input", (1, 2, 2, 6), F32)], [((1, 2, 2, 6), F32)],
                    options("LocalResponseNormalizationOptions", radius=2, bias=1.0, alpha=0.5, beta=0.75)))
    pads = np.array([[0, 0], [1, 1], [2, 0]], I32)
    m.append(_model("PAD", [x, ("const", pads)], [((2, 5, 6), F32)]))
    m.append(_model("MIRROR_PAD", [x, ("const", pads)], [((2, 5, 6), F32)],
                    options("MirrorPadOptions", mode=0)))
    for op, dt, q in (("AVERAGE_POOL_2D", I8, Q8), ("MAX_POOL_2D", F32, None), ("AVERAGE_POOL_2D", F32, None)):
        inp = ("input", (1, 4, 4, 2), dt) + ((q,) if q else ())
        out = ((1, 2, 2, 2), dt) + ((q,) if q else ())
        m.append(_model(op, [inp], [out], options("Pool2DOptions", padding=1, strideW=2, strideH=2,
                                                        filterWidth=2, filterHeight=2)))
    for op, dt, q, axes in (("SUM", F32, None, [0]), ("MEAN", F32, None, [1]), ("MEAN", I32, None, [1]),
                            ("MEAN", I8, Q8, [1]), ("REDUCE_PROD", I8, Q8, [1]), ("REDUCE_MAX", F32, None, [0]),
                            ("SUM", I8, Q8, [0]), ("SUM", F32, None, [0, 2])):
        quant = (q,) if q else ()
        shape = tuple(n for d, n in enumerate((2, 3, 4)) if d not in axes)
        m.append(_model(op, [("input", (2, 3, 4), dt) + quant, ("const", np.array(axes, I32))],
                        [(shape, dt) + quant], options("ReducerOptions")))
    for dt, q in ((F32, None), (I8, Q8)):
        inp = ("input", (1, 2, 3, 2), dt) + ((q,) if q else ())
        m.append(_model("RESIZE_BILINEAR", [inp, ("const", np.array([4, 5], I32))],
                        [((1, 4, 5, 2), dt) + ((q,) if q else ())], options("ResizeBilinearOptions")))
    m.append(_model("RESIZE_NEAREST_NEIGHBOR", [("input", (1, 2, 3, 2), F32), ("const", np.array([4, 5], I32))],
                    [((1, 4, 5, 2), F32)], options("ResizeNearestNeighborOptions")))
    m.append(_model("SLICE", [x, ("input", (3,), I32), ("const", np.array([1, 2, 2], I32))],
                    [((1, 2, 2), F32)]))
    begin, end, stride = (("const", np.array(v, I32)) for v in ([0, 0, 0], [2, 3, 4], [1, 2, 2]))
    m.append(_model("STRIDED_SLICE", [x, begin, end, stride], [((2, 2, 2), F32)], options("StridedSliceOptions")))
    m.append(_model("TRANSPOSE", [x, ("const", np.array([2, 0, 1], I32))], [((4, 2, 3), F32)]))
    m.append(_model("SOFTMAX", [("input", (2, 5), F32)], [((2, 5), F32)], options("SoftmaxOptions", beta=1.0)))
    m.append(_model("LOG_SOFTMAX", [("input", (2, 5), F32)], [((2, 5), F32)]))
    m.append(_model("SPACE_TO_DEPTH", [("input", (1, 4, 4, 2), F32)], [((1, 2, 2, 8), F32)],
                    options("SpaceToDepthOptions", blockSize=2)))
    m.append(_model("DEPTH_TO_SPACE", [("input", (1, 2, 2, 8), F32)], [((1, 4, 4, 2), F32)],
                    options("DepthToSpaceOptions", blockSize=2)))
    m.append(_model("SPLIT", [("const", np.array(1, I32)), ("input", (2, 4), F32)],
                    [((2, 2), F32), ((2, 2), F32)], options("SplitOptions", numSplits=2)))
    m += quantized_models()
    return m


def quantized_models():
    """int8/int16 variants (fixed output scales as TFLite requires) and hybrid weights."""
    qw = ([0.02] * 4, [0] * 4, 0)           # per-channel int8 weights
    w8 = np.arange(-16, 16, dtype=I8).reshape(4, 8)
    w_conv = np.ones((4, 3, 3, 3), I8)
    bias = ("const", np.zeros(4, I32), ([0.001] * 4, [0] * 4))
    out8 = ([0.1], [-1])
    conv = options("Conv2DOptions", padding=0, strideW=1, strideH=1)
    return [
        _model("LOGISTIC", [("input", (2, 5), I8, Q8)], [((2, 5), I8, ([1 / 256], [-128]))]),
        _model("TANH", [("input", (2, 5), I8, Q8)], [((2, 5), I8, ([1 / 128], [0]))]),
        _model("SOFTMAX", [("input", (2, 5), I8, Q8)], [((2, 5), I8, ([1 / 256], [-128]))],
               options("SoftmaxOptions", beta=1.0)),
        _model("SOFTMAX", [("input", (2, 5), np.int16, ([0.001], [0]))], [((2, 5), np.int16, ([1 / 32768], [0]))],
               options("SoftmaxOptions", beta=1.0)),
        _model("LOG_SOFTMAX", [("input", (2, 5), I8, Q8)], [((2, 5), I8, ([16 / 256], [127]))]),
        _model("FULLY_CONNECTED", [("input", (2, 8), I8, Q8), ("const", w8, ([0.02], [0])),
                                   ("const", np.zeros(4, I32), ([0.001], [0]))], [((2, 4), I8, out8)],
               options("FullyConnectedOptions")),
        _model("FULLY_CONNECTED", [("input", (2, 8), F32), ("const", w8, ([0.02], [0])), None], [((2, 4), F32)],
               options("FullyConnectedOptions")),
        _model("CONV_2D", [("input", (1, 5, 5, 3), I8, Q8), ("const", w_conv, qw), bias],
               [((1, 5, 5, 4), I8, out8)], conv),
        _model("CONV_2D", [("input", (1, 5, 5, 3), F32), ("const", w_conv, qw), ("const", np.zeros(4, F32))],
               [((1, 5, 5, 4), F32)], conv),
        _model("DEPTHWISE_CONV_2D", [("input", (1, 5, 5, 4), I8, Q8), ("const", np.ones((1, 3, 3, 4), I8),
                                                                      ([0.02] * 4, [0] * 4, 3)), bias],
               [((1, 5, 5, 4), I8, out8)],
               options("DepthwiseConv2DOptions", padding=0, strideW=1, strideH=1, depthMultiplier=1)),
        _model("TRANSPOSE_CONV", [("const", np.array([1, 6, 6, 4], I32)), ("const", w_conv, qw),
                                  ("input", (1, 3, 3, 3), I8, Q8)], [((1, 6, 6, 4), I8, out8)],
               options("TransposeConvOptions", padding=0, strideW=2, strideH=2)),
        # float transpose conv wide enough for packed panels
        _model("TRANSPOSE_CONV", [("const", np.array([1, 6, 6, 16], I32)), ("const", np.ones((16, 3, 3, 3), F32)),
                                  ("input", (1, 3, 3, 3), F32)], [((1, 6, 6, 16), F32)],
               options("TransposeConvOptions", padding=0, strideW=2, strideH=2)),
        # uint8 and 16x8 convolutions (the generic integer path)
        _model("CONV_2D", [("input", (1, 5, 5, 3), U8, ([0.05], [128])), ("const", w_conv.astype(U8) + 120,
                                                                         ([0.02], [128])),
                           ("const", np.zeros(4, I32), ([0.001], [0]))], [((1, 5, 5, 4), U8, ([0.1], [127]))], conv),
        _model("CONV_2D", [("input", (1, 5, 5, 3), I16, ([0.001], [0])), ("const", w_conv, qw),
                           ("const", np.zeros(4, np.int64), ([0.00002] * 4, [0] * 4))],
               [((1, 5, 5, 4), I16, ([0.002], [0]))], conv),
        # hybrid depthwise and hybrid BATCH_MATMUL
        _model("DEPTHWISE_CONV_2D", [("input", (1, 5, 5, 4), F32), ("const", np.ones((1, 3, 3, 4), I8),
                                                                    ([0.02] * 4, [0] * 4, 3)),
                                     ("const", np.zeros(4, F32))], [((1, 5, 5, 4), F32)],
               options("DepthwiseConv2DOptions", padding=0, strideW=1, strideH=1, depthMultiplier=1)),
        _model("BATCH_MATMUL", [("input", (2, 3, 8), F32), ("const", w8.T.copy(), ([0.02], [0]))],
               [((2, 3, 4), F32)], options("BatchMatMulOptions")),
    ]


def model_zoo():
    """Models built by other test files' builders, for cores only those shapes reach: float and
    hybrid SVDF, hybrid LSTM, FULLY_CONNECTED / BATCH_MATMUL with run-time integer weights, uint8
    FULLY_CONNECTED, quantized comparisons."""
    from test_batch_matmul import int_bmm_model
    from test_compare import quant_model
    from test_fully_connected import int_fc_model
    from test_lstm_int import hybrid_lstm_model
    from test_svdf import svdf_model
    rng = np.random.default_rng(0)
    wf = rng.uniform(-1, 1, (4, 6)).astype(F32)
    wt = rng.uniform(-1, 1, (4, 3)).astype(F32)
    w8 = rng.integers(-127, 128, (4, 8)).astype(I8)
    return [
        lambda: svdf_model(2, 6, 4, 3, 2, wf, wt, np.zeros(2, F32), act=0),
        lambda: svdf_model(2, 6, 4, 3, 2, (wf * 100).astype(I8), (wt * 100).astype(I8), np.zeros(2, F32),
                           act=0, q={"wf": (0.01, 0), "wt": (0.01, 0)}),
        lambda: hybrid_lstm_model()[0],
        lambda: hybrid_lstm_model(asymmetric=True)[0],
        lambda: int_fc_model((2, 8), w8, ([0.02], [0]), np.zeros(4, I32), (2, 4), (0.1, 3), (0.2, -1),
                             const_w=False, const_b=False),
        lambda: int_fc_model((2, 8), w8.astype(np.int16).astype(U8), ([0.02], [100]), np.zeros(4, I32), (2, 4),
                             (0.1, 3), (0.2, 7), x_type=U8),
        lambda: int_bmm_model((2, 3, 8), (2, 8, 4), (2, 3, 4), (0.1, 3), (0.05, -2), (0.3, 1)),
        lambda: quant_model("LESS", I8, (0.1, 3), (0.2, -5), (2, 3), (2, 3)),
        # hybrid with run-time int8 weights: their row sums are taken at every invoke
        lambda: one_op_model("FULLY_CONNECTED", [("input", (3, 8), F32), ("input", (4, 8), I8, ([0.02], [0], 0))],
                             [((3, 4), F32)], options("FullyConnectedOptions", asymmetricQuantizeInputs=True)),
        lambda: int_bmm_model((2, 3, 8), (2, 8, 4), (2, 3, 4), None, ([0.02], [0], 2), None, F32, I8, F32,
                              False, False, True),
    ]


def all_models():
    models = []
    root = models_dir()
    if root is not None:
        models += sorted(root.rglob("*.tflite"))
    for make in one_op_models() + model_zoo():
        try:
            models.append(make())
        except Exception as e:        # the builder refusing an entry must not hide the others
            print(f"one-op model not built: {type(e).__name__}: {e}")
    return models


MIN_CORE_SIGNATURES = 40   # far below what the models above exercise: the check cannot pass empty


@pytest.mark.slow
def test_every_kernel_core_compiles_for_aarch64():
    ran = aot.exercise(all_models())
    jitted = aot.kernel_dispatchers()
    specs, failures, unexercised = aot.collect(jitted)
    results = aot.compile_cores(specs, jobs=max(2, os.cpu_count() or 2))
    print(aot.report(results, failures, unexercised, jitted, ran))
    bad = [f"{r.spec.kernel} {r.spec.signature_text}: {r.problem}" for r in results if not r.ok]
    bad += [f"{k}: {m}" for k, m in failures]
    assert not bad, "cores that do not compile ahead of time for aarch64:\n" + "\n".join(bad)
    assert len(results) >= MIN_CORE_SIGNATURES
