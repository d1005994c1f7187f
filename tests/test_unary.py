import numpy as np
import pytest

from litert.errors import PrepareError
from oneop import assert_same, one_op_model, run_litert, run_official

FLOAT_OPS = ["EXP", "SIN", "COS", "RSQRT", "SQRT", "ABS", "NEG", "LOG", "SQUARE"]
POSITIVE_DOMAIN = {"RSQRT", "SQRT", "LOG"}
SHAPES = [(), (7,), (2, 3), (1, 4, 1), (2, 1, 3, 4), (2, 3, 1, 2, 2)]
# zeros of both signs, negatives, NaN, infinities, huge, tiny and denormal magnitudes
EDGE = np.array([0.0, -0.0, 1.0, -1.0, 0.5, -2.5, np.nan, np.inf, -np.inf, 1e-40, -1e-40, 1e-30,
                 88.0, 89.0, -87.0, -104.0, 1e19, -1e19, 3.4e38, -3.4e38], np.float32)


def assert_same_specials(model, inputs, rtol=1e-5, atol=1e-6):
    """Like oneop.assert_same, but strict where floats are special: NaN exactly where the official
    has NaN, the same infinities, the same sign where both give zero, and the finite values within
    tolerance (assert_same scales its tolerance by the largest magnitude, which an infinity makes
    infinite)."""
    want = run_official(model, inputs)
    got = run_litert(model, inputs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape, (g.dtype, g.shape, w.dtype, w.shape)
        np.testing.assert_array_equal(np.isnan(g), np.isnan(w), "NaN positions differ")
        np.testing.assert_array_equal(np.isposinf(g), np.isposinf(w), "+inf positions differ")
        np.testing.assert_array_equal(np.isneginf(g), np.isneginf(w), "-inf positions differ")
        finite = np.isfinite(w)
        np.testing.assert_allclose(g[finite], w[finite], rtol=rtol, atol=atol)
        zeros = (g == 0) & (w == 0)
        np.testing.assert_array_equal(np.signbit(g[zeros]), np.signbit(w[zeros]), "signs of zero differ")
    return got


def unary_model(op, shape, dtype=np.float32, out_dtype=None, opts=None):
    return one_op_model(op, [("input", shape, dtype)], [(shape, out_dtype or dtype)], opts)


@pytest.mark.parametrize("op", FLOAT_OPS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_unary_float32(op, shape):
    rng = np.random.default_rng(0)
    lo = 0.01 if op in POSITIVE_DOMAIN else -6.0
    x = rng.uniform(lo, 6.0, shape).astype(np.float32)
    assert_same(unary_model(op, shape), [x])


@pytest.mark.parametrize("op", FLOAT_OPS)
def test_unary_edge_values(op):
    got = assert_same_specials(unary_model(op, EDGE.shape), [EDGE])[0]
    if op in ("NEG", "ABS", "SQRT"):   # exact ops keep the sign of zero as TFLite does
        want = {"NEG": -EDGE, "ABS": np.abs(EDGE), "SQRT": np.sqrt(np.where(EDGE < 0, np.nan, EDGE))}[op]
        np.testing.assert_array_equal(np.signbit(got[:2]), np.signbit(want[:2]))
    if op == "RSQRT":
        assert got[0] == np.inf and got[1] == -np.inf   # 1 / sqrt(-0) = -inf


@pytest.mark.parametrize("op,dtype", [("NEG", np.int32), ("NEG", np.int64), ("ABS", np.int32)])
def test_unary_int(op, dtype):
    info = np.iinfo(dtype)
    x = np.array([0, 1, -1, 7, -7, info.max, info.min, info.min + 1], dtype).reshape(2, 4)
    got = assert_same(unary_model(op, x.shape, dtype), [x])[0]
    assert got[1, 2] == info.min   # wraps like the official kernel


@pytest.mark.parametrize("op,dtype", [("SQRT", np.int32), ("EXP", np.int64), ("SQUARE", np.int32),
                                      ("NEG", np.int8), ("ABS", np.int64)])
def test_unary_rejects_type(op, dtype):
    with pytest.raises(PrepareError, match=op):
        run_litert(unary_model(op, (3,), dtype), [np.zeros(3, dtype)])


# -- CAST -----------------------------------------------------------------------------------

CAST_TYPES = [np.float32, np.float16, np.int32, np.int64, np.int16, np.int8, np.uint8, np.bool_]
# truncation toward zero on both sides, each integer type's bounds and just past them, values
# float16 cannot hold, NaN and infinities
FLOAT_VALUES = [0.0, -0.0, 0.4, 0.6, -0.4, -0.6, 1.5, -1.5, 2.5, -2.5, 127.9, 128.5, -128.5,
                -129.0, 255.5, 256.0, 300.0, -300.0, 32767.5, 32768.0, 40000.0, -40000.0, 65519.0,
                65520.0, 2.0 ** 31, -2.0 ** 31, 3e9, -3e9, 1e19, -1e19, np.inf, -np.inf, np.nan]
INT_VALUES = [0, 1, -1, 2, 127, 128, -128, -129, 255, 256, 300, -300, 32767, 32768, -32769, 65535,
              65536, 65519, 65520, 2049, 4097, 16777217, 2 ** 31 - 1, -2 ** 31]


def cast_input(dtype):
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return np.array([True, False, True, True, False, False])
    if dtype.kind == "f":
        with np.errstate(over="ignore"):
            return np.array(FLOAT_VALUES, np.float32).astype(dtype)
    return np.array(INT_VALUES, np.int64).astype(dtype)   # wraps into narrower types


@pytest.mark.parametrize("src", CAST_TYPES, ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("dst", CAST_TYPES, ids=lambda t: np.dtype(t).name)
def test_cast(src, dst):
    x = cast_input(src)
    model = unary_model("CAST", x.shape, src, dst)
    want = run_official(model, [x])[0]
    got = run_litert(model, [x])[0]
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)   # exact, NaN where the official has NaN


def test_cast_semantics():
    """The measured official semantics, spelled out (so they cannot drift silently)."""
    x = np.array([-0.6, -1.5, 2.9, 300.0, -300.0, np.nan, np.inf, -np.inf], np.float32)
    want = {np.int8: [0, -1, 2, 127, -128, 127, 127, -128],
            np.uint8: [0, 0, 2, 255, 0, 255, 255, 0],
            np.int32: [0, -1, 2, 300, -300, 2 ** 31 - 1, 2 ** 31 - 1, -2 ** 31],
            np.bool_: [True, True, True, True, True, True, True, True]}
    for dst, values in want.items():
        got = run_litert(unary_model("CAST", x.shape, np.float32, dst), [x])[0]
        np.testing.assert_array_equal(got, np.array(values, dst))
    got = run_litert(unary_model("CAST", (3,), np.int32, np.int8), [np.array([300, -129, 255], np.int32)])[0]
    np.testing.assert_array_equal(got, [44, 127, -1])


@pytest.mark.parametrize("src,dst", [(np.float32, np.int8), (np.int32, np.float16), (np.float16, np.uint8)])
def test_cast_multidim_and_constant(src, dst):
    rng = np.random.default_rng(3)
    x = rng.uniform(-200, 200, (2, 1, 3, 4)).astype(src)
    assert_same(unary_model("CAST", x.shape, src, dst), [x])
    # a constant input is folded at prepare time (float16 cases use scratch there too)
    model = one_op_model("CAST", [("const", x)], [(x.shape, dst)])
    np.testing.assert_array_equal(run_litert(model, [])[0], run_official(model, [])[0])


def test_cast_rejects_type():
    with pytest.raises(PrepareError, match="CAST"):
        run_litert(unary_model("CAST", (3,), np.float32, np.float64), [np.zeros(3, np.float32)])
