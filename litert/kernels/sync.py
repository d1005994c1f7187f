"""The hand-off between the threads that run one op's chunks (litert/threads.py), done inside the
kernel cores, without the GIL.

Waking a sleeping thread costs tens of microseconds (a futex wake across cores: ~30 us on a
2-core VM, far more when the other virtual CPU was idle for a while), as does a thread that has
to wait for the GIL, against 10-300 us for an op. So the threads of a split op meet through flags
in one shared int64 array, SYNC, with atomic loads, stores and compare-and-swaps (plain
instructions on x86 and aarch64: the cores stay ahead-of-time compilable). Every threaded core
takes (sync, part) last, part = (k, n): chunk k of n, and reads

    if chunk_start(sync, part):
        ... the chunk's work ...
    chunk_end(sync, part)

- chunk_start in chunk 0 (the caller, which holds no GIL by then) sets GO[j] = SYNC[SEQ] for the
  workers j = 1..n-1. A worker spinning for it (threads.py) sees it, takes the GIL (free: the
  caller is in its core) and calls its own core, whose chunk_start claims the chunk (CLAIM[k] =
  its op number MINE[k], unless someone did already) and says whether to do it.
- chunk_end in a worker: DONE[k] = its op number, then spin until the next GO (or AFTER[k]
  rounds), so that its core returns, and wants the GIL, only once the caller is in a core again.
- chunk_end in chunk 0: a chunk no worker has claimed yet is claimed for the caller (STOLEN[j]:
  run_chunks runs it), so that a late worker (asleep, or its virtual CPU not running) never holds
  the op up; then spin until the claimed ones are DONE, or SYNC[LEAD] rounds (run_chunks then
  waits, sleeping).
With n = 1 (part (0, 1)) there is nothing to do. The arithmetic of a core does not depend on k:
chunks only choose which outputs a core computes.
"""
import numpy as np
from llvmlite import ir
from numba import types
from numba.extending import intrinsic

from .common import jit

MAX_THREADS = 64
LINE = 8                        # int64 per 64-byte cache line: each worker's flags on a line of their own
SEQ, LEAD = 0, 1                # SYNC[SEQ]: the current op's number; SYNC[LEAD]: how long (loop rounds)
                                # chunk 0 spins for the others
GO, DONE, AFTER, CLAIM, MINE, STOLEN = range(6)   # in worker k's line, which starts at k * LINE
SYNC = np.zeros(MAX_THREADS * LINE, np.int64)


def _pointer(context, builder, ty, array, index):
    return builder.gep(context.make_array(ty)(context, builder, array).data, [index])


def _int64(builder, value):
    return builder.sext(value, ir.IntType(64)) if value.type != ir.IntType(64) else value


@intrinsic
def load_acquire(typingctx, array, index):
    """array[index] (int64), read with acquire ordering."""
    def codegen(context, builder, signature, args):
        return builder.load_atomic(_pointer(context, builder, signature.args[0], *args), "acquire", 8)
    return types.int64(array, index), codegen


@intrinsic
def store_release(typingctx, array, index, value):
    """array[index] = value (int64), written with release ordering."""
    def codegen(context, builder, signature, args):
        ptr = _pointer(context, builder, signature.args[0], args[0], args[1])
        builder.store_atomic(_int64(builder, args[2]), ptr, "release", 8)
        return context.get_dummy_value()
    return types.void(array, index, value), codegen


@intrinsic
def compare_swap(typingctx, array, index, expected, value):
    """array[index] = value if it holds `expected` (int64), atomically; whether it did."""
    def codegen(context, builder, signature, args):
        ptr = _pointer(context, builder, signature.args[0], args[0], args[1])
        pair = builder.cmpxchg(ptr, _int64(builder, args[2]), _int64(builder, args[3]), "acq_rel", "acquire")
        return builder.extract_value(pair, 1)
    return types.boolean(array, index, expected, value), codegen


@jit(inline="always")
def _claim(sync, k, seq):
    """Claim worker chunk k of op `seq` (op numbers only grow): whether this call got it."""
    at = k * LINE + CLAIM
    while True:
        held = load_acquire(sync, at)
        if held >= seq:
            return False
        if compare_swap(sync, at, held, seq):
            return True


@jit(inline="always")
def chunk_start(sync, part):
    """Whether this thread does its chunk (a worker's may have been taken by chunk 0)."""
    k, n = part
    if k == 0:
        seq = sync[SEQ]
        for j in range(1, n):
            store_release(sync, j * LINE + GO, seq)
        return True
    return _claim(sync, k, sync[k * LINE + MINE])


@jit(inline="always")
def chunk_end(sync, part):
    k, n = part
    if k > 0:
        seq = sync[k * LINE + MINE]
        store_release(sync, k * LINE + DONE, seq)
        for _ in range(sync[k * LINE + AFTER]):
            if load_acquire(sync, k * LINE + GO) != seq:
                break
        return
    seq = sync[SEQ]
    for j in range(1, n):
        if _claim(sync, j, seq):
            store_release(sync, j * LINE + STOLEN, seq)
    j = 1
    for _ in range(sync[LEAD]):
        while j < n and (load_acquire(sync, j * LINE + STOLEN) == seq
                         or load_acquire(sync, j * LINE + DONE) == seq):
            j += 1
        if j == n:
            return
