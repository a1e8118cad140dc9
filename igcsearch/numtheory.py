"""Vectorised divisor tables: every divisor of many integers at once, in ascending order."""

from __future__ import annotations

from functools import lru_cache

import numpy as np


@lru_cache(maxsize=8)
def _table(limit: int) -> tuple[np.ndarray, np.ndarray]:
    """CSR table (offsets, divisors) of every n in [0, limit]; divisors ascending."""
    d = np.arange(1, limit + 1, dtype=np.int64)
    counts = limit // d
    owner = np.repeat(d, counts)
    starts = np.cumsum(counts) - counts
    rank = np.arange(owner.size, dtype=np.int64) - np.repeat(starts, counts) + 1
    multiple = owner * rank
    order = np.lexsort((owner, multiple))
    divisors = owner[order]
    per_n = np.bincount(multiple, minlength=limit + 1)
    offsets = np.concatenate([[0], np.cumsum(per_n)])
    return offsets, divisors


def _limit_for(n: int) -> int:
    limit = 1024
    while limit < n:
        limit *= 2
    return limit


def divisors_of(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each value, all its divisors: (index of the value, divisor), value-major, ascending."""
    values = np.asarray(values, dtype=np.int64)
    if values.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    offsets, table = _table(_limit_for(int(values.max())))
    start = offsets[values]
    counts = offsets[values + 1] - start
    index = np.repeat(np.arange(values.size, dtype=np.int64), counts)
    within = np.arange(index.size, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return index, table[start[index] + within]


@lru_cache(maxsize=8)
def _keys(limit: int) -> np.ndarray:
    """n·(limit + 1) + d for every entry of ``_table(limit)``: ascending, for searchsorted."""
    offsets, table = _table(limit)
    owner = np.repeat(np.arange(limit + 1, dtype=np.int64), np.diff(offsets))
    return owner * (limit + 1) + table


def divisors_between(values: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Like ``divisors_of``, only the divisors d with lo[i] <= d <= hi[i] (two searchsorted calls)."""
    values = np.asarray(values, dtype=np.int64)
    if values.size == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    limit = _limit_for(int(values.max()))
    _, table = _table(limit)
    keys = _keys(limit)
    base = values * (limit + 1)
    start = np.searchsorted(keys, base + np.clip(lo, 1, values), side="left")
    stop = np.searchsorted(keys, base + np.clip(hi, 0, values), side="right")
    counts = np.maximum(stop - start, 0)
    index = np.repeat(np.arange(values.size, dtype=np.int64), counts)
    within = np.arange(index.size, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return index, table[start[index] + within]


def expand(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows i repeated counts[i] times: (row index, 0-based position within the row)."""
    counts = np.asarray(counts, dtype=np.int64).clip(min=0)
    index = np.repeat(np.arange(counts.size, dtype=np.int64), counts)
    within = np.arange(index.size, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return index, within


@lru_cache(maxsize=4)
def _ordered_factorisations(limit: int) -> np.ndarray:
    """H[n]: ordered factorisations of n into factors >= 2 (H[1] = 1), for n <= limit."""
    offsets, table = _table(limit)
    H = np.zeros(limit + 1, dtype=np.float64)
    H[1] = 1.0
    for n in range(2, limit + 1):
        H[n] = H[table[offsets[n] : offsets[n + 1] - 1]].sum()
    return H


def ordered_factorisations(values: np.ndarray) -> np.ndarray:
    """Number of ordered factorisations of each value (float: it grows fast)."""
    values = np.asarray(values, dtype=np.int64)
    return _ordered_factorisations(_limit_for(int(values.max(initial=1))))[values]


def divisor_counts(values: np.ndarray) -> np.ndarray:
    """d(n) for each value."""
    values = np.asarray(values, dtype=np.int64)
    offsets, _ = _table(_limit_for(int(values.max(initial=1))))
    return offsets[values + 1] - offsets[values]
