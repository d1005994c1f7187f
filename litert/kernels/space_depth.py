"""DEPTH_TO_SPACE and SPACE_TO_DEPTH (NHWC, TFLite's DCR order).

Both are a 6-D transpose: DEPTH_TO_SPACE reads the input as [N, H, W, bh, bw, C'] and writes
[N, H, bh, W, bw, C'] (= [N, H*b, W*b, C']); SPACE_TO_DEPTH is the inverse, reading
[N, H', bh, W', bw, C] and writing [N, H', W', bh, bw, C]. Both run on the strided-copy engine.
"""
import numpy as np

from ..registry import register_builtin
from .reshape import check_dtype_in, check_same_dtype
from .transpose import eval_strided, plan_transpose

TYPES = (np.float32, np.uint8, np.int8, np.int32, np.int64, np.uint16)
SWAP_MIDDLE = (0, 1, 3, 2, 4, 5)


def _check(ctx, name):
    ctx.check_inputs(1)
    x, out = ctx.inputs[0], ctx.outputs[0]
    ctx.check(x.rank == 4, f"input must be 4-D (NHWC), has shape {list(x.shape)}")
    check_dtype_in(ctx, x, TYPES, name)
    check_same_dtype(ctx, x, out)
    block = int(getattr(ctx.options, "blockSize", 0) or 0)
    ctx.check(block > 0, f"block size {block} must be positive")
    return x, block


def prepare_depth_to_space(ctx):
    x, b = _check(ctx, "DEPTH_TO_SPACE")
    n, h, w, c = x.shape
    ctx.check(c % (b * b) == 0, f"depth {c} is not a multiple of block size {b} squared")
    ctx.set_output(0, (n, h * b, w * b, c // (b * b)))
    return plan_transpose(ctx, (n, h, w, b, b, c // (b * b)), SWAP_MIDDLE)


def prepare_space_to_depth(ctx):
    x, b = _check(ctx, "SPACE_TO_DEPTH")
    n, h, w, c = x.shape
    ctx.check(h % b == 0 and w % b == 0, f"height {h} and width {w} must be multiples of block size {b}")
    ctx.set_output(0, (n, h // b, w // b, c * b * b))
    return plan_transpose(ctx, (n, h // b, b, w // b, b, c), SWAP_MIDDLE)


register_builtin("DEPTH_TO_SPACE", prepare_depth_to_space, eval_strided)
register_builtin("SPACE_TO_DEPTH", prepare_space_to_depth, eval_strided)
