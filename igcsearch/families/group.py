"""Plain group conv with g groups (baseline; AlexNet/ResNeXt style)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..config import BlockConfig
from ..cost import LayerCost, bn, conv
from ..numtheory import divisors_of
from ..registry import Family, knob_structure, register


@dataclass(frozen=True, kw_only=True)
class Group(BlockConfig):
    """k×k group conv."""

    g: int  # number of groups, >= 2; divides C_in and C_out

    family: ClassVar[str] = "group"
    token: ClassVar[str] = "g{g}"

    def validate(self) -> None:
        if self.g < 2:
            self.fail("g", self.g, "an integer >= 2 (g = 1 is the regular conv: family conv)")
        if self.in_channels % self.g or self.out_channels % self.g:
            self.fail("g", self.g, f"a divisor of in_channels={self.in_channels} and out_channels={self.out_channels}")


def layers(c: dict[str, Any]) -> list[LayerCost]:
    """k×k group conv (g groups), BN."""
    hw = c["out_size"] ** 2
    return [
        conv("kxk group conv (g groups)", c["in_channels"], c["out_channels"], c["kernel"], c["g"], hw),
        bn("BN", c["out_channels"]),
    ]


def check(c: dict[str, Any]) -> dict[str, np.ndarray]:
    """g | C_in and g | C_out; dense only for g = 1: output j sees input group ⌊j/(C_out/g)⌋ alone."""
    return {
        "divisible": (c["in_channels"] % c["g"] == 0) & (c["out_channels"] % c["g"] == 0),
        "dense": np.asarray(c["g"]) == 1,
    }


def enumerate_(geo: dict[str, np.ndarray], opts: Any) -> dict[str, np.ndarray]:
    """Every g > 1 dividing both C_in and C_out."""
    idx, g = divisors_of(np.gcd(geo["in_channels"], geo["out_channels"]))
    keep = g > 1
    return {"geo": idx[keep], "g": g[keep]}


def min_weights(width: np.ndarray, area: int) -> np.ndarray:
    """Depthwise (g = C) is the cheapest: S·C."""
    return area * width


FAMILY = register(
    Family(
        name="group",
        title="plain group conv (baseline)",
        config=Group,
        knobs={"g": "number of groups"},
        conditions={
            "divisible": "g divides C_in and C_out",
            "dense": "g = 1 only: with g > 1 an output channel sees its own group's C_in/g inputs",
        },
        layers=layers,
        check=check,
        enumerate=enumerate_,
        min_weights=min_weights,
        block="igcsearch.families.group_block:GroupBlock",
        examples=("group-g4-c8k3", "group-g2-i4o6k5s2", "group-g8-c8k3"),  # g = 1 is family conv
        structure=knob_structure("g"),
        order=1,
    )
)
