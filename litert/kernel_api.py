"""What a kernel's prepare() sees: the op, its tensors (TensorSpec) and a PrepareContext.

Contract (DESIGN.md rule 2): prepare validates and derives; eval(op_data, ins, outs, scratch)
only computes, on arrays it is handed, and allocates nothing. Output shapes are set in prepare
with ctx.set_output(i, shape); eval gets arrays of exactly those shapes.
"""
import numpy as np

from .dtypes import type_name
from .errors import PrepareError


MAX_TENSOR_BYTES = 1 << 40   # no tensor of a real model comes near; a garbled shape does


class TensorSpec:
    """A tensor as prepare() sees it: current shape, dtype, quantization, constant data."""

    __slots__ = ("index", "name", "type", "dtype", "shape", "quantization", "data", "is_variable",
                 "sparsity")

    def __init__(self, tensor, shape, data):
        self.index = tensor.index
        self.name = tensor.name
        self.type = tensor.type
        self.dtype = np.dtype(tensor.dtype) if tensor.dtype is not None else None
        self.shape = tuple(shape)
        self.quantization = tensor.quantization
        self.data = data            # numpy array when the value is known at prepare time
        self.is_variable = tensor.is_variable
        self.sparsity = tensor.sparsity  # SparsityParametersT of a sparse constant (data = stored values)

    @property
    def is_constant(self):
        return self.data is not None

    @property
    def size(self):
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def rank(self):
        return len(self.shape)

    @property
    def scale(self):
        q = self.quantization
        return q.scale if q is not None else 0.0

    @property
    def zero_point(self):
        q = self.quantization
        return q.zero_point if q is not None else 0

    @property
    def type_name(self):
        return type_name(self.type)

    def __repr__(self):
        return f"TensorSpec({self.index}, {self.name!r}, {self.type_name}, {list(self.shape)})"


class PrepareContext:
    """Handed to a kernel's prepare(ctx). Everything it asks for is planned by the runtime."""

    def __init__(self, runtime, op):
        self.runtime = runtime
        self.op = op
        self.options = op.options
        self.inputs = [runtime.spec(i) if i >= 0 else None for i in op.inputs]
        self.outputs = [runtime.spec(i) if i >= 0 else None for i in op.outputs]
        self.intermediates = [runtime.spec(i) if i >= 0 else None for i in op.intermediates]
        self.num_threads = runtime.options.num_threads
        self.scratch_specs = []          # (shape, dtype) per slot
        self.persistent_bytes = 0
        self.subgraphs = []              # runtimes of subgraphs this op calls
        self.output_values = {}          # output position -> value known at prepare time

    # -- reading the op --------------------------------------------------------------------
    def input(self, i):
        """Input i, or None when the op leaves it out (-1) or has fewer inputs."""
        return self.inputs[i] if i < len(self.inputs) else None

    def error(self, message):
        return PrepareError(f"subgraph {self.runtime.subgraph.index} operator {self.op.index} "
                            f"({self.op.name}): {message}")

    def check(self, condition, message):
        if not condition:
            raise self.error(message)

    def check_inputs(self, lo, hi=None):
        n = len(self.inputs)
        hi = lo if hi is None else hi
        self.check(lo <= n <= hi, f"takes {lo}{'' if hi == lo else f'..{hi}'} inputs, got {n}")
        self.check(len(self.outputs) >= 1 and all(o is not None for o in self.outputs), "has no output")

    def check_dtype(self, spec, *allowed):
        self.check(spec is not None, "a required input is missing")
        allowed = [np.dtype(a) for a in allowed]
        self.check(spec.dtype in allowed,
                   f"tensor {spec.index} ({spec.name!r}) is {spec.type_name}; supported: "
                   + ", ".join(str(a) for a in allowed))

    def constant(self, i, what):
        """The value of input i, which must be known at prepare time (constant or folded)."""
        spec = self.input(i)
        self.check(spec is not None and spec.data is not None,
                   f"{what} (input {i}) must be a constant; its value is only known at run time")
        return spec.data

    # -- declaring what eval needs ---------------------------------------------------------
    def set_output(self, i, shape):
        shape = tuple(int(d) for d in shape)
        self.check(all(d >= 0 for d in shape), f"computed a negative output shape {list(shape)}")
        spec = self.outputs[i]
        nbytes = int(np.prod(shape, dtype=np.float64)) * (spec.dtype.itemsize if spec.dtype is not None else 1)
        self.check(nbytes <= MAX_TENSOR_BYTES, f"output {i} would need {nbytes:,} bytes (shape {list(shape)})")
        self.runtime.set_shape(spec.index, shape)
        spec.shape = shape

    def set_output_value(self, i, value):
        """Output i's value is known now, whatever the inputs hold at run time (e.g. SHAPE):
        consumers see it as a constant, and an op whose outputs are all known never runs."""
        spec = self.outputs[i]
        value = np.array(value, dtype=spec.dtype).reshape(spec.shape)
        value.flags.writeable = False
        self.output_values[i] = value
        spec.data = value

    def scratch(self, shape, dtype):
        """Reserve a scratch array in the arena, alive during this op only; returns its slot
        (eval receives it as scratch[slot])."""
        self.scratch_specs.append((tuple(int(d) for d in shape), np.dtype(dtype)))
        return len(self.scratch_specs) - 1

    def persistent(self, array):
        """Keep an array derived in prepare (repacked weights, tables) for the interpreter's
        lifetime; it is counted in the persistent area."""
        array = np.ascontiguousarray(array)
        self.persistent_bytes += array.nbytes
        return array

    def call_subgraph(self, index, input_shapes):
        """Prepare subgraph `index` for this op to call (control flow); returns its runtime.
        Its arena becomes scratch of this op; the runtime binds it before eval."""
        child = self.runtime.child(index, input_shapes, self)
        self.subgraphs.append(child)
        return child
