"""Quantized and hybrid convolutions: CONV_2D, DEPTHWISE_CONV_2D and TRANSPOSE_CONV on int8,
uint8 and int16 (16x8: int16 activations, int8 weights) tensors, and hybrid CONV_2D and
DEPTHWISE_CONV_2D (float32 input and output, int8 weights). conv.py registers the ops and hands
every case that is not all-float32 to the prepare functions here.

What the official reference kernels compute (tflite/kernels/conv.cc, depthwise_conv.cc,
transpose_conv.cc, kernel_util.cc and internal/reference/), and so these, bit for bit:
- acc[o] = bias[o] + sum over the window taps inside the input of (x - zp_in) * w (uint8:
  (w - zp_w)); padded taps are skipped. int32 arithmetic that wraps (int64 for 16x8).
- Multipliers per output channel: QuantizeMultiplier(double(s_in) * double(s_w[c]) /
  double(s_out)) (a per-tensor weight scale broadcast); uint8 takes one multiplier from the
  float32 product s_in * s_w and checks that the bias scale is within 2% of it.
- out = clamp(MBQM(acc) + zp_out) to the fused activation's range, in float32 as
  CalculateActivationRangeQuantized (qmath.quantized_activation_bounds). MBQM rounds twice
  (qmath.mbqm) for int8/uint8, and for 16x8 with an int32 bias (quantized_bias_type INT32);
  16x8 with an int64 bias scales the int64 accumulator (qmath.mbqm_int64). Measured against
  BUILTIN_REF in tests/test_conv_int8.py.
- Hybrid (dynamic range): each batch of the input is quantized to int8 at run time, symmetric
  (CONV_2D whose weights share one scale: EvalHybrid) or asymmetric with an offset (per-channel
  CONV_2D, DEPTHWISE_CONV_2D); acc as above (offset for zp_in), then
  float(acc) * s_w[c] * s_batch + bias[c], clamped; the float operations in the official order.

How it runs (the int8 paths carry MobileNet-class models; gemm_int8.py has the micro-kernels):
- int8 CONV_2D: the GEMM of gemm_int8 on rows of the input: a 1x1 convolution reads the input
  tensor in place (every pixel a row); any other gathers windows into scratch rows (im2col),
  where taps over the edge hold zp_in, so that the zero point folded into the bias stays exact.
- int8/uint8 DEPTHWISE_CONV_2D with multiplier 1: LANES channels at a time, each block over
  all the output rows; a 3x3 window is one depthwise3x3_q8 block (zp_in folded into the bias; in
  a window over the edge the missing taps read a row of zp_in); other windows and the last
  channels take a scalar loop that skips the missing taps.
- the rest (uint8/int16 CONV_2D, depthwise multipliers > 1 and int16, every TRANSPOSE_CONV,
  hybrids): an int64 accumulation pass (conv_acc, depthwise_acc, transpose_acc) into scratch,
  then an output pass (requantize_acc, or dequantize_acc for hybrids).
Quantized weights and bias must be constants (they are in every converted model): the packing,
folding and weight sums happen once, at prepare time.

Threads (num_threads > 1, litert/threads.py): int8 CONV_2D cuts output rows (pixels for a direct
1x1 at stride 1) or, for a direct 1x1 whose weights outweigh its pixels, channel panels; the
8-bit depthwise cuts rows or, when there are few, blocks of LANES channels; the generic and
hybrid paths cut output rows, whole images where a chunk cannot start inside one (the transposed
scatter; hybrid inputs quantized per image). Integer results do not depend on the order of the
sums anyway; the hybrids' float outputs are computed per element as with one thread.
"""
import numpy as np
from numba import carray

from ..threads import per_chunk, plan, run_chunks, with_parts
from .common import (ACT_NAMES, float_activation_range, fused_activation, inner_columns, jit, rows_inside3,
                     taps_inside3x3)
from .gemm_int8 import (LANES, NR, RQ_HALF, RQ_LANES, RQ_LEFT, RQ_MASK, RQ_MULT, RQ_RIGHT, RQ_ROWS, copy_bytes,
                        depthwise3x3_edge_q8, depthwise3x3_q8, fold_bias, gemm_q8, load_params, pack_weights_q8,
                        panels, quads, requant_params, requantize, shift_left, stack_i32)
from .qmath import mbqm, mbqm_int64, quantize_multiplier, quantized_activation_bounds, wrap_int32
from .sync import chunk_end, chunk_start

COL_BYTES = 1 << 18              # im2col scratch budget: as many output rows per GEMM as fit
# One core's speed, to size the work split across threads (litert/threads.py), measured on the
# development machine (x86-64, AVX-512 VNNI) on MobileNet-class layers: the int8 GEMM (multiply-adds,
# outputs stored, im2col bytes gathered per us), the 8-bit depthwise (multiply-adds and rows of
# LANES channels per us) and the generic scalar loops (multiply-adds per us).
Q8_MACS_PER_US = 300_000
Q8_OUTPUTS_PER_US = 11_000
Q8_IM2COL_BYTES_PER_US = 3_500
DW8_MACS_PER_US = 35_000
DW8_ROW_BLOCKS_PER_US = 9
TAPS_3X3 = 9 * LANES             # the weights of a 3x3 depthwise block, on the stack
CONV_ACC_MACS_PER_US = 7_500
DEPTHWISE_ACC_MACS_PER_US = 600
TRANSPOSE_ACC_MACS_PER_US = 8_000
MODE_DOUBLE, MODE_INT64 = 0, 1   # requantize_acc: mbqm on the int32 accumulator / mbqm_int64
ORDER_CHANNEL_FIRST, ORDER_SCALES_FIRST = 0, 1   # dequantize_acc: (acc*s_w)*s_b / acc*(s_w*s_b)


class QuantConv:
    """op_data of a quantized or hybrid convolution; conv.py's bind and eval call bind() (once the
    arena exists: `chunks`, one argument tuple per thread) and eval()."""

    def __init__(self, run, bind=None, **fields):
        self.run = run
        self.bind_chunks = bind
        self.chunks = None
        self.__dict__.update(fields)

    def bind(self, ins, outs, scratch):
        if self.bind_chunks is not None:
            self.bind_chunks(self, ins, outs, scratch)

    def eval(self, ins, outs, scratch):
        self.run(self, ins, outs, scratch)


# -- jitted cores: the fast int8 paths ---------------------------------------------------------
@jit
def conv2d_q8(x, w, bias, rq, out, col, geom, zp_in, zp_out, lo, hi, span, sync, part):
    """int8 CONV_2D. x [N*H*W*C] and out [N*OH*OW*O] flat; w, bias, rq: one per group (gemm_int8
    layouts); col: scratch for `rows` output rows of im2col patches. span = (start, stop, q0, q1):
    this call computes output rows start..stop of the N*OH (pixels of the N*H*W for a direct 1x1
    convolution at stride 1) and the output channel panels q0..q1 of each group; chunk `part` of
    a split op (sync.py)."""
    if chunk_start(sync, part):
        _conv2d_q8(x, w, bias, rq, out, col, geom, zp_in, zp_out, lo, hi, span)
    chunk_end(sync, part)


@jit
def _conv2d_q8(x, w, bias, rq, out, col, geom, zp_in, zp_out, lo, hi, span):
    n_batch, h, wd, c, oh, ow, o, kh, kw, sh, sw, dh, dw, ph, pw, groups, rows, direct, kq = geom
    start, stop, q0, q1 = span
    if direct:   # 1x1, no padding, one group, C a multiple of 4: rows of the input as they are
        if sh == 1 and sw == 1:
            gemm_q8(stop - start, o, kq, x, start * c, c, w[0], bias[0], rq[0], out, start * o, o, zp_out, lo, hi,
                    q0, q1)
            return
        for r in range(start, stop):
            n = r // oh
            gemm_q8(ow, o, kq, x, ((n * h + (r - n * oh) * sh) * wd) * c, sw * c, w[0], bias[0], rq[0], out,
                    r * ow * o, o, zp_out, lo, hi, q0, q1)
        return
    cg = c // groups
    og = o // groups
    kp = 4 * kq
    for chunk in range(-(-(stop - start) // rows)):   # (a run-time range step would keep a raise path)
        r0 = start + chunk * rows
        r1 = min(r0 + rows, stop)
        for g in range(groups):
            for r in range(r0, r1):
                n = r // oh
                _im2col_row(x, col, (r - r0) * ow * kp, n, r - n * oh, g * cg, cg, kp, zp_in, geom)
            gemm_q8((r1 - r0) * ow, og, kq, col, 0, kp, w[g], bias[g], rq[g], out, r0 * ow * o + g * og, o,
                    zp_out, lo, hi, q0, q1)


@jit(inline="always")
def _im2col_row(x, col, start, n, y, c0, cg, kp, fill, geom):
    """col[start + ox*kp + (i*KW + j)*cg + ch] = x[n, iy, ix, c0 + ch] for output row y; `fill`
    where the window hangs over the edge, 0 in the padding up to kp. Kernel row by kernel row:
    where its taps are contiguous in x (one group, no x dilation) and inside the image, one copy
    per output pixel in a tight loop over the inner columns (the 3-channel stem's 9 bytes);
    the rest tap by tap."""
    n_batch, h, wd, c, oh, ow, o, kh, kw, sh, sw, dh, dw, ph, pw, groups, rows, direct, kq = geom
    k = kh * kw * cg
    run = kw * cg if dw == 1 and cg == c else cg   # taps along x that are contiguous in x
    ox_lo, ox_hi = inner_columns(ow, wd, kw, sw, dw, pw)   # windows inside the image horizontally
    for i in range(kh):
        iy = y * sh - ph + i * dh
        base = start + i * kw * cg
        inner_lo, inner_hi = (ox_lo, ox_hi) if run > cg and 0 <= iy < h else (0, 0)
        src_row = ((n * h + iy) * wd) * c
        for ox in range(inner_lo, inner_hi):
            copy_bytes(col, base + ox * kp, x, src_row + (ox * sw - pw) * c, run)
        for ox in range(ow):
            if inner_lo <= ox < inner_hi:
                continue
            x0 = ox * sw - pw
            for j in range(kw):
                ix = x0 + j * dw
                dst = base + ox * kp + j * cg
                if 0 <= iy < h and 0 <= ix < wd:
                    copy_bytes(col, dst, x, src_row + ix * c + c0, cg)
                else:
                    for ch in range(cg):
                        col[dst + ch] = fill
    for ox in range(ow):
        row = start + ox * kp
        for e in range(k, kp):
            col[row + e] = 0


@jit
def depthwise_q8(x, w, bias, folded, rq, out, fill, geom, zp_in, zp_out, lo, hi, span, sync, part):
    """8-bit DEPTHWISE_CONV_2D, multiplier 1. x [N,H,W,C], out [N,OH,OW,C], w [KH*KW, C] int32
    (uint8: w - zp_w); folded = bias - zp_in * sum of the taps; fill: scratch [LANES] of x's type.
    Channels go LANES at a time, each block over all the rows of the span (its requantization
    parameters loaded once): a 3x3 window runs depthwise3x3_q8 reading the input and the weights
    in place, or, where it hangs over the edge, depthwise3x3_edge_q8, whose missing taps read
    `fill`, set to zp_in (so the folded bias stays exact).
    span = (start, stop, c_lo, c_hi): this call computes output rows start..stop of the N*OH,
    channels c_lo..c_hi (c_lo a multiple of LANES); chunk `part` of a split op (sync.py)."""
    if chunk_start(sync, part):
        _depthwise_q8(x, w, bias, folded, rq, out, fill, geom, zp_in, zp_out, lo, hi, span)
    chunk_end(sync, part)


@jit
def _depthwise_q8(x, w, bias, folded, rq, out, fill, geom, zp_in, zp_out, lo, hi, span):
    n_batch, h, wd, c, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw = geom
    start, stop, c_lo, c_hi = span
    fast3x3 = kh == 3 and kw == 3
    ox_lo, ox_hi = inner_columns(ow, wd, kw, sw, dw, pw)   # windows inside the image horizontally
    par = carray(stack_i32(RQ_LANES), (RQ_ROWS, LANES))
    taps = carray(stack_i32(TAPS_3X3), (9, LANES))
    for j in range(LANES):
        fill[j] = zp_in
    for c0 in range(c_lo, c_hi, LANES):
        cb = min(LANES, c_hi - c0)
        shifted = load_params(par, rq, c0, cb)
        if not (fast3x3 and cb == LANES):   # other windows, the last channels: scalar
            for row in range(start, stop):
                n = row // oh
                y = row - n * oh
                for ox in range(ow):
                    _depthwise_block(x, w, bias, par, shifted, out[n, y, ox], n, y * sh - ph, ox * sw - pw, c0, cb,
                                     geom, zp_in, zp_out, lo, hi)
            continue
        for t in range(9):
            for j in range(LANES):
                taps[t, j] = w[t, c0 + j]
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
                    depthwise3x3_q8(out, dst + ox * c, x, origin + ix * c, dw * c, dh * wd * c, taps, folded,
                                    c0, par, shifted, zp_out, lo, hi)
                    continue
                inside = taps_inside3x3(rows_inside, ix, dw, wd)
                depthwise3x3_edge_q8(out, dst + ox * c, x, origin + ix * c, dw * c, dh * wd * c, taps, folded,
                                     c0, par, shifted, zp_out, lo, hi, inside, fill)


@jit(inline="always")
def _depthwise_block(x, w, bias, par, shifted, dst, n, iy0, ix0, c0, cb, geom, zp_in, zp_out, lo, hi):
    """Channels c0..c0+cb of the output pixel dst whose window starts at (iy0, ix0), any window:
    taps off the image are skipped."""
    n_batch, h, wd, c, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw = geom
    acc = carray(stack_i32(LANES), (LANES,))
    for j in range(cb):
        acc[j] = bias[c0 + j]
    for i in range(kh):
        iy = iy0 + i * dh
        if iy < 0 or iy >= h:
            continue
        for k in range(kw):
            ix = ix0 + k * dw
            if ix < 0 or ix >= wd:
                continue
            src = x[n, iy, ix]
            wt = w[i * kw + k]
            for j in range(cb):
                acc[j] += np.int32(np.int32(src[c0 + j]) - zp_in) * wt[c0 + j]
    for j in range(cb):
        v = shift_left(acc[j], par[RQ_LEFT, j]) if shifted else acc[j]
        dst[c0 + j] = requantize(v, par[RQ_MULT, j], par[RQ_RIGHT, j], par[RQ_MASK, j], par[RQ_HALF, j],
                                 zp_out, lo, hi)


# -- jitted cores: the generic paths (int64 accumulation, then an output pass) -----------------
@jit
def conv_acc(x, w, acc, geom, zp, span):
    """acc [N*OH*OW, O] = sum over the taps inside the input of (x - zp[n]) * w; x [N,H,W,C]
    any integer type; w [G, KH*KW*Cg, Og] (int32). span = (start, stop): the output rows of the
    N*OH this call computes."""
    n_batch, h, wd, c, oh, ow, o, kh, kw, sh, sw, dh, dw, ph, pw, groups = geom
    cg = c // groups
    og = o // groups
    start, stop = span
    for row in range(start, stop):
        n = row // oh
        y = row - n * oh
        z = np.int64(zp[n])
        for ox in range(ow):
            a = acc[(n * oh + y) * ow + ox]
            for e in range(o):
                a[e] = 0
            for i in range(kh):
                iy = y * sh - ph + i * dh
                if iy < 0 or iy >= h:
                    continue
                for j in range(kw):
                    ix = ox * sw - pw + j * dw
                    if ix < 0 or ix >= wd:
                        continue
                    src = x[n, iy, ix]
                    for g in range(groups):
                        wg = w[g]
                        ag = a[g * og:(g + 1) * og]
                        for ci in range(cg):
                            v = np.int64(src[g * cg + ci]) - z
                            wr = wg[(i * kw + j) * cg + ci]
                            for e in range(og):
                                ag[e] += v * wr[e]


@jit
def depthwise_acc(x, w, acc, geom, zp, span):
    """acc [N*OH*OW, C*M] = sum over the taps inside the input of (x - zp[n]) * w for
    DEPTHWISE_CONV_2D with multiplier M; w [KH*KW, C*M] (int32). span = (start, stop): the
    output rows of the N*OH this call computes."""
    n_batch, h, wd, c, oh, ow, kh, kw, sh, sw, dh, dw, ph, pw, mult = geom
    start, stop = span
    for row in range(start, stop):
        n = row // oh
        y = row - n * oh
        z = np.int64(zp[n])
        for ox in range(ow):
            a = acc[(n * oh + y) * ow + ox]
            for e in range(a.shape[0]):
                a[e] = 0
            for i in range(kh):
                iy = y * sh - ph + i * dh
                if iy < 0 or iy >= h:
                    continue
                for j in range(kw):
                    ix = ox * sw - pw + j * dw
                    if ix < 0 or ix >= wd:
                        continue
                    src = x[n, iy, ix]
                    wt = w[i * kw + j]
                    for ci in range(c):
                        v = np.int64(src[ci]) - z
                        for m in range(mult):
                            a[ci * mult + m] += v * wt[ci * mult + m]


@jit
def transpose_acc(x, w, acc, geom, zp, span):
    """TRANSPOSE_CONV's scatter: input pixel (iy, ix) adds (x - zp[n]) * w[tap] into output pixel
    (iy*SH - PH + i, ix*SW - PW + j); x [N,H,W,CI], w [KH*KW, CI, O] (int32), acc [N*OH*OW, O].
    span = (start, stop): the output rows of the N*OH this call computes, whole images (the
    scatter from one input row reaches several output rows)."""
    n_batch, h, wd, ci, oh, ow, o, kh, kw, sh, sw, ph, pw = geom
    start, stop = span
    for r in range(start * ow, stop * ow):
        for e in range(o):
            acc[r, e] = 0
    for n in range(start // oh, stop // oh):
        z = np.int64(zp[n])
        for iy in range(h):
            for ix in range(wd):
                src = x[n, iy, ix]
                for i in range(kh):
                    y = iy * sh - ph + i
                    if y < 0 or y >= oh:
                        continue
                    for j in range(kw):
                        xx = ix * sw - pw + j
                        if xx < 0 or xx >= ow:
                            continue
                        a = acc[(n * oh + y) * ow + xx]
                        wt = w[i * kw + j]
                        for c in range(ci):
                            v = np.int64(src[c]) - z
                            wr = wt[c]
                            for e in range(o):
                                a[e] += v * wr[e]


@jit
def requantize_acc(acc, bias, mult, shift, out, mode, zp_out, lo, hi):
    """out [R, O] = clamp(scale(acc + bias) + zp_out): MODE_DOUBLE wraps the sum to int32 and
    rounds twice (qmath.mbqm); MODE_INT64 scales the int64 sum (qmath.mbqm_int64)."""
    for r in range(acc.shape[0]):
        a = acc[r]
        dst = out[r]
        for e in range(a.shape[0]):
            v = a[e] + bias[e]
            if mode == MODE_DOUBLE:
                s = mbqm(wrap_int32(v), mult[e], shift[e])
            else:
                s = wrap_int32(mbqm_int64(v, mult[e], shift[e]))
            dst[e] = min(max(s + zp_out, lo), hi)


@jit
def dequantize_acc(acc, bias, ch_scale, batch_scale, out, rows_per_batch, order, lo, hi):
    """Hybrid output: out [R, O] = clamp(float(acc) * scales + bias) in float32, scales applied as
    (acc * ch_scale) * batch_scale (ORDER_CHANNEL_FIRST) or acc * (ch_scale * batch_scale)."""
    for r in range(acc.shape[0]):
        sb = batch_scale[r // rows_per_batch]
        a = acc[r]
        dst = out[r]
        for e in range(a.shape[0]):
            f = np.float32(np.int32(a[e]))
            if order == ORDER_CHANNEL_FIRST:
                f = f * ch_scale[e] * sb
            else:
                f = f * (ch_scale[e] * sb)
            dst[e] = min(max(f + bias[e], lo), hi)


@jit
def quantize_batches(x, q, scale, offset, asymmetric):
    """Hybrid input: each row of x [N, size] (float32) to int8 q, as TFLite's
    SymmetricQuantizeFloats (offset 0, [-127, 127]) or AsymmetricQuantizeFloats."""
    for n in range(x.shape[0]):
        row = x[n]
        dst = q[n]
        lo = np.float32(np.inf)
        hi = np.float32(-np.inf)
        for e in range(row.shape[0]):
            lo = min(lo, row[e])
            hi = max(hi, row[e])
        if not asymmetric:
            rng = max(abs(lo), abs(hi))
            offset[n] = 0
            if rng == 0:
                scale[n] = np.float32(1.0)
                for e in range(row.shape[0]):
                    dst[e] = 0
                continue
            scale[n] = rng / np.float32(127.0)
            inv = np.float32(127.0) / rng
            for e in range(row.shape[0]):
                dst[e] = min(max(_round_half_away(row[e] * inv), -127), 127)
            continue
        rmin = min(np.float64(0.0), np.float64(lo))
        rmax = max(np.float64(0.0), np.float64(hi))
        if rmin == rmax:
            scale[n] = np.float32(1.0)
            offset[n] = 0
            for e in range(row.shape[0]):
                dst[e] = 0
            continue
        s = (rmax - rmin) / 255.0
        zp_min = -128.0 - rmin / s
        zp_max = 127.0 - rmax / s
        zp = zp_min if 128.0 + abs(rmin / s) < 127.0 + abs(rmax / s) else zp_max
        if zp <= -128.0:
            nudged = -128
        elif zp >= 127.0:
            nudged = 127
        else:
            nudged = _round_half_away(zp)
        scale[n] = np.float32(s)
        offset[n] = nudged
        inv = np.float32(1.0) / np.float32(s)
        fo = np.float32(nudged)
        for e in range(row.shape[0]):
            dst[e] = min(max(_round_half_away(fo + row[e] * inv), -128), 127)


@jit(inline="always")
def _round_half_away(v):
    """std::round (halves away from zero) as an int64; exact for any float32 or float64 v (a
    plain floor(|v| + 0.5) would round 0.49999997f up)."""
    a = abs(np.float64(v))
    t = np.floor(a)
    r = np.int64(t) + (1 if a - t >= 0.5 else 0)
    return -r if v < 0 else r


# -- the generic and hybrid paths, one core per chunk -------------------------------------------
def requantizing(accumulate):
    """The core of one chunk of the generic path: accumulate (conv_acc, depthwise_acc,
    transpose_acc) the output rows span = (r0, r1) of the N*OH into acc, then requantize_acc them."""
    @jit
    def accumulate_requantize(x, w, acc, geom, zp, span, bias, mult, shift, out, mode, zp_out, lo, hi, sync,
                              part):
        if chunk_start(sync, part):
            accumulate(x, w, acc, geom, zp, span)
            ow = geom[5]
            requantize_acc(acc[span[0] * ow:span[1] * ow], bias, mult, shift, out[span[0] * ow:span[1] * ow],
                           mode, zp_out, lo, hi)
        chunk_end(sync, part)
    return accumulate_requantize


def dequantizing(accumulate):
    """The core of one chunk of the hybrid path: accumulate the output rows span = (r0, r1) of the
    N*OH, then dequantize_acc them (batch_scale starts at the scale of row r0's image)."""
    @jit
    def accumulate_dequantize(x, w, acc, geom, zp, span, bias, ch_scale, batch_scale, out, rows_per_batch, order,
                              lo, hi, sync, part):
        if chunk_start(sync, part):
            accumulate(x, w, acc, geom, zp, span)
            ow = geom[5]
            dequantize_acc(acc[span[0] * ow:span[1] * ow], bias, ch_scale, batch_scale, out[span[0] * ow:span[1] * ow],
                           rows_per_batch, order, lo, hi)
        chunk_end(sync, part)
    return accumulate_dequantize


CHUNK_CORES = {conv_acc: (requantizing(conv_acc), dequantizing(conv_acc)),
               depthwise_acc: (requantizing(depthwise_acc), dequantizing(depthwise_acc)),
               transpose_acc: (requantizing(transpose_acc), None)}


# -- prepare -------------------------------------------------------------------------------------
# input type -> (weight type, bias types) as the official Prepare functions accept them
CONV_TYPES = {np.dtype(np.int8): (np.int8, (np.int32,)), np.dtype(np.uint8): (np.uint8, (np.int32,)),
              np.dtype(np.int16): (np.int8, (np.int32, np.int64))}
INT32_BIAS_TYPE, INT64_BIAS_TYPE = 2, 4     # TensorType codes in quantized_bias_type


def _quantization(ctx, spec, what):
    q = spec.quantization
    ctx.check(q is not None and q.scales.size > 0,
              f"{what} tensor {spec.index} ({spec.name!r}) is {spec.type_name} without quantization parameters")
    return q


def _scale_zp(ctx, spec, what):
    q = _quantization(ctx, spec, what)
    scale = float(q.scales[0])
    ctx.check(np.isfinite(scale) and scale > 0, f"{what} tensor {spec.index} ({spec.name!r}) has scale {scale}")
    return scale, int(q.zero_points[0])


def _check_types(ctx, x, filt, out, bias, bias_types=None):
    ctx.check(x.dtype in CONV_TYPES,
              f"input tensor {x.index} ({x.name!r}) is {x.type_name}; quantized convolutions take int8, "
              "uint8 or int16 (and float32 with float32 or int8 weights)")
    w_type, allowed = CONV_TYPES[x.dtype]
    ctx.check_dtype(filt, w_type)
    ctx.check_dtype(out, x.dtype)
    if bias is not None:
        ctx.check_dtype(bias, *(bias_types or allowed))


def _constant(ctx, spec, what):
    ctx.check(spec.data is not None, f"{what} tensor {spec.index} ({spec.name!r}) must be a constant: "
                                     "litert folds it into the kernel at prepare time")
    return np.asarray(spec.data)


def _bias_values(ctx, bias, channels):
    """The bias as int64 [channels] (zeros when the op has none)."""
    if bias is None:
        return np.zeros(channels, np.int64)
    values = _constant(ctx, bias, "bias").reshape(-1).astype(np.int64)
    ctx.check(values.size == channels, f"bias has {values.size} values for {channels} output channels")
    return values


def _weight_scales(ctx, filt, channels, axis):
    """Per output channel float64 scales of the weights (a per-tensor scale broadcast)."""
    q = _quantization(ctx, filt, "filter")
    scales = q.scales.astype(np.float64)
    if scales.size == 1:
        return np.full(channels, scales[0])
    ctx.check(scales.size == channels and q.quantized_dimension == axis,
              f"filter has {scales.size} scales on dimension {q.quantized_dimension}; expected 1 or "
              f"{channels} on dimension {axis}")
    return scales


def _activation_bounds(ctx, out):
    scale, zp = _scale_zp(ctx, out, "output")
    act = fused_activation(ctx)
    bounds = quantized_activation_bounds(act, out.dtype, scale, zp)
    ctx.check(bounds is not None, f"fused activation {ACT_NAMES.get(act, act)} is not supported")
    return bounds


def _requant_params(ctx, x, filt, bias, out, channels, axis):
    """(multipliers, shifts) per output channel, as PopulateConvolutionQuantizationParams."""
    s_in, _ = _scale_zp(ctx, x, "input")
    s_out, _ = _scale_zp(ctx, out, "output")
    scales = _weight_scales(ctx, filt, channels, axis)
    if x.dtype == np.uint8:
        ctx.check(_quantization(ctx, filt, "filter").scales.size == 1,
                  "uint8 convolutions take one weight scale (per-channel weights need int8)")
        if bias is not None:   # GetQuantizedConvolutionMultipler's check of the bias scale
            q = bias.quantization
            bias_scale = float(q.scales[0]) if q is not None and q.scales.size else 0.0
            ctx.check(abs(s_in * scales[0] - bias_scale) / s_out <= 0.02,
                      f"bias scale {bias_scale} differs from input scale x weight scale "
                      f"{s_in * scales[0]} by more than 2% of the output scale")
        real = float(np.float32(s_in) * np.float32(scales[0])) / s_out   # a float32 product there
        pairs = [quantize_multiplier(real)] * channels
    else:
        pairs = [quantize_multiplier(s_in * s / s_out) for s in scales]
    return (np.array([p[0] for p in pairs], np.int32), np.array([p[1] for p in pairs], np.int32))


def _int16_mode(ctx, x, bias, bias_type_option):
    """16x8: MODE_INT64 with an int64 bias (or none), MODE_DOUBLE with an int32 one, which the
    official kernels take only when the options' quantized_bias_type says INT32."""
    ctx.check(x.zero_point == 0 and ctx.outputs[0].zero_point == 0,
              "16x8 convolutions need input and output zero points 0")
    wanted = int(getattr(ctx.options, "quantizedBiasType", 0) or 0) if bias_type_option else 0
    ctx.check(wanted in (0, INT32_BIAS_TYPE, INT64_BIAS_TYPE),
              f"quantized_bias_type {wanted} is neither INT32 nor INT64")
    want = np.dtype(np.int32 if wanted == INT32_BIAS_TYPE else np.int64)
    ctx.check(bias is None or bias.dtype == want,
              f"the 16x8 bias is {bias.type_name if bias is not None else ''}; with quantized_bias_type "
              f"{'INT32' if wanted == INT32_BIAS_TYPE else 'unset or INT64'} the kernel reads {want}")
    return MODE_DOUBLE if want == np.int32 else MODE_INT64


def _zero_points(ctx, x, n):
    return ctx.persistent(np.full(max(n, 1), x.zero_point, np.int32))


def _skip(data, ins, outs, scratch):
    pass


def _row_spans(ctx, geom, us, whole_images):
    """Output rows (start, stop) of the N*OH per thread for the generic and hybrid paths (geom:
    N at 0, OH at 4), for an op of about `us` microseconds; whole images when a chunk cannot
    start inside one."""
    n, oh = geom[0], geom[4]
    if whole_images:
        return [(a * oh, b * oh) for a, b in plan(ctx.num_threads, n, us)]
    return plan(ctx.num_threads, n * oh, us)


def _generic(ctx, accumulate, x_index, w, geom, us, channels, bias, mult, shift, mode, lo, hi):
    """The generic quantized path: accumulate into int64 scratch, then requantize_acc, both on
    the output rows of each thread's span."""
    x, out = ctx.inputs[x_index], ctx.outputs[0]
    geom = tuple(int(v) for v in geom)
    return QuantConv(_run_generic, _bind_generic, accumulate=accumulate, x_index=x_index, geom=geom,
                     w=ctx.persistent(w), zp=_zero_points(ctx, x, x.shape[0]),
                     acc_slot=ctx.scratch((geom[0] * geom[4] * geom[5], channels), np.int64),
                     bias=ctx.persistent(bias), mult=ctx.persistent(mult), shift=ctx.persistent(shift), mode=mode,
                     zp_out=out.zero_point, lo=lo, hi=hi,
                     spans=_row_spans(ctx, geom, us, accumulate is transpose_acc))


def _bind_generic(d, ins, outs, scratch):
    acc = scratch[d.acc_slot]
    out = outs[0].reshape(acc.shape)
    d.chunks = with_parts([(ins[d.x_index], d.w, acc, d.geom, d.zp, span, d.bias, d.mult, d.shift, out, d.mode,
                            d.zp_out, d.lo, d.hi) for span in d.spans])


def _run_generic(d, ins, outs, scratch):
    run_chunks(CHUNK_CORES[d.accumulate][0], d.chunks)


def _weights_as_int32(ctx, filt, x):
    """Constant weights as int32, minus the weight zero point for uint8 (int8 kernels take the
    weights as they are: their zero points are 0)."""
    w = _constant(ctx, filt, "filter").astype(np.int32)
    return w - filt.zero_point if x.dtype == np.uint8 else w


# -- CONV_2D -------------------------------------------------------------------------------------
def prepare_quantized_conv2d(ctx, geom):
    """geom = (N, H, W, C, OH, OW, O, KH, KW, SH, SW, DH, DW, PH, PW, groups); the output shape is
    set. Every CONV_2D whose input and weights are not both float32."""
    x, filt, out, bias = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0], ctx.input(2)
    n, h, w, c, oh, ow, o, kh, kw, sh, sw, dh, dw, ph, pw, groups = geom
    if x.dtype == np.float32:
        return _prepare_hybrid(ctx, geom, depthwise=False)
    _check_types(ctx, x, filt, out, bias)
    if x.dtype != np.uint8:
        q = _quantization(ctx, filt, "filter")
        ctx.check(not q.zero_points.any(), "int8 weights need zero points 0")
    weights = _constant(ctx, filt, "filter")
    b = _bias_values(ctx, bias, o)
    mult, shift = _requant_params(ctx, x, filt, bias, out, o, 0)
    lo, hi = _activation_bounds(ctx, out)
    if out.size == 0:
        return QuantConv(_skip)
    if x.dtype == np.int8:
        return _prepare_conv_int8(ctx, geom, weights, b, mult, shift, lo, hi)
    mode = _int16_mode(ctx, x, bias, True) if x.dtype == np.int16 else MODE_DOUBLE
    cg, og = c // groups, o // groups
    wt = _weights_as_int32(ctx, filt, x).reshape(groups, og, kh * kw * cg).transpose(0, 2, 1)
    return _generic(ctx, conv_acc, 0, np.ascontiguousarray(wt), geom,
                    n * oh * ow * o * kh * kw * cg / CONV_ACC_MACS_PER_US, o, b, mult, shift, mode, lo, hi)


def _prepare_conv_int8(ctx, geom, weights, bias, mult, shift, lo, hi):
    x, out = ctx.inputs[0], ctx.outputs[0]
    n, h, w, c, oh, ow, o, kh, kw, sh, sw, dh, dw, ph, pw, groups = geom
    zp_in = x.zero_point
    ctx.check(-128 <= zp_in <= 127, f"input zero point {zp_in} is outside the int8 range")
    cg, og = c // groups, o // groups
    k = kh * kw * cg
    kq = quads(k)
    direct = kh == 1 and kw == 1 and ph == 0 and pw == 0 and groups == 1 and c % 4 == 0
    w2 = weights.reshape(o, k)
    per_group = [slice(g * og, (g + 1) * og) for g in range(groups)]
    # threads: a direct 1x1 convolution whose weights outweigh its pixels splits its output
    # channel panels (each thread reads part of the weights), any other splits output rows
    # (pixels at stride 1)
    stride1 = direct and sh == 1 and sw == 1
    units = n * h * w if stride1 else n * oh
    pixels = n * oh * ow
    us = (pixels * o * k / Q8_MACS_PER_US + pixels * panels(og) * groups * NR / Q8_OUTPUTS_PER_US
          + (0 if direct else pixels * 4 * kq * groups / Q8_IM2COL_BYTES_PER_US))
    if direct and o > pixels:
        spans = [(0, units, q0, q1) for q0, q1 in plan(ctx.num_threads, panels(o), us)]
    else:
        spans = [(r0, r1, 0, panels(og)) for r0, r1 in plan(ctx.num_threads, units, us, 4 if stride1 else 1)]
    longest = max(r1 - r0 for r0, r1, _, _ in spans)
    rows = 1 if direct else max(1, min(longest, COL_BYTES // max(ow * 4 * kq, 1)))
    return QuantConv(
        _run_conv_int8, _bind_conv_int8,
        geom=tuple(int(v) for v in geom) + (rows, int(direct), kq),
        w=ctx.persistent(np.stack([pack_weights_q8(w2[s]) for s in per_group])),
        bias=ctx.persistent(np.stack([fold_bias(bias[s], w2[s], zp_in) for s in per_group])),
        rq=ctx.persistent(np.stack([requant_params(mult[s], shift[s], panels(og) * NR) for s in per_group])),
        col_slot=ctx.scratch((len(spans) * (1 if direct else rows * ow * 4 * kq),), np.int8),
        zp_in=zp_in, zp_out=out.zero_point, lo=lo, hi=hi, spans=spans)


def _bind_conv_int8(d, ins, outs, scratch):
    x, out = ins[0].reshape(-1), outs[0].reshape(-1)
    cols = per_chunk(scratch[d.col_slot], len(d.spans))
    d.chunks = with_parts([(x, d.w, d.bias, d.rq, out, col, d.geom, d.zp_in, d.zp_out, d.lo, d.hi, span)
                           for span, col in zip(d.spans, cols)])


def _run_conv_int8(d, ins, outs, scratch):
    run_chunks(conv2d_q8, d.chunks)


# -- DEPTHWISE_CONV_2D ---------------------------------------------------------------------------
def prepare_quantized_depthwise(ctx, geom):
    """geom = (N, H, W, C, OH, OW, O, KH, KW, SH, SW, DH, DW, PH, PW); the output shape is set."""
    x, filt, out, bias = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0], ctx.input(2)
    n, h, w, c, oh, ow, o, kh, kw, sh, sw, dh, dw, ph, pw = geom
    if x.dtype == np.float32:
        return _prepare_hybrid(ctx, geom, depthwise=True)
    _check_types(ctx, x, filt, out, bias, (np.int64,) if x.dtype == np.int16 else None)
    wt = _weights_as_int32(ctx, filt, x).reshape(kh * kw, o)
    b = _bias_values(ctx, bias, o)
    mult, shift = _requant_params(ctx, x, filt, bias, out, o, 3)
    lo, hi = _activation_bounds(ctx, out)
    if out.size == 0:
        return QuantConv(_skip)
    multiplier = o // c
    if x.dtype == np.int16 or multiplier != 1:
        mode = _int16_mode(ctx, x, bias, False) if x.dtype == np.int16 else MODE_DOUBLE
        return _generic(ctx, depthwise_acc, 0, wt, geom[:6] + geom[7:] + (multiplier,),
                        n * oh * ow * o * kh * kw / DEPTHWISE_ACC_MACS_PER_US, o, b, mult, shift, mode, lo, hi)
    zp_in = x.zero_point
    # threads: output rows, or blocks of channels where the rows are too few to share evenly
    us = n * oh * ow * o * kh * kw / DW8_MACS_PER_US + n * oh * -(-c // LANES) / DW8_ROW_BLOCKS_PER_US
    if n * oh >= 4 * ctx.num_threads:
        spans = [(r0, r1, 0, c) for r0, r1 in plan(ctx.num_threads, n * oh, us)]
    else:
        spans = [(0, n * oh, c0, c1) for c0, c1 in plan(ctx.num_threads, c, us, LANES)]
    return QuantConv(_run_depthwise_8bit, _bind_depthwise_8bit, geom=tuple(int(v) for v in geom[:6] + geom[7:]),
                     w=ctx.persistent(wt), bias=ctx.persistent(_wrap32(b)),
                     folded=ctx.persistent(_wrap32(b - zp_in * wt.astype(np.int64).sum(axis=0))),
                     rq=ctx.persistent(requant_params(mult, shift, o)),
                     fill_slot=ctx.scratch((len(spans) * LANES,), x.dtype),
                     zp_in=zp_in, zp_out=out.zero_point, lo=lo, hi=hi, spans=spans)


def _wrap32(values):
    return ((np.asarray(values, np.int64) + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32)


def _bind_depthwise_8bit(d, ins, outs, scratch):
    fills = per_chunk(scratch[d.fill_slot], len(d.spans))
    d.chunks = with_parts([(ins[0], d.w, d.bias, d.folded, d.rq, outs[0], fill, d.geom, d.zp_in, d.zp_out, d.lo,
                            d.hi, span) for span, fill in zip(d.spans, fills)])


def _run_depthwise_8bit(d, ins, outs, scratch):
    run_chunks(depthwise_q8, d.chunks)


# -- TRANSPOSE_CONV ------------------------------------------------------------------------------
def prepare_quantized_transpose(ctx, geom, x_index, bias_index):
    """geom = (N, H, W, CI, OH, OW, O, KH, KW, SH, SW, PH, PW); the output shape is set."""
    x, filt, out, bias = ctx.inputs[x_index], ctx.inputs[1], ctx.outputs[0], ctx.input(bias_index)
    n, h, w, ci, oh, ow, o, kh, kw, sh, sw, ph, pw = geom
    ctx.check(x.dtype != np.float32, "hybrid TRANSPOSE_CONV (float32 input, int8 weights) is not supported")
    _check_types(ctx, x, filt, out, bias)
    wt = _weights_as_int32(ctx, filt, x).reshape(o, kh * kw, ci).transpose(1, 2, 0)
    b = _bias_values(ctx, bias, o)
    mult, shift = _requant_params(ctx, x, filt, bias, out, o, 0)
    lo, hi = _activation_bounds(ctx, out)
    if out.size == 0:
        return QuantConv(_skip)
    mode = _int16_mode(ctx, x, bias, True) if x.dtype == np.int16 else MODE_DOUBLE
    return _generic(ctx, transpose_acc, x_index, np.ascontiguousarray(wt), geom,
                    n * h * w * kh * kw * ci * o / TRANSPOSE_ACC_MACS_PER_US, o, b, mult, shift, mode, lo, hi)


# -- hybrid (dynamic range) CONV_2D and DEPTHWISE_CONV_2D ----------------------------------------
def _prepare_hybrid(ctx, geom, depthwise):
    x, filt, out, bias = ctx.inputs[0], ctx.inputs[1], ctx.outputs[0], ctx.input(2)
    n, h, w, c, oh, ow, o = geom[:7]
    ctx.check(filt.dtype == np.int8, f"a float32 input takes float32 or int8 weights, not {filt.type_name}")
    ctx.check_dtype(out, np.float32)
    if bias is not None:
        ctx.check_dtype(bias, np.float32)
    axis = 3 if depthwise else 0
    scales = _weight_scales(ctx, filt, o, axis).astype(np.float32)
    bias_f = (np.zeros(o, np.float32) if bias is None
              else _constant(ctx, bias, "bias").reshape(-1).astype(np.float32))
    ctx.check(bias_f.size == o, f"bias has {bias_f.size} values for {o} output channels")
    lo, hi = float_activation_range(ctx)
    if out.size == 0:
        return QuantConv(_skip)
    weights = _constant(ctx, filt, "filter").astype(np.int32)
    if depthwise:
        kh, kw = geom[7], geom[8]
        accumulate, w_packed = depthwise_acc, weights.reshape(kh * kw, o)
        acc_geom = geom[:6] + geom[7:] + (o // c,)
        asymmetric, order = True, ORDER_SCALES_FIRST
        us = n * oh * ow * o * kh * kw / DEPTHWISE_ACC_MACS_PER_US
    else:
        kh, kw, groups = geom[7], geom[8], geom[15]
        cg, og = c // groups, o // groups
        accumulate, acc_geom = conv_acc, geom
        us = n * oh * ow * o * kh * kw * cg / CONV_ACC_MACS_PER_US
        w_packed = np.ascontiguousarray(weights.reshape(groups, og, kh * kw * cg).transpose(0, 2, 1))
        # EvalHybridPerChannel when the scales differ (or groups), else EvalHybrid: symmetric
        asymmetric = bool((scales != scales[0]).any()) or groups != 1
        order = ORDER_CHANNEL_FIRST if asymmetric else ORDER_SCALES_FIRST
    per_batch = max(x.size // max(n, 1), 1)
    # threads: output rows; whole images when there are several (each has its input scale)
    return QuantConv(_run_hybrid, _bind_hybrid, spans=_row_spans(ctx, geom, us, n > 1),
                     accumulate=accumulate, w=ctx.persistent(w_packed),
                     geom=tuple(int(v) for v in acc_geom), batches=n, asymmetric=asymmetric, order=order,
                     ch_scale=ctx.persistent(scales), bias=ctx.persistent(bias_f),
                     q_slot=ctx.scratch(x.shape, np.int8), scale_slot=ctx.scratch((max(n, 1),), np.float32),
                     offset_slot=ctx.scratch((max(n, 1),), np.int32), per_batch=per_batch,
                     acc_slot=ctx.scratch((n * oh * ow, o), np.int64), rows_per_batch=max(oh * ow, 1),
                     lo=np.float32(lo), hi=np.float32(hi))


def _bind_hybrid(d, ins, outs, scratch):
    q, scale, offset, acc = (scratch[d.q_slot], scratch[d.scale_slot], scratch[d.offset_slot],
                             scratch[d.acc_slot])
    d.quantize = (ins[0].reshape(d.batches, d.per_batch), q.reshape(d.batches, d.per_batch), scale, offset,
                  d.asymmetric)
    out = outs[0].reshape(acc.shape)
    oh = max(d.geom[4], 1)
    # a chunk's first row belongs to image r0 // oh: its scale is the first of batch_scale
    d.chunks = with_parts([(q, d.w, acc, d.geom, offset, (r0, r1), d.bias, d.ch_scale, scale[r0 // oh:], out,
                            d.rows_per_batch, d.order, d.lo, d.hi) for r0, r1 in d.spans])


def _run_hybrid(d, ins, outs, scratch):
    quantize_batches(*d.quantize)
    run_chunks(CHUNK_CORES[d.accumulate][1], d.chunks)
