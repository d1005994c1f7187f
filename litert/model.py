"""Load and validate a TFL3 model.

The bytes come from a read-only mmap (model_path) or a bytes object (model_content); constant
tensor data are numpy views into them, never copies. Everything an index, size or shape can get
wrong is checked here, before any kernel sees the model: the flatbuffers runtime does not verify
a buffer, so a broken file must fail here with an InvalidModelError naming what is wrong.
"""
import mmap
import os
import struct
from dataclasses import dataclass, field

import numpy as np

from . import schema_fb as fb
from .dtypes import numpy_type, type_name
from .errors import InvalidModelError

SCHEMA_VERSION = 3
FILE_IDENTIFIER = b"TFL3"

BUILTIN_NAMES = {v: k for k, v in vars(fb.BuiltinOperator).items() if not k.startswith("_")}
BUILTIN_CODES = {k: v for v, k in BUILTIN_NAMES.items()}
CUSTOM = BUILTIN_CODES["CUSTOM"]


@dataclass
class Quantization:
    scales: np.ndarray          # float32, one per tensor or per channel
    zero_points: np.ndarray     # int64 as stored; per channel when scales are
    quantized_dimension: int
    block_size: int = 0

    @property
    def per_channel(self):
        return self.scales.size > 1

    @property
    def scale(self):
        return float(self.scales[0])

    @property
    def zero_point(self):
        return int(self.zero_points[0]) if self.zero_points.size else 0


@dataclass
class Tensor:
    index: int
    name: str
    type: int                   # TensorType code
    dtype: object               # numpy scalar type, or None (string, resource, ...)
    shape: tuple
    shape_signature: tuple      # -1 for unknown dimensions; == shape when the file has none
    buffer: int
    data: np.ndarray = None     # constant data shaped like the tensor (read-only view), or None;
                                # for a sparse constant: its stored values, 1-D (see DENSIFY)
    raw: np.ndarray = None      # constant bytes as stored (uint8), or None
    quantization: Quantization = None
    is_variable: bool = False
    sparsity: object = None     # SparsityParametersT when the constant is stored sparse
    has_shape_signature: bool = False


@dataclass
class Operator:
    index: int
    code: int                   # builtin code, CUSTOM (32) for custom ops
    name: str                   # builtin name, or the custom code for custom ops
    version: int
    inputs: tuple               # tensor indices, -1 = optional input left out
    outputs: tuple
    intermediates: tuple
    options: object             # the options T object (BuiltinOptions or BuiltinOptions2), or None
    custom_options: bytes = b""


@dataclass
class Subgraph:
    index: int
    name: str
    tensors: list
    operators: list
    inputs: tuple
    outputs: tuple


@dataclass
class Signature:
    key: str
    subgraph_index: int
    inputs: dict                # signature name -> tensor index, in file order
    outputs: dict


@dataclass
class Model:
    version: int
    description: str
    subgraphs: list
    signatures: dict
    metadata: dict              # name -> bytes view
    buffer: object              # the whole file (bytes or mmap)
    raw: object = field(repr=False, default=None)   # the ModelT the file unpacked to (writer)

    def operator_names(self):
        return sorted({op.name for sg in self.subgraphs for op in sg.operators})


def load_model(model_path=None, model_content=None):
    """Read a model from a path (memory-mapped) or from bytes, and validate it."""
    if model_path is not None:
        buf = _map_file(model_path)
        where = os.fspath(model_path)
    else:
        if not isinstance(model_content, (bytes, bytearray, memoryview)):
            raise InvalidModelError(f"model_content must be bytes, not {type(model_content).__name__}")
        buf = bytes(model_content)
        where = "model_content"
    return parse_model(buf, where)


def _map_file(path):
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size == 0:
                raise InvalidModelError(f"{os.fspath(path)}: the file is empty")
            return mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as e:
        raise InvalidModelError(f"Could not open {os.fspath(path)}: {e.strerror or e}") from e


_TABLE_VECTORS = [  # (owner accessor path, vector name) checked before the object API walks them
    ("OperatorCodes",), ("Subgraphs",), ("Buffers",), ("Metadata",), ("SignatureDefs",)]


def parse_model(buf, where="model"):
    n = len(buf)
    if n < 8:
        raise InvalidModelError(f"{where}: {n} bytes is too short to be a TFL3 model")
    ident = bytes(buf[4:8])
    if ident != FILE_IDENTIFIER:
        raise InvalidModelError(
            f"{where}: file identifier is {ident!r}, expected {FILE_IDENTIFIER!r}: not a TFLite model")
    try:
        root = fb.Model.GetRootAs(buf, 0)
        _check_vector_lengths(root, n)
        raw = fb.ModelT.InitFromObj(root)
    except InvalidModelError:
        raise
    except (struct.error, IndexError, ValueError, TypeError, OverflowError, UnicodeDecodeError,
            AttributeError, RecursionError, MemoryError) as e:
        raise InvalidModelError(f"{where}: not a valid TFL3 flatbuffer ({type(e).__name__}: {e})") from e
    return _build(raw, buf, where)


def _check_vector_lengths(root, n):
    """A garbled length field could make the object API loop for billions of elements: a vector
    of tables holds 4-byte offsets, so its length can never exceed the file size / 4."""
    limit = n // 4

    def check(obj, name, what):
        k = getattr(obj, name + "Length")()
        if k < 0 or k > limit:
            raise InvalidModelError(f"{what}: vector {name} claims {k} entries in a {n}-byte file")
        return k

    for name in ("OperatorCodes", "Buffers", "Metadata"):
        check(root, name, "model")
    for s in range(check(root, "SignatureDefs", "model")):
        sig = root.SignatureDefs(s)
        check(sig, "Inputs", f"signature {s}")
        check(sig, "Outputs", f"signature {s}")
    for g in range(check(root, "Subgraphs", "model")):
        sg = root.Subgraphs(g)
        for name in ("Inputs", "Outputs"):
            check(sg, name, f"subgraph {g}")
        for t in range(check(sg, "Tensors", f"subgraph {g}")):
            tensor = sg.Tensors(t)
            check(tensor, "Shape", f"subgraph {g} tensor {t}")
            sp = tensor.Sparsity()
            if sp is not None:
                check(sp, "DimMetadata", f"subgraph {g} tensor {t} sparsity")
        for o in range(check(sg, "Operators", f"subgraph {g}")):
            op = sg.Operators(o)
            for name in ("Inputs", "Outputs", "Intermediates"):
                check(op, name, f"subgraph {g} operator {o}")


def _text(b):
    if b is None:
        return ""
    return b.decode("utf-8", errors="replace") if isinstance(b, (bytes, bytearray)) else str(b)


def _ints(v):
    if v is None:
        return ()
    return tuple(int(x) for x in np.asarray(v).reshape(-1))


def _buffer_bytes(raw, index, buf, where):
    """The constant bytes of buffer `index` as a uint8 view (or None when it holds none)."""
    b = raw.buffers[index]
    if b is None:
        return None
    if b.offset > 1:  # data stored after the flatbuffer (files over 2 GB)
        if b.offset + b.size > len(buf):
            raise InvalidModelError(f"{where}: buffer {index} spans bytes {b.offset}..{b.offset + b.size} "
                                    f"past the end of the {len(buf)}-byte file")
        return np.frombuffer(buf, np.uint8, b.size, b.offset) if b.size else None
    if b.data is None or len(b.data) == 0:
        return None
    return np.asarray(b.data, dtype=np.uint8)


def _build(raw, buf, where):
    if raw.version != SCHEMA_VERSION:
        raise InvalidModelError(f"{where}: schema version {raw.version}, litert reads version {SCHEMA_VERSION}")
    if not raw.subgraphs:
        raise InvalidModelError(f"{where}: the model has no subgraphs")
    raw.buffers = raw.buffers or []
    codes = []
    for i, oc in enumerate(raw.operatorCodes or []):
        code = max(int(oc.builtinCode), int(oc.deprecatedBuiltinCode))
        if code == CUSTOM:
            name = _text(oc.customCode)
            if not name:
                raise InvalidModelError(f"{where}: operator code {i} is CUSTOM without a custom_code name")
        elif code in BUILTIN_NAMES:
            name = BUILTIN_NAMES[code]
        else:
            name = f"unknown builtin operator {code}"
        codes.append((code, name, max(1, int(oc.version))))

    subgraphs = []
    for g, sg in enumerate(raw.subgraphs):
        wg = f"{where}: subgraph {g}"
        tensors = [_tensor(raw, t, i, buf, f"{wg} tensor {i}") for i, t in enumerate(sg.tensors or [])]
        nt = len(tensors)

        def check_index(i, what, optional):
            if not (-1 if optional else 0) <= i < nt:
                raise InvalidModelError(f"{what} refers to tensor {i}; the subgraph has {nt} tensors")

        ops = []
        for o, op in enumerate(sg.operators or []):
            wo = f"{wg} operator {o}"
            if not 0 <= op.opcodeIndex < len(codes):
                raise InvalidModelError(f"{wo}: opcode_index {op.opcodeIndex} out of range (the model has "
                                        f"{len(codes)} operator codes)")
            code, name, version = codes[op.opcodeIndex]
            ins, outs, mids = _ints(op.inputs), _ints(op.outputs), _ints(op.intermediates)
            for i in ins:
                check_index(i, f"{wo} ({name}) input", True)
            for i in outs:
                check_index(i, f"{wo} ({name}) output", True)
            for i in mids:
                check_index(i, f"{wo} ({name}) intermediate", True)
            options = op.builtinOptions if op.builtinOptions is not None else op.builtinOptions2
            custom = bytes(np.asarray(op.customOptions, dtype=np.uint8)) if op.customOptions is not None else b""
            ops.append(Operator(o, code, name, version, ins, outs, mids, options, custom))
        inputs, outputs = _ints(sg.inputs), _ints(sg.outputs)
        for i in inputs:
            check_index(i, f"{wg} input", False)
        _check_single_writer(tensors, ops, inputs, wg)
        for i in outputs:
            check_index(i, f"{wg} output", False)
        subgraphs.append(Subgraph(g, _text(sg.name), tensors, ops, inputs, outputs))

    _check_subgraph_references(subgraphs, where)

    signatures = {}
    for s, sd in enumerate(raw.signatureDefs or []):
        key = _text(sd.signatureKey)
        if not 0 <= sd.subgraphIndex < len(subgraphs):
            raise InvalidModelError(f"{where}: signature {key!r} refers to subgraph {sd.subgraphIndex}; "
                                    f"the model has {len(subgraphs)}")
        nt = len(subgraphs[sd.subgraphIndex].tensors)
        maps = []
        for kind, entries in (("input", sd.inputs), ("output", sd.outputs)):
            m = {}
            for e in entries or []:
                if not 0 <= e.tensorIndex < nt:
                    raise InvalidModelError(f"{where}: signature {key!r} {kind} {_text(e.name)!r} refers to "
                                            f"tensor {e.tensorIndex}; subgraph {sd.subgraphIndex} has {nt}")
                m[_text(e.name)] = int(e.tensorIndex)
            maps.append(m)
        signatures[key] = Signature(key, int(sd.subgraphIndex), maps[0], maps[1])

    metadata = {}
    for m in raw.metadata or []:
        if not 0 <= m.buffer < len(raw.buffers):
            raise InvalidModelError(f"{where}: metadata {_text(m.name)!r} refers to buffer {m.buffer}; "
                                    f"the model has {len(raw.buffers)}")
        data = _buffer_bytes(raw, m.buffer, buf, where)
        metadata[_text(m.name)] = bytes(data) if data is not None else b""
    return Model(int(raw.version), _text(raw.description), subgraphs, signatures, metadata, buf, raw)


def _tensor(raw, t, index, buf, where):
    name = _text(t.name)
    where = f"{where} ({name!r})" if name else where
    shape = _ints(t.shape)
    sig = _ints(t.shapeSignature) if t.shapeSignature is not None else shape
    if any(d < 0 for d in shape):
        raise InvalidModelError(f"{where}: negative dimension in shape {list(shape)}")
    if len(sig) != len(shape) or any(d < -1 for d in sig):
        raise InvalidModelError(f"{where}: shape_signature {list(sig)} does not fit shape {list(shape)}")
    if not 0 <= t.buffer < max(1, len(raw.buffers)):
        raise InvalidModelError(f"{where}: buffer index {t.buffer} out of range (the model has "
                                f"{len(raw.buffers)} buffers)")
    dtype = numpy_type(t.type)
    if t.type not in _KNOWN_TYPES:
        raise InvalidModelError(f"{where}: unknown tensor type {t.type}")
    raw_bytes = _buffer_bytes(raw, t.buffer, buf, where) if raw.buffers else None
    data = None
    if raw_bytes is not None and dtype is not None:
        itemsize = np.dtype(dtype).itemsize
        if t.sparsity is not None:
            if raw_bytes.size % itemsize:
                raise InvalidModelError(f"{where}: sparse buffer of {raw_bytes.size} bytes is not a whole "
                                        f"number of {type_name(t.type)} values")
            data = _typed_view(raw_bytes, dtype, (raw_bytes.size // itemsize,))  # the stored values
        else:
            expect = int(np.prod(shape, dtype=np.int64)) * itemsize
            if raw_bytes.size != expect:
                raise InvalidModelError(f"{where}: buffer {t.buffer} holds {raw_bytes.size} bytes, but shape "
                                        f"{list(shape)} of {type_name(t.type)} needs {expect}")
            data = _typed_view(raw_bytes, dtype, shape)
    q = _quantization(t.quantization, shape, where)
    return Tensor(index, name, int(t.type), dtype, shape, sig, int(t.buffer), data, raw_bytes, q,
                  bool(t.isVariable), t.sparsity, t.shapeSignature is not None)


_KNOWN_TYPES = set(range(0, 19))


def _typed_view(raw_bytes, dtype, shape):
    """A read-only typed view of constant bytes; copied only if the file misaligns them."""
    dt = np.dtype(dtype)
    arr = raw_bytes
    if arr.ctypes.data % dt.alignment:
        arr = arr.copy()
    view = arr.view(dt).reshape(shape)
    view.flags.writeable = False
    return view


def _quantization(q, shape, where):
    if q is None or q.scale is None or len(q.scale) == 0:
        return None
    scales = np.asarray(q.scale, dtype=np.float32).reshape(-1)
    zps = np.asarray(q.zeroPoint if q.zeroPoint is not None else np.zeros(0), dtype=np.int64).reshape(-1)
    if zps.size not in (0, scales.size):
        raise InvalidModelError(f"{where}: {scales.size} quantization scales but {zps.size} zero points")
    if zps.size == 0:
        zps = np.zeros(scales.size, np.int64)
    qdim = int(q.quantizedDimension)
    if scales.size > 1:
        rank = len(shape)
        if 0 <= qdim < rank:
            if shape[qdim] != scales.size:
                raise InvalidModelError(f"{where}: {scales.size} per-channel scales for dimension {qdim} "
                                        f"of size {shape[qdim]}")
        elif not (rank == 1 and shape[0] == scales.size):
            # 1-D tensors (biases) sometimes carry the dimension of the weights they go with
            raise InvalidModelError(f"{where}: quantized_dimension {qdim} is outside a rank-{rank} tensor")
    block = int(getattr(q, "blockSize", 0) or 0)
    return Quantization(scales, zps, qdim, block)


def _check_single_writer(tensors, ops, inputs, where):
    """Each tensor gets its value from one place: a graph input, a constant buffer, or exactly one
    operator. Two writers would give one tensor two shapes (and a kernel a view it did not plan)."""
    writer = {i: "a subgraph input" for i in inputs}
    for t in tensors:
        if t.raw is not None and not t.is_variable:
            writer.setdefault(t.index, "constant data")
    for op in ops:
        for i in op.outputs:
            if i < 0:
                continue
            if i in writer:
                t = tensors[i]
                raise InvalidModelError(f"{where} operator {op.index} ({op.name}) writes tensor {i} "
                                        f"({t.name!r}), which already gets its value from {writer[i]}")
            writer[i] = f"operator {op.index} ({op.name})"


_SUBGRAPH_OPTION_FIELDS = ("condSubgraphIndex", "bodySubgraphIndex", "thenSubgraphIndex",
                           "elseSubgraphIndex", "initSubgraphIndex", "subgraph", "decompositionSubgraphIndex")


def _check_subgraph_references(subgraphs, where):
    n = len(subgraphs)
    for sg in subgraphs:
        for op in sg.operators:
            for f in _SUBGRAPH_OPTION_FIELDS:
                ref = getattr(op.options, f, None)
                if ref is not None and not 0 <= ref < n:
                    raise InvalidModelError(f"{where}: subgraph {sg.index} operator {op.index} ({op.name}) "
                                            f"refers to subgraph {ref}; the model has {n}")
