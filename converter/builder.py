"""A small Python graph builder that writes .tflite models (used by tests and the converter).

    b = GraphBuilder()
    x = b.input("x", [1, 8, 8, 3], np.float32)
    w = b.const("w", weights)                       # constant tensor with data
    y = b.tensor("y", [1, 8, 8, 4], np.float32)     # an activation
    b.op("CONV_2D", [x, w, -1], [y], options("Conv2DOptions", padding=0, strideW=1, strideH=1))
    b.output(y)
    tflite_bytes = b.build()

Tensors are referred to by the index the builder returns; -1 leaves an optional input out.
Quantization is given per tensor as quant=(scales, zero_points[, quantized_dimension]).
"""
import numpy as np

from litert import schema_fb as fb
from litert.dtypes import type_code
from litert.model import BUILTIN_CODES
from litert.writer import write_model


def options(kind, **fields):
    """An options T object, e.g. options("AddOptions", fusedActivationFunction=1). Unknown field
    names raise, so a typo cannot silently leave a default in place."""
    cls = getattr(fb, kind + "T", None)
    if cls is None:
        raise ValueError(f"no options table named {kind}")
    obj = cls()
    for k, v in fields.items():
        if not hasattr(obj, k):
            raise ValueError(f"{kind} has no field {k!r}; fields: {sorted(vars(obj))}")
        setattr(obj, k, v)
    return obj


def _union_type(opts):
    name = type(opts).__name__[:-1]  # Conv2DOptionsT -> Conv2DOptions
    if hasattr(fb.BuiltinOptions, name):
        return 1, getattr(fb.BuiltinOptions, name)
    if hasattr(fb.BuiltinOptions2, name):
        return 2, getattr(fb.BuiltinOptions2, name)
    raise ValueError(f"{name} is not a builtin options table")


class GraphBuilder:
    def __init__(self, description="litert builder"):
        self.model = fb.ModelT()
        self.model.version = 3
        self.model.description = description
        self.model.buffers = [fb.BufferT()]
        self.model.operatorCodes = []
        self.subgraphs = []
        self._codes = {}
        self.signatures = []
        self.subgraph("main")

    # -- subgraphs ----------------------------------------------------------------------
    def subgraph(self, name=""):
        """Start a new subgraph and make it current; returns its index."""
        sg = fb.SubGraphT()
        sg.name = name
        sg.tensors, sg.operators, sg.inputs, sg.outputs = [], [], [], []
        self.subgraphs.append(sg)
        self.sg = sg
        return len(self.subgraphs) - 1

    def use(self, index):
        self.sg = self.subgraphs[index]

    # -- tensors ------------------------------------------------------------------------
    def tensor(self, name, shape, dtype, quant=None, data=None, shape_signature=None, variable=False):
        t = fb.TensorT()
        t.name = name
        t.shape = np.asarray(shape, np.int32).reshape(-1)
        if shape_signature is not None:
            t.shapeSignature = np.asarray(shape_signature, np.int32).reshape(-1)
        t.type = type_code(dtype)
        t.buffer = 0
        t.isVariable = variable
        if data is not None:
            buf = fb.BufferT()
            buf.data = np.frombuffer(np.ascontiguousarray(data, dtype=dtype).tobytes(), np.uint8)
            self.model.buffers.append(buf)
            t.buffer = len(self.model.buffers) - 1
        if quant is not None:
            scales, zps = quant[0], quant[1]
            q = fb.QuantizationParametersT()
            q.scale = np.asarray(scales, np.float32).reshape(-1)
            q.zeroPoint = np.asarray(zps, np.int64).reshape(-1)
            q.quantizedDimension = int(quant[2]) if len(quant) > 2 else 0
            t.quantization = q
        self.sg.tensors.append(t)
        return len(self.sg.tensors) - 1

    def input(self, name, shape, dtype, quant=None, shape_signature=None):
        i = self.tensor(name, shape, dtype, quant, shape_signature=shape_signature)
        self.sg.inputs.append(i)
        return i

    def const(self, name, data, dtype=None, quant=None):
        data = np.asarray(data, dtype=dtype)
        return self.tensor(name, data.shape, data.dtype, quant, data=data)

    def output(self, *indices):
        self.sg.outputs.extend(indices)

    # -- operators ----------------------------------------------------------------------
    def opcode(self, name, version=1):
        key = (name, version)
        if key not in self._codes:
            oc = fb.OperatorCodeT()
            if name in BUILTIN_CODES:
                oc.builtinCode = BUILTIN_CODES[name]
            else:
                oc.builtinCode = BUILTIN_CODES["CUSTOM"]
                oc.customCode = name
            oc.deprecatedBuiltinCode = min(oc.builtinCode, 127)
            oc.version = version
            self.model.operatorCodes.append(oc)
            self._codes[key] = len(self.model.operatorCodes) - 1
        return self._codes[key]

    def op(self, name, inputs, outputs, opts=None, version=1, custom_options=None, intermediates=None):
        o = fb.OperatorT()
        o.opcodeIndex = self.opcode(name, version)
        o.inputs = np.asarray(inputs, np.int32)
        o.outputs = np.asarray(outputs, np.int32)
        if intermediates:
            o.intermediates = np.asarray(intermediates, np.int32)
        if opts is not None:
            which, code = _union_type(opts)
            if which == 1:
                o.builtinOptionsType, o.builtinOptions = code, opts
            else:
                o.builtinOptions2Type, o.builtinOptions2 = code, opts
        if custom_options is not None:
            o.customOptions = np.frombuffer(bytes(custom_options), np.uint8)
        self.sg.operators.append(o)
        return len(self.sg.operators) - 1

    def signature(self, key, inputs, outputs, subgraph=0):
        """inputs/outputs: {signature name: tensor index}."""
        sd = fb.SignatureDefT()
        sd.signatureKey = key
        sd.subgraphIndex = subgraph
        sd.inputs, sd.outputs = [], []
        for names, dst in ((inputs, sd.inputs), (outputs, sd.outputs)):
            for n, i in names.items():
                tm = fb.TensorMapT()
                tm.name, tm.tensorIndex = n, i
                dst.append(tm)
        self.signatures.append(sd)

    def build(self):
        self.model.subgraphs = self.subgraphs
        self.model.signatureDefs = self.signatures or None
        for sg in self.subgraphs:
            sg.inputs = np.asarray(sg.inputs, np.int32)
            sg.outputs = np.asarray(sg.outputs, np.int32)
        try:
            return write_model(self.model)
        finally:
            for sg in self.subgraphs:
                sg.inputs, sg.outputs = list(sg.inputs), list(sg.outputs)


def op_model(subgraph, op, quantized_dims=None):
    """Operator `op` of a loaded model's `subgraph` (litert.model) as a one-op model: its
    tensors (shape, type, quantization, constant data, variables, intermediates) and options
    copied; every non-constant, non-variable input becomes a graph input. quantized_dims
    {input position: dimension} rewrites the quantized_dimension of those inputs (e.g. a
    depthwise bias on dimension 3, which the official interpreter refuses, moved to 0).
    Returns (model bytes, the original indices of the tensors fed as graph inputs)."""
    b = GraphBuilder()
    tensors, new, feeds = subgraph.tensors, {}, []

    def quant(t, dim=None):
        q = t.quantization
        if q is None:
            return None
        return q.scales, q.zero_points, q.quantized_dimension if dim is None else dim

    def copy(i, role, position=None):
        if i < 0:
            return -1
        if i not in new:
            t = tensors[i]
            q = quant(t, (quantized_dims or {}).get(position))
            if role == "input" and t.data is None and not t.is_variable:
                new[i] = b.input(t.name or f"t{i}", t.shape, t.dtype, q)
                feeds.append(i)
            else:
                data = None if t.data is None or t.sparsity is not None else np.array(t.data)
                new[i] = b.tensor(t.name or f"t{i}", t.shape, t.dtype, q, data=data, variable=t.is_variable)
        return new[i]

    ins = [copy(i, "input", k) for k, i in enumerate(op.inputs)]
    outs = [copy(i, "output") for i in op.outputs]
    mids = [copy(i, "intermediate") for i in op.intermediates]
    b.op(op.name, ins, outs, op.options, version=op.version, intermediates=mids or None,
         custom_options=op.custom_options or None)
    b.output(*outs)
    return b.build(), feeds
