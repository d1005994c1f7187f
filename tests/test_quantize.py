"""QUANTIZE against the official reference kernels, bit for bit: float -> integer (per tensor and
per channel, with the reference's float32 division, rounding and int32 conversion) and every
requantization pair the official accepts."""
import numpy as np
import pytest

from oneop import assert_op_matches_reference, assert_same, one_op_model, real_model, run_litert, run_official
from test_binary import assert_invoke_allocates_nothing, full_range, prepare_error


def quantize_model(shape, in_dtype, in_quant, out_dtype, out_quant):
    return one_op_model("QUANTIZE", [("input", shape, in_dtype, in_quant)], [(shape, out_dtype, out_quant)])


def per_tensor(scale, zero_point):
    return ([scale], [zero_point])


# -- float -> integer ----------------------------------------------------------------------------

FLOAT_CASES = [
    (np.int8, 0.02, -128), (np.int8, 0.013, 5), (np.int8, 0.5, 127), (np.int8, 1e-4, 0),
    (np.uint8, 0.02, 128), (np.uint8, 0.037, 0), (np.uint8, 3.0, 255),
    (np.int16, 1e-4, 0), (np.int16, 3e-3, -7), (np.int16, 1 / 32768, 0), (np.int16, 1e-6, 0),
]


@pytest.mark.parametrize("dtype,scale,zero_point", FLOAT_CASES, ids=str)
def test_float_per_tensor(dtype, scale, zero_point):
    rng = np.random.default_rng(0)
    info = np.iinfo(dtype)
    span = float(info.max - info.min) * scale
    x = rng.uniform(-span, span, (100, 100)).astype(np.float32)   # a quarter saturates
    got = assert_same(quantize_model(x.shape, np.float32, None, dtype, per_tensor(scale, zero_point)), [x])[0]
    assert np.mean((got > info.min) & (got < info.max)) > 0.4


@pytest.mark.parametrize("dtype,zero_point", [(np.int8, 0), (np.int8, -3), (np.uint8, 128), (np.int16, 0)],
                         ids=str)
def test_float_halves_round_away_from_zero(dtype, zero_point):
    """x / scale exactly k + 0.5 (and its float32 neighbours): std::round, not round-half-even."""
    scale = np.float32(0.25)
    k = np.arange(-300, 300, dtype=np.float32)
    x = np.concatenate([k * scale / 2, np.nextafter(k * scale / 2, np.float32(np.inf)),
                        np.nextafter(k * scale / 2, np.float32(-np.inf))]).astype(np.float32)
    assert_same(quantize_model(x.shape, np.float32, None, dtype, per_tensor(float(scale), zero_point)), [x])


@pytest.mark.parametrize("dtype,zero_point", [(np.int8, -5), (np.int8, 0), (np.int8, 5), (np.uint8, 5),
                                              (np.int16, -5), (np.int16, 0)], ids=str)
def test_float_nan_inf_and_beyond_int32(dtype, zero_point):
    """NaN, infinities and values past int32 convert to INT32_MIN in the reference, and adding
    a negative zero point wraps that to the top of the range."""
    x = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1e30, -1e30, 2.2e9, -2.2e9, 2.1e9, -2.1e9,
                  2147483648.0, -2147483648.0, 2147483520.0, 1.0, -1.0], np.float32)
    assert_same(quantize_model(x.shape, np.float32, None, dtype, per_tensor(1.0, zero_point)), [x])


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("axis", [0, 1, 2])
def test_float_per_channel(dtype, axis):
    rng = np.random.default_rng(1)
    shape = (4, 5, 6)
    n = shape[axis]
    scales = np.linspace(0.01, 0.05, n) if dtype != np.int16 else np.linspace(1e-4, 5e-4, n)
    zps = {np.int8: np.arange(n) * 20 - 40, np.uint8: np.arange(n) * 30 + 100, np.int16: np.zeros(n)}[dtype]
    x = rng.uniform(-8, 8, shape).astype(np.float32)
    assert_same(quantize_model(shape, np.float32, None, dtype, (scales, zps, axis)), [x])


# -- requantization ------------------------------------------------------------------------------

REQUANTIZE_CASES = [
    # input dtype, (scale, zp), output dtype, (scale, zp)
    (np.int8, (0.05, -128), np.int8, (0.02, 127)),
    (np.int8, (0.05, 3), np.int8, (0.5, -3)),
    (np.int8, (0.05, 3), np.int8, (1e-4, -3)),          # rescale factor > 1: saturates
    (np.int8, (1.0, 0), np.int8, (1e-6, 0)),            # > 2^16: the int32 shift wraps
    (np.int8, (0.05, -128), np.uint8, (0.05, 0)),       # the "xor 0x80" fast path
    (np.int8, (0.05, 3), np.uint8, (0.031, 200)),
    (np.int8, (0.1, -128), np.int16, (3e-4, 0)),
    (np.uint8, (0.05, 128), np.int8, (0.05, 0)),
    (np.uint8, (0.05, 0), np.uint8, (0.07, 255)),
    (np.uint8, (0.1, 17), np.int16, (3e-4, -100)),
    (np.int16, (6.25e-4, 0), np.int8, (0.0592, -128)),  # keyword_scrambled's input
    (np.int16, (3.05e-9, 0), np.int16, (3.56e-4, 0)),   # matmul_quant's
    (np.int16, (0.01, 0), np.int16, (3e-4, 0)),
    (np.int16, (1.5259022e-05, -32768), np.int32, (3.051851e-05, 0)),   # keyword_scrambled's output
    (np.int16, (0.3, 7), np.int32, (1e-6, -9)),
    (np.int16, (1.0, 5), np.int32, (1e-6, 0)),
    (np.int32, (1e-4, 0), np.int8, (0.05, -3)),
    (np.int32, (1e-4, 100), np.int16, (0.003, 0)),      # x - zp wraps for the extremes
    (np.int32, (1.0, 0), np.int16, (1e-3, 0)),
]


@pytest.mark.parametrize("in_dtype,in_q,out_dtype,out_q", REQUANTIZE_CASES, ids=str)
def test_requantize(in_dtype, in_q, out_dtype, out_q):
    rng = np.random.default_rng(2)
    x = full_range(rng, (200, 100), in_dtype)
    info = np.iinfo(in_dtype)
    x[0, :4] = [info.min, info.min + 1, info.max, info.max - 1]   # x - zp may wrap in int32
    if in_dtype == np.int32:   # most int32 values saturate: add a band near zero
        x[1:100] //= 1 << 16
    model = quantize_model(x.shape, in_dtype, per_tensor(*in_q), out_dtype, per_tensor(*out_q))
    assert_same(model, [x])


def test_requantize_constant_input_folds():
    x = np.arange(-128, 128, dtype=np.int8)
    model = one_op_model("QUANTIZE", [("const", x, per_tensor(0.05, 3))],
                         [(x.shape, np.int8, per_tensor(0.03, -7))])
    assert_same(model, [])


# -- what the official rejects -------------------------------------------------------------------

UNSUPPORTED_PAIRS = [(np.int8, np.int32), (np.uint8, np.int32), (np.int16, np.uint8), (np.int32, np.uint8),
                     (np.int32, np.int32)]


@pytest.mark.parametrize("in_dtype,out_dtype", UNSUPPORTED_PAIRS, ids=str)
def test_unsupported_pairs(in_dtype, out_dtype):
    model = quantize_model((4,), in_dtype, per_tensor(0.1, 0), out_dtype, per_tensor(0.05, 0))
    assert "not supported" in prepare_error(model)
    with pytest.raises(RuntimeError, match="failed to prepare"):
        run_official(model, [np.zeros(4, in_dtype)])


def test_float_to_int32_is_unsupported():
    model = quantize_model((4,), np.float32, None, np.int32, per_tensor(0.1, 0))
    assert "not supported" in prepare_error(model)


def test_int16_to_int16_needs_zero_points_zero():
    model = quantize_model((4,), np.int16, per_tensor(0.1, 3), np.int16, per_tensor(0.1, 0))
    assert "zero points 0" in prepare_error(model)
    with pytest.raises(RuntimeError, match="failed to prepare"):
        run_official(model, [np.zeros(4, np.int16)])


def test_output_needs_quantization():
    model = one_op_model("QUANTIZE", [("input", (4,), np.float32)], [((4,), np.int8)])
    assert "no quantization parameters" in prepare_error(model)


def test_requantize_needs_per_tensor():
    model = quantize_model((2, 3), np.int8, per_tensor(0.1, 0), np.int8, ([0.1, 0.2], [0, 0], 0))
    assert "per-tensor" in prepare_error(model)


# -- real models ---------------------------------------------------------------------------------

@pytest.mark.parametrize("name,op_index", [("litert/matmul_quant", 1), ("tflm/keyword_scrambled", 0),
                                           ("tflm/keyword_scrambled", 14), ("tf/ops_zoo_int8", 15)])
def test_real_model_ops(name, op_index):
    assert_op_matches_reference(real_model(name), op_index)


@pytest.mark.parametrize("in_dtype,in_q,out_dtype", [(np.float32, None, np.int8),
                                                     (np.int16, per_tensor(0.01, 0), np.int8),
                                                     (np.int8, per_tensor(0.1, 3), np.uint8)], ids=str)
def test_invoke_allocates_nothing(in_dtype, in_q, out_dtype):
    model = quantize_model((8, 16), in_dtype, in_q, out_dtype, per_tensor(0.05, 3))
    x = np.linspace(-100, 100, 128).reshape(8, 16).astype(in_dtype)
    assert_invoke_allocates_nothing(model, [x])
