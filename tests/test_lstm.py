import numpy as np
import pytest

from oneop import GraphBuilder, assert_same, invoke_allocations, official_interpreter, options, run_litert
from litert.errors import PrepareError

F32 = np.float32
TANH = 4


def lstm_model(batch=2, steps=3, n_input=5, n_cell=4, n_output=None, cifg=False, peephole=False,
               projection=False, proj_bias=True, layer_norm=False, time_major=False, act=TANH,
               cell_clip=0.0, proj_clip=0.0, diagonal=False, state_init=False, runtime_weights=(),
               seed=0, inputs20=False, drop=()):
    """A one-op UNIDIRECTIONAL_SEQUENCE_LSTM model. Returns (model bytes, extra input arrays):
    the graph's first input is the sequence; `runtime_weights` names op input positions fed as
    graph inputs (in that order) instead of constants; `drop` leaves op inputs out (-1)."""
    rng = np.random.default_rng(seed)
    n_output = n_output or (n_cell if not projection else n_cell + 1)

    def rand(*shape, scale=0.5):
        return rng.uniform(-scale, scale, shape).astype(F32)

    b = GraphBuilder()
    seq_shape = (steps, batch, n_input) if time_major else (batch, steps, n_input)
    x = b.input("x", seq_shape, F32)
    values = {}
    gates = (1, 2, 3) if cifg else (0, 1, 2, 3)
    for g in gates:
        values[1 + g] = rand(n_cell, n_input)
        values[5 + g] = rand(n_cell) if diagonal else rand(n_cell, n_output)
        values[12 + g] = rand(n_cell, scale=1.0)
        if layer_norm:
            values[20 + g] = rand(n_cell, scale=1.0) + 1.0
    if peephole:
        for k, g in enumerate((0, 1, 3)):
            if not (cifg and g == 0):
                values[9 + k] = rand(n_cell)
    if projection:
        values[16] = rand(n_output, n_cell)
        if proj_bias:
            values[17] = rand(n_output)
    for i in drop:
        values.pop(i, None)
    extra = []
    ins = [x] + [-1] * (19 if inputs20 else 23)
    for i, v in sorted(values.items()):
        if i in runtime_weights:
            continue
        ins[i] = b.const(f"w{i}", v)
    for i in runtime_weights:
        ins[i] = b.input(f"w{i}", values[i].shape, F32)
        extra.append(values[i])
    h0 = rand(batch, n_output) if state_init else None
    c0 = rand(batch, n_cell) if state_init else None
    ins[18] = b.tensor("output_state", (batch, n_output), F32, data=h0, variable=True)
    ins[19] = b.tensor("cell_state", (batch, n_cell), F32, data=c0, variable=True)
    out_shape = seq_shape[:2] + (n_output,)
    y = b.tensor("y", out_shape, F32)
    opts = options("UnidirectionalSequenceLSTMOptions", fusedActivationFunction=act, cellClip=cell_clip,
                   projClip=proj_clip, timeMajor=time_major)
    b.op("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, [y], opts)
    b.output(y)
    return b.build(), seq_shape, extra


def sequence(shape, seed=1, scale=1.0):
    return np.random.default_rng(seed).uniform(-scale, scale, shape).astype(F32)


def check(atol=1e-5, **kw):
    model, shape, extra = lstm_model(**kw)
    return assert_same(model, [sequence(shape)] + extra, atol=atol)


@pytest.mark.parametrize("cifg", [False, True], ids=["full", "cifg"])
@pytest.mark.parametrize("peephole", [False, True], ids=["", "peephole"])
@pytest.mark.parametrize("projection", [False, True], ids=["", "projection"])
@pytest.mark.parametrize("layer_norm", [False, True], ids=["", "layer_norm"])
def test_lstm_variants(cifg, peephole, projection, layer_norm):
    check(cifg=cifg, peephole=peephole, projection=projection, layer_norm=layer_norm)


@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("batch,steps", [(1, 1), (1, 28), (3, 7), (4, 2)])
def test_lstm_sequences(time_major, batch, steps):
    check(time_major=time_major, batch=batch, steps=steps, peephole=True)


@pytest.mark.parametrize("n_input,n_cell,n_output", [(40, 36, 33), (3, 64, 20), (70, 8, 48)])
def test_lstm_sizes_across_core_layouts(n_input, n_cell, n_output):
    # reduction lengths on both sides of the core's layout switch (K < 32 and K >= 32)
    check(n_input=n_input, n_cell=n_cell, n_output=n_output, projection=True, batch=5, steps=4)


def test_lstm_projection_without_bias():
    check(projection=True, proj_bias=False)


@pytest.mark.parametrize("act", [0, 1, 2, 3, 4, 5], ids=["NONE", "RELU", "RELU_N1_TO_1", "RELU6", "TANH", "SIGN_BIT"])
def test_lstm_cell_activation(act):
    check(act=act)


@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("diagonal", [False, True])
@pytest.mark.parametrize("layer_norm", [False, True])
def test_lstm_no_activation_with_zero_input_rows(time_major, diagonal, layer_norm):
    # with fused activation NONE, TFLite's cell gate depends on whether the step's input is zero
    model, shape, _ = lstm_model(act=0, time_major=time_major, diagonal=diagonal, layer_norm=layer_norm,
                                 batch=2, steps=4)
    x = sequence(shape)
    if time_major:
        x[1] = 0       # a whole step
        x[2, 0] = 0    # one (step, batch) row
    else:
        x[:, 1] = 0
        x[0, 2] = 0
    assert_same(model, [x])


def test_lstm_clipping():
    # large weights and inputs so both clips bite
    model, shape, _ = lstm_model(projection=True, cell_clip=0.5, proj_clip=0.3, steps=6, act=1)
    x = sequence(shape, scale=8.0)
    y = assert_same(model, [x])[0]
    assert np.abs(y).max() <= 0.3 + 1e-7 and np.isclose(np.abs(y).max(), 0.3)


def test_lstm_20_inputs():
    check(inputs20=True)


def test_lstm_diagonal_recurrent_weights():
    check(diagonal=True, peephole=True)


@pytest.mark.parametrize("diagonal", [False, True])
def test_lstm_runtime_weights(diagonal):
    # weights, biases and layer-norm coefficients fed at run time, not constants
    check(layer_norm=True, peephole=True, projection=True, diagonal=diagonal, n_output=4,
          runtime_weights=(2, 6, 10, 13, 16, 17, 21))


def _run_twice(it, x1, x2):
    details = it.get_input_details()
    it.allocate_tensors()
    outs = []
    for x in (x1, x2):
        it.set_tensor(details[0]["index"], x)
        it.invoke()
        outs.append(it.get_tensor(it.get_output_details()[0]["index"]).copy())
    return outs


@pytest.mark.parametrize("projection", [False, True])
def test_lstm_state_carries_across_invokes(projection):
    from litert import Interpreter
    mod = official_interpreter()
    model, shape, _ = lstm_model(projection=projection, peephole=True, steps=4, batch=2)
    x1, x2 = sequence(shape, seed=1), sequence(shape, seed=2)
    want = _run_twice(mod.Interpreter(model_content=model, experimental_op_resolver_type=mod.OpResolverType.BUILTIN_REF),
                      x1, x2)
    it = Interpreter(model_content=model)
    got = _run_twice(it, x1, x2)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)
    # the second run started from the first run's final state, not from zeros
    assert not np.allclose(got[1], run_litert(model, [x2])[0], atol=1e-4)
    it.reset_all_variables()
    it.set_tensor(it.get_input_details()[0]["index"], x2)
    it.invoke()
    np.testing.assert_allclose(it.get_tensor(it.get_output_details()[0]["index"]), run_litert(model, [x2])[0],
                               rtol=1e-6, atol=1e-6)


def test_lstm_matches_trained_model():
    from conftest import models_dir
    root = models_dir()
    if root is None:
        pytest.skip("reference models not available")
    stem = root / "tflm" / "trained_lstm"
    from litert import Interpreter
    inter = np.load(f"{stem}.intermediates.npz")
    it = Interpreter(model_path=f"{stem}.tflite", experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], np.load(f"{stem}.input0.npy"))
    it.invoke()
    ref = inter["t18"]    # the LSTM's output sequence
    got = it.get_tensor(18)
    np.testing.assert_allclose(got, ref, atol=1e-5 * np.abs(ref).max(), rtol=0)
    want = np.load(f"{stem}.ref_output0.npy")
    np.testing.assert_allclose(it.get_tensor(it.get_output_details()[0]["index"]), want,
                               atol=1e-4 * np.abs(want).max(), rtol=0)


def _prepare_error(model, shape, match):
    with pytest.raises(PrepareError, match=match):
        run_litert(model, [sequence(shape)])


def test_lstm_rejects_state_that_is_not_variable():
    model, shape, _ = lstm_model()
    b = GraphBuilder()
    x = b.input("x", shape, F32)
    rng = np.random.default_rng(0)
    ins = [x] + [b.const(f"w{i}", rng.uniform(-1, 1, (4, 5 if i <= 4 else 4)).astype(F32)) for i in range(1, 9)]
    ins += [-1] * 3 + [b.const(f"b{i}", np.zeros(4, F32)) for i in range(12, 16)] + [-1, -1]
    ins += [b.tensor("h", (2, 4), F32), b.tensor("c", (2, 4), F32, variable=True)] + [-1] * 4
    y = b.tensor("y", (2, 3, 4), F32)
    b.op("UNIDIRECTIONAL_SEQUENCE_LSTM", ins, [y], options("UnidirectionalSequenceLSTMOptions", fusedActivationFunction=TANH))
    b.output(y)
    _prepare_error(b.build(), shape, "variable")


def test_lstm_rejects_wrong_weight_shape():
    model, shape, _ = lstm_model(n_input=5)
    with pytest.raises(PrepareError, match="input-to-input weights"):
        run_litert(model, [np.zeros((2, 3, 6), F32)])   # input features no longer match the weights


def test_lstm_rejects_partial_peepholes():
    model, shape, _ = lstm_model(peephole=True, drop=(10,))   # no cell-to-forget weights
    _prepare_error(model, shape, "peephole")


def test_lstm_rejects_cifg_with_input_gate_bias():
    model, shape, _ = lstm_model(drop=(1, 5))   # CIFG weights, but the input gate bias stays
    _prepare_error(model, shape, "CIFG")


@pytest.mark.parametrize("runtime_weights", [(), (2, 7, 10, 14, 16, 17, 21)])
def test_lstm_invoke_allocates_nothing(runtime_weights):
    model, shape, extra = lstm_model(peephole=True, projection=True, layer_norm=True, diagonal=True,
                                     n_input=40, n_cell=36, n_output=36, steps=20,
                                     runtime_weights=runtime_weights)
    held, peak = invoke_allocations(model, [sequence(shape)] + extra)
    assert held == 0 and peak < 4096, (held, peak)
