"""Integer quantization arithmetic, as TFLite's reference kernels define it.

Prepare-time (Python): quantize_multiplier and friends turn a real scale into a Q31 multiplier
and a power-of-two shift. Run-time (jitted, inlined into kernels): the fixed-point primitives.
Rounding is not uniform across ops in the official build (NOTES.md): most ops round twice
(SaturatingRoundingDoublingHighMul, then RoundingDivideByPOT: `mbqm`), int8 FULLY_CONNECTED
rounds once (`mbqm_single`), 16x8 kernels scale int64 accumulators (`mbqm_int64`). Each kernel
names the one it uses and a one-op test pins it against BUILTIN_REF.
"""
import math

import numpy as np

from .common import ACT_NONE, ACT_RELU, ACT_RELU6, ACT_RELU_N1_TO_1, jit, round_half_away

INT32_MIN = -(1 << 31)
INT32_MAX = (1 << 31) - 1


# -- prepare time ------------------------------------------------------------------------------
def quantize_multiplier(real):
    """real -> (M, shift) with real ~= M * 2^(shift - 31), M in [2^30, 2^31) or 0."""
    if real == 0.0:
        return 0, 0
    q, shift = math.frexp(real)
    m = int(round_half_away(q * (1 << 31)))
    if m == (1 << 31):
        m //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    return m, shift


def quantize_multiplier_smaller_than_one(real):
    """For multipliers in (0, 1): shift <= 0 (TFLite QuantizeMultiplierSmallerThanOneExp)."""
    m, shift = quantize_multiplier(real)
    return m, shift


def quantize_multipliers(reals):
    """Per-channel version: arrays (int32 multipliers, int32 shifts)."""
    pairs = [quantize_multiplier(float(r)) for r in np.asarray(reals, np.float64).reshape(-1)]
    return (np.array([p[0] for p in pairs], np.int32), np.array([p[1] for p in pairs], np.int32))


def preprocess_softmax_scaling(beta, input_scale, integer_bits):
    """TFLite PreprocessSoftmaxScaling: multiplier/shift for beta * scale in Q(31-integer_bits)."""
    real = min(beta * input_scale * (1 << (31 - integer_bits)), (1 << 31) - 1.0)
    return quantize_multiplier_greater_than_one(real)


def quantize_multiplier_greater_than_one(real):
    m, shift = quantize_multiplier(real)
    return m, shift


def quantized_activation_bounds(act, dtype, scale, zero_point):
    """TFLite CalculateActivationRangeQuantized: the fused activation's clamp bounds in the
    output's integer domain, or None for an activation it does not clamp to. The reference divides
    in float32 (zp + round(f / scale)); a double division differs for rare scales, e.g.
    scale float32(2.4) puts RELU6's 6.0 at 2.5 -> 3, not 2.4999999 -> 2 (measured on ADD)."""
    info = np.iinfo(dtype)
    qmin, qmax = int(info.min), int(info.max)

    def q(f):
        return zero_point + int(round_half_away(float(np.float32(f) / np.float32(scale))))

    if act == ACT_NONE:
        return qmin, qmax
    if act == ACT_RELU:
        return max(qmin, q(0.0)), qmax
    if act == ACT_RELU6:
        return max(qmin, q(0.0)), min(qmax, q(6.0))
    if act == ACT_RELU_N1_TO_1:
        return max(qmin, q(-1.0)), min(qmax, q(1.0))
    return None


def checked_log2(x):
    """TFLite CheckedLog2 on a float32 scale: (is a power of two within 1e-3 in log2, rounded log2).
    Done in float32 like the reference, so borderline scales classify the same way."""
    x = np.float32(x)
    if not x > 0:
        return False, 0
    log2 = np.float32(np.log(x)) * (np.float32(1.0) / np.float32(np.log(np.float32(2.0))))
    rounded = np.float32(round_half_away(float(log2)))
    return bool(abs(log2 - rounded) < np.float32(1e-3)), int(rounded)


def calculate_input_radius(integer_bits, left_shift, total_signed_bits=31):
    """TFLite CalculateInputRadius: inputs beyond this saturate the fixed-point function."""
    max_scaled = ((1 << integer_bits) - 1) * (1 << (total_signed_bits - integer_bits)) / (1 << left_shift)
    return int(math.floor(max_scaled))


# -- run time (jitted, inlined) ----------------------------------------------------------------
@jit(inline="always")
def srdhm(a, b):
    """SaturatingRoundingDoublingHighMul on int32 values (int64 arithmetic inside)."""
    a = np.int64(a)
    b = np.int64(b)
    if a == INT32_MIN and b == INT32_MIN:
        return np.int64(INT32_MAX)
    ab = a * b
    nudge = np.int64(1 << 30) if ab >= 0 else np.int64(1 - (1 << 30))
    s = ab + nudge
    # C division truncates toward zero; numba's // floors, so correct negative results
    q = s >> 31
    if s < 0 and (s & ((1 << 31) - 1)) != 0:
        q += 1
    return q


@jit(inline="always")
def rdbpot(x, exponent):
    """RoundingDivideByPOT: x / 2^exponent, rounding halves away from zero."""
    x = np.int64(x)
    mask = (np.int64(1) << exponent) - 1
    remainder = x & mask
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


@jit(inline="always")
def wrap_int32(x):
    """x reduced to int32 like a C int32 product that overflows (two's complement wrap)."""
    return ((np.int64(x) + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


@jit(inline="always")
def mbqm(x, multiplier, shift):
    """MultiplyByQuantizedMultiplier, double rounding (the default build). The left shift is an
    int32 product there and wraps on overflow (measured: MUL with a rescale factor > 2^16)."""
    left = shift if shift > 0 else 0
    right = -shift if shift < 0 else 0
    return rdbpot(srdhm(wrap_int32(np.int64(x) * (np.int64(1) << left)), multiplier), right)


@jit(inline="always")
def mbqm_single(x, multiplier, shift):
    """MultiplyByQuantizedMultiplier, single rounding: (x * M + 2^(30 - shift)) >> (31 - shift)."""
    total = 31 - shift
    return (np.int64(x) * np.int64(multiplier) + (np.int64(1) << (total - 1))) >> total


@jit(inline="always")
def mbqm_int64(x, multiplier, shift):
    """The int64-accumulator overload used by 16x8 kernels: the multiplier is reduced to 16 bits."""
    reduced = (np.int64(multiplier) + (1 << 15)) >> 16 if multiplier < 0x7FFF0000 else np.int64(0x7FFF)
    total = 15 - shift
    return (np.int64(x) * reduced + (np.int64(1) << (total - 1))) >> total


@jit(inline="always")
def srdhm_int16(a, b):
    """SaturatingRoundingDoublingHighMul on int16 values (gemmlowp's 16-bit overload): the high
    half of 2*a*b, i.e. the Q0.15 product, rounding halves away from zero."""
    a = np.int64(a)
    b = np.int64(b)
    if a == -32768 and b == -32768:
        return np.int64(32767)
    ab = a * b
    nudge = np.int64(1 << 14) if ab >= 0 else np.int64(1 - (1 << 14))
    s = ab + nudge
    q = s >> 15         # C division truncates toward zero: correct the floor for negatives
    if s < 0 and (s & ((1 << 15) - 1)) != 0:
        q += 1
    return q


@jit(inline="always")
def clamp(x, lo, hi):
    return lo if x < lo else (hi if x > hi else x)
