"""Intra-op threads: run an op's independent chunks (rows of a convolution, columns of a GEMM)
on `num_threads` threads.

Kernel cores are numba functions compiled with nogil=True, so plain Python threads run them in
parallel. Unlike numba's parallel=True, this needs no numba runtime in the compiled cores, so the
same kernels stay ahead-of-time compilable. A kernel that wants threads cuts its work in prepare
(plan(): more than one chunk only when ctx.num_threads > 1 and the op is big enough to pay for
the hand-off), makes one argument tuple per chunk in bind (views, no copies; private scratch per
chunk from the arena, per_chunk(); then with_parts() appends what the hand-off needs), and calls
run_chunks in eval.

The hand-off. Waking a sleeping thread costs tens of microseconds here (a wake-up across the
cores of a 2-core VM: ~30 us, far more when the other virtual CPU sat idle), and so does waiting
for the GIL; an op of MobileNet takes 20-300 us. So the caller runs chunk 0 itself and the
workers meet it inside the cores, through flags in shared memory (litert/kernels/sync.py): a
worker spins for its next chunk, first inside its last core (AFTER_US), then politely (yielding
its CPU now and then: the scheduler may have put it on the caller's core; SPIN_US), then sleeps
on a semaphore that run_chunks releases. A chunk no worker has started when chunk 0 is done, chunk 0's thread runs
itself, so a late worker never holds an op up.

While one run_chunks is using the workers, a concurrent one (another interpreter on another
Python thread) runs its chunks one after the other in its own thread: slower, never wrong.
"""
import os
import threading
import time

import numba
from llvmlite import ir
from numba.core import cgutils
from numba.extending import intrinsic

# How a split pays (measured on the development machine, a 2-core x86-64 VM; see
# benchmarks/bench_threads.py): a spinning worker starts its chunk a few microseconds after the
# caller, so the caller's chunk is made larger by the work it does in that time; an op gets split
# only when each worker's chunk is still worth MIN_CHUNK_US. Kernels estimate their op's time on
# one core (`us`) from their own measured rates.
HANDOFF_US = 5.0
MIN_CHUNK_US = 6.0
AFTER_US = 300.0       # how long a worker spins for its next chunk inside its last core (no GIL
                       # wanted meanwhile: the caller may be running Python)
SPIN_US = 300.0        # then outside, politely, before it sleeps
LEAD_US = 300.0        # how long chunk 0 spins for the others before run_chunks sleeps between looks
MAX_THREADS = 64


class _Worker:
    """Thread k of the pool: runs fn(*args) each time run_chunks posts a chunk for it."""

    def __init__(self, k):
        self.k = k
        self.task = self.error = None
        self.mail = self.last = int(_flags()[k * _LINE])     # posted / last seen op numbers
        self.asleep = False
        self.lock = threading.Lock()          # guards mail and asleep
        self.wake = threading.Semaphore(0)
        threading.Thread(target=self._loop, name=f"litert-{k}", daemon=True).start()

    def post(self, fn, args, seq):
        with self.lock:
            self.task = (fn, args, seq)
            self.mail = seq
            asleep, self.asleep = self.asleep, False
        if asleep:
            self.wake.release()

    def _loop(self):
        sync = _flags()
        line = self.k * _LINE
        while True:
            if not _wait_go(sync, line + _GO, self.last, _state["spin"], _state["polite"]):
                with self.lock:               # idle: sleep, unless work was posted meanwhile
                    self.asleep = self.mail == self.last
                if self.asleep:
                    self.wake.acquire()
                continue
            fn, args, seq = self.task
            self.last = seq
            sync[line + _MINE] = seq
            sync[line + _AFTER] = _state["after"]
            try:
                fn(*args)        # claims the chunk (unless the caller took it), flags DONE, spins
            except BaseException as e:   # noqa: BLE001  (handed to the caller of op `seq`)
                self.error = (seq, e)
                sync[line + _DONE] = seq


_LINE, _GO, _DONE, _AFTER, _MINE, _STOLEN = 8, 0, 1, 2, 4, 5     # litert.kernels.sync's layout
_workers = []
_in_use = threading.Lock()       # held by the run_chunks that is using the workers
_state = {}                      # the flags array and the spin budgets, set up on first use


def _flags():
    """litert.kernels.sync.SYNC, set up on first use (the kernels import this module)."""
    if not _state:
        from .kernels import sync
        assert ((sync.LINE, sync.GO, sync.DONE, sync.AFTER, sync.MINE, sync.STOLEN)
                == (_LINE, _GO, _DONE, _AFTER, _MINE, _STOLEN))
        per_us = _rounds_per_us(sync.SYNC)
        _state.update(sync=sync.SYNC, spin=max(1000, int(per_us * SPIN_US)),
                      after=max(100, int(per_us * AFTER_US)), polite=max(10, int(per_us)))
        sync.SYNC[sync.LEAD] = max(1000, int(per_us * LEAD_US))
    return _state["sync"]


@intrinsic
def _load_acquire(typingctx, array, index):
    """array[index] (int64), read with acquire ordering (as litert.kernels.sync.load_acquire)."""
    def codegen(context, builder, signature, args):
        data = context.make_array(signature.args[0])(context, builder, args[0]).data
        return builder.load_atomic(builder.gep(data, [args[1]]), "acquire", 8)
    return numba.types.int64(array, index), codegen


@intrinsic
def _sched_yield(typingctx):
    """The C library's sched_yield(): let another thread waiting for this CPU run."""
    def codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.IntType(32), []), "sched_yield")
        builder.call(fn, [])
        return context.get_dummy_value()
    return numba.types.void(), codegen


@numba.njit(nogil=True, cache=True)
def _wait_go(flags, at, last, rounds, every):
    """Spin until flags[at] (a worker's GO) differs from `last` (True) or `rounds` loop rounds
    passed (False), yielding the CPU every `every` rounds. Not a kernel core: with numba only."""
    for i in range(rounds):
        if _load_acquire(flags, at) != last:
            return True
        if i % every == every - 1:
            _sched_yield()
    return False


def _rounds_per_us(sync):
    """Loop rounds of _wait_go per microsecond here."""
    _wait_go(sync, _LINE, sync[_LINE], 1000, 1 << 40)            # compiled or loaded from the cache
    rounds = 200_000
    t0 = time.perf_counter()
    _wait_go(sync, _LINE, sync[_LINE], rounds, 1 << 40)
    return rounds * 1e-6 / max(time.perf_counter() - t0, 1e-9)


def _reset_after_fork():
    """A forked child has the parent's worker objects but none of their threads."""
    global _workers, _in_use
    _workers = []
    _in_use = threading.Lock()
    if _state:
        lead = _state["sync"][1]
        _state["sync"].fill(0)
        _state["sync"][1] = lead


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_reset_after_fork)


def with_parts(chunks):
    """Each argument tuple with (SYNC, (k, n)) appended: what a threaded core takes last."""
    sync = _flags()
    n = len(chunks)
    return [tuple(args) + (sync, (k, n)) for k, args in enumerate(chunks)]


def run_chunks(fn, chunks):
    """fn(*args) for every args in chunks (made by with_parts), in parallel; the calling thread
    runs chunk 0, and any chunk that no worker started by the time it is done. Returns when all
    are done; an exception in any chunk is raised here."""
    n = len(chunks)
    if n == 1:
        fn(*chunks[0])
        return
    if not _in_use.acquire(blocking=False):
        for args in chunks:                   # the workers are busy: every chunk alone, here
            fn(*args[:-1], (0, 1))
        return
    try:
        sync = _flags()
        while len(_workers) < n - 1:
            _workers.append(_Worker(len(_workers) + 1))
        seq = int(sync[0]) + 1
        sync[0] = seq
        for k in range(1, n):
            _workers[k - 1].post(fn, chunks[k], seq)
        try:
            fn(*chunks[0])                    # starts the workers, takes the chunks none started
        except BaseException:
            for k in range(1, n):             # chunk 0 failed before its core started them
                _workers[k - 1].mail = _workers[k - 1].last
            raise
        error = None
        for k in range(1, n):
            if sync[k * _LINE + _STOLEN] == seq:      # no worker had started it: run it here
                try:
                    fn(*chunks[k][:-1], (0, 1))
                except BaseException as e:   # noqa: BLE001  (raised once all are done)
                    error = error or e
        for k in range(1, n):
            while sync[k * _LINE + _STOLEN] != seq and sync[k * _LINE + _DONE] != seq:
                # a worker still busy (perhaps queued on this very core) needs the CPU and the
                # GIL: a short real sleep gives it both (a yield loop would keep the GIL from it)
                time.sleep(20e-6)
        for k in range(1, n):
            w = _workers[k - 1]
            if w.error is not None:               # (an older one: its chunk was taken and run here)
                if w.error[0] == seq:
                    error = error or w.error[1]
                w.error = None
        if error is not None:
            raise error
    finally:
        _in_use.release()


def plan(num_threads, units, us, align=1):
    """Chunks [(start, stop)] of range(units) for an op that takes about `us` microseconds on one
    core: one chunk when splitting does not pay, else up to num_threads chunks whose inner
    boundaries are multiples of `align` (GEMM row tiles, channel panels); the first chunk, which
    the calling thread runs, is larger by what that thread does while the others start."""
    units = max(int(units), 0)
    blocks = -(-units // align)
    n = min(int(num_threads), blocks, int((us - HANDOFF_US) // MIN_CHUNK_US), MAX_THREADS)
    if n < 2:
        return [(0, units)]
    first = (us + (n - 1) * HANDOFF_US) / n / us       # fractions of the work
    rest = (1.0 - first) / (n - 1)
    cuts = [0]
    for k in range(1, n):
        cut = round((first + (k - 1) * rest) * blocks) * align
        cuts.append(min(max(cut, cuts[-1] + align), (blocks - n + k) * align))
    cuts.append(units)
    return list(zip(cuts, cuts[1:]))


def per_chunk(buffer, count):
    """`count` equal pieces of a 1-D scratch buffer: private scratch per chunk (im2col rows)."""
    size = buffer.shape[0] // count
    return [buffer[k * size:(k + 1) * size] for k in range(count)]
