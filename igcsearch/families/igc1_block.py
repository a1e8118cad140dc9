"""Torch module of IGC-V1 (docs/families.md#igc1); the fused interleaved mix lives in
:mod:`igcsearch.interleave`."""

from __future__ import annotations

from torch import Tensor, nn

from ..interleave import MIX, channel_shuffle, check_block_impl, conv2d, grouped_view, is_channels_last, resolve
from .igc1 import Igc1


class Igc1Block(nn.Module):
    """IGC-V1: primary k×k conv (L groups), P, secondary 1×1 conv (M groups), Pᵀ, BN, ReLU.

    ``impl`` (see :mod:`igcsearch.interleave`) only changes how P, the secondary conv and Pᵀ
    run: the fused variants read the primary output as (L, M) and write the block output in
    its final order, with the secondary weight (C, L, 1, 1) read as A = weight.reshape(M, L, L).
    """

    def __init__(self, cfg: Igc1, *, impl: str | None = "auto") -> None:
        super().__init__()
        self.impl = check_block_impl(cfg.family, impl)
        self.cfg = cfg
        C, L, M = cfg.out_channels, cfg.L, cfg.M
        self.primary = conv2d(cfg.in_channels, C, cfg.kernel, cfg.stride, groups=L)
        self.secondary = conv2d(C, C, 1, groups=M)
        self.bn = nn.BatchNorm2d(C)
        self.act = nn.ReLU(inplace=True)
        self.variants = {cl: resolve(self.impl, L, M, cl, "igc1") for cl in (False, True)}

    def interleave(self, y: Tensor) -> Tensor:
        """Pᵀ · secondary · P applied to the primary output y, by the resolved variant."""
        L, M = self.cfg.L, self.cfg.M
        cl = is_channels_last(y)
        variant = self.variants[cl]
        if variant == "naive":
            return channel_shuffle(self.secondary(channel_shuffle(y, L)), M)
        A = self.secondary.weight.reshape(M, L, L)
        out = MIX[variant](grouped_view(y, L, M), A, cl)
        return out.reshape(y.shape)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.interleave(self.primary(x))))
