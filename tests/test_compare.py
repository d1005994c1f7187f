import numpy as np
import pytest

from litert.errors import PrepareError
from litert.kernels.compare import broadcast_plan
from oneop import assert_same, one_op_model, run_litert

COMPARE_OPS = ["LESS", "LESS_EQUAL", "GREATER", "GREATER_EQUAL", "EQUAL", "NOT_EQUAL"]
# same shape, vector against matrix, scalar, size-1 axes both sides, rank 5, rank 6 with axes
# that alternate between the operands (6 distinct broadcast axes)
SHAPES = [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (4,)), ((5,), ()), ((), (3, 2)), ((1, 3, 1), (2, 1, 5)),
          ((2, 1, 3, 1, 2), (1, 4, 1, 5, 2)), ((1, 2, 1, 3, 1, 2), (2, 1, 3, 1, 2, 1)), ((3, 1), (3, 1))]


def random_values(rng, shape, dtype):
    """Small integers, so that equal pairs are frequent."""
    if np.dtype(dtype) == np.bool_:
        return rng.integers(0, 2, shape).astype(bool)
    return rng.integers(-3, 4, shape).astype(dtype)


def binary_model(op, sa, sb, dtype, out_dtype=np.bool_):
    out = np.broadcast_shapes(sa, sb)
    return one_op_model(op, [("input", sa, dtype), ("input", sb, dtype)], [(out, out_dtype)])


@pytest.mark.parametrize("op", COMPARE_OPS)
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64], ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_compare(op, dtype, shapes):
    rng = np.random.default_rng(0)
    a, b = (random_values(rng, s, dtype) for s in shapes)
    assert_same(binary_model(op, *shapes, dtype), [a, b])


@pytest.mark.parametrize("op", COMPARE_OPS)
def test_compare_float_specials(op):
    v = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0], np.float32)
    a, b = np.meshgrid(v, v)     # every pair: NaN compares false except NOT_EQUAL, -0 == 0
    assert_same(binary_model(op, a.shape, b.shape, np.float32), [a.astype(np.float32), b.astype(np.float32)])


def test_compare_int64_extremes():
    a = np.array([2 ** 62, -2 ** 63, 2 ** 63 - 1, 5], np.int64)
    b = np.array([2 ** 62 + 1, -2 ** 63, 2 ** 63 - 2, 5], np.int64)
    for op in COMPARE_OPS:
        assert_same(binary_model(op, a.shape, b.shape, np.int64), [a, b])


@pytest.mark.parametrize("op", ["EQUAL", "NOT_EQUAL", "LOGICAL_AND", "LOGICAL_OR"])
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
def test_bool_binary(op, shapes):
    rng = np.random.default_rng(2)
    a, b = (random_values(rng, s, np.bool_) for s in shapes)
    assert_same(binary_model(op, *shapes, np.bool_), [a, b])


@pytest.mark.parametrize("shape", [(), (6,), (2, 1, 3), (2, 3, 1, 2, 2)], ids=str)
def test_logical_not(shape):
    x = np.random.default_rng(3).integers(0, 2, shape).astype(bool)
    assert_same(one_op_model("LOGICAL_NOT", [("input", shape, np.bool_)], [(shape, np.bool_)]), [x])


def test_compare_constant_operand():
    a = np.arange(-3, 3, dtype=np.int32).reshape(2, 3)
    model = one_op_model("GREATER", [("input", a.shape, np.int32), ("const", np.array([0, 1, -1], np.int32))],
                         [(a.shape, np.bool_)])
    assert_same(model, [a])


@pytest.mark.parametrize("op,dtype", [("LESS", np.int8), ("LESS", np.bool_), ("LOGICAL_AND", np.float32),
                                      ("EQUAL", np.uint8)])
def test_compare_rejects_type(op, dtype):
    with pytest.raises(PrepareError, match=op):
        run_litert(binary_model(op, (3,), (3,), dtype), [np.zeros(3, dtype)] * 2)


def test_compare_rejects_mixed_types():
    model = one_op_model("LESS", [("input", (3,), np.float32), ("input", (3,), np.int32)], [((3,), np.bool_)])
    with pytest.raises(PrepareError, match="LESS"):
        run_litert(model, [np.zeros(3, np.float32), np.zeros(3, np.int32)])


def test_broadcast_plan_merges_axes():
    dims, (sa, sb) = broadcast_plan([(2, 3, 4), (4,)], (2, 3, 4))
    assert dims == (1, 1, 1, 1, 6, 4) and sa == (0, 0, 0, 0, 4, 1) and sb == (0, 0, 0, 0, 0, 1)
    dims, (sa,) = broadcast_plan([(2, 1, 3)], (2, 1, 3))
    assert dims == (1, 1, 1, 1, 1, 6) and sa[-1] == 1
    assert broadcast_plan([(2, 1) * 4, (1, 2) * 4], (2, 2) * 4) is None


# -- SELECT_V2 / SELECT -----------------------------------------------------------------------

SELECT_SHAPES = [((2, 3, 4), (2, 3, 4), (2, 3, 4)), ((2, 3, 4), (4,), ()), ((), (2, 3), (2, 3)),
                 ((3, 1), (1, 4), (3, 4)), ((1, 3, 1), (2, 1, 5), (1,)),
                 ((2, 1, 3, 1, 2), (1, 4, 1, 5, 1), (2, 4, 3, 5, 2)),
                 ((1, 2, 1, 3, 1, 2), (2, 1, 3, 1, 2, 1), (1, 1, 1, 1, 1, 1))]
SELECT_TYPES = [np.float32, np.int32, np.int64, np.int8, np.uint8, np.int16, np.float16, np.bool_]


def select_model(op, sc, sx, sy, dtype):
    out = np.broadcast_shapes(sc, sx, sy)
    return one_op_model(op, [("input", sc, np.bool_), ("input", sx, dtype), ("input", sy, dtype)],
                        [(out, dtype)])


def select_inputs(rng, sc, sx, sy, dtype):
    cond = rng.integers(0, 2, sc).astype(bool)
    if np.dtype(dtype) == np.bool_:
        return [cond, rng.integers(0, 2, sx).astype(bool), rng.integers(0, 2, sy).astype(bool)]
    return [cond, rng.integers(-100, 100, sx).astype(dtype), rng.integers(-100, 100, sy).astype(dtype) + 1]


@pytest.mark.parametrize("shapes", SELECT_SHAPES, ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64, np.int8], ids=lambda t: np.dtype(t).name)
def test_select_v2(shapes, dtype):
    rng = np.random.default_rng(4)
    assert_same(select_model("SELECT_V2", *shapes, dtype), select_inputs(rng, *shapes, dtype))


@pytest.mark.parametrize("dtype", SELECT_TYPES, ids=lambda t: np.dtype(t).name)
def test_select_v2_types(dtype):
    rng = np.random.default_rng(5)
    shapes = ((3, 1), (1, 4), (3, 4))
    assert_same(select_model("SELECT_V2", *shapes, dtype), select_inputs(rng, *shapes, dtype))


def test_select_v2_moves_bits():
    # NaN payloads and -0 pass through untouched
    x = np.array([np.nan, -0.0, np.inf, 1.0], np.float32)
    y = np.array([0.0, 2.0, -np.inf, -np.nan], np.float32)
    cond = np.array([True, True, False, False])
    got = run_litert(select_model("SELECT_V2", (4,), (4,), (4,), np.float32), [cond, x, y])[0]
    np.testing.assert_array_equal(got.view(np.uint32), np.where(cond, x, y).view(np.uint32))


@pytest.mark.parametrize("sc,sx", [((2, 3, 4), (2, 3, 4)), ((3,), (3, 4, 2)), ((), (3, 2)), ((4,), (4,)),
                                   ((), ())], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.int64, np.int8], ids=lambda t: np.dtype(t).name)
def test_select_v1(sc, sx, dtype):
    rng = np.random.default_rng(6)
    model = one_op_model("SELECT", [("input", sc, np.bool_), ("input", sx, dtype), ("input", sx, dtype)],
                         [(sx, dtype)])
    assert_same(model, select_inputs(rng, sc, sx, sx, dtype))


@pytest.mark.parametrize("sc,sx,sy", [((1, 4, 2), (3, 4, 2), (3, 4, 2)), ((2,), (3, 2), (3, 2)),
                                      ((3, 2), (3, 2), (2,))], ids=str)
def test_select_v1_rejects_broadcast(sc, sx, sy):
    # the official interpreter refuses these too (select.cc: has_low_rank_input_condition)
    model = one_op_model("SELECT", [("input", sc, np.bool_), ("input", sx, np.float32), ("input", sy, np.float32)],
                         [(sx, np.float32)])
    rng = np.random.default_rng(7)
    with pytest.raises(PrepareError, match="SELECT"):
        run_litert(model, select_inputs(rng, sc, sx, sy, np.float32))


def test_select_rejects_types():
    model = one_op_model("SELECT_V2", [("input", (3,), np.int32), ("input", (3,), np.float32),
                                       ("input", (3,), np.float32)], [((3,), np.float32)])
    with pytest.raises(PrepareError, match="SELECT_V2"):
        run_litert(model, [np.zeros(3, np.int32), np.zeros(3, np.float32), np.zeros(3, np.float32)])
    model = one_op_model("SELECT_V2", [("input", (3,), np.bool_), ("input", (3,), np.float32),
                                       ("input", (3,), np.int32)], [((3,), np.float32)])
    with pytest.raises(PrepareError, match="SELECT_V2"):
        run_litert(model, [np.zeros(3, bool), np.zeros(3, np.float32), np.zeros(3, np.int32)])


# -- quantized comparisons ------------------------------------------------------------------------
# int8/uint8 inputs are rescaled to a common footing whatever their scales (comparisons.cc);
# int16 too for EQUAL/NOT_EQUAL, while the ordering ops compare raw int16 values.

QUANT_SCALES = [(0.02, 0.02), (0.01, 0.03), (0.5, 0.0625), (0.0007, 0.9), (0.1, 0.1000001)]


def quant_model(op, dtype, qa, qb, sa, sb):
    out = np.broadcast_shapes(sa, sb)
    quant = [None if q is None else ([q[0]], [q[1]]) for q in (qa, qb)]
    return one_op_model(op, [("input", sa, dtype, quant[0]), ("input", sb, dtype, quant[1])], [(out, np.bool_)])


def every_pair(dtype):
    """All 256 x 256 pairs of 8-bit values."""
    info = np.iinfo(dtype)
    v = np.arange(info.min, info.max + 1).astype(dtype)
    return np.repeat(v, v.size).reshape(-1, v.size), np.tile(v, v.size).reshape(-1, v.size)


@pytest.mark.parametrize("op", COMPARE_OPS)
@pytest.mark.parametrize("dtype", [np.int8, np.uint8], ids=lambda t: np.dtype(t).name)
@pytest.mark.parametrize("scales", QUANT_SCALES, ids=str)
def test_compare_quantized_8bit(op, dtype, scales):
    a, b = every_pair(dtype)
    lo = int(np.iinfo(dtype).min)
    for za, zb in [(lo, lo), (lo + 100, lo + 3), (lo + 255, lo + 128)]:
        assert_same(quant_model(op, dtype, (scales[0], za), (scales[1], zb), a.shape, b.shape), [a, b])


@pytest.mark.parametrize("op", COMPARE_OPS)
@pytest.mark.parametrize("shapes", SHAPES[:6], ids=str)
def test_compare_quantized_broadcast(op, shapes):
    rng = np.random.default_rng(8)
    a, b = (rng.integers(-128, 128, s).astype(np.int8) for s in shapes)
    assert_same(quant_model(op, np.int8, (0.05, -3), (0.02, 7), *shapes), [a, b])


def test_compare_quantized_constant_operand():
    a = np.arange(-128, 128, dtype=np.int8).reshape(16, 16)
    model = one_op_model("GREATER", [("input", a.shape, np.int8, ([0.03], [5])),
                                     ("const", np.array([10], np.int8), ([0.07], [-2]))], [(a.shape, np.bool_)])
    assert_same(model, [a])


@pytest.mark.parametrize("op", COMPARE_OPS)
@pytest.mark.parametrize("quantized", [True, False], ids=["quantized", "raw"])
def test_compare_int16(op, quantized):
    rng = np.random.default_rng(9)
    a = rng.integers(-32768, 32768, (64, 64)).astype(np.int16)
    b = (a // 2 + rng.integers(-2, 3, a.shape)).astype(np.int16)    # equal pairs after rescaling
    b[::3] = a[::3]                                                 # equal raw values
    qa, qb = ((0.001, 0), (0.002, 0)) if quantized else (None, None)
    model = quant_model(op, np.int16, qa, qb, a.shape, b.shape)
    if op == "NOT_EQUAL" and not quantized:
        # the official kernel leaves this output unwritten; litert compares raw values
        np.testing.assert_array_equal(run_litert(model, [a, b])[0], a != b)
        return
    assert_same(model, [a, b])


@pytest.mark.parametrize("scale", [1.0, 2.0])
def test_compare_quantized_rejects_scale_of_one_and_above(scale):
    # the official kernel aborts on 1.0 and shifts by a negative amount above
    model = quant_model("LESS", np.int8, (scale, 0), (0.5, 0), (4,), (4,))
    with pytest.raises(PrepareError, match="scales below 1"):
        run_litert(model, [np.zeros(4, np.int8)] * 2)


def test_select_v2_quantized_values_move_bits():
    """SELECT_V2 on int8 values: no rescaling (x, y and the output share their parameters)."""
    rng = np.random.default_rng(10)
    cond = rng.integers(0, 2, (4, 8)).astype(bool)
    x, y = (rng.integers(-128, 128, (4, 8)).astype(np.int8) for _ in range(2))
    q = ([0.05], [-3])
    model = one_op_model("SELECT_V2", [("input", cond.shape, np.bool_), ("input", x.shape, np.int8, q),
                                       ("input", y.shape, np.int8, q)], [(x.shape, np.int8, q)])
    assert_same(model, [cond, x, y])
