"""Control flow: WHILE, IF and CALL_ONCE run other subgraphs of the same model.

prepare() prepares each called subgraph for the shapes this op passes it (ctx.call_subgraph; the
child's arena becomes scratch of this op) and checks counts, types and shapes. eval() moves values
between this op's tensors and the child's input/output tensors and invokes the child; nothing
is allocated. The copies are worked out once, in the bind hook, as (dst, src) pairs of byte views
of the tensors' memory.

Fixed shapes (a deliberate restriction): TFLite lets a WHILE body return loop values whose shapes
differ from its inputs, and IF branches return outputs of different shapes; it then makes the
op's outputs dynamic and reallocates per iteration. litert plans one fixed arena, so here a body
must return every loop value with the shape (and type) it came in with, and both IF branches
must agree on every output shape; anything else is a PrepareError at allocate_tensors().

Copies that cannot change anything are skipped: a child input that no operator of the child reads
and that is not one of its outputs (TFLite's RemoveUnusedInputs on the cond subgraph), and a body
output that is its own input tensor (a loop value passed through unchanged).

CALL_ONCE runs its init subgraph at the first invoke after allocate_tensors(): litert has no
resource variables or hash tables yet, so nothing outlives the call; unlike TFLite, a re-allocation
(after resize_tensor_input) runs the init subgraph again.
"""
import numpy as np

from ..errors import LitertError
from ..registry import register_builtin


class SubgraphCall:
    """A called subgraph: its prepared runtime, which of its inputs need a value copied in, and
    (after bind) views of its input and output tensors."""

    __slots__ = ("runtime", "needed", "inputs", "outputs")

    def __init__(self, runtime):
        self.runtime = runtime
        sg = runtime.subgraph
        read = set(sg.outputs)
        for step in runtime.steps:
            read.update(i for i in step.op.inputs if i >= 0)
        self.needed = [i in read for i in sg.inputs]
        self.inputs = self.outputs = None

    @property
    def input_indices(self):
        return self.runtime.subgraph.inputs

    @property
    def output_indices(self):
        return self.runtime.subgraph.outputs

    def output_spec(self, k):
        return self.runtime.spec(self.output_indices[k])

    def bind(self):
        views = self.runtime.views
        self.inputs = [views[i] for i in self.input_indices]
        self.outputs = [views[i] for i in self.output_indices]

    def copies_in(self, sources):
        """Copies that load `sources` (one array per input) into the inputs that need a value."""
        return copies(zip(self.inputs, sources), self.needed)


def call_subgraph(ctx, index, specs, role):
    """Prepare subgraph `index` for values shaped like `specs`; check it can take them."""
    here = ctx.runtime.subgraph.index
    ctx.check(index is not None and index >= 0, f"has no {role} subgraph index")
    ctx.check(index != here, f"its {role} subgraph is the subgraph it is in ({here}): endless recursion")
    for k, spec in enumerate(specs):
        ctx.check(spec is not None, f"value {k} passed to the {role} subgraph is missing (-1)")
        ctx.check(spec.dtype is not None, f"value {k} passed to the {role} subgraph is "
                                          f"{spec.type_name}, which litert cannot hold in memory")
    call = SubgraphCall(ctx.call_subgraph(index, [s.shape for s in specs]))
    child = call.runtime
    for k, (spec, i) in enumerate(zip(specs, call.input_indices)):
        mine = child.spec(i)
        ctx.check(mine.dtype == spec.dtype,
                  f"value {k} is {spec.type_name} but input {k} of the {role} subgraph {index} "
                  f"(tensor {i}, {mine.name!r}) is {mine.type_name}")
        ctx.check(mine.data is None and i not in child.variables,
                  f"input {k} of the {role} subgraph {index} (tensor {i}, {mine.name!r}) is a "
                  "constant or variable tensor: it cannot receive a value")
    return call


def check_outputs_distinct(ctx):
    indices = [o.index for o in ctx.outputs if o is not None]
    ctx.check(len(ctx.outputs) == len(indices), "an output is missing (-1)")
    ctx.check(len(set(indices)) == len(indices), "lists the same output tensor twice")


def as_bytes(array):
    """The tensor's memory as a flat byte memoryview. Assigning one such view to another copies
    a tensor without a numpy call: several times faster than np.copyto on tiny loop values."""
    if not array.flags.c_contiguous:
        raise LitertError(f"control flow: a tensor view of shape {array.shape} is not contiguous")
    return memoryview(array.reshape(-1).view(np.uint8))


def copies(pairs, keep=None):
    """(dst, src) byte views for (dst array, src array) pairs; a pair whose arrays are one
    tensor needs no copy, and keep[k] False drops pair k."""
    return [(as_bytes(dst), as_bytes(src)) for k, (dst, src) in enumerate(pairs)
            if (keep is None or keep[k]) and dst is not src]


def parent_profile(runtime):
    """The profile list the calling subgraph is recording into, so that the called subgraphs'
    operators show up in Interpreter.profile() too. Needs the runtime to keep the list it was
    invoked with as `SubgraphRuntime.profile`; until it does, nested operators go unprofiled."""
    return getattr(runtime, "profile", None)


def copy_all(pairs):
    # shapes and dtypes were checked equal in prepare, so the byte lengths match
    for dst, src in pairs:
        dst[:] = src


# -- WHILE -----------------------------------------------------------------------------------
class WhileData:
    __slots__ = ("parent", "cond", "body", "staged", "flag", "enter_cond", "enter_body", "skip",
                 "next_cond", "next_body", "leave")

    def __init__(self, parent, cond, body, staged):
        self.parent, self.cond, self.body, self.staged = parent, cond, body, staged


def prepare_while(ctx):
    opts = ctx.options
    ctx.check(opts is not None, "has no WhileOptions")
    n = len(ctx.inputs)
    ctx.check(len(ctx.outputs) == n, f"has {n} loop values but {len(ctx.outputs)} outputs")
    check_outputs_distinct(ctx)
    ctx.check(opts.condSubgraphIndex != opts.bodySubgraphIndex,
              f"cond and body are the same subgraph ({opts.condSubgraphIndex})")
    cond = call_subgraph(ctx, opts.condSubgraphIndex, ctx.inputs, "cond")
    ctx.check(len(cond.output_indices) == 1,
              f"cond subgraph {opts.condSubgraphIndex} has {len(cond.output_indices)} outputs; it must have 1")
    flag = cond.output_spec(0)
    ctx.check(flag.dtype == np.bool_ and flag.shape in ((), (1,)),
              f"cond subgraph {opts.condSubgraphIndex} returns {flag.type_name} {list(flag.shape)}; "
              "it must return a bool scalar (shape [] or [1])")
    body = call_subgraph(ctx, opts.bodySubgraphIndex, ctx.inputs, "body")
    ctx.check(len(body.output_indices) == n,
              f"body subgraph {opts.bodySubgraphIndex} returns {len(body.output_indices)} values; "
              f"the loop has {n}")
    for k, (spec, out) in enumerate(zip(ctx.inputs, ctx.outputs)):
        got = body.output_spec(k)
        ctx.check(got.dtype == spec.dtype,
                  f"body subgraph {opts.bodySubgraphIndex} returns loop value {k} as {got.type_name}; "
                  f"it came in as {spec.type_name}")
        ctx.check(got.shape == spec.shape,
                  f"body subgraph {opts.bodySubgraphIndex} changes the shape of loop value {k} from "
                  f"{list(spec.shape)} to {list(got.shape)}; litert plans fixed shapes and runs only "
                  "loops whose values keep their shapes")
        ctx.check(out.dtype == spec.dtype,
                  f"output {k} is {out.type_name} but loop value {k} is {spec.type_name}")
        ctx.set_output(k, spec.shape)
    # Copying body outputs straight back into body inputs is unsafe when an output tensor is
    # another position's input tensor (a body that swaps two values): the first copy would
    # overwrite what a later one reads. Such loops carry their values through this op's outputs.
    pairs = [(i, o) for i, o, need in zip(body.input_indices, body.output_indices, body.needed)
             if need and i != o]
    staged = bool({o for _, o in pairs} & {i for i, _ in pairs})
    return WhileData(ctx.runtime, cond, body, staged)


def bind_while(data, ins, outs, scratch):
    cond, body = data.cond, data.body
    cond.bind()
    body.bind()
    data.flag = cond.outputs[0].reshape(1)
    data.enter_cond = cond.copies_in(ins)
    data.enter_body = body.copies_in(ins)
    data.skip = copies(zip(outs, ins))                  # the loop runs zero times
    data.next_cond = cond.copies_in(body.outputs)
    data.leave = copies(zip(outs, body.outputs))
    data.next_body = body.copies_in(outs if data.staged else body.outputs)


def eval_while(data, ins, outs, scratch):
    # TFLite's Eval_static order: the newest values live in the body's outputs after each pass.
    cond, body, flag = data.cond.runtime, data.body.runtime, data.flag
    profile = parent_profile(data.parent)
    copy_all(data.enter_cond)
    cond.invoke(profile)
    if not flag[0]:
        copy_all(data.skip)
        return
    copy_all(data.enter_body)
    while True:
        body.invoke(profile)
        copy_all(data.next_cond)
        cond.invoke(profile)
        if not flag[0]:
            break
        if data.staged:
            copy_all(data.leave)
        copy_all(data.next_body)
    copy_all(data.leave)


# -- IF --------------------------------------------------------------------------------------
class IfData:
    __slots__ = ("parent", "then", "otherwise", "flag", "then_in", "then_out", "else_in", "else_out")

    def __init__(self, parent, then, otherwise):
        self.parent, self.then, self.otherwise = parent, then, otherwise


def prepare_if(ctx):
    opts = ctx.options
    ctx.check(opts is not None, "has no IfOptions")
    ctx.check(len(ctx.inputs) >= 1 and ctx.inputs[0] is not None, "has no condition input")
    check_outputs_distinct(ctx)
    flag = ctx.inputs[0]
    ctx.check(flag.dtype == np.bool_ and flag.size == 1,
              f"condition is {flag.type_name} {list(flag.shape)}; it must be a single bool")
    args = ctx.inputs[1:]
    then = call_subgraph(ctx, opts.thenSubgraphIndex, args, "then")
    otherwise = call_subgraph(ctx, opts.elseSubgraphIndex, args, "else")
    m = len(ctx.outputs)
    for call, index in ((then, opts.thenSubgraphIndex), (otherwise, opts.elseSubgraphIndex)):
        ctx.check(len(call.output_indices) == m,
                  f"branch subgraph {index} returns {len(call.output_indices)} values; the op has {m} outputs")
    for k, out in enumerate(ctx.outputs):
        a, b = then.output_spec(k), otherwise.output_spec(k)
        for got, index in ((a, opts.thenSubgraphIndex), (b, opts.elseSubgraphIndex)):
            ctx.check(got.dtype == out.dtype,
                      f"branch subgraph {index} returns output {k} as {got.type_name}; the op's output "
                      f"is {out.type_name}")
        ctx.check(a.shape == b.shape,
                  f"the branches return output {k} with different shapes ({list(a.shape)} and "
                  f"{list(b.shape)}); litert plans fixed shapes and needs them equal")
        ctx.set_output(k, a.shape)
    return IfData(ctx.runtime, then, otherwise)


def bind_if(data, ins, outs, scratch):
    data.flag = ins[0].reshape(1)
    for call in (data.then, data.otherwise):
        call.bind()
    data.then_in = data.then.copies_in(ins[1:])
    data.then_out = copies(zip(outs, data.then.outputs))
    data.else_in = data.otherwise.copies_in(ins[1:])
    data.else_out = copies(zip(outs, data.otherwise.outputs))


def eval_if(data, ins, outs, scratch):
    if data.flag[0]:
        copy_all(data.then_in)
        data.then.runtime.invoke(parent_profile(data.parent))
        copy_all(data.then_out)
    else:
        copy_all(data.else_in)
        data.otherwise.runtime.invoke(parent_profile(data.parent))
        copy_all(data.else_out)


# -- CALL_ONCE -------------------------------------------------------------------------------
class CallOnceData:
    __slots__ = ("parent", "init", "done")

    def __init__(self, parent, init):
        self.parent, self.init, self.done = parent, init, False


def prepare_call_once(ctx):
    opts = ctx.options
    ctx.check(opts is not None, "has no CallOnceOptions")
    ctx.check(not ctx.inputs and not ctx.outputs,
              f"takes no inputs and no outputs, got {len(ctx.inputs)} and {len(ctx.outputs)}")
    init = call_subgraph(ctx, opts.initSubgraphIndex, [], "init")
    ctx.check(not init.output_indices,
              f"init subgraph {opts.initSubgraphIndex} has outputs; it must have none")
    return CallOnceData(ctx.runtime, init)


def eval_call_once(data, ins, outs, scratch):
    if not data.done:
        data.init.runtime.invoke(parent_profile(data.parent))
        data.done = True


# The runtime never folds ops that call subgraphs; fold=False says so here as well.
register_builtin("WHILE", prepare_while, eval_while, fold=False, bind=bind_while)
register_builtin("IF", prepare_if, eval_if, fold=False, bind=bind_if)
register_builtin("CALL_ONCE", prepare_call_once, eval_call_once, fold=False)
