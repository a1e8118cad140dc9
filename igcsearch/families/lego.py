"""LegoNet: Lego filters (Yang et al., ICML 2019; docs/families.md#lego).

m Lego filters of size (c/o)×k×k are shared by all n outputs; each output i picks, for each
of the o channel splits j, one Lego filter π(i, j) and a coefficient α(i, j). Inference is
split-transform-merge: o convs (c/o)→m, then each output sums o selected, scaled maps
(the sparse merge; the reference code's dense 1×1 merge costs o·m·n per position instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..config import BlockConfig
from ..cost import LayerCost, bn, scalar
from ..numtheory import divisors_of, expand
from ..registry import Family, register


@dataclass(frozen=True, kw_only=True)
class Lego(BlockConfig):
    """Lego conv layer + BN."""

    o: int  # channel splits (o in LegoNet); divides C_in
    m: int  # Lego filters shared by all outputs (m in LegoNet)

    family: ClassVar[str] = "lego"
    token: ClassVar[str] = "o{o}m{m}"

    def validate(self) -> None:
        if self.in_channels % self.o:
            self.fail("o", self.o, f"a divisor of in_channels={self.in_channels}")


def layers(c: dict[str, Any]) -> list[LayerCost]:
    """o split convs (c/o)→m (the Lego filters, shared), sparse merge (o·n coefficients), BN."""
    hw = c["out_size"] ** 2
    cin, n, o, m = c["in_channels"], c["out_channels"], c["o"], c["m"]
    lego_w = c["kernel"] ** 2 * (cin // o) * m
    one = scalar(c["kernel"], cin, n, o, m, hw)
    f_lego = f_merge = ""
    if one:
        k, ci, no, oo, mm, pos = one
        f_lego = f"params k²·(c/o)·m = {k}²·({ci}/{oo})·{mm}; MACs o·params·H'W' = {oo}·…·{pos}"
        f_merge = f"params o·n (coefficients α) = {oo}·{no}; MACs params·H'W' = ·{pos}"
    return [
        LayerCost("Lego filters: o split kxk convs (c/o)->m", lego_w, o * lego_w * hw, o * m * hw, f_lego),
        LayerCost("sparse merge: each output sums o scaled maps", o * n, o * n * hw, n * hw, f_merge),
        bn("BN", n),
    ]


def _acc_limit(area: Any, c: Any, n: Any, o: Any) -> Any:
    """Largest m with m < n·(1 − o/(k²c)), in integers: m·k²c <= n·(k²c − o) − 1."""
    kc = area * c
    return (n * (kc - o) - 1) // kc


def _comp_limit(area: Any, c: Any, n: Any, o: Any) -> Any:
    """Largest m with k²(c/o)m + o·n <= k²·c·n."""
    return (o * n * (area * c - o)) // (area * c)


def check(c: dict[str, Any]) -> dict[str, np.ndarray]:
    """Acceleration m < n(1 − o/(k²c)), compression |B| + |G| <= |F|, o | c, dense."""
    area, cin, n, o, m = c["kernel"] ** 2, c["in_channels"], c["out_channels"], c["o"], c["m"]
    return {
        "acceleration": m * area * cin < n * (area * cin - o),
        "compression": area * (cin // o) * m + o * n <= area * cin * n,
        "divisible": cin % o == 0,
        # the o splits partition C_in and output i takes one map from every split j (π(i, j)),
        # each a full (c/o)×k×k filter: exactly one path per output/input pair, for any m and π
        "dense": cin % o == 0,
    }


WIDEST_RATIOS = 64  # --widest lists n/m = 2 .. 64 (LegoNet uses m = n/2, n/4, …)


def _limits(geo: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(geometry index, o, largest m) for every o | C_in: the tightest of acceleration,
    compression and the budget (floats rounded up by one; space.py applies the exact budget)."""
    i, o = divisors_of(geo["in_channels"])
    area, c, n = geo["kernel"][i] ** 2, geo["in_channels"][i], geo["out_channels"][i]
    mmax = np.minimum(_acc_limit(area, c, n, o), _comp_limit(area, c, n, o))
    hw = geo["out_size"][i] ** 2
    per_m = area * (c // o)
    by_params = (geo["params_max"][i] - o * n - 2 * n) / per_m
    by_macs = (geo["macs_max"][i] / hw - o * n) / (per_m * o)
    bound = np.minimum(by_params, by_macs)
    mmax = np.where(np.isfinite(bound), np.minimum(mmax, np.floor(np.clip(bound, -1, mmax)) + 1), mmax)
    return i, o, np.maximum(mmax, 0).astype(np.int64)


def _ratio_ms(geo: dict[str, np.ndarray], i: np.ndarray, mmax: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """--widest: (row of _limits, m) for m = n/r, r | n, r <= WIDEST_RATIOS, m <= mmax; m ascending."""
    n = geo["out_channels"][i]
    j, r = divisors_of(n)
    m = n[j] // r
    keep = (r <= WIDEST_RATIOS) & (m <= mmax[j])
    j, m = j[keep], m[keep]
    order = np.lexsort((m, j))
    return j[order], m[order]


def enumerate_(geo: dict[str, np.ndarray], opts: Any) -> dict[str, np.ndarray]:
    """Every o | C_in and m = 1 .. the tightest of acceleration, compression and the budget.

    With --widest only the m that a --widest structure (o, n/m) can hold are listed.
    """
    i, o, mmax = _limits(geo)
    if opts.widest:
        j, m = _ratio_ms(geo, i, mmax)
        return {"geo": i[j], "o": o[j], "m": m}
    j, within = expand(mmax)
    return {"geo": i[j], "o": o[j], "m": within + 1}


def estimate(geo: dict[str, np.ndarray], opts: Any) -> np.ndarray:
    """Rows per geometry as enumerate_ lists them before the exact budget filter."""
    i, _, mmax = _limits(geo)
    if opts.widest:
        i = i[_ratio_ms(geo, i, mmax)[0]]
        return np.bincount(i, minlength=geo["in_channels"].size)
    return np.bincount(i, weights=mmax, minlength=geo["in_channels"].size)


def ratio_structure(c: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """--widest holds (o, n/m) fixed, for integer n/m <= WIDEST_RATIOS, and lets the width grow."""
    n, m = c["out_channels"], c["m"]
    return np.stack([c["o"], n // m], axis=1), (n % m == 0) & (n // m <= WIDEST_RATIOS)


def min_weights(width: np.ndarray, area: int) -> np.ndarray:
    """k²·(C/o)·m + o·C >= 2·k·C (m >= 1, AM-GM over o)."""
    return 2 * np.sqrt(area).astype(np.int64) * width


FAMILY = register(
    Family(
        name="lego",
        title="LegoNet Lego filters, split-transform-merge (Yang et al., ICML 2019)",
        config=Lego,
        knobs={"o": "channel splits; divides C_in", "m": "Lego filters shared by all outputs"},
        conditions={
            "acceleration": "m < n·(1 − o/(k²c)): fewer MACs than the regular conv",
            "compression": "k²(c/o)m + o·n <= k²·c·n: fewer weights than the regular conv",
            "divisible": "o divides C_in",
            "dense": "o divides C_in: every output sums one Lego map of every split (one path per pair)",
        },
        layers=layers,
        check=check,
        enumerate=enumerate_,
        min_weights=min_weights,
        block="igcsearch.families.lego_block:LegoBlock",
        examples=("lego-o2m3-i8o12k5", "lego-o8m4-c8k3s2", "lego-o1m4-c8k3"),
        structure=ratio_structure,
        order=6,
        estimate=estimate,
    )
)
