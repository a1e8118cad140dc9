"""LegoNet training (docs/families.md#lego-training): learn the Lego filters, the coefficients and the
combination end to end, then convert to the sparse inference form (:class:`igcsearch.families.lego_block.LegoBlock`).

The combination π(i, j) (which of the m Lego filters output i takes from split j) is a
one-hot choice; it is learned through a float proxy N (n, o, m) with a straight-through
estimator: the forward pass uses the one-hot argmax of N, the backward pass copies the
gradient of the one-hot matrix to N unchanged. The Lego filters B (m, c/o, k, k) and the
coefficients α (n, o) train by ordinary backprop. ``freeze()`` fixes the combination (the
reference code does so after a short warm-up); :func:`usage_penalty` is an optional term
that pushes Lego usage towards uniform: m·Σ_p (u_p − 1/m)², with u the softmax of N
averaged over outputs and splits (our form of the reference code's balance term).

Training runs the layer as one conv with the composed kernel F_i = concat_j α(i,j)·B_π(i,j)
(mathematically the same map as split-transform-merge); :meth:`LegoTrainBlock.to_block`
gives the LegoBlock with the same outputs.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..families.lego_block import LegoBlock


class OneHotSTE(torch.autograd.Function):
    """Forward: one-hot of the argmax over the last dim. Backward: the gradient, unchanged."""

    @staticmethod
    def forward(ctx: Any, proxy: Tensor) -> Tensor:
        return F.one_hot(proxy.argmax(dim=-1), proxy.shape[-1]).to(proxy.dtype)

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:
        return grad


def one_hot_ste(proxy: Tensor) -> Tensor:
    """The one-hot combination of a float proxy, with a straight-through gradient."""
    return OneHotSTE.apply(proxy)


class LegoTrainBlock(nn.Module):
    """Trainable Lego layer + the block's BN and ReLU; same parameters as LegoBlock plus ``proxy``.

    ``lego`` (m, c/o, k, k) and ``alpha`` (n, o) have LegoBlock's layout; ``proxy`` (n, o, m)
    is the float proxy N of the combination; the ``frozen`` buffer (saved in the state_dict)
    says whether the combination is fixed.
    """

    def __init__(self, cfg: Any, *, proxy_scale: float = 1e-2, seed: int | None = None) -> None:
        super().__init__()
        block = LegoBlock(cfg) if seed is None else LegoBlock(cfg, seed=seed)
        self._take(block, proxy_scale)

    def _take(self, block: LegoBlock, proxy_scale: float) -> None:
        cfg = block.cfg
        self.cfg = cfg
        self.lego = nn.Parameter(block.lego.detach().clone())
        self.alpha = nn.Parameter(block.alpha.detach().clone())
        # the proxy starts at the block's combination, with small noise so that ties can break
        start = F.one_hot(block.choice, cfg.m).float()
        gen = torch.Generator().manual_seed(0)
        noise = torch.randn(start.shape, generator=gen) * 0.1
        self.proxy = nn.Parameter(((start + noise) * proxy_scale).to(block.lego.device, block.lego.dtype))
        self.register_buffer("frozen", torch.zeros((), dtype=torch.bool, device=block.lego.device))
        self.bn = block.bn
        self.act = block.act

    @classmethod
    def from_block(cls, block: LegoBlock, proxy_scale: float = 1e-2) -> LegoTrainBlock:
        """The trainable form of a LegoBlock: its filters, coefficients, combination, BN and ReLU."""
        self = cls.__new__(cls)
        nn.Module.__init__(self)
        self._take(block, proxy_scale)
        self.train(block.training)
        return self

    @property
    def choice(self) -> Tensor:
        """π(i, j) ∈ [0, m): the current argmax of the proxy, (n, o)."""
        return self.proxy.detach().argmax(dim=-1)

    def combination(self) -> Tensor:
        """The one-hot matrix (n, o, m): straight-through while learning, constant once frozen."""
        if bool(self.frozen):
            return F.one_hot(self.choice, self.cfg.m).to(self.lego.dtype)
        return one_hot_ste(self.proxy)

    def freeze(self) -> None:
        """Fix the combination at the current argmax (the proxy gets no more gradient)."""
        self.frozen.fill_(True)
        self.proxy.requires_grad_(False)

    def kernel(self) -> Tensor:
        """The composed regular kernel (n, c, k, k): F_i = concat_j α(i,j)·B_π(i,j)."""
        n, k = self.cfg.out_channels, self.cfg.kernel
        coef = self.combination() * self.alpha.unsqueeze(-1)  # (n, o, m)
        w = torch.einsum("ijp,pchw->ijchw", coef, self.lego)  # (n, o, c/o, k, k)
        return w.reshape(n, -1, k, k)

    def forward(self, x: Tensor) -> Tensor:
        y = F.conv2d(x, self.kernel(), None, self.cfg.stride, self.cfg.kernel // 2)
        return self.act(self.bn(y))

    def usage(self) -> Tensor:
        """Soft usage of each Lego filter: softmax of the proxy averaged over outputs and splits (m,)."""
        return self.proxy.softmax(dim=-1).mean(dim=(0, 1))

    def to_block(self) -> LegoBlock:
        """The sparse inference form (LegoBlock) with the same outputs; shares BN and ReLU modules."""
        cfg = self.cfg
        block = LegoBlock(cfg).to(self.lego.device, self.lego.dtype)
        with torch.no_grad():
            block.lego.copy_(self.lego)
            block.alpha.copy_(self.alpha)
            index = torch.arange(cfg.o, device=self.lego.device) * cfg.m + self.choice
            block.index.copy_(index.to(block.index.dtype))
        block.bn = self.bn
        block.act = self.act
        block.train(self.training)
        return block


def _replace(model: nn.Module, kind: type, make: Any) -> int:
    """Replace every submodule of type ``kind`` by ``make(module)``; returns how many."""
    names = [n for n, m in model.named_modules() if type(m) is kind and n]
    for name in names:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        setattr(parent, child, make(model.get_submodule(name)))
    if type(model) is kind:
        raise ValueError("the model itself is a Lego block: wrap it in a network first")
    return len(names)


def make_trainable(model: nn.Module) -> int:
    """Swap every LegoBlock of ``model`` for its trainable form (in place); returns how many."""
    return _replace(model, LegoBlock, LegoTrainBlock.from_block)


def to_inference(model: nn.Module) -> int:
    """Swap every LegoTrainBlock back to the sparse LegoBlock (in place); returns how many."""
    return _replace(model, LegoTrainBlock, LegoTrainBlock.to_block)


def lego_blocks(model: nn.Module) -> list[LegoTrainBlock]:
    """The trainable Lego layers of a model."""
    return [m for m in model.modules() if isinstance(m, LegoTrainBlock)]


def freeze(model: nn.Module) -> int:
    """Fix the combination of every trainable Lego layer; returns how many."""
    blocks = lego_blocks(model)
    for b in blocks:
        b.freeze()
    return len(blocks)


def usage_penalty(model: nn.Module) -> Tensor:
    """Σ over learning Lego layers of m·Σ_p (u_p − 1/m)²: 0 when every Lego filter is used equally."""
    terms = [b.cfg.m * ((b.usage() - 1.0 / b.cfg.m) ** 2).sum() for b in lego_blocks(model) if not bool(b.frozen)]
    if not terms:
        return torch.zeros(())
    return torch.stack(terms).sum()
