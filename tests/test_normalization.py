import numpy as np
import pytest

from oneop import assert_same, one_op_model, options, run_litert, run_official

from litert.errors import PrepareError


def lrn_model(shape, radius, bias, alpha, beta):
    opts = options("LocalResponseNormalizationOptions", radius=radius, bias=bias, alpha=alpha, beta=beta)
    return one_op_model("LOCAL_RESPONSE_NORMALIZATION", [("input", shape, np.float32)],
                        [(shape, np.float32)], opts)


def lrn_numpy(x, radius, bias, alpha, beta):
    """TensorFlow's definition: the window covers c - radius .. c + radius."""
    out = np.empty_like(x)
    depth = x.shape[-1]
    for c in range(depth):
        lo, hi = max(0, c - radius), min(depth, c + radius + 1)
        acc = (x[..., lo:hi].astype(np.float64) ** 2).sum(-1)
        out[..., c] = x[..., c] * (bias + alpha * acc) ** -beta
    return out


LRN_CASES = [
    # shape, radius, bias, alpha, beta
    ((1, 2, 3, 8), 0, 1.0, 0.5, 0.75),
    ((1, 2, 3, 8), 1, 1.0, 0.5, 0.75),
    ((2, 3, 2, 10), 2, 2.0, 1e-1, 0.5),
    ((1, 4, 4, 16), 5, 1.0, 1e-2, 1.0),
    ((1, 1, 1, 5), 9, 0.5, 0.3, 0.25),      # window wider than the channels
]


@pytest.mark.parametrize("shape,radius,bias,alpha,beta", LRN_CASES, ids=str)
def test_lrn_matches_official_default_kernel(shape, radius, bias, alpha, beta):
    # the official optimized kernel (what the default interpreter runs) implements TF's window
    x = np.random.default_rng(0).uniform(-3, 3, shape).astype(np.float32)
    model = lrn_model(shape, radius, bias, alpha, beta)
    assert_same(model, [x], resolver="BUILTIN_WITHOUT_DEFAULT_DELEGATES")
    got = run_litert(model, [x])[0]
    np.testing.assert_allclose(got, lrn_numpy(x, radius, bias, alpha, beta), rtol=1e-5, atol=1e-6)


def test_lrn_reference_kernel_window_is_one_short():
    # documents why we do not follow BUILTIN_REF here: its window ends at c + radius - 1
    shape, radius, bias, alpha, beta = (1, 2, 3, 8), 2, 1.0, 0.5, 0.75
    x = np.random.default_rng(1).uniform(-3, 3, shape).astype(np.float32)
    ref = run_official(lrn_model(shape, radius, bias, alpha, beta), [x], "BUILTIN_REF")[0]
    want = np.empty_like(x)
    for c in range(shape[-1]):
        acc = (x[..., max(0, c - radius):min(shape[-1], c + radius)] ** 2).sum(-1)
        want[..., c] = x[..., c] * (bias + alpha * acc) ** -beta
    np.testing.assert_allclose(ref, want, rtol=1e-5)


def test_lrn_rejects_non_4d():
    model = lrn_model((2, 8), 1, 1.0, 1.0, 0.5)
    with pytest.raises(PrepareError, match="4-D"):
        run_litert(model, [np.zeros((2, 8), np.float32)])


def l2_model(shape, act=0):
    return one_op_model("L2_NORMALIZATION", [("input", shape, np.float32)], [(shape, np.float32)],
                        options("L2NormOptions", fusedActivationFunction=act))


@pytest.mark.parametrize("shape", [(7,), (3, 5), (2, 3, 4), (2, 2, 3, 6), (1, 1, 1, 1)], ids=str)
def test_l2_normalization(shape):
    x = np.random.default_rng(2).uniform(-3, 3, shape).astype(np.float32)
    got = assert_same(l2_model(shape), [x])[0]
    np.testing.assert_allclose(np.sqrt((got.astype(np.float64) ** 2).sum(-1)), 1.0, rtol=1e-5)


def test_l2_normalization_tiny_and_zero_rows():
    # a norm below epsilon divides by epsilon instead
    x = np.array([[0, 0, 0], [1e-8, -2e-8, 0], [3, 4, 0]], np.float32)
    got = assert_same(l2_model(x.shape), [x])[0]
    np.testing.assert_allclose(got[2], [0.6, 0.8, 0], rtol=1e-6)
    np.testing.assert_allclose(got[1], x[1] / 1e-6, rtol=1e-6)


def test_l2_normalization_rejects_activation_and_rank():
    with pytest.raises(PrepareError, match="RELU"):
        run_litert(l2_model((2, 3), act=1), [np.ones((2, 3), np.float32)])
    with pytest.raises(PrepareError, match="1 to 4"):
        run_litert(l2_model((1, 1, 1, 2, 3)), [np.ones((1, 1, 1, 2, 3), np.float32)])
