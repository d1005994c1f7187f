"""Elementwise unary math and CAST.

EXP, SIN, COS, RSQRT, SQRT, ABS, NEG, LOG, SQUARE: float32, computed in float32 as TFLite does
(so RSQRT(-0) = -inf, LOG(0) = -inf, SQRT/LOG/RSQRT of negatives = NaN). NEG also takes int32 and
int64, ABS int32; both wrap at the most negative value like the official kernels.

CAST between float32, float16, int32, int64, int16, int8, uint8 and bool, with the official
interpreter's semantics (ai-edge-litert 2.3.0, measured):
  float -> integer: truncate toward zero, saturate at the type's range, NaN -> the type's maximum;
  integer -> narrower integer: wrap (two's complement); anything -> bool: x != 0 (NaN -> true);
  bool -> number: 0 or 1; -> float16: via float32, rounding to nearest even (int -> float32 ->
  float16 rounds twice, as TFLite does). float16 values go through a float32 scratch buffer
  (numba has no float16), moved with np.copyto.
"""
import math

import numpy as np

from ..registry import register_builtin
from .common import jit

OP_EXP, OP_SIN, OP_COS, OP_RSQRT, OP_SQRT, OP_ABS, OP_NEG, OP_LOG, OP_SQUARE = range(9)
UNARY_OPS = {"EXP": OP_EXP, "SIN": OP_SIN, "COS": OP_COS, "RSQRT": OP_RSQRT, "SQRT": OP_SQRT,
             "ABS": OP_ABS, "NEG": OP_NEG, "LOG": OP_LOG, "SQUARE": OP_SQUARE}
# Integer types an op takes besides float32 (what the official kernels accept, without
# quantization: int8/int16 ABS is a quantized op and comes with the int8 kernels).
INT_TYPES = {OP_NEG: (np.int32, np.int64), OP_ABS: (np.int32,)}

CAST_TYPES = (np.float32, np.float16, np.int32, np.int64, np.int16, np.int8, np.uint8, np.bool_)


@jit(inline="always")
def _unary(op, x):
    if op == OP_EXP:
        return math.exp(x)
    if op == OP_SIN:
        return math.sin(x)
    if op == OP_COS:
        return math.cos(x)
    if op == OP_RSQRT:
        return np.float32(1.0) / math.sqrt(x)
    if op == OP_SQRT:
        return math.sqrt(x)
    if op == OP_ABS:
        return abs(x)
    if op == OP_NEG:
        return -x
    if op == OP_LOG:
        return math.log(x)
    return x * x


def _unary_kernel(op):
    """The loop for one op, the op fixed at compile time (a test of a run-time op inside the loop
    keeps it from vectorizing). Compiled on first use."""
    @jit
    def unary(x, out):
        for i in range(x.size):
            out[i] = _unary(op, x[i])
    return unary


FLOAT_KERNELS = {op: _unary_kernel(op) for op in UNARY_OPS.values()}


@jit
def neg_int(x, out):
    for i in range(x.size):
        out[i] = -x[i]     # stored with wrap-around: -INT_MIN == INT_MIN, as TFLite


@jit
def abs_int(x, out):
    for i in range(x.size):
        v = x[i]
        out[i] = -v if v < 0 else v


def make_prepare_unary(op):
    def prepare(ctx):
        ctx.check_inputs(1)
        x, out = ctx.inputs[0], ctx.outputs[0]
        ctx.check_dtype(x, np.float32, *INT_TYPES.get(op, ()))
        ctx.check(out.dtype == x.dtype, f"input and output types differ: {x.type_name} -> {out.type_name}")
        ctx.set_output(0, x.shape)
        if x.dtype == np.float32:
            return FLOAT_KERNELS[op]
        return neg_int if op == OP_NEG else abs_int
    return prepare


def eval_unary(kernel, ins, outs, scratch):
    kernel(ins[0].reshape(-1), outs[0].reshape(-1))


# -- CAST -----------------------------------------------------------------------------------

@jit
def cast_float_to_int(x, out, lo, hi):
    """Truncate toward zero, saturating to [lo, hi]; NaN -> hi. x is float32."""
    flo, fhi = np.float64(lo), np.float64(hi)  # exact, or 2**63 for int64 (still the right bound)
    for i in range(x.size):
        v = np.float64(x[i])
        if v >= fhi or v != v:
            out[i] = hi
        elif v <= flo:
            out[i] = lo
        else:
            out[i] = int(v)


@jit
def cast_to_bool(x, out):
    for i in range(x.size):
        out[i] = x[i] != 0


@jit
def cast_plain(x, out):
    """Integer/bool sources: numba's conversion is C's (wrap to narrower ints, round to float)."""
    for i in range(x.size):
        out[i] = x[i]


def prepare_cast(ctx):
    # CastOptions' in/out types are ignored, as in the official kernel: the tensors' types rule.
    ctx.check_inputs(1)
    x, out = ctx.inputs[0], ctx.outputs[0]
    ctx.check_dtype(x, *CAST_TYPES)
    ctx.check_dtype(out, *CAST_TYPES)
    ctx.set_output(0, x.shape)
    src, dst = x.dtype, out.dtype
    f16, f32 = np.dtype(np.float16), np.dtype(np.float32)
    # Stage 1 widens a float16 source into float32 scratch; stage 2 converts float32 or an integer
    # source into the output, or into float32 scratch when the output is float16 (stage 3 narrows).
    if src.kind == "f" and dst.kind == "f":
        return "copy", None, None
    staged = src == f16 or dst == f16
    slot = ctx.scratch(x.shape, np.float32) if staged else None
    if dst == f16:
        convert = (cast_plain, ())
    elif dst == np.bool_:
        convert = (cast_to_bool, ())
    elif src.kind == "f":
        info = np.iinfo(dst)
        convert = (cast_float_to_int, (int(info.min), int(info.max)))
    else:
        convert = (cast_plain, ())
    return "convert", slot, convert


def eval_cast(data, ins, outs, scratch):
    kind, slot, convert = data
    x, out = ins[0], outs[0]
    if kind == "copy":
        with np.errstate(over="ignore"):   # float32 beyond float16's range -> inf, as TFLite
            np.copyto(out, x, casting="unsafe")
        return
    fn, args = convert
    if x.dtype == np.float16:
        np.copyto(scratch[slot], x)
        x = scratch[slot]
    if out.dtype == np.float16:
        fn(x.reshape(-1), scratch[slot].reshape(-1), *args)
        with np.errstate(over="ignore"):
            np.copyto(out, scratch[slot], casting="unsafe")
    else:
        fn(x.reshape(-1), out.reshape(-1), *args)


for _name, _op in UNARY_OPS.items():
    register_builtin(_name, make_prepare_unary(_op), eval_unary)
register_builtin("CAST", prepare_cast, eval_cast)
