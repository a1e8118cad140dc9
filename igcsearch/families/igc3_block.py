"""Torch module of IGC-V3, the official unit (docs/families.md#igc3)."""

from __future__ import annotations

from torch import Tensor, nn

from ..interleave import channel_shuffle, check_block_impl, conv2d
from .igc3 import Igc3


class Igc3Block(nn.Module):
    """IGC-V3 unit (official): 1×1 group conv G1 C_in→E + BN, channel_shuffle(G1), k×k
    depthwise on E (stride s) + BN + ReLU6, 1×1 group conv G2 E→C_out + BN (linear);
    residual add when stride 1 and C_in = C_out.

    ``impl`` is accepted for a uniform build interface and ignored: the one shuffle sits
    before a depthwise conv, which no fused stage here replaces.
    """

    def __init__(self, cfg: Igc3, *, impl: str | None = "auto") -> None:
        super().__init__()
        check_block_impl(cfg.family, impl)
        self.cfg = cfg
        E = cfg.t * cfg.in_channels
        self.expand = conv2d(cfg.in_channels, E, 1, groups=cfg.G1)
        self.bn1 = nn.BatchNorm2d(E)
        self.depthwise = conv2d(E, E, cfg.kernel, cfg.stride, groups=E)
        self.bn2 = nn.BatchNorm2d(E)
        self.act = nn.ReLU6(inplace=True)
        self.project = conv2d(E, cfg.out_channels, 1, groups=cfg.G2)
        self.bn3 = nn.BatchNorm2d(cfg.out_channels)
        self.residual = cfg.stride == 1 and cfg.in_channels == cfg.out_channels

    def forward(self, x: Tensor) -> Tensor:
        y = channel_shuffle(self.bn1(self.expand(x)), self.cfg.G1)
        y = self.act(self.bn2(self.depthwise(y)))
        y = self.bn3(self.project(y))
        return x + y if self.residual else y
