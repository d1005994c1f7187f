"""Every reference model in ../shared/models runs in litert and matches the official
interpreter by the corpus rules (../shared/tools/conformance.py is the judge: one subprocess
per model, so a crash or hang fails that model alone)."""
import json
import os
import subprocess
import sys

import pytest

from conftest import ROOT, models_dir

MODELS = models_dir()
TOOL = MODELS.parent / "tools" / "conformance.py" if MODELS else None

# Every corpus model with a reference output: float (the core runtime issue), dynamic-range,
# int8 and int16 (the integer issue; bit-exact with the reference kernels).
MODELS_WITH_REFERENCE = sorted(
    str(p.relative_to(MODELS))[:-len(".tflite")] for p in MODELS.rglob("*.tflite")
    if any(p.with_name(p.stem + f".{k}0.npy").exists() for k in ("ref_output", "builtin_output", "output", "tflm_output"))
) if MODELS else []
FLOAT_MODELS = [
    "litert/add_10x10", "litert/ff", "litert/multi_signature_model", "litert/norm", "litert/rope",
    "litert/simple_add_dynamic_shape", "litert/sqrt_mean_mul_ops", "litert/torchaudio_conformer",
    "mediapipe/face_detection_short_range", "mediapipe/face_landmark", "mediapipe/hand_recrop",
    "mediapipe/selfie_segmentation", "tf/mlp_float32", "tf/mobilenet_v2_float32", "tf/ops_zoo_float32",
    "tf/tiny_cnn_float32", "tf/tiny_cnn_fp16", "tflm/hello_world_float", "tflm/trained_lstm",
]

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(TOOL is None or not TOOL.exists(), reason="needs ../shared/models and tools")]


def run_conformance(name):
    path = MODELS / f"{name}.tflite"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    r = subprocess.run([sys.executable, str(TOOL), "--timeout", "600", str(path)], capture_output=True,
                       text=True, timeout=900, env=env)
    return r.returncode, r.stdout + r.stderr


def test_corpus_holds_the_float_models():
    assert set(FLOAT_MODELS) <= set(MODELS_WITH_REFERENCE)
    assert len(MODELS_WITH_REFERENCE) >= 35


@pytest.mark.parametrize("name", MODELS_WITH_REFERENCE)
def test_model_matches_official(name):
    rc, out = run_conformance(name)
    assert rc == 0, out
    assert "1 passed, 0 failed" in out, out
