"""Activation functions: LOGISTIC, TANH, RELU, RELU6, RELU_N1_TO_1, RELU_0_TO_1, LEAKY_RELU,
HARD_SWISH, GELU (elementwise) and PRELU (alpha broadcast against the input).

float32, as the official reference kernels compute it, NaN and -0 included:
  LOGISTIC  1 above 16.619047, exp(x) below -9, else 1 / (1 + exp(-x))  (reference logistic.h)
  RELU*     clamp that keeps NaN and -0 (x < lo ? lo : x > hi ? hi : x)
  LEAKY     x > 0 ? x : alpha * x;   PRELU  x >= 0 ? x : x * alpha
  HARD_SWISH x * min(6, max(0, x + 3)) / 6  (std::min/max: a NaN in x + 3 gives 0)
  GELU      0.5 x erfc(-x / sqrt 2), or with approximate=true
            0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))  (reference gelu.h)

Quantized, as the kernels of the official BUILTIN_REF resolver (tflite/kernels/activations.cc),
pinned bit for bit by tests/test_activations_int8.py:
  LOGISTIC, TANH, GELU (int8, uint8): a 256-entry table built in float32 (LUTPopulate: dequantize,
      the C library's float function, round half away, requantize). LOGISTIC needs the output
      scale 1/256.
  LOGISTIC, TANH (int16): reference_integer_ops, TFLite's sigmoid table interpolated at the input
      rescaled to 3 * 2^9 per unit (power-of-two input scales, i.e. Q3.12; TANH also Q4.11) or by
      a multiplier from the scale; zero points 0, output scale 2^-15.
  RELU, RELU6, RELU_N1_TO_1, RELU_0_TO_1: zp_out + (x - zp_in) * s_in / s_out (one
      MultiplyByQuantizedMultiplier), clamped to the activation's bounds in the output's integer
      domain. int16 only for RELU and RELU6, zero points 0.
  LEAKY_RELU: as RELU without clamp where x >= zp_in, with s_in * alpha / s_out below.
  HARD_SWISH (int8, uint8): the 16-bit fixed-point reference (reference/hard_swish.h).
  PRELU (int8, uint8, alpha quantized with the input's type): (x - zp) s_in / s_out for
      x >= zp, (x - zp)(alpha - zp_a) s_in s_a / s_out below.
The multipliers come from float32 arithmetic where the C++ computes them from float operands.
An 8-bit activation has 256 possible inputs: prepare computes all outputs once (LUTPopulate, or
the same integer code the int16 kernels run) and eval looks them up.
"""
import functools
import math

import numpy as np

from ..registry import register_builtin
from .common import broadcast_shape, jit
from .compare import MAX_DIMS, next_row, plan_broadcast, row_offset
from .fixedpoint import (SIGMOID_TABLE_UINT16, erfcf, expf, lut_populate_8bit, rdbpot_int16,
                         round_half_away, saturate_int16, tanhf, wrap_int16)
from .qmath import checked_log2, mbqm, quantize_multiplier, srdhm_int16, wrap_int32

(ACT_LOGISTIC, ACT_TANH, ACT_RELU, ACT_RELU6, ACT_RELU_N1_TO_1, ACT_RELU_0_TO_1, ACT_LEAKY_RELU,
 ACT_HARD_SWISH, ACT_GELU, ACT_GELU_TANH) = range(10)
ELEMENTWISE = {"LOGISTIC": ACT_LOGISTIC, "TANH": ACT_TANH, "RELU": ACT_RELU, "RELU6": ACT_RELU6,
               "RELU_N1_TO_1": ACT_RELU_N1_TO_1, "RELU_0_TO_1": ACT_RELU_0_TO_1,
               "LEAKY_RELU": ACT_LEAKY_RELU, "HARD_SWISH": ACT_HARD_SWISH, "GELU": ACT_GELU}
# The clamp of each RELU variant, in real values
RELU_RANGES = {ACT_RELU: (0.0, math.inf), ACT_RELU6: (0.0, 6.0), ACT_RELU_N1_TO_1: (-1.0, 1.0),
               ACT_RELU_0_TO_1: (0.0, 1.0)}
# The quantized types each op takes (the Eval switches of activations.cc)
QUANTIZED_TYPES = {
    ACT_LOGISTIC: (np.int8, np.uint8, np.int16), ACT_TANH: (np.int8, np.uint8, np.int16),
    ACT_RELU: (np.int8, np.uint8, np.int16), ACT_RELU6: (np.int8, np.uint8, np.int16),
    ACT_RELU_N1_TO_1: (np.int8, np.uint8), ACT_RELU_0_TO_1: (np.int8, np.uint8),
    ACT_LEAKY_RELU: (np.int8, np.uint8, np.int16), ACT_HARD_SWISH: (np.int8, np.uint8),
    ACT_GELU: (np.int8, np.uint8)}

LOGISTIC_UPPER = np.float32(16.619047164916992188)   # above: exactly 1 in float32
LOGISTIC_LOWER = np.float32(-9.0)                    # below: 1 + exp(-x) ~ exp(-x)
SQRT_2_OVER_PI = np.float32(math.sqrt(2.0 / math.pi))
MINUS_SQRT_HALF = np.float32(-math.sqrt(0.5))


@jit(inline="always")
def _clamp(x, lo, hi):
    return lo if x < lo else (hi if x > hi else x)


@jit(inline="always")
def _activation(op, x, alpha):
    zero, one, half = np.float32(0.0), np.float32(1.0), np.float32(0.5)
    if op == ACT_LOGISTIC:
        if x > LOGISTIC_UPPER:
            return one
        if x < LOGISTIC_LOWER:
            return math.exp(x)
        return one / (one + math.exp(-x))
    if op == ACT_TANH:
        return math.tanh(x)
    if op == ACT_RELU:
        return zero if x < zero else x
    if op == ACT_RELU6:
        return _clamp(x, zero, np.float32(6.0))
    if op == ACT_RELU_N1_TO_1:
        return _clamp(x, -one, one)
    if op == ACT_RELU_0_TO_1:
        return _clamp(x, zero, one)
    if op == ACT_LEAKY_RELU:
        return x if x > zero else x * alpha
    if op == ACT_HARD_SWISH:
        r = x + np.float32(3.0)
        r = r if zero < r else zero
        r = r if r < np.float32(6.0) else np.float32(6.0)
        return x * r / np.float32(6.0)
    if op == ACT_GELU:
        # erfc form: no cancellation for large negative x
        return half * x * math.erfc(x * MINUS_SQRT_HALF)
    return half * x * (one + math.tanh(SQRT_2_OVER_PI * (x + np.float32(0.044715) * x * x * x)))


def _activation_kernel(op):
    """The loop for one activation, the op fixed at compile time (a test of a run-time op inside
    the loop keeps it from vectorizing: RELU ran ~50x slower). Compiled on first use."""
    @jit
    def activation(x, out, alpha):
        for i in range(x.size):
            out[i] = _activation(op, x[i], alpha)
    return activation


FLOAT_KERNELS = {op: _activation_kernel(op) for op in range(ACT_GELU_TANH + 1)}


# -- quantized elementwise ----------------------------------------------------------------------
# A kind computes one output from one input and p, a tuple of 8 int64 parameters, with the C++
# arithmetic of its reference kernel (int64 here, with the same wraps and saturations); the
# result is clamped to [lo, hi].

Q_RELU, Q_LEAKY_RELU, Q_HARD_SWISH, Q_LOGISTIC16, Q_TANH16 = range(5)


@jit(inline="always")
def _relu(x, p):
    """p = (zp_in, zp_out, multiplier, shift, ...)"""
    return p[1] + mbqm(x - p[0], p[2], p[3])


@jit(inline="always")
def _leaky_relu(x, p):
    """p = (zp_in, zp_out, identity multiplier, shift, |alpha multiplier|, shift, alpha < 0, -)"""
    v = x - p[0]
    if v >= 0:
        return p[1] + mbqm(v, p[2], p[3])
    scaled = mbqm(v, p[4], p[5])
    return p[1] + (-scaled if p[6] else scaled)


@jit(inline="always")
def _hard_swish(x, p):
    """p = (zp_in, zp_out, output multiplier (Q0.15), its exponent (<= 0), reluish multiplier
    (Q0.15), its exponent, -, -). int16 fixed point: x on a 2^7 finer input scale times a
    'reluish' factor in [0, 1] that is (x + 3) / 6 clamped."""
    hires = wrap_int16((x - p[0]) * 128)
    preshift_output = srdhm_int16(hires, p[2])
    reluish = hires
    if p[5] > 0:        # left shift, saturating; the last bit after the multiply
        reluish = saturate_int16(reluish * (np.int64(1) << (p[5] - 1)))
    reluish = srdhm_int16(reluish, p[4])
    if p[5] > 0:
        reluish = saturate_int16(reluish * 2)
    if p[5] < 0:
        reluish = rdbpot_int16(reluish, -p[5])
    reluish = (reluish + (1 << 15)) >> 1                    # [-1, 1] -> [0, 1]
    # SaturatingDoublingHighMul: truncating (C division), no rounding
    product = reluish * preshift_output
    high = abs(product) >> 15
    high = high if product >= 0 else -high
    return wrap_int16(rdbpot_int16(high, -p[3]) + p[1])


@jit(inline="always")
def _sigmoid_table_interpolate(abs_value, index_shift):
    """TFLite's sigmoid table read at abs_value / 2^index_shift, linearly interpolated; the
    result keeps index_shift fraction bits (uint32 arithmetic). -1 past the table's end, where
    the caller saturates."""
    uh = abs_value >> index_shift
    if uh >= 255:
        return np.int64(-1)
    ua = SIGMOID_TABLE_UINT16[uh]
    ub = SIGMOID_TABLE_UINT16[uh + 1]
    ut = abs_value & ((np.int64(1) << index_shift) - 1)
    return (ua << index_shift) + ut * (ub - ua)


@jit(inline="always")
def _sigmoid_input(x, p):
    """The int16 LOGISTIC/TANH input rescaled for the sigmoid table: p = (multiplier, left_shift,
    ...); multiplier 0 means a power-of-two scale, where the input is just multiplied by 3 << shift
    (the table's 3/4 range stretch)."""
    multiplier, left_shift = p[0], p[1]
    if multiplier == 0:
        multiplier = np.int64(3) << left_shift
        left_shift = 0
    rounding = (np.int64(1) << (left_shift - 1)) if left_shift > 0 else np.int64(0)
    return wrap_int32(x * multiplier + rounding) >> left_shift


@jit(inline="always")
def _logistic_int16(x, p):
    v = _sigmoid_input(x, p)
    result = _sigmoid_table_interpolate(abs(v) & 0xFFFFFFFF, 9)
    if result < 0:
        result = np.int64(0x7FFF) << 10                      # saturated
    if v >= 0:
        result = result + (1 << 9)
    else:
        result = (np.int64(1) << 25) - result + (1 << 9) - 1
    return wrap_int16((result & 0xFFFFFFFF) >> 10)


@jit(inline="always")
def _tanh_int16(x, p):
    """tanh(x) = 2 sigmoid(2x) - 1 on the same table, read at twice the resolution."""
    v = _sigmoid_input(x, p)
    result = _sigmoid_table_interpolate(abs(v) & 0xFFFFFFFF, 8)
    if result < 0:
        result = np.int64(0xFFFF) << 8
    if v >= 0:
        result = result - (1 << 23) + (1 << 7)
    else:
        result = -result + (1 << 23) + (1 << 7) - 1
    return wrap_int16(wrap_int32(result) >> 8)


@jit(inline="always")
def _quantized(kind, x, p):
    x = np.int64(x)
    if kind == Q_RELU:
        return _relu(x, p)
    if kind == Q_LEAKY_RELU:
        return _leaky_relu(x, p)
    if kind == Q_HARD_SWISH:
        return _hard_swish(x, p)
    if kind == Q_LOGISTIC16:
        return _logistic_int16(x, p)
    return _tanh_int16(x, p)


@functools.lru_cache(maxsize=None)
def quantized_kernel(kind):
    """The per-element loop of one quantized kind (fixed at compile time). Runs as eval for
    int16 and once at prepare over all 256 inputs of an 8-bit op."""
    @jit
    def activation(x, out, p, lo, hi):
        for i in range(x.size):
            out[i] = _clamp(_quantized(kind, x[i], p), lo, hi)
    return activation


@jit
def lookup_8bit(x, out, table):
    """x, out, table: uint8 views; out[i] = table[x[i]]."""
    for i in range(x.size):
        out[i] = table[x[i]]


def _table_from_kernel(kind, dtype, p, lo, hi):
    """All 256 outputs of an 8-bit kind, indexed by the input's byte. Computed by the int16
    specialization of the kernel (one compile serves every type; [lo, hi] is within dtype)."""
    values = np.arange(np.iinfo(dtype).min, np.iinfo(dtype).max + 1).astype(np.int16)
    outputs = np.empty_like(values)
    quantized_kernel(kind)(values, outputs, _params(p), lo, hi)
    table = np.empty(256, np.uint8)
    table[values & 0xFF] = outputs.astype(dtype).view(np.uint8)
    return table


def _params(values):
    """The 8-tuple of int64 the quantized kinds take."""
    values = tuple(int(v) for v in values)
    return tuple(np.int64(v) for v in values + (0,) * (8 - len(values)))


def _float_transform(op, approximate):
    """The float32 function LUTPopulate tabulates for an 8-bit LOGISTIC, TANH or GELU."""
    f32 = np.float32
    if op == ACT_LOGISTIC:
        return lambda v: f32(1.0) / (f32(1.0) + expf(-v))
    if op == ACT_TANH:
        return tanhf
    if approximate:
        sqrt_2_over_pi = f32(2.0 / math.sqrt(math.pi) * math.sqrt(0.5))
        return lambda v: f32(0.5) * v * (f32(1.0) + tanhf(sqrt_2_over_pi * (v + f32(0.044715) * v * v * v)))
    return lambda v: f32(0.5) * v * erfcf(v * f32(-math.sqrt(0.5)))


def _float32_ratio(*factors_over_last):
    """s1 * s2 * ... / s_last, in float32 like the C++ expressions on float scales."""
    *num, den = (np.float32(f) for f in factors_over_last)
    r = num[0]
    for f in num[1:]:
        r = np.float32(r * f)
    return float(np.float32(r / den))


def _downscale_to_int16(multiplier):
    """TFLite DownScaleInt32ToInt16Multiplier: a Q0.31 multiplier rounded to Q0.15."""
    if multiplier >= (1 << 31) - 1 - (1 << 15):
        return 32767
    return (multiplier + (1 << 15)) >> 16


def _relu_bounds(dtype, scale, zero_point, lo, hi):
    """QuantizedReluX's clamp: zp + round(bound / scale) (float32 division), within the type."""
    info = np.iinfo(dtype)

    def q(f):
        return zero_point + round_half_away(float(np.float32(f) / np.float32(scale)))

    return max(int(info.min), q(lo)), int(info.max) if hi == math.inf else min(int(info.max), q(hi))


def _check_int16_pot_output(ctx, out):
    is_pot, log2 = checked_log2(out.scale)
    ctx.check(is_pot and log2 == -15, f"an int16 output needs the scale 2^-15, got {out.scale}")


def _int16_sigmoid_multiplier(scale, pot_shifts):
    """(multiplier, left_shift) of the int16 LOGISTIC/TANH: multiplier 0 when the scale is a
    power of two with 12 - log2(1/scale) in pot_shifts; else a multiplier in (2^14, 2^15] that
    brings the input to 3 * 4096 per unit, and the shift it took."""
    is_pot, log2 = checked_log2(scale)
    left_shift = 12 + log2
    if is_pot and left_shift in pot_shifts:
        return 0, left_shift
    multiplier, left_shift = float(scale) * 4096.0 * 3.0, 0
    while multiplier <= 32767.0 / 2.0 and left_shift <= 30:
        left_shift += 1
        multiplier *= 2.0
    return int(multiplier), left_shift


def _prepare_quantized(ctx, op, x, out):
    """(eval data, ...) for a quantized elementwise activation: a lookup table for 8-bit types,
    a kernel and its parameters for int16."""
    dtype = x.dtype.type
    supported = QUANTIZED_TYPES[op]
    ctx.check(dtype in supported, f"{x.type_name} is not supported; quantized types: "
              + ", ".join(np.dtype(t).name for t in supported))
    ctx.check(x.quantization is not None and out.quantization is not None,
              "a quantized activation needs quantization parameters on its input and output")
    info = np.iinfo(dtype)
    lo, hi = int(info.min), int(info.max)
    if dtype == np.int16:
        ctx.check(x.zero_point == 0 and out.zero_point == 0,
                  f"int16 needs zero points 0, got {x.zero_point} and {out.zero_point}")
    if op in (ACT_LOGISTIC, ACT_TANH, ACT_GELU) and dtype != np.int16:
        if op == ACT_LOGISTIC:
            ctx.check(np.float32(out.scale) == np.float32(1 / 256),
                      f"an 8-bit LOGISTIC needs the output scale 1/256, got {out.scale}")
        approximate = bool(getattr(ctx.options, "approximate", False))
        table = lut_populate_8bit(_float_transform(op, approximate), x.scale, x.zero_point,
                                  out.scale, out.zero_point, dtype)
        return lookup_8bit, np.uint8, (ctx.persistent(table.view(np.uint8)),)
    if op in (ACT_LOGISTIC, ACT_TANH):                                   # int16
        if op == ACT_LOGISTIC:
            ctx.check(np.float32(out.scale) == np.float32(1 / 32768),
                      f"an int16 LOGISTIC needs the output scale 1/32768, got {out.scale}")
        _check_int16_pot_output(ctx, out)
        kind = Q_LOGISTIC16 if op == ACT_LOGISTIC else Q_TANH16
        p = _int16_sigmoid_multiplier(x.scale, (0,) if op == ACT_LOGISTIC else (0, 1))
    elif op == ACT_HARD_SWISH:
        kind, p = Q_HARD_SWISH, _hard_swish_params(ctx, x, out)
    elif op == ACT_LEAKY_RELU:
        alpha = float(getattr(ctx.options, "alpha", 0.0) or 0.0)
        m_id, s_id = quantize_multiplier(_float32_ratio(x.scale, out.scale))
        m_alpha, s_alpha = quantize_multiplier(_float32_ratio(x.scale, alpha, out.scale))
        kind, p = Q_LEAKY_RELU, (x.zero_point, out.zero_point, m_id, s_id, abs(m_alpha), s_alpha, m_alpha < 0)
    else:                                                                # the RELUs
        m, s = quantize_multiplier(_float32_ratio(x.scale, out.scale))
        lo, hi = _relu_bounds(dtype, out.scale, out.zero_point, *RELU_RANGES[op])
        kind, p = Q_RELU, (x.zero_point, out.zero_point, m, s)
    if dtype == np.int16:
        return quantized_kernel(kind), None, (_params(p), np.int64(lo), np.int64(hi))
    table = _table_from_kernel(kind, dtype, p, np.int64(lo), np.int64(hi))
    return lookup_8bit, np.uint8, (ctx.persistent(table),)


def _hard_swish_params(ctx, x, out):
    """HardSwishPrepare, in float32: the input on a 2^-7 finer scale, mapped to the output and to
    the 'reluish' scale where 3.0 is 32768."""
    f32 = np.float32
    hires_scale = f32(1.0 / 128.0) * f32(x.scale)
    m_out, e_out = quantize_multiplier(float(hires_scale / f32(out.scale)))
    ctx.check(e_out <= 0, f"HARD_SWISH output scale {out.scale} is too small for input scale {x.scale}")
    m_relu, e_relu = quantize_multiplier(float(hires_scale / (f32(3.0) / f32(32768.0))))
    return (x.zero_point, out.zero_point, _downscale_to_int16(m_out), e_out, _downscale_to_int16(m_relu), e_relu)


def make_prepare_activation(op):
    def prepare(ctx):
        ctx.check_inputs(1)
        x, out = ctx.inputs[0], ctx.outputs[0]
        ctx.check(x is not None, "a required input is missing")
        ctx.check(out.dtype == x.dtype, f"input and output types differ: {x.type_name} -> {out.type_name}")
        ctx.set_output(0, x.shape)
        if x.dtype != np.float32:
            return _prepare_quantized(ctx, op, x, out)
        code, alpha = op, 0.0
        if op == ACT_LEAKY_RELU:
            alpha = float(getattr(ctx.options, "alpha", 0.0) or 0.0)
        elif op == ACT_GELU and getattr(ctx.options, "approximate", False):
            code = ACT_GELU_TANH
        return FLOAT_KERNELS[code], None, (np.float32(alpha),)
    return prepare


def eval_activation(data, ins, outs, scratch):
    kernel, view, args = data
    x, out = ins[0].reshape(-1), outs[0].reshape(-1)
    if view is not None:
        x, out = x.view(view), out.view(view)
    kernel(x, out, *args)


# -- PRELU ------------------------------------------------------------------------------------

@jit(inline="always")
def _prelu(quantized, v, a, p):
    """float: v >= 0 ? v : v * a. Quantized: p = (-zp_in, -zp_alpha, zp_out, multiplier_1,
    shift_1, multiplier_2, shift_2, type min, type max)."""
    if not quantized:
        return v if v >= 0 else v * a
    x = np.int64(v) + p[0]
    if x >= 0:
        r = mbqm(x, p[3], p[4])
    else:
        r = mbqm(x * (np.int64(a) + p[1]), p[5], p[6])
    return _clamp(r + p[2], p[7], p[8])


@functools.lru_cache(maxsize=None)
def prelu_kernel(alpha_runs, quantized):
    """x, alpha, out: flat; alpha broadcast over x by a plan (dims, sx, sa). x has the output's
    shape, so it runs along every row; alpha runs along it too (alpha_runs) or repeats one value.
    Like the compare kernels: row slices and the pattern fixed at compile time, so loops vectorize.
    p: the quantized parameters (ignored for float). Only constants in the closure: numba's
    cache keys closures by their pickled cells."""
    @jit
    def prelu(x, alpha, out, dims, sx, sa, p):
        n = dims[MAX_DIMS - 1]
        rows = out.size // n if n > 0 else 0
        ix = ia = pos = 0
        for r in range(rows):
            if r > 0:
                pos, wrapped = next_row(pos, dims)
                ix = row_offset(r, dims, sx) if wrapped else ix + sx[MAX_DIMS - 2]
                ia = row_offset(r, dims, sa) if wrapped else ia + sa[MAX_DIMS - 2]
            xrow, orow = x[ix:ix + n], out[r * n:(r + 1) * n]
            if alpha_runs:
                arow = alpha[ia:ia + n]
                for k in range(n):
                    orow[k] = _prelu(quantized, xrow[k], arow[k], p)
            else:
                a = alpha[ia]
                for k in range(n):
                    orow[k] = _prelu(quantized, xrow[k], a, p)
    return prelu


def prepare_prelu(ctx):
    ctx.check_inputs(2)
    x, alpha = ctx.inputs
    out = ctx.outputs[0]
    ctx.check_dtype(x, np.float32, np.int8, np.uint8)
    ctx.check(alpha is not None and alpha.dtype == x.dtype and out.dtype == x.dtype,
              f"input, alpha and output types differ: {x.type_name}, "
              f"{alpha.type_name if alpha else 'missing'} -> {out.type_name}")
    shape = broadcast_shape(ctx, x.shape, alpha.shape)
    ctx.check(shape == x.shape, f"alpha {list(alpha.shape)} broadcast against input {list(x.shape)} "
                                f"gives {list(shape)}, not the input's shape")
    ctx.set_output(0, shape)
    dims, (sx, sa) = plan_broadcast(ctx, [x.shape, alpha.shape], shape)
    quantized = x.dtype != np.float32
    p = (np.int64(0),) * 9
    if quantized:
        ctx.check(all(t.quantization is not None for t in (x, alpha, out)),
                  "a quantized PRELU needs quantization parameters on input, alpha and output")
        ctx.check(not alpha.quantization.per_channel, "a per-channel quantized alpha is not supported")
        m1, s1 = quantize_multiplier(_float32_ratio(x.scale, out.scale))
        m2, s2 = quantize_multiplier(_float32_ratio(x.scale, alpha.scale, out.scale))
        info = np.iinfo(x.dtype)
        p = tuple(np.int64(v) for v in (-x.zero_point, -alpha.zero_point, out.zero_point, m1, s1, m2, s2,
                                        info.min, info.max))
    return prelu_kernel(sa[-1] == 1, quantized), dims, sx, sa, p


def eval_prelu(data, ins, outs, scratch):
    fn, dims, sx, sa, p = data
    fn(ins[0].reshape(-1), ins[1].reshape(-1), outs[0].reshape(-1), dims, sx, sa, p)

for _name, _op in ELEMENTWISE.items():
    register_builtin(_name, make_prepare_activation(_op), eval_activation)
register_builtin("PRELU", prepare_prelu, eval_prelu)
