"""Convolutions: CONV_2D (grouped too), DEPTHWISE_CONV_2D, TRANSPOSE_CONV and MediaPipe's
custom Convolution2DTransposeBias. This module registers them and runs float32; every prepare
function hands the quantized (int8, uint8, int16) and hybrid (float32 input, int8 weights) cases
to conv_int8.py, whose op data eval_* recognizes (QuantConv).

How they run fast:
- CONV_2D and the transposed convolutions are GEMMs on gemm.py's register-tiled micro-kernel.
  prepare() packs the OHWI weights once into its panel layout (per group, or per filter tap for
  the transposed ones), the bias beside them; a GEMM with only a few output channels keeps
  OHWI rows and runs as dot products (gemm_nk). Weights or bias known only at run time are
  packed into scratch at every invoke; the kernels are the same.
- CONV_2D 1x1 multiplies the input in place (all pixels in one GEMM at stride 1). Any other
  kernel first gathers output rows' patches into scratch (im2col; zeros where the window hangs
  over the padding), as many rows per GEMM as fit in COL_FLOATS.
- TRANSPOSE_CONV scatters: the output starts as the bias, then for each input row and filter tap
  one GEMM adds into the output pixels that tap reaches (output row stride = stride_w pixels).
- DEPTHWISE_CONV_2D 3x3 with multiplier 1 and C a multiple of FLANES (one vector register of
  floats; else of half of it) goes a block of channels at a time over all the output rows: one
  depthwise3x3_f32 call (nine FMAs, the block's taps held in registers) per output pixel; a
  window over the edge reads a row of zeros for its missing taps. Other depthwise convolutions run channels innermost
  (contiguous in input, weights and output); 3x3 windows inside the image take all nine taps in
  one pass, two output pixels at a time.
- With num_threads > 1 an op big enough to pay for it is cut into chunks (litert/threads.py):
  output rows (pixels for a 1x1 CONV_2D at stride 1), output channels for a 1x1 CONV_2D whose
  weights outweigh its pixels and for the transposed convolutions. Each chunk computes its
  outputs with the same code as one thread would, so the results are the same bits; each has
  its own im2col scratch.
"""
import struct

import numpy as np
from llvmlite import ir
from numba import carray, types
from numba.core import cgutils
from numba.extending import intrinsic

from ..registry import register_builtin, register_custom_op
from ..threads import per_chunk, plan, run_chunks, with_parts
from .common import (PADDING_SAME, PADDING_VALID, check_padding, conv_output_size, conv_padding,
                     float_activation_range, inner_columns, jit, rows_inside3, taps_inside3x3)
from .conv_int8 import (QuantConv, prepare_quantized_conv2d, prepare_quantized_depthwise,
                        prepare_quantized_transpose)
from .gemm import FAST, NR, gemm, gemm_nk, pack_bias, pack_weights, panels, stack_f32, use_dot
from .gemm_int8 import _const, _data_pointer, copy_bytes
from .sync import chunk_end, chunk_start

NO_CLAMP = (np.float32(-np.inf), np.float32(np.inf))

# One core's speed, to size the work split across threads (litert/threads.py), measured on the
# development machine (x86-64, AVX-512) on MobileNet and face detection layers: multiply-adds per
# us of the GEMM (conv, transposed conv) and of the depthwise loops (plus output pixels per us:
# few channels cost more per multiply-add), floats gathered per us by im2col.
GEMM_MACS_PER_US = 80_000
IM2COL_FLOATS_PER_US = 2_000
DEPTHWISE_MACS_PER_US, DEPTHWISE_PIXELS_PER_US = 32_000, 60
TRANSPOSE_MACS_PER_US = 22_000
FLANES = NR // 2                 # float32 lanes of one vector register (16 with AVX-512, else 8)
HALF_LANES = FLANES // 2
FTAPS = 9 * FLANES               # a 3x3 depthwise block's weights, on the stack
F32 = ir.FloatType()


# -- jitted cores ----------------------------------------------------------------------------
@jit
def conv2d_float(x, w, bias, out, col, geom, lo, hi, span, sync, part):
    """x [N,H,W,C] and out [N,OH,OW,O] flat; w, bias packed per group (pack_conv); col: scratch
    for `rows` output rows of im2col patches. span = (start, stop, c0, c1): this call computes
    output rows start..stop of the N*OH (pixels of the N*H*W, for a 1x1 convolution at stride 1)
    and output channels c0..c1 of each group (c0 a multiple of NR in the panel layout); chunk
    `part` of a split op (sync.py)."""
    if chunk_start(sync, part):
        _conv2d_float(x, w, bias, out, col, geom, lo, hi, span)
    chunk_end(sync, part)


@jit(fastmath=FAST)
def _conv2d_float(x, w, bias, out, col, geom, lo, hi, span):
    n_batch, h, wd, c, oh, ow, o, kh, kw, sh, sw, dh, dw, ph, pw, groups, rows, dot = geom
    start, stop, c0, c1 = span
    cg = c // groups
    og = o // groups
    kg = kh * kw * cg
    pointwise = kh == 1 and kw == 1 and ph == 0 and pw == 0
    if pointwise and sh == 1 and sw == 1:
        # every pixel of the batch is one row of a single GEMM
        for g in range(groups):
            _gemm(dot, stop - start, c0, c1, cg, x, start * c + g * cg, c, w[g], bias[g], out,
                  start * o + g * og, o, lo, hi)
        return
    for chunk in range(-(-(stop - start) // rows)):   # (a run-time range step would keep a raise path)
        r0 = start + chunk * rows
        r1 = min(r0 + rows, stop)
        for g in range(groups):
            out_off = r0 * ow * o + g * og
            if pointwise:   # strided 1x1: rows of the input pixels it samples
                for r in range(r0, r1):
                    n = r // oh
                    y = r - n * oh
                    _gemm(dot, ow, c0, c1, cg, x, ((n * h + y * sh) * wd) * c + g * cg, sw * c,
                          w[g], bias[g], out, out_off + (r - r0) * ow * o, o, lo, hi)
                continue
            for r in range(r0, r1):
                n = r // oh
                _im2col_row(x, col, (r - r0) * ow * kg, n, r - n * oh, g * cg, cg, geom)
            _gemm(dot, (r1 - r0) * ow, c0, c1, kg, col, 0, kg, w[g], bias[g], out, out_off, o, lo, hi)


@jit(fastmath=FAST, inline="always")
def _gemm(dot, m, c0, c1, k, a, a_off, lda, w, bias, out, out_off, ldo, lo, hi):
    """Output channels c0..c1 of a GEMM: gemm on weights packed in panels [panels, k, NR] (bias
    [panels, NR]; c0 a multiple of NR), or gemm_nk on the dot layout [1, n, k] (bias [1, n])."""
    if dot:
        gemm_nk(m, c1 - c0, k, a, a_off, lda, w[0][c0:c1], bias[0][c0:c1], out, out_off + c0, ldo,
                False, lo, hi)
    else:
        q0, q1 = c0 // NR, -(-c1 // NR)
        gemm(m, c1 - c0, k, a, a_off, lda, w[q0:q1], bias[q0:q1], out, out_off + c0, ldo, False, lo, hi)


@jit(inline="always")
def _im2col_row(x, col, start, n, y, c0, cg, geom):
    """col[start + ox*K + (i*KW + j)*cg + ch] = x[n, iy, ix, c0 + ch] for output row y (K the
    patch length), 0 where the window hangs over the padding. Kernel row by kernel row: where its
    taps are contiguous in x (one group, no x dilation) and inside the image, one copy_bytes per
    output pixel in a tight loop over the inner columns; the rest tap by tap."""
    n_batch, h, wd, c, oh, ow, o, kh, kw, sh, sw, dh, dw, ph, pw, groups, rows, dot = geom
    kg = kh * kw * cg
    run = kw * cg if dw == 1 and cg == c else cg   # taps along x that are contiguous in x
    ox_lo, ox_hi = inner_columns(ow, wd, kw, sw, dw, pw)   # windows inside the image horizontally
    for i in range(kh):
        iy = y * sh - ph + i * dh
        base = start + i * kw * cg
        inner_lo, inner_hi = (ox_lo, ox_hi) if run > cg and 0 <= iy < h else (0, 0)
        src_row = ((n * h + iy) * wd) * c
        for ox in range(inner_lo, inner_hi):   # byte offsets: 4 per float
            copy_bytes(col, 4 * (base + ox * kg), x, 4 * (src_row + (ox * sw - pw) * c), 4 * run)
        for ox in range(ow):
            if inner_lo <= ox < inner_hi:
                continue
            x0 = ox * sw - pw
            for j in range(kw):
                ix = x0 + j * dw
                dst = col[base + ox * kg + j * cg:base + ox * kg + (j + 1) * cg]
                if 0 <= iy < h and 0 <= ix < wd:
                    src0 = src_row + ix * c + c0
                    src = x[src0:src0 + cg]
                    for ch in range(cg):
                        dst[ch] = src[ch]
                else:
                    for ch in range(cg):
                        dst[ch] = 0.0


@jit
def depthwise_float(x, w, bias, out, zeros, geom, lo, hi, span, sync, part):
    """x [N,H,W,C], out [N,OH,OW,C*M]; w [KH*KW, C*M]; zeros [FLANES]. Output channel c*M + m
    reads input channel c. 3x3 windows, multiplier 1: blocks of FLANES (or HALF_LANES) channels
    over all the rows (depthwise3x3_f32, the block's taps in registers) when C is a multiple of
    HALF_LANES, else two output pixels per pass over the channels, all nine taps at once (the
    pair shares weight loads, and input loads at stride 1).
    span = (start, stop): the output rows of the N*OH this call computes; chunk `part` of a split
    op (sync.py)."""
    if chunk_start(sync, part):
        _depthwise_float(x, w, bias, out, zeros, geom, lo, hi, span)
    chunk_end(sync, part)


@jit(fastmath=FAST)
def _depthwise_float(x, w, bias, out, zeros, geom, lo, hi, span):
    n_batch, h, wd, c, oh, ow, o, kh, kw, sh, sw, dh, dw, ph, pw, mult = geom
    start, stop = span
    fast3x3 = kh == 3 and kw == 3 and mult == 1
    ox_lo, ox_hi = inner_columns(ow, wd, 3, sw, dw, pw)    # 3x3 windows inside the image
    if fast3x3 and c % HALF_LANES == 0:
        _depthwise3x3_blocks(x, w, bias, out, zeros, geom, lo, hi, start, stop, ox_lo, ox_hi)
        return
    for row in range(start, stop):
        n = row // oh
        y = row - n * oh
        iy = y * sh - ph
        orow = out[n, y]
        if not (fast3x3 and iy >= 0 and iy + 2 * dh < h):
            for ox in range(ow):
                _depthwise_pixel(x, w, bias, orow[ox], n, iy, ox * sw - pw, geom, lo, hi)
            continue
        for ox in range(ox_lo):
            _depthwise_pixel(x, w, bias, orow[ox], n, iy, ox * sw - pw, geom, lo, hi)
        r0, r1, r2 = x[n, iy], x[n, iy + dh], x[n, iy + 2 * dh]
        ox = ox_lo
        while ox + 1 < ox_hi:
            _depthwise3x3_pair(r0, r1, r2, ox * sw - pw, (ox + 1) * sw - pw, dw, w, bias,
                               orow[ox], orow[ox + 1], lo, hi)
            ox += 2
        if ox < ox_hi:   # odd one out: the pair kernel on the same pixel twice
            _depthwise3x3_pair(r0, r1, r2, ox * sw - pw, ox * sw - pw, dw, w, bias,
                               orow[ox], orow[ox], lo, hi)
        for ox in range(ox_hi, ow):
            _depthwise_pixel(x, w, bias, orow[ox], n, iy, ox * sw - pw, geom, lo, hi)


@jit
def _depthwise3x3_blocks(x, w, bias, out, zeros, geom, lo, hi, start, stop, ox_lo, ox_hi):
    c = geom[3]
    if c % FLANES == 0:
        for c0 in range(0, c, FLANES):
            _depthwise3x3_block(x, w, bias, out, zeros, geom, lo, hi, start, stop, ox_lo, ox_hi, c0, FLANES)
    else:                                   # C a multiple of HALF_LANES: blocks half as wide
        for c0 in range(0, c, HALF_LANES):
            _depthwise3x3_block(x, w, bias, out, zeros, geom, lo, hi, start, stop, ox_lo, ox_hi, c0, HALF_LANES)


@jit(inline="always")
def _depthwise3x3_block(x, w, bias, out, zeros, geom, lo, hi, start, stop, ox_lo, ox_hi, c0, lanes):
    """Channels c0..c0+lanes over output rows start..stop; lanes: a constant (FLANES or
    HALF_LANES), so the taps' loops have constant trip counts and the taps stay in registers."""
    n_batch, h, wd, c, oh, ow, o, kh, kw, sh, sw, dh, dw, ph, pw, mult = geom
    taps = carray(stack_f32(FTAPS), (FTAPS,))   # [9, lanes]
    for t in range(9):
        for j in range(lanes):
            taps[t * lanes + j] = w[t, c0 + j]
    for row in range(start, stop):
        n = row // oh
        y = row - n * oh
        iy = y * sh - ph
        rows_inside = rows_inside3(iy, dh, h)
        dst = ((n * oh + y) * ow) * c + c0
        origin = ((n * h + iy) * wd) * c + c0
        for ox in range(ow):
            ix = ox * sw - pw
            if rows_inside == 7 and ox_lo <= ox < ox_hi:
                depthwise3x3_f32(out, dst + ox * c, x, origin + ix * c, dw * c, dh * wd * c, taps, bias, c0, lo, hi,
                                 lanes)
                continue
            inside = taps_inside3x3(rows_inside, ix, dw, wd)
            depthwise3x3_edge_f32(out, dst + ox * c, x, origin + ix * c, dw * c, dh * wd * c, taps, bias, c0, lo, hi,
                                  lanes, inside, zeros)


def _depthwise3x3_f32_codegen(masked, lanes):
    vec = ir.VectorType(F32, lanes)

    def codegen(context, builder, signature, args):
        out_v, dst_v, x_v, origin_v, sx, sy, taps_v, bias_v, c0_v, lo_v, hi_v = args[:11]
        ty = signature.args

        def pointer(k, value):
            return _data_pointer(context, builder, ty[k], value, F32)

        def vector_at(base, offset):
            return builder.bitcast(builder.gep(base, [offset]), vec.as_pointer())

        x_p, taps_p = pointer(2, x_v), pointer(6, taps_v)
        if masked:
            mask_v, zeros_p = args[12], vector_at(pointer(13, args[13]), _const(0))
        fma = cgutils.get_or_insert_function(builder.module, ir.FunctionType(vec, [vec] * 3), f"llvm.fma.v{lanes}f32")
        acc = builder.load(vector_at(pointer(7, bias_v), c0_v), align=4)
        for i in range(3):
            for k in range(3):
                t = 3 * i + k
                off = builder.add(origin_v, builder.add(builder.mul(sy, _const(i)), builder.mul(sx, _const(k))))
                src = vector_at(x_p, off)
                if masked:     # a tap off the image reads the zeros instead
                    inside = builder.icmp_signed("!=", builder.and_(mask_v, _const(1 << t)), _const(0))
                    src = builder.select(inside, src, zeros_p)
                wv = builder.load(vector_at(taps_p, _const(t * lanes)), align=4)
                acc = builder.call(fma, [builder.load(src, align=4), wv, acc])
        every = ir.Constant(ir.VectorType(ir.IntType(32), lanes), [0] * lanes)
        first = _const(0, ir.IntType(32))
        lo_s, hi_s = (builder.shuffle_vector(builder.insert_element(ir.Constant(vec, ir.Undefined), v, first),
                                             ir.Constant(vec, ir.Undefined), every) for v in (lo_v, hi_v))
        # max(acc, lo) then min(., hi) as std::max / std::min: a NaN stays a NaN
        acc = builder.select(builder.fcmp_ordered("<", acc, lo_s), lo_s, acc)
        acc = builder.select(builder.fcmp_ordered(">", acc, hi_s), hi_s, acc)
        builder.store(acc, vector_at(pointer(0, out_v), dst_v), align=4)
        return context.get_dummy_value()
    return codegen


@intrinsic(prefer_literal=True)
def depthwise3x3_f32(typingctx, out, dst, x, origin, step_x, step_y, taps, bias, c0, lo, hi, lanes):
    """`lanes` (a literal: FLANES or HALF_LANES) channels from c0 of one output pixel of a float32
    3x3 depthwise convolution whose window lies inside the input: out[dst + j] = clamp(bias[c0 + j]
    + sum over the taps (i, k) of x[origin + i*step_y + k*step_x + j] * taps[(3i + k)*lanes + j],
    lo, hi), x and out read flat, one FMA per tap. taps on the stack: LLVM keeps them in registers
    across the calls of a loop (stores to the output cannot alias them)."""
    if not isinstance(lanes, types.IntegerLiteral):
        return None
    sig = types.void(out, dst, x, origin, step_x, step_y, taps, bias, c0, lo, hi, lanes)
    return sig, _depthwise3x3_f32_codegen(False, lanes.literal_value)


@intrinsic(prefer_literal=True)
def depthwise3x3_edge_f32(typingctx, out, dst, x, origin, step_x, step_y, taps, bias, c0, lo, hi, lanes, inside,
                          zeros):
    """depthwise3x3_f32 for a window over the edge: tap t = 3i + k reads x where bit t of `inside`
    is set, else `zeros` (float zeros), so a tap off the image is never read and adds 0."""
    if not isinstance(lanes, types.IntegerLiteral):
        return None
    sig = types.void(out, dst, x, origin, step_x, step_y, taps, bias, c0, lo, hi, lanes, inside, zeros)
    return sig, _depthwise3x3_f32_codegen(True, lanes.literal_value)


@jit(fastmath=FAST, inline="always")
def _depthwise3x3_pair(r0, r1, r2, i, j, step, w, bias, acc0, acc1, lo, hi):
    """acc0 (acc1) = clamp(bias + sum of x * w over the 3x3 window with columns i, i+step,
    i+2*step (j, ...) of the input rows r0, r1, r2 [W, C])."""
    a0, a1, a2 = r0[i], r0[i + step], r0[i + 2 * step]
    b0, b1, b2 = r1[i], r1[i + step], r1[i + 2 * step]
    c0, c1, c2 = r2[i], r2[i + step], r2[i + 2 * step]
    d0, d1, d2 = r0[j], r0[j + step], r0[j + 2 * step]
    e0, e1, e2 = r1[j], r1[j + step], r1[j + 2 * step]
    f0, f1, f2 = r2[j], r2[j + step], r2[j + 2 * step]
    w0, w1, w2, w3, w4, w5, w6, w7, w8 = w[0], w[1], w[2], w[3], w[4], w[5], w[6], w[7], w[8]
    for ch in range(acc0.shape[0]):
        k0, k1, k2, k3, k4 = w0[ch], w1[ch], w2[ch], w3[ch], w4[ch]
        k5, k6, k7, k8 = w5[ch], w6[ch], w7[ch], w8[ch]
        u = (bias[ch] + a0[ch] * k0 + a1[ch] * k1 + a2[ch] * k2 + b0[ch] * k3 + b1[ch] * k4
             + b2[ch] * k5 + c0[ch] * k6 + c1[ch] * k7 + c2[ch] * k8)
        v = (bias[ch] + d0[ch] * k0 + d1[ch] * k1 + d2[ch] * k2 + e0[ch] * k3 + e1[ch] * k4
             + e2[ch] * k5 + f0[ch] * k6 + f1[ch] * k7 + f2[ch] * k8)
        acc0[ch] = min(max(u, lo), hi)
        acc1[ch] = min(max(v, lo), hi)


@jit(fastmath=FAST)
def _depthwise_pixel(x, w, bias, acc, n, iy0, ix0, geom, lo, hi):
    """Any window, any multiplier, at output pixel acc whose window starts at (iy0, ix0): taps
    off the image are skipped."""
    n_batch, h, wd, c, oh, ow, o, kh, kw, sh, sw, dh, dw, ph, pw, mult = geom
    for ch in range(o):
        acc[ch] = bias[ch]
    for i in range(kh):
        iy = iy0 + i * dh
        if iy < 0 or iy >= h:
            continue
        for j in range(kw):
            ix = ix0 + j * dw
            if ix < 0 or ix >= wd:
                continue
            src = x[n, iy, ix]
            wt = w[i * kw + j]
            if mult == 1:
                for ch in range(o):
                    acc[ch] += src[ch] * wt[ch]
            else:
                for ch in range(c):
                    v = src[ch]
                    for m in range(mult):
                        acc[ch * mult + m] += v * wt[ch * mult + m]
    for ch in range(o):
        acc[ch] = min(max(acc[ch], lo), hi)


@jit
def transpose_conv_float(x, w, bias, out, geom, lo, hi, channels, sync, part):
    """x [N,H,W,I], out [N,OH,OW,O] flat; w, bias packed per filter tap (pack_transpose). Input
    pixel (iy, ix) reaches output (iy*SH - PH + i, ix*SW - PW + j) through tap (i, j).
    channels = (c0, c1): the output channels this call computes (c0 a multiple of NR in the
    panel layout); chunk `part` of a split op (sync.py)."""
    if chunk_start(sync, part):
        _transpose_conv_float(x, w, bias, out, geom, lo, hi, channels)
    chunk_end(sync, part)


@jit(fastmath=FAST)
def _transpose_conv_float(x, w, bias, out, geom, lo, hi, channels):
    n_batch, h, wd, ci, oh, ow, o, kh, kw, sh, sw, ph, pw, dot = geom
    c0, c1 = channels
    q0, q1 = c0 // NR, -(-c1 // NR)
    per_row = bias.shape[1]
    for p in range(n_batch * oh * ow):
        acc = out[p * o:(p + 1) * o]
        for ch in range(c0, c1):
            acc[ch] = bias[ch // per_row, ch % per_row]
    for n in range(n_batch):
        for iy in range(h):
            for i in range(kh):
                y = iy * sh - ph + i
                if y < 0 or y >= oh:
                    continue
                for j in range(kw):
                    # input columns whose output column ix*SW - PW + j lands in [0, OW)
                    ix0 = max(0, -((j - pw) // sw))
                    ix1 = min(wd, (ow - 1 + pw - j) // sw + 1)
                    if ix1 <= ix0:
                        continue
                    a_off = ((n * h + iy) * wd + ix0) * ci
                    out_off = ((n * oh + y) * ow + ix0 * sw - pw + j) * o + c0
                    tap = w[i * kw + j]
                    if dot:
                        gemm_nk(ix1 - ix0, c1 - c0, ci, x, a_off, ci, tap[0][c0:c1], bias[0][c0:c1], out,
                                out_off, sw * o, True, NO_CLAMP[0], NO_CLAMP[1])
                    else:
                        gemm(ix1 - ix0, c1 - c0, ci, x, a_off, ci, tap[q0:q1], bias[q0:q1], out, out_off,
                             sw * o, True, NO_CLAMP[0], NO_CLAMP[1])
    if lo > -np.inf or hi < np.inf:
        for p in range(n_batch * oh * ow):
            acc = out[p * o:(p + 1) * o]
            for ch in range(c0, c1):
                acc[ch] = min(max(acc[ch], lo), hi)


# -- prepare helpers -------------------------------------------------------------------------
class ConvData:
    """What eval needs: the geometry (a tuple of ints), packed weights and bias (or the scratch
    slots to pack run-time ones into), the activation bounds, the work cut into spans (one per
    thread, see litert/threads.py) and, once bound, one argument tuple per span."""

    __slots__ = ("geom", "weights", "bias", "weights_slot", "bias_slot", "col_slot", "lo", "hi",
                 "dot", "spans", "chunks", "zeros")

    def __init__(self, geom, lo, hi, dot=False):
        self.geom = tuple(int(v) for v in geom)
        self.dot = dot   # weights in the dot layout (see pack_conv)
        self.lo, self.hi = np.float32(lo), np.float32(hi)
        self.weights = self.bias = None
        self.weights_slot = self.bias_slot = self.col_slot = None
        self.spans = self.chunks = self.zeros = None


def _float32_only(ctx, *specs):
    for s in specs:
        if s is not None:
            ctx.check(s.dtype == np.float32,
                      f"tensor {s.index} ({s.name!r}) is {s.type_name}; the other inputs are float32")


def _is_float(x, filt):
    return x.dtype == np.float32 and filt.dtype == np.float32


def _check_rank(ctx, spec, rank, what):
    ctx.check(spec.rank == rank, f"{what} must have rank {rank}, got shape {list(spec.shape)}")


def _options(ctx, kind):
    """The op's options table, its padding checked."""
    opts = ctx.options
    ctx.check(opts is not None and type(opts).__name__ == kind + "T", f"has no {kind}")
    check_padding(ctx, int(opts.padding))
    return opts


def _stride_dilation(ctx, opts, dilation=True):
    sh, sw = int(opts.strideH), int(opts.strideW)
    ctx.check(sh >= 1 and sw >= 1, f"strides must be >= 1, got {sh}x{sw}")
    if not dilation:
        return sh, sw
    dh, dw = int(opts.dilationHFactor or 1), int(opts.dilationWFactor or 1)
    ctx.check(dh >= 1 and dw >= 1, f"dilation factors must be >= 1, got {dh}x{dw}")
    return sh, sw, dh, dw


def _check_bias(ctx, index, channels):
    bias = ctx.input(index)
    if bias is not None:
        _float32_only(ctx, bias)
        ctx.check(bias.size == channels, f"bias has {bias.size} values for {channels} output channels")
    return bias


# Weights are packed in one of two layouts (gemm.use_dot picks by output channels per GEMM):
#   panels [units, panels, K, NR], bias [units, panels, NR]  -> gemm
#   dot    [units, 1, N, K],       bias [units, 1, N]         -> gemm_nk (OHWI rows as they are)
# where a unit is a group (CONV_2D) or a filter tap (transposed convolutions).
def pack_conv(w, packed, dot):
    """OHWI w [G*Og, KH, KW, Cg] -> one GEMM operand per group."""
    groups = packed.shape[0]
    w2 = w.reshape(w.shape[0], -1)
    if dot:   # OHWI rows as they are
        np.copyto(packed.reshape(w2.shape), w2)
        return
    og = w.shape[0] // groups
    for g in range(groups):
        pack_weights(w2[g * og:(g + 1) * og], packed[g])


def pack_transpose(w, packed, dot):
    """OHWI w [O, KH, KW, I] -> one GEMM operand per tap: tap t multiplies by w[:, t, :]^T."""
    taps = packed.shape[0]
    w3 = w.reshape(w.shape[0], taps, w.shape[3])
    if dot:
        np.copyto(packed.reshape(taps, w.shape[0], w.shape[3]), w3.transpose(1, 0, 2))
        return
    pack_taps(w3, packed)


@jit
def pack_taps(w3, packed):
    """Tap t of w3 [O, taps, I] into packed[t] ([panels, I, NR]), as pack_weights lays out one
    [O, I] matrix: packed[t, q, p, j] = w3[q*NR + j, t, p], zero past O. (Not pack_weights on a
    tap's strided view: every signature of a core must take C-contiguous arrays.)"""
    taps, panels, k, nr = packed.shape
    n = w3.shape[0]
    for t in range(taps):
        for q in range(panels):
            for p in range(k):
                row = packed[t, q, p]
                for j in range(nr):
                    row[j] = w3[q * nr + j, t, p] if q * nr + j < n else 0.0


def pack_grouped_bias(bias, packed, dot):
    """bias [G*Og] -> [G, panels, NR] or, in the dot layout, [G, 1, Og]."""
    if dot:
        np.copyto(packed.reshape(-1), bias)
        return
    og = bias.shape[0] // packed.shape[0]
    for g in range(packed.shape[0]):
        pack_bias(bias[g * og:(g + 1) * og], packed[g])


def _layouts(units, n, k, bias_units):
    """(dot?, packed weight shape, packed bias shape) for `units` GEMMs of n outputs over k."""
    if use_dot(n):
        return True, (units, 1, n, k), (bias_units, 1, n)
    return False, (units, panels(n), k, NR), (bias_units, panels(n), NR)


def _setup_packing(ctx, data, filt, pack, shapes, bias_index, channels):
    """Pack constant weights and bias now (into persistent memory); for run-time ones reserve
    scratch that eval packs into at every invoke."""
    w_shape, bias_shape = shapes
    if filt.data is not None:
        packed = np.empty(w_shape, np.float32)
        pack(np.array(filt.data, np.float32), packed, data.dot)
        data.weights = ctx.persistent(packed)
    else:
        data.weights_slot = ctx.scratch(w_shape, np.float32)
    bias = _check_bias(ctx, bias_index, channels)
    if bias is None or bias.data is not None:
        packed = np.empty(bias_shape, np.float32)
        values = np.zeros(channels, np.float32) if bias is None else np.array(bias.data, np.float32).reshape(-1)
        pack_grouped_bias(values, packed, data.dot)
        data.bias = ctx.persistent(packed)
    else:
        data.bias_slot = ctx.scratch(bias_shape, np.float32)


def _packed_operands(data, scratch):
    """The packed weights and bias eval runs on: the prepared ones, or the scratch that eval packs
    run-time ones into (_pack_runtime_operands)."""
    w = data.weights if data.weights is not None else scratch[data.weights_slot]
    bias = data.bias if data.bias is not None else scratch[data.bias_slot]
    return w, bias


def _pack_runtime_operands(data, ins, scratch, pack, bias_index):
    """Weights or bias that arrive at run time, packed into their scratch for this invoke."""
    if data.weights is None:
        pack(ins[1], scratch[data.weights_slot], data.dot)
    if data.bias is None:
        pack_grouped_bias(ins[bias_index].reshape(-1), scratch[data.bias_slot], data.dot)


# -- CONV_2D -----------------------------------------------------------------------------------
COL_FLOATS = 1 << 16   # im2col scratch budget (256 KB): as many output rows per GEMM as fit


def prepare_conv2d(ctx):
    ctx.check_inputs(2, 3)
    x, filt, out = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0]
    ctx.check(x is not None and filt is not None, "input and filter are required")
    _check_rank(ctx, x, 4, "input")
    _check_rank(ctx, filt, 4, "filter (OHWI)")
    opts = _options(ctx, "Conv2DOptions")
    padding = int(opts.padding)
    sh, sw, dh, dw = _stride_dilation(ctx, opts)
    n, h, w, c = x.shape
    o, kh, kw, cg = filt.shape
    ctx.check(cg > 0 and c % cg == 0,
              f"input has {c} channels, not a multiple of the filter's {cg} input channels")
    groups = c // cg
    ctx.check(o % groups == 0, f"{o} output channels do not split into {groups} groups")
    oh = conv_output_size(h, kh, sh, dh, padding)
    ow = conv_output_size(w, kw, sw, dw, padding)
    ph = conv_padding(h, kh, sh, dh, oh)
    pw = conv_padding(w, kw, sw, dw, ow)
    ctx.set_output(0, (n, oh, ow, o))
    if not _is_float(x, filt):
        return prepare_quantized_conv2d(ctx, (n, h, w, c, oh, ow, o, kh, kw, sh, sw, dh, dw, ph, pw, groups))
    _float32_only(ctx, out)
    kg = kh * kw * cg
    og = o // groups
    dot, *shapes = _layouts(groups, og, kg, groups)
    pointwise = kh == 1 and kw == 1 and ph == 0 and pw == 0
    # threads: a 1x1 convolution whose weights outweigh its pixels splits its output channels
    # (each thread reads part of the weights), any other splits output rows (pixels at stride 1)
    direct = pointwise and sh == 1 and sw == 1
    units = n * h * w if direct else n * oh
    pixels = n * oh * ow
    us = pixels * o * kg / GEMM_MACS_PER_US + (0 if pointwise else pixels * kg / IM2COL_FLOATS_PER_US)
    if pointwise and groups == 1 and not dot and o > pixels:
        spans = [(0, units, c0, c1) for c0, c1 in plan(ctx.num_threads, o, us, NR)]
    else:
        spans = [(r0, r1, 0, og) for r0, r1 in plan(ctx.num_threads, units, us, 4 if direct else 1)]
    longest = max(r1 - r0 for r0, r1, _, _ in spans)
    rows = max(1, min(longest, COL_FLOATS // max(ow * kg, 1)))
    data = ConvData((n, h, w, c, oh, ow, o, kh, kw, sh, sw, dh, dw, ph, pw, groups, rows, dot),
                    *float_activation_range(ctx), dot)
    data.spans = spans
    _setup_packing(ctx, data, filt, pack_conv, shapes, 2, o)
    data.col_slot = ctx.scratch((len(spans) * (1 if pointwise else rows * ow * kg),), np.float32)
    return data


def bind_conv2d(data, ins, outs, scratch):
    if isinstance(data, QuantConv):
        return data.bind(ins, outs, scratch)
    w, bias = _packed_operands(data, scratch)
    x, out = ins[0].reshape(-1), outs[0].reshape(-1)
    cols = per_chunk(scratch[data.col_slot], len(data.spans))
    data.chunks = with_parts([(x, w, bias, out, col, data.geom, data.lo, data.hi, span)
                              for span, col in zip(data.spans, cols)])


def eval_conv2d(data, ins, outs, scratch):
    if isinstance(data, QuantConv):
        return data.eval(ins, outs, scratch)
    _pack_runtime_operands(data, ins, scratch, pack_conv, 2)
    run_chunks(conv2d_float, data.chunks)


# -- DEPTHWISE_CONV_2D -------------------------------------------------------------------------
def prepare_depthwise(ctx):
    ctx.check_inputs(2, 3)
    x, filt, out = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0]
    ctx.check(x is not None and filt is not None, "input and filter are required")
    _check_rank(ctx, x, 4, "input")
    _check_rank(ctx, filt, 4, "filter (1HWC)")
    opts = _options(ctx, "DepthwiseConv2DOptions")
    padding = int(opts.padding)
    sh, sw, dh, dw = _stride_dilation(ctx, opts)
    n, h, w, c = x.shape
    one, kh, kw, o = filt.shape
    ctx.check(one == 1, f"filter must be [1, KH, KW, C*M], got {list(filt.shape)}")
    ctx.check(c > 0 and o % c == 0, f"filter has {o} channels, not a multiple of the input's {c}")
    oh = conv_output_size(h, kh, sh, dh, padding)
    ow = conv_output_size(w, kw, sw, dw, padding)
    ph = conv_padding(h, kh, sh, dh, oh)
    pw = conv_padding(w, kw, sw, dw, ow)
    ctx.set_output(0, (n, oh, ow, o))
    if not _is_float(x, filt):
        return prepare_quantized_depthwise(ctx, (n, h, w, c, oh, ow, o, kh, kw, sh, sw, dh, dw, ph, pw))
    _float32_only(ctx, out)
    data = ConvData((n, h, w, c, oh, ow, o, kh, kw, sh, sw, dh, dw, ph, pw, o // c),
                    *float_activation_range(ctx))
    # 1HWC is already channels-innermost: the packing is a writable copy [KH*KW, C*M]
    if filt.data is not None:
        data.weights = ctx.persistent(np.array(filt.data, np.float32).reshape(kh * kw, o))
    bias = _check_bias(ctx, 2, o)
    if bias is None or bias.data is not None:
        data.bias = ctx.persistent(np.zeros(o, np.float32) if bias is None
                                   else np.array(bias.data, np.float32).reshape(-1))
    data.zeros = ctx.persistent(np.zeros(FLANES, np.float32))
    us = n * oh * ow * (o * kh * kw / DEPTHWISE_MACS_PER_US + 1 / DEPTHWISE_PIXELS_PER_US)
    data.spans = plan(ctx.num_threads, n * oh, us)
    return data


def bind_depthwise(data, ins, outs, scratch):
    if isinstance(data, QuantConv):
        return data.bind(ins, outs, scratch)
    w = data.weights
    if w is None:   # run-time weights: read in place
        w = ins[1].reshape(ins[1].shape[1] * ins[1].shape[2], ins[1].shape[3])
    bias = data.bias if data.bias is not None else ins[2].reshape(-1)
    data.chunks = with_parts([(ins[0], w, bias, outs[0], data.zeros, data.geom, data.lo, data.hi, span)
                              for span in data.spans])


def eval_depthwise(data, ins, outs, scratch):
    if isinstance(data, QuantConv):
        return data.eval(ins, outs, scratch)
    run_chunks(depthwise_float, data.chunks)


# -- TRANSPOSE_CONV and Convolution2DTransposeBias ----------------------------------------------
def _prepare_transpose(ctx, x, filt, out_hw, pads, strides, act_range, bias_index):
    """Shared tail: x [N,H,W,I], filt OHWI; output [N, out_hw, O]; pads = (top, left)."""
    _check_rank(ctx, x, 4, "input")
    _check_rank(ctx, filt, 4, "weights (OHWI)")
    n, h, w, ci = x.shape
    o, kh, kw, fi = filt.shape
    ctx.check(fi == ci, f"weights have {fi} input channels, the input has {ci}")
    oh, ow = out_hw
    ctx.set_output(0, (n, oh, ow, o))
    if not _is_float(x, filt):
        ctx.check(ctx.op.name == "TRANSPOSE_CONV", f"{ctx.op.name} takes float32 tensors only")
        return prepare_quantized_transpose(ctx, (n, h, w, ci, oh, ow, o, kh, kw, strides[0], strides[1],
                                                 pads[0], pads[1]), 2, bias_index)
    _float32_only(ctx, ctx.outputs[0])
    dot, *shapes = _layouts(kh * kw, o, ci, 1)
    data = ConvData((n, h, w, ci, oh, ow, o, kh, kw, strides[0], strides[1], pads[0], pads[1], dot),
                    *act_range, dot)
    _setup_packing(ctx, data, filt, pack_transpose, shapes, bias_index, o)
    # threads split the output channels (panels): the scatter makes rows overlap
    us = n * h * w * kh * kw * ci * o / TRANSPOSE_MACS_PER_US
    data.spans = [(0, o)] if dot else plan(ctx.num_threads, o, us, NR)
    return data


def _transpose_padding(out_size, filter_size, stride, padding):
    """TFLite ComputePaddingHeightWidth applied to the output (the forward conv's input)."""
    if padding == PADDING_SAME:
        conv_out = (out_size + stride - 1) // stride
    else:
        conv_out = int((out_size + stride - filter_size) / stride)   # C division truncates
    total = (conv_out - 1) * stride + filter_size - out_size
    return max(total, 0) // 2


def prepare_transpose_conv(ctx):
    ctx.check_inputs(3, 4)
    shape_spec, filt, x = ctx.inputs[0], ctx.inputs[1], ctx.inputs[2]
    ctx.check(shape_spec is not None and filt is not None and x is not None,
              "output_shape, weights and input are required")
    ctx.check_dtype(shape_spec, np.int32)
    shape = ctx.constant(0, "output_shape").reshape(-1)
    ctx.check(shape.size == 4, f"output_shape must hold 4 values, got {shape.tolist()}")
    n, oh, ow, oc = (int(v) for v in shape)
    ctx.check(n == x.shape[0] and oc == filt.shape[0] and oh >= 0 and ow >= 0,
              f"output_shape {shape.tolist()} does not match input batch {x.shape[0]} and "
              f"{filt.shape[0]} output channels")
    opts = _options(ctx, "TransposeConvOptions")
    padding = int(opts.padding)
    sh, sw = _stride_dilation(ctx, opts, dilation=False)
    pads = (_transpose_padding(oh, filt.shape[1], sh, padding),
            _transpose_padding(ow, filt.shape[2], sw, padding))
    return _prepare_transpose(ctx, x, filt, (oh, ow), pads, (sh, sw), float_activation_range(ctx), 3)


# TfLitePadding (the C enum MediaPipe packs into custom options) differs from the schema's Padding
TFLITE_C_PADDING = {1: PADDING_SAME, 2: PADDING_VALID}


def prepare_transpose_conv_bias(ctx):
    """MediaPipe's Convolution2DTransposeBias: inputs (input, weights OHWI, bias); custom options
    are a packed TfLiteTransposeConvParams {int32 padding (1 SAME, 2 VALID), stride_w, stride_h}.
    Output size (mediapipe/util/tflite/operations/transpose_conv_bias.cc): stride*(in-1) + filter
    - pad, pad = max(0, filter - (in-1) % stride - 1) for SAME (0 for VALID), pad//2 before."""
    ctx.check_inputs(3)
    x, filt, bias = ctx.inputs
    ctx.check(x is not None and filt is not None and bias is not None,
              "input, weights and bias are required")
    raw = bytes(ctx.op.custom_options or b"")
    ctx.check(len(raw) >= 12, f"custom options hold {len(raw)} bytes; expected a 12-byte "
                              "TfLiteTransposeConvParams")
    pad_code, sw, sh = struct.unpack_from("<iii", raw)
    ctx.check(pad_code in TFLITE_C_PADDING, f"unknown padding code {pad_code}")
    ctx.check(sh >= 1 and sw >= 1, f"strides must be >= 1, got {sh}x{sw}")
    _check_rank(ctx, x, 4, "input")
    _check_rank(ctx, filt, 4, "weights (OHWI)")
    _, h, w, _ = x.shape
    _, kh, kw, _ = filt.shape
    same = TFLITE_C_PADDING[pad_code] == PADDING_SAME
    pad_h = max(0, kh - (h - 1) % sh - 1) if same else 0
    pad_w = max(0, kw - (w - 1) % sw - 1) if same else 0
    out_hw = (sh * (h - 1) + kh - pad_h, sw * (w - 1) + kw - pad_w)
    return _prepare_transpose(ctx, x, filt, out_hw, (pad_h // 2, pad_w // 2), (sh, sw),
                              NO_CLAMP, 2)


def make_transpose_kernel(input_index, bias_index):
    """(bind, eval) of a transposed convolution whose input and bias are at these positions."""
    def bind_transpose(data, ins, outs, scratch):
        if isinstance(data, QuantConv):
            return data.bind(ins, outs, scratch)
        w, bias = _packed_operands(data, scratch)
        x, out = ins[input_index].reshape(-1), outs[0].reshape(-1)
        data.chunks = with_parts([(x, w, bias[0], out, data.geom, data.lo, data.hi, span) for span in data.spans])

    def eval_transpose(data, ins, outs, scratch):
        if isinstance(data, QuantConv):
            return data.eval(ins, outs, scratch)
        _pack_runtime_operands(data, ins, scratch, pack_transpose, bias_index)
        run_chunks(transpose_conv_float, data.chunks)
    return bind_transpose, eval_transpose


register_builtin("CONV_2D", prepare_conv2d, eval_conv2d, bind=bind_conv2d)
register_builtin("DEPTHWISE_CONV_2D", prepare_depthwise, eval_depthwise, bind=bind_depthwise)
_bind_tc, _eval_tc = make_transpose_kernel(2, 3)
register_builtin("TRANSPOSE_CONV", prepare_transpose_conv, _eval_tc, bind=_bind_tc)
_bind_tcb, _eval_tcb = make_transpose_kernel(0, 2)
register_custom_op("Convolution2DTransposeBias", prepare_transpose_conv_bias, _eval_tcb, bind=_bind_tcb)
