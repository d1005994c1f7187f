"""gemmlowp-style fixed-point math, as TFLite's integer kernels use it (gemmlowp
fixedpoint/fixedpoint.h and the helpers in tflite/kernels/internal/common.h).

A fixed-point value is an int32 "raw" integer with a number of integer bits k: it stands for
raw / 2^(31 - k) ("Qk.(31-k)"). Every function here takes and returns raw values held in int64
(numba arithmetic) but always within the int32 range, exactly as the C++ computes them; the
integer-bit counts are plain arguments (compile-time constants in C++, small ints here). All
run-time functions are numba-inlined into kernels: no allocation, no raise.

Also here: C int16 arithmetic (wrap, saturate, RoundingDivideByPOT), the int16 interpolated
table lookup and TFLite's sigmoid table (int16 LOGISTIC/TANH); and, at the end, the prepare-time
builders of LUTPopulate's tables (8-bit LOGISTIC, TANH, GELU; int16 SOFTMAX), computed with the C
library's float functions so that they match the official tables bit for bit.
"""
import ctypes
import ctypes.util
import math

import numpy as np

from .common import jit, round_half_away
from .qmath import INT32_MAX, INT32_MIN, clamp, rdbpot, srdhm, srdhm_int16, wrap_int32


# -- primitives ---------------------------------------------------------------------------------

@jit(inline="always")
def saturating_left_shift(x, exponent):
    """x * 2^exponent (exponent >= 0), saturating to the int32 range (gemmlowp
    SaturatingRoundingMultiplyByPOT with a positive exponent)."""
    if exponent == 0:
        return np.int64(x)
    threshold = (np.int64(1) << (31 - exponent)) - 1
    if x > threshold:
        return np.int64(INT32_MAX)
    if x < -threshold:
        return np.int64(INT32_MIN)
    return np.int64(x) << exponent


@jit(inline="always")
def multiply_by_pot(x, exponent):
    """SaturatingRoundingMultiplyByPOT: a saturating left shift for exponent > 0, a rounding
    right shift (halves away from zero) for exponent < 0."""
    if exponent >= 0:
        return saturating_left_shift(x, exponent)
    return rdbpot(x, -exponent)


@jit(inline="always")
def rescale(x, src_bits, dst_bits):
    """gemmlowp Rescale: the same real value with dst_bits integer bits instead of src_bits."""
    return multiply_by_pot(x, src_bits - dst_bits)


@jit(inline="always")
def saturating_add(a, b):
    s = np.int64(a) + np.int64(b)
    return np.int64(INT32_MAX) if s > INT32_MAX else (np.int64(INT32_MIN) if s < INT32_MIN else s)


@jit(inline="always")
def saturating_sub(a, b):
    return saturating_add(a, -np.int64(b))


@jit(inline="always")
def rounding_half_sum(a, b):
    """(a + b) / 2 rounded half away from zero (C division truncates, hence the sign term)."""
    s = np.int64(a) + np.int64(b)
    t = s + 1 if s >= 0 else s - 1
    q = abs(t) >> 1
    return q if t >= 0 else -q


@jit(inline="always")
def count_leading_zeros32(x):
    """Leading zero bits of x taken as uint32 (32 for 0)."""
    u = np.int64(x) & 0xFFFFFFFF
    n = 0
    if u == 0:
        return 32
    while u < (np.int64(1) << 31):
        u <<= 1
        n += 1
    return n


@jit(inline="always")
def wrap_int16(x):
    """x reduced to int16 like a C narrowing conversion (two's complement wrap)."""
    return ((np.int64(x) + 32768) & 0xFFFF) - 32768


@jit(inline="always")
def saturate_int16(x):
    return np.int64(32767) if x > 32767 else (np.int64(-32768) if x < -32768 else np.int64(x))


@jit(inline="always")
def rdbpot_int16(x, exponent):
    """gemmlowp RoundingDivideByPOT on an int16: its mask is an int16 too (2^exponent - 1
    wrapped), which matters only for exponents of 16 and more."""
    x = np.int64(x)
    mask = wrap_int16((np.int64(1) << exponent) - 1)
    remainder = wrap_int16(x & mask)
    threshold = (mask >> 1) + (1 if x < 0 else 0)
    return (x >> exponent) + (1 if remainder > threshold else 0)


# -- exp, 1/(1+x), tanh, logistic ---------------------------------------------------------------

@jit(inline="always")
def exp_on_interval_between_negative_one_quarter_and_0_excl(a):
    """exp(a) for a in [-1/4, 0), Q0.31 in and out: Taylor series around -1/8."""
    constant_term = np.int64(1895147668)            # exp(-1/8)
    constant_1_over_3 = np.int64(715827883)
    x = np.int64(a) + (np.int64(1) << 28)           # a + 1/8
    x2 = srdhm(x, x)
    x3 = srdhm(x2, x)
    x4 = srdhm(x2, x2)
    x4_over_4 = rdbpot(x4, 2)
    poly = rdbpot(srdhm(x4_over_4 + x3, constant_1_over_3) + x2, 1)
    return wrap_int32(constant_term + srdhm(constant_term, x + poly))


@jit(inline="always")
def exp_on_negative_values(a, integer_bits):
    """exp(a) for a <= 0 given with integer_bits integer bits; result in Q0.31."""
    a = np.int64(a)
    fractional_bits = 31 - integer_bits
    one_quarter = np.int64(1) << (fractional_bits - 2)
    a_mod_quarter_minus_one_quarter = (a & (one_quarter - 1)) - one_quarter
    result = exp_on_interval_between_negative_one_quarter_and_0_excl(
        rescale(a_mod_quarter_minus_one_quarter, integer_bits, 0))
    remainder = a_mod_quarter_minus_one_quarter - a
    # each set bit of the remainder (a multiple of 1/4) multiplies in exp(-2^e), e = -2 .. 4
    if integer_bits > -2 and remainder & (np.int64(1) << (fractional_bits - 2)):
        result = srdhm(result, 1672461947)
    if integer_bits > -1 and remainder & (np.int64(1) << (fractional_bits - 1)):
        result = srdhm(result, 1302514674)
    if integer_bits > 0 and remainder & (np.int64(1) << fractional_bits):
        result = srdhm(result, 790015084)
    if integer_bits > 1 and remainder & (np.int64(1) << (fractional_bits + 1)):
        result = srdhm(result, 290630308)
    if integer_bits > 2 and remainder & (np.int64(1) << (fractional_bits + 2)):
        result = srdhm(result, 39332535)
    if integer_bits > 3 and remainder & (np.int64(1) << (fractional_bits + 3)):
        result = srdhm(result, 720401)
    if integer_bits > 4 and remainder & (np.int64(1) << (fractional_bits + 4)):
        result = srdhm(result, 242)
    if integer_bits > 5 and a < -(np.int64(1) << (36 - integer_bits)):    # below -32: 0
        result = np.int64(0)
    if a == 0:
        result = np.int64(INT32_MAX)
    return result


@jit(inline="always")
def _newton_reciprocal_q2(half_denominator):
    """1 / half_denominator in Q2.29 by Newton-Raphson, half_denominator in [1/2, 1) as Q0.31."""
    x = np.int64(1515870810) + srdhm(half_denominator, -1010580540)   # 48/17 - 32/17 d
    one_q2 = np.int64(1) << 29
    for _ in range(3):
        one_minus_dx = one_q2 - srdhm(half_denominator, x)
        x = wrap_int32(x + saturating_left_shift(srdhm(x, one_minus_dx), 2))
    return x


@jit(inline="always")
def one_over_one_plus_x_for_x_in_0_1(a):
    """1 / (1 + a) for a in [0, 1), Q0.31 in and out."""
    x = _newton_reciprocal_q2(rounding_half_sum(a, INT32_MAX))
    return saturating_left_shift(x, 1)          # (x / 2) from Q1 to Q0


@jit(inline="always")
def one_minus_x_over_one_plus_x_for_x_in_0_1(a):
    """(1 - a) / (1 + a) for a in [0, 1), Q0.31 in and out."""
    x = _newton_reciprocal_q2(rounding_half_sum(a, INT32_MAX))
    return saturating_left_shift(x - (np.int64(1) << 29), 2)


@jit(inline="always")
def tanh(a, integer_bits):
    """tanh(a) in Q0.31, a with integer_bits integer bits."""
    a = np.int64(a)
    if a == 0:
        return np.int64(0)
    n = a if a < 0 else -a
    # -tanh(n) for n < 0 = (1 - exp(2n)) / (1 + exp(2n)); 2n: the same raw with one more bit
    t = one_minus_x_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(n, integer_bits + 1))
    return wrap_int32(-t) if a < 0 else t


@jit(inline="always")
def logistic(a, integer_bits):
    """1 / (1 + exp(-a)) in Q0.31, a with integer_bits integer bits."""
    a = np.int64(a)
    if a == 0:
        return np.int64(1 << 30)
    abs_a = a if a > 0 else wrap_int32(-a)
    positive = one_over_one_plus_x_for_x_in_0_1(exp_on_negative_values(wrap_int32(-abs_a), integer_bits))
    return positive if a > 0 else INT32_MAX - positive


# -- log and reciprocal (softmax, log-softmax) ---------------------------------------------------

@jit(inline="always")
def get_reciprocal(x, x_integer_bits):
    """TFLite GetReciprocal: (1 / x scaled into Q0.31, num_bits_over_unit) for x > 0 with
    x_integer_bits integer bits: 1/x = raw / 2^31 / 2^num_bits_over_unit."""
    headroom_plus_one = count_leading_zeros32(x)
    num_bits_over_unit = x_integer_bits - headroom_plus_one
    shifted = ((np.int64(x) & 0xFFFFFFFF) << headroom_plus_one) & 0xFFFFFFFF
    shifted_sum_minus_one = wrap_int32(shifted - (np.int64(1) << 31))
    return one_over_one_plus_x_for_x_in_0_1(shifted_sum_minus_one), num_bits_over_unit


@jit(inline="always")
def log_x_for_x_greater_than_or_equal_to_1(x, output_bits, input_bits):
    """log(x) for x >= 1 (TFLite log_x_for_x_greater_than_or_equal_to_1_impl): x with input_bits
    integer bits, result with output_bits. Splits x = 2^z r, r in [sqrt(1/2), sqrt(2)), and uses a
    rational approximation of log(r)."""
    accum_bits = output_bits + 1
    log_2 = np.int64(1488522236)
    sqrt_sqrt_half = np.int64(1805811301)
    sqrt_half = np.int64(1518500250)
    one_quarter = np.int64(536870912)
    alpha_n = np.int64(117049297)
    alpha_d = np.int64(127690142)
    alpha_i = np.int64(1057819769)
    alpha_f = np.int64(638450708)
    shifted_quarter = rescale(one_quarter, 0, accum_bits)

    z_a = np.int64(x)
    z_a_headroom_plus_1 = count_leading_zeros32(z_a)
    r_a_tmp = saturating_left_shift(z_a, z_a_headroom_plus_1 - 1)
    r_a = saturating_left_shift(srdhm(r_a_tmp, sqrt_half), 1)
    z_a_pow_2_adj = saturating_add(
        saturating_left_shift(np.int64(input_bits - z_a_headroom_plus_1), 31 - accum_bits), shifted_quarter)

    z_b = srdhm(z_a, sqrt_half)
    z_b_headroom = count_leading_zeros32(z_b) - 1
    r_b = saturating_left_shift(z_a, z_b_headroom)
    z_b_pow_2_adj = saturating_sub(
        saturating_left_shift(np.int64(input_bits - z_b_headroom), 31 - accum_bits), shifted_quarter)

    r = min(r_a, r_b)
    z_pow_2_adj = max(z_a_pow_2_adj, z_b_pow_2_adj)

    p = rounding_half_sum(r, sqrt_sqrt_half)
    q = wrap_int32(r - sqrt_sqrt_half)
    q = wrap_int32(q + q)
    common_sq = srdhm(q, q)
    num = wrap_int32(srdhm(q, r) + srdhm(srdhm(q, common_sq), alpha_n))
    denom_minus_one = wrap_int32(srdhm(p, wrap_int32(alpha_i + q + srdhm(alpha_d, common_sq)))
                                 + srdhm(alpha_f, q))
    recip_denom = one_over_one_plus_x_for_x_in_0_1(denom_minus_one)
    num_scaled = rescale(num, 0, accum_bits)
    total = wrap_int32(srdhm(z_pow_2_adj, log_2) + srdhm(num_scaled, recip_denom))
    return rescale(total, accum_bits, output_bits)


# -- int16 lookup tables ---------------------------------------------------------------------

@jit(inline="always")
def lut_lookup_int16(value, lut):
    """TFLite LUTLookup for int16: lut has 513 entries over [-32768, 32767], the top 9 bits of
    value index it and the low 7 interpolate (rounding), in C int16 arithmetic."""
    v = np.int64(value)
    index = 256 + (v >> 7)
    offset = v & 0x7F
    base = np.int64(lut[index])
    slope = np.int64(lut[index + 1]) - base
    slope = ((slope + 32768) & 0xFFFF) - 32768          # stored in an int16
    delta = (slope * offset + 64) >> 7
    return ((base + delta + 32768) & 0xFFFF) - 32768


# sigmoid(i / 24) in 0.16 fixed point, i = 0 .. 255 (TFLite's sigmoid_table_uint16, shared by
# the int16 LOGISTIC and TANH kernels; tanh(x) = 2 sigmoid(2x) - 1). Values as TFLite stores them.
SIGMOID_TABLE_UINT16 = np.array([
    32768, 33451, 34133, 34813, 35493, 36169, 36843, 37513, 38180, 38841, 39498, 40149, 40794,
    41432, 42064, 42688, 43304, 43912, 44511, 45102, 45683, 46255, 46817, 47369, 47911, 48443,
    48964, 49475, 49975, 50464, 50942, 51409, 51865, 52311, 52745, 53169, 53581, 53983, 54374,
    54755, 55125, 55485, 55834, 56174, 56503, 56823, 57133, 57433, 57724, 58007, 58280, 58544,
    58800, 59048, 59288, 59519, 59743, 59959, 60168, 60370, 60565, 60753, 60935, 61110, 61279,
    61441, 61599, 61750, 61896, 62036, 62172, 62302, 62428, 62549, 62666, 62778, 62886, 62990,
    63090, 63186, 63279, 63368, 63454, 63536, 63615, 63691, 63765, 63835, 63903, 63968, 64030,
    64090, 64148, 64204, 64257, 64308, 64357, 64405, 64450, 64494, 64536, 64576, 64614, 64652,
    64687, 64721, 64754, 64786, 64816, 64845, 64873, 64900, 64926, 64950, 64974, 64997, 65019,
    65039, 65060, 65079, 65097, 65115, 65132, 65149, 65164, 65179, 65194, 65208, 65221, 65234,
    65246, 65258, 65269, 65280, 65291, 65301, 65310, 65319, 65328, 65337, 65345, 65352, 65360,
    65367, 65374, 65381, 65387, 65393, 65399, 65404, 65410, 65415, 65420, 65425, 65429, 65433,
    65438, 65442, 65445, 65449, 65453, 65456, 65459, 65462, 65465, 65468, 65471, 65474, 65476,
    65479, 65481, 65483, 65485, 65488, 65489, 65491, 65493, 65495, 65497, 65498, 65500, 65501,
    65503, 65504, 65505, 65507, 65508, 65509, 65510, 65511, 65512, 65513, 65514, 65515, 65516,
    65517, 65517, 65518, 65519, 65520, 65520, 65521, 65522, 65522, 65523, 65523, 65524, 65524,
    65525, 65525, 65526, 65526, 65526, 65527, 65527, 65528, 65528, 65528, 65529, 65529, 65529,
    65529, 65530, 65530, 65530, 65530, 65531, 65531, 65531, 65531, 65531, 65532, 65532, 65532,
    65532, 65532, 65532, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65533, 65534, 65534,
    65534, 65534, 65534, 65534, 65534, 65534, 65534, 65534, 65535], np.int64)


# -- prepare time: float lookup tables -------------------------------------------------------

def _libm_float(name, fallback):
    """The C library's float function (expf, tanhf, erfcf): the official tables are built with
    it, and numpy's own float32 routines differ from it in the last bit for some inputs."""
    try:
        lib = ctypes.CDLL(ctypes.util.find_library("m") or "libm.so.6")
        fn = getattr(lib, name)
        fn.restype, fn.argtypes = ctypes.c_float, [ctypes.c_float]
        return lambda v: np.float32(fn(float(v)))
    except (OSError, AttributeError):
        return lambda v: np.float32(fallback(np.float32(v)))


expf = _libm_float("expf", np.exp)
tanhf = _libm_float("tanhf", np.tanh)
erfcf = _libm_float("erfcf", lambda v: np.float32(math.erfc(float(v))))


def lut_populate_8bit(transform, input_scale, input_zero_point, output_scale, output_zero_point,
                      dtype):
    """TFLite LUTPopulate for int8/uint8 (in float32 like the C++): table[i] is the output for
    the input whose bits, read as uint8, are i (so eval indexes with the raw byte)."""
    info = np.iinfo(dtype)
    f32 = np.float32
    inverse_scale = f32(1.0) / f32(output_scale)
    table = np.empty(256, dtype)
    for val in range(info.min, info.max + 1):
        dequantized = f32(input_scale) * f32(val - input_zero_point)
        rescaled = round_half_away(float(f32(transform(dequantized)) * inverse_scale))
        quantized = int(f32(rescaled) + f32(output_zero_point))
        table[val & 0xFF] = min(max(quantized, info.min), info.max)
    return table


def lut_populate_int16(transform, input_scale, input_zero_point, output_scale, output_zero_point):
    """TFLite LUTPopulate for int16 in double precision (the variant the int16 SOFTMAX uses):
    513 samples over the input range, each nudged by half the interpolation error at the
    midpoint of its segment."""
    input_min = input_scale * (-32768 - input_zero_point)
    input_max = input_scale * (32767 - input_zero_point)
    output_min = output_scale * (-32768 - output_zero_point)
    output_max = output_scale * (32767 - output_zero_point)
    steps = 512
    step = (input_max - input_min) / steps
    half_step = step / 2
    inv = 65536.0 / (output_max - output_min)
    lut = np.empty(steps + 1, np.int16)
    for i in range(steps):
        val = transform(input_min + i * step)
        val_mid = transform(input_min + i * step + half_step)
        val_next = transform(input_min + (i + 1) * step)
        sample = round_half_away(val * inv)
        interp = round_half_away((val_next * inv + round_half_away(val * inv)) / 2)
        mid = round_half_away(val_mid * inv)
        bias = round_half_away((interp - mid) / 2)
        lut[i] = min(max(sample - bias, -32768), 32767)
    lut[steps] = min(max(round_half_away(transform(input_max) * inv), -32768), 32767)
    return lut


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
        y3 = saturating_left_shift(srdhm(srdhm(y, y), y), 6)
        y = saturating_left_shift(wrap_int32(srdhm(half_three, y) - srdhm(half_x, y3)), 3)
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
