"""The layers a reference network is made of, and their analytic cost (pycls style, no torch).

A network is a flat list of these layers. One list serves both sides: :func:`walk` sums the
cost of every layer with the :mod:`igcsearch.cost` helpers and the families' ``layers``
functions, and :mod:`igcsearch.networks.modules` builds the torch module layer by layer, so
the analytic count reads line for line like the module (and fvcore checks it exactly).

Every channel count may be a Python int or an int64 array with one entry per candidate
network, so one walk prices thousands of networks at once (``network_rows``); a single
network is the one-row case.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..cost import LayerCost, bn, conv, linear, out_size
from ..registry import get_family

Value = Any  # int or int64 array (one entry per candidate network)


@dataclass(frozen=True, eq=False)
class ConvBN:
    """A plain conv + BN (+ activation) outside the block families: stems, projections, 1×1 heads."""

    name: str  # what it is, e.g. "stem 3x3 conv"
    cin: Value
    cout: Value
    kernel: int
    stride: int = 1
    groups: Value = 1
    act: str | None = "relu"  # "relu", "relu6" or None (linear)

    def cost(self, size: int) -> tuple[list[LayerCost], int]:
        """k²·(C_in/groups)·C_out weights at the output size, BN over C_out."""
        out = int(out_size(size, self.kernel, self.stride))
        groups = "" if _is_one(self.groups) else ", grouped"
        return [
            conv(
                f"{self.name} {self.kernel}x{self.kernel}{groups}",
                self.cin,
                self.cout,
                self.kernel,
                self.groups,
                out * out,
            ),
            bn(f"{self.name} BN", self.cout),
        ], out


@dataclass(frozen=True, eq=False)
class Block:
    """One block of a registered family; ``cols`` are its config fields (knobs as arrays).

    ``relu=False`` ends the block at its BN (the second block of a residual unit); igc3's unit
    is linear at its output anyway.
    """

    family: str
    cols: dict[str, Any]  # in_channels, out_channels, kernel, stride and the family's knobs
    relu: bool = True

    def columns(self, size: int) -> dict[str, Any]:
        """The family's ``layers``/``check`` input at this block's input size."""
        cols = dict(self.cols)
        cols["input_size"] = size
        cols["out_size"] = out_size(size, cols["kernel"], cols["stride"])
        return cols

    def cost(self, size: int) -> tuple[list[LayerCost], int]:
        """The family's own layer list (the same function block search uses)."""
        cols = self.columns(size)
        return get_family(self.family).layers(cols), int(cols["out_size"])

    def check(self, size: int) -> dict[str, Any]:
        """The family's condition columns for this block."""
        return get_family(self.family).check(self.columns(size))

    def config(self) -> Any:
        """The BlockConfig of a one-row block (validated by the family's config class)."""
        fields: dict[str, Any] = {}
        for name, value in self.cols.items():
            arr = np.asarray(value)
            if name == "K":
                fields[name] = tuple(int(k) for k in arr.reshape(-1, arr.shape[-1])[0] if k > 0)
            else:
                fields[name] = int(arr.ravel()[0])
        return get_family(self.family).config(**fields)


@dataclass(frozen=True, eq=False)
class Residual:
    """``act(body(x) + shortcut(x))``; an empty shortcut is the identity."""

    body: tuple[Any, ...]
    shortcut: tuple[Any, ...] = ()
    relu: bool = True  # ReLU after the add (ResNet); False: linear (inverted residual)

    def cost(self, size: int) -> tuple[list[LayerCost], int]:
        """Body and shortcut, each from the unit's input size; the add costs 0."""
        body, out = walk(self.body, size)
        short, short_out = walk(self.shortcut, size)
        if self.shortcut and short_out != out:
            raise ValueError(f"residual shortcut gives {short_out}x{short_out}, body {out}x{out}")
        return body + short, out


@dataclass(frozen=True, eq=False)
class MaxPool:
    """k×k max pool (0 MACs)."""

    kernel: int
    stride: int
    padding: int = 0

    def cost(self, size: int) -> tuple[list[LayerCost], int]:
        """No cost; floor((H + 2p − k)/s) + 1."""
        return [], (size + 2 * self.padding - self.kernel) // self.stride + 1


@dataclass(frozen=True, eq=False)
class Head:
    """Global average pool (0 MACs) and the classifier FC with bias."""

    cin: Value
    classes: int
    name: str = field(default="classifier FC")

    def cost(self, size: int) -> tuple[list[LayerCost], int]:
        """C·classes weights + classes biases, C·classes MACs."""
        return [linear(self.name, self.cin, self.classes, bias=True)], 1


Layer = ConvBN | Block | Residual | MaxPool | Head


def walk(layers: tuple[Any, ...] | list[Any], size: int) -> tuple[list[LayerCost], int]:
    """Every layer's cost, in order, and the output size."""
    out: list[LayerCost] = []
    for layer in layers:
        costs, size = layer.cost(size)
        out += costs
    return out, size


def blocks(layers: tuple[Any, ...] | list[Any], size: int) -> Iterator[tuple[Block, int]]:
    """Every family block with its input size, depth first."""
    for layer in layers:
        if isinstance(layer, Residual):
            yield from blocks(layer.body, size)
            yield from blocks(layer.shortcut, size)
        elif isinstance(layer, Block):
            yield layer, size
        size = layer.cost(size)[1] if not isinstance(layer, Block) else int(layer.columns(size)["out_size"])


def _is_one(value: Value) -> bool:
    return bool(np.all(np.asarray(value) == 1))
