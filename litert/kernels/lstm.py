"""UNIDIRECTIONAL_SEQUENCE_LSTM: the shared checks, and the float32 path (TFLite lstm_eval.cc
EvalFloat semantics). prepare dispatches on the types: float32 input and weights run here; float32
input with int8 weights (hybrid) and int8 input (integer, int16 cell state) run in lstm_int.py.

Per step, for every batch row (x = input, h = output state, c = cell state):
    i = sigmoid(W_i x + R_i h + p_i * c + b_i)      (CIFG, no input weights: i = 1 - f)
    f = sigmoid(W_f x + R_f h + p_f * c + b_f)
    g = act(W_c x + R_c h + b_c)
    c = clip(f * c + i * g, cell_clip)
    o = sigmoid(W_o x + R_o h + p_o * c + b_o)      (the new c)
    h = o * act(c), or clip(P (o * act(c)) + b_p, proj_clip) with a projection
`act` is the op's fused activation (normally TANH), the p_* peepholes are optional, and with layer
norm each gate's sum (bias left out) is normalized over the cells, scaled by its coefficients, and
then gets its bias. Recurrent weights of rank 1 ("diagonal") multiply h elementwise.

prepare() stacks the gates' weights (input?, forget, cell, output) into one matrix per operand
and packs it for the shared GEMM micro-kernel (gemm.py). eval then runs one GEMM for the input
contributions of all time steps (biases included) into scratch, and per step one product that
adds the recurrent contributions onto that step's rows, followed by a jitted elementwise pass.
The state tensors (inputs 18 and 19) are variable tensors, updated in place.
"""
import numpy as np

from ..registry import register_builtin
from .common import (ACT_NAMES, ACT_NONE, ACT_RELU, ACT_RELU6, ACT_RELU_N1_TO_1, ACT_SIGN_BIT,
                     ACT_TANH, jit)
from .fully_connected import packed_bias, packed_weights
from .gemm import NR, gemm, pack_bias, pack_weights, panels

# input indices (lstm_shared.h)
INPUT = 0
INPUT_WEIGHTS = (1, 2, 3, 4)        # input-to-{input, forget, cell, output}
RECURRENT_WEIGHTS = (5, 6, 7, 8)
PEEPHOLES = (9, 10, 11)             # cell-to-{input, forget, output}
BIASES = (12, 13, 14, 15)
PROJ_WEIGHTS, PROJ_BIAS = 16, 17
OUTPUT_STATE, CELL_STATE = 18, 19
LAYER_NORMS = (20, 21, 22, 23)

# rows of the per-cell vector table: 4 biases, 3 peepholes, 4 layer-norm coefficients
ROW_BIAS, ROW_PEEP, ROW_NORM = 0, 4, 7
ACT_SIGMOID = 6                     # TfLiteFusedActivation value; the gates' own activation
LAYER_NORM_EPSILON = np.float32(1e-8)


# -- prepare -----------------------------------------------------------------------------------
F32, I8, I16, I32 = (np.dtype(t) for t in (np.float32, np.int8, np.int16, np.int32))
# Tensor types per role and path (unidirectional_sequence_lstm.cc CheckInputTensorDimensions).
# A hybrid op's diagonal recurrent weights are read as float32 there; the integer path has none.
FLOAT_TYPES = dict(weights=F32, diagonal=F32, peephole=F32, bias=F32, norm=F32, proj=F32, proj_bias=F32,
                   output_state=F32, cell_state=F32, output=F32)
HYBRID_TYPES = dict(FLOAT_TYPES, weights=I8, peephole=I8, proj=I8)
INTEGER_TYPES = dict(weights=I8, diagonal=None, peephole=I16, bias=I32, norm=I16, proj=I8, proj_bias=I32,
                     output_state=I8, cell_state=I16, output=I8)


def prepare_lstm(ctx):
    n = len(ctx.inputs)
    ctx.check(n in (20, 24), f"takes 20 or 24 inputs, got {n}")
    ctx.check(len(ctx.outputs) == 1 and ctx.outputs[0] is not None, "must have exactly one output")
    x = ctx.inputs[INPUT]
    w_out = ctx.input(INPUT_WEIGHTS[3])
    ctx.check(x is not None and w_out is not None, "input and input-to-output weights are required")
    from . import lstm_int   # the quantized paths (a module of their own; it imports this one)
    # op data: (eval of the path, its data)
    if x.dtype == F32 and w_out.dtype == F32:
        return eval_float, _prepare_float(ctx, check_layout(ctx, FLOAT_TYPES))
    if x.dtype == F32 and w_out.dtype == I8:
        return lstm_int.eval_hybrid, lstm_int.prepare_hybrid(ctx, check_layout(ctx, HYBRID_TYPES))
    if x.dtype == I8 and w_out.dtype == I8:
        return lstm_int.eval_integer, lstm_int.prepare_integer(ctx, check_layout(ctx, INTEGER_TYPES))
    raise ctx.error(f"{x.type_name} input with {w_out.type_name} weights is not supported (float32, "
                    "hybrid float32 input with int8 weights, or int8 input with int8 weights)")


GATE_NAMES = ("input", "forget", "cell", "output")


class Layout:
    """What prepare learns from the op's tensors and options, shared by the three paths."""

    def __init__(self, **fields):
        self.__dict__.update(fields)

    @property
    def gates(self):
        """The gates present, in the order they are stacked: (input?, forget, cell, output)."""
        return (1, 2, 3) if self.cifg else (0, 1, 2, 3)


def check_layout(ctx, types):
    """Options, sizes, state tensors and the presence/shape/type rules of the 24 inputs
    (unidirectional_sequence_lstm.cc Prepare and CheckInputTensorDimensions). `types` gives the
    dtype each role must have on this path."""
    opts = ctx.options
    x = ctx.inputs[INPUT]
    ctx.check_dtype(ctx.outputs[0], types["output"])
    act = int(getattr(opts, "fusedActivationFunction", 0) or 0)
    ctx.check(act in ACT_NAMES, f"unknown fused activation {act}")
    cell_clip = float(getattr(opts, "cellClip", 0.0) or 0.0)
    proj_clip = float(getattr(opts, "projClip", 0.0) or 0.0)
    ctx.check(cell_clip >= 0 and proj_clip >= 0, f"clips must be >= 0, got cell {cell_clip}, proj {proj_clip}")
    time_major = bool(getattr(opts, "timeMajor", False))
    ctx.check(x.rank == 3, f"input must be 3-D ([batch, time, features] or time major), got {list(x.shape)}")
    steps, batch = (x.shape[0], x.shape[1]) if time_major else (x.shape[1], x.shape[0])
    n_input = x.shape[2]

    def tensor(i, what, shape, role, required=True):
        spec = ctx.input(i)
        if spec is None:
            ctx.check(not required, f"{what} (input {i}) is required")
            return None
        ctx.check(types[role] is not None, f"{what} (input {i}) are diagonal (rank 1), which an LSTM with "
                                           f"{x.type_name} input and {w_out.type_name} weights does not support")
        ctx.check_dtype(spec, types[role])
        ctx.check(spec.shape == tuple(shape), f"{what} (input {i}) has shape {list(spec.shape)}, "
                                              f"expected {list(shape)}")
        return spec

    w_out = ctx.input(INPUT_WEIGHTS[3])
    ctx.check(w_out.rank == 2, f"input-to-output weights must be 2-D, got {list(w_out.shape)}")
    n_cell = w_out.shape[0]
    r_out = ctx.input(RECURRENT_WEIGHTS[3])
    ctx.check(r_out is not None and r_out.rank in (1, 2),
              "recurrent-to-output weights must be [cells, outputs] or diagonal [cells]")
    n_output = r_out.shape[-1]

    cifg = ctx.input(INPUT_WEIGHTS[0]) is None
    ctx.check(cifg == (ctx.input(RECURRENT_WEIGHTS[0]) is None),
              "input-gate weights must be all present or all absent (CIFG)")
    ctx.check(not cifg or ctx.input(BIASES[0]) is None, "a CIFG LSTM has no input gate bias")
    gates = (1, 2, 3) if cifg else (0, 1, 2, 3)
    diag = {}
    for g in gates:
        name = GATE_NAMES[g]
        tensor(INPUT_WEIGHTS[g], f"input-to-{name} weights", (n_cell, n_input), "weights")
        r = ctx.input(RECURRENT_WEIGHTS[g])
        ctx.check(r is not None, f"recurrent-to-{name} weights are required")
        diag[g] = r.rank == 1     # a diagonal matrix, given as its diagonal
        ctx.check(not diag[g] or n_output == n_cell, "diagonal recurrent weights need outputs == cells")
        tensor(RECURRENT_WEIGHTS[g], f"recurrent-to-{name} weights", (n_cell,) if diag[g] else (n_cell, n_output),
               "diagonal" if diag[g] else "weights")
        tensor(BIASES[g], f"{name} gate bias", (n_cell,), "bias")

    peep = [tensor(i, f"cell-to-{GATE_NAMES[g]} weights", (n_cell,), "peephole", required=False)
            for g, i in zip((0, 1, 3), PEEPHOLES)]
    use_peephole = peep[2] is not None
    all_there = (peep[0] is not None or cifg) and peep[1] is not None and use_peephole
    ctx.check(all_there or peep == [None, None, None], "peephole weights must be all present or all absent")

    use_proj = tensor(PROJ_WEIGHTS, "projection weights", (n_output, n_cell), "proj", required=False) is not None
    has_proj_bias = tensor(PROJ_BIAS, "projection bias", (n_output,), "proj_bias", required=False) is not None
    ctx.check(use_proj or not has_proj_bias, "projection bias given without projection weights")
    ctx.check(use_proj or n_output == n_cell,
              f"without projection the output size ({n_output}) must equal the cell count ({n_cell})")

    use_norm = len(ctx.inputs) == 24 and ctx.input(LAYER_NORMS[1]) is not None
    if use_norm:
        ctx.check(not cifg or ctx.input(LAYER_NORMS[0]) is None,
                  "a CIFG LSTM has no input layer-norm coefficients")
        for g in gates:
            tensor(LAYER_NORMS[g], f"{GATE_NAMES[g]} layer-norm coefficients", (n_cell,), "norm")

    for i, what, size, role in ((OUTPUT_STATE, "output state", batch * n_output, "output_state"),
                                (CELL_STATE, "cell state", batch * n_cell, "cell_state")):
        state = ctx.input(i)
        ctx.check(state is not None and state.is_variable, f"the {what} (input {i}) must be a variable tensor")
        ctx.check_dtype(state, types[role])
        ctx.check(state.size == size, f"the {what} has {state.size} elements, expected {size}")
    ctx.set_output(0, x.shape[:2] + (n_output,))
    return Layout(time_major=time_major, steps=steps, batch=batch, n_input=n_input, n_cell=n_cell,
                  n_output=n_output, cifg=cifg, peephole=use_peephole, norm=use_norm, proj=use_proj,
                  proj_bias=has_proj_bias, diag=diag, act=act, cell_clip=cell_clip, proj_clip=proj_clip,
                  asymmetric=bool(getattr(opts, "asymmetricQuantizeInputs", False)))


def _prepare_float(ctx, lay):
    steps, batch, n_input, n_cell, n_output = lay.steps, lay.batch, lay.n_input, lay.n_cell, lay.n_output
    # Stack the gates (input?, forget, cell, output) as rows of one matrix per operand.
    gates = lay.gates
    width = len(gates) * n_cell
    rows = {g: slice(k * n_cell, (k + 1) * n_cell) for k, g in enumerate(gates)}
    wx = Packed((width, n_input), "weights")
    wh = Packed((width, n_output), "weights")
    bias_x = Packed((width,), "bias")       # biases join the input product unless layer norm
    vectors = Packed((ROW_NORM + 4, n_cell))
    for g in gates:
        wx.add(INPUT_WEIGHTS[g], rows[g])
        wh.add(RECURRENT_WEIGHTS[g], rows[g], "diag" if lay.diag[g] else "copy")
        vectors.add(BIASES[g], ROW_BIAS + g)
        if lay.norm:
            vectors.add(LAYER_NORMS[g], ROW_NORM + g)
        else:
            bias_x.add(BIASES[g], rows[g])
    for k, g in enumerate((0, 1, 3)):
        if lay.peephole and g in gates:
            vectors.add(PEEPHOLES[k], ROW_PEEP + k)
    wp = Packed((n_output if lay.proj else 0, n_cell), "weights")
    bp = Packed((n_output,), "bias")
    if lay.proj:
        wp.add(PROJ_WEIGHTS, slice(None))
        if lay.proj_bias:
            bp.add(PROJ_BIAS, slice(None))
    packed = tuple(p.finish(ctx) for p in (wx, wh, bias_x, vectors, wp, bp))

    slots = (ctx.scratch((steps * batch, width), np.float32),   # every step's gate sums
             ctx.scratch((batch, n_cell), np.float32))           # o * act(c) before the projection
    flags = (lay.time_major, lay.cifg, lay.peephole, lay.norm, lay.proj, lay.diag[2], lay.act)
    clips = (np.float32(lay.cell_clip), np.float32(lay.proj_clip) if lay.proj_clip > 0 else np.float32(np.inf))
    zeros = ctx.persistent(packed_bias(None, width))
    return (steps * batch, n_input, n_output, n_cell), steps, batch, packed, slots, flags, clips, zeros


class Packed:
    """A float32 array eval reads, assembled from op inputs and optionally packed for gemm
    ("weights": [n, k] rows -> panels, "bias": [n] -> panels). Built once in the persistent area
    when every source is constant, else rebuilt in scratch from the inputs on every invoke."""

    def __init__(self, shape, pack=None):
        self.shape = tuple(int(d) for d in shape)
        self.pack = pack
        self.parts = []      # (op input position, rows of the array, "copy" | "diag")

    def add(self, i, rows, how="copy"):
        self.parts.append((i, rows, how))

    def finish(self, ctx):
        """(persistent array or None, scratch slots (dense, packed) or None, parts, pack)."""
        if all(ctx.input(i).is_constant for i, _, _ in self.parts):
            dense = np.zeros(self.shape, np.float32)
            for i, rows, how in self.parts:
                _put(dense[rows], ctx.input(i).data, how)
            if self.pack == "weights":
                dense = packed_weights(dense)
            elif self.pack == "bias":
                dense = packed_bias(dense, self.shape[0])
            return ctx.persistent(dense), None, (), None
        n = self.shape[0]
        packed_shape = {"weights": (panels(n), self.shape[-1], NR), "bias": (panels(n), NR)}.get(self.pack)
        slots = (ctx.scratch(self.shape, np.float32),
                 ctx.scratch(packed_shape, np.float32) if packed_shape else None)
        return None, slots, tuple(self.parts), self.pack


def _put(dst, src, how):
    """Write an input into its rows of a dense array (no temporaries: eval calls this too)."""
    if how == "diag":    # a diagonal recurrent vector as the dense diagonal matrix it means
        dst.fill(0)
        np.copyto(np.einsum("ii->i", dst), src)
    else:
        np.copyto(dst, src.reshape(dst.shape))


# -- eval --------------------------------------------------------------------------------------
def eval_lstm(data, ins, outs, scratch):
    run, data = data      # eval_float, eval_hybrid or eval_integer with its op data
    run(data, ins, outs, scratch)


def eval_float(data, ins, outs, scratch):
    (rows, n_input, n_output, n_cell), steps, batch, packed, slots, flags, clips, zeros = data
    wx, wh, bias_x, vectors, wp, bp = [_value(p, ins, scratch) for p in packed]
    gates, hidden = scratch[slots[0]], scratch[slots[1]]
    h = ins[OUTPUT_STATE]
    # flat views made here: a reshape inside jitted code needs numba's runtime (not AOT-able)
    lstm_float(ins[INPUT].reshape(-1), h.reshape(batch, n_output), h.reshape(-1),
               ins[CELL_STATE].reshape(batch, n_cell), outs[0].reshape(rows, n_output),
               wx, wh, bias_x, vectors, wp, bp, zeros, gates, gates.reshape(-1), hidden, hidden.reshape(-1),
               steps, batch, n_input, *flags, *clips)


def _value(p, ins, scratch):
    array, slots, parts, pack = p
    if array is not None:
        return array
    dense = scratch[slots[0]]
    dense.fill(0)
    for i, rows, how in parts:
        _put(dense[rows], ins[i], how)
    if pack is None:
        return dense
    packed = scratch[slots[1]]
    (pack_weights if pack == "weights" else pack_bias)(dense, packed)
    return packed


@jit(inline="always")
def _activate(src, dst, act):
    """dst = act(src); one branch-free loop per activation so that each vectorizes."""
    n = src.shape[0]
    one = np.float32(1)
    if act == ACT_SIGMOID:
        for j in range(n):
            dst[j] = one / (one + np.exp(-src[j]))
    elif act == ACT_TANH:
        # as 2 sigmoid(2x) - 1: vectorizes where libm's tanhf does not; within 2e-7 of tanh
        for j in range(n):
            dst[j] = np.float32(2) / (one + np.exp(np.float32(-2) * src[j])) - one
    elif act == ACT_RELU:
        for j in range(n):
            dst[j] = max(src[j], np.float32(0))
    elif act == ACT_RELU_N1_TO_1:
        for j in range(n):
            dst[j] = min(max(src[j], -one), one)
    elif act == ACT_RELU6:
        for j in range(n):
            dst[j] = min(max(src[j], np.float32(0)), np.float32(6))
    elif act == ACT_SIGN_BIT:   # 1 for negative numbers (and -0), else 0
        for j in range(n):
            dst[j] = one if np.signbit(src[j]) else np.float32(0)
    else:
        for j in range(n):
            dst[j] = src[j]


@jit(inline="always")
def _finish_gate(gate, peep, cell, use_peep, norm, use_norm, bias, act):
    """gate holds W x + R h (plus the bias unless layer norm); add the peephole, normalize, add
    the bias, activate, in place."""
    n = gate.shape[0]
    if use_peep:
        for j in range(n):
            gate[j] += peep[j] * cell[j]
    if use_norm:
        mean = np.float32(0)
        for j in range(n):
            mean += gate[j]
        mean /= np.float32(n)
        var = np.float32(0)
        for j in range(n):
            d = gate[j] - mean
            var += d * d
        inv = np.float32(1) / np.sqrt(var / np.float32(n) + LAYER_NORM_EPSILON)
        for j in range(n):
            gate[j] = (gate[j] - mean) * inv * norm[j] + bias[j]
    _activate(gate, gate, act)


@jit(inline="always")
def _input_is_zero(x, n_input, first_row, count):
    """TFLite's IsZeroVector over the rows of input it hands one step."""
    for v in x[first_row * n_input:(first_row + count) * n_input]:
        if v != 0:
            return False
    return True


@jit
def lstm_float(x, h, hflat, c, out, wx, wh, bias_x, vectors, wp, bp, zeros, gates_all, flat, hidden,
               hidden_flat, steps, batch, n_input, time_major, cifg, use_peep, use_norm, use_proj, diag_cell,
               act, cell_clip, proj_clip):
    """x: the input, flat; h [batch, n_output], c [batch, n_cell]: the states; out [rows, n_output];
    gates_all [rows, gates * n_cell]: scratch. Rows are (t, b) in the input's order. hflat, flat,
    hidden_flat: the same memory as h, gates_all, hidden, 1-D."""
    inf = np.float32(np.inf)
    n_cell = c.shape[1]
    n_output = h.shape[1]
    width = gates_all.shape[1]
    # row of (t, b): t * step_t + b * step_b
    step_t, step_b = (batch, 1) if time_major else (1, steps)
    # the input contributions of every step at once, biases included (unless layer norm)
    gemm(gates_all.shape[0], width, n_input, x, 0, n_input, wx, bias_x, flat, 0, width, False, -inf, inf)
    first = 0 if cifg else n_cell    # gate offsets in a row: [input?, forget, cell, output]
    f_at, g_at, o_at = first, first + n_cell, first + 2 * n_cell
    for t in range(steps):
        # add the recurrent contributions onto the rows of step t (row stride step_b)
        gemm(batch, width, n_output, hflat, 0, n_output, wh, zeros, flat, t * step_t * width,
             step_b * width, True, -inf, inf)
        for b in range(batch):
            row = t * step_t + b * step_b
            gates = gates_all[row]
            cell = c[b]
            if not cifg:
                _finish_gate(gates[:n_cell], vectors[ROW_PEEP], cell, use_peep, vectors[ROW_NORM],
                             use_norm, vectors[ROW_BIAS], ACT_SIGMOID)
            _finish_gate(gates[f_at:g_at], vectors[ROW_PEEP + 1], cell, use_peep, vectors[ROW_NORM + 1],
                         use_norm, vectors[ROW_BIAS + 1], ACT_SIGMOID)
            quirk = False
            if act == ACT_NONE:
                zero_in = (_input_is_zero(x, n_input, t * step_t, batch) if time_major
                           else _input_is_zero(x, n_input, row, 1))
                quirk = zero_in != diag_cell
            if quirk:
                # TFLite quirk with no activation: its cell-gate buffer keeps the value it was
                # initialized with (the bias, or 0 under layer norm) when the input of this step
                # is all zero (dense recurrent weights) or is not (diagonal ones).
                fill = vectors[ROW_BIAS + 2]
                for j in range(n_cell):
                    gates[g_at + j] = np.float32(0) if use_norm else fill[j]
            else:
                _finish_gate(gates[g_at:o_at], vectors[ROW_PEEP], cell, False, vectors[ROW_NORM + 2],
                             use_norm, vectors[ROW_BIAS + 2], act)
            for j in range(n_cell):
                forget = gates[f_at + j]
                gate_in = np.float32(1) - forget if cifg else gates[j]
                v = forget * cell[j] + gate_in * gates[g_at + j]
                if cell_clip > 0:
                    v = min(max(v, -cell_clip), cell_clip)
                cell[j] = v
            _finish_gate(gates[o_at:], vectors[ROW_PEEP + 2], cell, use_peep, vectors[ROW_NORM + 3],
                         use_norm, vectors[ROW_BIAS + 3], ACT_SIGMOID)
            dst = hidden[b] if use_proj else h[b]
            # TFLite's "no activation" leaves its scratch (the cell gate) where act(c) would be
            _activate(gates[g_at:o_at] if act == ACT_NONE else cell, dst, act)
            for j in range(n_cell):
                dst[j] *= gates[o_at + j]
        if use_proj:
            gemm(batch, n_output, n_cell, hidden_flat, 0, n_cell, wp, bp, hflat, 0, n_output,
                 False, -proj_clip, proj_clip)
        for b in range(batch):
            o = out[t * step_t + b * step_b]
            hb = h[b]
            for j in range(n_output):
                o[j] = hb[j]


register_builtin("UNIDIRECTIONAL_SEQUENCE_LSTM", prepare_lstm, eval_lstm)
