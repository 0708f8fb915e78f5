"""Which rows each training step reads, reproducibly.

Every worker draws its share of each global batch from its own partition:
pass after pass over its rows, each pass in a fresh order that depends only
on (seed, worker, pass number). So the rows a step reads depend only on how
many rows came before it, and training can resume at any step.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np


class IndexStream:
    """Row indices for one worker; `seek(drawn)` jumps to any position.

    Example:
        >>> s = IndexStream(rows=5, shuffle=False, seed=0, rank=0)
        >>> s.next(7).tolist()
        [0, 1, 2, 3, 4, 0, 1]
    """

    def __init__(self, rows: int, shuffle: bool, seed: int, rank: int):
        self.rows, self.shuffle, self.seed, self.rank = rows, shuffle, seed, rank
        self.seek(0)

    def _order(self, pass_number: int) -> np.ndarray:
        if not self.shuffle:
            return np.arange(self.rows)
        return np.random.default_rng([self.seed, self.rank, pass_number]).permutation(self.rows)

    def seek(self, drawn: int) -> None:
        """Positions the stream as if `drawn` rows had been read."""
        self.pass_number, self.pos = divmod(drawn, self.rows)
        self.order = self._order(self.pass_number)

    def next(self, k: int) -> np.ndarray:
        parts = []
        while k > 0:
            if self.pos == self.rows:
                self.pass_number += 1
                self.order, self.pos = self._order(self.pass_number), 0
            take = min(k, self.rows - self.pos)
            parts.append(self.order[self.pos:self.pos + take])
            self.pos += take
            k -= take
        # In drawn order: a batch must be a random sample, not a run of
        # neighbouring rows (sorted input would give one-class batches).
        return np.concatenate(parts)


def plan_chunks(first_iteration: int, count: int, per_call: int, periods: Iterable[int]) -> list[int]:
    """Splits `count` steps that start after `first_iteration` into calls of at
    most `per_call` steps that end on every multiple of each period (where a
    trigger may fire).

    Example:
        >>> plan_chunks(0, 10, 4, [5])
        [4, 1, 4, 1]
    """
    periods = [p for p in periods if p]
    chunks, iteration, end = [], first_iteration, first_iteration + count
    while iteration < end:
        stop = min(end, iteration + per_call)
        for p in periods:
            stop = min(stop, (iteration // p + 1) * p)
        chunks.append(stop - iteration)
        iteration = stop
    return chunks
