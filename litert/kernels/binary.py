"""Elementwise binary ops with numpy broadcasting: ADD, SUB, MUL, DIV, MAXIMUM, MINIMUM,
SQUARED_DIFFERENCE, with fused activations where the op has them.

Types, as the official kernels (tflite/kernels/add.cc, sub.cc, mul.cc, div.cc,
maximum_minimum.cc, squared_difference.cc) take them:
- float32, int32, int64: plain arithmetic. Integer results wrap like the C++ arithmetic and are
  then clamped to the fused activation's range.
- int16 without quantization parameters (ADD, MUL): plain arithmetic, as above.
- quantized int8, uint8, int16 (ADD, SUB, MUL) and int8 (SQUARED_DIFFERENCE): requantized; see
  "Quantized arithmetic" below.
- MAXIMUM, MINIMUM on int8, uint8, int16: raw values compared; the official kernel ignores the
  quantization parameters (a graph gives inputs and output the same ones).

prepare() reduces any broadcast to at most 6 dims: adjacent axes that broadcast the same way are
merged, so the common cases ([N,C]+[C], same shape, scalar) run as one or two flat loops.
An 8-bit quantized op has only 256 x 256 possible input pairs: prepare() computes all their
results once (a 64 KiB table, kept in the persistent area) and eval looks them up, several times
faster than the arithmetic per element; int16 ops compute per element.

Quantized arithmetic (the reference kernels; every requantization rounds twice, TFLite's default
build: SaturatingRoundingDoublingHighMul then RoundingDivideByPOT, pinned by one-op tests against
BUILTIN_REF in tests/test_binary.py):
- ADD, SUB (int8, uint8, and int16 with general scales): each input (x - zp) << left_shift
  (20 for 8-bit, 15 for int16) scaled by s_i / (2 max(s1, s2)); sum or difference; scaled by
  2 max(s1, s2) / (2^left_shift s_out); + zp_out.
- ADD, SUB int16 with power-of-two scales, zero points 0 and AddOptions/SubOptions
  pot_scale_int16 (the LSTM case): one input is shifted right (rounding) to the output scale, the
  other must already have it; saturating int16 sum or difference.
- MUL (int8, uint8, int16 with zero points 0): (x1 - zp1)(x2 - zp2) scaled by s1 s2 / s_out
  (a float32 product, as the official computes it); + zp_out.
- MUL int16 -> int8/uint8 (legacy LSTM path): inputs are Q0.15 fixed point, whatever their
  scales; the Q0.15 product is shifted right by 8 (rounding) and offset by zp_out.
- SQUARED_DIFFERENCE int8: as SUB with left_shift 7, the difference squared, scaled by
  (2 max(s1, s2))^2 / (2^14 s_out); no fused activation.
"""
import numpy as np

from ..registry import register_builtin
from .common import ACT_NAMES, ACT_NONE, broadcast_shape, float_activation_range, fused_activation, jit
from .qmath import (checked_log2, mbqm, quantize_multiplier, quantized_activation_bounds, rdbpot,
                    srdhm_int16)

OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MAX, OP_MIN, OP_SQDIFF = range(7)
# Quantized kinds; their parameters travel in a tuple, see _quant_apply.
Q_ADD, Q_SUB, Q_ADD_POT, Q_SUB_POT, Q_MUL, Q_MUL_Q15, Q_SQDIFF = range(7, 14)

QUANTIZED_TYPES = (np.int8, np.uint8, np.int16)
# What each official kernel accepts (int8/uint8 quantized; int16 quantized or, for ADD and MUL,
# plain), except quantized DIV: its reference kernel rescales by RoundingDivideByPOT with
# exponents beyond 31 when the quotient is small (undefined behaviour in C++; the official returns
# position-dependent garbage there, measured), so there is no result to be bit-exact with.
SUPPORTED_TYPES = {
    OP_ADD: (np.float32, np.int32, np.int64) + QUANTIZED_TYPES,
    OP_SUB: (np.float32, np.int32, np.int64) + QUANTIZED_TYPES,
    OP_MUL: (np.float32, np.int32, np.int64) + QUANTIZED_TYPES,
    OP_DIV: (np.float32, np.int32),
    OP_MAX: (np.float32, np.int32, np.int64) + QUANTIZED_TYPES,
    OP_MIN: (np.float32, np.int32, np.int64) + QUANTIZED_TYPES,
    OP_SQDIFF: (np.float32, np.int32, np.int8),
}


@jit(inline="always")
def _apply(op, x, y):
    if op == OP_ADD:
        return x + y
    if op == OP_SUB:
        return x - y
    if op == OP_MUL:
        return x * y
    if op == OP_DIV:
        return x / y
    if op == OP_MAX:
        return x if x > y else y
    if op == OP_MIN:
        return x if x < y else y
    d = x - y
    return d * d


@jit
def binary_float(op, a, b, out, lo, hi):
    """a, b, out: 6-D views; a and b may have size-1 axes (broadcast)."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            _binary_float4(op, a[i if a.shape[0] > 1 else 0, j if a.shape[1] > 1 else 0],
                           b[i if b.shape[0] > 1 else 0, j if b.shape[1] > 1 else 0], out[i, j], lo, hi)


@jit(inline="always")
def _binary_float4(op, a, b, out, lo, hi):
    n0, n1, n2, n3 = out.shape
    for i0 in range(n0):
        a0 = i0 if a.shape[0] > 1 else 0
        b0 = i0 if b.shape[0] > 1 else 0
        for i1 in range(n1):
            a1 = i1 if a.shape[1] > 1 else 0
            b1 = i1 if b.shape[1] > 1 else 0
            for i2 in range(n2):
                a2 = i2 if a.shape[2] > 1 else 0
                b2 = i2 if b.shape[2] > 1 else 0
                ar = a[a0, a1, a2]
                br = b[b0, b1, b2]
                orow = out[i0, i1, i2]
                if ar.shape[0] == n3 and br.shape[0] == n3:
                    for i3 in range(n3):
                        orow[i3] = min(max(_apply(op, ar[i3], br[i3]), lo), hi)
                elif br.shape[0] == n3:
                    x = ar[0]
                    for i3 in range(n3):
                        orow[i3] = min(max(_apply(op, x, br[i3]), lo), hi)
                else:
                    y = br[0]
                    for i3 in range(n3):
                        orow[i3] = min(max(_apply(op, ar[i3], y), lo), hi)


@jit(inline="always")
def _row(x, i0, i1, i2, i3, i4):
    """The last-axis row of a 6-D view at outer index (i0..i4); size-1 axes broadcast."""
    s = x.shape
    return x[i0 if s[0] > 1 else 0, i1 if s[1] > 1 else 0, i2 if s[2] > 1 else 0,
             i3 if s[3] > 1 else 0, i4 if s[4] > 1 else 0]


@jit(inline="always")
def _at(row, i):
    return row[i if row.shape[0] > 1 else 0]


@jit(inline="always")
def _int_apply(op, x, y):
    """Plain integer arithmetic in int64 (not _apply: its DIV branch would make the result a
    float); the caller wraps it to the output type."""
    x = np.int64(x)
    y = np.int64(y)
    if op == OP_ADD:
        return x + y
    if op == OP_SUB:
        return x - y
    if op == OP_MUL:
        return x * y
    if op == OP_MAX:
        return x if x > y else y
    if op == OP_MIN:
        return x if x < y else y
    if op == OP_SQDIFF:
        return (x - y) * (x - y)
    # DIV truncates toward zero like C; a zero divisor gives 0 instead of a trap
    if y == 0:
        return np.int64(0)
    q = abs(x) // abs(y)
    return q if (x < 0) == (y < 0) else -q


@jit
def binary_int(op, a, b, out, lo, hi):
    """Plain integer ops on 6-D views (as binary_float). Results wrap to the output type first,
    as the C++ arithmetic does, then clamp to [lo, hi]."""
    n0, n1, n2, n3, n4, _ = out.shape
    for i0 in range(n0):
        for i1 in range(n1):
            for i2 in range(n2):
                for i3 in range(n3):
                    for i4 in range(n4):
                        ar = _row(a, i0, i1, i2, i3, i4)
                        br = _row(b, i0, i1, i2, i3, i4)
                        orow = out[i0, i1, i2, i3, i4]
                        for i in range(orow.shape[0]):
                            orow[i] = _int_apply(op, _at(ar, i), _at(br, i))
                            orow[i] = min(max(orow[i], lo), hi)


@jit(inline="always")
def _quant_apply(kind, x, y, p):
    """One quantized result before the clamp. p = (offset1, offset2, output offset, left_shift,
    multiplier1, shift1, multiplier2, shift2, output multiplier, output shift, lo, hi); offsets
    are minus the input zero points and plus the output zero point."""
    off1, off2, off_out, left, m1, s1, m2, s2, m_out, s_out, lo, hi = p
    if kind == Q_MUL:
        return mbqm((np.int64(x) + off1) * (np.int64(y) + off2), m_out, s_out) + off_out
    if kind == Q_MUL_Q15:
        return rdbpot(srdhm_int16(x, y), 8) + off_out
    if kind == Q_ADD_POT or kind == Q_SUB_POT:
        u = rdbpot(x, -s1)
        v = rdbpot(y, -s2)
        return u + v if kind == Q_ADD_POT else u - v
    # Q_ADD, Q_SUB, Q_SQDIFF: both inputs to a common scale first
    u = mbqm((np.int64(x) + off1) << left, m1, s1)
    v = mbqm((np.int64(y) + off2) << left, m2, s2)
    if kind == Q_ADD:
        r = u + v
    elif kind == Q_SUB:
        r = u - v
    else:
        r = (u - v) * (u - v)
    return mbqm(r, m_out, s_out) + off_out


@jit
def binary_quant(kind, a, b, out, p):
    """Quantized ops on 6-D views, computed per element (int16; 8-bit ops use it at prepare
    time to fill their table)."""
    lo = p[10]
    hi = p[11]
    n0, n1, n2, n3, n4, _ = out.shape
    for i0 in range(n0):
        for i1 in range(n1):
            for i2 in range(n2):
                for i3 in range(n3):
                    for i4 in range(n4):
                        ar = _row(a, i0, i1, i2, i3, i4)
                        br = _row(b, i0, i1, i2, i3, i4)
                        orow = out[i0, i1, i2, i3, i4]
                        for i in range(orow.shape[0]):
                            orow[i] = min(max(_quant_apply(kind, _at(ar, i), _at(br, i), p), lo), hi)


@jit
def binary_table(kind, a, b, out, table):
    """8-bit quantized ops on 6-D views: out = table[a, b], the 256 x 256 results indexed by the
    inputs' bit patterns (kind is unused: the table already is the op)."""
    n0, n1, n2, n3, n4, _ = out.shape
    for i0 in range(n0):
        for i1 in range(n1):
            for i2 in range(n2):
                for i3 in range(n3):
                    for i4 in range(n4):
                        ar = _row(a, i0, i1, i2, i3, i4)
                        br = _row(b, i0, i1, i2, i3, i4)
                        orow = out[i0, i1, i2, i3, i4]
                        for i in range(orow.shape[0]):
                            x = np.int64(_at(ar, i)) & 255
                            y = np.int64(_at(br, i)) & 255
                            orow[i] = table[(x << 8) | y]


def quant_table(kind, params, dtype):
    """All 256 x 256 results of an 8-bit quantized op, by input bit pattern, computed once with
    the per-element kernel (on int16 copies of the values, whose arithmetic is the same)."""
    values = np.arange(256, dtype=np.uint8).view(dtype).astype(np.int16)
    out = np.zeros((1, 1, 1, 1, 256, 256), np.int16)
    binary_quant(kind, values.reshape(1, 1, 1, 1, 256, 1), values.reshape(1, 1, 1, 1, 1, 256), out, params)
    return out.reshape(-1).astype(dtype)


def collapse_broadcast(a_shape, b_shape, out_shape, rank=6):
    """Shapes of a, b, out reduced to `rank` dims by merging neighbouring axes that broadcast
    alike (both full, a broadcast, or b broadcast). Returns None if more than `rank` remain."""
    r = len(out_shape)
    a = (1,) * (r - len(a_shape)) + tuple(a_shape)
    b = (1,) * (r - len(b_shape)) + tuple(b_shape)
    groups = []  # [kind, a_len, b_len, out_len]
    for da, db, do in zip(a, b, out_shape):
        if do == 1:
            continue
        kind = (da == do, db == do)
        if groups and groups[-1][0] == kind:
            g = groups[-1]
            g[1] *= da
            g[2] *= db
            g[3] *= do
        else:
            groups.append([kind, da, db, do])
    if len(groups) > rank:
        return None
    pad = [[None, 1, 1, 1]] * (rank - len(groups))
    groups = pad + groups
    return tuple(g[1] for g in groups), tuple(g[2] for g in groups), tuple(g[3] for g in groups)


def _plain_int16(op, a, out):
    """int16 ADD/MUL with an unquantized output run as plain arithmetic (the official EvalAdd
    and EvalMul choose by the output's quantization)."""
    return a.dtype == np.int16 and op in (OP_ADD, OP_MUL) and out.quantization is None


def _scale_zero_point(ctx, t):
    q = t.quantization
    ctx.check(q is not None,
              f"tensor {t.index} ({t.name!r}) is {t.type_name} without quantization parameters")
    scale = float(q.scales[0])
    ctx.check(np.isfinite(scale) and scale > 0,
              f"tensor {t.index} ({t.name!r}) has quantization scale {scale}; it must be positive")
    return scale, int(q.zero_points[0])


def _activation_range(ctx, out, act):
    bounds = quantized_activation_bounds(act, out.dtype, out.scale, out.zero_point)
    ctx.check(bounds is not None, f"fused activation {ACT_NAMES.get(act, act)} is not supported")
    return bounds


def _smaller_than_one(ctx, real, what):
    """QuantizeMultiplierSmallerThanOneExp, whose range check aborts the official process."""
    ctx.check(0.0 <= real < 1.0, f"the {what} rescale factor {real:g} must be below 1 (scales of "
                                 "inputs and output are too far apart)")
    return quantize_multiplier(real)


def _check_zero_points_in_range(ctx, dtype, *zero_points):
    info = np.iinfo(dtype)
    ctx.check(all(info.min <= z <= info.max for z in zero_points),
              f"zero points {list(zero_points)} must lie in the {np.dtype(dtype).name} range")


def prepare_quantized(ctx, op, a, b, out, act):
    """(kind, parameter tuple for _quant_apply) of a quantized ADD, SUB, MUL or SQUARED_DIFFERENCE."""
    (s1, z1), (s2, z2), (so, zo) = (_scale_zero_point(ctx, t) for t in (a, b, out))
    same_shapes = tuple(a.shape) == tuple(b.shape)     # the official HaveSameShapes
    int16 = a.dtype == np.int16

    if op == OP_MUL and int16 and out.dtype in (np.int8, np.uint8):
        ctx.check(same_shapes, "int16 MUL with an 8-bit output does not broadcast (the official "
                               "kernel requires equal shapes)")
        lo, hi = _activation_range(ctx, out, act)
        return Q_MUL_Q15, (0, 0, zo, 0, 0, 0, 0, 0, 0, 0, lo, hi)
    ctx.check(out.dtype == a.dtype, f"input and output types differ: {a.type_name} -> {out.type_name}")
    lo, hi = _activation_range(ctx, out, act)

    if op == OP_MUL:
        ctx.check(not int16 or z1 == z2 == zo == 0, "int16 MUL needs zero points 0 (symmetric "
                                                    f"quantization), got {z1}, {z2}, {zo}")
        # float32 arithmetic, as mul.cc computes it
        real = float(np.float32(np.float32(s1) * np.float32(s2)) / np.float32(so))
        m, s = quantize_multiplier(real)
        return Q_MUL, (-z1, -z2, zo, 0, 0, 0, 0, 0, m, s, lo, hi)

    if op == OP_SQDIFF:
        _check_zero_points_in_range(ctx, a.dtype, z1, z2, zo)
        twice_max = 2.0 * max(s1, s2)
        m1, sh1 = _smaller_than_one(ctx, s1 / twice_max, "input 1")
        m2, sh2 = _smaller_than_one(ctx, s2 / twice_max, "input 2")
        mo, sho = _smaller_than_one(ctx, twice_max * twice_max / ((1 << 14) * so), "output")
        info = np.iinfo(np.int8)
        return Q_SQDIFF, (-z1, -z2, zo, 7, m1, sh1, m2, sh2, mo, sho, int(info.min), int(info.max))

    # ADD, SUB
    if int16:
        ctx.check(z1 == z2 == zo == 0, f"int16 {ctx.op.name} needs zero points 0 (symmetric "
                                       f"quantization), got {z1}, {z2}, {zo}")
    if op == OP_SUB:
        _check_zero_points_in_range(ctx, a.dtype, z1, z2, zo)
    logs = [checked_log2(s) for s in (s1, s2, so)]
    if int16 and getattr(ctx.options, "potScaleInt16", False) and all(pot for pot, _ in logs):
        shift1, shift2 = logs[0][1] - logs[2][1], logs[1][1] - logs[2][1]
        ctx.check((shift1 == 0 or shift2 == 0) and shift1 <= 0 and shift2 <= 0,
                  f"int16 {ctx.op.name} with power-of-two scales needs one input at the output scale "
                  f"and the other at a finer one, got scales {s1:g}, {s2:g} -> {so:g}")
        ctx.check(op == OP_SUB or same_shapes, "int16 ADD with power-of-two scales does not broadcast "
                                               "(the official kernel requires equal shapes)")
        return (Q_ADD_POT if op == OP_ADD else Q_SUB_POT), (0, 0, 0, 0, 0, shift1, 0, shift2, 0, 0, lo, hi)

    left_shift = 15 if int16 else 20
    twice_max = 2.0 * max(s1, s2)
    m1, sh1 = _smaller_than_one(ctx, s1 / twice_max, "input 1")
    m2, sh2 = _smaller_than_one(ctx, s2 / twice_max, "input 2")
    mo, sho = _smaller_than_one(ctx, twice_max / ((1 << left_shift) * so), "output")
    return (Q_ADD if op == OP_ADD else Q_SUB), (-z1, -z2, zo, left_shift, m1, sh1, m2, sh2, mo, sho, lo, hi)


def make_prepare(op):
    def prepare(ctx):
        ctx.check_inputs(2)
        a, b = ctx.inputs
        out = ctx.outputs[0]
        ctx.check(not (op == OP_DIV and a is not None and a.dtype.type in QUANTIZED_TYPES),
                  "quantized DIV is not supported (the reference kernel's result is undefined for small "
                  "quotients)")
        ctx.check_dtype(a, *SUPPORTED_TYPES[op])
        ctx.check(b is not None and b.dtype == a.dtype,
                  f"input types differ: {a.type_name}, {b.type_name if b is not None else None}")
        shape = broadcast_shape(ctx, a.shape, b.shape)
        ctx.set_output(0, shape)
        shapes = collapse_broadcast(a.shape, b.shape, shape)
        ctx.check(shapes is not None, f"broadcasting {list(a.shape)} with {list(b.shape)} needs more "
                                      "than 6 distinct axes")
        act = fused_activation(ctx) if op in (OP_ADD, OP_SUB, OP_MUL, OP_DIV) else ACT_NONE
        if a.dtype.type in QUANTIZED_TYPES and op not in (OP_MAX, OP_MIN) and not _plain_int16(op, a, out):
            kind, params = prepare_quantized(ctx, op, a, b, out, act)
            if a.dtype == np.int16:
                return binary_quant, kind, shapes, (params,)
            return binary_table, kind, shapes, (ctx.persistent(quant_table(kind, params, a.dtype)),)
        ctx.check(out.dtype == a.dtype,
                  f"input and output types differ: {a.type_name} -> {out.type_name}")
        if a.dtype == np.float32:
            lo, hi = float_activation_range(ctx, act)
            return binary_float, op, shapes, (np.float32(lo), np.float32(hi))
        info = np.iinfo(a.dtype)
        lo, hi = (info.min, info.max) if act == ACT_NONE else float_activation_range(ctx, act)
        return binary_int, op, shapes, (np.int64(max(lo, info.min)), np.int64(min(hi, info.max)))
    return prepare


def eval_binary(data, ins, outs, scratch):
    fn, op, (sa, sb, so), args = data
    fn(op, ins[0].reshape(sa), ins[1].reshape(sb), outs[0].reshape(so), *args)


for _name, _op in (("ADD", OP_ADD), ("SUB", OP_SUB), ("MUL", OP_MUL), ("DIV", OP_DIV),
                   ("MAXIMUM", OP_MAX), ("MINIMUM", OP_MIN), ("SQUARED_DIFFERENCE", OP_SQDIFF)):
    register_builtin(_name, make_prepare(_op), eval_binary)
