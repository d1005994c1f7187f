"""The float32 GEMM micro-kernels shared by the convolution kernels (and any op that is a matrix
product): out[i, :n] = clamp(bias + a[i, :k] @ B, lo, hi), on flat 1-D buffers.

How gemm gets fast without BLAS (and stays compilable ahead of time, for aarch64 too):
- B is packed once (pack_weights) into panels [ceil(n/NR), k, NR], zero-padded to whole panels,
  so one panel row is NR contiguous output channels.
- A tile of MR=6 rows x NR columns accumulates over all of k in a small stack array (stack_f32:
  an alloca, not a heap buffer). Its loops have constant trip counts, so LLVM vectorizes them and
  keeps the 6 x NR accumulators in vector registers for the whole k loop; per k step it loads
  one panel row and broadcasts 6 values of A. The tile is stored once, clamped, straight from
  the registers when it is whole.
- NR is two vector registers wide: 32 floats where the target has AVX-512, else 16 (AVX2, NEON),
  so the 6 x NR accumulators (12 registers: enough independent FMAs to cover their latency;
  4 rows measured 10% slower on MobileNetV2) fit the register file either way.
Rows past m in the last tile repeat row m-1 and are not stored. For a handful of output columns
(use_dot) gemm_nk takes B unpacked, output-major, and computes dot products instead.
"""
import numba
from llvmlite import ir
from numba import carray, types
from numba.core import cgutils
from numba.extending import intrinsic

from .common import jit

# contract: a*b+c may become one FMA; reassoc/nsz let LLVM reorder sums. No nnan/ninf: the
# activation bounds may be +-inf.
FAST = {"contract", "reassoc", "nsz"}


def target_features():
    """The CPU features numba compiles for (its own choice of target features), as a set."""
    feats = numba.config.CPU_FEATURES
    if feats is None:
        import llvmlite.binding as ll
        feats = ll.get_host_cpu_features().flatten()
    return set(feats.split(","))


# Output channels per panel. Numba's on-disk cache is keyed by the CPU's features, which decide
# this value, so a cached kernel always matches the packing done here.
NR = 32 if "+avx512f" in target_features() else 16
MR = 6   # rows per tile (written out by hand in _tile: the register tile needs constant indices)
TILE = MR * NR
SMALL_B = 8192   # floats of packed B (32 KB) that fit L1 beside the rest


def _stack_array(numba_type, llvm_type):
    @intrinsic(prefer_literal=True)
    def stack_array(typingctx, size):
        if not isinstance(size, types.IntegerLiteral):
            return None
        n = size.literal_value

        def codegen(context, builder, signature, args):
            return cgutils.alloca_once(builder, llvm_type, size=n)
        return types.CPointer(numba_type)(size), codegen
    stack_array.__doc__ = (f"A pointer to `size` {numba_type}s on the stack of the calling function (size: a "
                           "literal).")
    return stack_array


stack_f32 = _stack_array(types.float32, ir.FloatType())
stack_i32 = _stack_array(types.int32, ir.IntType(32))


@jit
def pack_weights(w, packed):
    """Weights stored output-major, w [n, k] (FULLY_CONNECTED's [out, in], OHWI as [O, H*W*I]) ->
    packed [panels, k, NR] for gemm: packed[q, p, j] = w[q*NR + j, p], zero past n."""
    panels, k, nr = packed.shape
    n = w.shape[0]
    for q in range(panels):
        for p in range(k):
            row = packed[q, p]
            for j in range(nr):
                row[j] = w[q * nr + j, p] if q * nr + j < n else 0.0


@jit
def pack_bias(bias, packed):
    """bias [n] -> packed [panels, NR], zero past n."""
    panels, nr = packed.shape
    n = bias.shape[0]
    for q in range(panels):
        for j in range(nr):
            packed[q, j] = bias[q * nr + j] if q * nr + j < n else 0.0


def panels(n):
    """Number of NR-wide panels that hold n output channels."""
    return -(-n // NR)


def use_dot(n):
    """Whether n output columns are better served by gemm_nk (dot products over unpacked
    weights) than by NR-wide panels that would be mostly zero padding (measured break-even:
    n = NR/4)."""
    return 4 * n < NR


@jit(fastmath=FAST)
def gemm(m, n, k, a, a_off, lda, b, bias, out, out_off, ldo, accumulate, lo, hi):
    """For i < m, j < n: out[out_off + i*ldo + j] = clamp(init + sum_p a[a_off + i*lda + p] * B[p, j])
    with B packed by pack_weights into b; init is bias[j] (bias packed like b, [panels, NR]) or, when
    accumulate, the current output. a, out: flat 1-D float32."""
    acc = carray(stack_f32(TILE), (MR, NR))
    if k * b.shape[0] * NR <= SMALL_B:
        # all of B stays in L1: sweep it for each tile of rows, so A and out are touched once
        for i in range(0, m, MR):
            for q in range(b.shape[0]):
                _tile(a, a_off, lda, i, m, k, b[q], bias[q], out, out_off + q * NR, ldo,
                      min(NR, n - q * NR), accumulate, lo, hi, acc)
        return
    # else keep one panel of B in L1 while all rows stream past it
    for q in range(b.shape[0]):
        for i in range(0, m, MR):
            _tile(a, a_off, lda, i, m, k, b[q], bias[q], out, out_off + q * NR, ldo,
                  min(NR, n - q * NR), accumulate, lo, hi, acc)


@jit(fastmath=FAST, inline="always")
def _tile(a, a_off, lda, i0, m, k, panel, bias, out, out_off, ldo, nv, accumulate, lo, hi, acc):
    rows = min(MR, m - i0)
    for jj in range(NR):
        acc[0, jj] = bias[jj]
        acc[1, jj] = bias[jj]
        acc[2, jj] = bias[jj]
        acc[3, jj] = bias[jj]
        acc[4, jj] = bias[jj]
        acc[5, jj] = bias[jj]
    if accumulate:
        for r in range(rows):
            o = out[out_off + (i0 + r) * ldo:out_off + (i0 + r) * ldo + nv]
            for jj in range(nv):
                acc[r, jj] = o[jj]
    # rows past m repeat the last row: computed, never stored
    s0 = a_off + i0 * lda
    s1 = a_off + min(i0 + 1, m - 1) * lda
    s2 = a_off + min(i0 + 2, m - 1) * lda
    s3 = a_off + min(i0 + 3, m - 1) * lda
    s4 = a_off + min(i0 + 4, m - 1) * lda
    s5 = a_off + min(i0 + 5, m - 1) * lda
    a0 = a[s0:s0 + k]
    a1 = a[s1:s1 + k]
    a2 = a[s2:s2 + k]
    a3 = a[s3:s3 + k]
    a4 = a[s4:s4 + k]
    a5 = a[s5:s5 + k]
    for p in range(k):
        w = panel[p]
        x0 = a0[p]
        x1 = a1[p]
        x2 = a2[p]
        x3 = a3[p]
        x4 = a4[p]
        x5 = a5[p]
        for jj in range(NR):
            acc[0, jj] += x0 * w[jj]
            acc[1, jj] += x1 * w[jj]
            acc[2, jj] += x2 * w[jj]
            acc[3, jj] += x3 * w[jj]
            acc[4, jj] += x4 * w[jj]
            acc[5, jj] += x5 * w[jj]
    if rows == MR and nv == NR:
        # a whole tile: constant indices and trip counts, so the clamped rows are stored straight
        # from the registers (a loop over a run-time row count spills them to the stack first)
        d0 = out_off + i0 * ldo
        o0 = out[d0:d0 + NR]
        o1 = out[d0 + ldo:d0 + ldo + NR]
        o2 = out[d0 + 2 * ldo:d0 + 2 * ldo + NR]
        o3 = out[d0 + 3 * ldo:d0 + 3 * ldo + NR]
        o4 = out[d0 + 4 * ldo:d0 + 4 * ldo + NR]
        o5 = out[d0 + 5 * ldo:d0 + 5 * ldo + NR]
        for jj in range(NR):
            o0[jj] = min(max(acc[0, jj], lo), hi)
            o1[jj] = min(max(acc[1, jj], lo), hi)
            o2[jj] = min(max(acc[2, jj], lo), hi)
            o3[jj] = min(max(acc[3, jj], lo), hi)
            o4[jj] = min(max(acc[4, jj], lo), hi)
            o5[jj] = min(max(acc[5, jj], lo), hi)
        return
    for r in range(rows):
        o = out[out_off + (i0 + r) * ldo:out_off + (i0 + r) * ldo + nv]
        t = acc[r]
        for jj in range(nv):
            o[jj] = min(max(t[jj], lo), hi)


@jit(fastmath=FAST)
def gemm_nk(m, n, k, a, a_off, lda, w, bias, out, out_off, ldo, accumulate, lo, hi):
    """gemm for a few output columns: B given output-major and unpacked, w [n, k] (OHWI rows),
    bias [n]; each output is one dot product over k (a panel of NR columns would be mostly
    padding). Same addressing and accumulate/clamp meaning as gemm."""
    for i in range(m):
        x = a[a_off + i * lda:a_off + i * lda + k]
        o = out[out_off + i * ldo:out_off + i * ldo + n]
        for j in range(n):
            wj = w[j]
            s = o[j] if accumulate else bias[j]
            for p in range(k):
                s += x[p] * wj[p]
            o[j] = min(max(s, lo), hi)
