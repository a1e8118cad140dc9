"""IGC-V2: interleaved structured sparse convolutions (Xie et al., CVPR 2018; docs/families.md#igc2).

y = P_n W_n ⋯ P_1 W_1 x: W_1 is a k×k group conv, W_2..W_n are 1×1 group convs, W_i has K_i
channels per group (C/K_i groups), each followed by channel_shuffle(C/K_i); one BN at the
end. Chains of length 2 are IGC-V1 (M = K_1, L = K_2) and are listed there, not here.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from math import prod
from typing import Any, ClassVar

import numpy as np

from ..config import BlockConfig
from ..cost import LayerCost, bn, conv, scalar
from ..numtheory import divisor_counts, divisors_between, divisors_of, ordered_factorisations
from ..registry import Family, register


@dataclass(frozen=True, kw_only=True)
class Igc2(BlockConfig):
    """IGC-V2 block of n >= 3 group convs, C_in = C_out = C = ∏ K_i."""

    K: tuple[int, ...]  # channels per group of each conv (K_i in IGC-V2); K_1 is the k×k one

    family: ClassVar[str] = "igc2"
    token: ClassVar[str] = "K{K}"

    def __post_init__(self) -> None:
        if not isinstance(self.K, tuple):
            object.__setattr__(self, "K", tuple(self.K) if isinstance(self.K, list) else self.K)
        super().__post_init__()

    def validate(self) -> None:
        if not isinstance(self.K, tuple) or not all(isinstance(k, int) and not isinstance(k, bool) for k in self.K):
            self.fail("K", self.K, "a list of integers")
        if len(self.K) < 3:
            self.fail("K", self.K, "a chain of n >= 3 factors (n = 2 is igc1 with M = K_1, L = K_2)")
        if self.K[0] < 1 or min(self.K[1:]) < 2:
            self.fail("K", self.K, "K_1 >= 1 and K_i >= 2 for i >= 2")
        if self.in_channels != self.out_channels:
            self.fail("out_channels", self.out_channels, f"equal to in_channels={self.in_channels} (IGC-V2 is square)")
        if prod(self.K) != self.out_channels:
            self.fail("K", self.K, f"a factorisation of C={self.out_channels} (complementary condition ∏K = C)")


def _chain(c: dict[str, Any]) -> tuple[Any, Any, Any]:
    """(K_1, sum of K_2..K_n, n) from the zero-padded K matrix."""
    K = c["K"]
    return K[:, 0], K[:, 1:].sum(axis=1), (K > 0).sum(axis=1)


def layers(c: dict[str, Any]) -> list[LayerCost]:
    """W_1 k×k with C/K_1 groups, then W_2..W_n 1×1 with C/K_i groups (as one entry), BN."""
    hw = c["out_size"] ** 2
    C = c["out_channels"]
    k1, tail, n = _chain(c)
    w1 = conv("W_1 kxk group conv (C/K_1 groups)", C, C, c["kernel"], C // k1, hw)
    one = scalar(C, hw) if c["K"].shape[0] == 1 else None
    formula = ""
    if one:
        ks = [int(k) for k in c["K"][0, 1:] if k]
        formula = f"params C·(K_2+…+K_n) = {one[0]}·({'+'.join(map(str, ks))}); MACs params·H'W' = ·{one[1]}"
    rest = LayerCost("W_2..W_n 1x1 group convs (C/K_i groups)", C * tail, C * tail * hw, (n - 1) * C * hw, formula)
    return [w1, rest, bn("BN", C)]


def balance_of(area: Any, K: np.ndarray) -> np.ndarray:
    """max/min over f = (S·K_1, K_2, …, K_n); 1.0 is the balance condition S·K_1 = K_2 = … = K_n."""
    f = K.astype(np.float64).copy()
    f[:, 0] *= area
    fmax = f.max(axis=1)
    fmin = np.where(K > 0, f, np.inf).min(axis=1)
    return fmax / fmin


def check(c: dict[str, Any]) -> dict[str, np.ndarray]:
    """Complementary (∏K = C), balance."""
    K = c["K"]
    product = np.where(K > 0, K, 1).prod(axis=1)
    ok = product == c["out_channels"]
    # dense: ∏K = C makes the chain of interleaved group convs reach every input from every output
    return {"complementary": ok, "balance": balance_of(c["kernel"] ** 2, K), "divisible": ok, "dense": ok}


Frontier = dict[str, np.ndarray]  # partial chains: geo, K (one column per factor), rem = C / ∏K, fmax, fmin


def _start(geo: dict[str, np.ndarray]) -> Frontier:
    """Partial chains after choosing K_1 (every divisor of C, 1 included), sorted by (geo, K_1)."""
    square = np.flatnonzero(geo["in_channels"] == geo["out_channels"])
    C = geo["out_channels"][square]
    front = _seeds(C, (geo["kernel"][square] ** 2).astype(np.float64))
    idx = front["geo"]
    front["K"] = (C[idx] // front["rem"])[:, None]  # one column per factor chosen so far
    front["geo"] = square[idx]
    return front


def _seeds(C: np.ndarray, area: np.ndarray) -> Frontier:
    """(index into C, rem = C / K_1, fmax = fmin = S·K_1) for every divisor K_1 of each C."""
    idx, k1 = divisors_of(C)
    f = area[idx] * k1
    return {"geo": idx, "rem": C[idx] // k1, "fmax": f, "fmin": f.copy()}


def _step(front: Frontier, level: int, tol: float) -> Frontier:
    """Append every next factor d >= 2 of rem whose partial balance stays within ``tol``.

    Cutting early is exact: adding factors can only widen max/min. Order is kept: entry by
    entry, d ascending. Extra per-entry arrays (a weight) are carried along.
    """
    rem = front["rem"]
    # only d in [fmax/tol, fmin·tol] can keep max/min <= tol (one unit of slack; exact filter below)
    lo = np.maximum(2.0, np.floor(front["fmax"] / tol)).astype(np.int64)
    hi = np.minimum(rem.astype(np.float64), np.ceil(front["fmin"] * tol)).astype(np.int64)
    j, d = divisors_between(rem, lo, hi)
    nmax, nmin = np.maximum(front["fmax"][j], d), np.minimum(front["fmin"][j], d)
    keep = nmax / nmin <= tol
    j, d = j[keep], d[keep]
    out = {k: v[j] for k, v in front.items()}
    out["rem"], out["fmax"], out["fmin"] = out["rem"] // d, nmax[keep], nmin[keep]
    if "K" in out:
        out["K"] = np.concatenate([out["K"], d[:, None]], axis=1)
    return out


def _take(front: Frontier, mask: np.ndarray) -> Frontier:
    return {k: v[mask] for k, v in front.items()}


def _complete(front: Frontier, level: int, tol: float) -> dict[str, np.ndarray]:
    """Every finished chain (n >= 3) grown from a frontier of ``level`` factors, sorted by (geo, K).

    A finished chain is a leaf (rem = 1 takes no further factor), so (geo, K) order is the
    depth-first order of the tree the levels grow (children by d ascending). Each chain's place
    in it comes from finished-descendant counts (bottom-up) and offsets (top-down): no sort,
    and K is read back through the parent links instead of being copied at every level.
    """
    K0, first = front["K"], level
    front = {k: v for k, v in front.items() if k != "K"}
    tree: list[tuple[Any, np.ndarray, np.ndarray, np.ndarray]] = []  # (parent, geo, rem, output mask)
    parent = None
    while front["geo"].size:
        finished = front["rem"] == 1
        tree.append((parent, front["geo"], front["rem"], finished if level >= 3 else np.zeros_like(finished)))
        front["i"] = np.arange(finished.size)
        front = _step(_take(front, ~finished), level, tol)
        parent = front.pop("i")
        level += 1
    tops = [t for t, (_, _, _, out) in enumerate(tree) if out.any()]
    if not tops:
        return {"geo": np.zeros(0, np.int64), "K": np.zeros((0, 3), np.int64)}
    counts: list[Any] = [None] * len(tree)
    for t in range(len(tree) - 1, -1, -1):
        counts[t] = tree[t][3].astype(np.int64)
        if t + 1 < len(tree) and tree[t + 1][0].size:
            below = np.bincount(tree[t + 1][0], weights=counts[t + 1], minlength=counts[t].size)
            counts[t] += below.astype(np.int64)
    starts: list[np.ndarray] = []
    for t, (par, _, _, _) in enumerate(tree):
        before = np.cumsum(counts[t]) - counts[t]
        if t == 0:
            starts.append(before)
            continue
        new = np.ones(par.size, dtype=bool)
        new[1:] = par[1:] != par[:-1]
        group = np.maximum.accumulate(np.where(new, np.arange(par.size), 0))
        starts.append(starts[t - 1][par] + before - before[group])
    factors = [tree[t - 1][2][tree[t][0]] // tree[t][2] if t else None for t in range(len(tree))]
    n = int(counts[0].sum())
    g = np.empty(n, dtype=tree[0][1].dtype)
    K = np.zeros((n, first + tops[-1]), dtype=np.result_type(K0, *(f for f in factors[1:] if f is not None)))
    for t in tops:
        at = np.flatnonzero(tree[t][3])
        rank = starts[t][at]
        g[rank] = tree[t][1][at]
        for s in range(t, 0, -1):
            K[rank, first + s - 1] = factors[s][at]
            at = tree[s][0][at]
        K[rank, :first] = K0[at]
    return {"geo": g, "K": K}


def enumerate_(geo: dict[str, np.ndarray], opts: Any) -> dict[str, np.ndarray]:
    """Every ordered factorisation (K_1 >= 1, K_i >= 2, n >= 3) of C within the balance tolerance.

    Built level by level from K_1; rows come out sorted by (geometry, K).
    """
    return _complete(_start(geo), 1, opts.balance_tol)


def enumerate_chunks(geo: dict[str, np.ndarray], opts: Any, limit: int) -> Iterator[dict[str, np.ndarray]]:
    """``enumerate_`` in pieces of at most about ``limit`` rows, in the same order.

    One geometry can hold millions of chains (2.2 million for C = 60480), so a frontier entry
    whose bound exceeds the limit is split by its next factor until the pieces fit.
    """
    buffer: list[dict[str, np.ndarray]] = []
    rows = 0
    for piece in _pieces(_start(geo), 1, opts.balance_tol, limit):
        if rows and rows + piece["geo"].size > limit:  # small pieces (a tight tolerance) are joined
            yield _join(buffer)
            buffer, rows = [], 0
        buffer.append(piece)
        rows += piece["geo"].size
    if buffer:
        yield _join(buffer)


def _join(pieces: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """Concatenate pieces in order, zero-padding K to the widest."""
    if len(pieces) == 1:
        return pieces[0]
    width = max(p["K"].shape[1] for p in pieces)
    K = np.concatenate([np.pad(p["K"], ((0, 0), (0, width - p["K"].shape[1]))) for p in pieces])
    return {"geo": np.concatenate([p["geo"] for p in pieces]), "K": K}


def _pieces(front: Frontier, level: int, tol: float, limit: int) -> Iterator[dict[str, np.ndarray]]:
    # upper bound on finished chains per entry: every ordered factorisation of rem (H(1) = 1)
    bound = ordered_factorisations(front["rem"]) if front["rem"].size else np.zeros(0)
    if level < 3:
        bound = np.where(front["rem"] == 1, 0.0, bound)
    cum = np.cumsum(bound)
    start, n = 0, front["geo"].size
    while start < n:
        stop = int(np.searchsorted(cum, (cum[start - 1] if start else 0.0) + limit, side="right"))
        if stop > start:
            yield _complete(_take(front, np.arange(start, stop)), level, tol)
            start = stop
        else:  # one entry alone is over the limit: split it by its next factor
            yield from _pieces(_step(_take(front, np.arange(start, start + 1)), level, tol), level + 1, tol, limit)
            start += 1


def estimate(geo: dict[str, np.ndarray], opts: Any) -> np.ndarray:
    """Rows per geometry before the budget: exact (2·H(C) − d(C) chains when the tolerance cannot cut)."""
    C = geo["out_channels"]
    area = geo["kernel"] ** 2
    square = geo["in_channels"] == C
    free = np.where(C > 1, 2 * ordered_factorisations(C) - divisor_counts(C), 0.0)
    cut = np.flatnonzero(square & (opts.balance_tol < area * C))  # balance <= S·C always
    counts = np.where(square, free, 0.0)
    if cut.size:
        counts[cut] = _counts(C[cut].tobytes(), area[cut].tobytes(), float(opts.balance_tol))
    return counts


@lru_cache(maxsize=8)
def _counts(channels: bytes, areas: bytes, tol: float) -> np.ndarray:
    """Exact chains per geometry within ``tol``: the enumeration's own steps with equal partial
    states (geo, rem, fmax, fmin) merged and weighted, so no chain is materialised."""
    C, area = np.frombuffer(channels, dtype=np.int64), np.frombuffer(areas, dtype=np.int64)
    counts = np.zeros(C.size)
    cum = np.cumsum(divisor_counts(C) ** 2)  # bounds the partial states of each geometry
    lo = 0
    while lo < C.size:
        hi = max(int(np.searchsorted(cum, (cum[lo - 1] if lo else 0) + (1 << 21), side="right")), lo + 1)
        front = _seeds(C[lo:hi], area[lo:hi].astype(np.float64))
        front["w"] = np.ones(front["geo"].size)
        level = 1
        while front["geo"].size:
            finished = front["rem"] == 1
            if level >= 3:
                counts[lo:hi] += np.bincount(front["geo"][finished], weights=front["w"][finished], minlength=hi - lo)
            front = _merge(_step(_take(front, ~finished), level, tol))
            level += 1
        lo = hi
    return counts


def _merge(front: Frontier) -> Frontier:
    """Collapse entries with the same (geo, rem, fmax, fmin), summing their weights."""
    if front["geo"].size == 0:
        return front
    keys = (front["fmin"], front["fmax"], front["rem"], front["geo"])
    order = np.lexsort(keys)
    s = {k: v[order] for k, v in front.items()}
    new = np.ones(order.size, dtype=bool)
    new[1:] = np.any([k[order][1:] != k[order][:-1] for k in keys], axis=0)
    starts = np.flatnonzero(new)
    out = {k: v[starts] for k, v in s.items() if k != "w"}
    out["w"] = np.add.reduceat(s["w"], starts)
    return out


def tail_structure(c: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """--widest holds the tail (K_2, …, K_n) fixed and lets K_1 (hence C) grow."""
    return c["K"][:, 1:], np.ones(c["K"].shape[0], dtype=bool)


def min_weights(width: np.ndarray, area: int) -> np.ndarray:
    """Q >= n·C·(S·C)^(1/n) >= e·C·ln(S·C) (AM-GM, optimal chain length n = ln(S·C))."""
    w = width.astype(float)
    return np.floor(np.e * w * np.log(np.maximum(area * w, np.e))).astype(np.int64)


FAMILY = register(
    Family(
        name="igc2",
        title="IGC-V2 interleaved structured sparse convs (Xie et al., CVPR 2018)",
        config=Igc2,
        knobs={"K": "channels per group of each conv, K_1 (k×k) … K_n (1×1); n >= 3"},
        conditions={
            "complementary": "∏ K_i = C: exactly one path per output/input pair",
            "balance": "max/min of (S·K_1, K_2, …, K_n); 1.0 is balanced; filtered by --balance-tol",
            "divisible": "∏ K_i = C",
            "dense": "the complementary condition ∏ K_i = C: every output reaches every input",
        },
        layers=layers,
        check=check,
        enumerate=enumerate_,
        min_weights=min_weights,
        block="igcsearch.families.igc2_block:Igc2Block",
        examples=("igc2-K1x2x4-c8k3", "igc2-K2x2x2-c8k3s2", "igc2-K1x2x2x3-c12k1"),
        structure=tail_structure,
        square_only=True,
        order=4,
        estimate=estimate,
        enumerate_chunks=enumerate_chunks,
    )
)
