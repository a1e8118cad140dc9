"""IGC-V3: interleaved low-rank group convolutions (Sun et al., BMVC 2018; docs/families.md#igc3).

Inverted residual unit with E = t·C_in: 1×1 group conv (G1 groups) C_in→E + BN,
channel_shuffle(G1), k×k depthwise conv on E (stride s) + BN + ReLU6, 1×1 group conv
(G2 groups) E→C_out + BN (linear); residual add when stride 1 and C_in = C_out.
Unlike the other families it keeps the official unit's BN after each of its three convs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..config import BlockConfig
from ..cost import LayerCost, bn, conv
from ..numtheory import divisor_counts, divisors_of
from ..registry import Family, knob_structure, register


@dataclass(frozen=True, kw_only=True)
class Igc3(BlockConfig):
    """IGC-V3 unit."""

    t: int  # expansion ratio: E = t·C_in hidden channels
    G1: int  # groups of the first 1×1 (expansion) conv
    G2: int  # groups of the last 1×1 (projection) conv

    family: ClassVar[str] = "igc3"
    token: ClassVar[str] = "t{t}G{G1}x{G2}"

    @property
    def hidden(self) -> int:
        """E = t·C_in."""
        return self.t * self.in_channels

    def validate(self) -> None:
        E = self.hidden
        if self.in_channels % self.G1:
            self.fail("G1", self.G1, f"a divisor of in_channels={self.in_channels}")
        if E % self.G2 or self.out_channels % self.G2:
            self.fail("G2", self.G2, f"a divisor of E={E} and out_channels={self.out_channels}")
        if E % (self.G1 * self.G2):
            self.fail("G1*G2", self.G1 * self.G2, f"a divisor of E={E} (loose complementary condition)")


def layers(c: dict[str, Any]) -> list[LayerCost]:
    """Expansion at the input size; depthwise and projection at the output size."""
    hw_in, hw = c["input_size"] ** 2, c["out_size"] ** 2
    E = c["t"] * c["in_channels"]
    return [
        conv("1x1 group conv C_in->E (G1 groups)", c["in_channels"], E, 1, c["G1"], hw_in),
        bn("BN", E),
        conv("kxk depthwise conv on E", E, E, c["kernel"], E, hw),
        bn("BN", E),
        conv("1x1 group conv E->C_out (G2 groups)", E, c["out_channels"], 1, c["G2"], hw),
        bn("BN", c["out_channels"]),
    ]


def check(c: dict[str, Any]) -> dict[str, np.ndarray]:
    """Loose complementary: G1 | C_in, G2 | E, G2 | C_out and G1·G2 | E (E/(G1·G2) paths)."""
    E = c["t"] * c["in_channels"]
    ok = (c["in_channels"] % c["G1"] == 0) & (E % c["G2"] == 0) & (c["out_channels"] % c["G2"] == 0)
    complementary = ok & (E % (c["G1"] * c["G2"]) == 0)
    # dense: E/(G1·G2) >= 1 paths per output/input pair exactly when the loose condition holds
    return {"complementary": complementary, "divisible": ok, "dense": complementary}


def enumerate_(geo: dict[str, np.ndarray], opts: Any) -> dict[str, np.ndarray]:
    """t from --expansion; G1 | C_in; G2 | gcd(E, C_out); keep G1·G2 | E. Sorted (geo, t, G1, G2)."""
    n = geo["in_channels"].size
    ts = np.asarray(sorted(opts.expansion), dtype=np.int64)
    base = np.repeat(np.arange(n, dtype=np.int64), ts.size)
    t = np.tile(ts, n)
    cin = geo["in_channels"][base]
    i1, g1 = divisors_of(cin)
    E = (t * cin)[i1]
    i2, g2 = divisors_of(np.gcd(E, geo["out_channels"][base][i1]))
    rows = i1[i2]
    G1 = g1[i2]
    keep = E[i2] % (G1 * g2) == 0
    return {"geo": base[rows][keep], "t": t[rows][keep], "G1": G1[keep], "G2": g2[keep]}


def estimate(geo: dict[str, np.ndarray], opts: Any) -> np.ndarray:
    """Rows per geometry before the G1·G2 | E filter: |t| · d(C_in) · d(C_out)."""
    return len(opts.expansion) * divisor_counts(geo["in_channels"]) * divisor_counts(geo["out_channels"])


def min_weights(width: np.ndarray, area: int) -> np.ndarray:
    """t = 1, G1 = G2 = C: C + S·C + C weights (BN excluded)."""
    return (area + 2) * width


FAMILY = register(
    Family(
        name="igc3",
        title="IGC-V3 interleaved low-rank group convs (Sun et al., BMVC 2018)",
        config=Igc3,
        knobs={
            "t": "expansion ratio, E = t·C_in",
            "G1": "groups of the 1×1 expansion conv",
            "G2": "groups of the 1×1 projection conv",
        },
        conditions={
            "complementary": "loose: G1·G2 | E, so every output/input pair has E/(G1·G2) paths",
            "divisible": "G1 | C_in, G2 | E and G2 | C_out",
            "dense": "the loose complementary condition: every output reaches every input",
        },
        layers=layers,
        check=check,
        enumerate=enumerate_,
        min_weights=min_weights,
        block="igcsearch.families.igc3_block:Igc3Block",
        examples=("igc3-t2G2x2-c8k3", "igc3-t1G2x2-i8o12k3", "igc3-t3G4x3-c12k5s2"),
        structure=knob_structure("t", "G1", "G2"),
        order=5,
        estimate=estimate,
    )
)
