"""Ops that change a tensor's shape but not its bytes: RESHAPE, SQUEEZE, EXPAND_DIMS, SHAPE.

Also the small helpers the other data-movement modules share (transpose, concat_split, slice,
gather, pad, space_depth, resize): bit views that let one jitted loop serve every dtype of a
given width, reading integer parameter tensors, and the quantization checks TFLite makes.
"""
import numpy as np

from ..registry import register_builtin

# One unsigned type per element width: data movement works on raw bits, so float32, int32 and
# uint32 share one numba specialization (as TFLite dispatches on TfLiteTypeGetSizeBits).
_BITS = {1: np.uint8, 2: np.uint16, 4: np.uint32, 8: np.uint64}


def as_bits(array):
    """A flat view of `array` as unsigned integers of the same width (no copy)."""
    return array.reshape(-1).view(_BITS[array.dtype.itemsize])


def bits_of(value, dtype):
    """A scalar `value` of `dtype`, reinterpreted like as_bits (e.g. a pad value)."""
    return np.asarray(value, dtype).reshape(1).view(_BITS[np.dtype(dtype).itemsize])[0]


def int_values(ctx, i, what, dtypes=(np.int32, np.int64)):
    """Input i's value as a list of Python ints; it must be known at prepare time."""
    spec = ctx.input(i)
    ctx.check(spec is not None, f"{what} (input {i}) is missing")
    ctx.check_dtype(spec, *dtypes)
    return [int(v) for v in np.asarray(ctx.constant(i, what)).reshape(-1)]


def check_same_dtype(ctx, a, b):
    ctx.check(a.dtype == b.dtype, f"tensor {b.index} ({b.name!r}) is {b.type_name}, "
                                  f"but tensor {a.index} ({a.name!r}) is {a.type_name}")


def check_same_quant(ctx, a, b):
    """TFLite's `params.scale/zero_point` equality check for ops that cannot rescale."""
    ctx.check(a.scale == b.scale and a.zero_point == b.zero_point,
              f"tensors {a.index} and {b.index} must have the same quantization "
              f"(scale {a.scale} zero point {a.zero_point} vs scale {b.scale} zero point {b.zero_point})")


def check_dtype_in(ctx, spec, allowed, op_name):
    allowed = [np.dtype(t) for t in allowed]
    ctx.check(spec.dtype in allowed, f"{op_name} does not support {spec.type_name} "
                                     f"(tensor {spec.index}, {spec.name!r})")


def trunc_div(a, b):
    """C integer division of Python ints (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def static_output_shape(ctx, i=0):
    """The output's shape as written in the file, or None when the file leaves a dimension
    unknown (shape_signature -1)."""
    spec = ctx.outputs[i]
    tensor = ctx.runtime.subgraph.tensors[spec.index]
    if any(d < 0 for d in tensor.shape_signature):
        return None
    return tuple(tensor.shape)


def eval_copy(data, ins, outs, scratch):
    """Same bytes, new shape: one flat copy."""
    np.copyto(outs[0].reshape(-1), ins[0].reshape(-1))


# -- RESHAPE --------------------------------------------------------------------------------

def _resolve_stretch(ctx, in_shape, shape):
    """TFLite ResizeOutput: one -1 takes what is left; zero-sized dimensions are allowed."""
    shape = list(shape)
    num_in = int(np.prod(in_shape, dtype=np.int64))
    nonzero_in = int(np.prod([d for d in in_shape if d != 0], dtype=np.int64))
    stretch = [k for k, d in enumerate(shape) if d == -1]
    ctx.check(len(stretch) <= 1, f"new shape {shape} has more than one -1")
    ctx.check(all(d >= -1 for d in shape), f"new shape {shape} has a negative dimension")
    num_out = int(np.prod([d for d in shape if d != -1], dtype=np.int64))
    nonzero_out = int(np.prod([d for d in shape if d not in (0, -1)], dtype=np.int64))
    if stretch:
        if num_in == 0 and num_out != 0:
            shape[stretch[0]] = 0
        else:
            shape[stretch[0]] = nonzero_in // nonzero_out if nonzero_out else 0
        num_out *= shape[stretch[0]]
    ctx.check(num_in == num_out, f"cannot reshape {list(in_shape)} ({num_in} elements) "
                                 f"to {shape} ({num_out} elements)")
    return shape


def prepare_reshape(ctx):
    ctx.check_inputs(1, 2)
    x, out = ctx.inputs[0], ctx.outputs[0]
    check_same_dtype(ctx, x, out)
    shape_in = ctx.input(1)
    # As TFLite: the shape tensor wins when it is a 1-D int32 vector, else ReshapeOptions.
    if shape_in is not None and shape_in.rank == 1 and shape_in.dtype == np.int32:
        if shape_in.data is None:
            # Its value comes at run time; the file's static output shape is the only clue.
            static = static_output_shape(ctx)
            ctx.check(static is not None and int(np.prod(static, dtype=np.int64)) == x.size,
                      "the new shape (input 1) is only known at run time and the output tensor's "
                      f"shape in the file {list(out.shape)} does not fit the input {list(x.shape)}")
            ctx.set_output(0, static)
            return None
        shape = [int(v) for v in shape_in.data.reshape(-1)]
    else:
        new_shape = getattr(ctx.options, "newShape", None)
        shape = [] if new_shape is None else [int(v) for v in np.asarray(new_shape).reshape(-1)]
        if shape == [0]:   # legacy converters wrote [0] for a scalar
            shape = []
    ctx.set_output(0, _resolve_stretch(ctx, x.shape, shape))
    return None


# -- SQUEEZE --------------------------------------------------------------------------------

def prepare_squeeze(ctx):
    ctx.check_inputs(1)
    x = ctx.inputs[0]
    check_same_dtype(ctx, x, ctx.outputs[0])
    ctx.check(x.rank <= 8, f"input rank {x.rank} is above 8")
    dims = getattr(ctx.options, "squeezeDims", None)
    dims = [] if dims is None else [int(d) for d in np.asarray(dims).reshape(-1)]
    if not dims:
        squeeze = {k for k, d in enumerate(x.shape) if d == 1}
    else:
        squeeze = set()
        for d in dims:
            k = d + x.rank if d < 0 else d
            ctx.check(0 <= k < x.rank and x.shape[k] == 1,
                      f"cannot squeeze dimension {d} of shape {list(x.shape)}")
            squeeze.add(k)
    ctx.set_output(0, [d for k, d in enumerate(x.shape) if k not in squeeze])
    return None


# -- EXPAND_DIMS ----------------------------------------------------------------------------

def prepare_expand_dims(ctx):
    ctx.check_inputs(2)
    x, out = ctx.inputs[0], ctx.outputs[0]
    check_same_dtype(ctx, x, out)
    check_same_quant(ctx, x, out)
    axis_spec = ctx.inputs[1]
    ctx.check_dtype(axis_spec, np.int32, np.int64)
    ctx.check(axis_spec.size == 1, f"axis (input 1) must hold one value, has {axis_spec.size}")
    if axis_spec.data is None:
        static = static_output_shape(ctx)
        ctx.check(static is not None and len(static) == x.rank + 1
                  and int(np.prod(static, dtype=np.int64)) == x.size,
                  "the axis (input 1) is only known at run time and the output tensor's shape in "
                  f"the file {list(out.shape)} does not fit the input {list(x.shape)}")
        ctx.set_output(0, static)
        return None
    axis = int(axis_spec.data.reshape(-1)[0])
    if axis < 0:
        axis += x.rank + 1
    ctx.check(0 <= axis <= x.rank, f"axis {int(axis_spec.data.reshape(-1)[0])} is out of range "
                                   f"for an input of rank {x.rank}")
    ctx.set_output(0, x.shape[:axis] + (1,) + x.shape[axis:])
    return None


# -- SHAPE ----------------------------------------------------------------------------------

_SHAPE_TYPES = {2: np.int32, 4: np.int64}   # ShapeOptions.outType: TensorType INT32 / INT64


def prepare_shape(ctx):
    ctx.check_inputs(1)
    x, out = ctx.inputs[0], ctx.outputs[0]
    out_type = int(getattr(ctx.options, "outType", 0) or 0)
    ctx.check(out_type in _SHAPE_TYPES, f"unknown shape output type {out_type} (INT32 or INT64)")
    ctx.check(out.dtype == np.dtype(_SHAPE_TYPES[out_type]),
              f"output is {out.type_name}, but ShapeOptions.outType asks for "
              f"{np.dtype(_SHAPE_TYPES[out_type])}")
    ctx.set_output(0, (x.rank,))
    value = np.array(x.shape, dtype=out.dtype)
    # The value is known now whatever the input holds: where the runtime lets a kernel say so,
    # consumers (RESHAPE, STRIDED_SLICE, ...) see it as a constant.
    set_value = getattr(ctx, "set_output_value", None)
    if set_value is not None:
        set_value(0, value)
    return ctx.persistent(value)


def eval_shape(value, ins, outs, scratch):
    np.copyto(outs[0], value)


register_builtin("RESHAPE", prepare_reshape, eval_copy)
register_builtin("SQUEEZE", prepare_squeeze, eval_copy)
register_builtin("EXPAND_DIMS", prepare_expand_dims, eval_copy)
register_builtin("SHAPE", prepare_shape, eval_shape)
