"""Intra-op threads (litert/threads.py and the kernels that split their work): with 2 or 3
threads every covered op gives outputs bit-identical to 1 thread, big ops really split (and
small ones stay whole), whole models agree, and an invoke with threads allocates no numpy buffer."""
import threading
import time

import numpy as np
import pytest

from oneop import measure_invoke, one_op_model, options, real_model

from litert import Interpreter, threads
from litert.kernels.common import jit
from litert.kernels.sync import chunk_end, chunk_start, load_acquire, store_release

F32, I8, U8, I16, I32, I64 = np.float32, np.int8, np.uint8, np.int16, np.int32, np.int64
SAME, VALID = 0, 1


# -- the pool ------------------------------------------------------------------------------------
@jit
def add_chunk(out, i, v, sync, part):
    """A threaded core at its smallest: out[i] += v, between chunk_start and chunk_end."""
    if chunk_start(sync, part):
        out[i] += v
    chunk_end(sync, part)


@jit
def meet_chunk(flags, seen, rounds, sync, part):
    """Chunk k raises flags[k], then spins (at most `rounds`) until every chunk has: seen[k] = 1
    when they all ran at the same time."""
    if chunk_start(sync, part):
        k, n = part
        store_release(flags, k, 1)
        for _ in range(rounds):
            arrived = 0
            for j in range(n):
                arrived += load_acquire(flags, j)
            if arrived == n:
                seen[k] = 1
                break
    chunk_end(sync, part)


def test_run_chunks_runs_every_chunk_once():
    out = np.zeros(7, np.int64)
    for _ in range(3):
        threads.run_chunks(add_chunk, threads.with_parts([(out, i, i + 1) for i in range(7)]))
    np.testing.assert_array_equal(out, 3 * np.arange(1, 8))
    threads.run_chunks(add_chunk, threads.with_parts([(out, 0, 10)]))
    assert out[0] == 13


def test_chunks_run_at_the_same_time():
    for n in (2, 3):
        flags, seen = np.zeros(n, np.int64), np.zeros(n, np.int64)
        threads.run_chunks(meet_chunk, threads.with_parts([(flags, seen, 10**9)] * n))
        np.testing.assert_array_equal(seen, 1)


def test_a_chunks_error_is_raised_after_the_others_finished():
    out = np.zeros(3, np.int64)
    chunks = threads.with_parts([(out, 0, 1), (out, 1, "not a number"), (out, 2, 3)])
    with pytest.raises(Exception, match="(?i)invalid|type|cannot"):
        threads.run_chunks(add_chunk, chunks)
    np.testing.assert_array_equal(out, [1, 0, 3])
    with pytest.raises(Exception, match="(?i)invalid|type|cannot"):      # chunk 0 fails before it starts the rest
        threads.run_chunks(add_chunk, threads.with_parts([(out, 0, "x"), (out, 1, 5)]))
    threads.run_chunks(add_chunk, threads.with_parts([(out, 0, 1), (out, 1, 2), (out, 2, 3)]))   # still works
    np.testing.assert_array_equal(out, [2, 2, 6])


def test_concurrent_callers_share_the_pool_safely():
    """Python threads splitting work at once: one gets the workers, the others run their chunks
    themselves; every chunk gets done, nothing deadlocks."""
    results = {}

    def job(name):
        acc = np.zeros(64, np.int64)
        chunks = threads.with_parts([(acc, i, i) for i in range(0, 64, 16)])
        for _ in range(300):
            threads.run_chunks(add_chunk, chunks)
        results[name] = acc
    ts = [threading.Thread(target=job, args=(k,)) for k in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join(timeout=60)
    want = np.zeros(64, np.int64)
    want[0:64:16] = np.arange(0, 64, 16) * 300
    for k in range(3):
        np.testing.assert_array_equal(results[k], want)


def test_workers_that_fell_asleep_are_woken():
    out = np.zeros(2, np.int64)
    chunks = threads.with_parts([(out, 0, 1), (out, 1, 1)])
    for _ in range(3):
        threads.run_chunks(add_chunk, chunks)
        time.sleep((threads.AFTER_US + threads.SPIN_US) * 1e-6 + 0.01)      # past the spin: the worker sleeps
    np.testing.assert_array_equal(out, [3, 3])


def test_a_late_workers_chunk_is_run_by_the_caller():
    """A worker asleep when the op starts takes tens of microseconds to wake; chunk 0 (a few
    nanoseconds here) takes its chunk rather than wait."""
    from litert.kernels.sync import LINE, SEQ, STOLEN
    out = np.zeros(2, np.int64)
    chunks = threads.with_parts([(out, 0, 1), (out, 1, 1)])
    stolen = 0
    for _ in range(5):
        time.sleep((threads.AFTER_US + threads.SPIN_US) * 1e-6 + 0.01)
        threads.run_chunks(add_chunk, chunks)
        stolen += chunks[0][-2][LINE + STOLEN] == chunks[0][-2][SEQ]
    np.testing.assert_array_equal(out, [5, 5])
    assert stolen >= 1


def test_plan():
    assert threads.plan(2, 112, threads.HANDOFF_US + 2 * threads.MIN_CHUNK_US - 1) == [(0, 112)]
    cuts = threads.plan(2, 112, 40)
    assert len(cuts) == 2 and cuts[0][0] == 0 and cuts[-1][1] == 112 and cuts[0][1] == cuts[1][0]
    assert cuts[0][1] - cuts[0][0] > cuts[1][1] - cuts[1][0]       # the caller's chunk is the larger
    assert threads.plan(1, 112, 1e6) == [(0, 112)]
    assert threads.plan(4, 3, 1e6) == [(0, 1), (1, 2), (2, 3)]
    assert threads.plan(3, 0, 1e6) == [(0, 0)]
    for n, units, align in ((2, 49, 4), (3, 1000, 32), (3, 10, 1), (4, 37, 8)):
        cuts = threads.plan(n, units, 1e5, align)
        assert len(cuts) == min(n, -(-units // align)) and cuts[0][0] == 0 and cuts[-1][1] == units
        assert all(a < b for a, b in cuts) and all(b % align == 0 for _, b in cuts[:-1])
        assert all(a == b for (_, a), (b, _) in zip(cuts, cuts[1:]))


# -- one-op models ------------------------------------------------------------------------------
def rng_for(name):
    return np.random.default_rng(sum(map(ord, name)))


def q8(dtype, rng, scale=None):
    """(scales, zero points) of an activation: zero point 0 for int16."""
    zp = 0 if dtype == I16 else int(rng.integers(-20, 20)) + (128 if dtype == U8 else 0)
    return [scale or float(rng.uniform(0.01, 0.05))], [zp]


def ints(rng, shape, dtype, lo=None, hi=None):
    info = np.iinfo(dtype)
    return rng.integers(info.min if lo is None else lo, (info.max if hi is None else hi) + 1, shape).astype(dtype)


def conv(dtype, xs, fs, stride=1, padding=SAME, groups=1, runtime_weights=False):
    """CONV_2D on dtype activations: float32, int8, uint8, int16 (16x8) or "hybrid"."""
    name = f"conv-{dtype}-{xs}-{fs}"
    rng = rng_for(name)
    n, h, w, c = xs
    o, kh, kw, cg = fs
    oh = -(-h // stride) if padding == SAME else (h - kh) // stride + 1
    ow = -(-w // stride) if padding == SAME else (w - kw) // stride + 1
    opts = options("Conv2DOptions", padding=padding, strideH=stride, strideW=stride)
    out_shape = (n, oh, ow, o)
    if dtype in ("float32", "hybrid"):
        x = rng.standard_normal(xs).astype(F32)
        if dtype == "float32":
            wts = (rng.standard_normal(fs) * 0.2).astype(F32)
            w_spec = ("input", fs, F32) if runtime_weights else ("const", wts)
            model = one_op_model("CONV_2D", [("input", xs, F32), w_spec, ("const", rng.standard_normal(o).astype(F32))],
                                 [(out_shape, F32)], opts)
            return model, [x, wts] if runtime_weights else [x]
        scales = rng.uniform(0.002, 0.02, o).astype(F32)
        wq = (scales, np.zeros(o, I64), 0)
        model = one_op_model("CONV_2D", [("input", xs, F32), ("const", ints(rng, fs, I8, -127), wq),
                                         ("const", rng.standard_normal(o).astype(F32))], [(out_shape, F32)], opts,
                             version=5)
        return model, [x]
    dtype = np.dtype(dtype).type
    q_in, q_out = q8(dtype, rng), q8(dtype, rng)
    k = kh * kw * cg
    q_out[0][0] = q_in[0][0] * 0.01 * np.sqrt(k) * (40 if dtype == I16 else 0.4)
    w_type = U8 if dtype == U8 else I8
    w_zp = 128 if dtype == U8 else 0
    scales = np.full(1 if dtype == U8 else o, 0.01, F32)
    wq = (scales, np.full(scales.size, w_zp, I64), 0)
    b_type = I64 if dtype == I16 else I32
    bq = (np.float32(q_in[0][0]) * np.full(o, 0.01, F32), np.zeros(o, I64), 0)
    weights = ints(rng, fs, w_type, -127 if w_type == I8 else 0)
    model = one_op_model("CONV_2D", [("input", xs, dtype, q_in), ("const", weights, wq),
                                     ("const", rng.integers(-5000, 5000, o).astype(b_type), bq)],
                         [(out_shape, dtype, q_out)], opts, version=4 if dtype == I16 else 3)
    return model, [ints(rng, xs, dtype)]


def depthwise(dtype, xs, k=3, mult=1, stride=1, padding=SAME):
    name = f"dw-{dtype}-{xs}-{k}-{mult}"
    rng = rng_for(name)
    n, h, w, c = xs
    o = c * mult
    oh = -(-h // stride) if padding == SAME else (h - k) // stride + 1
    ow = -(-w // stride) if padding == SAME else (w - k) // stride + 1
    opts = options("DepthwiseConv2DOptions", padding=padding, strideH=stride, strideW=stride,
                   depthMultiplier=mult)
    out_shape = (n, oh, ow, o)
    fs = (1, k, k, o)
    if dtype in ("float32", "hybrid"):
        x = rng.standard_normal(xs).astype(F32)
        bias = ("const", rng.standard_normal(o).astype(F32))
        if dtype == "float32":
            weights = ("const", rng.standard_normal(fs).astype(F32))
            model = one_op_model("DEPTHWISE_CONV_2D", [("input", xs, F32), weights, bias], [(out_shape, F32)], opts)
        else:
            weights = ("const", ints(rng, fs, I8, -127), (rng.uniform(0.002, 0.02, o).astype(F32), np.zeros(o, I64), 3))
            model = one_op_model("DEPTHWISE_CONV_2D", [("input", xs, F32), weights, bias], [(out_shape, F32)], opts,
                                 version=6)
        return model, [x]
    dtype = np.dtype(dtype).type
    q_in, q_out = q8(dtype, rng), q8(dtype, rng)
    q_out[0][0] = q_in[0][0] * 0.01 * k * (40 if dtype == I16 else 0.4)
    w_type = U8 if dtype == U8 else I8
    scales = np.full(1 if dtype == U8 else o, 0.01, F32)
    wq = (scales, np.full(scales.size, 128 if dtype == U8 else 0, I64), 3)
    bq = (np.float32(q_in[0][0]) * np.full(o, 0.01, F32), np.zeros(o, I64), 0)
    b_type = I64 if dtype == I16 else I32
    model = one_op_model("DEPTHWISE_CONV_2D", [("input", xs, dtype, q_in),
                                               ("const", ints(rng, fs, w_type, -127 if w_type == I8 else 0), wq),
                                               ("const", rng.integers(-5000, 5000, o).astype(b_type), bq)],
                         [(out_shape, dtype, q_out)], opts, version=5 if dtype == I16 else 3)
    return model, [ints(rng, xs, dtype)]


def transpose(dtype, xs, o, k=3, stride=2):
    name = f"tc-{dtype}-{xs}-{o}"
    rng = rng_for(name)
    n, h, w, c = xs
    out_shape = (n, h * stride, w * stride, o)
    opts = options("TransposeConvOptions", padding=SAME, strideH=stride, strideW=stride)
    shape = ("const", np.array(out_shape, I32))
    if dtype == "float32":
        model = one_op_model("TRANSPOSE_CONV", [shape, ("const", (rng.standard_normal((o, k, k, c)) * 0.2).astype(F32)),
                                                ("input", xs, F32), ("const", rng.standard_normal(o).astype(F32))],
                             [(out_shape, F32)], opts, version=4)
        return model, [rng.standard_normal(xs).astype(F32)]
    q_in, q_out = q8(I8, rng), q8(I8, rng)
    q_out[0][0] = q_in[0][0] * 0.01 * np.sqrt(k * k * c / 4) * 0.4
    wq = (np.full(o, 0.01, F32), np.zeros(o, I64), 0)
    bq = (np.float32(q_in[0][0]) * np.full(o, 0.01, F32), np.zeros(o, I64), 0)
    bias = ("const", rng.integers(-5000, 5000, o).astype(I32), bq)
    model = one_op_model("TRANSPOSE_CONV", [shape, ("const", ints(rng, (o, k, k, c), I8, -127), wq),
                                            ("input", xs, I8, q_in), bias], [(out_shape, I8, q_out)], opts, version=3)
    return model, [ints(rng, xs, I8)]


def transpose_bias(xs, o, k=4, stride=2):
    """MediaPipe's Convolution2DTransposeBias (custom op), SAME padding."""
    import struct
    rng = rng_for(f"tcb-{xs}-{o}")
    n, h, w, c = xs
    out_shape = (n, h * stride, w * stride, o)
    model = one_op_model("Convolution2DTransposeBias",
                         [("input", xs, F32), ("const", (rng.standard_normal((o, k, k, c)) * 0.2).astype(F32)),
                          ("const", rng.standard_normal(o).astype(F32))], [(out_shape, F32)],
                         custom_options=struct.pack("<iii", 1, stride, stride))
    return model, [rng.standard_normal(xs).astype(F32)]


def fully_connected(dtype, batch, k, units, runtime_weights=False):
    name = f"fc-{dtype}-{batch}-{k}-{units}"
    rng = rng_for(name)
    opts = options("FullyConnectedOptions")
    if dtype in ("float32", "hybrid"):
        x = rng.standard_normal((batch, k)).astype(F32)
        bias = ("const", rng.standard_normal(units).astype(F32))
        if dtype == "float32":
            wts = rng.standard_normal((units, k)).astype(F32)
            w_spec = ("input", (units, k), F32) if runtime_weights else ("const", wts)
            model = one_op_model("FULLY_CONNECTED", [("input", (batch, k), F32), w_spec, bias],
                                 [((batch, units), F32)], opts)
            return model, [x, wts] if runtime_weights else [x]
        wq = (np.array([0.01], F32), np.array([0], I64), 0)
        weights = ("const", ints(rng, (units, k), I8, -127), wq)
        model = one_op_model("FULLY_CONNECTED", [("input", (batch, k), F32), weights, bias], [((batch, units), F32)],
                             opts)
        return model, [x]
    dtype = np.dtype(dtype).type
    q_in, q_out = q8(dtype, rng), q8(dtype, rng)
    q_out[0][0] = q_in[0][0] * 0.01 * np.sqrt(k) * (40 if dtype == I16 else 0.4)
    w_type = U8 if dtype == U8 else I8
    wq = ([0.01], [128 if dtype == U8 else 0], 0)
    b_type = I64 if dtype == I16 else I32
    bq = ([np.float32(q_in[0][0]) * np.float32(0.01)], [0], 0)
    wts = ints(rng, (units, k), w_type, -127 if w_type == I8 else 0)
    w_spec = ("input", (units, k), w_type, wq) if runtime_weights else ("const", wts, wq)
    model = one_op_model("FULLY_CONNECTED", [("input", (batch, k), dtype, q_in), w_spec,
                                             ("const", rng.integers(-5000, 5000, units).astype(b_type), bq)],
                         [((batch, units), dtype, q_out)], opts)
    x = ints(rng, (batch, k), dtype)
    return model, [x, wts] if runtime_weights else [x]


def batch_matmul(dtype, ls, rs):
    name = f"bmm-{dtype}-{ls}-{rs}"
    rng = rng_for(name)
    out_shape = tuple(np.broadcast_shapes(ls[:-2], rs[:-2])) + (ls[-2], rs[-1])
    opts = options("BatchMatMulOptions")
    if dtype == "float32":
        model = one_op_model("BATCH_MATMUL", [("input", ls, F32), ("input", rs, F32)], [(out_shape, F32)], opts)
        return model, [rng.standard_normal(ls).astype(F32), rng.standard_normal(rs).astype(F32)]
    if dtype == "hybrid":
        rq = ([0.02], [0], 0)
        model = one_op_model("BATCH_MATMUL", [("input", ls, F32), ("const", ints(rng, rs, I8, -127), rq)],
                             [(out_shape, F32)], opts)
        return model, [rng.standard_normal(ls).astype(F32)]
    dtype = np.dtype(dtype).type
    q_l, q_r, q_o = q8(dtype, rng), q8(dtype, rng), q8(dtype, rng)
    q_o[0][0] = q_l[0][0] * q_r[0][0] * np.sqrt(ls[-1]) * (2000 if dtype == I16 else 20)
    model = one_op_model("BATCH_MATMUL", [("input", ls, dtype, q_l), ("input", rs, dtype, q_r)],
                         [(out_shape, dtype, q_o)], opts)
    return model, [ints(rng, ls, dtype), ints(rng, rs, dtype)]


# (id, builder): big enough to split at 2 threads, uneven splits at 3
BIG = [
    ("conv-float-3x3", lambda: conv("float32", (1, 29, 31, 16), (40, 3, 3, 16))),
    ("conv-float-3x3-stride2-batch2", lambda: conv("float32", (2, 35, 33, 8), (24, 3, 3, 8), stride=2)),
    ("conv-float-1x1-pixels", lambda: conv("float32", (1, 45, 45, 32), (48, 1, 1, 32))),
    ("conv-float-1x1-channels", lambda: conv("float32", (1, 7, 7, 320), (1280, 1, 1, 320))),
    ("conv-float-1x1-stride2", lambda: conv("float32", (1, 57, 55, 64), (96, 1, 1, 64), stride=2, padding=VALID)),
    ("conv-float-grouped", lambda: conv("float32", (1, 27, 27, 32), (48, 3, 3, 16))),
    ("conv-float-few-outputs", lambda: conv("float32", (1, 61, 59, 64), (5, 3, 3, 64))),
    ("conv-float-runtime-weights", lambda: conv("float32", (1, 29, 31, 16), (40, 3, 3, 16), runtime_weights=True)),
    ("conv-int8-3x3", lambda: conv(I8, (1, 57, 55, 16), (40, 3, 3, 16))),
    ("conv-int8-1x1-pixels", lambda: conv(I8, (1, 71, 69, 32), (64, 1, 1, 32))),
    ("conv-int8-1x1-channels", lambda: conv(I8, (1, 7, 7, 320), (1280, 1, 1, 320))),
    ("conv-int8-1x1-stride2", lambda: conv(I8, (1, 97, 95, 64), (96, 1, 1, 64), stride=2, padding=VALID)),
    ("conv-int8-grouped", lambda: conv(I8, (1, 41, 39, 32), (64, 3, 3, 16))),
    ("conv-uint8", lambda: conv(U8, (1, 23, 21, 16), (24, 3, 3, 16))),
    ("conv-16x8", lambda: conv(I16, (1, 23, 21, 16), (24, 3, 3, 16))),
    ("conv-hybrid", lambda: conv("hybrid", (1, 23, 21, 16), (24, 3, 3, 16))),
    ("conv-hybrid-batch3", lambda: conv("hybrid", (3, 17, 15, 16), (24, 3, 3, 16))),
    ("depthwise-float", lambda: depthwise("float32", (1, 61, 59, 96))),
    ("depthwise-float-stride2-batch2", lambda: depthwise("float32", (2, 61, 59, 64), stride=2)),
    ("depthwise-float-mult2", lambda: depthwise("float32", (1, 61, 59, 48), mult=2)),
    ("depthwise-int8-rows", lambda: depthwise(I8, (1, 75, 73, 96))),
    ("depthwise-int8-channels", lambda: depthwise(I8, (1, 7, 7, 2400))),
    ("depthwise-int8-5x5-stride2", lambda: depthwise(I8, (1, 91, 89, 100), k=5, stride=2)),
    ("depthwise-uint8", lambda: depthwise(U8, (1, 75, 73, 96))),
    ("depthwise-int8-mult2", lambda: depthwise(I8, (1, 31, 29, 24), mult=2)),
    ("depthwise-16x8", lambda: depthwise(I16, (1, 31, 29, 48))),
    ("depthwise-hybrid", lambda: depthwise("hybrid", (1, 31, 29, 48))),
    ("transpose-float", lambda: transpose("float32", (1, 16, 15, 32), 160)),
    ("transpose-int8-batch3", lambda: transpose(I8, (3, 9, 8, 16), 24)),
    ("transpose-bias", lambda: transpose_bias((1, 16, 15, 32), 160)),
    ("fc-float-batch1", lambda: fully_connected("float32", 1, 1280, 1001)),
    ("fc-float-batch", lambda: fully_connected("float32", 203, 256, 96)),
    ("fc-float-runtime-weights", lambda: fully_connected("float32", 1, 1280, 1001, runtime_weights=True)),
    ("fc-int8-batch1", lambda: fully_connected(I8, 1, 1280, 1001)),
    ("fc-int8-batch", lambda: fully_connected(I8, 101, 256, 96)),
    ("fc-uint8-batch1", lambda: fully_connected(U8, 1, 1280, 1001)),
    ("fc-16x8-batch1", lambda: fully_connected(I16, 1, 1280, 1001)),
    ("fc-int8-runtime-weights", lambda: fully_connected(I8, 1, 1280, 1001, runtime_weights=True)),
    ("fc-hybrid-batch1", lambda: fully_connected("hybrid", 1, 1280, 1001)),
    ("fc-hybrid-batch", lambda: fully_connected("hybrid", 101, 256, 96)),
    ("bmm-float-batches", lambda: batch_matmul("float32", (5, 64, 96), (5, 96, 80))),
    ("bmm-float-rows", lambda: batch_matmul("float32", (1, 203, 256), (1, 256, 96))),
    ("bmm-int8-batches", lambda: batch_matmul(I8, (5, 64, 96), (5, 96, 80))),
    ("bmm-int8-rows", lambda: batch_matmul(I8, (1, 203, 256), (1, 256, 96))),
    ("bmm-16x16", lambda: batch_matmul(I16, (5, 64, 96), (5, 96, 80))),
    ("bmm-hybrid-batches", lambda: batch_matmul("hybrid", (5, 64, 96), (5, 96, 80))),
    ("bmm-hybrid-rows", lambda: batch_matmul("hybrid", (1, 203, 256), (256, 96))),
]

# small ones run whole whatever num_threads says
SMALL = [
    ("conv-float-small", lambda: conv("float32", (1, 6, 6, 8), (8, 3, 3, 8))),
    ("conv-int8-small", lambda: conv(I8, (1, 6, 6, 8), (8, 1, 1, 8))),
    ("conv-uint8-small", lambda: conv(U8, (1, 5, 5, 4), (4, 3, 3, 4))),
    ("conv-hybrid-small", lambda: conv("hybrid", (1, 5, 5, 4), (4, 3, 3, 4))),
    ("depthwise-float-small", lambda: depthwise("float32", (1, 7, 7, 16))),
    ("depthwise-int8-small", lambda: depthwise(I8, (1, 7, 7, 16))),
    ("transpose-float-small", lambda: transpose("float32", (1, 3, 3, 4), 8)),
    ("fc-float-small", lambda: fully_connected("float32", 2, 16, 8)),
    ("fc-int8-small", lambda: fully_connected(I8, 2, 16, 8)),
    ("fc-hybrid-small", lambda: fully_connected("hybrid", 2, 16, 8)),
    ("bmm-float-small", lambda: batch_matmul("float32", (2, 4, 8), (2, 8, 4))),
    ("bmm-int8-small", lambda: batch_matmul(I8, (2, 4, 8), (2, 8, 4))),
]


def chunks_of(it):
    """How many chunks the model's one op was cut into."""
    (step,) = it._runtimes[0].steps
    data = step.data
    return len(data.chunks if hasattr(data, "chunks") else data[-1])


def run(model, inputs, num_threads, invokes=1):
    it = Interpreter(model_content=model, num_threads=num_threads)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    for _ in range(invokes):
        it.invoke()
    return it, [it.get_tensor(d["index"]) for d in it.get_output_details()]


def assert_bit_identical(got, want, label):
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert g.dtype == w.dtype and g.shape == w.shape, label
        assert g.tobytes() == w.tobytes(), f"{label}: {np.count_nonzero(g != w)} of {g.size} values differ"


@pytest.mark.parametrize("name,build", BIG, ids=[c[0] for c in BIG])
def test_threads_give_the_same_bits(name, build):
    model, inputs = build()
    it1, want = run(model, inputs, 1)
    assert chunks_of(it1) == 1
    assert any(np.any(w != 0) for w in want)
    for n in (2, 3):
        it, got = run(model, inputs, n, invokes=2)
        assert chunks_of(it) > 1, f"{name} did not split at {n} threads"
        assert_bit_identical(got, want, f"{name}, {n} threads")


@pytest.mark.parametrize("name,build", SMALL, ids=[c[0] for c in SMALL])
def test_small_ops_stay_whole(name, build):
    model, inputs = build()
    _, want = run(model, inputs, 1)
    for n in (2, 3):
        it, got = run(model, inputs, n)
        assert chunks_of(it) == 1, f"{name} split at {n} threads"
        assert_bit_identical(got, want, f"{name}, {n} threads")


def test_three_threads_split_three_ways():
    model, inputs = conv("float32", (1, 29, 31, 16), (40, 3, 3, 16))
    it, _ = run(model, inputs, 3)
    assert chunks_of(it) == 3


# -- whole models -------------------------------------------------------------------------------
@pytest.mark.parametrize("name,min_split", [("tf/mobilenet_v2_float32", 20), ("tf/mobilenet_v2_int8", 20),
                                            ("mediapipe/face_detection_short_range", 3)])
def test_whole_model_same_with_two_threads(name, min_split):
    path = real_model(name)
    it = Interpreter(model_path=str(path), num_threads=1)
    it.allocate_tensors()
    rng = np.random.default_rng(0)
    inputs = []
    for d in it.get_input_details():
        dt = np.dtype(d["dtype"])
        x = rng.uniform(-1, 1, d["shape"]) if dt.kind == "f" else rng.integers(-128, 128, d["shape"])
        inputs.append(x.astype(dt))
    _, want = run(path.read_bytes(), inputs, 1)
    it2, got = run(path.read_bytes(), inputs, 2, invokes=2)
    split_ops = sum(len(s.data.chunks) > 1 for s in it2._runtimes[0].steps
                    if getattr(s.data, "chunks", None) is not None)
    assert split_ops >= min_split, split_ops
    assert_bit_identical(got, want, name)


# -- no allocation --------------------------------------------------------------------------------
def invoke_allocations(model, inputs, num_threads):
    """(chunks per op, numpy bytes still held after one invoke, peak bytes of all Python
    allocations during it), after warm-up, with num_threads."""
    it = Interpreter(model_content=model, num_threads=num_threads)
    it.allocate_tensors()
    for d, x in zip(it.get_input_details(), inputs):
        it.set_tensor(d["index"], x)
    held, peak = measure_invoke(it)
    return chunks_of(it), held, peak


@pytest.mark.parametrize("name", ["conv-float-3x3", "conv-float-runtime-weights", "conv-int8-3x3",
                                  "conv-int8-1x1-channels", "conv-uint8", "conv-hybrid", "depthwise-float",
                                  "depthwise-int8-rows", "transpose-float", "fc-float-batch1",
                                  "fc-int8-runtime-weights", "fc-hybrid-batch1", "bmm-float-batches",
                                  "bmm-int8-rows", "bmm-hybrid-batches"])
def test_threaded_invoke_allocates_nothing(name):
    model, inputs = dict(BIG)[name]()
    chunks, held, peak = invoke_allocations(model, inputs, 2)
    assert chunks == 2
    assert held == 0 and peak < 4096, (held, peak)
