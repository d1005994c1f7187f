"""QUANTIZE: float32 -> int8/uint8/int16 (per tensor or per channel), and requantization from
one integer encoding to another (tflite/kernels/quantize.cc, reference/quantize.h,
reference/requantize.h).

Float input: q = clamp(int32(round_half_away(x / scale)) + zero_point) with the reference's
float32 division and its int32 arithmetic: NaN, infinities and values beyond int32 convert to
INT32_MIN (x86-64), and adding the zero point wraps (so NaN gives qmax when zero_point < 0 and
qmin otherwise: measured). Per channel when the output has several scales, along its
quantized_dimension.

Integer input: q = clamp(MultiplyByQuantizedMultiplier(x - zp_in, M, shift) + zp_out) with M,
shift from in_scale / out_scale (double), rounding twice like the other ops (pinned by
tests/test_quantize.py). ai-edge-litert 2.3.0 accepts int8/uint8 -> int8/uint8/int16,
int16 -> int8/int16/int32 (int16 -> int16 with zero points 0) and int32 -> int8/int16.
"""
import numpy as np

from ..registry import register_builtin
from .common import jit
from .qmath import INT32_MIN, mbqm, quantize_multiplier, wrap_int32


REQUANTIZE_PAIRS = {
    np.dtype(np.int8): (np.int8, np.uint8, np.int16),
    np.dtype(np.uint8): (np.int8, np.uint8, np.int16),
    np.dtype(np.int16): (np.int8, np.int16, np.int32),
    np.dtype(np.int32): (np.int8, np.int16),
}


@jit
def quantize_float(x, out, scales, zero_points, qmin, qmax):
    """x (float32), out: [outer, channels, inner]; scales float32 and zero points per channel."""
    n_outer, n_channels, n_inner = x.shape
    for o in range(n_outer):
        for c in range(n_channels):
            scale = scales[c]
            zp = np.int64(zero_points[c])
            xr = x[o, c]
            orow = out[o, c]
            for i in range(n_inner):
                v = np.float64(xr[i] / scale)           # the division is float32
                r = np.floor(v + 0.5) if v >= 0 else -np.floor(-v + 0.5)
                # the float -> int32 conversion gives INT32_MIN for NaN and out-of-range values
                # (x86 cvttss2si), and adding the zero point wraps
                q = np.int64(r) if -2147483648.0 <= r < 2147483648.0 else np.int64(INT32_MIN)
                q = wrap_int32(q + zp)
                orow[i] = min(max(q, qmin), qmax)


@jit
def requantize(x, out, multiplier, shift, zp_in, zp_out, qmin, qmax):
    """x, out: flat integer arrays."""
    for i in range(x.shape[0]):
        v = mbqm(wrap_int32(np.int64(x[i]) - zp_in), multiplier, shift) + zp_out
        out[i] = min(max(v, qmin), qmax)


def _quantization(ctx, t, what):
    q = t.quantization
    ctx.check(q is not None and q.scales.size > 0, f"the {what} (tensor {t.index}, {t.name!r}) has no "
                                                   "quantization parameters")
    scales = np.asarray(q.scales, np.float32)
    ctx.check(bool(np.all(np.isfinite(scales) & (scales > 0))),
              f"the {what} (tensor {t.index}, {t.name!r}) has a quantization scale that is not positive")
    return q


def prepare_quantize(ctx):
    ctx.check_inputs(1)
    x, out = ctx.inputs[0], ctx.outputs[0]
    ctx.check(x is not None and x.dtype is not None, "the input is missing or has no numeric type")
    qo = _quantization(ctx, out, "output")
    ctx.set_output(0, x.shape)
    info = np.iinfo(out.dtype) if out.dtype.kind in "iu" else None

    if x.dtype == np.float32:
        ctx.check(out.dtype in (np.int8, np.uint8, np.int16),
                  f"QUANTIZE from float32 to {out.type_name} is not supported; supported: int8, uint8, int16")
        scales = np.asarray(qo.scales, np.float32)
        zps = np.asarray(qo.zero_points, np.int64)
        if scales.size == 1:
            shape = (1, 1, x.size)
        else:
            axis = qo.quantized_dimension
            ctx.check(0 <= axis < x.rank and x.shape[axis] == scales.size,
                      f"{scales.size} per-channel scales do not fit dimension {axis} of shape "
                      f"{list(x.shape)}")
            shape = (int(np.prod(x.shape[:axis], dtype=np.int64)), scales.size,
                     int(np.prod(x.shape[axis + 1:], dtype=np.int64)))
        return ("float", shape, ctx.persistent(scales), ctx.persistent(zps.astype(np.int32)),
                int(info.min), int(info.max))

    allowed = REQUANTIZE_PAIRS.get(x.dtype)
    ctx.check(allowed is not None and out.dtype in [np.dtype(t) for t in allowed],
              f"QUANTIZE from {x.type_name} to {out.type_name} is not supported; supported: float32 -> "
              "int8/uint8/int16, int8/uint8 -> int8/uint8/int16, int16 -> int8/int16/int32, "
              "int32 -> int8/int16")
    qi = _quantization(ctx, x, "input")
    ctx.check(qi.scales.size == 1 and qo.scales.size == 1,
              "requantizing QUANTIZE needs per-tensor quantization on input and output")
    zp_in, zp_out = int(qi.zero_points[0]), int(qo.zero_points[0])
    if x.dtype == np.int16 and out.dtype == np.int16:
        ctx.check(zp_in == 0 and zp_out == 0,
                  f"int16 -> int16 QUANTIZE needs zero points 0, got {zp_in}, {zp_out}")
    multiplier, shift = quantize_multiplier(float(qi.scales[0]) / float(qo.scales[0]))
    return ("requantize", multiplier, shift, zp_in, zp_out, int(info.min), int(info.max))


def eval_quantize(data, ins, outs, scratch):
    x, out = ins[0], outs[0]
    if data[0] == "float":
        _, shape, scales, zps, qmin, qmax = data
        quantize_float(x.reshape(shape), out.reshape(shape), scales, zps, qmin, qmax)
    else:
        _, multiplier, shift, zp_in, zp_out, qmin, qmax = data
        requantize(x.reshape(-1), out.reshape(-1), multiplier, shift, zp_in, zp_out, qmin, qmax)


register_builtin("QUANTIZE", prepare_quantize, eval_quantize)
