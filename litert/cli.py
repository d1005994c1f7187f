"""The `litert` command: run, inspect and benchmark .tflite models.

Exit codes: 0 success; 1 the model cannot be loaded, prepared or run (invalid file, an op litert
has no kernel for, ...); 2 a bad command line (unknown option, missing file, bad --input).
"""
import argparse
import os
import re
import sys
import time
from pathlib import Path

import numpy as np

EXAMPLES = """examples:
  litert run model.tflite                          random inputs, print the outputs
  litert run model.tflite --input 0=x.npy --output-dir out/
  litert run person_detect.tflite --input input=person.bmp    uint8/int8 image inputs from PNG/BMP
  litert run model.tflite --input serving_default_x:0=x.npy
  litert run model.tflite --signature serving_default --input x=x.npy
  litert inspect model.tflite --plot plan.png      ops, tensors, memory plan (and a picture of it)
  litert bench model.tflite --num-runs 100 --profile

exit codes: 0 ok, 1 the model cannot be loaded or run, 2 bad command line or input files"""


class UsageError(Exception):
    """A mistake on the command line or in a file it names (exit code 2)."""


# -- shared helpers ------------------------------------------------------------------------
def _model_path(path):
    p = Path(path)
    if not p.exists():
        raise UsageError(f"no such file: {path}")
    if not p.is_file():
        raise UsageError(f"not a file: {path}")
    return str(p)


def _interpreter(path, num_threads=1):
    from . import Interpreter
    return Interpreter(model_path=_model_path(path), num_threads=num_threads)


def _shape(s):
    return "[" + ", ".join(str(int(d)) for d in s) + "]"


def _dtype_name(dt):
    return np.dtype(dt).name


def _random_input(rng, shape, dtype):
    """Seeded data of the right type: floats in [-1, 1), small ints (0..9) for int32/int64
    since those are often indices, the full range for 8/16-bit integers, random booleans."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return rng.uniform(-1, 1, shape).astype(dt), "uniform [-1, 1)"
    if dt.kind == "c":
        return (rng.uniform(-1, 1, shape) + 1j * rng.uniform(-1, 1, shape)).astype(dt), "uniform [-1, 1)"
    if dt.kind == "b":
        return rng.integers(0, 2, shape).astype(dt), "random booleans"
    if dt.itemsize <= 2:
        info = np.iinfo(dt)
        return rng.integers(info.min, int(info.max) + 1, shape).astype(dt), f"integers {info.min}..{info.max}"
    return rng.integers(0, 10, shape).astype(dt), "integers 0..9"


def _parse_input_specs(specs):
    """['name=x.npy', '0=y.npy'] -> [(key, path)]."""
    out = []
    for spec in specs or []:
        key, eq, path = spec.partition("=")
        if not eq or not key or not path:
            raise UsageError(f"bad --input {spec!r}: expected NAME=FILE.npy or INDEX=FILE.npy")
        out.append((key, path))
    return out


IMAGE_SUFFIXES = (".png", ".bmp")


def _load_npy(path):
    if not os.path.isfile(path):
        raise UsageError(f"--input: no such file: {path}")
    if path.lower().endswith(IMAGE_SUFFIXES):
        from .imageio import read_image
        try:
            return read_image(path)
        except (ValueError, OSError) as e:
            raise UsageError(f"--input: cannot read {path} as an image: {e}") from e
    try:
        return np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as e:
        raise UsageError(f"--input: cannot read {path} as a .npy array: {e}") from e


def _fit_image(img, detail, label, path):
    """An HxWxC uint8 picture for a uint8/int8 image input [1, H, W, C] (or [1, H, W]). int8
    inputs get the pixel bytes reinterpreted as int8, as TF Lite Micro's camera examples feed
    them; anything else (float inputs, normalisation) needs a .npy made with the model's own
    preprocessing."""
    want = np.dtype(detail["dtype"])
    shape = tuple(int(d) for d in detail["shape"])
    if want not in (np.uint8, np.int8):
        raise UsageError(f"input {label} is {want.name}: images feed uint8/int8 inputs only; save your "
                         f"preprocessed {path} as a .npy")
    h, w, c = img.shape
    for candidate in ((1, h, w, c), (1, h, w), (h, w, c)):
        if int(np.prod(candidate)) == int(np.prod(shape)) and len(candidate) == len(shape) and \
                all(a == b for a, b in zip(candidate, shape)):
            arr = img.reshape(shape)
            break
    else:
        raise UsageError(f"input {label} has shape {_shape(shape)}; the image {path} is {w}x{h} with {c} "
                         "channel(s)")
    if want == np.int8:
        print(f"note: {path}: pixel bytes reinterpreted as int8 (no -128 shift), as TF Lite Micro's camera "
              "examples do")
        arr = arr.view(np.int8)
    return arr


def _fit_input(arr, detail, label, path):
    """Check (and where safe, cast) a loaded array for an input; return (array, needs_resize)."""
    want = np.dtype(detail["dtype"])
    shape = tuple(int(d) for d in detail["shape"])
    sig = tuple(int(d) for d in detail.get("shape_signature", shape)) or shape
    if isinstance(arr, np.lib.npyio.NpzFile):
        raise UsageError(f"--input {path}: an .npz archive; give one .npy array per input")
    if path.lower().endswith(IMAGE_SUFFIXES):
        return _fit_image(arr, detail, label, path), False
    if arr.dtype != want:
        # float -> float always (float64 .npy files are common); otherwise only exact conversions
        try:
            cast = arr.astype(want)
            exact = (arr.dtype.kind == "f" and want.kind == "f") or np.array_equal(cast.astype(arr.dtype), arr)
        except (ValueError, TypeError):
            exact = False
        if not exact:
            raise UsageError(f"input {label} is {want.name}; {path} holds {arr.dtype.name} values that "
                             f"do not convert to it exactly")
        print(f"note: {path}: {arr.dtype.name} converted to {want.name}")
        arr = cast
    if arr.shape != shape:
        flexible = len(sig) == arr.ndim and all(s in (-1, d) for s, d in zip(sig, arr.shape))
        if not flexible:
            raise UsageError(f"input {label} has shape {_shape(shape)}"
                             + (f" (signature {_shape(sig)})" if sig != shape else "")
                             + f"; {path} holds {_shape(arr.shape)}")
        return arr, True
    return arr, False


def _collect_inputs(details, specs, seed):
    """details: list of (key name, detail dict). Returns [(array, source text)] in order."""
    names = [n for n, _ in details]
    given = {}
    for key, path in _parse_input_specs(specs):
        if key in names:
            pos = names.index(key)
        elif key.lstrip("-").isdigit():
            pos = int(key)
            if not 0 <= pos < len(names):
                raise UsageError(f"--input {key}={path}: the model has {len(names)} inputs (0..{len(names) - 1})")
        else:
            raise UsageError(f"--input {key}={path}: no input named {key!r}; inputs are "
                             + ", ".join(f"{i}={n!r}" for i, n in enumerate(names)))
        if pos in given:
            raise UsageError(f"input {pos} ({names[pos]!r}) is given twice")
        given[pos] = path
    rng = np.random.default_rng(seed)
    out = []
    for pos, (name, d) in enumerate(details):
        label = f"{pos} ({name!r})"
        if pos in given:
            arr, resize = _fit_input(_load_npy(given[pos]), d, label, given[pos])
            out.append((arr, given[pos], resize))
        else:
            shape = tuple(max(int(s), 1) if int(s) >= 0 else 1 for s in d["shape"])
            arr, what = _random_input(rng, shape, d["dtype"])
            out.append((arr, f"random {what} (seed {seed})", False))
    return out


def _summary(arr, detail=None, first=8):
    """Lines describing one output: range, mean, first values, argmax for class-like vectors."""
    lines = []
    flat = arr.reshape(-1)
    if flat.size == 0:
        return ["  (empty)"]
    if arr.dtype.kind == "b":
        return [f"  true: {int(flat.sum())} of {flat.size}; first: {flat[:first].tolist()}"]
    if arr.dtype.kind in "iuf":
        vals = flat.astype(np.float64)
        lines.append(f"  min {_num(vals.min())}  max {_num(vals.max())}  mean {_num(vals.mean())}  "
                     f"std {_num(vals.std())}")
    head = ", ".join(_num(v) for v in flat[:first]) + (", ..." if flat.size > first else "")
    lines.append(f"  first: [{head}]")
    q = (detail or {}).get("quantization", (0.0, 0))
    if arr.dtype.kind in "iu" and q and q[0]:
        real = (flat.astype(np.float64) - q[1]) * q[0]
        lines.append(f"  dequantized (scale {q[0]:.6g}, zero point {q[1]}): min {_num(real.min())} "
                     f"max {_num(real.max())} mean {_num(real.mean())}")
    if flat.size > 1 and sum(d > 1 for d in arr.shape) == 1 and arr.dtype.kind in "iuf":
        top = np.argsort(-flat.astype(np.float64), kind="stable")[:5]
        lines.append(f"  argmax {int(top[0])}; top-{len(top)}: "
                     + ", ".join(f"{int(i)} ({_num(flat[i])})" for i in top))
    return lines


def _num(v):
    v = v.item() if hasattr(v, "item") else v
    if isinstance(v, complex):
        return f"{v:.4g}"
    if isinstance(v, (int, np.integer)) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e15):
        return str(int(v))
    return f"{v:.6g}"


def _safe_name(name):
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("_") or "output"


# -- litert run ------------------------------------------------------------------------------
def cmd_run(args):
    it = _interpreter(args.model, args.num_threads)
    if args.signature is not None:
        sigs = it.get_signature_list()
        if args.signature not in sigs:
            have = ", ".join(repr(k) for k in sigs) or "none"
            raise UsageError(f"--signature {args.signature!r}: no such signature (the model has: {have})")
        runner = it.get_signature_runner(args.signature)
        in_details = list(runner.get_input_details().items())
        inputs = _collect_inputs(in_details, args.input, args.seed)
        _print_inputs(in_details, inputs)
        feed = {name: arr for (name, _), (arr, _, _) in zip(in_details, inputs)}
        t0 = time.perf_counter()
        results = runner(**feed)
        ms = (time.perf_counter() - t0) * 1e3
        out_details = runner.get_output_details()
        outputs = [(name, results[name], out_details[name]) for name in results]
    else:
        it.allocate_tensors()
        in_details = [(d["name"], d) for d in it.get_input_details()]
        inputs = _collect_inputs(in_details, args.input, args.seed)
        _print_inputs(in_details, inputs)
        if any(resize for _, _, resize in inputs):
            for (_, d), (arr, _, resize) in zip(in_details, inputs):
                if resize:
                    it.resize_tensor_input(d["index"], arr.shape)
            it.allocate_tensors()
        for (_, d), (arr, _, _) in zip(in_details, inputs):
            it.set_tensor(d["index"], arr)
        t0 = time.perf_counter()
        it.invoke()
        ms = (time.perf_counter() - t0) * 1e3
        outputs = [(d["name"], it.get_tensor(d["index"]), d) for d in it.get_output_details()]
    print(f"invoke: {ms:.2f} ms (a first invoke: includes numba compilation or cache load)")
    if args.output_dir:
        os.makedirs(args.output_dir, exist_ok=True)
    for k, (name, arr, d) in enumerate(outputs):
        print(f"output {k} {name!r}: shape {_shape(arr.shape)} {_dtype_name(arr.dtype)}")
        for line in _summary(arr, d):
            print(line)
        if args.output_dir:
            path = os.path.join(args.output_dir, f"{k}_{_safe_name(name)}.npy")
            np.save(path, arr)
            print(f"  saved {path}")
    return 0


def _print_inputs(details, inputs):
    for k, ((name, _), (arr, source, _)) in enumerate(zip(details, inputs)):
        print(f"input {k} {name!r}: shape {_shape(arr.shape)} {_dtype_name(arr.dtype)} <- {source}")


# -- litert inspect --------------------------------------------------------------------------
def cmd_inspect(args):
    from . import LitertError
    from .dtypes import type_name
    from .model import load_model
    from .registry import lookup

    path = _model_path(args.model)
    model = load_model(model_path=path)
    ready = None
    try:
        it = _interpreter(path)
        it.allocate_tensors()
        ready = it
    except LitertError as e:
        plan_error = str(e)
    ops = sum(len(sg.operators) for sg in model.subgraphs)
    print(f"model: {path} ({os.path.getsize(path):,} bytes, schema version {model.version})")
    if model.description:
        print(f"description: {model.description}")
    const_total = sum(_const_bytes(t) for sg in model.subgraphs for t in sg.tensors)
    print(f"subgraphs: {len(model.subgraphs)}, signatures: {len(model.signatures)}, operators: {ops}, "
          f"constants: {const_total:,} bytes")
    if model.metadata:
        print("metadata: " + ", ".join(f"{k} ({len(v):,} B)" for k, v in model.metadata.items()))
    for key, sig in model.signatures.items():
        print(f"signature {key!r} -> subgraph {sig.subgraph_index}")
        print("  inputs:  " + ", ".join(f"{n} -> tensor {i}" for n, i in sig.inputs.items()))
        print("  outputs: " + ", ".join(f"{n} -> tensor {i}" for n, i in sig.outputs.items()))

    for sg in model.subgraphs:
        shapes = [t.shape for t in sg.tensors]
        if ready is not None:
            try:
                shapes = [tuple(d["shape"]) for d in ready.get_tensor_details(sg.index)]
            except LitertError:
                pass
        print(f"\nsubgraph {sg.index} {sg.name!r}: {len(sg.tensors)} tensors, {len(sg.operators)} operators")
        for kind, idx in (("input", sg.inputs), ("output", sg.outputs)):
            for i in idx:
                t = sg.tensors[i]
                print(f"  {kind} tensor {i} {t.name!r}: {_shape(shapes[i])} {type_name(t.type)}")
        counts = {}
        for op in sg.operators:
            counts[op.name] = counts.get(op.name, 0) + 1
        missing = sorted({op.name for op in sg.operators if lookup(op) is None})
        print("  op counts: " + ", ".join(f"{n} x{c}" for n, c in sorted(counts.items(), key=lambda x: -x[1])))
        if missing:
            print("  no litert kernel for: " + ", ".join(missing))
        if sg.operators:
            print(f"  {'#':>4}  {'operator':<24} inputs -> outputs")
        for op in sg.operators:
            ins = " ".join(_shape(shapes[i]) if i >= 0 else "-" for i in op.inputs)
            outs = " ".join(_shape(shapes[i]) for i in op.outputs if i >= 0)
            print(f"  {op.index:>4}  {op.name:<24} {ins} -> {outs}")
        if not args.summary:
            print(f"  {'idx':>4}  {'kind':<10} {'dtype':<8} {'shape':<20} {'bytes':>12}  name")
            for t in sg.tensors:
                nbytes = _tensor_bytes(t, shapes[t.index])
                print(f"  {t.index:>4}  {_tensor_kind(sg, t):<10} {type_name(t.type):<8} "
                      f"{_shape(shapes[t.index]):<20} {nbytes:>12,}  {_short(t.name)}{_quant_text(t)}")
        print(f"  constants: {sum(_const_bytes(t) for t in sg.tensors):,} bytes in "
              f"{sum(_const_bytes(t) > 0 for t in sg.tensors)} tensors")

    print()
    if ready is None:
        print(f"arena plan: not available: {plan_error}")
        if args.plot:
            print(f"litert inspect: error: no plan to plot, {args.plot} not written", file=sys.stderr)
            return 1
        return 0
    rows = ready.arena_plan()
    if not args.summary:
        print(f"arena plan ({len(rows)} blocks):")
        print(f"  {'offset':>12} {'size':>12}  {'steps':<11} name")
        for r in sorted(rows, key=lambda r: (r["offset"], r["first_step"])):
            steps = f"{r['first_step']}..{r['last_step']}"
            where = f"[subgraph {r['subgraph']}] " if len(model.subgraphs) > 1 else ""
            print(f"  {r['offset']:>12,} {r['size']:>12,}  {steps:<11} {where}{_short(r['name'])}")
    used, low = ready.arena_used_bytes(), ready.arena_lower_bound()
    pct = f" (used is {(used / low - 1) * 100:+.1f}%; each block is 64-byte aligned)" if low else ""
    print(f"arena used: {used:,} bytes; lower bound: {low:,} bytes{pct}")
    print(f"persistent: {ready.persistent_bytes():,} bytes")
    if args.plot:
        entries = {0} | {sig.subgraph_index for sig in model.signatures.values()}
        plot_arena(rows, used, low, args.plot, title=os.path.basename(path), entries=entries)
        print(f"plot: {args.plot}")
    return 0


def _short(name, limit=80):
    """Converter names join fused ops' names with ';': the first one says enough."""
    first = name.split(";")[0]
    if len(first) > limit:
        first = first[:limit - 3] + "..."
    return first + (" (+;...)" if ";" in name else "")


def _plot_label(name):
    return "/".join(name.split(";")[0].split("/")[-2:])[:28]


def _const_bytes(t):
    return int(t.raw.size) if t.raw is not None else 0


def _tensor_bytes(t, shape):
    if t.dtype is None:
        return _const_bytes(t)
    return int(np.prod(shape, dtype=np.int64)) * np.dtype(t.dtype).itemsize


def _tensor_kind(sg, t):
    if t.index in sg.inputs:
        return "input"
    if t.index in sg.outputs:
        return "output"
    if t.is_variable:
        return "variable"
    if t.raw is not None:
        return "constant"
    return "activation"


def _quant_text(t):
    q = t.quantization
    if q is None:
        return ""
    if q.per_channel:
        return f"  (per-channel quantized, {q.scales.size} scales on axis {q.quantized_dimension})"
    return f"  (scale {q.scale:.6g}, zero point {q.zero_point})"


def plot_arena(rows, used, lower, path, title="", entries=None):
    """Tensors as rectangles: x = op steps alive, y = arena offset; plus bytes alive per step."""
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.patches import Rectangle
        from matplotlib.ticker import MaxNLocator
    except ImportError as e:
        raise UsageError("--plot needs matplotlib: pip install matplotlib "
                         "(or pip install -e '.[dev]' in the litert checkout)") from e
    steps = max([r["last_step"] for r in rows] + [0]) + 1
    fig, ax = plt.subplots(figsize=(min(4 + steps * 0.15, 24), 7))
    cmap = plt.get_cmap("tab20")
    scale = 1 / 1024
    for k, r in enumerate(sorted(rows, key=lambda r: -r["size"])):
        x, w = r["first_step"], r["last_step"] - r["first_step"] + 1
        nested = r["kind"] == "subgraph"
        ax.add_patch(Rectangle((x, r["offset"] * scale), w, r["size"] * scale, linewidth=0.6,
                               edgecolor="black", facecolor="none" if nested else cmap(k % 20),
                               alpha=0.85, linestyle="--" if nested else "-"))
        if r["size"] >= 0.05 * max(used, 1) and w >= max(1, steps // 20):
            ax.text(x + w / 2, (r["offset"] + r["size"] / 2) * scale, _plot_label(r["name"]), ha="center",
                    va="center", fontsize=6, clip_on=True)
    live = np.zeros(steps + 1)
    for r in rows:
        if entries is None or r["subgraph"] in entries:   # nested subgraphs count via their block
            live[r["first_step"]:r["last_step"] + 1] += r["size"]
    ax.step(np.arange(steps + 1), live * scale, where="post", color="red", linewidth=1,
            label="bytes alive at each step")
    ax.axhline(used * scale, color="black", linestyle=":", linewidth=1, label=f"arena used {used:,} B")
    ax.axhline(lower * scale, color="grey", linestyle="--", linewidth=1, label=f"lower bound {lower:,} B")
    ax.set_xlim(0, steps)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylim(0, max(used, live.max(), 1) * scale * 1.05)
    ax.set_xlabel("op step")
    ax.set_ylabel("arena offset (KiB)")
    ax.set_title(f"arena plan {title}".strip())
    ax.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# -- litert bench ----------------------------------------------------------------------------
def cmd_bench(args):
    path = _model_path(args.model)
    print(f"litert benchmark: {path} ({os.path.getsize(path) / 1e6:.3f} MB), {args.num_threads} thread(s)")
    from .registry import registered_names
    t0 = time.perf_counter()
    registered_names()          # imports every kernel module: numba decorators, cache lookups
    print(f"Kernel modules imported: {(time.perf_counter() - t0) * 1e3:.2f} ms")
    t0 = time.perf_counter()
    it = _interpreter(path, args.num_threads)
    it.allocate_tensors()
    init_ms = (time.perf_counter() - t0) * 1e3
    in_details = [(d["name"], d) for d in it.get_input_details()]
    inputs = _collect_inputs(in_details, args.input, args.seed)
    if any(resize for _, _, resize in inputs):
        for (_, d), (arr, _, resize) in zip(in_details, inputs):
            if resize:
                it.resize_tensor_input(d["index"], arr.shape)
        it.allocate_tensors()
    for (_, d), (arr, source, _) in zip(in_details, inputs):
        it.set_tensor(d["index"], arr)
    _print_inputs(in_details, inputs)
    print(f"Initialization (load + allocate_tensors): {init_ms:.2f} ms")

    first_ms = _time_invoke(it)
    print(f"First inference: {first_ms:.2f} ms (includes numba compilation or cache load)")
    warm = [_time_invoke(it) for _ in range(args.warmup_runs)]
    if warm:
        print(f"Warmup ({len(warm)} runs): avg {np.mean(warm):.3f} ms")
    if args.profile:
        it.enable_profiling(True)
    times = np.array([_time_invoke(it) for _ in range(args.num_runs)])
    profile = it.profile() if args.profile else []
    if args.profile:
        it.enable_profiling(False)
    print(f"Inference ({len(times)} runs): avg {times.mean():.3f} ms, min {times.min():.3f} ms, "
          f"max {times.max():.3f} ms, std {times.std():.3f} ms, median {np.median(times):.3f} ms")
    us = times * 1e3
    print(f"  count={len(us)} first={first_ms * 1e3:.0f} curr={us[-1]:.0f} min={us.min():.0f} "
          f"max={us.max():.0f} avg={us.mean():.1f} std={us.std():.0f}  (microseconds)")
    print(f"Inference timings in us: Init: {init_ms * 1e3:.0f}, First inference: {first_ms * 1e3:.0f}, "
          f"Warmup (avg): {np.mean(warm) * 1e3 if warm else first_ms * 1e3:.1f}, Inference (avg): {us.mean():.1f}")
    print(f"Memory: arena {it.arena_used_bytes():,} bytes (lower bound {it.arena_lower_bound():,}), "
          f"persistent {it.persistent_bytes():,} bytes")
    if args.profile:
        _print_profile(profile, args.num_runs, times.mean(), args.top)
    return 0


def _time_invoke(it):
    t0 = time.perf_counter()
    it.invoke()
    return (time.perf_counter() - t0) * 1e3


def _print_profile(profile, runs, invoke_ms, top):
    """Per-op and per-op-type tables. Ops of called subgraphs (node "s:i", s > 0) also count
    inside their WHILE/IF/CALL_ONCE caller, so percentages are of the top-level ops' total."""
    per_op = {}
    for sg, index, name, ns in profile:
        key = (sg, index, name)
        per_op[key] = per_op.get(key, 0) + ns
    total = sum(ns for (sg, _, _), ns in per_op.items() if sg == 0) or 1
    nested = any(sg != 0 for sg, _, _ in per_op)
    rows = sorted(per_op.items(), key=lambda kv: -kv[1])
    shown = rows if top <= 0 else rows[:top]
    print(f"\nPer-operator profile ({runs} runs; top-level ops sum to {total / runs / 1e6:.3f} ms of "
          f"{invoke_ms:.3f} ms per invoke):")
    print(f"  {'op':<24} {'node':>8} {'avg ms':>9} {'%':>7} {'cum %':>7}")
    cum = 0
    for (sg, index, name), ns in shown:
        if sg == 0:
            cum += ns
        node = f"{sg}:{index}" if sg else str(index)
        cum_text = f"{cum / total * 100:>6.2f}%" if sg == 0 else f"{'':>7}"
        print(f"  {name:<24} {node:>8} {ns / runs / 1e6:>9.4f} {ns / total * 100:>6.2f}% {cum_text}")
    if len(shown) < len(rows):
        print(f"  ... {len(rows) - len(shown)} more (--top 0 shows all)")
    if nested:
        print("  (node s:i = op i of called subgraph s; its time is also inside its caller's)")
    by_type = {}
    for (sg, index, name), ns in rows:
        n, t = by_type.get(name, (0, 0))
        by_type[name] = (n + 1, t + ns)
    print("\nPer-op-type summary:")
    print(f"  {'op':<24} {'nodes':>6} {'avg ms':>9} {'%':>7}")
    for name, (n, ns) in sorted(by_type.items(), key=lambda kv: -kv[1][1]):
        print(f"  {name:<24} {n:>6} {ns / runs / 1e6:>9.4f} {ns / total * 100:>6.2f}%")


# -- entry point -------------------------------------------------------------------------------
def _at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value
    return parse


def build_parser():
    from . import __name__ as pkg
    p = argparse.ArgumentParser(prog="litert", description="Run, inspect and benchmark TensorFlow Lite "
                                "(.tflite) models with litert.", epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--version", action="version", version=f"{pkg} {_version()}")
    sub = p.add_subparsers(dest="command", metavar="{run,inspect,bench}")

    def add(name, help_text, description):
        sp = sub.add_parser(name, help=help_text, description=description, epilog=EXAMPLES,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
        sp.add_argument("model", metavar="MODEL", help="path to a .tflite file")
        return sp

    r = add("run", "run a model once and print its outputs",
            "Run MODEL once. Inputs come from .npy files (by tensor name or position); inputs not given "
            "are filled with seeded random data of the right dtype and shape. Prints each output's "
            "name, shape, dtype and a summary.")
    r.add_argument("--input", "-i", action="append", metavar="NAME=FILE.npy",
                   help="an input by tensor name (signature input name with --signature) or position "
                        "(0=x.npy); repeat for several. A .png/.bmp file feeds a uint8/int8 image input "
                        "(int8: pixel bytes reinterpreted, as TF Lite Micro's camera examples do)")
    r.add_argument("--output-dir", "-o", metavar="DIR", help="save every output as DIR/<k>_<name>.npy")
    r.add_argument("--signature", "-s", metavar="KEY", help="run this SignatureDef (inputs by signature names)")
    r.add_argument("--num-threads", type=_at_least(1), default=1, help="threads for the kernels (default: 1)")
    r.add_argument("--seed", type=int, default=0, help="seed for random inputs (default: 0)")
    r.set_defaults(func=cmd_run)

    i = add("inspect", "print a model's structure and memory plan",
            "Print MODEL's subgraphs, signatures, operators (with shapes), tensors (dtype, shape, bytes) "
            "and the arena plan (offset, size, lifetime of every block). If litert cannot plan the model "
            "(e.g. an op without a kernel), the structure is still printed and the exit code is 0.")
    i.add_argument("--plot", metavar="PNG", help="draw the arena plan (needs matplotlib)")
    i.add_argument("--summary", action="store_true", help="skip the per-tensor and per-block tables")
    i.set_defaults(func=cmd_inspect)

    b = add("bench", "time a model like TFLite's benchmark_model",
            "Time MODEL: initialization, first inference (includes numba compilation or loading its "
            "cache), warmup, then steady state (count, avg, min, max, std). Inputs are seeded random "
            "data unless given with --input.")
    b.add_argument("--num-runs", type=_at_least(1), default=50, help="timed runs (default: 50)")
    b.add_argument("--warmup-runs", type=_at_least(0), default=1, help="untimed runs after the first (default: 1)")
    b.add_argument("--num-threads", type=_at_least(1), default=1, help="threads for the kernels (default: 1)")
    b.add_argument("--profile", action="store_true", help="per-op and per-op-type time tables")
    b.add_argument("--top", type=int, default=25, help="ops shown in the profile (0 = all; default: 25)")
    b.add_argument("--input", "-i", action="append", metavar="NAME=FILE.npy", help="as for run")
    b.add_argument("--seed", type=int, default=0, help="seed for random inputs (default: 0)")
    b.set_defaults(func=cmd_bench)
    return p


def _version():
    try:
        from importlib.metadata import version
        return version("litert")
    except Exception:
        return "unknown"


def main(argv=None):
    from . import LitertError
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args)
    except UsageError as e:
        print(f"litert {args.command}: error: {e}", file=sys.stderr)
        return 2
    except LitertError as e:
        print(f"litert {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
