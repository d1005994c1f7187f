import numpy as np
import pytest

from litert import Interpreter
from litert.errors import PrepareError
from litert.kernels.gather import IndexOutOfRangeError
from oneop import assert_same, one_op_model, options, run_litert, run_official
from test_reshape import quant_for, sample

GATHER_DTYPES = [np.float32, np.int8, np.uint8, np.int16, np.int32, np.int64, np.bool_]


def numpy_gather(x, idx, axis, batch_dims):
    """tf.gather with batch_dims, by looping over the batch dimensions."""
    if batch_dims == 0:
        return np.take(x, idx, axis=axis)
    return np.stack([numpy_gather(x[b], idx[b], axis - 1, batch_dims - 1) for b in range(x.shape[0])])


def gather_model(x_shape, idx_shape, axis, batch_dims, dtype=np.float32, idx_type=np.int32, const_idx=None):
    q = quant_for(dtype)
    a = axis % len(x_shape)
    b = batch_dims % len(idx_shape) if batch_dims < 0 else batch_dims
    out_shape = x_shape[:a] + idx_shape[b:] + x_shape[a + 1:]
    idx_in = ("const", const_idx) if const_idx is not None else ("input", idx_shape, idx_type)
    return one_op_model("GATHER", [("input", x_shape, dtype, q), idx_in], [(out_shape, dtype, q)],
                        options("GatherOptions", axis=axis, batchDims=batch_dims))


@pytest.mark.parametrize("x_shape, idx_shape, axis, batch_dims", [
    ((5, 3), (4,), 0, 0), ((1, 8, 12), (5,), 1, 0), ((3, 4, 5), (2, 3), -1, 0), ((3, 4, 5), (2,), -2, 0),
    ((2, 4, 5), (2, 3), 1, 1), ((2, 3, 4, 5), (2, 3, 2), 2, 2), ((2, 4, 5), (2, 3), -1, -1),
    ((2, 3, 4, 5), (2, 6), 3, 1), ((6,), (), 0, 0)], ids=str)
@pytest.mark.parametrize("idx_type", [np.int32, np.int64])
def test_gather(x_shape, idx_shape, axis, batch_dims, idx_type):
    rng = np.random.default_rng(3)
    x = sample(x_shape, np.float32)
    idx = rng.integers(0, x_shape[axis], idx_shape).astype(idx_type)
    got = assert_same(gather_model(x_shape, idx_shape, axis, batch_dims, idx_type=idx_type), [x, idx])
    bd = batch_dims % len(idx_shape) if batch_dims < 0 else batch_dims
    np.testing.assert_array_equal(got[0], numpy_gather(x, idx, axis % len(x_shape), bd))


@pytest.mark.parametrize("dtype", GATHER_DTYPES)
def test_gather_dtypes(dtype):
    idx = np.array([5, 0, 7, 2, 2], np.int32)
    assert_same(gather_model((1, 8, 12), (5,), 1, 0, dtype, const_idx=idx), [sample((1, 8, 12), dtype)])


def test_gather_int16_indices():
    idx = np.array([[1, 0], [2, 2]], np.int16)
    assert_same(gather_model((3, 4), (2, 2), 0, 0, idx_type=np.int16), [sample((3, 4), np.float32), idx])


@pytest.mark.parametrize("bad", [4, -1])
def test_gather_out_of_range_fails_invoke(bad):
    # Like the official interpreter: invoke fails, nothing is read outside the input.
    model = gather_model((4, 3), (2,), 0, 0)
    inputs = [sample((4, 3), np.float32), np.array([1, bad], np.int32)]
    with pytest.raises(RuntimeError):
        run_official(model, inputs)
    with pytest.raises(IndexOutOfRangeError):
        run_litert(model, inputs)


def test_gather_constant_out_of_range_is_clear():
    model = gather_model((4, 3), (2,), 0, 0, const_idx=np.array([0, 9], np.int32))
    with pytest.raises(PrepareError, match="out of range"):
        Interpreter(model_content=model).allocate_tensors()


def test_gather_batch_dims_above_axis_is_clear():
    model = one_op_model("GATHER", [("input", (2, 3, 4), np.float32), ("input", (2, 3), np.int32)],
                         [((2, 3), np.float32)], options("GatherOptions", axis=0, batchDims=1))
    with pytest.raises(PrepareError, match="batch_dims"):
        Interpreter(model_content=model).allocate_tensors()


def gather_nd_model(p_shape, i_shape, dtype=np.float32, idx_type=np.int32):
    q = quant_for(dtype)
    out_shape = i_shape[:-1] + p_shape[i_shape[-1]:]
    return one_op_model("GATHER_ND", [("input", p_shape, dtype, q), ("input", i_shape, idx_type)],
                        [(out_shape, dtype, q)])


@pytest.mark.parametrize("p_shape, i_shape", [((4, 3), (2, 1)), ((4, 3), (2, 2)), ((2, 3, 4), (5, 2)),
                                              ((2, 3, 4), (2, 2, 3)), ((5,), (3, 1))], ids=str)
@pytest.mark.parametrize("idx_type", [np.int32, np.int64])
def test_gather_nd(p_shape, i_shape, idx_type):
    rng = np.random.default_rng(5)
    nd = i_shape[-1]
    idx = np.stack([rng.integers(0, p_shape[k], i_shape[:-1]) for k in range(nd)], -1).astype(idx_type)
    x = sample(p_shape, np.float32)
    got = assert_same(gather_nd_model(p_shape, i_shape, idx_type=idx_type), [x, idx])
    np.testing.assert_array_equal(got[0], x[tuple(np.moveaxis(idx, -1, 0))])


@pytest.mark.parametrize("dtype", GATHER_DTYPES)
def test_gather_nd_dtypes(dtype):
    idx = np.array([[1, 2], [0, 0], [1, 0]], np.int32)
    assert_same(gather_nd_model((2, 3, 4), (3, 2), dtype), [sample((2, 3, 4), dtype), idx])


def test_gather_nd_negative_index_fails_invoke():
    model = gather_nd_model((4, 3), (1, 2))
    inputs = [sample((4, 3), np.float32), np.array([[1, -1]], np.int32)]
    with pytest.raises(RuntimeError):
        run_official(model, inputs)
    with pytest.raises(IndexOutOfRangeError):
        run_litert(model, inputs)


@pytest.mark.parametrize("index", [[0, 3], [4, 0], [0, 5]])
def test_gather_nd_checks_each_dimension(index):
    # [0, 5] lands inside the flat params, but is still out of range for dimension 1
    model = gather_nd_model((4, 3), (1, 2))
    inputs = [sample((4, 3), np.float32), np.array([index], np.int32)]
    with pytest.raises(RuntimeError):
        run_official(model, inputs)
    with pytest.raises(IndexOutOfRangeError):
        run_litert(model, inputs)
