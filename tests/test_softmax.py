import numpy as np
import pytest

from litert.errors import PrepareError
from oneop import assert_same, one_op_model, options, run_litert
from test_unary import assert_same_specials

SHAPES = [(5,), (3, 7), (2, 1, 4), (2, 3, 1, 6), (1, 2, 3, 2, 5), (4, 1), (2, 3, 1)]


def softmax_model(shape, beta=1.0, op="SOFTMAX"):
    opts = options("SoftmaxOptions", beta=beta) if op == "SOFTMAX" and beta is not None else None
    return one_op_model(op, [("input", shape, np.float32)], [(shape, np.float32)], opts)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("beta", [1.0, 0.5, 2.0, -0.7])
def test_softmax(shape, beta):
    x = np.random.default_rng(0).uniform(-5, 5, shape).astype(np.float32)
    got = assert_same(softmax_model(shape, beta), [x])[0]
    np.testing.assert_allclose(got.sum(axis=-1), 1.0, rtol=1e-5)


@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_log_softmax(shape):
    x = np.random.default_rng(1).uniform(-5, 5, shape).astype(np.float32)
    assert_same(softmax_model(shape, op="LOG_SOFTMAX"), [x])


@pytest.mark.parametrize("op", ["SOFTMAX", "LOG_SOFTMAX"])
def test_large_logits_are_stable(op):
    # max subtraction keeps exp from overflowing
    x = np.random.default_rng(2).uniform(-1, 1, (3, 10)).astype(np.float32) * np.float32(500.0)
    got = assert_same(softmax_model(x.shape, 1.0, op), [x])[0]
    assert np.all(np.isfinite(got))


def test_softmax_without_options_is_uniform():
    # SoftmaxOptions absent: beta takes the schema default 0, the official gives 1/depth
    x = np.arange(8, dtype=np.float32).reshape(2, 4)
    got = assert_same(softmax_model(x.shape, beta=None), [x])[0]
    np.testing.assert_array_equal(got, np.full((2, 4), 0.25, np.float32))


@pytest.mark.parametrize("op", ["SOFTMAX", "LOG_SOFTMAX"])
def test_infinities(op):
    x = np.array([[1, np.inf, 2, 3], [1, -np.inf, 2, 3], [-np.inf] * 4, [1, np.nan, 2, 3],
                  [1e30, -1e30, 2, 3]], np.float32)
    assert_same_specials(softmax_model(x.shape, 1.0, op), [x])


@pytest.mark.parametrize("op", ["SOFTMAX", "LOG_SOFTMAX"])
def test_rejects_scalar_and_int(op):
    with pytest.raises(PrepareError, match=op):
        run_litert(softmax_model((), 1.0, op), [np.float32(1.0)])
    model = one_op_model(op, [("input", (4,), np.int32)], [((4,), np.int32)])
    with pytest.raises(PrepareError, match=op):
        run_litert(model, [np.zeros(4, np.int32)])
