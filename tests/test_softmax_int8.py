"""Quantized SOFTMAX and LOG_SOFTMAX against the official reference kernels, bit for bit.

The reference kernels abort the process (SIGABRT) on an int8 SOFTMAX whose exponentials sum past
~2^9 (rows of more than ~520 near-equal classes): the goldens for such rows come from a
subprocess, and where it aborts the official optimized kernels are the reference, within 1 LSB."""
import multiprocessing
import pickle

import numpy as np
import pytest

from litert.errors import PrepareError
from oneop import (assert_op_matches_reference, assert_same, one_op_model, options, real_model, run_litert,
                   run_official)

TYPE_IDS = {np.int8: "int8", np.uint8: "uint8", np.int16: "int16"}
SOFTMAX_OUT = {np.int8: (1 / 256, -128), np.uint8: (1 / 256, 0), np.int16: (1 / 65536, -32768)}


def full_range(rng, shape, dtype):
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


def softmax_model(shape, dtype, in_q, out_dtype=None, beta=1.0, op="SOFTMAX", out_q=None):
    out_dtype = out_dtype or dtype
    if out_q is None:
        out_q = SOFTMAX_OUT[out_dtype] if op == "SOFTMAX" else (16 / 256, int(np.iinfo(dtype).max))
    opts = options("SoftmaxOptions", beta=beta) if op == "SOFTMAX" and beta is not None else None
    return one_op_model(op, [("input", shape, dtype, ([in_q[0]], [in_q[1]]))],
                        [(shape, out_dtype, ([out_q[0]], [out_q[1]]))], opts)


def _official_in_subprocess(model, inputs, queue):
    import faulthandler
    faulthandler.disable()          # an abort is expected here: no traceback dump
    queue.put(pickle.dumps(run_official(model, inputs)))


def official_or_none(model, inputs):
    """The official reference output, or None when the reference kernels abort the process."""
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_official_in_subprocess, args=(model, inputs, queue))
    proc.start()
    proc.join(120)
    if proc.exitcode != 0:
        return None
    return pickle.loads(queue.get(timeout=10))


# -- SOFTMAX, 8-bit in ------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype,out_dtype", [(np.int8, np.int8), (np.uint8, np.uint8), (np.int8, np.int16),
                                             (np.uint8, np.int16)], ids=["int8", "uint8", "int8-int16", "uint8-int16"])
@pytest.mark.parametrize("shape", [(1, 2), (3, 10), (2, 3, 37), (2, 2, 2, 130), (4, 500), (7,)], ids=str)
@pytest.mark.parametrize("in_q,beta", [((0.01232975, -6), 1.0), ((0.1, 0), 1.0), ((0.5, 127), 0.6),
                                       ((0.003, -128), 2.5), ((0.0625, 3), 1.0), ((1.3, 10), 1.0)])
def test_softmax_8bit(dtype, out_dtype, shape, in_q, beta):
    rng = np.random.default_rng(0)
    zp = in_q[1] + (128 if dtype == np.uint8 else 0)
    x = full_range(rng, shape, dtype)
    model = softmax_model(shape, dtype, (in_q[0], zp), out_dtype, beta)
    want = official_or_none(model, [x]) if shape[-1] > 256 else run_official(model, [x])
    if want is None:
        pytest.skip("the reference kernels abort on this row")
    got = run_litert(model, [x])[0]
    np.testing.assert_array_equal(got, want[0])


@pytest.mark.parametrize("depth", [2, 5, 64, 255, 256, 300])
def test_softmax_int8_equal_logits(depth):
    """Rows of equal values, and one large value among small ones (outputs at both ends)."""
    x = np.zeros((3, depth), np.int8)
    x[1, :] = 100
    x[2, :] = -128
    x[2, depth // 2] = 127
    model = softmax_model(x.shape, np.int8, (0.05, 0))
    want = official_or_none(model, [x])
    assert want is not None
    np.testing.assert_array_equal(run_litert(model, [x])[0], want[0])


def test_softmax_int8_where_the_reference_aborts():
    """Over ~520 equal classes the reference kernels abort; the optimized kernels agree within
    1 LSB (all outputs are at or next to the minimum)."""
    rng = np.random.default_rng(5)
    x = rng.integers(-5, 5, (2, 1000)).astype(np.int8)
    model = softmax_model(x.shape, np.int8, (0.01, 0))
    assert official_or_none(model, [x]) is None, "the reference kernels no longer abort: compare bit for bit"
    want = run_official(model, [x], resolver="BUILTIN_WITHOUT_DEFAULT_DELEGATES")[0]
    got = run_litert(model, [x])[0]
    assert np.abs(got.astype(int) - want).max() <= 1


def test_softmax_8bit_without_options_needs_beta():
    # no SoftmaxOptions: beta 0, which the official kernel cannot scale (its CHECK aborts)
    x = np.zeros((2, 4), np.int8)
    with pytest.raises(PrepareError, match="beta"):
        run_litert(softmax_model(x.shape, np.int8, (0.1, 0), beta=None), [x])


# -- SOFTMAX int16 --------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", [(1, 2), (3, 10), (2, 3, 37), (2, 2, 2, 130), (2, 700)], ids=str)
@pytest.mark.parametrize("in_scale,beta", [(1 / 2048, 1.0), (1 / 1024, 0.5), (0.0003, 1.0), (0.002, 2.0),
                                           (1 / 32768, 1.0)])
def test_softmax_int16(shape, in_scale, beta):
    rng = np.random.default_rng(1)
    x = full_range(rng, shape, np.int16)
    assert_same(softmax_model(shape, np.int16, (in_scale, 0), np.int16, beta, out_q=(1 / 32768, 0)), [x])


def test_softmax_int16_small_spread():
    """Values close to the row maximum: exp near 1 everywhere."""
    rng = np.random.default_rng(2)
    x = rng.integers(1000, 1100, (4, 50)).astype(np.int16)
    assert_same(softmax_model(x.shape, np.int16, (1 / 4096, 0), np.int16, 1.0, out_q=(1 / 32768, 0)), [x])


# -- LOG_SOFTMAX ------------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.int8, np.uint8], ids=TYPE_IDS.get)
@pytest.mark.parametrize("shape", [(1, 2), (3, 10), (2, 3, 37), (2, 2, 2, 130), (4, 500)], ids=str)
@pytest.mark.parametrize("in_q", [(0.01232975, -6), (0.1, 0), (0.5, 127), (0.003, -128), (1.3, 10)])
def test_log_softmax_8bit(dtype, shape, in_q):
    rng = np.random.default_rng(3)
    zp = in_q[1] + (128 if dtype == np.uint8 else 0)
    x = full_range(rng, shape, dtype)
    assert_same(softmax_model(shape, dtype, (in_q[0], zp), op="LOG_SOFTMAX"), [x])


@pytest.mark.parametrize("dtype", [np.int8, np.uint8], ids=TYPE_IDS.get)
def test_log_softmax_8bit_equal_logits(dtype):
    x = np.full((3, 300), np.iinfo(dtype).max, dtype)
    x[1, :] = np.iinfo(dtype).min
    x[2, ::7] = 0
    assert_same(softmax_model(x.shape, dtype, (0.05, 0), op="LOG_SOFTMAX"), [x])


# -- what the official kernels refuse -----------------------------------------------------------

@pytest.mark.parametrize("case", ["int8 zero point", "int8 scale", "log scale", "int16 out zp", "int8 to uint8",
                                  "int16 to int8", "int16 rank 5"])
def test_rejects(case):
    shape = (2, 4)
    if case == "int8 zero point":
        model = softmax_model(shape, np.int8, (0.1, 0), out_q=(1 / 256, 0))
    elif case == "int8 scale":
        model = softmax_model(shape, np.int8, (0.1, 0), out_q=(1 / 128, -128))
    elif case == "log scale":
        model = softmax_model(shape, np.int8, (0.1, 0), op="LOG_SOFTMAX", out_q=(1 / 256, 127))
    elif case == "int16 out zp":
        model = softmax_model(shape, np.int16, (0.001, 0), np.int16, out_q=(1 / 32768, 5))
    elif case == "int8 to uint8":
        model = softmax_model(shape, np.int8, (0.1, 0), np.uint8, out_q=(1 / 256, 0))
    elif case == "int16 to int8":
        model = softmax_model(shape, np.int16, (0.001, 0), np.int8, out_q=(1 / 256, -128))
    else:
        shape = (1, 2, 1, 2, 4)
        model = softmax_model(shape, np.int16, (0.001, 0), np.int16, out_q=(1 / 32768, 0))
    dtype = np.int16 if "int16" in case else np.int8
    with pytest.raises(PrepareError, match="SOFTMAX"):
        run_litert(model, [np.zeros(shape, dtype)])


# -- the softmaxes of real models, replayed on their reference intermediates ---------------------------
# (person_detect's references come from TF Lite Micro without intermediates: its final SOFTMAX is
# only checked end to end, by the conformance suite)

@pytest.mark.parametrize("name,op_index", [("tf/mlp_int8", 4), ("tf/tiny_cnn_int8", 8),
                                           ("tflm/keyword_scrambled", 13), ("tflm/micro_speech_quantized", 3),
                                           ("tflm/micro_speech_lstm", 3),
                                           ("tflm/trained_lstm_int8", 3)])
def test_real_model_softmax(name, op_index):
    assert_op_matches_reference(real_model(name), op_index)


def test_mobilenet_v2_int8_final_softmax():
    """1000 classes: the reference kernels abort, and the intermediates stop before this op (its
    logits are there). Compare with the official optimized kernels within 1 LSB."""
    from litert.model import load_model
    path = real_model("tf/mobilenet_v2_int8")
    sg = load_model(str(path)).subgraphs[0]
    op = sg.operators[64]
    assert op.name == "SOFTMAX"
    x, y = sg.tensors[op.inputs[0]], sg.tensors[op.outputs[0]]
    logits = np.load(str(path)[:-len(".tflite")] + ".intermediates.npz")[f"t{op.inputs[0]}"]
    model = one_op_model("SOFTMAX", [("input", x.shape, x.dtype, (x.quantization.scales, x.quantization.zero_points))],
                         [(y.shape, y.dtype, (y.quantization.scales, y.quantization.zero_points))], op.options)
    feeds = [logits]
    assert official_or_none(model, feeds) is None
    want = run_official(model, feeds, resolver="BUILTIN_WITHOUT_DEFAULT_DELEGATES")[0]
    got = run_litert(model, feeds)[0]
    assert np.abs(got.astype(int) - want).max() <= 1
