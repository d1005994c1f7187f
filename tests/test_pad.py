import numpy as np
import pytest

from litert import Interpreter
from litert.errors import PrepareError
from oneop import assert_same, one_op_model, options, run_litert
from test_reshape import sample

PAD_DTYPES = [np.float32, np.int8, np.uint8, np.int16, np.int32, np.int64, np.bool_]


def pad_model(shape, pads, dtype=np.float32, quant=None, value=None, value_quant=None, pad_type=np.int32):
    out_shape = tuple(d + a + b for d, (a, b) in zip(shape, pads))
    inputs = [("input", shape, dtype, quant), ("const", np.array(pads, pad_type).reshape(len(shape), 2))]
    if value is not None:
        inputs.append(("const", np.array(value, dtype), value_quant if value_quant is not None else quant))
    return one_op_model("PADV2" if value is not None else "PAD", inputs, [(out_shape, dtype, quant)])


@pytest.mark.parametrize("shape, pads", [((5,), [(2, 3)]), ((3, 4), [(0, 0), (1, 2)]),
                                         ((1, 12, 12, 8), [(0, 0), (1, 1), (2, 2), (0, 0)]),
                                         ((1, 64, 64, 3), [(0, 0), (0, 0), (0, 0), (0, 4)]),
                                         ((2, 3, 4), [(1, 0), (0, 0), (0, 3)]),
                                         ((1, 2, 1, 2, 3), [(1, 1), (0, 2), (1, 0), (0, 0), (2, 2)]),
                                         ((2, 3), [(0, 0), (0, 0)])], ids=str)
@pytest.mark.parametrize("pad_type", [np.int32, np.int64])
def test_pad_float32(shape, pads, pad_type):
    x = sample(shape, np.float32)
    got = assert_same(pad_model(shape, pads, pad_type=pad_type), [x])
    np.testing.assert_array_equal(got[0], np.pad(x, pads))


@pytest.mark.parametrize("dtype", PAD_DTYPES)
def test_pad_dtypes_unquantized(dtype):
    assert_same(pad_model((2, 3), [(1, 1), (0, 2)], dtype), [sample((2, 3), dtype)])


@pytest.mark.parametrize("dtype, quant", [(np.int8, (0.02, -110)), (np.uint8, (0.1, 130)), (np.int16, (0.001, 0))])
def test_pad_quantized_uses_zero_point(dtype, quant):
    x = sample((1, 4, 4, 2), dtype)
    got = assert_same(pad_model((1, 4, 4, 2), [(0, 0), (1, 1), (2, 0), (0, 0)], dtype, quant), [x])
    assert got[0][0, 0, 0, 0] == quant[1]


@pytest.mark.parametrize("dtype, value", [(np.float32, -2.5), (np.int32, 7), (np.int64, -9), (np.bool_, True),
                                          (np.int8, 5), (np.int16, -300)])
def test_padv2_constant(dtype, value):
    x = sample((2, 3, 2), dtype)
    got = assert_same(pad_model((2, 3, 2), [(1, 0), (0, 2), (1, 1)], dtype, value=value), [x])
    np.testing.assert_array_equal(got[0], np.pad(x, [(1, 0), (0, 2), (1, 1)], constant_values=value))


@pytest.mark.parametrize("dtype, quant", [(np.int8, (0.02, -10)), (np.uint8, (0.1, 130))])
def test_padv2_quantized(dtype, quant):
    x = sample((1, 3, 3, 2), dtype)
    got = assert_same(pad_model((1, 3, 3, 2), [(0, 0), (1, 1), (1, 1), (0, 0)], dtype, quant, value=17), [x])
    assert got[0][0, 0, 0, 0] == 17


def test_padv2_quant_mismatch_is_clear():
    model = pad_model((2, 2), [(1, 1), (1, 1)], np.int8, (0.02, -10), value=3, value_quant=(0.5, 0))
    with pytest.raises(PrepareError, match="same quantization"):
        Interpreter(model_content=model).allocate_tensors()


def test_pad_negative_is_clear():
    model = one_op_model("PAD", [("input", (3,), np.float32), ("const", np.array([[-1, 2]], np.int32))],
                         [((4,), np.float32)])
    with pytest.raises(PrepareError, match="negative"):
        Interpreter(model_content=model).allocate_tensors()


def test_pad_rank6_against_numpy():
    # TFLite's reference kernel stops at 5 dimensions; litert goes to 6
    pads = [(1, 0), (0, 1), (0, 0), (2, 0), (0, 0), (1, 1)]
    x = sample((2, 1, 2, 1, 2, 2), np.float32)
    got = run_litert(pad_model(x.shape, pads), [x])
    np.testing.assert_array_equal(got[0], np.pad(x, pads))


def mirror_model(shape, pads, mode, dtype=np.float32, quant=None, pad_type=np.int32):
    out_shape = tuple(d + a + b for d, (a, b) in zip(shape, pads))
    return one_op_model("MIRROR_PAD", [("input", shape, dtype, quant), ("const", np.array(pads, pad_type))],
                        [(out_shape, dtype, quant)], options("MirrorPadOptions", mode=mode))


@pytest.mark.parametrize("shape, pads", [((5,), [(2, 3)]), ((3, 4), [(0, 0), (2, 1)]), ((3, 4), [(2, 2), (3, 3)]),
                                         ((1, 4, 5, 2), [(0, 0), (1, 2), (3, 0), (0, 0)]),
                                         ((2, 3, 2, 3, 2), [(1, 1), (0, 2), (1, 0), (1, 2), (0, 0)])], ids=str)
@pytest.mark.parametrize("mode", [0, 1])
@pytest.mark.parametrize("pad_type", [np.int32, np.int64])
def test_mirror_pad(shape, pads, mode, pad_type):
    x = sample(shape, np.float32)
    got = assert_same(mirror_model(shape, pads, mode, pad_type=pad_type), [x])
    np.testing.assert_array_equal(got[0], np.pad(x, pads, mode="reflect" if mode == 0 else "symmetric"))


@pytest.mark.parametrize("dtype, quant", [(np.int8, (0.1, 3)), (np.uint8, (0.1, 128)), (np.int16, (0.1, 0)),
                                          (np.int32, None), (np.int64, None), (np.bool_, None)])
def test_mirror_pad_dtypes(dtype, quant):
    assert_same(mirror_model((3, 4), [(1, 2), (2, 1)], 0, dtype, quant), [sample((3, 4), dtype)])


def test_mirror_pad_too_large_is_clear():
    model = mirror_model((3,), [(3, 0)], 0)
    with pytest.raises(PrepareError, match="too large"):
        Interpreter(model_content=model).allocate_tensors()
