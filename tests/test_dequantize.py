import numpy as np
import pytest

from oneop import GraphBuilder, assert_same, one_op_model, options, run_litert, run_official

from litert import Interpreter
from litert import schema_fb as fb
from litert.errors import PrepareError

DENSE, CSR = fb.DimensionType.DENSE, fb.DimensionType.SPARSE_CSR


# -- DEQUANTIZE --------------------------------------------------------------------------------

def test_dequantize_float16_input():
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((2, 3, 5)) * 100).astype(np.float16)
    x.reshape(-1)[:6] = [np.inf, -np.inf, 0.0, -0.0, 6e-8, -3e-5]      # specials and subnormals
    model = one_op_model("DEQUANTIZE", [("input", x.shape, np.float16)], [(x.shape, np.float32)])
    got = run_litert(model, [x])[0]
    want = run_official(model, [x])[0]
    assert got.dtype == want.dtype == np.float32
    np.testing.assert_array_equal(got.view(np.uint32), want.view(np.uint32))    # exact, bit for bit
    np.testing.assert_array_equal(got.view(np.uint32), x.astype(np.float32).view(np.uint32))


@pytest.mark.parametrize("dtype,scale,zp", [(np.int8, 0.05, -3), (np.uint8, 0.1, 128), (np.int16, 1e-3, 0),
                                            (np.int8, 2.5, 127)])
def test_dequantize_per_tensor(dtype, scale, zp):
    info = np.iinfo(dtype)
    x = np.random.default_rng(1).integers(info.min, info.max + 1, (3, 4, 6)).astype(dtype)
    model = one_op_model("DEQUANTIZE", [("input", x.shape, dtype, ([scale], [zp]))], [(x.shape, np.float32)])
    got = assert_same(model, [x])[0]
    np.testing.assert_array_equal(got, np.float32(scale) * (x.astype(np.int32) - zp).astype(np.float32))


@pytest.mark.parametrize("dtype", [np.int8, np.uint8])
@pytest.mark.parametrize("axis", [0, 1, 3])
def test_dequantize_per_channel(dtype, axis):
    rng = np.random.default_rng(2)
    shape = (3, 4, 2, 5)
    info = np.iinfo(dtype)
    x = rng.integers(info.min, info.max + 1, shape).astype(dtype)
    n = shape[axis]
    scales = rng.uniform(0.01, 0.5, n).astype(np.float32)
    zps = rng.integers(-5, 5, n) + (128 if dtype == np.uint8 else 0)
    model = one_op_model("DEQUANTIZE", [("input", shape, dtype, (scales, zps, axis))], [(shape, np.float32)])
    got = assert_same(model, [x])[0]
    bshape = [1] * 4
    bshape[axis] = n
    want = scales.reshape(bshape) * (x.astype(np.int32) - zps.reshape(bshape)).astype(np.float32)
    np.testing.assert_array_equal(got, want)


def const_dequantize_model(weights, quant=None):
    """const weights -> DEQUANTIZE -> ADD(x): the pattern of float16 / int8 weight storage."""
    b = GraphBuilder()
    w = b.const("w", weights, quant=quant)
    wf = b.tensor("w_float", weights.shape, np.float32)
    b.op("DEQUANTIZE", [w], [wf])
    x = b.input("x", weights.shape, np.float32)
    y = b.tensor("y", weights.shape, np.float32)
    b.op("ADD", [wf, x], [y], options("AddOptions"))
    b.output(y)
    return b.build()


@pytest.mark.parametrize("kind", ["float16", "int8_per_tensor", "int8_per_channel"])
def test_dequantize_constant_folds(kind):
    rng = np.random.default_rng(3)
    shape = (4, 3, 3, 2)
    if kind == "float16":
        w, quant = rng.standard_normal(shape).astype(np.float16), None
    elif kind == "int8_per_tensor":
        w, quant = rng.integers(-127, 128, shape).astype(np.int8), ([0.02], [0])
    else:
        w, quant = rng.integers(-127, 128, shape).astype(np.int8), (rng.uniform(0.01, 0.1, 4), [0] * 4, 0)
    model = const_dequantize_model(w, quant)
    x = rng.standard_normal(shape).astype(np.float32)
    assert_same(model, [x])
    it = Interpreter(model_content=model)
    it.allocate_tensors()
    assert [s.name for s in it.execution_plan()] == ["ADD"]     # DEQUANTIZE ran at prepare time


def test_dequantize_rejects():
    x = np.zeros((2, 3), np.int8)
    model = one_op_model("DEQUANTIZE", [("input", x.shape, np.int8)], [(x.shape, np.float32)])
    with pytest.raises(PrepareError, match="without quantization"):
        run_litert(model, [x])
    model = one_op_model("DEQUANTIZE", [("input", x.shape, np.int16, ([0.1, 0.2, 0.3], [0, 0, 0], 1))],
                         [(x.shape, np.float32)])
    with pytest.raises(PrepareError, match="per-channel"):
        run_litert(model, [x.astype(np.int16)])
    model = one_op_model("DEQUANTIZE", [("input", x.shape, np.int32)], [(x.shape, np.float32)])
    with pytest.raises(PrepareError, match="not supported"):
        run_litert(model, [x.astype(np.int32)])


# -- DENSIFY -----------------------------------------------------------------------------------

def index_vector(values, kind):
    cls = {"int32": fb.Int32VectorT, "uint16": fb.Uint16VectorT, "uint8": fb.Uint8VectorT}[kind]
    code = {"int32": fb.SparseIndexVector.Int32Vector, "uint16": fb.SparseIndexVector.Uint16Vector,
            "uint8": fb.SparseIndexVector.Uint8Vector}[kind]
    v = cls()
    v.values = [int(a) for a in values]
    return code, v


def encode_sparse(dense, formats, order=None, block_map=(), block_sizes=(), index_kind="int32"):
    """A SparsityParametersT and stored values for `dense` (our own encoder, written from the
    format description; the official interpreter decoding it is the check)."""
    rank = dense.ndim
    order = list(order) if order is not None else list(range(rank + len(block_map)))
    # expanded tensor: each blocked dimension splits into (blocks, block size), sizes moved last
    split_shape, block_axes = [], []
    for d, n in enumerate(dense.shape):
        if d in block_map:
            b = block_sizes[list(block_map).index(d)]
            split_shape += [n // b, b]
            block_axes.append(len(split_shape) - 1)
        else:
            split_shape.append(n)
    outer_axes = [a for a in range(len(split_shape)) if a not in block_axes]
    expanded = dense.reshape(split_shape).transpose(outer_axes + block_axes)
    walk = expanded.transpose(order)
    segments = [[0] for _ in formats]
    indices = [[] for _ in formats]
    values = []

    def visit(sub, lvl):
        if lvl == len(formats):
            values.append(sub)
            return
        for i in range(sub.shape[0]):
            if formats[lvl] == DENSE:
                visit(sub[i], lvl + 1)
            elif np.any(sub[i] != 0):
                indices[lvl].append(i)
                visit(sub[i], lvl + 1)
        if formats[lvl] == CSR:
            segments[lvl].append(len(indices[lvl]))

    visit(walk, 0)
    sp = fb.SparsityParametersT()
    sp.traversalOrder = order
    sp.blockMap = list(block_map)
    sp.dimMetadata = []
    for lvl, f in enumerate(formats):
        m = fb.DimensionMetadataT()
        m.format = f
        if f == DENSE:
            m.denseSize = walk.shape[lvl]
        else:
            m.arraySegmentsType, m.arraySegments = index_vector(segments[lvl], index_kind)
            m.arrayIndicesType, m.arrayIndices = index_vector(indices[lvl], index_kind)
        sp.dimMetadata.append(m)
    return sp, np.array(values, dense.dtype)


def densify_model(dense, sp, values, quant=None):
    """sparse const -> DENSIFY [-> DEQUANTIZE] -> ADD(x) -> output."""
    b = GraphBuilder()
    t = b.tensor("sparse_w", dense.shape, dense.dtype, quant=quant, data=values)
    b.sg.tensors[t].sparsity = sp
    w = b.tensor("w", dense.shape, dense.dtype, quant=quant)
    b.op("DENSIFY", [t], [w])
    if dense.dtype != np.float32:
        wf = b.tensor("w_float", dense.shape, np.float32)
        b.op("DEQUANTIZE", [w], [wf])
        w = wf
    x = b.input("x", dense.shape, np.float32)
    y = b.tensor("y", dense.shape, np.float32)
    b.op("ADD", [w, x], [y], options("AddOptions"))
    b.output(y)
    return b.build()


def sparse_matrix(shape, density, seed, dtype=np.float32, block=None):
    rng = np.random.default_rng(seed)
    if block is None:
        mask = rng.random(shape) < density
    else:
        grid = rng.random((shape[0] // block[0], shape[1] // block[1])) < density
        mask = np.kron(grid, np.ones(block, bool))
    vals = rng.uniform(1, 5, shape) * rng.choice([-1, 1], shape)
    if dtype == np.int8:
        vals = rng.integers(1, 127, shape) * rng.choice([-1, 1], shape)
    return np.where(mask, vals, 0).astype(dtype)


def check_densify(dense, sp, values, quant=None):
    model = densify_model(dense, sp, values, quant)
    x = np.zeros(dense.shape, np.float32)
    want = dense.astype(np.float32) if quant is None else np.float32(quant[0][0]) * dense.astype(np.float32)
    official = run_official(model, [x])[0]
    np.testing.assert_array_equal(official, want)          # the encoder wrote what we meant
    got = assert_same(model, [x])[0]
    np.testing.assert_array_equal(got, want)
    it = Interpreter(model_content=model)
    it.allocate_tensors()
    assert [s.name for s in it.execution_plan()] == ["ADD"]   # DENSIFY (and DEQUANTIZE) folded


def test_densify_hand_written_csr():
    dense = np.array([[1, 0, 0, 2], [0, 0, 3, 0], [0, 0, 0, 0]], np.float32)
    sp = fb.SparsityParametersT()
    sp.traversalOrder, sp.blockMap = [0, 1], []
    rows, cols = fb.DimensionMetadataT(), fb.DimensionMetadataT()
    rows.format, rows.denseSize = DENSE, 3
    cols.format = CSR
    cols.arraySegmentsType, cols.arraySegments = index_vector([0, 2, 3, 3], "int32")
    cols.arrayIndicesType, cols.arrayIndices = index_vector([0, 3, 2], "int32")
    sp.dimMetadata = [rows, cols]
    check_densify(dense, sp, np.array([1, 2, 3], np.float32))


@pytest.mark.parametrize("index_kind", ["int32", "uint16", "uint8"])
def test_densify_csr_matrix(index_kind):
    dense = sparse_matrix((12, 20), 0.2, seed=1)
    sp, values = encode_sparse(dense, [DENSE, CSR], index_kind=index_kind)
    assert values.size == np.count_nonzero(dense)
    check_densify(dense, sp, values)


def test_densify_csr_both_levels_and_column_major():
    dense = sparse_matrix((10, 7), 0.15, seed=2)
    dense[3] = 0                                  # an empty row: no entry at the outer level
    check_densify(dense, *encode_sparse(dense, [CSR, CSR]))
    check_densify(dense, *encode_sparse(dense, [DENSE, CSR], order=[1, 0]))


def test_densify_block_sparse_1x4():
    # the converter's pattern for FULLY_CONNECTED weights: blocks of 1x4 along the input axis
    dense = sparse_matrix((6, 16), 0.4, seed=3, block=(1, 4))
    sp, values = encode_sparse(dense, [DENSE, CSR, DENSE], block_map=[1], block_sizes=[4])
    assert values.size == np.count_nonzero(np.any(dense.reshape(6, 4, 4) != 0, axis=2)) * 4
    check_densify(dense, sp, values)


def test_densify_block_sparse_2x2():
    dense = sparse_matrix((8, 12), 0.3, seed=4, block=(2, 2))
    check_densify(dense, *encode_sparse(dense, [DENSE, CSR, DENSE, DENSE], block_map=[0, 1],
                                        block_sizes=[2, 2]))


def test_densify_rank3_mixed_levels():
    dense = sparse_matrix((3, 4, 5), 0.3, seed=5)
    check_densify(dense, *encode_sparse(dense, [DENSE, CSR, CSR], order=[0, 2, 1]))


def test_densify_int8_then_dequantize():
    dense = sparse_matrix((8, 16), 0.3, seed=6, dtype=np.int8, block=(1, 4))
    sp, values = encode_sparse(dense, [DENSE, CSR, DENSE], block_map=[1], block_sizes=[4])
    check_densify(dense, sp, values, quant=([0.05], [0]))


def test_densify_float16_then_dequantize():
    dense = sparse_matrix((6, 8), 0.3, seed=7).astype(np.float16)
    sp, values = encode_sparse(dense, [DENSE, CSR])
    model = densify_model(dense, sp, values)
    x = np.zeros(dense.shape, np.float32)
    got = assert_same(model, [x])[0]
    np.testing.assert_array_equal(got, dense.astype(np.float32))


def test_densify_rejects_broken_sparsity():
    dense = sparse_matrix((4, 6), 0.5, seed=8)
    sp, values = encode_sparse(dense, [DENSE, CSR])
    x = [np.zeros(dense.shape, np.float32)]
    bad = sp.dimMetadata[1].arrayIndices.values
    bad[0] = 6                                         # column outside the matrix
    with pytest.raises(PrepareError, match="outside its dimension"):
        run_litert(densify_model(dense, sp, values), x)
    sp, values = encode_sparse(dense, [DENSE, CSR])
    with pytest.raises(PrepareError, match="addresses"):
        run_litert(densify_model(dense, sp, values[:-1]), x)
    sp, values = encode_sparse(dense, [DENSE, CSR])
    sp.dimMetadata[0].denseSize = 5                    # disagrees with the shape
    with pytest.raises(PrepareError, match="dense with size 5"):
        run_litert(densify_model(dense, sp, values), x)
    sp, values = encode_sparse(dense, [DENSE, CSR])
    sp.dimMetadata[1].arraySegments.values = [0, 2, 1, 3, 4]   # segments going back
    with pytest.raises(PrepareError, match="array_segments"):
        run_litert(densify_model(dense, sp, values), x)


def test_densify_rejects_dense_input():
    w = np.ones((2, 3), np.float32)
    model = one_op_model("DENSIFY", [("const", w)], [(w.shape, np.float32)])
    with pytest.raises(PrepareError, match="not sparse"):
        Interpreter(model_content=model).allocate_tensors()
