"""IGC-V1: interleaved group convolution (Zhang et al., ICCV 2017; docs/families.md#igc1).

Primary k×k group conv with L groups (M channels each), permutation, secondary 1×1 group
conv with M groups (L channels each), inverse permutation, BN, ReLU. C_out = L·M.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..config import BlockConfig
from ..cost import LayerCost, bn, conv
from ..numtheory import divisors_of
from ..registry import Family, knob_structure, register


@dataclass(frozen=True, kw_only=True)
class Igc1(BlockConfig):
    """IGC-V1 block; L >= 2 (L = 1 is a conv followed by a 1×1 conv: refused)."""

    L: int  # primary partitions (L in IGC-V1): groups of the k×k conv
    M: int  # secondary partitions (M in IGC-V1): groups of the 1×1 conv; M = 1 is Xception

    family: ClassVar[str] = "igc1"
    token: ClassVar[str] = "L{L}M{M}"

    def validate(self) -> None:
        if self.L < 2:
            self.fail("L", self.L, "an integer >= 2 (L = 1 is a regular conv followed by a 1×1 conv, not IGC-V1)")
        if self.out_channels != self.L * self.M:
            self.fail("L*M", self.L * self.M, f"equal to out_channels={self.out_channels}")
        if self.in_channels % self.L:
            self.fail("L", self.L, f"a divisor of in_channels={self.in_channels}")


def layers(c: dict[str, Any]) -> list[LayerCost]:
    """Primary k×k conv with L groups, secondary 1×1 conv with M groups, BN."""
    hw = c["out_size"] ** 2
    cout = c["out_channels"]
    return [
        conv("primary kxk group conv (L groups)", c["in_channels"], cout, c["kernel"], c["L"], hw),
        conv("secondary 1x1 group conv (M groups)", cout, cout, 1, c["M"], hw),
        bn("BN", cout),
    ]


def balance(area: Any, M: Any, L: Any) -> Any:
    """max/min of (S·M, L): 1.0 when S·M = L (the balance condition)."""
    f1, f2 = area * M, L
    return np.maximum(f1, f2) / np.minimum(f1, f2)


def check(c: dict[str, Any]) -> dict[str, np.ndarray]:
    """Complementary (one path per pair), balance, wider (L/(L−1) < M·S), divisibility."""
    L, M, area = c["L"], c["M"], c["kernel"] ** 2
    ok = (c["in_channels"] % L == 0) & (c["out_channels"] == L * M)
    return {
        "complementary": ok,
        "balance": balance(area, M, L),
        "wider": (L >= 2) & (M * area * (L - 1) > L),
        "divisible": ok,
        "dense": ok,  # complementary: one path per pair, so at least one (a secondary group spans all L)
    }


def enumerate_(geo: dict[str, np.ndarray], opts: Any) -> dict[str, np.ndarray]:
    """Every L >= 2 dividing C_in and C_out, M = C_out / L, balance within tolerance."""
    idx, L = divisors_of(np.gcd(geo["in_channels"], geo["out_channels"]))
    M = geo["out_channels"][idx] // L
    keep = (L >= 2) & (balance(geo["kernel"][idx] ** 2, M, L) <= opts.balance_tol)
    return {"geo": idx[keep], "L": L[keep], "M": M[keep]}


def min_weights(width: np.ndarray, area: int) -> np.ndarray:
    """S·C·M + C·L >= 2·sqrt(S·C³) by AM-GM (L·M = C)."""
    return np.floor(2 * np.sqrt(area * width.astype(float) ** 3)).astype(np.int64)


FAMILY = register(
    Family(
        name="igc1",
        title="IGC-V1 interleaved group conv (Zhang et al., ICCV 2017)",
        config=Igc1,
        knobs={"L": "primary partitions (k×k conv groups)", "M": "secondary partitions (1×1 conv groups); C_out = L·M"},
        conditions={
            "complementary": "each output reaches each input by exactly one path (C_in % L == 0, L·M = C_out)",
            "balance": "max/min of (S·M, L); 1.0 is balanced (S·M = L); filtered by --balance-tol",
            "wider": "L/(L−1) < M·S: wider than a regular conv at equal params (shown, not filtered)",
            "divisible": "L divides C_in and C_out",
            "dense": "the complementary condition: every output reaches every input (one path)",
        },
        layers=layers,
        check=check,
        enumerate=enumerate_,
        min_weights=min_weights,
        block="igcsearch.families.igc1_block:Igc1Block",
        examples=("igc1-L4M2-c8k3", "igc1-L2M4-i4o8k3s2", "igc1-L8M1-c8k3"),
        structure=knob_structure("L"),
        order=3,
    )
)
