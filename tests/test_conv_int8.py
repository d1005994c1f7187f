"""Quantized and hybrid convolutions (litert/kernels/conv_int8.py, gemm_int8.py) against the
official reference kernels (BUILTIN_REF): int8, uint8 and 16x8 CONV_2D, DEPTHWISE_CONV_2D and
TRANSPOSE_CONV bit for bit, hybrid CONV_2D and DEPTHWISE_CONV_2D within float tolerance; and
every convolution of the reference models, fed its saved input, against its saved output."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from conftest import ROOT, models_dir
from oneop import assert_same, one_op_model, op_model, options, run_litert, run_official

SAME, VALID = 0, 1
NONE, RELU, RELU_N1_TO_1, RELU6 = 0, 1, 2, 3
I8, U8, I16, I32, I64, F32 = np.int8, np.uint8, np.int16, np.int32, np.int64, np.float32
INT32_BIAS, INT64_BIAS = 2, 4       # TensorType codes for quantized_bias_type
QRANGE = {I8: (-128, 127), U8: (0, 255), I16: (-32768, 32767)}


def out_size(size, k, stride, dil, padding):
    eff = (k - 1) * dil + 1
    return -(-size // stride) if padding == SAME else max((size - eff) // stride + 1, 0)


def ints(rng, shape, dtype, lo=None, hi=None):
    a, b = QRANGE[dtype]
    return rng.integers(a if lo is None else lo, (b if hi is None else hi) + 1, shape).astype(dtype)


def out_scale(rng, in_scale, w_scales, k):
    """An output scale that keeps most results inside the range without squashing them."""
    return float(127 * np.sqrt(k) * in_scale * float(np.mean(w_scales)) * rng.uniform(0.2, 0.6))


def quant_case(rng, dtype, o, k, per_channel=True, in_zp=None):
    """(input quantization, weight scales, output quantization) for a convolution of reduction
    k; 16x8 zero points are 0."""
    s_in = float(rng.uniform(0.005, 0.05))
    if dtype == I16:
        zp_in, zp_out = 0, 0
    else:
        lo, hi = QRANGE[dtype]
        zp_in = int(rng.integers(lo + 20, hi - 20)) if in_zp is None else in_zp
        zp_out = int(rng.integers(lo + 20, hi - 20))
    ws = rng.uniform(0.002, 0.02, o if per_channel else 1).astype(F32)
    s_out = out_scale(rng, s_in, ws, k) * (256 if dtype == I16 else 1)
    return ([s_in], [zp_in]), ws, ([s_out], [zp_out])


# -- CONV_2D ------------------------------------------------------------------------------------
def conv_model(rng, dtype, xs, fs, stride=(1, 1), dil=(1, 1), padding=SAME, act=NONE, bias=True,
               per_channel=True, bias_dtype=None, bias_type_option=0, in_zp=None, w_lo=-127):
    """(model, input) for a quantized CONV_2D; bias True, False (none) or "zero"; int8 weights
    from w_lo (the spec's -127, or -128 that files may still hold) to 127."""
    n, h, w, c = xs
    o, kh, kw, cg = fs
    q_in, ws, q_out = quant_case(rng, dtype, o, kh * kw * cg, per_channel, in_zp)
    w_type = U8 if dtype == U8 else I8
    w_zp = int(rng.integers(100, 156)) if dtype == U8 else 0
    weights = ints(rng, fs, w_type, w_lo if w_type == I8 else None)
    w_quant = (ws, np.full(ws.size, w_zp, np.int64), 0)
    bias_dtype = bias_dtype or (I64 if dtype == I16 else I32)
    b_scale = np.float32(q_in[0][0]) * ws
    inputs = [("input", xs, dtype, q_in), ("const", weights, w_quant)]
    b = rng.integers(-20000, 20000, o).astype(bias_dtype)
    if bias:   # True, or "zero"
        inputs.append(("const", b * (bias is True), (b_scale * np.ones(o, F32), np.zeros(o, np.int64), 0)))
    oshape = (n, out_size(h, kh, stride[0], dil[0], padding), out_size(w, kw, stride[1], dil[1], padding), o)
    opts = options("Conv2DOptions", padding=padding, strideH=stride[0], strideW=stride[1],
                   dilationHFactor=dil[0], dilationWFactor=dil[1], fusedActivationFunction=act,
                   quantizedBiasType=bias_type_option)
    version = 4 if dtype == I16 else 3
    return one_op_model("CONV_2D", inputs, [(oshape, dtype, q_out)], opts, version=version), ints(rng, xs, dtype)


# (input NHWC, filter OHWI, stride, dilation, padding, activation)
CONV_CASES = [
    ((1, 9, 7, 16), (24, 1, 1, 16), (1, 1), (1, 1), SAME, NONE),        # pointwise, in place
    ((2, 6, 5, 32), (40, 1, 1, 32), (1, 1), (1, 1), VALID, RELU6),      # batch 2, panel tail
    ((1, 9, 11, 8), (16, 1, 1, 8), (2, 2), (1, 1), SAME, RELU),         # strided pointwise
    ((1, 5, 6, 6), (7, 1, 1, 6), (1, 1), (1, 1), SAME, NONE),           # C % 4 != 0: im2col
    ((1, 16, 16, 3), (32, 3, 3, 3), (2, 2), (1, 1), SAME, RELU6),       # MobileNet stem
    ((1, 9, 7, 5), (7, 3, 3, 5), (1, 1), (1, 1), VALID, NONE),
    ((2, 11, 13, 4), (6, 5, 7, 4), (3, 2), (1, 1), SAME, RELU_N1_TO_1),
    ((1, 12, 12, 8), (4, 3, 3, 8), (1, 1), (2, 2), SAME, NONE),         # dilation
    ((1, 13, 12, 2), (3, 3, 2, 2), (1, 2), (2, 3), VALID, RELU),
    ((1, 6, 6, 64), (70, 3, 3, 64), (1, 1), (1, 1), SAME, NONE),        # k = 576, 3 panels
    ((1, 3, 3, 256), (2, 1, 1, 256), (1, 1), (1, 1), VALID, NONE),      # two outputs
    ((1, 40, 40, 8), (16, 3, 3, 8), (1, 1), (1, 1), SAME, RELU),        # im2col in row chunks
]


@pytest.mark.parametrize("case", CONV_CASES, ids=str)
def test_conv2d_int8(case):
    xs, fs, stride, dil, padding, act = case
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    model, x = conv_model(rng, I8, xs, fs, stride, dil, padding, act)
    assert_same(model, [x])


@pytest.mark.parametrize("channels", [1, 3, 7, 13, 15, 16, 17, 24, 31, 45])
def test_conv2d_int8_every_tail_width(channels):
    """Output channels that leave every count of bytes in the last vector of the last panel
    (stored in pieces of 8, 4, 2 and 1); 7 rows, so the last row tile is partial too."""
    rng = np.random.default_rng(channels)
    model, x = conv_model(rng, I8, (1, 7, 1, 8), (channels, 1, 1, 8), (1, 1), (1, 1), SAME, NONE)
    assert_same(model, [x])


@pytest.mark.parametrize("per_channel,bias", [(False, True), (True, False)])
def test_conv2d_int8_per_tensor_weights_and_no_bias(per_channel, bias):
    rng = np.random.default_rng(1)
    model, x = conv_model(rng, I8, (1, 7, 7, 12), (9, 3, 3, 12), per_channel=per_channel, bias=bias)
    if not bias:   # the official kernel requires a bias: compare with a zero one
        zero, _ = conv_model(np.random.default_rng(1), I8, (1, 7, 7, 12), (9, 3, 3, 12), bias="zero")
        np.testing.assert_array_equal(run_litert(model, [x])[0], run_official(zero, [x])[0])
        return
    assert_same(model, [x])


def test_conv2d_int8_zero_point_and_weight_extremes():
    """Input zero points at both ends of the range (the padding taps hold them in im2col), and
    weights of -128 (the unsigned-input trick must not overflow)."""
    for zp in (-128, 127):
        for fs in ((8, 3, 3, 4), (40, 1, 1, 16)):
            rng = np.random.default_rng(zp & 0xFF)
            model, x = conv_model(rng, I8, (1, 8, 8, fs[3]), fs, in_zp=zp, w_lo=-128)
            x[0, :2] = -128
            assert_same(model, [x])


@pytest.mark.parametrize("fs", [(6, 3, 3, 4), (8, 1, 1, 2)], ids=str)
def test_conv2d_int8_grouped(fs):
    model, x = conv_model(np.random.default_rng(2), I8, (1, 6, 6, 8), fs)
    assert_same(model, [x])


@pytest.mark.parametrize("case", [CONV_CASES[i] for i in (0, 4, 6, 7)], ids=str)
def test_conv2d_uint8(case):
    xs, fs, stride, dil, padding, act = case
    rng = np.random.default_rng(abs(hash(case)) % 2**32 + 1)
    model, x = conv_model(rng, U8, xs, fs, stride, dil, padding, act, per_channel=False)
    assert_same(model, [x])


@pytest.mark.parametrize("bias_dtype,option", [(I64, 0), (I64, INT64_BIAS), (I32, INT32_BIAS)])
@pytest.mark.parametrize("case", [CONV_CASES[i] for i in (1, 4, 6, 9)], ids=str)
def test_conv2d_16x8(case, bias_dtype, option):
    xs, fs, stride, dil, padding, act = case
    rng = np.random.default_rng(abs(hash(case)) % 2**32 + 2)
    model, x = conv_model(rng, I16, xs, fs, stride, dil, padding, act, bias_dtype=bias_dtype,
                          bias_type_option=option)
    assert_same(model, [x])


def test_conv2d_16x8_int32_bias_needs_the_option():
    """quantized_bias_type unset makes the official kernel read the bias as int64: refuse."""
    from litert.errors import PrepareError
    model, x = conv_model(np.random.default_rng(3), I16, (1, 4, 4, 4), (4, 1, 1, 4), bias_dtype=I32)
    with pytest.raises(PrepareError, match="quantized_bias_type"):
        run_litert(model, [x])


# -- DEPTHWISE_CONV_2D --------------------------------------------------------------------------
def depthwise_model(rng, dtype, xs, k, mult=1, stride=1, dil=1, padding=SAME, act=NONE, bias=True,
                    per_channel=True, bias_qdim=0):
    n, h, w, c = xs
    o = c * mult
    q_in, ws, q_out = quant_case(rng, dtype, o, k[0] * k[1], per_channel)
    w_type = U8 if dtype == U8 else I8
    w_zp = int(rng.integers(100, 156)) if dtype == U8 else 0
    weights = ints(rng, (1, k[0], k[1], o), w_type, -127 if w_type == I8 else None)
    inputs = [("input", xs, dtype, q_in), ("const", weights, (ws, np.full(ws.size, w_zp, np.int64), 3))]
    if bias:
        b = rng.integers(-20000, 20000, o).astype(I64 if dtype == I16 else I32)
        b_scale = np.float32(q_in[0][0]) * ws * np.ones(o, F32)
        inputs.append(("const", b, (b_scale, np.zeros(o, np.int64), bias_qdim)))
    oshape = (n, out_size(h, k[0], stride, dil, padding), out_size(w, k[1], stride, dil, padding), o)
    opts = options("DepthwiseConv2DOptions", padding=padding, strideH=stride, strideW=stride,
                   depthMultiplier=mult, dilationHFactor=dil, dilationWFactor=dil, fusedActivationFunction=act)
    version = 5 if dtype == I16 else 3
    model = one_op_model("DEPTHWISE_CONV_2D", inputs, [(oshape, dtype, q_out)], opts, version=version)
    return model, ints(rng, xs, dtype)


# (input NHWC, kernel (h, w), multiplier, stride, dilation, padding, activation)
DEPTHWISE_CASES = [
    ((1, 10, 10, 32), (3, 3), 1, 1, 1, SAME, RELU6),     # 3x3 fast path and borders
    ((1, 11, 9, 24), (3, 3), 1, 2, 1, SAME, RELU6),
    ((2, 7, 8, 5), (3, 3), 1, 1, 1, VALID, NONE),
    ((1, 12, 10, 4), (3, 3), 1, 1, 2, SAME, RELU_N1_TO_1),
    ((1, 8, 13, 6), (2, 4), 1, 3, 2, VALID, NONE),
    ((1, 5, 5, 17), (5, 5), 1, 1, 1, SAME, RELU),
    ((1, 9, 9, 3), (5, 3), 3, 2, 1, SAME, RELU),          # multiplier 3
    ((1, 12, 12, 1), (3, 3), 8, 2, 1, SAME, RELU6),       # person_detect's first layer
]


@pytest.mark.parametrize("case", DEPTHWISE_CASES, ids=str)
def test_depthwise_int8(case):
    xs, k, mult, stride, dil, padding, act = case
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    model, x = depthwise_model(rng, I8, xs, k, mult, stride, dil, padding, act)
    assert_same(model, [x])


@pytest.mark.parametrize("case", [DEPTHWISE_CASES[i] for i in (0, 1, 6)], ids=str)
def test_depthwise_uint8(case):
    xs, k, mult, stride, dil, padding, act = case
    rng = np.random.default_rng(abs(hash(case)) % 2**32 + 1)
    model, x = depthwise_model(rng, U8, xs, k, mult, stride, dil, padding, act, per_channel=False)
    assert_same(model, [x])


@pytest.mark.parametrize("case", [DEPTHWISE_CASES[i] for i in (0, 3, 6)], ids=str)
def test_depthwise_16x8(case):
    xs, k, mult, stride, dil, padding, act = case
    rng = np.random.default_rng(abs(hash(case)) % 2**32 + 2)
    model, x = depthwise_model(rng, I16, xs, k, mult, stride, dil, padding, act)
    assert_same(model, [x])


def test_depthwise_bias_on_dimension_3():
    """person_detect's depthwise biases carry quantized_dimension 3 (the official full
    interpreter refuses the file); litert runs them like dimension 0."""
    rng = np.random.default_rng(4)
    model3, x = depthwise_model(rng, I8, (1, 6, 6, 8), (3, 3), bias_qdim=3)
    model0, _ = depthwise_model(np.random.default_rng(4), I8, (1, 6, 6, 8), (3, 3), bias_qdim=0)
    np.testing.assert_array_equal(run_litert(model3, [x])[0], run_official(model0, [x])[0])


# -- TRANSPOSE_CONV -----------------------------------------------------------------------------
def transpose_model(rng, dtype, xs, ws, stride, padding, out_hw, act=NONE, bias=True, bias_dtype=None,
                    bias_type_option=0, per_channel=True):
    o = ws[0]
    q_in, scales, q_out = quant_case(rng, dtype, o, ws[1] * ws[2] * ws[3] // 2, per_channel)
    w_type = U8 if dtype == U8 else I8
    w_zp = int(rng.integers(100, 156)) if dtype == U8 else 0
    weights = ints(rng, ws, w_type, -127 if w_type == I8 else None)
    inputs = [("const", np.array((xs[0],) + out_hw + (o,), np.int32)),
              ("const", weights, (scales, np.full(scales.size, w_zp, np.int64), 0)), ("input", xs, dtype, q_in)]
    if bias:
        bias_dtype = bias_dtype or (I64 if dtype == I16 else I32)
        b = rng.integers(-20000, 20000, o).astype(bias_dtype)
        inputs.append(("const", b, (np.float32(q_in[0][0]) * scales * np.ones(o, F32), np.zeros(o, np.int64), 0)))
    opts = options("TransposeConvOptions", padding=padding, strideH=stride[0], strideW=stride[1],
                   fusedActivationFunction=act, quantizedBiasType=bias_type_option)
    model = one_op_model("TRANSPOSE_CONV", inputs, [((xs[0],) + out_hw + (o,), dtype, q_out)], opts,
                         version=3 if dtype != I16 else 5)
    return model, ints(rng, xs, dtype)


# (input NHWC, weights OHWI, stride, padding, output H W, activation)
TRANSPOSE_CASES = [
    ((1, 4, 4, 3), (5, 3, 3, 3), (2, 2), SAME, (8, 8), RELU),
    ((1, 4, 5, 3), (5, 3, 3, 3), (2, 2), VALID, (9, 11), NONE),
    ((2, 3, 3, 4), (2, 2, 2, 4), (2, 2), VALID, (6, 6), RELU6),
    ((1, 5, 4, 2), (3, 4, 3, 2), (3, 2), SAME, (15, 8), RELU_N1_TO_1),
    ((1, 4, 4, 3), (2, 3, 3, 3), (2, 2), SAME, (7, 7), NONE),
]


@pytest.mark.parametrize("dtype", [I8, U8])
@pytest.mark.parametrize("case", TRANSPOSE_CASES, ids=str)
def test_transpose_conv_8bit(case, dtype):
    xs, ws, stride, padding, out_hw, act = case
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    model, x = transpose_model(rng, dtype, xs, ws, stride, padding, out_hw, act, per_channel=dtype == I8)
    assert_same(model, [x])


@pytest.mark.parametrize("bias_dtype,option", [(I64, 0), (I32, INT32_BIAS)])
@pytest.mark.parametrize("case", TRANSPOSE_CASES[:3], ids=str)
def test_transpose_conv_16x8(case, bias_dtype, option):
    xs, ws, stride, padding, out_hw, act = case
    rng = np.random.default_rng(abs(hash(case)) % 2**32 + 2)
    model, x = transpose_model(rng, I16, xs, ws, stride, padding, out_hw, act, bias_dtype=bias_dtype,
                               bias_type_option=option)
    assert_same(model, [x])


# -- hybrid (float32 input and output, int8 weights) -------------------------------------------
def hybrid_model(rng, op, xs, fs, stride=1, padding=SAME, act=NONE, per_channel=True, mult=1):
    o = fs[0] if op == "CONV_2D" else fs[3]
    weights = ints(rng, fs, I8, -127)
    scales = rng.uniform(0.002, 0.02, o if per_channel else 1).astype(F32)
    axis = 0 if op == "CONV_2D" else 3
    inputs = [("input", xs, F32), ("const", weights, (scales, np.zeros(scales.size, np.int64), axis)),
              ("const", rng.standard_normal(o).astype(F32))]
    kh, kw = fs[1], fs[2]
    oshape = (xs[0], out_size(xs[1], kh, stride, 1, padding), out_size(xs[2], kw, stride, 1, padding), o)
    if op == "CONV_2D":
        opts = options("Conv2DOptions", padding=padding, strideH=stride, strideW=stride,
                       fusedActivationFunction=act)
    else:
        opts = options("DepthwiseConv2DOptions", padding=padding, strideH=stride, strideW=stride,
                       depthMultiplier=mult, fusedActivationFunction=act)
    x = (rng.standard_normal(xs) * 2 + 0.3).astype(F32)
    return one_op_model(op, inputs, [(oshape, F32)], opts, version=5 if op == "CONV_2D" else 6), x


@pytest.mark.parametrize("per_channel", [True, False])
@pytest.mark.parametrize("case", [((1, 8, 8, 8), (16, 3, 3, 8), 1, VALID, RELU),
                                  ((2, 7, 6, 5), (9, 3, 3, 5), 2, SAME, NONE),
                                  ((1, 5, 5, 16), (8, 1, 1, 16), 1, SAME, RELU6)], ids=str)
def test_conv2d_hybrid(case, per_channel):
    xs, fs, stride, padding, act = case
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    model, x = hybrid_model(rng, "CONV_2D", xs, fs, stride, padding, act, per_channel)
    assert_same(model, [x], atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("case", [((1, 8, 8, 8), (1, 3, 3, 8), 1, SAME, RELU6, 1),
                                  ((2, 7, 6, 3), (1, 3, 3, 6), 2, VALID, NONE, 2)], ids=str)
def test_depthwise_hybrid(case):
    xs, fs, stride, padding, act, mult = case
    rng = np.random.default_rng(abs(hash(case)) % 2**32)
    model, x = hybrid_model(rng, "DEPTHWISE_CONV_2D", xs, fs, stride, padding, act, True, mult)
    assert_same(model, [x], atol=1e-4, rtol=1e-4)


# -- errors -------------------------------------------------------------------------------------
def test_runtime_quantized_weights_are_a_clear_error():
    from litert.errors import PrepareError
    q = ([0.5], [0])
    model = one_op_model("CONV_2D", [("input", (1, 4, 4, 4), I8, q), ("input", (2, 1, 1, 4), I8, q),
                                     ("const", np.zeros(2, I32))],
                         [((1, 4, 4, 2), I8, q)], options("Conv2DOptions", padding=SAME, strideH=1, strideW=1))
    with pytest.raises(PrepareError, match="must be a constant"):
        run_litert(model, [np.zeros((1, 4, 4, 4), I8), np.zeros((2, 1, 1, 4), I8)])


def test_missing_quantization_is_a_clear_error():
    from litert.errors import PrepareError
    q = ([0.5], [0])
    model = one_op_model("CONV_2D", [("input", (1, 4, 4, 4), I8, q), ("const", np.zeros((2, 1, 1, 4), I8)),
                                     ("const", np.zeros(2, I32))],
                         [((1, 4, 4, 2), I8, q)], options("Conv2DOptions", padding=SAME, strideH=1, strideW=1))
    with pytest.raises(PrepareError, match="without quantization parameters"):
        run_litert(model, [np.zeros((1, 4, 4, 4), I8)])


# -- the requantization and the GEMM micro-kernel ------------------------------------------------
def test_branch_free_requantize_equals_mbqm():
    from numba import njit

    from litert.kernels import gemm_int8 as g
    from litert.kernels.qmath import mbqm

    @njit
    def mismatches(xs, rq, ss):
        bad = 0
        for i in range(xs.shape[0]):
            p = rq[:, i]
            v = g.shift_left(xs[i], p[g.RQ_LEFT])
            got = g.requantize(v, p[g.RQ_MULT], p[g.RQ_RIGHT], p[g.RQ_MASK], p[g.RQ_HALF], 0, -(1 << 40), 1 << 40)
            bad += got != mbqm(xs[i], p[g.RQ_MULT], ss[i])
        return bad

    rng = np.random.default_rng(0)
    n = 1_000_000
    xs = np.concatenate([rng.integers(-2**31, 2**31, n), rng.integers(-70000, 70000, n),
                         [-2**31, 2**31 - 1, 0, 1, -1, -2**30, 2**30]]).astype(np.int32)
    ms = np.concatenate([rng.integers(2**30, 2**31, 2 * n), [2**30, 2**31 - 1, 2**30, 2**30, 2**30, 2**30, 0]])
    ss = np.concatenate([rng.integers(-31, 8, 2 * n), [0, -1, -31, 5, -5, -30, 7]])
    rq = g.requant_params(ms, ss, ms.size)
    assert mismatches(xs, np.ascontiguousarray(rq), ss.astype(np.int32)) == 0


def test_copy_bytes_every_length_and_offset():
    """copy_bytes (im2col's runs): every length 0..80 (two overlapping words of 4, 8, 16 or 32
    bytes, else llvm.memcpy) at odd offsets, on bytes and on float32 arrays (byte offsets), and
    nothing outside the run is touched."""
    from numba import njit

    from litert.kernels.gemm_int8 import copy_bytes

    @njit
    def run(dst, dst_off, src, src_off, n):
        copy_bytes(dst, dst_off, src, src_off, n)

    src = np.arange(200, dtype=np.uint8)
    for n in range(81):
        for dst_off, src_off in ((0, 0), (3, 7), (13, 1)):
            dst = np.full(120, 255, np.uint8)
            run(dst, dst_off, src, src_off, n)
            want = np.full(120, 255, np.uint8)
            want[dst_off:dst_off + n] = src[src_off:src_off + n]
            np.testing.assert_array_equal(dst, want, f"{n} bytes at {dst_off} from {src_off}")
    x = np.arange(40, dtype=np.float32)
    out = np.zeros(40, np.float32)
    run(out, 4 * 5, x, 4 * 11, 4 * 9)       # 9 floats, as the float stem's im2col moves them
    np.testing.assert_array_equal(out[5:14], x[11:20])
    assert not out[:5].any() and not out[14:].any()


def test_vector_requantize_equals_mbqm():
    """The micro-kernels' requantization (32-bit lanes, in IR), through depthwise3x3_q8 on an
    all-zero window, whose accumulators are then exactly the `folded` values given."""
    from numba import njit

    from litert.kernels import gemm_int8 as g
    from litert.kernels.qmath import mbqm

    lanes = g.LANES

    @njit
    def run(acc, rq, out, zp):
        taps = np.zeros((9, lanes), np.int32)
        window = np.zeros(9 * lanes, np.int8)
        par = np.zeros((g.RQ_ROWS, lanes), np.int32)
        for c0 in range(0, acc.shape[0], lanes):
            shifted = g.load_params(par, rq, c0, lanes)
            g.depthwise3x3_q8(out, c0, window, 0, lanes, 3 * lanes, taps, acc, c0, par, shifted, zp, -128, 127)

    @njit
    def want(acc, ms, ss, zp, out):
        for i in range(acc.shape[0]):
            out[i] = min(max(mbqm(acc[i], ms[i], ss[i]) + zp, -128), 127)

    rng = np.random.default_rng(1)
    blocks = 20000
    n = blocks * lanes
    acc = np.where(rng.random(n) < 0.5, rng.integers(-2**31, 2**31, n), rng.integers(-3000, 3000, n))
    acc[:8] = [-2**31, 2**31 - 1, 0, 1, -1, 2**30, -2**30, 12345]
    acc = acc.astype(np.int32)
    ms = rng.integers(2**30, 2**31, n)
    ss = np.where(rng.random(n) < 0.8, rng.integers(-31, -12, n), rng.integers(-12, 1, n))
    with_left = (np.arange(n) // lanes) % 4 == 0          # a quarter of the blocks shift left
    ss = np.where(with_left & (rng.random(n) < 0.5), rng.integers(1, 8, n), ss)
    for zp in (-128, 0, 37, 127):
        got, expected = np.zeros(n, np.int8), np.zeros(n, np.int8)
        run(acc, np.ascontiguousarray(g.requant_params(ms, ss, n)), got, zp)
        want(acc, ms.astype(np.int32), ss.astype(np.int32), zp, expected)
        np.testing.assert_array_equal(got, expected)
        assert len(np.unique(got)) > 200      # not all saturated


GENERIC_SCRIPT = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, "tests")
    from litert.kernels import gemm_int8
    from oneop import assert_same
    from test_conv_int8 import CONV_CASES, DEPTHWISE_CASES, I8, conv_model, depthwise_model
    assert not gemm_int8.VNNI, "expected the generic micro-kernel"
    for k in (0, 4, 9, 10):
        model, x = conv_model(np.random.default_rng(k), I8, *CONV_CASES[k][:2])
        assert_same(model, [x])
    for k in (0, 1):
        xs, kernel = DEPTHWISE_CASES[k][:2]
        model, x = depthwise_model(np.random.default_rng(k), I8, xs, kernel)
        assert_same(model, [x])
    print("ok")
""")


def test_generic_micro_kernels(tmp_path):
    """Without VNNI (and ahead of time for aarch64) the GEMM tile and the depthwise block are
    target-neutral vector IR: the same results, bit for bit."""
    env = dict(os.environ, NUMBA_CPU_NAME="generic", NUMBA_CPU_FEATURES="", NUMBA_CACHE_DIR=str(tmp_path),
               PYTHONPATH=str(ROOT))
    res = subprocess.run([sys.executable, "-c", GENERIC_SCRIPT], env=env, capture_output=True, text=True,
                         timeout=900, cwd=str(ROOT))
    assert res.returncode == 0 and "ok" in res.stdout, res.stderr[-3000:]


# -- every convolution of the reference models ---------------------------------------------------
CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV")


def single_op_model(model, op, bias_qdim=None):
    """The model's operator `op` alone; bias_qdim rewrites the bias' quantized_dimension."""
    return op_model(model.subgraphs[0], op, None if bias_qdim is None else {2: bias_qdim})[0]


def model_or_skip(name):
    from litert.model import load_model
    root = models_dir()
    if root is None:
        pytest.skip("reference models are not available")
    return root / name, load_model(str(root / f"{name}.tflite"))


@pytest.mark.parametrize("name", ["tf/mobilenet_v2_int8", "tflm/mobilenet_v2_quantized_1x3x224x224",
                                  "tf/tiny_cnn_int8", "tflm/micro_speech_quantized", "tf/tiny_cnn_dynamic"])
def test_model_convolutions_against_intermediates(name):
    """Each convolution, fed the input the reference kernels gave it, reproduces their output."""
    stem, model = model_or_skip(name)
    saved = np.load(f"{stem}.intermediates.npz")
    assert "BUILTIN_REF" in str(saved["__source__"])
    sg = model.subgraphs[0]
    checked = 0
    for op in sg.operators:
        if op.name not in CONV_OPS:
            continue
        x_index = [i for i in op.inputs if i >= 0 and sg.tensors[i].data is None][0]
        key = f"t{x_index}"
        x = saved[key] if key in saved.files else np.load(f"{stem}.input{list(sg.inputs).index(x_index)}.npy")
        want = saved[f"t{op.outputs[0]}"]
        got = run_litert(single_op_model(model, op), [x])[0]
        if want.dtype.kind == "f":
            np.testing.assert_allclose(got, want, atol=1e-4 * max(1.0, np.abs(want).max()), rtol=0,
                                       err_msg=f"{name} operator {op.index}")
        else:
            np.testing.assert_array_equal(got, want, err_msg=f"{name} operator {op.index} ({op.name})")
        checked += 1
    assert checked > 0


def test_person_detect_convolutions():
    """person_detect has no reference-kernel intermediates (the official interpreter refuses the
    file for its depthwise biases on dimension 3): each convolution on a seeded input against
    the official kernels on a copy with the bias on dimension 0."""
    _, model = model_or_skip("tflm/person_detect")
    sg = model.subgraphs[0]
    rng = np.random.default_rng(7)
    checked = 0
    for op in sg.operators:
        if op.name not in CONV_OPS:
            continue
        x_t = sg.tensors[op.inputs[0]]
        x = rng.integers(-128, 128, x_t.shape).astype(np.int8)
        got = run_litert(single_op_model(model, op), [x])[0]
        want = run_official(single_op_model(model, op, bias_qdim=0), [x])[0]
        np.testing.assert_array_equal(got, want, err_msg=f"person_detect operator {op.index} ({op.name})")
        checked += 1
    assert checked == 28
