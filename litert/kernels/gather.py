"""GATHER (axis, batch_dims) and GATHER_ND.

Indices are data, so their range is checked on every invoke, as TFLite does: a negative or too
large index makes invoke() fail with IndexOutOfRangeError instead of reading outside the input.
Indices known at prepare time are checked there (PrepareError).
"""
import numpy as np

from ..errors import InvokeError
from ..registry import register_builtin
from .common import jit, normalize_axis
from .reshape import as_bits, check_dtype_in, check_same_dtype

GATHER_TYPES = (np.float32, np.float16, np.uint8, np.int8, np.int16, np.uint16, np.int32,
                np.int64, np.bool_)
INDEX_TYPES = (np.int16, np.int32, np.int64)


class IndexOutOfRangeError(InvokeError):
    """An index tensor points outside the input (raised by invoke, like the official
    interpreter's RuntimeError)."""


@jit
def gather_rows(src, idx, dst):
    """dst[b, o, i, :] = src[b, o, idx[b, i], :]. Returns the number of bad indices (nothing is
    written then)."""
    nb, no, na, ni = src.shape
    nc = idx.shape[1]
    bad = 0
    for b in range(nb):
        for i in range(nc):
            c = idx[b, i]
            if c < 0 or c >= na:
                bad += 1
    if bad:
        return bad
    for b in range(nb):
        for o in range(no):
            for i in range(nc):
                c = idx[b, i]
                for k in range(ni):
                    dst[b, o, i, k] = src[b, o, c, k]
    return 0


@jit
def gather_nd_slices(src, idx, dims, dims_to_count, dst):
    """dst[i, :] = src[sum_j idx[i, j] * dims_to_count[j] :][:slice]. src flat; idx [n, nd];
    dst [n, slice]. Returns the number of indices outside their dimension (0 <= idx < dims)."""
    n, nd = idx.shape
    size = dst.shape[1]
    bad = 0
    for i in range(n):
        for j in range(nd):
            v = idx[i, j]
            if v < 0 or v >= dims[j]:
                bad += 1
    if bad:
        return bad
    for i in range(n):
        pos = 0
        for j in range(nd):
            pos += np.int64(idx[i, j]) * dims_to_count[j]
        for k in range(size):
            dst[i, k] = src[pos + k]
    return 0


# -- GATHER ---------------------------------------------------------------------------------

def prepare_gather(ctx):
    ctx.check_inputs(2)
    x, positions = ctx.inputs
    out = ctx.outputs[0]
    check_dtype_in(ctx, x, GATHER_TYPES, "GATHER")
    check_same_dtype(ctx, x, out)
    ctx.check_dtype(positions, *INDEX_TYPES)
    ctx.check(x.rank >= 1, "input must have at least one dimension")
    axis = normalize_axis(ctx, int(getattr(ctx.options, "axis", 0) or 0), x.rank)
    batch_dims = int(getattr(ctx.options, "batchDims", 0) or 0)
    if batch_dims < 0:
        batch_dims += positions.rank
    ctx.check(0 <= batch_dims <= axis and batch_dims < x.rank and batch_dims <= positions.rank,
              f"batch_dims {batch_dims} must be in [0, axis {axis}] and within both ranks")
    ctx.check(x.shape[:batch_dims] == positions.shape[:batch_dims],
              f"the first {batch_dims} dimensions of {list(x.shape)} and {list(positions.shape)} differ")
    ctx.set_output(0, x.shape[:axis] + positions.shape[batch_dims:] + x.shape[axis + 1:])
    if positions.data is not None:
        bad = positions.data[(positions.data < 0) | (positions.data >= x.shape[axis])]
        if bad.size:
            raise ctx.error(f"index {int(bad[0])} is out of range for axis {axis} of size {x.shape[axis]}")
    prod = lambda dims: int(np.prod(dims, dtype=np.int64))  # noqa: E731
    batch = prod(x.shape[:batch_dims])
    src_shape = (batch, prod(x.shape[batch_dims:axis]), x.shape[axis], prod(x.shape[axis + 1:]))
    idx_shape = (batch, prod(positions.shape[batch_dims:]))
    dst_shape = src_shape[:2] + idx_shape[1:] + src_shape[3:]
    return src_shape, idx_shape, dst_shape, axis


def eval_gather(data, ins, outs, scratch):
    src_shape, idx_shape, dst_shape, axis = data
    bad = gather_rows(as_bits(ins[0]).reshape(src_shape), ins[1].reshape(idx_shape),
                      as_bits(outs[0]).reshape(dst_shape))
    if bad:
        raise IndexOutOfRangeError(f"GATHER: {bad} indices are outside [0, {src_shape[2]}) "
                                   f"for axis {axis}")


# -- GATHER_ND ------------------------------------------------------------------------------

def prepare_gather_nd(ctx):
    ctx.check_inputs(2)
    params, indices = ctx.inputs
    out = ctx.outputs[0]
    check_dtype_in(ctx, params, GATHER_TYPES, "GATHER_ND")
    check_same_dtype(ctx, params, out)
    ctx.check_dtype(indices, *INDEX_TYPES)
    ctx.check(params.rank >= 1, "params must be at least a vector")
    ctx.check(indices.rank >= 1, "indices must be at least a vector")
    nd = indices.shape[-1]
    ctx.check(nd <= params.rank, f"index depth {nd} exceeds the params rank {params.rank}")
    ctx.check(params.size > 0 or indices.size == 0, "params is empty")
    ctx.set_output(0, indices.shape[:-1] + params.shape[nd:])
    # TFLite's GatherNdHelper: row-major element counts per indexed dimension.
    dims_to_count, remain = [], params.size
    for d in params.shape[:nd]:
        remain = remain // d if d else 0
        dims_to_count.append(remain)
    n_slices = int(np.prod(indices.shape[:-1], dtype=np.int64))
    slice_size = int(np.prod(params.shape[nd:], dtype=np.int64))
    dims = ctx.persistent(np.array(params.shape[:nd], np.int64))
    return (n_slices, nd), (n_slices, slice_size), dims, ctx.persistent(np.array(dims_to_count, np.int64))


def eval_gather_nd(data, ins, outs, scratch):
    idx_shape, dst_shape, dims, dims_to_count = data
    bad = gather_nd_slices(as_bits(ins[0]), ins[1].reshape(idx_shape), dims, dims_to_count,
                           as_bits(outs[0]).reshape(dst_shape))
    if bad:
        raise IndexOutOfRangeError(f"GATHER_ND: {bad} indices are outside their dimension of "
                                   f"{list(dims)}")


register_builtin("GATHER", prepare_gather, eval_gather)
register_builtin("GATHER_ND", prepare_gather_nd, eval_gather_nd)
