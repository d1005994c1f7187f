"""PAD, PADV2 (constant padding) and MIRROR_PAD (REFLECT / SYMMETRIC).

PAD fills the output with the pad value and copies the input into its interior (numpy fill and
copyto on views). The pad value follows TFLite's pad.cc: 0 for float and plain integers, the
output zero point for quantized PAD, the raw constant for PADV2 (whose quantization must then
equal the output's). MIRROR_PAD builds, per axis, the table output index -> input index once,
and eval gathers through the tables in one jitted loop.
"""
import numpy as np

from ..registry import register_builtin
from .common import jit
from .reshape import as_bits, check_dtype_in, check_same_dtype, check_same_quant

PAD_TYPES = (np.float32, np.float16, np.uint8, np.int8, np.int16, np.int32, np.int64, np.bool_)
PADDING_TYPES = (np.int32, np.int64, np.int8, np.int16, np.bool_)
MAX_PAD_RANK = 6      # TFLite's reference kernel stops at 5; litert's loops take 6
MODE_REFLECT, MODE_SYMMETRIC = 0, 1


def _paddings(ctx, x, dtypes):
    """The [rank, 2] paddings (input 1) as a list of (before, after)."""
    spec = ctx.inputs[1]
    ctx.check_dtype(spec, *dtypes)
    ctx.check(spec.rank == 2 and spec.shape[1] == 2 and spec.shape[0] == x.rank,
              f"paddings must have shape [{x.rank}, 2], has {list(spec.shape)}")
    values = np.asarray(ctx.constant(1, "paddings")).astype(np.int64).reshape(-1, 2)
    pads = [(int(a), int(b)) for a, b in values]
    ctx.check(all(a >= 0 and b >= 0 for a, b in pads), f"paddings {pads} must not be negative")
    return pads


def prepare_pad(ctx):
    ctx.check_inputs(2, 3)
    x, out = ctx.inputs[0], ctx.outputs[0]
    check_dtype_in(ctx, x, PAD_TYPES, "PAD")
    check_same_dtype(ctx, x, out)
    ctx.check(x.rank <= MAX_PAD_RANK, f"input rank {x.rank} is above {MAX_PAD_RANK}")
    pads = _paddings(ctx, x, PADDING_TYPES)
    ctx.set_output(0, [d + a + b for d, (a, b) in zip(x.shape, pads)])

    const = ctx.input(2)
    quantized = x.quantization is not None and out.dtype in (np.uint8, np.int8, np.int16)
    if const is None:
        value = 0
        if quantized or out.dtype == np.uint8:
            info = np.iinfo(out.dtype)
            ctx.check(info.min <= out.zero_point <= info.max,
                      f"output zero point {out.zero_point} is outside {out.dtype}")
            value = out.zero_point
    else:
        check_same_dtype(ctx, x, const)
        ctx.check(const.size == 1, f"the constant value (input 2) must hold one value, has {const.size}")
        if quantized or out.dtype == np.uint8:
            check_same_quant(ctx, const, out)
        value = ctx.constant(2, "constant value").reshape(-1)[0]
    # The trailing Ellipsis keeps out[interior] a view for 0-d tensors too.
    interior = tuple(slice(a, a + d) for d, (a, _) in zip(x.shape, pads)) + (Ellipsis,)
    return out.dtype.type(value), interior


def eval_pad(data, ins, outs, scratch):
    value, interior = data
    out = outs[0]
    out.fill(value)
    np.copyto(out[interior], ins[0])


# -- MIRROR_PAD -----------------------------------------------------------------------------

@jit
def gather_axes6(src, t0, t1, t2, t3, t4, t5, dst):
    """dst[i0, ..., i5] = src[t0[i0], ..., t5[i5]]."""
    for i0 in range(dst.shape[0]):
        s0 = src[t0[i0]]
        for i1 in range(dst.shape[1]):
            s1 = s0[t1[i1]]
            for i2 in range(dst.shape[2]):
                s2 = s1[t2[i2]]
                for i3 in range(dst.shape[3]):
                    s3 = s2[t3[i3]]
                    for i4 in range(dst.shape[4]):
                        s4 = s3[t4[i4]]
                        d4 = dst[i0, i1, i2, i3, i4]
                        for i5 in range(dst.shape[5]):
                            d4[i5] = s4[t5[i5]]


def axis_tables6(tables, in_shape):
    """Tables and 6-D shapes for gather_axes6: leading axes of length 1 fill the rank up."""
    lead = 6 - len(tables)
    tables = [np.zeros(1, np.int64)] * lead + [np.asarray(t, np.int64) for t in tables]
    return tables, (1,) * lead + tuple(in_shape), (1,) * lead + tuple(len(t) for t in tables[lead:])


def eval_gather_axes(data, ins, outs, scratch):
    tables, in_shape, out_shape = data
    gather_axes6(as_bits(ins[0]).reshape(in_shape), *tables, as_bits(outs[0]).reshape(out_shape))


def mirror_table(size, before, after, offset):
    """Input index for each output index along one axis (TFLite GetInputDimension);
    offset 1 = REFLECT (edge not repeated), 0 = SYMMETRIC."""
    table = []
    for p in range(before + size + after):
        if p < before:
            table.append(before + offset - 1 - p)
        elif p - before >= size:
            q = p - before - size
            table.append(size - 1 - offset - min(q, size - 1 - offset))
        else:
            table.append(p - before)
    return table


def prepare_mirror_pad(ctx):
    ctx.check_inputs(2)
    x, out = ctx.inputs[0], ctx.outputs[0]
    check_same_dtype(ctx, x, out)
    ctx.check(x.rank <= 6, f"input rank {x.rank} is above 6")
    if x.dtype in (np.uint8, np.int8, np.int16):
        check_same_quant(ctx, x, out)
    if x.dtype == np.int16:
        ctx.check(x.zero_point == 0 and out.zero_point == 0, "int16 tensors need zero point 0")
    pads = _paddings(ctx, x, (np.int32, np.int64))
    mode = int(getattr(ctx.options, "mode", 0) or 0)
    ctx.check(mode in (MODE_REFLECT, MODE_SYMMETRIC), f"unknown mirror pad mode {mode}")
    offset = 1 if mode == MODE_REFLECT else 0
    for d, (a, b) in zip(x.shape, pads):
        # Beyond this TFLite reads before the input (TensorFlow rejects it); a too large
        # padding after the input only repeats index 0 there, as mirror_table does.
        ctx.check(a <= d - offset and (d > 0 or a + b == 0),
                  f"paddings {pads} are too large for shape {list(x.shape)} in "
                  f"{'REFLECT' if offset else 'SYMMETRIC'} mode")
    ctx.set_output(0, [d + a + b for d, (a, b) in zip(x.shape, pads)])
    tables = [mirror_table(d, a, b, offset) for d, (a, b) in zip(x.shape, pads)]
    tables, in_shape, out_shape = axis_tables6(tables, x.shape)
    return [ctx.persistent(t) for t in tables], in_shape, out_shape


register_builtin("PAD", prepare_pad, eval_pad)
register_builtin("PADV2", prepare_pad, eval_pad)
register_builtin("MIRROR_PAD", prepare_mirror_pad, eval_gather_axes)
