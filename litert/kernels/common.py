"""Shared pieces of kernels: the jit decorator, fused activations, padding, broadcasting."""
import functools
import math

import numba
import numpy as np

# Every kernel core: cached on disk, no bounds checks or Python exceptions inside (DESIGN.md
# rule 2: division by zero follows numpy, not Python), and it releases the GIL.
jit = functools.partial(numba.njit, cache=True, nogil=True, error_model="numpy", boundscheck=False)

# ActivationFunctionType in the schema
ACT_NONE, ACT_RELU, ACT_RELU_N1_TO_1, ACT_RELU6, ACT_TANH, ACT_SIGN_BIT = range(6)
ACT_NAMES = {0: "NONE", 1: "RELU", 2: "RELU_N1_TO_1", 3: "RELU6", 4: "TANH", 5: "SIGN_BIT"}

# Padding in the schema
PADDING_SAME, PADDING_VALID = 0, 1


# -- where a convolution window lies (inlined into the convolution cores) ----------------------
@jit(inline="always")
def inner_columns(out_w, in_w, k, stride, dilation, pad):
    """[lo, hi): the output columns whose window of k taps lies inside the input's in_w columns."""
    lo = min(out_w, -(-pad // stride))
    return lo, max(lo, min(out_w, (in_w - 1 - (k - 1) * dilation + pad) // stride + 1))


@jit(inline="always")
def rows_inside3(iy, dilation, h):
    """Bit i set where row i of a 3-row window starting at input row iy lies inside the h rows."""
    bits = 0
    for i in range(3):
        if 0 <= iy + i * dilation < h:
            bits |= 1 << i
    return bits


@jit(inline="always")
def taps_inside3x3(rows_inside, ix, dilation, w):
    """Bit 3i + k set where tap (i, k) of a 3x3 window lies inside the image: its row i in
    rows_inside (rows_inside3) and its column ix + k*dilation inside the w columns."""
    bits = 0
    for k in range(3):
        if 0 <= ix + k * dilation < w:
            for i in range(3):
                if rows_inside & (1 << i):
                    bits |= 1 << (3 * i + k)
    return bits


def require_quantization(ctx, t, what):
    """The quantization parameters of tensor t (a prepare-time spec), or a prepare error naming it."""
    q = t.quantization
    ctx.check(q is not None and q.scales.size > 0,
              f"{what} tensor {t.index} ({t.name!r}) has no quantization parameters")
    return q


def fused_activation(ctx):
    """The op's fused activation code (0 when the op has no options)."""
    return int(getattr(ctx.options, "fusedActivationFunction", 0) or 0)


FLOAT_MAX = float(np.finfo(np.float32).max)


def float_activation_range(ctx, act=None):
    """Clamp bounds for a float op's fused activation, as TFLite's CalculateActivationRange: no
    activation and RELU are bounded by the largest float32, so an infinity comes out as
    +-3.4028235e38, as it does from the official kernels (the hybrid kernels clamp otherwise:
    fully_connected.hybrid_activation)."""
    act = fused_activation(ctx) if act is None else act
    if act == ACT_NONE:
        return -FLOAT_MAX, FLOAT_MAX
    if act == ACT_RELU:
        return 0.0, FLOAT_MAX
    if act == ACT_RELU_N1_TO_1:
        return -1.0, 1.0
    if act == ACT_RELU6:
        return 0.0, 6.0
    raise ctx.error(f"fused activation {ACT_NAMES.get(act, act)} is not supported")


def quantized_activation_range(ctx, out, act=None):
    """Clamp bounds in the output's quantized domain (TFLite CalculateActivationRangeQuantized,
    dividing in float32 as the reference does: qmath.quantized_activation_bounds)."""
    from .qmath import quantized_activation_bounds  # qmath imports this module
    act = fused_activation(ctx) if act is None else act
    bounds = quantized_activation_bounds(act, out.dtype, out.scale, out.zero_point)
    if bounds is None:
        raise ctx.error(f"fused activation {ACT_NAMES.get(act, act)} is not supported")
    return bounds


def round_half_away(x):
    """std::round on a float (halves away from zero; Python's round() rounds halves to even),
    exactly: no x + 0.5 double rounding just below 0.5."""
    t = math.trunc(x)
    if abs(x - t) >= 0.5:
        t += 1 if x > 0 else -1
    return int(t)


def conv_output_size(size, filter_size, stride, dilation, padding):
    """Output length along one spatial axis (TFLite ComputeOutSize)."""
    effective = (filter_size - 1) * dilation + 1
    if padding == PADDING_SAME:
        return (size + stride - 1) // stride
    return (size - effective + stride) // stride if size >= effective else 0


def conv_padding(size, filter_size, stride, dilation, out_size):
    """Padding before the first element along one axis (TFLite ComputePaddingWithOffset: the
    extra odd pixel goes after)."""
    effective = (filter_size - 1) * dilation + 1
    total = (out_size - 1) * stride + effective - size
    return max(total // 2, 0)


def check_padding(ctx, padding):
    ctx.check(padding in (PADDING_SAME, PADDING_VALID), f"unknown padding type {padding}")


def broadcast_shape(ctx, *shapes):
    """numpy broadcasting of the given shapes, or a PrepareError naming them."""
    try:
        return tuple(np.broadcast_shapes(*[tuple(s) for s in shapes]))
    except ValueError:
        raise ctx.error("shapes " + ", ".join(str(list(s)) for s in shapes) + " do not broadcast") from None


def broadcast_view(array, out_shape):
    """`array` viewed with out_shape's rank and zero strides on broadcast axes (no copy)."""
    return np.broadcast_to(array, out_shape)


def normalize_axis(ctx, axis, rank):
    a = int(axis)
    ctx.check(-rank <= a < max(rank, 1), f"axis {a} is out of range for rank {rank}")
    return a % rank if rank else 0
