"""One subgraph, ready to run: prepared kernels, a memory plan, and the execution plan.

prepare() walks the operators in order: each kernel's prepare sets its output shapes and asks for
scratch; an op whose inputs are all constant runs right there (constant folding: float16 weights
behind DEQUANTIZE, sparse weights behind DENSIFY, shape arithmetic) and its outputs become
constants. The rest become Steps; their tensors and scratch become Blocks for the planner.
bind() places the plan into the arena and makes every view once; invoke() runs the steps.
"""
import time

import numpy as np

from .errors import LitertError, PrepareError
from .kernel_api import PrepareContext, TensorSpec
from .planner import Block, lower_bound, plan_arena
from .registry import lookup

MAX_CALL_DEPTH = 32


def _reset_value(tensor):
    """What a variable tensor without initial data starts (and resets) at: the zero point for
    int8, 0 otherwise (TFLite's ResetVariableTensor)."""
    if tensor.dtype == np.int8 and tensor.quantization is not None:
        return tensor.quantization.zero_point
    return 0


class RuntimeOptions:
    def __init__(self, num_threads=1, preserve_all_tensors=False):
        self.num_threads = num_threads
        self.preserve_all_tensors = preserve_all_tensors


class Step:
    """One operator in the execution plan. A delegate may replace a run of Steps by one of its
    own: anything with the same eval(data, ins, outs, scratch) signature runs here."""

    __slots__ = ("op", "kernel", "data", "ctx", "ins", "outs", "scratch", "name", "subgraphs")

    def __init__(self, op, kernel, data, ctx):
        self.op, self.kernel, self.data, self.ctx = op, kernel, data, ctx
        self.name = op.name
        self.subgraphs = ctx.subgraphs
        self.ins = self.outs = self.scratch = None

    def run(self):
        self.kernel.eval(self.data, self.ins, self.outs, self.scratch)


class SubgraphRuntime:
    def __init__(self, model, index, options, depth=0):
        if depth > MAX_CALL_DEPTH:
            raise PrepareError(f"subgraph {index}: control flow nests deeper than {MAX_CALL_DEPTH} "
                               "calls (a subgraph that calls itself?)")
        self.model = model
        self.subgraph = model.subgraphs[index]
        self.options = options
        self.depth = depth
        self.input_shapes = {}      # tensor index -> shape set by resize_tensor_input
        self.prepared = False
        n = len(self.subgraph.tensors)
        self.shapes = [t.shape for t in self.subgraph.tensors]
        self.views = [None] * n
        self.offsets = [None] * n   # arena offset (relative to this subgraph's base) per tensor
        self.base = 0
        self.steps = []
        self.blocks = []
        self.arena_bytes = 0
        self.persistent_bytes = 0
        self.profile = None         # the caller's profile list during invoke (control flow reads it)

    # -- used by PrepareContext ----------------------------------------------------------
    def spec(self, i):
        return TensorSpec(self.subgraph.tensors[i], self.shapes[i], self.values[i])

    def set_shape(self, i, shape):
        self.shapes[i] = tuple(shape)

    def child(self, index, input_shapes, ctx):
        rt = SubgraphRuntime(self.model, index, self.options, self.depth + 1)
        sg = rt.subgraph
        if len(input_shapes) != len(sg.inputs):
            raise ctx.error(f"passes {len(input_shapes)} values to subgraph {index}, which takes {len(sg.inputs)}")
        rt.input_shapes = dict(zip(sg.inputs, (tuple(s) for s in input_shapes)))
        rt.prepare()
        return rt

    # -- prepare and plan -----------------------------------------------------------------
    def prepare(self):
        sg = self.subgraph
        tensors = sg.tensors
        self.shapes = [t.shape for t in tensors]
        for i, shape in self.input_shapes.items():
            self.shapes[i] = shape
        self.values = [t.data for t in tensors]
        self.variables = {}
        self.persistent_bytes = 0
        for t in tensors:
            if t.is_variable:
                if t.dtype is None:
                    raise PrepareError(f"subgraph {sg.index} variable tensor {t.index} ({t.name!r}) "
                                       f"has no numeric type")
                init = t.data
                try:
                    arr = np.array(init) if init is not None else np.zeros(self.shapes[t.index], t.dtype)
                    if init is None:
                        arr.fill(_reset_value(t))
                except (MemoryError, ValueError) as e:
                    raise PrepareError(f"subgraph {sg.index} variable tensor {t.index} ({t.name!r}): "
                                       f"cannot allocate shape {list(self.shapes[t.index])}: {e}") from e
                self.variables[t.index] = arr
                self.values[t.index] = None
                self.persistent_bytes += arr.nbytes
        self.steps = []
        for op in sg.operators:
            kernel = lookup(op)
            ctx = PrepareContext(self, op)
            for spec in ctx.inputs:
                if spec is not None and spec.sparsity is not None and op.name != "DENSIFY":
                    raise ctx.error(f"input tensor {spec.index} ({spec.name!r}) is stored sparse; litert "
                                    "reads sparse constants only through DENSIFY")
            try:
                data = kernel.prepare(ctx)
            except LitertError:
                raise
            except Exception as e:  # a kernel tripping over a malformed op must still name it
                raise ctx.error(f"cannot prepare: {type(e).__name__}: {e}") from e
            self.persistent_bytes += ctx.persistent_bytes
            for spec in ctx.outputs:
                if spec is not None and spec.dtype is None:
                    raise ctx.error(f"output tensor {spec.index} has type {spec.type_name}, "
                                    "which litert cannot hold in memory")
            if self._can_fold(kernel, ctx):
                self._fold(kernel, data, ctx)
            elif ctx.output_values and len(ctx.output_values) == sum(o is not None for o in ctx.outputs):
                for k, value in ctx.output_values.items():
                    self.values[ctx.outputs[k].index] = value
                    self.persistent_bytes += value.nbytes
            else:
                self.steps.append(Step(op, kernel, data, ctx))
        self._plan()
        self.prepared = True

    def _can_fold(self, kernel, ctx):
        if not kernel.fold or ctx.subgraphs or not ctx.outputs:
            return False
        if any(o is not None and (o.is_variable or o.index in self.subgraph.inputs) for o in ctx.outputs):
            return False
        return all(s is None or s.data is not None for s in ctx.inputs)

    def _fold(self, kernel, data, ctx):
        """Run the op now; its outputs become constants in the persistent area."""
        ins = [s.data if s is not None else None for s in ctx.inputs]
        outs = [np.zeros(s.shape, s.dtype) if s is not None else None for s in ctx.outputs]
        scratch = [np.zeros(shape, dt) for shape, dt in ctx.scratch_specs]
        if kernel.bind is not None:
            kernel.bind(data, ins, outs, scratch)
        kernel.eval(data, ins, outs, scratch)
        for s, arr in zip(ctx.outputs, outs):
            if s is not None:
                arr.flags.writeable = False
                self.values[s.index] = arr
                self.persistent_bytes += arr.nbytes

    def arena_tensors(self):
        """Tensors that need arena memory: written or read during invoke, not constant."""
        sg = self.subgraph
        used = set(sg.inputs) | set(sg.outputs)
        for step in self.steps:
            used.update(i for i in step.op.inputs if i >= 0)
            used.update(i for i in step.op.outputs if i >= 0)
        return sorted(i for i in used if self.values[i] is None and i not in self.variables)

    def _plan(self):
        sg = self.subgraph
        last_step = max(len(self.steps) - 1, 0)
        first, last = {}, {}
        for s, step in enumerate(self.steps):
            for i in step.op.inputs:
                if i >= 0:
                    first.setdefault(i, s)
                    last[i] = s
            for i in step.op.outputs:
                if i >= 0:
                    first.setdefault(i, s)
                    last[i] = max(last.get(i, s), s)
        whole = set(sg.inputs) | set(sg.outputs)
        if self.options.preserve_all_tensors:
            whole.update(first)
        blocks = []
        for i in self.arena_tensors():
            t = self.subgraph.tensors[i]
            if t.dtype is None:
                raise PrepareError(f"subgraph {sg.index} tensor {i} ({t.name!r}) has type "
                                   f"{t.type}, which litert cannot hold in memory")
            size = int(np.prod(self.shapes[i], dtype=np.int64)) * np.dtype(t.dtype).itemsize
            lo, hi = (0, last_step) if i in whole else (first.get(i, 0), last.get(i, 0))
            blocks.append(Block(("tensor", i), size, lo, hi))
        for s, step in enumerate(self.steps):
            for k, (shape, dt) in enumerate(step.ctx.scratch_specs):
                size = int(np.prod(shape, dtype=np.int64)) * dt.itemsize
                blocks.append(Block(("scratch", s, k), size, s, s))
            for k, child in enumerate(step.subgraphs):
                blocks.append(Block(("subgraph", s, k), child.arena_bytes, s, s))
                self.persistent_bytes += child.persistent_bytes
        self.arena_bytes = plan_arena(blocks, (0, last_step))
        self.blocks = blocks

    def lower_bound(self):
        """The planner's lower bound for this subgraph (nested subgraphs counted as planned)."""
        return lower_bound(self.blocks)

    # -- bind and run -------------------------------------------------------------------
    def bind(self, arena, base):
        """Make every view into `arena` (a uint8 array), this subgraph starting at `base`."""
        self.base = base
        n = len(self.subgraph.tensors)
        self.views = [None] * n
        self.offsets = [None] * n
        for i, v in enumerate(self.values):
            if v is not None:
                self.views[i] = v
        for i, arr in self.variables.items():
            self.views[i] = arr
        scratch = {}
        for b in self.blocks:
            kind = b.key[0]
            if kind == "tensor":
                i = b.key[1]
                dt = np.dtype(self.subgraph.tensors[i].dtype)
                start = base + b.offset
                self.views[i] = arena[start:start + b.size].view(dt).reshape(self.shapes[i])
                self.offsets[i] = b.offset
            elif kind == "scratch":
                _, s, k = b.key
                shape, dt = self.steps[s].ctx.scratch_specs[k]
                start = base + b.offset
                scratch[(s, k)] = arena[start:start + b.size].view(dt).reshape(shape)
            else:
                _, s, k = b.key
                self.steps[s].subgraphs[k].bind(arena, base + b.offset)
        for s, step in enumerate(self.steps):
            step.ins = [self.views[i] if i >= 0 else None for i in step.op.inputs]
            step.outs = [self.views[i] if i >= 0 else None for i in step.op.outputs]
            step.scratch = [scratch[(s, k)] for k in range(len(step.ctx.scratch_specs))]
            if step.kernel.bind is not None:
                step.kernel.bind(step.data, step.ins, step.outs, step.scratch)

    def reset_variables(self):
        for i, arr in self.variables.items():
            init = self.subgraph.tensors[i].data
            if init is not None:
                arr[...] = init
            else:
                arr.fill(_reset_value(self.subgraph.tensors[i]))
        for step in self.steps:
            for child in step.subgraphs:
                child.reset_variables()

    def invoke(self, profile=None):
        self.profile = profile
        if profile is None:
            for step in self.steps:
                step.kernel.eval(step.data, step.ins, step.outs, step.scratch)
            return
        clock = time.perf_counter_ns
        for step in self.steps:
            t0 = clock()
            step.kernel.eval(step.data, step.ins, step.outs, step.scratch)
            profile.append((self.subgraph.index, step.op.index, step.name, clock() - t0))

    def find(self, subgraph_index):
        """This runtime or a nested one running subgraph `subgraph_index` (first found)."""
        if self.subgraph.index == subgraph_index:
            return self
        for step in self.steps:
            for child in step.subgraphs:
                found = child.find(subgraph_index)
                if found is not None:
                    return found
        return None
