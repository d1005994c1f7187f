"""Joining and cutting along one axis: CONCATENATION, PACK, SPLIT, SPLIT_V, UNPACK.

All five see their tensors as [outer, axis * inner] blocks: the pieces are contiguous runs
inside each outer row, so eval is a few np.copyto calls on 2-D views. The one op that computes is
uint8 CONCATENATION with differing input scales (TFLite's ConcatenationWithScaling).
"""
import numpy as np

from ..registry import register_builtin
from .common import ACT_NONE, float_activation_range, fused_activation, jit, normalize_axis
from .reshape import check_dtype_in, check_same_dtype, check_same_quant, int_values

CONCAT_TYPES = (np.float32, np.float16, np.uint8, np.int8, np.int16, np.int32, np.uint32,
                np.int64, np.bool_)
SPLIT_TYPES = (np.float32, np.uint8, np.int8, np.int16, np.int32, np.int64)
SPLIT_V_TYPES = (np.float32, np.uint8, np.int8, np.int16, np.uint16, np.int32, np.int64)
PACK_TYPES = (np.float32, np.uint8, np.int8, np.int16, np.uint16, np.int32, np.uint32, np.int64)
UNPACK_TYPES = (np.float32, np.float16, np.uint8, np.int8, np.int16, np.int32, np.bool_)


def _outer_inner(shape, axis):
    return int(np.prod(shape[:axis], dtype=np.int64)), int(np.prod(shape[axis + 1:], dtype=np.int64))


@jit
def requantize_uint8(src, dst, start, scale, bias, out_zp):
    """ConcatenationWithScaling: round(x * scale + bias) + zp, in float32 as TFLite, half away
    from zero, clamped to uint8. src: 2-D [outer, run]; dst: the whole [outer, total] output,
    written at columns start..start+run."""
    for i in range(src.shape[0]):
        for j in range(src.shape[1]):
            v = np.float64(np.float32(src[i, j]) * scale + bias)
            r = np.floor(v + 0.5) if v >= 0 else -np.floor(0.5 - v)
            q = np.int32(r) + out_zp
            dst[i, start + j] = min(max(q, 0), 255)


@jit
def clamp_float(x, lo, hi):
    for i in range(x.shape[0]):
        x[i] = min(max(x[i], lo), hi)


# -- CONCATENATION --------------------------------------------------------------------------

def prepare_concatenation(ctx):
    ctx.check_inputs(1, max(len(ctx.inputs), 1))
    ctx.check(all(s is not None for s in ctx.inputs), "an input is missing")
    first, out = ctx.inputs[0], ctx.outputs[0]
    check_dtype_in(ctx, first, CONCAT_TYPES, "CONCATENATION")
    check_same_dtype(ctx, first, out)
    for s in ctx.inputs[1:]:
        check_same_dtype(ctx, first, s)
    axis = int(getattr(ctx.options, "axis", 0) or 0)
    act = fused_activation(ctx)
    # TFLite itself rejects fused activations here; litert applies them for float32.
    ctx.check(act == ACT_NONE or out.dtype == np.float32,
              "a fused activation needs float32 tensors")
    if first.rank == 0:
        # Scalars join into a vector (TFLite does this when they are constants).
        ctx.check(axis == 0 and all(s.rank == 0 for s in ctx.inputs),
                  f"cannot concatenate scalars along axis {axis}")
        shapes = [(1,) for _ in ctx.inputs]
        out_shape, axis = (len(ctx.inputs),), 0
    else:
        axis = normalize_axis(ctx, axis, first.rank)
        shapes = [s.shape for s in ctx.inputs]
        for s in ctx.inputs[1:]:
            same = s.rank == first.rank and all(a == b for k, (a, b) in enumerate(zip(s.shape, first.shape))
                                                if k != axis)
            ctx.check(same, f"shapes {list(first.shape)} and {list(s.shape)} differ outside axis {axis}")
        out_shape = list(first.shape)
        out_shape[axis] = sum(s[axis] for s in shapes)
    ctx.set_output(0, out_shape)

    requant = [None] * len(ctx.inputs)
    if out.dtype == np.int8:
        for s in ctx.inputs:
            check_same_quant(ctx, s, out)
    elif out.dtype == np.int16:
        ctx.check(all(s.zero_point == 0 for s in ctx.inputs) and out.zero_point == 0,
                  "int16 inputs and output must have zero point 0")
    elif out.dtype == np.uint8:
        inverse = np.float32(1.0) / np.float32(out.scale) if out.scale else np.float32(np.inf)
        for k, s in enumerate(ctx.inputs):
            if s.scale != out.scale or s.zero_point != out.zero_point:
                scale = np.float32(s.scale) * inverse
                requant[k] = (scale, np.float32(-s.zero_point) * scale, np.int32(out.zero_point))

    outer, inner = _outer_inner(out_shape, axis)
    runs = [d[axis] * inner for d in shapes]
    clamp = None if act == ACT_NONE else tuple(np.float32(v) for v in float_activation_range(ctx, act))
    return outer, runs, requant, clamp


def eval_concatenation(data, ins, outs, scratch):
    outer, runs, requant, clamp = data
    dst = outs[0].reshape(outer, sum(runs))
    start = 0
    for x, run, rq in zip(ins, runs, requant):
        if rq is None:
            np.copyto(dst[:, start:start + run], x.reshape(outer, run))
        else:
            requantize_uint8(x.reshape(outer, run), dst, start, *rq)
        start += run
    if clamp is not None:
        clamp_float(outs[0].reshape(-1), *clamp)


# -- PACK / UNPACK --------------------------------------------------------------------------

def prepare_pack(ctx):
    n = int(getattr(ctx.options, "valuesCount", 0) or 0)
    ctx.check(n == len(ctx.inputs) and n >= 1, f"valuesCount {n} does not match {len(ctx.inputs)} inputs")
    ctx.check_inputs(n)
    first, out = ctx.inputs[0], ctx.outputs[0]
    check_dtype_in(ctx, first, PACK_TYPES, "PACK")
    check_same_dtype(ctx, first, out)
    for s in ctx.inputs:
        check_same_dtype(ctx, first, s)
        ctx.check(s.shape == first.shape, f"inputs have different shapes {list(first.shape)} "
                                          f"and {list(s.shape)}")
        check_same_quant(ctx, s, out)
    axis = int(getattr(ctx.options, "axis", 0) or 0)
    axis = normalize_axis(ctx, axis, first.rank + 1)
    out_shape = first.shape[:axis] + (n,) + first.shape[axis:]
    ctx.set_output(0, out_shape)
    return _outer_inner(out_shape, axis)


def eval_pack(data, ins, outs, scratch):
    outer, inner = data
    dst = outs[0].reshape(outer, len(ins), inner)
    for k, x in enumerate(ins):
        np.copyto(dst[:, k, :], x.reshape(outer, inner))


def prepare_unpack(ctx):
    ctx.check_inputs(1)
    x = ctx.inputs[0]
    check_dtype_in(ctx, x, UNPACK_TYPES, "UNPACK")
    ctx.check(x.size > 0, "input is empty")
    axis = normalize_axis(ctx, int(getattr(ctx.options, "axis", 0) or 0), x.rank)
    num = int(getattr(ctx.options, "num", 0) or 0)
    ctx.check(num == x.shape[axis] == len(ctx.outputs),
              f"num {num}, input dimension {x.shape[axis]} and {len(ctx.outputs)} outputs must agree")
    for k, out in enumerate(ctx.outputs):
        check_same_dtype(ctx, x, out)
        check_same_quant(ctx, x, out)
        ctx.set_output(k, x.shape[:axis] + x.shape[axis + 1:])
    return _outer_inner(x.shape, axis)


def eval_unpack(data, ins, outs, scratch):
    outer, inner = data
    src = ins[0].reshape(outer, len(outs), inner)
    for k, out in enumerate(outs):
        np.copyto(out.reshape(outer, inner), src[:, k, :])


# -- SPLIT / SPLIT_V ------------------------------------------------------------------------

def _split(ctx, source, axis, sizes):
    """Set the outputs of a split of input `source` along axis into `sizes`; op_data for
    eval_split."""
    x = ctx.inputs[source]
    for k, out in enumerate(ctx.outputs):
        check_same_dtype(ctx, x, out)
        shape = list(x.shape)
        shape[axis] = sizes[k]
        ctx.set_output(k, shape)
    outer, inner = _outer_inner(x.shape, axis)
    return source, outer, [n * inner for n in sizes]


def eval_split(data, ins, outs, scratch):
    source, outer, runs = data
    src = ins[source].reshape(outer, sum(runs))
    start = 0
    for out, run in zip(outs, runs):
        np.copyto(out.reshape(outer, run), src[:, start:start + run])
        start += run


def prepare_split(ctx):
    ctx.check_inputs(2)
    x = ctx.inputs[1]     # SPLIT takes the axis first
    check_dtype_in(ctx, x, SPLIT_TYPES, "SPLIT")
    n = int(getattr(ctx.options, "numSplits", 0) or 0)
    ctx.check(n == len(ctx.outputs) and n > 0, f"numSplits {n} does not match {len(ctx.outputs)} outputs")
    axis = int_values(ctx, 0, "axis", (np.int32,))
    ctx.check(len(axis) == 1, "axis (input 0) must hold one value")
    axis = normalize_axis(ctx, axis[0], x.rank)
    ctx.check(x.shape[axis] % n == 0, f"dimension {x.shape[axis]} does not split evenly in {n}")
    return _split(ctx, 1, axis, [x.shape[axis] // n] * n)


def prepare_split_v(ctx):
    ctx.check_inputs(3)
    x = ctx.inputs[0]
    check_dtype_in(ctx, x, SPLIT_V_TYPES, "SPLIT_V")
    n = int(getattr(ctx.options, "numSplits", 0) or 0)
    ctx.check(n == len(ctx.outputs), f"numSplits {n} does not match {len(ctx.outputs)} outputs")
    ctx.check(ctx.inputs[1].rank == 1, "size_splits (input 1) must be 1-D")
    sizes = int_values(ctx, 1, "size_splits")
    ctx.check(len(sizes) == n, f"{len(sizes)} size_splits for {n} outputs")
    axis = int_values(ctx, 2, "axis", (np.int32,))
    ctx.check(len(axis) >= 1, "axis (input 2) is empty")
    axis = normalize_axis(ctx, axis[0], x.rank)
    unknown = [k for k, s in enumerate(sizes) if s == -1]
    ctx.check(len(unknown) <= 1, f"size_splits {sizes} has more than one -1")
    known = sum(s for s in sizes if s != -1)
    ctx.check(all(s >= 0 for k, s in enumerate(sizes) if k not in unknown),
              f"size_splits {sizes} has a negative size")
    if unknown:
        ctx.check(known <= x.shape[axis], f"size_splits {sizes} exceed dimension {x.shape[axis]}")
        sizes[unknown[0]] = x.shape[axis] - known
    else:
        ctx.check(known == x.shape[axis], f"size_splits {sizes} do not sum to dimension {x.shape[axis]}")
    return _split(ctx, 0, axis, sizes)


register_builtin("CONCATENATION", prepare_concatenation, eval_concatenation)
register_builtin("PACK", prepare_pack, eval_pack)
register_builtin("UNPACK", prepare_unpack, eval_unpack)
register_builtin("SPLIT", prepare_split, eval_split)
register_builtin("SPLIT_V", prepare_split_v, eval_split)
