"""Infinite inputs through float ops with a fused activation: TFLite clamps their outputs to
CalculateActivationRange's bounds, so no activation (or RELU) gives +-3.4028235e38 rather than
an infinity, while the hybrid kernels (ApplyActivationToVector) leave infinities alone. Each
case against the official reference kernels."""
import numpy as np
import pytest

from oneop import assert_same, one_op_model, options

F32, I8 = np.float32, np.int8
SHAPE = (1, 3, 3, 4)
FLT_MAX = np.finfo(np.float32).max


def with_infinities():
    x = np.linspace(-1, 1, np.prod(SHAPE)).astype(F32).reshape(SHAPE)
    x[0, 1, 1, 0] = np.inf
    x[0, 2, 0, 3] = -np.inf
    return x


def binary(op, act):
    opts = {"ADD": "AddOptions", "SUB": "SubOptions", "MUL": "MulOptions", "DIV": "DivOptions"}[op]
    return (one_op_model(op, [("input", SHAPE, F32), ("input", SHAPE, F32)], [(SHAPE, F32)],
                         options(opts, fusedActivationFunction=act)),
            [with_infinities(), np.full(SHAPE, 0.5, F32)])


def pool(op, act):
    return (one_op_model(op, [("input", SHAPE, F32)], [(SHAPE, F32)],
                         options("Pool2DOptions", padding=0, strideH=1, strideW=1, filterHeight=2, filterWidth=2,
                                 fusedActivationFunction=act)), [with_infinities()])


def conv(act):
    w = np.ones((2, 1, 1, 4), F32)
    return (one_op_model("CONV_2D", [("input", SHAPE, F32), ("const", w), ("const", np.zeros(2, F32))],
                         [((1, 3, 3, 2), F32)],
                         options("Conv2DOptions", padding=0, strideH=1, strideW=1, fusedActivationFunction=act)),
            [with_infinities()])


def depthwise(act, channels=4):
    shape = SHAPE[:3] + (channels,)
    x = np.resize(with_infinities(), shape).astype(F32)
    return (one_op_model("DEPTHWISE_CONV_2D", [("input", shape, F32), ("const", np.ones((1, 3, 3, channels), F32)),
                                               ("const", np.zeros(channels, F32))], [(shape, F32)],
                         options("DepthwiseConv2DOptions", padding=0, strideH=1, strideW=1, depthMultiplier=1,
                                 fusedActivationFunction=act)), [x])


def transpose_conv():
    return (one_op_model("TRANSPOSE_CONV", [("const", np.array([1, 3, 3, 2], np.int32)),
                                            ("const", np.ones((2, 1, 1, 4), F32)), ("input", SHAPE, F32)],
                         [((1, 3, 3, 2), F32)], options("TransposeConvOptions", padding=0, strideH=1, strideW=1)),
            [with_infinities()])


def hybrid_fc():
    x = np.array([[np.inf, 1, 1, 1], [-np.inf, 1, 1, 1]], F32)
    return (one_op_model("FULLY_CONNECTED", [("input", (2, 4), F32), ("const", np.ones((2, 4), I8), ([0.1], [0], 0))],
                         [((2, 2), F32)], options("FullyConnectedOptions")), [x])


CASES = {
    **{f"{op}-{act}": (lambda op=op, act=act: binary(op, act)) for op in ("ADD", "SUB", "MUL", "DIV")
       for act in (0, 1)},
    **{f"{op}-{act}": (lambda op=op, act=act: pool(op, act)) for op in ("AVERAGE_POOL_2D", "MAX_POOL_2D")
       for act in (0, 1)},
    "CONV_2D": lambda: conv(0),
    "CONV_2D-RELU": lambda: conv(1),
    "DEPTHWISE_CONV_2D": lambda: depthwise(0),
    "DEPTHWISE_CONV_2D-vector-blocks": lambda: depthwise(0, channels=16),
    "TRANSPOSE_CONV": transpose_conv,
}


@pytest.mark.parametrize("case", list(CASES))
def test_infinity_is_clamped_like_official(case):
    model, inputs = CASES[case]()
    got = assert_same(model, inputs)[0]
    assert not np.isinf(got).any()
    assert (np.abs(got) == FLT_MAX).any()


def test_hybrid_fully_connected_keeps_infinities():
    model, inputs = hybrid_fc()
    got = assert_same(model, inputs)[0]
    assert np.isinf(got).any()
