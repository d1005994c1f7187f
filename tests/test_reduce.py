import numpy as np
import pytest

from oneop import assert_same, one_op_model, options, run_litert

from litert.errors import PrepareError

OPS = ["MEAN", "SUM", "REDUCE_MAX", "REDUCE_MIN", "REDUCE_PROD"]

# (input shape, axes): single, multiple, negative, repeated, all, middle, alternating patterns
CASES = [
    ((6,), [0]),
    ((4, 5), [1]),
    ((4, 5), [0]),
    ((4, 5), [-1]),
    ((4, 5), [0, 1]),
    ((2, 3, 4), [1]),
    ((2, 3, 4), [0, 2]),          # reduced-kept-reduced: the general loop
    ((2, 3, 4), [-3, 2, 0]),      # repeated through a negative index
    ((2, 5, 6, 3), [1, 2]),       # NHWC spatial mean
    ((2, 5, 6, 3), [2, 1]),
    ((2, 5, 6, 3), [-2, -3, 1]),
    ((2, 3, 1, 4), [2]),          # reducing a size-1 axis
    ((2, 3, 4, 5), [0, 2]),
    ((2, 3, 4, 5), [1, 3]),       # kept-reduced-kept-reduced
    ((2, 3, 4, 5), [0, 1, 2, 3]),
    ((2, 3, 2, 4, 3), [0, 2, 4]),
    ((2, 3, 2, 4, 3), [1, 3]),
    ((3, 1, 2, 2, 4), [-1, 1]),
    ((2, 3), []),                 # no axes: a copy
]


def reduce_model(op, shape, axes, keep_dims, dtype=np.float32):
    x = np.zeros(shape)
    axes_arr = np.array(axes, np.int32)
    norm = tuple(sorted({a % len(shape) for a in axes}))
    out = np.sum(x, axis=norm, keepdims=keep_dims).shape if norm else shape
    return one_op_model(op, [("input", shape, dtype), ("const", axes_arr)], [(out, dtype)],
                        options("ReducerOptions", keepDims=keep_dims))


def sample(op, shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.float32:
        lo, hi = (0.5, 1.5) if op == "REDUCE_PROD" else (-4, 4)
        return rng.uniform(lo, hi, shape).astype(np.float32)
    lo, hi = (-3, 4) if op == "REDUCE_PROD" else (-1000, 1000)
    return rng.integers(lo, hi, shape).astype(dtype)


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("shape,axes", CASES, ids=str)
@pytest.mark.parametrize("keep_dims", [False, True])
def test_reduce_float32(op, shape, axes, keep_dims):
    x = sample(op, shape, np.float32)
    assert_same(reduce_model(op, shape, axes, keep_dims), [x])


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("shape,axes", [((4, 5), [1]), ((2, 3, 4), [0, 2]), ((2, 5, 6, 3), [1, 2]),
                                        ((2, 3, 4, 5), [1, 3]), ((7,), [0])], ids=str)
@pytest.mark.parametrize("keep_dims", [False, True])
def test_reduce_int32(op, shape, axes, keep_dims):
    x = sample(op, shape, np.int32)
    assert_same(reduce_model(op, shape, axes, keep_dims, np.int32), [x])


@pytest.mark.parametrize("op", OPS)
def test_reduce_int64(op):
    x = sample(op, (3, 4, 5), np.int64, seed=3)
    assert_same(reduce_model(op, x.shape, [0, 2], False, np.int64), [x])


def test_mean_int32_truncates_toward_zero():
    x = np.array([[-7, 0, 0], [7, 1, 0], [-1, -1, 0], [5, 5, 5]], np.int32)
    got = assert_same(reduce_model("MEAN", x.shape, [1], False, np.int32), [x])[0]
    np.testing.assert_array_equal(got, [-2, 2, 0, 5])


def test_sum_int32_wraps():
    x = np.array([2 ** 31 - 1, 5, 2 ** 30], np.int32)
    assert_same(reduce_model("SUM", x.shape, [0], False, np.int32), [x])
    assert_same(reduce_model("REDUCE_PROD", x.shape, [0], False, np.int32), [x])


@pytest.mark.parametrize("op", OPS)
def test_reduce_large_spatial_mean(op):
    # the mobilenet head: [1, 7, 7, 1280] over H, W
    x = sample(op, (1, 7, 7, 1280), np.float32, seed=5)
    assert_same(reduce_model(op, x.shape, [1, 2], False), [x])


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("keep_dims", [False, True])
def test_reduce_empty_input(op, keep_dims):
    # nothing to reduce: the starting value (MEAN: NaN)
    x = np.zeros((0, 3), np.float32)
    got = assert_same(reduce_model(op, x.shape, [0], keep_dims), [x])[0]
    want = {"MEAN": np.nan, "SUM": 0, "REDUCE_PROD": 1, "REDUCE_MAX": np.finfo(np.float32).min,
            "REDUCE_MIN": np.finfo(np.float32).max}[op]
    assert got.shape == ((1, 3) if keep_dims else (3,))
    np.testing.assert_array_equal(got, np.full(got.shape, want, np.float32))


def test_reduce_empty_kept_axis():
    x = np.zeros((0, 3), np.float32)
    assert_same(reduce_model("SUM", x.shape, [1], False), [x])


def test_reduce_scalar_input():
    model = one_op_model("SUM", [("input", (), np.float32), ("const", np.zeros(0, np.int32))],
                         [((), np.float32)], options("ReducerOptions", keepDims=False))
    assert_same(model, [np.array(2.5, np.float32)])


def test_reduce_rejects_bad_axes():
    x = np.zeros((2, 3), np.float32)
    with pytest.raises(PrepareError, match="out of range"):
        model = one_op_model("SUM", [("input", x.shape, np.float32), ("const", np.array([2], np.int32))],
                             [((2,), np.float32)], options("ReducerOptions"))
        run_litert(model, [x])
    model = one_op_model("MEAN", [("input", x.shape, np.float32), ("input", (1,), np.int32)],
                         [((2,), np.float32)], options("ReducerOptions"))
    with pytest.raises(PrepareError, match="must be a constant"):
        run_litert(model, [x, np.array([1], np.int32)])


def test_reduce_runs_twice_with_new_data():
    # the output doubles as the accumulator: a second invoke must start afresh
    from litert import Interpreter
    it = Interpreter(model_content=reduce_model("SUM", (2, 5, 6, 3), [1, 2], True))
    it.allocate_tensors()
    inp, out = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    for seed in (0, 1):
        x = sample("SUM", (2, 5, 6, 3), np.float32, seed)
        it.set_tensor(inp, x)
        it.invoke()
        np.testing.assert_allclose(it.get_tensor(out), x.sum(axis=(1, 2), keepdims=True), rtol=1e-5, atol=1e-5)
