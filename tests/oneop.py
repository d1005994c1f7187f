"""One-op test helpers: build a tiny model with converter.builder, run it in litert and in the
official interpreter (reference kernels by default), compare."""
import numpy as np

from converter.builder import GraphBuilder, options  # noqa: F401  (re-exported for tests)

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
