import numpy as np
import pytest

from oneop import assert_same, one_op_model, options, run_litert
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
    from test_fully_connected import invoke_allocations
    x, y = operands((2, 3, 36, 12), (3, 16, 36))
    model = bmm_model(x.shape, y if const_rhs else y.shape, (2, 3, 12, 16), adj_x=True, adj_y=True)
    held, peak = invoke_allocations(model, [x] if const_rhs else [x, y])
    assert held == 0 and peak < 4096, (held, peak)
