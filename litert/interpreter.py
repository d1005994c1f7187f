"""Interpreter: the drop-in for ai_edge_litert.interpreter.Interpreter.

Data flow: model.load_model (validated, constants as mmap views) -> one SubgraphRuntime per entry
subgraph (subgraph 0 and each signature's), prepared and planned -> all of them placed in ONE
64-byte aligned arena -> invoke runs the execution plan.
"""
import enum
import sys

import numpy as np

from .dtypes import type_name
from .errors import ArenaTooSmallError, PrepareError, StateError, TensorError, UnsupportedOpError
from .model import load_model
from .planner import ALIGNMENT, align
from .registry import lookup
from .runtime import RuntimeOptions, SubgraphRuntime


class OpResolverType(enum.Enum):
    """Accepted for compatibility; litert has one set of kernels (bit-exact with BUILTIN_REF)."""
    AUTO = 0
    BUILTIN = 1
    BUILTIN_REF = 2
    BUILTIN_WITHOUT_DEFAULT_DELEGATES = 3


_NOT_READY = "Invoke called on model that is not ready."


class Interpreter:
    """Runs a .tflite model. Same constructor and methods as the official Python Interpreter,
    plus `arena_size=` (a cap in bytes on arena + persistent memory) and inspection helpers
    (arena_used_bytes, arena_lower_bound, arena_plan, persistent_bytes, profile)."""

    def __init__(self, model_path=None, model_content=None, experimental_delegates=None,
                 num_threads=None, experimental_op_resolver_type=OpResolverType.AUTO,
                 experimental_preserve_all_tensors=False,
                 experimental_disable_delegate_clustering=False,
                 experimental_default_delegate_latest_features=False,
                 experimental_compress_quantization_zero_points=False,
                 experimental_disable_delegate_node_fusion=False,
                 experimental_force_delegate_node_profiling=False,
                 arena_size=None):
        if getattr(experimental_op_resolver_type, "name", None) not in OpResolverType.__members__:
            raise ValueError(f"Unrecognized passed in op resolver type: {experimental_op_resolver_type}")
        if num_threads is not None:
            if not isinstance(num_threads, int):
                raise ValueError("type of num_threads should be int")
            if num_threads < 1:
                raise ValueError("num_threads should >= 1")
        if arena_size is not None and (not isinstance(arena_size, int) or arena_size < 0):
            raise ValueError("arena_size must be a non-negative number of bytes")
        if model_path and not model_content:
            self._model = load_model(model_path=model_path)
        elif model_content and not model_path:
            self._model = load_model(model_content=model_content)
        elif not model_content and not model_path:
            raise ValueError("`model_path` or `model_content` must be specified.")
        else:
            raise ValueError("Can't both provide `model_path` and `model_content`")
        self._check_ops_supported()
        self._options = RuntimeOptions(num_threads or 1, bool(experimental_preserve_all_tensors))
        self._arena_cap = arena_size
        entries = [0] + sorted({s.subgraph_index for s in self._model.signatures.values()} - {0})
        self._runtimes = {g: SubgraphRuntime(self._model, g, self._options) for g in entries}
        self._arena = None
        self._user_root = None
        self._ready = False
        self._profile = None
        self._delegates = list(experimental_delegates or [])
        for delegate in self._delegates:
            apply = getattr(delegate, "apply", None)
            if apply is None:
                raise ValueError(f"{delegate!r} is not a litert delegate (it has no apply(interpreter))")
        self._signature_defs = self.get_signature_list()

    # -- model checks --------------------------------------------------------------------
    def _check_ops_supported(self):
        missing = {}
        for sg in self._model.subgraphs:
            for op in sg.operators:
                if lookup(op) is None:
                    kind = "custom op" if op.code == 32 else "op"
                    missing.setdefault(f"{kind} {op.name}", []).append(f"subgraph {sg.index} op {op.index}")
        if missing:
            lines = [f"  {name} (at {', '.join(w[:3])}{', ...' if len(w) > 3 else ''})"
                     for name, w in sorted(missing.items())]
            raise UnsupportedOpError("litert has no kernel for these operators in the model:\n"
                                     + "\n".join(lines), ops=sorted(missing))

    # -- allocation ----------------------------------------------------------------------
    def _safe_to_run(self):
        return self._user_root is None or sys.getrefcount(self._user_root) == 2

    def _ensure_safe(self):
        if not self._safe_to_run():
            raise StateError("There is at least 1 reference to internal data in the interpreter in the "
                             "form of a numpy array or slice. Be sure to only hold the function returned "
                             "from tensor() if you are using raw data access.")

    def allocate_tensors(self):
        self._ensure_safe()
        if self._ready:
            return
        saved = self._save_state()
        for rt in self._runtimes.values():
            rt.prepare()
        bases, total = {}, 0
        for g, rt in self._runtimes.items():
            bases[g] = total
            total += align(rt.arena_bytes)
        persistent = sum(rt.persistent_bytes for rt in self._runtimes.values())
        if self._arena_cap is not None and total + persistent > self._arena_cap:
            raise ArenaTooSmallError(
                f"the model needs {total:,} bytes of arena plus {persistent:,} bytes of persistent memory "
                f"({total + persistent:,} in all); arena_size caps it at {self._arena_cap:,}")
        try:
            raw = np.zeros(total + ALIGNMENT, np.uint8)
        except (MemoryError, ValueError) as e:
            raise PrepareError(f"cannot allocate an arena of {total:,} bytes: {e}") from e
        start = (-raw.ctypes.data) % ALIGNMENT
        self._arena = raw[start:start + total]
        self._user_root = np.frombuffer(memoryview(self._arena), np.uint8)
        for g, rt in self._runtimes.items():
            rt.bind(self._arena, bases[g])
        self._restore_state(saved)
        for delegate in self._delegates:
            delegate.apply(self)
        self._ready = True

    def _save_state(self):
        # variables survive a re-plan (resize) as in TFLite
        return {g: {i: a.copy() for i, a in rt.variables.items()}
                for g, rt in self._runtimes.items() if rt.prepared}

    def _restore_state(self, saved):
        for g, vs in saved.items():
            rt = self._runtimes[g]
            for i, a in vs.items():
                if i in rt.variables and rt.variables[i].shape == a.shape:
                    rt.variables[i][...] = a

    def arena_used_bytes(self):
        """Bytes of the one arena (activations, outputs, scratch) after allocate_tensors()."""
        self._require_ready("arena_used_bytes")
        return int(self._arena.nbytes)

    def persistent_bytes(self):
        """Bytes kept beside the arena: folded constants, repacked weights, variable tensors."""
        self._require_ready("persistent_bytes")
        return int(sum(rt.persistent_bytes for rt in self._runtimes.values()))

    def arena_lower_bound(self):
        """Sum over entry subgraphs of the most bytes alive at any one step: no plan does better."""
        self._require_ready("arena_lower_bound")
        return int(sum(rt.lower_bound() for rt in self._runtimes.values()))

    def arena_plan(self):
        """Every planned block: tensors, scratch and called subgraphs, with offsets into the arena."""
        self._require_ready("arena_plan")
        rows = []

        def walk(rt, base):
            for b in rt.blocks:
                kind = b.key[0]
                row = {"subgraph": rt.subgraph.index, "kind": kind, "offset": base + b.offset, "size": b.size,
                       "first_step": b.first, "last_step": b.last}
                if kind == "tensor":
                    t = rt.subgraph.tensors[b.key[1]]
                    row.update(tensor=t.index, name=t.name, dtype=type_name(t.type),
                               shape=list(rt.shapes[t.index]))
                else:
                    step = rt.steps[b.key[1]]
                    row.update(op=step.op.index, name=f"{step.name} {kind} {b.key[2]}")
                rows.append(row)
                if kind == "subgraph":
                    walk(step.subgraphs[b.key[2]], base + b.offset)

        for g, rt in self._runtimes.items():
            walk(rt, rt.base)
        return rows

    def _require_ready(self, what):
        if not self._ready:
            raise StateError(f"{what}() needs allocate_tensors() first")

    # -- running -------------------------------------------------------------------------
    def invoke(self):
        self._ensure_safe()
        if not self._ready:
            raise StateError(_NOT_READY)
        self._run(self._runtimes[0])

    def _run(self, rt):
        rt.invoke(self._profile)

    def reset_all_variables(self):
        for rt in self._runtimes.values():
            if rt.prepared:
                rt.reset_variables()

    def enable_profiling(self, on=True):
        """Record (subgraph, op index, op name, nanoseconds) per executed op in profile()."""
        self._profile = [] if on else None

    def profile(self):
        return list(self._profile or [])

    # -- tensors -------------------------------------------------------------------------
    def _runtime(self, subgraph_index):
        n = len(self._model.subgraphs)
        if not isinstance(subgraph_index, (int, np.integer)) or not 0 <= subgraph_index < n:
            raise ValueError(f"subgraph_index is out of range: {subgraph_index} for the model, "
                             f"which has {n} subgraphs.")
        rt = None
        for entry in self._runtimes.values():
            rt = entry.find(int(subgraph_index))
            if rt is not None:
                return rt
        return SubgraphRuntime(self._model, int(subgraph_index), self._options)

    def _check_index(self, rt, tensor_index):
        n = len(rt.subgraph.tensors)
        if not isinstance(tensor_index, (int, np.integer)) or not 0 <= tensor_index < n:
            raise TensorError(f"Invalid tensor index {tensor_index} exceeds max tensor index {n - 1}")
        return int(tensor_index)

    def _tensor_details(self, rt, i):
        t = rt.subgraph.tensors[i]
        q = t.quantization
        if q is not None:
            scales = q.scales.astype(np.float32)
            zps = q.zero_points.astype(np.int32)
            qdim, block = q.quantized_dimension, q.block_size
        else:
            scales, zps, qdim, block = np.zeros(0, np.float32), np.zeros(0, np.int32), 0, 0
        quant = (float(scales[0]), int(zps[0])) if scales.size == 1 else (0.0, 0)
        return {
            "name": t.name,
            "index": i,
            "shape": np.array(rt.shapes[i], np.int32),
            "shape_signature": np.array(t.shape_signature, np.int32),
            "dtype": t.dtype if t.dtype is not None else np.object_,
            "quantization": quant,
            "quantization_parameters": {"scales": scales, "zero_points": zps,
                                        "quantized_dimension": int(qdim), "block_size": int(block)},
            "sparsity_parameters": _sparsity_details(t.sparsity),
        }

    def get_input_details(self):
        rt = self._runtimes[0]
        return [self._tensor_details(rt, i) for i in rt.subgraph.inputs]

    def get_output_details(self):
        rt = self._runtimes[0]
        return [self._tensor_details(rt, i) for i in rt.subgraph.outputs]

    def get_tensor_details(self, subgraph_index=0):
        rt = self._runtime(subgraph_index)
        return [self._tensor_details(rt, i) for i in range(len(rt.subgraph.tensors))]

    def _get_tensor_details(self, tensor_index, subgraph_index):
        rt = self._runtime(subgraph_index)
        return self._tensor_details(rt, self._check_index(rt, tensor_index))

    def num_subgraphs(self):
        return len(self._model.subgraphs)

    def _view(self, rt, i, what):
        if not self._ready:
            raise StateError(f"{what}: call allocate_tensors() first")
        v = rt.views[i]
        if v is None:
            t = rt.subgraph.tensors[i]
            raise TensorError(f"tensor {i} ({t.name!r}) holds no data: nothing reads or writes it")
        return v

    def set_tensor(self, tensor_index, value, subgraph_index=0):
        rt = self._runtime(subgraph_index)
        i = self._check_index(rt, tensor_index)
        view = self._view(rt, i, "set_tensor")
        t = rt.subgraph.tensors[i]
        value = np.asarray(value)
        where = f"for input {i}, name: {t.name} "
        if value.dtype != np.dtype(t.dtype):
            raise TensorError(f"Cannot set tensor: Got value of type {_type_label(value.dtype)} but expected "
                              f"type {type_name(t.type)} {where}")
        if value.ndim != view.ndim:
            raise TensorError(f"Cannot set tensor: Dimension mismatch. Got {value.ndim} but expected "
                              f"{view.ndim} dimensions {where}")
        for d, (got, want) in enumerate(zip(value.shape, view.shape)):
            if got != want:
                raise TensorError(f"Cannot set tensor: Dimension mismatch. Got {got} but expected {want} "
                                  f"for dimension {d} of input {i}.")
        if not view.flags.writeable:
            raise TensorError(f"Cannot set tensor: tensor {i} ({t.name!r}) is a constant of the model")
        np.copyto(view, value)

    def get_tensor(self, tensor_index, subgraph_index=0):
        rt = self._runtime(subgraph_index)
        i = self._check_index(rt, tensor_index)
        return np.array(self._view(rt, i, "get_tensor"))

    def tensor(self, tensor_index):
        """A function returning a zero-copy numpy view of the tensor's memory. invoke() and
        allocate_tensors() refuse to run while such views are alive."""
        rt = self._runtimes[0]
        i = self._check_index(rt, tensor_index)

        def view():
            v = self._view(rt, i, "tensor")
            off = rt.offsets[i]
            if off is None:          # constants and variables live outside the arena
                return v
            start = rt.base + off
            return self._user_root[start:start + v.nbytes].view(v.dtype).reshape(v.shape)
        return view

    def resize_tensor_input(self, input_index, tensor_size, strict=False, subgraph_index=0):
        self._ensure_safe()
        rt = self._runtimes.get(subgraph_index) or self._runtime(subgraph_index)
        i = self._check_index(rt, input_index)
        if i not in rt.subgraph.inputs:
            raise TensorError(f"tensor {i} is not an input of subgraph {subgraph_index}")
        shape = tuple(int(d) for d in np.asarray(tensor_size, np.int64).reshape(-1))
        t = rt.subgraph.tensors[i]
        if any(d < 0 for d in shape):
            raise TensorError(f"resize_tensor_input: negative dimension in {list(shape)}")
        if strict:
            sig = t.shape_signature
            if len(sig) != len(shape) or any(s != -1 and s != d for s, d in zip(sig, shape)):
                raise TensorError(f"Attempting to resize tensor {i} to {list(shape)}; strict resizing only "
                                  f"allows changing dimensions that are -1 in {list(sig)}.")
        if rt.shapes[i] != shape:
            rt.input_shapes[i] = shape
            rt.shapes[i] = shape
            self._ready = False

    # -- signatures ----------------------------------------------------------------------
    def get_signature_list(self):
        return {k: {"inputs": list(s.inputs), "outputs": list(s.outputs)}
                for k, s in self._model.signatures.items()}

    def _get_full_signature_list(self):
        return {k: {"inputs": dict(s.inputs), "outputs": dict(s.outputs)}
                for k, s in self._model.signatures.items()}

    def get_signature_runner(self, signature_key=None):
        if signature_key is None:
            if len(self._signature_defs) != 1:
                raise ValueError(
                    f"SignatureDef signature_key is None and model has {len(self._signature_defs)} Signatures. "
                    "None is only allowed when the model has 1 SignatureDef")
            signature_key = next(iter(self._signature_defs))
        return SignatureRunner(self, signature_key)

    # -- introspection -------------------------------------------------------------------
    @property
    def model(self):
        return self._model

    def _get_ops_details(self):
        rt = self._runtimes[0]
        out = []
        for op in rt.subgraph.operators:
            out.append({"index": op.index, "op_name": op.name,
                        "inputs": np.array(op.inputs, np.int32), "outputs": np.array(op.outputs, np.int32),
                        "operand_types": [rt.subgraph.tensors[i].dtype for i in op.inputs if i >= 0],
                        "result_types": [rt.subgraph.tensors[i].dtype for i in op.outputs if i >= 0]})
        return out

    def execution_plan(self, subgraph_index=0):
        """The Steps invoke() runs, in order (delegates may have replaced some)."""
        return self._runtimes[subgraph_index].steps


class SignatureRunner:
    """Callable for one SignatureDef: runner(**inputs) -> {output name: array}."""

    def __init__(self, interpreter=None, signature_key=None):
        if not interpreter:
            raise ValueError("None interpreter provided.")
        if not signature_key:
            raise ValueError("None signature_key provided.")
        sigs = interpreter._model.signatures
        if signature_key not in sigs:
            raise ValueError(f'Invalid signature_key provided: "{signature_key}".')
        self._interpreter = interpreter
        self._signature = sigs[signature_key]
        self._subgraph_index = self._signature.subgraph_index
        self._inputs = self._signature.inputs
        self._outputs = self._signature.outputs

    def __call__(self, **kwargs):
        it = self._interpreter
        if len(kwargs) != len(self._inputs):
            raise ValueError("Invalid number of inputs provided for running a SignatureDef, "
                             f"expected {len(self._inputs)} vs provided {len(kwargs)}")
        for name, value in kwargs.items():
            if name not in self._inputs:
                raise ValueError(f"Invalid Input name ({name}) for SignatureDef")
            it.resize_tensor_input(self._inputs[name], np.shape(value), subgraph_index=self._subgraph_index)
        it.allocate_tensors()
        for name, value in kwargs.items():
            it.set_tensor(self._inputs[name], value, subgraph_index=self._subgraph_index)
        it._ensure_safe()
        it._run(it._runtimes[self._subgraph_index])
        return {name: it.get_tensor(i, self._subgraph_index) for name, i in self._outputs.items()}

    def get_input_details(self):
        it = self._interpreter
        return {n: it._get_tensor_details(i, self._subgraph_index) for n, i in self._inputs.items()}

    def get_output_details(self):
        it = self._interpreter
        return {n: it._get_tensor_details(i, self._subgraph_index) for n, i in self._outputs.items()}


def _type_label(dtype):
    from .dtypes import TYPE_CODE
    code = TYPE_CODE.get(np.dtype(dtype))
    return type_name(code) if code is not None else str(dtype)


def _sparsity_details(sp):
    if sp is None:
        return {}
    dims = []
    for d in sp.dimMetadata or []:
        if d.format == 0:
            dims.append({"format": 0, "dense_size": int(d.denseSize)})
        else:
            seg = getattr(d.arraySegments, "values", None)
            idx = getattr(d.arrayIndices, "values", None)
            dims.append({"format": 1, "array_segments": np.asarray(seg if seg is not None else [], np.int32),
                         "array_indices": np.asarray(idx if idx is not None else [], np.int32)})
    return {"traversal_order": np.asarray(sp.traversalOrder if sp.traversalOrder is not None else [], np.int32),
            "block_map": np.asarray(sp.blockMap if sp.blockMap is not None else [], np.int32),
            "dim_metadata": dims}
