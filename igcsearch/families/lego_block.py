"""Torch module of LegoNet's Lego filter layer, sparse merge (docs/families.md#lego)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..interleave import check_block_impl, is_channels_last
from .lego import Lego


class LegoBlock(nn.Module):
    """LegoNet layer (split-transform-merge, sparse merge) + BN + ReLU.

    - ``lego``: the m Lego filters, one conv weight (m, c/o, k, k) shared by all o splits
      and all n outputs: applied once to the input reshaped (N·o, c/o, H, W), reshaped back
      to (N, o·m, H', W') (channel j·m + p is split j's response to filter p).
    - ``index`` (integer buffer, (n, o)): flat channel j·m + π(i, j) that output i takes from
      split j. ``alpha`` (parameter, (n, o)): the coefficients α(i, j).
    - merge: ``index_select`` of the n·o chosen maps, then a grouped 1×1 conv with groups=n
      and weight α.reshape(n, o, 1, 1): exactly o·n MACs per output position (fvcore counts
      the conv; the gather is a copy).

    π initialisation (deterministic, documented): round-robin π(i, j) = (i·o + j) mod m, so
    consecutive outputs and splits walk through the Lego filters and every filter is used
    whenever n·o >= m. ``seed=<int>`` draws π uniformly instead, from a private
    ``torch.Generator`` seeded with it. π is the frozen combination of LegoNet's inference
    form (the reference code fixes it after warm-up); training updates the Lego filters and α.
    ``impl`` is accepted for a uniform build interface and ignored (nothing is interleaved).
    """

    def __init__(self, cfg: Lego, *, impl: str | None = "auto", seed: int | None = None) -> None:
        super().__init__()
        check_block_impl(cfg.family, impl)
        self.cfg = cfg
        c, n, o, m, k = cfg.in_channels, cfg.out_channels, cfg.o, cfg.m, cfg.kernel
        self.lego = nn.Parameter(torch.empty(m, c // o, k, k))
        self.alpha = nn.Parameter(torch.empty(n, o))
        nn.init.kaiming_uniform_(self.lego, a=5**0.5)  # nn.Conv2d's default init
        bound = 1.0 / o**0.5
        nn.init.uniform_(self.alpha, -bound, bound)
        if seed is None:
            choice = (torch.arange(n).unsqueeze(1) * o + torch.arange(o)) % m
        else:
            gen = torch.Generator().manual_seed(int(seed))
            choice = torch.randint(0, m, (n, o), generator=gen)
        self.register_buffer("index", (torch.arange(o) * m + choice).to(torch.int64))
        self.bn = nn.BatchNorm2d(n)
        self.act = nn.ReLU(inplace=True)

    def extra_repr(self) -> str:
        c, n, o, m, k = self.cfg.in_channels, self.cfg.out_channels, self.cfg.o, self.cfg.m, self.cfg.kernel
        return (
            f"lego filters: {m} x {c // o} x {k}x{k} (m x c/o x k x k) shared by o={o} splits, stride "
            f"{self.cfg.stride}; sparse merge: each of n={n} outputs gathers o={o} maps, scaled by alpha ({n}, {o})"
        )

    @property
    def choice(self) -> Tensor:
        """π(i, j) ∈ [0, m): the Lego filter output i takes from split j."""
        return self.index - torch.arange(self.cfg.o, device=self.index.device) * self.cfg.m

    def split_transform(self, x: Tensor) -> Tensor:
        """Every split convolved with every Lego filter: (N, o·m, H', W'), x's format."""
        n, c, h, w = x.shape
        o, m, k, s = self.cfg.o, self.cfg.m, self.cfg.kernel, self.cfg.stride
        cl = is_channels_last(x)
        if o == 1:
            return F.conv2d(x, self.lego, None, s, k // 2)
        if cl:  # (N, H, W, o, c/o) -> (N·o, H, W, c/o): one copy, stays channels_last
            xs = x.permute(0, 2, 3, 1).reshape(n, h, w, o, c // o).permute(0, 3, 1, 2, 4)
            xs = xs.reshape(n * o, h, w, c // o).permute(0, 3, 1, 2)
        else:
            xs = x.reshape(n * o, c // o, h, w)
        y = F.conv2d(xs, self.lego, None, s, k // 2)
        hp, wp = y.shape[-2:]
        if is_channels_last(y):  # (N·o, H', W', m) -> (N, H', W', o·m)
            y = y.permute(0, 2, 3, 1).reshape(n, o, hp, wp, m).permute(0, 2, 3, 1, 4)
            return y.reshape(n, hp, wp, o * m).permute(0, 3, 1, 2)
        return y.reshape(n, o * m, hp, wp)

    def merge(self, y: Tensor) -> Tensor:
        """Output i = Σ_j α(i, j)·y[j·m + π(i, j)]: gather n·o maps, grouped 1×1 conv (groups=n)."""
        n, o = self.cfg.out_channels, self.cfg.o
        sel = y.index_select(1, self.index.reshape(-1))
        if is_channels_last(y) and not is_channels_last(sel):
            sel = sel.contiguous(memory_format=torch.channels_last)
        return F.conv2d(sel, self.alpha.reshape(n, o, 1, 1), groups=n)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.merge(self.split_transform(x))))
