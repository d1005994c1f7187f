"""Float32 convolutions against the official reference kernels (and numpy where the official
interpreter cannot run the op: MediaPipe's Convolution2DTransposeBias)."""
import struct

import numpy as np
import pytest

from oneop import GraphBuilder, assert_same, one_op_model, options, run_litert, run_official

F32 = np.float32
SAME, VALID = 0, 1
NONE, RELU, RELU_N1_TO_1, RELU6 = 0, 1, 2, 3


def rand(rng, shape, scale=1.0):
    return (rng.standard_normal(shape) * scale).astype(F32)


def conv_opts(**kw):
    return options("Conv2DOptions", **{"padding": SAME, "strideH": 1, "strideW": 1, **kw})


def conv_out(size, k, stride, dil, padding):
    eff = (k - 1) * dil + 1
    return -(-size // stride) if padding == SAME else max((size - eff) // stride + 1, 0)


# (input NHWC, filter OHWI, stride (h, w), dilation (h, w), padding, activation, bias?)
CONV_CASES = [
    ((1, 8, 8, 16), (24, 1, 1, 16), (1, 1), (1, 1), SAME, NONE, True),       # pointwise GEMM
    ((2, 7, 5, 6), (9, 1, 1, 6), (1, 1), (1, 1), VALID, RELU6, True),        # batch 2, odd
    ((1, 9, 11, 8), (5, 1, 1, 8), (2, 2), (1, 1), SAME, RELU, False),        # strided 1x1
    ((1, 10, 10, 3), (32, 3, 3, 3), (2, 2), (1, 1), SAME, RELU6, True),      # MobileNet stem
    ((1, 9, 7, 5), (7, 3, 3, 5), (1, 1), (1, 1), VALID, NONE, True),
    ((2, 11, 13, 4), (6, 5, 7, 4), (3, 2), (1, 1), SAME, RELU_N1_TO_1, True),
    ((1, 12, 12, 3), (4, 3, 3, 3), (1, 1), (2, 2), SAME, NONE, True),        # dilation 2
    ((1, 13, 12, 2), (3, 3, 2, 2), (1, 2), (2, 3), VALID, RELU, False),
    ((1, 6, 6, 7), (10, 3, 3, 7), (3, 3), (1, 1), VALID, NONE, True),
    ((1, 5, 5, 33), (17, 2, 2, 33), (1, 1), (1, 1), SAME, NONE, True),       # k % 4 != 0
    ((1, 40, 40, 16), (8, 3, 3, 16), (1, 1), (1, 1), SAME, RELU, True),     # im2col in 4 chunks of rows
    ((1, 34, 34, 256), (9, 1, 1, 256), (2, 2), (1, 1), VALID, NONE, True),  # strided 1x1, chunks
]


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d(case):
    xs, fs, (sh, sw), (dh, dw), padding, act, has_bias = case
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    x, w, b = rand(rng, xs), rand(rng, fs, 0.3), rand(rng, (fs[0],))
    out = (xs[0], conv_out(xs[1], fs[1], sh, dh, padding), conv_out(xs[2], fs[2], sw, dw, padding), fs[0])
    opts = conv_opts(padding=padding, strideH=sh, strideW=sw, dilationHFactor=dh, dilationWFactor=dw,
                     fusedActivationFunction=act)
    head = [("input", xs, F32), ("const", w)]
    if has_bias:
        assert_same(one_op_model("CONV_2D", head + [("const", b)], [(out, F32)], opts), [x], atol=2e-5)
        return
    # The official float kernel requires a bias (TF Lite Micro does not): litert takes both the
    # 2-input form and an explicit -1, and must equal the official result with a zero bias.
    zero_bias = ("const", np.zeros(fs[0], F32))
    want = run_official(one_op_model("CONV_2D", head + [zero_bias], [(out, F32)], opts), [x])[0]
    for tail in ([], [None]):
        got = run_litert(one_op_model("CONV_2D", head + tail, [(out, F32)], opts), [x])[0]
        np.testing.assert_allclose(got, want, atol=2e-5 * max(1, np.abs(want).max()), rtol=1e-5)


@pytest.mark.parametrize("case", [
    ((1, 6, 6, 8), (6, 1, 1, 4), 1, SAME),     # 2 groups, pointwise
    ((1, 7, 9, 6), (9, 3, 3, 2), 1, SAME),     # 3 groups, 3x3
    ((2, 8, 8, 4), (4, 3, 3, 1), 2, VALID),    # channel-wise through CONV_2D
    ((1, 5, 6, 8), (40, 3, 3, 4), 1, SAME),    # 2 groups of 20 outputs (GEMM panels)
    ((1, 7, 7, 8), (24, 1, 1, 4), 2, VALID),   # strided pointwise, 2 groups
], ids=str)
def test_conv2d_grouped(case):
    xs, fs, stride, padding = case
    rng = np.random.default_rng(7)
    x, w, b = rand(rng, xs), rand(rng, fs, 0.3), rand(rng, (fs[0],))
    out = (xs[0], conv_out(xs[1], fs[1], stride, 1, padding), conv_out(xs[2], fs[2], stride, 1, padding), fs[0])
    opts = options("Conv2DOptions", padding=padding, strideH=stride, strideW=stride)
    model = one_op_model("CONV_2D", [("input", xs, F32), ("const", w), ("const", b)], [(out, F32)], opts)
    assert_same(model, [x])


# Output channel counts reach both weight layouts: dot products for a few outputs, GEMM panels
# (one partial, several) for more.
FEW_AND_MANY = [2, 5, 12, 37]


@pytest.mark.parametrize("o", FEW_AND_MANY)
def test_conv2d_runtime_weights_and_bias(o):
    """Weights and bias fed as graph inputs: packed at every invoke."""
    rng = np.random.default_rng(3)
    x, w, b = rand(rng, (2, 7, 6, 4)), rand(rng, (o, 3, 3, 4)), rand(rng, (o,))
    opts = options("Conv2DOptions", padding=SAME, strideH=2, strideW=1, fusedActivationFunction=RELU)
    model = one_op_model("CONV_2D", [("input", x.shape, F32), ("input", w.shape, F32), ("input", b.shape, F32)],
                         [((2, 4, 6, o), F32)], opts)
    assert_same(model, [x, w, b])
    # a second invoke with other weights must not reuse the first packing
    w2 = rand(rng, w.shape)
    from litert import Interpreter
    it = Interpreter(model_content=model)
    it.allocate_tensors()
    got = []
    for ww in (w, w2):
        for d, v in zip(it.get_input_details(), (x, ww, b)):
            it.set_tensor(d["index"], v)
        it.invoke()
        got.append(it.get_tensor(it.get_output_details()[0]["index"]).copy())
    assert not np.allclose(got[0], got[1])
    np.testing.assert_allclose(got[1], run_official(model, [x, w2, b])[0], atol=1e-5, rtol=1e-5)


# (input NHWC, kernel (h, w), multiplier, stride, dilation, padding, activation, bias?)
DEPTHWISE_CASES = [
    ((1, 10, 10, 32), (3, 3), 1, 1, 1, SAME, RELU6, True),
    ((1, 11, 9, 24), (3, 3), 1, 2, 1, SAME, RELU6, True),
    ((2, 7, 8, 5), (3, 3), 2, 1, 1, VALID, NONE, True),
    ((1, 9, 9, 3), (5, 3), 3, 2, 1, SAME, RELU, False),
    ((1, 12, 10, 4), (3, 3), 1, 1, 2, SAME, RELU_N1_TO_1, True),
    ((1, 8, 13, 6), (2, 4), 2, 3, 2, VALID, NONE, True),
    ((1, 5, 5, 17), (5, 5), 1, 1, 1, SAME, NONE, True),
    # 3x3, multiplier 1, channels a multiple of 16: the vector blocks (depthwise3x3_f32, AVX-512), with
    # windows over every edge, strides, dilation and batches
    ((2, 9, 8, 48), (3, 3), 1, 2, 1, SAME, RELU, True),
    ((1, 12, 11, 16), (3, 3), 1, 1, 2, SAME, RELU_N1_TO_1, False),
    ((1, 7, 10, 32), (3, 3), 1, 2, 2, VALID, NONE, True),
    ((1, 3, 3, 16), (3, 3), 1, 1, 1, SAME, RELU6, True),
    ((1, 2, 1, 32), (3, 3), 1, 2, 1, SAME, NONE, True),
    # channels a multiple of 8 only: blocks half a register wide
    ((1, 6, 7, 8), (3, 3), 1, 1, 1, VALID, RELU6, True),
    ((2, 9, 10, 40), (3, 3), 1, 2, 2, SAME, RELU, True),
]


@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=str)
def test_depthwise(case):
    xs, (kh, kw), mult, stride, dil, padding, act, has_bias = case
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    c = xs[3] * mult
    x, w, b = rand(rng, xs), rand(rng, (1, kh, kw, c)), rand(rng, (c,))
    out = (xs[0], conv_out(xs[1], kh, stride, dil, padding), conv_out(xs[2], kw, stride, dil, padding), c)
    opts = options("DepthwiseConv2DOptions", padding=padding, strideH=stride, strideW=stride,
                   depthMultiplier=mult, dilationHFactor=dil, dilationWFactor=dil,
                   fusedActivationFunction=act)
    inputs = [("input", xs, F32), ("const", w)] + ([("const", b)] if has_bias else [])
    assert_same(one_op_model("DEPTHWISE_CONV_2D", inputs, [(out, F32)], opts, version=2), [x])


def test_depthwise_nan_propagates():
    # the clamp keeps a NaN (std::max / std::min order), in the vector blocks and at the edges
    rng = np.random.default_rng(6)
    x, w, b = rand(rng, (1, 5, 6, 32)), rand(rng, (1, 3, 3, 32)), rand(rng, (32,))
    x[0, 2, 3, 5] = np.nan
    x[0, 0, 0, 7] = np.nan
    for act in (NONE, RELU):
        opts = options("DepthwiseConv2DOptions", padding=SAME, strideH=1, strideW=1, depthMultiplier=1,
                       fusedActivationFunction=act)
        model = one_op_model("DEPTHWISE_CONV_2D", [("input", x.shape, F32), ("const", w), ("const", b)],
                             [((1, 5, 6, 32), F32)], opts)
        got = assert_same(model, [x])[0]
        assert np.isnan(got).sum() == 9 + 4


def test_depthwise_runtime_weights():
    rng = np.random.default_rng(5)
    x, w, b = rand(rng, (1, 6, 7, 3)), rand(rng, (1, 3, 3, 6)), rand(rng, (6,))
    opts = options("DepthwiseConv2DOptions", padding=SAME, strideH=1, strideW=1, depthMultiplier=2)
    model = one_op_model("DEPTHWISE_CONV_2D", [("input", x.shape, F32), ("input", w.shape, F32), ("const", b)],
                         [((1, 6, 7, 6), F32)], opts)
    assert_same(model, [x, w])


def transpose_model(out_shape, xs, w, b, padding, stride, act=NONE, const_weights=True):
    opts = options("TransposeConvOptions", padding=padding, strideH=stride[0], strideW=stride[1],
                   fusedActivationFunction=act)
    inputs = [("const", np.array(out_shape, np.int32)), ("const", w) if const_weights else ("input", w.shape, F32),
              ("input", xs, F32)]
    if b is not None:
        inputs.append(("const", b))
    return one_op_model("TRANSPOSE_CONV", inputs, [(tuple(out_shape), F32)], opts, version=4)


# (input NHWC, weights OHWI, stride, padding, output H W, bias?, activation)
TRANSPOSE_CASES = [
    ((1, 4, 4, 3), (5, 3, 3, 3), (2, 2), SAME, (8, 8), True, NONE),
    ((1, 4, 5, 3), (5, 3, 3, 3), (2, 2), VALID, (9, 11), False, NONE),
    ((2, 3, 3, 4), (2, 2, 2, 4), (2, 2), VALID, (6, 6), True, RELU),
    ((1, 5, 4, 2), (3, 4, 3, 2), (3, 2), SAME, (15, 8), True, RELU6),
    ((1, 6, 6, 8), (4, 3, 3, 8), (1, 1), SAME, (6, 6), True, NONE),
    ((1, 3, 4, 3), (2, 5, 2, 3), (2, 3), VALID, (9, 11), False, NONE),
    ((1, 4, 4, 3), (2, 3, 3, 3), (2, 2), SAME, (7, 7), True, NONE),       # output_shape < in*stride
    ((1, 3, 3, 2), (2, 3, 3, 2), (2, 2), VALID, (8, 8), True, NONE),      # one more than natural
    ((1, 4, 5, 6), (12, 3, 3, 6), (2, 2), SAME, (8, 10), True, RELU6),    # GEMM panels
    ((2, 3, 3, 5), (37, 2, 2, 5), (2, 2), VALID, (6, 6), False, NONE),
]


@pytest.mark.parametrize("case", TRANSPOSE_CASES, ids=str)
def test_transpose_conv(case):
    xs, ws, stride, padding, (oh, ow), has_bias, act = case
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    x, w, b = rand(rng, xs), rand(rng, ws), rand(rng, (ws[0],))
    model = transpose_model((xs[0], oh, ow, ws[0]), xs, w, b if has_bias else None, padding, stride, act)
    assert_same(model, [x])


@pytest.mark.parametrize("o", FEW_AND_MANY)
def test_transpose_conv_runtime_weights(o):
    rng = np.random.default_rng(11)
    x, w, b = rand(rng, (1, 3, 4, 2)), rand(rng, (o, 3, 3, 2)), rand(rng, (o,))
    model = transpose_model((1, 6, 8, o), x.shape, w, b, SAME, (2, 2), const_weights=False)
    assert_same(model, [w, x])


# -- MediaPipe Convolution2DTransposeBias: numpy reference ------------------------------------
def transpose_conv_bias_reference(x, w, b, padding_code, stride):
    """Straight from the op's definition (mediapipe transpose_conv_bias.cc): scatter every input
    pixel through every tap, output size stride*(in-1) + filter - pad."""
    n, h, wd, _ = x.shape
    o, kh, kw, _ = w.shape
    sh, sw = stride
    same = padding_code == 1
    pad_h = max(0, kh - (h - 1) % sh - 1) if same else 0
    pad_w = max(0, kw - (wd - 1) % sw - 1) if same else 0
    oh, ow = sh * (h - 1) + kh - pad_h, sw * (wd - 1) + kw - pad_w
    out = np.zeros((n, oh, ow, o), np.float64) + b
    for iy in range(h):
        for ix in range(wd):
            for i in range(kh):
                for j in range(kw):
                    y, xx = iy * sh - pad_h // 2 + i, ix * sw - pad_w // 2 + j
                    if 0 <= y < oh and 0 <= xx < ow:
                        out[:, y, xx, :] += x[:, iy, ix, :].astype(np.float64) @ w[:, i, j, :].T
    return out.astype(F32)


@pytest.mark.parametrize("xs,ws,padding_code,stride", [
    ((1, 8, 8, 16), (1, 2, 2, 16), 1, (2, 2)),      # the selfie_segmentation head, scaled down
    ((1, 5, 7, 3), (4, 3, 3, 3), 1, (2, 2)),
    ((2, 4, 5, 2), (3, 3, 2, 2), 2, (2, 3)),
    ((1, 6, 5, 4), (2, 4, 4, 4), 1, (3, 1)),
    ((1, 4, 4, 8), (20, 2, 2, 8), 1, (2, 2)),       # GEMM panels
], ids=str)
def test_convolution2d_transpose_bias(xs, ws, padding_code, stride):
    rng = np.random.default_rng(13)
    x, w, b = rand(rng, xs), rand(rng, ws), rand(rng, (ws[0],))
    want = transpose_conv_bias_reference(x, w, b, padding_code, stride)
    params = struct.pack("<iii", padding_code, stride[1], stride[0])
    model = one_op_model("Convolution2DTransposeBias", [("input", xs, F32), ("const", w), ("const", b)],
                         [(want.shape, F32)], custom_options=params)
    got = run_litert(model, [x])[0]
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, atol=1e-5 * max(1.0, np.abs(want).max()), rtol=1e-5)


def test_convolution2d_transpose_bias_rejects_bad_options():
    from litert.errors import PrepareError
    x, w, b = np.zeros((1, 2, 2, 1), F32), np.zeros((1, 2, 2, 1), F32), np.zeros(1, F32)
    model = one_op_model("Convolution2DTransposeBias", [("input", x.shape, F32), ("const", w), ("const", b)],
                         [((1, 4, 4, 1), F32)], custom_options=struct.pack("<iii", 7, 2, 2))
    with pytest.raises(PrepareError, match="padding"):
        run_litert(model, [x])


# -- weights behind a float16 DEQUANTIZE (folded at prepare time) --------------------------------
def test_conv2d_float16_weights_through_dequantize():
    from litert.registry import registered_names
    if "DEQUANTIZE" not in registered_names()[0]:
        pytest.skip("DEQUANTIZE kernel is not registered yet")
    rng = np.random.default_rng(17)
    x = rand(rng, (1, 6, 6, 4))
    w16 = rand(rng, (8, 3, 3, 4)).astype(np.float16)
    b16 = rand(rng, (8,)).astype(np.float16)
    g = GraphBuilder()
    xi = g.input("x", x.shape, F32)
    wi, bi = g.const("w16", w16), g.const("b16", b16)
    wf, bf = g.tensor("w", w16.shape, F32), g.tensor("b", b16.shape, F32)
    g.op("DEQUANTIZE", [wi], [wf], version=3)
    g.op("DEQUANTIZE", [bi], [bf], version=3)
    y = g.tensor("y", (1, 6, 6, 8), F32)
    g.op("CONV_2D", [xi, wf, bf], [y], options("Conv2DOptions", padding=SAME, strideH=1, strideW=1))
    g.output(y)
    assert_same(g.build(), [x])


# -- errors -------------------------------------------------------------------------------------
def assert_prepare_error(op, inputs, out, opts, match):
    from litert.errors import PrepareError
    model = one_op_model(op, inputs, [out], opts)
    feed = [np.zeros(spec[1], spec[2]) for spec in inputs if spec is not None and spec[0] == "input"]
    with pytest.raises(PrepareError, match=match):
        run_litert(model, feed)


def test_conv2d_rejects_channel_mismatch():
    assert_prepare_error("CONV_2D", [("input", (1, 4, 4, 5), F32), ("const", np.zeros((2, 1, 1, 3), F32)), None],
                         ((1, 4, 4, 2), F32), conv_opts(), "multiple")


def test_conv2d_rejects_zero_stride():
    assert_prepare_error("CONV_2D", [("input", (1, 4, 4, 3), F32), ("const", np.zeros((2, 1, 1, 3), F32)), None],
                         ((1, 4, 4, 2), F32), conv_opts(strideH=0), "stride")


def test_conv2d_without_options_is_a_clear_error():
    assert_prepare_error("CONV_2D", [("input", (1, 4, 4, 3), F32), ("const", np.zeros((2, 1, 1, 3), F32))],
                         ((1, 4, 4, 2), F32), None, "has no Conv2DOptions")


def test_depthwise_rejects_bad_bias():
    inputs = [("input", (1, 4, 4, 3), F32), ("const", np.zeros((1, 3, 3, 3), F32)), ("const", np.zeros(4, F32))]
    opts = options("DepthwiseConv2DOptions", padding=SAME, strideH=1, strideW=1)
    assert_prepare_error("DEPTHWISE_CONV_2D", inputs, ((1, 4, 4, 3), F32), opts, "bias")


def test_mixed_types_are_a_clear_error():
    """Quantized convolutions live in tests/test_conv_int8.py; an int8 input with float32 weights
    is neither quantized nor hybrid."""
    q = ([0.5], [0])
    inputs = [("input", (1, 4, 4, 3), np.int8, q), ("const", np.zeros((2, 1, 1, 3), F32)),
              ("const", np.zeros(2, np.int32))]
    assert_prepare_error("CONV_2D", inputs, ((1, 4, 4, 2), np.int8, q), conv_opts(), "FLOAT32; supported: int8")


def test_conv2d_on_constant_input_is_folded():
    """All inputs constant: the runtime runs the kernel once at prepare time (read-only arrays)."""
    rng = np.random.default_rng(19)
    x, w, b = rand(rng, (1, 5, 5, 3)), rand(rng, (4, 3, 3, 3)), rand(rng, (4,))
    g = GraphBuilder()
    xi, wi, bi = g.const("x", x), g.const("w", w), g.const("b", b)
    y = g.tensor("y", (1, 5, 5, 4), F32)
    g.op("CONV_2D", [xi, wi, bi], [y], conv_opts())
    z = g.tensor("z", (1, 5, 5, 4), F32)
    zi = g.input("zi", (1, 5, 5, 4), F32)
    g.op("ADD", [y, zi], [z], options("AddOptions"))
    g.output(z)
    assert_same(g.build(), [np.zeros((1, 5, 5, 4), F32)])
