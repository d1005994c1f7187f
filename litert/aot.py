"""Ahead-of-time compilation of litert's kernel cores for aarch64 (Raspberry Pi 4): objects that
need no numba, no LLVM and no Python on the device.

Build machinery: the runtime never imports this module. tests/test_aot.py uses it to prove that
every kernel core compiles; targets/ reuses it to cross-compile a bundle.

What is compiled
----------------
A *core* is a function made with litert.kernels.common.jit that Python code calls (a kernel's
eval or prepare names it, or keeps it in a table). A jitted function named only inside other
jitted functions is a *helper*; with inline="always" it is *inline*. Helpers and inline functions
end up inside their callers' objects. Cores live at module level in litert.kernels.*, or are
closures made inside a module-level function (a factory such as compare.compare_kernel(op,
a_runs, b_runs)): the worker rebuilds such a closure from its code object, found inside that
function, and the values it captured (constants, or other jitted functions rebuilt the same way).
The argument types come from running models in this process (exercise), then reading what numba
compiled (collect). The contract: C-contiguous arrays and scalars (tuples of scalars too); any
other argument ('A'/'F' layout view, None, record, array in a tuple) is a failure naming the core
and the argument.

For each (core, signature) a numba cfunc wrapper is generated (wrapper_source): an array of ndim
n becomes a pointer and n int64 extents, rebuilt with numba.carray; a tuple becomes its items;
scalars pass through; the wrapper returns the core's scalar result or nothing. Its C name is
stable and readable, e.g. litert_binary_binary_float__i64_f32x6_f32x6_f32x6_f32_f32
(CoreSpec.symbol; CoreSpec.c_prototype() gives the C declaration).

How an object is made (the recipe of /work/shared/NOTES.md, "Ahead-of-time kernels for aarch64")
-------------------------------------------------------------------------------------------------
numba.pycc only targets the host, and numba's optimized IR was optimized for the host CPU (x86
intrinsics the aarch64 backend cannot select). So:
1. Unoptimized IR. numba 0.68 optimizes each module as it enters a library
   (CPUCodeLibrary.add_llvm_module -> _optimize_functions) and the linked module at finalize,
   with pass builders at level numba.config.OPT. With NUMBA_OPT=0 both are O0, and
   cfunc.inspect_llvm() (the library's final module: wrapper, core and callees linked in) is
   the unoptimized IR. OPT is read when numba is imported, and the kernels' overloads in a
   normal process are optimized already, so this runs in fresh worker processes
   (`python -m litert.aot --worker`) with NUMBA_OPT=0, an empty NUMBA_CACHE_DIR (a cached
   overload carries host machine code, no IR) and caching switched off. Workers also set
   NUMBA_CPU_NAME=generic, NUMBA_CPU_FEATURES="" so a module that derives constants from numba's
   target features (gemm.NR) sees a baseline CPU, not this host's AVX-512.
2. NRT_incref/NRT_decref bodies become empty (prepare_ir). numba marks them noinline; on carray
   views they get a NULL meminfo and do nothing, but a call that is not inlined survives O3 and
   drags NRT_MemInfo_call_dtor in. Refcounts mean nothing for caller-owned memory; a core that
   allocates still references NRT_MemInfo_alloc* and fails.
3. The wrapper gets its stable name and is the only external symbol; every other defined
   function and global becomes internal. Triple aarch64-unknown-linux-gnu, the data layout of an
   llvmlite target machine for it (cpu cortex-a72, +neon, PIC).
4. llvmlite's new pass builder at O3 (loop and SLP vectorizers on) for that target machine,
   then interprocedural constant propagation once more (numba's wrapper often keeps testing the
   status of a core O3 inlined only late): together they delete the never-taken error path into
   Python that numba's raw IR always carries.
5. emit_object; read the ELF symbol table (elf_symbols, no binutils needed). Undefined symbols
   must be libm-style math functions or memcpy/memset/memmove (ALLOWED_UNDEFINED): NRT_*,
   numba_*, Py*, _Py*, libgcc helpers fail, as does a surviving global holding a host address
   (numba.dynamic.globals*, NumbaEnv*) or any exported symbol besides the wrapper. On failure
   the raise sites left in the code are read back from numba's pickled exception constants.
Linking (aarch64-linux-gnu-ld -shared, see link_shared) and qemu runs belong to targets/.

Command line: python -m litert.aot [--models DIR_OR_FILE ...] [--out DIR] [--jobs N]
[--pytest TEST_ARGS ...] runs the models (and tests), compiles every core signature they used,
prints the report and, with --out, writes the passing <symbol>.o files, litert_cores.h and
cores.json. The objects link with `aarch64-linux-gnu-ld -shared -o libcores.so *.o`.
"""
import argparse
import dataclasses
import gc
import hashlib
import importlib
import json
import os
import pickle
import pickletools
import pkgutil
import re
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import types as pytypes
from pathlib import Path

import numpy as np

TRIPLE = "aarch64-unknown-linux-gnu"
CPU = "cortex-a72"          # Raspberry Pi 4
FEATURES = "+neon"
EM_AARCH64 = 183

_LIBM = ("acos acosh asin asinh atan atan2 atanh cbrt ceil copysign cos cosh erf erfc exp exp2 "
         "expm1 fabs fdim floor fma fmax fmin fmod frexp hypot ldexp lgamma llrint llround log "
         "log10 log1p log2 logb lrint lround modf nearbyint nextafter pow remainder rint round "
         "scalbn sin sincos sinh sqrt tan tanh tgamma trunc").split()
ALLOWED_UNDEFINED = frozenset([f for n in _LIBM for f in (n, n + "f")] + ["memcpy", "memset", "memmove"])
HOST_POINTER_GLOBALS = ("numba.dynamic.globals", "_ZN08NumbaEnv")
_CTYPES = {"float32": "float", "float64": "double", "float16": "_Float16", "bool": "bool",
           "int8": "int8_t", "int16": "int16_t", "int32": "int32_t", "int64": "int64_t",
           "uint8": "uint8_t", "uint16": "uint16_t", "uint32": "uint32_t", "uint64": "uint64_t"}


class Unsupported(Exception):
    """A core or signature outside the AOT contract."""


# -- what is compiled ------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Arg:
    """One argument: kind 'array' (dtype, ndim), 'scalar' (dtype) or 'tuple' (items)."""
    kind: str
    dtype: str = ""
    ndim: int = 0
    items: tuple = ()

    @property
    def code(self):
        """In symbol names: f32, i64, f32x6 (6-D array), t17i64 (17 int64s), T...E (mixed)."""
        if self.kind == "scalar":
            return "b" if self.dtype == "bool" else self.dtype[0] + re.sub("[a-z]", "", self.dtype)
        if self.kind == "array":
            return f"{Arg('scalar', self.dtype).code}x{self.ndim}"
        codes = [a.code for a in self.items]
        return f"t{len(codes)}{codes[0]}" if len(set(codes)) == 1 else "T" + "".join(codes) + "E"

    def c_params(self, name):
        """(C type, name) of the parameters this argument becomes."""
        if self.kind == "scalar":
            return [(_CTYPES[self.dtype], name)]
        if self.kind == "array":
            extents = [("int64_t", f"{name}__{d}") for d in range(self.ndim)]
            return [(_CTYPES[self.dtype] + " *", name)] + extents
        return [p for k, a in enumerate(self.items) for p in a.c_params(f"{name}__{k}")]

    def __str__(self):
        if self.kind == "scalar":
            return self.dtype
        if self.kind == "array":
            return f"{self.dtype}[{self.ndim}-D]"
        return "(" + ", ".join(str(a) for a in self.items) + ")"


@dataclasses.dataclass(frozen=True, eq=False)
class Closure:
    """A jitted function made inside module-level function `outer`: where its code is (name,
    first line relative to outer's) and what it captured, ((free variable, value), ...); a value
    that is a jitted function is a Closure or Global itself."""
    outer: str
    name: str
    line: int
    captured: tuple
    options: dict       # the dispatcher's targetoptions
    defaults: tuple = None
    ambiguous: bool = False     # outer holds several functions of this name: the line goes in symbols

    def __str__(self):
        values = ", ".join(f"{k}={v}" for k, v in self.captured)
        return f"{self.outer}.<{self.name}{'@' + str(self.line) if self.ambiguous else ''}>[{values}]"

    def constants(self):
        """The constant values captured, those of captured closures included."""
        return [x for _, v in self.captured if not isinstance(v, Global)
                for x in (v.constants() if isinstance(v, Closure) else [v])]

    @property
    def code(self):
        """In symbol names: outer, the constants captured, name (and line)."""
        parts = [self.outer.replace(".", "_")] + [_value_code(v) for v in self.constants()]
        return "_".join(parts + [self.name] + ([f"L{self.line}"] if self.ambiguous else []))


@dataclasses.dataclass(frozen=True)
class Global:
    """A module-level jitted function a closure captured."""
    module: str
    name: str

    def __str__(self):
        return f"{self.module}.{self.name}"


@dataclasses.dataclass(frozen=True, eq=False)
class CoreSpec:
    """Core `name` of `module` (a module attribute, or the `closure` made in that module) and one
    argument signature to compile it for."""
    module: str
    name: str
    args: tuple
    ret: Arg = None             # a scalar, or None: the core returns nothing
    closure: Closure = None

    @property
    def kernel(self):
        return f"{self.module}.{self.closure or self.name}"

    @property
    def symbol(self):
        mod = self.module.removeprefix("litert.kernels.").replace(".", "_")
        made = self.closure.code if self.closure else self.name
        codes = "_".join(a.code for a in self.args) or "void"
        codes += f"__r{self.ret.code}" if self.ret is not None else ""
        if len(made) + len(codes) > 140:
            codes = "h" + hashlib.sha1((made + codes).encode()).hexdigest()[:12]
            made = f"{self.closure.outer.replace('.', '_')}_{self.name}" if self.closure else self.name
        return f"litert_{mod}_{made}__{codes}"

    @property
    def signature_text(self):
        return "(" + ", ".join(map(str, self.args)) + ")" + (f" -> {self.ret}" if self.ret else "")

    def c_prototype(self, names=None):
        names = names or [f"a{k}" for k in range(len(self.args))]
        params = [p for a, n in zip(self.args, names) for p in a.c_params(n)]
        text = ", ".join(t + n if t.endswith("*") else f"{t} {n}" for t, n in params) or "void"
        return f"{_CTYPES[self.ret.dtype] if self.ret else 'void'} {self.symbol}({text});"


def _value_code(v):
    """A captured constant in a symbol name: -1.5 -> m1p5, True -> True, (1, 2) -> 1_2."""
    if isinstance(v, (bool, int, float, str, np.generic, tuple)) and len(repr(v)) <= 24:
        return re.sub(r"\W", "", repr(v).replace("-", "m").replace(".", "p").replace(", ", "_"))
    return "h" + hashlib.sha1(pickle.dumps(v)).hexdigest()[:8]


def describe_type(t, what):
    """The Arg for numba type `t` (named `what` in messages), or Unsupported."""
    from numba.core import types
    from numba.np.numpy_support import as_dtype
    t = types.unliteral(t)
    if isinstance(t, types.Array):
        if t.layout != "C":
            raise Unsupported(f"{what} is a {'non-contiguous' if t.layout == 'A' else 'Fortran-order'} "
                              f"array ({t}); cores take C-contiguous arrays (pass a contiguous view, or "
                              "copy into scratch first)")
        if t.ndim == 0:
            raise Unsupported(f"{what} is a 0-D array ({t}); pass it reshaped to (1,)")
        return Arg("array", _dtype_name(t.dtype, what, as_dtype), t.ndim)
    if isinstance(t, (types.Integer, types.Float, types.Boolean)):
        return Arg("scalar", _dtype_name(t, what, as_dtype))
    if isinstance(t, types.BaseTuple) and not isinstance(t, types.BaseNamedTuple) and len(t):
        items = tuple(describe_type(x, f"{what} item {k}") for k, x in enumerate(t.types))
        if all(a.kind == "scalar" for a in items):
            return Arg("tuple", items=items)
    raise Unsupported(f"{what} is {t}; cores take C-contiguous arrays, scalars and tuples of scalars")


def _dtype_name(t, what, as_dtype):
    try:
        name = np.dtype(as_dtype(t)).name
    except Exception:
        name = None
    if name not in _CTYPES:
        raise Unsupported(f"{what} has element type {t}, which has no C type here")
    return name


# -- finding cores and their signatures -------------------------------------------------------
@dataclasses.dataclass
class Jitted:
    """A jitted function of the kernel modules and its role: core, helper or inline."""
    module: str
    name: str
    dispatcher: object
    closure: Closure = None
    role: str = "core"
    problem: str = None     # why it cannot be rebuilt in a worker

    @property
    def kernel(self):
        return CoreSpec(self.module, self.name, (), None, self.closure).kernel


def _is_dispatcher(obj):
    from numba.core.registry import CPUDispatcher
    try:
        return isinstance(obj, CPUDispatcher)
    except ReferenceError:     # a weakref.proxy whose object is gone (gc.get_objects() finds them)
        return False


def kernel_modules(package="litert.kernels"):
    pkg = importlib.import_module(package)
    return [importlib.import_module(f"{package}.{m.name}") for m in pkgutil.iter_modules(pkg.__path__)]


def kernel_dispatchers(modules=None):
    """Every jitted function of `modules` (default: litert.kernels.*): module attributes, and
    closures made by factories so far (call after the models ran). Each with its role."""
    modules = kernel_modules() if modules is None else modules
    names = {m.__name__ for m in modules}
    found = {}
    for mod in modules:
        for name, obj in vars(mod).items():
            if (_is_dispatcher(obj) and obj.py_func.__module__ == mod.__name__
                    and "<locals>" not in obj.py_func.__qualname__):
                if id(obj) not in found or name == obj.py_func.__name__:   # one entry per alias
                    found[id(obj)] = Jitted(mod.__name__, name, obj)
    for obj in gc.get_objects():
        if _is_dispatcher(obj) and id(obj) not in found and obj.py_func.__module__ in names:
            found[id(obj)] = _closure(sys.modules[obj.py_func.__module__], obj)
    found = sorted(found.values(), key=lambda j: j.kernel)
    jit_codes = {j.dispatcher.py_func.__code__ for j in found}
    by_jit, by_python = set(), set()
    for j in found:
        by_jit |= _dispatchers_named(j.dispatcher.py_func, jit_codes)
    for mod in modules:
        for obj in vars(mod).values():
            fns = [obj] if isinstance(obj, pytypes.FunctionType) else []
            if isinstance(obj, type):
                fns += [f for f in vars(obj).values() if isinstance(f, pytypes.FunctionType)]
            if not _is_dispatcher(obj) and isinstance(getattr(obj, "__wrapped__", None), pytypes.FunctionType):
                fns.append(obj.__wrapped__)         # a factory behind functools.lru_cache
            for fn in fns:
                if fn.__module__ == mod.__name__:
                    by_python |= _dispatchers_named(fn, jit_codes)
            if isinstance(obj, (dict, list, tuple)):       # tables of kernels
                values = obj.values() if isinstance(obj, dict) else obj
                by_python |= {id(v) for v in values if _is_dispatcher(v)}
    for j in found:
        if j.dispatcher.targetoptions.get("inline", "never") == "always":
            j.role = "inline"
        elif id(j.dispatcher) in by_jit and id(j.dispatcher) not in by_python:
            j.role = "helper"
    return found


def _closure(mod, disp):
    """A Jitted for a dispatcher made inside a function (problem set when it cannot be rebuilt)."""
    j = Jitted(mod.__name__, disp.py_func.__name__, disp)
    try:
        j.closure = describe_closure(disp)
    except Unsupported as e:
        j.problem = str(e)
    return j


def describe_closure(disp):
    """The Closure that rebuilds a dispatcher made inside a module-level function."""
    fn = disp.py_func
    outer = fn.__qualname__.split(".<locals>.")[0]
    holder = _outer_function(sys.modules[fn.__module__], outer)
    if holder is None:
        raise Unsupported(f"made inside {outer}, which is not a module-level function")
    same_name = [c for c in _nested_codes(holder.__code__) if c.co_name == fn.__name__]
    captured = []
    for name, cell in zip(fn.__code__.co_freevars, fn.__closure__ or ()):
        v = cell.cell_contents
        if _is_dispatcher(v):
            inner = v.py_func
            v = (Global(inner.__module__, inner.__name__) if "<locals>" not in inner.__qualname__
                 else describe_closure(v))
        else:
            try:
                pickle.dumps(v)
            except Exception:
                raise Unsupported(f"captures {name!r}, a {type(v).__name__}, which cannot be passed "
                                  "to a worker") from None
        captured.append((name, v))
    return Closure(outer, fn.__name__, fn.__code__.co_firstlineno - holder.__code__.co_firstlineno,
                   tuple(captured), dict(disp.targetoptions), fn.__defaults__, len(same_name) > 1)


def _outer_function(mod, qualname):
    obj = mod
    for part in qualname.split("."):
        obj = getattr(obj, part, None)
    obj = getattr(obj, "__wrapped__", obj)      # functools.lru_cache
    return obj if isinstance(obj, pytypes.FunctionType) else None


def _nested_codes(code):
    out, todo = [], [code]
    while todo:
        c = todo.pop()
        nested = [k for k in c.co_consts if isinstance(k, pytypes.CodeType)]
        out += nested
        todo += nested
    return out


def _dispatchers_named(fn, jit_codes):
    """ids of the dispatchers a function names or captures, looking into the functions nested
    in it unless they are jitted (in jit_codes, or made by a function that names a jit
    decorator: a factory whose closures were not made yet)."""
    import numba
    from litert.kernels.common import jit
    decorators = (jit, numba.njit, numba.jit)
    ids = {id(c.cell_contents) for c in (fn.__closure__ or ()) if _is_dispatcher(c.cell_contents)}
    codes = [fn.__code__]
    while codes:
        code = codes.pop()
        named = [fn.__globals__.get(n) for n in code.co_names]
        ids |= {id(obj) for obj in named if _is_dispatcher(obj)}
        if not any(any(obj is d for d in decorators) for obj in named):
            codes += [c for c in code.co_consts if isinstance(c, pytypes.CodeType) and c not in jit_codes]
    return ids


def collect(jitted=None):
    """(CoreSpecs of every signature the cores were compiled for in this process, contract
    failures as [(kernel, message)], cores never compiled)."""
    from numba.core import types
    jitted = kernel_dispatchers() if jitted is None else jitted
    specs, failures, unexercised = {}, [], []
    for j in jitted:
        if j.role != "core":
            continue
        opts = j.dispatcher.targetoptions
        if opts.get("error_model") != "numpy" or opts.get("boundscheck"):
            failures.append((j.kernel, "not made with litert.kernels.common.jit (error_model="
                             f"{opts.get('error_model')!r}, boundscheck={opts.get('boundscheck')!r})"))
        overloads = list(j.dispatcher.overloads.values())
        if not overloads:
            unexercised.append(j.kernel)
        elif j.problem:
            failures.append((j.kernel, f"cannot be rebuilt for AOT: {j.problem}"))
            continue
        for cres in overloads:
            sig = cres.signature
            try:
                args = tuple(describe_type(t, f"argument {k}") for k, t in enumerate(sig.args))
                ret = sig.return_type
                ret = None if isinstance(ret, types.NoneType) else describe_type(ret, "return value")
                if ret is not None and ret.kind != "scalar":
                    raise Unsupported(f"returns {sig.return_type}; a core returns nothing or a scalar")
            except Unsupported as e:
                failures.append((j.kernel, str(e)))
                continue
            spec = CoreSpec(j.module, j.name, args, ret, j.closure)
            specs.setdefault(spec.symbol, spec)
    return sorted(specs.values(), key=lambda s: s.symbol), failures, unexercised


def exercise(models):
    """Run each model (path or bytes) in litert, so cores compile for the argument types they
    are used with. Inputs: <model>.input{i}.npy next to the file when present, else zeros; a
    model without saved inputs runs a second time with its float inputs random in [-1, 1]
    (kernels skip work on an all-zero float input, as TFLite's hybrid kernels do, which would
    leave cores unused). Returns [(model, error or None)]: a model litert cannot run yet is not
    an AOT failure."""
    from litert import Interpreter
    ran = []
    rng = np.random.default_rng(0)
    for m in models:
        is_path = isinstance(m, (str, Path))
        label = str(m) if is_path else f"<model of {len(m)} bytes>"
        try:
            it = Interpreter(model_path=str(m)) if is_path else Interpreter(model_content=bytes(m))
            it.allocate_tensors()
            details = it.get_input_details()
            paths = [Path(str(m).removesuffix(".tflite") + f".input{k}.npy") if is_path else None
                     for k in range(len(details))]
            saved = [np.load(p) if p is not None and p.exists() else None for p in paths]
            floats = [np.dtype(d["dtype"]).kind == "f" for d in details]
            runs = [False, True] if all(x is None for x in saved) and any(floats) else [False]
            for random_floats in runs:
                for d, x, is_float in zip(details, saved, floats):
                    if x is None or x.shape != tuple(d["shape"]):
                        x = np.zeros(d["shape"], d["dtype"])
                        if random_floats and is_float:
                            x = rng.uniform(-1, 1, x.shape).astype(d["dtype"])
                    it.set_tensor(d["index"], x.astype(d["dtype"], copy=False))
                it.invoke()
            ran.append((label, None))
        except Exception as e:
            first = str(e).splitlines()[0] if str(e) else ""
            ran.append((label, f"{type(e).__name__}: {first[:200]}"))
    return ran


# -- worker side: numba at O0 ----------------------------------------------------------------
def load_core(spec):
    """The dispatcher for spec in this process (a closure is rebuilt from its code and values)."""
    mod = importlib.import_module(spec.module)
    return _rebuild_closure(mod, spec.closure) if spec.closure else getattr(mod, spec.name)


def _rebuild_closure(mod, c):
    import numba
    holder = _outer_function(mod, c.outer)
    start = holder.__code__.co_firstlineno if holder else 0
    codes = [k for k in _nested_codes(holder.__code__) if k.co_name == c.name
             and k.co_firstlineno - start == c.line] if holder else []
    if len(codes) != 1 or codes[0].co_freevars != tuple(k for k, _ in c.captured):
        raise Unsupported(f"cannot find the code of {c} in {mod.__name__} (was it edited?)")
    cells = []
    for _, v in c.captured:
        if isinstance(v, Global):
            v = getattr(importlib.import_module(v.module), v.name)
        elif isinstance(v, Closure):
            v = _rebuild_closure(mod, v)
        cells.append(pytypes.CellType(v))
    fn = pytypes.FunctionType(codes[0], vars(mod), c.name, c.defaults, tuple(cells))
    return numba.njit(**{k: v for k, v in c.options.items() if k != "nopython"})(fn)


def wrapper_source(spec):
    """Source of the cfunc wrapper: flat C parameters in, the core called on carray views."""
    names = [f"a{k}" for k in range(len(spec.args))]
    params = [n for a, name in zip(spec.args, names) for _, n in a.c_params(name)]
    call = f"_aot_core({', '.join(_rebuild(a, n) for a, n in zip(spec.args, names))})"
    return f"def wrapper({', '.join(params)}):\n    {'return ' if spec.ret else ''}{call}\n"


def _rebuild(a, n):
    if a.kind == "scalar":
        return n
    if a.kind == "array":
        return f"_aot_carray({n}, ({''.join(f'{n}__{d}, ' for d in range(a.ndim))}))"
    return "(" + "".join(_rebuild(x, f"{n}__{k}") + ", " for k, x in enumerate(a.items)) + ")"


def _c_signature(spec):
    from numba import from_dtype, types

    def flat(a):
        if a.kind == "scalar":
            return [from_dtype(np.dtype(a.dtype))]
        if a.kind == "array":
            return [types.CPointer(from_dtype(np.dtype(a.dtype)))] + [types.int64] * a.ndim
        return [t for x in a.items for t in flat(x)]
    ret = from_dtype(np.dtype(spec.ret.dtype)) if spec.ret else types.void
    return ret(*[t for a in spec.args for t in flat(a)])


def unoptimized_ir(spec):
    """(LLVM IR, wrapper's name) of the cfunc wrapper around spec's core, callees linked in.
    Needs a process started with NUMBA_OPT=0 (compile_cores starts such workers)."""
    import numba
    if int(numba.config.OPT) != 0:
        raise RuntimeError("unoptimized_ir needs NUMBA_OPT=0 set before numba is imported")
    ns = {"_aot_core": load_core(spec), "_aot_carray": numba.carray}
    exec(compile(wrapper_source(spec), f"<aot wrapper {spec.symbol}>", "exec"), ns)
    cf = numba.cfunc(_c_signature(spec), error_model="numpy", boundscheck=False)(ns["wrapper"])
    return cf.inspect_llvm(), cf.native_name


# -- the LLVM pipeline (llvmlite only) -------------------------------------------------------
_tm = None


def target_machine():
    """llvmlite TargetMachine for the Raspberry Pi 4: aarch64, Cortex-A72, NEON, PIC."""
    global _tm
    if _tm is None:
        import llvmlite.binding as llvm
        llvm.initialize_all_targets()
        llvm.initialize_all_asmprinters()
        _tm = llvm.Target.from_triple(TRIPLE).create_target_machine(
            cpu=CPU, features=FEATURES, opt=3, reloc="pic", codemodel="default")
    return _tm


_NRT_REFCOUNT = re.compile(r"^(define [^\n]*@NRT_(?:incref|decref)\([^)\n]*\))[^{\n]*\{\n.*?^\}$", re.M | re.S)


def prepare_ir(ir_text):
    """numba's raw IR with empty, inlinable NRT_incref/NRT_decref (step 2)."""
    return _NRT_REFCOUNT.sub(lambda m: m.group(1) + " {\n  ret void\n}", ir_text)


@dataclasses.dataclass
class ObjectFile:
    data: bytes
    undefined: list         # undefined symbols
    exported: list          # defined global symbols
    host_globals: list      # surviving globals that hold host addresses
    raises: list = ()       # exceptions still reachable (read when the check fails)
    optimized_ir: str = None   # build_object(keep_ir=True): for looking into a failure

    @property
    def disallowed(self):
        return ([s for s in self.undefined if s not in ALLOWED_UNDEFINED]
                + [f"host-address global {g}" for g in self.host_globals])


def build_object(ir_text, export, symbol, opt=3, keep_ir=False):
    """Steps 2-5: an aarch64 ELF object whose only export is `export` renamed to `symbol`."""
    import llvmlite.binding as llvm
    tm = target_machine()
    mod = llvm.parse_assembly(prepare_ir(ir_text))
    if export not in {f.name for f in mod.functions if not f.is_declaration}:
        raise ValueError(f"the IR defines no function {export!r}")
    for f in mod.functions:
        if not f.is_declaration:
            f.linkage = "external" if f.name == export else "internal"
    mod.get_function(export).name = symbol
    for g in mod.global_variables:
        if not g.is_declaration:
            g.linkage = "internal"
    mod.triple = TRIPLE
    mod.data_layout = str(tm.target_data)
    mod.verify()
    pto = llvm.create_pipeline_tuning_options(speed_level=opt)
    pto.loop_vectorization = pto.slp_vectorization = opt >= 2
    pb = llvm.create_pass_builder(tm, pto)
    pb.getModulePassManager().run(mod, pb)
    # O3 inlines the core into numba's wrapper after interprocedural constant propagation ran:
    # run it again so the wrapper's status (always 0 now) folds and the error branch goes.
    cleanup = llvm.create_new_module_pass_manager()
    cleanup.add_ipsccp_pass()
    cleanup.add_simplify_cfg_pass()
    cleanup.add_global_dead_code_eliminate_pass()
    cleanup.run(mod, pb)
    data = tm.emit_object(mod)
    syms = elf_symbols(data)
    obj = ObjectFile(data, sorted({s.name for s in syms if not s.defined and s.name}),
                     sorted({s.name for s in syms if s.defined and s.bind in (1, 2)}),
                     [g.name for g in mod.global_variables if g.name.startswith(HOST_POINTER_GLOBALS)])
    if obj.disallowed or keep_ir:
        text = str(mod)
        obj.raises = raised_exceptions(text)
        obj.optimized_ir = text if keep_ir else None
    return obj


# LLVM prints '"', '\' and unprintable bytes of a c"..." constant as \XX
_PICKLED = re.compile(r'^@"?\.const\.pickledata\.[0-9a-f]+"? = [^\n]*c"((?:[^"\\]|\\[0-9A-Fa-f]{2})*)"', re.M)


def raised_exceptions(ir_text):
    """'ValueError: message' for each raise site left in a module, read from the pickled
    exception constants numba emits (their strings are listed, nothing is unpickled)."""
    found = []
    for m in _PICKLED.finditer(ir_text):
        data = re.sub(rb"\\([0-9A-Fa-f]{2})", lambda h: bytes([int(h.group(1), 16)]),
                      m.group(1).encode("latin-1"))
        try:
            strings = [arg for _, arg, _ in pickletools.genops(data) if isinstance(arg, str)]
        except Exception:
            continue
        text = ": ".join(strings[1:3]) if len(strings) >= 2 else " ".join(strings)  # module, class, message
        if text not in found:
            found.append(text)
    return found


_HINTS = (("NRT_MemInfo_alloc", "allocates an array in jitted code (np.empty/zeros, an array expression, "
                                 ".copy())"),
          ("NRT_Allocate", "allocates memory in jitted code"),
          ("numba_attempt_nocopy_reshape", "calls .reshape() in jitted code (reshape views in eval instead)"),
          ("numba_do_raise", "keeps a raise path LLVM cannot prove dead (an explicit raise, or a check "
                             "numba inserts, e.g. range() with a run-time step)"))


def explain(undefined, raises=()):
    """What the disallowed symbols (and the raise sites left) say about the source."""
    hints = [h for prefix, h in _HINTS if any(s.startswith(prefix) for s in undefined)]
    return hints + [f"can raise {r}" for r in raises]


@dataclasses.dataclass(frozen=True)
class Symbol:
    name: str
    bind: int       # 0 local, 1 global, 2 weak
    kind: int       # 0 none, 1 object, 2 function, 3 section, 4 file
    defined: bool


def elf_symbols(data, machine=EM_AARCH64):
    """The symbol table of a 64-bit little-endian ELF object."""
    if data[:4] != b"\x7fELF" or data[4:6] != b"\x02\x01":
        raise ValueError("not a 64-bit little-endian ELF file")
    if machine is not None and struct.unpack_from("<H", data, 0x12)[0] != machine:
        raise ValueError(f"ELF machine is {struct.unpack_from('<H', data, 0x12)[0]}, expected {machine}")
    shoff, = struct.unpack_from("<Q", data, 0x28)
    shentsize, shnum = struct.unpack_from("<HH", data, 0x3A)
    sections = [struct.unpack_from("<IIQQQQIIQQ", data, shoff + k * shentsize) for k in range(shnum)]
    out = []
    for _, sh_type, _, _, offset, size, link, _, _, entsize in sections:
        if sh_type != 2:     # SHT_SYMTAB
            continue
        strings = sections[link][4]
        for k in range(size // (entsize or 24)):
            name, info, _, shndx, _, _ = struct.unpack_from("<IBBHQQ", data, offset + k * (entsize or 24))
            text = data[strings + name:data.index(b"\0", strings + name)].decode()
            out.append(Symbol(text, info >> 4, info & 15, shndx != 0))
    return out


def link_shared(objects, output, ld=None):
    """Link objects into an aarch64 shared library (binutils-aarch64-linux-gnu's ld)."""
    ld = ld or shutil.which("aarch64-linux-gnu-ld")
    if ld is None:
        raise FileNotFoundError("aarch64-linux-gnu-ld not found (Debian: binutils-aarch64-linux-gnu)")
    subprocess.run([ld, "-shared", "-o", str(output), *map(str, objects)], check=True,
                   capture_output=True, text=True)
    return Path(output)


# -- orchestration ---------------------------------------------------------------------------
@dataclasses.dataclass
class Result:
    spec: CoreSpec
    object_size: int = 0
    undefined: list = dataclasses.field(default_factory=list)
    disallowed: list = dataclasses.field(default_factory=list)
    exported: list = dataclasses.field(default_factory=list)
    hints: list = dataclasses.field(default_factory=list)
    error: str = None
    seconds: float = 0.0

    @property
    def ok(self):
        return self.error is None and not self.disallowed and self.exported == [self.spec.symbol]

    @property
    def problem(self):
        if self.error:
            return self.error
        if self.disallowed:
            return "disallowed symbols: " + ", ".join(self.disallowed)
        return "" if self.ok else f"exports {self.exported}, expected only {self.spec.symbol}"


def compile_one(spec, out_dir=None):
    """Compile spec in this (NUMBA_OPT=0) process; errors become the Result's error. A passing
    object is written to out_dir/<symbol>.o."""
    t0 = time.perf_counter()
    try:
        ir_text, export = unoptimized_ir(spec)
        obj = build_object(ir_text, export, spec.symbol)
    except Exception as e:
        msg = re.sub(r"\n\s*\n", "\n", f"{type(e).__name__}: {e}".strip())
        return Result(spec, error=msg[:2000], seconds=time.perf_counter() - t0)
    hints = explain(obj.undefined, obj.raises) if obj.disallowed else []
    r = Result(spec, len(obj.data), obj.undefined, obj.disallowed, obj.exported, hints,
               seconds=time.perf_counter() - t0)
    if out_dir is not None and r.ok:     # a bundle gets only objects that pass
        Path(out_dir, spec.symbol + ".o").write_bytes(obj.data)
    return r


def worker_env(extra_path=()):
    env = dict(os.environ, NUMBA_OPT="0", NUMBA_CPU_NAME="generic", NUMBA_CPU_FEATURES="")
    paths = [str(Path(__file__).resolve().parent.parent), *map(str, extra_path), env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def compile_cores(specs, jobs=2, out_dir=None, extra_path=(), timeout=1800):
    """Compile every spec for aarch64 in `jobs` fresh worker processes (NUMBA_OPT=0); they take
    specs from one list in turn. Returns Results in the order of `specs`. A spec whose worker
    crashes or times out fails; the others go to new workers. extra_path: sys.path entries the
    workers need to import the specs' modules."""
    specs = list(specs)
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
    results = {}
    with tempfile.TemporaryDirectory(prefix="litert_aot_") as tmp:
        env = dict(worker_env(extra_path), NUMBA_CACHE_DIR=str(Path(tmp, "numba_cache")))
        pending, round_ = specs, 0
        while pending:
            work = Path(tmp, f"round{round_}")
            (work / "claims").mkdir(parents=True)
            (work / "jobs.pickle").write_bytes(pickle.dumps({"specs": pending, "out_dir": out_dir}))
            procs = []
            for k in range(max(1, min(jobs, len(pending)))):
                err = open(work / f"{k}.stderr", "w")
                cmd = [sys.executable, "-m", "litert.aot", "--worker", str(work), str(k)]
                procs.append((k, err, subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=err)))
            deadline = time.monotonic() + timeout
            status = {}
            for k, err, p in procs:
                try:
                    p.wait(timeout=max(deadline - time.monotonic(), 1))
                    status[str(k)] = f"exit code {p.returncode}"
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait()
                    status[str(k)] = f"timed out after {timeout} s"
                err.close()
            for k, _, _ in procs:
                path = work / f"{k}.results"
                for line in path.read_text().splitlines() if path.exists() else []:
                    r = json.loads(line)
                    spec = pending[r.pop("index")]
                    results[spec.symbol] = Result(spec, **r)
            left = []
            for i, spec in enumerate(pending):
                claim = work / "claims" / str(i)
                if spec.symbol in results:
                    continue
                if claim.exists():      # its worker died on it
                    k = claim.read_text()
                    tail = (work / f"{k}.stderr").read_text()[-1500:]
                    error = f"worker {status.get(k)} on this core; stderr:\n{tail}"
                    results[spec.symbol] = Result(spec, error=error)
                else:
                    left.append(spec)
            if len(left) == len(pending):       # no worker got going (an import failed?)
                tail = (work / "0.stderr").read_text()[-1500:]
                for spec in left:
                    results[spec.symbol] = Result(spec, error=f"no AOT worker started ({status}):\n{tail}")
                left = []
            pending, round_ = left, round_ + 1
    return [results[s.symbol] for s in specs]


def worker_main(work, k):
    """Take specs from work/jobs.pickle in turn (an exclusive claim file per spec), append one
    JSON result line per spec to work/<k>.results."""
    import warnings
    from numba.core import dispatcher
    from numba.core.errors import NumbaWarning
    warnings.simplefilter("ignore", NumbaWarning)
    # no cached overload in (it has host code, no IR), no host code written out
    dispatcher.Dispatcher.enable_caching = lambda self: None
    work = Path(work)
    jobs = pickle.loads((work / "jobs.pickle").read_bytes())
    with open(work / f"{k}.results", "a") as out:
        for i, spec in enumerate(jobs["specs"]):
            try:
                fd = os.open(work / "claims" / str(i), os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                continue
            os.write(fd, str(k).encode())
            os.close(fd)
            r = dataclasses.asdict(compile_one(spec, jobs["out_dir"]))
            del r["spec"]
            out.write(json.dumps(dict(r, index=i)) + "\n")
            out.flush()


# -- report ----------------------------------------------------------------------------------
def report(results, failures=(), unexercised=(), jitted=None, models=None):
    """Readable text: one line per core signature, then what fails and what was not checked."""
    lines = []
    if models is not None:
        bad = [(m, e) for m, e in models if e]
        lines.append(f"models run: {len(models) - len(bad)} of {len(models)}")
        lines += [f"  not run: {m}: {e}" for m, e in bad]
    if jitted is not None:
        n = {r: sum(j.role == r for j in jitted) for r in ("core", "helper", "inline")}
        lines.append(f"jitted functions: {n['core']} cores, {n['helper']} helpers (compiled into their "
                     f"callers), {n['inline']} inline")
    ok = [r for r in results if r.ok]
    size, seconds = sum(r.object_size for r in ok), sum(r.seconds for r in results)
    lines.append(f"aarch64 objects: {len(ok)} of {len(results)} core signatures pass "
                 f"({size:,} bytes; {seconds:.0f} s of compile)")
    for r in sorted(results, key=lambda r: (r.spec.kernel, r.spec.symbol)):
        lines.append(f"  {'ok  ' if r.ok else 'FAIL'} {r.spec.kernel}  {r.spec.signature_text}  "
                     f"{r.object_size:,} B  {r.seconds:.1f} s")
        if not r.ok:
            lines += ["         " + s for s in r.problem.splitlines()[:14]]
            lines += ["         -> " + h for h in r.hints]
        libm = [s for s in r.undefined if s in ALLOWED_UNDEFINED and not s.startswith("mem")]
        if r.ok and libm:
            lines.append(f"         needs libm: {', '.join(libm)}")
    if failures:
        lines.append(f"outside the AOT contract: {len(failures)}")
        lines += [f"  FAIL {k}: {m}" for k, m in failures]
    if unexercised:
        lines.append(f"cores no model exercised (not checked): {len(unexercised)}")
        lines += [f"  {k}" for k in unexercised]
    return "\n".join(lines)


def write_manifest(results, out_dir):
    """litert_cores.h (prototypes) and cores.json (what each symbol is) beside the objects."""
    ok = sorted((r for r in results if r.ok), key=lambda r: r.spec.symbol)
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "litert_cores.h").write_text(
        "/* litert kernel cores compiled ahead of time for " + f"{TRIPLE} ({CPU}). Generated. */\n"
        "#include <stdbool.h>\n#include <stdint.h>\n\n" + "".join(r.spec.c_prototype() + "\n" for r in ok))
    entries = [dict(symbol=r.spec.symbol, kernel=r.spec.kernel, module=r.spec.module, name=r.spec.name,
                    closure=str(r.spec.closure) if r.spec.closure else None,
                    args=[dataclasses.asdict(a) for a in r.spec.args],
                    ret=dataclasses.asdict(r.spec.ret) if r.spec.ret else None,
                    object=r.spec.symbol + ".o", libm=[s for s in r.undefined if not s.startswith("mem")])
               for r in ok]
    (out_dir / "cores.json").write_text(json.dumps({"triple": TRIPLE, "cpu": CPU, "features": FEATURES,
                                                    "cores": entries}, indent=1))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--worker"]:
        return worker_main(argv[1], argv[2])
    ap = argparse.ArgumentParser(prog="python -m litert.aot", description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", default=[], help=".tflite files or directories to run first")
    ap.add_argument("--out", help="directory for the <symbol>.o files")
    ap.add_argument("--pytest", nargs=argparse.REMAINDER, default=None,
                    help="run pytest with these arguments first (e.g. one-op test files), in this process")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2)
    args = ap.parse_args(argv)
    models = [m for p in map(Path, args.models) for m in (sorted(p.rglob("*.tflite")) if p.is_dir() else [p])]
    ran = exercise(models)
    if args.pytest is not None:
        import pytest
        pytest.main(["-q", "-p", "no:cacheprovider", *args.pytest])
    jitted = kernel_dispatchers()
    specs, failures, unexercised = collect(jitted)
    results = compile_cores(specs, jobs=args.jobs, out_dir=args.out)
    if args.out:
        write_manifest(results, args.out)
    print(report(results, failures, unexercised, jitted, ran))
    return 0 if all(r.ok for r in results) and not failures else 1


if __name__ == "__main__":
    # run as the module litert.aot, not __main__: the specs workers unpickle are its classes
    from litert.aot import main as _main
    sys.exit(_main())
