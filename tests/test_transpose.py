import numpy as np
import pytest

from litert import Interpreter
from litert.errors import PrepareError
from oneop import assert_same, one_op_model, run_litert
from test_reshape import DTYPES, quant_for, sample

PERMS = [((5,), [0]), ((3, 4), [1, 0]), ((2, 3, 4), [2, 0, 1]), ((2, 3, 4), [0, 2, 1]),
         ((2, 3, 4, 5), [0, 3, 1, 2]), ((2, 3, 4, 5), [3, 2, 1, 0]), ((2, 3, 4, 5), [0, 1, 2, 3]),
         ((1, 335, 10, 3, 8), [3, 1, 2, 0, 4]), ((2, 1, 3, 2, 2, 3), [5, 3, 1, 4, 0, 2]),
         ((2, 3, 4), [-1, 0, -2])]


@pytest.mark.parametrize("shape, perm", PERMS, ids=str)
def test_transpose_float32(shape, perm):
    out_shape = np.transpose(np.empty(shape), perm).shape
    model = one_op_model("TRANSPOSE", [("input", shape, np.float32), ("const", np.array(perm, np.int32))],
                         [(out_shape, np.float32)])
    assert_same(model, [sample(shape, np.float32)])


@pytest.mark.parametrize("dtype", DTYPES)
def test_transpose_dtypes(dtype):
    q = quant_for(dtype)
    model = one_op_model("TRANSPOSE", [("input", (2, 3, 4, 5), dtype, q), ("const", np.array([0, 3, 1, 2], np.int32))],
                         [((2, 5, 3, 4), dtype, q)])
    assert_same(model, [sample((2, 3, 4, 5), dtype)])


def test_transpose_rank7_merges_axes():
    # 7 axes, but two pairs stay neighbours: litert needs only 5 loops
    shape, perm = (2, 3, 2, 2, 3, 2, 2), [5, 6, 0, 1, 4, 2, 3]
    out_shape = np.transpose(np.empty(shape), perm).shape
    model = one_op_model("TRANSPOSE", [("input", shape, np.float32), ("const", np.array(perm, np.int32))],
                         [(out_shape, np.float32)])
    assert_same(model, [sample(shape, np.float32)])


def test_transpose_empty():
    model = one_op_model("TRANSPOSE", [("input", (2, 0, 3), np.float32), ("const", np.array([2, 0, 1], np.int32))],
                         [((3, 2, 0), np.float32)])
    assert run_litert(model, [np.zeros((2, 0, 3), np.float32)])[0].shape == (3, 2, 0)


@pytest.mark.parametrize("perm", [[0, 0, 1], [0, 1, 3], [0, 1]])
def test_transpose_bad_perm_is_clear(perm):
    model = one_op_model("TRANSPOSE", [("input", (2, 3, 4), np.float32), ("const", np.array(perm, np.int32))],
                         [((2, 3, 4), np.float32)])
    with pytest.raises(PrepareError, match="perm"):
        Interpreter(model_content=model).allocate_tensors()
