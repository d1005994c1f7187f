import numpy as np
import pytest

from litert import Interpreter
from litert.errors import PrepareError
from oneop import assert_same, one_op_model, options, run_litert, run_official
from test_reshape import DTYPES, quant_for, sample


def slice_model(shape, begin, size, dtype=np.float32, index_type=np.int32, out_shape=None):
    q = quant_for(dtype)
    if out_shape is None:
        out_shape = tuple(d - b if s == -1 else s for d, b, s in zip(shape, begin, size))
    return one_op_model("SLICE", [("input", shape, dtype, q), ("const", np.array(begin, index_type)),
                                  ("const", np.array(size, index_type))], [(out_shape, dtype, q)])


@pytest.mark.parametrize("shape, begin, size", [((4,), [1], [2]), ((3, 4), [1, 0], [2, -1]),
                                                ((8, 100, 32, 4), [0, 0, 0, 2], [8, 100, 32, 2]),
                                                ((2, 3, 4), [1, 1, 1], [-1, -1, -1]),
                                                ((2, 3, 4), [0, 3, 0], [2, 0, 4]),
                                                ((2, 2, 3, 2, 2, 3), [1, 0, 1, 0, 1, 1], [1, 2, 2, 1, 1, 2])],
                         ids=str)
@pytest.mark.parametrize("index_type", [np.int32, np.int64])
def test_slice(shape, begin, size, index_type):
    model = slice_model(shape, begin, size, index_type=index_type)
    x = [sample(shape, np.float32)]
    if 0 in size:   # the official get_tensor cannot return an empty tensor
        assert run_litert(model, x)[0].shape == (2, 0, 4)
    else:
        assert_same(model, x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_slice_dtypes(dtype):
    assert_same(slice_model((3, 4, 5), [1, 1, 2], [2, -1, 2], dtype), [sample((3, 4, 5), dtype)])


@pytest.mark.parametrize("begin, size", [([0, 5], [1, 1]), ([0, 2], [1, 3]), ([-1, 0], [1, 1])])
def test_slice_out_of_range_is_clear(begin, size):
    model = slice_model((2, 4), begin, size, out_shape=(1, 1))
    with pytest.raises(PrepareError):
        Interpreter(model_content=model).allocate_tensors()


def test_slice_runtime_begin():
    # begin as a graph input: the size fixes the output, the window moves at run time
    model = one_op_model("SLICE", [("input", (4, 6), np.float32), ("input", (2,), np.int32),
                                   ("const", np.array([2, 3], np.int32))], [((2, 3), np.float32)])
    x = sample((4, 6), np.float32)
    for begin in ([0, 0], [1, 2], [2, 3]):
        assert_same(model, [x, np.array(begin, np.int32)])


def ss_model(shape, begin, end, strides, out_shape, dtype=np.float32, **masks):
    q = quant_for(dtype)
    return one_op_model("STRIDED_SLICE",
                        [("input", shape, dtype, q), ("const", np.array(begin, np.int32)),
                         ("const", np.array(end, np.int32)), ("const", np.array(strides, np.int32))],
                        [(out_shape, dtype, q)], options("StridedSliceOptions", **masks))


# (shape, begin, end, strides, masks, numpy expression giving the expected result)
SS_CASES = [
    ((6,), [1], [5], [1], {}, lambda x: x[1:5]),
    ((6,), [1], [6], [2], {}, lambda x: x[1:6:2]),
    ((6,), [-1], [-7], [-1], {}, lambda x: x[::-1]),
    ((6,), [4], [0], [-2], {}, lambda x: x[4:0:-2]),
    ((6,), [-2], [10], [1], {}, lambda x: x[-2:]),
    ((6,), [5], [1], [1], {}, lambda x: x[5:1]),
    ((3, 4), [1, 0], [3, 4], [1, 1], {"beginMask": 1}, lambda x: x[:3, 0:4]),
    ((3, 4), [1, 1], [2, 3], [1, 1], {"endMask": 2}, lambda x: x[1:2, 1:]),
    ((3, 4), [2, 3], [0, 0], [-1, -1], {"beginMask": 3, "endMask": 3}, lambda x: x[::-1, ::-1]),
    ((3, 4), [1, 0], [2, 4], [1, 1], {"shrinkAxisMask": 1}, lambda x: x[1, 0:4]),
    ((3, 4), [0, -1], [3, 0], [1, 1], {"shrinkAxisMask": 2}, lambda x: x[0:3, -1]),
    ((3, 4), [2, 1], [0, 0], [1, 1], {"shrinkAxisMask": 3}, lambda x: x[2, 1]),
    ((2, 3, 4), [1], [2], [1], {"ellipsisMask": 0}, lambda x: x[1:2]),
    ((2, 3, 4), [0, 1], [0, 3], [1, 2], {"ellipsisMask": 1}, lambda x: x[..., 1:3:2]),
    ((2, 3, 4), [0, 0, 2], [1, 0, 3], [1, 1, 1], {"ellipsisMask": 2}, lambda x: x[0:1, ..., 2:3]),
    ((2, 3, 4), [1, 0], [2, 0], [1, 1], {"ellipsisMask": 2, "shrinkAxisMask": 1}, lambda x: x[1, ...]),
    ((2, 3, 4), [1, 0, 0], [2, 0, 0], [1, 1, 1], {"ellipsisMask": 2, "shrinkAxisMask": 1},
     lambda x: x[1, ..., 0:0]),
    ((2, 3), [0, 0, 0], [2, 1, 3], [1, 1, 1], {"newAxisMask": 2}, lambda x: x[0:2, None, 0:3]),
    ((2, 3), [0, 0], [0, 0], [1, 1], {"newAxisMask": 1, "ellipsisMask": 2}, lambda x: x[None, ...]),
    ((2, 3), [0, 0], [1, 3], [1, -1], {"newAxisMask": 1, "endMask": 2, "beginMask": 2},
     lambda x: x[None, ::-1]),
    ((2, 3, 4), [1, 2, 3], [0, 0, 0], [1, 1, 1], {"shrinkAxisMask": 4, "endMask": 3},
     lambda x: x[1:, 2:, 3]),
    ((1, 14, 16, 16), [0, 1, 0, 0], [0, 13, 0, 0], [1, 2, 3, 1], {"beginMask": 13, "endMask": 13},
     lambda x: x[:, 1:13:2, ::3, :]),
    ((2, 3, 4, 5, 6), [0, 2, 1, 4, 5], [2, 0, 4, 0, 0], [1, -1, 2, -2, -3], {},
     lambda x: x[0:2, 2:0:-1, 1:4:2, 4:0:-2, 5:0:-3]),
    ((4, 5), [1, 1], [2, 3], [1, 1], {"offset": True}, lambda x: x[1:3, 1:4]),
    ((4, 5), [-3, 0], [3, 5], [1, 2], {"offset": True}, lambda x: x[1:4, 0:5:2]),
]


@pytest.mark.parametrize("case", range(len(SS_CASES)))
def test_strided_slice(case):
    shape, begin, end, strides, masks, expect = SS_CASES[case]
    x = sample(shape, np.float32)
    want = np.asarray(expect(x))
    model = ss_model(shape, begin, end, strides, want.shape, **masks)
    if want.size == 0:   # the official get_tensor cannot return an empty tensor
        got = run_litert(model, [x])
    else:
        got = assert_same(model, [x])
    np.testing.assert_array_equal(got[0], want)


@pytest.mark.parametrize("dtype", DTYPES)
def test_strided_slice_dtypes(dtype):
    x = sample((3, 4, 5), dtype)
    model = ss_model((3, 4, 5), [2, 0, 1], [0, 4, 5], [-1, 1, 2], (2, 4, 2), dtype)
    got = assert_same(model, [x])
    np.testing.assert_array_equal(got[0], x[2:0:-1, 0:4, 1:5:2])


def test_strided_slice_offset_runtime_begin():
    model = one_op_model("STRIDED_SLICE",
                         [("input", (5, 6), np.float32), ("input", (2,), np.int32),
                          ("const", np.array([2, 3], np.int32)), ("const", np.array([1, 1], np.int32))],
                         [((2, 3), np.float32)], options("StridedSliceOptions", offset=True))
    x = sample((5, 6), np.float32)
    for begin in ([0, 0], [3, 2], [-2, -3]):
        got = assert_same(model, [x, np.array(begin, np.int32)])
        b0, b1 = (b % d for b, d in zip(begin, (5, 6)))
        np.testing.assert_array_equal(got[0], x[b0:b0 + 2, b1:b1 + 3])


def test_strided_slice_zero_stride_is_clear():
    model = ss_model((4,), [0], [4], [0], (4,))
    with pytest.raises(PrepareError, match="non-zero"):
        Interpreter(model_content=model).allocate_tensors()


def test_strided_slice_shrink_out_of_range_is_clear():
    model = ss_model((4,), [4], [5], [1], (), shrinkAxisMask=1)
    with pytest.raises(PrepareError, match="out of range"):
        Interpreter(model_content=model).allocate_tensors()


def test_strided_slice_official_agrees_on_masks_alone():
    # every mask bit alone on a 3-D input, against the official interpreter only
    x = sample((3, 4, 5), np.float32)
    for mask in ("beginMask", "endMask", "shrinkAxisMask"):
        for bit in range(3):
            model = ss_model((3, 4, 5), [1, 1, 1], [2, 3, 4], [1, 1, 1], (1, 1, 1), **{mask: 1 << bit})
            want = run_official(model, [x])[0]
            model = ss_model((3, 4, 5), [1, 1, 1], [2, 3, 4], [1, 1, 1], want.shape, **{mask: 1 << bit})
            assert_same(model, [x])


def test_strided_slice_random_against_official():
    """Random begin/end/strides/masks; where TFLite leaves the output undefined (a shrunk index
    out of range, or a shrunk axis with a negative stride) litert refuses instead."""
    rng = np.random.default_rng(7)
    checked = 0
    for _ in range(300):
        rank = int(rng.integers(1, 5))
        shape = tuple(int(d) for d in rng.integers(1, 6, rank))
        n = int(rng.integers(1, rank + 2))
        begin, end = (rng.integers(-7, 7, n).astype(np.int32) for _ in range(2))
        strides = rng.choice([-3, -2, -1, 1, 1, 2, 3], n).astype(np.int32)
        masks = {k: int(rng.integers(0, 1 << n)) if rng.random() < 0.4 else 0
                 for k in ("beginMask", "endMask", "shrinkAxisMask", "newAxisMask")}
        if rng.random() < 0.3:
            masks["ellipsisMask"] = 1 << int(rng.integers(0, n))
        x = rng.standard_normal(shape).astype(np.float32)
        want = run_official(ss_model(shape, begin, end, strides, (1,), **masks), [x])[0]
        if want.size == 0:
            continue
        model = ss_model(shape, begin, end, strides, want.shape, **masks)
        try:
            got = run_litert(model, [x])[0]
        except PrepareError as e:
            assert "shrunk" in str(e)
            continue
        np.testing.assert_array_equal(got, want)
        checked += 1
    assert checked > 120
