import numpy as np
import pytest

from oneop import assert_same, invoke_allocations, one_op_model, options, run_litert
from litert.errors import PrepareError

F32 = np.float32


def bmm_model(lhs_shape, rhs, out_shape, adj_x=False, adj_y=False):
    """rhs: an array (constant operand) or a shape (second graph input)."""
    second = ("input", rhs, F32) if isinstance(rhs, tuple) else ("const", rhs)
    return one_op_model("BATCH_MATMUL", [("input", lhs_shape, F32), second], [(out_shape, F32)],
                        options("BatchMatMulOptions", adjX=adj_x, adjY=adj_y))


def expected_shape(ls, rs, adj_x, adj_y):
    m = ls[-1] if adj_x else ls[-2]
    n = rs[-2] if adj_y else rs[-1]
    return tuple(np.broadcast_shapes(ls[:-2], rs[:-2])) + (m, n)


def operands(ls, rs, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(-1, 1, ls).astype(F32), rng.uniform(-1, 1, rs).astype(F32)


def swap(shape, adj):
    return shape[:-2] + (shape[-1], shape[-2]) if adj else shape


# (lhs shape, rhs shape) before adjoints: M x K times K x N. K spans both core layouts.
SHAPES = [((3, 5), (5, 7)), ((2, 6, 40), (2, 40, 9)), ((2, 3, 4, 33), (2, 3, 33, 5)),
          ((4, 7, 20), (20, 6)), ((5, 48), (3, 48, 4)), ((2, 1, 5, 12), (1, 3, 12, 6)),
          ((1, 3, 9, 64), (2, 1, 64, 3)), ((2, 1, 2, 3, 8), (1, 2, 2, 8, 4))]


@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("adj_x", [False, True])
@pytest.mark.parametrize("adj_y", [False, True])
@pytest.mark.parametrize("const_rhs", [False, True])
def test_batch_matmul_float(shapes, adj_x, adj_y, const_rhs):
    ls, rs = swap(shapes[0], adj_x), swap(shapes[1], adj_y)
    x, y = operands(ls, rs)
    out = expected_shape(ls, rs, adj_x, adj_y)
    model = bmm_model(ls, y if const_rhs else rs, out, adj_x, adj_y)
    got = assert_same(model, [x] if const_rhs else [x, y])[0]
    xm = np.swapaxes(x, -1, -2) if adj_x else x
    ym = np.swapaxes(y, -1, -2) if adj_y else y
    np.testing.assert_allclose(got, np.matmul(xm, ym), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("m,k,n", [(128, 256, 256), (335, 20, 335), (335, 335, 20), (1, 700, 3)])
def test_batch_matmul_larger(m, k, n):
    x, y = operands((2, m, k), (2, k, n), seed=1)
    assert_same(bmm_model(x.shape, y.shape, (2, m, n)), [x, y])


def test_batch_matmul_lhs_constant():
    # the constant may be either operand: here the lhs is, the rhs is the graph input
    x, y = operands((3, 4, 36), (3, 36, 5))
    from oneop import GraphBuilder
    b = GraphBuilder()
    yi = b.input("y", y.shape, F32)
    out = b.tensor("out", (3, 4, 5), F32)
    b.op("BATCH_MATMUL", [b.const("x", x), yi], [out], options("BatchMatMulOptions"))
    b.output(out)
    assert_same(b.build(), [y])


def test_batch_matmul_empty_reduction():
    x, y = np.zeros((2, 3, 0), F32), np.zeros((2, 0, 4), F32)
    got = run_litert(bmm_model(x.shape, y.shape, (2, 3, 4)), [x, y])[0]
    np.testing.assert_array_equal(got, np.zeros((2, 3, 4), F32))


def test_batch_matmul_second_invoke_reuses_packed_rhs():
    from litert import Interpreter
    x, y = operands((2, 6, 40), (40, 8))
    it = Interpreter(model_content=bmm_model(x.shape, y, (2, 6, 8)))
    it.allocate_tensors()
    for scale in (1.0, -2.0):
        it.set_tensor(it.get_input_details()[0]["index"], x * scale)
        it.invoke()
        got = it.get_tensor(it.get_output_details()[0]["index"])
        np.testing.assert_allclose(got, (x * scale) @ y, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("ls,rs,match", [((2, 3, 4), (3, 4, 5), "broadcast"), ((3, 4), (5, 6), "inner"),
                                         ((4,), (4, 2), "rank"), ((1, 1, 1, 1, 1, 2, 3), (3, 2), "rank")])
def test_batch_matmul_rejects(ls, rs, match):
    x, y = operands(ls, rs)
    with pytest.raises(PrepareError, match=match):
        run_litert(bmm_model(ls, rs, (1, 1)), [x, y])


@pytest.mark.parametrize("const_rhs", [True, False])
def test_batch_matmul_invoke_allocates_nothing(const_rhs):
    x, y = operands((2, 3, 36, 12), (3, 16, 36))
    model = bmm_model(x.shape, y if const_rhs else y.shape, (2, 3, 12, 16), adj_x=True, adj_y=True)
    held, peak = invoke_allocations(model, [x] if const_rhs else [x, y])
    assert held == 0 and peak < 4096, (held, peak)


# -- integer and hybrid ------------------------------------------------------------------------
I8, I16, I32 = np.int8, np.int16, np.int32


def full_range(rng, shape, dtype):
    info = np.iinfo(dtype)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dtype)


def int_bmm_model(ls, rhs, out_shape, lq, rq, oq, l_type=I8, r_type=I8, out_type=None, adj_x=False,
                  adj_y=False, asymmetric=False):
    """rhs: an array (constant) or a shape (graph input); lq/rq/oq: (scale, zero point) or None.
    rq may carry per-channel scales: (scales, zero points, dimension)."""
    def quant(q):
        if q is None:
            return None
        return q if len(q) == 3 else ([q[0]], [q[1]])
    second = (("input", rhs, r_type, quant(rq)) if isinstance(rhs, tuple) else ("const", rhs, quant(rq)))
    return one_op_model("BATCH_MATMUL", [("input", ls, l_type, quant(lq)), second],
                        [(out_shape, out_type or l_type, quant(oq))],
                        options("BatchMatMulOptions", adjX=adj_x, adjY=adj_y, asymmetricQuantizeInputs=asymmetric))


def int_bmm_case(shapes, lq, rq, oq, l_type=I8, r_type=I8, out_type=None, adj_x=False, adj_y=False,
                 const_rhs=False, seed=0):
    rng = np.random.default_rng(seed)
    ls, rs = swap(shapes[0], adj_x), swap(shapes[1], adj_y)
    x = full_range(rng, ls, l_type)
    y = full_range(rng, rs, r_type)
    out = expected_shape(ls, rs, adj_x, adj_y)
    model = int_bmm_model(ls, y if const_rhs else rs, out, lq, rq, oq, l_type, r_type, out_type, adj_x, adj_y)
    return assert_same(model, [x] if const_rhs else [x, y])[0]


INT_SHAPES = [((3, 5), (5, 7)), ((2, 6, 40), (2, 40, 9)), ((4, 7, 20), (20, 6)), ((5, 48), (3, 48, 4)),
              ((2, 1, 5, 12), (1, 3, 12, 6)), ((2, 1, 2, 3, 8), (1, 2, 2, 8, 4)), ((1, 9, 33), (1, 33, 17))]


@pytest.mark.parametrize("shapes", INT_SHAPES, ids=str)
@pytest.mark.parametrize("adj_x,adj_y", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("const_rhs", [False, True])
def test_batch_matmul_int8(shapes, adj_x, adj_y, const_rhs):
    int_bmm_case(shapes, (0.05, -3), (0.02, 4), (0.5, 2), adj_x=adj_x, adj_y=adj_y, const_rhs=const_rhs)


# (lhs, rhs, output) quantization: zero points at both ends, multipliers tiny and above 1, saturation
INT8_BMM_QUANT = [((0.05, -128), (0.02, 127), (0.5, -128)), ((0.5, 127), (0.25, -128), (0.5, 127)),
                  ((1.0, 0), (0.5, 0), (1.0, 0)), ((2.0, 10), (0.9, -5), (0.01, 0)),
                  ((1e-3, 3), (1e-3, -2), (5.0, 0)), ((0.1, -7), (0.375, 3), (0.25, 1)),
                  ((1.0, 0), (0.25, 0), (16.0, 0)), ((0.5, 1), (0.75, -1), (16.0, 0))]   # exact ties


@pytest.mark.parametrize("q", INT8_BMM_QUANT, ids=str)
@pytest.mark.parametrize("const_rhs", [False, True])
def test_batch_matmul_int8_quantization(q, const_rhs):
    int_bmm_case(((3, 7, 40), (3, 40, 11)), *q, const_rhs=const_rhs)


@pytest.mark.parametrize("shapes", INT_SHAPES[:4], ids=str)
@pytest.mark.parametrize("adj_x,adj_y", [(False, False), (True, True)])
def test_batch_matmul_int8_to_int32(shapes, adj_x, adj_y):
    # the reference sums raw products there, zero points ignored
    int_bmm_case(shapes, (0.05, -3), (0.02, 4), None, out_type=I32, adj_x=adj_x, adj_y=adj_y)


@pytest.mark.parametrize("types", [(I16, I16), (I16, I8)], ids=["16x16", "16x8"])
@pytest.mark.parametrize("q", [((1e-3, 0), (2e-3, 0), (1e-2, 0)), ((3e-4, 0), (0.02, 0), (1e-4, 0)),
                               ((0.5, 0), (0.5, 0), (1.0, 0)), ((1e-5, 0), (1e-5, 0), (1e-6, 0))], ids=str)
@pytest.mark.parametrize("const_rhs", [False, True])
def test_batch_matmul_int16(types, q, const_rhs):
    int_bmm_case(((2, 5, 70), (2, 70, 9)), *q, l_type=types[0], r_type=types[1], const_rhs=const_rhs)


@pytest.mark.parametrize("types", [(I16, I16), (I16, I8)], ids=["16x16", "16x8"])
@pytest.mark.parametrize("shapes", INT_SHAPES, ids=str)
@pytest.mark.parametrize("adj_x,adj_y", [(False, False), (True, False), (False, True)])
def test_batch_matmul_int16_shapes(types, shapes, adj_x, adj_y):
    int_bmm_case(shapes, (1e-3, 0), (2e-3, 0), (1e-2, 0), l_type=types[0], r_type=types[1],
                 adj_x=adj_x, adj_y=adj_y)


def test_batch_matmul_int8_large():
    # the benchmark shape
    int_bmm_case(((1, 128, 256), (256, 256)), (0.02, -3), (0.01, 2), (0.5, 1))


def test_batch_matmul_int16_rejects_zero_point():
    rng = np.random.default_rng(0)
    model = int_bmm_model((2, 3), (3, 4), (2, 4), (1e-3, 1), (1e-3, 0), (1e-3, 0), I16, I16)
    with pytest.raises(PrepareError, match="zero points"):
        run_litert(model, [full_range(rng, (2, 3), I16), full_range(rng, (3, 4), I16)])


def hybrid_bmm_case(ls, rs, r_scales, adj_x=False, adj_y=False, asymmetric=False, const_rhs=True, seed=0,
                    r_dim=None):
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 3, ls).astype(F32)
    y = full_range(rng, rs, I8)
    y[y == -128] = -127
    r_scales = np.atleast_1d(np.asarray(r_scales, np.float32))
    rq = (r_scales, np.zeros(r_scales.size, np.int64), len(rs) - 1 if r_dim is None else r_dim)
    out = expected_shape(ls, rs, adj_x, adj_y)
    model = int_bmm_model(ls, y if const_rhs else rs, out, None, rq, None, F32, I8, F32, adj_x, adj_y, asymmetric)
    return assert_same(model, [x] if const_rhs else [x, y], atol=0, rtol=0)[0]


HYBRID_SHAPES = [((3, 5), (5, 7)), ((2, 6, 40), (2, 40, 9)), ((4, 7, 20), (20, 6)), ((5, 48), (3, 48, 4)),
                 ((1, 9, 33), (1, 33, 17)), ((2, 1, 5, 12), (1, 1, 12, 6))]


@pytest.mark.parametrize("shapes", HYBRID_SHAPES, ids=str)
@pytest.mark.parametrize("adj_x,adj_y", [(False, False), (True, False), (False, True), (True, True)])
@pytest.mark.parametrize("asymmetric", [False, True])
def test_batch_matmul_hybrid(shapes, adj_x, adj_y, asymmetric):
    ls, rs = swap(shapes[0], adj_x), swap(shapes[1], adj_y)
    hybrid_bmm_case(ls, rs, 0.02, adj_x, adj_y, asymmetric)


@pytest.mark.parametrize("asymmetric", [False, True])
@pytest.mark.parametrize("adj_y", [False, True])
def test_batch_matmul_hybrid_per_channel(asymmetric, adj_y):
    scales = np.geomspace(1e-4, 1e-1, 12).astype(np.float32)
    rs = (12, 40) if adj_y else (40, 12)
    hybrid_bmm_case((2, 5, 40), rs, scales, adj_y=adj_y, asymmetric=asymmetric, r_dim=0 if adj_y else 1)


@pytest.mark.parametrize("asymmetric", [False, True])
def test_batch_matmul_hybrid_runtime_rhs(asymmetric):
    hybrid_bmm_case((3, 4, 24), (3, 24, 5), 0.05, asymmetric=asymmetric, const_rhs=False)


@pytest.mark.parametrize("kind", ["int8", "int16", "hybrid"])
def test_batch_matmul_quantized_invoke_allocates_nothing(kind):
    rng = np.random.default_rng(0)
    ls, rs = (2, 3, 36, 12), (3, 16, 36)
    if kind == "hybrid":
        y = full_range(rng, rs, I8)
        model = int_bmm_model(ls, y, (2, 3, 12, 16), None, (0.02, 0), None, F32, I8, F32, True, True, True)
        inputs = [rng.uniform(-1, 1, ls).astype(F32)]
    else:
        t = I8 if kind == "int8" else I16
        zp = 3 if t == I8 else 0
        model = int_bmm_model(ls, rs, (2, 3, 12, 16), (0.05, zp), (0.02, zp), (0.5, zp), t, t, adj_x=True, adj_y=True)
        inputs = [full_range(rng, ls, t), full_range(rng, rs, t)]
    held, peak = invoke_allocations(model, inputs)
    assert held == 0 and peak < 4096, (held, peak)


@pytest.mark.parametrize("asymmetric", [False, True])
def test_batch_matmul_hybrid_two_batch_dims(asymmetric):
    # The official kernel indexes its per-row input scales wrongly when two batch dimensions
    # exceed 1; litert scales each row by its own factor: the same result as the lhs with its
    # batch dims merged, which the official computes right.
    rng = np.random.default_rng(7)
    x = rng.uniform(-2, 3, (2, 3, 4, 16)).astype(F32)
    y = full_range(rng, (16, 5), I8)
    y[y == -128] = -127
    rq = ([0.03], [0], 1)
    merged = int_bmm_model((6, 4, 16), y, (6, 4, 5), None, rq, None, F32, I8, F32, asymmetric=asymmetric)
    want = assert_same(merged, [x.reshape(6, 4, 16)], atol=0, rtol=0)[0]
    split = int_bmm_model((2, 3, 4, 16), y, (2, 3, 4, 5), None, rq, None, F32, I8, F32, asymmetric=asymmetric)
    np.testing.assert_array_equal(run_litert(split, [x])[0], want.reshape(2, 3, 4, 5))
    # with a batched rhs (broadcast over the first lhs dim): each lhs slice against the official
    y3 = full_range(rng, (3, 16, 5), I8)
    y3[y3 == -128] = -127
    rq3 = ([0.03], [0], 2)
    full = run_litert(int_bmm_model((2, 3, 4, 16), y3, (2, 3, 4, 5), None, rq3, None, F32, I8, F32,
                                    asymmetric=asymmetric), [x])[0]
    for b in range(2):
        one = int_bmm_model((3, 4, 16), y3, (3, 4, 5), None, rq3, None, F32, I8, F32, asymmetric=asymmetric)
        np.testing.assert_array_equal(full[b], assert_same(one, [x[b]], atol=0, rtol=0)[0])
