"""Elementwise binary float/int ops with numpy broadcasting: ADD, SUB, MUL, DIV, MAXIMUM,
MINIMUM, SQUARED_DIFFERENCE (float32, int32, int64), with fused activations where the op has them.

prepare() reduces any broadcast to at most 6 dims: adjacent axes that broadcast the same way are
merged, so the common cases ([N,C]+[C], same shape, scalar) run as one or two flat loops.
"""
import numpy as np

from ..registry import register_builtin
from .common import broadcast_shape, float_activation_range, fused_activation, jit, ACT_NONE

OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MAX, OP_MIN, OP_SQDIFF = range(7)


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


@jit
def binary_int(op, a, b, out, lo, hi):
    """Integer variant: DIV truncates toward zero like TFLite's int32 division; a zero
    divisor gives 0 instead of a trap."""
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            _binary_int4(op, a[i if a.shape[0] > 1 else 0, j if a.shape[1] > 1 else 0],
                         b[i if b.shape[0] > 1 else 0, j if b.shape[1] > 1 else 0], out[i, j], lo, hi)


@jit(inline="always")
def _binary_int4(op, a, b, out, lo, hi):
    n0, n1, n2, n3 = out.shape
    for i0 in range(n0):
        for i1 in range(n1):
            for i2 in range(n2):
                ar = a[i0 if a.shape[0] > 1 else 0, i1 if a.shape[1] > 1 else 0, i2 if a.shape[2] > 1 else 0]
                br = b[i0 if b.shape[0] > 1 else 0, i1 if b.shape[1] > 1 else 0, i2 if b.shape[2] > 1 else 0]
                orow = out[i0, i1, i2]
                for i3 in range(n3):
                    x = ar[i3 if ar.shape[0] > 1 else 0]
                    y = br[i3 if br.shape[0] > 1 else 0]
                    if op == OP_DIV:
                        if y == 0:
                            r = x - x
                        else:
                            q = abs(x) // abs(y)
                            r = q if (x < 0) == (y < 0) else -q
                    else:
                        r = _apply(op, x, y)
                    orow[i3] = min(max(r, lo), hi)


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


def make_prepare(op):
    def prepare(ctx):
        ctx.check_inputs(2)
        a, b = ctx.inputs
        out = ctx.outputs[0]
        allowed = (np.float32, np.int32, np.int64)
        ctx.check_dtype(a, *allowed)
        ctx.check(b.dtype == a.dtype and out.dtype == a.dtype,
                  f"input and output types differ: {a.type_name}, {b.type_name} -> {out.type_name}")
        shape = broadcast_shape(ctx, a.shape, b.shape)
        ctx.set_output(0, shape)
        shapes = collapse_broadcast(a.shape, b.shape, shape)
        ctx.check(shapes is not None, f"broadcasting {list(a.shape)} with {list(b.shape)} needs more "
                                      "than 6 distinct axes")
        act = fused_activation(ctx) if op in (OP_ADD, OP_SUB, OP_MUL, OP_DIV) else ACT_NONE
        if a.dtype == np.float32:
            lo, hi = float_activation_range(ctx, act)
            fn, lo, hi = binary_float, np.float32(lo), np.float32(hi)
        else:
            info = np.iinfo(a.dtype)
            lo, hi = (info.min, info.max) if act == ACT_NONE else float_activation_range(ctx, act)
            lo = a.dtype.type(max(lo, info.min))
            hi = a.dtype.type(min(hi, info.max))
            fn = binary_int
        return fn, op, shapes, lo, hi
    return prepare


def eval_binary(data, ins, outs, scratch):
    fn, op, (sa, sb, so), lo, hi = data
    fn(op, ins[0].reshape(sa), ins[1].reshape(sb), outs[0].reshape(so), lo, hi)


for _name, _op in (("ADD", OP_ADD), ("SUB", OP_SUB), ("MUL", OP_MUL), ("DIV", OP_DIV),
                   ("MAXIMUM", OP_MAX), ("MINIMUM", OP_MIN), ("SQUARED_DIFFERENCE", OP_SQDIFF)):
    register_builtin(_name, make_prepare(_op), eval_binary)
