"""Activation functions: LOGISTIC, TANH, RELU, RELU6, RELU_N1_TO_1, RELU_0_TO_1, LEAKY_RELU,
HARD_SWISH, GELU (elementwise) and PRELU (alpha broadcast against the input). float32 for now.

The float formulas follow the official reference kernels, NaN and -0 included:
  LOGISTIC  1 above 16.619047, exp(x) below -9, else 1 / (1 + exp(-x))  (reference logistic.h)
  RELU*     clamp that keeps NaN and -0 (x < lo ? lo : x > hi ? hi : x)
  LEAKY     x > 0 ? x : alpha * x;   PRELU  x >= 0 ? x : x * alpha
  HARD_SWISH x * min(6, max(0, x + 3)) / 6  (std::min/max: a NaN in x + 3 gives 0)
  GELU      0.5 x erfc(-x / sqrt 2), or with approximate=true
            0.5 x (1 + tanh(sqrt(2 / pi) (x + 0.044715 x^3)))  (reference gelu.h)

prepare() branches on the input type; a quantized branch (lookup tables) slots in beside the
float one without touching eval's float path.
"""
import functools
import math

import numpy as np

from ..registry import register_builtin
from .common import broadcast_shape, jit
from .compare import MAX_DIMS, next_row, plan_broadcast, row_offset

(ACT_LOGISTIC, ACT_TANH, ACT_RELU, ACT_RELU6, ACT_RELU_N1_TO_1, ACT_RELU_0_TO_1, ACT_LEAKY_RELU,
 ACT_HARD_SWISH, ACT_GELU, ACT_GELU_TANH) = range(10)
ELEMENTWISE = {"LOGISTIC": ACT_LOGISTIC, "TANH": ACT_TANH, "RELU": ACT_RELU, "RELU6": ACT_RELU6,
               "RELU_N1_TO_1": ACT_RELU_N1_TO_1, "RELU_0_TO_1": ACT_RELU_0_TO_1,
               "LEAKY_RELU": ACT_LEAKY_RELU, "HARD_SWISH": ACT_HARD_SWISH, "GELU": ACT_GELU}

LOGISTIC_UPPER = np.float32(16.619047164916992188)   # above: exactly 1 in float32
LOGISTIC_LOWER = np.float32(-9.0)                    # below: 1 + exp(-x) ~ exp(-x)
SQRT_2_OVER_PI = np.float32(math.sqrt(2.0 / math.pi))
MINUS_SQRT_HALF = np.float32(-math.sqrt(0.5))


@jit(inline="always")
def _clamp(x, lo, hi):
    return lo if x < lo else (hi if x > hi else x)


@jit(inline="always")
def _activation(op, x, alpha):
    zero, one, half = np.float32(0.0), np.float32(1.0), np.float32(0.5)
    if op == ACT_LOGISTIC:
        if x > LOGISTIC_UPPER:
            return one
        if x < LOGISTIC_LOWER:
            return math.exp(x)
        return one / (one + math.exp(-x))
    if op == ACT_TANH:
        return math.tanh(x)
    if op == ACT_RELU:
        return zero if x < zero else x
    if op == ACT_RELU6:
        return _clamp(x, zero, np.float32(6.0))
    if op == ACT_RELU_N1_TO_1:
        return _clamp(x, -one, one)
    if op == ACT_RELU_0_TO_1:
        return _clamp(x, zero, one)
    if op == ACT_LEAKY_RELU:
        return x if x > zero else x * alpha
    if op == ACT_HARD_SWISH:
        r = x + np.float32(3.0)
        r = r if zero < r else zero
        r = r if r < np.float32(6.0) else np.float32(6.0)
        return x * r / np.float32(6.0)
    if op == ACT_GELU:
        # erfc form: no cancellation for large negative x
        return half * x * math.erfc(x * MINUS_SQRT_HALF)
    return half * x * (one + math.tanh(SQRT_2_OVER_PI * (x + np.float32(0.044715) * x * x * x)))


def _activation_kernel(op):
    """The loop for one activation, the op fixed at compile time (a test of a run-time op inside
    the loop keeps it from vectorizing: RELU ran ~50x slower). Compiled on first use."""
    @jit
    def activation(x, out, alpha):
        for i in range(x.size):
            out[i] = _activation(op, x[i], alpha)
    return activation


FLOAT_KERNELS = {op: _activation_kernel(op) for op in range(ACT_GELU_TANH + 1)}


def make_prepare_activation(op):
    def prepare(ctx):
        ctx.check_inputs(1)
        x, out = ctx.inputs[0], ctx.outputs[0]
        ctx.check_dtype(x, np.float32)
        ctx.check(out.dtype == x.dtype, f"input and output types differ: {x.type_name} -> {out.type_name}")
        ctx.set_output(0, x.shape)
        code, alpha = op, 0.0
        if op == ACT_LEAKY_RELU:
            alpha = float(getattr(ctx.options, "alpha", 0.0) or 0.0)
        elif op == ACT_GELU and getattr(ctx.options, "approximate", False):
            code = ACT_GELU_TANH
        return FLOAT_KERNELS[code], np.float32(alpha)
    return prepare


def eval_activation(data, ins, outs, scratch):
    kernel, alpha = data
    kernel(ins[0].reshape(-1), outs[0].reshape(-1), alpha)


# -- PRELU ------------------------------------------------------------------------------------

@functools.lru_cache(maxsize=None)
def prelu_kernel(alpha_runs):
    """x, alpha, out: flat; alpha broadcast over x by a plan (dims, sx, sa). x has the output's
    shape, so it runs along every row; alpha runs along it too (alpha_runs) or repeats one value.
    Like the compare kernels: row slices and the pattern fixed at compile time, so loops vectorize."""
    @jit
    def prelu(x, alpha, out, dims, sx, sa):
        n = dims[MAX_DIMS - 1]
        rows = out.size // n if n > 0 else 0
        ix = ia = pos = 0
        for r in range(rows):
            if r > 0:
                pos, wrapped = next_row(pos, dims)
                ix = row_offset(r, dims, sx) if wrapped else ix + sx[MAX_DIMS - 2]
                ia = row_offset(r, dims, sa) if wrapped else ia + sa[MAX_DIMS - 2]
            xrow, orow = x[ix:ix + n], out[r * n:(r + 1) * n]
            if alpha_runs:
                arow = alpha[ia:ia + n]
                for k in range(n):
                    v = xrow[k]
                    orow[k] = v if v >= 0 else v * arow[k]
            else:
                a = alpha[ia]
                for k in range(n):
                    v = xrow[k]
                    orow[k] = v if v >= 0 else v * a
    return prelu


def prepare_prelu(ctx):
    ctx.check_inputs(2)
    x, alpha = ctx.inputs
    out = ctx.outputs[0]
    ctx.check_dtype(x, np.float32)
    ctx.check(alpha is not None and alpha.dtype == x.dtype and out.dtype == x.dtype,
              f"input, alpha and output types differ: {x.type_name}, "
              f"{alpha.type_name if alpha else 'missing'} -> {out.type_name}")
    shape = broadcast_shape(ctx, x.shape, alpha.shape)
    ctx.check(shape == x.shape, f"alpha {list(alpha.shape)} broadcast against input {list(x.shape)} "
                                f"gives {list(shape)}, not the input's shape")
    ctx.set_output(0, shape)
    dims, (sx, sa) = plan_broadcast(ctx, [x.shape, alpha.shape], shape)
    return prelu_kernel(sa[-1] == 1), dims, sx, sa


def eval_prelu(data, ins, outs, scratch):
    fn, dims, sx, sa = data
    fn(ins[0].reshape(-1), ins[1].reshape(-1), outs[0].reshape(-1), dims, sx, sa)


for _name, _op in ELEMENTWISE.items():
    register_builtin(_name, make_prepare_activation(_op), eval_activation)
register_builtin("PRELU", prepare_prelu, eval_prelu)
