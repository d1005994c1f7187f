"""The memory plan: one arena close to the lower bound, no allocation during invoke, and
preserve_all_tensors changing nothing but memory."""
import numpy as np
import pytest

from conftest import models_dir
from oneop import measure_invoke
from litert import Interpreter
from litert.planner import Block, lower_bound, plan_arena

MODELS = models_dir()
PATHS = sorted(MODELS.rglob("*.tflite")) if MODELS else []
ids = lambda p: f"{p.parent.name}/{p.stem}"  # noqa: E731


def load_inputs(it, path):
    stem = str(path)[:-len(".tflite")]
    for i, d in enumerate(it.get_input_details()):
        try:
            x = np.load(f"{stem}.input{i}.npy")
        except FileNotFoundError:
            x = np.zeros(d["shape"], d["dtype"])
        it.set_tensor(d["index"], x)


def test_planner_reuses_memory_and_aligns():
    blocks = [Block("a", 100, 0, 1), Block("b", 100, 1, 2), Block("c", 100, 2, 3), Block("d", 30, 3, 3)]
    total = plan_arena(blocks)
    assert all(b.offset % 64 == 0 for b in blocks)
    assert total == 2 * 128                # a and c share offset 0, b and then d sit at 128
    assert lower_bound(blocks) == 200      # two 100-byte blocks alive at steps 1 and 2
    for x in blocks:
        for y in blocks:
            if x is not y and x.overlaps(y):
                assert x.offset + x.size <= y.offset or y.offset + y.size <= x.offset


def test_planner_random_plans_never_overlap():
    rng = np.random.default_rng(0)
    for _ in range(50):
        blocks = []
        for k in range(40):
            a, b = sorted(rng.integers(0, 20, 2))
            blocks.append(Block(k, int(rng.integers(1, 5000)), int(a), int(b)))
        total = plan_arena(blocks)
        assert total >= lower_bound(blocks)
        for x in blocks:
            assert x.offset + x.size <= total
            for y in blocks:
                if x is not y and x.overlaps(y):
                    assert x.offset + x.size <= y.offset or y.offset + y.size <= x.offset


@pytest.mark.parametrize("path", PATHS, ids=ids)
def test_arena_near_lower_bound(path):
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    planned = it.arena_plan()
    assert it.arena_used_bytes() <= it.arena_lower_bound() + 64 * len(planned), \
        (it.arena_used_bytes(), it.arena_lower_bound(), len(planned))


@pytest.mark.parametrize("path", PATHS, ids=ids)
def test_invoke_allocates_no_numpy_memory(path):
    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    load_inputs(it, path)
    held, peak = measure_invoke(it)   # after warm-up invokes (numba compiles or loads its cache)
    assert held == 0, f"{held} bytes of numpy memory still held after invoke()"
    # and no temporary buffer during the call either: the only Python allocations are small
    # objects (views, tuples)
    assert peak < 64 * 1024, f"{peak} bytes allocated at the peak of invoke()"


@pytest.mark.parametrize("path", PATHS, ids=ids)
def test_preserve_all_tensors_gives_same_outputs(path):
    outs = []
    for preserve in (False, True):
        it = Interpreter(model_path=str(path), experimental_preserve_all_tensors=preserve)
        it.allocate_tensors()
        load_inputs(it, path)
        it.invoke()
        outs.append([it.get_tensor(d["index"]) for d in it.get_output_details()])
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a, b)
