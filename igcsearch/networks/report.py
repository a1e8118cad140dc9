"""How networks are reported (no torch, no printing; the CLI renders what these return).

- :data:`NETWORK_CONVENTION`, :func:`network_notes`, :func:`network_fields`,
  :func:`network_columns`: what ``igcsearch search --network`` says and shows beyond block
  search (the reference network, the FC bias, the base ``width``, the knob columns);
- :func:`network_breakdown`: ``igcsearch show net-…``: the config, one row per network layer
  from the analytic walk, totals, the reference network and the conditions.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..cost import totals
from ..registry import get_family, knob_fields
from ..spec import Spec
from .layers import Block, ConvBN, Head, MaxPool, Residual, blocks
from .rows import reference_for
from .zoo import NetConfig, parse_network_key, reference, reference_title

COUNTING = (
    "params = conv weights + BN gamma/beta + the classifier's FC weights and bias (convs are bias-free); "
    "macs = multiply-accumulates of convs and the FC, each conv at its own output size "
    "(the papers' 'FLOPs'/'MAdds' are MACs; FLOPs = 2 x macs)"
)
NETWORK_CONVENTION = (
    f"{COUNTING}; acts = conv and FC output elements per sample; params_ratio/macs_ratio are against "
    "the reference network (its own line names it), not a block's regular conv-BN-ReLU"
)
KNOB_COLUMNS = knob_fields()  # first-stage (prototype) knobs
Column = tuple[str, str, Callable[[Any], str]]


def network_notes(spec: Spec) -> list[str]:
    """One line per kernel size: the reference network behind ``--budget network`` and the ratios."""
    network = str(spec.network)
    notes = []
    for kernel in spec.kernel:
        ref = reference_for(spec, kernel)
        params, macs, _ = ref.cost(spec.input_size)
        title = reference_title(network, ref.width)
        notes.append(
            f"reference network (ratios, --budget network): {title}: {ref.key}, "
            f"{params:,} params, {macs:,} MACs at {spec.input_size}x{spec.input_size}"
        )
    return notes


def network_fields(fields: tuple[str, ...]) -> tuple[str, ...]:
    """Result fields with the network rows' ``width`` (the base width) before ``params``."""
    i = fields.index("params")
    return (*fields[:i], "width", *fields[i:])


def _knob(value: Any) -> str:
    arr = np.asarray(value).ravel()
    return "x".join(str(int(v)) for v in arr if v > 0)


def network_columns(columns: list[Column]) -> list[Column]:
    """Terminal columns with the knobs (empty ones are dropped) and ``width`` after the key."""
    extra: list[Column] = [(k, k, _knob) for k in KNOB_COLUMNS] + [("width", "width", str)]
    i = next(n for n, c in enumerate(columns) if c[0] == "key") + 1
    return [*columns[:i], *extra, *columns[i:]]


# ---------------------------------------------------------------- igcsearch show net-…


@dataclass(frozen=True)
class LayerRow:
    """One network layer (a unit counts as one) with its analytic cost."""

    label: str
    out_size: int
    params: int
    macs: int
    acts: int


@dataclass(frozen=True)
class NetworkBreakdown:
    """What ``igcsearch show net-…`` shows."""

    cfg: NetConfig
    input_size: int
    config: dict[str, Any]
    layers: list[LayerRow]
    totals: tuple[int, int, int]
    reference: NetConfig
    reference_title: str
    reference_cost: tuple[int, int, int]
    conditions: dict[str, tuple[Any, str]] = field(default_factory=dict)  # name -> (value, meaning)


def network_breakdown(key: str, input_size: int | None = None) -> NetworkBreakdown:
    """Config, per-layer analytic cost, totals, reference network and conditions of a ``net-…`` key."""
    cfg = parse_network_key(key)
    size = cfg.net.input_size if input_size is None else input_size
    layers = cfg.layers()
    rows, s = [], size
    for layer in layers:
        costs, s = layer.cost(s)
        p, m, a = (_int(v) for v in totals(costs)) if costs else (0, 0, 0)
        rows.append(LayerRow(_label(layer), int(s), p, m, a))
    kernel = 3 if cfg.block is None else cfg.block.kernel
    ref = reference(cfg.network, None, kernel)
    return NetworkBreakdown(
        cfg=cfg,
        input_size=size,
        config=_config(cfg),
        layers=rows,
        totals=cfg.cost(size),
        reference=ref,
        reference_title=reference_title(cfg.network),
        reference_cost=ref.cost(size),
        conditions=_conditions(layers, size),
    )


def _config(cfg: NetConfig) -> dict[str, Any]:
    net = cfg.net
    out: dict[str, Any] = {
        "network": cfg.network,
        "layout": net.title,
        "depth": cfg.depth,
        "classes": net.classes,
        "native input": f"{net.input_size}x{net.input_size}",
        "base width": cfg.width,
    }
    if cfg.block is None:
        out["units"] = "MobileNetV2's own inverted-residual units (ref)"
        return out
    out["prototype block"] = cfg.block.key
    out.update({k: (list(v) if isinstance(v, tuple) else v) for k, v in cfg.block.knobs().items()})
    if cfg.stem is not None:
        out["stem width"] = cfg.stem
    if cfg.block.family == "igc1":
        out["width rule"] = "L doubles per stage (M fixed)" if cfg.rule == "L" else "M doubles per stage (L fixed)"
    return out


def _label(layer: Any) -> str:
    """A network layer in a few words (a unit: its layers joined by +, then its shortcut)."""
    if isinstance(layer, ConvBN):
        stride = f"/{layer.stride}" if layer.stride > 1 else ""
        groups = f", {_int(layer.groups)} groups" if _int(layer.groups) > 1 else ""
        return f"{layer.name} {layer.kernel}x{layer.kernel}{stride} conv {_int(layer.cin)}->{_int(layer.cout)}{groups}"
    if isinstance(layer, Block):
        return layer.config().key
    if isinstance(layer, Residual):
        body = " + ".join(_label(item) for item in layer.body)
        short = " + ".join(_label(item) for item in layer.shortcut) or "identity"
        return f"unit: {body}; shortcut: {short}"
    if isinstance(layer, MaxPool):
        return f"max pool {layer.kernel}x{layer.kernel}/{layer.stride}"
    if isinstance(layer, Head):
        return f"global average pool + FC {_int(layer.cin)}->{layer.classes}"
    raise TypeError(f"not a network layer: {layer!r}")


def _conditions(layers: list[Any], size: int) -> dict[str, tuple[Any, str]]:
    """Each boolean condition over every family block; balance of the first (prototype) block."""
    out: dict[str, tuple[Any, str]] = {}
    for block, bsize in blocks(layers, size):
        meanings = get_family(block.family).conditions
        for name, value in block.check(bsize).items():
            v = np.asarray(value).ravel()[0]
            if name not in out:
                out[name] = (float(v) if name == "balance" else bool(v), meanings.get(name, ""))
            elif name != "balance":
                out[name] = (out[name][0] and bool(v), out[name][1] or meanings.get(name, ""))
    return out


def _int(value: Any) -> int:
    return int(np.asarray(value).ravel()[0])
