"""UNIDIRECTIONAL_SEQUENCE_LSTM, integer (int8 x int8 -> int16 cell) and hybrid paths, against the
official reference kernels: integers bit for bit, hybrid within float tolerance."""
import numpy as np
import pytest

from oneop import (GraphBuilder, assert_op_matches_reference, invoke_allocations, official_interpreter, options,
                   real_model, run_litert)
from litert.errors import PrepareError

F32, I8, I16, I32 = np.float32, np.int8, np.int16, np.int32
TANH = 4
GATES = ("input", "forget", "cell", "output")


def _sym(rng, shape, dtype, scale_of_max):
    """Random symmetric quantized values and their scale (max |real| = scale_of_max)."""
    top = np.iinfo(dtype).max
    q = rng.integers(-top, top, shape, endpoint=True).astype(dtype)
    return q, scale_of_max / top


def int_lstm_model(batch=2, steps=4, n_input=6, n_cell=8, n_output=None, cifg=False, peephole=False,
                   projection=False, proj_bias=True, layer_norm=False, time_major=False, cell_clip=0.0,
                   proj_clip=0.0, input_q=(0.05, 3), state_q=(1 / 128, -2), hidden_q=None, cell_log2=-11,
                   diagonal=False, seed=0, const_weights=True, intermediates=5, act=TANH):
    """A one-op integer LSTM model, quantized as TFLite's converter lays it out. Returns (model bytes,
    input shape). *_q are (scale, zero point); hidden_q is intermediate 4 (the hidden state)."""
    rng = np.random.default_rng(seed)
    # (a peephole with a projection must not have more outputs than cells: the reference reads out
    # of bounds then)
    n_output = n_output or (n_cell if not projection else n_cell - 3 if peephole else n_cell + 2)
    hidden_q = hidden_q or (state_q if not projection else (1 / 128, 5))
    b = GraphBuilder()
    shape = (steps, batch, n_input) if time_major else (batch, steps, n_input)
    x = b.input("x", shape, I8, ([input_q[0]], [input_q[1]]))
    ins = [x] + [-1] * 23
    gates = (1, 2, 3) if cifg else (0, 1, 2, 3)
    gate_scale = {g: 2.0 ** -12 for g in gates}
    if layer_norm:
        gate_scale = {g: float(rng.uniform(0.5, 2.0)) * 2.0 ** -12 for g in gates}

    def const(name, q, scale, zp=0):
        if not const_weights and name.startswith("w_x"):
            return b.input(name, q.shape, q.dtype, ([scale], [zp]))
        return b.tensor(name, q.shape, q.dtype, ([scale], [zp]), data=q)

    for g in gates:
        wx, sx = _sym(rng, (n_cell, n_input), I8, rng.uniform(0.3, 1.0))
        ins[1 + g] = const(f"w_x{g}", wx, sx)
        if diagonal:
            wh, sh = _sym(rng, (n_cell,), I8, rng.uniform(0.3, 1.0))
        else:
            wh, sh = _sym(rng, (n_cell, n_output), I8, rng.uniform(0.3, 1.0))
        ins[5 + g] = const(f"w_h{g}", wh, sh)
        if layer_norm:
            ln, sln = _sym(rng, (n_cell,), I16, rng.uniform(0.5, 1.5))
            ins[20 + g] = const(f"ln{g}", ln, sln)
            bias = rng.integers(-2 ** 10, 2 ** 10, n_cell).astype(I32)     # scale ln_scale / 1024
            ins[12 + g] = const(f"b{g}", bias, sln / 1024)
        else:
            # a bias up to ~2 (real), in units of input scale x weight scale
            bias = np.round(rng.uniform(-2, 2, n_cell) / (sx * input_q[0])).astype(I32)
            ins[12 + g] = const(f"b{g}", bias, sx * input_q[0])
    if peephole:
        for k, g in enumerate((0, 1, 3)):
            if g in gates:
                p, sp = _sym(rng, (n_cell,), I16, rng.uniform(0.2, 0.8))
                ins[9 + k] = const(f"peep{g}", p, sp)
    if projection:
        wp, sp = _sym(rng, (n_output, n_cell), I8, rng.uniform(0.3, 1.0))
        ins[16] = const("w_proj", wp, sp)
        if proj_bias:
            ins[17] = const("b_proj", rng.integers(-3000, 3000, n_output).astype(I32), sp * hidden_q[0])
    ins[18] = b.tensor("h", (batch, n_output), I8, ([state_q[0]], [state_q[1]]), variable=True)
    ins[19] = b.tensor("c", (batch, n_cell), I16, ([2.0 ** cell_log2], [0]), variable=True)
    inter = []
    for k in range(4):
        # with layer norm the reference reads all four scales, the input gate's even with CIFG
        q = ([gate_scale.get(k, 2.0 ** -12)], [0]) if layer_norm else None
        inter.append(b.tensor(f"inter{k}", (0,), I16 if q else F32, q))
    inter.append(b.tensor("hidden", (0,), I8, ([hidden_q[0]], [hidden_q[1]])))
    y = b.tensor("y", shape[:2] + (n_output,), I8, ([state_q[0]], [state_q[1]]))
    opts = options("UnidirectionalSequenceLSTMOptions", fusedActivationFunction=act, cellClip=cell_clip,
                   projClip=proj_clip, timeMajor=time_major)
    b.op("UNIDIRECTIONAL_SEQUENCE_LSTM", ins if layer_norm else ins[:24], [y], opts,
         intermediates=inter[:intermediates])
    b.output(y)
    return b.build(), shape


def run_twice(interpreter, inputs):
    """Outputs of two invokes in a row (the state carries over)."""
    interpreter.allocate_tensors()
    details = interpreter.get_input_details()
    outs = []
    for xs in inputs:
        for d, x in zip(details, xs):
            interpreter.set_tensor(d["index"], x)
        interpreter.invoke()
        outs.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]).copy())
    return outs


def both(model, inputs):
    """(official reference kernels, litert) outputs of the invokes in `inputs`."""
    from litert import Interpreter
    mod = official_interpreter()
    ref = mod.Interpreter(model_content=model, num_threads=1,
                          experimental_op_resolver_type=mod.OpResolverType.BUILTIN_REF)
    return run_twice(ref, inputs), run_twice(Interpreter(model_content=model, num_threads=1), inputs)


def full_range(shape, seed):
    return np.random.default_rng(seed).integers(-128, 127, shape, endpoint=True).astype(I8)


def check(**kw):
    """Two invokes of random full-range int8 sequences, bit exact, and the state must matter."""
    model, shape = int_lstm_model(**kw)
    want, got = both(model, [[full_range(shape, 1)], [full_range(shape, 2)]])
    for w, g in zip(want, got):
        assert g.dtype == w.dtype == I8 and g.shape == w.shape
        np.testing.assert_array_equal(g, w)
    assert len(np.unique(want[1])) > 3, "degenerate test: the output hardly varies"
    return got


# -- integer path ------------------------------------------------------------------------------
@pytest.mark.parametrize("cifg", [False, True], ids=["full", "cifg"])
@pytest.mark.parametrize("peephole", [False, True], ids=["", "peephole"])
@pytest.mark.parametrize("projection", [False, True], ids=["", "projection"])
@pytest.mark.parametrize("layer_norm", [False, True], ids=["", "layer_norm"])
def test_int_lstm_variants(cifg, peephole, projection, layer_norm):
    check(cifg=cifg, peephole=peephole, projection=projection, layer_norm=layer_norm, steps=5)


@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("batch,steps", [(1, 1), (1, 20), (3, 6)])
def test_int_lstm_sequences(time_major, batch, steps):
    check(time_major=time_major, batch=batch, steps=steps, peephole=True, layer_norm=True)


@pytest.mark.parametrize("input_q,state_q", [((0.05, -128), (1 / 128, 127)), ((0.02, 127), (1 / 64, -128)),
                                             ((0.1, 0), (1 / 100, 0))], ids=["zp-128_127", "zp127_-128", "zp0"])
def test_int_lstm_zero_points(input_q, state_q):
    check(input_q=input_q, state_q=state_q, peephole=True, steps=6)


@pytest.mark.parametrize("hidden_zp", [-128, 0, 127])
def test_int_lstm_projection_hidden_zero_point(hidden_zp):
    # with a projection the reference multiplies the hidden state with -hidden_zp (b/246629213)
    check(projection=True, hidden_q=(1 / 128, hidden_zp), state_q=(1 / 100, 9))


@pytest.mark.parametrize("cell_log2", [-9, -10, -12, -13, -14, -15])
def test_int_lstm_cell_scales(cell_log2):
    # the output's tanh reads the cell state with 15 + cell_log2 integer bits
    check(cell_log2=cell_log2, cifg=True, steps=6)


def test_int_lstm_clips():
    got = check(projection=True, cell_clip=0.05, proj_clip=0.05, state_q=(1 / 128, 0), steps=6)
    assert np.abs(got[1].astype(int)).max() == 6      # int8(0.05 * 128)


@pytest.mark.parametrize("time_major", [False, True])
def test_int_lstm_peephole_with_fewer_outputs_than_cells(time_major):
    # the reference runs the peephole product over n_output elements of the flat gate buffer
    check(peephole=True, projection=True, n_cell=8, n_output=5, batch=3, time_major=time_major)


def test_int_lstm_sizes():
    check(n_input=70, n_cell=36, n_output=20, projection=True, layer_norm=True, peephole=True, batch=2, steps=3)


def _reference_and_litert_after_reset(zero_point):
    from litert import Interpreter
    model, shape = int_lstm_model(state_q=(1 / 128, zero_point), steps=3)
    x = full_range(shape, 3)
    mod = official_interpreter()
    ref = mod.Interpreter(model_content=model, experimental_op_resolver_type=mod.OpResolverType.BUILTIN_REF)
    want = run_twice(ref, [[x]])[0]
    it = Interpreter(model_content=model)
    first = run_twice(it, [[x]])[0]
    it.invoke()
    it.reset_all_variables()
    it.invoke()
    return want, first, it.get_tensor(it.get_output_details()[0]["index"])


def test_int_lstm_state_starts_at_zero_point():
    # the official interpreter starts an int8 variable tensor at its zero point, not at 0
    want, first, _ = _reference_and_litert_after_reset(-7)
    np.testing.assert_array_equal(first, want)


def test_int_lstm_state_resets_to_zero_point():
    want, _, after_reset = _reference_and_litert_after_reset(-7)
    np.testing.assert_array_equal(after_reset, want)


def _prepare_error(model, shape, match):
    with pytest.raises(PrepareError, match=match):
        run_litert(model, [full_range(shape, 0)])


def test_int_lstm_rejects_diagonal_recurrent_weights():
    _prepare_error(*int_lstm_model(diagonal=True), "diagonal")


def test_int_lstm_rejects_runtime_weights():
    model, shape = int_lstm_model(const_weights=False)
    with pytest.raises(PrepareError, match="constant"):
        run_litert(model, [full_range(shape, 0)] + [np.zeros((8, 6), I8)] * 4)


def test_int_lstm_rejects_missing_intermediates():
    _prepare_error(*int_lstm_model(intermediates=4), "5 intermediate")


def test_int_lstm_rejects_cell_scale_not_power_of_two():
    model, shape = int_lstm_model(cell_log2=-11.5)
    _prepare_error(model, shape, "power of two")


def test_int_lstm_rejects_cell_scale_out_of_range():
    _prepare_error(*int_lstm_model(cell_log2=-8), "2\\^-15")


def test_int_lstm_rejects_peephole_projection_to_more_outputs():
    _prepare_error(*int_lstm_model(peephole=True, projection=True, n_cell=6, n_output=8), "out of bounds")


def test_int_lstm_invoke_allocates_nothing():
    model, shape = int_lstm_model(n_input=64, n_cell=48, steps=30, peephole=True, layer_norm=True,
                                  projection=True, n_output=40)
    held, peak = invoke_allocations(model, [full_range(shape, 0)])
    assert held == 0 and peak < 4096, (held, peak)


# -- the LSTMs of the reference models, one op at a time -----------------------------------------
@pytest.mark.parametrize("name,op", [("micro_speech_lstm", 0), ("trained_lstm_int8", 0),
                                     ("dtln_noise_suppression", 0), ("dtln_noise_suppression", 1)])
def test_int_lstm_reference_model_ops(name, op):
    assert_op_matches_reference(real_model(f"tflm/{name}"), op)


@pytest.mark.parametrize("name", ["micro_speech_lstm", "trained_lstm_int8", "dtln_noise_suppression"])
def test_int_lstm_reference_models(name):
    # the whole models (with int8 FULLY_CONNECTED, RESHAPE, SOFTMAX / LOGISTIC after the LSTMs)
    from conftest import models_dir
    from litert import Interpreter
    root = models_dir()
    if root is None:
        pytest.skip("reference models not available")
    stem = root / "tflm" / name
    it = Interpreter(model_path=f"{stem}.tflite", experimental_preserve_all_tensors=True)
    it.allocate_tensors()
    it.set_tensor(it.get_input_details()[0]["index"], np.load(f"{stem}.input0.npy"))
    it.invoke()
    inter = np.load(f"{stem}.intermediates.npz")
    for key in inter.files:
        if key.startswith("t"):
            np.testing.assert_array_equal(it.get_tensor(int(key[1:])), inter[key], err_msg=key)
    np.testing.assert_array_equal(it.get_tensor(it.get_output_details()[0]["index"]),
                                  np.load(f"{stem}.ref_output0.npy"))


# -- hybrid path: float input and states, int8 weights -------------------------------------------
def hybrid_lstm_model(batch=2, steps=4, n_input=6, n_cell=8, n_output=None, cifg=False, peephole=False,
                      projection=False, proj_bias=True, layer_norm=False, time_major=False, cell_clip=0.0,
                      proj_clip=0.0, asymmetric=False, diagonal=False, act=TANH, seed=0):
    rng = np.random.default_rng(seed)
    n_output = n_output or (n_cell + 1 if projection else n_cell)
    b = GraphBuilder()
    shape = (steps, batch, n_input) if time_major else (batch, steps, n_input)
    x = b.input("x", shape, F32)
    ins = [x] + [-1] * 23
    gates = (1, 2, 3) if cifg else (0, 1, 2, 3)

    def weights(name, shape, scale=0.6):
        q, s = _sym(rng, shape, I8, rng.uniform(0.3, 1.0) * scale)
        return b.tensor(name, q.shape, I8, ([s], [0]), data=q)

    def floats(name, shape, lo, hi):
        v = rng.uniform(lo, hi, shape).astype(F32)
        return b.tensor(name, v.shape, F32, data=v)

    for g in gates:
        ins[1 + g] = weights(f"w_x{g}", (n_cell, n_input))
        ins[5 + g] = floats(f"w_h{g}", (n_cell,), -0.5, 0.5) if diagonal else weights(f"w_h{g}", (n_cell, n_output))
        ins[12 + g] = floats(f"b{g}", (n_cell,), -1, 1)
        if layer_norm:
            ins[20 + g] = floats(f"ln{g}", (n_cell,), 0.5, 1.5)
    if peephole:
        for k, g in enumerate((0, 1, 3)):
            if g in gates:
                ins[9 + k] = weights(f"peep{g}", (n_cell,))
    if projection:
        ins[16] = weights("w_proj", (n_output, n_cell))
        if proj_bias:
            ins[17] = floats("b_proj", (n_output,), -0.3, 0.3)
    ins[18] = b.tensor("h", (batch, n_output), F32, variable=True)
    ins[19] = b.tensor("c", (batch, n_cell), F32, variable=True)
    y = b.tensor("y", shape[:2] + (n_output,), F32)
    opts = options("UnidirectionalSequenceLSTMOptions", fusedActivationFunction=act, cellClip=cell_clip,
                   projClip=proj_clip, timeMajor=time_major, asymmetricQuantizeInputs=asymmetric)
    b.op("UNIDIRECTIONAL_SEQUENCE_LSTM", ins if layer_norm else ins[:24], [y], opts)
    b.output(y)
    return b.build(), shape


def sequence(shape, seed, scale=1.0):
    return np.random.default_rng(seed).uniform(-scale, scale, shape).astype(F32)


HYBRID_TOLERANCE = 1e-5


def check_hybrid(x=None, **kw):
    model, shape = hybrid_lstm_model(**kw)
    xs = [sequence(shape, 1) if x is None else x, sequence(shape, 2)]
    want, got = both(model, [[v] for v in xs])
    for w, g in zip(want, got):
        assert g.dtype == w.dtype == F32 and g.shape == w.shape
        scale = max(float(np.abs(w).max()), 1.0)
        np.testing.assert_allclose(g, w, atol=HYBRID_TOLERANCE * scale, rtol=0)
    return got


@pytest.mark.parametrize("asymmetric", [False, True], ids=["symmetric", "asymmetric"])
@pytest.mark.parametrize("cifg", [False, True], ids=["full", "cifg"])
@pytest.mark.parametrize("peephole", [False, True], ids=["", "peephole"])
@pytest.mark.parametrize("projection", [False, True], ids=["", "projection"])
@pytest.mark.parametrize("layer_norm", [False, True], ids=["", "layer_norm"])
def test_hybrid_lstm_variants(asymmetric, cifg, peephole, projection, layer_norm):
    check_hybrid(asymmetric=asymmetric, cifg=cifg, peephole=peephole, projection=projection,
                 layer_norm=layer_norm, steps=5)


@pytest.mark.parametrize("asymmetric", [False, True], ids=["symmetric", "asymmetric"])
@pytest.mark.parametrize("time_major", [False, True])
@pytest.mark.parametrize("batch,steps", [(1, 1), (1, 20), (3, 6)])
def test_hybrid_lstm_sequences(asymmetric, time_major, batch, steps):
    check_hybrid(asymmetric=asymmetric, time_major=time_major, batch=batch, steps=steps, peephole=True)


@pytest.mark.parametrize("asymmetric", [False, True], ids=["symmetric", "asymmetric"])
def test_hybrid_lstm_zero_and_one_signed_rows(asymmetric):
    # all-zero rows skip quantization in the reference; all-positive rows move the asymmetric zero point
    model, shape = hybrid_lstm_model(asymmetric=asymmetric, batch=3, steps=4, projection=True)
    x = sequence(shape, 5)
    x[0, 1] = 0
    x[1] = np.abs(x[1])
    x[2, 2] = -np.abs(x[2, 2])
    check_hybrid(x, asymmetric=asymmetric, batch=3, steps=4, projection=True)


@pytest.mark.parametrize("act", [0, 1, 3, 4], ids=["NONE", "RELU", "RELU6", "TANH"])
def test_hybrid_lstm_cell_activation(act):
    check_hybrid(act=act, projection=True)


def test_hybrid_lstm_clips():
    got = check_hybrid(projection=True, cell_clip=0.3, proj_clip=0.2, steps=6)
    assert np.isclose(np.abs(got[1]).max(), 0.2)


def test_hybrid_lstm_diagonal_recurrent_weights():
    check_hybrid(diagonal=True, peephole=True)


def test_hybrid_lstm_sizes():
    check_hybrid(n_input=70, n_cell=36, n_output=20, projection=True, layer_norm=True, peephole=True,
                 asymmetric=True)


def test_hybrid_lstm_invoke_allocates_nothing():
    model, shape = hybrid_lstm_model(n_input=64, n_cell=48, steps=30, peephole=True, layer_norm=True,
                                     projection=True, n_output=40, asymmetric=True)
    held, peak = invoke_allocations(model, [sequence(shape, 0)])
    assert held == 0 and peak < 4096, (held, peak)


def test_hybrid_lstm_rejects_weights_without_scale():
    b = GraphBuilder()
    x = b.input("x", (1, 2, 3), F32)
    w = [b.tensor(f"w{i}", (4, 3 if i < 4 else 4), I8, data=np.ones((4, 3 if i < 4 else 4), I8)) for i in range(8)]
    bias = [b.tensor(f"b{i}", (4,), F32, data=np.zeros(4, F32)) for i in range(4)]
    h = b.tensor("h", (1, 4), F32, variable=True)
    c = b.tensor("c", (1, 4), F32, variable=True)
    y = b.tensor("y", (1, 2, 4), F32)
    b.op("UNIDIRECTIONAL_SEQUENCE_LSTM", [x] + w + [-1] * 3 + bias + [-1, -1, h, c], [y],
         options("UnidirectionalSequenceLSTMOptions", fusedActivationFunction=TANH))
    b.output(y)
    with pytest.raises(PrepareError, match="without a scale"):
        run_litert(b.build(), [np.zeros((1, 2, 3), F32)])
