"""SLICE and STRIDED_SLICE, on the strided-copy engine of transpose.py.

STRIDED_SLICE follows TFLite's strided_slice.cc step by step: the ellipsis and new-axis masks are
first folded into an "effective" input shape with begin/end masks (BuildStridedSliceParams), then
each effective axis gets its start (StartForAxis), its end (EndForAxis) and the count of the loop
`for i = start; stride > 0 ? i < end : i > end; i += stride`. With the `offset` flag, `end` holds
sizes relative to `begin`, and `begin` may be a run-time tensor (the window then slides in eval).
"""
import numpy as np

from ..registry import register_builtin
from .common import jit
from .reshape import as_bits, check_same_dtype, int_values, static_output_shape, trunc_div
from .transpose import eval_strided, plan_strided, row_major_strides, strided_copy

INT32_MIN, INT32_MAX = -2**31, 2**31 - 1


@jit
def sliding_base(begin, begin_index, fixed_start, dims, counts, steps, strides):
    """Input offset of a window whose start comes from the run-time `begin` tensor: for axis a,
    start = begin[begin_index[a]] (negative counts from the end) or fixed_start[a] when
    begin_index[a] < 0, clamped so that all counts[a] elements stay inside the axis."""
    base = 0
    for a in range(dims.shape[0]):
        if counts[a] == 0:
            return 0
        j = begin_index[a]
        s = fixed_start[a]
        if j >= 0:
            s = np.int64(begin[j])
            if s < 0:
                s += dims[a]
            span = (counts[a] - 1) * steps[a]
            lo = -span if span < 0 else 0
            hi = dims[a] - 1 - (span if span > 0 else 0)
            s = min(max(s, lo), hi)
        base += s * strides[a]
    return base


def eval_sliding(data, ins, outs, scratch):
    (counts6, steps6), window = data
    base = sliding_base(ins[1], *window)
    strided_copy(as_bits(ins[0]), base, counts6, steps6, as_bits(outs[0]))


def _sliding(ctx, plan, begin_index, fixed_start, dims, counts, steps):
    """op_data for eval_sliding (begin known only at run time)."""
    _, counts6, steps6 = plan
    window = tuple(ctx.persistent(np.asarray(v, np.int64)) for v in
                   (begin_index, fixed_start, dims, counts, steps, row_major_strides(dims)))
    return (counts6, steps6), window


# -- SLICE ----------------------------------------------------------------------------------

def prepare_slice(ctx):
    ctx.check_inputs(3)
    x, begin_spec, size_spec = ctx.inputs
    out = ctx.outputs[0]
    check_same_dtype(ctx, x, out)
    for spec, what in ((begin_spec, "begin"), (size_spec, "size")):
        ctx.check_dtype(spec, np.int32, np.int64)
        ctx.check(spec.rank == 1 and spec.size == x.rank,
                  f"{what} must be a vector of {x.rank} values, has shape {list(spec.shape)}")
    ctx.check(begin_spec.dtype == size_spec.dtype, "begin and size have different types")
    sizes = int_values(ctx, 2, "size")
    for d, n in enumerate(sizes):
        ctx.check(n >= -1, f"size {sizes} has a negative entry other than -1")
    strides = row_major_strides(x.shape)
    if begin_spec.data is None:
        # begin comes at run time: the sizes (or the file's output shape) fix the output.
        static = static_output_shape(ctx)
        counts = [n if n >= 0 else (static[d] if static and len(static) == x.rank else -1)
                  for d, n in enumerate(sizes)]
        ctx.check(all(0 <= n <= x.shape[d] for d, n in enumerate(counts)),
                  f"begin (input 1) is only known at run time, and size {sizes} does not fix the "
                  f"output shape within {list(x.shape)}")
        ctx.set_output(0, counts)
        plan = plan_strided(ctx, 0, counts, strides)
        return eval_sliding, _sliding(ctx, plan, list(range(x.rank)), [0] * x.rank, x.shape,
                                      counts, [1] * x.rank)
    begins = int_values(ctx, 1, "begin")
    counts = []
    for d, (b, n) in enumerate(zip(begins, sizes)):
        dim = x.shape[d]
        ctx.check(0 <= b <= dim, f"begin {begins} is out of range for shape {list(x.shape)}")
        n = dim - b if n == -1 else n
        ctx.check(b + n <= dim, f"begin {begins} + size {sizes} exceed shape {list(x.shape)}")
        counts.append(n)
    ctx.set_output(0, counts)
    base = sum(b * s for b, s in zip(begins, strides))
    return eval_strided, plan_strided(ctx, base, counts, strides)


# -- STRIDED_SLICE --------------------------------------------------------------------------

def _bit(mask, i):
    return bool((mask >> i) & 1) if 0 <= i < 32 else False


def effective_params(ctx, rank, shape, begin, end, strides, opts):
    """BuildStridedSliceParams: per effective axis (dim, start, stop, stride, begin_mask,
    end_mask, shrink, begin_index), after expanding the ellipsis and inserting new axes.
    begin/end may be None (offset mode with run-time begin): starts and stops are then 0."""
    ellipsis, new_axis = opts["ellipsisMask"], opts["newAxisMask"]
    count = len(strides)
    num_add = sum(1 for i in range(count) if not _bit(ellipsis, i) and _bit(new_axis, i))
    eff = rank + num_add
    eff_ellipsis, eff_new = set(), set()
    ellipsis_start, expanded = eff, 0
    i = 0
    while i < eff:
        if _bit(ellipsis, i):
            ellipsis_start = i
            ellipsis_end = max(i + 1, min(i + 1 + num_add + rank - count, eff))
            expanded = ellipsis_end - ellipsis_start - 1
            eff_ellipsis.update(range(i, ellipsis_end))
            i = ellipsis_end
            continue
        if _bit(new_axis, i - expanded):
            eff_new.add(i)
        i += 1
    axes = []
    added_ellipsis = added_axes = 0
    for i in range(eff):
        if i in eff_new:
            axes.append((1, 0, 1, 1, False, False, False, -1))
            added_axes += 1
            continue
        ctx.check(0 <= i - added_axes < rank, "the masks do not fit the input's rank")
        dim = shape[i - added_axes]
        if i in eff_ellipsis or i >= count + expanded:
            if i in eff_ellipsis:
                added_ellipsis = max(0, i - ellipsis_start)
            axes.append((dim, 0, 0, 1, True, True, False, -1))
        else:
            j = i - added_ellipsis
            start = begin[j] if begin is not None else 0
            stop = end[j] if end is not None else 0
            axes.append((dim, start, stop, strides[j], _bit(opts["beginMask"], j),
                         _bit(opts["endMask"], j), _bit(opts["shrinkAxisMask"], j), j))
    return axes


def _clamp(v, lo, hi):
    return hi if v > hi else lo if v < lo else v


def start_for_axis(dim, start, stride, begin_mask):
    if start < 0:
        start += dim
    start = _clamp(start, 0, dim) if stride > 0 else _clamp(start, -1, dim - 1)
    if begin_mask:
        start = 0 if stride > 0 else dim - 1
    return start


def end_for_axis(dim, start, stop, stride, end_mask, shrink, offset):
    if shrink:
        return start if start >= dim else start + 1
    if offset:
        stop += start
    if stop < 0:
        stop += dim
    stop = _clamp(stop, 0, dim) if stride > 0 else _clamp(stop, -1, dim - 1)
    if end_mask:
        stop = dim if stride > 0 else -1
    return stop


def loop_count(start, stop, stride):
    """Iterations of `for i = start; stride > 0 ? i < stop : i > stop; i += stride`."""
    if stride > 0:
        return max(0, -((start - stop) // stride))
    return max(0, -((stop - start) // -stride))


def output_dim(start, stop, stride):
    """ResizeOutputTensor's length of one axis from its begin/end distance."""
    size = stop - start
    if (size < 0) != (stride < 0):
        return 0
    if stride < 0:
        return trunc_div(size + 1, stride) + 1
    return 0 if size == 0 else trunc_div(size - 1, stride) + 1


def prepare_strided_slice(ctx):
    ctx.check_inputs(4)
    x, begin_spec, end_spec, strides_spec = ctx.inputs
    out = ctx.outputs[0]
    check_same_dtype(ctx, x, out)
    for spec, what in ((begin_spec, "begin"), (end_spec, "end"), (strides_spec, "strides")):
        ctx.check_dtype(spec, np.int32)
        ctx.check(spec.rank == 1, f"{what} must be 1-D")
    ctx.check(begin_spec.size == end_spec.size, "begin and end have different lengths")
    ctx.check(begin_spec.size <= 31, "at most 31 indices are supported")
    opts = {k: int(getattr(ctx.options, k, 0) or 0) for k in
            ("beginMask", "endMask", "ellipsisMask", "newAxisMask", "shrinkAxisMask")}
    offset = bool(getattr(ctx.options, "offset", False))
    strides = int_values(ctx, 3, "strides", (np.int32,))
    ctx.check(len(strides) >= begin_spec.size, "strides is shorter than begin")
    strides = strides[:begin_spec.size]
    end = int_values(ctx, 2, "end", (np.int32,))
    begin = int_values(ctx, 1, "begin", (np.int32,)) if begin_spec.data is not None else None
    ctx.check(begin is not None or offset, "begin (input 1) must be a constant; its value is "
                                           "only known at run time")
    axes = effective_params(ctx, x.rank, x.shape, begin, end, strides, opts)

    out_shape, dims, starts, counts, steps = [], [], [], [], []
    for idx, (dim, start, stop, stride, bmask, emask, shrink, j) in enumerate(axes):
        ctx.check(stride != 0, "stride value has to be non-zero")
        ctx.check(stride != INT32_MIN, "stride value INT32_MIN is not supported")
        first = start_for_axis(dim, start, stride, bmask)
        if shrink:
            # TFLite writes nothing (leaves the output undefined) in both cases; TensorFlow
            # rejects them.
            ctx.check(0 <= first < dim, f"shrunk index {start} is out of range for a "
                                        f"dimension of {dim}")
            ctx.check(stride > 0, f"a shrunk axis needs a positive stride, has {stride}")
            n = 1
        else:
            if offset:
                ctx.check(idx < len(end), "offset mode needs one size per effective axis")
                n = output_dim(0, end[idx], stride)
            else:
                last = end_for_axis(dim, first, stop, stride, emask, False, False)
                n = output_dim(first, last, stride)
            ctx.check(0 <= n <= INT32_MAX, f"output dimension {n} overflows")
            out_shape.append(n)
            if begin is not None:
                # What eval walks must fill the output; with `offset` a window reaching past
                # the input would not (TFLite leaves the rest undefined).
                last = end_for_axis(dim, first, stop, stride, emask, False, offset)
                ctx.check(loop_count(first, last, stride) == n,
                          f"begin {begin}, end {end}, strides {strides} reach outside the input "
                          f"{list(x.shape)} on axis {idx}")
        dims.append(dim)
        starts.append(first)
        counts.append(n)
        steps.append(stride)
    ctx.set_output(0, out_shape)
    strides_eff = row_major_strides(dims)
    if begin is None:
        # Axes with a begin-mask bit (or none of begin's entries) keep the start found above.
        begin_index = [-1 if bmask else j for (_, _, _, _, bmask, _, _, j) in axes]
        plan = plan_strided(ctx, 0, counts, [s * st for s, st in zip(steps, strides_eff)])
        return eval_sliding, _sliding(ctx, plan, begin_index, starts, dims, counts, steps)
    base = 0 if 0 in counts else sum(s * st for s, st in zip(starts, strides_eff))
    return eval_strided, plan_strided(ctx, base, counts, [s * st for s, st in zip(steps, strides_eff)])


def eval_slice(data, ins, outs, scratch):
    run, plan = data
    run(plan, ins, outs, scratch)


register_builtin("SLICE", prepare_slice, eval_slice)
register_builtin("STRIDED_SLICE", prepare_strided_slice, eval_slice)
