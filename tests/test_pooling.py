import numpy as np
import pytest

from litert.model import load_model
from oneop import (assert_same, check_ops_against_intermediates, extract_op, one_op_model, ops_named, options,
                   real_model, run_litert)

from litert.errors import PrepareError

SAME, VALID = 0, 1
RELU, RELU6 = 1, 3


def out_size(n, f, s, padding):
    if s <= 0:
        return 1
    return (n + s - 1) // s if padding == SAME else max((n - f + s) // s, 0)


def pool_model(op, shape, filt, stride, padding, act=0):
    fh, fw = filt
    sh, sw = stride
    out = (shape[0], out_size(shape[1], fh, sh, padding), out_size(shape[2], fw, sw, padding), shape[3])
    opts = options("Pool2DOptions", padding=padding, strideH=sh, strideW=sw, filterHeight=fh,
                   filterWidth=fw, fusedActivationFunction=act)
    return one_op_model(op, [("input", shape, np.float32)], [(out, np.float32)], opts)


CASES = [
    # shape, filter, stride, padding
    ((1, 8, 8, 3), (2, 2), (2, 2), VALID),
    ((1, 8, 8, 3), (2, 2), (2, 2), SAME),
    ((2, 7, 9, 4), (3, 3), (1, 1), SAME),      # windows hang over every edge
    ((2, 7, 9, 4), (3, 3), (2, 2), SAME),      # odd sizes: the extra pad goes after
    ((1, 7, 9, 5), (3, 3), (2, 2), VALID),
    ((1, 6, 5, 2), (4, 3), (1, 2), SAME),      # filter larger than stride, rectangular
    ((1, 5, 5, 1), (5, 5), (1, 1), SAME),      # window much larger than the overlap
    ((1, 5, 6, 3), (2, 3), (3, 3), SAME),      # stride larger than filter
    ((1, 4, 4, 16), (4, 4), (1, 1), VALID),    # global pool to 1x1
    ((1, 1, 1, 7), (3, 3), (1, 1), SAME),      # a single pixel
    ((3, 16, 16, 8), (2, 2), (2, 2), VALID),   # tiny_cnn-like
]


@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"])
@pytest.mark.parametrize("shape,filt,stride,padding", CASES, ids=str)
def test_pool_float32(op, shape, filt, stride, padding):
    x = np.random.default_rng(0).uniform(-3, 3, shape).astype(np.float32)
    assert_same(pool_model(op, shape, filt, stride, padding), [x])


@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D", "L2_POOL_2D"])
@pytest.mark.parametrize("act", [RELU, RELU6, 2])
def test_pool_fused_activation(op, act):
    x = np.random.default_rng(1).uniform(-10, 10, (1, 6, 6, 3)).astype(np.float32)
    got = assert_same(pool_model(op, x.shape, (3, 3), (2, 2), SAME, act), [x])[0]
    lo, hi = {RELU: (0, np.inf), RELU6: (0, 6), 2: (-1, 1)}[act]
    assert got.min() >= lo and got.max() <= hi


def test_average_counts_only_valid_elements():
    # all ones: an average over only the valid part of an edge window is exactly 1
    x = np.ones((1, 5, 5, 2), np.float32)
    got = run_litert(pool_model("AVERAGE_POOL_2D", x.shape, (3, 3), (1, 1), SAME), [x])[0]
    np.testing.assert_array_equal(got, np.ones_like(got))


def test_max_pool_ignores_padding_for_negative_inputs():
    x = -np.arange(1, 1 + 4 * 4, dtype=np.float32).reshape(1, 4, 4, 1)
    got = run_litert(pool_model("MAX_POOL_2D", x.shape, (3, 3), (2, 2), SAME), [x])[0]
    # SAME pads 0 before and 1 after: windows rows/cols {0,1,2}, {2,3}
    np.testing.assert_array_equal(got[0, :, :, 0], [[-1, -3], [-9, -11]])


def test_pool_rejects_bad_options():
    with pytest.raises(PrepareError, match="strides must be positive"):
        run_litert(pool_model("MAX_POOL_2D", (1, 4, 4, 1), (2, 2), (0, 1), VALID),
                   [np.zeros((1, 4, 4, 1), np.float32)])
    opts = options("Pool2DOptions", padding=VALID, strideH=1, strideW=1, filterHeight=2, filterWidth=2)
    model = one_op_model("AVERAGE_POOL_2D", [("input", (4, 4, 1), np.float32)], [((3, 3, 1), np.float32)], opts)
    with pytest.raises(PrepareError, match="4-D"):
        run_litert(model, [np.zeros((4, 4, 1), np.float32)])


# -- quantized: int8, uint8, int16 (16x8), bit exact with the reference kernels ----------------
QUANT = {np.int8: ([0.05], [-3]), np.uint8: ([0.05], [130]), np.int16: ([0.001], [0])}


def qpool_model(op, shape, filt, stride, padding, dtype, quant=None, act=0):
    fh, fw = filt
    sh, sw = stride
    quant = QUANT[dtype] if quant is None else quant
    out = (shape[0], out_size(shape[1], fh, sh, padding), out_size(shape[2], fw, sw, padding), shape[3])
    opts = options("Pool2DOptions", padding=padding, strideH=sh, strideW=sw, filterHeight=fh,
                   filterWidth=fw, fusedActivationFunction=act)
    return one_op_model(op, [("input", shape, dtype, quant)], [(out, dtype, quant)], opts)


def qsample(shape, dtype, seed=0):
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(info.min, int(info.max) + 1, shape).astype(dtype)


Q_CASES = CASES + [
    ((1, 6, 7, 3), (1, 1), (1, 1), VALID),     # filter 1x1: a copy
    ((1, 6, 7, 3), (1, 1), (2, 3), SAME),      # 1x1 with strides: a subsample
    ((1, 5, 5, 4), (7, 7), (1, 1), SAME),      # filter bigger than the input: counts 16..25
    ((2, 9, 9, 3), (9, 9), (1, 1), VALID),     # one 81-element window
    ((1, 20, 17, 2), (15, 15), (4, 3), SAME),  # big filter, uneven strides
]


@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16], ids=lambda d: d.__name__)
@pytest.mark.parametrize("shape,filt,stride,padding", Q_CASES, ids=str)
def test_pool_quantized(op, dtype, shape, filt, stride, padding):
    x = qsample(shape, dtype)
    assert_same(qpool_model(op, shape, filt, stride, padding, dtype), [x])


@pytest.mark.parametrize("op", ["AVERAGE_POOL_2D", "MAX_POOL_2D"])
@pytest.mark.parametrize("zp", [-128, 127, -10])
@pytest.mark.parametrize("act", [0, RELU, RELU6, 2])
def test_pool_int8_zero_points_and_activations(op, zp, act):
    # the clamp bounds come from the output's quantization: zp + round(0 / scale), zp + 6 / scale
    x = qsample((1, 7, 6, 5), np.int8, seed=zp & 0xFF)
    model = qpool_model(op, x.shape, (3, 3), (2, 2), SAME, np.int8, ([0.03], [zp]), act)
    got = assert_same(model, [x])[0]
    if act in (RELU, RELU6):
        assert got.min() >= zp
    if act == RELU6:
        assert got.max() <= min(127, zp + 200)


@pytest.mark.parametrize("dtype", [np.uint8, np.int16], ids=lambda d: d.__name__)
@pytest.mark.parametrize("act", [RELU, RELU6])
def test_pool_activation_other_types(dtype, act):
    x = qsample((2, 6, 6, 3), dtype, seed=4)
    quant = ([0.05], [100]) if dtype == np.uint8 else ([0.0005], [0])
    for op in ("AVERAGE_POOL_2D", "MAX_POOL_2D"):
        assert_same(qpool_model(op, x.shape, (2, 3), (1, 2), SAME, dtype, quant, act), [x])


@pytest.mark.parametrize("dtype", [np.int8, np.int16], ids=lambda d: d.__name__)
def test_average_pool_rounds_half_away_from_zero(dtype):
    # windows of two: sums -3, 3, -1, 1, -5, 5 -> -1.5, 1.5, ... -> away from zero
    x = np.array([-1, -2, 1, 2, 0, -1, 0, 1, -2, -3, 2, 3], dtype).reshape(1, 1, 12, 1)
    got = assert_same(qpool_model("AVERAGE_POOL_2D", x.shape, (1, 2), (1, 2), VALID, dtype), [x])[0]
    np.testing.assert_array_equal(got.ravel(), [-2, 2, -1, 1, -3, 3])


def test_average_pool_edge_windows_divide_by_valid_count():
    # SAME 3x3 over 4x4 of -1 and a 1 elsewhere: corners average 4 elements, edges 6, middle 9;
    # sums chosen so the exact quotient is a half at the corners: -2/4 -> -1, not 0
    x = np.full((1, 4, 4, 1), 0, np.int8)
    x[0, 0, 0] = x[0, 0, 1] = -1
    x[0, 3, 3] = x[0, 3, 2] = 1
    got = assert_same(qpool_model("AVERAGE_POOL_2D", x.shape, (3, 3), (3, 3), SAME, np.int8), [x])[0]
    np.testing.assert_array_equal(got[0, :, :, 0], [[-1, 0], [0, 1]])


def test_average_pool_int16_large_window_sum():
    # 15x15 windows of near-extreme int16 values: sums far beyond 16 bits stay exact in int32
    x = np.full((1, 15, 15, 2), 32767, np.int16)
    x[..., 1] = -32768
    x[0, 0, 0, 0] = 32766
    got = assert_same(qpool_model("AVERAGE_POOL_2D", x.shape, (15, 15), (1, 1), VALID, np.int16), [x])[0]
    np.testing.assert_array_equal(got.ravel(), [32767, -32768])


def test_l2_pool_rejects_integers():
    x = qsample((1, 4, 4, 1), np.int8)
    with pytest.raises(PrepareError, match="L2_POOL_2D on INT8 is not supported"):
        run_litert(qpool_model("L2_POOL_2D", x.shape, (2, 2), (2, 2), VALID, np.int8), [x])


# -- real models: one op cut out of a real file, fed the official reference run's input --------

@pytest.mark.parametrize("name,ops", [("tf/tiny_cnn_int8", 1), ("tf/ops_zoo_int8", 1)])
def test_real_model_pools(name, ops):
    assert check_ops_against_intermediates(name, {"AVERAGE_POOL_2D", "MAX_POOL_2D"}) == ops


def test_person_detect_average_pool():
    # its reference is TF Lite Micro's, without intermediates: run its AVERAGE_POOL_2D alone
    # against the official reference kernels on input in the op's own quantization
    path = real_model("tflm/person_detect")
    pools = ops_named(path, {"AVERAGE_POOL_2D"})
    assert pools
    for index in pools:
        model, feeds, op = extract_op(path, index)
        x = qsample(load_model(model_path=str(path)).subgraphs[0].tensors[feeds[0]].shape, np.int8, seed=index)
        assert_same(model, [x])
