"""SVDF: a fully connected layer factored into a feature and a time filter, with a memory of the
last memory_size feature activations (TFLite svdf.cc, reference/svdf.h). Inputs: x [batch, in],
weights_feature [filters, in], weights_time [filters, memory], bias [units] (optional), state
[batch, filters * memory] (a variable tensor, updated in place on every invoke); output
[batch, units] with units = filters / rank. Per invoke:

    state <- state shifted left by one (flat, per batch row), then per filter its last slot =
             weights_feature[f] . x[b]                         (the newest activation)
    out[b, u] = act(bias[u] + sum_{r < rank} weights_time[f] . state[b, f, :]),  f = u*rank + r

Three paths, on the types:
- float32 throughout;
- hybrid: float32 input, int8 weights_feature (its row products in int8, the input quantized per
  row, symmetric or asymmetric with SVDFOptions.asymmetric_quantize_inputs, as the hybrid
  FULLY_CONNECTED), int8 weights_time dequantized once, float32 state, bias and output;
- integer: int8 input, weights_feature, output; int16 weights_time and state; int32 bias. The
  feature product is rescaled by s_in s_wf / s_state into the int16 state, the time products
  (int32) by s_state s_wt / s_out into the output, both with MultiplyByQuantizedMultiplier
  (double rounding). The reference requires fused activation RELU there but applies none beyond
  the int8 clamp; so does litert.
"""
import numpy as np

from ..registry import register_builtin
from .common import ACT_NAMES, ACT_RELU, fused_activation, jit
from .fully_connected import hybrid_activation
from .matmul_int8 import (EPI_RAW, apply_activation, hybrid_finish, int_gemm, is_zero, padded_rows,
                          quantize_rows, row_sums)
from .qmath import mbqm, quantize_multiplier, wrap_int32

INPUT, WEIGHTS_FEATURE, WEIGHTS_TIME, BIAS, STATE = range(5)


def prepare_svdf(ctx):
    ctx.check_inputs(5)
    x, wf, wt, bias, state = (ctx.input(i) for i in range(5))
    out = ctx.outputs[0]
    ctx.check(all(t is not None for t in (x, wf, wt, state)), "input, weights and state are required")
    ctx.check(x.dtype in (np.float32, np.int8), f"input is {x.type_name}; supported: float32, int8")
    rank = int(getattr(ctx.options, "rank", 0) or 0)
    ctx.check(x.rank == 2 and wf.rank == 2 and wt.rank == 2,
              f"input, weights_feature and weights_time must be 2-D, got {list(x.shape)}, "
              f"{list(wf.shape)}, {list(wt.shape)}")
    batch, n_in = x.shape
    filters, memory = wt.shape
    ctx.check(rank > 0, f"rank must be positive, got {rank}")
    ctx.check(wf.shape[0] % rank == 0, f"{wf.shape[0]} filters are not a multiple of rank {rank}")
    ctx.check(wf.shape == (filters, n_in), f"weights_feature {list(wf.shape)} must be [filters, input size] = "
                                           f"{[filters, n_in]}")
    units = filters // rank
    if bias is not None:
        ctx.check(bias.rank == 1 and bias.shape[0] == units, f"bias {list(bias.shape)} must be [{units}]")
    ctx.check(state.rank == 2 and state.shape == (batch, memory * filters),
              f"state {list(state.shape)} must be [batch, memory * filters] = {[batch, memory * filters]}")
    ctx.check(state.is_variable, f"state tensor {state.index} ({state.name!r}) must be a variable tensor")
    ctx.set_output(0, (batch, units))
    act = fused_activation(ctx)
    dims = (batch, n_in, filters, memory, units, rank)
    if x.dtype == np.int8:
        return _prepare_integer(ctx, dims, act)
    if wf.dtype == np.float32:
        _check_types(ctx, (wt, bias, state, out), np.float32)
        lo, hi = hybrid_activation(ctx, act)
        return ("float", dims, _constant(ctx, wf), _constant(ctx, wt), act, np.float32(lo), np.float32(hi),
                ctx.scratch((batch, filters), np.float32), _bias_or_zeros(ctx, bias, units))
    ctx.check(wf.dtype == np.int8, f"weights_feature is {wf.type_name}; supported: float32, int8")
    return _prepare_hybrid(ctx, dims, act)


def _check_types(ctx, tensors, dtype):
    for t in tensors:
        if t is not None:
            ctx.check_dtype(t, dtype)


def _constant(ctx, t):
    """A constant operand as a writable persistent copy (numba compiles read-only arrays
    separately), or None when it arrives at run time."""
    return ctx.persistent(np.array(t.data, np.float32)) if t.is_constant else None


def _bias_or_zeros(ctx, bias, units, dtype=np.float32):
    """The bias as a persistent array (zeros without one), or None when it arrives at run time."""
    if bias is None:
        return ctx.persistent(np.zeros(units, dtype))
    return ctx.persistent(np.asarray(bias.data, dtype).reshape(units)) if bias.is_constant else None


def _scale(ctx, t, what):
    q = t.quantization
    ctx.check(q is not None and q.scales.size > 0,
              f"{what} tensor {t.index} ({t.name!r}) has no quantization parameters")
    return float(q.scales[0]), int(q.zero_points[0])


# -- float32 and hybrid ------------------------------------------------------------------------
def _prepare_hybrid(ctx, dims, act):
    batch, n_in, filters, memory, units, rank = dims
    x, wf, wt, bias, state = (ctx.input(i) for i in range(5))
    ctx.check_dtype(wt, np.int8)
    _check_types(ctx, (bias, state, ctx.outputs[0]), np.float32)
    ctx.check(wf.is_constant and wt.is_constant, "hybrid SVDF needs constant weights")
    wf_scale, _ = _scale(ctx, wf, "weights_feature")
    wt_scale, _ = _scale(ctx, wt, "weights_time")
    lo, hi = hybrid_activation(ctx, act)
    n_pad = padded_rows(filters)
    rows = np.zeros((n_pad, n_in), np.int8)
    rows[:filters] = wf.data
    # weights_time dequantized once, in float32 as the reference does (int8 * float scale)
    wt_float = (np.asarray(wt.data, np.float32) * np.float32(wt_scale)).astype(np.float32)
    asymmetric = bool(getattr(ctx.options, "asymmetricQuantizeInputs", False))
    return ("hybrid", dims, ctx.persistent(rows), ctx.persistent(wt_float), act, np.float32(lo), np.float32(hi),
            ctx.scratch((batch, filters), np.float32), _bias_or_zeros(ctx, bias, units),
            ctx.persistent(row_sums(rows[:filters]).astype(np.int32)),
            ctx.persistent(np.full(filters, wf_scale, np.float32)), asymmetric,
            ctx.scratch((batch, n_in), np.int8), ctx.scratch((batch,), np.float32), ctx.scratch((batch,), np.int32),
            ctx.scratch((batch, filters), np.int32), ctx.scratch((4, n_pad), np.int64),
            ctx.persistent(np.zeros(max(filters, batch), np.int64)), ctx.persistent(np.zeros(filters, np.float32)))


def _eval_float(data, ins, outs, scratch):
    _, dims, wf, wt, act, lo, hi, feat, bias = data
    wf = ins[WEIGHTS_FEATURE] if wf is None else wf
    wt = ins[WEIGHTS_TIME] if wt is None else wt
    bias = ins[BIAS] if bias is None else bias
    feat = scratch[feat]
    feature_float(ins[INPUT], wf, feat)
    state = ins[STATE]
    svdf_float_time(feat, wt, bias, state, state.reshape(-1), outs[0], dims[5], act, lo, hi)


def _eval_hybrid(data, ins, outs, scratch):
    (_, dims, rows, wt, act, lo, hi, feat, bias, w_sums, wf_scales, asymmetric, q, sf, offsets, dots, acc,
     zeros, no_bias) = data
    batch, n_in, filters = dims[:3]
    bias = ins[BIAS] if bias is None else bias
    x = ins[INPUT]
    feat = scratch[feat]
    if is_zero(x.reshape(-1)):       # as the reference: no products, the newest activation is 0
        feat.fill(0)
    else:
        q, sf, offsets, dots = scratch[q], scratch[sf], scratch[offsets], scratch[dots]
        quantize_rows(x, q, sf, offsets, asymmetric)
        int_gemm(q, rows, dots, scratch[acc], zeros[:filters], zeros[:batch], EPI_RAW, True, _NO_MULT, _NO_MULT,
                 _NO_SCALE, 0, -(1 << 31), (1 << 31) - 1)
        inf = np.float32(np.inf)
        hybrid_finish(dots, w_sums, offsets, sf, wf_scales, no_bias, feat, 0, -inf, inf)
    state = ins[STATE]
    svdf_float_time(feat, wt, bias, state, state.reshape(-1), outs[0], dims[5], act, lo, hi)


_NO_MULT = np.zeros(0, np.int32)
_NO_SCALE = np.zeros(0, np.float64)


@jit
def feature_float(x, wf, feat):
    """feat[b, f] = wf[f] . x[b] (float32, summed in order)."""
    for b in range(x.shape[0]):
        for f in range(wf.shape[0]):
            s = np.float32(0.0)
            for c in range(x.shape[1]):
                s += wf[f, c] * x[b, c]
            feat[b, f] = s


@jit
def svdf_float_time(feat, wt, bias, state, flat, out, rank, act, lo, hi):
    """Shift the state (flat: the same memory, 1-D), append the newest activations feat
    [batch, filters], apply the time weights wt [filters, memory], sum each unit's rank filters,
    add the bias, activate."""
    batch, filters = feat.shape
    memory = wt.shape[1]
    for i in range(flat.shape[0] - 1):
        flat[i] = flat[i + 1]
    for b in range(batch):
        row = state[b]
        for f in range(filters):
            row[f * memory + memory - 1] = feat[b, f]
        for f in range(filters):
            s = np.float32(0.0)
            for t in range(memory):
                s += wt[f, t] * row[f * memory + t]
            feat[b, f] = s
        for u in range(out.shape[1]):
            s = np.float32(0.0)
            for r in range(rank):
                s += feat[b, u * rank + r]
            out[b, u] = apply_activation(s + bias[u], act, lo, hi)


# -- integer -----------------------------------------------------------------------------------
def _prepare_integer(ctx, dims, act):
    batch, n_in, filters, memory, units, rank = dims
    x, wf, wt, bias, state = (ctx.input(i) for i in range(5))
    out = ctx.outputs[0]
    ctx.check_dtype(wf, np.int8)
    ctx.check_dtype(wt, np.int16)
    ctx.check_dtype(state, np.int16)
    ctx.check_dtype(out, np.int8)
    if bias is not None:
        ctx.check_dtype(bias, np.int32)
    ctx.check(act == ACT_RELU, f"integer SVDF supports fused activation RELU only (as the reference), got "
                               f"{ACT_NAMES.get(act, act)}")
    (s_in, zp_in), (s_wf, _), (s_state, _), (s_wt, _), (s_out, zp_out) = (
        _scale(ctx, t, what) for t, what in ((x, "input"), (wf, "weights_feature"), (state, "state"),
                                            (wt, "weights_time"), (out, "output")))
    # double products of the float32 scales, as svdf.cc Prepare
    m1, e1 = quantize_multiplier(s_in * s_wf / s_state)
    m2, e2 = quantize_multiplier(s_state * s_wt / s_out)
    return ("integer", dims, ctx.scratch((batch, filters), np.int32), _bias_or_zeros(ctx, bias, units, np.int32),
            zp_in, zp_out, m1, e1, m2, e2)


def _eval_integer(data, ins, outs, scratch):
    _, dims, time_sums, bias, zp_in, zp_out, m1, e1, m2, e2 = data
    bias = ins[BIAS] if bias is None else bias
    state = ins[STATE]
    svdf_integer(ins[INPUT], ins[WEIGHTS_FEATURE], ins[WEIGHTS_TIME], bias, state, state.reshape(-1), outs[0],
                 scratch[time_sums], dims[5], zp_in, zp_out, m1, e1, m2, e2)


@jit
def svdf_integer(x, wf, wt, bias, state, flat, out, time_sums, rank, zp_in, zp_out, m1, e1, m2, e2):
    """reference_ops::EvalIntegerSVDF: int32 sums (wrapping), MultiplyByQuantizedMultiplier.
    state [batch, filters * memory] and flat (the same memory, 1-D) are updated in place."""
    batch, n_in = x.shape
    filters, memory = wt.shape
    for i in range(flat.shape[0] - 1):
        flat[i] = flat[i + 1]
    for b in range(batch):
        row = state[b]
        for f in range(filters):
            s = np.int64(0)
            for c in range(n_in):
                s += np.int64(wf[f, c]) * (np.int64(x[b, c]) - zp_in)
            v = mbqm(wrap_int32(s), m1, e1)
            row[f * memory + memory - 1] = min(max(v, -32768), 32767)
        for f in range(filters):
            s = np.int64(0)
            for t in range(memory):
                s += np.int64(wt[f, t]) * np.int64(row[f * memory + t])
            time_sums[b, f] = wrap_int32(s)
        for u in range(out.shape[1]):
            s = np.int64(0)
            for r in range(rank):
                s += time_sums[b, u * rank + r]
            v = wrap_int32(mbqm(wrap_int32(wrap_int32(s) + bias[u]), m2, e2) + zp_out)
            out[b, u] = min(max(v, -128), 127)


# -- dispatch ----------------------------------------------------------------------------------
EVALS = {"float": _eval_float, "hybrid": _eval_hybrid, "integer": _eval_integer}


def eval_svdf(data, ins, outs, scratch):
    EVALS[data[0]](data, ins, outs, scratch)


register_builtin("SVDF", prepare_svdf, eval_svdf, fold=False)
