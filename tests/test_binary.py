import numpy as np
import pytest

from oneop import assert_same, one_op_model, options

OPTS = {"ADD": "AddOptions", "SUB": "SubOptions", "MUL": "MulOptions", "DIV": "DivOptions"}
SHAPES = [((2, 3, 4), (2, 3, 4)), ((2, 3, 4), (4,)), ((1, 3, 1), (2, 1, 5)), ((5,), ()),
          ((2, 1, 3, 1, 2), (1, 4, 1, 5, 2))]


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL", "DIV", "MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE"])
@pytest.mark.parametrize("shapes", SHAPES, ids=str)
@pytest.mark.parametrize("act", [0, 1, 3])
def test_binary_float32(op, shapes, act):
    if act and op not in OPTS:
        pytest.skip("no fused activation")
    if op in ("MAXIMUM", "MINIMUM", "SQUARED_DIFFERENCE") and len(shapes[0]) > 4:
        pytest.skip("official kernel broadcasts at most 4-D for this op")
    rng = np.random.default_rng(0)
    a = rng.uniform(-4, 4, shapes[0]).astype(np.float32)
    b = rng.uniform(0.5, 4, shapes[1]).astype(np.float32)
    out = np.broadcast_shapes(shapes[0], shapes[1])
    opts = options(OPTS[op], fusedActivationFunction=act) if op in OPTS else None
    model = one_op_model(op, [("input", a.shape, np.float32), ("input", b.shape, np.float32)],
                         [(out, np.float32)], opts)
    assert_same(model, [a, b])


@pytest.mark.parametrize("op", ["ADD", "SUB", "MUL", "MAXIMUM", "MINIMUM"])
def test_binary_int32_broadcast(op):
    rng = np.random.default_rng(1)
    a = rng.integers(-100, 100, (2, 3, 4)).astype(np.int32)
    b = rng.integers(-100, 100, (3, 1)).astype(np.int32)
    opts = options(OPTS[op]) if op in OPTS else None
    model = one_op_model(op, [("input", a.shape, np.int32), ("const", b)], [((2, 3, 4), np.int32)], opts)
    assert_same(model, [a])


def test_div_int32_truncates():
    a = np.array([7, -7, 7, -7, 0], np.int32)
    b = np.array([2, 2, -2, -2, 3], np.int32)
    model = one_op_model("DIV", [("input", (5,), np.int32), ("input", (5,), np.int32)], [((5,), np.int32)],
                         options("DivOptions"))
    assert_same(model, [a, b])
