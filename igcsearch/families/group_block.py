"""Torch module of the group conv family: k×k group conv, BN, ReLU (docs/families.md#group)."""

from __future__ import annotations

from typing import Any

from .conv_block import ConvBlock
from .group import Group


class GroupBlock(ConvBlock):
    """k×k group conv with g groups, BN, ReLU (a :class:`ConvBlock` with ``groups`` = g)."""

    cfg: Group

    @staticmethod
    def groups(cfg: Any) -> int:
        """g groups."""
        return cfg.g
