"""RESIZE_BILINEAR and RESIZE_NEAREST_NEIGHBOR (NHWC, options align_corners and
half_pixel_centers).

prepare() computes, per output row and per output column, the source indices and weights with
exactly the arithmetic of TFLite's reference kernels (reference_ops::ResizeBilinear in float32,
ResizeBilinearInteger in 10-bit fixed point for int8/int16, GetNearestNeighbor), so eval only
blends: bit-exact for the integer types.
"""
import math

import numpy as np

from ..registry import register_builtin
from .common import jit, round_half_away
from .pad import axis_tables6, eval_gather_axes
from .reshape import check_dtype_in, check_same_dtype, static_output_shape, trunc_div

BILINEAR_TYPES = (np.float32, np.uint8, np.int8, np.int16, np.uint16)
# nearest neighbour only moves elements: every type of up to 32 bits, as the official build
NEAREST_TYPES = (np.float32, np.float16, np.uint8, np.int8, np.int16, np.uint16, np.int32, np.uint32,
                 np.bool_)
F32 = np.float32


@jit
def bilinear_float(src, y0, y1, wy0, wy1, x0, x1, wx0, wx1, rounding, dst):
    """TFLite's float blend, term by term in float32; `rounding` is 0.5 for integer outputs
    (then truncated by the cast), 0 for float."""
    for b in range(dst.shape[0]):
        for y in range(dst.shape[1]):
            top, bottom = src[b, y0[y]], src[b, y1[y]]
            for x in range(dst.shape[2]):
                a, c = x0[x], x1[x]
                out = dst[b, y, x]
                for k in range(dst.shape[3]):
                    v = (np.float32(top[a, k]) * wy0[y] * wx0[x]
                         + np.float32(bottom[a, k]) * wy1[y] * wx0[x]
                         + np.float32(top[c, k]) * wy0[y] * wx1[x]
                         + np.float32(bottom[c, k]) * wy1[y] * wx1[x]
                         + rounding)
                    out[k] = v


@jit
def bilinear_integer(src, y0, y1, wy0, wy1, x0, x1, wx0, wx1, dst):
    """ResizeBilinearInteger: weights in 1/1024, products in int64, the sum rounded half away
    from zero at 2^20."""
    for b in range(dst.shape[0]):
        for y in range(dst.shape[1]):
            top, bottom = src[b, y0[y]], src[b, y1[y]]
            for x in range(dst.shape[2]):
                a, c = x0[x], x1[x]
                out = dst[b, y, x]
                for k in range(dst.shape[3]):
                    acc = (np.int64(top[a, k]) * wy0[y] * wx0[x] + np.int64(bottom[a, k]) * wy1[y] * wx0[x]
                           + np.int64(top[c, k]) * wy0[y] * wx1[x] + np.int64(bottom[c, k]) * wy1[y] * wx1[x])
                    if acc > 0:
                        out[k] = (acc + (1 << 19)) >> 20
                    else:
                        out[k] = -((-(acc - (1 << 19))) >> 20)


def float_axis(in_size, out_size, align_corners, half_pixel):
    """Per output index: lower/upper source index and the float32 weights of each."""
    scale = F32(in_size) / F32(out_size)
    if align_corners and out_size > 1:
        scale = F32(in_size - 1) / F32(out_size - 1)
    lo, hi, w_lo, w_hi = [], [], [], []
    for v in range(out_size):
        scaled = (F32(v) + F32(0.5)) * scale - F32(0.5) if half_pixel else F32(v) * scale
        lower = max(int(math.floor(scaled)), 0)
        upper = min(int(math.ceil(scaled)), in_size - 1)
        frac = scaled - F32(lower)
        lo.append(lower)
        hi.append(upper)
        w_hi.append(frac)
        w_lo.append(F32(1) - frac)
    return (np.array(lo, np.int64), np.array(hi, np.int64),
            np.array(w_lo, np.float32), np.array(w_hi, np.float32))


def integer_axis(in_size, out_size, align_corners, half_pixel):
    """ComputeInterpolationValuesInteger: positions in 1/1024 of a pixel."""
    scale = ((1 << 10) * in_size + out_size // 2) // out_size
    if align_corners and out_size > 1:
        scale = ((1 << 10) * (in_size - 1) + (out_size - 1) // 2) // (out_size - 1)
    lo, hi, w_lo, w_hi = [], [], [], []
    for v in range(out_size):
        scaled = v * scale + scale // 2 - (1 << 9) if half_pixel else v * scale
        lower = max(trunc_div(scaled, 1 << 10), 0)
        upper = min(trunc_div(scaled + (1 << 10) - 1, 1 << 10), in_size - 1)
        frac = scaled - (1 << 10) * lower
        lo.append(lower)
        hi.append(upper)
        w_hi.append(frac)
        w_lo.append((1 << 10) - frac)
    return tuple(np.array(t, np.int64) for t in (lo, hi, w_lo, w_hi))


def nearest_axis(in_size, out_size, align_corners, half_pixel):
    """GetNearestNeighbor for every output index."""
    if align_corners and out_size > 1:
        scale = F32(in_size - 1) / F32(out_size - 1)
    else:
        scale = F32(in_size) / F32(out_size)
    offset = F32(0.5) if half_pixel else F32(0)
    table = []
    for v in range(out_size):
        pos = (F32(v) + offset) * scale
        k = round_half_away(float(pos)) if align_corners else int(math.floor(pos))
        k = min(k, in_size - 1)
        table.append(max(k, 0) if half_pixel else k)
    return table


def _prepare_resize(ctx, name, types):
    ctx.check_inputs(2)
    x, size, out = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0]
    ctx.check(x.rank == 4, f"input must be 4-D (NHWC), has shape {list(x.shape)}")
    check_dtype_in(ctx, x, types, name)
    check_same_dtype(ctx, x, out)
    ctx.check_dtype(size, np.int32)
    ctx.check(size.shape == (2,), f"size (input 1) must hold 2 values, has shape {list(size.shape)}")
    align = bool(getattr(ctx.options, "alignCorners", False))
    half = bool(getattr(ctx.options, "halfPixelCenters", False))
    if size.data is not None:
        h, w = (int(v) for v in size.data)
    else:
        static = static_output_shape(ctx)
        ctx.check(static is not None and len(static) == 4 and static[0] == x.shape[0]
                  and static[3] == x.shape[3],
                  "size (input 1) is only known at run time and the output's shape in the file "
                  f"{list(out.shape)} does not fit the input {list(x.shape)}")
        h, w = static[1], static[2]
    ctx.check(h > 0 and w > 0, f"output size {[h, w]} must be positive")
    ctx.check(x.shape[1] > 0 and x.shape[2] > 0, f"input {list(x.shape)} is empty")
    ctx.set_output(0, (x.shape[0], h, w, x.shape[3]))
    return x, (h, w), align, half


def prepare_resize_bilinear(ctx):
    x, (h, w), align, half = _prepare_resize(ctx, "RESIZE_BILINEAR", BILINEAR_TYPES)
    ctx.check(not (align and half), "if half_pixel_centers is True, align_corners must be False")
    if x.dtype in (np.float32, np.uint8):
        # float32 arithmetic; uint8 adds 0.5 before the truncating cast
        axis = float_axis
        rounding = F32(0.5) if x.dtype == np.uint8 else F32(0)
    else:
        axis, rounding = integer_axis, None
    ys = [ctx.persistent(t) for t in axis(x.shape[1], h, align, half)]
    xs = [ctx.persistent(t) for t in axis(x.shape[2], w, align, half)]
    return ys, xs, rounding


def eval_resize_bilinear(data, ins, outs, scratch):
    (y0, y1, wy0, wy1), (x0, x1, wx0, wx1), rounding = data
    if rounding is None:
        bilinear_integer(ins[0], y0, y1, wy0, wy1, x0, x1, wx0, wx1, outs[0])
    else:
        bilinear_float(ins[0], y0, y1, wy0, wy1, x0, x1, wx0, wx1, rounding, outs[0])


def prepare_resize_nearest(ctx):
    x, (h, w), align, half = _prepare_resize(ctx, "RESIZE_NEAREST_NEIGHBOR", NEAREST_TYPES)
    n, ih, iw, c = x.shape
    tables = [range(n), nearest_axis(ih, h, align, half), nearest_axis(iw, w, align, half), range(c)]
    tables, in_shape, out_shape = axis_tables6(tables, x.shape)
    return [ctx.persistent(t) for t in tables], in_shape, out_shape


register_builtin("RESIZE_BILINEAR", prepare_resize_bilinear, eval_resize_bilinear)
register_builtin("RESIZE_NEAREST_NEIGHBOR", prepare_resize_nearest, eval_gather_axes)
