"""Intra-op threads: run an op's independent chunks (rows of a convolution, columns of a GEMM)
on `num_threads` threads.

Kernel cores are numba functions compiled with nogil=True (and, on a device without numba, C
functions called through ctypes, which also release the GIL), so plain Python threads run them in
parallel. Unlike numba's parallel=True, this needs no numba runtime in the compiled cores, so the
same kernels stay ahead-of-time compilable. A kernel that wants threads splits its work in
prepare (when ctx.num_threads > 1 and the op is big enough to pay for the hand-off, ~20 us), makes
one argument tuple per chunk in bind (views, no copies), and calls run_chunks in eval.
"""
from concurrent.futures import ThreadPoolExecutor

_pool = None
_pool_size = 0


def _executor(n):
    global _pool, _pool_size
    if _pool is None or _pool_size < n:
        if _pool is not None:
            _pool.shutdown(wait=True)
        _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="litert")
        _pool_size = n
    return _pool


def run_chunks(fn, chunks):
    """fn(*args) for every args in chunks; the calling thread takes the first chunk."""
    if len(chunks) == 1:
        fn(*chunks[0])
        return
    pool = _executor(len(chunks) - 1)
    pending = [pool.submit(fn, *args) for args in chunks[1:]]
    fn(*chunks[0])
    for f in pending:
        f.result()


def split(n, parts):
    """[(start, stop)] cutting range(n) into at most `parts` nearly equal non-empty pieces."""
    parts = max(1, min(parts, n))
    return [(n * k // parts, n * (k + 1) // parts) for k in range(parts)]
