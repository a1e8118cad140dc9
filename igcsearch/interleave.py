"""The interleaved mix of IGC blocks: fused kernels for "permute, 1×1 group conv, permute".

IGC-V1 runs P, a secondary 1×1 conv with M groups of L channels, then Pᵀ; each 1×1 stage of
IGC-V2 runs its group conv, then a channel shuffle. Both are one *interleaved mix*: from the
input viewed as (N, L, M, X) and a weight A of shape (M, L', L),

    out[n, l', m, x] = sum_l A[m, l', l] · y[n, l, m, x]

written directly in the order the block needs. Every variant here computes the same function
as the naive permutation copies around an ``nn.Conv2d`` group conv (the papers' code), with
the same parameters and the same MACs (C·L per position; the permutations cost 0 MACs but move
every activation). The maths of the permutations and the complementary condition:
``docs/families.md#igc1`` (and ``#igc2``); the variants and the measured rule:
``docs/families.md#interleaved-mix-kernels``.

Variants (``impl=`` of :class:`~igcsearch.families.igc1_block.Igc1Block` and
:class:`~igcsearch.families.igc2_block.Igc2Block`):

- ``"naive"``: explicit permutation copies around a grouped 1×1 conv (the papers' code);
- ``"bcast"``: the 1×1 group conv and its permutation(s) fused into L broadcast
  multiply-adds on the (L, M) view, writing the permuted output directly (the registered op
  ``igcsearch::interleaved_mix``, so fvcore sees and counts it);
- ``"matmul"``: the same as one batched matmul on the (L, M) view;
- ``"einsum"``: the same as one ``torch.einsum`` (for comparison; never the fastest);
- ``"auto"`` (default) and ``"fused"``: per stage, the fastest variant by the measured rule
  of :func:`auto_variant` (bcast for small L, matmul for large L; naive only where L = 1 or
  M = 1, where the permutations are identities and there is nothing to fuse).

Every impl has the same parameters (the secondary conv stays an ``nn.Conv2d``), so a
state_dict moves between impls unchanged.

Memory format: NCHW and channels_last both work; a channels_last input gives a channels_last
output (the permutations here keep the input's format: a plain ``reshape`` of a channels_last
tensor silently returns NCHW). Also here: the small torch helpers every block module shares
(:func:`conv2d`, :func:`is_channels_last`, :func:`channel_shuffle`) and the check of the
``impl`` option every block takes (:func:`check_block_impl`).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils import flop_counter

from .errors import ConfigError

IMPLS = ("auto", "fused", "naive", "bcast", "matmul", "einsum")
VARIANTS = ("naive", "bcast", "matmul", "einsum")  # what an impl resolves to per stage


# ---------------------------------------------------------------- the impl option and helpers


def check_block_impl(family: str, impl: str | None) -> str:
    """The impl a block runs: None is ``"auto"``; anything not in :data:`IMPLS` is a ConfigError."""
    if impl is None:
        return "auto"
    if impl not in IMPLS:
        raise ConfigError(f"{family}: impl={impl!r} is invalid; must be one of {', '.join(IMPLS)}")
    return impl


def conv2d(cin: int, cout: int, k: int, stride: int = 1, groups: int = 1) -> nn.Conv2d:
    """Bias-free k×k conv, padding k//2 (the one place the block conventions live)."""
    return nn.Conv2d(cin, cout, k, stride=stride, padding=k // 2, groups=groups, bias=False)


def is_channels_last(x: Tensor) -> bool:
    """True for a 4-D tensor stored NHWC (and not also NCHW-contiguous)."""
    return x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last)


def channel_shuffle(x: Tensor, groups: int) -> Tensor:
    """``channel_shuffle(groups)``: view channels as (groups, C/groups), transpose, flatten.

    One copy, in the input's memory format (a plain reshape would turn channels_last into
    NCHW). Identity (no copy) when groups is 1 or C.
    """
    n, c, h, w = x.shape
    if groups in (1, c):
        return x
    if is_channels_last(x):
        t = x.permute(0, 2, 3, 1).reshape(n, h, w, groups, c // groups).transpose(3, 4).reshape(n, h, w, c)
        return t.permute(0, 3, 1, 2)
    return x.reshape(n, groups, c // groups, h, w).transpose(1, 2).reshape(n, c, h, w)


def grouped_view(x: Tensor, a: int, b: int) -> Tensor:
    """(N, C, H, W) as (N, a, b, H·W) without a copy, in either memory format (C = a·b)."""
    n, _, h, w = x.shape
    if is_channels_last(x):
        return x.permute(0, 2, 3, 1).reshape(n, h * w, a, b).permute(0, 2, 3, 1)
    return x.reshape(n, a, b, h * w)


def _alloc(n: int, lp: int, m: int, x: int, like: Tensor, channels_last: bool) -> Tensor:
    """Empty (N, L', M, X) laid out so that it reshapes to (N, L'·M, H, W) without a copy."""
    if channels_last:
        return torch.empty((n, x, lp, m), dtype=like.dtype, device=like.device).permute(0, 2, 3, 1)
    return torch.empty((n, lp, m, x), dtype=like.dtype, device=like.device)


def _place(t: Tensor, channels_last: bool) -> Tensor:
    """(N, L', M, X) in any layout -> the same values laid out as :func:`_alloc` (<= one copy)."""
    if channels_last:
        if t.permute(0, 3, 1, 2).is_contiguous():
            return t
        n, lp, m, x = t.shape
        return _alloc(n, lp, m, x, t, True).copy_(t)
    return t.contiguous()


# ---------------------------------------------------------------- the fused interleaved mix
#
# All fused variants compute, from y viewed as (N, L, M, X) and A of shape (M, L', L),
#     out[n, l', m, x] = sum_l A[m, l', l] * y[n, l, m, x]          (N, L', M, X)
# i.e. a 1x1 conv with M groups of L channels applied to the permuted y, followed by the
# inverse permutation, without materialising either permutation: the output is written
# directly in the order the block needs. MACs = N·L'·M·X·L (= C·L per position).


def _mix_bcast_impl(y: Tensor, w: Tensor, channels_last: bool) -> Tensor:
    """L broadcast multiply-adds into a preallocated output (the ``bcast`` variant)."""
    n, L, m, x = y.shape
    b = w.permute(1, 2, 0).contiguous().unsqueeze(-1)  # (L', L, M, 1): b[:, l] broadcasts over N and X
    out = _alloc(n, w.shape[1], m, x, y, channels_last)  # the kernel runs below autograd: out= is fine
    torch.mul(y[:, 0:1], b[:, 0], out=out)
    for i in range(1, L):
        out.addcmul_(y[:, i : i + 1], b[:, i])
    return out


def _mix_backward(ctx: Any, grad: Tensor) -> tuple[Tensor | None, Tensor | None, None]:
    """Gradients of the mix: grad_y is the mix of grad by Aᵀ; grad_w contracts grad with y."""
    y, w = ctx.saved_tensors
    grad_y = grad_w = None
    if ctx.needs_input_grad[0]:
        grad_y = torch.ops.igcsearch.interleaved_mix(grad, w.transpose(1, 2), ctx.channels_last)
    if ctx.needs_input_grad[1]:
        grad_w = torch.einsum("npmx,nlmx->mpl", grad, y)
    return grad_y, grad_w, None


def _mix_setup_context(ctx: Any, inputs: tuple[Any, ...], output: Tensor) -> None:
    y, w, channels_last = inputs
    ctx.save_for_backward(y, w)
    ctx.channels_last = channels_last


def _mix_fake(y: Tensor, w: Tensor, channels_last: bool) -> Tensor:
    """The output's shape and layout without computing it (meta and fake tensors)."""
    n, _, m, x = y.shape
    return _alloc(n, w.shape[1], m, x, y, channels_last)


def _mix_flops(y_shape: Any, w_shape: Any, *args: Any, out_shape: Any = None, **kwargs: Any) -> int:
    """``torch.utils.flop_counter`` formula: L MACs per output element, 2 FLOPs per MAC."""
    return 2 * math.prod(out_shape) * y_shape[1]


def _register_mix() -> Any:
    """Register ``igcsearch::interleaved_mix`` once, as one op every counter sees.

    An explicit kernel (CompositeExplicitAutograd) with its own backward, so that both the JIT
    tracer (fvcore, counted by ``counting.interleaved_mix_macs``) and PyTorch's dispatch-level
    counters (``torch.utils.flop_counter.FlopCounterMode``, counted by :func:`_mix_flops`)
    see the op itself rather than its multiply-adds, which count no MACs.
    """
    try:
        torch.ops.igcsearch.interleaved_mix  # noqa: B018  (already registered: module reloaded)
        return None
    except (AttributeError, RuntimeError):
        pass
    lib = torch.library.Library("igcsearch", "FRAGMENT")
    lib.define("interleaved_mix(Tensor y, Tensor w, bool channels_last) -> Tensor")
    lib.impl("interleaved_mix", _mix_bcast_impl, "CompositeExplicitAutograd")
    torch.library.register_fake("igcsearch::interleaved_mix", _mix_fake, lib=lib)
    torch.library.register_autograd(
        "igcsearch::interleaved_mix", _mix_backward, setup_context=_mix_setup_context, lib=lib
    )
    flop_counter.register_flop_formula(torch.ops.igcsearch.interleaved_mix)(_mix_flops)
    return lib


_LIB = _register_mix()  # keep the Library alive: dropping it unregisters the op


def mix_bcast(y: Tensor, w: Tensor, channels_last: bool) -> Tensor:
    """The interleaved mix by broadcast multiply-adds (one registered, countable op)."""
    return torch.ops.igcsearch.interleaved_mix(y, w, channels_last)


def mix_matmul(y: Tensor, w: Tensor, channels_last: bool) -> Tensor:
    """The interleaved mix as one batched matmul over the M groups (fvcore counts matmul)."""
    if channels_last:  # y is (N, X, L, M) in memory: contract its L with A^T, batch over (N, M)
        out = torch.matmul(y.permute(0, 2, 3, 1), w.transpose(1, 2))  # (N, M, X, L')
        return _place(out.permute(0, 3, 1, 2), True)
    out = torch.matmul(w, y.transpose(1, 2))  # (M, L', L) @ (N, M, L, X) -> (N, M, L', X)
    return _place(out.transpose(1, 2), False)


def mix_einsum(y: Tensor, w: Tensor, channels_last: bool) -> Tensor:
    """The interleaved mix as one einsum (fvcore counts einsum)."""
    return _place(torch.einsum("mpl,nlmx->npmx", w, y), channels_last)


MIX = {"bcast": mix_bcast, "matmul": mix_matmul, "einsum": mix_einsum}


def auto_variant(L: int, M: int, channels_last: bool, stage: str = "igc1") -> str:
    """The fastest variant of one interleaved stage, by a rule measured on this machine.

    ``L``: channels per group of the 1×1 conv (the contraction length; K_i in IGC-V2);
    ``M``: its number of groups (C/K_i in IGC-V2); ``stage``: "igc1" (P, 1×1 group conv, Pᵀ)
    or "igc2" (1×1 group conv, then its shuffle). The rule:

    - L = 1 or M = 1: ``naive`` (the permutations are identities, the stage is a plain conv);
    - NCHW: ``bcast`` if L <= 4 (igc2: L <= 2), else ``matmul``;
    - channels_last: ``bcast`` if L <= 2 and M >= 8, or L <= 8 (igc2: L <= 4) and M >= 16,
      else ``matmul`` (the innermost loop of the broadcast multiply-adds runs over M: short
      loops lose).

    Measured with ``benchmarks/bench_blocks.py`` on this 2-core x86 machine (torch 2.13 CPU,
    1 thread, batch 8, 32×32, C = 64; 9 interleaved rounds, medians of per-round ratios; the
    machine was shared, load 3-4). Speed-up over naive of the replaced stage, bcast / matmul:

    ======  ===============  ===============
    L×M     NCHW             channels_last
    ======  ===============  ===============
    2×32    3.82 / 2.10      8.20 / 1.50
    4×16    1.93 / 1.73      3.34 / 1.42
    8×8     1.10 / 1.31      0.74 / 2.02
    16×4    0.95 / 1.75      0.13 / 1.40
    32×2    0.55 / 1.29      0.06 / 1.33
    64×1    0.24 / 0.99      0.03 / 1.00
    ======  ===============  ===============

    Whole block with ``auto``: NCHW 1.15, 1.14, 1.04, 1.09, 1.06, 1.00× naive; channels_last
    1.97, 1.60, 1.49, 1.10, 1.07, 1.00× (same rows). einsum is never clearly best (within
    noise of matmul for L >= 8 in NCHW) and slower than naive at M = 1 (0.81 / 0.31).
    IGC-V2 stage (1×1 conv + one shuffle, L = K_i): the matmul reads the (C/K_i, K_i) view
    with no input copy, so it wins from K_i = 4 in NCHW (K=2: 3.19 / 2.52, K=4: 1.73 / 1.97,
    K=8: 1.08 / 1.40), and bcast reads that view strided, so in channels_last it stops at
    K_i = 4 (K=2: 4.03 / 1.16, K=4 (M=16): 1.48 / 1.21, K=8: 0.42 / 1.48; C=128, K=8, M=16:
    0.60 / 1.29 where IGC-V1's L=8, M=16 gives 1.81 / 1.18). Other widths (IGC-V1 stage,
    bcast / matmul): NCHW C=16 L4M4 1.63 / 1.11, C=32 L4M8 2.92 / 1.94, C=256 L8M32
    1.40 / 1.81; channels_last C=16 L2M8 2.74 / 2.50, C=16 L4M4 0.78 / 2.10, C=32 L4M8
    1.43 / 1.90, C=128 L8M16 1.81 / 1.18, C=256 L8M32 2.00 / 1.17. Known misses: C=256,
    L=16, M=16 channels_last (matmul 1.01, IGC-V2 K=16 0.86: naive as fast or faster).
    """
    size, groups = L, M  # lower-case names: ruff reads upper-case ones as constants
    if size == 1 or groups == 1:
        return "naive"
    if not channels_last:
        return "bcast" if size <= (4 if stage == "igc1" else 2) else "matmul"
    largest = 8 if stage == "igc1" else 4
    return "bcast" if (size <= 2 and groups >= 8) or (size <= largest and groups >= 16) else "matmul"


def resolve(impl: str, L: int, M: int, channels_last: bool, stage: str) -> str:
    """The variant an impl runs for one stage.

    ``fused`` and ``auto`` both follow :func:`auto_variant`: its rule picks naive only where
    the permutations are identities (L = 1 or M = 1), i.e. where there is nothing to fuse.
    """
    if impl in VARIANTS:
        return impl
    return auto_variant(L, M, channels_last, stage)  # "fused" too: auto is naive only where nothing is fused
