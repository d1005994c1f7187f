"""Constant decoding: DEQUANTIZE (float16, int8, uint8, int16 -> float32) and DENSIFY (sparse
constant -> dense).

Both usually sit behind constant weights, so the runtime runs them once at prepare time and
keeps their outputs as constants (float16 weights in MediaPipe models, sparse weights from the
converter's EXPERIMENTAL_SPARSITY); their eval still works per invoke for a non-constant input.

DEQUANTIZE: out = scale * (q - zero_point) in float32, per tensor or per channel along
quantized_dimension (int8/uint8 only, as TFLite). float16 converts bit by bit (exact).
DENSIFY: the sparse format of TFLite's sparsity_format_converter.cc: dim_metadata lists the
traversal levels in traversal order; a DENSE level of size n has n children per parent, a
SPARSE_CSR level stores its children as array_segments / array_indices; block_map adds block
dimensions after the original ones. Values are stored in traversal order.
"""
import numpy as np

from ..registry import register_builtin
from .. import schema_fb as fb
from .common import jit


@jit
def dequantize_affine(x, out, scales, zero_points):
    """x, out: [outer, channels, inner]; scales (float32) and zero_points (int32) per channel."""
    n_outer, n_channels, n_inner = x.shape
    for o in range(n_outer):
        for c in range(n_channels):
            scale = scales[c]
            zp = zero_points[c]
            xr = x[o, c]
            orow = out[o, c]
            for i in range(n_inner):
                orow[i] = scale * np.float32(np.int32(xr[i]) - zp)


@jit
def half_bits_to_float_bits(h, f):
    """IEEE binary16 bits (uint16) -> binary32 bits (uint32): exact, NaN payloads kept."""
    for i in range(h.size):
        v = np.int64(h[i])
        sign = (v >> 15) << 31
        exp = (v >> 10) & 0x1F
        mant = v & 0x3FF
        if exp == 0x1F:                 # inf / nan
            bits = sign | 0x7F800000 | (mant << 13)
        elif exp != 0:                  # normal: rebias 15 -> 127
            bits = sign | ((exp + 112) << 23) | (mant << 13)
        elif mant == 0:                 # signed zero
            bits = sign
        else:                           # subnormal: normalize the mantissa
            e = 113
            while (mant & 0x400) == 0:
                mant <<= 1
                e -= 1
            bits = sign | (e << 23) | ((mant & 0x3FF) << 13)
        f[i] = bits


# -- DEQUANTIZE ------------------------------------------------------------------------------

def prepare_dequantize(ctx):
    ctx.check_inputs(1)
    x, out = ctx.inputs[0], ctx.outputs[0]
    ctx.check(x is not None and x.dtype is not None, "the input is missing or has no numeric type")
    ctx.check(out.dtype == np.float32, f"output must be float32, got {out.type_name}")
    ctx.set_output(0, x.shape)
    if x.dtype == np.float16:
        return ("half",)
    if x.dtype in (np.int8, np.uint8, np.int16):
        return ("affine", affine_params(ctx, x))
    raise ctx.error(f"DEQUANTIZE from {x.type_name} is not supported; supported: float16, int8, "
                    "uint8, int16")


def affine_params(ctx, x):
    """(view shape [outer, channels, inner], scales float32, zero points int32)."""
    q = x.quantization
    ctx.check(q is not None and q.scales.size > 0,
              f"tensor {x.index} ({x.name!r}) is {x.type_name} without quantization parameters")
    scales = np.asarray(q.scales, np.float32)
    zps = np.asarray(q.zero_points, np.int64)
    if scales.size == 1:
        return (1, 1, x.size), ctx.persistent(scales), ctx.persistent(zps[:1].astype(np.int32))
    ctx.check(x.dtype != np.int16, "per-channel DEQUANTIZE of int16 is not supported (TFLite: "
                                   "int8 and uint8 only)")
    axis = q.quantized_dimension
    ctx.check(0 <= axis < x.rank and x.shape[axis] == scales.size,
              f"{scales.size} per-channel scales do not fit dimension {axis} of shape {list(x.shape)}")
    outer = int(np.prod(x.shape[:axis], dtype=np.int64))
    inner = int(np.prod(x.shape[axis + 1:], dtype=np.int64))
    return ((outer, scales.size, inner), ctx.persistent(scales), ctx.persistent(zps.astype(np.int32)))


def eval_dequantize(data, ins, outs, scratch):
    x, out = ins[0], outs[0]
    if data[0] == "half":
        half_bits_to_float_bits(x.reshape(-1).view(np.uint16), out.reshape(-1).view(np.uint32))
        return
    shape, scales, zps = data[1]
    dequantize_affine(x.reshape(shape), out.reshape(shape), scales, zps)


register_builtin("DEQUANTIZE", prepare_dequantize, eval_dequantize)


# -- DENSIFY ---------------------------------------------------------------------------------

def prepare_densify(ctx):
    ctx.check_inputs(1)
    src, out = ctx.inputs[0], ctx.outputs[0]
    ctx.check(src is not None, "the input is missing")
    ctx.check(src.dtype in (np.float32, np.float16, np.int8),
              f"DENSIFY of {src.type_name} is not supported; supported: float32, float16, int8")
    ctx.check(out.dtype == src.dtype, f"input and output types differ: {src.type_name} -> {out.type_name}")
    ctx.check(src.sparsity is not None and src.data is not None,
              f"input tensor {src.index} ({src.name!r}) is not sparse (DENSIFY needs a sparse constant)")
    dense = densify(ctx, src.sparsity, src.data, src.shape)
    ctx.set_output(0, src.shape)
    return ctx.persistent(dense)


def eval_densify(dense, ins, outs, scratch):
    np.copyto(outs[0], dense)


def _index_vector(ctx, vec, what):
    values = getattr(vec, "values", None)
    ctx.check(values is not None, f"sparsity: {what} is missing")
    return np.asarray(values, np.int64).reshape(-1)


def densify(ctx, sp, values, shape):
    """The dense array a sparse constant encodes, every index checked against the shape."""
    rank = len(shape)
    order = [int(d) for d in (sp.traversalOrder if sp.traversalOrder is not None else [])]
    block_map = [int(d) for d in (sp.blockMap if sp.blockMap is not None else [])]
    levels = list(sp.dimMetadata or [])
    total = rank + len(block_map)
    ctx.check(len(order) == total and len(levels) == total,
              f"sparsity: a rank-{rank} tensor with {len(block_map)} block dimensions needs {total} "
              f"traversal levels; traversal_order has {len(order)}, dim_metadata {len(levels)}")
    ctx.check(sorted(order[:rank]) == list(range(rank)) and sorted(order[rank:]) == list(range(rank, total)),
              f"sparsity: traversal_order {order} must list the {rank} tensor dimensions, then the "
              "block dimensions")
    ctx.check(all(0 <= d < rank for d in block_map) and block_map == sorted(set(block_map)),
              f"sparsity: block_map {block_map} must name distinct dimensions in increasing order")
    dense_sizes = [int(m.denseSize) for m in levels]
    level_of = {dim: lvl for lvl, dim in enumerate(order)}
    # block k of dimension block_map[k] has the size of its (dense) level
    block_sizes = []
    for k, d in enumerate(block_map):
        lvl = level_of[rank + k]
        size = dense_sizes[lvl]
        ctx.check(levels[lvl].format == fb.DimensionType.DENSE and size > 0 and shape[d] % size == 0,
                  f"sparsity: block dimension {k} must be dense with a size dividing {shape[d]}, got "
                  f"size {size}")
        block_sizes.append(size)
    expanded = list(shape) + block_sizes          # size of each expanded dimension
    for k, d in enumerate(block_map):
        expanded[d] = shape[d] // block_sizes[k]

    # Walk the levels in traversal order: `parents` numbers the positions reached so far (the
    # index a CSR level's segments are looked up with), `coords` their coordinate per level.
    parents = np.zeros(1, np.int64)
    coords = []
    for lvl, meta in enumerate(levels):
        n = expanded[order[lvl]]
        if meta.format == fb.DimensionType.DENSE:
            ctx.check(dense_sizes[lvl] == n, f"sparsity: level {lvl} is dense with size {dense_sizes[lvl]}, "
                                             f"but its dimension has size {n}")
            coords = [np.repeat(c, n) for c in coords] + [np.tile(np.arange(n, dtype=np.int64), parents.size)]
            parents = (parents[:, None] * n + np.arange(n, dtype=np.int64)).reshape(-1)
        elif meta.format == fb.DimensionType.SPARSE_CSR:
            seg = _index_vector(ctx, meta.arraySegments, f"level {lvl} array_segments")
            idx = _index_vector(ctx, meta.arrayIndices, f"level {lvl} array_indices")
            ctx.check(seg.size >= 1 and seg[0] >= 0 and np.all(np.diff(seg) >= 0) and seg[-1] <= idx.size,
                      f"sparsity: level {lvl} array_segments must rise from >= 0 to at most "
                      f"{idx.size} (the number of indices)")
            ctx.check(parents.size == 0 or parents.max() + 1 < seg.size,
                      f"sparsity: level {lvl} has {seg.size - 1} segments, too few for its parents")
            ctx.check(np.all((idx >= 0) & (idx < n)),
                      f"sparsity: level {lvl} array_indices fall outside its dimension of size {n}")
            counts = seg[parents + 1] - seg[parents]
            children = (np.repeat(seg[parents] - np.cumsum(counts) + counts, counts)
                        + np.arange(counts.sum(), dtype=np.int64))
            coords = [np.repeat(c, counts) for c in coords] + [idx[children]]
            parents = children
        else:
            raise ctx.error(f"sparsity: level {lvl} has unknown format {meta.format}")

    count = parents.size
    ctx.check(values.size >= count, f"sparsity: the format addresses {count} values, but the tensor "
                                    f"stores {values.size}")
    dims = [None] * total
    for lvl, c in enumerate(coords):
        dims[order[lvl]] = c
    original = dims[:rank]
    for k, d in enumerate(block_map):
        original[d] = original[d] * block_sizes[k] + dims[rank + k]
    dense = np.zeros(shape, values.dtype)
    if count:
        dense[tuple(original)] = values[:count]
    return dense


register_builtin("DENSIFY", prepare_densify, eval_densify)
