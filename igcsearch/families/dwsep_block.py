"""Torch module of the depthwise-separable family (docs/families.md#dwsep)."""

from __future__ import annotations

from torch import Tensor, nn

from ..interleave import check_block_impl, conv2d
from .dwsep import Dwsep


class DwsepBlock(nn.Module):
    """Depthwise k×k conv C_in→r·C_in (C_in groups), pointwise 1×1 r·C_in→C_out, BN, ReLU.

    ``impl`` is accepted for a uniform build interface and ignored (nothing is interleaved).
    """

    def __init__(self, cfg: Dwsep, *, impl: str | None = "auto") -> None:
        super().__init__()
        check_block_impl(cfg.family, impl)
        self.cfg = cfg
        mid = cfg.r * cfg.in_channels
        self.depthwise = conv2d(cfg.in_channels, mid, cfg.kernel, cfg.stride, groups=cfg.in_channels)
        self.pointwise = conv2d(mid, cfg.out_channels, 1)
        self.bn = nn.BatchNorm2d(cfg.out_channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.pointwise(self.depthwise(x))))
