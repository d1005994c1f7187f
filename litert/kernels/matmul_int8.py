"""Integer matrix products shared by FULLY_CONNECTED, BATCH_MATMUL and SVDF: the GEMM core with
the requantizing epilogues of the official reference kernels, and the hybrid helpers (float
activations quantized per row on the fly, products in int8, results scaled back to float).

int_gemm computes out[i, o] = epilogue(dot(x[i], w[o]) + col_corr[o] + row_corr[i]) with both
operands row-major over the reduction axis (x [M, K], w [N, K]: FULLY_CONNECTED's weights layout,
a BATCH_MATMUL rhs transposed once). Zero points never enter the inner loop: with
x' = x - zx and w' = w - zw,
    sum_k x'[i,k] w'[o,k] = dot(x[i], w[o]) - zx rowsum(w[o]) - zw rowsum(x[i]) + K zx zw,
so the callers fold the constant and weight terms into col_corr (with the bias) once, and pass
row_corr = -zw rowsum(x[i]) only where the weights have a zero point (uint8, BATCH_MATMUL rhs).
uint8 operands are first flipped to int8 (x ^ 0x80 = x - 128), zero points moved by 128.

Speed: a 4x4 block of dot products shares its loads and keeps its 16 accumulators in vector
registers (LLVM vectorizes the reduction); sums of int8 products run in int32 lanes (numba would
widen them to int64: _add truncates each partial sum, which the reference's int32 accumulator
does anyway), of 16-bit products in int64; the raw sums of a block go through a small buffer to
a separate epilogue loop (mixing the two made LLVM's code twice as slow); weights are swept in
panels that stay in L2. About 4x the official optimized kernels on this machine.

Epilogues (the reference kernels of ai-edge-litert 2.3.0, pinned by one-op tests):
- EPI_FC_DOUBLE: FULLY_CONNECTED (every integer type). The reference scales in double precision,
  round(acc * (double(s_in) * double(s_w) / double(s_out))), std::round halves away from zero,
  not the Q31 multiplier (measured: it differs from both Q31 roundings on exact ties).
- EPI_MBQM32: MultiplyByQuantizedMultiplier on int32, double rounding (BATCH_MATMUL int8, SVDF).
- EPI_MBQM64: the int64 overload, 16-bit reduced multiplier (BATCH_MATMUL int16).
- EPI_RAW: the sum itself (BATCH_MATMUL int8 -> int32, hybrid products).
Each result is wrapped like the C int32 arithmetic it reproduces, offset by the output zero
point and clamped to [lo, hi]; uint8 outputs are written through an int8 view (values wrap).
"""
import numpy as np
from numba.extending import overload

from .common import jit
from .qmath import mbqm, mbqm_int64, wrap_int32

EPI_RAW, EPI_FC_DOUBLE, EPI_MBQM32, EPI_MBQM64 = range(4)
PANEL_BYTES = 1 << 16     # weights swept per row block; fits L2 beside the rows
TWO31 = float(1 << 31)
INT32_MIN = -(1 << 31)


# -- prepare-time helpers (numpy) -------------------------------------------------------------
def signed_view(a):
    """uint8 data as int8 with the zero point moved by -128 (x ^ 0x80 == x - 128): returns a new
    int8 array (a copy: constants may be read-only views of the model file)."""
    if a.dtype == np.uint8:
        return (a ^ np.uint8(0x80)).view(np.int8)
    return np.array(a)


def row_sums(w):
    """Sum over the last axis in int64 (numpy, prepare time)."""
    return np.asarray(w, np.int64).sum(axis=-1)


def fc_scales(input_scale, weight_scales, output_scale):
    """The double multipliers FULLY_CONNECTED's reference applies per output channel."""
    return (np.float64(np.float32(input_scale)) * np.asarray(weight_scales, np.float32).astype(np.float64)
            / np.float64(np.float32(output_scale)))


# -- the core ---------------------------------------------------------------------------------
def _add(acc, a, b, x, w):
    """acc + a * b in the accumulator type of operand arrays x, w (see the overload)."""


# the implementations are inline jitted helpers like the rest (error model and bounds checks as
# common.jit; the AOT build sees them as inline)
_HELPER = dict(inline="always", error_model="numpy", boundscheck=False)


@overload(_add, inline="always", jit_options=_HELPER)
def _add_typed(acc, a, b, x, w):
    # numba computes integer sums in int64; truncating each partial sum to int32 (the reference's
    # own accumulator for 8-bit operands) lets LLVM keep 32-bit lanes: about twice as fast.
    if x.dtype.bitwidth == 8 and w.dtype.bitwidth == 8:
        return lambda acc, a, b, x, w: np.int32(acc + np.int32(a) * np.int32(b))
    return lambda acc, a, b, x, w: np.int64(acc + np.int64(a) * np.int64(b))


def _zero(x, w):
    """A zero of the accumulator type for operand arrays x, w."""


@overload(_zero, inline="always", jit_options=_HELPER)
def _zero_typed(x, w):
    if x.dtype.bitwidth == 8 and w.dtype.bitwidth == 8:
        return lambda x, w: np.int32(0)
    return lambda x, w: np.int64(0)


@jit(inline="always")
def _scale_round(v, scale):
    """static_cast<int32_t>(round(double(v) * scale)) on x86-64: out-of-range values (and NaN)
    become INT32_MIN, as cvttsd2si gives them."""
    r = np.float64(v) * scale
    t = np.trunc(r)
    if abs(r - t) >= 0.5:
        t += 1.0 if r > 0 else -1.0
    if not (t >= -TWO31 and t < TWO31):
        return np.int64(INT32_MIN)
    return np.int64(t)


@jit
def int_gemm(x, w, out, acc, col_corr, row_corr, kind, wrap32, mult, shift, scale, out_zp, lo, hi):
    """out[i, o] = epilogue(sum_k x[i, k] w[o, k] + col_corr[o] + row_corr[i]) for x [M, K] and
    out [M, N]; w [N', K] holds N' = padded_rows(N) rows (rows past N are padding, any value);
    acc is int64 scratch [4, N']. mult, shift, scale are per output column (length >= N); see the
    module docstring for the rest. Sums of int8 products are kept modulo 2^32 (the reference's
    int32 accumulator), of 16-bit products in int64."""
    m, k = x.shape
    n = out.shape[1]
    panel = max(4, (PANEL_BYTES // max(k * w.itemsize, 1)) // 4 * 4)
    m4 = m // 4 * 4
    for o0 in range(0, n, panel):
        o1 = min(o0 + panel, n)
        for i in range(0, m4, 4):
            # raw sums first, then the epilogue: kept apart (and the block product in a function
            # of its own), LLVM keeps the 16 accumulators in registers, about 2x faster
            _sums_4x4(x, w, i, o0, o1, acc)
            for r in range(4):
                _epilogue(acc[r], out[i + r], o0, o1, col_corr, row_corr[i + r], kind, wrap32, mult,
                          shift, scale, out_zp, lo, hi)
        # the last m % 4 rows (all rows of a matrix-vector product): one row, four columns
        for i in range(m4, m):
            _sums_1x4(x, w, i, o0, o1, acc)
            _epilogue(acc[0], out[i], o0, o1, col_corr, row_corr[i], kind, wrap32, mult, shift, scale,
                      out_zp, lo, hi)


@jit
def _sums_4x4(x, w, i, o0, o1, acc):
    """acc[r, o] = dot(x[i + r], w[o]) for r < 4, o in [o0, o1) rounded up to a multiple of 4."""
    k = x.shape[1]
    zero = _zero(x, w)
    x0 = x[i]
    x1 = x[i + 1]
    x2 = x[i + 2]
    x3 = x[i + 3]
    for o in range(o0, o1, 4):
        w0 = w[o]
        w1 = w[o + 1]
        w2 = w[o + 2]
        w3 = w[o + 3]
        a00 = a01 = a02 = a03 = zero
        a10 = a11 = a12 = a13 = zero
        a20 = a21 = a22 = a23 = zero
        a30 = a31 = a32 = a33 = zero
        for p in range(k):
            b0 = w0[p]
            b1 = w1[p]
            b2 = w2[p]
            b3 = w3[p]
            u = x0[p]
            a00 = _add(a00, u, b0, x, w)
            a01 = _add(a01, u, b1, x, w)
            a02 = _add(a02, u, b2, x, w)
            a03 = _add(a03, u, b3, x, w)
            u = x1[p]
            a10 = _add(a10, u, b0, x, w)
            a11 = _add(a11, u, b1, x, w)
            a12 = _add(a12, u, b2, x, w)
            a13 = _add(a13, u, b3, x, w)
            u = x2[p]
            a20 = _add(a20, u, b0, x, w)
            a21 = _add(a21, u, b1, x, w)
            a22 = _add(a22, u, b2, x, w)
            a23 = _add(a23, u, b3, x, w)
            u = x3[p]
            a30 = _add(a30, u, b0, x, w)
            a31 = _add(a31, u, b1, x, w)
            a32 = _add(a32, u, b2, x, w)
            a33 = _add(a33, u, b3, x, w)
        acc[0, o] = a00
        acc[0, o + 1] = a01
        acc[0, o + 2] = a02
        acc[0, o + 3] = a03
        acc[1, o] = a10
        acc[1, o + 1] = a11
        acc[1, o + 2] = a12
        acc[1, o + 3] = a13
        acc[2, o] = a20
        acc[2, o + 1] = a21
        acc[2, o + 2] = a22
        acc[2, o + 3] = a23
        acc[3, o] = a30
        acc[3, o + 1] = a31
        acc[3, o + 2] = a32
        acc[3, o + 3] = a33


@jit
def _sums_1x4(x, w, i, o0, o1, acc):
    """acc[0, o] = dot(x[i], w[o]) for o in [o0, o1) rounded up to a multiple of 4."""
    k = x.shape[1]
    zero = _zero(x, w)
    xr = x[i]
    for o in range(o0, o1, 4):
        w0 = w[o]
        w1 = w[o + 1]
        w2 = w[o + 2]
        w3 = w[o + 3]
        a0 = a1 = a2 = a3 = zero
        for p in range(k):
            u = xr[p]
            a0 = _add(a0, u, w0[p], x, w)
            a1 = _add(a1, u, w1[p], x, w)
            a2 = _add(a2, u, w2[p], x, w)
            a3 = _add(a3, u, w3[p], x, w)
        acc[0, o] = a0
        acc[0, o + 1] = a1
        acc[0, o + 2] = a2
        acc[0, o + 3] = a3


def padded_rows(n):
    """Rows int_gemm's weights need for n output columns (a multiple of 4)."""
    return -(-n // 4) * 4


@jit
def _epilogue(sums, orow, o0, o1, col_corr, rc, kind, wrap32, mult, shift, scale, out_zp, lo, hi):
    """orow[o] = clamp(requantized sums[o] + col_corr[o] + rc) for o in [o0, o1); one loop per
    kind, so each is a simple loop LLVM can vectorize."""
    if kind == EPI_RAW:
        for o in range(o0, o1):
            r = _corrected(sums[o], col_corr[o], rc, wrap32)
            orow[o] = lo if r < lo else (hi if r > hi else r)
    elif kind == EPI_FC_DOUBLE:
        for o in range(o0, o1):
            v = _corrected(sums[o], col_corr[o], rc, wrap32)
            r = wrap_int32(_scale_round(v, scale[o]) + out_zp)
            orow[o] = lo if r < lo else (hi if r > hi else r)
    elif kind == EPI_MBQM32:
        for o in range(o0, o1):
            v = _corrected(sums[o], col_corr[o], rc, wrap32)
            r = wrap_int32(mbqm(v, mult[o], shift[o]) + out_zp)
            orow[o] = lo if r < lo else (hi if r > hi else r)
    else:
        for o in range(o0, o1):
            v = _corrected(sums[o], col_corr[o], rc, wrap32)
            r = wrap_int32(wrap_int32(mbqm_int64(v, mult[o], shift[o])) + out_zp)
            orow[o] = lo if r < lo else (hi if r > hi else r)


@jit(inline="always")
def _corrected(s, c, rc, wrap32):
    v = s + c + rc
    return wrap_int32(v) if wrap32 else v


# -- run-time operand preparation (jitted; eval allocates nothing) ------------------------------
@jit
def flip_sign(src, dst):
    """uint8 -> int8 minus 128 (src viewed as int8: x ^ 0x80), elementwise over flat arrays."""
    for i in range(src.shape[0]):
        dst[i] = src[i] ^ np.int8(-128)


@jit
def weighted_row_sums(x, factor, base, out):
    """out[i] = base[i] + factor * sum_k x[i, k] (int64); base may be empty (zeros)."""
    for i in range(x.shape[0]):
        s = np.int64(0)
        for v in x[i]:
            s += v
        out[i] = factor * s + (base[i] if base.shape[0] else 0)


# -- hybrid: float activations, int8 weights ----------------------------------------------------
@jit(inline="always")
def _round_f32(v):
    """std::round on a float32 (halves away from zero), exact: v - trunc(v) is exact."""
    t = np.float32(np.trunc(v))
    if abs(v - t) >= np.float32(0.5):
        t += np.float32(1.0) if v > 0 else np.float32(-1.0)
    return t


@jit
def quantize_rows(x, q, scales, offsets, asymmetric):
    """Each row of x [R, K] to int8 as TFLite's BatchQuantizeFloats: symmetric (scale
    max|x| / 127, values in [-127, 127], offset 0) or asymmetric (min/max range with 0 inside,
    scale (max - min) / 255 and a nudged zero point, values in [-128, 127]). All in float32: the
    official x86 build computes the asymmetric scale and zero point in float32, not in double as
    the portable reference reads (measured: the double version is 1 ulp off on a quarter of rows)."""
    rows, k = x.shape
    for r in range(rows):
        xr = x[r]
        qr = q[r]
        lo = np.float32(np.inf)
        hi = np.float32(-np.inf)
        for v in xr:
            lo = min(lo, v)
            hi = max(hi, v)
        if k == 0:
            lo = hi = np.float32(0.0)
        if not asymmetric:
            rng = max(abs(lo), abs(hi))
            offsets[r] = 0
            if rng == 0:
                qr[:] = 0
                scales[r] = np.float32(1.0)
                continue
            scales[r] = rng / np.float32(127.0)
            inv = np.float32(127.0) / rng
            for j in range(k):
                qr[j] = min(np.float32(127.0), max(np.float32(-127.0), _round_f32(xr[j] * inv)))
            continue
        rmin = min(np.float32(0.0), lo)
        rmax = max(np.float32(0.0), hi)
        if rmin == rmax:
            qr[:] = 0
            scales[r] = np.float32(1.0)
            offsets[r] = 0
            continue
        scale = (rmax - rmin) / np.float32(255.0)
        from_min = np.float32(-128.0) - rmin / scale
        from_max = np.float32(127.0) - rmax / scale
        zp = from_min if np.float32(128.0) + abs(rmin / scale) < np.float32(127.0) + abs(rmax / scale) else from_max
        if zp <= np.float32(-128.0):
            nudged = -128
        elif zp >= np.float32(127.0):
            nudged = 127
        else:
            nudged = int(_round_f32(zp))
        sf = scale
        scales[r] = sf
        offsets[r] = nudged
        inv = np.float32(1.0) / sf
        fz = np.float32(nudged)
        for j in range(k):
            qr[j] = min(np.float32(127.0), max(np.float32(-128.0), _round_f32(fz + xr[j] * inv)))


@jit
def is_zero(x):
    for v in x:
        if v != 0:
            return False
    return True


@jit
def hybrid_finish(dots, w_row_sums, offsets, row_scales, col_scales, bias, out, act, lo, hi):
    """out[b, o] = act(bias[o] + float(dots[b, o] - w_row_sums[o] * offsets[b]) * (row_scales[b] *
    col_scales[o])), the float order of TFLite's MatrixBatchVectorMultiplyAccumulate (result
    starts at the bias, plus the int32 sum times the float32 scale). act: ACT_* code; lo, hi: its
    clamp bounds (TANH applies tanh)."""
    for b in range(dots.shape[0]):
        sf = row_scales[b]
        off = offsets[b]
        for o in range(dots.shape[1]):
            d = wrap_int32(np.int64(dots[b, o]) - np.int64(w_row_sums[o]) * off)
            v = bias[o] + np.float32(d) * (sf * col_scales[o])
            out[b, o] = apply_activation(v, act, lo, hi)


@jit(inline="always")
def apply_activation(v, act, lo, hi):
    """TFLite ApplyActivationToVector for one float32: TANH (4) applies tanh, the clamping
    activations clamp to [lo, hi] (NONE: +-inf)."""
    if act == 4:
        return np.float32(np.tanh(v))
    return min(max(v, lo), hi)
