"""IGC-V2: interleaved structured sparse convolutions (Xie et al., CVPR 2018; METHODS.md §2).

y = P_n W_n ⋯ P_1 W_1 x: W_1 is a k×k group conv, W_2..W_n are 1×1 group convs, W_i has K_i
channels per group (C/K_i groups), each followed by channel_shuffle(C/K_i); one BN at the
end. Chains of length 2 are IGC-V1 (M = K_1, L = K_2) and are listed there, not here.
"""

from __future__ import annotations

from dataclasses import dataclass
from math import prod
from typing import Any, ClassVar

import numpy as np

from ..config import BlockConfig
from ..cost import LayerCost, bn, conv, scalar
from ..numtheory import divisor_counts, divisors_of, ordered_factorisations
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
    k1, tail, _ = _chain(c)
    w1 = conv("W_1 kxk group conv (C/K_1 groups)", C, C, c["kernel"], C // k1, hw)
    one = scalar(C, hw) if c["K"].shape[0] == 1 else None
    formula = ""
    if one:
        ks = [int(k) for k in c["K"][0, 1:] if k]
        formula = f"params C·(K_2+…+K_n) = {one[0]}·({'+'.join(map(str, ks))}); MACs params·H'W' = ·{one[1]}"
    rest = LayerCost(
        "W_2..W_n 1x1 group convs (C/K_i groups)", C * tail, C * tail * hw, (_chain(c)[2] - 1) * C * hw, formula
    )
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
    return {"complementary": ok, "balance": balance_of(c["kernel"] ** 2, K), "divisible": ok}


def enumerate_(geo: dict[str, np.ndarray], opts: Any) -> dict[str, np.ndarray]:
    """Every ordered factorisation (K_1 >= 1, K_i >= 2, n >= 3) of C, built level by level.

    Branches whose partial balance already exceeds the tolerance are cut: adding factors can
    only widen max/min. Rows come out sorted by (geometry, K).
    """
    square = np.flatnonzero(geo["in_channels"] == geo["out_channels"])
    C = geo["out_channels"][square]
    area = (geo["kernel"][square] ** 2).astype(np.float64)
    width = int(np.floor(np.log2(max(int(C.max(initial=1)), 1)))) + 1
    # frontier after choosing K_1 (every divisor of C, 1 included)
    idx, k1 = divisors_of(C)
    rows = idx
    K = np.zeros((k1.size, width + 1), dtype=np.int64)
    K[:, 0] = k1
    rem = C[rows] // k1
    fmax = fmin = area[rows] * k1
    done_geo, done_K = [], []
    for level in range(1, width + 1):
        alive = rem > 1
        finished = ~alive & (level >= 3)
        done_geo.append(square[rows[finished]])
        done_K.append(K[finished])
        rows, K, rem, fmax, fmin = rows[alive], K[alive], rem[alive], fmax[alive], fmin[alive]
        if rows.size == 0:
            break
        j, d = divisors_of(rem)
        keep = d >= 2
        j, d = j[keep], d[keep]
        nmax, nmin = np.maximum(fmax[j], d), np.minimum(fmin[j], d)
        keep = nmax / nmin <= opts.balance_tol
        j, d, nmax, nmin = j[keep], d[keep], nmax[keep], nmin[keep]
        rows, K, rem, fmax, fmin = rows[j], K[j], rem[j] // d, nmax, nmin
        K[:, level] = d
    else:
        finished = rem == 1
        done_geo.append(square[rows[finished]])
        done_K.append(K[finished])
    g = np.concatenate(done_geo) if done_geo else np.zeros(0, np.int64)
    Kall = np.concatenate(done_K) if done_K else np.zeros((0, width + 1), np.int64)
    order = np.lexsort((*tuple(Kall[:, i] for i in range(Kall.shape[1] - 1, -1, -1)), g))
    Kall = Kall[order]
    used = int((Kall > 0).sum(axis=1).max(initial=3))
    return {"geo": g[order], "K": Kall[:, :used]}


def estimate(geo: dict[str, np.ndarray], opts: Any) -> np.ndarray:
    """Rows per geometry: <= 2·H(C) ordered factorisations with no balance cut; few with one."""
    C = geo["out_channels"]
    square = geo["in_channels"] == C
    if np.isfinite(opts.balance_tol):
        return np.where(square, divisor_counts(C) ** 2, 0)
    return np.where(square, np.minimum(2 * ordered_factorisations(C), 2**62), 0).astype(np.int64)


def tail_structure(c: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """--widest holds the tail (K_2, …, K_n) fixed and lets K_1 (hence C) grow."""
    return c["K"][:, 1:], np.ones(c["K"].shape[0], dtype=bool)


def min_weights(width: np.ndarray, area: int) -> np.ndarray:
    """Q >= n·C·(S·C)^(1/n) >= e·C·ln(S·C) (AM-GM, optimal chain length n = ln(S·C))."""
    w = width.astype(float)
    return np.floor(np.e * w * np.log(np.maximum(area * w, np.e))).astype(np.int64)


def build(cfg: Igc2, **opts: Any) -> Any:
    """IGC-V2 block module."""
    from ..blocks import Igc2Block

    return Igc2Block(cfg, **opts)


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
        },
        layers=layers,
        check=check,
        enumerate=enumerate_,
        min_weights=min_weights,
        structure=tail_structure,
        square_only=True,
        build=build,
        order=4,
        extra={"estimate": estimate},
    )
)
