"""Comparisons, logical ops and select.

LESS, LESS_EQUAL, GREATER, GREATER_EQUAL, EQUAL, NOT_EQUAL: float32, int32, int64, int16 (EQUAL
and NOT_EQUAL also bool) and quantized int8/uint8 -> bool. LOGICAL_AND, LOGICAL_OR, LOGICAL_NOT:
bool. SELECT_V2 and SELECT: bool condition, values of any fixed-size type (they only move bits, so
values are handled as unsigned integers of their width: one compiled loop per width; quantized
values need no rescaling since x, y and the output share their parameters in a valid model).

Quantized comparisons (tflite/kernels/comparisons.cc, reference comparisons.h): int8 and uint8
inputs, whatever their scales, are compared on a common footing: each ((x - zp) << 8) times its
scale as a Q31 multiplier (SaturatingRoundingDoublingHighMul, then a rounding right shift), into
int32 scratch, then the int32 loop compares. int16 is rescaled the same way by EQUAL and
NOT_EQUAL when quantized, and compared raw by the ordering ops (as the official kernels do).
Scales of 1 and above are refused: the official kernel aborts on 1 and computes with an undefined
shift above. One difference: an unquantized int16 NOT_EQUAL compares raw values here; the
official kernel leaves such an output unwritten.

All binary/ternary ops broadcast like numpy. prepare() reduces the broadcast with broadcast_plan():
size-1 output axes are dropped and neighbouring axes that every operand treats alike (runs along
both, or broadcasts both) are merged, leaving at most MAX_DIMS axes; each operand gets element
strides, 0 where it broadcasts. eval walks the output one row (last merged axis) at a time, so the
same-shape and scalar cases are single flat loops. PRELU (activations.py) uses the same plan.
"""
import functools

import numpy as np

from ..registry import register_builtin
from .common import broadcast_shape, jit
from .qmath import quantize_multiplier, rdbpot, srdhm

MAX_DIMS = 6

OP_LESS, OP_LESS_EQUAL, OP_GREATER, OP_GREATER_EQUAL, OP_EQUAL, OP_NOT_EQUAL, OP_AND, OP_OR = range(8)

COMPARISONS = {"LESS": OP_LESS, "LESS_EQUAL": OP_LESS_EQUAL, "GREATER": OP_GREATER,
               "GREATER_EQUAL": OP_GREATER_EQUAL, "EQUAL": OP_EQUAL, "NOT_EQUAL": OP_NOT_EQUAL}
LOGICAL = {"LOGICAL_AND": OP_AND, "LOGICAL_OR": OP_OR}

# Unsigned integer of each width: how SELECT moves values without caring what they mean.
_BITS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def broadcast_plan(shapes, out_shape):
    """(dims, strides) for walking out_shape over operands of `shapes` (numpy broadcasting):
    dims has MAX_DIMS entries whose product is the output size; strides[k] gives operand k's
    element stride per axis, 0 where it broadcasts. None when more than MAX_DIMS axes remain
    after merging."""
    rank = len(out_shape)
    padded = [(1,) * (rank - len(s)) + tuple(s) for s in shapes]
    groups = []  # [pattern, length]; pattern[k]: operand k runs along this axis
    for axis, n in enumerate(out_shape):
        if n == 1:
            continue
        pattern = tuple(p[axis] == n for p in padded)
        if groups and groups[-1][0] == pattern:
            groups[-1][1] *= n
        else:
            groups.append([pattern, n])
    if len(groups) > MAX_DIMS:
        return None
    groups = [[(False,) * len(shapes), 1]] * (MAX_DIMS - len(groups)) + groups
    dims = tuple(int(n) for _, n in groups)
    strides = []
    for k in range(len(shapes)):
        st, step = [0] * MAX_DIMS, 1
        for d in range(MAX_DIMS - 1, -1, -1):
            if groups[d][0][k]:
                st[d] = step
                step *= dims[d]
        strides.append(tuple(st))
    return dims, strides


def plan_broadcast(ctx, shapes, out_shape):
    plan = broadcast_plan(shapes, out_shape)
    ctx.check(plan is not None, "broadcasting " + ", ".join(str(list(s)) for s in shapes)
              + f" needs more than {MAX_DIMS} distinct axes")
    return plan


@jit(inline="always")
def row_offset(row, dims, strides):
    """Element offset where output row `row` (an index over the first MAX_DIMS-1 axes) starts in
    an operand with these strides."""
    off = 0
    for d in range(MAX_DIMS - 2, -1, -1):
        n = dims[d]
        if n > 1:
            off += (row % n) * strides[d]
            row //= n
    return off


@jit(inline="always")
def next_row(pos, dims):
    """Rows are walked in order; pos is the previous row's index along axis MAX_DIMS-2. Returns
    the new index and whether it wrapped: if not, each operand's offset just moves by its stride
    on that axis; if it did, the caller recomputes offsets with row_offset (no division per row)."""
    pos += 1
    if pos == dims[MAX_DIMS - 2]:
        return 0, True
    return pos, False


# Loop bodies index row slices with the loop counter: numba then knows the index is not negative
# and skips the wrap-around test that otherwise keeps LLVM from vectorizing (10x slower). Kernels
# are made per op and per broadcast pattern of the last axis, both fixed at compile time: a run-time
# test of either inside the row loop made the loops 4-10x slower. Each variant compiles on first
# use (per dtype) and is cached on disk.

@jit
def _compare(op, x, y):
    if op == OP_LESS:
        return x < y
    if op == OP_LESS_EQUAL:
        return x <= y
    if op == OP_GREATER:
        return x > y
    if op == OP_GREATER_EQUAL:
        return x >= y
    if op == OP_EQUAL:
        return x == y
    if op == OP_NOT_EQUAL:
        return x != y
    if op == OP_AND:
        return x != 0 and y != 0
    return x != 0 or y != 0


@functools.lru_cache(maxsize=None)
def compare_kernel(op, a_runs, b_runs):
    """out = a <op> b under a broadcast plan; a_runs/b_runs: whether the operand runs along the
    last axis (stride 1) or repeats one value there (stride 0)."""
    @jit
    def compare(a, b, out, dims, sa, sb):
        n = dims[MAX_DIMS - 1]
        rows = out.size // n if n > 0 else 0
        ia = ib = pos = 0
        for r in range(rows):
            if r > 0:
                pos, wrapped = next_row(pos, dims)
                ia = row_offset(r, dims, sa) if wrapped else ia + sa[MAX_DIMS - 2]
                ib = row_offset(r, dims, sb) if wrapped else ib + sb[MAX_DIMS - 2]
            orow = out[r * n:(r + 1) * n]
            if a_runs and b_runs:
                arow, brow = a[ia:ia + n], b[ib:ib + n]
                for k in range(n):
                    orow[k] = _compare(op, arow[k], brow[k])
            elif b_runs:
                x, brow = a[ia], b[ib:ib + n]
                for k in range(n):
                    orow[k] = _compare(op, x, brow[k])
            else:
                arow, y = a[ia:ia + n], b[ib]
                for k in range(n):
                    orow[k] = _compare(op, arow[k], y)
    return compare


@jit
def logical_not(x, out):
    for i in range(x.size):
        out[i] = not x[i]


@functools.lru_cache(maxsize=None)
def select_kernel(all_run):
    """out = x if cond else y under a broadcast plan; x, y, out share one dtype. all_run: every
    operand runs along the last axis (the common case, vectorized); otherwise generic strides."""
    @jit
    def select(cond, x, y, out, dims, sc, sx, sy):
        n = dims[MAX_DIMS - 1]
        rows = out.size // n if n > 0 else 0
        dc, dx, dy = sc[MAX_DIMS - 1], sx[MAX_DIMS - 1], sy[MAX_DIMS - 1]   # 1 or 0 each
        ic = ix = iy = pos = 0
        for r in range(rows):
            if r > 0:
                pos, wrapped = next_row(pos, dims)
                ic = row_offset(r, dims, sc) if wrapped else ic + sc[MAX_DIMS - 2]
                ix = row_offset(r, dims, sx) if wrapped else ix + sx[MAX_DIMS - 2]
                iy = row_offset(r, dims, sy) if wrapped else iy + sy[MAX_DIMS - 2]
            orow = out[r * n:(r + 1) * n]
            if all_run:
                crow, xrow, yrow = cond[ic:ic + n], x[ix:ix + n], y[iy:iy + n]
                for k in range(n):
                    xv, yv = xrow[k], yrow[k]    # both loaded: the choice becomes a vector select
                    orow[k] = xv if crow[k] else yv
            else:
                for k in range(n):
                    xv, yv = x[ix + k * dx], y[iy + k * dy]
                    orow[k] = xv if cond[ic + k * dc] else yv
    return select


# -- comparisons and logical and/or ---------------------------------------------------------

COMPARE_LEFT_SHIFT = 8      # headroom the quantized comparison gives its rescaled values


@jit
def rescale_for_compare(x, out, zero_point, multiplier, shift):
    """out = ((x - zp) << 8) * scale as int32 (MultiplyByQuantizedMultiplierSmallerThanOneExp)."""
    for i in range(x.size):
        out[i] = rdbpot(srdhm((np.int64(x[i]) - zero_point) << COMPARE_LEFT_SHIFT, multiplier), -shift)


def _rescaling(ctx, spec):
    """(zero point, multiplier, shift) that put a quantized input on the common footing."""
    scale = spec.scale if spec.quantization is not None else 0.0
    ctx.check(scale < 1.0, f"tensor {spec.index} ({spec.name!r}) has the quantization scale {scale}; "
                           "quantized comparisons take scales below 1")
    multiplier, shift = quantize_multiplier(scale)
    return np.int64(spec.zero_point), np.int64(multiplier), np.int64(shift)


def make_prepare_compare(op):
    logical = op in (OP_AND, OP_OR)

    def prepare(ctx):
        ctx.check_inputs(2)
        a, b = ctx.inputs
        out = ctx.outputs[0]
        if logical:
            ctx.check_dtype(a, np.bool_)
        elif op in (OP_EQUAL, OP_NOT_EQUAL):
            ctx.check_dtype(a, np.float32, np.int32, np.int64, np.bool_, np.int8, np.uint8, np.int16)
        else:
            ctx.check_dtype(a, np.float32, np.int32, np.int64, np.int8, np.uint8, np.int16)
        ctx.check(b is not None and b.dtype == a.dtype,
                  f"input types differ: {a.type_name} and {b.type_name if b else 'missing'}")
        ctx.check_dtype(out, np.bool_)
        shape = broadcast_shape(ctx, a.shape, b.shape)
        ctx.set_output(0, shape)
        dims, (sa, sb) = plan_broadcast(ctx, [a.shape, b.shape], shape)
        kernel = compare_kernel(op, sa[-1] == 1, sb[-1] == 1)
        rescale = a.dtype in (np.int8, np.uint8) or (
            a.dtype == np.int16 and op in (OP_EQUAL, OP_NOT_EQUAL) and a.quantization is not None)
        if not rescale:
            return kernel, dims, sa, sb, None
        if a.dtype != np.int16:
            ctx.check(a.quantization is not None and b.quantization is not None,
                      f"{a.type_name} inputs without quantization parameters")
        scratch = (ctx.scratch((a.size,), np.int32), ctx.scratch((b.size,), np.int32))
        return kernel, dims, sa, sb, (scratch, _rescaling(ctx, a), _rescaling(ctx, b))
    return prepare


def eval_compare(data, ins, outs, scratch):
    kernel, dims, sa, sb, rescale = data
    a, b = ins[0].reshape(-1), ins[1].reshape(-1)
    if rescale is not None:
        (slot_a, slot_b), params_a, params_b = rescale
        rescale_for_compare(a, scratch[slot_a], *params_a)
        rescale_for_compare(b, scratch[slot_b], *params_b)
        a, b = scratch[slot_a], scratch[slot_b]
    kernel(a, b, outs[0].reshape(-1), dims, sa, sb)


def prepare_logical_not(ctx):
    ctx.check_inputs(1)
    ctx.check_dtype(ctx.inputs[0], np.bool_)
    ctx.check_dtype(ctx.outputs[0], np.bool_)
    ctx.set_output(0, ctx.inputs[0].shape)
    return None


def eval_logical_not(data, ins, outs, scratch):
    logical_not(ins[0].reshape(-1), outs[0].reshape(-1))


# -- select ---------------------------------------------------------------------------------

def _check_select_types(ctx):
    ctx.check_inputs(3)
    cond, x, y = ctx.inputs
    out = ctx.outputs[0]
    ctx.check_dtype(cond, np.bool_)
    ctx.check(x is not None and y is not None, "a required input is missing")
    ctx.check(x.dtype is not None and x.dtype.itemsize in _BITS and x.dtype.kind in "biuf",
              f"values of type {x.type_name} are not supported")
    ctx.check(y.dtype == x.dtype and out.dtype == x.dtype,
              f"value and output types differ: {x.type_name}, {y.type_name} -> {out.type_name}")
    return cond, x, y


def prepare_select_v2(ctx):
    cond, x, y = _check_select_types(ctx)
    shape = broadcast_shape(ctx, cond.shape, x.shape, y.shape)
    ctx.set_output(0, shape)
    return _select_data(ctx, [cond.shape, x.shape, y.shape], shape, x.dtype)


def _select_data(ctx, shapes, out_shape, dtype):
    dims, strides = plan_broadcast(ctx, shapes, out_shape)
    kernel = select_kernel(all(st[-1] == 1 for st in strides))
    return (kernel, _BITS[dtype.itemsize], dims) + tuple(strides)


def prepare_select(ctx):
    """SELECT (v1): x and y have one shape; the condition has it too, or is a scalar, or is a
    vector picking whole slices along axis 0."""
    cond, x, y = _check_select_types(ctx)
    ctx.check(x.shape == y.shape, f"x {list(x.shape)} and y {list(y.shape)} differ in shape")
    if cond.shape == x.shape or cond.rank == 0:
        cond_shape = cond.shape
    else:
        ctx.check(cond.rank == 1 and x.rank >= 1 and cond.shape[0] == x.shape[0],
                  f"condition {list(cond.shape)} must have the shape of x {list(x.shape)}, "
                  "be a scalar, or be a vector over x's first axis")
        cond_shape = cond.shape + (1,) * (x.rank - 1)
    ctx.set_output(0, x.shape)
    return _select_data(ctx, [cond_shape, x.shape, y.shape], x.shape, x.dtype)


def eval_select(data, ins, outs, scratch):
    kernel, bits, dims, sc, sx, sy = data
    kernel(ins[0].reshape(-1), ins[1].reshape(-1).view(bits), ins[2].reshape(-1).view(bits),
           outs[0].reshape(-1).view(bits), dims, sc, sx, sy)


for _name, _op in {**COMPARISONS, **LOGICAL}.items():
    register_builtin(_name, make_prepare_compare(_op), eval_compare)
register_builtin("LOGICAL_NOT", prepare_logical_not, eval_logical_not)
register_builtin("SELECT", prepare_select, eval_select)
register_builtin("SELECT_V2", prepare_select_v2, eval_select)
