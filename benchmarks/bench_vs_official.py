"""litert against the official interpreter (ai_edge_litert), in one run, on one thread.

For each model: litert, the official built-in kernels (BUILTIN_WITHOUT_DEFAULT_DELEGATES) and the
official default (XNNPACK) are invoked in turn, round after round, so that all three share the
machine's noise; median and min per invoke, and litert/official ratios (< 1: litert is faster).
Then cold start: a fresh process that imports, constructs the Interpreter, allocates and invokes
once: litert with an empty numba cache (NUMBA_CACHE_DIR = a new temporary directory), litert with
that cache warm, and the official interpreter.

  python benchmarks/bench_vs_official.py                       the default models
  python benchmarks/bench_vs_official.py m.tflite --runs 50 --json out.json
  python benchmarks/bench_vs_official.py --no-defaults m.tflite --no-cold

A model with ops litert lacks (or that either side cannot run) is reported as such; the rest go on.
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _models_dir():
    env = os.environ.get("LITERT_MODELS_DIR")
    for c in ([Path(env)] if env else []) + [ROOT.parent / "shared" / "models", Path("/work/shared/models")]:
        if c.is_dir():
            return c
    return None


DEFAULT_MODELS = ["tf/mobilenet_v2_float32.tflite", "mediapipe/face_detection_short_range.tflite"]
CONFIGS = ("litert", "builtin", "xnnpack")
LABELS = {"litert": "litert", "builtin": "official built-in", "xnnpack": "official XNNPACK"}


def make_inputs(model_path, details, seed=0):
    """The reference inputs beside the model (<stem>.input<i>.npy) when they fit, else seeded
    random data: floats in [-1, 1), integers over their range (int32/int64: 0..9)."""
    rng = np.random.default_rng(seed)
    stem = Path(model_path).with_suffix("")
    out, source = [], "reference .npy inputs"
    for i, d in enumerate(details):
        ref = Path(f"{stem}.input{i}.npy")
        if ref.is_file():
            arr = np.load(ref)
            if arr.shape == tuple(d["shape"]) and arr.dtype == d["dtype"]:
                out.append(arr)
                continue
        source = f"random (seed {seed})"
        dt, shape = np.dtype(d["dtype"]), tuple(int(s) for s in d["shape"])
        if dt.kind == "f":
            out.append(rng.uniform(-1, 1, shape).astype(dt))
        elif dt.kind == "b":
            out.append(rng.integers(0, 2, shape).astype(dt))
        elif dt.itemsize <= 2:
            info = np.iinfo(dt)
            out.append(rng.integers(info.min, int(info.max) + 1, shape).astype(dt))
        else:
            out.append(rng.integers(0, 10, shape).astype(dt))
    return out, source


def open_interpreters(model_path):
    """{config: interpreter or error text}."""
    from ai_edge_litert import interpreter as official

    import litert
    made = {}
    makers = {
        "litert": lambda: litert.Interpreter(model_path=model_path, num_threads=1),
        "builtin": lambda: official.Interpreter(
            model_path=model_path, num_threads=1,
            experimental_op_resolver_type=official.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES),
        "xnnpack": lambda: official.Interpreter(model_path=model_path, num_threads=1),
    }
    for name, make in makers.items():
        try:
            it = make()
            it.allocate_tensors()
            made[name] = it
        except Exception as e:   # noqa: BLE001  (report any failure and go on with the rest)
            msg = str(e).strip().replace("\n", "; ")
            if isinstance(e, litert.UnsupportedOpError):
                msg = "litert has no kernel for " + ", ".join(e.ops)
            made[name] = f"{type(e).__name__}: {msg}"
    return made


def _invoke_ms(it):
    t0 = time.perf_counter()
    it.invoke()
    return (time.perf_counter() - t0) * 1e3


def time_model(model_path, runs, warmup):
    result = {"model": str(model_path), "configs": {}}
    its = open_interpreters(str(model_path))
    ready = {k: v for k, v in its.items() if not isinstance(v, str)}
    for k, v in its.items():
        if isinstance(v, str):
            result["configs"][k] = {"error": v}
    if not ready:
        return result
    details = next(iter(ready.values())).get_input_details()
    inputs, result["inputs"] = make_inputs(model_path, details)
    outputs = {}
    for name, it in ready.items():
        try:
            for d, x in zip(it.get_input_details(), inputs):
                it.set_tensor(d["index"], x)
            first = _invoke_ms(it)
            for _ in range(warmup):
                it.invoke()
            outputs[name] = [it.get_tensor(d["index"]) for d in it.get_output_details()]
            result["configs"][name] = {"first_ms": first}
        except Exception as e:   # noqa: BLE001
            result["configs"][name] = {"error": f"{type(e).__name__}: {e}"}
    live = [n for n in CONFIGS if n in outputs]
    times = {n: [] for n in live}
    for r in range(runs):
        for k in range(len(live)):          # rotate the order so no one always goes first
            name = live[(r + k) % len(live)]
            times[name].append(_invoke_ms(ready[name]))
    for name in live:
        t = np.array(times[name])
        result["configs"][name].update(median_ms=float(np.median(t)), min_ms=float(t.min()),
                                       mean_ms=float(t.mean()), runs=len(t))
    if "litert" in outputs:
        for ref in ("builtin", "xnnpack"):
            if ref in outputs:
                result["configs"][ref]["litert_max_abs_diff"] = _max_diff(outputs["litert"], outputs[ref])
        lit = result["configs"]["litert"]
        for ref in ("builtin", "xnnpack"):
            c = result["configs"].get(ref, {})
            if "median_ms" in c:
                lit[f"ratio_median_vs_{ref}"] = lit["median_ms"] / c["median_ms"]
                lit[f"ratio_min_vs_{ref}"] = lit["min_ms"] / c["min_ms"]
    return result


def _max_diff(a, b):
    worst = 0.0
    for x, y in zip(a, b):
        if x.shape != y.shape:
            return float("inf")
        if x.size:
            worst = max(worst, float(np.max(np.abs(x.astype(np.float64) - y.astype(np.float64)))))
    return worst


COLD_SCRIPT = r"""
import json, os, sys, time
t0 = time.perf_counter()
import numpy as np
if sys.argv[2] == "litert":
    from litert import Interpreter
    make = lambda p: Interpreter(model_path=p, num_threads=1)
else:
    from ai_edge_litert.interpreter import Interpreter
    make = lambda p: Interpreter(model_path=p, num_threads=1)
t1 = time.perf_counter()
it = make(sys.argv[1]); it.allocate_tensors()
t2 = time.perf_counter()
for d in it.get_input_details():
    it.set_tensor(d["index"], np.zeros(d["shape"], d["dtype"]))
it.invoke()
t3 = time.perf_counter()
print(json.dumps({"import_s": t1 - t0, "init_s": t2 - t1, "first_invoke_s": t3 - t2}))
"""


def cold_start(model_path, which, cache_dir=None, timeout=1800):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
    if cache_dir is not None:
        env["NUMBA_CACHE_DIR"] = str(cache_dir)
    t0 = time.perf_counter()
    try:
        proc = subprocess.run([sys.executable, "-c", COLD_SCRIPT, str(model_path), which], env=env,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timed out after {timeout} s"}
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        return {"error": f"exit code {proc.returncode}: {last}"}
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["process_s"] = wall
    return out


def cold_starts(model_path):
    res = {}
    with tempfile.TemporaryDirectory(prefix="litert-numba-cache-") as cache:
        res["litert_empty_cache"] = cold_start(model_path, "litert", cache)
        res["litert_warm_cache"] = cold_start(model_path, "litert", cache)
    res["official"] = cold_start(model_path, "official")
    return res


def _clip(text, limit=160):
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def _fmt(c, key="median_ms"):
    return f"{c[key]:.2f}" if key in c else "-"


def print_table(results):
    print("\nSteady state, 1 thread, ms per invoke (median / min); ratio = litert / official "
          "(< 1: litert faster)")
    head = (f"{'model':<34} {'litert':>15} {'official built-in':>19} {'ratio':>13} "
            f"{'official XNNPACK':>18} {'ratio':>13}")
    print(head)
    print("-" * len(head))
    for r in results:
        c = r["configs"]
        cell = {n: f"{_fmt(c.get(n, {}))} / {_fmt(c.get(n, {}), 'min_ms')}" for n in CONFIGS}
        lit = c.get("litert", {})
        ratio = {ref: (f"{lit[f'ratio_median_vs_{ref}']:.2f} / {lit[f'ratio_min_vs_{ref}']:.2f}"
                       if f"ratio_median_vs_{ref}" in lit else "-") for ref in ("builtin", "xnnpack")}
        print(f"{Path(r['model']).name[:34]:<34} {cell['litert']:>15} {cell['builtin']:>19} "
              f"{ratio['builtin']:>13} {cell['xnnpack']:>18} {ratio['xnnpack']:>13}")
        for n in CONFIGS:
            if "error" in c.get(n, {}):
                print(f"    {LABELS[n]}: cannot run: {_clip(c[n]['error'])}")
        if "litert" in c and "first_ms" in c["litert"]:
            diffs = ", ".join(f"vs {LABELS[ref]} {c[ref]['litert_max_abs_diff']:.3g}"
                              for ref in ("builtin", "xnnpack") if "litert_max_abs_diff" in c.get(ref, {}))
            print(f"    inputs: {r.get('inputs', '-')}; outputs max |litert - official|: {diffs or '-'}")
    if any("cold" in r for r in results):
        print("\nCold start in a fresh process (import + Interpreter + allocate_tensors + first invoke), "
              "seconds")
        print("(total process time; in brackets: import, Interpreter + allocate_tensors, first invoke)")
        head = f"{'model':<34} {'litert, empty numba cache':>26} {'litert, warm cache':>26} {'official':>26}"
        print(head)
        print("-" * len(head))
        for r in results:
            if "cold" not in r:
                continue
            cells = []
            for key in ("litert_empty_cache", "litert_warm_cache", "official"):
                v = r["cold"].get(key, {})
                if "error" in v:
                    cells.append("error")
                elif v:
                    cells.append(f"{v['process_s']:.2f} ({v['import_s']:.2f}, {v['init_s']:.2f}, "
                                 f"{v['first_invoke_s']:.2f})")
                else:
                    cells.append("-")
            print(f"{Path(r['model']).name[:34]:<34} {cells[0]:>26} {cells[1]:>26} {cells[2]:>26}")
            for key, v in r["cold"].items():
                if "error" in v:
                    print(f"    {key}: {_clip(v['error'])}")


def machine_info():
    import numba
    info = {"python": platform.python_version(), "machine": platform.machine(),
            "processor": platform.processor(), "cpus": os.cpu_count(), "numpy": np.__version__,
            "numba": numba.__version__}
    try:
        from importlib.metadata import version
        info["ai_edge_litert"] = version("ai-edge-litert")
    except Exception:   # noqa: BLE001
        info["ai_edge_litert"] = None
    return info


def model_paths(parser, args, defaults):
    """The official interpreter must be importable; the models to time: `defaults` (relative to the
    reference models directory, when it is here) unless --no-defaults, then args.models."""
    try:
        import ai_edge_litert  # noqa: F401
    except ImportError:
        parser.error("the official interpreter is not installed: pip install ai-edge-litert==2.3.0")
    paths = []
    if not args.no_defaults:
        base = _models_dir()
        if base is None:
            print("note: the reference models directory is not here; pass model paths", file=sys.stderr)
        else:
            paths += [base / m for m in defaults if (base / m).is_file()]
    return paths + [Path(m) for m in args.models]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("models", nargs="*", help="more .tflite files (float or integer)")
    p.add_argument("--no-defaults", action="store_true", help="only the models given")
    p.add_argument("--runs", type=int, default=30, help="interleaved timed rounds (default: 30)")
    p.add_argument("--warmup", type=int, default=3, help="untimed invokes after the first (default: 3)")
    p.add_argument("--no-cold", action="store_true", help="skip the cold-start subprocesses")
    p.add_argument("--json", metavar="OUT", help="save all results as JSON")
    args = p.parse_args(argv)
    paths = model_paths(p, args, DEFAULT_MODELS)
    if not paths:
        p.error("no models to benchmark")
    info = machine_info()
    print(f"machine: {info['machine']} {info['cpus']} CPUs, Python {info['python']}, numpy {info['numpy']}, "
          f"numba {info['numba']}, ai-edge-litert {info['ai_edge_litert']}")
    results = []
    for path in paths:
        print(f"\n== {path}")
        if not path.is_file():
            results.append({"model": str(path), "configs": {n: {"error": "no such file"} for n in CONFIGS}})
            print("   no such file")
            continue
        r = time_model(path, args.runs, args.warmup)
        for n in CONFIGS:
            c = r["configs"].get(n, {})
            print(f"   {LABELS[n]:<18} " + (f"cannot run: {_clip(c['error'])}" if "error" in c else
                                           f"first {c['first_ms']:.1f} ms, median {c['median_ms']:.2f} ms, "
                                           f"min {c['min_ms']:.2f} ms"))
        if not args.no_cold:
            can_litert = "error" not in r["configs"].get("litert", {"error": ""})
            r["cold"] = cold_starts(path) if can_litert else {"official": cold_start(path, "official")}
            for key, v in r["cold"].items():
                print(f"   cold start {key}: " + (_clip(v["error"]) if "error" in v else f"{v['process_s']:.2f} s"))
        results.append(r)
    print_table(results)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"machine": info, "runs": args.runs, "warmup": args.warmup, "num_threads": 1,
                       "results": results}, f, indent=2)
        print(f"\nsaved {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
