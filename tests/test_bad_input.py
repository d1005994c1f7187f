"""Broken, hostile or misused input gives a litert error that names the problem: never a crash,
a hang, or a wrong answer."""
import copy
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from converter.builder import GraphBuilder, options
from litert import (ArenaTooSmallError, Interpreter, InvalidModelError, LitertError, TensorError,
                    UnsupportedOpError)
from litert.model import parse_model
from litert.writer import write_model


def small_model():
    b = GraphBuilder()
    x = b.input("x", [2, 3], np.float32)
    c = b.const("c", np.arange(6, dtype=np.float32).reshape(2, 3))
    y = b.tensor("y", [2, 3], np.float32)
    z = b.tensor("z", [2, 3], np.float32)
    b.op("ADD", [x, c], [y], options("AddOptions"))
    b.op("MUL", [y, x], [z], options("MulOptions"))
    b.output(z)
    return b.build()


def mutated(fn):
    """small_model() with its ModelT changed by fn."""
    m = parse_model(small_model()).raw
    m = copy.deepcopy(m)
    fn(m)
    return write_model(m)


def test_small_model_runs():
    it = Interpreter(model_content=small_model())
    it.allocate_tensors()
    x = np.ones((2, 3), np.float32)
    it.set_tensor(it.get_input_details()[0]["index"], x)
    it.invoke()
    np.testing.assert_array_equal(it.get_tensor(it.get_output_details()[0]["index"]),
                                  (x + np.arange(6).reshape(2, 3)) * x)


@pytest.mark.parametrize("data, message", [
    (b"\x00" * 7, "too short"),
    (b"garbage!" * 10, "identifier"),
])
def test_not_a_model(data, message):
    with pytest.raises(InvalidModelError, match=message):
        Interpreter(model_content=data)


def test_no_model_given():
    with pytest.raises(ValueError, match="must be specified"):
        Interpreter(model_content=b"")


def test_wrong_identifier():
    data = bytearray(small_model())
    data[4:8] = b"XYZ3"
    with pytest.raises(InvalidModelError, match="identifier"):
        Interpreter(model_content=bytes(data))


@pytest.mark.parametrize("cut", [8, 12, 40, 100, 200, -64, -8, -1])
def test_truncated(cut):
    data = small_model()
    with pytest.raises(InvalidModelError):
        Interpreter(model_content=data[:cut])


def test_missing_and_empty_file(tmp_path):
    with pytest.raises(InvalidModelError, match="Could not open"):
        Interpreter(model_path=str(tmp_path / "nope.tflite"))
    (tmp_path / "empty.tflite").write_bytes(b"")
    with pytest.raises(InvalidModelError, match="empty"):
        Interpreter(model_path=str(tmp_path / "empty.tflite"))


@pytest.mark.parametrize("change, message", [
    (lambda m: setattr(m.subgraphs[0].operators[0], "inputs", np.array([0, 99], np.int32)), "tensor 99"),
    (lambda m: setattr(m.subgraphs[0].operators[1], "outputs", np.array([-7], np.int32)), "tensor -7"),
    (lambda m: setattr(m.subgraphs[0], "inputs", np.array([5], np.int32)), "subgraph 0 input"),
    (lambda m: setattr(m.subgraphs[0], "outputs", np.array([4], np.int32)), "subgraph 0 output"),
    (lambda m: setattr(m.subgraphs[0].operators[0], "opcodeIndex", 9), "opcode_index 9"),
    (lambda m: setattr(m.subgraphs[0].tensors[1], "buffer", 42), "buffer index 42"),
    (lambda m: setattr(m.subgraphs[0].tensors[1], "shape", np.array([3, 3], np.int32)), "holds 24 bytes"),
    (lambda m: setattr(m.subgraphs[0].tensors[0], "shape", np.array([2, -3], np.int32)), "negative dimension"),
    (lambda m: setattr(m.subgraphs[0].tensors[0], "type", 77), "unknown tensor type"),
    (lambda m: setattr(m, "version", 2), "schema version 2"),
    (lambda m: setattr(m, "subgraphs", []), "no subgraphs"),
])
def test_invalid_structure_is_named(change, message):
    with pytest.raises(InvalidModelError, match=message):
        Interpreter(model_content=mutated(change))


def test_unsupported_ops_are_listed_together():
    def change(m):
        m.operatorCodes[0].builtinCode = m.operatorCodes[0].deprecatedBuiltinCode = 122  # FAKE_QUANT?
        m.operatorCodes[1].builtinCode = m.operatorCodes[1].deprecatedBuiltinCode = 32
        m.operatorCodes[1].customCode = "MyFancyOp"
    with pytest.raises(UnsupportedOpError) as e:
        Interpreter(model_content=mutated(change))
    assert "MyFancyOp" in str(e.value) and len(e.value.ops) == 2


def test_set_tensor_checks_dtype_and_shape():
    it = Interpreter(model_content=small_model())
    it.allocate_tensors()
    i = it.get_input_details()[0]["index"]
    with pytest.raises(ValueError, match="Got value of type FLOAT64 but expected type FLOAT32"):
        it.set_tensor(i, np.ones((2, 3)))
    with pytest.raises(TensorError, match="Dimension mismatch"):
        it.set_tensor(i, np.ones((3, 2), np.float32))
    with pytest.raises(TensorError, match="Dimension mismatch"):
        it.set_tensor(i, np.ones((2, 3, 1), np.float32))
    with pytest.raises(ValueError, match="Invalid tensor index"):
        it.set_tensor(17, np.ones((2, 3), np.float32))
    with pytest.raises(ValueError, match="Invalid tensor index"):
        it.get_tensor(-1)


def test_arena_cap():
    it = Interpreter(model_content=small_model())
    it.allocate_tensors()
    needed = it.arena_used_bytes() + it.persistent_bytes()
    with pytest.raises(ArenaTooSmallError, match="arena_size caps it at 100"):
        Interpreter(model_content=small_model(), arena_size=100).allocate_tensors()
    ok = Interpreter(model_content=small_model(), arena_size=needed)
    ok.allocate_tensors()
    assert ok.arena_used_bytes() == it.arena_used_bytes()


def test_invoke_before_allocate_and_held_views():
    it = Interpreter(model_content=small_model())
    with pytest.raises(RuntimeError, match="not ready"):
        it.invoke()
    it.allocate_tensors()
    view = it.tensor(it.get_input_details()[0]["index"])()
    with pytest.raises(RuntimeError, match="reference to internal data"):
        it.invoke()
    del view
    it.invoke()


FUZZ = textwrap.dedent("""
    import sys, numpy as np
    sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
    from test_bad_input import small_model
    from litert import Interpreter, LitertError
    path = {path!r}
    base = bytearray(small_model() if path is None else open(path, 'rb').read())
    rng = np.random.default_rng({seed})
    for trial in range({trials}):
        data = bytearray(base)
        for _ in range(int(rng.integers(1, 6))):
            pos = int(rng.integers(0, len(data)))
            data[pos] = int(rng.integers(0, 256))
        try:
            it = Interpreter(model_content=bytes(data))
            it.allocate_tensors()
            for d in it.get_input_details():
                it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
            it.invoke()
        except LitertError:
            pass
        except Exception as e:
            print("TRIAL", trial, type(e).__name__, e)
            raise
    print("done")
""")


@pytest.mark.parametrize("seed", range(4))
def test_garbled_bytes_never_crash_or_hang(seed):
    from conftest import ROOT
    code = FUZZ.format(root=str(ROOT), tests=str(ROOT / "tests"), path=None, seed=seed, trials=250)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "done" in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]


@pytest.mark.slow
@pytest.mark.parametrize("name", ["tf/mobilenet_v2_float32", "mediapipe/face_detection_short_range"])
def test_garbled_real_model_never_crashes(name):
    from conftest import ROOT, models_dir
    if models_dir() is None:
        pytest.skip("needs ../shared/models")
    path = str(models_dir() / f"{name}.tflite")
    code = FUZZ.format(root=str(ROOT), tests=str(ROOT / "tests"), path=path, seed=7, trials=40)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0 and "done" in r.stdout, r.stdout[-2000:] + r.stderr[-2000:]


def test_errors_share_a_base_and_subclass_valueerror():
    for cls in (InvalidModelError, UnsupportedOpError, TensorError, ArenaTooSmallError):
        assert issubclass(cls, LitertError) and issubclass(cls, ValueError)
