"""SVDF against the official reference kernels over several invokes (the state carries over)."""
import numpy as np
import pytest

from oneop import GraphBuilder, invoke_allocations, official_interpreter, options
from litert.errors import PrepareError

F32, I8, I16, I32 = np.float32, np.int8, np.int16, np.int32


def full_range(rng, shape, dtype):
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


def svdf_model(batch, n_in, filters, memory, rank, wf, wt, bias, act=1, asymmetric=False, q=None,
               x_type=F32, state_type=F32, out_type=F32, const_weights=True):
    """q: quantization per role (input, wf, wt, bias, state, output) as (scale, zp) or None."""
    q = q or {}

    def quant(role):
        v = q.get(role)
        return None if v is None else ([v[0]], [v[1]])

    b = GraphBuilder()
    x = b.input("x", (batch, n_in), x_type, quant("input"))
    if const_weights:
        wfi = b.const("wf", wf, quant=quant("wf"))
        wti = b.const("wt", wt, quant=quant("wt"))
    else:
        wfi = b.input("wf", wf.shape, wf.dtype, quant("wf"))
        wti = b.input("wt", wt.shape, wt.dtype, quant("wt"))
    bi = b.const("bias", bias, quant=quant("bias")) if bias is not None else -1
    state = b.tensor("state", (batch, memory * filters), state_type, quant("state"), variable=True)
    y = b.tensor("y", (batch, filters // rank), out_type, quant("output"))
    b.op("SVDF", [x, wfi, wti, bi, state], [y],
         options("SVDFOptions", rank=rank, fusedActivationFunction=act, asymmetricQuantizeInputs=asymmetric))
    b.output(y)
    return b.build()


def run_sequence(model, frames, extra=(), resolver="BUILTIN_REF"):
    """Outputs after each invoke, for the official interpreter and litert."""
    from litert import Interpreter
    mod = official_interpreter()
    official = mod.Interpreter(model_content=model, num_threads=1,
                               experimental_op_resolver_type=getattr(mod.OpResolverType, resolver))
    ours = Interpreter(model_content=model, num_threads=1)
    results = []
    for it in (official, ours):
        it.allocate_tensors()
        details = it.get_input_details()
        outs = []
        for x in frames:
            for d, v in zip(details, (x,) + tuple(extra)):
                it.set_tensor(d["index"], v)
            it.invoke()
            outs.append(it.get_tensor(it.get_output_details()[0]["index"]).copy())
        results.append(outs)
    return results


def float_weights(rng, n_in, filters, memory, units, bias=True):
    wf = rng.uniform(-0.5, 0.5, (filters, n_in)).astype(F32)
    wt = rng.uniform(-0.5, 0.5, (filters, memory)).astype(F32)
    b = rng.uniform(-0.3, 0.3, units).astype(F32) if bias else None
    return wf, wt, b


DIMS = [(1, 12, 8, 4, 1), (2, 10, 6, 5, 2), (3, 7, 12, 3, 3), (2, 33, 16, 10, 4)]   # batch, in, filters, memory, rank


@pytest.mark.parametrize("dims", DIMS, ids=str)
@pytest.mark.parametrize("act", [0, 1, 3, 4], ids=["NONE", "RELU", "RELU6", "TANH"])
def test_svdf_float(dims, act):
    batch, n_in, filters, memory, rank = dims
    rng = np.random.default_rng(0)
    wf, wt, b = float_weights(rng, n_in, filters, memory, filters // rank)
    model = svdf_model(batch, n_in, filters, memory, rank, wf, wt, b, act=act)
    frames = [rng.uniform(-1, 1, (batch, n_in)).astype(F32) for _ in range(memory + 3)]
    want, got = run_sequence(model, frames)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


def test_svdf_float_without_bias_and_runtime_weights():
    rng = np.random.default_rng(1)
    wf, wt, _ = float_weights(rng, 9, 6, 4, 3, bias=False)
    model = svdf_model(2, 9, 6, 4, 2, wf, wt, None, act=0, const_weights=False)
    frames = [rng.uniform(-1, 1, (2, 9)).astype(F32) for _ in range(6)]
    want, got = run_sequence(model, frames, extra=(wf, wt))
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dims", DIMS, ids=str)
@pytest.mark.parametrize("asymmetric", [False, True])
def test_svdf_hybrid(dims, asymmetric):
    batch, n_in, filters, memory, rank = dims
    rng = np.random.default_rng(2)
    # weights in [-127, 127] as the quantization spec has them: the official x86 hybrid product
    # goes wrong on some rows holding -128 (measured)
    wf = np.maximum(full_range(rng, (filters, n_in), I8), -127).astype(I8)
    wt = full_range(rng, (filters, memory), I8)
    b = rng.uniform(-0.3, 0.3, filters // rank).astype(F32)
    q = {"wf": (0.01, 0), "wt": (0.02, 0)}
    model = svdf_model(batch, n_in, filters, memory, rank, wf, wt, b, act=1, asymmetric=asymmetric, q=q)
    frames = [rng.uniform(-1, 2, (batch, n_in)).astype(F32) for _ in range(memory + 2)]
    frames[1][:] = 0                       # an all-zero input skips the products
    want, got = run_sequence(model, frames)
    for w, g in zip(want, got):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5 * max(1.0, float(np.abs(w).max())))


# (input scale, input zp, wf scale, wt scale, output zp, state headroom, output headroom): the state
# and output scales are derived from a float run of the layer so that values spread over the
# int16 state and the int8 output (headroom > 1 makes them saturate)
INT_QUANT = [(0.06, -128, 0.009, 0.0037, -128, 1.0, 1.0), (0.4, 127, 0.005, 0.0017, 5, 1.0, 1.0),
             (0.02, 3, 0.05, 0.5, -20, 1.0, 1.0), (0.05, -7, 0.01, 0.002, 0, 4.0, 8.0)]


def integer_svdf_case(dims, quant, seed=0, bias=True):
    batch, n_in, filters, memory, rank = dims
    s_in, zp_in, s_wf, s_wt, zp_out, state_room, out_room = quant
    rng = np.random.default_rng(seed)
    wf = full_range(rng, (filters, n_in), I8)
    wt = rng.integers(-3000, 3000, (filters, memory)).astype(I16)
    frames = [full_range(rng, (batch, n_in), I8) for _ in range(memory + 3)]
    feat = [((f.astype(np.float64) - zp_in) * s_in) @ (wf * s_wf).T for f in frames]
    s_state = max(np.abs(np.concatenate(feat)).max(), 1e-6) / 30000 / state_room
    time = np.abs(np.concatenate(feat)).max() * np.abs(wt * s_wt).sum(axis=1).max() * rank
    s_out = max(time, 1e-6) / 100 / out_room
    b = rng.integers(-20000, 20000, filters // rank).astype(I32) if bias else None
    q = {"input": (s_in, zp_in), "wf": (s_wf, 0), "wt": (s_wt, 0), "state": (s_state, 0),
         "bias": (s_state * s_wt, 0), "output": (s_out, zp_out)}
    model = svdf_model(batch, n_in, filters, memory, rank, wf, wt, b, act=1, q=q, x_type=I8,
                       state_type=I16, out_type=I8)
    want, got = run_sequence(model, frames)
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g, w)
    return np.concatenate(want)


@pytest.mark.parametrize("dims", DIMS, ids=str)
@pytest.mark.parametrize("q", range(len(INT_QUANT)))
def test_svdf_integer(dims, q):
    out = integer_svdf_case(dims, INT_QUANT[q], seed=3 + q)
    assert len(np.unique(out)) > 3


def test_svdf_integer_rounds_ties_twice():
    # power-of-two scales put exact ties on the rescales (s_in s_wf / s_state = 1/4,
    # s_state s_wt / s_out = 1/64): MultiplyByQuantizedMultiplier's double rounding takes
    # negative ties away from zero where a single rounding would not
    rng = np.random.default_rng(11)
    batch, n_in, filters, memory, rank = 3, 10, 16, 4, 2
    wf = rng.integers(-20, 21, (filters, n_in)).astype(I8)
    wt = rng.integers(-2, 3, (filters, memory)).astype(I16)
    b = rng.integers(-40, 41, filters // rank).astype(I32)
    q = {"input": (1.0, 0), "wf": (0.25, 0), "wt": (1 / 64, 0), "state": (1.0, 0), "bias": (1 / 64, 0),
         "output": (1.0, 0)}
    model = svdf_model(batch, n_in, filters, memory, rank, wf, wt, b, act=1, q=q, x_type=I8, state_type=I16,
                       out_type=I8)
    frames = [rng.integers(-20, 21, (batch, n_in)).astype(I8) for _ in range(12)]
    want, got = run_sequence(model, frames)
    for w, g in zip(want, got):
        np.testing.assert_array_equal(g, w)


def test_svdf_integer_without_bias():
    integer_svdf_case((2, 16, 8, 6, 2), INT_QUANT[0], seed=9, bias=False)


INT_Q = {"input": (0.06, -128), "wf": (0.009, 0), "wt": (0.0037, 0), "bias": (2e-5, 0), "state": (0.0044, 0),
         "output": (0.24, -128)}


def test_svdf_integer_rejects_activation_other_than_relu():
    rng = np.random.default_rng(0)
    model = svdf_model(1, 8, 4, 3, 1, full_range(rng, (4, 8), I8), full_range(rng, (4, 3), I16),
                       np.zeros(4, I32), act=0, q=INT_Q, x_type=I8, state_type=I16, out_type=I8)
    from litert import Interpreter
    with pytest.raises(PrepareError, match="RELU"):
        Interpreter(model_content=model).allocate_tensors()


def test_svdf_rejects_bad_rank():
    rng = np.random.default_rng(0)
    wf, wt, b = float_weights(rng, 8, 6, 3, 6)
    model = svdf_model(1, 8, 6, 3, 4, wf, wt, None)
    from litert import Interpreter
    with pytest.raises(PrepareError, match="rank"):
        Interpreter(model_content=model).allocate_tensors()


def test_svdf_reset_clears_state():
    from litert import Interpreter
    rng = np.random.default_rng(4)
    wf, wt, b = float_weights(rng, 8, 4, 3, 4)
    it = Interpreter(model_content=svdf_model(1, 8, 4, 3, 1, wf, wt, b))
    it.allocate_tensors()
    x = rng.uniform(-1, 1, (1, 8)).astype(F32)
    idx_in, idx_out = it.get_input_details()[0]["index"], it.get_output_details()[0]["index"]
    it.set_tensor(idx_in, x)
    it.invoke()
    first = it.get_tensor(idx_out).copy()
    it.invoke()
    assert not np.array_equal(first, it.get_tensor(idx_out))
    it.reset_all_variables()
    it.invoke()
    np.testing.assert_array_equal(first, it.get_tensor(idx_out))


@pytest.mark.parametrize("kind", ["float", "hybrid", "integer"])
def test_svdf_invoke_allocates_nothing(kind):
    rng = np.random.default_rng(5)
    if kind == "integer":
        model = svdf_model(4, 64, 64, 16, 2, full_range(rng, (64, 64), I8), full_range(rng, (64, 16), I16),
                           np.zeros(32, I32), q=INT_Q, x_type=I8, state_type=I16, out_type=I8)
        x = full_range(rng, (4, 64), I8)
    else:
        wf, wt, b = float_weights(rng, 64, 64, 16, 32)
        if kind == "hybrid":
            wf, wt = full_range(rng, (64, 64), I8), full_range(rng, (64, 16), I8)
        model = svdf_model(4, 64, 64, 16, 2, wf, wt, b, q={"wf": (0.01, 0), "wt": (0.01, 0)})
        x = rng.uniform(-1, 1, (4, 64)).astype(F32)
    held, peak = invoke_allocations(model, [x])
    assert held == 0 and peak < 4096, (held, peak)
