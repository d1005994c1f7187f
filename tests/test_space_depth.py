import numpy as np
import pytest

from litert import Interpreter
from litert.errors import PrepareError
from oneop import assert_same, one_op_model, options
from test_reshape import quant_for, sample

TYPES = [np.float32, np.int8, np.uint8, np.int32, np.int64]


def numpy_depth_to_space(x, b):
    n, h, w, c = x.shape
    return x.reshape(n, h, w, b, b, c // (b * b)).transpose(0, 1, 3, 2, 4, 5).reshape(n, h * b, w * b, -1)


@pytest.mark.parametrize("shape, block", [((1, 2, 3, 4), 2), ((2, 3, 2, 18), 3), ((1, 1, 1, 8), 2),
                                          ((1, 4, 4, 3), 1)], ids=str)
@pytest.mark.parametrize("dtype", TYPES)
def test_depth_to_space(shape, block, dtype):
    q = quant_for(dtype)
    n, h, w, c = shape
    model = one_op_model("DEPTH_TO_SPACE", [("input", shape, dtype, q)],
                         [((n, h * block, w * block, c // block ** 2), dtype, q)],
                         options("DepthToSpaceOptions", blockSize=block))
    x = sample(shape, dtype)
    got = assert_same(model, [x])
    np.testing.assert_array_equal(got[0], numpy_depth_to_space(x, block))


@pytest.mark.parametrize("shape, block", [((1, 4, 6, 2), 2), ((2, 6, 3, 1), 3), ((1, 2, 2, 5), 2),
                                          ((1, 4, 4, 3), 1)], ids=str)
@pytest.mark.parametrize("dtype", TYPES)
def test_space_to_depth(shape, block, dtype):
    q = quant_for(dtype)
    n, h, w, c = shape
    out_shape = (n, h // block, w // block, c * block ** 2)
    model = one_op_model("SPACE_TO_DEPTH", [("input", shape, dtype, q)], [(out_shape, dtype, q)],
                         options("SpaceToDepthOptions", blockSize=block))
    x = sample(shape, dtype)
    got = assert_same(model, [x])
    np.testing.assert_array_equal(numpy_depth_to_space(got[0], block), x)   # the inverse


@pytest.mark.parametrize("op, shape", [("DEPTH_TO_SPACE", (1, 2, 2, 6)), ("SPACE_TO_DEPTH", (1, 3, 4, 1)),
                                       ("DEPTH_TO_SPACE", (2, 4, 8))])
def test_bad_shapes_are_clear(op, shape):
    opts = options("DepthToSpaceOptions" if op == "DEPTH_TO_SPACE" else "SpaceToDepthOptions", blockSize=2)
    model = one_op_model(op, [("input", shape, np.float32)], [((1, 1, 1, 1), np.float32)], opts)
    with pytest.raises(PrepareError):
        Interpreter(model_content=model).allocate_tensors()
