import numpy as np
import pytest

from oneop import assert_same, check_ops_against_intermediates, one_op_model, options, run_litert, run_official

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


# -- quantized: int8, uint8, int16 (zero point 0), bit exact with the reference kernels --------
Q_CASES = [
    ((6,), [0]),
    ((4, 5), [1]),
    ((4, 5), [-2]),
    ((2, 3, 4), [0, 2]),          # reduced-kept-reduced: the general loop
    ((2, 5, 6, 3), [1, 2]),       # NHWC spatial mean (the 4-D special case with keep_dims)
    ((2, 5, 6, 3), [2, -3]),
    ((2, 3, 4, 5), [1, 3]),
    ((2, 3, 4, 5), [0, 1, 2, 3]),
    ((2, 3, 1, 4), [2]),
    ((2, 3), []),                 # no axes: requantize every element
]
RANGES = {np.int8: (-128, 127), np.uint8: (0, 255), np.int16: (-32768, 32767)}


def q_reduce_model(op, shape, axes, keep_dims, dtype, qin, qout):
    x = np.zeros(shape)
    norm = tuple(sorted({a % len(shape) for a in axes}))
    out = np.sum(x, axis=norm, keepdims=keep_dims).shape if norm else shape
    return one_op_model(op, [("input", shape, dtype, qin), ("const", np.array(axes, np.int32))],
                        [(out, dtype, qout)], options("ReducerOptions", keepDims=keep_dims))


def q_params(rng, dtype, count, op, same):
    """(input quant, output quant): random scales and zero points; different ones put the
    rescale factor on both sides of 1."""
    def zp():
        if dtype == np.int16:
            return 0
        return int(rng.integers(-40, 40)) + (128 if dtype == np.uint8 else 0)
    s_in, z_in = float(rng.uniform(0.005, 0.2)), zp()
    if same:
        return ([s_in], [z_in]), ([s_in], [z_in])
    s_out = s_in * float(rng.choice([0.35, 0.8, 1.3, 2.9])) * (count ** 0.5 if op == "SUM" else 1)
    return ([s_in], [z_in]), ([s_out], [zp()])


def q_sample(rng, dtype, shape, op, zp):
    lo, hi = RANGES[dtype]
    if op == "REDUCE_PROD":   # near the zero point, so products stay in range
        return rng.integers(max(lo, zp - 6), min(hi, zp + 6) + 1, shape).astype(dtype)
    return rng.integers(lo, hi + 1, shape).astype(dtype)


def q_check(op, dtype, shape, axes, keep_dims, same, seed):
    rng = np.random.default_rng(seed)
    count = int(np.prod([shape[a] for a in {a % len(shape) for a in axes}])) if axes else 1
    qin, qout = q_params(rng, dtype, count, op, same)
    x = q_sample(rng, dtype, shape, op, qin[1][0])
    return assert_same(q_reduce_model(op, shape, axes, keep_dims, dtype, qin, qout), [x])


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16], ids=lambda d: d.__name__)
@pytest.mark.parametrize("shape,axes", Q_CASES, ids=str)
@pytest.mark.parametrize("keep_dims", [False, True])
@pytest.mark.parametrize("same", [True, False], ids=["same_quant", "requant"])
def test_mean_quantized(dtype, shape, axes, keep_dims, same):
    q_check("MEAN", dtype, shape, axes, keep_dims, same, seed=len(shape) * 7 + len(axes))


@pytest.mark.parametrize("shape,axes", Q_CASES, ids=str)
@pytest.mark.parametrize("keep_dims", [False, True])
@pytest.mark.parametrize("same", [True, False], ids=["same_quant", "requant"])
def test_sum_uint8(shape, axes, keep_dims, same):
    q_check("SUM", np.uint8, shape, axes, keep_dims, same, seed=len(shape) + 11)


@pytest.mark.parametrize("op", ["REDUCE_MAX", "REDUCE_MIN"])
@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16], ids=lambda d: d.__name__)
@pytest.mark.parametrize("shape,axes", Q_CASES, ids=str)
def test_reduce_max_min_quantized(op, dtype, shape, axes):
    q_check(op, dtype, shape, axes, len(axes) % 2 == 0, True, seed=3)


@pytest.mark.parametrize("dtype", [np.int8, np.int16], ids=lambda d: d.__name__)
@pytest.mark.parametrize("shape,axes", Q_CASES, ids=str)
@pytest.mark.parametrize("same", [True, False], ids=["same_quant", "requant"])
def test_reduce_prod_quantized(dtype, shape, axes, same):
    q_check("REDUCE_PROD", dtype, shape, axes, False, same, seed=5)


@pytest.mark.parametrize("ratio", [1e-3, 0.11, 0.7, 1.0, 1.6, 9.0, 300.0])
@pytest.mark.parametrize("keep_dims", [False, True])
def test_mean_int8_multiplier_sizes(ratio, keep_dims):
    # input_scale / output_scale below and above 1 (a left shift), with negative sums
    rng = np.random.default_rng(int(ratio * 1000) % 997)
    x = rng.integers(-128, 128, (2, 5, 7, 6)).astype(np.int8)
    model = q_reduce_model("MEAN", x.shape, [1, 2], keep_dims, np.int8, ([0.02], [-7]), ([0.02 / ratio], [3]))
    assert_same(model, [x])


def test_mean_int8_tiny_multiplier():
    # a rescale of ~2^-30: folding 1/count into it is cut short so the shift stays >= -31;
    # below 2^-31 the multiplier is 0 and every output is the zero point
    x = np.full((1, 8, 8, 3), 127, np.int8)
    x[..., 1] = -128
    for out_scale in (1e9, 1e11):
        model = q_reduce_model("MEAN", x.shape, [1, 2], False, np.int8, ([1.0], [0]), ([out_scale], [5]))
        got = assert_same(model, [x])[0]
    np.testing.assert_array_equal(got, [[5, 5, 5]])


def test_mean_int8_rounding_of_halves():
    # same scale: -2.5 -> -2 and 2.5 -> 3 (the high multiply rounds halves up); a multiplier a
    # hair below 1 leaves the remaining division by 2 to round -2.5 away from zero: -3
    x = np.array([[-3, -2], [3, 2], [-3, -4], [1, 2], [-1, -2], [5, 4]], np.int8)
    same = q_reduce_model("MEAN", x.shape, [1], False, np.int8, ([0.5], [0]), ([0.5], [0]))
    np.testing.assert_array_equal(assert_same(same, [x])[0], [-2, 3, -3, 2, -1, 5])
    near = q_reduce_model("MEAN", x.shape, [1], False, np.int8, ([0.5], [0]), ([0.5000001], [0]))
    np.testing.assert_array_equal(assert_same(near, [x])[0], [-3, 3, -4, 2, -2, 5])


def test_mean_int16_sum_wraps_in_int32():
    # 90,000 x 32767 overflows the reference's int32 sum: it wraps, and so do we
    x = np.full((1, 300, 300, 1), 32767, np.int16)
    x[0, :3, 0, 0] = -5
    model = q_reduce_model("MEAN", x.shape, [1, 2], True, np.int16, ([0.001], [0]), ([0.001], [0]))
    got = assert_same(model, [x])[0]
    assert got.ravel()[0] != 32767


@pytest.mark.parametrize("op", ["MEAN", "SUM", "REDUCE_MAX"])
def test_reduce_int8_empty_input(op):
    x = np.zeros((0, 3), np.int8)
    model = q_reduce_model(op, x.shape, [0], False, np.int8, ([0.1], [4]), ([0.1], [4]))
    got = assert_same(model, [x])[0]
    np.testing.assert_array_equal(got, [-128] * 3 if op == "REDUCE_MAX" else [0] * 3)


# SUM on int8 and int16: the 2.3.0 reference build runs its uint8 instance for every quantized
# type (measured: int8 bytes are summed as unsigned and clamped to [0, 255]; int16 data is read as
# bytes). litert computes what that code means for the tensor's real type; the arithmetic is
# pinned against the reference where both readings agree, and against a numpy transcription of it.
def sum_reference(x, axes, qin, qout, dtype):
    """reference QuantizedMeanOrSum(compute_sum=true), in Python integers."""
    from litert.kernels.qmath import quantize_multiplier

    def srdhm(a, b):
        s = a * b + ((1 << 30) if a * b >= 0 else 1 - (1 << 30))
        return s >> 31 if s >= 0 else -((-s) >> 31)

    def rdbpot(v, e):
        mask = (1 << e) - 1
        return (v >> e) + (1 if (v & mask) > (mask >> 1) + (v < 0) else 0)

    def wrap32(v):
        return (v + (1 << 31)) % (1 << 32) - (1 << 31)

    m, s = quantize_multiplier(float(np.float32(qin[0][0])) / float(np.float32(qout[0][0])))
    sums = x.astype(np.int64).sum(axis=tuple(axes))
    count = x.size // max(sums.size, 1)
    lo, hi = RANGES[dtype]
    out = [min(max(rdbpot(srdhm(wrap32(wrap32(int(v) - qin[1][0] * count) << max(s, 0)), m), max(-s, 0))
                   + qout[1][0], lo), hi) for v in sums.ravel()]
    return np.array(out, dtype).reshape(sums.shape)


@pytest.mark.parametrize("dtype", [np.int8, np.int16], ids=lambda d: d.__name__)
@pytest.mark.parametrize("shape,axes", [((4, 5), [1]), ((2, 3, 4), [0, 2]), ((2, 5, 6, 3), [1, 2]),
                                        ((3, 4), [0, 1])], ids=str)
@pytest.mark.parametrize("same", [True, False], ids=["same_quant", "requant"])
def test_sum_int8_int16(dtype, shape, axes, same):
    rng = np.random.default_rng(17)
    count = int(np.prod([shape[a] for a in axes]))
    qin, qout = q_params(rng, dtype, count, "SUM", same)
    x = q_sample(rng, dtype, shape, "SUM", 0)
    model = q_reduce_model("SUM", shape, axes, False, dtype, qin, qout)
    got = run_litert(model, [x])[0]
    np.testing.assert_array_equal(got, sum_reference(x, axes, qin, qout, dtype))
    # the optimized official kernel computes in float: within 1 LSB
    want = run_official(model, [x], "BUILTIN_WITHOUT_DEFAULT_DELEGATES")[0]
    assert np.max(np.abs(got.astype(np.int64) - want)) <= 1


@pytest.mark.parametrize("ratio", [0.7, 1.0, 2.5])
def test_sum_int8_matches_reference_where_unsigned_agrees(ratio):
    # inputs at or above a positive zero point, outputs in [0, 127]: the reference's uint8
    # reading is the int8 one, so the official reference kernels pin the arithmetic exactly
    rng = np.random.default_rng(int(ratio * 10))
    x = rng.integers(3, 20, (50, 6)).astype(np.int8)
    model = q_reduce_model("SUM", x.shape, [1], False, np.int8, ([0.1], [3]), ([0.15 * ratio], [5]))
    want = run_official(model, [x])[0]
    assert 0 <= want.min() and want.max() < 127
    np.testing.assert_array_equal(run_litert(model, [x])[0], want)


def test_reduce_quantized_errors():
    x = np.zeros((2, 3), np.int16)
    with pytest.raises(PrepareError, match="zero points 0"):
        run_litert(q_reduce_model("MEAN", x.shape, [1], False, np.int16, ([0.1], [3]), ([0.1], [0])), [x])
    x = np.zeros((2, 3), np.int8)
    with pytest.raises(PrepareError, match="quantization differ"):
        run_litert(q_reduce_model("REDUCE_MAX", x.shape, [1], False, np.int8, ([0.1], [3]), ([0.2], [3])), [x])
    x = np.zeros((2, 3), np.uint8)
    with pytest.raises(PrepareError, match="REDUCE_PROD on quantized UINT8"):
        run_litert(q_reduce_model("REDUCE_PROD", x.shape, [1], False, np.uint8, ([0.1], [3]), ([0.1], [3])), [x])
    with pytest.raises(PrepareError, match="needs quantized input and output"):
        run_litert(q_reduce_model("MEAN", x.shape, [1], False, np.uint8, None, None), [x])


@pytest.mark.parametrize("name,ops", [("tf/mobilenet_v2_int8", 1), ("tf/ops_zoo_int8", 2),
                                      ("tflm/mobilenet_v2_quantized_1x3x224x224", 1)])
def test_real_model_means(name, ops):
    assert check_ops_against_intermediates(name, {"MEAN"}) == ops
