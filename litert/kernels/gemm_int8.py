"""The int8 GEMM micro-kernel of the quantized convolutions (and their 3x3 depthwise block): for
i < m, j < n, out[i, j] = requantize(bias'[j] + sum_p a[i, p] * w[j, p]) with int32
accumulation, bit for bit what TFLite's reference kernels compute (the zero point and the
requantization are exact integer arithmetic, so any summation order gives the same int32).

The layout (pack_weights_q8, once at prepare time): panels of NR output channels, the reduction
cut in quads of 4: packed[panel, p, j, t] = w[panel*NR + j, 4p + t], zero past n and k. One quad
of one row of `a` (4 bytes, an int32) is broadcast against a panel row (NR channels x 4 bytes):
each channel lane takes a 4-term dot product. That is one `vpdpbusd` per 16 channels on a CPU
with AVX-512 VNNI (the instruction multiplies unsigned by signed bytes: the kernel flips the
input's sign bit, x ^ 0x80 = x + 128 as an unsigned byte, and fold_bias takes 128 * sum(w) back
out of the bias). Elsewhere (no VNNI, or compiling ahead of time for aarch64) the same tile is
plain LLVM vector IR: sign-extend the four bytes of each lane, multiply, add.

The micro-kernels are written in LLVM IR (numba intrinsics) rather than left to the vectorizer:
a tile of MR rows x NR channels keeps its accumulators in vector registers over the whole
reduction, then is requantized and stored as int8 straight from them. Written as numba loops,
the same computation vectorized across the wrong loop or paid run-time overlap checks on every
pixel (a 3x3 depthwise block ran 4x slower).

Requantization is TFLite's MultiplyByQuantizedMultiplier, double rounding, per output channel,
in a branch-free form that is exactly equal for a multiplier in [0, 2^31)
(tests/test_conv_int8.py checks it against qmath.mbqm on millions of values):
  SaturatingRoundingDoublingHighMul(a, M) = (a*M + 2^30) >> 31       (the nudge 1-2^30 for a
      negative product, then division truncating toward zero, is the same floor; no
      saturation, as M < 2^31)
  RoundingDivideByPOT(h, r) = (h >> r) + ((h & mask) > (mask >> 1) + (h < 0)), mask = 2^r - 1
The per-channel terms of it come precomputed (requant_params); the rare left shift (an output
scale smaller than input scale x weight scale) is a branch taken per block of channels.
"""
import numba
import numpy as np
from llvmlite import ir
from numba import carray, types
from numba.core import cgutils
from numba.extending import intrinsic

from .common import jit
from .gemm import NR, stack_i32, target_features

MR = 6                  # rows per tile (the micro-kernel takes six row offsets)
LANES = NR // 2         # int32 lanes per vector register: a panel is two vectors wide
QUAD = 4                # reduction terms per lane per step
RQ_MULT, RQ_LEFT, RQ_RIGHT, RQ_MASK, RQ_HALF = range(5)   # rows of requant_params
RQ_ROWS = 5
RQ_PANEL = RQ_ROWS * NR       # stack sizes must be literals (stack_i32)
RQ_LANES = RQ_ROWS * LANES


# numba's on-disk cache is keyed by the CPU's features, which decide this flag (as gemm.NR).
VNNI = NR == 32 and {"+avx512f", "+avx512bw", "+avx512vnni"} <= target_features()


I8, I32, I64 = ir.IntType(8), ir.IntType(32), ir.IntType(64)
VEC = ir.VectorType(I32, LANES)


def _data_pointer(context, builder, ty, value, elem=I8):
    return builder.bitcast(context.make_array(ty)(context, builder, value).data, elem.as_pointer())


def _vec_ptr(builder, base, offset, ty=VEC):
    return builder.bitcast(builder.gep(base, [offset]), ty.as_pointer())


def _const(value, ty=I64):
    return ir.Constant(ty, value)


@intrinsic
def copy_bytes(typingctx, dst, dst_off, src, src_off, count):
    """Copy `count` bytes from byte `src_off` of src's data to byte `dst_off` of dst's (any
    element type: a float32 run passes 4x its offsets and length), the arrays not overlapping.
    4 to 64 bytes (im2col's runs of a few channels) move as two overlapping unaligned loads and
    stores of 4, 8, 16 or 32 bytes, other sizes through llvm.memcpy: a byte loop, or a memcpy
    call per run, would cost more than the copy."""
    sig = types.void(dst, dst_off, src, src_off, count)

    def codegen(context, builder, signature, args):
        d = builder.gep(_data_pointer(context, builder, signature.args[0], args[0]), [args[1]])
        s = builder.gep(_data_pointer(context, builder, signature.args[2], args[2]), [args[3]])
        n = args[4]

        def two_words(word, size):
            tail = builder.sub(n, _const(size))
            for off in (_const(0), tail):
                value = builder.load(builder.bitcast(builder.gep(s, [off]), word.as_pointer()), align=1)
                builder.store(value, builder.bitcast(builder.gep(d, [off]), word.as_pointer()), align=1)

        def by_size(sizes):
            """Two words of the largest size <= n among `sizes` (n is at most twice it)."""
            (word, size), rest = sizes[0], sizes[1:]
            if not rest:
                two_words(word, size)
                return
            with builder.if_else(builder.icmp_signed(">=", n, _const(size))) as (this, smaller):
                with this:
                    two_words(word, size)
                with smaller:
                    by_size(rest)

        small = builder.and_(builder.icmp_signed(">=", n, _const(4)), builder.icmp_signed("<=", n, _const(64)))
        with builder.if_else(small, likely=True) as (then, otherwise):
            with then:
                by_size([(ir.VectorType(I8, 32), 32), (ir.VectorType(I8, 16), 16), (I64, 8), (I32, 4)])
            with otherwise:
                cgutils.raw_memcpy(builder, d, s, n, 1)
        return context.get_dummy_value()
    return sig, codegen


# -- the micro-kernels, in LLVM IR -----------------------------------------------------------
def _splat(builder, scalar):
    v = builder.insert_element(ir.Constant(VEC, ir.Undefined), scalar, ir.Constant(I32, 0))
    return builder.shuffle_vector(v, ir.Constant(VEC, ir.Undefined), ir.Constant(VEC, [0] * LANES))


def _dot4_vnni(builder):
    fnty = ir.FunctionType(VEC, [VEC, VEC, VEC])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.x86.avx512.vpdpbusd.512")
    return lambda acc, xq, wq: builder.call(fn, [acc, xq, wq])


def _dot4_generic(builder):
    """acc[l] += sum_t byte_t(xq) (unsigned) * byte_t(wq[l]) (signed), in target-neutral IR."""
    def dot4(acc, xq, wq):
        for t in range(QUAD):
            w_t = builder.ashr(builder.shl(wq, _splat(builder, ir.Constant(I32, 24 - 8 * t))),
                               _splat(builder, ir.Constant(I32, 24)))
            x_t = builder.and_(builder.lshr(xq, _splat(builder, ir.Constant(I32, 8 * t))),
                               _splat(builder, ir.Constant(I32, 0xFF)))
            acc = builder.add(acc, builder.mul(w_t, x_t))
        return acc
    return dot4


def _accumulate(builder, a_p, rows, b_p, b_start, quads, bias_p, bias_start):
    """The tile's accumulators [MR][NR // LANES] (vectors of LANES int32): bias[bias_start + j]
    + sum_{p < 4*quads} (a[rows[r] + p] + 128) * w_j[p], the panel at b[b_start]."""
    dot4 = (_dot4_vnni if VNNI else _dot4_generic)(builder)
    halves = NR // LANES
    # accumulators live in allocas that mem2reg turns into registers
    acc = [[cgutils.alloca_once(builder, VEC) for _ in range(halves)] for _ in range(MR)]
    for v in range(halves):
        init = builder.load(_vec_ptr(builder, bias_p, builder.add(bias_start, _const(v * LANES))), align=4)
        for r in range(MR):
            builder.store(init, acc[r][v])
    flip = _const(0x80808080 - (1 << 32), I32)
    with cgutils.for_range(builder, quads) as loop:
        p = loop.index
        w_off = builder.add(b_start, builder.mul(p, _const(QUAD * NR)))
        w = [builder.load(_vec_ptr(builder, b_p, builder.add(w_off, _const(QUAD * LANES * v))), align=1)
             for v in range(halves)]
        for r in range(MR):
            x_ptr = builder.bitcast(builder.gep(a_p, [builder.add(rows[r], builder.mul(p, _const(QUAD)))]),
                                    I32.as_pointer())
            xq = _splat(builder, builder.xor(builder.load(x_ptr, align=1), flip))
            for v in range(halves):
                builder.store(dot4(builder.load(acc[r][v]), xq, w[v]), acc[r][v])
    return [[builder.load(slot) for slot in row] for row in acc]


V64H = ir.VectorType(I64, LANES // 2)     # a vector register as 64-bit words
V8 = ir.VectorType(I8, LANES)


def _requantize_vec(builder, acc, params, shifted, zp, lo, hi):
    """requantize() (after shift_left when `shifted`, an i1) on a vector of LANES int32
    accumulators -> LANES int8. params: the requant_params rows as vectors of int32; zp, lo, hi:
    int64 scalars. In 32-bit lanes except for the products: the high half of x*M comes from
    64-bit products of the even and of the odd lanes."""
    mult, left, right, mask, half = params
    before = builder.block
    with builder.if_then(shifted, likely=False):
        wrapped = builder.shl(acc, left)          # an int32 shift, wrapping like the reference
        shifted_block = builder.block
    x = builder.phi(VEC)
    x.add_incoming(acc, before)
    x.add_incoming(wrapped, shifted_block)
    # SaturatingRoundingDoublingHighMul: (x*M + 2^30) >> 31, lanes 2k and 2k+1 of 64-bit words
    x64, m64 = builder.bitcast(x, V64H), builder.bitcast(mult, V64H)
    c32, c31, c30 = (ir.Constant(V64H, [v] * (LANES // 2)) for v in (32, 31, 1 << 30))
    even = builder.mul(builder.ashr(builder.shl(x64, c32), c32), builder.ashr(builder.shl(m64, c32), c32))
    odd = builder.mul(builder.ashr(x64, c32), builder.ashr(m64, c32))
    even = builder.ashr(builder.add(even, c30), c31)
    odd = builder.ashr(builder.add(odd, c30), c31)
    low = ir.Constant(V64H, [0xFFFFFFFF] * (LANES // 2))
    h = builder.bitcast(builder.or_(builder.and_(even, low), builder.shl(odd, c32)), VEC)
    # RoundingDivideByPOT: (h >> right) + 1 where the remainder passes half (+1 for h < 0)
    threshold = builder.sub(half, builder.ashr(h, _splat(builder, _const(31, I32))))
    above = builder.icmp_signed(">", builder.and_(h, mask), threshold)
    v = builder.sub(builder.ashr(h, right), builder.sext(above, VEC))
    # clamp(v + zp, lo, hi) as clamp(v, lo - zp, hi - zp) + zp: no int32 overflow
    lo_v = _splat(builder, builder.trunc(builder.sub(lo, zp), I32))
    hi_v = _splat(builder, builder.trunc(builder.sub(hi, zp), I32))
    v = builder.select(builder.icmp_signed("<", v, lo_v), lo_v, v)
    v = builder.select(builder.icmp_signed(">", v, hi_v), hi_v, v)
    return builder.trunc(builder.add(v, _splat(builder, builder.trunc(zp, I32))), V8)


def _params(builder, par_p, first, width):
    """The requant_params rows of LANES channels from `first` out of par [RQ_ROWS, width]."""
    return [builder.load(_vec_ptr(builder, par_p, _const(row * width + first)), align=4)
            for row in range(RQ_ROWS)]


def _store_bytes(builder, value, ptr, count):
    """Store the first `count` (run time) of the LANES bytes of `value` at ptr: all of them with
    one vector store; fewer (the last panel's channels) from a stack copy in pieces of 8, 4, 2
    and 1 bytes as the bits of count say (a memcpy call per row would cost more than the row)."""
    full = builder.icmp_signed(">=", count, _const(LANES))
    with builder.if_else(full, likely=True) as (whole, part):
        with whole:
            builder.store(value, builder.bitcast(ptr, V8.as_pointer()), align=1)
        with part:
            buf = cgutils.alloca_once(builder, V8)
            builder.store(value, buf)
            src = builder.bitcast(buf, I8.as_pointer())
            done = _const(0)
            for size in (8, 4, 2, 1):
                if size >= LANES:
                    continue
                word = ir.IntType(8 * size).as_pointer()
                with builder.if_then(builder.icmp_signed("!=", builder.and_(count, _const(size)), _const(0))):
                    piece = builder.load(builder.bitcast(builder.gep(src, [done]), word), align=1)
                    builder.store(piece, builder.bitcast(builder.gep(ptr, [done]), word), align=1)
                done = builder.add(done, builder.and_(count, _const(size)))


@intrinsic
def dot4_tile_q8(typingctx, out, dst_rows, nrows, ncols, a, rows, b, b_off, kq, bias, bias_off, par, shifted,
                 zp, lo, hi):
    """One tile, requantized from the registers: for r < nrows, j < ncols, out[dst_rows[r] + j]
    (int8) = requantize(bias[bias_off + j] + sum_{p < 4*kq} (a[rows[r] + p] + 128) * w_j[p]),
    for the MR rows of a (int8) starting at the offsets `rows` and the panel at b[b_off] (packed
    quads); par: the panel's requant_params [RQ_ROWS, NR] (on the stack)."""
    sig = types.void(out, dst_rows, nrows, ncols, a, rows, b, b_off, kq, bias, bias_off, par, shifted, zp, lo, hi)

    def codegen(context, builder, signature, args):
        (out_v, dst_v, nrows_v, ncols_v, a_v, rows_v, b_v, b_start, quads, bias_v, bias_start, par_v, flag,
         zp_v, lo_v, hi_v) = args
        ty = signature.args
        out_p = _data_pointer(context, builder, ty[0], out_v)
        par_p = _data_pointer(context, builder, ty[11], par_v, I32)
        acc = _accumulate(builder, _data_pointer(context, builder, ty[4], a_v),
                          [builder.extract_value(rows_v, r) for r in range(MR)],
                          _data_pointer(context, builder, ty[6], b_v), b_start, quads,
                          _data_pointer(context, builder, ty[9], bias_v, I32), bias_start)
        shifted_v = _as_bool(builder, flag)
        halves = NR // LANES
        params = [_params(builder, par_p, v * LANES, NR) for v in range(halves)]
        for r in range(MR):
            with builder.if_then(builder.icmp_signed(">", nrows_v, _const(r)), likely=True):
                dst = builder.extract_value(dst_v, r)
                for v in range(halves):
                    left = builder.sub(ncols_v, _const(v * LANES))
                    with builder.if_then(builder.icmp_signed(">", left, _const(0)), likely=True):
                        q = _requantize_vec(builder, acc[r][v], params[v], shifted_v, zp_v, lo_v, hi_v)
                        _store_bytes(builder, q, builder.gep(out_p, [builder.add(dst, _const(v * LANES))]), left)
        return context.get_dummy_value()
    return sig, codegen


def _as_bool(builder, flag):
    return builder.trunc(flag, ir.IntType(1)) if flag.type != ir.IntType(1) else flag


def _depthwise3x3_codegen(masked):
    def codegen(context, builder, signature, args):
        out_v, dst_v, x_v, origin_v, sx, sy, taps_v, folded_v, c0_v, par_v, flag, zp_v, lo_v, hi_v = args[:14]
        ty = signature.args
        x_p = _data_pointer(context, builder, ty[2], x_v)
        taps_p = _data_pointer(context, builder, ty[6], taps_v, I32)
        extend = builder.zext if ty[2].dtype == types.uint8 else builder.sext
        folded_p = _data_pointer(context, builder, ty[7], folded_v, I32)
        if masked:
            mask_v, fill_p = args[14], _data_pointer(context, builder, ty[15], args[15])
        acc = builder.load(_vec_ptr(builder, folded_p, c0_v), align=4)
        for i in range(3):
            for k in range(3):
                t = 3 * i + k
                off = builder.add(origin_v, builder.add(builder.mul(sy, _const(i)), builder.mul(sx, _const(k))))
                src = builder.gep(x_p, [off])
                if masked:     # a tap off the image reads the zero-point row instead
                    inside = builder.icmp_signed("!=", builder.and_(mask_v, _const(1 << t)), _const(0))
                    src = builder.select(inside, src, fill_p)
                xv = extend(builder.load(builder.bitcast(src, V8.as_pointer()), align=1), VEC)
                wv = builder.load(_vec_ptr(builder, taps_p, _const(t * LANES)), align=4)
                acc = builder.add(acc, builder.mul(xv, wv))
        shifted_v = _as_bool(builder, flag)
        par_p = _data_pointer(context, builder, ty[9], par_v, I32)
        q = _requantize_vec(builder, acc, _params(builder, par_p, 0, LANES), shifted_v, zp_v, lo_v, hi_v)
        builder.store(q, _vec_ptr(builder, _data_pointer(context, builder, ty[0], out_v), dst_v, V8), align=1)
        return context.get_dummy_value()
    return codegen


@intrinsic
def depthwise3x3_q8(typingctx, out, dst, x, origin, step_x, step_y, taps, folded, c0, par, shifted, zp, lo, hi):
    """LANES channels (from c0) of one output pixel of an 8-bit 3x3 depthwise convolution whose
    window lies inside the input: out[dst + j] = requantize(folded[c0 + j] + sum over the taps
    (i, k) of x[origin + i*step_y + k*step_x + j] * taps[3i + k, j]); taps [9, LANES] and par
    [RQ_ROWS, LANES] on the stack (LLVM keeps them in registers across calls in a loop: stores to
    the output cannot alias them); x int8 or uint8."""
    sig = types.void(out, dst, x, origin, step_x, step_y, taps, folded, c0, par, shifted, zp, lo, hi)
    return sig, _depthwise3x3_codegen(False)


@intrinsic
def depthwise3x3_edge_q8(typingctx, out, dst, x, origin, step_x, step_y, taps, folded, c0, par, shifted, zp, lo,
                         hi, inside, fill):
    """depthwise3x3_q8 for a window over the edge of the input: tap t = 3i + k reads x where bit t
    of `inside` is set, else the LANES bytes of `fill` (the input zero point, so that the folded
    bias stays exact); taps off the image are never read."""
    sig = types.void(out, dst, x, origin, step_x, step_y, taps, folded, c0, par, shifted, zp, lo, hi, inside, fill)
    return sig, _depthwise3x3_codegen(True)


# -- prepare time ----------------------------------------------------------------------------
def quads(k):
    """Reduction steps for k terms (k rounded up to a multiple of 4)."""
    return -(-k // QUAD)


def panels(n):
    return -(-n // NR)


def pack_weights_q8(w_nk):
    """int8 weights [n, k] (output-major: OHWI rows) -> the flat packed layout of gemm_q8."""
    n, k = w_nk.shape
    p, kq = panels(n), quads(k)
    padded = np.zeros((p * NR, kq * QUAD), np.int8)
    padded[:n, :k] = w_nk
    return np.ascontiguousarray(padded.reshape(p, NR, kq, QUAD).transpose(0, 2, 1, 3)).reshape(-1)


def fold_bias(bias, w_nk, zero_point):
    """bias'[j] = bias[j] - (zero_point + 128) * sum_p w[j, p], wrapped to int32 like the
    reference's int32 accumulator, padded to whole panels. With it the kernel needs neither
    the input zero point nor the sign flip (padded input taps must hold the zero point)."""
    n = w_nk.shape[0]
    folded = np.asarray(bias, np.int64) - (int(zero_point) + 128) * w_nk.astype(np.int64).sum(axis=1)
    out = np.zeros(panels(n) * NR, np.int64)
    out[:n] = folded
    return ((out + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


def requant_params(multipliers, shifts, size):
    """The per-channel parameters of requantize as int32 rows [RQ_ROWS, size] (zero past the
    channels given): multiplier, left shift, right shift, 2^right - 1 and (2^right - 1) >> 1."""
    n = len(multipliers)
    shifts = np.asarray(shifts, np.int64)
    right = np.maximum(-shifts, 0)
    rows = np.zeros((RQ_ROWS, size), np.int64)
    rows[RQ_MULT, :n] = multipliers
    rows[RQ_LEFT, :n] = np.maximum(shifts, 0)
    rows[RQ_RIGHT, :n] = right
    rows[RQ_MASK, :n] = (np.int64(1) << right) - 1
    rows[RQ_HALF, :n] = ((np.int64(1) << right) - 1) >> 1
    return rows.astype(np.int32)


# -- run time --------------------------------------------------------------------------------
@jit(inline="always")
def shift_left(acc, left):
    """The left part of MultiplyByQuantizedMultiplier: an int32 shift that wraps."""
    x = np.int64(acc) << left
    return ((x + (1 << 31)) & 0xFFFFFFFF) - (1 << 31)


@jit(inline="always")
def requantize(acc, multiplier, right, mask, half, zero_point, lo, hi):
    """MultiplyByQuantizedMultiplier after the left shift + zero point, clamped; the parameters
    as requant_params makes them (the same arithmetic as _requantize_vec, one lane)."""
    h = (np.int64(acc) * multiplier + (1 << 30)) >> 31
    threshold = half + (1 if h < 0 else 0)
    v = (h >> right) + (1 if (h & mask) > threshold else 0) + zero_point
    return min(max(v, lo), hi)


@jit(inline="always")
def load_params(par, rq, c0, count):
    """par[:, :count] = rq[:, c0:c0 + count]: the parameters of a block of channels on the stack,
    where stores to the output cannot alias them (no run-time overlap checks); returns whether
    any channel shifts left."""
    shifted = False
    for row in range(RQ_ROWS):
        src = rq[row]
        for j in range(count):
            par[row, j] = src[c0 + j]
    for j in range(count):
        shifted |= par[RQ_LEFT, j] > 0
    return shifted


@jit
def gemm_q8(m, n, kq, a, a_off, lda, b, bias, rq, out, out_off, ldo, zp, lo, hi, q0, q1):
    """out[out_off + i*ldo + j] = requantize(bias[j] + row i of a times column j of w) as int8,
    for the output channels of panels q0..q1 (all: 0, panels(n)). a: int8 flat, row i at
    a_off + i*lda (4*kq bytes); b, bias, rq: from pack_weights_q8, fold_bias and requant_params;
    zp, lo, hi: output zero point and clamp."""
    par = carray(stack_i32(RQ_PANEL), (RQ_ROWS, NR))
    for q in range(q0, q1):
        c0 = q * NR
        shifted = load_params(par, rq, c0, NR)
        for i0 in range(0, m, MR):
            base = out_off + i0 * ldo + c0
            dot4_tile_q8(out, (base, base + ldo, base + 2 * ldo, base + 3 * ldo, base + 4 * ldo, base + 5 * ldo),
                         m - i0, n - c0, a,
                         _rows(a_off, lda, i0, m), b, q * kq * QUAD * NR, kq, bias, c0, par, shifted, zp, lo, hi)


@jit(inline="always")
def _rows(a_off, lda, i0, m):
    """The offsets of the tile's MR rows; rows past m repeat row m-1 (computed, never stored)."""
    return (a_off + i0 * lda, a_off + min(i0 + 1, m - 1) * lda, a_off + min(i0 + 2, m - 1) * lda,
            a_off + min(i0 + 3, m - 1) * lda, a_off + min(i0 + 4, m - 1) * lda, a_off + min(i0 + 5, m - 1) * lda)
