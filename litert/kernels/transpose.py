"""TRANSPOSE, and the strided-copy engine that TRANSPOSE, SLICE, STRIDED_SLICE, DEPTH_TO_SPACE
and SPACE_TO_DEPTH share.

Each of those ops writes its output in row-major order, reading the input at
`base + sum(i_k * step_k)` for an output index (i_0, ..., i_5). prepare() works out base, the
counts and the element steps (any sign), drops axes of length 1 and merges neighbours that walk
memory as one, so that at most 6 remain; eval() is one jitted loop on the raw bits.
"""
import numpy as np

from ..registry import register_builtin
from .common import jit
from .reshape import as_bits, check_dtype_in, check_same_dtype, int_values

MAX_AXES = 6


@jit
def strided_copy(src, base, counts, steps, dst):
    """dst[k], k row-major over `counts`, = src[base + sum(i_a * steps[a])]. src, dst flat."""
    n0, n1, n2, n3, n4, n5 = counts
    s0, s1, s2, s3, s4, s5 = steps
    k = 0
    for i0 in range(n0):
        o0 = base + i0 * s0
        for i1 in range(n1):
            o1 = o0 + i1 * s1
            for i2 in range(n2):
                o2 = o1 + i2 * s2
                for i3 in range(n3):
                    o3 = o2 + i3 * s3
                    for i4 in range(n4):
                        o4 = o3 + i4 * s4
                        for i5 in range(n5):
                            dst[k] = src[o4 + i5 * s5]
                            k += 1


def row_major_strides(shape):
    strides, acc = [], 1
    for d in reversed(shape):
        strides.append(acc)
        acc *= d
    return strides[::-1]


def plan_strided(ctx, base, counts, steps):
    """(base, counts6, steps6) for strided_copy, or a PrepareError when more than 6 axes remain
    after dropping length-1 axes and merging neighbours with step_outer == count_inner *
    step_inner."""
    axes = []
    for n, s in zip(counts, steps):
        if n == 1:
            continue
        if axes and axes[-1][0] != 0 and n != 0 and axes[-1][1] == n * s:
            axes[-1] = (axes[-1][0] * n, s)
        else:
            axes.append((n, s))
    if any(n == 0 for n, _ in axes):
        axes = [(0, 0)]
    ctx.check(len(axes) <= MAX_AXES, f"needs {len(axes)} independent axes; litert handles at most "
                                     f"{MAX_AXES}")
    axes = [(1, 0)] * (MAX_AXES - len(axes)) + axes
    return int(base), tuple(int(n) for n, _ in axes), tuple(int(s) for _, s in axes)


def plan_transpose(ctx, in_shape, perm):
    """Strided-copy plan for out = transpose(in, perm)."""
    strides = row_major_strides(in_shape)
    return plan_strided(ctx, 0, [in_shape[p] for p in perm], [strides[p] for p in perm])


def eval_strided(plan, ins, outs, scratch):
    base, counts, steps = plan
    strided_copy(as_bits(ins[0]), base, counts, steps, as_bits(outs[0]))


def prepare_transpose(ctx):
    ctx.check_inputs(2)
    x, out = ctx.inputs[0], ctx.outputs[0]
    check_same_dtype(ctx, x, out)
    check_dtype_in(ctx, x, (np.float32, np.float16, np.int8, np.uint8, np.int16, np.uint16,
                            np.int32, np.uint32, np.int64, np.uint64, np.bool_), "TRANSPOSE")
    ctx.check(ctx.inputs[1].rank == 1, "perm (input 1) must be 1-D")
    perm = int_values(ctx, 1, "perm")
    ctx.check(len(perm) == x.rank, f"perm {perm} does not have one entry per input axis "
                                   f"(rank {x.rank})")
    perm = [p + x.rank if p < 0 else p for p in perm]
    ctx.check(sorted(perm) == list(range(x.rank)), f"perm {int_values(ctx, 1, 'perm')} is not a "
                                                   f"permutation of 0..{x.rank - 1}")
    ctx.set_output(0, [x.shape[p] for p in perm])
    return plan_transpose(ctx, x.shape, perm)


register_builtin("TRANSPOSE", prepare_transpose, eval_strided)
