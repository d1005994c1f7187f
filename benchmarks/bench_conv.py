"""Time MobileNetV2 float's convolutions in litert against the official interpreter, one thread.

    .venv/bin/python benchmarks/bench_conv.py [--runs 30] [--model PATH]

Two models are timed in the same run, each as the median of --runs invokes after warm-up:
- "trunk": MobileNetV2 cut after its last convolution (35 CONV_2D, 17 DEPTHWISE_CONV_2D and the
  10 residual ADDs): nearly all of the model's time, and runnable with the conv kernels alone.
- "full": the whole model, when litert has every kernel it needs (MEAN, FULLY_CONNECTED, SOFTMAX).
Against the official built-in kernels (OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES: the
project's bar is litert <= 1.5x) and the default XNNPACK delegate. Then litert's per-op profile
of the trunk, summed per op type, and its slowest layers.
"""
import argparse
import os
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from litert import Interpreter  # noqa: E402
from litert import schema_fb as fb  # noqa: E402
from litert.errors import UnsupportedOpError  # noqa: E402
from litert.model import load_model  # noqa: E402
from litert.writer import write_model  # noqa: E402

DEFAULT_MODEL = ROOT.parent / "shared" / "models" / "tf" / "mobilenet_v2_float32.tflite"
CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def truncate_after_last_conv(content):
    """The model's bytes with every operator after the last convolution dropped; that conv's
    output becomes the only model output."""
    ops = load_model(model_content=content).subgraphs[0].operators
    last = max(i for i, op in enumerate(ops) if op.name in CONV_OPS)
    m = fb.ModelT.InitFromPackedBuf(content, 0)
    sg = m.subgraphs[0]
    sg.operators = sg.operators[:last + 1]
    sg.outputs = np.asarray([sg.operators[-1].outputs[0]], np.int32)
    m.signatureDefs = None
    return write_model(m)


def official(content, resolver):
    from ai_edge_litert.interpreter import Interpreter as Official, OpResolverType
    return Official(model_content=content, num_threads=1,
                    experimental_op_resolver_type=getattr(OpResolverType, resolver))


def ready(it, x):
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], x)
    for _ in range(3):   # warm-up (and numba's first calls)
        it.invoke()
    return it


def interleaved_medians(interpreters, runs):
    """Median ms per interpreter, timed round-robin so that load from other processes on this
    shared machine hits them alike."""
    times = [[] for _ in interpreters]
    for _ in range(runs):
        for k, it in enumerate(interpreters):
            t0 = time.perf_counter()
            it.invoke()
            times[k].append(time.perf_counter() - t0)
    return [statistics.median(t) * 1e3 for t in times]


def output(it):
    return it.get_tensor(it.get_output_details()[0]["index"]).copy()


def bench(name, content, x, runs):
    print(f"\n== {name} ==")
    runners = [ready(official(content, "BUILTIN_WITHOUT_DEFAULT_DELEGATES"), x),
               ready(official(content, "AUTO"), x)]
    try:
        runners.append(ready(Interpreter(model_content=content, num_threads=1), x))
    except UnsupportedOpError as e:
        print(f"litert: n/a ({', '.join(e.ops)} missing)")
    ms = interleaved_medians(runners, runs)
    print(f"official built-in kernels : {ms[0]:8.2f} ms")
    print(f"official XNNPACK          : {ms[1]:8.2f} ms")
    if len(runners) < 3:
        return None
    want, got = output(runners[0]), output(runners[2])
    err = float(np.max(np.abs(got - want)) / max(np.max(np.abs(want)), 1e-30))
    print(f"litert                    : {ms[2]:8.2f} ms   = {ms[2] / ms[0]:.2f}x built-in, "
          f"{ms[2] / ms[1]:.2f}x XNNPACK   (max |diff| / max |ref| = {err:.1e})")
    return runners[2]


def profile(it, runs):
    it.enable_profiling()
    for _ in range(runs):
        it.invoke()
    rows = it.profile()
    it.enable_profiling(False)
    per_op = {}
    for _, index, name, ns in rows:
        per_op.setdefault((index, name), []).append(ns)
    med = {k: statistics.median(v) / 1e6 for k, v in per_op.items()}
    by_type = {}
    for (_, name), ms in med.items():
        by_type[name] = by_type.get(name, 0.0) + ms
    print(f"\nlitert per-op medians summed by type (trunk; all ops {sum(by_type.values()):.2f} ms):")
    for name, ms in sorted(by_type.items(), key=lambda kv: -kv[1]):
        print(f"  {name:20s} {ms:7.2f} ms")
    print("slowest layers:")
    model_ops = it._model.subgraphs[0].operators
    for (index, name), ms in sorted(med.items(), key=lambda kv: -kv[1])[:8]:
        shapes = [it._model.subgraphs[0].tensors[i].shape for i in model_ops[index].inputs[:2]]
        print(f"  op {index:3d} {name:18s} {ms:6.3f} ms  input, filter {shapes}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(DEFAULT_MODEL))
    ap.add_argument("--runs", type=int, default=30)
    args = ap.parse_args()
    content = Path(args.model).read_bytes()
    shape = load_model(model_content=content).subgraphs[0].tensors[
        load_model(model_content=content).subgraphs[0].inputs[0]].shape
    x = np.random.default_rng(0).uniform(-1, 1, shape).astype(np.float32)
    trunk = bench("trunk (up to the last convolution)", truncate_after_last_conv(content), x, args.runs)
    bench("full model", content, x, args.runs)
    if trunk is not None:
        profile(trunk, args.runs)


if __name__ == "__main__":
    main()
