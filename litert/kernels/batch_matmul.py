"""BATCH_MATMUL (float32): out[..., m, n] = sum_k X[..., m, k] * Y[..., k, n], with adj_x / adj_y
transposing the last two dims of an operand and numpy broadcasting of the batch dims (ranks 2..5).

Every output batch is one call of the shared GEMM micro-kernel (gemm.py). prepare() turns the batch
broadcast into two index lists (which lhs and which rhs matrix feed output batch i). The rhs
matrices are packed into gemm's panels: once into the persistent area when the rhs is constant,
else into scratch on every invoke. An adj_x lhs is transposed into scratch (gemm reads lhs rows).
"""
import numpy as np

from ..registry import register_builtin
from .common import jit
from .fully_connected import packed_bias, packed_weights
from .gemm import NR, gemm, pack_weights, panels


def prepare_batch_matmul(ctx):
    ctx.check_inputs(2)
    lhs, rhs = ctx.inputs
    ctx.check(lhs is not None and rhs is not None, "both operands are required")
    if lhs.dtype == np.float32 and rhs.dtype == np.float32:
        return _prepare_float(ctx)
    if lhs.dtype == np.float32:
        raise ctx.error(f"hybrid BATCH_MATMUL ({rhs.type_name} rhs, float32 lhs) is not supported yet")
    raise ctx.error(f"input type {lhs.type_name} is not supported yet (float32 only)")


def _prepare_float(ctx):
    lhs, rhs = ctx.inputs
    ctx.check_dtype(rhs, np.float32)
    ctx.check_dtype(ctx.outputs[0], np.float32)
    for name, t in (("lhs", lhs), ("rhs", rhs)):
        ctx.check(2 <= t.rank <= 5, f"{name} has rank {t.rank}; BATCH_MATMUL supports ranks 2..5")
    adj_x = bool(getattr(ctx.options, "adjX", False))
    adj_y = bool(getattr(ctx.options, "adjY", False))
    rank = max(lhs.rank, rhs.rank)
    ls = (1,) * (rank - lhs.rank) + lhs.shape
    rs = (1,) * (rank - rhs.rank) + rhs.shape
    batch = []
    for dl, dr in zip(ls[:-2], rs[:-2]):
        ctx.check(dl == dr or dl == 1 or dr == 1,
                  f"batch dimensions of {list(lhs.shape)} and {list(rhs.shape)} do not broadcast")
        batch.append(dr if dl == 1 else dl)
    m, k = (ls[-1], ls[-2]) if adj_x else (ls[-2], ls[-1])
    k_rhs, n = (rs[-1], rs[-2]) if adj_y else (rs[-2], rs[-1])
    ctx.check(k == k_rhs, f"inner dimensions differ: lhs {list(lhs.shape)} (adj_x={adj_x}) and "
                          f"rhs {list(rhs.shape)} (adj_y={adj_y})")
    ctx.set_output(0, tuple(batch) + (m, n))

    # Which lhs/rhs matrix feeds each output batch (row-major over the broadcast batch shape).
    out_batches = int(np.prod(batch, dtype=np.int64))
    grid_shape = tuple(batch)
    lhs_index = _source_index(grid_shape, ls[:-2])
    rhs_index = _source_index(grid_shape, rs[:-2])
    lhs_count = int(np.prod(ls[:-2], dtype=np.int64))
    rhs_count = int(np.prod(rs[:-2], dtype=np.int64))
    # One rhs matrix and a plain lhs: all lhs batches form one tall matrix (fewer, longer calls).
    if rhs_count == 1 and not adj_x and lhs_count == out_batches:
        m, lhs_count, out_batches = m * out_batches, 1, 1
        lhs_index = rhs_index = np.zeros(1, np.int64)

    packed_shape = (rhs_count, panels(n), k, NR)
    if rhs.is_constant:
        mats = np.asarray(rhs.data, np.float32).reshape((rhs_count,) + rhs.shape[-2:])
        rhs_packed = np.empty(packed_shape, np.float32)
        for r in range(rhs_count):
            rhs_packed[r] = packed_weights(mats[r] if adj_y else mats[r].T)   # gemm wants [n, k]
        rhs_packed = ctx.persistent(rhs_packed)
    else:
        rhs_packed = ctx.scratch(packed_shape, np.float32)    # an int: packed on every invoke
    lhs_t = ctx.scratch((lhs_count, m, k), np.float32) if adj_x else None
    shapes = ((lhs_count,) + ((k, m) if adj_x else (m, k)), (rhs_count,) + rs[-2:], (m, n, k))
    return (shapes, adj_y, rhs_packed, lhs_t, ctx.persistent(lhs_index), ctx.persistent(rhs_index),
            ctx.persistent(packed_bias(None, n)))


def _source_index(grid_shape, dims):
    """For each output batch, the flat index of the operand matrix it reads (size-1 dims broadcast)."""
    src = np.arange(int(np.prod(dims, dtype=np.int64))).reshape(dims)
    # a writable copy: numba compiles read-only arrays separately
    return np.array(np.broadcast_to(src, grid_shape).reshape(-1), dtype=np.int64)


def eval_batch_matmul(data, ins, outs, scratch):
    (lhs_shape, rhs_shape, (m, n, k)), adj_y, rhs, lhs_t, lhs_index, rhs_index, bias = data
    lhs = ins[0].reshape(lhs_shape)
    if lhs_t is not None:
        transpose_last2(lhs, scratch[lhs_t])
        lhs = scratch[lhs_t]
    if isinstance(rhs, int):
        rhs = scratch[rhs]
        pack_rhs(ins[1].reshape(rhs_shape), adj_y, rhs)
    batch_matmul_float(m, n, k, lhs.reshape(-1), rhs, lhs_index, rhs_index, bias, outs[0].reshape(-1))


@jit
def pack_rhs(mats, adj_y, packed):
    """Run-time rhs matrices ([k, n], or [n, k] when adj_y) into gemm's panels."""
    for r in range(mats.shape[0]):
        if adj_y:
            pack_weights(mats[r], packed[r])
        else:
            pack_weights(mats[r].T, packed[r])


@jit
def transpose_last2(src, dst):
    """dst[b] = src[b].T, in 32x32 tiles so both sides stay in cache."""
    for b in range(src.shape[0]):
        s, d = src[b], dst[b]
        rows, cols = s.shape
        for i0 in range(0, rows, 32):
            for j0 in range(0, cols, 32):
                for i in range(i0, min(i0 + 32, rows)):
                    for j in range(j0, min(j0 + 32, cols)):
                        d[j, i] = s[i, j]


@jit
def batch_matmul_float(m, n, k, lhs, rhs, lhs_index, rhs_index, bias, out):
    """out batch i = lhs matrix lhs_index[i] @ rhs matrix rhs_index[i]; lhs, out flat."""
    inf = np.float32(np.inf)
    for i in range(rhs_index.shape[0]):
        gemm(m, n, k, lhs, lhs_index[i] * m * k, k, rhs[rhs_index[i]], bias, out, i * m * n, n,
             False, -inf, inf)


register_builtin("BATCH_MATMUL", prepare_batch_matmul, eval_batch_matmul)
