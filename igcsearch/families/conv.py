"""The regular k×k conv (conv-BN-ReLU): the baseline every row is compared with."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from ..config import BlockConfig
from ..cost import LayerCost, bn, conv
from ..registry import Family, register


@dataclass(frozen=True, kw_only=True)
class Conv(BlockConfig):
    """Regular conv, no knobs."""

    family: ClassVar[str] = "conv"
    token: ClassVar[str] = ""


def layers(c: dict[str, Any]) -> list[LayerCost]:
    """k×k conv C_in→C_out, BN."""
    hw = c["out_size"] ** 2
    return [
        conv("kxk conv", c["in_channels"], c["out_channels"], c["kernel"], 1, hw),
        bn("BN", c["out_channels"]),
    ]


def check(c: dict[str, Any]) -> dict[str, np.ndarray]:
    """The baseline has no conditions; a regular conv is dense (every weight is there)."""
    return {"dense": np.ones(np.shape(c["in_channels"]), dtype=bool)}


def enumerate_(geo: dict[str, np.ndarray], opts: Any) -> dict[str, np.ndarray]:
    """One baseline row per geometry."""
    return {"geo": np.arange(geo["in_channels"].size, dtype=np.int64)}


def min_weights(width: np.ndarray, area: int) -> np.ndarray:
    """S·C² weights at width C."""
    return area * width * width


FAMILY = register(
    Family(
        name="conv",
        title="regular conv-BN-ReLU (the baseline)",
        config=Conv,
        knobs={},
        conditions={"dense": "always: every output channel sees every input channel"},
        layers=layers,
        check=check,
        enumerate=enumerate_,
        min_weights=min_weights,
        block="igcsearch.families.conv_block:ConvBlock",
        examples=("conv-c8k3", "conv-i8o12k3s2", "conv-i4o6k1"),
        order=0,
        baseline=True,
    )
)
