"""2-D pooling over NHWC: AVERAGE_POOL_2D, MAX_POOL_2D, L2_POOL_2D (float32).

As TFLite's reference kernels (reference/pooling.h): a window that hangs over the edge only
covers its valid (unpadded) elements, so the average and the L2 norm divide by the count of those
elements, and padding never wins a max. The fused activation clamps the result.
"""
import numpy as np

from ..registry import register_builtin
from .common import (check_padding, conv_output_size, conv_padding, float_activation_range,
                     fused_activation, jit)

POOL_AVERAGE, POOL_MAX, POOL_L2 = range(3)
_NAMES = {POOL_AVERAGE: "AVERAGE_POOL_2D", POOL_MAX: "MAX_POOL_2D", POOL_L2: "L2_POOL_2D"}
FLOAT32_LOWEST = np.float32(np.finfo(np.float32).min)


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
            return pool_float, (kind,) + geometry + (np.float32(lo), np.float32(hi))
        # Integer pooling (int8/int16 with the reference kernels' rounding) goes here.
        raise ctx.error(f"{_NAMES[kind]} on {x.type_name} is not supported; supported: float32")
    return prepare


def eval_pool(data, ins, outs, scratch):
    fn, args = data
    fn(ins[0], outs[0], *args)


for _kind, _name in _NAMES.items():
    register_builtin(_name, make_prepare(_kind), eval_pool)
