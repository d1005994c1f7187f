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

from .common import ACT_NONE, ACT_RELU, ACT_RELU6, ACT_RELU_N1_TO_1, jit

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


def round_half_away(x):
    """std::round (halves away from zero) on a Python float."""
    return math.floor(x + 0.5) if x >= 0 else -math.floor(-x + 0.5)


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


# -- gemmlowp fixed point on int16 (fixedpoint.h), as the integer LSTM's tensor utils use it ----
# A raw int16 in Qm.(15-m) ("m integer bits"). gemmlowp's int16 adds and negations wrap; its
# 32-bit constants are rounded to 16 bits (RescaleConstantInitializer). TFLite's integer LSTM
# (portable_tensor_utils.cc ApplySigmoid / ApplyTanh) calls logistic and tanh on these.
def _fx16_constant(raw32):
    """gemmlowp RescaleConstantInitializer for int16: a Q31 constant rounded to Q15."""
    mask = 0xFFFF
    threshold = (mask >> 1) + (1 if raw32 < 0 else 0)
    return (raw32 >> 16) + (1 if (raw32 & mask) > threshold else 0)


_FX16_EXP_M1_8 = _fx16_constant(1895147668)       # exp(-1/8)
_FX16_ONE_THIRD = _fx16_constant(715827883)
_FX16_48_17 = _fx16_constant(1515870810)          # 48/17 in Q2.13
_FX16_NEG_32_17 = _fx16_constant(-1010580540)     # -32/17 in Q2.13
# exp(-2^k) for k = -2..4, the barrel shifter of exp_on_negative_values
_FX16_EXP_BARREL = np.array([_fx16_constant(m) for m in (1672461947, 1302514674, 790015084, 290630308,
                                                          39332535, 720401, 242)], np.int64)


@jit(inline="always")
def wrap_int16(x):
    """x reduced to int16 the way a C int16 store of an int result wraps."""
    return ((np.int64(x) + 32768) & 0xFFFF) - 32768


@jit(inline="always")
def _fx16_shift_left_saturating(x, exponent):
    """gemmlowp SaturatingRoundingMultiplyByPOT<+exponent> on int16."""
    threshold = (1 << (15 - exponent)) - 1
    if x > threshold:
        return np.int64(32767)
    if x < -threshold:
        return np.int64(-32768)
    return np.int64(x) << exponent


@jit
def _fx16_exp_quarter(a):
    """exp(a) for a in [-1/4, 0), Q0.15 in and out (Taylor series around -1/8)."""
    x = wrap_int16(a + (1 << 12))
    x2 = srdhm_int16(x, x)
    x3 = srdhm_int16(x2, x)
    x4 = srdhm_int16(x2, x2)
    t = srdhm_int16(wrap_int16(rdbpot(x4, 2) + x3), _FX16_ONE_THIRD)
    t = rdbpot(wrap_int16(t + x2), 1)
    c = np.int64(_FX16_EXP_M1_8)
    return clamp(c + srdhm_int16(c, wrap_int16(x + t)), -32768, 32767)


@jit
def _fx16_exp_negative(a, integer_bits):
    """gemmlowp exp_on_negative_values: exp(a) for a <= 0 in Q(integer_bits), result Q0.15."""
    frac = 15 - integer_bits
    quarter = np.int64(1) << (frac - 2)
    a_mod = wrap_int16((a & (quarter - 1)) - quarter)
    result = _fx16_exp_quarter(_fx16_shift_left_saturating(a_mod, integer_bits))
    remainder = wrap_int16(a_mod - a)
    for k in range(7):
        exponent = k - 2
        if integer_bits > exponent and (remainder & (np.int64(1) << (frac + exponent))) != 0:
            result = srdhm_int16(result, _FX16_EXP_BARREL[k])
    if integer_bits > 5:
        if a < rdbpot(-(np.int64(1) << (36 - integer_bits)), 16):
            result = np.int64(0)
    if a == 0:
        result = np.int64(32767)
    return result


@jit
def _fx16_newton_reciprocal(a):
    """x ~ 1 / ((a + 1) / 2) in Q2.13 for a in Q0.15 (0, 1): gemmlowp's three Newton-Raphson steps."""
    s = np.int64(a) + 32767
    s = s + 1 if s >= 0 else s - 1
    half_denominator = s // 2 if s >= 0 else -((-s) // 2)    # C division truncates
    x = wrap_int16(_FX16_48_17 + srdhm_int16(half_denominator, _FX16_NEG_32_17))
    for _ in range(3):
        error = wrap_int16((1 << 13) - srdhm_int16(half_denominator, x))
        x = wrap_int16(x + _fx16_shift_left_saturating(srdhm_int16(x, error), 2))
    return x


@jit
def fx16_logistic(a, integer_bits):
    """gemmlowp logistic: raw int16 Q(integer_bits) -> Q0.15 (1/(1 + exp(-a)))."""
    positive = a > 0
    magnitude = np.int64(a) if positive else wrap_int16(-np.int64(a))
    e = _fx16_exp_negative(wrap_int16(-magnitude), integer_bits)
    # 1 / (1 + e) = reciprocal / 2, rescaled from Q1.14 to Q0.15
    result = _fx16_shift_left_saturating(_fx16_newton_reciprocal(e), 1)
    if a == 0:
        return np.int64(16384)
    return result if positive else wrap_int16(32767 - result)


@jit
def fx16_tanh(a, integer_bits):
    """gemmlowp tanh: raw int16 Q(integer_bits) -> Q0.15, as (1 - exp(-2|a|)) / (1 + exp(-2|a|))."""
    negative = a < 0
    n = np.int64(a) if negative else wrap_int16(-np.int64(a))
    # exp(2n): the same raw value read with one more integer bit
    e = _fx16_exp_negative(n, integer_bits + 1)
    t = _fx16_shift_left_saturating(wrap_int16(_fx16_newton_reciprocal(e) - (1 << 13)), 2)
    if a == 0:
        return np.int64(0)
    return wrap_int16(-t) if negative else t


@jit(inline="always")
def _shift_left_saturating_int32(x, exponent):
    threshold = (np.int64(1) << (31 - exponent)) - 1
    if x > threshold:
        return np.int64(INT32_MAX)
    if x < -threshold:
        return np.int64(INT32_MIN)
    return np.int64(x) << exponent


@jit
def inv_sqrt_multiplier(x):
    """TFLite GetInvSqrtQuantizedMultiplierExp(x, reverse_shift=-1): (multiplier, shift) with
    1/sqrt(x) ~ multiplier * 2^(shift - 31), for mbqm. Newton-Raphson in gemmlowp Q3.28."""
    if x <= 1:
        return np.int64(INT32_MAX), np.int64(0)
    x = np.int64(x)
    shift = np.int64(11)
    while x >= (1 << 29):
        x //= 4
        shift += 1
    leading_zeros = 0
    while (x << leading_zeros) < (np.int64(1) << 31):
        leading_zeros += 1
    pairs = (leading_zeros - 1) // 2 - 1
    shift -= pairs
    x <<= 2 * pairs
    half_x = rdbpot(x >> 1, 1)
    half_three = np.int64((1 << 28) + (1 << 27))
    y = np.int64(1 << 28)
    for _ in range(5):
        y3 = _shift_left_saturating_int32(srdhm(srdhm(y, y), y), 6)
        y = _shift_left_saturating_int32(wrap_int32(srdhm(half_three, y) - srdhm(half_x, y3)), 3)
    y = srdhm(y, 1518500250)      # * sqrt(2) / 2
    if shift < 0:
        y = wrap_int32(y << -shift)
        shift = np.int64(0)
    return y, -shift


_FX16_TABLES = {}


def fx16_table(function, integer_bits):
    """fx16_logistic or fx16_tanh ("logistic" / "tanh") of every int16 input, read-only, indexed
    by raw + 32768: a lookup is much cheaper than the fixed-point evaluation. Built once per
    process and shared."""
    key = (function, integer_bits)
    if key not in _FX16_TABLES:
        table = np.empty(65536, np.int16)
        _fill_fx16_table(table, function == "tanh", integer_bits)
        table.flags.writeable = False
        _FX16_TABLES[key] = table
    return _FX16_TABLES[key]


@jit
def _fill_fx16_table(table, is_tanh, integer_bits):
    for i in range(65536):
        v = np.int64(i - 32768)
        table[i] = fx16_tanh(v, integer_bits) if is_tanh else fx16_logistic(v, integer_bits)
