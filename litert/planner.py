"""Memory planning: lifetimes -> offsets in one aligned arena.

Every buffer the runtime needs during invoke (activations, outputs, kernel scratch, the arenas of
called subgraphs) is a Block alive over a range of op steps. plan_arena places them like TFLite's
ArenaPlanner: blocks alive for the whole run first, then by size descending, each in the smallest
gap left by the blocks it overlaps in time (best fit), offsets aligned to 64 bytes.
"""
from dataclasses import dataclass

ALIGNMENT = 64


@dataclass
class Block:
    key: object          # ("tensor", index) or ("scratch", op, slot)
    size: int            # bytes
    first: int           # first step (op index) it is alive
    last: int            # last step it is alive
    offset: int = -1

    def overlaps(self, other):
        return self.first <= other.last and other.first <= self.last


def align(n, a=ALIGNMENT):
    return (n + a - 1) // a * a


def plan_arena(blocks, whole_run=(0, 0)):
    """Assign offsets to `blocks` in place; return the arena size in bytes (a multiple of 64)."""
    lo, hi = whole_run
    order = sorted(range(len(blocks)), key=lambda i: (
        not (blocks[i].first <= lo and blocks[i].last >= hi), -blocks[i].size, blocks[i].first, i))
    placed = []
    total = 0
    for i in order:
        b = blocks[i]
        if b.size == 0:
            b.offset = 0
            continue
        need = align(b.size)
        busy = sorted((p.offset, p.offset + align(p.size)) for p in placed if p.overlaps(b))
        best, best_gap, cursor = None, None, 0
        for start, end in busy:
            gap = start - cursor
            if gap >= need and (best_gap is None or gap < best_gap):
                best, best_gap = cursor, gap
            cursor = max(cursor, end)
        b.offset = best if best is not None else cursor
        placed.append(b)
        total = max(total, b.offset + need)
    return total


def lower_bound(blocks):
    """The largest number of bytes alive at any one step: no plan can use less."""
    if not blocks:
        return 0
    events = {}
    for b in blocks:
        events.setdefault(b.first, 0)
        events[b.first] += b.size
        events.setdefault(b.last + 1, 0)
        events[b.last + 1] -= b.size
    best = live = 0
    for t in sorted(events):
        live += events[t]
        best = max(best, live)
    return best
