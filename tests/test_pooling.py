import numpy as np
import pytest

from oneop import assert_same, one_op_model, options, run_litert

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
