"""TF Lite Micro's person detection model on its two real camera images, bit for bit against
the TF Lite Micro interpreter's outputs (the official full interpreter refuses this file: its
depthwise biases carry quantized_dimension 3).

The images are 96x96 8-bit BMPs with an identity grey palette: pixel data at byte offset 1078,
rows stored bottom-up. The model's int8 input is those bytes with the rows reversed,
reinterpreted as int8 (no -128 shift): what the TFLM example feeds it.
"""
import numpy as np
import pytest

from conftest import models_dir

BMP_PIXELS = 1078                # 14-byte file header + 40-byte info header + 256 x 4 palette
MY_OPS = {"CONV_2D", "DEPTHWISE_CONV_2D"}   # the other ops come from other kernel modules


def bmp_to_input(path):
    raw = np.fromfile(path, np.uint8)
    assert raw[:2].tobytes() == b"BM" and raw.size == BMP_PIXELS + 96 * 96, path
    return raw[BMP_PIXELS:].reshape(96, 96)[::-1].view(np.int8).reshape(1, 96, 96, 1)


def interpreter_or_skip(path):
    """litert's interpreter for the model, or a skip naming the op that litert cannot run yet
    (as long as it is not one of the convolutions this test is about)."""
    from litert import Interpreter
    from litert.errors import LitertError
    it = Interpreter(model_path=str(path), num_threads=1)
    try:
        it.allocate_tensors()
    except (LitertError, NotImplementedError) as e:
        text = str(e)
        if not any(f"({op})" in text for op in MY_OPS):
            pytest.skip(f"litert cannot run person_detect yet: {text}")
        raise
    return it


@pytest.fixture(scope="module")
def tflm():
    root = models_dir()
    if root is None:
        pytest.skip("reference models are not available")
    return root / "tflm"


@pytest.mark.parametrize("image,reference,want", [
    ("person.bmp", "person_detect_person", [-113, 113]),
    ("no_person.bmp", "person_detect_no_person", [57, -57]),
])
def test_person_detect_on_camera_images(tflm, image, reference, want):
    x = bmp_to_input(tflm / image)
    # the converted image is the input the TFLM reference ran on
    np.testing.assert_array_equal(x, np.load(tflm / f"{reference}.input0.npy"))
    expected = np.load(tflm / f"{reference}.tflm_output0.npy")
    np.testing.assert_array_equal(expected.reshape(-1), want)

    it = interpreter_or_skip(tflm / "person_detect.tflite")
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    assert inp["dtype"] == np.int8 and tuple(inp["shape"]) == (1, 96, 96, 1)
    it.set_tensor(inp["index"], x)
    it.invoke()
    got = it.get_tensor(out["index"])
    assert got.dtype == np.int8
    np.testing.assert_array_equal(got, expected)
    # index 1 is "person"
    assert int(np.argmax(got)) == (1 if image == "person.bmp" else 0)
