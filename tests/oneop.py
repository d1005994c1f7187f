"""One-op test helpers: build a tiny model with converter.builder, run it in litert and in the
official interpreter (reference kernels by default), compare."""
import numpy as np

from converter.builder import GraphBuilder, op_model, options  # noqa: F401  (re-exported for tests)

_official = None


def official_interpreter():
    global _official
    if _official is None:
        import pytest
        _official = pytest.importorskip("ai_edge_litert.interpreter")
    return _official


def run_official(model, inputs, resolver="BUILTIN_REF"):
    mod = official_interpreter()
    it = mod.Interpreter(model_content=model, num_threads=1,
                         experimental_op_resolver_type=getattr(mod.OpResolverType, resolver))
    return _run(it, inputs)


def run_litert(model, inputs, **kwargs):
    from litert import Interpreter
    it = Interpreter(model_content=model, num_threads=1, **kwargs)
    return _run(it, inputs)


def _run(it, inputs):
    details = it.get_input_details()
    for d, x in zip(details, inputs):
        if tuple(d["shape"]) != np.shape(x):
            it.resize_tensor_input(d["index"], np.shape(x))
    it.allocate_tensors()
    for d, x in zip(details, inputs):
        it.set_tensor(d["index"], np.asarray(x))
    it.invoke()
    return [it.get_tensor(d["index"]) for d in it.get_output_details()]


def assert_same(model, inputs, atol=1e-5, rtol=1e-5, resolver="BUILTIN_REF"):
    """litert's outputs equal the official ones: bit for bit for integers, within tolerance
    (relative to the largest reference magnitude) for floats."""
    want = run_official(model, inputs, resolver)
    got = run_litert(model, inputs)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype, (g.dtype, w.dtype)
        assert g.shape == w.shape, (g.shape, w.shape)
        if w.dtype.kind in "iub":
            np.testing.assert_array_equal(g, w)
        else:
            # NaN and infinities must sit where the official puts them; the tolerance scales with
            # the largest finite magnitude (an infinity must not make every value "close")
            np.testing.assert_array_equal(np.isnan(g), np.isnan(w), "NaN positions differ")
            np.testing.assert_array_equal(np.isposinf(g), np.isposinf(w), "+inf positions differ")
            np.testing.assert_array_equal(np.isneginf(g), np.isneginf(w), "-inf positions differ")
            finite = np.isfinite(w)
            scale = max(float(np.max(np.abs(w[finite]))) if finite.any() else 0.0, 1.0)
            np.testing.assert_allclose(g[finite], w[finite], atol=atol * scale, rtol=rtol)
    return got


def one_op_model(op, inputs, outputs, opts=None, version=1, custom_options=None):
    """inputs: list of ("input", array_shape, dtype[, quant]) or ("const", array[, quant]);
    outputs: list of (shape, dtype[, quant]). Returns model bytes."""
    b = GraphBuilder()
    idx = []
    for k, spec in enumerate(inputs):
        if spec is None:
            idx.append(-1)
        elif spec[0] == "input":
            idx.append(b.input(f"in{k}", spec[1], spec[2], spec[3] if len(spec) > 3 else None))
        else:
            arr = np.asarray(spec[1])
            idx.append(b.const(f"const{k}", arr, quant=spec[2] if len(spec) > 2 else None))
    outs = [b.tensor(f"out{k}", o[0], o[1], o[2] if len(o) > 2 else None) for k, o in enumerate(outputs)]
    b.op(op, idx, outs, opts, version=version, custom_options=custom_options)
    b.output(*outs)
    return b.build()


# -- ops cut out of real models -----------------------------------------------------------------

def extract_op(path, op_index, subgraph=0):
    """Operator op_index of the model at `path` as a one-op model (converter.builder.op_model).
    Returns (model bytes, the original indices of the tensors fed as graph inputs, the op)."""
    from litert.model import load_model
    sg = load_model(model_path=str(path)).subgraphs[subgraph]
    op = sg.operators[op_index]
    model, feeds = op_model(sg, op)
    return model, feeds, op


def reference_values(path):
    """{tensor index: value} of subgraph 0 from a corpus model's reference inputs and saved
    intermediates (the official reference kernels' run)."""
    from litert.model import load_model
    stem = str(path)[:-len(".tflite")]
    sg = load_model(model_path=str(path)).subgraphs[0]
    values = {i: np.load(f"{stem}.input{k}.npy") for k, i in enumerate(sg.inputs)}
    inter = np.load(f"{stem}.intermediates.npz")
    values.update({int(k[1:]): inter[k] for k in inter.files if k.startswith("t")})
    return values


def replay_op(path, op_index):
    """(one-op model, its inputs, the reference outputs) for operator op_index of a corpus model,
    its inputs and outputs taken from the official reference run."""
    model, feeds, op = extract_op(path, op_index)
    values = reference_values(path)
    return model, [values[i] for i in feeds], [values.get(i) for i in op.outputs]


def assert_op_matches_reference(path, op_index):
    """Operator op_index of a corpus model, run alone in litert on the reference run's inputs,
    equals the reference run's output bit for bit."""
    model, inputs, wants = replay_op(path, op_index)
    got = run_litert(model, inputs)
    for k, (g, w) in enumerate(zip(got, wants)):
        if w is None:
            continue
        w = w.reshape(g.shape) if w.size == g.size else w
        assert g.dtype == w.dtype and g.shape == w.shape, (op_index, k, g.dtype, g.shape, w.dtype, w.shape)
        if w.dtype.kind in "iub":
            np.testing.assert_array_equal(g, w, err_msg=f"{path} op {op_index} output {k}")
        else:
            scale = max(1.0, float(np.abs(w).max()) if w.size else 0.0)
            np.testing.assert_allclose(g, w, rtol=0, atol=1e-5 * scale, err_msg=f"{path} op {op_index} output {k}")


def real_model(name):
    """Path of corpus model `name` (e.g. "tf/mobilenet_v2_int8"); skips the test when the corpus
    (../shared/models) is not here."""
    import pytest
    from conftest import models_dir
    root = models_dir()
    path = None if root is None else root / f"{name}.tflite"
    if path is None or not path.exists():
        pytest.skip(f"reference model {name} is not here")
    return path


def ops_named(path, names):
    """Indices of subgraph 0's operators whose name is in `names`."""
    from litert.model import load_model
    return [op.index for op in load_model(model_path=str(path)).subgraphs[0].operators if op.name in names]


def check_ops_against_intermediates(name, op_names):
    """Every op of corpus model `name` named in op_names, run alone in litert on the saved input of
    that op, equals the saved output of the official reference run. Returns how many were checked."""
    path = real_model(name)
    indices = ops_named(path, op_names)
    for i in indices:
        assert_op_matches_reference(path, i)
    return len(indices)


def invoke_allocations(model, inputs, **kwargs):
    """(numpy bytes still held after one invoke, peak bytes of all Python allocations during it),
    measured after warm-up. The arena contract wants the first 0 and the second small."""
    from litert import Interpreter
    it = Interpreter(model_content=model, **kwargs)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    return measure_invoke(it)


def measure_invoke(it):
    """invoke_allocations for an Interpreter whose inputs are set."""
    import tracemalloc
    it.invoke()
    it.invoke()
    tracemalloc.start()
    try:
        before = tracemalloc.take_snapshot()
        base = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        it.invoke()
        peak = tracemalloc.get_traced_memory()[1] - base
        after = tracemalloc.take_snapshot()
    finally:
        tracemalloc.stop()
    domain = tracemalloc.DomainFilter(True, np.lib.tracemalloc_domain)
    diff = after.filter_traces([domain]).compare_to(before.filter_traces([domain]), "traceback")
    return sum(s.size_diff for s in diff if s.size_diff > 0), peak
