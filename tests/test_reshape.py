import numpy as np
import pytest

from litert import Interpreter
from litert.errors import PrepareError
from oneop import GraphBuilder, assert_same, one_op_model, options, run_litert

Q8 = (0.05, -3)   # an int8 quantization (scale, zero point)
DTYPES = [np.float32, np.int8, np.uint8, np.int16, np.int32, np.int64, np.bool_]


def sample(shape, dtype, seed=0):
    rng = np.random.default_rng(seed)
    if dtype == np.bool_:
        return rng.integers(0, 2, shape).astype(np.bool_)
    if np.dtype(dtype).kind == "f":
        return rng.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -1000), min(info.max, 1000), shape, endpoint=True).astype(dtype)


def quant_for(dtype):
    return Q8 if dtype in (np.int8, np.uint8) else None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("new_shape, out_shape", [([3, 8], (3, 8)), ([-1, 4], (6, 4)),
                                                  ([2, -1, 3], (2, 4, 3)), ([24], (24,))])
def test_reshape_shape_tensor(dtype, new_shape, out_shape):
    q = quant_for(dtype)
    model = one_op_model("RESHAPE", [("input", (2, 3, 4), dtype, q), ("const", np.array(new_shape, np.int32))],
                         [(out_shape, dtype, q)])
    assert_same(model, [sample((2, 3, 4), dtype)])


def test_reshape_options_only():
    model = one_op_model("RESHAPE", [("input", (1, 16, 16, 2), np.float32)], [((1, 512, 1), np.float32)],
                         options("ReshapeOptions", newShape=[1, -1, 1]))
    assert_same(model, [sample((1, 16, 16, 2), np.float32)])


def test_reshape_legacy_scalar():
    # newShape [0] means a scalar in files from old converters
    model = one_op_model("RESHAPE", [("input", (1, 1), np.float32)], [((), np.float32)],
                         options("ReshapeOptions", newShape=[0]))
    assert_same(model, [np.array([[2.5]], np.float32)])


def test_reshape_runtime_shape_uses_static_output():
    # The shape arrives as a graph input: litert takes the output shape written in the file.
    model = one_op_model("RESHAPE", [("input", (2, 3, 4), np.float32), ("input", (2,), np.int32)],
                         [((4, 6), np.float32)])
    assert_same(model, [sample((2, 3, 4), np.float32), np.array([4, 6], np.int32)])


def test_reshape_runtime_shape_mismatch_is_clear():
    model = one_op_model("RESHAPE", [("input", (2, 3, 4), np.float32), ("input", (2,), np.int32)],
                         [((5, 6), np.float32)])
    with pytest.raises(PrepareError, match="only known at run time"):
        Interpreter(model_content=model).allocate_tensors()


def test_reshape_bad_count_is_clear():
    model = one_op_model("RESHAPE", [("input", (2, 3, 4), np.float32), ("const", np.array([5, -1], np.int32))],
                         [((5, 5), np.float32)])
    with pytest.raises(PrepareError, match="cannot reshape"):
        Interpreter(model_content=model).allocate_tensors()


def test_reshape_empty_tensor():
    model = one_op_model("RESHAPE", [("input", (0, 3), np.float32), ("const", np.array([3, -1], np.int32))],
                         [((3, 0), np.float32)])
    assert_same(model, [np.zeros((0, 3), np.float32)])


@pytest.mark.parametrize("dims, in_shape, out_shape", [(None, (1, 3, 1, 2), (3, 2)),
                                                       ([0], (1, 3, 1, 2), (3, 1, 2)),
                                                       ([-2], (1, 3, 1, 2), (1, 3, 2)),
                                                       ([0, -2], (1, 3, 1, 2), (3, 2)),
                                                       (None, (1, 1), ())])
@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.bool_])
def test_squeeze(dims, in_shape, out_shape, dtype):
    q = quant_for(dtype)
    model = one_op_model("SQUEEZE", [("input", in_shape, dtype, q)], [(out_shape, dtype, q)],
                         options("SqueezeOptions", squeezeDims=dims))
    assert_same(model, [sample(in_shape, dtype)])


def test_squeeze_non_unit_dim_is_clear():
    model = one_op_model("SQUEEZE", [("input", (1, 3), np.float32)], [((1,), np.float32)],
                         options("SqueezeOptions", squeezeDims=[1]))
    with pytest.raises(PrepareError, match="cannot squeeze"):
        Interpreter(model_content=model).allocate_tensors()


@pytest.mark.parametrize("axis, out_shape", [(0, (1, 2, 3)), (1, (2, 1, 3)), (2, (2, 3, 1)),
                                             (-1, (2, 3, 1)), (-3, (1, 2, 3))])
@pytest.mark.parametrize("axis_type", [np.int32, np.int64])
def test_expand_dims(axis, out_shape, axis_type):
    model = one_op_model("EXPAND_DIMS", [("input", (2, 3), np.float32), ("const", np.array([axis], axis_type))],
                         [(out_shape, np.float32)])
    assert_same(model, [sample((2, 3), np.float32)])


def test_expand_dims_int8():
    model = one_op_model("EXPAND_DIMS", [("input", (2, 3), np.int8, Q8), ("const", np.array(1, np.int32))],
                         [((2, 1, 3), np.int8, Q8)])
    assert_same(model, [sample((2, 3), np.int8)])


def test_expand_dims_quant_mismatch_is_clear():
    model = one_op_model("EXPAND_DIMS", [("input", (2, 3), np.int8, Q8), ("const", np.array(1, np.int32))],
                         [((2, 1, 3), np.int8, (0.1, 0))])
    with pytest.raises(PrepareError, match="same quantization"):
        Interpreter(model_content=model).allocate_tensors()


@pytest.mark.parametrize("out_type, dtype", [(2, np.int32), (4, np.int64)])
@pytest.mark.parametrize("shape", [(2, 3, 4), (5,), ()])
def test_shape(out_type, dtype, shape):
    model = one_op_model("SHAPE", [("input", shape, np.float32)], [((len(shape),), dtype)],
                         options("ShapeOptions", outType=out_type))
    if shape:
        got = assert_same(model, [sample(shape, np.float32)])
    else:   # the official get_tensor cannot return an empty tensor
        got = run_litert(model, [sample(shape, np.float32)])
    assert got[0].dtype == dtype and list(got[0]) == list(shape)


def test_shape_feeds_reshape():
    # SHAPE -> RESHAPE: the new shape is the input's own shape, known at prepare time.
    b = GraphBuilder()
    x = b.input("x", (2, 6), np.float32)
    y = b.input("y", (3, 4), np.float32)
    s = b.tensor("s", (2,), np.int32)
    out = b.tensor("out", (2, 6), np.float32)
    b.op("SHAPE", [x], [s], options("ShapeOptions", outType=2))
    b.op("RESHAPE", [y, s], [out])
    b.output(out)
    model = b.build()
    assert_same(model, [sample((2, 6), np.float32), sample((3, 4), np.float32, 1)])


def test_reshape_folds_constant_input():
    b = GraphBuilder()
    c = b.const("c", np.arange(6, dtype=np.float32))
    x = b.input("x", (2, 3), np.float32)
    r = b.tensor("r", (2, 3), np.float32)
    out = b.tensor("out", (2, 3), np.float32)
    b.op("RESHAPE", [c, b.const("shape", np.array([2, 3], np.int32))], [r])
    b.op("ADD", [x, r], [out], options("AddOptions"))
    b.output(out)
    model = b.build()
    got = run_litert(model, [np.ones((2, 3), np.float32)])
    np.testing.assert_array_equal(got[0], np.arange(6).reshape(2, 3) + 1)
    assert_same(model, [np.ones((2, 3), np.float32)])
