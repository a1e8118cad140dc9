"""`igcsearch convert`: replace every eligible ``nn.Conv2d`` of any model by a block family.

Each eligible conv (a regular conv: groups 1, dilation 1, square odd kernel k >= min_kernel,
padding k//2, zero padding, square stride) is replaced by the best valid config of the
family within **that layer's own budget**: at most the params of the conv (the module put in its
place, counted whole: the model's own BN after the conv stays, so a block's BN, or an igc3
unit's three, must fit within the conv's weights too) and at most its MACs, at the input size the layer really sees
(found by a forward hook on an example input); ``fraction`` < 1 scales both down. Strides are kept, so every output shape is
unchanged. The replaced layers are freshly initialised: train the converted model.

By default each conv becomes the **bare** block: the block without its final BN and ReLU
(plus the conv's bias, if it had one), i.e. a structured linear map in the conv's place, so
the BN and activation the model already applies after the conv still follow it once.
``block_bn=True`` keeps the block whole (its own BN + ReLU, as ``igcsearch search`` measured
it), which adds a BN and a ReLU after the layer. igc3 units always stay whole (they keep the
official unit's BN after each conv and end linear).

Loading, saving and probing the model: :mod:`igcsearch.handoff.model`.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from ..config import MAX_CHANNELS, MAX_KERNEL
from ..errors import IgcSearchError
from .model import (
    ConvSite,
    channels_origin,
    check_example,
    example_input,
    input_channels,
    probe_convs,
    run_model,
    set_module,
    shape_of,
    too_large,
)

RULES = {
    "widest-balanced": "most params within the layer's budget (the most capacity it allows) among configs within "
    "--balance-tol; ties: closer to balanced, fewer MACs",
    "most-balanced": "balance closest to 1 (igc1/igc2; other families tie), then most params, fewer MACs",
    "fewest-macs": "fewest MACs, then fewest params",
    "fewest-params": "fewest params, then fewest MACs",
}


def count_model(model: Any, in_channels: int, input_size: int) -> tuple[int, int, str]:
    """(params, MACs, note) of a whole model; ops fvcore cannot count are named in the note."""
    from ..counting import CountError, count

    try:
        params, macs = count(model, (in_channels, input_size, input_size))
        return params, macs, ""
    except CountError as exc:
        params, macs = count(model, (in_channels, input_size, input_size), strict=False)
        return params, macs, f"model MACs exclude ops fvcore cannot count ({str(exc).split(';')[0]})"


# ---------------------------------------------------------------- converting


class ChannelBias(nn.Module):
    """A learnable per-channel bias: keeps the bias of a converted conv (blocks are bias-free)."""

    def __init__(self, bias: torch.Tensor) -> None:
        super().__init__()
        self.bias = nn.Parameter(bias.detach().clone())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.bias.view(1, -1, 1, 1)


def bare(block: nn.Module) -> nn.Module:
    """The block without its final BN and ReLU (a structured linear map); igc3 stays whole.

    Every family but igc3 ends in ``self.bn`` then ``self.act`` (families/<name>_block.py); they become
    identities. An igc3 unit keeps its three BNs, its inner ReLU6 and its residual.
    """
    from ..families.igc3_block import Igc3Block

    if not isinstance(block, Igc3Block) and hasattr(block, "bn") and hasattr(block, "act"):
        block.bn = nn.Identity()
        block.act = nn.Identity()
    return block


@dataclass
class LayerChange:
    """One converted conv: where, its geometry, and the counts before and after."""

    name: str
    in_channels: int
    out_channels: int
    kernel: int
    stride: int
    input_size: int  # H = W of the layer's input
    key: str
    params_before: int  # conv weight (+ bias)
    macs_before: int  # per forward (times the calls of a shared conv)
    params_after: int  # the module now in its place (numel; MACs: the config's analytic count)
    macs_after: int


@dataclass
class ConvertResult:
    """The converted model, what changed, what did not (and why), and whole-model counts."""

    model: nn.Module
    family: str
    rule: str
    changes: list[LayerChange]
    skipped: list[tuple[str, str]]  # (layer, reason)
    totals: dict[str, int]  # params_before, macs_before, params_after, macs_after
    notes: list[str]


def ineligible(site: ConvSite, min_kernel: int) -> str | None:
    """Why a conv cannot be replaced by a block (None if it can)."""
    conv = site.conv
    if type(conv).forward is not nn.Conv2d.forward:
        return f"{type(conv).__name__} overrides forward (not a plain nn.Conv2d)"
    if site.calls == 0:
        return "not run by the forward on the example input"
    if len(site.shapes) > 1:
        return f"called on inputs of different sizes {sorted(site.shapes)}"
    kh, kw = conv.kernel_size
    if conv.groups != 1:
        return f"grouped conv (groups={conv.groups}): not a regular conv"
    if kh != kw:
        return f"non-square kernel {kh}x{kw}"
    if kh % 2 == 0:
        return f"even kernel {kh}: blocks pad k//2 and need an odd k"
    if kh < min_kernel:
        return f"kernel {kh} < --min-kernel {min_kernel}"
    if kh > MAX_KERNEL:
        return f"kernel {kh} > {MAX_KERNEL}, the largest a block config takes"
    if max(conv.in_channels, conv.out_channels) > MAX_CHANNELS:
        return f"more than {MAX_CHANNELS:,} channels, the most a block config takes"
    if conv.dilation != (1, 1):
        return f"dilation {conv.dilation}: blocks use dilation 1"
    if conv.padding_mode != "zeros":
        return f"padding_mode={conv.padding_mode!r}: blocks pad with zeros"
    if conv.stride[0] != conv.stride[1]:
        return f"non-square stride {conv.stride}"
    padding = conv.padding
    if padding == "same":
        padding = (kh // 2, kh // 2)
    if padding != (kh // 2, kh // 2):
        return f"padding {padding} would change the output size: blocks pad k//2 = {kh // 2}"
    h, w = site.in_hw
    if h != w:
        return f"non-square input {h}x{w}: counts assume square feature maps"
    return None


def choose(candidates: Any, rule: str) -> Any:
    """The candidate row (a pandas Series) the rule picks; ties are broken by key."""
    if rule not in RULES:
        raise IgcSearchError(f"unknown --rule {rule!r}; choose from: {', '.join(RULES)}")
    df = candidates.copy()
    df["_dev"] = df["balance"].astype(float).fillna(1.0)
    by = {
        "widest-balanced": (["params", "_dev", "macs", "key"], [False, True, True, True]),
        "most-balanced": (["_dev", "params", "macs", "key"], [True, False, True, True]),
        "fewest-macs": (["macs", "params", "key"], [True, True, True]),
        "fewest-params": (["params", "macs", "key"], [True, True, True]),
    }[rule]
    return df.sort_values(by[0], ascending=by[1], kind="stable").iloc[0]


def layer_budget(conv: nn.Conv2d, out_hw: tuple[int, int], fraction: float, stripped: int = 0) -> tuple[int, int]:
    """(params_max, macs_max) of a family's configs (their analytic params include the block's BN).

    What goes in the conv's place may have at most ``fraction`` of the conv's weights, so that the
    whole model never grows (the BN the model has after the conv stays); ``stripped`` is what
    :func:`bare` takes off a config's analytic params (its final BN), 0 when the block stays
    whole (``block_bn``, igc3). MACs: at most ``fraction`` of the conv's.
    """
    weights = conv.weight.numel()
    return math.floor(fraction * weights) + stripped, math.floor(fraction * weights * out_hw[0] * out_hw[1])


def stripped_params(family: str, out_channels: int, block_bn: bool) -> int:
    """The params :func:`bare` removes from a block of the family: its final BN, or 0 (whole blocks)."""
    return 0 if block_bn or family == "igc3" else 2 * out_channels


def candidates_for(conv: nn.Conv2d, size: int, family: str, balance_tol: float, budget: tuple[int, int]) -> Any:
    """Every valid config of the family for this conv's geometry within the budget (params, MACs)."""
    from ..api import enumerate_space

    rows = enumerate_space(
        in_channels=conv.in_channels,
        out_channels=conv.out_channels,
        kernel=conv.kernel_size[0],
        stride=conv.stride[0],
        input_size=size,
        family=family,
        params_max=budget[0],
        macs_max=budget[1],
        balance_tol="inf" if balance_tol == float("inf") else balance_tol,
    )
    # the listing always keeps the baseline conv row; here it must fit the budget like any other
    return rows[(rows["params"] <= budget[0]) & (rows["macs"] <= budget[1])]


def _why_none(conv: nn.Conv2d, size: int, family: str, balance_tol: float, budget: tuple[int, int]) -> str:
    """The reason a layer has no candidate, with a hint when only the balance tolerance is in the way."""
    from ..registry import get_family

    if get_family(family).square_only and conv.in_channels != conv.out_channels:
        return f"{family} blocks are square (C_in = C_out); this conv maps {conv.in_channels} -> {conv.out_channels}"
    what = (
        f"no valid {family} config for C_in={conv.in_channels}, C_out={conv.out_channels}, "
        f"k={conv.kernel_size[0]} within params <= {budget[0]:,} and MACs <= {budget[1]:,}"
    )
    if family in ("igc1", "igc2") and balance_tol != float("inf"):
        n = len(candidates_for(conv, size, family, float("inf"), budget))
        if n:
            return f"{what} and balance <= {balance_tol:g} ({n} with any balance: try --balance-tol inf)"
    return what


def conv_counts(conv: nn.Conv2d, out_hw: tuple[int, int]) -> tuple[int, int]:
    """(params, MACs) of a conv: weight (+ bias); k²·(C_in/g)·C_out per output position."""
    params = sum(p.numel() for p in conv.parameters())
    return params, conv.weight.numel() * out_hw[0] * out_hw[1]


def convert(
    model: nn.Module,
    family: str,
    rule: str = "widest-balanced",
    *,
    min_kernel: int = 3,
    in_channels: int | None = None,
    input_size: int = 224,
    balance_tol: float = 2.0,
    fraction: float = 1.0,
    block_bn: bool = False,
    impl: str = "auto",
) -> ConvertResult:
    """Replace every eligible nn.Conv2d of ``model`` (in place) by the family's best block.

    A layer's budget is ``fraction`` × (the params of its conv, the conv's MACs), counted on the
    module put in the conv's place, so the whole model never has more params than before. The example input (1, in_channels, input_size,
    input_size) finds each layer's input size; the model's output shape is checked unchanged.
    ``in_channels=None``: the in_channels of the model's first nn.Conv2d (the first registered).
    """
    from ..registry import get_family

    get_family(family)  # unknown family: one clear error
    if rule not in RULES:
        raise IgcSearchError(f"unknown --rule {rule!r}; choose from: {', '.join(RULES)}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"convert: model must be a torch.nn.Module, got {type(model).__name__}")
    origin = channels_origin(model, in_channels)
    in_channels = input_channels(model, in_channels)
    check_example(in_channels, input_size)
    if isinstance(fraction, bool) or not isinstance(fraction, (int, float)):
        raise TypeError(f"convert: fraction must be a number, got {type(fraction).__name__}")
    if not 0 < fraction <= 1:
        raise IgcSearchError(f"--fraction must be in (0, 1], got {fraction}")
    if isinstance(min_kernel, bool) or not isinstance(min_kernel, int):
        raise TypeError(f"convert: min_kernel must be an int, got {type(min_kernel).__name__}")
    if min_kernel < 1:
        raise IgcSearchError(f"--min-kernel must be >= 1, got {min_kernel}")
    with too_large(f"converting the model at input {in_channels}x{input_size}x{input_size}"):
        return _convert(
            model, family, rule, min_kernel, in_channels, input_size, balance_tol, fraction, block_bn, impl, origin
        )


def _convert(
    model: nn.Module, family: str, rule: str, min_kernel: int, in_channels: int, input_size: int, balance_tol: float,
    fraction: float, block_bn: bool, impl: str, origin: str = "",
) -> ConvertResult:  # fmt: skip
    from ..builder import build
    from ..config import parse_key

    x = example_input(model, in_channels, input_size)
    before_shape = shape_of(run_model(model, x, origin=origin))
    p0, m0, note0 = count_model(model, in_channels, input_size)
    sites = probe_convs(model, x, origin)
    changes: list[LayerChange] = []
    skipped: list[tuple[str, str]] = []
    for site in sites:
        reason = ineligible(site, min_kernel)
        if reason is not None:
            skipped.append((site.name, reason))
            continue
        conv = site.conv
        params_before, macs_before = conv_counts(conv, site.out_hw)
        size = site.in_hw[0]
        stripped = stripped_params(family, conv.out_channels, block_bn)
        budget = layer_budget(conv, site.out_hw, fraction, stripped)
        rows = candidates_for(conv, size, family, balance_tol, budget)
        if len(rows) == 0:
            skipped.append((site.name, _why_none(conv, size, family, balance_tol, budget)))
            continue
        row = choose(rows, rule)
        block = build(parse_key(row["key"]), impl=impl)
        if not block_bn:
            block = bare(block)
            if conv.bias is not None:
                block = nn.Sequential(OrderedDict([("block", block), ("bias", ChannelBias(conv.bias))]))
        block = block.to(conv.weight.device, conv.weight.dtype)
        block.train(conv.training)
        # MACs: the row's analytic count (BN, ReLU and the bias add cost 0; the search suite checks
        # analytic == fvcore for every family, and the whole-model totals below are fvcore's)
        params_after, macs_after = sum(p.numel() for p in block.parameters()), int(row["macs"])
        if params_after > params_before or macs_after > macs_before:  # an invariant: the budget above
            raise AssertionError(f"{site.name}: {row['key']} exceeds the conv it replaces")
        macs_before, macs_after = macs_before * site.calls, macs_after * site.calls  # a shared conv runs twice
        set_module(model, site.name, block)
        changes.append(LayerChange(
            site.name, conv.in_channels, conv.out_channels, conv.kernel_size[0], conv.stride[0], size, str(row["key"]),
            params_before, macs_before, params_after, macs_after,
        ))  # fmt: skip
    after_shape = shape_of(run_model(model, x))
    if after_shape != before_shape:  # an invariant: strides and padding are kept
        raise AssertionError(f"output shape changed from {before_shape} to {after_shape}")
    p1, m1, _ = count_model(model, in_channels, input_size)
    if p1 > p0:  # an invariant: every replacement fits within its conv's params
        raise AssertionError(f"the converted model has more params ({p1:,}) than the original ({p0:,})")
    totals = {"params_before": p0, "macs_before": m0, "params_after": p1, "macs_after": m1}
    notes = [note0] if note0 else []
    return ConvertResult(model, family, rule, changes, skipped, totals, notes)
