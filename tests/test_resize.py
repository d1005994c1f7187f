import numpy as np
import pytest

from litert import Interpreter
from litert.errors import PrepareError
from oneop import assert_same, one_op_model, options
from test_reshape import sample

# (align_corners, half_pixel_centers); both True is rejected by RESIZE_BILINEAR
BILINEAR_MODES = [(False, False), (True, False), (False, True)]
SIZES = [((1, 8, 8, 3), (12, 12)), ((2, 5, 7, 2), (3, 4)), ((1, 4, 6, 2), (9, 5)), ((1, 3, 3, 1), (1, 1)),
         ((1, 1, 1, 2), (3, 2)), ((1, 16, 16, 4), (32, 32))]
QUANT = {np.int8: (0.02, -110), np.uint8: (0.05, 128), np.int16: (0.001, 0)}


def resize_model(op, shape, size, dtype, align, half, const_size=True):
    q = QUANT.get(dtype)
    opts = options("ResizeBilinearOptions" if op == "RESIZE_BILINEAR" else "ResizeNearestNeighborOptions",
                   alignCorners=align, halfPixelCenters=half)
    size_in = ("const", np.array(size, np.int32)) if const_size else ("input", (2,), np.int32)
    return one_op_model(op, [("input", shape, dtype, q), size_in], [((shape[0], *size, shape[3]), dtype, q)], opts)


def full_range(shape, dtype, seed=0):
    """Values over the dtype's whole range (float: a smooth-ish random image)."""
    rng = np.random.default_rng(seed)
    if dtype == np.float32:
        return rng.uniform(-3, 3, shape).astype(np.float32)
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


@pytest.mark.parametrize("shape, size", SIZES, ids=str)
@pytest.mark.parametrize("align, half", BILINEAR_MODES)
@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.uint8, np.int16])
def test_resize_bilinear(shape, size, align, half, dtype):
    assert_same(resize_model("RESIZE_BILINEAR", shape, size, dtype, align, half), [full_range(shape, dtype)])


def test_resize_bilinear_int8_many_values():
    # enough outputs to meet the rounding of negative half-way values
    shape = (1, 10, 10, 16)
    for size in ((20, 20), (15, 7), (4, 13)):
        for align, half in BILINEAR_MODES:
            model = resize_model("RESIZE_BILINEAR", shape, size, np.int8, align, half)
            assert_same(model, [full_range(shape, np.int8, seed=sum(size))])


def test_resize_bilinear_runtime_size_uses_static_output():
    model = resize_model("RESIZE_BILINEAR", (1, 4, 4, 2), (6, 8), np.float32, False, True, const_size=False)
    assert_same(model, [full_range((1, 4, 4, 2), np.float32), np.array([6, 8], np.int32)])


def test_resize_bilinear_align_and_half_is_clear():
    model = resize_model("RESIZE_BILINEAR", (1, 4, 4, 1), (8, 8), np.float32, True, True)
    with pytest.raises(PrepareError, match="half_pixel_centers"):
        Interpreter(model_content=model).allocate_tensors()


@pytest.mark.parametrize("shape, size", SIZES + [((1, 5, 5, 2), (7, 3))], ids=str)
@pytest.mark.parametrize("align, half", BILINEAR_MODES + [(True, True)])
@pytest.mark.parametrize("dtype", [np.float32, np.int8, np.uint8, np.int16])
def test_resize_nearest_neighbor(shape, size, align, half, dtype):
    assert_same(resize_model("RESIZE_NEAREST_NEIGHBOR", shape, size, dtype, align, half),
                [full_range(shape, dtype)])


@pytest.mark.parametrize("dtype", [np.bool_, np.float16, np.int32])
def test_resize_nearest_neighbor_other_types(dtype):
    x = full_range((1, 3, 4, 2), np.int8).astype(dtype)
    assert_same(resize_model("RESIZE_NEAREST_NEIGHBOR", (1, 3, 4, 2), (5, 7), dtype, False, True), [x])


def test_resize_nonpositive_size_is_clear():
    model = resize_model("RESIZE_NEAREST_NEIGHBOR", (1, 4, 4, 1), (0, 8), np.float32, False, False)
    with pytest.raises(PrepareError, match="positive"):
        Interpreter(model_content=model).allocate_tensors()


def test_resize_bilinear_selfie_shapes():
    # the three upsamplings of mediapipe's selfie_segmentation (half-pixel centres)
    for shape in ((1, 16, 16, 128), (1, 32, 32, 24)):
        model = resize_model("RESIZE_BILINEAR", shape, (shape[1] * 2, shape[2] * 2), np.float32, False, True)
        assert_same(model, [sample(shape, np.float32)])
