from pathlib import Path

import numpy as np
import pytest

from conftest import models_dir
from converter.builder import GraphBuilder
from oneop import (assert_op_matches_reference, assert_same, invoke_allocations, one_op_model, options,
                   real_model, run_litert, run_official)

OPTS = {"ADD": "AddOptions", "SUB": "SubOptions", "MUL": "MulOptions", "DIV": "DivOptions"}
SHAPES = [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (4,)), ((1, 3, 1), (2, 1, 5)), ((5,), ()),
          ((2, 1, 3, 1, 2), (1, 4, 1, 5, 2))]


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE"])
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("act", [0, 1, 3])
def test_binary_float32(op, shapes, act):
    if act and op not in OPTS:
        pytest.skip("no fused activation")
    if op in ("MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE") and len(shapes[0]) > 4:
        pytest.skip("official kernel broadcasts at most 4-D for this op")
    rng = np.random.default_rng(0)
    a = rng.uniform(-4, 4, shapes[0]).astype(np.float32)
    b = rng.uniform(0.5, 4, shapes[1]).astype(np.float32)
    out = np.broadcast_shapes(shapes[0], shapes[1])
    opts = options(OPTS[op], fusedActivationFunction=act) if op in OPTS else None
    model = one_op_model(op, [("input", a.shape, np.float32), ("input", b.shape, np.float32)],
                         [(out, np.float32)], opts)
    assert_same(model, [a, b])


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM"])
def test_binary_int32_broadcast(op):
    rng = np.random.default_rng(1)
    a = rng.integers(-100, 100, (2, 3, 4)).astype(np.int32)
    b = rng.integers(-100, 100, (3, 1)).astype(np.int32)
    opts = options(OPTS[op]) if op in OPTS else None
    model = one_op_model(op, [("input", a.shape, np.int32), ("const", b)], [((2, 3, 4), np.int32)], opts)
    assert_same(model, [a])


def test_div_int32_truncates():
    a = np.array([7, -7, 7, -7, 0], np.int32)
    b = np.array([2, 2, -2, -2, 3], np.int32)
    model = one_op_model("DIV", [("input", (5,), np.int32), ("input", (5,), np.int32)], [((5,), np.int32)],
                         options("DivOptions"))
    assert_same(model, [a, b])


# -- quantized ---------------------------------------------------------------------------------
# Every case compares with the official reference kernels bit for bit, on random inputs over
# the whole integer range (thousands of elements, so a rounding difference would show).

def full_range(rng, shape, dtype):
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


def quant_model(op, dtype, q1, q2, qo, shape1=(64, 64), shape2=None, act=0, out_dtype=None, opts=None):
    shape2 = shape1 if shape2 is None else shape2
    out = np.broadcast_shapes(shape1, shape2)
    if opts is None and op in OPTS:
        opts = options(OPTS[op], fusedActivationFunction=act)
    quant = [None if q is None else ([q[0]], [q[1]]) for q in (q1, q2, qo)]
    return one_op_model(op, [("input", shape1, dtype, quant[0]), ("input", shape2, dtype, quant[1])],
                        [(out, out_dtype or dtype, quant[2])], opts)


def check_quant(op, dtype, q1, q2, qo, shape1=(64, 64), shape2=None, seed=0, **kw):
    rng = np.random.default_rng(seed)
    model = quant_model(op, dtype, q1, q2, qo, shape1, shape2, **kw)
    a = full_range(rng, shape1, dtype)
    b = full_range(rng, shape1 if shape2 is None else shape2, dtype)
    return assert_same(model, [a, b])[0]


# (scale, zero point) for input 1, input 2, output, per dtype; named by what they exercise
QUANT_CASES = {
    np.int8: {
        "typical": ((0.04, -2), (0.041, -1), (0.058, -3)),
        "zp_extremes": ((0.02, -128), (0.03, 127), (0.05, 127)),
        "zp_extremes_out_min": ((0.03, 127), (0.02, -128), (0.04, -128)),
        "scales_far_apart": ((0.5, 3), (1e-3, -7), (0.01, 0)),
        "fine_output": ((1.0, 0), (0.7, 10), (0.004, -5)),       # rescale factors > 1
        "coarse_output": ((0.01, 5), (0.02, -5), (2.0, 1)),      # tiny rescale factors
    },
    np.uint8: {
        "typical": ((0.04, 128), (0.041, 120), (0.058, 130)),
        "zp_extremes": ((0.02, 0), (0.03, 255), (0.05, 255)),
        "zp_extremes_out_min": ((0.03, 255), (0.02, 0), (0.04, 0)),
        "scales_far_apart": ((0.5, 3), (1e-3, 250), (0.01, 128)),
        "fine_output": ((1.0, 128), (0.7, 10), (0.004, 200)),
        "coarse_output": ((0.01, 5), (0.02, 250), (2.0, 128)),
    },
}


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
@pytest.mark.parametrize("dtype", [np.int8, np.uint8], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("case", list(QUANT_CASES[np.int8]))
def test_quantized_8bit(op, dtype, case):
    q1, q2, qo = QUANT_CASES[dtype][case]
    got = check_quant(op, dtype, q1, q2, qo, shape1=(128, 96))
    if case == "typical":   # the rounding is exercised: most outputs are not saturated
        info = np.iinfo(dtype)
        assert np.mean((got > info.min) & (got < info.max)) > 0.5


@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("output_scale", [1e-2, 1e-4, 1e-6])
def test_mul_large_rescale_wraps_like_int32(dtype, output_scale):
    """A rescale factor s1*s2/s_out beyond 2^16 overflows the int32 left shift inside the
    official MultiplyByQuantizedMultiplier; it wraps there, and here (qmath.mbqm)."""
    zp = {np.int8: (-128, 127, 5), np.uint8: (0, 255, 3), np.int16: (0, 0, 0)}[dtype]
    check_quant("MUL", dtype, (1.0, zp[0]), (1.0, zp[1]), (output_scale, zp[2]))


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
@pytest.mark.parametrize("act", [1, 2, 3], ids=["RELU", "RELU_N1_TO_1", "RELU6"])
@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16], ids=lambda d: np.dtype(d).name)
def test_quantized_fused_activation(op, act, dtype):
    zp = {np.int8: (-10, 20, -128), np.uint8: (100, 130, 0), np.int16: (0, 0, 0)}[dtype]
    so = 0.0003 if dtype == np.int16 else 0.03
    s_in = 0.0002 if dtype == np.int16 else 0.02
    check_quant(op, dtype, (s_in, zp[0]), (s_in * 1.3, zp[1]), (so, zp[2]), act=act)


@pytest.mark.parametrize("output_scale", [2.4000000953674316, 1.7142857313156128])
def test_relu6_bound_divides_in_float32(output_scale):
    """6 / scale is 2.5 (3.5) in float32 but 2.4999999 in double: the reference clamps at 3 (4)."""
    got = check_quant("ADD", np.int8, (0.5, 0), (0.5, 0), (output_scale, 0), act=3)
    assert got.max() == round(6 / output_scale + 1e-6)


BROADCASTS = [((64, 32), (32,)), ((32,), (64, 32)), ((40, 50), ()), ((), (40, 50)),
              ((2, 1, 3, 1, 5), (1, 4, 1, 6, 1)), ((2, 3, 4, 5, 6, 3), (2, 1, 4, 1, 6, 1)),
              ((8, 1, 16), (8, 32, 1)), ((0, 4), (4,)), ((), ())]


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL", "SQUARED_DIFFERENCE"])
@pytest.mark.parametrize("shapes", BROADCASTS, ids=str)
def test_quantized_broadcast_int8(op, shapes):
    check_quant(op, np.int8, (0.03, -128), (0.05, 127), (0.07, 10), shapes[0], shapes[1])


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
@pytest.mark.parametrize("shapes", BROADCASTS[:3] + BROADCASTS[4:5], ids=str)
@pytest.mark.parametrize("dtype", [np.uint8, np.int16], ids=lambda d: np.dtype(d).name)
def test_quantized_broadcast_uint8_int16(op, shapes, dtype):
    zp = (0, 255, 128) if dtype == np.uint8 else (0, 0, 0)
    scale = 0.03 if dtype == np.uint8 else 0.0003
    check_quant(op, dtype, (scale, zp[0]), (scale * 1.7, zp[1]), (scale * 2.1, zp[2]), shapes[0], shapes[1])


INT16_CASES = {
    "typical": ((1.3866e-4, 0), (1.3441e-4, 0), (2.9648e-4, 0)),
    "fine_output": ((0.01, 0), (0.02, 0), (3e-4, 0)),
    "coarse_output": ((1e-4, 0), (2e-4, 0), (0.05, 0)),
    "scales_far_apart": ((0.3, 0), (1e-5, 0), (0.01, 0)),
}


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
@pytest.mark.parametrize("case", list(INT16_CASES))
def test_quantized_int16(op, case):
    """16x8 quantization: general scales take the left_shift 15 path of ADD/SUB."""
    check_quant(op, np.int16, *INT16_CASES[case], shape1=(128, 96))


@pytest.mark.parametrize("op", ["ADD", "SUB"])
@pytest.mark.parametrize("scales", [(2 ** -12, 2 ** -10, 2 ** -10), (2 ** -10, 2 ** -15, 2 ** -10),
                                    (2 ** -8, 2 ** -8, 2 ** -8)], ids=str)
@pytest.mark.parametrize("pot", [True, False])
@pytest.mark.parametrize("act", [0, 1])
def test_int16_power_of_two_scales(op, scales, pot, act):
    """pot_scale_int16 with power-of-two scales: the LSTM path (one input shifted, saturating);
    without the option the same scales take the general path."""
    opts = options(OPTS[op], fusedActivationFunction=act, potScaleInt16=pot)
    check_quant(op, np.int16, (scales[0], 0), (scales[1], 0), (scales[2], 0), opts=opts)


def test_int16_sub_power_of_two_broadcasts():
    opts = options("SubOptions", potScaleInt16=True)
    check_quant("SUB", np.int16, (2 ** -10, 0), (2 ** -13, 0), (2 ** -10, 0), (4, 32, 16), (32, 1), opts=opts)


def test_int16_add_without_options_takes_general_path():
    """No AddOptions table: pot_scale_int16 reads as false in the official parser."""
    model = one_op_model("ADD", [("input", (64, 64), np.int16, ([2 ** -12], [0])),
                                 ("input", (64, 64), np.int16, ([2 ** -10], [0]))],
                         [((64, 64), np.int16, ([2 ** -10], [0]))])
    rng = np.random.default_rng(3)
    assert_same(model, [full_range(rng, (64, 64), np.int16), full_range(rng, (64, 64), np.int16)])


@pytest.mark.parametrize("out_dtype", [np.int8, np.uint8], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("act", [0, 1, 3])
def test_mul_int16_to_8bit(out_dtype, act):
    """int16 inputs, 8-bit output: inputs are Q0.15 whatever their scales (legacy LSTM path)."""
    zp = -3 if out_dtype == np.int8 else 131
    check_quant("MUL", np.int16, (1 / 32768, 0), (1 / 32768, 0), (1 / 128, zp), act=act, out_dtype=out_dtype)


@pytest.mark.parametrize("case", ["typical", "zp_extremes", "scales_far_apart", "coarse_output"])
def test_squared_difference_int8(case):
    q1, q2, _ = QUANT_CASES[np.int8][case]
    check_quant("SQUARED_DIFFERENCE", np.int8, q1, q2, (max(q1[0], q2[0]) ** 2 * 40, -100), shape1=(128, 96))


@pytest.mark.parametrize("op", ["MAXIMUM", "MINIMUM"])
@pytest.mark.parametrize("dtype", [np.int8, np.uint8, np.int16], ids=lambda d: np.dtype(d).name)
@pytest.mark.parametrize("shapes", [((64, 64), (64, 64)), ((64, 32), (32,)), ((5,), ()),
                                    ((2, 3, 4, 5, 6), (2, 1, 4, 1, 6))], ids=str)
def test_max_min_quantized_compare_raw(op, dtype, shapes):
    """No requantization: the official compares raw values even when the scales differ."""
    zp = (0, 0, 0) if dtype == np.int16 else (5, -3, 1) if dtype == np.int8 else (5, 3, 1)
    check_quant(op, dtype, (0.1, zp[0]), (0.2, zp[1]), (0.3, zp[2]), shapes[0], shapes[1])


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL", "SQUARED_DIFFERENCE", "DIV"])
def test_int32_wraps_then_clamps(op):
    """Full-range int32: results that overflow wrap like the C++ int32 arithmetic."""
    rng = np.random.default_rng(5)
    a = full_range(rng, (64, 64), np.int32)
    b = full_range(rng, (64, 64), np.int32)
    if op == "DIV":
        b[b == 0] = 1
    opts = options(OPTS[op], fusedActivationFunction=3 if op == "SUB" else 0) if op in OPTS else None
    model = one_op_model(op, [("input", a.shape, np.int32), ("input", b.shape, np.int32)],
                         [(a.shape, np.int32)], opts)
    assert_same(model, [a, b])


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
def test_int64_wraps(op):
    rng = np.random.default_rng(6)
    a = full_range(rng, (32, 32), np.int64)
    b = full_range(rng, (32,), np.int64)
    model = one_op_model(op, [("input", a.shape, np.int64), ("input", b.shape, np.int64)],
                         [(a.shape, np.int64)], options(OPTS[op]))
    assert_same(model, [a, b])


@pytest.mark.parametrize("op", ["ADD", "MUL"])
@pytest.mark.parametrize("act", [0, 1, 3])
def test_int16_without_quantization_is_plain_arithmetic(op, act):
    rng = np.random.default_rng(7)
    a = full_range(rng, (64, 64), np.int16)
    b = full_range(rng, (64,), np.int16)
    model = one_op_model(op, [("input", a.shape, np.int16), ("input", b.shape, np.int16)],
                         [(a.shape, np.int16)], options(OPTS[op], fusedActivationFunction=act))
    assert_same(model, [a, b])


# -- configurations the official kernels reject (or abort on): our clear error -----------------

def prepare_error(model):
    from litert.errors import PrepareError
    with pytest.raises(PrepareError) as e:
        run_litert(model, [np.zeros(s, d) for s, d in _input_specs(model)])
    return str(e.value)


def _input_specs(model):
    from litert import Interpreter
    return [(tuple(d["shape"]), d["dtype"]) for d in Interpreter(model_content=model).get_input_details()]


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL"])
def test_int16_needs_zero_points_zero(op):
    model = quant_model(op, np.int16, (0.01, 3), (0.01, 0), (0.01, 0))
    assert "zero points 0" in prepare_error(model)
    with pytest.raises(RuntimeError, match="failed to (prepare|invoke)"):   # the official rejects it
        run_official(model, [np.zeros((64, 64), np.int16)] * 2)


def test_add_output_rescale_of_one_or_more_is_rejected():
    """The official aborts the process (QuantizeMultiplierSmallerThanOneExp's check)."""
    assert "must be below 1" in prepare_error(quant_model("ADD", np.int8, (1.0, 0), (1.0, 0), (1e-7, 0)))


def test_sub_output_rescale_above_one_is_rejected():
    """The official runs it through a RoundingDivideByPOT with a negative exponent (undefined
    behaviour; it returns +-1 around the zero point): we refuse instead."""
    assert "must be below 1" in prepare_error(quant_model("SUB", np.int8, (1.0, 0), (1.0, 0), (1e-7, 0)))


def test_int16_add_power_of_two_does_not_broadcast():
    opts = options("AddOptions", potScaleInt16=True)
    model = quant_model("ADD", np.int16, (2 ** -12, 0), (2 ** -10, 0), (2 ** -10, 0), (8, 8), (8, 1),
                        opts=opts)
    assert "does not broadcast" in prepare_error(model)


def test_int16_power_of_two_needs_one_input_at_output_scale():
    opts = options("SubOptions", potScaleInt16=True)
    model = quant_model("SUB", np.int16, (2 ** -12, 0), (2 ** -11, 0), (2 ** -10, 0), opts=opts)
    assert "power-of-two" in prepare_error(model)
    with pytest.raises(RuntimeError, match="failed to prepare"):
        run_official(model, [np.zeros((64, 64), np.int16)] * 2)


def test_mul_int16_to_int8_does_not_broadcast():
    model = quant_model("MUL", np.int16, (1 / 32768, 0), (1 / 32768, 0), (1 / 128, 0), (8, 8), (8,),
                        out_dtype=np.int8)
    assert "does not broadcast" in prepare_error(model)


def test_8bit_needs_quantization():
    model = one_op_model("ADD", [("input", (4,), np.int8), ("input", (4,), np.int8)], [((4,), np.int8)],
                         options("AddOptions"))
    assert "without quantization parameters" in prepare_error(model)


@pytest.mark.parametrize("op,dtype", [("DIV", np.int8), ("DIV", np.uint8), ("DIV", np.int64),
                                      ("SQUARED_DIFFERENCE", np.int64), ("SQUARED_DIFFERENCE", np.uint8)])
def test_unsupported_types(op, dtype):
    q = ([0.1], [0]) if dtype in (np.int8, np.uint8) else None
    model = one_op_model(op, [("input", (4,), dtype, q), ("input", (4,), dtype, q)], [((4,), dtype, q)])
    assert "supported" in prepare_error(model)


# -- the ops of real models, replayed on their reference intermediates -------------------------

MOBILENET_ADDS = (9, 16, 20, 27, 31, 35, 42, 46, 53, 57)


@pytest.mark.parametrize("name,op_index", [("tf/mobilenet_v2_int8", i) for i in MOBILENET_ADDS]
                         + [("tf/ops_zoo_int8", 2), ("tf/ops_zoo_int8", 13), ("tflm/simple_add_model", 0),
                            ("litert/simple_quantized_ops", 0), ("litert/simple_quantized_ops", 1),
                            ("litert/mul_quant", 0)])
def test_real_model_ops(name, op_index):
    assert_op_matches_reference(real_model(name), op_index)


def assert_invoke_allocates_nothing(model, inputs):
    """An invoke after warm-up allocates no numpy memory (DESIGN.md rule 1)."""
    held, peak = invoke_allocations(model, inputs)
    assert held == 0 and peak < 64 * 1024, (held, peak)


@pytest.mark.parametrize("op,dtype,out_dtype,q", [("ADD", np.int8, np.int8, (0.05, 3)),
                                                  ("SUB", np.uint8, np.uint8, (0.05, 3)),
                                                  ("ADD", np.int16, np.int16, (0.001, 0)),
                                                  ("MUL", np.int16, np.int8, (1 / 32768, 0)),
                                                  ("MAXIMUM", np.int8, np.int8, (0.05, 3))], ids=str)
def test_quantized_invoke_allocates_nothing(op, dtype, out_dtype, q):
    model = quant_model(op, dtype, q, q, q, (8, 16), (16,) if op != "MUL" else None, out_dtype=out_dtype)
    rng = np.random.default_rng(8)
    shape2 = (16,) if op != "MUL" else (8, 16)
    assert_invoke_allocates_nothing(model, [full_range(rng, (8, 16), dtype), full_range(rng, shape2, dtype)])
