"""BATCH_MATMUL: out[..., m, n] = sum_k X[..., m, k] * Y[..., k, n], with adj_x / adj_y
transposing the last two dims of an operand and numpy broadcasting of the batch dims (ranks 2..5)
(TFLite batch_matmul.cc). prepare() turns the batch broadcast into two index lists (which lhs
and which rhs matrix feed output batch i) and dispatches on the types:

- float32: every output batch is one call of the shared GEMM micro-kernel (gemm.py). The rhs
  matrices are packed into gemm's panels: once into the persistent area when the rhs is constant,
  else into scratch on every invoke. An adj_x lhs is transposed into scratch (gemm reads rows).
- integer: int8 x int8 -> int8 (requantized: MultiplyByQuantizedMultiplier, double rounding) or
  -> int32 (the raw sums; the reference ignores zero points there), int16 x int16 and int16 x int8
  -> int16 (int64 sums, the int64 MultiplyByQuantizedMultiplier; zero points 0). The rhs is
  transposed to [n, k] rows for matmul_int8.int_gemm (once when constant); the zero points are
  folded into per-row and per-column corrections (matmul_int8 docstring).
- hybrid (float32 lhs, int8 rhs, per-tensor or per-channel along n): lhs rows quantized on the fly
  (symmetric, or asymmetric with BatchMatMulOptions.asymmetric_quantize_inputs), int8 products,
  scaled back to float as the reference does (EvalHybrid). The official kernel indexes its
  per-row scales wrongly when the lhs has more than one batch dimension of size > 1; litert
  scales every row with its own factor.
With num_threads > 1 a big enough op is cut into chunks of output batches or, for one output
matrix, of its rows (litert/threads.py); the operands are prepared (transposed, packed,
quantized) before, by the calling thread.
"""
import numpy as np

from ..registry import register_builtin
from ..threads import plan, run_chunks, with_parts
from .common import jit, require_quantization
from .fully_connected import packed_bias, packed_weights
from .gemm import NR, gemm, pack_weights, panels
from .matmul_int8 import (EPI_MBQM32, EPI_MBQM64, EPI_RAW, hybrid_finish, int_gemm, padded_rows,
                          quantize_rows, weighted_row_sums)
from .qmath import quantize_multiplier
from .sync import chunk_end, chunk_start

I8, I16, I32, F32 = (np.dtype(t) for t in (np.int8, np.int16, np.int32, np.float32))
# (lhs, rhs) -> allowed output types
INTEGER_TYPES = {(I8, I8): (I8, I32), (I16, I16): (I16,), (I16, I8): (I16,)}


def prepare_batch_matmul(ctx):
    ctx.check_inputs(2)
    lhs, rhs = ctx.inputs
    ctx.check(lhs is not None and rhs is not None, "both operands are required")
    types = (lhs.dtype, rhs.dtype)
    if types == (F32, F32):
        return _prepare_float(ctx)
    if types == (F32, I8):
        return _prepare_hybrid(ctx)
    if types in INTEGER_TYPES:
        return _prepare_integer(ctx)
    raise ctx.error(f"operands {lhs.type_name} x {rhs.type_name} are not supported; supported: "
                    "float32 x float32, float32 x int8 (hybrid), int8 x int8, int16 x int16, int16 x int8")


class Layout:
    """The shapes of one BATCH_MATMUL: batch broadcast, matrix sizes, which operand matrix feeds
    each output batch."""

    def __init__(self, ctx):
        lhs, rhs = ctx.inputs
        for name, t in (("lhs", lhs), ("rhs", rhs)):
            ctx.check(2 <= t.rank <= 5, f"{name} has rank {t.rank}; BATCH_MATMUL supports ranks 2..5")
        self.adj_x = bool(getattr(ctx.options, "adjX", False))
        self.adj_y = bool(getattr(ctx.options, "adjY", False))
        rank = max(lhs.rank, rhs.rank)
        ls = (1,) * (rank - lhs.rank) + lhs.shape
        rs = (1,) * (rank - rhs.rank) + rhs.shape
        batch = []
        for dl, dr in zip(ls[:-2], rs[:-2]):
            ctx.check(dl == dr or dl == 1 or dr == 1,
                      f"batch dimensions of {list(lhs.shape)} and {list(rhs.shape)} do not broadcast")
            batch.append(dr if dl == 1 else dl)
        m, k = (ls[-1], ls[-2]) if self.adj_x else (ls[-2], ls[-1])
        k_rhs, n = (rs[-1], rs[-2]) if self.adj_y else (rs[-2], rs[-1])
        ctx.check(k == k_rhs, f"inner dimensions differ: lhs {list(lhs.shape)} (adj_x={self.adj_x}) and "
                              f"rhs {list(rhs.shape)} (adj_y={self.adj_y})")
        ctx.set_output(0, tuple(batch) + (m, n))
        self.m, self.n, self.k = m, n, k
        self.out_count = int(np.prod(batch, dtype=np.int64))
        self.lhs_index = _source_index(tuple(batch), ls[:-2])
        self.rhs_index = _source_index(tuple(batch), rs[:-2])
        self.lhs_count = int(np.prod(ls[:-2], dtype=np.int64))
        self.rhs_count = int(np.prod(rs[:-2], dtype=np.int64))
        self.rhs_matrix = rs[-2:]
        # One rhs matrix and a plain lhs: all lhs batches form one tall matrix (fewer, longer calls).
        if self.rhs_count == 1 and not self.adj_x and self.lhs_count == self.out_count:
            self.m, self.lhs_count, self.out_count = m * self.out_count, 1, 1
            self.lhs_index = self.rhs_index = np.zeros(1, np.int64)

    @property
    def lhs_shape(self):
        """The lhs as eval reads it: [lhs matrices, rows, cols] before any transpose."""
        return (self.lhs_count,) + ((self.k, self.m) if self.adj_x else (self.m, self.k))

    def rhs_rows(self, data):
        """The rhs matrices of a constant as [count, n, k] rows (int_gemm's weight layout)."""
        mats = np.asarray(data).reshape((self.rhs_count,) + self.rhs_matrix)
        return mats if self.adj_y else np.swapaxes(mats, 1, 2)


# One core's speed, to size the work split across threads (litert/threads.py), measured on the
# development machine (x86-64, AVX-512): multiply-adds per us.
FLOAT_MACS_PER_US = 70_000
INTEGER_MACS_PER_US = 40_000
HYBRID_MACS_PER_US = 30_000


def _spans(ctx, lay, macs_per_us):
    """(b0, b1, r0, r1) per thread: output batches b0..b1 or, when there is one output matrix,
    its rows r0..r1."""
    us = lay.out_count * lay.m * lay.n * lay.k / macs_per_us
    if lay.out_count > 1:
        return [(b0, b1, 0, lay.m) for b0, b1 in plan(ctx.num_threads, lay.out_count, us)]
    return [(0, 1, r0, r1) for r0, r1 in plan(ctx.num_threads, lay.m, us, 4)]


def _rows(a, r0, r1):
    """Rows r0..r1 of the matrices of a [count, m, ...] array: the array itself when that is all
    of them, else (count 1) a [1, r1 - r0, ...] view."""
    if r0 == 0 and r1 == a.shape[1]:
        return a
    per_row = a[0, 0].size
    return a.reshape(-1)[r0 * per_row:r1 * per_row].reshape((1, r1 - r0) + a.shape[2:])


def _source_index(grid_shape, dims):
    """For each output batch, the flat index of the operand matrix it reads (size-1 dims broadcast)."""
    src = np.arange(int(np.prod(dims, dtype=np.int64))).reshape(dims)
    # a writable copy: numba compiles read-only arrays separately
    return np.array(np.broadcast_to(src, grid_shape).reshape(-1), dtype=np.int64)


# -- float32 -----------------------------------------------------------------------------------
def _prepare_float(ctx):
    rhs = ctx.inputs[1]
    ctx.check_dtype(ctx.outputs[0], np.float32)
    lay = Layout(ctx)
    m, n, k = lay.m, lay.n, lay.k
    packed_shape = (lay.rhs_count, panels(n), k, NR)
    if rhs.is_constant:
        mats = np.asarray(rhs.data, np.float32).reshape((lay.rhs_count,) + lay.rhs_matrix)
        rhs_packed = np.empty(packed_shape, np.float32)
        for r in range(lay.rhs_count):
            rhs_packed[r] = packed_weights(mats[r] if lay.adj_y else mats[r].T)   # gemm wants [n, k]
        rhs_packed = ctx.persistent(rhs_packed)
    else:
        rhs_packed = ctx.scratch(packed_shape, np.float32)    # an int: packed on every invoke
    lhs_t = ctx.scratch((lay.lhs_count, m, k), np.float32) if lay.adj_x else None
    shapes = (lay.lhs_shape, (lay.rhs_count,) + lay.rhs_matrix, (m, n, k))
    return ("float", shapes, lay.adj_y, rhs_packed, lhs_t, ctx.persistent(lay.lhs_index),
            ctx.persistent(lay.rhs_index), ctx.persistent(packed_bias(None, n)),
            _spans(ctx, lay, FLOAT_MACS_PER_US), [])


def _bind_float(data, ins, outs, scratch):
    _, (lhs_shape, _, (m, n, k)), _, rhs, lhs_t, lhs_index, rhs_index, bias, spans, chunks = data
    lhs = (scratch[lhs_t] if lhs_t is not None else ins[0]).reshape(-1)
    rhs = scratch[rhs] if isinstance(rhs, int) else rhs
    out = outs[0].reshape(-1)
    # rows r0..r1 (of the one output matrix, whose lhs is matrix 0): m = r1 - r0 from row r0
    chunks[:] = with_parts([(r1 - r0, n, k, lhs[r0 * k:], rhs, lhs_index[b0:b1], rhs_index[b0:b1], bias,
                             out[(b0 * m + r0) * n:((b1 - 1) * m + r1) * n]) for b0, b1, r0, r1 in spans])


def _eval_float(data, ins, outs, scratch):
    _, (lhs_shape, rhs_shape, _), adj_y, rhs, lhs_t = data[:5]
    if lhs_t is not None:
        transpose_last2(ins[0].reshape(lhs_shape), scratch[lhs_t])
    if isinstance(rhs, int):
        pack_rhs(ins[1].reshape(rhs_shape), adj_y, scratch[rhs])
    run_chunks(batch_matmul_float, data[-1])


@jit
def pack_rhs(mats, adj_y, packed):
    """Run-time rhs matrices ([k, n], or [n, k] when adj_y) into gemm's panels."""
    for r in range(mats.shape[0]):
        if adj_y:
            pack_weights(mats[r], packed[r])
            continue
        a, dst = mats[r], packed[r]       # [k, n]: pack_weights' layout, written out for a transpose
        k, n = a.shape
        for q in range(dst.shape[0]):
            for p in range(k):
                for j in range(NR):
                    dst[q, p, j] = a[p, q * NR + j] if q * NR + j < n else 0.0


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
def batch_matmul_float(m, n, k, lhs, rhs, lhs_index, rhs_index, bias, out, sync, part):
    """out batch i = lhs matrix lhs_index[i] @ rhs matrix rhs_index[i]; lhs, out flat; chunk
    `part` of the op (sync.py)."""
    if chunk_start(sync, part):
        inf = np.float32(np.inf)
        for i in range(rhs_index.shape[0]):
            gemm(m, n, k, lhs, lhs_index[i] * m * k, k, rhs[rhs_index[i]], bias, out, i * m * n, n,
                 False, -inf, inf)
    chunk_end(sync, part)


# -- integer and hybrid: shared operand handling ------------------------------------------------
def _rhs_operand(ctx, lay, dtype):
    """The rhs as int_gemm weights [count, n_pad, k]: persistent when constant, else a scratch slot
    that eval fills (rhs_to_rows)."""
    rhs = ctx.inputs[1]
    shape = (lay.rhs_count, padded_rows(lay.n), lay.k)
    if rhs.is_constant:
        rows = np.zeros(shape, dtype)
        rows[:, :lay.n] = lay.rhs_rows(rhs.data)
        return ctx.persistent(rows)
    return ctx.scratch(shape, dtype)


@jit
def rhs_to_rows(mats, adj_y, rows):
    """Run-time rhs matrices ([k, n], or [n, k] when adj_y) into rows [count, n_pad, k]."""
    for r in range(mats.shape[0]):
        a, dst = mats[r], rows[r]
        if adj_y:
            for j in range(a.shape[0]):
                for p in range(a.shape[1]):
                    dst[j, p] = a[j, p]
        else:
            for p in range(a.shape[0]):
                for j in range(a.shape[1]):
                    dst[j, p] = a[p, j]


def _lhs_rows(data_lhs_t, lay_shape, ins, scratch):
    lhs = ins[0].reshape(lay_shape)
    if data_lhs_t is not None:
        transpose_last2(lhs, scratch[data_lhs_t])
        return scratch[data_lhs_t]
    return lhs


# -- integer -----------------------------------------------------------------------------------
def _prepare_integer(ctx):
    lhs, rhs = ctx.inputs
    out = ctx.outputs[0]
    ctx.check_dtype(out, *INTEGER_TYPES[(lhs.dtype, rhs.dtype)])
    lay = Layout(ctx)
    m, n, k = lay.m, lay.n, lay.k
    raw = out.dtype == np.int32
    zp_l = zp_r = zp_o = 0
    mult = shift = np.zeros(n, np.int32)
    if not raw:
        ql, qr, qo = (require_quantization(ctx, t, what) for t, what in ((lhs, "lhs"), (rhs, "rhs"), (out, "output")))
        zp_l, zp_r, zp_o = int(ql.zero_points[0]), int(qr.zero_points[0]), int(qo.zero_points[0])
        if lhs.dtype == np.int16:
            ctx.check(zp_l == 0 and zp_r == 0 and zp_o == 0,
                      f"int16 BATCH_MATMUL needs zero points 0, got {zp_l}, {zp_r}, {zp_o}")
        # GetQuantizedConvolutionMultipler: the scale product in float32, the quotient in double
        real = float(np.float32(ql.scales[0]) * np.float32(qr.scales[0])) / float(np.float32(qo.scales[0]))
        mult, shift = (np.full(n, v, np.int32) for v in quantize_multiplier(real))
    info = np.iinfo(out.dtype)
    kind = EPI_RAW if raw else (EPI_MBQM32 if lhs.dtype == np.int8 else EPI_MBQM64)
    rows = _rhs_operand(ctx, lay, rhs.dtype)
    # sum (r - zr)(l - zl) = dot(l, r) + [-zl rowsum(r) + K zl zr] - zr rowsum(l)
    if rhs.is_constant:
        col_corr = ctx.persistent(-zp_l * rows[:, :n].astype(np.int64).sum(axis=2) + k * zp_l * zp_r)
    else:
        col_corr = ctx.scratch((lay.rhs_count, n), np.int64)
    row_corr = (ctx.scratch((lay.lhs_count, m), np.int64) if zp_r
                else ctx.persistent(np.zeros((lay.lhs_count, m), np.int64)))
    lhs_t = ctx.scratch((lay.lhs_count, m, k), lhs.dtype) if lay.adj_x else None
    spans = _spans(ctx, lay, INTEGER_MACS_PER_US)
    return ("integer", lay.lhs_shape, (lay.rhs_count,) + lay.rhs_matrix, lay.adj_y, lhs_t, rows, col_corr,
            row_corr, zp_l, zp_r, k, ctx.persistent(lay.lhs_index), ctx.persistent(lay.rhs_index),
            ctx.scratch((len(spans), 4, padded_rows(n)), np.int64), kind, lhs.dtype == np.int8, mult, shift, zp_o,
            int(info.min), int(info.max), (m, n), spans, [])


def _bind_integer(data, ins, outs, scratch):
    (_, lhs_shape, _, _, lhs_t, rows, col_corr, row_corr, _, _, _, lhs_index, rhs_index, acc, kind, wrap32,
     mult, shift, zp_o, lo, hi, (m, n), spans, chunks) = data
    lhs = scratch[lhs_t] if lhs_t is not None else ins[0].reshape(lhs_shape)
    rows, col_corr, row_corr = (scratch[a] if isinstance(a, int) else a for a in (rows, col_corr, row_corr))
    out = outs[0].reshape(lhs_index.shape[0], m, n)
    acc = scratch[acc]
    chunks[:] = with_parts([(_rows(lhs, r0, r1), rows, _rows(out[b0:b1], r0, r1), acc[i], col_corr,
                             _rows(row_corr, r0, r1), lhs_index[b0:b1], rhs_index[b0:b1], kind, wrap32, mult, shift,
                             _NO_SCALE, zp_o, lo, hi) for i, (b0, b1, r0, r1) in enumerate(spans)])


def _eval_integer(data, ins, outs, scratch):
    (_, lhs_shape, rhs_shape, adj_y, lhs_t, rows, col_corr, row_corr, zp_l, zp_r, k, lhs_index,
     rhs_index, acc, kind, wrap32, mult, shift, zp_o, lo, hi, (m, n), spans, chunks) = data
    lhs = _lhs_rows(lhs_t, lhs_shape, ins, scratch)
    if isinstance(rows, int):
        rows = scratch[rows]
        rhs_to_rows(ins[1].reshape(rhs_shape), adj_y, rows)
        col_corr = scratch[col_corr]
        for r in range(rows.shape[0]):
            weighted_row_sums(rows[r, :n], -zp_l, _CONST_ZERO[:0], col_corr[r])
        _add_constant(col_corr, k * zp_l * zp_r)
    if isinstance(row_corr, int):
        row_corr = scratch[row_corr]
        for r in range(lhs.shape[0]):
            weighted_row_sums(lhs[r], -zp_r, _CONST_ZERO[:0], row_corr[r])
    run_chunks(batch_matmul_int, chunks)


_CONST_ZERO = np.zeros(1, np.int64)


@jit
def batch_matmul_int(lhs, rows, out, acc, col_corr, row_corr, lhs_index, rhs_index, kind, wrap32, mult,
                     shift, no_scale, zp_o, lo, hi, sync, part):
    """out[i] = requantized lhs[lhs_index[i]] x rows[rhs_index[i]]^T (int_gemm per output batch);
    chunk `part` of the op (sync.py)."""
    if chunk_start(sync, part):
        for i in range(out.shape[0]):
            li, ri = lhs_index[i], rhs_index[i]
            int_gemm(lhs[li], rows[ri], out[i], acc, col_corr[ri], row_corr[li], kind, wrap32, mult, shift,
                     no_scale, zp_o, lo, hi)
    chunk_end(sync, part)


_NO_SCALE = np.zeros(0, np.float64)
_NO_MULT = np.zeros(0, np.int32)


@jit
def _add_constant(a, c):
    for r in range(a.shape[0]):
        for j in range(a.shape[1]):
            a[r, j] += c


# -- hybrid ------------------------------------------------------------------------------------
def _prepare_hybrid(ctx):
    rhs = ctx.inputs[1]
    ctx.check_dtype(ctx.outputs[0], np.float32)
    lay = Layout(ctx)
    m, n, k = lay.m, lay.n, lay.k
    qr = require_quantization(ctx, rhs, "rhs")
    if qr.scales.size > 1:
        n_axis = rhs.rank - (2 if lay.adj_y else 1)
        ctx.check(qr.quantized_dimension == n_axis and qr.scales.size == n,
                  f"per-channel rhs scales must run along the output columns (dimension {n_axis}, {n} "
                  f"of them); got {qr.scales.size} on dimension {qr.quantized_dimension}")
        col_scales = np.asarray(qr.scales, np.float32)
    else:
        col_scales = np.repeat(np.asarray(qr.scales[:1], np.float32), n)
    rows = _rhs_operand(ctx, lay, np.int8)
    if rhs.is_constant:
        w_sums = ctx.persistent(rows[:, :n].astype(np.int64).sum(axis=2).astype(np.int32))
    else:
        w_sums = ctx.scratch((lay.rhs_count, n), np.int32)
    lhs_t = ctx.scratch((lay.lhs_count, m, k), np.float32) if lay.adj_x else None
    asymmetric = bool(getattr(ctx.options, "asymmetricQuantizeInputs", False))
    rows_total = lay.lhs_count * m
    spans = _spans(ctx, lay, HYBRID_MACS_PER_US)
    by_batch = lay.out_count > 1       # else spans cut the rows of one dots matrix
    return ("hybrid", lay.lhs_shape, (lay.rhs_count,) + lay.rhs_matrix, lay.adj_y, lhs_t, rows, w_sums,
            ctx.persistent(col_scales), asymmetric, ctx.persistent(lay.lhs_index), ctx.persistent(lay.rhs_index),
            ctx.scratch((lay.lhs_count, m, k), np.int8), ctx.scratch((lay.lhs_count, m), np.float32),
            ctx.scratch((lay.lhs_count, m), np.int32), ctx.scratch((len(spans) if by_batch else 1, m, n), np.int32),
            ctx.scratch((len(spans), 4, padded_rows(n)), np.int64), ctx.persistent(np.zeros(max(n, m, 1), np.int64)),
            ctx.persistent(np.zeros(n, np.float32)), (m, n, rows_total), spans, [])


def _bind_hybrid(data, ins, outs, scratch):
    (_, _, _, _, _, rows, w_sums, col_scales, _, lhs_index, rhs_index, q, sf, offsets, dots, acc, zeros, no_bias,
     (m, n, _), spans, chunks) = data
    rows, w_sums = (scratch[a] if isinstance(a, int) else a for a in (rows, w_sums))
    q, sf, offsets, dots, acc = scratch[q], scratch[sf], scratch[offsets], scratch[dots], scratch[acc]
    out = outs[0].reshape(lhs_index.shape[0], m, n)
    chunks[:] = with_parts([(_rows(q, r0, r1), rows, w_sums, _rows(sf, r0, r1), _rows(offsets, r0, r1), col_scales,
                             no_bias, _rows(out[b0:b1], r0, r1), dots[i % dots.shape[0]][r0:r1], acc[i], zeros,
                             lhs_index[b0:b1], rhs_index[b0:b1], _NO_MULT, _NO_SCALE)
                            for i, (b0, b1, r0, r1) in enumerate(spans)])


def _eval_hybrid(data, ins, outs, scratch):
    (_, lhs_shape, rhs_shape, adj_y, lhs_t, rows, w_sums, col_scales, asymmetric, lhs_index, rhs_index,
     q, sf, offsets, dots, acc, zeros, no_bias, (m, n, rows_total), spans, chunks) = data
    lhs = _lhs_rows(lhs_t, lhs_shape, ins, scratch)
    if isinstance(rows, int):
        rows = scratch[rows]
        rhs_to_rows(ins[1].reshape(rhs_shape), adj_y, rows)
        row_sums32(rows, scratch[w_sums])
    k = lhs.shape[2]
    quantize_rows(lhs.reshape(rows_total, k), scratch[q].reshape(rows_total, k), scratch[sf].reshape(-1),
                  scratch[offsets].reshape(-1), asymmetric)
    run_chunks(batch_matmul_hybrid, chunks)


@jit
def row_sums32(rows, out):
    """out[r, j] = sum of rows[r, j] (int32) for rows [count, n_pad, k], out [count, n]."""
    for r in range(rows.shape[0]):
        for j in range(out.shape[1]):
            s = np.int32(0)
            for v in rows[r, j]:
                s = np.int32(s + v)
            out[r, j] = s


@jit
def batch_matmul_hybrid(q, rows, w_sums, sf, offsets, col_scales, no_bias, out, dots, acc, zeros, lhs_index,
                        rhs_index, no_mult, no_scale, sync, part):
    """out[i] = float(lhs[lhs_index[i]] x rows[rhs_index[i]]^T) from the quantized lhs rows q (their
    scales sf and offsets) and the int8 rhs rows (their sums w_sums, column scales col_scales);
    chunk `part` of the op (sync.py)."""
    if chunk_start(sync, part):
        _batch_matmul_hybrid(q, rows, w_sums, sf, offsets, col_scales, no_bias, out, dots, acc, zeros, lhs_index,
                             rhs_index, no_mult, no_scale)
    chunk_end(sync, part)


@jit
def _batch_matmul_hybrid(q, rows, w_sums, sf, offsets, col_scales, no_bias, out, dots, acc, zeros, lhs_index,
                         rhs_index, no_mult, no_scale):
    m, n = dots.shape
    inf = np.float32(np.inf)
    for i in range(out.shape[0]):
        li, ri = lhs_index[i], rhs_index[i]
        int_gemm(q[li], rows[ri], dots, acc, zeros[:n], zeros[:m], EPI_RAW, True, no_mult, no_mult,
                 no_scale, 0, -(1 << 31), (1 << 31) - 1)
        hybrid_finish(dots, w_sums[ri], offsets[li], sf[li], col_scales, no_bias, out[i], 0, -inf, inf)


# -- dispatch ----------------------------------------------------------------------------------
EVALS = {"float": _eval_float, "integer": _eval_integer, "hybrid": _eval_hybrid}
BINDS = {"float": _bind_float, "integer": _bind_integer, "hybrid": _bind_hybrid}


def bind_batch_matmul(data, ins, outs, scratch):
    BINDS[data[0]](data, ins, outs, scratch)


def eval_batch_matmul(data, ins, outs, scratch):
    EVALS[data[0]](data, ins, outs, scratch)


register_builtin("BATCH_MATMUL", prepare_batch_matmul, eval_batch_matmul, bind=bind_batch_matmul)
