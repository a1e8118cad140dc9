"""Torch modules of the network layers (:mod:`igcsearch.networks.layers`), one per layer.

Family blocks come from :func:`igcsearch.registry.create_block` unchanged, except that a
block with ``relu=False`` (the second block of a residual unit) has its final ReLU replaced
by an identity, so the unit is block (BN, ReLU), block (BN), add, ReLU.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from torch import Tensor, nn

from ..config import BlockConfig
from ..interleave import conv2d
from ..registry import create_block
from .layers import Block, ConvBN, Head, MaxPool, Residual


class ConvBNAct(nn.Module):
    """Bias-free conv, BN, optional ReLU/ReLU6."""

    def __init__(self, layer: ConvBN) -> None:
        super().__init__()
        cin, cout, groups = _int(layer.cin), _int(layer.cout), _int(layer.groups)
        self.conv = conv2d(cin, cout, layer.kernel, layer.stride, groups=groups)
        self.bn = nn.BatchNorm2d(cout)
        self.act = {"relu": nn.ReLU(inplace=True), "relu6": nn.ReLU6(inplace=True), None: nn.Identity()}[layer.act]

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))


class ResidualUnit(nn.Module):
    """``act(body(x) + shortcut(x))``; the shortcut is the identity when it has no layers."""

    def __init__(self, layer: Residual, **opts: Any) -> None:
        super().__init__()
        self.body = nn.Sequential(*(to_module(item, **opts) for item in layer.body))
        self.shortcut = nn.Sequential(*(to_module(item, **opts) for item in layer.shortcut))
        self.act = nn.ReLU(inplace=True) if layer.relu else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.body(x) + self.shortcut(x))


class Classifier(nn.Module):
    """Global average pool (a mean: 0 MACs) and FC with bias."""

    def __init__(self, layer: Head) -> None:
        super().__init__()
        self.fc = nn.Linear(_int(layer.cin), layer.classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(x.mean(dim=(2, 3)))


class Net(nn.Sequential):
    """A reference network: its layers in order; ``key`` names it (``net-…``)."""

    def __init__(self, key: str, modules: list[nn.Module]) -> None:
        super().__init__(*modules)
        self.key = key

    def extra_repr(self) -> str:
        return self.key


def block_config(layer: Block) -> BlockConfig:
    """The BlockConfig of a one-row Block layer (validated by the family's config)."""
    return layer.config()


def to_module(layer: Any, **opts: Any) -> nn.Module:
    """The torch module of one layer; ``opts`` go to every family block (e.g. ``impl``)."""
    if isinstance(layer, ConvBN):
        return ConvBNAct(layer)
    if isinstance(layer, Block):
        module = create_block(block_config(layer), **opts)
        if not layer.relu and layer.family != "igc3":
            module.act = nn.Identity()  # the block ends at its BN; the unit's ReLU follows the add
        return module
    if isinstance(layer, Residual):
        return ResidualUnit(layer, **opts)
    if isinstance(layer, MaxPool):
        return nn.MaxPool2d(layer.kernel, layer.stride, layer.padding)
    if isinstance(layer, Head):
        return Classifier(layer)
    raise TypeError(f"not a network layer: {layer!r}")


def build_layers(key: str, layers: list[Any], **opts: Any) -> Net:
    """A :class:`Net` from a one-row layer list."""
    return Net(key, [to_module(layer, **opts) for layer in layers])


def _int(value: Any) -> int:
    return int(np.asarray(value).ravel()[0])
