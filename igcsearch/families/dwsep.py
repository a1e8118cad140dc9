"""Depthwise-separable conv with depth multiplier r (Xception / MobileNet; DWD rank r)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..config import BlockConfig
from ..cost import LayerCost, bn, conv
from ..numtheory import expand
from ..registry import Family, knob_structure, register


@dataclass(frozen=True, kw_only=True)
class Dwsep(BlockConfig):
    """k×k depthwise conv C_in→r·C_in (stride s), then 1×1 conv r·C_in→C_out, one BN."""

    r: int = 1  # depth multiplier (rank r of the depthwise decomposition: He et al., CVPR Workshops 2019)

    family: ClassVar[str] = "dwsep"
    token: ClassVar[str] = "r{r}"


def layers(c: dict[str, Any]) -> list[LayerCost]:
    """Depthwise k×k (C_in groups, r outputs each), pointwise 1×1, BN."""
    hw = c["out_size"] ** 2
    mid = c["r"] * c["in_channels"]
    return [
        conv(
            "depthwise kxk conv (C_in groups, multiplier r)", c["in_channels"], mid, c["kernel"], c["in_channels"], hw
        ),
        conv("pointwise 1x1 conv", mid, c["out_channels"], 1, 1, hw),
        bn("BN", c["out_channels"]),
    ]


def check(c: dict[str, Any]) -> dict[str, np.ndarray]:
    """No filtering condition (r <= min(C_out, k²) is where a larger r stops adding rank).

    Dense always: each input channel reaches its r depthwise outputs, and the pointwise 1×1
    conv (one group) connects every depthwise output to every output channel.
    """
    return {"dense": np.ones(np.shape(c["in_channels"]), dtype=bool)}


def enumerate_(geo: dict[str, np.ndarray], opts: Any) -> dict[str, np.ndarray]:
    """r = 1 .. min(C_out, k²): beyond that the composite kernel gains no rank."""
    idx, within = expand(np.minimum(geo["out_channels"], geo["kernel"] ** 2))
    return {"geo": idx, "r": within + 1}


def min_weights(width: np.ndarray, area: int) -> np.ndarray:
    """r = 1: S·C + C²."""
    return area * width + width * width


FAMILY = register(
    Family(
        name="dwsep",
        title="depthwise-separable conv, depth multiplier r (Xception/MobileNet; DWD rank r)",
        config=Dwsep,
        knobs={"r": "depth multiplier: r·C_in depthwise outputs (rank r per input channel)"},
        conditions={"dense": "always: the pointwise 1×1 conv (one group) mixes every depthwise output"},
        layers=layers,
        check=check,
        enumerate=enumerate_,
        min_weights=min_weights,
        block="igcsearch.families.dwsep_block:DwsepBlock",
        examples=("dwsep-r1-c8k3", "dwsep-r2-i8o12k5s2"),
        structure=knob_structure("r"),
        order=2,
    )
)
