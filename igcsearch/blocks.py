"""Torch modules of every block family, each built from its config alone (METHODS.md §0–§4).

Conventions: every conv is bias-free with padding k//2 and the stride on the block's k×k
conv; every family ends in ONE BatchNorm2d over C_out then ReLU, with no BN between its inner
convs, except igc3 (the official IGC-V3 unit: BN after each conv, ReLU6, linear output,
residual). For every module ``sum(p.numel())`` equals the analytic params exactly, and
fvcore's MACs (see :mod:`igcsearch.counting`) equal the analytic MACs exactly, for every impl.

Memory format: NCHW and channels_last both work; a channels_last input gives a channels_last
output (the permutations below keep the input's format: a plain ``reshape`` of a
channels_last tensor silently returns NCHW).

IGC permutations cost 0 MACs but move every activation. ``Igc1Block``/``Igc2Block`` take
``impl=``:

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
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .errors import ConfigError

IMPLS = ("auto", "fused", "naive", "bcast", "matmul", "einsum")
VARIANTS = ("naive", "bcast", "matmul", "einsum")  # what an impl resolves to per stage


# ---------------------------------------------------------------- options and helpers


def _options(cfg: Any, opts: dict[str, Any], allowed: tuple[str, ...] = ("impl",)) -> dict[str, Any]:
    """Validate build options: unknown names and a bad ``impl`` are ConfigErrors."""
    unknown = sorted(set(opts) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{cfg.family}: unknown build option(s) {', '.join(unknown)}; valid options: {', '.join(allowed)}"
        )
    impl = opts.get("impl", "auto")
    if impl is None:
        impl = "auto"
    if impl not in IMPLS:
        raise ConfigError(f"{cfg.family}: impl={impl!r} is invalid; must be one of {', '.join(IMPLS)}")
    return {**opts, "impl": impl}


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


def _grouped_view(x: Tensor, a: int, b: int) -> Tensor:
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
    out = _alloc(n, w.shape[1], m, x, y, channels_last)
    if torch.is_grad_enabled() and (y.requires_grad or w.requires_grad):
        out.zero_()  # out= is not differentiable; in-place addcmul_ is
        for i in range(L):
            out.addcmul_(y[:, i : i + 1], b[:, i])
        return out
    torch.mul(y[:, 0:1], b[:, 0], out=out)
    for i in range(1, L):
        out.addcmul_(y[:, i : i + 1], b[:, i])
    return out


def _register_mix() -> Any:
    """Register ``igcsearch::interleaved_mix`` once (fvcore traces it as one node it can count).

    CompositeImplicitAutograd: autograd differentiates through the decomposition, while the
    JIT tracer (fvcore) records the op itself, counted by ``counting.interleaved_mix_macs``.
    """
    try:
        torch.ops.igcsearch.interleaved_mix  # noqa: B018  (already registered: module reloaded)
        return None
    except (AttributeError, RuntimeError):
        pass
    lib = torch.library.Library("igcsearch", "FRAGMENT")
    lib.define("interleaved_mix(Tensor y, Tensor w, bool channels_last) -> Tensor")
    lib.impl("interleaved_mix", _mix_bcast_impl, "CompositeImplicitAutograd")
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


def _resolve(impl: str, L: int, M: int, channels_last: bool, stage: str) -> str:
    """The variant an impl runs for one stage.

    ``fused`` and ``auto`` both follow :func:`auto_variant`: its rule picks naive only where
    the permutations are identities (L = 1 or M = 1), i.e. where there is nothing to fuse.
    """
    if impl in VARIANTS:
        return impl
    return auto_variant(L, M, channels_last, stage)  # "fused" too: auto is naive only where nothing is fused


# ---------------------------------------------------------------- families


class ConvBlock(nn.Module):
    """Regular k×k conv, BN, ReLU (the baseline)."""

    def __init__(self, cfg: Any, **opts: Any) -> None:
        super().__init__()
        _options(cfg, opts)
        self.cfg = cfg
        self.conv = conv2d(cfg.in_channels, cfg.out_channels, cfg.kernel, cfg.stride, groups=self.groups(cfg))
        self.bn = nn.BatchNorm2d(cfg.out_channels)
        self.act = nn.ReLU(inplace=True)

    @staticmethod
    def groups(cfg: Any) -> int:
        """Groups of the k×k conv: 1 for the regular conv."""
        return 1

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.conv(x)))


class GroupBlock(ConvBlock):
    """k×k group conv with g groups, BN, ReLU."""

    @staticmethod
    def groups(cfg: Any) -> int:
        """g groups."""
        return cfg.g


class DwsepBlock(nn.Module):
    """Depthwise k×k conv C_in→r·C_in (C_in groups), pointwise 1×1 r·C_in→C_out, BN, ReLU."""

    def __init__(self, cfg: Any, **opts: Any) -> None:
        super().__init__()
        _options(cfg, opts)
        self.cfg = cfg
        mid = cfg.r * cfg.in_channels
        self.depthwise = conv2d(cfg.in_channels, mid, cfg.kernel, cfg.stride, groups=cfg.in_channels)
        self.pointwise = conv2d(mid, cfg.out_channels, 1)
        self.bn = nn.BatchNorm2d(cfg.out_channels)
        self.act = nn.ReLU(inplace=True)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.pointwise(self.depthwise(x))))


class Igc1Block(nn.Module):
    """IGC-V1: primary k×k conv (L groups), P, secondary 1×1 conv (M groups), Pᵀ, BN, ReLU.

    ``impl`` (see the module docstring) only changes how P, the secondary conv and Pᵀ run:
    the fused variants read the primary output as (L, M) and write the block output in its
    final order, with the secondary weight (C, L, 1, 1) read as A = weight.reshape(M, L, L).
    """

    def __init__(self, cfg: Any, **opts: Any) -> None:
        super().__init__()
        self.impl = _options(cfg, opts)["impl"]
        self.cfg = cfg
        C, L, M = cfg.out_channels, cfg.L, cfg.M
        self.primary = conv2d(cfg.in_channels, C, cfg.kernel, cfg.stride, groups=L)
        self.secondary = conv2d(C, C, 1, groups=M)
        self.bn = nn.BatchNorm2d(C)
        self.act = nn.ReLU(inplace=True)
        self.variants = {cl: _resolve(self.impl, L, M, cl, "igc1") for cl in (False, True)}

    def interleave(self, y: Tensor) -> Tensor:
        """Pᵀ · secondary · P applied to the primary output y, by the resolved variant."""
        L, M = self.cfg.L, self.cfg.M
        cl = is_channels_last(y)
        variant = self.variants[cl]
        if variant == "naive":
            return channel_shuffle(self.secondary(channel_shuffle(y, L)), M)
        A = self.secondary.weight.reshape(M, L, L)
        out = MIX[variant](_grouped_view(y, L, M), A, cl)
        return out.reshape(y.shape)

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.interleave(self.primary(x))))


class Igc2Block(nn.Module):
    """IGC-V2: W_1 k×k (C/K_1 groups), then P_i after each W_i, W_2..W_n 1×1; BN, ReLU.

    P_i = channel_shuffle(C/K_i). The fused variants fuse each 1×1 W_i with its own P_i (the
    product is the interleaved mix with L = K_i, M = C/K_i on the transposed (C/K_i, K_i)
    view, written in P_i's order); P_1 after the k×k conv stays a copy, and is an identity
    (no copy) in the paper's K_1 = 1 case.
    """

    def __init__(self, cfg: Any, **opts: Any) -> None:
        super().__init__()
        self.impl = _options(cfg, opts)["impl"]
        self.cfg = cfg
        C, K = cfg.out_channels, cfg.K
        first = conv2d(C, C, cfg.kernel, cfg.stride, groups=C // K[0])
        self.convs = nn.ModuleList([first, *(conv2d(C, C, 1, groups=C // k) for k in K[1:])])
        self.bn = nn.BatchNorm2d(C)
        self.act = nn.ReLU(inplace=True)
        self.variants = {cl: tuple(_resolve(self.impl, k, C // k, cl, "igc2") for k in K[1:]) for cl in (False, True)}

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
        return MIX[variant](_grouped_view(y, g, k).transpose(1, 2), A, cl).reshape(y.shape)

    def chain(self, x: Tensor) -> Tensor:
        """P_n W_n ⋯ P_1 W_1 x."""
        y = channel_shuffle(self.convs[0](x), self.cfg.out_channels // self.cfg.K[0])
        for i in range(1, len(self.convs)):
            y = self.stage(i, y)
        return y

    def forward(self, x: Tensor) -> Tensor:
        return self.act(self.bn(self.chain(x)))


class Igc3Block(nn.Module):
    """IGC-V3 unit (official): 1×1 group conv G1 C_in→E + BN, channel_shuffle(G1), k×k
    depthwise on E (stride s) + BN + ReLU6, 1×1 group conv G2 E→C_out + BN (linear);
    residual add when stride 1 and C_in = C_out.

    ``impl`` is accepted for a uniform build interface and ignored: the one shuffle sits
    before a depthwise conv, which no fused stage here replaces.
    """

    def __init__(self, cfg: Any, **opts: Any) -> None:
        super().__init__()
        _options(cfg, opts)
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
    """

    def __init__(self, cfg: Any, **opts: Any) -> None:
        super().__init__()
        opts = _options(cfg, opts, allowed=("impl", "seed"))
        self.cfg = cfg
        c, n, o, m, k = cfg.in_channels, cfg.out_channels, cfg.o, cfg.m, cfg.kernel
        self.lego = nn.Parameter(torch.empty(m, c // o, k, k))
        self.alpha = nn.Parameter(torch.empty(n, o))
        nn.init.kaiming_uniform_(self.lego, a=5**0.5)  # nn.Conv2d's default init
        bound = 1.0 / o**0.5
        nn.init.uniform_(self.alpha, -bound, bound)
        seed = opts.get("seed")
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


BLOCKS: dict[str, type[nn.Module]] = {
    "conv": ConvBlock,
    "group": GroupBlock,
    "dwsep": DwsepBlock,
    "igc1": Igc1Block,
    "igc2": Igc2Block,
    "igc3": Igc3Block,
    "lego": LegoBlock,
}
