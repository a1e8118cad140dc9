"""Torch module of the regular conv family: k×k conv, BN, ReLU (docs/families.md#conv)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from torch import Tensor, nn

from ..interleave import check_block_impl, conv2d
from .conv import Conv

if TYPE_CHECKING:
    from .group import Group


class ConvBlock(nn.Module):
    """Regular k×k conv, BN, ReLU (the baseline).

    ``impl`` is accepted for a uniform build interface and ignored (nothing is interleaved).
    """

    def __init__(self, cfg: Conv | Group, *, impl: str | None = "auto") -> None:
        super().__init__()
        check_block_impl(cfg.family, impl)
        self.cfg = cfg
        self.conv = conv2d(cfg.in_channels, cfg.out_channels, cfg.kernel, cfg.stride, groups=self.groups(cfg))
        self.bn = nn.BatchNorm2d(cfg.out_channels)
        self.act = nn.ReLU(inplace=True)

    @staticmethod
    def groups(cfg: Conv | Group) -> int:
        """Groups of the k×k conv: 1 for the regular conv."""
        return 1

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))
