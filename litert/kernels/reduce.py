"""Reductions over constant axes: MEAN, SUM, REDUCE_PROD, REDUCE_MAX, REDUCE_MIN (float32, int32,
int64).

prepare() resolves the axes (negative ones count from the end, repeats count once) and collapses
the input shape: size-1 axes go, neighbouring axes that are both reduced or both kept merge. Most
reductions then become [outer, reduced, inner] -> [outer, inner] (MEAN over H, W of NHWC is
[N, H*W, C]), one tight loop nest; anything with more alternations takes a general loop.
Accumulation happens in the output's own type (integers wrap, as in the reference kernels),
except that integer MEAN sums in int64 and divides truncating toward zero, as reference_ops::Mean
does. Float results follow the reference's row-major order, except over a contiguous run of
reduced elements, which eight partial accumulators share (rounding differs, not the result).

Quantized (int8, uint8, int16 with zero point 0), as the reference kernels (reference/reduce.h):
- MEAN and SUM sum the stored values in int32 (wrapping), subtract zp_in * count and rescale by
  input_scale / output_scale with MultiplyByQuantizedMultiplier (double rounding); MEAN folds
  1/count into that multiplier (QuantizedMeanOrSum). One path for every axes pattern, keep_dims,
  equal or different quantization: that is what the 2.3.0 reference build runs (measured).
  Except SUM on int8/int16: that build runs its uint8 instance for them (int8 bytes summed as
  unsigned and clamped to [0, 255], int16 data read byte-wise: measured); litert computes what
  the code means for the real type, which the optimized kernels agree with to 1 LSB.
- REDUCE_MAX / REDUCE_MIN compare stored values; input and output quantization must be equal.
- REDUCE_PROD (int8, int16 quantized) multiplies (x - zp_in) in row-major order, rescaling every
  step by input_scale / output_scale^(1/count) (QuantizedReduceProd).
"""
import math
import numpy as np

from ..registry import register_builtin
from .common import jit
from .qmath import clamp, mbqm, mbqm_int64, quantize_multiplier, wrap_int32

QUANTIZED_TYPES = (np.int8, np.uint8, np.int16)

OP_SUM, OP_PROD, OP_MAX, OP_MIN = range(4)


@jit(inline="always")
def _combine(op, acc, x):
    if op == OP_SUM:
        return acc + x
    if op == OP_PROD:
        return acc * x
    if op == OP_MAX:
        return x if x > acc else acc
    return x if x < acc else acc


@jit(inline="always")
def _reduce_run(op, v, init):
    """op over the 1-D array v, from init. Eight independent accumulators keep the pipeline
    full (a float sum in one chain waits on each add); for floats the order differs from the
    reference's one chain only in rounding."""
    n = v.shape[0]
    s0 = s1 = s2 = s3 = s4 = s5 = s6 = s7 = init
    r = 0
    while r + 8 <= n:
        s0 = _combine(op, s0, v[r])
        s1 = _combine(op, s1, v[r + 1])
        s2 = _combine(op, s2, v[r + 2])
        s3 = _combine(op, s3, v[r + 3])
        s4 = _combine(op, s4, v[r + 4])
        s5 = _combine(op, s5, v[r + 5])
        s6 = _combine(op, s6, v[r + 6])
        s7 = _combine(op, s7, v[r + 7])
        r += 8
    s0 = _combine(op, _combine(op, s0, s1), _combine(op, s2, s3))
    s4 = _combine(op, _combine(op, s4, s5), _combine(op, s6, s7))
    s0 = _combine(op, s0, s4)
    while r < n:
        s0 = _combine(op, s0, v[r])
        r += 1
    return s0


@jit
def reduce_3d(op, x, acc, init):
    """acc[o, i] = op over r of x[o, r, i], starting from init."""
    n_outer, n_reduce, n_inner = x.shape
    for o in range(n_outer):
        a = acc[o]
        if n_inner == 1:
            a[0] = _reduce_run(op, x[o, :, 0], init)
        else:
            for i in range(n_inner):
                a[i] = init
            for r in range(n_reduce):
                row = x[o, r]
                for i in range(n_inner):
                    a[i] = _combine(op, a[i], row[i])


@jit
def reduce_strided(op, x, acc, init, shape, out_strides, counter):
    """General case. x: the input, flat; shape: its collapsed shape (reduced and kept axes
    alternate); out_strides: the output stride of each axis (0 where reduced); counter: scratch
    holding the position in the outer axes while x is walked in row-major order."""
    for j in range(acc.size):
        acc[j] = init
    nd = shape.size
    inner = shape[nd - 1]
    inner_stride = out_strides[nd - 1]
    for d in range(nd):
        counter[d] = 0
    o = 0
    start = 0
    while start < x.size:   # not range(0, n, inner): a run-time step may raise (no AOT)
        if inner_stride == 0:
            acc[o] = _combine(op, acc[o], _reduce_run(op, x[start:start + inner], init))
        else:
            for k in range(inner):
                acc[o + k] = _combine(op, acc[o + k], x[start + k])
        d = nd - 2
        while d >= 0:
            counter[d] += 1
            o += out_strides[d]
            if counter[d] < shape[d]:
                break
            o -= out_strides[d] * shape[d]
            counter[d] = 0
            d -= 1
        start += inner


@jit
def divide_float(out, count):
    for j in range(out.size):
        out[j] = out[j] / count


@jit
def divide_int(acc, out, count):
    """out = acc / count, truncating toward zero (C division)."""
    for j in range(out.size):
        q = abs(acc[j]) // count
        out[j] = q if acc[j] >= 0 else -q


@jit
def requantize_sums(acc, out, zp_sum, multiplier, shift, zp_out, lo, hi):
    """out = clamp(MBQM(acc - zp_in * count, M, shift) + zp_out); the difference is an int32 in
    the reference (wraps)."""
    for j in range(out.size):
        v = mbqm(wrap_int32(np.int64(acc[j]) - zp_sum), multiplier, shift) + zp_out
        out[j] = clamp(v, lo, hi)


@jit
def prod_quantized(x, out, base, offsets, zp_in, multiplier, shift, zp_out, lo, hi):
    """out[o] = product over k of (x[base[o] + offsets[k]] - zp_in), rescaled after every
    multiplication and once more at the end (the int64 MultiplyByQuantizedMultiplier, result cut
    to int32), in the reference's order: offsets lists the reduced elements row-major."""
    for o in range(out.size):
        b = base[o]
        acc = np.int64(x[b + offsets[0]]) - zp_in
        for k in range(1, offsets.size):
            acc = wrap_int32(mbqm_int64(acc * (np.int64(x[b + offsets[k]]) - zp_in), multiplier, shift))
        v = wrap_int32(mbqm_int64(acc, multiplier, shift)) + zp_out
        out[o] = clamp(v, lo, hi)


def resolve_axes(ctx, rank):
    """The set of reduced axes, from the constant axis input (int32, any shape)."""
    axis = ctx.input(1)
    ctx.check(axis is not None, "the axis input is missing")
    ctx.check_dtype(axis, np.int32)
    if axis.size == 0:   # known without data (a writer may leave its empty buffer out)
        return set()
    values = ctx.constant(1, "the axis tensor")
    resolved = set()
    for a in np.asarray(values).reshape(-1):
        a = int(a)
        ctx.check(-rank <= a < rank, f"axis {a} is out of range for a rank-{rank} input")
        resolved.add(a % rank)
    return resolved


def output_shape(shape, axes, keep_dims):
    if keep_dims:
        return tuple(1 if d in axes else n for d, n in enumerate(shape))
    return tuple(n for d, n in enumerate(shape) if d not in axes)


def collapse(shape, axes):
    """[(reduced, size)] with size-1 axes dropped and neighbours of one kind merged."""
    groups = []
    for d, n in enumerate(shape):
        if n == 1:
            continue
        reduced = d in axes
        if groups and groups[-1][0] == reduced:
            groups[-1][1] *= n
        else:
            groups.append([reduced, n])
    return groups


def plan_loops(ctx, groups):
    """("3d", (outer, reduce, inner)) when the groups fit kept-reduced-kept, else
    ("strided", shape, out_strides, counter scratch slot)."""
    kinds = [r for r, _ in groups]
    sizes = [n for _, n in groups]
    if kinds in ([], [True], [False], [False, True], [True, False], [False, True, False]):
        return ("3d", _three(kinds, sizes))
    shape = np.array(sizes, np.int64)
    strides = np.zeros(len(sizes), np.int64)
    step = 1
    for k in range(len(sizes) - 1, -1, -1):
        if not kinds[k]:
            strides[k] = step
            step *= sizes[k]
    slot = ctx.scratch((len(sizes),), np.int64)
    return ("strided", ctx.persistent(shape), ctx.persistent(strides), slot)


def _three(kinds, sizes):
    """[outer, reduce, inner] for a group pattern that is a sub-sequence of kept, reduced, kept."""
    outer = reduce = inner = 1
    seen_reduce = False
    for reduced, n in zip(kinds, sizes):
        if reduced:
            reduce, seen_reduce = n, True
        elif seen_reduce:
            inner = n
        else:
            outer = n
    return outer, reduce, inner


def initial_value(op, dt):
    """The reducer's starting value (TFLite: 0, 1, numeric_limits lowest(), max())."""
    if op == OP_SUM:
        return dt.type(0)
    if op == OP_PROD:
        return dt.type(1)
    info = np.finfo(dt) if dt.kind == "f" else np.iinfo(dt)
    return dt.type(info.min if op == OP_MAX else info.max)


_NAMES = {"SUM": OP_SUM, "REDUCE_PROD": OP_PROD, "REDUCE_MAX": OP_MAX, "REDUCE_MIN": OP_MIN}


def make_prepare(op, mean):
    name = "MEAN" if mean else next(k for k, v in _NAMES.items() if v == op)

    def prepare(ctx):
        ctx.check_inputs(2)
        x, out = ctx.inputs[0], ctx.outputs[0]
        ctx.check(x is not None, "the input is missing")
        ctx.check(out.dtype == x.dtype, f"input and output types differ: {x.type_name} -> {out.type_name}")
        axes = resolve_axes(ctx, x.rank) if x.rank else set()
        keep_dims = bool(getattr(ctx.options, "keepDims", False))
        ctx.set_output(0, output_shape(x.shape, axes, keep_dims))
        if x.dtype in (np.float32, np.int32, np.int64):
            return prepare_plain(ctx, op, mean, axes)
        if x.dtype in QUANTIZED_TYPES:
            return prepare_quantized(ctx, name, op, mean, axes)
        raise ctx.error(f"{name} on {x.type_name} is not supported; supported: float32, int32, "
                        "int64, int8, uint8, int16")
    return prepare


def prepare_plain(ctx, op, mean, axes):
    """Float and plain-integer reductions. op_data for eval_reduce:
    ("fill", value) or ("reduce", op, init, loops, acc_slot, mean, count)."""
    x, out = ctx.inputs[0], ctx.outputs[0]
    dt = x.dtype
    if x.size == 0:
        # nothing to reduce: the reference kernels leave the starting value, MEAN its NaN
        # (0 for integers)
        fill = dt.type(np.nan if dt.kind == "f" else 0) if mean else initial_value(op, dt)
        return ("fill", fill)
    loops = plan_loops(ctx, collapse(x.shape, axes))
    count = int(np.prod([x.shape[d] for d in axes], dtype=np.int64))
    if not mean:
        return ("reduce", op, initial_value(op, dt), loops, None, False, None)
    if dt.kind == "f":   # sum in the output, then divide by the count as float
        return ("reduce", OP_SUM, dt.type(0), loops, None, True, dt.type(count))
    acc = ctx.scratch((out.size,), np.int64)    # integers sum in int64
    return ("reduce", OP_SUM, np.int64(0), loops, acc, True, np.int64(count))


def prepare_quantized(ctx, name, op, mean, axes):
    """int8/uint8/int16. op_data: ("fill", value), ("reduce", ...) as prepare_plain for MAX/MIN
    (and an unquantized PROD), ("requantize", loops, acc_slot, zp_sum, M, shift, zp_out, lo, hi)
    for MEAN/SUM, ("prod", base, offsets, zp_in, M, shift, zp_out, lo, hi) for a quantized PROD."""
    x, out = ctx.inputs[0], ctx.outputs[0]
    info = np.iinfo(x.dtype)
    if x.dtype == np.int16:
        ctx.check(x.zero_point == 0 and out.zero_point == 0,
                  f"int16 needs zero points 0, got input {x.zero_point}, output {out.zero_point}")
    quantized = x.quantization is not None
    if op in (OP_MAX, OP_MIN) or (op == OP_PROD and not quantized):
        ctx.check(x.scale == out.scale and x.zero_point == out.zero_point,
                  f"input and output quantization differ (scale {x.scale} vs {out.scale}, zero point "
                  f"{x.zero_point} vs {out.zero_point})")
        return prepare_plain(ctx, op, False, axes)
    ctx.check(quantized and out.quantization is not None,
              f"{name} on {x.type_name} needs quantized input and output tensors")
    if op == OP_PROD:
        ctx.check(x.dtype != np.uint8, "REDUCE_PROD on quantized UINT8 is not supported; "
                                       "supported: quantized int8, int16")
    if x.size == 0 or out.size == 0:
        # the reference writes zeros (MEAN, SUM) or nothing (PROD)
        return ("fill", x.dtype.type(0))
    count = x.size // out.size
    lo, hi = int(info.min), int(info.max)
    if op == OP_PROD:
        # each of the count rescalings takes an equal share of the output scale
        real = float(x.scale) / math.pow(float(out.scale), 1.0 / count)
        multiplier, shift = quantize_multiplier(real)
        base, offsets = gather_offsets(x.shape, axes)
        return ("prod", ctx.persistent(base), ctx.persistent(offsets), np.int64(x.zero_point),
                np.int32(multiplier), np.int32(shift), np.int64(out.zero_point), np.int64(lo), np.int64(hi))
    multiplier, shift = quantize_multiplier(float(x.scale) / float(out.scale))
    if mean:
        multiplier, shift = fold_count(multiplier, shift, count)
    loops = plan_loops(ctx, collapse(x.shape, axes))
    acc = ctx.scratch((out.size,), np.int32)
    return ("requantize", loops, acc, np.int64(x.zero_point) * np.int64(count), np.int32(multiplier),
            np.int32(shift), np.int64(out.zero_point), np.int64(lo), np.int64(hi))


def fold_count(multiplier, shift, count):
    """The mean's 1/count folded into (multiplier, shift) as reference QuantizedMeanOrSum does:
    shift the multiplier left by floor(log2(count)) (at most 32, and no further than keeps the
    total shift >= -31), then divide by count, truncating."""
    extra = min(count.bit_length() - 1, 32, 31 + shift)
    return (multiplier << extra) // count, shift - extra


def gather_offsets(shape, axes):
    """(base, offsets): flat input offset of every output's first element (output order) and of
    every reduced element relative to it (row-major over the reduced axes)."""
    strides = np.array([int(np.prod(shape[d + 1:], dtype=np.int64)) for d in range(len(shape))], np.int64)

    def offsets_over(dims):
        sizes = [shape[d] for d in dims]
        if not sizes:
            return np.zeros(1, np.int64)
        grid = np.indices(sizes, dtype=np.int64).reshape(len(sizes), -1)
        return (grid * strides[dims][:, None]).sum(axis=0)

    kept = [d for d in range(len(shape)) if d not in axes]
    return offsets_over(kept), offsets_over(sorted(axes))


def eval_reduce(data, ins, outs, scratch):
    out = outs[0]
    kind = data[0]
    if kind == "fill":
        out.fill(data[1])
        return
    if kind == "requantize":
        _, loops, acc_slot, zp_sum, multiplier, shift, zp_out, lo, hi = data
        acc = scratch[acc_slot]
        reduce_into(OP_SUM, loops, ins[0], acc, np.int32(0), scratch)
        requantize_sums(acc, out.reshape(-1), zp_sum, multiplier, shift, zp_out, lo, hi)
        return
    if kind == "prod":
        _, base, offsets, zp_in, multiplier, shift, zp_out, lo, hi = data
        prod_quantized(ins[0].reshape(-1), out.reshape(-1), base, offsets, zp_in, multiplier, shift,
                       zp_out, lo, hi)
        return
    _, op, init, loops, acc_slot, mean, count = data
    flat_out = out.reshape(-1)
    acc = flat_out if acc_slot is None else scratch[acc_slot]
    reduce_into(op, loops, ins[0], acc, init, scratch)
    if mean:
        if acc_slot is None:
            divide_float(acc, count)
        else:
            divide_int(acc, flat_out, count)


def reduce_into(op, loops, x, acc, init, scratch):
    """acc (flat, one per output) = op over the reduced elements of x, as planned by plan_loops."""
    if loops[0] == "3d":
        n_outer, n_reduce, n_inner = loops[1]
        reduce_3d(op, x.reshape(n_outer, n_reduce, n_inner), acc.reshape(n_outer, n_inner), init)
    else:
        _, shape, strides, slot = loops
        reduce_strided(op, x.reshape(-1), acc, init, shape, strides, scratch[slot])


register_builtin("MEAN", make_prepare(OP_SUM, True), eval_reduce)
for _name, _op in _NAMES.items():
    register_builtin(_name, make_prepare(_op, False), eval_reduce)
