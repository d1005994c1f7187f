"""The `litert` command: run / inspect / bench on tiny models built here, and its error cases."""
import subprocess
import sys

import numpy as np
import pytest

from conftest import ROOT, models_dir
from oneop import GraphBuilder, options
from litert.cli import _summary, main


def _add_model(path, signature=False, dynamic=False):
    """sum = x + y, both [2, 3] float32 (x's batch dimension dynamic if asked)."""
    b = GraphBuilder()
    x = b.input("x", [2, 3], np.float32, shape_signature=[-1, 3] if dynamic else None)
    y = b.input("y", [1, 3] if dynamic else [2, 3], np.float32)
    s = b.tensor("sum", [2, 3], np.float32, shape_signature=[-1, 3] if dynamic else None)
    b.op("ADD", [x, y], [s], options("AddOptions"))
    b.output(s)
    if signature:
        b.signature("serve", {"a": x, "b": y}, {"out": s})
    path.write_bytes(b.build())
    return str(path)


@pytest.fixture
def model(tmp_path):
    return _add_model(tmp_path / "add.tflite")


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def _npy(tmp_path, name, arr):
    p = tmp_path / name
    np.save(p, arr)
    return str(p)


# -- run --------------------------------------------------------------------------------------
def test_run_by_name_and_position_saves_outputs(model, tmp_path, capsys):
    x = np.arange(6, dtype=np.float32).reshape(2, 3)
    y = np.full((2, 3), 0.5, np.float32)
    code, out, _ = _run(capsys, "run", model, "--input", f"x={_npy(tmp_path, 'x.npy', x)}",
                        "--input", f"1={_npy(tmp_path, 'y.npy', y)}", "--output-dir", tmp_path / "out")
    assert code == 0, out
    assert "output 0 'sum': shape [2, 3] float32" in out
    assert "min 0.5  max 5.5" in out
    np.testing.assert_array_equal(np.load(tmp_path / "out" / "0_sum.npy"), x + y)


def test_run_fills_missing_inputs_with_seeded_random(model, tmp_path, capsys):
    code, out, _ = _run(capsys, "run", model, "-o", tmp_path / "a", "--seed", 7)
    assert code == 0
    assert out.count("<- random uniform [-1, 1) (seed 7)") == 2
    first = np.load(tmp_path / "a" / "0_sum.npy")
    _run(capsys, "run", model, "-o", tmp_path / "b", "--seed", 7)
    np.testing.assert_array_equal(first, np.load(tmp_path / "b" / "0_sum.npy"))
    assert np.abs(first).max() <= 2 and np.abs(first).max() > 0


def test_run_signature(tmp_path, capsys):
    model = _add_model(tmp_path / "sig.tflite", signature=True)
    a = np.ones((2, 3), np.float32)
    code, out, _ = _run(capsys, "run", model, "--signature", "serve", "--input", f"a={_npy(tmp_path, 'a.npy', a)}",
                        "--input", f"b={_npy(tmp_path, 'b.npy', a * 2)}", "-o", tmp_path / "o")
    assert code == 0, out
    assert "output 0 'out'" in out
    np.testing.assert_array_equal(np.load(tmp_path / "o" / "0_out.npy"), a * 3)
    code, _, err = _run(capsys, "run", model, "--signature", "nope")
    assert code == 2 and "no such signature" in err and "'serve'" in err


def test_run_resizes_a_dynamic_input(tmp_path, capsys):
    model = _add_model(tmp_path / "dyn.tflite", dynamic=True)
    x = np.ones((4, 3), np.float32)
    code, out, _ = _run(capsys, "run", model, "--input", f"x={_npy(tmp_path, 'x.npy', x)}", "-o", tmp_path / "o")
    assert code == 0, out
    assert np.load(tmp_path / "o" / "0_sum.npy").shape == (4, 3)


def test_run_converts_exact_values_and_float64(model, tmp_path, capsys):
    code, out, _ = _run(capsys, "run", model, "--input", f"0={_npy(tmp_path, 'i.npy', np.ones((2, 3), np.int64))}",
                        "--input", f"1={_npy(tmp_path, 'f.npy', np.ones((2, 3)))}")
    assert code == 0
    assert "int64 converted to float32" in out and "float64 converted to float32" in out


@pytest.mark.parametrize("spec, message", [
    ("x.npy", "expected NAME=FILE.npy"),
    ("=x.npy", "expected NAME=FILE.npy"),
    ("x=", "expected NAME=FILE.npy"),
    ("nosuch={x}", "no input named 'nosuch'"),
    ("5={x}", "the model has 2 inputs"),
    ("x={missing}", "no such file"),
    ("x={garbage}", "cannot read"),
    ("x={wrong_shape}", "has shape [2, 3]"),
    ("x={wrong_type}", "do not convert to it exactly"),
])
def test_run_bad_inputs(model, tmp_path, capsys, spec, message):
    files = {"x": _npy(tmp_path, "x.npy", np.zeros((2, 3), np.float32)), "missing": tmp_path / "none.npy",
             "garbage": tmp_path / "garbage.npy",
             "wrong_shape": _npy(tmp_path, "s.npy", np.zeros((3, 2), np.float32)),
             "wrong_type": _npy(tmp_path, "t.npy", np.array([["a", "b", "c"]] * 2))}
    (tmp_path / "garbage.npy").write_bytes(b"not numpy at all")
    code, out, err = _run(capsys, "run", model, "--input", spec.format(**files))
    assert code == 2
    assert message in err
    assert "Traceback" not in err


def test_run_input_given_twice(model, tmp_path, capsys):
    x = _npy(tmp_path, "x.npy", np.zeros((2, 3), np.float32))
    code, _, err = _run(capsys, "run", model, "--input", f"x={x}", "--input", f"0={x}")
    assert code == 2 and "given twice" in err


def test_missing_and_garbage_model_files(tmp_path, capsys):
    code, _, err = _run(capsys, "run", tmp_path / "nope.tflite")
    assert code == 2 and "no such file" in err
    code, _, err = _run(capsys, "inspect", tmp_path)
    assert code == 2 and "not a file" in err
    junk = tmp_path / "junk.tflite"
    junk.write_bytes(b"\x00" * 64)
    for cmd in ("run", "inspect", "bench"):
        code, _, err = _run(capsys, cmd, junk)
        assert code == 1, cmd
        assert "not a TFLite model" in err and "Traceback" not in err


def test_unsupported_op(tmp_path, capsys):
    b = GraphBuilder()
    x = b.input("x", [4], np.float32)
    y = b.tensor("y", [4], np.float32)
    b.op("NoSuchCustomOp", [x], [y])
    b.output(y)
    path = tmp_path / "custom.tflite"
    path.write_bytes(b.build())
    code, _, err = _run(capsys, "run", path)
    assert code == 1 and "NoSuchCustomOp" in err
    code, out, _ = _run(capsys, "inspect", path)
    assert code == 0
    assert "no litert kernel for: NoSuchCustomOp" in out
    assert "arena plan: not available" in out
    code, _, err = _run(capsys, "inspect", path, "--plot", tmp_path / "p.png")
    assert code == 1 and "not written" in err and not (tmp_path / "p.png").exists()


# -- inspect --------------------------------------------------------------------------------
def test_inspect(tmp_path, capsys):
    model = _add_model(tmp_path / "sig.tflite", signature=True)
    code, out, _ = _run(capsys, "inspect", model)
    assert code == 0
    for text in ("subgraphs: 1, signatures: 1, operators: 1", "signature 'serve' -> subgraph 0",
                 "inputs:  a -> tensor 0, b -> tensor 1", "op counts: ADD x1",
                 "ADD                      [2, 3] [2, 3] -> [2, 3]", "arena plan (3 blocks)",
                 "lower bound: 72 bytes", "persistent: 0 bytes"):
        assert text in out, text
    rows = [line.split() for line in out.splitlines() if line.strip().endswith(("  x", "  y", "  sum"))]
    tensor_rows = [r for r in rows if r[1] in ("input", "output")]
    assert [(r[1], r[-2], r[-1]) for r in tensor_rows] == [("input", "24", "x"), ("input", "24", "y"),
                                                           ("output", "24", "sum")]
    plan_rows = [r for r in rows if r[2] == "0..0"]
    assert sorted(int(r[0].replace(",", "")) for r in plan_rows) == [0, 64, 128]
    assert "arena used: 192 bytes" in out


def test_inspect_plot_writes_png(model, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    png = tmp_path / "plan.png"
    code, out, _ = _run(capsys, "inspect", model, "--plot", png, "--summary")
    assert code == 0
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 1000
    assert "arena plan (" not in out            # --summary leaves the tables out


def test_inspect_plot_without_matplotlib(model, tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    code, _, err = _run(capsys, "inspect", model, "--plot", tmp_path / "p.png")
    assert code == 2 and "pip install matplotlib" in err


def test_inspect_real_model(capsys):
    base = models_dir()
    if base is None or not (base / "litert" / "add_10x10.tflite").is_file():
        pytest.skip("reference models not here")
    code, out, _ = _run(capsys, "inspect", base / "litert" / "add_10x10.tflite")
    assert code == 0 and "arena used:" in out and "'Identity'" in out


def _while_model(path):
    """i = i0; WHILE i < 5: i += 1 (cond and body are subgraphs 1 and 2)."""
    b = GraphBuilder()
    i0 = b.input("i0", [1], np.float32)
    out = b.tensor("i_final", [1], np.float32)
    cond = b.subgraph("cond")
    ci, limit = b.input("ci", [1], np.float32), b.const("limit", np.array([5.0], np.float32))
    flag = b.tensor("flag", [1], np.bool_)
    b.op("LESS", [ci, limit], [flag])
    b.output(flag)
    body = b.subgraph("body")
    bi, one = b.input("bi", [1], np.float32), b.const("one", np.array([1.0], np.float32))
    bo = b.tensor("bo", [1], np.float32)
    b.op("ADD", [bi, one], [bo], options("AddOptions"))
    b.output(bo)
    b.use(0)
    b.op("WHILE", [i0], [out], options("WhileOptions", condSubgraphIndex=cond, bodySubgraphIndex=body))
    b.output(out)
    path.write_bytes(b.build())
    return str(path)


def test_control_flow_model(tmp_path, capsys):
    from litert.registry import registered_names
    if not {"WHILE", "LESS", "ADD"} <= set(registered_names()[0]):
        pytest.skip("WHILE/LESS kernels not registered")
    model = _while_model(tmp_path / "while.tflite")
    code, out, _ = _run(capsys, "run", model, "--input", f"0={_npy(tmp_path, 'z.npy', np.zeros(1, np.float32))}")
    assert code == 0 and "first: [5]" in out
    code, out, _ = _run(capsys, "inspect", model)
    assert code == 0
    assert "subgraph 1 'cond': 3 tensors, 1 operators" in out and "[subgraph 2] bo" in out
    code, out, _ = _run(capsys, "bench", model, "--num-runs", 2, "--profile")
    assert code == 0
    profile = out.split("Per-operator profile")[1]
    assert "WHILE" in profile and " 1:0 " in profile and " 2:0 " in profile
    assert "its time is also inside its caller's" in profile


# -- bench ----------------------------------------------------------------------------------
def test_bench_with_profile(model, capsys):
    code, out, _ = _run(capsys, "bench", model, "--num-runs", 4, "--warmup-runs", 2, "--profile")
    assert code == 0
    for text in ("Initialization (load + allocate_tensors):", "First inference:", "Warmup (2 runs): avg",
                 "Inference (4 runs): avg", "count=4 first=", "Memory: arena 192 bytes (lower bound 72)",
                 "persistent 0 bytes", "Per-operator profile (4 runs", "Per-op-type summary:"):
        assert text in out, text
    profile = out.split("Per-operator profile")[1].splitlines()
    assert any(line.split()[:2] == ["ADD", "0"] and line.rstrip().endswith("100.00%") for line in profile)


@pytest.mark.parametrize("argv", [["bench", "--num-runs", "0"], ["bench", "--warmup-runs", "-1"],
                                  ["run", "--num-threads", "0"], ["bench", "--num-threads", "two"]])
def test_bad_counts(model, capsys, argv):
    with pytest.raises(SystemExit) as e:
        main([argv[0], model] + argv[1:])
    assert e.value.code == 2
    assert argv[1] in capsys.readouterr().err


def test_help_and_usage(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--help"])
    assert e.value.code == 0
    out = capsys.readouterr().out
    assert "examples:" in out and "litert bench" in out
    assert main([]) == 2
    with pytest.raises(SystemExit) as e:
        main(["run"])                         # MODEL missing: argparse's usage error
    assert e.value.code == 2


def test_python_dash_m(model):
    ok = subprocess.run([sys.executable, "-m", "litert", "run", model], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0 and "output 0 'sum'" in ok.stdout
    bad = subprocess.run([sys.executable, "-m", "litert", "bench", model + ".missing"], capture_output=True,
                         text=True, cwd=ROOT)
    assert bad.returncode == 2 and "no such file" in bad.stderr


# -- output summaries -------------------------------------------------------------------------
def test_summary_argmax_and_dequantization():
    lines = "\n".join(_summary(np.array([[0.1, 0.7, 0.2]], np.float32)))
    assert "argmax 1; top-3: 1 (0.7), 2 (0.2), 0 (0.1)" in lines
    q = "\n".join(_summary(np.array([[-128, 127]], np.int8), {"quantization": (0.5, -128)}))
    assert "dequantized (scale 0.5, zero point -128): min 0 max 127.5" in q
    assert "argmax" not in "\n".join(_summary(np.zeros((2, 3), np.float32)))
    assert _summary(np.zeros((0, 3), np.float32)) == ["  (empty)"]
    assert "true: 1 of 2" in _summary(np.array([True, False]))[0]


def _grey_bmp(pixels):
    """An 8-bit BMP with an identity grey palette, rows stored bottom-up (as person.bmp)."""
    import struct
    h, w = pixels.shape
    stride = (w + 3) // 4 * 4
    rows = np.zeros((h, stride), np.uint8)
    rows[:, :w] = pixels
    body = rows[::-1].tobytes()
    palette = np.repeat(np.arange(256, dtype=np.uint8), 4).reshape(256, 4)
    palette[:, 3] = 0
    offset = 14 + 40 + 1024
    header = b"BM" + struct.pack("<IHHI", offset + len(body), 0, 0, offset)
    info = struct.pack("<IiiHHIIiiII", 40, w, h, 1, 8, 0, len(body), 2835, 2835, 256, 0)
    return header + info + palette.tobytes() + body


def test_read_bmp_grey_bottom_up(tmp_path):
    from litert.imageio import read_bmp
    pixels = np.arange(5 * 7, dtype=np.uint8).reshape(5, 7) * 7
    img = read_bmp(_grey_bmp(pixels))
    assert img.shape == (5, 7, 1)
    np.testing.assert_array_equal(img[:, :, 0], pixels)


def test_run_person_detect_on_camera_bmps():
    from oneop import real_model
    path = real_model("tflm/person_detect")
    for image, scores in (("person.bmp", "[-113, 113]"), ("no_person.bmp", "[57, -57]")):
        bmp = path.parent / image
        if not bmp.exists():
            pytest.skip(f"{image} is not in the corpus")
        r = subprocess.run([sys.executable, "-m", "litert", "run", str(path), "--input", f"input={bmp}"],
                           capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stderr
        assert f"first: {scores}" in r.stdout, r.stdout
