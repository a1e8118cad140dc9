"""Ranking measured rows: sort (failures last), number them, mark the Pareto front.

The front is over the dense rows only (``dense``: every output channel depends on every input
channel), unless ``pareto_all``: a group conv with g > 1 or a lone depthwise conv is cheap
because it does not compose a dense kernel, so it is listed and ranked (a baseline) but never
on the front. The rank order (by the sort key) is over all rows either way.
"""

from __future__ import annotations

import numpy as np

from .space import Chunk, sort_rows, take


def rank(rows: Chunk, by: str, with_latency: bool, pareto_all: bool = False) -> Chunk:
    """Sort (ties by key, failures last), number the rows, and mark the Pareto front (of the
    dense rows; of every row with ``pareto_all``)."""
    rows = sort_rows(rows, by)
    failed = rows["error"] != ""
    if failed.any():  # stable: measured rows in sort order, then the failures in sort order
        rows = take(rows, np.concatenate([np.flatnonzero(~failed), np.flatnonzero(failed)]))
    n = rows["key"].size
    rows["rank"] = np.arange(1, n + 1, dtype=np.int64)
    objectives = ("params", "macs", "latency_ms") if with_latency else ("params", "macs")
    rows["pareto"] = pareto(rows, objectives, dense_only=not pareto_all).astype(np.int8)
    return rows


def pareto(rows: Chunk, objectives: tuple[str, ...], dense_only: bool = False) -> np.ndarray:
    """True where no other row is <= on every objective and < on one (NaN rows never count;
    with ``dense_only`` neither do rows whose ``dense`` is not true)."""
    values = np.stack([rows[o].astype(np.float64) for o in objectives], axis=1)
    valid = np.isfinite(values).all(axis=1) & (rows["error"] == "")
    if dense_only:
        valid &= rows["dense"] == 1
    front = np.zeros(values.shape[0], dtype=bool)
    v = values[valid]
    idx = np.flatnonzero(valid)
    for j in range(v.shape[0]):
        le = (v <= v[j]).all(axis=1)
        lt = (v < v[j]).any(axis=1)
        front[idx[j]] = not (le & lt).any()
    return front
