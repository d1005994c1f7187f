"""int8 convolutions: litert against the official built-in kernels, on one thread, in one run.

  python benchmarks/bench_int8.py                      the two MobileNetV2 int8 models
  python benchmarks/bench_int8.py m.tflite --runs 50 --json out.json
  python benchmarks/bench_int8.py --no-models          only the per-convolution comparison

Two measurements per model, each interleaving litert and the official interpreter round after
round so that they share the machine's noise (medians and mins; ratios litert / official, < 1:
litert faster):
1. The whole model (bench_vs_official.time_model): litert, the official built-in kernels
   (OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES) and the official default (XNNPACK). A model
   litert cannot run yet (an op another module has not got) is reported and skipped. litert's
   output is also checked against the reference kernels' output (<name>.ref_output0.npy).
2. Every CONV_2D / DEPTHWISE_CONV_2D of the model alone (a one-op model with the model's
   weights, fed the input the reference kernels gave it, from <name>.intermediates.npz when
   present), litert against the official built-in kernels and XNNPACK; summed per op type. This
   measures the convolution family even while other ops of the model are missing, and shows
   which kind of layer keeps litert behind XNNPACK.
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from bench_vs_official import _models_dir, make_inputs, print_table, time_model  # noqa: E402
from converter.builder import op_model  # noqa: E402

DEFAULT_MODELS = ["tf/mobilenet_v2_int8.tflite", "tflm/mobilenet_v2_quantized_1x3x224x224.tflite"]
CONV_OPS = ("CONV_2D", "DEPTHWISE_CONV_2D")


def conv_inputs(model_path, model, op, rng):
    """The input the reference kernels gave `op` (saved intermediates), else seeded random data."""
    sg = model.subgraphs[0]
    x_index = op.inputs[0]
    saved = Path(model_path).with_suffix(".intermediates.npz")
    if saved.is_file():
        z = np.load(saved)
        if f"t{x_index}" in z.files:
            return z[f"t{x_index}"]
        if x_index in sg.inputs:
            ref = Path(model_path).with_suffix(f".input{list(sg.inputs).index(x_index)}.npy")
            if ref.is_file():
                return np.load(ref)
    t = sg.tensors[x_index]
    info = np.iinfo(t.dtype)
    return rng.integers(info.min, int(info.max) + 1, t.shape).astype(t.dtype)


def time_convolutions(model_path, runs):
    """{op type: {count, <who>_median_ms, <who>_min_ms for who in litert, official (built-in),
    xnnpack}}, each the sum over that type's operators of per-operator medians / mins."""
    from ai_edge_litert import interpreter as official

    import litert
    from litert.model import load_model
    model = load_model(str(model_path))
    rng = np.random.default_rng(0)
    totals = {}
    for op in model.subgraphs[0].operators:
        if op.name not in CONV_OPS:
            continue
        content = op_model(model.subgraphs[0], op)[0]
        x = conv_inputs(model_path, model, op, rng)
        its = {"litert": litert.Interpreter(model_content=content, num_threads=1),
               "official": official.Interpreter(
                   model_content=content, num_threads=1,
                   experimental_op_resolver_type=official.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES),
               "xnnpack": official.Interpreter(model_content=content, num_threads=1)}
        times = {k: [] for k in its}
        for it in its.values():
            it.allocate_tensors()
            it.set_tensor(it.get_input_details()[0]["index"], x)
            it.invoke()
        names = list(its)
        for r in range(runs):
            for name in names[r % 3:] + names[:r % 3]:     # rotate who goes first
                t0 = time.perf_counter()
                its[name].invoke()
                times[name].append((time.perf_counter() - t0) * 1e3)
        t = totals.setdefault(op.name, {"count": 0, **{f"{k}_{s}_ms": 0.0 for k in its for s in ("median", "min")}})
        t["count"] += 1
        for name, v in times.items():
            t[f"{name}_median_ms"] += float(np.median(v))
            t[f"{name}_min_ms"] += float(np.min(v))
    return totals


def check_against_reference(model_path):
    """max |litert - reference kernels| on the model's reference input, or an error text."""
    import litert
    ref = Path(model_path).with_suffix(".ref_output0.npy")
    if not ref.is_file():
        return "no reference output"
    try:
        it = litert.Interpreter(model_path=str(model_path), num_threads=1)
        it.allocate_tensors()
        inputs, _ = make_inputs(model_path, it.get_input_details())
        for d, x in zip(it.get_input_details(), inputs):
            it.set_tensor(d["index"], x)
        it.invoke()
        got = it.get_tensor(it.get_output_details()[0]["index"])
    except Exception as e:   # noqa: BLE001
        return f"cannot run: {type(e).__name__}: {e}"
    return int(np.abs(got.astype(np.int64) - np.load(ref).astype(np.int64)).max())


def print_convolutions(name, totals):
    print(f"\n{name}: each convolution alone, summed per op type, ms (median / min); ratio = litert / "
          "official")
    head = (f"{'op':<20} {'count':>5} {'litert':>15} {'built-in':>15} {'ratio':>13} {'XNNPACK':>15} "
            f"{'ratio':>13}")
    print(head)
    print("-" * len(head))
    rows = list(totals.items())
    if rows:
        rows.append(("all", {k: sum(t[k] for _, t in rows) for k in rows[0][1]}))
    for op, t in rows:
        line = f"{op:<20} {t['count']:>5} {t['litert_median_ms']:>7.2f} / {t['litert_min_ms']:<5.2f}"
        for who in ("official", "xnnpack"):
            line += (f" {t[f'{who}_median_ms']:>7.2f} / {t[f'{who}_min_ms']:<5.2f}"
                     f" {t['litert_median_ms'] / t[f'{who}_median_ms']:>5.2f} / "
                     f"{t['litert_min_ms'] / t[f'{who}_min_ms']:<5.2f}")
        print(line)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("models", nargs="*", help="int8 .tflite files (default: the MobileNetV2 int8 pair)")
    ap.add_argument("--runs", type=int, default=30, help="interleaved rounds per measurement")
    ap.add_argument("--warmup", type=int, default=3)
    ap.add_argument("--no-models", action="store_true", help="skip the whole-model comparison")
    ap.add_argument("--json", help="save the results here")
    args = ap.parse_args(argv)
    paths = [Path(m) for m in args.models]
    if not paths:
        root = _models_dir()
        if root is None:
            ap.error("no models given and the reference models directory was not found")
        paths = [root / m for m in DEFAULT_MODELS]
    results = []
    for path in paths:
        res = {"model": str(path)}
        if not args.no_models:
            res.update(time_model(path, args.runs, args.warmup))
            res["max_abs_diff_vs_reference_kernels"] = check_against_reference(path)
        res["convolutions"] = time_convolutions(path, args.runs)
        results.append(res)
    if not args.no_models:
        print_table(results)
        for r in results:
            print(f"    {Path(r['model']).name}: litert vs reference kernels, max |diff|: "
                  f"{r['max_abs_diff_vs_reference_kernels']}")
    for r in results:
        print_convolutions(Path(r["model"]).name, r["convolutions"])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
