"""UNIDIRECTIONAL_SEQUENCE_LSTM, quantized paths: integer (int8 input, int16 cell) and hybrid.

Integer ("8x8_16", lstm_eval.cc EvalInteger8x8_16 with portable_tensor_utils.cc): int8 input,
weights and output state, int16 cell state with a power-of-two scale 2^cell_scale, int32 biases.
Per step and gate: gate = sat16(mbqm(Wx (x - zx) + b)) then += mbqm(Wh (h - zh)), saturating;
peephole (int16 weights) += mbqm(p * c); optional integer layer norm; then gemmlowp's int16
fixed-point sigmoid (Q3.12 in, Q0.15 out) or tanh. Without layer norm the gate sums are Q3.12;
with it they carry the scales of the op's `intermediates` 0..3, and intermediate 4 gives the
scale and zero point of the hidden o * tanh(c) (the output itself when there is no projection).
The zero points are folded into the biases once ("effective biases"), as TFLite's Prepare does.
    c = sat16(rdbpot(f c, 15) + rdbpot(i g, 30 + cell_scale)), clipped; (CIFG: i = 32767 - f)
    h = int8(mbqm(o tanh(c)) + hidden_zp), or the int8 projection of it (with -hidden_zp: a
        reference quirk, b/246629213, undone by the projection bias).
Input contributions of all steps are computed before the recurrence (they do not depend on the
state); what follows reproduces the reference's order of saturations exactly.

Hybrid (EvalHybrid): float input and states, int8 weights with one scale each. Every row of the
input, of the output state and of the hidden state is quantized on the fly to int8 (symmetric,
or asymmetric with a zero point when asymmetric_quantize_inputs); products are integer dot
products scaled back to float; the rest is the float LSTM.
"""
import numpy as np

from .common import ACT_NONE, jit
from .lstm import (BIASES, CELL_STATE, INPUT, INPUT_WEIGHTS, LAYER_NORMS, OUTPUT_STATE, PEEPHOLES,
                   PROJ_BIAS, PROJ_WEIGHTS, RECURRENT_WEIGHTS, ACT_SIGMOID, _activate, _finish_gate)
from .fixedpoint import fx16_table, inv_sqrt_multiplier, wrap_int16
from .qmath import checked_log2, clamp, mbqm, quantize_multiplier, rdbpot, wrap_int32

F32 = np.float32
PEEPHOLE_OF = {0: PEEPHOLES[0], 1: PEEPHOLES[1], 3: PEEPHOLES[2]}   # gate -> its cell-to-gate input


def _constant(ctx, i, what):
    spec = ctx.input(i)
    ctx.check(spec.data is not None, f"{what} (input {i}) must be a constant in a quantized LSTM")
    q = spec.quantization
    ctx.check(q is not None or spec.dtype.kind == "f" or spec.dtype == np.int32,
              f"{what} (input {i}) are {spec.type_name} without a scale")
    ctx.check(q is None or q.scales.size <= 1,
              f"{what} (input {i}) are quantized per channel; the LSTM takes one scale per tensor")
    return spec


def _weights(ctx, lay):
    """The constant tensors, checked: {op input position: TensorSpec}."""
    specs = {}
    for g in lay.gates:
        specs[INPUT_WEIGHTS[g]] = _constant(ctx, INPUT_WEIGHTS[g], "input weights")
        specs[RECURRENT_WEIGHTS[g]] = _constant(ctx, RECURRENT_WEIGHTS[g], "recurrent weights")
        specs[BIASES[g]] = _constant(ctx, BIASES[g], "gate bias")
        if lay.peephole and g != 2:
            specs[PEEPHOLE_OF[g]] = _constant(ctx, PEEPHOLE_OF[g], "peephole weights")
        if lay.norm:
            specs[LAYER_NORMS[g]] = _constant(ctx, LAYER_NORMS[g], "layer-norm coefficients")
    if lay.proj:
        specs[PROJ_WEIGHTS] = _constant(ctx, PROJ_WEIGHTS, "projection weights")
        if lay.proj_bias:
            specs[PROJ_BIAS] = _constant(ctx, PROJ_BIAS, "projection bias")
    return specs


def _row_sums(w):
    return w.astype(np.int64).sum(axis=1)


def _multipliers(reals):
    pairs = [quantize_multiplier(float(r)) for r in reals]
    return np.array([p[0] for p in pairs], np.int32), np.array([p[1] for p in pairs], np.int32)


# -- integer: prepare --------------------------------------------------------------------------
# scalar parameters of the integer core, in one int64 array (named slots)
(P_CIFG, P_PEEPHOLE, P_NORM, P_PROJ, P_CELL_SCALE, P_HIDDEN_M, P_HIDDEN_S, P_HIDDEN_ZP, P_PROJ_M,
 P_PROJ_S, P_OUTPUT_ZP, P_CELL_CLIP, P_PROJ_CLIP, P_TIME_MAJOR, P_STEPS, P_BATCH) = range(16)


def prepare_integer(ctx, lay):
    """PopulateQuantizedLstmParams8x8_16 and PopulatePrecomputedZPTimesWeightsWithBias."""
    x, out = ctx.inputs[INPUT], ctx.outputs[0]
    h_state, c_state = ctx.input(OUTPUT_STATE), ctx.input(CELL_STATE)
    for spec, what in ((x, "input"), (out, "output"), (h_state, "output state"), (c_state, "cell state")):
        ctx.check(spec.quantization is not None, f"the {what} of an integer LSTM must be quantized")
    inter = ctx.intermediates
    ctx.check(len(inter) == 5 and all(t is not None for t in inter),
              f"an integer LSTM needs 5 intermediate tensors (gate and hidden scales), got {len(inter)}")
    ctx.check(inter[4].quantization is not None, "intermediate 4 (the hidden state) must be quantized")
    ok, cell_scale = checked_log2(c_state.scale)
    ctx.check(ok, f"the cell state scale {c_state.scale} is not a power of two")
    # the reference's tanh of the cell state handles 0..6 integer bits (and leaves its output
    # unwritten beyond): cell scales 2^-15 .. 2^-9
    ctx.check(-15 <= cell_scale <= -9, f"cell state scale 2^{cell_scale} is outside 2^-15 .. 2^-9")
    specs = _weights(ctx, lay)
    n_cell, n_output, gates = lay.n_cell, lay.n_output, lay.gates
    ctx.check(not (lay.peephole and lay.proj and n_output > n_cell),
              "peephole with a projection to more outputs than cells reads out of bounds in the reference")

    # Scales as the reference computes them: float32 arithmetic, except the expressions with a
    # std::pow (double) in them.
    if lay.norm:
        # the reference reads all four (even the input gate's with CIFG) and, when one lacks
        # quantization, gives up its parameters silently and outputs zeros: refuse that clearly
        for g in range(4):
            ctx.check(inter[g].quantization is not None, f"intermediate {g} must be quantized with layer norm")
        gate_scale = [F32(inter[g].scale) if g in gates else F32(1) for g in range(4)]
    else:
        gate_scale = [F32(2.0 ** -12)] * 4       # Q3.12, the activations' input format
    x_scale, h_scale = F32(x.scale), F32(h_state.scale)
    hidden_scale, hidden_zp = F32(inter[4].scale), int(inter[4].zero_point)
    eff_x = [F32(F32(specs[INPUT_WEIGHTS[g]].scale) * x_scale) / gate_scale[g] for g in gates]
    eff_h = [F32(F32(specs[RECURRENT_WEIGHTS[g]].scale) * h_scale) / gate_scale[g] for g in gates]
    eff_peep = [F32(2.0 ** cell_scale * float(F32(specs[PEEPHOLE_OF[g]].scale)) / float(gate_scale[g]))
                if lay.peephole and g != 2 else F32(1) for g in gates]
    eff_hidden = F32(2.0 ** -15 / float(hidden_scale) * 2.0 ** -15)
    eff_proj = (F32(F32(specs[PROJ_WEIGHTS].scale) * hidden_scale) / h_scale) if lay.proj else F32(1)
    norm_scale = [F32(specs[LAYER_NORMS[g]].scale) if lay.norm else F32(1) for g in gates]

    # Effective biases: the zero points times the weights' row sums, plus the gate bias (which
    # layer norm adds after normalizing instead). int32 arithmetic, wrapping like the reference.
    wx = [specs[INPUT_WEIGHTS[g]].data for g in gates]
    wh = [specs[RECURRENT_WEIGHTS[g]].data for g in gates]
    bias = [specs[BIASES[g]].data.astype(np.int64) for g in gates]
    bias_x = [(0 if lay.norm else b) - x.zero_point * _row_sums(w) for b, w in zip(bias, wx)]
    bias_h = [-h_state.zero_point * _row_sums(w) for w in wh]
    wrap = (lambda a: ((np.asarray(a, np.int64) + (1 << 31)) % (1 << 32) - (1 << 31)).astype(np.int32))
    cell_clip = _saturating_cast(np.float32(lay.cell_clip) / F32(c_state.scale), 16) if lay.cell_clip > 0 else 0
    proj_clip = _saturating_cast(np.float32(lay.proj_clip) / F32(out.scale), 8) if lay.proj_clip > 0 else 0

    params = np.zeros(16, np.int64)
    params[[P_CIFG, P_PEEPHOLE, P_NORM, P_PROJ]] = lay.cifg, lay.peephole, lay.norm, lay.proj
    params[P_CELL_SCALE] = cell_scale
    params[[P_HIDDEN_M, P_HIDDEN_S]] = quantize_multiplier(float(eff_hidden))
    params[P_HIDDEN_ZP] = hidden_zp
    params[[P_PROJ_M, P_PROJ_S]] = quantize_multiplier(float(eff_proj))
    params[P_OUTPUT_ZP] = h_state.zero_point
    params[[P_CELL_CLIP, P_PROJ_CLIP]] = cell_clip, proj_clip
    params[[P_TIME_MAJOR, P_STEPS, P_BATCH]] = lay.time_major, lay.steps, lay.batch

    def per_gate(role, dtype, present=True):
        """[gates, n_cell] of one vector per gate (zeros where a gate has none)."""
        return np.stack([np.asarray(specs[role[g]].data, dtype) if present and g in role else
                         np.zeros(n_cell, dtype) for g in gates])

    if lay.proj:
        wp = np.array(specs[PROJ_WEIGHTS].data, np.int8)     # a copy: writable like the others
        bp = specs[PROJ_BIAS].data.astype(np.int64) if lay.proj_bias else 0
        bias_p = wrap(bp + hidden_zp * _row_sums(wp))
    else:
        wp, bias_p = np.zeros((0, n_cell), np.int8), np.zeros(0, np.int32)
    gate_biases = dict(zip(range(4), BIASES))
    arrays = (
        np.concatenate(wx).astype(np.int8), wrap(np.concatenate(bias_x)), _multipliers(eff_x),
        np.concatenate(wh).astype(np.int8), wrap(np.concatenate(bias_h)), _multipliers(eff_h),
        per_gate({g: PEEPHOLE_OF[g] for g in PEEPHOLE_OF}, np.int16, lay.peephole), _multipliers(eff_peep),
        per_gate(dict(zip(range(4), LAYER_NORMS)), np.int16, lay.norm),
        per_gate(gate_biases, np.int32, lay.norm),      # layer norm adds the gate bias itself
        _multipliers(norm_scale), np.array([max(1, int(F32(10000) * s)) for s in norm_scale], np.int32),
        wp, bias_p,
        # gemmlowp's sigmoid (Q3.12 in) and tanh (Q3.12 for the cell gate, 15 + cell_scale integer
        # bits for c) as tables over all int16 inputs, shared by the ops of the process
        (fx16_table("logistic", 3), fx16_table("tanh", 3), fx16_table("tanh", 15 + cell_scale)))
    arrays = tuple(tuple(ctx.persistent(b) for b in a) if isinstance(a, tuple) else ctx.persistent(a)
                   for a in arrays)
    rows, width = lay.steps * lay.batch, len(gates) * n_cell
    block = lay.batch if lay.time_major else 1        # rows one step updates together
    slots = (ctx.scratch((rows, width), np.int16),      # every step's gates, input share first
             ctx.scratch((block, n_cell), np.int8))     # the hidden o * tanh(c) before projection
    return (rows, lay.n_input, n_output, n_cell), ctx.persistent(params), arrays, slots


def _saturating_cast(value, bits):
    """static_cast<intN_t>(min(max(value, lo), hi)) on a float32 (truncates toward zero)."""
    lo, hi = -(1 << (bits - 1)), (1 << (bits - 1)) - 1
    return int(min(max(float(value), lo), hi))


def eval_integer(data, ins, outs, scratch):
    (rows, n_input, n_output, n_cell), params, arrays, slots = data
    (wx, bias_x, (mx, sx), wh, bias_h, (mh, sh), peep, (mp, sp), norm, norm_bias, (mn, sn),
     guard, wp, bias_p, (sigmoid, tanh_gate, tanh_cell)) = arrays
    gx = scratch[slots[0]]
    input_gates(ins[INPUT].reshape(rows, n_input), wx, bias_x, mx, sx, n_cell, gx)
    lstm_integer(gx, ins[OUTPUT_STATE].reshape(-1, n_output), ins[CELL_STATE].reshape(-1, n_cell),
                 outs[0].reshape(rows, n_output), wh, bias_h, mh, sh, peep, mp, sp, norm, norm_bias,
                 mn, sn, guard, wp, bias_p, sigmoid, tanh_gate, tanh_cell, params, scratch[slots[1]])


# -- integer: eval -----------------------------------------------------------------------------
@jit
def input_gates(x, w, bias, mult, shift, n_cell, gx):
    """gx[r, k] = sat16(mbqm(bias[k] + w[k] . x[r])), the gate k's share of input row r (the
    first MatrixBatchVectorMultiplyAccumulate of each gate)."""
    n = x.shape[1]
    for r in range(x.shape[0]):
        xr = x[r]
        for k in range(w.shape[0]):
            wk = w[k]
            acc = np.int32(0)
            for j in range(n):
                acc += np.int32(wk[j]) * np.int32(xr[j])
            g = k // n_cell
            gx[r, k] = clamp(mbqm(wrap_int32(np.int64(acc) + bias[k]), mult[g], shift[g]), -32768, 32767)


@jit
def _layer_norm(gate, weights, bias, mult, shift, guard):
    """PortableApplyLayerNorm on one row, in place: integer mean and variance (x1024), an inverse
    square root multiplier, the coefficients (and the gate bias) then rescaling to Q3.12."""
    n = gate.shape[0]
    total = np.int64(0)
    squares = np.int64(0)
    for j in range(n):
        v = np.int64(gate[j])
        total += v
        squares += v * v
    mean = _c_div(total * 1024, n)
    variance = _c_div(squares * _c_div(np.int64(1 << 20), n) - mean * mean, 1 << 20)
    if variance < 1:
        variance = np.int64(guard)
    inv_m, inv_s = inv_sqrt_multiplier(variance)
    for j in range(n):
        rescaled = mbqm(wrap_int32(1024 * np.int64(gate[j]) - mean), inv_m, inv_s)
        v = wrap_int32(wrap_int32(rescaled * np.int64(weights[j])) + bias[j])
        v = _c_div(v + 512 if v > 0 else v - 512, 1024)
        gate[j] = clamp(mbqm(v, mult, shift + 12), -32768, 32767)


@jit(inline="always")
def _c_div(a, b):
    """C integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q


@jit
def _peephole(gates, at, cell, weights, mult, shift, n_output):
    """VectorBatchVectorCwiseProductAccumulate as the reference calls it: with n_output as the
    vector length, over the block's flat gate and cell buffers (the same as per row when
    n_output == n_cell, which is the usual case)."""
    n_cell = cell.shape[1]
    for k in range(gates.shape[0] * n_output):
        b, j = k // n_cell, k % n_cell
        prod = mbqm(np.int64(weights[k % n_output]) * np.int64(cell[b, j]), mult, shift)
        gates[b, at + j] = clamp(prod + gates[b, at + j], -32768, 32767)


@jit
def lstm_integer(gx, h, c, out, wh, bias_h, mult_h, shift_h, peep, mult_p, shift_p, norm, norm_bias,
                 mult_n, shift_n, guard, wp, bias_p, sigmoid, tanh_gate, tanh_cell, params, hidden):
    """The recurrence. gx [rows, width]: input contributions (input_gates), where each step then
    computes its gates; h [batch, n_output] int8 and c [batch, n_cell] int16: the states, updated
    in place; out [rows, n_output]."""
    cifg, use_peep, use_norm, use_proj = (params[P_CIFG] != 0, params[P_PEEPHOLE] != 0, params[P_NORM] != 0,
                                          params[P_PROJ] != 0)
    cell_scale = params[P_CELL_SCALE]
    time_major, steps, batch = params[P_TIME_MAJOR] != 0, params[P_STEPS], params[P_BATCH]
    n_cell = c.shape[1]
    n_gates = gx.shape[1] // n_cell
    if time_major:          # one step updates every batch row at once
        for t in range(steps):
            _step_integer(gx[t * batch:(t + 1) * batch], h, c, out[t * batch:(t + 1) * batch], wh, bias_h,
                          mult_h, shift_h, peep, mult_p, shift_p, norm, norm_bias, mult_n, shift_n, guard,
                          wp, bias_p, sigmoid, tanh_gate, tanh_cell, params, hidden, cifg, use_peep,
                          use_norm, use_proj, cell_scale, n_gates)
    else:                   # batch rows one after the other, each through all its steps
        for b in range(batch):
            for t in range(steps):
                r = b * steps + t
                _step_integer(gx[r:r + 1], h[b:b + 1], c[b:b + 1], out[r:r + 1], wh, bias_h, mult_h,
                              shift_h, peep, mult_p, shift_p, norm, norm_bias, mult_n, shift_n, guard,
                              wp, bias_p, sigmoid, tanh_gate, tanh_cell, params, hidden, cifg, use_peep,
                              use_norm, use_proj, cell_scale, n_gates)


@jit
def _step_integer(gates, h, c, out, wh, bias_h, mult_h, shift_h, peep, mult_p, shift_p, norm, norm_bias,
                  mult_n, shift_n, guard, wp, bias_p, sigmoid, tanh_gate, tanh_cell, params, hidden, cifg,
                  use_peep, use_norm, use_proj, cell_scale, n_gates):
    """One step for the rows of one block: gates [nb, width] holds their input shares."""
    nb, n_cell, n_output = gates.shape[0], c.shape[1], h.shape[1]
    # recurrent contributions, added (saturating) to the input ones
    for b in range(nb):
        hb = h[b]
        for k in range(n_gates * n_cell):
            wk = wh[k]
            acc = np.int32(0)
            for j in range(n_output):
                acc += np.int32(wk[j]) * np.int32(hb[j])
            g = k // n_cell
            v = mbqm(wrap_int32(np.int64(acc) + bias_h[k]), mult_h[g], shift_h[g]) + gates[b, k]
            gates[b, k] = clamp(v, -32768, 32767)
    first = 0 if cifg else 1     # position of the forget gate among the stacked gates
    for g in range(n_gates - 1):     # input?, forget and cell gates: the output gate waits for c
        is_cell = g == first + 1
        _finish_gate_integer(gates, g, is_cell, c, use_peep, peep, mult_p, shift_p, use_norm, norm, norm_bias,
                             mult_n, shift_n, guard, n_output, tanh_gate if is_cell else sigmoid)
    # c = f c + i g (CIFG: i = 1 - f), in Q0.15 products rescaled to the cell scale
    f_at, g_at = first * n_cell, (first + 1) * n_cell
    for b in range(nb):
        for j in range(n_cell):
            forget = np.int64(gates[b, f_at + j])
            gate_in = 32767 - forget if cifg else np.int64(gates[b, j])
            kept = wrap_int16(rdbpot(forget * np.int64(c[b, j]), 15))
            added = wrap_int16(rdbpot(gate_in * np.int64(gates[b, g_at + j]), 30 + cell_scale))
            v = clamp(kept + added, -32768, 32767)
            if params[P_CELL_CLIP] > 0:
                v = clamp(v, -params[P_CELL_CLIP], params[P_CELL_CLIP])
            c[b, j] = v
    _finish_gate_integer(gates, n_gates - 1, False, c, use_peep, peep, mult_p, shift_p, use_norm, norm,
                         norm_bias, mult_n, shift_n, guard, n_output, sigmoid)
    # h = o tanh(c), as int8 with the hidden scale, then the projection if any
    o_at = (n_gates - 1) * n_cell
    zp = -params[P_HIDDEN_ZP] if use_proj else params[P_HIDDEN_ZP]
    dst = hidden if use_proj else h       # without projection n_output == n_cell
    for b in range(nb):
        for j in range(n_cell):
            t = np.int64(tanh_cell[np.int64(c[b, j]) + 32768])
            v = mbqm(np.int64(gates[b, o_at + j]) * t, params[P_HIDDEN_M], params[P_HIDDEN_S]) + zp
            dst[b, j] = clamp(v, -128, 127)
    if use_proj:
        clip = params[P_PROJ_CLIP]
        for b in range(nb):
            hid = hidden[b]
            for k in range(n_output):
                wk = wp[k]
                acc = np.int32(0)
                for j in range(n_cell):
                    acc += np.int32(wk[j]) * np.int32(hid[j])
                v = mbqm(wrap_int32(np.int64(acc) + bias_p[k]), params[P_PROJ_M], params[P_PROJ_S])
                v = clamp(v + params[P_OUTPUT_ZP], -128, 127)
                if clip > 0:
                    v = clamp(v, -clip, clip)
                h[b, k] = v
    for b in range(nb):
        for k in range(n_output):
            out[b, k] = h[b, k]


@jit
def _finish_gate_integer(gates, g, is_cell_gate, c, use_peep, peep, mult_p, shift_p, use_norm, norm,
                         norm_bias, mult_n, shift_n, guard, n_output, activation):
    """Peephole, layer norm and activation (a table) of stacked gate g (CalculateLstmGateInteger8x8_16)."""
    n_cell = c.shape[1]
    at = g * n_cell
    if use_peep and not is_cell_gate:
        _peephole(gates, at, c, peep[g], mult_p[g], shift_p[g], n_output)
    for b in range(gates.shape[0]):
        row = gates[b, at:at + n_cell]
        if use_norm:
            _layer_norm(row, norm[g], norm_bias[g], mult_n[g], shift_n[g], guard[g])
        for j in range(n_cell):
            row[j] = activation[np.int64(row[j]) + 32768]


# -- hybrid: prepare ---------------------------------------------------------------------------
def prepare_hybrid(ctx, lay):
    """EvalHybrid's operands: int8 matrices with their row sums (for asymmetric inputs), their
    scales, and the float vectors (biases, dequantized peepholes, layer-norm coefficients)."""
    specs = _weights(ctx, lay)
    n_cell, n_output, gates = lay.n_cell, lay.n_output, lay.gates
    zeros8 = np.zeros(n_output, np.int8)
    wx = [specs[INPUT_WEIGHTS[g]].data for g in gates]
    wh = [specs[RECURRENT_WEIGHTS[g]].data if not lay.diag[g] else np.tile(zeros8, (n_cell, 1)) for g in gates]
    scale = lambda i: F32(specs[i].scale)   # noqa: E731
    zeros = np.zeros(n_cell, F32)
    vectors = np.stack([
        np.stack([specs[BIASES[g]].data for g in gates]),
        np.stack([specs[RECURRENT_WEIGHTS[g]].data if lay.diag[g] else zeros for g in gates]),
        # peephole weights dequantized as VectorScalarMultiply does: float32(scale * w)
        np.stack([scale(PEEPHOLE_OF[g]) * specs[PEEPHOLE_OF[g]].data.astype(F32)
                  if lay.peephole and g != 2 else zeros for g in gates]),
        np.stack([specs[LAYER_NORMS[g]].data if lay.norm else zeros for g in gates])]).astype(F32)
    if lay.proj:
        wp = specs[PROJ_WEIGHTS].data
        bp = np.array(specs[PROJ_BIAS].data if lay.proj_bias else np.zeros(n_output), F32)
        proj_scale = scale(PROJ_WEIGHTS)
    else:
        wp, bp, proj_scale = np.zeros((0, n_cell), np.int8), np.zeros(0, F32), F32(1)
    arrays = tuple(ctx.persistent(a) for a in (
        np.concatenate(wx).astype(np.int8), _row_sums(np.concatenate(wx)).astype(np.int32),
        np.array([scale(INPUT_WEIGHTS[g]) for g in gates], F32),
        np.concatenate(wh).astype(np.int8), _row_sums(np.concatenate(wh)).astype(np.int32),
        np.array([scale(RECURRENT_WEIGHTS[g]) if not lay.diag[g] else 0 for g in gates], F32),
        np.array([lay.diag[g] for g in gates], np.bool_), vectors,
        np.array(wp, np.int8), _row_sums(wp).astype(np.int32), bp))
    rows, width = lay.steps * lay.batch, len(gates) * n_cell
    block = lay.batch if lay.time_major else 1
    slots = (ctx.scratch((rows, width), F32),                     # gate sums, input part first
             ctx.scratch((rows, lay.n_input), np.int8),            # quantized input rows
             ctx.scratch((rows,), F32), ctx.scratch((rows,), np.int32),
             ctx.scratch((block, n_output), np.int8),    # quantized output state rows
             ctx.scratch((block, n_cell), np.int8),      # quantized hidden rows
             ctx.scratch((block,), F32), ctx.scratch((block,), np.int32),
             ctx.scratch((block, n_cell), F32))          # hidden o * act(c)
    flags = (lay.time_major, lay.steps, lay.batch, lay.asymmetric, lay.cifg, lay.peephole, lay.norm,
             lay.proj, lay.act)
    clips = (F32(lay.cell_clip), F32(lay.proj_clip), proj_scale)
    return (rows, lay.n_input, n_output, n_cell), arrays, slots, flags, clips


def eval_hybrid(data, ins, outs, scratch):
    (rows, n_input, n_output, n_cell), arrays, slots, flags, clips = data
    wx, sums_x, scale_x, wh, sums_h, scale_h, diag, vectors, wp, sums_p, bias_p = arrays
    gates, xq, x_sf, x_zp, hq, hidden_q, q_sf, q_zp, hidden = (scratch[s] for s in slots)
    asymmetric = flags[3]
    quantize_rows(ins[INPUT].reshape(rows, n_input), xq, x_sf, x_zp, asymmetric)
    hybrid_input_gates(xq, x_sf, x_zp, wx, sums_x, scale_x, vectors[0], flags[6], asymmetric, gates)
    lstm_hybrid(gates, ins[OUTPUT_STATE].reshape(-1, n_output), ins[CELL_STATE].reshape(-1, n_cell),
                outs[0].reshape(rows, n_output), wh, sums_h, scale_h, diag, vectors, wp, sums_p, bias_p,
                hq, hidden_q, q_sf, q_zp, hidden, *flags, *clips)


# -- hybrid: eval ------------------------------------------------------------------------------
@jit(inline="always")
def _round_half_away(x):
    """std::round on a float32, as an integer."""
    y = np.float64(x)
    r = np.floor(abs(y) + 0.5)
    return np.int64(r if y >= 0 else -r)


@jit
def quantize_rows(x, q, sf, zp, asymmetric):
    """BatchQuantizeFloats: each row of x to int8, with its scale (and zero point when
    asymmetric): Portable{Symmetric,Asymmetric}QuantizeFloats."""
    for r in range(x.shape[0]):
        row, qr = x[r], q[r]
        lo, hi = row[0], row[0]
        for v in row:
            lo = min(lo, v)
            hi = max(hi, v)
        if asymmetric:
            rmin = np.float64(min(F32(0), lo))
            rmax = np.float64(max(F32(0), hi))
            if rmin == rmax:
                qr[:] = 0
                sf[r], zp[r] = F32(1), 0
                continue
            scale = (rmax - rmin) / 255.0
            from_min, from_max = -128.0 - rmin / scale, 127.0 - rmax / scale
            z = from_min if 128.0 + abs(rmin / scale) < 127.0 + abs(rmax / scale) else from_max
            offset = -128 if z <= -128.0 else (127 if z >= 127.0 else _round_half_away(z))
            sf[r], zp[r] = F32(scale), offset
            inv = F32(1) / F32(scale)
            for j in range(row.shape[0]):
                qr[j] = clamp(_round_half_away(F32(offset) + row[j] * inv), -128, 127)
        else:
            bound = max(abs(lo), abs(hi))
            zp[r] = 0
            if bound == 0:
                qr[:] = 0
                sf[r] = F32(1)
                continue
            sf[r] = bound / F32(127)
            inv = F32(127) / bound
            for j in range(row.shape[0]):
                qr[j] = clamp(_round_half_away(row[j] * inv), -127, 127)


@jit(inline="always")
def _scaled_dot(w, q, row_sum, zero_point, scale):
    """float32(w . (q - zero_point)) * scale (the hybrid MatrixBatchVectorMultiplyAccumulate)."""
    acc = np.int32(0)
    for j in range(q.shape[0]):
        acc += np.int32(w[j]) * np.int32(q[j])
    return F32(acc - row_sum * zero_point) * scale


@jit
def hybrid_input_gates(xq, x_sf, x_zp, w, row_sums, scale, bias, use_norm, asymmetric, gates):
    """gates[r] = bias (0 with layer norm) + the input's share, for every input row."""
    n_cell = bias.shape[1]
    for r in range(xq.shape[0]):
        zp = x_zp[r] if asymmetric else 0
        for k in range(w.shape[0]):
            g = k // n_cell
            init = F32(0) if use_norm else bias[g, k % n_cell]
            gates[r, k] = init + _scaled_dot(w[k], xq[r], row_sums[k], zp, x_sf[r] * scale[g])


@jit
def lstm_hybrid(gates_all, h, c, out, wh, sums_h, scale_h, diag, vectors, wp, sums_p, bias_p, hq, hidden_q,
                q_sf, q_zp, hidden, time_major, steps, batch, asymmetric, cifg, use_peep, use_norm, use_proj, act,
                cell_clip, proj_clip, proj_scale):
    """The recurrence of LstmStepHybrid over all steps; states h, c updated in place."""
    if time_major:
        for t in range(steps):
            _step_hybrid(gates_all[t * batch:(t + 1) * batch], h, c, out[t * batch:(t + 1) * batch], wh,
                         sums_h, scale_h, diag, vectors, wp, sums_p, bias_p, hq, hidden_q, q_sf, q_zp, hidden,
                         asymmetric,
                         cifg, use_peep, use_norm, use_proj, act, cell_clip, proj_clip, proj_scale)
    else:
        for b in range(batch):
            for t in range(steps):
                r = b * steps + t
                _step_hybrid(gates_all[r:r + 1], h[b:b + 1], c[b:b + 1], out[r:r + 1], wh, sums_h, scale_h,
                             diag, vectors, wp, sums_p, bias_p, hq, hidden_q, q_sf, q_zp, hidden, asymmetric, cifg,
                             use_peep, use_norm, use_proj, act, cell_clip, proj_clip, proj_scale)


@jit(inline="always")
def _is_zero(a):
    """TFLite IsZeroVector over the rows of a 2-D block."""
    for r in range(a.shape[0]):
        for v in a[r]:
            if v != 0:
                return False
    return True


@jit
def _step_hybrid(gates, h, c, out, wh, sums_h, scale_h, diag, vectors, wp, sums_p, bias_p, hq, hidden_q, q_sf,
                 q_zp, hidden, asymmetric, cifg, use_peep, use_norm, use_proj, act, cell_clip, proj_clip, proj_scale):
    nb, n_cell, n_output = gates.shape[0], c.shape[1], h.shape[1]
    n_gates = gates.shape[1] // n_cell
    bias, diagonal, peep, norm = vectors[0], vectors[1], vectors[2], vectors[3]
    # the recurrent share, skipped when the whole output state is zero
    if not _is_zero(h):
        quantize_rows(h, hq, q_sf, q_zp, asymmetric)
        for b in range(nb):
            zp = q_zp[b] if asymmetric else 0
            for k in range(n_gates * n_cell):
                g, j = k // n_cell, k % n_cell
                if diag[g]:
                    gates[b, k] += diagonal[g, j] * h[b, j]
                else:
                    gates[b, k] += _scaled_dot(wh[k], hq[b], sums_h[k], zp, q_sf[b] * scale_h[g])
    first = 0 if cifg else 1
    f_at, g_at, o_at = first * n_cell, (first + 1) * n_cell, (first + 2) * n_cell
    for b in range(nb):
        row, cell = gates[b], c[b]
        for g in range(n_gates - 1):
            at = g * n_cell
            is_cell = g == first + 1
            _finish_gate(row[at:at + n_cell], peep[g], cell, use_peep and not is_cell, norm[g], use_norm,
                         bias[g], act if is_cell else ACT_SIGMOID)
        for j in range(n_cell):
            forget = row[f_at + j]
            gate_in = F32(1) - forget if cifg else row[j]
            v = forget * cell[j] + row[g_at + j] * gate_in
            if cell_clip > 0:
                v = min(max(v, -cell_clip), cell_clip)
            cell[j] = v
        _finish_gate(row[o_at:], peep[n_gates - 1], cell, use_peep, norm[n_gates - 1], use_norm,
                     bias[n_gates - 1], ACT_SIGMOID)
        dst = hidden[b] if use_proj else h[b]
        # with no activation the reference leaves the cell gate where act(c) would be
        _activate(row[g_at:o_at] if act == ACT_NONE else cell, dst, act)
        for j in range(n_cell):
            dst[j] *= row[o_at + j]
    if use_proj:
        for b in range(nb):
            for k in range(n_output):
                h[b, k] = bias_p[k]
        if not _is_zero(hidden):
            quantize_rows(hidden, hidden_q, q_sf, q_zp, asymmetric)
            for b in range(nb):
                zp = q_zp[b] if asymmetric else 0
                for k in range(n_output):
                    h[b, k] += _scaled_dot(wp[k], hidden_q[b], sums_p[k], zp, q_sf[b] * proj_scale)
        if proj_clip > 0:
            for b in range(nb):
                for k in range(n_output):
                    h[b, k] = min(max(h[b, k], -proj_clip), proj_clip)
    for b in range(nb):
        for k in range(n_output):
            out[b, k] = h[b, k]
