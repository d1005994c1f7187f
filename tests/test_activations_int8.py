"""Quantized activations against the official reference kernels (BUILTIN_REF), bit for bit.

8-bit ops are fed all 256 input values, at input scales where the function is nearly linear,
where it saturates, and in between, with zero points at both ends of the range and in the middle;
int16 ops a grid over the whole range."""
import numpy as np
import pytest

from litert.errors import PrepareError
from oneop import assert_op_matches_reference, assert_same, one_op_model, options, real_model, run_litert

INPUT_SCALES = [0.0007, 0.0123, 0.05, 0.25, 1.7]
ZERO_POINTS = {np.int8: [-128, -3, 0, 127], np.uint8: [0, 100, 128, 255]}
# fixed output parameters of the ops that have them (NOTES.md)
FIXED_OUTPUT = {("LOGISTIC", np.int8): (1 / 256, -128), ("LOGISTIC", np.uint8): (1 / 256, 0),
                ("TANH", np.int8): (1 / 128, 0), ("TANH", np.uint8): (1 / 128, 128)}
TYPE_IDS = {np.int8: "int8", np.uint8: "uint8", np.int16: "int16"}


def all_values(dtype):
    info = np.iinfo(dtype)
    return np.arange(info.min, info.max + 1).astype(dtype).reshape(4, -1)


def act_model(op, dtype, in_q, out_q, shape, opts=None):
    return one_op_model(op, [("input", shape, dtype, ([in_q[0]], [in_q[1]]))],
                        [(shape, dtype, ([out_q[0]], [out_q[1]]))], opts)


def check_all_values(op, dtype, in_q, out_q, opts=None):
    x = all_values(dtype)
    return assert_same(act_model(op, dtype, in_q, out_q, x.shape, opts), [x])[0]


@pytest.mark.parametrize("dtype", [np.int8, np.uint8], ids=TYPE_IDS.get)
@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
@pytest.mark.parametrize("scale", INPUT_SCALES)
def test_logistic_tanh_8bit(op, dtype, scale):
    for zp in ZERO_POINTS[dtype]:
        check_all_values(op, dtype, (scale, zp), FIXED_OUTPUT[op, dtype])


@pytest.mark.parametrize("dtype", [np.int8, np.uint8], ids=TYPE_IDS.get)
@pytest.mark.parametrize("out_q", [(1 / 128, -100), (0.05, 3), (0.003, 127)])
def test_tanh_8bit_any_output_params(dtype, out_q):
    # TANH's table takes whatever output parameters the model gives
    zp = out_q[1] + (128 if dtype == np.uint8 else 0)
    check_all_values("TANH", dtype, (0.04, ZERO_POINTS[dtype][1]), (out_q[0], zp))


@pytest.mark.parametrize("dtype", [np.int8, np.uint8], ids=TYPE_IDS.get)
@pytest.mark.parametrize("approximate", [False, True, None])
@pytest.mark.parametrize("scale", [0.005, 0.03, 0.2])
def test_gelu_8bit(dtype, approximate, scale):
    opts = None if approximate is None else options("GeluOptions", approximate=approximate)
    lo = np.iinfo(dtype).min
    for zp in ZERO_POINTS[dtype][:3]:
        check_all_values("GELU", dtype, (scale, zp), (scale * 0.7, lo + 40), opts)


@pytest.mark.parametrize("dtype", [np.int8, np.uint8], ids=TYPE_IDS.get)
@pytest.mark.parametrize("in_scale", [0.01, 0.03723697, 0.2, 1.3])
@pytest.mark.parametrize("out_ratio", [0.56, 1.0, 3.1])
def test_hard_swish_8bit(dtype, in_scale, out_ratio):
    lo = np.iinfo(dtype).min
    for zp in ZERO_POINTS[dtype]:
        check_all_values("HARD_SWISH", dtype, (in_scale, zp), (in_scale * out_ratio, lo + 18))


@pytest.mark.parametrize("dtype", [np.int8, np.uint8], ids=TYPE_IDS.get)
@pytest.mark.parametrize("op", ["RELU", "RELU6", "RELU_N1_TO_1", "RELU_0_TO_1"])
@pytest.mark.parametrize("scales", [(0.02, 0.02), (0.05, 0.0237), (0.01, 0.08), (0.3, 0.1), (2.4, 2.4)])
def test_relu_8bit(op, dtype, scales):
    """Same and different input/output parameters (requantized), bounds inside and outside the
    output range."""
    zps = ZERO_POINTS[dtype]
    for zin, zout in [(zps[0], zps[0]), (zps[1], zps[2]), (zps[3], zps[1])]:
        check_all_values(op, dtype, (scales[0], zin), (scales[1], zout))


@pytest.mark.parametrize("dtype", [np.int8, np.uint8], ids=TYPE_IDS.get)
@pytest.mark.parametrize("alpha", [0.2, 0.01, 1.0, 3.5, -0.7, 0.0])
def test_leaky_relu_8bit(dtype, alpha):
    zps = ZERO_POINTS[dtype]
    opts = options("LeakyReluOptions", alpha=alpha)
    for in_q, out_q in [((0.05, zps[1]), (0.05, zps[1])), ((0.02, zps[0]), (0.031, zps[2])),
                        ((0.3, zps[3]), (0.07, zps[1]))]:
        check_all_values("LEAKY_RELU", dtype, in_q, out_q, opts)


# -- int16 --------------------------------------------------------------------------------------

INT16_GRID = np.concatenate([np.arange(-32768, 32768, 7), [32767, -1, 0, 1]]).astype(np.int16)


def check_int16(op, in_scale, out_scale, opts=None):
    x = INT16_GRID.reshape(1, -1)
    return assert_same(act_model(op, np.int16, (in_scale, 0), (out_scale, 0), x.shape, opts), [x])[0]


@pytest.mark.parametrize("op", ["LOGISTIC", "TANH"])
@pytest.mark.parametrize("in_scale", [2 ** -12, 2 ** -11, 2 ** -10, 2 ** -13, 0.0003, 0.001, 1 / 3000])
def test_logistic_tanh_int16(op, in_scale):
    check_int16(op, in_scale, 2 ** -15)


@pytest.mark.parametrize("op", ["RELU", "RELU6"])
@pytest.mark.parametrize("scales", [(0.001, 0.001), (0.0004, 0.0009), (0.01, 0.002)])
def test_relu_int16(op, scales):
    check_int16(op, *scales)


@pytest.mark.parametrize("alpha", [0.1, 2.0, -0.3])
@pytest.mark.parametrize("scales", [(0.001, 0.001), (0.0004, 0.0009)])
def test_leaky_relu_int16(alpha, scales):
    check_int16("LEAKY_RELU", *scales, options("LeakyReluOptions", alpha=alpha))


# -- PRELU --------------------------------------------------------------------------------------

PRELU_SHAPES = [((1, 4, 4, 3), (1, 1, 3)), ((2, 5, 3), (5, 3)), ((2, 3, 4), (2, 3, 4)), ((2, 3, 4), ()),
                ((1, 4, 4, 3), (4, 1, 3)), ((8, 64), (64,))]


@pytest.mark.parametrize("dtype", [np.int8, np.uint8], ids=TYPE_IDS.get)
@pytest.mark.parametrize("shapes", PRELU_SHAPES, ids=str)
@pytest.mark.parametrize("alpha_const", [True, False], ids=["const", "input"])
def test_prelu_8bit(dtype, shapes, alpha_const):
    xs, alpha_shape = shapes
    rng = np.random.default_rng(3)
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max, xs, endpoint=True).astype(dtype)
    alpha = rng.integers(info.min, info.max, alpha_shape, endpoint=True).astype(dtype)
    zps = ZERO_POINTS[dtype]
    in_q, a_q, out_q = ([0.04], [zps[1]]), ([0.01], [zps[2]]), ([0.03], [zps[2]])
    alpha_in = ("const", alpha, a_q) if alpha_const else ("input", alpha.shape, dtype, a_q)
    model = one_op_model("PRELU", [("input", xs, dtype, in_q), alpha_in], [(xs, dtype, out_q)])
    assert_same(model, [x] if alpha_const else [x, alpha])


@pytest.mark.parametrize("dtype", [np.int8, np.uint8], ids=TYPE_IDS.get)
def test_prelu_8bit_every_pair(dtype):
    """All 256 x 256 (input, alpha) pairs, scales that saturate both ways."""
    x = all_values(dtype).reshape(-1, 1)
    alpha = all_values(dtype).reshape(1, -1)
    x = np.broadcast_to(x, (256, 256)).copy()
    zps = ZERO_POINTS[dtype]
    for in_q, a_q, out_q in [((0.05, zps[1]), (0.02, zps[2]), (0.04, zps[0])),
                             ((0.5, zps[3]), (0.3, zps[0]), (0.01, zps[2]))]:
        model = one_op_model("PRELU", [("input", x.shape, dtype, ([in_q[0]], [in_q[1]])),
                                       ("input", alpha.shape, dtype, ([a_q[0]], [a_q[1]]))],
                             [(x.shape, dtype, ([out_q[0]], [out_q[1]]))])
        assert_same(model, [x, alpha])


# -- what the official kernels refuse -------------------------------------------------------------

def prepare_error(model, x):
    with pytest.raises(PrepareError) as e:
        run_litert(model, [x])
    return str(e.value)


def test_logistic_8bit_needs_output_scale_1_over_256():
    x = all_values(np.int8)
    assert "1/256" in prepare_error(act_model("LOGISTIC", np.int8, (0.1, 0), (1 / 128, -128), x.shape), x)


def test_int16_needs_zero_points_0():
    x = INT16_GRID.reshape(1, -1)
    model = act_model("RELU", np.int16, (0.001, 5), (0.001, 0), x.shape)
    assert "zero points" in prepare_error(model, x)


@pytest.mark.parametrize("op", ["RELU_N1_TO_1", "HARD_SWISH", "GELU"])
def test_int16_not_supported(op):
    x = INT16_GRID.reshape(1, -1)
    assert "not supported" in prepare_error(act_model(op, np.int16, (0.001, 0), (0.001, 0), x.shape), x)


def test_8bit_needs_quantization():
    x = all_values(np.int8)
    model = one_op_model("TANH", [("input", x.shape, np.int8)], [(x.shape, np.int8)])
    assert "quantization" in prepare_error(model, x)


# -- the activations of real models, replayed on their reference intermediates --------------------

@pytest.mark.parametrize("name,op_index", [("tf/ops_zoo_int8", 8), ("tf/ops_zoo_int8", 12),
                                           ("tf/ops_zoo_int8", 14), ("tf/mlp_int8", 2),
                                           ("tflm/dtln_noise_suppression", 3)])
def test_real_model_ops(name, op_index):
    assert_op_matches_reference(real_model(name), op_index)


# -- the gemmlowp fixed-point functions (fixedpoint.py) ------------------------------------------------
# SOFTMAX and LOG_SOFTMAX pin exp, 1/(1+x) and log bit for bit (test_softmax_int8.py); here every
# function is checked against float math over its whole domain, within the approximation error of
# gemmlowp's formulas (exp: a 4th-order Taylor series on [-1/4, 0), ~2.3e-7).

from litert.kernels import fixedpoint as fx  # noqa: E402
from litert.kernels.common import jit  # noqa: E402


@jit
def _exp(raw, k, out):
    for i in range(raw.size):
        out[i] = fx.exp_on_negative_values(raw[i], k)


@jit
def _one_over_one_plus_x(raw, k, out):
    for i in range(raw.size):
        out[i] = fx.one_over_one_plus_x_for_x_in_0_1(raw[i])


@jit
def _one_minus_x_over_one_plus_x(raw, k, out):
    for i in range(raw.size):
        out[i] = fx.one_minus_x_over_one_plus_x_for_x_in_0_1(raw[i])


@jit
def _tanh(raw, k, out):
    for i in range(raw.size):
        out[i] = fx.tanh(raw[i], k)


@jit
def _logistic(raw, k, out):
    for i in range(raw.size):
        out[i] = fx.logistic(raw[i], k)


@jit
def _log(raw, k, out):
    for i in range(raw.size):
        out[i] = fx.log_x_for_x_greater_than_or_equal_to_1(raw[i], 5, k)


FIXEDPOINT = [_exp, _one_over_one_plus_x, _one_minus_x_over_one_plus_x, _tanh, _logistic, _log]


def fixedpoint(which, raw, integer_bits, result_bits=0):
    raw = np.asarray(raw, np.int64)
    out = np.empty_like(raw)
    FIXEDPOINT[which](raw, integer_bits, out)
    assert out.min() >= -2 ** 31 and out.max() < 2 ** 31
    return out / 2.0 ** (31 - result_bits)


INT32_SAMPLES = np.unique(np.concatenate([
    np.random.default_rng(11).integers(-2 ** 31, 2 ** 31, 20000), [-2 ** 31, -2 ** 31 + 1, -1, 0, 1, 2 ** 31 - 1]]))


@pytest.mark.parametrize("integer_bits", [0, 3, 5, 12])
def test_fixedpoint_exp_on_negative_values(integer_bits):
    raw = INT32_SAMPLES[INT32_SAMPLES <= 0]
    want = np.exp(raw / 2.0 ** (31 - integer_bits))
    np.testing.assert_allclose(fixedpoint(0, raw, integer_bits), want, rtol=0, atol=3e-7)


def test_fixedpoint_reciprocals():
    raw = INT32_SAMPLES[INT32_SAMPLES >= 0]
    x = raw / 2.0 ** 31
    np.testing.assert_allclose(fixedpoint(1, raw, 0), 1 / (1 + x), rtol=0, atol=1e-8)
    np.testing.assert_allclose(fixedpoint(2, raw, 0), (1 - x) / (1 + x), rtol=0, atol=1e-8)


@pytest.mark.parametrize("integer_bits", [0, 2, 4, 5])
def test_fixedpoint_tanh_logistic(integer_bits):
    x = INT32_SAMPLES / 2.0 ** (31 - integer_bits)
    np.testing.assert_allclose(fixedpoint(3, INT32_SAMPLES, integer_bits), np.tanh(x), rtol=0, atol=2e-7)
    np.testing.assert_allclose(fixedpoint(4, INT32_SAMPLES, integer_bits), 1 / (1 + np.exp(-x)), rtol=0, atol=1e-7)
    # exact symmetries of the C++: logistic(-x) = 1 - logistic(x), tanh(-x) = -tanh(x)
    raw = INT32_SAMPLES[INT32_SAMPLES > -2 ** 31]
    np.testing.assert_array_equal(fixedpoint(3, -raw, integer_bits), -fixedpoint(3, raw, integer_bits))


@pytest.mark.parametrize("integer_bits", [5, 12])
def test_fixedpoint_log(integer_bits):
    raw = INT32_SAMPLES[INT32_SAMPLES >= 2 ** (31 - integer_bits)]
    np.testing.assert_allclose(fixedpoint(5, raw, integer_bits, result_bits=5),
                               np.log(raw / 2.0 ** (31 - integer_bits)), rtol=0, atol=1e-7)
