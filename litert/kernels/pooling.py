"""2-D pooling over NHWC: AVERAGE_POOL_2D, MAX_POOL_2D (float32, int8, uint8, int16),
L2_POOL_2D (float32).

As TFLite's reference kernels (reference/pooling.h, reference/integer_ops/pooling.h): a window
that hangs over the edge only covers its valid (unpadded) elements, so the average and the L2 norm
divide by the count of those elements, and padding never wins a max. The fused activation clamps
the result (for integers, in the output's quantized domain).

Integer pooling works on the stored values, with no rescaling: the reference kernels assume the
input and output share scale and zero point (a debug-only check there) and ignore them otherwise.
The average sums the valid window in int32 and divides rounding half away from zero:
(sum + count/2) / count for a positive sum, (sum - count/2) / count otherwise, in C's truncating
division.
"""
import numpy as np

from ..registry import register_builtin
from .common import (check_padding, conv_output_size, conv_padding, float_activation_range,
                     fused_activation, jit, quantized_activation_range)

POOL_AVERAGE, POOL_MAX, POOL_L2 = range(3)
_NAMES = {POOL_AVERAGE: "AVERAGE_POOL_2D", POOL_MAX: "MAX_POOL_2D", POOL_L2: "L2_POOL_2D"}
FLOAT32_LOWEST = np.float32(np.finfo(np.float32).min)
INTEGER_TYPES = (np.int8, np.uint8, np.int16)


@jit
def pool_float(x, out, kind, stride_h, stride_w, filter_h, filter_w, pad_h, pad_w, lo, hi):
    """x [N, H, W, C] -> out [N, OH, OW, C]; each output row of channels doubles as the
    accumulator, summed in the reference kernel's order (filter rows, then columns)."""
    n, h, w, c = x.shape
    oh, ow = out.shape[1], out.shape[2]
    for b in range(n):
        for oy in range(oh):
            y0 = oy * stride_h - pad_h
            fy0 = max(0, -y0)
            fy1 = min(filter_h, h - y0)
            for ox in range(ow):
                x0 = ox * stride_w - pad_w
                fx0 = max(0, -x0)
                fx1 = min(filter_w, w - x0)
                acc = out[b, oy, ox]
                init = FLOAT32_LOWEST if kind == POOL_MAX else np.float32(0.0)
                for ch in range(c):
                    acc[ch] = init
                for fy in range(fy0, fy1):
                    for fx in range(fx0, fx1):
                        row = x[b, y0 + fy, x0 + fx]
                        if kind == POOL_MAX:
                            for ch in range(c):
                                v = row[ch]
                                acc[ch] = v if v > acc[ch] else acc[ch]
                        elif kind == POOL_AVERAGE:
                            for ch in range(c):
                                acc[ch] += row[ch]
                        else:
                            for ch in range(c):
                                acc[ch] += row[ch] * row[ch]
                count = np.float32((fy1 - fy0) * (fx1 - fx0))
                for ch in range(c):
                    v = acc[ch]
                    if kind == POOL_AVERAGE:
                        v = v / count
                    elif kind == POOL_L2:
                        v = np.sqrt(v / count)
                    acc[ch] = min(max(v, lo), hi)


@jit
def pool_int(x, out, acc, kind, stride_h, stride_w, filter_h, filter_w, pad_h, pad_w, lowest, lo, hi):
    """Integer AVERAGE/MAX pooling, x [N, H, W, C] -> out [N, OH, OW, C]. A max runs in the output
    row itself, from the type's lowest value; a sum runs in acc, int32 [C] scratch (it wraps
    in 32 bits, as the reference's int32 does)."""
    n, h, w, c = x.shape
    oh, ow = out.shape[1], out.shape[2]
    for b in range(n):
        for oy in range(oh):
            y0 = oy * stride_h - pad_h
            fy0 = max(0, -y0)
            fy1 = min(filter_h, h - y0)
            for ox in range(ow):
                x0 = ox * stride_w - pad_w
                fx0 = max(0, -x0)
                fx1 = min(filter_w, w - x0)
                dst = out[b, oy, ox]
                if kind == POOL_MAX:
                    for ch in range(c):
                        dst[ch] = lowest
                    for fy in range(fy0, fy1):
                        for fx in range(fx0, fx1):
                            row = x[b, y0 + fy, x0 + fx]
                            for ch in range(c):
                                dst[ch] = max(dst[ch], row[ch])
                    for ch in range(c):
                        dst[ch] = min(max(dst[ch], lo), hi)
                    continue
                for ch in range(c):
                    acc[ch] = 0
                for fy in range(fy0, fy1):
                    for fx in range(fx0, fx1):
                        row = x[b, y0 + fy, x0 + fx]
                        for ch in range(c):
                            acc[ch] += np.int32(row[ch])
                count = (fy1 - fy0) * (fx1 - fx0)
                half = np.int64(count // 2)
                inverse = 1.0 / count
                for ch in range(c):
                    # (sum +- count/2) / count, truncating: exact in float64, whose error is far
                    # below the 1/|numerator| > 2^-32 that separates a quotient from an integer
                    s = np.int64(acc[ch])
                    q = np.int64((s + half if s > 0 else s - half) * inverse)
                    dst[ch] = min(max(q, lo), hi)


def pool_geometry(ctx):
    """Validate the options and shapes shared by every pooling op; set the output shape.
    Returns (stride_h, stride_w, filter_h, filter_w, pad_h, pad_w)."""
    ctx.check_inputs(1)
    x, out = ctx.inputs[0], ctx.outputs[0]
    o = ctx.options
    ctx.check(o is not None, "has no Pool2DOptions")
    ctx.check(x is not None and x.rank == 4, f"input must be 4-D NHWC, got shape "
                                             f"{list(x.shape) if x is not None else None}")
    ctx.check(out.dtype == x.dtype, f"input and output types differ: {x.type_name} -> {out.type_name}")
    check_padding(ctx, o.padding)
    sh, sw, fh, fw = int(o.strideH), int(o.strideW), int(o.filterHeight), int(o.filterWidth)
    ctx.check(sh > 0 and sw > 0, f"strides must be positive, got {sh}x{sw}")
    ctx.check(fh > 0 and fw > 0, f"filter size must be positive, got {fh}x{fw}")
    n, h, w, c = x.shape
    oh = conv_output_size(h, fh, sh, 1, o.padding)
    ow = conv_output_size(w, fw, sw, 1, o.padding)
    ctx.set_output(0, (n, oh, ow, c))
    return sh, sw, fh, fw, conv_padding(h, fh, sh, 1, oh), conv_padding(w, fw, sw, 1, ow)


def make_prepare(kind):
    def prepare(ctx):
        geometry = pool_geometry(ctx)
        x = ctx.inputs[0]
        if x.dtype == np.float32:
            lo, hi = float_activation_range(ctx, fused_activation(ctx))
            return pool_float, (kind,) + geometry + (np.float32(lo), np.float32(hi)), None
        if x.dtype in INTEGER_TYPES and kind != POOL_L2:
            lo, hi = quantized_activation_range(ctx, ctx.outputs[0])
            acc = ctx.scratch((x.shape[3],), np.int32)
            lowest = int(np.iinfo(x.dtype).min)
            return pool_int, (kind,) + geometry + (x.dtype.type(lowest), x.dtype.type(lo), x.dtype.type(hi)), acc
        supported = "float32" if kind == POOL_L2 else "float32, int8, uint8, int16"
        raise ctx.error(f"{_NAMES[kind]} on {x.type_name} is not supported; supported: {supported}")
    return prepare


def eval_pool(data, ins, outs, scratch):
    fn, args, acc_slot = data
    if acc_slot is None:
        fn(ins[0], outs[0], *args)
    else:
        fn(ins[0], outs[0], scratch[acc_slot], *args)


for _kind, _name in _NAMES.items():
    register_builtin(_name, make_prepare(_kind), eval_pool)
