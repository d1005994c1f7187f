"""WHILE, IF and CALL_ONCE against the official interpreter (reference kernels), on small
multi-subgraph models built with GraphBuilder, plus the Keras 3 LSTM (a WHILE loop) in tests/data."""
from pathlib import Path

import numpy as np
import pytest

from litert.errors import PrepareError
from litert.registry import registered_names
from oneop import GraphBuilder, assert_same, options, run_litert, run_official

DATA = Path(__file__).resolve().parent / "data"
I32, F32, BOOL = np.int32, np.float32, np.bool_


def need_ops(*names):
    missing = sorted(set(names) - set(registered_names()[0]))
    if missing:
        pytest.skip(f"litert has no kernel yet for {', '.join(missing)}")


def while_op(b, ins, outs, cond, body):
    return b.op("WHILE", ins, outs, options("WhileOptions", condSubgraphIndex=cond, bodySubgraphIndex=body))


def add(b, x, y, out):
    b.op("ADD", [x, y], [out], options("AddOptions"))
    return out


def mul(b, x, y, out):
    b.op("MUL", [x, y], [out], options("MulOptions"))
    return out


def less_cond(b, name, specs):
    """A cond subgraph over loop values `specs` [(shape, dtype)]: value 0 < value 1."""
    g = b.subgraph(name)
    args = [b.input(f"{name}_arg{k}", s, t) for k, (s, t) in enumerate(specs)]
    c = b.tensor(f"{name}_less", [], BOOL)
    b.op("LESS", [args[0], args[1]], [c])
    b.output(c)
    return g


COUNTER_VARS = [([], I32), ([], I32), ([3], F32), ([3], F32)]   # i, n, acc, x


def counter_body(b, name="body"):
    """(i, n, acc, x) -> (i + 1, n, acc * 2 + x, x): n and x pass through unchanged."""
    g = b.subgraph(name)
    i, n, acc, x = [b.input(f"{name}_arg{k}", s, t) for k, (s, t) in enumerate(COUNTER_VARS)]
    i1 = add(b, i, b.const(f"{name}_one", np.int32(1)), b.tensor(f"{name}_i1", [], I32))
    twice = mul(b, acc, b.const(f"{name}_two", np.float32(2)), b.tensor(f"{name}_twice", [3], F32))
    acc1 = add(b, twice, x, b.tensor(f"{name}_acc1", [3], F32))
    b.output(i1, n, acc1, x)
    return g


def counter_model(acc0=None):
    """WHILE i < n: i += 1; acc = acc * 2 + x. i starts from a constant, acc from a constant or
    an input; the model returns (i, acc)."""
    b = GraphBuilder()
    n = b.input("n", [], I32)
    x = b.input("x", [3], F32)
    acc = b.input("acc0", [3], F32) if acc0 is None else b.const("acc0", np.asarray(acc0, F32))
    i0 = b.const("i0", np.int32(0))
    outs = [b.tensor(f"while{k}", s, t) for k, (s, t) in enumerate(COUNTER_VARS)]
    cond = less_cond(b, "cond", COUNTER_VARS)
    body = counter_body(b)
    b.use(0)
    while_op(b, [i0, n, acc, x], outs, cond, body)
    b.output(outs[0], outs[2])
    return b.build()


@pytest.mark.parametrize("n", [0, 1, 5, -3])
def test_while_counter(n):
    need_ops("LESS")
    x = np.array([1.0, -2.0, 0.5], F32)
    got = assert_same(counter_model(acc0=[1, 2, 3]), [np.int32(n), x])
    want = np.array([1, 2, 3], F32)
    for _ in range(max(n, 0)):
        want = want * 2 + x
    assert got[0] == max(n, 0)
    np.testing.assert_allclose(got[1], want)


def test_while_loop_values_from_inputs_and_reinvoke():
    """All loop values are graph inputs here; invoking again with new inputs starts afresh."""
    need_ops("LESS")
    from litert import Interpreter
    model = counter_model()
    it = Interpreter(model_content=model)
    it.allocate_tensors()
    ins = it.get_input_details()
    for n, acc in ((4, [1, 1, 1]), (2, [0, 5, -1]), (0, [7, 8, 9])):
        inputs = [np.int32(n), np.array([0.5, 1, 2], F32), np.array(acc, F32)]
        for d, v in zip(ins, inputs):
            it.set_tensor(d["index"], v)
        it.invoke()
        got = [it.get_tensor(d["index"]) for d in it.get_output_details()]
        want = run_official(model, inputs)
        for g, w in zip(got, want):
            np.testing.assert_allclose(g, w)


def test_while_resize_reaches_the_subgraphs():
    """Loop value shapes follow resize_tensor_input into cond and body."""
    need_ops("LESS")
    b = GraphBuilder()
    n = b.input("n", [], I32)
    x = b.input("x", [3], F32)
    i0 = b.const("i0", np.int32(0))
    outs = [b.tensor("i_out", [], I32), b.tensor("n_out", [], I32), b.tensor("x_out", [3], F32)]
    spec = [([], I32), ([], I32), ([3], F32)]
    cond = less_cond(b, "cond", spec)
    body = b.subgraph("body")
    i, m, v = [b.input(f"arg{k}", s, t) for k, (s, t) in enumerate(spec)]
    i1 = add(b, i, b.const("one", np.int32(1)), b.tensor("i1", [], I32))
    v1 = mul(b, v, v, b.tensor("v1", [3], F32))
    b.output(i1, m, v1)
    b.use(0)
    while_op(b, [i0, n, x], outs, cond, body)
    b.output(outs[2])
    model = b.build()
    x = np.linspace(0.5, 1.5, 7).astype(F32)
    got = assert_same(model, [np.int32(3), x])    # run_* resize x from [3] to [7]
    np.testing.assert_allclose(got[0], x ** 8, rtol=1e-5)


def flag_model(body_flag):
    """WHILE flag: x = x * 2 + 1; the cond returns its input tensor itself and the body returns a
    constant flag, so the loop runs at most once (zero times when the input flag is false).
    Needs no comparison op."""
    b = GraphBuilder()
    flag = b.input("flag", [], BOOL)
    x = b.input("x", [2, 2], F32)
    outs = [b.tensor("flag_out", [], BOOL), b.tensor("x_out", [2, 2], F32)]
    cond = b.subgraph("cond")
    c = b.input("cond_flag", [], BOOL)
    b.input("cond_x", [2, 2], F32)
    b.output(c)
    body = b.subgraph("body")
    b.input("body_flag", [], BOOL)
    v = b.input("body_x", [2, 2], F32)
    doubled = mul(b, v, b.const("two", np.float32(2)), b.tensor("doubled", [2, 2], F32))
    v1 = add(b, doubled, b.const("one", np.float32(1)), b.tensor("x1", [2, 2], F32))
    b.output(b.const("next_flag", np.bool_(body_flag)), v1)
    b.use(0)
    while_op(b, [flag, x], outs, cond, body)
    b.output(*outs)
    return b.build()


@pytest.mark.parametrize("start", [True, False])
def test_while_runs_once_or_never(start):
    x = np.array([[1, 2], [3, -4]], F32)
    got = assert_same(flag_model(body_flag=False), [np.bool_(start), x])
    np.testing.assert_array_equal(got[1], x * 2 + 1 if start else x)
    assert not got[0]


def test_while_swapping_body():
    """The body returns its inputs in swapped positions (output 2 is input 3 and vice versa):
    copying outputs straight back into inputs would overwrite one before reading it. The
    reference is numpy (TensorFlow's meaning): ai-edge-litert 2.3.0 returns q for both values
    after any positive number of iterations (its body input and output share memory)."""
    need_ops("LESS")
    spec = [([], I32), ([], I32), ([2], F32), ([2], F32)]
    b = GraphBuilder()
    n = b.input("n", [], I32)
    p = b.input("p", [2], F32)
    q = b.input("q", [2], F32)
    i0 = b.const("i0", np.int32(0))
    outs = [b.tensor(f"out{k}", s, t) for k, (s, t) in enumerate(spec)]
    cond = less_cond(b, "cond", spec)
    body = b.subgraph("body")
    i, m, u, v = [b.input(f"arg{k}", s, t) for k, (s, t) in enumerate(spec)]
    i1 = add(b, i, b.const("one", np.int32(1)), b.tensor("i1", [], I32))
    b.output(i1, m, v, u)
    b.use(0)
    while_op(b, [i0, n, p, q], outs, cond, body)
    b.output(outs[2], outs[3])
    model = b.build()
    p_val, q_val = np.array([1, 2], F32), np.array([3, 4], F32)
    for count in (0, 1, 2, 5):
        got = run_litert(model, [np.int32(count), p_val, q_val])
        want = (q_val, p_val) if count % 2 else (p_val, q_val)
        np.testing.assert_array_equal(got[0], want[0])
        np.testing.assert_array_equal(got[1], want[1])


def nested_model(shared_cond):
    """for i in range(n): for j in range(i): total += 1, which gives n (n - 1) / 2. The inner
    WHILE sits in the outer body and starts from a constant of that body."""
    spec = [([], I32), ([], I32), ([], I32)]
    b = GraphBuilder()
    n = b.input("n", [], I32)
    zero = b.const("zero", np.int32(0))
    outs = [b.tensor(f"outer{k}", s, t) for k, (s, t) in enumerate(spec)]
    outer_cond = less_cond(b, "outer_cond", spec)
    inner_cond = outer_cond if shared_cond else less_cond(b, "inner_cond", spec)
    inner_body = b.subgraph("inner_body")
    j, i, total = [b.input(f"inner_arg{k}", s, t) for k, (s, t) in enumerate(spec)]
    one = b.const("inner_one", np.int32(1))
    b.output(add(b, j, one, b.tensor("j1", [], I32)), i, add(b, total, one, b.tensor("t1", [], I32)))
    outer_body = b.subgraph("outer_body")
    i, m, total = [b.input(f"outer_arg{k}", s, t) for k, (s, t) in enumerate(spec)]
    j0 = b.const("j0", np.int32(0))
    inner = [b.tensor(f"inner{k}", s, t) for k, (s, t) in enumerate(spec)]
    while_op(b, [j0, i, total], inner, inner_cond, inner_body)
    i1 = add(b, i, b.const("outer_one", np.int32(1)), b.tensor("i1", [], I32))
    b.output(i1, m, inner[2])
    b.use(0)
    while_op(b, [zero, n, zero], outs, outer_cond, outer_body)
    b.output(outs[2])
    return b.build()


def test_while_nested():
    need_ops("LESS")
    model = nested_model(shared_cond=False)
    for count in (0, 1, 2, 6):
        got = assert_same(model, [np.int32(count)])
        assert got[0] == count * (count - 1) // 2


def test_while_nested_sharing_a_cond_subgraph():
    """Both loops call one cond subgraph. litert prepares a runtime per call site, so this
    works; ai-edge-litert 2.3.0 fails to invoke it (the inner WHILE releases the memory of the
    subgraph the outer one is still using), so the reference is the closed form."""
    need_ops("LESS")
    model = nested_model(shared_cond=True)
    for count in (0, 1, 2, 6):
        assert run_litert(model, [np.int32(count)])[0] == count * (count - 1) // 2


def test_if_inside_while():
    """for i in range(n): acc = acc + x if i < k else acc * 2"""
    need_ops("LESS")
    spec = [([], I32), ([], I32), ([], I32), ([4], F32), ([4], F32)]   # i, n, k, acc, x
    b = GraphBuilder()
    n = b.input("n", [], I32)
    k = b.input("k", [], I32)
    x = b.input("x", [4], F32)
    i0 = b.const("i0", np.int32(0))
    acc0 = b.const("acc0", np.zeros(4, F32))
    outs = [b.tensor(f"out{t}", s, d) for t, (s, d) in enumerate(spec)]
    cond = less_cond(b, "cond", spec)
    then = b.subgraph("then")
    a, v = b.input("then_acc", [4], F32), b.input("then_x", [4], F32)
    b.output(add(b, a, v, b.tensor("then_sum", [4], F32)))
    other = b.subgraph("else")
    a, v = b.input("else_acc", [4], F32), b.input("else_x", [4], F32)
    b.output(mul(b, a, b.const("two", np.float32(2)), b.tensor("else_twice", [4], F32)))
    body = b.subgraph("body")
    i, m, kk, a, v = [b.input(f"arg{t}", s, d) for t, (s, d) in enumerate(spec)]
    small = b.tensor("small", [], BOOL)
    b.op("LESS", [i, kk], [small])
    a1 = b.tensor("acc1", [4], F32)
    b.op("IF", [small, a, v], [a1], options("IfOptions", thenSubgraphIndex=then, elseSubgraphIndex=other))
    i1 = add(b, i, b.const("one", np.int32(1)), b.tensor("i1", [], I32))
    b.output(i1, m, kk, a1, v)
    b.use(0)
    while_op(b, [i0, n, k, acc0, x], outs, cond, body)
    b.output(outs[3])
    model = b.build()
    xv = np.array([1, -1, 0.5, 2], F32)
    for count, kv in ((5, 3), (4, 0), (0, 2)):
        got = assert_same(model, [np.int32(count), np.int32(kv), xv])
        want = np.zeros(4, F32)
        for t in range(count):
            want = want + xv if t < kv else want * 2
        np.testing.assert_allclose(got[0], want)


def if_model(cond_shape=(), cond_const=None):
    """IF c: (a + b, a, 7) else (a * b, b, 7). Each branch returns one input tensor itself and
    one constant tensor of its own."""
    b = GraphBuilder()
    c = b.input("c", cond_shape, BOOL) if cond_const is None else b.const("c", np.array(cond_const))
    a = b.input("a", [2, 3], F32)
    y = b.input("b", [3], F32)
    outs = [b.tensor("r0", [2, 3], F32), b.tensor("r1", [3], F32), b.tensor("r2", [2], I32)]
    branches = []
    for name, op in (("then", "ADD"), ("else", "MUL")):
        branches.append(b.subgraph(name))
        u, v = b.input(f"{name}_a", [2, 3], F32), b.input(f"{name}_b", [3], F32)
        r = b.tensor(f"{name}_r", [2, 3], F32)
        b.op(op, [u, v], [r], options(f"{op.title()}Options"))
        b.output(r, v if name == "else" else b.const(f"{name}_b_again", np.ones(3, F32)),
                 b.const(f"{name}_seven", np.full(2, 7, I32)))
    b.use(0)
    b.op("IF", [c, a, y], outs, options("IfOptions", thenSubgraphIndex=branches[0],
                                         elseSubgraphIndex=branches[1]))
    b.output(*outs)
    return b.build()


@pytest.mark.parametrize("flag", [True, False])
@pytest.mark.parametrize("cond_shape", [(), (1,), (1, 1)], ids=str)
def test_if_branches(flag, cond_shape):
    a = np.arange(6, dtype=F32).reshape(2, 3) - 2
    y = np.array([0.5, -1, 3], F32)
    got = assert_same(if_model(cond_shape), [np.full(cond_shape, flag), a, y])
    np.testing.assert_allclose(got[0], a + y if flag else a * y)
    np.testing.assert_array_equal(got[1], np.ones(3, F32) if flag else y)


@pytest.mark.parametrize("flag", [True, False])
def test_if_constant_condition(flag):
    a = np.arange(6, dtype=F32).reshape(2, 3)
    y = np.array([2, 3, 4], F32)
    got = assert_same(if_model(cond_const=flag), [a, y])
    np.testing.assert_allclose(got[0], a + y if flag else a * y)


def test_call_once():
    """CALL_ONCE runs an init subgraph (here one that computes nothing visible) and then the
    rest of the graph runs as usual, invoke after invoke."""
    b = GraphBuilder()
    x = b.input("x", [3], F32)
    y = b.tensor("y", [3], F32)
    init = b.subgraph("init")
    t = b.const("init_t", np.ones(3, F32))
    add(b, t, t, b.tensor("init_u", [3], F32))
    b.use(0)
    b.op("CALL_ONCE", [], [], options("CallOnceOptions", initSubgraphIndex=init))
    add(b, x, x, y)
    b.output(y)
    model = b.build()
    from litert import Interpreter
    it = Interpreter(model_content=model)
    it.allocate_tensors()
    for v in ([1, 2, 3], [4, 5, 6]):
        it.set_tensor(it.get_input_details()[0]["index"], np.array(v, F32))
        it.invoke()
        np.testing.assert_array_equal(it.get_tensor(it.get_output_details()[0]["index"]), 2 * np.array(v, F32))
    assert_same(model, [np.array([1, 2, 3], F32)])


# -- errors: what litert refuses, clearly --------------------------------------------------------
def prepare_error(model, inputs, match):
    with pytest.raises(PrepareError, match=match):
        run_litert(model, inputs)


def test_while_body_that_changes_shape_is_refused():
    """TFLite runs this with dynamic tensors; litert's fixed arena cannot."""
    b = GraphBuilder()
    flag = b.input("flag", [], BOOL)
    x = b.input("x", [3], F32)
    outs = [b.tensor("f", [], BOOL), b.tensor("y", [3], F32)]
    cond = b.subgraph("cond")
    c = b.input("cf", [], BOOL)
    b.input("cx", [3], F32)
    b.output(c)
    body = b.subgraph("body")
    b.input("bf", [], BOOL)
    v = b.input("bx", [3], F32)
    grown = add(b, v, b.const("rows", np.zeros((2, 3), F32)), b.tensor("grown", [2, 3], F32))
    b.output(b.const("stop", np.bool_(False)), grown)
    b.use(0)
    while_op(b, [flag, x], outs, cond, body)
    b.output(outs[1])
    prepare_error(b.build(), [np.bool_(True), np.zeros(3, F32)], r"changes the shape of loop value 1 from \[3\] to \[2, 3\]")


def test_if_branches_with_different_shapes_are_refused():
    b = GraphBuilder()
    c = b.input("c", [], BOOL)
    x = b.input("x", [3], F32)
    out = b.tensor("out", [3], F32)
    then = b.subgraph("then")
    b.output(b.input("tx", [3], F32))
    other = b.subgraph("else")
    v = b.input("ex", [3], F32)
    b.output(add(b, v, b.const("rows", np.zeros((2, 3), F32)), b.tensor("grown", [2, 3], F32)))
    b.use(0)
    b.op("IF", [c, x], [out], options("IfOptions", thenSubgraphIndex=then, elseSubgraphIndex=other))
    b.output(out)
    prepare_error(b.build(), [np.bool_(True), np.zeros(3, F32)], "different shapes")


def simple_while(cond_out_dtype=BOOL, body_in_dtype=F32, body_outputs=2, self_call=False):
    b = GraphBuilder()
    flag = b.input("flag", [], BOOL)
    x = b.input("x", [3], F32)
    outs = [b.tensor("f", [], BOOL), b.tensor("y", [3], F32)]
    cond = b.subgraph("cond")
    c = b.input("cf", [], cond_out_dtype)
    b.input("cx", [3], F32)
    b.output(c)
    body = b.subgraph("body")
    bf = b.input("bf", [], BOOL)
    bx = b.input("bx", [3], body_in_dtype)
    b.output(*[bf, bx][:body_outputs])
    b.use(0)
    while_op(b, [flag, x], outs, cond, 0 if self_call else body)
    b.output(outs[1])
    return b.build()


@pytest.mark.parametrize("kwargs, match", [
    (dict(cond_out_dtype=I32), "value 0 is BOOL but input 0 of the cond subgraph"),
    (dict(body_in_dtype=I32), "value 1 is FLOAT32 but input 1 of the body subgraph"),
    (dict(body_outputs=1), "returns 1 values; the loop has 2"),
    (dict(self_call=True), "endless recursion"),
])
def test_while_malformed_is_refused(kwargs, match):
    prepare_error(simple_while(**kwargs), [np.bool_(False), np.zeros(3, F32)], match)


def test_while_cond_must_return_bool():
    b = GraphBuilder()
    x = b.input("x", [3], F32)
    out = b.tensor("y", [3], F32)
    cond = b.subgraph("cond")
    b.output(b.input("cx", [3], F32))
    body = b.subgraph("body")
    b.output(b.input("bx", [3], F32))
    b.use(0)
    while_op(b, [x], [out], cond, body)
    b.output(out)
    prepare_error(b.build(), [np.zeros(3, F32)], "must return a bool scalar")


# -- a real converter output: Keras 3 LSTM ---------------------------------------------------
LSTM_OPS = ("ADD", "FULLY_CONNECTED", "GATHER", "LESS", "LOGICAL_AND", "LOGISTIC", "MUL", "RESHAPE",
            "SPLIT", "STRIDED_SLICE", "TANH", "WHILE")


def test_keras_lstm_while():
    """tools/make_control_flow_models.py: a Keras 3 LSTM the TFLite converter turned into a
    WHILE loop; outputs recorded from the official interpreter (reference kernels)."""
    model = DATA / "keras_lstm_while.tflite"
    if not model.exists():
        pytest.skip("tests/data/keras_lstm_while.tflite is not generated")
    need_ops(*LSTM_OPS)
    x = np.load(DATA / "keras_lstm_while_input.npy")
    want = np.load(DATA / "keras_lstm_while_output.npy")
    got = run_litert(model.read_bytes(), [x])[0]
    assert got.shape == want.shape and got.dtype == want.dtype
    np.testing.assert_allclose(got, want, atol=1e-5, rtol=1e-5)


def test_keras_lstm_reference_is_current():
    """The recorded output is what this machine's official interpreter computes."""
    model = DATA / "keras_lstm_while.tflite"
    if not model.exists():
        pytest.skip("tests/data/keras_lstm_while.tflite is not generated")
    x = np.load(DATA / "keras_lstm_while_input.npy")
    got = run_official(model.read_bytes(), [x])[0]
    np.testing.assert_allclose(got, np.load(DATA / "keras_lstm_while_output.npy"), atol=1e-6, rtol=1e-6)
