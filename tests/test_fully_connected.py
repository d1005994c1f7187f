import numpy as np
import pytest

from oneop import GraphBuilder, assert_same, one_op_model, options, run_litert
from litert.errors import PrepareError

F32 = np.float32


def fc_model(x_shape, w, bias, out_shape, act=0, keep=False, const_w=True, const_b=True):
    """FULLY_CONNECTED with weights/bias as constants or as extra graph inputs."""
    ins = [("input", x_shape, F32), ("const", w) if const_w else ("input", w.shape, F32)]
    if bias is not None:
        ins.append(("const", bias) if const_b else ("input", bias.shape, F32))
    return one_op_model("FULLY_CONNECTED", ins, [(out_shape, F32)],
                        options("FullyConnectedOptions", fusedActivationFunction=act, keepNumDims=keep))


def data(*shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1, 1, s).astype(F32) for s in shapes]


# (input shape, units): K = last dim covers both layouts of the core (K < 32 and K >= 32),
# batches that are and are not multiples of the 4x4 blocks, units with and without a tail.
CASES = [((1, 1280), 1000), ((3, 20), 9), ((5, 33), 6), ((8, 64), 12), ((2, 7, 80), 129),
         ((2, 3, 4, 16), 5), ((17, 3), 2), ((1, 1), 1), ((40,), 7)]


@pytest.mark.parametrize("shape,units", CASES, ids=str)
@pytest.mark.parametrize("with_bias", [True, False])
def test_fc_float(shape, units, with_bias):
    k = shape[-1]
    x, w, b = data(shape, (units, k), (units,))
    batch = int(np.prod(shape)) // k
    model = fc_model(shape, w, b if with_bias else None, (batch, units))
    assert_same(model, [x])


def test_fc_bias_left_out_with_minus_one():
    x, w = data((3, 40), (7, 40))
    b = GraphBuilder()
    xi = b.input("x", x.shape, F32)
    wi = b.const("w", w)
    y = b.tensor("y", (3, 7), F32)
    b.op("FULLY_CONNECTED", [xi, wi, -1], [y], options("FullyConnectedOptions"))
    b.output(y)
    assert_same(b.build(), [x])


@pytest.mark.parametrize("shape", [(2, 5, 24), (2, 3, 4, 40), (6, 48)], ids=str)
@pytest.mark.parametrize("keep", [True, False])
def test_fc_keep_num_dims(shape, keep):
    x, w, b = data(shape, (10, shape[-1]), (10,))
    out = shape[:-1] + (10,) if keep else (int(np.prod(shape[:-1])), 10)
    assert_same(fc_model(shape, w, b, out, keep=keep), [x])


def test_fc_flattens_input_whose_last_dim_differs():
    # [2, 3, 8] with weights of input size 12: batch = 48 / 12 = 4
    x, w, b = data((2, 3, 8), (5, 12), (5,))
    assert_same(fc_model((2, 3, 8), w, b, (4, 5)), [x])


@pytest.mark.parametrize("act", [1, 2, 3], ids=["RELU", "RELU_N1_TO_1", "RELU6"])
@pytest.mark.parametrize("k", [16, 96])
def test_fc_fused_activation(act, k):
    rng = np.random.default_rng(3)
    x = rng.uniform(-3, 3, (9, k)).astype(F32)
    w = rng.uniform(-1, 1, (13, k)).astype(F32)
    b = rng.uniform(-2, 2, (13,)).astype(F32)
    y = assert_same(fc_model(x.shape, w, b, (9, 13), act=act), [x])[0]
    lo, hi = {1: (0, np.inf), 2: (-1, 1), 3: (0, 6)}[act]
    assert y.min() >= lo and y.max() <= hi and (y == lo).any()


@pytest.mark.parametrize("k", [12, 72])
def test_fc_non_constant_weights_and_bias(k):
    x, w, b = data((6, k), (11, k), (11,))
    assert_same(fc_model(x.shape, w, b, (6, 11), const_w=False, const_b=False), [x, w, b])


def test_fc_weights_from_another_op():
    # weights = w_in + w_const: computed at run time by ADD, then fed to the FC
    x, w, dw, bias = data((4, 36), (8, 36), (8, 36), (8,))
    b = GraphBuilder()
    xi = b.input("x", x.shape, F32)
    wi = b.input("w", w.shape, F32)
    ws = b.tensor("w_sum", w.shape, F32)
    b.op("ADD", [wi, b.const("dw", dw)], [ws], options("AddOptions"))
    y = b.tensor("y", (4, 8), F32)
    b.op("FULLY_CONNECTED", [xi, ws, b.const("b", bias)], [y], options("FullyConnectedOptions"))
    b.output(y)
    got = assert_same(b.build(), [x, w])[0]
    np.testing.assert_allclose(got, x @ (w + dw).T + bias, rtol=1e-5, atol=1e-5)


def test_fc_all_constant_is_folded():
    x, w, b = data((2, 40), (3, 40), (3,))
    gb = GraphBuilder()
    y = gb.tensor("y", (2, 3), F32)
    gb.op("FULLY_CONNECTED", [gb.const("x", x), gb.const("w", w), gb.const("b", b)], [y],
          options("FullyConnectedOptions"))
    gb.output(y)
    got = run_litert(gb.build(), [])[0]
    np.testing.assert_allclose(got, x @ w.T + b, rtol=1e-5, atol=1e-5)


def test_fc_empty_reduction_gives_zeros():
    _, w, b = data((1,), (4, 0), (4,))
    assert_same(fc_model((3, 0), w, b, (3, 4)), [np.zeros((3, 0), F32)])


def test_fc_inf_propagates():
    x, w, b = data((4, 40), (4, 40), (4,))
    x[1, 3] = np.inf
    w[:, 3] = np.abs(w[:, 3]) + 0.1
    got = run_litert(fc_model(x.shape, w, b, (4, 4)), [x])[0]
    assert np.isposinf(got[1]).all() and np.isfinite(np.delete(got, 1, axis=0)).all()


def _prepare_error(model, inputs, match):
    with pytest.raises(PrepareError, match=match):
        run_litert(model, inputs)


def test_fc_rejects_shuffled_weights_format():
    x, w = data((2, 8), (3, 8))
    model = one_op_model("FULLY_CONNECTED", [("input", x.shape, F32), ("const", w)], [((2, 3), F32)],
                         options("FullyConnectedOptions", weightsFormat=1))
    _prepare_error(model, [x], "weights format")


def test_fc_rejects_tanh_activation():
    x, w = data((2, 8), (3, 8))
    _prepare_error(fc_model(x.shape, w, None, (2, 3), act=4), [x], "TANH")


def test_fc_rejects_input_size_mismatch():
    x, w = data((2, 7), (3, 8))
    _prepare_error(fc_model(x.shape, w, None, (2, 3)), [x], "multiple")


def test_fc_rejects_bias_size_mismatch():
    x, w, b = data((2, 8), (3, 8), (4,))
    _prepare_error(fc_model(x.shape, w, b, (2, 3)), [x], "bias")


def test_fc_keep_num_dims_needs_matching_last_dim():
    x, w = data((2, 3, 8), (5, 12))
    _prepare_error(fc_model(x.shape, w, None, (2, 3, 5), keep=True), [x], "keep_num_dims")


def invoke_allocations(model, inputs):
    """(numpy bytes still held after one invoke, peak bytes of all Python allocations during it),
    measured after warm-up. The arena contract wants the first 0 and the second small: no
    temporaries (tests keep their arrays larger than 4 KB so a copy would show)."""
    import tracemalloc
    from litert import Interpreter
    it = Interpreter(model_content=model)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
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


@pytest.mark.parametrize("const_w", [True, False])
def test_fc_invoke_allocates_nothing(const_w):
    x, w, b = data((5, 3, 40), (30, 40), (30,))
    model = fc_model(x.shape, w, b, (5, 3, 30), keep=True, const_w=const_w, const_b=const_w)
    held, peak = invoke_allocations(model, [x] if const_w else [x, w, b])
    assert held == 0 and peak < 4096, (held, peak)
