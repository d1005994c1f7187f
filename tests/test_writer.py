"""litert's writer: read -> write -> read is exact field for field, writing is deterministic,
buffers are 16-byte aligned, and what we write runs in the official interpreter unchanged."""
import numpy as np
import pytest

from litert import schema_fb
from litert.model import load_model, parse_model
from litert.writer import save_model, write_model
from test_schema import _run, assert_same, model_params


def normalized_codes(model_t):
    for oc in model_t.operatorCodes or []:
        code = max(oc.builtinCode, oc.deprecatedBuiltinCode)
        oc.builtinCode, oc.deprecatedBuiltinCode = code, min(code, 127)
    return model_t


@model_params
def test_write_read_round_trip(path):
    m1 = load_model(model_path=str(path)).raw
    out = write_model(m1)
    m2 = parse_model(out).raw
    assert_same(normalized_codes(schema_fb.ModelT.InitFromPackedBuf(path.read_bytes(), 0)), m2)
    assert write_model(m2) == out          # deterministic and stable
    root = schema_fb.Model.GetRootAs(out, 0)
    for i in range(root.BuffersLength()):
        buf = root.Buffers(i)
        if buf.DataLength():
            start = buf._tab.Vector(buf._tab.Offset(4))
            assert start % 16 == 0, f"buffer {i} starts at {start}"


@model_params
def test_written_model_runs_identically_in_official(path):
    if path.name == "person_detect.tflite":
        pytest.skip("the official interpreter rejects person_detect.tflite")
    interp_mod = pytest.importorskip("ai_edge_litert.interpreter")
    out = write_model(load_model(model_path=str(path)).raw)
    stem = path.name[:-len(".tflite")]
    inputs, i = [], 0
    while (path.parent / f"{stem}.input{i}.npy").is_file():
        inputs.append(np.load(path.parent / f"{stem}.input{i}.npy"))
        i += 1
    if not inputs:
        interp_mod.Interpreter(model_content=out).allocate_tensors()
        return
    want = _run(interp_mod.Interpreter, path.read_bytes(), inputs)
    got = _run(interp_mod.Interpreter, out, inputs)
    for w, g in zip(want, got):
        assert w.dtype == g.dtype and np.array_equal(w, g, equal_nan=True)


def test_save_model_is_atomic(tmp_path):
    from converter.builder import GraphBuilder, options
    b = GraphBuilder()
    x = b.input("x", [2], np.float32)
    y = b.tensor("y", [2], np.float32)
    b.op("ADD", [x, x], [y], options("AddOptions"))
    b.output(y)
    model = parse_model(b.build()).raw
    target = tmp_path / "m.tflite"
    target.write_bytes(b"old")
    save_model(model, str(target))
    assert target.read_bytes()[4:8] == b"TFL3"
    assert [p.name for p in tmp_path.iterdir()] == ["m.tflite"]
