"""Torch module of IGC-V2 (docs/families.md#igc2); the fused interleaved mix lives in
:mod:`igcsearch.interleave`."""

from __future__ import annotations

from torch import Tensor, nn

from ..interleave import MIX, channel_shuffle, check_block_impl, conv2d, grouped_view, is_channels_last, resolve
from .igc2 import Igc2


class Igc2Block(nn.Module):
    """IGC-V2: W_1 k×k (C/K_1 groups), then P_i after each W_i, W_2..W_n 1×1; BN, ReLU.

    P_i = channel_shuffle(C/K_i). The fused variants fuse each 1×1 W_i with its own P_i (the
    product is the interleaved mix with L = K_i, M = C/K_i on the transposed (C/K_i, K_i)
    view, written in P_i's order); P_1 after the k×k conv stays a copy, and is an identity
    (no copy) in the paper's K_1 = 1 case.
    """

    def __init__(self, cfg: Igc2, *, impl: str | None = "auto") -> None:
        super().__init__()
        self.impl = check_block_impl(cfg.family, impl)
        self.cfg = cfg
        C, K = cfg.out_channels, cfg.K
        first = conv2d(C, C, cfg.kernel, cfg.stride, groups=C // K[0])
        self.convs = nn.ModuleList([first, *(conv2d(C, C, 1, groups=C // k) for k in K[1:])])
        self.bn = nn.BatchNorm2d(C)
        self.act = nn.ReLU(inplace=True)
        self.variants = {cl: tuple(resolve(self.impl, k, C // k, cl, "igc2") for k in K[1:]) for cl in (False, True)}

    def stage(self, i: int, y: Tensor) -> Tensor:
        """P_i W_i y for a 1×1 stage i >= 1 (0-based), by its resolved variant."""
        conv, k = self.convs[i], self.cfg.K[i]
        g = self.cfg.out_channels // k
        cl = is_channels_last(y)
        variant = self.variants[cl][i - 1]
        if variant == "naive":
            return channel_shuffle(conv(y), g)
        # y as (g, k): contract the inner k, batch over g, write (k', g), which is P_i's order
        A = conv.weight.reshape(g, k, k)
        return MIX[variant](grouped_view(y, g, k).transpose(1, 2), A, cl).reshape(y.shape)

    def chain(self, x: Tensor) -> Tensor:
        """P_n W_n ⋯ P_1 W_1 x."""
        y = channel_shuffle(self.convs[0](x), self.cfg.out_channels // self.cfg.K[0])
        for i in range(1, len(self.convs)):
            y = self.stage(i, y)
        return y

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.chain(x)))
