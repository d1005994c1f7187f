"""The one operator registry: builtin code (or custom name) -> Kernel(prepare, eval).

A kernel module registers each op once:

    register_builtin("ADD", prepare_add, eval_add)

prepare(ctx) runs in allocate_tensors(): it validates types and options, sets output shapes,
asks for scratch memory, derives what eval needs (quantization multipliers, repacked weights) and
returns that as op_data. eval(op_data, ins, outs, scratch) runs per invoke on arrays that are views
into the arena; it allocates nothing. See kernel_api.py for what ctx offers.
"""
from dataclasses import dataclass
from typing import Callable

from .model import BUILTIN_CODES, CUSTOM


@dataclass(frozen=True)
class Kernel:
    name: str
    prepare: Callable
    eval: Callable
    fold: bool = True       # may run once at prepare time when all its inputs are constant
    bind: Callable = None   # optional bind(op_data, ins, outs, scratch) after the arena exists


_builtin = {}   # builtin code -> Kernel
_custom = {}    # custom code name -> Kernel


def register_builtin(name, prepare, eval, *, fold=True, bind=None):
    code = BUILTIN_CODES[name]
    if code in _builtin:
        raise ValueError(f"builtin operator {name} is registered twice")
    _builtin[code] = Kernel(name, prepare, eval, fold, bind)


def register_custom_op(name, prepare, eval, *, fold=False, bind=None, replace=False):
    """Register a kernel for a custom operator (Operator with custom_code `name`).

    prepare(ctx) -> op_data and eval(op_data, ins, outs, scratch) follow the same contract as
    builtin kernels (kernel_api.PrepareContext); `ctx.op.custom_options` holds the op's raw
    custom options bytes.
    """
    if name in _custom and not replace:
        raise ValueError(f"custom operator {name!r} is registered already (pass replace=True)")
    _custom[name] = Kernel(name, prepare, eval, fold, bind)


def lookup(op):
    """The Kernel for a model Operator, or None when litert has none."""
    _load_kernels()
    if op.code == CUSTOM:
        return _custom.get(op.name)
    return _builtin.get(op.code)


def registered_names():
    _load_kernels()
    return sorted(k.name for k in _builtin.values()), sorted(_custom)


_loaded = False


def _load_kernels():
    global _loaded
    if not _loaded:
        _loaded = True
        from . import kernels  # noqa: F401  (each kernel module registers itself on import)
