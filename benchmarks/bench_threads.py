"""litert with 1 and 2 threads against the official interpreter with 1 and 2 threads, in one run.

For each model, six interpreters: litert, the official built-in kernels
(BUILTIN_WITHOUT_DEFAULT_DELEGATES) and the official default (XNNPACK), each with num_threads 1
and 2. Every round invokes each of them once, in a rotating order, so all six share the machine's
noise (the machine is shared and has 2 cores: only ratios taken from the same run mean anything).
The table gives median and min ms per invoke; speed-up = 1 thread / 2 threads of the same
runtime; ratio = litert / official at the same thread count (< 1: litert faster). litert's outputs
with 2 threads must equal its 1-thread outputs bit for bit (checked and printed).

  python benchmarks/bench_threads.py                        the four default models
  python benchmarks/bench_threads.py m.tflite --no-defaults --runs 100 --threads 1 2 3
  python benchmarks/bench_threads.py --json out.json
"""
import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
for p in (ROOT, ROOT / "benchmarks"):
    if str(p) not in sys.path:
        sys.path.insert(0, str(p))

from bench_vs_official import machine_info, make_inputs, model_paths  # noqa: E402

DEFAULT_MODELS = ["tf/mobilenet_v2_float32.tflite", "tf/mobilenet_v2_int8.tflite",
                  "tflm/mobilenet_v2_quantized_1x3x224x224.tflite",
                  "mediapipe/face_detection_short_range.tflite"]
RUNTIMES = ("litert", "builtin", "xnnpack")
LABELS = {"litert": "litert", "builtin": "official built-in", "xnnpack": "official XNNPACK"}


def make_interpreter(runtime, path, threads):
    if runtime == "litert":
        import litert
        return litert.Interpreter(model_path=path, num_threads=threads)
    from ai_edge_litert import interpreter as official
    kind = ("BUILTIN_WITHOUT_DEFAULT_DELEGATES" if runtime == "builtin" else "AUTO")
    return official.Interpreter(model_path=path, num_threads=threads,
                                experimental_op_resolver_type=getattr(official.OpResolverType, kind))


def _invoke_ms(it):
    t0 = time.perf_counter()
    it.invoke()
    return (time.perf_counter() - t0) * 1e3


def time_model(path, threads, runs, warmup, gap_ms):
    """{"configs": {(runtime, threads): stats or {"error"}}, ...} for one model."""
    path = str(path)
    its, result = {}, {"model": path, "configs": {}}
    for rt in RUNTIMES:
        for n in threads:
            try:
                it = make_interpreter(rt, path, n)
                it.allocate_tensors()
                its[(rt, n)] = it
            except Exception as e:   # noqa: BLE001  (report and go on with the rest)
                result["configs"][(rt, n)] = {"error": f"{type(e).__name__}: {' '.join(str(e).split())[:160]}"}
    if not its:
        return result
    inputs, result["inputs"] = make_inputs(path, next(iter(its.values())).get_input_details())
    outputs = {}
    for key, it in list(its.items()):
        try:
            for d, x in zip(it.get_input_details(), inputs):
                it.set_tensor(d["index"], x)
            for _ in range(1 + warmup):
                it.invoke()
            outputs[key] = [it.get_tensor(d["index"]).copy() for d in it.get_output_details()]
        except Exception as e:   # noqa: BLE001
            result["configs"][key] = {"error": f"{type(e).__name__}: {e}"}
            del its[key]
    order = list(its)
    times = {k: [] for k in order}
    for r in range(runs):
        for j in range(len(order)):               # rotate: nobody always goes first
            key = order[(r + j) % len(order)]
            if gap_ms:
                time.sleep(gap_ms / 1e3)          # the previous runtime's spinning threads settle
            times[key].append(_invoke_ms(its[key]))
    for key in order:
        t = np.array(times[key])
        result["configs"][key] = {"median_ms": float(np.median(t)), "min_ms": float(t.min()), "runs": len(t)}
    base = outputs.get(("litert", threads[0]))
    if base is not None:
        result["litert_bit_identical"] = {
            n: all(a.tobytes() == b.tobytes() for a, b in zip(base, outputs[("litert", n)]))
            for n in threads[1:] if ("litert", n) in outputs}
        result["litert_split_ops"] = {n: _split_ops(its[("litert", n)]) for n in threads if ("litert", n) in its}
    return result


def _split_ops(it):
    """How many of the interpreter's ops run in more than one chunk."""
    count = 0
    for step in it._runtimes[0].steps:
        chunks = getattr(step.data, "chunks", None)
        if chunks is None and isinstance(step.data, tuple) and step.data and isinstance(step.data[-1], list):
            chunks = step.data[-1]
        count += bool(chunks) and len(chunks) > 1
    return count


def _cell(c):
    return f"{c['median_ms']:.2f} / {c['min_ms']:.2f}" if "median_ms" in c else "-"


def _ratio(a, b):
    if "median_ms" not in a or "median_ms" not in b:
        return "-"
    return f"{a['median_ms'] / b['median_ms']:.2f} / {a['min_ms'] / b['min_ms']:.2f}"


def print_table(results, threads):
    print("\nms per invoke (median / min). speed-up = 1 thread / N threads of the same runtime; "
          "ratio = litert / official at N threads (< 1: litert faster)")
    for r in results:
        c = r["configs"]
        print(f"\n{Path(r['model']).name}  (inputs: {r.get('inputs', '-')})")
        head = f"  {'runtime':<18}" + "".join(f"{f'{n} thread(s)':>17}" for n in threads) + \
            "".join(f"{f'speed-up x{n}':>15}" for n in threads[1:])
        print(head)
        for rt in RUNTIMES:
            row = f"  {LABELS[rt]:<18}" + "".join(f"{_cell(c.get((rt, n), {})):>17}" for n in threads)
            row += "".join(f"{_ratio(c.get((rt, threads[0]), {}), c.get((rt, n), {})):>15}" for n in threads[1:])
            print(row)
        for ref in ("builtin", "xnnpack"):
            print(f"  {'ratio vs ' + ref:<18}" + "".join(
                f"{_ratio(c.get(('litert', n), {}), c.get((ref, n), {})):>17}" for n in threads))
        for key, v in c.items():
            if "error" in v:
                print(f"  {LABELS[key[0]]} with {key[1]} thread(s) cannot run: {v['error']}")
        if "litert_bit_identical" in r:
            same = ", ".join(f"{n} threads: {'yes' if ok else 'NO'}" for n, ok in r["litert_bit_identical"].items())
            split = ", ".join(f"{n}: {k}" for n, k in r["litert_split_ops"].items())
            print(f"  litert outputs bit-identical to 1 thread: {same}; ops split per thread count: {split}")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", help="more .tflite files")
    p.add_argument("--no-defaults", action="store_true", help="only the models given")
    p.add_argument("--threads", type=int, nargs="+", default=[1, 2], help="thread counts (default: 1 2)")
    p.add_argument("--runs", type=int, default=50, help="interleaved timed rounds (default: 50)")
    p.add_argument("--warmup", type=int, default=5, help="untimed invokes after the first (default: 5)")
    p.add_argument("--gap-ms", type=float, default=0.0,
                   help="pause before each invoke, so that the threads of the runtime timed before (the "
                        "official thread pools spin after a run, taking a core) go idle (default: 0)")
    p.add_argument("--json", metavar="OUT", help="save the results as JSON")
    args = p.parse_args(argv)
    paths = model_paths(p, args, DEFAULT_MODELS)
    if not paths:
        p.error("no models to run")
    threads = sorted(set(args.threads))
    results = []
    for path in paths:
        print(f"timing {path} ...", file=sys.stderr, flush=True)
        results.append(time_model(path, threads, args.runs, args.warmup, args.gap_ms))
    print(f"machine: {machine_info()}; load average before: {os.getloadavg()[0]:.2f}; "
          f"{args.runs} interleaved rounds")
    print_table(results, threads)
    if args.json:
        out = {"machine": machine_info(), "runs": args.runs, "threads": threads,
               "results": [dict(r, configs={f"{k[0]}/{k[1]}": v for k, v in r["configs"].items()})
                           for r in results]}
        Path(args.json).write_text(json.dumps(out, indent=1, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
