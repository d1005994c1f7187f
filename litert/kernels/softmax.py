"""SOFTMAX (SoftmaxOptions beta) and LOG_SOFTMAX over the last axis, any rank >= 1.

float32, as the reference kernels (reference/softmax.h, log_softmax.h):
  softmax     e = exp((x - max) * beta); out = e / sum(e)
  log_softmax out = (x - max) - log(sum(exp(x - max)))
A row holding +inf gives NaN everywhere, as in TFLite. A missing SoftmaxOptions means beta = 0
(the schema default), i.e. a uniform output, which is what the official interpreter produces.

Quantized, as the official BUILTIN_REF kernels (pinned by tests/test_softmax_int8.py):
  SOFTMAX int8/uint8 -> int8/uint8/int16 (reference_ops::Softmax): the difference from the row's
      maximum scaled by beta * s_in into Q5.26 (PreprocessSoftmaxScaling; differences below
      -CalculateInputRadius are dropped), gemmlowp's fixed-point exp, the sum in Q12.19, its
      reciprocal, and each exp times the reciprocal rounded to the output: prob * 2^bits + the
      type's minimum (int8: scale 1/256, zp -128; int16: 1/65536, -32768). The reference
      aborts on int8 rows whose exponentials sum past ~2^9 (over ~520 equal classes); here the
      same rounding simply continues (every output is then the minimum or close to it).
  SOFTMAX int16 -> int16 (reference_ops::SoftmaxInt16): exp and 1 / (1 + x) by interpolated
      513-entry tables (LUTPopulate in double), zero points 0, output scale 1/32768, rank <= 4.
  LOG_SOFTMAX int8/uint8 (reference_integer_ops::LogSoftmax): beta 1, as above up to the sum,
      then its fixed-point log subtracted; output scale 16/256, zero point the type's maximum.
"""
import math

import numpy as np

from ..registry import register_builtin
from .common import jit
from .fixedpoint import (count_leading_zeros32, exp_on_negative_values, get_reciprocal,
                         log_x_for_x_greater_than_or_equal_to_1, lut_lookup_int16, lut_populate_int16)
from .qmath import INT32_MIN, calculate_input_radius, mbqm, quantize_multiplier, rdbpot, srdhm, wrap_int32


@jit
def softmax_float(x, out, beta):
    """x, out: [rows, depth]."""
    rows, depth = x.shape
    for r in range(rows):
        row, orow = x[r], out[r]
        top = np.float32(-np.inf)
        for c in range(depth):
            top = row[c] if row[c] > top else top
        total = np.float32(0.0)
        for c in range(depth):
            e = math.exp((row[c] - top) * beta)
            orow[c] = e
            total += e
        for c in range(depth):
            orow[c] = orow[c] / total


@jit
def log_softmax_float(x, out):
    rows, depth = x.shape
    for r in range(rows):
        row, orow = x[r], out[r]
        top = np.float32(-np.inf)
        for c in range(depth):
            top = row[c] if row[c] > top else top
        total = np.float32(0.0)
        for c in range(depth):
            total += math.exp(row[c] - top)
        log_total = math.log(total)
        for c in range(depth):
            orow[c] = (row[c] - top) - log_total


# -- quantized --------------------------------------------------------------------------------
# 8-bit inputs: a row's differences from its maximum are in [-255, 0], so prepare tabulates per
# difference d (index -d) the rescaled difference and its exponential; eval sums and scales.

SCALED_DIFF_BITS = 5        # exp() inputs are Q5.26: differences below -32 (after beta) vanish
ACCUMULATION_BITS = 12      # the sum of exponentials is Q12.19


@jit
def softmax_8bit(x, out, exp_table, out_bits, out_min, out_max):
    """reference_ops::Softmax for int8/uint8 inputs. exp_table[-d]: exp of the rescaled difference
    d in Q0.31, 0 where d is below diff_min (such outputs become out_min either way). The output
    is prob * 2^out_bits + out_min: out_bits 8 for 8-bit outputs, 16 for int16."""
    rows, depth = x.shape
    for r in range(rows):
        row, orow = x[r], out[r]
        top = np.int64(row[0]) if depth > 0 else np.int64(0)
        for c in range(depth):
            top = max(top, np.int64(row[c]))
        total = np.int64(0)
        for c in range(depth):
            total = wrap_int32(total + rdbpot(exp_table[top - row[c]], ACCUMULATION_BITS))
        reciprocal, bits_over_unit = get_reciprocal(total, ACCUMULATION_BITS)
        # past 31 (an int8 output and exponentials summing to over ~2^9) the reference aborts;
        # the 64-bit shift here gives what its rounding would
        exponent = bits_over_unit + 31 - out_bits
        for c in range(depth):
            v = rdbpot(srdhm(reciprocal, exp_table[top - row[c]]), exponent) + out_min
            orow[c] = min(max(v, out_min), out_max)


@jit
def softmax_tables(multiplier, left_shift, diff_min, diffs, exps, exp_shift):
    """For every 8-bit difference d = -i: diffs[i] = d * beta * scale in Q5.26
    (MultiplyByQuantizedMultiplierGreaterThanOne) and exps[i] = its exp in Q0.31 shifted right
    by exp_shift (rounding), 0 below diff_min."""
    for i in range(diffs.size):
        d = -i
        scaled = mbqm(d, multiplier, left_shift)
        diffs[i] = scaled
        exps[i] = rdbpot(exp_on_negative_values(scaled, SCALED_DIFF_BITS), exp_shift) if d >= diff_min else 0


@jit
def log_softmax_8bit(x, out, diff_table, exp_table, reverse_multiplier, reverse_shift, diff_min,
                     out_min, out_max):
    """reference LogSoftmax for int8/uint8: out = (d - log(sum exp)) in Q4 (scale 16/256) +
    out_max. diff_table[-d]: d rescaled to Q5.26; exp_table[-d]: its exp rescaled to Q12 (0 where
    d < diff_min)."""
    rows, depth = x.shape
    for r in range(rows):
        row, orow = x[r], out[r]
        top = np.int64(row[0]) if depth > 0 else np.int64(0)
        for c in range(depth):
            top = max(top, np.int64(row[c]))
        total = np.int64(0)
        for c in range(depth):
            total = wrap_int32(total + exp_table[top - row[c]])
        log_total = log_x_for_x_greater_than_or_equal_to_1(total, SCALED_DIFF_BITS, ACCUMULATION_BITS)
        # differences whose result would fall below the Q5.26 range give out_min
        adjusted_diff_min = max(diff_min - 1, mbqm(log_total + INT32_MIN, reverse_multiplier, reverse_shift))
        for c in range(depth):
            d = np.int64(row[c]) - top
            if d > adjusted_diff_min:
                v = rdbpot(wrap_int32(diff_table[-d] - log_total), 31 - SCALED_DIFF_BITS - 4) + out_max
                orow[c] = min(max(v, out_min), out_max)
            else:
                orow[c] = out_min


@jit
def softmax_int16(x, out, multiplier, shift, exp_lut, reciprocal_lut):
    """reference_ops::SoftmaxInt16: exp and 1 / (1 + x) from 513-entry interpolated tables; the
    row's exponentials are kept in the output row meanwhile."""
    rows, depth = x.shape
    for r in range(rows):
        row, orow = x[r], out[r]
        top = np.int64(-32768)
        for c in range(depth):
            top = max(top, np.int64(row[c]))
        total = np.int64(0)
        for c in range(depth):
            # the difference scaled so that [-65535, 0] is [-10, 0], recentred on the table
            scaled = mbqm(np.int64(row[c]) - top, multiplier, shift) + 32767
            e = lut_lookup_int16(min(max(scaled, -32768), 32767), exp_lut)
            orow[c] = e
            total = wrap_int32(total + e)
        headroom_plus_one = count_leading_zeros32(total)
        shifted_sum = ((total << (headroom_plus_one - 1)) + (1 << 13)) >> 14
        shifted_sum = min(max(shifted_sum - (1 << 15) - (1 << 16), -32768), 32767)
        reciprocal = lut_lookup_int16(shifted_sum, reciprocal_lut)
        right_shift = 31 - headroom_plus_one
        for c in range(depth):
            v = (np.int64(orow[c]) * reciprocal + (np.int64(1) << (right_shift - 1))) >> right_shift
            orow[c] = min(max(wrap_int32(v), 0), 32767)


def _prepare_rows(ctx):
    ctx.check_inputs(1)
    x, out = ctx.inputs[0], ctx.outputs[0]
    ctx.check(x is not None, "a required input is missing")
    ctx.check(x.rank >= 1, "needs an input of rank 1 or more")
    ctx.set_output(0, x.shape)
    depth = x.shape[-1]
    rows = int(np.prod(x.shape[:-1], dtype=np.int64))
    return x, out, (rows, depth)


def _check_quantized(ctx, x, out):
    ctx.check(x.quantization is not None and out.quantization is not None,
              "a quantized input and output need quantization parameters")


def _near(value, target):
    """TF_LITE_ENSURE_NEAR on a float scale: within 0.1% of the target, in float32."""
    return abs(np.float32(value) - np.float32(target)) <= np.float32(0.001) * np.float32(target)


def _input_scaling(ctx, beta, input_scale):
    """PreprocessSoftmaxScaling for Q5.26 differences: (multiplier, left_shift, diff_min). The
    official CHECK aborts when beta * scale * 2^26 is not above 1; that is an error here."""
    real = min(beta * input_scale * (1 << (31 - SCALED_DIFF_BITS)), (1 << 31) - 1.0)
    ctx.check(real > 1.0, f"beta {beta} times input scale {input_scale} is too small for the "
                          "quantized kernel (beta * scale * 2^26 must exceed 1)")
    multiplier, left_shift = quantize_multiplier(real)
    return multiplier, left_shift, -calculate_input_radius(SCALED_DIFF_BITS, left_shift)


def prepare_softmax(ctx):
    x, out, shape = _prepare_rows(ctx)
    beta = float(getattr(ctx.options, "beta", 0.0) or 0.0)
    if x.dtype == np.float32:
        ctx.check(out.dtype == x.dtype, f"input and output types differ: {x.type_name} -> {out.type_name}")
        return softmax_float, shape, (np.float32(beta),)
    ctx.check_dtype(x, np.int8, np.uint8, np.int16, np.float32)
    _check_quantized(ctx, x, out)
    if x.dtype == np.int16:
        ctx.check(out.dtype == np.int16, f"an int16 input needs an int16 output, got {out.type_name}")
        ctx.check(x.zero_point == 0 and out.zero_point == 0, "int16 needs zero points 0")
        ctx.check(_near(out.scale, 1 / 32768), f"an int16 output needs the scale 1/32768, got {out.scale}")
        ctx.check(x.rank <= 4, f"int16 takes ranks 1 to 4, got {x.rank}")
        return softmax_int16, shape, _int16_params(ctx, x.scale, beta)
    ctx.check(out.dtype in (x.dtype, np.int16),
              f"a {x.type_name} input needs a {x.type_name} or int16 output, got {out.type_name}")
    if x.dtype == np.int8 and out.dtype == np.int8:
        ctx.check(out.zero_point == -128 and _near(out.scale, 1 / 256),
                  f"an int8 output needs scale 1/256 and zero point -128, got {out.scale}, {out.zero_point}")
    multiplier, left_shift, diff_min = _input_scaling(ctx, beta, x.scale)
    diffs, exps = np.empty(256, np.int32), np.empty(256, np.int32)
    softmax_tables(multiplier, left_shift, diff_min, diffs, exps, 0)
    info = np.iinfo(out.dtype)
    return softmax_8bit, shape, (ctx.persistent(exps), np.int64(info.bits), np.int64(info.min),
                                 np.int64(info.max))


def _int16_params(ctx, input_scale, beta):
    """SoftmaxPrepare for int16: the difference scaled so that 65535 steps are 10.0 (the input
    scale times beta in float32, as the C++), and the two tables."""
    multiplier, shift = quantize_multiplier(float(np.float32(input_scale) * np.float32(beta)) / (10.0 / 65535.0))
    exp_lut = lut_populate_int16(math.exp, 10.0 / 65535, 32767, 2.0 / 65535, 0)
    reciprocal_lut = lut_populate_int16(lambda v: 1.0 / (1.0 + v), 1.0 / 65535, -32768, 2.0 / 65535, 0)
    return (np.int64(multiplier), np.int64(shift), ctx.persistent(exp_lut), ctx.persistent(reciprocal_lut))


def prepare_log_softmax(ctx):
    x, out, shape = _prepare_rows(ctx)
    ctx.check(out.dtype == x.dtype, f"input and output types differ: {x.type_name} -> {out.type_name}")
    if x.dtype == np.float32:
        return log_softmax_float, shape, ()
    ctx.check_dtype(x, np.int8, np.uint8, np.float32)
    _check_quantized(ctx, x, out)
    info = np.iinfo(x.dtype)
    ctx.check(np.float32(out.scale) == np.float32(16 / 256) and out.zero_point == info.max,
              f"a quantized LOG_SOFTMAX output needs scale 16/256 and zero point {info.max}, "
              f"got {out.scale}, {out.zero_point}")
    multiplier, left_shift, diff_min = _input_scaling(ctx, 1.0, x.scale)
    # PreprocessLogSoftmaxScalingExp: the inverse of the input scaling, below 1
    reverse = (1 << (31 - left_shift)) / multiplier
    ctx.check(reverse < 1.0, f"input scale {x.scale} is not supported (reverse scaling {reverse})")
    reverse_multiplier, reverse_shift = quantize_multiplier(reverse)
    diffs, exps = np.empty(256, np.int32), np.empty(256, np.int32)
    softmax_tables(multiplier, left_shift, diff_min, diffs, exps, ACCUMULATION_BITS)
    return log_softmax_8bit, shape, (ctx.persistent(diffs), ctx.persistent(exps), np.int64(reverse_multiplier),
                                     np.int64(reverse_shift), np.int64(diff_min), np.int64(info.min),
                                     np.int64(info.max))


def eval_rows(data, ins, outs, scratch):
    fn, shape, args = data
    fn(ins[0].reshape(shape), outs[0].reshape(shape), *args)


register_builtin("SOFTMAX", prepare_softmax, eval_rows)
register_builtin("LOG_SOFTMAX", prepare_log_softmax, eval_rows)
