"""FULLY_CONNECTED: out[b] = act(W x[b] + bias) over the input flattened to [batch, in_features]
(TFLite fully_connected.cc). prepare dispatches on the types:

- float32 input and weights: the shared float GEMM micro-kernel (gemm.py), whose right-hand
  operand is the weights packed into panels of NR units ([panels, in, NR]). Constant weights are
  packed once in prepare into the persistent area; weights that arrive at run time (from another
  op) are packed into scratch on every invoke, as is a run-time bias.
- integer (int8 input and weights, per-tensor or per-channel; uint8 input and weights; int16
  input with int8 weights, "16x8", int64 or int32 bias): matmul_int8.int_gemm, the weights' zero
  point terms and the input zero point folded into the bias once. The reference kernel rescales
  each sum in double precision, round(acc * s_in * s_w / s_out) (reference_integer_ops::
  FullyConnected with scales; pinned by tests/test_fully_connected.py against BUILTIN_REF).
- hybrid (float32 input, int8 weights per-tensor or per-channel): each input row is quantized
  on the fly (symmetric, or asymmetric with FullyConnectedOptions.asymmetric_quantize_inputs),
  multiplied in int8 and scaled back to float in TFLite's float order (EvalHybridDense).
Packed int4 weights and the shuffled uint8 weights format are rejected with a clear error.
With num_threads > 1 a big enough op is cut into chunks (litert/threads.py): of output units
while the weights outweigh the input rows (batch 1 only for the integer GEMM, whose output rows
must stay contiguous), else of batch rows; the calling thread prepares the operands before.
"""
from typing import NamedTuple

import numpy as np

from ..registry import register_builtin
from ..threads import plan, run_chunks, with_parts
from .common import (ACT_NAMES, ACT_NONE, ACT_RELU, ACT_RELU6, ACT_RELU_N1_TO_1, ACT_TANH,
                     float_activation_range, fused_activation, jit, quantized_activation_range,
                     require_quantization)
from .gemm import NR, gemm, pack_bias, pack_weights, panels
from .matmul_int8 import (EPI_FC_DOUBLE, apply_activation, fc_scales, flip_sign, hybrid_finish, int_gemm,
                          is_zero, padded_rows, quantize_rows, row_sums, signed_view, weighted_row_sums)
from .sync import chunk_end, chunk_start

WEIGHTS_FORMAT_DEFAULT = 0
INT4 = 17                      # TensorType code of packed 4-bit weights
TENSOR_TYPE_INT32, TENSOR_TYPE_INT64 = 2, 4


# Both copy their input first: a constant may be a read-only view of the model file, and numba
# would compile the packers once more for read-only arrays.
def packed_weights(w_nk):
    """Constant weights [n, k] (output-major) packed for gemm, to keep with ctx.persistent."""
    n, k = w_nk.shape
    packed = np.empty((panels(n), k, NR), np.float32)
    pack_weights(np.array(w_nk, dtype=np.float32, order="C"), packed)
    return packed


def packed_bias(bias, n):
    """A constant bias [n] (or None: zeros) packed for gemm, to keep with ctx.persistent."""
    packed = np.zeros((panels(n), NR), np.float32)
    if bias is not None:
        pack_bias(np.array(bias, dtype=np.float32).reshape(n), packed)
    return packed


def prepare_fully_connected(ctx):
    ctx.check_inputs(2, 3)
    x, w = ctx.inputs[0], ctx.inputs[1]
    ctx.check(x is not None and w is not None, "input and weights are required")
    fmt = int(getattr(ctx.options, "weightsFormat", 0) or 0)
    ctx.check(fmt == WEIGHTS_FORMAT_DEFAULT,
              f"weights format {fmt} (shuffled) is not supported; only DEFAULT (0)")
    ctx.check(w.type != INT4, f"weights tensor {w.index} ({w.name!r}) holds packed int4 values, "
                              "which litert does not support (unpack them to int8)")
    ctx.check(w.rank == 2, f"weights must be 2-D [units, input size], got {list(w.shape)}")
    ctx.check(x.dtype is not None and w.dtype is not None, "input and weights need numeric types")
    if x.dtype == np.float32 and w.dtype == np.float32:
        return _prepare_float(ctx)
    if x.dtype == np.float32 and w.dtype == np.int8:
        return _prepare_hybrid(ctx)
    if (x.dtype, w.dtype) in INTEGER_TYPES:
        return _prepare_integer(ctx)
    raise ctx.error(f"input {x.type_name} with weights {w.type_name} is not supported; supported: "
                    "float32/float32, float32/int8 (hybrid), int8/int8, uint8/uint8, int16/int8")


def _output_shape(ctx, x, units, k):
    """(batch, output shape): the input flattens to [size / k, k]; keep_num_dims keeps its
    leading dims instead of flattening them."""
    if k == 0:
        ctx.check(x.size == 0, f"weights have input size 0 but the input {list(x.shape)} is not empty")
        batch = int(np.prod(x.shape[:-1], dtype=np.int64))
    else:
        ctx.check(x.size % k == 0, f"input {list(x.shape)} has {x.size} elements, not a multiple of "
                                   f"the weights' input size {k}")
        batch = x.size // k
    if getattr(ctx.options, "keepNumDims", False):
        ctx.check(x.rank >= 1 and x.shape[-1] == k,
                  f"keep_num_dims needs the input's last dimension ({list(x.shape)}) to equal the "
                  f"weights' input size {k}")
        return batch, x.shape[:-1] + (units,)
    return batch, (batch, units)


def _check_bias(ctx, bias, units, *dtypes):
    if bias is not None:
        ctx.check_dtype(bias, *dtypes)
        ctx.check(bias.size == units, f"bias has {bias.size} elements, the weights {units} units")


# One core's speed, to size the work split across threads (litert/threads.py), measured on the
# development machine (x86-64, AVX-512): multiply-adds per us of the float GEMM and of int_gemm.
# At batch 1 the weights are read once, from memory (a matrix-vector product): each then costs
# about as much as GEMV_* multiply-adds (float: 1280x1000 weights in ~140 us inside MobileNetV2).
GEMM_MACS_PER_US, GEMV_FLOAT = 100_000, 10
INT_GEMM_MACS_PER_US, GEMV_INT = 40_000, 2


def _spans(ctx, batch, units, k, us, align, any_batch):
    """(r0, r1, c0, c1) per thread for an op of about `us` microseconds: batch rows r0..r1, output
    units c0..c1. While the weights outweigh the input rows, the units (each thread reads part of
    the weights; chunk boundaries multiples of `align`), else the rows. The integer GEMM writes
    whole output rows: it cuts the units only at batch 1 (any_batch False)."""
    if units >= batch and (any_batch or batch == 1):
        return [(0, batch, c0, c1) for c0, c1 in plan(ctx.num_threads, units, us, align)]
    return [(r0, r1, 0, units) for r0, r1 in plan(ctx.num_threads, batch, us, 4)]


# -- float32 -----------------------------------------------------------------------------------
def _prepare_float(ctx):
    x, w = ctx.inputs[0], ctx.inputs[1]
    bias = ctx.input(2)
    ctx.check_dtype(ctx.outputs[0], np.float32)
    units, k = w.shape
    _check_bias(ctx, bias, units, np.float32)
    batch, shape = _output_shape(ctx, x, units, k)
    ctx.set_output(0, shape)
    lo, hi = float_activation_range(ctx, fused_activation(ctx))
    # an int is a scratch slot: the operand arrives at run time and is packed on every invoke
    if w.is_constant:
        weights = ctx.persistent(packed_weights(w.data))
    else:
        weights = ctx.scratch((panels(units), k, NR), np.float32)
    if bias is None or bias.is_constant:
        biases = ctx.persistent(packed_bias(None if bias is None else bias.data, units))
    else:
        biases = ctx.scratch((panels(units), NR), np.float32)
    us = units * k * max(batch, GEMV_FLOAT) / GEMM_MACS_PER_US
    return FloatFC("float", batch, k, units, weights, biases, np.float32(lo), np.float32(hi),
                   _spans(ctx, batch, units, k, us, NR, True), [])


class FloatFC(NamedTuple):
    """What eval needs for a float FULLY_CONNECTED; an int is a scratch slot."""
    kind: str
    batch: int
    k: int
    units: int
    weights: object           # packed [panels, k, NR], or a slot packed per invoke
    biases: object            # packed [panels, NR], or a slot
    lo: np.float32
    hi: np.float32
    spans: list               # (r0, r1, c0, c1) per thread
    chunks: list              # gemm's arguments per span, made by bind


def _bind_float(data, ins, outs, scratch):
    _, batch, k, units, weights, biases, lo, hi, spans, chunks = data
    weights = scratch[weights] if isinstance(weights, int) else weights
    biases = scratch[biases] if isinstance(biases, int) else biases
    x, out = ins[0].reshape(-1), outs[0].reshape(-1)
    chunks[:] = with_parts([(r1 - r0, c1 - c0, k, x, r0 * k, k, weights[c0 // NR:-(-c1 // NR)],
                             biases[c0 // NR:-(-c1 // NR)], out, r0 * units + c0, units, lo, hi)
                            for r0, r1, c0, c1 in spans])


@jit
def float_chunk(m, n, k, x, x_off, ldx, weights, biases, out, out_off, ldo, lo, hi, sync, part):
    """gemm on one chunk (batch rows, or units whose panels these weights hold), chunk `part` of
    the op (sync.py)."""
    if chunk_start(sync, part):
        gemm(m, n, k, x, x_off, ldx, weights, biases, out, out_off, ldo, False, lo, hi)
    chunk_end(sync, part)


def _eval_float(data, ins, outs, scratch):
    if isinstance(data.weights, int):
        pack_weights(ins[1], scratch[data.weights])
    if isinstance(data.biases, int):
        pack_bias(ins[2].reshape(data.units), scratch[data.biases])
    run_chunks(float_chunk, data.chunks)


# -- integer -----------------------------------------------------------------------------------
# (input, weights) -> output type, bias types
INTEGER_TYPES = {
    (np.dtype(np.int8), np.dtype(np.int8)): (np.int8, (np.int32,)),
    (np.dtype(np.uint8), np.dtype(np.uint8)): (np.uint8, (np.int32,)),
    (np.dtype(np.int16), np.dtype(np.int8)): (np.int16, (np.int64, np.int32)),
}


def _prepare_integer(ctx):
    x, w = ctx.inputs[0], ctx.inputs[1]
    bias, out = ctx.input(2), ctx.outputs[0]
    out_type, bias_types = INTEGER_TYPES[(x.dtype, w.dtype)]
    ctx.check_dtype(out, out_type)
    units, k = w.shape
    _check_bias(ctx, bias, units, *bias_types)
    qx, qw, qo = (require_quantization(ctx, t, what) for t, what in ((x, "input"), (w, "weights"), (out, "output")))
    per_channel = qw.scales.size > 1
    if per_channel:
        ctx.check(x.dtype != np.uint8, "per-channel weights need int8 or int16 activations, not uint8")
        ctx.check(qw.scales.size == units and qw.quantized_dimension == 0,
                  f"{qw.scales.size} per-channel weight scales on dimension {qw.quantized_dimension}; "
                  f"FULLY_CONNECTED needs one per unit ({units}) on dimension 0")
    elif bias is not None:
        # GetQuantizedConvolutionMultipler: the bias must carry (about) input_scale * weight_scale
        product = float(qx.scales[0]) * float(qw.scales[0])
        b_scale = float(bias.quantization.scales[0]) if bias.quantization is not None else 0.0
        ctx.check(abs(product - b_scale) / float(qo.scales[0]) <= 0.02,
                  f"bias scale {b_scale:g} is not input scale x weight scale ({product:g})")
    zp_x, zp_o = int(qx.zero_points[0]), int(qo.zero_points[0])
    zp_w = 0 if per_channel else int(qw.zero_points[0])   # per-channel weights are symmetric
    if x.dtype == np.int16:
        ctx.check(zp_x == 0 and zp_o == 0, f"int16 FULLY_CONNECTED needs zero points 0 on input and "
                                           f"output, got {zp_x} and {zp_o}")
        wrap32 = _int16_bias_is_int32(ctx, bias)
    else:
        wrap32 = True
    act = fused_activation(ctx)
    ctx.check(act in (ACT_NONE, ACT_RELU, ACT_RELU_N1_TO_1, ACT_RELU6),
              f"fused activation {ACT_NAMES.get(act, act)} is not supported on integer FULLY_CONNECTED")
    lo, hi = quantized_activation_range(ctx, out, act)

    batch, shape = _output_shape(ctx, x, units, k)
    ctx.set_output(0, shape)
    if x.dtype == np.uint8:        # both operands become int8 minus 128 (matmul_int8 docstring)
        zp_x, zp_w = zp_x - 128, zp_w - 128
    n_pad = padded_rows(units)
    # sum_k (x - zx)(w - zw) + bias = dot(x, w) + [bias - zx rowsum(w) + K zx zw] - zw rowsum(x):
    # the bracket is col_corr (once, when weights and bias are constant), the last term row_corr
    if w.is_constant:
        weights = np.zeros((n_pad, k), np.int8)
        weights[:units] = signed_view(w.data)
        weights = ctx.persistent(weights)
        col_const = -zp_x * row_sums(weights[:units]) + k * zp_x * zp_w
    else:
        weights = ctx.scratch((n_pad, k), np.int8)       # loaded, and col_corr made, per invoke
        col_const = np.zeros(units, np.int64)
    if w.is_constant and (bias is None or bias.is_constant):
        if bias is not None:
            col_const = col_const + np.asarray(bias.data, np.int64).reshape(units)
        col_corr = ctx.persistent(col_const.astype(np.int64))
    else:
        col_corr = ctx.scratch((units,), np.int64)
    scales = fc_scales(qx.scales[0], qw.scales if per_channel else np.repeat(qw.scales[:1], units), qo.scales[0])
    spans = _spans(ctx, batch, units, k, units * k * max(batch, GEMV_INT) / INT_GEMM_MACS_PER_US, 4, False)
    return IntegerFC(
        "integer", batch, k, units, zp_x, zp_w, weights, col_corr, ctx.persistent(col_const.astype(np.int64)),
        row_corr=ctx.scratch((batch,), np.int64) if zp_w else ctx.persistent(np.zeros(batch, np.int64)),
        x_signed=ctx.scratch((batch, k), np.int8) if x.dtype == np.uint8 else None,
        runtime_bias=bias is not None and not bias.is_constant, acc=ctx.scratch((len(spans), 4, n_pad), np.int64),
        wrap32=wrap32, scale=ctx.persistent(scales), zp_o=zp_o, lo=lo, hi=hi,
        out_view=np.int8 if out.dtype == np.uint8 else None, spans=spans, chunks=[])


class IntegerFC(NamedTuple):
    """What eval needs for an integer FULLY_CONNECTED; an int is a scratch slot."""
    kind: str
    batch: int
    k: int
    units: int
    zp_x: int                 # zero points as the int8 operands see them (uint8: minus 128)
    zp_w: int
    weights: object           # int8 [padded units, k], or a slot loaded per invoke
    col_corr: object          # int64 [units], or a slot made per invoke (run-time weights or bias)
    col_const: np.ndarray     # its part known at prepare time
    row_corr: object          # int64 [batch]: zeros, or a slot (weights with a zero point)
    x_signed: object          # slot for a uint8 input flipped to int8, or None
    runtime_bias: bool
    acc: int
    wrap32: bool              # the reference accumulates in int32 (not int64)
    scale: np.ndarray         # float64 [units]
    zp_o: int
    lo: int
    hi: int
    out_view: object          # np.int8 for a uint8 output, else None
    spans: list               # (r0, r1, c0, c1) per thread (c0, c1 only with batch 1)
    chunks: list              # int_gemm's arguments per span, made by bind


def _int16_bias_is_int32(ctx, bias):
    """16x8: the reference accumulates in the bias type, int64 unless the options say
    quantized_bias_type INT32 (then a bias, if any, must be int32)."""
    qbt = int(getattr(ctx.options, "quantizedBiasType", 0) or 0)
    if qbt == TENSOR_TYPE_INT32:
        ctx.check(bias is None or bias.dtype == np.int32, "quantized_bias_type INT32 needs an int32 bias")
        return True
    ctx.check(qbt in (0, TENSOR_TYPE_INT64), f"quantized_bias_type {qbt} is not INT32 or INT64")
    # without quantized_bias_type INT32 the reference reads the bias as int64, past the end of an
    # int32 one: refuse such a file rather than guess
    ctx.check(bias is None or bias.dtype == np.int64,
              "an int32 bias on int16 FULLY_CONNECTED needs FullyConnectedOptions.quantized_bias_type INT32")
    return False


def _slot(value, scratch):
    """An operand that is an array, or a scratch slot (an int) holding it."""
    return scratch[value] if isinstance(value, int) else value


def span_views(span, row_arrays, unit_arrays, outputs, weights):
    """int_gemm's operands for one span (r0, r1, c0, c1), as views: batch rows r0..r1 of the
    row_arrays (axis 0 is the batch row) and of the outputs [batch, units]; or, when the span
    cuts the units (batch 1), units c0..c1 of the unit_arrays (axis 0 is the unit), of the
    outputs (flattened: a [1, n] view stays contiguous) and of the weights [padded units, k]."""
    r0, r1, c0, c1 = span
    whole = c1 - c0 == outputs[0].shape[1]
    rows = [a[r0:r1] for a in row_arrays]
    units = unit_arrays if whole else [a[c0:c1] for a in unit_arrays]
    w = weights if whole else weights[c0:c0 + padded_rows(c1 - c0)]
    outs = [o[r0:r1] if whole else o.reshape(-1)[c0:c1].reshape(1, c1 - c0) for o in outputs]
    return rows, w, units, outs


def _bind_integer(data, ins, outs, scratch):
    d = data
    x = scratch[d.x_signed] if d.x_signed is not None else ins[0].reshape(d.batch, d.k)
    out = outs[0].reshape(d.batch, d.units)
    if d.out_view is not None:       # uint8 output written through an int8 view
        out = out.view(d.out_view)
    acc = scratch[d.acc]
    chunks = []
    for i, span in enumerate(d.spans):
        (x_v, row_corr), w, (col_corr, scale), (out_v,) = span_views(
            span, [x, _slot(d.row_corr, scratch)], [_slot(d.col_corr, scratch), d.scale], [out],
            _slot(d.weights, scratch))
        chunks.append((x_v, w, out_v, acc[i], col_corr, row_corr, EPI_FC_DOUBLE, d.wrap32, _I32_EMPTY, _I32_EMPTY,
                       scale, d.zp_o, d.lo, d.hi))
    d.chunks[:] = with_parts(chunks)


@jit
def integer_chunk(x, w, out, acc, col_corr, row_corr, kind, wrap32, mult, shift, scale, out_zp, lo, hi, sync, part):
    """int_gemm on one chunk (views of its rows or units), chunk `part` of the op (sync.py)."""
    if chunk_start(sync, part):
        int_gemm(x, w, out, acc, col_corr, row_corr, kind, wrap32, mult, shift, scale, out_zp, lo, hi)
    chunk_end(sync, part)


def _eval_integer(data, ins, outs, scratch):
    (_, batch, k, units, zp_x, zp_w, weights, col_corr, col_const, row_corr, x_signed, runtime_bias,
     acc, wrap32, scale, zp_o, lo, hi, out_view, spans, chunks) = data     # IntegerFC
    x = ins[0].reshape(batch, k)
    if x_signed is not None:         # uint8 input: int8 minus 128
        x_signed = scratch[x_signed]
        flip_sign(ins[0].reshape(-1).view(np.int8), x_signed.reshape(-1))
        x = x_signed
    if isinstance(col_corr, int):
        col_corr = scratch[col_corr]
        if isinstance(weights, int):
            weights = scratch[weights]
            w = ins[1]
            _load_weights(w.view(np.int8), w.dtype == np.uint8, weights)
            weighted_row_sums(weights[:units], -zp_x, _EMPTY, col_corr)
            _add_constant(col_corr, k * zp_x * zp_w)
        else:
            np.copyto(col_corr, col_const)
        if runtime_bias:
            _add_bias(col_corr, ins[2].reshape(units))
    if isinstance(row_corr, int):
        weighted_row_sums(x, -zp_w, _EMPTY, scratch[row_corr])
    run_chunks(integer_chunk, chunks)


_EMPTY = np.zeros(0, np.int64)


@jit
def _load_weights(w, flip, dst):
    """Run-time weights [units, k] into the padded int8 operand (uint8 flipped to int8 - 128)."""
    for o in range(w.shape[0]):
        for p in range(w.shape[1]):
            dst[o, p] = (w[o, p] ^ np.int8(-128)) if flip else w[o, p]


@jit
def _add_constant(a, c):
    for i in range(a.shape[0]):
        a[i] += c


@jit
def _add_bias(corr, bias):
    for i in range(corr.shape[0]):
        corr[i] += bias[i]


# -- hybrid ------------------------------------------------------------------------------------
def _prepare_hybrid(ctx):
    x, w = ctx.inputs[0], ctx.inputs[1]
    bias = ctx.input(2)
    ctx.check_dtype(ctx.outputs[0], np.float32)
    units, k = w.shape
    _check_bias(ctx, bias, units, np.float32)
    qw = require_quantization(ctx, w, "weights")
    if qw.scales.size > 1:
        ctx.check(qw.scales.size == units and qw.quantized_dimension == 0,
                  f"{qw.scales.size} per-channel weight scales on dimension {qw.quantized_dimension}; "
                  f"FULLY_CONNECTED needs one per unit ({units}) on dimension 0")
        col_scales = np.asarray(qw.scales, np.float32)
    else:
        col_scales = np.repeat(np.asarray(qw.scales[:1], np.float32), units)
    act = fused_activation(ctx)
    lo, hi = hybrid_activation(ctx, act)
    batch, shape = _output_shape(ctx, x, units, k)
    ctx.set_output(0, shape)
    n_pad = padded_rows(units)
    if w.is_constant:
        weights = np.zeros((n_pad, k), np.int8)
        weights[:units] = w.data
        weights = ctx.persistent(weights)
        w_sums = ctx.persistent(row_sums(weights[:units]).astype(np.int32))
    else:
        weights = ctx.scratch((n_pad, k), np.int8)
        w_sums = ctx.scratch((units,), np.int32)
    if bias is None or bias.is_constant:
        biases = ctx.persistent(np.zeros(units, np.float32) if bias is None
                                else np.asarray(bias.data, np.float32).reshape(units))
    else:
        biases = None                  # read from ins[2]
    asymmetric = bool(getattr(ctx.options, "asymmetricQuantizeInputs", False))
    spans = _spans(ctx, batch, units, k, units * k * max(batch, GEMV_INT) / INT_GEMM_MACS_PER_US, 4, False)
    return HybridFC("hybrid", batch, k, units, weights, w_sums, biases, ctx.persistent(col_scales), asymmetric,
                    act, np.float32(lo), np.float32(hi), ctx.scratch((batch, k), np.int8),
                    ctx.scratch((batch,), np.float32), ctx.scratch((batch,), np.int32),
                    ctx.scratch((batch, units), np.int32), ctx.scratch((len(spans), 4, n_pad), np.int64),
                    ctx.persistent(np.zeros(max(units, batch), np.int64)), spans, [])


class HybridFC(NamedTuple):
    """What eval needs for a hybrid FULLY_CONNECTED; an int is a scratch slot."""
    kind: str
    batch: int
    k: int
    units: int
    weights: object           # int8 [padded units, k], or a slot loaded per invoke
    w_sums: object            # int32 [units] row sums of the weights, or a slot
    biases: object            # float32 [units], or None: read from the op's input 2
    col_scales: np.ndarray    # float32 [units]
    asymmetric: bool
    act: int
    lo: np.float32
    hi: np.float32
    q: int                    # slots: the input quantized, its scales and offsets per row,
    sf: int                   # the int32 products, int_gemm's accumulators (one per span)
    offsets: int
    dots: int
    acc: int
    zeros: np.ndarray
    spans: list               # (r0, r1, c0, c1) per thread (c0, c1 only with batch 1)
    chunks: list              # _hybrid_chunk's arguments per span, made by bind


def hybrid_activation(ctx, act):
    """Hybrid kernels apply any of TFLite's float activations (ApplyActivationToVector): the
    clamping ones and TANH here. Unlike CalculateActivationRange, no activation and RELU leave
    infinities alone."""
    if act in (ACT_TANH, ACT_NONE):
        return -np.inf, np.inf
    if act == ACT_RELU:
        return 0.0, np.inf
    return float_activation_range(ctx, act)


def _bind_hybrid(data, ins, outs, scratch):
    d = data
    biases = d.biases if d.biases is not None else ins[2].reshape(d.units)
    out = outs[0].reshape(d.batch, d.units)
    acc = scratch[d.acc]
    chunks = []
    for i, span in enumerate(d.spans):
        (q, offsets, sf, row_zeros), w, (col_zeros, w_sums, col_scales, bias), (dots, out_v) = span_views(
            span, [scratch[d.q], scratch[d.offsets], scratch[d.sf], d.zeros[:d.batch]],
            [d.zeros[:d.units], _slot(d.w_sums, scratch), d.col_scales, biases], [scratch[d.dots], out],
            _slot(d.weights, scratch))
        chunks.append((q, w, dots, acc[i], col_zeros, row_zeros, w_sums, offsets, sf, col_scales, bias, out_v,
                       d.act, d.lo, d.hi, _I32_EMPTY, _F64_EMPTY))
    d.chunks[:] = with_parts(chunks)


@jit
def hybrid_chunk(q, weights, dots, acc, col_zeros, row_zeros, w_sums, offsets, sf, col_scales, biases, out, act,
                 lo, hi, no_mult, no_scale, sync, part):
    """One chunk's int8 products (views of its rows or units), then their float results; chunk
    `part` of the op (sync.py)."""
    if chunk_start(sync, part):
        int_gemm(q, weights, dots, acc, col_zeros, row_zeros, 0, True, no_mult, no_mult, no_scale, 0,
                 -(1 << 31), (1 << 31) - 1)
        hybrid_finish(dots, w_sums, offsets, sf, col_scales, biases, out, act, lo, hi)
    chunk_end(sync, part)


def _eval_hybrid(data, ins, outs, scratch):
    d = data
    x = ins[0].reshape(d.batch, d.k)
    if isinstance(d.weights, int):
        _load_weights(ins[1], False, scratch[d.weights])
        _row_sums32(ins[1], scratch[d.w_sums])
    if is_zero(x.reshape(-1)):       # as TFLite: the bias alone, activated
        biases = d.biases if d.biases is not None else ins[2].reshape(d.units)
        _fill_activated(outs[0].reshape(d.batch, d.units), biases, d.act, d.lo, d.hi)
        return
    quantize_rows(x, scratch[d.q], scratch[d.sf], scratch[d.offsets], d.asymmetric)
    run_chunks(hybrid_chunk, d.chunks)


_I32_EMPTY = np.zeros(0, np.int32)
_F64_EMPTY = np.zeros(0, np.float64)


@jit
def _row_sums32(w, out):
    for o in range(w.shape[0]):
        s = np.int32(0)
        for v in w[o]:
            s = np.int32(s + v)
        out[o] = s


@jit
def _fill_activated(out, bias, act, lo, hi):
    for b in range(out.shape[0]):
        for o in range(out.shape[1]):
            out[b, o] = apply_activation(bias[o], act, lo, hi)


# -- dispatch ----------------------------------------------------------------------------------
EVALS = {"float": _eval_float, "integer": _eval_integer, "hybrid": _eval_hybrid}
BINDS = {"float": _bind_float, "integer": _bind_integer, "hybrid": _bind_hybrid}


def bind_fully_connected(data, ins, outs, scratch):
    BINDS[data[0]](data, ins, outs, scratch)


def eval_fully_connected(data, ins, outs, scratch):
    if data[2] == 0 or data[1] == 0:   # k == 0 (or no rows): as TFLite, zeros, bias unused
        outs[0].fill(0)
        return
    EVALS[data[0]](data, ins, outs, scratch)


register_builtin("FULLY_CONNECTED", prepare_fully_connected, eval_fully_connected, bind=bind_fully_connected)
