import numpy as np
import pytest

from oneop import GraphBuilder, assert_same, invoke_allocations, one_op_model, options, run_litert
from litert.errors import PrepareError

F32 = np.float32


def fc_model(x_shape, w, bias, out_shape, act=0, keep=False, const_w=True, const_b=True):
    """FULLY_CONNECTED with weights/bias as constants or as extra graph inputs."""
    ins = [("input", x_shape, F32), ("const", w) if const_w else ("input", w.shape, F32)]
    if bias is not None:
        ins.append(("const", bias) if const_b else ("input", bias.shape, F32))
    return one_op_model("FULLY_CONNECTED", ins, [(out_shape, F32)],
                        options("FullyConnectedOptions", fusedActivationFunction=act, keepNumDims=keep))


def data(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, s).astype(F32) for s in shapes]


# (input shape, units): K = last dim covers both layouts of the core (K < 32 and K >= 32),
# batches that are and are not multiples of the 4x4 blocks, units with and without a tail.
CASES = [((1, 1280), 1000), ((3, 20), 9), ((5, 33), 6), ((8, 64), 12), ((2, 7, 80), 129),
         ((2, 3, 4, 16), 5), ((17, 3), 2), ((1, 1), 1), ((40,), 7)]


@pytest.mark.parametrize("shape,units", CASES, ids=str)
@pytest.mark.parametrize("with_bias", [True, False])
def test_fc_float(shape, units, with_bias):
    k = shape[-1]
    x, w, b = data(shape, (units, k), (units,))
    batch = int(np.prod(shape)) // k
    model = fc_model(shape, w, b if with_bias else None, (batch, units))
    assert_same(model, [x])


def test_fc_bias_left_out_with_minus_one():
    x, w = data((3, 40), (7, 40))
    b = GraphBuilder()
    xi = b.input("x", x.shape, F32)
    wi = b.const("w", w)
    y = b.tensor("y", (3, 7), F32)
    b.op("FULLY_CONNECTED", [xi, wi, -1], [y], options("FullyConnectedOptions"))
    b.output(y)
    assert_same(b.build(), [x])


@pytest.mark.parametrize("shape", [(2, 5, 24), (2, 3, 4, 40), (6, 48)], ids=str)
@pytest.mark.parametrize("keep", [True, False])
def test_fc_keep_num_dims(shape, keep):
    x, w, b = data(shape, (10, shape[-1]), (10,))
    out = shape[:-1] + (10,) if keep else (int(np.prod(shape[:-1])), 10)
    assert_same(fc_model(shape, w, b, out, keep=keep), [x])


def test_fc_flattens_input_whose_last_dim_differs():
    # [2, 3, 8] with weights of input size 12: batch = 48 / 12 = 4
    x, w, b = data((2, 3, 8), (5, 12), (5,))
    assert_same(fc_model((2, 3, 8), w, b, (4, 5)), [x])


@pytest.mark.parametrize("act", [1, 2, 3], ids=["RELU", "RELU_N1_TO_1", "RELU6"])
@pytest.mark.parametrize("k", [16, 96])
def test_fc_fused_activation(act, k):
    rng = np.random.default_rng(3)
    x = rng.uniform(-3, 3, (9, k)).astype(F32)
    w = rng.uniform(-1, 1, (13, k)).astype(F32)
    b = rng.uniform(-2, 2, (13,)).astype(F32)
    y = assert_same(fc_model(x.shape, w, b, (9, 13), act=act), [x])[0]
    lo, hi = {1: (0, np.inf), 2: (-1, 1), 3: (0, 6)}[act]
    assert y.min() >= lo and y.max() <= hi and (y == lo).any()


@pytest.mark.parametrize("k", [12, 72])
def test_fc_non_constant_weights_and_bias(k):
    x, w, b = data((6, k), (11, k), (11,))
    assert_same(fc_model(x.shape, w, b, (6, 11), const_w=False, const_b=False), [x, w, b])


def test_fc_weights_from_another_op():
    # weights = w_in + w_const: computed at run time by ADD, then fed to the FC
    x, w, dw, bias = data((4, 36), (8, 36), (8, 36), (8,))
    b = GraphBuilder()
    xi = b.input("x", x.shape, F32)
    wi = b.input("w", w.shape, F32)
    ws = b.tensor("w_sum", w.shape, F32)
    b.op("ADD", [wi, b.const("dw", dw)], [ws], options("AddOptions"))
    y = b.tensor("y", (4, 8), F32)
    b.op("FULLY_CONNECTED", [xi, ws, b.const("b", bias)], [y], options("FullyConnectedOptions"))
    b.output(y)
    got = assert_same(b.build(), [x, w])[0]
    np.testing.assert_allclose(got, x @ (w + dw).T + bias, rtol=1e-5, atol=1e-5)


def test_fc_all_constant_is_folded():
    x, w, b = data((2, 40), (3, 40), (3,))
    gb = GraphBuilder()
    y = gb.tensor("y", (2, 3), F32)
    gb.op("FULLY_CONNECTED", [gb.const("x", x), gb.const("w", w), gb.const("b", b)], [y],
          options("FullyConnectedOptions"))
    gb.output(y)
    got = run_litert(gb.build(), [])[0]
    np.testing.assert_allclose(got, x @ w.T + b, rtol=1e-5, atol=1e-5)


def test_fc_empty_reduction_gives_zeros():
    _, w, b = data((1,), (4, 0), (4,))
    assert_same(fc_model((3, 0), w, b, (3, 4)), [np.zeros((3, 0), F32)])


def test_fc_inf_is_clamped_to_the_largest_float():
    # no activation still clamps to [lowest, max] float32 (CalculateActivationRange), as official
    x, w, b = data((4, 40), (4, 40), (4,))
    x[1, 3] = np.inf
    w[:, 3] = np.abs(w[:, 3]) + 0.1
    got = assert_same(fc_model(x.shape, w, b, (4, 4)), [x])[0]
    assert (got[1] == np.finfo(np.float32).max).all() and np.isfinite(got).all()


def _prepare_error(model, inputs, match):
    with pytest.raises(PrepareError, match=match):
        run_litert(model, inputs)


def test_fc_rejects_shuffled_weights_format():
    x, w = data((2, 8), (3, 8))
    model = one_op_model("FULLY_CONNECTED", [("input", x.shape, F32), ("const", w)], [((2, 3), F32)],
                         options("FullyConnectedOptions", weightsFormat=1))
    _prepare_error(model, [x], "weights format")


def test_fc_rejects_tanh_activation():
    x, w = data((2, 8), (3, 8))
    _prepare_error(fc_model(x.shape, w, None, (2, 3), act=4), [x], "TANH")


def test_fc_rejects_input_size_mismatch():
    x, w = data((2, 7), (3, 8))
    _prepare_error(fc_model(x.shape, w, None, (2, 3)), [x], "multiple")


def test_fc_rejects_bias_size_mismatch():
    x, w, b = data((2, 8), (3, 8), (4,))
    _prepare_error(fc_model(x.shape, w, b, (2, 3)), [x], "bias")


def test_fc_keep_num_dims_needs_matching_last_dim():
    x, w = data((2, 3, 8), (5, 12))
    _prepare_error(fc_model(x.shape, w, None, (2, 3, 5), keep=True), [x], "keep_num_dims")


@pytest.mark.parametrize("const_w", [True, False])
def test_fc_invoke_allocates_nothing(const_w):
    x, w, b = data((5, 3, 40), (30, 40), (30,))
    model = fc_model(x.shape, w, b, (5, 3, 30), keep=True, const_w=const_w, const_b=const_w)
    held, peak = invoke_allocations(model, [x] if const_w else [x, w, b])
    assert held == 0 and peak < 4096, (held, peak)


# -- integer -----------------------------------------------------------------------------------
# Bit for bit against the reference kernels. The reference rescales each sum in double precision,
# round(acc * s_in * s_w / s_out) with halves away from zero: exact ties (scales that are powers of
# two) tell it apart from both Q31 multiplier roundings.

I8, U8, I16, I32, I64 = np.int8, np.uint8, np.int16, np.int32, np.int64


def full_range(rng, shape, dtype):
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


def int_fc_model(x_shape, w, w_q, bias, out_shape, x_q, out_q, x_type=I8, act=0, keep=False,
                 const_w=True, const_b=True, bias_q=None, out_type=None, **opts):
    """Quantized FULLY_CONNECTED. w_q = (scales, zero points); bias scale defaults to
    s_in * s_w (per channel when the weights are)."""
    out_type = out_type or x_type
    w_scales = np.asarray(w_q[0], np.float32)
    if bias is not None and bias_q is None:
        bias_q = (np.float32(x_q[0]) * w_scales, np.zeros(w_scales.size, np.int64))
    wq = (w_q[0], w_q[1], 0)
    ins = [("input", x_shape, x_type, ([x_q[0]], [x_q[1]])),
           ("const", w, wq) if const_w else ("input", w.shape, w.dtype, wq)]
    if bias is not None:
        ins.append(("const", bias, bias_q) if const_b else ("input", bias.shape, bias.dtype, bias_q))
    return one_op_model("FULLY_CONNECTED", ins, [(out_shape, out_type, ([out_q[0]], [out_q[1]]))],
                        options("FullyConnectedOptions", fusedActivationFunction=act, keepNumDims=keep, **opts))


def int_fc_case(x_shape, units, x_q, w_scales, out_q, seed=0, x_type=I8, w_zp=0, bias=True, **kw):
    rng = np.random.default_rng(seed)
    k = x_shape[-1]
    w_type = U8 if x_type == U8 else I8
    w = full_range(rng, (units, k), w_type)
    if w_type == I8:
        w[w == -128] = -127                    # the spec's weight range
    b_type = I64 if x_type == I16 else I32
    b = rng.integers(-30000, 30000, units).astype(b_type) if bias else None
    w_scales = np.atleast_1d(np.asarray(w_scales, np.float32))
    zps = np.full(w_scales.size, w_zp, np.int64)
    batch = int(np.prod(x_shape)) // k
    out_shape = x_shape[:-1] + (units,) if kw.get("keep") else (batch, units)
    model = int_fc_model(x_shape, w, (w_scales, zps), b, out_shape, x_q, out_q, x_type=x_type, **kw)
    x = full_range(rng, x_shape, x_type)
    inputs = [x]
    if not kw.get("const_w", True):
        inputs.append(w)
    if bias and not kw.get("const_b", True):
        inputs.append(b)
    return assert_same(model, inputs)[0]


# (input scale, zp), weight scale(s), (output scale, zp): zero points at both ends, multipliers
# far below and above 1, outputs that saturate
INT8_QUANT = [((0.02, -3), 0.004, (0.1, 5)), ((0.5, -128), 0.01, (0.05, 127)), ((0.004, 127), 0.002, (3.0, -128)),
              ((1.0, 0), 0.5, (1.0, 0)), ((1.0, -7), 0.375, (0.25, 3)), ((2.0, 10), 0.9, (0.001, 0)),
              ((1e-3, 0), 1e-3, (1e-4, -20)), ((0.004, 5), 1e-4, (20.0, 0))]


@pytest.mark.parametrize("q", INT8_QUANT, ids=str)
@pytest.mark.parametrize("shape,units", [((3, 40), 9), ((1, 1280), 33), ((9, 17), 5), ((6, 64), 12)], ids=str)
def test_fc_int8(q, shape, units):
    x_q, w_s, out_q = q
    y = int_fc_case(shape, units, x_q, w_s, out_q)
    if x_q[0] * w_s / out_q[0] > 1e-4:       # else every output is (nearly) the zero point
        assert len(np.unique(y)) > 1


def test_fc_int8_ties_round_half_away():
    # power-of-two scales make acc * scale land exactly on .5: the double-precision rescale rounds
    # away from zero, where both Q31 multiplier roundings would not on the negative side
    x = np.arange(-128, 128, dtype=I8).reshape(256, 1)
    for w_scale in (0.5, 0.25, 0.375, 0.75):
        model = int_fc_model((256, 1), np.array([[1]], I8), ([w_scale], [0]), None, (256, 1), (1.0, 0), (1.0, 0))
        got = assert_same(model, [x])[0][:, 0]
        v = x[:, 0].astype(np.float64) * w_scale
        want = np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5), -128, 127)
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("act", [1, 2, 3], ids=["RELU", "RELU_N1_TO_1", "RELU6"])
@pytest.mark.parametrize("out_q", [(0.05, -20), (0.01, 0), (0.1, -128), (0.02, 100)], ids=str)
def test_fc_int8_fused_activation(act, out_q):
    int_fc_case((5, 48), 21, (0.03, 4), 0.01, out_q, act=act)


@pytest.mark.parametrize("seed", [0, 1])
def test_fc_int8_per_channel(seed):
    # per-channel scales over 1e-4 .. 1e-1
    units = 40
    scales = np.geomspace(1e-4, 1e-1, units).astype(np.float32)
    np.random.default_rng(seed).shuffle(scales)
    int_fc_case((7, 96), units, (0.05, -11), scales, (0.2, 9), seed=seed)


def test_fc_int8_weight_zero_point():
    # per-tensor int8 weights with a zero point: the reference subtracts it
    int_fc_case((6, 40), 10, (0.05, 3), 0.01, (0.3, -2), w_zp=5)


@pytest.mark.parametrize("q", [((0.02, 128), 0.004, (0.1, 128)), ((0.5, 0), 0.01, (0.05, 255)),
                               ((0.004, 255), 0.002, (3.0, 0)), ((0.05, 77), 0.01, (0.2, 31))], ids=str)
@pytest.mark.parametrize("w_zp", [0, 128, 200])
def test_fc_uint8(q, w_zp):
    x_q, w_s, out_q = q
    int_fc_case((5, 37), 11, x_q, w_s, out_q, x_type=U8, w_zp=w_zp)


@pytest.mark.parametrize("act", [0, 1, 3])
def test_fc_uint8_activation(act):
    int_fc_case((4, 64), 8, (0.05, 100), 0.01, (0.05, 60), x_type=U8, w_zp=131, act=act)


@pytest.mark.parametrize("q", [((0.001, 0), 0.004, (0.01, 0)), ((3e-4, 0), 0.02, (2e-3, 0)),
                               ((0.5, 0), 0.5, (1e-3, 0)), ((1e-4, 0), 1e-3, (1e-5, 0))], ids=str)
def test_fc_16x8(q):
    x_q, w_s, out_q = q
    int_fc_case((5, 70), 13, x_q, w_s, out_q, x_type=I16)


def test_fc_16x8_per_channel():
    scales = np.geomspace(1e-4, 1e-1, 24).astype(np.float32)
    int_fc_case((3, 50), 24, (2e-4, 0), scales, (5e-3, 0), x_type=I16)


@pytest.mark.parametrize("act", [1, 2, 3])
def test_fc_16x8_activation(act):
    int_fc_case((4, 30), 10, (1e-3, 0), 0.01, (1e-3, 0), x_type=I16, act=act)


def test_fc_16x8_int32_bias():
    # quantized_bias_type INT32: the reference keeps an int32 bias and an int32 accumulator
    rng = np.random.default_rng(5)
    w = full_range(rng, (7, 30), I8)
    b = rng.integers(-30000, 30000, 7).astype(I32)
    model = int_fc_model((4, 30), w, ([0.01], [0]), b, (4, 7), (1e-3, 0), (1e-3, 0), x_type=I16,
                         quantizedBiasType=2)
    assert_same(model, [full_range(rng, (4, 30), I16)])


@pytest.mark.parametrize("x_type", [I8, U8, I16])
def test_fc_integer_without_bias(x_type):
    q = {I8: ((0.02, -3), (0.1, 5)), U8: ((0.02, 128), (0.1, 120)), I16: ((0.001, 0), (0.01, 0))}[x_type]
    int_fc_case((3, 33), 6, q[0], 0.01, q[1], x_type=x_type, bias=False)


@pytest.mark.parametrize("x_type", [I8, U8, I16])
@pytest.mark.parametrize("keep", [True, False])
def test_fc_integer_keep_num_dims(x_type, keep):
    q = {I8: ((0.02, -3), (0.1, 5)), U8: ((0.02, 128), (0.1, 120)), I16: ((0.001, 0), (0.01, 0))}[x_type]
    int_fc_case((2, 3, 24), 5, q[0], 0.01, q[1], x_type=x_type, keep=keep)


@pytest.mark.parametrize("x_type", [I8, U8])
def test_fc_integer_runtime_weights_and_bias(x_type):
    q = {I8: ((0.02, -3), (0.1, 5)), U8: ((0.02, 128), (0.1, 120))}[x_type]
    int_fc_case((6, 40), 9, q[0], 0.01, q[1], x_type=x_type, w_zp=3 if x_type == U8 else 0,
                const_w=False, const_b=False)


def test_fc_int8_runtime_bias_constant_weights():
    int_fc_case((6, 40), 9, (0.02, -3), 0.01, (0.1, 5), const_b=False)


def test_fc_int8_large():
    # mobilenet's classifier shape, per-channel
    scales = np.geomspace(1e-3, 1e-2, 1000).astype(np.float32)
    int_fc_case((1, 1280), 1000, (0.02, -128), scales, (0.1, 10))


def test_fc_int8_rejects_bad_bias_scale():
    rng = np.random.default_rng(0)
    w = full_range(rng, (4, 8), I8)
    b = np.zeros(4, I32)
    model = int_fc_model((2, 8), w, ([0.01], [0]), b, (2, 4), (0.1, 0), (0.1, 0), bias_q=([0.5], [0]))
    _prepare_error(model, [full_range(rng, (2, 8), I8)], "bias scale")


def test_fc_rejects_int4_weights():
    b = GraphBuilder()
    x = b.input("x", (2, 8), I8, ([0.1], [0]))
    w = b.tensor("w", (4, 8), I8, ([0.1], [0]), data=np.zeros((4, 8), I8))
    b.sg.tensors[w].type = 17            # INT4 (the data is just bytes)
    y = b.tensor("y", (2, 4), I8, ([0.1], [0]))
    b.op("FULLY_CONNECTED", [x, w, -1], [y], options("FullyConnectedOptions"))
    b.output(y)
    _prepare_error(b.build(), [np.zeros((2, 8), I8)], "int4")


def test_fc_int8_rejects_tanh():
    rng = np.random.default_rng(0)
    w = full_range(rng, (4, 8), I8)
    model = int_fc_model((2, 8), w, ([0.01], [0]), None, (2, 4), (0.1, 0), (0.1, 0), act=4)
    _prepare_error(model, [full_range(rng, (2, 8), I8)], "TANH")


@pytest.mark.parametrize("x_type", [I8, U8])
def test_fc_integer_invoke_allocates_nothing(x_type):
    rng = np.random.default_rng(0)
    w = full_range(rng, (30, 400), x_type)
    b = rng.integers(-1000, 1000, 30).astype(I32)
    zp = 128 if x_type == U8 else 0
    model = int_fc_model((20, 400), w, ([0.01], [zp]), b, (20, 30), (0.02, zp + 3), (0.1, zp), x_type=x_type)
    held, peak = invoke_allocations(model, [full_range(rng, (20, 400), x_type)])
    assert held == 0 and peak < 4096, (held, peak)


def test_fc_int8_rescale_beyond_int32():
    # acc * scale past int32: the reference's cast gives INT32_MIN (x86 cvttsd2si), then adds the
    # zero point in int32 (a negative one wraps to the top), then clamps
    rng = np.random.default_rng(0)
    x = full_range(rng, (4, 16), I8)
    w = full_range(rng, (5, 16), I8)
    for zp in (0, -5, 5):
        model = int_fc_model((4, 16), w, ([1.0], [0]), None, (4, 5), (1.0, 0), (1e-6, zp))
        assert_same(model, [x])


# -- hybrid ------------------------------------------------------------------------------------
def hybrid_fc_case(x, units, w_scales, act=0, asymmetric=False, bias=True, keep=False, seed=0, const_b=True):
    """Hybrid FULLY_CONNECTED against the official: bit for bit (the input quantization and the
    float order follow the official x86 build), but for TANH (libm's tanh)."""
    rng = np.random.default_rng(seed)
    k = x.shape[-1]
    w = full_range(rng, (units, k), I8)
    w[w == -128] = -127
    w_scales = np.atleast_1d(np.asarray(w_scales, np.float32))
    b = rng.uniform(-2, 2, units).astype(F32) if bias else None
    ins = [("input", x.shape, F32), ("const", w, (w_scales, np.zeros(w_scales.size, np.int64), 0))]
    if bias:
        ins.append(("const", b) if const_b else ("input", b.shape, F32))
    batch = x.size // k
    out = x.shape[:-1] + (units,) if keep else (batch, units)
    model = one_op_model("FULLY_CONNECTED", ins, [(out, F32)],
                         options("FullyConnectedOptions", fusedActivationFunction=act, keepNumDims=keep,
                                 asymmetricQuantizeInputs=asymmetric))
    tol = 1e-6 if act == 4 else 0.0
    return assert_same(model, [x] if const_b or not bias else [x, b], atol=tol, rtol=tol)[0]


@pytest.mark.parametrize("asymmetric", [False, True])
@pytest.mark.parametrize("shape,units", [((3, 40), 9), ((1, 1280), 100), ((9, 17), 5), ((2, 3, 64), 12)], ids=str)
def test_fc_hybrid(asymmetric, shape, units):
    x = np.random.default_rng(1).uniform(-3, 2, shape).astype(F32)
    hybrid_fc_case(x, units, 0.02, asymmetric=asymmetric)


@pytest.mark.parametrize("asymmetric", [False, True])
def test_fc_hybrid_per_channel(asymmetric):
    scales = np.geomspace(1e-4, 1e-1, 24).astype(np.float32)
    x = np.random.default_rng(2).uniform(-1, 4, (5, 48)).astype(F32)
    hybrid_fc_case(x, 24, scales, asymmetric=asymmetric)


@pytest.mark.parametrize("act", [1, 2, 3, 4], ids=["RELU", "RELU_N1_TO_1", "RELU6", "TANH"])
@pytest.mark.parametrize("asymmetric", [False, True])
def test_fc_hybrid_activation(act, asymmetric):
    x = np.random.default_rng(3).uniform(-2, 2, (6, 32)).astype(F32)
    hybrid_fc_case(x, 10, 0.05, act=act, asymmetric=asymmetric)


@pytest.mark.parametrize("asymmetric", [False, True])
def test_fc_hybrid_special_rows(asymmetric):
    # an all-zero row, an all-positive row (zero point at the end of the range), a constant row
    x = np.random.default_rng(4).uniform(-1, 1, (5, 24)).astype(F32)
    x[1] = 0
    x[2] = np.abs(x[2]) + 0.5
    x[3] = -0.25
    x[4] = -np.abs(x[4])
    hybrid_fc_case(x, 7, 0.03, asymmetric=asymmetric)


@pytest.mark.parametrize("asymmetric", [False, True])
def test_fc_hybrid_all_zero_input(asymmetric):
    hybrid_fc_case(np.zeros((3, 16), F32), 5, 0.1, act=1, asymmetric=asymmetric)


@pytest.mark.parametrize("keep", [True, False])
def test_fc_hybrid_keep_num_dims_no_bias(keep):
    x = np.random.default_rng(5).uniform(-1, 1, (2, 3, 20)).astype(F32)
    hybrid_fc_case(x, 6, 0.04, bias=False, keep=keep)


def test_fc_hybrid_runtime_bias():
    x = np.random.default_rng(6).uniform(-1, 1, (4, 20)).astype(F32)
    hybrid_fc_case(x, 6, 0.04, const_b=False)


def test_fc_16x8_int32_bias_needs_quantized_bias_type():
    # the reference would read the int32 bias as int64 (past its end)
    rng = np.random.default_rng(5)
    w = full_range(rng, (7, 30), I8)
    b = rng.integers(-30000, 30000, 7).astype(I32)
    model = int_fc_model((4, 30), w, ([0.01], [0]), b, (4, 7), (1e-3, 0), (1e-3, 0), x_type=I16)
    _prepare_error(model, [full_range(rng, (4, 30), I16)], "quantized_bias_type")


@pytest.mark.parametrize("asymmetric", [False, True])
def test_fc_hybrid_runtime_weights(asymmetric):
    rng = np.random.default_rng(8)
    x = rng.uniform(-1, 2, (3, 24)).astype(F32)
    w = full_range(rng, (5, 24), I8)
    w[w == -128] = -127
    b = rng.uniform(-1, 1, 5).astype(F32)
    model = one_op_model("FULLY_CONNECTED", [("input", x.shape, F32), ("input", w.shape, I8, ([0.02], [0], 0)),
                                             ("const", b)], [((3, 5), F32)],
                         options("FullyConnectedOptions", asymmetricQuantizeInputs=asymmetric))
    assert_same(model, [x, w], atol=0, rtol=0)


@pytest.mark.parametrize("asymmetric", [False, True])
def test_fc_hybrid_invoke_allocates_nothing(asymmetric):
    rng = np.random.default_rng(0)
    w = full_range(rng, (30, 400), I8)
    model = one_op_model("FULLY_CONNECTED", [("input", (20, 400), F32), ("const", w, ([0.02], [0], 0)),
                                             ("const", rng.uniform(-1, 1, 30).astype(F32))], [((20, 30), F32)],
                         options("FullyConnectedOptions", asymmetricQuantizeInputs=asymmetric))
    held, peak = invoke_allocations(model, [rng.uniform(-1, 1, (20, 400)).astype(F32)])
    assert held == 0 and peak < 4096, (held, peak)


def test_fc_16x8_invoke_allocates_nothing():
    rng = np.random.default_rng(0)
    w = full_range(rng, (30, 400), I8)
    b = rng.integers(-1000, 1000, 30).astype(I64)
    model = int_fc_model((20, 400), w, ([0.01], [0]), b, (20, 30), (1e-3, 0), (1e-2, 0), x_type=I16)
    held, peak = invoke_allocations(model, [full_range(rng, (20, 400), I16)])
    assert held == 0 and peak < 4096, (held, peak)
