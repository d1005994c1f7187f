"""SOFTMAX (SoftmaxOptions beta) and LOG_SOFTMAX over the last axis, float32, any rank >= 1.

As the reference kernels (reference/softmax.h, log_softmax.h):
  softmax     e = exp((x - max) * beta); out = e / sum(e)
  log_softmax out = (x - max) - log(sum(exp(x - max)))
A row holding +inf gives NaN everywhere, as in TFLite. A missing SoftmaxOptions means beta = 0
(the schema default), i.e. a uniform output, which is what the official interpreter produces.
prepare() branches on the input type, so a quantized branch can be added beside the float one.
"""
import math

import numpy as np

from ..registry import register_builtin
from .common import jit


@jit
def softmax_float(x, out, beta):
    """x, out: [rows, depth]."""
    rows, depth = x.shape
    for r in range(rows):
        row, orow = x[r], out[r]
        top = np.float32(-np.inf)
        for c in range(depth):
            top = row[c] if row[c] > top else top
        total = np.float32(0.0)
        for c in range(depth):
            e = math.exp((row[c] - top) * beta)
            orow[c] = e
            total += e
        for c in range(depth):
            orow[c] = orow[c] / total


@jit
def log_softmax_float(x, out):
    rows, depth = x.shape
    for r in range(rows):
        row, orow = x[r], out[r]
        top = np.float32(-np.inf)
        for c in range(depth):
            top = row[c] if row[c] > top else top
        total = np.float32(0.0)
        for c in range(depth):
            total += math.exp(row[c] - top)
        log_total = math.log(total)
        for c in range(depth):
            orow[c] = (row[c] - top) - log_total


def _prepare_rows(ctx):
    ctx.check_inputs(1)
    x, out = ctx.inputs[0], ctx.outputs[0]
    ctx.check_dtype(x, np.float32)
    ctx.check(out.dtype == x.dtype, f"input and output types differ: {x.type_name} -> {out.type_name}")
    ctx.check(x.rank >= 1, "needs an input of rank 1 or more")
    ctx.set_output(0, x.shape)
    depth = x.shape[-1]
    rows = int(np.prod(x.shape[:-1], dtype=np.int64))
    return (rows, depth)


def prepare_softmax(ctx):
    shape = _prepare_rows(ctx)
    beta = float(getattr(ctx.options, "beta", 0.0) or 0.0)
    return softmax_float, shape, (np.float32(beta),)


def prepare_log_softmax(ctx):
    return log_softmax_float, _prepare_rows(ctx), ()


def eval_rows(data, ins, outs, scratch):
    fn, shape, args = data
    fn(ins[0].reshape(shape), outs[0].reshape(shape), *args)


register_builtin("SOFTMAX", prepare_softmax, eval_rows)
register_builtin("LOG_SOFTMAX", prepare_log_softmax, eval_rows)
