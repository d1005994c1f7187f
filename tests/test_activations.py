import numpy as np
import pytest

from litert.errors import PrepareError
from oneop import assert_same, one_op_model, options, run_litert
from test_unary import assert_same_specials

# (op, options) for every elementwise activation; GELU in both modes and without options
CASES = [("LOGISTIC", None), ("TANH", None), ("RELU", None), ("RELU6", None),
         ("RELU_N1_TO_1", None), ("RELU_0_TO_1", None), ("HARD_SWISH", None),
         ("LEAKY_RELU", ("LeakyReluOptions", {"alpha": 0.2})),
         ("LEAKY_RELU", ("LeakyReluOptions", {"alpha": -1.5})),
         ("GELU", ("GeluOptions", {"approximate": False})),
         ("GELU", ("GeluOptions", {"approximate": True})),
         ("GELU", None)]
CASE_IDS = [op + ("" if o is None else "-" + "-".join(f"{k}={v}" for k, v in o[1].items())) for op, o in CASES]
SHAPES = [(7,), (3, 5), (1, 4, 1), (2, 1, 3, 4), (2, 3, 1, 2, 3)]
# zeros of both signs, NaN, infinities, the saturation regions of LOGISTIC/TANH/GELU and the
# LOGISTIC cutoffs (-9, 16.619047), the clamp bounds of the RELUs and HARD_SWISH
EDGE = np.array([0.0, -0.0, np.nan, np.inf, -np.inf, 1e-40, -1e-40, -9.0, -9.01, -8.99, 16.619047,
                 16.62, 17.0, -20.0, 20.0, -100.0, 100.0, -88.0, -104.0, 1e30, -1e30, 3.4e38,
                 -3.4e38, -1.0, 1.0, -3.0, 3.0, 6.0, 6.5, -0.5, 0.5, -5.03, 7.9, -7.9, 10.0, -10.0],
                np.float32)


def model_for(op, opts, shape):
    opts = options(opts[0], **opts[1]) if opts else None
    return one_op_model(op, [("input", shape, np.float32)], [(shape, np.float32)], opts)


@pytest.mark.parametrize("op,opts", CASES, ids=CASE_IDS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_activation_float32(op, opts, shape):
    x = np.random.default_rng(0).uniform(-8, 8, shape).astype(np.float32)
    assert_same(model_for(op, opts, shape), [x])


@pytest.mark.parametrize("op,opts", CASES, ids=CASE_IDS)
def test_activation_edge_values(op, opts):
    got = assert_same_specials(model_for(op, opts, EDGE.shape), [EDGE])[0]
    if op.startswith("RELU"):
        assert np.signbit(got[1])   # the clamp passes -0 through, as the official kernels do


@pytest.mark.parametrize("alpha", [0.0, 1.0, 0.01, -2.0, 3.5])
def test_leaky_relu_alpha(alpha):
    x = np.concatenate([EDGE, np.linspace(-5, 5, 41, dtype=np.float32)])
    assert_same_specials(model_for("LEAKY_RELU", ("LeakyReluOptions", {"alpha": alpha}), x.shape), [x])


def test_activation_saturation():
    x = np.array([-1e4, -200, -50, -17, 17, 50, 200, 1e4], np.float32)
    for op in ("LOGISTIC", "TANH"):
        got = run_litert(model_for(op, None, x.shape), [x])[0]
        lo = 0.0 if op == "LOGISTIC" else -1.0
        np.testing.assert_array_equal(got[[0, 1, -3, -2, -1]], [lo, lo, 1.0, 1.0, 1.0])


def test_logistic_tail_relative_precision():
    # below -9 the reference switches to exp(x); tiny outputs must still agree relatively
    x = np.linspace(-40, -5, 141, dtype=np.float32)
    assert_same_specials(model_for("LOGISTIC", None, x.shape), [x], rtol=1e-6, atol=0)


@pytest.mark.parametrize("op", ["RELU", "LOGISTIC", "GELU", "PRELU"])
def test_activation_rejects_type(op):
    inputs = [("input", (3,), np.int32)] + ([("const", np.ones(3, np.int32))] if op == "PRELU" else [])
    with pytest.raises(PrepareError, match=op):
        run_litert(one_op_model(op, inputs, [((3,), np.int32)]), [np.zeros(3, np.int32)])


# -- PRELU ------------------------------------------------------------------------------------

PRELU_SHAPES = [((1, 4, 4, 3), (1, 1, 3)), ((1, 4, 4, 3), (3,)), ((2, 5, 3), (5, 3)),
                ((2, 3, 4), (2, 3, 4)), ((2, 3, 4), ()), ((1, 4, 4, 3), (4, 1, 3)),
                ((2, 3, 2, 2, 4), (1, 3, 1, 1, 4)), ((6,), (1,)), ((1, 2, 1, 3, 1, 2), (2, 1, 3, 1, 1))]


@pytest.mark.parametrize("shapes", PRELU_SHAPES, ids=str)
@pytest.mark.parametrize("alpha_const", [True, False], ids=["const", "input"])
def test_prelu(shapes, alpha_const):
    xs, alpha_shape = shapes
    rng = np.random.default_rng(1)
    x = rng.uniform(-4, 4, xs).astype(np.float32)
    alpha = rng.uniform(-1, 1, alpha_shape).astype(np.float32)
    alpha_in = ("const", alpha) if alpha_const else ("input", alpha.shape, np.float32)
    model = one_op_model("PRELU", [("input", xs, np.float32), alpha_in], [(xs, np.float32)])
    assert_same(model, [x] if alpha_const else [x, alpha])


def test_prelu_edge_values():
    x = EDGE.reshape(1, -1, 1)
    alpha = np.array([0.25, -2.0], np.float32)
    x = np.concatenate([x, x], axis=2)
    model = one_op_model("PRELU", [("input", x.shape, np.float32), ("const", alpha)], [(x.shape, np.float32)])
    assert_same_specials(model, [x])


def test_prelu_rejects_alpha_larger_than_input():
    # the official interpreter refuses too: the output must keep the input's shape
    model = one_op_model("PRELU", [("input", (4, 3), np.float32), ("const", np.ones((2, 4, 3), np.float32))],
                         [((4, 3), np.float32)])
    with pytest.raises(PrepareError, match="PRELU"):
        run_litert(model, [np.zeros((4, 3), np.float32)])
