"""Normalization across the last axis: LOCAL_RESPONSE_NORMALIZATION and L2_NORMALIZATION (float32).

LRN: out[c] = x[c] * (bias + alpha * sum(x[k]^2 for |k - c| <= radius)) ^ -beta, the window
cut at the channel edges. That is TensorFlow's definition and what the official interpreter
computes by default (optimized_ops). Its reference kernel (BUILTIN_REF) stops one channel short,
summing c - radius .. c + radius - 1; we follow the default, not that asymmetry.
L2: out = x / max(sqrt(sum x^2), 1e-6), the epsilon hard-coded in TFLite's l2norm.cc.
"""
import numpy as np

from ..registry import register_builtin
from .common import ACT_NONE, ACT_NAMES, fused_activation, jit

L2_EPSILON = np.float32(1e-6)


@jit
def local_response_norm(x, out, radius, bias, alpha, beta):
    """x, out: [outer, depth]."""
    n, depth = x.shape
    for i in range(n):
        row = x[i]
        orow = out[i]
        for c in range(depth):
            lo = max(0, c - radius)
            hi = min(depth, c + radius + 1)
            acc = np.float32(0.0)
            for k in range(lo, hi):
                acc += row[k] * row[k]
            orow[c] = row[c] * (bias + alpha * acc) ** -beta


@jit
def l2_normalize(x, out, epsilon):
    """x, out: [outer, depth]."""
    n, depth = x.shape
    for i in range(n):
        row = x[i]
        acc = np.float32(0.0)
        for c in range(depth):
            acc += row[c] * row[c]
        norm = max(np.sqrt(acc), epsilon)
        orow = out[i]
        for c in range(depth):
            orow[c] = row[c] / norm


def _rows(shape):
    depth = shape[-1] if shape else 1
    outer = int(np.prod(shape[:-1], dtype=np.int64)) if shape else 1
    return outer, depth


def prepare_lrn(ctx):
    ctx.check_inputs(1)
    x, out = ctx.inputs[0], ctx.outputs[0]
    ctx.check(x.rank == 4, f"input must be 4-D, got shape {list(x.shape)}")
    ctx.check(ctx.options is not None, "has no LocalResponseNormalizationOptions")
    ctx.check(out.dtype == x.dtype, f"input and output types differ: {x.type_name} -> {out.type_name}")
    ctx.check_dtype(x, np.float32)
    ctx.set_output(0, x.shape)
    o = ctx.options
    ctx.check(int(o.radius) >= 0, f"radius must not be negative, got {o.radius}")
    return (local_response_norm, _rows(x.shape),
            (int(o.radius), np.float32(o.bias), np.float32(o.alpha), np.float32(o.beta)))


def prepare_l2(ctx):
    ctx.check_inputs(1)
    x, out = ctx.inputs[0], ctx.outputs[0]
    ctx.check(1 <= x.rank <= 4, f"input must have 1 to 4 dimensions, got shape {list(x.shape)}")
    ctx.check(out.dtype == x.dtype, f"input and output types differ: {x.type_name} -> {out.type_name}")
    act = fused_activation(ctx)
    ctx.check(act == ACT_NONE, f"fused activation {ACT_NAMES.get(act, act)} is not supported "
                               "(TFLite's L2_NORMALIZATION takes none)")
    ctx.set_output(0, x.shape)
    if x.dtype == np.float32:
        return l2_normalize, _rows(x.shape), (L2_EPSILON,)
    # Quantized L2 normalization (int8/uint8, output scale 1/128) goes here.
    raise ctx.error(f"L2_NORMALIZATION on {x.type_name} is not supported; supported: float32")


def eval_rows(data, ins, outs, scratch):
    fn, shape, args = data
    fn(ins[0].reshape(shape), outs[0].reshape(shape), *args)


register_builtin("LOCAL_RESPONSE_NORMALIZATION", prepare_lrn, eval_rows)
register_builtin("L2_NORMALIZATION", prepare_l2, eval_rows)
