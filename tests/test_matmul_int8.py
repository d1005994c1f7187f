"""The integer matrix core (litert/kernels/matmul_int8.py) against numpy, and every
FULLY_CONNECTED, BATCH_MATMUL and SVDF of the reference models op by op: the op alone, fed the
inputs the official reference kernels saw (<model>.intermediates.npz), must give the output they
saved, bit for bit (float outputs of hybrid ops within 1e-5 of their largest magnitude)."""
import numpy as np
import pytest

from conftest import models_dir
from oneop import GraphBuilder, assert_op_matches_reference, replay_op
from litert.kernels.matmul_int8 import (EPI_FC_DOUBLE, EPI_MBQM32, EPI_MBQM64, EPI_RAW, int_gemm, padded_rows,
                                        quantize_rows)
from litert.kernels.qmath import mbqm, mbqm_int64, quantize_multiplier

I8, I16, I32, I64 = np.int8, np.int16, np.int32, np.int64


def full_range(rng, shape, dtype):
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


def wrap32(v):
    return (np.asarray(v, np.int64) + 2 ** 31) % 2 ** 32 - 2 ** 31


def run_gemm(x, w, out_type, col_corr=None, row_corr=None, kind=EPI_RAW, wrap=True, mult=None, shift=None,
             scale=None, zp=0, lo=None, hi=None):
    m, n = x.shape[0], w.shape[0]
    wp = np.zeros((padded_rows(n), x.shape[1]), w.dtype)
    wp[:n] = w
    out = np.zeros((m, n), out_type)
    info = np.iinfo(out_type)
    int_gemm(x, wp, out, np.zeros((4, padded_rows(n)), I64),
             np.zeros(n, I64) if col_corr is None else col_corr, np.zeros(m, I64) if row_corr is None else row_corr,
             kind, wrap, np.zeros(n, I32) if mult is None else mult, np.zeros(n, I32) if shift is None else shift,
             np.zeros(n) if scale is None else scale, zp, info.min if lo is None else lo,
             info.max if hi is None else hi)
    return out


@pytest.mark.parametrize("types", [(I8, I8), (I16, I8), (I16, I16)], ids=str)
@pytest.mark.parametrize("m,n,k", [(1, 1000, 1280), (7, 9, 33), (64, 70, 96), (5, 3, 0), (4, 4, 1), (0, 3, 3),
                                   (3, 0, 3), (9, 130, 700)])
def test_int_gemm_raw_sums(types, m, n, k):
    rng = np.random.default_rng(0)
    x = full_range(rng, (m, k), types[0])
    w = full_range(rng, (n, k), types[1])
    want = x.astype(I64) @ w.astype(I64).T
    # the raw sums stored to int32 (16-bit products can exceed it: wrapped, as the epilogue does)
    np.testing.assert_array_equal(run_gemm(x, w, I32), wrap32(want))


def test_int_gemm_int8_sums_wrap_like_int32():
    # K large enough that an int32 sum of int8 products overflows: the reference's int32
    # accumulator wraps, and so does the core
    k = 140000
    x = np.full((1, k), -128, I8)
    w = np.full((4, k), -128, I8)
    got = run_gemm(x, w, I32)
    np.testing.assert_array_equal(got, wrap32(np.full((1, 4), 16384 * k)))


def test_int_gemm_corrections_and_epilogues():
    rng = np.random.default_rng(1)
    x, w = full_range(rng, (13, 50), I8), full_range(rng, (11, 50), I8)
    col = rng.integers(-5000, 5000, 11).astype(I64)
    row = rng.integers(-5000, 5000, 13).astype(I64)
    acc = x.astype(I64) @ w.astype(I64).T + col + row[:, None]
    # MBQM32 per column
    mult, shift = (np.array(v, I32) for v in zip(*[quantize_multiplier(s) for s in np.geomspace(1e-3, 2, 11)]))
    got = run_gemm(x, w, I8, col, row, EPI_MBQM32, True, mult, shift, zp=-5)
    want = np.clip([[mbqm(int(a), int(mult[j]), int(shift[j])) - 5 for j, a in enumerate(r)] for r in acc], -128, 127)
    np.testing.assert_array_equal(got, want)
    # MBQM64
    got = run_gemm(x, w, I16, col, row, EPI_MBQM64, False, mult, shift)
    want = np.clip([[mbqm_int64(int(a), int(mult[j]), int(shift[j])) for j, a in enumerate(r)] for r in acc],
                   -32768, 32767)
    np.testing.assert_array_equal(got, want)
    # FC double: round(acc * scale), halves away from zero, then the zero point, then the clamp
    scale = np.geomspace(1e-4, 1e-1, 11)
    got = run_gemm(x, w, I8, col, row, EPI_FC_DOUBLE, True, scale=scale, zp=3, lo=-100, hi=90)
    v = acc * scale
    want = np.clip(np.sign(v) * np.floor(np.abs(v) + 0.5) + 3, -100, 90)
    np.testing.assert_array_equal(got, want)


def test_quantize_rows_symmetric_and_asymmetric():
    rng = np.random.default_rng(2)
    x = rng.uniform(-3, 2, (6, 40)).astype(np.float32)
    x[1] = 0
    x[2] = np.abs(x[2]) + 1
    q = np.zeros(x.shape, I8)
    sf = np.zeros(6, np.float32)
    off = np.zeros(6, I32)
    quantize_rows(x, q, sf, off, False)
    assert (off == 0).all() and sf[1] == 1 and (q[1] == 0).all()
    assert np.abs(q).max() == 127 and q.min() >= -127
    np.testing.assert_allclose(q * sf[:, None], x, atol=float(sf.max()) / 2 + 1e-7)
    quantize_rows(x, q, sf, off, True)
    assert off[1] == 0 and sf[1] == 1 and (q[1] == 0).all()
    assert off[2] == -128                      # all positive: zero at the bottom of the range
    np.testing.assert_allclose((q.astype(np.float64) - off[:, None]) * sf[:, None], x,
                               atol=float(sf.max()) / 2 + 1e-6)


# -- the reference models, op by op -----------------------------------------------------------
MODEL_OPS = ["tf/mlp_int8", "tf/mlp_dynamic", "tflm/hello_world_int8", "litert/matmul_quant", "tf/ops_zoo_int8",
             "tflm/keyword_scrambled", "tflm/micro_speech_quantized", "tf/mobilenet_v2_int8", "tf/tiny_cnn_dynamic"]
OPS = ("FULLY_CONNECTED", "BATCH_MATMUL", "SVDF")


def _op_cases():
    root = models_dir()
    if root is None:
        return [pytest.param(None, None, marks=pytest.mark.skip(reason="reference models not present"))]
    from litert.model import load_model
    cases = []
    for name in MODEL_OPS:
        path = root / f"{name}.tflite"
        if not path.exists():
            continue
        model = load_model(str(path))
        for op in model.subgraphs[0].operators:
            if op.name in OPS:
                cases.append(pytest.param(name, op.index, id=f"{name}:{op.index}:{op.name}"))
    return cases


@pytest.mark.parametrize("name,op_index", _op_cases())
def test_reference_model_op(name, op_index):
    path = models_dir() / f"{name}.tflite"
    model, feeds, wants = replay_op(path, op_index)
    if wants[0] is None:
        pytest.skip(f"{name}: no saved value for the op's output")
    assert_op_matches_reference(path, op_index)