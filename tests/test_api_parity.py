"""litert's Interpreter reports the same details as the official one, key by key, for every
reference model the official interpreter loads."""
import numpy as np
import pytest

from conftest import models_dir

MODELS = models_dir()
PATHS = sorted(MODELS.rglob("*.tflite")) if MODELS else []
PATHS = [p for p in PATHS if p.name != "person_detect.tflite"]  # the official build rejects it
official = pytest.importorskip("ai_edge_litert.interpreter")
pytestmark = pytest.mark.skipif(not PATHS, reason="needs ../shared/models")


def assert_same_value(a, b, where):
    if isinstance(b, dict):
        assert isinstance(a, dict) and list(a) == list(b), f"{where}: keys {list(a)} vs {list(b)}"
        for k in b:
            assert_same_value(a[k], b[k], f"{where}.{k}")
    elif isinstance(b, (list, tuple)):
        assert type(a) is type(b) and len(a) == len(b), f"{where}: {a!r} vs {b!r}"
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same_value(x, y, f"{where}[{i}]")
    elif isinstance(b, np.ndarray):
        assert isinstance(a, np.ndarray) and a.dtype == b.dtype and a.shape == b.shape, \
            f"{where}: {a!r} vs {b!r}"
        np.testing.assert_array_equal(a, b, err_msg=where)
    else:
        assert type(a) is type(b) and a == b, f"{where}: {a!r} ({type(a).__name__}) vs {b!r} ({type(b).__name__})"


def both(path):
    from litert import Interpreter
    return Interpreter(model_path=str(path)), official.Interpreter(model_path=str(path))


@pytest.mark.parametrize("path", PATHS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_details_match_official(path):
    ours, theirs = both(path)
    assert_same_value(ours.get_input_details(), theirs.get_input_details(), "inputs")
    assert_same_value(ours.get_output_details(), theirs.get_output_details(), "outputs")
    assert_same_value(ours.get_signature_list(), theirs.get_signature_list(), "signatures")
    assert_same_value(ours._get_full_signature_list(), theirs._get_full_signature_list(), "full signatures")
    assert ours.num_subgraphs() == theirs.num_subgraphs()
    for g in range(theirs.num_subgraphs()):
        mine = ours.get_tensor_details(g)
        official_details = theirs.get_tensor_details(g)
        # the official build appends its kernels' temporaries after the model's own tensors
        assert len(official_details) >= len(mine)
        assert_same_value(mine, official_details[:len(mine)], f"subgraph {g} tensors")
    for key in theirs.get_signature_list():
        a, b = ours.get_signature_runner(key), theirs.get_signature_runner(key)
        assert_same_value(a.get_input_details(), b.get_input_details(), f"signature {key} inputs")
        assert_same_value(a.get_output_details(), b.get_output_details(), f"signature {key} outputs")


@pytest.mark.parametrize("path", PATHS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_details_after_allocate_match_official(path):
    ours, theirs = both(path)
    ours.allocate_tensors()
    theirs.allocate_tensors()
    assert_same_value(ours.get_input_details(), theirs.get_input_details(), "inputs")
    assert_same_value(ours.get_output_details(), theirs.get_output_details(), "outputs")
