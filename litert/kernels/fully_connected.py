"""FULLY_CONNECTED (float32): out[b] = clamp(W x[b] + bias) over the input flattened to
[batch, in_features] (TFLite fully_connected.cc).

The product runs on the shared GEMM micro-kernel (gemm.py), whose right-hand operand is the
weights packed into panels of NR units ([panels, in, NR]). Constant weights are packed once in
prepare into the persistent area; weights that arrive at run time (from another op) are packed
into scratch on every invoke, as is a run-time bias.
"""
import numpy as np

from ..registry import register_builtin
from .common import float_activation_range, fused_activation
from .gemm import NR, gemm, pack_bias, pack_weights, panels

WEIGHTS_FORMAT_DEFAULT = 0


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
    ctx.check(w.rank == 2, f"weights must be 2-D [units, input size], got {list(w.shape)}")
    if x.dtype == np.float32 and w.dtype == np.float32:
        return _prepare_float(ctx)
    if x.dtype == np.float32:
        raise ctx.error(f"hybrid FULLY_CONNECTED ({w.type_name} weights, float32 input) is not supported yet")
    raise ctx.error(f"input type {x.type_name} is not supported yet (float32 only)")


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


def _prepare_float(ctx):
    x, w = ctx.inputs[0], ctx.inputs[1]
    bias = ctx.input(2)
    ctx.check_dtype(w, np.float32)
    ctx.check_dtype(ctx.outputs[0], np.float32)
    units, k = w.shape
    if bias is not None:
        ctx.check_dtype(bias, np.float32)
        ctx.check(bias.size == units, f"bias has {bias.size} elements, the weights {units} units")
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
    return batch, k, units, weights, biases, np.float32(lo), np.float32(hi)


def eval_fully_connected(data, ins, outs, scratch):
    batch, k, units, weights, biases, lo, hi = data
    if k == 0:
        outs[0].fill(0)   # as TFLite: an empty reduction leaves the output zero, bias unused
        return
    if isinstance(weights, int):
        weights = scratch[weights]
        pack_weights(ins[1], weights)
    if isinstance(biases, int):
        biases = scratch[biases]
        pack_bias(ins[2].reshape(units), biases)
    gemm(batch, units, k, ins[0].reshape(-1), 0, k, weights, biases, outs[0].reshape(-1), 0, units,
         False, lo, hi)


register_builtin("FULLY_CONNECTED", prepare_fully_connected, eval_fully_connected)
